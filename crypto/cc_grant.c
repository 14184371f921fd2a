/*
 * cc_grant.c: encoding, signature, sealed boxes and public checks of history
 * grants (layout at the top of cc_grant.h). Building and accepting grants with
 * a device's keys happens in cc_casus.c.
 */
#include "cc_grant.h"
#include "cc_buf.h"
#include "cc_err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define CTX_GRANT_SIG "casus.e2e.v1.grant.sig"
#define CTX_GRANT_REASON "casus.e2e.v2.grant.reason"
#define GRANT_REASON_AD_BYTES (sizeof(CTX_GRANT_REASON) + CC_CASUS_ID_BYTES + 8 + CC_DEVICE_ID_BYTES)
#define BOX_KIND_GRANT 0x02
#define GRANT_BOX_PREFIX (CC_GRANT_BOX_PLAIN_BYTES - CC_MESSAGE_KEY_BYTES)

void cc_grant_free(cc_grant *g)
{
	if (!g)
		return;
	if (g->devices)
		for (size_t i = 0; i < g->ndevices; i++)
			free(g->devices[i].boxes);
	free(g->devices);
	free(g->items);
	memset(g, 0, sizeof(*g));
}

static int grant_encode_body(const cc_grant *g, cc_wbuf *w)
{
	if (g->nitems > CC_GRANT_MAX_MESSAGES || g->ndevices > CC_GRANT_MAX_DEVICES)
		return CC_ERR_TOO_LARGE;
	if (!cc_reason_box_len_valid(g->reason_len))
		return CC_ERR_MALFORMED;
	cc_w_u8(w, g->version);
	cc_w_fixed(w, g->casus_id, CC_CASUS_ID_BYTES);
	cc_w_u64(w, g->epoch);
	cc_w_fixed(w, g->epoch_hash, CC_HASH_BYTES);
	cc_w_fixed(w, g->granter, CC_DEVICE_ID_BYTES);
	cc_w_i64(w, g->time);
	cc_w_u8(w, g->ground);
	cc_w_var16(w, g->reason_box, g->reason_len);
	cc_w_fixed(w, g->reason_commit, CC_HASH_BYTES);
	cc_w_fixed(w, g->granter_reason_key, CC_SEALED_KEY_BYTES);
	if (g->version == CC_GRANT_VERSION_WRAP)
		cc_w_u32(w, g->granter_wrap);
	else if (g->granter_wrap != 0)
		return CC_ERR_VERSION; /* version 2 names no wrap key */
	cc_w_u16(w, g->nitems);
	for (size_t i = 0; i < g->nitems; i++) {
		cc_w_fixed(w, g->items[i].message_id, CC_MESSAGE_ID_BYTES);
		cc_w_u8(w, g->items[i].audience);
		cc_w_fixed(w, g->items[i].message_hash, CC_HASH_BYTES);
	}
	cc_w_u16(w, g->ndevices);
	for (size_t d = 0; d < g->ndevices; d++) {
		cc_w_fixed(w, g->devices[d].device_id, CC_DEVICE_ID_BYTES);
		if (g->version == CC_GRANT_VERSION_WRAP)
			cc_w_u32(w, g->devices[d].wrap);
		else if (g->devices[d].wrap != 0)
			return CC_ERR_VERSION;
		cc_w_fixed(w, g->devices[d].reason_key, CC_SEALED_KEY_BYTES);
		cc_w_fixed(w, g->devices[d].boxes, (size_t)g->nitems * CC_GRANT_BOX_BYTES);
	}
	return w->err;
}

int cc_grant_encode(const cc_grant *g, cc_wbuf *w)
{
	int rc;
	if (!g || !w)
		return CC_ERR_INVALID_ARG;
	if ((rc = grant_encode_body(g, w)) != CC_OK)
		return rc;
	cc_w_fixed(w, g->sig, CC_SIG_BYTES);
	return w->err;
}

static int sig_input(const cc_grant *g, cc_wbuf *w)
{
	cc_w_fixed(w, CTX_GRANT_SIG, strlen(CTX_GRANT_SIG) + 1);
	return grant_encode_body(g, w);
}

int cc_grant_sign(cc_grant *g, const cc_device_keys *granter)
{
	cc_wbuf w;
	int rc;
	if (!g || !granter)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = sig_input(g, &w)) == CC_OK && crypto_sign_detached(g->sig, NULL, w.p, w.len, granter->sign_sk) != 0)
		rc = CC_ERR_CRYPTO;
	cc_w_free(&w);
	return rc;
}

/* The decoder is strict and canonical (every field fixed or length-checked,
 * no leftovers), so re-encoding a decoded grant yields the received bytes. */
int cc_grant_verify_sig(const cc_grant *g, const uint8_t sign_pk[CC_SIGN_PK_BYTES])
{
	cc_wbuf w;
	int rc;
	if (!g || !sign_pk)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = sig_input(g, &w)) == CC_OK && crypto_sign_verify_detached(g->sig, w.p, w.len, sign_pk) != 0)
		rc = CC_ERR_BAD_SIGNATURE;
	cc_w_free(&w);
	return rc;
}

int cc_grant_decode(const uint8_t *p, size_t n, cc_grant *out)
{
	cc_grant g;
	cc_rbuf r;
	int rc;

	if (!out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	memset(&g, 0, sizeof g);
	if (!p)
		return CC_ERR_INVALID_ARG;
	cc_r_init(&r, p, n);
	g.version = cc_r_u8(&r);
	if (!r.err && g.version != CC_GRANT_VERSION && g.version != CC_GRANT_VERSION_WRAP)
		return CC_ERR_VERSION;
	const size_t wrap_bytes = g.version == CC_GRANT_VERSION_WRAP ? 4 : 0;
	cc_r_fixed(&r, g.casus_id, CC_CASUS_ID_BYTES);
	g.epoch = cc_r_u64(&r);
	cc_r_fixed(&r, g.epoch_hash, CC_HASH_BYTES);
	cc_r_fixed(&r, g.granter, CC_DEVICE_ID_BYTES);
	g.time = cc_r_i64(&r);
	g.ground = cc_r_u8(&r);
	const uint8_t *bp = NULL;
	size_t bn = 0;
	cc_r_var16(&r, &bp, &bn, CC_REASON_BOX_MAX);
	if (!r.err && !cc_reason_box_len_valid(bn))
		return CC_ERR_MALFORMED; /* a grant always has a reason */
	if (!r.err) {
		memcpy(g.reason_box, bp, bn);
		g.reason_len = (uint16_t)bn;
	}
	cc_r_fixed(&r, g.reason_commit, CC_HASH_BYTES);
	cc_r_fixed(&r, g.granter_reason_key, CC_SEALED_KEY_BYTES);
	if (wrap_bytes)
		g.granter_wrap = cc_r_u32(&r);
	g.nitems = cc_r_u16(&r);
	if (r.err)
		return r.err;
	if (g.ground > CC_GROUND_MAX)
		return CC_ERR_MALFORMED;
	if (g.nitems == 0 || g.nitems > CC_GRANT_MAX_MESSAGES)
		return g.nitems ? CC_ERR_TOO_LARGE : CC_ERR_MALFORMED;
	if (cc_r_left(&r) < (size_t)g.nitems * (CC_MESSAGE_ID_BYTES + 1 + CC_HASH_BYTES))
		return CC_ERR_TRUNCATED;
	g.items = calloc(g.nitems, sizeof *g.items);
	if (!g.items)
		return CC_ERR_NOMEM;
	for (size_t i = 0; i < g.nitems; i++) {
		cc_r_fixed(&r, g.items[i].message_id, CC_MESSAGE_ID_BYTES);
		g.items[i].audience = cc_r_u8(&r);
		cc_r_fixed(&r, g.items[i].message_hash, CC_HASH_BYTES);
	}
	g.ndevices = cc_r_u16(&r);
	if (r.err) {
		rc = r.err;
		goto fail;
	}
	if (g.ndevices == 0 || g.ndevices > CC_GRANT_MAX_DEVICES) {
		rc = g.ndevices ? CC_ERR_TOO_LARGE : CC_ERR_MALFORMED;
		goto fail;
	}
	size_t per_dev = (size_t)g.nitems * CC_GRANT_BOX_BYTES;
	if (cc_r_left(&r) < (size_t)g.ndevices * (CC_DEVICE_ID_BYTES + wrap_bytes + CC_SEALED_KEY_BYTES + per_dev)) {
		rc = CC_ERR_TRUNCATED;
		goto fail;
	}
	g.devices = calloc(g.ndevices, sizeof *g.devices);
	if (!g.devices) {
		rc = CC_ERR_NOMEM;
		goto fail;
	}
	for (size_t d = 0; d < g.ndevices; d++) {
		cc_r_fixed(&r, g.devices[d].device_id, CC_DEVICE_ID_BYTES);
		if (wrap_bytes)
			g.devices[d].wrap = cc_r_u32(&r);
		cc_r_fixed(&r, g.devices[d].reason_key, CC_SEALED_KEY_BYTES);
		g.devices[d].boxes = malloc(per_dev);
		if (!g.devices[d].boxes) {
			rc = CC_ERR_NOMEM;
			goto fail;
		}
		cc_r_fixed(&r, g.devices[d].boxes, per_dev);
		if (d > 0 && memcmp(g.devices[d - 1].device_id, g.devices[d].device_id, CC_DEVICE_ID_BYTES) >= 0) {
			rc = CC_ERR_MALFORMED; /* sorted and unique */
			goto fail;
		}
	}
	cc_r_fixed(&r, g.sig, CC_SIG_BYTES);
	if ((rc = cc_r_finish(&r)) != CC_OK)
		goto fail;
	*out = g;
	return CC_OK;
fail:
	cc_grant_free(&g);
	return rc;
}

int cc_grant_check_public(const cc_grant *g, const cc_chain_state *st, const cc_policy *policy)
{
	int gi, role;
	if (!g || !st || !policy)
		return CC_ERR_INVALID_ARG;
	if (!st->started || sodium_memcmp(g->casus_id, st->casus_id, CC_CASUS_ID_BYTES) != 0)
		return CC_ERR_CHAIN;
	if (g->epoch != st->epoch || sodium_memcmp(g->epoch_hash, st->head, CC_HASH_BYTES) != 0)
		return CC_ERR_EPOCH;
	if ((gi = cc_chain_find(st, g->granter)) < 0)
		return CC_ERR_NOT_MEMBER;
	role = cc_policy_role_index(policy, st->roster[gi].cert.role);
	if (role < 0)
		return CC_ERR_UNKNOWN_ROLE;
	if (!policy->roles[role].may_grant || policy->roles[role].never_key)
		return CC_ERR_FORBIDDEN;
	if (g->ground == CC_GROUND_NONE)
		return CC_ERR_GROUND_REQUIRED;
	if (g->ground > CC_GROUND_MAX || !cc_reason_box_len_valid(g->reason_len))
		return CC_ERR_MALFORMED;
	for (size_t d = 0; d < g->ndevices; d++) {
		int di = cc_chain_find(st, g->devices[d].device_id);
		if (di < 0)
			return CC_ERR_NOT_MEMBER;
		for (size_t i = 0; i < g->nitems; i++)
			if (!cc_chain_entitled(st, policy, (size_t)di, g->items[i].audience))
				return CC_ERR_AUDIENCE;
	}
	return cc_grant_verify_sig(g, st->roster[gi].cert.sign_pk);
}

static void grant_box_prefix(uint8_t *plain, const uint8_t grantee_id[CC_DEVICE_ID_BYTES],
                             const uint8_t casus_id[CC_CASUS_ID_BYTES], const uint8_t message_id[CC_MESSAGE_ID_BYTES],
                             const uint8_t message_hash[CC_HASH_BYTES])
{
	size_t o = 0;
	plain[o++] = BOX_KIND_GRANT;
	memcpy(plain + o, grantee_id, CC_DEVICE_ID_BYTES);
	o += CC_DEVICE_ID_BYTES;
	memcpy(plain + o, casus_id, CC_CASUS_ID_BYTES);
	o += CC_CASUS_ID_BYTES;
	memcpy(plain + o, message_id, CC_MESSAGE_ID_BYTES);
	o += CC_MESSAGE_ID_BYTES;
	memcpy(plain + o, message_hash, CC_HASH_BYTES);
}

int cc_grant_seal_key(uint8_t box[CC_GRANT_BOX_BYTES], const uint8_t grantee_box_pk[CC_BOX_PK_BYTES],
                      const uint8_t grantee_id[CC_DEVICE_ID_BYTES], const uint8_t casus_id[CC_CASUS_ID_BYTES],
                      const uint8_t message_id[CC_MESSAGE_ID_BYTES], const uint8_t message_hash[CC_HASH_BYTES],
                      const uint8_t mk[CC_MESSAGE_KEY_BYTES])
{
	uint8_t plain[CC_GRANT_BOX_PLAIN_BYTES]; /* wiped before returning */
	int rc = CC_OK;
	if (!box || !grantee_box_pk || !grantee_id || !casus_id || !message_id || !message_hash || !mk)
		return CC_ERR_INVALID_ARG;
	grant_box_prefix(plain, grantee_id, casus_id, message_id, message_hash);
	memcpy(plain + GRANT_BOX_PREFIX, mk, CC_MESSAGE_KEY_BYTES);
	if (crypto_box_seal(box, plain, CC_GRANT_BOX_PLAIN_BYTES, grantee_box_pk) != 0)
		rc = CC_ERR_CRYPTO;
	sodium_memzero(plain, sizeof plain);
	return rc;
}

int cc_grant_open_key(const uint8_t box[CC_GRANT_BOX_BYTES], const cc_device_keys *self,
                      const uint8_t casus_id[CC_CASUS_ID_BYTES], const uint8_t message_id[CC_MESSAGE_ID_BYTES],
                      const uint8_t message_hash[CC_HASH_BYTES], uint8_t mk[CC_MESSAGE_KEY_BYTES])
{
	return cc_grant_open_key_wrap(box, self, NULL, casus_id, message_id, message_hash, mk);
}

int cc_grant_open_key_wrap(const uint8_t box[CC_GRANT_BOX_BYTES], const cc_device_keys *self,
                           const cc_wrap_secret *wrap, const uint8_t casus_id[CC_CASUS_ID_BYTES],
                           const uint8_t message_id[CC_MESSAGE_ID_BYTES], const uint8_t message_hash[CC_HASH_BYTES],
                           uint8_t mk[CC_MESSAGE_KEY_BYTES])
{
	uint8_t plain[CC_GRANT_BOX_PLAIN_BYTES]; /* wiped before returning */
	uint8_t expect[GRANT_BOX_PREFIX];
	int rc = CC_OK;
	if (!box || !self || !casus_id || !message_id || !message_hash || !mk)
		return CC_ERR_INVALID_ARG;
	if (crypto_box_seal_open(plain, box, CC_GRANT_BOX_BYTES, wrap ? wrap->pk : self->box_pk,
	                         wrap ? wrap->sk : self->box_sk) != 0) {
		rc = CC_ERR_DECRYPT;
		goto out;
	}
	grant_box_prefix(expect, self->device_id, casus_id, message_id, message_hash);
	if (sodium_memcmp(plain, expect, GRANT_BOX_PREFIX) != 0) {
		rc = CC_ERR_NOT_RECIPIENT;
		goto out;
	}
	memcpy(mk, plain + GRANT_BOX_PREFIX, CC_MESSAGE_KEY_BYTES);
out:
	sodium_memzero(plain, sizeof plain);
	return rc;
}

/* ---- the encrypted reason ---------------------------------------------------- */

static void grant_reason_ad(uint8_t ad[GRANT_REASON_AD_BYTES], const cc_grant *g)
{
	size_t o = sizeof(CTX_GRANT_REASON); /* with its NUL */
	memcpy(ad, CTX_GRANT_REASON, o);
	memcpy(ad + o, g->casus_id, CC_CASUS_ID_BYTES);
	o += CC_CASUS_ID_BYTES;
	for (int i = 0; i < 8; i++)
		ad[o++] = (uint8_t)(g->epoch >> (56 - 8 * i));
	memcpy(ad + o, g->granter, CC_DEVICE_ID_BYTES);
}

int cc_grant_seal_reason(cc_grant *g, const char *reason, const uint8_t granter_box_pk[CC_BOX_PK_BYTES],
                         const uint8_t (*device_box_pks)[CC_BOX_PK_BYTES])
{
	uint8_t ad[GRANT_REASON_AD_BYTES];
	uint8_t *key;
	int rc;
	if (!g || !reason || !granter_box_pk || (g->ndevices && !device_box_pks))
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_text_check(reason, CC_GRANT_REASON_MAX)) != CC_OK)
		return rc;
	if (!*reason)
		return CC_ERR_INVALID_ARG;
	key = sodium_malloc(CC_EPOCH_KEY_BYTES);
	if (!key)
		return CC_ERR_NOMEM;
	randombytes_buf(key, CC_EPOCH_KEY_BYTES);
	grant_reason_ad(ad, g);
	if ((rc = cc_reason_seal(reason, ad, sizeof ad, key, g->reason_box, &g->reason_len)) != CC_OK)
		goto out;
	if ((rc = cc_commit_key_commitment(key, g->casus_id, CC_REASON_AUDIENCE, g->epoch, g->reason_commit)) != CC_OK)
		goto out;
	if ((rc = cc_commit_seal_key(g->granter_reason_key, granter_box_pk, g->granter, g->casus_id, CC_REASON_AUDIENCE,
	                             g->epoch, key)) != CC_OK)
		goto out;
	for (size_t d = 0; d < g->ndevices; d++)
		if ((rc = cc_commit_seal_key(g->devices[d].reason_key, device_box_pks[d], g->devices[d].device_id,
		                             g->casus_id, CC_REASON_AUDIENCE, g->epoch, key)) != CC_OK)
			goto out;
out:
	sodium_free(key);
	return rc;
}

int cc_grant_open_reason(const cc_grant *g, const cc_device_keys *self, char *out, size_t cap)
{
	return cc_grant_open_reason_wraps(g, self, NULL, 0, out, cap);
}

int cc_grant_open_reason_wraps(const cc_grant *g, const cc_device_keys *self, const cc_wrap_secret *wraps,
                               size_t nwraps, char *out, size_t cap)
{
	uint8_t ad[GRANT_REASON_AD_BYTES];
	uint8_t commit[CC_HASH_BYTES];
	const uint8_t *box = NULL;
	const cc_wrap_secret *ws = NULL;
	uint32_t wv = 0;
	uint8_t *key;
	int rc;
	if (!g || !self || !out || cap < CC_GRANT_REASON_MAX + 1 || (nwraps && !wraps))
		return CC_ERR_INVALID_ARG;
	out[0] = '\0';
	if (memcmp(g->granter, self->device_id, CC_DEVICE_ID_BYTES) == 0) {
		box = g->granter_reason_key;
		wv = g->granter_wrap;
	}
	for (size_t d = 0; d < g->ndevices && !box; d++)
		if (memcmp(g->devices[d].device_id, self->device_id, CC_DEVICE_ID_BYTES) == 0) {
			box = g->devices[d].reason_key;
			wv = g->devices[d].wrap;
		}
	if (!box)
		return CC_ERR_NOT_RECIPIENT;
	if (wv != 0 && !(ws = cc_wrap_find(wraps, nwraps, wv)))
		return CC_ERR_NO_KEY; /* a wrap key this device does not hold (never made, or wiped) */
	key = sodium_malloc(CC_EPOCH_KEY_BYTES);
	if (!key)
		return CC_ERR_NOMEM;
	if ((rc = cc_commit_open_key_wrap(box, self, ws, g->casus_id, CC_REASON_AUDIENCE, g->epoch, key)) != CC_OK)
		goto out;
	if ((rc = cc_commit_key_commitment(key, g->casus_id, CC_REASON_AUDIENCE, g->epoch, commit)) != CC_OK)
		goto out;
	if (sodium_memcmp(commit, g->reason_commit, CC_HASH_BYTES) != 0) {
		rc = CC_ERR_KEY_COMMITMENT; /* different keys to different readers */
		goto out;
	}
	grant_reason_ad(ad, g);
	rc = cc_reason_open(g->reason_box, g->reason_len, ad, sizeof ad, key, out, cap);
out:
	sodium_free(key);
	return rc;
}
