/*
 * test_commit_boxes.c: commit version 4, the sealed key boxes stored apart
 * from the signed part (issue 17, box retention). The builder writes version 4;
 * the box digest matches an independent computation (known answer); every bit
 * flip of the signed part is refused; a swapped box, a box of another commit
 * and a box under another digest are refused at decoding; a missing box is
 * applied like a box sealed to a retired wrap key (no key for that epoch, the
 * chain still verifies, the commit hash is the same); a fresh submission must
 * carry every box; versions 2 and 3 are still read.
 */
#include "check.h"
#include "test_e2e_fixture.h"

enum {
	CM0,
	ED,
	GGD,
	NDEV
};
static const char *const ROLE[NDEV] = {"casemanager", "ervaringsdeskundige", "ggd"};
static const char *const USER[NDEV] = {"cm.jansen", "ed.bakker", "ggd.visser"};

static cc_root_key *root;
static cc_policy pol;
static e2e_dev dev[NDEV];

/* Offset of the box section's first entry in an encoded version 4 commit. */
static size_t box_entries(const cc_wbuf *w)
{
	size_t sl = 0;
	CHECK_EQ_INT(cc_commit_signed_len(w->p, w->len, &sl), CC_OK);
	return sl + 2;
}

#define ENTRY (1 + CC_DEVICE_ID_BYTES + CC_SEALED_KEY_BYTES)

/* The bundle as casusd serves it to one device: the signed part and only that
 * device's boxes (box_for NULL: no box section at all). */
static void serve_to(const cc_wbuf *w, const uint8_t *box_for, cc_wbuf *out)
{
	size_t sl = 0, at = box_entries(w);
	CHECK_EQ_INT(cc_commit_signed_len(w->p, w->len, &sl), CC_OK);
	uint16_t nb = (uint16_t)(w->p[sl] << 8 | w->p[sl + 1]);
	cc_w_init(out);
	cc_w_fixed(out, w->p, sl);
	if (!box_for)
		return;
	size_t mine = 0;
	for (size_t i = 0; i < nb; i++)
		mine += memcmp(w->p + at + i * ENTRY + 1, box_for, CC_DEVICE_ID_BYTES) == 0;
	cc_w_u16(out, (uint16_t)mine);
	for (size_t i = 0; i < nb; i++)
		if (memcmp(w->p + at + i * ENTRY + 1, box_for, CC_DEVICE_ID_BYTES) == 0)
			cc_w_fixed(out, w->p + at + i * ENTRY, ENTRY);
	CHECK_EQ_INT(out->err, CC_OK);
}

/* Index of the first box-section entry for (audience, device), or -1. */
static long entry_of(const cc_wbuf *w, uint8_t aud, const uint8_t *device)
{
	size_t sl = 0, at = box_entries(w);
	CHECK_EQ_INT(cc_commit_signed_len(w->p, w->len, &sl), CC_OK);
	uint16_t nb = (uint16_t)(w->p[sl] << 8 | w->p[sl + 1]);
	for (size_t i = 0; i < nb; i++)
		if (w->p[at + i * ENTRY] == aud && memcmp(w->p + at + i * ENTRY + 1, device, CC_DEVICE_ID_BYTES) == 0)
			return (long)i;
	return -1;
}

static void known_answer_digest(void)
{
	uint8_t casus[CC_CASUS_ID_BYTES], dev_id[CC_DEVICE_ID_BYTES], box[CC_SEALED_KEY_BYTES];
	uint8_t got[CC_HASH_BYTES], want[CC_HASH_BYTES];
	for (size_t i = 0; i < sizeof casus; i++)
		casus[i] = (uint8_t)(0x10 + i);
	for (size_t i = 0; i < sizeof dev_id; i++)
		dev_id[i] = (uint8_t)(0xa0 + i);
	for (size_t i = 0; i < sizeof box; i++)
		box[i] = (uint8_t)(i * 7);
	CHECK_EQ_INT(cc_commit_box_digest(casus, 0x0102030405060708ull, 2, dev_id, 0x0a0b0c0du, box, got), CC_OK);
	/* the layout of cc_commit.h, assembled by hand */
	uint8_t m[sizeof "casus.e2e.v4.commit.box" + 16 + 8 + 1 + 16 + 4 + CC_SEALED_KEY_BYTES];
	size_t o = 0;
	memcpy(m, "casus.e2e.v4.commit.box", sizeof "casus.e2e.v4.commit.box"); /* with the NUL */
	o += sizeof "casus.e2e.v4.commit.box";
	memcpy(m + o, casus, 16);
	o += 16;
	const uint8_t ep[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	memcpy(m + o, ep, 8);
	o += 8;
	m[o++] = 2;
	memcpy(m + o, dev_id, 16);
	o += 16;
	const uint8_t wv[4] = {0x0a, 0x0b, 0x0c, 0x0d};
	memcpy(m + o, wv, 4);
	o += 4;
	memcpy(m + o, box, sizeof box);
	o += sizeof box;
	CHECK(o == sizeof m);
	CHECK_EQ_INT(crypto_generichash(want, sizeof want, m, sizeof m, NULL, 0), 0);
	CHECK(memcmp(got, want, CC_HASH_BYTES) == 0);
	/* every bound field changes it */
	uint8_t other[CC_HASH_BYTES];
	CHECK_EQ_INT(cc_commit_box_digest(casus, 0x0102030405060709ull, 2, dev_id, 0x0a0b0c0du, box, other), CC_OK);
	CHECK(memcmp(got, other, CC_HASH_BYTES) != 0);
	CHECK_EQ_INT(cc_commit_box_digest(casus, 0x0102030405060708ull, 3, dev_id, 0x0a0b0c0du, box, other), CC_OK);
	CHECK(memcmp(got, other, CC_HASH_BYTES) != 0);
	CHECK_EQ_INT(cc_commit_box_digest(casus, 0x0102030405060708ull, 2, dev_id, 0x0a0b0c0eu, box, other), CC_OK);
	CHECK(memcmp(got, other, CC_HASH_BYTES) != 0);
	box[100] ^= 1;
	CHECK_EQ_INT(cc_commit_box_digest(casus, 0x0102030405060708ull, 2, dev_id, 0x0a0b0c0du, box, other), CC_OK);
	CHECK(memcmp(got, other, CC_HASH_BYTES) != 0);
}

int main(void)
{
	cc_wbuf c0, c1, t, u;
	uint8_t casus_id[CC_CASUS_ID_BYTES];
	cc_commit c;

	CHECK(sodium_init() >= 0);
	known_answer_digest();
	e2e_default_policy(&pol);
	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	for (int i = 0; i < NDEV; i++)
		CHECK_EQ_INT(e2e_dev_make(&dev[i], root, USER[i], ROLE[i], (uint64_t)(300 + i)), CC_OK);

	/* ---- the builder writes version 4 with every box beside the signed part */
	cc_commit_new_casus_id(casus_id);
	cc_cert others[2] = {dev[ED].cert, dev[GGD].cert};
	cc_w_init(&c0);
	CHECK_EQ_INT(cc_commit_create(casus_id, 1, others, 2, dev[CM0].keys, &dev[CM0].cert, &pol, root->pk, E2E_NOW,
	                              "casus geopend", &c0),
	             CC_OK);
	CHECK_EQ_INT(c0.p[0], CC_COMMIT_VERSION_BOXES);
	CHECK_EQ_INT(cc_commit_decode(c0.p, c0.len, &c), CC_OK);
	CHECK(c.signed_len < c0.len);
	CHECK(cc_commit_all_boxes(&c));
	size_t nboxes = 0;
	for (size_t a = 0; a < c.naudiences; a++)
		for (size_t j = 0; j < c.audiences[a].nrecipients; j++) {
			const cc_commit_recipient *r = &c.audiences[a].recipients[j];
			uint8_t d[CC_HASH_BYTES];
			CHECK_EQ_INT(cc_commit_box_digest(casus_id, 0, c.audiences[a].audience, r->device_id, r->wrap,
			                                  r->box, d),
			             CC_OK);
			CHECK(memcmp(d, r->digest, CC_HASH_BYTES) == 0);
			nboxes++;
		}
	CHECK_EQ_INT(c.reason.nrecipients, 3);
	nboxes += c.reason.nrecipients;
	/* the section holds every box, and its length is exact */
	CHECK(c0.len == c.signed_len + 2 + nboxes * ENTRY);
	/* re-encoding gives the same bytes; the signed encoding is the prefix */
	cc_w_init(&t);
	CHECK_EQ_INT(cc_commit_encode(&c, &t), CC_OK);
	CHECK(t.len == c0.len && memcmp(t.p, c0.p, t.len) == 0);
	cc_w_free(&t);
	cc_w_init(&t);
	CHECK_EQ_INT(cc_commit_encode_signed(&c, &t), CC_OK);
	CHECK(t.len == c.signed_len && memcmp(t.p, c0.p, t.len) == 0);
	cc_w_free(&t);
	size_t signed_len = c.signed_len;
	cc_commit_free(&c);

	/* the hash covers the signed part only: the same with or without boxes */
	{
		uint8_t h1[CC_HASH_BYTES], h2[CC_HASH_BYTES], h3[CC_HASH_BYTES];
		CHECK_EQ_INT(cc_commit_hash(c0.p, c0.len, h1), CC_OK);
		CHECK_EQ_INT(cc_commit_hash(c0.p, signed_len, h2), CC_OK);
		CHECK(memcmp(h1, h2, CC_HASH_BYTES) == 0);
		cc_chain_state *s;
		CHECK_EQ_INT(cc_chain_state_new(&s), CC_OK);
		CHECK_EQ_INT(cc_chain_apply(s, c0.p, c0.len, &pol, root->pk, E2E_NOW, NULL, h3), CC_OK);
		CHECK(memcmp(h1, h3, CC_HASH_BYTES) == 0);
		cc_chain_state_free(s);
	}

	/* ---- truncation: only the end of the signed part (no box section) decodes */
	for (size_t cut = 0; cut < c0.len; cut += (cut < 300 ? 1 : 61)) {
		int rc = cc_commit_decode(c0.p, cut, &c);
		if (cut == signed_len) {
			CHECK_EQ_INT(rc, CC_OK);
			CHECK(!cc_commit_all_boxes(&c));
			cc_commit_free(&c);
		} else {
			CHECK(rc != CC_OK);
		}
	}
	for (size_t cut = signed_len; cut < c0.len; cut++)
		if (cut != signed_len)
			CHECK(cc_commit_decode(c0.p, cut, &c) != CC_OK);
	cc_w_init(&t);
	cc_w_fixed(&t, c0.p, c0.len);
	cc_w_u8(&t, 0);
	CHECK_EQ_INT(cc_commit_decode(t.p, t.len, &c), CC_ERR_TRAILING);
	cc_w_free(&t);
	/* with no box, the encoding has no section: one encoding per commit */
	CHECK_EQ_INT(cc_commit_decode(c0.p, signed_len, &c), CC_OK);
	cc_w_init(&t);
	CHECK_EQ_INT(cc_commit_encode(&c, &t), CC_OK);
	CHECK(t.len == signed_len && memcmp(t.p, c0.p, t.len) == 0);
	cc_w_free(&t);
	cc_commit_free(&c);
	/* an empty section ("u16 0") is a second encoding of "no box": refused (found by fuzz_commit) */
	cc_w_init(&t);
	cc_w_fixed(&t, c0.p, signed_len);
	cc_w_u16(&t, 0);
	CHECK_EQ_INT(cc_commit_decode(t.p, t.len, &c), CC_ERR_MALFORMED);
	cc_w_free(&t);

	/* ---- every bit flip of the signed part is refused (signature, syntax, or box digest) */
	{
		int all_refused = 1;
		for (size_t i = 0; i < signed_len; i++)
			for (int b = 0; b < 8; b++) {
				cc_chain_state *s;
				CHECK_EQ_INT(cc_chain_state_new(&s), CC_OK);
				c0.p[i] ^= (uint8_t)(1u << b);
				if (cc_chain_apply_historic(s, c0.p, c0.len, &pol, root->pk, E2E_NOW, NULL, NULL) ==
				    CC_OK)
					all_refused = 0;
				c0.p[i] ^= (uint8_t)(1u << b);
				cc_chain_state_free(s);
			}
		CHECK(all_refused);
		/* and so is every bit flip of a box, by its digest, before any signature check */
		size_t at = box_entries(&c0);
		for (size_t i = at; i < c0.len; i += 13) {
			c0.p[i] ^= 0x20;
			CHECK(cc_commit_decode(c0.p, c0.len, &c) != CC_OK);
			c0.p[i] ^= 0x20;
		}
		CHECK_EQ_INT(cc_commit_decode(c0.p, c0.len, &c), CC_OK);
		cc_commit_free(&c);
	}

	/* ---- a swapped box: ED's zorg box replaced by GGD's (device id kept) */
	{
		long ie = entry_of(&c0, AUD_ZORG, dev[ED].cert.device_id);
		long ig = entry_of(&c0, AUD_ZORG, dev[GGD].cert.device_id);
		CHECK(ie >= 0 && ig >= 0);
		size_t at = box_entries(&c0);
		cc_w_init(&t);
		cc_w_fixed(&t, c0.p, c0.len);
		memcpy(t.p + at + (size_t)ie * ENTRY + 1 + CC_DEVICE_ID_BYTES,
		       c0.p + at + (size_t)ig * ENTRY + 1 + CC_DEVICE_ID_BYTES, CC_SEALED_KEY_BYTES);
		CHECK_EQ_INT(cc_commit_decode(t.p, t.len, &c), CC_ERR_KEY_COMMITMENT);
		CHECK_EQ_INT(cc_casus_apply_commit(dev[ED].cs, t.p, t.len, &pol, root->pk, E2E_NOW, NULL),
		             CC_ERR_KEY_COMMITMENT);
		cc_chain_state *s;
		CHECK_EQ_INT(cc_chain_state_new(&s), CC_OK);
		CHECK_EQ_INT(cc_chain_apply(s, t.p, t.len, &pol, root->pk, E2E_NOW, NULL, NULL), CC_ERR_KEY_COMMITMENT);
		cc_chain_state_free(s);
		/* a fresh box sealed properly to ED, but not the one the actor signed */
		uint8_t key[CC_EPOCH_KEY_BYTES];
		randombytes_buf(key, sizeof key);
		CHECK_EQ_INT(cc_commit_seal_key(t.p + at + (size_t)ie * ENTRY + 1 + CC_DEVICE_ID_BYTES,
		                                dev[ED].cert.box_pk, dev[ED].cert.device_id, casus_id, AUD_ZORG, 0,
		                                key),
		             CC_OK);
		CHECK_EQ_INT(cc_commit_decode(t.p, t.len, &c), CC_ERR_KEY_COMMITMENT);
		/* the entries reordered, or one twice, or one for a device that is not a recipient */
		cc_w_free(&t);
		cc_w_init(&t);
		cc_w_fixed(&t, c0.p, c0.len);
		uint8_t tmp[ENTRY];
		memcpy(tmp, t.p + at, ENTRY);
		memcpy(t.p + at, t.p + at + ENTRY, ENTRY);
		memcpy(t.p + at + ENTRY, tmp, ENTRY);
		CHECK_EQ_INT(cc_commit_decode(t.p, t.len, &c), CC_ERR_MALFORMED);
		memcpy(t.p + at, t.p + at + ENTRY, ENTRY);
		CHECK_EQ_INT(cc_commit_decode(t.p, t.len, &c), CC_ERR_MALFORMED);
		cc_w_free(&t);
		cc_w_init(&t);
		cc_w_fixed(&t, c0.p, c0.len);
		long ir = entry_of(&c0, AUD_REGIE, dev[CM0].cert.device_id);
		CHECK(ir >= 0);
		memcpy(t.p + at + (size_t)ir * ENTRY + 1, dev[ED].cert.device_id,
		       CC_DEVICE_ID_BYTES); /* ED has no regie box */
		CHECK_EQ_INT(cc_commit_decode(t.p, t.len, &c), CC_ERR_MALFORMED);
		cc_w_free(&t);
	}

	/* ---- served apart: each device gets its own boxes; a missing box means no key */
	{
		cc_wbuf mine, none;
		serve_to(&c0, dev[CM0].cert.device_id, &mine);
		serve_to(&c0, NULL, &none);
		/* a fresh submission must carry every box */
		cc_chain_state *s;
		CHECK_EQ_INT(cc_chain_state_new(&s), CC_OK);
		CHECK_EQ_INT(cc_chain_apply(s, mine.p, mine.len, &pol, root->pk, E2E_NOW, NULL, NULL),
		             CC_ERR_MALFORMED);
		CHECK_EQ_INT(cc_chain_apply(s, none.p, none.len, &pol, root->pk, E2E_NOW, NULL, NULL),
		             CC_ERR_MALFORMED);
		CHECK_EQ_INT(cc_chain_apply_historic(s, none.p, none.len, &pol, root->pk, E2E_NOW, NULL, NULL), CC_OK);
		cc_chain_state_free(s);
		CHECK_EQ_INT(cc_casus_apply_commit(dev[CM0].cs, mine.p, mine.len, &pol, root->pk, E2E_NOW, NULL),
		             CC_OK);
		CHECK(cc_casus_has_epoch_key(dev[CM0].cs, 0, AUD_ZORG));
		CHECK(cc_casus_has_epoch_key(dev[CM0].cs, 0, AUD_REGIE));
		char reason[CC_COMMIT_REASON_MAX + 1];
		CHECK_EQ_INT(cc_commit_open_reason(mine.p, mine.len, dev[CM0].keys, reason, sizeof reason), CC_OK);
		CHECK(strcmp(reason, "casus geopend") == 0);
		/* ED gets the commit without any box (retention deleted them): the
		 * chain verifies, no key for this epoch, the reason is not readable */
		CHECK_EQ_INT(cc_casus_apply_commit(dev[ED].cs, none.p, none.len, &pol, root->pk, E2E_NOW, NULL), CC_OK);
		CHECK(!cc_casus_has_epoch_key(dev[ED].cs, 0, AUD_ZORG));
		CHECK_EQ_INT(cc_commit_open_reason(none.p, none.len, dev[ED].keys, reason, sizeof reason),
		             CC_ERR_NO_KEY);
		/* GGD gets all of them */
		CHECK_EQ_INT(cc_casus_apply_commit(dev[GGD].cs, c0.p, c0.len, &pol, root->pk, E2E_NOW, NULL), CC_OK);
		CHECK(cc_casus_has_epoch_key(dev[GGD].cs, 0, AUD_ZORG));
		/* the chain went on the same for all three: the next commit applies everywhere */
		cc_w_init(&c1);
		CHECK_EQ_INT(cc_commit_rotate(cc_casus_chain(dev[CM0].cs), dev[CM0].keys, &dev[CM0].cert, &pol,
		                              root->pk, E2E_NOW + 10, NULL, "sleutels vernieuwd", &c1),
		             CC_OK);
		for (int i = 0; i < NDEV; i++) {
			serve_to(&c1, dev[i].cert.device_id, &u);
			CHECK_EQ_INT(cc_casus_apply_commit(dev[i].cs, u.p, u.len, &pol, root->pk, E2E_NOW + 10, NULL),
			             CC_OK);
			CHECK(cc_casus_has_epoch_key(dev[i].cs, 1, AUD_ZORG));
			cc_w_free(&u);
		}
		/* a box of the other commit (same device and audience) is refused */
		long i0 = entry_of(&c0, AUD_ZORG, dev[GGD].cert.device_id);
		long i1 = entry_of(&c1, AUD_ZORG, dev[GGD].cert.device_id);
		CHECK(i0 >= 0 && i1 >= 0);
		cc_w_init(&t);
		cc_w_fixed(&t, c1.p, c1.len);
		memcpy(t.p + box_entries(&c1) + (size_t)i1 * ENTRY, c0.p + box_entries(&c0) + (size_t)i0 * ENTRY,
		       ENTRY);
		CHECK_EQ_INT(cc_commit_decode(t.p, t.len, &c), CC_ERR_KEY_COMMITMENT);
		cc_w_free(&t);
		cc_w_free(&mine);
		cc_w_free(&none);
	}

	/* ---- versions 2 and 3 are still built on request and read */
	{
		uint8_t cid2[CC_CASUS_ID_BYTES];
		cc_commit_new_casus_id(cid2);
		cc_commit_change chg;
		memset(&chg, 0, sizeof chg);
		chg.type = CC_COMMIT_CREATE;
		memcpy(chg.casus_id, cid2, sizeof cid2);
		chg.level = 1;
		chg.add = others;
		chg.nadd = 2;
		chg.version = CC_COMMIT_VERSION;
		cc_chain_state empty;
		memset(&empty, 0, sizeof empty);
		cc_w_init(&t);
		CHECK_EQ_INT(cc_commit_build(&empty, &chg, dev[CM0].keys, &dev[CM0].cert, &pol, root->pk, E2E_NOW, NULL,
		                             &t),
		             CC_OK);
		CHECK_EQ_INT(t.p[0], CC_COMMIT_VERSION);
		CHECK_EQ_INT(cc_commit_decode(t.p, t.len, &c), CC_OK);
		CHECK(c.signed_len == t.len && cc_commit_all_boxes(&c));
		cc_commit_free(&c);
		/* with a wrap target: version 3 */
		cc_wrap_secret ws;
		CHECK_EQ_INT(cc_wrap_secret_generate(1, E2E_NOW, &ws), CC_OK);
		cc_wrap_target tg;
		memcpy(tg.device_id, dev[ED].cert.device_id, CC_DEVICE_ID_BYTES);
		tg.version = 1;
		memcpy(tg.pk, ws.pk, sizeof tg.pk);
		chg.wraps = &tg;
		chg.nwraps = 1;
		cc_commit_new_casus_id(chg.casus_id);
		cc_w_init(&u);
		CHECK_EQ_INT(cc_commit_build(&empty, &chg, dev[CM0].keys, &dev[CM0].cert, &pol, root->pk, E2E_NOW, NULL,
		                             &u),
		             CC_OK);
		CHECK_EQ_INT(u.p[0], CC_COMMIT_VERSION_WRAP);
		cc_casus *cs;
		CHECK_EQ_INT(cc_casus_new(dev[ED].keys, &dev[ED].cert, &cs), CC_OK);
		CHECK_EQ_INT(cc_casus_set_wraps(cs, &ws, 1, 1), CC_OK);
		CHECK_EQ_INT(cc_casus_apply_commit(cs, u.p, u.len, &pol, root->pk, E2E_NOW, NULL), CC_OK);
		CHECK(cc_casus_has_epoch_key(cs, 0, AUD_ZORG));
		cc_casus_free(cs);
		/* version 4 with the same wrap target: the wrap version is signed with the digest */
		chg.version = 0;
		cc_commit_new_casus_id(chg.casus_id);
		cc_wbuf v4;
		cc_w_init(&v4);
		CHECK_EQ_INT(cc_commit_build(&empty, &chg, dev[CM0].keys, &dev[CM0].cert, &pol, root->pk, E2E_NOW, NULL,
		                             &v4),
		             CC_OK);
		CHECK_EQ_INT(v4.p[0], CC_COMMIT_VERSION_BOXES);
		CHECK_EQ_INT(cc_casus_new(dev[ED].keys, &dev[ED].cert, &cs), CC_OK);
		CHECK_EQ_INT(cc_casus_set_wraps(cs, &ws, 1, 1), CC_OK);
		CHECK_EQ_INT(cc_casus_apply_commit(cs, v4.p, v4.len, &pol, root->pk, E2E_NOW, NULL), CC_OK);
		CHECK(cc_casus_has_epoch_key(cs, 0, AUD_ZORG));
		cc_casus_free(cs);
		/* an unknown builder version is refused */
		chg.version = 9;
		CHECK_EQ_INT(cc_commit_build(&empty, &chg, dev[CM0].keys, &dev[CM0].cert, &pol, root->pk, E2E_NOW, NULL,
		                             &v4),
		             CC_ERR_INVALID_ARG);
		sodium_memzero(&ws, sizeof ws);
		cc_w_free(&v4);
		cc_w_free(&u);
		cc_w_free(&t);
	}

	cc_w_free(&c0);
	cc_w_free(&c1);
	for (int i = 0; i < NDEV; i++)
		e2e_dev_free(&dev[i]);
	cc_root_key_free(root);
	return check_done();
}
