/*
 * ccore_wrapks.h: a device's own wrap keys kept in its keystore (issue 17;
 * docs/CRYPTO.md "Device wrap keys"), sans I/O: the time, the schedule and
 * the keystore are given, the caller saves the keystore and talks to the
 * server. The browser client (client/web/wasm) keeps its wrap keys with
 * these; the rules are those of the C client (libcasus_profile.c).
 *
 * Keystore entries:
 *   "wrap/<10-digit version>"    cc_wrap_secret encoding, one per held secret
 *   "wrapstate"                  u32 highest version made | u32 highest version
 *                                the server accepted (big-endian)
 *   "wrappub/<10-digit version>" i64 time the server first accepted it
 *
 * A connect runs: ccore_wrapks_load, ccore_wrapks_rotate (if *made, save the
 * keystore BEFORE publishing: nobody may be sent a box for a key the device
 * could lose), publish ccore_wrapks_publication with dir.publish, and on the
 * server's yes ccore_wrapks_accepted (if *changed, save the keystore).
 */
#ifndef CASUS_CCORE_WRAPKS_H
#define CASUS_CCORE_WRAPKS_H

#include <cc_buf.h>
#include <cc_keys.h>
#include <cc_keystore.h>
#include <cc_wrapkey.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ccore_wrapks {
	cc_wrap_secret *ws; /* sodium_malloc, CC_WRAP_MAX entries; n used */
	size_t n;
	uint32_t newest;    /* highest version made */
	uint32_t published; /* highest version the server accepted */
} ccore_wrapks;

/* Read the wrap secrets and state from ks into w (w->ws is allocated on the
 * first call; versions only grow). CCORE_OK or CCORE_E_NOMEM / _INVALID. */
int ccore_wrapks_load(const cc_keystore *ks, ccore_wrapks *w) __attribute__((warn_unused_result));
/* Wipe and free w's secrets. */
void ccore_wrapks_free(ccore_wrapks *w);
/* Make a new wrap key (version newest + 1, dated now) and put it and the
 * state into ks when forced or when cc_wrap_rotation_due(now, interval):
 * *made = 1. CCORE_E_INVALID when CC_WRAP_MAX secrets are held already. */
int ccore_wrapks_rotate(cc_keystore *ks, ccore_wrapks *w, int64_t now, int64_t interval, int force, int *made)
	__attribute__((warn_unused_result));
/* The signed publication (CCWK) of the newest secret, for dir.publish.
 * CCORE_E_INVALID when none is held. */
int ccore_wrapks_publication(const ccore_wrapks *w, const cc_device_keys *dev, cc_wbuf *out)
	__attribute__((warn_unused_result));
/* The server accepted `version` (its answer to dir.publish) at now: the
 * acceptance time of every held version up to it is noted, then every secret
 * superseded by a version the server accepted at least `grace` seconds ago
 * is deleted from ks and wiped. wiped[0..*nwiped) (room for CC_WRAP_MAX)
 * names the versions wiped; *changed = 1 when ks changed (save it). */
int ccore_wrapks_accepted(cc_keystore *ks, ccore_wrapks *w, uint32_t version, int64_t now, int64_t grace,
                          uint32_t *wiped, size_t *nwiped, int *changed) __attribute__((warn_unused_result));

#endif
