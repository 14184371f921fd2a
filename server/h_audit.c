/*
 * h_audit.c: the audit family: reading the audit trail over the protocol
 * (audit.query) and the audit key (audit.key).
 *
 * Only roles whose policy audit_scope allows it may read: CC_AUDIT_ALL (the
 * privacy officer, fg) reads everything, CC_AUDIT_DIRECTED (the process
 * director) reads the entries of the casus it is a member of. Every query is
 * itself an audit entry, and a refused query leaves a "denied" entry.
 * Entries travel as their canonical encoding with the stored hash, and the
 * checkpoints of the range come along, so the client verifies what it got,
 * each with the witnesses' cosignatures the server keeps for it.
 *
 * audit.cosign: a witness (a role with audit_scope all, the fg) countersigns
 * checkpoints it verified with its device identity key; the server checks the
 * cosignature against the session's certificate and the stored checkpoint and
 * keeps it in meta (CASUS_META_COSIGN_PREFIX || seq || device).
 */
#include "audit.h"
#include "handlers.h"
#include "reply.h"
#include "rt.h"
#include "schema.h"

#include <cc_buf.h>
#include <cc_commit.h>
#include <cc_err.h>
#include <proto.h>
#include <sodium.h>
#include <string.h>

#define AUDIT_PAGE_MAX 5000
#define COSIGN_BATCH_MAX 64
#define COSIGN_PREFIX_LEN (sizeof CASUS_META_COSIGN_PREFIX - 1)
#define COSIGN_KEY_LEN (COSIGN_PREFIX_LEN + 8 + 16)

static size_t cosign_key(uint8_t k[COSIGN_KEY_LEN], uint64_t seq, const uint8_t dev[16])
{
	memcpy(k, CASUS_META_COSIGN_PREFIX, COSIGN_PREFIX_LEN);
	schema_key_audit(k + COSIGN_PREFIX_LEN, seq);
	memcpy(k + COSIGN_PREFIX_LEN + 8, dev, 16);
	return COSIGN_KEY_LEN;
}

/* The cosignatures stored for checkpoint seq, as an array of base64 strings. */
static json_t *cosigns_of(struct server *srv, uint64_t seq)
{
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	uint8_t start[COSIGN_PREFIX_LEN + 8];
	memcpy(start, CASUS_META_COSIGN_PREFIX, COSIGN_PREFIX_LEN);
	schema_key_audit(start + COSIGN_PREFIX_LEN, seq);
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_META], &cur) != 0)
		return arr;
	MDB_val k = {sizeof start, start}, v;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		if (k.mv_size != COSIGN_KEY_LEN || memcmp(k.mv_data, start, sizeof start) != 0)
			break;
		json_t *o = json_object();
		proto_set_b64(o, "cosign", v.mv_data, v.mv_size);
		json_array_append_new(arr, json_string(json_string_value(json_object_get(o, "cosign"))));
		json_decref(o);
	}
	mdb_cursor_close(cur);
	return arr;
}

/* audit.receipts: the entries about this device's own reads (history, grant
 * and key fetches) after "after", each with its hash, the hash before it
 * (so the device can recompute the chain step) and a receipt signed with the
 * audit key (cc_audit_receipt_sign). At most "limit" (<= 1000) receipts;
 * "more" when the walk stopped early. The walk itself is recorded as an
 * audit_query entry. */
#define RECEIPTS_MAX 1000
int h_audit_receipts(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint64_t after = 0, limit = RECEIPTS_MAX;
	if ((json_object_get(req, "after") && proto_get_u64(req, "after", UINT64_MAX >> 2, &after)) ||
	    (json_object_get(req, "limit") && proto_get_u64(req, "limit", RECEIPTS_MAX, &limit))) {
		reply_error(s, id, PE_BAD_REQUEST, "audit.receipts takes optional \"after\" and \"limit\" (<= 1000)");
		return 0;
	}
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	uint8_t k8[8], prev[CC_HASH_BYTES] = {0};
	int have_prev = 0, more = 0;
	uint64_t n = 0, prev_seq = 0;
	schema_key_audit(k8, after > 0 ? after : 1);
	MDB_val k = {sizeof k8, k8}, v;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_AUDIT], &cur) == 0) {
		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			uint64_t kseq;
			const uint8_t *hash, *enc;
			size_t el;
			if (schema_key_audit_decode(k.mv_data, k.mv_size, &kseq) != 0 ||
			    schema_audit_rec_decode(v.mv_data, v.mv_size, &hash, &enc, &el) != 0) {
				have_prev = 0;
				continue;
			}
			cc_audit_entry e;
			int mine = kseq > after && cc_audit_entry_decode(enc, el, &e) == CC_OK &&
			           memcmp(e.actor_device, s->cert.device_id, 16) == 0 &&
			           (e.event == CC_AUDIT_EV_HISTORY_FETCH || e.event == CC_AUDIT_EV_GRANT_FETCH ||
			            e.event == CC_AUDIT_EV_KEY_FETCH);
			if (mine && n == limit) {
				more = 1;
				break;
			}
			if (mine && (kseq == 1 || (have_prev && prev_seq == kseq - 1))) {
				uint8_t sig[CC_SIG_BYTES];
				if (audit_sign_receipt(srv, kseq, hash, sig) == CC_OK) {
					json_t *o = json_object();
					json_object_set_new(o, "seq", json_integer((json_int_t)kseq));
					proto_set_b64(o, "entry", enc, el);
					proto_set_b64(o, "hash", hash, CC_HASH_BYTES);
					proto_set_b64(o, "prev", prev, CC_HASH_BYTES);
					proto_set_b64(o, "sig", sig, CC_SIG_BYTES);
					json_array_append_new(arr, o);
					n++;
				}
			}
			memcpy(prev, hash, CC_HASH_BYTES);
			prev_seq = kseq;
			have_prev = 1;
		}
		mdb_cursor_close(cur);
	}
	cc_audit_entry q;
	cc_audit_entry_init(&q);
	q.event = CC_AUDIT_EV_AUDIT_QUERY;
	snprintf(q.object, sizeof q.object, "own read receipts %llu after %llu", (unsigned long long)n,
	         (unsigned long long)after);
	audit_log(srv, s, &q);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "receipts", arr);
	json_object_set_new(r, "more", json_boolean(more));
	char hex[2 * CC_SIGN_PK_BYTES + 1];
	sodium_bin2hex(hex, sizeof hex, audit_public_key(srv), CC_SIGN_PK_BYTES);
	json_object_set_new(r, "audit_key", json_string(hex));
	reply_later(s, id, r);
	return 1;
}

int h_audit_cosign(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	int scope = (srv->have_policy && s->role >= 0) ? srv->policy.roles[s->role].audit_scope : CC_AUDIT_NONE;
	if (scope != CC_AUDIT_ALL)
		return deny(s, id, PE_FORBIDDEN, "only a role that verifies the whole audit trail may witness it",
		            CC_AUDIT_EV_AUDIT_COSIGN, NULL);
	json_t *arr = json_object_get(req, "cosigns");
	if (!json_is_array(arr) || json_array_size(arr) == 0 || json_array_size(arr) > COSIGN_BATCH_MAX) {
		reply_error(s, id, PE_BAD_REQUEST, "audit.cosign takes \"cosigns\": an array of 1..64 cosignatures");
		return 0;
	}
	uint64_t lo = UINT64_MAX, hi = 0;
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		json_t *wrap = json_pack("{sO}", "c", o);
		uint8_t *b = NULL;
		size_t bl = 0;
		cc_audit_cosign c;
		const char *why = NULL;
		int code = PE_INVALID;
		if (!wrap || proto_get_b64(wrap, "c", CC_AUDIT_COSIGN_MAX, &b, &bl) ||
		    cc_audit_cosign_decode(b, bl, &c) != CC_OK) {
			why = "a cosignature does not decode";
			code = PE_BAD_REQUEST;
		} else if (sodium_memcmp(c.audit_pk, audit_public_key(srv), CC_SIGN_PK_BYTES) != 0) {
			why = "a cosignature names another audit key";
		} else if (memcmp(c.device, s->cert.device_id, 16) != 0 ||
		           sodium_memcmp(c.witness_pk, s->cert.sign_pk, CC_SIGN_PK_BYTES) != 0 ||
		           strcmp(c.user, s->cert.user_id) != 0) {
			why = "a cosignature is not made with this device's certified key";
		} else if (cc_audit_cosign_verify(&c) != CC_OK) {
			why = "a cosignature does not verify";
			code = PE_BAD_SIGNATURE;
		} else {
			uint8_t k8[SCHEMA_KEY_AUDIT];
			MDB_val cv;
			cc_audit_checkpoint cp;
			if (store_get(&srv->st, DB_AUDITCP, k8, schema_key_audit(k8, c.seq), &cv) != 0 ||
			    cc_audit_checkpoint_decode(cv.mv_data, cv.mv_size, &cp) != CC_OK) {
				why = "no checkpoint at the cosigned position";
				code = PE_NOT_FOUND;
			} else if (sodium_memcmp(cp.entry_hash, c.entry_hash, CC_HASH_BYTES) != 0) {
				why = "the cosigned head differs from the stored checkpoint";
				code = PE_CONFLICT;
			} else {
				uint8_t k[COSIGN_KEY_LEN];
				if (store_put(&srv->st, DB_META, k, cosign_key(k, c.seq, c.device), b, bl, 0) != 0) {
					why = "the cosignature could not be stored";
					code = PE_STORAGE;
				}
			}
		}
		free(b);
		json_decref(wrap);
		if (why)
			return deny(s, id, code, why, CC_AUDIT_EV_AUDIT_COSIGN, NULL);
		if (c.seq < lo)
			lo = c.seq;
		if (c.seq > hi)
			hi = c.seq;
	}
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_AUDIT_COSIGN;
	e.seq_from = lo;
	e.seq_to = hi;
	snprintf(e.object, sizeof e.object, "cosigned checkpoints %zu, newest %llu", json_array_size(arr),
	         (unsigned long long)hi);
	audit_log(srv, s, &e);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "stored", json_integer((json_int_t)json_array_size(arr)));
	reply_later(s, id, r);
	return 1;
}

int h_audit_key(struct session *s, json_t *req, uint64_t id)
{
	(void)req;
	char hex[2 * CC_SIGN_PK_BYTES + 1];
	sodium_bin2hex(hex, sizeof hex, audit_public_key(s->srv), CC_SIGN_PK_BYTES);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "audit_key", json_string(hex));
	reply_later(s, id, r);
	return 1;
}

int h_audit_query(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	int have_casus = 0;
	const char *user = NULL, *export_kind = NULL;
	uint64_t from_ms = 0, to_ms = UINT64_MAX >> 2, after = 0, limit = 1000;

	if (json_object_get(req, "casus")) {
		if (proto_get_id16(req, "casus", cid))
			goto bad;
		have_casus = 1;
	}
	if ((json_object_get(req, "user") && proto_get_str(req, "user", CC_USER_ID_MAX, &user)) ||
	    (json_object_get(req, "from_ms") && proto_get_u64(req, "from_ms", UINT64_MAX >> 2, &from_ms)) ||
	    (json_object_get(req, "to_ms") && proto_get_u64(req, "to_ms", UINT64_MAX >> 2, &to_ms)) ||
	    (json_object_get(req, "after") && proto_get_u64(req, "after", UINT64_MAX >> 2, &after)) ||
	    (json_object_get(req, "limit") && proto_get_u64(req, "limit", AUDIT_PAGE_MAX, &limit)) ||
	    (json_object_get(req, "export") && proto_get_str(req, "export", 16, &export_kind)))
		goto bad;

	int scope = (srv->have_policy && s->role >= 0) ? srv->policy.roles[s->role].audit_scope : CC_AUDIT_NONE;
	if (scope == CC_AUDIT_NONE)
		return deny(s, id, PE_FORBIDDEN, "your role may not read the audit trail", CC_AUDIT_EV_AUDIT_QUERY,
		            have_casus ? cid : NULL);
	if (scope == CC_AUDIT_DIRECTED) {
		struct casus_rt *rt = have_casus ? rt_get(srv, cid) : NULL;
		if (!rt_is_member(rt, s->cert.device_id))
			return deny(s, id, PE_FORBIDDEN, "you may read the audit trail only of a casus you direct",
			            CC_AUDIT_EV_AUDIT_QUERY, have_casus ? cid : NULL);
	}

	json_t *entries = json_array();
	json_t *cps = json_array();
	MDB_cursor *cur = NULL;
	uint8_t k8[8];
	schema_key_audit(k8, after + 1);
	MDB_val k = {sizeof k8, k8}, v;
	uint64_t n = 0, first = 0, last = 0;
	int more = 0;
	static const uint8_t zero[16];
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_AUDIT], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			uint64_t kseq;
			const uint8_t *hash, *enc;
			size_t el;
			if (schema_key_audit_decode(k.mv_data, k.mv_size, &kseq) != 0 ||
			    schema_audit_rec_decode(v.mv_data, v.mv_size, &hash, &enc, &el) != 0)
				continue;
			cc_audit_entry e;
			if (cc_audit_entry_decode(enc, el, &e) != CC_OK)
				continue; /* the verifier reports it; a query shows what decodes */
			if (have_casus && memcmp(e.casus_id, cid, 16) != 0)
				continue;
			if (!have_casus && scope != CC_AUDIT_ALL && memcmp(e.casus_id, zero, 16) == 0)
				continue;
			if (user && strcmp(user, e.actor_user) != 0)
				continue;
			if (e.time_ms < (int64_t)from_ms || e.time_ms > (int64_t)to_ms)
				continue;
			if (n == limit) {
				more = 1;
				break;
			}
			json_t *o = json_object();
			json_object_set_new(o, "seq", json_integer((json_int_t)e.seq));
			proto_set_b64(o, "hash", hash, SCHEMA_AUDIT_HASH);
			proto_set_b64(o, "entry", enc, el);
			json_array_append_new(entries, o);
			if (!first)
				first = e.seq;
			last = e.seq;
			n++;
		}
		mdb_cursor_close(cur);
	}
	/* checkpoints covering the range (the full trail when fg asks for everything) */
	if (first && mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_AUDITCP], &cur) == 0) {
		schema_key_audit(k8, first);
		k.mv_size = sizeof k8;
		k.mv_data = k8;
		int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		for (; rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			/* only those sealing an entry of this page: one further ahead
			 * would wait for entries the client does not have yet */
			uint64_t cseq;
			if (schema_key_audit_decode(k.mv_data, k.mv_size, &cseq) != 0 || cseq > last)
				break;
			json_t *o = json_object();
			proto_set_b64(o, "checkpoint", v.mv_data, v.mv_size);
			json_object_set_new(o, "cosigns", cosigns_of(srv, cseq));
			json_array_append_new(cps, o);
		}
		mdb_cursor_close(cur);
	}
	cc_audit_entry q;
	cc_audit_entry_init(&q);
	q.event = CC_AUDIT_EV_AUDIT_QUERY;
	if (have_casus)
		memcpy(q.casus_id, cid, 16);
	q.seq_from = first;
	q.seq_to = last;
	snprintf(q.object, sizeof q.object, "audit entries %llu%s%s", (unsigned long long)n, user ? " of user " : "",
	         user ? user : "");
	audit_log(srv, s, &q);
	if (export_kind) {
		/* the client says it makes an export or a data-subject report of
		 * what it reads: recorded as such (event export) */
		cc_audit_entry x;
		cc_audit_entry_init(&x);
		x.event = CC_AUDIT_EV_EXPORT;
		uint8_t ecid[16];
		if (have_casus)
			memcpy(x.casus_id, cid, 16);
		else if (json_object_get(req, "export_casus") && proto_get_id16(req, "export_casus", ecid) == 0)
			memcpy(x.casus_id, ecid, 16);
		char kind[17];
		cc_audit_str_copy(kind, sizeof kind, export_kind);
		snprintf(x.object, sizeof x.object, "format %s", kind);
		audit_log(srv, s, &x);
	}

	json_t *r = proto_ok(id);
	json_object_set_new(r, "entries", entries);
	json_object_set_new(r, "checkpoints", cps);
	json_object_set_new(r, "more", json_boolean(more));
	char hex[2 * CC_SIGN_PK_BYTES + 1];
	sodium_bin2hex(hex, sizeof hex, audit_public_key(srv), CC_SIGN_PK_BYTES);
	json_object_set_new(r, "audit_key", json_string(hex));
	/* after pruning: the signed checkpoint the trail now starts from */
	MDB_val av;
	if (store_get(&srv->st, DB_META, AUDIT_ANCHOR_KEY, sizeof AUDIT_ANCHOR_KEY - 1, &av) == 0 &&
	    av.mv_size == CC_AUDIT_CP_BYTES) {
		cc_audit_checkpoint acp;
		proto_set_b64(r, "anchor", av.mv_data, av.mv_size);
		if (cc_audit_checkpoint_decode(av.mv_data, av.mv_size, &acp) == CC_OK)
			json_object_set_new(r, "anchor_cosigns", cosigns_of(srv, acp.seq));
	}
	reply_later(s, id, r);
	return 1;
bad:
	reply_error(s, id, PE_BAD_REQUEST,
	            "audit.query takes optional \"casus\", \"user\", \"from_ms\", \"to_ms\", \"after\", \"limit\", "
	            "\"export\"");
	return 0;
}
