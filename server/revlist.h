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

/* Queue {"push":"revlist","number":K} for every authenticated session (sent
 * after the loop turn's commit, like every push). */
void revlist_push(struct server *srv);

/* Release the held list and its bytes. */
void revlist_free(struct server *srv);

#endif
