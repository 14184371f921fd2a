/*
 * casus.c: the `casus` command, for the professionals at the table.
 *
 *   casus [--profile DIR] [--json] COMMAND ...
 *
 * Every command prints a readable result, or with --json one JSON document for
 * scripts. Exit codes: one table for every command, cli_exit.h (`casus help`
 * prints it). Errors say what to do next. `casus help [COMMAND]` and
 * `casus COMMAND --help` print help and never open a profile or run anything.
 * A casus may be named by a unique prefix of its id (at least 4 hex digits),
 * a message (share) by its number (#18) or a unique prefix of its id. When the server cannot be reached, history,
 * members, whoami and outbox work from the local copy (marked offline) and
 * post queues the message.
 */
#include "libcasus.h"
#include "casus_version.h"
#include "cli_args.h"
#include "cli_audit.h"
#include "cli_exit.h"
#include "cli_regie.h"
#include "cli_agenda.h"
#include <ccore_notes.h>
#include "tclean.h"
#include "tui.h"

#include <cc_cert.h>
#include <cc_err.h>
#include <cc_policy.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

static int g_json;
static struct timespec g_started; /* when this command started (outbox: refused now or before) */
static const char *g_profile;
static casus_client *g_cli; /* for the warnings of the client core */

/* Warnings of the client core (contract: docs/CLIENT.md): with --json a
 * top-level "warnings" array in the document printed, in text a line
 * starting with WAARSCHUWING: per warning. */
static void take_warnings(json_t *into)
{
	if (!g_cli)
		return;
	json_t *w = casus_take_warnings(g_cli);
	if (json_array_size(w) && into && json_is_object(into)) {
		json_t *old = json_object_get(into, "warnings");
		if (json_is_array(old))
			json_array_extend(old, w);
		else
			json_object_set(into, "warnings", w);
	} else if (json_array_size(w)) {
		size_t i;
		json_t *o;
		json_array_foreach(w, i, o)
			printf("WAARSCHUWING: %s\n", TC(json_string_value(json_object_get(o, "message"))));
	}
	json_decref(w);
}

/* One row per command: the synopsis line and what it does (Dutch, English).
 * `casus help`, `casus --help` and `casus COMMAND --help` print from here. */
static const struct {
	const char *name, *synopsis, *nl, *en;
} g_cmds[] = {
	{"init", "init --server URL --root HEX --user ID --role ROLE [--name N] [--org O] [--ca FILE]",
         "maakt de sleutels van dit apparaat en een certificaataanvraag",
         "creates this device's keys and a certificate request"},
	{"install-cert", "install-cert FILE", "installeert het certificaat van de beheerder",
         "installs the certificate the administrator sent back"},
	{"list", "list", "uw casussen, ongelezen berichten en meldingen", "your casus, unread counts and notices"},
	{"new", "new --title T --purpose P --basis B [--level N] [--retention-days D] [--member USER]...",
         "opent een nieuwe casus", "opens a new casus"},
	{"post", "post CASUS [--audience A] [--ground G] [TEXT | -]",
         "plaatst een bericht (zonder TEXT: van standaardinvoer, eindig met Ctrl-D)",
         "posts a note (without TEXT: from standard input, end with Ctrl-D)"},
	{"history", "history CASUS [--limit N] [--after SEQ] [--offline]",
         "de berichten; --limit N: de nieuwste N; --after SEQ: die na SEQ",
         "the notes; --limit N: the newest N; --after SEQ: those after SEQ (with --limit: the first N)"},
	{"members", "members CASUS", "de leden, hun rol en organisatie", "the members, their role and organisation"},
	{"add", "add CASUS USER [--break-glass REASON]", "voegt een lid toe", "adds a member"},
	{"add-device", "add-device CASUS --code CODE",
         "voegt uw nieuwe apparaat toe (CODE: de koppelcode van `casus whoami` daar)",
         "adds your new device (CODE: the pairing code its `casus whoami` shows)"},
	{"remove", "remove CASUS USER [--reason R]", "verwijdert een lid; de sleutels wisselen",
         "removes a member; the keys rotate"},
	{"escalate", "escalate CASUS LEVEL --reason R", "schaalt op naar niveau LEVEL (een getal)",
         "escalates to level LEVEL (a number)"},
	{"deescalate", "deescalate CASUS LEVEL --reason R", "schaalt af; rollen die het niveau niet toelaat gaan eruit",
         "de-escalates; roles the level does not admit are removed"},
	{"rotate", "rotate CASUS [--reason R]", "nieuwe sleutels voor de casus", "new keys for the casus"},
	{"close", "close CASUS --reason R", "sluit de casus; de inhoud wordt na de bewaartermijn gewist",
         "closes the casus; its content is purged after retention"},
	{"share", "share CASUS --to USER --messages ID[,ID...] --ground G --reason R",
         "deelt eerdere berichten (ID: #18 uit history, of een unieke begin van de id)",
         "shares earlier notes (ID: #18 as history shows it, or a unique prefix of the id)"},
	{"audit", "audit [--casus C] [--user U] [--limit N] | audit key|export|verify|report|witness|receipts ...",
         "het auditspoor (privacyfunctionaris, procesregisseur); zie docs/AUDIT.md",
         "the audit trail (privacy officer, process director); see docs/AUDIT.md"},
	{"overzicht", "overzicht", "elke casus zonder inhoud (procesregisseur); ook: overview",
         "every casus without content (process director); also: overview"},
	{"monitor", "monitor [--csv | --html FILE]", "cijfers; aantallen onder 5 onderdrukt",
         "figures, counts under 5 suppressed"},
	{"agenda", "agenda [CASUS --datum JJJJ-MM-DD[TUU:MM] [--plaats P]]",
         "de agenda van het casuïstiekoverleg; met CASUS: zet de casus op de agenda (leden krijgen een melding)",
         "the case conference's agenda; with CASUS: put the casus on it (members get a notice)"},
	{"afspraak", "afspraak CASUS --wat W --wie GEBRUIKER --uiterlijk JJJJ-MM-DD [--niet-delen] | --klaar ID",
         "legt een afspraak vast in de casus (versleuteld), of meldt hem gedaan; ook: action",
         "records an agreed action in the casus (encrypted), or marks it done; also: action"},
	{"afspraken", "afspraken CASUS", "de afspraken van de casus, over tijd gemarkeerd; ook: actions",
         "the casus's agreed actions, overdue ones marked; also: actions"},
	{"meldingen", "meldingen [--weg ID[,ID...] | --alle]",
         "uw meldingen; --weg haalt ze weg (na 30 dagen verlopen ze); ook: notices",
         "your notices; --weg dismisses them (they expire after 30 days); also: notices"},
	{"open", "open CASUS", "live casusoverleg in de terminal", "live case conference in the terminal"},
	{"watch", "watch [CASUS] [--count N] [--seconds S]",
         "toont berichten en wijzigingen zodra ze binnenkomen (--json: als JSON-regels)",
         "prints notes and changes as they arrive (--json: as JSON lines)"},
	{"whoami", "whoami", "dit apparaat, zijn certificaat, de server", "this device, its certificate, the server"},
	{"sleutel", "sleutel [vernieuwen | toon]",
         "vernieuwen: dit apparaat krijgt nu een nieuwe sleutel voor epochsleutels (anders wekelijks vanzelf); "
         "toon: de sleutels die het bewaart; ook: device rotate | device show",
         "rotate: this device gets a new wrap key for epoch keys now (otherwise weekly by itself); "
         "show: the wrap keys it holds; also: device rotate | device show"},
	{"outbox", "outbox", "verstuurt wachtende berichten en toont wat over is",
         "sends queued posts, lists what is left"},
	{"raw", "raw", "JSON-verzoeken op standaardinvoer (tests)", "JSON requests on stdin (tests)"},
	{"help", "help [COMMAND]", "deze hulp", "this help"},
};
#define NCMDS (sizeof g_cmds / sizeof g_cmds[0])

static int cmd_index(const char *name)
{
	for (size_t i = 0; name && i < NCMDS; i++)
		if (strcmp(g_cmds[i].name, name) == 0)
			return (int)i;
	return -1;
}

static void usage_to(FILE *to)
{
	fprintf(to, "usage: casus [--profile DIR] [--json] COMMAND ...\n");
	for (size_t i = 0; i < NCMDS; i++)
		fprintf(to, "  %s\n", g_cmds[i].synopsis);
	fprintf(to, "CASUS: its 32 hex digits or a unique prefix of at least 4 (casus list shows them).\n"
	            "The profile folder comes from --profile or CASUS_PROFILE; the passphrase from a\n"
	            "prompt or the file named by CASUS_PASSPHRASE_FILE. --json, --profile, --help and\n"
	            "--version may stand anywhere on the line; options take --name VALUE or --name=VALUE.\n"
	            "casus help COMMAND (or casus COMMAND --help) tells more; nothing is run.\n");
}

static void usage(void)
{
	usage_to(stderr);
}

/* casus help [COMMAND]: never opens a profile, never connects. */
static int help(const char *cmd)
{
	static const char *const alias[][2] = {{"overview", "overzicht"},
	                                       {"action", "afspraak"},
	                                       {"actions", "afspraken"},
	                                       {"notices", "meldingen"},
	                                       {"device", "sleutel"}};
	for (size_t a = 0; cmd && a < sizeof alias / sizeof alias[0]; a++)
		if (strcmp(cmd, alias[a][0]) == 0)
			cmd = alias[a][1];
	int k = cmd_index(cmd);
	if (k >= 0 && strcmp(cmd, "help") != 0) {
		printf("usage: casus [--profile DIR] [--json] %s\n  %s\n  %s\n", g_cmds[k].synopsis, g_cmds[k].nl,
		       g_cmds[k].en);
	} else {
		if (cmd && k < 0)
			printf("casus: onbekend commando / unknown command %s\n", TC(cmd));
		usage_to(stdout);
	}
	cli_exit_print(stdout);
	return cmd && k < 0 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
}

static int exit_code(int rc)
{
	return cli_exit_of(rc, g_cli ? casus_error_code(g_cli) : NULL, g_cli ? casus_error(g_cli) : NULL);
}

static int report_err(int rc, const char *code, const char *msg)
{
	int ex = cli_exit_of(rc, code, msg);
	if (g_json) {
		json_t *o = json_pack("{sbs{ssssss}}", "ok", 0, "error", "code", code, "kind", cli_exit_kind(ex),
		                      "message", msg);
		take_warnings(o);
		char *s = json_dumps(o, JSON_COMPACT);
		printf("%s\n", s);
		free(s);
		json_decref(o);
	} else {
		take_warnings(NULL);
		fprintf(stderr, "casus: %s\n", TC(msg));
	}
	return ex;
}

/* A usage error in the caller's form (--json: a JSON document). */
static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	return report_err(CASUS_E_USAGE, "usage", msg);
}

/* A count or number option: digits only, at most max. 0 if absent (*out
 * untouched), 1 if set, or a usage error's exit code (negative). */
static int num_opt(const char *name, const char *v, unsigned long long max, unsigned long long *out)
{
	if (!v)
		return 0;
	char *end = NULL;
	errno = 0;
	unsigned long long x = strtoull(v, &end, 10);
	if (!*v || !isdigit((unsigned char)v[0]) || *end || errno || x > max)
		return -usage_err("%s verwacht een getal 0..%llu, niet \"%s\" / %s needs a number 0..%llu, not \"%s\"",
		                  name, max, v, name, max, v);
	*out = x;
	return 1;
}

static int fail_client(casus_client *c, int rc)
{
	return report_err(rc, casus_error_code(c), casus_error(c));
}

static void print_json(json_t *o)
{
	take_warnings(o);
	char *s = json_dumps(o, JSON_COMPACT);
	printf("%s\n", s ? s : "{}");
	free(s);
}

/* Positional arguments: those not an option or an option's value. */
static const char *positional(int argc, char **argv, int n)
{
	int k = 0;
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) == 0) {
			if (strcmp(argv[i], "--offline") != 0)
				i++; /* every other option here takes a value */
			continue;
		}
		if (k++ == n)
			return argv[i];
	}
	return NULL;
}

static char g_pass[1024];
static size_t g_passlen;

/* 0, or the exit code of an error already reported. */
static int get_pass(const char *prompt)
{
	if (g_passlen)
		return 0;
	const char *file = getenv("CASUS_PASSPHRASE_FILE");
	if (file && *file && access(file, R_OK) != 0) {
		char msg[1200];
		snprintf(msg, sizeof msg,
		         "het wachtwoordbestand %s (CASUS_PASSPHRASE_FILE) is niet te lezen: %s / the passphrase "
		         "file %s (CASUS_PASSPHRASE_FILE) cannot be read: %s",
		         file, strerror(errno), file, strerror(errno));
		return report_err(CASUS_E_PASSPHRASE, "passphrase", msg);
	}
	if (casus_read_passphrase(prompt, g_pass, sizeof g_pass, &g_passlen) != 0)
		return report_err(CASUS_E_PASSPHRASE, "passphrase",
		                  "geen wachtwoord: zet CASUS_PASSPHRASE_FILE of gebruik een terminal / cannot read a "
		                  "passphrase: set CASUS_PASSPHRASE_FILE or run in a terminal");
	return 0;
}

static int g_offline; /* the server could not be reached: local copy, outbox */

/* connect: 0 no, 1 yes, 2 try (offline use is possible for this command) */
static int open_client(casus_client **c, int connect)
{
	char err[512];
	int rc0;
	if (!g_profile)
		return report_err(CASUS_E_USAGE, "usage",
		                  "geen profiel: geef --profile MAP of zet CASUS_PROFILE / no profile: give --profile "
		                  "DIR or set CASUS_PROFILE (casus help: what each command does)");
	if ((rc0 = get_pass("Passphrase: ")) != 0)
		return rc0;
	int rc = casus_client_open(c, g_profile, g_pass, g_passlen, err, sizeof err);
	if (rc)
		return report_err(rc, rc == CASUS_E_PASSPHRASE ? "passphrase" : "profile", err);
	if (connect && (rc = casus_client_connect(*c)) != CASUS_OK) {
		if (connect == 2 && rc == CASUS_E_NETWORK) {
			g_offline = 1;
			casus_set_offline(*c);
			if (!g_json)
				fprintf(stderr, "casus: offline (%s); using the local copy on this device\n",
				        casus_error(*c));
			return 0;
		}
		int e = fail_client(*c, rc);
		casus_client_free(*c);
		*c = NULL;
		return e;
	}
	return 0;
}

static char *read_stdin(void)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);
	while (buf) {
		size_t r = fread(buf + n, 1, cap - n - 1, stdin);
		n += r;
		/* end of input (Ctrl-D on a terminal) ends it at once: a terminal
		 * would otherwise be read again after its end-of-file */
		if (r == 0 || feof(stdin) || ferror(stdin))
			break;
		if (n + 1 == cap) {
			if (cap > (1u << 20))
				break;
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
	}
	if (buf) {
		buf[n] = 0;
		while (n && buf[n - 1] == '\n')
			buf[--n] = 0;
	}
	return buf;
}

static void fmt_time(long long t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M", &tm);
}

static void print_entry(const json_t *o);

static int is_hex(const char *s)
{
	for (; *s; s++)
		if (!isxdigit((unsigned char)*s))
			return 0;
	return 1;
}

static int cmd_init(int argc, char **argv)
{
	struct casus_init_opts o;
	char err[512];
	memset(&o, 0, sizeof o);
	o.dir = g_profile;
	o.server = cli_opt(argc, argv, "--server");
	o.root_hex = cli_opt(argc, argv, "--root");
	o.ca_file = cli_opt(argc, argv, "--ca");
	o.user = cli_opt(argc, argv, "--user");
	o.name = cli_opt(argc, argv, "--name");
	o.org = cli_opt(argc, argv, "--org");
	o.role = cli_opt(argc, argv, "--role");
	if (!o.dir || !o.server || !o.root_hex || !o.user || !o.role)
		return usage_err("casus --profile DIR %s", g_cmds[cmd_index("init")].synopsis);
	int prc = get_pass("New passphrase for this device: ");
	if (prc)
		return prc;
	o.pass = g_pass;
	o.passlen = g_passlen;
	int rc = casus_profile_init(&o, err, sizeof err);
	if (rc)
		return report_err(rc, "init", err);
	if (g_json) {
		json_t *r = json_pack("{sbssss}", "ok", 1, "profile", o.dir, "request", "request.casusreq");
		print_json(r);
		json_decref(r);
	} else {
		printf("Device keys created in %s.\nGive %s/request.casusreq to your administrator; then run\n"
		       "  casus install-cert FILE\nwith the certificate you get back.\n",
		       o.dir, o.dir);
	}
	return 0;
}

static int cmd_install_cert(int argc, char **argv)
{
	char err[512];
	const char *file = positional(argc, argv, 0);
	if (!file || !g_profile)
		return usage_err("casus --profile DIR install-cert FILE");
	int prc = get_pass("Passphrase: ");
	if (prc)
		return prc;
	int rc = casus_profile_install_cert(g_profile, g_pass, g_passlen, file, err, sizeof err);
	if (rc)
		return report_err(rc, "install_cert", err);
	if (g_json)
		printf("{\"ok\":true}\n");
	else
		printf("Certificate installed. Try: casus list\n");
	return 0;
}

/* 1 if this device's role may open a casus (the verified policy says so). */
static int may_create(casus_client *c)
{
	json_t *pol = casus_policy_json(c), *r;
	size_t i;
	int yes = 0;
	const char *me = casus_self_role(c);
	json_array_foreach(json_object_get(pol, "roles"), i, r)
		if (me && strcmp(json_string_value(json_object_get(r, "name")) ?: "", me) == 0)
			yes = json_is_true(json_object_get(r, "may_create"));
	json_decref(pol);
	return yes;
}

static int cmd_list(casus_client *c)
{
	json_t *res = NULL;
	int rc = casus_list(c, &res);
	if (rc)
		return fail_client(c, rc);
	size_t i;
	json_t *o;
	/* the title (casus_list: from the verified chain, end-to-end encrypted to
	 * every member) also names the casus of a notice where this device holds it */
	json_array_foreach(json_object_get(res, "notices"), i, o) {
		const char *t = casus_title(c, json_string_value(json_object_get(o, "casus")));
		if (t && !json_object_get(o, "title"))
			json_object_set_new(o, "title", json_string(t));
	}
	if (g_json) {
		json_object_set_new(res, "ok", json_true());
		print_json(res);
	} else {
		if (!json_array_size(json_object_get(res, "casus"))) {
			if (may_create(c))
				printf("U bent nog geen lid van een casus. Open er een met: casus new --title ...\n"
				       "You are not a member of any casus yet. Open one with: casus new --title ...\n");
			else
				printf("U bent nog geen lid van een casus; een lid dat mag toevoegen voegt u toe.\n"
				       "You are not a member of any casus yet; a member who may add people adds you.\n");
		}
		json_array_foreach(json_object_get(res, "casus"), i, o) {
			/* the title where this device can read it, else the purpose */
			const char *title = json_string_value(json_object_get(o, "title"));
			printf("%s  level %lld %-18s  %3lld unread  %s%s%s\n",
			       TC(json_string_value(json_object_get(o, "casus"))),
			       json_integer_value(json_object_get(o, "level")),
			       TC(json_string_value(json_object_get(o, "level_name"))),
			       json_integer_value(json_object_get(o, "unread")),
			       title && *title ? TC(title) : TC(json_string_value(json_object_get(o, "purpose"))),
			       title && *title ? "" : " (doel / purpose)",
			       json_is_true(json_object_get(o, "rollback"))
			               ? "  !! server teruggezet / server went back in time"
			               : "");
		}
		json_array_foreach(json_object_get(res, "notices"), i, o) {
			/* a notice names only the casus and its level (the reason is
			 * end-to-end encrypted to the members, never in a notice) */
			const char *kind = json_string_value(json_object_get(o, "notice"));
			const char *nt = json_string_value(json_object_get(o, "title"));
			if (kind && strcmp(kind, "stagnation") == 0) {
				const char *sig = json_string_value(json_object_get(o, "signal"));
				printf("melding: casus %s stagneert op niveau %lld: %s sinds %lld dagen%s%s%s\n",
				       TC(json_string_value(json_object_get(o, "casus"))),
				       json_integer_value(json_object_get(o, "level")),
				       sig && strcmp(sig, "no_note") == 0           ? "geen notitie"
				       : sig && strcmp(sig, "actions_overdue") == 0 ? "afspraken over tijd"
				                                                    : "niveau ongewijzigd",
				       json_integer_value(json_object_get(o, "days")), nt ? " (" : "", nt ? TC(nt) : "",
				       nt ? ")" : "");
				continue;
			}
			if (kind && strcmp(kind, "agenda") == 0) {
				char d[20];
				ccore_date_format((int64_t)json_integer_value(json_object_get(o, "date")), d);
				printf("melding: casus %s%s%s%s staat op de agenda van %s (casus agenda)\n",
				       TC(json_string_value(json_object_get(o, "casus"))), nt ? " (" : "",
				       nt ? TC(nt) : "", nt ? ")" : "", d);
				continue;
			}
			printf("notice: casus %s needs you at level %lld%s%s%s\n",
			       TC(json_string_value(json_object_get(o, "casus"))),
			       json_integer_value(json_object_get(o, "level")), nt ? " (" : "", nt ? TC(nt) : "",
			       nt ? ")" : "");
		}
	}
	json_decref(res);
	return 0;
}

static int cmd_new(casus_client *c, int argc, char **argv)
{
	const char *title = cli_opt(argc, argv, "--title"), *purpose = cli_opt(argc, argv, "--purpose"),
		   *basis = cli_opt(argc, argv, "--basis"), *lvl = cli_opt(argc, argv, "--level");
	if (!title || !purpose || !basis)
		return report_err(
			CASUS_E_USAGE, "usage",
			"casus new needs --title, --purpose (why the casus exists) and --basis (legal basis)");
	const char *members[64];
	size_t n = 0;
	for (int i = 0; i + 1 < argc && n < 64; i++)
		if (strcmp(argv[i], "--member") == 0)
			members[n++] = argv[++i];
	char hex[33];
	unsigned long long level = 1, ret = 0;
	int prc, have_ret = 0;
	if ((prc = num_opt("--level", lvl, 255, &level)) < 0 ||
	    (prc = have_ret = num_opt("--retention-days", cli_opt(argc, argv, "--retention-days"), 100000, &ret)) < 0)
		return -prc;
	if (level < 1)
		return usage_err("--level begint bij 1 / --level starts at 1");
	int rc = casus_new_retention(c, title, purpose, basis, (uint8_t)level, have_ret ? (long)ret : -1, members, n,
	                             hex);
	if (rc)
		return fail_client(c, rc);
	if (g_json) {
		json_t *r = json_pack("{sbss}", "ok", 1, "casus", hex);
		print_json(r);
		json_decref(r);
	} else {
		printf("Casus opened: %s\n", hex);
	}
	return 0;
}

static int cmd_post(casus_client *c, int argc, char **argv)
{
	const char *cid = positional(argc, argv, 0);
	const char *text = positional(argc, argv, 1);
	char *owned = NULL;
	if (!cid)
		return report_err(CASUS_E_USAGE, "usage", "casus post CASUS [--audience A] [--ground G] TEXT");
	if (!text || strcmp(text, "-") == 0) {
		if (isatty(STDIN_FILENO))
			fprintf(stderr, "Typ het bericht; sluit af met Ctrl-D op een nieuwe regel (Ctrl-C breekt af).\n"
			                "Type the message; end it with Ctrl-D on a new line (Ctrl-C cancels).\n");
		text = owned = read_stdin();
	}
	if (!text || !*text) {
		free(owned);
		return report_err(CASUS_E_USAGE, "usage",
		                  "niets te plaatsen: geef TEXT of tekst op standaardinvoer / nothing to post: give "
		                  "TEXT or pipe it on standard input");
	}
	/* which audience the post goes to: the one asked for, else the policy's
	 * first one this device may use (what casus_post takes) */
	const char *aud = cli_opt(argc, argv, "--audience");
	char audbuf[80] = "";
	if (!aud) {
		json_t *mine = NULL;
		if (casus_my_audiences(c, cid, &mine) == CASUS_OK && json_array_size(mine))
			snprintf(audbuf, sizeof audbuf, "%s",
			         json_string_value(json_object_get(json_array_get(mine, 0), "name")) ?: "");
		json_decref(mine);
		if (!audbuf[0]) /* not known here (e.g. offline without a local copy) */
			snprintf(audbuf, sizeof audbuf, "standaard/default");
		aud = audbuf;
	}
	uint64_t seq = 0;
	char mid[33] = "";
	int rc =
		casus_post(c, cid, cli_opt(argc, argv, "--audience"), cli_opt(argc, argv, "--ground"), text, &seq, mid);
	if (owned) {
		sodium_memzero(owned, strlen(owned));
		free(owned);
	}
	if (rc == CASUS_E_QUEUED) {
		if (g_json) {
			json_t *o = json_pack("{sbsbsssss{ssssss}}", "ok", 0, "queued", 1, "id", mid, "audience", aud,
			                      "error", "code", "queued", "kind", "queued", "message", casus_error(c));
			print_json(o);
			json_decref(o);
		} else {
			printf("Nog niet verstuurd (publiek %s): de server is onbereikbaar; het bericht wacht versleuteld\n"
			       "in de outbox. Not sent yet (audience %s): the server cannot be reached. The message waits\n"
			       "(encrypted) in the outbox and goes out the next time casus connects (any command, or: casus "
			       "outbox).\n",
			       TC(aud), TC(aud));
		}
		return exit_code(rc);
	}
	if (rc)
		return fail_client(c, rc);
	/* the audience it went to, as this device holds the delivered entry */
	json_t *ent = NULL;
	if (casus_entry(c, cid, seq, &ent) == CASUS_OK && json_string_value(json_object_get(ent, "audience")))
		snprintf(audbuf, sizeof audbuf, "%s", json_string_value(json_object_get(ent, "audience")));
	else
		snprintf(audbuf, sizeof audbuf, "%s", aud);
	json_decref(ent);
	if (g_json) {
		json_t *o = json_pack("{sbsIssss}", "ok", 1, "seq", (json_int_t)seq, "id", mid, "audience", audbuf);
		print_json(o);
		json_decref(o);
	} else {
		printf("Geplaatst als bericht #%llu (%.8s) voor publiek %s.\nPosted as message #%llu (%.8s) to "
		       "audience %s.\n",
		       (unsigned long long)seq, mid, TC(audbuf), (unsigned long long)seq, mid, TC(audbuf));
	}
	return 0;
}

static int cmd_history(casus_client *c, int argc, char **argv)
{
	const char *cid = positional(argc, argv, 0);
	unsigned long long after = 0, limit = 0;
	int prc;
	if (!cid)
		return usage_err("casus %s", g_cmds[cmd_index("history")].synopsis);
	if ((prc = num_opt("--after", cli_opt(argc, argv, "--after"), UINT64_MAX >> 12, &after)) < 0 ||
	    (prc = num_opt("--limit", cli_opt(argc, argv, "--limit"), 100000, &limit)) < 0)
		return -prc;
	json_t *res = NULL;
	/* --limit N alone: the newest N (the whole history, cut from the front);
	 * with --after SEQ: the first N after SEQ (paging forward) */
	int newest = limit && !after;
	int rc = casus_history(c, cid, after, newest ? 0 : (size_t)limit, &res);
	if (rc)
		return fail_client(c, rc);
	while (newest && json_array_size(res) > limit)
		json_array_remove(res, 0);
	int offline = !casus_is_online(c);
	json_t *info = NULL;
	json_int_t saved = 0;
	if (offline && casus_cache_info(c, cid, &info) == CASUS_OK)
		saved = json_integer_value(json_object_get(info, "saved"));
	json_decref(info);
	if (g_json) {
		/* {"ok":true,"messages":[...],"offline":B[,"cached_at":T][,"warnings":[...]]}, byte for
		 * byte what json_dumps prints for it, written one message at a time (no document of
		 * 10,000 messages built, and none held in one string) */
		json_t *tail = json_pack("{sb}", "offline", offline);
		if (offline)
			json_object_set_new(tail, "cached_at", json_integer(saved));
		take_warnings(tail);
		char *t = json_dumps(tail, JSON_COMPACT);
		fputs("{\"ok\":true,\"messages\":[", stdout);
		size_t i;
		json_t *o;
		json_array_foreach(res, i, o) {
			if (i)
				putchar(',');
			json_dumpf(o, stdout, JSON_COMPACT);
		}
		if (t && t[0] == '{')
			printf("],%s\n", t + 1);
		else /* out of memory for the tail: its first field still */
			printf("],\"offline\":%s}\n", offline ? "true" : "false");
		free(t);
		json_decref(tail);
	} else {
		if (offline) {
			char when[32];
			fmt_time((long long)saved, when, sizeof when);
			printf("== OFFLINE: the local copy on this device, as of %s; newer messages may exist ==\n",
			       when);
		}
		size_t i;
		json_t *o;
		json_array_foreach(res, i, o)
			print_entry(o);
	}
	json_decref(res);
	return 0;
}

static int cmd_members(casus_client *c, int argc, char **argv)
{
	const char *cid = positional(argc, argv, 0);
	if (!cid)
		return report_err(CASUS_E_USAGE, "usage", "casus members CASUS");
	json_t *res = NULL;
	int rc = casus_members(c, cid, &res);
	if (rc)
		return fail_client(c, rc);
	if (g_json) {
		json_object_set_new(res, "ok", json_true());
		json_object_set_new(res, "offline", json_boolean(g_offline));
		print_json(res);
	} else {
		if (g_offline)
			printf("== OFFLINE: membership as last verified on this device ==\n");
		printf("level %lld (%s), epoch %lld\n", json_integer_value(json_object_get(res, "level")),
		       json_string_value(json_object_get(res, "level_name")),
		       json_integer_value(json_object_get(res, "epoch")));
		size_t i;
		json_t *m;
		/* columns as wide as their longest entry (long role names stay aligned) */
		int wu = 4, wr = 4, wo = 3;
		json_array_foreach(json_object_get(res, "members"), i, m) {
			int lu = (int)strlen(TC(json_string_value(json_object_get(m, "user"))));
			int lr = (int)strlen(TC(json_string_value(json_object_get(m, "role"))));
			int lo = (int)strlen(TC(json_string_value(json_object_get(m, "org"))));
			wu = lu > wu ? (lu > 64 ? 64 : lu) : wu;
			wr = lr > wr ? (lr > 64 ? 64 : lr) : wr;
			wo = lo > wo ? (lo > 64 ? 64 : lo) : wo;
		}
		json_array_foreach(json_object_get(res, "members"), i, m) {
			int bg = json_is_true(json_object_get(m, "break_glass"));
			printf("  %-*s  %-*s  %-*s%s\n", wu, TC(json_string_value(json_object_get(m, "user"))), wr,
			       TC(json_string_value(json_object_get(m, "role"))), bg ? wo : 0,
			       TC(json_string_value(json_object_get(m, "org"))), bg ? "  BREAK-GLASS" : "");
		}
		/* the chain's changes; the reason is decrypted by this device (members only) */
		printf("changes:\n");
		json_array_foreach(json_object_get(res, "changes"), i, m) {
			const char *why = json_string_value(json_object_get(m, "reason"));
			printf("  epoch %-4lld %-12s level %lld by %-16s%s%s\n",
			       json_integer_value(json_object_get(m, "epoch")),
			       TC(json_string_value(json_object_get(m, "type"))),
			       json_integer_value(json_object_get(m, "level")),
			       TC(json_string_value(json_object_get(m, "by"))), why ? " reden: " : "",
			       why ? TC(why) : "");
		}
	}
	json_decref(res);
	return 0;
}

static int done_ok(const char *what)
{
	if (g_json) {
		json_t *o = json_pack("{sb}", "ok", 1);
		print_json(o);
		json_decref(o);
	} else {
		printf("%s\n", what);
	}
	return 0;
}

/* A refusal by the policy (exit 1), in words: Dutch / English. */
static int refused(casus_client *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refused(casus_client *c, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	(void)c;
	return report_err(CASUS_E_USAGE, "forbidden", msg);
}

/* The role the server's directory gives a user (a hint for the message
 * only: what is added is judged by the client core), or "" if unknown. */
static void dir_role(casus_client *c, const char *user, char *out, size_t cap)
{
	out[0] = 0;
	json_t *req = json_pack("{ssss}", "type", "dir.lookup", "user", user);
	json_t *r = req ? casus_raw_request(c, req) : NULL;
	json_decref(req);
	json_t *d = json_array_get(json_object_get(r, "devices"), 0);
	size_t n = 0;
	const char *b64 = json_string_value(json_object_get(d, "cert"));
	uint8_t *bin = b64 ? malloc(strlen(b64)) : NULL;
	cc_cert ct;
	if (bin &&
	    sodium_base642bin(bin, strlen(b64), b64, strlen(b64), NULL, &n, NULL, sodium_base64_VARIANT_ORIGINAL) ==
	            0 &&
	    cc_cert_decode(bin, n, &ct) == CC_OK)
		snprintf(out, cap, "%s", ct.role);
	free(bin);
	json_decref(r);
}

/* casus add refused by the policy: say whether the level does not admit the
 * role or this device's role may not add. */
static int refused_add(casus_client *c, const char *cid, const char *user)
{
	char role[80];
	json_t *mem = NULL, *pol = casus_policy_json(c), *r;
	long long level = 0;
	if (casus_members(c, cid, &mem) == CASUS_OK)
		level = json_integer_value(json_object_get(mem, "level"));
	json_decref(mem);
	dir_role(c, user, role, sizeof role);
	long long min = -1;
	int may_add = 0;
	size_t i;
	json_array_foreach(json_object_get(pol, "roles"), i, r) {
		const char *nm = json_string_value(json_object_get(r, "name")) ?: "";
		if (*role && strcmp(nm, role) == 0)
			min = json_integer_value(json_object_get(r, "min_level"));
		if (strcmp(nm, casus_self_role(c) ?: "") == 0)
			may_add = json_is_true(json_object_get(r, "may_add"));
	}
	const char *lname = json_string_value(json_array_get(json_object_get(pol, "levels"), (size_t)(level - 1)));
	int rc;
	char from_nl[64] = "", from_en[64] = "";
	if (min > 0) {
		snprintf(from_nl, sizeof from_nl, ", pas vanaf niveau %lld", min);
		snprintf(from_en, sizeof from_en, "; it is from level %lld", min);
	}
	if (min == 0 || (min > 0 && min > level))
		rc = refused(c,
		             "geweigerd door het beleid: de rol %s (%s) wordt op niveau %lld (%s) niet toegelaten%s / "
		             "refused by the policy: the role %s (%s) is not admitted at level %lld (%s)%s",
		             role, TC(user), level, lname ?: "?", from_nl, role, TC(user), level, lname ?: "?",
		             from_en);
	else if (!may_add)
		rc = refused(c,
		             "geweigerd door het beleid: uw rol (%s) mag geen leden toevoegen / refused by the "
		             "policy: your role (%s) may not add members",
		             casus_self_role(c), casus_self_role(c));
	else
		rc = refused(c,
		             "geweigerd door het beleid: %s kan hier niet worden toegevoegd / refused by the policy: "
		             "%s cannot be added here (%s)",
		             TC(user), TC(user), casus_error(c));
	json_decref(pol);
	return rc;
}

static int cmd_add_remove(casus_client *c, int argc, char **argv, int add)
{
	const char *cid = positional(argc, argv, 0), *user = positional(argc, argv, 1);
	if (!cid || !user)
		return report_err(CASUS_E_USAGE, "usage", add ? "casus add CASUS USER" : "casus remove CASUS USER");
	json_t *sealed = NULL;
	int rc = add ? casus_add_shown(c, cid, user, cli_opt(argc, argv, "--break-glass"), &sealed)
	             : casus_remove(c, cid, user, cli_opt(argc, argv, "--reason"));
	if (rc && add && rc != CASUS_E_SERVER && strcmp(casus_error_code(c), "forbidden") == 0)
		return refused_add(c, cid, user);
	if (rc)
		return fail_client(c, rc);
	if (!add)
		return done_ok("Member removed; keys rotated; the verified chain shows the removal.");
	/* whom the keys were sealed to: each device with its pairing code */
	if (g_json) {
		json_t *o = json_pack("{sbsO}", "ok", 1, "sealed", sealed);
		print_json(o);
		json_decref(o);
	} else {
		size_t i;
		json_t *d;
		printf("Member added; keys rotated. The keys were sealed to these devices:\n");
		json_array_foreach(sealed, i, d)
			printf("  %s (%s) device %s, pairing code %s\n",
			       TC(json_string_value(json_object_get(d, "user"))),
			       TC(json_string_value(json_object_get(d, "role"))),
			       json_string_value(json_object_get(d, "device")),
			       json_string_value(json_object_get(d, "code")));
	}
	json_decref(sealed);
	return 0;
}

static int cmd_level(casus_client *c, int argc, char **argv, int up)
{
	const char *cid = positional(argc, argv, 0), *lvl = positional(argc, argv, 1);
	const char *reason = cli_opt(argc, argv, "--reason");
	if (!cid || !lvl || !reason)
		return usage_err("casus %s", g_cmds[cmd_index(up ? "escalate" : "deescalate")].synopsis);
	json_t *pol = casus_policy_json(c);
	size_t nlev = json_array_size(json_object_get(pol, "levels"));
	json_decref(pol);
	char *end = NULL;
	unsigned long level = strtoul(lvl, &end, 10);
	if (!isdigit((unsigned char)lvl[0]) || *end || level < 1 || level > 255 || (nlev && level > nlev)) {
		return usage_err("niveau \"%s\" bestaat niet: geef een getal 1..%zu (casus members toont het "
		                 "huidige) / level \"%s\" does not exist: give a number 1..%zu",
		                 lvl, nlev, lvl, nlev);
	}
	int rc = casus_set_level(c, cid, (uint8_t)level, reason);
	if (rc && strcmp(casus_error_code(c), "forbidden") == 0 && rc != CASUS_E_SERVER)
		return refused(c,
		               "uw rol (%s) mag deze casus niet naar niveau %lu brengen / your role (%s) may not "
		               "move this casus to level %lu",
		               casus_self_role(c), level, casus_self_role(c), level);
	if (rc)
		return fail_client(c, rc);
	return done_ok(up ? "Casus escalated."
	                  : "Casus de-escalated; members the level no longer admits were removed.");
}

static int not_found_msg(const char *t)
{
	char msg[300];
	snprintf(msg, sizeof msg,
	         "geen bericht %.64s in deze casus (casus history) / no message %.64s in this casus (casus history)", t,
	         t);
	return report_err(CASUS_E_NOT_FOUND, "not_found", msg);
}

static int cmd_share(casus_client *c, int argc, char **argv)
{
	const char *cid = positional(argc, argv, 0), *to = cli_opt(argc, argv, "--to"),
		   *ids = cli_opt(argc, argv, "--messages");
	if (!cid || !to || !ids)
		return report_err(CASUS_E_USAGE, "usage",
		                  "casus share CASUS --to USER --messages ID[,ID...] --ground G --reason R");
	char buf[8192];
	snprintf(buf, sizeof buf, "%s", ids);
	const char *list[256];
	size_t n = 0;
	for (char *save = NULL, *t = strtok_r(buf, ",", &save); t && n < 256; t = strtok_r(NULL, ",", &save))
		list[n++] = t;
	/* #18 (as history shows it), 18, or a unique prefix of a message id */
	static char full[256][33];
	json_t *hist = NULL;
	int hrc = casus_history(c, cid, 0, 0, &hist);
	if (hrc)
		return fail_client(c, hrc);
	for (size_t k = 0; k < n; k++) {
		const char *t = list[k];
		if (strlen(t) == 32 && is_hex(t))
			continue;
		const char *num = t[0] == '#' ? t + 1 : t;
		int by_seq = *num && strspn(num, "0123456789") == strlen(num) && (t[0] == '#' || strlen(num) < 4);
		size_t i, hits = 0;
		json_t *e;
		json_array_foreach(hist, i, e) {
			const char *id = json_string_value(json_object_get(e, "id"));
			if (!id)
				continue;
			int match = by_seq ? json_integer_value(json_object_get(e, "seq")) == atoll(num)
			                   : strlen(t) >= 4 && strncasecmp(id, t, strlen(t)) == 0;
			if (match && (!hits || strcmp(full[k], id) != 0)) {
				snprintf(full[k], sizeof full[k], "%s", id);
				hits++;
			}
		}
		if (hits != 1) {
			json_decref(hist);
			return hits ? usage_err(
					      "bericht %s is niet uniek; geef meer tekens / message %s is not unique; give "
					      "more digits",
					      t, t)
			            : not_found_msg(t);
		}
		list[k] = full[k];
	}
	/* a note of an audience the recipient's role may not read is refused by
	 * the policy: say so in words (the client core refuses it in any case) */
	char role[80];
	dir_role(c, to, role, sizeof role);
	json_t *pol = casus_policy_json(c), *a, *e;
	size_t ai, ei;
	int rc = CASUS_OK;
	json_array_foreach(hist, ei, e) {
		const char *id = json_string_value(json_object_get(e, "id"));
		const char *aud = json_string_value(json_object_get(e, "audience"));
		int wanted = 0;
		for (size_t k = 0; id && k < n; k++)
			wanted |= strcmp(list[k], id) == 0;
		if (!wanted || !aud || !*role)
			continue;
		json_array_foreach(json_object_get(pol, "audiences"), ai, a) {
			if (strcmp(json_string_value(json_object_get(a, "name")) ?: "", aud) != 0)
				continue;
			int in = 0;
			size_t ri;
			json_t *r;
			json_array_foreach(json_object_get(a, "roles"), ri, r)
				in |= strcmp(json_string_value(r) ?: "", role) == 0;
			if (!in && rc == CASUS_OK)
				rc = refused(
					c,
					"geweigerd door het beleid: de rol %s (%s) mag publiek %s niet lezen; bericht "
					"#%lld wordt niet gedeeld / refused by the policy: the role %s (%s) may not read "
					"audience %s; message #%lld is not shared",
					role, TC(to), TC(aud), json_integer_value(json_object_get(e, "seq")), role,
					TC(to), TC(aud), json_integer_value(json_object_get(e, "seq")));
		}
	}
	json_decref(pol);
	json_decref(hist);
	if (rc)
		return rc;
	rc = casus_share(c, cid, to, list, n, cli_opt(argc, argv, "--ground"), cli_opt(argc, argv, "--reason"));
	if (rc)
		return fail_client(c, rc);
	return done_ok("Shared; the grant is recorded in the audit trail.");
}

static long mono_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One history entry as readable lines (history, watch). */
static void print_entry(const json_t *o)
{
	char when[32];
	fmt_time(json_integer_value(json_object_get(o, "time")), when, sizeof when);
	json_t *snd = json_object_get(o, "sender");
	int ok = json_is_true(json_object_get(o, "verified"));
	const char *ground = json_string_value(json_object_get(o, "ground")) ?: "none";
	int has_ground = strcmp(ground, "none") != 0;
	/* everything that came from the server or from other members is cleaned
	 * of control characters: no forged lines, no escapes */
	printf("#%lld %.8s %s [%s%s%s] %s (%s, %s)%s\n", json_integer_value(json_object_get(o, "seq")),
	       json_string_value(json_object_get(o, "id")) ?: "-", when,
	       TC(json_string_value(json_object_get(o, "audience"))), has_ground ? " ground=" : "",
	       has_ground ? TC(ground) : "", snd ? TC(json_string_value(json_object_get(snd, "name"))) : "?",
	       snd ? TC(json_string_value(json_object_get(snd, "role"))) : "?",
	       snd ? TC(json_string_value(json_object_get(snd, "org"))) : "?",
	       !ok ? "  !! NOT VERIFIED"
	       : json_is_true(json_object_get(o, "diverged"))
	               ? "  !! ANDERS DAN UW KOPIE, SERVER TERUGGEZET / DIFFERS FROM YOUR COPY, SERVER WENT BACK"
	       : json_is_true(json_object_get(o, "late"))
	               ? "  (eerder geschreven, later verzonden / written earlier, sent later)"
	               : "");
	if (ok)
		printf("    %s\n", TC(json_string_value(json_object_get(o, "text"))));
	else
		printf("    (%s)\n", TC(json_string_value(json_object_get(o, "error"))));
}

/* watch without --json: a readable line per push, never the ciphertext. */
static void print_push(casus_client *c, const json_t *p)
{
	const char *kind = json_string_value(json_object_get(p, "push")) ?: "?";
	const char *cid = json_string_value(json_object_get(p, "casus"));
	if (strcmp(kind, "msg") == 0) {
		json_t *e = NULL;
		int rc = casus_decode_push(c, p, &e);
		if (rc == CASUS_OK && e)
			print_entry(e);
		else
			printf("casus %.8s: een bericht dat niet opent / a message that does not open (%s)\n",
			       cid ? TC(cid) : "?", TC(casus_error(c)));
		json_decref(e);
	} else if (strcmp(kind, "commit") == 0) {
		printf("casus %.8s: leden of niveau gewijzigd / membership or level changed (casus members %.8s)\n",
		       cid ? TC(cid) : "?", cid ? TC(cid) : "CASUS");
	} else if (strcmp(kind, "removed") == 0) {
		printf("casus %.8s: u bent verwijderd / you were removed\n", cid ? TC(cid) : "?");
	} else if (strcmp(kind, "grant") == 0) {
		printf("casus %.8s: eerdere berichten met u gedeeld / earlier notes were shared with you (casus "
		       "history %.8s)\n",
		       cid ? TC(cid) : "?", cid ? TC(cid) : "CASUS");
	} else if (strcmp(kind, "notice") == 0) {
		/* the notice's fields are in "notice" (casus id, level, date: no content) */
		const json_t *n = json_object_get(p, "notice") ?: p;
		const char *nk = json_string_value(json_object_get(n, "notice")) ?: "";
		const char *ncid = json_string_value(json_object_get(n, "casus"));
		if (ncid)
			cid = ncid;
		char d[20];
		ccore_date_format((int64_t)json_integer_value(json_object_get(n, "date")), d);
		if (strcmp(nk, "agenda") == 0)
			printf("melding / notice: casus %.8s staat op de agenda van %s / is on the agenda\n",
			       cid ? TC(cid) : "?", d);
		else if (strcmp(nk, "stagnation") == 0)
			printf("melding / notice: casus %.8s stagneert op niveau %lld (%s)\n", cid ? TC(cid) : "?",
			       json_integer_value(json_object_get(n, "level")),
			       TC(json_string_value(json_object_get(n, "signal"))));
		else
			printf("melding / notice: casus %.8s heeft u nodig op niveau %lld / needs you at level %lld\n",
			       cid ? TC(cid) : "?", json_integer_value(json_object_get(n, "level")),
			       json_integer_value(json_object_get(n, "level")));
	} else {
		printf("casus %.8s: %s\n", cid ? TC(cid) : "?", TC(kind));
	}
}

static int cmd_watch(casus_client *c, int argc, char **argv)
{
	const char *cid = positional(argc, argv, 0);
	unsigned long long cnt = 0, secs = 3600;
	int prc, have_cnt;
	if ((have_cnt = num_opt("--count", cli_opt(argc, argv, "--count"), 1000000000, &cnt)) < 0 ||
	    (prc = num_opt("--seconds", cli_opt(argc, argv, "--seconds"), 100000000, &secs)) < 0)
		return have_cnt < 0 ? -have_cnt : -prc;
	long want = have_cnt ? (long)cnt : -1;
	long end_ms = mono_now_ms() + (long)secs * 1000;
	long got = 0;
	/* follow the casus: after a reconnect, what was missed is fetched */
	uint64_t latest = 0;
	if (cid && casus_latest_seq(c, cid, &latest) == CASUS_OK)
		(void)casus_track(c, cid, latest);
	/* (not a member yet, or no such casus: watch anyway, without resume) */
	if (!g_json)
		fprintf(stderr, "watching; Ctrl-C to stop\n");
	else
		printf("{\"ready\":true}\n");
	fflush(stdout);
	while (mono_now_ms() < end_ms && (want < 0 || got < want)) {
		json_t *p = casus_next_event(c, 200);
		if (!p)
			continue;
		const char *kind = json_string_value(json_object_get(p, "push"));
		int conn_event = kind && strcmp(kind, "connection") == 0;
		if (g_json)
			print_json(p);
		else if (conn_event)
			fprintf(stderr, "verbinding / connection %s\n", json_string_value(json_object_get(p, "state")));
		else
			print_push(c, p);
		fflush(stdout);
		json_decref(p);
		if (!conn_event)
			got++;
	}
	return want < 0 || got >= want ? 0 : 1;
}

/* casus sleutel vernieuwen|toon (device rotate|show): this device's wrap keys (docs/CRYPTO.md). */
static int cmd_device_key(casus_client *c, int argc, char **argv)
{
	const char *sub = positional(argc, argv, 0);
	int rotate = sub && (strcmp(sub, "vernieuwen") == 0 || strcmp(sub, "rotate") == 0);
	if (!rotate && sub && strcmp(sub, "toon") != 0 && strcmp(sub, "show") != 0)
		return report_err(CASUS_E_USAGE, "usage", "casus sleutel [vernieuwen | toon] (device rotate | show)");
	json_t *res = NULL;
	int rc = rotate ? casus_device_rotate(c, &res) : casus_device_keys(c, &res);
	if (rc)
		return fail_client(c, rc);
	if (g_json) {
		json_object_set_new(res, "ok", json_true());
		print_json(res);
		json_decref(res);
		return 0;
	}
	char when[32];
	fmt_time(json_integer_value(json_object_get(res, "created")), when, sizeof when);
	json_int_t v = json_integer_value(json_object_get(res, "version"));
	if (rotate)
		printf("Nieuwe sleutel %lld gepubliceerd; de volgende wijziging van elke casus verzegelt ermee. / New wrap "
		       "key %lld published; the next commit of every casus seals to it.\n",
		       (long long)v, (long long)v);
	else if (v)
		printf("Sleutel %lld van %s%s / wrap key %lld of %s%s\n", (long long)v, when,
		       json_is_true(json_object_get(res, "due")) ? " (toe aan vernieuwing)" : "", (long long)v, when,
		       json_is_true(json_object_get(res, "due")) ? " (due for rotation)" : "");
	else
		printf("Nog geen eigen sleutel: epochsleutels gaan naar de gecertificeerde sleutel. / No wrap key yet: "
		       "epoch keys are sealed to the certified key.\n");
	json_t *held = json_object_get(res, "held"), *wiped = json_object_get(res, "wiped"), *x;
	size_t i;
	printf("  bewaard / held:");
	json_array_foreach(held, i, x)
		printf(" %lld", (long long)json_integer_value(x));
	printf("\n");
	if (json_array_size(wiped)) {
		printf("  gewist / wiped:");
		json_array_foreach(wiped, i, x)
			printf(" %lld", (long long)json_integer_value(x));
		printf("\n");
	}
	json_decref(res);
	return 0;
}

static int cmd_whoami(casus_client *c)
{
	json_t *res = NULL;
	int rc = casus_whoami(c, &res);
	if (rc)
		return fail_client(c, rc);
	if (g_json) {
		json_object_set_new(res, "ok", json_true());
		print_json(res);
	} else {
		char nb[32], na[32];
		fmt_time(json_integer_value(json_object_get(res, "not_before")), nb, sizeof nb);
		fmt_time(json_integer_value(json_object_get(res, "not_after")), na, sizeof na);
		printf("%s (%s), %s at %s\n  device %s, certificate valid %s .. %s\n  server %s: %s\n  profile %s\n",
		       TC(json_string_value(json_object_get(res, "name"))),
		       TC(json_string_value(json_object_get(res, "user"))),
		       TC(json_string_value(json_object_get(res, "role"))),
		       TC(json_string_value(json_object_get(res, "org"))),
		       json_string_value(json_object_get(res, "device")), nb, na,
		       json_string_value(json_object_get(res, "server")),
		       json_is_true(json_object_get(res, "online")) ? "connected" : "OFFLINE",
		       json_string_value(json_object_get(res, "profile")));
		printf("  pairing code %s (give it to your other device: casus add-device CASUS --code CODE)\n",
		       json_string_value(json_object_get(res, "pairing")));
		if (json_integer_value(json_object_get(res, "outbox")))
			printf("  %lld message(s) waiting in the outbox (casus outbox)\n",
			       json_integer_value(json_object_get(res, "outbox")));
	}
	json_decref(res);
	return 0;
}

static int cmd_outbox(casus_client *c)
{
	json_t *res = NULL;
	int rc = casus_outbox_list(c, &res);
	if (rc)
		return fail_client(c, rc);
	size_t npend = json_array_size(json_object_get(res, "pending"));
	size_t nfailed_now = 0, fi;
	json_t *fe;
	json_array_foreach(json_object_get(res, "failed"), fi, fe) {
		char path[PATH_MAX];
		struct stat sb;
		snprintf(path, sizeof path, "%s/outbox/%s.failed", g_profile ? g_profile : ".",
		         json_string_value(json_object_get(fe, "entry")) ?: "");
		int now = stat(path, &sb) == 0 &&
		          (sb.st_mtim.tv_sec > g_started.tv_sec ||
		           (sb.st_mtim.tv_sec == g_started.tv_sec && sb.st_mtim.tv_nsec >= g_started.tv_nsec));
		json_object_set_new(fe, "refused_now", json_boolean(now));
		nfailed_now += (size_t)now;
	}
	if (g_json) {
		json_object_set_new(res, "ok", json_true());
		json_object_set_new(res, "offline", json_boolean(!casus_is_online(c)));
		/* the texts stay out of scripts' output unless asked for */
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(res, "pending"), i, e)
			json_object_del(e, "text");
		json_array_foreach(json_object_get(res, "failed"), i, e)
			json_object_del(e, "text");
		print_json(res);
	} else {
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(res, "delivered"), i, e)
			printf("delivered: %s in casus %.8s as message %lld\n",
			       json_string_value(json_object_get(e, "id")),
			       json_string_value(json_object_get(e, "casus")),
			       json_integer_value(json_object_get(e, "seq")));
		json_array_foreach(json_object_get(res, "pending"), i, e)
			printf("waiting:   casus %.8s [%s] %.60s\n", TC(json_string_value(json_object_get(e, "casus"))),
			       TC(json_string_value(json_object_get(e, "audience"))),
			       json_string_value(json_object_get(e, "text"))
			               ? TC(json_string_value(json_object_get(e, "text")))
			               : "(does not open)");
		json_array_foreach(json_object_get(res, "failed"), i, e)
			printf("REFUSED:   casus %.8s: %s\n", TC(json_string_value(json_object_get(e, "casus"))),
			       TC(json_string_value(json_object_get(e, "failed"))));
		if (!npend && !json_array_size(json_object_get(res, "failed")))
			printf("The outbox is empty: everything was delivered.\n");
		else if (npend)
			printf("%s\n",
			       casus_is_online(c) ? "" : "Offline: waiting messages go out on the next connect.");
	}
	json_decref(res);
	/* a post refused for good while this command ran (when it connected) is
	 * a refusal (1); refusals of earlier runs stay listed but do not fail
	 * every later run; a post still waiting offline is queued (7) */
	return nfailed_now ? CLI_EXIT_REFUSED : npend && !casus_is_online(c) ? CLI_EXIT_QUEUED : CLI_EXIT_OK;
}

static int cmd_add_device(casus_client *c, int argc, char **argv)
{
	const char *cid = positional(argc, argv, 0);
	if (!cid)
		return report_err(
			CASUS_E_USAGE, "usage",
			"casus add-device CASUS --code CODE (on a device that is already a member; CODE is the "
			"pairing code `casus whoami` shows on the new device)");
	json_t *res = NULL;
	int rc = casus_add_device_paired(c, cid, cli_opt(argc, argv, "--code"), &res);
	if (rc)
		return fail_client(c, rc);
	if (g_json) {
		json_object_set_new(res, "ok", json_true());
		print_json(res);
	} else {
		size_t n = json_array_size(json_object_get(res, "transferred"));
		printf("%lld device(s) added; the casus keys of this device were passed to %zu device(s).\n",
		       json_integer_value(json_object_get(res, "added")), n);
		if (!n)
			printf("Your other device must be certified first (casus init, casus-admin certify, casus install-cert).\n");
	}
	json_decref(res);
	return 0;
}

/* casus raw: one JSON request per line on standard input, each response (and
 * any push that arrived meanwhile) as one line on standard output, over the
 * authenticated session. For tests and debugging; the requests are sent as
 * they are, so the server's checks are what a hostile client meets. */
static int cmd_raw(casus_client *c)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int rc = 0;
	while ((n = getline(&line, &cap, stdin)) > 0) {
		json_error_t jerr;
		json_t *req = json_loadb(line, (size_t)n, JSON_REJECT_DUPLICATES, &jerr);
		if (!req || !json_is_object(req)) {
			fprintf(stderr, "casus raw: not a JSON object: %s\n", jerr.text);
			json_decref(req);
			rc = 2;
			continue;
		}
		json_t *r = casus_raw_request(c, req);
		json_decref(req);
		json_t *p;
		while ((p = casus_next_push(c, 0)) != NULL) {
			print_json(p);
			json_decref(p);
		}
		if (!r) {
			printf("{\"ok\":false,\"error\":{\"code\":\"network\",\"message\":\"no response\"}}\n");
			fflush(stdout);
			rc = 4;
			break;
		}
		print_json(r);
		fflush(stdout);
		json_decref(r);
	}
	free(line);
	return rc;
}

/* A casus named by a prefix of its id (4..31 hex digits): the one casus the
 * server lists for this device or this device holds a local copy of whose id
 * starts with it. 0 with out set (out is arg unchanged when it is not a
 * prefix: the library then judges it), or the exit code of a reported
 * error: not found (6) or not unique (2). */
static int resolve_casus(casus_client *c, const char *arg, char out[33])
{
	size_t n = strlen(arg);
	snprintf(out, 33, "%s", arg);
	if (n < 4 || n >= 32 || !is_hex(arg))
		return 0;
	char want[33];
	for (size_t i = 0; i <= n; i++)
		want[i] = (char)tolower((unsigned char)arg[i]);
	json_t *cand = json_object(); /* id -> true */
	json_t *res = NULL, *o;
	size_t i;
	/* the server's list as it is (casus_list would also load every chain for its title) */
	json_t *req = json_pack("{ss}", "type", "casus.list");
	if (casus_is_online(c) && req)
		res = casus_raw_request(c, req);
	json_decref(req);
	if (res && json_is_true(json_object_get(res, "ok")))
		json_array_foreach(json_object_get(res, "casus"), i, o) {
			const char *id = json_string_value(json_object_get(o, "casus"));
			if (id && strncmp(id, want, n) == 0)
				json_object_set_new(cand, id, json_true());
		}
	json_decref(res);
	char dir[PATH_MAX];
	snprintf(dir, sizeof dir, "%s/cache", g_profile ? g_profile : ".");
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		char id[33];
		if (strlen(de->d_name) == 36 && strcmp(de->d_name + 32, ".bin") == 0) {
			memcpy(id, de->d_name, 32);
			id[32] = 0;
			if (is_hex(id) && strncmp(id, want, n) == 0)
				json_object_set_new(cand, id, json_true());
		}
	}
	if (d)
		closedir(d);
	size_t k = json_object_size(cand);
	int rc = 0;
	if (k == 1) {
		snprintf(out, 33, "%s", json_object_iter_key(json_object_iter(cand)));
	} else if (k == 0) {
		rc = report_err(CASUS_E_NOT_FOUND, "not_found",
		                "geen casus van u begint met deze id (casus list) / no casus of yours starts with "
		                "this id (casus list)");
	} else {
		char list[600] = "";
		const char *key;
		json_t *v;
		json_object_foreach(cand, key, v) {
			if (strlen(list) + 40 < sizeof list)
				snprintf(list + strlen(list), sizeof list - strlen(list), " %s", key);
		}
		rc = usage_err("de korte id %s is niet uniek; geef meer tekens:%s / the short id %s is not unique; "
		               "give more digits",
		               arg, list, arg);
	}
	json_decref(cand);
	return rc;
}

/* The index in argv of the n-th positional argument (as positional()), or -1. */
static int positional_index(int argc, char **argv, int n)
{
	const char *p = positional(argc, argv, n);
	for (int i = 0; p && i < argc; i++)
		if (argv[i] == p)
			return i;
	return -1;
}

/* The argument parser: "--name=value" is split (cli_args.h), and the global
 * options --json, --profile DIR, --help and --version are taken from anywhere
 * on the line, before or after the command ("casus list --json"). After
 * `audit report`, --json FILE is that command's own option and stays. A lone
 * "--" ends option handling: what follows goes to the command unchanged. */
int main(int argc, char **argv)
{
	static char **av, **rest; /* static: reachable until exit (LeakSanitizer) */
	int ac = 0, n = 0;
	const char *cmd0 = NULL;
	g_profile = getenv("CASUS_PROFILE");
	clock_gettime(CLOCK_REALTIME, &g_started);
	if (cli_args_expand(argc, argv, &ac, &av) != 0 || !(rest = calloc((size_t)ac + 1, sizeof *rest))) {
		fprintf(stderr, "casus: out of memory\n");
		return 1;
	}
	rest[n++] = av[0];
	int want_help = 0;
	char bad[512] = "";
	for (int k = 1; k < ac; k++) {
		const char *a = av[k];
		int report = cmd0 && strcmp(cmd0, "audit") == 0 && n > 2 && strcmp(rest[2], "report") == 0;
		if (strcmp(a, "--") == 0) {
			while (++k < ac)
				rest[n++] = av[k];
			break;
		}
		if (strcmp(a, "--json") == 0 && !report) {
			g_json = 1;
		} else if (strcmp(a, "--profile") == 0) {
			if (k + 1 >= ac)
				snprintf(bad, sizeof bad, "--profile verwacht een map / --profile needs a folder");
			else
				g_profile = av[++k];
		} else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			want_help = 1;
		} else if (strcmp(a, "--version") == 0) {
			printf("casus %s\n", CASUS_VERSION);
			return 0;
		} else if (!cmd0 && strncmp(a, "--", 2) == 0) {
			if (!*bad)
				snprintf(bad, sizeof bad,
				         "onbekende optie %.100s voor het commando / unknown option %.100s before the "
				         "command (casus help)",
				         a, a);
		} else {
			if (!cmd0)
				cmd0 = a;
			rest[n++] = av[k];
		}
	}
	rest[n] = NULL;
	argc = n;
	argv = rest;
	int i = 1;
	/* help never opens a profile and never runs the command it explains */
	if (want_help)
		return help(cmd0);
	if (cmd0 && strcmp(cmd0, "help") == 0)
		return help(argc > 2 ? argv[2] : NULL);
	if (*bad)
		return usage_err("%s", bad);
	if (i >= argc) {
		if (g_json)
			return usage_err("geen commando / no command (casus help lists them)");
		usage();
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	const char *cmd = argv[i];
	int sargc = argc - i - 1;
	char **sargv = argv + i + 1;
	int rc;
	if (strcmp(cmd, "init") == 0) {
		rc = cmd_init(sargc, sargv);
		sodium_memzero(g_pass, sizeof g_pass);
		return rc;
	}
	if (strcmp(cmd, "audit") == 0 && cli_audit_is_offline(sargc, sargv)) {
		/* verify and report work on files: no profile or connection needed */
		return cli_audit_offline(sargc, sargv, g_json);
	}
	if (strcmp(cmd, "install-cert") == 0) {
		rc = cmd_install_cert(sargc, sargv);
		sodium_memzero(g_pass, sizeof g_pass);
		return rc;
	}
	static const char *const known[] = {"list",     "new",     "post",       "history",    "members",
	                                    "add",      "remove",  "escalate",   "deescalate", "rotate",
	                                    "share",    "audit",   "open",       "watch",      "raw",
	                                    "whoami",   "outbox",  "add-device", "close",      "overzicht",
	                                    "overview", "monitor", "sleutel",    "device",     NULL};
	int ok = cli_agenda_is(cmd);
	for (int k = 0; known[k]; k++)
		ok |= strcmp(known[k], cmd) == 0;
	if (!ok)
		return usage_err("onbekend commando / unknown command %s (casus help lists them)", cmd);
	casus_client *c = NULL;
	int mode = 1;
	if (strcmp(cmd, "history") == 0 && cli_flag(sargc, sargv, "--offline"))
		mode = 0;
	else if (strcmp(cmd, "history") == 0 || strcmp(cmd, "post") == 0 || strcmp(cmd, "members") == 0 ||
	         strcmp(cmd, "whoami") == 0 || strcmp(cmd, "outbox") == 0 || strcmp(cmd, "open") == 0 ||
	         strcmp(cmd, "sleutel") == 0 || strcmp(cmd, "device") == 0)
		mode = 2;
	if ((rc = open_client(&c, mode)) != 0)
		return rc;
	g_cli = c;
	sodium_memzero(g_pass, sizeof g_pass);
	/* a unique prefix of a casus id stands for the whole id */
	static char cidbuf[33];
	int at = -1;
	if (strcmp(cmd, "audit") == 0) {
		for (int k = 0; k + 1 < sargc; k++)
			if (strcmp(sargv[k], "--casus") == 0)
				at = k + 1;
	} else if (strcmp(cmd, "list") != 0 && strcmp(cmd, "new") != 0 && strcmp(cmd, "whoami") != 0 &&
	           strcmp(cmd, "outbox") != 0 && strcmp(cmd, "raw") != 0 && strcmp(cmd, "overzicht") != 0 &&
	           strcmp(cmd, "overview") != 0 && strcmp(cmd, "monitor") != 0 && strcmp(cmd, "meldingen") != 0 &&
	           strcmp(cmd, "notices") != 0 && strcmp(cmd, "sleutel") != 0 && strcmp(cmd, "device") != 0) {
		at = positional_index(sargc, sargv, 0);
	}
	if (at >= 0 && (rc = resolve_casus(c, sargv[at], cidbuf)) != 0) {
		g_cli = NULL;
		casus_client_free(c);
		return rc;
	}
	if (at >= 0)
		sargv[at] = cidbuf;
	if (strcmp(cmd, "list") == 0)
		rc = cmd_list(c);
	else if (strcmp(cmd, "new") == 0)
		rc = cmd_new(c, sargc, sargv);
	else if (strcmp(cmd, "post") == 0)
		rc = cmd_post(c, sargc, sargv);
	else if (strcmp(cmd, "history") == 0)
		rc = cmd_history(c, sargc, sargv);
	else if (strcmp(cmd, "members") == 0)
		rc = cmd_members(c, sargc, sargv);
	else if (strcmp(cmd, "add") == 0)
		rc = cmd_add_remove(c, sargc, sargv, 1);
	else if (strcmp(cmd, "remove") == 0)
		rc = cmd_add_remove(c, sargc, sargv, 0);
	else if (strcmp(cmd, "escalate") == 0)
		rc = cmd_level(c, sargc, sargv, 1);
	else if (strcmp(cmd, "deescalate") == 0)
		rc = cmd_level(c, sargc, sargv, 0);
	else if (strcmp(cmd, "rotate") == 0) {
		const char *cid = positional(sargc, sargv, 0);
		rc = cid ? casus_rotate(c, cid, cli_opt(sargc, sargv, "--reason")) : CASUS_E_USAGE;
		rc = rc ? fail_client(c, rc) : done_ok("Keys rotated.");
	} else if (strcmp(cmd, "close") == 0) {
		const char *cid = positional(sargc, sargv, 0);
		int64_t purge_after = 0;
		rc = cid ? casus_close(c, cid, cli_opt(sargc, sargv, "--reason"), &purge_after)
		         : report_err(CASUS_E_USAGE, "usage", "casus close CASUS --reason TEXT");
		if (cid && rc)
			rc = fail_client(c, rc);
		else if (cid && g_json)
			printf("{\"ok\":true,\"purge_after\":%lld}\n", (long long)purge_after);
		else if (cid)
			printf("Casus closed. Its content is purged after %lld (UTC seconds).\n",
			       (long long)purge_after);
	} else if (strcmp(cmd, "share") == 0)
		rc = cmd_share(c, sargc, sargv);
	else if (strcmp(cmd, "audit") == 0)
		rc = cli_audit(c, sargc, sargv, g_json);
	else if (strcmp(cmd, "overzicht") == 0 || strcmp(cmd, "overview") == 0 || strcmp(cmd, "monitor") == 0)
		rc = cli_regie(c, cmd, sargc, sargv, g_json);
	else if (cli_agenda_is(cmd))
		rc = cli_agenda(c, cmd, sargc, sargv, g_json);
	else if (strcmp(cmd, "raw") == 0)
		rc = cmd_raw(c);
	else if (strcmp(cmd, "watch") == 0)
		rc = cmd_watch(c, sargc, sargv);
	else if (strcmp(cmd, "whoami") == 0)
		rc = cmd_whoami(c);
	else if (strcmp(cmd, "sleutel") == 0 || strcmp(cmd, "device") == 0)
		rc = cmd_device_key(c, sargc, sargv);
	else if (strcmp(cmd, "outbox") == 0)
		rc = cmd_outbox(c);
	else if (strcmp(cmd, "add-device") == 0)
		rc = cmd_add_device(c, sargc, sargv);
	else {
		const char *cid = positional(sargc, sargv, 0);
		rc = cid ? tui_run(c, cid) : report_err(CASUS_E_USAGE, "usage", "casus open CASUS");
	}
	/* warnings no document carried (e.g. from a plain printf) */
	if (g_json) {
		json_t *w = casus_take_warnings(c);
		if (json_array_size(w)) {
			json_t *o = json_pack("{sbsO}", "ok", rc == 0, "warnings", w);
			char *t = json_dumps(o, JSON_COMPACT);
			printf("%s\n", t ? t : "{}");
			free(t);
			json_decref(o);
		}
		json_decref(w);
	} else {
		take_warnings(NULL);
	}
	g_cli = NULL;
	casus_client_free(c);
	return rc;
}
