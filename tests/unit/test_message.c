/*
 * test_message.c: encrypted, signed messages. Every flipped byte (header,
 * nonce, tag, ciphertext, signature) is refused; an insider who re-signs a
 * tampered message is still caught by the key commitment or the AEAD; wrong
 * epoch, wrong audience, replay and a non-increasing counter are reported with
 * their own errors; the disclosure-ground rule is enforced on creation and by
 * the server's public check; the server verifies without any key.
 */
#include "check.h"
#include "test_e2e_fixture.h"

enum {
	CM,
	ED,
	GGD,
	PR,
	POL,
	NDEV
};
static const char *const ROLE[NDEV] = {"casemanager", "ervaringsdeskundige", "ggd", "procesregisseur", "politie"};
static const char *const USER[NDEV] = {"cm.jansen", "ed.bakker", "ggd.visser", "pr.meijer", "pol.bos"};

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

/* Re-sign raw message bytes the way a sender does (context || everything before the signature). */
static void resign_raw(uint8_t *m, size_t n, const cc_device_keys *k)
{
	static const char ctx[] = "casus.e2e.v1.message.sig";
	uint8_t *buf = malloc(sizeof ctx + n - CC_SIG_BYTES);
	memcpy(buf, ctx, sizeof ctx);
	memcpy(buf + sizeof ctx, m, n - CC_SIG_BYTES);
	crypto_sign_detached(m + n - CC_SIG_BYTES, NULL, buf, sizeof ctx + n - CC_SIG_BYTES, k->sign_sk);
	free(buf);
}

static int try_open(int d, const cc_wbuf *m)
{
	cc_wbuf pt;
	cc_w_init_secret(&pt);
	int rc = cc_casus_decrypt(dev[d].cs, &pol, m->p, m->len, &pt, NULL);
	cc_w_free(&pt);
	return rc;
}

/* Offsets in the encoding (cc_message.h). */
#define OFF_AUDIENCE 17
#define OFF_EPOCH 18
#define OFF_TIME (1 + 16 + 1 + 8 + 32 + 16 + 8 + 16)
#define OFF_NONCE CC_MESSAGE_HEADER_BYTES
#define OFF_TAG (OFF_NONCE + CC_MESSAGE_NONCE_BYTES)
#define OFF_CT (OFF_TAG + CC_MESSAGE_TAG_BYTES + 4)

int main(void)
{
	cc_wbuf w, m1, m2, pt;
	uint8_t casus_id[CC_CASUS_ID_BYTES];
	static const char text[] = "Cliente is gisteren niet op de afspraak verschenen.";

	CHECK(sodium_init() >= 0);
	e2e_default_policy(&pol);
	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	for (int i = 0; i < NDEV; i++)
		CHECK_EQ_INT(e2e_dev_make(&dev[i], root, USER[i], ROLE[i], (uint64_t)(200 + i)), CC_OK);
	CHECK_EQ_INT(cc_chain_state_new(&server), CC_OK);

	/* casus at level 1 with cm, ed, ggd */
	cc_commit_new_casus_id(casus_id);
	{
		cc_cert others[2] = {dev[ED].cert, dev[GGD].cert};
		cc_w_init(&w);
		CHECK_EQ_INT(cc_commit_create(casus_id, 1, others, 2, dev[CM].keys, &dev[CM].cert, &pol, root->pk,
		                              E2E_NOW, "", &w),
		             CC_OK);
		apply_all(&w);
		cc_w_free(&w);
	}

	/* ---- a message in zorg: roundtrip, padding, server checks without keys */
	cc_w_init(&m1);
	CHECK_EQ_INT(cc_casus_encrypt(dev[CM].cs, &pol, AUD_ZORG, CC_GROUND_NONE, (const uint8_t *)text,
	                              sizeof text - 1, E2E_NOW, &m1),
	             CC_OK);
	{
		cc_message m;
		CHECK_EQ_INT(cc_message_decode(m1.p, m1.len, &m), CC_OK);
		CHECK_EQ_INT(m.ct_len, CC_MESSAGE_PAD_BLOCK + 16);
		CHECK_EQ_INT(m.h.counter, 1);
		CHECK_EQ_INT(m.h.epoch, 0);
		CHECK(memcmp(m.h.epoch_hash, server->head, CC_HASH_BYTES) == 0);
		CHECK_EQ_INT(cc_message_check_public(&m, server, &pol), CC_OK);
		/* the header checks alone (what casusd runs before its verifier
		 * thread checks the signature) name the sender's roster entry */
		int ri = -1;
		CHECK_EQ_INT(cc_message_check_header(&m.h, server, &pol, &ri), CC_OK);
		CHECK(ri >= 0 &&
		      memcmp(server->roster[ri].cert.device_id, dev[CM].cert.device_id, CC_DEVICE_ID_BYTES) == 0);
		{
			cc_message_header bad = m.h;
			bad.epoch++;
			CHECK_EQ_INT(cc_message_check_header(&bad, server, &pol, NULL), CC_ERR_EPOCH);
			bad = m.h;
			bad.audience = (uint8_t)pol.naudiences;
			CHECK_EQ_INT(cc_message_check_header(&bad, server, &pol, NULL), CC_ERR_AUDIENCE);
			bad = m.h;
			memcpy(bad.sender, dev[POL].cert.device_id, CC_DEVICE_ID_BYTES);
			CHECK_EQ_INT(cc_message_check_header(&bad, server, &pol, NULL), CC_ERR_NOT_MEMBER);
		}
		CHECK_EQ_INT(cc_message_verify_sig(&m, dev[CM].cert.sign_pk), CC_OK);
		CHECK_EQ_INT(cc_message_verify_sig(&m, dev[ED].cert.sign_pk), CC_ERR_BAD_SIGNATURE);
		/* the plaintext is nowhere in the bytes the server sees */
		int found = 0;
		for (size_t i = 0; i + 8 <= m1.len; i++)
			found |= memcmp(m1.p + i, "afspraak", 8) == 0;
		CHECK(!found);
	}
	for (int d = ED; d <= GGD; d++) {
		cc_message_header h;
		cc_w_init_secret(&pt);
		CHECK_EQ_INT(cc_casus_decrypt(dev[d].cs, &pol, m1.p, m1.len, &pt, &h), CC_OK);
		CHECK(pt.len == sizeof text - 1 && memcmp(pt.p, text, pt.len) == 0);
		CHECK(memcmp(h.sender, dev[CM].cert.device_id, CC_DEVICE_ID_BYTES) == 0);
		cc_w_free(&pt);
	}
	/* replay */
	CHECK_EQ_INT(try_open(ED, &m1), CC_ERR_REPLAY);
	/* not a member: no key */
	CHECK_EQ_INT(try_open(POL, &m1), CC_ERR_NO_KEY);
	CHECK_EQ_INT(try_open(PR, &m1), CC_ERR_NO_KEY);

	/* ---- every flipped byte is refused; nonce, tag, ciphertext and signature by the signature */
	{
		int all = 1;
		for (size_t i = 0; i < m1.len; i++) {
			m1.p[i] ^= 0x40;
			/* the server's view: decode + public verification, no key */
			cc_message mm;
			int d = cc_message_decode(m1.p, m1.len, &mm);
			int v = d == CC_OK ? cc_message_check_public(&mm, server, &pol) : d;
			if (v == CC_OK)
				all = 0;
			if (i >= OFF_NONCE && d == CC_OK)
				CHECK_EQ_INT(v, CC_ERR_BAD_SIGNATURE);
			m1.p[i] ^= 0x40;
		}
		CHECK(all);
	}

	/* ---- a second message: the client refuses each tampered byte too (ed reads m2 only after
	 * the tamper loop, so its replay tracker does not interfere) */
	cc_w_init(&m2);
	CHECK_EQ_INT(cc_casus_encrypt(dev[GGD].cs, &pol, AUD_ZORG, CC_GROUND_NONE, (const uint8_t *)"x", 1, E2E_NOW,
	                              &m2),
	             CC_OK);
	{
		int all = 1;
		for (size_t i = 0; i < m2.len; i++) {
			m2.p[i] ^= 0x01;
			int rc = try_open(ED, &m2);
			if (rc == CC_OK)
				all = 0;
			if (i >= OFF_NONCE && (i < OFF_CT - 4 || i >= OFF_CT)) /* not the length field */
				CHECK_EQ_INT(rc, CC_ERR_BAD_SIGNATURE);
			m2.p[i] ^= 0x01;
		}
		CHECK(all);
		/* truncation and extension */
		cc_message mm;
		for (size_t cut = 0; cut < m2.len; cut++)
			CHECK(cc_message_decode(m2.p, cut, &mm) != CC_OK);
	}

	/* ---- an insider re-signs tampered bytes: key commitment / AEAD still refuse */
	{
		cc_wbuf t;
		size_t offs[] = {OFF_TIME, OFF_NONCE + 3, OFF_TAG + 5, OFF_CT + 7, OFF_AUDIENCE};
		int want[] = {CC_ERR_KEY_COMMITMENT, CC_ERR_KEY_COMMITMENT, CC_ERR_KEY_COMMITMENT, CC_ERR_DECRYPT,
		              CC_ERR_KEY_COMMITMENT};
		for (size_t k = 0; k < sizeof offs / sizeof offs[0]; k++) {
			cc_w_init(&t);
			cc_w_fixed(&t, m2.p, m2.len);
			if (offs[k] == OFF_AUDIENCE)
				t.p[offs[k]] = AUD_OVERLEG; /* wrong audience: its key yields another mk */
			else
				t.p[offs[k]] ^= 0x80;
			resign_raw(t.p, t.len, dev[GGD].keys);
			CHECK_EQ_INT(try_open(ED, &t), want[k]);
			cc_w_free(&t);
		}
		/* audience that does not exist */
		cc_w_init(&t);
		cc_w_fixed(&t, m2.p, m2.len);
		t.p[OFF_AUDIENCE] = 7;
		resign_raw(t.p, t.len, dev[GGD].keys);
		CHECK_EQ_INT(try_open(ED, &t), CC_ERR_AUDIENCE);
		/* wrong epoch: claims epoch 1 that does not exist; and epoch 0 with another hash */
		memcpy(t.p, m2.p, m2.len);
		t.p[OFF_EPOCH + 7] = 1;
		resign_raw(t.p, t.len, dev[GGD].keys);
		CHECK_EQ_INT(try_open(ED, &t), CC_ERR_EPOCH);
		memcpy(t.p, m2.p, m2.len);
		t.p[OFF_EPOCH + 8] ^= 1; /* first byte of the epoch hash */
		resign_raw(t.p, t.len, dev[GGD].keys);
		CHECK_EQ_INT(try_open(ED, &t), CC_ERR_EPOCH);
		cc_w_free(&t);
	}
	/* the untampered m2 still opens; low-level open with another mk is a key-commitment failure */
	CHECK_EQ_INT(try_open(ED, &m2), CC_OK);
	{
		cc_message mm;
		uint8_t mk[CC_MESSAGE_KEY_BYTES];
		randombytes_buf(mk, sizeof mk);
		CHECK_EQ_INT(cc_message_decode(m2.p, m2.len, &mm), CC_OK);
		cc_w_init_secret(&pt);
		CHECK_EQ_INT(cc_message_open(&mm, dev[GGD].cert.sign_pk, mk, &pt), CC_ERR_KEY_COMMITMENT);
		CHECK_EQ_INT(cc_message_open(&mm, dev[ED].cert.sign_pk, mk, &pt), CC_ERR_BAD_SIGNATURE);
		cc_w_free(&pt);
	}

	/* ---- counter must increase per sender and epoch */
	{
		cc_wbuf a, b;
		cc_w_init(&a);
		cc_w_init(&b);
		CHECK_EQ_INT(cc_casus_encrypt(dev[ED].cs, &pol, AUD_ZORG, 0, (const uint8_t *)"a", 1, E2E_NOW, &a),
		             CC_OK);
		CHECK_EQ_INT(cc_casus_encrypt(dev[ED].cs, &pol, AUD_ZORG, 0, (const uint8_t *)"b", 1, E2E_NOW, &b),
		             CC_OK);
		CHECK_EQ_INT(try_open(CM, &b), CC_OK);
		CHECK_EQ_INT(try_open(CM, &a), CC_ERR_COUNTER);
		CHECK_EQ_INT(try_open(GGD, &a), CC_OK); /* in order it is fine */
		CHECK_EQ_INT(try_open(GGD, &b), CC_OK);
		CHECK_EQ_INT(try_open(GGD, &b), CC_ERR_REPLAY);
		cc_w_free(&a);
		cc_w_free(&b);
		/* the tracker itself */
		cc_replay *r;
		cc_message_header h;
		memset(&h, 0, sizeof h);
		CHECK_EQ_INT(cc_replay_new(&r), CC_OK);
		for (uint64_t i = 1; i <= 300; i++) { /* grows the table */
			h.counter = i;
			randombytes_buf(h.message_id, sizeof h.message_id);
			CHECK_EQ_INT(cc_replay_check(r, &h), CC_OK);
			CHECK_EQ_INT(cc_replay_record(r, &h), CC_OK);
		}
		CHECK_EQ_INT(cc_replay_check(r, &h), CC_ERR_REPLAY);
		randombytes_buf(h.message_id, sizeof h.message_id);
		CHECK_EQ_INT(cc_replay_check(r, &h), CC_ERR_COUNTER);
		h.epoch = 1; /* a new epoch restarts the counter */
		CHECK_EQ_INT(cc_replay_check(r, &h), CC_OK);
		cc_replay_free(r);
	}

	/* ---- level 4: the ground rule, politie, and the server's checks */
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_set_level(server, 3, dev[CM].keys, &dev[CM].cert, &pol, root->pk, E2E_NOW, NULL,
	                                 "stagnatie", &w),
	             CC_OK);
	apply_all(&w);
	cc_w_free(&w);
	/* the zorg message of epoch 0 is now of a superseded epoch for the server */
	{
		cc_message mm;
		CHECK_EQ_INT(cc_message_decode(m1.p, m1.len, &mm), CC_OK);
		CHECK_EQ_INT(cc_message_check_public(&mm, server, &pol), CC_ERR_EPOCH);
	}
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_add(server, &dev[PR].cert, 1, dev[CM].keys, &dev[CM].cert, &pol, root->pk, E2E_NOW, NULL,
	                           "", &w),
	             CC_OK);
	apply_all(&w);
	cc_w_free(&w);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_set_level(server, 4, dev[PR].keys, &dev[PR].cert, &pol, root->pk, E2E_NOW, NULL,
	                                 "risico", &w),
	             CC_OK);
	apply_all(&w);
	cc_w_free(&w);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_add(server, &dev[POL].cert, 1, dev[PR].keys, &dev[PR].cert, &pol, root->pk, E2E_NOW,
	                           NULL, "", &w),
	             CC_OK);
	apply_all(&w);
	cc_w_free(&w);
	{
		cc_wbuf a;
		cc_w_init(&a);
		/* a care role posting to overleg (politie present) must state a ground */
		CHECK_EQ_INT(cc_casus_encrypt(dev[CM].cs, &pol, AUD_OVERLEG, CC_GROUND_NONE, (const uint8_t *)"z", 1,
		                              E2E_NOW, &a),
		             CC_ERR_GROUND_REQUIRED);
		CHECK_EQ_INT(cc_casus_encrypt(dev[CM].cs, &pol, AUD_OVERLEG, 9, (const uint8_t *)"z", 1, E2E_NOW, &a),
		             CC_ERR_MALFORMED);
		CHECK_EQ_INT(a.len, 0);
		CHECK_EQ_INT(cc_casus_encrypt(dev[CM].cs, &pol, AUD_OVERLEG, CC_GROUND_CONSENT, (const uint8_t *)"z", 1,
		                              E2E_NOW, &a),
		             CC_OK);
		cc_message mm;
		CHECK_EQ_INT(cc_message_decode(a.p, a.len, &mm), CC_OK);
		CHECK_EQ_INT(mm.h.ground, CC_GROUND_CONSENT);
		CHECK_EQ_INT(cc_message_check_public(&mm, server, &pol), CC_OK);
		CHECK_EQ_INT(try_open(POL, &a), CC_OK);
		/* an insider strips the ground and re-signs: the server and the clients refuse */
		a.p[CC_MESSAGE_HEADER_BYTES - 1] = CC_GROUND_NONE;
		resign_raw(a.p, a.len, dev[CM].keys);
		CHECK_EQ_INT(cc_message_decode(a.p, a.len, &mm), CC_OK);
		CHECK_EQ_INT(cc_message_check_public(&mm, server, &pol), CC_ERR_GROUND_REQUIRED);
		CHECK_EQ_INT(cc_message_check_ground(&mm.h, &pol, cc_policy_role_index(&pol, "casemanager"), 4),
		             CC_ERR_GROUND_REQUIRED);
		CHECK_EQ_INT(cc_message_check_ground(&mm.h, &pol, cc_policy_role_index(&pol, "politie"), 4), CC_OK);
		CHECK_EQ_INT(try_open(ED, &a), CC_ERR_GROUND_REQUIRED);
		cc_w_free(&a);
		/* zorg needs no ground; politie has no zorg key and cannot write there */
		cc_w_init(&a);
		CHECK_EQ_INT(cc_casus_encrypt(dev[CM].cs, &pol, AUD_ZORG, CC_GROUND_NONE, (const uint8_t *)"z", 1,
		                              E2E_NOW, &a),
		             CC_OK);
		CHECK_EQ_INT(try_open(POL, &a), CC_ERR_NO_KEY);
		cc_w_free(&a);
		cc_w_init(&a);
		CHECK_EQ_INT(cc_casus_encrypt(dev[POL].cs, &pol, AUD_ZORG, 0, (const uint8_t *)"z", 1, E2E_NOW, &a),
		             CC_ERR_NO_KEY);
		/* a politie device forging a zorg message with a made-up key: refused as not entitled */
		cc_message_header h;
		uint8_t mk[CC_MESSAGE_KEY_BYTES];
		memset(&h, 0, sizeof h);
		h.version = CC_MESSAGE_VERSION;
		memcpy(h.casus_id, casus_id, CC_CASUS_ID_BYTES);
		h.audience = AUD_ZORG;
		h.epoch = server->epoch;
		memcpy(h.epoch_hash, server->head, CC_HASH_BYTES);
		memcpy(h.sender, dev[POL].cert.device_id, CC_DEVICE_ID_BYTES);
		h.counter = 1;
		randombytes_buf(h.message_id, sizeof h.message_id);
		randombytes_buf(mk, sizeof mk);
		CHECK_EQ_INT(cc_message_seal(&h, mk, dev[POL].keys, (const uint8_t *)"z", 1, &a), CC_OK);
		CHECK_EQ_INT(cc_message_decode(a.p, a.len, &mm), CC_OK);
		CHECK_EQ_INT(cc_message_check_public(&mm, server, &pol), CC_ERR_AUDIENCE);
		CHECK_EQ_INT(try_open(CM, &a), CC_ERR_AUDIENCE);
		cc_w_free(&a);
		/* a politie message to overleg needs no ground; large plaintext pads to the next bucket */
		size_t big = 5000;
		uint8_t *bp = malloc(big);
		memset(bp, 'p', big);
		cc_w_init(&a);
		CHECK_EQ_INT(cc_casus_encrypt(dev[POL].cs, &pol, AUD_OVERLEG, 0, bp, big, E2E_NOW, &a), CC_OK);
		CHECK_EQ_INT(cc_message_decode(a.p, a.len, &mm), CC_OK);
		CHECK_EQ_INT(mm.ct_len, 5120 + 16);
		cc_w_init_secret(&pt);
		CHECK_EQ_INT(cc_casus_decrypt(dev[GGD].cs, &pol, a.p, a.len, &pt, NULL), CC_OK);
		CHECK(pt.len == big && memcmp(pt.p, bp, big) == 0);
		cc_w_free(&pt);
		cc_w_free(&a);
		/* empty plaintext */
		cc_w_init(&a);
		CHECK_EQ_INT(cc_casus_encrypt(dev[POL].cs, &pol, AUD_OVERLEG, 0, NULL, 0, E2E_NOW, &a), CC_OK);
		cc_w_init_secret(&pt);
		CHECK_EQ_INT(cc_casus_decrypt(dev[PR].cs, &pol, a.p, a.len, &pt, NULL), CC_OK);
		CHECK_EQ_INT(pt.len, 0);
		cc_w_free(&pt);
		cc_w_free(&a);
		free(bp);
	}
	/* ---- removal: a de-escalated politie device opens nothing written afterwards */
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_set_level(server, 3, dev[PR].keys, &dev[PR].cert, &pol, root->pk, E2E_NOW, NULL,
	                                 "rustiger", &w),
	             CC_OK);
	apply_all(&w);
	cc_w_free(&w);
	{
		cc_wbuf a;
		cc_w_init(&a);
		CHECK_EQ_INT(cc_casus_encrypt(dev[PR].cs, &pol, AUD_OVERLEG, 0, (const uint8_t *)"na", 2, E2E_NOW, &a),
		             CC_OK);
		CHECK_EQ_INT(try_open(POL, &a), CC_ERR_NO_KEY);
		CHECK_EQ_INT(try_open(CM, &a), CC_OK);
		cc_w_free(&a);
		/* and politie cannot post to the new epoch either */
		cc_w_init(&a);
		CHECK_EQ_INT(cc_casus_encrypt(dev[POL].cs, &pol, AUD_OVERLEG, 0, (const uint8_t *)"z", 1, E2E_NOW, &a),
		             CC_ERR_NOT_MEMBER);
		cc_w_free(&a);
	}

	cc_w_free(&m1);
	cc_w_free(&m2);
	cc_chain_state_free(server);
	for (int i = 0; i < NDEV; i++)
		e2e_dev_free(&dev[i]);
	cc_root_key_free(root);
	return check_done();
}
