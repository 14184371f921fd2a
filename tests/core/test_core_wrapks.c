/*
 * test_core_wrapks.c: a device's own wrap keys in its keystore
 * (client/core/ccore_wrapks.h, used by the browser client): made when due or
 * forced and put into the keystore before anything is published, a signed
 * record the device's certificate verifies, the server's acceptance noted,
 * and an old secret wiped only once its successor was accepted at least the
 * grace period ago; the state survives a keystore saved and opened again.
 */
#include "check.h"
#include "test_e2e_fixture.h"

#include <ccore.h>
#include <ccore_wrapks.h>

static const int64_t NOW = E2E_NOW;
static const int64_t WEEK = 7 * 86400, GRACE = 14 * 86400;

static int has_entry(const cc_keystore *ks, const char *name)
{
	const uint8_t *v;
	size_t l;
	return cc_keystore_get(ks, name, &v, &l) == CC_OK;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	cc_root_key *root = NULL;
	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	e2e_dev d;
	CHECK_EQ_INT(e2e_dev_make(&d, root, "bente", "casemanager", 400), CC_OK);
	cc_keystore *ks = NULL;
	CHECK_EQ_INT(cc_keystore_new(&ks), CC_OK);
	CHECK_EQ_INT(cc_keystore_set_limits(ks, crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN), CC_OK);

	ccore_wrapks w;
	memset(&w, 0, sizeof w);
	CHECK_EQ_INT(ccore_wrapks_load(ks, &w), CCORE_OK);
	CHECK(w.n == 0 && w.newest == 0 && w.published == 0);
	/* no record before a key exists */
	cc_wbuf rec;
	cc_w_init(&rec);
	CHECK(ccore_wrapks_publication(&w, d.keys, &rec) != CCORE_OK);

	/* first connect: none held, so one is made (version 1) and is in the keystore */
	int made = 0, changed = 0;
	CHECK_EQ_INT(ccore_wrapks_rotate(ks, &w, NOW, WEEK, 0, &made), CCORE_OK);
	CHECK(made == 1 && w.n == 1 && w.newest == 1);
	CHECK(has_entry(ks, "wrap/0000000001") && has_entry(ks, "wrapstate"));
	/* not due again a day later */
	CHECK_EQ_INT(ccore_wrapks_rotate(ks, &w, NOW + 86400, WEEK, 0, &made), CCORE_OK);
	CHECK(made == 0 && w.n == 1);

	/* the record is the newest, signed by the device: its certificate verifies it */
	CHECK_EQ_INT(ccore_wrapks_publication(&w, d.keys, &rec), CCORE_OK);
	cc_wrapkey wk;
	CHECK_EQ_INT(cc_wrapkey_check(rec.p, rec.len, &d.cert, &wk), CC_OK);
	CHECK(wk.version == 1);
	CHECK_MEM(wk.pk, w.ws[0].pk, CC_BOX_PK_BYTES);
	/* and a core that learns it seals to version 1 */
	ccore *c = NULL;
	CHECK_EQ_INT(ccore_new(&c, root->pk, d.keys, &d.cert), CCORE_OK);
	CHECK_EQ_INT(ccore_wrap_learn(c, rec.p, rec.len, &d.cert), CCORE_OK);
	CHECK(ccore_wrap_known(c, d.cert.device_id) == 1);
	ccore_free(c);

	uint32_t wiped[CC_WRAP_MAX];
	size_t nw = 9;
	/* a version never made is not accepted */
	CHECK(ccore_wrapks_accepted(ks, &w, 7, NOW, GRACE, wiped, &nw, &changed) != CCORE_OK);
	CHECK_EQ_INT(ccore_wrapks_accepted(ks, &w, 1, NOW, GRACE, wiped, &nw, &changed), CCORE_OK);
	CHECK(changed == 1 && nw == 0 && w.published == 1 && has_entry(ks, "wrappub/0000000001"));
	/* the same answer again changes nothing */
	CHECK_EQ_INT(ccore_wrapks_accepted(ks, &w, 1, NOW + 10, GRACE, wiped, &nw, &changed), CCORE_OK);
	CHECK(changed == 0 && nw == 0);

	/* forced (the user's "renew now"): version 2; version 1 stays for the grace period */
	CHECK_EQ_INT(ccore_wrapks_rotate(ks, &w, NOW + 100, WEEK, 1, &made), CCORE_OK);
	CHECK(made == 1 && w.n == 2 && w.newest == 2);
	CHECK_EQ_INT(ccore_wrapks_accepted(ks, &w, 2, NOW + 100, GRACE, wiped, &nw, &changed), CCORE_OK);
	CHECK(nw == 0 && w.n == 2 && has_entry(ks, "wrap/0000000001"));
	CHECK_EQ_INT(ccore_wrapks_accepted(ks, &w, 2, NOW + 100 + GRACE - 1, GRACE, wiped, &nw, &changed), CCORE_OK);
	CHECK(nw == 0 && w.n == 2);

	/* the state survives a save and an open (a reload of the browser page) */
	uint8_t *img = NULL;
	size_t imglen = 0;
	CHECK_EQ_INT(cc_keystore_save_mem(ks, "pass", 4, &img, &imglen), CC_OK);
	cc_keystore *ks2 = NULL;
	CHECK_EQ_INT(cc_keystore_open_mem(img, imglen, "pass", 4, &ks2), CC_OK);
	free(img);
	ccore_wrapks w2;
	memset(&w2, 0, sizeof w2);
	CHECK_EQ_INT(ccore_wrapks_load(ks2, &w2), CCORE_OK);
	CHECK(w2.n == 2 && w2.newest == 2 && w2.published == 2);

	/* the grace period after version 2 was accepted is over: version 1 is wiped */
	CHECK_EQ_INT(ccore_wrapks_accepted(ks2, &w2, 2, NOW + 100 + GRACE, GRACE, wiped, &nw, &changed), CCORE_OK);
	CHECK(changed == 1 && nw == 1 && wiped[0] == 1 && w2.n == 1 && w2.ws[0].version == 2);
	CHECK(!has_entry(ks2, "wrap/0000000001") && !has_entry(ks2, "wrappub/0000000001"));
	CHECK(has_entry(ks2, "wrap/0000000002"));
	/* the next key continues the numbering */
	CHECK_EQ_INT(ccore_wrapks_rotate(ks2, &w2, NOW + 100 + GRACE + WEEK, WEEK, 0, &made), CCORE_OK);
	CHECK(made == 1 && w2.newest == 3);

	ccore_wrapks_free(&w);
	ccore_wrapks_free(&w2);
	cc_w_free(&rec);
	cc_keystore_free(ks);
	cc_keystore_free(ks2);
	e2e_dev_free(&d);
	cc_root_key_free(root);
	return check_done();
}
