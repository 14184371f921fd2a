/*
 * cw.c: the WebAssembly face of casus' crypto/ for the browser client.
 *
 * The browser's JavaScript does transport, storage and the interface; every
 * operation that makes, opens, signs, verifies or decides goes through these
 * functions, which are thin wrappers around crypto/ (the same code the C
 * client links). Secret keys never leave wasm memory: JavaScript holds the
 * keystore only as ciphertext (cc_keystore, Argon2id + XChaCha20-Poly1305,
 * the same format as the C client's keys.casusks) and gets signatures, never
 * keys.
 *
 * One device at a time is open (cw_open .. cw_close). Results are handed back
 * in three output slots that the next call replaces:
 *   CW_OUT_BIN  (0) binary result: keystore image, signature, certificate
 *   CW_OUT_AUX  (1) second binary result: the certificate request of cw_enrol
 *   CW_OUT_JSON (2) a NUL-terminated UTF-8 JSON object describing the result
 * cw_out_ptr(slot) / cw_out_len(slot) expose them; the JavaScript side copies
 * them out at once. Every function returns CC_OK (0) or a negative CC_ERR_*
 * code (cw_strerror() and cw_errname() describe it).
 *
 * Inputs are (pointer, length) pairs into wasm memory that the caller owns;
 * every length is checked here before use.
 */
#include "cw.h"
#include "cw_int.h"

#include <cc_buf.h>
#include <cc_cert.h>
#include <cc_err.h>
#include <cc_keys.h>
#include <cc_keystore.h>
#include <cc_policy.h>
#include <cc_wrapkey.h>
#include <ccore.h>
#include <ccore_wrapks.h>

#include <jansson.h>
#include <malloc.h>
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef __EMSCRIPTEN__
#include <emscripten/emscripten.h>
#define CW_API EMSCRIPTEN_KEEPALIVE
#else
#define CW_API
#endif

#define CW_OUT_BIN 0
#define CW_OUT_AUX 1
#define CW_OUT_JSON 2
#define CW_NOUT 3
#define CW_PASS_MAX 1024 /* bytes of a passphrase */
#define CW_KEYSTORE_MAX (1024u * 1024u)
#define CW_POLICY_MAX (1024u * 1024u)
#define CW_CACHE_KEY_BYTES 32

/* The same Argon2id limits as the C client (libcasus.c keystore_limits):
 * interactive, because a person opens the profile often. */
#define CW_OPSLIMIT crypto_pwhash_OPSLIMIT_INTERACTIVE
#define CW_MEMLIMIT crypto_pwhash_MEMLIMIT_INTERACTIVE

static struct {
	uint8_t *p;
	size_t len;
	int secret; /* sodium_malloc'd */
} g_out[CW_NOUT];

static struct {
	cc_keystore *ks;
	cc_device_keys *keys;
	cc_cert cert;
	int have_cert;
	char *pass; /* sodium_malloc: re-seals the keystore after a wrap-key change */
	size_t passlen;
	ccore_wrapks wk; /* this device's wrap keys (ccore_wrapks.h) */
} g_dev;

static int g_ready;

static void out_clear(int slot)
{
	if (g_out[slot].p) {
		if (g_out[slot].secret)
			sodium_free(g_out[slot].p);
		else {
			sodium_memzero(g_out[slot].p, g_out[slot].len);
			free(g_out[slot].p);
		}
	}
	g_out[slot].p = NULL;
	g_out[slot].len = 0;
	g_out[slot].secret = 0;
}

static void out_clear_all(void)
{
	for (int i = 0; i < CW_NOUT; i++)
		out_clear(i);
}

/* Copies n bytes into a slot (one extra NUL byte so that text can be read as a C string). */
static int out_set(int slot, const void *p, size_t n)
{
	out_clear(slot);
	g_out[slot].p = malloc(n + 1);
	if (!g_out[slot].p)
		return CC_ERR_NOMEM;
	if (n)
		memcpy(g_out[slot].p, p, n);
	g_out[slot].p[n] = 0;
	g_out[slot].len = n;
	return CC_OK;
}

/* Takes a JSON object (stolen), stores its compact text in the JSON slot. */
static int out_json(json_t *o)
{
	if (!o)
		return CC_ERR_NOMEM;
	char *text = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(o);
	if (!text)
		return CC_ERR_NOMEM;
	size_t tl = strlen(text);
	int rc = out_set(CW_OUT_JSON, text, tl);
	sodium_memzero(text, tl); /* answers carry decrypted notes and reasons */
	free(text);
	return rc;
}

static void dev_close(void)
{
	cw_core_forget(); /* the core holds copies of the device keys */
	ccore_wrapks_free(&g_dev.wk);
	if (g_dev.pass)
		sodium_free(g_dev.pass);
	cc_keystore_free(g_dev.ks);
	cc_device_keys_free(g_dev.keys);
	sodium_memzero(&g_dev, sizeof g_dev);
}

int cw_i_hex32(const char *hex, uint8_t out[32])
{
	size_t n = 0;
	const char *end = NULL;
	if (!hex || strlen(hex) != 64)
		return CC_ERR_INVALID_ARG;
	if (sodium_hex2bin(out, 32, hex, 64, NULL, &n, &end) != 0 || n != 32 || *end != 0)
		return CC_ERR_INVALID_ARG;
	return CC_OK;
}

static int pass_ok(const char *pass, size_t passlen)
{
	return pass && passlen > 0 && passlen <= CW_PASS_MAX;
}

json_t *cw_i_cert_json(const cc_cert *c)
{
	char dev[2 * CC_DEVICE_ID_BYTES + 1], fp[2 * CC_HASH_BYTES + 1];
	uint8_t h[CC_HASH_BYTES];
	cc_device_id_hex(c->device_id, dev);
	if (cc_cert_hash(c, h) != CC_OK)
		return NULL;
	sodium_bin2hex(fp, sizeof fp, h, sizeof h);
	/* jansson refuses invalid UTF-8 with NULL; certificate text was checked by cc_cert_decode */
	return json_pack("{ss ss ss ss ss ss sI sI sI}", "user", c->user_id, "name", c->name, "org", c->org, "role",
	                 c->role, "device", dev, "fingerprint", fp, "serial", (json_int_t)c->serial, "not_before",
	                 (json_int_t)c->not_before, "not_after", (json_int_t)c->not_after);
}

/* ---- shared with cw_core.c (cw_int.h) ------------------------------------------ */

int cw_i_out_bin(const void *p, size_t n)
{
	return out_set(CW_OUT_BIN, p, n);
}

int cw_i_out_json(json_t *o)
{
	return out_json(o);
}

void cw_i_out_clear(void)
{
	out_clear_all();
}

int cw_i_device(const cc_device_keys **keys, const cc_cert **cert)
{
	if (!g_dev.keys || !g_dev.have_cert)
		return CC_ERR_NOT_FOUND;
	*keys = g_dev.keys;
	*cert = &g_dev.cert;
	return CC_OK;
}

int cw_i_cache_key(const uint8_t **key, char devhex[33])
{
	size_t l = 0;
	if (!g_dev.ks || !g_dev.keys || cc_keystore_get(g_dev.ks, "cache", key, &l) != CC_OK || l != CW_CACHE_KEY_BYTES)
		return CC_ERR_NOT_FOUND;
	cc_device_id_hex(g_dev.keys->device_id, devhex);
	return CC_OK;
}

/* ---- exported ---------------------------------------------------------------- */

/* jansson's memory is wiped when it is freed, as the C client does
 * (libcasus_profile.c): decrypted notes, grant reasons and agreed actions pass
 * through JSON objects and the answer text in this module. */
static void *json_alloc(size_t n)
{
	return malloc(n);
}

static void json_wipe_free(void *p)
{
	if (p) {
		sodium_memzero(p, malloc_usable_size(p));
		free(p);
	}
}

/* libsodium and jansson set up; must be called first. */
CW_API int cw_init(void)
{
	if (sodium_init() < 0)
		return CC_ERR_CRYPTO;
	json_set_alloc_funcs(json_alloc, json_wipe_free);
	g_ready = 1;
	return CC_OK;
}

CW_API const uint8_t *cw_out_ptr(int slot)
{
	return slot >= 0 && slot < CW_NOUT ? g_out[slot].p : NULL;
}

CW_API size_t cw_out_len(int slot)
{
	return slot >= 0 && slot < CW_NOUT ? g_out[slot].len : 0;
}

/* Wipes and forgets every output slot (the JavaScript side calls this after copying). */
CW_API void cw_out_release(void)
{
	out_clear_all();
}

CW_API const char *cw_strerror(int err)
{
	return cc_strerror(err);
}

CW_API const char *cw_errname(int err)
{
	return cc_errname(err);
}

/* Enrolment: fresh device keys and a certificate request for user/name/org/role.
 * The keys and a random cache key go into a new keystore sealed under pass.
 * Out: BIN = keystore image, AUX = certificate request (the file the
 * administrator certifies, as `casus init` writes request.casusreq),
 * JSON = {"device","user","role"}. Nothing stays open. */
CW_API int cw_enrol(const char *user, const char *name, const char *org, const char *role, const char *pass,
                    size_t passlen)
{
	cc_device_keys *keys = NULL;
	cc_keystore *ks = NULL;
	cc_cert_request req;
	cc_wbuf w, rq;
	uint8_t *img = NULL;
	size_t imglen = 0;
	uint8_t ck[CW_CACHE_KEY_BYTES];
	int rc;

	cc_w_init_secret(&w);
	cc_w_init(&rq);
	out_clear_all();
	if (!g_ready || !pass_ok(pass, passlen) || !user || !name || !org || !role) {
		rc = CC_ERR_INVALID_ARG;
		goto out;
	}
	if ((rc = cc_device_keys_generate(&keys)) != CC_OK)
		goto out;
	if ((rc = cc_cert_request_create(&req, keys, user, name, org, role)) != CC_OK)
		goto out;
	randombytes_buf(ck, sizeof ck);
	if ((rc = cc_keystore_new(&ks)) != CC_OK || (rc = cc_device_keys_encode(keys, &w)) != CC_OK ||
	    (rc = w.err) != CC_OK || (rc = cc_keystore_put(ks, "device", w.p, w.len)) != CC_OK ||
	    (rc = cc_keystore_put(ks, "cache", ck, sizeof ck)) != CC_OK ||
	    (rc = cc_keystore_set_limits(ks, CW_OPSLIMIT, CW_MEMLIMIT)) != CC_OK ||
	    (rc = cc_keystore_save_mem(ks, pass, passlen, &img, &imglen)) != CC_OK)
		goto out;
	if ((rc = cc_cert_request_encode(&req, &rq)) != CC_OK || (rc = rq.err) != CC_OK)
		goto out;
	char dev[2 * CC_DEVICE_ID_BYTES + 1];
	cc_device_id_hex(keys->device_id, dev);
	if ((rc = out_set(CW_OUT_BIN, img, imglen)) != CC_OK || (rc = out_set(CW_OUT_AUX, rq.p, rq.len)) != CC_OK ||
	    (rc = out_json(json_pack("{ssssss}", "device", dev, "user", req.user_id, "role", req.role))) != CC_OK)
		goto out;
	rc = CC_OK;
out:
	sodium_memzero(ck, sizeof ck);
	if (rc != CC_OK)
		out_clear_all();
	free(img);
	cc_w_free(&w);
	cc_w_free(&rq);
	cc_keystore_free(ks);
	cc_device_keys_free(keys);
	return rc;
}

/* Open a keystore image under pass and keep the device open. Wrong passphrase
 * or a modified image: CC_ERR_PASSPHRASE. Out: JSON = {"device","cert":{..}|null}. */
CW_API int cw_open(const uint8_t *img, size_t imglen, const char *pass, size_t passlen)
{
	const uint8_t *v;
	size_t l;
	int rc;

	dev_close();
	out_clear_all();
	if (!g_ready || !img || imglen == 0 || imglen > CW_KEYSTORE_MAX || !pass_ok(pass, passlen))
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_keystore_open_mem(img, imglen, pass, passlen, &g_dev.ks)) != CC_OK)
		goto out;
	if ((rc = cc_keystore_get(g_dev.ks, "device", &v, &l)) != CC_OK ||
	    (rc = cc_device_keys_decode(v, l, &g_dev.keys)) != CC_OK)
		goto out;
	if (cc_keystore_get(g_dev.ks, "cert", &v, &l) == CC_OK) {
		if ((rc = cc_cert_decode(v, l, &g_dev.cert)) != CC_OK)
			goto out;
		g_dev.have_cert = 1;
	}
	/* the passphrase stays (in sodium_malloc memory) to save the keystore
	 * after a wrap-key rotation, as the C client keeps it */
	if (!(g_dev.pass = sodium_malloc(passlen + 1))) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	memcpy(g_dev.pass, pass, passlen);
	g_dev.pass[passlen] = 0;
	g_dev.passlen = passlen;
	if (ccore_wrapks_load(g_dev.ks, &g_dev.wk) != CCORE_OK) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	char dev[2 * CC_DEVICE_ID_BYTES + 1];
	cc_device_id_hex(g_dev.keys->device_id, dev);
	json_t *c = g_dev.have_cert ? cw_i_cert_json(&g_dev.cert) : json_null();
	rc = out_json(json_pack("{ssso}", "device", dev, "cert", c));
out:
	if (rc != CC_OK)
		dev_close();
	return rc;
}

/* Wipe and forget the open device. */
CW_API void cw_close(void)
{
	dev_close();
	out_clear_all();
}

/* Install a certificate into the open device's keystore, as `casus
 * install-cert` does: it must decode, verify against the pinned root (64 hex
 * digits) at the current time, and carry exactly this device's keys and id.
 * The keystore is re-sealed under pass. Out: BIN = new keystore image,
 * JSON = the certificate's description. */
CW_API int cw_install_cert(const char *root_hex, const uint8_t *cert, size_t certlen, const char *pass, size_t passlen)
{
	uint8_t root[CC_SIGN_PK_BYTES];
	uint8_t *img = NULL;
	size_t imglen = 0;
	cc_cert c;
	int rc;

	out_clear_all();
	if (!g_dev.keys || !cert || certlen == 0 || certlen > CC_CERT_MAX || !pass_ok(pass, passlen))
		return CC_ERR_INVALID_ARG;
	if ((rc = cw_i_hex32(root_hex, root)) != CC_OK)
		return rc;
	if ((rc = cc_cert_decode(cert, certlen, &c)) != CC_OK)
		return rc;
	if ((rc = cc_cert_verify(&c, root, (int64_t)time(NULL), NULL)) != CC_OK)
		return rc;
	if (sodium_memcmp(c.sign_pk, g_dev.keys->sign_pk, CC_SIGN_PK_BYTES) != 0 ||
	    sodium_memcmp(c.box_pk, g_dev.keys->box_pk, CC_BOX_PK_BYTES) != 0 ||
	    memcmp(c.device_id, g_dev.keys->device_id, CC_DEVICE_ID_BYTES) != 0)
		return CC_ERR_NOT_MEMBER; /* a certificate for another device */
	if ((rc = cc_keystore_put(g_dev.ks, "cert", cert, certlen)) != CC_OK ||
	    (rc = cc_keystore_set_limits(g_dev.ks, CW_OPSLIMIT, CW_MEMLIMIT)) != CC_OK ||
	    (rc = cc_keystore_save_mem(g_dev.ks, pass, passlen, &img, &imglen)) != CC_OK)
		goto out;
	g_dev.cert = c;
	g_dev.have_cert = 1;
	if ((rc = out_set(CW_OUT_BIN, img, imglen)) != CC_OK || (rc = out_json(cw_i_cert_json(&c))) != CC_OK)
		goto out;
out:
	if (rc != CC_OK)
		out_clear_all();
	free(img);
	return rc;
}

/* The open device's certificate as it goes into `auth`. Out: BIN = certificate. */
CW_API int cw_cert(void)
{
	out_clear_all();
	if (!g_dev.keys || !g_dev.have_cert)
		return CC_ERR_NOT_FOUND;
	cc_wbuf w;
	cc_w_init(&w);
	int rc = cc_cert_encode(&g_dev.cert, &w);
	if (rc == CC_OK)
		rc = w.err;
	if (rc == CC_OK)
		rc = out_set(CW_OUT_BIN, w.p, w.len);
	cc_w_free(&w);
	return rc;
}

/* Answer the server's hello challenge exactly as the C client does: an
 * Ed25519 signature under the context "casus.v1 auth" over the 32 challenge
 * bytes with the open device's identity key. Out: BIN = 64-byte signature. */
CW_API int cw_auth_sign(const uint8_t *challenge, size_t len)
{
	uint8_t sig[CC_SIG_BYTES];
	out_clear_all();
	if (!g_dev.keys || !g_dev.have_cert)
		return CC_ERR_NOT_FOUND;
	if (!challenge || len != 32)
		return CC_ERR_INVALID_ARG;
	int rc = cc_sign_ctx(g_dev.keys->sign_sk, "casus.v1 auth", challenge, len, sig);
	if (rc == CC_OK)
		rc = out_set(CW_OUT_BIN, sig, sizeof sig);
	return rc;
}

/* Verify the server's signed policy against the pinned root and refuse one
 * older than the newest held (held = that policy's number, 0 if none; a JS
 * number, exact up to 2^53): CC_ERR_STALE. Out: JSON = {"number",
 * "deployment","levels":[{"level","name"}],"audiences":[..]}. */
CW_API int cw_policy_check(const char *root_hex, const uint8_t *pol, size_t len, double held)
{
	uint8_t root[CC_SIGN_PK_BYTES];
	cc_policy p;
	int rc;

	out_clear_all();
	if (!pol || len == 0 || len > CW_POLICY_MAX || !(held >= 0) || held > 9007199254740992.0)
		return CC_ERR_INVALID_ARG;
	if ((rc = cw_i_hex32(root_hex, root)) != CC_OK)
		return rc;
	if ((rc = cc_policy_decode(pol, len, &p)) != CC_OK)
		return rc;
	if ((rc = cc_policy_verify(&p, root, NULL)) != CC_OK)
		return rc;
	if ((double)p.number < held)
		return CC_ERR_STALE;
	json_t *levels = json_array(), *aud = json_array();
	for (uint8_t i = 0; levels && i < p.nlevels; i++)
		json_array_append_new(levels,
		                      json_pack("{si ss}", "level", p.levels[i].level, "name", p.levels[i].name));
	for (uint8_t i = 0; aud && i < p.naudiences; i++)
		json_array_append_new(aud, json_string(p.audiences[i].name));
	return out_json(json_pack("{sIsssoso}", "number", (json_int_t)p.number, "deployment", p.deployment, "levels",
	                          levels, "audiences", aud));
}

/* Describe a certificate (any device's) after checking it against the root
 * at the current time. Out: JSON = the description plus "valid": true. */
CW_API int cw_cert_check(const char *root_hex, const uint8_t *cert, size_t len)
{
	uint8_t root[CC_SIGN_PK_BYTES];
	cc_cert c;
	int rc;
	out_clear_all();
	if (!cert || len == 0 || len > CC_CERT_MAX)
		return CC_ERR_INVALID_ARG;
	if ((rc = cw_i_hex32(root_hex, root)) != CC_OK || (rc = cc_cert_decode(cert, len, &c)) != CC_OK ||
	    (rc = cc_cert_verify(&c, root, (int64_t)time(NULL), NULL)) != CC_OK)
		return rc;
	return out_json(cw_i_cert_json(&c));
}

/* ---- this device's wrap keys (issue 17; docs/CRYPTO.md "Device wrap keys") ----------
 *
 * The same schedule as the C client (client/core/ccore_wrapks.h): at every
 * connect JavaScript calls cw_wrap_rotate(0), stores the new keystore image
 * (BIN, only when a key was made) durably BEFORE sending dir.publish with the
 * record (AUX), and on the server's yes calls cw_wrap_accepted(version),
 * which notes the acceptance and wipes the secrets past their grace period
 * (BIN = the keystore image to store, when it changed). */

void cw_i_wraps(const struct cc_wrap_secret **ws, size_t *n, uint32_t *newest)
{
	*ws = g_dev.wk.ws;
	*n = g_dev.wk.ws ? g_dev.wk.n : 0;
	*newest = g_dev.wk.newest;
}

uint32_t cw_i_wraps_published(void)
{
	return g_dev.wk.published;
}

static json_t *wrap_json(void)
{
	const cc_wrap_secret *nw = g_dev.wk.ws ? cc_wrap_newest(g_dev.wk.ws, g_dev.wk.n) : NULL;
	json_t *held = json_array();
	for (size_t i = 0; held && g_dev.wk.ws && i < g_dev.wk.n; i++)
		json_array_append_new(held, json_integer((json_int_t)g_dev.wk.ws[i].version));
	return json_pack("{sIsIsIsoso}", "version", (json_int_t)(nw ? nw->version : 0), "created",
	                 (json_int_t)(nw ? nw->created : 0), "published", (json_int_t)g_dev.wk.published, "held",
	                 held ? held : json_array(), "due",
	                 json_boolean(cc_wrap_rotation_due(g_dev.wk.ws, g_dev.wk.ws ? g_dev.wk.n : 0,
	                                                   (int64_t)time(NULL), CC_WRAP_INTERVAL_DEFAULT)));
}

/* The keystore sealed again under the passphrase into BIN. */
static int ks_image(void)
{
	uint8_t *img = NULL;
	size_t imglen = 0;
	int rc = cc_keystore_set_limits(g_dev.ks, CW_OPSLIMIT, CW_MEMLIMIT);
	if (rc == CC_OK)
		rc = cc_keystore_save_mem(g_dev.ks, g_dev.pass, g_dev.passlen, &img, &imglen);
	if (rc == CC_OK)
		rc = out_set(CW_OUT_BIN, img, imglen);
	free(img);
	return rc;
}

/* Make a new wrap key when due (force: at once) and give the newest's signed
 * record. Out: BIN = keystore image (only when one was made: store it before
 * publishing), AUX = the CCWK record for dir.publish, JSON = {made, version,
 * created, published, held, due}. */
CW_API int cw_wrap_rotate(int force)
{
	out_clear_all();
	if (!g_dev.ks || !g_dev.keys || !g_dev.have_cert || !g_dev.pass)
		return CC_ERR_NOT_FOUND;
	int made = 0, rc = CC_OK;
	if (ccore_wrapks_rotate(g_dev.ks, &g_dev.wk, (int64_t)time(NULL), CC_WRAP_INTERVAL_DEFAULT, force, &made) !=
	    CCORE_OK)
		return CC_ERR_NOMEM;
	if (made && (rc = ks_image()) != CC_OK)
		goto out;
	if (made && (rc = cw_core_wraps_changed()) != CC_OK)
		goto out;
	cc_wbuf w;
	cc_w_init(&w);
	if (ccore_wrapks_publication(&g_dev.wk, g_dev.keys, &w) != CCORE_OK)
		rc = CC_ERR_NOMEM;
	else
		rc = out_set(CW_OUT_AUX, w.p, w.len);
	cc_w_free(&w);
	json_t *o = rc == CC_OK ? wrap_json() : NULL;
	if (o) {
		json_object_set_new(o, "made", json_boolean(made));
		rc = out_json(o);
	} else if (rc == CC_OK)
		rc = CC_ERR_NOMEM;
out:
	if (rc != CC_OK)
		out_clear_all();
	return rc;
}

/* The server accepted this device's wrap key `version` (dir.publish answered).
 * Out: BIN = keystore image when it changed (store it), JSON = {version,
 * created, published, held, due, wiped: [versions]}. */
CW_API int cw_wrap_accepted(double version)
{
	out_clear_all();
	if (!g_dev.ks || !g_dev.pass || !g_dev.wk.ws)
		return CC_ERR_NOT_FOUND;
	if (!(version >= 1) || version > 4294967295.0)
		return CC_ERR_INVALID_ARG;
	uint32_t wiped[CC_WRAP_MAX];
	size_t nw = 0;
	int changed = 0, rc = CC_OK;
	if (ccore_wrapks_accepted(g_dev.ks, &g_dev.wk, (uint32_t)version, (int64_t)time(NULL), CC_WRAP_GRACE_DEFAULT,
	                          wiped, &nw, &changed) != CCORE_OK)
		return CC_ERR_INVALID_ARG;
	if (changed && (rc = ks_image()) != CC_OK)
		goto out;
	if ((rc = cw_core_wraps_changed()) != CC_OK) /* wiped, and the published version */
		goto out;
	json_t *o = wrap_json(), *a = json_array();
	for (size_t i = 0; a && i < nw; i++)
		json_array_append_new(a, json_integer((json_int_t)wiped[i]));
	if (!o || !a) {
		json_decref(o);
		json_decref(a);
		rc = CC_ERR_NOMEM;
		goto out;
	}
	json_object_set_new(o, "wiped", a);
	rc = out_json(o);
out:
	if (rc != CC_OK)
		out_clear_all();
	return rc;
}

/* JSON = {version, created, published, held, due} of the open device. */
CW_API int cw_wrap_info(void)
{
	out_clear_all();
	if (!g_dev.ks || !g_dev.wk.ws)
		return CC_ERR_NOT_FOUND;
	return out_json(wrap_json());
}

/* Another tab of this browser saved the keystore (a wrap key made or wiped):
 * open that image with the passphrase held and take it, if it is this very
 * device's. The wrap keys are read again and handed to the core. */
CW_API int cw_keystore_reload(const uint8_t *img, size_t imglen)
{
	out_clear_all();
	if (!g_dev.ks || !g_dev.keys || !g_dev.pass)
		return CC_ERR_NOT_FOUND;
	if (!img || imglen == 0 || imglen > CW_KEYSTORE_MAX)
		return CC_ERR_INVALID_ARG;
	cc_keystore *ks = NULL;
	cc_device_keys *keys = NULL;
	const uint8_t *v;
	size_t l;
	int rc = cc_keystore_open_mem(img, imglen, g_dev.pass, g_dev.passlen, &ks);
	if (rc == CC_OK && (rc = cc_keystore_get(ks, "device", &v, &l)) == CC_OK)
		rc = cc_device_keys_decode(v, l, &keys);
	if (rc == CC_OK && sodium_memcmp(keys->sign_sk, g_dev.keys->sign_sk, sizeof keys->sign_sk) != 0)
		rc = CC_ERR_NOT_MEMBER; /* another device's keystore */
	cc_device_keys_free(keys);
	if (rc != CC_OK) {
		cc_keystore_free(ks);
		return rc;
	}
	cc_keystore_free(g_dev.ks);
	g_dev.ks = ks;
	if (ccore_wrapks_load(g_dev.ks, &g_dev.wk) != CCORE_OK || cw_core_wraps_changed() != CC_OK)
		return CC_ERR_NOMEM;
	return out_json(wrap_json());
}
