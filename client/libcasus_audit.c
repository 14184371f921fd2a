/*
 * libcasus_audit.c: the audit trail: one query and the paged, bounded fetch of
 * a whole trail (libcasus_int.h).
 */
#include "libcasus_int.h"
#include "libcasus_audit.h"

/* ---- audit ---------------------------------------------------------------------------- */

int casus_audit_query(casus_client *c, json_t *query, json_t **out)
{
	lc_clear_err(c);
	json_t *req = json_deep_copy(query);
	json_object_set_new(req, "type", json_string("audit.query"));
	json_t *r = NULL;
	int rc = lc_request(c, req, &r);
	if (rc)
		return rc;
	json_t *entries = json_array();
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(r, "entries"), i, o) {
		uint8_t *eb = NULL;
		size_t el = 0;
		cc_audit_entry e;
		if (proto_get_b64(o, "entry", CC_AUDIT_ENTRY_MAX, &eb, &el) ||
		    cc_audit_entry_decode(eb, el, &e) != CC_OK) {
			free(eb);
			continue;
		}
		free(eb);
		char cid[33], dev[33];
		proto_hex16(e.casus_id, cid);
		proto_hex16(e.actor_device, dev);
		const char *ev = cc_audit_event_name(e.event);
		const char *oc = cc_audit_outcome_name(e.outcome);
		const char *gn = cc_audit_ground_name(e.ground);
		json_t *x = json_object();
		json_object_set_new(x, "seq", json_integer((json_int_t)e.seq));
		json_object_set_new(x, "time_ms", json_integer((json_int_t)e.time_ms));
		json_object_set_new(x, "event", json_string(ev ? ev : "?"));
		json_object_set_new(x, "outcome", json_string(oc ? oc : "?"));
		json_object_set_new(x, "user", json_string(e.actor_user));
		json_object_set_new(x, "device", json_string(dev));
		json_object_set_new(x, "role", json_string(e.actor_role));
		json_object_set_new(x, "org", json_string(e.actor_org));
		json_object_set_new(x, "on_behalf_of", json_string(e.on_behalf_of));
		json_object_set_new(x, "casus", json_string(cid));
		json_object_set_new(x, "purpose", json_string(e.purpose));
		json_object_set_new(x, "legal_basis", json_string(e.legal_basis));
		json_object_set_new(x, "level", json_integer(e.level));
		json_object_set_new(x, "level_prev", json_integer(e.level_prev));
		json_object_set_new(x, "break_glass", json_boolean(e.break_glass));
		json_object_set_new(x, "seq_from", json_integer((json_int_t)e.seq_from));
		json_object_set_new(x, "seq_to", json_integer((json_int_t)e.seq_to));
		json_object_set_new(x, "ground", json_string(gn ? gn : "?"));
		json_object_set_new(x, "object", json_string(e.object));
		json_object_set_new(x, "access_point", json_string(e.access_point));
		json_object_set_new(x, "reason", json_string(e.reason));
		json_object_set_new(x, "error", json_string(e.error));
		json_array_append_new(entries, x);
	}
	json_t *res =
		json_pack("{soso}", "entries", entries, "more", json_boolean(json_is_true(json_object_get(r, "more"))));
	json_object_set(res, "raw", r);
	json_decref(r);
	*out = res;
	return CASUS_OK;
}

/* The whole trail a query selects, page by page (after = the last entry's
 * sequence number), bounded: pages that bring no newer entry while the
 * server says "more" end the fetch with the core's paging verdict. */
int casus_audit_fetch(casus_client *c, const json_t *query, const char *export_kind, const char *export_casus,
                      size_t page_limit, json_t **pages)
{
	lc_clear_err(c);
	*pages = NULL;
	json_t *all = json_array();
	uint64_t after = 0;
	ccore_pager pg = {0};
	for (;;) {
		json_t *req = json_deep_copy(query);
		json_object_set_new(req, "type", json_string("audit.query"));
		json_object_set_new(req, "after", json_integer((json_int_t)after));
		json_object_set_new(req, "limit", json_integer((json_int_t)page_limit));
		if (export_kind) {
			/* one export entry per export: only the first page asks */
			json_object_set_new(req, "export", json_string(export_kind));
			if (export_casus)
				json_object_set_new(req, "export_casus", json_string(export_casus));
			export_kind = NULL;
		}
		json_t *r = NULL;
		int rc = lc_request(c, req, &r);
		if (rc) {
			json_decref(all);
			return rc;
		}
		uint64_t last = after;
		size_t i;
		json_t *o;
		json_array_foreach(json_object_get(r, "entries"), i, o) {
			uint8_t *eb = NULL;
			size_t el = 0;
			cc_audit_entry e;
			if (proto_get_b64(o, "entry", CC_AUDIT_ENTRY_MAX, &eb, &el) == 0 &&
			    cc_audit_entry_decode(eb, el, &e) == CC_OK && e.seq > last)
				last = e.seq;
			free(eb);
		}
		int more = json_is_true(json_object_get(r, "more"));
		json_array_append_new(all, r);
		int step = ccore_paging_step(&pg, last > after ? 1 : 0, more);
		if (step < 0) {
			json_decref(all);
			return lc_core_fail(c, step);
		}
		if (!step)
			break;
		after = last;
	}
	*pages = all;
	return CASUS_OK;
}

/* Countersign checkpoints as a witness with this device's identity key
 * (cc_audit_cosign) and hand them to the server (audit.cosign, in batches of
 * 64). The caller has verified the trail they belong to. */
int casus_audit_cosign(casus_client *c, const uint8_t audit_pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *cps,
                       size_t n, int64_t now_ms)
{
	lc_clear_err(c);
	if (!c->keys || !c->have_cert)
		return lc_fail(c, CASUS_E_PROFILE, "this device has no certificate to witness with");
	for (size_t at = 0; at < n;) {
		json_t *arr = json_array();
		for (size_t k = 0; k < 64 && at < n; k++, at++) {
			cc_audit_cosign cs;
			cc_wbuf w;
			cc_w_init(&w);
			int rc = cc_audit_cosign_make(&cs, audit_pk, &cps[at], now_ms, c->cert.device_id,
			                              c->cert.sign_pk, c->cert.user_id, c->keys->sign_sk);
			if (rc == CC_OK)
				rc = cc_audit_cosign_encode(&cs, &w);
			if (rc != CC_OK || w.err) {
				cc_w_free(&w);
				json_decref(arr);
				return lc_fail(c, CASUS_E_INTERNAL, "could not make a cosignature");
			}
			json_t *tmp = json_object();
			proto_set_b64(tmp, "c", w.p, w.len);
			json_array_append(arr, json_object_get(tmp, "c"));
			json_decref(tmp);
			cc_w_free(&w);
		}
		json_t *req = json_pack("{ssso}", "type", "audit.cosign", "cosigns", arr);
		json_t *r = NULL;
		int rc = lc_request(c, req, &r);
		json_decref(r);
		if (rc)
			return rc;
	}
	return CASUS_OK;
}

/* This device's identity (signing) public key: what a witness pins. */
int casus_self_sign_pk(const casus_client *c, uint8_t pk[CC_SIGN_PK_BYTES])
{
	if (!c->have_cert)
		return -1;
	memcpy(pk, c->cert.sign_pk, CC_SIGN_PK_BYTES);
	return 0;
}

const char *casus_profile_dir(const casus_client *c)
{
	return c->dir;
}

int casus_audit_receipts_fetch(casus_client *c, uint64_t after, json_t **out)
{
	lc_clear_err(c);
	json_t *req = json_pack("{sssI}", "type", "audit.receipts", "after", (json_int_t)after);
	return lc_request(c, req, out);
}

int casus_self_device_id(const casus_client *c, uint8_t id[CC_AUDIT_ID_BYTES])
{
	if (!c->have_cert)
		return -1;
	memcpy(id, c->cert.device_id, CC_AUDIT_ID_BYTES);
	return 0;
}
