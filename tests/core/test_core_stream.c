/*
 * test_core_stream.c: history integrity in the client core (issue #11 item
 * 9), with no network and no files. The sending side numbers its messages
 * 1, 2, 3 per (epoch, audience) and its state survives a restart; the reading
 * side, fed messages in the server's seq order, warns "gap" for a number a
 * listing never delivered (only when the listing ended: a late arrival is a
 * "reorder"), at once in the live stream, for a stream that does not start at
 * 1 when the listing starts at the beginning, and never across audiences,
 * epochs or for granted messages.
 */
#include "check.h"
#include "test_e2e_fixture.h"

#include <ccore.h>

enum {
	CM,
	GGD,
	NDEV
};
static const char *const ROLE[NDEV] = {"casemanager", "ggd"};
static const char *const USER[NDEV] = {"cm.jansen", "ggd.visser"};

static cc_root_key *root;
static cc_policy pol;
static cc_wbuf pol_enc;
static e2e_dev dev[NDEV];
static const int64_t NOW = E2E_NOW;

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

static uint64_t counter_of(const cc_wbuf *m)
{
	cc_message msg;
	CHECK_EQ_INT(cc_message_decode(m->p, m->len, &msg), CC_OK);
	return msg.h.counter;
}

static void encrypt_with(cc_casus *cs, int aud, int64_t t, const char *text, cc_wbuf *out)
{
	cc_w_init(out);
	CHECK_EQ_INT(cc_casus_encrypt(cs, &pol, aud, aud == AUD_ZORG ? CC_GROUND_NONE : CC_GROUND_CONSENT,
	                              (const uint8_t *)text, strlen(text), t, out),
	             CC_OK);
}

static int open_msg(ccore_casus *k, uint64_t seq, const cc_wbuf *m, int live)
{
	cc_wbuf pt;
	cc_w_init_secret(&pt);
	int rc = ccore_open_message(k, seq, m->p, m->len, live, NOW + 500, &pt, NULL, NULL);
	cc_w_free(&pt);
	return rc;
}

/* A reader (GGD) following the casus from its create commit. */
static ccore_casus *reader(ccore *c, const uint8_t id[16], const cc_wbuf *cr)
{
	ccore_casus *k = NULL;
	CHECK_EQ_INT(ccore_casus_new(c, id, &k), CCORE_OK);
	CHECK_EQ_INT(ccore_apply_commit(k, cr->p, cr->len, NOW, 1), CCORE_OK);
	return k;
}

enum {
	NM = 6
};

int main(void)
{
	if (sodium_init() < 0)
		return 1;
	CHECK_EQ_INT(e2e_signed_policy(&root, 3, &pol, &pol_enc), CC_OK);
	for (int i = 0; i < NDEV; i++)
		CHECK_EQ_INT(e2e_dev_make(&dev[i], root, USER[i], ROLE[i], (uint64_t)(200 + i)), CC_OK);

	uint8_t id[16];
	cc_commit_new_casus_id(id);
	cc_wbuf cr, rot;
	cc_w_init(&cr);
	CHECK_EQ_INT(cc_commit_create(id, 1, &dev[GGD].cert, 1, dev[CM].keys, &dev[CM].cert, &pol, root->pk, NOW,
	                              "open", &cr),
	             CC_OK);
	CHECK_EQ_INT(cc_casus_apply_commit(dev[CM].cs, cr.p, cr.len, &pol, root->pk, NOW, NULL), CC_OK);

	/* ---- the sender: 1, 2, 3 per (epoch, audience) */
	cc_wbuf z[NM], o1, o2;
	for (int i = 0; i < NM; i++) {
		char t[16];
		snprintf(t, sizeof t, "notitie %d", i + 1);
		encrypt_with(dev[CM].cs, AUD_ZORG, NOW + 1 + i, t, &z[i]);
		CHECK(counter_of(&z[i]) == (uint64_t)i + 1);
	}
	encrypt_with(dev[CM].cs, AUD_OVERLEG, NOW + 10, "overleg 1", &o1);
	encrypt_with(dev[CM].cs, AUD_OVERLEG, NOW + 11, "overleg 2", &o2);
	CHECK(counter_of(&o1) == 1 && counter_of(&o2) == 2); /* its own sequence per audience */
	{
		uint64_t e = 99, ctr[CC_POLICY_MAX_AUDIENCES];
		CHECK_EQ_INT(cc_casus_send_state(dev[CM].cs, &e, ctr), 1);
		CHECK(e == 0 && ctr[AUD_ZORG] == NM && ctr[AUD_OVERLEG] == 2 && ctr[AUD_REGIE] == 0);
		/* a restarted device given its stored state continues; an older epoch's state is ignored */
		cc_casus *again = NULL;
		cc_wbuf nx;
		CHECK_EQ_INT(cc_casus_new(dev[CM].keys, &dev[CM].cert, &again), CC_OK);
		CHECK_EQ_INT(cc_casus_apply_commit(again, cr.p, cr.len, &pol, root->pk, NOW, NULL), CC_OK);
		cc_casus_set_send_state(again, e, ctr);
		ctr[AUD_ZORG] = 1; /* never moves back */
		cc_casus_set_send_state(again, e, ctr);
		encrypt_with(again, AUD_ZORG, NOW + 20, "verder", &nx);
		CHECK(counter_of(&nx) == NM + 1);
		cc_w_free(&nx);
		cc_casus_free(again);
	}
	/* the core stores the send state with the casus and gives it back */
	{
		ccore *sc = core_for(CM);
		ccore_casus *sk = reader(sc, id, &cr);
		cc_wbuf a, b;
		encrypt_with(ccore_cc(sk), AUD_ZORG, NOW + 30, "a", &a);
		json_t *saved = ccore_casus_save(sk);
		ccore_casus *sk2 = reader(sc, id, &cr);
		ccore_casus_restore(sk2, saved);
		json_decref(saved);
		encrypt_with(ccore_cc(sk2), AUD_ZORG, NOW + 31, "b", &b);
		CHECK(counter_of(&a) == 1 && counter_of(&b) == 2);
		cc_w_free(&a);
		cc_w_free(&b);
		/* state lost: the device continues after its own messages seen in the history */
		ccore_casus *sk3 = reader(sc, id, &cr);
		ccore_history_begin(sk3, 1);
		for (int i = 0; i < 3; i++)
			CHECK_EQ_INT(open_msg(sk3, (uint64_t)i + 1, &z[i], 0), CCORE_OK);
		CHECK_EQ_INT(ccore_history_done(sk3), 0);
		CHECK_EQ_INT(ccore_prepare_send(sk3), CCORE_OK);
		encrypt_with(ccore_cc(sk3), AUD_ZORG, NOW + 32, "c", &a);
		CHECK(counter_of(&a) == 4);
		cc_w_free(&a);
		ccore_casus_free(sk);
		ccore_casus_free(sk2);
		ccore_casus_free(sk3);
		ccore_free(sc);
	}

	ccore *c = core_for(GGD);
	/* ---- an honest listing, audiences interleaved: no warning */
	{
		ccore_casus *k = reader(c, id, &cr);
		ccore_history_begin(k, 1);
		uint64_t seq = 1;
		CHECK_EQ_INT(open_msg(k, seq++, &z[0], 0), CCORE_OK);
		CHECK_EQ_INT(open_msg(k, seq++, &o1, 0), CCORE_OK);
		for (int i = 1; i < NM; i++)
			CHECK_EQ_INT(open_msg(k, seq++, &z[i], 0), CCORE_OK);
		CHECK_EQ_INT(open_msg(k, seq++, &o2, 0), CCORE_OK);
		CHECK_EQ_INT(ccore_history_done(k), 0);
		json_t *w = ccore_take_warnings(c);
		CHECK_EQ_INT(json_array_size(w), 0);
		json_decref(w);
		ccore_casus_free(k);
	}
	/* ---- a dropped message: warned when the listing ends, not before */
	{
		ccore_casus *k = reader(c, id, &cr);
		ccore_history_begin(k, 1);
		CHECK_EQ_INT(open_msg(k, 1, &z[0], 0), CCORE_OK);
		CHECK_EQ_INT(open_msg(k, 3, &z[2], 0), CCORE_OK); /* z[1] (number 2) dropped */
		CHECK_EQ_INT(open_msg(k, 4, &z[3], 0), CCORE_OK);
		CHECK_EQ_INT(count_warnings(c, "gap"), 0); /* it may still come on a later page */
		CHECK_EQ_INT(ccore_history_done(k), 1);
		CHECK_EQ_INT(count_warnings(c, "gap"), 1);
		/* the gap is kept with the stored state and shown on the next listing too */
		json_t *saved = ccore_casus_save(k);
		ccore_casus *k2 = reader(c, id, &cr);
		ccore_casus_restore(k2, saved);
		json_decref(saved);
		ccore_history_begin(k2, 0);
		CHECK_EQ_INT(open_msg(k2, 5, &z[4], 0), CCORE_OK);
		CHECK_EQ_INT(ccore_history_done(k2), 1);
		CHECK_EQ_INT(count_warnings(c, "gap"), 1);
		ccore_casus_free(k2);
		/* two numbers dropped together are one gap */
		ccore_casus_free(k);
		k = reader(c, id, &cr);
		ccore_history_begin(k, 1);
		CHECK_EQ_INT(open_msg(k, 1, &z[0], 0), CCORE_OK);
		CHECK_EQ_INT(open_msg(k, 4, &z[3], 0), CCORE_OK);
		CHECK_EQ_INT(ccore_history_done(k), 1);
		CHECK_EQ_INT(count_warnings(c, "gap"), 1);
		ccore_casus_free(k);
	}
	/* ---- late, on a later page: a reorder, and no gap */
	{
		ccore_casus *k = reader(c, id, &cr);
		ccore_history_begin(k, 1);
		CHECK_EQ_INT(open_msg(k, 1, &z[0], 0), CCORE_OK);
		CHECK_EQ_INT(open_msg(k, 2, &z[2], 0), CCORE_OK);
		CHECK_EQ_INT(open_msg(k, 3, &z[1], 0), CCORE_OK); /* next page */
		CHECK_EQ_INT(count_warnings(c, "reorder"), 1);
		CHECK_EQ_INT(ccore_history_done(k), 0);
		CHECK_EQ_INT(count_warnings(c, "gap"), 0);
		ccore_casus_free(k);
	}
	/* ---- the first messages dropped: a gap only when the listing starts at the beginning */
	{
		ccore_casus *k = reader(c, id, &cr);
		ccore_history_begin(k, 1);
		CHECK_EQ_INT(open_msg(k, 3, &z[2], 0), CCORE_OK);
		CHECK_EQ_INT(ccore_history_done(k), 1);
		CHECK_EQ_INT(count_warnings(c, "gap"), 1);
		ccore_casus_free(k);
		k = reader(c, id, &cr);
		ccore_history_begin(k, 0); /* e.g. history --after N: the earlier ones are not in view */
		CHECK_EQ_INT(open_msg(k, 30, &z[2], 0), CCORE_OK);
		CHECK_EQ_INT(ccore_history_done(k), 0);
		CHECK_EQ_INT(count_warnings(c, "gap"), 0);
		ccore_casus_free(k);
	}
	/* ---- the live stream is delivered in order: a skipped number is a gap at once */
	{
		ccore_casus *k = reader(c, id, &cr);
		CHECK_EQ_INT(open_msg(k, 10, &z[0], 1), CCORE_OK);
		CHECK_EQ_INT(open_msg(k, 11, &z[1], 1), CCORE_OK);
		CHECK_EQ_INT(count_warnings(c, "gap"), 0);
		CHECK_EQ_INT(open_msg(k, 13, &z[4], 1), CCORE_OK);
		CHECK_EQ_INT(count_warnings(c, "gap"), 1);
		ccore_casus_free(k);
	}
	/* ---- a new epoch starts again at 1: no gap across the rotation */
	{
		ccore_casus *k = reader(c, id, &cr);
		cc_w_init(&rot);
		CHECK_EQ_INT(cc_commit_rotate(ccore_chain(k), dev[CM].keys, &dev[CM].cert, &pol, root->pk, NOW + 100,
		                              NULL, "", &rot),
		             CC_OK);
		CHECK_EQ_INT(cc_casus_apply_commit(dev[CM].cs, rot.p, rot.len, &pol, root->pk, NOW + 100, NULL), CC_OK);
		cc_wbuf e1, e2;
		encrypt_with(dev[CM].cs, AUD_ZORG, NOW + 101, "nieuw 1", &e1);
		encrypt_with(dev[CM].cs, AUD_ZORG, NOW + 102, "nieuw 2", &e2);
		CHECK(counter_of(&e1) == 1 && counter_of(&e2) == 2);
		ccore_history_begin(k, 1);
		for (int i = 0; i < NM; i++)
			CHECK_EQ_INT(open_msg(k, (uint64_t)i + 1, &z[i], 0), CCORE_OK);
		CHECK_EQ_INT(ccore_apply_commit(k, rot.p, rot.len, NOW + 110, 1), CCORE_OK);
		CHECK_EQ_INT(open_msg(k, 20, &e1, 0), CCORE_OK);
		CHECK_EQ_INT(open_msg(k, 21, &e2, 0), CCORE_OK);
		CHECK_EQ_INT(ccore_history_done(k), 0);
		json_t *w = ccore_take_warnings(c);
		CHECK_EQ_INT(json_array_size(w), 0);
		json_decref(w);
		cc_w_free(&e1);
		cc_w_free(&e2);
		ccore_casus_free(k);
	}

	for (int i = 0; i < NM; i++)
		cc_w_free(&z[i]);
	cc_w_free(&o1);
	cc_w_free(&o2);
	cc_w_free(&cr);
	cc_w_free(&rot);
	ccore_free(c);
	for (int i = 0; i < NDEV; i++)
		e2e_dev_free(&dev[i]);
	cc_w_free(&pol_enc);
	cc_root_key_free(root);
	return check_done();
}
