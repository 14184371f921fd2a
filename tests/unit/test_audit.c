/*
 * test_audit.c: audit entries, hash chain, checkpoints and the verifier.
 *
 * Shows: encode/decode roundtrip and strictness (truncation, trailing bytes,
 * bad strings, caps); known-answer vectors under $CASUS_VECTORS/audit/ made
 * with the fixed random source of test_rng.h and re-checked byte for byte;
 * and tamper tests on a chain of 100 entries with a checkpoint every 10: a
 * changed byte, a deleted entry, swapped entries, a cut tail, a forged or
 * removed checkpoint are each reported with the right sequence number, while
 * the untouched chain and a chain pruned to a signed anchor pass.
 *
 * CASUS_WRITE_VECTORS=1 rewrites the vector file instead of checking it;
 * CASUS_WRITE_SEEDS=<dir> also writes fuzz seeds for fuzz_audit.
 */
#include "cc_audit.h"
#include "cc_buf.h"
#include "cc_err.h"
#include "check.h"
#include "test_rng.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------ */

static uint8_t audit_pk[CC_SIGN_PK_BYTES], audit_sk[CC_SIGN_SK_BYTES];
static uint8_t casus_a[CC_AUDIT_ID_BYTES], device_a[CC_AUDIT_ID_BYTES];

static const unsigned events_cycle[] = {
	CC_AUDIT_EV_AUTH,          CC_AUDIT_EV_HISTORY_FETCH,  CC_AUDIT_EV_MESSAGE_POST,       CC_AUDIT_EV_KEY_FETCH,
	CC_AUDIT_EV_COMMIT_LEVEL,  CC_AUDIT_EV_GRANT,          CC_AUDIT_EV_COMMIT_BREAK_GLASS, CC_AUDIT_EV_AUDIT_QUERY,
	CC_AUDIT_EV_HISTORY_FETCH, CC_AUDIT_EV_REQUEST_DENIED,
};

/* A plausible entry number i (seq is set by the chain). */
static void make_entry(cc_audit_entry *e, unsigned i)
{
	cc_audit_entry_init(e);
	e->time_ms = 1795000000000LL + (int64_t)i * 1500;
	e->event = (uint16_t)events_cycle[i % (sizeof events_cycle / sizeof events_cycle[0])];
	e->outcome =
		(uint8_t)(e->event == CC_AUDIT_EV_REQUEST_DENIED ? CC_AUDIT_OUTCOME_DENIED : CC_AUDIT_OUTCOME_SUCCESS);
	snprintf(e->actor_user, sizeof e->actor_user, "cm.jansen%u", i % 3);
	memcpy(e->actor_device, device_a, sizeof device_a);
	snprintf(e->actor_role, sizeof e->actor_role, "%s", i % 2 ? "casemanager" : "procesregisseur");
	snprintf(e->actor_org, sizeof e->actor_org, "Leger des Heils \xc3\xa9\xc3\xa9n");
	snprintf(e->on_behalf_of, sizeof e->on_behalf_of, "Zorg- en Veiligheidshuis");
	memcpy(e->casus_id, casus_a, sizeof casus_a);
	snprintf(e->purpose, sizeof e->purpose, "casusoverleg kwetsbare vrouwen");
	snprintf(e->legal_basis, sizeof e->legal_basis, "Wmo 2015 art. 2.3.5; toestemming");
	e->level = (uint8_t)(1 + i % 5);
	if (e->event == CC_AUDIT_EV_COMMIT_LEVEL) {
		e->level_prev = (uint8_t)(i % 5);
		snprintf(e->reason, sizeof e->reason, "stagnatie, procesregie nodig");
	}
	if (e->event == CC_AUDIT_EV_GRANT) {
		e->ground = 1;
		e->n_msg_ids = 2;
		randombytes_buf(e->msg_ids[0], CC_AUDIT_ID_BYTES);
		randombytes_buf(e->msg_ids[1], CC_AUDIT_ID_BYTES);
	}
	if (e->event == CC_AUDIT_EV_COMMIT_BREAK_GLASS) {
		e->break_glass = 1;
		snprintf(e->reason, sizeof e->reason, "acuut gevaar, huisarts nodig");
	}
	if (e->event == CC_AUDIT_EV_HISTORY_FETCH) {
		e->seq_from = i;
		e->seq_to = i + 20;
		snprintf(e->object, sizeof e->object, "audience=zorg");
	}
	if (e->event == CC_AUDIT_EV_REQUEST_DENIED)
		snprintf(e->error, sizeof e->error, "CC_ERR_FORBIDDEN");
	snprintf(e->access_point, sizeof e->access_point, "[2001:db8::%x]:443", i);
}

#define NCHAIN 100
#define CP_EVERY 10

typedef struct rec {
	int is_cp;
	uint8_t *p;
	size_t n;
	uint8_t hash[CC_HASH_BYTES];
	uint64_t seq;
} rec;

static rec chain[NCHAIN + NCHAIN / CP_EVERY];
static size_t nchain;
static cc_audit_checkpoint cps[NCHAIN / CP_EVERY + 1]; /* by index seq/10 */

static uint8_t *dup_bytes(const uint8_t *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);
	if (q && n)
		memcpy(q, p, n);
	return q;
}

static void build_chain(void)
{
	cc_audit_chain c;
	cc_audit_chain_init(&c);
	nchain = 0;
	for (unsigned i = 1; i <= NCHAIN; i++) {
		cc_audit_entry e;
		make_entry(&e, i);
		cc_wbuf w;
		cc_w_init(&w);
		rec *r = &chain[nchain++];
		CHECK_EQ_INT(cc_audit_chain_append(&c, &e, &w, r->hash), CC_OK);
		CHECK(e.seq == i);
		r->is_cp = 0;
		r->p = dup_bytes(w.p, w.len);
		r->n = w.len;
		r->seq = i;
		cc_w_free(&w);
		if (i % CP_EVERY == 0) {
			cc_audit_checkpoint cp;
			CHECK_EQ_INT(cc_audit_chain_checkpoint(&c, 1795000000000LL + i * 1500 + 1, audit_sk, &cp),
			             CC_OK);
			CHECK(cp.seq == i && cp.count == CP_EVERY);
			cps[i / CP_EVERY] = cp;
			cc_w_init(&w);
			CHECK_EQ_INT(cc_audit_checkpoint_encode(&cp, &w), CC_OK);
			r = &chain[nchain++];
			r->is_cp = 1;
			r->p = dup_bytes(w.p, w.len);
			r->n = w.len;
			r->seq = i;
			cc_w_free(&w);
		}
	}
}

/* Feed recs in order (skipping NULL p) and finish. use_hash: pass stored hashes. */
static int run(const rec *const *rs, size_t n, const cc_audit_checkpoint *anchor, int use_hash, cc_audit_verifier *v)
{
	cc_audit_verifier_init(v, audit_pk, anchor);
	for (size_t i = 0; i < n; i++) {
		const rec *r = rs[i];
		if (r->is_cp)
			cc_audit_verifier_checkpoint(v, r->p, r->n);
		else
			cc_audit_verifier_entry(v, r->p, r->n, use_hash ? r->hash : NULL);
	}
	return cc_audit_verifier_finish(v);
}

static const rec *view[NCHAIN * 2];

/* The untouched chain as a list of pointers that a test may rearrange. */
static size_t view_all(void)
{
	for (size_t i = 0; i < nchain; i++)
		view[i] = &chain[i];
	return nchain;
}

static size_t find(uint64_t seq, int is_cp)
{
	for (size_t i = 0; i < nchain; i++)
		if (view[i] && view[i]->seq == seq && view[i]->is_cp == is_cp)
			return i;
	return (size_t)-1;
}

static size_t remove_at(size_t n, size_t at)
{
	CHECK(at < n); /* the record to remove exists (find did not return -1) */
	if (at >= n)
		return n;
	memmove(&view[at], &view[at + 1], (n - at - 1) * sizeof view[0]);
	return n - 1;
}

/* ---- tests -------------------------------------------------------------- */

static void test_roundtrip(void)
{
	cc_audit_entry e, d;
	make_entry(&e, 5); /* a grant: ids and ground */
	e.seq = 77;
	e.break_glass = 1;
	e.seq_from = 3;
	e.seq_to = 9;
	snprintf(e.error, sizeof e.error, "CC_ERR_FORBIDDEN");
	cc_wbuf w;
	cc_w_init(&w);
	CHECK_EQ_INT(cc_audit_entry_encode(&e, &w), CC_OK);
	CHECK_EQ_INT(cc_audit_entry_decode(w.p, w.len, &d), CC_OK);
	CHECK(d.seq == 77 && d.time_ms == e.time_ms && d.event == e.event && d.outcome == e.outcome);
	CHECK(strcmp(d.actor_user, e.actor_user) == 0 && strcmp(d.actor_role, e.actor_role) == 0);
	CHECK(strcmp(d.actor_org, e.actor_org) == 0 && strcmp(d.on_behalf_of, e.on_behalf_of) == 0);
	CHECK(strcmp(d.purpose, e.purpose) == 0 && strcmp(d.legal_basis, e.legal_basis) == 0);
	CHECK(strcmp(d.object, e.object) == 0 && strcmp(d.access_point, e.access_point) == 0);
	CHECK(strcmp(d.reason, e.reason) == 0 && strcmp(d.error, e.error) == 0);
	CHECK_MEM(d.actor_device, e.actor_device, CC_AUDIT_ID_BYTES);
	CHECK_MEM(d.casus_id, e.casus_id, CC_AUDIT_ID_BYTES);
	CHECK(d.level == e.level && d.level_prev == e.level_prev && d.ground == 1 && d.break_glass == 1);
	CHECK(d.seq_from == 3 && d.seq_to == 9 && d.n_msg_ids == 2);
	CHECK_MEM(d.msg_ids, e.msg_ids, 2 * CC_AUDIT_ID_BYTES);
	/* canonical: re-encoding the decoded entry gives the same bytes */
	cc_wbuf w2;
	cc_w_init(&w2);
	CHECK_EQ_INT(cc_audit_entry_encode(&d, &w2), CC_OK);
	CHECK(w2.len == w.len && memcmp(w2.p, w.p, w.len) == 0);
	cc_w_free(&w2);

	/* every truncation fails; a trailing byte fails */
	for (size_t cut = 0; cut < w.len; cut++)
		CHECK(cc_audit_entry_decode(w.p, cut, &d) != CC_OK);
	CHECK_EQ_INT(cc_audit_entry_decode(w.p, w.len - 1, &d), CC_ERR_TRUNCATED);
	uint8_t *longer = malloc(w.len + 1);
	memcpy(longer, w.p, w.len);
	longer[w.len] = 0;
	CHECK_EQ_INT(cc_audit_entry_decode(longer, w.len + 1, &d), CC_ERR_TRAILING);
	CHECK(d.seq == 0); /* zeroed on failure */
	/* unknown version */
	memcpy(longer, w.p, w.len);
	longer[0] = 2;
	CHECK_EQ_INT(cc_audit_entry_decode(longer, w.len, &d), CC_ERR_VERSION);
	/* seq 0 and event 0 are malformed */
	memcpy(longer, w.p, w.len);
	memset(longer + 1, 0, 8);
	CHECK_EQ_INT(cc_audit_entry_decode(longer, w.len, &d), CC_ERR_MALFORMED);
	memcpy(longer, w.p, w.len);
	longer[17] = 0;
	longer[18] = 0;
	CHECK_EQ_INT(cc_audit_entry_decode(longer, w.len, &d), CC_ERR_MALFORMED);
	/* unknown outcome */
	memcpy(longer, w.p, w.len);
	longer[19] = 3;
	CHECK_EQ_INT(cc_audit_entry_decode(longer, w.len, &d), CC_ERR_MALFORMED);
	/* an unknown but non-zero event code decodes (the set is open) */
	memcpy(longer, w.p, w.len);
	longer[17] = 0x7f;
	CHECK_EQ_INT(cc_audit_entry_decode(longer, w.len, &d), CC_OK);
	CHECK(cc_audit_event_name(d.event) == NULL);
	free(longer);
	cc_w_free(&w);

	/* encoder refusals */
	cc_audit_entry bad;
	make_entry(&bad, 1);
	bad.seq = 1;
	cc_w_init(&w);
	bad.outcome = 9;
	CHECK_EQ_INT(cc_audit_entry_encode(&bad, &w), CC_ERR_MALFORMED);
	bad.outcome = 0;
	bad.ground = 6;
	CHECK_EQ_INT(cc_audit_entry_encode(&bad, &w), CC_ERR_MALFORMED);
	bad.ground = 0;
	bad.seq_from = 5;
	bad.seq_to = 4;
	CHECK_EQ_INT(cc_audit_entry_encode(&bad, &w), CC_ERR_MALFORMED);
	bad.seq_from = bad.seq_to = 0;
	bad.n_msg_ids = CC_AUDIT_MSG_IDS_MAX + 1;
	CHECK_EQ_INT(cc_audit_entry_encode(&bad, &w), CC_ERR_TOO_LARGE);
	bad.n_msg_ids = 0;
	snprintf(bad.reason, sizeof bad.reason, "line\nbreak");
	CHECK_EQ_INT(cc_audit_entry_encode(&bad, &w), CC_ERR_MALFORMED);
	snprintf(bad.reason, sizeof bad.reason, "bad \xc0\xaf utf8");
	CHECK_EQ_INT(cc_audit_entry_encode(&bad, &w), CC_ERR_MALFORMED);
	snprintf(bad.reason, sizeof bad.reason, "surrogate \xed\xa0\x80");
	CHECK_EQ_INT(cc_audit_entry_encode(&bad, &w), CC_ERR_MALFORMED);
	bad.reason[0] = 0;
	memset(bad.actor_role, 'r', sizeof bad.actor_role); /* no NUL within the array */
	CHECK_EQ_INT(cc_audit_entry_encode(&bad, &w), CC_ERR_TOO_LARGE);
	CHECK_EQ_INT(w.len, 0);
	cc_w_free(&w);

	/* the largest entry fits CC_AUDIT_ENTRY_MAX and round-trips */
	cc_audit_entry big;
	cc_audit_entry_init(&big);
	big.seq = UINT64_MAX;
	big.event = UINT16_MAX;
	big.time_ms = INT64_MIN;
	memset(big.actor_user, 'u', CC_AUDIT_USER_MAX);
	memset(big.actor_role, 'r', CC_AUDIT_ROLE_MAX);
	memset(big.actor_org, 'o', CC_AUDIT_ORG_MAX);
	memset(big.on_behalf_of, 'b', CC_AUDIT_BEHALF_MAX);
	memset(big.purpose, 'p', CC_AUDIT_PURPOSE_MAX);
	memset(big.legal_basis, 'l', CC_AUDIT_LEGAL_BASIS_MAX);
	memset(big.object, 'x', CC_AUDIT_OBJECT_MAX);
	memset(big.access_point, 'a', CC_AUDIT_ACCESS_POINT_MAX);
	memset(big.reason, 'e', CC_AUDIT_REASON_MAX);
	memset(big.error, 'E', CC_AUDIT_ERROR_MAX);
	big.n_msg_ids = CC_AUDIT_MSG_IDS_MAX;
	big.seq_to = UINT64_MAX;
	cc_w_init(&w);
	CHECK_EQ_INT(cc_audit_entry_encode(&big, &w), CC_OK);
	CHECK(w.len <= CC_AUDIT_ENTRY_MAX);
	CHECK_EQ_INT(cc_audit_entry_decode(w.p, w.len, &d), CC_OK);
	cc_w_free(&w);
	/* one more byte in any string is refused */
	big.reason[CC_AUDIT_REASON_MAX] = 'e';
	cc_w_init(&w);
	CHECK_EQ_INT(cc_audit_entry_encode(&big, &w), CC_ERR_TOO_LARGE);
	cc_w_free(&w);
}

static void test_str_copy(void)
{
	char out[8];
	CHECK_EQ_INT(cc_audit_str_copy(out, sizeof out, "abc"), 0);
	CHECK(strcmp(out, "abc") == 0);
	CHECK_EQ_INT(cc_audit_str_copy(out, sizeof out,
	                               "a\nb\x01"
	                               "c"),
	             1);
	CHECK(strcmp(out, "a?b?c") == 0);
	/* truncation never splits a UTF-8 sequence: 6 bytes of "é" x 4 = 8 bytes */
	CHECK_EQ_INT(cc_audit_str_copy(out, sizeof out, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"), 1);
	CHECK(strcmp(out, "\xc3\xa9\xc3\xa9\xc3\xa9") == 0);
	CHECK_EQ_INT(cc_audit_str_copy(out, sizeof out, "\xff\xfe"), 1);
	CHECK(strcmp(out, "??") == 0);
	CHECK_EQ_INT(cc_audit_str_copy(out, sizeof out, NULL), 0);
	CHECK(out[0] == 0);
	/* whatever goes in, the result is accepted by the encoder */
	cc_audit_entry e;
	make_entry(&e, 1);
	e.seq = 1;
	cc_audit_str_copy(e.reason, sizeof e.reason, "typed\r\nreason \x80\xc3 with \x1b[31m escapes");
	cc_wbuf w;
	cc_w_init(&w);
	CHECK_EQ_INT(cc_audit_entry_encode(&e, &w), CC_OK);
	cc_w_free(&w);
}

static void test_checkpoint_codec(void)
{
	cc_audit_checkpoint cp, d;
	memset(&cp, 0, sizeof cp);
	cp.version = CC_AUDIT_CP_VERSION;
	cp.seq = 40;
	cp.count = 10;
	cp.time_ms = 1795000000123LL;
	memset(cp.entry_hash, 0xab, sizeof cp.entry_hash);
	CHECK_EQ_INT(cc_audit_checkpoint_sign(&cp, audit_sk), CC_OK);
	CHECK_EQ_INT(cc_audit_checkpoint_verify(&cp, audit_pk), CC_OK);
	cc_wbuf w;
	cc_w_init(&w);
	CHECK_EQ_INT(cc_audit_checkpoint_encode(&cp, &w), CC_OK);
	CHECK_EQ_INT(w.len, CC_AUDIT_CP_BYTES);
	CHECK_EQ_INT(cc_audit_checkpoint_decode(w.p, w.len, &d), CC_OK);
	CHECK_EQ_INT(cc_audit_checkpoint_verify(&d, audit_pk), CC_OK);
	for (size_t cut = 0; cut < w.len; cut++)
		CHECK(cc_audit_checkpoint_decode(w.p, cut, &d) != CC_OK);
	uint8_t longer[CC_AUDIT_CP_BYTES + 1];
	memcpy(longer, w.p, w.len);
	longer[w.len] = 1;
	CHECK_EQ_INT(cc_audit_checkpoint_decode(longer, sizeof longer, &d), CC_ERR_TRAILING);
	/* any changed byte breaks the signature (or the decode) */
	for (size_t i = 0; i < w.len; i++) {
		memcpy(longer, w.p, w.len);
		longer[i] ^= 0x01;
		int ok = cc_audit_checkpoint_decode(longer, w.len, &d) == CC_OK &&
		         cc_audit_checkpoint_verify(&d, audit_pk) == CC_OK;
		CHECK(!ok);
	}
	/* another key's signature is refused */
	uint8_t pk2[CC_SIGN_PK_BYTES], sk2[CC_SIGN_SK_BYTES];
	crypto_sign_keypair(pk2, sk2);
	CHECK_EQ_INT(cc_audit_checkpoint_verify(&cp, pk2), CC_ERR_AUDIT_CHECKPOINT);
	/* count must be 1..seq */
	cp.count = 41;
	cc_wbuf w2;
	cc_w_init(&w2);
	CHECK_EQ_INT(cc_audit_checkpoint_encode(&cp, &w2), CC_ERR_MALFORMED);
	cc_w_free(&w2);
	cc_w_free(&w);
}

static void test_writer(void)
{
	cc_audit_chain c;
	cc_audit_chain_init(&c);
	cc_audit_checkpoint cp;
	CHECK_EQ_INT(cc_audit_chain_checkpoint(&c, 1, audit_sk, &cp), CC_ERR_INVALID_ARG); /* empty */
	cc_audit_entry e;
	make_entry(&e, 1);
	cc_wbuf w;
	cc_w_init(&w);
	uint8_t h[CC_HASH_BYTES], h1[CC_HASH_BYTES];
	CHECK_EQ_INT(cc_audit_chain_append(&c, &e, &w, h1), CC_OK);
	CHECK(c.last_seq == 1 && e.seq == 1);
	/* the hash is BLAKE2b-256(context || zero prev || encoding) */
	uint8_t zero[CC_HASH_BYTES] = {0};
	CHECK_EQ_INT(cc_audit_entry_hash(zero, w.p, w.len, h), CC_OK);
	CHECK_MEM(h, h1, CC_HASH_BYTES);
	uint8_t manual[CC_HASH_BYTES];
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof manual);
	crypto_generichash_update(&st, (const unsigned char *)"casus.v1 audit entry", 20);
	crypto_generichash_update(&st, zero, sizeof zero);
	crypto_generichash_update(&st, w.p, w.len);
	crypto_generichash_final(&st, manual, sizeof manual);
	CHECK_MEM(manual, h1, CC_HASH_BYTES);
	/* a refused entry does not advance the chain nor leave bytes behind */
	size_t len_before = w.len;
	cc_audit_entry bad;
	make_entry(&bad, 2);
	bad.outcome = 7;
	CHECK(cc_audit_chain_append(&c, &bad, &w, h) != CC_OK);
	CHECK(c.last_seq == 1 && w.len == len_before);
	CHECK_MEM(c.head, h1, CC_HASH_BYTES);
	CHECK_EQ_INT(cc_audit_chain_checkpoint(&c, 5, audit_sk, &cp), CC_OK);
	CHECK(cp.seq == 1 && cp.count == 1);
	CHECK_EQ_INT(cc_audit_chain_checkpoint(&c, 6, audit_sk, &cp), CC_ERR_INVALID_ARG); /* already sealed */
	/* resume from stored state continues the same chain */
	cc_audit_chain c2;
	cc_audit_chain_resume(&c2, c.last_seq, c.head, c.last_cp_seq);
	cc_audit_entry e2a, e2b;
	make_entry(&e2a, 2);
	e2b = e2a;
	cc_wbuf wa, wb;
	cc_w_init(&wa);
	cc_w_init(&wb);
	uint8_t ha[CC_HASH_BYTES], hb[CC_HASH_BYTES];
	CHECK_EQ_INT(cc_audit_chain_append(&c, &e2a, &wa, ha), CC_OK);
	CHECK_EQ_INT(cc_audit_chain_append(&c2, &e2b, &wb, hb), CC_OK);
	CHECK_MEM(ha, hb, CC_HASH_BYTES);
	cc_w_free(&wa);
	cc_w_free(&wb);
	cc_w_free(&w);
}

static void test_verifier_passes_the_untouched_chain(void)
{
	cc_audit_verifier v;
	size_t n;

	/* untouched chain passes, with and without stored hashes */
	n = view_all();
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_OK);
	CHECK(v.entries == NCHAIN && v.checkpoints == NCHAIN / CP_EVERY);
	CHECK_EQ_INT(cc_audit_verifier_unsealed(&v), 0);
	CHECK_EQ_INT(run(view, n, NULL, 0, &v), CC_OK);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_NONE);
}

static void test_verifier_names_a_changed_entry(void)
{
	cc_audit_verifier v;
	size_t n, at;

	/* change one byte of entry 50: every single-byte change names seq 50 */
	at = find(50, 0);
	rec mod = chain[at];
	mod.p = dup_bytes(chain[at].p, chain[at].n);
	unsigned named = 0, hash_faults = 0;
	for (size_t i = 0; i < mod.n; i++) {
		memcpy(mod.p, chain[at].p, mod.n);
		mod.p[i] ^= 0x20;
		n = view_all();
		view[at] = &mod;
		int rc = run(view, n, NULL, 1, &v);
		if (rc == CC_ERR_AUDIT_CHAIN && v.fault_seq == 50)
			named++;
		else
			fprintf(stderr, "byte %zu: rc %d fault %s seq %llu\n", i, rc, cc_audit_fault_name(v.fault),
			        (unsigned long long)v.fault_seq);
		if (v.fault == CC_AUDIT_FAULT_HASH)
			hash_faults++;
	}
	CHECK_EQ_INT(named, mod.n);
	CHECK(hash_faults > mod.n / 2);
	/* a byte in a text field: a hash fault at 50 */
	memcpy(mod.p, chain[at].p, mod.n);
	mod.p[23] ^= 0x01; /* inside actor_user */
	n = view_all();
	view[at] = &mod;
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_HASH);
	CHECK_EQ_INT(v.fault_seq, 50);
	/* same change without stored hashes: the checkpoint at 50 catches it */
	CHECK_EQ_INT(run(view, n, NULL, 0, &v), CC_ERR_AUDIT_CHECKPOINT);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_CP_MISMATCH);
	CHECK_EQ_INT(v.fault_seq, 50);
	/* an attacker who also rewrites the stored hashes of 45..100: still caught */
	at = find(45, 0);
	free(mod.p);
	mod = chain[at];
	mod.p = dup_bytes(chain[at].p, chain[at].n);
	mod.p[23] ^= 0x01; /* inside actor_user */
	static rec rewritten[NCHAIN * 2];
	n = view_all();
	uint8_t prevh[CC_HASH_BYTES];
	memcpy(prevh, chain[find(44, 0)].hash, CC_HASH_BYTES);
	for (size_t i = at; i < n; i++) {
		rewritten[i] = *view[i];
		if (i == at)
			rewritten[i] = mod;
		if (!rewritten[i].is_cp) {
			cc_audit_entry_hash(prevh, rewritten[i].p, rewritten[i].n, rewritten[i].hash);
			memcpy(prevh, rewritten[i].hash, CC_HASH_BYTES);
		}
		view[i] = &rewritten[i];
	}
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_ERR_AUDIT_CHECKPOINT);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_CP_MISMATCH);
	CHECK_EQ_INT(v.fault_seq, 50);
	free(mod.p);
}

static void test_verifier_names_a_deleted_entry(void)
{
	cc_audit_verifier v;
	size_t n;

	/* delete entry 50: a gap at 50 */
	n = view_all();
	n = remove_at(n, find(50, 0));
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_GAP);
	CHECK_EQ_INT(v.fault_seq, 50);
	CHECK_EQ_INT(v.found_seq, 51);
	/* delete the first entry */
	n = view_all();
	n = remove_at(n, 0);
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_GAP);
	CHECK_EQ_INT(v.fault_seq, 1);
}

static void test_verifier_names_reordered_entries(void)
{
	cc_audit_verifier v;
	size_t n;

	/* swap entries 41 and 42: out of order at 41 */
	n = view_all();
	{
		size_t a = find(41, 0), b = find(42, 0);
		const rec *t = view[a];
		view[a] = view[b];
		view[b] = t;
	}
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_ORDER);
	CHECK_EQ_INT(v.fault_seq, 41);
	/* swap 30 and 35 (across a checkpoint): out of order at 30 */
	n = view_all();
	{
		size_t a = find(31, 0), b = find(35, 0);
		const rec *t = view[a];
		view[a] = view[b];
		view[b] = t;
	}
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_ORDER);
	CHECK_EQ_INT(v.fault_seq, 31);
	CHECK_EQ_INT(v.found_seq, 35);
	/* an entry replayed twice */
	n = view_all();
	memmove(&view[find(60, 0) + 1], &view[find(60, 0)], (n - find(60, 0)) * sizeof view[0]);
	n++;
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_ORDER);
	CHECK_EQ_INT(v.fault_seq, 61);
	CHECK_EQ_INT(v.found_seq, 60);
}

static void test_verifier_names_a_cut_tail(void)
{
	cc_audit_verifier v;
	size_t n;

	/* cut the tail (entries 96..100) but the checkpoint at 100 remains */
	n = view_all();
	for (uint64_t s = 96; s <= 100; s++)
		n = remove_at(n, find(s, 0));
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_TAIL_CUT);
	CHECK_EQ_INT(v.fault_seq, 96);
	/* cut the tail after the checkpoint at 90, checkpoint 100 taken too:
	 * the stream alone looks whole ... */
	n = view_all();
	n = find(90, 1) + 1;
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_OK);
	/* ... but not to a verifier that remembers checkpoint 100 */
	cc_audit_verifier_init(&v, audit_pk, NULL);
	{
		const rec *known = &chain[find(100, 1)];
		CHECK_EQ_INT(cc_audit_verifier_checkpoint(&v, known->p, known->n), CC_OK);
		for (size_t i = 0; i < n; i++) {
			if (view[i]->is_cp)
				cc_audit_verifier_checkpoint(&v, view[i]->p, view[i]->n);
			else
				cc_audit_verifier_entry(&v, view[i]->p, view[i]->n, view[i]->hash);
		}
	}
	CHECK_EQ_INT(cc_audit_verifier_finish(&v), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_TAIL_CUT);
	CHECK_EQ_INT(v.fault_seq, 91);
	/* entries after the last checkpoint are reported as unsealed */
	n = view_all();
	n = find(95, 0) + 1;
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_OK);
	CHECK_EQ_INT(cc_audit_verifier_unsealed(&v), 5);
}

static void test_verifier_names_bad_checkpoints(void)
{
	cc_audit_verifier v;
	size_t n, at;

	/* forge a checkpoint: change its hash (signature no longer verifies) */
	n = view_all();
	at = find(50, 1);
	rec forged = chain[at];
	forged.p = dup_bytes(chain[at].p, chain[at].n);
	forged.p[10] ^= 0x01;
	view[at] = &forged;
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_ERR_AUDIT_CHECKPOINT);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_CP_SIGNATURE);
	CHECK_EQ_INT(v.fault_seq, 50);
	/* a well-formed checkpoint signed by another key */
	{
		uint8_t pk2[CC_SIGN_PK_BYTES], sk2[CC_SIGN_SK_BYTES];
		crypto_sign_keypair(pk2, sk2);
		cc_audit_checkpoint cp = cps[5];
		CHECK_EQ_INT(cc_audit_checkpoint_sign(&cp, sk2), CC_OK);
		cc_wbuf w;
		cc_w_init(&w);
		CHECK_EQ_INT(cc_audit_checkpoint_encode(&cp, &w), CC_OK);
		memcpy(forged.p, w.p, w.len);
		cc_w_free(&w);
		CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_ERR_AUDIT_CHECKPOINT);
		CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_CP_SIGNATURE);
		CHECK_EQ_INT(v.fault_seq, 50);
	}
	free(forged.p);
	/* remove the checkpoint at 50: the count in the one at 60 says so */
	n = view_all();
	n = remove_at(n, find(50, 1));
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_ERR_AUDIT_CHECKPOINT);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_CP_MISSING);
	CHECK_EQ_INT(v.fault_seq, 60);
	/* a checkpoint ahead of its entry waits and still matches */
	n = view_all();
	{
		size_t c = find(20, 1), pos = find(18, 0);
		const rec *t = view[c];
		memmove(&view[pos + 1], &view[pos], (c - pos) * sizeof view[0]);
		view[pos] = t;
	}
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_OK);
	CHECK(v.checkpoints == NCHAIN / CP_EVERY);
	/* a checkpoint behind the chain is out of place */
	n = view_all();
	{
		size_t c = find(20, 1);
		const rec *t = view[c];
		size_t to = find(22, 0);
		memmove(&view[c], &view[c + 1], (to - c) * sizeof view[0]);
		view[to] = t;
	}
	CHECK_EQ_INT(run(view, n, NULL, 1, &v), CC_ERR_AUDIT_CHECKPOINT);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_CP_ORDER);
}

static void test_verifier_accepts_a_pruned_trail_from_its_anchor(void)
{
	cc_audit_verifier v;
	size_t n;

	/* pruning: drop entries 1..30 and checkpoints 10, 20; anchor at checkpoint 30 */
	n = view_all();
	size_t first = find(31, 0);
	const rec *const *pruned = &view[find(30, 1)]; /* stream starts with cp 30 itself */
	size_t npruned = n - find(30, 1);
	CHECK_EQ_INT(run(pruned, npruned, &cps[3], 1, &v), CC_OK);
	CHECK(v.entries == NCHAIN - 30 && v.checkpoints == 7);
	CHECK_EQ_INT(run(&view[first], n - first, &cps[3], 1, &v), CC_OK);
	/* without the anchor the pruned trail shows a gap from 1 */
	CHECK_EQ_INT(run(&view[first], n - first, NULL, 1, &v), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_GAP);
	CHECK_EQ_INT(v.fault_seq, 1);
	/* a forged anchor is refused at init */
	cc_audit_checkpoint bad_anchor = cps[3];
	bad_anchor.entry_hash[0] ^= 1;
	CHECK_EQ_INT(cc_audit_verifier_init(&v, audit_pk, &bad_anchor), CC_ERR_AUDIT_CHECKPOINT);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_CP_SIGNATURE);
	CHECK_EQ_INT(cc_audit_verifier_finish(&v), CC_ERR_AUDIT_CHECKPOINT);
	/* anchor at 30 but entry 31 also pruned: gap at 31 */
	CHECK_EQ_INT(run(&view[first + 1], n - first - 1, &cps[3], 1, &v), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_GAP);
	CHECK_EQ_INT(v.fault_seq, 31);
	/* an empty trail verifies (nothing to check) */
	CHECK_EQ_INT(run(view, 0, NULL, 1, &v), CC_OK);
}

static void test_every_fault_has_a_name_and_text(void)
{
	/* names and texts exist for every fault */
	for (int f = 0; f <= CC_AUDIT_FAULT_NOT_EXTENDING; f++) {
		CHECK(strcmp(cc_audit_fault_name((enum cc_audit_fault)f), "unknown") != 0);
		CHECK(strcmp(cc_audit_fault_text((enum cc_audit_fault)f), "unknown fault") != 0);
	}
}

/* ---- witnesses, remembered checkpoints after a prune, restore segments ---- */

static uint8_t wit_pk[CC_SIGN_PK_BYTES], wit_sk[CC_SIGN_SK_BYTES];

static size_t make_cosign(const cc_audit_checkpoint *cp, uint8_t *out)
{
	static const uint8_t dev[16] = {7};
	cc_audit_cosign c;
	CHECK_EQ_INT(cc_audit_cosign_make(&c, audit_pk, cp, 1795000000000, dev, wit_pk, "fenna", wit_sk), CC_OK);
	cc_wbuf w;
	cc_w_init(&w);
	CHECK_EQ_INT(cc_audit_cosign_encode(&c, &w), CC_OK);
	size_t n = w.len;
	memcpy(out, w.p, n);
	cc_w_free(&w);
	return n;
}

/* The chain with cosignatures of checkpoints 20 and 50 after them. */
static int run_witnessed(const cc_audit_checkpoint *cp20, const cc_audit_checkpoint *cp50, const uint8_t *pin,
                         cc_audit_verifier *v)
{
	uint8_t c20[CC_AUDIT_COSIGN_MAX], c50[CC_AUDIT_COSIGN_MAX];
	size_t n20 = make_cosign(cp20, c20), n50 = make_cosign(cp50, c50);
	cc_audit_verifier_init(v, audit_pk, NULL);
	if (pin)
		cc_audit_verifier_pin_witness(v, pin);
	for (size_t i = 0; i < nchain; i++) {
		const rec *r = &chain[i];
		if (!r->is_cp) {
			cc_audit_verifier_entry(v, r->p, r->n, r->hash);
			continue;
		}
		cc_audit_verifier_checkpoint(v, r->p, r->n);
		if (r->seq == 20)
			cc_audit_verifier_cosign(v, c20, n20);
		if (r->seq == 50)
			cc_audit_verifier_cosign(v, c50, n50);
	}
	return cc_audit_verifier_finish(v);
}

static void test_witness_cosignatures(void)
{
	cc_audit_verifier v;
	crypto_sign_keypair(wit_pk, wit_sk);
	/* codec: round trip, strictness, signature */
	{
		uint8_t b[CC_AUDIT_COSIGN_MAX];
		size_t n = make_cosign(&cps[2], b);
		cc_audit_cosign c;
		CHECK_EQ_INT(cc_audit_cosign_decode(b, n, &c), CC_OK);
		CHECK_EQ_INT(cc_audit_cosign_verify(&c), CC_OK);
		CHECK(c.seq == 20 && strcmp(c.user, "fenna") == 0);
		CHECK(cc_audit_cosign_decode(b, n - 1, &c) != CC_OK);
		b[20] ^= 1; /* inside the audit key */
		CHECK_EQ_INT(cc_audit_cosign_decode(b, n, &c), CC_OK);
		CHECK(cc_audit_cosign_verify(&c) != CC_OK);
	}
	/* the untouched chain: two checkpoints witnessed, by fenna */
	CHECK_EQ_INT(run_witnessed(&cps[2], &cps[5], NULL, &v), CC_OK);
	CHECK(v.witnessed == 2 && v.cosigns == 2 && v.last_witnessed_seq == 50);
	CHECK(strcmp(v.last_witness_user, "fenna") == 0);
	/* pinned to another key: checked, not counted */
	{
		uint8_t other[CC_SIGN_PK_BYTES], osk[CC_SIGN_SK_BYTES];
		crypto_sign_keypair(other, osk);
		CHECK_EQ_INT(run_witnessed(&cps[2], &cps[5], other, &v), CC_OK);
		CHECK(v.witnessed == 0 && v.cosigns_other == 2);
	}
	/* the witness saw another head at 50 than the re-signed trail has now */
	cc_audit_checkpoint seen = cps[5];
	seen.entry_hash[0] ^= 1;
	CHECK_EQ_INT(run_witnessed(&cps[2], &seen, NULL, &v), CC_ERR_AUDIT_CHECKPOINT);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_WITNESS);
	CHECK_EQ_INT(v.fault_seq, 50);
	/* a cosignature that does not verify */
	{
		uint8_t b[CC_AUDIT_COSIGN_MAX];
		size_t bn = make_cosign(&cps[1], b);
		b[bn - 1] ^= 1;
		size_t n = view_all();
		cc_audit_verifier_init(&v, audit_pk, NULL);
		for (size_t i = 0; i < n; i++) {
			if (view[i]->is_cp) {
				cc_audit_verifier_checkpoint(&v, view[i]->p, view[i]->n);
				if (view[i]->seq == 10)
					cc_audit_verifier_cosign(&v, b, bn);
			} else {
				cc_audit_verifier_entry(&v, view[i]->p, view[i]->n, view[i]->hash);
			}
		}
		CHECK_EQ_INT(cc_audit_verifier_finish(&v), CC_ERR_AUDIT_CHECKPOINT);
		CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_WITNESS_SIG);
	}
}

static void test_remembered_checkpoint_after_a_prune(void)
{
	cc_audit_verifier v;
	size_t first = find(31, 0);
	size_t n = view_all();
	/* remembered 50, anchor 30: still reached, fed as a checkpoint */
	cc_audit_verifier_init(&v, audit_pk, &cps[3]);
	CHECK_EQ_INT(cc_audit_verifier_known(&v, &cps[5]), CC_OK);
	for (size_t i = first; i < n; i++) {
		if (view[i]->is_cp)
			cc_audit_verifier_checkpoint(&v, view[i]->p, view[i]->n);
		else
			cc_audit_verifier_entry(&v, view[i]->p, view[i]->n, view[i]->hash);
	}
	CHECK_EQ_INT(cc_audit_verifier_finish(&v), CC_OK);
	/* remembered 20, anchor 30: pruned past it without proof */
	cc_audit_verifier_init(&v, audit_pk, &cps[3]);
	CHECK_EQ_INT(cc_audit_verifier_known(&v, &cps[2]), CC_ERR_AUDIT_CHECKPOINT);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_NOT_EXTENDING);
	CHECK_EQ_INT(v.fault_seq, 20);
	/* the anchor cosigned by the pinned witness is the proof */
	uint8_t b[CC_AUDIT_COSIGN_MAX];
	size_t bn = make_cosign(&cps[3], b);
	cc_audit_verifier_init(&v, audit_pk, &cps[3]);
	cc_audit_verifier_pin_witness(&v, wit_pk);
	CHECK_EQ_INT(cc_audit_verifier_cosign(&v, b, bn), CC_OK);
	CHECK_EQ_INT(cc_audit_verifier_known(&v, &cps[2]), 1);
	CHECK_EQ_INT(v.err, CC_OK);
	/* ... but only by the pinned witness */
	{
		uint8_t other[CC_SIGN_PK_BYTES], osk[CC_SIGN_SK_BYTES];
		crypto_sign_keypair(other, osk);
		cc_audit_verifier_init(&v, audit_pk, &cps[3]);
		cc_audit_verifier_pin_witness(&v, other);
		CHECK_EQ_INT(cc_audit_verifier_cosign(&v, b, bn), CC_OK);
		CHECK_EQ_INT(cc_audit_verifier_known(&v, &cps[2]), CC_ERR_AUDIT_CHECKPOINT);
		CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_NOT_EXTENDING);
	}
}

static void test_read_receipts(void)
{
	uint8_t sig[CC_SIG_BYTES];
	const uint8_t *h = chain[find(21, 0)].hash;
	CHECK_EQ_INT(cc_audit_receipt_sign(audit_sk, audit_pk, 21, h, sig), CC_OK);
	CHECK_EQ_INT(cc_audit_receipt_verify(audit_pk, 21, h, sig), CC_OK);
	/* another place, another hash, another key: refused */
	CHECK(cc_audit_receipt_verify(audit_pk, 22, h, sig) != CC_OK);
	uint8_t h2[CC_HASH_BYTES];
	memcpy(h2, h, sizeof h2);
	h2[0] ^= 1;
	CHECK(cc_audit_receipt_verify(audit_pk, 21, h2, sig) != CC_OK);
	CHECK(cc_audit_receipt_verify(wit_pk, 21, h, sig) != CC_OK);
	/* a receipt is not a checkpoint or a cosignature: contexts differ */
	CHECK(cc_audit_receipt_sign(audit_sk, audit_pk, 0, h, sig) != CC_OK);
}

static void test_restore_segment(void)
{
	/* a chain of 7 with a checkpoint at 5; a restore seals 7, then the segment anchor at 8, sealed */
	cc_audit_chain c;
	cc_audit_chain_init(&c);
	uint8_t raw[12][CC_AUDIT_ENTRY_MAX + 32];
	size_t rawn[12];
	int iscp[12];
	size_t nr = 0;
	cc_audit_entry seg;
	cc_audit_entry_init(&seg);
	for (unsigned i = 1; i <= 9; i++) {
		cc_audit_entry e;
		cc_audit_entry_init(&e);
		e.event = CC_AUDIT_EV_AUTH;
		if (i == 8) {
			cc_audit_segment_fill(&e, &c);
			seg = e;
		}
		cc_wbuf w;
		cc_w_init(&w);
		uint8_t h[CC_HASH_BYTES];
		CHECK_EQ_INT(cc_audit_chain_append(&c, &e, &w, h), CC_OK);
		memcpy(raw[nr], w.p, w.len);
		rawn[nr] = w.len;
		iscp[nr++] = 0;
		cc_w_free(&w);
		if (i == 5 || i == 7 || i == 8) {
			cc_audit_checkpoint cp;
			CHECK_EQ_INT(cc_audit_chain_checkpoint(&c, 1795000000000, audit_sk, &cp), CC_OK);
			cc_w_init(&w);
			CHECK_EQ_INT(cc_audit_checkpoint_encode(&cp, &w), CC_OK);
			memcpy(raw[nr], w.p, w.len);
			rawn[nr] = w.len;
			iscp[nr++] = 1;
			cc_w_free(&w);
		}
	}
	CHECK(seg.seq_from == 7 && seg.seq_to == 7 && seg.n_msg_ids == 2);
	cc_audit_verifier v;
	cc_audit_verifier_init(&v, audit_pk, NULL);
	for (size_t i = 0; i < nr; i++) {
		if (iscp[i])
			cc_audit_verifier_checkpoint(&v, raw[i], rawn[i]);
		else
			cc_audit_verifier_entry(&v, raw[i], rawn[i], NULL);
	}
	CHECK_EQ_INT(cc_audit_verifier_finish(&v), CC_OK);
	CHECK(v.segments == 1 && v.segment_seq == 8 && v.segment_from == 7);
	/* an anchor that names another head, re-hashed and re-signed by the key holder: refused */
	cc_audit_chain c2;
	cc_audit_chain_init(&c2);
	cc_audit_verifier_init(&v, audit_pk, NULL);
	for (unsigned i = 1; i <= 8; i++) {
		cc_audit_entry e;
		cc_audit_entry_init(&e);
		e.event = CC_AUDIT_EV_AUTH;
		if (i == 8) {
			cc_audit_segment_fill(&e, &c2);
			e.msg_ids[0][0] ^= 1;
		}
		cc_wbuf w;
		cc_w_init(&w);
		uint8_t h[CC_HASH_BYTES];
		CHECK_EQ_INT(cc_audit_chain_append(&c2, &e, &w, h), CC_OK);
		cc_audit_verifier_entry(&v, w.p, w.len, h);
		cc_w_free(&w);
	}
	CHECK_EQ_INT(cc_audit_verifier_finish(&v), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_SEGMENT);
	CHECK_EQ_INT(v.fault_seq, 8);
}

/* ---- known-answer vectors ----------------------------------------------- */

static void hex_line(FILE *f, const char *tag, uint64_t seq, const uint8_t *p, size_t n, const uint8_t *hash)
{
	fprintf(f, "%s %llu ", tag, (unsigned long long)seq);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
	if (hash) {
		fputc(' ', f);
		for (size_t i = 0; i < CC_HASH_BYTES; i++)
			fprintf(f, "%02x", hash[i]);
	}
	fputc('\n', f);
}

/* The first 20 records of the chain (entries 1..20 and checkpoints 10, 20)
 * and the audit public key, as text. Generated from the fixed random source,
 * so the same on every run and every machine. */
static char *vectors_text(size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	if (!f)
		return NULL;
	fprintf(f, "# casus audit chain vectors, format v1 (see docs/AUDIT.md)\n");
	fprintf(f, "# entry <seq> <encoding hex> <hash hex>; checkpoint <seq> <encoding hex>\n");
	hex_line(f, "audit_pk", 0, audit_pk, sizeof audit_pk, NULL);
	for (size_t i = 0; i < nchain && chain[i].seq <= 20; i++)
		hex_line(f, chain[i].is_cp ? "checkpoint" : "entry", chain[i].seq, chain[i].p, chain[i].n,
		         chain[i].is_cp ? NULL : chain[i].hash);
	fclose(f);
	return buf;
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
	size_t n = 0;
	if (sodium_hex2bin(out, cap, hex, strlen(hex), NULL, &n, NULL) != 0)
		return 0;
	return n;
}

/* The stored vector file is a valid chain on its own: parse it and run the
 * verifier with the key it names (independent of the generator above). */
static void verify_vector_file(char *text)
{
	static uint8_t bytes[CC_AUDIT_ENTRY_MAX], hash[CC_HASH_BYTES], pk[CC_SIGN_PK_BYTES];
	cc_audit_verifier v;
	int started = 0;
	unsigned nent = 0, ncp = 0;
	for (char *save = NULL, *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (line[0] == '#')
			continue;
		char *s2 = NULL;
		char *tag = strtok_r(line, " ", &s2), *seq = strtok_r(NULL, " ", &s2);
		char *h1 = strtok_r(NULL, " ", &s2), *h2 = strtok_r(NULL, " ", &s2);
		CHECK(tag && seq && h1);
		if (!tag || !seq || !h1)
			return;
		if (strcmp(tag, "audit_pk") == 0) {
			CHECK_EQ_INT(unhex(h1, pk, sizeof pk), sizeof pk);
			cc_audit_verifier_init(&v, pk, NULL);
			started = 1;
		} else if (started && strcmp(tag, "entry") == 0 && h2) {
			size_t n = unhex(h1, bytes, sizeof bytes);
			CHECK_EQ_INT(unhex(h2, hash, sizeof hash), sizeof hash);
			CHECK_EQ_INT(cc_audit_verifier_entry(&v, bytes, n, hash), CC_OK);
			nent++;
		} else if (started && strcmp(tag, "checkpoint") == 0) {
			size_t n = unhex(h1, bytes, sizeof bytes);
			CHECK_EQ_INT(cc_audit_verifier_checkpoint(&v, bytes, n), CC_OK);
			ncp++;
		} else {
			fprintf(stderr, "unexpected line in chain.txt: %s\n", tag);
			check_failed++;
		}
	}
	CHECK(started);
	CHECK_EQ_INT(nent, 20);
	CHECK_EQ_INT(ncp, 2);
	if (started) { /* v exists only once the key line was read */
		CHECK_EQ_INT(cc_audit_verifier_finish(&v), CC_OK);
		CHECK_EQ_INT(v.checkpoints, 2);
	}
}

static void test_vectors(void)
{
	size_t len = 0;
	char *text = vectors_text(&len);
	CHECK(text != NULL);
	if (!text)
		return;
	const char *dir = getenv("CASUS_VECTORS");
	char path[4096];
	snprintf(path, sizeof path, "%s/audit/chain.txt", dir ? dir : "tests/vectors");
	if (getenv("CASUS_WRITE_VECTORS")) {
		FILE *f = fopen(path, "wb");
		CHECK(f != NULL);
		if (f) {
			CHECK(fwrite(text, 1, len, f) == len);
			fclose(f);
			printf("wrote %s\n", path);
		}
	} else {
		FILE *f = fopen(path, "rb");
		CHECK(f != NULL); /* a missing vector file is a failure, not a skip */
		if (f) {
			char *stored = malloc(len + 2);
			size_t got = fread(stored, 1, len + 1, f);
			fclose(f);
			CHECK_EQ_INT(got, len);
			CHECK(got == len && memcmp(stored, text, len) == 0);
			stored[got] = '\0';
			verify_vector_file(stored);
			free(stored);
		}
	}
	free(text);
}

/* Fuzz seeds for tests/fuzz/fuzz_audit.c: selector byte then payload. */
static void write_seed(const char *dir, const char *name, uint8_t sel, const uint8_t *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (!f)
		return;
	fputc(sel, f);
	fwrite(p, 1, n, f);
	fclose(f);
}

static size_t find_chain(uint64_t seq, int is_cp)
{
	for (size_t i = 0; i < nchain; i++)
		if (chain[i].seq == seq && chain[i].is_cp == is_cp)
			return i;
	abort();
}

static void write_seeds(void)
{
	const char *dir = getenv("CASUS_WRITE_SEEDS");
	if (!dir)
		return;
	write_seed(dir, "entry-auth", 0, chain[0].p, chain[0].n);
	write_seed(dir, "entry-history-fetch", 0, chain[find_chain(8, 0)].p, chain[find_chain(8, 0)].n);
	write_seed(dir, "entry-level", 0, chain[find_chain(4, 0)].p, chain[find_chain(4, 0)].n);
	write_seed(dir, "entry-grant", 0, chain[find_chain(5, 0)].p, chain[find_chain(5, 0)].n);
	write_seed(dir, "entry-break-glass", 0, chain[find_chain(6, 0)].p, chain[find_chain(6, 0)].n);
	write_seed(dir, "entry-denied", 0, chain[find_chain(9, 0)].p, chain[find_chain(9, 0)].n);
	write_seed(dir, "checkpoint", 1, chain[find_chain(10, 1)].p, chain[find_chain(10, 1)].n);
	/* a verifier stream: records as [kind u8][len u16 be][bytes] */
	cc_wbuf w;
	cc_w_init(&w);
	for (size_t i = 0; i < nchain && chain[i].seq <= 12; i++) {
		cc_w_u8(&w, (uint8_t)chain[i].is_cp);
		cc_w_var16(&w, chain[i].p, chain[i].n);
	}
	write_seed(dir, "stream", 2, w.p, w.len);
	cc_w_free(&w);
	printf("wrote seeds to %s\n", dir);
}

int main(void)
{
	test_rng_install();
	CHECK(sodium_init() >= 0);
	CHECK(strcmp(randombytes_implementation_name(), test_rng_name()) == 0);
	crypto_sign_keypair(audit_pk, audit_sk);
	randombytes_buf(casus_a, sizeof casus_a);
	randombytes_buf(device_a, sizeof device_a);
	build_chain();
	CHECK_RUN(test_vectors); /* before anything else draws random bytes */
	write_seeds();
	CHECK_RUN(test_roundtrip);
	CHECK_RUN(test_str_copy);
	CHECK_RUN(test_checkpoint_codec);
	CHECK_RUN(test_writer);
	CHECK_RUN(test_verifier_passes_the_untouched_chain);
	CHECK_RUN(test_verifier_names_a_changed_entry);
	CHECK_RUN(test_verifier_names_a_deleted_entry);
	CHECK_RUN(test_verifier_names_reordered_entries);
	CHECK_RUN(test_verifier_names_a_cut_tail);
	CHECK_RUN(test_verifier_names_bad_checkpoints);
	CHECK_RUN(test_verifier_accepts_a_pruned_trail_from_its_anchor);
	CHECK_RUN(test_every_fault_has_a_name_and_text);
	CHECK_RUN(test_witness_cosignatures);
	CHECK_RUN(test_remembered_checkpoint_after_a_prune);
	CHECK_RUN(test_restore_segment);
	CHECK_RUN(test_read_receipts);
	for (size_t i = 0; i < nchain; i++)
		free(chain[i].p);
	return check_done();
}
