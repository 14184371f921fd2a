/*
 * server.h: casusd's shared state: the server, its sessions and what a loop
 * turn collects. Every piece of casusd's state lives in struct server or in
 * a struct it owns; no module keeps file-level state (the exceptions are
 * main.c's pointer for its signal handler and log.c's level, both outside
 * the rooms).
 *
 * Flow of one event-loop turn (loop.c):
 *   libev / lws service        -> frames arrive; each goes to dispatch_frame()
 *     dispatch_frame()         -> parse, route, handler in its own child
 *                                 transaction; its reply (and any pushes)
 *                                 wait on srv->after (reply.h)
 *   dispatch_turn_end()        -> verified messages stored, one fsync for the
 *                                 whole turn, then replies and pushes enter the
 *                                 send queues; if the commit failed, every reply
 *                                 becomes a "storage" error and no push is sent.
 */
#ifndef CASUSD_SERVER_H
#define CASUSD_SERVER_H

#include "clock.h"
#include "config.h"
#include "store.h"

#include <cc_cert.h>
#include <cc_policy.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdint.h>

struct outbuf;
struct after;
struct ka_table;
struct verifier;
struct ev_loop;
struct listener;

struct outq {
	struct outq *next;
	struct outbuf *buf;
};

/* A complete frame received but not yet handled: its session is over its
 * per-turn budget or waits for its send queue to drain (loop.c). */
struct held {
	struct held *next;
	uint64_t t0_ns; /* arrival */
	size_t len;
	unsigned char data[];
};

enum session_state {
	SS_NEW = 0,
	SS_HELLO,
	SS_AUTHED,
	SS_CLOSING
};

struct session {
	struct session *next, *prev; /* all sessions */
	struct lws *wsi;
	struct server *srv;
	uint64_t sid;
	enum session_state state;
	uint8_t challenge[32];
	lws_sorted_usec_list_t sul_auth; /* closes the session if it does not authenticate */
	int close_pending;               /* close once the send queue drains */
	int drop_output;                 /* slow reader: queue nothing more */
	int stall_killed;                /* slow reader: the connection is being dropped */
	enum lws_close_status close_code;
	const char *close_reason; /* static string */
	cc_cert cert;             /* valid once SS_AUTHED */
	int role;                 /* policy role index, -1 unknown */
	char peer[48];
	uint32_t addr_slot, dev_slot; /* slots in the connection counters */
	int dev_counted;
	/* receive: fragments collected up to the frame cap */
	unsigned char *rx;
	size_t rxlen, rxcap;
	int rx_overflow;
	uint64_t rx_ns; /* when the frame being handled arrived (post-to-ack histogram) */
	/* per-turn work budget (loop.c): frames over it wait here for a later turn */
	struct held *held_head, *held_tail;
	size_t held_bytes;
	struct session *held_next; /* on srv->held_first while it holds frames */
	int on_held, budget_paused;
	uint64_t turn_no;   /* the loop turn turn_reqs counts for */
	unsigned turn_reqs; /* requests handled for it in that turn */
	/* send queue */
	struct outq *qhead, *qtail;
	unsigned qcount;
	size_t qbytes;           /* bytes on the send queue */
	size_t pending_bytes;    /* bytes of replies and pushes built this turn, not yet queued (reply.c) */
	uint64_t tx_progress_ms; /* last time the socket took data, or the queue became non-empty */
	/* rate limit: token bucket */
	double tokens;
	uint64_t tokens_ms;
	unsigned strikes; /* consecutive rate-limit hits */
	/* casus this session receives pushes for */
	struct sub *subs;
	/* cluster mode (relay.c): on a follower, the writer this session's frames
	 * go to; on the writer, the relayed session this one stands for (its
	 * connection is on another node: wsi is NULL, frames go out by NATS) */
	uint64_t relay_gen;
	void *remote;
	char close_text[64]; /* a close reason that came from elsewhere (session_close points at it) */
};

/* Cluster mode's relay (relay.c, in casusd only: casusd_core has no NATS).
 * A follower runs the loop with relay_only set: no store, no rooms; every
 * complete frame of a local session goes to the writer. The writer runs
 * remote sessions, whose replies and pushes leave through out(). */
struct relay_hooks {
	void (*opened)(struct session *s, void *arg);                                    /* follower */
	void (*frame)(struct session *s, const unsigned char *f, size_t len, void *arg); /* follower */
	void (*gone)(struct session *s, void *arg);                                      /* follower */
	void (*out)(struct session *s, struct outbuf *b, void *arg);                     /* writer: takes b */
	void (*turn)(struct server *srv, int phase, void *arg);                /* 0 before the turn's end, 1 after */
	void (*tick)(struct server *srv, void *arg);                           /* once a second */
	int (*healthz)(struct server *srv, char *body, size_t cap, void *arg); /* follower: 1 healthy */
	void *arg;
	/* writer: the largest frame out() can carry (NATS max_payload less the relay's
	 * header); a history page for a relayed session is built to fit it (h_message.c) */
	size_t max_out;
};

/* What a relayed frame may carry beyond limits.max_frame (relay header, a push's
 * envelope): cluster mode refuses a NATS whose max_payload is smaller than
 * max_frame plus this (cluster.c). */
#define RELAY_OVERHEAD 4096u

struct casus_rt; /* fan-out index entry, see fanout.c */

struct metrics {
	uint64_t connections_total, connections_open, auth_ok, auth_fail;
	uint64_t requests, errors, messages_stored, pushes_sent, frames_rejected;
	uint64_t slow_closed, rate_limited, commits_failed;
	uint64_t errors_by_code[32]; /* by enum proto_err (reply_error), for /metrics */
	struct histo turn_end_hist;  /* end of a busy turn: verification wait, commit, replies queued */
	struct histo post_ack_hist;  /* msg.post: frame arrival to the ack handed to the socket */
	uint64_t frames_deferred;    /* frames held for a later turn (budget or send queue) */
	uint64_t tx_batches;         /* writes that carried several queued frames (loop.c write_batch) */
	uint64_t tx_batched_frames;  /* frames sent in those writes */
	uint64_t gather_passes;      /* extra passes that took more requests into a turn (loop.c gather) */
	uint64_t trims;              /* malloc_trim calls after memory was freed */
	uint64_t boxes_deleted;      /* sealed key boxes deleted by box retention (retention.c) */
};

struct server {
	struct config cfg;
	struct lws_context *ctx;
	struct store st;
	uint8_t root_pk[CC_SIGN_PK_BYTES];
	cc_policy policy;
	int have_policy;
	cc_revlist revs;
	int have_revs;
	uint8_t *revs_bytes; /* the revocation list exactly as loaded (revlist.h) */
	size_t revs_len;
	uint8_t *issued_bytes; /* the issuance log as loaded, or NULL (revlist.h) */
	size_t issued_len;
	uint64_t issued_count;
	struct session *sessions;
	uint64_t next_sid;
	struct after *after_head, *after_tail;
	unsigned pending_turn; /* requests handled this turn */
	uint64_t turn_no;      /* loop turns since start (loop.c, per-turn budget) */
	/* cluster writer: a turn's writes go to the stream as one NATS message, so a
	 * turn takes frames (local and relayed) only up to turn_in_cap bytes (and
	 * always one); 0: no cap (a single node) */
	size_t turn_in_bytes, turn_in_cap;
	struct session *held_first; /* sessions holding frames for a later turn (loop.c) */
	size_t trim_due;            /* bytes freed since the last malloc_trim (loop.c) */
	uint64_t turn_stored;       /* messages stored this turn, not yet committed */
	const char *cur_type;       /* type of the request being handled (audit of refusals) */
	int quiet_refusal;          /* a refusal in a series: no audit entry of its own */
	uint64_t turns_busy;        /* turns that handled at least one request (metrics) */
	uint64_t turn_reqs_max;     /* most requests in one turn (metrics) */
	size_t qbytes_max;          /* most bytes one session's send queue held (metrics) */
	uint64_t verified_posts;    /* msg.post completed after the verifier thread (metrics) */
	size_t verify_inflight;     /* jobs at the verifier after the last turn (metrics) */
	struct metrics m;
	uint16_t addr_count[4096];
	uint16_t dev_count[4096];
	struct casus_rt **rt; /* fan-out hash table */
	size_t rt_cap, rt_len;
	struct audit_ctx *audit;
	lws_sorted_usec_list_t sul_tick; /* once a second: checkpoints, reader check */
	volatile sig_atomic_t stop;
	lws_retry_bo_t retry;
	void (*on_tick)(struct server *srv); /* main.c's once-a-second hook (systemd watchdog), or NULL */
	int policy_checked;                  /* 0 not yet, 1 current, -1 older than the store's (dispatch.c) */
	unsigned purge_ticks;                /* ticks since start, for the retention purge (retention.c) */
	uint8_t box_sweep_at[64];            /* box retention: the key the next sweep starts at (retention.c) */
	size_t box_sweep_len;                /* its length; 0: from the first box */
	unsigned regie_ticks;                /* ticks since start, for the stagnation scan (h_regie.c) */
	struct ka_table *ka;                 /* keepalive: last frame per session (loop.c) */
	struct ev_loop *evloop;              /* libev loop handed to lws, or NULL (poll loop) */
	struct listener *lsn;                /* casusd's own listening socket on evloop, or NULL (loop.c) */
	struct verifier *ver;                /* the verifier thread and its jobs (verify.c) */
	void *foreign_loops[1];
	void *tls_ctx;                     /* the service vhost's SSL_CTX, for a reload (ops.c), or NULL */
	volatile sig_atomic_t reload;      /* SIGHUP seen: main.c's tick reloads (ops_reload) */
	struct lws_vhost *metrics_vh;      /* the /metrics listener, or NULL (ops.c) */
	int64_t health_probe_ms;           /* last store probe after a failed commit (ops.c) */
	int64_t started_ms;                /* wall clock at start (metrics) */
	uint64_t reloads, reload_refusals; /* SIGHUP reloads, files they refused (metrics) */
	int relay_only;                    /* a cluster follower: sessions relayed to the writer (relay.c) */
	const struct relay_hooks *relay;   /* cluster mode's relay, or NULL */
};

/* Close a session once what is queued has been sent (reason, a static
 * string, is sent in the close frame). A session without a connection (a
 * test's, wsi NULL) is only marked. */
void session_close(struct session *s, enum lws_close_status code, const char *reason);
/* The payload bytes a paged answer (history, commit.fetch) may carry for s:
 * limits.history_page_bytes, and for a relayed session also what fits one NATS
 * message with the JSON around `items` entries (64 bytes each) and the
 * answer's head counted generously. A page always holds at least one entry. */
size_t session_page_bytes(const struct session *s, size_t items);

#endif
