/*
 * h_casus.c: the casus family: casus.create, casus.list, casus.read,
 * casus.close, and the escalation notices a user sees at login and in
 * casus.list.
 *
 * The server holds no key. What it enforces it decides from public data: the
 * verified commit chain, the signed policy and the device certificates. A
 * closed casus takes nothing new; retention.c purges it later.
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

#define PURPOSE_MAX 256
void casus_session_authed(struct server *srv, struct session *s, json_t *reply)
{
	rt_subscribe_device(srv, s);
	json_object_set_new(reply, "notices", notice_list(srv, s->cert.user_id, clock_wall_s()));
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
		uint8_t k[SCHEMA_KEY_CASUS];
		MDB_val v;
		if (store_get(&srv->st, DB_CASUS, k, schema_key_casus(k, cid, SCHEMA_CASUS_RECORD), &v) == 0) {
			deny(s, id, PE_CONFLICT, "a casus with this id exists", CC_AUDIT_EV_CASUS_CREATE, cid);
			goto out;
		}
	}
	if (rc == CC_OK)
		rc = cc_chain_state_new(&st);
	if (rc == CC_OK)
		rc = chain_apply_checked(srv, st, cb, cl, hash);
	if (rc != CC_OK) {
		deny(s, id, handler_err(rc), cc_strerror(rc), CC_AUDIT_EV_CASUS_CREATE, NULL);
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
	rc = schema_casus_rec_put(&srv->st, cid, &rec);
	if (!rc)
		rc = schema_commit_put(&srv->st, cid, st->epoch, cb, cl, 0);
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
	cc_chain_state *owned = st;
	st = NULL; /* owned by the runtime from here on, also on error */
	if (rt_set_chain(srv, cid_copy, owned) != 0) {
		reply_error(s, id, PE_INTERNAL, "could not index the casus");
		goto out;
	}
	struct casus_rt *rt = rt_find(srv, cid_copy);
	snprintf(rt->purpose, sizeof rt->purpose, "%s", purpose);
	snprintf(rt->basis, sizeof rt->basis, "%s", basis);
	rt->next_msg_seq = 1;

	struct outbuf *pb = commit_push(cid_copy, rt->epoch, cb, cl);
	fanout_push(rt, &FANOUT_ALL, pb);
	outbuf_unref(pb);
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_CASUS_CREATE;
	fill_casus(&e, rt);
	char head[64];
	snprintf(head, sizeof head, "members %u", (unsigned)rt->ndevs);
	audit_log_people(srv, s, &e, head, NULL, rt->st); /* names the first members */

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

/* ---- casus.list / casus.read -------------------------------------------------- */

int h_casus_list(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	(void)req;
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	MDB_val k = {16, s->cert.device_id}, v;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_MEMBERS], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		for (; rc == 0 && k.mv_size == SCHEMA_KEY_PAIR && memcmp(k.mv_data, s->cert.device_id, 16) == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			uint8_t cid[16];
			memcpy(cid, (const uint8_t *)k.mv_data + 16, 16);
			uint64_t join_epoch = 0, read_seq = 0;
			if (schema_member_decode(v.mv_data, v.mv_size, &join_epoch, &read_seq) != 0)
				read_seq = 0;
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
	json_object_set_new(r, "notices", notice_list(srv, s->cert.user_id, clock_wall_s()));
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
		uint8_t k[SCHEMA_KEY_PAIR], v[SCHEMA_MEMBER_VAL];
		schema_member_encode(v, join, seq);
		if (store_put(&srv->st, DB_MEMBERS, k, schema_key_pair(k, s->cert.device_id, cid), v, sizeof v, 0) !=
		    0) {
			reply_error(s, id, PE_STORAGE, "could not store the read marker");
			return 0;
		}
	}
	reply_later(s, id, proto_ok(id));
	return 1;
}

/* Close a casus: from now on nothing new is written to it (posts, commits,
 * grants, key transfers are refused); members can still read. The reason is
 * case content: the client posts it as an end-to-end encrypted note first;
 * a request that carries a "reason" is refused, so none reaches the server. */

int h_casus_close(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	struct casus_record rec;
	if (json_object_get(req, "reason")) {
		/* an older client would hand us the members' text in the clear */
		reply_error(s, id, PE_BAD_REQUEST,
		            "casus.close takes no \"reason\": the reason is an end-to-end encrypted note in the casus");
		return 0;
	}
	if (proto_get_id16(req, "casus", cid)) {
		reply_error(s, id, PE_BAD_REQUEST, "casus.close needs \"casus\"");
		return 0;
	}
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || schema_casus_rec_get(&srv->st, cid, &rec) != 0)
		return deny(s, id, PE_NOT_FOUND, "no such casus", CC_AUDIT_EV_CASUS_CLOSE, cid);
	const cc_policy_role *role = s->role >= 0 ? &srv->policy.roles[s->role] : NULL;
	if (cc_chain_find(rt->st, s->cert.device_id) < 0 || !role || !(role->may_create || role->may_deescalate))
		return deny(s, id, PE_FORBIDDEN, "only a member who directs the casus may close it",
		            CC_AUDIT_EV_CASUS_CLOSE, cid);
	if (rec.closed_at)
		return deny(s, id, PE_CONFLICT, "the casus is closed already", CC_AUDIT_EV_CASUS_CLOSE, cid);
	rec.closed_at = clock_wall_s();
	if (schema_casus_rec_put(&srv->st, cid, &rec) != 0) {
		reply_error(s, id, PE_STORAGE, "could not store the closing");
		return 0;
	}
	rt->closed_at = rec.closed_at;
	json_t *p = json_pack("{ss}", "push", "closed");
	proto_set_id16(p, "casus", cid);
	struct outbuf *pb = outbuf_from_json(p);
	json_decref(p);
	fanout_push(rt, &FANOUT_ALL, pb);
	outbuf_unref(pb);
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_CASUS_CLOSE;
	memcpy(e.casus_id, cid, 16);
	cc_audit_str_copy(e.purpose, sizeof e.purpose, rec.purpose);
	cc_audit_str_copy(e.legal_basis, sizeof e.legal_basis, rec.basis);
	e.level = rt->level;
	/* the reason is an encrypted note in the casus: the server never has it */
	snprintf(e.object, sizeof e.object, "content retention %u days after closing", rec.retention_days);
	audit_log(srv, s, &e);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "closed_at", json_integer((json_int_t)rec.closed_at));
	json_object_set_new(r, "purge_after",
	                    json_integer((json_int_t)(rec.closed_at + (int64_t)rec.retention_days * 86400)));
	reply_later(s, id, r);
	return 1;
}
