/*
 * loop.h: casusd's event loop: listening, WebSocket sessions, send queues,
 * keepalive, /healthz and /metrics. Frames go to dispatch (dispatch.h), the
 * only way from the loop into the rooms.
 */
#ifndef CASUSD_LOOP_H
#define CASUSD_LOOP_H

struct server;
struct config;

/* Open the store and the rooms, listen. 0 or -1 (then call server_free). */
int server_init(struct server *srv, const struct config *cfg);
/* Run turns until srv->stop is set. */
int server_run(struct server *srv);
void server_free(struct server *srv);

#endif
