/*
 * cli_audit.c: `casus audit ...`, the privacy officer's commands.
 *
 *   casus audit [--casus C] [--user U] [--limit N]     query (fg; procesregisseur: own casus)
 */
#include "cli_audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static void fmt_time(long long t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	localtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M", &tm);
}

int cli_audit_is_offline(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int cli_audit_offline(int argc, char **argv, int json)
{
	(void)argc;
	(void)argv;
	(void)json;
	return 2;
}

int cli_audit(casus_client *c, int argc, char **argv, int g_json)
{
	json_t *q = json_object();
	const char *v;
	if ((v = opt(argc, argv, "--casus")))
		json_object_set_new(q, "casus", json_string(v));
	if ((v = opt(argc, argv, "--user")))
		json_object_set_new(q, "user", json_string(v));
	if ((v = opt(argc, argv, "--limit")))
		json_object_set_new(q, "limit", json_integer(atoi(v)));
	json_t *res = NULL;
	int rc = casus_audit_query(c, q, &res);
	json_decref(q);
	if (rc)
		{
		fprintf(stderr, "casus: %s\n", casus_error(c));
		return rc == CASUS_E_SERVER ? 1 : 2;
	}
	if (g_json) {
		json_object_del(res, "raw");
		json_object_set_new(res, "ok", json_true());
		{
			char *s = json_dumps(res, JSON_COMPACT);
			printf("%s\n", s ? s : "{}");
			free(s);
		}
	} else {
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(res, "entries"), i, e) {
			char when[32];
			fmt_time(json_integer_value(json_object_get(e, "time_ms")) / 1000, when, sizeof when);
			printf("%6lld %s %-16s %-8s %-14s %-16s %s\n", json_integer_value(json_object_get(e, "seq")), when,
			       json_string_value(json_object_get(e, "event")), json_string_value(json_object_get(e, "outcome")),
			       json_string_value(json_object_get(e, "user")), json_string_value(json_object_get(e, "role")),
			       json_string_value(json_object_get(e, "object")));
		}
	}
	json_decref(res);
	return 0;
}

