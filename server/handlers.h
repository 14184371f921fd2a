/*
 * handlers.h: request handlers. Each handler validates its fields, checks
 * authority, does its reads and writes through the store's current
 * transaction, logs an audit entry and queues its reply. It returns 1 to keep
 * its writes (the request succeeded) or 0 to throw them away.
 */
#ifndef CASUSD_HANDLERS_H
#define CASUSD_HANDLERS_H

#include "server.h"

#define AUTH_CONTEXT "casus.v1 auth"

typedef int (*handler_fn)(struct session *s, json_t *req, uint64_t id);

/* session.c-level handlers (handlers.c) */
int h_hello(struct session *s, json_t *req, uint64_t id);
int h_auth(struct session *s, json_t *req, uint64_t id);
int h_ping(struct session *s, json_t *req, uint64_t id);
int h_policy_get(struct session *s, json_t *req, uint64_t id);
int h_revlist_get(struct session *s, json_t *req, uint64_t id);
int h_dir_publish(struct session *s, json_t *req, uint64_t id);
int h_dir_lookup(struct session *s, json_t *req, uint64_t id);

/* casus.c */
int h_casus_create(struct session *s, json_t *req, uint64_t id);
int h_casus_list(struct session *s, json_t *req, uint64_t id);
int h_casus_read(struct session *s, json_t *req, uint64_t id);
/* retention.c */
int h_casus_close(struct session *s, json_t *req, uint64_t id);
int h_commit_post(struct session *s, json_t *req, uint64_t id);
int h_commit_fetch(struct session *s, json_t *req, uint64_t id);
int h_msg_post(struct session *s, json_t *req, uint64_t id);
int h_history(struct session *s, json_t *req, uint64_t id);
int h_grant_post(struct session *s, json_t *req, uint64_t id);
int h_grant_fetch(struct session *s, json_t *req, uint64_t id);

/* transfer.c: a user's second device */
int h_transfer_post(struct session *s, json_t *req, uint64_t id);
int h_transfer_fetch(struct session *s, json_t *req, uint64_t id);

/* audit_query.c */
int h_audit_query(struct session *s, json_t *req, uint64_t id);
int h_audit_key(struct session *s, json_t *req, uint64_t id);

/* Deny: queue the error reply and a "denied" audit entry of the given event. */
int deny(struct session *s, uint64_t id, int code, const char *msg, unsigned event, const uint8_t *casus);

/* Called after authentication: subscribe to the device's casus, deliver notices. */
void casus_session_authed(struct server *srv, struct session *s, json_t *reply);
/* Store a certificate in the directory (idempotent). */
int dir_store_cert(struct server *srv, const cc_cert *c, const uint8_t *enc, size_t len);

#endif
