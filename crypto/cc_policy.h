/*
 * cc_policy.h: the signed access policy of a deployment.
 *
 * The policy is data, not code: it names the levels of the escalation ladder,
 * the roles, from which level each role may be a member, the audiences (each
 * its own key chain) and which roles belong to each, and who may add, remove,
 * escalate and de-escalate. It is signed by the deployment root and carries a
 * number; clients and server refuse an unsigned policy or one older than the
 * one they hold. Both sides decide with the same functions below.
 *
 * The readable form is a JSON file under deploy/ that casus-admin converts
 * and signs; this header only knows the canonical binary form.
 */
#ifndef CASUS_CC_POLICY_H
#define CASUS_CC_POLICY_H

#include "cc_cert.h"
#include "cc_keys.h"
#include <stddef.h>
#include <stdint.h>

#define CC_POLICY_VERSION 1         /* the base format */
#define CC_POLICY_VERSION_REGIE 2   /* the base format and the procesregie section (see cc_policy.c) */
#define CC_POLICY_VERSION_OVERDUE 3 /* version 2 and the overdue threshold per level */
#define CC_POLICY_MAX_LEVELS 16
#define CC_POLICY_MAX_ROLES 32 /* roles fit a uint32_t mask */
#define CC_POLICY_MAX_AUDIENCES 8
#define CC_POLICY_NAME_MAX 64

/* audit_scope values */
#define CC_AUDIT_NONE 0
#define CC_AUDIT_DIRECTED 1 /* casus the role is a member of (process director) */
#define CC_AUDIT_ALL 2      /* every casus (privacy officer) */

typedef struct cc_policy_level {
	uint8_t level;                     /* 1..nlevels, in order */
	char name[CC_POLICY_NAME_MAX + 1]; /* e.g. "Stapteam" */
	/* Stagnation signals (version 2; 0 = no signal): a casus at this level
	 * with no note for stale_note_days days, or at this level for
	 * stale_level_weeks weeks, is flagged in the overview. */
	uint16_t stale_note_days;
	uint16_t stale_level_weeks;
	/* Version 3: an open disclosed agreed action more than
	 * overdue_actions_days days past its due date flags the casus (0 = no
	 * overdue signal at this level). Version 2 has no such field and flags
	 * an action from its due date on; version 1 has no procesregie at all. */
	uint16_t overdue_actions_days;
} cc_policy_level;

typedef struct cc_policy_role {
	char name[CC_ROLE_MAX + 1]; /* e.g. "casemanager" */
	uint8_t min_level;          /* lowest level at which the role may be a member; 0 = never a member */
	uint8_t care;               /* 1 = care role (professional secrecy applies) */
	uint8_t never_key;          /* 1 = never receives any casus key (beleid, beheer, fg) */
	uint8_t may_create;         /* may open a casus */
	uint8_t may_add;            /* may add members (whose role the level admits) */
	uint8_t may_remove;         /* may remove members */
	uint8_t escalate_max;       /* highest level it may escalate to; 0 = may not escalate */
	uint8_t may_deescalate;
	uint8_t may_grant;       /* may share history onward */
	uint8_t may_break_glass; /* may admit someone outside the ladder, with a reason */
	uint8_t audit_scope;     /* CC_AUDIT_* */
	/* version 2 (procesregie): */
	uint8_t may_overview; /* may read the content-free overview of every casus (and gets stagnation notices) */
	uint8_t may_monitor;  /* may read the aggregated monitoring figures (small cells suppressed) */
} cc_policy_role;

typedef struct cc_policy_audience {
	char name[CC_POLICY_NAME_MAX + 1]; /* e.g. "zorg" */
	uint32_t roles;                    /* bit i set = roles[i] belongs to the audience */
	uint8_t ground_required;           /* a care role posting here must state a disclosure ground */
} cc_policy_audience;

typedef struct cc_policy {
	uint8_t version;
	uint64_t number; /* strictly increasing per deployment */
	char deployment[CC_POLICY_NAME_MAX + 1];
	int64_t issued_at;
	uint8_t nlevels;
	cc_policy_level levels[CC_POLICY_MAX_LEVELS];
	uint8_t nroles;
	cc_policy_role roles[CC_POLICY_MAX_ROLES];
	uint8_t naudiences;
	cc_policy_audience audiences[CC_POLICY_MAX_AUDIENCES];
	uint8_t root_pk[CC_SIGN_PK_BYTES];
	uint8_t sig[CC_SIG_BYTES];
} cc_policy;

int cc_policy_encode(const cc_policy *p, struct cc_wbuf *w);
/* Syntax and internal consistency (levels 1..n in order, unique names, masks
 * only naming existing roles, min_level <= nlevels); no signature check. */
int cc_policy_decode(const uint8_t *b, size_t n, cc_policy *out) __attribute__((warn_unused_result));
int cc_policy_sign(cc_policy *p, const cc_root_key *root);
/* Root and signature; if held != NULL, a number not greater than held's is CC_ERR_STALE. */
int cc_policy_verify(const cc_policy *p, const uint8_t root_pk[CC_SIGN_PK_BYTES], const cc_policy *held)
	__attribute__((warn_unused_result));
int cc_policy_hash(const cc_policy *p, uint8_t out[CC_HASH_BYTES]);

/* Lookups; return the index or -1. */
int cc_policy_role_index(const cc_policy *p, const char *role);
int cc_policy_audience_index(const cc_policy *p, const char *audience);

/* Decisions shared by server and clients. All return 1 (allowed) or 0. */
int cc_policy_may_be_member(const cc_policy *p, int role, uint8_t level);
/* Role belongs to the audience and may be a member at this level, and is not never_key. */
int cc_policy_in_audience(const cc_policy *p, int audience, int role, uint8_t level);
int cc_policy_may_escalate(const cc_policy *p, int role, uint8_t from, uint8_t to);
int cc_policy_may_deescalate(const cc_policy *p, int role, uint8_t from, uint8_t to);
/* Disclosure ground needed when `role` posts to `audience` at `level`. */
int cc_policy_ground_required(const cc_policy *p, int audience, int role, uint8_t level);
/* The procesregie rights (version 2 and 3 policies; always 0 under version 1). */
int cc_policy_may_overview(const cc_policy *p, int role);
int cc_policy_may_monitor(const cc_policy *p, int role);
/* The overdue signal of a level: after how many seconds past its due date an
 * open agreed action flags the casus. 1 and *after set (version 3: the level's
 * overdue_actions_days x 86400; version 2: 0, from the due date on), or 0 when
 * the level has no overdue signal (version 3 with 0 days, version 1, a level
 * not on the ladder). */
int cc_policy_overdue_after(const cc_policy *p, uint8_t level, int64_t *after);

/* Disclosure grounds, recorded in message headers and grants. */
enum cc_ground {
	CC_GROUND_NONE = 0,
	CC_GROUND_CONSENT = 1,            /* toestemming */
	CC_GROUND_LEGAL_DUTY = 2,         /* wettelijke plicht */
	CC_GROUND_CONFLICT_OF_DUTIES = 3, /* conflict van plichten */
	CC_GROUND_RIGHT_TO_REPORT = 4,    /* wettelijk meldrecht */
	CC_GROUND_NO_CARE_INFO = 5        /* bevat geen zorginformatie */
};
#define CC_GROUND_MAX 5
const char *cc_ground_name(int ground);    /* "consent", ... ; NULL if unknown */
int cc_ground_from_name(const char *name); /* enum value, or -1 */

/* ---- added by the identity layer (additions only) ------------------------ */

/* The consistency rules cc_policy_decode applies, for a policy built in memory
 * (e.g. from JSON): version, 1..16 levels numbered 1..n with unique non-empty
 * names, 1..32 roles with unique [a-z0-9._@-] names, flags exactly 0 or 1,
 * min_level and escalate_max <= nlevels, audit_scope <= CC_AUDIT_ALL, at most
 * 8 audiences with unique names whose masks name only existing roles, and a
 * never_key role has min_level 0 and is in no audience; version 1, 2 or 3,
 * under version 1 every procesregie field (may_overview, may_monitor,
 * stale_note_days, stale_level_weeks) is 0, and under versions 1 and 2
 * overdue_actions_days is 0. CC_OK or
 * CC_ERR_VERSION / CC_ERR_MALFORMED / CC_ERR_TOO_LARGE. Encode and sign refuse
 * a policy that fails it. */
int cc_policy_check(const cc_policy *p) __attribute__((warn_unused_result));

/* Notes on the decisions above:
 *  - may_escalate: to > from, both on the ladder, to <= role's escalate_max, and
 *    the role is not never_key. Membership of the actor is checked by the caller.
 *  - may_deescalate: role has may_deescalate, 1 <= to < from <= nlevels.
 *  - ground_required: the audience has ground_required, the posting role is a
 *    care role, and at `level` at least one non-care role is in the audience. */

#endif
