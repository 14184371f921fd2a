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

char *cc_audit_report_json(const cc_audit_entry *entries, size_t n, const cc_audit_report_opts *opts)
{
	cc_audit_report_row *rows;
	size_t nr;
	if (cc_audit_report_rows(entries, n, opts, &rows, &nr) != CC_OK)
		return NULL;
	char casus[2 * CC_AUDIT_ID_BYTES + 1], t[CC_AUDIT_TIME_ISO_BYTES];
	sodium_bin2hex(casus, sizeof casus, opts->casus_id, CC_AUDIT_ID_BYTES);
	json_t *o = json_object(), *arr = json_array();
	int bad = !o || !arr;
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
	}
	for (size_t i = 0; arr && i < nr; i++) {
		json_t *r = json_object();
		const char *ev = cc_audit_event_name(rows[i].event);
		const char *oc = cc_audit_outcome_name(rows[i].outcome);
		cc_audit_time_iso(rows[i].time_ms, t);
		bad |= !r;
		if (!r)
			break;
		bad |= json_object_set_new(r, "time", json_string(t));
		bad |= json_object_set_new(r, "organisation", json_string(rows[i].org));
		bad |= json_object_set_new(r, "role", json_string(rows[i].role));
		bad |= json_object_set_new(r, "action", json_string(rows[i].action));
		bad |= json_object_set_new(r, "event", ev ? json_string(ev) : json_integer(rows[i].event));
		bad |= json_object_set_new(r, "outcome", json_string(oc ? oc : "?"));
		bad |= json_object_set_new(r, "ground", json_string(rows[i].ground));
		bad |= json_object_set_new(r, "break_glass", json_boolean(rows[i].break_glass));
		bad |= json_array_append_new(arr, r);
	}
	char *out = NULL;
	if (o && arr) {
		bad |= json_object_set_new(o, "rows", arr);
		arr = NULL;
		if (!bad)
			out = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	}
	json_decref(arr);
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
	cc_audit_report_row *rows;
	size_t nr;
	if (cc_audit_report_rows(entries, n, opts, &rows, &nr) != CC_OK)
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
	bad |= fputs("<h1>Overzicht van toegang tot uw dossier</h1>\n<p>Dossier: ", f) == EOF;
	bad |= cc_audit_html_escape(f, opts->subject ? opts->subject : casus) != CC_OK;
	cc_audit_time_iso(opts->from_ms, t);
	bad |= fputs("<br>Periode: vanaf ", f) == EOF;
	bad |= cc_audit_html_escape(f, t) != CC_OK;
	if (opts->to_ms) {
		cc_audit_time_iso(opts->to_ms, t);
		bad |= fputs(" tot ", f) == EOF;
		bad |= cc_audit_html_escape(f, t) != CC_OK;
	}
	cc_audit_time_iso(opts->generated_ms, t);
	bad |= fputs("<br>Opgesteld op: ", f) == EOF;
	bad |= cc_audit_html_escape(f, t) != CC_OK;
	bad |= fputs("</p>\n<p>Hieronder staat wie (organisatie en rol) wanneer welke handeling in uw "
	             "dossier heeft verricht of geprobeerd, en op welke grond. Tijden zijn in UTC. "
	             "Noodtoegang is gemarkeerd.</p>\n",
	             f) == EOF;
	if (!nr) {
		bad |= fputs("<p>In deze periode heeft niemand uw dossier ingezien of gewijzigd.</p>\n", f) == EOF;
	} else {
		bad |= fputs("<table>\n<thead><tr><th>Tijdstip (UTC)</th><th>Organisatie</th><th>Rol</th>"
		             "<th>Handeling</th><th>Grond</th><th>Noodtoegang</th></tr></thead>\n<tbody>\n",
		             f) == EOF;
		for (size_t i = 0; i < nr; i++) {
			cc_audit_time_iso(rows[i].time_ms, t);
			bad |= fputs(rows[i].break_glass ? "<tr class=\"nood\"><td>" : "<tr><td>", f) == EOF;
			bad |= cc_audit_html_escape(f, t) != CC_OK;
			bad |= fputs("</td><td>", f) == EOF;
			bad |= cc_audit_html_escape(f, rows[i].org) != CC_OK;
			bad |= fputs("</td><td>", f) == EOF;
			bad |= cc_audit_html_escape(f, rows[i].role) != CC_OK;
			bad |= fputs("</td><td>", f) == EOF;
			bad |= cc_audit_html_escape(f, rows[i].action) != CC_OK;
			bad |= fputs("</td><td>", f) == EOF;
			bad |= cc_audit_html_escape(f, rows[i].ground) != CC_OK;
			bad |= fputs("</td><td>", f) == EOF;
			bad |= fputs(rows[i].break_glass ? "ja" : "nee", f) == EOF;
			bad |= fputs("</td></tr>\n", f) == EOF;
		}
		bad |= fputs("</tbody>\n</table>\n", f) == EOF;
	}
	bad |= fputs("</body>\n</html>\n", f) == EOF;
	bad |= fclose(f) != 0;
	free(rows);
	if (bad) {
		free(buf);
		return NULL;
	}
	return buf;
}
