/*
 * audit_db.h: the names under which casusd's LMDB store keeps the audit trail.
 *
 * Defined once, here: casusd opens its databases by these names
 * (server/schema.c), and the offline readers (casusd audit-export and
 * audit-prune, `casus audit verify --backup`) open a copy of the store by
 * the same names.
 *
 *   CASUS_DB_AUDIT_ENTRIES      seq[8]  -> hash[32] || canonical entry
 *   CASUS_DB_AUDIT_CHECKPOINTS  seq[8]  -> signed checkpoint (CC_AUDIT_CP_BYTES)
 *   CASUS_DB_META               name    -> value; CASUS_META_AUDIT_ANCHOR is the
 *                                         signed checkpoint the trail starts
 *                                         from after pruning;
 *                                         CASUS_META_LIVE_PREFIX || sid[8] ||
 *                                         casus[16] -> a pending batch of live
 *                                         deliveries (an unsealed audit entry,
 *                                         server/audit.c);
 *                                         CASUS_META_COSIGN_PREFIX || seq[8] ||
 *                                         device[16] -> a witness's
 *                                         cosignature of checkpoint seq
 *                                         (cc_audit_cosign, server/h_audit.c)
 *
 * A batch of live deliveries (messages pushed to an open or watching session)
 * becomes a `history_fetch` entry whose object starts with
 * CASUS_AUDIT_LIVE_OBJECT, so readers can tell a live read from a fetch.
 */
#ifndef CASUS_AUDIT_DB_H
#define CASUS_AUDIT_DB_H

#define CASUS_DB_AUDIT_ENTRIES "audit"
#define CASUS_DB_AUDIT_CHECKPOINTS "auditcp"
#define CASUS_DB_META "meta"
#define CASUS_META_AUDIT_ANCHOR "audit_anchor"
#define CASUS_META_LIVE_PREFIX "audit_live/"
#define CASUS_META_COSIGN_PREFIX "audit_cosign/"
#define CASUS_AUDIT_LIVE_OBJECT "live delivery"

#endif
