/*
 * ccore.h: the client core, one sans-I/O state machine for every trust
 * decision of a casus device (anchors: matrix-sdk-crypto's OlmMachine,
 * OpenMLS).
 *
 * The core owns what a device believes: the pinned deployment root, the
 * newest verified policy and revocation list (signed, numbered, never going
 * back), each casus's verified chain, its epochs, the per-sender stream order,
 * grants, the commit a device is waiting to see at the head, and the outbox's
 * audience decisions. It has no sockets, files, threads or clock: bytes and
 * the current time (UTC seconds, `now`) come in as arguments; verdicts,
 * warnings and state to store go out. It depends only on crypto/ (libsodium),
 * jansson and the C standard library, so it compiles to WebAssembly unchanged
 * (a ctest, core.no_posix, fails if a file here includes a system header).
 * libcasus (client/libcasus*.c) is the driver: it moves frames, reads and
 * writes files and reads the clock, and asks the core every trust question.
 *
 * Errors: every int function returns CCORE_OK (0) or a negative CCORE_E_*;
 * ccore_code() maps it to the stable code of the contract with the
 * hostile-server suite ("revoked", "withheld_commit", ...; docs/CLIENT.md),
 * and ccore_message() to a sentence (Dutch, then English) for people. The
 * last error's detail (e.g. which epoch) is in ccore_detail(core).
 *
 * Warnings: what the core cannot refuse but must show (a gap, reorder or
 * duplicate in a sender's stream; a roster holding a revoked device) is
 * appended to a JSON array the driver takes with ccore_take_warnings() (new
 * reference, the core's list is then empty): [{code, message}].
 *
 * Memory: a ccore and every ccore_casus are owned by the caller and freed
 * with ccore_free / ccore_casus_free. Byte arguments are borrowed. Device
 * keys are copied into sodium_malloc memory (inside cc_casus) and wiped on
 * free. Not thread-safe: one thread per ccore.
 */
#ifndef CASUS_CCORE_H
#define CASUS_CCORE_H

#include <cc_buf.h>
#include <cc_casus.h>
#include <cc_cert.h>
#include <cc_commit.h>
#include <cc_keys.h>
#include <cc_policy.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CCORE_SKEW_SECS 300               /* allowed clock difference for commit times */
#define CCORE_REVLIST_MAX_AGE (7 * 86400) /* a revocation list older than this is not fresh */
#define CCORE_PAGING_IDLE_MAX 3           /* pages without progress before paging gives up */
#define CCORE_PAGING_MAX 100000           /* pages of one listing at most */
#define CCORE_TITLE_MAX 200               /* bytes of a casus title */
#define CCORE_STORE_EPOCH_MAX 64          /* hex digits of a server's store epoch */

enum ccore_rc {
	CCORE_OK = 0,
	CCORE_E_INVALID = -1,         /* bad argument / malformed input: "tampered" */
	CCORE_E_NOMEM = -2,           /* "internal" */
	CCORE_E_REVOKED = -10,        /* "revoked" */
	CCORE_E_WITHHELD = -11,       /* "withheld_commit" */
	CCORE_E_WRONG_CASUS = -12,    /* "wrong_casus" */
	CCORE_E_STALE_EPOCH = -13,    /* "stale_epoch_message" */
	CCORE_E_FUTURE = -14,         /* "future_commit" */
	CCORE_E_ROLLBACK = -15,       /* "rollback" */
	CCORE_E_EXPIRED = -16,        /* "expired_cert" */
	CCORE_E_GRANT_AUDIENCE = -17, /* "grant_audience" */
	CCORE_E_STALE_POLICY = -18,   /* "stale_policy" */
	CCORE_E_BAD_SIGNATURE = -19,  /* "bad_signature" */
	CCORE_E_REPLAY = -20,         /* "replay" */
	CCORE_E_GHOST = -21,          /* "ghost_commit" */
	CCORE_E_TAMPERED = -22,       /* "tampered" */
	CCORE_E_PAGING = -23,         /* "paging" */
	CCORE_E_WIDENED = -24,        /* "audience_widened" */
	CCORE_E_FORBIDDEN = -25,      /* "forbidden": the policy does not allow it */
	CCORE_E_NO_KEY = -26,         /* "no_key": this device cannot read it */
	CCORE_E_NO_POLICY = -27,      /* "no_policy": nothing verified yet */
	CCORE_E_WITHHELD_BOX = -28    /* "withheld_box": a box box retention never deletes is missing */
};

/* Stable code of the contract for an rc ("revoked", ...); never NULL. */
const char *ccore_code(int rc);
/* The crypto/ error mapped to the core's verdict (CC_ERR_REVOKED -> CCORE_E_REVOKED, ...). */
int ccore_from_cc(int cc_rc);

typedef struct ccore ccore;

/* A new core for one device: root is the pinned deployment root key; keys and
 * cert are this device's (copied; keys stay in sodium_malloc memory inside
 * each cc_casus). */
int ccore_new(ccore **out, const uint8_t root[CC_SIGN_PK_BYTES], const cc_device_keys *keys, const cc_cert *cert);
void ccore_free(ccore *c); /* NULL-safe */

/* The sentence for the last refusal (Dutch, then English) and its detail. */
const char *ccore_message(const ccore *c);
/* Warnings collected since the last call: new reference, [{code,message}]. */
json_t *ccore_take_warnings(ccore *c);
/* Add a warning (the driver uses it for things only it sees, e.g. paging). */
void ccore_warn(ccore *c, const char *code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- policy ------------------------------------------------------------------
 * ccore_policy_offer: bytes of a signed policy the server served (or the
 * stored policy.bin, with stored = 1). Verified against the root; a policy
 * with a lower number than the one held is CCORE_E_STALE_POLICY. *changed is
 * set to 1 when the offered policy is now the held one and newer than before
 * (the driver then stores the bytes). */
int ccore_policy_offer(ccore *c, const uint8_t *p, size_t n, int stored, int *changed)
	__attribute__((warn_unused_result));
/* The verified policy, or NULL. Owned by the core. */
const cc_policy *ccore_policy(const ccore *c);

/* ---- revocation list ---------------------------------------------------------
 * ccore_revlist_offer: bytes of a signed revocation list (revlist.get), or
 * NULL/0 when the server says there is none. The number may never go back:
 * a list older than one held is CCORE_E_REVOKED (contract code "revoked": the
 * server hides revocations). None offered while one is held is a warning
 * ("rollback"): the held list stays in force.
 * A list issued more than CCORE_REVLIST_MAX_AGE before now is accepted but
 * warned about ("stale_revlist"). *changed as for the policy. */
int ccore_revlist_offer(ccore *c, const uint8_t *p, size_t n, int64_t now, int stored, int *changed)
	__attribute__((warn_unused_result));
/* The held list (NULL if none). Owned by the core. */
const cc_revlist *ccore_revlist(const ccore *c);
/* 1 if the certificate is on the held list. */
int ccore_is_revoked(const ccore *c, const cc_cert *cert);

/* ---- directory ---------------------------------------------------------------
 * A certificate the directory returned for `user`: decoded, verified against
 * the root at `now` and the revocation list. A revoked one is
 * CCORE_E_REVOKED, an expired one CCORE_E_EXPIRED, another user's
 * CCORE_E_TAMPERED. */
int ccore_dir_cert(const ccore *c, const uint8_t *p, size_t n, const char *user, int64_t now, cc_cert *out)
	__attribute__((warn_unused_result));
/* This device's own certificate (casus install-cert, before any ccore
 * exists): root, validity at now, and keys and id equal to this device's;
 * another device's certificate is CCORE_E_TAMPERED. */
int ccore_own_cert(const uint8_t root[CC_SIGN_PK_BYTES], const cc_device_keys *keys, const uint8_t *p, size_t n,
                   int64_t now, cc_cert *out) __attribute__((warn_unused_result));
/* The pairing code of a device: 4 groups of 4 hex digits from
 * BLAKE2b("casus.v1 pairing" || device id || signing key). out gets 20 bytes. */
void ccore_pairing_code(const cc_cert *cert, char out[20]);

/* ---- one casus ---------------------------------------------------------------- */
typedef struct ccore_casus ccore_casus;

/* A casus this device follows, bound to the id asked for: every commit and
 * message must carry exactly this id (CCORE_E_WRONG_CASUS). */
int ccore_casus_new(ccore *c, const uint8_t id[CC_CASUS_ID_BYTES], ccore_casus **out);
void ccore_casus_free(ccore_casus *k); /* NULL-safe; wipes keys */
/* The verified state and the cc_casus (for builders and reading keys). */
const cc_chain_state *ccore_chain(const ccore_casus *k);
cc_casus *ccore_cc(ccore_casus *k);
/* Epochs verified so far (= the next epoch expected). */
uint64_t ccore_epochs(const ccore_casus *k);
/* 1 if this device is in the verified roster. */
int ccore_is_member(const ccore_casus *k);
/* A certificate seen anywhere in the verified chain (NULL if none); every
 * one seen, for the driver's listings. Owned by k. */
const cc_cert *ccore_cert(const ccore_casus *k, const uint8_t dev[CC_DEVICE_ID_BYTES]);
size_t ccore_certs(const ccore_casus *k, const cc_cert **out);

/* Verify the next commit of the chain (epoch = ccore_epochs) and apply it:
 * casus id = the id asked for (WRONG_CASUS), epoch and prev hash continue
 * the verified copy (ROLLBACK: a diverging chain), time not before the
 * previous commit's and at most CCORE_SKEW_SECS after now (FUTURE), the chain
 * rules as of the commit's time with the revocation list
 * (cc_casus_apply_commit), and, where this device is in the new roster, that
 * the commit's reason opens to non-empty text (cc_commit_open_reason;
 * TAMPERED otherwise, unless the chain rules refuse the commit too). For the head (head = 1: the newest commit the
 * server serves) the actor's certificate and every certificate it admits
 * must be valid and unrevoked at `now` as well (EXPIRED / REVOKED: a
 * backdated commit by an expired or revoked key). Earlier commits are judged
 * at their own time only: each was the head for the member who built on it.
 * On any failure nothing changes. */
int ccore_apply_commit(ccore_casus *k, const uint8_t *p, size_t n, int64_t now, int head)
	__attribute__((warn_unused_result));
/* After a fetch reached the end of the chain: warns "revoked_member" for
 * every roster device on the revocation list (and names the removal to make),
 * clears a pending own commit that is now the head or superseded, and
 * reports a withheld one (see ccore_expect_head).
 * The boxes are judged first, and their verdict wins over a withheld own
 * commit (issue 17): a version 4 commit applied without a box its
 * signed digest list names for this device (the carrier left it out) is
 * CCORE_E_WITHHELD_BOX when box retention could not have deleted it: the box
 * is sealed to this device's newest wrap key the server holds or a later one
 * (the higher of ccore_wrap_published's and ccore_wrap_dir_own's; before
 * ccore_wrap_published was called, ccore_set_wraps' newest instead of the
 * published one), this device is in the
 * verified roster of that commit and of every commit since, with the same
 * certificate, and that certificate is valid (CCORE_SKEW_SECS beyond now) and
 * not on the revocation list. A box sealed to an older wrap key, or of an
 * epoch before this device was last admitted, may have been deleted by
 * retention and is not judged. Nothing is judged before ccore_set_wraps was
 * called (the core would not know this device's newest key). The verified
 * chain is not undone: the driver should not store a copy holding the
 * commit, so that a later fetch can bring the box (also when the commit
 * superseded this device's own: the pending one is cleared as for
 * CCORE_E_WITHHELD). */
int ccore_chain_done(ccore_casus *k, int64_t now) __attribute__((warn_unused_result));
/* The server answered that the casus is gone or forbidden, or pushed
 * "removed": no verified commit removed this device, so the local copy is
 * kept and this is CCORE_E_ROLLBACK if this device is still in the verified
 * roster (0 if it is not a member: nothing to keep). */
int ccore_unverified_removal(const ccore_casus *k) __attribute__((warn_unused_result));

/* One verified commit of the chain, for listings: its type, level after,
 * time, actor and, for a device of the roster it made, its reason decrypted
 * (NULL when the commit has none or this device may not read it; owned by k,
 * valid until k is freed). CCORE_E_INVALID for an epoch not verified. */
typedef struct ccore_commit_info_t {
	uint64_t epoch;
	uint8_t type, level;
	int64_t time;
	uint8_t actor[CC_DEVICE_ID_BYTES];
	const char *reason;
} ccore_commit_info_t;
int ccore_commit_info(const ccore_casus *k, uint64_t epoch, ccore_commit_info_t *out)
	__attribute__((warn_unused_result));

/* The pending own commit: -1 if none, else how many devices it removes. */
int ccore_pending(const ccore_casus *k);

/* Own commits. Before posting a commit, the driver records its hash and the
 * devices it removes; ccore_chain_done then requires the commit to be the
 * verified head (CCORE_E_WITHHELD otherwise). While a removal is pending and
 * not seen, ccore_may_post refuses (CCORE_E_WITHHELD): nothing new is
 * encrypted to a device this device meant to remove. */
int ccore_expect_head(ccore_casus *k, const uint8_t *commit, size_t n);
int ccore_may_post(const ccore_casus *k) __attribute__((warn_unused_result));

/* Device wrap keys (issue 17; docs/CRYPTO.md "Device wrap keys").
 * ccore_set_wraps: this device's wrap secrets (copied into sodium_malloc
 *   memory) and the highest version it ever made; every casus opened after
 *   the call opens boxes with them (cc_casus_set_wraps).
 * ccore_wrap_learn: a wrap-key publication of another (or this) device as the
 *   directory served it, judged against that device's certificate, which the
 *   caller verified (ccore_dir_cert, or a roster certificate): a record not
 *   signed by the certificate's identity key is CCORE_E_BAD_SIGNATURE, one
 *   naming another device or malformed CCORE_E_TAMPERED. The newest verified
 *   version per device is kept; an older one than held (in this process or
 *   restored with ccore_wraps_restore) is CCORE_E_ROLLBACK, the same version
 *   with another key CCORE_E_TAMPERED: a server cannot swap a device back to
 *   an older key. This device's own record is never refused (its own keys
 *   come from its keystore).
 * ccore_build seals each device's boxes to its newest learned wrap key, and
 *   to its certified box key if none was learned (a device that never
 *   published one, e.g. the browser client).
 * ccore_wrap_known: the version learned for a device (0: none). */
int ccore_set_wraps(ccore *c, const cc_wrap_secret *ws, size_t n, uint32_t newest);
/* The directory holds this device's own wrap key `version`, newer than the
 * keystore's newest (a keystore restored from a backup): boxes sealed to older
 * versions may have been deleted by box retention (ccore_chain_done). Only
 * raises the floor; never changes what is sealed or opened. */
void ccore_wrap_dir_own(ccore *c, uint32_t version);
/* The highest own wrap key version the server accepted (dir.publish answered;
 * 0: none). A key made but never accepted does not raise the floor of
 * ccore_chain_done: members seal to the one the directory has. Only raises. */
void ccore_wrap_published(ccore *c, uint32_t version);
int ccore_wrap_learn(ccore *c, const uint8_t *rec, size_t n, const cc_cert *cert) __attribute__((warn_unused_result));
uint32_t ccore_wrap_known(const ccore *c, const uint8_t dev[CC_DEVICE_ID_BYTES]);
/* Every newest verified wrap key the core holds (for grants and transfers:
 * cc_casus_grant_wraps); *n gets the count. NULL when none. */
const cc_wrap_target *ccore_wrap_targets(const ccore *c, size_t *n);
/* The newest verified wrap key of one device, or NULL; and its creation time
 * (the device's clock; 0 if none is known). */
const cc_wrap_target *ccore_wrap_target(const ccore *c, const uint8_t dev[CC_DEVICE_ID_BYTES]);
int64_t ccore_wrap_created(const ccore *c, const uint8_t dev[CC_DEVICE_ID_BYTES]);
/* The newest verified wrap key per device as JSON, for the driver to keep in
 * its local state ({"v":1,"devices":[{"device","version","created","pk"}]}),
 * and back: restored entries count as verified (the driver keeps them sealed,
 * sealed.h) and are the floor ccore_wrap_learn holds a directory to. A
 * malformed entry is CCORE_E_INVALID (entries before it are kept). */
json_t *ccore_wraps_save(const ccore *c);
int ccore_wraps_restore(ccore *c, const json_t *o);

/* Builders: cc_commit_build with the core's policy, root and revocation list
 * (a revoked device is never sealed to). */
int ccore_build(ccore_casus *k, const cc_commit_change *chg, int64_t now, cc_wbuf *out)
	__attribute__((warn_unused_result));

/* Messages. seq is the server's place for it (0: unknown). live = 1 for the
 * pushed stream (replay tracker), 0 for history in seq order. Checks, besides
 * cc_casus_decrypt: casus id (WRONG_CASUS), a message of a superseded epoch
 * only if placed before the commit that closed it (not after a message of a
 * later epoch in seq order, and signed no later than the closing commit's
 * time + CCORE_SKEW_SECS) and from a sender whose certificate was valid and
 * unrevoked at the message's time (STALE_EPOCH), a message time at most
 * CCORE_SKEW_SECS ahead of now. Per sender, epoch and audience, counters out
 * of seq order ("reorder"), a repeated message id or counter ("duplicate")
 * and skipped numbers ("gap", see ccore_history_done) are warnings (not for
 * a message opened with a granted key); the message is still opened (a duplicate sets CCORE_F_DUPLICATE in
 * *flags, which may be NULL, so the driver shows it once). A sender the
 * closing commit removed must have dated the message before that commit (no
 * skew). The plaintext is appended to pt (cc_w_init_secret). */
int ccore_open_message(ccore_casus *k, uint64_t seq, const uint8_t *p, size_t n, int live, int64_t now, cc_wbuf *pt,
                       cc_message_header *hdr, unsigned *flags) __attribute__((warn_unused_result));
#define CCORE_F_DUPLICATE 1u /* *flags: the same message (sender, epoch, counter) seen at an earlier place */
/* Gaps (issue #11 item 9). Counters are gap-free per (sender device, epoch,
 * audience). A listing of history in seq order is framed by
 * ccore_history_begin (from_start = 1 when it starts at the beginning of the
 * casus's history, so a stream's first number must be 1) and
 * ccore_history_done, called when the server said there is no more: every
 * number still missing then is warned "gap" (the server did not deliver it;
 * a number that arrives later in the listing was warned "reorder" instead).
 * Missing numbers are kept with the stream positions (ccore_casus_save), so
 * a gap is shown on every later listing too. In the live stream (live = 1,
 * delivered in order) a skipped number is warned at once. The last messages
 * of a stream cannot be told from messages never written.
 * Returns how many gaps were warned. */
void ccore_history_begin(ccore_casus *k, int from_start);
int ccore_history_done(ccore_casus *k);
/* Before encrypting: raise this device's send counters of the current epoch
 * to the highest of its own numbers seen in the stream (a device whose stored
 * state was lost continues after its own messages instead of repeating
 * them). The driver stores ccore_casus_save after encrypting and before
 * sending. */
int ccore_prepare_send(ccore_casus *k);

/* A grant addressed to this device: verified by cc_casus_accept_grant after
 * every message it carries has been checked to be in an audience this
 * device's role may read at the casus's level (GRANT_AUDIENCE otherwise;
 * nothing is kept). msgs are the encoded messages the server delivered with
 * it. */
int ccore_accept_grant(ccore_casus *k, const uint8_t *g, size_t gn, const uint8_t *const *msgs, const size_t *lens,
                       size_t nmsgs) __attribute__((warn_unused_result));
/* A key transfer from another device of this user (cc_casus_transfer_accept). */
int ccore_accept_transfer(ccore_casus *k, const uint8_t *p, size_t n, size_t *imported)
	__attribute__((warn_unused_result));

/* The devices entitled to an audience now, as 32-hex-digit ids (new reference). */
json_t *ccore_recipients(const ccore_casus *k, int audience);
/* Outbox: a post queued when `queued` (ccore_recipients then) were the
 * recipients may be encrypted now only if the recipients are a subset of
 * those: CCORE_E_WIDENED otherwise (the post stays failed, never widened
 * without the user asking again). queued NULL: no record (old entry) -> ok. */
int ccore_outbox_may_encrypt(const ccore_casus *k, int audience, const json_t *queued)
	__attribute__((warn_unused_result));

/* ---- title --------------------------------------------------------------------
 * A casus has a title people recognise ("Mevrouw A."), end-to-end encrypted
 * to every member, whatever audiences their role reads, later members too.
 * It travels in the reason box of every commit (cc_commit.h: sealed to
 * exactly the commit's new roster): the box holds REASON U+241E TITLE
 * (REASON may be empty). ccore_apply_commit splits it, so ccore_commit_info's
 * reason is the reason alone; ccore_build appends the title this device holds
 * to the reason of every commit it builds, so each new roster (a member
 * added, a level that admits new roles) can read it. A level change or
 * break-glass without a reason gets no title either (the chain rules must
 * still refuse it). The server never sees the title.
 * ccore_set_title: the title of a casus this device creates (before
 * ccore_build of the create commit): text of 1..CCORE_TITLE_MAX bytes without
 * control characters or U+241E, else CCORE_E_INVALID.
 * ccore_title: the title of the newest verified commit that carried one this
 * device could open, else the one set here, else NULL. Owned by k. */
int ccore_set_title(ccore_casus *k, const char *title) __attribute__((warn_unused_result));
const char *ccore_title(const ccore_casus *k);

/* ---- a server that went back in time (issue #16) ------------------------------
 * A restored server (a backup put back) forgets what came after the backup
 * and hands out those sequence numbers again. casusd names its store in
 * hello/auth ("store_epoch", renewed by a restore). The core keeps, per
 * server, that epoch (the driver stores it with the profile) and, per casus
 * (in ccore_casus_save), the highest sequence number of a message opened
 * here and the epoch the local copy was last checked against.
 * ccore_store_epoch: the epoch hello/auth named (stored = 0), or the one the
 * driver stored (stored = 1, no verdict). A different one than held returns
 * CCORE_E_ROLLBACK (not warned: only a device with a local copy made from the
 * old store has something at stake, and ccore_rollback_check warns for each
 * such copy when it is loaded); either way it is held from now on (the
 * driver stores ccore_store_epoch_held). CCORE_E_INVALID
 * for anything but 1..CCORE_STORE_EPOCH_MAX lower-case hex digits.
 * ccore_rollback_check: after loading a casus (have_head = 0) or with the
 * server's newest sequence number of it (have_head = 1, head: casus.list's
 * last_seq): the local copy was made from another store, or head is below
 * the highest number seen here: warned "rollback" (once per casus and
 * process), the casus is marked diverged (kept in the saved state) and
 * CCORE_E_ROLLBACK returned. Not an error to stop on: the local copy is
 * kept, never overwritten, and the user is told.
 * ccore_seq_held: a listing served message got_id (32 hex) at seq where the
 * local copy holds held_id: different is a rollback, as above.
 * ccore_diverged: 1 once a rollback was seen for this casus (the driver then
 * lists the whole history again and compares it with the held copy).
 * ccore_high_seq: the highest sequence number seen. */
int ccore_store_epoch(ccore *c, const char *epoch, int stored);
const char *ccore_store_epoch_held(const ccore *c); /* "" if none */
int ccore_rollback_check(ccore_casus *k, int have_head, uint64_t head);
int ccore_seq_held(ccore_casus *k, uint64_t seq, const char *held_id, const char *got_id);
int ccore_diverged(const ccore_casus *k);
uint64_t ccore_high_seq(const ccore_casus *k);

/* State to store with the local copy (the per-sender stream positions, the
 * pending own commit, and for a server going back in time the highest seq
 * seen, the store epoch of the copy and the diverged mark): new reference;
 * ccore_casus_restore reads it back. */
json_t *ccore_casus_save(const ccore_casus *k);
void ccore_casus_restore(ccore_casus *k, const json_t *saved);

/* ---- text and paging ---------------------------------------------------------- */
/* A copy of s for a terminal: every C0 control (newline included), DEL, ESC,
 * C1 control and bidirectional override is replaced by U+FFFD; invalid UTF-8
 * bytes too. malloc'd; NULL only on allocation failure. */
char *ccore_text_clean(const char *s);

/* Paging loop bound: call per page with how many new items the page brought
 * and whether the server says there is more. Returns 1 to ask for the next
 * page, 0 when done, CCORE_E_PAGING when the server kept saying "more" without
 * progress for CCORE_PAGING_IDLE_MAX pages (or CCORE_PAGING_MAX pages). */
typedef struct ccore_pager {
	unsigned pages, idle;
} ccore_pager;
int ccore_paging_step(ccore_pager *pg, size_t new_items, int more);

#endif
