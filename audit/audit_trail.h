/*
 * audit_trail.h: the audit trail as a client reads it from the server
 * (audit.query pages), collected and verified by one driver that `casus
 * audit` (client/cli_audit.c) and the browser's privacy-officer screen
 * (client/web/wasm/cw_admin.c) both use, so both reach the same verdict:
 * every entry decoded, the hash chain and every checkpoint verified from
 * genesis or the signed anchor, and the witnesses' cosignatures checked
 * against the checkpoints they name (a rewritten, re-signed trail fails with
 * witness_mismatch).
 *
 * No sockets, files or clock: it compiles to wasm. Depends on casus_crypto,
 * jansson and libsodium.
 */
#ifndef CASUS_AUDIT_TRAIL_H
#define CASUS_AUDIT_TRAIL_H

#include "cc_audit.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Most entries one trail holds (a bound on what a server can make a client
 * allocate). */
#define CC_AUDIT_TRAIL_ENTRIES_MAX (4u * 1024u * 1024u)

typedef struct cc_audit_trail_rec {
	uint8_t *raw;
	size_t len;
	uint8_t hash[CC_HASH_BYTES];
	cc_audit_entry e;
} cc_audit_trail_rec;

typedef struct cc_audit_trail_cp {
	uint64_t seq;
	uint8_t raw[CC_AUDIT_CP_BYTES];
} cc_audit_trail_cp;

typedef struct cc_audit_trail_cs {
	uint64_t seq;
	uint8_t raw[CC_AUDIT_COSIGN_MAX];
	size_t len;
	uint8_t witness_pk[CC_SIGN_PK_BYTES];
	size_t order; /* its place in the server's order (sorting) */
} cc_audit_trail_cs;

typedef struct cc_audit_trail {
	cc_audit_trail_rec *r; /* entries in the server's order */
	size_t n, cap;
	cc_audit_trail_cp *cp; /* checkpoints, distinct; sorted by seq once verified */
	size_t ncp, capcp;
	cc_audit_trail_cs *cs; /* witnesses' cosignatures; sorted by seq once verified */
	size_t ncs, capcs;
	int sorted; /* cp and cs sorted (and cp's repeats dropped) since the last add */
	int has_anchor;
	cc_audit_checkpoint anchor;
	int has_key;
	uint8_t server_pk[CC_SIGN_PK_BYTES]; /* the audit key the server named */
} cc_audit_trail;

void cc_audit_trail_init(cc_audit_trail *t);
void cc_audit_trail_free(cc_audit_trail *t);

/* One audit.query answer into t: its audit_key, anchor (and the anchor's
 * cosignatures), entries and checkpoints (each with its cosignatures).
 * CC_OK, CC_ERR_MALFORMED (something does not decode; err says what),
 * CC_ERR_TOO_LARGE (more than CC_AUDIT_TRAIL_ENTRIES_MAX entries, checkpoints
 * or cosignatures) or
 * CC_ERR_NOMEM. */
int cc_audit_trail_add_page(cc_audit_trail *t, const json_t *page, char *err, size_t errlen);

/* The cosignatures of checkpoint seq: cs[*first .. *first + *count)
 * (sorts the trail first). */
void cc_audit_trail_cosigns_at(cc_audit_trail *t, uint64_t seq, size_t *first, size_t *count);

/* A part of the trail (a casus, a user, a period): every checkpoint must be
 * signed by pk. Sorts the checkpoints. CC_OK or CC_ERR_AUDIT_CHECKPOINT. */
int cc_audit_trail_check_signed(cc_audit_trail *t, const uint8_t pk[CC_SIGN_PK_BYTES]);

/* The whole trail: v initialised with pk and the anchor, witness_pk (NULL:
 * none) pinned as the witness that counts, the anchor's cosignatures fed,
 * known (NULL: none) applied (*known_bridged = 1 when a pinned witness's
 * cosigned anchor proves the trail extends it), then every entry, checkpoint
 * and cosignature in seq order. Returns cc_audit_verifier_finish(v): CC_OK,
 * or a fault in v->fault / v->fault_seq. Sorts the checkpoints. */
int cc_audit_trail_verify(cc_audit_trail *t, const uint8_t pk[CC_SIGN_PK_BYTES], const uint8_t *witness_pk,
                          const cc_audit_checkpoint *known, cc_audit_verifier *v, int *known_bridged)
	__attribute__((warn_unused_result));

/* The verifier's witness figures (as `casus audit verify --json` names them)
 * into o: witnessed, cosignatures, cosignatures_other_keys (when a witness is
 * pinned), last_witnessed_seq/last_witness/last_witness_key (when any),
 * segments (and the segment's place). */
void cc_audit_trail_witness_json(json_t *o, const cc_audit_verifier *v);

#endif
