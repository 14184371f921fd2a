/*
 * audit_trail.c: audit.query pages collected and verified (audit_trail.h),
 * the one driver of `casus audit` and the browser's audit view.
 */
#include "audit_trail.h"

#include <cc_err.h>

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cc_audit_trail_init(cc_audit_trail *t)
{
	memset(t, 0, sizeof(*t));
}

void cc_audit_trail_free(cc_audit_trail *t)
{
	for (size_t i = 0; i < t->n; i++)
		free(t->r[i].raw);
	free(t->r);
	free(t->cp);
	free(t->cs);
	memset(t, 0, sizeof(*t));
}

/* o[key], standard padded base64 (the protocol's), of at most max bytes into
 * a malloc'd buffer. 0 or -1. */
static int b64_get(const json_t *o, const char *key, size_t max, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	const char *s = json_string_value(json_object_get(o, key));
	if (!s)
		return -1;
	size_t sl = strlen(s);
	if (sl == 0 || sl > 4 * ((max + 2) / 3))
		return -1;
	size_t cap = sl / 4 * 3 + 3;
	uint8_t *b = malloc(cap);
	const char *end = NULL;
	if (!b)
		return -1;
	if (sodium_base642bin(b, cap, s, sl, NULL, len, &end, sodium_base64_VARIANT_ORIGINAL) != 0 || end != s + sl ||
	    *len == 0 || *len > max) {
		free(b);
		*len = 0;
		return -1;
	}
	*out = b;
	return 0;
}

static int hex_get(const json_t *o, const char *key, uint8_t *out, size_t n)
{
	const char *h = json_string_value(json_object_get(o, key));
	size_t bl = 0;
	const char *end = NULL;
	if (!h || strlen(h) != 2 * n)
		return -1;
	return sodium_hex2bin(out, n, h, 2 * n, NULL, &bl, &end) == 0 && bl == n && *end == 0 ? 0 : -1;
}

/* Grow an array of n elements of size sz to hold one more (doubling from 16),
 * never past CC_AUDIT_TRAIL_ENTRIES_MAX elements: a server cannot make a client
 * allocate without bound. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return CC_OK;
	if (n >= CC_AUDIT_TRAIL_ENTRIES_MAX)
		return CC_ERR_TOO_LARGE;
	size_t nc = *cap ? *cap * 2 : 16;
	if (nc > CC_AUDIT_TRAIL_ENTRIES_MAX)
		nc = CC_AUDIT_TRAIL_ENTRIES_MAX;
	if (nc > SIZE_MAX / sz)
		return CC_ERR_NOMEM;
	void *p = realloc(*arr, nc * sz);
	if (!p)
		return CC_ERR_NOMEM;
	*arr = p;
	*cap = nc;
	return CC_OK;
}

/* Checkpoints are appended as they come; sort_cps drops the repeats (a
 * checkpoint can come in several pages), in O(n log n) rather than a scan per
 * checkpoint. */
static int add_cp(cc_audit_trail *t, const uint8_t *raw, size_t len)
{
	cc_audit_checkpoint cp;
	if (len != CC_AUDIT_CP_BYTES || cc_audit_checkpoint_decode(raw, len, &cp) != CC_OK)
		return CC_ERR_MALFORMED;
	int rc = grow((void **)&t->cp, &t->capcp, t->ncp, sizeof(*t->cp));
	if (rc != CC_OK)
		return rc;
	t->cp[t->ncp].seq = cp.seq;
	memcpy(t->cp[t->ncp].raw, raw, len);
	t->ncp++;
	t->sorted = 0;
	return CC_OK;
}

static int add_cs(cc_audit_trail *t, const uint8_t *raw, size_t len)
{
	cc_audit_cosign c;
	if (len > CC_AUDIT_COSIGN_MAX || cc_audit_cosign_decode(raw, len, &c) != CC_OK)
		return CC_ERR_MALFORMED;
	int rc = grow((void **)&t->cs, &t->capcs, t->ncs, sizeof(*t->cs));
	if (rc != CC_OK)
		return rc;
	t->sorted = 0;
	cc_audit_trail_cs *x = &t->cs[t->ncs++];
	x->seq = c.seq;
	memcpy(x->raw, raw, len);
	x->len = len;
	memcpy(x->witness_pk, c.witness_pk, CC_SIGN_PK_BYTES);
	return CC_OK;
}

/* An array of base64 cosignatures (audit.query's "cosigns", "anchor_cosigns");
 * absent is none. */
static int add_cosigns(cc_audit_trail *t, const json_t *arr)
{
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		const char *s = json_string_value(o);
		json_t *wrap = s ? json_pack("{ss}", "c", s) : NULL;
		uint8_t *b = NULL;
		size_t bl = 0;
		int rc =
			!wrap || b64_get(wrap, "c", CC_AUDIT_COSIGN_MAX, &b, &bl) ? CC_ERR_MALFORMED : add_cs(t, b, bl);
		free(b);
		json_decref(wrap);
		if (rc != CC_OK)
			return rc;
	}
	return CC_OK;
}

static int fail(char *err, size_t errlen, int rc, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", rc == CC_ERR_NOMEM ? "out of memory" : msg);
	return rc;
}

int cc_audit_trail_add_page(cc_audit_trail *t, const json_t *r, char *err, size_t errlen)
{
	if (!json_is_object(r) || hex_get(r, "audit_key", t->server_pk, CC_SIGN_PK_BYTES) != 0)
		return fail(err, errlen, CC_ERR_MALFORMED, "the server sent no audit key");
	t->has_key = 1;
	int rc;
	if (json_object_get(r, "anchor") && !t->has_anchor) {
		uint8_t *ab = NULL;
		size_t al = 0;
		rc = b64_get(r, "anchor", CC_AUDIT_CP_BYTES, &ab, &al) == 0 &&
		                     cc_audit_checkpoint_decode(ab, al, &t->anchor) == CC_OK
		             ? CC_OK
		             : CC_ERR_MALFORMED;
		free(ab);
		if (rc != CC_OK)
			return fail(err, errlen, rc, "the server's anchor checkpoint does not decode");
		t->has_anchor = 1;
		if ((rc = add_cosigns(t, json_object_get(r, "anchor_cosigns"))) != CC_OK)
			return fail(err, errlen, rc, "a cosignature from the server does not decode");
	}
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(r, "entries"), i, o) {
		if (t->n == t->cap) {
			size_t nc = t->cap ? t->cap * 2 : 64;
			if (nc > CC_AUDIT_TRAIL_ENTRIES_MAX || nc > SIZE_MAX / sizeof(cc_audit_trail_rec))
				return fail(err, errlen, CC_ERR_TOO_LARGE, "too many audit entries");
			cc_audit_trail_rec *p = realloc(t->r, nc * sizeof(*p));
			if (!p)
				return fail(err, errlen, CC_ERR_NOMEM, "");
			t->r = p;
			t->cap = nc;
		}
		cc_audit_trail_rec *x = &t->r[t->n];
		uint8_t *eb = NULL, *hb = NULL;
		size_t el = 0, hl = 0;
		rc = b64_get(o, "entry", CC_AUDIT_ENTRY_MAX, &eb, &el) == 0 &&
		                     b64_get(o, "hash", CC_HASH_BYTES, &hb, &hl) == 0 && hl == CC_HASH_BYTES &&
		                     cc_audit_entry_decode(eb, el, &x->e) == CC_OK
		             ? CC_OK
		             : CC_ERR_MALFORMED;
		if (rc == CC_OK)
			memcpy(x->hash, hb, CC_HASH_BYTES);
		free(hb);
		if (rc != CC_OK) {
			free(eb);
			return fail(err, errlen, rc, "an audit entry from the server does not decode");
		}
		x->raw = eb;
		x->len = el;
		t->n++;
	}
	json_array_foreach(json_object_get(r, "checkpoints"), i, o) {
		uint8_t *cb = NULL;
		size_t cl = 0;
		rc = b64_get(o, "checkpoint", CC_AUDIT_CP_BYTES, &cb, &cl) == 0 ? add_cp(t, cb, cl) : CC_ERR_MALFORMED;
		free(cb);
		if (rc != CC_OK)
			return fail(err, errlen, rc, "a checkpoint from the server does not decode");
		if ((rc = add_cosigns(t, json_object_get(o, "cosigns"))) != CC_OK)
			return fail(err, errlen, rc, "a cosignature from the server does not decode");
	}
	return CC_OK;
}

static int cmp_cp(const void *a, const void *b)
{
	const cc_audit_trail_cp *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return memcmp(x->raw, y->raw, CC_AUDIT_CP_BYTES);
}

/* Cosignatures by checkpoint; within one, in the server's order (the index
 * breaks ties, qsort is not stable). */
static int cmp_cs(const void *a, const void *b)
{
	const cc_audit_trail_cs *x = a, *y = b;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Checkpoints sorted by sequence with exact repeats dropped, cosignatures
 * sorted by the checkpoint they sign. */
static void sort_cps(cc_audit_trail *t)
{
	if (t->sorted)
		return;
	if (t->ncp) {
		qsort(t->cp, t->ncp, sizeof(*t->cp), cmp_cp);
		size_t k = 1;
		for (size_t i = 1; i < t->ncp; i++)
			if (cmp_cp(&t->cp[i], &t->cp[k - 1]) != 0)
				t->cp[k++] = t->cp[i];
		t->ncp = k;
	}
	if (t->ncs) {
		for (size_t i = 0; i < t->ncs; i++)
			t->cs[i].order = i;
		qsort(t->cs, t->ncs, sizeof(*t->cs), cmp_cs);
	}
	t->sorted = 1;
}

void cc_audit_trail_cosigns_at(cc_audit_trail *t, uint64_t seq, size_t *first, size_t *count)
{
	sort_cps(t);
	size_t lo = 0, hi = t->ncs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (t->cs[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	size_t end = lo;
	while (end < t->ncs && t->cs[end].seq == seq)
		end++;
	*first = lo;
	*count = end - lo;
}

int cc_audit_trail_check_signed(cc_audit_trail *t, const uint8_t pk[CC_SIGN_PK_BYTES])
{
	sort_cps(t);
	for (size_t i = 0; i < t->ncp; i++) {
		cc_audit_checkpoint cp;
		if (cc_audit_checkpoint_decode(t->cp[i].raw, CC_AUDIT_CP_BYTES, &cp) != CC_OK ||
		    cc_audit_checkpoint_verify(&cp, pk) != CC_OK)
			return CC_ERR_AUDIT_CHECKPOINT;
	}
	return CC_OK;
}

/* Feed the cosignatures of checkpoint seq to v. */
static void feed_cosigns(cc_audit_trail *t, uint64_t seq, cc_audit_verifier *v)
{
	size_t first = 0, count = 0;
	cc_audit_trail_cosigns_at(t, seq, &first, &count);
	for (size_t i = first; i < first + count; i++)
		(void)cc_audit_verifier_cosign(v, t->cs[i].raw, t->cs[i].len);
}

static void feed_cp(cc_audit_trail *t, size_t j, cc_audit_verifier *v)
{
	(void)cc_audit_verifier_checkpoint(v, t->cp[j].raw, CC_AUDIT_CP_BYTES);
	feed_cosigns(t, t->cp[j].seq, v);
}

int cc_audit_trail_verify(cc_audit_trail *t, const uint8_t pk[CC_SIGN_PK_BYTES], const uint8_t *witness_pk,
                          const cc_audit_checkpoint *known, cc_audit_verifier *v, int *known_bridged)
{
	if (known_bridged)
		*known_bridged = 0;
	sort_cps(t);
	if (cc_audit_verifier_init(v, pk, t->has_anchor ? &t->anchor : NULL) == CC_OK) {
		if (witness_pk)
			cc_audit_verifier_pin_witness(v, witness_pk);
		if (t->has_anchor)
			feed_cosigns(t, t->anchor.seq, v);
		if (known && cc_audit_verifier_known(v, known) == 1 && known_bridged)
			*known_bridged = 1;
		size_t j = 0;
		for (size_t i = 0; i < t->n; i++) {
			while (j < t->ncp && t->cp[j].seq < t->r[i].e.seq)
				feed_cp(t, j++, v);
			(void)cc_audit_verifier_entry(v, t->r[i].raw, t->r[i].len, t->r[i].hash);
		}
		for (; j < t->ncp; j++)
			feed_cp(t, j, v);
	}
	return cc_audit_verifier_finish(v);
}

void cc_audit_trail_witness_json(json_t *o, const cc_audit_verifier *v)
{
	json_object_set_new(o, "witnessed", json_integer((json_int_t)v->witnessed));
	json_object_set_new(o, "cosignatures", json_integer((json_int_t)v->cosigns));
	if (v->witness_pinned)
		json_object_set_new(o, "cosignatures_other_keys", json_integer((json_int_t)v->cosigns_other));
	if (v->witnessed) {
		char pk[2 * CC_SIGN_PK_BYTES + 1];
		sodium_bin2hex(pk, sizeof pk, v->last_witness_pk, CC_SIGN_PK_BYTES);
		json_object_set_new(o, "last_witnessed_seq", json_integer((json_int_t)v->last_witnessed_seq));
		json_object_set_new(o, "last_witness", json_string(v->last_witness_user));
		json_object_set_new(o, "last_witness_key", json_string(pk));
	}
	json_object_set_new(o, "segments", json_integer((json_int_t)v->segments));
	if (v->segments) {
		json_object_set_new(o, "segment_seq", json_integer((json_int_t)v->segment_seq));
		json_object_set_new(o, "segment_continues_from", json_integer((json_int_t)v->segment_from));
		json_object_set_new(o, "segment_reason", json_string("restored from a backup"));
	}
}
