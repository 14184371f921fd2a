/*
 * audit.c: append audit entries in the turn's LMDB transaction, keep the hash
 * chain head, sign checkpoints with the audit key (see audit.h).
 */
#include <fileio.h>
#include "audit.h"
#include "clock.h"
#include "log.h"
#include "schema.h"
#include "server.h"

#include <cc_buf.h>
#include <cc_err.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* The queue grows as needed: an entry is never dropped because a request
 * logged many. If it cannot grow (out of memory) or an entry cannot be
 * written, the whole turn is marked failed, so that no reply of it is
 * released as a success: an action without its audit entry is never acked. */
#define AUDIT_QUEUE_FIRST 16

struct audit_ctx {
	uint8_t *sk; /* sodium_malloc, PROT_NONE when idle */
	uint8_t pk[CC_SIGN_PK_BYTES];
	cc_audit_chain chain;     /* head including this turn's uncommitted entries */
	cc_audit_chain committed; /* head as on disk */
	uint64_t since_cp;        /* entries since the newest checkpoint */
	uint64_t committed_since_cp;
	int64_t unsealed_since_ms; /* when committed_since_cp last left 0 (health) */
	int64_t last_cp_ms;
	int cp_in_turn; /* a checkpoint was written in the turn not yet committed */
	cc_audit_entry **queue;
	size_t nqueue, capqueue;
	int lost;       /* an entry of this request could not be queued */
	int live_maybe; /* a batch of live deliveries may be pending in meta */
	int resync;     /* the store's chain moved under us (offline tool) */
};

static int read_file(const char *path, uint8_t *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t r = read(fd, buf, n);
	uint8_t extra;
	ssize_t more = read(fd, &extra, 1);
	close(fd);
	return (r == (ssize_t)n && more == 0) ? 0 : -1;
}

static int load_key(struct server *srv, struct audit_ctx *a)
{
	char skp[1024], pkp[1024];
	snprintf(skp, sizeof skp, "%s/audit.key", srv->cfg.data_dir);
	snprintf(pkp, sizeof pkp, "%s/audit.pub", srv->cfg.data_dir);
	a->sk = sodium_malloc(CC_SIGN_SK_BYTES);
	if (!a->sk)
		return -1;
	if (read_file(skp, a->sk, CC_SIGN_SK_BYTES) == 0) {
		crypto_sign_ed25519_sk_to_pk(a->pk, a->sk);
	} else if (errno == ENOENT) {
		crypto_sign_keypair(a->pk, a->sk);
		if (fio_write_atomic(skp, a->sk, CC_SIGN_SK_BYTES, 0600) != 0) {
			log_event(LOG_ERROR, "audit.key_write_failed", "errno=%d", errno);
			return -1;
		}
		log_event(LOG_INFO, "audit.key_created", "path=%s", skp);
	} else {
		log_event(LOG_ERROR, "audit.key_unreadable", "path=%s", skp);
		return -1;
	}
	char hex[2 * CC_SIGN_PK_BYTES + 2];
	sodium_bin2hex(hex, sizeof hex, a->pk, CC_SIGN_PK_BYTES);
	size_t hl = strlen(hex);
	hex[hl] = '\n';
	if (fio_write_atomic(pkp, (uint8_t *)hex, hl + 1, 0644) != 0)
		log_event(LOG_WARN, "audit.pub_write_failed", "errno=%d", errno);
	sodium_mprotect_noaccess(a->sk);
	return 0;
}

/* Resume the chain from the newest stored entry and checkpoint. */
static int resume(struct server *srv, struct audit_ctx *a)
{
	MDB_txn *txn = NULL;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	int rc = mdb_txn_begin(srv->st.env, NULL, MDB_RDONLY, &txn);
	if (rc)
		return rc;
	uint64_t last = 0, last_cp = 0;
	uint8_t head[CC_HASH_BYTES] = {0};
	rc = mdb_cursor_open(txn, srv->st.dbi[DB_AUDIT], &cur);
	const uint8_t *hash, *enc;
	size_t el;
	uint64_t seq;
	if (rc == 0 && mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 &&
	    schema_key_audit_decode(k.mv_data, k.mv_size, &seq) == 0 &&
	    schema_audit_rec_decode(v.mv_data, v.mv_size, &hash, &enc, &el) == 0) {
		last = seq;
		memcpy(head, hash, CC_HASH_BYTES);
	}
	if (cur)
		mdb_cursor_close(cur);
	cur = NULL;
	rc = mdb_cursor_open(txn, srv->st.dbi[DB_AUDITCP], &cur);
	if (rc == 0 && mdb_cursor_get(cur, &k, &v, MDB_LAST) == 0 &&
	    schema_key_audit_decode(k.mv_data, k.mv_size, &seq) == 0)
		last_cp = seq;
	if (cur)
		mdb_cursor_close(cur);
	mdb_txn_abort(txn);
	if (last == 0 && last_cp == 0)
		cc_audit_chain_init(&a->chain);
	else
		cc_audit_chain_resume(&a->chain, last, head, last_cp);
	a->committed = a->chain;
	a->since_cp = a->committed_since_cp = last - (last_cp <= last ? last_cp : last);
	a->last_cp_ms = clock_wall_ms();
	return 0;
}

int audit_open(struct server *srv)
{
	struct audit_ctx *a = calloc(1, sizeof(*a));
	if (!a)
		return -1;
	srv->audit = a;
	if (load_key(srv, a) != 0 || resume(srv, a) != 0)
		return -1;
	a->live_maybe = 1; /* a crash may have left batches: the start-up flush looks */
	return 0;
}

void audit_close(struct server *srv)
{
	struct audit_ctx *a = srv->audit;
	if (!a)
		return;
	for (size_t i = 0; i < a->nqueue; i++)
		free(a->queue[i]);
	free(a->queue);
	if (a->sk) {
		sodium_mprotect_readwrite(a->sk);
		sodium_free(a->sk); /* wipes */
	}
	free(a);
	srv->audit = NULL;
}

size_t audit_pending(const struct server *srv)
{
	return srv->audit ? srv->audit->nqueue : 0;
}

const uint8_t *audit_public_key(const struct server *srv)
{
	return srv->audit->pk;
}

void audit_log(struct server *srv, const struct session *s, cc_audit_entry *e)
{
	struct audit_ctx *a = srv->audit;
	e->version = CC_AUDIT_VERSION;
	e->time_ms = clock_wall_ms();
	if (s) {
		cc_audit_str_copy(e->access_point, sizeof e->access_point, s->peer);
		if (s->state == SS_AUTHED) {
			cc_audit_str_copy(e->actor_user, sizeof e->actor_user, s->cert.user_id);
			memcpy(e->actor_device, s->cert.device_id, CC_AUDIT_ID_BYTES);
			cc_audit_str_copy(e->actor_role, sizeof e->actor_role, s->cert.role);
			cc_audit_str_copy(e->actor_org, sizeof e->actor_org, s->cert.org);
		}
	}
	if (a->nqueue == a->capqueue) {
		size_t ncap = a->capqueue ? a->capqueue * 2 : AUDIT_QUEUE_FIRST;
		cc_audit_entry **nq = realloc(a->queue, ncap * sizeof(*nq));
		if (!nq) {
			a->lost = 1;
			log_event(LOG_ERROR, "audit.nomem", "event=%u", e->event);
			return;
		}
		a->queue = nq;
		a->capqueue = ncap;
	}
	cc_audit_entry *copy = malloc(sizeof(*copy));
	if (!copy) {
		a->lost = 1;
		log_event(LOG_ERROR, "audit.nomem", "event=%u", e->event);
		return;
	}
	*copy = *e;
	a->queue[a->nqueue++] = copy;
}

static int write_checkpoint(struct server *srv)
{
	struct audit_ctx *a = srv->audit;
	cc_audit_checkpoint cp;
	cc_wbuf w;
	int rc;
	sodium_mprotect_readonly(a->sk);
	rc = cc_audit_chain_checkpoint(&a->chain, clock_wall_ms(), a->sk, &cp);
	sodium_mprotect_noaccess(a->sk);
	if (rc != CC_OK)
		return rc;
	cc_w_init(&w);
	rc = cc_audit_checkpoint_encode(&cp, &w);
	if (rc == CC_OK && !w.err) {
		uint8_t key[SCHEMA_KEY_AUDIT];
		rc = store_put(&srv->st, DB_AUDITCP, key, schema_key_audit(key, cp.seq), w.p, w.len, 0);
	}
	cc_w_free(&w);
	if (rc == 0) {
		a->since_cp = 0;
		a->last_cp_ms = clock_wall_ms();
		a->cp_in_turn = 1;
	}
	return rc;
}

/* An entry could not be written: fail the turn (store_commit aborts it and
 * every reply of the turn becomes a storage error), so nothing is acked
 * without its audit entry. */
static void fail_turn(struct server *srv, const char *why, uint16_t event)
{
	srv->st.failed = 1;
	log_event(LOG_ERROR, "audit.turn_failed", "why=%s event=%u", why, event);
}

void audit_request_done(struct server *srv, int kept)
{
	struct audit_ctx *a = srv->audit;
	(void)kept;
	if (a->lost) {
		a->lost = 0;
		fail_turn(srv, "entry_not_queued", 0);
	}
	for (size_t i = 0; i < a->nqueue; i++) {
		cc_audit_entry *e = a->queue[i];
		cc_wbuf w;
		uint8_t hash[CC_HASH_BYTES];
		cc_w_init(&w);
		/* reserve room for the hash in front of the encoding */
		cc_w_fixed(&w, hash, sizeof hash);
		cc_audit_chain save = a->chain;
		int rc = cc_audit_chain_append(&a->chain, e, &w, hash);
		if (rc == CC_OK && !w.err) {
			memcpy(w.p, hash, CC_HASH_BYTES);
			uint8_t key[SCHEMA_KEY_AUDIT];
			int prc = store_put(&srv->st, DB_AUDIT, key, schema_key_audit(key, e->seq), w.p, w.len,
			                    MDB_APPEND);
			if (prc != 0) {
				a->chain = save;
				/* KEYEXIST: the stored trail is ahead of our head (an offline
				 * tool appended while we ran): reread the head from disk after
				 * this turn is thrown away. */
				if (prc == MDB_KEYEXIST)
					a->resync = 1;
				log_event(LOG_ERROR, "audit.store_failed", "seq=%llu rc=%d", (unsigned long long)e->seq,
				          prc);
				fail_turn(srv, "store", e->event);
			} else {
				a->since_cp++;
			}
		} else {
			a->chain = save;
			log_event(LOG_ERROR, "audit.encode_failed", "event=%u rc=%d", e->event, rc);
			fail_turn(srv, "encode", e->event);
		}
		cc_w_free(&w);
		free(e);
	}
	a->nqueue = 0;
	if (srv->cfg.audit_checkpoint_every && a->since_cp >= srv->cfg.audit_checkpoint_every)
		write_checkpoint(srv);
}

void audit_turn_committed(struct server *srv)
{
	struct audit_ctx *a = srv->audit;
	a->committed = a->chain;
	if (!a->since_cp)
		a->unsealed_since_ms = 0;
	else if (!a->committed_since_cp || !a->unsealed_since_ms || a->cp_in_turn)
		a->unsealed_since_ms = clock_wall_ms(); /* the backlog starts after this turn's checkpoint */
	a->committed_since_cp = a->since_cp;
	a->cp_in_turn = 0;
}

void audit_unsealed(const struct server *srv, uint64_t *entries, int64_t *since_ms)
{
	const struct audit_ctx *a = srv->audit;
	*entries = a ? a->committed_since_cp : 0;
	*since_ms = a && a->committed_since_cp ? a->unsealed_since_ms : 0;
}

void audit_turn_failed(struct server *srv)
{
	struct audit_ctx *a = srv->audit;
	a->chain = a->committed;
	a->since_cp = a->committed_since_cp;
	a->cp_in_turn = 0;
	if (a->resync) {
		a->resync = 0;
		if (resume(srv, a) != 0)
			log_event(LOG_ERROR, "audit.resync_failed", NULL);
		else
			log_event(LOG_WARN, "audit.resynced", "seq=%llu", (unsigned long long)a->chain.last_seq);
	}
}

int audit_checkpoint_now(struct server *srv)
{
	struct audit_ctx *a = srv->audit;
	if (a->since_cp == 0)
		return 0;
	if (!store_txn(&srv->st))
		return -1;
	return write_checkpoint(srv);
}

int audit_sign_receipt(struct server *srv, uint64_t seq, const uint8_t hash[CC_HASH_BYTES], uint8_t sig[CC_SIG_BYTES])
{
	struct audit_ctx *a = srv->audit;
	sodium_mprotect_readonly(a->sk);
	int rc = cc_audit_receipt_sign(a->sk, a->pk, seq, hash, sig);
	sodium_mprotect_noaccess(a->sk);
	return rc;
}

int audit_restore_segment(struct server *srv)
{
	struct audit_ctx *a = srv->audit;
	if (!store_txn(&srv->st))
		return -1;
	int rc = 0;
	if (a->since_cp)
		rc = write_checkpoint(srv); /* the old segment ends sealed */
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	cc_audit_segment_fill(&e, &a->chain);
	cc_audit_str_copy(e.access_point, sizeof e.access_point, "casusd restore");
	audit_log(srv, NULL, &e);
	audit_request_done(srv, 1);
	if (rc == 0 && !srv->st.failed && a->since_cp)
		rc = write_checkpoint(srv); /* the segment anchor is signed at once */
	if (rc == 0 && store_commit(&srv->st) == 0) {
		audit_turn_committed(srv);
		log_event(LOG_WARN, "audit.segment", "reason=restore continues_from=%llu",
		          (unsigned long long)(a->chain.last_seq - 1));
		return 0;
	}
	audit_turn_failed(srv);
	log_event(LOG_ERROR, "audit.segment_failed", NULL);
	return -1;
}

void audit_tick(struct server *srv)
{
	struct audit_ctx *a = srv->audit;
	if (a->since_cp && srv->cfg.audit_checkpoint_secs &&
	    clock_wall_ms() - a->last_cp_ms >= (int64_t)srv->cfg.audit_checkpoint_secs * 1000)
		audit_checkpoint_now(srv);
}

/* ---- naming people ------------------------------------------------------------- */

void audit_person(char *out, size_t cap, const cc_cert *c)
{
	char buf[CC_USER_ID_MAX + CC_NAME_MAX + CC_ROLE_MAX + CC_ORG_MAX + 16];
	snprintf(buf, sizeof buf, "%s (%s, %s, %s)", c->user_id, c->name, c->role, c->org);
	cc_audit_str_copy(out, cap, buf);
}

/* ---- live deliveries ------------------------------------------------------------ */

/* A pending batch lives in the meta database, in the same transaction as the
 * pushes it counts: a push leaves casusd only after its turn commits
 * (reply.h), so a delivered message always has its batch on disk, and a batch
 * left by a crash is written to the trail at the next start-up. The batch is
 * an audit entry (history_fetch) that has no place in the chain yet, stored
 * with seq 1 as a placeholder. */

#define LIVE_PREFIX_LEN (sizeof CASUS_META_LIVE_PREFIX - 1)
#define LIVE_KEY_LEN (LIVE_PREFIX_LEN + 8 + 16)

static size_t live_key(uint8_t k[LIVE_KEY_LEN], uint64_t sid, const uint8_t cid[16])
{
	memcpy(k, CASUS_META_LIVE_PREFIX, LIVE_PREFIX_LEN);
	store_be64(k + LIVE_PREFIX_LEN, sid);
	memcpy(k + LIVE_PREFIX_LEN + 8, cid, 16);
	return LIVE_KEY_LEN;
}

static void iso_minute(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "?");
}

static void live_object(cc_audit_entry *e, int64_t first_ms, int64_t last_ms)
{
	char a[32], b[32];
	iso_minute(first_ms, a);
	iso_minute(last_ms, b);
	snprintf(e->object, sizeof e->object, "%s: messages %u, first %s, last %s", CASUS_AUDIT_LIVE_OBJECT,
	         (unsigned)e->n_msg_ids, a, b);
}

static int live_store(struct server *srv, const uint8_t *k, cc_audit_entry *e)
{
	cc_wbuf w;
	cc_w_init(&w);
	int rc = cc_audit_entry_encode(e, &w);
	if (rc == CC_OK && !w.err)
		rc = store_put(&srv->st, DB_META, k, LIVE_KEY_LEN, w.p, w.len, 0);
	else if (rc == CC_OK)
		rc = -1;
	cc_w_free(&w);
	return rc;
}

/* Move one stored batch into the trail and delete it (current transaction). */
static void live_flush_one(struct server *srv, const uint8_t *k, const uint8_t *v, size_t vl)
{
	cc_audit_entry e;
	uint8_t key[LIVE_KEY_LEN];
	memcpy(key, k, LIVE_KEY_LEN);
	if (cc_audit_entry_decode(v, vl, &e) != CC_OK) {
		/* unreadable: keep it out of the trail but say so loudly */
		log_event(LOG_ERROR, "audit.live_batch_unreadable", NULL);
	} else {
		e.seq = 0;
		audit_log(srv, NULL, &e); /* keeps the actor stored with the batch; time = now */
	}
	if (store_del(&srv->st, DB_META, key, LIVE_KEY_LEN) != 0)
		fail_turn(srv, "live_batch_delete", CC_AUDIT_EV_HISTORY_FETCH);
}

void audit_live_read(struct server *srv, const struct session *s, const uint8_t cid[16], const char *purpose,
                     const char *basis, uint8_t level, uint64_t seq, const uint8_t msg_id[16])
{
	uint8_t k[LIVE_KEY_LEN];
	live_key(k, s->sid, cid);
	cc_audit_entry e;
	MDB_val v;
	int64_t now = clock_wall_ms(), first = now;
	if (store_get(&srv->st, DB_META, k, LIVE_KEY_LEN, &v) == 0 &&
	    cc_audit_entry_decode(v.mv_data, v.mv_size, &e) == CC_OK && e.n_msg_ids < CC_AUDIT_MSG_IDS_MAX) {
		first = e.time_ms;
		if (seq < e.seq_from)
			e.seq_from = seq;
		if (seq > e.seq_to)
			e.seq_to = seq;
	} else {
		cc_audit_entry_init(&e);
		e.version = CC_AUDIT_VERSION;
		e.seq = 1;
		e.event = CC_AUDIT_EV_HISTORY_FETCH;
		e.time_ms = now;
		memcpy(e.casus_id, cid, 16);
		cc_audit_str_copy(e.purpose, sizeof e.purpose, purpose);
		cc_audit_str_copy(e.legal_basis, sizeof e.legal_basis, basis);
		cc_audit_str_copy(e.access_point, sizeof e.access_point, s->peer);
		cc_audit_str_copy(e.actor_user, sizeof e.actor_user, s->cert.user_id);
		memcpy(e.actor_device, s->cert.device_id, CC_AUDIT_ID_BYTES);
		cc_audit_str_copy(e.actor_role, sizeof e.actor_role, s->cert.role);
		cc_audit_str_copy(e.actor_org, sizeof e.actor_org, s->cert.org);
		e.seq_from = e.seq_to = seq;
	}
	e.level = level;
	memcpy(e.msg_ids[e.n_msg_ids++], msg_id, 16);
	srv->audit->live_maybe = 1;
	live_object(&e, first, now);
	if (e.n_msg_ids == CC_AUDIT_MSG_IDS_MAX) {
		/* full: into the trail now, in this request */
		e.seq = 0;
		audit_log(srv, NULL, &e);
		if (store_del(&srv->st, DB_META, k, LIVE_KEY_LEN) != 0 &&
		    store_get(&srv->st, DB_META, k, LIVE_KEY_LEN, &v) == 0)
			fail_turn(srv, "live_batch_delete", CC_AUDIT_EV_HISTORY_FETCH);
		return;
	}
	if (live_store(srv, k, &e) != 0) {
		/* a delivery must not leave without its record */
		log_event(LOG_ERROR, "audit.live_batch_store_failed", "sid=%llu", (unsigned long long)s->sid);
		fail_turn(srv, "live_batch_store", CC_AUDIT_EV_HISTORY_FETCH);
	}
}

/* Walk the stored batches (of one session if sid != 0) in the current
 * transaction and move those due into the trail. */
static void live_flush(struct server *srv, uint64_t sid, int64_t older_than_ms)
{
	if (!srv->audit->live_maybe)
		return;
	MDB_cursor *cur = NULL;
	uint8_t start[LIVE_PREFIX_LEN + 8];
	memcpy(start, CASUS_META_LIVE_PREFIX, LIVE_PREFIX_LEN);
	store_be64(start + LIVE_PREFIX_LEN, sid);
	size_t plen = sid ? sizeof start : LIVE_PREFIX_LEN;
	if (!store_txn(&srv->st) || mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_META], &cur) != 0)
		return;
	/* collect first: deleting under a cursor walk is avoided */
	uint8_t(*due)[LIVE_KEY_LEN] = NULL;
	size_t ndue = 0, cap = 0, left = 0;
	MDB_val k = {plen, start}, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size < plen || memcmp(k.mv_data, start, plen) != 0)
			break;
		if (k.mv_size != LIVE_KEY_LEN)
			continue;
		left++;
		if (older_than_ms) {
			cc_audit_entry e;
			if (cc_audit_entry_decode(v.mv_data, v.mv_size, &e) == CC_OK && e.time_ms > older_than_ms)
				continue;
		}
		if (ndue == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			uint8_t(*n)[LIVE_KEY_LEN] = realloc(due, ncap * sizeof(*n));
			if (!n)
				break; /* the rest waits for the next flush */
			due = n;
			cap = ncap;
		}
		memcpy(due[ndue++], k.mv_data, LIVE_KEY_LEN);
	}
	mdb_cursor_close(cur);
	for (size_t i = 0; i < ndue; i++) {
		MDB_val bv;
		if (store_get(&srv->st, DB_META, due[i], LIVE_KEY_LEN, &bv) != 0)
			continue;
		/* copy out: bv points into the map and the delete may move it */
		uint8_t *copy = malloc(bv.mv_size ? bv.mv_size : 1);
		if (!copy)
			break;
		memcpy(copy, bv.mv_data, bv.mv_size);
		live_flush_one(srv, due[i], copy, bv.mv_size);
		free(copy);
		left--;
	}
	free(due);
	if (!sid && left == 0)
		srv->audit->live_maybe = 0;
	audit_request_done(srv, 1);
}

void audit_live_session_closed(struct server *srv, uint64_t sid)
{
	if (sid)
		live_flush(srv, sid, 0);
}

void audit_live_flush_all(struct server *srv)
{
	live_flush(srv, 0, 0);
}

void audit_live_tick(struct server *srv)
{
	live_flush(srv, 0, clock_wall_ms() - AUDIT_LIVE_MAX_AGE_MS);
}
