/*
 * test_core_expiry.c: an expired or revoked member gets no new epoch keys
 * (issue 17). The client core refuses to build any commit that keeps such a
 * member in the roster (every commit seals fresh keys to every member that
 * stays), proposes the member's removal with a "remove_member" warning, and
 * builds the removal, whose boxes do not include the member.
 */
#include "check.h"
#include "test_e2e_fixture.h"

#include <ccore.h>

static cc_root_key *root;
static cc_policy pol;
static cc_wbuf pol_enc;
static const int64_t NOW = E2E_NOW;

static int has_warning(json_t *w, const char *code, const char *needle)
{
	size_t i;
	json_t *o;
	json_array_foreach(w, i, o) {
		const char *m = json_string_value(json_object_get(o, "message"));
		if (strcmp(json_string_value(json_object_get(o, "code")) ?: "", code) == 0 && m && strstr(m, needle))
			return 1;
	}
	return 0;
}

static ccore *core_for(const e2e_dev *d)
{
	ccore *c = NULL;
	int changed = 0;
	CHECK_EQ_INT(ccore_new(&c, root->pk, d->keys, &d->cert), CCORE_OK);
	CHECK_EQ_INT(ccore_policy_offer(c, pol_enc.p, pol_enc.len, 0, &changed), CCORE_OK);
	return c;
}

/* 1 if any audience of the encoded commit has a box for dev. */
static int sealed_to(const cc_wbuf *w, const uint8_t dev[CC_DEVICE_ID_BYTES])
{
	cc_commit cm;
	CHECK_EQ_INT(cc_commit_decode(w->p, w->len, &cm), CC_OK);
	int found = 0;
	for (size_t a = 0; a < cm.naudiences; a++)
		for (size_t r = 0; r < cm.audiences[a].nrecipients; r++)
			if (memcmp(cm.audiences[a].recipients[r].device_id, dev, CC_DEVICE_ID_BYTES) == 0)
				found = 1;
	cc_commit_free(&cm);
	return found;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	CHECK_EQ_INT(e2e_signed_policy(&root, 5, &pol, &pol_enc), CC_OK);

	e2e_dev cm, ggd;
	CHECK_EQ_INT(e2e_dev_make(&cm, root, "cm.jansen", "casemanager", 300), CC_OK);
	CHECK_EQ_INT(e2e_dev_make(&ggd, root, "ggd.visser", "ggd", 301), CC_OK);
	/* the ggd member's certificate runs out one hour after the casus is made */
	{
		cc_cert_request req;
		CHECK_EQ_INT(cc_cert_request_create(&req, ggd.keys, "ggd.visser", "Test Person", "Test Org", "ggd"),
		             CC_OK);
		CHECK_EQ_INT(cc_cert_issue(&req, root, 302, NOW - 86400, NOW + 3600, &ggd.cert), CC_OK);
	}

	uint8_t id[16];
	cc_commit_new_casus_id(id);
	cc_wbuf cr;
	cc_w_init(&cr);
	CHECK_EQ_INT(cc_commit_create(id, 1, &ggd.cert, 1, cm.keys, &cm.cert, &pol, root->pk, NOW, "open", &cr), CC_OK);

	ccore *c = core_for(&cm);
	ccore_casus *k = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &k), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(k, cr.p, cr.len, NOW, 1), CCORE_OK);
	json_decref(ccore_take_warnings(c));

	/* while the certificate is valid a rotation seals to the ggd member */
	cc_commit_change rot;
	memset(&rot, 0, sizeof rot);
	rot.type = CC_COMMIT_ROTATE;
	cc_wbuf w;
	cc_w_init(&w);
	CHECK_EQ_INT(ccore_build(k, &rot, NOW + 60, &w), CCORE_OK);
	CHECK(sealed_to(&w, ggd.cert.device_id));
	cc_w_free(&w);

	/* after it expired: no commit that keeps the member, whatever the change */
	const int64_t LATER = NOW + 7200;
	cc_w_init(&w);
	int rc = ccore_build(k, &rot, LATER, &w);
	CHECK_EQ_INT(rc, CCORE_E_EXPIRED);
	CHECK(strcmp(ccore_code(rc), "expired_cert") == 0);
	CHECK_EQ_INT(w.len, 0); /* nothing left the core */
	json_t *warn = ccore_take_warnings(c);
	CHECK(has_warning(warn, "remove_member", "ggd.visser"));
	json_decref(warn);
	cc_commit_change esc;
	memset(&esc, 0, sizeof esc);
	esc.type = CC_COMMIT_ESCALATE;
	esc.level = 2;
	esc.reason = "zorgen";
	CHECK_EQ_INT(ccore_build(k, &esc, LATER, &w), CCORE_E_EXPIRED);
	CHECK_EQ_INT(w.len, 0);
	json_decref(ccore_take_warnings(c));

	/* the proposed removal goes through and seals nothing to the expired member */
	const uint8_t(*gone)[CC_DEVICE_ID_BYTES] = (const uint8_t(*)[CC_DEVICE_ID_BYTES]) & ggd.cert.device_id;
	cc_commit_change rm;
	memset(&rm, 0, sizeof rm);
	rm.type = CC_COMMIT_REMOVE;
	rm.remove = gone;
	rm.nremove = 1;
	CHECK_EQ_INT(ccore_build(k, &rm, LATER, &w), CCORE_OK);
	CHECK(w.len > 0);
	CHECK(!sealed_to(&w, ggd.cert.device_id));
	CHECK(sealed_to(&w, cm.cert.device_id));
	cc_w_free(&w);

	/* a revoked member: the same refusal, with code "revoked" */
	{
		cc_revlist l;
		cc_revlist_init(&l);
		l.number = 2;
		l.issued_at = NOW;
		CHECK_EQ_INT(cc_revlist_add(&l, ggd.cert.serial, ggd.cert.device_id, NOW + 30), CC_OK);
		CHECK_EQ_INT(cc_revlist_sign(&l, root), CC_OK);
		cc_wbuf rl;
		cc_w_init(&rl);
		CHECK_EQ_INT(cc_revlist_encode(&l, &rl), CC_OK);
		int changed = 0;
		CHECK_EQ_INT(ccore_revlist_offer(c, rl.p, rl.len, NOW + 60, 0, &changed), CCORE_OK);
		cc_w_free(&rl);
		cc_revlist_free(&l);
		cc_w_init(&w);
		CHECK_EQ_INT(ccore_build(k, &rot, NOW + 60, &w), CCORE_E_REVOKED);
		CHECK_EQ_INT(w.len, 0);
		warn = ccore_take_warnings(c);
		CHECK(has_warning(warn, "remove_member", "revoked"));
		json_decref(warn);
		cc_w_free(&w);
	}

	ccore_casus_free(k);
	ccore_free(c);
	cc_w_free(&cr);
	e2e_dev_free(&cm);
	e2e_dev_free(&ggd);
	cc_w_free(&pol_enc);
	cc_root_key_free(root);
	return check_done();
}
