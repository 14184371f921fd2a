/*
 * test_cluster_log.c: the replicated log's entries (server/cluster_log.h)
 * without NATS: a writer store records its turn's writes through the normal
 * store calls (a refused request leaves no op), the entry replays into a
 * second store to the same bytes, exactly once, in order; entries with a
 * lower fence are refused; malformed and truncated entries are refused
 * without a write.
 */
#include "check.h"

#include <cluster_log.h>
#include <store.h>

#include <errno.h>
#include <lmdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Where needle occurs in hay, or NULL (memmem is a GNU extension). */
static const void *has(const uint8_t *hay, size_t n, const char *needle, size_t m)
{
	for (size_t i = 0; m && i + m <= n; i++)
		if (memcmp(hay + i, needle, m) == 0)
			return hay + i;
	return NULL;
}

static int make_dir(char *out, size_t cap, const char *name)
{
	const char *b = getenv("CASUS_TEST_TMP");
	if (!b || !*b)
		b = "/tmp";
	if (mkdir(b, 0700) != 0 && errno != EEXIST)
		return -1;
	snprintf(out, cap, "%s/clog-%s-XXXXXX", b, name);
	return mkdtemp(out) ? 0 : -1;
}

/* Everything in a store's databases, as one byte string (cluster.* meta left out). */
static size_t dump(struct store *st, uint8_t *out, size_t cap)
{
	MDB_txn *txn = NULL;
	size_t n = 0;
	if (mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn) != 0)
		return 0;
	for (int d = 0; d < DB__COUNT; d++) {
		MDB_cursor *c = NULL;
		MDB_val k, v;
		mdb_cursor_open(txn, st->dbi[d], &c);
		for (int r = mdb_cursor_get(c, &k, &v, MDB_FIRST); r == 0; r = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
			if (d == DB_META && k.mv_size >= 8 && memcmp(k.mv_data, "cluster.", 8) == 0)
				continue;
			if (n + k.mv_size + v.mv_size + 2 > cap)
				break;
			out[n++] = (uint8_t)d;
			memcpy(out + n, k.mv_data, k.mv_size);
			n += k.mv_size;
			out[n++] = '=';
			memcpy(out + n, v.mv_data, v.mv_size);
			n += v.mv_size;
		}
		mdb_cursor_close(c);
	}
	mdb_txn_abort(txn);
	return n;
}

static int apply(struct store *st, uint64_t seq, const uint8_t *p, size_t n)
{
	MDB_txn *txn = NULL;
	if (mdb_txn_begin(st->env, NULL, 0, &txn) != 0)
		return -100;
	int r = clog_apply(txn, st->dbi, DB__COUNT, st->dbi[DB_META], seq, p, n);
	if (r == CLOG_APPLIED || r == CLOG_FENCED)
		mdb_txn_commit(txn);
	else
		mdb_txn_abort(txn);
	return r;
}

static uint64_t applied_seq(struct store *st)
{
	MDB_txn *txn = NULL;
	uint64_t v = 0;
	mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
	clog_meta_get(txn, st->dbi[DB_META], CLOG_META_SEQ, &v);
	mdb_txn_abort(txn);
	return v;
}

/* Capture what a store_commit would publish: the hook copies the sealed entry. */
struct captured {
	uint8_t *p;
	size_t n;
	uint64_t fence;
};

static int capture(struct store *st, void *arg)
{
	struct captured *c = arg;
	free(c->p);
	c->p = NULL;
	c->n = 0;
	if (st->oplog->n == 0)
		return 0;
	clog_ops_seal(st->oplog, c->fence);
	c->p = malloc(st->oplog->len);
	memcpy(c->p, st->oplog->p, st->oplog->len);
	c->n = st->oplog->len;
	return 0;
}

static void test_replay(void)
{
	char wdir[600], fdir[600];
	struct store w, f;
	struct clog_ops ops;
	struct captured cap = {NULL, 0, 7};
	CHECK_EQ_INT(make_dir(wdir, sizeof wdir, "w"), 0);
	CHECK_EQ_INT(make_dir(fdir, sizeof fdir, "f"), 0);
	CHECK_EQ_INT(store_open(&w, wdir, 16u << 20, 0), 0);
	CHECK_EQ_INT(store_open(&f, fdir, 16u << 20, 0), 0);
	clog_ops_init(&ops);
	w.oplog = &ops;
	w.pre_commit = capture;
	w.pre_commit_arg = &cap;

	/* turn 1: two requests, the second refused (its write must not travel) */
	CHECK_EQ_INT(store_req_begin(&w), 0);
	CHECK_EQ_INT(store_put(&w, DB_MESSAGES, "k1", 2, "v1", 2, 0), 0);
	CHECK_EQ_INT(store_put(&w, DB_USERS, "u1", 2, "alice", 5, 0), 0);
	CHECK_EQ_INT(store_req_end(&w, 1), 0);
	CHECK_EQ_INT(store_req_begin(&w), 0);
	CHECK_EQ_INT(store_put(&w, DB_MESSAGES, "kX", 2, "refused", 7, 0), 0);
	CHECK_EQ_INT(store_req_end(&w, 0), 0);
	/* a put refused by LMDB (NOOVERWRITE on an existing key) is no op either */
	CHECK_EQ_INT(store_put(&w, DB_USERS, "u1", 2, "mallory", 7, MDB_NOOVERWRITE), MDB_KEYEXIST);
	CHECK_EQ_INT(store_commit(&w), 0);
	CHECK(cap.p != NULL);
	uint64_t fence = 0;
	uint32_t count = 0;
	CHECK_EQ_INT(clog_entry_check(cap.p, cap.n, DB__COUNT, &fence, &count), 0);
	CHECK_EQ_INT(fence, 7);
	CHECK_EQ_INT(count, 2);
	uint8_t *e1 = cap.p;
	size_t n1 = cap.n;
	cap.p = NULL;

	/* turn 2: a delete and an overwrite */
	CHECK_EQ_INT(store_req_begin(&w), 0);
	CHECK_EQ_INT(store_del(&w, DB_MESSAGES, "k1", 2), 0);
	CHECK_EQ_INT(store_put(&w, DB_USERS, "u1", 2, "alice2", 6, 0), 0);
	CHECK_EQ_INT(store_put(&w, DB_META, "m", 1, "x", 1, 0), 0);
	CHECK_EQ_INT(store_req_end(&w, 1), 0);
	CHECK_EQ_INT(store_commit(&w), 0);
	uint8_t *e2 = cap.p;
	size_t n2 = cap.n;
	cap.p = NULL;
	CHECK(e2 != NULL);

	/* out of order: entry 2 before entry 1 is refused, nothing written */
	CHECK_EQ_INT(apply(&f, 2, e2, n2), CLOG_BAD);
	CHECK_EQ_INT(applied_seq(&f), 0);
	CHECK_EQ_INT(apply(&f, 1, e1, n1), CLOG_APPLIED);
	CHECK_EQ_INT(apply(&f, 1, e1, n1), CLOG_APPLIED); /* again: skipped, exactly once */
	CHECK_EQ_INT(applied_seq(&f), 1);
	CHECK_EQ_INT(apply(&f, 2, e2, n2), CLOG_APPLIED);
	CHECK_EQ_INT(applied_seq(&f), 2);

	static uint8_t dw[1 << 16], df[1 << 16];
	size_t lw = dump(&w, dw, sizeof dw), lf = dump(&f, df, sizeof df);
	CHECK(lw > 0);
	CHECK_EQ_INT(lw, lf);
	CHECK(lw == lf && memcmp(dw, df, lw) == 0);
	CHECK(has(dw, lw, "refused", 7) == NULL);
	CHECK(has(dw, lw, "mallory", 7) == NULL);

	/* a deposed writer's late entry (lower fence) is refused; the sequence moves on */
	struct clog_ops late;
	clog_ops_init(&late);
	CHECK_EQ_INT(clog_ops_put(&late, DB_USERS, "u1", 2, "stale", 5), 0);
	clog_ops_seal(&late, 3);
	CHECK_EQ_INT(apply(&f, 3, late.p, late.len), CLOG_FENCED);
	CHECK_EQ_INT(applied_seq(&f), 3);
	lf = dump(&f, df, sizeof df);
	CHECK(has(df, lf, "stale", 5) == NULL);
	/* the same writer's next entry (equal fence) applies */
	clog_ops_reset(&late);
	CHECK_EQ_INT(clog_ops_put(&late, DB_USERS, "u2", 2, "bob", 3), 0);
	clog_ops_seal(&late, 7);
	CHECK_EQ_INT(apply(&f, 4, late.p, late.len), CLOG_APPLIED);

	/* a clear entry (the first entry of a stream) replaces everything */
	clog_ops_reset(&late);
	CHECK_EQ_INT(clog_ops_clear(&late), 0);
	CHECK_EQ_INT(clog_ops_put(&late, DB_CERTS, "c", 1, "cert", 4), 0);
	clog_ops_seal(&late, 9);
	CHECK_EQ_INT(apply(&f, 5, late.p, late.len), CLOG_APPLIED);
	CHECK_EQ_INT(applied_seq(&f), 5);
	lf = dump(&f, df, sizeof df);
	CHECK(has(df, lf, "alice", 5) == NULL);
	CHECK(has(df, lf, "cert", 4) != NULL);

	clog_ops_free(&late);
	free(e1);
	free(e2);
	free(cap.p);
	w.oplog = NULL;
	clog_ops_free(&ops);
	store_close(&w);
	store_close(&f);
}

static void test_malformed(void)
{
	char dir[600];
	struct store f;
	CHECK_EQ_INT(make_dir(dir, sizeof dir, "bad"), 0);
	CHECK_EQ_INT(store_open(&f, dir, 16u << 20, 0), 0);
	struct clog_ops o;
	clog_ops_init(&o);
	CHECK_EQ_INT(clog_ops_put(&o, DB_USERS, "key", 3, "value", 5), 0);
	CHECK_EQ_INT(clog_ops_del(&o, DB_USERS, "old", 3), 0);
	clog_ops_seal(&o, 1);
	uint64_t fence;
	uint32_t count;
	CHECK_EQ_INT(clog_entry_check(o.p, o.len, DB__COUNT, &fence, &count), 0);
	/* every truncation is refused */
	int refused = 1;
	for (size_t n = 0; n < o.len; n++)
		refused &= clog_entry_check(o.p, n, DB__COUNT, &fence, &count) != 0;
	CHECK(refused);
	/* trailing bytes, a count too high, a bad database, a bad kind, a bad magic */
	uint8_t buf[256];
	memcpy(buf, o.p, o.len);
	buf[o.len] = 0;
	CHECK(clog_entry_check(buf, o.len + 1, DB__COUNT, &fence, &count) != 0);
	memcpy(buf, o.p, o.len);
	buf[15] = 3;
	CHECK(clog_entry_check(buf, o.len, DB__COUNT, &fence, &count) != 0);
	memcpy(buf, o.p, o.len);
	buf[CLOG_HDR + 1] = DB__COUNT;
	CHECK(clog_entry_check(buf, o.len, DB__COUNT, &fence, &count) != 0);
	memcpy(buf, o.p, o.len);
	buf[CLOG_HDR] = 9;
	CHECK(clog_entry_check(buf, o.len, DB__COUNT, &fence, &count) != 0);
	memcpy(buf, o.p, o.len);
	buf[0] = 'X';
	CHECK(clog_entry_check(buf, o.len, DB__COUNT, &fence, &count) != 0);
	/* a value length beyond the end */
	memcpy(buf, o.p, o.len);
	buf[CLOG_HDR + 4 + 3] = 0xff;
	CHECK(clog_entry_check(buf, o.len, DB__COUNT, &fence, &count) != 0);
	/* a malformed entry is not applied and does not move the sequence */
	CHECK_EQ_INT(apply(&f, 1, buf, o.len), CLOG_BAD);
	CHECK_EQ_INT(applied_seq(&f), 0);
	CHECK_EQ_INT(apply(&f, 1, o.p, o.len), CLOG_APPLIED);
	CHECK_EQ_INT(applied_seq(&f), 1);
	/* keys LMDB cannot hold are refused when recorded */
	static uint8_t big[CLOG_KEY_MAX + 1];
	CHECK(clog_ops_put(&o, DB_USERS, big, sizeof big, "v", 1) != 0);
	CHECK(clog_ops_put(&o, 256, "k", 1, "v", 1) != 0);
	clog_ops_free(&o);
	store_close(&f);
}

/* A follower whose map is smaller than an entry: the apply fails with
 * MDB_MAP_FULL behind CLOG_DBERR (so cluster.c grows the map and applies the
 * batch again, review finding), nothing is written, and after growing the map
 * the same entry applies. */
static void test_map_full(void)
{
	char fdir[600];
	struct store f;
	struct clog_ops o;
	CHECK_EQ_INT(make_dir(fdir, sizeof fdir, "full"), 0);
	CHECK_EQ_INT(store_open(&f, fdir, 256u << 10, 0), 0);
	clog_ops_init(&o);
	static uint8_t val[200000];
	memset(val, 'v', sizeof val);
	for (int i = 0; i < 8; i++) {
		char key[8];
		snprintf(key, sizeof key, "big%d", i);
		CHECK_EQ_INT(clog_ops_put(&o, DB_MESSAGES, key, strlen(key), val, sizeof val), 0);
	}
	clog_ops_seal(&o, 1);
	CHECK_EQ_INT(apply(&f, 1, o.p, o.len), CLOG_DBERR);
	CHECK_EQ_INT(clog_last_dberr(), MDB_MAP_FULL);
	CHECK_EQ_INT(applied_seq(&f), 0);
	CHECK_EQ_INT(mdb_env_set_mapsize(f.env, 16u << 20), 0);
	CHECK_EQ_INT(apply(&f, 1, o.p, o.len), CLOG_APPLIED);
	CHECK_EQ_INT(clog_last_dberr(), 0);
	CHECK_EQ_INT(applied_seq(&f), 1);
	clog_ops_free(&o);
	store_close(&f);
}

int main(void)
{
	CHECK_RUN(test_map_full);

	CHECK_RUN(test_replay);
	CHECK_RUN(test_malformed);
	return check_done();
}
