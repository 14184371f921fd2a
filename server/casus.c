/*
 * casus.c: the casus requests: create, list, commits (the membership and
 * level chain), messages, history and grants.
 *
 * The server holds no key. What it enforces it decides from public data: the
 * verified commit chain (cc_chain_apply), the signed policy and the device
 * certificates. Everything a request writes happens in its child transaction;
 * the reply and pushes leave only after the loop turn's commit.
 *
 * Storage records written here (see docs/STORAGE.md):
 *   casus    id 'r' -> u8 version | i64 created | str purpose | str basis |
 *                      u32 retention_days | fixed16 creator device
 *   casus    id 'c' -> cc_chain_state encoding
 *   commits  id epoch -> commit bytes
 *   messages id seq   -> u8 audience | u64 epoch | message bytes
 *   msgids   id msgid -> u64 seq
 *   members  device id -> u64 join_epoch | u64 read_seq
 *   grants   device id gseq -> grant bytes
 *   notices  user 0 seq -> JSON text
 */
#include "audit.h"
#include "fanout.h"
#include "handlers.h"
#include "log.h"
#include "retention.h"
#include "verify.h"

#include <cc_buf.h>
#include <cc_commit.h>
#include <cc_err.h>
#include <cc_grant.h>
#include <cc_message.h>
#include <proto.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define PURPOSE_MAX 256
#define HISTORY_DEFAULT 100
#define COMMITS_PAGE 256
#define NOTICES_MAX 50 /* notices returned at login and in casus.list (newest) */

/* ---- keys ----------------------------------------------------------------- */

static void key_rec(uint8_t k[17], const uint8_t id[16], char kind)
{
	memcpy(k, id, 16);
	k[16] = (uint8_t)kind;
}

static void key_seq(uint8_t k[24], const uint8_t a[16], uint64_t seq)
{
	memcpy(k, a, 16);
	store_be64(k + 16, seq);
}

static void key_pair(uint8_t k[32], const uint8_t a[16], const uint8_t b[16])
{
	memcpy(k, a, 16);
	memcpy(k + 16, b, 16);
}

/* The newest policy number this store has served (meta "policy_number"). A
 * policy older than that is refused for every casus request, so a server rolled
 * back to a weaker policy cannot serve even clients that never saw the newer
 * one. Decided once per process (the installed policy does not change while
 * it runs); the number is raised in the first request's transaction. */
static int policy_number_ok(struct server *srv)
{
	static int decided; /* 0 not yet, 1 fine, -1 older than the store's */
	if (decided)
		return decided > 0;
	MDB_val v;
	uint64_t held = 0;
	if (store_get(&srv->st, DB_META, "policy_number", 13, &v) == 0 && v.mv_size == 8)
		held = store_rd64(v.mv_data);
	if (srv->policy.number < held) {
		log_event(LOG_ERROR, "policy.stale", "installed=%llu served=%llu", (unsigned long long)srv->policy.number,
		          (unsigned long long)held);
		decided = -1;
		return 0;
	}
	if (srv->policy.number > held || !held) {
		uint8_t b[8];
		store_be64(b, srv->policy.number);
		if (store_put(&srv->st, DB_META, "policy_number", 13, b, 8, 0) != 0)
			return 1; /* not recorded this time: decide again on the next request */
	}
	decided = 1;
	return 1;
}

static int policy_ready(struct session *s, uint64_t id)
{
	if (!s->srv->have_policy) {
		reply_error(s, id, PE_INTERNAL, "the server has no policy installed");
		return 0;
	}
	if (!policy_number_ok(s->srv)) {
		reply_error(s, id, PE_INTERNAL,
		            "the installed policy is older than one this server has served: install the newest policy");
		return 0;
	}
	return 1;
}

/* ---- runtime entries ---------------------------------------------------- */

static int rt_refresh(struct server *srv, struct casus_rt *rt_hint, const uint8_t id[16], cc_chain_state *st)
{
	(void)rt_hint;
	size_t n = st->nroster;
	struct rt_dev *devs = calloc(n ? n : 1, sizeof(*devs));
	if (!devs)
		return -1;
	for (size_t i = 0; i < n; i++) {
		memcpy(devs[i].device_id, st->roster[i].cert.device_id, 16);
		for (int a = 0; a < srv->policy.naudiences; a++)
			if (cc_chain_entitled(st, &srv->policy, i, a))
				devs[i].aud_mask |= 1u << a;
	}
	int rc = fanout_set_roster(srv, id, st->level, st->epoch, devs, n);
	free(devs);
	if (rc)
		return rc;
	struct casus_rt *rt = fanout_find(srv, id);
	if (!rt)
		return -1;
	if (rt->st != st) {
		cc_chain_state_free(rt->st);
		rt->st = st;
	}
	return 0;
}

int casus_load_rt(struct server *srv, const uint8_t id[16])
{
	uint8_t k[17];
	MDB_val v;
	cc_chain_state *st = NULL;
	if (!srv->have_policy)
		return -1;
	key_rec(k, id, 'c');
	if (store_get(&srv->st, DB_CASUS, k, sizeof k, &v) != 0)
		return -1;
	if (cc_chain_state_decode(v.mv_data, v.mv_size, &st) != CC_OK)
		return -1;
	if (rt_refresh(srv, NULL, id, st) != 0) {
		cc_chain_state_free(st);
		return -1;
	}
	struct casus_rt *rt = fanout_find(srv, id);
	struct casus_record rec;
	if (casus_record_read(srv, id, &rec) == 0) {
		snprintf(rt->purpose, sizeof rt->purpose, "%s", rec.purpose);
		snprintf(rt->basis, sizeof rt->basis, "%s", rec.basis);
		rt->closed_at = rec.closed_at;
	}
	/* next message sequence: one past the last stored */
	rt->next_msg_seq = 1;
	MDB_cursor *cur = NULL;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_MESSAGES], &cur) == 0) {
		uint8_t probe[24];
		key_seq(probe, id, UINT64_MAX);
		MDB_val kk = {sizeof probe, probe}, vv;
		int rc = mdb_cursor_get(cur, &kk, &vv, MDB_SET_RANGE);
		rc = rc == 0 ? mdb_cursor_get(cur, &kk, &vv, MDB_PREV) : mdb_cursor_get(cur, &kk, &vv, MDB_LAST);
		if (rc == 0 && kk.mv_size == 24 && memcmp(kk.mv_data, id, 16) == 0)
			rt->next_msg_seq = store_rd64((const uint8_t *)kk.mv_data + 16) + 1;
		mdb_cursor_close(cur);
	}
	return 0;
}

static struct casus_rt *rt_get(struct server *srv, const uint8_t id[16])
{
	struct casus_rt *rt = fanout_find(srv, id);
	if (rt && rt->st)
		return rt;
	if (casus_load_rt(srv, id) != 0)
		return NULL;
	return fanout_find(srv, id);
}

void casus_subscribe_device(struct server *srv, struct session *s)
{
	MDB_cursor *cur = NULL;
	MDB_val k = {16, s->cert.device_id}, v;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_MEMBERS], &cur) != 0)
		return;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == 32 && memcmp(k.mv_data, s->cert.device_id, 16) == 0) {
		uint8_t cid[16];
		memcpy(cid, (const uint8_t *)k.mv_data + 16, 16);
		if (!rt_get(srv, cid) || fanout_subscribe(srv, s, cid) != 0)
			log_event(LOG_WARN, "casus.subscribe_failed", "sid=%llu", (unsigned long long)s->sid);
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
}

/* Notices (escalations) waiting for a user: returned at login and in casus.list. */
static json_t *notices_for(struct server *srv, const char *user)
{
	json_t *arr = json_array();
	size_t ul = strlen(user);
	MDB_cursor *cur = NULL;
	MDB_val k = {ul + 1, (void *)(uintptr_t)user}, v;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_NOTICES], &cur) != 0)
		return arr;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == ul + 1 + 8 && memcmp(k.mv_data, user, ul + 1) == 0) {
		json_t *n = json_loadb(v.mv_data, v.mv_size, JSON_REJECT_DUPLICATES, NULL);
		if (n)
			json_array_append_new(arr, n);
		/* the newest NOTICES_MAX only: the reply must stay far below a frame */
		if (json_array_size(arr) > NOTICES_MAX)
			json_array_remove(arr, 0);
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return arr;
}

void casus_session_authed(struct server *srv, struct session *s, json_t *reply)
{
	casus_subscribe_device(srv, s);
	json_object_set_new(reply, "notices", notices_for(srv, s->cert.user_id));
}

/* ---- error mapping ---------------------------------------------------------- */

static int map_err(int cc)
{
	switch (cc) {
	case CC_ERR_CHAIN:
	case CC_ERR_EPOCH:
		return PE_CONFLICT;
	case CC_ERR_FORBIDDEN:
	case CC_ERR_LEVEL:
	case CC_ERR_NOT_MEMBER:
	case CC_ERR_AUDIENCE:
	case CC_ERR_UNKNOWN_ROLE:
		return PE_FORBIDDEN;
	case CC_ERR_BAD_SIGNATURE:
		return PE_BAD_SIGNATURE;
	case CC_ERR_GROUND_REQUIRED:
		return PE_GROUND_REQUIRED;
	case CC_ERR_TOO_LARGE:
		return PE_TOO_LARGE;
	default:
		return PE_INVALID;
	}
}

static void fill_casus(cc_audit_entry *e, const struct casus_rt *rt)
{
	memcpy(e->casus_id, rt->id, 16);
	cc_audit_str_copy(e->purpose, sizeof e->purpose, rt->purpose);
	cc_audit_str_copy(e->legal_basis, sizeof e->legal_basis, rt->basis);
	e->level = rt->level;
}

static int deny_casus(struct session *s, uint64_t id, int code, const char *msg, unsigned event,
                      const struct casus_rt *rt, const uint8_t *cid)
{
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = (uint16_t)event;
	e.outcome = CC_AUDIT_OUTCOME_DENIED;
	cc_audit_str_copy(e.error, sizeof e.error, proto_err_name((enum proto_err)code));
	if (rt)
		fill_casus(&e, rt);
	else if (cid)
		memcpy(e.casus_id, cid, 16);
	audit_log(s->srv, s, &e);
	reply_error(s, id, code, msg);
	return 0;
}

/* Current member of a casus (device in the verified roster)? */
static int is_member(const struct casus_rt *rt, const struct session *s)
{
	return rt && rt->st && cc_chain_find(rt->st, s->cert.device_id) >= 0;
}

/* ---- membership index ----------------------------------------------------- */

static int members_update(struct server *srv, const uint8_t cid[16], const cc_chain_state *old,
                          const cc_chain_state *nw)
{
	uint8_t k[32];
	int rc = 0;
	for (size_t i = 0; i < nw->nroster && !rc; i++) {
		const uint8_t *dev = nw->roster[i].cert.device_id;
		if (old && cc_chain_find(old, dev) >= 0)
			continue;
		uint8_t v[16];
		store_be64(v, nw->epoch);
		store_be64(v + 8, 0);
		key_pair(k, dev, cid);
		rc = store_put(&srv->st, DB_MEMBERS, k, 32, v, 16, 0);
	}
	for (size_t i = 0; old && i < old->nroster && !rc; i++) {
		const uint8_t *dev = old->roster[i].cert.device_id;
		if (cc_chain_find(nw, dev) >= 0)
			continue;
		key_pair(k, dev, cid);
		rc = store_del(&srv->st, DB_MEMBERS, k, 32);
		if (rc == MDB_NOTFOUND)
			rc = 0;
	}
	return rc;
}

static int save_state(struct server *srv, const uint8_t cid[16], const cc_chain_state *st)
{
	cc_wbuf w;
	uint8_t k[17];
	cc_w_init(&w);
	int rc = cc_chain_state_encode(st, &w);
	if (rc == CC_OK && !w.err) {
		key_rec(k, cid, 'c');
		rc = store_put(&srv->st, DB_CASUS, k, sizeof k, w.p, w.len, 0);
	} else {
		rc = -1;
	}
	cc_w_free(&w);
	return rc;
}

static struct outbuf *commit_push(const uint8_t cid[16], uint64_t epoch, const uint8_t *c, size_t n)
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
static int chain_apply_checked(struct server *srv, cc_chain_state *st, const uint8_t *cb, size_t cl,
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
static int commit_time_ok(int64_t t)
{
	int64_t now = clock_wall_s();
	return now > INT64_MAX - CLOCK_COMMIT_SKEW_S || t <= now + CLOCK_COMMIT_SKEW_S;
}

/* ---- casus.create --------------------------------------------------------- */

int h_casus_create(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t *cb = NULL;
	size_t cl = 0;
	const char *purpose, *basis;
	uint64_t retention = 3650;
	cc_chain_state *st = NULL;
	uint8_t hash[CC_HASH_BYTES];
	int keep = 0;

	if (!policy_ready(s, id))
		return 0;
	if (proto_get_b64(req, "commit", CC_COMMIT_MAX_BYTES, &cb, &cl) ||
	    proto_get_str(req, "purpose", PURPOSE_MAX, &purpose) || !*purpose ||
	    proto_get_str(req, "basis", PURPOSE_MAX, &basis) || !*basis ||
	    (json_object_get(req, "retention_days") && proto_get_u64(req, "retention_days", 36600, &retention))) {
		reply_error(s, id, PE_BAD_REQUEST,
		            "casus.create needs \"commit\" (base64), a non-empty \"purpose\" and \"basis\"");
		goto out;
	}
	if (s->role < 0 || !srv->policy.roles[s->role].may_create) {
		deny(s, id, PE_FORBIDDEN, "your role may not open a casus", CC_AUDIT_EV_CASUS_CREATE, NULL);
		goto out;
	}
	cc_commit c;
	int rc = cc_commit_decode(cb, cl, &c);
	if (rc == CC_OK) {
		int own = c.type == CC_COMMIT_CREATE && sodium_memcmp(c.actor, s->cert.device_id, 16) == 0;
		int64_t ctime = c.time;
		uint8_t cid[16];
		memcpy(cid, c.casus_id, 16);
		cc_commit_free(&c);
		if (!own) {
			deny(s, id, PE_FORBIDDEN, "a create commit must be made and signed by this device",
			     CC_AUDIT_EV_CASUS_CREATE, cid);
			goto out;
		}
		if (!commit_time_ok(ctime)) {
			deny(s, id, PE_INVALID, "commit time is in the future", CC_AUDIT_EV_CASUS_CREATE, cid);
			goto out;
		}
		uint8_t k[17];
		MDB_val v;
		key_rec(k, cid, 'r');
		if (store_get(&srv->st, DB_CASUS, k, sizeof k, &v) == 0) {
			deny(s, id, PE_CONFLICT, "a casus with this id exists", CC_AUDIT_EV_CASUS_CREATE, cid);
			goto out;
		}
	}
	if (rc == CC_OK)
		rc = cc_chain_state_new(&st);
	if (rc == CC_OK)
		rc = chain_apply_checked(srv, st, cb, cl, hash);
	if (rc != CC_OK) {
		deny(s, id, map_err(rc), cc_strerror(rc), CC_AUDIT_EV_CASUS_CREATE, NULL);
		goto out;
	}
	const uint8_t *cid = st->casus_id;
	/* record */
	struct casus_record rec;
	memset(&rec, 0, sizeof rec);
	rec.created = clock_wall_s();
	snprintf(rec.purpose, sizeof rec.purpose, "%s", purpose);
	snprintf(rec.basis, sizeof rec.basis, "%s", basis);
	rec.retention_days = (uint32_t)retention;
	memcpy(rec.creator, s->cert.device_id, 16);
	rc = casus_record_write(srv, cid, &rec);
	uint8_t k[24];
	key_seq(k, cid, st->epoch);
	if (!rc)
		rc = store_put(&srv->st, DB_COMMITS, k, 24, cb, cl, 0);
	if (!rc)
		rc = save_state(srv, cid, st);
	if (!rc)
		rc = members_update(srv, cid, NULL, st);
	if (rc) {
		reply_error(s, id, PE_STORAGE, "could not store the casus");
		goto out;
	}
	uint8_t cid_copy[16];
	memcpy(cid_copy, cid, 16);
	if (rt_refresh(srv, NULL, cid_copy, st) != 0) {
		reply_error(s, id, PE_INTERNAL, "could not index the casus");
		goto out;
	}
	struct casus_rt *rt = fanout_find(srv, cid_copy);
	st = NULL; /* owned by rt now */
	snprintf(rt->purpose, sizeof rt->purpose, "%s", purpose);
	snprintf(rt->basis, sizeof rt->basis, "%s", basis);
	rt->next_msg_seq = 1;

	struct outbuf *pb = commit_push(cid_copy, rt->epoch, cb, cl);
	if (pb) {
		fanout_push(srv, cid_copy, -1, pb);
		outbuf_unref(pb);
	}
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_CASUS_CREATE;
	fill_casus(&e, rt);
	snprintf(e.object, sizeof e.object, "members %u", (unsigned)rt->ndevs);
	audit_log(srv, s, &e);

	json_t *r = proto_ok(id);
	proto_set_id16(r, "casus", cid_copy);
	json_object_set_new(r, "epoch", json_integer((json_int_t)rt->epoch));
	reply_later(s, id, r);
	keep = 1;
out:
	cc_chain_state_free(st);
	free(cb);
	return keep;
}

/* ---- commit.post ------------------------------------------------------------ */

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
	json_object_set_new(n, "level_name", json_string(to >= 1 && to <= srv->policy.nlevels
	                                                     ? srv->policy.levels[to - 1].name : ""));
	json_object_set_new(n, "time", json_integer((json_int_t)clock_wall_s()));
	char *text = json_dumps(n, JSON_COMPACT);
	json_t *push = json_pack("{sssO}", "push", "notice", "notice", n);
	struct outbuf *pb = outbuf_from_json(push);
	json_decref(push);

	/* every certified user whose role is notified: walk the directory */
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	/* The directory is keyed by device id: a user's devices are not adjacent,
	 * so remember whom this escalation has noticed already (one notice per user). */
	char(*done)[CC_USER_ID_MAX + 1] = NULL;
	size_t ndone = 0, capdone = 0;
	if (text && mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_CERTS], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST);
		for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			cc_cert c;
			if (cc_cert_decode(v.mv_data, v.mv_size, &c) != CC_OK)
				continue;
			int ri = cc_policy_role_index(&srv->policy, c.role);
			if (ri < 0 || !(roles & (1u << ri)))
				continue;
			int seen = 0;
			for (size_t i = 0; i < ndone && !seen; i++)
				seen = strcmp(done[i], c.user_id) == 0;
			if (seen)
				continue;
			if (ndone == capdone) {
				size_t ncap = capdone ? capdone * 2 : 8;
				char(*nd)[CC_USER_ID_MAX + 1] = realloc(done, ncap * sizeof(*nd));
				if (!nd)
					break;
				done = nd;
				capdone = ncap;
			}
			snprintf(done[ndone++], sizeof done[0], "%s", c.user_id);
			uint8_t key[CC_USER_ID_MAX + 1 + 8];
			size_t ul = strlen(c.user_id);
			memcpy(key, c.user_id, ul + 1);
			uint64_t seq = 0;
			MDB_val mv;
			if (store_get(&srv->st, DB_META, "notice_seq", 10, &mv) == 0 && mv.mv_size == 8)
				seq = store_rd64(mv.mv_data);
			seq++;
			uint8_t sb[8];
			store_be64(sb, seq);
			store_put(&srv->st, DB_META, "notice_seq", 10, sb, 8, 0);
			store_be64(key + ul + 1, seq);
			store_put(&srv->st, DB_NOTICES, key, ul + 1 + 8, text, strlen(text), 0);
		}
		mdb_cursor_close(cur);
	}
	if (pb) {
		for (struct session *o = srv->sessions; o; o = o->next) {
			if (o->state != SS_AUTHED)
				continue;
			int ri = cc_policy_role_index(&srv->policy, o->cert.role);
			if (ri >= 0 && (roles & (1u << ri)))
				push_later(o, pb);
		}
		outbuf_unref(pb);
	}
	free(done);
	free(text);
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

	if (!policy_ready(s, id))
		return 0;
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
	if (!is_member(rt, s) || !own) {
		deny_casus(s, id, PE_FORBIDDEN, own ? "you are not a member of this casus" :
		                                      "a commit must be signed by the device that posts it",
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
		int code = map_err(rc);
		deny_casus(s, id, code,
		           code == PE_CONFLICT ? "the casus has moved on: fetch the new commits and rebase"
		                               : cc_strerror(rc),
		           ev, rt, NULL);
		goto out;
	}
	uint8_t k[24];
	key_seq(k, cid, st->epoch);
	rc = store_put(&srv->st, DB_COMMITS, k, 24, cb, cl, MDB_NOOVERWRITE);
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
	if (rt_refresh(srv, rt, cid, st) != 0) {
		reply_error(s, id, PE_INTERNAL, "could not index the commit");
		goto out;
	}
	cc_chain_state *applied = st;
	st = NULL; /* owned by rt */
	struct outbuf *pb = commit_push(cid, applied->epoch, cb, cl);
	if (pb) {
		fanout_push(srv, cid, -1, pb);
		outbuf_unref(pb);
	}
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
	snprintf(e.object, sizeof e.object, "commit %s epoch %llu members %zu->%zu",
	         cc_commit_type_name(type) ? cc_commit_type_name(type) : "?", (unsigned long long)applied->epoch,
	         before, (size_t)applied->nroster);
	audit_log(srv, s, &e);
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
	if (!policy_ready(s, id))
		return 0;
	if (proto_get_id16(req, "casus", cid) ||
	    (json_object_get(req, "from") && proto_get_u64(req, "from", UINT32_MAX, &from))) {
		reply_error(s, id, PE_BAD_REQUEST, "commit.fetch needs \"casus\" and an optional \"from\" epoch");
		return 0;
	}
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || !is_member(rt, s))
		return deny_casus(s, id, rt ? PE_FORBIDDEN : PE_NOT_FOUND,
		                  rt ? "you are not a member of this casus" : "no such casus", CC_AUDIT_EV_KEY_FETCH, rt,
		                  cid);
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	uint8_t k[24];
	key_seq(k, cid, from);
	MDB_val kk = {24, k}, vv;
	uint64_t first = 0, last = 0;
	int more = 0;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_COMMITS], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &kk, &vv, MDB_SET_RANGE);
		size_t n = 0;
		while (rc == 0 && kk.mv_size == 24 && memcmp(kk.mv_data, cid, 16) == 0) {
			if (n == COMMITS_PAGE) {
				more = 1;
				break;
			}
			uint64_t ep = store_rd64((const uint8_t *)kk.mv_data + 16);
			json_t *o = json_object();
			json_object_set_new(o, "epoch", json_integer((json_int_t)ep));
			proto_set_b64(o, "commit", vv.mv_data, vv.mv_size);
			json_array_append_new(arr, o);
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

/* ---- msg.post ----------------------------------------------------------------- */

int h_msg_post(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	uint8_t *mb = NULL;
	size_t ml = 0;
	int keep = 0;
	/* Two steps (verify.h): without a verified job, check everything but the
	 * signature and hand the signature to the verifier thread; with one
	 * (req == NULL, called from server.c), check again and store. */
	const struct vjob *vj = req ? NULL : verify_current();
	if (!req && !vj)
		return 0;
	if (!policy_ready(s, id))
		goto out;
	if (vj) {
		memcpy(cid, vj->casus, 16);
		ml = vj->len;
		mb = malloc(ml ? ml : 1);
		if (!mb) {
			reply_error(s, id, PE_INTERNAL, "out of memory");
			goto out;
		}
		memcpy(mb, vj->msg, ml);
	} else if (proto_get_id16(req, "casus", cid) || proto_get_b64(req, "msg", srv->cfg.lim.max_frame, &mb, &ml)) {
		reply_error(s, id, PE_BAD_REQUEST, "msg.post needs \"casus\" (hex id) and \"msg\" (base64)");
		goto out;
	}
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt) {
		deny(s, id, PE_NOT_FOUND, "no such casus", CC_AUDIT_EV_MESSAGE_POST, cid);
		goto out;
	}
	if (rt->closed_at) {
		deny_casus(s, id, PE_FORBIDDEN, "the casus is closed: nothing new can be posted", CC_AUDIT_EV_MESSAGE_POST,
		           rt, NULL);
		goto out;
	}
	cc_message m;
	int rc = cc_message_decode(mb, ml, &m);
	if (rc != CC_OK) {
		deny_casus(s, id, map_err(rc), cc_strerror(rc), CC_AUDIT_EV_MESSAGE_POST, rt, NULL);
		goto out;
	}
	if (sodium_memcmp(m.h.sender, s->cert.device_id, 16) != 0) {
		deny_casus(s, id, PE_FORBIDDEN, "the message is signed for another device", CC_AUDIT_EV_MESSAGE_POST, rt,
		           NULL);
		goto out;
	}
	if (memcmp(m.h.casus_id, cid, 16) != 0) {
		deny_casus(s, id, PE_INVALID, "the message belongs to another casus", CC_AUDIT_EV_MESSAGE_POST, rt, NULL);
		goto out;
	}
	/* cc_message_check_public's checks in its order, the signature last */
	{
		const cc_chain_state *st = rt->st;
		int ri = -1;
		if (m.h.version != CC_MESSAGE_VERSION)
			rc = CC_ERR_VERSION;
		else if (!st || !st->started || sodium_memcmp(m.h.casus_id, st->casus_id, CC_CASUS_ID_BYTES) != 0)
			rc = CC_ERR_CHAIN;
		else if (m.h.epoch != st->epoch || sodium_memcmp(m.h.epoch_hash, st->head, CC_HASH_BYTES) != 0)
			rc = CC_ERR_EPOCH;
		else if (m.h.audience >= srv->policy.naudiences)
			rc = CC_ERR_AUDIENCE;
		else if ((ri = cc_chain_find(st, m.h.sender)) < 0)
			rc = CC_ERR_NOT_MEMBER;
		else if (!cc_chain_entitled(st, &srv->policy, (size_t)ri, m.h.audience))
			rc = CC_ERR_AUDIENCE;
		else
			rc = cc_message_check_ground(&m.h, &srv->policy,
			                             cc_policy_role_index(&srv->policy, st->roster[ri].cert.role), st->level);
		if (rc == CC_OK) {
			const uint8_t *pk = st->roster[ri].cert.sign_pk;
			if (vj && sodium_memcmp(vj->sign_pk, pk, 32) == 0) {
				rc = vj->rc; /* verified by the verifier thread against this very key */
			} else if (!vj && verify_enabled() && verify_submit(s, id, cid, pk, mb, ml) == 0) {
				return 0; /* the verifier has the bytes; the reply comes after its answer */
			} else {
				rc = cc_message_verify_sig(&m, pk); /* queue full, no thread, or the key changed */
			}
		}
	}
	if (rc != CC_OK) {
		int code = rc == CC_ERR_EPOCH ? PE_STALE_EPOCH : map_err(rc);
		deny_casus(s, id, code,
		           code == PE_STALE_EPOCH ? "the epoch has changed: fetch commits and encrypt again"
		                                  : cc_strerror(rc),
		           CC_AUDIT_EV_MESSAGE_POST, rt, NULL);
		goto out;
	}
	uint8_t k[32];
	MDB_val v;
	key_pair(k, cid, m.h.message_id);
	if (store_get(&srv->st, DB_MSGIDS, k, 32, &v) == 0) {
		deny_casus(s, id, PE_DUPLICATE, "this message id was stored before (replay)", CC_AUDIT_EV_MESSAGE_POST,
		           rt, NULL);
		goto out;
	}
	uint64_t seq = rt->next_msg_seq;
	uint8_t sk[24], sb[8];
	key_seq(sk, cid, seq);
	store_be64(sb, seq);
	uint8_t *rec = malloc(9 + ml);
	if (!rec) {
		reply_error(s, id, PE_INTERNAL, "out of memory");
		goto out;
	}
	rec[0] = m.h.audience;
	store_be64(rec + 1, m.h.epoch);
	memcpy(rec + 9, mb, ml);
	rc = store_put(&srv->st, DB_MESSAGES, sk, 24, rec, 9 + ml, 0);
	free(rec);
	if (!rc)
		rc = store_put(&srv->st, DB_MSGIDS, k, 32, sb, 8, 0);
	if (rc) {
		reply_error(s, id, PE_STORAGE, "could not store the message");
		goto out;
	}
	rt->next_msg_seq = seq + 1;
	srv->m.messages_stored++;

	/* The push frame, written directly (the same compact JSON proto_dump
	 * makes, without building an object: this is the hot path) and shared
	 * by every recipient. */
	char chex[33];
	proto_hex16(cid, chex);
	size_t b64cap = sodium_base64_ENCODED_LEN(ml, sodium_base64_VARIANT_ORIGINAL);
	size_t pcap = 96 + b64cap;
	struct outbuf *pb = outbuf_new(pcap);
	if (pb) {
		char *o = (char *)pb->data + REPLY_PRE;
		int hn = snprintf(o, pcap, "{\"push\":\"msg\",\"casus\":\"%s\",\"seq\":%llu,\"msg\":\"", chex,
		                  (unsigned long long)seq);
		if (hn < 0 || (size_t)hn + b64cap + 2 > pcap) {
			free(pb);
			pb = NULL;
		} else {
			sodium_bin2base64(o + hn, b64cap, mb, ml, sodium_base64_VARIANT_ORIGINAL);
			size_t bl = strlen(o + hn);
			memcpy(o + (size_t)hn + bl, "\"}", 2);
			pb->len = (size_t)hn + bl + 2;
		}
	}
	if (pb) {
		/* every entitled subscriber except the posting session (it gets the ack) */
		for (size_t i = 0; i < rt->nsubs; i++) {
			struct session *o = rt->subs[i];
			if (o == s)
				continue;
			for (size_t d = 0; d < rt->ndevs; d++) {
				if (memcmp(rt->devs[d].device_id, o->cert.device_id, 16) == 0) {
					if (rt->devs[d].aud_mask & (1u << m.h.audience))
						push_later(o, pb);
					break;
				}
			}
		}
		outbuf_unref(pb);
	}
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_MESSAGE_POST;
	fill_casus(&e, rt);
	e.ground = m.h.ground;
	e.seq_from = e.seq_to = seq;
	e.n_msg_ids = 1;
	memcpy(e.msg_ids[0], m.h.message_id, 16);
	const char *an = m.h.audience < srv->policy.naudiences ? srv->policy.audiences[m.h.audience].name : "?";
	snprintf(e.object, sizeof e.object, "audience %s epoch %llu", an, (unsigned long long)m.h.epoch);
	audit_log(srv, s, &e);

	json_t *r = proto_ok(id);
	json_object_set_new(r, "seq", json_integer((json_int_t)seq));
	reply_later(s, id, r);
	keep = 1;
out:
	free(mb);
	return keep;
}

/* ---- history ------------------------------------------------------------------ */

static int member_info(struct server *srv, const uint8_t dev[16], const uint8_t cid[16], uint64_t *join,
                       uint64_t *read_seq)
{
	uint8_t k[32];
	MDB_val v;
	key_pair(k, dev, cid);
	if (store_get(&srv->st, DB_MEMBERS, k, 32, &v) != 0 || v.mv_size != 16)
		return -1;
	*join = store_rd64(v.mv_data);
	if (read_seq)
		*read_seq = store_rd64((const uint8_t *)v.mv_data + 8);
	return 0;
}

int h_history(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	uint64_t after = 0, before = 0, limit = HISTORY_DEFAULT, join = 0;
	int backward = 0;
	if (!policy_ready(s, id))
		return 0;
	if (proto_get_id16(req, "casus", cid) ||
	    (json_object_get(req, "after") && proto_get_u64(req, "after", UINT64_MAX >> 12, &after)) ||
	    (json_object_get(req, "before") && proto_get_u64(req, "before", UINT64_MAX >> 12, &before)) ||
	    (json_object_get(req, "limit") && proto_get_u64(req, "limit", srv->cfg.lim.history_page_max, &limit))) {
		reply_error(s, id, PE_BAD_REQUEST,
		            "history needs \"casus\" and optional \"after\" or \"before\" (sequence) and \"limit\"");
		return 0;
	}
	backward = json_object_get(req, "before") != NULL;
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || !is_member(rt, s) || member_info(srv, s->cert.device_id, cid, &join, NULL) != 0)
		return deny_casus(s, id, rt ? PE_FORBIDDEN : PE_NOT_FOUND,
		                  rt ? "you are not a member of this casus" : "no such casus", CC_AUDIT_EV_HISTORY_FETCH,
		                  rt, cid);
	uint32_t mask = 0;
	for (size_t d = 0; d < rt->ndevs; d++)
		if (memcmp(rt->devs[d].device_id, s->cert.device_id, 16) == 0)
			mask = rt->devs[d].aud_mask;

	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	uint8_t k[24];
	key_seq(k, cid, backward ? before : after + 1);
	MDB_val kk = {24, k}, vv;
	uint64_t lo = 0, hi = 0, n = 0;
	int more = 0;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_MESSAGES], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &kk, &vv, MDB_SET_RANGE);
		if (backward)
			rc = rc == 0 ? mdb_cursor_get(cur, &kk, &vv, MDB_PREV) : mdb_cursor_get(cur, &kk, &vv, MDB_LAST);
		for (; rc == 0 && kk.mv_size == 24 && memcmp(kk.mv_data, cid, 16) == 0;
		     rc = mdb_cursor_get(cur, &kk, &vv, backward ? MDB_PREV : MDB_NEXT)) {
			if (vv.mv_size < 9)
				continue;
			const uint8_t *rec = vv.mv_data;
			uint64_t ep = store_rd64(rec + 1);
			/* the audiences the device may read, from its join onward */
			if (!(mask & (1u << rec[0])) || ep < join)
				continue;
			if (n == limit) {
				more = 1;
				break;
			}
			uint64_t seq = store_rd64((const uint8_t *)kk.mv_data + 16);
			json_t *o = json_object();
			json_object_set_new(o, "seq", json_integer((json_int_t)seq));
			proto_set_b64(o, "msg", rec + 9, vv.mv_size - 9);
			json_array_append_new(arr, o);
			if (!lo || seq < lo)
				lo = seq;
			if (seq > hi)
				hi = seq;
			n++;
		}
		mdb_cursor_close(cur);
	}
	if (backward) {
		/* return oldest first in either direction */
		size_t len = json_array_size(arr);
		for (size_t i = 0; i < len / 2; i++) {
			json_t *a = json_incref(json_array_get(arr, i));
			json_t *b = json_incref(json_array_get(arr, len - 1 - i));
			json_array_set_new(arr, i, b);
			json_array_set_new(arr, len - 1 - i, a);
		}
	}
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_HISTORY_FETCH;
	fill_casus(&e, rt);
	e.seq_from = lo;
	e.seq_to = hi;
	snprintf(e.object, sizeof e.object, "messages %llu", (unsigned long long)n);
	audit_log(srv, s, &e);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "messages", arr);
	json_object_set_new(r, "more", json_boolean(more));
	reply_later(s, id, r);
	return 1;
}

/* ---- casus.list / casus.read -------------------------------------------------- */

int h_casus_list(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	(void)req;
	if (!policy_ready(s, id))
		return 0;
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	MDB_val k = {16, s->cert.device_id}, v;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_MEMBERS], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		for (; rc == 0 && k.mv_size == 32 && memcmp(k.mv_data, s->cert.device_id, 16) == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			uint8_t cid[16];
			memcpy(cid, (const uint8_t *)k.mv_data + 16, 16);
			uint64_t read_seq = v.mv_size == 16 ? store_rd64((const uint8_t *)v.mv_data + 8) : 0;
			struct casus_rt *rt = rt_get(srv, cid);
			if (!rt)
				continue;
			json_t *o = json_object();
			proto_set_id16(o, "casus", cid);
			json_object_set_new(o, "level", json_integer(rt->level));
			const char *lname = rt->level >= 1 && rt->level <= srv->policy.nlevels
			                        ? srv->policy.levels[rt->level - 1].name
			                        : "";
			json_object_set_new(o, "level_name", json_string(lname));
			json_object_set_new(o, "epoch", json_integer((json_int_t)rt->epoch));
			json_object_set_new(o, "purpose", json_string(rt->purpose));
			json_object_set_new(o, "basis", json_string(rt->basis));
			json_object_set_new(o, "members", json_integer((json_int_t)rt->ndevs));
			if (rt->closed_at)
				json_object_set_new(o, "closed_at", json_integer((json_int_t)rt->closed_at));
			uint64_t last = rt->next_msg_seq - 1;
			json_object_set_new(o, "last_seq", json_integer((json_int_t)last));
			json_object_set_new(o, "unread",
			                    json_integer((json_int_t)(last > read_seq ? last - read_seq : 0)));
			json_array_append_new(arr, o);
		}
		mdb_cursor_close(cur);
	}
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_CASUS_LIST;
	snprintf(e.object, sizeof e.object, "casus %zu", json_array_size(arr));
	audit_log(srv, s, &e);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "casus", arr);
	json_object_set_new(r, "notices", notices_for(srv, s->cert.user_id));
	reply_later(s, id, r);
	return 1;
}

int h_casus_read(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	uint64_t seq = 0, join = 0, old = 0;
	if (proto_get_id16(req, "casus", cid) || proto_get_u64(req, "seq", UINT64_MAX >> 12, &seq)) {
		reply_error(s, id, PE_BAD_REQUEST, "casus.read needs \"casus\" and \"seq\"");
		return 0;
	}
	if (member_info(srv, s->cert.device_id, cid, &join, &old) != 0) {
		reply_error(s, id, PE_FORBIDDEN, "you are not a member of this casus");
		return 0;
	}
	if (seq > old) {
		uint8_t k[32], v[16];
		key_pair(k, s->cert.device_id, cid);
		store_be64(v, join);
		store_be64(v + 8, seq);
		if (store_put(&srv->st, DB_MEMBERS, k, 32, v, 16, 0) != 0) {
			reply_error(s, id, PE_STORAGE, "could not store the read marker");
			return 0;
		}
	}
	reply_later(s, id, proto_ok(id));
	return 1;
}

/* ---- grants --------------------------------------------------------------------- */

int h_grant_post(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	uint8_t *gb = NULL;
	size_t gl = 0;
	cc_grant g;
	int have_g = 0, keep = 0;
	memset(&g, 0, sizeof g);
	if (!policy_ready(s, id))
		return 0;
	if (proto_get_id16(req, "casus", cid) || proto_get_b64(req, "grant", CC_COMMIT_MAX_BYTES, &gb, &gl)) {
		reply_error(s, id, PE_BAD_REQUEST, "grant.post needs \"casus\" and \"grant\" (base64)");
		goto out;
	}
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || !is_member(rt, s)) {
		deny_casus(s, id, rt ? PE_FORBIDDEN : PE_NOT_FOUND,
		           rt ? "you are not a member of this casus" : "no such casus", CC_AUDIT_EV_GRANT, rt, cid);
		goto out;
	}
	if (rt->closed_at) {
		deny_casus(s, id, PE_FORBIDDEN, "the casus is closed: nothing new can be shared", CC_AUDIT_EV_GRANT, rt, NULL);
		goto out;
	}
	int rc = cc_grant_decode(gb, gl, &g);
	have_g = rc == CC_OK;
	if (rc == CC_OK && sodium_memcmp(g.granter, s->cert.device_id, 16) != 0)
		rc = CC_ERR_FORBIDDEN;
	if (rc == CC_OK && memcmp(g.casus_id, cid, 16) != 0)
		rc = CC_ERR_CHAIN;
	if (rc == CC_OK)
		rc = cc_grant_check_public(&g, rt->st, &srv->policy);
	/* every granted message exists here with the hash the grant names */
	for (uint16_t i = 0; rc == CC_OK && i < g.nitems; i++) {
		uint8_t k[32];
		MDB_val v, mv;
		key_pair(k, cid, g.items[i].message_id);
		if (store_get(&srv->st, DB_MSGIDS, k, 32, &v) != 0 || v.mv_size != 8) {
			rc = CC_ERR_NOT_FOUND;
			break;
		}
		uint8_t sk[24];
		key_seq(sk, cid, store_rd64(v.mv_data));
		uint8_t h[CC_HASH_BYTES];
		if (store_get(&srv->st, DB_MESSAGES, sk, 24, &mv) != 0 || mv.mv_size < 9 ||
		    cc_message_hash((const uint8_t *)mv.mv_data + 9, mv.mv_size - 9, h) != CC_OK ||
		    sodium_memcmp(h, g.items[i].message_hash, sizeof h) != 0)
			rc = CC_ERR_NOT_FOUND;
		/* the audience the grant names (which the grantees were checked against)
		 * must be the message's own: a grant cannot relabel a zorg message */
		else if (((const uint8_t *)mv.mv_data)[0] != g.items[i].audience)
			rc = CC_ERR_AUDIENCE;
	}
	if (rc != CC_OK) {
		deny_casus(s, id, rc == CC_ERR_NOT_FOUND ? PE_NOT_FOUND : map_err(rc),
		           rc == CC_ERR_NOT_FOUND ? "a granted message is not stored here" : cc_strerror(rc),
		           CC_AUDIT_EV_GRANT, rt, NULL);
		goto out;
	}
	uint64_t gseq = 0;
	MDB_val mv;
	if (store_get(&srv->st, DB_META, "grant_seq", 9, &mv) == 0 && mv.mv_size == 8)
		gseq = store_rd64(mv.mv_data);
	gseq++;
	uint8_t gsb[8];
	store_be64(gsb, gseq);
	rc = store_put(&srv->st, DB_META, "grant_seq", 9, gsb, 8, 0);
	for (uint16_t d = 0; !rc && d < g.ndevices; d++) {
		uint8_t k[40];
		memcpy(k, g.devices[d].device_id, 16);
		memcpy(k + 16, cid, 16);
		store_be64(k + 32, gseq);
		rc = store_put(&srv->st, DB_GRANTS, k, 40, gb, gl, 0);
	}
	if (rc) {
		reply_error(s, id, PE_STORAGE, "could not store the grant");
		goto out;
	}
	json_t *p = json_pack("{ss}", "push", "grant");
	proto_set_id16(p, "casus", cid);
	struct outbuf *pb = outbuf_from_json(p);
	json_decref(p);
	for (size_t i = 0; pb && i < rt->nsubs; i++)
		for (uint16_t d = 0; d < g.ndevices; d++)
			if (memcmp(rt->subs[i]->cert.device_id, g.devices[d].device_id, 16) == 0)
				push_later(rt->subs[i], pb);
	outbuf_unref(pb);

	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_GRANT;
	fill_casus(&e, rt);
	e.ground = g.ground;
	cc_audit_str_copy(e.reason, sizeof e.reason, g.reason);
	for (uint16_t i = 0; i < g.nitems && i < CC_AUDIT_MSG_IDS_MAX; i++)
		memcpy(e.msg_ids[i], g.items[i].message_id, 16);
	e.n_msg_ids = (uint8_t)(g.nitems < CC_AUDIT_MSG_IDS_MAX ? g.nitems : CC_AUDIT_MSG_IDS_MAX);
	char dev[33];
	cc_device_id_hex(g.devices[0].device_id, dev);
	snprintf(e.object, sizeof e.object, "messages %u to %u device(s), first %s", g.nitems, g.ndevices, dev);
	audit_log(srv, s, &e);
	reply_later(s, id, proto_ok(id));
	keep = 1;
out:
	if (have_g)
		cc_grant_free(&g);
	free(gb);
	return keep;
}

int h_grant_fetch(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	if (!policy_ready(s, id))
		return 0;
	if (proto_get_id16(req, "casus", cid)) {
		reply_error(s, id, PE_BAD_REQUEST, "grant.fetch needs \"casus\"");
		return 0;
	}
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || !is_member(rt, s))
		return deny_casus(s, id, rt ? PE_FORBIDDEN : PE_NOT_FOUND,
		                  rt ? "you are not a member of this casus" : "no such casus", CC_AUDIT_EV_GRANT_FETCH, rt,
		                  cid);
	/* only messages of audiences the device may read now (as in history) */
	uint32_t mask = 0;
	for (size_t d = 0; d < rt->ndevs; d++)
		if (memcmp(rt->devs[d].device_id, s->cert.device_id, 16) == 0)
			mask = rt->devs[d].aud_mask;
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	uint8_t pfx[32];
	key_pair(pfx, s->cert.device_id, cid);
	MDB_val k = {32, pfx}, v;
	unsigned nmsgs = 0;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_GRANTS], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		for (; rc == 0 && k.mv_size == 40 && memcmp(k.mv_data, pfx, 32) == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			cc_grant g;
			if (cc_grant_decode(v.mv_data, v.mv_size, &g) != CC_OK)
				continue;
			json_t *o = json_object();
			proto_set_b64(o, "grant", v.mv_data, v.mv_size);
			json_t *msgs = json_array();
			for (uint16_t i = 0; i < g.nitems; i++) {
				uint8_t mk[32];
				MDB_val sv, mv;
				key_pair(mk, cid, g.items[i].message_id);
				if (store_get(&srv->st, DB_MSGIDS, mk, 32, &sv) != 0 || sv.mv_size != 8)
					continue;
				uint8_t sk[24];
				key_seq(sk, cid, store_rd64(sv.mv_data));
				if (store_get(&srv->st, DB_MESSAGES, sk, 24, &mv) != 0 || mv.mv_size < 9 ||
				    !(mask & (1u << ((const uint8_t *)mv.mv_data)[0])))
					continue;
				json_t *m = json_object();
				json_object_set_new(m, "seq", json_integer((json_int_t)store_rd64(sv.mv_data)));
				proto_set_b64(m, "msg", (const uint8_t *)mv.mv_data + 9, mv.mv_size - 9);
				json_array_append_new(msgs, m);
				nmsgs++;
			}
			json_object_set_new(o, "messages", msgs);
			json_array_append_new(arr, o);
			cc_grant_free(&g);
		}
		mdb_cursor_close(cur);
	}
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_GRANT_FETCH;
	fill_casus(&e, rt);
	snprintf(e.object, sizeof e.object, "grants %zu messages %u", json_array_size(arr), nmsgs);
	audit_log(srv, s, &e);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "grants", arr);
	reply_later(s, id, r);
	return 1;
}
