/*
 * conn.h: libcasus's WebSocket connection to casusd (casus.v1 over TLS).
 *
 * A small synchronous layer on libwebsockets' client: conn_request() sends one
 * request and services the connection until its response arrives (or the
 * timeout passes); pushes that arrive meanwhile wait in a queue that
 * conn_next_push() hands out. One conn is used by one thread.
 */
#ifndef CASUS_CONN_H
#define CASUS_CONN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct conn;

/* url: ws://host:port or wss://host:port. ca_file: PEM of the CA that signed
 * the server's certificate (NULL: the system store). 0 or -1 (message in err). */
int conn_open(struct conn **out, const char *url, const char *ca_file, int timeout_ms, char *err, size_t errlen);
void conn_close(struct conn *c);
int conn_is_open(const struct conn *c);
/* Send req (an object without "id": one is assigned; req is not stolen) and
 * wait for the response. Returns the response (new reference) or NULL with
 * err filled (timeout, closed). A response with "ok": false is returned as is. */
json_t *conn_request(struct conn *c, json_t *req, int timeout_ms, char *err, size_t errlen);
/* Send raw text as one frame (tests of bad input use this). */
int conn_send_raw(struct conn *c, const char *text, size_t len);
/* Next queued push (new reference), waiting up to timeout_ms (0: do not wait). */
json_t *conn_next_push(struct conn *c, int timeout_ms);
/* Next frame of any kind (response or push), waiting up to timeout_ms; new
 * reference or NULL. For pipelined senders (bench/) that match ids themselves. */
json_t *conn_next_any(struct conn *c, int timeout_ms);
/* Send an object as one frame without waiting; the caller sets "id". */
int conn_send_json(struct conn *c, const json_t *obj);
/* Service the connection for up to timeout_ms (used by the live view). */
void conn_service(struct conn *c, int timeout_ms);
/* Service without waiting: read what the socket holds (after poll() said it
 * is readable) and send what is queued. */
void conn_poll(struct conn *c);
/* The file descriptor of the socket, for poll() in the live view; -1 if closed. */
int conn_fd(const struct conn *c);
const char *conn_close_reason(const struct conn *c);

#endif
