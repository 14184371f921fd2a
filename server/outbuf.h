/*
 * outbuf.h: a reference-counted outgoing frame, shared by every recipient of
 * a push. The JSON text starts REPLY_PRE bytes into data, leaving
 * libwebsockets the headroom it writes its frame header into.
 */
#ifndef CASUSD_OUTBUF_H
#define CASUSD_OUTBUF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct outbuf {
	unsigned refs;
	size_t len;
	uint64_t t0_ns;       /* an ack of msg.post: when its request arrived (clock_mono_ns), else 0 */
	unsigned char data[]; /* REPLY_PRE bytes of headroom, then len bytes of JSON */
};

/* Headroom before the frame (libwebsockets' LWS_PRE, checked in outbuf.c). */
#define REPLY_PRE 16

/* Build a frame from a JSON object (the caller keeps obj). NULL on error. */
struct outbuf *outbuf_from_json(const json_t *obj);
/* A frame of len bytes to be filled by the caller (refs 1). NULL on error. */
struct outbuf *outbuf_new(size_t len);
/* A frame written with a printf-style format into a buffer of at most cap
 * bytes (refs 1): NULL if it does not fit or on error, never a truncated
 * frame. For frames made only of numbers and fixed keys (no string needs
 * JSON escaping); the caller keeps the text valid JSON. */
struct outbuf *outbuf_printf(size_t cap, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
struct outbuf *outbuf_ref(struct outbuf *b);
void outbuf_unref(struct outbuf *b);

#endif
