/*
 * cluster.c: the follower, the writer lease and the publish hook of cluster
 * mode (see cluster.h; the entry format and the applier are cluster_log.c).
 */
#include "cluster.h"
#include "clock.h"
#include "cluster_log.h"
#include "cluster_snap.h"
#include "log.h"
#include "server.h"
#include "store.h"

#include <errno.h>
#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LEASE_KEY "writer"
#define APPLY_BATCH 256

struct cluster {
	const struct config *cfg;
	natsOptions *opts;
	natsConnection *nc;
	jsCtx *js;
	kvStore *kv;
	char subject[96];
	char *lease_val; /* {"node":..,"advertise":..} */
	uint64_t fence;  /* the lease revision this writer took it at */
	uint64_t lease_rev;
	uint64_t last_seq; /* the newest stream sequence in this node's store */
	uint64_t lease_ok_ms;
	int turn_published; /* this turn's entry is in the stream, its LMDB commit not yet done */
	struct clog_ops ops;
	struct csnap_provider *snap; /* the writer answers snapshot requests */
	pthread_t renewer;
	int renewing;
	volatile sig_atomic_t stop_renew;
};

static volatile sig_atomic_t follow_stop;
static char g_inc[17] = "0000000000000000";

void cluster_set_incarnation(const char *inc)
{
	snprintf(g_inc, sizeof g_inc, "%s", inc);
}

void cluster_request_stop(void)
{
	follow_stop = 1;
}

int cluster_stop_requested(void)
{
	return follow_stop != 0;
}

static void on_stop(int sig)
{
	(void)sig;
	follow_stop = 1;
}

static void nap_ms(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR && !follow_stop)
		;
}

static const char *nats_why(natsStatus s)
{
	const char *t = nats_GetLastError(NULL);
	return t && *t ? t : natsStatus_GetText(s);
}

/* A writer that can no longer prove it is the writer stops at once: the
 * turn in hand is neither committed nor acked (store.c aborts it), and its
 * service manager restarts it as a follower, which takes whatever reached the
 * stream from the stream. */
static void step_down(const char *why)
{
	log_event(LOG_ERROR, "cluster.step_down", "reason=\"%s\"", why);
	fflush(stderr);
	fflush(stdout);
	_exit(CLUSTER_EXIT_STEP_DOWN);
}

/* ---- connecting ------------------------------------------------------------ */

static int connect_nats(struct cluster *cl, char *why, size_t wl)
{
	const struct cluster_config *k = &cl->cfg->cluster;
	const char *urls[CLUSTER_MAX_URLS];
	for (int i = 0; i < k->n_nats; i++)
		urls[i] = k->nats[i];
	natsStatus s = natsOptions_Create(&cl->opts);
	if (s == NATS_OK)
		s = natsOptions_SetServers(cl->opts, urls, k->n_nats);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(cl->opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(cl->opts, 100);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(cl->opts, 2000);
	if (s != NATS_OK) {
		snprintf(why, wl, "cluster: NATS options: %s", nats_why(s));
		return -1;
	}
	while (!follow_stop) {
		s = natsConnection_Connect(&cl->nc, cl->opts);
		if (s == NATS_OK)
			break;
		log_event(LOG_WARN, "cluster.nats_unreachable", "err=\"%s\"", nats_why(s));
		nap_ms(500);
	}
	if (follow_stop)
		return 1;
	/* Every frame a client may send, and every answer and push, crosses NATS
	 * as one message when its session is relayed (relay.c): a NATS server
	 * whose max_payload is smaller than the largest frame would drop them (the
	 * client waits for its timeout). Refused here, with the remedy. */
	int64_t maxp = natsConnection_GetMaxPayload(cl->nc);
	if (maxp < (int64_t)(cl->cfg->lim.max_frame + RELAY_OVERHEAD)) {
		snprintf(
			why, wl,
			"cluster: NATS max_payload (%lld bytes) is smaller than limits.max_frame (%zu) plus %u bytes of "
			"relay overhead: set max_payload (8MB advised) in nats-server.conf or lower limits.max_frame",
			(long long)maxp, cl->cfg->lim.max_frame, (unsigned)RELAY_OVERHEAD);
		return -1;
	}
	jsOptions jo;
	jsOptions_Init(&jo);
	jo.Wait = k->publish_timeout_ms;
	s = natsConnection_JetStream(&cl->js, cl->nc, &jo);
	if (s != NATS_OK) {
		snprintf(why, wl, "cluster: JetStream context: %s", nats_why(s));
		return -1;
	}
	snprintf(cl->subject, sizeof cl->subject, "casus.%s.log", k->stream);
	/* The stream and the bucket: created by the first node, bound by the
	 * others (adding an identical stream again is not an error). Retried:
	 * the JetStream cluster may still be electing its meta leader. */
	for (int attempt = 0; !follow_stop; attempt++) {
		jsStreamConfig sc;
		jsStreamConfig_Init(&sc);
		const char *subj[1] = {cl->subject};
		sc.Name = k->stream;
		sc.Subjects = subj;
		sc.SubjectsLen = 1;
		sc.Storage = js_FileStorage;
		sc.Replicas = k->replicas;
		sc.Retention = js_LimitsPolicy;
		/* unbounded (the default): never drop entries to make room; bounded:
		 * drop the oldest, a node behind them takes a snapshot (cluster_snap.h) */
		sc.MaxMsgs = k->stream_max_msgs ? (int64_t)k->stream_max_msgs : -1;
		sc.MaxAge = (int64_t)k->stream_max_age_s * 1000000000;
		sc.Discard = k->stream_max_msgs || k->stream_max_age_s ? js_DiscardOld : js_DiscardNew;
		sc.DenyDelete = true;
		sc.DenyPurge = true;
		jsStreamInfo *si = NULL;
		jsErrCode jerr = 0;
		s = js_AddStream(&si, cl->js, &sc, NULL, &jerr);
		if (si)
			jsStreamInfo_Destroy(si);
		if (s != NATS_OK && jerr == JSStreamNameExistErr) {
			/* it exists with other settings: its bounds follow this config */
			si = NULL;
			jsErrCode uerr = 0;
			natsStatus us = js_UpdateStream(&si, cl->js, &sc, NULL, &uerr);
			if (si)
				jsStreamInfo_Destroy(si);
			if (us != NATS_OK)
				log_event(LOG_WARN, "cluster.stream_update", "err=\"%s\" jerr=%d", nats_why(us),
				          (int)uerr);
		}
		if (s == NATS_OK || jerr == JSStreamNameExistErr) {
			kvConfig kc;
			kvConfig_Init(&kc);
			kc.Bucket = k->lease_bucket;
			kc.History = 1;
			kc.TTL = (int64_t)k->lease_ttl_ms * 1000000; /* ns: a lease not renewed lapses */
			kc.Replicas = (int)k->replicas;
			kc.StorageType = js_FileStorage;
			s = js_CreateKeyValue(&cl->kv, cl->js, &kc);
			if (s != NATS_OK) {
				log_event(LOG_WARN, "cluster.bucket_create", "err=\"%s\"", nats_why(s));
				s = js_KeyValue(&cl->kv, cl->js, k->lease_bucket);
			}
			if (s == NATS_OK)
				break;
		}
		if (attempt % 10 == 0)
			log_event(LOG_WARN, "cluster.stream_unavailable", "err=\"%s\" jerr=%d", nats_why(s), (int)jerr);
		nap_ms(300);
	}
	if (follow_stop)
		return 1;
	/* inc: this process's incarnation; followers relay to it (relay.h) */
	json_t *v = json_pack("{ssssss}", "node", k->node, "advertise", k->advertise, "inc", g_inc);
	cl->lease_val = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (!cl->lease_val) {
		snprintf(why, wl, "cluster: out of memory");
		return -1;
	}
	return 0;
}

static void *renew_main(void *arg);

/* ---- following -------------------------------------------------------------- */

static int read_applied(struct store *st, uint64_t *seq)
{
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return rc;
	rc = clog_meta_get(txn, st->dbi[DB_META], CLOG_META_SEQ, seq);
	mdb_txn_abort(txn);
	return rc;
}

/* Double the follower's map (no transaction open in this process). */
static int follower_grow(struct store *st)
{
	size_t want = st->mapsize * 2;
	int rc = mdb_env_set_mapsize(st->env, want);
	if (rc) {
		log_event(LOG_ERROR, "cluster.map_grow_failed", "rc=%d", rc);
		return rc;
	}
	st->mapsize = want;
	log_event(LOG_WARN, "store.map_grown", "mapsize=%zu", want);
	return 0;
}

/* Grow ahead of need, as the writer's store_commit does (80% used). */
static void follower_grow_ahead(struct store *st)
{
	MDB_envinfo info;
	MDB_stat stat;
	mdb_env_info(st->env, &info);
	mdb_env_stat(st->env, &stat);
	if ((info.me_last_pgno + 1) * (size_t)stat.ms_psize > st->mapsize / 10 * 8)
		(void)follower_grow(st);
}

/* Apply what the stream holds after *applied, in transactions of up to
 * APPLY_BATCH entries. The count applied, 0 when there was nothing new,
 * -1 on a NATS error (retry), -2 on an entry or store error (stop), -3 when
 * the next entry is a snapshot entry (cluster_log.h: take a snapshot). */
static int catch_up(struct cluster *cl, struct store *st, uint64_t *applied, char *why, size_t wl)
{
	int total = 0;
	for (;;) {
		MDB_txn *txn = NULL;
		int n = 0, rc = mdb_txn_begin(st->env, NULL, 0, &txn);
		if (rc) {
			snprintf(why, wl, "cluster: store: %s", mdb_strerror(rc));
			return -2;
		}
		uint64_t seq = *applied;
		int nats_err = 0, more = 1, snap = 0;
		while (n < APPLY_BATCH) {
			natsMsg *m = NULL;
			jsErrCode jerr = 0;
			natsStatus s = js_GetMsg(&m, cl->js, cl->cfg->cluster.stream, seq + 1, NULL, &jerr);
			if (s != NATS_OK) {
				if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr)
					more = 0;
				else
					nats_err = 1;
				break;
			}
			int r = clog_apply(txn, st->dbi, DB__COUNT, st->dbi[DB_META], seq + 1,
			                   (const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m));
			natsMsg_Destroy(m);
			if (r == CLOG_SNAPSHOT) {
				more = 0; /* what came before is committed below, then the snapshot */
				snap = 1;
				break;
			} else if (r == CLOG_FENCED) {
				log_event(LOG_WARN, "cluster.entry_fenced", "seq=%llu", (unsigned long long)(seq + 1));
			} else if (r == CLOG_DBERR && clog_last_dberr() == MDB_MAP_FULL) {
				/* the store is as large as its map: grow it, apply the batch again */
				mdb_txn_abort(txn);
				txn = NULL;
				break;
			} else if (r != CLOG_APPLIED) {
				mdb_txn_abort(txn);
				snprintf(why, wl, "cluster: stream entry %llu %s", (unsigned long long)(seq + 1),
				         r == CLOG_BAD ? "is malformed or out of order: this node stops following"
				                       : "could not be written to the store");
				return -2;
			}
			seq++;
			n++;
		}
		if (!txn) { /* MDB_MAP_FULL while applying */
			if (follower_grow(st) != 0) {
				snprintf(why, wl, "cluster: the store's map is full and cannot grow");
				return -2;
			}
			continue;
		}
		if (n == 0) {
			mdb_txn_abort(txn);
			return snap ? -3 : nats_err ? -1 : total;
		}
		rc = mdb_txn_commit(txn);
		if (rc == MDB_MAP_FULL) {
			if (follower_grow(st) != 0) {
				snprintf(why, wl, "cluster: the store's map is full and cannot grow");
				return -2;
			}
			continue;
		}
		if (rc) {
			snprintf(why, wl, "cluster: store commit: %s", mdb_strerror(rc));
			return -2;
		}
		*applied = seq;
		total += n;
		follower_grow_ahead(st);
		if (!more || nats_err)
			return total;
	}
}

static int stream_state(struct cluster *cl, uint64_t *first, uint64_t *last)
{
	jsStreamInfo *si = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_GetStreamInfo(&si, cl->js, cl->cfg->cluster.stream, NULL, &jerr);
	if (s != NATS_OK || !si) {
		return -1;
	}
	*first = si->State.FirstSeq;
	*last = si->State.LastSeq;
	jsStreamInfo_Destroy(si);
	return 0;
}

/* Replace the store by a snapshot of the writer that holds at least
 * sequence need (cluster_snap.h). 0: done or to be retried (the store is
 * open again, *applied is its sequence); -1: cannot go on (why). */
static int snapshot_catch_up(struct cluster *cl, struct store *st, uint64_t need, uint64_t *applied, char *why,
                             size_t wl)
{
	const struct config *cfg = cl->cfg;
	uint64_t got = 0;
	store_close(st);
	int fr = csnap_fetch(cl->nc, cfg->cluster.stream, cfg->data_dir, cfg->map_size, need, &follow_stop, &got, why,
	                     wl);
	if (fr < 0)
		return -1;
	if (fr > 0) {
		char q[400];
		log_event(LOG_WARN, "cluster.snapshot_retry", "msg=%s", log_q(why, q, sizeof q));
		why[0] = '\0';
	}
	int rc = store_open(st, cfg->data_dir, cfg->map_size, 0);
	if (rc) {
		snprintf(why, wl, "cluster: cannot open the store in %s: %s", cfg->data_dir, mdb_strerror(rc));
		return -1;
	}
	if (read_applied(st, applied) != 0) {
		snprintf(why, wl, "cluster: the store's applied sequence is unreadable");
		return -1;
	}
	if (fr > 0)
		nap_ms(1000);
	return 0;
}

int cluster_follow(const struct config *cfg, struct cluster **out, char *why, size_t wl)
{
	*out = NULL;
	struct cluster *cl = calloc(1, sizeof *cl);
	if (!cl) {
		snprintf(why, wl, "cluster: out of memory");
		return -1;
	}
	cl->cfg = cfg;
	clog_ops_init(&cl->ops);
	struct sigaction sa, old_term, old_int;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGINT, &sa, &old_int);
	struct store st;
	memset(&st, 0, sizeof st);
	int rc = connect_nats(cl, why, wl);
	if (rc != 0)
		goto out;
	rc = store_open(&st, cfg->data_dir, cfg->map_size, 0);
	if (rc) {
		snprintf(why, wl, "cluster: cannot open the store in %s: %s", cfg->data_dir, mdb_strerror(rc));
		rc = -1;
		goto out;
	}
	uint64_t applied = 0;
	if (read_applied(&st, &applied) != 0) {
		snprintf(why, wl, "cluster: the store's applied sequence is unreadable");
		rc = -1;
		goto out;
	}
	log_event(LOG_INFO, "cluster.following", "node=%s applied=%llu", cfg->cluster.node,
	          (unsigned long long)applied);
	while (!follow_stop) {
		int n = catch_up(cl, &st, &applied, why, wl);
		if (n == -2 || (n == -3 && snapshot_catch_up(cl, &st, applied + 1, &applied, why, wl) != 0)) {
			rc = -1;
			goto out;
		}
		if (n != 0) {
			if (n < 0)
				nap_ms(200);
			continue;
		}
		uint64_t first = 0, last = 0;
		if (stream_state(cl, &first, &last) != 0) {
			nap_ms(200);
			continue;
		}
		if (last > applied && first > applied + 1) {
			/* what this store lacks is no longer in the stream: a snapshot of the writer */
			log_event(LOG_WARN, "cluster.behind_stream", "first=%llu applied=%llu",
			          (unsigned long long)first, (unsigned long long)applied);
			if (snapshot_catch_up(cl, &st, first - 1, &applied, why, wl) != 0) {
				rc = -1;
				goto out;
			}
			continue;
		}
		if (last < applied) {
			snprintf(
				why, wl,
				"cluster: this store has applied %llu entries but the stream %s ends at %llu: it belongs to "
				"another stream",
				(unsigned long long)applied, cfg->cluster.stream, (unsigned long long)last);
			rc = -1;
			goto out;
		}
		if (last > applied)
			continue;
		if (last > 0) {
			/* a node that joins a running cluster signs with the cluster's audit key */
			char kp[600];
			struct stat sb;
			snprintf(kp, sizeof kp, "%s/audit.key", cfg->data_dir);
			if (stat(kp, &sb) != 0) {
				snprintf(
					why, wl,
					"cluster: %s is missing: every node needs the cluster's audit key (copy it from "
					"the first node, docs/OPERATIONS.md \"A cluster\")",
					kp);
				rc = -1;
				goto out;
			}
		}
		/* caught up: campaign for the lease */
		uint64_t rev = 0;
		natsStatus s = kvStore_Create(&rev, cl->kv, LEASE_KEY, cl->lease_val, (int)strlen(cl->lease_val));
		if (s != NATS_OK) {
			nap_ms(50);
			continue;
		}
		cl->fence = cl->lease_rev = rev;
		cl->lease_ok_ms = clock_mono_ms();
		/* renew from now on: opening the store (and, on a serving follower,
		 * closing its relayed sessions) may take longer than a lease */
		if (pthread_create(&cl->renewer, NULL, renew_main, cl) != 0) {
			snprintf(why, wl, "cluster: cannot start the lease renewal");
			rc = -1;
			goto out;
		}
		cl->renewing = 1;
		/* the lease is ours: take what the stream gained since we looked */
		for (;;) {
			if (stream_state(cl, &first, &last) != 0) {
				snprintf(why, wl, "cluster: the stream is unreachable right after taking the lease");
				rc = -1;
				goto out;
			}
			if (applied >= last)
				break;
			if (catch_up(cl, &st, &applied, why, wl) == -2) {
				rc = -1;
				goto out;
			}
		}
		cl->last_seq = applied;
		log_event(LOG_INFO, "cluster.writer", "node=%s fence=%llu seq=%llu", cfg->cluster.node,
		          (unsigned long long)cl->fence, (unsigned long long)applied);
		rc = 0;
		goto out;
	}
	rc = 1;
out:
	store_close(&st);
	sigaction(SIGTERM, &old_term, NULL);
	sigaction(SIGINT, &old_int, NULL);
	if (rc == 0) {
		*out = cl;
	} else {
		if (rc == 1 && cl->fence)
			(void)kvStore_Delete(cl->kv, LEASE_KEY);
		cluster_stop(cl, NULL);
	}
	return rc;
}

/* ---- the writer ---------------------------------------------------------------- */

/* store.c calls this with the turn's transaction still open: publish the
 * turn's ops; only if the stream took them, at exactly the next sequence,
 * does the LMDB commit follow (with that sequence in the same transaction). */
static int publish_turn(struct store *st, void *arg)
{
	struct cluster *cl = arg;
	cl->turn_published = 0;
	if (cl->ops.n == 0)
		return 0; /* a turn that wrote nothing: nothing to replicate */
	if (cl->ops.len > (size_t)natsConnection_GetMaxPayload(cl->nc)) {
		/* nothing was published: the turn fails like a failed commit, the writer stays */
		log_event(LOG_ERROR, "cluster.entry_too_large", "bytes=%zu max=%lld", cl->ops.len,
		          (long long)natsConnection_GetMaxPayload(cl->nc));
		return MDB_BAD_TXN;
	}
	clog_ops_seal(&cl->ops, cl->fence);
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.ExpectLastSeq = cl->last_seq;
	po.MaxWait = cl->cfg->cluster.publish_timeout_ms;
	jsPubAck *ack = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_Publish(&ack, cl->js, cl->subject, cl->ops.p, (int)cl->ops.len, &po, &jerr);
	if (s != NATS_OK || !ack || ack->Sequence != cl->last_seq + 1) {
		char w[200];
		snprintf(w, sizeof w, "the stream did not take entry %llu: %s (jerr %d)",
		         (unsigned long long)(cl->last_seq + 1), s != NATS_OK ? nats_why(s) : "unexpected sequence",
		         (int)jerr);
		step_down(w); /* unknown or refused: another writer, or no quorum */
		return -1;    /* not reached: step_down exits */
	}
	cl->last_seq = ack->Sequence;
	cl->turn_published = 1;
	jsPubAck_Destroy(ack);
	int rc = clog_meta_put(st->txn, st->dbi[DB_META], CLOG_META_SEQ, cl->last_seq);
	if (rc == 0)
		rc = clog_meta_put(st->txn, st->dbi[DB_META], CLOG_META_FENCE, cl->fence);
	if (rc) /* in the stream but not here: only the stream is right now */
		step_down("the store cannot record the applied sequence");
	return 0;
}

/* The stream took the turn but the LMDB commit failed (map full, disk):
 * this store now lacks an entry every other node applies. Nothing of the
 * turn is acked; the node restarts as a follower and applies it. */
static void commit_failed(struct store *st, int rc, void *arg)
{
	struct cluster *cl = arg;
	(void)st;
	if (!cl->turn_published)
		return;
	char w[160];
	snprintf(w, sizeof w, "entry %llu is in the stream but the local commit failed: %s",
	         (unsigned long long)cl->last_seq, mdb_strerror(rc));
	step_down(w);
}

static void *renew_main(void *arg)
{
	struct cluster *cl = arg;
	unsigned ttl = cl->cfg->cluster.lease_ttl_ms, every = ttl / 4;
	while (!cl->stop_renew) {
		uint64_t due = clock_mono_ms() + every;
		while (!cl->stop_renew && clock_mono_ms() < due) {
			struct timespec ts = {0, 20 * 1000000L};
			nanosleep(&ts, NULL);
		}
		if (cl->stop_renew)
			break;
		uint64_t rev = 0;
		natsStatus s = kvStore_Update(&rev, cl->kv, LEASE_KEY, cl->lease_val, (int)strlen(cl->lease_val),
		                              cl->lease_rev);
		if (s == NATS_OK) {
			cl->lease_rev = rev;
			cl->lease_ok_ms = clock_mono_ms();
			continue;
		}
		const char *t = nats_why(s);
		if (strstr(t, "wrong last sequence"))
			step_down("the lease has another holder");
		/* not renewed within most of a lease: another node may hold it soon */
		if (clock_mono_ms() - cl->lease_ok_ms > (uint64_t)ttl * 3 / 4)
			step_down("the lease could not be renewed in time");
	}
	return NULL;
}

/* The first entry of an empty stream: the whole store as it is (a new store,
 * or a single node that becomes the first node of a cluster), after a clear;
 * a store larger than one NATS message: a snapshot entry instead, and the
 * followers take a snapshot of this store (cluster_snap.h). */
static int genesis(struct cluster *cl, struct server *srv, char *why, size_t wl)
{
	struct store *st = &srv->st;
	MDB_txn *txn = NULL;
	int rc = mdb_txn_begin(st->env, NULL, MDB_RDONLY, &txn);
	if (rc) {
		snprintf(why, wl, "cluster: store: %s", mdb_strerror(rc));
		return -1;
	}
	size_t maxp = (size_t)natsConnection_GetMaxPayload(cl->nc);
	clog_ops_reset(&cl->ops);
	rc = clog_ops_clear(&cl->ops);
	for (int d = 0; d < DB__COUNT && rc == 0 && cl->ops.len <= maxp; d++) {
		MDB_cursor *cur = NULL;
		if (mdb_cursor_open(txn, st->dbi[d], &cur) != 0) {
			rc = -1;
			break;
		}
		MDB_val k, v;
		int g = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		while (g == 0 && rc == 0 && cl->ops.len <= maxp) {
			int own = d == DB_META && k.mv_size >= 8 && memcmp(k.mv_data, "cluster.", 8) == 0;
			if (!own)
				rc = clog_ops_put(&cl->ops, (unsigned)d, k.mv_data, k.mv_size, v.mv_data, v.mv_size);
			g = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		mdb_cursor_close(cur);
	}
	mdb_txn_abort(txn);
	if (rc) {
		snprintf(why, wl, "cluster: cannot build the first stream entry");
		return -1;
	}
	uint8_t marker[CLOG_HDR];
	const uint8_t *entry = cl->ops.p;
	size_t entry_len = cl->ops.len;
	if (cl->ops.len > maxp) {
		/* too large for one message: entry 1 says "take a snapshot of the
		 * writer" (cluster_snap.h), which followers fetch in pieces */
		clog_snapshot_entry(marker, cl->fence);
		entry = marker;
		entry_len = sizeof marker;
		log_event(LOG_INFO, "cluster.genesis_snapshot", "max=%zu", maxp);
	} else {
		clog_ops_seal(&cl->ops, cl->fence);
	}
	jsPubOptions po;
	jsPubOptions_Init(&po);
	po.ExpectNoMessage = true; /* only into an empty stream */
	po.MaxWait = cl->cfg->cluster.publish_timeout_ms;
	jsPubAck *ack = NULL;
	jsErrCode jerr = 0;
	natsStatus s = js_Publish(&ack, cl->js, cl->subject, entry, (int)entry_len, &po, &jerr);
	if (s != NATS_OK || !ack || ack->Sequence != 1) {
		snprintf(why, wl, "cluster: the first stream entry was not taken: %s (jerr %d)",
		         s != NATS_OK ? nats_why(s) : "unexpected sequence", (int)jerr);
		if (ack)
			jsPubAck_Destroy(ack);
		return -1;
	}
	jsPubAck_Destroy(ack);
	size_t bytes = entry_len;
	uint32_t ops = entry == marker ? 0 : cl->ops.n;
	clog_ops_reset(&cl->ops);
	rc = mdb_txn_begin(st->env, NULL, 0, &txn);
	if (rc == 0)
		rc = clog_meta_put(txn, st->dbi[DB_META], CLOG_META_SEQ, 1);
	if (rc == 0)
		rc = clog_meta_put(txn, st->dbi[DB_META], CLOG_META_FENCE, cl->fence);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (txn)
		mdb_txn_abort(txn);
	if (rc) {
		snprintf(why, wl, "cluster: store: %s", mdb_strerror(rc));
		return -1;
	}
	cl->last_seq = 1;
	log_event(LOG_INFO, "cluster.genesis", "bytes=%zu ops=%u", bytes, (unsigned)ops);
	return 0;
}

int cluster_writer_start(struct cluster *cl, struct server *srv, char *why, size_t wl)
{
	uint64_t applied = 0;
	if (srv->st.txn) {
		/* a write before the hook would reach the store but not the log */
		snprintf(why, wl, "cluster: the store has a transaction open before the writer starts");
		return -1;
	}
	if (read_applied(&srv->st, &applied) != 0 || applied != cl->last_seq) {
		snprintf(why, wl, "cluster: the store's applied sequence moved while it was opened");
		return -1;
	}
	if (cl->last_seq == 0 && genesis(cl, srv, why, wl) != 0)
		return -1;
	if (csnap_provider_start(&cl->snap, cl->nc, cl->cfg->cluster.stream, cl->cfg->data_dir, cl->cfg->map_size, why,
	                         wl) != 0)
		return -1;
	clog_ops_reset(&cl->ops);
	srv->st.oplog = &cl->ops;
	srv->st.pre_commit = publish_turn;
	srv->st.commit_failed = commit_failed;
	srv->st.pre_commit_arg = cl;
	/* the lease renewal runs since cluster_follow took the lease */
	return 0;
}

void cluster_stop(struct cluster *cl, struct server *srv)
{
	if (!cl)
		return;
	if (srv && srv->st.oplog == &cl->ops) {
		srv->st.oplog = NULL;
		srv->st.pre_commit = NULL;
		srv->st.commit_failed = NULL;
		srv->st.pre_commit_arg = NULL;
	}
	csnap_provider_stop(cl->snap);
	cl->snap = NULL;
	if (cl->renewing) {
		cl->stop_renew = 1;
		pthread_join(cl->renewer, NULL);
		cl->renewing = 0;
		/* give the lease back: the next node need not wait for it to lapse */
		(void)kvStore_Delete(cl->kv, LEASE_KEY);
	}
	if (cl->kv)
		kvStore_Destroy(cl->kv);
	if (cl->js)
		jsCtx_Destroy(cl->js);
	if (cl->nc) {
		/* bounded: with a NATS server gone the connection may be reconnecting,
		 * and a plain flush waits 10 s for it (a stop must not hang on that) */
		(void)natsConnection_FlushTimeout(cl->nc, 1000);
		natsConnection_Destroy(cl->nc);
	}
	if (cl->opts)
		natsOptions_Destroy(cl->opts);
	free(cl->lease_val);
	clog_ops_free(&cl->ops);
	free(cl);
	/* nats_Close() is main's, at exit: the relay may still use the library */
}
