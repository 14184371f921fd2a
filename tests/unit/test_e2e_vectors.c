/*
 * test_e2e_vectors.c: known-answer vectors of the end-to-end layer.
 *
 * With the deterministic random source of test_e2e_fixture.h, a fixed scenario
 * (create, message, escalate, add, message, grant) produces byte-identical
 * commits, messages and grants. The test regenerates them and compares each
 * with the hex files under $CASUS_VECTORS/e2e/ byte for byte, and then checks
 * the stored files on their own, the way another implementation would: apply
 * the commits to a fresh chain state, open the sealed epoch keys with the
 * stored device keys, check the key commitments, derive the message keys,
 * verify signatures and decrypt to the stored plaintexts, accept the grant.
 * Run with CASUS_VECTORS_WRITE=1 to (re)write the files. Format: e2e/README.md.
 * The files of commit format 2 (before the boxes were stored apart, issue 17)
 * stay in e2e_v2/ and are checked on their own the same way.
 */
#include "check.h"
#include "test_e2e_fixture.h"

#include <errno.h>
#include <sys/stat.h>

static char dir[4096];
static int write_mode;

static uint8_t *read_hex(const char *name, size_t *n)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	long sz = ftell(f);
	fseek(f, 0, SEEK_SET);
	char *hex = malloc((size_t)sz + 1);
	uint8_t *bin = malloc((size_t)sz / 2 + 1);
	size_t got = fread(hex, 1, (size_t)sz, f);
	fclose(f);
	hex[got] = '\0';
	if (sodium_hex2bin(bin, (size_t)sz / 2 + 1, hex, got, "\n", n, NULL) != 0) {
		free(bin);
		bin = NULL;
	}
	free(hex);
	return bin;
}

/* With CASUS_FUZZ_SEEDS=<tests/fuzz/seeds> in write mode, commits, chain
 * states, messages and grants are also written there as binary fuzz seeds. */
static void emit_seed(const char *name, const uint8_t *p, size_t n)
{
	const char *seeds = getenv("CASUS_FUZZ_SEEDS");
	const char *corpus = NULL;
	char path[4400];
	if (!seeds || strstr(name, "_hash") || strstr(name, "_plaintext"))
		return;
	if (strncmp(name, "commit_", 7) == 0 || strncmp(name, "chain_state", 11) == 0)
		corpus = "commit";
	else if (strncmp(name, "message_", 8) == 0)
		corpus = "message";
	else if (strncmp(name, "grant_", 6) == 0)
		corpus = "grant";
	if (!corpus)
		return;
	snprintf(path, sizeof path, "%s/%s/kat_%.*s.bin", seeds, corpus, (int)(strlen(name) - 4), name);
	FILE *f = fopen(path, "wb");
	CHECK(f != NULL);
	if (f) {
		CHECK(fwrite(p, 1, n, f) == n);
		fclose(f);
	}
}

/* Write (CASUS_VECTORS_WRITE=1) or compare one vector file. */
static void emit(const char *name, const uint8_t *p, size_t n)
{
	if (write_mode) {
		emit_seed(name, p, n);
		char path[4200];
		snprintf(path, sizeof path, "%s/%s", dir, name);
		char *hex = e2e_hex(p, n);
		FILE *f = fopen(path, "wb");
		CHECK(f != NULL);
		if (f) {
			fputs(hex, f);
			fclose(f);
		}
		free(hex);
		return;
	}
	size_t sn = 0;
	uint8_t *stored = read_hex(name, &sn);
	if (!stored || sn != n || memcmp(stored, p, n) != 0)
		fprintf(stderr, "vector %s differs from the stored file\n", name);
	CHECK(stored != NULL && sn == n && memcmp(stored, p, n) == 0);
	free(stored);
}

static void emit_w(const char *name, const cc_wbuf *w)
{
	emit(name, w->p, w->len);
}

static void emit_text(const char *name, const char *s)
{
	emit(name, (const uint8_t *)s, strlen(s));
}

static const char PT0[] = "Cliente meldt dat zij sinds maandag weer bij de opvang slaapt.";
static const char PT1[] = "Regie-notitie: afspraak met woningcorporatie op 12 januari.";
static const char PT2[] = "Procesregie: casusoverleg donderdag 10:00, agenda volgt.";

/* Generate the scenario; every object goes through emit(). */
static void generate(void)
{
	cc_root_key *root = NULL;
	cc_policy pol;
	e2e_dev cm, ggd, pr;
	cc_chain_state *st = NULL;
	cc_wbuf w, c0, c1, c2, m0, m1, m2, g;
	uint8_t casus_id[CC_CASUS_ID_BYTES], h[CC_HASH_BYTES];

	e2e_rng_reset();
	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	e2e_default_policy(&pol);
	CHECK_EQ_INT(cc_policy_sign(&pol, root), CC_OK);
	CHECK_EQ_INT(e2e_dev_make(&cm, root, "cm.jansen", "casemanager", 1), CC_OK);
	CHECK_EQ_INT(e2e_dev_make(&ggd, root, "ggd.visser", "ggd", 2), CC_OK);
	CHECK_EQ_INT(e2e_dev_make(&pr, root, "pr.meijer", "procesregisseur", 3), CC_OK);
	CHECK_EQ_INT(cc_chain_state_new(&st), CC_OK);

	emit("root_pk.hex", root->pk, sizeof root->pk);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_policy_encode(&pol, &w), CC_OK);
	emit_w("policy.hex", &w);
	cc_w_free(&w);
	const e2e_dev *devs[3] = {&cm, &ggd, &pr};
	const char *names[3] = {"cm", "ggd", "pr"};
	for (int i = 0; i < 3; i++) {
		char fn[64];
		cc_w_init(&w);
		CHECK_EQ_INT(cc_cert_encode(&devs[i]->cert, &w), CC_OK);
		snprintf(fn, sizeof fn, "device_%s_cert.hex", names[i]);
		emit_w(fn, &w);
		cc_w_free(&w);
		cc_w_init_secret(&w);
		CHECK_EQ_INT(cc_device_keys_encode(devs[i]->keys, &w), CC_OK);
		snprintf(fn, sizeof fn, "device_%s_keys.hex", names[i]); /* TEST KEYS ONLY */
		emit_w(fn, &w);
		cc_w_free(&w);
	}

	/* epoch 0: the casemanager opens the casus at level 1 with the ggd */
	cc_w_init(&c0);
	cc_commit_new_casus_id(casus_id);
	CHECK_EQ_INT(cc_commit_create(casus_id, 1, &ggd.cert, 1, cm.keys, &cm.cert, &pol, root->pk, E2E_NOW,
	                              "casus geopend", &c0),
	             CC_OK);
	emit_w("commit_0.hex", &c0);
	CHECK_EQ_INT(cc_chain_apply(st, c0.p, c0.len, &pol, root->pk, E2E_NOW, NULL, h), CC_OK);
	emit("commit_0_hash.hex", h, sizeof h);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(cc_casus_apply_commit(devs[i]->cs, c0.p, c0.len, &pol, root->pk, E2E_NOW, NULL), CC_OK);
	/* messages at epoch 0: zorg by the casemanager, regie by the casemanager */
	cc_w_init(&m0);
	CHECK_EQ_INT(cc_casus_encrypt(cm.cs, &pol, AUD_ZORG, CC_GROUND_NONE, (const uint8_t *)PT0, strlen(PT0),
	                              E2E_NOW + 60, &m0),
	             CC_OK);
	emit_w("message_0.hex", &m0);
	emit_text("message_0_plaintext.hex", PT0);
	cc_w_init(&m1);
	CHECK_EQ_INT(cc_casus_encrypt(cm.cs, &pol, AUD_REGIE, CC_GROUND_NONE, (const uint8_t *)PT1, strlen(PT1),
	                              E2E_NOW + 120, &m1),
	             CC_OK);
	emit_w("message_1.hex", &m1);
	emit_text("message_1_plaintext.hex", PT1);

	/* epoch 1: escalate to 3; epoch 2: add the procesregisseur */
	cc_w_init(&c1);
	CHECK_EQ_INT(cc_commit_set_level(st, 3, cm.keys, &cm.cert, &pol, root->pk, E2E_NOW + 3600, NULL, "stagnatie",
	                                 &c1),
	             CC_OK);
	emit_w("commit_1.hex", &c1);
	CHECK_EQ_INT(cc_chain_apply(st, c1.p, c1.len, &pol, root->pk, E2E_NOW + 3600, NULL, h), CC_OK);
	emit("commit_1_hash.hex", h, sizeof h);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(cc_casus_apply_commit(devs[i]->cs, c1.p, c1.len, &pol, root->pk, E2E_NOW + 3600, NULL),
		             CC_OK);
	cc_w_init(&c2);
	CHECK_EQ_INT(cc_commit_add(st, &pr.cert, 1, cm.keys, &cm.cert, &pol, root->pk, E2E_NOW + 3700, NULL,
	                           "procesregisseur erbij", &c2),
	             CC_OK);
	emit_w("commit_2.hex", &c2);
	CHECK_EQ_INT(cc_chain_apply(st, c2.p, c2.len, &pol, root->pk, E2E_NOW + 3700, NULL, h), CC_OK);
	emit("commit_2_hash.hex", h, sizeof h);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(cc_casus_apply_commit(devs[i]->cs, c2.p, c2.len, &pol, root->pk, E2E_NOW + 3700, NULL),
		             CC_OK);

	/* epoch 2: the procesregisseur writes to overleg (not a care role: no ground needed) */
	cc_w_init(&m2);
	CHECK_EQ_INT(cc_casus_encrypt(pr.cs, &pol, AUD_OVERLEG, CC_GROUND_NONE, (const uint8_t *)PT2, strlen(PT2),
	                              E2E_NOW + 3800, &m2),
	             CC_OK);
	emit_w("message_2.hex", &m2);
	emit_text("message_2_plaintext.hex", PT2);

	/* the casemanager grants the epoch-0 regie note to the procesregisseur */
	cc_w_init(&g);
	{
		uint8_t ids[1][CC_DEVICE_ID_BYTES];
		const uint8_t *mp[1] = {m1.p};
		size_t ml[1] = {m1.len};
		memcpy(ids[0], pr.cert.device_id, CC_DEVICE_ID_BYTES);
		CHECK_EQ_INT(cc_casus_grant(cm.cs, &pol, (const uint8_t(*)[CC_DEVICE_ID_BYTES])ids, 1, mp, ml, 1,
		                            CC_GROUND_LEGAL_DUTY, "overdracht regie", E2E_NOW + 3900, &g),
		             CC_OK);
	}
	emit_w("grant_0.hex", &g);

	cc_w_init(&w);
	CHECK_EQ_INT(cc_chain_state_encode(st, &w), CC_OK);
	emit_w("chain_state_2.hex", &w);
	cc_w_free(&w);

	cc_w_free(&c0);
	cc_w_free(&c1);
	cc_w_free(&c2);
	cc_w_free(&m0);
	cc_w_free(&m1);
	cc_w_free(&m2);
	cc_w_free(&g);
	cc_chain_state_free(st);
	e2e_dev_free(&cm);
	e2e_dev_free(&ggd);
	e2e_dev_free(&pr);
	cc_root_key_free(root);
}

/* Check the stored files on their own, with the primitives only (no builders). */
static void check_stored(void)
{
	size_t n, rn, pn;
	uint8_t *root_pk = read_hex("root_pk.hex", &rn);
	uint8_t *pb = read_hex("policy.hex", &pn);
	cc_policy pol;
	cc_chain_state *st = NULL;
	cc_device_keys *keys[3] = {NULL, NULL, NULL};
	const char *names[3] = {"cm", "ggd", "pr"};
	uint8_t ekey[3][CC_POLICY_MAX_AUDIENCES][CC_EPOCH_KEY_BYTES]; /* [epoch][aud], as seen by cm/ggd/pr */
	int have[3][CC_POLICY_MAX_AUDIENCES] = {{0}};

	CHECK(root_pk && rn == CC_SIGN_PK_BYTES && pb);
	if (!root_pk || !pb)
		return;
	CHECK_EQ_INT(cc_policy_decode(pb, pn, &pol), CC_OK);
	CHECK_EQ_INT(cc_policy_verify(&pol, root_pk, NULL), CC_OK);
	for (int i = 0; i < 3; i++) {
		char fn[64];
		snprintf(fn, sizeof fn, "device_%s_keys.hex", names[i]);
		uint8_t *kb = read_hex(fn, &n);
		CHECK(kb != NULL);
		if (kb) {
			CHECK_EQ_INT(cc_device_keys_decode(kb, n, &keys[i]), CC_OK);
			sodium_memzero(kb, n);
			free(kb);
		}
	}
	CHECK_EQ_INT(cc_chain_state_new(&st), CC_OK);
	for (int e = 0; e < 3; e++) {
		char fn[64];
		uint8_t h[CC_HASH_BYTES];
		snprintf(fn, sizeof fn, "commit_%d.hex", e);
		uint8_t *cb = read_hex(fn, &n);
		CHECK(cb != NULL);
		if (!cb)
			continue;
		CHECK_EQ_INT(cc_chain_apply(st, cb, n, &pol, root_pk, E2E_NOW + 4000, NULL, h), CC_OK);
		size_t hn;
		snprintf(fn, sizeof fn, "commit_%d_hash.hex", e);
		uint8_t *hb = read_hex(fn, &hn);
		CHECK(hb && hn == CC_HASH_BYTES && memcmp(hb, h, CC_HASH_BYTES) == 0);
		free(hb);
		/* open every box addressed to one of the three devices and check its commitment */
		cc_commit c;
		CHECK_EQ_INT(cc_commit_decode(cb, n, &c), CC_OK);
		for (size_t a = 0; a < c.naudiences; a++)
			for (size_t j = 0; j < c.audiences[a].nrecipients; j++)
				for (int d = 0; d < 3; d++) {
					if (!keys[d] || memcmp(c.audiences[a].recipients[j].device_id,
					                       keys[d]->device_id, CC_DEVICE_ID_BYTES) != 0)
						continue;
					uint8_t k[CC_EPOCH_KEY_BYTES], kc[CC_HASH_BYTES];
					CHECK_EQ_INT(cc_commit_open_key(c.audiences[a].recipients[j].box, keys[d],
					                                c.casus_id, (uint8_t)a, c.epoch, k),
					             CC_OK);
					CHECK_EQ_INT(cc_commit_key_commitment(k, c.casus_id, (uint8_t)a, c.epoch, kc),
					             CC_OK);
					CHECK(memcmp(kc, c.audiences[a].key_commit, CC_HASH_BYTES) == 0);
					memcpy(ekey[e][a], k, sizeof k);
					have[e][a] = 1;
				}
		cc_commit_free(&c);
		free(cb);
	}
	/* messages: decode, verify with the author's certified key, derive mk, open */
	static const int epoch_of[3] = {0, 0, 2};
	for (int i = 0; i < 3; i++) {
		char fn[64];
		snprintf(fn, sizeof fn, "message_%d.hex", i);
		uint8_t *mb = read_hex(fn, &n);
		snprintf(fn, sizeof fn, "message_%d_plaintext.hex", i);
		size_t tn;
		uint8_t *tb = read_hex(fn, &tn);
		CHECK(mb && tb);
		if (!mb || !tb) {
			free(mb);
			free(tb);
			continue;
		}
		cc_message m;
		CHECK_EQ_INT(cc_message_decode(mb, n, &m), CC_OK);
		CHECK_EQ_INT((int)m.h.epoch, epoch_of[i]);
		int si = cc_chain_find(st, m.h.sender);
		CHECK(si >= 0);
		if (si >= 0 && have[m.h.epoch][m.h.audience]) {
			uint8_t mk[CC_MESSAGE_KEY_BYTES];
			cc_wbuf pt;
			CHECK_EQ_INT(cc_message_derive_key(ekey[m.h.epoch][m.h.audience], &m.h, mk), CC_OK);
			cc_w_init_secret(&pt);
			CHECK_EQ_INT(cc_message_open(&m, st->roster[si].cert.sign_pk, mk, &pt), CC_OK);
			CHECK(pt.len == tn && memcmp(pt.p, tb, tn) == 0);
			cc_w_free(&pt);
		}
		free(mb);
		free(tb);
	}
	/* the grant: signature by the casemanager, the procesregisseur's box opens to m1's key */
	{
		uint8_t *gb = read_hex("grant_0.hex", &n);
		size_t mn;
		uint8_t *mb = read_hex("message_1.hex", &mn);
		cc_grant g;
		CHECK(gb && mb);
		if (gb && mb && cc_grant_decode(gb, n, &g) == CC_OK) {
			CHECK_EQ_INT(cc_grant_check_public(&g, st, &pol), CC_OK);
			uint8_t mh[CC_HASH_BYTES], mk[CC_MESSAGE_KEY_BYTES];
			CHECK_EQ_INT(cc_message_hash(mb, mn, mh), CC_OK);
			CHECK(memcmp(mh, g.items[0].message_hash, CC_HASH_BYTES) == 0);
			CHECK_EQ_INT(cc_grant_open_key(g.devices[0].boxes, keys[2], g.casus_id, g.items[0].message_id,
			                               mh, mk),
			             CC_OK);
			cc_message m;
			cc_wbuf pt;
			CHECK_EQ_INT(cc_message_decode(mb, mn, &m), CC_OK);
			int si = cc_chain_find(st, m.h.sender);
			cc_w_init_secret(&pt);
			CHECK(si >= 0 && cc_message_open(&m, st->roster[si].cert.sign_pk, mk, &pt) == CC_OK);
			CHECK(pt.len == strlen(PT1) && memcmp(pt.p, PT1, pt.len) == 0);
			cc_w_free(&pt);
			cc_grant_free(&g);
		} else {
			CHECK(0);
		}
		free(gb);
		free(mb);
	}
	/* the stored chain state equals the one just rebuilt */
	{
		uint8_t *sb = read_hex("chain_state_2.hex", &n);
		cc_wbuf w;
		cc_w_init(&w);
		CHECK_EQ_INT(cc_chain_state_encode(st, &w), CC_OK);
		CHECK(sb && n == w.len && memcmp(sb, w.p, n) == 0);
		cc_w_free(&w);
		free(sb);
	}
	sodium_memzero(ekey, sizeof ekey);
	for (int i = 0; i < 3; i++)
		cc_device_keys_free(keys[i]);
	cc_chain_state_free(st);
	free(root_pk);
	free(pb);
}

int main(void)
{
	const char *base = getenv("CASUS_VECTORS");
	e2e_rng_install();
	CHECK(sodium_init() >= 0);
	if (!base) {
		fprintf(stderr, "CASUS_VECTORS is not set (run through ctest)\n");
		return 1;
	}
	snprintf(dir, sizeof dir, "%s/e2e", base);
	write_mode = getenv("CASUS_VECTORS_WRITE") != NULL;
	if (write_mode && mkdir(dir, 0755) != 0 && errno != EEXIST) {
		perror(dir);
		return 1;
	}
	generate();
	if (!write_mode)
		check_stored();
	/* the commit format 2 vectors of before issue 17 (boxes inside the signed
	 * commit) are still read the same way: e2e_v2/, never rewritten */
	if (!write_mode) {
		snprintf(dir, sizeof dir, "%s/e2e_v2", base);
		check_stored();
		snprintf(dir, sizeof dir, "%s/e2e", base);
	}
	/* generating twice gives the same bytes (nothing depends on the clock or the OS RNG) */
	if (!write_mode)
		generate();
	return check_done();
}
