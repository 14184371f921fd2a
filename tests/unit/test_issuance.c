/*
 * test_issuance.c: the root-signed, hash-chained issuance log (cc_cert.h,
 * docs/CRYPTO.md "Issuance log"): a good log verifies; a flip of any bit,
 * truncation at any length, a reordered, removed or re-signed-by-another-root
 * entry fails; a second device under an issued device id or key is refused,
 * a renewal of the same device is not.
 */
#include "check.h"

#include <cc_buf.h>
#include <cc_cert.h>
#include <cc_err.h>
#include <sodium.h>
#include <string.h>

#define T0 1767225600

static cc_root_key *root, *other;

static void issue(cc_cert *out, const cc_device_keys *k, const char *user, uint64_t serial)
{
	cc_cert_request req;
	CHECK_EQ_INT(cc_cert_request_create(&req, k, user, "Test", "Org", "ggd"), CC_OK);
	CHECK_EQ_INT(cc_cert_issue(&req, root, serial, T0, T0 + 86400, out), CC_OK);
}

/* Append an entry for cert to the log in w (head and count from the log so far). */
static void append(cc_wbuf *w, const cc_cert *cert, const cc_root_key *signer, int64_t at)
{
	cc_issuance_log lg;
	memset(&lg, 0, sizeof lg);
	if (w->len)
		CHECK_EQ_INT(cc_issuance_log_verify(w->p, w->len, signer->pk, &lg, NULL, NULL), CC_OK);
	cc_issuance e;
	memset(&e, 0, sizeof e);
	e.version = CC_ISSUANCE_VERSION;
	e.seq = lg.count;
	memcpy(e.prev, lg.head, sizeof e.prev);
	e.issued_at = at;
	e.cert = *cert;
	CHECK_EQ_INT(cc_issuance_sign(&e, signer), CC_OK);
	CHECK_EQ_INT(cc_issuance_encode(&e, w), CC_OK);
}

static int count_cb(const cc_issuance *e, void *ctx)
{
	uint64_t *n = ctx;
	CHECK_EQ_INT((long long)e->seq, (long long)*n);
	(*n)++;
	return 0;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	CHECK_EQ_INT(cc_root_key_generate(&other), CC_OK);
	cc_device_keys *a = NULL, *b = NULL, *c = NULL;
	CHECK_EQ_INT(cc_device_keys_generate(&a), CC_OK);
	CHECK_EQ_INT(cc_device_keys_generate(&b), CC_OK);
	CHECK_EQ_INT(cc_device_keys_generate(&c), CC_OK);
	cc_cert ca, cb, cc, ca2;
	issue(&ca, a, "anna", 1);
	issue(&cb, b, "bert", 2);
	issue(&ca2, a, "anna", 3); /* a renewal: the same device */

	/* the empty log is a log */
	cc_issuance_log lg;
	CHECK_EQ_INT(cc_issuance_log_verify(NULL, 0, root->pk, &lg, NULL, NULL), CC_OK);
	CHECK_EQ_INT((long long)lg.count, 0);

	cc_wbuf w;
	cc_w_init(&w);
	append(&w, &ca, root, T0);
	append(&w, &cb, root, T0 + 1);
	append(&w, &ca2, root, T0 + 2);
	uint64_t n = 0;
	CHECK_EQ_INT(cc_issuance_log_verify(w.p, w.len, root->pk, &lg, count_cb, &n), CC_OK);
	CHECK_EQ_INT((long long)lg.count, 3);
	CHECK_EQ_INT((long long)n, 3);
	CHECK_EQ_INT(cc_issuance_log_verify(w.p, w.len, other->pk, &lg, NULL, NULL), CC_ERR_WRONG_ROOT);

	/* every bit of the log matters */
	int bad = 0;
	for (size_t i = 0; i < w.len * 8; i++) {
		w.p[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (cc_issuance_log_verify(w.p, w.len, root->pk, NULL, NULL, NULL) == CC_OK)
			bad++;
		w.p[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	CHECK_EQ_INT(bad, 0);
	/* truncation anywhere but at an entry boundary fails; at a boundary it is a shorter log */
	size_t first = 0;
	{
		cc_issuance e;
		CHECK_EQ_INT(cc_issuance_decode(w.p, w.len, &e, &first), CC_OK);
	}
	for (size_t l = 1; l < w.len; l++) {
		int rc = cc_issuance_log_verify(w.p, l, root->pk, &lg, NULL, NULL);
		if (l == first)
			CHECK_EQ_INT(rc, CC_OK);
		else if (rc == CC_OK)
			CHECK(lg.count == 2); /* the boundary after the second entry */
	}
	/* an entry removed from the middle: the chain breaks */
	{
		cc_wbuf cut;
		cc_w_init(&cut);
		cc_w_fixed(&cut, w.p, first);
		size_t second = 0;
		cc_issuance e;
		CHECK_EQ_INT(cc_issuance_decode(w.p + first, w.len - first, &e, &second), CC_OK);
		cc_w_fixed(&cut, w.p + first + second, w.len - first - second);
		CHECK_EQ_INT(cc_issuance_log_verify(cut.p, cut.len, root->pk, NULL, NULL, NULL), CC_ERR_CHAIN);
		cc_w_free(&cut);
	}

	/* a second device under anna's device id (its own keys): refused */
	{
		cc_device_keys *m = NULL;
		CHECK_EQ_INT(cc_device_keys_generate(&m), CC_OK);
		memcpy(m->device_id, a->device_id, CC_DEVICE_ID_BYTES);
		cc_cert cm;
		issue(&cm, m, "mallory", 9);
		cc_wbuf w2;
		cc_w_init(&w2);
		cc_w_fixed(&w2, w.p, w.len);
		append(&w2, &cm, root, T0 + 3);
		CHECK_EQ_INT(cc_issuance_log_verify(w2.p, w2.len, root->pk, NULL, NULL, NULL), CC_ERR_MALFORMED);
		cc_w_free(&w2);
		cc_device_keys_free(m);
	}
	/* a new device id with bert's wrap key: refused */
	{
		memcpy(c->box_pk, b->box_pk, CC_BOX_PK_BYTES);
		issue(&cc, c, "carl", 10);
		cc_wbuf w3;
		cc_w_init(&w3);
		cc_w_fixed(&w3, w.p, w.len);
		append(&w3, &cc, root, T0 + 3);
		CHECK_EQ_INT(cc_issuance_log_verify(w3.p, w3.len, root->pk, NULL, NULL, NULL), CC_ERR_MALFORMED);
		cc_w_free(&w3);
	}

	cc_w_free(&w);
	cc_device_keys_free(a);
	cc_device_keys_free(b);
	cc_device_keys_free(c);
	cc_root_key_free(root);
	cc_root_key_free(other);
	return check_done();
}
