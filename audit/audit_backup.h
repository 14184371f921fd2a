/*
 * audit_backup.h: the audit trail as casusd stores it in LMDB, read without
 * trusting the server: verification of a hot backup (`casusd backup`, an
 * `mdb_copy -c` copy) and the JSON-lines export of a store (`casusd
 * audit-export`).
 *
 * Layout (see server/audit.c and docs/AUDIT.md):
 *   DB "audit"   : key seq (u64 big-endian) -> hash[32] || canonical entry
 *   DB "auditcp" : key seq (u64 big-endian) -> encoded checkpoint (121 bytes)
 *   DB "meta"    : "audit_anchor" -> encoded anchor checkpoint (after pruning)
 *                  "audit_cosign/" seq device -> a witness's cosignature
 *
 * Records are fed to the streaming verifier merged by the LMDB key, each
 * checkpoint after the entry it seals, so that a changed, removed or swapped
 * value is reported at its place. The anchor stored in "meta" is only
 * accepted if it is signed by the pinned key (cc_audit_verifier_init checks
 * it), and the trail then holds an audit_prune entry that names it.
 *
 * Depends on liblmdb, casus_crypto and audit_export.c.
 */
#ifndef CASUS_AUDIT_BACKUP_H
#define CASUS_AUDIT_BACKUP_H

#include "audit_db.h"
#include "cc_audit.h"
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>

/* The database names (defined once, in audit_db.h). */
#define CC_AUDIT_DB_ENTRIES CASUS_DB_AUDIT_ENTRIES
#define CC_AUDIT_DB_CHECKPOINTS CASUS_DB_AUDIT_CHECKPOINTS
#define CC_AUDIT_DB_META CASUS_DB_META
#define CC_AUDIT_ANCHOR_META CASUS_META_AUDIT_ANCHOR

/* Callback per record in merged order; key = the LMDB key's seq (0 if the key
 * is not 8 bytes). Return non-zero to stop the walk with that value. */
typedef int (*cc_audit_walk_fn)(void *ctx, int is_checkpoint, uint64_t key, const uint8_t *val, size_t len);

/* Walk both databases of an open transaction in merged order. */
int cc_audit_lmdb_walk(MDB_txn *txn, MDB_dbi entries, MDB_dbi checkpoints, cc_audit_walk_fn fn, void *ctx);

/* The one trail-to-verifier driver: feed every entry and checkpoint of an
 * open transaction's trail to v (already initialised with the anchor) in
 * merged key order. It goes on after a fault instead of stopping at the
 * first: the verifier keeps the first fault it saw (v->fault, v->fault_seq),
 * and reading on is what lets it tell a gap from a reordering. Callers then
 * call cc_audit_verifier_finish(v) for the verdict. Used by the backup
 * verifier below and by `casusd audit-prune` (which prunes nothing unless the
 * verdict is CC_OK). Returns what cc_audit_lmdb_walk returns. */
int cc_audit_lmdb_feed(MDB_txn *txn, MDB_dbi entries, MDB_dbi checkpoints, MDB_dbi meta, cc_audit_verifier *v);
/* Feed the witnesses' cosignatures of checkpoint seq (meta keys
 * CASUS_META_COSIGN_PREFIX || seq || device) to v; the feed above does this
 * after each checkpoint. Returns how many were fed. */
int cc_audit_lmdb_cosigns(MDB_txn *txn, MDB_dbi meta, uint64_t seq, cc_audit_verifier *v);

/* Read the anchor from meta: 1 if present and decodable, 0 if absent, a
 * negative cc_err if present but undecodable. */
int cc_audit_lmdb_anchor(MDB_txn *txn, MDB_dbi meta, cc_audit_checkpoint *anchor);

/* Whether a checkpoint the privacy officer remembers (known) can be fed to a
 * verifier that starts at anchor: 0 when the trail was pruned past it (the
 * anchor lies after it; the audit_prune entry says so), else 1. */
int cc_audit_known_applies(const cc_audit_checkpoint *anchor, const cc_audit_checkpoint *known);

typedef struct cc_audit_backup_result {
	int has_anchor;
	cc_audit_checkpoint anchor; /* valid if has_anchor */
	int known_skipped;          /* known was older than the anchor, which a pinned witness cosigned */
	int have_last_cp;           /* newest checkpoint matched, for remembering */
	cc_audit_checkpoint last_cp;
} cc_audit_backup_result;

/* Verify the trail in the LMDB environment in dir (opened read-only and
 * without a lock file, so a backup on read-only media works). known: a
 * checkpoint remembered from earlier (cc_audit_verifier_known); witness_pk
 * (NULL: none): the witness key that counts (cc_audit_verifier_pin_witness).
 * Returns CC_OK,
 * CC_ERR_AUDIT_CHAIN / CC_ERR_AUDIT_CHECKPOINT (see v->fault, v->fault_seq),
 * or CC_ERR_IO when dir is not an LMDB store with the audit databases
 * (*lmdb_rc then holds LMDB's code). */
int cc_audit_backup_verify(const char *dir, const uint8_t pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *known,
                           const uint8_t *witness_pk, cc_audit_verifier *v, cc_audit_backup_result *res, int *lmdb_rc)
	__attribute__((warn_unused_result));

/* The stored hashes h[seq] of n entries of the store in dir (read-only, no
 * lock file): found[i] = 1 and hashes[i] filled when entry seqs[i] is there.
 * CC_OK or CC_ERR_IO. For checking a device's receipts against a backup. */
int cc_audit_backup_hashes(const char *dir, const uint64_t *seqs, size_t n, uint8_t (*hashes)[CC_HASH_BYTES],
                           int *found) __attribute__((warn_unused_result));

/* Write the JSON-lines export of an open transaction's trail to out (header
 * with the anchor, then entries and checkpoints in merged order). A value
 * that does not decode cannot be written in the strict format: the export
 * stops with CC_ERR_MALFORMED and *bad_seq names its key (verify the store to
 * see why). */
int cc_audit_lmdb_export(MDB_txn *txn, MDB_dbi entries, MDB_dbi checkpoints, MDB_dbi meta,
                         const uint8_t pk[CC_SIGN_PK_BYTES], int64_t now_ms, FILE *out, uint64_t *nentries,
                         uint64_t *ncps, uint64_t *bad_seq) __attribute__((warn_unused_result));

#endif
