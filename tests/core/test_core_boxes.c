/*
 * test_core_boxes.c: a withheld version 4 box is flagged (issue 17,
 * docs/CRYPTO.md "Boxes beside the signed part"). The server stores a commit's
 * sealed key boxes apart from its signed part and may delete the ones no
 * current device needs (box retention); a box sealed to the device's newest
 * wrap key, of a device that has stayed in the roster with a valid
 * certificate, is never deleted, so the core reports it missing as
 * `withheld_box` at the end of the chain (ccore_chain_done) instead of
 * applying the epoch without its key. Shown: the head's box withheld, an
 * earlier commit's box withheld, only the reason key's box withheld, a
 * commit stripped of the box that superseded this device's own pending
 * commit (withheld_box, not withheld_commit), a box sealed to the older
 * wrap key while the newer one was never published; and the
 * legitimate cases that must pass: boxes sealed to a wrap key the device has
 * rotated past, boxes of epochs before the device was removed and added
 * again, a certificate about to expire, a directory that holds a newer own
 * wrap key (a keystore restored from a backup), a core never told its wrap
 * keys, every box delivered.
 */
#include "check.h"
#include "test_e2e_fixture.h"

#include <ccore.h>

static cc_root_key *root;
static cc_policy pol;
static cc_wbuf pol_enc;
static const int64_t NOW = E2E_NOW;
static e2e_dev cm, g;      /* the actor (no wrap key) and the device under test */
static cc_wrap_secret *ws; /* g's wrap secrets: ws[0] = version 1, ws[1] = version 2 */

#define ENTRY (1 + CC_DEVICE_ID_BYTES + CC_SEALED_KEY_BYTES)
#define KEEP_ALL (-1)
#define KEEP_NONE (-2)

/* The commit as casusd serves it to g: the signed part and g's boxes, except
 * those of audience `drop` (KEEP_ALL: every one of g's boxes, KEEP_NONE: no
 * box section at all, as after retention deleted every box of g). */
static void serve(const cc_wbuf *w, int drop, cc_wbuf *out)
{
	size_t sl = 0;
	CHECK_EQ_INT(cc_commit_signed_len(w->p, w->len, &sl), CC_OK);
	cc_w_init(out);
	cc_w_fixed(out, w->p, sl);
	if (drop == KEEP_NONE || w->len < sl + 2)
		return;
	uint16_t nb = (uint16_t)(w->p[sl] << 8 | w->p[sl + 1]);
	const uint8_t *at = w->p + sl + 2;
	uint16_t mine = 0;
	for (size_t i = 0; i < nb; i++)
		if (memcmp(at + i * ENTRY + 1, g.cert.device_id, CC_DEVICE_ID_BYTES) == 0 && at[i * ENTRY] != drop)
			mine++;
	if (!mine)
		return; /* an empty box section is not an encoding */
	cc_w_u16(out, mine);
	for (size_t i = 0; i < nb; i++)
		if (memcmp(at + i * ENTRY + 1, g.cert.device_id, CC_DEVICE_ID_BYTES) == 0 && at[i * ENTRY] != drop)
			cc_w_fixed(out, at + i * ENTRY, ENTRY);
	CHECK_EQ_INT(out->err, CC_OK);
}

/* The next commit by cm on its chain, g's boxes sealed to g's wrap key
 * `gwrap` (0: its certified box key); the actor applies it if `apply`. */
static void build_at(uint8_t type, const uint8_t id[CC_CASUS_ID_BYTES], const cc_cert *add, size_t nadd,
                     const uint8_t (*rm)[CC_DEVICE_ID_BYTES], size_t nrm, uint32_t gwrap, int64_t t, int apply,
                     cc_wbuf *out)
{
	cc_commit_change chg;
	memset(&chg, 0, sizeof chg);
	chg.type = type;
	if (id)
		memcpy(chg.casus_id, id, CC_CASUS_ID_BYTES);
	chg.level = 1;
	chg.add = add;
	chg.nadd = nadd;
	chg.remove = rm;
	chg.nremove = nrm;
	chg.reason = "overleg";
	cc_wrap_target tg;
	if (gwrap) {
		memcpy(tg.device_id, g.cert.device_id, CC_DEVICE_ID_BYTES);
		tg.version = gwrap;
		memcpy(tg.pk, ws[gwrap - 1].pk, CC_BOX_PK_BYTES);
		chg.wraps = &tg;
		chg.nwraps = 1;
	}
	cc_w_init(out);
	CHECK_EQ_INT(cc_commit_build(cc_casus_chain(cm.cs), &chg, cm.keys, &cm.cert, &pol, root->pk, t, NULL, out),
	             CC_OK);
	if (apply)
		CHECK_EQ_INT(cc_casus_apply_commit(cm.cs, out->p, out->len, &pol, root->pk, t, NULL), CC_OK);
}

static void build(uint8_t type, const uint8_t id[CC_CASUS_ID_BYTES], const cc_cert *add, size_t nadd,
                  const uint8_t (*rm)[CC_DEVICE_ID_BYTES], size_t nrm, uint32_t gwrap, int64_t t, cc_wbuf *out)
{
	build_at(type, id, add, nadd, rm, nrm, gwrap, t, 1, out);
}

/* g's core holding the wrap secrets ws[lo..hi) (newest = hi), or none when
 * hi is 0 and set is 0. */
static ccore *core_g(const cc_cert *cert, size_t lo, size_t hi, int set)
{
	ccore *c = NULL;
	int changed = 0;
	CHECK_EQ_INT(ccore_new(&c, root->pk, g.keys, cert), CCORE_OK);
	CHECK_EQ_INT(ccore_policy_offer(c, pol_enc.p, pol_enc.len, 0, &changed), CCORE_OK);
	if (set)
		CHECK_EQ_INT(ccore_set_wraps(c, ws + lo, hi - lo, (uint32_t)hi), CCORE_OK);
	return c;
}

/* Feed the served commits to a new casus of core c (the last one the head)
 * and return ccore_chain_done's verdict at now. */
static int load(ccore *c, const uint8_t id[CC_CASUS_ID_BYTES], cc_wbuf *served, size_t n, int64_t now,
                ccore_casus **out)
{
	ccore_casus *k = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &k), CCORE_OK);
	for (size_t i = 0; i < n; i++)
		CHECK_EQ_INT(ccore_apply_commit(k, served[i].p, served[i].len, now, i + 1 == n), CCORE_OK);
	int rc = ccore_chain_done(k, now);
	if (out)
		*out = k;
	else
		ccore_casus_free(k);
	return rc;
}

static void new_chain(uint8_t id[CC_CASUS_ID_BYTES])
{
	cc_commit_new_casus_id(id);
	CHECK_EQ_INT(e2e_dev_reset(&cm), CC_OK);
}

/* Withheld: the head's boxes, an earlier commit's, only the reason key's. */
static void test_withheld(void)
{
	uint8_t id[16];
	new_chain(id);
	cc_wbuf w[2], s[2];
	build(CC_COMMIT_CREATE, id, &g.cert, 1, NULL, 0, 1, NOW, &w[0]);
	build(CC_COMMIT_ROTATE, NULL, NULL, 0, NULL, 0, 1, NOW + 10, &w[1]);
	ccore *c = core_g(&g.cert, 0, 1, 1);

	/* every box delivered: no complaint, g holds both epochs' keys */
	serve(&w[0], KEEP_ALL, &s[0]);
	serve(&w[1], KEEP_ALL, &s[1]);
	ccore_casus *k = NULL;
	CHECK_EQ_INT(load(c, id, s, 2, NOW + 100, &k), CCORE_OK);
	CHECK(cc_casus_has_epoch_key(ccore_cc(k), 1, AUD_ZORG));
	ccore_casus_free(k);
	cc_w_free(&s[1]);

	/* the head's boxes withheld */
	serve(&w[1], KEEP_NONE, &s[1]);
	int rc = load(c, id, s, 2, NOW + 100, &k);
	CHECK_EQ_INT(rc, CCORE_E_WITHHELD_BOX);
	CHECK(strcmp(ccore_code(rc), "withheld_box") == 0);
	CHECK(strstr(ccore_message(c), "commit 1") != NULL);
	CHECK(strstr(ccore_message(c), "achter") != NULL); /* Dutch first */
	CHECK(!cc_casus_has_epoch_key(ccore_cc(k), 1, AUD_ZORG));
	CHECK_EQ_INT(ccore_chain_done(k, NOW + 101), CCORE_E_WITHHELD_BOX); /* not forgotten */
	ccore_casus_free(k);
	cc_w_free(&s[0]);
	cc_w_free(&s[1]);

	/* an earlier commit's boxes withheld, the head's delivered */
	serve(&w[0], KEEP_NONE, &s[0]);
	serve(&w[1], KEEP_ALL, &s[1]);
	CHECK_EQ_INT(load(c, id, s, 2, NOW + 100, NULL), CCORE_E_WITHHELD_BOX);
	CHECK(strstr(ccore_message(c), "commit 0") != NULL);
	cc_w_free(&s[0]);
	cc_w_free(&s[1]);

	/* only the reason key's box withheld (the reason and the title hidden) */
	serve(&w[0], KEEP_ALL, &s[0]);
	serve(&w[1], CC_REASON_AUDIENCE, &s[1]);
	CHECK_EQ_INT(load(c, id, s, 2, NOW + 100, NULL), CCORE_E_WITHHELD_BOX);
	CHECK(strstr(ccore_message(c), "reason") != NULL);

	/* a directory holding a newer own wrap key (this keystore restored from
	 * a backup): retention may have deleted boxes sealed to version 1 */
	ccore_wrap_dir_own(c, 2);
	CHECK_EQ_INT(load(c, id, s, 2, NOW + 100, NULL), CCORE_OK);
	cc_w_free(&s[0]);
	cc_w_free(&s[1]);
	ccore_free(c);

	/* a core never told its wrap keys does not judge (a driver's choice) */
	c = core_g(&g.cert, 0, 0, 0);
	serve(&w[0], KEEP_NONE, &s[0]);
	serve(&w[1], KEEP_NONE, &s[1]);
	CHECK_EQ_INT(load(c, id, s, 2, NOW + 100, NULL), CCORE_OK);
	ccore_free(c);
	/* certified-key boxes (version 0) of a device that never made a wrap key are judged */
	c = core_g(&g.cert, 0, 0, 1);
	cc_wbuf v0[2];
	cc_w_free(&w[0]); /* the first chain's commits: w is built again below */
	cc_w_free(&w[1]);
	new_chain(id);
	build(CC_COMMIT_CREATE, id, &g.cert, 1, NULL, 0, 0, NOW, &w[0]);
	build(CC_COMMIT_ROTATE, NULL, NULL, 0, NULL, 0, 0, NOW + 10, &w[1]);
	serve(&w[0], KEEP_ALL, &v0[0]);
	serve(&w[1], KEEP_NONE, &v0[1]);
	CHECK_EQ_INT(load(c, id, v0, 2, NOW + 100, NULL), CCORE_E_WITHHELD_BOX);
	ccore_free(c);
	for (int i = 0; i < 2; i++) {
		cc_w_free(&w[i]);
		cc_w_free(&s[i]);
		cc_w_free(&v0[i]);
	}
}

/* This device's own pending commit superseded by a commit stripped of its
 * box (the server orders the commits), or the head not yet its commit: the
 * verdict is withheld_box, not withheld_commit (which a driver building a
 * new change swallows, storing the stripped commit; later fetches start
 * after it, so the box would never be fetched again). */
static void test_superseded(void)
{
	uint8_t id[16];
	new_chain(id);
	cc_wbuf w[2], s[2], mine;
	build(CC_COMMIT_CREATE, id, &g.cert, 1, NULL, 0, 1, NOW, &w[0]);
	/* the change this device posted for epoch 1, never applied (signed by cm
	 * here: the core knows its own commit by its hash) */
	build_at(CC_COMMIT_ROTATE, NULL, NULL, 0, NULL, 0, 1, NOW + 5, 0, &mine);
	build(CC_COMMIT_ROTATE, NULL, NULL, 0, NULL, 0, 1, NOW + 10, &w[1]);
	ccore *c = core_g(&g.cert, 0, 1, 1);
	serve(&w[0], KEEP_ALL, &s[0]);

	for (int strip = 0; strip < 2; strip++) {
		serve(&w[1], strip ? KEEP_NONE : KEEP_ALL, &s[1]);
		ccore_casus *k = NULL;
		CHECK_EQ_INT(ccore_casus_new(c, id, &k), CCORE_OK);
		CHECK_EQ_INT(ccore_apply_commit(k, s[0].p, s[0].len, NOW + 100, 0), CCORE_OK);
		CHECK_EQ_INT(ccore_expect_head(k, mine.p, mine.len), CCORE_OK);
		CHECK_EQ_INT(ccore_apply_commit(k, s[1].p, s[1].len, NOW + 100, 1), CCORE_OK);
		int rc = ccore_chain_done(k, NOW + 100);
		CHECK_EQ_INT(rc, strip ? CCORE_E_WITHHELD_BOX : CCORE_E_WITHHELD);
		if (strip)
			CHECK(strstr(ccore_message(c), "commit 1") != NULL);
		CHECK_EQ_INT(ccore_pending(k), -1); /* superseded: reported once */
		CHECK_EQ_INT(ccore_chain_done(k, NOW + 101), strip ? CCORE_E_WITHHELD_BOX : CCORE_OK);
		ccore_casus_free(k);
		cc_w_free(&s[1]);
	}

	/* the head (epoch 0, stripped) not yet this device's commit (epoch 1):
	 * withheld_box, and the pending commit still expected */
	cc_w_free(&s[0]);
	serve(&w[0], KEEP_NONE, &s[0]);
	ccore_casus *k = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &k), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(k, s[0].p, s[0].len, NOW + 100, 1), CCORE_OK);
	CHECK_EQ_INT(ccore_expect_head(k, mine.p, mine.len), CCORE_OK);
	CHECK_EQ_INT(ccore_chain_done(k, NOW + 100), CCORE_E_WITHHELD_BOX);
	CHECK(strstr(ccore_message(c), "commit 0") != NULL);
	CHECK_EQ_INT(ccore_pending(k), 0);
	ccore_casus_free(k);
	ccore_free(c);
	cc_w_free(&mine);
	for (int i = 0; i < 2; i++) {
		cc_w_free(&w[i]);
		cc_w_free(&s[i]);
	}
}

/* A wrap key made but never accepted by the server (a server refusing
 * dir.publish at rotation keeps the members sealing to the older key): the
 * floor is the newest published version, so a box sealed to the older key is
 * judged; once the newer one is published (or the directory holds it), not. */
static void test_unpublished(void)
{
	uint8_t id[16];
	new_chain(id);
	cc_wbuf w[2], s[2];
	build(CC_COMMIT_CREATE, id, &g.cert, 1, NULL, 0, 1, NOW, &w[0]);
	build(CC_COMMIT_ROTATE, NULL, NULL, 0, NULL, 0, 1, NOW + 10, &w[1]);
	serve(&w[0], KEEP_ALL, &s[0]);
	serve(&w[1], KEEP_NONE, &s[1]);
	ccore *c = core_g(&g.cert, 0, 2, 1); /* made version 2 */
	/* a driver that never says what was published: the keystore's newest */
	CHECK_EQ_INT(load(c, id, s, 2, NOW + 100, NULL), CCORE_OK);
	ccore_wrap_published(c, 1); /* the server refused version 2 */
	CHECK_EQ_INT(load(c, id, s, 2, NOW + 100, NULL), CCORE_E_WITHHELD_BOX);
	CHECK(strstr(ccore_message(c), "sealed to wrap key 1") != NULL);
	ccore_wrap_published(c, 0); /* only raises */
	CHECK_EQ_INT(load(c, id, s, 2, NOW + 100, NULL), CCORE_E_WITHHELD_BOX);
	ccore_wrap_dir_own(c, 2); /* the directory holds version 2 after all */
	CHECK_EQ_INT(load(c, id, s, 2, NOW + 100, NULL), CCORE_OK);
	ccore_free(c);
	c = core_g(&g.cert, 0, 2, 1);
	ccore_wrap_published(c, 2); /* accepted: retention may delete boxes sealed to 1 */
	CHECK_EQ_INT(load(c, id, s, 2, NOW + 100, NULL), CCORE_OK);
	ccore_free(c);
	/* nothing ever published: boxes sealed to the certified key are judged */
	new_chain(id);
	cc_w_free(&w[0]);
	cc_w_free(&s[0]);
	build(CC_COMMIT_CREATE, id, &g.cert, 1, NULL, 0, 0, NOW, &w[0]);
	serve(&w[0], KEEP_NONE, &s[0]);
	c = core_g(&g.cert, 0, 1, 1);
	ccore_wrap_published(c, 0);
	CHECK_EQ_INT(load(c, id, s, 1, NOW + 100, NULL), CCORE_E_WITHHELD_BOX);
	ccore_free(c);
	for (int i = 0; i < 2; i++) {
		cc_w_free(&w[i]);
		cc_w_free(&s[i]);
	}
}

/* Box retention's own deletions: never flagged. */
static void test_retention(void)
{
	uint8_t id[16];
	/* (a) sealed to wrap key 1, g rotated to 2: epochs 0 and 1 lost their
	 * boxes after the grace, epoch 2 (sealed to 2) keeps its box */
	new_chain(id);
	cc_wbuf w[3], s[3];
	build(CC_COMMIT_CREATE, id, &g.cert, 1, NULL, 0, 1, NOW, &w[0]);
	build(CC_COMMIT_ROTATE, NULL, NULL, 0, NULL, 0, 1, NOW + 10, &w[1]);
	build(CC_COMMIT_ROTATE, NULL, NULL, 0, NULL, 0, 2, NOW + 20, &w[2]);
	serve(&w[0], KEEP_NONE, &s[0]);
	serve(&w[1], KEEP_NONE, &s[1]);
	serve(&w[2], KEEP_ALL, &s[2]);
	ccore *c = core_g(&g.cert, 1, 2, 1); /* holds version 2 only: 1 wiped after its grace */
	ccore_casus *k = NULL;
	CHECK_EQ_INT(load(c, id, s, 3, NOW + 100, &k), CCORE_OK);
	CHECK(!cc_casus_has_epoch_key(ccore_cc(k), 0, AUD_ZORG));
	CHECK(cc_casus_has_epoch_key(ccore_cc(k), 2, AUD_ZORG));
	ccore_casus_free(k);
	ccore_free(c);
	/* still holding version 1 within its grace: the server's grace may be shorter */
	c = core_g(&g.cert, 0, 2, 1);
	CHECK_EQ_INT(load(c, id, s, 3, NOW + 100, NULL), CCORE_OK);
	/* but epoch 2's box (sealed to the newest) withheld is flagged */
	cc_w_free(&s[2]);
	serve(&w[2], KEEP_NONE, &s[2]);
	CHECK_EQ_INT(load(c, id, s, 3, NOW + 100, NULL), CCORE_E_WITHHELD_BOX);
	ccore_free(c);
	for (int i = 0; i < 3; i++) {
		cc_w_free(&w[i]);
		cc_w_free(&s[i]);
	}

	/* (b) g removed and added again, its wrap key unchanged: the boxes of the
	 * epochs before the removal were deleted while it was out */
	new_chain(id);
	cc_wbuf r[3], rs[3];
	const uint8_t(*gid)[CC_DEVICE_ID_BYTES] = (const uint8_t(*)[CC_DEVICE_ID_BYTES])g.cert.device_id;
	build(CC_COMMIT_CREATE, id, &g.cert, 1, NULL, 0, 1, NOW, &r[0]);
	build(CC_COMMIT_REMOVE, NULL, NULL, 0, gid, 1, 1, NOW + 10, &r[1]);
	build(CC_COMMIT_ADD, NULL, &g.cert, 1, NULL, 0, 1, NOW + 20, &r[2]);
	serve(&r[0], KEEP_NONE, &rs[0]);
	serve(&r[1], KEEP_NONE, &rs[1]);
	serve(&r[2], KEEP_ALL, &rs[2]);
	c = core_g(&g.cert, 0, 1, 1);
	CHECK_EQ_INT(load(c, id, rs, 3, NOW + 100, NULL), CCORE_OK);
	/* the epoch after the re-admission is judged again */
	cc_w_free(&rs[2]);
	serve(&r[2], KEEP_NONE, &rs[2]);
	CHECK_EQ_INT(load(c, id, rs, 3, NOW + 100, NULL), CCORE_E_WITHHELD_BOX);
	/* a device removed by the head has nothing to claim */
	CHECK_EQ_INT(load(c, id, rs, 2, NOW + 100, NULL), CCORE_OK);
	ccore_free(c);
	for (int i = 0; i < 3; i++) {
		cc_w_free(&r[i]);
		cc_w_free(&rs[i]);
	}

	/* (b) a certificate about to expire (within the clock skew) on the server's clock */
	cc_cert shortc;
	{
		cc_cert_request req;
		CHECK_EQ_INT(cc_cert_request_create(&req, g.keys, "ggd.visser", "Test Person", "Test Org", "ggd"),
		             CC_OK);
		CHECK_EQ_INT(cc_cert_issue(&req, root, 402, NOW - 86400, NOW + 200, &shortc), CC_OK);
	}
	new_chain(id);
	build(CC_COMMIT_CREATE, id, &shortc, 1, NULL, 0, 1, NOW, &w[0]);
	serve(&w[0], KEEP_NONE, &s[0]);
	c = core_g(&shortc, 0, 1, 1);
	CHECK_EQ_INT(load(c, id, s, 1, NOW + 10, NULL), CCORE_OK);
	ccore_free(c);
	cc_w_free(&w[0]);
	cc_w_free(&s[0]);
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	CHECK_EQ_INT(e2e_signed_policy(&root, 5, &pol, &pol_enc), CC_OK);
	CHECK_EQ_INT(e2e_dev_make(&cm, root, "cm.jansen", "casemanager", 400), CC_OK);
	CHECK_EQ_INT(e2e_dev_make(&g, root, "ggd.visser", "ggd", 401), CC_OK);
	ws = sodium_malloc(2 * sizeof *ws);
	CHECK(ws != NULL);
	if (!ws)
		return check_done();
	CHECK_EQ_INT(cc_wrap_secret_generate(1, NOW - 20 * 86400, &ws[0]), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_generate(2, NOW - 5 * 86400, &ws[1]), CC_OK);

	test_withheld();
	test_superseded();
	test_unpublished();
	test_retention();

	sodium_free(ws);
	e2e_dev_free(&cm);
	e2e_dev_free(&g);
	cc_w_free(&pol_enc);
	cc_root_key_free(root);
	return check_done();
}
