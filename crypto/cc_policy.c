/*
 * cc_policy.c: canonical encoding, signature and decisions of the signed
 * access policy (see cc_policy.h). The readable JSON form lives in
 * client/policy_json.c; this file only knows the binary form.
 *
 * Encoding ("casus.v1 policy", signed by the root):
 *   fixed[4] "CCPL"   u8 version = 1   u64 number
 *   str      deployment (1..64, UTF-8)  i64 issued_at
 *   u8       nlevels (1..16)
 *     nlevels x { u8 level (= index + 1)  str name (1..64, UTF-8) }
 *   u8       nroles (1..32)
 *     nroles x { str name (1..32, [a-z0-9._@-])  u8 min_level  u8 care  u8 never_key
 *                u8 may_create  u8 may_add  u8 may_remove  u8 escalate_max
 *                u8 may_deescalate  u8 may_grant  u8 may_break_glass  u8 audit_scope }
 *   u8       naudiences (0..8)
 *     naudiences x { str name (1..64, [a-z0-9._@-])  u32 roles  u8 ground_required }
 *   only if version >= 2, the procesregie section:
 *     nroles x { u8 may_overview  u8 may_monitor }
 *     nlevels x { u16 stale_note_days  u16 stale_level_weeks }   (0 = no signal)
 *   only if version = 3, the overdue section:
 *     nlevels x { u16 overdue_actions_days }                     (0 = no signal)
 *   fixed[32] root_pk   fixed[64] sig
 *
 * Version 1 is the format without the procesregie section, version 2 the one
 * without the overdue section; their policies keep their bytes, hashes,
 * signatures and meaning (version 2 flags an agreed action from its due date
 * on, at every level). A version 1 policy has every procesregie field 0 and a
 * version 1 or 2 policy every overdue_actions_days 0 (so one policy has one
 * encoding).
 *
 * Flags are exactly 0 or 1 so that the encoding stays canonical. Consistency
 * rules (cc_policy_check): unique level, role and audience names; min_level and
 * escalate_max <= nlevels; audit_scope <= CC_AUDIT_ALL; role masks name only
 * existing roles; a never_key role has min_level 0 and belongs to no audience.
 */
#include "cc_policy.h"
#include "cc_buf.h"
#include "cc_err.h"

#include <sodium.h>
#include <string.h>

#define CTX_POLICY "casus.v1 policy"
static const uint8_t POLICY_MAGIC[4] = {'C', 'C', 'P', 'L'};

static int flag_ok(uint8_t f)
{
	return f == 0 || f == 1;
}

int cc_policy_check(const cc_policy *p)
{
	int rc;

	if (!p)
		return CC_ERR_INVALID_ARG;
	if (p->version != CC_POLICY_VERSION && p->version != CC_POLICY_VERSION_REGIE &&
	    p->version != CC_POLICY_VERSION_OVERDUE)
		return CC_ERR_VERSION;
	if ((rc = cc_text_check(p->deployment, CC_POLICY_NAME_MAX)) != CC_OK)
		return rc;
	if (p->deployment[0] == '\0')
		return CC_ERR_MALFORMED;
	if (p->nlevels < 1 || p->nlevels > CC_POLICY_MAX_LEVELS || p->nroles < 1 || p->nroles > CC_POLICY_MAX_ROLES ||
	    p->naudiences > CC_POLICY_MAX_AUDIENCES)
		return CC_ERR_MALFORMED;
	for (unsigned i = 0; i < p->nlevels; i++) {
		const cc_policy_level *l = &p->levels[i];
		if (l->level != i + 1)
			return CC_ERR_MALFORMED;
		if ((rc = cc_text_check(l->name, CC_POLICY_NAME_MAX)) != CC_OK)
			return rc;
		if (l->name[0] == '\0')
			return CC_ERR_MALFORMED;
		for (unsigned j = 0; j < i; j++)
			if (strcmp(p->levels[j].name, l->name) == 0)
				return CC_ERR_MALFORMED;
		if (p->version == CC_POLICY_VERSION && (l->stale_note_days || l->stale_level_weeks))
			return CC_ERR_MALFORMED;
		if (p->version < CC_POLICY_VERSION_OVERDUE && l->overdue_actions_days)
			return CC_ERR_MALFORMED;
	}
	for (unsigned i = 0; i < p->nroles; i++) {
		const cc_policy_role *r = &p->roles[i];
		if ((rc = cc_ident_check(r->name, CC_ROLE_MAX)) != CC_OK)
			return rc;
		for (unsigned j = 0; j < i; j++)
			if (strcmp(p->roles[j].name, r->name) == 0)
				return CC_ERR_MALFORMED;
		if (r->min_level > p->nlevels || r->escalate_max > p->nlevels || r->audit_scope > CC_AUDIT_ALL)
			return CC_ERR_MALFORMED;
		if (!flag_ok(r->care) || !flag_ok(r->never_key) || !flag_ok(r->may_create) || !flag_ok(r->may_add) ||
		    !flag_ok(r->may_remove) || !flag_ok(r->may_deescalate) || !flag_ok(r->may_grant) ||
		    !flag_ok(r->may_break_glass))
			return CC_ERR_MALFORMED;
		if (r->never_key && r->min_level != 0)
			return CC_ERR_MALFORMED;
		if (!flag_ok(r->may_overview) || !flag_ok(r->may_monitor))
			return CC_ERR_MALFORMED;
		if (p->version == CC_POLICY_VERSION && (r->may_overview || r->may_monitor))
			return CC_ERR_MALFORMED;
	}
	for (unsigned i = 0; i < p->naudiences; i++) {
		const cc_policy_audience *a = &p->audiences[i];
		if ((rc = cc_ident_check(a->name, CC_POLICY_NAME_MAX)) != CC_OK)
			return rc;
		for (unsigned j = 0; j < i; j++)
			if (strcmp(p->audiences[j].name, a->name) == 0)
				return CC_ERR_MALFORMED;
		if (p->nroles < 32 && (a->roles >> p->nroles) != 0)
			return CC_ERR_MALFORMED;
		if (!flag_ok(a->ground_required))
			return CC_ERR_MALFORMED;
		for (unsigned j = 0; j < p->nroles; j++)
			if ((a->roles >> j & 1u) && p->roles[j].never_key)
				return CC_ERR_MALFORMED;
	}
	return CC_OK;
}

static int policy_encode_body(const cc_policy *p, const uint8_t root_pk[CC_SIGN_PK_BYTES], cc_wbuf *w)
{
	int rc = cc_policy_check(p);
	if (rc != CC_OK)
		return rc;
	cc_w_fixed(w, POLICY_MAGIC, sizeof POLICY_MAGIC);
	cc_w_u8(w, p->version);
	cc_w_u64(w, p->number);
	cc_w_str(w, p->deployment);
	cc_w_i64(w, p->issued_at);
	cc_w_u8(w, p->nlevels);
	for (unsigned i = 0; i < p->nlevels; i++) {
		cc_w_u8(w, p->levels[i].level);
		cc_w_str(w, p->levels[i].name);
	}
	cc_w_u8(w, p->nroles);
	for (unsigned i = 0; i < p->nroles; i++) {
		const cc_policy_role *r = &p->roles[i];
		cc_w_str(w, r->name);
		cc_w_u8(w, r->min_level);
		cc_w_u8(w, r->care);
		cc_w_u8(w, r->never_key);
		cc_w_u8(w, r->may_create);
		cc_w_u8(w, r->may_add);
		cc_w_u8(w, r->may_remove);
		cc_w_u8(w, r->escalate_max);
		cc_w_u8(w, r->may_deescalate);
		cc_w_u8(w, r->may_grant);
		cc_w_u8(w, r->may_break_glass);
		cc_w_u8(w, r->audit_scope);
	}
	cc_w_u8(w, p->naudiences);
	for (unsigned i = 0; i < p->naudiences; i++) {
		cc_w_str(w, p->audiences[i].name);
		cc_w_u32(w, p->audiences[i].roles);
		cc_w_u8(w, p->audiences[i].ground_required);
	}
	if (p->version >= CC_POLICY_VERSION_REGIE) {
		for (unsigned i = 0; i < p->nroles; i++) {
			cc_w_u8(w, p->roles[i].may_overview);
			cc_w_u8(w, p->roles[i].may_monitor);
		}
		for (unsigned i = 0; i < p->nlevels; i++) {
			cc_w_u16(w, p->levels[i].stale_note_days);
			cc_w_u16(w, p->levels[i].stale_level_weeks);
		}
	}
	if (p->version >= CC_POLICY_VERSION_OVERDUE)
		for (unsigned i = 0; i < p->nlevels; i++)
			cc_w_u16(w, p->levels[i].overdue_actions_days);
	cc_w_fixed(w, root_pk, CC_SIGN_PK_BYTES);
	return w->err;
}

int cc_policy_encode(const cc_policy *p, struct cc_wbuf *w)
{
	int rc;
	if (!p || !w)
		return CC_ERR_INVALID_ARG;
	if ((rc = policy_encode_body(p, p->root_pk, w)) != CC_OK)
		return rc;
	cc_w_fixed(w, p->sig, sizeof p->sig);
	return w->err;
}

int cc_policy_decode(const uint8_t *b, size_t n, cc_policy *out)
{
	cc_policy scratch;
	cc_policy *p = &scratch;
	cc_rbuf r;
	uint8_t m[4];
	int rc;

	if (!out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof *out);
	/* Decode into a scratch copy so that *out only changes on success. */
	memset(p, 0, sizeof *p);
	cc_r_init(&r, b, n);
	cc_r_fixed(&r, m, sizeof m);
	if (!r.err && memcmp(m, POLICY_MAGIC, sizeof m) != 0)
		r.err = CC_ERR_VERSION;
	p->version = cc_r_u8(&r);
	if (!r.err && p->version != CC_POLICY_VERSION && p->version != CC_POLICY_VERSION_REGIE &&
	    p->version != CC_POLICY_VERSION_OVERDUE)
		r.err = CC_ERR_VERSION;
	p->number = cc_r_u64(&r);
	cc_r_str(&r, p->deployment, sizeof p->deployment);
	p->issued_at = cc_r_i64(&r);
	p->nlevels = cc_r_u8(&r);
	if (!r.err && (p->nlevels < 1 || p->nlevels > CC_POLICY_MAX_LEVELS))
		r.err = CC_ERR_MALFORMED;
	for (unsigned i = 0; i < p->nlevels && !r.err; i++) {
		p->levels[i].level = cc_r_u8(&r);
		cc_r_str(&r, p->levels[i].name, sizeof p->levels[i].name);
	}
	p->nroles = cc_r_u8(&r);
	if (!r.err && (p->nroles < 1 || p->nroles > CC_POLICY_MAX_ROLES))
		r.err = CC_ERR_MALFORMED;
	for (unsigned i = 0; i < p->nroles && !r.err; i++) {
		cc_policy_role *ro = &p->roles[i];
		cc_r_str(&r, ro->name, sizeof ro->name);
		ro->min_level = cc_r_u8(&r);
		ro->care = cc_r_u8(&r);
		ro->never_key = cc_r_u8(&r);
		ro->may_create = cc_r_u8(&r);
		ro->may_add = cc_r_u8(&r);
		ro->may_remove = cc_r_u8(&r);
		ro->escalate_max = cc_r_u8(&r);
		ro->may_deescalate = cc_r_u8(&r);
		ro->may_grant = cc_r_u8(&r);
		ro->may_break_glass = cc_r_u8(&r);
		ro->audit_scope = cc_r_u8(&r);
	}
	p->naudiences = cc_r_u8(&r);
	if (!r.err && p->naudiences > CC_POLICY_MAX_AUDIENCES)
		r.err = CC_ERR_MALFORMED;
	for (unsigned i = 0; i < p->naudiences && !r.err; i++) {
		cc_r_str(&r, p->audiences[i].name, sizeof p->audiences[i].name);
		p->audiences[i].roles = cc_r_u32(&r);
		p->audiences[i].ground_required = cc_r_u8(&r);
	}
	if (!r.err && p->version >= CC_POLICY_VERSION_REGIE) {
		for (unsigned i = 0; i < p->nroles && !r.err; i++) {
			p->roles[i].may_overview = cc_r_u8(&r);
			p->roles[i].may_monitor = cc_r_u8(&r);
		}
		for (unsigned i = 0; i < p->nlevels && !r.err; i++) {
			p->levels[i].stale_note_days = cc_r_u16(&r);
			p->levels[i].stale_level_weeks = cc_r_u16(&r);
		}
	}
	if (!r.err && p->version >= CC_POLICY_VERSION_OVERDUE)
		for (unsigned i = 0; i < p->nlevels && !r.err; i++)
			p->levels[i].overdue_actions_days = cc_r_u16(&r);
	cc_r_fixed(&r, p->root_pk, sizeof p->root_pk);
	cc_r_fixed(&r, p->sig, sizeof p->sig);
	if ((rc = cc_r_finish(&r)) != CC_OK)
		goto out;
	if ((rc = cc_policy_check(p)) != CC_OK)
		goto out;
	memcpy(out, p, sizeof *out);
	rc = CC_OK;
out:
	return rc;
}

int cc_policy_sign(cc_policy *p, const cc_root_key *root)
{
	cc_wbuf w;
	uint8_t sig[CC_SIG_BYTES];
	int rc;

	if (!p || !root)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = policy_encode_body(p, root->pk, &w)) != CC_OK)
		goto out;
	if ((rc = cc_sign_ctx(root->sk, CTX_POLICY, w.p, w.len, sig)) != CC_OK)
		goto out;
	memcpy(p->root_pk, root->pk, sizeof p->root_pk);
	memcpy(p->sig, sig, sizeof p->sig);
out:
	cc_w_free(&w);
	return rc;
}

int cc_policy_verify(const cc_policy *p, const uint8_t root_pk[CC_SIGN_PK_BYTES], const cc_policy *held)
{
	cc_wbuf w;
	int rc;

	if (!p || !root_pk)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = cc_policy_check(p)) != CC_OK)
		goto out;
	if (sodium_memcmp(p->root_pk, root_pk, CC_SIGN_PK_BYTES) != 0) {
		rc = CC_ERR_WRONG_ROOT;
		goto out;
	}
	if ((rc = policy_encode_body(p, p->root_pk, &w)) != CC_OK)
		goto out;
	if ((rc = cc_verify_ctx(root_pk, CTX_POLICY, w.p, w.len, p->sig)) != CC_OK)
		goto out;
	if (held && p->number <= held->number) {
		rc = CC_ERR_STALE;
		goto out;
	}
	rc = CC_OK;
out:
	cc_w_free(&w);
	return rc;
}

int cc_policy_hash(const cc_policy *p, uint8_t out[CC_HASH_BYTES])
{
	cc_wbuf w;
	int rc;

	if (!p || !out)
		return CC_ERR_INVALID_ARG;
	cc_w_init(&w);
	if ((rc = cc_policy_encode(p, &w)) != CC_OK)
		goto out;
	if (crypto_generichash(out, CC_HASH_BYTES, w.p, w.len, NULL, 0) != 0)
		rc = CC_ERR_CRYPTO;
out:
	cc_w_free(&w);
	return rc;
}

/* ---- lookups and decisions ---------------------------------------------- */

int cc_policy_role_index(const cc_policy *p, const char *role)
{
	if (!p || !role)
		return -1;
	for (int i = 0; i < p->nroles && i < CC_POLICY_MAX_ROLES; i++)
		if (strcmp(p->roles[i].name, role) == 0)
			return i;
	return -1;
}

int cc_policy_audience_index(const cc_policy *p, const char *audience)
{
	if (!p || !audience)
		return -1;
	for (int i = 0; i < p->naudiences && i < CC_POLICY_MAX_AUDIENCES; i++)
		if (strcmp(p->audiences[i].name, audience) == 0)
			return i;
	return -1;
}

static const cc_policy_role *role_at(const cc_policy *p, int role)
{
	if (!p || role < 0 || role >= p->nroles || role >= CC_POLICY_MAX_ROLES)
		return NULL;
	return &p->roles[role];
}

static int level_ok(const cc_policy *p, uint8_t level)
{
	return level >= 1 && level <= p->nlevels;
}

int cc_policy_may_be_member(const cc_policy *p, int role, uint8_t level)
{
	const cc_policy_role *r = role_at(p, role);
	if (!r || !level_ok(p, level) || r->never_key || r->min_level == 0)
		return 0;
	return level >= r->min_level;
}

int cc_policy_in_audience(const cc_policy *p, int audience, int role, uint8_t level)
{
	if (!p || audience < 0 || audience >= p->naudiences || audience >= CC_POLICY_MAX_AUDIENCES)
		return 0;
	if (!cc_policy_may_be_member(p, role, level))
		return 0;
	return (p->audiences[audience].roles >> role & 1u) != 0;
}

int cc_policy_may_escalate(const cc_policy *p, int role, uint8_t from, uint8_t to)
{
	const cc_policy_role *r = role_at(p, role);
	if (!r || r->never_key || !level_ok(p, from) || !level_ok(p, to) || to <= from)
		return 0;
	return to <= r->escalate_max;
}

int cc_policy_may_deescalate(const cc_policy *p, int role, uint8_t from, uint8_t to)
{
	const cc_policy_role *r = role_at(p, role);
	if (!r || r->never_key || !r->may_deescalate || !level_ok(p, from) || !level_ok(p, to))
		return 0;
	return to < from;
}

int cc_policy_ground_required(const cc_policy *p, int audience, int role, uint8_t level)
{
	const cc_policy_role *r = role_at(p, role);
	if (!r || audience < 0 || audience >= p->naudiences || audience >= CC_POLICY_MAX_AUDIENCES)
		return 0;
	if (!p->audiences[audience].ground_required || !r->care)
		return 0;
	/* Professional secrecy only matters when someone outside the care circle
	 * can read the audience at this level. */
	for (int i = 0; i < p->nroles && i < CC_POLICY_MAX_ROLES; i++)
		if (!p->roles[i].care && cc_policy_in_audience(p, audience, i, level))
			return 1;
	return 0;
}

int cc_policy_may_overview(const cc_policy *p, int role)
{
	const cc_policy_role *r = role_at(p, role);
	return r && p->version >= CC_POLICY_VERSION_REGIE && r->may_overview;
}

int cc_policy_may_monitor(const cc_policy *p, int role)
{
	const cc_policy_role *r = role_at(p, role);
	return r && p->version >= CC_POLICY_VERSION_REGIE && r->may_monitor;
}

int cc_policy_overdue_after(const cc_policy *p, uint8_t level, int64_t *after)
{
	if (!p || !after || !level_ok(p, level) || level > CC_POLICY_MAX_LEVELS)
		return 0;
	if (p->version == CC_POLICY_VERSION_REGIE) {
		*after = 0; /* version 2: from the due date on, at every level */
		return 1;
	}
	if (p->version != CC_POLICY_VERSION_OVERDUE || p->levels[level - 1].overdue_actions_days == 0)
		return 0;
	*after = (int64_t)p->levels[level - 1].overdue_actions_days * 86400;
	return 1;
}

static const char *const GROUND_NAMES[] = {
	"none", "consent", "legal_duty", "conflict_of_duties", "right_to_report", "no_care_info",
};

const char *cc_ground_name(int ground)
{
	if (ground < 0 || ground > CC_GROUND_MAX)
		return NULL;
	return GROUND_NAMES[ground];
}

int cc_ground_from_name(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i <= CC_GROUND_MAX; i++)
		if (strcmp(GROUND_NAMES[i], name) == 0)
			return i;
	return -1;
}
