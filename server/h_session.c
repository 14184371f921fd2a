/*
 * h_session.c: the session family: hello, challenge-response authentication,
 * ping, the revocation list, the signed policy and the device directory.
 */
#include "handlers.h"
#include "audit.h"
#include "clock.h"
#include "log.h"
#include "reply.h"
#include "schema.h"

#include <cc_buf.h>
#include <cc_err.h>
#include <cc_wrapkey.h>
#include <proto.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* "store_epoch": the store's epoch in hex (schema.h), so that a client can
 * tell a restored (rolled back) store from the one it knew. */
static void set_store_epoch(const struct server *srv, json_t *r)
{
	char hex[2 * SCHEMA_EPOCH_BYTES + 1];
	sodium_bin2hex(hex, sizeof hex, srv->st.epoch, SCHEMA_EPOCH_BYTES);
	json_object_set_new(r, "store_epoch", json_string(hex));
}

int h_hello(struct session *s, json_t *req, uint64_t id)
{
	uint64_t version = 0;
	if (proto_get_u64(req, "version", 1000, &version)) {
		reply_error(s, id, PE_BAD_REQUEST, "hello needs an integer \"version\"");
		return 0;
	}
	if (version != PROTO_VERSION) {
		reply_error(s, id, PE_VERSION, "this server speaks casus.v1 (version 1)");
		return 0;
	}
	if (s->state == SS_AUTHED) {
		reply_error(s, id, PE_BAD_REQUEST, "already authenticated");
		return 0;
	}
	randombytes_buf(s->challenge, sizeof s->challenge);
	s->state = SS_HELLO;
	json_t *r = proto_ok(id);
	json_object_set_new(r, "version", json_integer(PROTO_VERSION));
	json_object_set_new(r, "server",
	                    json_string("casusd/"
	                                "0.1"));
	json_object_set_new(r, "max_frame", json_integer((json_int_t)s->srv->cfg.lim.max_frame));
	proto_set_b64(r, "challenge", s->challenge, sizeof s->challenge);
	char hex[2 * CC_SIGN_PK_BYTES + 1];
	sodium_bin2hex(hex, sizeof hex, audit_public_key(s->srv), CC_SIGN_PK_BYTES);
	json_object_set_new(r, "audit_key", json_string(hex));
	set_store_epoch(s->srv, r);
	reply_later(s, id, r);
	return 1;
}

static void audit_auth(struct session *s, int ok, const char *err, const cc_cert *c)
{
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_AUTH;
	e.outcome = ok ? CC_AUDIT_OUTCOME_SUCCESS : CC_AUDIT_OUTCOME_DENIED;
	if (err)
		cc_audit_str_copy(e.error, sizeof e.error, err);
	if (!ok && c) {
		/* refused: record who it claimed to be (from the certificate) */
		cc_audit_str_copy(e.actor_user, sizeof e.actor_user, c->user_id);
		memcpy(e.actor_device, c->device_id, 16);
		cc_audit_str_copy(e.actor_role, sizeof e.actor_role, c->role);
		cc_audit_str_copy(e.actor_org, sizeof e.actor_org, c->org);
	}
	if (c) {
		/* the person, by the name in the certificate: readers of the trail
		 * name the actor of later entries of this device from here */
		char p[CC_AUDIT_OBJECT_MAX + 1];
		audit_person(p, sizeof p, c);
		char obj[CC_AUDIT_OBJECT_MAX + 16];
		snprintf(obj, sizeof obj, "person %s", p);
		cc_audit_str_copy(e.object, sizeof e.object, obj);
	}
	audit_log(s->srv, s, &e);
}

/* The per-device connection limit is per whole device id. dev_count[] counts
 * the authenticated sessions per bucket (a hash of all 16 bytes); a bucket
 * that reaches the limit is only a hint, and the sessions of exactly this
 * device are counted before a refusal, so two devices whose ids share a
 * bucket never limit each other. */
static uint32_t dev_slot_of(const uint8_t id[CC_DEVICE_ID_BYTES])
{
	uint32_t h = 2166136261u; /* FNV-1a over the whole id */
	for (size_t i = 0; i < CC_DEVICE_ID_BYTES; i++)
		h = (h ^ id[i]) * 16777619u;
	return h % 4096u;
}

static unsigned dev_sessions(struct server *srv, const uint8_t id[CC_DEVICE_ID_BYTES])
{
	unsigned n = 0;
	for (struct session *o = srv->sessions; o; o = o->next)
		if (o->dev_counted && memcmp(o->cert.device_id, id, CC_DEVICE_ID_BYTES) == 0)
			n++;
	return n;
}

int h_auth(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t *certb = NULL;
	size_t certlen = 0;
	uint8_t sig[CC_SIG_BYTES];
	cc_cert c;
	int rc;

	if (s->state != SS_HELLO) {
		reply_error(s, id, s->state == SS_AUTHED ? PE_BAD_REQUEST : PE_UNAUTHENTICATED,
		            s->state == SS_AUTHED ? "already authenticated" : "send hello first");
		return 0;
	}
	if (proto_get_b64(req, "cert", CC_CERT_MAX, &certb, &certlen) ||
	    proto_get_b64_fixed(req, "sig", sig, sizeof sig)) {
		free(certb);
		reply_error(s, id, PE_BAD_REQUEST, "auth needs base64 \"cert\" and \"sig\"");
		return 0;
	}
	memset(&c, 0, sizeof c);
	rc = cc_cert_decode(certb, certlen, &c);
	if (rc == CC_OK)
		rc = cc_cert_verify(&c, srv->root_pk, clock_wall_s(), srv->have_revs ? &srv->revs : NULL);
	if (rc == CC_OK)
		rc = cc_verify_ctx(c.sign_pk, AUTH_CONTEXT, s->challenge, sizeof s->challenge, sig);
	/* a challenge answers once */
	randombytes_buf(s->challenge, sizeof s->challenge);
	s->state = SS_NEW;
	if (rc != CC_OK) {
		srv->m.auth_fail++;
		log_event(LOG_INFO, "auth.refused", "sid=%llu err=%s", (unsigned long long)s->sid, cc_errname(rc));
		audit_auth(s, 0, cc_errname(rc), &c);
		reply_error(s, id, PE_AUTH_FAILED, cc_strerror(rc));
		free(certb);
		return 0;
	}
	/* one device id is one device in the whole deployment: a certificate that
	 * names a known device id with other keys or another user is refused */
	if (dir_device_taken(srv, &c)) {
		srv->m.auth_fail++;
		log_event(LOG_WARN, "auth.device_taken", "sid=%llu", (unsigned long long)s->sid);
		audit_auth(s, 0, "device_id_taken", &c);
		reply_error(s, id, PE_AUTH_FAILED, "this device id belongs to another device");
		free(certb);
		return 0;
	}
	uint32_t slot = dev_slot_of(c.device_id);
	if (srv->dev_count[slot] >= srv->cfg.lim.conn_per_device &&
	    dev_sessions(srv, c.device_id) >= srv->cfg.lim.conn_per_device) {
		audit_auth(s, 0, "connection_limit", &c);
		reply_error(s, id, PE_BUSY, "too many connections for this device");
		free(certb);
		return 0;
	}
	s->dev_slot = slot;
	s->dev_counted = 1;
	srv->dev_count[slot]++;
	s->cert = c;
	s->role = srv->have_policy ? cc_policy_role_index(&srv->policy, c.role) : -1;
	s->state = SS_AUTHED;
	lws_sul_cancel(&s->sul_auth);
	srv->m.auth_ok++;
	dir_store_cert(srv, &c, certb, certlen);
	free(certb);

	char dev[33];
	cc_device_id_hex(c.device_id, dev);
	log_event(LOG_INFO, "auth.ok", "sid=%llu device=%s role=%s", (unsigned long long)s->sid, dev, c.role);
	audit_auth(s, 1, NULL, &c);

	json_t *r = proto_ok(id);
	json_object_set_new(r, "user", json_string(c.user_id));
	json_object_set_new(r, "device", json_string(dev));
	json_object_set_new(r, "role", json_string(c.role));
	set_store_epoch(srv, r);
	casus_session_authed(srv, s, r);
	reply_later(s, id, r);
	return 1;
}

int h_ping(struct session *s, json_t *req, uint64_t id)
{
	(void)req;
	json_t *r = proto_ok(id);
	json_object_set_new(r, "time", json_integer((json_int_t)clock_wall_s()));
	reply_later(s, id, r);
	return 1;
}

/* The revocation list casusd applies, as the bytes it loaded (the client
 * verifies it against its pinned root), or null and number 0 without one. */
int h_revlist_get(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	(void)req;
	json_t *r = proto_ok(id);
	if (srv->have_revs && srv->revs_bytes) {
		proto_set_b64(r, "revlist", srv->revs_bytes, srv->revs_len);
		json_object_set_new(r, "number", json_integer((json_int_t)srv->revs.number));
	} else {
		json_object_set_new(r, "revlist", json_null());
		json_object_set_new(r, "number", json_integer(0));
	}
	reply_later(s, id, r);
	return 1;
}

/* The issuance log casusd holds (revlist.h), as loaded: every certificate the
 * root issued, signed and hash-chained; clients verify it against their
 * pinned root. null and count 0 when the server has none configured. */
int h_issuance_get(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	(void)req;
	json_t *r = proto_ok(id);
	if (srv->issued_bytes && srv->issued_len)
		proto_set_b64(r, "log", srv->issued_bytes, srv->issued_len);
	else
		json_object_set_new(r, "log", json_null());
	json_object_set_new(r, "count", json_integer((json_int_t)srv->issued_count));
	reply_later(s, id, r);
	return 1;
}

int h_policy_get(struct session *s, json_t *req, uint64_t id)
{
	(void)req;
	if (!s->srv->have_policy) {
		reply_error(s, id, PE_NOT_FOUND, "the server has no policy installed");
		return 0;
	}
	cc_wbuf w;
	cc_w_init(&w);
	cc_policy_encode(&s->srv->policy, &w);
	json_t *r = proto_ok(id);
	if (!w.err)
		proto_set_b64(r, "policy", w.p, w.len);
	cc_w_free(&w);
	reply_later(s, id, r);
	return 1;
}

int dir_device_taken(struct server *srv, const cc_cert *c)
{
	MDB_val v;
	cc_cert old;
	if (store_get(&srv->st, DB_CERTS, c->device_id, CC_DEVICE_ID_BYTES, &v) != 0 ||
	    cc_cert_decode(v.mv_data, v.mv_size, &old) != CC_OK)
		return 0;
	return sodium_memcmp(old.sign_pk, c->sign_pk, CC_SIGN_PK_BYTES) != 0 ||
	       sodium_memcmp(old.box_pk, c->box_pk, CC_BOX_PK_BYTES) != 0 || strcmp(old.user_id, c->user_id) != 0;
}

int dir_store_cert(struct server *srv, const cc_cert *c, const uint8_t *enc, size_t len)
{
	MDB_val v;
	if (store_get(&srv->st, DB_CERTS, c->device_id, 16, &v) == 0 && v.mv_size == len &&
	    memcmp(v.mv_data, enc, len) == 0)
		return 0;
	if (dir_device_taken(srv, c))
		return DIR_DEVICE_TAKEN;
	int rc = store_put(&srv->st, DB_CERTS, c->device_id, 16, enc, len, 0);
	uint8_t key[SCHEMA_KEY_USER_MAX];
	size_t kl = schema_key_user_device(key, c->user_id, c->device_id);
	if (rc == 0)
		rc = kl ? store_put(&srv->st, DB_USERS, key, kl, "", 0, 0) : -1;
	return rc;
}

/* The stored wrap-key publication of a device: 0 and *out, MDB_NOTFOUND, or -1 if damaged. */
static int wrap_get(struct server *srv, const uint8_t dev[16], MDB_val *v, cc_wrapkey *out)
{
	uint8_t k[SCHEMA_KEY_WRAP];
	int rc = store_get(&srv->st, DB_META, k, schema_key_wrap(k, dev), v);
	if (rc)
		return rc;
	return cc_wrapkey_decode(v->mv_data, v->mv_size, out) == CC_OK ? 0 : -1;
}

/* dir.publish with "wrapkey" (issue 17): the authenticated device publishes
 * its own new wrap key, signed by its identity key. The server keeps the
 * newest accepted one per device: a bad signature, another device's record,
 * or a version not above the stored one (except the very same record again)
 * is refused. Clients verify every record themselves (the server is not
 * trusted); this check keeps the directory clean and makes rollback visible. */
static int publish_wrapkey(struct session *s, json_t *req, uint64_t id)
{
	uint8_t *b = NULL;
	size_t n = 0;
	if (proto_get_b64(req, "wrapkey", CC_WRAPKEY_BYTES, &b, &n)) {
		reply_error(s, id, PE_BAD_REQUEST, "dir.publish: \"wrapkey\" must be base64 of a wrap-key record");
		return 0;
	}
	cc_wrapkey wk, old;
	int rc = cc_wrapkey_decode(b, n, &wk);
	if (rc != CC_OK) {
		free(b);
		reply_error(s, id, PE_INVALID, cc_strerror(rc));
		return 0;
	}
	if (sodium_memcmp(wk.device_id, s->cert.device_id, CC_DEVICE_ID_BYTES) != 0) {
		free(b);
		reply_error(s, id, PE_FORBIDDEN, "a device publishes only its own wrap key");
		return 0;
	}
	if (cc_wrapkey_verify(&wk, &s->cert) != CC_OK) {
		free(b);
		reply_error(s, id, PE_BAD_SIGNATURE, "the wrap key is not signed by this device's identity key");
		return 0;
	}
	MDB_val v;
	int g = wrap_get(s->srv, wk.device_id, &v, &old);
	if (g == 0 && v.mv_size == n && memcmp(v.mv_data, b, n) == 0) {
		free(b);
		json_t *r = proto_ok(id);
		json_object_set_new(r, "version", json_integer((json_int_t)wk.version));
		reply_later(s, id, r);
		return 1;
	}
	if (g == 0 && old.version >= wk.version) {
		free(b);
		reply_error(s, id, PE_INVALID, "a wrap key with this or a newer version is already published");
		return 0;
	}
	uint8_t k[SCHEMA_KEY_WRAP];
	rc = store_put(&s->srv->st, DB_META, k, schema_key_wrap(k, wk.device_id), b, n, 0);
	free(b);
	if (rc) {
		reply_error(s, id, PE_STORAGE, "could not store the wrap key");
		return 0;
	}
	char dev[33];
	cc_device_id_hex(wk.device_id, dev);
	log_event(LOG_INFO, "dir.wrapkey", "device=%.8s version=%u", dev, wk.version);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "version", json_integer((json_int_t)wk.version));
	reply_later(s, id, r);
	return 1;
}

/* The stored wrap key of dev as base64 into o's "wrapkey", if there is one. */
static void wrap_attach(struct server *srv, const uint8_t dev[16], json_t *o)
{
	MDB_val v;
	cc_wrapkey wk;
	if (wrap_get(srv, dev, &v, &wk) == 0)
		proto_set_b64(o, "wrapkey", v.mv_data, v.mv_size);
}

int h_dir_publish(struct session *s, json_t *req, uint64_t id)
{
	uint8_t *certb = NULL;
	size_t len = 0;
	cc_cert c;
	if (json_object_get(req, "wrapkey") && !json_object_get(req, "cert"))
		return publish_wrapkey(s, req, id);
	if (proto_get_b64(req, "cert", CC_CERT_MAX, &certb, &len)) {
		reply_error(s, id, PE_BAD_REQUEST, "dir.publish needs a base64 \"cert\" (or a \"wrapkey\")");
		return 0;
	}
	int rc = cc_cert_decode(certb, len, &c);
	if (rc == CC_OK)
		rc = cc_cert_verify(&c, s->srv->root_pk, clock_wall_s(), s->srv->have_revs ? &s->srv->revs : NULL);
	if (rc != CC_OK) {
		free(certb);
		return deny(s, id, PE_INVALID, cc_strerror(rc), CC_AUDIT_EV_CERT_ENROL, NULL);
	}
	rc = dir_store_cert(s->srv, &c, certb, len);
	free(certb);
	if (rc == DIR_DEVICE_TAKEN)
		return deny(s, id, PE_INVALID, "this device id belongs to another device", CC_AUDIT_EV_CERT_ENROL,
		            NULL);
	if (rc) {
		reply_error(s, id, PE_STORAGE, "could not store the certificate");
		return 0;
	}
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_CERT_ENROL;
	char dev[33];
	cc_device_id_hex(c.device_id, dev);
	snprintf(e.object, sizeof e.object, "device %s user %s", dev, c.user_id);
	audit_log(s->srv, s, &e);
	reply_later(s, id, proto_ok(id));
	return 1;
}

int h_dir_lookup(struct session *s, json_t *req, uint64_t id)
{
	json_t *want = json_object_get(req, "devices");
	if (want) { /* the wrap keys of the devices named (hex ids), e.g. a casus's roster */
		if (!json_is_array(want) || json_array_size(want) > 256) {
			reply_error(s, id, PE_BAD_REQUEST,
			            "dir.lookup: \"devices\" is an array of at most 256 device ids");
			return 0;
		}
		json_t *arr = json_array(), *d;
		size_t i;
		json_array_foreach(want, i, d) {
			uint8_t dev[16];
			if (!json_is_string(d) || cc_device_id_from_hex(json_string_value(d), dev) != CC_OK) {
				json_decref(arr);
				reply_error(s, id, PE_BAD_REQUEST, "dir.lookup: a device id is 32 hex digits");
				return 0;
			}
			json_t *o = json_pack("{ss}", "device", json_string_value(d));
			wrap_attach(s->srv, dev, o);
			json_array_append_new(arr, o);
		}
		json_t *r = proto_ok(id);
		json_object_set_new(r, "devices", arr);
		reply_later(s, id, r);
		return 1;
	}
	const char *user;
	if (proto_get_str(req, "user", CC_USER_ID_MAX, &user) || !*user) {
		reply_error(s, id, PE_BAD_REQUEST, "dir.lookup needs a \"user\" (or \"devices\")");
		return 0;
	}
	static const uint8_t nodev[16];
	uint8_t pfx[SCHEMA_KEY_USER_MAX];
	size_t kl = schema_key_user_device(pfx, user, nodev), pl = kl - 16;
	MDB_cursor *cur = NULL;
	MDB_val k = {pl, pfx}, v;
	json_t *arr = json_array();
	if (kl && mdb_cursor_open(store_cur(&s->srv->st), s->srv->st.dbi[DB_USERS], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		while (rc == 0 && k.mv_size == kl && memcmp(k.mv_data, pfx, pl) == 0) {
			MDB_val cv;
			const uint8_t *dev = (const uint8_t *)k.mv_data + pl;
			if (store_get(&s->srv->st, DB_CERTS, dev, 16, &cv) == 0) {
				cc_cert c;
				/* only currently valid, unrevoked certificates */
				if (cc_cert_decode(cv.mv_data, cv.mv_size, &c) == CC_OK &&
				    cc_cert_verify(&c, s->srv->root_pk, clock_wall_s(),
				                   s->srv->have_revs ? &s->srv->revs : NULL) == CC_OK) {
					json_t *o = json_object();
					proto_set_b64(o, "cert", cv.mv_data, cv.mv_size);
					wrap_attach(s->srv, dev, o);
					json_array_append_new(arr, o);
				}
			}
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
		}
		mdb_cursor_close(cur);
	}
	json_t *r = proto_ok(id);
	json_object_set_new(r, "devices", arr);
	reply_later(s, id, r);
	return 1;
}
