/*
 * libcasus_profile.c: errors, the profile folder (init, install-cert), opening
 * and freeing a client, whoami (libcasus_int.h).
 */
#include "libcasus_int.h"
#include "policy_json.h"

/* ---- errors ------------------------------------------------------------------ */

int lc_fail(casus_client *c, int rc, const char *fmt, ...)
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
int lc_core_fail(casus_client *c, int crc)
{
	snprintf(c->code, sizeof c->code, "%s", ccore_code(crc));
	snprintf(c->err, sizeof c->err, "%s", ccore_message(c->core));
	return crc == CCORE_E_NOMEM ? CASUS_E_INTERNAL : crc == CCORE_E_FORBIDDEN ? CASUS_E_USAGE : CASUS_E_VERIFY;
}

json_t *casus_take_warnings(casus_client *c)
{
	return c->core ? ccore_take_warnings(c->core) : json_array();
}

void lc_clear_err(casus_client *c)
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

void lc_path_in(char *out, size_t cap, const char *dir, const char *name)
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
	/* the newline the hidden input did not echo, on the descriptor: ISO C
	 * allows no write after a read on one stream without a positioning call,
	 * and a terminal cannot be positioned */
	if (write(fd, "\n", 1) < 0) {
		/* nothing to do: the prompt's line is merely not ended */
	}
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
	lc_path_in(path, sizeof path, o->dir, "keys.casusks");
	if (access(path, F_OK) == 0) {
		snprintf(err, errlen, "%s already holds a device; use another --profile folder", o->dir);
		rc = CASUS_E_USAGE;
		goto out;
	}
	cc_cert_request req;
	if (cc_device_keys_generate(&keys) != CC_OK ||
	    cc_cert_request_create(&req, keys, o->user, o->name ? o->name : o->user, o->org ? o->org : "", o->role) !=
	            CC_OK) {
		snprintf(err, errlen,
		         "invalid user id, name, organisation or role (user ids and roles: a-z 0-9 . _ @ -)");
		rc = CASUS_E_USAGE;
		goto out;
	}
	uint8_t ck[SEALED_KEY_BYTES];
	randombytes_buf(ck, sizeof ck);
	int kp = cc_keystore_new(&ks) != CC_OK || cc_device_keys_encode(keys, &w) != CC_OK || w.err ||
	         cc_keystore_put(ks, "device", w.p, w.len) != CC_OK ||
	         cc_keystore_put(ks, "cache", ck, sizeof ck) != CC_OK;
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
	lc_path_in(path, sizeof path, o->dir, "request.casusreq");
	int wr = rq.err ? -1 : fio_write_atomic(path, rq.p, rq.len, 0644);
	cc_w_free(&rq);
	char dev[33];
	cc_device_id_hex(keys->device_id, dev);
	json_t *prof =
		json_pack("{ssssssss}", "server", o->server, "root", o->root_hex, "user", o->user, "device", dev);
	if (o->ca_file)
		json_object_set_new(prof, "ca", json_string(o->ca_file));
	char *text = json_dumps(prof, JSON_INDENT(2));
	json_decref(prof);
	lc_path_in(path, sizeof path, o->dir, "profile.json");
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
	lc_path_in(path, sizeof path, c->dir, "profile.json");
	json_error_t jerr;
	json_t *p = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	const char *server = NULL, *root = NULL, *ca = NULL;
	if (!p || proto_get_str(p, "server", sizeof c->server - 1, &server) || proto_get_str(p, "root", 64, &root) ||
	    hex32(root, c->root) != 0) {
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
	lc_path_in(path, sizeof path, dir, "keys.casusks");
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
	/* the core judges it: the pinned root, valid now, this very device */
	int crc = ccore_own_cert(tmp.root, keys, cb, cl, (int64_t)time(NULL), &cert);
	if (crc != CCORE_OK) {
		snprintf(err, errlen,
		         crc == CCORE_E_TAMPERED ? "this certificate is for another device"
		                                 : "certificate refused (%s)",
		         ccore_code(crc));
		goto out;
	}
	if (cc_keystore_put(ks, "cert", cb, cl) != CC_OK) {
		rc = CASUS_E_INTERNAL;
		goto out;
	}
	lc_path_in(path, sizeof path, dir, "keys.casusks");
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

static int wraps_load(casus_client *c);
static void ks_stamp(casus_client *c);

int casus_client_open(casus_client **out, const char *dir, const char *pass, size_t passlen, char *err, size_t errlen)
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
	if (rc == CASUS_OK) {
		/* stamp the file before reading it: another process of this profile
		 * may save a new wrap key while the passphrase is stretched, and a
		 * stamp taken after the read would let this process believe its older
		 * copy current and make a second key of the same version (the
		 * server keeps the first; commits sealed to it would not open here) */
		ks_stamp(c);
		rc = open_keystore(dir, pass, passlen, &c->ks, err, errlen);
	}
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
			lc_path_in(kpath, sizeof kpath, dir, "keys.casusks");
			if (cc_keystore_put(c->ks, "cache", c->cache_key, SEALED_KEY_BYTES) != CC_OK ||
			    cc_keystore_save(c->ks, kpath, pass, passlen) != CC_OK) {
				snprintf(err, errlen, "cannot add the cache key to %s", kpath);
				rc = CASUS_E_PROFILE;
			}
		}
		cc_device_id_hex(c->keys->device_id, c->devhex);
		char sub[1024];
		lc_path_in(sub, sizeof sub, dir, "cache");
		(void)mkdir(sub, 0700);
		lc_path_in(sub, sizeof sub, dir, "outbox");
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
		/* the passphrase, to save the keystore after a wrap-key rotation,
		 * and the wrap secrets this device holds */
		c->pass = sodium_malloc(passlen + 1);
		if (!c->pass || wraps_load(c) != CASUS_OK) {
			snprintf(err, errlen, "out of memory");
			rc = CASUS_E_INTERNAL;
		} else {
			lc_wrapkeys_load(c); /* other devices' wrap keys verified before */
			memcpy(c->pass, pass, passlen);
			c->pass[passlen] = 0;
			c->passlen = passlen;
		}
	}
	if (rc == CASUS_OK) {
		/* the newest policy and revocation list seen before, if any: the
		 * core verifies them again and never lets them go back */
		char path[1024];
		size_t n = 0;
		int changed = 0;
		lc_path_in(path, sizeof path, dir, "policy.bin");
		uint8_t *pb = fio_read(path, 1 << 20, &n);
		if (pb && ccore_policy_offer(c->core, pb, n, 1, &changed) == CCORE_OK) {
			c->policy = *ccore_policy(c->core);
			c->have_policy = 1;
		}
		free(pb);
		lc_path_in(path, sizeof path, dir, "revlist.bin");
		pb = fio_read(path, 1 << 24, &n);
		if (pb && ccore_revlist_offer(c->core, pb, n, (int64_t)time(NULL), 1, &changed) != CCORE_OK)
			ccore_warn(c->core, "revoked", "the stored revocation list does not verify: fetched again");
		free(pb);
		/* the server's store epoch seen last (a restored server names another) */
		lc_path_in(path, sizeof path, dir, "store_epoch");
		pb = fio_read(path, CCORE_STORE_EPOCH_MAX, &n);
		if (pb) {
			char ep[CCORE_STORE_EPOCH_MAX + 1];
			snprintf(ep, sizeof ep, "%.*s", (int)n, (const char *)pb);
			(void)ccore_store_epoch(c->core, ep, 1); /* a damaged file: none held */
		}
		free(pb);
	}
	if (rc != CASUS_OK) {
		casus_client_free(c);
		return rc;
	}
	*out = c;
	return CASUS_OK;
}

void casus_client_free(casus_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->ncache; i++)
		if (c->cache[i].dirty)
			lc_cache_save(c, &c->cache[i]);
	conn_close(c->conn);
	for (size_t i = 0; i < c->ncache; i++) {
		ccore_casus_free(c->cache[i].k);
		json_decref(c->cache[i].granted);
		json_decref(c->cache[i].commits);
		json_decref(c->cache[i].hist);
		json_decref(c->cache[i].raw);
	}
	json_decref(c->pending);
	json_decref(c->delivered);
	sodium_free(c->cache_key);
	sodium_free(c->pass);
	sodium_free(c->wraps);
	ccore_free(c->core);
	cc_device_keys_free(c->keys);
	cc_keystore_free(c->ks);
	sodium_memzero(c, sizeof *c);
	free(c);
}

/* ---- who am I ------------------------------------------------------------------------ */

/* ---- device wrap keys (issue 17; docs/CRYPTO.md "Device wrap keys") ----------------
 *
 * Keystore entries: "wrap/<10-digit version>" (cc_wrap_secret encoding) per
 * held secret, and "wrapstate" = u32 highest version made | u32 highest
 * version the server accepted. The schedule (cc_wrap_rotation_due,
 * cc_wrap_expired) is given the time; the intervals come from the
 * environment: CASUS_WRAPKEY_INTERVAL and CASUS_WRAPKEY_GRACE, in seconds. */

static int64_t env_secs(const char *name, int64_t dflt)
{
	const char *v = getenv(name);
	if (!v || !*v)
		return dflt;
	char *end = NULL;
	errno = 0;
	long long x = strtoll(v, &end, 10);
	return (errno == 0 && end && !*end && x >= 0 && x <= 3650LL * 86400) ? (int64_t)x : dflt;
}

static uint32_t rd32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void wr32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Read the wrap secrets from the keystore and hand them to the core and to
 * every casus already loaded. */
static int wraps_load(casus_client *c)
{
	if (!c->wraps && !(c->wraps = sodium_malloc(CC_WRAP_MAX * sizeof *c->wraps)))
		return CASUS_E_INTERNAL;
	c->nwraps = 0;
	for (size_t i = 0; i < cc_keystore_count(c->ks); i++) {
		const char *name = cc_keystore_name(c->ks, i);
		const uint8_t *v;
		size_t l;
		if (!name || strncmp(name, "wrap/", 5) != 0 || cc_keystore_get(c->ks, name, &v, &l) != CC_OK)
			continue;
		if (c->nwraps < CC_WRAP_MAX && cc_wrap_secret_decode(v, l, &c->wraps[c->nwraps]) == CC_OK)
			c->nwraps++;
	}
	const uint8_t *v;
	size_t l;
	/* the versions only grow (this process may know a later answer than the file) */
	if (cc_keystore_get(c->ks, "wrapstate", &v, &l) == CC_OK && l == 8) {
		if (rd32(v) > c->wrap_newest)
			c->wrap_newest = rd32(v);
		if (rd32(v + 4) > c->wrap_published)
			c->wrap_published = rd32(v + 4);
	}
	const cc_wrap_secret *nw = cc_wrap_newest(c->wraps, c->nwraps);
	if (nw && nw->version > c->wrap_newest)
		c->wrap_newest = nw->version;
	if (c->core && ccore_set_wraps(c->core, c->wraps, c->nwraps, c->wrap_newest) != CCORE_OK)
		return CASUS_E_INTERNAL;
	ccore_wrap_published(c->core, c->wrap_published); /* the floor of withheld_box */
	for (size_t i = 0; i < c->ncache; i++)
		if (c->cache[i].k &&
		    cc_casus_set_wraps(ccore_cc(c->cache[i].k), c->wraps, c->nwraps, c->wrap_newest) != CC_OK)
			return CASUS_E_INTERNAL;
	return CASUS_OK;
}

/* Remember which keystore file we hold (a rename makes a new inode). */
static void ks_stamp(casus_client *c)
{
	char path[1024];
	struct stat st;
	lc_path_in(path, sizeof path, c->dir, "keys.casusks");
	if (stat(path, &st) == 0) {
		c->ks_ino = st.st_ino;
		c->ks_mtim = st.st_mtim;
	}
}

/* Another process of this profile (a live view and a command) may have
 * rotated or wiped since we read the keystore: read it again before changing
 * it, so that neither overwrites the other's wrap secrets. Called under the
 * profile's key lock. */
static int ks_refresh(casus_client *c)
{
	char path[1024];
	struct stat st;
	lc_path_in(path, sizeof path, c->dir, "keys.casusks");
	if (stat(path, &st) != 0)
		return lc_fail(c, CASUS_E_PROFILE, "cannot read %s", path);
	if (st.st_ino == c->ks_ino && st.st_mtim.tv_sec == c->ks_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == c->ks_mtim.tv_nsec)
		return CASUS_OK;
	cc_keystore *ks = NULL;
	if (!c->pass || cc_keystore_open(path, c->pass, c->passlen, &ks) != CC_OK)
		return lc_fail(c, CASUS_E_PROFILE, "cannot read %s again", path);
	cc_keystore_free(c->ks);
	c->ks = ks;
	c->ks_ino = st.st_ino;
	c->ks_mtim = st.st_mtim;
	return wraps_load(c);
}

int lc_wraps_for_commit(casus_client *c, const uint8_t *p, size_t n)
{
	cc_commit cm;
	if (!c->keys || cc_commit_decode(p, n, &cm) != CC_OK)
		return 0; /* the core judges it */
	uint32_t need = 0;
	for (size_t a = 0; a <= cm.naudiences; a++) {
		const cc_commit_audience *au = a < cm.naudiences ? &cm.audiences[a] : &cm.reason;
		for (size_t j = 0; j < au->nrecipients; j++)
			if (au->recipients[j].wrap > need &&
			    memcmp(au->recipients[j].device_id, c->keys->device_id, CC_DEVICE_ID_BYTES) == 0)
				need = au->recipients[j].wrap;
	}
	cc_commit_free(&cm);
	return lc_wraps_need(c, need);
}

int lc_wraps_need(casus_client *c, uint32_t need)
{
	if (need <= c->wrap_newest)
		return 0;
	/* sealed to a wrap key made after this process read the keystore (another
	 * process of this profile rotated, e.g. `casus sleutel vernieuwen` beside
	 * a live view): read the keystore again */
	int rc = ks_refresh(c);
	if (rc != CASUS_OK) {
		lc_clear_err(c);
		return rc;
	}
	return need <= c->wrap_newest ? 1 : 0;
}

static int wraps_save(casus_client *c)
{
	uint8_t st[8];
	char path[1024];
	wr32(st, c->wrap_newest);
	wr32(st + 4, c->wrap_published);
	lc_path_in(path, sizeof path, c->dir, "keys.casusks");
	if (!c->pass || cc_keystore_put(c->ks, "wrapstate", st, sizeof st) != CC_OK ||
	    cc_keystore_save(c->ks, path, c->pass, c->passlen) != CC_OK)
		return lc_fail(c, CASUS_E_PROFILE, "cannot write the new wrap key to %s", path);
	ks_stamp(c);
	return CASUS_OK;
}

static json_t *versions_json(const cc_wrap_secret *ws, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_integer((json_int_t)ws[i].version));
	return a;
}

static json_t *wraps_json(casus_client *c, int64_t now)
{
	const cc_wrap_secret *nw = cc_wrap_newest(c->wraps, c->nwraps);
	json_t *o = json_object();
	json_object_set_new(o, "version", json_integer(nw ? (json_int_t)nw->version : 0));
	json_object_set_new(o, "created", json_integer(nw ? (json_int_t)nw->created : 0));
	json_object_set_new(o, "published", json_integer((json_int_t)c->wrap_published));
	json_object_set_new(o, "held", versions_json(c->wraps, c->nwraps));
	json_object_set_new(o, "due",
	                    json_boolean(cc_wrap_rotation_due(c->wraps, c->nwraps, now,
	                                                      env_secs("CASUS_WRAPKEY_INTERVAL",
	                                                               CC_WRAP_INTERVAL_DEFAULT))));
	return o;
}

/* When the server first accepted a version: keystore entry
 * "wrappub/<10-digit version>" = i64 big-endian seconds. The grace period of
 * a superseded secret runs from its successor's first acceptance, not from the
 * successor's creation: a device that made a key and could not publish it for
 * weeks must keep the previous secret, which is the one the others sealed to
 * meanwhile (review). */
static void wrap_pub_name(uint32_t version, char *name, size_t cap)
{
	snprintf(name, cap, "wrappub/%010u", (unsigned)version);
}

static int wrap_pubtime(casus_client *c, uint32_t version, int64_t *t)
{
	char name[32];
	const uint8_t *v;
	size_t l;
	wrap_pub_name(version, name, sizeof name);
	if (cc_keystore_get(c->ks, name, &v, &l) != CC_OK || l != 8)
		return 0;
	uint64_t x = (uint64_t)rd32(v) << 32 | rd32(v + 4);
	*t = (int64_t)x;
	return 1;
}

/* Record "first accepted now" for every held version the server has accepted
 * (the newest just now, older ones at the latest by now). 1 if one was added. */
static int wrap_pubtimes_note(casus_client *c, int64_t now)
{
	int added = 0;
	for (size_t i = 0; i < c->nwraps; i++) {
		int64_t t;
		if (c->wraps[i].version > c->wrap_published || wrap_pubtime(c, c->wraps[i].version, &t))
			continue;
		char name[32];
		uint8_t v[8];
		wr32(v, (uint32_t)((uint64_t)now >> 32));
		wr32(v + 4, (uint32_t)(uint64_t)now);
		wrap_pub_name(c->wraps[i].version, name, sizeof name);
		if (cc_keystore_put(c->ks, name, v, sizeof v) == CC_OK)
			added = 1;
	}
	return added;
}

/* Secret i may go: a newer version supersedes it, and the next newer one was
 * first accepted by the server at least `grace` ago. */
static int wrap_superseded_long_enough(casus_client *c, size_t i, int64_t now, int64_t grace)
{
	const cc_wrap_secret *succ = NULL;
	for (size_t j = 0; j < c->nwraps; j++)
		if (c->wraps[j].version > c->wraps[i].version && (!succ || c->wraps[j].version < succ->version))
			succ = &c->wraps[j];
	int64_t t;
	return succ && succ->version <= c->wrap_published && wrap_pubtime(c, succ->version, &t) && now - t >= grace;
}

/* Rotate (if due or forced), publish the newest if the server lacks it, then
 * wipe the secrets whose grace period is over. *info (may be NULL) gets what
 * was done. */
static int wrap_maintain(casus_client *c, int force, json_t **info)
{
	int64_t now = (int64_t)time(NULL);
	int64_t interval = env_secs("CASUS_WRAPKEY_INTERVAL", CC_WRAP_INTERVAL_DEFAULT);
	int64_t grace = env_secs("CASUS_WRAPKEY_GRACE", CC_WRAP_GRACE_DEFAULT);
	json_t *wiped = json_array();
	int rc = CASUS_OK;
	/* one process of this profile at a time changes the keystore */
	char lpath[1024];
	lc_path_in(lpath, sizeof lpath, c->dir, "keys.lock");
	int lfd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
		rc = lc_fail(c, CASUS_E_PROFILE, "cannot lock %s", lpath);
		goto out;
	}
	if ((rc = ks_refresh(c)) != CASUS_OK)
		goto out;
	if (!c->wraps && (rc = wraps_load(c)) != CASUS_OK)
		goto out;
	if (force || cc_wrap_rotation_due(c->wraps, c->nwraps, now, interval)) {
		if (c->nwraps >= CC_WRAP_MAX) {
			rc = lc_fail(c, CASUS_E_INTERNAL, "this device holds %d wrap keys already", CC_WRAP_MAX);
			goto out;
		}
		cc_wrap_secret *s = &c->wraps[c->nwraps];
		char name[24];
		cc_wbuf w;
		cc_w_init_secret(&w);
		if (cc_wrap_secret_generate(c->wrap_newest + 1, now, s) != CC_OK ||
		    cc_wrap_secret_encode(s, &w) != CC_OK ||
		    (cc_wrap_secret_name(s->version, name, sizeof name), cc_keystore_put(c->ks, name, w.p, w.len)) !=
		            CC_OK) {
			cc_w_free(&w);
			rc = lc_fail(c, CASUS_E_INTERNAL, "cannot make a new wrap key");
			goto out;
		}
		cc_w_free(&w);
		c->wrap_newest = s->version;
		c->nwraps++;
		/* on disk before anyone can seal to it */
		if ((rc = wraps_save(c)) != CASUS_OK)
			goto out;
	}
	/* The newest is published at every connect: the server answers the same
	 * record at once and stores nothing; a server restored from an older
	 * backup gets it back. */
	const cc_wrap_secret *nw = cc_wrap_newest(c->wraps, c->nwraps);
	if (nw) {
		cc_wrapkey pub;
		cc_wbuf w;
		cc_w_init(&w);
		json_t *req = json_pack("{ss}", "type", "dir.publish"), *r = NULL;
		if (cc_wrap_secret_publication(nw, c->keys, &pub) != CC_OK || cc_wrapkey_encode(&pub, &w) != CC_OK) {
			cc_w_free(&w);
			json_decref(req);
			rc = lc_fail(c, CASUS_E_INTERNAL, "cannot sign the wrap key");
			goto out;
		}
		proto_set_b64(req, "wrapkey", w.p, w.len);
		cc_w_free(&w);
		if ((rc = lc_request(c, req, &r)) != CASUS_OK)
			goto out; /* published on a later connect */
		json_decref(r);
		c->wrap_published = nw->version;
	}
	/* wipe: superseded by a key the server accepted at least the grace period ago */
	int changed = wrap_pubtimes_note(c, now);
	for (size_t i = 0; i < c->nwraps;) {
		if (c->wraps[i].version < c->wrap_published && cc_wrap_expired(c->wraps, c->nwraps, i, now, grace) &&
		    wrap_superseded_long_enough(c, i, now, grace)) {
			char name[24], pname[32];
			cc_wrap_secret_name(c->wraps[i].version, name, sizeof name);
			(void)cc_keystore_del(c->ks, name);
			wrap_pub_name(c->wraps[i].version, pname, sizeof pname);
			(void)cc_keystore_del(c->ks, pname);
			json_array_append_new(wiped, json_integer((json_int_t)c->wraps[i].version));
			sodium_memzero(&c->wraps[i], sizeof c->wraps[i]);
			c->wraps[i] = c->wraps[c->nwraps - 1];
			sodium_memzero(&c->wraps[c->nwraps - 1], sizeof c->wraps[i]);
			c->nwraps--;
			changed = 1;
			continue;
		}
		i++;
	}
	/* the published version in the keystore is written with the next change
	 * (each connect publishes again; the wipe rule uses this process's answer) */
	if (changed)
		rc = wraps_save(c);
out:
	if (lfd >= 0) {
		flock(lfd, LOCK_UN);
		close(lfd);
	}
	if (rc == CASUS_OK || c->wraps)
		(void)wraps_load(c);
	if (info && rc == CASUS_OK) {
		*info = wraps_json(c, now);
		json_object_set_new(*info, "wiped", wiped);
		wiped = NULL;
	}
	json_decref(wiped);
	return rc;
}

/* ---- verified wrap keys of other devices, kept (issue 17, review point 2) ---------- */

#define WRAPKEYS_PURPOSE "wrapkeys"

void lc_wrapkeys_load(casus_client *c)
{
	char path[1024];
	uint8_t *pt = NULL;
	size_t n = 0;
	if (!c->cache_key || !c->core)
		return;
	lc_path_in(path, sizeof path, c->dir, "wrapkeys.bin");
	if (sealed_read(path, c->cache_key, WRAPKEYS_PURPOSE, c->devhex, &pt, &n) != 0)
		return; /* none yet (or damaged: the directory is judged from scratch) */
	json_t *o = json_loadb((const char *)pt, n, JSON_REJECT_DUPLICATES, NULL);
	sealed_free(pt, n + 1);
	(void)ccore_wraps_restore(c->core, o);
	json_decref(o);
}

int lc_wrapkeys_save(casus_client *c)
{
	char path[1024], lpath[1024];
	if (!c->cache_key || !c->core)
		return -1;
	/* another process of this profile may have learned other devices' keys:
	 * merge (the highest version per device wins) under the profile's lock */
	lc_path_in(lpath, sizeof lpath, c->dir, "keys.lock");
	int lfd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX) != 0) {
		if (lfd >= 0)
			close(lfd);
		return -1;
	}
	lc_wrapkeys_load(c);
	json_t *o = ccore_wraps_save(c->core);
	size_t n = 0;
	char *text = o ? lc_dump_wipeable(o, &n) : NULL;
	json_decref(o);
	int rc = -1;
	if (text) {
		lc_path_in(path, sizeof path, c->dir, "wrapkeys.bin");
		rc = sealed_write(path, c->cache_key, WRAPKEYS_PURPOSE, c->devhex, (const uint8_t *)text, n, 1);
		sealed_free(text, n + 1);
	}
	flock(lfd, LOCK_UN);
	close(lfd);
	return rc;
}

int64_t lc_wrap_stale_after(void)
{
	return env_secs("CASUS_WRAPKEY_STALE", env_secs("CASUS_WRAPKEY_INTERVAL", CC_WRAP_INTERVAL_DEFAULT) +
	                                               env_secs("CASUS_WRAPKEY_GRACE", CC_WRAP_GRACE_DEFAULT));
}

int lc_wrap_check_own(casus_client *c)
{
	const cc_wrap_secret *nw = c->wraps ? cc_wrap_newest(c->wraps, c->nwraps) : NULL;
	if (!nw || c->wrap_published < nw->version)
		return CASUS_OK; /* nothing published yet (it is, at a later connect) */
	json_t *req = json_pack("{sss[s]}", "type", "dir.lookup", "devices", c->devhex), *r = NULL;
	int rc = lc_request(c, req, &r);
	if (rc)
		return rc;
	uint8_t *b = NULL;
	size_t bl = 0, i;
	json_t *o, *mine = NULL;
	json_array_foreach(json_object_get(r, "devices"), i, o)
		if (strcmp(json_string_value(json_object_get(o, "device")) ?: "", c->devhex) == 0)
			mine = o;
	cc_wrapkey wk;
	int have = mine && json_object_get(mine, "wrapkey") &&
	           proto_get_b64(mine, "wrapkey", CC_WRAPKEY_BYTES, &b, &bl) == 0 &&
	           cc_wrapkey_check(b, bl, &c->cert, &wk) == CC_OK;
	free(b);
	json_decref(r);
	if (have && wk.version > nw->version) {
		/* boxes sealed to the versions before it may be gone (box retention) */
		ccore_wrap_dir_own(c->core, wk.version);
		ccore_warn(c->core, "wrapkey_ahead",
		           "De server heeft een nieuwere sleutel van dit apparaat (%u) dan het zelf heeft (%u): "
		           "voer `casus sleutel vernieuwen` uit. The directory holds wrap key %u of this device, newer "
		           "than the %u it holds (a keystore restored from a backup?): run `casus sleutel vernieuwen` "
		           "until it passes the server's",
		           wk.version, nw->version, wk.version, nw->version);
		return CASUS_OK;
	}
	if (have && wk.version == nw->version && sodium_memcmp(wk.pk, nw->pk, CC_BOX_PK_BYTES) == 0)
		return CASUS_OK;
	snprintf(c->code, sizeof c->code, "withheld_wrapkey");
	return lc_fail(c, CASUS_E_VERIFY,
	               "De server geeft niet de nieuwste sleutel van dit apparaat terug. The directory does not return "
	               "this device's newest wrap key (version %u; it returns %s): other members would seal to an "
	               "older key. Report this to the administrator.",
	               nw->version, have ? (wk.version < nw->version ? "an older one" : "another key") : "none");
}

int lc_wrap_maintain(casus_client *c, int force)
{
	return wrap_maintain(c, force, NULL);
}

int casus_device_rotate(casus_client *c, json_t **out)
{
	lc_clear_err(c);
	*out = NULL;
	int rc = casus_client_connect(c);
	if (rc)
		return rc;
	return wrap_maintain(c, 1, out);
}

int casus_device_keys(casus_client *c, json_t **out)
{
	lc_clear_err(c);
	if (!c->wraps && wraps_load(c) != CASUS_OK)
		return lc_fail(c, CASUS_E_INTERNAL, "out of memory");
	*out = wraps_json(c, (int64_t)time(NULL));
	return CASUS_OK;
}

int casus_whoami(casus_client *c, json_t **out)
{
	lc_clear_err(c);
	if (!c->have_cert)
		return lc_fail(c, CASUS_E_PROFILE, "no certificate installed yet: run casus install-cert FILE");
	json_t *o = lc_cert_json(&c->cert);
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
		json_object_set_new(o, "outbox",
		                    json_integer((json_int_t)json_array_size(json_object_get(ob, "pending"))));
		json_decref(ob);
	}
	*out = o;
	return CASUS_OK;
}

int casus_entry(casus_client *c, const char *casus_hex, uint64_t seq, json_t **out)
{
	lc_clear_err(c);
	*out = NULL;
	struct loaded *L = NULL;
	/* the verified local copy (read from the cache file if not loaded yet) */
	if (lc_load_casus_local(c, casus_hex, &L)) {
		size_t j;
		json_t *o;
		json_array_foreach(L->hist, j, o)
			if ((uint64_t)json_integer_value(json_object_get(o, "seq")) == seq) {
				*out = json_incref(o);
				return CASUS_OK;
			}
	}
	return lc_fail(c, CASUS_E_NOT_FOUND, "message %llu is not held on this device", (unsigned long long)seq);
}

json_t *casus_policy_json(casus_client *c)
{
	if (!c || !c->have_policy)
		return NULL;
	char *s = cc_policy_to_json(&c->policy);
	if (!s)
		return NULL;
	json_t *o = json_loads(s, 0, NULL);
	free(s);
	return o;
}
