/*
 * cc_keys.c: the deployment root key and device keys (see cc_keys.h), their
 * secret encodings for the keystore, context-string signatures and the text
 * checks that certificates and the policy share.
 *
 * Secret encodings (all inside the encrypted keystore, never on the wire):
 *
 *   root key                          device keys
 *   fixed[4] "CCRK"                   fixed[4]  "CCDK"
 *   u8       version = 1              u8        version = 1
 *   fixed[32] Ed25519 public key      fixed[16] device id
 *   fixed[64] Ed25519 secret key      fixed[32] Ed25519 public key
 *                                     fixed[64] Ed25519 secret key
 *                                     fixed[32] X25519 public key
 *                                     fixed[32] X25519 secret key
 *
 * Decoding checks that each public half belongs to its secret half, so a
 * damaged keystore entry cannot yield a key pair that signs under one key and
 * advertises another.
 */
#include "cc_keys.h"
#include "cc_buf.h"
#include "cc_err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define KEY_VERSION 1
static const uint8_t ROOT_MAGIC[4] = {'C', 'C', 'R', 'K'};
static const uint8_t DEV_MAGIC[4] = {'C', 'C', 'D', 'K'};

int cc_root_key_generate(cc_root_key **out)
{
	cc_root_key *k = NULL;
	int rc = CC_ERR_NOMEM;

	if (!out)
		return CC_ERR_INVALID_ARG;
	*out = NULL;
	if (sodium_init() < 0)
		return CC_ERR_CRYPTO;
	k = sodium_malloc(sizeof *k);
	if (!k)
		goto out;
	if (crypto_sign_ed25519_keypair(k->pk, k->sk) != 0) {
		rc = CC_ERR_CRYPTO;
		goto out;
	}
	*out = k;
	k = NULL;
	rc = CC_OK;
out:
	cc_root_key_free(k);
	return rc;
}

int cc_device_keys_generate(cc_device_keys **out)
{
	cc_device_keys *k = NULL;
	int rc = CC_ERR_NOMEM;

	if (!out)
		return CC_ERR_INVALID_ARG;
	*out = NULL;
	if (sodium_init() < 0)
		return CC_ERR_CRYPTO;
	k = sodium_malloc(sizeof *k);
	if (!k)
		goto out;
	randombytes_buf(k->device_id, sizeof k->device_id);
	if (crypto_sign_ed25519_keypair(k->sign_pk, k->sign_sk) != 0 || crypto_box_keypair(k->box_pk, k->box_sk) != 0) {
		rc = CC_ERR_CRYPTO;
		goto out;
	}
	*out = k;
	k = NULL;
	rc = CC_OK;
out:
	cc_device_keys_free(k);
	return rc;
}

void cc_root_key_free(cc_root_key *k)
{
	if (k)
		sodium_free(k); /* wipes */
}

void cc_device_keys_free(cc_device_keys *k)
{
	if (k)
		sodium_free(k);
}

int cc_root_key_encode(const cc_root_key *k, struct cc_wbuf *w)
{
	if (!k || !w)
		return CC_ERR_INVALID_ARG;
	cc_w_fixed(w, ROOT_MAGIC, sizeof ROOT_MAGIC);
	cc_w_u8(w, KEY_VERSION);
	cc_w_fixed(w, k->pk, sizeof k->pk);
	cc_w_fixed(w, k->sk, sizeof k->sk);
	return w->err;
}

/* Reads and compares a 4-byte magic; CC_ERR_VERSION if it is another type. */
static int read_magic(cc_rbuf *r, const uint8_t magic[4])
{
	uint8_t m[4];
	cc_r_fixed(r, m, sizeof m);
	if (r->err)
		return r->err;
	if (memcmp(m, magic, sizeof m) != 0)
		r->err = CC_ERR_VERSION;
	return r->err;
}

int cc_root_key_decode(const uint8_t *p, size_t n, cc_root_key **out)
{
	cc_root_key *k = NULL;
	uint8_t pk[CC_SIGN_PK_BYTES];
	cc_rbuf r;
	int rc = CC_ERR_NOMEM;

	if (!out)
		return CC_ERR_INVALID_ARG;
	*out = NULL;
	k = sodium_malloc(sizeof *k);
	if (!k)
		goto out;
	cc_r_init(&r, p, n);
	if ((rc = read_magic(&r, ROOT_MAGIC)) != CC_OK)
		goto out;
	if (cc_r_u8(&r) != KEY_VERSION && !r.err) {
		rc = CC_ERR_VERSION;
		goto out;
	}
	cc_r_fixed(&r, k->pk, sizeof k->pk);
	cc_r_fixed(&r, k->sk, sizeof k->sk);
	if ((rc = cc_r_finish(&r)) != CC_OK)
		goto out;
	crypto_sign_ed25519_sk_to_pk(pk, k->sk);
	if (sodium_memcmp(pk, k->pk, sizeof pk) != 0) {
		rc = CC_ERR_MALFORMED;
		goto out;
	}
	*out = k;
	k = NULL;
	rc = CC_OK;
out:
	cc_root_key_free(k);
	return rc;
}

int cc_device_keys_encode(const cc_device_keys *k, struct cc_wbuf *w)
{
	if (!k || !w)
		return CC_ERR_INVALID_ARG;
	cc_w_fixed(w, DEV_MAGIC, sizeof DEV_MAGIC);
	cc_w_u8(w, KEY_VERSION);
	cc_w_fixed(w, k->device_id, sizeof k->device_id);
	cc_w_fixed(w, k->sign_pk, sizeof k->sign_pk);
	cc_w_fixed(w, k->sign_sk, sizeof k->sign_sk);
	cc_w_fixed(w, k->box_pk, sizeof k->box_pk);
	cc_w_fixed(w, k->box_sk, sizeof k->box_sk);
	return w->err;
}

int cc_device_keys_decode(const uint8_t *p, size_t n, cc_device_keys **out)
{
	cc_device_keys *k = NULL;
	uint8_t pk[CC_SIGN_PK_BYTES];
	cc_rbuf r;
	int rc = CC_ERR_NOMEM;

	if (!out)
		return CC_ERR_INVALID_ARG;
	*out = NULL;
	k = sodium_malloc(sizeof *k);
	if (!k)
		goto out;
	cc_r_init(&r, p, n);
	if ((rc = read_magic(&r, DEV_MAGIC)) != CC_OK)
		goto out;
	if (cc_r_u8(&r) != KEY_VERSION && !r.err) {
		rc = CC_ERR_VERSION;
		goto out;
	}
	cc_r_fixed(&r, k->device_id, sizeof k->device_id);
	cc_r_fixed(&r, k->sign_pk, sizeof k->sign_pk);
	cc_r_fixed(&r, k->sign_sk, sizeof k->sign_sk);
	cc_r_fixed(&r, k->box_pk, sizeof k->box_pk);
	cc_r_fixed(&r, k->box_sk, sizeof k->box_sk);
	if ((rc = cc_r_finish(&r)) != CC_OK)
		goto out;
	crypto_sign_ed25519_sk_to_pk(pk, k->sign_sk);
	if (sodium_memcmp(pk, k->sign_pk, sizeof pk) != 0) {
		rc = CC_ERR_MALFORMED;
		goto out;
	}
	if (crypto_scalarmult_base(pk, k->box_sk) != 0 || sodium_memcmp(pk, k->box_pk, sizeof pk) != 0) {
		rc = CC_ERR_MALFORMED;
		goto out;
	}
	*out = k;
	k = NULL;
	rc = CC_OK;
out:
	sodium_memzero(pk, sizeof pk);
	cc_device_keys_free(k);
	return rc;
}

void cc_device_id_hex(const uint8_t id[CC_DEVICE_ID_BYTES], char out[2 * CC_DEVICE_ID_BYTES + 1])
{
	sodium_bin2hex(out, 2 * CC_DEVICE_ID_BYTES + 1, id, CC_DEVICE_ID_BYTES);
}

int cc_device_id_from_hex(const char *hex, uint8_t id[CC_DEVICE_ID_BYTES])
{
	uint8_t tmp[CC_DEVICE_ID_BYTES];
	size_t len = 0;
	const char *end = NULL;

	if (!hex || !id)
		return CC_ERR_INVALID_ARG;
	if (strnlen(hex, 2 * CC_DEVICE_ID_BYTES + 1) != 2 * CC_DEVICE_ID_BYTES)
		return CC_ERR_MALFORMED;
	if (sodium_hex2bin(tmp, sizeof tmp, hex, 2 * CC_DEVICE_ID_BYTES, NULL, &len, &end) != 0 ||
	    len != CC_DEVICE_ID_BYTES || end != hex + 2 * CC_DEVICE_ID_BYTES)
		return CC_ERR_MALFORMED;
	memcpy(id, tmp, sizeof tmp);
	return CC_OK;
}

/* ---- context signatures ------------------------------------------------- */

/* ctx (with NUL) || msg in a fresh heap buffer. */
static uint8_t *ctx_concat(const char *ctx, const uint8_t *msg, size_t n, size_t *outlen)
{
	size_t clen = strlen(ctx) + 1;
	uint8_t *b;
	if (n > SIZE_MAX - clen)
		return NULL;
	b = malloc(clen + n ? clen + n : 1);
	if (!b)
		return NULL;
	memcpy(b, ctx, clen);
	if (n)
		memcpy(b + clen, msg, n);
	*outlen = clen + n;
	return b;
}

int cc_sign_ctx(const uint8_t sk[CC_SIGN_SK_BYTES], const char *ctx, const uint8_t *msg, size_t n,
                uint8_t sig[CC_SIG_BYTES])
{
	uint8_t *b = NULL;
	size_t blen = 0;
	int rc = CC_ERR_NOMEM;

	if (!sk || !ctx || !sig || (!msg && n))
		return CC_ERR_INVALID_ARG;
	b = ctx_concat(ctx, msg, n, &blen);
	if (!b)
		goto out;
	if (crypto_sign_ed25519_detached(sig, NULL, b, blen, sk) != 0) {
		rc = CC_ERR_CRYPTO;
		goto out;
	}
	rc = CC_OK;
out:
	free(b);
	return rc;
}

int cc_verify_ctx(const uint8_t pk[CC_SIGN_PK_BYTES], const char *ctx, const uint8_t *msg, size_t n,
                  const uint8_t sig[CC_SIG_BYTES])
{
	uint8_t *b = NULL;
	size_t blen = 0;
	int rc = CC_ERR_NOMEM;

	if (!pk || !ctx || !sig || (!msg && n))
		return CC_ERR_INVALID_ARG;
	b = ctx_concat(ctx, msg, n, &blen);
	if (!b)
		goto out;
	rc = crypto_sign_ed25519_verify_detached(sig, b, blen, pk) == 0 ? CC_OK : CC_ERR_BAD_SIGNATURE;
out:
	free(b);
	return rc;
}

/* ---- text checks -------------------------------------------------------- */

int cc_ident_check(const char *s, size_t max)
{
	size_t n;
	if (!s)
		return CC_ERR_INVALID_ARG;
	if (!memchr(s, 0, max + 1))
		return CC_ERR_TOO_LARGE;
	n = strlen(s);
	if (n == 0)
		return CC_ERR_MALFORMED;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' || c == '@'))
			return CC_ERR_MALFORMED;
	}
	return CC_OK;
}

int cc_text_check(const char *s, size_t max)
{
	const unsigned char *p;
	size_t n, i = 0;
	if (!s)
		return CC_ERR_INVALID_ARG;
	if (!memchr(s, 0, max + 1))
		return CC_ERR_TOO_LARGE;
	p = (const unsigned char *)s;
	n = strlen(s);
	while (i < n) {
		unsigned c = p[i];
		size_t len;
		uint32_t cp, min;
		if (c < 0x20 || c == 0x7f)
			return CC_ERR_MALFORMED;
		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			len = 2, cp = c & 0x1f, min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			len = 3, cp = c & 0x0f, min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			len = 4, cp = c & 0x07, min = 0x10000;
		} else {
			return CC_ERR_MALFORMED;
		}
		if (n - i < len)
			return CC_ERR_MALFORMED;
		for (size_t j = 1; j < len; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return CC_ERR_MALFORMED;
			cp = (cp << 6) | (p[i + j] & 0x3fu);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return CC_ERR_MALFORMED;
		i += len;
	}
	return CC_OK;
}
