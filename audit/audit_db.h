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
 *                                         from after pruning
 */
#ifndef CASUS_AUDIT_DB_H
#define CASUS_AUDIT_DB_H

#define CASUS_DB_AUDIT_ENTRIES "audit"
#define CASUS_DB_AUDIT_CHECKPOINTS "auditcp"
#define CASUS_DB_META "meta"
#define CASUS_META_AUDIT_ANCHOR "audit_anchor"

#endif
