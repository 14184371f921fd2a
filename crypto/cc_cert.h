/*
 * cc_cert.h: device certificates, certificate requests and revocation lists.
 *
 * A certificate binds a device's two public keys to a person (user id, display
 * name, organisation) and one role, for a validity period. It is signed by the
 * deployment root. Casus membership, audiences and rights all follow from the
 * certified role under the signed policy, so the server cannot lie about them.
 *
 * Byte layout (all integers big-endian, see cc_buf.h) is documented in
 * docs/CRYPTO.md. Signatures are over a context string followed by the
 * encoding of every field before the signature.
 */
#ifndef CASUS_CC_CERT_H
#define CASUS_CC_CERT_H

#include "cc_keys.h"
#include <stddef.h>
#include <stdint.h>

#define CC_CERT_VERSION 1
#define CC_USER_ID_MAX 64 /* bytes, e.g. "cm.jansen" */
#define CC_NAME_MAX 128   /* display name */
#define CC_ORG_MAX 128    /* organisation */
#define CC_ROLE_MAX 32    /* role name as in the policy */
#define CC_CERT_MAX 1024  /* no encoded certificate is larger */

typedef struct cc_cert {
	uint8_t version;
	uint64_t serial; /* unique per root, chosen by casus-admin */
	char user_id[CC_USER_ID_MAX + 1];
	char name[CC_NAME_MAX + 1];
	char org[CC_ORG_MAX + 1];
	char role[CC_ROLE_MAX + 1];
	uint8_t device_id[CC_DEVICE_ID_BYTES];
	uint8_t sign_pk[CC_SIGN_PK_BYTES];
	uint8_t box_pk[CC_BOX_PK_BYTES];
	int64_t not_before;                /* UTC seconds, inclusive */
	int64_t not_after;                 /* UTC seconds, exclusive */
	uint8_t root_pk[CC_SIGN_PK_BYTES]; /* issuer: the root that signed it */
	uint8_t sig[CC_SIG_BYTES];
} cc_cert;

/* A device's request to be certified: its keys and who it claims to be, signed
 * with the device's own identity key (proof of possession). */
typedef struct cc_cert_request {
	uint8_t version;
	char user_id[CC_USER_ID_MAX + 1];
	char name[CC_NAME_MAX + 1];
	char org[CC_ORG_MAX + 1];
	char role[CC_ROLE_MAX + 1];
	uint8_t device_id[CC_DEVICE_ID_BYTES];
	uint8_t sign_pk[CC_SIGN_PK_BYTES];
	uint8_t box_pk[CC_BOX_PK_BYTES];
	uint8_t sig[CC_SIG_BYTES];
} cc_cert_request;

/* Encode the full object (including signature) into w (appends). */
int cc_cert_encode(const cc_cert *c, struct cc_wbuf *w);
/* Decode syntax only; no signature or validity checks. Rejects truncation and trailing bytes. */
int cc_cert_decode(const uint8_t *p, size_t n, cc_cert *out) __attribute__((warn_unused_result));
/* Fill c->root_pk and c->sig by signing every other field with the root. */
int cc_cert_sign(cc_cert *c, const cc_root_key *root);
/* Full check: root_pk equals the pinned root (else CC_ERR_WRONG_ROOT), signature
 * (CC_ERR_BAD_SIGNATURE), not_before <= now < not_after (CC_ERR_NOT_YET_VALID /
 * CC_ERR_EXPIRED), and, if revs != NULL, not revoked (CC_ERR_REVOKED). */
struct cc_revlist;
int cc_cert_verify(const cc_cert *c, const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now,
                   const struct cc_revlist *revs) __attribute__((warn_unused_result));
/* BLAKE2b-256 over the canonical encoding: the certificate's fingerprint. */
int cc_cert_hash(const cc_cert *c, uint8_t out[CC_HASH_BYTES]);

int cc_cert_request_create(cc_cert_request *req, const cc_device_keys *keys, const char *user_id, const char *name,
                           const char *org, const char *role);
int cc_cert_request_encode(const cc_cert_request *req, struct cc_wbuf *w);
int cc_cert_request_decode(const uint8_t *p, size_t n, cc_cert_request *out) __attribute__((warn_unused_result));
/* Verifies the proof-of-possession signature. */
int cc_cert_request_verify(const cc_cert_request *req) __attribute__((warn_unused_result));
/* Turn a verified request into a signed certificate valid [not_before, not_after). */
int cc_cert_issue(const cc_cert_request *req, const cc_root_key *root, uint64_t serial, int64_t not_before,
                  int64_t not_after, cc_cert *out);

/* ---- revocation list ---------------------------------------------------- */
#define CC_REVLIST_VERSION 1
#define CC_REVLIST_MAX_ENTRIES 100000

typedef struct cc_revoked {
	uint64_t serial;                       /* certificate serial */
	uint8_t device_id[CC_DEVICE_ID_BYTES]; /* and the device it certified */
	int64_t revoked_at;
} cc_revoked;

typedef struct cc_revlist {
	uint8_t version;
	uint64_t number; /* strictly increasing; a newer list replaces an older */
	int64_t issued_at;
	uint32_t count;
	cc_revoked *entries; /* heap array owned by the list, sorted by serial */
	uint8_t root_pk[CC_SIGN_PK_BYTES];
	uint8_t sig[CC_SIG_BYTES];
} cc_revlist;

void cc_revlist_init(cc_revlist *l);
void cc_revlist_free(cc_revlist *l);
int cc_revlist_add(cc_revlist *l, uint64_t serial, const uint8_t device_id[CC_DEVICE_ID_BYTES], int64_t at);
int cc_revlist_sign(cc_revlist *l, const cc_root_key *root);
int cc_revlist_encode(const cc_revlist *l, struct cc_wbuf *w);
int cc_revlist_decode(const uint8_t *p, size_t n, cc_revlist *out) __attribute__((warn_unused_result));
/* Checks root and signature; if held != NULL, refuses a list whose number is
 * not greater than held->number with CC_ERR_STALE. */
int cc_revlist_verify(const cc_revlist *l, const uint8_t root_pk[CC_SIGN_PK_BYTES], const cc_revlist *held)
	__attribute__((warn_unused_result));
/* 1 if revoked (by serial or by device id), 0 if not. */
int cc_revlist_contains(const cc_revlist *l, uint64_t serial, const uint8_t device_id[CC_DEVICE_ID_BYTES]);

/* ---- issuance log ---------------------------------------------------------
 * Every certificate casus-admin issues is appended to a log signed by the
 * root: an append-only, hash-chained sequence of entries (docs/CRYPTO.md
 * "Issuance log"). Entry i carries seq = i, the BLAKE2b-256 hash of entry
 * i-1's full encoding (zeros for entry 0), the time of issue and the encoded
 * certificate, signed by the root under the context "casus.v1 issuance". The
 * log file is the concatenation of the entries. */
#define CC_ISSUANCE_VERSION 1
#define CC_ISSUANCE_MAX_ENTRIES 1000000

typedef struct cc_issuance {
	uint8_t version;
	uint64_t seq;
	uint8_t prev[CC_HASH_BYTES];
	int64_t issued_at;
	cc_cert cert;
	uint8_t root_pk[CC_SIGN_PK_BYTES];
	uint8_t sig[CC_SIG_BYTES];
} cc_issuance;

/* Fill e->root_pk and e->sig (the other fields set by the caller). */
int cc_issuance_sign(cc_issuance *e, const cc_root_key *root);
int cc_issuance_encode(const cc_issuance *e, struct cc_wbuf *w);
/* Decode the entry at the start of p[0..n); *used = its length. Syntax only. */
int cc_issuance_decode(const uint8_t *p, size_t n, cc_issuance *out, size_t *used) __attribute__((warn_unused_result));
/* BLAKE2b-256 over the full encoding: what the next entry's prev names. */
int cc_issuance_hash(const cc_issuance *e, uint8_t out[CC_HASH_BYTES]);

/* The result of walking a whole log. */
typedef struct cc_issuance_log {
	uint64_t count;              /* entries */
	uint8_t head[CC_HASH_BYTES]; /* hash of the last entry; zeros if empty */
	int64_t last_at;             /* issued_at of the last entry */
} cc_issuance_log;

/* Verify a whole log: every entry signed by root_pk, seq 0,1,2,..., each prev
 * the hash of the entry before, issued_at not decreasing, each certificate
 * signed by the same root, and every device id, identity key and wrap key
 * naming one device (one device id, its two keys and its user id; a renewal
 * repeats all four, anything else is CC_ERR_MALFORMED). If each != NULL it is called
 * for every entry in order; a non-zero return stops the walk and is returned.
 * An empty input is a valid, empty log. */
int cc_issuance_log_verify(const uint8_t *p, size_t n, const uint8_t root_pk[CC_SIGN_PK_BYTES], cc_issuance_log *out,
                           int (*each)(const cc_issuance *e, void *ctx), void *ctx) __attribute__((warn_unused_result));

/* ---- added by the identity layer (additions only) ------------------------ */
/* Notes:
 *  - decode functions zero *out (cc_revlist_decode: leaves it empty) on
 *    failure, and fill it only on success. A revlist decoded into `out` must be
 *    released with cc_revlist_free; decode does not free an earlier list in out.
 *  - cc_cert_verify with revs != NULL requires revs->root_pk == root_pk (else
 *    CC_ERR_WRONG_ROOT); pass a list you verified with cc_revlist_verify.
 *  - cc_revlist_add keeps entries sorted; a serial already on the list is
 *    CC_ERR_INVALID_ARG. Adding invalidates the signature: sign again.
 *  - cc_cert_issue verifies the request's proof of possession itself and
 *    requires not_before < not_after (CC_ERR_INVALID_ARG). */

#endif
