/*
 * handlers.h: request handlers, by family, and what they share.
 *
 * Each handler validates its fields, checks authority, does its reads and
 * writes through the store's current transaction (keys and records from
 * schema.h only), logs an audit entry and queues its reply (reply.h). It
 * returns 1 to keep its writes (the request succeeded) or 0 to throw them
 * away. Preconditions (authenticated, policy current) are declared in
 * dispatch.c's route table and checked before a handler runs.
 *
 *   h_session.c   hello, auth, ping, revlist.get, policy.get, dir.publish, dir.lookup
 *   h_casus.c     casus.create, casus.list, casus.read, casus.close
 *   h_commit.c    commit.post, commit.fetch
 *   h_message.c   msg.post (check step; store step h_msg_post_verified), history
 *   h_grant.c     grant.post, grant.fetch
 *   h_transfer.c  transfer.post, transfer.fetch
 *   h_audit.c     audit.query, audit.key
 *   h_regie.c     regie.overview, regie.monitor, agenda.plan, agenda.list, action.disclose
 *                 (and the stagnation scan, regie_tick)
 *   notice.c      notice.dismiss
 */
#ifndef CASUSD_HANDLERS_H
#define CASUSD_HANDLERS_H

#include "server.h"

#include <cc_audit.h>
#include <cc_commit.h>
#include <jansson.h>

#define AUTH_CONTEXT "casus.v1 auth"

struct casus_rt;
struct vjob;

typedef int (*handler_fn)(struct session *s, json_t *req, uint64_t id);

/* h_session.c */
int h_hello(struct session *s, json_t *req, uint64_t id);
int h_auth(struct session *s, json_t *req, uint64_t id);
int h_ping(struct session *s, json_t *req, uint64_t id);
int h_revlist_get(struct session *s, json_t *req, uint64_t id);
int h_policy_get(struct session *s, json_t *req, uint64_t id);
int h_dir_publish(struct session *s, json_t *req, uint64_t id);
int h_dir_lookup(struct session *s, json_t *req, uint64_t id);
int h_issuance_get(struct session *s, json_t *req, uint64_t id);
/* Store a certificate in the directory (idempotent). 0, DIR_DEVICE_TAKEN (the
 * device id is stored with other keys or another user: refused), or an LMDB
 * error. */
#define DIR_DEVICE_TAKEN (-2)
int dir_store_cert(struct server *srv, const cc_cert *c, const uint8_t *enc, size_t len);
/* 1 if the directory holds c's device id with other keys or another user. */
int dir_device_taken(struct server *srv, const cc_cert *c);

/* h_casus.c */
int h_casus_create(struct session *s, json_t *req, uint64_t id);
int h_casus_list(struct session *s, json_t *req, uint64_t id);
int h_casus_read(struct session *s, json_t *req, uint64_t id);
int h_casus_close(struct session *s, json_t *req, uint64_t id);
/* Called after authentication: subscribe to the device's casus, add the notices. */
void casus_session_authed(struct server *srv, struct session *s, json_t *reply);

/* h_commit.c */
int h_commit_post(struct session *s, json_t *req, uint64_t id);
int h_commit_fetch(struct session *s, json_t *req, uint64_t id);
/* What casus.create shares with commit.post. */
int chain_apply_checked(struct server *srv, cc_chain_state *st, const uint8_t *cb, size_t cl,
                        uint8_t hash[CC_HASH_BYTES]) __attribute__((warn_unused_result));
int commit_time_ok(int64_t t);
int save_state(struct server *srv, const uint8_t cid[16], const cc_chain_state *st);
int members_update(struct server *srv, const uint8_t cid[16], const cc_chain_state *old, const cc_chain_state *nw);
struct outbuf *commit_push(const uint8_t cid[16], uint64_t epoch, const uint8_t *c, size_t n);

/* h_message.c */
int h_msg_post(struct session *s, json_t *req, uint64_t id);
/* The store step of a msg.post whose signature a verifier of the pool checked. */
int h_msg_post_verified(struct session *s, const struct vjob *job);
int h_history(struct session *s, json_t *req, uint64_t id);

/* h_grant.c */
int h_grant_post(struct session *s, json_t *req, uint64_t id);
int h_grant_fetch(struct session *s, json_t *req, uint64_t id);

/* h_transfer.c */
int h_transfer_post(struct session *s, json_t *req, uint64_t id);
int h_transfer_fetch(struct session *s, json_t *req, uint64_t id);

/* h_audit.c */
int h_audit_query(struct session *s, json_t *req, uint64_t id);
int h_audit_key(struct session *s, json_t *req, uint64_t id);
int h_audit_cosign(struct session *s, json_t *req, uint64_t id);
int h_audit_receipts(struct session *s, json_t *req, uint64_t id);

/* h_regie.c */
int h_regie_overview(struct session *s, json_t *req, uint64_t id);
int h_regie_monitor(struct session *s, json_t *req, uint64_t id);
int h_agenda_plan(struct session *s, json_t *req, uint64_t id);
int h_agenda_list(struct session *s, json_t *req, uint64_t id);
int h_action_disclose(struct session *s, json_t *req, uint64_t id);
/* From the tick: notice stagnating casus to the overview roles (once a minute). */
void regie_tick(struct server *srv);

/* ---- shared (handlers.c) ------------------------------------------------------ */

/* The one mapping from a crypto error (cc_err.h) to a protocol error code. */
int handler_err(int cc);
/* Fill an audit entry's casus fields (id, purpose, legal basis, level). */
void fill_casus(cc_audit_entry *e, const struct casus_rt *rt);
/* Log e with object "HEAD: +user (Name, role, org), -user (...)" naming who
 * joined and left between two roster states (old NULL: everyone in neu
 * joined), in further "(continued)" entries when they do not fit (h_commit.c). */
struct cc_chain_state;
void audit_log_people(struct server *srv, struct session *s, cc_audit_entry *e, const char *head,
                      const struct cc_chain_state *old, const struct cc_chain_state *neu);
/* deny() with the casus's fields in the audit entry (rt, else just cid). */
int deny_casus(struct session *s, uint64_t id, int code, const char *msg, unsigned event, const struct casus_rt *rt,
               const uint8_t *cid);
/* A device's membership record of a casus: join epoch and read marker (read_seq may be NULL). */
int member_info(struct server *srv, const uint8_t dev[16], const uint8_t cid[16], uint64_t *join, uint64_t *read_seq);

#endif
