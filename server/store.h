/*
 * store.h: casusd's LMDB store: one environment, named databases, group commit.
 *
 * The event loop runs one write transaction per loop turn: the first request
 * of a turn that touches the store begins it (store_txn), each request works
 * in a nested child transaction (store_req_begin/end) so that a failed request
 * leaves no trace, and after the turn store_commit() makes everything durable
 * in one fsync. Only then are acks and pushes released (dispatch_turn_end, dispatch.c), so an
 * acknowledged request is always on disk.
 *
 * The databases, their keys and records: schema.h and docs/STORAGE.md.
 */
#ifndef CASUSD_STORE_H
#define CASUSD_STORE_H

#include "histo.h"

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

enum store_db {
	DB_META = 0,
	DB_CERTS,
	DB_USERS,
	DB_CASUS,
	DB_COMMITS,
	DB_MESSAGES,
	DB_MSGIDS,
	DB_MEMBERS,
	DB_GRANTS,
	DB_NOTICES,
	DB_AUDIT,
	DB_AUDITCP,
	DB__COUNT
};

struct store {
	MDB_env *env;
	MDB_dbi dbi[DB__COUNT];
	MDB_txn *txn; /* the loop turn's write transaction, or NULL */
	MDB_txn *req; /* the current request's child transaction, or NULL */
	size_t mapsize;
	int failed;               /* the turn's transaction hit an error: abort at commit */
	uint64_t commits;         /* durable commits so far (metrics) */
	uint64_t commit_ns;       /* time spent in commits (metrics) */
	int last_rc;              /* result of the newest real commit: 0, or the LMDB error (health) */
	int fail_rc;              /* the error of the newest failed commit (health) */
	uint64_t fail_ns;         /* clock_mono_ns of the newest failed commit, 0 if none (health) */
	uint8_t epoch[16];        /* the store epoch (schema.h), set by schema_open */
	int restored;             /* schema_open renewed the epoch after a restore */
	struct histo commit_hist; /* duration of each mdb_txn_commit, its fsync included (metrics) */
	/* Cluster mode only (cluster.h; NULL/0 on a single node): the turn's
	 * writes as a replayable op list, and the hook that publishes them to
	 * the replicated log before the LMDB commit. */
	struct clog_ops *oplog;
	int (*pre_commit)(struct store *st, void *arg);
	/* ...and the one that hears that the LMDB commit failed after it (the
	 * log has the turn, this store does not) */
	void (*commit_failed)(struct store *st, int rc, void *arg);
	void *pre_commit_arg;
};

/* Open (creating if needed) the store in dir. Runs mdb_reader_check. It
 * does not look at the format version: casusd opens through schema_open
 * (schema.h), which does. */
int store_open(struct store *st, const char *dir, size_t mapsize, int readonly);
void store_close(struct store *st);

/* The current turn's write transaction, begun on first use. NULL on error. */
MDB_txn *store_txn(struct store *st);
/* Begin / end one request's child transaction. ok=1 keeps its writes. */
int store_req_begin(struct store *st);
int store_req_end(struct store *st, int ok);
/* The transaction a handler reads and writes through: the child if one is open. */
MDB_txn *store_cur(struct store *st);

/* Commit the turn. 0 on success (durable), else an LMDB error code; on
 * MDB_MAP_FULL the map is grown so the retried requests will fit. */
int store_commit(struct store *st);
void store_abort(struct store *st);

/* Convenience wrappers on the current transaction. */
int store_put(struct store *st, enum store_db db, const void *k, size_t kl, const void *v, size_t vl, unsigned flags);
/* *v points into the map: valid only until the transaction ends. */
int store_get(struct store *st, enum store_db db, const void *k, size_t kl, MDB_val *v);
int store_del(struct store *st, enum store_db db, const void *k, size_t kl);

/* Cluster mode: note a delete made through an LMDB cursor (the store_del of
 * a cursor walk), so that the replicated log carries it. No-op otherwise. */
void store_note_del(struct store *st, enum store_db db, const void *k, size_t kl);

/* Read-only snapshot for backup and tools. */
int store_backup(const char *dir, const char *out_dir);

void store_be64(uint8_t out[8], uint64_t v);
uint64_t store_rd64(const uint8_t in[8]);

#endif
