/*
 * cc_casus.h: one device's client-side view of one casus.
 *
 * Holds the verified chain (cc_chain_state), this device's keys, the epoch
 * keys it was entitled to (in sodium_malloc memory, wiped on free), message
 * keys received through grants, the membership history needed to judge old
 * messages (which devices were members at which epoch, at which level), the
 * device's own send counter and a replay tracker. A client feeds it every
 * commit of the casus from the create commit on (commits are public; a device
 * that joins later replays the chain from the start and simply finds no key
 * for the epochs before it joined).
 *
 * Not thread-safe; one object per (device, casus). Owned by the caller.
 */
#ifndef CASUS_CC_CASUS_H
#define CASUS_CC_CASUS_H

#include "cc_commit.h"
#include "cc_grant.h"
#include "cc_message.h"
#include <stddef.h>
#include <stdint.h>

typedef struct cc_casus cc_casus;

/* self is copied into sodium_malloc memory; self_cert is copied. */
int cc_casus_new(const cc_device_keys *self, const cc_cert *self_cert, cc_casus **out);
void cc_casus_free(cc_casus *cs); /* wipes every key; NULL-safe */

/* The verified public chain state (owned by cs; valid until the next call that changes cs). */
const cc_chain_state *cc_casus_chain(const cc_casus *cs);
const cc_device_keys *cc_casus_self(const cc_casus *cs);
const cc_cert *cc_casus_self_cert(const cc_casus *cs);

/* This device's wrap secrets (cc_wrapkey.h; copied into sodium_malloc memory,
 * replacing any earlier set) and the highest wrap version it ever made. A box
 * addressed to wrap version v >= 1 is opened with the secret of v; if the
 * device no longer holds it and v <= newest, the key was retired after its
 * grace period and the epoch is applied without a key for that audience (the
 * history of that epoch stays readable only from the local copy); a version
 * above newest is refused (CC_ERR_NOT_RECIPIENT). */
int cc_casus_set_wraps(cc_casus *cs, const cc_wrap_secret *wraps, size_t n, uint32_t newest);

/* Verify the next commit (cc_chain_apply_historic: certificates judged as of
 * the commit's time, so an old chain still replays after certificates expire
 * or are revoked; commits more than 300 s in the future are refused) and,
 * where this device is a
 * recipient, open its boxes and check each key against its commitment. On any
 * failure nothing changes (a bad box for this device is CC_ERR_NOT_RECIPIENT,
 * CC_ERR_DECRYPT or CC_ERR_KEY_COMMITMENT: the commit is not accepted). */
int cc_casus_apply_commit(cc_casus *cs, const uint8_t *commit, size_t n, const cc_policy *policy,
                          const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now, const struct cc_revlist *revs)
	__attribute__((warn_unused_result));

/* 1 if this device holds the key of (epoch, audience). */
int cc_casus_has_epoch_key(const cc_casus *cs, uint64_t epoch, int audience);

/* Send counters: gap-free per (epoch, audience) of this device. The first
 * message of an epoch to an audience carries 1, the next 2, ...; a new epoch
 * starts again at 1 (cc_casus_encrypt). The driver stores the state after
 * every encryption and BEFORE the message leaves the device (so a crash never
 * reuses a number), and gives it back with cc_casus_set_send_state after a
 * restart. A number used for a message that never arrives shows to readers
 * as a gap; a reused one as a duplicate or reorder: never silent.
 * cc_casus_send_state: 1 and the epoch and counters (last used, per audience)
 * if this device has sent in some epoch, else 0.
 * cc_casus_set_send_state: adopt a stored state; never moves back (an older
 * epoch is ignored, within the same epoch each counter only grows). */
int cc_casus_send_state(const cc_casus *cs, uint64_t *epoch, uint64_t ctr[CC_POLICY_MAX_AUDIENCES]);
void cc_casus_set_send_state(cc_casus *cs, uint64_t epoch, const uint64_t ctr[CC_POLICY_MAX_AUDIENCES]);
/* Raise every counter of the current epoch to at least floor (tools and the
 * benchmark only: it leaves a gap that readers are shown). */
void cc_casus_set_send_counter(cc_casus *cs, uint64_t floor);

/* Encrypt a message to `audience` at the current epoch. Refuses if this device
 * holds no key for it (CC_ERR_NO_KEY), the ground is missing where the policy
 * requires one (CC_ERR_GROUND_REQUIRED) or out of range (CC_ERR_MALFORMED).
 * Appends to out (plain cc_wbuf). */
int cc_casus_encrypt(cc_casus *cs, const cc_policy *policy, int audience, uint8_t ground, const uint8_t *pt,
                     size_t pt_len, int64_t now, struct cc_wbuf *out);

/* Decode and verify a message of this casus and decrypt it:
 * casus (CC_ERR_CHAIN), known epoch and hash (CC_ERR_EPOCH), audience
 * (CC_ERR_AUDIENCE), sender a member at that epoch (CC_ERR_NOT_MEMBER) and
 * entitled to the audience then (CC_ERR_AUDIENCE), ground rule, signature,
 * replay (CC_ERR_REPLAY) and counter (CC_ERR_COUNTER), key held (CC_ERR_NO_KEY:
 * epoch key, or a granted key for exactly this message), key commitment, AEAD.
 * The plaintext is appended to pt_out (cc_w_init_secret); hdr_out may be NULL.
 * An accepted message is recorded in the replay tracker. This is for the live
 * stream the server delivers in order; a message opened with a granted key is
 * history, so its counter is not compared (its id still must be new). */
int cc_casus_decrypt(cc_casus *cs, const cc_policy *policy, const uint8_t *msg, size_t n, struct cc_wbuf *pt_out,
                     cc_message_header *hdr_out) __attribute__((warn_unused_result));
/* The same checks and decryption for re-reading history (sync, scroll-back,
 * after a restart) in any order: the replay tracker is neither consulted nor
 * written. Authenticity still rests on the author's signature, the epoch hash
 * and the key commitment. */
int cc_casus_decrypt_history(cc_casus *cs, const cc_policy *policy, const uint8_t *msg, size_t n,
                             struct cc_wbuf *pt_out, cc_message_header *hdr_out) __attribute__((warn_unused_result));

/* The message key of a message this device can read (to build grants).
 * CC_ERR_NO_KEY if it cannot read it. Verifies the message first. */
int cc_casus_message_key(const cc_casus *cs, const cc_policy *policy, const uint8_t *msg, size_t n,
                         uint8_t mk[CC_MESSAGE_KEY_BYTES]) __attribute__((warn_unused_result));

/* Grant the given messages to the given roster devices. The granter's role
 * must have may_grant (CC_ERR_FORBIDDEN); every message must be readable by
 * this device (CC_ERR_NO_KEY); a ground (not NONE) and a reason are required.
 * Appends the signed grant to out. */
int cc_casus_grant(const cc_casus *cs, const cc_policy *policy, const uint8_t (*grantees)[CC_DEVICE_ID_BYTES],
                   size_t ngrantees, const uint8_t *const *msgs, const size_t *msg_lens, size_t nmsgs, uint8_t ground,
                   const char *reason, int64_t now, struct cc_wbuf *out);
/* The same, sealing each grantee's boxes to its wrap key in wraps[0..nwraps)
 * (the newest the caller verified: ccore_wrap_learn) and to its certified
 * box key if it has none there; the granter's own copy of the reason key is
 * sealed to its newest wrap secret (cc_casus_set_wraps). Writes grant version
 * 3 when any box names a wrap key, else version 2 (cc_grant.h). */
int cc_casus_grant_wraps(const cc_casus *cs, const cc_policy *policy, const uint8_t (*grantees)[CC_DEVICE_ID_BYTES],
                         size_t ngrantees, const uint8_t *const *msgs, const size_t *msg_lens, size_t nmsgs,
                         uint8_t ground, const char *reason, const cc_wrap_target *wraps, size_t nwraps, int64_t now,
                         struct cc_wbuf *out);

/* Verify a grant addressed (among others) to this device: granter was a
 * member with may_grant at the grant's epoch, signature, ground and reason,
 * then open this device's boxes and keep the message keys (each bound to its
 * message hash). CC_ERR_NOT_RECIPIENT if the grant has nothing for this device
 * or names a wrap version this device never made; CC_ERR_NO_KEY if it names
 * one this device wiped (cc_casus_set_wraps). */
int cc_casus_accept_grant(cc_casus *cs, const cc_policy *policy, const uint8_t *grant, size_t n)
	__attribute__((warn_unused_result));

/* Device key transfer (cc_transfer.h): seal every epoch key this device holds
 * to `to`, another device of the same user id and role in the current roster
 * (CC_ERR_FORBIDDEN otherwise, CC_ERR_NOT_MEMBER if either is not a member),
 * signed by this device. Appends to out. */
int cc_casus_transfer_create(const cc_casus *cs, const cc_cert *to, int64_t now, struct cc_wbuf *out)
	__attribute__((warn_unused_result));
/* The same, sealed to the recipient's wrap key `wrap` (verified by the caller;
 * its device id must be to's, version >= 1: transfer version 2); wrap NULL
 * seals to the certified box key (version 1). */
int cc_casus_transfer_create_wrap(const cc_casus *cs, const cc_cert *to, const cc_wrap_target *wrap, int64_t now,
                                  struct cc_wbuf *out) __attribute__((warn_unused_result));
/* Verify a transfer addressed to this device (sender once in the roster, same
 * user id and role, signature, binding) and keep its keys, each checked
 * against the key commitment of its epoch (CC_ERR_KEY_COMMITMENT: nothing is
 * kept). A transfer sealed to a wrap version this device wiped is
 * CC_ERR_NO_KEY, to one it never made CC_ERR_NOT_RECIPIENT. *imported (may
 * be NULL): keys that were new. */
int cc_casus_transfer_accept(cc_casus *cs, const uint8_t *p, size_t n, size_t *imported)
	__attribute__((warn_unused_result));

#endif
