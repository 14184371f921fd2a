/* test_policy.c: the signed policy: known answer, decisions of the default
 * ladder, consistency rules, every bit flip, every truncation, trailing bytes,
 * wrong root, stale replay, disclosure grounds. */
#include "check.h"
#include "identity_fixture.h"

static void test_kat(void)
{
	kat_set k;
	cc_policy p;
	uint8_t *v;
	size_t n = 0;

	CHECK_EQ_INT(kat_build(&k), CC_OK);
	CHECK(kat_matches("policy", k.policy_enc.p, k.policy_enc.len));
	CHECK(kat_matches("policy_hash", k.policy_hash, sizeof k.policy_hash));
	v = kat_read_hex("policy", &n);
	CHECK(v != NULL);
	if (v) {
		CHECK_EQ_INT(cc_policy_decode(v, n, &p), CC_OK);
		CHECK_EQ_INT(cc_policy_verify(&p, k.root->pk, NULL), CC_OK);
		CHECK(memcmp(&p, &k.policy, sizeof p) == 0);
		free(v);
	}
	kat_free(&k);
}

/* Write $CASUS_VECTORS/identity/<name>.hex (CASUS_VECTORS_WRITE=1, after a
 * deliberate format change). */
static void kat_write(const char *name, const uint8_t *p, size_t n)
{
	char path[1024];
	const char *dir = getenv("CASUS_VECTORS");
	FILE *f;
	if (!dir)
		return;
	snprintf(path, sizeof path, "%s/identity/%s.hex", dir, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (!f)
		return;
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
	fputc('\n', f);
	CHECK(fclose(f) == 0);
}

/* The version 2 default (deploy/policy/default.json): known answer, round
 * trip, every truncation, the procesregie decisions. */
static void test_kat_v2(void)
{
	kat_set k;
	cc_policy p, d;
	cc_wbuf w;
	int pr, bel, cm;

	CHECK_EQ_INT(kat_build(&k), CC_OK);
	kat_regie_policy(&p);
	CHECK_EQ_INT(cc_policy_sign(&p, k.root), CC_OK);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_policy_encode(&p, &w), CC_OK);
	if (getenv("CASUS_VECTORS_WRITE"))
		kat_write("policy_v2", w.p, w.len);
	CHECK(kat_matches("policy_v2", w.p, w.len));
	CHECK_EQ_INT(cc_policy_decode(w.p, w.len, &d), CC_OK);
	CHECK(memcmp(&p, &d, sizeof p) == 0);
	CHECK_EQ_INT(cc_policy_verify(&d, k.root->pk, NULL), CC_OK);
	/* the v2 encoding is the v1 one plus 2 bytes a role and 4 a level */
	CHECK(w.len == k.policy_enc.len + 2u * p.nroles + 4u * p.nlevels);
	for (size_t cut = 0; cut < w.len; cut++)
		CHECK_EQ_INT(cc_policy_decode(w.p, cut, &d), CC_ERR_TRUNCATED);
	/* the procesregie section is signed: a flipped right does not verify */
	size_t right = w.len - CC_SIGN_PK_BYTES - CC_SIG_BYTES - 4u * p.nlevels - 2u * p.nroles + 2u * 1u;
	w.p[right] ^= 1; /* ervaringsdeskundige's may_overview: 0 -> 1 */
	CHECK_EQ_INT(cc_policy_decode(w.p, w.len, &d), CC_OK);
	CHECK_EQ_INT(d.roles[1].may_overview, 1);
	CHECK_EQ_INT(cc_policy_verify(&d, k.root->pk, NULL), CC_ERR_BAD_SIGNATURE);
	w.p[right] ^= 1;
	cc_w_free(&w);

	pr = cc_policy_role_index(&p, "procesregisseur");
	bel = cc_policy_role_index(&p, "beleid");
	cm = cc_policy_role_index(&p, "casemanager");
	CHECK_EQ_INT(cc_policy_may_overview(&p, pr), 1);
	CHECK_EQ_INT(cc_policy_may_monitor(&p, pr), 1);
	CHECK_EQ_INT(cc_policy_may_overview(&p, bel), 0);
	CHECK_EQ_INT(cc_policy_may_monitor(&p, bel), 1);
	CHECK_EQ_INT(cc_policy_may_overview(&p, cm), 0);
	CHECK_EQ_INT(cc_policy_may_monitor(&p, cm), 0);
	CHECK_EQ_INT(cc_policy_may_overview(&p, -1), 0);
	CHECK_EQ_INT(cc_policy_may_overview(&p, 99), 0);
	CHECK_EQ_INT(p.levels[2].stale_note_days, 14);
	for (unsigned i = 0; i < p.nlevels; i++)
		CHECK_EQ_INT(p.levels[i].overdue_actions_days, 0);
	/* the version 1 default grants neither */
	kat_default_policy(&p);
	CHECK_EQ_INT(cc_policy_may_overview(&p, pr), 0);
	CHECK_EQ_INT(cc_policy_may_monitor(&p, bel), 0);
	kat_free(&k);
}

/* The version 3 default (deploy/policy/default.json): known answer, round
 * trip, every truncation, the overdue threshold per level signed, and the
 * threshold under versions 1 and 2 unchanged (2: from the due date on). */
static void test_kat_v3(void)
{
	kat_set k;
	cc_policy p, d, v2;
	cc_wbuf w, w2;
	int64_t after = -1;

	CHECK_EQ_INT(kat_build(&k), CC_OK);
	kat_overdue_policy(&p);
	CHECK_EQ_INT(cc_policy_sign(&p, k.root), CC_OK);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_policy_encode(&p, &w), CC_OK);
	if (getenv("CASUS_VECTORS_WRITE"))
		kat_write("policy_v3", w.p, w.len);
	CHECK(kat_matches("policy_v3", w.p, w.len));
	CHECK_EQ_INT(cc_policy_decode(w.p, w.len, &d), CC_OK);
	CHECK(memcmp(&p, &d, sizeof p) == 0);
	CHECK_EQ_INT(cc_policy_verify(&d, k.root->pk, NULL), CC_OK);
	CHECK_EQ_INT(d.levels[0].overdue_actions_days, 14);
	CHECK_EQ_INT(d.levels[4].overdue_actions_days, 3);
	/* the v3 encoding is the v2 one plus 2 bytes a level, the rest unchanged */
	kat_regie_policy(&v2);
	CHECK_EQ_INT(cc_policy_sign(&v2, k.root), CC_OK);
	cc_w_init(&w2);
	CHECK_EQ_INT(cc_policy_encode(&v2, &w2), CC_OK);
	CHECK(w.len == w2.len + 2u * p.nlevels);
	size_t body = w2.len - CC_SIGN_PK_BYTES - CC_SIG_BYTES;
	CHECK(w.len > body && memcmp(w.p + 5, w2.p + 5, body - 5) == 0);
	/* the v2 bytes with the version byte set to 3 lack the overdue section */
	w2.p[4] = CC_POLICY_VERSION_OVERDUE;
	CHECK_EQ_INT(cc_policy_decode(w2.p, w2.len, &d), CC_ERR_TRUNCATED);
	w2.p[4] = CC_POLICY_VERSION_REGIE;
	cc_w_free(&w2);
	for (size_t cut = 0; cut < w.len; cut++)
		CHECK_EQ_INT(cc_policy_decode(w.p, cut, &d), CC_ERR_TRUNCATED);
	/* an unknown version is refused, not read as the nearest known one */
	w.p[4] = 4;
	CHECK_EQ_INT(cc_policy_decode(w.p, w.len, &d), CC_ERR_VERSION);
	w.p[4] = CC_POLICY_VERSION_OVERDUE;
	/* the threshold is signed: level 1's 14 days changed to 270 do not verify */
	size_t lvl1 = w.len - CC_SIGN_PK_BYTES - CC_SIG_BYTES - 2u * p.nlevels;
	w.p[lvl1] ^= 1;
	CHECK_EQ_INT(cc_policy_decode(w.p, w.len, &d), CC_OK);
	CHECK_EQ_INT(d.levels[0].overdue_actions_days, 14 + 256);
	CHECK_EQ_INT(cc_policy_verify(&d, k.root->pk, NULL), CC_ERR_BAD_SIGNATURE);
	w.p[lvl1] ^= 1;
	cc_w_free(&w);

	/* the threshold per level: version 3 the level's days, 0 days no signal */
	CHECK_EQ_INT(cc_policy_overdue_after(&p, 1, &after), 1);
	CHECK(after == 14 * 86400);
	CHECK_EQ_INT(cc_policy_overdue_after(&p, 4, &after), 1);
	CHECK(after == 3 * 86400);
	p.levels[1].overdue_actions_days = 0;
	after = -1;
	CHECK_EQ_INT(cc_policy_overdue_after(&p, 2, &after), 0);
	CHECK(after == -1);
	CHECK_EQ_INT(cc_policy_overdue_after(&p, 0, &after), 0);
	CHECK_EQ_INT(cc_policy_overdue_after(&p, 6, &after), 0);
	CHECK_EQ_INT(cc_policy_overdue_after(&p, 1, NULL), 0);
	CHECK_EQ_INT(cc_policy_overdue_after(NULL, 1, &after), 0);
	/* version 2: every level from the due date on (today's behaviour) */
	for (uint8_t l = 1; l <= v2.nlevels; l++) {
		after = -1;
		CHECK_EQ_INT(cc_policy_overdue_after(&v2, l, &after), 1);
		CHECK(after == 0);
	}
	/* version 1: no procesregie, no overdue signal */
	kat_default_policy(&d);
	CHECK_EQ_INT(cc_policy_overdue_after(&d, 1, &after), 0);
	/* the procesregie rights hold under version 3 as under version 2 */
	kat_overdue_policy(&p);
	CHECK_EQ_INT(cc_policy_may_overview(&p, cc_policy_role_index(&p, "procesregisseur")), 1);
	CHECK_EQ_INT(cc_policy_may_monitor(&p, cc_policy_role_index(&p, "beleid")), 1);
	CHECK_EQ_INT(cc_policy_may_overview(&p, cc_policy_role_index(&p, "casemanager")), 0);
	kat_free(&k);
}

static void test_decisions(void)
{
	cc_policy p;
	int cm, ed, ggd, kp, pr, pol, bes, bel, beh, fg, zorg, overleg, regie;

	kat_default_policy(&p);
	CHECK_EQ_INT(cc_policy_check(&p), CC_OK);
	cm = cc_policy_role_index(&p, "casemanager");
	ed = cc_policy_role_index(&p, "ervaringsdeskundige");
	ggd = cc_policy_role_index(&p, "ggd");
	kp = cc_policy_role_index(&p, "ketenpartner");
	pr = cc_policy_role_index(&p, "procesregisseur");
	pol = cc_policy_role_index(&p, "politie");
	bes = cc_policy_role_index(&p, "bestuur");
	bel = cc_policy_role_index(&p, "beleid");
	beh = cc_policy_role_index(&p, "beheer");
	fg = cc_policy_role_index(&p, "fg");
	zorg = cc_policy_audience_index(&p, "zorg");
	overleg = cc_policy_audience_index(&p, "overleg");
	regie = cc_policy_audience_index(&p, "regie");
	CHECK(cm == 0 && ed == 1 && ggd == 2 && kp == 3 && pr == 4 && pol == 5 && bes == 6 && bel == 7 && beh == 8 &&
	      fg == 9);
	CHECK(zorg == 0 && overleg == 1 && regie == 2);
	CHECK_EQ_INT(cc_policy_role_index(&p, "Casemanager"), -1);
	CHECK_EQ_INT(cc_policy_audience_index(&p, "iedereen"), -1);

	/* membership by level */
	CHECK_EQ_INT(cc_policy_may_be_member(&p, cm, 1), 1);
	CHECK_EQ_INT(cc_policy_may_be_member(&p, kp, 1), 0);
	CHECK_EQ_INT(cc_policy_may_be_member(&p, kp, 2), 1);
	CHECK_EQ_INT(cc_policy_may_be_member(&p, pr, 2), 0);
	CHECK_EQ_INT(cc_policy_may_be_member(&p, pr, 3), 1);
	CHECK_EQ_INT(cc_policy_may_be_member(&p, pol, 3), 0);
	CHECK_EQ_INT(cc_policy_may_be_member(&p, pol, 4), 1);
	CHECK_EQ_INT(cc_policy_may_be_member(&p, bes, 4), 0);
	CHECK_EQ_INT(cc_policy_may_be_member(&p, bes, 5), 1);
	CHECK_EQ_INT(cc_policy_may_be_member(&p, cm, 0), 0);
	CHECK_EQ_INT(cc_policy_may_be_member(&p, cm, 6), 0);
	CHECK_EQ_INT(cc_policy_may_be_member(&p, 10, 1), 0);
	CHECK_EQ_INT(cc_policy_may_be_member(&p, -1, 1), 0);
	/* beleid, beheer and fg never, at any level, in any audience */
	for (uint8_t lvl = 0; lvl <= 6; lvl++)
		for (int a = 0; a < 3; a++) {
			CHECK_EQ_INT(cc_policy_may_be_member(&p, bel, lvl) + cc_policy_may_be_member(&p, beh, lvl) +
			                     cc_policy_may_be_member(&p, fg, lvl),
			             0);
			CHECK_EQ_INT(cc_policy_in_audience(&p, a, bel, lvl) + cc_policy_in_audience(&p, a, beh, lvl) +
			                     cc_policy_in_audience(&p, a, fg, lvl),
			             0);
		}
	/* audiences */
	CHECK_EQ_INT(cc_policy_in_audience(&p, zorg, ggd, 1), 1);
	CHECK_EQ_INT(cc_policy_in_audience(&p, zorg, pol, 5), 0);
	CHECK_EQ_INT(cc_policy_in_audience(&p, zorg, pr, 5), 0);
	CHECK_EQ_INT(cc_policy_in_audience(&p, overleg, pol, 4), 1);
	CHECK_EQ_INT(cc_policy_in_audience(&p, overleg, pol, 3), 0);
	CHECK_EQ_INT(cc_policy_in_audience(&p, regie, bes, 5), 1);
	CHECK_EQ_INT(cc_policy_in_audience(&p, regie, ggd, 5), 0);
	CHECK_EQ_INT(cc_policy_in_audience(&p, 3, cm, 1), 0);
	/* escalation: casemanager up to 3, procesregisseur to any level, others not */
	CHECK_EQ_INT(cc_policy_may_escalate(&p, cm, 1, 2), 1);
	CHECK_EQ_INT(cc_policy_may_escalate(&p, cm, 1, 3), 1);
	CHECK_EQ_INT(cc_policy_may_escalate(&p, cm, 2, 4), 0);
	CHECK_EQ_INT(cc_policy_may_escalate(&p, cm, 3, 3), 0);
	CHECK_EQ_INT(cc_policy_may_escalate(&p, pr, 3, 5), 1);
	CHECK_EQ_INT(cc_policy_may_escalate(&p, pr, 1, 4), 1);
	CHECK_EQ_INT(cc_policy_may_escalate(&p, pr, 5, 6), 0);
	CHECK_EQ_INT(cc_policy_may_escalate(&p, pr, 4, 3), 0);
	CHECK_EQ_INT(cc_policy_may_escalate(&p, pol, 4, 5), 0);
	CHECK_EQ_INT(cc_policy_may_escalate(&p, ggd, 1, 2), 0);
	/* de-escalation: casemanager and procesregisseur */
	CHECK_EQ_INT(cc_policy_may_deescalate(&p, cm, 4, 1), 1);
	CHECK_EQ_INT(cc_policy_may_deescalate(&p, pr, 5, 3), 1);
	CHECK_EQ_INT(cc_policy_may_deescalate(&p, pr, 3, 3), 0);
	CHECK_EQ_INT(cc_policy_may_deescalate(&p, pr, 3, 0), 0);
	CHECK_EQ_INT(cc_policy_may_deescalate(&p, pol, 4, 3), 0);
	CHECK_EQ_INT(cc_policy_may_deescalate(&p, bes, 5, 4), 0);
	/* rights and audit scopes */
	CHECK(p.roles[cm].may_create && p.roles[cm].may_add && p.roles[cm].may_remove && p.roles[cm].may_grant);
	CHECK(p.roles[pr].may_break_glass && !p.roles[cm].may_break_glass);
	CHECK_EQ_INT(p.roles[pr].audit_scope, CC_AUDIT_DIRECTED);
	CHECK_EQ_INT(p.roles[fg].audit_scope, CC_AUDIT_ALL);
	CHECK_EQ_INT(p.roles[cm].audit_scope, CC_AUDIT_NONE);
	/* disclosure grounds: only a care role posting where a non-care role can read */
	CHECK_EQ_INT(cc_policy_ground_required(&p, zorg, cm, 5), 0);
	CHECK_EQ_INT(cc_policy_ground_required(&p, overleg, cm, 1), 0);
	CHECK_EQ_INT(cc_policy_ground_required(&p, overleg, cm, 2), 0);
	CHECK_EQ_INT(cc_policy_ground_required(&p, overleg, cm, 3), 1);
	CHECK_EQ_INT(cc_policy_ground_required(&p, overleg, ggd, 4), 1);
	CHECK_EQ_INT(cc_policy_ground_required(&p, overleg, pol, 4), 0);
	CHECK_EQ_INT(cc_policy_ground_required(&p, regie, cm, 2), 0);
	CHECK_EQ_INT(cc_policy_ground_required(&p, regie, cm, 3), 1);
	CHECK_EQ_INT(cc_policy_ground_required(&p, -1, cm, 3), 0);

	/* ground names */
	CHECK(strcmp(cc_ground_name(CC_GROUND_CONSENT), "consent") == 0);
	CHECK(cc_ground_name(CC_GROUND_MAX + 1) == NULL);
	CHECK(cc_ground_name(-1) == NULL);
	for (int g = 0; g <= CC_GROUND_MAX; g++)
		CHECK_EQ_INT(cc_ground_from_name(cc_ground_name(g)), g);
	CHECK_EQ_INT(cc_ground_from_name("toestemming"), -1);
}

static void test_consistency(void)
{
	cc_policy p, base;
	cc_root_key *root = NULL;

	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	kat_default_policy(&base);
	p = base;
	p.levels[2].level = 4;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	memcpy(p.roles[3].name, "ggd", 4); /* duplicate role name */
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	memcpy(p.levels[1].name, "Stapteam", 9);
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	p.audiences[0].roles |= 1u << 10; /* a role that does not exist */
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	p.audiences[1].roles |= 1u << 9; /* fg is never_key */
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	p.roles[9].min_level = 1; /* never_key member */
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	p.roles[0].escalate_max = 6;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	p.roles[0].min_level = 6;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	p.roles[0].care = 2; /* flags are exactly 0 or 1 */
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	p.roles[0].audit_scope = 3;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	p.nlevels = 0;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	p.naudiences = CC_POLICY_MAX_AUDIENCES + 1;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	p.deployment[0] = '\0';
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	p.version = 4;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_VERSION);
	p.version = 0;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_VERSION);
	/* versions 1 and 2 have no overdue threshold: one policy, one encoding */
	p = base;
	p.levels[0].overdue_actions_days = 1;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	kat_regie_policy(&p);
	p.levels[4].overdue_actions_days = 1;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p.version = CC_POLICY_VERSION_OVERDUE;
	CHECK_EQ_INT(cc_policy_check(&p), CC_OK);
	p.levels[4].overdue_actions_days = UINT16_MAX;
	CHECK_EQ_INT(cc_policy_check(&p), CC_OK);
	/* a version 1 policy has no procesregie fields: one policy, one encoding */
	p = base;
	p.roles[4].may_overview = 1;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	p = base;
	p.levels[0].stale_note_days = 1;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	kat_regie_policy(&p);
	CHECK_EQ_INT(cc_policy_check(&p), CC_OK);
	p.roles[4].may_monitor = 2;
	CHECK_EQ_INT(cc_policy_check(&p), CC_ERR_MALFORMED);
	/* an inconsistent policy is never signed */
	p = base;
	p.roles[0].care = 2;
	CHECK_EQ_INT(cc_policy_sign(&p, root), CC_ERR_MALFORMED);
	CHECK(sodium_is_zero(p.sig, sizeof p.sig));
	cc_root_key_free(root);
}

static void test_encoding(void)
{
	cc_root_key *root = NULL, *other = NULL;
	cc_policy p, d, newer;
	cc_wbuf w;
	uint8_t *b, h1[CC_HASH_BYTES], h2[CC_HASH_BYTES];
	unsigned undetected = 0;

	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	CHECK_EQ_INT(cc_root_key_generate(&other), CC_OK);
	kat_default_policy(&p);
	p.number = 5;
	CHECK_EQ_INT(cc_policy_verify(&p, root->pk, NULL), CC_ERR_WRONG_ROOT); /* unsigned */
	CHECK_EQ_INT(cc_policy_sign(&p, root), CC_OK);
	CHECK_EQ_INT(cc_policy_verify(&p, root->pk, NULL), CC_OK);
	CHECK_EQ_INT(cc_policy_verify(&p, other->pk, NULL), CC_ERR_WRONG_ROOT);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_policy_encode(&p, &w), CC_OK);
	CHECK_EQ_INT(cc_policy_decode(w.p, w.len, &d), CC_OK);
	CHECK(memcmp(&p, &d, sizeof p) == 0);
	CHECK_EQ_INT(cc_policy_hash(&p, h1), CC_OK);
	d.roles[0].may_grant = 0;
	CHECK_EQ_INT(cc_policy_hash(&d, h2), CC_OK);
	CHECK(memcmp(h1, h2, sizeof h1) != 0);
	/* a right changed after signing */
	CHECK_EQ_INT(cc_policy_verify(&d, root->pk, NULL), CC_ERR_BAD_SIGNATURE);

	b = malloc(w.len);
	for (size_t i = 0; b && i < w.len; i++)
		for (unsigned bit = 0; bit < 8; bit++) {
			int rc;
			memcpy(b, w.p, w.len);
			b[i] ^= (uint8_t)(1u << bit);
			rc = cc_policy_decode(b, w.len, &d);
			if (rc == CC_OK)
				rc = cc_policy_verify(&d, root->pk, NULL);
			if (rc == CC_OK) {
				undetected++;
				fprintf(stderr, "policy: flip at byte %zu bit %u undetected\n", i, bit);
			}
		}
	CHECK_EQ_INT(undetected, 0);
	free(b);
	for (size_t cut = 0; cut < w.len; cut++) {
		CHECK_EQ_INT(cc_policy_decode(w.p, cut, &d), CC_ERR_TRUNCATED);
		CHECK_EQ_INT(d.nroles, 0);
	}
	cc_w_u8(&w, 0);
	CHECK_EQ_INT(cc_policy_decode(w.p, w.len, &d), CC_ERR_TRAILING);
	w.len--;
	w.p[4] = 4;
	CHECK_EQ_INT(cc_policy_decode(w.p, w.len, &d), CC_ERR_VERSION);
	w.p[4] = 2; /* a version 1 body read as version 2 lacks the procesregie section */
	CHECK(cc_policy_decode(w.p, w.len, &d) != CC_OK);
	w.p[4] = 3; /* and read as version 3 the overdue section too */
	CHECK(cc_policy_decode(w.p, w.len, &d) != CC_OK);
	w.p[4] = 1;

	/* stale: an older or equal number is refused, a newer one replaces */
	newer = p;
	newer.number = 6;
	CHECK_EQ_INT(cc_policy_sign(&newer, root), CC_OK);
	CHECK_EQ_INT(cc_policy_verify(&newer, root->pk, &p), CC_OK);
	CHECK_EQ_INT(cc_policy_verify(&p, root->pk, &newer), CC_ERR_STALE);
	CHECK_EQ_INT(cc_policy_verify(&p, root->pk, &p), CC_ERR_STALE);
	/* renumbering an old policy without the root breaks the signature */
	d = p;
	d.number = 7;
	CHECK_EQ_INT(cc_policy_verify(&d, root->pk, &newer), CC_ERR_BAD_SIGNATURE);

	cc_w_free(&w);
	cc_root_key_free(root);
	cc_root_key_free(other);
}

int main(void)
{
	test_rng_install();
	CHECK(sodium_init() >= 0);
	CHECK_RUN(test_kat);
	CHECK_RUN(test_kat_v2);
	CHECK_RUN(test_kat_v3);
	CHECK_RUN(test_decisions);
	CHECK_RUN(test_consistency);
	CHECK_RUN(test_encoding);
	return check_done();
}
