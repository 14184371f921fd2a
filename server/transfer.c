/*
 * transfer.c: device key transfers (a user's second device; cc_transfer.h).
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
 * Storage (DB_META, see docs/STORAGE.md):
 *   "xfer/" || to device || casus id || from device -> transfer bytes (the newest)
 */
#include "audit.h"
#include "fanout.h"
#include "handlers.h"
#include "log.h"

#include <cc_audit.h>
#include <cc_err.h>
#include <cc_transfer.h>
#include <proto.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define XFER_PFX "xfer/"
#define XFER_PFX_LEN 5

static struct casus_rt *xfer_rt(struct server *srv, const uint8_t cid[16])
{
	struct casus_rt *rt = fanout_find(srv, cid);
	if (rt && rt->st)
		return rt;
	if (casus_load_rt(srv, cid) != 0)
		return NULL;
	rt = fanout_find(srv, cid);
	return rt && rt->st ? rt : NULL;
}

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

static void members_key(uint8_t k[32], const uint8_t dev[16], const uint8_t cid[16])
{
	memcpy(k, dev, 16);
	memcpy(k + 16, cid, 16);
}

int h_transfer_post(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	uint8_t *tb = NULL;
	size_t tl = 0;
	int keep = 0;
	if (!srv->have_policy) {
		reply_error(s, id, PE_INTERNAL, "the server has no policy installed");
		return 0;
	}
	if (proto_get_id16(req, "casus", cid) || proto_get_b64(req, "transfer", CC_TRANSFER_MAX_BYTES, &tb, &tl)) {
		reply_error(s, id, PE_BAD_REQUEST, "transfer.post needs \"casus\" and \"transfer\" (base64)");
		goto out;
	}
	struct casus_rt *rt = xfer_rt(srv, cid);
	if (!rt || cc_chain_find(rt->st, s->cert.device_id) < 0 || rt->closed_at) {
		xfer_deny(s, id, rt ? PE_FORBIDDEN : PE_NOT_FOUND,
		          !rt ? "no such casus" : rt->closed_at ? "the casus is closed" : "you are not a member of this casus",
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
		int code = rc == CC_ERR_FORBIDDEN || rc == CC_ERR_NOT_MEMBER ? PE_FORBIDDEN
		           : rc == CC_ERR_BAD_SIGNATURE                    ? PE_INVALID
		                                                           : PE_BAD_REQUEST;
		xfer_deny(s, id, code,
		          rc == CC_ERR_FORBIDDEN ? "keys go only to another device of the same user and role"
		          : rc == CC_ERR_NOT_MEMBER ? "both devices must be in the casus roster (add the device first)"
		                                    : cc_strerror(rc),
		          CC_AUDIT_EV_GRANT, rt, NULL);
		goto out;
	}
	uint8_t k[XFER_PFX_LEN + 48];
	memcpy(k, XFER_PFX, XFER_PFX_LEN);
	memcpy(k + XFER_PFX_LEN, t.to, 16);
	memcpy(k + XFER_PFX_LEN + 16, cid, 16);
	memcpy(k + XFER_PFX_LEN + 32, t.from, 16);
	rc = store_put(&srv->st, DB_META, k, sizeof k, tb, tl, 0);
	/* the new device may fetch the history from the sender's join on */
	uint8_t mk[32];
	MDB_val fv, tv;
	members_key(mk, t.from, cid);
	if (!rc && store_get(&srv->st, DB_MEMBERS, mk, 32, &fv) == 0 && fv.mv_size == 16) {
		uint64_t from_join = store_rd64(fv.mv_data);
		members_key(mk, t.to, cid);
		if (store_get(&srv->st, DB_MEMBERS, mk, 32, &tv) == 0 && tv.mv_size == 16 &&
		    store_rd64(tv.mv_data) > from_join) {
			uint8_t v[16];
			memcpy(v, tv.mv_data, 16);
			store_be64(v, from_join);
			rc = store_put(&srv->st, DB_MEMBERS, mk, 32, v, 16, 0);
		}
	}
	if (rc) {
		reply_error(s, id, PE_STORAGE, "could not store the transfer");
		goto out;
	}
	json_t *p = json_pack("{ss}", "push", "transfer");
	proto_set_id16(p, "casus", cid);
	struct outbuf *pb = outbuf_from_json(p);
	json_decref(p);
	for (size_t i = 0; pb && i < rt->nsubs; i++)
		if (memcmp(rt->subs[i]->cert.device_id, t.to, 16) == 0)
			push_later(rt->subs[i], pb);
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
	if (!srv->have_policy) {
		reply_error(s, id, PE_INTERNAL, "the server has no policy installed");
		return 0;
	}
	if (proto_get_id16(req, "casus", cid)) {
		reply_error(s, id, PE_BAD_REQUEST, "transfer.fetch needs \"casus\"");
		return 0;
	}
	struct casus_rt *rt = xfer_rt(srv, cid);
	if (!rt || cc_chain_find(rt->st, s->cert.device_id) < 0)
		return xfer_deny(s, id, rt ? PE_FORBIDDEN : PE_NOT_FOUND,
		                 rt ? "you are not a member of this casus" : "no such casus", CC_AUDIT_EV_GRANT_FETCH, rt,
		                 cid);
	uint8_t pfx[XFER_PFX_LEN + 32];
	memcpy(pfx, XFER_PFX, XFER_PFX_LEN);
	memcpy(pfx + XFER_PFX_LEN, s->cert.device_id, 16);
	memcpy(pfx + XFER_PFX_LEN + 16, cid, 16);
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	MDB_val k = {sizeof pfx, pfx}, v;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_META], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		for (; rc == 0 && k.mv_size == sizeof pfx + 16 && memcmp(k.mv_data, pfx, sizeof pfx) == 0;
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
