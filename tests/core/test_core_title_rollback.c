/*
 * test_core_title_rollback.c: two client-core decisions, with no network and
 * no files.
 *
 * The title (issue #14): the creator's title travels in the reason box of
 * every commit its device builds (ccore_set_title, ccore_build), so every
 * member reads it (ccore_title) whatever audiences the role reads, and a
 * member admitted later (police at level 4) reads it from the commit that
 * admitted it; the reason listed (ccore_commit_info) is the reason alone; a
 * device never in the roster reads no title; a level change without a reason
 * is still refused (the title never stands in for it); bad titles refused.
 *
 * A server that went back in time (issue #16): the store epoch named in
 * hello (ccore_store_epoch; warned per local copy made from another store),
 * the highest sequence number seen per casus, a
 * head below it, a listing that shows another message at a number held here
 * (ccore_rollback_check, ccore_seq_held): each a "rollback" warning (once per
 * casus), the casus marked diverged, and all of it kept across a save and
 * restore of the local copy's state.
 */
#include "check.h"
#include "test_e2e_fixture.h"

#include <ccore.h>

enum {
	CM,
	GGD,
	POL,
	PR,
	ED,
	NDEV
};
static const char *const ROLE[NDEV] = {"casemanager", "ggd", "politie", "procesregisseur", "ervaringsdeskundige"};
static const char *const USER[NDEV] = {"cm.jansen", "ggd.visser", "pol.smit", "pr.meijer", "ed.bos"};

static cc_root_key *root;
static cc_policy pol;
static cc_wbuf pol_enc;
static e2e_dev dev[NDEV];
static const int64_t NOW = E2E_NOW;

#define TITLE "Mevrouw A. (Rozenstraat)"

static int count_warnings(ccore *c, const char *code)
{
	json_t *w = ccore_take_warnings(c);
	size_t i;
	json_t *o;
	int n = 0;
	json_array_foreach(w, i, o) {
		const char *k = json_string_value(json_object_get(o, "code"));
		if (k && strcmp(k, code) == 0)
			n++;
	}
	json_decref(w);
	return n;
}

static ccore *core_for(int d)
{
	ccore *c = NULL;
	int changed = 0;
	CHECK_EQ_INT(ccore_new(&c, root->pk, dev[d].keys, &dev[d].cert), CCORE_OK);
	CHECK_EQ_INT(ccore_policy_offer(c, pol_enc.p, pol_enc.len, 0, &changed), CCORE_OK);
	return c;
}

/* A device following the casus: every commit so far applied. */
static ccore_casus *follower(ccore *c, const uint8_t id[16], cc_wbuf *const *chain, size_t n, int64_t now)
{
	ccore_casus *k = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &k), CCORE_OK);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ_INT(ccore_apply_commit(k, chain[i]->p, chain[i]->len, now, i + 1 == n), CCORE_OK);
	return k;
}

/* The creator builds the next commit and applies it itself. */
static void build(ccore_casus *k, const cc_commit_change *chg, int64_t t, cc_wbuf *out)
{
	cc_w_init(out);
	CHECK_EQ_INT(ccore_build(k, chg, t, out), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(k, out->p, out->len, t, 1), CCORE_OK);
}

static int open_msg(ccore_casus *k, uint64_t seq, const cc_wbuf *m)
{
	cc_wbuf pt;
	cc_w_init_secret(&pt);
	int rc = ccore_open_message(k, seq, m->p, m->len, 0, NOW + 500, &pt, NULL, NULL);
	cc_w_free(&pt);
	return rc;
}

static void test_title(void)
{
	ccore *cm = core_for(CM);
	uint8_t id[16];
	cc_commit_new_casus_id(id);
	ccore_casus *kc = NULL;
	CHECK_EQ_INT(ccore_casus_new(cm, id, &kc), CCORE_OK);
	/* bad titles: empty, control characters, the separator, too long */
	char longt[CCORE_TITLE_MAX + 2];
	memset(longt, 'x', sizeof longt - 1);
	longt[sizeof longt - 1] = '\0';
	CHECK_EQ_INT(ccore_set_title(kc, ""), CCORE_E_INVALID);
	CHECK_EQ_INT(ccore_set_title(kc, "regel\nnieuw"), CCORE_E_INVALID);
	CHECK_EQ_INT(ccore_set_title(kc, "a\xe2\x90\x9e"
	                                 "b"),
	             CCORE_E_INVALID);
	CHECK_EQ_INT(ccore_set_title(kc, longt), CCORE_E_INVALID);
	CHECK(ccore_title(kc) == NULL);
	CHECK_EQ_INT(ccore_set_title(kc, TITLE), CCORE_OK);

	/* create: the creator and the GGD member */
	cc_wbuf cr, esc, add, esc4, addp;
	cc_commit_change chg = {.type = CC_COMMIT_CREATE,
	                        .level = 1,
	                        .add = &dev[GGD].cert,
	                        .nadd = 1,
	                        .reason = "casus opened"};
	memcpy(chg.casus_id, id, sizeof id);
	build(kc, &chg, NOW, &cr);
	CHECK(ccore_title(kc) && strcmp(ccore_title(kc), TITLE) == 0);
	ccore *gg = core_for(GGD);
	cc_wbuf *c1[] = {&cr};
	ccore_casus *kg = follower(gg, id, c1, 1, NOW + 1);
	CHECK(ccore_title(kg) && strcmp(ccore_title(kg), TITLE) == 0);
	ccore_commit_info_t ci;
	CHECK_EQ_INT(ccore_commit_info(kg, 0, &ci), CCORE_OK);
	CHECK(ci.reason && strcmp(ci.reason, "casus opened") == 0);

	/* a level change without a reason: still refused, the title does not stand in */
	cc_commit_change bad = {.type = CC_COMMIT_ESCALATE, .level = 3, .reason = ""};
	cc_wbuf none;
	cc_w_init(&none);
	CHECK(ccore_build(kc, &bad, NOW + 5, &none) != CCORE_OK);
	cc_w_free(&none);

	/* level 3 with a reason that itself holds the separator; the process
	 * director is admitted, takes it to level 4 and admits police: the title
	 * goes on in commits the creator did not build */
	const char *why = "zorgen \xe2\x90\x9e veiligheid";
	cc_commit_change up = {.type = CC_COMMIT_ESCALATE, .level = 3, .reason = why};
	build(kc, &up, NOW + 10, &esc);
	cc_commit_change ad = {.type = CC_COMMIT_ADD, .add = &dev[PR].cert, .nadd = 1};
	build(kc, &ad, NOW + 20, &add);
	cc_wbuf *c3[] = {&cr, &esc, &add};
	ccore *pr = core_for(PR);
	ccore_casus *kr = follower(pr, id, c3, 3, NOW + 30);
	CHECK(ccore_title(kr) && strcmp(ccore_title(kr), TITLE) == 0);
	CHECK_EQ_INT(ccore_commit_info(kr, 2, &ci), CCORE_OK);
	CHECK(ci.reason == NULL); /* an add without a reason: the title alone */
	cc_commit_change up4 = {.type = CC_COMMIT_ESCALATE, .level = 4, .reason = "politie nodig"};
	build(kr, &up4, NOW + 40, &esc4);
	cc_commit_change adp = {.type = CC_COMMIT_ADD, .add = &dev[POL].cert, .nadd = 1};
	build(kr, &adp, NOW + 50, &addp);
	cc_wbuf *c5[] = {&cr, &esc, &add, &esc4, &addp};
	ccore *po = core_for(POL);
	ccore_casus *kp = follower(po, id, c5, 5, NOW + 60);
	/* police reads no zorg note, but the title: from the commit that admitted it */
	CHECK(ccore_title(kp) && strcmp(ccore_title(kp), TITLE) == 0);
	CHECK_EQ_INT(ccore_commit_info(kp, 0, &ci), CCORE_OK);
	CHECK(ci.reason == NULL); /* not in that roster */
	/* the GGD member reads the reasons as they were given */
	for (size_t i = 1; i < 5; i++)
		CHECK_EQ_INT(ccore_apply_commit(kg, c5[i]->p, c5[i]->len, NOW + 60, i == 4), CCORE_OK);
	CHECK_EQ_INT(ccore_commit_info(kg, 1, &ci), CCORE_OK);
	CHECK(ci.reason && strcmp(ci.reason, why) == 0);
	CHECK_EQ_INT(ccore_commit_info(kg, 3, &ci), CCORE_OK);
	CHECK(ci.reason && strcmp(ci.reason, "politie nodig") == 0);
	CHECK(ccore_title(kg) && strcmp(ccore_title(kg), TITLE) == 0);
	/* a device never in the roster follows the public chain without a title */
	ccore *ed = core_for(ED);
	ccore_casus *ke = follower(ed, id, c5, 5, NOW + 60);
	CHECK(ccore_title(ke) == NULL);

	ccore_casus_free(ke);
	ccore_free(ed);
	ccore_casus_free(kr);
	ccore_free(pr);
	ccore_casus_free(kp);
	ccore_free(po);
	ccore_casus_free(kg);
	ccore_free(gg);
	ccore_casus_free(kc);
	ccore_free(cm);
	cc_w_free(&cr);
	cc_w_free(&esc);
	cc_w_free(&add);
	cc_w_free(&esc4);
	cc_w_free(&addp);
}

static void test_rollback(void)
{
	static const char *const EP1 = "00112233445566778899aabbccddeeff";
	static const char *const EP2 = "ffeeddccbbaa99887766554433221100";
	uint8_t id[16];
	cc_commit_new_casus_id(id);
	cc_wbuf cr;
	cc_w_init(&cr);
	CHECK_EQ_INT(cc_commit_create(id, 1, &dev[GGD].cert, 1, dev[CM].keys, &dev[CM].cert, &pol, root->pk, NOW,
	                              "open", &cr),
	             CC_OK);
	ccore *cm = core_for(CM), *gg = core_for(GGD);
	cc_wbuf *c1[] = {&cr};
	ccore_casus *kc = follower(cm, id, c1, 1, NOW);
	ccore_casus *kg = follower(gg, id, c1, 1, NOW);
	cc_wbuf m[4];
	for (int i = 0; i < 4; i++) {
		char t[32];
		snprintf(t, sizeof t, "note %d", i + 1);
		cc_w_init(&m[i]);
		CHECK_EQ_INT(cc_casus_encrypt(ccore_cc(kc), &pol, AUD_ZORG, CC_GROUND_NONE, (const uint8_t *)t,
		                              strlen(t), NOW + 10 + i, &m[i]),
		             CC_OK);
	}

	/* the store epoch: malformed refused; the first one held; the same again is fine */
	CHECK_EQ_INT(ccore_store_epoch(gg, "not hex", 0), CCORE_E_INVALID);
	CHECK_EQ_INT(ccore_store_epoch(gg, "", 0), CCORE_E_INVALID);
	CHECK_EQ_INT(ccore_store_epoch(gg, EP1, 1), CCORE_OK);
	CHECK_EQ_INT(ccore_store_epoch(gg, EP1, 0), CCORE_OK);
	CHECK_EQ_INT(count_warnings(gg, "rollback"), 0);
	CHECK(strcmp(ccore_store_epoch_held(gg), EP1) == 0);

	/* GGD reads #1..#3; the head at 3 or beyond is no rollback */
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(open_msg(kg, (uint64_t)i + 1, &m[i]), CCORE_OK);
	CHECK_EQ_INT((int)ccore_high_seq(kg), 3);
	CHECK_EQ_INT(ccore_rollback_check(kg, 0, 0), CCORE_OK);
	CHECK_EQ_INT(ccore_rollback_check(kg, 1, 3), CCORE_OK);
	CHECK_EQ_INT(ccore_rollback_check(kg, 1, 7), CCORE_OK);
	CHECK_EQ_INT(ccore_seq_held(kg, 2, "aa", "aa"), CCORE_OK);
	CHECK_EQ_INT(ccore_diverged(kg), 0);
	CHECK_EQ_INT(count_warnings(gg, "rollback"), 0);
	json_t *saved = ccore_casus_save(kg); /* made under EP1, no rollback yet */

	/* the server's head below what was seen: warned once, marked, kept marked */
	int rc = ccore_rollback_check(kg, 1, 2);
	CHECK_EQ_INT(rc, CCORE_E_ROLLBACK);
	CHECK(strcmp(ccore_code(rc), "rollback") == 0);
	CHECK_EQ_INT(ccore_diverged(kg), 1);
	CHECK_EQ_INT(count_warnings(gg, "rollback"), 1);
	CHECK_EQ_INT(ccore_rollback_check(kg, 1, 2), CCORE_E_ROLLBACK);
	CHECK_EQ_INT(count_warnings(gg, "rollback"), 0); /* once per casus and process */
	json_t *marked = ccore_casus_save(kg);
	ccore_casus *kg2 = follower(gg, id, c1, 1, NOW);
	ccore_casus_restore(kg2, marked);
	CHECK_EQ_INT(ccore_diverged(kg2), 1);
	CHECK_EQ_INT((int)ccore_high_seq(kg2), 3);
	ccore_casus_free(kg2);
	json_decref(marked);

	/* another message at a number held here */
	ccore_casus *kg3 = follower(gg, id, c1, 1, NOW);
	ccore_casus_restore(kg3, saved);
	CHECK_EQ_INT(ccore_diverged(kg3), 0);
	CHECK_EQ_INT(ccore_seq_held(kg3, 3, "0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210"),
	             CCORE_E_ROLLBACK);
	CHECK_EQ_INT(ccore_diverged(kg3), 1);
	CHECK_EQ_INT(count_warnings(gg, "rollback"), 1);
	ccore_casus_free(kg3);

	/* the server names another store (restored from a backup): a local copy
	 * made under the old one is warned about when it is loaded, once */
	rc = ccore_store_epoch(gg, EP2, 0);
	CHECK_EQ_INT(rc, CCORE_E_ROLLBACK);
	CHECK_EQ_INT(count_warnings(gg, "rollback"), 0); /* warned per local copy, below */
	CHECK(strcmp(ccore_store_epoch_held(gg), EP2) == 0);
	ccore_casus *kg4 = follower(gg, id, c1, 1, NOW);
	ccore_casus_restore(kg4, saved);
	CHECK_EQ_INT((int)ccore_high_seq(kg4), 3);
	CHECK_EQ_INT(ccore_rollback_check(kg4, 1, 9), CCORE_E_ROLLBACK); /* a higher head does not hide it */
	CHECK_EQ_INT(ccore_diverged(kg4), 1);
	CHECK_EQ_INT(count_warnings(gg, "rollback"), 1);
	/* its state now names the new store: a later process is not warned again for the epoch */
	json_t *after = ccore_casus_save(kg4);
	CHECK(strcmp(json_string_value(json_object_get(after, "store_epoch")) ?: "", EP2) == 0);
	ccore_casus *kg5 = follower(gg, id, c1, 1, NOW);
	ccore_casus_restore(kg5, after);
	CHECK_EQ_INT(ccore_rollback_check(kg5, 1, 9), CCORE_OK);
	CHECK_EQ_INT(ccore_diverged(kg5), 1); /* but the copy stays marked diverged */
	ccore_casus_free(kg5);
	json_decref(after);
	ccore_casus_free(kg4);

	/* a device without a held epoch (first contact) is never warned */
	ccore *fresh = core_for(GGD);
	CHECK_EQ_INT(ccore_store_epoch(fresh, EP2, 0), CCORE_OK);
	CHECK_EQ_INT(count_warnings(fresh, "rollback"), 0);
	ccore_free(fresh);

	json_decref(saved);
	for (int i = 0; i < 4; i++)
		cc_w_free(&m[i]);
	ccore_casus_free(kg);
	ccore_casus_free(kc);
	ccore_free(gg);
	ccore_free(cm);
	cc_w_free(&cr);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	CHECK_EQ_INT(e2e_signed_policy(&root, 5, &pol, &pol_enc), CC_OK);
	for (int i = 0; i < NDEV; i++)
		CHECK_EQ_INT(e2e_dev_make(&dev[i], root, USER[i], ROLE[i], (uint64_t)(400 + i)), CC_OK);
	test_title();
	test_rollback();
	for (int i = 0; i < NDEV; i++)
		e2e_dev_free(&dev[i]);
	cc_w_free(&pol_enc);
	cc_root_key_free(root);
	return check_done();
}
