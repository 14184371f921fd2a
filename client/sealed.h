/*
 * sealed.h: small files sealed under a device-local key (the local cache and
 * the outbox of libcasus).
 *
 * File layout: "CASUSLC1" (8 bytes) || nonce (24, random) || ciphertext
 * (XChaCha20-Poly1305 IETF, plaintext length + 16). The additional data is
 * the magic, the purpose ("cache", "outbox") and a binding string (the casus
 * id or the outbox entry name, and the device id), so a file cannot be moved
 * to another casus, entry or profile and still open.
 *
 * Files are written atomically (temporary file, rename), mode 0600. Plaintext
 * handed out by sealed_read is the caller's: wipe and free it with
 * sealed_free. Nothing here logs.
 */
#ifndef CASUS_SEALED_H
#define CASUS_SEALED_H

#include <stddef.h>
#include <stdint.h>

#define SEALED_KEY_BYTES 32
#define SEALED_MAX (64u * 1024u * 1024u)

/* 0 or -1 (errno from the file system, or EINVAL). sync: fsync before rename. */
int sealed_write(const char *path, const uint8_t key[SEALED_KEY_BYTES], const char *purpose, const char *bind,
                 const uint8_t *pt, size_t n, int sync);
/* 0, -1 if the file is missing/unreadable, -2 if it does not open (wrong key,
 * damaged, moved). *pt is malloc'd with one extra NUL byte after *n. */
int sealed_read(const char *path, const uint8_t key[SEALED_KEY_BYTES], const char *purpose, const char *bind,
                uint8_t **pt, size_t *n);
/* Wipe n bytes and free (NULL-safe). */
void sealed_free(void *p, size_t n);

#endif
