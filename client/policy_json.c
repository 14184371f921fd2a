/*
 * policy_json.c: strict conversion between the readable JSON policy and
 * cc_policy (see policy_json.h for the format). The binary form, its signature
 * and the consistency rules are in crypto/cc_policy.c; this file only maps
 * fields and reports precisely what is wrong in a hand-written file.
 */
#include "policy_json.h"
#include "cc_err.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY_JSON_FILE_MAX (1024 * 1024)

static const char *const AUDIT_NAMES[] = {"none", "directed", "all"};

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	if (err && errlen) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* Every key of obj must be in allowed (NULL-terminated). */
static int check_keys(const json_t *obj, const char *const *allowed, const char *where, char *err, size_t errlen)
{
	const char *key;
	json_t *val;
	json_object_foreach((json_t *)(uintptr_t)obj, key, val) {
		int ok = 0;
		(void)val;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, key) == 0)
				ok = 1;
		if (!ok)
			return fail(err, errlen, CC_ERR_MALFORMED, "%s: unknown key \"%s\"", where, key);
	}
	return CC_OK;
}

/* Copies a JSON string into dst[cap] (cap includes the NUL). */
static int get_string(const json_t *v, char *dst, size_t cap, const char *where, char *err, size_t errlen)
{
	size_t n;
	if (!json_is_string(v))
		return fail(err, errlen, CC_ERR_MALFORMED, "%s: must be a string", where);
	n = json_string_length(v);
	if (strlen(json_string_value(v)) != n)
		return fail(err, errlen, CC_ERR_MALFORMED, "%s: must not contain NUL characters", where);
	if (n >= cap)
		return fail(err, errlen, CC_ERR_TOO_LARGE, "%s: longer than %zu bytes", where, cap - 1);
	memcpy(dst, json_string_value(v), n + 1);
	return CC_OK;
}

static int get_int(const json_t *v, long long min, long long max, long long *out, const char *where, char *err,
                   size_t errlen)
{
	*out = 0; /* set on every path: gcc -O3 cannot see that fail() never returns CC_OK */
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
		return fail(err, errlen, CC_ERR_MALFORMED, "%s: must be an integer %lld..%lld", where, min, max);
	*out = json_integer_value(v);
	return CC_OK;
}

/* Optional boolean: absent = 0. */
static int get_flag(const json_t *obj, const char *key, uint8_t *out, const char *where, char *err, size_t errlen)
{
	const json_t *v = json_object_get(obj, key);
	*out = 0;
	if (!v)
		return CC_OK;
	if (!json_is_boolean(v))
		return fail(err, errlen, CC_ERR_MALFORMED, "%s.%s: must be true or false", where, key);
	*out = json_is_true(v) ? 1 : 0;
	return CC_OK;
}

static int parse_role(const json_t *o, cc_policy *p, unsigned i, char *err, size_t errlen)
{
	static const char *const keys[] = {"name",         "min_level",       "care",
	                                   "never_key",    "may_create",      "may_add",
	                                   "may_remove",   "escalate_max",    "may_deescalate",
	                                   "may_grant",    "may_break_glass", "audit_scope",
	                                   "may_overview", "may_monitor",     NULL};
	cc_policy_role *r = &p->roles[i];
	char where[64], field[96];
	const json_t *v;
	long long x = 0; /* gcc 12 -O3 cannot see get_int sets it (Release build) */
	int rc;

	snprintf(where, sizeof where, "roles[%u]", i);
	if (!json_is_object(o))
		return fail(err, errlen, CC_ERR_MALFORMED, "%s: must be an object", where);
	if ((rc = check_keys(o, keys, where, err, errlen)) != CC_OK)
		return rc;
	snprintf(field, sizeof field, "%s.name", where);
	if (!(v = json_object_get(o, "name")))
		return fail(err, errlen, CC_ERR_MALFORMED, "%s: missing", field);
	if ((rc = get_string(v, r->name, sizeof r->name, field, err, errlen)) != CC_OK)
		return rc;
	if (cc_ident_check(r->name, CC_ROLE_MAX) != CC_OK)
		return fail(err, errlen, CC_ERR_MALFORMED, "%s: \"%s\" must be 1..%d of [a-z0-9._@-]", field, r->name,
		            CC_ROLE_MAX);
	snprintf(where, sizeof where, "roles[%u] (%s)", i, r->name);
	snprintf(field, sizeof field, "%s.min_level", where);
	if (!(v = json_object_get(o, "min_level")))
		return fail(err, errlen, CC_ERR_MALFORMED, "%s: missing", field);
	if ((rc = get_int(v, 0, p->nlevels, &x, field, err, errlen)) != CC_OK)
		return rc;
	r->min_level = (uint8_t)x;
	if ((rc = get_flag(o, "care", &r->care, where, err, errlen)) != CC_OK ||
	    (rc = get_flag(o, "never_key", &r->never_key, where, err, errlen)) != CC_OK ||
	    (rc = get_flag(o, "may_create", &r->may_create, where, err, errlen)) != CC_OK ||
	    (rc = get_flag(o, "may_add", &r->may_add, where, err, errlen)) != CC_OK ||
	    (rc = get_flag(o, "may_remove", &r->may_remove, where, err, errlen)) != CC_OK ||
	    (rc = get_flag(o, "may_deescalate", &r->may_deescalate, where, err, errlen)) != CC_OK ||
	    (rc = get_flag(o, "may_grant", &r->may_grant, where, err, errlen)) != CC_OK ||
	    (rc = get_flag(o, "may_break_glass", &r->may_break_glass, where, err, errlen)) != CC_OK ||
	    (rc = get_flag(o, "may_overview", &r->may_overview, where, err, errlen)) != CC_OK ||
	    (rc = get_flag(o, "may_monitor", &r->may_monitor, where, err, errlen)) != CC_OK)
		return rc;
	if ((r->may_overview || r->may_monitor) && p->version < CC_POLICY_VERSION_REGIE)
		return fail(err, errlen, CC_ERR_MALFORMED,
		            "%s: may_overview and may_monitor need \"version\": %d or %d", where,
		            CC_POLICY_VERSION_REGIE, CC_POLICY_VERSION_OVERDUE);
	if ((v = json_object_get(o, "escalate_max"))) {
		snprintf(field, sizeof field, "%s.escalate_max", where);
		if ((rc = get_int(v, 0, p->nlevels, &x, field, err, errlen)) != CC_OK)
			return rc;
		r->escalate_max = (uint8_t)x;
	}
	if ((v = json_object_get(o, "audit_scope"))) {
		int found = -1;
		if (json_is_string(v))
			for (int k = 0; k <= CC_AUDIT_ALL; k++)
				if (strcmp(json_string_value(v), AUDIT_NAMES[k]) == 0)
					found = k;
		if (found < 0)
			return fail(err, errlen, CC_ERR_MALFORMED,
			            "%s.audit_scope: must be \"none\", \"directed\" or \"all\"", where);
		r->audit_scope = (uint8_t)found;
	}
	if (r->never_key && r->min_level != 0)
		return fail(err, errlen, CC_ERR_MALFORMED, "%s: a never_key role must have min_level 0", where);
	for (unsigned j = 0; j < i; j++)
		if (strcmp(p->roles[j].name, r->name) == 0)
			return fail(err, errlen, CC_ERR_MALFORMED, "%s: duplicate role name", where);
	return CC_OK;
}

static int parse_audience(const json_t *o, cc_policy *p, unsigned i, char *err, size_t errlen)
{
	static const char *const keys[] = {"name", "roles", "ground_required", NULL};
	cc_policy_audience *a = &p->audiences[i];
	char where[96], field[128];
	const json_t *v, *rv;
	size_t k;
	int rc;

	snprintf(where, sizeof where, "audiences[%u]", i);
	if (!json_is_object(o))
		return fail(err, errlen, CC_ERR_MALFORMED, "%s: must be an object", where);
	if ((rc = check_keys(o, keys, where, err, errlen)) != CC_OK)
		return rc;
	snprintf(field, sizeof field, "%s.name", where);
	if (!(v = json_object_get(o, "name")))
		return fail(err, errlen, CC_ERR_MALFORMED, "%s: missing", field);
	if ((rc = get_string(v, a->name, sizeof a->name, field, err, errlen)) != CC_OK)
		return rc;
	if (cc_ident_check(a->name, CC_POLICY_NAME_MAX) != CC_OK)
		return fail(err, errlen, CC_ERR_MALFORMED, "%s: \"%s\" must be 1..%d of [a-z0-9._@-]", field, a->name,
		            CC_POLICY_NAME_MAX);
	for (unsigned j = 0; j < i; j++)
		if (strcmp(p->audiences[j].name, a->name) == 0)
			return fail(err, errlen, CC_ERR_MALFORMED, "%s: duplicate audience name", field);
	snprintf(where, sizeof where, "audiences[%u] (%s)", i, a->name);
	if (!(v = json_object_get(o, "roles")) || !json_is_array(v))
		return fail(err, errlen, CC_ERR_MALFORMED, "%s.roles: must be an array of role names", where);
	json_array_foreach((json_t *)(uintptr_t)v, k, rv) {
		int idx;
		if (!json_is_string(rv))
			return fail(err, errlen, CC_ERR_MALFORMED, "%s.roles[%zu]: must be a string", where, k);
		idx = cc_policy_role_index(p, json_string_value(rv));
		if (idx < 0)
			return fail(err, errlen, CC_ERR_UNKNOWN_ROLE, "%s.roles[%zu]: unknown role \"%s\"", where, k,
			            json_string_value(rv));
		if (a->roles & (1u << idx))
			return fail(err, errlen, CC_ERR_MALFORMED, "%s.roles[%zu]: \"%s\" listed twice", where, k,
			            json_string_value(rv));
		if (p->roles[idx].never_key)
			return fail(err, errlen, CC_ERR_MALFORMED,
			            "%s.roles[%zu]: \"%s\" is never_key and cannot be in an audience", where, k,
			            json_string_value(rv));
		a->roles |= 1u << idx;
	}
	return get_flag(o, "ground_required", &a->ground_required, where, err, errlen);
}

/* "stagnation": [ {"level": N, "no_note_days": D, "no_level_change_weeks": W,
 *                  "overdue_actions_days": A (version 3)} ] */
static int parse_stagnation(const json_t *v, cc_policy *p, char *err, size_t errlen)
{
	static const char *const keys[] = {"level", "no_note_days", "no_level_change_weeks", "overdue_actions_days",
	                                   NULL};
	const json_t *e, *f;
	size_t i;
	long long x = 0;
	uint32_t seen = 0; /* bit l-1: level l listed */
	int rc;

	if (!json_is_array(v))
		return fail(err, errlen, CC_ERR_MALFORMED, "stagnation: must be an array of objects");
	if (p->version < CC_POLICY_VERSION_REGIE)
		return fail(err, errlen, CC_ERR_MALFORMED, "stagnation: needs \"version\": %d or %d",
		            CC_POLICY_VERSION_REGIE, CC_POLICY_VERSION_OVERDUE);
	json_array_foreach((json_t *)(uintptr_t)v, i, e) {
		char where[48], field[96];
		snprintf(where, sizeof where, "stagnation[%zu]", i);
		if (!json_is_object(e))
			return fail(err, errlen, CC_ERR_MALFORMED, "%s: must be an object", where);
		if ((rc = check_keys(e, keys, where, err, errlen)) != CC_OK)
			return rc;
		snprintf(field, sizeof field, "%s.level", where);
		if (!(f = json_object_get(e, "level")))
			return fail(err, errlen, CC_ERR_MALFORMED, "%s: missing", field);
		if ((rc = get_int(f, 1, p->nlevels, &x, field, err, errlen)) != CC_OK)
			return rc;
		cc_policy_level *l = &p->levels[x - 1];
		if (seen >> (x - 1) & 1u)
			return fail(err, errlen, CC_ERR_MALFORMED, "%s: level %lld listed twice", field, x);
		seen |= 1u << (x - 1);
		snprintf(field, sizeof field, "%s.no_note_days", where);
		if ((f = json_object_get(e, "no_note_days"))) {
			if ((rc = get_int(f, 0, UINT16_MAX, &x, field, err, errlen)) != CC_OK)
				return rc;
			l->stale_note_days = (uint16_t)x;
		}
		snprintf(field, sizeof field, "%s.no_level_change_weeks", where);
		if ((f = json_object_get(e, "no_level_change_weeks"))) {
			if ((rc = get_int(f, 0, UINT16_MAX, &x, field, err, errlen)) != CC_OK)
				return rc;
			l->stale_level_weeks = (uint16_t)x;
		}
		snprintf(field, sizeof field, "%s.overdue_actions_days", where);
		if ((f = json_object_get(e, "overdue_actions_days"))) {
			if (p->version < CC_POLICY_VERSION_OVERDUE)
				return fail(err, errlen, CC_ERR_MALFORMED, "%s: needs \"version\": %d", field,
				            CC_POLICY_VERSION_OVERDUE);
			if ((rc = get_int(f, 0, UINT16_MAX, &x, field, err, errlen)) != CC_OK)
				return rc;
			l->overdue_actions_days = (uint16_t)x;
		}
	}
	return CC_OK;
}

static int parse_root(const json_t *root, cc_policy *p, char *err, size_t errlen)
{
	static const char *const keys[] = {"version", "number",    "deployment", "issued_at", "levels",
	                                   "roles",   "audiences", "stagnation", NULL};
	const json_t *v, *e;
	long long x = 0; /* gcc 12 -O3 cannot see get_int sets it (Release build) */
	size_t i;
	int rc;

	if (!json_is_object(root))
		return fail(err, errlen, CC_ERR_MALFORMED, "policy: must be a JSON object");
	if ((rc = check_keys(root, keys, "policy", err, errlen)) != CC_OK)
		return rc;
	if (!(v = json_object_get(root, "version")))
		return fail(err, errlen, CC_ERR_MALFORMED, "version: missing");
	if (!json_is_integer(v) ||
	    (json_integer_value(v) != CC_POLICY_VERSION && json_integer_value(v) != CC_POLICY_VERSION_REGIE &&
	     json_integer_value(v) != CC_POLICY_VERSION_OVERDUE))
		return fail(err, errlen, CC_ERR_VERSION, "version: must be %d, %d or %d", CC_POLICY_VERSION,
		            CC_POLICY_VERSION_REGIE, CC_POLICY_VERSION_OVERDUE);
	p->version = (uint8_t)json_integer_value(v);
	if (!(v = json_object_get(root, "number")))
		return fail(err, errlen, CC_ERR_MALFORMED, "number: missing");
	if ((rc = get_int(v, 0, INT64_MAX, &x, "number", err, errlen)) != CC_OK)
		return rc;
	p->number = (uint64_t)x;
	if (!(v = json_object_get(root, "deployment")))
		return fail(err, errlen, CC_ERR_MALFORMED, "deployment: missing");
	if ((rc = get_string(v, p->deployment, sizeof p->deployment, "deployment", err, errlen)) != CC_OK)
		return rc;
	if (p->deployment[0] == '\0' || cc_text_check(p->deployment, CC_POLICY_NAME_MAX) != CC_OK)
		return fail(err, errlen, CC_ERR_MALFORMED,
		            "deployment: must be non-empty text without control characters");
	if ((v = json_object_get(root, "issued_at"))) {
		if ((rc = get_int(v, INT64_MIN, INT64_MAX, &x, "issued_at", err, errlen)) != CC_OK)
			return rc;
		p->issued_at = (int64_t)x;
	}

	if (!(v = json_object_get(root, "levels")) || !json_is_array(v))
		return fail(err, errlen, CC_ERR_MALFORMED, "levels: must be an array of level names");
	if (json_array_size(v) < 1 || json_array_size(v) > CC_POLICY_MAX_LEVELS)
		return fail(err, errlen, CC_ERR_MALFORMED, "levels: must have 1..%d entries", CC_POLICY_MAX_LEVELS);
	json_array_foreach((json_t *)(uintptr_t)v, i, e) {
		char field[32];
		snprintf(field, sizeof field, "levels[%zu]", i);
		if ((rc = get_string(e, p->levels[i].name, sizeof p->levels[i].name, field, err, errlen)) != CC_OK)
			return rc;
		if (p->levels[i].name[0] == '\0' || cc_text_check(p->levels[i].name, CC_POLICY_NAME_MAX) != CC_OK)
			return fail(err, errlen, CC_ERR_MALFORMED,
			            "%s: must be non-empty text without control characters", field);
		for (size_t j = 0; j < i; j++)
			if (strcmp(p->levels[j].name, p->levels[i].name) == 0)
				return fail(err, errlen, CC_ERR_MALFORMED, "%s: duplicate level name", field);
		p->levels[i].level = (uint8_t)(i + 1);
	}
	p->nlevels = (uint8_t)json_array_size(v);

	if (!(v = json_object_get(root, "roles")) || !json_is_array(v))
		return fail(err, errlen, CC_ERR_MALFORMED, "roles: must be an array of role objects");
	if (json_array_size(v) < 1 || json_array_size(v) > CC_POLICY_MAX_ROLES)
		return fail(err, errlen, CC_ERR_MALFORMED, "roles: must have 1..%d entries", CC_POLICY_MAX_ROLES);
	json_array_foreach((json_t *)(uintptr_t)v, i, e) {
		p->nroles = (uint8_t)i; /* parse_role looks at earlier roles only */
		if ((rc = parse_role(e, p, (unsigned)i, err, errlen)) != CC_OK)
			return rc;
	}
	p->nroles = (uint8_t)json_array_size(v);

	if (!(v = json_object_get(root, "audiences")) || !json_is_array(v))
		return fail(err, errlen, CC_ERR_MALFORMED, "audiences: must be an array of audience objects");
	if (json_array_size(v) > CC_POLICY_MAX_AUDIENCES)
		return fail(err, errlen, CC_ERR_MALFORMED, "audiences: at most %d entries", CC_POLICY_MAX_AUDIENCES);
	json_array_foreach((json_t *)(uintptr_t)v, i, e) {
		if ((rc = parse_audience(e, p, (unsigned)i, err, errlen)) != CC_OK)
			return rc;
	}
	p->naudiences = (uint8_t)json_array_size(v);

	if ((v = json_object_get(root, "stagnation")) && (rc = parse_stagnation(v, p, err, errlen)) != CC_OK)
		return rc;

	if ((rc = cc_policy_check(p)) != CC_OK)
		return fail(err, errlen, rc, "policy: inconsistent (%s)", cc_strerror(rc));
	return CC_OK;
}

int cc_policy_from_json(const char *text, size_t len, cc_policy *out, char *err, size_t errlen)
{
	cc_policy p;
	json_t *root = NULL;
	json_error_t je;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return fail(err, errlen, CC_ERR_INVALID_ARG, "no output");
	memset(out, 0, sizeof *out);
	if (!text)
		return fail(err, errlen, CC_ERR_INVALID_ARG, "no input");
	if (len > POLICY_JSON_FILE_MAX)
		return fail(err, errlen, CC_ERR_TOO_LARGE, "policy: larger than %d bytes", POLICY_JSON_FILE_MAX);
	memset(&p, 0, sizeof p);
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (!root)
		return fail(err, errlen, CC_ERR_MALFORMED, "line %d column %d: %s", je.line, je.column, je.text);
	rc = parse_root(root, &p, err, errlen);
	json_decref(root);
	if (rc != CC_OK)
		return rc;
	*out = p;
	return CC_OK;
}

int cc_policy_from_json_file(const char *path, cc_policy *out, char *err, size_t errlen)
{
	FILE *f = NULL;
	char *buf = NULL;
	size_t n = 0;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!out)
		return fail(err, errlen, CC_ERR_INVALID_ARG, "no output");
	memset(out, 0, sizeof *out);
	if (!path)
		return fail(err, errlen, CC_ERR_INVALID_ARG, "no path");
	f = fopen(path, "rb");
	if (!f)
		return fail(err, errlen, CC_ERR_IO, "%s: cannot open", path);
	buf = malloc(POLICY_JSON_FILE_MAX + 1);
	if (!buf) {
		rc = fail(err, errlen, CC_ERR_NOMEM, "out of memory");
		goto out;
	}
	n = fread(buf, 1, POLICY_JSON_FILE_MAX + 1, f);
	if (ferror(f)) {
		rc = fail(err, errlen, CC_ERR_IO, "%s: read error", path);
		goto out;
	}
	rc = cc_policy_from_json(buf, n, out, err, errlen);
out:
	free(buf);
	fclose(f);
	return rc;
}

char *cc_policy_to_json(const cc_policy *p)
{
	json_t *root = NULL, *levels = NULL, *roles = NULL, *auds = NULL;
	char *text = NULL;

	if (!p || cc_policy_check(p) != CC_OK)
		return NULL;
	root = json_object();
	levels = json_array();
	roles = json_array();
	auds = json_array();
	if (!root || !levels || !roles || !auds)
		goto out;
	json_object_set_new(root, "version", json_integer(p->version));
	json_object_set_new(root, "number", json_integer((json_int_t)p->number));
	json_object_set_new(root, "deployment", json_string(p->deployment));
	json_object_set_new(root, "issued_at", json_integer(p->issued_at));
	for (unsigned i = 0; i < p->nlevels; i++)
		json_array_append_new(levels, json_string(p->levels[i].name));
	for (unsigned i = 0; i < p->nroles; i++) {
		const cc_policy_role *r = &p->roles[i];
		json_t *o = json_object();
		if (!o)
			goto out;
		json_object_set_new(o, "name", json_string(r->name));
		json_object_set_new(o, "min_level", json_integer(r->min_level));
		json_object_set_new(o, "care", json_boolean(r->care));
		json_object_set_new(o, "never_key", json_boolean(r->never_key));
		json_object_set_new(o, "may_create", json_boolean(r->may_create));
		json_object_set_new(o, "may_add", json_boolean(r->may_add));
		json_object_set_new(o, "may_remove", json_boolean(r->may_remove));
		json_object_set_new(o, "escalate_max", json_integer(r->escalate_max));
		json_object_set_new(o, "may_deescalate", json_boolean(r->may_deescalate));
		json_object_set_new(o, "may_grant", json_boolean(r->may_grant));
		json_object_set_new(o, "may_break_glass", json_boolean(r->may_break_glass));
		json_object_set_new(o, "audit_scope", json_string(AUDIT_NAMES[r->audit_scope]));
		if (p->version >= CC_POLICY_VERSION_REGIE) {
			json_object_set_new(o, "may_overview", json_boolean(r->may_overview));
			json_object_set_new(o, "may_monitor", json_boolean(r->may_monitor));
		}
		json_array_append_new(roles, o);
	}
	for (unsigned i = 0; i < p->naudiences; i++) {
		const cc_policy_audience *a = &p->audiences[i];
		json_t *o = json_object(), *rl = json_array();
		if (!o || !rl) {
			json_decref(o);
			json_decref(rl);
			goto out;
		}
		json_object_set_new(o, "name", json_string(a->name));
		for (unsigned j = 0; j < p->nroles; j++)
			if (a->roles >> j & 1u)
				json_array_append_new(rl, json_string(p->roles[j].name));
		json_object_set_new(o, "roles", rl);
		json_object_set_new(o, "ground_required", json_boolean(a->ground_required));
		json_array_append_new(auds, o);
	}
	json_object_set(root, "levels", levels);
	json_object_set(root, "roles", roles);
	json_object_set(root, "audiences", auds);
	if (p->version >= CC_POLICY_VERSION_REGIE) {
		json_t *stag = json_array();
		for (unsigned i = 0; stag && i < p->nlevels; i++) {
			const cc_policy_level *l = &p->levels[i];
			if (!l->stale_note_days && !l->stale_level_weeks && !l->overdue_actions_days)
				continue;
			json_t *o =
				json_pack("{sisisi}", "level", (int)l->level, "no_note_days", (int)l->stale_note_days,
			                  "no_level_change_weeks", (int)l->stale_level_weeks);
			if (o && p->version >= CC_POLICY_VERSION_OVERDUE)
				json_object_set_new(o, "overdue_actions_days", json_integer(l->overdue_actions_days));
			json_array_append_new(stag, o);
		}
		if (stag)
			json_object_set_new(root, "stagnation", stag);
	}
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
out:
	json_decref(levels);
	json_decref(roles);
	json_decref(auds);
	json_decref(root);
	return text;
}
