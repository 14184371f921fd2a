/*
 * revlist.h: the signed revocation list casusd judges certificates with.
 *
 * casusd holds at most one list: the one given with --revocations, verified
 * against the pinned root at start. It keeps the exact bytes it loaded, so
 * that `revlist.get` hands clients the very list the server applies (they
 * verify it themselves against their pinned root). Whenever the list changes,
 * every authenticated session gets {"push":"revlist","number":K}; today that
 * is only at start (no session is connected yet), but a reload calls the same
 * revlist_install().
 *
 * Fail closed: casusd does not start without a list (an empty list is a list,
 * `casus-admin revlist-init`), and it remembers in the store the number and
 * hash of the newest list it has applied (meta REVLIST_META_SEEN). A list with
 * a lower number, or another list under the same number, is refused at start
 * (revlist_check_store) and at a reload (revlist_install), across restarts.
 */
#ifndef CASUSD_REVLIST_H
#define CASUSD_REVLIST_H

#include <stddef.h>
#include <stdint.h>

struct server;

/* Decode and verify an encoded list (root signature; if a list is held, its
 * number must be greater), make it the server's list and push its number to
 * every authenticated session. Takes ownership of bytes (malloc'd) only on
 * success (CC_OK); on error the held list is unchanged and the caller frees. */
int revlist_install(struct server *srv, uint8_t *bytes, size_t len) __attribute__((warn_unused_result));

/* meta name of the newest applied list: u64 number (big-endian) || BLAKE2b-256
 * of the list's bytes */
#define REVLIST_META_SEEN "revlist_seen"

/* At start, once the store is open: compare the held list with the newest one
 * the store has seen. 0 and the store raised to the held list (committed), or
 * -1 with why filled (an older list, another list under the same number, or a
 * storage error). */
int revlist_check_store(struct server *srv, char *why, size_t wl) __attribute__((warn_unused_result));

/* Queue {"push":"revlist","number":K} for every authenticated session (sent
 * after the loop turn's commit, like every push). */
void revlist_push(struct server *srv);

/* Release the held list and its bytes (and the issuance log's). */
void revlist_free(struct server *srv);

/* The issuance log (cc_cert.h): verify an encoded log against the root and
 * hold it for issuance.get. A log shorter than the held one, or one that does
 * not extend it byte for byte, is refused (CC_ERR_STALE): the log only grows.
 * Takes ownership of bytes only on CC_OK. */
int issuance_install(struct server *srv, uint8_t *bytes, size_t len) __attribute__((warn_unused_result));

#endif
