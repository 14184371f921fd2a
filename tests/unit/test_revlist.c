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

static void test_list(void)
{
	cc_root_key *root = NULL, *other = NULL;
	cc_revlist l, d, older, newer;
	cc_wbuf w;
	uint8_t id[CC_DEVICE_ID_BYTES], *b;
	unsigned undetected = 0;

	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	CHECK_EQ_INT(cc_root_key_generate(&other), CC_OK);
	cc_revlist_init(&l);
	l.number = 10;
	l.issued_at = 1800000000;
	for (unsigned i = 0; i < 5; i++) {
		memset(id, (int)(0x10 + i), sizeof id);
		CHECK_EQ_INT(cc_revlist_add(&l, (uint64_t)(50 - 10 * i), id, 1800000000 - (int64_t)i), CC_OK);
	}
	CHECK_EQ_INT(cc_revlist_add(&l, 30, id, 0), CC_ERR_INVALID_ARG); /* already revoked */
	CHECK_EQ_INT(l.count, 5);
	for (unsigned i = 1; i < l.count; i++)
		CHECK(l.entries[i - 1].serial < l.entries[i].serial);
	memset(id, 0x12, sizeof id);
	CHECK_EQ_INT(cc_revlist_contains(&l, 30, NULL), 1);
	CHECK_EQ_INT(cc_revlist_contains(&l, 31, NULL), 0);
	CHECK_EQ_INT(cc_revlist_contains(&l, 999, id), 1);
	memset(id, 0x77, sizeof id);
	CHECK_EQ_INT(cc_revlist_contains(&l, 999, id), 0);
	CHECK_EQ_INT(cc_revlist_contains(&l, 10, id), 1);

	/* unsigned list does not verify; signed one does */
	CHECK_EQ_INT(cc_revlist_verify(&l, root->pk, NULL), CC_ERR_WRONG_ROOT);
	CHECK_EQ_INT(cc_revlist_sign(&l, root), CC_OK);
	CHECK_EQ_INT(cc_revlist_verify(&l, root->pk, NULL), CC_OK);
	CHECK_EQ_INT(cc_revlist_verify(&l, other->pk, NULL), CC_ERR_WRONG_ROOT);

	cc_w_init(&w);
	CHECK_EQ_INT(cc_revlist_encode(&l, &w), CC_OK);
	CHECK_EQ_INT(w.len, 4 + 1 + 8 + 8 + 4 + 5 * 32 + 32 + 64);
	CHECK_EQ_INT(cc_revlist_decode(w.p, w.len, &d), CC_OK);
	CHECK_EQ_INT(cc_revlist_verify(&d, root->pk, NULL), CC_OK);
	CHECK(d.count == l.count && memcmp(d.entries, l.entries, l.count * sizeof *l.entries) == 0);
	cc_revlist_free(&d);

	/* every bit of the encoding matters */
	b = malloc(w.len);
	for (size_t i = 0; b && i < w.len; i++)
		for (unsigned bit = 0; bit < 8; bit++) {
			int rc;
			memcpy(b, w.p, w.len);
			b[i] ^= (uint8_t)(1u << bit);
			rc = cc_revlist_decode(b, w.len, &d);
			if (rc == CC_OK)
				rc = cc_revlist_verify(&d, root->pk, NULL);
			if (rc == CC_OK) {
				undetected++;
				fprintf(stderr, "revlist: flip at byte %zu bit %u undetected\n", i, bit);
			}
			cc_revlist_free(&d);
		}
	CHECK_EQ_INT(undetected, 0);
	free(b);
	/* every truncation, trailing bytes */
	for (size_t cut = 0; cut < w.len; cut++) {
		CHECK_EQ_INT(cc_revlist_decode(w.p, cut, &d), CC_ERR_TRUNCATED);
		CHECK(d.entries == NULL && d.count == 0);
	}
	cc_w_u8(&w, 0);
	CHECK_EQ_INT(cc_revlist_decode(w.p, w.len, &d), CC_ERR_TRAILING);
	w.len--;
	/* unsorted entries are not canonical: swap the first two serials */
	{
		uint8_t tmp[8];
		memcpy(tmp, w.p + 25, 8);
		memcpy(w.p + 25, w.p + 25 + 32, 8);
		memcpy(w.p + 25 + 32, tmp, 8);
		CHECK_EQ_INT(cc_revlist_decode(w.p, w.len, &d), CC_ERR_MALFORMED);
		memcpy(w.p + 25 + 32, w.p + 25, 8);
		memcpy(w.p + 25, tmp, 8);
		CHECK_EQ_INT(cc_revlist_decode(w.p, w.len, &d), CC_OK);
		cc_revlist_free(&d);
	}
	/* a hostile count is refused before allocating */
	w.p[21] = 0xff;
	CHECK_EQ_INT(cc_revlist_decode(w.p, w.len, &d), CC_ERR_TOO_LARGE);
	w.p[21] = 0x00;
	w.p[23] = 0x01; /* 256 + 5 entries: more than the input holds */
	CHECK_EQ_INT(cc_revlist_decode(w.p, w.len, &d), CC_ERR_TRUNCATED);
	w.p[23] = 0x00;
	w.p[4] = 2;
	CHECK_EQ_INT(cc_revlist_decode(w.p, w.len, &d), CC_ERR_VERSION);
	w.p[4] = 1;

	/* replay of an older or equal list */
	cc_revlist_init(&older);
	cc_revlist_init(&newer);
	older.number = 9;
	newer.number = 11;
	CHECK_EQ_INT(cc_revlist_sign(&older, root), CC_OK);
	CHECK_EQ_INT(cc_revlist_sign(&newer, root), CC_OK);
	CHECK_EQ_INT(cc_revlist_verify(&older, root->pk, &l), CC_ERR_STALE);
	CHECK_EQ_INT(cc_revlist_verify(&l, root->pk, &l), CC_ERR_STALE);
	CHECK_EQ_INT(cc_revlist_verify(&newer, root->pk, &l), CC_OK);
	/* a changed number without a new signature */
	older.number = 12;
	CHECK_EQ_INT(cc_revlist_verify(&older, root->pk, &l), CC_ERR_BAD_SIGNATURE);

	/* a larger list round-trips and looks up */
	cc_revlist_free(&newer);
	newer.number = 20;
	for (unsigned i = 0; i < 2000; i++) {
		memset(id, 0, sizeof id);
		id[0] = (uint8_t)(i >> 8);
		id[1] = (uint8_t)i;
		CHECK_EQ_INT(cc_revlist_add(&newer, (uint64_t)(i * 7919u % 2003u) + 1000000, id, i), CC_OK);
	}
	CHECK_EQ_INT(cc_revlist_sign(&newer, root), CC_OK);
	cc_w_free(&w);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_revlist_encode(&newer, &w), CC_OK);
	CHECK_EQ_INT(cc_revlist_decode(w.p, w.len, &d), CC_OK);
	CHECK_EQ_INT(cc_revlist_verify(&d, root->pk, &l), CC_OK);
	CHECK_EQ_INT(cc_revlist_contains(&d, 1000000 + 7919u % 2003u, NULL), 1);
	CHECK_EQ_INT(cc_revlist_contains(&d, 999999, NULL), 0);
	cc_revlist_free(&d);

	cc_w_free(&w);
	cc_revlist_free(&l);
	cc_revlist_free(&older);
	cc_revlist_free(&newer);
	cc_revlist_free(NULL);
	cc_root_key_free(root);
	cc_root_key_free(other);
}

int main(void)
{
	test_rng_install();
	CHECK(sodium_init() >= 0);
	CHECK_RUN(test_kat);
	CHECK_RUN(test_list);
	return check_done();
}
