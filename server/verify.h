/*
 * verify.h: Ed25519 message signatures checked off the event loop, by a pool
 * of verifier threads (config "verify_threads": default one per online core,
 * 0 = on the event loop).
 *
 * msg.post is handled in two steps so that the event-loop thread does not spend
 * ~36 µs of every message in crypto_sign_verify_detached:
 *
 *   1. h_msg_post (loop, the check step): parse, decode, every public check
 *      but the signature (cc_message_check_header) against the current chain
 *      state, then verify_submit() a job holding the
 *      decoded bytes and the sender's certified signing key. Nothing is written
 *      and nothing is replied yet.
 *   2. a verifier thread: cc_message_verify_sig(), result into the job, the
 *      job marked done; lws_cancel_service() wakes the loop once the oldest
 *      job is done.
 *   3. loop, at the end of its turn (dispatch_turn_end): every finished job
 *      is handed to h_msg_post_verified (the store step): the public checks
 *      are repeated against the chain state as it is now (the epoch may have
 *      moved), the signing key must still be the one that was verified, then
 *      the replay check, the store, the audit entry, the push and the reply,
 *      all in the turn's transaction. Acks still leave only after the commit.
 *
 * Order: every job waits on one list in arrival order; the verifiers take
 * them in that order and may finish them in any order, but verify_drain hands
 * the loop only the finished prefix of the list (never a job behind an
 * unfinished one). So a session's messages are stored and acknowledged in the
 * order they arrived, with any number of verifiers (tests/unit/test_verify.c).
 * Bounds: at most VERIFY_QUEUE_SOFT jobs in flight before the submitting
 * session is paused (lws_rx_flow_control) until the queue drains below half;
 * frames lws had already read still arrive, and at VERIFY_QUEUE_HARD jobs
 * waiting for the verifier the loop itself waits for room (backpressure on
 * everything, order kept). A session that closes loses its jobs (never
 * stored, never acked).
 */
#ifndef CASUSD_VERIFY_H
#define CASUSD_VERIFY_H

#include <stddef.h>
#include <stdint.h>

#define VERIFY_QUEUE_SOFT 2048
#define VERIFY_QUEUE_HARD 8192

struct server;
struct session;

struct vjob {
	struct vjob *next;
	struct session *s; /* loop thread only; NULL once the session closed */
	uint64_t req_id;
	uint64_t t0_ns; /* when the request's frame arrived (session rx_ns), for post-to-ack */
	uint8_t casus[16];
	uint8_t sign_pk[32]; /* the roster's key the signature was checked against */
	uint8_t *msg;        /* decoded message bytes (owned) */
	size_t len;
	int rc;   /* CC_OK or the verification error (set by the verifier) */
	int done; /* under the pool's lock: rc is final */
};

/* Start / stop the verifier threads (srv->cfg.verify_threads of them; stop
 * joins them and frees every job). */
int verify_start(struct server *srv);
void verify_stop(struct server *srv);
/* 1 while verifiers run (h_msg_post verifies inline otherwise). */
int verify_enabled(const struct server *srv);
/* Verifier threads running (0: inline). */
unsigned verify_threads(const struct server *srv);

/* Hand a job over (takes msg). 0 queued (may wait for room, may pause the
 * session); -1 no verifier threads or no memory (the caller verifies inline).
 * Loop thread; s->srv->ver must be started. */
int verify_submit(struct session *s, uint64_t req_id, const uint8_t casus[16], const uint8_t sign_pk[32], uint8_t *msg,
                  size_t len);

/* Loop thread: run fn, in arrival order, for every finished job in front of
 * the oldest unfinished one whose session is still there; the job is fn's to
 * read during the call (it is freed afterwards). Returns the number run. */
typedef void (*verify_done_fn)(struct session *s, const struct vjob *job, void *arg);
size_t verify_drain(struct server *srv, verify_done_fn fn, void *arg);
/* Loop thread, before verify_drain: if at most max_pending jobs are still
 * being verified (light load), wait up to max_us for them, so that a message
 * is stored in the same turn it arrived instead of costing a second commit.
 * Under heavy load (more pending) it returns at once: the loop keeps working
 * while the verifier catches up. */
void verify_wait(struct server *srv, unsigned max_pending, unsigned max_us);
/* Loop thread: a session closed; its jobs are dropped when they come back. */
void verify_session_gone(struct server *srv, struct session *s);

/* Jobs in flight (metrics). */
size_t verify_inflight(const struct server *srv);

#endif
