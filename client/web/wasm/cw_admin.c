/*
 * cw_admin.c: the wasm module's third face: changing a casus from the browser
 * and reading its audit trail, with the same core and the same crypto/ as
 * the C client (client/libcasus_membership.c, client/cli_audit.c).
 *
 *   cw_casus_build        a membership or level change (add, remove, escalate,
 *                         de-escalate, an own new device by its pairing code)
 *                         built and signed by the core; the commit is recorded
 *                         as the one this device expects at the head
 *   cw_casus_expect_clear the server did not take it (conflict): forget it
 *   cw_casus_changes      the verified chain's changes with the reasons this
 *                         device may read (the reason box opened by the core)
 *   cw_casus_grant        earlier messages shared with a member (grant v2, the
 *                         reason end-to-end encrypted)
 *   cw_casus_accept_grant a grant addressed to this device, judged by the core
 *   cw_casus_transfers    this device's keys sealed to the user's other devices
 *                         in the roster (the approving side of pairing)
 *   cw_casus_accept_transfer  keys from the user's other device (the new side)
 *   cw_pairing_code       this device's pairing code (as `casus whoami`)
 *   cw_audit_verify       audit.query pages: every entry decoded, checkpoints
 *                         signed by the audit key, the whole chain verified
 *                         when the trail is whole (the privacy officer), and
 *                         the data-subject report of one casus
 *
 * JavaScript hands over bytes it received (base64 inside a JSON document that
 * jansson parses here, never a hand-made parser) and sends what comes back;
 * it decides nothing. Every function returns 0 with JSON (and BIN) in the
 * output slots, or -1 with JSON = {code, message, warnings} as cw_core.c.
 */
#include "cw.h"
#include "cw_int.h"

#include <ccore.h>

#include <audit_export.h>
#include <audit_report.h>
#include <audit_trail.h>
#include <cc_audit.h>
#include <cc_buf.h>
#include <cc_casus.h>
#include <cc_err.h>
#include <cc_grant.h>
#include <cc_message.h>
#include <cc_policy.h>
#include <cc_transfer.h>
#include <cc_wrapkey.h>

#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __EMSCRIPTEN__
#include <emscripten/emscripten.h>
#define CW_API EMSCRIPTEN_KEEPALIVE
#else
#define CW_API
#endif

#define CWA_SPEC_MAX (8u * 1024u * 1024u)   /* a change or grant description */
#define CWA_AUDIT_MAX (64u * 1024u * 1024u) /* audit.query pages */
#define CWA_MSG_MAX (256u * 1024u)          /* one encoded message */
#define CWA_GRANT_MSGS 64                   /* messages in one grant */
#define CWA_REASON_MAX 4096                 /* bytes of a typed reason */
#define CWA_CERTS_MAX 64                    /* directory entries of one user */
#define CWA_WRAPKEYS_MAX 4096               /* wrap-key records for one change (roster + additions) */

/* A JSON document from the caller (bytes, length), parsed by jansson. */
static json_t *spec_load(const uint8_t *p, size_t n)
{
	if (!p || n == 0 || n > CWA_SPEC_MAX)
		return NULL;
	return json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, NULL);
}

/* base64 (standard, padded, as the transport's btoa) to malloc'd bytes; max
 * is the most accepted. 0 or -1. */
static int b64_get(const char *s, size_t max, uint8_t **out, size_t *len)
{
	*out = NULL;
	*len = 0;
	if (!s)
		return -1;
	size_t sl = strlen(s);
	if (sl == 0 || sl / 4 * 3 > max + 3)
		return -1;
	uint8_t *b = malloc(sl / 4 * 3 + 3);
	if (!b)
		return -1;
	if (sodium_base642bin(b, sl / 4 * 3 + 3, s, sl, NULL, len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    *len == 0 || *len > max) {
		free(b);
		return -1;
	}
	*out = b;
	return 0;
}

static json_t *b64_json(const uint8_t *p, size_t n)
{
	size_t cap = sodium_base64_ENCODED_LEN(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = malloc(cap);
	if (!s)
		return NULL;
	sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
	json_t *j = json_string(s);
	free(s);
	return j;
}

static const char *jstr(const json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* A typed reason: non-empty, at most CWA_REASON_MAX bytes, valid UTF-8 (jansson
 * gave it, so it is). */
static int reason_ok(const char *r)
{
	return r && *r && strlen(r) <= CWA_REASON_MAX;
}

/* The directory's certificates for user (spec "certs": base64 strings), each
 * judged by the core as libcasus's lookup_user does: root, valid now, the
 * revocation list, the user asked for. A revoked one refuses the whole list
 * (a hostile directory). *n = usable ones; -1 with the refusal written. */
static int dir_certs(const json_t *certs, const char *user, cc_cert **out, size_t *n)
{
	ccore *core = cw_i_core();
	size_t cnt = json_array_size(certs), i;
	json_t *o;
	*out = NULL;
	*n = 0;
	if (cnt == 0 || cnt > CWA_CERTS_MAX)
		return cw_i_refuse("not_found", "geen gecertificeerd apparaat van deze gebruiker bekend / "
		                                "no certified device of this user is known to the server");
	cc_cert *arr = calloc(cnt, sizeof *arr);
	if (!arr)
		return CC_ERR_NOMEM;
	int bad = CCORE_OK;
	json_array_foreach(certs, i, o) {
		uint8_t *cb = NULL;
		size_t cl = 0;
		cc_cert ct;
		int crc = b64_get(json_string_value(o), CC_CERT_MAX, &cb, &cl) == 0
		                  ? ccore_dir_cert(core, cb, cl, user, (int64_t)time(NULL), &ct)
		                  : CCORE_E_INVALID;
		free(cb);
		if (crc == CCORE_OK)
			arr[(*n)++] = ct;
		else if (crc == CCORE_E_REVOKED && bad == CCORE_OK)
			bad = crc;
	}
	if (bad != CCORE_OK || *n == 0) {
		free(arr);
		*n = 0;
		return bad != CCORE_OK
		               ? cw_i_refuse("revoked", "Ingetrokken apparaat in de adreslijst: geweigerd, er "
		                                        "wordt niets aan versleuteld. / The directory lists a "
		                                        "revoked device: refused, nothing is sealed to it")
		               : cw_i_refuse("not_found", "geen geldig certificaat van deze gebruiker / no valid "
		                                          "certificate of this user");
	}
	*out = arr;
	return 0;
}

static int build_refused(int crc)
{
	if (crc == CCORE_E_FORBIDDEN)
		return cw_i_refuse("forbidden", "het beleid staat dit niet toe voor uw rol / the policy does not allow "
		                                "this for your role");
	return cw_i_refuse_core(crc);
}

/* Device wrap keys (issue 17): the records the directory served
 * (dir.lookup: base64 CCWK records), each for a device of the roster or of
 * the change's additions, verified by the core against that device's
 * certificate (ccore_wrap_learn: a forged one is bad_signature, nothing is
 * built). A record of another device is not asked for and left out; a device
 * without one is sealed to its certified key. chg NULL: the roster only (a
 * grant). 0, or -1 with the refusal. */
static int wraps_learn(const json_t *recs, const cc_chain_state *st, const cc_commit_change *chg)
{
	size_t i;
	json_t *o;
	if (recs && (!json_is_array(recs) || json_array_size(recs) > CWA_WRAPKEYS_MAX))
		return cw_i_refuse("invalid", "wrapkeys");
	json_array_foreach(recs, i, o) {
		uint8_t *b = NULL;
		size_t bl = 0;
		cc_wrapkey wk;
		if (b64_get(json_string_value(o), CC_WRAPKEY_BYTES, &b, &bl) != 0 ||
		    cc_wrapkey_decode(b, bl, &wk) != CC_OK) {
			free(b);
			return cw_i_refuse("tampered",
			                   "een apparaatsleutel uit de adreslijst is onleesbaar / a wrap key "
			                   "the directory served does not decode: nothing is sealed");
		}
		const cc_cert *ct = NULL;
		int at = cc_chain_find(st, wk.device_id);
		if (at >= 0)
			ct = &st->roster[at].cert;
		for (size_t j = 0; !ct && chg && j < chg->nadd; j++)
			if (memcmp(chg->add[j].device_id, wk.device_id, CC_DEVICE_ID_BYTES) == 0)
				ct = &chg->add[j];
		int crc = ct ? ccore_wrap_learn(cw_i_core(), b, bl, ct) : CCORE_OK;
		free(b);
		if (crc != CCORE_OK)
			return cw_i_refuse_core(crc);
	}
	return 0;
}

/* A change of the casus, built and signed by the core with the policy, root
 * and revocation list it holds. spec (JSON bytes):
 *   {"op":"add","user":U,"certs":[b64...]}       the directory's answer for U
 *   {"op":"remove","user":U,"reason":R?}
 *   {"op":"level","level":N,"reason":R}          escalate or de-escalate
 *   {"op":"add_own","code":"XXXX-...","certs":[b64...]}  the own new device
 *       whose pairing code the user typed (never every device listed)
 * each with "wrapkeys":[b64...]: the directory's wrap-key records of the
 * roster and of the devices added (wraps_learn)
 * BIN = the commit for commit.post; JSON = {"type","level","sealed":[{user,
 * role,device,code}]} (whom the keys are sealed to, with pairing codes). The
 * commit is then the one this device expects at the head
 * (ccore_expect_head: a removal it makes blocks posting until verified). */
CW_API int cw_casus_build(const char *hex, const uint8_t *specb, size_t specn)
{
	cw_i_out_clear();
	ccore_casus *k = cw_i_casus(hex);
	const cc_device_keys *keys = NULL;
	const cc_cert *self = NULL;
	if (!k || cw_i_device(&keys, &self) != CC_OK)
		return cw_i_refuse("invalid", "casus not followed");
	const cc_chain_state *st = ccore_chain(k);
	if (!st || !st->started || !ccore_policy(cw_i_core()))
		return cw_i_refuse("no_policy", "nothing verified yet");
	json_t *spec = spec_load(specb, specn);
	const char *op = jstr(spec, "op");
	if (!op) {
		json_decref(spec);
		return cw_i_refuse("invalid", "change description");
	}
	cc_commit_change chg;
	memset(&chg, 0, sizeof chg);
	cc_cert *certs = NULL;
	size_t ncerts = 0;
	uint8_t(*ids)[CC_DEVICE_ID_BYTES] = NULL;
	int rc = 0;
	const char *reason = jstr(spec, "reason");
	if (strcmp(op, "add") == 0 || strcmp(op, "add_own") == 0) {
		int own = op[3] == '_';
		const char *user = own ? self->user_id : jstr(spec, "user");
		const char *code = jstr(spec, "code");
		if (!user || (own && !code))
			rc = cw_i_refuse("invalid", own ? "koppelcode nodig / the pairing code is needed" : "user");
		else if ((rc = dir_certs(json_object_get(spec, "certs"), user, &certs, &ncerts)) == 0) {
			size_t kk = 0, candidates = 0;
			for (size_t i = 0; i < ncerts; i++) {
				if (cc_chain_find(st, certs[i].device_id) >= 0)
					continue;
				if (own) {
					/* explicit pairing, as casus add-device --code */
					char pc[20];
					if (strcmp(certs[i].role, self->role) != 0)
						continue;
					candidates++;
					ccore_pairing_code(&certs[i], pc);
					if (strcmp(pc, code) != 0)
						continue;
				}
				certs[kk++] = certs[i];
			}
			ncerts = kk;
			if (!kk)
				rc = own && candidates
				             ? cw_i_refuse("pairing",
				                           "Geen nieuw apparaat van u met deze koppelcode. / No "
				                           "new device of yours shows this pairing code.")
				     : own ? cw_i_refuse("not_found",
				                         "al uw apparaten zijn al lid / every device of yours "
				                         "is a member already")
				           : cw_i_refuse("already_member",
				                         "is al lid van deze casus / is already a member");
			chg.type = CC_COMMIT_ADD;
			chg.add = certs;
			chg.nadd = ncerts;
			chg.reason = own ? "own device added" : "member added";
		}
	} else if (strcmp(op, "remove") == 0) {
		const char *user = jstr(spec, "user");
		ids = calloc(st->nroster ? st->nroster : 1, CC_DEVICE_ID_BYTES);
		size_t n = 0;
		if (!ids)
			rc = CC_ERR_NOMEM;
		for (size_t i = 0; ids && user && i < st->nroster; i++)
			if (strcmp(st->roster[i].cert.user_id, user) == 0)
				memcpy(ids[n++], st->roster[i].cert.device_id, CC_DEVICE_ID_BYTES);
		if (rc == 0 && !n)
			rc = cw_i_refuse("not_found", "is geen lid van deze casus / is not a member of this casus");
		if (rc == 0 && reason && *reason && !reason_ok(reason))
			rc = cw_i_refuse("invalid", "reden te lang / reason too long");
		chg.type = CC_COMMIT_REMOVE;
		chg.remove = (const uint8_t(*)[CC_DEVICE_ID_BYTES])ids;
		chg.nremove = n;
		chg.reason = reason && *reason ? reason : "member removed";
	} else if (strcmp(op, "level") == 0) {
		json_int_t lv = json_integer_value(json_object_get(spec, "level"));
		if (!reason_ok(reason))
			rc = cw_i_refuse("reason_required",
			                 "een niveauwijziging vraagt een reden / a level change needs a "
			                 "reason");
		else if (lv < 1 || lv > 255 || (uint8_t)lv == st->level)
			rc = cw_i_refuse("invalid",
			                 "de casus staat al op dit niveau / the casus is at this level already");
		chg.type = lv > st->level ? CC_COMMIT_ESCALATE : CC_COMMIT_DEESCALATE;
		chg.level = (uint8_t)lv;
		chg.reason = reason;
	} else {
		rc = cw_i_refuse("invalid", "unknown change");
	}
	if (rc != 0) {
		free(certs);
		free(ids);
		json_decref(spec);
		return rc;
	}
	/* the wrap keys of the roster and of the devices added, each verified by
	 * the core against that device's certificate (as libcasus's
	 * wrap_fetch_for); one not signed by its device refuses the change */
	if ((rc = wraps_learn(json_object_get(spec, "wrapkeys"), st, &chg)) != 0) {
		free(certs);
		free(ids);
		json_decref(spec);
		return rc;
	}
	cc_wbuf w;
	cc_w_init(&w);
	int crc = ccore_build(k, &chg, (int64_t)time(NULL), &w);
	if (crc == CCORE_OK && w.err)
		crc = CCORE_E_NOMEM;
	if (crc == CCORE_OK)
		crc = ccore_expect_head(k, w.p, w.len);
	if (crc != CCORE_OK)
		rc = build_refused(crc);
	else if ((rc = cw_i_out_bin(w.p, w.len)) == CC_OK) {
		json_t *sealed = json_array();
		for (size_t i = 0; sealed && i < chg.nadd; i++) {
			char dev[2 * CC_DEVICE_ID_BYTES + 1], pc[20];
			cc_device_id_hex(certs[i].device_id, dev);
			ccore_pairing_code(&certs[i], pc);
			json_array_append_new(sealed, json_pack("{ssssssss}", "user", certs[i].user_id, "role",
			                                        certs[i].role, "device", dev, "code", pc));
		}
		const char *tn = cc_commit_type_name(chg.type);
		rc = cw_i_answer(json_pack("{sssiso}", "type", tn ? tn : "?", "level",
		                           (int)(chg.level ? chg.level : st->level), "sealed",
		                           sealed ? sealed : json_array()));
	}
	cc_w_free(&w);
	free(certs);
	free(ids);
	json_decref(spec);
	return rc;
}

/* The server did not take the commit (conflict, refused): nothing is
 * expected at the head any more (a removal not posted removed nobody). */
CW_API int cw_casus_expect_clear(const char *hex)
{
	cw_i_out_clear();
	ccore_casus *k = cw_i_casus(hex);
	if (!k)
		return cw_i_refuse("invalid", "casus not followed");
	(void)ccore_expect_head(k, NULL, 0);
	return cw_i_answer(json_object());
}

/* The verified chain's changes: JSON = {"changes":[{"epoch","type","level",
 * "time","by":{user,name,org,role}|null,"reason"?}]}; reason only where this
 * device was in the roster the commit made (the reason box opened). */
CW_API int cw_casus_changes(const char *hex)
{
	cw_i_out_clear();
	ccore_casus *k = cw_i_casus(hex);
	if (!k)
		return cw_i_refuse("invalid", "casus not followed");
	json_t *arr = json_array();
	for (uint64_t e = 0; arr && e < ccore_epochs(k); e++) {
		ccore_commit_info_t ci;
		if (ccore_commit_info(k, e, &ci) != CCORE_OK)
			continue;
		const cc_cert *by = ccore_cert(k, ci.actor);
		const char *tn = cc_commit_type_name(ci.type);
		json_t *ch = json_pack("{sIsssisI}", "epoch", (json_int_t)ci.epoch, "type", tn ? tn : "?", "level",
		                       (int)ci.level, "time", (json_int_t)ci.time);
		if (!ch)
			continue;
		json_object_set_new(ch, "by",
		                    by ? json_pack("{ssssssss}", "user", by->user_id, "name", by->name, "org", by->org,
		                                   "role", by->role)
		                       : json_null());
		if (ci.reason)
			json_object_set_new(ch, "reason", json_string(ci.reason));
		json_array_append_new(arr, ch);
	}
	return cw_i_answer(json_pack("{so}", "changes", arr ? arr : json_array()));
}

/* Earlier messages shared with a member: spec = {"user","ground","reason",
 * "msgs":[b64...],"wrapkeys":[b64...]} (the messages as the history served
 * them, found by the caller by the ids the core gave; the directory's wrap-key
 * records of the roster, verified by the core: wraps_learn). The grant is made
 * by crypto/ as `casus share` makes it: a ground, the reason in a box sealed
 * to the grantees and the granter, every box sealed to the device's newest
 * verified wrap key (grant v3; v2 if no device has one). BIN = the grant for
 * grant.post; JSON = {"grantees","messages"}. */
CW_API int cw_casus_grant(const char *hex, const uint8_t *specb, size_t specn)
{
	cw_i_out_clear();
	ccore_casus *k = cw_i_casus(hex);
	const cc_policy *pol = ccore_policy(cw_i_core());
	if (!k || !pol)
		return cw_i_refuse("invalid", "casus not followed");
	const cc_chain_state *st = ccore_chain(k);
	json_t *spec = spec_load(specb, specn);
	const char *user = jstr(spec, "user"), *reason = jstr(spec, "reason"), *ground = jstr(spec, "ground");
	json_t *msgs = json_object_get(spec, "msgs");
	size_t n = json_array_size(msgs);
	int g = ground ? cc_ground_from_name(ground) : -1;
	int rc = 0;
	if (!spec || !user || !st || !st->started)
		rc = cw_i_refuse("invalid", "share description");
	else if (g <= 0)
		rc = cw_i_refuse("ground_required", "delen vraagt een grondslag / sharing needs a disclosure ground");
	else if (!reason_ok(reason))
		rc = cw_i_refuse("reason_required", "delen vraagt een reden / sharing needs a reason");
	else if (n == 0 || n > CWA_GRANT_MSGS)
		rc = cw_i_refuse("invalid", "kies 1 tot 64 berichten / choose 1 to 64 messages");
	if (rc != 0) {
		json_decref(spec);
		return rc;
	}
	uint8_t(*grantees)[CC_DEVICE_ID_BYTES] = calloc(st->nroster ? st->nroster : 1, CC_DEVICE_ID_BYTES);
	uint8_t **mb = calloc(n, sizeof *mb);
	size_t *ml = calloc(n, sizeof *ml);
	size_t ng = 0;
	if (!grantees || !mb || !ml)
		rc = CC_ERR_NOMEM;
	for (size_t i = 0; rc == 0 && i < st->nroster; i++)
		if (strcmp(st->roster[i].cert.user_id, user) == 0)
			memcpy(grantees[ng++], st->roster[i].cert.device_id, CC_DEVICE_ID_BYTES);
	if (rc == 0 && !ng)
		rc = cw_i_refuse("not_found", "is geen lid: voeg eerst toe / is not a member: add them first");
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (b64_get(json_string_value(json_array_get(msgs, i)), CWA_MSG_MAX, &mb[i], &ml[i]) != 0)
			rc = cw_i_refuse("invalid", "message bytes");
	if (rc == 0)
		rc = wraps_learn(json_object_get(spec, "wrapkeys"), st, NULL);
	if (rc == 0) {
		cc_wbuf w;
		cc_w_init(&w);
		size_t nwt = 0;
		const cc_wrap_target *wt = ccore_wrap_targets(cw_i_core(), &nwt);
		int crc = cc_casus_grant_wraps(ccore_cc(k), pol, (const uint8_t(*)[CC_DEVICE_ID_BYTES])grantees, ng,
		                               (const uint8_t *const *)mb, ml, n, (uint8_t)g, reason, wt, nwt,
		                               (int64_t)time(NULL), &w);
		if (crc == CC_ERR_FORBIDDEN || crc == CC_ERR_LEVEL)
			rc = cw_i_refuse("forbidden", "het beleid staat dit delen niet toe / the policy does not allow "
			                              "this share");
		else if (crc != CC_OK || w.err)
			rc = cw_i_refuse(crc == CC_ERR_NO_KEY ? "no_key" : "invalid", cc_strerror(crc ? crc : w.err));
		else if ((rc = cw_i_out_bin(w.p, w.len)) == CC_OK)
			rc = cw_i_answer(json_pack("{sIsI}", "grantees", (json_int_t)ng, "messages", (json_int_t)n));
		cc_w_free(&w);
	}
	for (size_t i = 0; mb && i < n; i++)
		free(mb[i]);
	free(mb);
	free(ml);
	free(grantees);
	json_decref(spec);
	return rc;
}

/* One grant of grant.fetch: spec = {"grant":b64,"messages":[{"seq","msg"}]}.
 * The core checks every message is in an audience this device's role may
 * read at the casus's level, then the grant (granter, signature, ground,
 * reason box) and keeps the message keys; nothing is kept on a refusal.
 * JSON = {"messages","by":{user,name,org,role},"ground","reason"}: who shared
 * them, on which ground and the reason opened for this device. The messages are then opened with cw_casus_message. */
CW_API int cw_casus_accept_grant(const char *hex, const uint8_t *specb, size_t specn)
{
	cw_i_out_clear();
	ccore_casus *k = cw_i_casus(hex);
	if (!k)
		return cw_i_refuse("invalid", "casus not followed");
	json_t *spec = spec_load(specb, specn);
	json_t *ms = json_object_get(spec, "messages");
	size_t n = json_array_size(ms);
	uint8_t *gb = NULL;
	size_t gl = 0;
	if (!spec || n > CWA_GRANT_MSGS || b64_get(jstr(spec, "grant"), CC_COMMIT_MAX_BYTES, &gb, &gl) != 0) {
		json_decref(spec);
		return cw_i_refuse("tampered", "grant");
	}
	uint8_t **mb = calloc(n ? n : 1, sizeof *mb);
	size_t *ml = calloc(n ? n : 1, sizeof *ml);
	int crc = mb && ml ? CCORE_OK : CCORE_E_NOMEM;
	for (size_t i = 0; crc == CCORE_OK && i < n; i++)
		if (b64_get(jstr(json_array_get(ms, i), "msg"), CWA_MSG_MAX, &mb[i], &ml[i]) != 0)
			crc = CCORE_E_TAMPERED;
	if (crc == CCORE_OK)
		crc = ccore_accept_grant(k, gb, gl, (const uint8_t *const *)mb, ml, n);
	for (size_t i = 0; mb && i < n; i++)
		free(mb[i]);
	free(mb);
	free(ml);
	json_decref(spec);
	if (crc != CCORE_OK) {
		free(gb);
		return cw_i_refuse_core(crc);
	}
	/* verified: who shared, on which ground and why (the reason box opened
	 * for this device; the core checked it opens) */
	json_t *o = json_pack("{sI}", "messages", (json_int_t)n);
	cc_grant g;
	const cc_device_keys *keys = NULL;
	const cc_cert *self = NULL;
	if (o && cc_grant_decode(gb, gl, &g) == CC_OK) {
		char *reason = sodium_malloc(CC_GRANT_REASON_MAX + 1);
		const cc_cert *by = ccore_cert(k, g.granter);
		const char *gn = cc_ground_name(g.ground);
		if (by)
			json_object_set_new(o, "by",
			                    json_pack("{ssssssss}", "user", by->user_id, "name", by->name, "org",
			                              by->org, "role", by->role));
		if (gn)
			json_object_set_new(o, "ground", json_string(gn));
		/* with this device's wrap secrets: a grant v3 names the wrap key its
		 * reason key is sealed to (version 0: the certified box key) */
		const cc_wrap_secret *ws = NULL;
		size_t nws = 0;
		uint32_t newest = 0;
		cw_i_wraps(&ws, &nws, &newest);
		if (reason && cw_i_device(&keys, &self) == CC_OK &&
		    cc_grant_open_reason_wraps(&g, keys, ws, nws, reason, CC_GRANT_REASON_MAX + 1) == CC_OK)
			json_object_set_new(o, "reason", json_string(reason));
		if (reason)
			sodium_free(reason); /* wiped by sodium_free */
		cc_grant_free(&g);
	}
	free(gb);
	return cw_i_answer(o);
}

/* The approving side of pairing: this device's keys of the casus sealed to
 * every other device of its user and role in the verified roster (as `casus
 * add-device` does after adding it). JSON = {"transfers":[{"device",
 * "transfer":b64}]} for transfer.post, one each. */
CW_API int cw_casus_transfers(const char *hex)
{
	const cc_device_keys *keys = NULL;
	const cc_cert *self = NULL;
	cw_i_out_clear();
	ccore_casus *k = cw_i_casus(hex);
	if (!k || cw_i_device(&keys, &self) != CC_OK)
		return cw_i_refuse("invalid", "casus not followed");
	const cc_chain_state *st = ccore_chain(k);
	json_t *arr = json_array();
	int rc = 0;
	for (size_t i = 0; arr && rc == 0 && st && i < st->nroster; i++) {
		const cc_cert *ct = &st->roster[i].cert;
		if (strcmp(ct->user_id, self->user_id) != 0 ||
		    memcmp(ct->device_id, self->device_id, CC_DEVICE_ID_BYTES) == 0 ||
		    strcmp(ct->role, self->role) != 0)
			continue;
		cc_wbuf w;
		cc_w_init(&w);
		/* sealed to the device's newest verified wrap key: the add_own
		 * change just before learned it (wraps_learn); its certified box key
		 * if it has none */
		int crc = cc_casus_transfer_create_wrap(ccore_cc(k), ct, ccore_wrap_target(cw_i_core(), ct->device_id),
		                                        (int64_t)time(NULL), &w);
		if (crc != CC_OK || w.err)
			rc = cw_i_refuse("invalid", cc_strerror(crc ? crc : w.err));
		else {
			char dev[2 * CC_DEVICE_ID_BYTES + 1];
			cc_device_id_hex(ct->device_id, dev);
			json_array_append_new(arr,
			                      json_pack("{ssso}", "device", dev, "transfer", b64_json(w.p, w.len)));
		}
		cc_w_free(&w);
	}
	if (rc != 0) {
		json_decref(arr);
		return rc;
	}
	return cw_i_answer(json_pack("{so}", "transfers", arr ? arr : json_array()));
}

/* The new side of pairing: a transfer of transfer.fetch (signed by the user's
 * other device, sealed to this one; every key checked against its epoch's
 * commitment). JSON = {"imported"}: keys that were new. */
CW_API int cw_casus_accept_transfer(const char *hex, const uint8_t *p, size_t n)
{
	cw_i_out_clear();
	ccore_casus *k = cw_i_casus(hex);
	if (!k)
		return cw_i_refuse("invalid", "casus not followed");
	if (!p || n == 0 || n > CC_TRANSFER_MAX_BYTES)
		return cw_i_refuse("tampered", "transfer size");
	size_t got = 0;
	int crc = ccore_accept_transfer(k, p, n, &got);
	if (crc != CCORE_OK)
		return cw_i_refuse_core(crc);
	return cw_i_answer(json_pack("{sI}", "imported", (json_int_t)got));
}

/* This device's pairing code (4 groups of 4 hex digits), as `casus whoami`
 * shows it: the user's other device types it to add exactly this device. */
CW_API int cw_pairing_code(void)
{
	const cc_device_keys *keys = NULL;
	const cc_cert *self = NULL;
	char pc[20];
	cw_i_out_clear();
	if (cw_i_device(&keys, &self) != CC_OK)
		return cw_i_refuse("no_device", "geen apparaat geopend / no device open");
	ccore_pairing_code(self, pc);
	return cw_i_answer(json_pack("{ss}", "code", pc));
}

/* ---- the audit trail ------------------------------------------------------------ */

static int hexn(const char *h, uint8_t *out, size_t n)
{
	size_t bl = 0;
	const char *end = NULL;
	if (!h || strlen(h) != 2 * n)
		return -1;
	return sodium_hex2bin(out, n, h, 2 * n, NULL, &bl, &end) == 0 && bl == n && *end == 0 ? 0 : -1;
}

static json_t *audit_entry_json(const cc_audit_trail_rec *x, const cc_audit_entry *all, size_t nall)
{
	const cc_audit_entry *e = &x->e;
	char cid[33], when[CC_AUDIT_TIME_ISO_BYTES], nm[CC_AUDIT_OBJECT_MAX + 1] = "";
	sodium_bin2hex(cid, sizeof cid, e->casus_id, 16);
	cc_audit_time_iso(e->time_ms, when);
	if (e->actor_user[0])
		(void)cc_audit_person_name(all, nall, e->actor_user, nm, sizeof nm);
	const char *ev = cc_audit_event_name(e->event), *oc = cc_audit_outcome_name(e->outcome),
		   *gn = cc_audit_ground_name(e->ground);
	json_t *o = json_object();
	json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "event", json_string(ev ? ev : "?"));
	json_object_set_new(o, "outcome", json_string(oc ? oc : "?"));
	json_object_set_new(o, "user", json_string(e->actor_user));
	json_object_set_new(o, "name", json_string(nm));
	json_object_set_new(o, "role", json_string(e->actor_role));
	json_object_set_new(o, "org", json_string(e->actor_org));
	json_object_set_new(o, "casus", json_string(cid));
	json_object_set_new(o, "level", json_integer(e->level));
	json_object_set_new(o, "level_prev", json_integer(e->level_prev));
	json_object_set_new(o, "ground", json_string(gn ? gn : "?"));
	json_object_set_new(o, "break_glass", json_boolean(e->break_glass));
	json_object_set_new(o, "object", json_string(e->object));
	json_object_set_new(o, "error", json_string(e->error));
	return o;
}

/* audit.query pages as the server answered them (bytes of a JSON array of
 * the answers, in order), verified by the driver `casus audit` uses
 * (audit/audit_trail.c): every entry must decode; with whole = 1 (the privacy
 * officer's unfiltered trail) the whole hash chain, every checkpoint and
 * every witness cosignature are verified from genesis or the signed anchor
 * (a rewritten trail whose checkpoints were re-signed fails on the
 * cosignatures), with this device's key as the witness that counts, else
 * each checkpoint must be signed by the audit key. pinned_hex: the audit key
 * typed by the user (64 hex digits) or "" to use the key the server sent (the
 * answer says which). casus_hex: "" or the casus to list and report on.
 * JSON = {"verified","scope","key_pinned","entries_verified",
 * "checkpoints_verified","unsealed","witnessed","cosignatures",
 * "last_witness"...,"entries":[...of the casus],
 * "report":{cc_audit_report_json}|null}; a fault is -1 with code
 * "audit_fault" (or "audit_key_mismatch") and the fault named. */
CW_API int cw_audit_verify(const uint8_t *pagesb, size_t pagesn, const char *pinned_hex, const char *casus_hex,
                           int whole)
{
	cw_i_out_clear();
	if (!pagesb || pagesn == 0 || pagesn > CWA_AUDIT_MAX)
		return cw_i_refuse("invalid", "audit pages size");
	json_t *pages = json_loadb((const char *)pagesb, pagesn, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_array(pages)) {
		json_decref(pages);
		return cw_i_refuse("audit_fault", "de server stuurde geen leesbaar auditspoor / the server's audit "
		                                  "answer does not decode");
	}
	uint8_t casus[16], pinned[CC_SIGN_PK_BYTES];
	int have_casus = casus_hex && *casus_hex, key_pinned = pinned_hex && *pinned_hex;
	if ((have_casus && hexn(casus_hex, casus, 16) != 0) ||
	    (key_pinned && hexn(pinned_hex, pinned, CC_SIGN_PK_BYTES) != 0)) {
		json_decref(pages);
		return cw_i_refuse("invalid", "casus id (32) or audit key (64 hex digits)");
	}
	cc_audit_trail t;
	cc_audit_trail_init(&t);
	char fault[200] = "";
	size_t pi;
	json_t *pg;
	json_array_foreach(pages, pi, pg) {
		if (cc_audit_trail_add_page(&t, pg, fault, sizeof fault) != CC_OK)
			break;
	}
	json_decref(pages);
	int rc = 0;
	cc_audit_verifier v;
	memset(&v, 0, sizeof v);
	const uint8_t *pk = key_pinned ? pinned : t.server_pk;
	if (fault[0] || !t.has_key)
		rc = cw_i_refuse("audit_fault", fault[0] ? fault : "the server sent no audit key");
	else if (key_pinned && sodium_memcmp(pinned, t.server_pk, CC_SIGN_PK_BYTES) != 0)
		rc = cw_i_refuse("audit_key_mismatch", "De auditsleutel van de server wijkt af van de vastgelegde "
		                                       "sleutel: vertrouw dit spoor niet. / The server's audit key "
		                                       "differs from the pinned key: do not trust this trail.");
	else if (!whole) {
		if (cc_audit_trail_check_signed(&t, pk) != CC_OK)
			rc = cw_i_refuse("audit_fault", "a checkpoint from the server is not signed by the audit key");
	} else {
		const cc_device_keys *keys = NULL;
		const cc_cert *self = NULL;
		const uint8_t *witness = cw_i_device(&keys, &self) == CC_OK ? self->sign_pk : NULL;
		if (cc_audit_trail_verify(&t, pk, witness, NULL, &v, NULL) != CC_OK) {
			char m[400];
			snprintf(
				m, sizeof m,
				"Het auditspoor is veranderd bij volgnummer %llu (%s). / The audit trail was altered at "
				"entry %llu: %s",
				(unsigned long long)v.fault_seq, cc_audit_fault_name(v.fault),
				(unsigned long long)v.fault_seq, cc_audit_fault_text(v.fault));
			rc = cw_i_refuse("audit_fault", m);
		}
	}
	size_t n = t.n;
	cc_audit_entry *all = rc == 0 && n ? malloc(n * sizeof *all) : NULL;
	if (rc == 0 && n && !all)
		rc = cw_i_refuse("audit_fault", "out of memory");
	if (rc == 0) {
		for (size_t e = 0; e < n; e++)
			all[e] = t.r[e].e;
		json_t *list = json_array();
		for (size_t e = 0; list && e < n; e++)
			if (!have_casus || memcmp(t.r[e].e.casus_id, casus, 16) == 0)
				json_array_append_new(list, audit_entry_json(&t.r[e], all, n));
		json_t *report = json_null();
		if (have_casus) {
			cc_audit_report_opts ro;
			memset(&ro, 0, sizeof ro);
			memcpy(ro.casus_id, casus, 16);
			ro.generated_ms = (int64_t)time(NULL) * 1000;
			char *s = cc_audit_report_json(all, n, &ro);
			json_t *rj = s ? json_loads(s, 0, NULL) : NULL;
			free(s);
			if (rj) {
				json_decref(report);
				report = rj;
			}
		}
		json_t *out =
			json_pack("{sbsssbsIsIsIsoso}", "verified", whole ? 1 : 0, "scope", whole ? "full" : "casus",
		                  "key_pinned", key_pinned, "entries_verified", (json_int_t)(whole ? v.entries : n),
		                  "checkpoints_verified", (json_int_t)(whole ? v.checkpoints : t.ncp), "unsealed",
		                  (json_int_t)(whole ? cc_audit_verifier_unsealed(&v) : 0), "entries",
		                  list ? list : json_array(), "report", report);
		if (out && whole)
			cc_audit_trail_witness_json(out, &v);
		rc = cw_i_answer(out);
	}
	free(all);
	cc_audit_trail_free(&t);
	return rc;
}
