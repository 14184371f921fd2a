/*
 * policy_json.h: the readable JSON form of a casus policy (deploy/policy/<name>.json)
 * to and from the binary cc_policy that the root signs.
 *
 * The JSON is strict: duplicate keys, unknown keys, missing required keys,
 * wrong types and out-of-range values are errors with a message that names the
 * offending field (e.g. "roles[3].min_level: must be an integer 0..5").
 *
 *   {
 *     "version": 3,                      required, 1, 2 or 3 (2 = with the procesregie fields,
 *                                        3 = and the overdue threshold per level)
 *     "number": 1,                       required, 0..2^63-1; raise it for every change
 *     "deployment": "gemeente-x",        required, 1..64 bytes UTF-8
 *     "issued_at": 1767225600,           optional, UTC seconds (casus-admin sets it)
 *     "levels": ["Stapteam", ...],       required, 1..16 names; level i+1 = levels[i]
 *     "roles": [ {                       required, 1..32 roles, in mask order
 *         "name": "casemanager",         required, [a-z0-9._@-]{1,32}
 *         "min_level": 1,                required, 0 (never a member) .. number of levels
 *         "care": true,                  optional booleans, default false:
 *         "never_key": false,              care, never_key, may_create, may_add,
 *         "may_create": true, ...          may_remove, may_deescalate, may_grant,
 *                                          may_break_glass
 *         "escalate_max": 3,             optional, 0..number of levels, default 0
 *         "audit_scope": "none",         optional, "none" | "directed" | "all"
 *         "may_overview": true,          optional, version 2+: the content-free overview
 *         "may_monitor": true            optional, version 2+: the monitoring figures
 *     } ],
 *     "audiences": [ {                   required (may be empty), at most 8
 *         "name": "zorg",                required, [a-z0-9._@-]{1,64}
 *         "roles": ["casemanager", ...], required, names from "roles", no repeats
 *         "ground_required": false       optional, default false
 *     } ],
 *     "stagnation": [ {                  optional, version 2 or 3; a level at most once
 *         "level": 1,                    required, 1..number of levels
 *         "no_note_days": 14,            optional, 0..65535, 0 = no signal
 *         "no_level_change_weeks": 8,    optional, 0..65535, 0 = no signal
 *         "overdue_actions_days": 14     optional, version 3 only, 0..65535: days past its
 *                                        due date an open agreed action flags the casus,
 *                                        0 (or absent) = no overdue signal at this level;
 *                                        under version 2 every level flags from the due date
 *     } ]
 *   }
 *
 * The result has root_pk and sig zeroed: sign it with cc_policy_sign.
 */
#ifndef CASUS_POLICY_JSON_H
#define CASUS_POLICY_JSON_H

#include "cc_policy.h"
#include <stddef.h>

/* Parse text[0..len). CC_OK, or CC_ERR_MALFORMED / CC_ERR_TOO_LARGE /
 * CC_ERR_VERSION / CC_ERR_UNKNOWN_ROLE with a NUL-terminated message in
 * err[0..errlen) (err may be NULL). *out is zeroed on failure. The parsed policy
 * also passes cc_policy_check. */
int cc_policy_from_json(const char *text, size_t len, cc_policy *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* The same for a file; CC_ERR_IO if it cannot be read. */
int cc_policy_from_json_file(const char *path, cc_policy *out, char *err, size_t errlen)
	__attribute__((warn_unused_result));
/* The readable form of p (which must pass cc_policy_check), without root_pk
 * and sig, indented, keys in the order above. Returns a malloc'd string the
 * caller releases with free(), or NULL. */
char *cc_policy_to_json(const cc_policy *p);

#endif
