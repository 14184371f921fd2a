/*
 * cc_keys.h: long-lived key pairs of casus.
 *
 *  - the deployment root key (Ed25519): held by the functional administrator
 *    (`beheer`) in casus-admin's keystore; signs certificates, the policy and
 *    revocation lists. Clients and the server pin its public half.
 *  - a device's keys: an Ed25519 identity key (signs commits, messages, grants,
 *    auth challenges) and a separate X25519 key that only receives sealed
 *    epoch and message keys. No key is used for two purposes.
 *
 * Secret halves live in sodium_malloc'd memory (guard pages, mlock'd where the
 * OS allows, wiped on free). Objects are owned by the caller and released with
 * the matching *_free, which wipes them; *_free(NULL) is a no-op.
 */
#ifndef CASUS_CC_KEYS_H
#define CASUS_CC_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define CC_SIGN_PK_BYTES 32
#define CC_SIGN_SK_BYTES 64
#define CC_SIG_BYTES 64
#define CC_BOX_PK_BYTES 32
#define CC_BOX_SK_BYTES 32
#define CC_DEVICE_ID_BYTES 16
#define CC_HASH_BYTES 32

typedef struct cc_root_key {
	uint8_t pk[CC_SIGN_PK_BYTES];
	uint8_t sk[CC_SIGN_SK_BYTES];
} cc_root_key;

typedef struct cc_device_keys {
	uint8_t device_id[CC_DEVICE_ID_BYTES]; /* random, public */
	uint8_t sign_pk[CC_SIGN_PK_BYTES];
	uint8_t sign_sk[CC_SIGN_SK_BYTES];
	uint8_t box_pk[CC_BOX_PK_BYTES];
	uint8_t box_sk[CC_BOX_SK_BYTES];
} cc_device_keys;

/* Generate fresh keys into sodium_malloc'd memory. *out is NULL on failure. */
int cc_root_key_generate(cc_root_key **out);
int cc_device_keys_generate(cc_device_keys **out);
void cc_root_key_free(cc_root_key *k);
void cc_device_keys_free(cc_device_keys *k);

/* Serialise secret keys (for the keystore) into a secret cc_wbuf and back. */
struct cc_wbuf;
int cc_root_key_encode(const cc_root_key *k, struct cc_wbuf *w);
int cc_root_key_decode(const uint8_t *p, size_t n, cc_root_key **out);
int cc_device_keys_encode(const cc_device_keys *k, struct cc_wbuf *w);
int cc_device_keys_decode(const uint8_t *p, size_t n, cc_device_keys **out);

/* Lower-case hex of a device id (33 bytes incl. NUL) for display and JSON. */
void cc_device_id_hex(const uint8_t id[CC_DEVICE_ID_BYTES], char out[2 * CC_DEVICE_ID_BYTES + 1]);
int cc_device_id_from_hex(const char *hex, uint8_t id[CC_DEVICE_ID_BYTES]);

/* ---- added by the identity layer (additions only) ------------------------ */

/* Signing with a context string. The signed message is the context string
 * INCLUDING its terminating NUL byte, followed by msg[0..n). The NUL makes the
 * set of context strings prefix-free, so a signature made for one object type
 * can never verify as another. Every signed object type has its own context
 * (see docs/CRYPTO.md); never reuse one. */
int cc_sign_ctx(const uint8_t sk[CC_SIGN_SK_BYTES], const char *ctx, const uint8_t *msg, size_t n,
                uint8_t sig[CC_SIG_BYTES]);
/* CC_OK or CC_ERR_BAD_SIGNATURE. */
int cc_verify_ctx(const uint8_t pk[CC_SIGN_PK_BYTES], const char *ctx, const uint8_t *msg, size_t n,
                  const uint8_t sig[CC_SIG_BYTES]) __attribute__((warn_unused_result));

/* Text checks shared by certificates and the policy.
 * cc_ident_check: 1..max bytes of [a-z0-9._@-] (user ids, role and audience
 *   names; lower case only so that no two spellings alias).
 * cc_text_check: 0..max bytes of valid UTF-8 (shortest form, no surrogates), no
 *   control characters (< 0x20, 0x7f). Both return CC_OK or CC_ERR_MALFORMED
 *   (CC_ERR_TOO_LARGE when longer than max). s must be readable for max+1
 *   bytes or NUL-terminated before that. */
int cc_ident_check(const char *s, size_t max) __attribute__((warn_unused_result));
int cc_text_check(const char *s, size_t max) __attribute__((warn_unused_result));

#endif
