/*
 * cc_commit.h: signed membership and level changes of a casus (the chain).
 *
 * A casus is a chain of commits. Every commit (create, add, remove, escalate,
 * de-escalate, rotate, break-glass) carries the complete new roster (the
 * members' device certificates, so anyone can check roles against the root),
 * and opens a new epoch: epoch = commit sequence number, and EVERY commit
 * rotates EVERY audience key. For each audience the acting device draws a
 * fresh 32-byte key, publishes a key commitment, and seals the key with
 * crypto_box_seal to each device that the signed policy entitles at the new
 * level; the box content names recipient device, casus, audience and epoch.
 * The actor signs everything with its device identity key.
 *
 * Who may verify what:
 *  - the server (no keys) keeps a cc_chain_state and calls cc_chain_apply for
 *    each submitted commit: version/syntax, prev hash = head (CC_ERR_CHAIN),
 *    epoch = head + 1 (CC_ERR_EPOCH), actor's certificate and signature, actor's
 *    certified role may make this change at this level under the policy
 *    (CC_ERR_FORBIDDEN), roster transition consistent with the type
 *    (CC_ERR_ROSTER), level rules (CC_ERR_LEVEL) and that the recipient list of
 *    every audience equals the entitled devices, in roster order (CC_ERR_ROSTER).
 *    cc_chain_state_encode/decode let it keep the state in LMDB.
 *    cc_chain_apply_historic applies the same rules as of each commit's time,
 *    for replaying a stored chain after certificates expired or were revoked.
 *  - a client does the same through cc_casus_apply_commit (cc_casus.h), which
 *    additionally opens its own sealed keys and checks them against the key
 *    commitments.
 *
 * Byte layout of a commit (big-endian, cc_buf.h); tables also in docs/CRYPTO.md (end-to-end part):
 *
 *   u8        version (4, written by the builder: boxes stored apart; 2 and 3
 *             are still read: 2 = every box sealed to the certified key, 3 =
 *             a wrap version per box, both with the boxes inside the signed
 *             bytes; version 1, which carried the reason in the clear and no
 *             policy number, is refused: CC_ERR_VERSION)
 *   u8        type (CC_COMMIT_*)
 *   fixed16   casus id
 *   u64       epoch (= sequence number; 0 for create)
 *   fixed32   prev hash (hash of the previous commit; zeros for create)
 *   u8        level before (0 for create)
 *   u8        level after
 *   i64       time (UTC seconds, not before the previous commit's time)
 *   u64       policy number the actor made the commit under (cc_policy.number)
 *   fixed16   actor device id
 *   u16       roster entries (1..CC_ROSTER_MAX), sorted by device id, unique
 *     u8        flags (CC_ROSTER_BREAK_GLASS)
 *     var16     encoded device certificate (<= CC_CERT_MAX)
 *   u8        audiences (= policy naudiences), in policy order
 *     u8        audience index
 *     fixed32   key commitment = BLAKE2b-256(key=epoch key,
 *                 "casus.e2e.v1.epochkey.commit\0" || casus || u8 aud || u64 epoch)
 *     u16       recipients
 *       fixed16   recipient device id
 *       u32       (versions 3 and 4) wrap version the box is sealed to: 0 = the
 *                 certified box key, n >= 1 = the device's signed wrap key n
 *                 (cc_wrapkey.h); in version 2 every box is sealed to version 0
 *       versions 2, 3: fixed[CC_SEALED_KEY_BYTES] the box: crypto_box_seal to the
 *                 recipient's X25519 key of u8 0x01 || fixed16 recipient id ||
 *                 fixed16 casus || u8 aud || u64 epoch || fixed32 epoch key
 *       version 4: fixed32 box digest = BLAKE2b-256("casus.e2e.v4.commit.box\0" ||
 *                 casus || u64 epoch || u8 aud || fixed16 recipient || u32 wrap ||
 *                 box); the box itself travels in the box section below
 *   var16     reason box: empty (no reason), or fixed24 nonce || XChaCha20-Poly1305-IETF
 *             ciphertext (key = reason key, additional data
 *             "casus.e2e.v2.commit.reason\0" || casus || u64 epoch) of the UTF-8
 *             reason padded ISO/IEC 7816-4 to a multiple of CC_REASON_BLOCK bytes;
 *             length 24 + 16 + k * CC_REASON_BLOCK, 1 <= k, at most CC_REASON_BOX_MAX
 *   only if the reason box is not empty:
 *     fixed32   reason key commitment (the key commitment above with audience
 *               CC_REASON_AUDIENCE)
 *     u16       recipients (= roster entries)
 *       fixed16   device id of every roster entry, in roster order
 *       u32       (versions 3 and 4) wrap version, as above
 *       box (2, 3) or box digest (4) of the reason key sealed like an epoch key,
 *                 audience CC_REASON_AUDIENCE (0xff)
 *   fixed64   Ed25519 signature by the actor over
 *             "casus.e2e.v1.commit.sig\0" || every byte above
 *   --- the signed part ends here (cc_commit.signed_len) ---
 *   version 4 only, optional (absent = no box; never present with 0 boxes,
 *   so that every commit has one encoding):
 *   u16       boxes (>= 1)
 *     u8        audience (CC_REASON_AUDIENCE for the reason key)
 *     fixed16   recipient device id
 *     fixed[CC_SEALED_KEY_BYTES] the box
 *             strictly increasing by (audience, device); each must be a signed
 *             recipient (else CC_ERR_MALFORMED) and match its digest (else
 *             CC_ERR_KEY_COMMITMENT: a swapped box is refused at decoding).
 *             A box that is absent is like a box sealed to a retired wrap key:
 *             the member applies the epoch without that key. The server keeps
 *             the boxes in their own records and deletes those no current
 *             device needs (docs/STORAGE.md, box retention); a fresh
 *             submission (cc_chain_apply) must carry every box.
 *
 * The reason ("signalen van uitbuiting") is case content: only the devices of
 * the new roster can read it; the server and every verifier without a device
 * key see its length class only. Verifiers check that it is present where the
 * policy requires one (level changes, break-glass) and sealed to exactly the
 * roster; members check with cc_commit_open_reason that it opens to non-empty
 * text (cc_casus does so when it applies a commit).
 *
 * Commit hash (the chain link and the messages' "epoch hash"):
 *   BLAKE2b-256("casus.e2e.v1.commit.hash\0" || the signed part incl. signature)
 *   (versions 2 and 3: the full commit; version 4: without the box section).
 */
#ifndef CASUS_CC_COMMIT_H
#define CASUS_CC_COMMIT_H

#include "cc_cert.h"
#include "cc_keys.h"
#include "cc_policy.h"
#include "cc_wrapkey.h"
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

#define CC_COMMIT_VERSION 2
#define CC_COMMIT_VERSION_WRAP 3  /* the same with a wrap version per box (read; built only on request) */
#define CC_COMMIT_VERSION_BOXES 4 /* boxes stored apart, the signed part has their digests (the builder's default) */
#define CC_CASUS_ID_BYTES 16
#define CC_EPOCH_KEY_BYTES 32
#define CC_ROSTER_MAX 256                /* devices in one casus */
#define CC_COMMIT_REASON_MAX 1024        /* bytes of UTF-8 */
#define CC_COMMIT_MAX_BYTES (512 * 1024) /* no valid commit is larger */
#define CC_REASON_AUDIENCE 0xff          /* audience byte of the reason key's box and commitment */
#define CC_REASON_BLOCK 32               /* reason plaintext padding block */
#define CC_REASON_NONCE_BYTES 24
#define CC_REASON_MAC_BYTES 16
/* Largest reason box: nonce, the longest reason plus its padding byte rounded up to a block, tag. */
#define CC_REASON_BOX_MAX                                                                                              \
	(CC_REASON_NONCE_BYTES + ((CC_COMMIT_REASON_MAX + CC_REASON_BLOCK) / CC_REASON_BLOCK) * CC_REASON_BLOCK +      \
	 CC_REASON_MAC_BYTES)
/* Plaintext inside an epoch-key box: kind, recipient, casus, audience, epoch, key. */
#define CC_SEALED_KEY_PLAIN_BYTES (1 + CC_DEVICE_ID_BYTES + CC_CASUS_ID_BYTES + 1 + 8 + CC_EPOCH_KEY_BYTES)
#define CC_SEALED_KEY_BYTES (crypto_box_SEALBYTES + CC_SEALED_KEY_PLAIN_BYTES)

#define CC_ROSTER_BREAK_GLASS 0x01 /* admitted outside the ladder; flagged */

enum cc_commit_type {
	CC_COMMIT_CREATE = 1,     /* open a casus: first epoch, creator and first members */
	CC_COMMIT_ADD = 2,        /* add devices whose role the current level admits (needs may_add,
	                           * except for devices of the actor's own user id and role) */
	CC_COMMIT_REMOVE = 3,     /* remove devices */
	CC_COMMIT_ESCALATE = 4,   /* raise the level; roster unchanged */
	CC_COMMIT_DEESCALATE = 5, /* lower the level; removes every device the new level no longer admits,
	                             and every break-glass device */
	CC_COMMIT_ROTATE = 6,     /* new keys only */
	CC_COMMIT_BREAK_GLASS = 7 /* admit devices outside the ladder, flagged, typed reason required */
};
const char *cc_commit_type_name(int type); /* "create", ...; NULL if unknown */

/* One member device. */
typedef struct cc_roster_entry {
	uint8_t flags;                    /* CC_ROSTER_* */
	cc_cert cert;                     /* decoded certificate */
	uint8_t cert_hash[CC_HASH_BYTES]; /* BLAKE2b-256 of its encoding (cc_cert_hash) */
} cc_roster_entry;

typedef struct cc_commit_recipient {
	uint8_t device_id[CC_DEVICE_ID_BYTES];
	uint32_t wrap;   /* wrap version the box is sealed to (0: certified box key; always 0 in version 2) */
	uint8_t has_box; /* box is valid (always in versions 2, 3; version 4: it came along) */
	uint8_t digest[CC_HASH_BYTES]; /* version 4: the signed box digest (the encoder recomputes it from box
	                                  when has_box) */
	uint8_t box[CC_SEALED_KEY_BYTES];
} cc_commit_recipient;

typedef struct cc_commit_audience {
	uint8_t audience;
	uint8_t key_commit[CC_HASH_BYTES];
	uint16_t nrecipients;
	cc_commit_recipient *recipients; /* heap, owned by the cc_commit */
} cc_commit_audience;

/* A decoded commit. Arrays are heap memory owned by the struct: cc_commit_free. */
typedef struct cc_commit {
	uint8_t version;
	uint8_t type;
	uint8_t casus_id[CC_CASUS_ID_BYTES];
	uint64_t epoch;
	uint8_t prev_hash[CC_HASH_BYTES];
	uint8_t level_before;
	uint8_t level_after;
	int64_t time;
	uint64_t policy; /* number of the policy the actor made it under */
	uint8_t actor[CC_DEVICE_ID_BYTES];
	uint16_t nroster;
	cc_roster_entry *roster; /* heap, owned */
	uint8_t naudiences;
	cc_commit_audience audiences[CC_POLICY_MAX_AUDIENCES];
	uint16_t reason_len; /* 0: no reason */
	uint8_t reason_box[CC_REASON_BOX_MAX];
	cc_commit_audience reason; /* key commitment and the boxes of the reason key (audience 0xff) */
	uint8_t sig[CC_SIG_BYTES];
	size_t signed_len; /* decoding: bytes of the signed part (version 4: before the box section) */
} cc_commit;

/* Syntax only (no signature, policy or chain checks); rejects truncation,
 * trailing bytes, unknown version/type, unsorted or duplicate roster, lengths
 * over their caps. On success *out owns heap arrays (cc_commit_free); on
 * failure *out is empty and needs no free. */
int cc_commit_decode(const uint8_t *p, size_t n, cc_commit *out) __attribute__((warn_unused_result));
void cc_commit_free(cc_commit *c); /* frees arrays and zeroes the struct; NULL-safe */
/* Appends the canonical encoding including c->sig (version 4: and the box
 * section with every box the struct holds). */
int cc_commit_encode(const cc_commit *c, struct cc_wbuf *w);
/* The same without the box section: what the server stores as the commit. */
int cc_commit_encode_signed(const cc_commit *c, struct cc_wbuf *w);
/* Length of the signed part of an encoded commit (decodes it; a swapped box is refused). */
int cc_commit_signed_len(const uint8_t *p, size_t n, size_t *signed_len) __attribute__((warn_unused_result));
/* 1 if every recipient's box is present. */
int cc_commit_all_boxes(const cc_commit *c);
/* The version 4 box digest (layout above). */
int cc_commit_box_digest(const uint8_t casus_id[CC_CASUS_ID_BYTES], uint64_t epoch, uint8_t audience,
                         const uint8_t device_id[CC_DEVICE_ID_BYTES], uint32_t wrap,
                         const uint8_t box[CC_SEALED_KEY_BYTES], uint8_t out[CC_HASH_BYTES]);
/* Fills c->sig with the actor's signature (c->actor must be keys->device_id).
 * Exposed for tools and tests that assemble commits by hand. */
int cc_commit_sign(cc_commit *c, const cc_device_keys *actor);
/* Checks c->sig under sign_pk. */
int cc_commit_verify_sig(const cc_commit *c, const uint8_t sign_pk[CC_SIGN_PK_BYTES])
	__attribute__((warn_unused_result));
/* Hash of an encoded commit (see layout above). */
int cc_commit_hash(const uint8_t *p, size_t n, uint8_t out[CC_HASH_BYTES]);

/* Seal an epoch key to one device (the box layout above); box gets CC_SEALED_KEY_BYTES. */
int cc_commit_seal_key(uint8_t box[CC_SEALED_KEY_BYTES], const uint8_t recipient_box_pk[CC_BOX_PK_BYTES],
                       const uint8_t recipient_id[CC_DEVICE_ID_BYTES], const uint8_t casus_id[CC_CASUS_ID_BYTES],
                       uint8_t audience, uint64_t epoch, const uint8_t key[CC_EPOCH_KEY_BYTES]);
/* Open a box with a wrap secret of this device (NULL: its certified box key,
 * wrap version 0), checking the bound fields like cc_commit_open_key. */
int cc_commit_open_key_wrap(const uint8_t box[CC_SEALED_KEY_BYTES], const cc_device_keys *self,
                            const cc_wrap_secret *wrap, const uint8_t casus_id[CC_CASUS_ID_BYTES], uint8_t audience,
                            uint64_t epoch, uint8_t key[CC_EPOCH_KEY_BYTES]) __attribute__((warn_unused_result));
/* Open a box with this device's keys and check every bound field: a box for
 * another device, casus, audience or epoch is CC_ERR_NOT_RECIPIENT; a box that
 * does not open is CC_ERR_DECRYPT. key is written only on success. */
int cc_commit_open_key(const uint8_t box[CC_SEALED_KEY_BYTES], const cc_device_keys *self,
                       const uint8_t casus_id[CC_CASUS_ID_BYTES], uint8_t audience, uint64_t epoch,
                       uint8_t key[CC_EPOCH_KEY_BYTES]) __attribute__((warn_unused_result));
/* The public commitment to an epoch key (layout above). */
int cc_commit_key_commitment(const uint8_t key[CC_EPOCH_KEY_BYTES], const uint8_t casus_id[CC_CASUS_ID_BYTES],
                             uint8_t audience, uint64_t epoch, uint8_t out[CC_HASH_BYTES]);

/* The reason of an encoded commit, for a member: decodes it, finds this
 * device among the reason's recipients, opens its box (cc_commit_open_key,
 * audience CC_REASON_AUDIENCE), checks the key against the commitment
 * (CC_ERR_KEY_COMMITMENT), decrypts (CC_ERR_DECRYPT), removes the padding and
 * checks the text (valid UTF-8, no control characters, not empty:
 * CC_ERR_MALFORMED). No reason in the commit: CC_ERR_NOT_FOUND; this device
 * not a recipient: CC_ERR_NOT_RECIPIENT. out (cap >= CC_COMMIT_REASON_MAX + 1)
 * gets the NUL-terminated text. It does not verify the commit's signature or
 * chain: callers use it on commits cc_chain_apply accepted. */
int cc_commit_open_reason(const uint8_t *commit, size_t n, const cc_device_keys *self, char *out, size_t cap)
	__attribute__((warn_unused_result));
/* The same for a device that holds wrap secrets wraps[0..nwraps): the box is
 * opened with the secret of the version it names; a version this device does
 * not hold is CC_ERR_NO_KEY. */
int cc_commit_open_reason_wraps(const uint8_t *commit, size_t n, const cc_device_keys *self,
                                const cc_wrap_secret *wraps, size_t nwraps, char *out, size_t cap)
	__attribute__((warn_unused_result));

/* The reason box shared by commits (v2) and grants (v2): the UTF-8 reason
 * (1..CC_COMMIT_REASON_MAX bytes) padded ISO/IEC 7816-4 to a multiple of
 * CC_REASON_BLOCK and encrypted with XChaCha20-Poly1305-IETF under key (a
 * fresh random key the caller seals to the readers) with additional data ad;
 * the box is fixed24 nonce || ciphertext, *box_len its length. */
int cc_reason_seal(const char *reason, const uint8_t *ad, size_t adlen, const uint8_t key[CC_EPOCH_KEY_BYTES],
                   uint8_t box[CC_REASON_BOX_MAX], uint16_t *box_len);
/* Open a reason box: CC_ERR_DECRYPT, CC_ERR_MALFORMED (bad length, padding,
 * empty, overlong or not text); out (cap >= CC_COMMIT_REASON_MAX + 1) gets the
 * NUL-terminated text. */
int cc_reason_open(const uint8_t *box, size_t box_len, const uint8_t *ad, size_t adlen,
                   const uint8_t key[CC_EPOCH_KEY_BYTES], char *out, size_t cap) __attribute__((warn_unused_result));
/* 1 if n is a possible reason box length (nonce + k blocks + tag, k >= 1). */
int cc_reason_box_len_valid(size_t n);

/* ---- chain state: everything public needed to verify the next commit ------- */

/* Heap object owned by the caller; cc_chain_state_free. It holds no secrets. */
typedef struct cc_chain_state {
	int started; /* 0 until the create commit is applied */
	uint8_t casus_id[CC_CASUS_ID_BYTES];
	uint64_t epoch;              /* epoch of the head commit */
	uint8_t head[CC_HASH_BYTES]; /* hash of the head commit = current epoch hash */
	uint8_t level;               /* current level */
	int64_t time;                /* head commit's time */
	uint64_t policy;             /* highest policy number a commit of the chain named */
	uint16_t nroster;
	cc_roster_entry *roster; /* heap, sorted by device id */
} cc_chain_state;

/* A new empty state (expects a create commit). *out NULL on failure. */
int cc_chain_state_new(cc_chain_state **out);
void cc_chain_state_free(cc_chain_state *st);
int cc_chain_state_copy(const cc_chain_state *st, cc_chain_state **out);
/* Storage form for the server (LMDB) and client cache:
 *   u8 version(2) | u8 started | fixed16 casus | u64 epoch | fixed32 head | u8 level |
 *   i64 time | u64 policy | u16 n | n x (u8 flags | var16 cert)
 * (version 1, without the policy number, is refused: CC_ERR_VERSION)
 * Decoding re-decodes the certificates (syntax) but does not re-verify them:
 * the bytes are trusted local storage. */
int cc_chain_state_encode(const cc_chain_state *st, struct cc_wbuf *w);
int cc_chain_state_decode(const uint8_t *p, size_t n, cc_chain_state **out) __attribute__((warn_unused_result));

/* Verify one encoded commit against the state and the policy and, only if
 * every check passes, advance the state (on failure st is unchanged).
 * policy must already be verified by the caller (cc_policy_verify); root_pk is
 * the pinned root; now is the verifier's clock for certificate validity; revs
 * may be NULL (revs must already be verified with cc_revlist_verify). Every
 * newly added certificate is fully verified (root, signature, validity,
 * revocation); the acting member's certificate, whose signature was checked
 * when it joined, must still be current (root, validity, revocation); no
 * device of the new roster may be on revs. If hash_out != NULL it receives the commit hash.
 * Errors: CC_ERR_CHAIN (casus id, prev hash or time), CC_ERR_EPOCH,
 * CC_ERR_NOT_MEMBER (actor not in roster), CC_ERR_BAD_SIGNATURE, certificate
 * errors, CC_ERR_UNKNOWN_ROLE, CC_ERR_FORBIDDEN, CC_ERR_LEVEL, CC_ERR_ROSTER,
 * CC_ERR_REVOKED, CC_ERR_MALFORMED (e.g. missing reason), decoding errors.
 * Policy number: a commit naming a policy newer than `policy` (the verifier
 * does not know it yet) or older than the highest number the chain named so
 * far is CC_ERR_STALE; cc_chain_apply (fresh submissions: the server, the
 * builder's self-check) also refuses any number other than policy->number.
 * Reason: a level change or break-glass without a reason box, or a reason box
 * not sealed to exactly the new roster in roster order, is CC_ERR_MALFORMED
 * (the verifier cannot see the text; members check it opens). */
int cc_chain_apply(cc_chain_state *st, const uint8_t *commit, size_t n, const cc_policy *policy,
                   const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now, const struct cc_revlist *revs,
                   uint8_t hash_out[CC_HASH_BYTES]) __attribute__((warn_unused_result));

/* The same rules, with certificate validity and revocation judged as of the
 * commit's own time (a device counts as revoked only if its entry's revoked_at
 * is not later than that time), and a commit time more than 300 s after `now`
 * refused (CC_ERR_CHAIN). For clients replaying a chain that the server
 * accepted in order (cc_casus_apply_commit uses it): a member whose
 * certificate has since expired or been revoked does not invalidate the
 * commits it made while valid. The server, judging fresh submissions, uses
 * cc_chain_apply with its clock. */
int cc_chain_apply_historic(cc_chain_state *st, const uint8_t *commit, size_t n, const cc_policy *policy,
                            const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now, const struct cc_revlist *revs,
                            uint8_t hash_out[CC_HASH_BYTES]) __attribute__((warn_unused_result));

/* Roster lookups on a state: index of a device, or -1. */
int cc_chain_find(const cc_chain_state *st, const uint8_t device_id[CC_DEVICE_ID_BYTES]);
/* 1 if the roster entry is entitled to the audience's key at the state's level:
 * cc_policy_in_audience for ladder members; for break-glass members the
 * audience's role mask and not never_key. Used by the server for fan-out. */
int cc_chain_entitled(const cc_chain_state *st, const cc_policy *policy, size_t roster_index, int audience);
/* The same rule for an arbitrary (role index, flags, level). */
int cc_entitled(const cc_policy *policy, int audience, int role, uint8_t level, uint8_t flags);

/* ---- builders (client side) ------------------------------------------------ */

/* What to change. Fields not used by a type are ignored. */
typedef struct cc_commit_change {
	uint8_t type;                        /* CC_COMMIT_* */
	uint8_t casus_id[CC_CASUS_ID_BYTES]; /* create only: fresh random id (cc_commit_new_casus_id) */
	uint8_t level;                       /* create: initial level; escalate/de-escalate: new level */
	const cc_cert *add;                  /* create/add/break-glass: certificates to admit */
	size_t nadd;
	const uint8_t (*remove)[CC_DEVICE_ID_BYTES]; /* remove: device ids to remove */
	size_t nremove;
	const char *reason; /* required (non-empty) for level changes and break-glass; NULL or ""
	                       for none; encrypted to the new roster (reason box) */
	/* Wrap keys to seal to (the caller verified each against its device's
	 * certificate: cc_wrapkey_verify). A roster device listed here gets its
	 * boxes (epoch keys and reason key) sealed to that key and the commit is
	 * version 3; a device not listed gets them sealed to its certified box key. */
	const cc_wrap_target *wraps;
	size_t nwraps;
	/* 0: the current format (4, boxes apart); 2: the old format (3 if wraps are
	 * used), for tests and tools that check old commits are still read. */
	uint8_t version;
} cc_commit_change;

void cc_commit_new_casus_id(uint8_t casus_id[CC_CASUS_ID_BYTES]);

/* Build and sign the next commit on st (a fresh state for create) by the actor
 * (keys + its certificate; for create the actor's certificate is put in the
 * roster automatically). Draws fresh keys for every audience, seals them to
 * every entitled device, wipes them. The result is checked with
 * cc_chain_apply on a copy of st before it is returned, so a builder never
 * hands out a commit that verifiers would refuse (the same error is returned).
 * out is appended to (use a plain cc_w_init buffer: a commit holds no secret).
 * The actor applies its own commit like everyone else to learn the keys. */
int cc_commit_build(const cc_chain_state *st, const cc_commit_change *chg, const cc_device_keys *actor,
                    const cc_cert *actor_cert, const cc_policy *policy, const uint8_t root_pk[CC_SIGN_PK_BYTES],
                    int64_t now, const struct cc_revlist *revs, struct cc_wbuf *out);

/* Thin wrappers around cc_commit_build. */
int cc_commit_create(const uint8_t casus_id[CC_CASUS_ID_BYTES], uint8_t level, const cc_cert *others, size_t nothers,
                     const cc_device_keys *actor, const cc_cert *actor_cert, const cc_policy *policy,
                     const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now, const char *reason, struct cc_wbuf *out);
int cc_commit_add(const cc_chain_state *st, const cc_cert *add, size_t nadd, const cc_device_keys *actor,
                  const cc_cert *actor_cert, const cc_policy *policy, const uint8_t root_pk[CC_SIGN_PK_BYTES],
                  int64_t now, const struct cc_revlist *revs, const char *reason, struct cc_wbuf *out);
int cc_commit_remove(const cc_chain_state *st, const uint8_t (*remove)[CC_DEVICE_ID_BYTES], size_t nremove,
                     const cc_device_keys *actor, const cc_cert *actor_cert, const cc_policy *policy,
                     const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now, const struct cc_revlist *revs,
                     const char *reason, struct cc_wbuf *out);
/* Escalate or de-escalate depending on new_level vs the current level. */
int cc_commit_set_level(const cc_chain_state *st, uint8_t new_level, const cc_device_keys *actor,
                        const cc_cert *actor_cert, const cc_policy *policy, const uint8_t root_pk[CC_SIGN_PK_BYTES],
                        int64_t now, const struct cc_revlist *revs, const char *reason, struct cc_wbuf *out);
int cc_commit_rotate(const cc_chain_state *st, const cc_device_keys *actor, const cc_cert *actor_cert,
                     const cc_policy *policy, const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now,
                     const struct cc_revlist *revs, const char *reason, struct cc_wbuf *out);
int cc_commit_break_glass(const cc_chain_state *st, const cc_cert *add, size_t nadd, const cc_device_keys *actor,
                          const cc_cert *actor_cert, const cc_policy *policy, const uint8_t root_pk[CC_SIGN_PK_BYTES],
                          int64_t now, const struct cc_revlist *revs, const char *reason, struct cc_wbuf *out);

#endif
