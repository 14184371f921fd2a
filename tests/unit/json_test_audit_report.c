/*
 * json_test_audit_report.c: the data-subject report (audit/audit_report.c).
 *
 * Shows: only the casus asked for and only the period asked for; rows sorted
 * by time whatever the input order; organisation, role, action, ground and
 * break-glass per row; denied attempts marked; and in the HTML page every
 * string escaped (a hostile organisation name cannot inject markup), with no
 * scripts or external resources. And the grouped report a data subject reads:
 * people named by the display name the trail recorded (sign-in, member added),
 * reads of one person within an hour on one day as one row whose count is the
 * sum of the messages (fetched, live, shared), machinery left out (own keys,
 * fetches of nothing), member changes naming who, level changes from/to, the
 * sentences in Dutch and English and a legend of what each kind means.
 */
#include "audit_report.h"
#include "cc_err.h"
#include "check.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t casus_a[CC_AUDIT_ID_BYTES] = {0xaa, 1};
static const uint8_t casus_b[CC_AUDIT_ID_BYTES] = {0xbb, 2};
#define HOSTILE "<script>alert('x')</script> & \"Zorg\" <img src=x onerror=y>"

static void mk(cc_audit_entry *e, uint64_t seq, int64_t t, unsigned ev, const uint8_t *casus, const char *org,
               const char *role)
{
	cc_audit_entry_init(e);
	e->seq = seq;
	e->time_ms = t;
	e->event = (uint16_t)ev;
	memcpy(e->casus_id, casus, CC_AUDIT_ID_BYTES);
	snprintf(e->actor_org, sizeof e->actor_org, "%s", org);
	snprintf(e->actor_role, sizeof e->actor_role, "%s", role);
	snprintf(e->actor_user, sizeof e->actor_user, "user.%llu", (unsigned long long)seq);
	snprintf(e->legal_basis, sizeof e->legal_basis, "Wmo 2015");
}

static const cc_audit_report_group *find_group(const cc_audit_report_group *g, size_t n, unsigned kind,
                                               const char *user, size_t nth)
{
	for (size_t i = 0; i < n; i++)
		if (g[i].kind == kind && strcmp(g[i].user, user) == 0 && nth-- == 0)
			return &g[i];
	return NULL;
}

static void grouped(void)
{
	/* 2 December 2026 10:00 UTC */
	const int64_t t0 = 1796205600000LL, min = 60000;
	cc_audit_entry es[16];
	size_t n = 0;
	/* sign-ins name the people (no casus) */
	mk(&es[n], n + 1, t0, CC_AUDIT_EV_AUTH, (const uint8_t[16]){0}, "Politie", "politie");
	snprintf(es[n].actor_user, sizeof es[n].actor_user, "peter");
	snprintf(es[n++].object, sizeof es[0].object, "person peter (Peter Smit, politie, Politie)");
	/* the creator adds Anna (named from the commit) */
	mk(&es[n], n + 1, t0 + 1 * min, CC_AUDIT_EV_COMMIT_ADD, casus_a, "Leger des Heils", "casemanager");
	snprintf(es[n].actor_user, sizeof es[n].actor_user, "cm");
	snprintf(es[n++].object, sizeof es[0].object,
	         "commit add epoch 2 members 1->2: +anna (Anna Jansen, ggd, GGD Regio)");
	/* Peter reads: a fetch of 2, a live batch of 1, a shared message received, within 38 minutes */
	mk(&es[n], n + 1, t0 + 2 * min, CC_AUDIT_EV_HISTORY_FETCH, casus_a, "Politie", "politie");
	snprintf(es[n].actor_user, sizeof es[n].actor_user, "peter");
	snprintf(es[n++].object, sizeof es[0].object, "messages 2");
	mk(&es[n], n + 1, t0 + 2 * min + 1, CC_AUDIT_EV_KEY_FETCH, casus_a, "Politie", "politie"); /* machinery */
	snprintf(es[n++].actor_user, sizeof es[0].actor_user, "peter");
	mk(&es[n], n + 1, t0 + 20 * min, CC_AUDIT_EV_HISTORY_FETCH, casus_a, "Politie", "politie");
	snprintf(es[n].actor_user, sizeof es[n].actor_user, "peter");
	snprintf(es[n++].object, sizeof es[0].object,
	         "live delivery: messages 1, first 2026-12-02T10:20:00Z, last 2026-12-02T10:20:00Z");
	mk(&es[n], n + 1, t0 + 30 * min, CC_AUDIT_EV_GRANT_FETCH, casus_a, "Politie", "politie"); /* nothing */
	snprintf(es[n].actor_user, sizeof es[n].actor_user, "peter");
	snprintf(es[n++].object, sizeof es[0].object, "grants 0 messages 0");
	mk(&es[n], n + 1, t0 + 40 * min, CC_AUDIT_EV_GRANT_FETCH, casus_a, "Politie", "politie");
	snprintf(es[n].actor_user, sizeof es[n].actor_user, "peter");
	snprintf(es[n++].object, sizeof es[0].object, "grants 1 messages 1");
	/* an empty fetch, and a read two hours later: another moment */
	mk(&es[n], n + 1, t0 + 50 * min, CC_AUDIT_EV_HISTORY_FETCH, casus_a, "Politie", "politie");
	snprintf(es[n].actor_user, sizeof es[n].actor_user, "peter");
	snprintf(es[n++].object, sizeof es[0].object, "messages 0");
	mk(&es[n], n + 1, t0 + 160 * min, CC_AUDIT_EV_HISTORY_FETCH, casus_a, "Politie", "politie");
	snprintf(es[n].actor_user, sizeof es[n].actor_user, "peter");
	snprintf(es[n++].object, sizeof es[0].object, "messages 3");
	/* Anna de-escalates, which removes Peter */
	mk(&es[n], n + 1, t0 + 170 * min, CC_AUDIT_EV_COMMIT_LEVEL, casus_a, "GGD Regio", "ggd");
	snprintf(es[n].actor_user, sizeof es[n].actor_user, "anna");
	es[n].level_prev = 4;
	es[n].level = 2;
	snprintf(es[n++].object, sizeof es[0].object,
	         "commit deescalate epoch 5 level 4->2 members 3->2: -peter (Peter Smit, politie, Politie)");

	cc_audit_report_opts o;
	memset(&o, 0, sizeof o);
	memcpy(o.casus_id, casus_a, sizeof casus_a);
	cc_audit_report_group *g;
	size_t ng;
	CHECK_EQ_INT(cc_audit_report_groups(es, n, &o, &g, &ng), CC_OK);
	CHECK_EQ_INT(ng, 4); /* add, Peter's morning reads, Peter's later read, level */
	const cc_audit_report_group *r1 = find_group(g, ng, CC_AUDIT_KIND_READ, "peter", 0);
	const cc_audit_report_group *r2 = find_group(g, ng, CC_AUDIT_KIND_READ, "peter", 1);
	CHECK(r1 && r2);
	if (r1 && r2) {
		CHECK_EQ_INT(r1->count, 4); /* 2 fetched + 1 live + 1 shared */
		CHECK_EQ_INT(r1->entries, 3);
		CHECK_EQ_INT(r2->count, 3);
		CHECK(strcmp(r1->person, "Peter Smit") == 0);
		CHECK(strcmp(r1->text_nl,
		             "Peter Smit (politie, Politie) las 4 berichten op 2 december 2026 tussen 11:02 en 11:40 (Nederlandse "
		             "tijd, CET).") == 0);
		CHECK(strcmp(r1->text_en,
		             "Peter Smit (politie, Politie) read 4 messages on 2 December 2026 between 11:02 and 11:40 (Amsterdam "
		             "time, CET).") == 0);
		CHECK(strstr(r2->text_nl, "las 3 berichten op 2 december 2026 om 13:40 (Nederlandse tijd, CET)") !=
		      NULL);
	}
	const cc_audit_report_group *ad = find_group(g, ng, CC_AUDIT_KIND_ADD, "cm", 0);
	CHECK(ad && strcmp(ad->object, "Anna Jansen (ggd, GGD Regio)") == 0);
	const cc_audit_report_group *lv = find_group(g, ng, CC_AUDIT_KIND_LEVEL, "anna", 0);
	CHECK(lv && strstr(lv->text_nl, "Anna Jansen (ggd, GGD Regio) schaalde af van niveau 4 naar 2; daarmee uit het "
	                                "overleg: Peter Smit (politie, Politie)") != NULL);
	CHECK(lv && strstr(lv->text_en, "de-escalated from level 4 to 2") != NULL);
	/* chronological */
	for (size_t i = 1; i < ng; i++)
		CHECK(g[i - 1].first_ms <= g[i].first_ms);
	free(g);
	/* names from the trail */
	char nm[64];
	CHECK_EQ_INT(cc_audit_person_name(es, n, "anna", nm, sizeof nm), CC_OK);
	CHECK(strcmp(nm, "Anna Jansen") == 0);
	CHECK_EQ_INT(cc_audit_person_name(es, n, "nobody", nm, sizeof nm), CC_ERR_NOT_FOUND);
	/* the HTML says what each kind of row means, in both languages */
	char *html = cc_audit_report_html(es, n, &o);
	CHECK(html && strstr(html, cc_audit_report_kind_meaning(CC_AUDIT_KIND_READ, 0)) != NULL);
	CHECK(html && strstr(html, cc_audit_report_kind_meaning(CC_AUDIT_KIND_READ, 1)) != NULL);
	CHECK(html && strstr(html, "las 4 berichten") != NULL && strstr(html, "read 4 messages") != NULL);
	free(html);
}

/* Times as the Dutch wall clock shows them, the zone named (issue 14). */
static void amsterdam_time(void)
{
	char t[CC_AUDIT_TIME_LOCAL_BYTES];
	cc_audit_time_amsterdam(1796205600000LL, t); /* 2026-12-02 10:00:00 UTC: winter */
	CHECK(strcmp(t, "2026-12-02 11:00:00 CET") == 0);
	cc_audit_time_amsterdam(1782914400000LL, t); /* 2026-07-01 14:00:00 UTC: summer */
	CHECK(strcmp(t, "2026-07-01 16:00:00 CEST") == 0);
	/* summer time starts on the last Sunday of March (2026-03-29) at 01:00 UTC ... */
	cc_audit_time_amsterdam(1774745999000LL, t); /* 00:59:59 UTC */
	CHECK(strcmp(t, "2026-03-29 01:59:59 CET") == 0);
	cc_audit_time_amsterdam(1774746000000LL, t); /* 01:00:00 UTC */
	CHECK(strcmp(t, "2026-03-29 03:00:00 CEST") == 0);
	/* ... and ends on the last Sunday of October (2026-10-25) at 01:00 UTC */
	cc_audit_time_amsterdam(1792889999000LL, t);
	CHECK(strcmp(t, "2026-10-25 02:59:59 CEST") == 0);
	cc_audit_time_amsterdam(1792890000000LL, t);
	CHECK(strcmp(t, "2026-10-25 02:00:00 CET") == 0);
	/* the report's sentences and page say Amsterdam time, not UTC */
	cc_audit_entry e;
	static const uint8_t cid[16] = {9};
	mk(&e, 1, 1782914400000LL, CC_AUDIT_EV_HISTORY_FETCH, cid, "Politie", "politie");
	snprintf(e.actor_user, sizeof e.actor_user, "peter");
	snprintf(e.object, sizeof e.object, "messages 2");
	e.seq_from = 1;
	e.seq_to = 2;
	cc_audit_report_opts o;
	memset(&o, 0, sizeof o);
	memcpy(o.casus_id, cid, 16);
	cc_audit_report_group *g;
	size_t ng;
	CHECK_EQ_INT(cc_audit_report_groups(&e, 1, &o, &g, &ng), CC_OK);
	CHECK(ng == 1 && strstr(g[0].text_nl, "om 16:00 (Nederlandse tijd, CEST)") != NULL);
	CHECK(ng == 1 && strstr(g[0].text_en, "at 16:00 (Amsterdam time, CEST)") != NULL);
	free(g);
	char *html = cc_audit_report_html(&e, 1, &o);
	CHECK(html && strstr(html, "2026-07-01 16:00:00 CEST") != NULL && strstr(html, "Europe/Amsterdam") != NULL);
	CHECK(html && strstr(html, "UTC") == NULL);
	free(html);
	char *js = cc_audit_report_json(&e, 1, &o);
	json_t *jo = js ? json_loads(js, 0, NULL) : NULL;
	CHECK(jo && strcmp(json_string_value(json_object_get(jo, "time_zone")) ?: "", "Europe/Amsterdam") == 0);
	json_t *row = json_array_get(json_object_get(jo, "rows"), 0);
	CHECK(row &&
	      strcmp(json_string_value(json_object_get(row, "time_amsterdam")) ?: "", "2026-07-01 16:00:00 CEST") == 0);
	json_decref(jo);
	free(js);
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	const int64_t day = 86400000LL, t0 = 1795000000000LL;
	cc_audit_entry es[8];
	/* deliberately out of time order */
	mk(&es[0], 5, t0 + 3 * day, CC_AUDIT_EV_HISTORY_FETCH, casus_a, "Politie Eenheid", "politie");
	snprintf(es[0].object, sizeof es[0].object, "messages 2");
	mk(&es[1], 2, t0 + 1 * day, CC_AUDIT_EV_HISTORY_FETCH, casus_a, HOSTILE, "ggd");
	snprintf(es[1].object, sizeof es[1].object, "messages 1");
	mk(&es[2], 3, t0 + 2 * day, CC_AUDIT_EV_COMMIT_BREAK_GLASS, casus_a, "Huisartsenpost", "ketenpartner");
	es[2].break_glass = 1;
	mk(&es[3], 4, t0 + 2 * day, CC_AUDIT_EV_HISTORY_FETCH, casus_b, "Other casus org", "ggd");
	mk(&es[4], 1, t0 - 5 * day, CC_AUDIT_EV_CASUS_CREATE, casus_a, "Leger des Heils", "casemanager");
	mk(&es[5], 6, t0 + 4 * day, CC_AUDIT_EV_KEY_FETCH, casus_a, "Gemeente", "beleid");
	es[5].outcome = CC_AUDIT_OUTCOME_DENIED;
	mk(&es[6], 7, t0 + 4 * day + 1, CC_AUDIT_EV_COMMIT_LEVEL, casus_a, "ZVH", "procesregisseur");
	es[6].level_prev = 2;
	es[6].level = 3;
	mk(&es[7], 8, t0 + 10 * day, CC_AUDIT_EV_GRANT, casus_a, "Leger des Heils", "casemanager");
	es[7].ground = 1;

	cc_audit_report_opts o;
	memset(&o, 0, sizeof o);
	memcpy(o.casus_id, casus_a, sizeof casus_a);
	o.from_ms = t0;
	o.to_ms = t0 + 10 * day; /* excludes es[7] (at the end, exclusive) and es[4] (before) */
	o.generated_ms = t0 + 11 * day;

	cc_audit_report_row *rows;
	size_t nr;
	CHECK_EQ_INT(cc_audit_report_rows(es, 8, &o, &rows, &nr), CC_OK);
	CHECK_EQ_INT(nr, 5);
	if (nr == 5) {
		CHECK_EQ_INT(rows[0].seq, 2);
		CHECK_EQ_INT(rows[1].seq, 3);
		CHECK_EQ_INT(rows[2].seq, 5);
		CHECK_EQ_INT(rows[3].seq, 6);
		CHECK_EQ_INT(rows[4].seq, 7);
		CHECK(rows[1].break_glass == 1 && rows[0].break_glass == 0);
		CHECK(strstr(rows[3].action, "(geweigerd)") != NULL);
		CHECK(strcmp(rows[4].action, "opgeschaald van niveau 2 naar 3") == 0);
		CHECK(strcmp(rows[0].ground, "Wmo 2015") == 0);
	}
	free(rows);
	/* the grant at the end shows its disclosure ground */
	o.to_ms = 0;
	CHECK_EQ_INT(cc_audit_report_rows(es, 8, &o, &rows, &nr), CC_OK);
	CHECK_EQ_INT(nr, 6);
	if (nr == 6)
		CHECK(strcmp(rows[5].ground, "toestemming") == 0);
	free(rows);
	o.to_ms = t0 + 10 * day;
	/* a zero casus id is refused (a report is about one casus) */
	cc_audit_report_opts z = o;
	memset(z.casus_id, 0, sizeof z.casus_id);
	CHECK_EQ_INT(cc_audit_report_rows(es, 8, &z, &rows, &nr), CC_ERR_INVALID_ARG);

	/* JSON */
	char *js = cc_audit_report_json(es, 8, &o);
	CHECK(js != NULL);
	json_error_t jerr;
	json_t *j = js ? json_loads(js, JSON_REJECT_DUPLICATES, &jerr) : NULL;
	CHECK(j != NULL);
	json_t *jr = json_object_get(j, "rows");
	CHECK_EQ_INT(json_array_size(jr), 5);
	json_t *r0 = json_array_get(jr, 0), *r1 = json_array_get(jr, 1);
	CHECK(strcmp(json_string_value(json_object_get(r0, "organisation")), HOSTILE) == 0);
	CHECK(strcmp(json_string_value(json_object_get(r0, "role")), "ggd") == 0);
	CHECK(strcmp(json_string_value(json_object_get(r0, "event")), "history_fetch") == 0);
	CHECK(json_is_false(json_object_get(r0, "break_glass")));
	CHECK(json_is_true(json_object_get(r1, "break_glass")));
	CHECK(json_object_get(r0, "time") && json_object_get(r0, "action") && json_object_get(r0, "ground"));
	/* without a recorded name a person is shown by user id */
	CHECK(strcmp(json_string_value(json_object_get(r0, "person")), "user.2") == 0);
	CHECK(json_array_size(json_object_get(j, "legend")) == CC_AUDIT_KIND_MAX);
	CHECK(strcmp(json_string_value(json_object_get(j, "casus")), "aa01000000000000000000000000000000") != 0);
	CHECK(strcmp(json_string_value(json_object_get(j, "casus")), "aa010000000000000000000000000000") == 0);
	json_decref(j);
	free(js);

	/* HTML: the hostile organisation is escaped; nothing executable */
	o.subject = "dossier <b>R-17</b>";
	char *html = cc_audit_report_html(es, 8, &o);
	CHECK(html != NULL);
	if (html) {
		CHECK(strncmp(html, "<!DOCTYPE html>", 15) == 0);
		CHECK(strstr(html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;Zorg&quot; "
		                   "&lt;img src=x onerror=y&gt;") != NULL);
		CHECK(strstr(html, "<script") == NULL);
		CHECK(strstr(html, "<img") == NULL);
		CHECK(strstr(html, "dossier &lt;b&gt;R-17&lt;/b&gt;") != NULL);
		CHECK(strstr(html, "<b>") == NULL);
		CHECK(strstr(html, "src=\"") == NULL && strstr(html, "href=") == NULL);
		CHECK(strstr(html, "Other casus org") == NULL);
		CHECK(strstr(html, "<tr class=\"nood\"><td>") != NULL);
		CHECK(strstr(html, "Huisartsenpost") != NULL);
		CHECK(strstr(html, "</html>\n") != NULL);
		/* rows appear in time order */
		const char *p1 = strstr(html, "&lt;script"), *p2 = strstr(html, "Huisartsenpost"),
			   *p3 = strstr(html, "Politie Eenheid");
		CHECK(p1 && p2 && p3 && p1 < p2 && p2 < p3);
	}
	free(html);

	/* an empty period still yields a page that says so */
	o.from_ms = t0 + 100 * day;
	o.to_ms = 0;
	html = cc_audit_report_html(es, 8, &o);
	CHECK(html && strstr(html, "niemand") != NULL && strstr(html, "<table>") == NULL);
	free(html);

	grouped();

	/* the escaper itself */
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CHECK_EQ_INT(cc_audit_html_escape(f, "a<b>&\"c'"), CC_OK);
	fclose(f);
	CHECK(strcmp(buf, "a&lt;b&gt;&amp;&quot;c&#39;") == 0);
	free(buf);
	amsterdam_time();
	return check_done();
}
