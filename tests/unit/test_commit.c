/*
 * test_commit.c: the casus chain. Builders produce commits that server and
 * clients accept; every policy rule (who may add, remove, escalate,
 * de-escalate, break glass), every chain rule (head, epoch, time) and every
 * roster/recipient rule refuses a forged or inconsistent commit with its named
 * error; sealed keys addressed to another device or with another key are refused
 * by the client; chain state survives encode/decode.
 */
#include "check.h"
#include "test_e2e_fixture.h"

enum {
	CM0,
	CM1,
	ED,
	GGD,
	KP,
	PR,
	POL,
	BES,
	BELEID,
	FG,
	OUTSIDER,
	NDEV
};
static const char *const ROLE[NDEV] = {"casemanager", "casemanager",  "ervaringsdeskundige",
                                       "ggd",         "ketenpartner", "procesregisseur",
                                       "politie",     "bestuur",      "beleid",
                                       "fg",          "ggd"};
static const char *const USER[NDEV] = {"cm.jansen", "cm.jansen",   "ed.bakker",  "ggd.visser", "kp.smit",  "pr.meijer",
                                       "pol.bos",   "best.mulder", "bel.dekker", "fg.vos",     "ggd.other"};

static cc_root_key *root;
static cc_policy pol;
static e2e_dev dev[NDEV];
static cc_chain_state *server;
static const uint8_t *root_pk;

/* Apply to the server's state and to every device's view; returns the server's result. */
static int apply_all(const cc_wbuf *w)
{
	int rc = cc_chain_apply(server, w->p, w->len, &pol, root_pk, E2E_NOW, NULL, NULL);
	if (rc != CC_OK)
		return rc;
	for (int i = 0; i < NDEV; i++) {
		int r2 = cc_casus_apply_commit(dev[i].cs, w->p, w->len, &pol, root_pk, E2E_NOW, NULL);
		CHECK_EQ_INT(r2, CC_OK);
	}
	return CC_OK;
}

/* Decode a valid commit, let `edit` change it, re-sign with `signer`, encode. */
typedef void (*edit_fn)(cc_commit *c, void *arg);
static void resign(const cc_wbuf *in, edit_fn edit, void *arg, const cc_device_keys *signer, cc_wbuf *out)
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

static void set_actor(cc_commit *c, void *arg)
{
	memcpy(c->actor, arg, CC_DEVICE_ID_BYTES);
}
static void bump_epoch(cc_commit *c, void *arg)
{
	(void)arg;
	c->epoch++;
}
static void drop_last_zorg_recipient(cc_commit *c, void *arg)
{
	(void)arg;
	c->audiences[AUD_ZORG].nrecipients--;
}
static void set_level_after(cc_commit *c, void *arg)
{
	c->level_after = *(uint8_t *)arg;
}
static void set_type(cc_commit *c, void *arg)
{
	c->type = *(uint8_t *)arg;
}
static void earlier_time(cc_commit *c, void *arg)
{
	(void)arg;
	c->time -= 1000;
}

static int has_bytes(const uint8_t *p, size_t n, const char *needle)
{
	size_t k = strlen(needle);
	for (size_t i = 0; i + k <= n; i++)
		if (memcmp(p + i, needle, k) == 0)
			return 1;
	return 0;
}
static void set_version1(cc_commit *c, void *arg)
{
	(void)arg;
	c->version = 1;
}
static void set_policy_number(cc_commit *c, void *arg)
{
	c->policy = *(const uint64_t *)arg;
}
static void drop_reason(cc_commit *c, void *arg)
{
	(void)arg;
	free(c->reason.recipients);
	c->reason.recipients = NULL;
	c->reason.nrecipients = 0;
	c->reason_len = 0;
}
static void rename_reason_recipient(cc_commit *c, void *arg)
{
	memcpy(c->reason.recipients[0].device_id, arg, CC_DEVICE_ID_BYTES);
}
static void flip_reason_byte(cc_commit *c, void *arg)
{
	(void)arg;
	c->reason_box[c->reason_len - 1] ^= 0x01;
}
/* Seal another key to one member (the actor equivocates): its commitment check fails. */
static void reseal_reason_other_key(cc_commit *c, void *arg)
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

/* Swap in a box sealed to the first zorg recipient but naming another device inside. */
struct rebox {
	const e2e_dev *target;      /* whose pk the box is sealed to */
	const uint8_t *inner_id;    /* recipient id written inside */
	uint64_t inner_epoch_delta; /* epoch written inside = commit epoch + delta */
	int other_key;              /* seal a key that does not match the commitment */
};
static void rebox(cc_commit *c, void *arg)
{
	const struct rebox *rb = arg;
	cc_commit_audience *au = &c->audiences[AUD_ZORG];
	uint8_t key[CC_EPOCH_KEY_BYTES];
	for (size_t j = 0; j < au->nrecipients; j++) {
		if (memcmp(au->recipients[j].device_id, rb->target->cert.device_id, CC_DEVICE_ID_BYTES) != 0)
			continue;
		randombytes_buf(key, sizeof key);
		if (!rb->other_key) {
			/* re-use the real key so only the bound fields differ: open it with the target's keys */
			CHECK_EQ_INT(cc_commit_open_key(au->recipients[j].box, rb->target->keys, c->casus_id, AUD_ZORG,
			                                c->epoch, key),
			             CC_OK);
		}
		CHECK_EQ_INT(cc_commit_seal_key(au->recipients[j].box, rb->target->cert.box_pk, rb->inner_id,
		                                c->casus_id, AUD_ZORG, c->epoch + rb->inner_epoch_delta, key),
		             CC_OK);
	}
}

static int holds(int d, int aud)
{
	return cc_casus_has_epoch_key(dev[d].cs, server->epoch, aud);
}

/* Every device holds exactly the keys the policy entitles it to at the head. */
static void check_entitlement(void)
{
	for (int d = 0; d < NDEV; d++) {
		int ri = cc_chain_find(server, dev[d].cert.device_id);
		for (int a = 0; a < pol.naudiences; a++) {
			int want = ri >= 0 && cc_chain_entitled(server, &pol, (size_t)ri, a);
			if (holds(d, a) != want)
				fprintf(stderr, "device %d (%s) audience %d: holds %d want %d\n", d, ROLE[d], a,
				        holds(d, a), want);
			CHECK_EQ_INT(holds(d, a), want);
		}
	}
}

int main(void)
{
	cc_wbuf w, bad, old;
	uint8_t casus_id[CC_CASUS_ID_BYTES];
	int rc;

	CHECK(sodium_init() >= 0);
	e2e_default_policy(&pol);
	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	root_pk = root->pk;
	for (int i = 0; i < NDEV; i++)
		CHECK_EQ_INT(e2e_dev_make(&dev[i], root, USER[i], ROLE[i], (uint64_t)(100 + i)), CC_OK);
	CHECK_EQ_INT(cc_chain_state_new(&server), CC_OK);

	/* ---- create at level 1: casemanager (2 devices), ervaringsdeskundige, ggd */
	cc_commit_new_casus_id(casus_id);
	{
		cc_cert others[3] = {dev[CM1].cert, dev[ED].cert, dev[GGD].cert};
		cc_cert with_kp[2] = {dev[ED].cert, dev[KP].cert};
		cc_w_init(&w);
		/* ketenpartner is not admitted at level 1 */
		CHECK_EQ_INT(cc_commit_create(casus_id, 1, with_kp, 2, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk,
		                              E2E_NOW, "casus geopend", &w),
		             CC_ERR_ROSTER);
		/* ggd may not open a casus */
		CHECK_EQ_INT(cc_commit_create(casus_id, 1, NULL, 0, dev[GGD].keys, &dev[GGD].cert, &pol, root_pk,
		                              E2E_NOW, "x", &w),
		             CC_ERR_FORBIDDEN);
		CHECK_EQ_INT(cc_commit_create(casus_id, 6, NULL, 0, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk,
		                              E2E_NOW, "x", &w),
		             CC_ERR_LEVEL);
		CHECK_EQ_INT(w.len, 0);
		CHECK_EQ_INT(cc_commit_create(casus_id, 1, others, 3, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk,
		                              E2E_NOW, "casus geopend", &w),
		             CC_OK);
	}
	/* every truncation and a trailing byte are refused by the decoder */
	{
		cc_commit c;
		size_t sl = 0; /* version 4: the signed part alone is a commit without boxes */
		CHECK_EQ_INT(cc_commit_signed_len(w.p, w.len, &sl), CC_OK);
		CHECK(sl < w.len);
		for (size_t cut = 0; cut < w.len; cut += (cut < 200 ? 1 : 97))
			if (cut != sl)
				CHECK(cc_commit_decode(w.p, cut, &c) != CC_OK);
		cc_wbuf t;
		cc_w_init(&t);
		cc_w_fixed(&t, w.p, w.len);
		cc_w_u8(&t, 0);
		CHECK_EQ_INT(cc_commit_decode(t.p, t.len, &c), CC_ERR_TRAILING);
		cc_w_free(&t);
		CHECK_EQ_INT(cc_commit_decode(w.p, w.len, &c), CC_OK);
		CHECK_EQ_INT(c.type, CC_COMMIT_CREATE);
		CHECK_EQ_INT(c.nroster, 4);
		CHECK_EQ_INT(c.audiences[AUD_ZORG].nrecipients, 4);
		CHECK_EQ_INT(c.audiences[AUD_REGIE].nrecipients, 2); /* only the casemanager's devices */
		/* re-encoding a decoded commit gives the same bytes */
		cc_w_init(&t);
		CHECK_EQ_INT(cc_commit_encode(&c, &t), CC_OK);
		CHECK(t.len == w.len && memcmp(t.p, w.p, w.len) == 0);
		cc_w_free(&t);
		CHECK_EQ_INT(cc_commit_verify_sig(&c, dev[CM0].cert.sign_pk), CC_OK);
		CHECK_EQ_INT(cc_commit_verify_sig(&c, dev[CM1].cert.sign_pk), CC_ERR_BAD_SIGNATURE);
		cc_commit_free(&c);
	}
	/* flipping any byte makes the commit fail somewhere (signature, syntax, roster) */
	{
		cc_chain_state *s2;
		int all_refused = 1;
		for (size_t i = 0; i < w.len; i += 7) {
			CHECK_EQ_INT(cc_chain_state_new(&s2), CC_OK);
			w.p[i] ^= 0x01;
			if (cc_chain_apply(s2, w.p, w.len, &pol, root_pk, E2E_NOW, NULL, NULL) == CC_OK)
				all_refused = 0;
			w.p[i] ^= 0x01;
			cc_chain_state_free(s2);
		}
		CHECK(all_refused);
	}
	CHECK_EQ_INT(apply_all(&w), CC_OK);
	CHECK_EQ_INT(server->epoch, 0);
	CHECK_EQ_INT(server->level, 1);
	CHECK_EQ_INT(server->nroster, 4);
	check_entitlement();
	/* the same commit again is not on the head */
	CHECK_EQ_INT(cc_chain_apply(server, w.p, w.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_CHAIN);
	cc_w_init(&old);
	cc_w_fixed(&old, w.p, w.len);
	cc_w_free(&w);

	/* ---- add at level 1: a ketenpartner is refused, a second ggd is fine */
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_add(server, &dev[KP].cert, 1, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW,
	                           NULL, "", &w),
	             CC_ERR_ROSTER);
	CHECK_EQ_INT(cc_commit_add(server, &dev[OUTSIDER].cert, 1, dev[ED].keys, &dev[ED].cert, &pol, root_pk, E2E_NOW,
	                           NULL, "", &w),
	             CC_ERR_FORBIDDEN); /* ervaringsdeskundige has no may_add */
	CHECK_EQ_INT(cc_commit_add(server, &dev[BELEID].cert, 1, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW,
	                           NULL, "", &w),
	             CC_ERR_ROSTER); /* never_key roles are never members */
	CHECK_EQ_INT(cc_commit_add(server, &dev[GGD].cert, 1, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW,
	                           NULL, "", &w),
	             CC_ERR_ROSTER); /* already a member */
	/* reasons are text for audit trails: control characters and broken UTF-8 are refused */
	CHECK_EQ_INT(cc_commit_rotate(server, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW, NULL, "a\x1b[2Jb",
	                              &w),
	             CC_ERR_MALFORMED);
	CHECK_EQ_INT(cc_commit_rotate(server, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW, NULL, "\xc3(", &w),
	             CC_ERR_MALFORMED);
	/* a non-member cannot act */
	CHECK_EQ_INT(cc_commit_rotate(server, dev[OUTSIDER].keys, &dev[OUTSIDER].cert, &pol, root_pk, E2E_NOW, NULL, "",
	                              &w),
	             CC_ERR_NOT_MEMBER);
	CHECK_EQ_INT(cc_commit_add(server, &dev[OUTSIDER].cert, 1, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk,
	                           E2E_NOW + 10, NULL, "", &w),
	             CC_OK);
	/* an add signed by a member whose role may not add: FORBIDDEN */
	resign(&w, set_actor, dev[GGD].cert.device_id, dev[GGD].keys, &bad);
	CHECK_EQ_INT(cc_chain_apply(server, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_FORBIDDEN);
	cc_w_free(&bad);
	/* claims the casemanager as actor but signed by the ggd: BAD_SIGNATURE */
	resign(&w, NULL, NULL, dev[GGD].keys, &bad);
	CHECK_EQ_INT(cc_chain_apply(server, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_BAD_SIGNATURE);
	cc_w_free(&bad);
	/* skips an epoch */
	resign(&w, bump_epoch, NULL, dev[CM0].keys, &bad);
	CHECK_EQ_INT(cc_chain_apply(server, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_EPOCH);
	cc_w_free(&bad);
	/* time going backwards */
	resign(&w, earlier_time, NULL, dev[CM0].keys, &bad);
	CHECK_EQ_INT(cc_chain_apply(server, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_CHAIN);
	cc_w_free(&bad);
	/* a recipient missing from an audience */
	resign(&w, drop_last_zorg_recipient, NULL, dev[CM0].keys, &bad);
	CHECK_EQ_INT(cc_chain_apply(server, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_ROSTER);
	cc_w_free(&bad);
	/* an add that claims to change the level */
	{
		uint8_t lvl = 2;
		resign(&w, set_level_after, &lvl, dev[CM0].keys, &bad);
		CHECK_EQ_INT(cc_chain_apply(server, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_LEVEL);
		cc_w_free(&bad);
		uint8_t ty = CC_COMMIT_ROTATE; /* a rotate may not change the roster */
		resign(&w, set_type, &ty, dev[CM0].keys, &bad);
		CHECK_EQ_INT(cc_chain_apply(server, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_ROSTER);
		cc_w_free(&bad);
	}
	/* a box sealed to the ggd that names the casemanager inside: the server
	 * cannot see it, the ggd's client refuses the commit */
	{
		struct rebox rb = {&dev[GGD], dev[CM0].cert.device_id, 0, 0};
		cc_chain_state *s2;
		resign(&w, rebox, &rb, dev[CM0].keys, &bad);
		CHECK_EQ_INT(cc_chain_state_copy(server, &s2), CC_OK);
		CHECK_EQ_INT(cc_chain_apply(s2, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_OK);
		cc_chain_state_free(s2);
		CHECK_EQ_INT(cc_casus_apply_commit(dev[GGD].cs, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL),
		             CC_ERR_NOT_RECIPIENT);
		CHECK_EQ_INT(cc_casus_apply_commit(dev[ED].cs, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL), CC_OK);
		CHECK_EQ_INT(e2e_dev_reset(&dev[ED]), CC_OK); /* undo: replay ED's chain below */
		CHECK_EQ_INT(cc_casus_apply_commit(dev[ED].cs, old.p, old.len, &pol, root_pk, E2E_NOW, NULL), CC_OK);
		cc_w_free(&bad);
		/* the right device but another epoch inside */
		struct rebox rb2 = {&dev[GGD], dev[GGD].cert.device_id, 1, 0};
		resign(&w, rebox, &rb2, dev[CM0].keys, &bad);
		CHECK_EQ_INT(cc_casus_apply_commit(dev[GGD].cs, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL),
		             CC_ERR_NOT_RECIPIENT);
		cc_w_free(&bad);
		/* a key that differs from the one the others got (key commitment) */
		struct rebox rb3 = {&dev[GGD], dev[GGD].cert.device_id, 0, 1};
		resign(&w, rebox, &rb3, dev[CM0].keys, &bad);
		CHECK_EQ_INT(cc_casus_apply_commit(dev[GGD].cs, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL),
		             CC_ERR_KEY_COMMITMENT);
		cc_w_free(&bad);
		/* a box meant for the ergaringsdeskundige copied into the ggd's slot */
		cc_commit c;
		CHECK_EQ_INT(cc_commit_decode(w.p, w.len, &c), CC_OK);
		cc_commit_audience *au = &c.audiences[AUD_ZORG];
		int ig = -1, ie = -1;
		for (int j = 0; j < au->nrecipients; j++) {
			if (!memcmp(au->recipients[j].device_id, dev[GGD].cert.device_id, CC_DEVICE_ID_BYTES))
				ig = j;
			if (!memcmp(au->recipients[j].device_id, dev[ED].cert.device_id, CC_DEVICE_ID_BYTES))
				ie = j;
		}
		CHECK(ig >= 0 && ie >= 0);
		if (ig >= 0 && ie >= 0)
			memcpy(au->recipients[ig].box, au->recipients[ie].box, CC_SEALED_KEY_BYTES);
		CHECK_EQ_INT(cc_commit_sign(&c, dev[CM0].keys), CC_OK);
		cc_w_init(&bad);
		CHECK_EQ_INT(cc_commit_encode(&c, &bad), CC_OK);
		cc_commit_free(&c);
		CHECK_EQ_INT(cc_casus_apply_commit(dev[GGD].cs, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL),
		             CC_ERR_DECRYPT);
		cc_w_free(&bad);
	}
	CHECK_EQ_INT(apply_all(&w), CC_OK);
	CHECK_EQ_INT(server->epoch, 1);
	CHECK(!cc_casus_has_epoch_key(dev[OUTSIDER].cs, 0, AUD_ZORG)); /* nothing from before the add */
	CHECK(cc_casus_has_epoch_key(dev[OUTSIDER].cs, 1, AUD_ZORG));
	check_entitlement();
	/* a commit built on the old head is not on the head */
	{
		cc_chain_state *stale;
		CHECK_EQ_INT(cc_chain_state_new(&stale), CC_OK);
		CHECK_EQ_INT(cc_chain_apply(stale, old.p, old.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_OK);
		cc_w_init(&bad);
		CHECK_EQ_INT(cc_commit_rotate(stale, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW, NULL, "",
		                              &bad),
		             CC_OK);
		CHECK_EQ_INT(cc_chain_apply(server, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_CHAIN);
		cc_w_free(&bad);
		cc_chain_state_free(stale);
	}
	cc_w_free(&w);

	/* ---- escalation rules */
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_set_level(server, 2, dev[GGD].keys, &dev[GGD].cert, &pol, root_pk, E2E_NOW, NULL, "vast",
	                                 &w),
	             CC_ERR_FORBIDDEN);
	CHECK_EQ_INT(cc_commit_set_level(server, 4, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW, NULL, "vast",
	                                 &w),
	             CC_ERR_FORBIDDEN); /* casemanager escalates up to 3 */
	CHECK_EQ_INT(cc_commit_set_level(server, 2, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW, NULL, "",
	                                 &w),
	             CC_ERR_MALFORMED); /* a level change needs a reason */
	CHECK_EQ_INT(cc_commit_set_level(server, 3, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW, NULL,
	                                 "stagnatie", &w),
	             CC_OK);
	/* the same escalation signed by the ggd (a role that may not escalate) */
	resign(&w, set_actor, dev[GGD].cert.device_id, dev[GGD].keys, &bad);
	CHECK_EQ_INT(cc_chain_apply(server, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_FORBIDDEN);
	cc_w_free(&bad);
	CHECK_EQ_INT(apply_all(&w), CC_OK);
	CHECK_EQ_INT(server->level, 3);
	check_entitlement();
	cc_w_free(&w);

	/* add ketenpartner and procesregisseur; the procesregisseur escalates to 4, adds politie */
	{
		cc_cert add[2] = {dev[KP].cert, dev[PR].cert};
		cc_w_init(&w);
		CHECK_EQ_INT(cc_commit_add(server, add, 2, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW, NULL,
		                           "ketenpartner en procesregisseur", &w),
		             CC_OK);
		CHECK_EQ_INT(apply_all(&w), CC_OK);
		cc_w_free(&w);
	}
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_set_level(server, 4, dev[PR].keys, &dev[PR].cert, &pol, root_pk, E2E_NOW, NULL,
	                                 "veiligheidsrisico", &w),
	             CC_OK);
	CHECK_EQ_INT(apply_all(&w), CC_OK);
	cc_w_free(&w);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_add(server, &dev[POL].cert, 1, dev[PR].keys, &dev[PR].cert, &pol, root_pk, E2E_NOW, NULL,
	                           "wijkagent", &w),
	             CC_OK);
	CHECK_EQ_INT(apply_all(&w), CC_OK);
	cc_w_free(&w);
	check_entitlement();
	CHECK(!holds(POL, AUD_ZORG));
	CHECK(holds(POL, AUD_OVERLEG));
	CHECK(!holds(POL, AUD_REGIE));

	/* ---- break-glass: the procesregisseur admits bestuur at level 4, flagged */
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_break_glass(server, &dev[BES].cert, 1, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk,
	                                   E2E_NOW, NULL, "spoed", &w),
	             CC_ERR_FORBIDDEN); /* the casemanager has no break-glass right in the default policy */
	CHECK_EQ_INT(cc_commit_break_glass(server, &dev[BES].cert, 1, dev[PR].keys, &dev[PR].cert, &pol, root_pk,
	                                   E2E_NOW, NULL, "", &w),
	             CC_ERR_MALFORMED); /* typed reason required */
	CHECK_EQ_INT(cc_commit_break_glass(server, &dev[FG].cert, 1, dev[PR].keys, &dev[PR].cert, &pol, root_pk,
	                                   E2E_NOW, NULL, "spoed", &w),
	             CC_ERR_ROSTER); /* never_key: not even by break-glass */
	CHECK_EQ_INT(cc_commit_break_glass(server, &dev[BES].cert, 1, dev[PR].keys, &dev[PR].cert, &pol, root_pk,
	                                   E2E_NOW, NULL, "acute dreiging, wethouder moet meebeslissen", &w),
	             CC_OK);
	CHECK_EQ_INT(apply_all(&w), CC_OK);
	cc_w_free(&w);
	{
		int bi = cc_chain_find(server, dev[BES].cert.device_id);
		CHECK(bi >= 0 && (server->roster[bi].flags & CC_ROSTER_BREAK_GLASS));
	}
	check_entitlement();
	CHECK(holds(BES, AUD_REGIE) && holds(BES, AUD_OVERLEG) && !holds(BES, AUD_ZORG));

	/* chain state round-trip (server storage) */
	{
		cc_wbuf s1, s2;
		cc_chain_state *back = NULL;
		cc_w_init(&s1);
		cc_w_init(&s2);
		CHECK_EQ_INT(cc_chain_state_encode(server, &s1), CC_OK);
		CHECK_EQ_INT(cc_chain_state_decode(s1.p, s1.len, &back), CC_OK);
		CHECK_EQ_INT(cc_chain_state_encode(back, &s2), CC_OK);
		CHECK(s1.len == s2.len && memcmp(s1.p, s2.p, s1.len) == 0);
		CHECK(back && back->epoch == server->epoch && back->nroster == server->nroster &&
		      memcmp(back->head, server->head, CC_HASH_BYTES) == 0);
		for (size_t cut = 0; cut < s1.len; cut += 13) {
			cc_chain_state *x = NULL;
			CHECK(cc_chain_state_decode(s1.p, cut, &x) != CC_OK);
			CHECK(x == NULL);
		}
		/* the decoded state verifies the next commit like the original */
		cc_w_init(&w);
		CHECK_EQ_INT(cc_commit_rotate(server, dev[ED].keys, &dev[ED].cert, &pol, root_pk, E2E_NOW, NULL, "",
		                              &w),
		             CC_OK);
		CHECK_EQ_INT(cc_chain_apply(back, w.p, w.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_OK);
		CHECK_EQ_INT(apply_all(&w), CC_OK);
		CHECK(memcmp(back->head, server->head, CC_HASH_BYTES) == 0);
		cc_w_free(&w);
		cc_chain_state_free(back);
		cc_w_free(&s1);
		cc_w_free(&s2);
	}

	/* ---- de-escalation to 2 removes procesregisseur, politie and the break-glass bestuur */
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_set_level(server, 2, dev[GGD].keys, &dev[GGD].cert, &pol, root_pk, E2E_NOW, NULL,
	                                 "rustig", &w),
	             CC_ERR_FORBIDDEN);
	CHECK_EQ_INT(cc_commit_set_level(server, 2, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW, NULL,
	                                 "situatie stabiel", &w),
	             CC_OK);
	{
		/* a de-escalation that claims a level the removals do not match */
		uint8_t lvl = 3;
		resign(&w, set_level_after, &lvl, dev[CM0].keys, &bad);
		CHECK_EQ_INT(cc_chain_apply(server, bad.p, bad.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_ROSTER);
		cc_w_free(&bad);
	}
	uint64_t before = server->epoch;
	CHECK_EQ_INT(apply_all(&w), CC_OK);
	cc_w_free(&w);
	CHECK_EQ_INT(server->level, 2);
	CHECK(cc_chain_find(server, dev[PR].cert.device_id) < 0);
	CHECK(cc_chain_find(server, dev[POL].cert.device_id) < 0);
	CHECK(cc_chain_find(server, dev[BES].cert.device_id) < 0);
	CHECK(cc_chain_find(server, dev[KP].cert.device_id) >= 0);
	check_entitlement();
	CHECK(cc_casus_has_epoch_key(dev[POL].cs, before, AUD_OVERLEG)); /* history stays */
	CHECK(!cc_casus_has_epoch_key(dev[POL].cs, server->epoch, AUD_OVERLEG));
	/* the removed procesregisseur can no longer act */
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_rotate(server, dev[PR].keys, &dev[PR].cert, &pol, root_pk, E2E_NOW, NULL, "", &w),
	             CC_ERR_NOT_MEMBER);

	/* ---- removal: the ervaringsdeskundige may remove only her own devices */
	{
		uint8_t ids[1][CC_DEVICE_ID_BYTES];
		memcpy(ids[0], dev[GGD].cert.device_id, CC_DEVICE_ID_BYTES);
		CHECK_EQ_INT(cc_commit_remove(server, (const uint8_t(*)[CC_DEVICE_ID_BYTES])ids, 1, dev[ED].keys,
		                              &dev[ED].cert, &pol, root_pk, E2E_NOW, NULL, "", &w),
		             CC_ERR_FORBIDDEN);
		memcpy(ids[0], dev[ED].cert.device_id, CC_DEVICE_ID_BYTES);
		CHECK_EQ_INT(cc_commit_remove(server, (const uint8_t(*)[CC_DEVICE_ID_BYTES])ids, 1, dev[ED].keys,
		                              &dev[ED].cert, &pol, root_pk, E2E_NOW, NULL, "vertrekt", &w),
		             CC_OK);
		CHECK_EQ_INT(apply_all(&w), CC_OK);
		cc_w_free(&w);
		check_entitlement();
		/* revocation: the ggd's device is revoked; nothing may keep it in the roster */
		cc_revlist revs;
		cc_revlist_init(&revs);
		CHECK_EQ_INT(cc_revlist_add(&revs, dev[GGD].cert.serial, dev[GGD].cert.device_id, E2E_NOW), CC_OK);
		CHECK_EQ_INT(cc_revlist_sign(&revs, root), CC_OK);
		cc_w_init(&w);
		CHECK_EQ_INT(cc_commit_rotate(server, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW, &revs, "",
		                              &w),
		             CC_ERR_REVOKED);
		CHECK_EQ_INT(cc_commit_rotate(server, dev[GGD].keys, &dev[GGD].cert, &pol, root_pk, E2E_NOW, &revs, "",
		                              &w),
		             CC_ERR_REVOKED); /* a revoked actor */
		memcpy(ids[0], dev[GGD].cert.device_id, CC_DEVICE_ID_BYTES);
		CHECK_EQ_INT(cc_commit_remove(server, (const uint8_t(*)[CC_DEVICE_ID_BYTES])ids, 1, dev[CM0].keys,
		                              &dev[CM0].cert, &pol, root_pk, E2E_NOW, &revs, "apparaat ingetrokken",
		                              &w),
		             CC_OK);
		rc = cc_chain_apply(server, w.p, w.len, &pol, root_pk, E2E_NOW, &revs, NULL);
		CHECK_EQ_INT(rc, CC_OK);
		cc_revlist_free(&revs);
		cc_w_free(&w);
	}

	/* ---- replaying an old chain: certificates judged as of each commit's time */
	{
		cc_device_keys *sk = NULL;
		cc_cert_request req;
		cc_cert shortc;
		cc_wbuf c0, c1;
		cc_chain_state *s1 = NULL, *s2 = NULL;
		uint8_t cid[CC_CASUS_ID_BYTES];
		CHECK_EQ_INT(cc_device_keys_generate(&sk), CC_OK);
		CHECK_EQ_INT(cc_cert_request_create(&req, sk, "cm.kort", "Kort Geldig", "Org", "casemanager"), CC_OK);
		CHECK_EQ_INT(cc_cert_issue(&req, root, 777, E2E_NOW - 10, E2E_NOW + 1000, &shortc), CC_OK);
		cc_commit_new_casus_id(cid);
		cc_w_init(&c0);
		cc_w_init(&c1);
		CHECK_EQ_INT(cc_commit_create(cid, 1, &dev[ED].cert, 1, sk, &shortc, &pol, root_pk, E2E_NOW, "", &c0),
		             CC_OK);
		CHECK_EQ_INT(cc_chain_state_new(&s1), CC_OK);
		CHECK_EQ_INT(cc_chain_apply(s1, c0.p, c0.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_OK);
		CHECK_EQ_INT(cc_commit_rotate(s1, sk, &shortc, &pol, root_pk, E2E_NOW + 10, NULL, "", &c1), CC_OK);
		cc_chain_state_free(s1);
		/* a year later the certificate has expired: live verification refuses, replay accepts */
		CHECK_EQ_INT(cc_chain_state_new(&s1), CC_OK);
		CHECK_EQ_INT(cc_chain_apply(s1, c0.p, c0.len, &pol, root_pk, E2E_NOW + 2000, NULL, NULL),
		             CC_ERR_EXPIRED);
		CHECK_EQ_INT(cc_chain_apply_historic(s1, c0.p, c0.len, &pol, root_pk, E2E_NOW + 2000, NULL, NULL),
		             CC_OK);
		CHECK_EQ_INT(cc_chain_apply_historic(s1, c1.p, c1.len, &pol, root_pk, E2E_NOW + 2000, NULL, NULL),
		             CC_OK);
		/* a commit from the future is refused when replaying */
		CHECK_EQ_INT(cc_chain_state_new(&s2), CC_OK);
		CHECK_EQ_INT(cc_chain_apply_historic(s2, c0.p, c0.len, &pol, root_pk, E2E_NOW - 1000, NULL, NULL),
		             CC_ERR_CHAIN);
		cc_chain_state_free(s2);
		/* revoked after its commits: they still replay; revoked before the rotate: refused */
		cc_revlist late, early;
		cc_revlist_init(&late);
		cc_revlist_init(&early);
		CHECK_EQ_INT(cc_revlist_add(&late, shortc.serial, shortc.device_id, E2E_NOW + 100), CC_OK);
		CHECK_EQ_INT(cc_revlist_add(&early, shortc.serial, shortc.device_id, E2E_NOW + 5), CC_OK);
		CHECK_EQ_INT(cc_revlist_sign(&late, root), CC_OK);
		CHECK_EQ_INT(cc_revlist_sign(&early, root), CC_OK);
		CHECK_EQ_INT(cc_chain_state_new(&s2), CC_OK);
		CHECK_EQ_INT(cc_chain_apply_historic(s2, c0.p, c0.len, &pol, root_pk, E2E_NOW + 50, &late, NULL),
		             CC_OK);
		CHECK_EQ_INT(cc_chain_apply_historic(s2, c1.p, c1.len, &pol, root_pk, E2E_NOW + 50, &late, NULL),
		             CC_OK);
		cc_chain_state_free(s2);
		CHECK_EQ_INT(cc_chain_state_new(&s2), CC_OK);
		CHECK_EQ_INT(cc_chain_apply(s2, c0.p, c0.len, &pol, root_pk, E2E_NOW + 50, &late, NULL),
		             CC_ERR_REVOKED);
		CHECK_EQ_INT(cc_chain_apply_historic(s2, c0.p, c0.len, &pol, root_pk, E2E_NOW + 50, &early, NULL),
		             CC_OK);
		CHECK_EQ_INT(cc_chain_apply_historic(s2, c1.p, c1.len, &pol, root_pk, E2E_NOW + 50, &early, NULL),
		             CC_ERR_REVOKED);
		cc_chain_state_free(s2);
		/* the client path replays the expired chain too */
		CHECK_EQ_INT(e2e_dev_reset(&dev[ED]), CC_OK);
		CHECK_EQ_INT(cc_casus_apply_commit(dev[ED].cs, c0.p, c0.len, &pol, root_pk, E2E_NOW + 2000, NULL),
		             CC_OK);
		CHECK_EQ_INT(cc_casus_apply_commit(dev[ED].cs, c1.p, c1.len, &pol, root_pk, E2E_NOW + 2000, NULL),
		             CC_OK);
		CHECK(cc_casus_has_epoch_key(dev[ED].cs, 1, AUD_ZORG));
		cc_revlist_free(&late);
		cc_revlist_free(&early);
		cc_chain_state_free(s1);
		cc_w_free(&c0);
		cc_w_free(&c1);
		cc_device_keys_free(sk);
	}

	/* ---- commit v2: the policy number and the reason encrypted to the roster */
	{
		const char *secret = "signalen van uitbuiting R7Q2-MARKER";
		cc_policy pol2 = pol;
		pol2.number = pol.number + 1;
		cc_chain_state *s = NULL;
		cc_wbuf c0, c1, f;
		cc_commit c;
		char text[CC_COMMIT_REASON_MAX + 1];
		uint8_t cid2[CC_CASUS_ID_BYTES];
		cc_cert others[2] = {dev[ED].cert, dev[GGD].cert};
		cc_commit_new_casus_id(cid2);
		cc_w_init(&c0);
		cc_w_init(&c1);
		CHECK_EQ_INT(cc_commit_create(cid2, 1, others, 2, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW,
		                              secret, &c0),
		             CC_OK);
		/* the reason is not in the commit's bytes; the policy number is */
		CHECK(!has_bytes(c0.p, c0.len, "R7Q2-MARKER"));
		CHECK(!has_bytes(c0.p, c0.len, "uitbuiting"));
		CHECK_EQ_INT(cc_commit_decode(c0.p, c0.len, &c), CC_OK);
		CHECK(c.version == CC_COMMIT_VERSION_BOXES && c.policy == pol.number && c.reason_len > 0);
		CHECK_EQ_INT(c.reason.nrecipients, 3);
		cc_commit_free(&c);
		/* every member reads it; a device outside the roster cannot */
		CHECK_EQ_INT(cc_commit_open_reason(c0.p, c0.len, dev[GGD].keys, text, sizeof text), CC_OK);
		CHECK(strcmp(text, secret) == 0);
		CHECK_EQ_INT(cc_commit_open_reason(c0.p, c0.len, dev[CM0].keys, text, sizeof text), CC_OK);
		CHECK(strcmp(text, secret) == 0);
		CHECK_EQ_INT(cc_commit_open_reason(c0.p, c0.len, dev[PR].keys, text, sizeof text),
		             CC_ERR_NOT_RECIPIENT);
		CHECK_EQ_INT(text[0], 0);
		CHECK_EQ_INT(cc_commit_open_reason(c0.p, c0.len, dev[GGD].keys, text, 16), CC_ERR_INVALID_ARG);
		/* a version 1 commit (reason in the clear, no policy number) is refused */
		resign(&c0, set_version1, NULL, dev[CM0].keys, &f);
		CHECK_EQ_INT(cc_commit_decode(f.p, f.len, &c), CC_ERR_VERSION);
		cc_w_free(&f);

		/* a fresh submission must name the verifier's policy: newer or older is STALE */
		CHECK_EQ_INT(cc_chain_state_new(&s), CC_OK);
		CHECK_EQ_INT(cc_chain_apply(s, c0.p, c0.len, &pol2, root_pk, E2E_NOW, NULL, NULL), CC_ERR_STALE);
		resign(&c0, set_policy_number, &pol2.number, dev[CM0].keys, &f);
		CHECK_EQ_INT(cc_chain_apply(s, f.p, f.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_STALE);
		CHECK_EQ_INT(cc_chain_apply_historic(s, f.p, f.len, &pol, root_pk, E2E_NOW, NULL, NULL), CC_ERR_STALE);
		cc_w_free(&f);
		CHECK_EQ_INT(s->started, 0); /* nothing changed */
		/* replaying a chain: a commit made under an older policy is fine until the chain named a newer one */
		CHECK_EQ_INT(cc_chain_apply_historic(s, c0.p, c0.len, &pol2, root_pk, E2E_NOW, NULL, NULL), CC_OK);
		CHECK(s->policy == pol.number);
		CHECK_EQ_INT(cc_commit_rotate(s, dev[CM0].keys, &dev[CM0].cert, &pol2, root_pk, E2E_NOW + 1, NULL, "",
		                              &c1),
		             CC_OK);
		CHECK_EQ_INT(cc_chain_apply(s, c1.p, c1.len, &pol2, root_pk, E2E_NOW + 1, NULL, NULL), CC_OK);
		CHECK(s->policy == pol2.number);
		/* the chain state keeps the number across encode/decode */
		{
			cc_wbuf sw;
			cc_chain_state *back = NULL;
			cc_w_init(&sw);
			CHECK_EQ_INT(cc_chain_state_encode(s, &sw), CC_OK);
			CHECK_EQ_INT(cc_chain_state_decode(sw.p, sw.len, &back), CC_OK);
			CHECK(back && back->policy == pol2.number);
			cc_chain_state_free(back);
			sw.p[0] = 1; /* version 1 state has no policy number */
			CHECK_EQ_INT(cc_chain_state_decode(sw.p, sw.len, &back), CC_ERR_VERSION);
			cc_w_free(&sw);
		}
		/* after a commit under policy N+1, one under N is refused, replay or not; the builder refuses too */
		{
			cc_wbuf c2, old2;
			cc_w_init(&c2);
			cc_w_init(&old2);
			CHECK_EQ_INT(cc_commit_rotate(s, dev[CM0].keys, &dev[CM0].cert, &pol, root_pk, E2E_NOW + 2,
			                              NULL, "", &c2),
			             CC_ERR_STALE);
			CHECK_EQ_INT(cc_commit_rotate(s, dev[CM0].keys, &dev[CM0].cert, &pol2, root_pk, E2E_NOW + 2,
			                              NULL, "", &c2),
			             CC_OK);
			resign(&c2, set_policy_number, &pol.number, dev[CM0].keys, &old2);
			CHECK_EQ_INT(cc_chain_apply_historic(s, old2.p, old2.len, &pol2, root_pk, E2E_NOW + 2, NULL,
			                                     NULL),
			             CC_ERR_STALE);
			CHECK_EQ_INT(cc_chain_apply(s, c2.p, c2.len, &pol2, root_pk, E2E_NOW + 2, NULL, NULL), CC_OK);
			cc_w_free(&c2);
			cc_w_free(&old2);
		}

		/* reason rules the verifier can check: present for a level change, sealed to exactly the roster */
		{
			cc_wbuf esc;
			cc_w_init(&esc);
			CHECK_EQ_INT(cc_commit_set_level(s, 3, dev[CM0].keys, &dev[CM0].cert, &pol2, root_pk,
			                                 E2E_NOW + 3, NULL, secret, &esc),
			             CC_OK);
			resign(&esc, drop_reason, NULL, dev[CM0].keys, &f);
			CHECK_EQ_INT(cc_chain_apply(s, f.p, f.len, &pol2, root_pk, E2E_NOW + 3, NULL, NULL),
			             CC_ERR_MALFORMED);
			cc_w_free(&f);
			resign(&esc, rename_reason_recipient, dev[PR].cert.device_id, dev[CM0].keys, &f);
			CHECK_EQ_INT(cc_commit_decode(f.p, f.len, &c), CC_ERR_MALFORMED);
			cc_w_free(&f);
			/* what only members can check: the text opens, and every member gets the same key */
			resign(&esc, flip_reason_byte, NULL, dev[CM0].keys, &f);
			CHECK_EQ_INT(cc_commit_open_reason(f.p, f.len, dev[GGD].keys, text, sizeof text),
			             CC_ERR_DECRYPT);
			cc_w_free(&f);
			resign(&esc, reseal_reason_other_key, &dev[GGD], dev[CM0].keys, &f);
			CHECK_EQ_INT(cc_commit_open_reason(f.p, f.len, dev[GGD].keys, text, sizeof text),
			             CC_ERR_KEY_COMMITMENT);
			CHECK_EQ_INT(cc_commit_open_reason(f.p, f.len, dev[ED].keys, text, sizeof text), CC_OK);
			cc_w_free(&f);
			CHECK_EQ_INT(cc_chain_apply(s, esc.p, esc.len, &pol2, root_pk, E2E_NOW + 3, NULL, NULL), CC_OK);
			/* a rotate without a reason has no reason box */
			CHECK_EQ_INT(cc_commit_open_reason(c1.p, c1.len, dev[GGD].keys, text, sizeof text),
			             CC_ERR_NOT_FOUND);
			cc_w_free(&esc);
		}
		cc_chain_state_free(s);
		cc_w_free(&c0);
		cc_w_free(&c1);
	}

	cc_w_free(&old);
	cc_chain_state_free(server);
	for (int i = 0; i < NDEV; i++)
		e2e_dev_free(&dev[i]);
	cc_root_key_free(root);
	return check_done();
}
