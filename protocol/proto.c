/* proto.c: casus.v1 JSON codec helpers (see proto.h). */
#include "proto.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const char *const err_names[PE__COUNT] = {
	[PE_OK] = "ok",
	[PE_BAD_REQUEST] = "bad_request",
	[PE_UNKNOWN_TYPE] = "unknown_type",
	[PE_VERSION] = "unsupported_version",
	[PE_UNAUTHENTICATED] = "unauthenticated",
	[PE_AUTH_FAILED] = "auth_failed",
	[PE_FORBIDDEN] = "forbidden",
	[PE_NOT_FOUND] = "not_found",
	[PE_CONFLICT] = "conflict",
	[PE_STALE_EPOCH] = "stale_epoch",
	[PE_DUPLICATE] = "duplicate",
	[PE_GROUND_REQUIRED] = "ground_required",
	[PE_BAD_SIGNATURE] = "bad_signature",
	[PE_INVALID] = "invalid",
	[PE_TOO_LARGE] = "too_large",
	[PE_RATE_LIMITED] = "rate_limited",
	[PE_BUSY] = "busy",
	[PE_STORAGE] = "storage",
	[PE_INTERNAL] = "internal",
};

const char *proto_err_name(enum proto_err e)
{
	if ((unsigned)e >= PE__COUNT)
		return "internal";
	return err_names[e];
}

enum proto_err proto_err_from_name(const char *name)
{
	for (unsigned i = 0; name && i < PE__COUNT; i++)
		if (strcmp(err_names[i], name) == 0)
			return (enum proto_err)i;
	return PE_INTERNAL;
}

json_t *proto_parse(const char *buf, size_t len, char *why, size_t whylen)
{
	json_error_t jerr;
	json_t *root;

	if (why && whylen)
		why[0] = '\0';
	if (len > PROTO_MAX_FRAME) {
		if (why)
			snprintf(why, whylen, "frame too large");
		return NULL;
	}
	/* JSON_REJECT_DUPLICATES: {"type":"a","type":"b"} is not one request. */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		if (why)
			snprintf(why, whylen, "invalid JSON at %d:%d: %s", jerr.line, jerr.column, jerr.text);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		if (why)
			snprintf(why, whylen, "frame is not a JSON object");
		return NULL;
	}
	return root;
}

char *proto_dump(const json_t *obj, size_t *len)
{
	char *s = json_dumps(obj, JSON_COMPACT);
	if (s && len)
		*len = strlen(s);
	return s;
}

int proto_get_str(const json_t *obj, const char *key, size_t maxlen, const char **out)
{
	const json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!json_is_string(v))
		return -1;
	size_t n = json_string_length(v);
	const char *s = json_string_value(v);
	/* jansson allows embedded NULs in strings; we never do. */
	if (n > maxlen || strlen(s) != n)
		return -1;
	*out = s;
	return 0;
}

int proto_get_u64(const json_t *obj, const char *key, uint64_t max, uint64_t *out)
{
	const json_t *v = json_object_get(obj, key);
	*out = 0;
	if (!json_is_integer(v))
		return -1;
	json_int_t i = json_integer_value(v);
	if (i < 0 || (uint64_t)i > max)
		return -1;
	*out = (uint64_t)i;
	return 0;
}

int proto_get_bool(const json_t *obj, const char *key, int *out)
{
	const json_t *v = json_object_get(obj, key);
	*out = 0;
	if (!json_is_boolean(v))
		return -1;
	*out = json_is_true(v);
	return 0;
}

int proto_get_b64(const json_t *obj, const char *key, size_t maxlen, uint8_t **out, size_t *outlen)
{
	const char *s;
	*out = NULL;
	*outlen = 0;
	/* base64 of maxlen bytes is at most 4*ceil(maxlen/3) characters */
	if (proto_get_str(obj, key, 4 * ((maxlen + 2) / 3), &s))
		return -1;
	size_t slen = strlen(s);
	size_t cap = slen / 4 * 3 + 3;
	uint8_t *buf = malloc(cap ? cap : 1);
	if (!buf)
		return -1;
	size_t n = 0;
	const char *end = NULL;
	if (sodium_base642bin(buf, cap, s, slen, NULL, &n, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != s + slen || n > maxlen) {
		free(buf);
		return -1;
	}
	*out = buf;
	*outlen = n;
	return 0;
}

int proto_get_b64_fixed(const json_t *obj, const char *key, uint8_t *out, size_t n)
{
	uint8_t *p;
	size_t len;
	if (proto_get_b64(obj, key, n, &p, &len))
		return -1;
	int rc = len == n ? 0 : -1;
	if (rc == 0)
		memcpy(out, p, n);
	free(p);
	return rc;
}

int proto_get_id16(const json_t *obj, const char *key, uint8_t out[16])
{
	const char *s;
	size_t n = 0;
	const char *end = NULL;
	if (proto_get_str(obj, key, 32, &s) || strlen(s) != 32)
		return -1;
	if (sodium_hex2bin(out, 16, s, 32, NULL, &n, &end) != 0 || n != 16 || end != s + 32)
		return -1;
	return 0;
}

int proto_set_b64(json_t *obj, const char *key, const uint8_t *p, size_t n)
{
	size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(cap);
	if (!s)
		return -1;
	sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
	int rc = json_object_set_new(obj, key, json_string(s));
	free(s);
	return rc;
}

void proto_hex16(const uint8_t id[16], char out[33])
{
	sodium_bin2hex(out, 33, id, 16);
}

int proto_set_id16(json_t *obj, const char *key, const uint8_t id[16])
{
	char hex[33];
	proto_hex16(id, hex);
	return json_object_set_new(obj, key, json_string(hex));
}

json_t *proto_ok(uint64_t id)
{
	return json_pack("{sIsb}", "id", (json_int_t)id, "ok", 1);
}

json_t *proto_error(uint64_t id, enum proto_err code, const char *message)
{
	return json_pack("{sIsbs{ssss}}", "id", (json_int_t)id, "ok", 0, "error", "code", proto_err_name(code),
	                 "message", message ? message : proto_err_name(code));
}
