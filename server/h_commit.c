/*
 * h_commit.c: the commit family: commit.post and commit.fetch, and what
 * casus.create shares with them (judging a commit at both clocks, storing the
 * chain state and the membership index, the commit push). The membership and
 * level chain is verified with cc_chain_apply; escalations notify the roles
 * that direct the newly opened levels.
 */
#include "audit.h"
#include "fanout.h"
#include "handlers.h"
#include "log.h"
#include "notice.h"
#include "reply.h"
#include "rt.h"
#include "schema.h"
#include "clock.h"

#include <cc_buf.h>
#include <cc_commit.h>
#include <cc_err.h>
#include <cc_grant.h>
#include <cc_message.h>
#include <proto.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define COMMITS_PAGE 256

/* ---- membership index ----------------------------------------------------- */

int members_update(struct server *srv, const uint8_t cid[16], const cc_chain_state *old, const cc_chain_state *nw)
{
	uint8_t k[SCHEMA_KEY_PAIR];
	int rc = 0;
	for (size_t i = 0; i < nw->nroster && !rc; i++) {
		const uint8_t *dev = nw->roster[i].cert.device_id;
		if (old && cc_chain_find(old, dev) >= 0)
			continue;
		uint8_t v[SCHEMA_MEMBER_VAL];
		schema_member_encode(v, nw->epoch, 0);
		rc = store_put(&srv->st, DB_MEMBERS, k, schema_key_pair(k, dev, cid), v, sizeof v, 0);
		if (!rc)
			rc = schema_removed_del(&srv->st, dev, cid);
	}
	for (size_t i = 0; old && i < old->nroster && !rc; i++) {
		const uint8_t *dev = old->roster[i].cert.device_id;
		if (cc_chain_find(nw, dev) >= 0)
			continue;
		rc = store_del(&srv->st, DB_MEMBERS, k, schema_key_pair(k, dev, cid));
		if (rc == MDB_NOTFOUND)
			rc = 0;
		/* it may still fetch the commits up to its removal (h_commit_fetch) */
		if (!rc)
			rc = schema_removed_put(&srv->st, dev, cid, nw->epoch);
	}
	return rc;
}

int save_state(struct server *srv, const uint8_t cid[16], const cc_chain_state *st)
{
	cc_wbuf w;
	uint8_t k[SCHEMA_KEY_CASUS];
	cc_w_init(&w);
	int rc = cc_chain_state_encode(st, &w);
	if (rc == CC_OK && !w.err) {
		rc = store_put(&srv->st, DB_CASUS, k, schema_key_casus(k, cid, SCHEMA_CASUS_CHAIN), w.p, w.len, 0);
	} else {
		rc = -1;
	}
	cc_w_free(&w);
	return rc;
}

struct outbuf *commit_push(const uint8_t cid[16], uint64_t epoch, const uint8_t *c, size_t n)
{
	json_t *p = json_pack("{ss}", "push", "commit");
	proto_set_id16(p, "casus", cid);
	json_object_set_new(p, "epoch", json_integer((json_int_t)epoch));
	proto_set_b64(p, "commit", c, n);
	struct outbuf *b = outbuf_from_json(p);
	json_decref(p);
	return b;
}

/* A commit is judged at casusd's wall clock and at its own time: the
 * signer's and every new member's certificate must be valid at both (and not
 * revoked now), so a commit dated into a certificate's validity cannot bring in
 * a certificate that has expired since, nor the other way round. A commit
 * dated more than CLOCK_COMMIT_SKEW_S ahead is refused before this (see
 * commit_time_ok). On failure st is unchanged. */
int chain_apply_checked(struct server *srv, cc_chain_state *st, const uint8_t *cb, size_t cl,
                        uint8_t hash[CC_HASH_BYTES])
{
	cc_chain_state *hist = NULL;
	int64_t now = clock_wall_s();
	const cc_revlist *revs = srv->have_revs ? &srv->revs : NULL;
	int rc = cc_chain_state_copy(st, &hist);
	if (rc == CC_OK)
		rc = cc_chain_apply_historic(hist, cb, cl, &srv->policy, srv->root_pk, now, revs, NULL);
	if (rc == CC_OK)
		rc = cc_chain_apply(st, cb, cl, &srv->policy, srv->root_pk, now, revs, hash);
	cc_chain_state_free(hist);
	return rc;
}

/* 1 if a commit's own time is not more than CLOCK_COMMIT_SKEW_S ahead of
 * casusd's wall clock. */
int commit_time_ok(int64_t t)
{
	int64_t now = clock_wall_s();
	return now > INT64_MAX - CLOCK_COMMIT_SKEW_S || t <= now + CLOCK_COMMIT_SKEW_S;
}

/* ---- commit.post ------------------------------------------------------------ */

/* The people who joined ("+user (Name, role, org)") and left ("-user (...)")
 * between two roster states, named from their certificates, one string each
 * in a heap array (free with people_free). Devices of one user are named once
 * per direction. Returns the count; 0 also when out of memory (then *out is
 * NULL and the entry still has the counts). */
static size_t commit_people(const cc_chain_state *old, const cc_chain_state *neu, char ***out)
{
	size_t n = 0;
	size_t cap = (size_t)(old ? old->nroster : 0) + (size_t)(neu ? neu->nroster : 0);
	char **v = cap ? calloc(cap, sizeof(*v)) : NULL;
	*out = NULL;
	if (!v)
		return 0;
	for (int dir = 0; dir < 2; dir++) {
		const cc_chain_state *a = dir == 0 ? neu : old, *b = dir == 0 ? old : neu;
		for (size_t i = 0; a && i < a->nroster; i++) {
			const cc_cert *c = &a->roster[i].cert;
			if (b && cc_chain_find(b, c->device_id) >= 0)
				continue;
			int dup = 0; /* another device of the same user already named */
			for (size_t j = 0; j < i && !dup; j++)
				dup = strcmp(a->roster[j].cert.user_id, c->user_id) == 0 &&
				      !(b && cc_chain_find(b, a->roster[j].cert.device_id) >= 0);
			if (dup)
				continue;
			char p[CC_AUDIT_OBJECT_MAX + 1];
			audit_person(p + 1, sizeof p - 1, c);
			p[0] = dir == 0 ? '+' : '-';
			v[n] = strdup(p);
			if (!v[n])
				break;
			n++;
		}
	}
	*out = v;
	return n;
}

static void people_free(char **v, size_t n)
{
	for (size_t i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

/* Log the commit entry e (object starts with head) naming every person in
 * who[]: as many as fit in the first entry, the rest in further entries of
 * the same event whose object says "(continued)", so nobody is cut off. */
static void log_commit_people(struct server *srv, struct session *s, cc_audit_entry *e, const char *head, char **who,
                              size_t nwho)
{
	size_t i = 0;
	int first = 1;
	do {
		cc_audit_entry x = *e;
		int len = snprintf(x.object, sizeof x.object, "%s%s", head, first ? "" : " (continued)");
		for (int k = 0; i < nwho && len > 0 && (size_t)len < sizeof x.object; k++) {
			size_t need = strlen(who[i]) + 2;
			if ((size_t)len + need >= sizeof x.object && k > 0)
				break; /* next entry */
			len += snprintf(x.object + len, sizeof x.object - (size_t)len, "%s%s", k ? ", " : ": ", who[i]);
			i++;
		}
		/* a single name longer than the room left is cut by the cap */
		x.object[sizeof x.object - 1] = 0;
		char clean[sizeof x.object];
		cc_audit_str_copy(clean, sizeof clean, x.object);
		memcpy(x.object, clean, sizeof clean);
		audit_log(srv, s, &x);
		first = 0;
	} while (i < nwho);
}

void audit_log_people(struct server *srv, struct session *s, cc_audit_entry *e, const char *head,
                      const cc_chain_state *old, const cc_chain_state *neu)
{
	char **who = NULL;
	size_t nwho = commit_people(old, neu, &who);
	log_commit_people(srv, s, e, head, who, nwho);
	people_free(who, nwho);
}

static uint16_t commit_event(int type)
{
	switch (type) {
	case CC_COMMIT_ADD:
		return CC_AUDIT_EV_COMMIT_ADD;
	case CC_COMMIT_REMOVE:
		return CC_AUDIT_EV_COMMIT_REMOVE;
	case CC_COMMIT_ESCALATE:
	case CC_COMMIT_DEESCALATE:
		return CC_AUDIT_EV_COMMIT_LEVEL;
	case CC_COMMIT_BREAK_GLASS:
		return CC_AUDIT_EV_COMMIT_BREAK_GLASS;
	default:
		return CC_AUDIT_EV_COMMIT_ROTATE;
	}
}

/* On escalation, tell the users whose roles direct the newly opened levels
 * (roles that may add members and are first admitted there): a push when
 * online, and a notice they see at their next login and in casus.list.
 * They are not members: the notice carries only the casus id, the new level
 * (number and name) and the time, never the reason or who escalated. */
static void notify_escalation(struct server *srv, const struct casus_rt *rt, uint8_t from, uint8_t to)
{
	uint32_t roles = 0;
	for (int r = 0; r < srv->policy.nroles; r++) {
		const cc_policy_role *pr = &srv->policy.roles[r];
		if (pr->min_level > from && pr->min_level <= to && pr->may_add && !pr->never_key)
			roles |= 1u << r;
	}
	if (!roles)
		return;
	json_t *n = json_pack("{ss}", "notice", "escalation");
	proto_set_id16(n, "casus", rt->id);
	json_object_set_new(n, "level", json_integer(to));
	json_object_set_new(n, "level_name",
	                    json_string(to >= 1 && to <= srv->policy.nlevels ? srv->policy.levels[to - 1].name : ""));
	json_object_set_new(n, "time", json_integer((json_int_t)clock_wall_s()));
	notice_to_roles(srv, roles, n);
	json_decref(n);
}

int h_commit_post(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	uint8_t *cb = NULL;
	size_t cl = 0;
	cc_chain_state *st = NULL;
	int keep = 0;
	uint8_t hash[CC_HASH_BYTES];

	if (proto_get_id16(req, "casus", cid) || proto_get_b64(req, "commit", CC_COMMIT_MAX_BYTES, &cb, &cl)) {
		reply_error(s, id, PE_BAD_REQUEST, "commit.post needs \"casus\" (hex id) and \"commit\" (base64)");
		goto out;
	}
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt) {
		deny(s, id, PE_NOT_FOUND, "no such casus", CC_AUDIT_EV_REQUEST_DENIED, cid);
		goto out;
	}
	cc_commit c;
	int rc = cc_commit_decode(cb, cl, &c);
	if (rc != CC_OK) {
		deny_casus(s, id, PE_INVALID, cc_strerror(rc), CC_AUDIT_EV_REQUEST_DENIED, rt, NULL);
		goto out;
	}
	int type = c.type;
	int own = sodium_memcmp(c.actor, s->cert.device_id, 16) == 0;
	int64_t ctime = c.time;
	cc_commit_free(&c);
	uint16_t ev = commit_event(type);
	if (!rt_is_member(rt, s->cert.device_id) || !own) {
		deny_casus(s, id, PE_FORBIDDEN,
		           own ? "you are not a member of this casus"
		               : "a commit must be signed by the device that posts it",
		           ev, rt, NULL);
		goto out;
	}
	if (rt->closed_at) {
		deny_casus(s, id, PE_FORBIDDEN, "the casus is closed: its membership no longer changes", ev, rt, NULL);
		goto out;
	}
	if (!commit_time_ok(ctime)) {
		deny_casus(s, id, PE_INVALID, "commit time is in the future", ev, rt, NULL);
		goto out;
	}
	rc = cc_chain_state_copy(rt->st, &st);
	if (rc == CC_OK)
		rc = chain_apply_checked(srv, st, cb, cl, hash);
	if (rc != CC_OK) {
		int code = handler_err(rc);
		deny_casus(s, id, code,
		           code == PE_CONFLICT ? "the casus has moved on: fetch the new commits and rebase"
		                               : cc_strerror(rc),
		           ev, rt, NULL);
		goto out;
	}
	rc = schema_commit_put(&srv->st, cid, st->epoch, cb, cl, MDB_NOOVERWRITE);
	if (!rc)
		rc = save_state(srv, cid, st);
	if (!rc)
		rc = members_update(srv, cid, rt->st, st);
	if (rc) {
		reply_error(s, id, PE_STORAGE, "could not store the commit");
		goto out;
	}
	uint8_t level_before = rt->level;
	size_t before = rt->st->nroster;
	/* who joined and who left, named from their certificates, before the
	 * runtime drops the old state */
	char **who = NULL;
	size_t nwho = commit_people(rt->st, st, &who);
	cc_chain_state *applied = st;
	st = NULL; /* owned by the runtime from here on, also on error */
	if (rt_set_chain(srv, cid, applied) != 0) {
		people_free(who, nwho);
		reply_error(s, id, PE_INTERNAL, "could not index the commit");
		goto out;
	}
	/* the push carries the commit as posted, every box included (as fresh as
	 * it gets); commit.fetch serves only the requester's own boxes */
	struct outbuf *pb = commit_push(cid, applied->epoch, cb, cl);
	fanout_push(rt, &FANOUT_ALL, pb);
	outbuf_unref(pb);
	int bg = 0;
	for (size_t i = 0; i < applied->nroster; i++)
		bg |= applied->roster[i].flags & CC_ROSTER_BREAK_GLASS;
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = ev;
	fill_casus(&e, rt);
	e.level_prev = level_before;
	e.break_glass = type == CC_COMMIT_BREAK_GLASS ? 1 : 0;
	e.seq_from = e.seq_to = applied->epoch;
	/* no reason: it is the members' text (end-to-end encrypted in newer
	 * commits); the entry says who changed what, when, and the level */
	{
		char lv[64] = "";
		if (applied->level != level_before)
			snprintf(lv, sizeof lv, " level %u->%u", (unsigned)level_before, (unsigned)applied->level);
		char head[160];
		snprintf(head, sizeof head, "commit %s epoch %llu%s members %zu->%zu",
		         cc_commit_type_name(type) ? cc_commit_type_name(type) : "?",
		         (unsigned long long)applied->epoch, lv, before, (size_t)applied->nroster);
		log_commit_people(srv, s, &e, head, who, nwho);
		people_free(who, nwho);
		who = NULL;
		nwho = 0;
	}
	(void)bg;
	if (type == CC_COMMIT_ESCALATE)
		notify_escalation(srv, rt, level_before, applied->level);

	json_t *r = proto_ok(id);
	json_object_set_new(r, "epoch", json_integer((json_int_t)applied->epoch));
	json_object_set_new(r, "level", json_integer(applied->level));
	reply_later(s, id, r);
	keep = 1;
out:
	cc_chain_state_free(st);
	free(cb);
	return keep;
}

/* ---- commit.fetch ------------------------------------------------------------ */

int h_commit_fetch(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	uint64_t from = 0;
	if (proto_get_id16(req, "casus", cid) ||
	    (json_object_get(req, "from") && proto_get_u64(req, "from", UINT32_MAX, &from))) {
		reply_error(s, id, PE_BAD_REQUEST, "commit.fetch needs \"casus\" and an optional \"from\" epoch");
		return 0;
	}
	struct casus_rt *rt = rt_get(srv, cid);
	/* a removed device may fetch up to the commit that removed it, nothing after */
	uint64_t upto = UINT64_MAX, removed_at;
	if (rt && !rt_is_member(rt, s->cert.device_id) &&
	    schema_removed_get(&srv->st, s->cert.device_id, cid, &removed_at) == 0 && from <= removed_at)
		upto = removed_at;
	if (!rt || (upto == UINT64_MAX && !rt_is_member(rt, s->cert.device_id)))
		return deny_casus(s, id, rt ? PE_FORBIDDEN : PE_NOT_FOUND,
		                  rt ? "you are not a member of this casus" : "no such casus", CC_AUDIT_EV_KEY_FETCH,
		                  rt, cid);
	/* a page holds at most COMMITS_PAGE commits and session_page_bytes of them
	 * (base64 as sent; always one) */
	size_t page_bytes = session_page_bytes(s, COMMITS_PAGE), bytes = 0;
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	uint8_t k[SCHEMA_KEY_SEQ];
	MDB_val kk = {schema_key_seq(k, cid, from), k}, vv;
	uint64_t first = 0, last = 0;
	int more = 0;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_COMMITS], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &kk, &vv, MDB_SET_RANGE);
		size_t n = 0;
		while (rc == 0 && kk.mv_size == SCHEMA_KEY_SEQ && memcmp(kk.mv_data, cid, 16) == 0) {
			if (n == COMMITS_PAGE) {
				more = 1;
				break;
			}
			uint64_t ep = schema_key_tail64(kk.mv_data, kk.mv_size);
			if (ep > upto)
				break;
			/* version 4: the signed part and only this device's boxes */
			cc_wbuf w;
			cc_w_init(&w);
			if (schema_commit_for(&srv->st, cid, ep, vv.mv_data, vv.mv_size, s->cert.device_id, &w) != 0) {
				cc_w_free(&w);
				break;
			}
			size_t b64 = (w.len + 2) / 3 * 4;
			if (n && b64 > page_bytes - bytes) {
				cc_w_free(&w);
				more = 1;
				break;
			}
			bytes = b64 > page_bytes - bytes ? page_bytes : bytes + b64;
			json_t *o = json_object();
			json_object_set_new(o, "epoch", json_integer((json_int_t)ep));
			proto_set_b64(o, "commit", w.p, w.len);
			json_array_append_new(arr, o);
			cc_w_free(&w);
			if (!n)
				first = ep;
			last = ep;
			n++;
			rc = mdb_cursor_get(cur, &kk, &vv, MDB_NEXT);
		}
		mdb_cursor_close(cur);
	}
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_KEY_FETCH;
	fill_casus(&e, rt);
	e.seq_from = first;
	e.seq_to = last;
	snprintf(e.object, sizeof e.object, "commits (sealed epoch keys) %llu..%llu", (unsigned long long)first,
	         (unsigned long long)last);
	audit_log(srv, s, &e);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "commits", arr);
	json_object_set_new(r, "more", json_boolean(more));
	reply_later(s, id, r);
	return 1;
}
