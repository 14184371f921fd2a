/*
 * test_cluster_snap.c: the checks a follower makes on a snapshot it fetches
 * (server/cluster_log.h "snapshots"), without NATS: a piece is taken only
 * with the id, offset and length asked for, so a truncated, overlong,
 * shifted, flipped or foreign piece is refused; the whole file must have
 * the offer's length and BLAKE2b-256 digest, so a truncated, extended or
 * corrupted file, or one put together from two snapshots, is refused.
 */
#include "check.h"

#include <cluster_log.h>
#include <store.h>

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int make_dir(char *out, size_t cap)
{
	const char *b = getenv("CASUS_TEST_TMP");
	if (!b || !*b)
		b = "/tmp";
	if (mkdir(b, 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(out, cap, "%s/csnap-XXXXXX", b);
	return mkdtemp(out) ? 0 : -1;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	size_t w = fwrite(p, 1, n, f);
	return fclose(f) == 0 && w == n ? 0 : -1;
}

#define PIECE 1000
#define TOTAL 2500 /* pieces of 1000, 1000, 500 */

static void test_piece_len(void)
{
	CHECK_EQ_INT(csnap_piece_len(TOTAL, PIECE, 0), PIECE);
	CHECK_EQ_INT(csnap_piece_len(TOTAL, PIECE, 1000), PIECE);
	CHECK_EQ_INT(csnap_piece_len(TOTAL, PIECE, 2000), 500);
	CHECK_EQ_INT(csnap_piece_len(TOTAL, PIECE, 2500), 0);
	CHECK_EQ_INT(csnap_piece_len(TOTAL, PIECE, 9999), 0);
	CHECK_EQ_INT(csnap_piece_len(0, PIECE, 0), 0);
}

static void test_piece_check(void)
{
	uint8_t id[CSNAP_ID], other[CSNAP_ID], data[PIECE], buf[CSNAP_PIECE_HDR + PIECE + 8];
	randombytes_buf(id, sizeof id);
	memcpy(other, id, sizeof other);
	other[CSNAP_ID - 1] ^= 1;
	randombytes_buf(data, sizeof data);
	const uint8_t *got = NULL;
	size_t gn = 0;

	/* the good piece, at each offset */
	size_t n = csnap_piece_encode(buf, sizeof buf, id, 1000, data, PIECE);
	CHECK_EQ_INT(n, CSNAP_PIECE_HDR + PIECE);
	CHECK_EQ_INT(csnap_piece_check(buf, n, id, 1000, TOTAL, PIECE, &got, &gn), 0);
	CHECK_EQ_INT(gn, PIECE);
	CHECK(got && memcmp(got, data, PIECE) == 0);
	size_t last = csnap_piece_encode(buf, sizeof buf, id, 2000, data, 500);
	CHECK_EQ_INT(csnap_piece_check(buf, last, id, 2000, TOTAL, PIECE, &got, &gn), 0);
	CHECK_EQ_INT(gn, 500);

	/* truncated anywhere: refused */
	n = csnap_piece_encode(buf, sizeof buf, id, 1000, data, PIECE);
	for (size_t cut = 0; cut < n; cut += (cut < CSNAP_PIECE_HDR + 2 ? 1 : 97)) {
		CHECK_EQ_INT(csnap_piece_check(buf, cut, id, 1000, TOTAL, PIECE, &got, &gn), -1);
		CHECK(got == NULL && gn == 0);
	}
	/* one byte too many */
	buf[n] = 0;
	CHECK_EQ_INT(csnap_piece_check(buf, n + 1, id, 1000, TOTAL, PIECE, &got, &gn), -1);
	/* a short piece that says it is short (not the length that is left) */
	size_t sh = csnap_piece_encode(buf, sizeof buf, id, 1000, data, 999);
	CHECK_EQ_INT(csnap_piece_check(buf, sh, id, 1000, TOTAL, PIECE, &got, &gn), -1);
	/* another snapshot's piece (mixing), another offset, past the end */
	n = csnap_piece_encode(buf, sizeof buf, other, 1000, data, PIECE);
	CHECK_EQ_INT(csnap_piece_check(buf, n, id, 1000, TOTAL, PIECE, &got, &gn), -1);
	n = csnap_piece_encode(buf, sizeof buf, id, 0, data, PIECE);
	CHECK_EQ_INT(csnap_piece_check(buf, n, id, 1000, TOTAL, PIECE, &got, &gn), -1);
	n = csnap_piece_encode(buf, sizeof buf, id, 2500, data, 0);
	CHECK_EQ_INT(csnap_piece_check(buf, n, id, 2500, TOTAL, PIECE, &got, &gn), -1);
	/* every header byte flipped: refused (the data is the digest's business) */
	n = csnap_piece_encode(buf, sizeof buf, id, 1000, data, PIECE);
	for (size_t i = 0; i < CSNAP_PIECE_HDR; i++) {
		buf[i] ^= 0x20;
		CHECK_EQ_INT(csnap_piece_check(buf, n, id, 1000, TOTAL, PIECE, &got, &gn), -1);
		buf[i] ^= 0x20;
	}
	CHECK_EQ_INT(csnap_piece_check(buf, n, id, 1000, TOTAL, PIECE, &got, &gn), 0);
	/* an encode that does not fit */
	CHECK_EQ_INT(csnap_piece_encode(buf, CSNAP_PIECE_HDR + 10, id, 0, data, 11), 0);
}

static void test_file_check(void)
{
	char dir[512], path[600], why[300];
	CHECK_EQ_INT(make_dir(dir, sizeof dir), 0);
	snprintf(path, sizeof path, "%s/data.mdb", dir);
	static uint8_t a[300000], b[300000];
	randombytes_buf(a, sizeof a);
	randombytes_buf(b, sizeof b);
	uint8_t da[CSNAP_DIGEST], db[CSNAP_DIGEST], want[CSNAP_DIGEST];
	uint64_t size = 0;
	crypto_generichash(want, sizeof want, a, sizeof a, NULL, 0);

	CHECK_EQ_INT(write_file(path, a, sizeof a), 0);
	CHECK_EQ_INT(csnap_file_digest(path, da, &size), 0);
	CHECK_EQ_INT(size, sizeof a);
	CHECK_MEM(da, want, CSNAP_DIGEST);
	CHECK_EQ_INT(csnap_file_check(path, sizeof a, da, why, sizeof why), 0);

	/* truncated by one byte, or by one piece */
	CHECK_EQ_INT(write_file(path, a, sizeof a - 1), 0);
	CHECK_EQ_INT(csnap_file_check(path, sizeof a, da, why, sizeof why), -1);
	CHECK(strstr(why, "bytes") != NULL);
	CHECK_EQ_INT(write_file(path, a, sizeof a - 65536), 0);
	CHECK_EQ_INT(csnap_file_check(path, sizeof a, da, why, sizeof why), -1);
	/* one bit flipped in the middle */
	a[150000] ^= 1;
	CHECK_EQ_INT(write_file(path, a, sizeof a), 0);
	CHECK_EQ_INT(csnap_file_check(path, sizeof a, da, why, sizeof why), -1);
	CHECK(strstr(why, "digest") != NULL);
	a[150000] ^= 1;
	/* the first half of one snapshot and the second half of another */
	CHECK_EQ_INT(write_file(path, b, sizeof b), 0);
	CHECK_EQ_INT(csnap_file_digest(path, db, &size), 0);
	static uint8_t mix[300000];
	memcpy(mix, a, sizeof mix / 2);
	memcpy(mix + sizeof mix / 2, b + sizeof mix / 2, sizeof mix / 2);
	CHECK_EQ_INT(write_file(path, mix, sizeof mix), 0);
	CHECK_EQ_INT(csnap_file_check(path, sizeof a, da, why, sizeof why), -1);
	CHECK_EQ_INT(csnap_file_check(path, sizeof b, db, why, sizeof why), -1);
	/* missing */
	unlink(path);
	CHECK_EQ_INT(csnap_file_check(path, sizeof a, da, why, sizeof why), -1);
	CHECK(strstr(why, "cannot read") != NULL);
	rmdir(dir);
}

/* A snapshot entry writes nothing and says so; a malformed one is refused. */
static void test_snapshot_entry(void)
{
	char dir[512];
	struct store st;
	CHECK_EQ_INT(make_dir(dir, sizeof dir), 0);
	CHECK_EQ_INT(store_open(&st, dir, 1u << 20, 0), 0);
	uint8_t e[CLOG_HDR + 1];
	clog_snapshot_entry(e, 7);
	MDB_txn *txn = NULL;
	CHECK_EQ_INT(mdb_txn_begin(st.env, NULL, 0, &txn), 0);
	CHECK_EQ_INT(clog_apply(txn, st.dbi, DB__COUNT, st.dbi[DB_META], 1, e, CLOG_HDR), CLOG_SNAPSHOT);
	uint64_t seq = 99;
	CHECK_EQ_INT(clog_meta_get(txn, st.dbi[DB_META], CLOG_META_SEQ, &seq), 0);
	CHECK_EQ_INT(seq, 0); /* nothing applied: the snapshot brings the sequence */
	CHECK_EQ_INT(clog_apply(txn, st.dbi, DB__COUNT, st.dbi[DB_META], 2, e, CLOG_HDR), CLOG_BAD); /* a gap */
	e[CLOG_HDR] = 0;
	CHECK_EQ_INT(clog_apply(txn, st.dbi, DB__COUNT, st.dbi[DB_META], 1, e, CLOG_HDR + 1), CLOG_BAD);
	CHECK_EQ_INT(clog_apply(txn, st.dbi, DB__COUNT, st.dbi[DB_META], 1, e, CLOG_HDR - 1), CLOG_BAD);
	e[15] = 1; /* a count */
	CHECK_EQ_INT(clog_apply(txn, st.dbi, DB__COUNT, st.dbi[DB_META], 1, e, CLOG_HDR), CLOG_BAD);
	mdb_txn_abort(txn);
	store_close(&st);
	char p[600];
	snprintf(p, sizeof p, "%s/data.mdb", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/lock.mdb", dir);
	unlink(p);
	rmdir(dir);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	CHECK_RUN(test_piece_len);
	CHECK_RUN(test_piece_check);
	CHECK_RUN(test_file_check);
	CHECK_RUN(test_snapshot_entry);
	return check_done();
}
