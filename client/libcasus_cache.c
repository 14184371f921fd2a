/*
 * libcasus_cache.c: loading a casus (its commit chain, grants and key
 * transfers, each judged by the client core) and its sealed local copy
 * (libcasus_int.h).
 */
#include "libcasus_int.h"

/* ---- casus loading -------------------------------------------------------------- */

int lc_parse_casus(casus_client *c, const char *hex, uint8_t id[16])
{
	size_t n = 0;
	const char *end = NULL;
	if (!hex || strlen(hex) != 32 || sodium_hex2bin(id, 16, hex, 32, NULL, &n, &end) != 0 || n != 16)
		return lc_fail(c, CASUS_E_USAGE, "a casus id is 32 hex digits (see casus list)");
	return CASUS_OK;
}

const cc_cert *lc_known_cert(const struct loaded *L, const uint8_t dev[16])
{
	return ccore_cert(L->k, dev);
}

/* ---- local cache ----------------------------------------------------------------- */

void lc_cache_path(const casus_client *c, const char *hex, char *out, size_t cap)
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
	json_object_clear(L->raw);
	L->upto = 0;
}

/* Serialise into a buffer we can wipe (json_dumps' buffer would be freed
 * unwiped), in one pass: the buffer doubles as it fills, each outgrown one
 * wiped before it is freed (json_dumpb twice, to size and then to fill,
 * encoded a 13 MB local copy twice). */
struct dumpbuf {
	char *p;
	size_t len, cap;
};

static int dump_put(const char *buf, size_t n, void *data)
{
	struct dumpbuf *d = data;
	if (n >= SIZE_MAX / 2 - d->len)
		return -1;
	if (d->len + n + 1 > d->cap) {
		size_t nc = d->cap ? d->cap : 4096;
		while (nc < d->len + n + 1)
			nc *= 2;
		char *np = malloc(nc);
		if (!np)
			return -1;
		if (d->p) {
			memcpy(np, d->p, d->len);
			sealed_free(d->p, d->cap);
		}
		d->p = np;
		d->cap = nc;
	}
	memcpy(d->p + d->len, buf, n);
	d->len += n;
	return 0;
}

char *lc_dump_wipeable(const json_t *o, size_t *len)
{
	struct dumpbuf d = {0};
	if (json_dump_callback(o, dump_put, &d, JSON_COMPACT) != 0 || !d.len) {
		if (d.p)
			sealed_free(d.p, d.cap);
		return NULL;
	}
	d.p[d.len] = 0;
	/* the caller wipes len + 1 bytes: nothing was written past them */
	*len = d.len;
	return d.p;
}

/* The cache holds only what this device verified itself: the public commits
 * (verified again when loaded) and the messages it decrypted. No key is
 * stored; a device that leaves a casus deletes its copy (lc_cache_forget). */
static int cache_write(casus_client *c, struct loaded *L, int sync)
{
	char path[1024], bind[80];
	int rc = -1;
	if (!c->cache_key || !L->next_epoch || L->withheld_box)
		return -1;
	json_t *o =
		json_pack("{sisssIsIsOsOso}", "v", 1, "casus", L->hex, "saved", (json_int_t)time(NULL), "upto",
	                  (json_int_t)L->upto, "commits", L->commits, "hist", L->hist, "core", ccore_casus_save(L->k));
	size_t n = 0;
	char *text = o ? lc_dump_wipeable(o, &n) : NULL;
	json_decref(o);
	if (!text)
		return -1;
	lc_cache_path(c, L->hex, path, sizeof path);
	cache_bind(c, L->hex, bind, sizeof bind);
	if (sealed_write(path, c->cache_key, "cache", bind, (const uint8_t *)text, n, sync) == 0) {
		L->dirty = 0;
		rc = 0;
	}
	L->saved_ms = lc_mono_ms();
	sealed_free(text, n + 1);
	return rc;
}

void lc_cache_save(casus_client *c, struct loaded *L)
{
	(void)cache_write(c, L, 0);
}

int lc_cache_save_durable(casus_client *c, struct loaded *L)
{
	return cache_write(c, L, 1);
}

static void cache_load(casus_client *c, struct loaded *L)
{
	char path[1024], bind[80];
	uint8_t *pt = NULL;
	size_t n = 0;
	lc_cache_path(c, L->hex, path, sizeof path);
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

uint64_t lc_hist_last(const struct loaded *L)
{
	size_t n = json_array_size(L->hist);
	return n ? (uint64_t)json_integer_value(json_object_get(json_array_get(L->hist, n - 1), "seq")) : 0;
}

/* Keep a decoded entry in the cache (seq order, no duplicates). Entries that
 * did not verify are kept too, without content, so they stay marked. */
void lc_hist_add(struct loaded *L, json_t *entry)
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

void lc_cache_forget(casus_client *c, const char *hex)
{
	char path[1024];
	lc_cache_path(c, hex, path, sizeof path);
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
	L->raw = json_object();
	c->ncache++;
	if (c->have_policy)
		cache_load(c, L);
	return L;
}

/* 1 if the casus has a verified chain here without asking the server. */
int lc_load_casus_local(casus_client *c, const char *hex, struct loaded **out)
{
	struct loaded *L = get_loaded(c, hex);
	*out = L && L->next_epoch > 0 ? L : NULL;
	return *out != NULL;
}

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
int lc_load_casus(casus_client *c, const char *hex, struct loaded **out)
{
	uint8_t id[16];
	int rc = lc_parse_casus(c, hex, id);
	if (rc)
		return rc;
	if (!c->have_policy)
		return casus_is_online(c) ? lc_fail(c, CASUS_E_VERIFY, "no verified policy yet")
		                          : lc_fail(c, CASUS_E_NETWORK,
		                                    "cannot reach the server and there is no local copy of "
		                                    "casus %s on this device",
		                                    hex);
	struct loaded *L = get_loaded(c, hex);
	if (!L)
		return lc_fail(c, CASUS_E_INTERNAL, "too many casus open at once");
	if (!casus_is_online(c)) {
		if (L->next_epoch > 0) {
			*out = L; /* the local copy: verified when it was loaded */
			return CASUS_OK;
		}
		return lc_fail(c, CASUS_E_NETWORK, "cannot reach the server and there is no local copy of casus %s",
		               hex);
	}
	ccore_pager pg = {0};
	const int64_t now = (int64_t)time(NULL);
	for (;;) {
		json_t *r = NULL;
		json_t *req =
			json_pack("{sssssI}", "type", "commit.fetch", "casus", hex, "from", (json_int_t)L->next_epoch);
		if ((rc = lc_request(c, req, &r))) {
			if ((rc == CASUS_E_NOT_FOUND || (rc == CASUS_E_SERVER && strcmp(c->code, "forbidden") == 0)) &&
			    ccore_unverified_removal(L->k) != CCORE_OK)
				return lc_core_fail(c, CCORE_E_ROLLBACK); /* keep the verified copy */
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
			if (proto_get_u64(o, "epoch", UINT32_MAX, &ep) ||
			    proto_get_b64(o, "commit", CC_COMMIT_MAX_BYTES, &cb, &cl)) {
				free(cb);
				json_decref(r);
				return lc_fail(c, CASUS_E_VERIFY, "the server sent a broken commit chain (epoch %llu)",
				               (unsigned long long)L->next_epoch);
			}
			/* the core decides: bound to this casus, continuing the verified
			 * copy, not dated ahead, the head also valid at this device's time */
			int head = !more && i + 1 == json_array_size(arr);
			(void)lc_wraps_for_commit(c, cb, cl); /* a wrap key another process made */
			int crc = ccore_apply_commit(L->k, cb, cl, now, head);
			free(cb);
			if (crc != CCORE_OK) {
				json_decref(r);
				return lc_core_fail(c, crc);
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
			return lc_core_fail(c, step);
		if (!step)
			break;
	}
	/* this device's newest wrap key as the keystore has it now (another
	 * process may have rotated): the core judges a missing box against it */
	(void)lc_wraps_need(c, UINT32_MAX);
	int drc = ccore_chain_done(L->k, now);
	if (drc == CCORE_E_WITHHELD_BOX)
		L->withheld_box = 1; /* the copy on disk stays as it was before this fetch */
	if (L->dirty || drc != CCORE_OK)
		lc_cache_save(c, L);
	if (drc == CCORE_E_WITHHELD && c->building) {
		/* a new change is being built: it replaces the withheld one (which
		 * still blocks posting until a removal is confirmed); a withheld box
		 * in the commit that superseded it is withheld_box, never swallowed */
		ccore_warn(c->core, "withheld_commit", "%s", ccore_message(c->core));
		drc = CCORE_OK;
	}
	if (drc != CCORE_OK)
		return lc_core_fail(c, drc);
	/* a server that went back in time: warned, the local copy kept as it is */
	if (ccore_rollback_check(L->k, 0, 0) == CCORE_E_ROLLBACK) {
		L->dirty = 1;
		lc_cache_save(c, L);
	}
	if (!ccore_is_member(L->k)) {
		/* the verified chain removed this device (or never had it): no copy,
		 * also none of the commits just fetched (casusd serves a removed
		 * device the commits up to its removal) */
		lc_cache_forget(c, hex);
		*out = L;
		return CASUS_OK;
	}
	/* grants: keys of earlier messages shared with this device */
	json_t *r = NULL;
	if ((rc = lc_request(c, json_pack("{ssss}", "type", "grant.fetch", "casus", hex), &r)))
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
		cc_grant gd;
		if (grc == CCORE_OK && cc_grant_decode(gb, gl, &gd) == CC_OK) {
			for (size_t d = 0; d < gd.ndevices; d++)
				if (memcmp(gd.devices[d].device_id, c->keys->device_id, 16) == 0)
					(void)lc_wraps_need(c,
					                    gd.devices[d].wrap); /* a wrap key another process made */
			cc_grant_free(&gd);
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
			return lc_core_fail(c, grc);
		}
	}
	json_decref(r);
	if (!L->xfer_checked && needs_transfer(c, L)) {
		L->xfer_checked = 1;
		lc_accept_transfers(c, L);
	}
	*out = L;
	return CASUS_OK;
}
