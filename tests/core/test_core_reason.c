/*
 * test_core_reason.c: commit format v2 in the client core (issue #11 items
 * 10 and 14), with no network: a member reads each commit's reason decrypted
 * (ccore_commit_info), a device outside the roster gets none, a reason that
 * does not open (an actor giving one member another key) is refused as
 * "tampered" unless the chain rules refuse the commit anyway (a forgery keeps
 * its own code), and a commit naming an older policy than the chain already
 * named, or a newer one than the core holds, is "stale_policy".
 */
#include "check.h"
#include "test_e2e_fixture.h"

#include <ccore.h>

enum {
	CM,
	GGD,
	PR,
	NDEV
};
static const char *const ROLE[NDEV] = {"casemanager", "ggd", "procesregisseur"};
static const char *const USER[NDEV] = {"cm.jansen", "ggd.visser", "pr.meijer"};

static cc_root_key *root;
static cc_policy pol;
static cc_wbuf pol_enc;
static e2e_dev dev[NDEV];
static const int64_t NOW = E2E_NOW;

static ccore *core_for(int d, const cc_wbuf *penc)
{
	ccore *c = NULL;
	int changed = 0;
	CHECK_EQ_INT(ccore_new(&c, root->pk, dev[d].keys, &dev[d].cert), CCORE_OK);
	CHECK_EQ_INT(ccore_policy_offer(c, penc->p, penc->len, 0, &changed), CCORE_OK);
	return c;
}

/* Re-sign `in` by `signer` after `edit`. */
typedef void (*edit_fn)(cc_commit *c, const void *arg);
static void resign(const cc_wbuf *in, edit_fn edit, const void *arg, const cc_device_keys *signer, cc_wbuf *out)
{
	cc_commit c;
	CHECK_EQ_INT(cc_commit_decode(in->p, in->len, &c), CC_OK);
	if (edit)
		edit(&c, arg);
	CHECK_EQ_INT(cc_commit_sign(&c, signer), CC_OK);
	cc_w_init(out);
	CHECK_EQ_INT(cc_commit_encode(&c, out), CC_OK);
	cc_commit_free(&c);
}

/* The actor seals another reason key to one member: its text would differ. */
static void reseal_other_key(cc_commit *c, const void *arg)
{
	const e2e_dev *d = arg;
	uint8_t key[CC_EPOCH_KEY_BYTES];
	randombytes_buf(key, sizeof key);
	for (size_t j = 0; j < c->reason.nrecipients; j++)
		if (memcmp(c->reason.recipients[j].device_id, d->cert.device_id, CC_DEVICE_ID_BYTES) == 0)
			CHECK_EQ_INT(cc_commit_seal_key(c->reason.recipients[j].box, d->cert.box_pk, d->cert.device_id,
			                                c->casus_id, CC_REASON_AUDIENCE, c->epoch, key),
			             CC_OK);
}

static void set_actor(cc_commit *c, const void *arg)
{
	memcpy(c->actor, arg, CC_DEVICE_ID_BYTES);
}

static void set_policy(cc_commit *c, const void *arg)
{
	c->policy = *(const uint64_t *)arg;
}

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	CHECK_EQ_INT(e2e_signed_policy(&root, 7, &pol, &pol_enc), CC_OK);
	for (int i = 0; i < NDEV; i++)
		CHECK_EQ_INT(e2e_dev_make(&dev[i], root, USER[i], ROLE[i], (uint64_t)(300 + i)), CC_OK);

	const char *why = "signalen van uitbuiting";
	uint8_t id[16];
	cc_commit_new_casus_id(id);
	cc_wbuf cr, esc;
	cc_w_init(&cr);
	CHECK_EQ_INT(cc_commit_create(id, 1, &dev[GGD].cert, 1, dev[CM].keys, &dev[CM].cert, &pol, root->pk, NOW,
	                              "casus geopend", &cr),
	             CC_OK);
	ccore *g = core_for(GGD, &pol_enc);
	ccore_casus *k = NULL;
	CHECK_EQ_INT(ccore_casus_new(g, id, &k), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(k, cr.p, cr.len, NOW, 1), CCORE_OK);
	cc_w_init(&esc);
	CHECK_EQ_INT(cc_commit_set_level(ccore_chain(k), 3, dev[CM].keys, &dev[CM].cert, &pol, root->pk, NOW + 10, NULL,
	                                 why, &esc),
	             CC_OK);

	/* an actor who gives this member another reason key: refused, nothing changes */
	cc_wbuf bad;
	resign(&esc, reseal_other_key, &dev[GGD], dev[CM].keys, &bad);
	int rc = ccore_apply_commit(k, bad.p, bad.len, NOW + 20, 1);
	CHECK_EQ_INT(rc, CCORE_E_TAMPERED);
	CHECK(strcmp(ccore_code(rc), "tampered") == 0);
	CHECK_EQ_INT(ccore_epochs(k), 1);
	cc_w_free(&bad);
	/* the same broken reason in a commit signed by a non-member: the forgery's own code */
	cc_wbuf ghost, ghost2;
	resign(&esc, reseal_other_key, &dev[GGD], dev[CM].keys, &ghost);
	resign(&ghost, set_actor, dev[PR].cert.device_id, dev[PR].keys, &ghost2);
	rc = ccore_apply_commit(k, ghost2.p, ghost2.len, NOW + 20, 1);
	CHECK_EQ_INT(rc, CCORE_E_GHOST);
	cc_w_free(&ghost);
	cc_w_free(&ghost2);
	/* a commit naming a policy the core does not hold yet */
	uint64_t newer = pol.number + 1, older = pol.number - 1;
	resign(&esc, set_policy, &newer, dev[CM].keys, &bad);
	rc = ccore_apply_commit(k, bad.p, bad.len, NOW + 20, 1);
	CHECK_EQ_INT(rc, CCORE_E_STALE_POLICY);
	CHECK(strcmp(ccore_code(rc), "stale_policy") == 0);
	cc_w_free(&bad);
	/* a commit naming an older policy than the chain already named (7) */
	resign(&esc, set_policy, &older, dev[CM].keys, &bad);
	CHECK_EQ_INT(ccore_apply_commit(k, bad.p, bad.len, NOW + 20, 1), CCORE_E_STALE_POLICY);
	cc_w_free(&bad);
	CHECK_EQ_INT(ccore_epochs(k), 1);

	/* the honest commit: the member reads both reasons */
	CHECK_EQ_INT(ccore_apply_commit(k, esc.p, esc.len, NOW + 20, 1), CCORE_OK);
	ccore_commit_info_t ci;
	CHECK_EQ_INT(ccore_commit_info(k, 0, &ci), CCORE_OK);
	CHECK(ci.reason && strcmp(ci.reason, "casus geopend") == 0);
	CHECK_EQ_INT(ccore_commit_info(k, 1, &ci), CCORE_OK);
	CHECK(ci.reason && strcmp(ci.reason, why) == 0);
	CHECK_EQ_INT(ci.type, CC_COMMIT_ESCALATE);
	CHECK_EQ_INT(ci.level, 3);
	CHECK(memcmp(ci.actor, dev[CM].cert.device_id, CC_DEVICE_ID_BYTES) == 0);
	CHECK_EQ_INT(ccore_commit_info(k, 2, &ci), CCORE_E_INVALID);

	/* a device that was never in the roster follows the public chain without any reason */
	ccore *p = core_for(PR, &pol_enc);
	ccore_casus *pk = NULL;
	CHECK_EQ_INT(ccore_casus_new(p, id, &pk), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(pk, cr.p, cr.len, NOW + 30, 0), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(pk, esc.p, esc.len, NOW + 30, 1), CCORE_OK);
	CHECK_EQ_INT(ccore_commit_info(pk, 1, &ci), CCORE_OK);
	CHECK(ci.reason == NULL);

	ccore_casus_free(pk);
	ccore_free(p);
	ccore_casus_free(k);
	ccore_free(g);
	cc_w_free(&cr);
	cc_w_free(&esc);
	for (int i = 0; i < NDEV; i++)
		e2e_dev_free(&dev[i]);
	cc_w_free(&pol_enc);
	cc_root_key_free(root);
	return check_done();
}
