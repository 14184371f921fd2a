/*
 * audit.h: casusd's side of the audit trail (the chain itself is crypto/cc_audit).
 *
 * Handlers describe what happened in a cc_audit_entry and call audit_log().
 * Entries are held per request and written by audit_request_done() into the
 * loop turn's transaction after the request's own child transaction has been
 * kept or thrown away, so that a refused request still leaves its "denied"
 * entry, and an action and its entry are committed together or not at all.
 *
 * The audit signing key is the server's only long-lived secret. It lives in
 * DATA/audit.key (mode 0600), is read once into sodium_malloc'd memory that is
 * kept PROT_NONE except for the moment a checkpoint is signed, and is wiped at
 * exit. Its public half is DATA/audit.pub and is served to clients.
 */
#ifndef CASUSD_AUDIT_H
#define CASUSD_AUDIT_H

#include <audit_db.h>
#include <cc_audit.h>
#include <cc_cert.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct session;

int audit_open(struct server *srv);
void audit_close(struct server *srv);

/* Fill actor fields from the session (may be NULL), time and access point,
 * then queue the entry for the current request. Casus purpose and legal
 * basis are filled by the caller when known. */
void audit_log(struct server *srv, const struct session *s, cc_audit_entry *e);
/* Write the current request's entries into the turn's transaction. */
void audit_request_done(struct server *srv, int kept);
/* Number of entries the current request has queued so far. */
size_t audit_pending(const struct server *srv);
void audit_turn_committed(struct server *srv);
void audit_turn_failed(struct server *srv);
/* Once a second: write a checkpoint if one is due by time. */
void audit_tick(struct server *srv);
/* Health and metrics (ops.c): entries committed but not yet sealed by a
 * signed checkpoint, and since when (wall ms; 0 when none are unsealed). */
void audit_unsealed(const struct server *srv, uint64_t *entries, int64_t *since_ms);
/* The audit public key (for clients and verifiers). */
const uint8_t *audit_public_key(const struct server *srv);
/* Write a checkpoint now in the current transaction (used at shutdown, export). */
int audit_checkpoint_now(struct server *srv);

/* Sign a receipt for entry seq with hash h[seq] (cc_audit_receipt_sign). */
int audit_sign_receipt(struct server *srv, uint64_t seq, const uint8_t hash[CC_HASH_BYTES], uint8_t sig[CC_SIG_BYTES]);

/* A store restored from a backup (st.restored): seal the restored head with a
 * checkpoint, append the segment anchor (cc_audit_segment_fill: the head and
 * checkpoint it continues from, reason "restored from a backup") and seal it
 * at once, in one committed transaction. 0 or -1. */
int audit_restore_segment(struct server *srv);

/* "user (Name, role, org)" from a certificate, a valid audit string. */
void audit_person(char *out, size_t cap, const cc_cert *c);

/* Live deliveries: a message pushed to session s is a read. It is added to
 * the session's pending batch for the casus, stored in the meta database in
 * the current (request) transaction, so the push and its record commit
 * together. A batch becomes one history_fetch entry (object
 * CASUS_AUDIT_LIVE_OBJECT ..., msg_ids, seq range) when it holds
 * CC_AUDIT_MSG_IDS_MAX messages, when the session closes, when it is
 * AUDIT_LIVE_MAX_AGE_MS old (audit_live_tick, once a second), and at start-up
 * and shutdown (audit_live_flush_all). */
#define AUDIT_LIVE_MAX_AGE_MS 60000
void audit_live_read(struct server *srv, const struct session *s, const uint8_t cid[16], const char *purpose,
                     const char *basis, uint8_t level, uint64_t seq, const uint8_t msg_id[16]);
void audit_live_session_closed(struct server *srv, uint64_t sid);
void audit_live_tick(struct server *srv);
/* Every pending batch into the trail, in the current transaction (opened if
 * needed); the caller commits. */
void audit_live_flush_all(struct server *srv);

/* meta key of the anchor checkpoint after pruning (121 bytes), audit_db.h. */
#define AUDIT_ANCHOR_KEY CASUS_META_AUDIT_ANCHOR

/* Offline tools (audit_tools.c, in the casusd executable only); argv after
 * the subcommand name. Return the process exit code. */
int audit_tool_export(int argc, char **argv);
int audit_tool_prune(int argc, char **argv);

#endif
