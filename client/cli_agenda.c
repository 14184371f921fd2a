/*
 * cli_agenda.c: the case conference's agenda, agreed actions and notices
 * (issue 20; libcasus_regie.c does the work, ccore_notes.h has the note kinds).
 *
 *   casus agenda                                  the agenda from yesterday on
 *   casus agenda CASUS --datum D [--plaats P]     put the casus on the agenda of D
 *   casus afspraak CASUS --wat W --wie USER --uiterlijk D [--niet-delen]
 *                                                 a new agreed action
 *   casus afspraak CASUS --klaar ID               mark it done
 *   casus afspraken CASUS                         the casus's actions (overdue marked)
 *   casus meldingen [--weg ID[,ID...] | --alle]   notices; dismiss some or all
 *
 * English aliases: agenda --date/--place, action --what/--who/--due/--done/
 * --no-disclose, actions, notices --dismiss/--all. D is YYYY-MM-DD or
 * YYYY-MM-DDTHH:MM (UTC). --audience A and --ground G choose the audience of
 * the note as for `casus post`.
 */
#include "cli_agenda.h"
#include "cli_exit.h"

#include <ccore_notes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* local copies; LANE=client folds opt()/flag() into protocol/cli_args */
static const char *opt2(int argc, char **argv, const char *nl, const char *en)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], nl) == 0 || (en && strcmp(argv[i], en) == 0))
			return argv[i + 1];
	return NULL;
}

static int flag2(int argc, char **argv, const char *nl, const char *en)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], nl) == 0 || (en && strcmp(argv[i], en) == 0))
			return 1;
	return 0;
}

static void print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	printf("%s\n", s ? s : "{}");
	free(s);
	fflush(stdout);
}

static int fail(casus_client *c, int json, int rc)
{
	const char *code = casus_error_code(c), *msg = casus_error(c);
	int ex = cli_exit_of(rc, code, msg);
	if (json) {
		json_t *o =
			json_pack("{sbs{ssssss}}", "ok", 0, "error", "code", code && *code ? code : cli_exit_kind(ex),
		                  "kind", cli_exit_kind(ex), "message", msg ? msg : "");
		print_json(o);
		json_decref(o);
	} else {
		fprintf(stderr, "casus: %s\n", msg && *msg ? msg : cli_exit_kind(ex));
	}
	return ex;
}

static int usage(int json, const char *msg)
{
	if (json) {
		json_t *o =
			json_pack("{sbs{ssssss}}", "ok", 0, "error", "code", "usage", "kind", "usage", "message", msg);
		print_json(o);
		json_decref(o);
	} else {
		fprintf(stderr, "casus: %s\n", msg);
	}
	return CLI_EXIT_USAGE;
}

static int ok_doc(int json, json_t *o, const char *text)
{
	if (json) {
		json_object_set_new(o, "ok", json_true());
		print_json(o);
	} else if (text) {
		printf("%s\n", text);
	}
	json_decref(o);
	return CLI_EXIT_OK;
}

/* The first argument that is not an option or an option's value. */
static const char *casus_arg(int argc, char **argv)
{
	static const char *const bools[] = {"--niet-delen", "--no-disclose", "--alle", "--all", NULL};
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) != 0)
			return argv[i];
		int b = 0;
		for (int k = 0; bools[k]; k++)
			b |= strcmp(argv[i], bools[k]) == 0;
		if (!b)
			i++;
	}
	return NULL;
}

/* ---- agenda ------------------------------------------------------------------------ */

static int cmd_agenda(casus_client *c, int argc, char **argv, int json)
{
	const char *cid = casus_arg(argc, argv);
	if (!cid) {
		json_t *a = NULL;
		int rc = casus_agenda_list(c, &a);
		if (rc)
			return fail(c, json, rc);
		if (json)
			return ok_doc(json, json_pack("{so}", "agenda", a), NULL);
		if (!json_array_size(a))
			printf("Geen casussen op de agenda. / Nothing on the agenda.\n");
		size_t i;
		json_t *o;
		json_array_foreach(a, i, o) {
			char d[20];
			ccore_date_format((int64_t)json_integer_value(json_object_get(o, "date")), d);
			const char *place = json_string_value(json_object_get(o, "place"));
			printf("%-16s  casus %s  %s\n", d, json_string_value(json_object_get(o, "casus")),
			       place ? place
			       : json_is_true(json_object_get(o, "member"))
			               ? "(plaats in de casus / place in the casus)"
			               : "(geen lid: plaats niet leesbaar / not a member)");
		}
		json_decref(a);
		return CLI_EXIT_OK;
	}
	const char *ds = opt2(argc, argv, "--datum", "--date"), *place = opt2(argc, argv, "--plaats", "--place");
	int64_t date;
	if (!ds || ccore_date_parse(ds, &date) != 0)
		return usage(json,
		             "casus agenda CASUS --datum JJJJ-MM-DD[TUU:MM] [--plaats P]: de datum van het overleg "
		             "(UTC) / the meeting's date");
	json_t *out = NULL;
	int rc = casus_agenda_plan(c, cid, date, place ? place : "volgt / to follow",
	                           opt2(argc, argv, "--audience", NULL), opt2(argc, argv, "--ground", NULL), &out);
	if (rc)
		return fail(c, json, rc);
	char text[400], d[20];
	ccore_date_format(date, d);
	snprintf(text, sizeof text,
	         "Casus %s staat op de agenda van %s; %lld leden kregen een melding.%s\n"
	         "Casus %s is on the agenda of %s; %lld members were noticed.",
	         cid, d, (long long)json_integer_value(json_object_get(out, "noticed")),
	         json_is_true(json_object_get(out, "note"))
	                 ? " Plaats en details staan versleuteld in de casus."
	                 : " U bent geen lid: alleen de datum is gedeeld, zonder plaats.",
	         cid, d, (long long)json_integer_value(json_object_get(out, "noticed")));
	return ok_doc(json, out, text);
}

/* ---- agreed actions ---------------------------------------------------------------- */

static int cmd_action(casus_client *c, int argc, char **argv, int json)
{
	const char *cid = casus_arg(argc, argv);
	const char *done = opt2(argc, argv, "--klaar", "--done");
	const char *aud = opt2(argc, argv, "--audience", NULL), *ground = opt2(argc, argv, "--ground", NULL);
	char aid[33];
	int rc;
	if (cid && done) {
		if ((rc = casus_action_done(c, cid, done, aud, ground, aid)) != 0)
			return fail(c, json, rc);
		char text[200];
		snprintf(text, sizeof text, "Afspraak %.8s is gedaan. / Action %.8s is done.", aid, aid);
		return ok_doc(json, json_pack("{sssb}", "action", aid, "done", 1), text);
	}
	const char *what = opt2(argc, argv, "--wat", "--what"), *who = opt2(argc, argv, "--wie", "--who"),
		   *ds = opt2(argc, argv, "--uiterlijk", "--due");
	int64_t due;
	if (!cid || !what || !who || !ds || ccore_date_parse(ds, &due) != 0)
		return usage(json,
		             "casus afspraak CASUS --wat TEKST --wie GEBRUIKER --uiterlijk JJJJ-MM-DD [--niet-delen] "
		             "| casus afspraak CASUS --klaar ID");
	int disclose = !flag2(argc, argv, "--niet-delen", "--no-disclose");
	if ((rc = casus_action_add(c, cid, what, who, due, disclose, aud, ground, aid)) != 0)
		return fail(c, json, rc);
	char text[400];
	snprintf(text, sizeof text, "Afspraak %.8s vastgelegd in de casus.%s\nAction %.8s recorded in the casus.%s",
	         aid,
	         disclose ? " De server kent alleen de uiterste datum (voor het signaal 'afspraak over tijd')." : "",
	         aid, disclose ? " The server knows the due date only (for the overdue signal)." : "");
	return ok_doc(json, json_pack("{sssb}", "action", aid, "disclosed", disclose), text);
}

static int cmd_actions(casus_client *c, int argc, char **argv, int json)
{
	const char *cid = casus_arg(argc, argv);
	if (!cid)
		return usage(json, "casus afspraken CASUS");
	json_t *a = NULL;
	int rc = casus_actions(c, cid, &a);
	if (rc)
		return fail(c, json, rc);
	ccore_actions_mark_overdue(a, (int64_t)time(NULL));
	size_t i;
	json_t *o;
	if (json)
		return ok_doc(json, json_pack("{so}", "actions", a), NULL);
	if (!json_array_size(a))
		printf("Geen afspraken in deze casus. / No agreed actions in this casus.\n");
	json_array_foreach(a, i, o) {
		char d[20];
		ccore_date_format((int64_t)json_integer_value(json_object_get(o, "due")), d);
		printf("%.8s  %-10s  %-16s  %-12s  %s\n", json_string_value(json_object_get(o, "action")), d,
		       json_string_value(json_object_get(o, "who")),
		       json_is_true(json_object_get(o, "done"))      ? "gedaan"
		       : json_is_true(json_object_get(o, "overdue")) ? "OVER TIJD"
		                                                     : "open",
		       json_string_value(json_object_get(o, "what")));
	}
	json_decref(a);
	return CLI_EXIT_OK;
}

/* ---- notices ----------------------------------------------------------------------- */

static void notice_line(const json_t *n, char *out, size_t len)
{
	const char *kind = json_string_value(json_object_get(n, "notice")) ?: "?";
	const char *cid = json_string_value(json_object_get(n, "casus")) ?: "?";
	char d[20];
	if (strcmp(kind, "agenda") == 0) {
		ccore_date_format((int64_t)json_integer_value(json_object_get(n, "date")), d);
		snprintf(out, len, "casus %s staat op de agenda van %s / is on the agenda", cid, d);
	} else if (strcmp(kind, "stagnation") == 0) {
		const char *sig = json_string_value(json_object_get(n, "signal")) ?: "";
		snprintf(out, len, "casus %s stagneert op niveau %lld: %s", cid,
		         (long long)json_integer_value(json_object_get(n, "level")),
		         strcmp(sig, "no_note") == 0           ? "geen notitie"
		         : strcmp(sig, "actions_overdue") == 0 ? "afspraken over tijd"
		                                               : "niveau ongewijzigd");
	} else {
		snprintf(out, len, "casus %s heeft u nodig op niveau %lld / needs you at level %lld", cid,
		         (long long)json_integer_value(json_object_get(n, "level")),
		         (long long)json_integer_value(json_object_get(n, "level")));
	}
}

static int cmd_notices(casus_client *c, int argc, char **argv, int json)
{
	const char *weg = opt2(argc, argv, "--weg", "--dismiss");
	int all = flag2(argc, argv, "--alle", "--all");
	int rc;
	if (weg || all) {
		json_t *ids = NULL;
		if (weg) {
			ids = json_array();
			char buf[1024];
			snprintf(buf, sizeof buf, "%s", weg);
			for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				char *end;
				unsigned long long v = strtoull(t, &end, 10);
				if (*end || !*t || !v || t[0] == '-') {
					json_decref(ids);
					return usage(
						json,
						"--weg ID[,ID...]: de nummers uit casus meldingen / the numbers casus "
						"notices shows");
				}
				json_array_append_new(ids, json_integer((json_int_t)v));
			}
		}
		json_t *out = NULL;
		rc = casus_notice_dismiss(c, ids, &out);
		json_decref(ids);
		if (rc)
			return fail(c, json, rc);
		if (json_array_size(json_object_get(out, "unknown"))) {
			json_decref(out);
			if (json) {
				json_t *o = json_pack("{sbs{ssssss}}", "ok", 0, "error", "code", "not_found", "kind",
				                      "not_found", "message",
				                      "no such notice (casus meldingen lists them)");
				print_json(o);
				json_decref(o);
			} else {
				fprintf(stderr, "casus: melding niet gevonden / no such notice (casus meldingen)\n");
			}
			return CLI_EXIT_NOT_FOUND;
		}
		char text[160];
		snprintf(text, sizeof text, "%lld melding(en) weggehaald. / %lld notice(s) dismissed.",
		         (long long)json_integer_value(json_object_get(out, "dismissed")),
		         (long long)json_integer_value(json_object_get(out, "dismissed")));
		return ok_doc(json, out, text);
	}
	json_t *n = NULL;
	if ((rc = casus_notices(c, &n)) != 0)
		return fail(c, json, rc);
	if (json)
		return ok_doc(json, json_pack("{so}", "notices", n), NULL);
	if (!json_array_size(n))
		printf("Geen meldingen. / No notices.\n");
	size_t i;
	json_t *o;
	json_array_foreach(n, i, o) {
		char line[300], d[20];
		notice_line(o, line, sizeof line);
		ccore_date_format((int64_t)json_integer_value(json_object_get(o, "time")), d);
		printf("%4lld  %-16s  %s\n", (long long)json_integer_value(json_object_get(o, "id")), d, line);
	}
	if (json_array_size(n))
		printf("Weghalen / dismiss: casus meldingen --weg ID (of --alle); na %d dagen verlopen ze vanzelf.\n",
		       30);
	json_decref(n);
	return CLI_EXIT_OK;
}

int cli_agenda_is(const char *cmd)
{
	static const char *const names[] = {"agenda",  "afspraak",  "action",  "afspraken",
	                                    "actions", "meldingen", "notices", NULL};
	for (int i = 0; cmd && names[i]; i++)
		if (strcmp(cmd, names[i]) == 0)
			return 1;
	return 0;
}

int cli_agenda(casus_client *c, const char *cmd, int argc, char **argv, int json)
{
	if (strcmp(cmd, "agenda") == 0)
		return cmd_agenda(c, argc, argv, json);
	if (strcmp(cmd, "afspraak") == 0 || strcmp(cmd, "action") == 0)
		return cmd_action(c, argc, argv, json);
	if (strcmp(cmd, "afspraken") == 0 || strcmp(cmd, "actions") == 0)
		return cmd_actions(c, argc, argv, json);
	return cmd_notices(c, argc, argv, json);
}
