/*
 * ccore_wrapks.c: a device's own wrap keys in its keystore (ccore_wrapks.h).
 * The same rules as the C client's libcasus_profile.c (docs/CRYPTO.md
 * "Device wrap keys", "Schedule"): rotate when the newest is due, save before
 * publishing, note when the server first accepted each version, and wipe a
 * secret once its successor was accepted at least the grace period ago.
 */
#include "ccore_wrapks.h"
#include "ccore.h"

#include <cc_err.h>

#include <sodium.h>
#include <stdio.h>
#include <string.h>

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

static void pub_name(uint32_t version, char *name, size_t cap)
{
	snprintf(name, cap, "wrappub/%010u", (unsigned)version);
}

static int pubtime(const cc_keystore *ks, uint32_t version, int64_t *t)
{
	char name[32];
	const uint8_t *v;
	size_t l;
	pub_name(version, name, sizeof name);
	if (cc_keystore_get(ks, name, &v, &l) != CC_OK || l != 8)
		return 0;
	*t = (int64_t)((uint64_t)rd32(v) << 32 | rd32(v + 4));
	return 1;
}

static int state_put(cc_keystore *ks, const ccore_wrapks *w)
{
	uint8_t st[8];
	wr32(st, w->newest);
	wr32(st + 4, w->published);
	return cc_keystore_put(ks, "wrapstate", st, sizeof st) == CC_OK ? CCORE_OK : CCORE_E_NOMEM;
}

int ccore_wrapks_load(const cc_keystore *ks, ccore_wrapks *w)
{
	if (!ks || !w)
		return CCORE_E_INVALID;
	if (!w->ws && !(w->ws = sodium_malloc(CC_WRAP_MAX * sizeof *w->ws)))
		return CCORE_E_NOMEM;
	sodium_memzero(w->ws, CC_WRAP_MAX * sizeof *w->ws);
	w->n = 0;
	for (size_t i = 0; i < cc_keystore_count(ks); i++) {
		const char *name = cc_keystore_name(ks, i);
		const uint8_t *v;
		size_t l;
		if (!name || strncmp(name, "wrap/", 5) != 0 || cc_keystore_get(ks, name, &v, &l) != CC_OK)
			continue;
		if (w->n < CC_WRAP_MAX && cc_wrap_secret_decode(v, l, &w->ws[w->n]) == CC_OK)
			w->n++;
	}
	const uint8_t *v;
	size_t l;
	if (cc_keystore_get(ks, "wrapstate", &v, &l) == CC_OK && l == 8) {
		if (rd32(v) > w->newest)
			w->newest = rd32(v);
		if (rd32(v + 4) > w->published)
			w->published = rd32(v + 4);
	}
	const cc_wrap_secret *nw = cc_wrap_newest(w->ws, w->n);
	if (nw && nw->version > w->newest)
		w->newest = nw->version;
	return CCORE_OK;
}

void ccore_wrapks_free(ccore_wrapks *w)
{
	if (!w)
		return;
	if (w->ws)
		sodium_free(w->ws); /* sodium_free wipes */
	memset(w, 0, sizeof *w);
}

int ccore_wrapks_rotate(cc_keystore *ks, ccore_wrapks *w, int64_t now, int64_t interval, int force, int *made)
{
	*made = 0;
	if (!ks || !w || !w->ws)
		return CCORE_E_INVALID;
	if (!force && !cc_wrap_rotation_due(w->ws, w->n, now, interval))
		return CCORE_OK;
	if (w->n >= CC_WRAP_MAX || w->newest == UINT32_MAX)
		return CCORE_E_INVALID;
	cc_wrap_secret *s = &w->ws[w->n];
	char name[24];
	cc_wbuf b;
	cc_w_init_secret(&b);
	int ok = cc_wrap_secret_generate(w->newest + 1, now, s) == CC_OK && cc_wrap_secret_encode(s, &b) == CC_OK &&
	         !b.err;
	if (ok) {
		cc_wrap_secret_name(s->version, name, sizeof name);
		ok = cc_keystore_put(ks, name, b.p, b.len) == CC_OK;
	}
	cc_w_free(&b);
	if (!ok) {
		sodium_memzero(s, sizeof *s);
		return CCORE_E_NOMEM;
	}
	w->newest = s->version;
	w->n++;
	*made = 1;
	return state_put(ks, w);
}

int ccore_wrapks_publication(const ccore_wrapks *w, const cc_device_keys *dev, cc_wbuf *out)
{
	const cc_wrap_secret *nw = w && w->ws ? cc_wrap_newest(w->ws, w->n) : NULL;
	cc_wrapkey pub;
	if (!nw || !dev)
		return CCORE_E_INVALID;
	if (cc_wrap_secret_publication(nw, dev, &pub) != CC_OK || cc_wrapkey_encode(&pub, out) != CC_OK || out->err)
		return CCORE_E_NOMEM;
	return CCORE_OK;
}

/* Secret i may go: the next newer held version was accepted at least grace ago. */
static int superseded_long_enough(const cc_keystore *ks, const ccore_wrapks *w, size_t i, int64_t now, int64_t grace)
{
	const cc_wrap_secret *succ = NULL;
	for (size_t j = 0; j < w->n; j++)
		if (w->ws[j].version > w->ws[i].version && (!succ || w->ws[j].version < succ->version))
			succ = &w->ws[j];
	int64_t t;
	return succ && succ->version <= w->published && pubtime(ks, succ->version, &t) && now - t >= grace;
}

int ccore_wrapks_accepted(cc_keystore *ks, ccore_wrapks *w, uint32_t version, int64_t now, int64_t grace,
                          uint32_t *wiped, size_t *nwiped, int *changed)
{
	*changed = 0;
	*nwiped = 0;
	if (!ks || !w || !w->ws || !cc_wrap_find(w->ws, w->n, version))
		return CCORE_E_INVALID;
	if (version > w->published) {
		w->published = version;
		*changed = 1;
	}
	/* "first accepted now" for every held version the server has accepted */
	for (size_t i = 0; i < w->n; i++) {
		int64_t t;
		if (w->ws[i].version > w->published || pubtime(ks, w->ws[i].version, &t))
			continue;
		char name[32];
		uint8_t v[8];
		wr32(v, (uint32_t)((uint64_t)now >> 32));
		wr32(v + 4, (uint32_t)(uint64_t)now);
		pub_name(w->ws[i].version, name, sizeof name);
		if (cc_keystore_put(ks, name, v, sizeof v) != CC_OK)
			return CCORE_E_NOMEM;
		*changed = 1;
	}
	for (size_t i = 0; i < w->n;) {
		if (w->ws[i].version < w->published && cc_wrap_expired(w->ws, w->n, i, now, grace) &&
		    superseded_long_enough(ks, w, i, now, grace)) {
			char name[24], pname[32];
			cc_wrap_secret_name(w->ws[i].version, name, sizeof name);
			(void)cc_keystore_del(ks, name);
			pub_name(w->ws[i].version, pname, sizeof pname);
			(void)cc_keystore_del(ks, pname);
			wiped[(*nwiped)++] = w->ws[i].version;
			sodium_memzero(&w->ws[i], sizeof w->ws[i]);
			w->ws[i] = w->ws[w->n - 1];
			sodium_memzero(&w->ws[w->n - 1], sizeof w->ws[i]);
			w->n--;
			*changed = 1;
			continue;
		}
		i++;
	}
	return *changed ? state_put(ks, w) : CCORE_OK;
}
