/*
 * reply.h: replies and pushes, held until the loop turn's commit.
 *
 * A handler never writes to a connection. It queues its reply (reply_later,
 * reply_error) and any pushes (push_later) on the server's after-commit list;
 * when the turn's LMDB transaction is durable, reply_release() hands each
 * frame to a delivery function (the event loop's send queue; a test's sink).
 * If the commit failed, every reply becomes a "storage" error and no push is
 * sent: nothing is acknowledged that is not on disk.
 *
 * Every error reply leaves an audit entry (NEN 7513: refused attempts too)
 * unless the request has logged its own entry already (deny() in dispatch.h)
 * or the refusal is one of a series (server.quiet_refusal).
 */
#ifndef CASUSD_REPLY_H
#define CASUSD_REPLY_H

#include "outbuf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct session;

/* After-commit action: a reply (is_reply, req_id) or a push to a session. */
struct after {
	struct after *next;
	struct session *s; /* NULL if the session closed meanwhile */
	struct outbuf *buf;
	int is_reply;
	uint64_t req_id;
};

/* Queue a reply for after the commit (steals obj). */
void reply_later(struct session *s, uint64_t req_id, json_t *obj);
/* The same for a reply already written as a frame (b, refs 1, taken). */
void reply_later_buf(struct session *s, uint64_t req_id, struct outbuf *b);
/* The same for the ack of a msg.post whose frame arrived at t0_ns (clock_mono_ns):
 * the loop records arrival-to-sent in casusd_post_ack_seconds when it goes out. */
void reply_later_timed(struct session *s, uint64_t req_id, json_t *obj, uint64_t t0_ns);
/* The ack of a stored msg.post, {"id":ID,"ok":true,"seq":SEQ}, written
 * directly (no JSON object: the hot path), timed as reply_later_timed. */
void reply_ok_seq_timed(struct session *s, uint64_t req_id, uint64_t seq, uint64_t t0_ns);
/* Queue an error reply for after the commit, with its audit entry (see above). */
void reply_error(struct session *s, uint64_t req_id, int code, const char *message);
/* Queue a push frame for after the commit (takes its own reference on buf). */
void push_later(struct session *s, struct outbuf *buf);

/* Where released frames go: deliver takes the reference on buf. */
typedef void (*reply_deliver_fn)(struct session *s, struct outbuf *buf, void *arg);

/* Deny: queue the error reply and a "denied" (or "error", for storage and
 * internal codes) audit entry of the given event, for the casus if given.
 * Returns 0 (the request's writes are thrown away). */
int deny(struct session *s, uint64_t id, int code, const char *msg, unsigned event, const uint8_t *casus);
/* Release the turn's replies and pushes: ok=1 the commit is durable, ok=0 it
 * failed (replies become storage errors, pushes are dropped). */
void reply_release(struct server *srv, int ok, reply_deliver_fn deliver, void *arg);
/* A session is going away: its queued frames are dropped at release. */
void reply_session_gone(struct server *srv, const struct session *s);

#endif
