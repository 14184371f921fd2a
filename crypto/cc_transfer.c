/*
 * cc_transfer.c: the public part of a device key transfer (see cc_transfer.h;
 * creating and accepting one is in cc_casus.c, which holds the keys).
 */
#include "cc_transfer.h"
#include "cc_buf.h"
#include "cc_err.h"
#include "cc_keys.h"

#include <sodium.h>
#include <string.h>

#define TRANSFER_SIG_CTX "casus.e2e.v1.transfer.sig"

int cc_transfer_decode(const uint8_t *p, size_t n, cc_transfer *out)
{
	cc_rbuf r;
	if (!p || !out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof *out);
	if (n > CC_TRANSFER_MAX_BYTES)
		return CC_ERR_TOO_LARGE;
	cc_r_init(&r, p, n);
	out->version = cc_r_u8(&r);
	if (!r.err && out->version != CC_TRANSFER_VERSION && out->version != CC_TRANSFER_VERSION_WRAP)
		return CC_ERR_VERSION;
	cc_r_fixed(&r, out->casus_id, sizeof out->casus_id);
	cc_r_fixed(&r, out->from, sizeof out->from);
	cc_r_fixed(&r, out->to, sizeof out->to);
	if (!r.err && out->version == CC_TRANSFER_VERSION_WRAP)
		out->wrap = cc_r_u32(&r);
	out->epoch = cc_r_u64(&r);
	out->time = cc_r_i64(&r);
	cc_r_var32(&r, &out->sealed, &out->sealed_len, CC_TRANSFER_SEALED_MAX);
	if (r.err)
		return r.err;
	out->signed_part = p;
	out->signed_len = (size_t)(r.p - p);
	cc_r_fixed(&r, out->sig, sizeof out->sig);
	int rc = cc_r_finish(&r);
	if (rc != CC_OK)
		return rc;
	if (out->version == CC_TRANSFER_VERSION_WRAP && out->wrap == 0)
		return CC_ERR_MALFORMED; /* version 2 names a wrap key; version 0 is written as version 1 */
	if (out->sealed_len < crypto_box_SEALBYTES + 3 * 16 + 4)
		return CC_ERR_MALFORMED;
	return CC_OK;
}

int cc_transfer_verify_sig(const cc_transfer *t, const uint8_t sign_pk[CC_SIGN_PK_BYTES])
{
	if (!t || !sign_pk)
		return CC_ERR_INVALID_ARG;
	return cc_verify_ctx(sign_pk, TRANSFER_SIG_CTX, t->signed_part, t->signed_len, t->sig);
}

int cc_transfer_check_public(const cc_transfer *t, const cc_chain_state *st)
{
	if (!t || !st)
		return CC_ERR_INVALID_ARG;
	if (memcmp(t->casus_id, st->casus_id, CC_CASUS_ID_BYTES) != 0)
		return CC_ERR_CHAIN;
	int fi = cc_chain_find(st, t->from), ti = cc_chain_find(st, t->to);
	if (fi < 0 || ti < 0)
		return CC_ERR_NOT_MEMBER;
	const cc_cert *f = &st->roster[fi].cert, *to = &st->roster[ti].cert;
	if (fi == ti || strcmp(f->user_id, to->user_id) != 0 || strcmp(f->role, to->role) != 0)
		return CC_ERR_FORBIDDEN;
	return cc_transfer_verify_sig(t, f->sign_pk);
}
