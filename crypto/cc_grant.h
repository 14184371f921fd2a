/*
 * cc_grant.h: sharing selected history onward to a later member.
 *
 * A member who can read a message may give its per-message key (never an
 * epoch key) to devices that joined later: the keys are sealed with
 * crypto_box_seal to each grantee device, the box content binds grantee
 * device, casus, message id and message hash, and the whole grant is signed by
 * the granter with a disclosure ground and a reason. The reason is case
 * content: it travels in a reason box (cc_commit.h, cc_reason_seal) under a
 * fresh reason key sealed to every grantee device and to the granter, so the
 * server stores only ciphertext. The grantee verifies the
 * grant signature, opens its boxes, and later still verifies each original
 * author's signature and the key-commitment tag when it opens the message
 * (cc_casus_decrypt). A handover note is simply a normal message.
 *
 * Byte layout (big-endian, cc_buf.h):
 *   u8       version (2, or 3 when a box is sealed to a device wrap key; version
 *            1 carried the reason in the clear and is refused with CC_ERR_VERSION)
 *   fixed16  casus id
 *   u64      epoch of the chain when granted
 *   fixed32  that epoch's hash
 *   fixed16  granter device id
 *   i64      time
 *   u8       ground (enum cc_ground, not NONE)
 *   var16    reason box (never empty): fixed24 nonce || XChaCha20-Poly1305-IETF
 *            ciphertext (key = reason key, additional data
 *            "casus.e2e.v2.grant.reason\0" || casus || u64 epoch || granter id)
 *            of the padded reason (cc_reason_seal; 1..CC_GRANT_REASON_MAX bytes)
 *   fixed32  reason key commitment (cc_commit_key_commitment of the reason key,
 *            audience CC_REASON_AUDIENCE, the grant's epoch)
 *   fixed[CC_SEALED_KEY_BYTES] the reason key sealed to the granter
 *            (cc_commit_seal_key, audience CC_REASON_AUDIENCE, the grant's epoch)
 *   u32      (version 3 only) the granter's wrap version that box is sealed to
 *            (0: its certified box key; n >= 1: its wrap key n, cc_wrapkey.h)
 *   u16      messages (1..CC_GRANT_MAX_MESSAGES)
 *     fixed16  message id
 *     u8       audience of the message
 *     fixed32  message hash (cc_message_hash of the full message)
 *   u16      grantee devices (1..CC_GRANT_MAX_DEVICES), sorted, unique
 *     fixed16  device id
 *     u32      (version 3 only) the wrap version this device's reason key and
 *              message boxes are sealed to (as above; in version 2 every box
 *              is sealed to the certified box key, version 0)
 *     fixed[CC_SEALED_KEY_BYTES] the reason key sealed to this device (as above)
 *     messages x fixed[CC_GRANT_BOX_BYTES]: crypto_box_seal of
 *              u8 0x02 || fixed16 grantee id || fixed16 casus || fixed16 message id ||
 *              fixed32 message hash || fixed32 message key
 *   fixed64  Ed25519 signature over "casus.e2e.v1.grant.sig\0" || every byte above
 *
 * The wrap versions are inside the signed bytes (as in commit version 3): the
 * server cannot move a box to another key. A builder writes version 3 only
 * when some box is sealed to a wrap key (cc_casus_grant_wraps).
 */
#ifndef CASUS_CC_GRANT_H
#define CASUS_CC_GRANT_H

#include "cc_commit.h"
#include "cc_message.h"
#include <stddef.h>
#include <stdint.h>

#define CC_GRANT_VERSION 2
#define CC_GRANT_VERSION_WRAP 3                  /* the same with a wrap version per box owner */
#define CC_GRANT_REASON_MAX CC_COMMIT_REASON_MAX /* the reason box holds at most that */
#define CC_GRANT_MAX_MESSAGES 1024
#define CC_GRANT_MAX_DEVICES 16
#define CC_GRANT_BOX_PLAIN_BYTES                                                                                       \
	(1 + CC_DEVICE_ID_BYTES + CC_CASUS_ID_BYTES + CC_MESSAGE_ID_BYTES + CC_HASH_BYTES + CC_MESSAGE_KEY_BYTES)
#define CC_GRANT_BOX_BYTES (crypto_box_SEALBYTES + CC_GRANT_BOX_PLAIN_BYTES)

typedef struct cc_grant_item {
	uint8_t message_id[CC_MESSAGE_ID_BYTES];
	uint8_t audience;
	uint8_t message_hash[CC_HASH_BYTES];
} cc_grant_item;

typedef struct cc_grant_device {
	uint8_t device_id[CC_DEVICE_ID_BYTES];
	uint32_t wrap; /* wrap version this device's boxes are sealed to (0: certified box key; 0 in version 2) */
	uint8_t reason_key[CC_SEALED_KEY_BYTES]; /* the reason key sealed to this device */
	uint8_t *boxes;                          /* nitems x CC_GRANT_BOX_BYTES, heap, owned by the cc_grant */
} cc_grant_device;

/* Decoded grant; arrays are heap memory owned by the struct (cc_grant_free). */
typedef struct cc_grant {
	uint8_t version;
	uint8_t casus_id[CC_CASUS_ID_BYTES];
	uint64_t epoch;
	uint8_t epoch_hash[CC_HASH_BYTES];
	uint8_t granter[CC_DEVICE_ID_BYTES];
	int64_t time;
	uint8_t ground;
	uint16_t reason_len; /* never 0 in a decoded grant */
	uint8_t reason_box[CC_REASON_BOX_MAX];
	uint8_t reason_commit[CC_HASH_BYTES];
	uint8_t granter_reason_key[CC_SEALED_KEY_BYTES];
	uint32_t granter_wrap; /* wrap version granter_reason_key is sealed to (0 in version 2) */
	uint16_t nitems;
	cc_grant_item *items;
	uint16_t ndevices;
	cc_grant_device *devices;
	uint8_t sig[CC_SIG_BYTES];
} cc_grant;

/* Syntax only. On failure *out needs no free. */
int cc_grant_decode(const uint8_t *p, size_t n, cc_grant *out) __attribute__((warn_unused_result));
void cc_grant_free(cc_grant *g);
int cc_grant_encode(const cc_grant *g, struct cc_wbuf *w);
int cc_grant_sign(cc_grant *g, const cc_device_keys *granter);
int cc_grant_verify_sig(const cc_grant *g, const uint8_t sign_pk[CC_SIGN_PK_BYTES]) __attribute__((warn_unused_result));

/* Public checks for the server against its current chain state: casus
 * (CC_ERR_CHAIN), epoch and hash = head (CC_ERR_EPOCH), granter in roster
 * (CC_ERR_NOT_MEMBER) with may_grant (CC_ERR_FORBIDDEN), ground set
 * (CC_ERR_GROUND_REQUIRED) and a reason box present (CC_ERR_MALFORMED; the
 * server cannot read it), every
 * grantee in the roster (CC_ERR_NOT_MEMBER) and entitled now to the audience of
 * every granted message (CC_ERR_AUDIENCE), signature (CC_ERR_BAD_SIGNATURE).
 * The server should also check that each message id exists with that hash. */
int cc_grant_check_public(const cc_grant *g, const cc_chain_state *st, const cc_policy *policy)
	__attribute__((warn_unused_result));

/* Build the reason box of g (casus, epoch, granter set) for the granter and
 * every device in g->devices (device ids set): a fresh reason key, the box,
 * its commitment and the sealed keys. reason: text, 1..CC_GRANT_REASON_MAX. */
int cc_grant_seal_reason(cc_grant *g, const char *reason, const uint8_t granter_box_pk[CC_BOX_PK_BYTES],
                         const uint8_t (*device_box_pks)[CC_BOX_PK_BYTES]);
/* Open the reason of a decoded grant as its granter or one of its grantee
 * devices: CC_ERR_NOT_RECIPIENT, CC_ERR_DECRYPT, CC_ERR_KEY_COMMITMENT,
 * CC_ERR_MALFORMED. out (cap >= CC_GRANT_REASON_MAX + 1) gets the text. */
int cc_grant_open_reason(const cc_grant *g, const cc_device_keys *self, char *out, size_t cap)
	__attribute__((warn_unused_result));
/* The same for a device holding wrap secrets wraps[0..nwraps): its box is
 * opened with the secret of the version the grant names for it (0: the
 * certified box key); a version it does not hold is CC_ERR_NO_KEY. */
int cc_grant_open_reason_wraps(const cc_grant *g, const cc_device_keys *self, const cc_wrap_secret *wraps,
                               size_t nwraps, char *out, size_t cap) __attribute__((warn_unused_result));

/* Seal one message key to one grantee device (box layout above). */
int cc_grant_seal_key(uint8_t box[CC_GRANT_BOX_BYTES], const uint8_t grantee_box_pk[CC_BOX_PK_BYTES],
                      const uint8_t grantee_id[CC_DEVICE_ID_BYTES], const uint8_t casus_id[CC_CASUS_ID_BYTES],
                      const uint8_t message_id[CC_MESSAGE_ID_BYTES], const uint8_t message_hash[CC_HASH_BYTES],
                      const uint8_t mk[CC_MESSAGE_KEY_BYTES]);
/* Open and check the bound fields (CC_ERR_NOT_RECIPIENT / CC_ERR_DECRYPT). */
int cc_grant_open_key(const uint8_t box[CC_GRANT_BOX_BYTES], const cc_device_keys *self,
                      const uint8_t casus_id[CC_CASUS_ID_BYTES], const uint8_t message_id[CC_MESSAGE_ID_BYTES],
                      const uint8_t message_hash[CC_HASH_BYTES], uint8_t mk[CC_MESSAGE_KEY_BYTES])
	__attribute__((warn_unused_result));
/* The same with a wrap secret of this device (NULL: the certified box key). */
int cc_grant_open_key_wrap(const uint8_t box[CC_GRANT_BOX_BYTES], const cc_device_keys *self,
                           const cc_wrap_secret *wrap, const uint8_t casus_id[CC_CASUS_ID_BYTES],
                           const uint8_t message_id[CC_MESSAGE_ID_BYTES], const uint8_t message_hash[CC_HASH_BYTES],
                           uint8_t mk[CC_MESSAGE_KEY_BYTES]) __attribute__((warn_unused_result));

#endif
