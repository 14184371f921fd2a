/*
 * cc_keystore.h: a passphrase-protected file of named secrets.
 *
 * One file holds a map name -> bytes: device keys, the root key (casus-admin),
 * casus epoch keys. On disk everything after a small header is encrypted with
 * XChaCha20-Poly1305 under a key derived from the passphrase with Argon2id
 * (crypto_pwhash, ALG_ARGON2ID13); the header (including the Argon2id limits
 * and the salt) is the AEAD's additional data, so changing any byte of the file
 * makes opening fail. Files are written atomically (temporary file in the same
 * directory, fsync, rename, fsync of the directory) with mode 0600.
 *
 * In memory the decrypted entries live only in sodium_malloc'd memory (guard
 * pages, mlock'd where possible) and are wiped when replaced or freed.
 *
 * File layout (big-endian, see docs/CRYPTO.md):
 *   fixed[4]  "CCKS"             u8 version = 1      u8 alg = 1 (Argon2id13)
 *   u64       opslimit           u64 memlimit (bytes)
 *   fixed[16] salt               fixed[24] nonce
 *   u32       ciphertext length  ciphertext (body + 16-byte tag)
 * Body (plaintext):
 *   u32 count, then count x { str name (1..128 printable ASCII, strictly
 *   ascending byte order)  var32 value (0..CC_KEYSTORE_VALUE_MAX) }
 *
 * All functions return CC_OK or a negative CC_ERR_* code.
 */
#ifndef CASUS_CC_KEYSTORE_H
#define CASUS_CC_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#define CC_KEYSTORE_VERSION 1
#define CC_KEYSTORE_NAME_MAX 128              /* bytes of an entry name */
#define CC_KEYSTORE_VALUE_MAX (1024u * 1024u) /* bytes of one value */
#define CC_KEYSTORE_MAX_ENTRIES 100000
#define CC_KEYSTORE_FILE_MAX (64u * 1024u * 1024u) /* whole file */
#define CC_KEYSTORE_SALT_BYTES 16
#define CC_KEYSTORE_NONCE_BYTES 24
#define CC_KEYSTORE_HEADER_BYTES (4 + 1 + 1 + 8 + 8 + 16 + 24 + 4)
/* Accepted Argon2id limits when opening a file: crypto_pwhash's minimums up to
 * these maxima, so that a crafted file cannot make us burn hours or gigabytes. */
#define CC_KEYSTORE_OPSLIMIT_CAP 16ULL
#define CC_KEYSTORE_MEMLIMIT_CAP (1024ULL * 1024 * 1024)

typedef struct cc_keystore cc_keystore;

/* An empty keystore. Argon2id limits default to crypto_pwhash's
 * OPSLIMIT_MODERATE / MEMLIMIT_MODERATE (3 passes, 256 MiB). */
int cc_keystore_new(cc_keystore **out);

/* Choose other Argon2id limits for the next save (e.g. SENSITIVE for the root
 * key, or crypto_pwhash_OPSLIMIT_MIN / MEMLIMIT_MIN in tests). Values outside
 * [crypto_pwhash minimum, CC_KEYSTORE_*_CAP] are CC_ERR_INVALID_ARG. */
int cc_keystore_set_limits(cc_keystore *ks, unsigned long long opslimit, size_t memlimit);
void cc_keystore_get_limits(const cc_keystore *ks, unsigned long long *opslimit, size_t *memlimit);

/* Read and decrypt a keystore file. Wrong passphrase or any modified byte:
 * CC_ERR_PASSPHRASE; malformed header: CC_ERR_TRUNCATED / CC_ERR_VERSION /
 * CC_ERR_MALFORMED / CC_ERR_TOO_LARGE; file errors: CC_ERR_IO (errno kept).
 * The opened keystore keeps the file's Argon2id limits for its next save.
 * *out is NULL on failure. */
int cc_keystore_open(const char *path, const char *pass, size_t passlen, cc_keystore **out)
	__attribute__((warn_unused_result));
/* The same for a file already in memory. */
int cc_keystore_open_mem(const uint8_t *p, size_t n, const char *pass, size_t passlen, cc_keystore **out)
	__attribute__((warn_unused_result));

/* Encrypt under pass (fresh salt and nonce each time) and replace path
 * atomically, mode 0600. */
int cc_keystore_save(const cc_keystore *ks, const char *path, const char *pass, size_t passlen);
/* The same into memory: *out is malloc'd (ciphertext, not secret); free() it. */
int cc_keystore_save_mem(const cc_keystore *ks, const char *pass, size_t passlen, uint8_t **out, size_t *outlen);

/* Look up an entry. *val points into the keystore's protected memory and stays
 * valid only until the next cc_keystore_put / cc_keystore_del / cc_keystore_free
 * on this keystore; copy it (into sodium_malloc'd memory) to keep it longer.
 * CC_ERR_NOT_FOUND if there is no such name. */
int cc_keystore_get(const cc_keystore *ks, const char *name, const uint8_t **val, size_t *len)
	__attribute__((warn_unused_result));
/* Insert or replace. Names: 1..CC_KEYSTORE_NAME_MAX bytes of printable ASCII
 * (0x21..0x7e), e.g. "device", "root", "epoch/<casus>/<audience>/<n>". */
int cc_keystore_put(cc_keystore *ks, const char *name, const uint8_t *val, size_t len);
/* CC_ERR_NOT_FOUND if absent. */
int cc_keystore_del(cc_keystore *ks, const char *name);
size_t cc_keystore_count(const cc_keystore *ks);
/* Name of the i-th entry in sorted order (NULL if out of range); same lifetime as get. */
const char *cc_keystore_name(const cc_keystore *ks, size_t i);
/* Wipes and frees; NULL is a no-op. */
void cc_keystore_free(cc_keystore *ks);

/* ---- parsers, exposed for tests and fuzzing ------------------------------ */
typedef struct cc_keystore_header {
	uint8_t version;
	uint8_t alg;
	uint64_t opslimit;
	uint64_t memlimit;
	uint8_t salt[CC_KEYSTORE_SALT_BYTES];
	uint8_t nonce[CC_KEYSTORE_NONCE_BYTES];
	uint32_t ct_len; /* bytes of ciphertext following the header */
} cc_keystore_header;

/* Bounds-checked header decode of a whole file image: checks magic, version,
 * algorithm, limits within the accepted range, and that exactly ct_len bytes
 * (at least the tag) follow. No key derivation. */
int cc_keystore_header_decode(const uint8_t *p, size_t n, cc_keystore_header *h) __attribute__((warn_unused_result));
/* Decode a plaintext body (as after decryption) into a new keystore. */
int cc_keystore_body_decode(const uint8_t *p, size_t n, cc_keystore **out) __attribute__((warn_unused_result));

#endif
