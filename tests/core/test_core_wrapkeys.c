/*
 * test_core_wrapkeys.c: the core's verified wrap keys of other devices
 * (issue 17, review point 2): the newest verified version per device is the
 * floor a directory is held to (an older record is ROLLBACK, the same version
 * with another key TAMPERED), the set survives ccore_wraps_save / restore
 * into a new core (a later process), this device's own record is never
 * refused and never restored from the kept set, a malformed kept set is
 * refused.
 */
#include "check.h"
#include "test_e2e_fixture.h"

#include <ccore.h>

static void record(const e2e_dev *d, const cc_wrap_secret *s, cc_wbuf *out)
{
	cc_wrapkey pub;
	CHECK_EQ_INT(cc_wrap_secret_publication(s, d->keys, &pub), CC_OK);
	cc_w_init(out);
	CHECK_EQ_INT(cc_wrapkey_encode(&pub, out), CC_OK);
}

int main(void)
{
	cc_root_key *root = NULL;
	e2e_dev a, b;
	CHECK(sodium_init() >= 0);
	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	CHECK_EQ_INT(e2e_dev_make(&a, root, "cm.jansen", "casemanager", 500), CC_OK);
	CHECK_EQ_INT(e2e_dev_make(&b, root, "ggd.visser", "ggd", 501), CC_OK);
	cc_wrap_secret *ws = sodium_malloc(5 * sizeof *ws);
	CHECK(ws != NULL);
	if (!ws)
		return check_done();
	CHECK_EQ_INT(cc_wrap_secret_generate(1, E2E_NOW - 30 * 86400, &ws[0]), CC_OK); /* b's 1 */
	CHECK_EQ_INT(cc_wrap_secret_generate(2, E2E_NOW - 20 * 86400, &ws[1]), CC_OK); /* b's 2 */
	CHECK_EQ_INT(cc_wrap_secret_generate(2, E2E_NOW - 10 * 86400, &ws[2]), CC_OK); /* another 2 */
	CHECK_EQ_INT(cc_wrap_secret_generate(3, E2E_NOW, &ws[3]), CC_OK);              /* a's own 3 */
	CHECK_EQ_INT(cc_wrap_secret_generate(1, E2E_NOW - 5, &ws[4]), CC_OK);          /* a's own 1 */
	cc_wbuf b1, b2, b2x, a1;
	record(&b, &ws[0], &b1);
	record(&b, &ws[1], &b2);
	record(&b, &ws[2], &b2x);
	record(&a, &ws[4], &a1);

	ccore *c = NULL;
	CHECK_EQ_INT(ccore_new(&c, root->pk, a.keys, &a.cert), CCORE_OK);
	CHECK_EQ_INT(ccore_set_wraps(c, &ws[3], 1, 3), CCORE_OK);
	/* the newest verified is kept; an older one is refused, not ignored */
	CHECK_EQ_INT(ccore_wrap_learn(c, b2.p, b2.len, &b.cert), CCORE_OK);
	CHECK_EQ_INT(ccore_wrap_known(c, b.cert.device_id), 2);
	CHECK(ccore_wrap_created(c, b.cert.device_id) == E2E_NOW - 20 * 86400);
	CHECK_EQ_INT(ccore_wrap_learn(c, b1.p, b1.len, &b.cert), CCORE_E_ROLLBACK);
	CHECK(strcmp(ccore_code(CCORE_E_ROLLBACK), "rollback") == 0);
	CHECK_EQ_INT(ccore_wrap_learn(c, b2x.p, b2x.len, &b.cert), CCORE_E_TAMPERED);
	CHECK_EQ_INT(ccore_wrap_learn(c, b2.p, b2.len, &b.cert), CCORE_OK); /* the same again */
	CHECK_EQ_INT(ccore_wrap_known(c, b.cert.device_id), 2);
	/* this device's own older record (a directory behind it) is not refused here */
	CHECK_EQ_INT(ccore_wrap_learn(c, a1.p, a1.len, &a.cert), CCORE_OK);
	CHECK_EQ_INT(ccore_wrap_known(c, a.cert.device_id), 3);

	/* a later process: the kept set restores the floor */
	json_t *kept = ccore_wraps_save(c);
	CHECK(kept != NULL);
	CHECK_EQ_INT(json_array_size(json_object_get(kept, "devices")), 1); /* not this device's own */
	ccore *c2 = NULL;
	CHECK_EQ_INT(ccore_new(&c2, root->pk, a.keys, &a.cert), CCORE_OK);
	CHECK_EQ_INT(ccore_wrap_learn(c2, b1.p, b1.len, &b.cert), CCORE_OK); /* without it: believed */
	ccore_free(c2);
	c2 = NULL;
	CHECK_EQ_INT(ccore_new(&c2, root->pk, a.keys, &a.cert), CCORE_OK);
	CHECK_EQ_INT(ccore_wraps_restore(c2, kept), CCORE_OK);
	CHECK_EQ_INT(ccore_wrap_known(c2, b.cert.device_id), 2);
	CHECK(ccore_wrap_created(c2, b.cert.device_id) == E2E_NOW - 20 * 86400);
	const cc_wrap_target *t = ccore_wrap_target(c2, b.cert.device_id);
	CHECK(t && memcmp(t->pk, ws[1].pk, CC_BOX_PK_BYTES) == 0);
	CHECK_EQ_INT(ccore_wrap_learn(c2, b1.p, b1.len, &b.cert), CCORE_E_ROLLBACK);
	CHECK_EQ_INT(ccore_wrap_learn(c2, b2x.p, b2x.len, &b.cert), CCORE_E_TAMPERED);
	/* a kept entry naming this device is not restored */
	{
		json_t *own = json_deep_copy(kept);
		char hex[33];
		cc_device_id_hex(a.cert.device_id, hex);
		json_object_set_new(json_array_get(json_object_get(own, "devices"), 0), "device", json_string(hex));
		ccore *c3 = NULL;
		CHECK_EQ_INT(ccore_new(&c3, root->pk, a.keys, &a.cert), CCORE_OK);
		CHECK_EQ_INT(ccore_wraps_restore(c3, own), CCORE_OK);
		CHECK_EQ_INT(ccore_wrap_known(c3, a.cert.device_id), 0);
		ccore_free(c3);
		json_decref(own);
	}
	/* malformed kept sets are refused */
	{
		json_t *bad = json_deep_copy(kept);
		json_object_set_new(json_array_get(json_object_get(bad, "devices"), 0), "pk", json_string("00"));
		ccore *c3 = NULL;
		CHECK_EQ_INT(ccore_new(&c3, root->pk, a.keys, &a.cert), CCORE_OK);
		CHECK_EQ_INT(ccore_wraps_restore(c3, bad), CCORE_E_INVALID);
		CHECK_EQ_INT(ccore_wrap_known(c3, b.cert.device_id), 0);
		json_object_set(json_array_get(json_object_get(bad, "devices"), 0), "pk",
		                json_object_get(json_array_get(json_object_get(kept, "devices"), 0), "pk"));
		json_object_set_new(json_array_get(json_object_get(bad, "devices"), 0), "version", json_integer(0));
		CHECK_EQ_INT(ccore_wraps_restore(c3, bad), CCORE_E_INVALID);
		json_object_set_new(bad, "v", json_integer(2));
		CHECK_EQ_INT(ccore_wraps_restore(c3, bad), CCORE_E_INVALID);
		CHECK_EQ_INT(ccore_wraps_restore(c3, NULL), CCORE_E_INVALID);
		ccore_free(c3);
		json_decref(bad);
	}
	json_decref(kept);
	ccore_free(c2);
	ccore_free(c);
	cc_w_free(&b1);
	cc_w_free(&b2);
	cc_w_free(&b2x);
	cc_w_free(&a1);
	sodium_free(ws);
	e2e_dev_free(&a);
	e2e_dev_free(&b);
	cc_root_key_free(root);
	return check_done();
}
