/*
 * loop.h: casusd's event loop: listening, WebSocket sessions, send queues,
 * keepalive, /healthz and /metrics. Frames go to dispatch (dispatch.h), the
 * only way from the loop into the rooms.
 */
#ifndef CASUSD_LOOP_H
#define CASUSD_LOOP_H

#include <stddef.h>

struct server;
struct config;

/* Open the store and the rooms, listen. 0 or -1 (then call server_free). */
int server_init(struct server *srv, const struct config *cfg);
/* Run turns until srv->stop is set. */
int server_run(struct server *srv);
void server_free(struct server *srv);

/* Cluster mode (relay.c). */
struct session;
struct outbuf;
/* Put a frame on a local session's send queue (takes buf). */
void loop_deliver(struct session *s, struct outbuf *buf);
/* The writer's stand-in for a session whose connection is on another node:
 * counted and limited like a connection (peer stands for its address), no
 * wsi. 0, or -1 refused (connection limits). */
int loop_remote_open(struct server *srv, struct session *s, const char *peer);
/* Forget it as a closed connection is forgotten (the caller frees s). */
void loop_remote_gone(struct server *srv, struct session *s);
/* This turn has taken its cap of frame bytes (cluster writer: srv->turn_in_cap):
 * further frames wait for the next turn. */
int loop_turn_full(const struct server *srv);
/* The header of an unmasked final text frame of len bytes (RFC 6455 5.2) into
 * out (at least 10 bytes); returns its length: 2, 4 or 10. */
size_t loop_ws_header(unsigned char *out, size_t len);

#endif
