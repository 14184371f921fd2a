/* test_cert.c: certificate requests and device certificates: known answers,
 * every named failure (bad signature at every bit, truncation at every length,
 * trailing bytes, unknown version, wrong root, expired, not yet valid,
 * revoked). */
#include "check.h"
#include "identity_fixture.h"

static void test_kat(void)
{
	kat_set k;
	cc_cert c;
	cc_cert_request q;
	size_t n = 0;
	uint8_t *pk = NULL;

	CHECK_EQ_INT(kat_build(&k), CC_OK);
	CHECK(kat_matches("certreq", k.req_enc.p, k.req_enc.len));
	CHECK(kat_matches("cert", k.cert_enc.p, k.cert_enc.len));
	CHECK(kat_matches("cert_hash", k.cert_hash, sizeof k.cert_hash));
	/* the stored vectors verify with the stored root key, independently of the builder */
	pk = kat_read_hex("root_pk", &n);
	CHECK(pk && n == CC_SIGN_PK_BYTES);
	if (pk && n == CC_SIGN_PK_BYTES) {
		uint8_t *v = kat_read_hex("cert", &n);
		CHECK(v != NULL);
		if (v) {
			CHECK_EQ_INT(cc_cert_decode(v, n, &c), CC_OK);
			CHECK_EQ_INT(cc_cert_verify(&c, pk, KAT_NOT_BEFORE, NULL), CC_OK);
			CHECK(strcmp(c.user_id, "cm.jansen") == 0 && strcmp(c.role, "casemanager") == 0);
			CHECK(c.serial == KAT_SERIAL);
			free(v);
		}
		v = kat_read_hex("certreq", &n);
		CHECK(v != NULL);
		if (v) {
			CHECK_EQ_INT(cc_cert_request_decode(v, n, &q), CC_OK);
			CHECK_EQ_INT(cc_cert_request_verify(&q), CC_OK);
			free(v);
		}
	}
	free(pk);
	kat_free(&k);
}

/* Flip every bit of an encoded certificate: decode or verify must fail. */
static void test_bitflips(const cc_wbuf *enc, const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now)
{
	uint8_t *b = malloc(enc->len);
	unsigned undetected = 0;
	CHECK(b != NULL);
	if (!b)
		return;
	for (size_t i = 0; i < enc->len; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			cc_cert c;
			int rc;
			memcpy(b, enc->p, enc->len);
			b[i] ^= (uint8_t)(1u << bit);
			rc = cc_cert_decode(b, enc->len, &c);
			if (rc == CC_OK)
				rc = cc_cert_verify(&c, root_pk, now, NULL);
			if (rc == CC_OK) {
				undetected++;
				fprintf(stderr, "cert: flip at byte %zu bit %u undetected\n", i, bit);
			}
		}
	}
	CHECK_EQ_INT(undetected, 0);
	free(b);
}

static void test_request(void)
{
	cc_device_keys *dev = NULL;
	cc_cert_request q, q2;
	cc_wbuf w;
	uint8_t *b;
	unsigned undetected = 0;

	CHECK_EQ_INT(cc_device_keys_generate(&dev), CC_OK);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_cert_request_create(&q, dev, "pol.devries", "Jan de Vries", "Politie Eenheid", "politie"),
	             CC_OK);
	CHECK_EQ_INT(cc_cert_request_verify(&q), CC_OK);
	CHECK_EQ_INT(cc_cert_request_encode(&q, &w), CC_OK);
	CHECK_EQ_INT(cc_cert_request_decode(w.p, w.len, &q2), CC_OK);
	CHECK_EQ_INT(cc_cert_request_verify(&q2), CC_OK);
	CHECK(memcmp(&q, &q2, sizeof q) == 0);
	b = malloc(w.len);
	for (size_t i = 0; b && i < w.len; i++)
		for (unsigned bit = 0; bit < 8; bit++) {
			memcpy(b, w.p, w.len);
			b[i] ^= (uint8_t)(1u << bit);
			if (cc_cert_request_decode(b, w.len, &q2) == CC_OK && cc_cert_request_verify(&q2) == CC_OK)
				undetected++;
		}
	CHECK_EQ_INT(undetected, 0);
	free(b);
	for (size_t cut = 0; cut < w.len; cut++)
		CHECK_EQ_INT(cc_cert_request_decode(w.p, cut, &q2), CC_ERR_TRUNCATED);
	cc_w_u8(&w, 0x00);
	CHECK_EQ_INT(cc_cert_request_decode(w.p, w.len, &q2), CC_ERR_TRAILING);

	/* bad inputs to create */
	CHECK_EQ_INT(cc_cert_request_create(&q2, dev, "Pol.DeVries", "x", "y", "politie"), CC_ERR_MALFORMED);
	CHECK_EQ_INT(cc_cert_request_create(&q2, dev, "pol", "x", "y", ""), CC_ERR_MALFORMED);
	CHECK_EQ_INT(cc_cert_request_create(&q2, dev, "pol", "x\x01", "y", "politie"), CC_ERR_MALFORMED);
	CHECK_EQ_INT(cc_cert_request_create(&q2, dev, "pol", "x", "y",
	                                    "a-role-name-that-is-far-too-long-for-the-field"),
	             CC_ERR_TOO_LARGE);
	/* a request whose claims were changed after signing */
	q2 = q;
	memcpy(q2.role, "bestuur", sizeof "bestuur");
	CHECK_EQ_INT(cc_cert_request_verify(&q2), CC_ERR_BAD_SIGNATURE);
	/* keys swapped in by someone else (no proof of possession) */
	q2 = q;
	q2.sign_pk[0] ^= 1;
	CHECK_EQ_INT(cc_cert_request_verify(&q2), CC_ERR_BAD_SIGNATURE);
	cc_w_free(&w);
	cc_device_keys_free(dev);
}

/* The keys and the certificate the tests below share: made once by cert_setup
 * (the issuing itself is test_cert_issue's subject), freed by cert_teardown. */
static cc_root_key *g_root, *g_other;
static cc_device_keys *g_dev;
static cc_cert_request g_q;
static cc_cert g_c;
static const int64_t nb = 1800000000, na = 1800000000 + 365 * 86400;

static void cert_setup(void)
{
	CHECK_EQ_INT(cc_root_key_generate(&g_root), CC_OK);
	CHECK_EQ_INT(cc_root_key_generate(&g_other), CC_OK);
	CHECK_EQ_INT(cc_device_keys_generate(&g_dev), CC_OK);
	CHECK_EQ_INT(cc_cert_request_create(&g_q, g_dev, "ggd.bakker", "Fatima Bakker", "GGD Regio", "ggd"), CC_OK);
}

static void cert_teardown(void)
{
	cc_root_key_free(g_root);
	cc_root_key_free(g_other);
	cc_device_keys_free(g_dev);
}

static void test_cert_issue(void)
{
	cc_root_key *root = g_root;
	cc_device_keys *dev = g_dev;
	cc_cert_request q = g_q;
	cc_cert c = g_c;
	cc_cert c2;

	/* issue refuses a tampered request and an empty validity */
	c2 = c = (cc_cert){0};
	{
		cc_cert_request t = q;
		t.org[0] = 'X';
		CHECK_EQ_INT(cc_cert_issue(&t, root, 5, nb, na, &c2), CC_ERR_BAD_SIGNATURE);
		CHECK_EQ_INT(cc_cert_issue(&q, root, 5, na, nb, &c2), CC_ERR_INVALID_ARG);
	}
	CHECK_EQ_INT(cc_cert_issue(&q, root, 5, nb, na, &c), CC_OK);
	CHECK_MEM(c.root_pk, root->pk, CC_SIGN_PK_BYTES);
	CHECK_MEM(c.sign_pk, dev->sign_pk, CC_SIGN_PK_BYTES);
	CHECK_MEM(c.box_pk, dev->box_pk, CC_BOX_PK_BYTES);
	g_c = c;
}

static void test_cert_verify_checks_validity_root_and_signature(void)
{
	cc_root_key *root = g_root;
	cc_root_key *other = g_other;
	cc_cert c = g_c;
	cc_cert bad;

	/* validity: [not_before, not_after) */
	CHECK_EQ_INT(cc_cert_verify(&c, root->pk, nb, NULL), CC_OK);
	CHECK_EQ_INT(cc_cert_verify(&c, root->pk, na - 1, NULL), CC_OK);
	CHECK_EQ_INT(cc_cert_verify(&c, root->pk, nb - 1, NULL), CC_ERR_NOT_YET_VALID);
	CHECK_EQ_INT(cc_cert_verify(&c, root->pk, na, NULL), CC_ERR_EXPIRED);
	CHECK_EQ_INT(cc_cert_verify(&c, root->pk, na + 86400, NULL), CC_ERR_EXPIRED);
	/* another deployment's root */
	CHECK_EQ_INT(cc_cert_verify(&c, other->pk, nb, NULL), CC_ERR_WRONG_ROOT);
	/* signed by another root but claiming ours as issuer */
	bad = c;
	CHECK_EQ_INT(cc_cert_sign(&bad, other), CC_OK);
	memcpy(bad.root_pk, root->pk, CC_SIGN_PK_BYTES);
	CHECK_EQ_INT(cc_cert_verify(&bad, root->pk, nb, NULL), CC_ERR_BAD_SIGNATURE);
	/* a field changed after signing */
	bad = c;
	memcpy(bad.role, "politie", sizeof "politie");
	CHECK_EQ_INT(cc_cert_verify(&bad, root->pk, nb, NULL), CC_ERR_BAD_SIGNATURE);
	bad = c;
	bad.not_after += 1;
	CHECK_EQ_INT(cc_cert_verify(&bad, root->pk, nb, NULL), CC_ERR_BAD_SIGNATURE);
	/* the root's signature over the same bytes under another context */
	{
		cc_wbuf body;
		cc_w_init(&body);
		CHECK_EQ_INT(cc_cert_encode(&c, &body), CC_OK);
		bad = c;
		CHECK_EQ_INT(cc_sign_ctx(root->sk, "casus.v1 revlist", body.p, body.len - CC_SIG_BYTES, bad.sig),
		             CC_OK);
		CHECK_EQ_INT(cc_verify_ctx(root->pk, "casus.v1 revlist", body.p, body.len - CC_SIG_BYTES, bad.sig),
		             CC_OK);
		CHECK_EQ_INT(cc_cert_verify(&bad, root->pk, nb, NULL), CC_ERR_BAD_SIGNATURE);
		CHECK_EQ_INT(cc_sign_ctx(root->sk, "casus.v1 cert", body.p, body.len - CC_SIG_BYTES, bad.sig), CC_OK);
		CHECK_EQ_INT(cc_cert_verify(&bad, root->pk, nb, NULL), CC_OK); /* control */
		cc_w_free(&body);
	}
	/* unknown version in the struct */
	bad = c;
	bad.version = 2;
	CHECK_EQ_INT(cc_cert_verify(&bad, root->pk, nb, NULL), CC_ERR_VERSION);
}

static void test_cert_encoding_round_trips_and_is_strict(void)
{
	cc_root_key *root = g_root;
	cc_cert c = g_c;
	cc_cert c2;
	cc_wbuf w;
	uint8_t h1[CC_HASH_BYTES], h2[CC_HASH_BYTES];

	/* encoding round trip, hash */
	cc_w_init(&w);
	CHECK_EQ_INT(cc_cert_encode(&c, &w), CC_OK);
	CHECK(w.len <= CC_CERT_MAX);
	CHECK_EQ_INT(cc_cert_decode(w.p, w.len, &c2), CC_OK);
	CHECK(memcmp(&c, &c2, sizeof c) == 0);
	CHECK_EQ_INT(cc_cert_hash(&c, h1), CC_OK);
	CHECK(crypto_generichash(h2, sizeof h2, w.p, w.len, NULL, 0) == 0);
	CHECK_MEM(h1, h2, sizeof h1);
	c2.serial++;
	CHECK_EQ_INT(cc_cert_hash(&c2, h2), CC_OK);
	CHECK(memcmp(h1, h2, sizeof h1) != 0);

	test_bitflips(&w, root->pk, nb);
	for (size_t cut = 0; cut < w.len; cut++) {
		CHECK_EQ_INT(cc_cert_decode(w.p, cut, &c2), CC_ERR_TRUNCATED);
		CHECK(c2.serial == 0 && c2.version == 0); /* no partial output */
	}
	cc_w_u8(&w, 0);
	CHECK_EQ_INT(cc_cert_decode(w.p, w.len, &c2), CC_ERR_TRAILING);
	w.len--;
	w.p[4] = 2; /* version byte */
	CHECK_EQ_INT(cc_cert_decode(w.p, w.len, &c2), CC_ERR_VERSION);
	w.p[4] = 1;
	w.p[0] = 'X'; /* magic: not a certificate */
	CHECK_EQ_INT(cc_cert_decode(w.p, w.len, &c2), CC_ERR_VERSION);
	w.p[0] = 'C';
	CHECK_EQ_INT(cc_cert_decode(w.p, w.len, &c2), CC_OK);
	{
		uint8_t big[CC_CERT_MAX + 1];
		memset(big, 0, sizeof big);
		CHECK_EQ_INT(cc_cert_decode(big, sizeof big, &c2), CC_ERR_TOO_LARGE);
	}
	cc_w_free(&w);
}

static void test_cert_revocation(void)
{
	cc_root_key *root = g_root;
	cc_root_key *other = g_other;
	cc_cert c = g_c;
	cc_revlist revs, foreign;

	/* revocation */
	cc_revlist_init(&revs);
	cc_revlist_init(&foreign);
	revs.number = 1;
	CHECK_EQ_INT(cc_revlist_add(&revs, 99, (const uint8_t[CC_DEVICE_ID_BYTES]){1}, nb), CC_OK);
	CHECK_EQ_INT(cc_revlist_sign(&revs, root), CC_OK);
	CHECK_EQ_INT(cc_cert_verify(&c, root->pk, nb, &revs), CC_OK);
	CHECK_EQ_INT(cc_revlist_add(&revs, c.serial, (const uint8_t[CC_DEVICE_ID_BYTES]){2}, nb), CC_OK);
	CHECK_EQ_INT(cc_revlist_sign(&revs, root), CC_OK);
	CHECK_EQ_INT(cc_cert_verify(&c, root->pk, nb, &revs), CC_ERR_REVOKED);
	cc_revlist_free(&revs);
	revs.number = 2;
	CHECK_EQ_INT(cc_revlist_add(&revs, 1234, c.device_id, nb), CC_OK); /* by device id */
	CHECK_EQ_INT(cc_revlist_sign(&revs, root), CC_OK);
	CHECK_EQ_INT(cc_cert_verify(&c, root->pk, nb, &revs), CC_ERR_REVOKED);
	foreign.number = 3;
	CHECK_EQ_INT(cc_revlist_sign(&foreign, other), CC_OK);
	CHECK_EQ_INT(cc_cert_verify(&c, root->pk, nb, &foreign), CC_ERR_WRONG_ROOT);
	cc_revlist_free(&revs);
	cc_revlist_free(&foreign);
}

static void test_cert_nobody_signed(void)
{
	cc_root_key *root = g_root;
	cc_cert c = g_c;
	cc_cert bad;

	/* a certificate nobody signed */
	bad = c;
	memset(bad.sig, 0, sizeof bad.sig);
	CHECK_EQ_INT(cc_cert_verify(&bad, root->pk, nb, NULL), CC_ERR_BAD_SIGNATURE);
}

int main(void)
{
	test_rng_install();
	CHECK(sodium_init() >= 0);
	CHECK_RUN(test_kat);
	CHECK_RUN(test_request);
	cert_setup();
	CHECK_RUN(test_cert_issue);
	CHECK_RUN(test_cert_verify_checks_validity_root_and_signature);
	CHECK_RUN(test_cert_encoding_round_trips_and_is_strict);
	CHECK_RUN(test_cert_revocation);
	CHECK_RUN(test_cert_nobody_signed);
	cert_teardown();
	return check_done();
}
