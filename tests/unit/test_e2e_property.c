/*
 * test_e2e_property.c: random sequences of add, remove, escalate, de-escalate
 * and rotate (fixed seed) on a casus of 3-30 members with 1-3 devices each,
 * drawn from a pool that includes every role of the default ladder.
 *
 * After every step a fresh message is written to every audience that has a
 * writer, and EVERY device of the pool (members, removed members, people never
 * admitted, beleid/beheer/fg) tries to open it. The expectation comes from an
 * independent model of the ladder written out below (not from cc_policy):
 * opened <=> the device is in the roster and its role belongs to the audience
 * at the current level. So a removed device opens nothing written after its
 * removal, politie never opens zorg, beleid/beheer/fg open nothing. When a
 * member joins, its devices try older messages and must fail unless they were
 * entitled then; some are then granted to it and must open.
 */
#include "check.h"
#include "test_e2e_fixture.h"

#define SEED 0x5eed0fca5e5ULL
#define STEPS 300
#define MAX_MEMBERS 30
#define MIN_MEMBERS 3

/* ---- independent model of the default ladder ---------------------------------- */
enum {
	R_CM,
	R_ED,
	R_GGD,
	R_KP,
	R_PR,
	R_POL,
	R_BES,
	R_BELEID,
	R_BEHEER,
	R_FG,
	NROLES
};
static const char *const ROLE_NAME[NROLES] = {"casemanager",
                                              "ervaringsdeskundige",
                                              "ggd",
                                              "ketenpartner",
                                              "procesregisseur",
                                              "politie",
                                              "bestuur",
                                              "beleid",
                                              "beheer",
                                              "fg"};
static const int MIN_LEVEL[NROLES] = {1, 1, 1, 2, 3, 4, 5, 0, 0, 0};
/* audience membership: zorg, overleg, regie */
static const int IN_AUD[NROLES][3] = {
	{1, 1, 1}, {1, 1, 0}, {1, 1, 0}, {1, 1, 0}, {0, 1, 1}, {0, 1, 0}, {0, 1, 1}, {0, 0, 0}, {0, 0, 0}, {0, 0, 0},
};
static int model_entitled(int role, int level, int aud)
{
	return MIN_LEVEL[role] != 0 && level >= MIN_LEVEL[role] && IN_AUD[role][aud];
}

/* ---- pool ----------------------------------------------------------------------- */
#define NUSERS 40
#define MAXDEV 3
static const int USER_ROLE[NUSERS] = {
	R_CM,  R_CM,  R_CM,  R_CM,  R_ED,  R_ED,  R_ED, R_ED, R_ED,     R_GGD,    R_GGD, R_GGD, R_GGD, R_GGD,
	R_KP,  R_KP,  R_KP,  R_KP,  R_KP,  R_KP,  R_PR, R_PR, R_PR,     R_PR,     R_POL, R_POL, R_POL, R_POL,
	R_POL, R_BES, R_BES, R_BES, R_BES, R_GGD, R_ED, R_KP, R_BELEID, R_BEHEER, R_FG,  R_CM,
};

typedef struct user {
	int role;
	int ndev;
	e2e_dev dev[MAXDEV];
	int member;
	int bg;          /* admitted by break-glass (outside the ladder) */
	uint64_t joined; /* epoch of the last join */
} user;

static user users[NUSERS];
static cc_root_key *root;
static cc_policy pol;
static cc_chain_state *server;
static int level = 1;
static int step_now;

static uint64_t rng_state = SEED;
static uint64_t rnd(void) /* splitmix64 */
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}
static int rnd_below(int n)
{
	return (int)(rnd() % (uint64_t)n);
}

/* ---- history of messages ---------------------------------------------------------- */
#define NDEVTOTAL (NUSERS * MAXDEV)
typedef struct hmsg {
	cc_wbuf bytes;
	uint64_t epoch;
	int aud;
	uint8_t entitled[NUSERS][MAXDEV]; /* by the model when written (and so opened then) */
} hmsg;
static hmsg *hist;
static size_t nhist, caphist;

static unsigned long long opened_total, refused_total, pol_zorg_opened, nokey_role_opened, grants_ok;

static int members(void)
{
	int n = 0;
	for (int u = 0; u < NUSERS; u++)
		n += users[u].member;
	return n;
}

static int commit_all(cc_wbuf *w)
{
	int rc = cc_chain_apply(server, w->p, w->len, &pol, root->pk, E2E_NOW + step_now, NULL, NULL);
	CHECK_EQ_INT(rc, CC_OK);
	if (rc != CC_OK)
		return rc;
	for (int u = 0; u < NUSERS; u++)
		for (int d = 0; d < users[u].ndev; d++)
			CHECK_EQ_INT(cc_casus_apply_commit(users[u].dev[d].cs, w->p, w->len, &pol, root->pk,
			                                   E2E_NOW + step_now, NULL),
			             CC_OK);
	return CC_OK;
}

/* A member device (first device of a random member user) whose role satisfies pred. */
static int pick_actor(int (*pred)(int role), int exclude_user)
{
	int cand[NUSERS], n = 0;
	for (int u = 0; u < NUSERS; u++)
		if (users[u].member && u != exclude_user && pred(users[u].role))
			cand[n++] = u;
	return n ? cand[rnd_below(n)] : -1;
}
static int may_add(int r)
{
	return r == R_CM || r == R_PR;
}
static int any_member(int r)
{
	(void)r;
	return 1;
}
static int may_deesc(int r)
{
	return r == R_CM || r == R_PR;
}
static int may_grant(int r)
{
	return r == R_CM || r == R_PR;
}

/* Entitlement of a user under the model: ladder members by level, break-glass
 * members by the audience's roles alone; never_key roles never. */
static int user_entitled(int u, int aud)
{
	if (!users[u].member)
		return 0;
	if (users[u].bg)
		return MIN_LEVEL[users[u].role] != 0 && IN_AUD[users[u].role][aud];
	return model_entitled(users[u].role, level, aud);
}

static void set_member(int u, int m)
{
	users[u].member = m;
	if (!m)
		users[u].bg = 0;
	if (m)
		users[u].joined = server->epoch;
}

static void op_add(void)
{
	int cand[NUSERS], n = 0, actor = pick_actor(may_add, -1);
	if (actor < 0 || members() >= MAX_MEMBERS)
		return;
	for (int u = 0; u < NUSERS; u++)
		if (!users[u].member && MIN_LEVEL[users[u].role] && level >= MIN_LEVEL[users[u].role])
			cand[n++] = u;
	cc_wbuf w;
	cc_w_init(&w);
	const e2e_dev *a = &users[actor].dev[0];
	/* now and then a never_key user: refused */
	if (rnd_below(8) == 0) {
		int nk = R_BELEID + rnd_below(3);
		for (int u = 0; u < NUSERS; u++)
			if (users[u].role == nk) {
				CHECK_EQ_INT(cc_commit_add(server, &users[u].dev[0].cert, 1, a->keys, &a->cert, &pol,
				                           root->pk, E2E_NOW + step_now, NULL, "", &w),
				             CC_ERR_ROSTER);
				break;
			}
	}
	if (!n)
		return;
	int u = cand[rnd_below(n)];
	cc_cert certs[MAXDEV];
	for (int d = 0; d < users[u].ndev; d++)
		certs[d] = users[u].dev[d].cert;
	CHECK_EQ_INT(cc_commit_add(server, certs, (size_t)users[u].ndev, a->keys, &a->cert, &pol, root->pk,
	                           E2E_NOW + step_now, NULL, "lid toegevoegd", &w),
	             CC_OK);
	if (commit_all(&w) == CC_OK)
		set_member(u, 1);
	cc_w_free(&w);

	/* The newcomer opens no message from before its join, except what it could read when it
	 * was a member before (then it already opened it: CC_ERR_REPLAY). */
	for (int probe_i = 0; probe_i < 12 && nhist; probe_i++) {
		const hmsg *m = &hist[(size_t)rnd_below((int)nhist)];
		for (int d = 0; d < users[u].ndev; d++) {
			cc_wbuf pt;
			cc_w_init_secret(&pt);
			int rc = cc_casus_decrypt(users[u].dev[d].cs, &pol, m->bytes.p, m->bytes.len, &pt, NULL);
			CHECK_EQ_INT(rc, m->entitled[u][d] ? CC_ERR_REPLAY : CC_ERR_NO_KEY);
			cc_w_free(&pt);
		}
	}
	/* Sometimes a granter shares up to 3 older messages it can read and the newcomer may. */
	int granter = pick_actor(may_grant, u);
	if (granter >= 0 && rnd_below(2) == 0) {
		const uint8_t *mp[3];
		size_t ml[3], pick[3], np = 0;
		for (size_t k = nhist; k-- > 0 && np < 3;) {
			const hmsg *m = &hist[k];
			if (m->entitled[granter][0] && !m->entitled[u][0] &&
			    model_entitled(users[u].role, level, m->aud)) {
				pick[np] = k;
				mp[np] = m->bytes.p;
				ml[np++] = m->bytes.len;
			}
		}
		if (np) {
			uint8_t ids[MAXDEV][CC_DEVICE_ID_BYTES];
			for (int d = 0; d < users[u].ndev; d++)
				memcpy(ids[d], users[u].dev[d].cert.device_id, CC_DEVICE_ID_BYTES);
			cc_wbuf g;
			cc_w_init(&g);
			CHECK_EQ_INT(cc_casus_grant(users[granter].dev[0].cs, &pol,
			                            (const uint8_t(*)[CC_DEVICE_ID_BYTES])ids, (size_t)users[u].ndev,
			                            mp, ml, np, CC_GROUND_CONSENT, "overdracht", E2E_NOW + step_now,
			                            &g),
			             CC_OK);
			cc_grant dg;
			CHECK_EQ_INT(cc_grant_decode(g.p, g.len, &dg), CC_OK);
			CHECK_EQ_INT(cc_grant_check_public(&dg, server, &pol), CC_OK);
			cc_grant_free(&dg);
			for (int d = 0; d < users[u].ndev; d++) {
				CHECK_EQ_INT(cc_casus_accept_grant(users[u].dev[d].cs, &pol, g.p, g.len), CC_OK);
				for (size_t i = 0; i < np; i++) {
					cc_wbuf pt;
					cc_w_init_secret(&pt);
					int rc = cc_casus_decrypt(users[u].dev[d].cs, &pol, mp[i], ml[i], &pt, NULL);
					/* opened now, unless it had been probed above... probes never succeed, so: */
					CHECK_EQ_INT(rc, CC_OK);
					grants_ok += rc == CC_OK;
					cc_w_free(&pt);
					hist[pick[i]].entitled[u][d] = 1; /* it has now opened it */
				}
			}
			cc_w_free(&g);
		}
	}
}

static void op_remove(void)
{
	int cand[NUSERS], n = 0, ncm = 0;
	if (members() <= MIN_MEMBERS)
		return;
	for (int u = 0; u < NUSERS; u++)
		if (users[u].member && users[u].role == R_CM)
			ncm++;
	for (int u = 0; u < NUSERS; u++)
		if (users[u].member && !(users[u].role == R_CM && ncm == 1))
			cand[n++] = u;
	if (!n)
		return;
	int u = cand[rnd_below(n)];
	int actor = pick_actor(may_add /* may_remove: same roles */, u);
	if (actor < 0)
		return;
	uint8_t ids[MAXDEV][CC_DEVICE_ID_BYTES];
	for (int d = 0; d < users[u].ndev; d++)
		memcpy(ids[d], users[u].dev[d].cert.device_id, CC_DEVICE_ID_BYTES);
	cc_wbuf w;
	cc_w_init(&w);
	const e2e_dev *a = &users[actor].dev[0];
	CHECK_EQ_INT(cc_commit_remove(server, (const uint8_t(*)[CC_DEVICE_ID_BYTES])ids, (size_t)users[u].ndev, a->keys,
	                              &a->cert, &pol, root->pk, E2E_NOW + step_now, NULL, "lid verwijderd", &w),
	             CC_OK);
	if (commit_all(&w) == CC_OK)
		set_member(u, 0);
	cc_w_free(&w);
}

static int esc_max(int r)
{
	return r == R_CM ? 3 : r == R_PR ? 5 : 0;
}

static void op_escalate(void)
{
	int cand[NUSERS], n = 0;
	for (int u = 0; u < NUSERS; u++)
		if (users[u].member && esc_max(users[u].role) > level)
			cand[n++] = u;
	if (!n)
		return;
	int actor = cand[rnd_below(n)];
	int to = level + 1 + rnd_below(esc_max(users[actor].role) - level);
	cc_wbuf w;
	cc_w_init(&w);
	const e2e_dev *a = &users[actor].dev[0];
	/* a member whose role may not escalate is refused */
	int weak = -1;
	for (int u = 0; u < NUSERS; u++)
		if (users[u].member && esc_max(users[u].role) == 0)
			weak = u;
	if (weak >= 0)
		CHECK_EQ_INT(cc_commit_set_level(server, (uint8_t)to, users[weak].dev[0].keys, &users[weak].dev[0].cert,
		                                 &pol, root->pk, E2E_NOW + step_now, NULL, "x", &w),
		             CC_ERR_FORBIDDEN);
	CHECK_EQ_INT(cc_commit_set_level(server, (uint8_t)to, a->keys, &a->cert, &pol, root->pk, E2E_NOW + step_now,
	                                 NULL, "opschaling", &w),
	             CC_OK);
	if (commit_all(&w) == CC_OK)
		level = to;
	cc_w_free(&w);
}

static void op_deescalate(void)
{
	if (level <= 1)
		return;
	int actor = pick_actor(may_deesc, -1);
	if (actor < 0)
		return;
	int to = 1 + rnd_below(level - 1);
	cc_wbuf w;
	cc_w_init(&w);
	const e2e_dev *a = &users[actor].dev[0];
	CHECK_EQ_INT(cc_commit_set_level(server, (uint8_t)to, a->keys, &a->cert, &pol, root->pk, E2E_NOW + step_now,
	                                 NULL, "afschaling", &w),
	             CC_OK);
	if (commit_all(&w) == CC_OK) {
		level = to;
		for (int u = 0; u < NUSERS; u++)
			if (users[u].member && (users[u].bg || MIN_LEVEL[users[u].role] > level))
				set_member(u, 0); /* the model's own rule: the ladder no longer admits them,
				                     and break-glass access ends with any de-escalation */
	}
	cc_w_free(&w);
}

static int may_glass(int r)
{
	return r == R_PR;
}

/* A procesregisseur admits someone the current level does not (yet) admit. */
static void op_break_glass(void)
{
	int cand[NUSERS], n = 0, actor = pick_actor(may_glass, -1);
	if (actor < 0 || members() >= MAX_MEMBERS)
		return;
	for (int u = 0; u < NUSERS; u++)
		if (!users[u].member && MIN_LEVEL[users[u].role] > level)
			cand[n++] = u;
	if (!n)
		return;
	int u = cand[rnd_below(n)];
	cc_cert certs[MAXDEV];
	for (int d = 0; d < users[u].ndev; d++)
		certs[d] = users[u].dev[d].cert;
	cc_wbuf w;
	cc_w_init(&w);
	const e2e_dev *a = &users[actor].dev[0];
	CHECK_EQ_INT(cc_commit_break_glass(server, certs, (size_t)users[u].ndev, a->keys, &a->cert, &pol, root->pk,
	                                   E2E_NOW + step_now, NULL, "acuut gevaar", &w),
	             CC_OK);
	if (commit_all(&w) == CC_OK) {
		set_member(u, 1);
		users[u].bg = 1;
		for (int d = 0; d < users[u].ndev; d++) {
			int ri = cc_chain_find(server, users[u].dev[d].cert.device_id);
			CHECK(ri >= 0 && (server->roster[ri].flags & CC_ROSTER_BREAK_GLASS));
		}
	}
	cc_w_free(&w);
}

static void op_rotate(void)
{
	int actor = pick_actor(any_member, -1);
	if (actor < 0)
		return;
	const e2e_dev *a = &users[actor].dev[rnd_below(users[actor].ndev)];
	cc_wbuf w;
	cc_w_init(&w);
	CHECK_EQ_INT(cc_commit_rotate(server, a->keys, &a->cert, &pol, root->pk, E2E_NOW + step_now, NULL, "", &w),
	             CC_OK);
	commit_all(&w);
	cc_w_free(&w);
}

/* The roster the library holds equals the model's member set. */
static void check_roster(void)
{
	size_t ndev = 0;
	for (int u = 0; u < NUSERS; u++)
		for (int d = 0; d < users[u].ndev; d++) {
			int in = cc_chain_find(server, users[u].dev[d].cert.device_id) >= 0;
			CHECK_EQ_INT(in, users[u].member);
			ndev += (size_t)in;
		}
	CHECK_EQ_INT(server->nroster, ndev);
	CHECK_EQ_INT(server->level, level);
}

/* A fresh message in every audience; every device of the pool tries it. */
static void probe(void)
{
	for (int aud = 0; aud < 3; aud++) {
		int writers[NUSERS], n = 0;
		for (int u = 0; u < NUSERS; u++)
			if (user_entitled(u, aud))
				writers[n++] = u;
		if (!n)
			continue;
		int wu = writers[rnd_below(n)];
		int wd = rnd_below(users[wu].ndev);
		if (nhist == caphist) {
			caphist = caphist ? 2 * caphist : 256;
			hmsg *grown = realloc(hist, caphist * sizeof *hist);
			if (!grown) {
				fprintf(stderr, "test_e2e_property: out of memory\n");
				abort();
			}
			hist = grown;
		}
		hmsg *m = &hist[nhist++];
		memset(m, 0, sizeof *m);
		cc_w_init(&m->bytes);
		m->epoch = server->epoch;
		m->aud = aud;
		char text[64];
		snprintf(text, sizeof text, "stap %d publiek %d", step_now, aud);
		CHECK_EQ_INT(cc_casus_encrypt(users[wu].dev[wd].cs, &pol, aud, CC_GROUND_CONSENT, (const uint8_t *)text,
		                              strlen(text), E2E_NOW + step_now, &m->bytes),
		             CC_OK);
		cc_message mm;
		CHECK_EQ_INT(cc_message_decode(m->bytes.p, m->bytes.len, &mm), CC_OK);
		CHECK_EQ_INT(cc_message_check_public(&mm, server, &pol), CC_OK);
		for (int u = 0; u < NUSERS; u++)
			for (int d = 0; d < users[u].ndev; d++) {
				int want = user_entitled(u, aud);
				cc_wbuf pt;
				cc_w_init_secret(&pt);
				int rc =
					cc_casus_decrypt(users[u].dev[d].cs, &pol, m->bytes.p, m->bytes.len, &pt, NULL);
				if ((rc == CC_OK) != want)
					fprintf(stderr,
					        "step %d aud %d user %d (%s, member %d) dev %d: rc %s want %d\n",
					        step_now, aud, u, ROLE_NAME[users[u].role], users[u].member, d,
					        cc_errname(rc), want);
				CHECK_EQ_INT(rc, want ? CC_OK : CC_ERR_NO_KEY);
				if (rc == CC_OK) {
					CHECK(pt.len == strlen(text) && memcmp(pt.p, text, pt.len) == 0);
					opened_total++;
					if (users[u].role == R_POL && aud == AUD_ZORG)
						pol_zorg_opened++;
					if (users[u].role >= R_BELEID)
						nokey_role_opened++;
				} else {
					refused_total++;
				}
				m->entitled[u][d] = (uint8_t)want;
				cc_w_free(&pt);
			}
	}
}

int main(void)
{
	uint8_t casus_id[CC_CASUS_ID_BYTES];
	unsigned nops[6] = {0, 0, 0, 0, 0, 0};

	CHECK(sodium_init() >= 0);
	e2e_default_policy(&pol);
	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	for (int u = 0; u < NUSERS; u++) {
		char uid[32];
		users[u].role = USER_ROLE[u];
		users[u].ndev = 1 + rnd_below(MAXDEV);
		snprintf(uid, sizeof uid, "user%02d", u);
		for (int d = 0; d < users[u].ndev; d++)
			CHECK_EQ_INT(e2e_dev_make(&users[u].dev[d], root, uid, ROLE_NAME[users[u].role],
			                          (uint64_t)(1000 + u * MAXDEV + d)),
			             CC_OK);
	}
	CHECK_EQ_INT(cc_chain_state_new(&server), CC_OK);

	/* create: user 0 (casemanager) with two care members */
	{
		cc_cert others[2 * MAXDEV + MAXDEV];
		size_t no = 0;
		const int first[] = {0, 4, 9};
		for (size_t i = 0; i < 3; i++)
			for (int d = 0; d < users[first[i]].ndev; d++)
				if (!(i == 0 && d == 0))
					others[no++] = users[first[i]].dev[d].cert;
		cc_wbuf w;
		cc_w_init(&w);
		cc_commit_new_casus_id(casus_id);
		CHECK_EQ_INT(cc_commit_create(casus_id, 1, others, no, users[0].dev[0].keys, &users[0].dev[0].cert,
		                              &pol, root->pk, E2E_NOW, "casus geopend", &w),
		             CC_OK);
		commit_all(&w);
		cc_w_free(&w);
		for (size_t i = 0; i < 3; i++)
			set_member(first[i], 1);
	}
	check_roster();
	probe();

	for (step_now = 1; step_now <= STEPS; step_now++) {
		int op = rnd_below(100);
		uint64_t e0 = server->epoch;
		if (op < 35) {
			op_add();
			nops[0]++;
		} else if (op < 55) {
			op_remove();
			nops[1]++;
		} else if (op < 70) {
			op_escalate();
			nops[2]++;
		} else if (op < 82) {
			op_deescalate();
			nops[3]++;
		} else if (op < 87) {
			op_break_glass();
			nops[5]++;
		} else {
			op_rotate();
			nops[4]++;
		}
		if (server->epoch == e0) /* the op did not apply (no candidate): rotate instead */
			op_rotate();
		check_roster();
		probe();
		if (check_failed > 20)
			break;
	}
	printf("steps %d (add %u remove %u escalate %u deescalate %u rotate %u break-glass %u), epoch %llu, level %d, "
	       "members %d\n",
	       step_now - 1, nops[0], nops[1], nops[2], nops[3], nops[4], nops[5], (unsigned long long)server->epoch,
	       level, members());
	printf("opened %llu refused %llu granted-opened %llu; politie opened zorg %llu; never_key roles opened %llu\n",
	       opened_total, refused_total, grants_ok, pol_zorg_opened, nokey_role_opened);
	CHECK_EQ_INT(pol_zorg_opened, 0);
	CHECK_EQ_INT(nokey_role_opened, 0);
	CHECK(grants_ok > 0);
	CHECK(opened_total > 0 && refused_total > 0);

	for (size_t k = 0; k < nhist; k++)
		cc_w_free(&hist[k].bytes);
	free(hist);
	cc_chain_state_free(server);
	for (int u = 0; u < NUSERS; u++)
		for (int d = 0; d < users[u].ndev; d++)
			e2e_dev_free(&users[u].dev[d]);
	cc_root_key_free(root);
	return check_done();
}
