/*
 * outbuf.c: outgoing frames (see outbuf.h).
 */
#include "outbuf.h"

#include <libwebsockets.h>
#include <proto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(REPLY_PRE >= LWS_PRE, "REPLY_PRE must leave libwebsockets its headroom");

struct outbuf *outbuf_new(size_t len)
{
	struct outbuf *b = malloc(sizeof(*b) + REPLY_PRE + len);
	if (b) {
		b->refs = 1;
		b->len = len;
		b->t0_ns = 0;
	}
	return b;
}

struct outbuf *outbuf_from_json(const json_t *obj)
{
	size_t len = 0;
	char *s = proto_dump(obj, &len);
	if (!s)
		return NULL;
	struct outbuf *b = outbuf_new(len);
	if (b)
		memcpy(b->data + REPLY_PRE, s, len);
	free(s);
	return b;
}

struct outbuf *outbuf_printf(size_t cap, const char *fmt, ...)
{
	struct outbuf *b = outbuf_new(cap);
	if (!b)
		return NULL;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf((char *)b->data + REPLY_PRE, cap, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= cap) {
		free(b);
		return NULL;
	}
	b->len = (size_t)n;
	return b;
}

struct outbuf *outbuf_ref(struct outbuf *b)
{
	if (b)
		b->refs++;
	return b;
}

void outbuf_unref(struct outbuf *b)
{
	if (b && --b->refs == 0)
		free(b);
}
