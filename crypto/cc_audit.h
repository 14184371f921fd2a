/*
 * cc_audit.h: the tamper-evident audit trail of casus (entries, hash chain,
 * signed checkpoints, and a streaming verifier).
 *
 * casusd writes one audit entry for every read, write, key release, membership
 * or level change, export, purge, audit query and denied attempt (NEN 7513,
 * BIO 8.15, AVG). Entries hold metadata only: who, when, which casus, what,
 * on which ground, from where, with which result. They never hold message
 * content, titles, key material or passwords; the struct below has no field
 * that could carry them.
 *
 * Chain. Entries have a global sequence number starting at 1. Each entry's
 * hash is
 *     h[n] = BLAKE2b-256("casus.v1 audit entry" || h[n-1] || encoding[n])
 * with h[0] = 32 zero bytes (genesis), or the hash named by a signed
 * checkpoint when older entries have been pruned (the anchor).
 *
 * Checkpoints. Every so often the server signs (seq, h[seq], time, count)
 * with its Ed25519 audit key under the context "casus.v1 audit checkpoint".
 * count is the number of entries since the previous checkpoint (or since
 * genesis), so that a removed checkpoint is noticed too.
 *
 * Verifier. cc_audit_verifier_* takes entries and checkpoints in sequence
 * order from any storage (JSON-lines export, LMDB backup) and reports the
 * FIRST fault: which sequence number and what kind (see enum cc_audit_fault).
 * It keeps O(1) state, so it verifies a trail of any length.
 *
 * Entry byte layout, version 1 (integers big-endian, see cc_buf.h):
 *
 *   | field          | type              | notes                                  |
 *   |----------------|-------------------|----------------------------------------|
 *   | version        | u8                | 1                                      |
 *   | seq            | u64               | >= 1, global, gap-free                 |
 *   | time_ms        | i64               | UTC milliseconds since 1970            |
 *   | event          | u16               | enum cc_audit_event, != 0; open set    |
 *   | outcome        | u8                | enum cc_audit_outcome                  |
 *   | actor_user     | str <= 64         | user id from the certificate           |
 *   | actor_device   | fixed[16]         | device id, zero if none                |
 *   | actor_role     | str <= 32         | certified role                         |
 *   | actor_org      | str <= 128        | certified organisation                 |
 *   | on_behalf_of   | str <= 128        | whom the actor acted for               |
 *   | casus_id       | fixed[16]         | zero if the event concerns no casus    |
 *   | purpose        | str <= 256        | purpose of the casus (doel)            |
 *   | legal_basis    | str <= 256        | legal basis of the casus (grondslag)   |
 *   | level          | u8                | escalation level (new level), 0 = n/a  |
 *   | level_prev     | u8                | old level on level changes, else 0     |
 *   | ground         | u8                | disclosure ground (enum cc_ground)     |
 *   | flags          | u8                | bit 0 break-glass; other bits zero     |
 *   | seq_from       | u64               | object: first message/commit seq       |
 *   | seq_to         | u64               | object: last seq (>= seq_from)         |
 *   | n_msg_ids      | u8 <= 32          | object: message ids ...                |
 *   | msg_ids        | fixed[16] * n     |                                        |
 *   | object         | str <= 256        | object, free text (never content)      |
 *   | access_point   | str <= 64         | peer network address                   |
 *   | reason         | str <= 512        | typed reason (level change, break-glass)|
 *   | error          | str <= 64         | error code name when denied/error      |
 *
 * Strings are UTF-8 without control characters (checked on encode and decode,
 * so the encoding is canonical and safe to show). cc_audit_str_copy() makes
 * any input string fit; the server uses it so that an audit entry can always
 * be written.
 *
 * Checkpoint byte layout, version 1:
 *   u8 version=1 | u64 seq (>=1) | fixed[32] entry_hash | i64 time_ms | u64 count | fixed[64] sig
 * sig = Ed25519(audit_sk, "casus.v1 audit checkpoint" || all bytes before sig).
 *
 * All functions return CC_OK or a negative cc_err code.
 */
#ifndef CASUS_CC_AUDIT_H
#define CASUS_CC_AUDIT_H

#include "cc_keys.h"
#include <stddef.h>
#include <stdint.h>

struct cc_wbuf;

#define CC_AUDIT_VERSION 1
#define CC_AUDIT_CP_VERSION 1

#define CC_AUDIT_ID_BYTES 16 /* casus id, device id, message id */
#define CC_AUDIT_USER_MAX 64
#define CC_AUDIT_ROLE_MAX 32
#define CC_AUDIT_ORG_MAX 128
#define CC_AUDIT_BEHALF_MAX 128
#define CC_AUDIT_PURPOSE_MAX 256
#define CC_AUDIT_LEGAL_BASIS_MAX 256
#define CC_AUDIT_OBJECT_MAX 256
#define CC_AUDIT_ACCESS_POINT_MAX 64
#define CC_AUDIT_REASON_MAX 512
#define CC_AUDIT_ERROR_MAX 64
#define CC_AUDIT_MSG_IDS_MAX 32
/* No encoded entry is larger than this (all fields at their caps). */
#define CC_AUDIT_ENTRY_MAX 2400
#define CC_AUDIT_CP_BYTES (1 + 8 + CC_HASH_BYTES + 8 + 8 + CC_SIG_BYTES)

#define CC_AUDIT_ENTRY_CONTEXT "casus.v1 audit entry"
#define CC_AUDIT_CP_CONTEXT "casus.v1 audit checkpoint"

/* Event types. The set is open: a decoder accepts any non-zero code so that a
 * newer server's trail still verifies with an older verifier; new codes are
 * only ever added, never renumbered. */
enum cc_audit_event {
	CC_AUDIT_EV_AUTH = 1,                /* device authenticated (or failed to) */
	CC_AUDIT_EV_CASUS_CREATE = 2,        /* casus opened, purpose and legal basis recorded */
	CC_AUDIT_EV_CASUS_CLOSE = 3,         /* casus closed; content retention starts */
	CC_AUDIT_EV_CASUS_LIST = 4,          /* list/search of casus records (metadata) */
	CC_AUDIT_EV_COMMIT_ADD = 10,         /* member or device added */
	CC_AUDIT_EV_COMMIT_REMOVE = 11,      /* member or device removed */
	CC_AUDIT_EV_COMMIT_LEVEL = 12,       /* escalation or de-escalation */
	CC_AUDIT_EV_COMMIT_ROTATE = 13,      /* key rotation without roster change */
	CC_AUDIT_EV_COMMIT_BREAK_GLASS = 14, /* emergency admission outside the ladder */
	CC_AUDIT_EV_MESSAGE_POST = 20,       /* message stored */
	CC_AUDIT_EV_HISTORY_FETCH = 21,      /* messages fetched (read) */
	CC_AUDIT_EV_KEY_FETCH = 22,          /* sealed epoch keys released */
	CC_AUDIT_EV_COMMIT_FETCH = 23,       /* commit chain fetched */
	CC_AUDIT_EV_GRANT = 24,              /* history shared onward to a new member */
	CC_AUDIT_EV_GRANT_FETCH = 25,        /* sealed grant released to its recipient */
	CC_AUDIT_EV_AUDIT_QUERY = 30,        /* audit trail read (fg, procesregisseur) */
	CC_AUDIT_EV_EXPORT = 31,             /* audit export or data-subject report */
	CC_AUDIT_EV_PURGE = 32,              /* case content purged after retention */
	CC_AUDIT_EV_AUDIT_PRUNE = 33,        /* audit entries older than retention pruned */
	CC_AUDIT_EV_CONFIG_CHANGE = 40,      /* server configuration changed */
	CC_AUDIT_EV_POLICY_CHANGE = 41,      /* new signed policy installed */
	CC_AUDIT_EV_CERT_ENROL = 42,         /* device certificate registered */
	CC_AUDIT_EV_CERT_REVOKE = 43,        /* revocation list installed */
	CC_AUDIT_EV_SERVER_START = 50,
	CC_AUDIT_EV_SERVER_STOP = 51,
	CC_AUDIT_EV_SEGMENT = 52,        /* a restored server starts a new segment (see "segments" below) */
	CC_AUDIT_EV_AUDIT_COSIGN = 34,   /* a witness countersigned checkpoints (audit.cosign) */
	CC_AUDIT_EV_REQUEST_DENIED = 60, /* request refused before it could be classified */
	CC_AUDIT_EV_OVERVIEW = 70,       /* content-free overview of every casus read (procesregie) */
	CC_AUDIT_EV_MONITOR = 71,        /* aggregated monitoring figures read */
	CC_AUDIT_EV_STAGNATION = 72,     /* stagnation signal noticed to the overview roles */
	CC_AUDIT_EV_AGENDA = 73,         /* casus put on a case conference's agenda (date only) */
	CC_AUDIT_EV_ACTION = 74          /* an agreed action's due date and done flag disclosed */
};

enum cc_audit_outcome {
	CC_AUDIT_OUTCOME_SUCCESS = 0,
	CC_AUDIT_OUTCOME_DENIED = 1, /* refused: not allowed, not authenticated, rate limit */
	CC_AUDIT_OUTCOME_ERROR = 2   /* attempted but failed (malformed, conflict, I/O) */
};
#define CC_AUDIT_OUTCOME_MAX 2

/* Disclosure grounds: the same values as enum cc_ground in cc_policy.h. */
#define CC_AUDIT_GROUND_MAX 5

#define CC_AUDIT_FLAG_BREAK_GLASS 0x01

typedef struct cc_audit_entry {
	uint8_t version; /* CC_AUDIT_VERSION */
	uint64_t seq;    /* set by cc_audit_chain_append */
	int64_t time_ms;
	uint16_t event;  /* enum cc_audit_event */
	uint8_t outcome; /* enum cc_audit_outcome */
	char actor_user[CC_AUDIT_USER_MAX + 1];
	uint8_t actor_device[CC_AUDIT_ID_BYTES];
	char actor_role[CC_AUDIT_ROLE_MAX + 1];
	char actor_org[CC_AUDIT_ORG_MAX + 1];
	char on_behalf_of[CC_AUDIT_BEHALF_MAX + 1];
	uint8_t casus_id[CC_AUDIT_ID_BYTES];
	char purpose[CC_AUDIT_PURPOSE_MAX + 1];
	char legal_basis[CC_AUDIT_LEGAL_BASIS_MAX + 1];
	uint8_t level;
	uint8_t level_prev;
	uint8_t ground;
	uint8_t break_glass;       /* 0 or 1 */
	uint64_t seq_from, seq_to; /* 0,0 = no range */
	uint8_t n_msg_ids;
	uint8_t msg_ids[CC_AUDIT_MSG_IDS_MAX][CC_AUDIT_ID_BYTES];
	char object[CC_AUDIT_OBJECT_MAX + 1];
	char access_point[CC_AUDIT_ACCESS_POINT_MAX + 1];
	char reason[CC_AUDIT_REASON_MAX + 1];
	char error[CC_AUDIT_ERROR_MAX + 1];
} cc_audit_entry;

typedef struct cc_audit_checkpoint {
	uint8_t version;                   /* CC_AUDIT_CP_VERSION */
	uint64_t seq;                      /* entry the checkpoint seals */
	uint8_t entry_hash[CC_HASH_BYTES]; /* h[seq] */
	int64_t time_ms;
	uint64_t count; /* entries since the previous checkpoint */
	uint8_t sig[CC_SIG_BYTES];
} cc_audit_checkpoint;

/* ---- entries ------------------------------------------------------------ */

/* Zero the entry and set version 1 (a convenient start for the server). */
void cc_audit_entry_init(cc_audit_entry *e);

/* Copy src into dst (cap bytes incl. NUL) so that it is a valid audit string:
 * truncated on a UTF-8 boundary, invalid UTF-8 and control characters each
 * replaced by '?'. src NULL gives "". Returns 1 if anything was changed, 0 if
 * src was copied verbatim. */
int cc_audit_str_copy(char *dst, size_t cap, const char *src);

/* Appends the canonical encoding to w. Fails (and appends nothing useful) on
 * an over-long or invalid string, unknown outcome or ground, event 0, seq 0,
 * seq_from > seq_to or too many message ids. */
int cc_audit_entry_encode(const cc_audit_entry *e, struct cc_wbuf *w) __attribute__((warn_unused_result));
/* Strict decode: rejects truncation, trailing bytes, unknown version, any
 * value the encoder would refuse. *out is zeroed on failure. */
int cc_audit_entry_decode(const uint8_t *p, size_t n, cc_audit_entry *out) __attribute__((warn_unused_result));

/* h = BLAKE2b-256(CC_AUDIT_ENTRY_CONTEXT || prev || enc). */
int cc_audit_entry_hash(const uint8_t prev[CC_HASH_BYTES], const uint8_t *enc, size_t n, uint8_t out[CC_HASH_BYTES]);

/* Names for display and export ("history_fetch", "denied", ...). Unknown
 * values give NULL. */
const char *cc_audit_event_name(unsigned event);
int cc_audit_event_from_name(const char *name); /* code, or -1 */
const char *cc_audit_outcome_name(unsigned outcome);
int cc_audit_outcome_from_name(const char *name);  /* code, or -1 */
const char *cc_audit_ground_name(unsigned ground); /* "none", "consent", ... */
int cc_audit_ground_from_name(const char *name);   /* code, or -1 */

/* ---- checkpoints -------------------------------------------------------- */

/* Fills cp->sig. sk is the server's Ed25519 audit secret key (used for
 * nothing else). */
int cc_audit_checkpoint_sign(cc_audit_checkpoint *cp, const uint8_t sk[CC_SIGN_SK_BYTES]);
/* CC_OK, or CC_ERR_AUDIT_CHECKPOINT if the signature is not the audit key's. */
int cc_audit_checkpoint_verify(const cc_audit_checkpoint *cp, const uint8_t pk[CC_SIGN_PK_BYTES])
	__attribute__((warn_unused_result));
int cc_audit_checkpoint_encode(const cc_audit_checkpoint *cp, struct cc_wbuf *w) __attribute__((warn_unused_result));
int cc_audit_checkpoint_decode(const uint8_t *p, size_t n, cc_audit_checkpoint *out)
	__attribute__((warn_unused_result));

/* ---- writer side (casusd) ----------------------------------------------- */

/* The head of the chain as the server keeps it. A plain value: copy it before
 * an LMDB write transaction and restore the copy if the transaction aborts. */
typedef struct cc_audit_chain {
	uint64_t last_seq;           /* 0: empty chain */
	uint8_t head[CC_HASH_BYTES]; /* h[last_seq], or genesis/anchor hash */
	uint64_t last_cp_seq;        /* seq of the newest checkpoint, 0 if none */
} cc_audit_chain;

/* An empty chain from genesis. */
void cc_audit_chain_init(cc_audit_chain *c);
/* Resume from stored state: the newest entry (seq, hash) and the newest
 * checkpoint's seq (0 if none). */
void cc_audit_chain_resume(cc_audit_chain *c, uint64_t last_seq, const uint8_t head[CC_HASH_BYTES],
                           uint64_t last_cp_seq);
/* Sets e->seq to last_seq + 1, appends its encoding to enc and writes its
 * hash. The chain advances only on success. The server stores (seq -> hash ||
 * encoding) in the same LMDB transaction as the action it records. */
int cc_audit_chain_append(cc_audit_chain *c, cc_audit_entry *e, struct cc_wbuf *enc, uint8_t hash_out[CC_HASH_BYTES])
	__attribute__((warn_unused_result));
/* Signs a checkpoint over the current head (fails on an empty chain or if the
 * head is already checkpointed) and records it as the newest checkpoint. */
int cc_audit_chain_checkpoint(cc_audit_chain *c, int64_t time_ms, const uint8_t sk[CC_SIGN_SK_BYTES],
                              cc_audit_checkpoint *out) __attribute__((warn_unused_result));

/* ---- streaming verifier ------------------------------------------------- */

enum cc_audit_fault {
	CC_AUDIT_FAULT_NONE = 0,
	CC_AUDIT_FAULT_MALFORMED = 1,     /* an entry does not decode: bytes changed */
	CC_AUDIT_FAULT_HASH = 2,          /* stored hash differs: entry bytes changed */
	CC_AUDIT_FAULT_GAP = 3,           /* sequence jumps: entry fault_seq deleted */
	CC_AUDIT_FAULT_ORDER = 4,         /* entries swapped, duplicated or out of order */
	CC_AUDIT_FAULT_TAIL_CUT = 5,      /* a checkpoint seals entries that are missing */
	CC_AUDIT_FAULT_CP_SIGNATURE = 6,  /* checkpoint (or anchor) signature invalid */
	CC_AUDIT_FAULT_CP_MISMATCH = 7,   /* signed hash differs: an entry up to it was changed */
	CC_AUDIT_FAULT_CP_MISSING = 8,    /* checkpoint count: a checkpoint was removed */
	CC_AUDIT_FAULT_CP_MALFORMED = 9,  /* a checkpoint does not decode */
	CC_AUDIT_FAULT_CP_ORDER = 10,     /* checkpoint out of place, or two for one seq */
	CC_AUDIT_FAULT_SEGMENT = 11,      /* a segment anchor does not name the chain it continues */
	CC_AUDIT_FAULT_WITNESS_SIG = 12,  /* a cosignature does not verify or names another trail */
	CC_AUDIT_FAULT_WITNESS = 13,      /* a witnessed checkpoint was replaced: the trail was rewritten */
	CC_AUDIT_FAULT_NOT_EXTENDING = 14 /* the trail does not extend a checkpoint remembered or witnessed */
};

#define CC_AUDIT_PENDING_MAX 8

typedef struct cc_audit_verifier {
	uint8_t pk[CC_SIGN_PK_BYTES];
	uint8_t prev[CC_HASH_BYTES]; /* hash of the last verified entry (or anchor) */
	uint64_t last_seq;           /* last verified entry, anchor seq, or 0 */
	uint64_t first_seq;          /* first entry expected: 1 or anchor seq + 1 */
	cc_audit_checkpoint last_cp; /* newest checkpoint matched against the chain */
	int have_cp;
	cc_audit_checkpoint pending[CC_AUDIT_PENDING_MAX]; /* ahead of the chain, by seq */
	unsigned npending;
	uint64_t entries;     /* entries verified */
	uint64_t checkpoints; /* checkpoints matched */
	int64_t last_time_ms; /* time of the last verified entry */
	/* The first fault; it never moves. kind may be refined from GAP to ORDER
	 * when the missing entry turns up later in the stream. */
	int err; /* CC_OK, CC_ERR_AUDIT_CHAIN or CC_ERR_AUDIT_CHECKPOINT */
	enum cc_audit_fault fault;
	uint64_t fault_seq;   /* the sequence number where it broke */
	uint64_t found_seq;   /* for GAP/ORDER: the seq found in its place */
	uint64_t fault_index; /* 0-based record number (entries + checkpoints) */
	uint64_t records;     /* records fed so far */
	int finished;
	/* segments: restore boundaries met (an entry of event CC_AUDIT_EV_SEGMENT) */
	uint64_t segments;
	uint64_t segment_seq;  /* seq of the newest segment anchor entry */
	uint64_t segment_from; /* the head it continues from (segment_seq - 1) */
	/* witnesses: cosignatures checked against the checkpoint they name */
	int witness_pinned; /* only cosignatures by witness_pk count as witnessed */
	uint8_t witness_pk[CC_SIGN_PK_BYTES];
	uint64_t cosigns;       /* cosignatures that verified and matched */
	uint64_t cosigns_other; /* verified, but by another key than the pinned witness */
	uint64_t witnessed;     /* distinct checkpoints witnessed (counted cosignatures) */
	uint64_t last_witnessed_seq;
	char last_witness_user[CC_AUDIT_USER_MAX + 1];
	uint8_t last_witness_pk[CC_SIGN_PK_BYTES];
} cc_audit_verifier;

/* Start a verification. anchor NULL: from genesis (first entry seq 1, zero
 * prev hash). Otherwise from a signed checkpoint: the first entry must be
 * anchor->seq + 1. Returns CC_ERR_AUDIT_CHECKPOINT (fault CP_SIGNATURE) if the
 * anchor is not signed by pk; the verifier is then failed. */
int cc_audit_verifier_init(cc_audit_verifier *v, const uint8_t pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *anchor);
/* One entry in sequence order. stored_hash is the hash kept next to it (NULL
 * if the source has none; then changes are found at the next checkpoint).
 * Returns CC_OK or the sticky error. After an error, keep feeding the rest of
 * the stream if you want a GAP told apart from a reorder; the fault's seq
 * never changes. */
int cc_audit_verifier_entry(cc_audit_verifier *v, const uint8_t *entry, size_t len, const uint8_t *stored_hash);
/* One checkpoint, placed after the entry it seals (or earlier: it waits). A
 * checkpoint obtained out of band (the newest one seen at an earlier
 * verification) may be fed first to detect a cut tail that took its
 * checkpoints with it. */
int cc_audit_verifier_checkpoint(cc_audit_verifier *v, const uint8_t *cp, size_t len);
/* End of stream: a checkpoint still waiting for its entry means the tail was
 * cut (fault TAIL_CUT at the first missing seq). Returns the final verdict. */
int cc_audit_verifier_finish(cc_audit_verifier *v) __attribute__((warn_unused_result));
/* Entries after the newest matched checkpoint: no signature covers them yet. */
uint64_t cc_audit_verifier_unsealed(const cc_audit_verifier *v);

/* A cosignature (see "witnesses" below), placed after the checkpoint it
 * names. It is checked against the checkpoint at its seq that the verifier
 * holds (the newest matched one, the anchor, or one waiting for its entry):
 * a bad signature or another audit key gives WITNESS_SIG, another hash at
 * that seq gives WITNESS (the trail was rewritten and re-signed after the
 * witness saw it). A cosignature for a checkpoint the verifier no longer
 * holds is not counted. */
int cc_audit_verifier_cosign(cc_audit_verifier *v, const uint8_t *bytes, size_t len);
/* A checkpoint remembered from an earlier verification (the --remember file):
 * call after init (and after feeding the anchor's cosignatures). If the trail
 * still reaches it, it is fed as a checkpoint (a cut tail or rewrite then
 * fails). If the trail was pruned past it (the anchor is newer), the anchor
 * must prove it extends it: that proof is a cosignature on the anchor by the
 * pinned witness (whose client only cosigns a trail that extends everything
 * it cosigned before); then 1 is returned (the caller says so). Without it
 * the verifier fails with NOT_EXTENDING at the remembered seq. */
int cc_audit_verifier_known(cc_audit_verifier *v, const cc_audit_checkpoint *known);
/* Count only cosignatures made with this witness key (the verifier's own, or
 * one pinned out of band); others are still checked. */
void cc_audit_verifier_pin_witness(cc_audit_verifier *v, const uint8_t pk[CC_SIGN_PK_BYTES]);

const char *cc_audit_fault_name(enum cc_audit_fault f); /* "gap", ... */
const char *cc_audit_fault_text(enum cc_audit_fault f); /* one English sentence */

/* ---- segments (restore) --------------------------------------------------
 *
 * A casusd restored from a backup starts a new segment of the trail: it
 * first seals the restored head with a checkpoint, then appends a segment
 * anchor, an entry of event CC_AUDIT_EV_SEGMENT whose
 *   seq_from  = the seq of the old segment's last checkpoint,
 *   seq_to    = the old head's seq (the anchor's own seq - 1),
 *   msg_ids   = two 16-byte halves of h[seq_to], the head it continues from,
 *   object    = the same in words, reason "restored from a backup",
 * and seals it with a checkpoint at once. The verifier checks these fields
 * against the chain it walked (fault SEGMENT otherwise) and counts the
 * boundary, so `casus audit verify` says where the store went back and why.
 */
/* Fill the segment fields of e (event, seq range, head) for a chain whose
 * head is c and whose newest checkpoint is at c->last_cp_seq. */
void cc_audit_segment_fill(cc_audit_entry *e, const cc_audit_chain *c);

/* ---- witnesses (cosignatures) ---------------------------------------------
 *
 * A witness (the privacy officer's device) countersigns a checkpoint it
 * verified with its device identity key. Layout, version 1:
 *   u8 version=1 | fixed[32] audit_pk | u64 seq | fixed[32] entry_hash |
 *   i64 time_ms (witness clock) | fixed[16] witness device id |
 *   fixed[32] witness identity pk | str witness user <= 64 | fixed[64] sig
 * sig = cc_sign_ctx(witness sk, CC_AUDIT_COSIGN_CONTEXT, all bytes before sig).
 * It binds the trail (audit key), the position and the head hash: a trail
 * rewritten and re-signed with the audit key no longer matches it.
 */
#define CC_AUDIT_COSIGN_VERSION 1
#define CC_AUDIT_COSIGN_CONTEXT "casus.v1 audit cosign"
#define CC_AUDIT_COSIGN_MAX (1 + 32 + 8 + 32 + 8 + 16 + 32 + 2 + CC_AUDIT_USER_MAX + 64)

typedef struct cc_audit_cosign {
	uint8_t version;
	uint8_t audit_pk[CC_SIGN_PK_BYTES];
	uint64_t seq;
	uint8_t entry_hash[CC_HASH_BYTES];
	int64_t time_ms;
	uint8_t device[CC_AUDIT_ID_BYTES];
	uint8_t witness_pk[CC_SIGN_PK_BYTES];
	char user[CC_AUDIT_USER_MAX + 1];
	uint8_t sig[CC_SIG_BYTES];
} cc_audit_cosign;

/* ---- receipts ---------------------------------------------------------------
 * A device's receipt for an entry about its own read: the server signs with
 * the audit key cc_sign_ctx(audit_sk, CC_AUDIT_RECEIPT_CONTEXT,
 *   audit_pk[32] | u64 seq | h[seq][32]).
 * h[seq] covers the entry's bytes and, through the chain, everything before
 * it, so a receipt is the operator's signed word that the trail held this
 * entry at this place; a later trail without it (rewritten, cut, reordered)
 * contradicts a signature only the audit key could make. */
#define CC_AUDIT_RECEIPT_CONTEXT "casus.v1 audit receipt"
int cc_audit_receipt_sign(const uint8_t sk[CC_SIGN_SK_BYTES], const uint8_t audit_pk[CC_SIGN_PK_BYTES], uint64_t seq,
                          const uint8_t hash[CC_HASH_BYTES], uint8_t sig[CC_SIG_BYTES])
	__attribute__((warn_unused_result));
int cc_audit_receipt_verify(const uint8_t audit_pk[CC_SIGN_PK_BYTES], uint64_t seq, const uint8_t hash[CC_HASH_BYTES],
                            const uint8_t sig[CC_SIG_BYTES]) __attribute__((warn_unused_result));

/* Fill and sign a cosignature over checkpoint cp of the trail audit_pk. */
int cc_audit_cosign_make(cc_audit_cosign *out, const uint8_t audit_pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *cp,
                         int64_t time_ms, const uint8_t device[CC_AUDIT_ID_BYTES],
                         const uint8_t witness_pk[CC_SIGN_PK_BYTES], const char *user,
                         const uint8_t witness_sk[CC_SIGN_SK_BYTES]) __attribute__((warn_unused_result));
int cc_audit_cosign_encode(const cc_audit_cosign *c, struct cc_wbuf *w) __attribute__((warn_unused_result));
int cc_audit_cosign_decode(const uint8_t *p, size_t n, cc_audit_cosign *out) __attribute__((warn_unused_result));
/* CC_OK when sig verifies with c->witness_pk. */
int cc_audit_cosign_verify(const cc_audit_cosign *c) __attribute__((warn_unused_result));

#endif
