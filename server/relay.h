/*
 * relay.h: cluster mode's relay: every node serves (docs/SCALING.md "Every
 * node serves").
 *
 * A follower runs casusd's loop without a store (srv->relay_only): each
 * complete frame of each of its sessions goes over NATS to the writer,
 * tagged with the session's number, on the subject casus.<stream>.in.<writer
 * incarnation>; the writer runs it against a remote session (a struct
 * session without a connection) exactly as it runs a local session's frame:
 * same handlers, same rate limit, connection limits, auth and audit. Replies
 * and pushes for a remote session leave the writer only after its turn's
 * commit and stream ack (the loop's release), on casus.<stream>.out.<follower
 * incarnation>, and the follower puts them on the session's send queue. A
 * follower learns the writer from the lease's value (its incarnation) and
 * closes every relayed session when the writer changes or the lease lapses:
 * the clients reconnect, to any node.
 *
 * Wire format of one NATS message (both ways): kind (1 byte), the follower's
 * session number (8 bytes, big-endian), then by kind:
 *   follower -> writer: 'O' opened (the client's address), 'F' a frame,
 *                       'C' the client is gone, 'B' heartbeat (number 0)
 *   writer -> follower: 'F' a frame, 'X' close (2-byte code, reason text)
 * The NATS reply subject of a follower's message names its out subject.
 */
#ifndef CASUSD_RELAY_H
#define CASUSD_RELAY_H

#include "config.h"

#include <signal.h>

struct server;
struct relay;

/* A fresh random incarnation of this process (16 hex digits and NUL). */
void relay_incarnation(char out[17]);

/* Connect and attach to srv as a follower's relay (srv->relay_only must be
 * set; before server_init, so the loop finds the hooks). Retries the NATS
 * connection until it works or *stop is set. NULL on failure or stop. */
struct relay *relay_follower_start(struct server *srv, const char *inc, volatile const sig_atomic_t *stop);
/* Connect and attach to the writer's srv (after server_init). NULL on failure. */
struct relay *relay_writer_start(struct server *srv, const char *inc);
/* The follower's context exists now (after server_init): NATS threads may wake it. */
void relay_attach(struct relay *r);
/* The writer's remote sessions end as closed connections do (before server_free). */
void relay_close_all(struct relay *r);
/* Wake the loop from another thread (lws_cancel_service on the live context). */
void relay_wake(struct relay *r);
/* From another thread: the follower's loop is to end (server_run returns). */
void relay_quit(struct relay *r);
/* Detach the context before it is destroyed (no more wakes). */
void relay_detach(struct relay *r);
/* Unsubscribe and stop the lease poller, but keep the NATS connection until
 * relay_stop: the NATS client closes a destroyed connection's socket on its
 * own thread, which must not happen while the writer opens its sockets (a
 * reused descriptor number would be shut down under it). */
void relay_retire(struct relay *r);
/* Unsubscribe, disconnect, free. NULL is fine. Call after server_free. */
void relay_stop(struct relay *r);

#endif
