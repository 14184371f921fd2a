/* json_test_policy.c (ctest unit.test_policy_json): the readable JSON policy.
 * deploy/policy/default.json must equal the known-answer policy byte for byte
 * once signed; another deployment's file (four levels, other role names) must
 * drive the same decision functions differently ("policy is data"); strictness
 * errors name the field. */
#include "check.h"
#include "identity_fixture.h"
#include "policy_json.h"

static const char *policy_dir(void)
{
	const char *d = getenv("CASUS_POLICY_DIR");
	return d ? d : "deploy/policy";
}

static int load(const char *file, cc_policy *p, char *err, size_t errlen)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/%s", policy_dir(), file);
	return cc_policy_from_json_file(path, p, err, errlen);
}

static void test_default_matches_vector(void)
{
	kat_set k;
	cc_policy p, kp;
	cc_wbuf w;
	char err[256];
	int rc;

	CHECK_EQ_INT(kat_build(&k), CC_OK);
	rc = load("default.json", &p, err, sizeof err);
	CHECK_EQ_INT(rc, CC_OK);
	if (rc != CC_OK)
		fprintf(stderr, "default.json: %s\n", err);
	p.issued_at = KAT_NOT_BEFORE;
	kat_overdue_policy(&kp);
	CHECK(memcmp(&p, &kp, sizeof p) == 0);
	CHECK_EQ_INT(cc_policy_sign(&p, k.root), CC_OK);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_policy_encode(&p, &w), CC_OK);
	CHECK(kat_matches("policy_v3", w.p, w.len));
	cc_w_free(&w);
	kat_free(&k);
}

static void test_roundtrip(const char *file)
{
	cc_policy p, q;
	char err[256];
	char *text;
	CHECK_EQ_INT(load(file, &p, err, sizeof err), CC_OK);
	text = cc_policy_to_json(&p);
	CHECK(text != NULL);
	if (text) {
		CHECK_EQ_INT(cc_policy_from_json(text, strlen(text), &q, err, sizeof err), CC_OK);
		CHECK(memcmp(&p, &q, sizeof p) == 0);
		free(text);
	}
}

static void test_policy_is_data(void)
{
	cc_policy d, f;
	char err[256];
	int wijkteam, regisseur, wijkagent, fg, tafel, zorg;

	CHECK_EQ_INT(load("default.json", &d, err, sizeof err), CC_OK);
	CHECK_EQ_INT(load("four-level.json", &f, err, sizeof err), CC_OK);
	CHECK_EQ_INT(f.nlevels, 4);
	CHECK(strcmp(f.levels[3].name, "Veiligheid") == 0);
	/* roles of one deployment do not exist in the other */
	CHECK_EQ_INT(cc_policy_role_index(&f, "casemanager"), -1);
	CHECK_EQ_INT(cc_policy_role_index(&d, "wijkteam"), -1);
	wijkteam = cc_policy_role_index(&f, "wijkteam");
	regisseur = cc_policy_role_index(&f, "regisseur");
	wijkagent = cc_policy_role_index(&f, "wijkagent");
	fg = cc_policy_role_index(&f, "fg");
	tafel = cc_policy_audience_index(&f, "tafel");
	zorg = cc_policy_audience_index(&f, "zorg");
	CHECK(wijkteam >= 0 && regisseur >= 0 && wijkagent >= 0 && fg >= 0 && tafel >= 0 && zorg >= 0);
	CHECK_EQ_INT(cc_policy_may_escalate(&f, wijkteam, 1, 2), 1);
	CHECK_EQ_INT(cc_policy_may_escalate(&f, wijkteam, 1, 3), 0);
	CHECK_EQ_INT(cc_policy_may_escalate(&f, regisseur, 2, 4), 1);
	CHECK_EQ_INT(cc_policy_may_escalate(&f, regisseur, 4, 5), 0); /* no level 5 here */
	CHECK_EQ_INT(cc_policy_may_be_member(&f, wijkagent, 2), 0);
	CHECK_EQ_INT(cc_policy_may_be_member(&f, wijkagent, 3), 1);
	CHECK_EQ_INT(cc_policy_may_be_member(&f, fg, 4), 0);
	CHECK_EQ_INT(cc_policy_in_audience(&f, zorg, wijkagent, 4), 0);
	CHECK_EQ_INT(cc_policy_in_audience(&f, tafel, wijkagent, 3), 1);
	CHECK_EQ_INT(cc_policy_ground_required(&f, tafel, wijkteam, 1), 0);
	CHECK_EQ_INT(cc_policy_ground_required(&f, tafel, wijkteam, 2), 1); /* regisseur joins at 2 */
	CHECK_EQ_INT(f.roles[regisseur].audit_scope, CC_AUDIT_DIRECTED);
	CHECK_EQ_INT(f.roles[fg].audit_scope, CC_AUDIT_ALL);
}

/* Each bad document must fail with the given code and a message containing `want`. */
static void bad(const char *doc, int code, const char *want)
{
	cc_policy p;
	char err[256];
	int rc = cc_policy_from_json(doc, strlen(doc), &p, err, sizeof err);
	CHECK_EQ_INT(rc, code);
	CHECK(strstr(err, want) != NULL);
	if (!strstr(err, want))
		fprintf(stderr, "  message was: %s (wanted %s)\n", err, want);
	CHECK_EQ_INT(p.nroles, 0); /* nothing handed out on failure */
}

#define HEAD "{\"version\":1,\"number\":2,\"deployment\":\"t\",\"levels\":[\"A\",\"B\"],"
#define ROLES "\"roles\":[{\"name\":\"zz\",\"min_level\":1,\"care\":true},{\"name\":\"pol\",\"min_level\":2}],"

static void test_strict(void)
{
	cc_policy p;
	char err[256];
	const char *good =
		HEAD ROLES "\"audiences\":[{\"name\":\"all\",\"roles\":[\"zz\",\"pol\"],\"ground_required\":true}]}";
	CHECK_EQ_INT(cc_policy_from_json(good, strlen(good), &p, err, sizeof err), CC_OK);
	CHECK_EQ_INT(p.audiences[0].roles, 3);

	bad("{", CC_ERR_MALFORMED, "line");
	bad("[]", CC_ERR_MALFORMED, "must be a JSON object");
	bad(HEAD ROLES "\"audiences\":[]} x", CC_ERR_MALFORMED, "line");
	bad(HEAD ROLES "\"audiences\":[],\"extra\":1}", CC_ERR_MALFORMED, "unknown key \"extra\"");
	bad(HEAD ROLES "\"audiences\":[],\"number\":3}", CC_ERR_MALFORMED, "duplicate");
	bad("{\"version\":4,\"number\":2,\"deployment\":\"t\",\"levels\":[\"A\"]," ROLES "\"audiences\":[]}",
	    CC_ERR_VERSION, "version");
	bad("{\"version\":0,\"number\":2,\"deployment\":\"t\",\"levels\":[\"A\"]," ROLES "\"audiences\":[]}",
	    CC_ERR_VERSION, "version");
	/* the procesregie fields need version 2, and are strict there too */
	bad(HEAD "\"roles\":[{\"name\":\"zz\",\"min_level\":1,\"may_overview\":true}],\"audiences\":[]}",
	    CC_ERR_MALFORMED, "need \"version\": 2 or 3");
	bad(HEAD ROLES "\"audiences\":[],\"stagnation\":[{\"level\":1,\"no_note_days\":3}]}", CC_ERR_MALFORMED,
	    "stagnation: needs");
#define HEAD2 "{\"version\":2,\"number\":2,\"deployment\":\"t\",\"levels\":[\"A\",\"B\"],"
	bad(HEAD2 ROLES "\"audiences\":[],\"stagnation\":[{\"level\":3,\"no_note_days\":3}]}", CC_ERR_MALFORMED,
	    "stagnation[0].level");
	bad(HEAD2 ROLES "\"audiences\":[],\"stagnation\":[{\"level\":1,\"no_note_days\":-1}]}", CC_ERR_MALFORMED,
	    "stagnation[0].no_note_days");
	bad(HEAD2 ROLES "\"audiences\":[],\"stagnation\":[{\"level\":1,\"no_note_days\":2},{\"level\":1,"
	                "\"no_note_days\":4}]}",
	    CC_ERR_MALFORMED, "listed twice");
	bad(HEAD2 ROLES "\"audiences\":[],\"stagnation\":[{\"level\":1,\"weeks\":2}]}", CC_ERR_MALFORMED,
	    "unknown key \"weeks\"");
	bad(HEAD2 "\"roles\":[{\"name\":\"zz\",\"min_level\":1,\"may_overview\":1}],\"audiences\":[]}",
	    CC_ERR_MALFORMED, "may_overview");
	/* the overdue threshold needs version 3, and is strict there too */
	bad(HEAD2 ROLES "\"audiences\":[],\"stagnation\":[{\"level\":1,\"overdue_actions_days\":3}]}", CC_ERR_MALFORMED,
	    "stagnation[0].overdue_actions_days: needs \"version\": 3");
	bad(HEAD2 ROLES "\"audiences\":[],\"stagnation\":[{\"level\":1,\"overdue_actions_days\":0}]}", CC_ERR_MALFORMED,
	    "needs \"version\": 3");
#define HEAD3 "{\"version\":3,\"number\":2,\"deployment\":\"t\",\"levels\":[\"A\",\"B\"],"
	bad(HEAD3 ROLES "\"audiences\":[],\"stagnation\":[{\"level\":1,\"overdue_actions_days\":-1}]}",
	    CC_ERR_MALFORMED, "stagnation[0].overdue_actions_days");
	bad(HEAD3 ROLES "\"audiences\":[],\"stagnation\":[{\"level\":1,\"overdue_actions_days\":65536}]}",
	    CC_ERR_MALFORMED, "stagnation[0].overdue_actions_days");
	bad(HEAD3 ROLES "\"audiences\":[],\"stagnation\":[{\"level\":1,\"overdue_actions_days\":\"7\"}]}",
	    CC_ERR_MALFORMED, "stagnation[0].overdue_actions_days");
	bad(HEAD3 ROLES "\"audiences\":[],\"stagnation\":[{\"level\":1,\"overdue_actions_days\":1.5}]}",
	    CC_ERR_MALFORMED, "stagnation[0].overdue_actions_days");
	bad(HEAD3 ROLES "\"audiences\":[],\"stagnation\":[{\"level\":2,\"overdue_actions_days\":0},{\"level\":2,"
	                "\"overdue_actions_days\":5}]}",
	    CC_ERR_MALFORMED, "listed twice");
	bad(HEAD3 ROLES "\"audiences\":[],\"stagnation\":[{\"level\":1,\"overdue_days\":2}]}", CC_ERR_MALFORMED,
	    "unknown key \"overdue_days\"");
	{
		const char *v3 = HEAD3 "\"roles\":[{\"name\":\"zz\",\"min_level\":1,\"may_overview\":true}],"
				       "\"audiences\":[],\"stagnation\":[{\"level\":1,\"no_note_days\":9},"
				       "{\"level\":2,\"overdue_actions_days\":5}]}";
		int64_t after = -1;
		char *text;
		cc_policy q;
		CHECK_EQ_INT(cc_policy_from_json(v3, strlen(v3), &p, err, sizeof err), CC_OK);
		CHECK_EQ_INT(p.version, 3);
		CHECK_EQ_INT(cc_policy_may_overview(&p, 0), 1);
		CHECK_EQ_INT(p.levels[0].stale_note_days, 9);
		CHECK_EQ_INT(p.levels[0].overdue_actions_days, 0);
		CHECK_EQ_INT(p.levels[1].overdue_actions_days, 5);
		CHECK_EQ_INT(cc_policy_overdue_after(&p, 1, &after), 0); /* absent: no overdue signal at level 1 */
		CHECK_EQ_INT(cc_policy_overdue_after(&p, 2, &after), 1);
		CHECK(after == 5 * 86400);
		/* and back: the readable form names the threshold, the round trip is exact */
		text = cc_policy_to_json(&p);
		CHECK(text != NULL && strstr(text, "\"overdue_actions_days\": 5") != NULL);
		if (text) {
			CHECK_EQ_INT(cc_policy_from_json(text, strlen(text), &q, err, sizeof err), CC_OK);
			CHECK(memcmp(&p, &q, sizeof p) == 0);
			free(text);
		}
	}
	{
		const char *v2 = HEAD2 "\"roles\":[{\"name\":\"zz\",\"min_level\":1,\"may_overview\":true},"
				       "{\"name\":\"mo\",\"min_level\":0,\"never_key\":true,\"may_monitor\":true}],"
				       "\"audiences\":[],\"stagnation\":[{\"level\":2,\"no_note_days\":9,"
				       "\"no_level_change_weeks\":3}]}";
		CHECK_EQ_INT(cc_policy_from_json(v2, strlen(v2), &p, err, sizeof err), CC_OK);
		CHECK_EQ_INT(p.version, 2);
		CHECK_EQ_INT(cc_policy_may_overview(&p, 0), 1);
		CHECK_EQ_INT(cc_policy_may_monitor(&p, 0), 0);
		CHECK_EQ_INT(cc_policy_may_overview(&p, 1), 0);
		CHECK_EQ_INT(cc_policy_may_monitor(&p, 1), 1);
		CHECK_EQ_INT(p.levels[0].stale_note_days, 0);
		CHECK_EQ_INT(p.levels[1].stale_note_days, 9);
		CHECK_EQ_INT(p.levels[1].stale_level_weeks, 3);
	}
	bad("{\"version\":1,\"number\":\"2\",\"deployment\":\"t\",\"levels\":[\"A\"],\"roles\":[],\"audiences\":[]}",
	    CC_ERR_MALFORMED, "number");
	bad("{\"version\":1,\"number\":-1,\"deployment\":\"t\",\"levels\":[\"A\"],\"roles\":[],\"audiences\":[]}",
	    CC_ERR_MALFORMED, "number");
	bad("{\"version\":1,\"number\":1,\"levels\":[\"A\"],\"roles\":[],\"audiences\":[]}", CC_ERR_MALFORMED,
	    "deployment: missing");
	bad(HEAD "\"roles\":[{\"name\":\"zz\",\"min_level\":3}],\"audiences\":[]}", CC_ERR_MALFORMED,
	    "min_level: must be an integer 0..2");
	bad(HEAD "\"roles\":[{\"name\":\"zz\",\"min_level\":1,\"care\":1}],\"audiences\":[]}", CC_ERR_MALFORMED,
	    "care: must be true or false");
	bad(HEAD "\"roles\":[{\"name\":\"zz\",\"min_level\":1,\"colour\":\"red\"}],\"audiences\":[]}", CC_ERR_MALFORMED,
	    "unknown key \"colour\"");
	bad(HEAD "\"roles\":[{\"name\":\"Zz\",\"min_level\":1}],\"audiences\":[]}", CC_ERR_MALFORMED, "roles[0].name");
	bad(HEAD "\"roles\":[{\"name\":\"zz\",\"min_level\":1},{\"name\":\"zz\",\"min_level\":1}],\"audiences\":[]}",
	    CC_ERR_MALFORMED, "duplicate role");
	bad(HEAD "\"roles\":[{\"name\":\"zz\",\"min_level\":1,\"never_key\":true}],\"audiences\":[]}", CC_ERR_MALFORMED,
	    "never_key");
	bad(HEAD "\"roles\":[{\"name\":\"zz\",\"min_level\":1,\"audit_scope\":\"some\"}],\"audiences\":[]}",
	    CC_ERR_MALFORMED, "audit_scope");
	bad(HEAD "\"roles\":[{\"name\":\"zz\",\"min_level\":1,\"escalate_max\":9}],\"audiences\":[]}", CC_ERR_MALFORMED,
	    "escalate_max");
	bad(HEAD ROLES "\"audiences\":[{\"name\":\"a\",\"roles\":[\"nobody\"]}]}", CC_ERR_UNKNOWN_ROLE,
	    "unknown role \"nobody\"");
	bad(HEAD ROLES "\"audiences\":[{\"name\":\"a\",\"roles\":[\"zz\",\"zz\"]}]}", CC_ERR_MALFORMED, "twice");
	bad(HEAD ROLES "\"audiences\":[{\"name\":\"a\",\"roles\":\"zz\"}]}", CC_ERR_MALFORMED,
	    "roles: must be an array");
	bad(HEAD ROLES "\"audiences\":[{\"name\":\"a\",\"roles\":[],\"ground\":true}]}", CC_ERR_MALFORMED,
	    "unknown key \"ground\"");
	bad(HEAD ROLES "\"audiences\":[{\"name\":\"a\",\"roles\":[]},{\"name\":\"a\",\"roles\":[]}]}", CC_ERR_MALFORMED,
	    "duplicate audience");
	bad("{\"version\":1,\"number\":1,\"deployment\":\"t\",\"levels\":[\"A\",\"A\"]," ROLES "\"audiences\":[]}",
	    CC_ERR_MALFORMED, "duplicate level");
	bad("{\"version\":1,\"number\":1,\"deployment\":\"t\",\"levels\":[]," ROLES "\"audiences\":[]}",
	    CC_ERR_MALFORMED, "levels: must have");
	bad("{\"version\":1,\"number\":1,\"deployment\":\"t\\u0000x\",\"levels\":[\"A\"]," ROLES "\"audiences\":[]}",
	    CC_ERR_MALFORMED, "NUL");
	{
		char path[64];
		snprintf(path, sizeof path, "/nonexistent/casus/policy.json");
		CHECK_EQ_INT(cc_policy_from_json_file(path, &p, err, sizeof err), CC_ERR_IO);
	}
}

int main(void)
{
	kat_rng_install();
	CHECK(sodium_init() >= 0);
	test_default_matches_vector();
	test_roundtrip("default.json");
	test_roundtrip("four-level.json");
	test_policy_is_data();
	test_strict();
	return check_done();
}
