/*
 * schema.h: casusd's storage schema: every key, every record codec and every
 * named meta key of the LMDB store, in one place (with docs/STORAGE.md).
 *
 * Keys are byte strings compared by LMDB with memcmp; every integer in a key
 * is big-endian, so a key with a larger sequence number sorts after one with
 * a smaller (MDB_APPEND and cursor ranges rely on it). Ids are 16 raw bytes;
 * user ids are their UTF-8 bytes and a 0 byte.
 *
 *   db        key                                      value
 *   meta      name (SCHEMA_META_*)                     see the name
 *             "xfer/" to[16] casus[16] from[16]        device key transfer bytes
 *             "removed/" device[16] casus[16]          u64 epoch of the commit that removed it
 *             "stag/" casus[16] signal                 i64 reference time of the last stagnation notice
 *             "agnd/" casus[16] agenda[16]             i64 meeting date | i64 planned at (content-free agenda entry)
 *             "actn/" casus[16] action[16]             i64 due date | u8 done (a disclosed agreed action)
 *             "wrap/" device[16]                       the device's newest accepted wrap-key publication (CCWK)
 *   certs     device[16]                               encoded certificate
 *   users     user 0 device[16]                        "" (a user's devices)
 *   casus     casus[16] 'r'                            casus record (schema_casus_rec_*)
 *             casus[16] 'c'                            cc_chain_state encoding
 *   commits   casus[16] epoch[8]                       commit bytes
 *   messages  casus[16] seq[8]                         u8 audience | u64 epoch | message bytes
 *   msgids    casus[16] message_id[16]                 seq[8]
 *   members   device[16] casus[16]                     u64 join epoch | u64 read seq
 *   grants    device[16] casus[16] gseq[8]             grant bytes
 *   notices   user 0 nseq[8]                           notice JSON
 *   audit     seq[8]                                   hash[32] | entry (audit/audit_db.h)
 *   auditcp   seq[8]                                   signed checkpoint
 *
 * Meta names: SCHEMA_META_VERSION (u64 store format version), SCHEMA_META_POLICY_NUMBER,
 * SCHEMA_META_GRANT_SEQ, SCHEMA_META_NOTICE_SEQ (u64 counters), and the audit
 * anchor (audit_db.h).
 */
#ifndef CASUSD_SCHEMA_H
#define CASUSD_SCHEMA_H

#include "store.h"

#include <stddef.h>
#include <stdint.h>

struct cc_wbuf;

#define SCHEMA_ID 16
#define SCHEMA_USER_MAX 64 /* CC_USER_ID_MAX */

/* Named meta keys (u64 big-endian values). */
#define SCHEMA_META_VERSION "schema" /* store format version, written at first open */
#define SCHEMA_META_VERSION_LEN (sizeof SCHEMA_META_VERSION - 1)
#define SCHEMA_META_POLICY_NUMBER "policy_number" /* newest policy number served */
#define SCHEMA_META_GRANT_SEQ "grant_seq"         /* last grant sequence number */
#define SCHEMA_META_NOTICE_SEQ "notice_seq"       /* last notice sequence number */

/* ---- keys: each builder returns the key's length ---------------------------- */

#define SCHEMA_KEY_CASUS 17        /* casus[16] kind */
#define SCHEMA_KEY_SEQ 24          /* id[16] seq[8] */
#define SCHEMA_KEY_PAIR 32         /* id[16] id[16] */
#define SCHEMA_KEY_GRANT 40        /* device[16] casus[16] gseq[8] */
#define SCHEMA_WRAP_PREFIX "wrap/" /* meta keys of device wrap keys (h_session.c, dir.publish) */
#define SCHEMA_WRAP_PREFIX_LEN 5
#define SCHEMA_KEY_WRAP 21 /* "wrap/" device[16] */
size_t schema_key_wrap(uint8_t k[SCHEMA_KEY_WRAP], const uint8_t device[16]);
/* Sealed epoch-key boxes of version 4 commits, kept apart from the signed
 * commit so retention can delete them (docs/STORAGE.md, box retention):
 * "box/" casus[16] epoch[8] device[16] audience[1] -> u32 wrap | box. */
#define SCHEMA_BOX_PREFIX "box/"
#define SCHEMA_BOX_PREFIX_LEN 4
#define SCHEMA_KEY_BOX 45
size_t schema_key_box(uint8_t k[SCHEMA_KEY_BOX], const uint8_t casus[16], uint64_t epoch, const uint8_t device[16],
                      uint8_t audience);
/* Retention's record of when it first saw a device's newest wrap key:
 * "boxwrap/" device[16] -> u32 version | i64 first seen (UTC s). */
#define SCHEMA_BOXWRAP_PREFIX "boxwrap/"
#define SCHEMA_BOXWRAP_PREFIX_LEN 8
#define SCHEMA_KEY_BOXWRAP 24
size_t schema_key_boxwrap(uint8_t k[SCHEMA_KEY_BOXWRAP], const uint8_t device[16]);
#define SCHEMA_XFER_PREFIX "xfer/" /* meta keys of device key transfers */
#define SCHEMA_XFER_PREFIX_LEN 5
#define SCHEMA_KEY_XFER 53 /* "xfer/" to[16] casus[16] from[16] */
#define SCHEMA_KEY_XFER_PFX 37
#define SCHEMA_REMOVED_PREFIX "removed/" /* meta keys of removed members */
#define SCHEMA_REMOVED_PREFIX_LEN 8
#define SCHEMA_KEY_REMOVED 40 /* "removed/" device[16] casus[16] */
#define SCHEMA_KEY_USER_MAX (SCHEMA_USER_MAX + 1 + 16)
#define SCHEMA_STAGNATION_PREFIX "stag/" /* meta keys of stagnation notices sent (h_regie.c) */
#define SCHEMA_STAGNATION_PREFIX_LEN 5
#define SCHEMA_KEY_STAGNATION 22     /* "stag/" casus[16] u8 signal */
#define SCHEMA_AGENDA_PREFIX "agnd/" /* meta keys of agenda entries (h_regie.c) */
#define SCHEMA_ACTION_PREFIX "actn/" /* meta keys of disclosed agreed actions (h_regie.c) */
#define SCHEMA_REGIE_PREFIX_LEN 5
#define SCHEMA_KEY_REGIE 37 /* prefix casus[16] id[16] */

enum schema_casus_kind {
	SCHEMA_CASUS_RECORD = 'r',
	SCHEMA_CASUS_CHAIN = 'c'
};

size_t schema_key_casus(uint8_t k[SCHEMA_KEY_CASUS], const uint8_t casus[16], enum schema_casus_kind kind);
/* commits (casus, epoch), messages (casus, seq) */
size_t schema_key_seq(uint8_t k[SCHEMA_KEY_SEQ], const uint8_t id[16], uint64_t seq);
/* msgids (casus, message id), members (device, casus) */
size_t schema_key_pair(uint8_t k[SCHEMA_KEY_PAIR], const uint8_t a[16], const uint8_t b[16]);
size_t schema_key_grant(uint8_t k[SCHEMA_KEY_GRANT], const uint8_t device[16], const uint8_t casus[16], uint64_t gseq);
size_t schema_key_xfer(uint8_t k[SCHEMA_KEY_XFER], const uint8_t to[16], const uint8_t casus[16],
                       const uint8_t from[16]);
/* The prefix of every transfer to one device in one casus. */
size_t schema_key_xfer_prefix(uint8_t k[SCHEMA_KEY_XFER_PFX], const uint8_t to[16], const uint8_t casus[16]);
/* users (user, device) and notices (user, nseq); 0 if the user id is too long
 * or holds a 0 byte. The prefix of a user's keys is the user id and its 0. */
size_t schema_key_user_device(uint8_t k[SCHEMA_KEY_USER_MAX], const char *user, const uint8_t device[16]);
size_t schema_key_user_seq(uint8_t k[SCHEMA_KEY_USER_MAX], const char *user, uint64_t seq);

/* The meta key recording which stagnation signal of a casus was noticed
 * (value: the i64 reference time it was noticed for). */
size_t schema_key_stagnation(uint8_t k[SCHEMA_KEY_STAGNATION], const uint8_t casus[16], uint8_t signal);

/* The meta key of an agenda entry or a disclosed action (prefix
 * SCHEMA_AGENDA_PREFIX or SCHEMA_ACTION_PREFIX); with id NULL the
 * prefix of one casus's entries (SCHEMA_REGIE_PREFIX_LEN + 16 bytes). */
size_t schema_key_regie(uint8_t k[SCHEMA_KEY_REGIE], const char *prefix, const uint8_t casus[16], const uint8_t *id);

/* An agenda value: i64 meeting date | i64 planned at (UTC seconds). */
#define SCHEMA_AGENDA_VAL 16
void schema_agenda_encode(uint8_t out[SCHEMA_AGENDA_VAL], int64_t date, int64_t planned);
int schema_agenda_decode(const void *p, size_t n, int64_t *date, int64_t *planned) __attribute__((warn_unused_result));
/* An action value: i64 due date | u8 done (0 or 1). */
#define SCHEMA_ACTION_VAL 9
void schema_action_encode(uint8_t out[SCHEMA_ACTION_VAL], int64_t due, int done);
int schema_action_decode(const void *p, size_t n, int64_t *due, int *done) __attribute__((warn_unused_result));

/* audit, auditcp (seq) */
#define SCHEMA_KEY_AUDIT 8
size_t schema_key_audit(uint8_t k[SCHEMA_KEY_AUDIT], uint64_t seq);
/* The sequence number of an audit or checkpoint key; -1 unless it is 8 bytes. */
int schema_key_audit_decode(const void *k, size_t n, uint64_t *seq) __attribute__((warn_unused_result));

/* The big-endian u64 at the end of a key of the given shape (seq, gseq, nseq). */
uint64_t schema_key_tail64(const void *key, size_t len);

/* ---- records ------------------------------------------------------------------ */

/* The casus record (version 2):
 *   u8 version | i64 created | str purpose | str legal basis |
 *   u32 retention days | fixed16 creator device | i64 closed_at | i64 purged_at
 * Version 1 records (no closing times) read as open. */
struct casus_record {
	int64_t created;
	char purpose[257];
	char basis[257];
	uint32_t retention_days;
	uint8_t creator[16];
	int64_t closed_at; /* 0: open */
	int64_t purged_at; /* 0: content present */
};
#define SCHEMA_CASUS_REC_VERSION 2
/* Encode into a malloc'd buffer (*out, *len). 0 or -1. */
int schema_casus_rec_encode(const struct casus_record *r, uint8_t **out, size_t *len)
	__attribute__((warn_unused_result));
int schema_casus_rec_decode(const void *p, size_t n, struct casus_record *r) __attribute__((warn_unused_result));

/* A message record: u8 audience | u64 epoch | message bytes. */
#define SCHEMA_MSG_HDR 9
void schema_msg_rec_header(uint8_t out[SCHEMA_MSG_HDR], uint8_t audience, uint64_t epoch);
/* 0 and the fields if the record is well formed, else -1. */
int schema_msg_rec_decode(const void *p, size_t n, uint8_t *audience, uint64_t *epoch, const uint8_t **msg,
                          size_t *msg_len) __attribute__((warn_unused_result));

/* A msgids value: the message's sequence number, u64 big-endian.
 * Decode: 0, or -1 unless it is exactly 8 bytes. */
#define SCHEMA_MSGID_VAL 8
void schema_msgid_encode(uint8_t out[SCHEMA_MSGID_VAL], uint64_t seq);
int schema_msgid_decode(const void *p, size_t n, uint64_t *seq) __attribute__((warn_unused_result));

/* A membership value: u64 join epoch | u64 read seq. */
#define SCHEMA_MEMBER_VAL 16
void schema_member_encode(uint8_t out[SCHEMA_MEMBER_VAL], uint64_t join_epoch, uint64_t read_seq);
int schema_member_decode(const void *p, size_t n, uint64_t *join_epoch, uint64_t *read_seq)
	__attribute__((warn_unused_result));

/* The store format version value (meta SCHEMA_META_VERSION): u64 big-endian.
 * Decode: 0, or -1 unless it is exactly 8 bytes. */
#define SCHEMA_VERSION_VAL 8
void schema_version_encode(uint8_t out[SCHEMA_VERSION_VAL], uint64_t version);
int schema_version_decode(const void *p, size_t n, uint64_t *version) __attribute__((warn_unused_result));

/* An audit record: hash[32] (the entry's chain hash h[seq]) | encoded entry.
 * Decode: 0 and pointers into the record (the entry at least 1 byte), or -1
 * if it is too short. The entry itself is checked by cc_audit_entry_decode. */
#define SCHEMA_AUDIT_HASH 32
int schema_audit_rec_decode(const void *p, size_t n, const uint8_t **hash, const uint8_t **entry, size_t *entry_len)
	__attribute__((warn_unused_result));

/* The on-disk format this build reads and writes.
 *   1  the first format
 *   2  adds meta SCHEMA_META_STORE_EPOCH (migration from 1: a new epoch)
 *   3  commits of version 4 are stored without their boxes, which live in
 *      SCHEMA_BOX_PREFIX records (migration from 2: nothing to convert; the
 *      version keeps an older casusd, which would serve such commits without
 *      their boxes, from opening the store) */
#define SCHEMA_STORE_FORMAT 3
/* The oldest format this build migrates from. */
#define SCHEMA_STORE_FORMAT_OLDEST 1

/* Store a commit the chain accepted (cb, cl as posted) at (casus, epoch) in
 * DB_COMMITS with mdb flags: versions 2 and 3 as they are; version 4 as its
 * signed part, each box in its own SCHEMA_BOX_PREFIX record. 0 or an LMDB
 * error (-1 if the commit does not decode). */
int schema_commit_put(struct store *st, const uint8_t casus[16], uint64_t epoch, const uint8_t *cb, size_t cl,
                      unsigned flags);
/* A stored commit as served to one device: versions 2 and 3 unchanged; a
 * version 4 signed part followed by a box section with the boxes of `device`
 * that are still stored (none once retention deleted them). Appends to out;
 * 0 or -1. */
int schema_commit_for(struct store *st, const uint8_t casus[16], uint64_t epoch, const uint8_t *stored, size_t n,
                      const uint8_t device[16], struct cc_wbuf *out);

/* The store epoch: SCHEMA_EPOCH_BYTES random bytes made when the store is
 * created, migrated to format 2, or restored from a backup (the file
 * SCHEMA_RESTORED_MARK in the data folder, written by restore.sh, asks for a
 * new one at the next start). Clients see it at login (hello and auth
 * answers, docs/PROTOCOL.md): a store epoch they have not seen before, with
 * sequence numbers lower than they saw, means the server went back in time. */
#define SCHEMA_META_STORE_EPOCH "store_epoch"
#define SCHEMA_EPOCH_BYTES 16
#define SCHEMA_RESTORED_MARK "RESTORED"

/* store_open, then (unless readonly) the format check: a new store gets
 * SCHEMA_META_VERSION = SCHEMA_STORE_FORMAT and a store epoch; a store of
 * an older format from SCHEMA_STORE_FORMAT_OLDEST on is migrated step by step
 * in one transaction (all steps or none; logged as store.migrated); a newer,
 * older or malformed version is closed and refused with MDB_INCOMPATIBLE,
 * the log naming the version found and the one expected. On success
 * st->epoch holds the store epoch, renewed first if DIR/RESTORED exists
 * (the mark is then removed). 0 or an LMDB error. */
int schema_open(struct store *st, const char *dir, size_t mapsize, int readonly) __attribute__((warn_unused_result));

/* ---- meta counters (in the store's current transaction) ------------------------ */

/* 0 and the value, MDB_NOTFOUND if absent, -1 if malformed. */
int schema_meta_get_u64(struct store *st, const char *name, uint64_t *v);
int schema_meta_put_u64(struct store *st, const char *name, uint64_t v);
/* Increment a counter (absent = 0) and return the new value in *v. */
int schema_meta_next(struct store *st, const char *name, uint64_t *v);

/* ---- removed members (meta "removed/" device casus -> u64 epoch) ----------------
 * A device removed from a casus may still fetch the commits up to the one that
 * removed it (so its client can verify its removal). The marker is not
 * membership: DB_MEMBERS holds only current members. */
size_t schema_key_removed(uint8_t k[SCHEMA_KEY_REMOVED], const uint8_t device[16], const uint8_t casus[16]);
/* 0 and the epoch, MDB_NOTFOUND if absent, -1 if malformed. */
int schema_removed_get(struct store *st, const uint8_t device[16], const uint8_t casus[16], uint64_t *epoch);
int schema_removed_put(struct store *st, const uint8_t device[16], const uint8_t casus[16], uint64_t epoch);
/* 0 also if there was none. */
int schema_removed_del(struct store *st, const uint8_t device[16], const uint8_t casus[16]);

/* ---- records through the store ---------------------------------------------------- */

int schema_casus_rec_get(struct store *st, const uint8_t casus[16], struct casus_record *r);
int schema_casus_rec_put(struct store *st, const uint8_t casus[16], const struct casus_record *r);

/* A stored message by its id (msgids, then messages): its sequence number,
 * audience, epoch and bytes (pointing into the map: valid until the
 * transaction ends). 0, or -1 if absent or malformed. */
int schema_msg_by_id(struct store *st, const uint8_t casus[16], const uint8_t msg_id[16], uint64_t *seq,
                     uint8_t *audience, uint64_t *epoch, const uint8_t **msg, size_t *msg_len);

#endif
