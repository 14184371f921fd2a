/*
 * cluster_log.c: the replayable op list of a turn and its applier (see
 * cluster_log.h). No NATS here: the unit test drives it on a plain LMDB.
 */
#include "cluster_log.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void clog_ops_init(struct clog_ops *o)
{
	memset(o, 0, sizeof *o);
	o->len = o->mark = CLOG_HDR;
}

void clog_ops_free(struct clog_ops *o)
{
	free(o->p);
	memset(o, 0, sizeof *o);
}

void clog_ops_reset(struct clog_ops *o)
{
	o->len = o->mark = CLOG_HDR;
	o->n = o->nmark = 0;
}

void clog_ops_mark(struct clog_ops *o)
{
	o->mark = o->len;
	o->nmark = o->n;
}

void clog_ops_rewind(struct clog_ops *o)
{
	o->len = o->mark;
	o->n = o->nmark;
}

static int room(struct clog_ops *o, size_t more)
{
	if (o->len < CLOG_HDR)
		o->len = CLOG_HDR;
	if (more > SIZE_MAX / 2 - o->len)
		return -1;
	if (o->len + more <= o->cap)
		return 0;
	size_t cap = o->cap ? o->cap : 4096;
	while (cap < o->len + more)
		cap *= 2;
	uint8_t *p = realloc(o->p, cap);
	if (!p)
		return -1;
	o->p = p;
	o->cap = cap;
	return 0;
}

static void be(uint8_t *out, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		out[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

static uint64_t rd(const uint8_t *in, int bytes)
{
	uint64_t v = 0;
	for (int i = 0; i < bytes; i++)
		v = (v << 8) | in[i];
	return v;
}

static int add(struct clog_ops *o, int kind, unsigned db, const void *k, size_t kl, const void *v, size_t vl)
{
	if (db > 255 || kl > CLOG_KEY_MAX || vl > UINT32_MAX || o->n == UINT32_MAX)
		return -1;
	if (room(o, 4 + kl + (kind == CLOG_OP_PUT ? 4 + vl : 0)) != 0)
		return -1;
	uint8_t *w = o->p + o->len;
	w[0] = (uint8_t)kind;
	w[1] = (uint8_t)db;
	be(w + 2, kl, 2);
	if (kl)
		memcpy(w + 4, k, kl);
	w += 4 + kl;
	if (kind == CLOG_OP_PUT) {
		be(w, vl, 4);
		if (vl)
			memcpy(w + 4, v, vl);
		w += 4 + vl;
	}
	o->len = (size_t)(w - o->p);
	o->n++;
	return 0;
}

int clog_ops_put(struct clog_ops *o, unsigned db, const void *k, size_t kl, const void *v, size_t vl)
{
	return add(o, CLOG_OP_PUT, db, k, kl, v, vl);
}

int clog_ops_del(struct clog_ops *o, unsigned db, const void *k, size_t kl)
{
	return add(o, CLOG_OP_DEL, db, k, kl, NULL, 0);
}

int clog_ops_clear(struct clog_ops *o)
{
	return add(o, CLOG_OP_CLEAR, 0, NULL, 0, NULL, 0);
}

void clog_ops_seal(struct clog_ops *o, uint64_t fence)
{
	if (room(o, 0) != 0)
		return;
	memcpy(o->p, "CSL1", 4);
	be(o->p + 4, fence, 8);
	be(o->p + 12, o->n, 4);
}

void clog_snapshot_entry(uint8_t out[CLOG_HDR], uint64_t fence)
{
	memcpy(out, "CSS1", 4);
	be(out + 4, fence, 8);
	be(out + 12, 0, 4);
}

/* Walk the ops; with txn != NULL apply them. 0 or -1 (layout) / LMDB error. */
static int walk(const uint8_t *p, size_t n, unsigned ndb, MDB_txn *txn, const MDB_dbi *dbi, uint64_t *fence,
                uint32_t *count)
{
	if (n < CLOG_HDR || memcmp(p, "CSL1", 4) != 0)
		return -1;
	*fence = rd(p + 4, 8);
	*count = (uint32_t)rd(p + 12, 4);
	size_t off = CLOG_HDR;
	for (uint32_t i = 0; i < *count; i++) {
		if (n - off < 4)
			return -1;
		unsigned kind = p[off], db = p[off + 1];
		size_t kl = (size_t)rd(p + off + 2, 2);
		off += 4;
		if (db >= ndb || kl > CLOG_KEY_MAX || n - off < kl)
			return -1;
		if (kind == CLOG_OP_CLEAR && kl != 0)
			return -1;
		MDB_val k = {kl, (void *)(uintptr_t)(p + off)}, v = {0, NULL};
		off += kl;
		if (kind == CLOG_OP_PUT) {
			if (kl == 0 || n - off < 4)
				return -1;
			size_t vl = (size_t)rd(p + off, 4);
			off += 4;
			if (n - off < vl)
				return -1;
			v.mv_size = vl;
			v.mv_data = (void *)(uintptr_t)(p + off);
			off += vl;
		} else if (kind == CLOG_OP_DEL) {
			if (kl == 0)
				return -1;
		} else if (kind != CLOG_OP_CLEAR) {
			return -1;
		}
		if (!txn)
			continue;
		int rc = 0;
		if (kind == CLOG_OP_PUT)
			rc = mdb_put(txn, dbi[db], &k, &v, 0);
		else if (kind == CLOG_OP_DEL)
			rc = mdb_del(txn, dbi[db], &k, NULL);
		else
			for (unsigned d = 0; d < ndb && rc == 0; d++)
				rc = mdb_drop(txn, dbi[d], 0);
		if (rc == MDB_NOTFOUND && kind == CLOG_OP_DEL)
			rc = 0; /* deleted by an earlier op of the same entry */
		if (rc)
			return rc;
	}
	return off == n ? 0 : -1;
}

int clog_entry_check(const uint8_t *p, size_t n, unsigned ndb, uint64_t *fence, uint32_t *count)
{
	return walk(p, n, ndb, NULL, NULL, fence, count) == 0 ? 0 : -1;
}

int clog_meta_get(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t *v)
{
	MDB_val k = {strlen(name), (void *)(uintptr_t)name}, d;
	*v = 0;
	int rc = mdb_get(txn, meta, &k, &d);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc)
		return rc;
	if (d.mv_size != 8)
		return MDB_CORRUPTED;
	*v = rd(d.mv_data, 8);
	return 0;
}

int clog_meta_put(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t v)
{
	uint8_t b[8];
	be(b, v, 8);
	MDB_val k = {strlen(name), (void *)(uintptr_t)name}, d = {8, b};
	return mdb_put(txn, meta, &k, &d, 0);
}

static int last_dberr; /* the LMDB code behind the last CLOG_DBERR (one applier per process) */

int clog_last_dberr(void)
{
	return last_dberr;
}

static int apply_inner(MDB_txn *txn, const MDB_dbi *dbi, unsigned ndb, MDB_dbi meta, uint64_t seq, const uint8_t *p,
                       size_t n);

int clog_apply(MDB_txn *txn, const MDB_dbi *dbi, unsigned ndb, MDB_dbi meta, uint64_t seq, const uint8_t *p, size_t n)
{
	last_dberr = 0;
	return apply_inner(txn, dbi, ndb, meta, seq, p, n);
}

#define DBERR(rc) (last_dberr = (rc), CLOG_DBERR)

static int apply_inner(MDB_txn *txn, const MDB_dbi *dbi, unsigned ndb, MDB_dbi meta, uint64_t seq, const uint8_t *p,
                       size_t n)
{
	uint64_t applied = 0, high = 0, fence = 0;
	uint32_t count = 0;
	int rc;
	if ((rc = clog_meta_get(txn, meta, CLOG_META_SEQ, &applied)) ||
	    (rc = clog_meta_get(txn, meta, CLOG_META_FENCE, &high)))
		return DBERR(rc);
	if (seq <= applied)
		return CLOG_APPLIED; /* exactly once: already in this store */
	if (seq != applied + 1)
		return CLOG_BAD;
	if (n >= 4 && memcmp(p, "CSS1", 4) == 0) {
		/* nothing to write here: the caller takes a snapshot holding seq */
		return n == CLOG_HDR && rd(p + 12, 4) == 0 ? CLOG_SNAPSHOT : CLOG_BAD;
	}
	if (clog_entry_check(p, n, ndb, &fence, &count) != 0)
		return CLOG_BAD;
	int result = CLOG_APPLIED;
	if (fence < high) {
		result = CLOG_FENCED;
	} else {
		if ((rc = walk(p, n, ndb, txn, dbi, &fence, &count)) != 0)
			return DBERR(rc);
		/* a clear dropped the meta keys too: written again below */
		if ((rc = clog_meta_put(txn, meta, CLOG_META_FENCE, fence)))
			return DBERR(rc);
	}
	if ((rc = clog_meta_put(txn, meta, CLOG_META_SEQ, seq)))
		return DBERR(rc);
	if (result == CLOG_FENCED && high && (rc = clog_meta_put(txn, meta, CLOG_META_FENCE, high)))
		return DBERR(rc);
	return result;
}

/* ---- snapshot pieces ------------------------------------------------------------ */

size_t csnap_piece_len(uint64_t total, size_t piece, uint64_t off)
{
	if (off >= total)
		return 0;
	uint64_t left = total - off;
	return left < piece ? (size_t)left : piece;
}

size_t csnap_piece_encode(uint8_t *out, size_t cap, const uint8_t id[CSNAP_ID], uint64_t off, const uint8_t *data,
                          size_t n)
{
	if (n > UINT32_MAX || cap < CSNAP_PIECE_HDR || n > cap - CSNAP_PIECE_HDR)
		return 0;
	memcpy(out, "CSP1", 4);
	memcpy(out + 4, id, CSNAP_ID);
	be(out + 4 + CSNAP_ID, off, 8);
	be(out + 12 + CSNAP_ID, n, 4);
	if (n)
		memcpy(out + CSNAP_PIECE_HDR, data, n);
	return CSNAP_PIECE_HDR + n;
}

int csnap_piece_check(const uint8_t *p, size_t n, const uint8_t id[CSNAP_ID], uint64_t off, uint64_t total,
                      size_t piece, const uint8_t **data, size_t *dn)
{
	*data = NULL;
	*dn = 0;
	size_t want = csnap_piece_len(total, piece, off);
	if (want == 0 || n < CSNAP_PIECE_HDR || memcmp(p, "CSP1", 4) != 0)
		return -1;
	if (sodium_memcmp(p + 4, id, CSNAP_ID) != 0 || rd(p + 4 + CSNAP_ID, 8) != off)
		return -1;
	uint64_t len = rd(p + 12 + CSNAP_ID, 4);
	if (len != want || n - CSNAP_PIECE_HDR != len)
		return -1;
	*data = p + CSNAP_PIECE_HDR;
	*dn = (size_t)len;
	return 0;
}

int csnap_file_digest(const char *path, uint8_t digest[CSNAP_DIGEST], uint64_t *size)
{
	*size = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	crypto_generichash_state h;
	crypto_generichash_init(&h, NULL, 0, CSNAP_DIGEST);
	uint8_t *buf = malloc(1 << 16);
	int err = buf ? 0 : ENOMEM;
	while (!err) {
		ssize_t r = read(fd, buf, 1 << 16);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			err = errno;
		if (r <= 0)
			break;
		crypto_generichash_update(&h, buf, (unsigned long long)r);
		*size += (uint64_t)r;
	}
	free(buf);
	close(fd);
	if (!err)
		crypto_generichash_final(&h, digest, CSNAP_DIGEST);
	return err;
}

int csnap_file_check(const char *path, uint64_t size, const uint8_t digest[CSNAP_DIGEST], char *why, size_t wl)
{
	uint8_t got[CSNAP_DIGEST];
	uint64_t n = 0;
	int err = csnap_file_digest(path, got, &n);
	if (err) {
		snprintf(why, wl, "cannot read %s: %s", path, strerror(err));
		return -1;
	}
	if (n != size) {
		snprintf(why, wl, "%s has %llu bytes, the snapshot %llu", path, (unsigned long long)n,
		         (unsigned long long)size);
		return -1;
	}
	if (sodium_memcmp(got, digest, CSNAP_DIGEST) != 0) {
		snprintf(why, wl, "%s does not have the snapshot's digest", path);
		return -1;
	}
	return 0;
}
