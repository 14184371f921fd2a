/*
 * relay.c: cluster mode's relay between a follower's sessions and the writer
 * (see relay.h). NATS calls its message handlers on its own threads: they only
 * queue the message and wake the loop (lws_cancel_service, the wake-up the
 * verifier threads use); everything else runs on the loop thread.
 */
#include "relay.h"
#include "clock.h"
#include "dispatch.h"
#include "log.h"
#include "loop.h"
#include "outbuf.h"
#include "server.h"

#include <jansson.h>
#include <nats/nats.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RS_BUCKETS 4096u
#define LEASE_KEY "writer"
#define POLL_MS 200u
#define REMOTE_SILENT_MS 15000u /* a follower not heard from for this long: its sessions are dropped */

struct inmsg {
	struct inmsg *next;
	natsMsg *m;
};

/* The writer's record of a session whose connection is on a follower. */
struct rsess {
	struct session s; /* s.remote points back here */
	struct rsess *next;
	uint64_t rsid; /* the follower's session number */
	char reply[128];
	uint64_t seen_ms;
};

/* follower: one of its sessions relayed to the writer, found by number when an
 * answer or push comes back (a walk over every session was one per frame) */
struct fsess {
	uint64_t sid;
	struct session *s;
	struct fsess *next;
};

struct relay {
	struct server *srv;
	int writer; /* 1: the writer's side; 0: a follower's */
	char inc[17];
	natsOptions *opts;
	natsConnection *nc;
	natsSubscription *sub;
	char subject[160]; /* what this node listens on */
	char in_prefix[128];
	/* the inbox, filled by NATS threads */
	pthread_mutex_t mu;
	struct inmsg *head, *tail;
	struct lws_context *wake; /* under mu */
	/* follower: the writer named by the lease (the poller writes under mu) */
	char lease_inc[17];
	char lease_node[64];
	uint64_t lease_changes;
	uint64_t reconnects; /* under mu: NATS reconnections (frames may have been lost) */
	pthread_t poller;
	int polling;
	volatile int stop;
	int quit; /* under mu: the follower's part is over (relay_quit) */
	/* loop thread only */
	uint64_t gen;
	uint64_t reconnects_seen;
	char writer_inc[17];
	unsigned char *buf;
	size_t cap;
	unsigned nremote;
	struct rsess *rs[RS_BUCKETS];
	struct fsess *fs[RS_BUCKETS]; /* follower: its relayed sessions by number */
	struct relay_hooks hooks;
};

void relay_incarnation(char out[17])
{
	uint8_t b[8];
	randombytes_buf(b, sizeof b);
	sodium_bin2hex(out, 17, b, sizeof b);
}

static void nap(unsigned ms)
{
	struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- NATS side (any thread) ------------------------------------------------ */

static void on_msg(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *arg)
{
	struct relay *r = arg;
	(void)nc;
	(void)sub;
	struct inmsg *q = malloc(sizeof(*q));
	if (!q) {
		natsMsg_Destroy(m); /* lost like a dropped connection's frame: the client retries */
		return;
	}
	q->next = NULL;
	q->m = m;
	pthread_mutex_lock(&r->mu);
	if (r->tail)
		r->tail->next = q;
	else
		r->head = q;
	r->tail = q;
	if (r->wake)
		lws_cancel_service(r->wake);
	pthread_mutex_unlock(&r->mu);
}

/* NATS reconnected this node (its server died or the link broke): core NATS
 * delivered nothing to it meanwhile, so a frame or a reply in either direction
 * may be lost. Every session relayed over the old link ends (the clients
 * reconnect and resend; a resent post is idempotent by its message id): on a
 * follower as when the writer changes, on the writer by dropping the remote
 * sessions (w_tick). */
static void on_reconnected(natsConnection *nc, void *arg)
{
	struct relay *r = arg;
	(void)nc;
	pthread_mutex_lock(&r->mu);
	r->reconnects++;
	if (!r->writer)
		r->lease_changes++;
	if (r->wake)
		lws_cancel_service(r->wake);
	pthread_mutex_unlock(&r->mu);
}

void relay_wake(struct relay *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	if (r->wake)
		lws_cancel_service(r->wake);
	pthread_mutex_unlock(&r->mu);
}

void relay_quit(struct relay *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->quit = 1;
	if (r->wake)
		lws_cancel_service(r->wake);
	pthread_mutex_unlock(&r->mu);
}

void relay_detach(struct relay *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->wake = NULL;
	pthread_mutex_unlock(&r->mu);
}

/* Publish kind | sid | a | b to subj (reply subject: ours). Loop thread.
 * 0 sent; -1 larger than NATS carries; -2 not sent (memory, NATS). */
static int send_msg(struct relay *r, const char *subj, char kind, uint64_t sid, const void *a, size_t alen,
                    const void *b, size_t blen)
{
	size_t need = 9 + alen + blen;
	if (need > (size_t)natsConnection_GetMaxPayload(r->nc)) {
		log_event(LOG_WARN, "relay.too_large", "bytes=%zu", need);
		return -1;
	}
	if (need > r->cap) {
		size_t nc = r->cap ? r->cap : 4096;
		while (nc < need)
			nc *= 2;
		unsigned char *n = realloc(r->buf, nc);
		if (!n)
			return -2;
		r->buf = n;
		r->cap = nc;
	}
	r->buf[0] = (unsigned char)kind;
	for (int i = 0; i < 8; i++)
		r->buf[1 + i] = (unsigned char)(sid >> (56 - 8 * i));
	if (alen)
		memcpy(r->buf + 9, a, alen);
	if (blen)
		memcpy(r->buf + 9 + alen, b, blen);
	natsStatus s = natsConnection_PublishRequest(r->nc, subj, r->subject, r->buf, (int)need);
	if (s != NATS_OK) {
		log_event(LOG_WARN, "relay.publish_failed", "err=\"%s\"", natsStatus_GetText(s));
		return -2;
	}
	return 0;
}

static struct inmsg *take_all(struct relay *r)
{
	pthread_mutex_lock(&r->mu);
	struct inmsg *q = r->head;
	r->head = r->tail = NULL;
	pthread_mutex_unlock(&r->mu);
	return q;
}

/* Put what a turn did not take back in front of what arrived meanwhile, and
 * wake the loop for another turn. */
static void requeue(struct relay *r, struct inmsg *q)
{
	struct inmsg *last = q;
	while (last->next)
		last = last->next;
	pthread_mutex_lock(&r->mu);
	last->next = r->head;
	r->head = q;
	if (!r->tail)
		r->tail = last;
	if (r->wake)
		lws_cancel_service(r->wake);
	pthread_mutex_unlock(&r->mu);
}

/* kind and session number of a message; -1 if it is too short. */
static int parse_head(natsMsg *m, char *kind, uint64_t *sid, const unsigned char **p, size_t *len)
{
	int n = natsMsg_GetDataLength(m);
	const unsigned char *d = (const unsigned char *)natsMsg_GetData(m);
	if (n < 9 || !d)
		return -1;
	*kind = (char)d[0];
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | d[1 + i];
	*sid = v;
	*p = d + 9;
	*len = (size_t)n - 9;
	return 0;
}

static int connect_nats(struct relay *r, const struct config *cfg)
{
	const struct cluster_config *k = &cfg->cluster;
	const char *urls[CLUSTER_MAX_URLS];
	for (int i = 0; i < k->n_nats; i++)
		urls[i] = k->nats[i];
	natsStatus s = natsOptions_Create(&r->opts);
	if (s == NATS_OK)
		s = natsOptions_SetServers(r->opts, urls, k->n_nats);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(r->opts, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(r->opts, 100);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(r->opts, 2000);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(r->opts, on_reconnected, r);
	if (s != NATS_OK)
		return -1;
	s = natsConnection_Connect(&r->nc, r->opts);
	return s == NATS_OK ? 0 : -1;
}

static int subscribe(struct relay *r)
{
	if (natsConnection_Subscribe(&r->sub, r->nc, r->subject, on_msg, r) != NATS_OK)
		return -1;
	/* a burst of frames must not be dropped as a slow consumer's */
	(void)natsSubscription_SetPendingLimits(r->sub, 1000000, 512 * 1024 * 1024);
	return 0;
}

static struct relay *relay_new(struct server *srv, const char *inc, int writer)
{
	struct relay *r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->srv = srv;
	r->writer = writer;
	snprintf(r->inc, sizeof r->inc, "%s", inc);
	pthread_mutex_init(&r->mu, NULL);
	snprintf(r->in_prefix, sizeof r->in_prefix, "casus.%s.in.", srv->cfg.cluster.stream);
	if (writer)
		snprintf(r->subject, sizeof r->subject, "casus.%s.in.%s", srv->cfg.cluster.stream, inc);
	else
		snprintf(r->subject, sizeof r->subject, "casus.%s.out.%s", srv->cfg.cluster.stream, inc);
	return r;
}

/* ---- the follower ------------------------------------------------------------ */

/* The lease names the writer: poll it (a lapsed lease leaves no event to watch). */
static void *poll_main(void *arg)
{
	struct relay *r = arg;
	const struct cluster_config *k = &r->srv->cfg.cluster;
	jsCtx *js = NULL;
	kvStore *kv = NULL;
	while (!r->stop) {
		if (!js && natsConnection_JetStream(&js, r->nc, NULL) != NATS_OK)
			js = NULL;
		if (js && !kv && js_KeyValue(&kv, js, k->lease_bucket) != NATS_OK)
			kv = NULL;
		if (!kv) {
			nap(POLL_MS);
			continue;
		}
		char inc[17] = "", node[64] = "";
		kvEntry *e = NULL;
		natsStatus s = kvStore_Get(&e, kv, LEASE_KEY);
		if (s == NATS_OK && e) {
			json_t *v = json_loadb(kvEntry_Value(e), (size_t)kvEntry_ValueLen(e), 0, NULL);
			const char *i = v ? json_string_value(json_object_get(v, "inc")) : NULL;
			const char *n = v ? json_string_value(json_object_get(v, "node")) : NULL;
			if (i && strlen(i) == 16)
				snprintf(inc, sizeof inc, "%s", i);
			if (n)
				snprintf(node, sizeof node, "%s", n);
			json_decref(v);
			kvEntry_Destroy(e);
		} else if (s != NATS_NOT_FOUND) {
			nap(POLL_MS); /* NATS unreachable: keep what we knew */
			continue;
		}
		pthread_mutex_lock(&r->mu);
		if (strcmp(inc, r->lease_inc) != 0) {
			snprintf(r->lease_inc, sizeof r->lease_inc, "%s", inc);
			snprintf(r->lease_node, sizeof r->lease_node, "%s", node);
			r->lease_changes++;
			if (r->wake)
				lws_cancel_service(r->wake);
		}
		pthread_mutex_unlock(&r->mu);
		nap(POLL_MS);
	}
	if (kv)
		kvStore_Destroy(kv);
	if (js)
		jsCtx_Destroy(js);
	return NULL;
}

static int send_to_writer(struct relay *r, char kind, uint64_t sid, const void *a, size_t alen)
{
	char subj[160];
	snprintf(subj, sizeof subj, "%s%s", r->in_prefix, r->writer_inc);
	return send_msg(r, subj, kind, sid, a, alen, NULL, 0);
}

static void refresh_writer(struct relay *r, struct server *srv);

static size_t fs_bucket(uint64_t sid)
{
	return (size_t)((sid * 0x9e3779b97f4a7c15ULL) >> 40) % RS_BUCKETS;
}

static int fs_add(struct relay *r, struct session *s)
{
	struct fsess *f = malloc(sizeof(*f));
	if (!f)
		return -1;
	f->sid = s->sid;
	f->s = s;
	size_t b = fs_bucket(s->sid);
	f->next = r->fs[b];
	r->fs[b] = f;
	return 0;
}

static void fs_del(struct relay *r, const struct session *s)
{
	for (struct fsess **pp = &r->fs[fs_bucket(s->sid)]; *pp; pp = &(*pp)->next)
		if ((*pp)->s == s) {
			struct fsess *f = *pp;
			*pp = f->next;
			free(f);
			return;
		}
}

static void f_opened(struct session *s, void *arg)
{
	struct relay *r = arg;
	refresh_writer(r, s->srv); /* the lease as the poller saw it last, not as of this turn's start */
	if (!r->writer_inc[0]) {
		session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "no writer at the moment: try again or another node");
		return;
	}
	s->relay_gen = r->gen;
	if (fs_add(r, s) != 0) {
		session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "server busy: try again or another node");
		return;
	}
	if (send_to_writer(r, 'O', s->sid, s->peer, strlen(s->peer)) != 0)
		session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "relay lost: reconnect");
}

static void f_frame(struct session *s, const unsigned char *f, size_t len, void *arg)
{
	struct relay *r = arg;
	if (s->relay_gen != r->gen || !r->writer_inc[0] || s->close_pending)
		return; /* its writer is gone: the session is being closed */
	/* a frame NATS did not take is not lost in silence: the session ends and
	 * the client resends after reconnecting (a post is idempotent by its id) */
	if (send_to_writer(r, 'F', s->sid, f, len) != 0)
		session_close(s, LWS_CLOSE_STATUS_GOINGAWAY, "relay lost: reconnect");
}

static void f_gone(struct session *s, void *arg)
{
	struct relay *r = arg;
	fs_del(r, s);
	if (s->relay_gen == r->gen && r->writer_inc[0])
		(void)send_to_writer(r, 'C', s->sid, NULL, 0); /* not sent: the writer drops it when silent */
}

static struct session *local_session(struct relay *r, struct server *srv, uint64_t sid)
{
	for (struct fsess *f = r->fs[fs_bucket(sid)]; f; f = f->next)
		if (f->sid == sid && f->s->srv == srv)
			return f->s;
	return NULL;
}

/* Take the writer the poller saw; when it changed, the sessions relayed to
 * the former one end (the clients reconnect). */
static void refresh_writer(struct relay *r, struct server *srv)
{
	pthread_mutex_lock(&r->mu);
	if (r->quit)
		srv->stop = 1;
	uint64_t changes = r->lease_changes, reconnects = r->reconnects;
	char inc[17];
	snprintf(inc, sizeof inc, "%s", r->lease_inc);
	pthread_mutex_unlock(&r->mu);
	if (changes != r->gen) {
		/* another writer, or none, or a NATS reconnection: the sessions relayed
		 * so far end; the clients reconnect */
		int lost = reconnects != r->reconnects_seen;
		r->reconnects_seen = reconnects;
		r->gen = changes;
		snprintf(r->writer_inc, sizeof r->writer_inc, "%s", inc);
		unsigned n = 0;
		for (struct session *s = srv->sessions; s; s = s->next)
			if (s->relay_gen != r->gen && !s->close_pending) {
				session_close(s, LWS_CLOSE_STATUS_GOINGAWAY,
				              lost ? "relay lost: reconnect" : "the writer changed: reconnect");
				n++;
			}
		log_event(LOG_INFO, lost ? "relay.reconnected" : "relay.writer", "inc=%s closed=%u",
		          inc[0] ? inc : "none", n);
	}
}

static void f_turn(struct server *srv, int phase, void *arg)
{
	struct relay *r = arg;
	if (phase != 0)
		return;
	refresh_writer(r, srv);
	for (struct inmsg *q = take_all(r); q;) {
		struct inmsg *next = q->next;
		char kind;
		uint64_t sid;
		const unsigned char *p;
		size_t len;
		struct session *s = NULL;
		if (parse_head(q->m, &kind, &sid, &p, &len) == 0 && (s = local_session(r, srv, sid)) &&
		    s->relay_gen == r->gen) {
			if (kind == 'F') {
				struct outbuf *b = outbuf_new(len);
				if (b) {
					memcpy(b->data + REPLY_PRE, p, len);
					loop_deliver(s, b);
				}
			} else if (kind == 'X' && len >= 2) {
				size_t tl = len - 2 < sizeof s->close_text - 1 ? len - 2 : sizeof s->close_text - 1;
				memcpy(s->close_text, p + 2, tl);
				s->close_text[tl] = '\0';
				session_close(s, (enum lws_close_status)((unsigned)p[0] << 8 | p[1]), s->close_text);
			}
		}
		natsMsg_Destroy(q->m);
		free(q);
		q = next;
	}
}

static void f_tick(struct server *srv, void *arg)
{
	struct relay *r = arg;
	(void)srv;
	if (r->writer_inc[0])
		(void)send_to_writer(r, 'B', 0, NULL, 0); /* the writer keeps this node's sessions */
}

static int f_healthz(struct server *srv, char *body, size_t cap, void *arg)
{
	struct relay *r = arg;
	(void)srv;
	pthread_mutex_lock(&r->mu);
	int ok = r->lease_inc[0] != '\0';
	if (ok)
		snprintf(body, cap, "ok follower of %s", r->lease_node);
	else
		snprintf(body, cap, "follower without a writer (take-over under way)");
	pthread_mutex_unlock(&r->mu);
	return ok;
}

struct relay *relay_follower_start(struct server *srv, const char *inc, volatile const sig_atomic_t *stop)
{
	struct relay *r = relay_new(srv, inc, 0);
	if (!r)
		return NULL;
	while (connect_nats(r, &srv->cfg) != 0) {
		if (r->opts) {
			natsOptions_Destroy(r->opts);
			r->opts = NULL;
		}
		if (*stop) {
			relay_stop(r);
			return NULL;
		}
		log_event(LOG_WARN, "relay.nats_unreachable", NULL);
		nap(500);
	}
	if (subscribe(r) != 0 || pthread_create(&r->poller, NULL, poll_main, r) != 0) {
		relay_stop(r);
		return NULL;
	}
	r->polling = 1;
	r->hooks.opened = f_opened;
	r->hooks.frame = f_frame;
	r->hooks.gone = f_gone;
	r->hooks.turn = f_turn;
	r->hooks.tick = f_tick;
	r->hooks.healthz = f_healthz;
	r->hooks.arg = r;
	srv->relay = &r->hooks;
	return r;
}

/* ---- the writer --------------------------------------------------------------- */

static size_t rs_bucket(const char *reply, uint64_t rsid)
{
	uint64_t h = 1469598103934665603ULL;
	for (const char *c = reply; *c; c++)
		h = (h ^ (unsigned char)*c) * 1099511628211ULL;
	h ^= rsid * 0x9e3779b97f4a7c15ULL;
	return (size_t)(h % RS_BUCKETS);
}

static struct rsess *rs_find(struct relay *r, const char *reply, uint64_t rsid)
{
	for (struct rsess *x = r->rs[rs_bucket(reply, rsid)]; x; x = x->next)
		if (x->rsid == rsid && strcmp(x->reply, reply) == 0)
			return x;
	return NULL;
}

static void rs_drop(struct relay *r, struct rsess *x)
{
	struct rsess **pp = &r->rs[rs_bucket(x->reply, x->rsid)];
	while (*pp && *pp != x)
		pp = &(*pp)->next;
	if (*pp)
		*pp = x->next;
	loop_remote_gone(r->srv, &x->s);
	r->nremote--;
	free(x);
}

static void send_close(struct relay *r, const char *reply, uint64_t rsid, unsigned code, const char *why)
{
	unsigned char c[2] = {(unsigned char)(code >> 8), (unsigned char)code};
	(void)send_msg(r, reply, 'X', rsid, c, 2, why,
	               strlen(why)); /* not sent: NATS failed, and its reconnection ends the follower's sessions */
}

static void w_out(struct session *s, struct outbuf *b, void *arg)
{
	struct relay *r = arg;
	struct rsess *x = s->remote;
	/* An answer or push that cannot be relayed is not dropped in silence: the
	 * session ends (nothing after it leaves either), its client sees why and
	 * reconnects. History and commit pages are built to fit (max_out), so this is an
	 * answer no page bound covers, or NATS failing. */
	int rc = s->drop_output ? 0 : send_msg(r, x->reply, 'F', x->rsid, b->data + REPLY_PRE, b->len, NULL, 0);
	if (rc != 0) {
		int big = rc == -1;
		log_event(LOG_WARN, "relay.answer_lost", "bytes=%zu reason=%s", b->len, big ? "too_large" : "not_sent");
		s->drop_output = 1;
		session_close(s, big ? LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE : LWS_CLOSE_STATUS_GOINGAWAY,
		              big ? "answer too large to relay: reconnect to the writer" : "relay lost: reconnect");
	}
	outbuf_unref(b);
}

static void w_turn(struct server *srv, int phase, void *arg)
{
	struct relay *r = arg;
	if (phase == 1) {
		/* sessions closed this turn (by a handler, the rate limit, the auth
		 * timeout, a revocation): their replies went out, now the close */
		if (!r->nremote)
			return;
		for (size_t b = 0; b < RS_BUCKETS; b++)
			for (struct rsess *x = r->rs[b], *nx; x; x = nx) {
				nx = x->next;
				if (!x->s.close_pending)
					continue;
				send_close(r, x->reply, x->rsid, (unsigned)x->s.close_code,
				           x->s.close_reason ? x->s.close_reason : "");
				rs_drop(r, x);
			}
		return;
	}
	uint64_t now = clock_mono_ms();
	/* Relayed frames join this turn's transaction, whose writes go to the
	 * stream as one NATS message: they count towards the turn's cap as local
	 * frames do (loop_turn_full); what the turn does not take waits, in order,
	 * for the next one (bursts of large notes made entries over max_payload,
	 * and each such turn failed: cluster.entry_too_large) */
	for (struct inmsg *q = take_all(r); q;) {
		if (loop_turn_full(srv)) {
			requeue(r, q);
			break;
		}
		srv->turn_in_bytes += (size_t)natsMsg_GetDataLength(q->m);
		struct inmsg *next = q->next;
		char kind;
		uint64_t rsid;
		const unsigned char *p;
		size_t len;
		const char *reply = natsMsg_GetReply(q->m);
		if (parse_head(q->m, &kind, &rsid, &p, &len) == 0 && reply &&
		    strlen(reply) < sizeof(((struct rsess *)0)->reply)) {
			struct rsess *x = kind == 'B' ? NULL : rs_find(r, reply, rsid);
			if (kind == 'O' && !x) {
				char peer[48];
				size_t pl = len < sizeof peer - 1 ? len : sizeof peer - 1;
				memcpy(peer, p, pl);
				peer[pl] = '\0';
				x = calloc(1, sizeof(*x));
				if (!x || loop_remote_open(srv, &x->s, peer) != 0) {
					free(x);
					send_close(r, reply, rsid, LWS_CLOSE_STATUS_POLICY_VIOLATION,
					           "connection limit");
				} else {
					x->s.remote = x;
					x->rsid = rsid;
					snprintf(x->reply, sizeof x->reply, "%s", reply);
					x->seen_ms = now;
					size_t b = rs_bucket(reply, rsid);
					x->next = r->rs[b];
					r->rs[b] = x;
					r->nremote++;
				}
			} else if (kind == 'F' && !x) {
				send_close(r, reply, rsid, LWS_CLOSE_STATUS_GOINGAWAY, "unknown session: reconnect");
			} else if (kind == 'F') {
				x->seen_ms = now;
				size_t cap = x->s.state == SS_AUTHED ? srv->cfg.lim.max_frame
				                                     : srv->cfg.lim.max_frame_preauth;
				if (x->s.close_pending) {
					/* closing: further input is ignored, as on a connection */
				} else if (len > cap) {
					srv->m.frames_rejected++;
					session_close(&x->s, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, "frame too large");
				} else {
					x->s.rx_ns = clock_mono_ns();
					dispatch_frame(&x->s, p, len);
				}
			} else if (kind == 'C' && x) {
				rs_drop(r, x);
			} else if (kind == 'B') {
				for (size_t b = 0; b < RS_BUCKETS && r->nremote; b++)
					for (struct rsess *y = r->rs[b]; y; y = y->next)
						if (strcmp(y->reply, reply) == 0)
							y->seen_ms = now;
			}
		}
		natsMsg_Destroy(q->m);
		free(q);
		q = next;
	}
}

static void w_tick(struct server *srv, void *arg)
{
	struct relay *r = arg;
	(void)srv;
	pthread_mutex_lock(&r->mu);
	uint64_t reconnects = r->reconnects;
	pthread_mutex_unlock(&r->mu);
	if (reconnects != r->reconnects_seen) {
		/* NATS reconnected the writer: frames to and from followers may be
		 * lost, so every remote session ends (on_reconnected) */
		r->reconnects_seen = reconnects;
		unsigned n = r->nremote;
		for (size_t b = 0; b < RS_BUCKETS && r->nremote; b++)
			for (struct rsess *x = r->rs[b], *nx; x; x = nx) {
				nx = x->next;
				send_close(r, x->reply, x->rsid, LWS_CLOSE_STATUS_GOINGAWAY, "relay lost: reconnect");
				rs_drop(r, x);
			}
		log_event(LOG_INFO, "relay.reconnected", "remote_sessions_closed=%u", n);
	}
	if (!r->nremote)
		return;
	uint64_t now = clock_mono_ms();
	for (size_t b = 0; b < RS_BUCKETS; b++)
		for (struct rsess *x = r->rs[b], *nx; x; x = nx) {
			nx = x->next;
			if (now - x->seen_ms < REMOTE_SILENT_MS)
				continue;
			log_event(LOG_WARN, "relay.node_silent", "sid=%llu", (unsigned long long)x->s.sid);
			send_close(r, x->reply, x->rsid, LWS_CLOSE_STATUS_GOINGAWAY, "relay lost: reconnect");
			rs_drop(r, x);
		}
}

struct relay *relay_writer_start(struct server *srv, const char *inc)
{
	struct relay *r = relay_new(srv, inc, 1);
	if (!r)
		return NULL;
	if (connect_nats(r, &srv->cfg) != 0 || subscribe(r) != 0) {
		relay_stop(r);
		return NULL;
	}
	pthread_mutex_lock(&r->mu);
	r->wake = srv->ctx;
	pthread_mutex_unlock(&r->mu);
	int64_t maxp = natsConnection_GetMaxPayload(r->nc);
	r->hooks.max_out = maxp > 9 ? (size_t)maxp - 9 : 0;
	/* frames a turn takes: a quarter of what one stream entry may carry (a
	 * stored note is smaller than its base64 frame; audit entries add little) */
	srv->turn_in_cap = r->hooks.max_out / 4;
	r->hooks.out = w_out;
	r->hooks.turn = w_turn;
	r->hooks.tick = w_tick;
	r->hooks.arg = r;
	srv->relay = &r->hooks;
	log_event(LOG_INFO, "relay.writer_listening", "subject=%s", r->subject);
	return r;
}

void relay_attach(struct relay *r)
{
	if (!r)
		return;
	pthread_mutex_lock(&r->mu);
	r->wake = r->srv->ctx;
	pthread_mutex_unlock(&r->mu);
}

void relay_close_all(struct relay *r)
{
	if (!r)
		return;
	for (size_t b = 0; b < RS_BUCKETS; b++)
		while (r->rs[b]) {
			struct rsess *x = r->rs[b];
			send_close(r, x->reply, x->rsid, LWS_CLOSE_STATUS_GOINGAWAY, "server stopping");
			rs_drop(r, x);
		}
}

void relay_retire(struct relay *r)
{
	if (!r)
		return;
	if (r->sub) {
		natsSubscription_Unsubscribe(r->sub);
		natsSubscription_Destroy(r->sub);
		r->sub = NULL;
	}
	r->stop = 1;
	if (r->polling) {
		pthread_join(r->poller, NULL);
		r->polling = 0;
	}
	if (r->srv && r->srv->relay == &r->hooks)
		r->srv->relay = NULL;
	r->srv = NULL;
}

void relay_stop(struct relay *r)
{
	if (!r)
		return;
	relay_retire(r);
	/* the writer's remote sessions, the follower's index (server_free has run:
	 * only memory is left) */
	for (size_t b = 0; b < RS_BUCKETS; b++) {
		while (r->rs[b]) {
			struct rsess *x = r->rs[b];
			r->rs[b] = x->next;
			free(x);
		}
		while (r->fs[b]) {
			struct fsess *f = r->fs[b];
			r->fs[b] = f->next;
			free(f);
		}
	}
	if (r->nc) {
		(void)natsConnection_FlushTimeout(r->nc, 200);
		natsConnection_Destroy(r->nc);
	}
	if (r->opts)
		natsOptions_Destroy(r->opts);
	for (struct inmsg *q = take_all(r); q;) {
		struct inmsg *next = q->next;
		natsMsg_Destroy(q->m);
		free(q);
		q = next;
	}
	pthread_mutex_destroy(&r->mu);
	free(r->buf);
	free(r);
}
