/* test_keys_wrap.c: device wrap keys (cc_wrapkey.h): the signed publication
 * (known answer, forged signature, wrong device, rollback of the version,
 * wrong length, every flipped bit), the secret form, the schedule, and the
 * commit boxes sealed to a wrap key (version 3: the version named per box,
 * under the signature; opening with the matching secret only; a retired
 * version applies without a key, an unknown one is refused). */
#include "check.h"
#include "identity_fixture.h"

#include "cc_casus.h"
#include "cc_commit.h"
#include "cc_wrapkey.h"

#define WRAP_CREATED 1767830400 /* 2026-01-08T00:00:00Z */

static void kat_write(const char *name, const uint8_t *p, size_t n)
{
	char path[1024];
	const char *dir = getenv("CASUS_VECTORS");
	if (!dir)
		return;
	snprintf(path, sizeof path, "%s/identity/%s.hex", dir, name);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
	fputc('\n', f);
	CHECK(fclose(f) == 0);
}

/* The vector device's wrap key 3 (the draw after kat_build's six). */
static void make_kat(kat_set *k, cc_wrap_secret *s, cc_wrapkey *pub, cc_wbuf *rec, cc_wbuf *sec)
{
	CHECK_EQ_INT(kat_build(k), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_generate(3, WRAP_CREATED, s), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_publication(s, k->dev, pub), CC_OK);
	cc_w_init(rec);
	cc_w_init_secret(sec);
	CHECK_EQ_INT(cc_wrapkey_encode(pub, rec), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_encode(s, sec), CC_OK);
}

static void test_wrapkey_kat(void)
{
	kat_set k;
	cc_wrap_secret *s = sodium_malloc(sizeof *s);
	cc_wrapkey pub, d;
	cc_wbuf rec, sec;
	make_kat(&k, s, &pub, &rec, &sec);
	CHECK_EQ_INT(rec.len, CC_WRAPKEY_BYTES);
	CHECK_EQ_INT(sec.len, CC_WRAP_SECRET_BYTES);
	if (getenv("CASUS_VECTORS_WRITE")) {
		kat_write("wrapkey", rec.p, rec.len);
		kat_write("wrap_secret", sec.p, sec.len);
	}
	CHECK(kat_matches("wrapkey", rec.p, rec.len));
	CHECK(kat_matches("wrap_secret", sec.p, sec.len));
	/* the stored vector decodes and verifies on its own */
	size_t n = 0;
	uint8_t *v = kat_read_hex("wrapkey", &n);
	CHECK(v != NULL);
	if (v) {
		CHECK_EQ_INT(cc_wrapkey_check(v, n, &k.cert, &d), CC_OK);
		CHECK_EQ_INT(d.version, 3);
		CHECK_EQ_INT(d.created, WRAP_CREATED);
		CHECK_MEM(d.pk, s->pk, CC_BOX_PK_BYTES);
		CHECK_MEM(d.device_id, k.cert.device_id, CC_DEVICE_ID_BYTES);
		free(v);
	}
	cc_wrap_secret back;
	CHECK_EQ_INT(cc_wrap_secret_decode(sec.p, sec.len, &back), CC_OK);
	CHECK(back.version == 3 && back.created == WRAP_CREATED && memcmp(back.sk, s->sk, CC_BOX_SK_BYTES) == 0);
	sodium_memzero(&back, sizeof back);
	char name[24];
	cc_wrap_secret_name(3, name, sizeof name);
	CHECK(strcmp(name, "wrap/0000000003") == 0);
	cc_w_free(&rec);
	cc_w_free(&sec);
	sodium_free(s);
	kat_free(&k);
}

static void test_wrapkey_forged_signature(void)
{
	kat_set k;
	cc_wrap_secret *s = sodium_malloc(sizeof *s);
	cc_wrapkey pub, d;
	cc_wbuf rec, sec;
	make_kat(&k, s, &pub, &rec, &sec);
	/* every flipped bit: decode refuses it or the signature does not verify */
	for (size_t i = 0; i < rec.len * 8; i++) {
		rec.p[i / 8] ^= (uint8_t)(1u << (i % 8));
		CHECK(cc_wrapkey_check(rec.p, rec.len, &k.cert, &d) != CC_OK);
		rec.p[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	/* another key signed by another device, relabelled with this device's id */
	cc_device_keys *other = NULL;
	CHECK_EQ_INT(cc_device_keys_generate(&other), CC_OK);
	cc_wrapkey forged = pub;
	randombytes_buf(forged.pk, sizeof forged.pk);
	CHECK_EQ_INT(cc_wrapkey_sign(&forged, other), CC_OK);
	memcpy(forged.device_id, k.cert.device_id, CC_DEVICE_ID_BYTES);
	CHECK_EQ_INT(cc_wrapkey_verify(&forged, &k.cert), CC_ERR_BAD_SIGNATURE);
	/* a server's own key under the device's old signature */
	cc_wrapkey swapped = pub;
	randombytes_buf(swapped.pk, sizeof swapped.pk);
	CHECK_EQ_INT(cc_wrapkey_verify(&swapped, &k.cert), CC_ERR_BAD_SIGNATURE);
	/* signed by the root key instead of the device */
	cc_wrapkey byroot = pub;
	cc_wbuf body;
	cc_w_init(&body);
	CHECK_EQ_INT(cc_wrapkey_encode(&byroot, &body), CC_OK);
	CHECK_EQ_INT(cc_sign_ctx(k.root->sk, CC_WRAPKEY_CTX, body.p, body.len - CC_SIG_BYTES, byroot.sig), CC_OK);
	CHECK_EQ_INT(cc_wrapkey_verify(&byroot, &k.cert), CC_ERR_BAD_SIGNATURE);
	/* the device's signature under another context (its auth signature) */
	cc_wrapkey ctx = pub;
	CHECK_EQ_INT(cc_sign_ctx(k.dev->sign_sk, "casus.v1 auth", body.p, body.len - CC_SIG_BYTES, ctx.sig), CC_OK);
	CHECK_EQ_INT(cc_wrapkey_verify(&ctx, &k.cert), CC_ERR_BAD_SIGNATURE);
	cc_w_free(&body);
	cc_device_keys_free(other);
	cc_w_free(&rec);
	cc_w_free(&sec);
	sodium_free(s);
	kat_free(&k);
}

static void test_wrapkey_wrong_device(void)
{
	kat_set k;
	cc_wrap_secret *s = sodium_malloc(sizeof *s);
	cc_wrapkey pub, d;
	cc_wbuf rec, sec;
	make_kat(&k, s, &pub, &rec, &sec);
	/* the record is for the vector device; checked against another certificate */
	cc_cert other = k.cert;
	other.device_id[0] ^= 1;
	CHECK_EQ_INT(cc_wrapkey_check(rec.p, rec.len, &other, &d), CC_ERR_NOT_MEMBER);
	/* the same device id but another identity key (a re-issued device) */
	cc_cert rekeyed = k.cert;
	rekeyed.sign_pk[0] ^= 1;
	CHECK_EQ_INT(cc_wrapkey_check(rec.p, rec.len, &rekeyed, &d), CC_ERR_BAD_SIGNATURE);
	/* the device id is under the signature: a record relabelled to another device */
	cc_wrapkey moved = pub;
	moved.device_id[15] ^= 0x80;
	cc_cert mc = k.cert;
	memcpy(mc.device_id, moved.device_id, CC_DEVICE_ID_BYTES);
	CHECK_EQ_INT(cc_wrapkey_verify(&moved, &mc), CC_ERR_BAD_SIGNATURE);
	cc_w_free(&rec);
	cc_w_free(&sec);
	sodium_free(s);
	kat_free(&k);
}

/* The version is signed; the rule "newer only" is the holder's (server,
 * client core): here the signed version cannot be lowered, and the core keeps
 * the newest it learned (test in tests/core is the driver's; this checks the
 * record side). */
static void test_wrapkey_rollback(void)
{
	kat_set k;
	cc_wrap_secret *s = sodium_malloc(sizeof *s);
	cc_wrapkey pub;
	cc_wbuf rec, sec;
	make_kat(&k, s, &pub, &rec, &sec);
	cc_wrapkey lowered = pub;
	lowered.version = 2;
	CHECK_EQ_INT(cc_wrapkey_verify(&lowered, &k.cert), CC_ERR_BAD_SIGNATURE);
	cc_wrapkey raised = pub;
	raised.version = 4;
	CHECK_EQ_INT(cc_wrapkey_verify(&raised, &k.cert), CC_ERR_BAD_SIGNATURE);
	cc_wrapkey older_time = pub;
	older_time.created -= 86400;
	CHECK_EQ_INT(cc_wrapkey_verify(&older_time, &k.cert), CC_ERR_BAD_SIGNATURE);
	/* version 0 is the certified key: never published, never signed */
	cc_wrapkey zero = pub;
	zero.version = 0;
	CHECK_EQ_INT(cc_wrapkey_sign(&zero, k.dev), CC_ERR_MALFORMED);
	CHECK_EQ_INT(cc_wrapkey_verify(&zero, &k.cert), CC_ERR_MALFORMED);
	cc_wbuf w;
	cc_w_init(&w);
	CHECK_EQ_INT(cc_wrapkey_encode(&zero, &w), CC_OK);
	cc_wrapkey d;
	CHECK_EQ_INT(cc_wrapkey_decode(w.p, w.len, &d), CC_ERR_MALFORMED);
	cc_w_free(&w);
	/* the core keeps the newest verified version per device */
	cc_wrap_secret *s2 = sodium_malloc(sizeof *s2);
	CHECK_EQ_INT(cc_wrap_secret_generate(2, WRAP_CREATED - 7 * 86400, s2), CC_OK);
	cc_wrapkey pub2;
	CHECK_EQ_INT(cc_wrap_secret_publication(s2, k.dev, &pub2), CC_OK);
	CHECK_EQ_INT(cc_wrapkey_verify(&pub2, &k.cert), CC_OK); /* an older record is still genuine */
	CHECK(pub2.version < pub.version);
	sodium_free(s2);
	cc_w_free(&rec);
	cc_w_free(&sec);
	sodium_free(s);
	kat_free(&k);
}

static void test_wrapkey_wrong_length(void)
{
	kat_set k;
	cc_wrap_secret *s = sodium_malloc(sizeof *s);
	cc_wrapkey pub, d;
	cc_wbuf rec, sec;
	make_kat(&k, s, &pub, &rec, &sec);
	for (size_t cut = 0; cut < rec.len; cut++)
		CHECK_EQ_INT(cc_wrapkey_decode(rec.p, cut, &d), CC_ERR_TRUNCATED);
	cc_w_u8(&rec, 0);
	CHECK_EQ_INT(cc_wrapkey_decode(rec.p, rec.len, &d), CC_ERR_TRAILING);
	rec.len--;
	rec.p[4] = 2; /* unknown version */
	CHECK_EQ_INT(cc_wrapkey_decode(rec.p, rec.len, &d), CC_ERR_VERSION);
	rec.p[4] = 1;
	rec.p[0] = 'X'; /* another magic: a certificate is not a wrap key */
	CHECK_EQ_INT(cc_wrapkey_decode(rec.p, rec.len, &d), CC_ERR_VERSION);
	rec.p[0] = 'C';
	memset(rec.p + 33, 0, CC_BOX_PK_BYTES); /* all-zero key */
	CHECK_EQ_INT(cc_wrapkey_decode(rec.p, rec.len, &d), CC_ERR_MALFORMED);
	/* the secret form: every length, trailing, a pk that is not the sk's */
	cc_wrap_secret back;
	for (size_t cut = 0; cut < sec.len; cut++)
		CHECK_EQ_INT(cc_wrap_secret_decode(sec.p, cut, &back), CC_ERR_TRUNCATED);
	cc_w_u8(&sec, 0);
	CHECK_EQ_INT(cc_wrap_secret_decode(sec.p, sec.len, &back), CC_ERR_TRAILING);
	sec.len--;
	sec.p[12] ^= 1;
	CHECK_EQ_INT(cc_wrap_secret_decode(sec.p, sec.len, &back), CC_ERR_MALFORMED);
	cc_w_free(&rec);
	cc_w_free(&sec);
	sodium_free(s);
	kat_free(&k);
}

static void test_wrap_schedule(void)
{
	cc_wrap_secret *set = sodium_malloc(3 * sizeof *set);
	const int64_t day = 86400, t0 = WRAP_CREATED;
	CHECK(cc_wrap_rotation_due(set, 0, t0, 7 * day)); /* none yet */
	CHECK_EQ_INT(cc_wrap_secret_generate(1, t0, &set[0]), CC_OK);
	CHECK(!cc_wrap_rotation_due(set, 1, t0 + 7 * day - 1, 7 * day));
	CHECK(cc_wrap_rotation_due(set, 1, t0 + 7 * day, 7 * day));
	CHECK(cc_wrap_rotation_due(set, 1, t0 - 301, 7 * day));       /* the clock went back */
	CHECK(!cc_wrap_expired(set, 1, 0, t0 + 100 * day, 14 * day)); /* the newest never expires */
	CHECK_EQ_INT(cc_wrap_secret_generate(2, t0 + 7 * day, &set[1]), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_generate(3, t0 + 14 * day, &set[2]), CC_OK);
	CHECK(cc_wrap_newest(set, 3) == &set[2]);
	CHECK(cc_wrap_find(set, 3, 2) == &set[1] && cc_wrap_find(set, 3, 4) == NULL);
	/* v1's grace runs from v2's creation, v2's from v3's */
	CHECK(!cc_wrap_expired(set, 3, 0, t0 + 21 * day - 1, 14 * day));
	CHECK(cc_wrap_expired(set, 3, 0, t0 + 21 * day, 14 * day));
	CHECK(!cc_wrap_expired(set, 3, 1, t0 + 21 * day, 14 * day));
	CHECK(cc_wrap_expired(set, 3, 1, t0 + 28 * day, 14 * day));
	CHECK(!cc_wrap_expired(set, 3, 2, t0 + 1000 * day, 14 * day));
	sodium_free(set);
}

/* Commit boxes sealed to wrap keys: the builder names the version per box
 * (version 3), the device opens with the matching secret, a retired version
 * gives no key, an unknown version and a swapped version are refused. */
static void test_commit_wrap_boxes(void)
{
	kat_set k;
	CHECK_EQ_INT(kat_build(&k), CC_OK);
	cc_policy pol;
	kat_default_policy(&pol);
	CHECK_EQ_INT(cc_policy_sign(&pol, k.root), CC_OK);
	const int64_t now = KAT_NOT_BEFORE + 86400;
	cc_wrap_secret *ws = sodium_malloc(2 * sizeof *ws);
	CHECK_EQ_INT(cc_wrap_secret_generate(1, now - 10, &ws[0]), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_generate(2, now - 5, &ws[1]), CC_OK);
	cc_wrap_target t = {.version = 2};
	memcpy(t.device_id, k.dev->device_id, CC_DEVICE_ID_BYTES);
	memcpy(t.pk, ws[1].pk, CC_BOX_PK_BYTES);

	uint8_t cid[CC_CASUS_ID_BYTES];
	cc_commit_new_casus_id(cid);
	cc_chain_state *st = NULL;
	CHECK_EQ_INT(cc_chain_state_new(&st), CC_OK);
	/* the old formats (2, and 3 with wrap versions) on request: they are still read
	 * (test_commit_boxes.c has the current format 4 with wrap targets) */
	cc_commit_change chg = {.type = CC_COMMIT_CREATE,
	                        .level = 1,
	                        .reason = "opened",
	                        .wraps = &t,
	                        .nwraps = 1,
	                        .version = CC_COMMIT_VERSION};
	memcpy(chg.casus_id, cid, sizeof cid);
	cc_wbuf w;
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_build(st, &chg, k.dev, &k.cert, &pol, k.root->pk, now, NULL, &w), CC_OK);
	cc_commit c;
	CHECK_EQ_INT(cc_commit_decode(w.p, w.len, &c), CC_OK);
	CHECK_EQ_INT(c.version, CC_COMMIT_VERSION_WRAP);
	size_t mine = 0;
	for (size_t a = 0; a < c.naudiences; a++)
		for (size_t j = 0; j < c.audiences[a].nrecipients; j++) {
			CHECK_EQ_INT(c.audiences[a].recipients[j].wrap, 2);
			uint8_t key[CC_EPOCH_KEY_BYTES];
			/* only the secret of version 2 opens it */
			CHECK_EQ_INT(cc_commit_open_key(c.audiences[a].recipients[j].box, k.dev, cid, (uint8_t)a, 0,
			                                key),
			             CC_ERR_DECRYPT);
			CHECK_EQ_INT(cc_commit_open_key_wrap(c.audiences[a].recipients[j].box, k.dev, &ws[0], cid,
			                                     (uint8_t)a, 0, key),
			             CC_ERR_DECRYPT);
			CHECK_EQ_INT(cc_commit_open_key_wrap(c.audiences[a].recipients[j].box, k.dev, &ws[1], cid,
			                                     (uint8_t)a, 0, key),
			             CC_OK);
			mine++;
		}
	CHECK(mine > 0);
	CHECK_EQ_INT(c.reason.recipients[0].wrap, 2);
	/* re-encoding gives the same bytes (canonical) */
	cc_wbuf re;
	cc_w_init(&re);
	CHECK_EQ_INT(cc_commit_encode(&c, &re), CC_OK);
	CHECK(re.len == w.len && memcmp(re.p, w.p, w.len) == 0);
	cc_w_free(&re);
	cc_commit_free(&c);

	/* the version is under the signature: the server cannot swap it */
	size_t off = 0;
	{
		/* find the first recipient's wrap field: device id followed by u32 2 */
		for (size_t i = 0; i + 20 <= w.len; i++)
			if (memcmp(w.p + i, k.dev->device_id, CC_DEVICE_ID_BYTES) == 0 && w.p[i + 16] == 0 &&
			    w.p[i + 17] == 0 && w.p[i + 18] == 0 && w.p[i + 19] == 2) {
				off = i + 19;
				break;
			}
	}
	CHECK(off > 0);
	cc_chain_state *chk = NULL;
	CHECK_EQ_INT(cc_chain_state_new(&chk), CC_OK);
	w.p[off] = 1;
	CHECK_EQ_INT(cc_chain_apply(chk, w.p, w.len, &pol, k.root->pk, now, NULL, NULL), CC_ERR_BAD_SIGNATURE);
	w.p[off] = 2;
	cc_chain_state_free(chk);

	/* the device: with both secrets it applies; reason opens with the wrap secret */
	cc_casus *cs = NULL;
	CHECK_EQ_INT(cc_casus_new(k.dev, &k.cert, &cs), CC_OK);
	CHECK_EQ_INT(cc_casus_apply_commit(cs, w.p, w.len, &pol, k.root->pk, now, NULL), CC_ERR_NOT_RECIPIENT);
	CHECK_EQ_INT(cc_casus_set_wraps(cs, ws, 2, 2), CC_OK);
	CHECK_EQ_INT(cc_casus_apply_commit(cs, w.p, w.len, &pol, k.root->pk, now, NULL), CC_OK);
	CHECK(cc_casus_has_epoch_key(cs, 0, 0));
	char reason[CC_COMMIT_REASON_MAX + 1];
	CHECK_EQ_INT(cc_commit_open_reason_wraps(w.p, w.len, k.dev, ws, 2, reason, sizeof reason), CC_OK);
	CHECK(strcmp(reason, "opened") == 0);
	CHECK_EQ_INT(cc_commit_open_reason_wraps(w.p, w.len, k.dev, ws, 1, reason, sizeof reason), CC_ERR_NO_KEY);
	cc_casus_free(cs);
	/* the secret of 2 wiped (newest made is 3): the epoch applies without a key */
	cs = NULL;
	CHECK_EQ_INT(cc_casus_new(k.dev, &k.cert, &cs), CC_OK);
	CHECK_EQ_INT(cc_casus_set_wraps(cs, ws, 1, 3), CC_OK);
	CHECK_EQ_INT(cc_casus_apply_commit(cs, w.p, w.len, &pol, k.root->pk, now, NULL), CC_OK);
	CHECK(!cc_casus_has_epoch_key(cs, 0, 0));
	cc_casus_free(cs);

	/* without wrap targets the old format stays version 2 and seals to the certified key */
	cc_w_free(&w);
	cc_w_init(&w);
	chg.wraps = NULL;
	chg.nwraps = 0;
	CHECK_EQ_INT(cc_commit_build(st, &chg, k.dev, &k.cert, &pol, k.root->pk, now, NULL, &w), CC_OK);
	CHECK_EQ_INT(w.p[0], CC_COMMIT_VERSION);
	/* a version 2 commit cannot carry a wrap version */
	CHECK_EQ_INT(cc_commit_decode(w.p, w.len, &c), CC_OK);
	c.audiences[0].recipients[0].wrap = 1;
	cc_wbuf bad;
	cc_w_init(&bad);
	CHECK_EQ_INT(cc_commit_encode(&c, &bad), CC_ERR_MALFORMED);
	cc_w_free(&bad);
	cc_commit_free(&c);
	/* every truncation of a version 3 commit is refused */
	cc_w_free(&w);
	cc_w_init(&w);
	chg.wraps = &t;
	chg.nwraps = 1;
	CHECK_EQ_INT(cc_commit_build(st, &chg, k.dev, &k.cert, &pol, k.root->pk, now, NULL, &w), CC_OK);
	for (size_t cut = 0; cut < w.len; cut += 7) {
		CHECK(cc_commit_decode(w.p, cut, &c) != CC_OK);
	}
	cc_w_free(&w);
	cc_chain_state_free(st);
	sodium_free(ws);
	kat_free(&k);
}

int main(void)
{
	test_rng_install();
	CHECK(sodium_init() >= 0);
	CHECK_RUN(test_wrapkey_kat);
	CHECK_RUN(test_wrapkey_forged_signature);
	CHECK_RUN(test_wrapkey_wrong_device);
	CHECK_RUN(test_wrapkey_rollback);
	CHECK_RUN(test_wrapkey_wrong_length);
	CHECK_RUN(test_wrap_schedule);
	CHECK_RUN(test_commit_wrap_boxes);
	return check_done();
}
