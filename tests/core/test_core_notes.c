/*
 * test_core_notes.c: the structured note kinds of the client core
 * (ccore_notes.h, issue 20): well-formed agenda and afspraak data pass, every
 * malformed or extra field is refused, the readable text carries the facts,
 * the newest note of an action wins whatever order the history lists them in,
 * unverified notes never count, and dates parse and format both ways.
 */
#include "check.h"

#include <ccore.h>
#include <ccore_notes.h>
#include <string.h>

static const uint8_t ID[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
#define DUE 1796169600 /* 2026-12-02 */

static void test_check_kinds(void)
{
	json_t *a = ccore_note_agenda(ID, DUE + 36000, "Stadhuis kamer 3", 1);
	json_t *x = ccore_note_action(ID, "Huisbezoek", "ggd.visser", DUE, 0, 1);
	CHECK(a && x);
	CHECK_EQ_INT(ccore_note_check("agenda", a), CCORE_OK);
	CHECK_EQ_INT(ccore_note_check("afspraak", x), CCORE_OK);
	/* a kind without data must have none; data of one kind is not the other's */
	CHECK_EQ_INT(ccore_note_check("note", NULL), CCORE_OK);
	CHECK_EQ_INT(ccore_note_check("note", a), CCORE_E_INVALID);
	CHECK_EQ_INT(ccore_note_check("agenda", x), CCORE_E_INVALID);
	CHECK_EQ_INT(ccore_note_check("afspraak", NULL), CCORE_E_INVALID);
	/* each field broken in turn */
	static const char *const bad_action[][2] = {
		{"action", "\"0102\""},  {"action", "\"0102030405060708090A0B0C0D0E0F10\""},
		{"what", "\"\""},        {"who", "\"Ggd Visser\""},
		{"due", "12"},           {"done", "0"},
		{"disclosed", "\"ja\""}, {"extra", "1"},
	};
	for (size_t i = 0; i < sizeof bad_action / sizeof bad_action[0]; i++) {
		json_t *y = json_deep_copy(x);
		json_object_set_new(y, bad_action[i][0], json_loads(bad_action[i][1], JSON_DECODE_ANY, NULL));
		CHECK_EQ_INT(ccore_note_check("afspraak", y), CCORE_E_INVALID);
		json_decref(y);
	}
	json_t *y = json_deep_copy(a);
	json_object_del(y, "place");
	CHECK_EQ_INT(ccore_note_check("agenda", y), CCORE_E_INVALID);
	json_decref(y);
	char longer[CCORE_NOTE_PLACE_MAX + 2];
	memset(longer, 'x', sizeof longer - 1);
	longer[sizeof longer - 1] = 0;
	CHECK(ccore_note_agenda(ID, DUE, longer, 1) == NULL);
	CHECK(ccore_note_agenda(ID, DUE, "", 1) == NULL);
	char text[300];
	CHECK_EQ_INT(ccore_note_text("agenda", a, text, sizeof text), CCORE_OK);
	CHECK(strstr(text, "2026-12-02 10:00") && strstr(text, "Stadhuis kamer 3"));
	CHECK_EQ_INT(ccore_note_text("afspraak", x, text, sizeof text), CCORE_OK);
	CHECK(strstr(text, "Huisbezoek") && strstr(text, "ggd.visser") && strstr(text, "2026-12-02"));
	CHECK_EQ_INT(ccore_note_text("afspraak", x, text, 10), CCORE_E_INVALID);
	json_decref(a);
	json_decref(x);
}

static json_t *entry(int seq, int verified, json_t *data, const char *by)
{
	json_t *e = json_pack("{sisbsssos{ss}}", "seq", seq, "verified", verified, "kind", "afspraak", "data", data,
	                      "sender", "user", by);
	json_object_set_new(e, "time", json_integer(DUE - 1000 + seq));
	return e;
}

static void test_fold_newest_wins(void)
{
	uint8_t id2[16];
	memcpy(id2, ID, 16);
	id2[0] = 99;
	json_t *h = json_array();
	/* listed out of order: seq 5 (done) before seq 2 (open) */
	json_array_append_new(h,
	                      entry(5, 1, ccore_note_action(ID, "Huisbezoek", "ggd.visser", DUE, 1, 1), "ggd.visser"));
	json_array_append_new(h,
	                      entry(2, 1, ccore_note_action(ID, "Huisbezoek", "ggd.visser", DUE, 0, 1), "cm.jansen"));
	json_array_append_new(h, entry(3, 1, ccore_note_action(id2, "Uitkering", "cm.jansen", DUE, 0, 0), "cm.jansen"));
	/* an unverified "done" for id2 never counts */
	json_array_append_new(h, entry(9, 0, ccore_note_action(id2, "Uitkering", "cm.jansen", DUE, 1, 0), "x"));
	json_t *f = ccore_actions_fold(h);
	CHECK_EQ_INT((long long)json_array_size(f), 2);
	json_t *r0 = json_array_get(f, 0), *r1 = json_array_get(f, 1);
	CHECK(json_is_true(json_object_get(r0, "done")));
	CHECK_EQ_INT(json_integer_value(json_object_get(r0, "seq")), 5);
	CHECK(strcmp(json_string_value(json_object_get(r0, "by")), "ggd.visser") == 0);
	CHECK(json_is_false(json_object_get(r1, "done")));
	CHECK(json_is_false(json_object_get(r1, "disclosed")));
	json_decref(f);
	json_decref(h);
}

/* the overdue rule of the CLI and the browser: not done and due at or before now */
static void test_overdue(void)
{
	uint8_t id2[16];
	memcpy(id2, ID, 16);
	id2[0] = 98;
	json_t *h = json_array();
	json_array_append_new(h, entry(1, 1, ccore_note_action(ID, "Huisbezoek", "ggd.visser", DUE, 0, 1), "x"));
	json_array_append_new(h, entry(2, 1, ccore_note_action(id2, "Uitkering", "cm.jansen", DUE, 1, 0), "x"));
	json_t *f = ccore_actions_fold(h);
	ccore_actions_mark_overdue(f, DUE - 1);
	CHECK(json_is_false(json_object_get(json_array_get(f, 0), "overdue")));
	ccore_actions_mark_overdue(f, DUE);
	CHECK(json_is_true(json_object_get(json_array_get(f, 0), "overdue")));
	CHECK(json_is_false(json_object_get(json_array_get(f, 1), "overdue"))); /* done: never overdue */
	ccore_actions_mark_overdue(NULL, DUE);                                  /* nothing to mark */
	json_decref(f);
	json_decref(h);
}

static void test_dates(void)
{
	int64_t t;
	char out[20];
	CHECK_EQ_INT(ccore_date_parse("2026-12-02", &t), 0);
	CHECK_EQ_INT(t, DUE);
	CHECK_EQ_INT(ccore_date_parse("2026-12-02T10:30", &t), 0);
	CHECK_EQ_INT(t, DUE + 37800);
	ccore_date_format(t, out);
	CHECK(strcmp(out, "2026-12-02 10:30") == 0);
	CHECK_EQ_INT(ccore_date_parse("2024-02-29", &t), 0);
	ccore_date_format(t, out);
	CHECK(strcmp(out, "2024-02-29") == 0);
	static const char *const bad[] = {"2025-02-29",       "2026-13-01",       "2026-12-32", "26-12-02",
	                                  "2026-12-02T24:00", "2026-12-02 10:00", "morgen",     "",
	                                  "1999-12-31",       "2026-1-02"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		CHECK_EQ_INT(ccore_date_parse(bad[i], &t), -1);
	CHECK_EQ_INT(ccore_date_parse(NULL, &t), -1);
}

int main(void)
{
	CHECK_RUN(test_check_kinds);
	CHECK_RUN(test_fold_newest_wins);
	CHECK_RUN(test_overdue);
	CHECK_RUN(test_dates);
	return check_done();
}
