/*
 * cluster_log.h: one loop turn's LMDB writes as a replayable op list: the
 * entry casusd publishes to the replicated log in cluster mode (cluster.h),
 * and the applier that replays an entry into another node's LMDB.
 *
 * Entry layout (all integers big-endian; every length is checked by the
 * reader against what is left before it is used):
 *   "CSL1"  fence:u64  count:u32
 *   count x op:  kind:u8 (1 put, 2 delete, 3 clear every database)  db:u8
 *                klen:u16 key[klen]  (put only:) vlen:u32 val[vlen]
 * The fence is the writer's lease revision (its fencing number): an applier
 * refuses an entry whose fence is lower than the highest it has applied.
 *
 * A snapshot entry is only a header, "CSS1" fence:u64 count:u32 = 0: "take a
 * snapshot of the writer's store (cluster_snap.h) instead of applying me".
 * The first writer of an empty stream publishes one as entry 1 when its store
 * does not fit in one NATS message.
 *
 * docs/SCALING.md "Cluster mode" describes the whole design.
 */
#ifndef CASUSD_CLUSTER_LOG_H
#define CASUSD_CLUSTER_LOG_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#define CLOG_HDR 16
#define CLOG_KEY_MAX 511 /* LMDB's default maximum key size */
#define CLOG_OP_PUT 1
#define CLOG_OP_DEL 2
#define CLOG_OP_CLEAR 3

/* Meta keys of the node itself (never in the log): the stream sequence this
 * store has applied and the highest fence it has applied. */
#define CLOG_META_SEQ "cluster.seq"
#define CLOG_META_FENCE "cluster.fence"

/* Databases are named by their index (store.h's enum store_db); the reader
 * is told how many there are. This header does not include store.h (store.c
 * includes this one). */
struct clog_ops {
	uint8_t *p; /* CLOG_HDR bytes of room for the header, then the ops */
	size_t len, cap, mark;
	uint32_t n, nmark;
};

void clog_ops_init(struct clog_ops *o);
void clog_ops_free(struct clog_ops *o);
void clog_ops_reset(struct clog_ops *o);
void clog_ops_mark(struct clog_ops *o);   /* a request begins */
void clog_ops_rewind(struct clog_ops *o); /* the request's writes were dropped */
int clog_ops_put(struct clog_ops *o, unsigned db, const void *k, size_t kl, const void *v, size_t vl);
int clog_ops_del(struct clog_ops *o, unsigned db, const void *k, size_t kl);
int clog_ops_clear(struct clog_ops *o);
/* Write the header (fence, count) in place; the entry is o->p, o->len bytes. */
void clog_ops_seal(struct clog_ops *o, uint64_t fence);
/* A snapshot entry (CLOG_HDR bytes) into out. */
void clog_snapshot_entry(uint8_t out[CLOG_HDR], uint64_t fence);

/* Check an entry's layout completely without applying it (ndb databases). 0 or -1. */
int clog_entry_check(const uint8_t *p, size_t n, unsigned ndb, uint64_t *fence, uint32_t *count);

/* The applied sequence and fence of a store (0 when absent). */
int clog_meta_get(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t *v);
int clog_meta_put(MDB_txn *txn, MDB_dbi meta, const char *name, uint64_t v);

enum clog_apply_result {
	CLOG_APPLIED = 0,
	CLOG_FENCED = 1,
	CLOG_SNAPSHOT = 2, /* a snapshot entry: nothing written; fetch a snapshot holding seq */
	CLOG_BAD = -1,
	CLOG_DBERR = -2
};
/* Apply the entry of stream sequence seq in txn, exactly once: an entry at
 * or below the store's applied sequence is skipped (CLOG_APPLIED), an entry
 * after a gap is an error (CLOG_BAD), an entry with a fence below the highest
 * applied one is refused (CLOG_FENCED: the sequence still advances, nothing
 * else is written). The applied sequence is written in the same txn. */
int clog_apply(MDB_txn *txn, const MDB_dbi *dbi, unsigned ndb, MDB_dbi meta, uint64_t seq, const uint8_t *p, size_t n);
/* The LMDB code behind the last CLOG_DBERR (e.g. MDB_MAP_FULL: grow the map and
 * apply the batch again), -1 for a layout error inside a write. */
int clog_last_dberr(void);

/* ---- snapshots (cluster_snap.h: transfer over NATS) ---------------------------
 * A snapshot is a compact copy of the writer's LMDB data file (`casusd
 * backup`), sent in pieces of at most CSNAP_PIECE_MAX bytes, one NATS
 * request/reply per piece. The offer names it with a random id and gives
 * its length and its BLAKE2b-256 digest (libsodium's generic hash); each
 * piece's reply is
 *   "CSP1"  id[16]  offset:u64  len:u32  data[len]
 * and is taken only when the id, the offset asked for and the length that
 * is left (min(piece size, size - offset)) all match. The whole file is then
 * hashed again from the disk and must match the offer's digest. */
#define CSNAP_ID 16
#define CSNAP_DIGEST 32
#define CSNAP_PIECE_HDR (4 + CSNAP_ID + 8 + 4)
#define CSNAP_PIECE_MAX ((size_t)1 << 20) /* 1 MiB: well below NATS's max_payload (1 MB default, 8 MB advised) */

/* The length of a piece that starts at off in a snapshot of total bytes cut
 * in pieces of piece bytes (0 past the end). */
size_t csnap_piece_len(uint64_t total, size_t piece, uint64_t off);
/* Write a piece reply into out (cap bytes). Its length, or 0 if it does not fit. */
size_t csnap_piece_encode(uint8_t *out, size_t cap, const uint8_t id[CSNAP_ID], uint64_t off, const uint8_t *data,
                          size_t n);
/* Check a piece reply against what was asked: 0 and the data, or -1 (wrong
 * magic, id, offset, length, or a truncated or overlong reply). */
int csnap_piece_check(const uint8_t *p, size_t n, const uint8_t id[CSNAP_ID], uint64_t off, uint64_t total,
                      size_t piece, const uint8_t **data, size_t *dn);
/* The BLAKE2b-256 digest and length of a file. 0 or an errno value. */
int csnap_file_digest(const char *path, uint8_t digest[CSNAP_DIGEST], uint64_t *size);
/* 0 if the file is exactly size bytes with this digest, else -1 (why says what differs). */
int csnap_file_check(const char *path, uint64_t size, const uint8_t digest[CSNAP_DIGEST], char *why, size_t wl);

#endif
