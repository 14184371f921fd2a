/*
 * cw_core.c: the client core (client/core/ccore.h) as the wasm module's
 * second face: the case conference in the browser.
 *
 * Every trust decision the C client's libcasus asks the core, the browser
 * asks the same core through these functions: the signed policy and
 * revocation list (never going back), each commit of a casus's chain (bound
 * to the casus, continuing the verified copy, not dated ahead, the head valid
 * now), each message (epoch, sender, stream order, replay), which audiences
 * this device may write to and who will read them, and whether a post may be
 * encrypted at all (an own removal not yet seen blocks it). JavaScript moves
 * the bytes and draws what comes back; it decides nothing.
 *
 * One core per open device (cw_core_start after cw_open and login; freed by
 * cw_close), with up to CWC_MAX_CASUS casus followed in it. Results go to the
 * output slots of cw.c: JSON = a description, BIN = bytes to send. Every
 * function returns 0, or -1 with JSON = {"code","message"}: code is the core's
 * stable contract code ("revoked", "withheld_commit", "ground_required", ...;
 * docs/CLIENT.md), message the core's sentence (Dutch, then English). Every
 * JSON answer, success or not, carries "warnings": what the core could not
 * refuse but the user must see ([{code,message}], ccore_take_warnings).
 *
 * Inputs are (pointer, length) pairs or NUL-terminated strings in wasm memory
 * owned by the caller; lengths are checked here before use. The current time
 * is the browser's clock (time(), Date.now() under emscripten), as the C
 * client uses the system clock.
 */
#include "cw.h"
#include "cw_int.h"

#include <ccore.h>
#include <ccore_notes.h>

#include <cc_buf.h>
#include <cc_casus.h>
#include <cc_err.h>
#include <cc_message.h>
#include <cc_policy.h>

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

#define CWC_MAX_CASUS 256
#define CWC_POLICY_MAX (1024u * 1024u)
#define CWC_REVLIST_MAX (16u * 1024u * 1024u)
#define CWC_MSG_MAX (256u * 1024u)
#define CWC_TEXT_MAX (64u * 1024u) /* bytes of one note's text */

static struct {
	ccore *core;
	struct {
		char hex[2 * CC_CASUS_ID_BYTES + 1];
		ccore_casus *k;
	} casus[CWC_MAX_CASUS];
	size_t ncasus;
} g;

void cw_core_forget(void)
{
	for (size_t i = 0; i < g.ncasus; i++)
		ccore_casus_free(g.casus[i].k);
	ccore_free(g.core);
	memset(&g, 0, sizeof g);
}

static json_t *warnings(void)
{
	json_t *w = g.core ? ccore_take_warnings(g.core) : NULL;
	return w ? w : json_array();
}

/* A JSON answer with the warnings added; o stolen. */
static int answer(json_t *o)
{
	if (!o)
		return CC_ERR_NOMEM;
	json_object_set_new(o, "warnings", warnings());
	return cw_i_out_json(o) == CC_OK ? 0 : CC_ERR_NOMEM;
}

/* A refusal: JSON = {code, message, warnings}; returns -1. */
static int refuse(const char *code, const char *message)
{
	cw_i_out_clear();
	if (answer(json_pack("{ssss}", "code", code, "message", message ? message : "")) != 0)
		return CC_ERR_NOMEM;
	return -1;
}

static int refuse_core(int crc)
{
	return refuse(ccore_code(crc), g.core ? ccore_message(g.core) : "");
}

/* For cw_admin.c (cw_int.h). */
ccore *cw_i_core(void)
{
	return g.core;
}
int cw_i_answer(json_t *o)
{
	return answer(o);
}
int cw_i_refuse(const char *code, const char *message)
{
	return refuse(code, message);
}
int cw_i_refuse_core(int crc)
{
	return refuse_core(crc);
}

static int hex16(const char *hex, uint8_t out[CC_CASUS_ID_BYTES])
{
	size_t n = 0;
	const char *end = NULL;
	if (!hex || strlen(hex) != 2 * CC_CASUS_ID_BYTES)
		return -1;
	if (sodium_hex2bin(out, CC_CASUS_ID_BYTES, hex, 2 * CC_CASUS_ID_BYTES, NULL, &n, &end) != 0 ||
	    n != CC_CASUS_ID_BYTES || *end != 0)
		return -1;
	return 0;
}

/* The followed casus for hex, made when create is set; NULL if none. */
static ccore_casus *casus_get(const char *hex, int create)
{
	uint8_t id[CC_CASUS_ID_BYTES];
	char norm[2 * CC_CASUS_ID_BYTES + 1];
	if (!g.core || hex16(hex, id) != 0)
		return NULL;
	sodium_bin2hex(norm, sizeof norm, id, sizeof id);
	for (size_t i = 0; i < g.ncasus; i++)
		if (strcmp(g.casus[i].hex, norm) == 0)
			return g.casus[i].k;
	if (!create || g.ncasus == CWC_MAX_CASUS)
		return NULL;
	ccore_casus *k = NULL;
	if (ccore_casus_new(g.core, id, &k) != CCORE_OK)
		return NULL;
	memcpy(g.casus[g.ncasus].hex, norm, sizeof norm);
	g.casus[g.ncasus].k = k;
	g.ncasus++;
	return k;
}

ccore_casus *cw_i_casus(const char *hex)
{
	return casus_get(hex, 0);
}

static json_t *policy_json(const cc_policy *p)
{
	json_t *levels = json_array(), *aud = json_array();
	for (uint8_t i = 0; levels && i < p->nlevels; i++)
		json_array_append_new(levels,
		                      json_pack("{si ss}", "level", p->levels[i].level, "name", p->levels[i].name));
	for (uint8_t i = 0; aud && i < p->naudiences; i++)
		json_array_append_new(aud, json_string(p->audiences[i].name));
	return json_pack("{sIsssoso}", "number", (json_int_t)p->number, "deployment", p->deployment, "levels", levels,
	                 "audiences", aud);
}

static const char *level_name(const cc_policy *p, uint8_t level)
{
	for (uint8_t i = 0; i < p->nlevels; i++)
		if (p->levels[i].level == level)
			return p->levels[i].name;
	return "";
}

/* ---- the core of the open device ------------------------------------------------ */

/* A new core for the open device (after cw_open with a certificate), pinned
 * to the deployment root (64 hex digits). Forgets any earlier core. */
CW_API int cw_core_start(const char *root_hex)
{
	const cc_device_keys *keys = NULL;
	const cc_cert *cert = NULL;
	uint8_t root[CC_SIGN_PK_BYTES];
	cw_core_forget();
	cw_i_out_clear();
	if (cw_i_device(&keys, &cert) != CC_OK)
		return refuse("no_device", "geen apparaat geopend / no device open");
	if (cw_i_hex32(root_hex, root) != CC_OK)
		return refuse("invalid", "root key is not 64 hex digits");
	int crc = ccore_new(&g.core, root, keys, cert);
	if (crc != CCORE_OK) {
		g.core = NULL;
		return refuse(ccore_code(crc), "");
	}
	/* the device's wrap secrets: boxes sealed to them open (docs/CRYPTO.md) */
	if (cw_core_wraps_changed() != CC_OK) {
		cw_core_forget();
		return refuse("internal", "out of memory");
	}
	return answer(json_object());
}

int cw_core_wraps_changed(void)
{
	const cc_wrap_secret *ws = NULL;
	size_t n = 0;
	uint32_t newest = 0;
	if (!g.core)
		return CC_OK;
	cw_i_wraps(&ws, &n, &newest);
	if (ccore_set_wraps(g.core, ws, n, newest) != CCORE_OK)
		return CC_ERR_NOMEM;
	ccore_wrap_published(g.core, cw_i_wraps_published()); /* the floor of withheld_box */
	for (size_t i = 0; i < g.ncasus; i++)
		if (cc_casus_set_wraps(ccore_cc(g.casus[i].k), ws, n, newest) != CC_OK)
			return CC_ERR_NOMEM;
	return CC_OK;
}

/* The signed policy the server served (policy.get), or the stored one
 * (stored = 1). A policy older than the held one is refused ("stale_policy").
 * JSON = the policy's description plus "changed". */
CW_API int cw_core_policy(const uint8_t *p, size_t n, int stored)
{
	int changed = 0;
	cw_i_out_clear();
	if (!g.core)
		return refuse("no_device", "no core");
	if (!p || n == 0 || n > CWC_POLICY_MAX)
		return refuse("tampered", "policy size");
	int crc = ccore_policy_offer(g.core, p, n, stored != 0, &changed);
	if (crc != CCORE_OK)
		return refuse_core(crc);
	json_t *o = policy_json(ccore_policy(g.core));
	if (o)
		json_object_set_new(o, "changed", json_boolean(changed));
	/* what the verified policy lets this device's role do: the screens offer
	 * only these (the core and the server refuse the rest anyway) */
	const cc_device_keys *keys = NULL;
	const cc_cert *self = NULL;
	const cc_policy *pol = ccore_policy(g.core);
	int ri = o && cw_i_device(&keys, &self) == CC_OK ? cc_policy_role_index(pol, self->role) : -1;
	if (ri >= 0) {
		const cc_policy_role *r = &pol->roles[ri];
		json_object_set_new(o, "rights",
		                    json_pack("{sbsbsbsisbsbsssbsb}", "may_create", r->may_create, "may_add",
		                              r->may_add, "may_remove", r->may_remove, "escalate_max",
		                              (int)r->escalate_max, "may_deescalate", r->may_deescalate, "may_grant",
		                              r->may_grant, "audit_scope",
		                              r->audit_scope == CC_AUDIT_ALL        ? "all"
		                              : r->audit_scope == CC_AUDIT_DIRECTED ? "directed"
		                                                                    : "none",
		                              "may_overview", r->may_overview, "may_monitor", r->may_monitor));
	}
	return answer(o);
}

/* The signed revocation list (revlist.get), or p = NULL / n = 0 when the
 * server says there is none. JSON = {"number","changed"}. */
CW_API int cw_core_revlist(const uint8_t *p, size_t n, int stored)
{
	int changed = 0;
	cw_i_out_clear();
	if (!g.core)
		return refuse("no_device", "no core");
	if (n > CWC_REVLIST_MAX || (n && !p))
		return refuse("tampered", "revocation list size");
	int crc = ccore_revlist_offer(g.core, n ? p : NULL, n, (int64_t)time(NULL), stored != 0, &changed);
	if (crc != CCORE_OK)
		return refuse_core(crc);
	const cc_revlist *rl = ccore_revlist(g.core);
	return answer(json_pack("{sIsb}", "number", (json_int_t)(rl ? rl->number : 0), "changed", changed));
}

/* ---- one casus ------------------------------------------------------------------ */

/* Starts following a casus (or finds it). JSON = {"epochs"}: the next epoch
 * to fetch with commit.fetch. */
CW_API int cw_casus_follow(const char *hex)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 1);
	if (!k)
		return refuse("invalid", "casus id or too many casus");
	return answer(json_pack("{sI}", "epochs", (json_int_t)ccore_epochs(k)));
}

/* Forgets a casus (its keys are wiped); the next follow starts at epoch 0. */
CW_API void cw_casus_forget(const char *hex)
{
	ccore_casus *k = casus_get(hex, 0);
	if (!k)
		return;
	for (size_t i = 0; i < g.ncasus; i++)
		if (g.casus[i].k == k) {
			ccore_casus_free(k);
			g.casus[i] = g.casus[g.ncasus - 1];
			memset(&g.casus[g.ncasus - 1], 0, sizeof g.casus[0]);
			g.ncasus--;
			break;
		}
}

/* The next commit of the chain (commit.fetch, in order); head = 1 for the
 * newest one the server serves. Nothing changes on a refusal. JSON = {"epochs"}. */
CW_API int cw_casus_commit(const char *hex, const uint8_t *p, size_t n, int head)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	if (!k)
		return refuse("invalid", "casus not followed");
	if (!p || n == 0 || n > CC_COMMIT_MAX_BYTES)
		return refuse("tampered", "commit size");
	int crc = ccore_apply_commit(k, p, n, (int64_t)time(NULL), head != 0);
	if (crc != CCORE_OK)
		return refuse_core(crc);
	return answer(json_pack("{sI}", "epochs", (json_int_t)ccore_epochs(k)));
}

/* The fetch reached the end of the chain (ccore_chain_done: revoked members
 * warned about, a withheld own commit reported). */
CW_API int cw_casus_done(const char *hex)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	if (!k)
		return refuse("invalid", "casus not followed");
	int crc = ccore_chain_done(k, (int64_t)time(NULL));
	if (crc != CCORE_OK)
		return refuse_core(crc);
	return answer(json_object());
}

static json_t *person_json(const cc_cert *c)
{
	return json_pack("{ssssssss}", "user", c->user_id, "name", c->name, "org", c->org, "role", c->role);
}

/* The verified state of a casus: JSON = {"epoch","level","level_name",
 * "member","members":[certificate descriptions + "revoked"],
 * "audiences":[{"name","mine","ground_required","readers":[{user,name,org,role}]}]}.
 * "mine": this device holds the key of the current epoch for it (may write
 * and read there); readers are the people whose devices the core would
 * encrypt to now (ccore_recipients). */
CW_API int cw_casus_state(const char *hex)
{
	const cc_device_keys *keys = NULL;
	const cc_cert *self = NULL;
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	if (!k || cw_i_device(&keys, &self) != CC_OK)
		return refuse("invalid", "casus not followed");
	const cc_chain_state *st = ccore_chain(k);
	const cc_policy *pol = ccore_policy(g.core);
	if (!st || !st->started || !pol)
		return refuse("no_policy", "nothing verified yet");
	json_t *members = json_array(), *auds = json_array();
	for (uint16_t i = 0; members && i < st->nroster; i++) {
		json_t *m = cw_i_cert_json(&st->roster[i].cert);
		if (!m)
			continue;
		json_object_set_new(m, "revoked", json_boolean(ccore_is_revoked(g.core, &st->roster[i].cert)));
		json_array_append_new(members, m);
	}
	int role = cc_policy_role_index(pol, self->role);
	for (int a = 0; auds && a < pol->naudiences; a++) {
		json_t *readers = json_array();
		json_t *devs = ccore_recipients(k, a);
		size_t j;
		json_t *d;
		json_array_foreach(devs, j, d) {
			uint8_t dev[CC_DEVICE_ID_BYTES];
			const char *dh = json_string_value(d);
			size_t bl = 0;
			if (!dh || sodium_hex2bin(dev, sizeof dev, dh, strlen(dh), NULL, &bl, NULL) != 0 ||
			    bl != sizeof dev)
				continue;
			const cc_cert *c = ccore_cert(k, dev);
			if (c)
				json_array_append_new(readers, person_json(c));
		}
		json_decref(devs);
		json_array_append_new(auds,
		                      json_pack("{sssbsbso}", "name", pol->audiences[a].name, "mine",
		                                cc_casus_has_epoch_key(ccore_cc(k), st->epoch, a), "ground_required",
		                                role >= 0 && cc_policy_ground_required(pol, a, role, st->level),
		                                "readers", readers));
	}
	return answer(json_pack("{sIsisssbsoso}", "epoch", (json_int_t)st->epoch, "level", st->level, "level_name",
	                        level_name(pol, st->level), "member", ccore_is_member(k), "members", members,
	                        "audiences", auds));
}

static void set_hex(json_t *o, const char *key, const uint8_t *b, size_t n)
{
	char h[2 * 32 + 1];
	if (n > 32)
		return;
	sodium_bin2hex(h, sizeof h, b, n);
	json_object_set_new(o, key, json_string(h));
}

/* A message of the casus (history in seq order: live = 0; a push: live = 1),
 * judged and opened by the core. seq: the server's place (a JS number, exact
 * up to 2^53; 0 = unknown). Always answers JSON = {"seq","verified",...}:
 * verified with "kind","text"; or not, with "error" (the core's code) and
 * "message". The header fields ("id","time","epoch","audience","ground",
 * "sender") are given when the message decodes; "sender" only for a sender
 * the verified chain knows. Returns -1 (same JSON) only for a refusal that
 * must stop the listing (anything but "no_key", as the C client). */
CW_API int cw_casus_message(const char *hex, double seqd, const uint8_t *p, size_t n, int live)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	if (!k)
		return refuse("invalid", "casus not followed");
	if (!(seqd >= 0) || seqd > 9007199254740992.0 || !p || n == 0 || n > CWC_MSG_MAX)
		return refuse("tampered", "message size or place");
	uint64_t seq = (uint64_t)seqd;
	const cc_policy *pol = ccore_policy(g.core);
	json_t *o = json_pack("{sI}", "seq", (json_int_t)seq);
	cc_message m;
	if (!o)
		return CC_ERR_NOMEM;
	if (cc_message_decode(p, n, &m) != CC_OK) {
		json_object_set_new(o, "verified", json_false());
		json_object_set_new(o, "error", json_string("tampered"));
		return answer(o) == 0 ? -1 : CC_ERR_NOMEM;
	}
	set_hex(o, "id", m.h.message_id, CC_MESSAGE_ID_BYTES);
	json_object_set_new(o, "time", json_integer((json_int_t)m.h.time));
	json_object_set_new(o, "epoch", json_integer((json_int_t)m.h.epoch));
	json_object_set_new(o, "audience",
	                    json_string(pol && m.h.audience < pol->naudiences ? pol->audiences[m.h.audience].name
	                                                                      : "?"));
	const char *gn = m.h.ground ? cc_ground_name(m.h.ground) : NULL;
	if (gn)
		json_object_set_new(o, "ground", json_string(gn));
	const cc_cert *sc = ccore_cert(k, m.h.sender);
	if (sc)
		json_object_set_new(o, "sender", cw_i_cert_json(sc));
	cc_wbuf pt;
	cc_w_init_secret(&pt);
	unsigned flags = 0;
	int crc = ccore_open_message(k, seq, p, n, live != 0, (int64_t)time(NULL), &pt, NULL, &flags);
	int rc = 0;
	if (crc == CCORE_OK && (flags & CCORE_F_DUPLICATE)) {
		json_object_set_new(o, "verified", json_false());
		json_object_set_new(o, "error", json_string("duplicate"));
	} else if (crc == CCORE_OK) {
		json_t *body = json_loadb((const char *)pt.p, pt.len, JSON_REJECT_DUPLICATES, NULL);
		const char *t = json_string_value(json_object_get(body, "text"));
		const char *kind = json_string_value(json_object_get(body, "kind"));
		json_object_set_new(o, "verified", json_true());
		json_object_set_new(o, "kind", json_string(kind ? kind : "note"));
		json_object_set_new(o, "text", json_string(t ? t : ""));
		/* a structured note kind (ccore_notes.h): its data only if well
		 * formed, as the C client's history (libcasus_history.c) */
		json_t *data = json_object_get(body, "data");
		if (data && ccore_note_check(kind, data) == CCORE_OK)
			json_object_set(o, "data", data);
		else if (data)
			json_object_set_new(o, "data_error", json_string("tampered"));
		json_decref(body);
	} else {
		json_object_set_new(o, "verified", json_false());
		json_object_set_new(o, "error", json_string(ccore_code(crc)));
		json_object_set_new(o, "message", json_string(ccore_message(g.core)));
		if (crc != CCORE_E_NO_KEY)
			rc = -1;
	}
	cc_w_free(&pt);
	if (answer(o) != 0)
		return CC_ERR_NOMEM;
	return rc;
}

/* A note to an audience (its name) with a disclosure ground ("" or NULL for
 * none) for the current epoch: the core must allow posting (no own removal
 * pending, ccore_may_post), this device must hold the audience's key, the
 * ground must be given where the policy asks ("ground_required"). text is
 * UTF-8 of at most CWC_TEXT_MAX bytes. BIN = the encrypted message for
 * msg.post, JSON = {"id","epoch","audience","recipients"}. */
static int encrypt_body(const char *hex, const char *audience, const char *ground, const char *text, const char *kind,
                        const json_t *data)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	if (!k)
		return refuse("invalid", "casus not followed");
	const cc_policy *pol = ccore_policy(g.core);
	const cc_chain_state *st = ccore_chain(k);
	if (!pol || !st || !st->started)
		return refuse("no_policy", "nothing verified yet");
	if (!text || strlen(text) > CWC_TEXT_MAX)
		return refuse("invalid", "text too long");
	int aud = audience ? cc_policy_audience_index(pol, audience) : -1;
	if (aud < 0)
		return refuse("invalid", "unknown audience");
	int gr = ground && *ground ? cc_ground_from_name(ground) : CC_GROUND_NONE;
	if (gr < 0)
		return refuse("invalid", "unknown ground");
	int crc = ccore_may_post(k);
	if (crc != CCORE_OK)
		return refuse_core(crc);
	if (!cc_casus_has_epoch_key(ccore_cc(k), st->epoch, aud))
		return refuse("no_key", "u zit niet in dit publiek / you are not in this audience");
	json_t *body = json_pack("{siss}", "v", 1, "kind", kind);
	json_t *tj = json_string(text); /* NULL for invalid UTF-8 */
	if (!body || !tj) {
		json_decref(body);
		json_decref(tj);
		return refuse("invalid", "the text is not valid UTF-8");
	}
	json_object_set_new(body, "text", tj);
	if (data)
		json_object_set(body, "data", (json_t *)(uintptr_t)data);
	char *pt = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (!pt)
		return CC_ERR_NOMEM;
	size_t ptl = strlen(pt);
	/* counters are gap-free per (epoch, audience) (issue #11 item 9): after a
	 * reload the core continues after this device's own messages seen in the
	 * loaded history (a clock floor would show readers a gap) */
	(void)ccore_prepare_send(k);
	cc_wbuf w;
	cc_w_init(&w);
	int rc =
		cc_casus_encrypt(ccore_cc(k), pol, aud, (uint8_t)gr, (const uint8_t *)pt, ptl, (int64_t)time(NULL), &w);
	sodium_memzero(pt, ptl);
	free(pt);
	cc_message m;
	if (rc == CC_ERR_GROUND_REQUIRED)
		rc = refuse("ground_required",
		            "dit publiek vraagt een grondslag / this audience needs a disclosure ground");
	else if (rc == CC_ERR_NO_KEY)
		rc = refuse("no_key", "u zit niet in dit publiek / you are not in this audience");
	else if (rc != CC_OK || w.err || cc_message_decode(w.p, w.len, &m) != CC_OK)
		rc = refuse("internal", rc != CC_OK ? cc_strerror(rc) : "encoding failed");
	else if ((rc = cw_i_out_bin(w.p, w.len)) == CC_OK) {
		json_t *o = json_pack("{sIssso}", "epoch", (json_int_t)m.h.epoch, "audience", pol->audiences[aud].name,
		                      "recipients", ccore_recipients(k, aud));
		if (o)
			set_hex(o, "id", m.h.message_id, CC_MESSAGE_ID_BYTES);
		if (o && data)
			json_object_set_new(o, "data", json_deep_copy(data));
		rc = answer(o);
	}
	cc_w_free(&w);
	return rc;
}

CW_API int cw_casus_encrypt(const char *hex, const char *audience, const char *ground, const char *text)
{
	return encrypt_body(hex, audience, ground, text, "note", NULL);
}

/* ---- agenda entries and agreed actions (issue 20, ccore_notes.h) ----------------- */
#define CWN_SPEC_MAX (4u * 1024u)
#define CWN_HIST_MAX (32u * 1024u * 1024u)

/* The user is in the verified roster of the casus. */
static int roster_has(ccore_casus *k, const char *user)
{
	const cc_chain_state *st = ccore_chain(k);
	for (uint16_t i = 0; st && user && i < st->nroster; i++)
		if (strcmp(st->roster[i].cert.user_id, user) == 0)
			return 1;
	return 0;
}

/* The data of a new structured note, checked by the core (ccore_note_agenda,
 * ccore_note_action): kind "agenda" with spec {"date": UTC s, "place"}, or
 * "afspraak" with {"what","who","due": UTC s,"disclosed"} for a new action
 * (a fresh random id, made here) or {"action": HEX32} to mark that action of
 * the casus done (history: its notes as cw_casus_message gave them; the
 * newest version counts, ccore_actions_fold). "who" must be in the verified
 * roster. JSON = {"kind","data","text"} (text: the readable Dutch sentence). */
CW_API int cw_note_make(const char *hex, const char *kind, const char *spec, const char *history)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	if (!k)
		return refuse("invalid", "casus not followed");
	if (!kind || !spec || strlen(spec) > CWN_SPEC_MAX)
		return refuse("invalid", "note spec");
	json_t *s = json_loads(spec, JSON_REJECT_DUPLICATES, NULL);
	json_t *data = NULL;
	uint8_t id[16];
	randombytes_buf(id, sizeof id);
	json_t *date = json_object_get(s, "date"), *due = json_object_get(s, "due");
	if (!json_is_object(s)) {
		json_decref(s);
		return refuse("invalid", "note spec");
	}
	if (strcmp(kind, "agenda") == 0 && json_is_integer(date)) {
		data = ccore_note_agenda(id, (int64_t)json_integer_value(date),
		                         json_string_value(json_object_get(s, "place")), 1);
	} else if (strcmp(kind, "afspraak") == 0 && json_is_string(json_object_get(s, "action"))) {
		json_t *h = history && strlen(history) <= CWN_HIST_MAX ? json_loads(history, 0, NULL) : NULL;
		json_t *acts = ccore_actions_fold(h);
		const char *want = json_string_value(json_object_get(s, "action"));
		size_t i;
		json_t *a;
		json_array_foreach(acts, i, a) {
			if (strcmp(json_string_value(json_object_get(a, "action")), want) != 0)
				continue;
			size_t bl = 0;
			if (sodium_hex2bin(id, sizeof id, want, strlen(want), NULL, &bl, NULL) == 0 && bl == sizeof id)
				data = ccore_note_action(id, json_string_value(json_object_get(a, "what")),
				                         json_string_value(json_object_get(a, "who")),
				                         (int64_t)json_integer_value(json_object_get(a, "due")), 1,
				                         json_is_true(json_object_get(a, "disclosed")));
		}
		json_decref(acts);
		json_decref(h);
		if (!data) {
			json_decref(s);
			return refuse("not_found",
			              "deze afspraak staat niet in de casus / no such action in this casus");
		}
	} else if (strcmp(kind, "afspraak") == 0 && json_is_integer(due)) {
		const char *who = json_string_value(json_object_get(s, "who"));
		if (!roster_has(k, who)) {
			json_decref(s);
			return refuse("not_member", "wie de afspraak uitvoert moet lid van de casus zijn / who carries "
			                            "out the action must be a member of the casus");
		}
		data = ccore_note_action(id, json_string_value(json_object_get(s, "what")), who,
		                         (int64_t)json_integer_value(due), 0,
		                         json_is_true(json_object_get(s, "disclosed")));
	}
	json_decref(s);
	char text[1200];
	if (!data || ccore_note_text(kind, data, text, sizeof text) != CCORE_OK) {
		json_decref(data);
		sodium_memzero(text, sizeof text);
		return refuse("invalid",
		              "vul alles in: een datum, en een plaats of omschrijving van hoogstens 200 of 500 "
		              "tekens / fill in everything: a date, and a place or description of at most "
		              "200 or 500 characters");
	}
	int rc = answer(json_pack("{ssssso}", "kind", kind, "text", text, "data", data));
	sodium_memzero(text, sizeof text); /* the note's sentence: plaintext, copied into the answer */
	return rc;
}

/* A structured note (kind and data as cw_note_make gave them, checked again
 * by the core) encrypted as cw_casus_encrypt does a plain one; its text is
 * made here. BIN = the message, JSON = as cw_casus_encrypt plus "data". */
CW_API int cw_casus_encrypt_note(const char *hex, const char *audience, const char *ground, const char *kind,
                                 const char *data_text)
{
	cw_i_out_clear();
	json_t *data = data_text && strlen(data_text) <= CWN_SPEC_MAX
	                       ? json_loads(data_text, JSON_REJECT_DUPLICATES, NULL)
	                       : NULL;
	char text[1200];
	if (!kind || !data || ccore_note_check(kind, data) != CCORE_OK ||
	    ccore_note_text(kind, data, text, sizeof text) != CCORE_OK) {
		json_decref(data);
		sodium_memzero(text, sizeof text);
		return refuse("invalid", "note data");
	}
	int rc = encrypt_body(hex, audience, ground, text, kind, data);
	sodium_memzero(text, sizeof text); /* the note's sentence: plaintext */
	json_decref(data);
	return rc;
}

/* The agreed actions and agenda entries of a casus from its opened history
 * (JSON text: the notes as cw_casus_message gave them): JSON =
 * {"actions": [ccore_actions_fold rows + "overdue": not done and due now or
 * earlier], "agenda": [{agenda,date,place,disclosed,seq,time,by,"past"}] in
 * order of date}. Only verified notes with well-formed data count. */
CW_API int cw_casus_regie(const char *history)
{
	cw_i_out_clear();
	if (!history || strlen(history) > CWN_HIST_MAX)
		return refuse("invalid", "history size");
	json_t *h = json_loads(history, 0, NULL);
	if (!json_is_array(h)) {
		json_decref(h);
		return refuse("invalid", "history");
	}
	int64_t now = (int64_t)time(NULL);
	json_t *acts = ccore_actions_fold(h), *agenda = json_array();
	size_t i;
	json_t *o;
	ccore_actions_mark_overdue(acts, now);
	json_array_foreach(h, i, o) {
		const char *kind = json_string_value(json_object_get(o, "kind"));
		json_t *d = json_object_get(o, "data");
		if (!json_is_true(json_object_get(o, "verified")) || !kind || strcmp(kind, "agenda") != 0 ||
		    ccore_note_check(kind, d) != CCORE_OK)
			continue;
		json_t *row = json_deep_copy(d);
		const char *by = json_string_value(json_object_get(json_object_get(o, "sender"), "user"));
		json_object_set(row, "seq", json_object_get(o, "seq"));
		json_object_set(row, "time", json_object_get(o, "time"));
		json_object_set_new(row, "by", json_string(by ? by : "?"));
		json_object_set_new(row, "past",
		                    json_boolean((int64_t)json_integer_value(json_object_get(d, "date")) + 86400 <=
		                                 now));
		size_t at = json_array_size(agenda), j;
		json_t *x;
		json_array_foreach(agenda, j, x)
			if (at == json_array_size(agenda) && json_integer_value(json_object_get(x, "date")) >
			                                             json_integer_value(json_object_get(d, "date")))
				at = j;
		json_array_insert_new(agenda, at, row);
	}
	json_decref(h);
	return answer(json_pack("{soso}", "actions", acts, "agenda", agenda));
}

/* Dates as the C client reads and writes them (ccore_date_parse/format):
 * "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM" (UTC) to JSON = {"time": UTC s}. */
CW_API int cw_date_parse(const char *s)
{
	int64_t t = 0;
	cw_i_out_clear();
	if (!s || strlen(s) > 32 || ccore_date_parse(s, &t) != 0)
		return refuse("invalid", "datum als JJJJ-MM-DD / date as YYYY-MM-DD");
	return answer(json_pack("{sI}", "time", (json_int_t)t));
}

/* ---- a server that went back in time (issue #16, ccore.h) ------------------------ */

/* The store epoch hello/auth named (stored = 0), or the one kept with the
 * profile (stored = 1). JSON = {"held": the epoch held now, "changed": it
 * differs from the one held before}. A malformed one is refused ("invalid"). */
CW_API int cw_core_store_epoch(const char *epoch, int stored)
{
	cw_i_out_clear();
	if (!g.core)
		return refuse("no_device", "no core");
	int crc = ccore_store_epoch(g.core, epoch, stored != 0);
	if (crc == CCORE_E_INVALID)
		return refuse("tampered", "the server named a malformed store epoch: it cannot be checked");
	return answer(json_pack("{sssb}", "held", ccore_store_epoch_held(g.core), "changed", crc == CCORE_E_ROLLBACK));
}

/* After loading a casus's local copy (have_head = 0) or with casus.list's
 * last_seq (have_head = 1, head): ccore_rollback_check. JSON = {"rollback":
 * went back in time now, "diverged": ever, for this copy, "high": the highest
 * number seen here}; the core's "rollback" warning in "warnings". The local
 * copy is kept: JavaScript saves it again (cw_casus_save keeps the mark). */
CW_API int cw_casus_rollback(const char *hex, int have_head, double headd)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	if (!k)
		return refuse("invalid", "casus not followed");
	if (have_head && !(headd >= 0 && headd <= 9007199254740992.0))
		return refuse("tampered", "last_seq");
	int crc = ccore_rollback_check(k, have_head != 0, have_head ? (uint64_t)headd : 0);
	return answer(json_pack("{sbsbsI}", "rollback", crc == CCORE_E_ROLLBACK, "diverged", ccore_diverged(k), "high",
	                        (json_int_t)ccore_high_seq(k)));
}

/* The open device's own certificate checked as `casus install-cert` checks
 * it (ccore_own_cert: the pinned root, valid now, this device's keys and id);
 * used when a keystore made elsewhere (a `casus` profile's keys.casusks) is
 * brought into the browser. JSON = the certificate's description. */
CW_API int cw_core_own_cert(const char *root_hex)
{
	const cc_device_keys *keys = NULL;
	const cc_cert *cert = NULL;
	uint8_t root[CC_SIGN_PK_BYTES];
	cc_cert out;
	cc_wbuf w;
	cw_i_out_clear();
	if (cw_i_device(&keys, &cert) != CC_OK)
		return refuse("no_device", "geen certificaat in dit profiel / no certificate in this profile");
	if (cw_i_hex32(root_hex, root) != CC_OK)
		return refuse("invalid", "root key is not 64 hex digits");
	cc_w_init(&w);
	int rc = cc_cert_encode(cert, &w);
	if (rc == CC_OK)
		rc = w.err;
	int crc = rc == CC_OK ? ccore_own_cert(root, keys, w.p, w.len, (int64_t)time(NULL), &out) : CCORE_E_INVALID;
	cc_w_free(&w);
	if (crc != CCORE_OK)
		return refuse(ccore_code(crc), "het certificaat past niet bij deze installatie of dit apparaat / "
		                               "the certificate does not fit this deployment or this device");
	return answer(cw_i_cert_json(&out));
}

/* ---- the local copy and the outbox (docs/WEB.md "Offline") ----------------------- */
/* As the C client's sealed files (client/sealed.c, docs/CLIENT.md): "CASUSLC1"
 * || nonce (24) || XChaCha20-Poly1305-IETF ciphertext, additional data =
 * "CASUSLC1" || purpose || 0 || bind || "/" || device id hex, under the
 * keystore's "cache" key, which never leaves wasm. JavaScript names the record
 * (bind: the casus id, or the outbox entry's name); the device id is added
 * here, so a record copied to another casus, entry or profile does not open. */
#define CWL_MAGIC "CASUSLC1"
#define CWL_MAGIC_LEN 8
#define CWL_NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define CWL_ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
#define CWL_MAX (64u * 1024u * 1024u)
#define CWL_BIND_MAX 128

/* additional data into ad (cap bytes); its length, or 0 when purpose or bind is not allowed */
static size_t local_ad(const char *purpose, const char *bind, const char *devhex, unsigned char *ad, size_t cap)
{
	if (!purpose || !bind || (strcmp(purpose, "cache") != 0 && strcmp(purpose, "outbox") != 0))
		return 0;
	size_t pl = strlen(purpose), bl = strlen(bind), dl = strlen(devhex);
	if (bl == 0 || bl > CWL_BIND_MAX || bl != strspn(bind, "0123456789abcdefghijklmnopqrstuvwxyz._-"))
		return 0;
	size_t n = CWL_MAGIC_LEN + pl + 1 + bl + 1 + dl;
	if (n > cap)
		return 0;
	memcpy(ad, CWL_MAGIC, CWL_MAGIC_LEN);
	memcpy(ad + CWL_MAGIC_LEN, purpose, pl);
	ad[CWL_MAGIC_LEN + pl] = 0;
	memcpy(ad + CWL_MAGIC_LEN + pl + 1, bind, bl);
	ad[CWL_MAGIC_LEN + pl + 1 + bl] = '/';
	memcpy(ad + CWL_MAGIC_LEN + pl + 2 + bl, devhex, dl);
	return n;
}

/* Seals n bytes for purpose ("cache" | "outbox") and bind ([a-z0-9._-], up to
 * 128). BIN = the sealed record. */
CW_API int cw_local_seal(const char *purpose, const char *bind, const uint8_t *pt, size_t n)
{
	const uint8_t *key = NULL;
	char dev[33];
	unsigned char ad[256];
	cw_i_out_clear();
	if (cw_i_cache_key(&key, dev) != CC_OK)
		return refuse("no_cache_key",
		              "dit profiel heeft geen sleutel voor de lokale kopie / this profile has no "
		              "key for the local copy");
	size_t adl = local_ad(purpose, bind, dev, ad, sizeof ad);
	if (!adl || (n && !pt) || n > CWL_MAX)
		return refuse("invalid", "local record name or size");
	size_t total = CWL_MAGIC_LEN + CWL_NONCE + n + CWL_ABYTES;
	uint8_t *buf = malloc(total);
	if (!buf)
		return CC_ERR_NOMEM;
	memcpy(buf, CWL_MAGIC, CWL_MAGIC_LEN);
	randombytes_buf(buf + CWL_MAGIC_LEN, CWL_NONCE);
	unsigned long long cl = 0;
	crypto_aead_xchacha20poly1305_ietf_encrypt(buf + CWL_MAGIC_LEN + CWL_NONCE, &cl, pt, n, ad, adl, NULL,
	                                           buf + CWL_MAGIC_LEN, key);
	int rc = cw_i_out_bin(buf, total);
	free(buf);
	if (rc != CC_OK)
		return CC_ERR_NOMEM;
	return answer(json_object());
}

/* Opens a sealed record. BIN = the plaintext; "damaged" when it does not open
 * (another key, casus, entry or device, or changed bytes). */
CW_API int cw_local_open(const char *purpose, const char *bind, const uint8_t *p, size_t n)
{
	const uint8_t *key = NULL;
	char dev[33];
	unsigned char ad[256];
	cw_i_out_clear();
	if (cw_i_cache_key(&key, dev) != CC_OK)
		return refuse("no_cache_key",
		              "dit profiel heeft geen sleutel voor de lokale kopie / this profile has no "
		              "key for the local copy");
	size_t adl = local_ad(purpose, bind, dev, ad, sizeof ad);
	if (!adl)
		return refuse("invalid", "local record name");
	if (!p || n < CWL_MAGIC_LEN + CWL_NONCE + CWL_ABYTES || n > CWL_MAX + CWL_MAGIC_LEN + CWL_NONCE + CWL_ABYTES ||
	    memcmp(p, CWL_MAGIC, CWL_MAGIC_LEN) != 0)
		return refuse("damaged", "de lokale kopie is beschadigd / the local copy is damaged");
	size_t ctl = n - CWL_MAGIC_LEN - CWL_NONCE;
	uint8_t *out = sodium_malloc(ctl - CWL_ABYTES + 1);
	if (!out)
		return CC_ERR_NOMEM;
	unsigned long long ml = 0;
	int rc;
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &ml, NULL, p + CWL_MAGIC_LEN + CWL_NONCE, ctl, ad, adl,
	                                               p + CWL_MAGIC_LEN, key) != 0)
		rc = refuse("damaged", "de lokale kopie opent niet / the local copy does not open");
	else if (cw_i_out_bin(out, (size_t)ml) != CC_OK)
		rc = CC_ERR_NOMEM;
	else
		rc = answer(json_object());
	sodium_free(out);
	return rc;
}

/* The core's state of a followed casus to keep with the local copy (per-sender
 * stream positions and counters, message ids seen, a pending own commit):
 * JSON = {"core": ...} (ccore_casus_save). */
CW_API int cw_casus_save(const char *hex)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	if (!k)
		return refuse("invalid", "casus not followed");
	json_t *s = ccore_casus_save(k);
	return answer(json_pack("{so}", "core", s ? s : json_null()));
}

/* Reads back what cw_casus_save gave (text: its JSON), after the stored
 * commits were applied again (cw_casus_commit). */
CW_API int cw_casus_restore(const char *hex, const char *text)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	if (!k)
		return refuse("invalid", "casus not followed");
	json_t *o = text ? json_loads(text, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (!o || !json_is_object(o)) {
		json_decref(o);
		return refuse("damaged", "core state");
	}
	ccore_casus_restore(k, json_object_get(o, "core"));
	json_decref(o);
	return answer(json_object());
}

/* A history listing begins (from_start: at the first message) and ends: the
 * end warns "gap" for every sender number the listing never delivered, as
 * the C client's history does (ccore_history_begin / ccore_history_done). */
CW_API int cw_casus_history_begin(const char *hex, int from_start)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	if (!k)
		return refuse("invalid", "casus not followed");
	ccore_history_begin(k, from_start != 0);
	return answer(json_object());
}

CW_API int cw_casus_history_done(const char *hex)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	if (!k)
		return refuse("invalid", "casus not followed");
	int gaps = ccore_history_done(k);
	return answer(json_pack("{si}", "gaps", gaps));
}

/* The devices an audience (its name) of a casus would be encrypted for now:
 * JSON = {"recipients": [32-hex device ids]} (ccore_recipients), kept with a
 * post queued in the outbox. */
CW_API int cw_casus_recipients(const char *hex, const char *audience)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	const cc_policy *pol = g.core ? ccore_policy(g.core) : NULL;
	if (!k || !pol)
		return refuse("invalid", "casus not followed");
	int aud = audience ? cc_policy_audience_index(pol, audience) : -1;
	if (aud < 0)
		return refuse("invalid", "unknown audience");
	json_t *r = ccore_recipients(k, aud);
	return answer(json_pack("{so}", "recipients", r ? r : json_array()));
}

/* May a post queued when `queued` (JSON text of a device id array, or NULL)
 * were its recipients be encrypted now? "audience_widened" when the audience
 * now holds a device outside them (ccore_outbox_may_encrypt). */
CW_API int cw_casus_outbox_check(const char *hex, const char *audience, const char *queued)
{
	cw_i_out_clear();
	ccore_casus *k = casus_get(hex, 0);
	const cc_policy *pol = g.core ? ccore_policy(g.core) : NULL;
	if (!k || !pol)
		return refuse("invalid", "casus not followed");
	int aud = audience ? cc_policy_audience_index(pol, audience) : -1;
	if (aud < 0)
		return refuse("invalid", "unknown audience");
	json_t *q = queued && *queued ? json_loads(queued, JSON_REJECT_DUPLICATES, NULL) : NULL;
	if (queued && *queued && !json_is_array(q)) {
		json_decref(q);
		return refuse("damaged", "queued recipients");
	}
	int crc = ccore_outbox_may_encrypt(k, aud, q);
	json_decref(q);
	if (crc != CCORE_OK)
		return refuse_core(crc);
	return answer(json_object());
}
