/*
 * cc_message.h: end-to-end encrypted, signed casus messages.
 *
 * A message goes to exactly one audience of a casus at one epoch. Its header
 * is in the clear so the server can route, enforce the disclosure-ground rule
 * and verify the sender's signature without any key. The content is encrypted
 * with XChaCha20-Poly1305 (IETF) under a per-message key derived from the
 * audience's epoch key and the header, with a random 192-bit nonce, the header
 * as additional data and the plaintext padded (sodium_pad, 256-byte buckets;
 * never compressed). A key-commitment tag binds the ciphertext to one key, and
 * the sender's Ed25519 signature covers header, nonce, tag and ciphertext.
 *
 * Byte layout (big-endian, cc_buf.h):
 *
 *   header (CC_MESSAGE_HEADER_BYTES = 107):
 *     u8       version (1)
 *     fixed16  casus id
 *     u8       audience index (policy order)
 *     u64      epoch
 *     fixed32  epoch hash (hash of the commit that opened the epoch)
 *     fixed16  sender device id
 *     u64      counter (per sender device, epoch and audience: 1, 2, 3, ... with no
 *              gap, so a receiver can tell a dropped message; see cc_casus_encrypt)
 *     fixed16  message id (random)
 *     i64      time (UTC seconds)
 *     u8       disclosure ground (enum cc_ground)
 *   fixed24  nonce (random)
 *   fixed32  key-commitment tag
 *   var32    ciphertext (<= CC_MESSAGE_CT_MAX)
 *   fixed64  Ed25519 signature over "casus.e2e.v1.message.sig\0" || every byte above
 *
 * Keys (BLAKE2b-256 keyed = crypto_generichash with a key):
 *   message key mk = BLAKE2b(key = epoch key, "casus.e2e.v1.message.key\0" || header)
 *   AEAD key       = BLAKE2b(key = mk,        "casus.e2e.v1.message.aead\0")
 *   tag            = BLAKE2b(key = mk,        "casus.e2e.v1.message.commit\0" || header || nonce)
 *   message hash   = BLAKE2b("casus.e2e.v1.message.hash\0" || full message)  (grants bind it)
 *
 * Opening order: signature, then tag (constant time), then AEAD, then unpad.
 */
#ifndef CASUS_CC_MESSAGE_H
#define CASUS_CC_MESSAGE_H

#include "cc_commit.h"
#include "cc_keys.h"
#include "cc_policy.h"
#include <stddef.h>
#include <stdint.h>

#define CC_MESSAGE_VERSION 1
#define CC_MESSAGE_ID_BYTES 16
#define CC_MESSAGE_KEY_BYTES 32
#define CC_MESSAGE_NONCE_BYTES 24
#define CC_MESSAGE_TAG_BYTES 32
#define CC_MESSAGE_HEADER_BYTES 107
#define CC_MESSAGE_PAD_BLOCK 256
#define CC_MESSAGE_PLAINTEXT_MAX (1024 * 1024)
#define CC_MESSAGE_CT_MAX (CC_MESSAGE_PLAINTEXT_MAX + CC_MESSAGE_PAD_BLOCK + 16)
#define CC_MESSAGE_MAX_BYTES (CC_MESSAGE_HEADER_BYTES + 24 + 32 + 4 + CC_MESSAGE_CT_MAX + 64)

typedef struct cc_message_header {
	uint8_t version;
	uint8_t casus_id[CC_CASUS_ID_BYTES];
	uint8_t audience;
	uint64_t epoch;
	uint8_t epoch_hash[CC_HASH_BYTES];
	uint8_t sender[CC_DEVICE_ID_BYTES];
	uint64_t counter;
	uint8_t message_id[CC_MESSAGE_ID_BYTES];
	int64_t time;
	uint8_t ground;
} cc_message_header;

/* A decoded message. ct and signed_part point INTO the buffer given to
 * cc_message_decode: valid only while that buffer lives and is unchanged. */
typedef struct cc_message {
	cc_message_header h;
	uint8_t nonce[CC_MESSAGE_NONCE_BYTES];
	uint8_t tag[CC_MESSAGE_TAG_BYTES];
	const uint8_t *ct;
	size_t ct_len;
	uint8_t sig[CC_SIG_BYTES];
	const uint8_t *signed_part; /* the encoding up to the signature */
	size_t signed_len;
} cc_message;

int cc_message_header_encode(const cc_message_header *h, struct cc_wbuf *w);
/* Syntax only; allocates nothing. */
int cc_message_decode(const uint8_t *p, size_t n, cc_message *out) __attribute__((warn_unused_result));
/* Signature check without any key: the server calls this with the sender's
 * certified sign_pk (from the roster). */
int cc_message_verify_sig(const cc_message *m, const uint8_t sender_sign_pk[CC_SIGN_PK_BYTES])
	__attribute__((warn_unused_result));
int cc_message_hash(const uint8_t *p, size_t n, uint8_t out[CC_HASH_BYTES]);

/* Disclosure-ground rule from public data: a ground outside the enum is
 * CC_ERR_MALFORMED; CC_GROUND_NONE where cc_policy_ground_required is
 * CC_ERR_GROUND_REQUIRED. sender_role is the policy role index of the sender. */
int cc_message_check_ground(const cc_message_header *h, const cc_policy *policy, int sender_role, uint8_t level)
	__attribute__((warn_unused_result));

/* Everything the server can check without keys, against its current chain
 * state: version, casus (CC_ERR_CHAIN), epoch = current epoch and epoch hash =
 * head (CC_ERR_EPOCH), audience exists (CC_ERR_AUDIENCE), sender in roster
 * (CC_ERR_NOT_MEMBER) and entitled to the audience (CC_ERR_AUDIENCE), ground
 * rule, signature (CC_ERR_BAD_SIGNATURE). Messages of a superseded epoch are
 * refused: the sender re-encrypts under the new epoch. */
int cc_message_check_public(const cc_message *m, const cc_chain_state *st, const cc_policy *policy)
	__attribute__((warn_unused_result));

/* cc_message_check_public without its last step, the signature: version,
 * casus, epoch and head, audience, sender in the roster and entitled, ground
 * rule, with the same errors in the same order. On CC_OK, *sender_index (if
 * not NULL) is the sender's roster index, whose certified signing key the
 * caller then checks the signature against with cc_message_verify_sig (the
 * server does that on its verifier thread). cc_message_check_public is this
 * function followed by the signature check, so a check added here reaches both. */
int cc_message_check_header(const cc_message_header *h, const cc_chain_state *st, const cc_policy *policy,
                            int *sender_index) __attribute__((warn_unused_result));

/* ---- keyed primitives (cc_casus.h uses these; exposed for tests and tools) -- */

/* mk from the audience epoch key and the encoded header. */
int cc_message_derive_key(const uint8_t epoch_key[CC_EPOCH_KEY_BYTES], const cc_message_header *h,
                          uint8_t mk[CC_MESSAGE_KEY_BYTES]);
/* Encrypt and sign. h->message_id and the nonce are the caller's (use
 * randombytes_buf for the id); the nonce is drawn here. Appends to out. */
int cc_message_seal(const cc_message_header *h, const uint8_t mk[CC_MESSAGE_KEY_BYTES], const cc_device_keys *sender,
                    const uint8_t *pt, size_t pt_len, struct cc_wbuf *out);
/* Verify signature, key commitment (sodium_memcmp) and AEAD, unpad. The
 * plaintext is appended to pt_out, which should be cc_w_init_secret. */
int cc_message_open(const cc_message *m, const uint8_t sender_sign_pk[CC_SIGN_PK_BYTES],
                    const uint8_t mk[CC_MESSAGE_KEY_BYTES], struct cc_wbuf *pt_out) __attribute__((warn_unused_result));

/* ---- replay and ordering tracker (client side) ----------------------------- */

/* Remembers every accepted message id and the highest counter per (sender,
 * epoch, audience). Opaque heap object; cc_replay_free. */
typedef struct cc_replay cc_replay;
int cc_replay_new(cc_replay **out);
void cc_replay_free(cc_replay *r);
/* CC_OK if new; CC_ERR_REPLAY if the id was accepted before; CC_ERR_COUNTER if
 * the counter is not greater than the last accepted from that sender in that
 * epoch and audience. */
int cc_replay_check(const cc_replay *r, const cc_message_header *h) __attribute__((warn_unused_result));
/* Record an accepted message (call after it opened). */
int cc_replay_record(cc_replay *r, const cc_message_header *h);

#endif
