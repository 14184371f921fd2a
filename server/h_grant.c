/*
 * h_grant.c: the grant family: grant.post (sharing stored messages onward
 * with a ground) and grant.fetch.
 */
#include "audit.h"
#include "fanout.h"
#include "handlers.h"
#include "log.h"
#include "reply.h"
#include "rt.h"
#include "schema.h"

#include <cc_buf.h>
#include <cc_commit.h>
#include <cc_err.h>
#include <cc_grant.h>
#include <cc_message.h>
#include <proto.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

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
	if (proto_get_id16(req, "casus", cid) || proto_get_b64(req, "grant", CC_COMMIT_MAX_BYTES, &gb, &gl)) {
		reply_error(s, id, PE_BAD_REQUEST, "grant.post needs \"casus\" and \"grant\" (base64)");
		goto out;
	}
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || !rt_is_member(rt, s->cert.device_id)) {
		deny_casus(s, id, rt ? PE_FORBIDDEN : PE_NOT_FOUND,
		           rt ? "you are not a member of this casus" : "no such casus", CC_AUDIT_EV_GRANT, rt, cid);
		goto out;
	}
	if (rt->closed_at) {
		deny_casus(s, id, PE_FORBIDDEN, "the casus is closed: nothing new can be shared", CC_AUDIT_EV_GRANT, rt,
		           NULL);
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
		uint64_t seq = 0, epoch = 0;
		uint8_t aud = 0;
		const uint8_t *msg = NULL;
		size_t msg_len = 0;
		uint8_t h[CC_HASH_BYTES];
		if (schema_msg_by_id(&srv->st, cid, g.items[i].message_id, &seq, &aud, &epoch, &msg, &msg_len) != 0 ||
		    cc_message_hash(msg, msg_len, h) != CC_OK ||
		    sodium_memcmp(h, g.items[i].message_hash, sizeof h) != 0)
			rc = CC_ERR_NOT_FOUND;
		/* the audience the grant names (which the grantees were checked against)
		 * must be the message's own: a grant cannot relabel a zorg message */
		else if (aud != g.items[i].audience)
			rc = CC_ERR_AUDIENCE;
	}
	if (rc != CC_OK) {
		deny_casus(s, id, rc == CC_ERR_NOT_FOUND ? PE_NOT_FOUND : handler_err(rc),
		           rc == CC_ERR_NOT_FOUND ? "a granted message is not stored here" : cc_strerror(rc),
		           CC_AUDIT_EV_GRANT, rt, NULL);
		goto out;
	}
	uint64_t gseq = 0;
	rc = schema_meta_next(&srv->st, SCHEMA_META_GRANT_SEQ, &gseq);
	for (uint16_t d = 0; !rc && d < g.ndevices; d++) {
		uint8_t k[SCHEMA_KEY_GRANT];
		rc = store_put(&srv->st, DB_GRANTS, k, schema_key_grant(k, g.devices[d].device_id, cid, gseq), gb, gl,
		               0);
	}
	if (rc) {
		reply_error(s, id, PE_STORAGE, "could not store the grant");
		goto out;
	}
	json_t *p = json_pack("{ss}", "push", "grant");
	proto_set_id16(p, "casus", cid);
	struct outbuf *pb = outbuf_from_json(p);
	json_decref(p);
	uint8_t(*to)[16] = calloc(g.ndevices ? g.ndevices : 1, sizeof *to);
	for (uint16_t d = 0; to && d < g.ndevices; d++)
		memcpy(to[d], g.devices[d].device_id, 16);
	struct fanout_filter f = {-1, (const uint8_t(*)[16])to, g.ndevices, NULL};
	if (to)
		fanout_push(rt, &f, pb);
	free(to);
	outbuf_unref(pb);

	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_GRANT;
	fill_casus(&e, rt);
	e.ground = g.ground;
	/* no reason: the grant's motivation is an end-to-end encrypted box (grant v2) */
	for (uint16_t i = 0; i < g.nitems && i < CC_AUDIT_MSG_IDS_MAX; i++)
		memcpy(e.msg_ids[i], g.items[i].message_id, 16);
	e.n_msg_ids = (uint8_t)(g.nitems < CC_AUDIT_MSG_IDS_MAX ? g.nitems : CC_AUDIT_MSG_IDS_MAX);
	{
		/* name the recipients from their certificates in the roster */
		char obj[CC_AUDIT_OBJECT_MAX * 2];
		int len = snprintf(obj, sizeof obj, "messages %u to", g.nitems);
		for (uint16_t d = 0; d < g.ndevices && len > 0 && (size_t)len < sizeof obj; d++) {
			int ri = rt->st ? cc_chain_find(rt->st, g.devices[d].device_id) : -1;
			char who[CC_AUDIT_OBJECT_MAX + 1];
			if (ri >= 0) {
				audit_person(who, sizeof who, &rt->st->roster[ri].cert);
			} else {
				char dev[33];
				cc_device_id_hex(g.devices[d].device_id, dev);
				snprintf(who, sizeof who, "device %s", dev);
			}
			len += snprintf(obj + len, sizeof obj - (size_t)len, "%s %s", d ? "," : "", who);
		}
		cc_audit_str_copy(e.object, sizeof e.object, obj);
	}
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
	if (proto_get_id16(req, "casus", cid)) {
		reply_error(s, id, PE_BAD_REQUEST, "grant.fetch needs \"casus\"");
		return 0;
	}
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || !rt_is_member(rt, s->cert.device_id))
		return deny_casus(s, id, rt ? PE_FORBIDDEN : PE_NOT_FOUND,
		                  rt ? "you are not a member of this casus" : "no such casus", CC_AUDIT_EV_GRANT_FETCH,
		                  rt, cid);
	/* only messages of audiences the device may read now (as in history) */
	uint32_t mask = rt_mask(rt, s->cert.device_id);
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	uint8_t pfx[SCHEMA_KEY_PAIR];
	MDB_val k = {schema_key_pair(pfx, s->cert.device_id, cid), pfx}, v;
	unsigned nmsgs = 0;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_GRANTS], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		for (; rc == 0 && k.mv_size == SCHEMA_KEY_GRANT && memcmp(k.mv_data, pfx, SCHEMA_KEY_PAIR) == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			cc_grant g;
			if (cc_grant_decode(v.mv_data, v.mv_size, &g) != CC_OK)
				continue;
			json_t *o = json_object();
			proto_set_b64(o, "grant", v.mv_data, v.mv_size);
			json_t *msgs = json_array();
			for (uint16_t i = 0; i < g.nitems; i++) {
				uint64_t seq = 0, epoch = 0;
				uint8_t aud = 0;
				const uint8_t *msg = NULL;
				size_t msg_len = 0;
				if (schema_msg_by_id(&srv->st, cid, g.items[i].message_id, &seq, &aud, &epoch, &msg,
				                     &msg_len) != 0 ||
				    !(mask & (1u << aud)))
					continue;
				json_t *m = json_object();
				json_object_set_new(m, "seq", json_integer((json_int_t)seq));
				proto_set_b64(m, "msg", msg, msg_len);
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
