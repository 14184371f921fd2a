/*
 * h_transfer.c: the transfer family: device key transfers (a user's second device; cc_transfer.h).
 *
 *   transfer.post  {casus, transfer}  the sender (an old device of the user)
 *                  stores a signed transfer sealed to a new device of the same
 *                  user and role; both must be in the verified roster.
 *   transfer.fetch {casus}            the new device fetches what was sealed to it.
 *
 * The server cannot read a transfer; it checks the public part
 * (cc_transfer_check_public: casus, both devices members, same user id and
 * role, the sender's signature). Accepting one also lets the new device fetch
 * the history from the old device's join epoch (its own join epoch in the
 * members index is lowered to that of the sender): the keys came from the
 * user's own device, and the device verifies every key against the chain.
 * Both requests are audited (key release and key fetch, object "device key
 * transfer").
 *
 * Storage: DB_META, schema_key_xfer (schema.h): the newest transfer per
 * (new device, casus, old device).
 */
#include "audit.h"
#include "fanout.h"
#include "handlers.h"
#include "log.h"
#include "reply.h"
#include "rt.h"
#include "schema.h"

#include <cc_audit.h>
#include <cc_err.h>
#include <cc_transfer.h>
#include <proto.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static void xfer_audit(struct session *s, const struct casus_rt *rt, const uint8_t *cid, unsigned event, int denied,
                       const char *err, const char *object)
{
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = (uint16_t)event;
	if (rt) {
		memcpy(e.casus_id, rt->id, 16);
		cc_audit_str_copy(e.purpose, sizeof e.purpose, rt->purpose);
		cc_audit_str_copy(e.legal_basis, sizeof e.legal_basis, rt->basis);
		e.level = rt->level;
	} else if (cid) {
		memcpy(e.casus_id, cid, 16);
	}
	if (denied) {
		e.outcome = CC_AUDIT_OUTCOME_DENIED;
		cc_audit_str_copy(e.error, sizeof e.error, err ? err : "denied");
	}
	cc_audit_str_copy(e.object, sizeof e.object, object);
	audit_log(s->srv, s, &e);
}

static int xfer_deny(struct session *s, uint64_t id, int code, const char *msg, unsigned event,
                     const struct casus_rt *rt, const uint8_t *cid)
{
	xfer_audit(s, rt, cid, event, 1, proto_err_name((enum proto_err)code), "device key transfer");
	reply_error(s, id, code, msg);
	return 0;
}

int h_transfer_post(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	uint8_t *tb = NULL;
	size_t tl = 0;
	int keep = 0;
	if (proto_get_id16(req, "casus", cid) || proto_get_b64(req, "transfer", CC_TRANSFER_MAX_BYTES, &tb, &tl)) {
		reply_error(s, id, PE_BAD_REQUEST, "transfer.post needs \"casus\" and \"transfer\" (base64)");
		goto out;
	}
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || cc_chain_find(rt->st, s->cert.device_id) < 0 || rt->closed_at) {
		xfer_deny(s, id, rt ? PE_FORBIDDEN : PE_NOT_FOUND,
		          !rt             ? "no such casus"
		          : rt->closed_at ? "the casus is closed"
		                          : "you are not a member of this casus",
		          CC_AUDIT_EV_GRANT, rt, cid);
		goto out;
	}
	cc_transfer t;
	int rc = cc_transfer_decode(tb, tl, &t);
	if (rc == CC_OK && sodium_memcmp(t.from, s->cert.device_id, 16) != 0)
		rc = CC_ERR_FORBIDDEN; /* a device sends only its own keys */
	if (rc == CC_OK)
		rc = cc_transfer_check_public(&t, rt->st);
	if (rc != CC_OK) {
		xfer_deny(s, id, handler_err(rc),
		          rc == CC_ERR_FORBIDDEN    ? "keys go only to another device of the same user and role"
		          : rc == CC_ERR_NOT_MEMBER ? "both devices must be in the casus roster (add the device first)"
		                                    : cc_strerror(rc),
		          CC_AUDIT_EV_GRANT, rt, NULL);
		goto out;
	}
	uint8_t k[SCHEMA_KEY_XFER];
	rc = store_put(&srv->st, DB_META, k, schema_key_xfer(k, t.to, cid, t.from), tb, tl, 0);
	/* the new device may fetch the history from the sender's join on */
	uint64_t from_join = 0, to_join = 0, to_read = 0;
	if (!rc && member_info(srv, t.from, cid, &from_join, NULL) == 0 &&
	    member_info(srv, t.to, cid, &to_join, &to_read) == 0 && to_join > from_join) {
		uint8_t mk[SCHEMA_KEY_PAIR], v[SCHEMA_MEMBER_VAL];
		schema_member_encode(v, from_join, to_read);
		rc = store_put(&srv->st, DB_MEMBERS, mk, schema_key_pair(mk, t.to, cid), v, sizeof v, 0);
	}
	if (rc) {
		reply_error(s, id, PE_STORAGE, "could not store the transfer");
		goto out;
	}
	json_t *p = json_pack("{ss}", "push", "transfer");
	proto_set_id16(p, "casus", cid);
	struct outbuf *pb = outbuf_from_json(p);
	json_decref(p);
	const uint8_t(*to_dev)[16] = &t.to;
	struct fanout_filter f = {-1, to_dev, 1, NULL};
	fanout_push(rt, &f, pb);
	outbuf_unref(pb);
	char from[33], to[33], obj[160];
	cc_device_id_hex(t.from, from);
	cc_device_id_hex(t.to, to);
	snprintf(obj, sizeof obj, "device key transfer from %s to %s (epochs up to %llu)", from, to,
	         (unsigned long long)t.epoch);
	xfer_audit(s, rt, cid, CC_AUDIT_EV_GRANT, 0, NULL, obj);
	reply_later(s, id, proto_ok(id));
	keep = 1;
out:
	free(tb);
	return keep;
}

int h_transfer_fetch(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	if (proto_get_id16(req, "casus", cid)) {
		reply_error(s, id, PE_BAD_REQUEST, "transfer.fetch needs \"casus\"");
		return 0;
	}
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || cc_chain_find(rt->st, s->cert.device_id) < 0)
		return xfer_deny(s, id, rt ? PE_FORBIDDEN : PE_NOT_FOUND,
		                 rt ? "you are not a member of this casus" : "no such casus", CC_AUDIT_EV_GRANT_FETCH,
		                 rt, cid);
	uint8_t pfx[SCHEMA_KEY_XFER_PFX];
	schema_key_xfer_prefix(pfx, s->cert.device_id, cid);
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	MDB_val k = {sizeof pfx, pfx}, v;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_META], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		for (; rc == 0 && k.mv_size == SCHEMA_KEY_XFER && memcmp(k.mv_data, pfx, sizeof pfx) == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			json_t *o = json_object();
			proto_set_b64(o, "transfer", v.mv_data, v.mv_size);
			json_array_append_new(arr, o);
		}
		mdb_cursor_close(cur);
	}
	char obj[96];
	snprintf(obj, sizeof obj, "device key transfer fetch (%zu)", json_array_size(arr));
	xfer_audit(s, rt, cid, CC_AUDIT_EV_GRANT_FETCH, 0, NULL, obj);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "transfers", arr);
	reply_later(s, id, r);
	return 1;
}
