/*
 * test_schema.c: casusd's storage schema (server/schema.h) on a temporary LMDB.
 *
 * Every record codec round-trips and refuses what is malformed; every key
 * builder lays out the bytes docs/STORAGE.md names; keys with a larger
 * sequence number sort after smaller ones (memcmp, LMDB's order), so the
 * audit databases can be written with MDB_APPEND and a key that would go
 * backwards is refused; the meta counters count from 1; a message is found by
 * its id.
 */
#include "check.h"

#include <cc_buf.h>
#include <errno.h>
#include <schema.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void test_casus_record(void)
{
	struct casus_record a, b;
	memset(&a, 0, sizeof a);
	a.created = 1700000000;
	snprintf(a.purpose, sizeof a.purpose, "Zorgcoordinatie");
	snprintf(a.basis, sizeof a.basis, "Wmo 2015 art. 2.3.2");
	a.retention_days = 3650;
	memset(a.creator, 0xab, 16);
	a.closed_at = 1700000500;
	a.purged_at = 0;
	uint8_t *p = NULL;
	size_t n = 0;
	CHECK_EQ_INT(schema_casus_rec_encode(&a, &p, &n), 0);
	CHECK(p != NULL && n > 0 && p[0] == SCHEMA_CASUS_REC_VERSION);
	CHECK_EQ_INT(schema_casus_rec_decode(p, n, &b), 0);
	CHECK_EQ_INT(b.created, a.created);
	CHECK(strcmp(b.purpose, a.purpose) == 0 && strcmp(b.basis, a.basis) == 0);
	CHECK_EQ_INT(b.retention_days, 3650);
	CHECK_MEM(b.creator, a.creator, 16);
	CHECK_EQ_INT(b.closed_at, a.closed_at);
	CHECK_EQ_INT(b.purged_at, 0);
	/* cut anywhere: refused */
	int cut_ok = 0;
	for (size_t i = 0; i < n; i++)
		cut_ok |= schema_casus_rec_decode(p, i, &b) == 0;
	CHECK(!cut_ok);
	/* trailing bytes are ignored by neither version: an unknown version is refused */
	p[0] = 3;
	CHECK_EQ_INT(schema_casus_rec_decode(p, n, &b), -1);
	free(p);

	/* a version 1 record (no closing times) reads as open */
	cc_wbuf w;
	cc_w_init(&w);
	cc_w_u8(&w, 1);
	cc_w_i64(&w, 42);
	cc_w_str(&w, "doel");
	cc_w_str(&w, "grond");
	cc_w_u32(&w, 7);
	cc_w_fixed(&w, a.creator, 16);
	CHECK(!w.err);
	CHECK_EQ_INT(schema_casus_rec_decode(w.p, w.len, &b), 0);
	CHECK_EQ_INT(b.created, 42);
	CHECK(strcmp(b.purpose, "doel") == 0);
	CHECK_EQ_INT(b.retention_days, 7);
	CHECK_EQ_INT(b.closed_at, 0);
	CHECK_EQ_INT(b.purged_at, 0);
	cc_w_free(&w);
}

static void test_message_and_member_records(void)
{
	uint8_t rec[SCHEMA_MSG_HDR + 3];
	schema_msg_rec_header(rec, 2, 0x0102030405060708ULL);
	memcpy(rec + SCHEMA_MSG_HDR, "abc", 3);
	CHECK_EQ_INT(rec[0], 2);
	CHECK_EQ_INT(rec[1], 0x01); /* big-endian epoch */
	CHECK_EQ_INT(rec[8], 0x08);
	uint8_t aud = 0;
	uint64_t epoch = 0;
	const uint8_t *msg = NULL;
	size_t ml = 0;
	CHECK_EQ_INT(schema_msg_rec_decode(rec, sizeof rec, &aud, &epoch, &msg, &ml), 0);
	CHECK_EQ_INT(aud, 2);
	CHECK(epoch == 0x0102030405060708ULL);
	CHECK(ml == 3 && msg == rec + SCHEMA_MSG_HDR);
	CHECK_EQ_INT(schema_msg_rec_decode(rec, SCHEMA_MSG_HDR - 1, &aud, &epoch, &msg, &ml), -1);
	CHECK_EQ_INT(schema_msg_rec_decode(rec, SCHEMA_MSG_HDR, &aud, &epoch, &msg, &ml), 0);
	CHECK_EQ_INT(ml, 0);

	uint8_t mv[SCHEMA_MEMBER_VAL];
	uint64_t join = 0, read = 0;
	schema_member_encode(mv, 5, 99);
	CHECK_EQ_INT(schema_member_decode(mv, sizeof mv, &join, &read), 0);
	CHECK(join == 5 && read == 99);
	CHECK_EQ_INT(schema_member_decode(mv, sizeof mv - 1, &join, &read), -1);
	CHECK_EQ_INT(schema_member_decode(mv, sizeof mv + 1, &join, &read), -1);

	/* msgids value */
	uint8_t iv[SCHEMA_MSGID_VAL + 1] = {0};
	uint64_t seq = 0;
	schema_msgid_encode(iv, 0x0102030405060708ULL);
	CHECK(iv[0] == 1 && iv[7] == 8);
	CHECK_EQ_INT(schema_msgid_decode(iv, SCHEMA_MSGID_VAL, &seq), 0);
	CHECK(seq == 0x0102030405060708ULL);
	CHECK_EQ_INT(schema_msgid_decode(iv, SCHEMA_MSGID_VAL - 1, &seq), -1);
	CHECK_EQ_INT(schema_msgid_decode(iv, SCHEMA_MSGID_VAL + 1, &seq), -1);
}

static void test_version_and_audit_records(void)
{
	/* the format-version meta key and its value */
	CHECK_EQ_INT(SCHEMA_META_VERSION_LEN, 6);
	CHECK(memcmp(SCHEMA_META_VERSION, "schema", 6) == 0);
	uint8_t vv[SCHEMA_VERSION_VAL + 1] = {0};
	uint64_t ver = 0;
	schema_version_encode(vv, 1);
	CHECK(vv[7] == 1 && vv[0] == 0);
	CHECK_EQ_INT(schema_version_decode(vv, SCHEMA_VERSION_VAL, &ver), 0);
	CHECK(ver == 1);
	schema_version_encode(vv, 0x1122334455667788ULL);
	CHECK_EQ_INT(schema_version_decode(vv, SCHEMA_VERSION_VAL, &ver), 0);
	CHECK(ver == 0x1122334455667788ULL);
	ver = 42;
	CHECK_EQ_INT(schema_version_decode(vv, SCHEMA_VERSION_VAL - 1, &ver), -1);
	CHECK_EQ_INT(schema_version_decode(vv, SCHEMA_VERSION_VAL + 1, &ver), -1);
	CHECK_EQ_INT(schema_version_decode(vv, 0, &ver), -1);
	CHECK(ver == 42);

	/* audit and checkpoint keys */
	uint8_t ka[SCHEMA_KEY_AUDIT + 1] = {0};
	uint64_t seq = 0;
	CHECK_EQ_INT(schema_key_audit(ka, 0xa1b2c3d4e5f60718ULL), 8);
	CHECK(ka[0] == 0xa1 && ka[7] == 0x18);
	CHECK_EQ_INT(schema_key_audit_decode(ka, SCHEMA_KEY_AUDIT, &seq), 0);
	CHECK(seq == 0xa1b2c3d4e5f60718ULL);
	CHECK_EQ_INT(schema_key_audit_decode(ka, SCHEMA_KEY_AUDIT - 1, &seq), -1);
	CHECK_EQ_INT(schema_key_audit_decode(ka, SCHEMA_KEY_AUDIT + 1, &seq), -1);

	/* audit record: hash[32] | entry */
	uint8_t rec[SCHEMA_AUDIT_HASH + 5];
	for (size_t i = 0; i < sizeof rec; i++)
		rec[i] = (uint8_t)i;
	const uint8_t *hash = NULL, *entry = NULL;
	size_t el = 0;
	CHECK_EQ_INT(schema_audit_rec_decode(rec, sizeof rec, &hash, &entry, &el), 0);
	CHECK(hash == rec && entry == rec + SCHEMA_AUDIT_HASH && el == 5);
	CHECK_EQ_INT(schema_audit_rec_decode(rec, SCHEMA_AUDIT_HASH + 1, &hash, &entry, &el), 0);
	CHECK(el == 1 && entry[0] == SCHEMA_AUDIT_HASH);
	/* a hash without an entry, or shorter than a hash, is refused */
	CHECK_EQ_INT(schema_audit_rec_decode(rec, SCHEMA_AUDIT_HASH, &hash, &entry, &el), -1);
	CHECK_EQ_INT(schema_audit_rec_decode(rec, SCHEMA_AUDIT_HASH - 1, &hash, &entry, &el), -1);
	CHECK_EQ_INT(schema_audit_rec_decode(rec, 0, &hash, &entry, &el), -1);
}

static void test_keys(void)
{
	uint8_t a[16], b[16], c[16];
	memset(a, 0x11, 16);
	memset(b, 0x22, 16);
	memset(c, 0x33, 16);

	uint8_t kc[SCHEMA_KEY_CASUS];
	CHECK_EQ_INT(schema_key_casus(kc, a, SCHEMA_CASUS_RECORD), 17);
	CHECK(memcmp(kc, a, 16) == 0 && kc[16] == 'r');
	schema_key_casus(kc, a, SCHEMA_CASUS_CHAIN);
	CHECK_EQ_INT(kc[16], 'c');

	uint8_t ks[SCHEMA_KEY_SEQ], ks2[SCHEMA_KEY_SEQ];
	CHECK_EQ_INT(schema_key_seq(ks, a, 7), 24);
	CHECK(memcmp(ks, a, 16) == 0);
	CHECK_EQ_INT(schema_key_tail64(ks, sizeof ks), 7);
	/* ordering: within a casus, by sequence number, also across byte boundaries */
	static const uint64_t seqs[] = {0, 1, 2, 255, 256, 65535, 65536, 1ULL << 32, (1ULL << 53) - 1};
	int ordered = 1;
	for (size_t i = 0; i + 1 < sizeof seqs / sizeof seqs[0]; i++) {
		schema_key_seq(ks, a, seqs[i]);
		schema_key_seq(ks2, a, seqs[i + 1]);
		ordered &= memcmp(ks, ks2, sizeof ks) < 0;
	}
	CHECK(ordered);
	/* and every key of one casus sorts before every key of a larger id */
	schema_key_seq(ks, a, UINT64_MAX);
	schema_key_seq(ks2, b, 0);
	CHECK(memcmp(ks, ks2, sizeof ks) < 0);

	uint8_t kp[SCHEMA_KEY_PAIR];
	CHECK_EQ_INT(schema_key_pair(kp, a, b), 32);
	CHECK(memcmp(kp, a, 16) == 0 && memcmp(kp + 16, b, 16) == 0);

	uint8_t kg[SCHEMA_KEY_GRANT];
	CHECK_EQ_INT(schema_key_grant(kg, a, b, 9), 40);
	CHECK(memcmp(kg, a, 16) == 0 && memcmp(kg + 16, b, 16) == 0);
	CHECK_EQ_INT(schema_key_tail64(kg, sizeof kg), 9);

	uint8_t kx[SCHEMA_KEY_XFER], kxp[SCHEMA_KEY_XFER_PFX];
	CHECK_EQ_INT(schema_key_xfer(kx, a, b, c), 53);
	CHECK(memcmp(kx, "xfer/", 5) == 0 && memcmp(kx + 5, a, 16) == 0 && memcmp(kx + 21, b, 16) == 0 &&
	      memcmp(kx + 37, c, 16) == 0);
	CHECK_EQ_INT(schema_key_xfer_prefix(kxp, a, b), 37);
	CHECK(memcmp(kx, kxp, sizeof kxp) == 0);

	uint8_t ku[SCHEMA_KEY_USER_MAX];
	CHECK_EQ_INT(schema_key_user_device(ku, "anna", a), 4 + 1 + 16);
	CHECK(memcmp(ku, "anna\0", 5) == 0 && memcmp(ku + 5, a, 16) == 0);
	CHECK_EQ_INT(schema_key_user_seq(ku, "anna", 3), 4 + 1 + 8);
	CHECK_EQ_INT(schema_key_tail64(ku, 13), 3);
	char longuser[SCHEMA_USER_MAX + 2];
	memset(longuser, 'x', sizeof longuser - 1);
	longuser[sizeof longuser - 1] = 0;
	CHECK_EQ_INT(schema_key_user_device(ku, longuser, a), 0);
	CHECK_EQ_INT(schema_key_user_seq(ku, longuser, 1), 0);
	/* "ann" and "anna" never share a prefix thanks to the 0 byte */
	uint8_t ku2[SCHEMA_KEY_USER_MAX];
	schema_key_user_seq(ku2, "ann", UINT64_MAX);
	schema_key_user_seq(ku, "anna", 0);
	CHECK(memcmp(ku2, ku, 3) == 0 && ku2[3] == 0 && ku[3] == 'a' && memcmp(ku2, ku, 13) < 0);

	/* stagnation notices: "stag/" casus signal, one key per casus and signal */
	uint8_t kst[SCHEMA_KEY_STAGNATION], kst2[SCHEMA_KEY_STAGNATION];
	CHECK_EQ_INT(schema_key_stagnation(kst, a, 1), 22);
	CHECK(memcmp(kst, "stag/", 5) == 0 && memcmp(kst + 5, a, 16) == 0 && kst[21] == 1);
	schema_key_stagnation(kst2, a, 2);
	CHECK(memcmp(kst, kst2, sizeof kst) < 0);
	schema_key_stagnation(kst2, b, 1);
	CHECK(memcmp(kst, kst2, sizeof kst) != 0);

	uint8_t ka[SCHEMA_KEY_AUDIT], ka2[SCHEMA_KEY_AUDIT];
	schema_key_audit(ka, 255);
	schema_key_audit(ka2, 256);
	CHECK(memcmp(ka, ka2, sizeof ka) < 0);
}

static char tmpdir[512];

static int make_tmp(void)
{
	const char *base = getenv("CASUS_TEST_TMP");
	if (!base || !*base)
		base = "/tmp";
	if (mkdir(base, 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(tmpdir, sizeof tmpdir, "%s/schema-XXXXXX", base);
	return mkdtemp(tmpdir) ? 0 : -1;
}

static void test_on_lmdb(void)
{
	struct store st;
	CHECK_EQ_INT(make_tmp(), 0);
	CHECK_EQ_INT(schema_open(&st, tmpdir, 16u << 20, 0), 0);
	CHECK(store_txn(&st) != NULL);

	/* a new store records its format version */
	uint64_t fv = 0;
	CHECK_EQ_INT(schema_meta_get_u64(&st, SCHEMA_META_VERSION, &fv), 0);
	CHECK(fv == SCHEMA_STORE_FORMAT);

	/* meta counters count from 1; an absent one is MDB_NOTFOUND */
	uint64_t v = 0;
	CHECK_EQ_INT(schema_meta_get_u64(&st, SCHEMA_META_GRANT_SEQ, &v), MDB_NOTFOUND);
	CHECK_EQ_INT(schema_meta_next(&st, SCHEMA_META_GRANT_SEQ, &v), 0);
	CHECK_EQ_INT(v, 1);
	CHECK_EQ_INT(schema_meta_next(&st, SCHEMA_META_GRANT_SEQ, &v), 0);
	CHECK_EQ_INT(v, 2);
	CHECK_EQ_INT(schema_meta_put_u64(&st, SCHEMA_META_POLICY_NUMBER, 12), 0);
	CHECK_EQ_INT(schema_meta_get_u64(&st, SCHEMA_META_POLICY_NUMBER, &v), 0);
	CHECK_EQ_INT(v, 12);
	CHECK_EQ_INT(store_put(&st, DB_META, SCHEMA_META_NOTICE_SEQ, strlen(SCHEMA_META_NOTICE_SEQ), "x", 1, 0), 0);
	CHECK_EQ_INT(schema_meta_get_u64(&st, SCHEMA_META_NOTICE_SEQ, &v), -1); /* malformed */

	/* the casus record through the store */
	uint8_t cid[16];
	memset(cid, 0x5a, 16);
	struct casus_record r, r2;
	memset(&r, 0, sizeof r);
	r.created = 1;
	snprintf(r.purpose, sizeof r.purpose, "p");
	snprintf(r.basis, sizeof r.basis, "b");
	CHECK_EQ_INT(schema_casus_rec_get(&st, cid, &r2), -1);
	CHECK_EQ_INT(schema_casus_rec_put(&st, cid, &r), 0);
	CHECK_EQ_INT(schema_casus_rec_get(&st, cid, &r2), 0);
	CHECK(strcmp(r2.purpose, "p") == 0 && r2.created == 1);

	/* a message found by its id */
	uint8_t mid[16], k[SCHEMA_KEY_PAIR], sk[SCHEMA_KEY_SEQ], seqb[8], rec[SCHEMA_MSG_HDR + 2];
	memset(mid, 0x77, 16);
	store_be64(seqb, 4);
	schema_msg_rec_header(rec, 1, 3);
	rec[SCHEMA_MSG_HDR] = 'h';
	rec[SCHEMA_MSG_HDR + 1] = 'i';
	CHECK_EQ_INT(store_put(&st, DB_MSGIDS, k, schema_key_pair(k, cid, mid), seqb, 8, 0), 0);
	CHECK_EQ_INT(store_put(&st, DB_MESSAGES, sk, schema_key_seq(sk, cid, 4), rec, sizeof rec, 0), 0);
	uint64_t seq = 0, epoch = 0;
	uint8_t aud = 0;
	const uint8_t *msg = NULL;
	size_t ml = 0;
	CHECK_EQ_INT(schema_msg_by_id(&st, cid, mid, &seq, &aud, &epoch, &msg, &ml), 0);
	CHECK(seq == 4 && aud == 1 && epoch == 3 && ml == 2 && msg && memcmp(msg, "hi", 2) == 0);
	mid[0] ^= 1;
	CHECK_EQ_INT(schema_msg_by_id(&st, cid, mid, &seq, &aud, &epoch, &msg, &ml), -1);

	/* audit keys in order go in with MDB_APPEND; one going backwards is refused */
	int appended = 1;
	for (uint64_t s = 1; s <= 600; s++) {
		uint8_t ak[SCHEMA_KEY_AUDIT];
		appended &= store_put(&st, DB_AUDIT, ak, schema_key_audit(ak, s), "e", 1, MDB_APPEND) == 0;
	}
	CHECK(appended);
	uint8_t back[SCHEMA_KEY_AUDIT];
	CHECK_EQ_INT(store_put(&st, DB_AUDIT, back, schema_key_audit(back, 300), "e", 1, MDB_APPEND), MDB_KEYEXIST);
	CHECK_EQ_INT(store_commit(&st), 0);
	store_close(&st);

	/* what was committed is there after reopening */
	CHECK_EQ_INT(schema_open(&st, tmpdir, 16u << 20, 0), 0);
	CHECK(store_txn(&st) != NULL);
	CHECK_EQ_INT(schema_meta_get_u64(&st, SCHEMA_META_GRANT_SEQ, &v), 0);
	CHECK_EQ_INT(v, 2);
	CHECK_EQ_INT(schema_casus_rec_get(&st, cid, &r2), 0);
	/* removed-member markers: absent, put, read, deleted (and deleting none is fine) */
	uint8_t dev[16], kr[SCHEMA_KEY_REMOVED];
	memset(dev, 0x77, 16);
	CHECK_EQ_INT(schema_key_removed(kr, dev, cid), 40);
	CHECK(memcmp(kr, "removed/", 8) == 0 && memcmp(kr + 8, dev, 16) == 0 && memcmp(kr + 24, cid, 16) == 0);
	uint64_t rep = 0;
	CHECK_EQ_INT(schema_removed_get(&st, dev, cid, &rep), MDB_NOTFOUND);
	CHECK_EQ_INT(schema_removed_put(&st, dev, cid, 9), 0);
	CHECK_EQ_INT(schema_removed_get(&st, dev, cid, &rep), 0);
	CHECK(rep == 9);
	CHECK_EQ_INT(store_put(&st, DB_META, kr, sizeof kr, "\0\0\0\0\0\0\0\0\x09", 9, 0), 0);
	CHECK_EQ_INT(schema_removed_get(&st, dev, cid, &rep), -1); /* malformed */
	CHECK_EQ_INT(schema_removed_del(&st, dev, cid), 0);
	CHECK_EQ_INT(schema_removed_get(&st, dev, cid, &rep), MDB_NOTFOUND);
	CHECK_EQ_INT(schema_removed_del(&st, dev, cid), 0);
	/* a store of another format version is refused, and so is a malformed one */
	CHECK_EQ_INT(schema_meta_put_u64(&st, SCHEMA_META_VERSION, SCHEMA_STORE_FORMAT + 1), 0);
	CHECK_EQ_INT(store_commit(&st), 0);
	store_close(&st);
	CHECK_EQ_INT(schema_open(&st, tmpdir, 16u << 20, 0), MDB_INCOMPATIBLE);
	CHECK(st.env == NULL);
	CHECK_EQ_INT(store_open(&st, tmpdir, 16u << 20, 0), 0);
	CHECK(store_txn(&st) != NULL);
	CHECK_EQ_INT(store_put(&st, DB_META, SCHEMA_META_VERSION, SCHEMA_META_VERSION_LEN, "\0\0\0\0\0\0\0\1\0", 9, 0),
	             0);
	CHECK_EQ_INT(store_commit(&st), 0);
	store_close(&st);
	CHECK_EQ_INT(schema_open(&st, tmpdir, 16u << 20, 0), MDB_INCOMPATIBLE);
	/* the right version opens again */
	CHECK_EQ_INT(store_open(&st, tmpdir, 16u << 20, 0), 0);
	CHECK(store_txn(&st) != NULL);
	CHECK_EQ_INT(schema_meta_put_u64(&st, SCHEMA_META_VERSION, SCHEMA_STORE_FORMAT), 0);
	CHECK_EQ_INT(store_commit(&st), 0);
	store_close(&st);
	CHECK_EQ_INT(schema_open(&st, tmpdir, 16u << 20, 0), 0);
	uint8_t epoch1[SCHEMA_EPOCH_BYTES];
	memcpy(epoch1, st.epoch, sizeof epoch1);
	CHECK(!sodium_is_zero(epoch1, sizeof epoch1));
	CHECK(st.restored == 0);
	store_close(&st);
	/* the same store opens with the same epoch */
	CHECK_EQ_INT(schema_open(&st, tmpdir, 16u << 20, 0), 0);
	CHECK(memcmp(st.epoch, epoch1, sizeof epoch1) == 0);
	store_close(&st);

	/* migration: a format-1 store, made by hand (version 1, no store epoch),
	 * is migrated to the current format and gets an epoch */
	CHECK_EQ_INT(store_open(&st, tmpdir, 16u << 20, 0), 0);
	CHECK(store_txn(&st) != NULL);
	CHECK_EQ_INT(schema_meta_put_u64(&st, SCHEMA_META_VERSION, 1), 0);
	CHECK_EQ_INT(store_del(&st, DB_META, SCHEMA_META_STORE_EPOCH, sizeof SCHEMA_META_STORE_EPOCH - 1), 0);
	CHECK_EQ_INT(store_commit(&st), 0);
	store_close(&st);
	CHECK_EQ_INT(schema_open(&st, tmpdir, 16u << 20, 0), 0);
	CHECK(st.env != NULL);
	{
		uint64_t fv2 = 0;
		MDB_val ev;
		CHECK(store_txn(&st) != NULL);
		CHECK_EQ_INT(schema_meta_get_u64(&st, SCHEMA_META_VERSION, &fv2), 0);
		CHECK(fv == SCHEMA_STORE_FORMAT);
		CHECK_EQ_INT(store_get(&st, DB_META, SCHEMA_META_STORE_EPOCH, sizeof SCHEMA_META_STORE_EPOCH - 1, &ev),
		             0);
		CHECK(ev.mv_size == SCHEMA_EPOCH_BYTES);
		CHECK(memcmp(ev.mv_data, st.epoch, SCHEMA_EPOCH_BYTES) == 0);
		CHECK(memcmp(st.epoch, epoch1, sizeof epoch1) != 0);
		store_abort(&st);
	}
	memcpy(epoch1, st.epoch, sizeof epoch1);
	store_close(&st);
	/* older than the oldest migration: refused */
	CHECK_EQ_INT(store_open(&st, tmpdir, 16u << 20, 0), 0);
	CHECK(store_txn(&st) != NULL);
	CHECK_EQ_INT(schema_meta_put_u64(&st, SCHEMA_META_VERSION, SCHEMA_STORE_FORMAT_OLDEST - 1), 0);
	CHECK_EQ_INT(store_commit(&st), 0);
	store_close(&st);
	CHECK_EQ_INT(schema_open(&st, tmpdir, 16u << 20, 0), MDB_INCOMPATIBLE);
	CHECK_EQ_INT(store_open(&st, tmpdir, 16u << 20, 0), 0);
	CHECK(store_txn(&st) != NULL);
	CHECK_EQ_INT(schema_meta_put_u64(&st, SCHEMA_META_VERSION, SCHEMA_STORE_FORMAT), 0);
	CHECK_EQ_INT(store_commit(&st), 0);
	store_close(&st);

	/* a restore mark gives the store a new epoch once, and is removed */
	char mark[600];
	snprintf(mark, sizeof mark, "%s/%s", tmpdir, SCHEMA_RESTORED_MARK);
	FILE *mf = fopen(mark, "w");
	CHECK(mf != NULL);
	if (mf)
		fclose(mf);
	CHECK_EQ_INT(schema_open(&st, tmpdir, 16u << 20, 0), 0);
	CHECK(st.restored == 1);
	CHECK(memcmp(st.epoch, epoch1, sizeof epoch1) != 0);
	CHECK(access(mark, F_OK) != 0);
	memcpy(epoch1, st.epoch, sizeof epoch1);
	store_close(&st);
	CHECK_EQ_INT(schema_open(&st, tmpdir, 16u << 20, 0), 0);
	CHECK(st.restored == 0);
	CHECK(memcmp(st.epoch, epoch1, sizeof epoch1) == 0);
	store_close(&st);

	char path[600];
	snprintf(path, sizeof path, "%s/data.mdb", tmpdir);
	unlink(path);
	snprintf(path, sizeof path, "%s/lock.mdb", tmpdir);
	unlink(path);
	rmdir(tmpdir);
}

int main(void)
{
	printf("test_casus_record\n");
	test_casus_record();
	printf("test_message_and_member_records\n");
	test_message_and_member_records();
	printf("test_version_and_audit_records\n");
	test_version_and_audit_records();
	printf("test_keys\n");
	test_keys();
	printf("test_on_lmdb\n");
	test_on_lmdb();
	return check_done();
}
