/* cc_buf.c: canonical encoder and bounds-checked decoder (see cc_buf.h). */
#include "cc_buf.h"
#include "cc_err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define CC_W_MAX ((size_t)64 * 1024 * 1024) /* no signed object is larger */

void cc_w_init(cc_wbuf *w)
{
	memset(w, 0, sizeof(*w));
}

void cc_w_init_secret(cc_wbuf *w)
{
	memset(w, 0, sizeof(*w));
	w->secret = 1;
}

void cc_w_free(cc_wbuf *w)
{
	if (w->p) {
		if (w->secret) {
			sodium_free(w->p); /* wipes */
		} else {
			sodium_memzero(w->p, w->cap);
			free(w->p);
		}
	}
	memset(w, 0, sizeof(*w));
}

static uint8_t *grow(cc_wbuf *w, size_t n)
{
	if (w->err)
		return NULL;
	if (n > CC_W_MAX - w->len) {
		w->err = CC_ERR_TOO_LARGE;
		return NULL;
	}
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 256;
		while (cap < w->len + n)
			cap *= 2;
		uint8_t *np;
		if (w->secret) {
			np = sodium_malloc(cap);
			if (np && w->p) {
				memcpy(np, w->p, w->len);
				sodium_free(w->p);
			}
		} else {
			np = realloc(w->p, cap);
		}
		if (!np) {
			w->err = CC_ERR_NOMEM;
			return NULL;
		}
		w->p = np;
		w->cap = cap;
	}
	uint8_t *at = w->p + w->len;
	w->len += n;
	return at;
}

void cc_w_u8(cc_wbuf *w, uint8_t v)
{
	uint8_t *p = grow(w, 1);
	if (p)
		p[0] = v;
}

void cc_w_u16(cc_wbuf *w, uint16_t v)
{
	uint8_t *p = grow(w, 2);
	if (p) {
		p[0] = (uint8_t)(v >> 8);
		p[1] = (uint8_t)v;
	}
}

void cc_w_u32(cc_wbuf *w, uint32_t v)
{
	uint8_t *p = grow(w, 4);
	if (p)
		for (int i = 0; i < 4; i++)
			p[i] = (uint8_t)(v >> (24 - 8 * i));
}

void cc_w_u64(cc_wbuf *w, uint64_t v)
{
	uint8_t *p = grow(w, 8);
	if (p)
		for (int i = 0; i < 8; i++)
			p[i] = (uint8_t)(v >> (56 - 8 * i));
}

void cc_w_i64(cc_wbuf *w, int64_t v)
{
	cc_w_u64(w, (uint64_t)v);
}

void cc_w_fixed(cc_wbuf *w, const void *src, size_t n)
{
	if (n == 0)
		return;
	uint8_t *p = grow(w, n);
	if (p)
		memcpy(p, src, n);
}

void cc_w_var16(cc_wbuf *w, const void *src, size_t n)
{
	if (n > UINT16_MAX) {
		if (!w->err)
			w->err = CC_ERR_TOO_LARGE;
		return;
	}
	cc_w_u16(w, (uint16_t)n);
	cc_w_fixed(w, src, n);
}

void cc_w_var32(cc_wbuf *w, const void *src, size_t n)
{
	if (n > UINT32_MAX) {
		if (!w->err)
			w->err = CC_ERR_TOO_LARGE;
		return;
	}
	cc_w_u32(w, (uint32_t)n);
	cc_w_fixed(w, src, n);
}

void cc_w_str(cc_wbuf *w, const char *s)
{
	cc_w_var16(w, s, s ? strlen(s) : 0);
}

void cc_r_init(cc_rbuf *r, const void *p, size_t n)
{
	r->p = p;
	r->end = r->p + n;
	r->err = p || n == 0 ? CC_OK : CC_ERR_INVALID_ARG;
}

size_t cc_r_left(const cc_rbuf *r)
{
	return r->err ? 0 : (size_t)(r->end - r->p);
}

static const uint8_t *take(cc_rbuf *r, size_t n)
{
	if (r->err)
		return NULL;
	if ((size_t)(r->end - r->p) < n) {
		r->err = CC_ERR_TRUNCATED;
		return NULL;
	}
	const uint8_t *at = r->p;
	r->p += n;
	return at;
}

uint8_t cc_r_u8(cc_rbuf *r)
{
	const uint8_t *p = take(r, 1);
	return p ? p[0] : 0;
}

uint16_t cc_r_u16(cc_rbuf *r)
{
	const uint8_t *p = take(r, 2);
	if (!p)
		return 0;
	return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t cc_r_u32(cc_rbuf *r)
{
	const uint8_t *p = take(r, 4);
	uint32_t v = 0;
	if (p)
		for (int i = 0; i < 4; i++)
			v = (v << 8) | p[i];
	return v;
}

uint64_t cc_r_u64(cc_rbuf *r)
{
	const uint8_t *p = take(r, 8);
	uint64_t v = 0;
	if (p)
		for (int i = 0; i < 8; i++)
			v = (v << 8) | p[i];
	return v;
}

int64_t cc_r_i64(cc_rbuf *r)
{
	return (int64_t)cc_r_u64(r);
}

void cc_r_fixed(cc_rbuf *r, void *out, size_t n)
{
	const uint8_t *p = take(r, n);
	if (p)
		memcpy(out, p, n);
	else if (n)
		memset(out, 0, n);
}

void cc_r_var16(cc_rbuf *r, const uint8_t **p, size_t *n, size_t max)
{
	*p = NULL;
	*n = 0;
	size_t len = cc_r_u16(r);
	if (r->err)
		return;
	if (len > max) {
		r->err = CC_ERR_TOO_LARGE;
		return;
	}
	const uint8_t *at = take(r, len);
	if (at) {
		*p = at;
		*n = len;
	}
}

void cc_r_var32(cc_rbuf *r, const uint8_t **p, size_t *n, size_t max)
{
	*p = NULL;
	*n = 0;
	size_t len = cc_r_u32(r);
	if (r->err)
		return;
	if (len > max) {
		r->err = CC_ERR_TOO_LARGE;
		return;
	}
	const uint8_t *at = take(r, len);
	if (at) {
		*p = at;
		*n = len;
	}
}

void cc_r_str(cc_rbuf *r, char *out, size_t cap)
{
	const uint8_t *p;
	size_t n;
	if (cap)
		out[0] = '\0';
	cc_r_var16(r, &p, &n, cap ? cap - 1 : 0);
	if (r->err)
		return;
	if (memchr(p, 0, n)) {
		r->err = CC_ERR_MALFORMED;
		return;
	}
	if (n)
		memcpy(out, p, n);
	out[n] = '\0';
}

int cc_r_finish(const cc_rbuf *r)
{
	if (r->err)
		return r->err;
	return r->p == r->end ? CC_OK : CC_ERR_TRAILING;
}
