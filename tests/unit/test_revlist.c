/* test_revlist.c: revocation lists: known answer, sorting and lookup, every
 * bit flip, every truncation, trailing bytes, wrong root, stale replay. */
#include "check.h"
#include "identity_fixture.h"

static void test_kat(void)
{
	kat_set k;
	cc_revlist l;
	uint8_t *v;
	size_t n = 0;

	CHECK_EQ_INT(kat_build(&k), CC_OK);
	CHECK(kat_matches("revlist", k.revs_enc.p, k.revs_enc.len));
	v = kat_read_hex("revlist", &n);
	CHECK(v != NULL);
	if (v) {
		CHECK_EQ_INT(cc_revlist_decode(v, n, &l), CC_OK);
		CHECK_EQ_INT(cc_revlist_verify(&l, k.root->pk, NULL), CC_OK);
		CHECK_EQ_INT(l.count, 2);
		CHECK(l.number == 7);
		CHECK(l.count == 2 && l.entries[0].serial == 17 && l.entries[1].serial == 2002);
		cc_revlist_free(&l);
		free(v);
	}
	kat_free(&k);
}

/* The root keys, the signed list and its encoding the tests below build on, in
 * the order main() runs them; revlist_teardown frees them. */
static cc_root_key *g_root, *g_other;
static cc_revlist g_l;
static cc_wbuf g_w;

static void revlist_teardown(void)
{
	cc_w_free(&g_w);
	cc_revlist_free(&g_l);
	cc_revlist_free(NULL);
	cc_root_key_free(g_root);
	cc_root_key_free(g_other);
}

static void test_revlist_add_keeps_serials_sorted_and_finds_them(void)
{
	uint8_t id[CC_DEVICE_ID_BYTES];

	CHECK_EQ_INT(cc_root_key_generate(&g_root), CC_OK);
	CHECK_EQ_INT(cc_root_key_generate(&g_other), CC_OK);
	cc_revlist_init(&g_l);
	g_l.number = 10;
	g_l.issued_at = 1800000000;
	for (unsigned i = 0; i < 5; i++) {
		memset(id, (int)(0x10 + i), sizeof id);
		CHECK_EQ_INT(cc_revlist_add(&g_l, (uint64_t)(50 - 10 * i), id, 1800000000 - (int64_t)i), CC_OK);
	}
	CHECK_EQ_INT(cc_revlist_add(&g_l, 30, id, 0), CC_ERR_INVALID_ARG); /* already revoked */
	CHECK_EQ_INT(g_l.count, 5);
	for (unsigned i = 1; i < g_l.count; i++)
		CHECK(g_l.entries[i - 1].serial < g_l.entries[i].serial);
	memset(id, 0x12, sizeof id);
	CHECK_EQ_INT(cc_revlist_contains(&g_l, 30, NULL), 1);
	CHECK_EQ_INT(cc_revlist_contains(&g_l, 31, NULL), 0);
	CHECK_EQ_INT(cc_revlist_contains(&g_l, 999, id), 1);
	memset(id, 0x77, sizeof id);
	CHECK_EQ_INT(cc_revlist_contains(&g_l, 999, id), 0);
	CHECK_EQ_INT(cc_revlist_contains(&g_l, 10, id), 1);
}

static void test_revlist_sign_verify_and_encode(void)
{
	cc_revlist d;

	/* unsigned list does not verify; signed one does */
	CHECK_EQ_INT(cc_revlist_verify(&g_l, g_root->pk, NULL), CC_ERR_WRONG_ROOT);
	CHECK_EQ_INT(cc_revlist_sign(&g_l, g_root), CC_OK);
	CHECK_EQ_INT(cc_revlist_verify(&g_l, g_root->pk, NULL), CC_OK);
	CHECK_EQ_INT(cc_revlist_verify(&g_l, g_other->pk, NULL), CC_ERR_WRONG_ROOT);

	cc_w_init(&g_w);
	CHECK_EQ_INT(cc_revlist_encode(&g_l, &g_w), CC_OK);
	CHECK_EQ_INT(g_w.len, 4 + 1 + 8 + 8 + 4 + 5 * 32 + 32 + 64);
	CHECK_EQ_INT(cc_revlist_decode(g_w.p, g_w.len, &d), CC_OK);
	CHECK_EQ_INT(cc_revlist_verify(&d, g_root->pk, NULL), CC_OK);
	CHECK(d.count == g_l.count && memcmp(d.entries, g_l.entries, g_l.count * sizeof *g_l.entries) == 0);
	cc_revlist_free(&d);
}

static void test_revlist_every_bit_of_the_encoding_matters(void)
{
	cc_revlist d;
	uint8_t *b;
	unsigned undetected = 0;

	/* every bit of the encoding matters */
	b = malloc(g_w.len);
	for (size_t i = 0; b && i < g_w.len; i++)
		for (unsigned bit = 0; bit < 8; bit++) {
			int rc;
			memcpy(b, g_w.p, g_w.len);
			b[i] ^= (uint8_t)(1u << bit);
			rc = cc_revlist_decode(b, g_w.len, &d);
			if (rc == CC_OK)
				rc = cc_revlist_verify(&d, g_root->pk, NULL);
			if (rc == CC_OK) {
				undetected++;
				fprintf(stderr, "revlist: flip at byte %zu bit %u undetected\n", i, bit);
			}
			cc_revlist_free(&d);
		}
	CHECK_EQ_INT(undetected, 0);
	free(b);
}

static void test_revlist_decode_is_strict(void)
{
	cc_revlist d;

	/* every truncation, trailing bytes */
	for (size_t cut = 0; cut < g_w.len; cut++) {
		CHECK_EQ_INT(cc_revlist_decode(g_w.p, cut, &d), CC_ERR_TRUNCATED);
		CHECK(d.entries == NULL && d.count == 0);
	}
	cc_w_u8(&g_w, 0);
	CHECK_EQ_INT(cc_revlist_decode(g_w.p, g_w.len, &d), CC_ERR_TRAILING);
	g_w.len--;
	/* unsorted entries are not canonical: swap the first two serials */
	{
		uint8_t tmp[8];
		memcpy(tmp, g_w.p + 25, 8);
		memcpy(g_w.p + 25, g_w.p + 25 + 32, 8);
		memcpy(g_w.p + 25 + 32, tmp, 8);
		CHECK_EQ_INT(cc_revlist_decode(g_w.p, g_w.len, &d), CC_ERR_MALFORMED);
		memcpy(g_w.p + 25 + 32, g_w.p + 25, 8);
		memcpy(g_w.p + 25, tmp, 8);
		CHECK_EQ_INT(cc_revlist_decode(g_w.p, g_w.len, &d), CC_OK);
		cc_revlist_free(&d);
	}
	/* a hostile count is refused before allocating */
	g_w.p[21] = 0xff;
	CHECK_EQ_INT(cc_revlist_decode(g_w.p, g_w.len, &d), CC_ERR_TOO_LARGE);
	g_w.p[21] = 0x00;
	g_w.p[23] = 0x01; /* 256 + 5 entries: more than the input holds */
	CHECK_EQ_INT(cc_revlist_decode(g_w.p, g_w.len, &d), CC_ERR_TRUNCATED);
	g_w.p[23] = 0x00;
	g_w.p[4] = 2;
	CHECK_EQ_INT(cc_revlist_decode(g_w.p, g_w.len, &d), CC_ERR_VERSION);
	g_w.p[4] = 1;
}

static void test_revlist_older_or_changed_list_is_refused(void)
{
	cc_revlist older, newer;

	/* replay of an older or equal list */
	cc_revlist_init(&older);
	cc_revlist_init(&newer);
	older.number = 9;
	newer.number = 11;
	CHECK_EQ_INT(cc_revlist_sign(&older, g_root), CC_OK);
	CHECK_EQ_INT(cc_revlist_sign(&newer, g_root), CC_OK);
	CHECK_EQ_INT(cc_revlist_verify(&older, g_root->pk, &g_l), CC_ERR_STALE);
	CHECK_EQ_INT(cc_revlist_verify(&g_l, g_root->pk, &g_l), CC_ERR_STALE);
	CHECK_EQ_INT(cc_revlist_verify(&newer, g_root->pk, &g_l), CC_OK);
	/* a changed number without a new signature */
	older.number = 12;
	CHECK_EQ_INT(cc_revlist_verify(&older, g_root->pk, &g_l), CC_ERR_BAD_SIGNATURE);
	cc_revlist_free(&older);
	cc_revlist_free(&newer);
}

static void test_revlist_large_list_round_trips(void)
{
	cc_revlist d;
	cc_revlist newer;
	uint8_t id[CC_DEVICE_ID_BYTES];
	cc_wbuf w;

	/* a larger list round-trips and looks up */
	cc_revlist_init(&newer);
	newer.number = 20;
	for (unsigned i = 0; i < 2000; i++) {
		memset(id, 0, sizeof id);
		id[0] = (uint8_t)(i >> 8);
		id[1] = (uint8_t)i;
		CHECK_EQ_INT(cc_revlist_add(&newer, (uint64_t)(i * 7919u % 2003u) + 1000000, id, i), CC_OK);
	}
	CHECK_EQ_INT(cc_revlist_sign(&newer, g_root), CC_OK);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_revlist_encode(&newer, &w), CC_OK);
	CHECK_EQ_INT(cc_revlist_decode(w.p, w.len, &d), CC_OK);
	CHECK_EQ_INT(cc_revlist_verify(&d, g_root->pk, &g_l), CC_OK);
	CHECK_EQ_INT(cc_revlist_contains(&d, 1000000 + 7919u % 2003u, NULL), 1);
	CHECK_EQ_INT(cc_revlist_contains(&d, 999999, NULL), 0);
	cc_revlist_free(&d);
	cc_w_free(&w);
	cc_revlist_free(&newer);
}

int main(void)
{
	test_rng_install();
	CHECK(sodium_init() >= 0);
	CHECK_RUN(test_kat);
	CHECK_RUN(test_revlist_add_keeps_serials_sorted_and_finds_them);
	CHECK_RUN(test_revlist_sign_verify_and_encode);
	CHECK_RUN(test_revlist_every_bit_of_the_encoding_matters);
	CHECK_RUN(test_revlist_decode_is_strict);
	CHECK_RUN(test_revlist_older_or_changed_list_is_refused);
	CHECK_RUN(test_revlist_large_list_round_trips);
	revlist_teardown();
	return check_done();
}
