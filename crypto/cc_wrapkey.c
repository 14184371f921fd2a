/*
 * cc_wrapkey.c: signed wrap-key publications and the rotation schedule (cc_wrapkey.h).
 */
#include "cc_wrapkey.h"
#include "cc_buf.h"
#include "cc_err.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static const uint8_t MAGIC[4] = {'C', 'C', 'W', 'K'};

static int all_zero(const uint8_t *p, size_t n)
{
	return sodium_is_zero(p, n);
}

static void encode_body(const cc_wrapkey *k, cc_wbuf *w)
{
	cc_w_fixed(w, MAGIC, sizeof MAGIC);
	cc_w_u8(w, CC_WRAPKEY_VERSION);
	cc_w_fixed(w, k->device_id, CC_DEVICE_ID_BYTES);
	cc_w_u32(w, k->version);
	cc_w_i64(w, k->created);
	cc_w_fixed(w, k->pk, CC_BOX_PK_BYTES);
}

int cc_wrapkey_encode(const cc_wrapkey *k, cc_wbuf *w)
{
	if (!k || !w)
		return CC_ERR_INVALID_ARG;
	encode_body(k, w);
	cc_w_fixed(w, k->sig, CC_SIG_BYTES);
	return w->err;
}

int cc_wrapkey_decode(const uint8_t *p, size_t n, cc_wrapkey *out)
{
	if (!p || !out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof *out);
	if (n > CC_WRAPKEY_BYTES)
		return CC_ERR_TRAILING;
	cc_rbuf r;
	uint8_t magic[4];
	cc_r_init(&r, p, n);
	cc_r_fixed(&r, magic, sizeof magic);
	uint8_t ver = cc_r_u8(&r);
	if (!r.err && (memcmp(magic, MAGIC, sizeof magic) != 0 || ver != CC_WRAPKEY_VERSION))
		return CC_ERR_VERSION;
	cc_wrapkey k;
	cc_r_fixed(&r, k.device_id, CC_DEVICE_ID_BYTES);
	k.version = cc_r_u32(&r);
	k.created = cc_r_i64(&r);
	cc_r_fixed(&r, k.pk, CC_BOX_PK_BYTES);
	cc_r_fixed(&r, k.sig, CC_SIG_BYTES);
	int rc = cc_r_finish(&r);
	if (rc != CC_OK)
		return rc;
	if (k.version == 0 || all_zero(k.pk, CC_BOX_PK_BYTES))
		return CC_ERR_MALFORMED;
	*out = k;
	return CC_OK;
}

static int signed_bytes(const cc_wrapkey *k, cc_wbuf *w)
{
	cc_w_init(w);
	encode_body(k, w);
	return w->err;
}

int cc_wrapkey_sign(cc_wrapkey *k, const cc_device_keys *dev)
{
	if (!k || !dev)
		return CC_ERR_INVALID_ARG;
	if (k->version == 0 || all_zero(k->pk, CC_BOX_PK_BYTES))
		return CC_ERR_MALFORMED;
	memcpy(k->device_id, dev->device_id, CC_DEVICE_ID_BYTES);
	cc_wbuf w;
	int rc = signed_bytes(k, &w);
	if (rc == CC_OK)
		rc = cc_sign_ctx(dev->sign_sk, CC_WRAPKEY_CTX, w.p, w.len, k->sig);
	cc_w_free(&w);
	return rc;
}

int cc_wrapkey_verify(const cc_wrapkey *k, const cc_cert *cert)
{
	if (!k || !cert)
		return CC_ERR_INVALID_ARG;
	if (k->version == 0 || all_zero(k->pk, CC_BOX_PK_BYTES))
		return CC_ERR_MALFORMED;
	if (sodium_memcmp(k->device_id, cert->device_id, CC_DEVICE_ID_BYTES) != 0)
		return CC_ERR_NOT_MEMBER;
	cc_wbuf w;
	int rc = signed_bytes(k, &w);
	if (rc == CC_OK)
		rc = cc_verify_ctx(cert->sign_pk, CC_WRAPKEY_CTX, w.p, w.len, k->sig);
	cc_w_free(&w);
	return rc;
}

int cc_wrapkey_check(const uint8_t *p, size_t n, const cc_cert *cert, cc_wrapkey *out)
{
	int rc = cc_wrapkey_decode(p, n, out);
	if (rc == CC_OK)
		rc = cc_wrapkey_verify(out, cert);
	if (rc != CC_OK && out)
		memset(out, 0, sizeof *out);
	return rc;
}

int cc_wrap_secret_generate(uint32_t version, int64_t created, cc_wrap_secret *out)
{
	if (!out || version == 0)
		return CC_ERR_INVALID_ARG;
	out->version = version;
	out->created = created;
	if (crypto_box_keypair(out->pk, out->sk) != 0)
		return CC_ERR_CRYPTO;
	return CC_OK;
}

int cc_wrap_secret_publication(const cc_wrap_secret *s, const cc_device_keys *dev, cc_wrapkey *out)
{
	if (!s || !dev || !out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof *out);
	out->version = s->version;
	out->created = s->created;
	memcpy(out->pk, s->pk, CC_BOX_PK_BYTES);
	return cc_wrapkey_sign(out, dev);
}

int cc_wrap_secret_encode(const cc_wrap_secret *s, cc_wbuf *w)
{
	if (!s || !w)
		return CC_ERR_INVALID_ARG;
	cc_w_u32(w, s->version);
	cc_w_i64(w, s->created);
	cc_w_fixed(w, s->pk, CC_BOX_PK_BYTES);
	cc_w_fixed(w, s->sk, CC_BOX_SK_BYTES);
	return w->err;
}

int cc_wrap_secret_decode(const uint8_t *p, size_t n, cc_wrap_secret *out)
{
	if (!p || !out)
		return CC_ERR_INVALID_ARG;
	if (n < CC_WRAP_SECRET_BYTES)
		return CC_ERR_TRUNCATED;
	if (n > CC_WRAP_SECRET_BYTES)
		return CC_ERR_TRAILING;
	cc_rbuf r;
	cc_r_init(&r, p, n);
	out->version = cc_r_u32(&r);
	out->created = cc_r_i64(&r);
	cc_r_fixed(&r, out->pk, CC_BOX_PK_BYTES);
	cc_r_fixed(&r, out->sk, CC_BOX_SK_BYTES);
	int rc = cc_r_finish(&r);
	uint8_t pk[CC_BOX_PK_BYTES];
	if (rc == CC_OK && (out->version == 0 || crypto_scalarmult_base(pk, out->sk) != 0 ||
	                    sodium_memcmp(pk, out->pk, CC_BOX_PK_BYTES) != 0))
		rc = CC_ERR_MALFORMED;
	if (rc != CC_OK)
		sodium_memzero(out, sizeof *out);
	return rc;
}

void cc_wrap_secret_name(uint32_t version, char *out, size_t cap)
{
	if (out && cap)
		snprintf(out, cap, "wrap/%010u", version);
}

const cc_wrap_secret *cc_wrap_find(const cc_wrap_secret *set, size_t n, uint32_t version)
{
	for (size_t i = 0; set && i < n; i++)
		if (set[i].version == version)
			return &set[i];
	return NULL;
}

const cc_wrap_secret *cc_wrap_newest(const cc_wrap_secret *set, size_t n)
{
	const cc_wrap_secret *best = NULL;
	for (size_t i = 0; set && i < n; i++)
		if (!best || set[i].version > best->version)
			best = &set[i];
	return best;
}

int cc_wrap_rotation_due(const cc_wrap_secret *set, size_t n, int64_t now, int64_t interval)
{
	const cc_wrap_secret *nw = cc_wrap_newest(set, n);
	if (!nw)
		return 1;
	if (nw->created > now + 300)
		return 1;
	return now - nw->created >= interval;
}

int cc_wrap_expired(const cc_wrap_secret *set, size_t n, size_t i, int64_t now, int64_t grace)
{
	if (!set || i >= n)
		return 0;
	const cc_wrap_secret *succ = NULL;
	for (size_t j = 0; j < n; j++)
		if (set[j].version > set[i].version && (!succ || set[j].version < succ->version))
			succ = &set[j];
	if (!succ)
		return 0;
	return now - succ->created >= grace;
}
