/*
 * ccore_casus.c: the per-casus part of the client core (ccore.h): the chain
 * bound to the id asked for, commit times against the verifier's clock, the
 * head's certificates at the verifier's time, the own commit that must become
 * the head, messages of superseded epochs, per-sender stream order, grants
 * within the grantee's audiences and the outbox's audience rule. No I/O.
 */
#include "ccore_int.h"

#include <cc_err.h>
#include <cc_grant.h>
#include <cc_message.h>
#include <cc_keys.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where one sender's stream stands in one epoch and audience (in the
 * server's seq order). Counters are gap-free per (sender device, epoch,
 * audience): the numbers skipped so far are kept as ranges until they arrive
 * (late: a reorder) or the listing ends (then they are a gap: dropped). */
#define MISS_MAX 8
struct sender_pos {
	uint8_t dev[CC_DEVICE_ID_BYTES];
	uint64_t epoch, counter, seq;
	uint8_t audience;
	int dup_at_seq; /* the message at seq was a duplicate */
	int nmiss;      /* ranges in miss */
	int miss_more;  /* more missing numbers than MISS_MAX ranges hold */
	struct {
		uint64_t lo, hi;
	} miss[MISS_MAX];
};

struct epoch_info {
	int64_t time;                          /* the commit's time */
	uint8_t hash[CC_HASH_BYTES];           /* the commit's hash */
	uint64_t first_seq;                    /* seq of the first message of this epoch seen (0: none) */
	uint8_t (*roster)[CC_DEVICE_ID_BYTES]; /* the devices of this epoch */
	size_t nroster;
	uint8_t type, level; /* the commit's type and level after */
	uint8_t actor[CC_DEVICE_ID_BYTES];
	char *reason;      /* the decrypted reason (sodium_malloc, wiped), NULL if none for this device */
	const char *title; /* the casus title the reason box carried (inside reason's buffer), NULL if none */
	/* this device in the commit (issue 17, ccore_chain_done's box check) */
	uint8_t own_in;      /* this device is in the commit's roster */
	uint64_t own_serial; /* with this certificate */
	uint16_t miss;       /* boxes for this device the signed part names and the carrier left out */
	uint8_t miss_aud;    /* the audience of the one sealed to the highest wrap version */
	uint32_t miss_wrap;  /* that highest wrap version */
};

struct ccore_casus {
	ccore *core;
	uint8_t id[CC_CASUS_ID_BYTES];
	cc_casus *cs;
	struct epoch_info *ep; /* one per verified commit, epoch order */
	size_t nep;
	cc_cert *certs; /* every certificate seen in the chain */
	size_t ncerts;
	struct sender_pos *pos;
	size_t npos;
	int from_start; /* the current listing starts at the beginning of the history */
	/* own commit waiting to be the verified head */
	int pending;
	uint64_t pending_epoch;
	uint8_t pending_hash[CC_HASH_BYTES];
	size_t pending_own_rm; /* devices the pending commit itself removes */
	/* devices this device meant to remove and the verified roster still
	 * holds: nothing is posted while one is there (kept across commits) */
	uint8_t (*pending_rm)[CC_DEVICE_ID_BYTES];
	size_t npending_rm;
	/* every message seen at a place: (first 8 bytes of its id, seq), sorted */
	struct seen {
		uint64_t id, seq;
	} * seen;
	size_t nseen, capseen;
	/* the title (ccore_set_title / ccore_title) */
	char *own_title; /* sodium_malloc: the title set for the next commit built here (a new casus) */
	/* a server that went back in time (ccore_rollback_check) */
	uint64_t high;                              /* highest seq of a message opened here */
	char seen_epoch[CCORE_STORE_EPOCH_MAX + 1]; /* store epoch the local copy was checked against */
	int diverged;                               /* the server's copy may differ from the held one */
	int rb_warned;                              /* warned once in this process */
};

#define SEEN_MAX 200000

static void rollback_save(const ccore_casus *k, json_t *o);
static void rollback_restore(ccore_casus *k, const json_t *saved);

static uint64_t id64(const uint8_t id[CC_MESSAGE_ID_BYTES])
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | id[i];
	return v;
}

/* Records (id, seq); returns the earlier seq if the id was seen at another place, else 0. */
static uint64_t seen_at(ccore_casus *k, uint64_t id, uint64_t seq)
{
	size_t lo = 0, hi = k->nseen;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (k->seen[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < k->nseen && k->seen[lo].id == id)
		return k->seen[lo].seq != seq ? k->seen[lo].seq : 0;
	if (k->nseen >= SEEN_MAX)
		return 0;
	if (k->nseen == k->capseen) {
		size_t nc = k->capseen ? k->capseen * 2 : 64;
		struct seen *ns = realloc(k->seen, nc * sizeof(*ns));
		if (!ns)
			return 0;
		k->seen = ns;
		k->capseen = nc;
	}
	memmove(&k->seen[lo + 1], &k->seen[lo], (k->nseen - lo) * sizeof(*k->seen));
	k->seen[lo].id = id;
	k->seen[lo].seq = seq;
	k->nseen++;
	return 0;
}

/* ---- device wrap keys (issue 17) ------------------------------------------------ */

struct ccore_wraps {
	cc_wrap_secret *own; /* sodium_malloc */
	size_t nown;
	uint32_t newest;
	int own_set;           /* ccore_set_wraps was called: newest is this device's */
	uint32_t dir_newest;   /* this device's own version the directory holds (ccore_wrap_dir_own) */
	uint32_t published;    /* highest own version the server accepted (ccore_wrap_published) */
	int pub_set;           /* ccore_wrap_published was called */
	cc_wrap_target *known; /* newest verified publication per device (public) */
	int64_t *created;      /* known[i]'s creation time (the device's clock) */
	size_t nknown, capknown;
};

void ccore_wraps_free(ccore *c)
{
	if (!c || !c->wraps)
		return;
	if (c->wraps->own)
		sodium_free(c->wraps->own);
	free(c->wraps->known);
	free(c->wraps->created);
	free(c->wraps);
	c->wraps = NULL;
}

static struct ccore_wraps *wraps_of(ccore *c)
{
	if (!c->wraps)
		c->wraps = calloc(1, sizeof *c->wraps);
	return c->wraps;
}

/* Keep (dev, version, pk) if it is newer than what is known of dev. */
static int known_upsert(ccore *c, const uint8_t dev[CC_DEVICE_ID_BYTES], uint32_t version, int64_t created,
                        const uint8_t pk[CC_BOX_PK_BYTES])
{
	struct ccore_wraps *w = wraps_of(c);
	if (!w)
		return CCORE_E_NOMEM;
	for (size_t i = 0; i < w->nknown; i++)
		if (memcmp(w->known[i].device_id, dev, CC_DEVICE_ID_BYTES) == 0) {
			if (version > w->known[i].version) {
				w->known[i].version = version;
				w->created[i] = created;
				memcpy(w->known[i].pk, pk, CC_BOX_PK_BYTES);
			}
			return CCORE_OK;
		}
	if (w->nknown == w->capknown) {
		size_t nc = w->capknown ? 2 * w->capknown : 16;
		cc_wrap_target *nk = realloc(w->known, nc * sizeof *nk);
		if (!nk)
			return CCORE_E_NOMEM;
		w->known = nk;
		int64_t *ncr = realloc(w->created, nc * sizeof *ncr);
		if (!ncr)
			return CCORE_E_NOMEM;
		w->created = ncr;
		w->capknown = nc;
	}
	w->created[w->nknown] = created;
	cc_wrap_target *t = &w->known[w->nknown++];
	memcpy(t->device_id, dev, CC_DEVICE_ID_BYTES);
	t->version = version;
	memcpy(t->pk, pk, CC_BOX_PK_BYTES);
	return CCORE_OK;
}

int ccore_set_wraps(ccore *c, const cc_wrap_secret *ws, size_t n, uint32_t newest)
{
	if (!c || (n && !ws) || n > CC_WRAP_MAX)
		return CCORE_E_INVALID;
	struct ccore_wraps *w = wraps_of(c);
	if (!w)
		return CCORE_E_NOMEM;
	cc_wrap_secret *copy = NULL;
	if (n && !(copy = sodium_malloc(n * sizeof *copy)))
		return CCORE_E_NOMEM;
	if (n)
		memcpy(copy, ws, n * sizeof *copy);
	if (w->own)
		sodium_free(w->own);
	w->own = copy;
	w->nown = n;
	w->newest = newest;
	w->own_set = 1;
	/* this device seals its own boxes to its newest wrap key too */
	const cc_wrap_secret *nw = cc_wrap_newest(copy, n);
	if (nw && nw->version > w->newest)
		w->newest = nw->version;
	return nw ? known_upsert(c, c->keys->device_id, nw->version, nw->created, nw->pk) : CCORE_OK;
}

void ccore_wrap_dir_own(ccore *c, uint32_t version)
{
	struct ccore_wraps *w = c ? wraps_of(c) : NULL;
	if (w && version > w->dir_newest)
		w->dir_newest = version;
}

void ccore_wrap_published(ccore *c, uint32_t version)
{
	struct ccore_wraps *w = c ? wraps_of(c) : NULL;
	if (!w)
		return;
	w->pub_set = 1;
	if (version > w->published)
		w->published = version;
}

uint32_t ccore_wrap_known(const ccore *c, const uint8_t dev[CC_DEVICE_ID_BYTES])
{
	for (size_t i = 0; c && c->wraps && i < c->wraps->nknown; i++)
		if (memcmp(c->wraps->known[i].device_id, dev, CC_DEVICE_ID_BYTES) == 0)
			return c->wraps->known[i].version;
	return 0;
}

const cc_wrap_target *ccore_wrap_targets(const ccore *c, size_t *n)
{
	*n = c && c->wraps ? c->wraps->nknown : 0;
	return *n ? c->wraps->known : NULL;
}

const cc_wrap_target *ccore_wrap_target(const ccore *c, const uint8_t dev[CC_DEVICE_ID_BYTES])
{
	for (size_t i = 0; c && c->wraps && i < c->wraps->nknown; i++)
		if (memcmp(c->wraps->known[i].device_id, dev, CC_DEVICE_ID_BYTES) == 0)
			return &c->wraps->known[i];
	return NULL;
}

int ccore_wrap_learn(ccore *c, const uint8_t *rec, size_t n, const cc_cert *cert)
{
	if (!c || !rec || !cert)
		return CCORE_E_INVALID;
	cc_wrapkey wk;
	char dev[33];
	cc_device_id_hex(cert->device_id, dev);
	int r = cc_wrapkey_check(rec, n, cert, &wk);
	if (r == CC_ERR_BAD_SIGNATURE)
		return ccore_fail(c, CCORE_E_BAD_SIGNATURE,
		                  "(de sleutel van apparaat %.8s is niet door dat apparaat ondertekend / the wrap key "
		                  "served for device %.8s is not signed by its identity key: nothing is sealed to it)",
		                  dev, dev);
	if (r != CC_OK)
		return ccore_fail(c, CCORE_E_TAMPERED, "(wrap key served for device %.8s: %s)", dev, cc_errname(r));
	/* never back: the newest version verified before (in this process or
	 * restored from the local state, ccore_wraps_restore) stays the floor */
	const cc_wrap_target *k = ccore_wrap_target(c, wk.device_id);
	int own = memcmp(wk.device_id, c->keys->device_id, CC_DEVICE_ID_BYTES) == 0;
	if (k && (wk.version < k->version ||
	          (wk.version == k->version && sodium_memcmp(wk.pk, k->pk, CC_BOX_PK_BYTES) != 0))) {
		if (own)
			return CCORE_OK; /* this device's own keys come from its keystore (the connect check
			                  * reports a directory that is behind) */
		if (wk.version < k->version)
			return ccore_fail(
				c, CCORE_E_ROLLBACK,
				"(de server geeft een oudere sleutel van apparaat %.8s / the directory served wrap "
				"key %u of device %.8s, older than version %u verified before: nothing is sealed)",
				dev, wk.version, dev, k->version);
		return ccore_fail(
			c, CCORE_E_TAMPERED,
			"(wrap key %u of device %.8s differs from the one verified before: nothing is sealed)",
			wk.version, dev);
	}
	return known_upsert(c, wk.device_id, wk.version, wk.created, wk.pk);
}

int64_t ccore_wrap_created(const ccore *c, const uint8_t dev[CC_DEVICE_ID_BYTES])
{
	for (size_t i = 0; c && c->wraps && i < c->wraps->nknown; i++)
		if (memcmp(c->wraps->known[i].device_id, dev, CC_DEVICE_ID_BYTES) == 0)
			return c->wraps->created[i];
	return 0;
}

json_t *ccore_wraps_save(const ccore *c)
{
	json_t *arr = json_array();
	for (size_t i = 0; c && c->wraps && i < c->wraps->nknown; i++) {
		const cc_wrap_target *t = &c->wraps->known[i];
		if (memcmp(t->device_id, c->keys->device_id, CC_DEVICE_ID_BYTES) == 0)
			continue; /* this device's own keys come from its keystore */
		char dev[33], pk[2 * CC_BOX_PK_BYTES + 1];
		cc_device_id_hex(t->device_id, dev);
		sodium_bin2hex(pk, sizeof pk, t->pk, CC_BOX_PK_BYTES);
		json_array_append_new(arr, json_pack("{sssIsIss}", "device", dev, "version", (json_int_t)t->version,
		                                     "created", (json_int_t)c->wraps->created[i], "pk", pk));
	}
	return json_pack("{siso}", "v", 1, "devices", arr);
}

int ccore_wraps_restore(ccore *c, const json_t *o)
{
	if (!c || !json_is_object(o) || json_integer_value(json_object_get(o, "v")) != 1)
		return CCORE_E_INVALID;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(o, "devices"), i, e) {
		uint8_t dev[CC_DEVICE_ID_BYTES], pk[CC_BOX_PK_BYTES];
		size_t n = 0;
		const char *dh = json_string_value(json_object_get(e, "device"));
		const char *ph = json_string_value(json_object_get(e, "pk"));
		json_int_t v = json_integer_value(json_object_get(e, "version"));
		json_int_t cr = json_integer_value(json_object_get(e, "created"));
		if (!dh || !ph || cc_device_id_from_hex(dh, dev) != CC_OK || v < 1 || v > (json_int_t)UINT32_MAX ||
		    strlen(ph) != 2 * CC_BOX_PK_BYTES ||
		    sodium_hex2bin(pk, sizeof pk, ph, strlen(ph), NULL, &n, NULL) != 0 || n != sizeof pk)
			return CCORE_E_INVALID;
		if (memcmp(dev, c->keys->device_id, CC_DEVICE_ID_BYTES) == 0)
			continue; /* never sealed to a key this device's keystore may not hold */
		int rc = known_upsert(c, dev, (uint32_t)v, (int64_t)cr, pk);
		if (rc != CCORE_OK)
			return rc;
	}
	return CCORE_OK;
}

int ccore_casus_new(ccore *c, const uint8_t id[CC_CASUS_ID_BYTES], ccore_casus **out)
{
	*out = NULL;
	if (!c || !id)
		return CCORE_E_INVALID;
	ccore_casus *k = calloc(1, sizeof *k);
	if (!k)
		return CCORE_E_NOMEM;
	k->core = c;
	memcpy(k->id, id, sizeof k->id);
	if (cc_casus_new(c->keys, &c->cert, &k->cs) != CC_OK) {
		free(k);
		return CCORE_E_NOMEM;
	}
	if (c->wraps && cc_casus_set_wraps(k->cs, c->wraps->own, c->wraps->nown, c->wraps->newest) != CC_OK) {
		cc_casus_free(k->cs);
		free(k);
		return CCORE_E_NOMEM;
	}
	*out = k;
	return CCORE_OK;
}

void ccore_casus_free(ccore_casus *k)
{
	if (!k)
		return;
	cc_casus_free(k->cs);
	for (size_t i = 0; i < k->nep; i++) {
		free(k->ep[i].roster);
		sodium_free(k->ep[i].reason);
	}
	sodium_free(k->own_title);
	free(k->ep);
	free(k->certs);
	free(k->pos);
	free(k->pending_rm);
	free(k->seen);
	free(k);
}

const cc_chain_state *ccore_chain(const ccore_casus *k)
{
	return cc_casus_chain(k->cs);
}

cc_casus *ccore_cc(ccore_casus *k)
{
	return k->cs;
}

uint64_t ccore_epochs(const ccore_casus *k)
{
	return k->nep;
}

int ccore_is_member(const ccore_casus *k)
{
	return k->nep > 0 && cc_chain_find(cc_casus_chain(k->cs), k->core->keys->device_id) >= 0;
}

const cc_cert *ccore_cert(const ccore_casus *k, const uint8_t dev[CC_DEVICE_ID_BYTES])
{
	for (size_t j = 0; j < k->ncerts; j++)
		if (memcmp(k->certs[j].device_id, dev, CC_DEVICE_ID_BYTES) == 0)
			return &k->certs[j];
	return NULL;
}

size_t ccore_certs(const ccore_casus *k, const cc_cert **out)
{
	*out = k->certs;
	return k->ncerts;
}

static void remember_certs(ccore_casus *k, const cc_commit *cm)
{
	for (uint16_t i = 0; i < cm->nroster; i++) {
		if (ccore_cert(k, cm->roster[i].cert.device_id))
			continue;
		cc_cert *nc = realloc(k->certs, (k->ncerts + 1) * sizeof(*nc));
		if (!nc)
			return;
		k->certs = nc;
		k->certs[k->ncerts++] = cm->roster[i].cert;
	}
}

/* When was this certificate revoked (0: it is not on the list)? */
static int64_t revoked_at(const ccore *c, const cc_cert *ct)
{
	if (!c->have_revs)
		return 0;
	for (uint32_t i = 0; i < c->revs.count; i++)
		if (c->revs.entries[i].serial == ct->serial ||
		    memcmp(c->revs.entries[i].device_id, ct->device_id, CC_DEVICE_ID_BYTES) == 0)
			return c->revs.entries[i].revoked_at ? c->revs.entries[i].revoked_at : 1;
	return 0;
}

static const cc_cert *roster_cert(const cc_commit *cm, const cc_chain_state *st, const uint8_t dev[16])
{
	for (uint16_t i = 0; i < cm->nroster; i++)
		if (memcmp(cm->roster[i].cert.device_id, dev, 16) == 0)
			return &cm->roster[i].cert;
	int j = cc_chain_find(st, dev);
	return j >= 0 ? &st->roster[j].cert : NULL;
}

/* The head's actor and every certificate it admits must be valid at now too. */
static int check_at_now(ccore_casus *k, const cc_commit *cm, const cc_chain_state *before, int64_t now)
{
	ccore *c = k->core;
	const cc_cert *actor = roster_cert(cm, before, cm->actor);
	if (!actor)
		return ccore_fail(c, CCORE_E_GHOST, "(epoch %llu)", (unsigned long long)cm->epoch);
	int r = cc_cert_verify(actor, c->root, now, ccore_revlist(c));
	if (r != CC_OK)
		return ccore_fail(c, ccore_from_cc(r), "(the author of commit %llu: %s)", (unsigned long long)cm->epoch,
		                  cc_errname(r));
	for (uint16_t i = 0; i < cm->nroster; i++) {
		if (before->started && cc_chain_find(before, cm->roster[i].cert.device_id) >= 0)
			continue;
		r = cc_cert_verify(&cm->roster[i].cert, c->root, now, ccore_revlist(c));
		if (r != CC_OK)
			return ccore_fail(c, ccore_from_cc(r), "(a device added by commit %llu: %s)",
			                  (unsigned long long)cm->epoch, cc_errname(r));
	}
	return CCORE_OK;
}

/* The title travels in the reason box of every commit (ccore.h, "Title"):
 * "REASON" U+241E "TITLE". Splits the opened text in place at the last
 * separator: the reason keeps what comes before it, the title (returned;
 * NULL when empty or absent) what comes after. */
#define TITLE_SEP "\xe2\x90\x9e" /* U+241E SYMBOL FOR RECORD SEPARATOR */
static const char *title_split(char *reason)
{
	char *at = NULL, *p = reason;
	while ((p = strstr(p, TITLE_SEP)) != NULL)
		at = p++;
	if (!at)
		return NULL;
	*at = '\0';
	at += sizeof TITLE_SEP - 1;
	return *at ? at : NULL;
}

/* Version 4 (issue 17): this device's place in the commit and the boxes the
 * signed part names for it that did not come along (box retention deleted
 * them, or the carrier withholds them: ccore_chain_done tells them apart). */
static void own_boxes(const ccore *c, const cc_commit *cm, struct epoch_info *e)
{
	e->own_in = 0;
	e->own_serial = 0;
	e->miss = 0;
	e->miss_aud = 0;
	e->miss_wrap = 0;
	for (uint16_t i = 0; i < cm->nroster; i++)
		if (memcmp(cm->roster[i].cert.device_id, c->keys->device_id, CC_DEVICE_ID_BYTES) == 0) {
			e->own_in = 1;
			e->own_serial = cm->roster[i].cert.serial;
		}
	if (cm->version != CC_COMMIT_VERSION_BOXES)
		return; /* versions 2 and 3 carry their boxes inside the signed bytes */
	for (size_t a = 0; a <= cm->naudiences; a++) {
		const cc_commit_audience *au = a < cm->naudiences ? &cm->audiences[a] : &cm->reason;
		for (size_t j = 0; j < au->nrecipients; j++) {
			const cc_commit_recipient *r = &au->recipients[j];
			if (r->has_box || memcmp(r->device_id, c->keys->device_id, CC_DEVICE_ID_BYTES) != 0)
				continue;
			if (!e->miss || r->wrap > e->miss_wrap) {
				e->miss_wrap = r->wrap;
				e->miss_aud = a < cm->naudiences ? au->audience : CC_REASON_AUDIENCE;
			}
			if (e->miss < UINT16_MAX)
				e->miss++;
		}
	}
}

int ccore_apply_commit(ccore_casus *k, const uint8_t *p, size_t n, int64_t now, int head)
{
	ccore *c = k->core;
	if (!c->have_policy)
		return ccore_fail(c, CCORE_E_NO_POLICY, NULL);
	cc_commit cm;
	int dr = p ? cc_commit_decode(p, n, &cm) : CC_ERR_INVALID_ARG;
	/* version 4: a box that does not match its signed digest was swapped by the carrier */
	if (dr == CC_ERR_KEY_COMMITMENT)
		return ccore_fail(c, CCORE_E_TAMPERED,
		                  "(commit %zu: a sealed key box does not match its signed digest)", k->nep);
	if (dr != CC_OK)
		return ccore_fail(c, CCORE_E_INVALID, "(commit %zu does not decode)", k->nep);
	const cc_chain_state *st = cc_casus_chain(k->cs);
	char *reason = NULL;
	int rc = CCORE_OK;
	if (memcmp(cm.casus_id, k->id, CC_CASUS_ID_BYTES) != 0) {
		rc = ccore_fail(c, CCORE_E_WRONG_CASUS, "(commit %llu)", (unsigned long long)cm.epoch);
		goto out;
	}
	uint8_t h[CC_HASH_BYTES];
	(void)cc_commit_hash(p, n, h);
	for (size_t i = 0; i < k->nep; i++)
		if (memcmp(k->ep[i].hash, h, CC_HASH_BYTES) == 0) {
			rc = ccore_fail(c, CCORE_E_REPLAY, "(commit %llu served again as epoch %zu)",
			                (unsigned long long)cm.epoch, k->nep);
			goto out;
		}
	if (cm.epoch != k->nep || (k->nep && memcmp(cm.prev_hash, k->ep[k->nep - 1].hash, CC_HASH_BYTES) != 0)) {
		rc = ccore_fail(c, CCORE_E_ROLLBACK, "(commit %llu does not continue the verified chain at epoch %zu)",
		                (unsigned long long)cm.epoch, k->nep);
		goto out;
	}
	if (cm.time > now + CCORE_SKEW_SECS) {
		rc = ccore_fail(c, CCORE_E_FUTURE,
		                "(commit %llu is dated %lld s ahead of this device's clock; %d s allowed)",
		                (unsigned long long)cm.epoch, (long long)(cm.time - now), CCORE_SKEW_SECS);
		goto out;
	}
	if (k->nep && cm.time < k->ep[k->nep - 1].time) {
		rc = ccore_fail(c, CCORE_E_ROLLBACK, "(commit %llu is dated before the commit it follows)",
		                (unsigned long long)cm.epoch);
		goto out;
	}
	if (head && (rc = check_at_now(k, &cm, st, now)) != CCORE_OK)
		goto out;
	struct epoch_info *ne = realloc(k->ep, (k->nep + 1) * sizeof(*ne));
	if (!ne) {
		rc = CCORE_E_NOMEM;
		goto out;
	}
	k->ep = ne;
	/* The reason is the members' text: a member checks it opens to
	 * non-empty text before accepting the commit. When it does not, the
	 * chain rules decide the verdict if they refuse the commit as well (a
	 * forgery is named as such), else the reason itself is the fault. */
	reason = sodium_malloc(CC_COMMIT_REASON_MAX + 1);
	if (!reason) {
		rc = CCORE_E_NOMEM;
		goto out;
	}
	int rr = cc_commit_open_reason_wraps(p, n, c->keys, c->wraps ? c->wraps->own : NULL,
	                                     c->wraps ? c->wraps->nown : 0, reason, CC_COMMIT_REASON_MAX + 1);
	/* sealed to a wrap key this device retired after its grace period: the
	 * reason of that old commit is no longer readable (cc_casus_set_wraps) */
	if (rr == CC_ERR_NO_KEY)
		rr = CC_ERR_NOT_RECIPIENT;
	if (rr != CC_OK && rr != CC_ERR_NOT_FOUND && rr != CC_ERR_NOT_RECIPIENT) {
		cc_chain_state *copy = NULL;
		int vr = cc_chain_state_copy(st, &copy);
		if (vr == CC_OK)
			vr = cc_chain_apply_historic(copy, p, n, &c->policy, c->root, now, ccore_revlist(c), NULL);
		cc_chain_state_free(copy);
		rc = vr != CC_OK ? ccore_fail(c, ccore_from_cc(vr), "(commit %llu: %s)", (unsigned long long)cm.epoch,
		                              cc_errname(vr))
		                 : ccore_fail(c, CCORE_E_TAMPERED, "(commit %llu: its reason does not open: %s)",
		                              (unsigned long long)cm.epoch, cc_errname(rr));
		goto out;
	}
	int r = cc_casus_apply_commit(k->cs, p, n, &c->policy, c->root, now, ccore_revlist(c));
	if (r != CC_OK) {
		rc = ccore_fail(c, ccore_from_cc(r), "(commit %llu: %s)", (unsigned long long)cm.epoch, cc_errname(r));
		goto out;
	}
	k->ep[k->nep].title = NULL;
	if (rr == CC_OK) {
		k->ep[k->nep].title = title_split(reason);
		k->ep[k->nep].reason = reason;
		reason = NULL;
	} else {
		k->ep[k->nep].reason = NULL;
	}
	k->ep[k->nep].type = cm.type;
	k->ep[k->nep].level = cm.level_after;
	memcpy(k->ep[k->nep].actor, cm.actor, CC_DEVICE_ID_BYTES);
	k->ep[k->nep].time = cm.time;
	k->ep[k->nep].first_seq = 0;
	k->ep[k->nep].nroster = 0;
	k->ep[k->nep].roster = calloc(cm.nroster ? cm.nroster : 1, CC_DEVICE_ID_BYTES);
	for (uint16_t i = 0; k->ep[k->nep].roster && i < cm.nroster; i++)
		memcpy(k->ep[k->nep].roster[k->ep[k->nep].nroster++], cm.roster[i].cert.device_id, CC_DEVICE_ID_BYTES);
	memcpy(k->ep[k->nep].hash, h, CC_HASH_BYTES);
	own_boxes(c, &cm, &k->ep[k->nep]);
	k->nep++;
	remember_certs(k, &cm);
out:
	sodium_free(reason);
	cc_commit_free(&cm);
	return rc;
}

static int pending_rm_in_roster(const ccore_casus *k)
{
	const cc_chain_state *st = cc_casus_chain(k->cs);
	for (size_t i = 0; i < k->npending_rm; i++)
		if (cc_chain_find(st, k->pending_rm[i]) >= 0)
			return 1;
	return 0;
}

static void pending_clear(ccore_casus *k)
{
	k->pending = 0;
	k->pending_own_rm = 0;
}

/* Drop from the blocked set every device the verified roster no longer holds. */
static void blocked_prune(ccore_casus *k)
{
	const cc_chain_state *st = cc_casus_chain(k->cs);
	size_t o = 0;
	for (size_t i = 0; i < k->npending_rm; i++)
		if (cc_chain_find(st, k->pending_rm[i]) >= 0)
			memmove(k->pending_rm[o++], k->pending_rm[i], CC_DEVICE_ID_BYTES);
	k->npending_rm = o;
}

static int blocked_add(ccore_casus *k, const uint8_t dev[CC_DEVICE_ID_BYTES])
{
	for (size_t i = 0; i < k->npending_rm; i++)
		if (memcmp(k->pending_rm[i], dev, CC_DEVICE_ID_BYTES) == 0)
			return 0;
	uint8_t(*nb)[CC_DEVICE_ID_BYTES] = realloc(k->pending_rm, (k->npending_rm + 1) * CC_DEVICE_ID_BYTES);
	if (!nb)
		return -1;
	k->pending_rm = nb;
	memcpy(k->pending_rm[k->npending_rm++], dev, CC_DEVICE_ID_BYTES);
	return 0;
}

/* Issue 17: a box this device needs that box retention never deletes is
 * missing (ccore.h, ccore_chain_done). Retention (server/retention.c)
 * deletes a box only (a) when its device has published a newer wrap key than
 * the box is sealed to and the server's grace has passed, or (b) when its
 * device has left the roster or its certificate has expired or been revoked.
 * (a) cannot hold for a box sealed to the newest wrap key of this device the
 * server accepted (ccore_wrap_published; a key the server refused to publish
 * does not count, or a server refusing dir.publish at rotation would keep
 * members sealing to the older key unjudged) or the directory holds
 * (ccore_wrap_dir_own: a keystore restored from a backup); a driver that
 * never reports the published version gets the keystore's newest; (b) cannot
 * hold while this device has been in every roster since the commit with a
 * certificate that is valid and unrevoked now. */
static int boxes_check(ccore_casus *k, int64_t now)
{
	ccore *c = k->core;
	if (!k->nep || !c->wraps || !c->wraps->own_set)
		return CCORE_OK; /* this device's newest wrap key is not known here */
	const cc_chain_state *st = cc_casus_chain(k->cs);
	int i = cc_chain_find(st, c->keys->device_id);
	if (i < 0)
		return CCORE_OK; /* not a member: retention deletes its boxes (b) */
	const cc_cert *own = &st->roster[i].cert;
	if (own->not_after <= now + CCORE_SKEW_SECS || ccore_is_revoked(c, own))
		return CCORE_OK; /* (b): expired or revoked, or about to be on the server's clock */
	uint32_t base = c->wraps->pub_set ? c->wraps->published : c->wraps->newest;
	uint32_t floor = base > c->wraps->dir_newest ? base : c->wraps->dir_newest;
	for (size_t e = k->nep; e-- > 0;) {
		const struct epoch_info *ei = &k->ep[e];
		if (!ei->own_in || ei->own_serial != own->serial)
			break; /* before this device was last admitted (with this certificate): (b) may have held */
		if (ei->miss && ei->miss_wrap >= floor) {
			char aud[8];
			if (ei->miss_aud == CC_REASON_AUDIENCE)
				snprintf(aud, sizeof aud, "reason");
			else
				snprintf(aud, sizeof aud, "%u", (unsigned)ei->miss_aud);
			return ccore_fail(
				c, CCORE_E_WITHHELD_BOX,
				"(commit %zu: %u box(es) for this device missing, audience %s, sealed to wrap "
				"key %u; this device's newest the server holds is %u: report it to the administrator)",
				e, (unsigned)ei->miss, aud, (unsigned)ei->miss_wrap, (unsigned)floor);
		}
	}
	return CCORE_OK;
}

int ccore_chain_done(ccore_casus *k, int64_t now)
{
	ccore *c = k->core;
	const cc_chain_state *st = cc_casus_chain(k->cs);
	for (size_t i = 0; i < st->nroster; i++) {
		const cc_cert *ct = &st->roster[i].cert;
		if (ccore_is_revoked(c, ct)) {
			char dev[33];
			cc_device_id_hex(ct->device_id, dev);
			ccore_warn(
				c, "revoked_member",
				"Ingetrokken apparaat in de casus: verwijder het. A revoked device is in the roster: %s "
				"(%s, %s); remove it with: casus remove CASUS %s",
				dev, ct->user_id, ct->role, ct->user_id);
		}
	}
	blocked_prune(k);
	/* a withheld box first: the server orders the commits, so a commit that
	 * supersedes this device's own may be the one stripped of its box, and
	 * withheld_commit would let the driver store it (and build on it) */
	int brc = boxes_check(k, now);
	if (!k->pending)
		return brc;
	if (k->nep > k->pending_epoch && memcmp(k->ep[k->pending_epoch].hash, k->pending_hash, CC_HASH_BYTES) == 0) {
		pending_clear(k); /* our own commit is in the verified chain */
		return brc;
	}
	if (k->nep > k->pending_epoch) {
		pending_clear(k); /* superseded: reported once; a removal stays blocked */
		if (brc != CCORE_OK)
			return brc;
		return ccore_fail(c, CCORE_E_WITHHELD, "(another commit took epoch %llu; try again)",
		                  (unsigned long long)k->pending_epoch);
	}
	if (brc != CCORE_OK)
		return brc;
	return ccore_fail(c, CCORE_E_WITHHELD, "(epoch %llu is not your commit; verified head is epoch %zu)",
	                  (unsigned long long)k->pending_epoch, k->nep ? k->nep - 1 : 0);
}

int ccore_unverified_removal(const ccore_casus *k)
{
	if (!ccore_is_member(k))
		return CCORE_OK;
	return ccore_fail(k->core, CCORE_E_ROLLBACK,
	                  "(the server says this device left the casus, but no verified commit removed it: the "
	                  "local copy is kept)");
}

int ccore_expect_head(ccore_casus *k, const uint8_t *p, size_t n)
{
	pending_clear(k);
	if (!p)
		return CCORE_OK;
	cc_commit cm;
	if (cc_commit_decode(p, n, &cm) != CC_OK)
		return CCORE_E_INVALID;
	const cc_chain_state *st = cc_casus_chain(k->cs);
	for (size_t i = 0; i < st->nroster; i++) {
		int kept = 0;
		for (uint16_t j = 0; j < cm.nroster && !kept; j++)
			kept = memcmp(cm.roster[j].cert.device_id, st->roster[i].cert.device_id, 16) == 0;
		if (!kept) {
			if (blocked_add(k, st->roster[i].cert.device_id) != 0) {
				cc_commit_free(&cm);
				return CCORE_E_NOMEM;
			}
			k->pending_own_rm++;
		}
	}
	k->pending = 1;
	k->pending_epoch = cm.epoch;
	(void)cc_commit_hash(p, n, k->pending_hash);
	cc_commit_free(&cm);
	return CCORE_OK;
}

int ccore_pending(const ccore_casus *k)
{
	return k->pending ? (int)k->pending_own_rm : -1;
}

int ccore_may_post(const ccore_casus *k)
{
	if (k->npending_rm && pending_rm_in_roster(k))
		return ccore_fail(
			k->core, CCORE_E_WITHHELD,
			"(your removal was not confirmed by the chain: nothing is posted until it is; run the "
			"removal again)");
	return CCORE_OK;
}

/* 1 if the change removes dev (a removal, or a de-escalation the builder decides). */
static int change_removes(const cc_commit_change *chg, const uint8_t dev[CC_DEVICE_ID_BYTES])
{
	if (chg->type != CC_COMMIT_REMOVE)
		return 0;
	for (size_t i = 0; i < chg->nremove; i++)
		if (memcmp(chg->remove[i], dev, CC_DEVICE_ID_BYTES) == 0)
			return 1;
	return 0;
}

/* Key expiry (issue 17): a commit seals fresh epoch keys to every member that
 * stays, so no member whose certificate has expired, or is revoked, at now may
 * stay: the core refuses to seal to them and proposes their removal (one
 * "remove_member" warning per device, naming the user), whatever the change
 * is. A removal that takes all of them out goes through. The actor's own
 * certificate is cc_commit_build's check. */
static int refuse_expired_members(ccore_casus *k, const cc_commit_change *chg, int64_t now)
{
	ccore *c = k->core;
	const cc_chain_state *st = cc_casus_chain(k->cs);
	if (chg->type == CC_COMMIT_CREATE || !st || !st->started)
		return CCORE_OK;
	int rc = CCORE_OK;
	for (uint32_t i = 0; i < st->nroster; i++) {
		const cc_cert *ct = &st->roster[i].cert;
		if (change_removes(chg, ct->device_id) ||
		    memcmp(ct->device_id, c->cert.device_id, CC_DEVICE_ID_BYTES) == 0)
			continue;
		int expired = now >= ct->not_after, revoked = ccore_is_revoked(c, ct) != 0;
		if (!expired && !revoked)
			continue;
		char dev[33];
		cc_device_id_hex(ct->device_id, dev);
		ccore_warn(c, "remove_member",
		           "%s (apparaat %.8s) is %s: verwijder dit lid uit de casus (casus remove) / %s (device %.8s) "
		           "is %s: remove this member from the casus (casus remove)",
		           ct->user_id, dev, revoked ? "ingetrokken" : "verlopen", ct->user_id, dev,
		           revoked ? "revoked" : "expired");
		if (rc == CCORE_OK)
			rc = revoked ? CCORE_E_REVOKED : CCORE_E_EXPIRED;
	}
	if (rc != CCORE_OK)
		return ccore_fail(c, rc, "(no new keys for a member whose certificate %s; remove them first)",
		                  rc == CCORE_E_REVOKED ? "is revoked" : "has expired");
	return CCORE_OK;
}

/* The reason to seal for chg: the reason, the separator and the title this
 * device holds (*out NULL: chg's reason as it is). A level change or
 * break-glass without a reason stays without one (the chain rules refuse
 * it; a title must not stand in for the reason they require). */
static int title_reason(ccore_casus *k, const cc_commit_change *chg, char **out)
{
	*out = NULL;
	const char *title = ccore_title(k);
	const char *reason = chg->reason ? chg->reason : "";
	int needs = chg->type == CC_COMMIT_ESCALATE || chg->type == CC_COMMIT_DEESCALATE ||
	            chg->type == CC_COMMIT_BREAK_GLASS;
	if ((!title && !strstr(reason, TITLE_SEP)) || (needs && !*reason))
		return CCORE_OK;
	size_t rl = strlen(reason), tl = title ? strlen(title) : 0;
	if (rl + sizeof TITLE_SEP - 1 + tl > CC_COMMIT_REASON_MAX)
		return ccore_fail(k->core, CCORE_E_INVALID,
		                  "(de reden is te lang / the reason is too long: at most %zu bytes besides the title)",
		                  CC_COMMIT_REASON_MAX - (sizeof TITLE_SEP - 1) - tl);
	char *s = sodium_malloc(rl + sizeof TITLE_SEP + tl);
	if (!s)
		return CCORE_E_NOMEM;
	memcpy(s, reason, rl);
	memcpy(s + rl, TITLE_SEP, sizeof TITLE_SEP - 1);
	memcpy(s + rl + sizeof TITLE_SEP - 1, title ? title : "", tl + 1);
	*out = s;
	return CCORE_OK;
}

int ccore_build(ccore_casus *k, const cc_commit_change *chg, int64_t now, cc_wbuf *out)
{
	ccore *c = k->core;
	if (!c->have_policy)
		return ccore_fail(c, CCORE_E_NO_POLICY, NULL);
	int e = refuse_expired_members(k, chg, now);
	if (e != CCORE_OK)
		return e;
	/* every commit carries the title to its whole new roster (ccore.h, "Title") */
	cc_commit_change with = *chg;
	char *rt = NULL;
	int trc = title_reason(k, chg, &rt);
	if (trc != CCORE_OK)
		return trc;
	if (rt)
		with.reason = rt;
	if (c->wraps && c->wraps->nknown) { /* newest verified wrap key per device (ccore_wrap_learn) */
		with.wraps = c->wraps->known;
		with.nwraps = c->wraps->nknown;
	}
	int r = cc_commit_build(cc_casus_chain(k->cs), &with, c->keys, &c->cert, &c->policy, c->root, now,
	                        ccore_revlist(c), out);
	if (rt)
		sodium_free(rt);
	if (r == CC_ERR_ROSTER || r == CC_ERR_LEVEL || r == CC_ERR_UNKNOWN_ROLE || r == CC_ERR_FORBIDDEN)
		return ccore_fail(c, CCORE_E_FORBIDDEN, "(%s)",
		                  cc_strerror(r)); /* the policy says no, not the server */
	return r == CC_OK ? CCORE_OK : ccore_fail(c, ccore_from_cc(r), "(%s)", cc_errname(r));
}

/* ---- messages ------------------------------------------------------------------ */

/* 1 if the device was in the roster of epoch e (0 if unknown: the safe answer). */
static int member_at(const ccore_casus *k, size_t e, const uint8_t dev[CC_DEVICE_ID_BYTES])
{
	if (e >= k->nep || !k->ep[e].roster)
		return 0;
	for (size_t i = 0; i < k->ep[e].nroster; i++)
		if (memcmp(k->ep[e].roster[i], dev, CC_DEVICE_ID_BYTES) == 0)
			return 1;
	return 0;
}

static struct sender_pos *sender_get(ccore_casus *k, const uint8_t dev[16], uint64_t epoch, uint8_t audience)
{
	for (size_t i = 0; i < k->npos; i++)
		if (k->pos[i].epoch == epoch && k->pos[i].audience == audience && memcmp(k->pos[i].dev, dev, 16) == 0)
			return &k->pos[i];
	struct sender_pos *np = realloc(k->pos, (k->npos + 1) * sizeof(*np));
	if (!np)
		return NULL;
	k->pos = np;
	memset(&k->pos[k->npos], 0, sizeof k->pos[k->npos]);
	memcpy(k->pos[k->npos].dev, dev, 16);
	k->pos[k->npos].epoch = epoch;
	k->pos[k->npos].audience = audience;
	return &k->pos[k->npos++];
}

static void miss_add(struct sender_pos *sp, uint64_t lo, uint64_t hi)
{
	if (lo > hi)
		return;
	if (sp->nmiss == MISS_MAX) {
		sp->miss_more = 1;
		return;
	}
	sp->miss[sp->nmiss].lo = lo;
	sp->miss[sp->nmiss].hi = hi;
	sp->nmiss++;
}

/* A number that was missing arrived after all (late: a reorder, not a drop). */
static void miss_remove(struct sender_pos *sp, uint64_t n)
{
	for (int i = 0; i < sp->nmiss; i++) {
		if (n < sp->miss[i].lo || n > sp->miss[i].hi)
			continue;
		if (sp->miss[i].lo == sp->miss[i].hi) {
			sp->miss[i] = sp->miss[--sp->nmiss];
		} else if (n == sp->miss[i].lo) {
			sp->miss[i].lo++;
		} else if (n == sp->miss[i].hi) {
			sp->miss[i].hi--;
		} else {
			uint64_t hi = sp->miss[i].hi;
			sp->miss[i].hi = n - 1;
			miss_add(sp, n + 1, hi);
		}
		return;
	}
}

static void warn_gap(ccore *c, const ccore_casus *k, const struct sender_pos *sp, uint64_t lo, uint64_t hi)
{
	const cc_cert *ct = ccore_cert(k, sp->dev);
	const char *who = ct ? ct->user_id : "?";
	const char *an = sp->audience < c->policy.naudiences ? c->policy.audiences[sp->audience].name : "?";
	char nums[48];
	if (lo == hi)
		snprintf(nums, sizeof nums, "number %llu", (unsigned long long)lo);
	else
		snprintf(nums, sizeof nums, "numbers %llu..%llu", (unsigned long long)lo, (unsigned long long)hi);
	ccore_warn(c, "gap",
	           "Bericht(en) van %s ontbreken. Messages of %s are missing from the history (%s, epoch %llu, %s): "
	           "the server did not deliver them.",
	           who, who, an, (unsigned long long)sp->epoch, nums);
}

void ccore_history_begin(ccore_casus *k, int from_start)
{
	if (k)
		k->from_start = from_start != 0;
}

int ccore_history_done(ccore_casus *k)
{
	int n = 0;
	if (!k)
		return 0;
	for (size_t i = 0; i < k->npos; i++) {
		const struct sender_pos *sp = &k->pos[i];
		for (int j = 0; j < sp->nmiss; j++, n++)
			warn_gap(k->core, k, sp, sp->miss[j].lo, sp->miss[j].hi);
		if (sp->miss_more) {
			warn_gap(k->core, k, sp, 1, sp->counter);
			n++;
		}
	}
	k->from_start = 0;
	return n;
}

int ccore_prepare_send(ccore_casus *k)
{
	uint64_t ctr[CC_POLICY_MAX_AUDIENCES] = {0};
	uint64_t epoch = cc_casus_chain(k->cs)->epoch;
	int any = 0;
	for (size_t i = 0; i < k->npos; i++) {
		const struct sender_pos *sp = &k->pos[i];
		if (sp->epoch != epoch || sp->audience >= CC_POLICY_MAX_AUDIENCES ||
		    memcmp(sp->dev, k->core->keys->device_id, CC_DEVICE_ID_BYTES) != 0)
			continue;
		ctr[sp->audience] = sp->counter;
		any = 1;
	}
	if (any)
		cc_casus_set_send_state(k->cs, epoch, ctr);
	return CCORE_OK;
}

/* Returns 1 if the message repeats one seen at an earlier place. */
static int track_stream(ccore_casus *k, uint64_t seq, const cc_message_header *h, int live)
{
	ccore *c = k->core;
	if (!seq)
		return 0;
	struct sender_pos *sp = sender_get(k, h->sender, h->epoch, h->audience);
	if (!sp)
		return 0;
	if (seq < sp->seq)
		return 0; /* read again (scroll-back, sync): already judged */
	if (seq == sp->seq)
		return sp->dup_at_seq;
	const cc_cert *ct = ccore_cert(k, h->sender);
	const char *who = ct ? ct->user_id : "?";
	int dup = sp->seq && h->counter == sp->counter;
	if (!dup && sp->seq && h->counter < sp->counter && k->nseen) {
		/* the same message again is a duplicate, not a reorder */
		size_t lo = 0, hi = k->nseen;
		uint64_t id = id64(h->message_id);
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (k->seen[mid].id < id)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < k->nseen && k->seen[lo].id == id && k->seen[lo].seq != seq)
			return 0; /* reported by the caller as a duplicate; the stream position stays */
	}
	if (dup)
		ccore_warn(
			c, "duplicate",
			"Bericht van %s dubbel afgeleverd. A message of %s was delivered twice (#%llu repeats #%llu).",
			who, who, (unsigned long long)seq, (unsigned long long)sp->seq);
	else if (sp->seq && h->counter < sp->counter) {
		ccore_warn(
			c, "reorder",
			"Berichten van %s in andere volgorde. Messages of %s were reordered (#%llu was written before "
			"#%llu).",
			who, who, (unsigned long long)seq, (unsigned long long)sp->seq);
		miss_remove(sp, h->counter);
	} else if (h->counter > sp->counter + 1 && (sp->seq || k->from_start)) {
		/* numbers skipped: in a live stream (delivered in order) they are
		 * gone; in a listing they may still come later (a reorder), so they
		 * are a gap only when the listing ends (ccore_history_done) */
		if (live)
			warn_gap(c, k, sp, sp->counter + 1, h->counter - 1);
		else
			miss_add(sp, sp->counter + 1, h->counter - 1);
	}
	if (h->counter > sp->counter)
		sp->counter = h->counter;
	sp->seq = seq;
	sp->dup_at_seq = dup;
	return dup;
}

int ccore_open_message(ccore_casus *k, uint64_t seq, const uint8_t *p, size_t n, int live, int64_t now, cc_wbuf *pt,
                       cc_message_header *hdr, unsigned *flags)
{
	ccore *c = k->core;
	cc_message m;
	if (flags)
		*flags = 0;
	if (!c->have_policy)
		return ccore_fail(c, CCORE_E_NO_POLICY, NULL);
	if (!p || cc_message_decode(p, n, &m) != CC_OK)
		return ccore_fail(c, CCORE_E_TAMPERED, "(message does not decode)");
	if (hdr)
		*hdr = m.h;
	if (memcmp(m.h.casus_id, k->id, CC_CASUS_ID_BYTES) != 0)
		return ccore_fail(c, CCORE_E_WRONG_CASUS, NULL);
	if (m.h.epoch >= k->nep)
		return ccore_fail(c, CCORE_E_TAMPERED, "(message of unknown epoch %llu)",
		                  (unsigned long long)m.h.epoch);
	const cc_cert *snd = ccore_cert(k, m.h.sender);
	if (!snd)
		return ccore_fail(c, CCORE_E_GHOST, "(the sender was never a member)");
	if (m.h.time > now + CCORE_SKEW_SECS)
		return ccore_fail(c, CCORE_E_FUTURE, "(message dated %lld s ahead)", (long long)(m.h.time - now));
	if (m.h.time + CCORE_SKEW_SECS < k->ep[m.h.epoch].time)
		return ccore_fail(c, CCORE_E_STALE_EPOCH, "(dated before its epoch began)");
	if (m.h.epoch + 1 < k->nep) {
		/* a superseded epoch: only from before the commit that closed it */
		if (m.h.time > k->ep[m.h.epoch + 1].time + CCORE_SKEW_SECS)
			return ccore_fail(c, CCORE_E_STALE_EPOCH, "(epoch %llu closed before this message's time)",
			                  (unsigned long long)m.h.epoch);
		/* a sender the closing commit removed wrote it before that commit */
		if (!member_at(k, (size_t)m.h.epoch + 1, m.h.sender) && m.h.time >= k->ep[m.h.epoch + 1].time)
			return ccore_fail(c, CCORE_E_STALE_EPOCH,
			                  "(the sender was removed when epoch %llu closed, before this message's time)",
			                  (unsigned long long)m.h.epoch);
		for (size_t e = (size_t)m.h.epoch + 1; seq && e < k->nep; e++)
			if (k->ep[e].first_seq && k->ep[e].first_seq < seq)
				return ccore_fail(c, CCORE_E_STALE_EPOCH, "(placed at #%llu, after #%llu of epoch %zu)",
				                  (unsigned long long)seq, (unsigned long long)k->ep[e].first_seq, e);
	}
	/* the sender's certificate at the message's time */
	if (m.h.time >= snd->not_after || m.h.time < snd->not_before)
		return ccore_fail(c, CCORE_E_EXPIRED, "(the sender's certificate was not valid at the message's time)");
	int64_t rat = revoked_at(c, snd);
	if (rat && rat <= m.h.time)
		return ccore_fail(c, CCORE_E_REVOKED, "(the sender's device was revoked before the message's time)");
	int held = cc_casus_has_epoch_key(k->cs, m.h.epoch, m.h.audience);
	int r = live ? cc_casus_decrypt(k->cs, &c->policy, p, n, pt, NULL)
	             : cc_casus_decrypt_history(k->cs, &c->policy, p, n, pt, NULL);
	if (r != CC_OK)
		return ccore_fail(c, r == CC_ERR_CHAIN ? CCORE_E_WRONG_CASUS : ccore_from_cc(r), "(%s)", cc_errname(r));
	if (!held) {
		/* opened with a granted key: only an audience this role may read */
		const cc_chain_state *st = cc_casus_chain(k->cs);
		int role = cc_policy_role_index(&c->policy, c->cert.role);
		if (role < 0 || !cc_policy_in_audience(&c->policy, m.h.audience, role, st->level)) {
			sodium_memzero(pt->p, pt->len);
			pt->len = 0;
			return ccore_fail(c, CCORE_E_GRANT_AUDIENCE, NULL);
		}
	}
	if (seq && (!k->ep[m.h.epoch].first_seq || seq < k->ep[m.h.epoch].first_seq))
		k->ep[m.h.epoch].first_seq = seq;
	/* a message opened with a granted key is one of a few shared: its
	 * sender's other messages are not for this device, so no stream order */
	int dup = held ? track_stream(k, seq, &m.h, live) : 0;
	uint64_t first = seq ? seen_at(k, id64(m.h.message_id), seq) : 0;
	if (first && seq > first) {
		const cc_cert *ct = ccore_cert(k, m.h.sender);
		ccore_warn(
			c, "duplicate",
			"Bericht van %s dubbel afgeleverd. A message of %s was delivered twice (#%llu repeats #%llu).",
			ct ? ct->user_id : "?", ct ? ct->user_id : "?", (unsigned long long)seq,
			(unsigned long long)first);
		dup = 1;
	}
	if (seq > k->high)
		k->high = seq; /* a server showing less later went back in time */
	if (dup && flags)
		*flags |= CCORE_F_DUPLICATE;
	return CCORE_OK;
}

int ccore_accept_grant(ccore_casus *k, const uint8_t *g, size_t gn, const uint8_t *const *msgs, const size_t *lens,
                       size_t nmsgs)
{
	ccore *c = k->core;
	if (!c->have_policy)
		return ccore_fail(c, CCORE_E_NO_POLICY, NULL);
	int role = cc_policy_role_index(&c->policy, c->cert.role);
	uint8_t level = cc_casus_chain(k->cs)->level;
	for (size_t i = 0; i < nmsgs; i++) {
		cc_message m;
		if (cc_message_decode(msgs[i], lens[i], &m) != CC_OK)
			return ccore_fail(c, CCORE_E_TAMPERED, "(a shared message does not decode)");
		if (memcmp(m.h.casus_id, k->id, CC_CASUS_ID_BYTES) != 0)
			return ccore_fail(c, CCORE_E_WRONG_CASUS, NULL);
		if (role < 0 || !cc_policy_in_audience(&c->policy, m.h.audience, role, level))
			return ccore_fail(c, CCORE_E_GRANT_AUDIENCE, "(audience %s)",
			                  m.h.audience < c->policy.naudiences ? c->policy.audiences[m.h.audience].name
			                                                      : "?");
	}
	cc_grant gr;
	if (cc_grant_decode(g, gn, &gr) != CC_OK)
		return ccore_fail(c, CCORE_E_TAMPERED, "(grant does not decode)");
	int wrong = memcmp(gr.casus_id, k->id, CC_CASUS_ID_BYTES) != 0;
	cc_grant_free(&gr);
	if (wrong)
		return ccore_fail(c, CCORE_E_WRONG_CASUS, NULL);
	int r = cc_casus_accept_grant(k->cs, &c->policy, g, gn);
	if (r == CC_OK || r == CC_ERR_REPLAY)
		return CCORE_OK;
	return ccore_fail(c, ccore_from_cc(r), "(grant: %s)", cc_errname(r));
}

int ccore_accept_transfer(ccore_casus *k, const uint8_t *p, size_t n, size_t *imported)
{
	int r = cc_casus_transfer_accept(k->cs, p, n, imported);
	return r == CC_OK ? CCORE_OK : ccore_fail(k->core, ccore_from_cc(r), "(transfer: %s)", cc_errname(r));
}

/* ---- outbox --------------------------------------------------------------------- */

json_t *ccore_recipients(const ccore_casus *k, int audience)
{
	const cc_chain_state *st = cc_casus_chain(k->cs);
	json_t *a = json_array();
	for (size_t i = 0; i < st->nroster && k->core->have_policy; i++)
		if (cc_chain_entitled(st, &k->core->policy, i, audience)) {
			char dev[33];
			cc_device_id_hex(st->roster[i].cert.device_id, dev);
			json_array_append_new(a, json_string(dev));
		}
	return a;
}

int ccore_outbox_may_encrypt(const ccore_casus *k, int audience, const json_t *queued)
{
	if (!queued)
		return CCORE_OK;
	if (!json_is_array(queued))
		return ccore_fail(k->core, CCORE_E_INVALID, "(damaged outbox entry)");
	json_t *now = ccore_recipients(k, audience);
	size_t i, j;
	json_t *d, *q;
	int rc = CCORE_OK;
	json_array_foreach(now, i, d) {
		int found = 0;
		json_array_foreach(queued, j, q) {
			if (json_equal(d, q)) {
				found = 1;
				break;
			}
		}
		if (!found) {
			rc = ccore_fail(k->core, CCORE_E_WIDENED, "(new recipient device %s)", json_string_value(d));
			break;
		}
	}
	json_decref(now);
	return rc;
}

/* ---- stored state ------------------------------------------------------------------ */

static void hex_of(const uint8_t *p, size_t n, char *out)
{
	sodium_bin2hex(out, n * 2 + 1, p, n);
}

static int bin_of(const char *hex, uint8_t *out, size_t n)
{
	size_t got = 0;
	return hex && strlen(hex) == n * 2 && sodium_hex2bin(out, n, hex, n * 2, NULL, &got, NULL) == 0 && got == n;
}

json_t *ccore_casus_save(const ccore_casus *k)
{
	json_t *o = json_object();
	json_t *pos = json_array();
	for (size_t i = 0; i < k->npos; i++) {
		char dev[33];
		hex_of(k->pos[i].dev, 16, dev);
		json_t *p = json_pack("{sssIsIsIsi}", "dev", dev, "epoch", (json_int_t)k->pos[i].epoch, "counter",
		                      (json_int_t)k->pos[i].counter, "seq", (json_int_t)k->pos[i].seq, "aud",
		                      (int)k->pos[i].audience);
		if (p && (k->pos[i].nmiss || k->pos[i].miss_more)) {
			json_t *miss = json_array();
			for (int j = 0; j < k->pos[i].nmiss; j++)
				json_array_append_new(miss, json_pack("[II]", (json_int_t)k->pos[i].miss[j].lo,
				                                      (json_int_t)k->pos[i].miss[j].hi));
			json_object_set_new(p, "miss", miss);
			json_object_set_new(p, "miss_more", json_boolean(k->pos[i].miss_more));
		}
		json_array_append_new(pos, p);
	}
	{
		uint64_t se, ctr[CC_POLICY_MAX_AUDIENCES];
		if (cc_casus_send_state(k->cs, &se, ctr)) {
			json_t *a = json_array();
			for (size_t j = 0; j < CC_POLICY_MAX_AUDIENCES; j++)
				json_array_append_new(a, json_integer((json_int_t)ctr[j]));
			json_object_set_new(o, "send", json_pack("{sIso}", "epoch", (json_int_t)se, "ctr", a));
		}
	}
	json_object_set_new(o, "senders", pos);
	json_t *first = json_array();
	for (size_t i = 0; i < k->nep; i++)
		json_array_append_new(first, json_integer((json_int_t)k->ep[i].first_seq));
	json_object_set_new(o, "first", first);
	char *sh = malloc(k->nseen * 32 + 1);
	if (sh) {
		for (size_t i = 0; i < k->nseen; i++) {
			uint8_t b[16];
			for (int j = 0; j < 8; j++) {
				b[j] = (uint8_t)(k->seen[i].id >> (56 - 8 * j));
				b[8 + j] = (uint8_t)(k->seen[i].seq >> (56 - 8 * j));
			}
			hex_of(b, 16, sh + 32 * i);
		}
		sh[k->nseen * 32] = 0;
		json_object_set_new(o, "seen", json_string(sh));
		free(sh);
	}
	json_t *rm = json_array();
	for (size_t i = 0; i < k->npending_rm; i++) {
		char dev[33];
		hex_of(k->pending_rm[i], 16, dev);
		json_array_append_new(rm, json_string(dev));
	}
	json_object_set_new(o, "blocked", rm);
	rollback_save(k, o);
	if (k->pending) {
		char h[65];
		hex_of(k->pending_hash, 32, h);
		json_object_set_new(o, "pending",
		                    json_pack("{sIsssI}", "epoch", (json_int_t)k->pending_epoch, "hash", h, "removes",
		                              (json_int_t)k->pending_own_rm));
	}
	return o;
}

static uint64_t u64_of(const json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));
	return v > 0 ? (uint64_t)v : 0;
}

void ccore_casus_restore(ccore_casus *k, const json_t *saved)
{
	size_t i;
	json_t *s;
	json_array_foreach(json_object_get(saved, "senders"), i, s) {
		uint8_t dev[16];
		if (!bin_of(json_string_value(json_object_get(s, "dev")), dev, 16))
			continue;
		json_int_t aud = json_integer_value(json_object_get(s, "aud"));
		if (aud < 0 || aud >= CC_POLICY_MAX_AUDIENCES)
			continue;
		struct sender_pos *sp = sender_get(k, dev, u64_of(s, "epoch"), (uint8_t)aud);
		if (sp) {
			size_t j;
			json_t *r;
			sp->counter = u64_of(s, "counter");
			sp->seq = u64_of(s, "seq");
			sp->nmiss = 0;
			sp->miss_more = json_is_true(json_object_get(s, "miss_more"));
			json_array_foreach(json_object_get(s, "miss"), j, r) {
				json_int_t lo = json_integer_value(json_array_get(r, 0));
				json_int_t hi = json_integer_value(json_array_get(r, 1));
				if (lo > 0 && hi >= lo)
					miss_add(sp, (uint64_t)lo, (uint64_t)hi);
			}
		}
	}
	{
		json_t *snd = json_object_get(saved, "send");
		json_t *a = json_object_get(snd, "ctr");
		if (json_is_array(a) && json_array_size(a) == CC_POLICY_MAX_AUDIENCES) {
			uint64_t ctr[CC_POLICY_MAX_AUDIENCES];
			for (size_t j = 0; j < CC_POLICY_MAX_AUDIENCES; j++) {
				json_int_t v = json_integer_value(json_array_get(a, j));
				ctr[j] = v > 0 ? (uint64_t)v : 0;
			}
			cc_casus_set_send_state(k->cs, u64_of(snd, "epoch"), ctr);
		}
	}
	json_array_foreach(json_object_get(saved, "first"), i, s) {
		if (i < k->nep && json_integer_value(s) > 0)
			k->ep[i].first_seq = (uint64_t)json_integer_value(s);
	}
	const char *sh = json_string_value(json_object_get(saved, "seen"));
	size_t shl = sh ? strlen(sh) : 0;
	for (size_t off = 0; sh && off + 32 <= shl && k->nseen < SEEN_MAX; off += 32) {
		char one[33];
		uint8_t b[16];
		memcpy(one, sh + off, 32);
		one[32] = 0;
		if (!bin_of(one, b, 16))
			break;
		uint64_t id = 0, sq = 0;
		for (int j = 0; j < 8; j++) {
			id = id << 8 | b[j];
			sq = sq << 8 | b[8 + j];
		}
		(void)seen_at(k, id, sq);
	}
	json_array_foreach(json_object_get(saved, "blocked"), i, s) {
		uint8_t dev[16];
		if (bin_of(json_string_value(s), dev, 16) && blocked_add(k, dev) != 0)
			break;
	}
	rollback_restore(k, saved);
	const json_t *p = json_object_get(saved, "pending");
	if (!p)
		return;
	pending_clear(k);
	if (!bin_of(json_string_value(json_object_get(p, "hash")), k->pending_hash, 32))
		return;
	k->pending_epoch = u64_of(p, "epoch");
	k->pending_own_rm = (size_t)u64_of(p, "removes");
	k->pending = 1;
}

int ccore_commit_info(const ccore_casus *k, uint64_t epoch, ccore_commit_info_t *out)
{
	if (!k || !out || epoch >= k->nep)
		return CCORE_E_INVALID;
	const struct epoch_info *e = &k->ep[epoch];
	out->epoch = epoch;
	out->type = e->type;
	out->level = e->level;
	out->time = e->time;
	memcpy(out->actor, e->actor, CC_DEVICE_ID_BYTES);
	out->reason = e->reason && e->reason[0] ? e->reason : NULL;
	return CCORE_OK;
}

/* ---- title --------------------------------------------------------------------- */

int ccore_set_title(ccore_casus *k, const char *title)
{
	if (!k || !title || !*title || strlen(title) > CCORE_TITLE_MAX ||
	    cc_text_check(title, CCORE_TITLE_MAX) != CC_OK || strstr(title, TITLE_SEP))
		return CCORE_E_INVALID;
	size_t n = strlen(title);
	char *t = sodium_malloc(n + 1);
	if (!t)
		return CCORE_E_NOMEM;
	memcpy(t, title, n + 1);
	sodium_free(k->own_title);
	k->own_title = t;
	return CCORE_OK;
}

const char *ccore_title(const ccore_casus *k)
{
	for (size_t i = k ? k->nep : 0; i > 0; i--)
		if (k->ep[i - 1].title)
			return k->ep[i - 1].title;
	return k ? k->own_title : NULL;
}

/* ---- a server that went back in time (issue #16) -------------------------------- */

static int rollback_hit(ccore_casus *k, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int rollback_hit(ccore_casus *k, const char *fmt, ...)
{
	char what[256], hex[33];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(what, sizeof what, fmt, ap);
	va_end(ap);
	k->diverged = 1;
	hex_of(k->id, CC_CASUS_ID_BYTES, hex);
	if (!k->rb_warned) {
		k->rb_warned = 1;
		ccore_warn(k->core, "rollback",
		           "De server is teruggezet naar een eerdere stand (casus %.8s): berichten kunnen ontbreken "
		           "of een nummer opnieuw gebruiken; uw eigen kopie blijft bewaard, meld het de beheerder. "
		           "The server went back in time (casus %.8s: %s): messages may be missing or reuse a "
		           "number; your local copy is kept, tell the administrator.",
		           hex, hex, what);
	}
	return ccore_fail(k->core, CCORE_E_ROLLBACK, "(casus %.8s: %s)", hex, what);
}

int ccore_rollback_check(ccore_casus *k, int have_head, uint64_t head)
{
	const char *cur = k->core->store_epoch;
	int rc = CCORE_OK;
	if (cur[0] && k->seen_epoch[0] && strcmp(cur, k->seen_epoch) != 0)
		rc = rollback_hit(k, "its store is not the one this copy was made from");
	else if (have_head && head < k->high)
		rc = rollback_hit(k, "it holds messages up to #%llu, this device saw #%llu", (unsigned long long)head,
		                  (unsigned long long)k->high);
	if (cur[0])
		memcpy(k->seen_epoch, cur, sizeof k->seen_epoch);
	return rc;
}

int ccore_seq_held(ccore_casus *k, uint64_t seq, const char *held_id, const char *got_id)
{
	if (!held_id || !got_id || strcmp(held_id, got_id) == 0)
		return CCORE_OK;
	return rollback_hit(k, "message #%llu differs from the copy held here", (unsigned long long)seq);
}

int ccore_diverged(const ccore_casus *k)
{
	return k->diverged;
}

uint64_t ccore_high_seq(const ccore_casus *k)
{
	return k->high;
}

static void rollback_save(const ccore_casus *k, json_t *o)
{
	json_object_set_new(o, "high", json_integer((json_int_t)k->high));
	/* the epoch last checked against; a copy never checked is from the current one */
	const char *ep = k->seen_epoch[0] ? k->seen_epoch : k->core->store_epoch;
	if (ep[0])
		json_object_set_new(o, "store_epoch", json_string(ep));
	if (k->diverged)
		json_object_set_new(o, "diverged", json_true());
}

static void rollback_restore(ccore_casus *k, const json_t *saved)
{
	uint64_t h = u64_of(saved, "high");
	const char *ep = json_string_value(json_object_get(saved, "store_epoch"));
	if (h > k->high)
		k->high = h;
	if (ep && strlen(ep) <= CCORE_STORE_EPOCH_MAX)
		snprintf(k->seen_epoch, sizeof k->seen_epoch, "%s", ep);
	if (json_is_true(json_object_get(saved, "diverged")))
		k->diverged = 1;
}
