/*
 * retention.c: closing a casus and purging its content after retention.
 *
 * A member whose role may open a casus or de-escalate (by default the case
 * manager and the process director) closes it with a reason (`casus.close`).
 * From then on nothing new is written to it: posts, commits, grants and key
 * transfers are refused; members can still read. When `retention_days` (chosen
 * at creation, default 3650) have passed since closing, casusd deletes the
 * content: messages, message ids, commits, the chain state, grants, key
 * transfers and the membership index. The record stays as a tombstone (purpose,
 * legal basis, times) so the id is never reused, and the purge is an audit
 * entry. The audit trail itself is kept on its own, longer retention.
 * LMDB reuses freed pages; the deleted ciphertext is not readable through the
 * server any more, and it was never readable without the members' keys.
 */
#include "retention.h"
#include "audit.h"
#include "fanout.h"
#include "handlers.h"
#include "log.h"

#include <cc_buf.h>
#include <cc_commit.h>
#include <cc_err.h>
#include <proto.h>
#include <string.h>

#define PURGE_EVERY_TICKS 10

static int record_decode(const void *p, size_t n, struct casus_record *rec)
{
	memset(rec, 0, sizeof *rec);
	cc_rbuf r;
	cc_r_init(&r, p, n);
	uint8_t ver = cc_r_u8(&r);
	rec->created = cc_r_i64(&r);
	cc_r_str(&r, rec->purpose, sizeof rec->purpose);
	cc_r_str(&r, rec->basis, sizeof rec->basis);
	rec->retention_days = cc_r_u32(&r);
	cc_r_fixed(&r, rec->creator, 16);
	if (ver >= 2) {
		rec->closed_at = cc_r_i64(&r);
		rec->purged_at = cc_r_i64(&r);
	}
	return r.err || (ver != 1 && ver != 2) ? -1 : 0;
}

int casus_record_read(struct server *srv, const uint8_t id[16], struct casus_record *rec)
{
	uint8_t k[17];
	MDB_val v;
	memset(rec, 0, sizeof *rec);
	memcpy(k, id, 16);
	k[16] = 'r';
	if (store_get(&srv->st, DB_CASUS, k, sizeof k, &v) != 0)
		return -1;
	return record_decode(v.mv_data, v.mv_size, rec);
}

int casus_record_write(struct server *srv, const uint8_t id[16], const struct casus_record *rec)
{
	cc_wbuf w;
	uint8_t k[17];
	cc_w_init(&w);
	cc_w_u8(&w, 2);
	cc_w_i64(&w, rec->created);
	cc_w_str(&w, rec->purpose);
	cc_w_str(&w, rec->basis);
	cc_w_u32(&w, rec->retention_days);
	cc_w_fixed(&w, rec->creator, 16);
	cc_w_i64(&w, rec->closed_at);
	cc_w_i64(&w, rec->purged_at);
	memcpy(k, id, 16);
	k[16] = 'r';
	int rc = w.err ? -1 : store_put(&srv->st, DB_CASUS, k, sizeof k, w.p, w.len, 0);
	cc_w_free(&w);
	return rc;
}

int h_casus_close(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	const char *reason;
	struct casus_record rec;
	if (!srv->have_policy) {
		reply_error(s, id, PE_INTERNAL, "the server has no policy installed");
		return 0;
	}
	if (proto_get_id16(req, "casus", cid) || proto_get_str(req, "reason", 512, &reason) || !*reason) {
		reply_error(s, id, PE_BAD_REQUEST, "casus.close needs \"casus\" and a non-empty \"reason\"");
		return 0;
	}
	struct casus_rt *rt = fanout_find(srv, cid);
	if ((!rt || !rt->st) && casus_load_rt(srv, cid) == 0)
		rt = fanout_find(srv, cid);
	if (!rt || !rt->st || casus_record_read(srv, cid, &rec) != 0)
		return deny(s, id, PE_NOT_FOUND, "no such casus", CC_AUDIT_EV_CASUS_CLOSE, cid);
	const cc_policy_role *role = s->role >= 0 ? &srv->policy.roles[s->role] : NULL;
	if (cc_chain_find(rt->st, s->cert.device_id) < 0 || !role || !(role->may_create || role->may_deescalate))
		return deny(s, id, PE_FORBIDDEN, "only a member who directs the casus may close it", CC_AUDIT_EV_CASUS_CLOSE,
		            cid);
	if (rec.closed_at)
		return deny(s, id, PE_CONFLICT, "the casus is closed already", CC_AUDIT_EV_CASUS_CLOSE, cid);
	rec.closed_at = clock_wall_s();
	if (casus_record_write(srv, cid, &rec) != 0) {
		reply_error(s, id, PE_STORAGE, "could not store the closing");
		return 0;
	}
	rt->closed_at = rec.closed_at;
	json_t *p = json_pack("{ss}", "push", "closed");
	proto_set_id16(p, "casus", cid);
	struct outbuf *pb = outbuf_from_json(p);
	json_decref(p);
	if (pb) {
		fanout_push(srv, cid, -1, pb);
		outbuf_unref(pb);
	}
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_CASUS_CLOSE;
	memcpy(e.casus_id, cid, 16);
	cc_audit_str_copy(e.purpose, sizeof e.purpose, rec.purpose);
	cc_audit_str_copy(e.legal_basis, sizeof e.legal_basis, rec.basis);
	e.level = rt->level;
	/* the reason is the members' text: it is required, but not kept in the clear */
	snprintf(e.object, sizeof e.object, "content retention %u days after closing", rec.retention_days);
	audit_log(srv, s, &e);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "closed_at", json_integer((json_int_t)rec.closed_at));
	json_object_set_new(r, "purge_after",
	                    json_integer((json_int_t)(rec.closed_at + (int64_t)rec.retention_days * 86400)));
	reply_later(s, id, r);
	return 1;
}

/* Delete every key of db that starts with prefix (plen bytes) and, if
 * mid != NULL, also has mid at offset moff. Returns the count or -1. After each
 * delete the cursor seeks again from the deleted key (the next key, if any). */
static long del_where(struct server *srv, enum store_db db, const uint8_t *prefix, size_t plen, const uint8_t *mid,
                      size_t moff, size_t mlen)
{
	MDB_cursor *cur = NULL;
	long n = 0;
	uint8_t last[512];
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[db], &cur) != 0)
		return -1;
	MDB_val k = {plen, (void *)(uintptr_t)prefix}, v;
	int rc = plen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && k.mv_size >= plen && (!plen || memcmp(k.mv_data, prefix, plen) == 0)) {
		if ((!mid || (k.mv_size >= moff + mlen && memcmp((const uint8_t *)k.mv_data + moff, mid, mlen) == 0)) &&
		    k.mv_size <= sizeof last) {
			size_t kl = k.mv_size;
			memcpy(last, k.mv_data, kl);
			if (mdb_cursor_del(cur, 0) != 0) {
				n = -1;
				break;
			}
			n++;
			k.mv_size = kl;
			k.mv_data = last;
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			continue;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return n;
}

static int purge_one(struct server *srv, const uint8_t cid[16], struct casus_record *rec)
{
	long msgs = del_where(srv, DB_MESSAGES, cid, 16, NULL, 0, 0);
	long ids = del_where(srv, DB_MSGIDS, cid, 16, NULL, 0, 0);
	long commits = del_where(srv, DB_COMMITS, cid, 16, NULL, 0, 0);
	long grants = del_where(srv, DB_GRANTS, NULL, 0, cid, 16, 16);
	long members = del_where(srv, DB_MEMBERS, NULL, 0, cid, 16, 16);
	long xfers = del_where(srv, DB_META, (const uint8_t *)"xfer/", 5, cid, 5 + 16, 16);
	uint8_t k[17];
	memcpy(k, cid, 16);
	k[16] = 'c';
	int rc = store_del(&srv->st, DB_CASUS, k, sizeof k);
	if (msgs < 0 || ids < 0 || commits < 0 || grants < 0 || members < 0 || xfers < 0 || (rc && rc != MDB_NOTFOUND))
		return -1;
	rec->purged_at = clock_wall_s();
	if (casus_record_write(srv, cid, rec) != 0)
		return -1;
	/* connected members are told and the runtime entry forgets the chain */
	struct casus_rt *rt = fanout_find(srv, cid);
	if (rt) {
		fanout_set_roster(srv, cid, 0, 0, NULL, 0);
		cc_chain_state_free(rt->st);
		rt->st = NULL;
	}
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_PURGE;
	memcpy(e.casus_id, cid, 16);
	cc_audit_str_copy(e.purpose, sizeof e.purpose, rec->purpose);
	cc_audit_str_copy(e.legal_basis, sizeof e.legal_basis, rec->basis);
	snprintf(e.object, sizeof e.object, "content purged: messages %ld, commits %ld, grants %ld, transfers %ld", msgs,
	         commits, grants, xfers);
	snprintf(e.reason, sizeof e.reason, "retention of %u days after closing passed", rec->retention_days);
	snprintf(e.access_point, sizeof e.access_point, "casusd retention");
	audit_log(srv, NULL, &e);
	log_event(LOG_INFO, "casus.purged", "messages=%ld commits=%ld", msgs, commits);
	return 0;
}

void casus_purge_due(struct server *srv)
{
	static unsigned ticks;
	if (++ticks % PURGE_EVERY_TICKS != 1 || !srv->st.env)
		return;
	int64_t now = clock_wall_s();
	uint8_t due[8][16];
	size_t ndue = 0;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	if (!store_txn(&srv->st) || mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_CASUS], &cur) != 0)
		return;
	/* at most a few per tick, so that a purge never stalls the loop */
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ndue < 8;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct casus_record rec;
		if (k.mv_size != 17 || ((const uint8_t *)k.mv_data)[16] != 'r' ||
		    record_decode(v.mv_data, v.mv_size, &rec) != 0 || !rec.closed_at || rec.purged_at ||
		    now < rec.closed_at + (int64_t)rec.retention_days * 86400)
			continue;
		memcpy(due[ndue++], k.mv_data, 16);
	}
	mdb_cursor_close(cur);
	for (size_t i = 0; i < ndue; i++) {
		struct casus_record rec;
		if (casus_record_read(srv, due[i], &rec) != 0)
			continue;
		if (store_req_begin(&srv->st) != 0)
			return;
		int ok = purge_one(srv, due[i], &rec) == 0;
		store_req_end(&srv->st, ok);
		audit_request_done(srv, ok);
		if (!ok)
			log_event(LOG_ERROR, "casus.purge_failed", NULL);
	}
}
