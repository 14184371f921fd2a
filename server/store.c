/*
 * store.c: LMDB environment, named databases and group commit (see store.h).
 */
#include "store.h"
#include "clock.h"
#include "cluster_log.h"
#include "log.h"

#include <audit_db.h>

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The names of the named databases (the layout is schema.h's; the audit
 * databases' names are shared with the offline readers, audit_db.h). */
static const char *const db_names[DB__COUNT] = {
	CASUS_DB_META,
	"certs",
	"users",
	"casus",
	"commits",
	"messages",
	"msgids",
	"members",
	"grants",
	"notices",
	CASUS_DB_AUDIT_ENTRIES,
	CASUS_DB_AUDIT_CHECKPOINTS,
};

void store_be64(uint8_t out[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		out[i] = (uint8_t)(v >> (56 - 8 * i));
}

uint64_t store_rd64(const uint8_t in[8])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = (v << 8) | in[i];
	return v;
}

int store_open(struct store *st, const char *dir, size_t mapsize, int readonly)
{
	int rc;
	MDB_txn *txn = NULL;
	memset(st, 0, sizeof(*st));
	st->mapsize = mapsize;

	if (!readonly && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		log_event(LOG_ERROR, "store.mkdir", "errno=%d", errno);
		return errno;
	}
	if ((rc = mdb_env_create(&st->env)))
		return rc;
	mdb_env_set_maxdbs(st->env, DB__COUNT + 2);
	mdb_env_set_maxreaders(st->env, 126);
	if ((rc = mdb_env_set_mapsize(st->env, mapsize)))
		goto fail;
	/* Durable by default: no NOSYNC, no WRITEMAP, no NOMEMINIT (pages may hold
	 * ciphertext we must not leak from uninitialised memory). NOTLS because the
	 * read-only tools may use several threads. */
	rc = mdb_env_open(st->env, dir, MDB_NOTLS | (readonly ? MDB_RDONLY : 0), 0600);
	if (rc)
		goto fail;
	int dead = 0;
	mdb_reader_check(st->env, &dead);
	if (dead)
		log_event(LOG_WARN, "store.stale_readers", "cleared=%d", dead);

	if ((rc = mdb_txn_begin(st->env, NULL, readonly ? MDB_RDONLY : 0, &txn)))
		goto fail;
	for (int i = 0; i < DB__COUNT; i++) {
		rc = mdb_dbi_open(txn, db_names[i], readonly ? 0 : MDB_CREATE, &st->dbi[i]);
		if (rc)
			goto fail;
	}
	/* the format-version meta key is schema_open's (schema.c) */
	if (readonly) {
		mdb_txn_abort(txn);
		rc = 0;
	} else {
		rc = mdb_txn_commit(txn);
	}
	txn = NULL;
	if (rc)
		goto fail;
	MDB_envinfo info;
	mdb_env_info(st->env, &info);
	st->mapsize = info.me_mapsize;
	return 0;
fail:
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(st->env);
	st->env = NULL;
	log_event(LOG_ERROR, "store.open", "rc=%d err=\"%s\"", rc, mdb_strerror(rc));
	return rc;
}

void store_close(struct store *st)
{
	if (!st->env)
		return;
	store_abort(st);
	mdb_env_close(st->env);
	st->env = NULL;
}

MDB_txn *store_txn(struct store *st)
{
	if (st->failed)
		return NULL;
	if (!st->txn) {
		int rc = mdb_txn_begin(st->env, NULL, 0, &st->txn);
		if (rc) {
			log_event(LOG_ERROR, "store.begin", "rc=%d", rc);
			st->txn = NULL;
			st->failed = 1;
		}
	}
	return st->txn;
}

int store_req_begin(struct store *st)
{
	MDB_txn *parent = store_txn(st);
	if (!parent)
		return MDB_BAD_TXN;
	int rc = mdb_txn_begin(st->env, parent, 0, &st->req);
	if (rc) {
		st->req = NULL;
		st->failed = 1;
	}
	if (st->oplog)
		clog_ops_mark(st->oplog);
	return rc;
}

int store_req_end(struct store *st, int ok)
{
	int rc = 0;
	if (!st->req)
		return 0;
	if (ok) {
		rc = mdb_txn_commit(st->req);
		if (rc)
			st->failed = 1; /* parent is unusable after a failed child commit */
	} else {
		mdb_txn_abort(st->req);
	}
	if (st->oplog && (!ok || rc))
		clog_ops_rewind(st->oplog); /* the request's writes are gone: so are its ops */
	st->req = NULL;
	return rc;
}

MDB_txn *store_cur(struct store *st)
{
	return st->req ? st->req : store_txn(st);
}

static void grow(struct store *st)
{
	size_t want = st->mapsize * 2;
	int rc = mdb_env_set_mapsize(st->env, want);
	if (rc == 0) {
		st->mapsize = want;
		log_event(LOG_WARN, "store.map_grown", "mapsize=%zu", want);
	} else {
		log_event(LOG_ERROR, "store.map_grow_failed", "rc=%d", rc);
	}
}

int store_commit(struct store *st)
{
	int rc = 0;
	if (st->req)
		store_req_end(st, 0);
	if (!st->txn) {
		int failed = st->failed;
		st->failed = 0;
		return failed ? MDB_BAD_TXN : 0;
	}
	if (st->failed) {
		mdb_txn_abort(st->txn);
		st->txn = NULL;
		st->failed = 0;
		rc = MDB_BAD_TXN;
	} else if (st->pre_commit && (rc = st->pre_commit(st, st->pre_commit_arg)) != 0) {
		/* cluster mode: the replicated log did not take the turn: nothing of it is kept */
		mdb_txn_abort(st->txn);
		st->txn = NULL;
	} else {
		uint64_t t0 = clock_mono_ns();
		rc = mdb_txn_commit(st->txn);
		st->txn = NULL;
		if (rc && st->commit_failed)
			st->commit_failed(st, rc, st->pre_commit_arg);
		uint64_t dt = clock_mono_ns() - t0;
		st->commit_ns += dt;
		histo_observe_ns(&st->commit_hist, dt);
		st->commits++;
	}
	if (st->oplog)
		clog_ops_reset(st->oplog);
	st->last_rc = rc;
	if (rc) {
		st->fail_rc = rc;
		st->fail_ns = clock_mono_ns();
	}
	if (rc == MDB_MAP_FULL)
		grow(st);
	if (rc)
		log_event(LOG_ERROR, "store.commit_failed", "rc=%d err=\"%s\"", rc, mdb_strerror(rc));
	else {
		/* Grow ahead of need so that turns rarely fail with MAP_FULL. */
		MDB_envinfo info;
		MDB_stat stat;
		mdb_env_info(st->env, &info);
		mdb_env_stat(st->env, &stat);
		if ((info.me_last_pgno + 1) * (size_t)stat.ms_psize > st->mapsize / 10 * 8)
			grow(st);
	}
	return rc;
}

void store_abort(struct store *st)
{
	if (st->req) {
		mdb_txn_abort(st->req);
		st->req = NULL;
	}
	if (st->txn) {
		mdb_txn_abort(st->txn);
		st->txn = NULL;
	}
	if (st->oplog)
		clog_ops_reset(st->oplog);
	st->failed = 0;
}

static int note_err(struct store *st, int rc)
{
	if (rc && rc != MDB_NOTFOUND && rc != MDB_KEYEXIST)
		st->failed = 1;
	return rc;
}

int store_put(struct store *st, enum store_db db, const void *k, size_t kl, const void *v, size_t vl, unsigned flags)
{
	MDB_txn *t = store_cur(st);
	if (!t)
		return MDB_BAD_TXN;
	MDB_val key = {kl, (void *)(uintptr_t)k}, val = {vl, (void *)(uintptr_t)v};
	int rc = note_err(st, mdb_put(t, st->dbi[db], &key, &val, flags));
	if (rc == 0 && st->oplog && clog_ops_put(st->oplog, (unsigned)db, k, kl, v, vl) != 0)
		st->failed = 1; /* a write the log cannot carry must not be committed */
	return rc;
}

int store_get(struct store *st, enum store_db db, const void *k, size_t kl, MDB_val *v)
{
	MDB_txn *t = store_cur(st);
	if (!t)
		return MDB_BAD_TXN;
	MDB_val key = {kl, (void *)(uintptr_t)k};
	return note_err(st, mdb_get(t, st->dbi[db], &key, v));
}

int store_del(struct store *st, enum store_db db, const void *k, size_t kl)
{
	MDB_txn *t = store_cur(st);
	if (!t)
		return MDB_BAD_TXN;
	MDB_val key = {kl, (void *)(uintptr_t)k};
	int rc = note_err(st, mdb_del(t, st->dbi[db], &key, NULL));
	if (rc == 0)
		store_note_del(st, db, k, kl);
	return rc;
}

void store_note_del(struct store *st, enum store_db db, const void *k, size_t kl)
{
	if (st->oplog && clog_ops_del(st->oplog, (unsigned)db, k, kl) != 0)
		st->failed = 1;
}

int store_backup(const char *dir, const char *out_dir)
{
	MDB_env *env = NULL;
	int rc = mdb_env_create(&env);
	if (rc)
		return rc;
	mdb_env_set_maxdbs(env, DB__COUNT + 2);
	rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600);
	if (rc == 0) {
		if (mkdir(out_dir, 0700) != 0 && errno != EEXIST)
			rc = errno;
		else
			rc = mdb_env_copy2(env, out_dir, MDB_CP_COMPACT);
	}
	mdb_env_close(env);
	return rc;
}
