/*
 * ccore_notes.c: the structured note kinds (ccore_notes.h).
 */
#include "ccore_notes.h"
#include "ccore.h"

#include <cc_cert.h>
#include <cc_keys.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define DATE_MIN 946684800LL  /* 2000-01-01 */
#define DATE_MAX 7258118400LL /* 2200-01-01 */

static int hex32_ok(const char *s)
{
	if (!s || strlen(s) != 32)
		return 0;
	for (size_t i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

static int text_ok(const json_t *v, size_t max)
{
	const char *s = json_string_value(v);
	return s && *s && json_string_length(v) <= max && strlen(s) == json_string_length(v) &&
	       cc_text_check(s, max) == 0;
}

static int date_ok(const json_t *v)
{
	return json_is_integer(v) && json_integer_value(v) >= DATE_MIN && json_integer_value(v) < DATE_MAX;
}

/* Only the named keys, each present. */
static int keys_exact(const json_t *o, const char *const *keys)
{
	size_t n = 0;
	for (; keys[n]; n++)
		if (!json_object_get(o, keys[n]))
			return 0;
	return json_object_size(o) == n;
}

int ccore_note_check(const char *kind, const json_t *data)
{
	static const char *const agenda_keys[] = {"agenda", "date", "place", "disclosed", NULL};
	static const char *const action_keys[] = {"action", "what", "who", "due", "done", "disclosed", NULL};
	if (!kind)
		return CCORE_E_INVALID;
	if (strcmp(kind, "agenda") == 0)
		return json_is_object(data) && keys_exact(data, agenda_keys) &&
		                       hex32_ok(json_string_value(json_object_get(data, "agenda"))) &&
		                       date_ok(json_object_get(data, "date")) &&
		                       text_ok(json_object_get(data, "place"), CCORE_NOTE_PLACE_MAX) &&
		                       json_is_boolean(json_object_get(data, "disclosed"))
		               ? CCORE_OK
		               : CCORE_E_INVALID;
	if (strcmp(kind, "afspraak") == 0)
		return json_is_object(data) && keys_exact(data, action_keys) &&
		                       hex32_ok(json_string_value(json_object_get(data, "action"))) &&
		                       text_ok(json_object_get(data, "what"), CCORE_NOTE_WHAT_MAX) &&
		                       json_string_value(json_object_get(data, "who")) &&
		                       cc_ident_check(json_string_value(json_object_get(data, "who")),
		                                      CC_USER_ID_MAX) == 0 &&
		                       date_ok(json_object_get(data, "due")) &&
		                       json_is_boolean(json_object_get(data, "done")) &&
		                       json_is_boolean(json_object_get(data, "disclosed"))
		               ? CCORE_OK
		               : CCORE_E_INVALID;
	return data ? CCORE_E_INVALID : CCORE_OK;
}

json_t *ccore_note_agenda(const uint8_t id[16], int64_t date, const char *place, int disclosed)
{
	char h[33];
	if (!id || !place)
		return NULL;
	sodium_bin2hex(h, sizeof h, id, 16);
	json_t *o = json_pack("{sssIsssb}", "agenda", h, "date", (json_int_t)date, "place", place, "disclosed",
	                      disclosed ? 1 : 0);
	if (o && ccore_note_check("agenda", o) != CCORE_OK) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

json_t *ccore_note_action(const uint8_t id[16], const char *what, const char *who, int64_t due, int done, int disclosed)
{
	char h[33];
	if (!id || !what || !who)
		return NULL;
	sodium_bin2hex(h, sizeof h, id, 16);
	json_t *o = json_pack("{sssssssIsbsb}", "action", h, "what", what, "who", who, "due", (json_int_t)due, "done",
	                      done ? 1 : 0, "disclosed", disclosed ? 1 : 0);
	if (o && ccore_note_check("afspraak", o) != CCORE_OK) {
		json_decref(o);
		o = NULL;
	}
	return o;
}

int ccore_note_text(const char *kind, const json_t *data, char *out, size_t n)
{
	char d[20];
	int w;
	if (ccore_note_check(kind, data) != CCORE_OK || !data)
		return CCORE_E_INVALID;
	if (strcmp(kind, "agenda") == 0) {
		ccore_date_format((int64_t)json_integer_value(json_object_get(data, "date")), d);
		w = snprintf(out, n, "Casuïstiekoverleg op %s (UTC), plaats: %s", d,
		             json_string_value(json_object_get(data, "place")));
	} else {
		ccore_date_format((int64_t)json_integer_value(json_object_get(data, "due")), d);
		w = snprintf(out, n, "Afspraak%s: %s, wie: %s, uiterlijk %s",
		             json_is_true(json_object_get(data, "done")) ? " (gedaan)" : "",
		             json_string_value(json_object_get(data, "what")),
		             json_string_value(json_object_get(data, "who")), d);
	}
	return w >= 0 && (size_t)w < n ? CCORE_OK : CCORE_E_INVALID;
}

json_t *ccore_actions_fold(const json_t *history)
{
	json_t *res = json_array();
	size_t i;
	json_t *e;
	json_array_foreach((json_t *)(uintptr_t)history, i, e) {
		const char *kind = json_string_value(json_object_get(e, "kind"));
		json_t *data = json_object_get(e, "data");
		if (!json_is_true(json_object_get(e, "verified")) || !kind || strcmp(kind, "afspraak") != 0 ||
		    ccore_note_check(kind, data) != CCORE_OK)
			continue;
		const char *aid = json_string_value(json_object_get(data, "action"));
		json_t *row = NULL;
		size_t j;
		json_t *x;
		json_array_foreach(res, j, x)
			if (strcmp(json_string_value(json_object_get(x, "action")), aid) == 0)
				row = x;
		json_int_t seq = json_integer_value(json_object_get(e, "seq"));
		if (row && json_integer_value(json_object_get(row, "seq")) > seq)
			continue; /* an older version listed after a newer one */
		json_t *nrow = json_deep_copy(data);
		if (!nrow)
			continue;
		json_object_set_new(nrow, "seq", json_integer(seq));
		json_object_set(nrow, "time", json_object_get(e, "time"));
		const char *by = json_string_value(json_object_get(json_object_get(e, "sender"), "user"));
		json_object_set_new(nrow, "by", json_string(by ? by : "?"));
		if (row) {
			json_object_update(row, nrow);
			json_decref(nrow);
		} else {
			json_array_append_new(res, nrow);
		}
	}
	return res;
}

/* Days since 1970-01-01 of a civil date, and back (H. Hinnant's algorithms). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int *y, unsigned *m, unsigned *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t yy = (int64_t)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yy + (*m <= 2));
}

static int digits(const char *s, int n, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*out = v;
	return 0;
}

int ccore_date_parse(const char *s, int64_t *out)
{
	unsigned y, m, d, hh = 0, mm = 0;
	static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	size_t n = s ? strlen(s) : 0;
	if ((n != 10 && n != 16) || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &m) || s[7] != '-' ||
	    digits(s + 8, 2, &d))
		return -1;
	if (n == 16 && (s[10] != 'T' || digits(s + 11, 2, &hh) || s[13] != ':' || digits(s + 14, 2, &mm)))
		return -1;
	if (y < 2000 || y >= 2200 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] || hh > 23 || mm > 59)
		return -1;
	int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (m == 2 && d == 29 && !leap)
		return -1;
	*out = days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60;
	return 0;
}

void ccore_date_format(int64_t t, char out[20])
{
	int64_t days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t secs = t - days * 86400;
	int y;
	unsigned m, d;
	civil_from_days(days, &y, &m, &d);
	/* bounded fields, so the text always fits */
	unsigned yy = (unsigned)(y < 0 ? 0 : y % 10000), hh = (unsigned)(secs / 3600) % 24,
		 mi = (unsigned)(secs % 3600 / 60) % 60;
	m %= 13;
	d %= 32;
	if (secs)
		snprintf(out, 20, "%04u-%02u-%02u %02u:%02u", yy, m, d, hh, mi);
	else
		snprintf(out, 20, "%04u-%02u-%02u", yy, m, d);
}

void ccore_actions_mark_overdue(json_t *actions, int64_t now)
{
	size_t i;
	json_t *o;
	json_array_foreach(actions, i, o) {
		int over = !json_is_true(json_object_get(o, "done")) &&
		           (int64_t)json_integer_value(json_object_get(o, "due")) <= now;
		json_object_set_new(o, "overdue", json_boolean(over));
	}
}
