/*
 * cc_buf.h: the canonical byte encoding used by every signed casus object.
 *
 * Signed objects (certificates, policy, revocation lists, commits, messages,
 * grants, audit entries) are encoded in one fixed, canonical way so that a
 * signature covers exactly one byte string. The encoding is deliberately small:
 *
 *   u8, u16, u32, u64     unsigned integers, big-endian
 *   i64                   two's complement, big-endian (times in UTC seconds)
 *   fixed[n]              n raw bytes, length known from the format
 *   var16                 u16 length, then that many bytes
 *   var32                 u32 length, then that many bytes (capped by caller)
 *   str                   var16 holding UTF-8 without NUL bytes
 *
 * Writer: cc_wbuf grows on the heap; the first error sticks (later writes do
 * nothing) so a caller checks once at the end, like LMDB's failed txn.
 * Reader: cc_rbuf keeps an end pointer; every read checks the remaining length
 * before touching memory, errors stick, and cc_r_finish() rejects leftovers.
 */
#ifndef CASUS_CC_BUF_H
#define CASUS_CC_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct cc_wbuf {
	uint8_t *p; /* heap buffer owned by the cc_wbuf; free with cc_w_free */
	size_t len;
	size_t cap;
	int err;    /* first error, CC_OK while healthy */
	int secret; /* if set, buffer is sodium_malloc'd and wiped on free */
} cc_wbuf;

void cc_w_init(cc_wbuf *w);
/* Like cc_w_init, but the memory is guarded (sodium_malloc) and wiped. */
void cc_w_init_secret(cc_wbuf *w);
void cc_w_free(cc_wbuf *w);
void cc_w_u8(cc_wbuf *w, uint8_t v);
void cc_w_u16(cc_wbuf *w, uint16_t v);
void cc_w_u32(cc_wbuf *w, uint32_t v);
void cc_w_u64(cc_wbuf *w, uint64_t v);
void cc_w_i64(cc_wbuf *w, int64_t v);
void cc_w_fixed(cc_wbuf *w, const void *p, size_t n);
void cc_w_var16(cc_wbuf *w, const void *p, size_t n);
void cc_w_var32(cc_wbuf *w, const void *p, size_t n);
void cc_w_str(cc_wbuf *w, const char *s);

typedef struct cc_rbuf {
	const uint8_t *p;
	const uint8_t *end;
	int err;
} cc_rbuf;

void cc_r_init(cc_rbuf *r, const void *p, size_t n);
size_t cc_r_left(const cc_rbuf *r);
uint8_t cc_r_u8(cc_rbuf *r);
uint16_t cc_r_u16(cc_rbuf *r);
uint32_t cc_r_u32(cc_rbuf *r);
uint64_t cc_r_u64(cc_rbuf *r);
int64_t cc_r_i64(cc_rbuf *r);
/* Copies n bytes into out (out zeroed on error). */
void cc_r_fixed(cc_rbuf *r, void *out, size_t n);
/* Points *p at a var16/var32 field inside the input (no copy); rejects len > max. */
void cc_r_var16(cc_rbuf *r, const uint8_t **p, size_t *n, size_t max);
void cc_r_var32(cc_rbuf *r, const uint8_t **p, size_t *n, size_t max);
/* Copies a str field into out (cap bytes incl. NUL); rejects NUL bytes and overlong. */
void cc_r_str(cc_rbuf *r, char *out, size_t cap);
/* CC_OK if no error and nothing left; CC_ERR_TRAILING if bytes remain. */
int cc_r_finish(const cc_rbuf *r);

#endif
