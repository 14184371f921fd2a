/* test_keys.c: root and device keys, their secret encodings, context
 * signatures, device id hex and the shared text checks. */
#include "check.h"
#include "identity_fixture.h"

static void test_kat(void)
{
	kat_set k;
	CHECK_EQ_INT(kat_build(&k), CC_OK);
	CHECK(kat_matches("root_key", k.root_enc.p, k.root_enc.len));
	CHECK(kat_matches("root_pk", k.root->pk, sizeof k.root->pk));
	CHECK(kat_matches("device_keys", k.dev_enc.p, k.dev_enc.len));
	kat_free(&k);
}

static void test_roundtrip(void)
{
	cc_root_key *root = NULL, *root2 = NULL;
	cc_device_keys *dev = NULL, *dev2 = NULL, *devb = NULL;
	cc_wbuf w, wd;

	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	CHECK_EQ_INT(cc_device_keys_generate(&dev), CC_OK);
	CHECK_EQ_INT(cc_device_keys_generate(&devb), CC_OK);
	CHECK(memcmp(dev->device_id, devb->device_id, CC_DEVICE_ID_BYTES) != 0);
	CHECK(memcmp(dev->sign_pk, devb->sign_pk, CC_SIGN_PK_BYTES) != 0);
	cc_w_init_secret(&w);
	cc_w_init_secret(&wd);
	CHECK_EQ_INT(cc_root_key_encode(root, &w), CC_OK);
	CHECK_EQ_INT(w.len, 4 + 1 + 32 + 64);
	CHECK_EQ_INT(cc_root_key_decode(w.p, w.len, &root2), CC_OK);
	CHECK(root2 && memcmp(root2->sk, root->sk, CC_SIGN_SK_BYTES) == 0);
	CHECK_EQ_INT(cc_device_keys_encode(dev, &wd), CC_OK);
	CHECK_EQ_INT(wd.len, 4 + 1 + 16 + 32 + 64 + 32 + 32);
	CHECK_EQ_INT(cc_device_keys_decode(wd.p, wd.len, &dev2), CC_OK);
	CHECK(dev2 && memcmp(dev2->box_sk, dev->box_sk, CC_BOX_SK_BYTES) == 0 &&
	      memcmp(dev2->device_id, dev->device_id, CC_DEVICE_ID_BYTES) == 0);
	cc_root_key_free(root2);
	cc_device_keys_free(dev2);
	root2 = NULL;
	dev2 = NULL;

	/* truncation at every length, trailing byte */
	for (size_t cut = 0; cut < w.len; cut++) {
		CHECK_EQ_INT(cc_root_key_decode(w.p, cut, &root2), CC_ERR_TRUNCATED);
		CHECK(root2 == NULL);
	}
	for (size_t cut = 0; cut < wd.len; cut++)
		CHECK_EQ_INT(cc_device_keys_decode(wd.p, cut, &dev2), CC_ERR_TRUNCATED);
	cc_w_u8(&w, 0);
	cc_w_u8(&wd, 0);
	CHECK_EQ_INT(cc_root_key_decode(w.p, w.len, &root2), CC_ERR_TRAILING);
	CHECK_EQ_INT(cc_device_keys_decode(wd.p, wd.len, &dev2), CC_ERR_TRAILING);
	w.len--;
	wd.len--;

	/* a root key encoding is not a device key encoding and vice versa */
	CHECK_EQ_INT(cc_device_keys_decode(w.p, w.len, &dev2), CC_ERR_VERSION);
	CHECK_EQ_INT(cc_root_key_decode(wd.p, wd.len, &root2), CC_ERR_VERSION);
	/* unknown version */
	w.p[4] ^= 0x02;
	CHECK_EQ_INT(cc_root_key_decode(w.p, w.len, &root2), CC_ERR_VERSION);
	w.p[4] ^= 0x02;
	/* public half that does not match the secret half */
	w.p[5] ^= 0x01;
	CHECK_EQ_INT(cc_root_key_decode(w.p, w.len, &root2), CC_ERR_MALFORMED);
	w.p[5] ^= 0x01;
	wd.p[4 + 1 + 16 + 32 + 64] ^= 0x01; /* box_pk */
	CHECK_EQ_INT(cc_device_keys_decode(wd.p, wd.len, &dev2), CC_ERR_MALFORMED);
	wd.p[4 + 1 + 16 + 32 + 64] ^= 0x01;
	wd.p[4 + 1 + 16] ^= 0x80; /* sign_pk */
	CHECK_EQ_INT(cc_device_keys_decode(wd.p, wd.len, &dev2), CC_ERR_MALFORMED);
	wd.p[4 + 1 + 16] ^= 0x80;
	CHECK_EQ_INT(cc_device_keys_decode(wd.p, wd.len, &dev2), CC_OK);
	CHECK(root2 == NULL);

	cc_w_free(&w);
	cc_w_free(&wd);
	cc_root_key_free(root);
	cc_device_keys_free(dev);
	cc_device_keys_free(dev2);
	cc_device_keys_free(devb);
	cc_root_key_free(NULL);
	cc_device_keys_free(NULL);
}

static void test_ctx_sign(void)
{
	cc_root_key *root = NULL, *other = NULL;
	uint8_t sig[CC_SIG_BYTES];
	uint8_t msg[40];

	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	CHECK_EQ_INT(cc_root_key_generate(&other), CC_OK);
	randombytes_buf(msg, sizeof msg);
	CHECK_EQ_INT(cc_sign_ctx(root->sk, "casus.v1 cert", msg, sizeof msg, sig), CC_OK);
	CHECK_EQ_INT(cc_verify_ctx(root->pk, "casus.v1 cert", msg, sizeof msg, sig), CC_OK);
	/* the context is bound: another object type, a prefix, another key */
	CHECK_EQ_INT(cc_verify_ctx(root->pk, "casus.v1 certreq", msg, sizeof msg, sig), CC_ERR_BAD_SIGNATURE);
	CHECK_EQ_INT(cc_verify_ctx(root->pk, "casus.v1 cer", msg, sizeof msg, sig), CC_ERR_BAD_SIGNATURE);
	CHECK_EQ_INT(cc_verify_ctx(other->pk, "casus.v1 cert", msg, sizeof msg, sig), CC_ERR_BAD_SIGNATURE);
	/* a plain Ed25519 signature of the message is not a context signature */
	CHECK(crypto_sign_ed25519_detached(sig, NULL, msg, sizeof msg, root->sk) == 0);
	CHECK_EQ_INT(cc_verify_ctx(root->pk, "casus.v1 cert", msg, sizeof msg, sig), CC_ERR_BAD_SIGNATURE);
	/* every bit of message and signature matters */
	CHECK_EQ_INT(cc_sign_ctx(root->sk, "casus.v1 cert", msg, sizeof msg, sig), CC_OK);
	for (size_t i = 0; i < sizeof msg * 8; i++) {
		msg[i / 8] ^= (uint8_t)(1u << (i % 8));
		CHECK_EQ_INT(cc_verify_ctx(root->pk, "casus.v1 cert", msg, sizeof msg, sig), CC_ERR_BAD_SIGNATURE);
		msg[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	for (size_t i = 0; i < sizeof sig * 8; i++) {
		sig[i / 8] ^= (uint8_t)(1u << (i % 8));
		CHECK_EQ_INT(cc_verify_ctx(root->pk, "casus.v1 cert", msg, sizeof msg, sig), CC_ERR_BAD_SIGNATURE);
		sig[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	CHECK_EQ_INT(cc_verify_ctx(root->pk, "casus.v1 cert", msg, sizeof msg, sig), CC_OK);
	cc_root_key_free(root);
	cc_root_key_free(other);
}

static void test_hex_and_text(void)
{
	uint8_t id[CC_DEVICE_ID_BYTES], back[CC_DEVICE_ID_BYTES];
	char hex[2 * CC_DEVICE_ID_BYTES + 1];

	for (unsigned i = 0; i < sizeof id; i++)
		id[i] = (uint8_t)(0xf0 + i);
	cc_device_id_hex(id, hex);
	CHECK(strcmp(hex, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff") == 0);
	CHECK_EQ_INT(cc_device_id_from_hex(hex, back), CC_OK);
	CHECK_MEM(back, id, sizeof id);
	CHECK_EQ_INT(cc_device_id_from_hex("f0f1", back), CC_ERR_MALFORMED);
	CHECK_EQ_INT(cc_device_id_from_hex("f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00", back), CC_ERR_MALFORMED);
	CHECK_EQ_INT(cc_device_id_from_hex("g0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", back), CC_ERR_MALFORMED);
	CHECK_EQ_INT(cc_device_id_from_hex("f0f1f2f3f4f5f6f7 8f9fafbfcfdfeff", back), CC_ERR_MALFORMED);

	CHECK_EQ_INT(cc_ident_check("cm.jansen", 64), CC_OK);
	CHECK_EQ_INT(cc_ident_check("", 64), CC_ERR_MALFORMED);
	CHECK_EQ_INT(cc_ident_check("CM.jansen", 64), CC_ERR_MALFORMED);
	CHECK_EQ_INT(cc_ident_check("cm jansen", 64), CC_ERR_MALFORMED);
	CHECK_EQ_INT(cc_ident_check("abcde", 4), CC_ERR_TOO_LARGE);
	CHECK_EQ_INT(cc_text_check("Zorg en Veiligheid", 64), CC_OK);
	CHECK_EQ_INT(cc_text_check("Jos\xc3\xa9 G\xc3\xbcl", 64), CC_OK);      /* José Gül */
	CHECK_EQ_INT(cc_text_check("\xe2\x82\xac 5", 64), CC_OK);              /* euro sign */
	CHECK_EQ_INT(cc_text_check("\xf0\x9f\x98\x80", 64), CC_OK);            /* 4-byte */
	CHECK_EQ_INT(cc_text_check("a\nb", 64), CC_ERR_MALFORMED);             /* control */
	CHECK_EQ_INT(cc_text_check("\xc0\xaf", 64), CC_ERR_MALFORMED);         /* overlong */
	CHECK_EQ_INT(cc_text_check("\xed\xa0\x80", 64), CC_ERR_MALFORMED);     /* surrogate */
	CHECK_EQ_INT(cc_text_check("\xc3", 64), CC_ERR_MALFORMED);             /* cut */
	CHECK_EQ_INT(cc_text_check("\xf4\x90\x80\x80", 64), CC_ERR_MALFORMED); /* > U+10FFFF */
	CHECK_EQ_INT(cc_text_check("\xff", 64), CC_ERR_MALFORMED);
}

int main(void)
{
	test_rng_install();
	CHECK(sodium_init() >= 0);
	CHECK_RUN(test_kat);
	CHECK_RUN(test_roundtrip);
	CHECK_RUN(test_ctx_sign);
	CHECK_RUN(test_hex_and_text);
	return check_done();
}
