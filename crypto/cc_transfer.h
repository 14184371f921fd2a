/*
 * cc_transfer.h: a device passes the casus keys it holds to another device of
 * the same user (a user's second device).
 *
 * When a user gets a new device, it is certified on its own (its own keys,
 * its own certificate) and added to the casus roster like any device (a
 * member may add devices of its own user id and role without may_add, see
 * cc_chain_apply). From that commit on it receives epoch keys in the commit
 * boxes. The keys of earlier epochs only exist on the user's other devices;
 * a transfer carries them, signed by the old device and sealed to the new one:
 *
 *   u8       version (1, or 2 when sealed to a device wrap key)
 *   fixed16  casus id
 *   fixed16  from device (the sender, a device of the same user and role)
 *   fixed16  to device (the recipient)
 *   u32      (version 2 only) the recipient's wrap version the keys are sealed
 *            to (>= 1, cc_wrapkey.h; version 1 seals to the certified box key)
 *   u64      epoch (the sender's chain head when it made the transfer)
 *   i64      time (UTC seconds)
 *   var32    sealed keys: crypto_box_seal to the recipient's wrap key of that
 *            version (version 1: its certified box key) of
 *              fixed16 casus id || fixed16 from || fixed16 to ||
 *              u32 count || count x (u64 epoch || u8 audience || fixed32 key)
 *   fixed64  Ed25519 signature of the sender over
 *            "casus.e2e.v1.transfer.sig\0" || every byte above
 *
 * The recipient accepts it only if: the casus is the one it holds, it is the
 * addressee, the sender's certificate was in the roster at some epoch and has
 * the same user id and role as the recipient's own certificate, the signature
 * verifies, the box opens and binds the same ids, and every key matches the
 * key commitment published in the verified commit of its epoch. So a server
 * or another member cannot slip in a key, and the transfer gives the new
 * device nothing the user's other device could not already read. The wrap
 * version is inside the signed bytes: the server cannot move the box to
 * another key.
 */
#ifndef CASUS_CC_TRANSFER_H
#define CASUS_CC_TRANSFER_H

#include "cc_commit.h"
#include <stddef.h>
#include <stdint.h>

#define CC_TRANSFER_VERSION 1
#define CC_TRANSFER_VERSION_WRAP 2 /* with the recipient's wrap version */
#define CC_TRANSFER_KEY_BYTES (8 + 1 + CC_EPOCH_KEY_BYTES)
#define CC_TRANSFER_MAX_KEYS 65536u
#define CC_TRANSFER_SEALED_MAX (48u + 4u + 48u + CC_TRANSFER_MAX_KEYS * CC_TRANSFER_KEY_BYTES)
#define CC_TRANSFER_MAX_BYTES (1u + 16u * 3u + 4u + 8u + 8u + 4u + CC_TRANSFER_SEALED_MAX + 64u)

typedef struct cc_transfer {
	uint8_t version;
	uint8_t casus_id[CC_CASUS_ID_BYTES];
	uint8_t from[CC_DEVICE_ID_BYTES];
	uint8_t to[CC_DEVICE_ID_BYTES];
	uint32_t wrap; /* the recipient's wrap version (0 in version 1: certified box key) */
	uint64_t epoch;
	int64_t time;
	const uint8_t *sealed; /* points into the decoded buffer */
	size_t sealed_len;
	uint8_t sig[CC_SIG_BYTES];
	const uint8_t *signed_part;
	size_t signed_len;
} cc_transfer;

/* Syntax only; allocates nothing; pointers into p. */
int cc_transfer_decode(const uint8_t *p, size_t n, cc_transfer *out) __attribute__((warn_unused_result));
/* The sender's signature. */
int cc_transfer_verify_sig(const cc_transfer *t, const uint8_t sign_pk[CC_SIGN_PK_BYTES])
	__attribute__((warn_unused_result));
/* What a server can check without keys, against the current chain: the
 * casus, both devices in the roster (CC_ERR_NOT_MEMBER), different devices of
 * the same user id and role (CC_ERR_FORBIDDEN), the signature. */
int cc_transfer_check_public(const cc_transfer *t, const cc_chain_state *st) __attribute__((warn_unused_result));

#endif
