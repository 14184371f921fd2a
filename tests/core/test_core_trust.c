/*
 * test_core_trust.c: the client core (client/core/ccore.h) with no network
 * and no files: signed bytes in, verdicts and warnings out, for every rule of
 * issue #11 that the core decides. Each section builds what a hostile server
 * would serve (with the real crypto/ builders) and checks the core's verdict
 * and its stable code (the contract with tests/security).
 */
#include "check.h"
#include "test_e2e_fixture.h"

#include <ccore.h>

enum {
	CM,
	GGD,
	POL,
	PR,
	NDEV
};
static const char *const ROLE[NDEV] = {"casemanager", "ggd", "politie", "procesregisseur"};
static const char *const USER[NDEV] = {"cm.jansen", "ggd.visser", "pol.bos", "pr.meijer"};

static cc_root_key *root;
static cc_policy pol;
static cc_wbuf pol_enc;
static e2e_dev dev[NDEV];
static const int64_t NOW = E2E_NOW;

static int has_warning(json_t *w, const char *code)
{
	size_t i;
	json_t *o;
	json_array_foreach(w, i, o) {
		if (strcmp(json_string_value(json_object_get(o, "code")) ?: "", code) == 0)
			return 1;
	}
	return 0;
}

/* A core for device d holding the signed policy. */
static ccore *core_for(int d)
{
	ccore *c = NULL;
	int changed = 0;
	CHECK_EQ_INT(ccore_new(&c, root->pk, dev[d].keys, &dev[d].cert), CCORE_OK);
	CHECK_EQ_INT(ccore_policy_offer(c, pol_enc.p, pol_enc.len, 0, &changed), CCORE_OK);
	CHECK_EQ_INT(changed, 1);
	return c;
}

/* A signed revocation list with the given number holding device d (or none). */
static void revlist(cc_wbuf *w, uint64_t number, int d, int64_t at)
{
	cc_revlist l;
	cc_revlist_init(&l);
	l.number = number;
	l.issued_at = NOW;
	if (d >= 0)
		CHECK_EQ_INT(cc_revlist_add(&l, dev[d].cert.serial, dev[d].cert.device_id, at), CC_OK);
	CHECK_EQ_INT(cc_revlist_sign(&l, root), CC_OK);
	cc_w_init(w);
	CHECK_EQ_INT(cc_revlist_encode(&l, w), CC_OK);
	cc_revlist_free(&l);
}

/* Create commit of a casus at `level` by CM with the given other devices. */
static void create(cc_wbuf *w, const uint8_t id[16], uint8_t level, const int *others, size_t n, int64_t t)
{
	cc_cert certs[NDEV];
	for (size_t i = 0; i < n; i++)
		certs[i] = dev[others[i]].cert;
	cc_w_init(w);
	CHECK_EQ_INT(cc_commit_create(id, level, certs, n, dev[CM].keys, &dev[CM].cert, &pol, root->pk, t, "open", w),
	             CC_OK);
}

static void test_policy_and_revlist(void)
{
	ccore *c = core_for(GGD);
	int changed = 0;
	/* an older policy is refused: stale_policy */
	cc_policy old = pol;
	old.number = pol.number - 1;
	CHECK_EQ_INT(cc_policy_sign(&old, root), CC_OK);
	cc_wbuf w;
	cc_w_init(&w);
	CHECK_EQ_INT(cc_policy_encode(&old, &w), CC_OK);
	int rc = ccore_policy_offer(c, w.p, w.len, 0, &changed);
	CHECK_EQ_INT(rc, CCORE_E_STALE_POLICY);
	CHECK(strcmp(ccore_code(rc), "stale_policy") == 0);
	/* a flipped signature byte: bad_signature */
	w.p[w.len - 1] ^= 1;
	old.number = pol.number + 1;
	cc_w_free(&w);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_policy_encode(&old, &w), CC_OK); /* signature of the older number: does not verify */
	CHECK_EQ_INT(ccore_policy_offer(c, w.p, w.len, 0, &changed), CCORE_E_BAD_SIGNATURE);
	CHECK(ccore_policy(c)->number == pol.number);
	cc_w_free(&w);

	/* revocation list: numbered, never going back, none while one is held */
	cc_wbuf r1, r2;
	revlist(&r2, 2, POL, NOW - 10);
	revlist(&r1, 1, -1, 0);
	CHECK_EQ_INT(ccore_revlist_offer(c, r2.p, r2.len, NOW, 0, &changed), CCORE_OK);
	CHECK_EQ_INT(changed, 1);
	rc = ccore_revlist_offer(c, r1.p, r1.len, NOW, 0, &changed);
	CHECK_EQ_INT(rc, CCORE_E_REVOKED);
	CHECK(strcmp(ccore_code(rc), "revoked") == 0);
	/* no list at all: shown, and the held list stays in force */
	json_decref(ccore_take_warnings(c));
	CHECK_EQ_INT(ccore_revlist_offer(c, NULL, 0, NOW, 0, &changed), CCORE_OK);
	json_t *wr = ccore_take_warnings(c);
	CHECK(has_warning(wr, "rollback"));
	json_decref(wr);
	CHECK(ccore_revlist(c)->number == 2);
	CHECK(ccore_is_revoked(c, &dev[POL].cert));
	CHECK(!ccore_is_revoked(c, &dev[CM].cert));
	/* an old list is accepted but warned about (freshness bound) */
	json_decref(ccore_take_warnings(c));
	CHECK_EQ_INT(ccore_revlist_offer(c, r2.p, r2.len, NOW + CCORE_REVLIST_MAX_AGE + 10, 0, &changed), CCORE_OK);
	json_t *wn = ccore_take_warnings(c);
	CHECK(has_warning(wn, "stale_revlist"));
	json_decref(wn);

	/* directory: a revoked device is refused, another user's cert too */
	cc_wbuf ce;
	cc_w_init(&ce);
	CHECK_EQ_INT(cc_cert_encode(&dev[POL].cert, &ce), CC_OK);
	cc_cert out;
	CHECK_EQ_INT(ccore_dir_cert(c, ce.p, ce.len, USER[POL], NOW, &out), CCORE_E_REVOKED);
	cc_w_free(&ce);
	cc_w_init(&ce);
	CHECK_EQ_INT(cc_cert_encode(&dev[CM].cert, &ce), CC_OK);
	CHECK_EQ_INT(ccore_dir_cert(c, ce.p, ce.len, USER[GGD], NOW, &out), CCORE_E_TAMPERED);
	CHECK_EQ_INT(ccore_dir_cert(c, ce.p, ce.len, USER[CM], NOW, &out), CCORE_OK);
	CHECK_EQ_INT(ccore_dir_cert(c, ce.p, ce.len, USER[CM], E2E_NOT_AFTER + 1, &out), CCORE_E_EXPIRED);
	cc_w_free(&ce);
	/* install-cert: only this device's own certificate, from the pinned root */
	cc_w_init(&ce);
	CHECK_EQ_INT(cc_cert_encode(&dev[GGD].cert, &ce), CC_OK);
	CHECK_EQ_INT(ccore_own_cert(root->pk, dev[GGD].keys, ce.p, ce.len, NOW, &out), CCORE_OK);
	CHECK_EQ_INT(ccore_own_cert(root->pk, dev[CM].keys, ce.p, ce.len, NOW, &out), CCORE_E_TAMPERED);
	CHECK_EQ_INT(ccore_own_cert(dev[CM].keys->sign_pk, dev[GGD].keys, ce.p, ce.len, NOW, &out),
	             CCORE_E_BAD_SIGNATURE);
	cc_w_free(&ce);
	/* pairing codes differ per device and have the documented shape */
	char a[20], b[20];
	ccore_pairing_code(&dev[CM].cert, a);
	ccore_pairing_code(&dev[GGD].cert, b);
	CHECK(strlen(a) == 19 && a[4] == '-' && a[9] == '-' && a[14] == '-');
	CHECK(strcmp(a, b) != 0);
	cc_w_free(&r1);
	cc_w_free(&r2);
	ccore_free(c);
}

static void test_chain(void)
{
	ccore *c = core_for(GGD);
	uint8_t id[16], other[16];
	cc_commit_new_casus_id(id);
	cc_commit_new_casus_id(other);
	const int members[] = {GGD};
	cc_wbuf cr, cr_other;
	create(&cr, id, 1, members, 1, NOW);
	create(&cr_other, other, 1, members, 1, NOW);

	/* casus swap: a chain of another casus than the one asked for */
	ccore_casus *k = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &k), CCORE_OK);
	int rc = ccore_apply_commit(k, cr_other.p, cr_other.len, NOW, 1);
	CHECK_EQ_INT(rc, CCORE_E_WRONG_CASUS);
	CHECK(strcmp(ccore_code(rc), "wrong_casus") == 0);
	CHECK_EQ_INT(ccore_epochs(k), 0);
	CHECK_EQ_INT(ccore_apply_commit(k, cr.p, cr.len, NOW, 1), CCORE_OK);
	CHECK(ccore_is_member(k));

	/* two different next commits: the one not built on the verified copy is a rollback/divergence */
	cc_wbuf rot, rot_other;
	cc_w_init(&rot);
	CHECK_EQ_INT(cc_commit_rotate(ccore_chain(k), dev[CM].keys, &dev[CM].cert, &pol, root->pk, NOW + 5, NULL,
	                              "routine", &rot),
	             CC_OK);
	ccore_casus *k2 = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, other, &k2), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(k2, cr_other.p, cr_other.len, NOW, 1), CCORE_OK);
	cc_w_init(&rot_other);
	CHECK_EQ_INT(cc_commit_rotate(ccore_chain(k2), dev[CM].keys, &dev[CM].cert, &pol, root->pk, NOW + 5, NULL,
	                              "routine", &rot_other),
	             CC_OK);
	CHECK_EQ_INT(ccore_apply_commit(k, rot_other.p, rot_other.len, NOW + 5, 1), CCORE_E_WRONG_CASUS);
	/* a commit skipping an epoch: the server cut the chain */
	cc_wbuf rot2;
	cc_w_init(&rot2);
	ccore_casus *k3 = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &k3), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(k3, cr.p, cr.len, NOW, 0), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(k3, rot.p, rot.len, NOW + 5, 0), CCORE_OK);
	CHECK_EQ_INT(cc_commit_rotate(ccore_chain(k3), dev[CM].keys, &dev[CM].cert, &pol, root->pk, NOW + 6, NULL,
	                              "again", &rot2),
	             CC_OK);
	rc = ccore_apply_commit(k, rot2.p, rot2.len, NOW + 6, 1);
	CHECK_EQ_INT(rc, CCORE_E_ROLLBACK);
	CHECK(strcmp(ccore_code(rc), "rollback") == 0);
	CHECK_EQ_INT(ccore_apply_commit(k, rot.p, rot.len, NOW + 6, 1), CCORE_OK);
	/* a verified commit served again in the next place: replay */
	rc = ccore_apply_commit(k, rot.p, rot.len, NOW + 6, 1);
	CHECK_EQ_INT(rc, CCORE_E_REPLAY);
	CHECK(strcmp(ccore_code(rc), "replay") == 0);

	/* a commit dated beyond the skew of this device's clock: future_commit */
	cc_wbuf fut;
	cc_w_init(&fut);
	CHECK_EQ_INT(cc_commit_rotate(ccore_chain(k), dev[CM].keys, &dev[CM].cert, &pol, root->pk,
	                              NOW + 6 + CCORE_SKEW_SECS + 60, NULL, "later", &fut),
	             CC_OK);
	rc = ccore_apply_commit(k, fut.p, fut.len, NOW + 6, 1);
	CHECK_EQ_INT(rc, CCORE_E_FUTURE);
	CHECK(strcmp(ccore_code(rc), "future_commit") == 0);
	CHECK_EQ_INT(ccore_apply_commit(k, fut.p, fut.len, NOW + 6 + 100, 1), CCORE_OK); /* within the skew */

	/* an unverified removal (push, forbidden answer) keeps the copy */
	CHECK_EQ_INT(ccore_unverified_removal(k), CCORE_E_ROLLBACK);

	cc_w_free(&cr);
	cc_w_free(&cr_other);
	cc_w_free(&rot);
	cc_w_free(&rot_other);
	cc_w_free(&rot2);
	cc_w_free(&fut);
	ccore_casus_free(k);
	ccore_casus_free(k2);
	ccore_casus_free(k3);
	ccore_free(c);
}

static void test_withheld(void)
{
	/* CM removes GGD; the server acks but withholds the commit */
	ccore *c = core_for(CM);
	uint8_t id[16];
	cc_commit_new_casus_id(id);
	const int members[] = {GGD};
	cc_wbuf cr, rm, rot;
	create(&cr, id, 1, members, 1, NOW);
	ccore_casus *k = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &k), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(k, cr.p, cr.len, NOW, 1), CCORE_OK);
	cc_w_init(&rm);
	cc_commit_change chg = {.type = CC_COMMIT_REMOVE,
	                        .remove = (const uint8_t(*)[16])dev[GGD].cert.device_id,
	                        .nremove = 1,
	                        .reason = "einde"};
	CHECK_EQ_INT(ccore_build(k, &chg, NOW + 1, &rm), CCORE_OK);
	CHECK_EQ_INT(ccore_expect_head(k, rm.p, rm.len), CCORE_OK);
	/* fetched chain: nothing new */
	int rc = ccore_chain_done(k, NOW + 2);
	CHECK_EQ_INT(rc, CCORE_E_WITHHELD);
	CHECK(strcmp(ccore_code(rc), "withheld_commit") == 0);
	/* nothing is posted to the member meant to be removed */
	CHECK_EQ_INT(ccore_may_post(k), CCORE_E_WITHHELD);
	/* it survives a restart (stored state) */
	json_t *saved = ccore_casus_save(k);
	ccore_casus *kr = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &kr), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(kr, cr.p, cr.len, NOW, 0), CCORE_OK);
	ccore_casus_restore(kr, saved);
	json_decref(saved);
	CHECK_EQ_INT(ccore_may_post(kr), CCORE_E_WITHHELD);
	CHECK_EQ_INT(ccore_chain_done(kr, NOW + 2), CCORE_E_WITHHELD);
	/* another commit took the epoch (the removal is still not done) */
	cc_w_init(&rot);
	CHECK_EQ_INT(cc_commit_rotate(ccore_chain(kr), dev[CM].keys, &dev[CM].cert, &pol, root->pk, NOW + 1, NULL, "x",
	                              &rot),
	             CC_OK);
	CHECK_EQ_INT(ccore_apply_commit(kr, rot.p, rot.len, NOW + 2, 1), CCORE_OK);
	CHECK_EQ_INT(ccore_chain_done(kr, NOW + 2), CCORE_E_WITHHELD);
	CHECK_EQ_INT(ccore_may_post(kr), CCORE_E_WITHHELD);
	/* reported once; a later own rotate that lands does not lift the block */
	CHECK_EQ_INT(ccore_chain_done(kr, NOW + 3), CCORE_OK);
	cc_wbuf rot3;
	cc_w_init(&rot3);
	cc_commit_change rchg = {.type = CC_COMMIT_ROTATE, .reason = "r"};
	CHECK_EQ_INT(ccore_build(kr, &rchg, NOW + 3, &rot3), CCORE_OK);
	CHECK_EQ_INT(ccore_expect_head(kr, rot3.p, rot3.len), CCORE_OK);
	CHECK_EQ_INT(ccore_pending(kr), 0);
	CHECK_EQ_INT(ccore_apply_commit(kr, rot3.p, rot3.len, NOW + 4, 1), CCORE_OK);
	CHECK_EQ_INT(ccore_chain_done(kr, NOW + 4), CCORE_OK);
	CHECK_EQ_INT(ccore_may_post(kr), CCORE_E_WITHHELD);
	cc_w_free(&rot3);
	/* the real thing: the commit is the verified head */
	CHECK_EQ_INT(ccore_apply_commit(k, rm.p, rm.len, NOW + 2, 1), CCORE_OK);
	CHECK_EQ_INT(ccore_chain_done(k, NOW + 2), CCORE_OK);
	CHECK_EQ_INT(ccore_may_post(k), CCORE_OK);
	cc_w_free(&cr);
	cc_w_free(&rm);
	cc_w_free(&rot);
	ccore_casus_free(k);
	ccore_casus_free(kr);
	ccore_free(c);
}

static void test_backdating_and_revoked(void)
{
	/* a device whose certificate expires soon signs a commit while valid;
	 * judged later: fine as history, refused as the head (backdating) */
	e2e_dev shortlived;
	cc_cert_request req;
	CHECK_EQ_INT(cc_device_keys_generate(&shortlived.keys), CC_OK);
	CHECK_EQ_INT(cc_cert_request_create(&req, shortlived.keys, "cm.kort", "Kort", "Org", "casemanager"), CC_OK);
	CHECK_EQ_INT(cc_cert_issue(&req, root, 900, NOW - 86400, NOW + 100, &shortlived.cert), CC_OK);
	uint8_t id[16];
	cc_commit_new_casus_id(id);
	cc_wbuf cr, add;
	cc_w_init(&cr);
	CHECK_EQ_INT(cc_commit_create(id, 1, &dev[GGD].cert, 1, shortlived.keys, &shortlived.cert, &pol, root->pk, NOW,
	                              "open", &cr),
	             CC_OK);
	ccore *c = core_for(GGD);
	ccore_casus *k = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &k), CCORE_OK);
	int rc = ccore_apply_commit(k, cr.p, cr.len, NOW + 1000, 1);
	CHECK_EQ_INT(rc, CCORE_E_EXPIRED);
	CHECK(strcmp(ccore_code(rc), "expired_cert") == 0);
	CHECK_EQ_INT(ccore_apply_commit(k, cr.p, cr.len, NOW + 1000, 0), CCORE_OK); /* history: judged at its time */
	/* the expired key adds a device with a commit dated before its expiry */
	cc_w_init(&add);
	CHECK_EQ_INT(cc_commit_add(ccore_chain(k), &dev[CM].cert, 1, shortlived.keys, &shortlived.cert, &pol, root->pk,
	                           NOW + 50, NULL, "backdated", &add),
	             CC_OK);
	CHECK_EQ_INT(ccore_apply_commit(k, add.p, add.len, NOW + 1000, 1), CCORE_E_EXPIRED);
	CHECK_EQ_INT(ccore_epochs(k), 1);

	/* revoked: a commit adding a revoked device; a roster holding one is shown */
	ccore *v = core_for(CM);
	cc_wbuf rl;
	int changed = 0;
	revlist(&rl, 3, GGD, NOW + 10);
	CHECK_EQ_INT(ccore_revlist_offer(v, rl.p, rl.len, NOW + 20, 0, &changed), CCORE_OK);
	ccore_casus *kv = NULL;
	CHECK_EQ_INT(ccore_casus_new(v, id, &kv), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(kv, cr.p, cr.len, NOW + 20, 0), CCORE_OK); /* GGD joined before revocation */
	json_decref(ccore_take_warnings(v));
	CHECK_EQ_INT(ccore_chain_done(kv, NOW + 20), CCORE_OK);
	json_t *w = ccore_take_warnings(v);
	CHECK(has_warning(w, "revoked_member"));
	json_decref(w);
	/* a fresh casus adding the revoked device: refused */
	uint8_t id2[16];
	cc_commit_new_casus_id(id2);
	const int members[] = {GGD};
	cc_wbuf cr2;
	create(&cr2, id2, 1, members, 1, NOW + 20);
	ccore_casus *k2 = NULL;
	CHECK_EQ_INT(ccore_casus_new(v, id2, &k2), CCORE_OK);
	rc = ccore_apply_commit(k2, cr2.p, cr2.len, NOW + 20, 1);
	CHECK_EQ_INT(rc, CCORE_E_REVOKED);
	/* and the builder never seals to it */
	cc_wbuf b;
	cc_w_init(&b);
	cc_commit_change chg = {.type = CC_COMMIT_CREATE, .level = 1, .add = &dev[GGD].cert, .nadd = 1, .reason = "x"};
	memcpy(chg.casus_id, id2, 16);
	CHECK_EQ_INT(ccore_build(k2, &chg, NOW + 20, &b), CCORE_E_REVOKED);
	cc_w_free(&b);
	cc_w_free(&cr);
	cc_w_free(&cr2);
	cc_w_free(&add);
	cc_w_free(&rl);
	ccore_casus_free(k);
	ccore_casus_free(kv);
	ccore_casus_free(k2);
	ccore_free(c);
	ccore_free(v);
	cc_device_keys_free(shortlived.keys);
}

static void encrypt(int d, const cc_chain_state *st, int aud, int64_t t, const char *text, cc_wbuf *out)
{
	(void)st;
	cc_w_init(out);
	CHECK_EQ_INT(cc_casus_encrypt(dev[d].cs, &pol, aud, CC_GROUND_NONE, (const uint8_t *)text, strlen(text), t,
	                              out),
	             CC_OK);
}

static unsigned last_flags;

static int open_msg(ccore_casus *k, uint64_t seq, const cc_wbuf *m, int live, int64_t now)
{
	cc_wbuf pt;
	cc_w_init_secret(&pt);
	int rc = ccore_open_message(k, seq, m->p, m->len, live, now, &pt, NULL, &last_flags);
	cc_w_free(&pt);
	return rc;
}

static void test_messages(void)
{
	/* CM and GGD in a casus; GGD's core reads CM's messages */
	uint8_t id[16];
	cc_commit_new_casus_id(id);
	const int members[] = {GGD};
	cc_wbuf cr, rot;
	create(&cr, id, 1, members, 1, NOW);
	CHECK_EQ_INT(e2e_dev_reset(&dev[CM]), CC_OK);
	CHECK_EQ_INT(cc_casus_apply_commit(dev[CM].cs, cr.p, cr.len, &pol, root->pk, NOW, NULL), CC_OK);
	ccore *c = core_for(GGD);
	ccore_casus *k = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &k), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(k, cr.p, cr.len, NOW, 1), CCORE_OK);
	cc_wbuf m0, m1, m2, late;
	cc_casus_set_send_counter(dev[CM].cs, 10);
	encrypt(CM, NULL, AUD_ZORG, NOW + 1, "een", &m0);
	encrypt(CM, NULL, AUD_ZORG, NOW + 2, "twee", &m1);
	encrypt(CM, NULL, AUD_ZORG, NOW + 3, "drie", &m2);
	/* reorder: m1 (written later) placed before m0 */
	json_decref(ccore_take_warnings(c));
	CHECK_EQ_INT(open_msg(k, 1, &m1, 0, NOW + 10), CCORE_OK);
	CHECK_EQ_INT(open_msg(k, 2, &m0, 0, NOW + 10), CCORE_OK);
	json_t *w = ccore_take_warnings(c);
	CHECK(has_warning(w, "reorder"));
	CHECK(!has_warning(w, "duplicate"));
	json_decref(w);
	/* duplicate: m1 again at a new place */
	CHECK_EQ_INT(open_msg(k, 3, &m2, 0, NOW + 10), CCORE_OK);
	CHECK_EQ_INT(last_flags, 0);
	CHECK_EQ_INT(open_msg(k, 4, &m2, 0, NOW + 10), CCORE_OK);
	CHECK_EQ_INT(last_flags, CCORE_F_DUPLICATE);
	w = ccore_take_warnings(c);
	CHECK(has_warning(w, "duplicate"));
	json_decref(w);
	/* an older message repeated later: a duplicate, not a reorder */
	CHECK_EQ_INT(open_msg(k, 6, &m0, 0, NOW + 10), CCORE_OK);
	CHECK_EQ_INT(last_flags, CCORE_F_DUPLICATE);
	w = ccore_take_warnings(c);
	CHECK(has_warning(w, "duplicate"));
	CHECK(!has_warning(w, "reorder"));
	json_decref(w);
	/* and it is still known after a restart (stored state) */
	json_t *st = ccore_casus_save(k);
	ccore_casus *kk = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &kk), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(kk, cr.p, cr.len, NOW, 0), CCORE_OK);
	ccore_casus_restore(kk, st);
	json_decref(st);
	CHECK_EQ_INT(open_msg(kk, 7, &m1, 0, NOW + 10), CCORE_OK);
	CHECK_EQ_INT(last_flags, CCORE_F_DUPLICATE);
	ccore_casus_free(kk);
	json_decref(ccore_take_warnings(c));
	/* reading the same places again (scroll-back) warns about nothing */
	CHECK_EQ_INT(open_msg(k, 3, &m2, 0, NOW + 10), CCORE_OK);
	w = ccore_take_warnings(c);
	CHECK_EQ_INT(json_array_size(w), 0);
	json_decref(w);
	/* a message dated far ahead of this device's clock */
	encrypt(CM, NULL, AUD_ZORG, NOW + 5000, "toekomst", &late);
	CHECK_EQ_INT(open_msg(k, 5, &late, 0, NOW + 10), CCORE_E_FUTURE);
	cc_w_free(&late);

	/* the epoch closes (rotate at NOW+100); a message of the old epoch placed
	 * after one of the new epoch, or dated after the close, is refused */
	cc_w_init(&rot);
	CHECK_EQ_INT(cc_commit_rotate(ccore_chain(k), dev[CM].keys, &dev[CM].cert, &pol, root->pk, NOW + 100, NULL,
	                              "routine", &rot),
	             CC_OK);
	encrypt(CM, NULL, AUD_ZORG, NOW + 90, "laat in epoch 0", &late); /* written while epoch 0 was open */
	CHECK_EQ_INT(ccore_apply_commit(k, rot.p, rot.len, NOW + 110, 1), CCORE_OK);
	CHECK_EQ_INT(cc_casus_apply_commit(dev[CM].cs, rot.p, rot.len, &pol, root->pk, NOW + 100, NULL), CC_OK);
	cc_wbuf n0, stale;
	encrypt(CM, NULL, AUD_ZORG, NOW + 120, "nieuw", &n0);
	CHECK_EQ_INT(open_msg(k, 10, &n0, 0, NOW + 130), CCORE_OK);
	int rc = open_msg(k, 11, &late, 0, NOW + 130);
	CHECK_EQ_INT(rc, CCORE_E_STALE_EPOCH);
	CHECK(strcmp(ccore_code(rc), "stale_epoch_message") == 0);
	CHECK_EQ_INT(open_msg(k, 9, &late, 0, NOW + 130), CCORE_OK); /* its honest place: before */
	/* an old-epoch message claiming a time after the closing commit */
	ccore_casus *k2 = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &k2), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(k2, cr.p, cr.len, NOW, 0), CCORE_OK);
	e2e_dev fork = dev[CM];
	CHECK_EQ_INT(cc_casus_new(dev[CM].keys, &dev[CM].cert, &fork.cs), CC_OK);
	CHECK_EQ_INT(cc_casus_apply_commit(fork.cs, cr.p, cr.len, &pol, root->pk, NOW, NULL), CC_OK);
	cc_w_init(&stale);
	CHECK_EQ_INT(cc_casus_encrypt(fork.cs, &pol, AUD_ZORG, CC_GROUND_NONE, (const uint8_t *)"x", 1,
	                              NOW + 100 + CCORE_SKEW_SECS + 50, &stale),
	             CC_OK);
	cc_casus_free(fork.cs);
	CHECK_EQ_INT(ccore_apply_commit(k2, rot.p, rot.len, NOW + 1000, 1), CCORE_OK);
	CHECK_EQ_INT(open_msg(k2, 1, &stale, 0, NOW + 1000), CCORE_E_STALE_EPOCH);
	/* a removed member keeps writing in the epoch that closed on her: CM
	 * removes GGD at NOW+200; GGD's note dated after that (within the skew)
	 * is refused, her note dated before it is history */
	{
		uint8_t rid[16];
		cc_commit_new_casus_id(rid);
		const int two[] = {GGD, POL};
		cc_wbuf rcr, rrm, before, after;
		create(&rcr, rid, 4, two, 2, NOW);
		CHECK_EQ_INT(e2e_dev_reset(&dev[GGD]), CC_OK);
		CHECK_EQ_INT(cc_casus_apply_commit(dev[GGD].cs, rcr.p, rcr.len, &pol, root->pk, NOW, NULL), CC_OK);
		cc_w_init(&before);
		cc_w_init(&after);
		CHECK_EQ_INT(cc_casus_encrypt(dev[GGD].cs, &pol, AUD_OVERLEG, CC_GROUND_CONSENT,
		                              (const uint8_t *)"voor", 4, NOW + 150, &before),
		             CC_OK);
		CHECK_EQ_INT(cc_casus_encrypt(dev[GGD].cs, &pol, AUD_OVERLEG, CC_GROUND_CONSENT, (const uint8_t *)"na",
		                              2, NOW + 210, &after),
		             CC_OK);
		ccore *pc = core_for(POL);
		ccore_casus *pk = NULL;
		CHECK_EQ_INT(ccore_casus_new(pc, rid, &pk), CCORE_OK);
		CHECK_EQ_INT(ccore_apply_commit(pk, rcr.p, rcr.len, NOW, 0), CCORE_OK);
		cc_w_init(&rrm);
		CHECK_EQ_INT(cc_commit_remove(ccore_chain(pk), (const uint8_t(*)[16])dev[GGD].cert.device_id, 1,
		                              dev[CM].keys, &dev[CM].cert, &pol, root->pk, NOW + 200, NULL, "einde",
		                              &rrm),
		             CC_OK);
		CHECK_EQ_INT(ccore_apply_commit(pk, rrm.p, rrm.len, NOW + 300, 1), CCORE_OK);
		CHECK_EQ_INT(open_msg(pk, 1, &before, 0, NOW + 300), CCORE_OK);
		CHECK_EQ_INT(open_msg(pk, 2, &after, 0, NOW + 300), CCORE_E_STALE_EPOCH);
		cc_w_free(&rcr);
		cc_w_free(&rrm);
		cc_w_free(&before);
		cc_w_free(&after);
		ccore_casus_free(pk);
		ccore_free(pc);
	}
	/* a message of another casus */
	uint8_t id3[16];
	cc_commit_new_casus_id(id3);
	ccore_casus *k3 = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id3, &k3), CCORE_OK);
	CHECK_EQ_INT(open_msg(k3, 1, &n0, 0, NOW + 130), CCORE_E_WRONG_CASUS);
	/* tampered ciphertext */
	n0.p[n0.len - 100] ^= 1;
	CHECK(open_msg(k, 12, &n0, 0, NOW + 130) != CCORE_OK);
	cc_w_free(&cr);
	cc_w_free(&rot);
	cc_w_free(&m0);
	cc_w_free(&m1);
	cc_w_free(&m2);
	cc_w_free(&late);
	cc_w_free(&n0);
	cc_w_free(&stale);
	ccore_casus_free(k);
	ccore_casus_free(k2);
	ccore_casus_free(k3);
	ccore_free(c);
}

/* A grant as a hostile member would make it (cc_casus_grant refuses to give
 * a key to a device whose role may not read the audience): signed by the
 * granter, the message key sealed to the grantee. */
static void forge_grant(const cc_wbuf *m, const cc_chain_state *st, int granter, int grantee, cc_wbuf *out)
{
	cc_message msg;
	CHECK_EQ_INT(cc_message_decode(m->p, m->len, &msg), CC_OK);
	uint8_t mk[CC_MESSAGE_KEY_BYTES];
	CHECK_EQ_INT(cc_casus_message_key(dev[granter].cs, &pol, m->p, m->len, mk), CC_OK);
	cc_grant g;
	memset(&g, 0, sizeof g);
	g.version = CC_GRANT_VERSION;
	memcpy(g.casus_id, st->casus_id, 16);
	g.epoch = st->epoch;
	memcpy(g.epoch_hash, st->head, CC_HASH_BYTES);
	memcpy(g.granter, dev[granter].cert.device_id, 16);
	g.time = NOW + 2;
	g.ground = CC_GROUND_CONSENT;
	cc_grant_item item;
	memcpy(item.message_id, msg.h.message_id, sizeof item.message_id);
	item.audience = msg.h.audience;
	CHECK_EQ_INT(cc_message_hash(m->p, m->len, item.message_hash), CC_OK);
	g.nitems = 1;
	g.items = &item;
	uint8_t box[CC_GRANT_BOX_BYTES], plain[CC_GRANT_BOX_PLAIN_BYTES];
	size_t o = 0;
	plain[o++] = 0x02;
	memcpy(plain + o, dev[grantee].cert.device_id, 16);
	o += 16;
	memcpy(plain + o, st->casus_id, 16);
	o += 16;
	memcpy(plain + o, msg.h.message_id, CC_MESSAGE_ID_BYTES);
	o += CC_MESSAGE_ID_BYTES;
	memcpy(plain + o, item.message_hash, CC_HASH_BYTES);
	o += CC_HASH_BYTES;
	memcpy(plain + o, mk, sizeof mk);
	CHECK_EQ_INT(crypto_box_seal(box, plain, sizeof plain, dev[grantee].cert.box_pk), 0);
	cc_grant_device gd;
	memset(&gd, 0, sizeof gd); /* version 2: no wrap version */
	memcpy(gd.device_id, dev[grantee].cert.device_id, 16);
	gd.boxes = box;
	g.ndevices = 1;
	g.devices = &gd;
	CHECK_EQ_INT(cc_grant_seal_reason(&g, "toestemming", dev[granter].cert.box_pk,
	                                  (const uint8_t(*)[CC_BOX_PK_BYTES])dev[grantee].cert.box_pk),
	             CC_OK);
	CHECK_EQ_INT(cc_grant_sign(&g, dev[granter].keys), CC_OK);
	cc_w_init(out);
	CHECK_EQ_INT(cc_grant_encode(&g, out), CC_OK);
	sodium_memzero(mk, sizeof mk);
	sodium_memzero(plain, sizeof plain);
}

static void test_grants_and_outbox(void)
{
	/* level 4: CM, GGD, POL; CM grants a zorg note to the police device */
	uint8_t id[16];
	cc_commit_new_casus_id(id);
	const int members[] = {GGD, POL};
	cc_wbuf cr, m, g;
	create(&cr, id, 4, members, 2, NOW);
	CHECK_EQ_INT(e2e_dev_reset(&dev[CM]), CC_OK);
	CHECK_EQ_INT(cc_casus_apply_commit(dev[CM].cs, cr.p, cr.len, &pol, root->pk, NOW, NULL), CC_OK);
	encrypt(CM, NULL, AUD_ZORG, NOW + 1, "zorginformatie", &m);
	const uint8_t *msgs[1] = {m.p};
	size_t lens[1] = {m.len};
	cc_w_init(&g);
	CHECK_EQ_INT(cc_casus_grant(dev[CM].cs, &pol, (const uint8_t(*)[16])dev[POL].cert.device_id, 1, msgs, lens, 1,
	                            CC_GROUND_CONSENT, "toestemming", NOW + 2, &g),
	             CC_ERR_AUDIENCE); /* an honest granter's client refuses already */
	cc_w_free(&g);
	forge_grant(&m, cc_casus_chain(dev[CM].cs), CM, POL, &g);
	ccore *c = core_for(POL);
	ccore_casus *k = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &k), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(k, cr.p, cr.len, NOW + 3, 1), CCORE_OK);
	int rc = ccore_accept_grant(k, g.p, g.len, msgs, lens, 1);
	CHECK_EQ_INT(rc, CCORE_E_GRANT_AUDIENCE);
	CHECK(strcmp(ccore_code(rc), "grant_audience") == 0);
	/* the server leaves the messages out of the grant: the key is kept, but
	 * the message still does not open for this role */
	CHECK_EQ_INT(ccore_accept_grant(k, g.p, g.len, NULL, NULL, 0), CCORE_OK);
	CHECK_EQ_INT(open_msg(k, 1, &m, 0, NOW + 4), CCORE_E_GRANT_AUDIENCE);

	/* outbox: recipients recorded at queue time; a broader roster later is refused */
	ccore *cc = core_for(CM);
	ccore_casus *kc = NULL;
	CHECK_EQ_INT(ccore_casus_new(cc, id, &kc), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(kc, cr.p, cr.len, NOW + 3, 1), CCORE_OK);
	json_t *queued = ccore_recipients(kc, AUD_OVERLEG);
	CHECK_EQ_INT(json_array_size(queued), 3);
	CHECK_EQ_INT(ccore_outbox_may_encrypt(kc, AUD_OVERLEG, queued), CCORE_OK);
	cc_wbuf add;
	cc_w_init(&add);
	cc_commit_change chg = {.type = CC_COMMIT_ADD, .add = &dev[PR].cert, .nadd = 1, .reason = "regie"};
	CHECK_EQ_INT(ccore_build(kc, &chg, NOW + 4, &add), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(kc, add.p, add.len, NOW + 5, 1), CCORE_OK);
	rc = ccore_outbox_may_encrypt(kc, AUD_OVERLEG, queued);
	CHECK_EQ_INT(rc, CCORE_E_WIDENED);
	CHECK(strcmp(ccore_code(rc), "audience_widened") == 0);
	/* the zorg audience did not grow (procesregisseur is not in it): fine */
	json_t *qz = json_array();
	json_array_append_new(qz, json_string("x"));
	json_t *zr = ccore_recipients(kc, AUD_ZORG);
	CHECK_EQ_INT(ccore_outbox_may_encrypt(kc, AUD_ZORG, zr), CCORE_OK);
	CHECK_EQ_INT(ccore_outbox_may_encrypt(kc, AUD_ZORG, qz), CCORE_E_WIDENED);
	json_decref(qz);
	json_decref(zr);
	json_decref(queued);
	cc_w_free(&cr);
	cc_w_free(&m);
	cc_w_free(&g);
	cc_w_free(&add);
	ccore_casus_free(k);
	ccore_casus_free(kc);
	ccore_free(c);
	ccore_free(cc);
}

static void test_text_and_paging(void)
{
	char *t = ccore_text_clean("ok\n#12 10:00 [zorg] Anna\x1b[31m\x7f\xc2\x9b"
	                           "e\xcc\x81 \xe2\x80\xae"
	                           "x\xff");
	CHECK(t != NULL);
	if (!t)
		return;
	CHECK(strchr(t, '\n') == NULL);
	CHECK(strchr(t, 0x1b) == NULL);
	CHECK(strchr(t, 0x7f) == NULL);
	CHECK(strstr(t, "\xc2\x9b") == NULL);     /* C1 CSI */
	CHECK(strstr(t, "\xe2\x80\xae") == NULL); /* right-to-left override */
	CHECK(strstr(t, "e\xcc\x81") != NULL);    /* a combining accent is text */
	CHECK(strcmp(t, "ok\xef\xbf\xbd#12 10:00 [zorg] Anna\xef\xbf\xbd[31m\xef\xbf\xbd\xef\xbf\xbd"
	                "e\xcc\x81 "
	                "\xef\xbf\xbdx\xef\xbf\xbd") == 0);
	free(t);
	t = ccore_text_clean("Gewoon tekst: café, 😀");
	CHECK(t && strcmp(t, "Gewoon tekst: café, 😀") == 0);
	free(t);

	ccore_pager pg = {0};
	CHECK_EQ_INT(ccore_paging_step(&pg, 5, 1), 1);
	CHECK_EQ_INT(ccore_paging_step(&pg, 0, 1), 1);
	CHECK_EQ_INT(ccore_paging_step(&pg, 3, 1), 1); /* progress resets the count */
	CHECK_EQ_INT(ccore_paging_step(&pg, 0, 1), 1);
	CHECK_EQ_INT(ccore_paging_step(&pg, 0, 1), 1);
	int rc = ccore_paging_step(&pg, 0, 1);
	CHECK_EQ_INT(rc, CCORE_E_PAGING);
	CHECK(strcmp(ccore_code(rc), "paging") == 0);
	ccore_pager done = {0};
	CHECK_EQ_INT(ccore_paging_step(&done, 0, 0), 0);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	CHECK_EQ_INT(e2e_signed_policy(&root, 5, &pol, &pol_enc), CC_OK);
	for (int i = 0; i < NDEV; i++)
		CHECK_EQ_INT(e2e_dev_make(&dev[i], root, USER[i], ROLE[i], (uint64_t)(100 + i)), CC_OK);

	test_policy_and_revlist();
	test_chain();
	test_withheld();
	test_backdating_and_revoked();
	test_messages();
	test_grants_and_outbox();
	test_text_and_paging();

	for (int i = 0; i < NDEV; i++)
		e2e_dev_free(&dev[i]);
	cc_w_free(&pol_enc);
	cc_root_key_free(root);
	return check_done();
}
