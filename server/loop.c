/*
 * loop.c: casusd's event loop, WebSocket sessions, send queues and keepalive
 * (see loop.h; server.h for the flow of a turn).
 *
 * One thread runs libev (epoll) with libwebsockets on it. Incoming text frames
 * are collected up to the session's frame cap (lws has no maximum-message
 * setting) and handed to dispatch_frame(); at the end of each turn
 * dispatch_turn_end() commits and hands back the replies and pushes, which go
 * onto the send queues here. The loop calls nothing of the rooms but dispatch.
 */
#include "loop.h"
#include "dispatch.h"
#include "log.h"
#include "ops.h"
#include "outbuf.h"
#include "schema.h"
#include "server.h"
#include "verify.h"
#include "web.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <proto.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* Send-queue nodes are reused (one per frame sent: a malloc and a free each
 * on the hot path otherwise). Loop thread only; at most OUTQ_SPARE kept. */
#define OUTQ_SPARE 16384u
static struct outq *outq_spare;
static unsigned outq_nspare;

static struct outq *outq_alloc(void)
{
	struct outq *q = outq_spare;
	if (q) {
		outq_spare = q->next;
		outq_nspare--;
		return q;
	}
	return malloc(sizeof(*q));
}

static void outq_free(struct outq *q)
{
	if (outq_nspare >= OUTQ_SPARE) {
		free(q);
		return;
	}
	q->next = outq_spare;
	outq_spare = q;
	outq_nspare++;
}

/* Close a slow reader: drop what is queued, queue nothing more, close. It
 * catches up from history when it reconnects. */
static void slow_close(struct session *s, const char *why)
{
	s->srv->m.slow_closed++;
	log_event(LOG_WARN, "session.slow_reader", "sid=%llu why=%s queued=%u bytes=%zu", (unsigned long long)s->sid,
	          why, s->qcount, s->qbytes + s->pending_bytes);
	s->drop_output = 1;
	while (s->qhead) {
		struct outq *q = s->qhead;
		s->qhead = q->next;
		outbuf_unref(q->buf);
		outq_free(q);
	}
	s->qtail = NULL;
	s->qcount = 0;
	s->qbytes = 0;
	session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "slow reader: catch up from history");
}

/* Put a frame on a session's send queue now (reply_release's delivery). A
 * queue over max_queue frames or max_queue_bytes bytes marks a slow reader. */
static void enqueue(struct session *s, struct outbuf *buf, void *arg)
{
	(void)arg;
	if (s->remote && s->srv && s->srv->relay) {
		/* a session on another node (cluster mode): out by NATS (relay.c) */
		s->srv->relay->out(s, buf, s->srv->relay->arg);
		return;
	}
	if (s->state == SS_CLOSING || s->drop_output) {
		outbuf_unref(buf);
		return;
	}
	const struct limits *l = &s->srv->cfg.lim;
	if (s->qcount >= l->max_queue || buf->len > l->max_queue_bytes - s->qbytes || s->qbytes > l->max_queue_bytes) {
		outbuf_unref(buf);
		slow_close(s, s->qcount >= l->max_queue ? "frames" : "bytes");
		return;
	}
	struct outq *q = outq_alloc();
	if (!q) {
		outbuf_unref(buf);
		return;
	}
	q->next = NULL;
	q->buf = buf;
	if (!s->qhead && !(s->wsi && lws_partial_buffered(s->wsi)))
		s->tx_progress_ms = clock_mono_ms(); /* the stall clock starts with the first unsent byte */
	if (s->qtail)
		s->qtail->next = q;
	else
		s->qhead = q;
	s->qtail = q;
	s->qcount++;
	s->qbytes += buf->len;
	if (s->qbytes > s->srv->qbytes_max)
		s->srv->qbytes_max = s->qbytes;
	lws_callback_on_writable(s->wsi);
}

/* ---- per-turn work budget --------------------------------------------------
 * One session cannot hold the loop: in one turn casusd handles at most
 * limits.turn_requests (16) of a session's requests, and none once the replies
 * built for it in this turn reach limits.turn_bytes (1 MiB). Its further
 * frames wait (struct held) and reading from its socket pauses (lws rx flow
 * control, a reason bit of our own, apart from the verifier's) until a later
 * turn, while the other sessions are served in this one. Replies are
 * produced as the socket drains: while a session's send queue holds
 * limits.drain_bytes (1 MiB) or more, its next request waits for the writeable
 * callback to take the queue below that, so a member asking for pages faster
 * than it reads holds at most one page (history_page_bytes) above drain_bytes
 * in casusd, and TCP pushes back on it. */
/* A msg.post handed to the verifiers costs the loop only its check step: it
 * counts POST_UNITS of a request's REQ_UNITS, so a posting session gets up to
 * turn_requests * REQ_UNITS / POST_UNITS (128 by default) posts into one
 * turn, and one commit, instead of 16 (the rest of what lws read had to be
 * copied aside and waited for the next commit). Its verifier queue still bounds it
 * (VERIFY_QUEUE_SOFT pauses its input). */
#define REQ_UNITS 8u
#define POST_UNITS 1u
#define RXFLOW_BUDGET (1 << 1) /* lws_rx_flow_control reason bit (the verifier uses USER_BOOL) */
/* memory: malloc_trim once a tick after TRIM_DUE bytes of frames were freed */
#define TRIM_DUE (4u << 20)

/* ---- sending ------------------------------------------------------------------
 * Several small frames queued for one session leave in one write: each gets
 * its WebSocket header here (a server's frames are not masked, RFC 6455 5.2;
 * FIN, opcode text, 7- or 16-bit length) in one buffer, written with
 * lws_write(LWS_WRITE_HTTP), which libwebsockets 4.1 sends as it is on a
 * WebSocket connection (no frame of its own around it; a partial write is
 * kept in its buffer like any other). casusd negotiates no extension, so no
 * frame needs the RSV bits. Flat out a member gets one push per stored
 * message: this takes its ~100 pushes of a commit from ~100 send() calls (and
 * TLS records) to a few. A frame over TX_BATCH_FRAME, a frame alone in the
 * queue or followed by a large one, and every frame of a WebSocket carried in
 * an HTTP/2 stream (whose wsi has no socket of its own: lws must frame those)
 * go out with lws_write(LWS_WRITE_TEXT) as before. */
#define TX_BATCH (64u << 10)
#define TX_BATCH_FRAME (16u << 10)
_Static_assert(TX_BATCH_FRAME < 65536 && TX_BATCH_FRAME + 4 <= TX_BATCH, "a batched frame needs a 2- or 4-byte header");
static unsigned char tx_batch[LWS_PRE + TX_BATCH]; /* the loop's thread only */

static int batchable(const struct session *s, struct lws *wsi)
{
	const struct outq *q = s->qhead;
	return q && q->next && q->buf->len <= TX_BATCH_FRAME && q->next->buf->len <= TX_BATCH_FRAME &&
	       lws_get_network_wsi(wsi) == wsi;
}

size_t loop_ws_header(unsigned char *out, size_t len)
{
	out[0] = 0x81; /* FIN, text */
	if (len < 126) {
		out[1] = (unsigned char)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (unsigned char)(len >> 8);
		out[3] = (unsigned char)(len & 0xff);
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
	return 10;
}

static void dequeue_sent(struct session *s)
{
	struct outq *q = s->qhead;
	s->qhead = q->next;
	if (!s->qhead)
		s->qtail = NULL;
	s->qcount--;
	s->qbytes -= q->buf->len;
	if (q->buf->len >= 65536)
		s->srv->trim_due += q->buf->len;
	outbuf_unref(q->buf);
	outq_free(q);
}

/* the queue's leading small frames, each with its header, in one write */
static int write_batch(struct session *s, struct lws *wsi)
{
	unsigned char *p = tx_batch + LWS_PRE;
	size_t used = 0, nframes = 0;
	uint64_t t0[256];
	for (struct outq *q = s->qhead; q && nframes < sizeof t0 / sizeof t0[0] && q->buf->len <= TX_BATCH_FRAME &&
	                                used + 4 + q->buf->len <= TX_BATCH;
	     q = q->next) {
		used += loop_ws_header(p + used, q->buf->len);
		memcpy(p + used, q->buf->data + REPLY_PRE, q->buf->len);
		used += q->buf->len;
		t0[nframes++] = q->buf->t0_ns;
	}
	int n = lws_write(wsi, p, used, LWS_WRITE_HTTP);
	uint64_t now = clock_mono_ns();
	for (size_t i = 0; i < nframes; i++) {
		if (n >= 0 && t0[i])
			histo_observe_ns(&s->srv->m.post_ack_hist, now - t0[i]);
		dequeue_sent(s);
	}
	s->srv->m.tx_batches++;
	s->srv->m.tx_batched_frames += nframes;
	return n;
}

static int drain_wait(const struct session *s)
{
	return s->qbytes >= s->srv->cfg.lim.drain_bytes;
}

int loop_turn_full(const struct server *srv)
{
	return srv->turn_in_cap && srv->turn_in_bytes && srv->turn_in_bytes >= srv->turn_in_cap;
}

static int over_budget(struct session *s)
{
	if (s->turn_no != s->srv->turn_no) {
		s->turn_no = s->srv->turn_no;
		s->turn_reqs = 0;
	}
	const struct limits *l = &s->srv->cfg.lim;
	return s->turn_reqs >= l->turn_requests * REQ_UNITS || s->pending_bytes >= l->turn_bytes || drain_wait(s) ||
	       loop_turn_full(s->srv);
}

static void rx_pause(struct session *s, int pause)
{
	if (s->budget_paused == pause || !s->wsi)
		return;
	s->budget_paused = pause;
	lws_rx_flow_control(s->wsi, (pause ? LWS_RXFLOW_REASON_APPLIES_DISABLE : LWS_RXFLOW_REASON_APPLIES_ENABLE) |
	                                    RXFLOW_BUDGET);
}

/* Dispatch one frame within the session's turn budget (over_budget said yes). */
static void run_frame(struct session *s, const unsigned char *frame, size_t len)
{
	size_t vin = verify_inflight(s->srv);
	s->turn_reqs += REQ_UNITS;
	s->srv->turn_in_bytes += len;
	dispatch_frame(s, frame, len);
	if (verify_inflight(s->srv) > vin) /* a post queued for the verifiers */
		s->turn_reqs -= REQ_UNITS - POST_UNITS;
}

/* Keep a complete frame for a later turn. 0, or -1 out of memory. */
static int hold_frame(struct session *s, const unsigned char *frame, size_t len, uint64_t t0_ns)
{
	struct held *h = malloc(sizeof(*h) + len);
	if (!h)
		return -1;
	h->next = NULL;
	h->t0_ns = t0_ns;
	h->len = len;
	memcpy(h->data, frame, len);
	if (s->held_tail)
		s->held_tail->next = h;
	else
		s->held_head = h;
	s->held_tail = h;
	s->held_bytes += len;
	s->srv->m.frames_deferred++;
	if (!s->on_held) {
		s->on_held = 1;
		s->held_next = s->srv->held_first;
		s->srv->held_first = s;
	}
	rx_pause(s, 1);
	return 0;
}

static void held_free(struct session *s)
{
	while (s->held_head) {
		struct held *h = s->held_head;
		s->held_head = h->next;
		free(h);
	}
	s->held_tail = NULL;
	s->held_bytes = 0;
}

static void held_unlink(struct server *srv, struct session *s)
{
	if (!s->on_held)
		return;
	for (struct session **pp = &srv->held_first; *pp; pp = &(*pp)->held_next)
		if (*pp == s) {
			*pp = s->held_next;
			break;
		}
	s->on_held = 0;
	s->held_next = NULL;
}

/* Start of a turn: hand the held frames of each waiting session to dispatch,
 * within its budget. Returns 1 if a session still holds frames it may run in
 * the next turn without waiting for its socket (the loop must not block). */
static int run_held(struct server *srv)
{
	int more = 0, resumed = 0;
	for (struct session **pp = &srv->held_first; *pp;) {
		struct session *s = *pp;
		if (s->state == SS_CLOSING || s->close_pending || s->drop_output)
			held_free(s);
		while (s->held_head && !over_budget(s)) {
			struct held *h = s->held_head;
			s->held_head = h->next;
			if (!s->held_head)
				s->held_tail = NULL;
			s->held_bytes -= h->len;
			s->rx_ns = h->t0_ns;
			run_frame(s, h->data, h->len);
			free(h);
			if (s->close_pending)
				held_free(s);
		}
		if (!s->held_head) {
			*pp = s->held_next;
			s->on_held = 0;
			s->held_next = NULL;
			if (s->state != SS_CLOSING && s->budget_paused) {
				rx_pause(s, 0);
				resumed = 1;
			}
			continue;
		}
		if (!drain_wait(s))
			more = 1;
		pp = &s->held_next;
	}
	/* lws may hold already-read bytes of a resumed session: wake its loop so
	 * that its idle handler delivers them even if no socket becomes readable */
	if (resumed && srv->ctx)
		lws_cancel_service(srv->ctx);
	return more;
}

/* ---- keepalive ------------------------------------------------------------
 * libwebsockets' own keepalive (retry_and_idle_policy) re-inserts a per-
 * connection timer into one sorted list on every frame received: O(open
 * connections) per frame, 31% of casusd's CPU with 4,000 idle connections
 * (bench/RESULTS.md). casusd keeps it off (hangup 0) and does the same job
 * here: the time of the last frame per session in a hash table (O(1) per
 * frame), and once a second a walk over the sessions that pings the ones idle
 * for ping_s and closes the ones idle for hangup_s. */
struct ka {
	struct ka *next;
	const struct session *s;
	uint64_t last_ms;
	int ping_due;
};
#define KA_BUCKETS 16384u
struct ka_table {
	struct ka *b[KA_BUCKETS];
};

static size_t ka_bucket(const struct session *s)
{
	uintptr_t p = (uintptr_t)s;
	return (size_t)((p >> 4) ^ (p >> 18)) % KA_BUCKETS;
}

static struct ka *ka_find(const struct session *s)
{
	if (!s->srv || !s->srv->ka)
		return NULL;
	for (struct ka *k = s->srv->ka->b[ka_bucket(s)]; k; k = k->next)
		if (k->s == s)
			return k;
	return NULL;
}

static void ka_add(const struct session *s)
{
	struct ka *k = s->srv->ka ? calloc(1, sizeof(*k)) : NULL;
	if (!k)
		return; /* no keepalive for this one: the peer's own TCP still ends it */
	size_t b = ka_bucket(s);
	k->s = s;
	k->last_ms = clock_mono_ms();
	k->next = s->srv->ka->b[b];
	s->srv->ka->b[b] = k;
}

static void ka_del(const struct session *s)
{
	if (!s->srv->ka)
		return;
	struct ka **pp = &s->srv->ka->b[ka_bucket(s)];
	for (; *pp; pp = &(*pp)->next) {
		if ((*pp)->s == s) {
			struct ka *d = *pp;
			*pp = d->next;
			free(d);
			return;
		}
	}
}

static void ka_seen(const struct session *s)
{
	struct ka *k = ka_find(s);
	if (k) {
		k->last_ms = clock_mono_ms();
		k->ping_due = 0;
	}
}

static void ka_tick(struct server *srv)
{
	uint64_t t = clock_mono_ms();
	uint64_t ping_ms = (uint64_t)srv->cfg.lim.ping_s * 1000u, hup_ms = (uint64_t)srv->cfg.lim.hangup_s * 1000u;
	uint64_t slow_ms = (uint64_t)srv->cfg.lim.slow_reader_s * 1000u;
	for (struct session *s = srv->sessions; s; s = s->next) {
		/* A peer that takes no bytes for slow_reader_s while some wait (on our
		 * queue or in lws' partial buffer) is dropped at once: a close frame
		 * would never reach it. Draining sessions too. */
		if (s->state != SS_CLOSING && s->wsi && (s->qhead || lws_partial_buffered(s->wsi)) &&
		    t - s->tx_progress_ms >= slow_ms && !s->stall_killed) {
			s->stall_killed = 1;
			srv->m.slow_closed++;
			log_event(LOG_WARN, "session.slow_reader", "sid=%llu why=stalled queued=%u bytes=%zu",
			          (unsigned long long)s->sid, s->qcount, s->qbytes);
			s->drop_output = 1;
			lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
			continue;
		}
		struct ka *k = ka_find(s);
		if (!k || s->state == SS_CLOSING || s->close_pending)
			continue;
		uint64_t idle = t - k->last_ms;
		if (hup_ms && idle >= hup_ms) {
			log_event(LOG_INFO, "session.idle_hangup", "sid=%llu", (unsigned long long)s->sid);
			lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
		} else if (ping_ms && idle >= ping_ms && k->ping_due != 2) {
			k->ping_due = 1;
			lws_callback_on_writable(s->wsi);
		}
	}
}

/* ---- sessions ------------------------------------------------------------- */

static uint32_t slot_of(const void *p, size_t n)
{
	uint8_t h[8];
	crypto_generichash(h, sizeof h, p, n, NULL, 0);
	return ((uint32_t)h[0] << 8 | h[1]) % 4096u;
}

static void auth_timeout_cb(lws_sorted_usec_list_t *sul)
{
	struct session *s = lws_container_of(sul, struct session, sul_auth);
	if (s->state != SS_AUTHED) {
		log_event(LOG_INFO, "session.auth_timeout", "sid=%llu", (unsigned long long)s->sid);
		session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "authentication timeout");
	}
}

static int session_open(struct server *srv, struct session *s, struct lws *wsi)
{
	memset(s, 0, sizeof(*s));
	s->wsi = wsi;
	s->srv = srv;
	s->sid = ++srv->next_sid;
	s->role = -1;
	s->tokens = srv->cfg.lim.req_burst;
	s->tokens_ms = clock_mono_ms();
	lws_get_peer_simple(wsi, s->peer, sizeof s->peer);
	s->addr_slot = slot_of(s->peer, strlen(s->peer));
	srv->m.connections_total++;
	if (srv->m.connections_open >= srv->cfg.lim.max_connections ||
	    srv->addr_count[s->addr_slot] >= srv->cfg.lim.conn_per_addr) {
		log_event(LOG_WARN, "session.refused", "reason=connection_limit peer=%s", s->peer);
		s->state = SS_CLOSING;
		s->srv = NULL; /* never counted: session_gone must not uncount it */
		return -1;
	}
	srv->addr_count[s->addr_slot]++;
	srv->m.connections_open++;
	s->next = srv->sessions;
	if (srv->sessions)
		srv->sessions->prev = s;
	srv->sessions = s;
	ka_add(s);
	/* a follower does not see the session authenticate: the writer times it out */
	if (!srv->relay_only)
		lws_sul_schedule(lws_get_context(wsi), 0, &s->sul_auth, auth_timeout_cb,
		                 (lws_usec_t)srv->cfg.lim.auth_timeout_s * LWS_US_PER_SEC);
	log_event(LOG_INFO, "session.open", "sid=%llu peer=%s", (unsigned long long)s->sid, s->peer);
	return 0;
}

static void session_gone(struct server *srv, struct session *s)
{
	if (s->srv != srv)
		return; /* refused before it was counted */
	lws_sul_cancel(&s->sul_auth);
	if (s->state != SS_CLOSING || s->prev || s->next || srv->sessions == s) {
		if (s->prev)
			s->prev->next = s->next;
		else if (srv->sessions == s)
			srv->sessions = s->next;
		if (s->next)
			s->next->prev = s->prev;
	}
	if (srv->m.connections_open)
		srv->m.connections_open--;
	if (srv->addr_count[s->addr_slot])
		srv->addr_count[s->addr_slot]--;
	if (s->dev_counted && srv->dev_count[s->dev_slot])
		srv->dev_count[s->dev_slot]--;
	if (srv->relay_only) {
		if (srv->relay)
			srv->relay->gone(s, srv->relay->arg);
	} else {
		dispatch_session_gone(srv, s);
	}
	ka_del(s);
	held_unlink(srv, s);
	held_free(s);
	srv->trim_due += s->qbytes + s->rxcap;
	while (s->qhead) {
		struct outq *q = s->qhead;
		s->qhead = q->next;
		outbuf_unref(q->buf);
		outq_free(q);
	}
	free(s->rx);
	sodium_memzero(s->challenge, sizeof s->challenge);
	log_event(LOG_INFO, "session.closed", "sid=%llu peer=%s", (unsigned long long)s->sid, s->peer);
	s->srv = NULL;
}

/* ---- HTTP: /healthz on this port, /metrics on its own listener (ops.c) ---- */

/* ---- the lws protocol callback ------------------------------------------- */

static int cb_casus(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct server *srv = lws_context_user(lws_get_context(wsi));
	struct session *s = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP:
		return ops_http(srv, wsi, in);

	case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS: /* the SSL_CTX, for a reload (ops.c) */
		return ops_tls_ctx(srv, user);

	case LWS_CALLBACK_HTTP_FILE_COMPLETION: /* a web client file was sent (web.c) */
		return web_file_done(wsi);

	case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION: {
		/* An upgrade that names no subprotocol is bound by lws to protocols[0]
		 * ("http"): refuse it, and anything not casus.v1, before the 101. */
		const struct lws_protocols *p = lws_get_protocol(wsi);
		if (!p || !p->name || strcmp(p->name, PROTO_SUBPROTOCOL) != 0 ||
		    lws_hdr_total_length(wsi, WSI_TOKEN_PROTOCOL) <= 0) {
			srv->m.frames_rejected++;
			log_event(LOG_WARN, "session.refused", "reason=no_subprotocol");
			return 1;
		}
		break;
	}

	case LWS_CALLBACK_ESTABLISHED:
		if (session_open(srv, s, wsi) != 0) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"connection limit",
			                 16);
			return -1;
		}
		if (srv->relay_only && srv->relay)
			srv->relay->opened(s, srv->relay->arg);
		break;

	case LWS_CALLBACK_RECEIVE: {
		if (!s || s->srv != srv || s->state == SS_CLOSING)
			return -1;
		ka_seen(s);
		if (s->close_pending)
			break; /* draining: ignore further input */
		if (lws_frame_is_binary(wsi)) {
			srv->m.frames_rejected++;
			lws_close_reason(wsi, LWS_CLOSE_STATUS_UNACCEPTABLE_OPCODE,
			                 (unsigned char *)"binary frames are not casus.v1", 30);
			return -1;
		}
		/* a follower does not see the session's state: the writer checks the
		 * pre-auth cap on the frames it gets (relay.c) */
		size_t cap = s->state == SS_AUTHED || srv->relay_only ? srv->cfg.lim.max_frame
		                                                      : srv->cfg.lim.max_frame_preauth;
		if (len > cap - s->rxlen || s->rxlen > cap) {
			srv->m.frames_rejected++;
			log_event(LOG_WARN, "session.frame_too_large", "sid=%llu cap=%zu", (unsigned long long)s->sid,
			          cap);
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"frame too large",
			                 15);
			return -1;
		}
		/* the buffer exists even for an empty frame (lws hands in == NULL, len 0:
		 * UBSan's protocol fuzzer run found memcpy from NULL here) */
		if (s->rxlen + len > s->rxcap || !s->rx) {
			size_t ncap = s->rxcap ? s->rxcap : 1024;
			while (ncap < s->rxlen + len)
				ncap *= 2;
			unsigned char *n = realloc(s->rx, ncap);
			if (!n)
				return -1;
			s->rx = n;
			s->rxcap = ncap;
		}
		if (len)
			memcpy(s->rx + s->rxlen, in, len);
		s->rxlen += len;
		if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
			break;
		if (s->qbytes + s->pending_bytes >= srv->cfg.lim.max_queue_bytes) {
			/* asks faster than it reads: its answers would pile up in memory */
			s->rxlen = 0;
			slow_close(s, "bytes");
			break;
		}
		if (srv->relay_only) {
			/* a follower: the frame goes to the writer as it is (relay.c) */
			if (srv->relay)
				srv->relay->frame(s, s->rx, s->rxlen, srv->relay->arg);
		} else if (s->held_head || over_budget(s)) {
			/* over its budget for this turn, or its queue must drain first:
			 * the frame waits for a later turn (run_held), in order */
			if (hold_frame(s, s->rx, s->rxlen, clock_mono_ns()) != 0)
				return -1;
		} else {
			s->rx_ns = clock_mono_ns();
			run_frame(s, s->rx, s->rxlen);
		}
		s->rxlen = 0;
		if (s->rxcap > 65536) { /* do not keep a large buffer per idle session */
			free(s->rx);
			s->rx = NULL;
			s->rxcap = 0;
		}
		break;
	}

	case LWS_CALLBACK_RECEIVE_PONG:
		if (s && s->srv == srv)
			ka_seen(s);
		break;

	case LWS_CALLBACK_SERVER_WRITEABLE: {
		if (!s || s->srv != srv)
			return -1;
		{
			struct ka *k = ka_find(s);
			if (k && k->ping_due == 1) {
				unsigned char ping[LWS_PRE + 8];
				k->ping_due = 2; /* sent; cleared by the next frame or pong */
				memcpy(ping + LWS_PRE, "casus.v1", 8);
				if (lws_write(wsi, ping + LWS_PRE, 8, LWS_WRITE_PING) < 0)
					return -1;
				if (s->qhead || s->close_pending)
					lws_callback_on_writable(wsi);
				break;
			}
		}
		s->tx_progress_ms = clock_mono_ms(); /* the socket is taking data */
		for (int i = 0; i < 64 && s->qhead; i++) {
			int n;
			if (batchable(s, wsi)) {
				n = write_batch(s, wsi);
			} else {
				struct outq *q = s->qhead;
				n = lws_write(wsi, q->buf->data + REPLY_PRE, q->buf->len, LWS_WRITE_TEXT);
				if (n >= 0 && q->buf->t0_ns)
					histo_observe_ns(&srv->m.post_ack_hist, clock_mono_ns() - q->buf->t0_ns);
				dequeue_sent(s);
			}
			if (n < 0)
				return -1;
			/* lws' documented check between writes in one callback; unlike
			 * lws_send_pipe_choked it costs no poll() per frame */
			if (lws_partial_buffered(wsi))
				break;
		}
		if (s->qhead) {
			lws_callback_on_writable(wsi);
		} else if (s->close_pending) {
			const char *r = s->close_reason ? s->close_reason : "";
			lws_close_reason(wsi, s->close_code, (unsigned char *)(uintptr_t)r, strlen(r));
			s->state = SS_CLOSING;
			return -1;
		}
		break;
	}

	case LWS_CALLBACK_CLOSED:
		if (s)
			session_gone(srv, s);
		break;

	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {{"http", cb_casus, sizeof(struct session), 4096, 0, NULL, 0},
                                                 {PROTO_SUBPROTOCOL, cb_casus, sizeof(struct session), 65536, 0, NULL,
                                                  PROTO_MAX_FRAME + 1024},
                                                 {NULL, NULL, 0, 0, 0, NULL, 0}};

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	struct server *srv = lws_container_of(sul, struct server, sul_tick);
	ka_tick(srv);
	if (!srv->relay_only)
		dispatch_tick(srv);
	if (srv->relay && srv->relay->tick)
		srv->relay->tick(srv, srv->relay->arg);
	if (srv->trim_due >= TRIM_DUE) {
		/* big frames or a closed session's queue were freed since the last
		 * tick: hand the free heap back to the system (glibc keeps it) */
		srv->trim_due = 0;
		srv->m.trims++;
		malloc_trim(0);
	}
	if (srv->on_tick)
		srv->on_tick(srv);
	lws_sul_schedule(srv->ctx, 0, &srv->sul_tick, tick_cb, LWS_US_PER_SEC);
}

static void lws_log_to_ours(int level, const char *line)
{
	/* libwebsockets' own errors and warnings, on one line each. */
	char q[600];
	char trimmed[512];
	snprintf(trimmed, sizeof trimmed, "%s", line);
	size_t n = strlen(trimmed);
	while (n && (trimmed[n - 1] == '\n' || trimmed[n - 1] == '\r'))
		trimmed[--n] = '\0';
	log_event(level == LLL_ERR ? LOG_ERROR : LOG_WARN, "lws", "msg=%s", log_q(trimmed, q, sizeof q));
}

/* ---- accepting -------------------------------------------------------------
 * With the libev loop casusd listens and accepts itself and hands each socket
 * to lws (lws_adopt_socket_vhost). lws' own accept, out of descriptors
 * (EMFILE), logs and returns with the listening socket still readable: the
 * loop spun and logged 574k lines in 10 s. Here accept is paused for a second
 * instead (the connections wait in the kernel's backlog) and the pause is
 * logged at most once per ACCEPT_LOG_MS, with the number of pauses since. */
#define ACCEPT_BATCH 64
#define ACCEPT_PAUSE_S 1.0
#define ACCEPT_LOG_MS 10000u

struct listener {
	ev_io io;
	ev_timer resume;
	struct server *srv;
	struct lws_vhost *vh;
	uint64_t logged_ms;
	uint64_t pauses, pauses_unlogged;
};

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = (struct listener *)w;
	(void)revents;
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		int fd = accept(w->fd, NULL, NULL);
		if (fd < 0) {
			int e = errno;
			if (e == EAGAIN || e == EWOULDBLOCK || e == EINTR || e == ECONNABORTED)
				return;
			/* EMFILE, ENFILE, ENOBUFS, ENOMEM or worse: pause, do not spin */
			ev_io_stop(loop, &l->io);
			ev_timer_set(&l->resume, ACCEPT_PAUSE_S, 0.);
			ev_timer_start(loop, &l->resume);
			l->pauses++;
			l->pauses_unlogged++;
			uint64_t t = clock_mono_ms();
			if (!l->logged_ms || t - l->logged_ms >= ACCEPT_LOG_MS) {
				log_event(LOG_WARN, "server.accept_paused", "errno=%d pauses=%llu open=%llu", e,
				          (unsigned long long)l->pauses_unlogged,
				          (unsigned long long)l->srv->m.connections_open);
				l->logged_ms = t;
				l->pauses_unlogged = 0;
			}
			return;
		}
		int fl = fcntl(fd, F_GETFL);
		if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 ||
		    !lws_adopt_socket_vhost(l->vh, fd))
			close(fd); /* lws could not take it (its own fd limit): refused */
	}
}

static void accept_resume_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct listener *l = lws_container_of(w, struct listener, resume);
	(void)revents;
	ev_io_start(loop, &l->io);
}

/* Bind cfg->listen (numeric, resolved by main.c) and cfg->port. The socket or -1. */
static int listen_socket(const struct config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t sl;
	memset(&ss, 0, sizeof ss);
	if (strchr(cfg->listen, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)cfg->port);
		if (inet_pton(AF_INET6, cfg->listen, &a->sin6_addr) != 1)
			return -1;
		sl = sizeof *a;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)cfg->port);
		if (inet_pton(AF_INET, cfg->listen, &a->sin_addr) != 1)
			return -1;
		sl = sizeof *a;
	}
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
	    bind(fd, (struct sockaddr *)&ss, sl) != 0 || listen(fd, SOMAXCONN) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The event loop: libev with the epoll backend, owned by casusd and handed to
 * lws as a foreign loop. lws' default loop calls poll() over every descriptor
 * on every turn: with 10,000 idle connections that was half of casusd's CPU
 * (bench/RESULTS.md). As a foreign loop lws installs no signal handlers, so
 * SIGTERM stays main.c's. CASUSD_POLL_LOOP=1 keeps lws' own poll loop. */

int server_init(struct server *srv, const struct config *cfg)
{
	struct lws_context_creation_info info;
	static const uint32_t retry_table[] = {1000};

	srv->cfg = *cfg;
	/* a cluster follower relays (relay_only): its store belongs to the applier */
	if (!srv->relay_only && schema_open(&srv->st, cfg->data_dir, cfg->map_size, 0) != 0)
		return -1;
	if (!srv->relay_only && dispatch_open(srv) != 0)
		return -1;
	srv->ka = calloc(1, sizeof(*srv->ka));
	if (!srv->ka)
		return -1;

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_to_ours);
	memset(&srv->retry, 0, sizeof srv->retry);
	srv->retry.retry_ms_table = retry_table;
	srv->retry.retry_ms_table_count = 1;
	/* lws keepalive off (see ka_tick): hangup 0 means no validity timer */
	srv->retry.secs_since_valid_ping = 0;
	srv->retry.secs_since_valid_hangup = 0;

	memset(&info, 0, sizeof info);
	info.port = cfg->port;
	info.iface = cfg->listen[0] ? cfg->listen : NULL;
	int lfd = -1;
	info.protocols = protocols;
	info.user = srv;
	info.retry_and_idle_policy = &srv->retry;
	info.fd_limit_per_thread = cfg->lim.max_connections + 64;
	info.options =
		LWS_SERVER_OPTION_VALIDATE_UTF8 | (strchr(cfg->listen, ':') ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6);
	info.pt_serv_buf_size = 32 * 1024;
	if (!getenv("CASUSD_POLL_LOOP")) {
		srv->evloop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
		if (srv->evloop) {
			srv->foreign_loops[0] = srv->evloop;
			info.options |= LWS_SERVER_OPTION_LIBEV;
			info.foreign_loops = srv->foreign_loops;
			/* casusd's own listener (see accept_cb); lws serves without one */
			lfd = listen_socket(cfg);
			if (lfd < 0) {
				log_event(LOG_ERROR, "server.listen_failed", "port=%d errno=%d", cfg->port, errno);
				return -1;
			}
			info.port = CONTEXT_PORT_NO_LISTEN_SERVER;
		} else {
			log_event(LOG_WARN, "server.no_epoll", "msg=\"falling back to the poll loop\"");
		}
	}
	if (cfg->tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.ssl_cert_filepath = cfg->tls_cert;
		info.ssl_private_key_filepath = cfg->tls_key;
		info.ssl_cipher_list = cfg->tls_ciphers; /* TLS 1.2 */
		info.tls1_3_plus_cipher_list = cfg->tls_ciphersuites;
		info.ssl_options_set = cfg->tls_ssl_options; /* minimum version (config_check) */
	}
	ops_vhost_setup(&info);
	if (web_setup(&info, cfg->web_dir, cfg->tls) != 0) /* web client, if configured (web.c) */
		return -1;
	srv->ctx = lws_create_context(&info);
	if (!srv->ctx) {
		if (lfd >= 0)
			close(lfd);
		log_event(LOG_ERROR, "server.listen_failed", "port=%d", cfg->port);
		return -1;
	}
	if (!srv->relay_only && ops_metrics_listen(srv) != 0) /* /metrics on its own listener (the writer's) */
		return -1;
	if (lfd >= 0) {
		struct listener *l = calloc(1, sizeof(*l));
		if (!l || !(l->vh = lws_get_vhost_by_name(srv->ctx, "default"))) {
			free(l);
			close(lfd);
			log_event(LOG_ERROR, "server.listen_failed", "port=%d why=no_vhost", cfg->port);
			return -1;
		}
		l->srv = srv;
		ev_io_init(&l->io, accept_cb, lfd, EV_READ);
		ev_timer_init(&l->resume, accept_resume_cb, ACCEPT_PAUSE_S, 0.);
		ev_io_start(srv->evloop, &l->io);
		srv->lsn = l;
	}
	lws_sul_schedule(srv->ctx, 0, &srv->sul_tick, tick_cb, LWS_US_PER_SEC);
	if (!srv->relay_only)
		dispatch_start(srv);
	log_event(LOG_INFO, "server.listening", "addr=%s port=%d tls=%s", cfg->listen, cfg->port,
	          cfg->tls ? "on" : "off");
	return 0;
}

/* Group commit across TLS records: over TLS libwebsockets hands over one
 * record (one frame) per readiness and keeps the rest in the TLS buffer for
 * its next pass, so a turn that committed after one pass stored one post per
 * fdatasync (the benchmark measured 777 commits for 777 posts, ~100 posts/s).
 * While the turn has requests and a pass without waiting still brings new
 * ones, take them into the same turn (at most GATHER_PASSES passes; the
 * per-session budget still bounds each session, since turn_no stays). */
#define GATHER_PASSES 64
static int gather(struct server *srv)
{
	for (int i = 0; i < GATHER_PASSES && srv->pending_turn && !srv->stop; i++) {
		uint64_t before = srv->m.requests;
		if (srv->evloop)
			ev_run(srv->evloop, EVRUN_NOWAIT);
		else if (lws_service(srv->ctx, -1) < 0)
			return -1;
		if (srv->m.requests == before)
			break;
		srv->m.gather_passes++;
	}
	return 0;
}

int server_run(struct server *srv)
{
	while (!srv->stop) {
		srv->turn_no++;
		srv->turn_in_bytes = 0;
		/* frames held from earlier turns first, within their budget; if some
		 * may run again next turn, do not block waiting for events */
		int more = run_held(srv);
		int nowait = more || srv->pending_turn;
		if (srv->evloop)
			ev_run(srv->evloop, nowait ? EVRUN_NOWAIT : EVRUN_ONCE);
		else if (lws_service(srv->ctx, nowait ? -1 : 0) < 0)
			break;
		if (gather(srv) < 0)
			break;
		if (srv->relay)
			srv->relay->turn(srv, 0, srv->relay->arg);
		if (srv->relay_only)
			continue;
		uint64_t t0 = srv->pending_turn ? clock_mono_ns() : 0;
		dispatch_turn_end(srv, enqueue, NULL);
		if (t0)
			histo_observe_ns(&srv->m.turn_end_hist, clock_mono_ns() - t0);
		if (srv->relay)
			srv->relay->turn(srv, 1, srv->relay->arg);
	}
	log_event(LOG_INFO, "server.stopping", "open=%llu", (unsigned long long)srv->m.connections_open);
	return 0;
}

void server_free(struct server *srv)
{
	if (!srv->relay_only)
		dispatch_stop(srv); /* before the context goes: the verifier may call lws_cancel_service */
	if (srv->lsn) {
		ev_io_stop(srv->evloop, &srv->lsn->io);
		ev_timer_stop(srv->evloop, &srv->lsn->resume);
		close(srv->lsn->io.fd);
		free(srv->lsn);
		srv->lsn = NULL;
	}
	if (srv->ctx) {
		lws_sul_cancel(&srv->sul_tick);
		lws_context_destroy(srv->ctx);
		srv->ctx = NULL;
	}
	if (srv->evloop) {
		ev_loop_destroy(srv->evloop);
		srv->evloop = NULL;
	}
	if (!srv->relay_only)
		dispatch_close(srv);
	store_close(&srv->st);
	cc_revlist_free(&srv->revs);
	free(srv->revs_bytes);
	srv->revs_bytes = NULL;
	free(srv->issued_bytes);
	srv->issued_bytes = NULL;
	if (srv->ka) {
		for (size_t i = 0; i < KA_BUCKETS; i++)
			while (srv->ka->b[i]) {
				struct ka *k = srv->ka->b[i];
				srv->ka->b[i] = k->next;
				free(k);
			}
		free(srv->ka);
		srv->ka = NULL;
	}
}

/* ---- cluster mode: the relay's side of the loop (loop.h) ---------------------- */

void loop_deliver(struct session *s, struct outbuf *buf)
{
	enqueue(s, buf, NULL);
}

int loop_remote_open(struct server *srv, struct session *s, const char *peer)
{
	memset(s, 0, sizeof(*s));
	s->srv = srv;
	s->sid = ++srv->next_sid;
	s->role = -1;
	s->tokens = srv->cfg.lim.req_burst;
	s->tokens_ms = clock_mono_ms();
	snprintf(s->peer, sizeof s->peer, "%s", peer);
	s->addr_slot = slot_of(s->peer, strlen(s->peer));
	srv->m.connections_total++;
	if (srv->m.connections_open >= srv->cfg.lim.max_connections ||
	    srv->addr_count[s->addr_slot] >= srv->cfg.lim.conn_per_addr) {
		log_event(LOG_WARN, "session.refused", "reason=connection_limit peer=%s", s->peer);
		s->srv = NULL;
		return -1;
	}
	srv->addr_count[s->addr_slot]++;
	srv->m.connections_open++;
	s->next = srv->sessions;
	if (srv->sessions)
		srv->sessions->prev = s;
	srv->sessions = s;
	if (srv->ctx)
		lws_sul_schedule(srv->ctx, 0, &s->sul_auth, auth_timeout_cb,
		                 (lws_usec_t)srv->cfg.lim.auth_timeout_s * LWS_US_PER_SEC);
	log_event(LOG_INFO, "session.open", "sid=%llu peer=%s relayed=1", (unsigned long long)s->sid, s->peer);
	return 0;
}

void loop_remote_gone(struct server *srv, struct session *s)
{
	session_gone(srv, s);
}
