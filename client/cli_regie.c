/*
 * cli_regie.c: `casus overzicht` and `casus monitor`, the procesregie views
 * (server side: server/h_regie.c, docs/POLICY.md "Procesregie").
 *
 *   casus overzicht                 every casus without its content: level,
 *                                   days at the level, members' roles and
 *                                   organisations, last note, last membership
 *                                   change, open escalation, closed, signals
 *   casus monitor [--csv | --html FILE]
 *                                   the municipality's figures; counts under 5
 *                                   arrive suppressed (null) and are shown as "<5"
 *
 * Both print Dutch text first, or with --json the server's figures as one
 * JSON document. The HTML report is one self-contained file (inline SVG
 * charts, no scripts, no external resources) with the same figures as tables.
 */
#include "cli_regie.h"

#include "cli_args.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	printf("%s\n", s ? s : "{}");
	free(s);
	fflush(stdout);
}

static int fail_msg(int json, int code, const char *ecode, const char *msg)
{
	if (json) {
		json_t *o = json_pack("{sbs{ssss}}", "ok", 0, "error", "code", ecode, "message", msg);
		print_json(o);
		json_decref(o);
	} else {
		fprintf(stderr, "casus: %s\n", msg);
	}
	return code;
}

/* One request; the reply (ok) or NULL with the error printed and *rc set. */
static json_t *request(casus_client *c, const char *type, int json, int *rc)
{
	json_t *req = json_pack("{ss}", "type", type);
	json_t *r = req ? casus_raw_request(c, req) : NULL;
	json_decref(req);
	if (!r) {
		*rc = fail_msg(json, 4, "network", "geen antwoord van de server (no answer from the server)");
		return NULL;
	}
	if (!json_is_true(json_object_get(r, "ok"))) {
		json_t *e = json_object_get(r, "error");
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		char text[400];
		if (code && strcmp(code, "forbidden") == 0)
			snprintf(text, sizeof text, "geweigerd: uw rol heeft dit recht niet (refused: %s)",
			         msg ? msg : "forbidden");
		else
			snprintf(text, sizeof text, "%s", msg ? msg : "refused");
		*rc = fail_msg(json, 1, code ? code : "refused", text);
		json_decref(r);
		return NULL;
	}
	return r;
}

static void date_of(json_t *v, char *out, size_t n)
{
	if (!json_is_integer(v)) {
		snprintf(out, n, "-");
		return;
	}
	time_t t = (time_t)json_integer_value(v);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(out, n, "%Y-%m-%d", &tm))
		snprintf(out, n, "?");
}

static const char *signal_nl(const char *s)
{
	if (strcmp(s, "no_note") == 0)
		return "geen notitie";
	if (strcmp(s, "no_level_change") == 0)
		return "niveau ongewijzigd";
	return s;
}

/* ---- overzicht ------------------------------------------------------------------ */

static int cmd_overview(casus_client *c, int json)
{
	int rc = 0;
	json_t *r = request(c, "regie.overview", json, &rc);
	if (!r)
		return rc;
	json_t *arr = json_object_get(r, "casus");
	if (json) {
		json_object_del(r, "id");
		print_json(r);
		json_decref(r);
		return 0;
	}
	printf("Overzicht van alle casussen, zonder inhoud (%zu)\n", json_array_size(arr));
	printf("%-32s %-3s %-20s %5s  %-10s %-10s %-5s %-5s %s\n", "casus", "niv", "niveau", "dagen", "notitie",
	       "leden", "esc.", "dicht", "signalen / leden");
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		char note[16], mem[16];
		date_of(json_object_get(o, "last_note"), note, sizeof note);
		date_of(json_object_get(o, "last_member_change"), mem, sizeof mem);
		printf("%-32s %-3lld %-20.20s %5lld  %-10s %-10s %-5s %-5s",
		       json_string_value(json_object_get(o, "casus")),
		       (long long)json_integer_value(json_object_get(o, "level")),
		       json_string_value(json_object_get(o, "level_name")),
		       (long long)json_integer_value(json_object_get(o, "days_at_level")), note, mem,
		       json_is_true(json_object_get(o, "open_escalation")) ? "open" : "-",
		       json_is_true(json_object_get(o, "closed")) ? "ja" : "nee");
		size_t k;
		json_t *s;
		json_array_foreach(json_object_get(o, "signals"), k, s)
			printf(" STAGNATIE: %s;", signal_nl(json_string_value(s)));
		json_t *m;
		json_array_foreach(json_object_get(o, "members"), k, m)
			printf(" %s/%s (%lld)", json_string_value(json_object_get(m, "role")),
			       json_string_value(json_object_get(m, "organisation")),
			       (long long)json_integer_value(json_object_get(m, "users")));
		printf("\n");
	}
	printf("niv = niveau, dagen = dagen op dit niveau, notitie = laatste notitie, leden = laatste ledenwijziging,\n"
	       "esc. = escalatie wacht op procesregie. Titels en notities staan niet in dit overzicht.\n");
	json_decref(r);
	return 0;
}

/* ---- monitor --------------------------------------------------------------------- */

/* "12", or "<5" for a suppressed cell (null). */
static const char *cell(json_t *v, char *buf, size_t n)
{
	if (json_is_integer(v))
		snprintf(buf, n, "%lld", (long long)json_integer_value(v));
	else
		snprintf(buf, n, "<5");
	return buf;
}

static void csv_field(FILE *f, const char *s)
{
	int quote = strpbrk(s, ",\"\r\n") != NULL;
	if (!quote) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_row(FILE *f, const char *table, const char *key, const char *measure, json_t *v)
{
	char b[32];
	csv_field(f, table);
	fputc(',', f);
	csv_field(f, key);
	fputc(',', f);
	csv_field(f, measure);
	fputc(',', f);
	fputs(cell(v, b, sizeof b), f);
	fputc('\n', f);
}

static void monitor_csv(json_t *r)
{
	size_t i;
	json_t *o;
	printf("tabel,sleutel,maat,waarde\n");
	json_array_foreach(json_object_get(r, "levels"), i, o) {
		char key[96];
		snprintf(key, sizeof key, "%lld %s", (long long)json_integer_value(json_object_get(o, "level")),
		         json_string_value(json_object_get(o, "name")));
		csv_row(stdout, "niveau", key, "open", json_object_get(o, "open"));
	}
	csv_row(stdout, "totaal", "alle", "escalaties", json_object_get(r, "escalations"));
	csv_row(stdout, "totaal", "alle", "de-escalaties", json_object_get(r, "deescalations"));
	csv_row(stdout, "totaal", "alle", "open escalaties", json_object_get(r, "open_escalations"));
	json_t *tt = json_object_get(r, "time_to_deescalation");
	csv_row(stdout, "tijd tot de-escalatie", "alle", "aantal", json_object_get(tt, "count"));
	json_t *med = json_object_get(tt, "median_days");
	if (json_is_number(med))
		printf("tijd tot de-escalatie,alle,mediaan dagen,%.1f\n", json_number_value(med));
	else
		printf("tijd tot de-escalatie,alle,mediaan dagen,<5\n");
	json_array_foreach(json_object_get(r, "months"), i, o) {
		const char *m = json_string_value(json_object_get(o, "month"));
		csv_row(stdout, "maand", m, "geopend", json_object_get(o, "opened"));
		csv_row(stdout, "maand", m, "gesloten", json_object_get(o, "closed"));
		csv_row(stdout, "maand", m, "escalaties", json_object_get(o, "escalations"));
		csv_row(stdout, "maand", m, "de-escalaties", json_object_get(o, "deescalations"));
	}
	json_array_foreach(json_object_get(r, "organisations"), i, o)
		csv_row(stdout, "organisatie", json_string_value(json_object_get(o, "organisation")), "open casussen",
		        json_object_get(o, "casus"));
}

static void monitor_text(json_t *r)
{
	char b[32], c2[32], c3[32], c4[32];
	size_t i;
	json_t *o;
	printf("Monitoring procesregie (aantallen onder 5 worden niet getoond: <5)\n\n");
	printf("Open casussen per niveau\n");
	json_array_foreach(json_object_get(r, "levels"), i, o)
		printf("  %lld %-24s %6s\n", (long long)json_integer_value(json_object_get(o, "level")),
		       json_string_value(json_object_get(o, "name")), cell(json_object_get(o, "open"), b, sizeof b));
	printf("\nEscalaties %s, de-escalaties %s, open escalaties %s\n",
	       cell(json_object_get(r, "escalations"), b, sizeof b),
	       cell(json_object_get(r, "deescalations"), c2, sizeof c2),
	       cell(json_object_get(r, "open_escalations"), c3, sizeof c3));
	json_t *tt = json_object_get(r, "time_to_deescalation");
	json_t *med = json_object_get(tt, "median_days");
	if (json_is_number(med))
		printf("Tijd tot de-escalatie: mediaan %.1f dagen (%s de-escalaties)\n", json_number_value(med),
		       cell(json_object_get(tt, "count"), b, sizeof b));
	else
		printf("Tijd tot de-escalatie: niet getoond (minder dan 5 de-escalaties)\n");
	printf("\n%-8s %8s %8s %10s %13s\n", "maand", "geopend", "gesloten", "escalaties", "de-escalaties");
	json_array_foreach(json_object_get(r, "months"), i, o)
		printf("%-8s %8s %8s %10s %13s\n", json_string_value(json_object_get(o, "month")),
		       cell(json_object_get(o, "opened"), b, sizeof b),
		       cell(json_object_get(o, "closed"), c2, sizeof c2),
		       cell(json_object_get(o, "escalations"), c3, sizeof c3),
		       cell(json_object_get(o, "deescalations"), c4, sizeof c4));
	printf("\nOpen casussen per organisatie\n");
	json_array_foreach(json_object_get(r, "organisations"), i, o)
		printf("  %-32s %6s\n", json_string_value(json_object_get(o, "organisation")),
		       cell(json_object_get(o, "casus"), b, sizeof b));
}

/* ---- the HTML report ------------------------------------------------------------------ */

static void esc(FILE *f, const char *s)
{
	for (; s && *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '&':
			fputs("&amp;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
		}
	}
}

struct bar {
	const char *label;
	json_t *value; /* integer, or null = suppressed */
};

/* A horizontal bar chart: one row per label; a suppressed value is drawn as
 * an outlined stub and labelled "<5". Colours pass WCAG AA on white. */
static void svg_bars(FILE *f, const char *title, const struct bar *bars, size_t n)
{
	long long max = 5;
	for (size_t i = 0; i < n; i++)
		if (json_is_integer(bars[i].value) && json_integer_value(bars[i].value) > max)
			max = json_integer_value(bars[i].value);
	const int row = 30, left = 230, width = 360, h = (int)n * row + 20;
	fprintf(f, "<svg role=\"img\" aria-labelledby=\"t-%p\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
	        (const void *)bars, left + width + 70, h, left + width + 70, h);
	fprintf(f, "<title id=\"t-%p\">", (const void *)bars);
	esc(f, title);
	fprintf(f, "</title>\n");
	for (size_t i = 0; i < n; i++) {
		int y = (int)i * row + 10;
		fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\" class=\"lbl\">", left - 10, y + 18);
		esc(f, bars[i].label);
		fprintf(f, "</text>\n");
		if (json_is_integer(bars[i].value)) {
			long long v = json_integer_value(bars[i].value);
			int w = (int)(v * width / max);
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"20\" class=\"bar\"/>\n", left, y + 4,
			        w);
			fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"val\">%lld</text>\n", left + w + 6, y + 18, v);
		} else {
			fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"14\" height=\"20\" class=\"sup\"/>\n", left, y + 4);
			fprintf(f, "<text x=\"%d\" y=\"%d\" class=\"val\">&lt;5 (niet getoond)</text>\n", left + 20,
			        y + 18);
		}
	}
	fprintf(f, "</svg>\n");
}

static void html_table_row(FILE *f, const char *a, json_t *v)
{
	char b[32];
	fprintf(f, "<tr><th scope=\"row\">");
	esc(f, a);
	fprintf(f, "</th><td>%s</td></tr>\n", json_is_integer(v) ? cell(v, b, sizeof b) : "&lt;5");
}

static int monitor_html(json_t *r, const char *path)
{
	FILE *f = fopen(path, "w");
	if (!f)
		return -1;
	char gen[32], b[32], c2[32];
	date_of(json_object_get(r, "generated"), gen, sizeof gen);
	fprintf(f, "<!DOCTYPE html>\n<html lang=\"nl\">\n<head>\n<meta charset=\"utf-8\">\n"
	           "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	           "<title>Monitoring procesregie</title>\n<style>\n"
	           "body{font-family:system-ui,'DejaVu Sans',Arial,sans-serif;color:#1a1a1a;background:#fff;"
	           "max-width:60rem;margin:2rem auto;padding:0 1rem;line-height:1.5}\n"
	           "h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:2px solid #1f4e79}\n"
	           ".bar{fill:#1f4e79}.sup{fill:#fff;stroke:#595959;stroke-width:2;stroke-dasharray:3 2}\n"
	           ".lbl,.val{font-size:14px;fill:#1a1a1a}\n"
	           "table{border-collapse:collapse;margin:.5rem 0}th,td{border:1px solid #767676;padding:.25rem .6rem;"
	           "text-align:left}td{text-align:right}\n"
	           ".note{background:#f2f2f2;border-left:4px solid #1f4e79;padding:.5rem 1rem}\n"
	           "</style>\n</head>\n<body>\n");
	fprintf(f, "<h1>Monitoring procesregie</h1>\n<p>Deployment <strong>");
	esc(f, json_string_value(json_object_get(r, "deployment")));
	fprintf(f, "</strong>, gemaakt op %s (UTC).</p>\n", gen);
	fprintf(f,
	        "<p class=\"note\">Dit rapport bevat alleen aantallen, geen inhoud en geen namen. "
	        "Aantallen van 1 tot en met 4 worden niet getoond (&lt;5), zodat niemand herkenbaar is. "
	        "Er staan geen totalen naast een verdeling, zodat een verborgen aantal niet kan worden teruggerekend.</p>\n");

	/* levels */
	size_t nl = json_array_size(json_object_get(r, "levels"));
	struct bar *bars = calloc(nl + 1, sizeof *bars);
	char(*labels)[96] = calloc(nl + 1, sizeof *labels);
	size_t i;
	json_t *o;
	fprintf(f, "<h2>Open casussen per niveau</h2>\n");
	json_array_foreach(json_object_get(r, "levels"), i, o) {
		if (!bars || !labels)
			break;
		snprintf(labels[i], sizeof labels[i], "%lld %s",
		         (long long)json_integer_value(json_object_get(o, "level")),
		         json_string_value(json_object_get(o, "name")));
		bars[i].label = labels[i];
		bars[i].value = json_object_get(o, "open");
	}
	if (bars && labels)
		svg_bars(f, "Open casussen per niveau", bars, nl);
	fprintf(f, "<table><caption>Open casussen per niveau</caption>\n<tr><th scope=\"col\">Niveau</th>"
	           "<th scope=\"col\">Open</th></tr>\n");
	for (i = 0; bars && labels && i < nl; i++)
		html_table_row(f, labels[i], bars[i].value);
	fprintf(f, "</table>\n");
	free(bars);
	free(labels);

	/* escalations */
	fprintf(f, "<h2>Escalaties en de-escalaties</h2>\n<table>\n");
	html_table_row(f, "Escalaties", json_object_get(r, "escalations"));
	html_table_row(f, "De-escalaties", json_object_get(r, "deescalations"));
	html_table_row(f, "Open escalaties (wachten op procesregie)", json_object_get(r, "open_escalations"));
	fprintf(f, "</table>\n");
	json_t *tt = json_object_get(r, "time_to_deescalation");
	json_t *med = json_object_get(tt, "median_days");
	if (json_is_number(med))
		fprintf(f,
		        "<p>Tijd van escalatie tot de-escalatie: mediaan <strong>%.1f dagen</strong> (%s de-escalaties).</p>\n",
		        json_number_value(med), cell(json_object_get(tt, "count"), b, sizeof b));
	else
		fprintf(f, "<p>Tijd van escalatie tot de-escalatie: niet getoond (minder dan 5 de-escalaties).</p>\n");

	/* months */
	json_t *months = json_object_get(r, "months");
	size_t nm = json_array_size(months);
	fprintf(f, "<h2>Geopend en gesloten per maand</h2>\n");
	struct bar *mb = calloc(2 * nm + 1, sizeof *mb);
	char(*ml)[48] = calloc(2 * nm + 1, sizeof *ml);
	json_array_foreach(months, i, o) {
		if (!mb || !ml)
			break;
		const char *m = json_string_value(json_object_get(o, "month"));
		snprintf(ml[2 * i], sizeof ml[0], "%s geopend", m);
		snprintf(ml[2 * i + 1], sizeof ml[0], "%s gesloten", m);
		mb[2 * i] = (struct bar){ml[2 * i], json_object_get(o, "opened")};
		mb[2 * i + 1] = (struct bar){ml[2 * i + 1], json_object_get(o, "closed")};
	}
	if (mb && ml && nm)
		svg_bars(f, "Casussen geopend en gesloten per maand", mb, 2 * nm);
	free(mb);
	free(ml);
	fprintf(f,
	        "<table><caption>Per maand</caption>\n<tr><th scope=\"col\">Maand</th><th scope=\"col\">Geopend</th>"
	        "<th scope=\"col\">Gesloten</th><th scope=\"col\">Escalaties</th><th scope=\"col\">De-escalaties</th></tr>\n");
	json_array_foreach(months, i, o) {
		char c3[32], c4[32];
		fprintf(f, "<tr><th scope=\"row\">");
		esc(f, json_string_value(json_object_get(o, "month")));
		fprintf(f, "</th><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
		        cell(json_object_get(o, "opened"), b, sizeof b),
		        cell(json_object_get(o, "closed"), c2, sizeof c2),
		        cell(json_object_get(o, "escalations"), c3, sizeof c3),
		        cell(json_object_get(o, "deescalations"), c4, sizeof c4));
	}
	fprintf(f, "</table>\n");

	/* organisations */
	json_t *orgs = json_object_get(r, "organisations");
	size_t no = json_array_size(orgs);
	fprintf(f,
	        "<h2>Open casussen per organisatie</h2>\n<p>Een casus telt mee bij elke organisatie die er een lid in heeft.</p>\n");
	struct bar *ob = calloc(no + 1, sizeof *ob);
	json_array_foreach(orgs, i, o) {
		if (!ob)
			break;
		ob[i] = (struct bar){json_string_value(json_object_get(o, "organisation")),
		                     json_object_get(o, "casus")};
	}
	if (ob && no)
		svg_bars(f, "Open casussen per organisatie", ob, no);
	fprintf(f, "<table><caption>Per organisatie</caption>\n<tr><th scope=\"col\">Organisatie</th>"
	           "<th scope=\"col\">Open casussen</th></tr>\n");
	for (i = 0; ob && i < no; i++)
		html_table_row(f, ob[i].label, ob[i].value);
	fprintf(f, "</table>\n");
	free(ob);
	fprintf(f, "<p lang=\"en\"><small>Procesregie monitoring report: counts only, no content; counts of 1 to 4 "
	           "are suppressed (&lt;5).</small></p>\n</body>\n</html>\n");
	int bad = ferror(f);
	if (fclose(f) != 0 || bad)
		return -1;
	return 0;
}

static int cmd_monitor(casus_client *c, int argc, char **argv, int json)
{
	int rc = 0;
	const char *html = cli_opt(argc, argv, "--html");
	json_t *r = request(c, "regie.monitor", json, &rc);
	if (!r)
		return rc;
	json_object_del(r, "id");
	if (html) {
		if (monitor_html(r, html) != 0) {
			json_decref(r);
			return fail_msg(json, 3, "io", "kan het rapport niet schrijven (cannot write the report)");
		}
		if (json) {
			json_t *o = json_pack("{sbss}", "ok", 1, "html", html);
			print_json(o);
			json_decref(o);
		} else {
			printf("Rapport geschreven: %s\n", html);
		}
	} else if (cli_flag(argc, argv, "--csv")) {
		monitor_csv(r);
	} else if (json) {
		print_json(r);
	} else {
		monitor_text(r);
	}
	json_decref(r);
	return 0;
}

int cli_regie(casus_client *c, const char *cmd, int argc, char **argv, int json)
{
	if (strcmp(cmd, "overzicht") == 0 || strcmp(cmd, "overview") == 0)
		return cmd_overview(c, json);
	return cmd_monitor(c, argc, argv, json);
}
