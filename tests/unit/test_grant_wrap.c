/*
 * test_grant_wrap.c: grants (version 3) and device key transfers (version 2)
 * sealed to the recipient's device wrap key (docs/CRYPTO.md, "Device wrap
 * keys"): known answer, the wrap version under the signature (every flipped
 * bit refused), only the secret of the named version opens, a wrong version,
 * a version never made (NOT_RECIPIENT), a retired version (NO_KEY), and the
 * older formats (grant 2, transfer 1) still read.
 */
#include "check.h"
#include "test_e2e_fixture.h"
#include "test_rng.h"

#include "cc_transfer.h"
#include "cc_wrapkey.h"

#define TRANSFER_CTX "casus.e2e.v1.transfer.sig"

enum {
	CM,
	ED,
	G0,
	G1,
	NDEV
};
static const char *const ROLE[NDEV] = {"casemanager", "ervaringsdeskundige", "ggd", "ggd"};
static const char *const USER[NDEV] = {"cm.jansen", "ed.bakker", "ggd.visser", "ggd.visser"};

static cc_root_key *root;
static cc_policy pol;
static e2e_dev dev[NDEV];
static cc_chain_state *server;

static void kat_write_e2e(const char *name, const uint8_t *p, size_t n)
{
	char path[1024];
	const char *dir = getenv("CASUS_VECTORS");
	if (!dir || !getenv("CASUS_VECTORS_WRITE"))
		return;
	snprintf(path, sizeof path, "%s/identity/%s.hex", dir, name);
	FILE *f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
	fputc('\n', f);
	CHECK(fclose(f) == 0);
}

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
	int rc = cc_casus_decrypt_history(dev[d].cs, &pol, m->p, m->len, &pt, NULL);
	cc_w_free(&pt);
	return rc;
}

/* A fresh view of the chain for device d with the given wrap secrets. */
static cc_casus *fresh_view(int d, const cc_wrap_secret *ws, size_t n, uint32_t newest, const cc_wbuf *chain,
                            size_t nchain)
{
	cc_casus *cs = NULL;
	CHECK_EQ_INT(cc_casus_new(dev[d].keys, &dev[d].cert, &cs), CC_OK);
	CHECK_EQ_INT(cc_casus_set_wraps(cs, ws, n, newest), CC_OK);
	for (size_t i = 0; i < nchain; i++)
		CHECK_EQ_INT(cc_casus_apply_commit(cs, chain[i].p, chain[i].len, &pol, root->pk, E2E_NOW, NULL), CC_OK);
	return cs;
}

static cc_wrap_target target(int d, const cc_wrap_secret *s)
{
	cc_wrap_target t = {.version = s->version};
	memcpy(t.device_id, dev[d].cert.device_id, CC_DEVICE_ID_BYTES);
	memcpy(t.pk, s->pk, CC_BOX_PK_BYTES);
	return t;
}

/* The grant g with G0's wrap version replaced by v, re-signed by the granter
 * (an insider forging the version: the box still opens only with its key). */
static void regrant_version(const cc_wbuf *in, uint32_t v, cc_wbuf *out)
{
	cc_grant g;
	CHECK_EQ_INT(cc_grant_decode(in->p, in->len, &g), CC_OK);
	g.devices[0].wrap = v;
	CHECK_EQ_INT(cc_grant_sign(&g, dev[CM].keys), CC_OK);
	cc_w_init(out);
	CHECK_EQ_INT(cc_grant_encode(&g, out), CC_OK);
	cc_grant_free(&g);
}

/* The transfer with its wrap version replaced by v and re-signed by the sender. */
static void retransfer_version(const cc_wbuf *in, uint32_t v, cc_wbuf *out)
{
	cc_w_init(out);
	cc_w_fixed(out, in->p, in->len);
	CHECK_EQ_INT(out->err, CC_OK);
	size_t o = 1 + 3 * CC_DEVICE_ID_BYTES; /* version, casus, from, to */
	out->p[o] = (uint8_t)(v >> 24);
	out->p[o + 1] = (uint8_t)(v >> 16);
	out->p[o + 2] = (uint8_t)(v >> 8);
	out->p[o + 3] = (uint8_t)v;
	CHECK_EQ_INT(cc_sign_ctx(dev[G0].keys->sign_sk, TRANSFER_CTX, out->p, out->len - CC_SIG_BYTES,
	                         out->p + out->len - CC_SIG_BYTES),
	             CC_OK);
}

int main(void)
{
	cc_wbuf chain[3], m0, g, bad, t;
	uint8_t casus_id[CC_CASUS_ID_BYTES];

	test_rng_install();
	CHECK(sodium_init() >= 0);
	test_rng_reset();
	e2e_default_policy(&pol);
	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	for (int i = 0; i < NDEV; i++)
		CHECK_EQ_INT(e2e_dev_make(&dev[i], root, USER[i], ROLE[i], (uint64_t)(400 + i)), CC_OK);
	/* wrap secrets: the granter holds 1; G0 holds 1 and 2 (newest 2), and
	 * later 3 only (2 retired); G1 holds 1; other: a key of version 1 that
	 * G1 never had */
	cc_wrap_secret *ws = sodium_malloc(7 * sizeof *ws);
	CHECK(ws != NULL);
	if (!ws)
		return check_done();
	cc_wrap_secret *cm_w = &ws[0], *g0_w = &ws[1], *g0_w3 = &ws[3], *g1_w = &ws[4], *other = &ws[5],
		       *g1_w2 = &ws[6];
	CHECK_EQ_INT(cc_wrap_secret_generate(1, E2E_NOW - 300, cm_w), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_generate(1, E2E_NOW - 200, &g0_w[0]), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_generate(2, E2E_NOW - 100, &g0_w[1]), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_generate(3, E2E_NOW - 50, g0_w3), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_generate(1, E2E_NOW - 100, g1_w), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_generate(1, E2E_NOW - 100, other), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_generate(2, E2E_NOW - 10, g1_w2), CC_OK);
	CHECK_EQ_INT(cc_casus_set_wraps(dev[CM].cs, cm_w, 1, 1), CC_OK);
	CHECK_EQ_INT(cc_casus_set_wraps(dev[G0].cs, g0_w, 2, 2), CC_OK);

	/* epoch 0: cm and ed, m0 (zorg); epoch 1: G0 joins; epoch 2: G1 joins */
	CHECK_EQ_INT(cc_chain_state_new(&server), CC_OK);
	cc_commit_new_casus_id(casus_id);
	cc_w_init(&chain[0]);
	CHECK_EQ_INT(cc_commit_create(casus_id, 1, &dev[ED].cert, 1, dev[CM].keys, &dev[CM].cert, &pol, root->pk,
	                              E2E_NOW, "", &chain[0]),
	             CC_OK);
	apply_all(&chain[0]);
	cc_w_init(&m0);
	CHECK_EQ_INT(cc_casus_encrypt(dev[CM].cs, &pol, AUD_ZORG, 0, (const uint8_t *)"m0", 2, E2E_NOW, &m0), CC_OK);
	cc_w_init(&chain[1]);
	CHECK_EQ_INT(cc_commit_add(server, &dev[G0].cert, 1, dev[CM].keys, &dev[CM].cert, &pol, root->pk, E2E_NOW, NULL,
	                           "", &chain[1]),
	             CC_OK);
	apply_all(&chain[1]);
	CHECK_EQ_INT(try_open(G0, &m0), CC_ERR_NO_KEY);

	/* ---- grant version 3 ------------------------------------------------------ */
	cc_wrap_target tg = target(G0, &g0_w[1]);
	const uint8_t *mp[1] = {m0.p};
	size_t ml[1] = {m0.len};
	cc_w_init(&g);
	CHECK_EQ_INT(cc_casus_grant_wraps(dev[CM].cs, &pol,
	                                  (const uint8_t(*)[CC_DEVICE_ID_BYTES])dev[G0].cert.device_id, 1, mp, ml, 1,
	                                  CC_GROUND_CONSENT, "overdracht", &tg, 1, E2E_NOW, &g),
	             CC_OK);
	CHECK_EQ_INT(g.p[0], CC_GRANT_VERSION_WRAP);
	/* known answer: the whole run draws from the deterministic source */
	kat_write_e2e("grant_wrap", g.p, g.len);
	CHECK(kat_matches("grant_wrap", g.p, g.len));
	{
		cc_grant dg;
		CHECK_EQ_INT(cc_grant_decode(g.p, g.len, &dg), CC_OK);
		CHECK_EQ_INT(dg.version, CC_GRANT_VERSION_WRAP);
		CHECK_EQ_INT(dg.granter_wrap, 1);
		CHECK_EQ_INT(dg.devices[0].wrap, 2);
		uint8_t mk[CC_MESSAGE_KEY_BYTES];
		/* only the secret of version 2 opens the message box */
		CHECK_EQ_INT(cc_grant_open_key(dg.devices[0].boxes, dev[G0].keys, dg.casus_id, dg.items[0].message_id,
		                               dg.items[0].message_hash, mk),
		             CC_ERR_DECRYPT);
		CHECK_EQ_INT(cc_grant_open_key_wrap(dg.devices[0].boxes, dev[G0].keys, &g0_w[0], dg.casus_id,
		                                    dg.items[0].message_id, dg.items[0].message_hash, mk),
		             CC_ERR_DECRYPT);
		CHECK_EQ_INT(cc_grant_open_key_wrap(dg.devices[0].boxes, dev[G0].keys, &g0_w[1], dg.casus_id,
		                                    dg.items[0].message_id, dg.items[0].message_hash, mk),
		             CC_OK);
		/* the granter's reason copy opens with its wrap secret only */
		char reason[CC_GRANT_REASON_MAX + 1];
		CHECK_EQ_INT(cc_grant_open_reason(&dg, dev[CM].keys, reason, sizeof reason), CC_ERR_NO_KEY);
		CHECK_EQ_INT(cc_grant_open_reason_wraps(&dg, dev[CM].keys, cm_w, 1, reason, sizeof reason), CC_OK);
		CHECK(strcmp(reason, "overdracht") == 0);
		/* canonical: re-encoding gives the same bytes */
		cc_wbuf re;
		cc_w_init(&re);
		CHECK_EQ_INT(cc_grant_encode(&dg, &re), CC_OK);
		CHECK(re.len == g.len && memcmp(re.p, g.p, g.len) == 0);
		cc_w_free(&re);
		/* a version 2 grant cannot name a wrap key */
		dg.version = CC_GRANT_VERSION;
		cc_w_init(&re);
		CHECK_EQ_INT(cc_grant_encode(&dg, &re), CC_ERR_VERSION);
		cc_w_free(&re);
		cc_grant_free(&dg);
	}
	/* the server's public check passes; every truncation is refused */
	{
		cc_grant dg;
		CHECK_EQ_INT(cc_grant_decode(g.p, g.len, &dg), CC_OK);
		CHECK_EQ_INT(cc_grant_check_public(&dg, server, &pol), CC_OK);
		cc_grant_free(&dg);
		for (size_t cut = 0; cut < g.len; cut++)
			CHECK(cc_grant_decode(g.p, cut, &dg) != CC_OK);
	}
	/* every flipped bit is refused by the grantee (nothing kept) */
	{
		cc_casus *cs = fresh_view(G0, g0_w, 2, 2, chain, 2);
		size_t accepted = 0;
		for (size_t i = 0; i < g.len; i++)
			for (int b = 0; b < 8; b++) {
				g.p[i] ^= (uint8_t)(1u << b);
				if (cc_casus_accept_grant(cs, &pol, g.p, g.len) == CC_OK)
					accepted++;
				g.p[i] ^= (uint8_t)(1u << b);
			}
		CHECK_EQ_INT(accepted, 0);
		cc_wbuf pt;
		cc_w_init_secret(&pt);
		CHECK_EQ_INT(cc_casus_decrypt_history(cs, &pol, m0.p, m0.len, &pt, NULL), CC_ERR_NO_KEY);
		cc_w_free(&pt);
		/* the unflipped grant: accepted, m0 opens */
		CHECK_EQ_INT(cc_casus_accept_grant(cs, &pol, g.p, g.len), CC_OK);
		cc_w_init_secret(&pt);
		CHECK_EQ_INT(cc_casus_decrypt_history(cs, &pol, m0.p, m0.len, &pt, NULL), CC_OK);
		CHECK(pt.len == 2 && memcmp(pt.p, "m0", 2) == 0);
		cc_w_free(&pt);
		cc_casus_free(cs);
	}
	/* a device without the wrap secrets: never made (NOT_RECIPIENT); the
	 * secret of 2 wiped, newest 3 (retired: NO_KEY) */
	{
		cc_casus *cs = fresh_view(G0, NULL, 0, 0, chain, 2);
		CHECK_EQ_INT(cc_casus_accept_grant(cs, &pol, g.p, g.len), CC_ERR_NOT_RECIPIENT);
		cc_casus_free(cs);
		cs = fresh_view(G0, g0_w3, 1, 3, chain, 2);
		CHECK_EQ_INT(cc_casus_accept_grant(cs, &pol, g.p, g.len), CC_ERR_NO_KEY);
		CHECK_EQ_INT(try_open(G0, &m0), CC_ERR_NO_KEY); /* the shared view did not accept anything yet */
		cc_casus_free(cs);
	}
	/* wrong version: the granter names version 1 for a box sealed to 2 */
	{
		cc_wbuf w1, w7;
		regrant_version(&g, 1, &w1);
		regrant_version(&g, 7, &w7);
		cc_casus *cs = fresh_view(G0, g0_w, 2, 2, chain, 2);
		CHECK_EQ_INT(cc_casus_accept_grant(cs, &pol, w1.p, w1.len), CC_ERR_DECRYPT);
		CHECK_EQ_INT(cc_casus_accept_grant(cs, &pol, w7.p, w7.len), CC_ERR_NOT_RECIPIENT);
		cc_casus_free(cs);
		/* the server cannot change it: only the granter's signature covers it */
		cc_grant dg;
		CHECK_EQ_INT(cc_grant_decode(w1.p, w1.len, &dg), CC_OK);
		memcpy(dg.sig, ((const uint8_t *)g.p) + g.len - CC_SIG_BYTES, CC_SIG_BYTES);
		CHECK_EQ_INT(cc_grant_check_public(&dg, server, &pol), CC_ERR_BAD_SIGNATURE);
		cc_grant_free(&dg);
		cc_w_free(&w1);
		cc_w_free(&w7);
	}
	/* the old format: a granter without wrap keys and no targets writes
	 * version 2 (certified keys), and a device holding wrap keys reads it */
	{
		cc_casus *cm_plain = fresh_view(CM, NULL, 0, 0, chain, 2);
		cc_w_init(&bad);
		CHECK_EQ_INT(cc_casus_grant(cm_plain, &pol,
		                            (const uint8_t(*)[CC_DEVICE_ID_BYTES])dev[G0].cert.device_id, 1, mp, ml, 1,
		                            CC_GROUND_CONSENT, "overdracht", E2E_NOW, &bad),
		             CC_OK);
		CHECK_EQ_INT(bad.p[0], CC_GRANT_VERSION);
		cc_casus *cs = fresh_view(G0, g0_w, 2, 2, chain, 2);
		CHECK_EQ_INT(cc_casus_accept_grant(cs, &pol, bad.p, bad.len), CC_OK);
		cc_casus_free(cs);
		cc_casus_free(cm_plain);
		cc_w_free(&bad);
	}
	CHECK_EQ_INT(cc_casus_accept_grant(dev[G0].cs, &pol, g.p, g.len), CC_OK);
	CHECK_EQ_INT(try_open(G0, &m0), CC_OK);

	/* ---- transfer version 2 ----------------------------------------------------- */
	cc_w_init(&chain[2]);
	CHECK_EQ_INT(cc_commit_add(server, &dev[G1].cert, 1, dev[CM].keys, &dev[CM].cert, &pol, root->pk, E2E_NOW, NULL,
	                           "", &chain[2]),
	             CC_OK);
	apply_all(&chain[2]);
	CHECK_EQ_INT(cc_casus_has_epoch_key(dev[G1].cs, 1, AUD_ZORG), 0);
	cc_wrap_target t1 = target(G1, g1_w);
	cc_wrap_target wrong_dev = target(G0, g1_w);
	cc_w_init(&t);
	CHECK_EQ_INT(cc_casus_transfer_create_wrap(dev[G0].cs, &dev[G1].cert, &wrong_dev, E2E_NOW, &t),
	             CC_ERR_INVALID_ARG);
	CHECK_EQ_INT(cc_casus_transfer_create_wrap(dev[G0].cs, &dev[G1].cert, &t1, E2E_NOW, &t), CC_OK);
	CHECK_EQ_INT(t.p[0], CC_TRANSFER_VERSION_WRAP);
	kat_write_e2e("transfer_wrap", t.p, t.len);
	CHECK(kat_matches("transfer_wrap", t.p, t.len));
	{
		cc_transfer dt;
		CHECK_EQ_INT(cc_transfer_decode(t.p, t.len, &dt), CC_OK);
		CHECK_EQ_INT(dt.wrap, 1);
		CHECK_EQ_INT(cc_transfer_check_public(&dt, server), CC_OK);
		for (size_t cut = 0; cut < t.len; cut++)
			CHECK(cc_transfer_decode(t.p, cut, &dt) != CC_OK);
	}
	/* every flipped bit refused, nothing imported */
	{
		cc_casus *cs = fresh_view(G1, g1_w, 1, 1, chain, 3);
		size_t accepted = 0, imported = 0;
		for (size_t i = 0; i < t.len; i++)
			for (int b = 0; b < 8; b++) {
				t.p[i] ^= (uint8_t)(1u << b);
				if (cc_casus_transfer_accept(cs, t.p, t.len, &imported) == CC_OK)
					accepted++;
				t.p[i] ^= (uint8_t)(1u << b);
			}
		CHECK_EQ_INT(accepted, 0);
		CHECK_EQ_INT(cc_casus_has_epoch_key(cs, 1, AUD_ZORG), 0);
		CHECK_EQ_INT(cc_casus_transfer_accept(cs, t.p, t.len, &imported), CC_OK);
		CHECK(imported > 0);
		CHECK_EQ_INT(cc_casus_has_epoch_key(cs, 1, AUD_ZORG), 1);
		cc_casus_free(cs);
	}
	/* not made, retired, the wrong secret of the right version, wrong version */
	{
		cc_casus *cs = fresh_view(G1, NULL, 0, 0, chain, 3);
		CHECK_EQ_INT(cc_casus_transfer_accept(cs, t.p, t.len, NULL), CC_ERR_NOT_RECIPIENT);
		cc_casus_free(cs);
		cs = fresh_view(G1, g1_w2, 1, 2, chain, 3);
		CHECK_EQ_INT(cc_casus_transfer_accept(cs, t.p, t.len, NULL), CC_ERR_NO_KEY);
		cc_casus_free(cs);
		cs = fresh_view(G1, other, 1, 1, chain, 3);
		CHECK_EQ_INT(cc_casus_transfer_accept(cs, t.p, t.len, NULL), CC_ERR_DECRYPT);
		cc_casus_free(cs);
		cc_wbuf t2;
		retransfer_version(&t, 2, &t2);
		cc_wrap_secret both[2] = {*g1_w, *g1_w2};
		cs = fresh_view(G1, both, 2, 2, chain, 3);
		CHECK_EQ_INT(cc_casus_transfer_accept(cs, t2.p, t2.len, NULL), CC_ERR_DECRYPT);
		CHECK_EQ_INT(cc_casus_transfer_accept(cs, t.p, t.len, NULL), CC_OK);
		sodium_memzero(both, sizeof both);
		cc_casus_free(cs);
		/* a version 2 transfer naming version 0 is malformed */
		cc_wbuf t0;
		retransfer_version(&t, 0, &t0);
		cc_transfer dt;
		CHECK_EQ_INT(cc_transfer_decode(t0.p, t0.len, &dt), CC_ERR_MALFORMED);
		cc_w_free(&t0);
		cc_w_free(&t2);
	}
	/* the old format (version 1, certified box key) is still read */
	{
		cc_wbuf t_old;
		cc_w_init(&t_old);
		CHECK_EQ_INT(cc_casus_transfer_create(dev[G0].cs, &dev[G1].cert, E2E_NOW, &t_old), CC_OK);
		CHECK_EQ_INT(t_old.p[0], CC_TRANSFER_VERSION);
		cc_casus *cs = fresh_view(G1, g1_w, 1, 1, chain, 3);
		size_t imported = 0;
		CHECK_EQ_INT(cc_casus_transfer_accept(cs, t_old.p, t_old.len, &imported), CC_OK);
		CHECK(imported > 0);
		cc_casus_free(cs);
		cc_w_free(&t_old);
	}

	cc_w_free(&t);
	cc_w_free(&g);
	cc_w_free(&m0);
	for (int i = 0; i < 3; i++)
		cc_w_free(&chain[i]);
	sodium_free(ws);
	cc_chain_state_free(server);
	for (int i = 0; i < NDEV; i++)
		e2e_dev_free(&dev[i]);
	cc_root_key_free(root);
	return check_done();
}
