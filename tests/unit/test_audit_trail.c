/*
 * test_audit_trail.c: the client's audit trail driver (audit/audit_trail.c),
 * which `casus audit` and the browser's audit view (wasm, ctest
 * wasm.test_audit_trail runs this file under node) both use.
 *
 * Shows: audit.query pages (JSON, base64 as the server sends them) of a
 * trail of 30 entries with a checkpoint every 10, two of them countersigned
 * by a witness, verify whole with the witness counted; the same trail
 * rewritten at one entry by the holder of the audit key (chain recomputed,
 * every checkpoint re-signed) passes the audit key alone but fails on the
 * kept cosignatures (witness_mismatch) at or after the rewritten entry;
 * cosignatures by another key than the pinned witness are checked but not
 * counted; a part of the trail checks each checkpoint's signature; pages
 * that do not decode are refused with a message.
 */
#include "audit_trail.h"
#include "cc_audit.h"
#include "cc_buf.h"
#include "cc_err.h"
#include "check.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 30
#define EVERY 10
#define VICTIM 5

static uint8_t audit_pk[CC_SIGN_PK_BYTES], audit_sk[CC_SIGN_SK_BYTES];
static uint8_t wit_pk[CC_SIGN_PK_BYTES], wit_sk[CC_SIGN_SK_BYTES];
static uint8_t other_pk[CC_SIGN_PK_BYTES], other_sk[CC_SIGN_SK_BYTES];

static json_t *b64(const uint8_t *p, size_t n)
{
	char s[4096];
	sodium_bin2base64(s, sizeof s, p, n, sodium_base64_VARIANT_ORIGINAL);
	return json_string(s);
}

static json_t *cosign_json(const cc_audit_checkpoint *cp, const uint8_t *pk, const uint8_t *sk)
{
	static const uint8_t dev[16] = {7};
	cc_audit_cosign c;
	CHECK_EQ_INT(cc_audit_cosign_make(&c, audit_pk, cp, 1795000000000, dev, pk, "fenna", sk), CC_OK);
	cc_wbuf w;
	cc_w_init(&w);
	CHECK_EQ_INT(cc_audit_cosign_encode(&c, &w), CC_OK);
	json_t *j = b64(w.p, w.len);
	cc_w_free(&w);
	return j;
}

/* The trail as two audit.query pages. rewritten: entry VICTIM's access point
 * changed, the chain recomputed and every checkpoint re-signed with the audit
 * key. cosigns: the cosignatures of checkpoints 10 and 20 made over the
 * honest trail (what the server kept), by witness key (pk, sk); NULL: none. */
static json_t *pages(int rewritten, const uint8_t *pk, const uint8_t *sk)
{
	cc_audit_checkpoint honest[N / EVERY + 1];
	memset(honest, 0, sizeof honest);
	if (pk) {
		json_t *h = pages(0, NULL, NULL); /* the honest checkpoints, for the cosignatures */
		for (size_t pi = 0; pi < 2; pi++) {
			size_t i;
			json_t *o;
			json_array_foreach(json_object_get(json_array_get(h, pi), "checkpoints"), i, o) {
				uint8_t raw[CC_AUDIT_CP_BYTES];
				size_t bl = 0;
				const char *s = json_string_value(json_object_get(o, "checkpoint"));
				CHECK(sodium_base642bin(raw, sizeof raw, s, strlen(s), NULL, &bl, NULL,
				                        sodium_base64_VARIANT_ORIGINAL) == 0);
				cc_audit_checkpoint cp;
				CHECK_EQ_INT(cc_audit_checkpoint_decode(raw, bl, &cp), CC_OK);
				honest[(size_t)(cp.seq / EVERY)] = cp;
			}
		}
		json_decref(h);
	}
	char key[2 * CC_SIGN_PK_BYTES + 1];
	sodium_bin2hex(key, sizeof key, audit_pk, CC_SIGN_PK_BYTES);
	json_t *out = json_array();
	json_t *page = NULL;
	cc_audit_chain c;
	cc_audit_chain_init(&c);
	for (unsigned i = 1; i <= N; i++) {
		if (i == 1 || i == 16) {
			page = json_pack("{sss[]s[]}", "audit_key", key, "entries", "checkpoints");
			json_array_append_new(out, page);
		}
		cc_audit_entry e;
		cc_audit_entry_init(&e);
		e.time_ms = 1795000000000LL + (int64_t)i * 1500;
		e.event = CC_AUDIT_EV_MESSAGE_POST;
		e.outcome = CC_AUDIT_OUTCOME_SUCCESS;
		snprintf(e.actor_user, sizeof e.actor_user, "anna");
		snprintf(e.actor_role, sizeof e.actor_role, "casemanager");
		e.casus_id[0] = 0xca;
		snprintf(e.access_point, sizeof e.access_point, "%s",
		         rewritten && i == VICTIM ? "192.0.2.66:4444" : "[2001:db8::1]:443");
		cc_wbuf w;
		cc_w_init(&w);
		uint8_t h[CC_HASH_BYTES];
		CHECK_EQ_INT(cc_audit_chain_append(&c, &e, &w, h), CC_OK);
		json_array_append_new(json_object_get(page, "entries"),
		                      json_pack("{soso}", "entry", b64(w.p, w.len), "hash", b64(h, sizeof h)));
		cc_w_free(&w);
		if (i % EVERY == 0) {
			cc_audit_checkpoint cp;
			CHECK_EQ_INT(cc_audit_chain_checkpoint(&c, 1795000000000LL + i * 1500 + 1, audit_sk, &cp),
			             CC_OK);
			cc_w_init(&w);
			CHECK_EQ_INT(cc_audit_checkpoint_encode(&cp, &w), CC_OK);
			json_t *cs = json_array();
			if (pk && i <= 20)
				json_array_append_new(cs, cosign_json(&honest[i / EVERY], pk, sk));
			json_array_append_new(json_object_get(page, "checkpoints"),
			                      json_pack("{soso}", "checkpoint", b64(w.p, w.len), "cosigns", cs));
			cc_w_free(&w);
		}
	}
	return out;
}

static int load(cc_audit_trail *t, const json_t *ps, char *err, size_t errlen)
{
	cc_audit_trail_init(t);
	size_t i;
	json_t *p;
	json_array_foreach(ps, i, p) {
		int rc = cc_audit_trail_add_page(t, p, err, errlen);
		if (rc != CC_OK)
			return rc;
	}
	return CC_OK;
}

static void test_witnessed_trail_verifies(void)
{
	json_t *ps = pages(0, wit_pk, wit_sk);
	cc_audit_trail t;
	char err[200] = "";
	CHECK_EQ_INT(load(&t, ps, err, sizeof err), CC_OK);
	CHECK_EQ_INT(t.n, N);
	CHECK_EQ_INT(t.ncp, N / EVERY);
	CHECK_EQ_INT(t.ncs, 2);
	cc_audit_verifier v;
	CHECK_EQ_INT(cc_audit_trail_verify(&t, audit_pk, wit_pk, NULL, &v, NULL), CC_OK);
	CHECK_EQ_INT(v.entries, N);
	CHECK_EQ_INT(v.checkpoints, N / EVERY);
	CHECK_EQ_INT(v.witnessed, 2);
	CHECK_EQ_INT(v.last_witnessed_seq, 20);
	json_t *o = json_object();
	cc_audit_trail_witness_json(o, &v);
	CHECK_EQ_INT(json_integer_value(json_object_get(o, "witnessed")), 2);
	CHECK(strcmp(json_string_value(json_object_get(o, "last_witness")), "fenna") == 0);
	CHECK_EQ_INT(json_integer_value(json_object_get(o, "cosignatures_other_keys")), 0);
	json_decref(o);
	/* a part of the trail: the checkpoints are signed by the audit key, not by another */
	CHECK_EQ_INT(cc_audit_trail_check_signed(&t, audit_pk), CC_OK);
	CHECK_EQ_INT(cc_audit_trail_check_signed(&t, other_pk), CC_ERR_AUDIT_CHECKPOINT);
	cc_audit_trail_free(&t);
	json_decref(ps);
}

/* A checkpoint and its cosignatures that come again in a later page (pages
 * overlap, or a server repeats itself) count once: the repeats are dropped when
 * the trail is sorted, and the cosignatures are found by their checkpoint. */
static void test_repeated_checkpoints_count_once(void)
{
	json_t *ps = pages(0, wit_pk, wit_sk);
	json_t *again = json_pack("{sOs[]s[]}", "audit_key", json_object_get(json_array_get(ps, 0), "audit_key"),
	                          "entries", "checkpoints");
	size_t pi;
	json_t *pg;
	json_array_foreach(ps, pi, pg) {
		size_t i;
		json_t *o;
		json_array_foreach(json_object_get(pg, "checkpoints"), i, o)
			json_array_append(json_object_get(again, "checkpoints"), o);
	}
	json_array_append_new(ps, again);
	cc_audit_trail t;
	char err[200] = "";
	CHECK_EQ_INT(load(&t, ps, err, sizeof err), CC_OK);
	CHECK_EQ_INT(t.ncp, 2 * (N / EVERY)); /* as they came */
	CHECK_EQ_INT(t.ncs, 4);
	cc_audit_verifier v;
	CHECK_EQ_INT(cc_audit_trail_verify(&t, audit_pk, wit_pk, NULL, &v, NULL), CC_OK);
	CHECK_EQ_INT(t.ncp, N / EVERY); /* repeats dropped */
	CHECK_EQ_INT(v.entries, N);
	CHECK_EQ_INT(v.checkpoints, N / EVERY);
	CHECK_EQ_INT(v.witnessed, 2);
	for (size_t i = 1; i < t.ncp; i++)
		CHECK(t.cp[i - 1].seq < t.cp[i].seq);
	size_t first = 0, count = 0;
	cc_audit_trail_cosigns_at(&t, 20, &first, &count);
	CHECK_EQ_INT(count, 2); /* the one cosignature of checkpoint 20, twice */
	for (size_t i = first; i < first + count; i++)
		CHECK_EQ_INT(t.cs[i].seq, 20);
	cc_audit_trail_cosigns_at(&t, 21, &first, &count);
	CHECK_EQ_INT(count, 0);
	cc_audit_trail_free(&t);
	json_decref(ps);
}

static void test_rewritten_resigned_trail_is_caught_by_the_cosignatures(void)
{
	cc_audit_trail t;
	cc_audit_verifier v;
	char err[200] = "";
	/* without its witnesses the rewrite satisfies the audit key */
	json_t *bare = pages(1, NULL, NULL);
	CHECK_EQ_INT(load(&t, bare, err, sizeof err), CC_OK);
	CHECK_EQ_INT(cc_audit_trail_verify(&t, audit_pk, wit_pk, NULL, &v, NULL), CC_OK);
	CHECK_EQ_INT(v.witnessed, 0);
	cc_audit_trail_free(&t);
	json_decref(bare);
	/* the cosignatures the server kept do not match the re-signed checkpoints */
	json_t *forged = pages(1, wit_pk, wit_sk);
	CHECK_EQ_INT(load(&t, forged, err, sizeof err), CC_OK);
	CHECK(cc_audit_trail_verify(&t, audit_pk, wit_pk, NULL, &v, NULL) != CC_OK);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_WITNESS);
	CHECK(strcmp(cc_audit_fault_name(v.fault), "witness_mismatch") == 0);
	CHECK(v.fault_seq >= VICTIM);
	cc_audit_trail_free(&t);
	json_decref(forged);
}

static void test_other_witness_keys_are_not_counted(void)
{
	json_t *ps = pages(0, other_pk, other_sk);
	cc_audit_trail t;
	cc_audit_verifier v;
	char err[200] = "";
	CHECK_EQ_INT(load(&t, ps, err, sizeof err), CC_OK);
	CHECK_EQ_INT(cc_audit_trail_verify(&t, audit_pk, wit_pk, NULL, &v, NULL), CC_OK);
	CHECK_EQ_INT(v.witnessed, 0);
	CHECK_EQ_INT(v.cosigns_other, 2);
	/* no pinned witness: every verified cosignature counts */
	cc_audit_trail_free(&t);
	CHECK_EQ_INT(load(&t, ps, err, sizeof err), CC_OK);
	CHECK_EQ_INT(cc_audit_trail_verify(&t, audit_pk, NULL, NULL, &v, NULL), CC_OK);
	CHECK_EQ_INT(v.witnessed, 2);
	cc_audit_trail_free(&t);
	json_decref(ps);
}

static void test_pages_that_do_not_decode_are_refused(void)
{
	cc_audit_trail t;
	char err[200] = "";
	json_t *ps = pages(0, NULL, NULL);
	json_t *p0 = json_array_get(ps, 0);
	/* a changed entry still decodes, but its hash is damaged */
	json_object_set_new(json_array_get(json_object_get(p0, "entries"), 3), "hash", json_string("!!"));
	CHECK_EQ_INT(load(&t, ps, err, sizeof err), CC_ERR_MALFORMED);
	CHECK(strstr(err, "audit entry") != NULL);
	cc_audit_trail_free(&t);
	json_object_set_new(p0, "audit_key", json_string("00"));
	CHECK_EQ_INT(load(&t, ps, err, sizeof err), CC_ERR_MALFORMED);
	CHECK(strstr(err, "audit key") != NULL);
	cc_audit_trail_free(&t);
	json_decref(ps);
	ps = pages(0, wit_pk, wit_sk);
	json_t *cps = json_object_get(json_array_get(ps, 0), "checkpoints");
	json_array_append_new(json_object_get(json_array_get(cps, 0), "cosigns"), json_string("AAAA"));
	CHECK_EQ_INT(load(&t, ps, err, sizeof err), CC_ERR_MALFORMED);
	CHECK(strstr(err, "cosignature") != NULL);
	cc_audit_trail_free(&t);
	json_decref(ps);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	crypto_sign_keypair(audit_pk, audit_sk);
	crypto_sign_keypair(wit_pk, wit_sk);
	crypto_sign_keypair(other_pk, other_sk);
	CHECK_RUN(test_witnessed_trail_verifies);
	CHECK_RUN(test_repeated_checkpoints_count_once);
	CHECK_RUN(test_rewritten_resigned_trail_is_caught_by_the_cosignatures);
	CHECK_RUN(test_other_witness_keys_are_not_counted);
	CHECK_RUN(test_pages_that_do_not_decode_are_refused);
	return check_done();
}
