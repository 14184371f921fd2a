/*
 * proto.h: the casus.v1 wire codec, shared by casusd and libcasus.
 *
 * Every WebSocket message is one UTF-8 JSON object in a text frame (see
 * docs/PROTOCOL.md for every request, response, push and error code).
 *
 *   request   {"id": 7, "type": "msg.post", ...}
 *   response  {"id": 7, "ok": true, ...}
 *             {"id": 7, "ok": false, "error": {"code": "forbidden", "message": "..."}}
 *   push      {"push": "msg", ...}            (no id; server-initiated)
 *
 * Binary values (certificates, commits, messages, signatures, ids) travel as
 * standard base64 with padding. Ids of 16 bytes (casus, device, message) travel
 * as 32 lower-case hex digits so that they read well in logs and tests.
 *
 * Parsing is jansson's (JSON_REJECT_DUPLICATES); these helpers add the type,
 * length and range checks every field needs before the caller touches it.
 */
#ifndef CASUS_PROTO_H
#define CASUS_PROTO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define PROTO_SUBPROTOCOL "casus.v1"
#define PROTO_VERSION 1

/* Frame caps. Before authentication a peer gets only a few KiB. */
#define PROTO_MAX_FRAME_PREAUTH (8 * 1024)
#define PROTO_MAX_FRAME (256 * 1024)
#define PROTO_MAX_PLAINTEXT (64 * 1024)

/* Wire error codes: the stable strings in {"error":{"code":...}}. */
enum proto_err {
	PE_OK = 0,
	PE_BAD_REQUEST,     /* not valid casus.v1: bad JSON, missing/wrong-typed field */
	PE_UNKNOWN_TYPE,    /* request type not known */
	PE_VERSION,         /* protocol version not supported */
	PE_UNAUTHENTICATED, /* request needs an authenticated session */
	PE_AUTH_FAILED,     /* certificate or challenge signature rejected */
	PE_FORBIDDEN,       /* policy does not allow it */
	PE_NOT_FOUND,       /* no such casus / device / object */
	PE_CONFLICT,        /* commit does not build on the current head */
	PE_STALE_EPOCH,     /* message for an epoch that is no longer current */
	PE_DUPLICATE,       /* message id seen before (replay) */
	PE_GROUND_REQUIRED, /* disclosure ground missing */
	PE_BAD_SIGNATURE,   /* signature on a message, commit or grant does not verify */
	PE_INVALID,         /* object decodes but breaks a rule (named in message) */
	PE_TOO_LARGE,       /* a field or frame exceeds its limit */
	PE_RATE_LIMITED,    /* too many requests; slow down */
	PE_BUSY,            /* too many pending requests on this session */
	PE_STORAGE,         /* the store could not commit; nothing was acknowledged */
	PE_INTERNAL,        /* a bug: logged on the server */
	PE__COUNT
};

const char *proto_err_name(enum proto_err e);
/* Map a wire code string back (client side); PE_INTERNAL if unknown. */
enum proto_err proto_err_from_name(const char *name);

/* Parse one frame into a JSON object. Returns NULL and a reason on failure. */
json_t *proto_parse(const char *buf, size_t len, char *why, size_t whylen);
/* Serialise compactly; caller frees with free(). NULL on allocation failure. */
char *proto_dump(const json_t *obj, size_t *len);

/* Field accessors. Each returns 0 on success, -1 if the field is missing,
 * of the wrong type, out of range or too long. */
int proto_get_str(const json_t *obj, const char *key, size_t maxlen, const char **out);
int proto_get_u64(const json_t *obj, const char *key, uint64_t max, uint64_t *out);
int proto_get_bool(const json_t *obj, const char *key, int *out);
/* base64 field decoded into a malloc'd buffer (caller frees). */
int proto_get_b64(const json_t *obj, const char *key, size_t maxlen, uint8_t **out, size_t *outlen);
/* exactly n bytes of base64 into out */
int proto_get_b64_fixed(const json_t *obj, const char *key, uint8_t *out, size_t n);
/* 16-byte id as 32 hex digits */
int proto_get_id16(const json_t *obj, const char *key, uint8_t out[16]);

/* Setters return 0 or -1 (allocation failure). */
int proto_set_b64(json_t *obj, const char *key, const uint8_t *p, size_t n);
int proto_set_id16(json_t *obj, const char *key, const uint8_t id[16]);
void proto_hex16(const uint8_t id[16], char out[33]);

/* Builders. Both return a new reference. */
json_t *proto_ok(uint64_t id);
json_t *proto_error(uint64_t id, enum proto_err code, const char *message);

#endif
