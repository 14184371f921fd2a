/*
 * cc_cert.c: device certificates, certificate requests and revocation lists
 * (see cc_cert.h). Every object has a 4-byte magic, a version byte, its fields
 * in a fixed order, and an Ed25519 signature over a context string followed by
 * every byte before the signature.
 *
 * Certificate ("casus.v1 cert", signed by the root):
 *   fixed[4]  "CCRT"          u8  version = 1      u64 serial
 *   str       user_id (1..64, [a-z0-9._@-])
 *   str       name (0..128, UTF-8)                 str org (0..128, UTF-8)
 *   str       role (1..32, [a-z0-9._@-])
 *   fixed[16] device_id       fixed[32] sign_pk    fixed[32] box_pk
 *   i64       not_before      i64 not_after (not_before < not_after)
 *   fixed[32] root_pk         fixed[64] sig
 *
 * Certificate request ("casus.v1 certreq", signed by the device's own key):
 *   fixed[4] "CCRQ"  u8 version = 1  str user_id  str name  str org  str role
 *   fixed[16] device_id  fixed[32] sign_pk  fixed[32] box_pk  fixed[64] sig
 *
 * Revocation list ("casus.v1 revlist", signed by the root):
 *   fixed[4] "CCRL"  u8 version = 1  u64 number  i64 issued_at  u32 count
 *   count x { u64 serial  fixed[16] device_id  i64 revoked_at }  (serial strictly ascending)
 *   fixed[32] root_pk  fixed[64] sig
 *
 * Decoding is strict and canonical: exactly one byte string decodes to a given
 * object, so a signature over the re-encoding is a signature over the input.
 */
#include "cc_cert.h"
#include "cc_buf.h"
#include "cc_err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define CTX_CERT "casus.v1 cert"
#define CTX_CERTREQ "casus.v1 certreq"
#define CTX_REVLIST "casus.v1 revlist"
#define CTX_ISSUANCE "casus.v1 issuance"
#define REVOKED_ENTRY_BYTES (8 + CC_DEVICE_ID_BYTES + 8)

static const uint8_t CERT_MAGIC[4] = {'C', 'C', 'R', 'T'};
static const uint8_t REQ_MAGIC[4] = {'C', 'C', 'R', 'Q'};
static const uint8_t REVLIST_MAGIC[4] = {'C', 'C', 'R', 'L'};
static const uint8_t ISSUANCE_MAGIC[4] = {'C', 'C', 'I', 'S'};

/* Reads magic and version: CC_ERR_VERSION for another object type or version. */
static int read_head(cc_rbuf *r, const uint8_t magic[4], uint8_t version, uint8_t *got)
{
	uint8_t m[4];
	cc_r_fixed(r, m, sizeof m);
	if (r->err)
		return r->err;
	if (memcmp(m, magic, sizeof m) != 0)
		return r->err = CC_ERR_VERSION;
	*got = cc_r_u8(r);
	if (r->err)
		return r->err;
	if (*got != version)
		return r->err = CC_ERR_VERSION;
	return CC_OK;
}

/* The identity fields a certificate and a request share. */
static int identity_check(const char *user_id, const char *name, const char *org, const char *role)
{
	int rc;
	if ((rc = cc_ident_check(user_id, CC_USER_ID_MAX)) != CC_OK ||
	    (rc = cc_text_check(name, CC_NAME_MAX)) != CC_OK || (rc = cc_text_check(org, CC_ORG_MAX)) != CC_OK ||
	    (rc = cc_ident_check(role, CC_ROLE_MAX)) != CC_OK)
		return rc;
	return CC_OK;
}

static int cert_check(const cc_cert *c)
{
	if (c->version != CC_CERT_VERSION)
		return CC_ERR_VERSION;
	if (c->not_before >= c->not_after)
		return CC_ERR_MALFORMED;
	return identity_check(c->user_id, c->name, c->org, c->role);
}

/* Every field before the signature, with the given issuer key. */
static int cert_encode_body(const cc_cert *c, const uint8_t root_pk[CC_SIGN_PK_BYTES], cc_wbuf *w)
{
	int rc = cert_check(c);
	if (rc != CC_OK)
		return rc;
	cc_w_fixed(w, CERT_MAGIC, sizeof CERT_MAGIC);
	cc_w_u8(w, c->version);
	cc_w_u64(w, c->serial);
	cc_w_str(w, c->user_id);
	cc_w_str(w, c->name);
	cc_w_str(w, c->org);
	cc_w_str(w, c->role);
	cc_w_fixed(w, c->device_id, sizeof c->device_id);
	cc_w_fixed(w, c->sign_pk, sizeof c->sign_pk);
	cc_w_fixed(w, c->box_pk, sizeof c->box_pk);
	cc_w_i64(w, c->not_before);
	cc_w_i64(w, c->not_after);
	cc_w_fixed(w, root_pk, CC_SIGN_PK_BYTES);
	return w->err;
}

int cc_cert_encode(const cc_cert *c, struct cc_wbuf *w)
{
	int rc;
	if (!c || !w)
		return CC_ERR_INVALID_ARG;
	if ((rc = cert_encode_body(c, c->root_pk, w)) != CC_OK)
		return rc;
	cc_w_fixed(w, c->sig, sizeof c->sig);
	return w->err;
}

int cc_cert_decode(const uint8_t *p, size_t n, cc_cert *out)
{
	cc_cert c;
	cc_rbuf r;
	int rc;

	if (!out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof *out);
	memset(&c, 0, sizeof c);
	if (n > CC_CERT_MAX)
		return CC_ERR_TOO_LARGE;
	cc_r_init(&r, p, n);
	if ((rc = read_head(&r, CERT_MAGIC, CC_CERT_VERSION, &c.version)) != CC_OK)
		return rc;
	c.serial = cc_r_u64(&r);
	cc_r_str(&r, c.user_id, sizeof c.user_id);
	cc_r_str(&r, c.name, sizeof c.name);
	cc_r_str(&r, c.org, sizeof c.org);
	cc_r_str(&r, c.role, sizeof c.role);
	cc_r_fixed(&r, c.device_id, sizeof c.device_id);
	cc_r_fixed(&r, c.sign_pk, sizeof c.sign_pk);
	cc_r_fixed(&r, c.box_pk, sizeof c.box_pk);
	c.not_before = cc_r_i64(&r);
	c.not_after = cc_r_i64(&r);
	cc_r_fixed(&r, c.root_pk, sizeof c.root_pk);
	cc_r_fixed(&r, c.sig, sizeof c.sig);
	if ((rc = cc_r_finish(&r)) != CC_OK)
		return rc;
	if ((rc = cert_check(&c)) != CC_OK)
		return rc;
	*out = c;
	return CC_OK;
}

int cc_cert_sign(cc_cert *c, const cc_root_key *root)
{
	cc_wbuf w;
	uint8_t sig[CC_SIG_BYTES];
	int rc;

	if (!c || !root)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = cert_encode_body(c, root->pk, &w)) != CC_OK)
		goto out;
	if ((rc = cc_sign_ctx(root->sk, CTX_CERT, w.p, w.len, sig)) != CC_OK)
		goto out;
	memcpy(c->root_pk, root->pk, sizeof c->root_pk);
	memcpy(c->sig, sig, sizeof c->sig);
out:
	cc_w_free(&w);
	return rc;
}

int cc_cert_verify(const cc_cert *c, const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now,
                   const struct cc_revlist *revs)
{
	cc_wbuf w;
	int rc;

	if (!c || !root_pk)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = cert_check(c)) != CC_OK)
		goto out;
	if (sodium_memcmp(c->root_pk, root_pk, CC_SIGN_PK_BYTES) != 0) {
		rc = CC_ERR_WRONG_ROOT;
		goto out;
	}
	if ((rc = cert_encode_body(c, c->root_pk, &w)) != CC_OK)
		goto out;
	if ((rc = cc_verify_ctx(root_pk, CTX_CERT, w.p, w.len, c->sig)) != CC_OK)
		goto out;
	if (now < c->not_before) {
		rc = CC_ERR_NOT_YET_VALID;
		goto out;
	}
	if (now >= c->not_after) {
		rc = CC_ERR_EXPIRED;
		goto out;
	}
	if (revs) {
		/* The list must come from the same root; the caller verified its signature. */
		if (sodium_memcmp(revs->root_pk, root_pk, CC_SIGN_PK_BYTES) != 0) {
			rc = CC_ERR_WRONG_ROOT;
			goto out;
		}
		if (cc_revlist_contains(revs, c->serial, c->device_id)) {
			rc = CC_ERR_REVOKED;
			goto out;
		}
	}
	rc = CC_OK;
out:
	cc_w_free(&w);
	return rc;
}

int cc_cert_hash(const cc_cert *c, uint8_t out[CC_HASH_BYTES])
{
	cc_wbuf w;
	int rc;

	if (!c || !out)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = cc_cert_encode(c, &w)) != CC_OK)
		goto out;
	if (crypto_generichash(out, CC_HASH_BYTES, w.p, w.len, NULL, 0) != 0)
		rc = CC_ERR_CRYPTO;
out:
	cc_w_free(&w);
	return rc;
}

/* ---- certificate requests ------------------------------------------------ */

static int req_check(const cc_cert_request *q)
{
	if (q->version != CC_CERT_VERSION)
		return CC_ERR_VERSION;
	return identity_check(q->user_id, q->name, q->org, q->role);
}

static int req_encode_body(const cc_cert_request *q, cc_wbuf *w)
{
	int rc = req_check(q);
	if (rc != CC_OK)
		return rc;
	cc_w_fixed(w, REQ_MAGIC, sizeof REQ_MAGIC);
	cc_w_u8(w, q->version);
	cc_w_str(w, q->user_id);
	cc_w_str(w, q->name);
	cc_w_str(w, q->org);
	cc_w_str(w, q->role);
	cc_w_fixed(w, q->device_id, sizeof q->device_id);
	cc_w_fixed(w, q->sign_pk, sizeof q->sign_pk);
	cc_w_fixed(w, q->box_pk, sizeof q->box_pk);
	return w->err;
}

/* Copies a caller string into a fixed field; CC_ERR_TOO_LARGE if it does not fit. */
static int copy_str(char *dst, size_t cap, const char *src)
{
	size_t n;
	if (!src)
		return CC_ERR_INVALID_ARG;
	n = strnlen(src, cap);
	if (n >= cap)
		return CC_ERR_TOO_LARGE;
	memcpy(dst, src, n + 1);
	return CC_OK;
}

int cc_cert_request_create(cc_cert_request *req, const cc_device_keys *keys, const char *user_id, const char *name,
                           const char *org, const char *role)
{
	cc_cert_request q;
	cc_wbuf w;
	int rc;

	if (!req || !keys)
		return CC_ERR_INVALID_ARG;
	memset(&q, 0, sizeof q);
	cc_w_init(&w);
	q.version = CC_CERT_VERSION;
	if ((rc = copy_str(q.user_id, sizeof q.user_id, user_id)) != CC_OK ||
	    (rc = copy_str(q.name, sizeof q.name, name)) != CC_OK ||
	    (rc = copy_str(q.org, sizeof q.org, org)) != CC_OK || (rc = copy_str(q.role, sizeof q.role, role)) != CC_OK)
		goto out;
	memcpy(q.device_id, keys->device_id, sizeof q.device_id);
	memcpy(q.sign_pk, keys->sign_pk, sizeof q.sign_pk);
	memcpy(q.box_pk, keys->box_pk, sizeof q.box_pk);
	if ((rc = req_encode_body(&q, &w)) != CC_OK)
		goto out;
	if ((rc = cc_sign_ctx(keys->sign_sk, CTX_CERTREQ, w.p, w.len, q.sig)) != CC_OK)
		goto out;
	*req = q;
out:
	cc_w_free(&w);
	return rc;
}

int cc_cert_request_encode(const cc_cert_request *req, struct cc_wbuf *w)
{
	int rc;
	if (!req || !w)
		return CC_ERR_INVALID_ARG;
	if ((rc = req_encode_body(req, w)) != CC_OK)
		return rc;
	cc_w_fixed(w, req->sig, sizeof req->sig);
	return w->err;
}

int cc_cert_request_decode(const uint8_t *p, size_t n, cc_cert_request *out)
{
	cc_cert_request q;
	cc_rbuf r;
	int rc;

	if (!out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof *out);
	memset(&q, 0, sizeof q);
	if (n > CC_CERT_MAX)
		return CC_ERR_TOO_LARGE;
	cc_r_init(&r, p, n);
	if ((rc = read_head(&r, REQ_MAGIC, CC_CERT_VERSION, &q.version)) != CC_OK)
		return rc;
	cc_r_str(&r, q.user_id, sizeof q.user_id);
	cc_r_str(&r, q.name, sizeof q.name);
	cc_r_str(&r, q.org, sizeof q.org);
	cc_r_str(&r, q.role, sizeof q.role);
	cc_r_fixed(&r, q.device_id, sizeof q.device_id);
	cc_r_fixed(&r, q.sign_pk, sizeof q.sign_pk);
	cc_r_fixed(&r, q.box_pk, sizeof q.box_pk);
	cc_r_fixed(&r, q.sig, sizeof q.sig);
	if ((rc = cc_r_finish(&r)) != CC_OK)
		return rc;
	if ((rc = req_check(&q)) != CC_OK)
		return rc;
	*out = q;
	return CC_OK;
}

int cc_cert_request_verify(const cc_cert_request *req)
{
	cc_wbuf w;
	int rc;

	if (!req)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = req_encode_body(req, &w)) != CC_OK)
		goto out;
	rc = cc_verify_ctx(req->sign_pk, CTX_CERTREQ, w.p, w.len, req->sig);
out:
	cc_w_free(&w);
	return rc;
}

int cc_cert_issue(const cc_cert_request *req, const cc_root_key *root, uint64_t serial, int64_t not_before,
                  int64_t not_after, cc_cert *out)
{
	cc_cert c;
	int rc;

	if (!req || !root || !out)
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_cert_request_verify(req)) != CC_OK)
		return rc;
	if (not_before >= not_after)
		return CC_ERR_INVALID_ARG;
	memset(&c, 0, sizeof c);
	c.version = CC_CERT_VERSION;
	c.serial = serial;
	memcpy(c.user_id, req->user_id, sizeof c.user_id);
	memcpy(c.name, req->name, sizeof c.name);
	memcpy(c.org, req->org, sizeof c.org);
	memcpy(c.role, req->role, sizeof c.role);
	memcpy(c.device_id, req->device_id, sizeof c.device_id);
	memcpy(c.sign_pk, req->sign_pk, sizeof c.sign_pk);
	memcpy(c.box_pk, req->box_pk, sizeof c.box_pk);
	c.not_before = not_before;
	c.not_after = not_after;
	if ((rc = cc_cert_sign(&c, root)) != CC_OK)
		return rc;
	*out = c;
	return CC_OK;
}

/* ---- revocation lists ---------------------------------------------------- */

void cc_revlist_init(cc_revlist *l)
{
	if (!l)
		return;
	memset(l, 0, sizeof *l);
	l->version = CC_REVLIST_VERSION;
}

void cc_revlist_free(cc_revlist *l)
{
	if (!l)
		return;
	free(l->entries);
	cc_revlist_init(l);
}

int cc_revlist_add(cc_revlist *l, uint64_t serial, const uint8_t device_id[CC_DEVICE_ID_BYTES], int64_t at)
{
	cc_revoked *ne;
	uint32_t pos = 0;

	if (!l || !device_id || (l->count && !l->entries))
		return CC_ERR_INVALID_ARG;
	if (l->count >= CC_REVLIST_MAX_ENTRIES)
		return CC_ERR_TOO_LARGE;
	while (pos < l->count && l->entries[pos].serial < serial)
		pos++;
	if (pos < l->count && l->entries[pos].serial == serial)
		return CC_ERR_INVALID_ARG; /* already revoked */
	ne = realloc(l->entries, ((size_t)l->count + 1) * sizeof *ne);
	if (!ne)
		return CC_ERR_NOMEM;
	l->entries = ne;
	memmove(&ne[pos + 1], &ne[pos], (size_t)(l->count - pos) * sizeof *ne);
	ne[pos].serial = serial;
	memcpy(ne[pos].device_id, device_id, CC_DEVICE_ID_BYTES);
	ne[pos].revoked_at = at;
	l->count++;
	return CC_OK;
}

static int revlist_check(const cc_revlist *l)
{
	if (l->version != CC_REVLIST_VERSION)
		return CC_ERR_VERSION;
	if (l->count > CC_REVLIST_MAX_ENTRIES)
		return CC_ERR_TOO_LARGE;
	if (l->count && !l->entries)
		return CC_ERR_INVALID_ARG;
	for (uint32_t i = 1; i < l->count; i++)
		if (l->entries[i - 1].serial >= l->entries[i].serial)
			return CC_ERR_MALFORMED;
	return CC_OK;
}

static int revlist_encode_body(const cc_revlist *l, const uint8_t root_pk[CC_SIGN_PK_BYTES], cc_wbuf *w)
{
	int rc = revlist_check(l);
	if (rc != CC_OK)
		return rc;
	cc_w_fixed(w, REVLIST_MAGIC, sizeof REVLIST_MAGIC);
	cc_w_u8(w, l->version);
	cc_w_u64(w, l->number);
	cc_w_i64(w, l->issued_at);
	cc_w_u32(w, l->count);
	for (uint32_t i = 0; i < l->count; i++) {
		cc_w_u64(w, l->entries[i].serial);
		cc_w_fixed(w, l->entries[i].device_id, CC_DEVICE_ID_BYTES);
		cc_w_i64(w, l->entries[i].revoked_at);
	}
	cc_w_fixed(w, root_pk, CC_SIGN_PK_BYTES);
	return w->err;
}

int cc_revlist_sign(cc_revlist *l, const cc_root_key *root)
{
	cc_wbuf w;
	uint8_t sig[CC_SIG_BYTES];
	int rc;

	if (!l || !root)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = revlist_encode_body(l, root->pk, &w)) != CC_OK)
		goto out;
	if ((rc = cc_sign_ctx(root->sk, CTX_REVLIST, w.p, w.len, sig)) != CC_OK)
		goto out;
	memcpy(l->root_pk, root->pk, sizeof l->root_pk);
	memcpy(l->sig, sig, sizeof l->sig);
out:
	cc_w_free(&w);
	return rc;
}

int cc_revlist_encode(const cc_revlist *l, struct cc_wbuf *w)
{
	int rc;
	if (!l || !w)
		return CC_ERR_INVALID_ARG;
	if ((rc = revlist_encode_body(l, l->root_pk, w)) != CC_OK)
		return rc;
	cc_w_fixed(w, l->sig, sizeof l->sig);
	return w->err;
}

int cc_revlist_decode(const uint8_t *p, size_t n, cc_revlist *out)
{
	cc_revlist l;
	cc_rbuf r;
	int rc;

	if (!out)
		return CC_ERR_INVALID_ARG;
	cc_revlist_init(out);
	cc_revlist_init(&l);
	cc_r_init(&r, p, n);
	if ((rc = read_head(&r, REVLIST_MAGIC, CC_REVLIST_VERSION, &l.version)) != CC_OK)
		goto out;
	l.number = cc_r_u64(&r);
	l.issued_at = cc_r_i64(&r);
	l.count = cc_r_u32(&r);
	if (r.err) {
		rc = r.err;
		goto out;
	}
	/* Cap before allocating: the count must fit the limit and the input. */
	if (l.count > CC_REVLIST_MAX_ENTRIES) {
		rc = CC_ERR_TOO_LARGE;
		goto out;
	}
	if ((size_t)l.count > cc_r_left(&r) / REVOKED_ENTRY_BYTES) {
		rc = CC_ERR_TRUNCATED;
		goto out;
	}
	if (l.count) {
		l.entries = calloc(l.count, sizeof *l.entries);
		if (!l.entries) {
			rc = CC_ERR_NOMEM;
			goto out;
		}
	}
	for (uint32_t i = 0; i < l.count; i++) {
		l.entries[i].serial = cc_r_u64(&r);
		cc_r_fixed(&r, l.entries[i].device_id, CC_DEVICE_ID_BYTES);
		l.entries[i].revoked_at = cc_r_i64(&r);
	}
	cc_r_fixed(&r, l.root_pk, sizeof l.root_pk);
	cc_r_fixed(&r, l.sig, sizeof l.sig);
	if ((rc = cc_r_finish(&r)) != CC_OK)
		goto out;
	if ((rc = revlist_check(&l)) != CC_OK)
		goto out;
	*out = l;
	cc_revlist_init(&l); /* ownership moved */
	rc = CC_OK;
out:
	cc_revlist_free(&l);
	return rc;
}

int cc_revlist_verify(const cc_revlist *l, const uint8_t root_pk[CC_SIGN_PK_BYTES], const cc_revlist *held)
{
	cc_wbuf w;
	int rc;

	if (!l || !root_pk)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = revlist_check(l)) != CC_OK)
		goto out;
	if (sodium_memcmp(l->root_pk, root_pk, CC_SIGN_PK_BYTES) != 0) {
		rc = CC_ERR_WRONG_ROOT;
		goto out;
	}
	if ((rc = revlist_encode_body(l, l->root_pk, &w)) != CC_OK)
		goto out;
	if ((rc = cc_verify_ctx(root_pk, CTX_REVLIST, w.p, w.len, l->sig)) != CC_OK)
		goto out;
	if (held && l->number <= held->number) {
		rc = CC_ERR_STALE;
		goto out;
	}
	rc = CC_OK;
out:
	cc_w_free(&w);
	return rc;
}

int cc_revlist_contains(const cc_revlist *l, uint64_t serial, const uint8_t device_id[CC_DEVICE_ID_BYTES])
{
	uint32_t lo = 0, hi;

	if (!l || !l->entries)
		return 0;
	hi = l->count;
	while (lo < hi) { /* entries are sorted by serial */
		uint32_t mid = lo + (hi - lo) / 2;
		if (l->entries[mid].serial == serial)
			return 1;
		if (l->entries[mid].serial < serial)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (device_id)
		for (uint32_t i = 0; i < l->count; i++)
			if (memcmp(l->entries[i].device_id, device_id, CC_DEVICE_ID_BYTES) == 0)
				return 1;
	return 0;
}

/* ---- issuance log ---------------------------------------------------------- */

static int issuance_encode_body(const cc_issuance *e, const uint8_t root_pk[CC_SIGN_PK_BYTES], cc_wbuf *w)
{
	if (e->version != CC_ISSUANCE_VERSION)
		return CC_ERR_VERSION;
	cc_wbuf cw;
	cc_w_init(&cw);
	int rc = cc_cert_encode(&e->cert, &cw);
	if (rc == CC_OK && cw.err)
		rc = cw.err;
	if (rc == CC_OK) {
		cc_w_fixed(w, ISSUANCE_MAGIC, sizeof ISSUANCE_MAGIC);
		cc_w_u8(w, e->version);
		cc_w_u64(w, e->seq);
		cc_w_fixed(w, e->prev, CC_HASH_BYTES);
		cc_w_i64(w, e->issued_at);
		cc_w_var16(w, cw.p, cw.len);
		cc_w_fixed(w, root_pk, CC_SIGN_PK_BYTES);
		rc = w->err;
	}
	cc_w_free(&cw);
	return rc;
}

int cc_issuance_sign(cc_issuance *e, const cc_root_key *root)
{
	cc_wbuf w;
	uint8_t sig[CC_SIG_BYTES];
	int rc;

	if (!e || !root)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = issuance_encode_body(e, root->pk, &w)) == CC_OK &&
	    (rc = cc_sign_ctx(root->sk, CTX_ISSUANCE, w.p, w.len, sig)) == CC_OK) {
		memcpy(e->root_pk, root->pk, sizeof e->root_pk);
		memcpy(e->sig, sig, sizeof e->sig);
	}
	cc_w_free(&w);
	return rc;
}

int cc_issuance_encode(const cc_issuance *e, struct cc_wbuf *w)
{
	int rc;
	if (!e || !w)
		return CC_ERR_INVALID_ARG;
	if ((rc = issuance_encode_body(e, e->root_pk, w)) != CC_OK)
		return rc;
	cc_w_fixed(w, e->sig, sizeof e->sig);
	return w->err;
}

int cc_issuance_decode(const uint8_t *p, size_t n, cc_issuance *out, size_t *used)
{
	cc_issuance e;
	cc_rbuf r;
	const uint8_t *cp = NULL;
	size_t cn = 0;
	int rc;

	if (!out || !used || (!p && n))
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof *out);
	memset(&e, 0, sizeof e);
	cc_r_init(&r, p, n);
	if ((rc = read_head(&r, ISSUANCE_MAGIC, CC_ISSUANCE_VERSION, &e.version)) != CC_OK)
		return rc;
	e.seq = cc_r_u64(&r);
	cc_r_fixed(&r, e.prev, CC_HASH_BYTES);
	e.issued_at = cc_r_i64(&r);
	cc_r_var16(&r, &cp, &cn, CC_CERT_MAX);
	cc_r_fixed(&r, e.root_pk, CC_SIGN_PK_BYTES);
	cc_r_fixed(&r, e.sig, CC_SIG_BYTES);
	if (r.err)
		return r.err;
	if ((rc = cc_cert_decode(cp, cn, &e.cert)) != CC_OK)
		return rc;
	*used = n - cc_r_left(&r);
	*out = e;
	return CC_OK;
}

int cc_issuance_hash(const cc_issuance *e, uint8_t out[CC_HASH_BYTES])
{
	cc_wbuf w;
	int rc;

	if (!e || !out)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = cc_issuance_encode(e, &w)) == CC_OK &&
	    crypto_generichash(out, CC_HASH_BYTES, w.p, w.len, NULL, 0) != 0)
		rc = CC_ERR_CRYPTO;
	cc_w_free(&w);
	return rc;
}

/* What a device is: one device id is one identity key and one wrap key of
 * one user; a renewal repeats all of it, nothing else may repeat any part. */
struct iss_dev {
	uint8_t did[CC_DEVICE_ID_BYTES];
	uint8_t spk[CC_SIGN_PK_BYTES];
	uint8_t bpk[CC_BOX_PK_BYTES];
	char user[CC_USER_ID_MAX + 1];
};

static int dev_same(const struct iss_dev *a, const struct iss_dev *b)
{
	return memcmp(a->did, b->did, sizeof a->did) == 0 && memcmp(a->spk, b->spk, sizeof a->spk) == 0 &&
	       memcmp(a->bpk, b->bpk, sizeof a->bpk) == 0 && strcmp(a->user, b->user) == 0;
}

static int by_did(const void *a, const void *b)
{
	return memcmp(((const struct iss_dev *)a)->did, ((const struct iss_dev *)b)->did, CC_DEVICE_ID_BYTES);
}

static int by_spk(const void *a, const void *b)
{
	return memcmp(((const struct iss_dev *)a)->spk, ((const struct iss_dev *)b)->spk, CC_SIGN_PK_BYTES);
}

static int by_bpk(const void *a, const void *b)
{
	return memcmp(((const struct iss_dev *)a)->bpk, ((const struct iss_dev *)b)->bpk, CC_BOX_PK_BYTES);
}

/* CC_OK if every device id, identity key and wrap key names one device. */
static int devs_unique(struct iss_dev *d, size_t n)
{
	int (*cmp[3])(const void *, const void *) = {by_did, by_spk, by_bpk};
	for (int k = 0; k < 3; k++) {
		qsort(d, n, sizeof *d, cmp[k]);
		for (size_t i = 1; i < n; i++)
			if (cmp[k](&d[i - 1], &d[i]) == 0 && !dev_same(&d[i - 1], &d[i]))
				return CC_ERR_MALFORMED;
	}
	return CC_OK;
}

int cc_issuance_log_verify(const uint8_t *p, size_t n, const uint8_t root_pk[CC_SIGN_PK_BYTES], cc_issuance_log *out,
                           int (*each)(const cc_issuance *e, void *ctx), void *ctx)
{
	cc_issuance_log st;
	struct iss_dev *devs = NULL;
	size_t ndevs = 0, cap = 0, off = 0;
	int rc = CC_OK;

	if (!root_pk || (!p && n))
		return CC_ERR_INVALID_ARG;
	memset(&st, 0, sizeof st);
	while (off < n) {
		cc_issuance e;
		size_t used = 0;
		cc_wbuf w;
		if (st.count >= CC_ISSUANCE_MAX_ENTRIES) {
			rc = CC_ERR_TOO_LARGE;
			break;
		}
		if ((rc = cc_issuance_decode(p + off, n - off, &e, &used)) != CC_OK)
			break;
		if (e.seq != st.count || sodium_memcmp(e.prev, st.head, CC_HASH_BYTES) != 0 ||
		    (st.count && e.issued_at < st.last_at)) {
			rc = CC_ERR_CHAIN;
			break;
		}
		if (sodium_memcmp(e.root_pk, root_pk, CC_SIGN_PK_BYTES) != 0) {
			rc = CC_ERR_WRONG_ROOT;
			break;
		}
		cc_w_init(&w);
		rc = issuance_encode_body(&e, e.root_pk, &w);
		if (rc == CC_OK)
			rc = cc_verify_ctx(root_pk, CTX_ISSUANCE, w.p, w.len, e.sig);
		cc_w_free(&w);
		/* the certificate itself: same root, good signature; its validity
		 * period is not the log's business (an expired entry stays) */
		if (rc == CC_OK)
			rc = cc_cert_verify(&e.cert, root_pk, e.cert.not_before, NULL);
		if (rc != CC_OK)
			break;
		if (ndevs == cap) {
			size_t ncap = cap ? cap * 2 : 64;
			struct iss_dev *nd = realloc(devs, ncap * sizeof *nd);
			if (!nd) {
				rc = CC_ERR_NOMEM;
				break;
			}
			devs = nd;
			cap = ncap;
		}
		memcpy(devs[ndevs].did, e.cert.device_id, CC_DEVICE_ID_BYTES);
		memcpy(devs[ndevs].spk, e.cert.sign_pk, CC_SIGN_PK_BYTES);
		memcpy(devs[ndevs].bpk, e.cert.box_pk, CC_BOX_PK_BYTES);
		memcpy(devs[ndevs].user, e.cert.user_id, sizeof devs[ndevs].user);
		ndevs++;
		if ((rc = cc_issuance_hash(&e, st.head)) != CC_OK)
			break;
		st.last_at = e.issued_at;
		st.count++;
		off += used;
		if (each && (rc = each(&e, ctx)) != 0)
			break;
	}
	if (rc == CC_OK && ndevs > 1)
		rc = devs_unique(devs, ndevs);
	free(devs);
	if (rc == CC_OK && out)
		*out = st;
	return rc;
}
