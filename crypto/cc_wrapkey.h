/*
 * cc_wrapkey.h: device wrap keys that rotate (issue 17).
 *
 * A device's certified X25519 box key (cert.box_pk, "wrap version 0") never
 * changes. To heal after a theft, each device publishes newer X25519 *wrap
 * keys*, numbered 1, 2, 3, ..., each signed by its Ed25519 identity key, and
 * commits seal its epoch-key boxes to the newest one it published (the commit
 * names the version per box, inside the signed commit: cc_commit.h). Old wrap
 * secrets are wiped after a grace period, so a device key stolen later opens
 * no box sealed before the rotation (docs/CRYPTO.md, "Device wrap keys").
 *
 * Publication record (CCWK, version 1), fixed length CC_WRAPKEY_BYTES:
 *   fixed[4]  magic "CCWK"
 *   u8        version = 1
 *   fixed16   device id
 *   u32       wrap version (>= 1; 0 is the certified box key, never published)
 *   i64       created (UTC seconds)
 *   fixed32   X25519 public key (not all zeros)
 *   fixed64   Ed25519 signature by the device's identity key over
 *             "casus.v1 wrapkey\0" || every byte above
 *
 * Secret form (keystore entry "wrap/<10-digit version>", only in
 * sodium_malloc memory): u32 version | i64 created | fixed32 pk | fixed32 sk.
 */
#ifndef CASUS_CC_WRAPKEY_H
#define CASUS_CC_WRAPKEY_H

#include "cc_cert.h"
#include "cc_keys.h"
#include <stddef.h>
#include <stdint.h>

#define CC_WRAPKEY_VERSION 1
#define CC_WRAPKEY_BYTES (4 + 1 + CC_DEVICE_ID_BYTES + 4 + 8 + CC_BOX_PK_BYTES + CC_SIG_BYTES) /* 129 */
#define CC_WRAPKEY_CTX "casus.v1 wrapkey"
#define CC_WRAP_SECRET_BYTES (4 + 8 + CC_BOX_PK_BYTES + CC_BOX_SK_BYTES) /* 76 */
#define CC_WRAP_MAX 64 /* wrap secrets a device holds at once (newest + those in their grace period) */
/* Defaults of the schedule (the client may change them: docs/CLIENT.md). */
#define CC_WRAP_INTERVAL_DEFAULT (7 * 86400) /* rotate when the newest wrap key is this old */
#define CC_WRAP_GRACE_DEFAULT (14 * 86400)   /* keep an old secret this long after its successor */

/* A published wrap key (public). */
typedef struct cc_wrapkey {
	uint8_t device_id[CC_DEVICE_ID_BYTES];
	uint32_t version;
	int64_t created;
	uint8_t pk[CC_BOX_PK_BYTES];
	uint8_t sig[CC_SIG_BYTES];
} cc_wrapkey;

/* A wrap key pair this device holds (keep arrays of it in sodium_malloc memory). */
typedef struct cc_wrap_secret {
	uint32_t version;
	int64_t created;
	uint8_t pk[CC_BOX_PK_BYTES];
	uint8_t sk[CC_BOX_SK_BYTES];
} cc_wrap_secret;

/* A recipient's key to seal to, for commit builders (cc_commit_change.wraps). */
typedef struct cc_wrap_target {
	uint8_t device_id[CC_DEVICE_ID_BYTES];
	uint32_t version;
	uint8_t pk[CC_BOX_PK_BYTES];
} cc_wrap_target;

/* Strict decode: wrong length CC_ERR_TRUNCATED / CC_ERR_TRAILING, bad magic or
 * version CC_ERR_VERSION, wrap version 0 or an all-zero key CC_ERR_MALFORMED.
 * No signature check. */
int cc_wrapkey_decode(const uint8_t *p, size_t n, cc_wrapkey *out) __attribute__((warn_unused_result));
int cc_wrapkey_encode(const cc_wrapkey *k, struct cc_wbuf *w);
/* Sign k (its device_id is set to dev's) with the device's identity key. */
int cc_wrapkey_sign(cc_wrapkey *k, const cc_device_keys *dev);
/* Verify k for the device certificate cert: CC_ERR_NOT_MEMBER if it names
 * another device, CC_ERR_BAD_SIGNATURE if the signature is not by cert's
 * identity key, CC_ERR_MALFORMED for version 0 or an all-zero key. The
 * certificate itself must be verified by the caller. */
int cc_wrapkey_verify(const cc_wrapkey *k, const cc_cert *cert) __attribute__((warn_unused_result));
/* Decode and verify in one step. */
int cc_wrapkey_check(const uint8_t *p, size_t n, const cc_cert *cert, cc_wrapkey *out)
	__attribute__((warn_unused_result));

/* A fresh key pair with the given version and time, into *out (caller's
 * sodium_malloc memory); and the signed public record for it. */
int cc_wrap_secret_generate(uint32_t version, int64_t created, cc_wrap_secret *out);
int cc_wrap_secret_publication(const cc_wrap_secret *s, const cc_device_keys *dev, cc_wrapkey *out);
/* Keystore form of a secret (w should be a cc_w_init_secret buffer), and back:
 * the decoder checks the length, version >= 1 and that pk belongs to sk. */
int cc_wrap_secret_encode(const cc_wrap_secret *s, struct cc_wbuf *w);
int cc_wrap_secret_decode(const uint8_t *p, size_t n, cc_wrap_secret *out) __attribute__((warn_unused_result));
/* The keystore entry name of a version: "wrap/0000000007" (cap >= 16). */
void cc_wrap_secret_name(uint32_t version, char *out, size_t cap);

/* The schedule, sans I/O (the caller gives the time):
 * cc_wrap_find: the secret of that version in set[0..n), or NULL.
 * cc_wrap_newest: the secret with the highest version, or NULL.
 * cc_wrap_rotation_due: 1 if there is no wrap key yet, or the newest is at
 *   least `interval` seconds old at now (or dated more than 300 s ahead:
 *   a clock that went back must not freeze rotation).
 * cc_wrap_expired: 1 if set[i] is superseded (a newer version exists) and the
 *   next newer one was created at least `grace` seconds before now: its secret
 *   is to be wiped. The newest is never expired. */
const cc_wrap_secret *cc_wrap_find(const cc_wrap_secret *set, size_t n, uint32_t version);
const cc_wrap_secret *cc_wrap_newest(const cc_wrap_secret *set, size_t n);
int cc_wrap_rotation_due(const cc_wrap_secret *set, size_t n, int64_t now, int64_t interval);
int cc_wrap_expired(const cc_wrap_secret *set, size_t n, size_t i, int64_t now, int64_t grace);

#endif
