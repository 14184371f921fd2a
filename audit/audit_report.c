/*
 * audit_report.c: the per-casus access report for a data subject (see
 * audit_report.h). Pure: entries in, a string out.
 */
#include "audit_report.h"
#include "audit_export.h"
#include "cc_err.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Dutch wording of each action, as a person reading her report would say it. */
static const char *action_nl(unsigned ev)
{
	switch (ev) {
	case CC_AUDIT_EV_AUTH:
		return "aangemeld";
	case CC_AUDIT_EV_CASUS_CREATE:
		return "dossier geopend";
	case CC_AUDIT_EV_CASUS_CLOSE:
		return "dossier gesloten";
	case CC_AUDIT_EV_CASUS_LIST:
		return "dossiergegevens opgevraagd";
	case CC_AUDIT_EV_COMMIT_ADD:
		return "deelnemer toegevoegd";
	case CC_AUDIT_EV_COMMIT_REMOVE:
		return "deelnemer verwijderd";
	case CC_AUDIT_EV_COMMIT_LEVEL:
		return "niveau gewijzigd";
	case CC_AUDIT_EV_COMMIT_ROTATE:
		return "sleutels vernieuwd";
	case CC_AUDIT_EV_COMMIT_BREAK_GLASS:
		return "noodtoegang verleend";
	case CC_AUDIT_EV_MESSAGE_POST:
		return "bericht geschreven";
	case CC_AUDIT_EV_HISTORY_FETCH:
		return "berichten ingezien";
	case CC_AUDIT_EV_KEY_FETCH:
		return "sleutel opgehaald om berichten te lezen";
	case CC_AUDIT_EV_COMMIT_FETCH:
		return "deelnemerslijst ingezien";
	case CC_AUDIT_EV_GRANT:
		return "eerdere berichten gedeeld met een nieuw lid";
	case CC_AUDIT_EV_GRANT_FETCH:
		return "gedeelde berichten ontvangen";
	case CC_AUDIT_EV_AUDIT_QUERY:
		return "logboek van het dossier ingezien";
	case CC_AUDIT_EV_EXPORT:
		return "logboek of overzicht geëxporteerd";
	case CC_AUDIT_EV_PURGE:
		return "inhoud verwijderd na de bewaartermijn";
	case CC_AUDIT_EV_AUDIT_PRUNE:
		return "oude logregels verwijderd na de bewaartermijn";
	case CC_AUDIT_EV_REQUEST_DENIED:
		return "verzoek";
	default:
		return NULL;
	}
}

static const char *ground_nl(unsigned g)
{
	switch (g) {
	case 1:
		return "toestemming";
	case 2:
		return "wettelijke plicht";
	case 3:
		return "conflict van plichten";
	case 4:
		return "wettelijk meldrecht";
	case 5:
		return "bevat geen zorginformatie";
	default:
		return NULL;
	}
}

static int row_cmp(const void *a, const void *b)
{
	const cc_audit_report_row *x = a, *y = b;
	if (x->time_ms != y->time_ms)
		return x->time_ms < y->time_ms ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

int cc_audit_report_rows(const cc_audit_entry *entries, size_t n, const cc_audit_report_opts *opts,
                         cc_audit_report_row **rows, size_t *nrows)
{
	if (!rows || !nrows || !opts || (!entries && n))
		return CC_ERR_INVALID_ARG;
	*rows = NULL;
	*nrows = 0;
	static const uint8_t zero[CC_AUDIT_ID_BYTES];
	if (memcmp(opts->casus_id, zero, sizeof zero) == 0)
		return CC_ERR_INVALID_ARG; /* a report is always about one casus */
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (memcmp(entries[i].casus_id, opts->casus_id, CC_AUDIT_ID_BYTES) == 0)
			k++;
	if (!k)
		return CC_OK;
	cc_audit_report_row *r = calloc(k, sizeof(*r));
	if (!r)
		return CC_ERR_NOMEM;
	k = 0;
	for (size_t i = 0; i < n; i++) {
		const cc_audit_entry *e = &entries[i];
		if (memcmp(e->casus_id, opts->casus_id, CC_AUDIT_ID_BYTES) != 0)
			continue;
		if (e->time_ms < opts->from_ms || (opts->to_ms && e->time_ms >= opts->to_ms))
			continue;
		cc_audit_report_row *w = &r[k++];
		w->time_ms = e->time_ms;
		w->seq = e->seq;
		w->org = e->actor_org;
		w->role = e->actor_role;
		w->break_glass = e->break_glass ? 1 : 0;
		w->outcome = e->outcome;
		w->event = e->event;
		const char *a = action_nl(e->event);
		char base[96];
		if (!a) {
			snprintf(base, sizeof base, "overige actie (code %u)", (unsigned)e->event);
			a = base;
		} else if (e->event == CC_AUDIT_EV_COMMIT_LEVEL) {
			snprintf(base, sizeof base, "%s van niveau %u naar %u",
			         e->level > e->level_prev ? "opgeschaald" : "afgeschaald", (unsigned)e->level_prev,
			         (unsigned)e->level);
			a = base;
		}
		const char *res = e->outcome == CC_AUDIT_OUTCOME_DENIED  ? " (geweigerd)"
		                  : e->outcome == CC_AUDIT_OUTCOME_ERROR ? " (mislukt)"
		                                                         : "";
		snprintf(w->action, sizeof w->action, "%s%s", a, res);
		const char *g = ground_nl(e->ground);
		snprintf(w->ground, sizeof w->ground, "%s", g ? g : e->legal_basis[0] ? e->legal_basis : "-");
	}
	if (!k) {
		free(r);
		return CC_OK;
	}
	qsort(r, k, sizeof(*r), row_cmp);
	*rows = r;
	*nrows = k;
	return CC_OK;
}

/* ---- groups: what a data subject reads ------------------------------------------ */

#define GROUP_GAP_MS (60LL * 60 * 1000) /* entries more than an hour apart are another moment */

const char *cc_audit_report_kind_name(unsigned kind)
{
	static const char *const names[] = {NULL,     "read",  "write", "share", "add",
	                                    "remove", "level", "file",  "audit", "other"};
	return kind >= 1 && kind <= CC_AUDIT_KIND_MAX ? names[kind] : NULL;
}

const char *cc_audit_report_kind_meaning(unsigned kind, int english)
{
	static const char *const nl[] = {
		NULL,
		"Iemand las berichten uit uw dossier: opgehaald, binnengekomen in een geopend overleg, of met "
		"hem of haar gedeeld. Het aantal is het aantal berichten dat naar zijn of haar apparaat ging.",
		"Iemand schreef berichten in uw dossier.",
		"Iemand deelde eerdere berichten met een (nieuw) lid van het overleg, op de genoemde grond.",
		"Iemand liet een persoon toe tot het overleg over u (met noodtoegang: buiten de gewone regels, "
		"achteraf te beoordelen).",
		"Iemand haalde een persoon uit het overleg over u.",
		"Iemand veranderde het niveau van het overleg; afschalen haalt wie op het lagere niveau niet "
		"meedoet uit het overleg.",
		"Het dossier werd geopend of gesloten, of de inhoud werd na de bewaartermijn verwijderd.",
		"Iemand bekeek of exporteerde het logboek van uw dossier (dit overzicht hoort daarbij).",
		"Een andere handeling of een geweigerd verzoek.",
	};
	static const char *const en[] = {
		NULL,
		"Someone read messages in your file: fetched, arriving in an open conference view, or shared "
		"with them. The count is the number of messages that went to their device.",
		"Someone wrote messages in your file.",
		"Someone shared earlier messages with a (new) member of the conference, on the ground shown.",
		"Someone admitted a person to the conference about you (emergency access: outside the usual "
		"rules, to be reviewed afterwards).",
		"Someone removed a person from the conference about you.",
		"Someone changed the level of the conference; lowering it removes whoever the lower level does "
		"not admit.",
		"The file was opened or closed, or its content was deleted after its retention period.",
		"Someone read or exported the audit trail of your file (this report is one such export).",
		"Another action or a refused request.",
	};
	if (kind < 1 || kind > CC_AUDIT_KIND_MAX)
		return NULL;
	return english ? en[kind] : nl[kind];
}

/* The number after the first "messages " in an object, or 0. */
static uint64_t object_count(const char *obj)
{
	const char *p = strstr(obj, "messages ");
	if (!p)
		return 0;
	p += 9;
	uint64_t n = 0;
	while (*p >= '0' && *p <= '9' && n < UINT64_MAX / 10)
		n = n * 10 + (uint64_t)(*p++ - '0');
	return n;
}

/* Kind of an entry; 0 = machinery left out of the report. */
static unsigned entry_kind(const cc_audit_entry *e, uint64_t *count)
{
	int ok = e->outcome == CC_AUDIT_OUTCOME_SUCCESS;
	*count = 1;
	switch (e->event) {
	case CC_AUDIT_EV_HISTORY_FETCH:
	case CC_AUDIT_EV_GRANT_FETCH:
		*count = object_count(e->object);
		return ok && *count == 0 ? 0 : CC_AUDIT_KIND_READ;
	case CC_AUDIT_EV_MESSAGE_POST:
		return CC_AUDIT_KIND_WRITE;
	case CC_AUDIT_EV_GRANT:
		*count = ok ? object_count(e->object) : 0;
		return CC_AUDIT_KIND_SHARE;
	case CC_AUDIT_EV_COMMIT_ADD:
	case CC_AUDIT_EV_COMMIT_BREAK_GLASS:
		return CC_AUDIT_KIND_ADD;
	case CC_AUDIT_EV_COMMIT_REMOVE:
		return CC_AUDIT_KIND_REMOVE;
	case CC_AUDIT_EV_COMMIT_LEVEL:
		return CC_AUDIT_KIND_LEVEL;
	case CC_AUDIT_EV_CASUS_CREATE:
	case CC_AUDIT_EV_CASUS_CLOSE:
	case CC_AUDIT_EV_PURGE:
		return CC_AUDIT_KIND_FILE;
	case CC_AUDIT_EV_AUDIT_QUERY:
	case CC_AUDIT_EV_EXPORT:
		return CC_AUDIT_KIND_AUDIT;
	case CC_AUDIT_EV_KEY_FETCH:
	case CC_AUDIT_EV_COMMIT_FETCH:
	case CC_AUDIT_EV_COMMIT_ROTATE:
	case CC_AUDIT_EV_AUTH:
	case CC_AUDIT_EV_CASUS_LIST:
		/* a member's own keys, the roster, a rotation: nothing about the
		 * file is revealed; a refused attempt still is reported */
		return ok ? 0 : CC_AUDIT_KIND_OTHER;
	default:
		return CC_AUDIT_KIND_OTHER;
	}
}

/* user id -> display name, from "person USER (Name, ...)" (auth) and
 * "+USER (Name, ...)" (members added) objects. */
struct names {
	const char **user; /* point into entries */
	size_t *ulen;
	char (*name)[CC_AUDIT_OBJECT_MAX + 1];
	size_t n, cap;
};

static void names_add(struct names *m, const char *user, size_t ulen, const char *name, size_t nlen)
{
	if (!ulen || !nlen || nlen > CC_AUDIT_OBJECT_MAX)
		return;
	for (size_t i = 0; i < m->n; i++)
		if (m->ulen[i] == ulen && memcmp(m->user[i], user, ulen) == 0) {
			memcpy(m->name[i], name, nlen); /* the newest certificate's name wins */
			m->name[i][nlen] = 0;
			return;
		}
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 16;
		const char **u = realloc(m->user, nc * sizeof(*u));
		if (!u)
			return;
		m->user = u;
		size_t *l = realloc(m->ulen, nc * sizeof(*l));
		if (!l)
			return;
		m->ulen = l;
		char(*nm)[CC_AUDIT_OBJECT_MAX + 1] = realloc(m->name, nc * sizeof(*nm));
		if (!nm)
			return;
		m->name = nm;
		m->cap = nc;
	}
	m->user[m->n] = user;
	m->ulen[m->n] = ulen;
	memcpy(m->name[m->n], name, nlen);
	m->name[m->n][nlen] = 0;
	m->n++;
}

/* Parse "USER (Name, ..." at p; on success names_add and return 1. */
static int parse_person(struct names *m, const char *p)
{
	const char *sp = strstr(p, " (");
	if (!sp || sp == p)
		return 0;
	for (const char *q = p; q < sp; q++)
		if (*q == ' ' || *q == ',' || *q == '(')
			return 0;
	const char *nm = sp + 2, *end = strstr(nm, ", ");
	if (!end)
		return 0;
	names_add(m, p, (size_t)(sp - p), nm, (size_t)(end - nm));
	return 1;
}

static void names_scan(struct names *m, const cc_audit_entry *e)
{
	const char *o = e->object;
	if (e->event == CC_AUDIT_EV_AUTH && strncmp(o, "person ", 7) == 0) {
		parse_person(m, o + 7);
		return;
	}
	if (e->event < CC_AUDIT_EV_COMMIT_ADD || e->event > CC_AUDIT_EV_COMMIT_BREAK_GLASS)
		return;
	for (const char *p = strstr(o, ": +"); p; p = strstr(p + 1, ", +"))
		parse_person(m, p + 3);
}

static const char *names_get(const struct names *m, const char *user)
{
	size_t ul = strlen(user);
	for (size_t i = 0; i < m->n; i++)
		if (m->ulen[i] == ul && memcmp(m->user[i], user, ul) == 0)
			return m->name[i];
	return NULL;
}

int cc_audit_person_name(const cc_audit_entry *entries, size_t n, const char *user, char *out, size_t cap)
{
	if (!out || !cap || !user || (!entries && n))
		return CC_ERR_INVALID_ARG;
	out[0] = 0;
	struct names m;
	memset(&m, 0, sizeof m);
	for (size_t i = 0; i < n; i++)
		names_scan(&m, &entries[i]);
	const char *nm = names_get(&m, user);
	if (nm)
		snprintf(out, cap, "%s", nm);
	free(m.user);
	free(m.ulen);
	free(m.name);
	return nm ? CC_OK : CC_ERR_NOT_FOUND;
}

/* The people an ADD/REMOVE/LEVEL/SHARE entry names, as "Name (role, org)",
 * appended to out. In commit objects they follow ": " as "+USER (Name, role,
 * org)" / "-USER (...)"; in grant objects they follow " to " as "USER (...)". */
static void people_text(const cc_audit_entry *e, char *out, size_t cap)
{
	const char *p = e->event == CC_AUDIT_EV_GRANT ? strstr(e->object, " to ") : strstr(e->object, ": ");
	if (!p)
		return;
	p += e->event == CC_AUDIT_EV_GRANT ? 4 : 2;
	size_t len = strlen(out);
	while (*p && len + 1 < cap) {
		if (*p == '+' || *p == '-')
			p++;
		const char *sp = strstr(p, " (");
		const char *close = sp ? strchr(sp, ')') : NULL;
		if (!sp || !close)
			break;
		const char *in = sp + 2, *comma = strstr(in, ", ");
		char one[CC_AUDIT_OBJECT_MAX + 1];
		if (comma && comma < close)
			snprintf(one, sizeof one, "%.*s (%.*s)", (int)(comma - in), in, (int)(close - comma - 2),
			         comma + 2);
		else
			snprintf(one, sizeof one, "%.*s", (int)(close - in), in);
		int w = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", one);
		if (w < 0 || (size_t)w >= cap - len) {
			out[len] = 0;
			break;
		}
		len += (size_t)w;
		p = close + 1;
		if (strncmp(p, ", ", 2) != 0)
			break;
		p += 2;
	}
}

/* ---- Amsterdam time ---------------------------------------------------------
 * The data subject reads times as the clock on the wall in the Netherlands
 * (Europe/Amsterdam): CET (UTC+1), and CEST (UTC+2) from the last Sunday of
 * March 01:00 UTC to the last Sunday of October 01:00 UTC (the EU rule, in
 * force since 1996). Computed here instead of from the system's zone files,
 * so the report is the same on every machine (and in the browser). */

/* Days since 1970-01-01 of a date in the proleptic Gregorian calendar. */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* 01:00 UTC on the last Sunday of month m (March or October: 31 days), in seconds. */
static int64_t last_sunday_0100(int64_t y, int m)
{
	int64_t d31 = days_from_civil(y, m, 31);
	int64_t wd = ((d31 % 7) + 7 + 4) % 7; /* 1970-01-01 was a Thursday; 0 = Sunday */
	return (d31 - wd) * 86400 + 3600;
}

static void ams_parts(int64_t ms, struct tm *tm, const char **zone)
{
	int64_t s = ms / 1000;
	struct tm u;
	time_t t = (time_t)s;
	int summer = 0;
	if (gmtime_r(&t, &u)) {
		int64_t y = (int64_t)u.tm_year + 1900;
		summer = s >= last_sunday_0100(y, 3) && s < last_sunday_0100(y, 10);
	}
	t = (time_t)(s + (summer ? 7200 : 3600));
	if (!gmtime_r(&t, tm))
		memset(tm, 0, sizeof *tm);
	if (zone)
		*zone = summer ? "CEST" : "CET";
}

void cc_audit_time_amsterdam(int64_t ms, char out[CC_AUDIT_TIME_LOCAL_BYTES])
{
	struct tm tm;
	const char *zone;
	ams_parts(ms, &tm, &zone);
	snprintf(out, CC_AUDIT_TIME_LOCAL_BYTES, "%04d-%02d-%02d %02d:%02d:%02d %s", tm.tm_year + 1900, tm.tm_mon + 1,
	         tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, zone);
}

static int same_day(int64_t a, int64_t b)
{
	struct tm x, y;
	ams_parts(a, &x, NULL);
	ams_parts(b, &y, NULL);
	return x.tm_year == y.tm_year && x.tm_yday == y.tm_yday;
}

static void moment(const cc_audit_report_group *g, int en, char *out, size_t cap)
{
	static const char *const mnl[] = {"januari", "februari", "maart",     "april",   "mei",      "juni",
	                                  "juli",    "augustus", "september", "oktober", "november", "december"};
	static const char *const men[] = {"January", "February", "March",     "April",   "May",      "June",
	                                  "July",    "August",   "September", "October", "November", "December"};
	struct tm a, b;
	const char *za, *zb;
	ams_parts(g->first_ms, &a, &za);
	ams_parts(g->last_ms, &b, &zb);
	int mon = a.tm_mon >= 0 && a.tm_mon < 12 ? a.tm_mon : 0;
	char zone[48];
	/* the zone named; both when a group spans the change to or from summer time */
	if (strcmp(za, zb) == 0)
		snprintf(zone, sizeof zone, "%s, %s", en ? "Amsterdam time" : "Nederlandse tijd", za);
	else
		snprintf(zone, sizeof zone, "%s, %s-%s", en ? "Amsterdam time" : "Nederlandse tijd", za, zb);
	if (a.tm_hour == b.tm_hour && a.tm_min == b.tm_min)
		snprintf(out, cap, en ? "on %d %s %d at %02d:%02d (%s)" : "op %d %s %d om %02d:%02d (%s)", a.tm_mday,
		         en ? men[mon] : mnl[mon], a.tm_year + 1900, a.tm_hour, a.tm_min, zone);
	else
		snprintf(out, cap,
		         en ? "on %d %s %d between %02d:%02d and %02d:%02d (%s)"
		            : "op %d %s %d tussen %02d:%02d en %02d:%02d (%s)",
		         a.tm_mday, en ? men[mon] : mnl[mon], a.tm_year + 1900, a.tm_hour, a.tm_min, b.tm_hour,
		         b.tm_min, zone);
}

static void sentences(cc_audit_report_group *g)
{
	char who[CC_AUDIT_OBJECT_MAX * 2 + 8], when_nl[96], when_en[96], what_nl[640], what_en[640];
	if (g->user[0])
		snprintf(who, sizeof who, "%s (%s, %s)", g->person, g->role, g->org);
	else
		snprintf(who, sizeof who, "casusd");
	moment(g, 0, when_nl, sizeof when_nl);
	moment(g, 1, when_en, sizeof when_en);
	unsigned long long n = (unsigned long long)g->count;
	int denied = g->outcome != CC_AUDIT_OUTCOME_SUCCESS;
	const char *obj = g->object[0] ? g->object : "?";
	switch (denied ? CC_AUDIT_KIND_OTHER + 1 : g->kind) {
	case CC_AUDIT_KIND_READ:
		snprintf(what_nl, sizeof what_nl, "las %llu %s", n, n == 1 ? "bericht" : "berichten");
		snprintf(what_en, sizeof what_en, "read %llu %s", n, n == 1 ? "message" : "messages");
		break;
	case CC_AUDIT_KIND_WRITE:
		snprintf(what_nl, sizeof what_nl, "schreef %llu %s", n, n == 1 ? "bericht" : "berichten");
		snprintf(what_en, sizeof what_en, "wrote %llu %s", n, n == 1 ? "message" : "messages");
		break;
	case CC_AUDIT_KIND_SHARE:
		snprintf(what_nl, sizeof what_nl, "deelde %llu eerdere %s met %s", n, n == 1 ? "bericht" : "berichten",
		         obj);
		snprintf(what_en, sizeof what_en, "shared %llu earlier %s with %s", n, n == 1 ? "message" : "messages",
		         obj);
		break;
	case CC_AUDIT_KIND_ADD:
		snprintf(what_nl, sizeof what_nl, "%s: %s",
		         g->break_glass ? "liet met noodtoegang toe tot het overleg" : "voegde toe aan het overleg",
		         obj);
		snprintf(what_en, sizeof what_en, "%s: %s",
		         g->break_glass ? "admitted with emergency access to the conference"
		                        : "added to the conference",
		         obj);
		break;
	case CC_AUDIT_KIND_REMOVE:
		snprintf(what_nl, sizeof what_nl, "haalde uit het overleg: %s", obj);
		snprintf(what_en, sizeof what_en, "removed from the conference: %s", obj);
		break;
	case CC_AUDIT_KIND_LEVEL: {
		int up = g->level > g->level_prev;
		snprintf(what_nl, sizeof what_nl, "schaalde %s van niveau %u naar %u%s%s", up ? "op" : "af",
		         (unsigned)g->level_prev, (unsigned)g->level, g->object[0] ? "; daarmee uit het overleg: " : "",
		         g->object);
		snprintf(what_en, sizeof what_en, "%s from level %u to %u%s%s", up ? "escalated" : "de-escalated",
		         (unsigned)g->level_prev, (unsigned)g->level,
		         g->object[0] ? "; this removed from the conference: " : "", g->object);
		break;
	}
	case CC_AUDIT_KIND_FILE:
		if (g->event == CC_AUDIT_EV_CASUS_CREATE && g->object[0]) {
			snprintf(what_nl, sizeof what_nl, "opende het dossier met: %s", g->object);
			snprintf(what_en, sizeof what_en, "opened the file with: %s", g->object);
			break;
		}
		snprintf(what_nl, sizeof what_nl, "%s",
		         g->event == CC_AUDIT_EV_CASUS_CREATE  ? "opende het dossier"
		         : g->event == CC_AUDIT_EV_CASUS_CLOSE ? "sloot het dossier"
		                                               : "verwijderde de inhoud na de bewaartermijn");
		snprintf(what_en, sizeof what_en, "%s",
		         g->event == CC_AUDIT_EV_CASUS_CREATE  ? "opened the file"
		         : g->event == CC_AUDIT_EV_CASUS_CLOSE ? "closed the file"
		                                               : "deleted the content after its retention period");
		break;
	case CC_AUDIT_KIND_AUDIT:
		snprintf(what_nl, sizeof what_nl, "%s",
		         g->event == CC_AUDIT_EV_EXPORT ? "exporteerde het logboek van het dossier"
		                                        : "bekeek het logboek van het dossier");
		snprintf(what_en, sizeof what_en, "%s",
		         g->event == CC_AUDIT_EV_EXPORT ? "exported the audit trail of the file"
		                                        : "read the audit trail of the file");
		break;
	default: {
		const char *a = action_nl(g->event), *ev = cc_audit_event_name(g->event);
		snprintf(what_nl, sizeof what_nl, "%s %s%s",
		         denied ? "probeerde:" : "handeling:", a ? a : "overige actie", denied ? " (geweigerd)" : "");
		snprintf(what_en, sizeof what_en, "%s %s%s", denied ? "tried:" : "action:", ev ? ev : "other action",
		         denied ? " (refused)" : "");
		break;
	}
	}
	char tnl[40] = "", ten[40] = "";
	if (denied && g->entries > 1) {
		snprintf(tnl, sizeof tnl, " (%zu keer)", g->entries);
		snprintf(ten, sizeof ten, " (%zu times)", g->entries);
	}
	snprintf(g->text_nl, sizeof g->text_nl, "%s %s%s %s%s.", who, what_nl, tnl, when_nl,
	         g->break_glass && g->kind != CC_AUDIT_KIND_ADD ? " (noodtoegang)" : "");
	snprintf(g->text_en, sizeof g->text_en, "%s %s%s %s%s.", who, what_en, ten, when_en,
	         g->break_glass && g->kind != CC_AUDIT_KIND_ADD ? " (emergency access)" : "");
}

static int group_cmp(const void *a, const void *b)
{
	const cc_audit_report_group *x = a, *y = b;
	if (x->first_ms != y->first_ms)
		return x->first_ms < y->first_ms ? -1 : 1;
	if (x->first_seq != y->first_seq)
		return x->first_seq < y->first_seq ? -1 : 1;
	return 0;
}

int cc_audit_report_groups(const cc_audit_entry *entries, size_t n, const cc_audit_report_opts *opts,
                           cc_audit_report_group **groups, size_t *ngroups)
{
	if (!groups || !ngroups || !opts || (!entries && n))
		return CC_ERR_INVALID_ARG;
	*groups = NULL;
	*ngroups = 0;
	cc_audit_report_row *rows;
	size_t nr;
	int rc = cc_audit_report_rows(entries, n, opts, &rows, &nr);
	if (rc != CC_OK || !nr)
		return rc;
	/* rows are chronological; find each row's entry again by seq */
	struct names m;
	memset(&m, 0, sizeof m);
	for (size_t i = 0; i < n; i++)
		names_scan(&m, &entries[i]);
	cc_audit_report_group *g = calloc(nr, sizeof(*g));
	size_t ng = 0;
	rc = g ? CC_OK : CC_ERR_NOMEM;
	for (size_t r = 0; g && r < nr; r++) {
		const cc_audit_entry *e = NULL;
		for (size_t i = 0; i < n && !e; i++)
			if (entries[i].seq == rows[r].seq &&
			    memcmp(entries[i].casus_id, opts->casus_id, CC_AUDIT_ID_BYTES) == 0)
				e = &entries[i];
		if (!e)
			continue;
		uint64_t cnt;
		unsigned kind = entry_kind(e, &cnt);
		if (!kind)
			continue;
		int groupable = kind == CC_AUDIT_KIND_READ || kind == CC_AUDIT_KIND_WRITE ||
		                kind == CC_AUDIT_KIND_SHARE || kind == CC_AUDIT_KIND_ADD ||
		                kind == CC_AUDIT_KIND_REMOVE || kind == CC_AUDIT_KIND_OTHER ||
		                kind == CC_AUDIT_KIND_AUDIT;
		cc_audit_report_group *into = NULL;
		for (size_t k = ng; groupable && k-- > 0;) {
			cc_audit_report_group *c = &g[k];
			if (e->time_ms - c->last_ms > GROUP_GAP_MS)
				continue;
			if (c->kind == kind && c->event == e->event && c->outcome == e->outcome &&
			    c->ground == e->ground && c->break_glass == (e->break_glass ? 1 : 0) &&
			    strcmp(c->user, e->actor_user) == 0 && strcmp(c->role, e->actor_role) == 0 &&
			    strcmp(c->org, e->actor_org) == 0 && same_day(c->first_ms, e->time_ms)) {
				into = c;
				break;
			}
		}
		if (kind == CC_AUDIT_KIND_READ && !into) {
			/* fetched and live reads of one person are one group */
			for (size_t k = ng; k-- > 0;) {
				cc_audit_report_group *c = &g[k];
				if (e->time_ms - c->last_ms > GROUP_GAP_MS)
					continue;
				if (c->kind == kind && c->outcome == e->outcome && c->ground == e->ground &&
				    c->break_glass == (e->break_glass ? 1 : 0) && strcmp(c->user, e->actor_user) == 0 &&
				    strcmp(c->role, e->actor_role) == 0 && same_day(c->first_ms, e->time_ms)) {
					into = c;
					break;
				}
			}
		}
		if (!into) {
			into = &g[ng++];
			into->first_ms = e->time_ms;
			into->first_seq = e->seq;
			into->kind = kind;
			into->event = e->event;
			into->outcome = e->outcome;
			into->ground = e->ground;
			into->break_glass = e->break_glass ? 1 : 0;
			into->level_prev = e->level_prev;
			into->level = e->level;
			into->user = e->actor_user;
			into->org = e->actor_org;
			into->role = e->actor_role;
			const char *nm = e->actor_user[0] ? names_get(&m, e->actor_user) : NULL;
			snprintf(into->person, sizeof into->person, "%s", nm ? nm : e->actor_user);
			snprintf(into->ground_text, sizeof into->ground_text, "%s", rows[r].ground);
		}
		into->last_ms = e->time_ms;
		into->count += cnt;
		into->entries++;
		if (kind == CC_AUDIT_KIND_ADD || kind == CC_AUDIT_KIND_REMOVE || kind == CC_AUDIT_KIND_LEVEL ||
		    kind == CC_AUDIT_KIND_SHARE || e->event == CC_AUDIT_EV_CASUS_CREATE)
			people_text(e, into->object, sizeof into->object);
	}
	for (size_t k = 0; k < ng; k++)
		sentences(&g[k]);
	if (ng)
		qsort(g, ng, sizeof(*g), group_cmp);
	free(m.user);
	free(m.ulen);
	free(m.name);
	free(rows);
	if (!ng) {
		free(g);
		g = NULL;
	}
	*groups = g;
	*ngroups = ng;
	return rc;
}

char *cc_audit_report_json(const cc_audit_entry *entries, size_t n, const cc_audit_report_opts *opts)
{
	cc_audit_report_group *rows;
	size_t nr;
	if (cc_audit_report_groups(entries, n, opts, &rows, &nr) != CC_OK)
		return NULL;
	char casus[2 * CC_AUDIT_ID_BYTES + 1], t[CC_AUDIT_TIME_ISO_BYTES];
	sodium_bin2hex(casus, sizeof casus, opts->casus_id, CC_AUDIT_ID_BYTES);
	json_t *o = json_object(), *arr = json_array(), *leg = json_array();
	int bad = !o || !arr || !leg;
	if (o) {
		bad |= json_object_set_new(o, "casus", json_string(casus));
		if (opts->subject)
			bad |= json_object_set_new(o, "subject", json_string(opts->subject));
		cc_audit_time_iso(opts->from_ms, t);
		bad |= json_object_set_new(o, "from", json_string(t));
		cc_audit_time_iso(opts->to_ms, t);
		bad |= json_object_set_new(o, "to", opts->to_ms ? json_string(t) : json_null());
		cc_audit_time_iso(opts->generated_ms, t);
		bad |= json_object_set_new(o, "generated", json_string(t));
		bad |= json_object_set_new(o, "time_zone", json_string("Europe/Amsterdam"));
	}
	for (size_t i = 0; arr && i < nr; i++) {
		const cc_audit_report_group *g = &rows[i];
		json_t *r = json_object();
		const char *ev = cc_audit_event_name(g->event);
		const char *oc = cc_audit_outcome_name(g->outcome);
		bad |= !r;
		if (!r)
			break;
		cc_audit_time_iso(g->first_ms, t);
		bad |= json_object_set_new(r, "time", json_string(t));
		cc_audit_time_iso(g->last_ms, t);
		bad |= json_object_set_new(r, "until", json_string(t));
		char lt[CC_AUDIT_TIME_LOCAL_BYTES];
		cc_audit_time_amsterdam(g->first_ms, lt);
		bad |= json_object_set_new(r, "time_amsterdam", json_string(lt));
		cc_audit_time_amsterdam(g->last_ms, lt);
		bad |= json_object_set_new(r, "until_amsterdam", json_string(lt));
		bad |= json_object_set_new(r, "kind", json_string(cc_audit_report_kind_name(g->kind)));
		bad |= json_object_set_new(r, "count", json_integer((json_int_t)g->count));
		bad |= json_object_set_new(r, "entries", json_integer((json_int_t)g->entries));
		bad |= json_object_set_new(r, "person", json_string(g->person));
		bad |= json_object_set_new(r, "user", json_string(g->user));
		bad |= json_object_set_new(r, "organisation", json_string(g->org));
		bad |= json_object_set_new(r, "role", json_string(g->role));
		bad |= json_object_set_new(r, "concerns", json_string(g->object));
		const char *an = action_nl(g->event);
		char act[128];
		snprintf(act, sizeof act, "%s%s", an ? an : "overige actie",
		         g->outcome == CC_AUDIT_OUTCOME_DENIED  ? " (geweigerd)"
		         : g->outcome == CC_AUDIT_OUTCOME_ERROR ? " (mislukt)"
		                                                : "");
		bad |= json_object_set_new(r, "action", json_string(act));
		bad |= json_object_set_new(r, "text_nl", json_string(g->text_nl));
		bad |= json_object_set_new(r, "text_en", json_string(g->text_en));
		bad |= json_object_set_new(r, "event", ev ? json_string(ev) : json_integer(g->event));
		bad |= json_object_set_new(r, "outcome", json_string(oc ? oc : "?"));
		bad |= json_object_set_new(r, "ground", json_string(g->ground_text));
		bad |= json_object_set_new(r, "break_glass", json_boolean(g->break_glass));
		bad |= json_array_append_new(arr, r);
	}
	for (unsigned k = 1; leg && k <= CC_AUDIT_KIND_MAX; k++)
		bad |= json_array_append_new(leg, json_pack("{ssssss}", "kind", cc_audit_report_kind_name(k), "nl",
		                                            cc_audit_report_kind_meaning(k, 0), "en",
		                                            cc_audit_report_kind_meaning(k, 1)));
	char *out = NULL;
	if (o && arr && leg) {
		bad |= json_object_set_new(o, "rows", arr);
		arr = NULL;
		bad |= json_object_set_new(o, "legend", leg);
		leg = NULL;
		if (!bad)
			out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	}
	json_decref(arr);
	json_decref(leg);
	json_decref(o);
	free(rows);
	return out;
}

int cc_audit_html_escape(FILE *f, const char *s)
{
	if (!f)
		return CC_ERR_INVALID_ARG;
	int bad = 0;
	for (; s && *s; s++) {
		switch (*s) {
		case '&':
			bad |= fputs("&amp;", f) == EOF;
			break;
		case '<':
			bad |= fputs("&lt;", f) == EOF;
			break;
		case '>':
			bad |= fputs("&gt;", f) == EOF;
			break;
		case '"':
			bad |= fputs("&quot;", f) == EOF;
			break;
		case '\'':
			bad |= fputs("&#39;", f) == EOF;
			break;
		default:
			bad |= fputc(*s, f) == EOF;
			break;
		}
	}
	return bad ? CC_ERR_IO : CC_OK;
}

static const char html_head[] =
	"<!DOCTYPE html>\n<html lang=\"nl\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<title>Overzicht van toegang tot uw dossier</title>\n<style>\n"
	"body{font-family:sans-serif;margin:2em;color:#111}\n"
	"table{border-collapse:collapse;width:100%}\n"
	"th,td{border:1px solid #999;padding:.3em .5em;text-align:left;vertical-align:top}\n"
	"th{background:#eee}\ntr.nood td{background:#fff3cd}\n"
	"@media print{body{margin:0}}\n</style>\n</head>\n<body>\n";

char *cc_audit_report_html(const cc_audit_entry *entries, size_t n, const cc_audit_report_opts *opts)
{
	cc_audit_report_group *rows;
	size_t nr;
	if (cc_audit_report_groups(entries, n, opts, &rows, &nr) != CC_OK)
		return NULL;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f) {
		free(rows);
		return NULL;
	}
	char casus[2 * CC_AUDIT_ID_BYTES + 1], t[CC_AUDIT_TIME_ISO_BYTES];
	sodium_bin2hex(casus, sizeof casus, opts->casus_id, CC_AUDIT_ID_BYTES);
	int bad = 0;
	bad |= fputs(html_head, f) == EOF;
	bad |= fputs("<h1>Overzicht van toegang tot uw dossier <small>/ Who accessed your file</small></h1>\n"
	             "<p>Dossier / file: ",
	             f) == EOF;
	bad |= cc_audit_html_escape(f, opts->subject ? opts->subject : casus) != CC_OK;
	char lt[CC_AUDIT_TIME_LOCAL_BYTES];
	(void)t;
	cc_audit_time_amsterdam(opts->from_ms, lt);
	bad |= fputs("<br>Periode / period: vanaf / from ", f) == EOF;
	bad |= cc_audit_html_escape(f, lt) != CC_OK;
	if (opts->to_ms) {
		cc_audit_time_amsterdam(opts->to_ms, lt);
		bad |= fputs(" tot / until ", f) == EOF;
		bad |= cc_audit_html_escape(f, lt) != CC_OK;
	}
	cc_audit_time_amsterdam(opts->generated_ms, lt);
	bad |= fputs("<br>Opgesteld op / made on: ", f) == EOF;
	bad |= cc_audit_html_escape(f, lt) != CC_OK;
	bad |= fputs("</p>\n<p>Hieronder staat wie (naam, rol en organisatie) wanneer wat in uw dossier heeft "
	             "gedaan of geprobeerd, en op welke grond; handelingen van dezelfde persoon kort na elkaar "
	             "staan op één regel. Tijden zijn in Nederlandse tijd (Europe/Amsterdam: CET in de winter, "
	             "CEST in de zomer). Noodtoegang is gemarkeerd.<br>"
	             "<i>Below is who (name, role and organisation) did or tried what in your file, when, and on "
	             "which ground; actions of one person close together are one line. Times are Amsterdam time "
	             "(Europe/Amsterdam: CET in winter, CEST in summer). Emergency access is marked.</i></p>\n",
	             f) == EOF;
	if (!nr) {
		bad |= fputs("<p>In deze periode heeft niemand uw dossier ingezien of gewijzigd. <i>Nobody read or "
		             "changed your file in this period.</i></p>\n",
		             f) == EOF;
	} else {
		bad |= fputs("<table>\n<thead><tr><th>Van / from (Europe/Amsterdam)</th><th>Tot / until</th><th>Wat er gebeurde</th>"
		             "<th>What happened</th><th>Grond / ground</th><th>Noodtoegang / emergency</th></tr></thead>\n"
		             "<tbody>\n",
		             f) == EOF;
		for (size_t i = 0; i < nr; i++) {
			bad |= fputs(rows[i].break_glass ? "<tr class=\"nood\"><td>" : "<tr><td>", f) == EOF;
			cc_audit_time_amsterdam(rows[i].first_ms, lt);
			bad |= cc_audit_html_escape(f, lt) != CC_OK;
			bad |= fputs("</td><td>", f) == EOF;
			cc_audit_time_amsterdam(rows[i].last_ms, lt);
			bad |= cc_audit_html_escape(f, lt) != CC_OK;
			bad |= fputs("</td><td>", f) == EOF;
			bad |= cc_audit_html_escape(f, rows[i].text_nl) != CC_OK;
			bad |= fputs("</td><td>", f) == EOF;
			bad |= cc_audit_html_escape(f, rows[i].text_en) != CC_OK;
			bad |= fputs("</td><td>", f) == EOF;
			bad |= cc_audit_html_escape(f, rows[i].ground_text) != CC_OK;
			bad |= fputs("</td><td>", f) == EOF;
			bad |= fputs(rows[i].break_glass ? "ja / yes" : "nee / no", f) == EOF;
			bad |= fputs("</td></tr>\n", f) == EOF;
		}
		bad |= fputs("</tbody>\n</table>\n", f) == EOF;
	}
	bad |= fputs("<h2>Wat de regels betekenen / What the lines mean</h2>\n<dl>\n", f) == EOF;
	for (unsigned k = 1; k <= CC_AUDIT_KIND_MAX; k++) {
		bad |= fputs("<dt>", f) == EOF;
		bad |= cc_audit_html_escape(f, cc_audit_report_kind_name(k)) != CC_OK;
		bad |= fputs("</dt><dd>", f) == EOF;
		bad |= cc_audit_html_escape(f, cc_audit_report_kind_meaning(k, 0)) != CC_OK;
		bad |= fputs("<br><i>", f) == EOF;
		bad |= cc_audit_html_escape(f, cc_audit_report_kind_meaning(k, 1)) != CC_OK;
		bad |= fputs("</i></dd>\n", f) == EOF;
	}
	bad |= fputs("</dl>\n<p>Niet vermeld: technische handelingen die niets over u prijsgeven (het ophalen van de "
	             "eigen sleutels, de deelnemerslijst, sleutelvernieuwing, opvragingen zonder berichten). "
	             "<i>Not listed: technical steps that reveal nothing about you (fetching one's own keys, the "
	             "member list, key rotation, fetches that returned no message).</i></p>\n",
	             f) == EOF;
	bad |= fputs("</body>\n</html>\n", f) == EOF;
	bad |= fclose(f) != 0;
	free(rows);
	if (bad) {
		free(buf);
		return NULL;
	}
	return buf;
}
