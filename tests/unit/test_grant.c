/*
 * test_grant.c: sharing history onward. A member who joined later reads
 * exactly the granted messages; the grant is refused when the granter may not
 * grant, cannot read the message, leaves out the ground or addresses someone
 * outside the roster or the audience; a tampered grant, a box for another
 * device or message, and a wrong key are all refused; the original author's
 * signature is still checked.
 */
#include "check.h"
#include "test_e2e_fixture.h"

enum {
	CM,
	ED,
	G0,
	G1,
	CM2,
	NDEV
};
static const char *const ROLE[NDEV] = {"casemanager", "ervaringsdeskundige", "ggd", "ggd", "casemanager"};
static const char *const USER[NDEV] = {"cm.jansen", "ed.bakker", "ggd.visser", "ggd.visser", "cm.devries"};

static cc_root_key *root;
static cc_policy pol;
static e2e_dev dev[NDEV];
static cc_chain_state *server;

static void apply_all(const cc_wbuf *w)
{
	CHECK_EQ_INT(cc_chain_apply(server, w->p, w->len, &pol, root->pk, E2E_NOW, NULL, NULL), CC_OK);
	for (int i = 0; i < NDEV; i++)
		CHECK_EQ_INT(cc_casus_apply_commit(dev[i].cs, w->p, w->len, &pol, root->pk, E2E_NOW, NULL), CC_OK);
}

static int try_open(int d, const cc_wbuf *m)
{
	cc_wbuf pt;
	cc_w_init_secret(&pt);
	int rc = cc_casus_decrypt(dev[d].cs, &pol, m->p, m->len, &pt, NULL);
	cc_w_free(&pt);
	return rc;
}

static int grant(int granter, const int *grantees, size_t ng, const cc_wbuf *const *msgs, size_t nm, uint8_t ground,
                 const char *reason, cc_wbuf *out)
{
	uint8_t ids[4][CC_DEVICE_ID_BYTES];
	const uint8_t *mp[4];
	size_t ml[4];
	for (size_t i = 0; i < ng; i++)
		memcpy(ids[i], dev[grantees[i]].cert.device_id, CC_DEVICE_ID_BYTES);
	for (size_t i = 0; i < nm; i++) {
		mp[i] = msgs[i]->p;
		ml[i] = msgs[i]->len;
	}
	return cc_casus_grant(dev[granter].cs, &pol, (const uint8_t(*)[CC_DEVICE_ID_BYTES])ids, ng, mp, ml, nm, ground,
	                      reason, E2E_NOW, out);
}

/* Re-seal device slot `slot`'s box for item 0 and re-sign as the casemanager. */
static void rebox_and_resign(const cc_wbuf *in, size_t slot, const e2e_dev *seal_to, const uint8_t *inner_id,
                             const uint8_t *inner_msg_id, int random_key, cc_wbuf *out)
{
	cc_grant g;
	uint8_t mk[CC_MESSAGE_KEY_BYTES];
	CHECK_EQ_INT(cc_grant_decode(in->p, in->len, &g), CC_OK);
	/* the slot's real key, opened with its owner's keys */
	const e2e_dev *owner = memcmp(g.devices[slot].device_id, dev[G0].cert.device_id, CC_DEVICE_ID_BYTES) == 0
	                               ? &dev[G0]
	                               : &dev[G1];
	CHECK_EQ_INT(cc_grant_open_key(g.devices[slot].boxes, owner->keys, g.casus_id, g.items[0].message_id,
	                               g.items[0].message_hash, mk),
	             CC_OK);
	if (random_key)
		randombytes_buf(mk, sizeof mk);
	CHECK_EQ_INT(cc_grant_seal_key(g.devices[slot].boxes, seal_to->cert.box_pk, inner_id, g.casus_id,
	                               inner_msg_id ? inner_msg_id : g.items[0].message_id, g.items[0].message_hash,
	                               mk),
	             CC_OK);
	CHECK_EQ_INT(cc_grant_sign(&g, dev[CM].keys), CC_OK);
	cc_w_init(out);
	CHECK_EQ_INT(cc_grant_encode(&g, out), CC_OK);
	cc_grant_free(&g);
}

int main(void)
{
	cc_wbuf w, m0, m1, m2, g, bad;
	uint8_t casus_id[CC_CASUS_ID_BYTES];

	CHECK(sodium_init() >= 0);
	e2e_default_policy(&pol);
	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	for (int i = 0; i < NDEV; i++)
		CHECK_EQ_INT(e2e_dev_make(&dev[i], root, USER[i], ROLE[i], (uint64_t)(300 + i)), CC_OK);
	CHECK_EQ_INT(cc_chain_state_new(&server), CC_OK);
	cc_commit_new_casus_id(casus_id);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_create(casus_id, 1, &dev[ED].cert, 1, dev[CM].keys, &dev[CM].cert, &pol, root->pk,
	                              E2E_NOW, "", &w),
	             CC_OK);
	apply_all(&w);
	cc_w_free(&w);

	/* history at epoch 0: m0 by cm (zorg), m1 by ed (zorg), m2 by cm (regie) */
	cc_w_init(&m0);
	cc_w_init(&m1);
	cc_w_init(&m2);
	CHECK_EQ_INT(cc_casus_encrypt(dev[CM].cs, &pol, AUD_ZORG, 0, (const uint8_t *)"m0", 2, E2E_NOW, &m0), CC_OK);
	CHECK_EQ_INT(cc_casus_encrypt(dev[ED].cs, &pol, AUD_ZORG, 0, (const uint8_t *)"m1", 2, E2E_NOW, &m1), CC_OK);
	CHECK_EQ_INT(cc_casus_encrypt(dev[CM].cs, &pol, AUD_REGIE, 0, (const uint8_t *)"m2", 2, E2E_NOW, &m2), CC_OK);

	/* the ggd (two devices) and a second casemanager join at epoch 1 */
	{
		cc_cert add[3] = {dev[G0].cert, dev[G1].cert, dev[CM2].cert};
		cc_w_init(&w);
		CHECK_EQ_INT(cc_commit_add(server, add, 3, dev[CM].keys, &dev[CM].cert, &pol, root->pk, E2E_NOW, NULL,
		                           "", &w),
		             CC_OK);
		apply_all(&w);
		cc_w_free(&w);
	}
	CHECK_EQ_INT(try_open(G0, &m0), CC_ERR_NO_KEY);
	CHECK_EQ_INT(try_open(G0, &m1), CC_ERR_NO_KEY);
	CHECK_EQ_INT(try_open(CM2, &m0), CC_ERR_NO_KEY);

	const int gg[2] = {G0, G1};
	const cc_wbuf *zorg_msgs[2] = {&m0, &m1};
	cc_w_init(&g);
	/* refusals */
	CHECK_EQ_INT(grant(ED, gg, 2, zorg_msgs, 2, CC_GROUND_CONSENT, "overdracht", &g), CC_ERR_FORBIDDEN);
	CHECK_EQ_INT(grant(CM2, gg, 2, zorg_msgs, 2, CC_GROUND_CONSENT, "overdracht", &g), CC_ERR_NO_KEY);
	CHECK_EQ_INT(grant(CM, gg, 2, zorg_msgs, 2, CC_GROUND_NONE, "overdracht", &g), CC_ERR_GROUND_REQUIRED);
	CHECK_EQ_INT(grant(CM, gg, 2, zorg_msgs, 2, CC_GROUND_CONSENT, "", &g), CC_ERR_INVALID_ARG);
	{
		const cc_wbuf *regie_msgs[1] = {&m2};
		CHECK_EQ_INT(grant(CM, gg, 2, regie_msgs, 1, CC_GROUND_CONSENT, "overdracht", &g), CC_ERR_AUDIENCE);
	}
	CHECK_EQ_INT(g.len, 0);

	/* the casemanager grants m0 and m1 to both ggd devices */
	CHECK_EQ_INT(grant(CM, gg, 2, zorg_msgs, 2, CC_GROUND_CONSENT, "overdracht aan ggd", &g), CC_OK);
	{
		cc_grant dg;
		CHECK_EQ_INT(cc_grant_decode(g.p, g.len, &dg), CC_OK);
		CHECK_EQ_INT(cc_grant_check_public(&dg, server, &pol), CC_OK);
		CHECK_EQ_INT(cc_grant_verify_sig(&dg, dev[ED].cert.sign_pk), CC_ERR_BAD_SIGNATURE);
		CHECK_EQ_INT(dg.nitems, 2);
		CHECK_EQ_INT(dg.ndevices, 2);
		cc_grant_free(&dg);
		for (size_t cut = 0; cut < g.len; cut += 11)
			CHECK(cc_grant_decode(g.p, cut, &dg) != CC_OK);
	}
	/* grant v2: the reason is a box only the grantees and the granter open;
	 * the server-side bytes do not hold it; v1 is refused */
	{
		static const char why[] = "overdracht aan ggd";
		char out[CC_GRANT_REASON_MAX + 1];
		cc_grant dg;
		int found = 0;
		for (size_t i = 0; i + sizeof why - 1 <= g.len; i++)
			found |= memcmp(g.p + i, why, sizeof why - 1) == 0;
		CHECK(!found);
		CHECK_EQ_INT(cc_grant_decode(g.p, g.len, &dg), CC_OK);
		CHECK_EQ_INT(dg.version, 2);
		CHECK_EQ_INT(cc_grant_open_reason(&dg, dev[G0].keys, out, sizeof out), CC_OK);
		CHECK(strcmp(out, why) == 0);
		CHECK_EQ_INT(cc_grant_open_reason(&dg, dev[G1].keys, out, sizeof out), CC_OK);
		CHECK(strcmp(out, why) == 0);
		CHECK_EQ_INT(cc_grant_open_reason(&dg, dev[CM].keys, out, sizeof out), CC_OK);
		CHECK(strcmp(out, why) == 0);
		CHECK_EQ_INT(cc_grant_open_reason(&dg, dev[ED].keys, out, sizeof out), CC_ERR_NOT_RECIPIENT);
		CHECK_EQ_INT(cc_grant_open_reason(&dg, dev[G0].keys, out, 8), CC_ERR_INVALID_ARG);
		/* a re-signed grant whose reason box is damaged is refused by the grantee */
		dg.reason_box[dg.reason_len - 1] ^= 0x01;
		CHECK_EQ_INT(cc_grant_sign(&dg, dev[CM].keys), CC_OK);
		cc_w_init(&bad);
		CHECK_EQ_INT(cc_grant_encode(&dg, &bad), CC_OK);
		CHECK_EQ_INT(cc_casus_accept_grant(dev[G0].cs, &pol, bad.p, bad.len), CC_ERR_DECRYPT);
		cc_w_free(&bad);
		/* the granter's copy of the key sealed to someone else: a different key */
		dg.reason_box[dg.reason_len - 1] ^= 0x01;
		uint8_t k2[CC_EPOCH_KEY_BYTES];
		randombytes_buf(k2, sizeof k2);
		size_t s0 = memcmp(dg.devices[0].device_id, dev[G0].cert.device_id, CC_DEVICE_ID_BYTES) == 0 ? 0 : 1;
		CHECK_EQ_INT(cc_commit_seal_key(dg.devices[s0].reason_key, dev[G0].cert.box_pk, dev[G0].cert.device_id,
		                                dg.casus_id, CC_REASON_AUDIENCE, dg.epoch, k2),
		             CC_OK);
		CHECK_EQ_INT(cc_grant_sign(&dg, dev[CM].keys), CC_OK);
		cc_w_init(&bad);
		CHECK_EQ_INT(cc_grant_encode(&dg, &bad), CC_OK);
		CHECK_EQ_INT(cc_casus_accept_grant(dev[G0].cs, &pol, bad.p, bad.len), CC_ERR_KEY_COMMITMENT);
		cc_w_free(&bad);
		cc_grant_free(&dg);
		/* format v1 (the reason in the clear) is refused */
		g.p[0] = 1;
		CHECK_EQ_INT(cc_grant_decode(g.p, g.len, &dg), CC_ERR_VERSION);
		CHECK_EQ_INT(cc_casus_accept_grant(dev[G0].cs, &pol, g.p, g.len), CC_ERR_VERSION);
		g.p[0] = 2;
	}
	/* tampered grant: every flipped byte is refused by the grantee and by the server */
	{
		int all = 1;
		for (size_t i = 0; i < g.len; i++) {
			cc_grant dg;
			g.p[i] ^= 0x01;
			if (cc_casus_accept_grant(dev[G0].cs, &pol, g.p, g.len) == CC_OK)
				all = 0;
			if (cc_grant_decode(g.p, g.len, &dg) == CC_OK) {
				if (cc_grant_check_public(&dg, server, &pol) == CC_OK)
					all = 0;
				cc_grant_free(&dg);
			}
			g.p[i] ^= 0x01;
		}
		CHECK(all);
	}
	/* insider tricks: a box sealed to g0 that names g1 inside; one naming another message;
	 * g1's box copied into g0's slot; a wrong key (caught by the key commitment) */
	{
		cc_grant dg;
		CHECK_EQ_INT(cc_grant_decode(g.p, g.len, &dg), CC_OK);
		size_t s0 = memcmp(dg.devices[0].device_id, dev[G0].cert.device_id, CC_DEVICE_ID_BYTES) == 0 ? 0 : 1;
		size_t s1 = 1 - s0;
		cc_grant_free(&dg);
		rebox_and_resign(&g, s0, &dev[G0], dev[G1].cert.device_id, NULL, 0, &bad);
		CHECK_EQ_INT(cc_casus_accept_grant(dev[G0].cs, &pol, bad.p, bad.len), CC_ERR_NOT_RECIPIENT);
		cc_w_free(&bad);
		uint8_t other_id[CC_MESSAGE_ID_BYTES];
		randombytes_buf(other_id, sizeof other_id);
		rebox_and_resign(&g, s0, &dev[G0], dev[G0].cert.device_id, other_id, 0, &bad);
		CHECK_EQ_INT(cc_casus_accept_grant(dev[G0].cs, &pol, bad.p, bad.len), CC_ERR_NOT_RECIPIENT);
		cc_w_free(&bad);
		rebox_and_resign(&g, s0, &dev[G1], dev[G1].cert.device_id, NULL, 0, &bad);
		CHECK_EQ_INT(cc_casus_accept_grant(dev[G0].cs, &pol, bad.p, bad.len), CC_ERR_DECRYPT);
		cc_w_free(&bad);
		/* g1 accepts a grant whose key for m0 is wrong: opening m0 fails on the key commitment */
		rebox_and_resign(&g, s1, &dev[G1], dev[G1].cert.device_id, NULL, 1, &bad);
		CHECK_EQ_INT(cc_casus_accept_grant(dev[G1].cs, &pol, bad.p, bad.len), CC_OK);
		CHECK_EQ_INT(try_open(G1, &m0), CC_ERR_KEY_COMMITMENT);
		CHECK_EQ_INT(try_open(G1, &m1), CC_OK); /* its second item was left intact */
		cc_w_free(&bad);
	}
	/* g0 accepts the real grant and reads exactly m0 and m1 */
	CHECK_EQ_INT(cc_grant_check_public(NULL, server, &pol), CC_ERR_INVALID_ARG);
	CHECK_EQ_INT(cc_casus_accept_grant(dev[G0].cs, &pol, g.p, g.len), CC_OK);
	CHECK_EQ_INT(cc_casus_accept_grant(dev[G0].cs, &pol, g.p, g.len), CC_OK); /* idempotent */
	CHECK_EQ_INT(cc_casus_accept_grant(dev[ED].cs, &pol, g.p, g.len), CC_ERR_NOT_RECIPIENT);
	{
		cc_wbuf pt;
		cc_w_init_secret(&pt);
		CHECK_EQ_INT(cc_casus_decrypt(dev[G0].cs, &pol, m0.p, m0.len, &pt, NULL), CC_OK);
		CHECK(pt.len == 2 && memcmp(pt.p, "m0", 2) == 0);
		cc_w_free(&pt);
		cc_w_init_secret(&pt);
		CHECK_EQ_INT(cc_casus_decrypt(dev[G0].cs, &pol, m1.p, m1.len, &pt, NULL),
		             CC_OK); /* ed's signature checked */
		CHECK(pt.len == 2 && memcmp(pt.p, "m1", 2) == 0);
		cc_w_free(&pt);
	}
	CHECK_EQ_INT(try_open(G0, &m2), CC_ERR_NO_KEY); /* not granted */
	/* a tampered granted message: its hash no longer matches and the author's signature fails */
	{
		cc_wbuf t;
		cc_w_init(&t);
		cc_w_fixed(&t, m1.p, m1.len);
		t.p[t.len - 70] ^= 0x01; /* a ciphertext byte */
		CHECK_EQ_INT(try_open(G1, &t), CC_ERR_BAD_SIGNATURE);
		cc_w_free(&t);
	}
	/* the ggd who now reads m0 still may not grant (no may_grant) */
	{
		cc_wbuf g2;
		const int cm2[1] = {CM2};
		cc_w_init(&g2);
		CHECK_EQ_INT(grant(G0, cm2, 1, zorg_msgs, 1, CC_GROUND_CONSENT, "door", &g2), CC_ERR_FORBIDDEN);
		/* the casemanager grants m0 to the second casemanager; a removed device cannot be granted */
		CHECK_EQ_INT(grant(CM, cm2, 1, zorg_msgs, 1, CC_GROUND_NO_CARE_INFO, "collega", &g2), CC_OK);
		CHECK_EQ_INT(cc_casus_accept_grant(dev[CM2].cs, &pol, g2.p, g2.len), CC_OK);
		CHECK_EQ_INT(try_open(CM2, &m0), CC_OK);
		CHECK_EQ_INT(try_open(CM2, &m1), CC_ERR_NO_KEY);
		cc_w_free(&g2);
		/* after a rotation the old grant is of a superseded epoch for the server, but the
		 * client still accepts it (it was valid when made) */
		cc_w_init(&w);
		CHECK_EQ_INT(cc_commit_rotate(server, dev[CM].keys, &dev[CM].cert, &pol, root->pk, E2E_NOW, NULL, "",
		                              &w),
		             CC_OK);
		apply_all(&w);
		cc_w_free(&w);
		cc_grant dg;
		CHECK_EQ_INT(cc_grant_decode(g.p, g.len, &dg), CC_OK);
		CHECK_EQ_INT(cc_grant_check_public(&dg, server, &pol), CC_ERR_EPOCH);
		cc_grant_free(&dg);
		uint8_t rm[1][CC_DEVICE_ID_BYTES];
		memcpy(rm[0], dev[G1].cert.device_id, CC_DEVICE_ID_BYTES);
		cc_w_init(&w);
		CHECK_EQ_INT(cc_commit_remove(server, (const uint8_t(*)[CC_DEVICE_ID_BYTES])rm, 1, dev[CM].keys,
		                              &dev[CM].cert, &pol, root->pk, E2E_NOW, NULL, "toestel kwijt", &w),
		             CC_OK);
		apply_all(&w);
		cc_w_free(&w);
		const int g1[1] = {G1};
		cc_w_init(&g2);
		CHECK_EQ_INT(grant(CM, g1, 1, zorg_msgs, 1, CC_GROUND_CONSENT, "x", &g2), CC_ERR_NOT_MEMBER);
		cc_w_free(&g2);
	}

	cc_w_free(&g);
	cc_w_free(&m0);
	cc_w_free(&m1);
	cc_w_free(&m2);
	cc_chain_state_free(server);
	for (int i = 0; i < NDEV; i++)
		e2e_dev_free(&dev[i]);
	cc_root_key_free(root);
	return check_done();
}
