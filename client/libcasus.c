/*
 * libcasus.c: profiles, connection and authentication, the verified policy,
 * and the casus operations of the client (see libcasus.h).
 *
 * Profile folder (mode 0700):
 *   profile.json       server URL, pinned root key, CA file, user and device id
 *   keys.casusks       keystore: "device" (secret keys), "cert" (certificate)
 *   request.casusreq   certificate request to hand to the administrator
 *   policy.bin         newest policy seen, verified against the root each time
 *   cache/<casus>.bin  local copy of a casus: its commits and the messages this
 *                      device decrypted (sealed, see sealed.h, under the
 *                      "cache" key held in the keystore)
 *   outbox/<n>.bin     posts not yet acknowledged by the server (sealed the same way)
 *
 * Trust: nothing the server says is taken on its word. Certificates are
 * checked against the pinned root; every commit of a casus is verified with
 * cc_casus_apply_commit from the create commit on, so the roster a message is
 * encrypted to is the verified one; messages are verified before they are
 * shown; an older policy than the one held is refused.
 */
#define _GNU_SOURCE 1
#include <fileio.h>
#include "libcasus.h"
#include "conn.h"
#include "sealed.h"

#include <cc_buf.h>
#include <cc_casus.h>
#include <cc_cert.h>
#include <cc_err.h>
#include <cc_keys.h>
#include <cc_keystore.h>
#include <cc_policy.h>
#include <cc_audit.h>
#include <cc_transfer.h>
#include <ccore.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <proto.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define REQ_TIMEOUT_MS 15000
#define CASUS_ROTATE_SECS (7 * 86400) /* rotate keys at least weekly */
#define CASUS_CACHE_MAX 32
#define RECONNECT_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 250u
#define BACKOFF_MAX_MS 15000u
#define HIST_CACHE_MAX 20000
#define RING 512

struct loaded {
	char hex[33];
	ccore_casus *k;               /* the core's verified view of this casus */
	uint64_t next_epoch;          /* next commit epoch to fetch */
	json_t *granted;              /* messages received through grants: [{seq,msg}] */
	json_t *commits;              /* every verified commit (base64), epoch order: for the cache */
	json_t *hist;                 /* verified entries this device decrypted, seq order: for the cache */
	uint64_t upto;                /* hist holds every message this device can read up to here */
	int dirty;                    /* hist or commits changed since the cache was written */
	uint64_t saved_ms;            /* when the cache was last written (monotonic) */
	int xfer_checked;             /* key transfers fetched in this process */
};

/* A casus whose live stream is followed (casus_track): the messages already
 * handed out, to resume after a reconnect and to drop duplicates. */
struct tracked {
	char hex[33];
	uint64_t last;
	uint64_t ring[RING];
	size_t nring, pos;
};

struct casus_client {
	char dir[512];
	char server[256];
	char ca[512];
	uint8_t root[CC_SIGN_PK_BYTES];
	cc_keystore *ks;
	cc_device_keys *keys;
	cc_cert cert;
	int have_cert;
	ccore *core;                  /* every trust decision (client/core/ccore.h) */
	cc_policy policy;             /* copy of the core's verified policy */
	int have_policy;
	struct conn *conn;
	char err[512];
	char code[64];
	uint64_t counter_floor;
	struct loaded cache[CASUS_CACHE_MAX];
	size_t ncache;
	uint8_t *cache_key;           /* sodium_malloc: seals cache and outbox files */
	char devhex[33];
	struct tracked track[CASUS_CACHE_MAX];
	size_t ntrack;
	json_t *pending;              /* events for casus_next_event (resumed messages, state) */
	json_t *delivered;            /* outbox entries delivered since open: [{id,casus,seq}] */
	uint64_t next_retry_ms;
	unsigned backoff_ms;
	int ever_connected;
	int offline_reported;
	int last_ok_online;
	int refused;                  /* first verdict of the core on a message since reset (0: none) */
	char refused_msg[512];
};

/* ---- errors ------------------------------------------------------------------ */

__attribute__((format(printf, 3, 4))) static int fail(casus_client *c, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof c->err, fmt, ap);
	va_end(ap);
	if (!c->code[0]) {
		const char *code = rc == CASUS_E_USAGE        ? "usage"
		                   : rc == CASUS_E_PROFILE    ? "profile"
		                   : rc == CASUS_E_PASSPHRASE ? "passphrase"
		                   : rc == CASUS_E_NETWORK    ? "network"
		                   : rc == CASUS_E_VERIFY     ? "verify"
		                   : rc == CASUS_E_NOT_FOUND  ? "not_found"
		                   : rc == CASUS_E_QUEUED     ? "queued"
		                                              : "internal";
		snprintf(c->code, sizeof c->code, "%s", code);
	}
	return rc;
}

/* A verdict of the core: its stable code and sentence; the casus rc for it. */
static int core_fail(casus_client *c, int crc)
{
	snprintf(c->code, sizeof c->code, "%s", ccore_code(crc));
	snprintf(c->err, sizeof c->err, "%s", ccore_message(c->core));
	return crc == CCORE_E_NOMEM ? CASUS_E_INTERNAL : crc == CCORE_E_FORBIDDEN ? CASUS_E_USAGE : CASUS_E_VERIFY;
}

json_t *casus_take_warnings(casus_client *c)
{
	return c->core ? ccore_take_warnings(c->core) : json_array();
}

static void clear_err(casus_client *c)
{
	c->err[0] = 0;
	c->code[0] = 0;
}

const char *casus_error(const casus_client *c)
{
	return c->err;
}

const char *casus_error_code(const casus_client *c)
{
	return c->code;
}

const char *casus_self_user(const casus_client *c)
{
	return c->have_cert ? c->cert.user_id : "";
}

const char *casus_self_role(const casus_client *c)
{
	return c->have_cert ? c->cert.role : "";
}

/* ---- small file helpers ------------------------------------------------------- */



static void path_in(char *out, size_t cap, const char *dir, const char *name)
{
	snprintf(out, cap, "%s/%s", dir, name);
}

int casus_read_passphrase(const char *prompt, char *buf, size_t cap, size_t *len)
{
	const char *file = getenv("CASUS_PASSPHRASE_FILE");
	*len = 0;
	if (file && *file) {
		size_t n = 0;
		uint8_t *p = fio_read(file, cap - 1, &n);
		if (!p)
			return -1;
		while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
			n--;
		memcpy(buf, p, n);
		sodium_memzero(p, n);
		free(p);
		buf[n] = 0;
		*len = n;
		return 0;
	}
	FILE *tty = fopen("/dev/tty", "r+");
	if (!tty)
		return -1;
	struct termios old, quiet;
	fprintf(tty, "%s", prompt);
	fflush(tty);
	int fd = fileno(tty);
	int have = tcgetattr(fd, &old) == 0;
	if (have) {
		quiet = old;
		quiet.c_lflag &= ~(tcflag_t)ECHO;
		tcsetattr(fd, TCSAFLUSH, &quiet);
	}
	char *r = fgets(buf, (int)cap, tty);
	if (have)
		tcsetattr(fd, TCSAFLUSH, &old);
	fprintf(tty, "\n");
	fclose(tty);
	if (!r)
		return -1;
	size_t n = strlen(buf);
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		buf[--n] = 0;
	*len = n;
	return 0;
}

/* ---- profile ------------------------------------------------------------------- */

static int hex32(const char *hex, uint8_t out[32])
{
	size_t n = 0;
	const char *end = NULL;
	if (!hex || strlen(hex) != 64)
		return -1;
	return sodium_hex2bin(out, 32, hex, 64, NULL, &n, &end) == 0 && n == 32 && *end == 0 ? 0 : -1;
}

static void keystore_limits(cc_keystore *ks)
{
	/* Interactive Argon2id limits: a person opens the profile often, and the
	 * keystore file only exists on their own device (see docs/CRYPTO.md). */
	(void)cc_keystore_set_limits(ks, crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE);
}

int casus_profile_init(const struct casus_init_opts *o, char *err, size_t errlen)
{
	char path[1024];
	uint8_t root[32];
	cc_keystore *ks = NULL;
	cc_device_keys *keys = NULL;
	cc_wbuf w;
	int rc = CASUS_E_INTERNAL;
	cc_w_init_secret(&w);

	if (!o->dir || !o->server || !o->user || !o->role || !o->pass) {
		snprintf(err, errlen, "init needs --profile, --server, --root, --user and --role");
		rc = CASUS_E_USAGE;
		goto out;
	}
	if (hex32(o->root_hex, root) != 0) {
		snprintf(err, errlen, "--root must be the deployment root public key: 64 hex digits");
		rc = CASUS_E_USAGE;
		goto out;
	}
	if (mkdir(o->dir, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create profile folder %s: %s", o->dir, strerror(errno));
		rc = CASUS_E_PROFILE;
		goto out;
	}
	path_in(path, sizeof path, o->dir, "keys.casusks");
	if (access(path, F_OK) == 0) {
		snprintf(err, errlen, "%s already holds a device; use another --profile folder", o->dir);
		rc = CASUS_E_USAGE;
		goto out;
	}
	cc_cert_request req;
	if (cc_device_keys_generate(&keys) != CC_OK ||
	    cc_cert_request_create(&req, keys, o->user, o->name ? o->name : o->user, o->org ? o->org : "", o->role) !=
	        CC_OK) {
		snprintf(err, errlen, "invalid user id, name, organisation or role (user ids and roles: a-z 0-9 . _ @ -)");
		rc = CASUS_E_USAGE;
		goto out;
	}
	uint8_t ck[SEALED_KEY_BYTES];
	randombytes_buf(ck, sizeof ck);
	int kp = cc_keystore_new(&ks) != CC_OK || cc_device_keys_encode(keys, &w) != CC_OK || w.err ||
	         cc_keystore_put(ks, "device", w.p, w.len) != CC_OK || cc_keystore_put(ks, "cache", ck, sizeof ck) != CC_OK;
	sodium_memzero(ck, sizeof ck);
	if (kp)
		goto out;
	keystore_limits(ks);
	if (cc_keystore_save(ks, path, o->pass, o->passlen) != CC_OK) {
		snprintf(err, errlen, "cannot write %s", path);
		rc = CASUS_E_PROFILE;
		goto out;
	}
	cc_wbuf rq;
	cc_w_init(&rq);
	cc_cert_request_encode(&req, &rq);
	path_in(path, sizeof path, o->dir, "request.casusreq");
	int wr = rq.err ? -1 : fio_write_atomic(path, rq.p, rq.len, 0644);
	cc_w_free(&rq);
	char dev[33];
	cc_device_id_hex(keys->device_id, dev);
	json_t *prof = json_pack("{ssssssss}", "server", o->server, "root", o->root_hex, "user", o->user, "device", dev);
	if (o->ca_file)
		json_object_set_new(prof, "ca", json_string(o->ca_file));
	char *text = json_dumps(prof, JSON_INDENT(2));
	json_decref(prof);
	path_in(path, sizeof path, o->dir, "profile.json");
	if (wr || !text || fio_write_atomic(path, text, strlen(text), 0600) != 0) {
		free(text);
		snprintf(err, errlen, "cannot write the profile in %s", o->dir);
		rc = CASUS_E_PROFILE;
		goto out;
	}
	free(text);
	rc = CASUS_OK;
out:
	cc_w_free(&w);
	cc_keystore_free(ks);
	cc_device_keys_free(keys);
	return rc;
}

static int load_profile_json(casus_client *c, char *err, size_t errlen)
{
	char path[1024];
	path_in(path, sizeof path, c->dir, "profile.json");
	json_error_t jerr;
	json_t *p = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	const char *server = NULL, *root = NULL, *ca = NULL;
	if (!p || proto_get_str(p, "server", sizeof c->server - 1, &server) ||
	    proto_get_str(p, "root", 64, &root) || hex32(root, c->root) != 0) {
		snprintf(err, errlen, "no usable profile in %s (run casus init first)", c->dir);
		json_decref(p);
		return CASUS_E_PROFILE;
	}
	snprintf(c->server, sizeof c->server, "%s", server);
	if (proto_get_str(p, "ca", sizeof c->ca - 1, &ca) == 0)
		snprintf(c->ca, sizeof c->ca, "%s", ca);
	json_decref(p);
	return CASUS_OK;
}

static int open_keystore(const char *dir, const char *pass, size_t passlen, cc_keystore **ks, char *err, size_t errlen)
{
	char path[1024];
	path_in(path, sizeof path, dir, "keys.casusks");
	int rc = cc_keystore_open(path, pass, passlen, ks);
	if (rc == CC_ERR_PASSPHRASE) {
		snprintf(err, errlen, "wrong passphrase for %s (or the keystore is damaged)", path);
		return CASUS_E_PASSPHRASE;
	}
	if (rc != CC_OK) {
		snprintf(err, errlen, "cannot open keystore %s: %s", path, cc_strerror(rc));
		return CASUS_E_PROFILE;
	}
	return CASUS_OK;
}

int casus_profile_install_cert(const char *dir, const char *pass, size_t passlen, const char *cert_path, char *err,
                               size_t errlen)
{
	casus_client tmp;
	cc_keystore *ks = NULL;
	cc_device_keys *keys = NULL;
	uint8_t *cb = NULL;
	size_t cl = 0;
	cc_cert cert;
	int rc;
	char path[1024];

	memset(&tmp, 0, sizeof tmp);
	snprintf(tmp.dir, sizeof tmp.dir, "%s", dir);
	if ((rc = load_profile_json(&tmp, err, errlen)) != CASUS_OK)
		return rc;
	if ((rc = open_keystore(dir, pass, passlen, &ks, err, errlen)) != CASUS_OK)
		return rc;
	const uint8_t *kv;
	size_t kl;
	rc = CASUS_E_VERIFY;
	if (cc_keystore_get(ks, "device", &kv, &kl) != CC_OK || cc_device_keys_decode(kv, kl, &keys) != CC_OK) {
		snprintf(err, errlen, "the keystore holds no device keys");
		rc = CASUS_E_PROFILE;
		goto out;
	}
	cb = fio_read(cert_path, CC_CERT_MAX, &cl);
	if (!cb) {
		snprintf(err, errlen, "cannot read certificate %s", cert_path);
		rc = CASUS_E_USAGE;
		goto out;
	}
	int crc = cc_cert_decode(cb, cl, &cert);
	if (crc == CC_OK)
		crc = cc_cert_verify(&cert, tmp.root, (int64_t)time(NULL), NULL);
	if (crc != CC_OK) {
		snprintf(err, errlen, "certificate refused: %s", cc_strerror(crc));
		goto out;
	}
	if (sodium_memcmp(cert.sign_pk, keys->sign_pk, 32) != 0 || sodium_memcmp(cert.box_pk, keys->box_pk, 32) != 0 ||
	    memcmp(cert.device_id, keys->device_id, 16) != 0) {
		snprintf(err, errlen, "this certificate is for another device");
		goto out;
	}
	if (cc_keystore_put(ks, "cert", cb, cl) != CC_OK) {
		rc = CASUS_E_INTERNAL;
		goto out;
	}
	path_in(path, sizeof path, dir, "keys.casusks");
	keystore_limits(ks);
	if (cc_keystore_save(ks, path, pass, passlen) != CC_OK) {
		snprintf(err, errlen, "cannot write %s", path);
		rc = CASUS_E_PROFILE;
		goto out;
	}
	rc = CASUS_OK;
out:
	free(cb);
	cc_device_keys_free(keys);
	cc_keystore_free(ks);
	return rc;
}

/* jansson holds copies of decrypted text (the message bodies we parse and the
 * history we hand out): wipe every block it frees, whatever its size. */
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

int casus_client_open(casus_client **out, const char *dir, const char *pass, size_t passlen, char *err,
                      size_t errlen)
{
	*out = NULL;
	if (sodium_init() < 0) {
		snprintf(err, errlen, "libsodium failed to initialise");
		return CASUS_E_INTERNAL;
	}
	json_set_alloc_funcs(json_alloc, json_wipe_free);
	casus_client *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return CASUS_E_INTERNAL;
	}
	snprintf(c->dir, sizeof c->dir, "%s", dir);
	int rc = load_profile_json(c, err, errlen);
	if (rc == CASUS_OK)
		rc = open_keystore(dir, pass, passlen, &c->ks, err, errlen);
	const uint8_t *v;
	size_t l;
	if (rc == CASUS_OK &&
	    (cc_keystore_get(c->ks, "device", &v, &l) != CC_OK || cc_device_keys_decode(v, l, &c->keys) != CC_OK)) {
		snprintf(err, errlen, "the keystore holds no device keys");
		rc = CASUS_E_PROFILE;
	}
	if (rc == CASUS_OK && cc_keystore_get(c->ks, "cert", &v, &l) == CC_OK) {
		if (cc_cert_decode(v, l, &c->cert) == CC_OK)
			c->have_cert = 1;
	}
	if (rc == CASUS_OK) {
		/* the key that seals the local cache and outbox: random, kept in the
		 * keystore, so writing the cache never runs Argon2 again. A profile
		 * made before the cache existed gets one now (one save). */
		c->cache_key = sodium_malloc(SEALED_KEY_BYTES);
		if (!c->cache_key) {
			snprintf(err, errlen, "out of memory");
			rc = CASUS_E_INTERNAL;
		} else if (cc_keystore_get(c->ks, "cache", &v, &l) == CC_OK && l == SEALED_KEY_BYTES) {
			memcpy(c->cache_key, v, SEALED_KEY_BYTES);
		} else {
			char kpath[1024];
			randombytes_buf(c->cache_key, SEALED_KEY_BYTES);
			path_in(kpath, sizeof kpath, dir, "keys.casusks");
			if (cc_keystore_put(c->ks, "cache", c->cache_key, SEALED_KEY_BYTES) != CC_OK ||
			    cc_keystore_save(c->ks, kpath, pass, passlen) != CC_OK) {
				snprintf(err, errlen, "cannot add the cache key to %s", kpath);
				rc = CASUS_E_PROFILE;
			}
		}
		cc_device_id_hex(c->keys->device_id, c->devhex);
		char sub[1024];
		path_in(sub, sizeof sub, dir, "cache");
		(void)mkdir(sub, 0700);
		path_in(sub, sizeof sub, dir, "outbox");
		(void)mkdir(sub, 0700);
		c->pending = json_array();
		c->delivered = json_array();
		c->backoff_ms = BACKOFF_MIN_MS;
	}
	if (rc == CASUS_OK && ccore_new(&c->core, c->root, c->keys, &c->cert) != CCORE_OK) {
		snprintf(err, errlen, "out of memory");
		rc = CASUS_E_INTERNAL;
	}
	if (rc == CASUS_OK) {
		/* the newest policy and revocation list seen before, if any: the
		 * core verifies them again and never lets them go back */
		char path[1024];
		size_t n = 0;
		int changed = 0;
		path_in(path, sizeof path, dir, "policy.bin");
		uint8_t *pb = fio_read(path, 1 << 20, &n);
		if (pb && ccore_policy_offer(c->core, pb, n, 1, &changed) == CCORE_OK) {
			c->policy = *ccore_policy(c->core);
			c->have_policy = 1;
		}
		free(pb);
		path_in(path, sizeof path, dir, "revlist.bin");
		pb = fio_read(path, 1 << 24, &n);
		if (pb && ccore_revlist_offer(c->core, pb, n, (int64_t)time(NULL), 1, &changed) != CCORE_OK)
			ccore_warn(c->core, "revoked", "the stored revocation list does not verify: fetched again");
		free(pb);
	}
	if (rc != CASUS_OK) {
		casus_client_free(c);
		return rc;
	}
	*out = c;
	return CASUS_OK;
}

static void cache_save(casus_client *c, struct loaded *L);
static uint64_t mono_ms(void);
static void track_mark(casus_client *c, const char *hex, uint64_t seq);

void casus_client_free(casus_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->ncache; i++)
		if (c->cache[i].dirty)
			cache_save(c, &c->cache[i]);
	conn_close(c->conn);
	for (size_t i = 0; i < c->ncache; i++) {
		ccore_casus_free(c->cache[i].k);
		json_decref(c->cache[i].granted);
		json_decref(c->cache[i].commits);
		json_decref(c->cache[i].hist);
	}
	json_decref(c->pending);
	json_decref(c->delivered);
	sodium_free(c->cache_key);
	ccore_free(c->core);
	cc_device_keys_free(c->keys);
	cc_keystore_free(c->ks);
	sodium_memzero(c, sizeof *c);
	free(c);
}

/* ---- requests ---------------------------------------------------------------- */

/* Send a request; a response with ok:false becomes CASUS_E_SERVER with its code. */
static int request(casus_client *c, json_t *req, json_t **resp)
{
	char err[256];
	*resp = NULL;
	if (!c->conn) {
		json_decref(req);
		return fail(c, CASUS_E_NETWORK, "not connected to the server");
	}
	json_t *r = conn_request(c->conn, req, REQ_TIMEOUT_MS, err, sizeof err);
	json_decref(req);
	if (!r)
		return fail(c, CASUS_E_NETWORK, "server: %s", err);
	if (!json_is_true(json_object_get(r, "ok"))) {
		json_t *e = json_object_get(r, "error");
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		int rc = code && strcmp(code, "not_found") == 0 ? CASUS_E_NOT_FOUND : CASUS_E_SERVER;
		snprintf(c->code, sizeof c->code, "%s", code ? code : "internal");
		fail(c, rc, "server refused (%s): %s", code ? code : "?", msg ? msg : "");
		json_decref(r); /* code and msg point into r */
		return rc;
	}
	*resp = r;
	return CASUS_OK;
}

json_t *casus_raw_request(casus_client *c, json_t *req)
{
	char err[256];
	if (!c->conn)
		return NULL;
	return conn_request(c->conn, req, REQ_TIMEOUT_MS, err, sizeof err); /* req is not stolen */
}

json_t *casus_next_push(casus_client *c, int timeout_ms)
{
	return c->conn ? conn_next_push(c->conn, timeout_ms) : NULL;
}

static int fetch_policy(casus_client *c)
{
	json_t *r = NULL;
	int rc = request(c, json_pack("{ss}", "type", "policy.get"), &r);
	if (rc)
		return rc;
	uint8_t *pb = NULL;
	size_t pl = 0;
	int changed = 0, crc = CCORE_E_INVALID;
	if (proto_get_b64(r, "policy", 1 << 20, &pb, &pl) == 0)
		crc = ccore_policy_offer(c->core, pb, pl, 0, &changed);
	json_decref(r);
	if (crc != CCORE_OK) {
		free(pb);
		return core_fail(c, crc);
	}
	if (changed) {
		char path[1024];
		path_in(path, sizeof path, c->dir, "policy.bin");
		fio_write_atomic(path, pb, pl, 0600);
	}
	c->policy = *ccore_policy(c->core);
	c->have_policy = 1;
	free(pb);
	return CASUS_OK;
}

/* The deployment's revocation list (revlist.get): the core refuses one older
 * than held; stored in the profile so it never goes back. */
static int fetch_revlist(casus_client *c)
{
	json_t *r = NULL;
	int rc = request(c, json_pack("{ss}", "type", "revlist.get"), &r);
	if (rc)
		return rc;
	uint8_t *rb = NULL;
	size_t rl = 0;
	int changed = 0, crc;
	json_t *v = json_object_get(r, "revlist");
	if (json_is_null(v) || !v)
		crc = ccore_revlist_offer(c->core, NULL, 0, (int64_t)time(NULL), 0, &changed);
	else if (proto_get_b64(r, "revlist", 1 << 24, &rb, &rl) == 0)
		crc = ccore_revlist_offer(c->core, rb, rl, (int64_t)time(NULL), 0, &changed);
	else
		crc = CCORE_E_INVALID;
	json_decref(r);
	if (crc == CCORE_OK && changed) {
		char path[1024];
		path_in(path, sizeof path, c->dir, "revlist.bin");
		fio_write_atomic(path, rb, rl, 0600);
	}
	free(rb);
	return crc == CCORE_OK ? CASUS_OK : core_fail(c, crc);
}

static void resume_tracked(casus_client *c);

int casus_is_online(const casus_client *c)
{
	return c->conn && conn_is_open(c->conn);
}

int casus_client_connect(casus_client *c)
{
	char err[256];
	clear_err(c);
	if (!c->have_cert)
		return fail(c, CASUS_E_PROFILE, "no certificate installed yet: run casus install-cert FILE");
	if (c->conn && conn_is_open(c->conn))
		return CASUS_OK;
	conn_close(c->conn);
	c->conn = NULL;
	if (conn_open(&c->conn, c->server, c->ca[0] ? c->ca : NULL, REQ_TIMEOUT_MS, err, sizeof err) != 0)
		return fail(c, CASUS_E_NETWORK, "cannot reach %s: %s", c->server, err);
	json_t *r = NULL;
	int rc = request(c, json_pack("{sssi}", "type", "hello", "version", PROTO_VERSION), &r);
	if (rc)
		return rc;
	uint8_t challenge[32], sig[CC_SIG_BYTES];
	if (proto_get_b64_fixed(r, "challenge", challenge, sizeof challenge)) {
		json_decref(r);
		return fail(c, CASUS_E_NETWORK, "the server sent no challenge");
	}
	json_decref(r);
	if (cc_sign_ctx(c->keys->sign_sk, "casus.v1 auth", challenge, sizeof challenge, sig) != CC_OK)
		return fail(c, CASUS_E_INTERNAL, "cannot sign the challenge");
	cc_wbuf w;
	cc_w_init(&w);
	cc_cert_encode(&c->cert, &w);
	json_t *auth = json_pack("{ss}", "type", "auth");
	proto_set_b64(auth, "cert", w.p, w.len);
	proto_set_b64(auth, "sig", sig, sizeof sig);
	cc_w_free(&w);
	rc = request(c, auth, &r);
	if (rc)
		return rc;
	json_decref(r);
	if ((rc = fetch_policy(c)) != CASUS_OK || (rc = fetch_revlist(c)) != CASUS_OK)
		return rc;
	c->ever_connected = 1;
	c->backoff_ms = BACKOFF_MIN_MS;
	/* what was queued while the server was away goes out first, then the
	 * followed casus catch up on what they missed */
	(void)casus_outbox_flush(c);
	resume_tracked(c);
	clear_err(c);
	return CASUS_OK;
}

/* ---- casus loading -------------------------------------------------------------- */

static int parse_casus(casus_client *c, const char *hex, uint8_t id[16])
{
	size_t n = 0;
	const char *end = NULL;
	if (!hex || strlen(hex) != 32 || sodium_hex2bin(id, 16, hex, 32, NULL, &n, &end) != 0 || n != 16)
		return fail(c, CASUS_E_USAGE, "a casus id is 32 hex digits (see casus list)");
	return CASUS_OK;
}

static const cc_cert *known_cert(const struct loaded *L, const uint8_t dev[16])
{
	return ccore_cert(L->k, dev);
}

/* ---- local cache ----------------------------------------------------------------- */

static void cache_path(const casus_client *c, const char *hex, char *out, size_t cap)
{
	snprintf(out, cap, "%s/cache/%s.bin", c->dir, hex);
}

static void cache_bind(const casus_client *c, const char *hex, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%s", hex, c->devhex);
}

static int casus_id_of(const char *hex, uint8_t id[16])
{
	size_t n = 0;
	return hex && strlen(hex) == 32 && sodium_hex2bin(id, 16, hex, 32, NULL, &n, NULL) == 0 && n == 16 ? 0 : -1;
}

static void loaded_reset(casus_client *c, struct loaded *L)
{
	uint8_t id[16];
	ccore_casus_free(L->k);
	L->k = NULL;
	if (casus_id_of(L->hex, id) == 0)
		(void)ccore_casus_new(c->core, id, &L->k);
	L->next_epoch = 0;
	json_array_clear(L->commits);
	json_array_clear(L->hist);
	L->upto = 0;
}

/* Serialise into a buffer we can wipe (json_dumps' buffer would be freed unwiped). */
static char *dump_wipeable(const json_t *o, size_t *len)
{
	size_t n = json_dumpb(o, NULL, 0, JSON_COMPACT);
	if (!n)
		return NULL;
	char *buf = malloc(n + 1);
	if (!buf)
		return NULL;
	if (json_dumpb(o, buf, n, JSON_COMPACT) != n) {
		sealed_free(buf, n + 1);
		return NULL;
	}
	buf[n] = 0;
	*len = n;
	return buf;
}

/* The cache holds only what this device verified itself: the public commits
 * (verified again when loaded) and the messages it decrypted. No key is
 * stored; a device that leaves a casus deletes its copy (cache_forget). */
static void cache_save(casus_client *c, struct loaded *L)
{
	char path[1024], bind[80];
	if (!c->cache_key || !L->next_epoch)
		return;
	json_t *o = json_pack("{sisssIsIsOsOso}", "v", 1, "casus", L->hex, "saved", (json_int_t)time(NULL), "upto",
	                      (json_int_t)L->upto, "commits", L->commits, "hist", L->hist, "core",
	                      ccore_casus_save(L->k));
	size_t n = 0;
	char *text = o ? dump_wipeable(o, &n) : NULL;
	json_decref(o);
	if (!text)
		return;
	cache_path(c, L->hex, path, sizeof path);
	cache_bind(c, L->hex, bind, sizeof bind);
	if (sealed_write(path, c->cache_key, "cache", bind, (const uint8_t *)text, n, 0) == 0)
		L->dirty = 0;
	L->saved_ms = mono_ms();
	sealed_free(text, n + 1);
}

static void cache_load(casus_client *c, struct loaded *L)
{
	char path[1024], bind[80];
	uint8_t *pt = NULL;
	size_t n = 0;
	cache_path(c, L->hex, path, sizeof path);
	cache_bind(c, L->hex, bind, sizeof bind);
	if (!c->cache_key || sealed_read(path, c->cache_key, "cache", bind, &pt, &n) != 0)
		return;
	json_t *o = json_loadb((const char *)pt, n, JSON_REJECT_DUPLICATES, NULL);
	sealed_free(pt, n + 1);
	const char *hx = json_string_value(json_object_get(o, "casus"));
	if (!o || !hx || strcmp(hx, L->hex) != 0) {
		json_decref(o);
		return;
	}
	size_t i;
	json_t *cb64;
	json_array_foreach(json_object_get(o, "commits"), i, cb64) {
		json_t *wrap = json_pack("{sO}", "commit", cb64);
		uint8_t *cb = NULL;
		size_t cl = 0;
		/* this device's own verified copy: judged as of each commit's time */
		int ok = proto_get_b64(wrap, "commit", CC_COMMIT_MAX_BYTES, &cb, &cl) == 0 &&
		         ccore_apply_commit(L->k, cb, cl, (int64_t)time(NULL), 0) == CCORE_OK;
		if (ok) {
			json_array_append(L->commits, cb64);
			L->next_epoch++;
		}
		free(cb);
		json_decref(wrap);
		if (!ok) {
			/* a copy that no longer verifies is dropped: the server's chain decides */
			loaded_reset(c, L);
			json_decref(o);
			return;
		}
	}
	json_t *h = json_object_get(o, "hist");
	if (json_is_array(h))
		json_array_extend(L->hist, h);
	ccore_casus_restore(L->k, json_object_get(o, "core"));
	json_int_t upto = json_integer_value(json_object_get(o, "upto"));
	L->upto = upto > 0 ? (uint64_t)upto : 0;
	json_t *cs = json_object_get(o, "saved");
	L->dirty = 0;
	(void)cs;
	json_decref(o);
}

static uint64_t hist_last(const struct loaded *L)
{
	size_t n = json_array_size(L->hist);
	return n ? (uint64_t)json_integer_value(json_object_get(json_array_get(L->hist, n - 1), "seq")) : 0;
}

/* Keep a decoded entry in the cache (seq order, no duplicates). Entries that
 * did not verify are kept too, without content, so they stay marked. */
static void hist_add(struct loaded *L, json_t *entry)
{
	if (!json_object_get(entry, "seq"))
		return;
	uint64_t seq = (uint64_t)json_integer_value(json_object_get(entry, "seq"));
	size_t n = json_array_size(L->hist), at = n;
	while (at > 0) {
		uint64_t s = (uint64_t)json_integer_value(json_object_get(json_array_get(L->hist, at - 1), "seq"));
		if (s == seq)
			return;
		if (s < seq)
			break;
		at--;
	}
	json_array_insert(L->hist, at, entry);
	while (json_array_size(L->hist) > HIST_CACHE_MAX)
		json_array_remove(L->hist, 0);
	L->dirty = 1;
}

static void cache_forget(casus_client *c, const char *hex)
{
	char path[1024];
	cache_path(c, hex, path, sizeof path);
	unlink(path);
	for (size_t i = 0; i < c->ncache; i++)
		if (strcmp(c->cache[i].hex, hex) == 0) {
			json_array_clear(c->cache[i].hist);
			c->cache[i].upto = 0;
			c->cache[i].dirty = 0;
		}
}

/* The in-memory state of a casus, created from the local cache if there is one. */
static struct loaded *get_loaded(casus_client *c, const char *hex)
{
	for (size_t i = 0; i < c->ncache; i++)
		if (strcmp(c->cache[i].hex, hex) == 0)
			return &c->cache[i];
	if (c->ncache == CASUS_CACHE_MAX)
		return NULL;
	struct loaded *L = &c->cache[c->ncache];
	memset(L, 0, sizeof *L);
	snprintf(L->hex, sizeof L->hex, "%s", hex);
	uint8_t id[16];
	if (casus_id_of(hex, id) != 0 || ccore_casus_new(c->core, id, &L->k) != CCORE_OK)
		return NULL;
	L->granted = json_array();
	L->commits = json_array();
	L->hist = json_array();
	c->ncache++;
	if (c->have_policy)
		cache_load(c, L);
	return L;
}

/* 1 if the casus has a verified chain here without asking the server. */
static int load_casus_local(casus_client *c, const char *hex, struct loaded **out)
{
	struct loaded *L = get_loaded(c, hex);
	*out = L && L->next_epoch > 0 ? L : NULL;
	return *out != NULL;
}

static void accept_transfers(casus_client *c, struct loaded *L);

/* Another device of this user and role was in the chain, and this device
 * holds no key of the first epoch: keys may wait in a transfer. */
static int needs_transfer(const casus_client *c, const struct loaded *L)
{
	int other = 0;
	const cc_cert *certs = NULL;
	size_t ncerts = ccore_certs(L->k, &certs);
	for (size_t i = 0; i < ncerts; i++)
		if (strcmp(certs[i].user_id, c->cert.user_id) == 0 && strcmp(certs[i].role, c->cert.role) == 0 &&
		    memcmp(certs[i].device_id, c->keys->device_id, 16) != 0)
			other = 1;
	if (!other)
		return 0;
	for (int a = 0; a < c->policy.naudiences; a++)
		if (cc_casus_has_epoch_key(ccore_cc(L->k), 0, a))
			return 0;
	return 1;
}

/* Bring a casus up to date: fetch and verify new commits, accept grants. */
static int load_casus(casus_client *c, const char *hex, struct loaded **out)
{
	uint8_t id[16];
	int rc = parse_casus(c, hex, id);
	if (rc)
		return rc;
	if (!c->have_policy)
		return casus_is_online(c) ? fail(c, CASUS_E_VERIFY, "no verified policy yet")
		                          : fail(c, CASUS_E_NETWORK, "cannot reach the server and there is no local copy of "
		                                                     "casus %s on this device", hex);
	struct loaded *L = get_loaded(c, hex);
	if (!L)
		return fail(c, CASUS_E_INTERNAL, "too many casus open at once");
	if (!casus_is_online(c)) {
		if (L->next_epoch > 0) {
			*out = L; /* the local copy: verified when it was loaded */
			return CASUS_OK;
		}
		return fail(c, CASUS_E_NETWORK, "cannot reach the server and there is no local copy of casus %s", hex);
	}
	ccore_pager pg = {0};
	const int64_t now = (int64_t)time(NULL);
	for (;;) {
		json_t *r = NULL;
		json_t *req = json_pack("{sssssI}", "type", "commit.fetch", "casus", hex, "from", (json_int_t)L->next_epoch);
		if ((rc = request(c, req, &r))) {
			if ((rc == CASUS_E_NOT_FOUND || (rc == CASUS_E_SERVER && strcmp(c->code, "forbidden") == 0)) &&
			    ccore_unverified_removal(L->k) != CCORE_OK)
				return core_fail(c, CCORE_E_ROLLBACK); /* keep the verified copy */
			return rc;
		}
		json_t *arr = json_object_get(r, "commits");
		int more = json_is_true(json_object_get(r, "more"));
		size_t i, got = 0;
		json_t *o;
		json_array_foreach(arr, i, o) {
			uint8_t *cb = NULL;
			size_t cl = 0;
			uint64_t ep = 0;
			if (proto_get_u64(o, "epoch", UINT32_MAX, &ep) || proto_get_b64(o, "commit", CC_COMMIT_MAX_BYTES, &cb, &cl)) {
				free(cb);
				json_decref(r);
				return fail(c, CASUS_E_VERIFY, "the server sent a broken commit chain (epoch %llu)",
				            (unsigned long long)L->next_epoch);
			}
			/* the core decides: bound to this casus, continuing the verified
			 * copy, not dated ahead, the head also valid at this device's time */
			int head = !more && i + 1 == json_array_size(arr);
			int crc = ccore_apply_commit(L->k, cb, cl, now, head);
			free(cb);
			if (crc != CCORE_OK) {
				json_decref(r);
				return core_fail(c, crc);
			}
			json_array_append(L->commits, json_object_get(o, "commit"));
			/* the roster or level changed: what this device may read may have
			 * changed too, so the next full history asks the server again */
			L->upto = 0;
			L->dirty = 1;
			L->next_epoch++;
			got++;
		}
		json_decref(r);
		int step = ccore_paging_step(&pg, got, more);
		if (step < 0)
			return core_fail(c, step);
		if (!step)
			break;
	}
	int drc = ccore_chain_done(L->k, now);
	if (L->dirty || drc != CCORE_OK)
		cache_save(c, L);
	if (drc != CCORE_OK)
		return core_fail(c, drc);
	if (!ccore_is_member(L->k)) {
		/* the verified chain removed this device (or never had it): no copy */
		if (json_array_size(L->hist))
			cache_forget(c, hex);
		*out = L;
		return CASUS_OK;
	}
	/* grants: keys of earlier messages shared with this device */
	json_t *r = NULL;
	if ((rc = request(c, json_pack("{ssss}", "type", "grant.fetch", "casus", hex), &r)))
		return rc;
	size_t i;
	json_t *g;
	json_decref(L->granted);
	L->granted = json_array();
	json_array_foreach(json_object_get(r, "grants"), i, g) {
		uint8_t *gb = NULL;
		size_t gl = 0;
		if (proto_get_b64(g, "grant", CC_COMMIT_MAX_BYTES, &gb, &gl) != 0)
			continue;
		json_t *ms = json_object_get(g, "messages");
		size_t nm = json_array_size(ms), j;
		uint8_t **mb = calloc(nm ? nm : 1, sizeof *mb);
		size_t *ml = calloc(nm ? nm : 1, sizeof *ml);
		json_t *m;
		int grc = mb && ml ? CCORE_OK : CCORE_E_NOMEM;
		json_array_foreach(ms, j, m) {
			if (grc == CCORE_OK && proto_get_b64(m, "msg", PROTO_MAX_FRAME, &mb[j], &ml[j]) != 0)
				grc = CCORE_E_TAMPERED;
		}
		if (grc == CCORE_OK)
			grc = ccore_accept_grant(L->k, gb, gl, (const uint8_t *const *)mb, ml, nm);
		for (j = 0; mb && j < nm; j++)
			free(mb[j]);
		free(mb);
		free(ml);
		free(gb);
		if (grc == CCORE_OK) {
			json_array_foreach(ms, j, m)
				json_array_append(L->granted, m);
		} else if (grc == CCORE_E_GRANT_AUDIENCE || grc == CCORE_E_WRONG_CASUS) {
			json_decref(r);
			return core_fail(c, grc);
		}
	}
	json_decref(r);
	if (!L->xfer_checked && needs_transfer(c, L)) {
		L->xfer_checked = 1;
		accept_transfers(c, L);
	}
	*out = L;
	return CASUS_OK;
}

/* ---- list / new ------------------------------------------------------------------ */

int casus_list(casus_client *c, json_t **out)
{
	clear_err(c);
	json_t *r = NULL;
	int rc = request(c, json_pack("{ss}", "type", "casus.list"), &r);
	if (rc)
		return rc;
	json_t *res = json_pack("{sOsO}", "casus", json_object_get(r, "casus"), "notices", json_object_get(r, "notices"));
	json_decref(r);
	*out = res;
	return CASUS_OK;
}

/* Current, valid certificates of a user from the directory. */
static int lookup_user(casus_client *c, const char *user, cc_cert **certs, size_t *n)
{
	json_t *r = NULL;
	*certs = NULL;
	*n = 0;
	int rc = request(c, json_pack("{ssss}", "type", "dir.lookup", "user", user), &r);
	if (rc)
		return rc;
	json_t *devs = json_object_get(r, "devices");
	size_t cnt = json_array_size(devs), i;
	json_t *o;
	cc_cert *arr = calloc(cnt ? cnt : 1, sizeof(*arr));
	if (!arr) {
		json_decref(r);
		return fail(c, CASUS_E_INTERNAL, "out of memory");
	}
	int bad = CCORE_OK;
	json_array_foreach(devs, i, o) {
		uint8_t *cb = NULL;
		size_t cl = 0;
		cc_cert ct;
		/* the server's directory is only a hint: the core judges every
		 * certificate (root, validity now, revocation list); the directory
		 * lists only current devices, so a revoked one is a hostile answer */
		int crc = proto_get_b64(o, "cert", CC_CERT_MAX, &cb, &cl) == 0
		              ? ccore_dir_cert(c->core, cb, cl, user, (int64_t)time(NULL), &ct)
		              : CCORE_E_INVALID;
		if (crc == CCORE_OK)
			arr[(*n)++] = ct;
		else if (crc == CCORE_E_REVOKED && bad == CCORE_OK)
			bad = crc;
		free(cb);
	}
	json_decref(r);
	if (bad != CCORE_OK) {
		free(arr);
		*n = 0;
		snprintf(c->code, sizeof c->code, "revoked");
		return fail(c, CASUS_E_VERIFY,
		            "Ingetrokken apparaat in de adreslijst. The directory lists a revoked device of %s: refused, "
		            "nothing is sealed to it",
		            user);
	}
	if (!*n) {
		free(arr);
		return fail(c, CASUS_E_NOT_FOUND, "no certified device of user %s is known to the server", user);
	}
	*certs = arr;
	return CASUS_OK;
}

static int aud_default(casus_client *c, const cc_chain_state *st)
{
	int role = cc_policy_role_index(&c->policy, c->cert.role);
	for (int a = 0; a < c->policy.naudiences; a++)
		if (role >= 0 && cc_entitled(&c->policy, a, role, st->level, 0))
			return a;
	return -1;
}

static int queue_post(casus_client *c, const char *hex, const char *audience, const char *ground, const char *kind,
                      const char *text, uint64_t *seq, char msgid_hex[33]);
static uint64_t now_us(void);
static json_t *decode_one(casus_client *c, struct loaded *L, uint64_t seq, const uint8_t *mb, size_t ml, int live);

int casus_new(casus_client *c, const char *title, const char *purpose, const char *basis, uint8_t level,
              const char *const *members, size_t nmembers, char casus_hex[33])
{
	return casus_new_retention(c, title, purpose, basis, level, -1, members, nmembers, casus_hex);
}

int casus_close(casus_client *c, const char *casus_hex, const char *reason, int64_t *purge_after)
{
	uint8_t id[16];
	clear_err(c);
	int rc = parse_casus(c, casus_hex, id);
	if (rc)
		return rc;
	if (!reason || !*reason)
		return fail(c, CASUS_E_USAGE, "closing a casus needs --reason");
	json_t *r = NULL;
	rc = request(c, json_pack("{ssssss}", "type", "casus.close", "casus", casus_hex, "reason", reason), &r);
	if (rc)
		return rc;
	uint64_t pa = 0;
	proto_get_u64(r, "purge_after", UINT64_MAX >> 2, &pa);
	if (purge_after)
		*purge_after = (int64_t)pa;
	json_decref(r);
	return CASUS_OK;
}

int casus_new_retention(casus_client *c, const char *title, const char *purpose, const char *basis, uint8_t level,
                        long retention_days, const char *const *members, size_t nmembers, char casus_hex[33])
{
	clear_err(c);
	cc_cert *all = NULL;
	size_t nall = 0;
	int rc = CASUS_OK;
	cc_wbuf w;
	cc_w_init(&w);
	for (size_t i = 0; i < nmembers && rc == CASUS_OK; i++) {
		cc_cert *certs = NULL;
		size_t n = 0;
		if ((rc = lookup_user(c, members[i], &certs, &n)))
			break;
		cc_cert *na = realloc(all, (nall + n) * sizeof(*na));
		if (!na) {
			free(certs);
			rc = fail(c, CASUS_E_INTERNAL, "out of memory");
			break;
		}
		all = na;
		memcpy(all + nall, certs, n * sizeof(*certs));
		nall += n;
		free(certs);
	}
	if (rc)
		goto out;
	uint8_t id[16];
	cc_commit_new_casus_id(id);
	ccore_casus *fresh = NULL;
	cc_commit_change chg = {.type = CC_COMMIT_CREATE, .level = level ? level : 1, .add = all, .nadd = nall,
	                        .reason = "casus opened"};
	memcpy(chg.casus_id, id, sizeof id);
	int crc = ccore_casus_new(c->core, id, &fresh);
	if (crc == CCORE_OK)
		crc = ccore_build(fresh, &chg, (int64_t)time(NULL), &w);
	ccore_casus_free(fresh);
	if (crc != CCORE_OK || w.err) {
		rc = crc == CCORE_E_FORBIDDEN ? fail(c, CASUS_E_USAGE, "cannot open the casus: %s", ccore_message(c->core))
		                              : core_fail(c, crc ? crc : CCORE_E_NOMEM);
		goto out;
	}
	json_t *req = json_pack("{ssssss}", "type", "casus.create", "purpose", purpose, "basis", basis);
	proto_set_b64(req, "commit", w.p, w.len);
	if (retention_days >= 0)
		json_object_set_new(req, "retention_days", json_integer(retention_days));
	json_t *r = NULL;
	if ((rc = request(c, req, &r)))
		goto out;
	json_decref(r);
	proto_hex16(id, casus_hex);
	if (title && *title) {
		struct loaded *L = NULL;
		if ((rc = load_casus(c, casus_hex, &L)))
			goto out;
		/* the title travels encrypted, like every other content */
		int aud = aud_default(c, ccore_chain(L->k));
		if (aud >= 0)
			rc = queue_post(c, casus_hex, c->policy.audiences[aud].name, NULL, "title", title, NULL, NULL);
	}
out:
	cc_w_free(&w);
	free(all);
	return rc;
}

/* ---- post ------------------------------------------------------------------------- */

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- outbox -------------------------------------------------------------------------
 *
 * Every post is first encrypted end to end, then written to DIR/outbox/ (sealed
 * under the cache key, fsync'd), then sent; the entry is deleted when the
 * server acknowledges it, or answers "duplicate" (the message id was stored
 * before: an earlier attempt arrived). The message id is fixed when the
 * message is encrypted, so resending the same bytes can never be stored
 * twice. If the epoch changed meanwhile (stale_epoch: the server checks the
 * epoch before the replay table), the history is searched for the id before
 * encrypting again for the new epoch.
 */

static void outbox_path(const casus_client *c, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/outbox/%s", c->dir, name);
}

static int outbox_write(casus_client *c, const char *name, const json_t *e)
{
	char path[1024], bind[128];
	size_t n = 0;
	char *text = dump_wipeable(e, &n);
	if (!text)
		return -1;
	outbox_path(c, name, path, sizeof path);
	snprintf(bind, sizeof bind, "%s/%s", name, c->devhex);
	int rc = sealed_write(path, c->cache_key, "outbox", bind, (const uint8_t *)text, n, 1);
	sealed_free(text, n + 1);
	return rc;
}

static json_t *outbox_read(casus_client *c, const char *name)
{
	char path[1024], bind[128];
	uint8_t *pt = NULL;
	size_t n = 0;
	outbox_path(c, name, path, sizeof path);
	snprintf(bind, sizeof bind, "%s/%s", name, c->devhex);
	if (sealed_read(path, c->cache_key, "outbox", bind, &pt, &n) != 0)
		return NULL;
	json_t *o = json_loadb((const char *)pt, n, JSON_REJECT_DUPLICATES, NULL);
	sealed_free(pt, n + 1);
	return o;
}

static void outbox_remove(casus_client *c, const char *name)
{
	char path[1024];
	outbox_path(c, name, path, sizeof path);
	unlink(path);
}

/* Mark an entry the server refused for good: kept for `casus outbox`, not resent. */
static void outbox_fail(casus_client *c, const char *name, json_t *e)
{
	char from[1024], to[1100];
	json_object_set_new(e, "failed", json_string(c->err));
	json_object_del(e, "text_wiped");
	(void)outbox_write(c, name, e);
	outbox_path(c, name, from, sizeof from);
	snprintf(to, sizeof to, "%s.failed", from);
	(void)rename(from, to);
}

/* Encrypt the entry's text for the casus' current epoch; sets msg, id, epoch. */
static int outbox_encrypt(casus_client *c, struct loaded *L, json_t *e)
{
	const char *an = json_string_value(json_object_get(e, "audience"));
	const char *gn = json_string_value(json_object_get(e, "ground"));
	const char *kind = json_string_value(json_object_get(e, "kind"));
	const char *text = json_string_value(json_object_get(e, "text"));
	int aud = an && *an ? cc_policy_audience_index(&c->policy, an) : aud_default(c, ccore_chain(L->k));
	int g = gn ? cc_ground_from_name(gn) : CC_GROUND_NONE;
	if (aud < 0 || g < 0 || !text)
		return fail(c, CASUS_E_USAGE, "the queued message names an unknown audience or ground");
	/* the core decides: nothing while an own removal is unconfirmed, and
	 * never for more recipients than when the post was written */
	int crc0 = ccore_may_post(L->k);
	if (crc0 == CCORE_OK)
		crc0 = ccore_outbox_may_encrypt(L->k, aud, json_object_get(e, "recipients"));
	if (crc0 != CCORE_OK)
		return core_fail(c, crc0);
	if (!json_object_get(e, "recipients"))
		json_object_set_new(e, "recipients", ccore_recipients(L->k, aud));
	json_t *body = json_pack("{siss}", "v", 1, "kind", kind ? kind : "note");
	json_object_set_new(body, "text", json_string(text));
	size_t ptl = 0;
	char *pt = dump_wipeable(body, &ptl);
	json_decref(body);
	if (!pt)
		return fail(c, CASUS_E_USAGE, "the text is not valid UTF-8");
	cc_wbuf w;
	cc_w_init(&w);
	/* counters must grow across restarts of the client: start from the clock */
	uint64_t floor = now_us();
	if (floor <= c->counter_floor)
		floor = c->counter_floor + 1;
	c->counter_floor = floor;
	cc_casus_set_send_counter(ccore_cc(L->k), floor);
	int crc = cc_casus_encrypt(ccore_cc(L->k), &c->policy, aud, (uint8_t)g, (const uint8_t *)pt, ptl, (int64_t)time(NULL), &w);
	sealed_free(pt, ptl + 1);
	int rc = CASUS_OK;
	cc_message m;
	if (crc != CC_OK || w.err || cc_message_decode(w.p, w.len, &m) != CC_OK) {
		if (crc == CC_ERR_GROUND_REQUIRED) {
			rc = fail(c, CASUS_E_USAGE,
			          "this audience includes roles outside the care circle: give a disclosure ground "
			          "(--ground consent|legal_duty|conflict_of_duties|right_to_report|no_care_info)");
			snprintf(c->code, sizeof c->code, "ground_required");
		} else if (crc == CC_ERR_NO_KEY) {
			rc = fail(c, CASUS_E_USAGE, "you hold no key for the audience %s of this casus (see casus members)", an);
		} else {
			rc = fail(c, CASUS_E_VERIFY, "cannot encrypt: %s", cc_strerror(crc));
		}
	} else {
		char mid[33];
		proto_hex16(m.h.message_id, mid);
		proto_set_b64(e, "msg", w.p, w.len);
		json_object_set_new(e, "audience", json_string(c->policy.audiences[aud].name));
		json_object_set_new(e, "id", json_string(mid));
		json_object_set_new(e, "epoch", json_integer((json_int_t)m.h.epoch));
	}
	cc_w_free(&w);
	return rc;
}

/* Look for a message id in the history after a sequence number. */
static int history_has_id(casus_client *c, const char *hex, uint64_t after, const char *mid, uint64_t *seq_out)
{
	uint64_t cursor = after;
	ccore_pager pg = {0};
	for (;;) {
		json_t *r = NULL;
		if (request(c, json_pack("{sssssIsi}", "type", "history", "casus", hex, "after", (json_int_t)cursor, "limit",
		                         500),
		            &r) != CASUS_OK)
			return -1;
		size_t i, got = 0;
		json_t *o;
		json_array_foreach(json_object_get(r, "messages"), i, o) {
			uint8_t *mb = NULL;
			size_t ml = 0;
			uint64_t seq = 0;
			cc_message m;
			char id[33];
			if (proto_get_u64(o, "seq", UINT64_MAX >> 12, &seq) || seq <= cursor)
				continue;
			cursor = seq;
			got++;
			if (proto_get_b64(o, "msg", PROTO_MAX_FRAME, &mb, &ml) == 0 && cc_message_decode(mb, ml, &m) == CC_OK) {
				proto_hex16(m.h.message_id, id);
				if (strcmp(id, mid) == 0) {
					free(mb);
					json_decref(r);
					*seq_out = seq;
					return 1;
				}
			}
			free(mb);
		}
		int more = json_is_true(json_object_get(r, "more"));
		json_decref(r);
		int step = ccore_paging_step(&pg, got, more);
		if (step < 0)
			return -1;
		if (!step)
			break;
	}
	return 0;
}

/* Deliver one outbox entry. maybe_sent: an earlier attempt may have arrived.
 * CASUS_OK (delivered; entry removed), CASUS_E_QUEUED (kept: no connection),
 * or a refusal (entry marked failed). */
static int outbox_deliver(casus_client *c, const char *name, json_t *e, int maybe_sent, uint64_t *seq,
                          char msgid_hex[33])
{
	const char *hex = json_string_value(json_object_get(e, "casus"));
	int rc = CASUS_OK;
	const int from_disk = maybe_sent;
	if (!hex)
		return fail(c, CASUS_E_USAGE, "damaged outbox entry");
	for (int attempt = 0; attempt < 4; attempt++) {
		struct loaded *L = NULL;
		/* a fresh post was just encrypted against the state casus_post loaded */
		if (attempt == 0 && !maybe_sent && json_object_get(e, "msg") && load_casus_local(c, hex, &L)) {
		} else if ((rc = load_casus(c, hex, &L)) != CASUS_OK) {
			if (rc == CASUS_E_NETWORK && !casus_is_online(c))
				rc = CASUS_E_QUEUED;
			break;
		}
		const cc_chain_state *st = ccore_chain(L->k);
		if (!json_object_get(e, "msg") ||
		    (uint64_t)json_integer_value(json_object_get(e, "epoch")) != st->epoch) {
			if (json_object_get(e, "msg") && maybe_sent) {
				/* an older encryption may have arrived before the epoch changed */
				uint64_t found = 0;
				int h = history_has_id(c, hex, (uint64_t)json_integer_value(json_object_get(e, "after")),
				                       json_string_value(json_object_get(e, "id")), &found);
				if (h < 0) {
					rc = casus_is_online(c) ? CASUS_E_SERVER : CASUS_E_QUEUED;
					break;
				}
				if (h == 1) {
					if (seq)
						*seq = found;
					rc = CASUS_OK;
					goto delivered;
				}
			}
			if ((rc = outbox_encrypt(c, L, e)) != CASUS_OK)
				break;
			if (!casus_is_online(c)) {
				/* encrypted for the newest epoch known here; sent on the next connect */
				(void)outbox_write(c, name, e);
				rc = CASUS_E_QUEUED;
				break;
			}
			if (outbox_write(c, name, e) != 0) {
				rc = fail(c, CASUS_E_PROFILE, "cannot write the outbox in %s", c->dir);
				break;
			}
		}
		if (!casus_is_online(c)) {
			rc = CASUS_E_QUEUED;
			break;
		}
		json_t *req = json_pack("{ssss}", "type", "msg.post", "casus", hex);
		json_object_set(req, "msg", json_object_get(e, "msg"));
		json_t *r = NULL;
		maybe_sent = 1;
		rc = request(c, req, &r);
		if (rc == CASUS_OK) {
			if (seq)
				proto_get_u64(r, "seq", UINT64_MAX >> 12, seq);
			json_decref(r);
			goto delivered;
		}
		if (rc == CASUS_E_SERVER && strcmp(c->code, "duplicate") == 0) {
			/* an earlier attempt arrived: delivered exactly once */
			clear_err(c);
			rc = CASUS_OK;
			goto delivered;
		}
		if (rc == CASUS_E_SERVER && strcmp(c->code, "stale_epoch") == 0) {
			/* the membership changed meanwhile: verify the new commits and encrypt again */
			clear_err(c);
			json_object_set_new(e, "epoch", json_integer(-1));
			continue;
		}
		if (rc == CASUS_E_NETWORK)
			rc = CASUS_E_QUEUED;
		break;
	}
	if (rc == CASUS_E_QUEUED) {
		clear_err(c);
		fail(c, CASUS_E_QUEUED,
		     "not delivered yet: the server cannot be reached. The message is kept encrypted in the outbox "
		     "and sent on the next connect (see casus outbox)");
	} else if (rc != CASUS_OK && rc != CASUS_E_INTERNAL) {
		/* refused for good: a post queued earlier is kept (marked failed) so
		 * `casus outbox` can tell; a post made just now was reported at once */
		if (from_disk || strcmp(c->code, "audience_widened") == 0)
			outbox_fail(c, name, e);
		else
			outbox_remove(c, name);
	}
	if (msgid_hex && json_string_value(json_object_get(e, "id")))
		snprintf(msgid_hex, 33, "%s", json_string_value(json_object_get(e, "id")));
	return rc;
delivered:
	if (msgid_hex && json_string_value(json_object_get(e, "id")))
		snprintf(msgid_hex, 33, "%s", json_string_value(json_object_get(e, "id")));
	outbox_remove(c, name);
	if (seq && *seq) {
		track_mark(c, hex, *seq);
		/* our own message, for the cache */
		struct loaded *L = NULL;
		uint8_t *mb = NULL;
		size_t ml = 0;
		if (load_casus_local(c, hex, &L) && proto_get_b64(e, "msg", PROTO_MAX_FRAME, &mb, &ml) == 0) {
			json_t *o = decode_one(c, L, *seq, mb, ml, 0);
			json_decref(o);
		}
		free(mb);
	}
	json_array_append_new(c->delivered,
	                      json_pack("{sssssI}", "id", json_string_value(json_object_get(e, "id")) ?: "", "casus",
	                                hex, "seq", (json_int_t)(seq ? *seq : 0)));
	return CASUS_OK;
}

static int queue_post(casus_client *c, const char *hex, const char *audience, const char *ground, const char *kind,
                      const char *text, uint64_t *seq, char msgid_hex[33])
{
	char name[64];
	uint8_t rnd[8];
	randombytes_buf(rnd, sizeof rnd);
	/* names sort in the order the messages were written */
	snprintf(name, sizeof name, "%016llx-%02x%02x%02x%02x.bin", (unsigned long long)now_us(), rnd[0], rnd[1], rnd[2],
	         rnd[3]);
	json_t *e = json_pack("{sisssssssI}", "v", 1, "casus", hex, "audience", audience, "kind", kind, "queued",
	                      (json_int_t)time(NULL));
	json_object_set_new(e, "text", json_string(text));
	if (!json_object_get(e, "text")) {
		json_decref(e);
		return fail(c, CASUS_E_USAGE, "the text is not valid UTF-8");
	}
	if (ground)
		json_object_set_new(e, "ground", json_string(ground));
	struct loaded *L = NULL;
	if (load_casus_local(c, hex, &L))
		json_object_set_new(e, "after", json_integer((json_int_t)hist_last(L)));
	int rc = CASUS_OK;
	if (L) {
		/* the id is fixed here, at encryption, before anything is sent */
		rc = outbox_encrypt(c, L, e);
	}
	if (rc == CASUS_OK && outbox_write(c, name, e) != 0)
		rc = fail(c, CASUS_E_PROFILE, "cannot write the outbox in %s", c->dir);
	if (rc == CASUS_OK)
		rc = outbox_deliver(c, name, e, 0, seq, msgid_hex);
	json_decref(e);
	return rc;
}

int casus_post(casus_client *c, const char *casus_hex, const char *audience, const char *ground, const char *text,
               uint64_t *seq, char msgid_hex[33])
{
	clear_err(c);
	struct loaded *L = NULL;
	int rc = load_casus(c, casus_hex, &L);
	if (rc == CASUS_E_NETWORK && !casus_is_online(c)) {
		/* never opened here and no connection: queue it, encrypted when delivered */
		clear_err(c);
		L = NULL;
	} else if (rc) {
		return rc;
	}
	if (L && casus_is_online(c)) {
		/* Keys rotate on every membership change; a quiet casus still gets fresh
		 * keys at least weekly, done by whichever member posts first. */
		const char *env = getenv("CASUS_ROTATE_SECS");
		int64_t every = env && *env ? (int64_t)strtoll(env, NULL, 10) : CASUS_ROTATE_SECS;
		if (every > 0 && (int64_t)time(NULL) - ccore_chain(L->k)->time >= every) {
			if (casus_rotate(c, casus_hex, "weekly key rotation") == CASUS_OK)
				rc = load_casus(c, casus_hex, &L);
			clear_err(c);
			if (rc)
				return rc;
		}
	}
	if (!c->have_policy) {
		/* nothing verified on this device yet: queue the text (sealed); the
		 * audience and ground are checked when it is encrypted on delivery */
		if (seq)
			*seq = 0;
		return queue_post(c, casus_hex, audience ? audience : "", ground, "note", text, seq, msgid_hex);
	}
	int aud = audience ? cc_policy_audience_index(&c->policy, audience) : (L ? aud_default(c, ccore_chain(L->k)) : -2);
	if (aud == -2) {
		if (seq)
			*seq = 0;
		return queue_post(c, casus_hex, "", ground, "note", text, seq, msgid_hex);
	}
	if (aud < 0 || aud >= c->policy.naudiences)
		return fail(c, CASUS_E_USAGE, "unknown audience %s", audience ? audience : "(none you may use)");
	int g = CC_GROUND_NONE;
	if (ground && (g = cc_ground_from_name(ground)) < 0)
		return fail(c, CASUS_E_USAGE,
		            "unknown ground %s (consent, legal_duty, conflict_of_duties, right_to_report, no_care_info)",
		            ground);
	if (L && !cc_casus_has_epoch_key(ccore_cc(L->k), ccore_chain(L->k)->epoch, aud))
		return fail(c, CASUS_E_USAGE, "you are not in the audience %s of this casus", c->policy.audiences[aud].name);
	if (seq)
		*seq = 0;
	return queue_post(c, casus_hex, c->policy.audiences[aud].name, ground, "note", text, seq, msgid_hex);
}

/* casus outbox: deliver what can be delivered, list the rest. */
int casus_outbox_flush(casus_client *c)
{
	char dpath[1024];
	int delivered = 0;
	path_in(dpath, sizeof dpath, c->dir, "outbox");
	if (!casus_is_online(c))
		return 0;
	/* one process at a time (a live view and a command may share a profile);
	 * a second sender would still be safe: the server answers "duplicate" */
	char lpath[1100];
	snprintf(lpath, sizeof lpath, "%s/.lock", dpath);
	int lfd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) != 0) {
		if (lfd >= 0)
			close(lfd);
		return 0;
	}
	struct dirent **names = NULL;
	int n = scandir(dpath, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		size_t l = strlen(nm);
		if (l > 4 && strcmp(nm + l - 4, ".bin") == 0 && casus_is_online(c)) {
			json_t *e = outbox_read(c, nm);
			if (e) {
				uint64_t seq = 0;
				if (outbox_deliver(c, nm, e, 1, &seq, NULL) == CASUS_OK)
					delivered++;
				json_decref(e);
			}
		}
		free(names[i]);
	}
	free(names);
	flock(lfd, LOCK_UN);
	close(lfd);
	return delivered;
}

int casus_outbox_list(casus_client *c, json_t **out)
{
	char dpath[1024];
	path_in(dpath, sizeof dpath, c->dir, "outbox");
	json_t *pending = json_array(), *failed = json_array();
	struct dirent **names = NULL;
	int n = scandir(dpath, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		size_t l = strlen(nm);
		int is_failed = l > 11 && strcmp(nm + l - 11, ".bin.failed") == 0;
		if (is_failed || (l > 4 && strcmp(nm + l - 4, ".bin") == 0)) {
			char base[256];
			snprintf(base, sizeof base, "%.*s", (int)(is_failed ? l - 7 : l), nm);
			char path[1024], bind[320];
			uint8_t *pt = NULL;
			size_t pl = 0;
			outbox_path(c, nm, path, sizeof path);
			snprintf(bind, sizeof bind, "%s/%s", base, c->devhex);
			json_t *e = NULL;
			if (sealed_read(path, c->cache_key, "outbox", bind, &pt, &pl) == 0) {
				e = json_loadb((const char *)pt, pl, JSON_REJECT_DUPLICATES, NULL);
				sealed_free(pt, pl + 1);
			}
			json_t *x = json_pack("{ss}", "entry", base);
			if (e) {
				const char *keys[] = {"casus", "audience", "ground", "id", "queued", "failed", "text"};
				for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
					if (json_object_get(e, keys[k]))
						json_object_set(x, keys[k], json_object_get(e, keys[k]));
				json_object_set_new(x, "encrypted", json_boolean(json_object_get(e, "msg") != NULL));
			} else {
				json_object_set_new(x, "error", json_string("does not open (damaged, or another device's)"));
			}
			json_decref(e);
			json_array_append_new(is_failed ? failed : pending, x);
		}
		free(names[i]);
	}
	free(names);
	*out = json_pack("{sososO}", "pending", pending, "failed", failed, "delivered", c->delivered);
	return CASUS_OK;
}

/* ---- history ----------------------------------------------------------------------- */

static json_t *cert_json(const cc_cert *ct)
{
	char dev[33];
	cc_device_id_hex(ct->device_id, dev);
	return json_pack("{ssssssssss}", "user", ct->user_id, "name", ct->name, "org", ct->org, "role", ct->role,
	                 "device", dev);
}

/* live: a pushed message (replay tracker and counter order apply); else history.
 * The core decides whether it is shown; a refusal is kept in c->refused. */
static json_t *decode_one(casus_client *c, struct loaded *L, uint64_t seq, const uint8_t *mb, size_t ml, int live)
{
	json_t *o = json_object();
	json_object_set_new(o, "seq", json_integer((json_int_t)seq));
	cc_message m;
	if (cc_message_decode(mb, ml, &m) != CC_OK) {
		json_object_set_new(o, "verified", json_false());
		json_object_set_new(o, "error", json_string("tampered"));
		if (!c->refused) {
			c->refused = CCORE_E_TAMPERED;
			snprintf(c->refused_msg, sizeof c->refused_msg, "message #%llu does not decode: refused",
			         (unsigned long long)seq);
		}
		return o;
	}
	char mid[33];
	proto_hex16(m.h.message_id, mid);
	json_object_set_new(o, "id", json_string(mid));
	json_object_set_new(o, "time", json_integer((json_int_t)m.h.time));
	json_object_set_new(o, "epoch", json_integer((json_int_t)m.h.epoch));
	json_object_set_new(o, "audience", json_string(m.h.audience < c->policy.naudiences
	                                                   ? c->policy.audiences[m.h.audience].name
	                                                   : "?"));
	const char *gn = cc_ground_name(m.h.ground);
	json_object_set_new(o, "ground", json_string(gn ? gn : "?"));
	const cc_cert *sc = known_cert(L, m.h.sender);
	if (sc)
		json_object_set_new(o, "sender", cert_json(sc));
	cc_wbuf pt;
	cc_w_init_secret(&pt);
	int rc = ccore_open_message(L->k, seq, mb, ml, live, (int64_t)time(NULL), &pt, NULL);
	if (rc == CCORE_OK) {
		json_t *body = json_loadb((const char *)pt.p, pt.len, JSON_REJECT_DUPLICATES, NULL);
		const char *t = json_string_value(json_object_get(body, "text"));
		const char *kind = json_string_value(json_object_get(body, "kind"));
		json_object_set_new(o, "verified", json_true());
		json_object_set_new(o, "kind", json_string(kind ? kind : "note"));
		json_object_set_new(o, "text", json_string(t ? t : ""));
		json_decref(body);
		hist_add(L, o);
	} else {
		json_object_set_new(o, "verified", json_false());
		json_object_set_new(o, "error", json_string(ccore_code(rc)));
		if (rc != CCORE_E_NO_KEY && !c->refused) {
			c->refused = rc;
			snprintf(c->refused_msg, sizeof c->refused_msg, "message #%llu: %s", (unsigned long long)seq,
			         ccore_message(c->core));
		}
		if (rc == CCORE_E_NO_KEY)
			hist_add(L, o); /* kept without content, so it stays marked */
	}
	cc_w_free(&pt);
	return o;
}

/* After decoding a listing: a message the core refused fails the command. */
static int refused_fail(casus_client *c)
{
	int r = c->refused;
	c->refused = 0;
	if (!r)
		return CASUS_OK;
	snprintf(c->code, sizeof c->code, "%s", ccore_code(r));
	snprintf(c->err, sizeof c->err, "%s", c->refused_msg);
	return CASUS_E_VERIFY;
}

static int seq_in(const json_t *arr, uint64_t seq)
{
	size_t j;
	json_t *x;
	json_array_foreach(arr, j, x)
		if ((uint64_t)json_integer_value(json_object_get(x, "seq")) == seq)
			return 1;
	return 0;
}

int casus_history(casus_client *c, const char *casus_hex, uint64_t after, size_t limit, json_t **out)
{
	clear_err(c);
	struct loaded *L = NULL;
	c->refused = 0;
	int rc = load_casus(c, casus_hex, &L);
	if (rc)
		return rc;
	json_t *res = json_array();
	size_t i;
	json_t *o;
	ccore_pager pg = {0};
	if (!casus_is_online(c)) {
		/* offline: the local copy (casus_is_online tells the caller) */
		json_array_foreach(L->hist, i, o) {
			uint64_t seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
			if (seq > after && (!limit || json_array_size(res) < limit))
				json_array_append(res, o);
		}
		*out = res;
		return CASUS_OK;
	}
	uint64_t last = 0;
	/* granted messages from before this device joined come first */
	json_t *gm;
	json_array_foreach(L->granted, i, gm) {
		uint64_t seq = 0;
		uint8_t *mb = NULL;
		size_t ml = 0;
		if (proto_get_u64(gm, "seq", UINT64_MAX >> 12, &seq) || seq <= after ||
		    proto_get_b64(gm, "msg", PROTO_MAX_FRAME, &mb, &ml)) {
			free(mb);
			continue;
		}
		json_t *e = decode_one(c, L, seq, mb, ml, 0);
		json_object_set_new(e, "granted", json_true());
		json_array_append_new(res, e);
		free(mb);
	}
	uint64_t cursor = after;
	int whole = !after && !limit;
	if (whole) {
		/* the whole history: what this device decrypted before (every message
		 * up to L->upto) comes from the cache, only newer ones from the server */
		json_array_foreach(L->hist, i, o) {
			uint64_t seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
			if (seq <= L->upto && !seq_in(res, seq))
				json_array_append(res, o);
		}
		cursor = L->upto;
		last = cursor;
	}
	for (;;) {
		json_t *r = NULL;
		json_t *req = json_pack("{sssssIsI}", "type", "history", "casus", casus_hex, "after", (json_int_t)cursor,
		                        "limit", (json_int_t)(limit ? limit : 500));
		if ((rc = request(c, req, &r))) {
			json_decref(res);
			return rc;
		}
		json_t *msgs = json_object_get(r, "messages");
		size_t got = 0;
		json_array_foreach(msgs, i, o) {
			uint64_t seq = 0;
			uint8_t *mb = NULL;
			size_t ml = 0;
			if (proto_get_u64(o, "seq", UINT64_MAX >> 12, &seq) || proto_get_b64(o, "msg", PROTO_MAX_FRAME, &mb, &ml)) {
				free(mb);
				continue;
			}
			if (seq <= cursor) {
				free(mb); /* not after the cursor: no progress */
				continue;
			}
			if (!seq_in(res, seq))
				json_array_append_new(res, decode_one(c, L, seq, mb, ml, 0));
			free(mb);
			cursor = seq;
			got++;
			if (seq > last)
				last = seq;
		}
		int more = json_is_true(json_object_get(r, "more"));
		json_decref(r);
		int step = ccore_paging_step(&pg, got, more && !limit);
		if (step < 0) {
			json_decref(res);
			return core_fail(c, step);
		}
		if (!step)
			break;
	}
	if ((rc = refused_fail(c)) != CASUS_OK) {
		json_decref(res);
		return rc; /* the local copy does not move past a refused message */
	}
	if (whole && last > L->upto) {
		L->upto = last; /* everything up to here is now held */
		L->dirty = 1;
	}
	if (last) {
		json_t *r = NULL;
		if (request(c, json_pack("{sssssI}", "type", "casus.read", "casus", casus_hex, "seq", (json_int_t)last), &r) ==
		    CASUS_OK)
			json_decref(r);
		clear_err(c);
	}
	if (L->dirty)
		cache_save(c, L);
	*out = res;
	return CASUS_OK;
}

int casus_cache_info(casus_client *c, const char *casus_hex, json_t **out)
{
	char path[1024];
	struct stat sb;
	uint8_t id[16];
	clear_err(c);
	int rc = parse_casus(c, casus_hex, id);
	if (rc)
		return rc;
	cache_path(c, casus_hex, path, sizeof path);
	if (stat(path, &sb) != 0) {
		*out = json_pack("{sb}", "cached", 0);
		return CASUS_OK;
	}
	*out = json_pack("{sbsI}", "cached", 1, "saved", (json_int_t)sb.st_mtime);
	return CASUS_OK;
}

/* ---- members and membership changes -------------------------------------------------- */

int casus_members(casus_client *c, const char *casus_hex, json_t **out)
{
	clear_err(c);
	struct loaded *L = NULL;
	int rc = load_casus(c, casus_hex, &L);
	if (rc)
		return rc;
	const cc_chain_state *st = ccore_chain(L->k);
	json_t *members = json_array();
	for (size_t i = 0; i < st->nroster; i++) {
		const cc_cert *ct = &st->roster[i].cert;
		json_t *m = cert_json(ct);
		json_object_set_new(m, "break_glass", json_boolean(st->roster[i].flags & CC_ROSTER_BREAK_GLASS));
		json_t *auds = json_array();
		for (int a = 0; a < c->policy.naudiences; a++)
			if (cc_chain_entitled(st, &c->policy, i, a))
				json_array_append_new(auds, json_string(c->policy.audiences[a].name));
		json_object_set_new(m, "audiences", auds);
		json_array_append_new(members, m);
	}
	const char *lname = st->level >= 1 && st->level <= c->policy.nlevels ? c->policy.levels[st->level - 1].name : "";
	*out = json_pack("{sisssIso}", "level", st->level, "level_name", lname, "epoch", (json_int_t)st->epoch,
	                 "members", members);
	return CASUS_OK;
}

/* Post a commit; it is done only when the fetched chain's verified head is
 * this very commit (the core checks: withheld_commit otherwise). Until then a
 * removal it makes stays pending in the core, and nothing is posted to the
 * casus (ccore_may_post). */
static int post_commit(casus_client *c, struct loaded *L, cc_wbuf *w)
{
	int crc = ccore_expect_head(L->k, w->p, w->len);
	if (crc != CCORE_OK)
		return core_fail(c, crc);
	L->dirty = 1;
	cache_save(c, L); /* the pending commit survives a crash */
	json_t *req = json_pack("{ssss}", "type", "commit.post", "casus", L->hex);
	proto_set_b64(req, "commit", w->p, w->len);
	json_t *r = NULL;
	int rc = request(c, req, &r);
	json_decref(r);
	if (rc == CASUS_E_SERVER && strcmp(c->code, "conflict") == 0) {
		(void)ccore_expect_head(L->k, NULL, 0); /* not taken: built again on the new head */
		return rc;
	}
	if (rc != CASUS_OK)
		return rc;
	char hex[33];
	snprintf(hex, sizeof hex, "%s", L->hex);
	struct loaded *L2;
	rc = load_casus(c, hex, &L2);
	if (rc == CASUS_E_VERIFY && strcmp(c->code, "rollback") == 0 && ccore_epochs(L->k) == L->next_epoch) {
		/* the server no longer lets this device read the casus: that is
		 * true only if this very commit (verified here, next in the chain)
		 * removed this device, e.g. a de-escalation below the actor's level */
		if (ccore_apply_commit(L->k, w->p, w->len, (int64_t)time(NULL), 1) == CCORE_OK) {
			json_t *wrap = json_object();
			proto_set_b64(wrap, "commit", w->p, w->len);
			json_array_append(L->commits, json_object_get(wrap, "commit"));
			json_decref(wrap);
			L->next_epoch++;
			if (!ccore_is_member(L->k) && ccore_chain_done(L->k, (int64_t)time(NULL)) == CCORE_OK) {
				clear_err(c);
				cache_forget(c, hex);
				return CASUS_OK;
			}
		}
	}
	return rc;
}

/* Build a change with the core (the policy, root and revocation list it holds). */
static int core_build(casus_client *c, struct loaded *L, const cc_commit_change *chg, cc_wbuf *w)
{
	int crc = ccore_build(L->k, chg, (int64_t)time(NULL), w);
	if (crc == CCORE_E_FORBIDDEN) {
		snprintf(c->code, sizeof c->code, "forbidden");
		return fail(c, CASUS_E_USAGE, "the policy does not allow this for your role (%s)", ccore_message(c->core));
	}
	return crc == CCORE_OK ? CASUS_OK : core_fail(c, crc);
}

/* Run a commit builder, rebasing on a conflict (someone else committed first). */
typedef int (*build_fn)(casus_client *c, struct loaded *L, const void *arg, cc_wbuf *w);

static int commit_with_rebase(casus_client *c, const char *casus_hex, build_fn build, const void *arg)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		struct loaded *L = NULL;
		int rc = load_casus(c, casus_hex, &L);
		if (rc)
			return rc;
		cc_wbuf w;
		cc_w_init(&w);
		rc = build(c, L, arg, &w);
		if (rc == CASUS_OK)
			rc = post_commit(c, L, &w);
		cc_w_free(&w);
		if (rc == CASUS_E_SERVER && strcmp(c->code, "conflict") == 0) {
			clear_err(c);
			continue; /* fetch the new head and build again */
		}
		return rc;
	}
	return fail(c, CASUS_E_SERVER, "the casus keeps changing; try again");
}

static int build_err(casus_client *c, int crc)
{
	if (crc == CC_ERR_FORBIDDEN || crc == CC_ERR_LEVEL) {
		snprintf(c->code, sizeof c->code, "forbidden");
		return fail(c, CASUS_E_USAGE, "the policy does not allow this for your role (%s)", cc_strerror(crc));
	}
	return fail(c, CASUS_E_VERIFY, "cannot build the change: %s", cc_strerror(crc));
}

struct add_arg {
	const char *user;
	const char *bg_reason;
	json_t *sealed; /* may be NULL: [{user,role,device,code}] sealed to */
};

static int build_add(casus_client *c, struct loaded *L, const void *arg, cc_wbuf *w)
{
	const struct add_arg *a = arg;
	cc_cert *certs = NULL;
	size_t n = 0;
	int rc = lookup_user(c, a->user, &certs, &n);
	if (rc)
		return rc;
	/* devices not yet in the roster */
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (cc_chain_find(ccore_chain(L->k), certs[i].device_id) < 0)
			certs[k++] = certs[i];
	if (!k) {
		free(certs);
		return fail(c, CASUS_E_USAGE, "%s is already a member", a->user);
	}
	cc_commit_change chg = {.type = a->bg_reason ? CC_COMMIT_BREAK_GLASS : CC_COMMIT_ADD, .add = certs, .nadd = k,
	                        .reason = a->bg_reason ? a->bg_reason : "member added"};
	rc = core_build(c, L, &chg, w);
	if (rc == CASUS_OK && a->sealed) {
		/* show whom the keys are sealed to: every device, with its pairing code */
		for (size_t i = 0; i < k; i++) {
			char dev[33], code[20];
			cc_device_id_hex(certs[i].device_id, dev);
			ccore_pairing_code(&certs[i], code);
			json_array_append_new(a->sealed, json_pack("{ssssssss}", "user", certs[i].user_id, "role",
			                                           certs[i].role, "device", dev, "code", code));
		}
	}
	free(certs);
	return rc;
}

int casus_add(casus_client *c, const char *casus_hex, const char *user, const char *break_glass_reason)
{
	clear_err(c);
	struct add_arg a = {user, break_glass_reason, NULL};
	return commit_with_rebase(c, casus_hex, build_add, &a);
}

int casus_add_shown(casus_client *c, const char *casus_hex, const char *user, const char *break_glass_reason,
                    json_t **sealed)
{
	clear_err(c);
	struct add_arg a = {user, break_glass_reason, json_array()};
	int rc = commit_with_rebase(c, casus_hex, build_add, &a);
	if (rc == CASUS_OK) {
		*sealed = a.sealed;
		return rc;
	}
	json_decref(a.sealed);
	return rc;
}

struct remove_arg {
	const char *user;
	const char *reason;
};

static int build_remove(casus_client *c, struct loaded *L, const void *arg, cc_wbuf *w)
{
	const struct remove_arg *a = arg;
	const cc_chain_state *st = ccore_chain(L->k);
	uint8_t(*ids)[16] = calloc(st->nroster ? st->nroster : 1, 16);
	size_t n = 0;
	if (!ids)
		return fail(c, CASUS_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < st->nroster; i++)
		if (strcmp(st->roster[i].cert.user_id, a->user) == 0)
			memcpy(ids[n++], st->roster[i].cert.device_id, 16);
	if (!n) {
		free(ids);
		return fail(c, CASUS_E_NOT_FOUND, "%s is not a member of this casus", a->user);
	}
	cc_commit_change chg = {.type = CC_COMMIT_REMOVE, .remove = (const uint8_t(*)[16])ids, .nremove = n,
	                        .reason = a->reason ? a->reason : "member removed"};
	int rc = core_build(c, L, &chg, w);
	free(ids);
	return rc;
}

int casus_remove(casus_client *c, const char *casus_hex, const char *user, const char *reason)
{
	clear_err(c);
	struct remove_arg a = {user, reason};
	return commit_with_rebase(c, casus_hex, build_remove, &a);
}

struct level_arg {
	uint8_t level;
	const char *reason;
};

static int build_level(casus_client *c, struct loaded *L, const void *arg, cc_wbuf *w)
{
	const struct level_arg *a = arg;
	const cc_chain_state *st = ccore_chain(L->k);
	if (a->level == st->level)
		return fail(c, CASUS_E_USAGE, "the casus is at level %u already", a->level);
	cc_commit_change chg = {.type = a->level > st->level ? CC_COMMIT_ESCALATE : CC_COMMIT_DEESCALATE,
	                        .level = a->level, .reason = a->reason};
	return core_build(c, L, &chg, w);
}

int casus_set_level(casus_client *c, const char *casus_hex, uint8_t level, const char *reason)
{
	clear_err(c);
	if (!reason || !*reason)
		return fail(c, CASUS_E_USAGE, "a level change needs --reason");
	struct level_arg a = {level, reason};
	return commit_with_rebase(c, casus_hex, build_level, &a);
}

static int build_rotate(casus_client *c, struct loaded *L, const void *arg, cc_wbuf *w)
{
	cc_commit_change chg = {.type = CC_COMMIT_ROTATE, .reason = arg ? (const char *)arg : "rotation"};
	return core_build(c, L, &chg, w);
}

int casus_rotate(casus_client *c, const char *casus_hex, const char *reason)
{
	clear_err(c);
	return commit_with_rebase(c, casus_hex, build_rotate, reason);
}

/* ---- share (grant) ------------------------------------------------------------------- */

int casus_share(casus_client *c, const char *casus_hex, const char *user, const char *const *msgids, size_t n,
                const char *ground, const char *reason)
{
	clear_err(c);
	struct loaded *L = NULL;
	int rc = load_casus(c, casus_hex, &L);
	if (rc)
		return rc;
	int g = ground ? cc_ground_from_name(ground) : -1;
	if (g <= 0)
		return fail(c, CASUS_E_USAGE, "sharing history needs --ground (consent, legal_duty, ...)");
	if (!reason || !*reason)
		return fail(c, CASUS_E_USAGE, "sharing history needs --reason");
	const cc_chain_state *st = ccore_chain(L->k);
	uint8_t(*grantees)[16] = calloc(st->nroster ? st->nroster : 1, 16);
	size_t ng = 0;
	for (size_t i = 0; grantees && i < st->nroster; i++)
		if (strcmp(st->roster[i].cert.user_id, user) == 0)
			memcpy(grantees[ng++], st->roster[i].cert.device_id, 16);
	if (!ng) {
		free(grantees);
		return fail(c, CASUS_E_NOT_FOUND, "%s is not a member of this casus: add them first", user);
	}
	/* find the messages by id in the history this device can read */
	json_t *hist = NULL;
	uint8_t **msgs = calloc(n ? n : 1, sizeof(*msgs));
	size_t *lens = calloc(n ? n : 1, sizeof(*lens));
	size_t found = 0;
	uint64_t cursor = 0;
	ccore_pager pg = {0};
	while (found < n && rc == CASUS_OK) {
		json_t *r = NULL;
		rc = request(c, json_pack("{sssssIsi}", "type", "history", "casus", casus_hex, "after", (json_int_t)cursor,
		                          "limit", 500),
		             &r);
		if (rc)
			break;
		size_t i, got = 0;
		json_t *o;
		json_array_foreach(json_object_get(r, "messages"), i, o) {
			uint8_t *mb = NULL;
			size_t ml = 0;
			uint64_t seq = 0;
			proto_get_u64(o, "seq", UINT64_MAX >> 12, &seq);
			if (seq <= cursor || proto_get_b64(o, "msg", PROTO_MAX_FRAME, &mb, &ml))
				continue;
			cursor = seq;
			got++;
			cc_message m;
			char mid[33];
			int used = 0;
			if (cc_message_decode(mb, ml, &m) == CC_OK) {
				proto_hex16(m.h.message_id, mid);
				for (size_t k = 0; k < n; k++)
					if (!msgs[k] && strcmp(msgids[k], mid) == 0) {
						msgs[k] = mb;
						lens[k] = ml;
						found++;
						used = 1;
						break;
					}
			}
			if (!used)
				free(mb);
		}
		int more = json_is_true(json_object_get(r, "more"));
		json_decref(r);
		int step = ccore_paging_step(&pg, got, more);
		if (step < 0)
			rc = core_fail(c, step);
		if (step <= 0)
			break;
	}
	json_decref(hist);
	if (rc == CASUS_OK && found < n)
		rc = fail(c, CASUS_E_NOT_FOUND, "%zu of the %zu messages are not in the history you can read", n - found, n);
	if (rc == CASUS_OK) {
		cc_wbuf w;
		cc_w_init(&w);
		int crc = cc_casus_grant(ccore_cc(L->k), &c->policy, (const uint8_t(*)[16])grantees, ng, (const uint8_t *const *)msgs,
		                         lens, n, (uint8_t)g, reason, (int64_t)time(NULL), &w);
		if (crc != CC_OK || w.err) {
			rc = crc == CC_ERR_FORBIDDEN ? build_err(c, crc)
			                             : fail(c, CASUS_E_VERIFY, "cannot share: %s", cc_strerror(crc));
		} else {
			json_t *req = json_pack("{ssss}", "type", "grant.post", "casus", casus_hex);
			proto_set_b64(req, "grant", w.p, w.len);
			json_t *r = NULL;
			rc = request(c, req, &r);
			json_decref(r);
		}
		cc_w_free(&w);
	}
	for (size_t k = 0; k < n; k++)
		free(msgs[k]);
	free(msgs);
	free(lens);
	free(grantees);
	return rc;
}

/* ---- audit ---------------------------------------------------------------------------- */

int casus_audit_query(casus_client *c, json_t *query, json_t **out)
{
	clear_err(c);
	json_t *req = json_deep_copy(query);
	json_object_set_new(req, "type", json_string("audit.query"));
	json_t *r = NULL;
	int rc = request(c, req, &r);
	if (rc)
		return rc;
	json_t *entries = json_array();
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(r, "entries"), i, o) {
		uint8_t *eb = NULL;
		size_t el = 0;
		cc_audit_entry e;
		if (proto_get_b64(o, "entry", CC_AUDIT_ENTRY_MAX, &eb, &el) || cc_audit_entry_decode(eb, el, &e) != CC_OK) {
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
	json_t *res = json_pack("{soso}", "entries", entries, "more", json_boolean(json_is_true(json_object_get(r, "more"))));
	json_object_set(res, "raw", r);
	json_decref(r);
	*out = res;
	return CASUS_OK;
}

/* ---- live view helpers ----------------------------------------------------------------- */

int casus_refresh(casus_client *c, const char *casus_hex)
{
	clear_err(c);
	struct loaded *L = NULL;
	return load_casus(c, casus_hex, &L);
}

int casus_decode_push(casus_client *c, const json_t *push, json_t **out)
{
	const char *hex = NULL;
	uint64_t seq = 0;
	uint8_t *mb = NULL;
	size_t ml = 0;
	clear_err(c);
	if (proto_get_str(push, "casus", 32, &hex) || proto_get_u64(push, "seq", UINT64_MAX >> 12, &seq) ||
	    proto_get_b64(push, "msg", PROTO_MAX_FRAME, &mb, &ml))
		return fail(c, CASUS_E_USAGE, "not a message push");
	struct loaded *L = NULL;
	for (size_t i = 0; i < c->ncache; i++)
		if (strcmp(c->cache[i].hex, hex) == 0)
			L = &c->cache[i];
	cc_message m;
	int rc = CASUS_OK;
	if (!L || (cc_message_decode(mb, ml, &m) == CC_OK && m.h.epoch > ccore_chain(L->k)->epoch))
		rc = load_casus(c, hex, &L);
	if (rc == CASUS_OK) {
		*out = decode_one(c, L, seq, mb, ml, 1);
		/* a busy conversation writes the copy at most once a second; the rest
		 * is written when the client is freed */
		if (L->dirty && mono_ms() >= L->saved_ms + 1000)
			cache_save(c, L);
	}
	free(mb);
	return rc;
}

int casus_my_audiences(casus_client *c, const char *casus_hex, json_t **out)
{
	struct loaded *L = NULL;
	clear_err(c);
	int rc = load_casus(c, casus_hex, &L);
	if (rc)
		return rc;
	const cc_chain_state *st = ccore_chain(L->k);
	int role = cc_policy_role_index(&c->policy, c->cert.role);
	json_t *arr = json_array();
	for (int a = 0; a < c->policy.naudiences; a++) {
		if (!cc_casus_has_epoch_key(ccore_cc(L->k), st->epoch, a))
			continue;
		json_array_append_new(arr, json_pack("{sssb}", "name", c->policy.audiences[a].name, "ground_required",
		                                     role >= 0 && cc_policy_ground_required(&c->policy, a, role, st->level)));
	}
	*out = arr;
	return CASUS_OK;
}

/* ---- following casus live: reconnect, resume, duplicates ------------------------- */

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct tracked *find_track(casus_client *c, const char *hex)
{
	for (size_t i = 0; i < c->ntrack; i++)
		if (strcmp(c->track[i].hex, hex) == 0)
			return &c->track[i];
	return NULL;
}

static int ring_has(const struct tracked *t, uint64_t seq)
{
	for (size_t i = 0; i < t->nring; i++)
		if (t->ring[i] == seq)
			return 1;
	return 0;
}

static void ring_add(struct tracked *t, uint64_t seq)
{
	if (ring_has(t, seq))
		return;
	t->ring[t->pos] = seq;
	t->pos = (t->pos + 1) % RING;
	if (t->nring < RING)
		t->nring++;
	if (seq > t->last)
		t->last = seq;
}

static void track_mark(casus_client *c, const char *hex, uint64_t seq)
{
	struct tracked *t = find_track(c, hex);
	if (t && seq)
		ring_add(t, seq);
}

int casus_track(casus_client *c, const char *casus_hex, uint64_t seq)
{
	uint8_t id[16];
	clear_err(c);
	int rc = parse_casus(c, casus_hex, id);
	if (rc)
		return rc;
	struct tracked *t = find_track(c, casus_hex);
	if (!t) {
		if (c->ntrack == CASUS_CACHE_MAX)
			return fail(c, CASUS_E_USAGE, "too many casus followed at once");
		t = &c->track[c->ntrack++];
		memset(t, 0, sizeof *t);
		snprintf(t->hex, sizeof t->hex, "%s", casus_hex);
	}
	if (seq)
		ring_add(t, seq);
	return CASUS_OK;
}

int casus_latest_seq(casus_client *c, const char *casus_hex, uint64_t *seq)
{
	clear_err(c);
	*seq = 0;
	json_t *r = NULL;
	int rc = request(c,
	                 json_pack("{sssssIsi}", "type", "history", "casus", casus_hex, "before",
	                           (json_int_t)(UINT64_MAX >> 12), "limit", 1),
	                 &r);
	if (rc)
		return rc;
	json_t *m = json_array_get(json_object_get(r, "messages"), 0);
	if (m)
		proto_get_u64(m, "seq", UINT64_MAX >> 12, seq);
	json_decref(r);
	return CASUS_OK;
}

/* After a (re)connect: what the followed casus missed, as pushes marked
 * "resumed", after a "commit" push if the chain moved meanwhile. */
static void resume_tracked(casus_client *c)
{
	for (size_t k = 0; k < c->ntrack; k++) {
		struct tracked *t = &c->track[k];
		struct loaded *L = NULL;
		for (size_t i = 0; i < c->ncache; i++)
			if (strcmp(c->cache[i].hex, t->hex) == 0)
				L = &c->cache[i];
		if (L) {
			uint64_t before = L->next_epoch;
			struct loaded *L2;
			if (load_casus(c, t->hex, &L2) == CASUS_OK && L2->next_epoch != before)
				json_array_append_new(c->pending,
				                      json_pack("{sssssb}", "push", "commit", "casus", t->hex, "resumed", 1));
		}
		uint64_t cursor = t->last;
		for (int pages = 0; pages < 100; pages++) {
			json_t *r = NULL;
			if (request(c,
			            json_pack("{sssssIsi}", "type", "history", "casus", t->hex, "after", (json_int_t)cursor,
			                      "limit", 500),
			            &r) != CASUS_OK)
				break;
			size_t i;
			json_t *o;
			json_array_foreach(json_object_get(r, "messages"), i, o) {
				uint64_t seq = 0;
				if (proto_get_u64(o, "seq", UINT64_MAX >> 12, &seq))
					continue;
				cursor = seq;
				json_t *p = json_pack("{sssssIsOsb}", "push", "msg", "casus", t->hex, "seq", (json_int_t)seq, "msg",
				                      json_object_get(o, "msg"), "resumed", 1);
				if (p)
					json_array_append_new(c->pending, p);
			}
			int more = json_is_true(json_object_get(r, "more"));
			json_decref(r);
			if (!more)
				break;
		}
	}
}

/* 1 if the event should be handed out (not a duplicate of a followed casus). */
static int event_filter(casus_client *c, const json_t *p)
{
	const char *kind = json_string_value(json_object_get(p, "push"));
	const char *hex = json_string_value(json_object_get(p, "casus"));
	if (!kind || !hex)
		return 1;
	if (strcmp(kind, "removed") == 0) {
		cache_forget(c, hex);
		return 1;
	}
	if (strcmp(kind, "transfer") == 0) {
		for (size_t i = 0; i < c->ncache; i++)
			if (strcmp(c->cache[i].hex, hex) == 0)
				c->cache[i].xfer_checked = 0;
		return 1;
	}
	if (strcmp(kind, "msg") != 0)
		return 1;
	struct tracked *t = find_track(c, hex);
	if (!t)
		return 1;
	uint64_t seq = (uint64_t)json_integer_value(json_object_get(p, "seq"));
	if (ring_has(t, seq))
		return 0;
	ring_add(t, seq);
	return 1;
}

static json_t *state_event(const char *state, unsigned retry_ms)
{
	return json_pack("{sssssi}", "push", "connection", "state", state, "retry_in_ms", (int)retry_ms);
}

json_t *casus_next_event(casus_client *c, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		while (json_array_size(c->pending)) {
			json_t *p = json_incref(json_array_get(c->pending, 0));
			json_array_remove(c->pending, 0);
			if (event_filter(c, p))
				return p;
			json_decref(p);
		}
		uint64_t now = mono_ms();
		if (casus_is_online(c)) {
			conn_poll(c->conn);
			json_t *p;
			while ((p = conn_next_push(c->conn, 0)) != NULL) {
				if (event_filter(c, p))
					return p;
				json_decref(p);
			}
			if (!casus_is_online(c)) {
				/* the server went away: retry soon, with backoff and jitter */
				c->backoff_ms = BACKOFF_MIN_MS;
				c->next_retry_ms = now + BACKOFF_MIN_MS / 2 + randombytes_uniform(BACKOFF_MIN_MS / 2);
				c->offline_reported = 1;
				return state_event("offline", (unsigned)(c->next_retry_ms - now));
			}
			if (now >= deadline)
				return NULL;
			uint64_t left = deadline - now;
			p = conn_next_push(c->conn, (int)(left > 100 ? 100 : left));
			if (p) {
				if (event_filter(c, p))
					return p;
				json_decref(p);
			}
			continue;
		}
		if (now >= c->next_retry_ms) {
			int rc = casus_client_connect(c);
			if (rc == CASUS_OK) {
				c->offline_reported = 0;
				json_array_insert_new(c->pending, 0, state_event("online", 0));
				continue;
			}
			if (rc != CASUS_E_NETWORK) {
				/* authentication or verification refused: not a network blip */
				c->next_retry_ms = mono_ms() + BACKOFF_MAX_MS;
				return json_pack("{sssssssi}", "push", "connection", "state", "refused", "message", c->err,
				                 "retry_in_ms", (int)BACKOFF_MAX_MS);
			}
			unsigned b = c->backoff_ms;
			c->backoff_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
			/* full jitter in [b/2, b): clients do not all come back at once */
			unsigned wait = b / 2 + randombytes_uniform(b / 2 > 0 ? b / 2 : 1);
			c->next_retry_ms = mono_ms() + wait;
			return state_event("offline", wait);
		}
		if (now >= deadline)
			return NULL;
		uint64_t left = deadline - now, until = c->next_retry_ms - now;
		if (until < left)
			left = until;
		(void)poll(NULL, 0, (int)(left > 100 ? 100 : left));
	}
}

int casus_event_fd(const casus_client *c)
{
	return c->conn ? conn_fd(c->conn) : -1;
}

int casus_event_wait_ms(const casus_client *c)
{
	if (json_array_size(c->pending))
		return 0;
	if (casus_is_online(c))
		return 1000;
	uint64_t now = mono_ms();
	return c->next_retry_ms > now ? (int)(c->next_retry_ms - now) : 0;
}

void casus_set_offline(casus_client *c)
{
	/* after a failed first connect: casus_next_event retries on its own */
	c->next_retry_ms = mono_ms() + c->backoff_ms;
}

/* ---- who am I ------------------------------------------------------------------------ */

int casus_whoami(casus_client *c, json_t **out)
{
	clear_err(c);
	if (!c->have_cert)
		return fail(c, CASUS_E_PROFILE, "no certificate installed yet: run casus install-cert FILE");
	json_t *o = cert_json(&c->cert);
	json_object_set_new(o, "serial", json_integer((json_int_t)c->cert.serial));
	json_object_set_new(o, "not_before", json_integer((json_int_t)c->cert.not_before));
	json_object_set_new(o, "not_after", json_integer((json_int_t)c->cert.not_after));
	json_object_set_new(o, "server", json_string(c->server));
	json_object_set_new(o, "profile", json_string(c->dir));
	json_object_set_new(o, "online", json_boolean(casus_is_online(c)));
	json_object_set_new(o, "policy", json_integer(c->have_policy ? (json_int_t)c->policy.number : 0));
	const cc_revlist *rl = ccore_revlist(c->core);
	json_object_set_new(o, "revlist", json_integer(rl ? (json_int_t)rl->number : 0));
	char code[20];
	ccore_pairing_code(&c->cert, code);
	json_object_set_new(o, "pairing", json_string(code));
	json_t *ob = NULL;
	if (casus_outbox_list(c, &ob) == CASUS_OK) {
		json_object_set_new(o, "outbox", json_integer((json_int_t)json_array_size(json_object_get(ob, "pending"))));
		json_decref(ob);
	}
	*out = o;
	return CASUS_OK;
}

int casus_entry(casus_client *c, const char *casus_hex, uint64_t seq, json_t **out)
{
	clear_err(c);
	*out = NULL;
	for (size_t i = 0; i < c->ncache; i++) {
		if (strcmp(c->cache[i].hex, casus_hex) != 0)
			continue;
		size_t j;
		json_t *o;
		json_array_foreach(c->cache[i].hist, j, o)
			if ((uint64_t)json_integer_value(json_object_get(o, "seq")) == seq) {
				*out = json_incref(o);
				return CASUS_OK;
			}
	}
	return fail(c, CASUS_E_NOT_FOUND, "message %llu is not held on this device", (unsigned long long)seq);
}

/* ---- a user's second device ------------------------------------------------------- */

/* Accept key transfers sealed to this device (its user's other device passed
 * the keys of epochs before this device joined). */
static void accept_transfers(casus_client *c, struct loaded *L)
{
	json_t *r = NULL;
	if (request(c, json_pack("{ssss}", "type", "transfer.fetch", "casus", L->hex), &r) != CASUS_OK) {
		clear_err(c);
		return;
	}
	size_t i, total = 0;
	json_t *o;
	json_array_foreach(json_object_get(r, "transfers"), i, o) {
		uint8_t *tb = NULL;
		size_t tl = 0, got = 0;
		if (proto_get_b64(o, "transfer", CC_TRANSFER_MAX_BYTES, &tb, &tl) == 0 &&
		    ccore_accept_transfer(L->k, tb, tl, &got) == CCORE_OK)
			total += got;
		free(tb);
	}
	json_decref(r);
	if (total) {
		/* entries decoded without these keys are fetched again */
		json_array_clear(L->hist);
		L->upto = 0;
		L->dirty = 1;
	}
}

struct own_arg {
	size_t added;
	const char *code; /* pairing code the new device showed (NULL: none given) */
	int unpaired;     /* candidates existed but none matched the code */
};

static int build_add_own(casus_client *c, struct loaded *L, const void *arg, cc_wbuf *w)
{
	struct own_arg *a = (struct own_arg *)(uintptr_t)arg;
	cc_cert *certs = NULL;
	size_t n = 0;
	a->added = 0;
	int rc = lookup_user(c, c->cert.user_id, &certs, &n);
	if (rc)
		return rc;
	/* explicit pairing: only the device whose pairing code (shown by
	 * `casus whoami` on the new device) the user typed, never every device
	 * the directory lists */
	size_t k = 0, candidates = 0;
	for (size_t i = 0; i < n; i++) {
		if (cc_chain_find(ccore_chain(L->k), certs[i].device_id) >= 0 || strcmp(certs[i].role, c->cert.role) != 0)
			continue;
		candidates++;
		char code[20];
		ccore_pairing_code(&certs[i], code);
		if (a->code && strcmp(code, a->code) == 0)
			certs[k++] = certs[i];
	}
	if (!k) {
		free(certs);
		a->unpaired = candidates > 0;
		return CASUS_E_NOT_FOUND; /* nothing to add: not an error for add-device */
	}
	cc_commit_change chg = {.type = CC_COMMIT_ADD, .add = certs, .nadd = k, .reason = "own device added"};
	int rc2 = core_build(c, L, &chg, w);
	free(certs);
	a->added = k;
	return rc2;
}

int casus_add_device(casus_client *c, const char *casus_hex, json_t **out)
{
	return casus_add_device_paired(c, casus_hex, NULL, out);
}

int casus_add_device_paired(casus_client *c, const char *casus_hex, const char *code, json_t **out)
{
	clear_err(c);
	struct own_arg a = {0, code, 0};
	int rc = commit_with_rebase(c, casus_hex, build_add_own, &a);
	if (rc == CASUS_E_NOT_FOUND && !c->err[0] && a.unpaired) {
		snprintf(c->code, sizeof c->code, "pairing");
		return fail(c, CASUS_E_USAGE,
		            code ? "Geen apparaat met deze koppelcode. No new device of yours shows the pairing code %s: "
		                   "check `casus whoami` on the new device"
		                 : "Koppelcode nodig. Give the pairing code of the new device: casus add-device CASUS "
		                   "--code CODE (the new device shows it with `casus whoami`)%s",
		            code ? code : "");
	}
	if (rc == CASUS_E_NOT_FOUND && !c->err[0])
		rc = CASUS_OK; /* every device of the user is in the roster already */
	if (rc)
		return rc;
	clear_err(c);
	struct loaded *L = NULL;
	if ((rc = load_casus(c, casus_hex, &L)))
		return rc;
	const cc_chain_state *st = ccore_chain(L->k);
	json_t *sent = json_array();
	for (size_t i = 0; i < st->nroster && rc == CASUS_OK; i++) {
		const cc_cert *ct = &st->roster[i].cert;
		if (strcmp(ct->user_id, c->cert.user_id) != 0 || memcmp(ct->device_id, c->keys->device_id, 16) == 0 ||
		    strcmp(ct->role, c->cert.role) != 0)
			continue;
		cc_wbuf w;
		cc_w_init(&w);
		int crc = cc_casus_transfer_create(ccore_cc(L->k), ct, (int64_t)time(NULL), &w);
		if (crc != CC_OK || w.err) {
			rc = fail(c, CASUS_E_VERIFY, "cannot seal the keys for device: %s", cc_strerror(crc));
		} else {
			json_t *req = json_pack("{ssss}", "type", "transfer.post", "casus", casus_hex);
			proto_set_b64(req, "transfer", w.p, w.len);
			json_t *r = NULL;
			if ((rc = request(c, req, &r)) == CASUS_OK) {
				char dev[33];
				cc_device_id_hex(ct->device_id, dev);
				json_array_append_new(sent, json_string(dev));
			}
			json_decref(r);
		}
		cc_w_free(&w);
	}
	if (rc) {
		json_decref(sent);
		return rc;
	}
	*out = json_pack("{sIso}", "added", (json_int_t)a.added, "transferred", sent);
	return CASUS_OK;
}
