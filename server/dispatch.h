/*
 * dispatch.h: the one way from the event loop into casusd's rooms.
 *
 * The loop (loop.c) owns connections, send queues and timers; everything a
 * frame causes happens behind these functions: parsing, rate limiting, the
 * route table with its preconditions, the handlers, the casus runtime,
 * fan-out, the audit trail, and the turn's commit. None of the rooms calls
 * back into the loop: frames leave through the delivery function the loop
 * passes to dispatch_turn_end(). That is also what lets a test or a fuzzer
 * drive dispatch with sessions that have no connection (wsi == NULL) and a
 * delivery function of its own.
 *
 * Route table (dispatch.c): every request type names its handler and its
 * preconditions, checked here once, before the handler runs:
 *   ROUTE_AUTH    the session has authenticated (else "unauthenticated")
 *   ROUTE_POLICY  a signed policy is installed and it is not older than the
 *                 newest this store has served (else "internal")
 */
#ifndef CASUSD_DISPATCH_H
#define CASUSD_DISPATCH_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct session;
struct outbuf;

/* Open the rooms on an opened store: audit trail, casus runtime. 0 or -1. */
int dispatch_open(struct server *srv);
/* Start the verifier pool (after the lws context exists). */
void dispatch_start(struct server *srv);
/* Stop the verifier pool (before the lws context goes). */
void dispatch_stop(struct server *srv);
/* Drop everything not committed, close the rooms. */
void dispatch_close(struct server *srv);

/* One complete text frame of a session: parse, check, route, handle, in its
 * own child transaction of the turn. Replies wait for dispatch_turn_end. */
void dispatch_frame(struct session *s, const unsigned char *frame, size_t len);

/* Where released replies and pushes go (takes the reference on buf). */
typedef void (*dispatch_deliver_fn)(struct session *s, struct outbuf *buf, void *arg);
/* End of a loop turn: finish the messages the verifier pool has checked,
 * commit the turn (one fsync) and release its replies and pushes through
 * deliver (as storage errors if the commit failed). */
void dispatch_turn_end(struct server *srv, dispatch_deliver_fn deliver, void *arg);

/* Once a second: audit checkpoints due by time, retention purges, stale readers. */
void dispatch_tick(struct server *srv);

/* A session is gone: forget its subscriptions, queued frames and jobs. */
void dispatch_session_gone(struct server *srv, struct session *s);

#endif
