/*
 * cc_commit.c: encoding, verification and construction of casus commits, and
 * the public chain state that server and clients advance with them.
 *
 * The byte layout is at the top of cc_commit.h and in docs/CRYPTO.md (end-to-end part). The rules
 * that decide whether a commit may follow the current head live in
 * cc_chain_apply below; builders run the same function on a copy of the state
 * before they hand a commit out.
 */
#include "cc_commit.h"
#include "cc_buf.h"
#include "cc_err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define CTX_COMMIT_SIG "casus.e2e.v1.commit.sig"
#define CTX_COMMIT_HASH "casus.e2e.v1.commit.hash"
#define CTX_KEY_COMMIT "casus.e2e.v1.epochkey.commit"
#define CTX_REASON "casus.e2e.v2.commit.reason"
#define CTX_BOX_DIGEST "casus.e2e.v4.commit.box"
#define BOX_KIND_EPOCH_KEY 0x01
#define STATE_VERSION 2

/* Context strings are written with their NUL so no context is a prefix of another. */
static void w_ctx(cc_wbuf *w, const char *ctx)
{
	cc_w_fixed(w, ctx, strlen(ctx) + 1);
}

const char *cc_commit_type_name(int type)
{
	switch (type) {
	case CC_COMMIT_CREATE:
		return "create";
	case CC_COMMIT_ADD:
		return "add";
	case CC_COMMIT_REMOVE:
		return "remove";
	case CC_COMMIT_ESCALATE:
		return "escalate";
	case CC_COMMIT_DEESCALATE:
		return "deescalate";
	case CC_COMMIT_ROTATE:
		return "rotate";
	case CC_COMMIT_BREAK_GLASS:
		return "break_glass";
	default:
		return NULL;
	}
}

static int is_zero(const uint8_t *p, size_t n)
{
	return sodium_is_zero(p, n);
}

/* ---- encoding --------------------------------------------------------------- */

int cc_commit_box_digest(const uint8_t casus_id[CC_CASUS_ID_BYTES], uint64_t epoch, uint8_t audience,
                         const uint8_t device_id[CC_DEVICE_ID_BYTES], uint32_t wrap,
                         const uint8_t box[CC_SEALED_KEY_BYTES], uint8_t out[CC_HASH_BYTES])
{
	crypto_generichash_state h;
	uint8_t mid[8 + 1 + CC_DEVICE_ID_BYTES + 4];
	size_t o = 0;
	if (!casus_id || !device_id || !box || !out)
		return CC_ERR_INVALID_ARG;
	for (int i = 0; i < 8; i++)
		mid[o++] = (uint8_t)(epoch >> (56 - 8 * i));
	mid[o++] = audience;
	memcpy(mid + o, device_id, CC_DEVICE_ID_BYTES);
	o += CC_DEVICE_ID_BYTES;
	for (int i = 0; i < 4; i++)
		mid[o++] = (uint8_t)(wrap >> (24 - 8 * i));
	if (crypto_generichash_init(&h, NULL, 0, CC_HASH_BYTES) != 0 ||
	    crypto_generichash_update(&h, (const uint8_t *)CTX_BOX_DIGEST, strlen(CTX_BOX_DIGEST) + 1) != 0 ||
	    crypto_generichash_update(&h, casus_id, CC_CASUS_ID_BYTES) != 0 ||
	    crypto_generichash_update(&h, mid, sizeof mid) != 0 ||
	    crypto_generichash_update(&h, box, CC_SEALED_KEY_BYTES) != 0 ||
	    crypto_generichash_final(&h, out, CC_HASH_BYTES) != 0)
		return CC_ERR_CRYPTO;
	return CC_OK;
}

/* One recipient: device id, the wrap version (versions 3 and 4; a version 2
 * commit cannot name one), then the box (2, 3) or the digest of the box (4:
 * computed from the box when the struct holds it, so a changed box re-signs
 * consistently; else the decoded digest). */
static int put_recipient(cc_wbuf *w, const cc_commit *c, uint8_t audience, const cc_commit_recipient *r)
{
	cc_w_fixed(w, r->device_id, CC_DEVICE_ID_BYTES);
	if (c->version >= CC_COMMIT_VERSION_WRAP)
		cc_w_u32(w, r->wrap);
	else if (r->wrap != 0)
		return CC_ERR_MALFORMED;
	if (c->version == CC_COMMIT_VERSION_BOXES) {
		uint8_t d[CC_HASH_BYTES];
		if (r->has_box) {
			int rc =
				cc_commit_box_digest(c->casus_id, c->epoch, audience, r->device_id, r->wrap, r->box, d);
			if (rc != CC_OK)
				return rc;
		} else {
			memcpy(d, r->digest, CC_HASH_BYTES);
		}
		cc_w_fixed(w, d, CC_HASH_BYTES);
	} else {
		if (!r->has_box)
			return CC_ERR_INVALID_ARG; /* versions 2 and 3 carry every box */
		cc_w_fixed(w, r->box, CC_SEALED_KEY_BYTES);
	}
	return CC_OK;
}

static size_t recipient_bytes(uint8_t version)
{
	return (size_t)CC_DEVICE_ID_BYTES + (version >= CC_COMMIT_VERSION_WRAP ? 4u : 0u) +
	       (version == CC_COMMIT_VERSION_BOXES ? (size_t)CC_HASH_BYTES : (size_t)CC_SEALED_KEY_BYTES);
}

static void get_recipient(cc_rbuf *r, uint8_t version, cc_commit_recipient *out)
{
	cc_r_fixed(r, out->device_id, CC_DEVICE_ID_BYTES);
	out->wrap = version >= CC_COMMIT_VERSION_WRAP ? cc_r_u32(r) : 0;
	if (version == CC_COMMIT_VERSION_BOXES) {
		cc_r_fixed(r, out->digest, CC_HASH_BYTES);
		out->has_box = 0; /* until the box section brings it */
	} else {
		cc_r_fixed(r, out->box, CC_SEALED_KEY_BYTES);
		out->has_box = 1;
	}
}

/* Version 4: the boxes the commit carries, after the signature, in signed
 * order (audiences in commit order, then the reason), each (u8 audience,
 * fixed16 device, box). */
static int put_box_section(cc_wbuf *w, const cc_commit *c)
{
	size_t nb = 0;
	for (size_t a = 0; a < c->naudiences; a++)
		for (size_t j = 0; j < c->audiences[a].nrecipients; j++)
			nb += c->audiences[a].recipients[j].has_box ? 1u : 0u;
	for (size_t j = 0; c->reason_len && j < c->reason.nrecipients; j++)
		nb += c->reason.recipients[j].has_box ? 1u : 0u;
	if (nb > UINT16_MAX)
		return CC_ERR_TOO_LARGE;
	if (nb == 0)
		return w->err; /* no box: no section (the one encoding of "every box absent") */
	cc_w_u16(w, (uint16_t)nb);
	for (size_t a = 0; a <= c->naudiences; a++) {
		const cc_commit_audience *au = a < c->naudiences ? &c->audiences[a] : &c->reason;
		if (a == c->naudiences && !c->reason_len)
			break;
		for (size_t j = 0; j < au->nrecipients; j++) {
			if (!au->recipients[j].has_box)
				continue;
			cc_w_u8(w, a < c->naudiences ? au->audience : CC_REASON_AUDIENCE);
			cc_w_fixed(w, au->recipients[j].device_id, CC_DEVICE_ID_BYTES);
			cc_w_fixed(w, au->recipients[j].box, CC_SEALED_KEY_BYTES);
		}
	}
	return w->err;
}

static int commit_encode_body(const cc_commit *c, cc_wbuf *w)
{
	int rc;
	if (c->nroster > CC_ROSTER_MAX || c->naudiences > CC_POLICY_MAX_AUDIENCES ||
	    c->reason_len > CC_REASON_BOX_MAX || c->reason.nrecipients > CC_ROSTER_MAX)
		return CC_ERR_TOO_LARGE;
	cc_w_u8(w, c->version);
	cc_w_u8(w, c->type);
	cc_w_fixed(w, c->casus_id, CC_CASUS_ID_BYTES);
	cc_w_u64(w, c->epoch);
	cc_w_fixed(w, c->prev_hash, CC_HASH_BYTES);
	cc_w_u8(w, c->level_before);
	cc_w_u8(w, c->level_after);
	cc_w_i64(w, c->time);
	cc_w_u64(w, c->policy);
	cc_w_fixed(w, c->actor, CC_DEVICE_ID_BYTES);
	cc_w_u16(w, c->nroster);
	for (size_t i = 0; i < c->nroster; i++) {
		cc_wbuf cw;
		cc_w_init(&cw);
		rc = cc_cert_encode(&c->roster[i].cert, &cw);
		if (rc == CC_OK && cw.len > CC_CERT_MAX)
			rc = CC_ERR_TOO_LARGE;
		if (rc == CC_OK) {
			cc_w_u8(w, c->roster[i].flags);
			cc_w_var16(w, cw.p, cw.len);
		}
		cc_w_free(&cw);
		if (rc != CC_OK)
			return rc;
	}
	cc_w_u8(w, c->naudiences);
	for (size_t a = 0; a < c->naudiences; a++) {
		const cc_commit_audience *au = &c->audiences[a];
		if (au->nrecipients > CC_ROSTER_MAX)
			return CC_ERR_TOO_LARGE;
		cc_w_u8(w, au->audience);
		cc_w_fixed(w, au->key_commit, CC_HASH_BYTES);
		cc_w_u16(w, au->nrecipients);
		for (size_t j = 0; j < au->nrecipients; j++) {
			if ((rc = put_recipient(w, c, au->audience, &au->recipients[j])) != CC_OK)
				return rc;
		}
	}
	cc_w_var16(w, c->reason_box, c->reason_len);
	if (c->reason_len) {
		cc_w_fixed(w, c->reason.key_commit, CC_HASH_BYTES);
		cc_w_u16(w, c->reason.nrecipients);
		for (size_t j = 0; j < c->reason.nrecipients; j++) {
			if ((rc = put_recipient(w, c, CC_REASON_AUDIENCE, &c->reason.recipients[j])) != CC_OK)
				return rc;
		}
	}
	return w->err;
}

int cc_commit_encode(const cc_commit *c, cc_wbuf *w)
{
	int rc;
	if (!c || !w)
		return CC_ERR_INVALID_ARG;
	if ((rc = commit_encode_body(c, w)) != CC_OK)
		return rc;
	cc_w_fixed(w, c->sig, CC_SIG_BYTES);
	if (c->version == CC_COMMIT_VERSION_BOXES && (rc = put_box_section(w, c)) != CC_OK)
		return rc;
	return w->err;
}

int cc_commit_encode_signed(const cc_commit *c, cc_wbuf *w)
{
	int rc;
	if (!c || !w)
		return CC_ERR_INVALID_ARG;
	if ((rc = commit_encode_body(c, w)) != CC_OK)
		return rc;
	cc_w_fixed(w, c->sig, CC_SIG_BYTES);
	return w->err;
}

int cc_commit_sign(cc_commit *c, const cc_device_keys *actor)
{
	cc_wbuf w;
	int rc;
	if (!c || !actor)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	w_ctx(&w, CTX_COMMIT_SIG);
	if ((rc = commit_encode_body(c, &w)) != CC_OK)
		goto out;
	if (crypto_sign_detached(c->sig, NULL, w.p, w.len, actor->sign_sk) != 0)
		rc = CC_ERR_CRYPTO;
out:
	cc_w_free(&w);
	return rc;
}

/* Signature over the context and the original bytes (everything before the
 * signature), so verification never depends on re-encoding. */
static int verify_sig_bytes(const uint8_t *p, size_t n, const uint8_t pk[CC_SIGN_PK_BYTES])
{
	size_t ctxn = strlen(CTX_COMMIT_SIG) + 1;
	size_t body;
	uint8_t *m = NULL;
	int ok;
	if (n < CC_SIG_BYTES)
		return CC_ERR_TRUNCATED;
	body = n - CC_SIG_BYTES;
	m = malloc(ctxn + body);
	if (!m)
		return CC_ERR_NOMEM;
	memcpy(m, CTX_COMMIT_SIG, ctxn);
	memcpy(m + ctxn, p, body);
	ok = crypto_sign_verify_detached(p + body, m, ctxn + body, pk);
	free(m);
	return ok == 0 ? CC_OK : CC_ERR_BAD_SIGNATURE;
}

int cc_commit_verify_sig(const cc_commit *c, const uint8_t sign_pk[CC_SIGN_PK_BYTES])
{
	cc_wbuf w;
	int rc;
	if (!c || !sign_pk)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	w_ctx(&w, CTX_COMMIT_SIG);
	if ((rc = commit_encode_body(c, &w)) != CC_OK)
		goto out;
	if (crypto_sign_verify_detached(c->sig, w.p, w.len, sign_pk) != 0)
		rc = CC_ERR_BAD_SIGNATURE;
out:
	cc_w_free(&w);
	return rc;
}

static int hash_bytes(const uint8_t *p, size_t n, uint8_t out[CC_HASH_BYTES])
{
	crypto_generichash_state h;
	if (crypto_generichash_init(&h, NULL, 0, CC_HASH_BYTES) != 0 ||
	    crypto_generichash_update(&h, (const uint8_t *)CTX_COMMIT_HASH, strlen(CTX_COMMIT_HASH) + 1) != 0 ||
	    crypto_generichash_update(&h, p, n) != 0 || crypto_generichash_final(&h, out, CC_HASH_BYTES) != 0)
		return CC_ERR_CRYPTO;
	return CC_OK;
}

int cc_commit_signed_len(const uint8_t *p, size_t n, size_t *signed_len)
{
	cc_commit c;
	int rc;
	if (!p || !signed_len)
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_commit_decode(p, n, &c)) != CC_OK)
		return rc;
	*signed_len = c.signed_len;
	cc_commit_free(&c);
	return CC_OK;
}

int cc_commit_hash(const uint8_t *p, size_t n, uint8_t out[CC_HASH_BYTES])
{
	size_t sl = n;
	int rc;
	if (!p || !out)
		return CC_ERR_INVALID_ARG;
	/* Version 4: the signed part only, so the link survives the boxes' deletion. */
	if (n > 0 && p[0] == CC_COMMIT_VERSION_BOXES && (rc = cc_commit_signed_len(p, n, &sl)) != CC_OK)
		return rc;
	return hash_bytes(p, sl, out);
}

void cc_commit_free(cc_commit *c)
{
	if (!c)
		return;
	free(c->roster);
	for (size_t a = 0; a < CC_POLICY_MAX_AUDIENCES; a++)
		free(c->audiences[a].recipients);
	free(c->reason.recipients);
	memset(c, 0, sizeof(*c));
}

int cc_commit_all_boxes(const cc_commit *c)
{
	if (!c)
		return 0;
	for (size_t a = 0; a < c->naudiences; a++)
		for (size_t j = 0; j < c->audiences[a].nrecipients; j++)
			if (!c->audiences[a].recipients[j].has_box)
				return 0;
	for (size_t j = 0; c->reason_len && j < c->reason.nrecipients; j++)
		if (!c->reason.recipients[j].has_box)
			return 0;
	return 1;
}

static int decode_entry(cc_rbuf *r, cc_roster_entry *e)
{
	const uint8_t *cp;
	size_t cn;
	int rc;
	e->flags = cc_r_u8(r);
	cc_r_var16(r, &cp, &cn, CC_CERT_MAX);
	if (r->err)
		return r->err;
	if (e->flags & ~CC_ROSTER_BREAK_GLASS)
		return CC_ERR_MALFORMED;
	if ((rc = cc_cert_decode(cp, cn, &e->cert)) != CC_OK)
		return rc;
	if (crypto_generichash(e->cert_hash, CC_HASH_BYTES, cp, cn, NULL, 0) != 0)
		return CC_ERR_CRYPTO;
	return CC_OK;
}

/* A reason box has one of the lengths nonce + k blocks + tag (k >= 1); when
 * present, its key is sealed to every roster entry, in roster order. */
static int reason_len_valid(size_t n)
{
	size_t fixed = CC_REASON_NONCE_BYTES + CC_REASON_MAC_BYTES;
	return n > fixed && n <= CC_REASON_BOX_MAX && (n - fixed) % CC_REASON_BLOCK == 0;
}

static int decode_reason(cc_rbuf *r, cc_commit *c)
{
	const uint8_t *bp;
	size_t bn;
	cc_r_var16(r, &bp, &bn, CC_REASON_BOX_MAX);
	if (r->err)
		return r->err;
	if (bn == 0)
		return CC_OK;
	if (!reason_len_valid(bn))
		return CC_ERR_MALFORMED;
	memcpy(c->reason_box, bp, bn);
	c->reason_len = (uint16_t)bn;
	c->reason.audience = CC_REASON_AUDIENCE;
	cc_r_fixed(r, c->reason.key_commit, CC_HASH_BYTES);
	c->reason.nrecipients = cc_r_u16(r);
	if (r->err)
		return r->err;
	if (c->reason.nrecipients != c->nroster)
		return CC_ERR_MALFORMED;
	if (cc_r_left(r) < (size_t)c->reason.nrecipients * recipient_bytes(c->version))
		return CC_ERR_TRUNCATED;
	c->reason.recipients = calloc(c->reason.nrecipients, sizeof *c->reason.recipients);
	if (!c->reason.recipients)
		return CC_ERR_NOMEM;
	for (size_t j = 0; j < c->reason.nrecipients; j++) {
		get_recipient(r, c->version, &c->reason.recipients[j]);
		if (!r->err &&
		    memcmp(c->reason.recipients[j].device_id, c->roster[j].cert.device_id, CC_DEVICE_ID_BYTES) != 0)
			return CC_ERR_MALFORMED; /* the reason goes to exactly the roster, in order */
	}
	return r->err;
}

/* The signed recipient (audience, device) a box names, or NULL. */
static cc_commit_recipient *find_recipient(cc_commit *c, uint8_t audience, const uint8_t dev[CC_DEVICE_ID_BYTES])
{
	cc_commit_audience *au = NULL;
	if (audience == CC_REASON_AUDIENCE) {
		au = c->reason_len ? &c->reason : NULL;
	} else {
		for (size_t a = 0; a < c->naudiences && !au; a++)
			if (c->audiences[a].audience == audience)
				au = &c->audiences[a];
	}
	for (size_t j = 0; au && j < au->nrecipients; j++)
		if (memcmp(au->recipients[j].device_id, dev, CC_DEVICE_ID_BYTES) == 0)
			return &au->recipients[j];
	return NULL;
}

/* Version 4 box section: u16 count, then (u8 audience, fixed16 device, box),
 * strictly increasing by (audience, device); every box must name a signed
 * recipient (CC_ERR_MALFORMED) and match its signed digest
 * (CC_ERR_KEY_COMMITMENT: a box swapped by whoever carried it). */
static int decode_box_section(cc_rbuf *r, cc_commit *c)
{
	uint16_t nb = cc_r_u16(r);
	uint8_t prev[1 + CC_DEVICE_ID_BYTES], cur[1 + CC_DEVICE_ID_BYTES];
	uint8_t box[CC_SEALED_KEY_BYTES], d[CC_HASH_BYTES];
	int rc;
	if (r->err)
		return r->err;
	if (nb == 0)
		return CC_ERR_MALFORMED; /* an empty section is written as no section */
	if (cc_r_left(r) < (size_t)nb * (1u + CC_DEVICE_ID_BYTES + CC_SEALED_KEY_BYTES))
		return CC_ERR_TRUNCATED;
	for (size_t i = 0; i < nb; i++) {
		cur[0] = cc_r_u8(r);
		cc_r_fixed(r, cur + 1, CC_DEVICE_ID_BYTES);
		cc_r_fixed(r, box, CC_SEALED_KEY_BYTES);
		if (r->err)
			return r->err;
		if (i > 0 && memcmp(prev, cur, sizeof cur) >= 0)
			return CC_ERR_MALFORMED; /* unsorted or twice */
		memcpy(prev, cur, sizeof cur);
		cc_commit_recipient *rc_ = find_recipient(c, cur[0], cur + 1);
		if (!rc_)
			return CC_ERR_MALFORMED;
		if ((rc = cc_commit_box_digest(c->casus_id, c->epoch, cur[0], rc_->device_id, rc_->wrap, box, d)) !=
		    CC_OK)
			return rc;
		if (sodium_memcmp(d, rc_->digest, CC_HASH_BYTES) != 0)
			return CC_ERR_KEY_COMMITMENT;
		memcpy(rc_->box, box, CC_SEALED_KEY_BYTES);
		rc_->has_box = 1;
	}
	return CC_OK;
}

int cc_commit_decode(const uint8_t *p, size_t n, cc_commit *out)
{
	cc_commit c;
	cc_rbuf r;
	int rc;

	if (!out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof c);
	if (!p)
		return CC_ERR_INVALID_ARG;
	if (n > CC_COMMIT_MAX_BYTES)
		return CC_ERR_TOO_LARGE;
	cc_r_init(&r, p, n);
	c.version = cc_r_u8(&r);
	if (!r.err && c.version != CC_COMMIT_VERSION && c.version != CC_COMMIT_VERSION_WRAP &&
	    c.version != CC_COMMIT_VERSION_BOXES) {
		rc = CC_ERR_VERSION;
		goto fail;
	}
	c.type = cc_r_u8(&r);
	if (!r.err && !cc_commit_type_name(c.type)) {
		rc = CC_ERR_VERSION;
		goto fail;
	}
	cc_r_fixed(&r, c.casus_id, CC_CASUS_ID_BYTES);
	c.epoch = cc_r_u64(&r);
	cc_r_fixed(&r, c.prev_hash, CC_HASH_BYTES);
	c.level_before = cc_r_u8(&r);
	c.level_after = cc_r_u8(&r);
	c.time = cc_r_i64(&r);
	c.policy = cc_r_u64(&r);
	cc_r_fixed(&r, c.actor, CC_DEVICE_ID_BYTES);
	c.nroster = cc_r_u16(&r);
	if (r.err) {
		rc = r.err;
		goto fail;
	}
	if (c.nroster == 0 || c.nroster > CC_ROSTER_MAX) {
		rc = c.nroster ? CC_ERR_TOO_LARGE : CC_ERR_MALFORMED;
		goto fail;
	}
	/* Each entry needs at least 3 bytes: do not allocate for what is not there. */
	if (cc_r_left(&r) < (size_t)c.nroster * 3) {
		rc = CC_ERR_TRUNCATED;
		goto fail;
	}
	c.roster = calloc(c.nroster, sizeof *c.roster);
	if (!c.roster) {
		rc = CC_ERR_NOMEM;
		goto fail;
	}
	for (size_t i = 0; i < c.nroster; i++) {
		if ((rc = decode_entry(&r, &c.roster[i])) != CC_OK)
			goto fail;
		if (i > 0 &&
		    memcmp(c.roster[i - 1].cert.device_id, c.roster[i].cert.device_id, CC_DEVICE_ID_BYTES) >= 0) {
			rc = CC_ERR_MALFORMED; /* unsorted or duplicate device */
			goto fail;
		}
	}
	c.naudiences = cc_r_u8(&r);
	if (!r.err && c.naudiences > CC_POLICY_MAX_AUDIENCES) {
		rc = CC_ERR_TOO_LARGE;
		goto fail;
	}
	for (size_t a = 0; a < c.naudiences && !r.err; a++) {
		cc_commit_audience *au = &c.audiences[a];
		au->audience = cc_r_u8(&r);
		cc_r_fixed(&r, au->key_commit, CC_HASH_BYTES);
		au->nrecipients = cc_r_u16(&r);
		if (r.err)
			break;
		if (au->nrecipients > c.nroster) {
			rc = CC_ERR_TOO_LARGE;
			goto fail;
		}
		if (cc_r_left(&r) < (size_t)au->nrecipients * recipient_bytes(c.version)) {
			rc = CC_ERR_TRUNCATED;
			goto fail;
		}
		if (au->nrecipients) {
			au->recipients = calloc(au->nrecipients, sizeof *au->recipients);
			if (!au->recipients) {
				rc = CC_ERR_NOMEM;
				goto fail;
			}
		}
		for (size_t j = 0; j < au->nrecipients; j++) {
			get_recipient(&r, c.version, &au->recipients[j]);
		}
	}
	if (!r.err && (rc = decode_reason(&r, &c)) != CC_OK)
		goto fail;
	cc_r_fixed(&r, c.sig, CC_SIG_BYTES);
	c.signed_len = n - cc_r_left(&r);
	if (!r.err && c.version == CC_COMMIT_VERSION_BOXES && cc_r_left(&r) > 0 &&
	    (rc = decode_box_section(&r, &c)) != CC_OK)
		goto fail;
	if ((rc = cc_r_finish(&r)) != CC_OK)
		goto fail;
	*out = c;
	return CC_OK;
fail:
	cc_commit_free(&c);
	return rc;
}

/* ---- sealed epoch keys ------------------------------------------------------ */

static void key_box_plain(uint8_t *plain, const uint8_t recipient_id[CC_DEVICE_ID_BYTES],
                          const uint8_t casus_id[CC_CASUS_ID_BYTES], uint8_t audience, uint64_t epoch)
{
	size_t o = 0;
	plain[o++] = BOX_KIND_EPOCH_KEY;
	memcpy(plain + o, recipient_id, CC_DEVICE_ID_BYTES);
	o += CC_DEVICE_ID_BYTES;
	memcpy(plain + o, casus_id, CC_CASUS_ID_BYTES);
	o += CC_CASUS_ID_BYTES;
	plain[o++] = audience;
	for (int i = 0; i < 8; i++)
		plain[o++] = (uint8_t)(epoch >> (56 - 8 * i));
}

#define KEY_BOX_PREFIX (CC_SEALED_KEY_PLAIN_BYTES - CC_EPOCH_KEY_BYTES)

int cc_commit_seal_key(uint8_t box[CC_SEALED_KEY_BYTES], const uint8_t recipient_box_pk[CC_BOX_PK_BYTES],
                       const uint8_t recipient_id[CC_DEVICE_ID_BYTES], const uint8_t casus_id[CC_CASUS_ID_BYTES],
                       uint8_t audience, uint64_t epoch, const uint8_t key[CC_EPOCH_KEY_BYTES])
{
	/* Short-lived copy of the key on the stack, wiped before returning (as
	 * libsodium does internally); long-lived keys live in sodium_malloc memory. */
	uint8_t plain[CC_SEALED_KEY_PLAIN_BYTES];
	int rc = CC_OK;
	if (!box || !recipient_box_pk || !recipient_id || !casus_id || !key)
		return CC_ERR_INVALID_ARG;
	key_box_plain(plain, recipient_id, casus_id, audience, epoch);
	memcpy(plain + KEY_BOX_PREFIX, key, CC_EPOCH_KEY_BYTES);
	if (crypto_box_seal(box, plain, CC_SEALED_KEY_PLAIN_BYTES, recipient_box_pk) != 0)
		rc = CC_ERR_CRYPTO;
	sodium_memzero(plain, sizeof plain);
	return rc;
}

int cc_commit_open_key(const uint8_t box[CC_SEALED_KEY_BYTES], const cc_device_keys *self,
                       const uint8_t casus_id[CC_CASUS_ID_BYTES], uint8_t audience, uint64_t epoch,
                       uint8_t key[CC_EPOCH_KEY_BYTES])
{
	return cc_commit_open_key_wrap(box, self, NULL, casus_id, audience, epoch, key);
}

int cc_commit_open_key_wrap(const uint8_t box[CC_SEALED_KEY_BYTES], const cc_device_keys *self,
                            const cc_wrap_secret *wrap, const uint8_t casus_id[CC_CASUS_ID_BYTES], uint8_t audience,
                            uint64_t epoch, uint8_t key[CC_EPOCH_KEY_BYTES])
{
	uint8_t plain[CC_SEALED_KEY_PLAIN_BYTES];
	uint8_t expect[KEY_BOX_PREFIX];
	int rc = CC_OK;
	if (!box || !self || !casus_id || !key)
		return CC_ERR_INVALID_ARG;
	if (crypto_box_seal_open(plain, box, CC_SEALED_KEY_BYTES, wrap ? wrap->pk : self->box_pk,
	                         wrap ? wrap->sk : self->box_sk) != 0) {
		rc = CC_ERR_DECRYPT;
		goto out;
	}
	key_box_plain(expect, self->device_id, casus_id, audience, epoch);
	if (sodium_memcmp(plain, expect, KEY_BOX_PREFIX) != 0) {
		rc = CC_ERR_NOT_RECIPIENT;
		goto out;
	}
	memcpy(key, plain + KEY_BOX_PREFIX, CC_EPOCH_KEY_BYTES);
out:
	sodium_memzero(plain, sizeof plain);
	return rc;
}

int cc_commit_key_commitment(const uint8_t key[CC_EPOCH_KEY_BYTES], const uint8_t casus_id[CC_CASUS_ID_BYTES],
                             uint8_t audience, uint64_t epoch, uint8_t out[CC_HASH_BYTES])
{
	crypto_generichash_state h;
	uint8_t tail[1 + 8];
	if (!key || !casus_id || !out)
		return CC_ERR_INVALID_ARG;
	tail[0] = audience;
	for (int i = 0; i < 8; i++)
		tail[1 + i] = (uint8_t)(epoch >> (56 - 8 * i));
	int rc = CC_OK;
	if (crypto_generichash_init(&h, key, CC_EPOCH_KEY_BYTES, CC_HASH_BYTES) != 0 ||
	    crypto_generichash_update(&h, (const uint8_t *)CTX_KEY_COMMIT, strlen(CTX_KEY_COMMIT) + 1) != 0 ||
	    crypto_generichash_update(&h, casus_id, CC_CASUS_ID_BYTES) != 0 ||
	    crypto_generichash_update(&h, tail, sizeof tail) != 0 ||
	    crypto_generichash_final(&h, out, CC_HASH_BYTES) != 0)
		rc = CC_ERR_CRYPTO;
	sodium_memzero(&h, sizeof h);
	return rc;
}

/* ---- the encrypted reason ---------------------------------------------------- */

#define REASON_AD_BYTES (sizeof(CTX_REASON) + CC_CASUS_ID_BYTES + 8)

static void reason_ad(uint8_t ad[REASON_AD_BYTES], const uint8_t casus_id[CC_CASUS_ID_BYTES], uint64_t epoch)
{
	size_t o = sizeof(CTX_REASON); /* with its NUL */
	memcpy(ad, CTX_REASON, o);
	memcpy(ad + o, casus_id, CC_CASUS_ID_BYTES);
	o += CC_CASUS_ID_BYTES;
	for (int i = 0; i < 8; i++)
		ad[o++] = (uint8_t)(epoch >> (56 - 8 * i));
}

int cc_reason_box_len_valid(size_t n)
{
	return reason_len_valid(n);
}

int cc_reason_seal(const char *reason, const uint8_t *ad, size_t adlen, const uint8_t key[CC_EPOCH_KEY_BYTES],
                   uint8_t box[CC_REASON_BOX_MAX], uint16_t *box_len)
{
	uint8_t plain[CC_REASON_BOX_MAX];
	size_t len, padded;
	unsigned long long clen = 0;
	int rc = CC_OK;
	if (!reason || !ad || !key || !box || !box_len)
		return CC_ERR_INVALID_ARG;
	len = strlen(reason);
	if (len == 0)
		return CC_ERR_INVALID_ARG;
	padded = (len / CC_REASON_BLOCK + 1) * CC_REASON_BLOCK; /* room for the 0x80 byte */
	if (len > CC_COMMIT_REASON_MAX || CC_REASON_NONCE_BYTES + padded + CC_REASON_MAC_BYTES > CC_REASON_BOX_MAX)
		return CC_ERR_TOO_LARGE;
	memset(plain, 0, sizeof plain);
	memcpy(plain, reason, len);
	plain[len] = 0x80;
	randombytes_buf(box, CC_REASON_NONCE_BYTES);
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(box + CC_REASON_NONCE_BYTES, &clen, plain, padded, ad, adlen,
	                                               NULL, box, key) != 0)
		rc = CC_ERR_CRYPTO;
	else
		*box_len = (uint16_t)(CC_REASON_NONCE_BYTES + clen);
	sodium_memzero(plain, sizeof plain);
	return rc;
}

int cc_reason_open(const uint8_t *box, size_t box_len, const uint8_t *ad, size_t adlen,
                   const uint8_t key[CC_EPOCH_KEY_BYTES], char *out, size_t cap)
{
	uint8_t plain[CC_REASON_BOX_MAX];
	unsigned long long plen = 0;
	int rc = CC_OK;
	if (!box || !ad || !key || !out || cap < CC_COMMIT_REASON_MAX + 1)
		return CC_ERR_INVALID_ARG;
	out[0] = '\0';
	if (!reason_len_valid(box_len))
		return CC_ERR_MALFORMED;
	memset(plain, 0, sizeof plain);
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(plain, &plen, NULL, box + CC_REASON_NONCE_BYTES,
	                                               box_len - CC_REASON_NONCE_BYTES, ad, adlen, box, key) != 0) {
		rc = CC_ERR_DECRYPT;
		goto out;
	}
	/* ISO/IEC 7816-4: the text, 0x80, zeros. */
	size_t end = (size_t)plen;
	while (end > 0 && plain[end - 1] == 0)
		end--;
	if (end == 0 || plain[end - 1] != 0x80 || end - 1 == 0 || end - 1 > CC_COMMIT_REASON_MAX) {
		rc = CC_ERR_MALFORMED; /* no padding mark, or an empty or overlong reason */
		goto out;
	}
	memcpy(out, plain, end - 1);
	out[end - 1] = '\0';
	if ((rc = cc_text_check(out, CC_COMMIT_REASON_MAX)) != CC_OK || strlen(out) != end - 1) {
		sodium_memzero(out, end);
		rc = CC_ERR_MALFORMED;
	}
out:
	sodium_memzero(plain, sizeof plain);
	return rc;
}

/* Encrypt reason (already checked: text, <= CC_COMMIT_REASON_MAX) under a
 * fresh key and seal that key to every entry of c's roster. Empty: no box. */
/* The key to seal to for a roster entry: its wrap target if the change lists
 * one (and the commit becomes version 3), else its certified box key. */
static const uint8_t *seal_pk(cc_commit *c, const cc_wrap_target *wraps, size_t nwraps, const cc_cert *cert,
                              uint32_t *wrap)
{
	*wrap = 0;
	for (size_t i = 0; wraps && i < nwraps; i++)
		if (wraps[i].version != 0 && memcmp(wraps[i].device_id, cert->device_id, CC_DEVICE_ID_BYTES) == 0) {
			*wrap = wraps[i].version;
			if (c->version == CC_COMMIT_VERSION)
				c->version = CC_COMMIT_VERSION_WRAP;
			return wraps[i].pk;
		}
	return cert->box_pk;
}

static int seal_reason(cc_commit *c, const char *reason, const cc_wrap_target *wraps, size_t nwraps)
{
	uint8_t ad[REASON_AD_BYTES];
	uint8_t *key = NULL;
	int rc = CC_OK;
	if (!reason || !*reason)
		return CC_OK;
	key = sodium_malloc(CC_EPOCH_KEY_BYTES);
	if (!key)
		return CC_ERR_NOMEM;
	randombytes_buf(key, CC_EPOCH_KEY_BYTES);
	reason_ad(ad, c->casus_id, c->epoch);
	if ((rc = cc_reason_seal(reason, ad, sizeof ad, key, c->reason_box, &c->reason_len)) != CC_OK)
		goto out;
	c->reason.audience = CC_REASON_AUDIENCE;
	if ((rc = cc_commit_key_commitment(key, c->casus_id, CC_REASON_AUDIENCE, c->epoch, c->reason.key_commit)) !=
	    CC_OK)
		goto out;
	c->reason.recipients = calloc(c->nroster, sizeof *c->reason.recipients);
	if (!c->reason.recipients) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	for (size_t j = 0; j < c->nroster; j++) {
		const cc_roster_entry *e = &c->roster[j];
		cc_commit_recipient *rcpt = &c->reason.recipients[c->reason.nrecipients++];
		memcpy(rcpt->device_id, e->cert.device_id, CC_DEVICE_ID_BYTES);
		const uint8_t *pk = seal_pk(c, wraps, nwraps, &e->cert, &rcpt->wrap);
		rcpt->has_box = 1;
		if ((rc = cc_commit_seal_key(rcpt->box, pk, e->cert.device_id, c->casus_id, CC_REASON_AUDIENCE,
		                             c->epoch, key)) != CC_OK)
			goto out;
	}
out:
	sodium_free(key);
	return rc;
}

int cc_commit_open_reason(const uint8_t *p, size_t n, const cc_device_keys *self, char *out, size_t cap)
{
	return cc_commit_open_reason_wraps(p, n, self, NULL, 0, out, cap);
}

int cc_commit_open_reason_wraps(const uint8_t *p, size_t n, const cc_device_keys *self, const cc_wrap_secret *wraps,
                                size_t nwraps, char *out, size_t cap)
{
	const cc_wrap_secret *ws = NULL;
	uint8_t ad[REASON_AD_BYTES];
	uint8_t commit[CC_HASH_BYTES];
	uint8_t *key = NULL;
	cc_commit c;
	int rc, idx = -1;
	if (!p || !self || !out || cap < CC_COMMIT_REASON_MAX + 1)
		return CC_ERR_INVALID_ARG;
	out[0] = '\0';
	if ((rc = cc_commit_decode(p, n, &c)) != CC_OK)
		return rc;
	if (c.reason_len == 0) {
		rc = CC_ERR_NOT_FOUND;
		goto out;
	}
	for (size_t j = 0; j < c.reason.nrecipients; j++)
		if (memcmp(c.reason.recipients[j].device_id, self->device_id, CC_DEVICE_ID_BYTES) == 0)
			idx = (int)j;
	if (idx < 0) {
		rc = CC_ERR_NOT_RECIPIENT;
		goto out;
	}
	if (!c.reason.recipients[idx].has_box) {
		rc = CC_ERR_NO_KEY; /* the box did not come with the commit (deleted by retention) */
		goto out;
	}
	if (c.reason.recipients[idx].wrap != 0 && !(ws = cc_wrap_find(wraps, nwraps, c.reason.recipients[idx].wrap))) {
		rc = CC_ERR_NO_KEY; /* sealed to a wrap key this device does not hold (any more) */
		goto out;
	}
	key = sodium_malloc(CC_EPOCH_KEY_BYTES);
	if (!key) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	if ((rc = cc_commit_open_key_wrap(c.reason.recipients[idx].box, self, ws, c.casus_id, CC_REASON_AUDIENCE,
	                                  c.epoch, key)) != CC_OK)
		goto out;
	if ((rc = cc_commit_key_commitment(key, c.casus_id, CC_REASON_AUDIENCE, c.epoch, commit)) != CC_OK)
		goto out;
	if (sodium_memcmp(commit, c.reason.key_commit, CC_HASH_BYTES) != 0) {
		rc = CC_ERR_KEY_COMMITMENT; /* the actor sealed different keys to different members */
		goto out;
	}
	reason_ad(ad, c.casus_id, c.epoch);
	rc = cc_reason_open(c.reason_box, c.reason_len, ad, sizeof ad, key, out, cap);
out:
	sodium_free(key);
	cc_commit_free(&c);
	return rc;
}

/* ---- chain state ------------------------------------------------------------ */

int cc_chain_state_new(cc_chain_state **out)
{
	if (!out)
		return CC_ERR_INVALID_ARG;
	*out = calloc(1, sizeof **out);
	return *out ? CC_OK : CC_ERR_NOMEM;
}

void cc_chain_state_free(cc_chain_state *st)
{
	if (!st)
		return;
	free(st->roster);
	free(st);
}

int cc_chain_state_copy(const cc_chain_state *st, cc_chain_state **out)
{
	cc_chain_state *c = NULL;
	if (!st || !out)
		return CC_ERR_INVALID_ARG;
	*out = NULL;
	c = calloc(1, sizeof *c);
	if (!c)
		return CC_ERR_NOMEM;
	*c = *st;
	c->roster = NULL;
	if (st->nroster) {
		c->roster = malloc((size_t)st->nroster * sizeof *c->roster);
		if (!c->roster) {
			free(c);
			return CC_ERR_NOMEM;
		}
		memcpy(c->roster, st->roster, (size_t)st->nroster * sizeof *c->roster);
	}
	*out = c;
	return CC_OK;
}

int cc_chain_state_encode(const cc_chain_state *st, cc_wbuf *w)
{
	if (!st || !w)
		return CC_ERR_INVALID_ARG;
	cc_w_u8(w, STATE_VERSION);
	cc_w_u8(w, st->started ? 1 : 0);
	cc_w_fixed(w, st->casus_id, CC_CASUS_ID_BYTES);
	cc_w_u64(w, st->epoch);
	cc_w_fixed(w, st->head, CC_HASH_BYTES);
	cc_w_u8(w, st->level);
	cc_w_i64(w, st->time);
	cc_w_u64(w, st->policy);
	cc_w_u16(w, st->nroster);
	for (size_t i = 0; i < st->nroster; i++) {
		cc_wbuf cw;
		cc_w_init(&cw);
		int rc = cc_cert_encode(&st->roster[i].cert, &cw);
		cc_w_u8(w, st->roster[i].flags);
		cc_w_var16(w, cw.p, cw.len);
		cc_w_free(&cw);
		if (rc != CC_OK)
			return rc;
	}
	return w->err;
}

int cc_chain_state_decode(const uint8_t *p, size_t n, cc_chain_state **out)
{
	cc_chain_state *st = NULL;
	cc_rbuf r;
	int rc;
	if (!out)
		return CC_ERR_INVALID_ARG;
	*out = NULL;
	if (!p)
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_chain_state_new(&st)) != CC_OK)
		return rc;
	cc_r_init(&r, p, n);
	uint8_t v = cc_r_u8(&r);
	if (!r.err && v != STATE_VERSION) {
		rc = CC_ERR_VERSION;
		goto fail;
	}
	uint8_t started = cc_r_u8(&r);
	st->started = started != 0;
	cc_r_fixed(&r, st->casus_id, CC_CASUS_ID_BYTES);
	st->epoch = cc_r_u64(&r);
	cc_r_fixed(&r, st->head, CC_HASH_BYTES);
	st->level = cc_r_u8(&r);
	st->time = cc_r_i64(&r);
	st->policy = cc_r_u64(&r);
	st->nroster = cc_r_u16(&r);
	if (r.err) {
		rc = r.err;
		goto fail;
	}
	if (started > 1 || st->nroster > CC_ROSTER_MAX) {
		rc = CC_ERR_MALFORMED;
		goto fail;
	}
	if (st->nroster) {
		if (cc_r_left(&r) < (size_t)st->nroster * 3) {
			rc = CC_ERR_TRUNCATED;
			goto fail;
		}
		st->roster = calloc(st->nroster, sizeof *st->roster);
		if (!st->roster) {
			rc = CC_ERR_NOMEM;
			goto fail;
		}
	}
	for (size_t i = 0; i < st->nroster; i++) {
		if ((rc = decode_entry(&r, &st->roster[i])) != CC_OK)
			goto fail;
		if (i > 0 &&
		    memcmp(st->roster[i - 1].cert.device_id, st->roster[i].cert.device_id, CC_DEVICE_ID_BYTES) >= 0) {
			rc = CC_ERR_MALFORMED;
			goto fail;
		}
	}
	if ((rc = cc_r_finish(&r)) != CC_OK)
		goto fail;
	*out = st;
	return CC_OK;
fail:
	cc_chain_state_free(st);
	return rc;
}

static int find_in(const cc_roster_entry *ro, size_t n, const uint8_t id[CC_DEVICE_ID_BYTES])
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(ro[mid].cert.device_id, id, CC_DEVICE_ID_BYTES);
		if (c == 0)
			return (int)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

int cc_chain_find(const cc_chain_state *st, const uint8_t device_id[CC_DEVICE_ID_BYTES])
{
	if (!st || !device_id)
		return -1;
	return find_in(st->roster, st->nroster, device_id);
}

int cc_entitled(const cc_policy *policy, int audience, int role, uint8_t level, uint8_t flags)
{
	if (!policy || role < 0 || role >= policy->nroles || role >= CC_POLICY_MAX_ROLES || audience < 0 ||
	    audience >= policy->naudiences || audience >= CC_POLICY_MAX_AUDIENCES)
		return 0;
	if (policy->roles[role].never_key)
		return 0;
	if (flags & CC_ROSTER_BREAK_GLASS) /* outside the ladder: the audience's role mask only */
		return (policy->audiences[audience].roles >> role & 1u) != 0;
	return cc_policy_in_audience(policy, audience, role, level);
}

int cc_chain_entitled(const cc_chain_state *st, const cc_policy *policy, size_t roster_index, int audience)
{
	if (!st || !policy || roster_index >= st->nroster)
		return 0;
	const cc_roster_entry *e = &st->roster[roster_index];
	return cc_entitled(policy, audience, cc_policy_role_index(policy, e->cert.role), st->level, e->flags);
}

/* ---- verification ----------------------------------------------------------- */

static int level_valid(const cc_policy *p, uint8_t level)
{
	return level >= 1 && level <= p->nlevels;
}

/* Revocation as a verifier sees it: live (a listed device is refused, whenever
 * it was revoked) or historic (only if revoked at or before t, for replaying
 * commits that were accepted in order when they were made). */
static int is_revoked(const cc_revlist *revs, const cc_cert *c, int historic, int64_t t)
{
	if (!revs || !cc_revlist_contains(revs, c->serial, c->device_id))
		return 0;
	if (!historic)
		return 1;
	for (uint32_t i = 0; i < revs->count; i++) {
		const cc_revoked *r = &revs->entries[i];
		if ((r->serial == c->serial || memcmp(r->device_id, c->device_id, CC_DEVICE_ID_BYTES) == 0) &&
		    r->revoked_at <= t)
			return 1;
	}
	return 0;
}

/* Roster rules for the entries a commit adds. */
static int check_added(const cc_commit *c, const cc_roster_entry *e, const cc_policy *pol,
                       const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t vt, const cc_revlist *revs, int historic)
{
	int rc = cc_cert_verify(&e->cert, root_pk, vt, NULL);
	if (rc != CC_OK)
		return rc;
	if (is_revoked(revs, &e->cert, historic, vt))
		return CC_ERR_REVOKED;
	int role = cc_policy_role_index(pol, e->cert.role);
	if (role < 0)
		return CC_ERR_UNKNOWN_ROLE;
	if (c->type == CC_COMMIT_BREAK_GLASS) {
		if (e->flags != CC_ROSTER_BREAK_GLASS || pol->roles[role].never_key)
			return CC_ERR_ROSTER;
		return CC_OK;
	}
	if (e->flags != 0 || !cc_policy_may_be_member(pol, role, c->level_after))
		return CC_ERR_ROSTER;
	return CC_OK;
}

/* A certificate already in the verified roster had its signature checked when
 * it was admitted (by this verifier, or it comes from trusted storage); for an
 * acting member only what can change since is re-checked: the root it names,
 * the validity window and revocation. */
static int member_cert_current(const cc_cert *c, const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now,
                               const cc_revlist *revs, int historic)
{
	if (sodium_memcmp(c->root_pk, root_pk, CC_SIGN_PK_BYTES) != 0)
		return CC_ERR_WRONG_ROOT;
	if (now < c->not_before)
		return CC_ERR_NOT_YET_VALID;
	if (now >= c->not_after)
		return CC_ERR_EXPIRED;
	if (is_revoked(revs, c, historic, now))
		return CC_ERR_REVOKED;
	return CC_OK;
}

/* A member the de-escalation must remove. */
static int deesc_removes(const cc_roster_entry *e, const cc_policy *pol, uint8_t level)
{
	if (e->flags & CC_ROSTER_BREAK_GLASS)
		return 1;
	return !cc_policy_may_be_member(pol, cc_policy_role_index(pol, e->cert.role), level);
}

/* Future skew tolerated on a commit's own time when verifying "as of" it. */
#define COMMIT_FUTURE_SKEW 300

static int chain_apply(cc_chain_state *st, const uint8_t *p, size_t n, const cc_policy *pol,
                       const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now, const cc_revlist *revs,
                       uint8_t hash_out[CC_HASH_BYTES], int historic)
{
	int64_t vt; /* the time certificates and revocations are judged at */
	cc_commit c;
	const cc_roster_entry *actor = NULL;
	const cc_roster_entry *old = NULL;
	size_t nold = 0, nadded = 0, nremoved = 0;
	uint8_t hash[CC_HASH_BYTES];
	int rc, role;

	memset(&c, 0, sizeof c);
	if (!st || !p || !pol || !root_pk)
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_commit_decode(p, n, &c)) != CC_OK)
		return rc;
	/* A fresh submission carries every box (version 4 keeps them beside the
	 * signed part; a stored commit may have lost some to retention). */
	if (!historic && !cc_commit_all_boxes(&c)) {
		rc = CC_ERR_MALFORMED;
		goto out;
	}
	vt = now;
	if (historic) {
		if (now <= INT64_MAX - COMMIT_FUTURE_SKEW && c.time > now + COMMIT_FUTURE_SKEW) {
			rc = CC_ERR_CHAIN; /* a commit from the future */
			goto out;
		}
		vt = c.time;
	}

	/* 1. Linkage: the commit must extend exactly the head. */
	if (!st->started) {
		if (c.type != CC_COMMIT_CREATE || !is_zero(c.prev_hash, CC_HASH_BYTES)) {
			rc = CC_ERR_CHAIN;
			goto out;
		}
		if (c.epoch != 0) {
			rc = CC_ERR_EPOCH;
			goto out;
		}
		if (c.level_before != 0) {
			rc = CC_ERR_LEVEL;
			goto out;
		}
	} else {
		old = st->roster;
		nold = st->nroster;
		if (c.type == CC_COMMIT_CREATE || sodium_memcmp(c.casus_id, st->casus_id, CC_CASUS_ID_BYTES) != 0 ||
		    sodium_memcmp(c.prev_hash, st->head, CC_HASH_BYTES) != 0) {
			rc = CC_ERR_CHAIN;
			goto out;
		}
		if (st->epoch == UINT64_MAX || c.epoch != st->epoch + 1) {
			rc = CC_ERR_EPOCH;
			goto out;
		}
		if (c.time < st->time) {
			rc = CC_ERR_CHAIN;
			goto out;
		}
		if (c.level_before != st->level) {
			rc = CC_ERR_LEVEL;
			goto out;
		}
	}

	/* 1b. The policy the commit was made under: never newer than the one the
	 * verifier holds, never older than one the chain already named; a fresh
	 * submission must be made under the verifier's own (current) policy. */
	if (c.policy > pol->number || (st->started && c.policy < st->policy) ||
	    (!historic && c.policy != pol->number)) {
		rc = CC_ERR_STALE;
		goto out;
	}

	/* 2. The actor: a current member (the creator: in the new roster), with a
	 * valid certificate, whose signature covers every byte. */
	{
		int ai = st->started ? find_in(old, nold, c.actor) : find_in(c.roster, c.nroster, c.actor);
		if (ai < 0) {
			rc = CC_ERR_NOT_MEMBER;
			goto out;
		}
		actor = st->started ? &old[ai] : &c.roster[ai];
	}
	if (!st->started) {
		if ((rc = cc_cert_verify(&actor->cert, root_pk, vt, NULL)) != CC_OK)
			goto out;
		if (is_revoked(revs, &actor->cert, historic, vt)) {
			rc = CC_ERR_REVOKED;
			goto out;
		}
	} else if ((rc = member_cert_current(&actor->cert, root_pk, vt, revs, historic)) != CC_OK) {
		goto out;
	}
	if ((rc = verify_sig_bytes(p, c.signed_len, actor->cert.sign_pk)) != CC_OK)
		goto out;
	role = cc_policy_role_index(pol, actor->cert.role);
	if (role < 0) {
		rc = CC_ERR_UNKNOWN_ROLE;
		goto out;
	}
	const cc_policy_role *ar = &pol->roles[role];
	int own_devices_only = 0;
	if (ar->never_key) {
		rc = CC_ERR_FORBIDDEN;
		goto out;
	}

	/* 3. Level rules. */
	if (!level_valid(pol, c.level_after)) {
		rc = CC_ERR_LEVEL;
		goto out;
	}
	/* The reason is sealed to exactly the new roster (cc_commit_decode checks
	 * the recipient list); only members can check it opens to non-empty text. */
	if ((c.type == CC_COMMIT_ESCALATE || c.type == CC_COMMIT_DEESCALATE || c.type == CC_COMMIT_BREAK_GLASS) &&
	    c.reason_len == 0) {
		rc = CC_ERR_MALFORMED; /* level changes and break-glass must say why */
		goto out;
	}
	switch (c.type) {
	case CC_COMMIT_CREATE:
		if (!ar->may_create) {
			rc = CC_ERR_FORBIDDEN;
			goto out;
		}
		break;
	case CC_COMMIT_ESCALATE:
		if (c.level_after <= c.level_before) {
			rc = CC_ERR_LEVEL;
			goto out;
		}
		if (!cc_policy_may_escalate(pol, role, c.level_before, c.level_after)) {
			rc = CC_ERR_FORBIDDEN;
			goto out;
		}
		break;
	case CC_COMMIT_DEESCALATE:
		if (c.level_after >= c.level_before) {
			rc = CC_ERR_LEVEL;
			goto out;
		}
		if (!cc_policy_may_deescalate(pol, role, c.level_before, c.level_after)) {
			rc = CC_ERR_FORBIDDEN;
			goto out;
		}
		break;
	default:
		if (c.level_after != c.level_before) {
			rc = CC_ERR_LEVEL;
			goto out;
		}
		if (c.type == CC_COMMIT_BREAK_GLASS && !ar->may_break_glass) {
			rc = CC_ERR_FORBIDDEN;
			goto out;
		}
		/* without may_add a member may still add devices of its own user id
		 * and role (a second device); checked per added device below */
		own_devices_only = c.type == CC_COMMIT_ADD && !ar->may_add;
		break;
	}

	/* 4. Roster transition: merge old and new (both sorted by device id). A
	 * device in both must be byte-for-byte the same certificate and flags. */
	{
		size_t i = 0, j = 0;
		while (i < nold || j < c.nroster) {
			int cmp;
			if (i == nold)
				cmp = 1;
			else if (j == c.nroster)
				cmp = -1;
			else
				cmp = memcmp(old[i].cert.device_id, c.roster[j].cert.device_id, CC_DEVICE_ID_BYTES);
			if (cmp == 0) {
				if (sodium_memcmp(old[i].cert_hash, c.roster[j].cert_hash, CC_HASH_BYTES) != 0 ||
				    old[i].flags != c.roster[j].flags) {
					rc = CC_ERR_ROSTER;
					goto out;
				}
				if (c.type == CC_COMMIT_DEESCALATE && deesc_removes(&old[i], pol, c.level_after)) {
					rc = CC_ERR_ROSTER; /* kept someone the lower level no longer admits */
					goto out;
				}
				i++, j++;
			} else if (cmp < 0) { /* removed */
				nremoved++;
				if (c.type == CC_COMMIT_REMOVE) {
					if (!ar->may_remove && strcmp(old[i].cert.user_id, actor->cert.user_id) != 0) {
						rc = CC_ERR_FORBIDDEN; /* without may_remove only one's own devices */
						goto out;
					}
				} else if (c.type == CC_COMMIT_DEESCALATE) {
					if (!deesc_removes(&old[i], pol, c.level_after)) {
						rc = CC_ERR_ROSTER;
						goto out;
					}
				} else {
					rc = CC_ERR_ROSTER;
					goto out;
				}
				i++;
			} else { /* added */
				nadded++;
				if (c.type != CC_COMMIT_CREATE && c.type != CC_COMMIT_ADD &&
				    c.type != CC_COMMIT_BREAK_GLASS) {
					rc = CC_ERR_ROSTER;
					goto out;
				}
				if (own_devices_only && (strcmp(c.roster[j].cert.user_id, actor->cert.user_id) != 0 ||
				                         strcmp(c.roster[j].cert.role, actor->cert.role) != 0)) {
					rc = CC_ERR_FORBIDDEN;
					goto out;
				}
				if ((rc = check_added(&c, &c.roster[j], pol, root_pk, vt, revs, historic)) != CC_OK)
					goto out;
				j++;
			}
		}
		if ((c.type == CC_COMMIT_ADD || c.type == CC_COMMIT_BREAK_GLASS) && nadded == 0) {
			rc = CC_ERR_ROSTER;
			goto out;
		}
		if (c.type == CC_COMMIT_REMOVE && nremoved == 0) {
			rc = CC_ERR_ROSTER;
			goto out;
		}
	}
	/* No revoked device stays in the roster: a revocation must be followed by a removal. */
	if (revs) {
		for (size_t j = 0; j < c.nroster; j++)
			if (is_revoked(revs, &c.roster[j].cert, historic, vt)) {
				rc = CC_ERR_REVOKED;
				goto out;
			}
	}

	/* 5. Every audience rotated, each sealed to exactly the entitled devices. */
	if (c.naudiences != pol->naudiences) {
		rc = CC_ERR_ROSTER;
		goto out;
	}
	for (size_t a = 0; a < c.naudiences; a++) {
		const cc_commit_audience *au = &c.audiences[a];
		size_t k = 0;
		if (au->audience != a) {
			rc = CC_ERR_MALFORMED;
			goto out;
		}
		for (size_t j = 0; j < c.nroster; j++) {
			const cc_roster_entry *e = &c.roster[j];
			if (!cc_entitled(pol, (int)a, cc_policy_role_index(pol, e->cert.role), c.level_after, e->flags))
				continue;
			if (k >= au->nrecipients ||
			    memcmp(au->recipients[k].device_id, e->cert.device_id, CC_DEVICE_ID_BYTES) != 0) {
				rc = CC_ERR_ROSTER;
				goto out;
			}
			k++;
		}
		if (k != au->nrecipients) {
			rc = CC_ERR_ROSTER; /* a box for a device that is not entitled */
			goto out;
		}
	}

	/* 6. Accept: the state takes the new roster. */
	if ((rc = hash_bytes(p, c.signed_len, hash)) != CC_OK)
		goto out;
	free(st->roster);
	st->roster = c.roster;
	st->nroster = c.nroster;
	c.roster = NULL;
	c.nroster = 0;
	st->started = 1;
	memcpy(st->casus_id, c.casus_id, CC_CASUS_ID_BYTES);
	st->epoch = c.epoch;
	memcpy(st->head, hash, CC_HASH_BYTES);
	st->level = c.level_after;
	st->time = c.time;
	st->policy = c.policy;
	if (hash_out)
		memcpy(hash_out, hash, CC_HASH_BYTES);
	rc = CC_OK;
out:
	cc_commit_free(&c);
	return rc;
}

int cc_chain_apply(cc_chain_state *st, const uint8_t *p, size_t n, const cc_policy *pol,
                   const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now, const cc_revlist *revs,
                   uint8_t hash_out[CC_HASH_BYTES])
{
	return chain_apply(st, p, n, pol, root_pk, now, revs, hash_out, 0);
}

int cc_chain_apply_historic(cc_chain_state *st, const uint8_t *p, size_t n, const cc_policy *pol,
                            const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now, const cc_revlist *revs,
                            uint8_t hash_out[CC_HASH_BYTES])
{
	return chain_apply(st, p, n, pol, root_pk, now, revs, hash_out, 1);
}

/* ---- builders --------------------------------------------------------------- */

void cc_commit_new_casus_id(uint8_t casus_id[CC_CASUS_ID_BYTES])
{
	randombytes_buf(casus_id, CC_CASUS_ID_BYTES);
}

static int cmp_entry(const void *a, const void *b)
{
	const cc_roster_entry *x = a, *y = b;
	return memcmp(x->cert.device_id, y->cert.device_id, CC_DEVICE_ID_BYTES);
}

static int contains_id(const uint8_t (*ids)[CC_DEVICE_ID_BYTES], size_t n, const uint8_t id[CC_DEVICE_ID_BYTES])
{
	for (size_t i = 0; i < n; i++)
		if (memcmp(ids[i], id, CC_DEVICE_ID_BYTES) == 0)
			return 1;
	return 0;
}

int cc_commit_build(const cc_chain_state *st, const cc_commit_change *chg, const cc_device_keys *actor,
                    const cc_cert *actor_cert, const cc_policy *pol, const uint8_t root_pk[CC_SIGN_PK_BYTES],
                    int64_t now, const cc_revlist *revs, cc_wbuf *out)
{
	cc_commit c;
	cc_chain_state *check = NULL;
	uint8_t *key = NULL;
	cc_wbuf w;
	size_t cap, nr = 0;
	int rc;

	memset(&c, 0, sizeof c);
	cc_w_init(&w);
	if (!st || !chg || !actor || !actor_cert || !pol || !root_pk || !out || (chg->nadd && !chg->add) ||
	    (chg->nremove && !chg->remove))
		return CC_ERR_INVALID_ARG;
	if (chg->nadd > CC_ROSTER_MAX || chg->nremove > CC_ROSTER_MAX)
		return CC_ERR_TOO_LARGE;
	if (!cc_commit_type_name(chg->type) || (chg->type == CC_COMMIT_CREATE) == (st->started != 0))
		return CC_ERR_INVALID_ARG;
	if (chg->reason && strlen(chg->reason) > CC_COMMIT_REASON_MAX)
		return CC_ERR_TOO_LARGE;
	if (memcmp(actor->device_id, actor_cert->device_id, CC_DEVICE_ID_BYTES) != 0)
		return CC_ERR_INVALID_ARG;

	if (chg->version != 0 && chg->version != CC_COMMIT_VERSION && chg->version != CC_COMMIT_VERSION_BOXES)
		return CC_ERR_INVALID_ARG;
	c.version = chg->version ? chg->version : CC_COMMIT_VERSION_BOXES;
	c.type = chg->type;
	memcpy(c.actor, actor->device_id, CC_DEVICE_ID_BYTES);
	if (chg->reason && (rc = cc_text_check(chg->reason, CC_COMMIT_REASON_MAX)) != CC_OK)
		return rc;
	c.policy = pol->number;
	c.time = now;
	if (chg->type == CC_COMMIT_CREATE) {
		memcpy(c.casus_id, chg->casus_id, CC_CASUS_ID_BYTES);
		c.level_after = chg->level;
	} else {
		memcpy(c.casus_id, st->casus_id, CC_CASUS_ID_BYTES);
		c.epoch = st->epoch + 1;
		memcpy(c.prev_hash, st->head, CC_HASH_BYTES);
		c.level_before = st->level;
		c.level_after = st->level;
		if (c.time < st->time)
			c.time = st->time;
		if (chg->type == CC_COMMIT_ESCALATE || chg->type == CC_COMMIT_DEESCALATE)
			c.level_after = chg->level;
	}

	/* New roster. */
	cap = (size_t)st->nroster + chg->nadd + 1;
	c.roster = calloc(cap, sizeof *c.roster);
	if (!c.roster) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < st->nroster; i++) {
		const cc_roster_entry *e = &st->roster[i];
		if (chg->type == CC_COMMIT_REMOVE && contains_id(chg->remove, chg->nremove, e->cert.device_id))
			continue;
		if (chg->type == CC_COMMIT_DEESCALATE && deesc_removes(e, pol, c.level_after))
			continue;
		c.roster[nr++] = *e;
	}
	if (chg->type == CC_COMMIT_REMOVE) {
		for (size_t i = 0; i < chg->nremove; i++)
			if (find_in(st->roster, st->nroster, chg->remove[i]) < 0) {
				rc = CC_ERR_NOT_MEMBER;
				goto out;
			}
	}
	if (chg->type == CC_COMMIT_CREATE) {
		c.roster[nr].cert = *actor_cert;
		if ((rc = cc_cert_hash(actor_cert, c.roster[nr].cert_hash)) != CC_OK)
			goto out;
		nr++;
	}
	if (chg->type == CC_COMMIT_CREATE || chg->type == CC_COMMIT_ADD || chg->type == CC_COMMIT_BREAK_GLASS) {
		for (size_t i = 0; i < chg->nadd; i++) {
			c.roster[nr].cert = chg->add[i];
			c.roster[nr].flags = chg->type == CC_COMMIT_BREAK_GLASS ? CC_ROSTER_BREAK_GLASS : 0;
			if ((rc = cc_cert_hash(&chg->add[i], c.roster[nr].cert_hash)) != CC_OK)
				goto out;
			nr++;
		}
	}
	if (nr == 0 || nr > CC_ROSTER_MAX) {
		rc = CC_ERR_ROSTER;
		goto out;
	}
	qsort(c.roster, nr, sizeof *c.roster, cmp_entry);
	for (size_t i = 1; i < nr; i++)
		if (memcmp(c.roster[i - 1].cert.device_id, c.roster[i].cert.device_id, CC_DEVICE_ID_BYTES) == 0) {
			rc = CC_ERR_ROSTER; /* device already a member, or listed twice */
			goto out;
		}
	c.nroster = (uint16_t)nr;

	/* Fresh key per audience, sealed to every entitled device. */
	key = sodium_malloc(CC_EPOCH_KEY_BYTES);
	if (!key) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	c.naudiences = pol->naudiences;
	if (c.naudiences > CC_POLICY_MAX_AUDIENCES) {
		rc = CC_ERR_INVALID_ARG;
		goto out;
	}
	for (size_t a = 0; a < c.naudiences; a++) {
		cc_commit_audience *au = &c.audiences[a];
		au->audience = (uint8_t)a;
		randombytes_buf(key, CC_EPOCH_KEY_BYTES);
		if ((rc = cc_commit_key_commitment(key, c.casus_id, au->audience, c.epoch, au->key_commit)) != CC_OK)
			goto out;
		au->recipients = calloc(nr, sizeof *au->recipients);
		if (!au->recipients) {
			rc = CC_ERR_NOMEM;
			goto out;
		}
		for (size_t j = 0; j < nr; j++) {
			const cc_roster_entry *e = &c.roster[j];
			if (!cc_entitled(pol, (int)a, cc_policy_role_index(pol, e->cert.role), c.level_after, e->flags))
				continue;
			cc_commit_recipient *rcpt = &au->recipients[au->nrecipients++];
			memcpy(rcpt->device_id, e->cert.device_id, CC_DEVICE_ID_BYTES);
			const uint8_t *pk = seal_pk(&c, chg->wraps, chg->nwraps, &e->cert, &rcpt->wrap);
			rcpt->has_box = 1;
			if ((rc = cc_commit_seal_key(rcpt->box, pk, e->cert.device_id, c.casus_id, au->audience,
			                             c.epoch, key)) != CC_OK)
				goto out;
		}
		sodium_memzero(key, CC_EPOCH_KEY_BYTES);
	}
	if ((rc = seal_reason(&c, chg->reason, chg->wraps, chg->nwraps)) != CC_OK)
		goto out;
	if ((rc = cc_commit_sign(&c, actor)) != CC_OK)
		goto out;
	if ((rc = cc_commit_encode(&c, &w)) != CC_OK)
		goto out;

	/* Self-check: never hand out a commit the verifiers would refuse. */
	if ((rc = cc_chain_state_copy(st, &check)) != CC_OK)
		goto out;
	if ((rc = cc_chain_apply(check, w.p, w.len, pol, root_pk, now > c.time ? now : c.time, revs, NULL)) != CC_OK)
		goto out;
	cc_w_fixed(out, w.p, w.len);
	rc = out->err;
out:
	if (key)
		sodium_free(key);
	cc_chain_state_free(check);
	cc_w_free(&w);
	cc_commit_free(&c);
	return rc;
}

int cc_commit_create(const uint8_t casus_id[CC_CASUS_ID_BYTES], uint8_t level, const cc_cert *others, size_t nothers,
                     const cc_device_keys *actor, const cc_cert *actor_cert, const cc_policy *policy,
                     const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now, const char *reason, cc_wbuf *out)
{
	cc_chain_state empty;
	cc_commit_change chg;
	if (!casus_id)
		return CC_ERR_INVALID_ARG;
	memset(&empty, 0, sizeof empty);
	memset(&chg, 0, sizeof chg);
	chg.type = CC_COMMIT_CREATE;
	memcpy(chg.casus_id, casus_id, CC_CASUS_ID_BYTES);
	chg.level = level;
	chg.add = others;
	chg.nadd = nothers;
	chg.reason = reason;
	return cc_commit_build(&empty, &chg, actor, actor_cert, policy, root_pk, now, NULL, out);
}

int cc_commit_add(const cc_chain_state *st, const cc_cert *add, size_t nadd, const cc_device_keys *actor,
                  const cc_cert *actor_cert, const cc_policy *policy, const uint8_t root_pk[CC_SIGN_PK_BYTES],
                  int64_t now, const cc_revlist *revs, const char *reason, cc_wbuf *out)
{
	cc_commit_change chg;
	memset(&chg, 0, sizeof chg);
	chg.type = CC_COMMIT_ADD;
	chg.add = add;
	chg.nadd = nadd;
	chg.reason = reason;
	return cc_commit_build(st, &chg, actor, actor_cert, policy, root_pk, now, revs, out);
}

int cc_commit_remove(const cc_chain_state *st, const uint8_t (*remove)[CC_DEVICE_ID_BYTES], size_t nremove,
                     const cc_device_keys *actor, const cc_cert *actor_cert, const cc_policy *policy,
                     const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now, const cc_revlist *revs, const char *reason,
                     cc_wbuf *out)
{
	cc_commit_change chg;
	memset(&chg, 0, sizeof chg);
	chg.type = CC_COMMIT_REMOVE;
	chg.remove = remove;
	chg.nremove = nremove;
	chg.reason = reason;
	return cc_commit_build(st, &chg, actor, actor_cert, policy, root_pk, now, revs, out);
}

int cc_commit_set_level(const cc_chain_state *st, uint8_t new_level, const cc_device_keys *actor,
                        const cc_cert *actor_cert, const cc_policy *policy, const uint8_t root_pk[CC_SIGN_PK_BYTES],
                        int64_t now, const cc_revlist *revs, const char *reason, cc_wbuf *out)
{
	cc_commit_change chg;
	if (!st)
		return CC_ERR_INVALID_ARG;
	if (new_level == st->level)
		return CC_ERR_LEVEL;
	memset(&chg, 0, sizeof chg);
	chg.type = new_level > st->level ? CC_COMMIT_ESCALATE : CC_COMMIT_DEESCALATE;
	chg.level = new_level;
	chg.reason = reason;
	return cc_commit_build(st, &chg, actor, actor_cert, policy, root_pk, now, revs, out);
}

int cc_commit_rotate(const cc_chain_state *st, const cc_device_keys *actor, const cc_cert *actor_cert,
                     const cc_policy *policy, const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now,
                     const cc_revlist *revs, const char *reason, cc_wbuf *out)
{
	cc_commit_change chg;
	memset(&chg, 0, sizeof chg);
	chg.type = CC_COMMIT_ROTATE;
	chg.reason = reason;
	return cc_commit_build(st, &chg, actor, actor_cert, policy, root_pk, now, revs, out);
}

int cc_commit_break_glass(const cc_chain_state *st, const cc_cert *add, size_t nadd, const cc_device_keys *actor,
                          const cc_cert *actor_cert, const cc_policy *policy, const uint8_t root_pk[CC_SIGN_PK_BYTES],
                          int64_t now, const cc_revlist *revs, const char *reason, cc_wbuf *out)
{
	cc_commit_change chg;
	memset(&chg, 0, sizeof chg);
	chg.type = CC_COMMIT_BREAK_GLASS;
	chg.add = add;
	chg.nadd = nadd;
	chg.reason = reason;
	return cc_commit_build(st, &chg, actor, actor_cert, policy, root_pk, now, revs, out);
}
