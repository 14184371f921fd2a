/*
 * cc_casus.c: one device's client-side state for one casus (see cc_casus.h).
 *
 * Besides the public chain state it keeps:
 *  - a directory of every certificate that was ever in the roster, so a
 *    message from a member who has since left can still be verified;
 *  - one record per epoch (epochs are contiguous from 0): the commit hash,
 *    the level, and bitmaps over the directory telling who was a member and
 *    who was admitted by break-glass, so "was the sender entitled to write to
 *    this audience at that epoch" is answered from verified history;
 *  - the epoch keys this device received and message keys from grants, in
 *    sodium_malloc memory that is wiped when it moves or is freed;
 *  - its own send counter and a replay tracker.
 */
#include "cc_casus.h"
#include "cc_buf.h"
#include "cc_err.h"
#include "cc_transfer.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct epoch_rec {
	uint8_t hash[CC_HASH_BYTES];
	uint8_t level;
	size_t nbits;                                       /* directory size when the epoch opened */
	uint8_t *members;                                   /* bitmap over directory indices */
	uint8_t *bglass;                                    /* break-glass flags, same indexing */
	uint8_t kc[CC_POLICY_MAX_AUDIENCES][CC_HASH_BYTES]; /* key commitments of the epoch (public) */
	uint8_t kc_have;                                    /* bit a: kc[a] is set */
} epoch_rec;

typedef struct key_rec { /* lives in sodium_malloc memory */
	uint64_t epoch;
	uint8_t audience;
	uint8_t key[CC_EPOCH_KEY_BYTES];
} key_rec;

typedef struct grant_rec { /* lives in sodium_malloc memory */
	uint8_t message_id[CC_MESSAGE_ID_BYTES];
	uint8_t message_hash[CC_HASH_BYTES];
	uint8_t mk[CC_MESSAGE_KEY_BYTES];
} grant_rec;

typedef struct dir_entry {
	cc_cert cert;
	uint8_t cert_hash[CC_HASH_BYTES];
} dir_entry;

struct cc_casus {
	cc_device_keys *self; /* sodium_malloc */
	cc_cert self_cert;
	cc_chain_state *chain;
	dir_entry *dir;
	size_t ndir, capdir;
	epoch_rec *epochs; /* epochs[e] for e = 0..nepochs-1 */
	size_t nepochs, capepochs;
	key_rec *keys; /* sorted by (epoch, audience) */
	size_t nkeys, capkeys;
	grant_rec *grants;
	size_t ngrants, capgrants;
	int send_started;                           /* 1 once send_epoch is set */
	uint64_t send_epoch;                        /* epoch of the counters below */
	uint64_t send_ctr[CC_POLICY_MAX_AUDIENCES]; /* last counter used per audience in send_epoch */
	cc_replay *replay;
	cc_wrap_secret *wraps; /* sodium_malloc: this device's wrap secrets (cc_casus_set_wraps) */
	size_t nwraps;
	uint32_t wrap_newest; /* highest wrap version this device ever made (0: none) */
};

/* Grow a sodium_malloc'd array: allocate, copy, free (which wipes) the old one. */
static int sec_reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return CC_OK;
	size_t ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	void *n = sodium_malloc(ncap * elem);
	if (!n)
		return CC_ERR_NOMEM;
	if (*arr) {
		memcpy(n, *arr, *cap * elem);
		sodium_free(*arr);
	}
	*arr = n;
	*cap = ncap;
	return CC_OK;
}

static int heap_reserve(void **arr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return CC_OK;
	size_t ncap = *cap ? *cap : 16;
	while (ncap < need)
		ncap *= 2;
	void *n = realloc(*arr, ncap * elem);
	if (!n)
		return CC_ERR_NOMEM;
	*arr = n;
	*cap = ncap;
	return CC_OK;
}

int cc_casus_new(const cc_device_keys *self, const cc_cert *self_cert, cc_casus **out)
{
	cc_casus *cs = NULL;
	int rc;
	if (!out)
		return CC_ERR_INVALID_ARG;
	*out = NULL;
	if (!self || !self_cert || memcmp(self->device_id, self_cert->device_id, CC_DEVICE_ID_BYTES) != 0)
		return CC_ERR_INVALID_ARG;
	cs = calloc(1, sizeof *cs);
	if (!cs)
		return CC_ERR_NOMEM;
	cs->self = sodium_malloc(sizeof *cs->self);
	if (!cs->self) {
		rc = CC_ERR_NOMEM;
		goto fail;
	}
	memcpy(cs->self, self, sizeof *cs->self);
	cs->self_cert = *self_cert;
	if ((rc = cc_chain_state_new(&cs->chain)) != CC_OK)
		goto fail;
	if ((rc = cc_replay_new(&cs->replay)) != CC_OK)
		goto fail;
	*out = cs;
	return CC_OK;
fail:
	cc_casus_free(cs);
	return rc;
}

void cc_casus_free(cc_casus *cs)
{
	if (!cs)
		return;
	if (cs->self)
		sodium_free(cs->self);
	if (cs->keys)
		sodium_free(cs->keys);
	if (cs->grants)
		sodium_free(cs->grants);
	if (cs->wraps)
		sodium_free(cs->wraps);
	for (size_t e = 0; e < cs->nepochs; e++) {
		free(cs->epochs[e].members);
		free(cs->epochs[e].bglass);
	}
	free(cs->epochs);
	free(cs->dir);
	cc_chain_state_free(cs->chain);
	cc_replay_free(cs->replay);
	free(cs);
}

const cc_chain_state *cc_casus_chain(const cc_casus *cs)
{
	return cs ? cs->chain : NULL;
}

const cc_device_keys *cc_casus_self(const cc_casus *cs)
{
	return cs ? cs->self : NULL;
}

const cc_cert *cc_casus_self_cert(const cc_casus *cs)
{
	return cs ? &cs->self_cert : NULL;
}

static int bit_get(const uint8_t *bm, size_t nbits, size_t i)
{
	return i < nbits && (bm[i / 8] >> (i % 8) & 1);
}

static long dir_find(const cc_casus *cs, const uint8_t cert_hash[CC_HASH_BYTES])
{
	for (size_t i = 0; i < cs->ndir; i++)
		if (memcmp(cs->dir[i].cert_hash, cert_hash, CC_HASH_BYTES) == 0)
			return (long)i;
	return -1;
}

static const key_rec *key_find(const cc_casus *cs, uint64_t epoch, uint8_t audience)
{
	size_t lo = 0, hi = cs->nkeys;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const key_rec *k = &cs->keys[mid];
		if (k->epoch == epoch && k->audience == audience)
			return k;
		if (k->epoch < epoch || (k->epoch == epoch && k->audience < audience))
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The send epoch follows the chain: counters of an older epoch are void. */
static void send_sync(cc_casus *cs)
{
	uint64_t e = cs->chain->epoch;
	if (!cs->send_started || cs->send_epoch < e) {
		cs->send_started = 1;
		cs->send_epoch = e;
		memset(cs->send_ctr, 0, sizeof cs->send_ctr);
	}
}

void cc_casus_set_send_counter(cc_casus *cs, uint64_t floor)
{
	if (!cs)
		return;
	send_sync(cs);
	for (size_t a = 0; a < CC_POLICY_MAX_AUDIENCES; a++)
		if (floor > cs->send_ctr[a])
			cs->send_ctr[a] = floor;
}

int cc_casus_send_state(const cc_casus *cs, uint64_t *epoch, uint64_t ctr[CC_POLICY_MAX_AUDIENCES])
{
	if (!cs || !epoch || !ctr || !cs->send_started)
		return 0;
	*epoch = cs->send_epoch;
	memcpy(ctr, cs->send_ctr, sizeof cs->send_ctr);
	return 1;
}

void cc_casus_set_send_state(cc_casus *cs, uint64_t epoch, const uint64_t ctr[CC_POLICY_MAX_AUDIENCES])
{
	if (!cs || !ctr)
		return;
	if (cs->send_started && epoch < cs->send_epoch)
		return;
	if (!cs->send_started || epoch > cs->send_epoch) {
		cs->send_started = 1;
		cs->send_epoch = epoch;
		memset(cs->send_ctr, 0, sizeof cs->send_ctr);
	}
	for (size_t a = 0; a < CC_POLICY_MAX_AUDIENCES; a++)
		if (ctr[a] > cs->send_ctr[a])
			cs->send_ctr[a] = ctr[a];
}

int cc_casus_has_epoch_key(const cc_casus *cs, uint64_t epoch, int audience)
{
	if (!cs || audience < 0 || audience > 255)
		return 0;
	return key_find(cs, epoch, (uint8_t)audience) != NULL;
}

int cc_casus_set_wraps(cc_casus *cs, const cc_wrap_secret *wraps, size_t n, uint32_t newest)
{
	if (!cs || (n && !wraps) || n > CC_WRAP_MAX)
		return CC_ERR_INVALID_ARG;
	cc_wrap_secret *copy = NULL;
	if (n && !(copy = sodium_malloc(n * sizeof *copy)))
		return CC_ERR_NOMEM;
	if (n)
		memcpy(copy, wraps, n * sizeof *copy);
	if (cs->wraps)
		sodium_free(cs->wraps);
	cs->wraps = copy;
	cs->nwraps = n;
	cs->wrap_newest = newest;
	const cc_wrap_secret *nw = cc_wrap_newest(copy, n);
	if (nw && nw->version > cs->wrap_newest)
		cs->wrap_newest = nw->version;
	return CC_OK;
}

int cc_casus_apply_commit(cc_casus *cs, const uint8_t *p, size_t n, const cc_policy *policy,
                          const uint8_t root_pk[CC_SIGN_PK_BYTES], int64_t now, const cc_revlist *revs)
{
	cc_chain_state *next = NULL;
	cc_commit c;
	uint8_t hash[CC_HASH_BYTES];
	uint8_t kc[CC_HASH_BYTES];
	key_rec *staged = NULL; /* sodium_malloc: keys opened from this commit */
	size_t nstaged = 0, ndir_new;
	long *dir_idx = NULL;
	uint8_t *members = NULL, *bglass = NULL;
	int rc;

	memset(&c, 0, sizeof c);
	if (!cs || !p || !policy || !root_pk)
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_chain_state_copy(cs->chain, &next)) != CC_OK)
		return rc;
	if ((rc = cc_chain_apply_historic(next, p, n, policy, root_pk, now, revs, hash)) != CC_OK)
		goto out;
	if ((rc = cc_commit_decode(p, n, &c)) != CC_OK)
		goto out;

	/* Our own boxes: open each, check the bound fields and the key commitment. */
	staged = sodium_malloc(CC_POLICY_MAX_AUDIENCES * sizeof *staged);
	if (!staged) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	for (size_t a = 0; a < c.naudiences; a++) {
		const cc_commit_audience *au = &c.audiences[a];
		for (size_t j = 0; j < au->nrecipients; j++) {
			if (memcmp(au->recipients[j].device_id, cs->self->device_id, CC_DEVICE_ID_BYTES) != 0)
				continue;
			key_rec *k = &staged[nstaged];
			k->epoch = c.epoch;
			k->audience = au->audience;
			if (!au->recipients[j].has_box)
				break; /* version 4, box not delivered (retention deleted it): like a retired wrap key
				        */
			const cc_wrap_secret *ws = NULL;
			uint32_t wv = au->recipients[j].wrap;
			if (wv != 0 && !(ws = cc_wrap_find(cs->wraps, cs->nwraps, wv))) {
				if (wv <= cs->wrap_newest)
					break; /* sealed to a wrap key this device retired: no key for this epoch */
				rc = CC_ERR_NOT_RECIPIENT; /* a version this device never made */
				goto out;
			}
			if ((rc = cc_commit_open_key_wrap(au->recipients[j].box, cs->self, ws, c.casus_id, au->audience,
			                                  c.epoch, k->key)) != CC_OK)
				goto out;
			if ((rc = cc_commit_key_commitment(k->key, c.casus_id, au->audience, c.epoch, kc)) != CC_OK)
				goto out;
			if (sodium_memcmp(kc, au->key_commit, CC_HASH_BYTES) != 0) {
				rc = CC_ERR_KEY_COMMITMENT; /* the actor gave us a different key than the others */
				goto out;
			}
			nstaged++;
			break;
		}
	}

	/* Directory and membership bitmaps for the new epoch. */
	dir_idx = calloc(c.nroster, sizeof *dir_idx);
	if (!dir_idx) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	ndir_new = cs->ndir;
	for (size_t j = 0; j < c.nroster; j++) {
		dir_idx[j] = dir_find(cs, c.roster[j].cert_hash);
		if (dir_idx[j] < 0)
			dir_idx[j] = (long)ndir_new++;
	}
	if ((rc = heap_reserve((void **)&cs->dir, &cs->capdir, ndir_new, sizeof *cs->dir)) != CC_OK ||
	    (rc = heap_reserve((void **)&cs->epochs, &cs->capepochs, cs->nepochs + 1, sizeof *cs->epochs)) != CC_OK ||
	    (rc = sec_reserve((void **)&cs->keys, &cs->capkeys, cs->nkeys + nstaged, sizeof *cs->keys)) != CC_OK)
		goto out;
	members = calloc(ndir_new / 8 + 1, 1);
	bglass = calloc(ndir_new / 8 + 1, 1);
	if (!members || !bglass) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	if (c.epoch != cs->nepochs) { /* cannot happen after cc_chain_apply */
		rc = CC_ERR_EPOCH;
		goto out;
	}

	/* Nothing below can fail: commit the new state. */
	for (size_t j = 0; j < c.nroster; j++) {
		size_t di = (size_t)dir_idx[j];
		if (di >= cs->ndir) {
			cs->dir[di].cert = c.roster[j].cert;
			memcpy(cs->dir[di].cert_hash, c.roster[j].cert_hash, CC_HASH_BYTES);
		}
		members[di / 8] = (uint8_t)(members[di / 8] | (1u << (di % 8)));
		if (c.roster[j].flags & CC_ROSTER_BREAK_GLASS)
			bglass[di / 8] = (uint8_t)(bglass[di / 8] | (1u << (di % 8)));
	}
	cs->ndir = ndir_new;
	epoch_rec *er = &cs->epochs[cs->nepochs++];
	memcpy(er->hash, hash, CC_HASH_BYTES);
	er->level = c.level_after;
	er->nbits = ndir_new;
	er->kc_have = 0;
	for (size_t a = 0; a < c.naudiences; a++)
		if (c.audiences[a].audience < CC_POLICY_MAX_AUDIENCES) {
			memcpy(er->kc[c.audiences[a].audience], c.audiences[a].key_commit, CC_HASH_BYTES);
			er->kc_have = (uint8_t)(er->kc_have | (1u << c.audiences[a].audience));
		}
	er->members = members;
	er->bglass = bglass;
	members = bglass = NULL;
	for (size_t i = 0; i < nstaged; i++)
		cs->keys[cs->nkeys++] = staged[i];
	cc_chain_state_free(cs->chain);
	cs->chain = next;
	next = NULL;
	rc = CC_OK;
out:
	if (staged)
		sodium_free(staged);
	free(members);
	free(bglass);
	free(dir_idx);
	cc_commit_free(&c);
	cc_chain_state_free(next);
	return rc;
}

int cc_casus_encrypt(cc_casus *cs, const cc_policy *policy, int audience, uint8_t ground, const uint8_t *pt,
                     size_t pt_len, int64_t now, cc_wbuf *out)
{
	cc_message_header h;
	uint8_t mk[CC_MESSAGE_KEY_BYTES]; /* transient, wiped */
	const key_rec *k;
	int rc, role;

	if (!cs || !policy || !out || (!pt && pt_len))
		return CC_ERR_INVALID_ARG;
	if (!cs->chain->started || cc_chain_find(cs->chain, cs->self->device_id) < 0)
		return CC_ERR_NOT_MEMBER;
	if (audience < 0 || audience >= policy->naudiences)
		return CC_ERR_AUDIENCE;
	k = key_find(cs, cs->chain->epoch, (uint8_t)audience);
	if (!k)
		return CC_ERR_NO_KEY;
	role = cc_policy_role_index(policy, cs->self_cert.role);
	memset(&h, 0, sizeof h);
	h.version = CC_MESSAGE_VERSION;
	memcpy(h.casus_id, cs->chain->casus_id, CC_CASUS_ID_BYTES);
	h.audience = (uint8_t)audience;
	h.epoch = cs->chain->epoch;
	memcpy(h.epoch_hash, cs->chain->head, CC_HASH_BYTES);
	memcpy(h.sender, cs->self->device_id, CC_DEVICE_ID_BYTES);
	randombytes_buf(h.message_id, sizeof h.message_id);
	h.time = now;
	h.ground = ground;
	if ((rc = cc_message_check_ground(&h, policy, role, cs->chain->level)) != CC_OK)
		return rc;
	/* Gap-free per (epoch, audience): the next number after the last used. */
	send_sync(cs);
	if (cs->send_epoch != h.epoch || (size_t)audience >= CC_POLICY_MAX_AUDIENCES ||
	    cs->send_ctr[audience] == UINT64_MAX) {
		sodium_memzero(&h, sizeof h);
		return CC_ERR_COUNTER; /* a stored state from a later epoch than the chain */
	}
	h.counter = cs->send_ctr[audience] + 1;
	if ((rc = cc_message_derive_key(k->key, &h, mk)) == CC_OK &&
	    (rc = cc_message_seal(&h, mk, cs->self, pt, pt_len, out)) == CC_OK)
		cs->send_ctr[audience] = h.counter;
	sodium_memzero(mk, sizeof mk);
	return rc;
}

/* Public checks of a message against this device's verified history; on
 * success *sender points at the author's certificate. */
static int check_history(const cc_casus *cs, const cc_policy *policy, const cc_message *m, const cc_cert **sender)
{
	const epoch_rec *er;
	long di = -1;
	int role;
	if (!cs->chain->started || sodium_memcmp(m->h.casus_id, cs->chain->casus_id, CC_CASUS_ID_BYTES) != 0)
		return CC_ERR_CHAIN;
	if (m->h.epoch >= cs->nepochs)
		return CC_ERR_EPOCH;
	er = &cs->epochs[m->h.epoch];
	if (sodium_memcmp(er->hash, m->h.epoch_hash, CC_HASH_BYTES) != 0)
		return CC_ERR_EPOCH;
	if (m->h.audience >= policy->naudiences)
		return CC_ERR_AUDIENCE;
	for (size_t i = 0; i < cs->ndir; i++)
		if (bit_get(er->members, er->nbits, i) &&
		    memcmp(cs->dir[i].cert.device_id, m->h.sender, CC_DEVICE_ID_BYTES) == 0) {
			di = (long)i;
			break;
		}
	if (di < 0)
		return CC_ERR_NOT_MEMBER;
	const cc_cert *cert = &cs->dir[di].cert;
	role = cc_policy_role_index(policy, cert->role);
	if (!cc_entitled(policy, m->h.audience, role, er->level,
	                 bit_get(er->bglass, er->nbits, (size_t)di) ? CC_ROSTER_BREAK_GLASS : 0))
		return CC_ERR_AUDIENCE;
	int rc = cc_message_check_ground(&m->h, policy, role, er->level);
	if (rc != CC_OK)
		return rc;
	*sender = cert;
	return CC_OK;
}

/* mk for a checked message: from the epoch key, or from a grant bound to this
 * message (then *from_grant is set). */
static int message_key(const cc_casus *cs, const cc_message *m, const uint8_t *msg, size_t n, uint8_t *mk,
                       int *from_grant)
{
	const key_rec *k = key_find(cs, m->h.epoch, m->h.audience);
	*from_grant = 0;
	if (k)
		return cc_message_derive_key(k->key, &m->h, mk);
	if (cs->ngrants) {
		uint8_t mh[CC_HASH_BYTES];
		int rc = cc_message_hash(msg, n, mh);
		if (rc != CC_OK)
			return rc;
		for (size_t i = 0; i < cs->ngrants; i++)
			if (memcmp(cs->grants[i].message_id, m->h.message_id, CC_MESSAGE_ID_BYTES) == 0 &&
			    sodium_memcmp(cs->grants[i].message_hash, mh, CC_HASH_BYTES) == 0) {
				memcpy(mk, cs->grants[i].mk, CC_MESSAGE_KEY_BYTES);
				*from_grant = 1;
				return CC_OK;
			}
	}
	return CC_ERR_NO_KEY;
}

static int decrypt_impl(cc_casus *cs, const cc_policy *policy, const uint8_t *msg, size_t n, int live, cc_wbuf *pt_out,
                        cc_message_header *hdr_out)
{
	cc_message m;
	const cc_cert *sender = NULL;
	uint8_t mk[CC_MESSAGE_KEY_BYTES]; /* transient, wiped */
	size_t mark;
	int rc, from_grant = 0;

	if (hdr_out)
		memset(hdr_out, 0, sizeof *hdr_out);
	if (!cs || !policy || !msg || !pt_out)
		return CC_ERR_INVALID_ARG;
	mark = pt_out->len;
	if ((rc = cc_message_decode(msg, n, &m)) != CC_OK)
		return rc;
	if ((rc = check_history(cs, policy, &m, &sender)) != CC_OK)
		return rc;
	rc = message_key(cs, &m, msg, n, mk, &from_grant);
	if (rc == CC_ERR_NO_KEY) {
		/* Still tell a forgery from an unreadable message. */
		int s = cc_message_verify_sig(&m, sender->sign_pk);
		rc = s != CC_OK ? s : CC_ERR_NO_KEY;
	}
	if (rc != CC_OK)
		goto out;
	/* The tracker is only written after a message opened, so forgeries cannot
	 * poison it. A granted message is history by definition: its id must be
	 * new, but its counter is not compared with the live stream. */
	if (live) {
		rc = cc_replay_check(cs->replay, &m.h);
		if (rc == CC_ERR_COUNTER && from_grant)
			rc = CC_OK;
		if (rc != CC_OK)
			goto out;
	}
	/* Signature, key commitment, AEAD; appends the plaintext only on success. */
	if ((rc = cc_message_open(&m, sender->sign_pk, mk, pt_out)) != CC_OK)
		goto out;
	if (live && (rc = cc_replay_record(cs->replay, &m.h)) != CC_OK) {
		/* take the plaintext back: results only on success */
		if (pt_out->p && pt_out->len > mark)
			sodium_memzero(pt_out->p + mark, pt_out->len - mark);
		pt_out->len = mark;
		goto out;
	}
	if (hdr_out)
		*hdr_out = m.h;
out:
	sodium_memzero(mk, sizeof mk);
	return rc;
}

int cc_casus_decrypt(cc_casus *cs, const cc_policy *policy, const uint8_t *msg, size_t n, cc_wbuf *pt_out,
                     cc_message_header *hdr_out)
{
	return decrypt_impl(cs, policy, msg, n, 1, pt_out, hdr_out);
}

int cc_casus_decrypt_history(cc_casus *cs, const cc_policy *policy, const uint8_t *msg, size_t n, cc_wbuf *pt_out,
                             cc_message_header *hdr_out)
{
	return decrypt_impl(cs, policy, msg, n, 0, pt_out, hdr_out);
}

int cc_casus_message_key(const cc_casus *cs, const cc_policy *policy, const uint8_t *msg, size_t n,
                         uint8_t mk[CC_MESSAGE_KEY_BYTES])
{
	cc_message m;
	const cc_cert *sender = NULL;
	cc_wbuf tmp;
	int rc;
	if (!cs || !policy || !msg || !mk)
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_message_decode(msg, n, &m)) != CC_OK)
		return rc;
	if ((rc = check_history(cs, policy, &m, &sender)) != CC_OK)
		return rc;
	int from_grant;
	if ((rc = message_key(cs, &m, msg, n, mk, &from_grant)) != CC_OK)
		return rc;
	/* Prove the key opens the message before anyone relies on it. */
	cc_w_init_secret(&tmp);
	rc = cc_message_open(&m, sender->sign_pk, mk, &tmp);
	cc_w_free(&tmp);
	if (rc != CC_OK)
		sodium_memzero(mk, CC_MESSAGE_KEY_BYTES);
	return rc;
}

static int cmp_grant_dev(const void *a, const void *b)
{
	return memcmp(((const cc_grant_device *)a)->device_id, ((const cc_grant_device *)b)->device_id,
	              CC_DEVICE_ID_BYTES);
}

/* The secret to open a box addressed to wrap version v of this device: NULL
 * for version 0 (the certified box key). A version it made but no longer
 * holds (wiped after its grace period) is CC_ERR_NO_KEY; one it never made
 * is CC_ERR_NOT_RECIPIENT (fails closed like a box for another device). */
static int wrap_for_open(const cc_casus *cs, uint32_t v, const cc_wrap_secret **ws)
{
	*ws = NULL;
	if (v == 0)
		return CC_OK;
	if ((*ws = cc_wrap_find(cs->wraps, cs->nwraps, v)) != NULL)
		return CC_OK;
	return v <= cs->wrap_newest ? CC_ERR_NO_KEY : CC_ERR_NOT_RECIPIENT;
}

static const cc_wrap_target *wrap_target_of(const cc_wrap_target *wraps, size_t nwraps,
                                            const uint8_t dev[CC_DEVICE_ID_BYTES])
{
	for (size_t i = 0; wraps && i < nwraps; i++)
		if (wraps[i].version != 0 && memcmp(wraps[i].device_id, dev, CC_DEVICE_ID_BYTES) == 0)
			return &wraps[i];
	return NULL;
}

int cc_casus_grant(const cc_casus *cs, const cc_policy *policy, const uint8_t (*grantees)[CC_DEVICE_ID_BYTES],
                   size_t ngrantees, const uint8_t *const *msgs, const size_t *msg_lens, size_t nmsgs, uint8_t ground,
                   const char *reason, int64_t now, cc_wbuf *out)
{
	return cc_casus_grant_wraps(cs, policy, grantees, ngrantees, msgs, msg_lens, nmsgs, ground, reason, NULL, 0,
	                            now, out);
}

int cc_casus_grant_wraps(const cc_casus *cs, const cc_policy *policy, const uint8_t (*grantees)[CC_DEVICE_ID_BYTES],
                         size_t ngrantees, const uint8_t *const *msgs, const size_t *msg_lens, size_t nmsgs,
                         uint8_t ground, const char *reason, const cc_wrap_target *wraps, size_t nwraps, int64_t now,
                         cc_wbuf *out)
{
	cc_grant g;
	uint8_t *mks = NULL; /* sodium_malloc, nmsgs x 32 */
	uint8_t(*pks)[CC_BOX_PK_BYTES] = NULL;
	cc_wbuf w;
	int rc, gi, role;

	memset(&g, 0, sizeof g);
	cc_w_init(&w);
	if (!cs || !policy || !grantees || !msgs || !msg_lens || !out || !reason || (nwraps && !wraps))
		return CC_ERR_INVALID_ARG;
	if (ngrantees == 0 || nmsgs == 0 || reason[0] == '\0')
		return CC_ERR_INVALID_ARG;
	if (ngrantees > CC_GRANT_MAX_DEVICES || nmsgs > CC_GRANT_MAX_MESSAGES || strlen(reason) > CC_GRANT_REASON_MAX)
		return CC_ERR_TOO_LARGE;
	if (ground == CC_GROUND_NONE)
		return CC_ERR_GROUND_REQUIRED;
	if (ground > CC_GROUND_MAX)
		return CC_ERR_MALFORMED;
	if ((gi = cc_chain_find(cs->chain, cs->self->device_id)) < 0)
		return CC_ERR_NOT_MEMBER;
	role = cc_policy_role_index(policy, cs->self_cert.role);
	if (role < 0 || !policy->roles[role].may_grant || policy->roles[role].never_key)
		return CC_ERR_FORBIDDEN;

	g.version = CC_GRANT_VERSION;
	memcpy(g.casus_id, cs->chain->casus_id, CC_CASUS_ID_BYTES);
	g.epoch = cs->chain->epoch;
	memcpy(g.epoch_hash, cs->chain->head, CC_HASH_BYTES);
	memcpy(g.granter, cs->self->device_id, CC_DEVICE_ID_BYTES);
	g.time = now;
	g.ground = ground;
	g.nitems = (uint16_t)nmsgs;
	g.ndevices = (uint16_t)ngrantees;
	g.items = calloc(nmsgs, sizeof *g.items);
	g.devices = calloc(ngrantees, sizeof *g.devices);
	mks = sodium_malloc(nmsgs * CC_MESSAGE_KEY_BYTES);
	if (!g.items || !g.devices || !mks) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	/* The granter must be able to read every message it grants. */
	for (size_t i = 0; i < nmsgs; i++) {
		cc_message m;
		if (!msgs[i]) {
			rc = CC_ERR_INVALID_ARG;
			goto out;
		}
		if ((rc = cc_message_decode(msgs[i], msg_lens[i], &m)) != CC_OK)
			goto out;
		if ((rc = cc_casus_message_key(cs, policy, msgs[i], msg_lens[i], mks + i * CC_MESSAGE_KEY_BYTES)) !=
		    CC_OK)
			goto out;
		memcpy(g.items[i].message_id, m.h.message_id, CC_MESSAGE_ID_BYTES);
		g.items[i].audience = m.h.audience;
		if ((rc = cc_message_hash(msgs[i], msg_lens[i], g.items[i].message_hash)) != CC_OK)
			goto out;
	}
	for (size_t d = 0; d < ngrantees; d++) {
		int di = cc_chain_find(cs->chain, grantees[d]);
		if (di < 0) {
			rc = CC_ERR_NOT_MEMBER;
			goto out;
		}
		cc_grant_device *gd = &g.devices[d];
		memcpy(gd->device_id, grantees[d], CC_DEVICE_ID_BYTES);
		gd->boxes = malloc(nmsgs * CC_GRANT_BOX_BYTES);
		if (!gd->boxes) {
			rc = CC_ERR_NOMEM;
			goto out;
		}
		const cc_cert *gc = &cs->chain->roster[di].cert;
		/* the grantee's newest verified wrap key, else its certified box key */
		const cc_wrap_target *wt = wrap_target_of(wraps, nwraps, gc->device_id);
		gd->wrap = wt ? wt->version : 0;
		for (size_t i = 0; i < nmsgs; i++)
			if ((rc = cc_grant_seal_key(gd->boxes + i * CC_GRANT_BOX_BYTES, wt ? wt->pk : gc->box_pk,
			                            gc->device_id, g.casus_id, g.items[i].message_id,
			                            g.items[i].message_hash, mks + i * CC_MESSAGE_KEY_BYTES)) != CC_OK)
				goto out;
	}
	qsort(g.devices, ngrantees, sizeof *g.devices, cmp_grant_dev);
	for (size_t d = 1; d < ngrantees; d++)
		if (memcmp(g.devices[d - 1].device_id, g.devices[d].device_id, CC_DEVICE_ID_BYTES) == 0) {
			rc = CC_ERR_INVALID_ARG;
			goto out;
		}
	/* The reason to the grantees and the granter only (the server stores the grant). */
	pks = calloc(ngrantees, sizeof *pks);
	if (!pks) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	int wrapped = 0;
	for (size_t d = 0; d < ngrantees; d++) {
		const cc_wrap_target *wt = wrap_target_of(wraps, nwraps, g.devices[d].device_id);
		memcpy(pks[d],
		       wt ? wt->pk : cs->chain->roster[cc_chain_find(cs->chain, g.devices[d].device_id)].cert.box_pk,
		       CC_BOX_PK_BYTES);
		wrapped |= wt != NULL;
	}
	/* the granter's own copy of the reason key: to its newest wrap key */
	const cc_wrap_secret *own = cc_wrap_newest(cs->wraps, cs->nwraps);
	g.granter_wrap = own ? own->version : 0;
	if (own || wrapped)
		g.version = CC_GRANT_VERSION_WRAP; /* version 3 only when some box names a wrap key */
	if ((rc = cc_grant_seal_reason(&g, reason, own ? own->pk : cs->self->box_pk,
	                               (const uint8_t(*)[CC_BOX_PK_BYTES])pks)) != CC_OK)
		goto out;
	if ((rc = cc_grant_sign(&g, cs->self)) != CC_OK)
		goto out;
	/* Self-check with the same public rules the server applies. */
	if ((rc = cc_grant_check_public(&g, cs->chain, policy)) != CC_OK)
		goto out;
	if ((rc = cc_grant_encode(&g, &w)) != CC_OK)
		goto out;
	cc_w_fixed(out, w.p, w.len);
	rc = out->err;
out:
	if (mks)
		sodium_free(mks);
	free(pks);
	cc_grant_free(&g);
	cc_w_free(&w);
	return rc;
}

int cc_casus_accept_grant(cc_casus *cs, const cc_policy *policy, const uint8_t *p, size_t n)
{
	cc_grant g;
	grant_rec *staged = NULL;
	char *reason = NULL;
	const cc_grant_device *mine = NULL;
	const epoch_rec *er;
	long di = -1;
	int rc, role;

	memset(&g, 0, sizeof g);
	if (!cs || !policy || !p)
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_grant_decode(p, n, &g)) != CC_OK)
		return rc;
	if (!cs->chain->started || sodium_memcmp(g.casus_id, cs->chain->casus_id, CC_CASUS_ID_BYTES) != 0) {
		rc = CC_ERR_CHAIN;
		goto out;
	}
	if (g.epoch >= cs->nepochs || sodium_memcmp(cs->epochs[g.epoch].hash, g.epoch_hash, CC_HASH_BYTES) != 0) {
		rc = CC_ERR_EPOCH;
		goto out;
	}
	er = &cs->epochs[g.epoch];
	for (size_t i = 0; i < cs->ndir; i++)
		if (bit_get(er->members, er->nbits, i) &&
		    memcmp(cs->dir[i].cert.device_id, g.granter, CC_DEVICE_ID_BYTES) == 0) {
			di = (long)i;
			break;
		}
	if (di < 0) {
		rc = CC_ERR_NOT_MEMBER;
		goto out;
	}
	role = cc_policy_role_index(policy, cs->dir[di].cert.role);
	if (role < 0 || !policy->roles[role].may_grant || policy->roles[role].never_key) {
		rc = CC_ERR_FORBIDDEN;
		goto out;
	}
	if (g.ground == CC_GROUND_NONE) {
		rc = CC_ERR_GROUND_REQUIRED;
		goto out;
	}
	if ((rc = cc_grant_verify_sig(&g, cs->dir[di].cert.sign_pk)) != CC_OK)
		goto out;
	for (size_t d = 0; d < g.ndevices; d++)
		if (memcmp(g.devices[d].device_id, cs->self->device_id, CC_DEVICE_ID_BYTES) == 0)
			mine = &g.devices[d];
	if (!mine) {
		rc = CC_ERR_NOT_RECIPIENT;
		goto out;
	}
	/* The reason is the members' text: it must open, to non-empty text, for
	 * this grantee (cc_reason_open refuses an empty one). */
	reason = sodium_malloc(CC_GRANT_REASON_MAX + 1);
	if (!reason) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	const cc_wrap_secret *ws = NULL;
	if ((rc = wrap_for_open(cs, mine->wrap, &ws)) != CC_OK)
		goto out; /* sealed to a wrap key this device wiped (NO_KEY) or never made (NOT_RECIPIENT) */
	if ((rc = cc_grant_open_reason_wraps(&g, cs->self, cs->wraps, cs->nwraps, reason, CC_GRANT_REASON_MAX + 1)) !=
	    CC_OK)
		goto out;
	staged = sodium_malloc((size_t)g.nitems * sizeof *staged);
	if (!staged) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < g.nitems; i++) {
		memcpy(staged[i].message_id, g.items[i].message_id, CC_MESSAGE_ID_BYTES);
		memcpy(staged[i].message_hash, g.items[i].message_hash, CC_HASH_BYTES);
		if ((rc = cc_grant_open_key_wrap(mine->boxes + i * CC_GRANT_BOX_BYTES, cs->self, ws, g.casus_id,
		                                 g.items[i].message_id, g.items[i].message_hash, staged[i].mk)) !=
		    CC_OK)
			goto out;
	}
	if ((rc = sec_reserve((void **)&cs->grants, &cs->capgrants, cs->ngrants + g.nitems, sizeof *cs->grants)) !=
	    CC_OK)
		goto out;
	/* Accepting the same grant again (e.g. after a restart) adds nothing. */
	for (size_t i = 0; i < g.nitems; i++) {
		int dup = 0;
		for (size_t k = 0; k < cs->ngrants && !dup; k++)
			dup = memcmp(cs->grants[k].message_id, staged[i].message_id, CC_MESSAGE_ID_BYTES) == 0 &&
			      memcmp(cs->grants[k].message_hash, staged[i].message_hash, CC_HASH_BYTES) == 0 &&
			      sodium_memcmp(cs->grants[k].mk, staged[i].mk, CC_MESSAGE_KEY_BYTES) == 0;
		if (!dup)
			cs->grants[cs->ngrants++] = staged[i];
	}
	rc = CC_OK;
out:
	if (staged)
		sodium_free(staged);
	if (reason)
		sodium_free(reason);
	cc_grant_free(&g);
	return rc;
}

/* ---- device key transfer (cc_transfer.h) ------------------------------------ */

#define TRANSFER_SIG_CTX "casus.e2e.v1.transfer.sig"

static int self_cert_index(const cc_casus *cs, const uint8_t dev[CC_DEVICE_ID_BYTES], const cc_cert **out)
{
	for (size_t i = 0; i < cs->ndir; i++)
		if (memcmp(cs->dir[i].cert.device_id, dev, CC_DEVICE_ID_BYTES) == 0) {
			*out = &cs->dir[i].cert;
			return 0;
		}
	return -1;
}

int cc_casus_transfer_create(const cc_casus *cs, const cc_cert *to, int64_t now, struct cc_wbuf *out)
{
	return cc_casus_transfer_create_wrap(cs, to, NULL, now, out);
}

int cc_casus_transfer_create_wrap(const cc_casus *cs, const cc_cert *to, const cc_wrap_target *wrap, int64_t now,
                                  struct cc_wbuf *out)
{
	const cc_chain_state *st = cs ? cs->chain : NULL;
	if (!cs || !to || !out || !st || !st->started)
		return CC_ERR_INVALID_ARG;
	if (wrap && (wrap->version == 0 || memcmp(wrap->device_id, to->device_id, CC_DEVICE_ID_BYTES) != 0))
		return CC_ERR_INVALID_ARG; /* a wrap key of another device, or none */
	if (cc_chain_find(st, cs->self->device_id) < 0)
		return CC_ERR_NOT_MEMBER;
	int ti = cc_chain_find(st, to->device_id);
	if (ti < 0)
		return CC_ERR_NOT_MEMBER;
	const cc_cert *tc = &st->roster[ti].cert;
	if (memcmp(tc->device_id, cs->self->device_id, CC_DEVICE_ID_BYTES) == 0 ||
	    strcmp(tc->user_id, cs->self_cert.user_id) != 0 || strcmp(tc->role, cs->self_cert.role) != 0)
		return CC_ERR_FORBIDDEN; /* only to another device of the same user and role */
	if (cs->nkeys > CC_TRANSFER_MAX_KEYS)
		return CC_ERR_TOO_LARGE;
	cc_wbuf pt;
	cc_w_init_secret(&pt);
	cc_w_fixed(&pt, st->casus_id, CC_CASUS_ID_BYTES);
	cc_w_fixed(&pt, cs->self->device_id, CC_DEVICE_ID_BYTES);
	cc_w_fixed(&pt, tc->device_id, CC_DEVICE_ID_BYTES);
	cc_w_u32(&pt, (uint32_t)cs->nkeys);
	for (size_t i = 0; i < cs->nkeys; i++) {
		cc_w_u64(&pt, cs->keys[i].epoch);
		cc_w_u8(&pt, cs->keys[i].audience);
		cc_w_fixed(&pt, cs->keys[i].key, CC_EPOCH_KEY_BYTES);
	}
	int rc = pt.err;
	uint8_t *sealed = NULL;
	size_t slen = pt.len + crypto_box_SEALBYTES;
	if (rc == CC_OK) {
		sealed = malloc(slen);
		if (!sealed)
			rc = CC_ERR_NOMEM;
		else if (crypto_box_seal(sealed, pt.p, pt.len, wrap ? wrap->pk : tc->box_pk) != 0)
			rc = CC_ERR_CRYPTO;
	}
	cc_w_free(&pt);
	if (rc != CC_OK) {
		free(sealed);
		return rc;
	}
	cc_wbuf w;
	cc_w_init(&w);
	cc_w_u8(&w, wrap ? CC_TRANSFER_VERSION_WRAP : CC_TRANSFER_VERSION);
	cc_w_fixed(&w, st->casus_id, CC_CASUS_ID_BYTES);
	cc_w_fixed(&w, cs->self->device_id, CC_DEVICE_ID_BYTES);
	cc_w_fixed(&w, tc->device_id, CC_DEVICE_ID_BYTES);
	if (wrap)
		cc_w_u32(&w, wrap->version);
	cc_w_u64(&w, st->epoch);
	cc_w_i64(&w, now);
	cc_w_var32(&w, sealed, slen);
	free(sealed);
	uint8_t sig[CC_SIG_BYTES];
	rc = w.err;
	if (rc == CC_OK)
		rc = cc_sign_ctx(cs->self->sign_sk, TRANSFER_SIG_CTX, w.p, w.len, sig);
	if (rc == CC_OK) {
		cc_w_fixed(&w, sig, sizeof sig);
		rc = w.err;
	}
	if (rc == CC_OK)
		cc_w_fixed(out, w.p, w.len);
	cc_w_free(&w);
	return rc == CC_OK ? out->err : rc;
}

int cc_casus_transfer_accept(cc_casus *cs, const uint8_t *p, size_t n, size_t *imported)
{
	cc_transfer t;
	const cc_cert *from = NULL;
	int rc;
	if (imported)
		*imported = 0;
	if (!cs || !p || !cs->chain || !cs->chain->started)
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_transfer_decode(p, n, &t)) != CC_OK)
		return rc;
	if (memcmp(t.casus_id, cs->chain->casus_id, CC_CASUS_ID_BYTES) != 0)
		return CC_ERR_CHAIN;
	if (memcmp(t.to, cs->self->device_id, CC_DEVICE_ID_BYTES) != 0)
		return CC_ERR_NOT_RECIPIENT;
	/* the sender: a device that was in the roster (any epoch), same user and role */
	if (self_cert_index(cs, t.from, &from) != 0)
		return CC_ERR_NOT_MEMBER;
	if (memcmp(t.from, cs->self->device_id, CC_DEVICE_ID_BYTES) == 0 ||
	    strcmp(from->user_id, cs->self_cert.user_id) != 0 || strcmp(from->role, cs->self_cert.role) != 0)
		return CC_ERR_FORBIDDEN;
	if ((rc = cc_transfer_verify_sig(&t, from->sign_pk)) != CC_OK)
		return rc;
	const cc_wrap_secret *ws = NULL;
	if ((rc = wrap_for_open(cs, t.wrap, &ws)) != CC_OK)
		return rc; /* sealed to a wrap key this device wiped (NO_KEY) or never made (NOT_RECIPIENT) */
	size_t ptl = t.sealed_len - crypto_box_SEALBYTES;
	uint8_t *pt = sodium_malloc(ptl ? ptl : 1);
	if (!pt)
		return CC_ERR_NOMEM;
	key_rec *staged = NULL;
	size_t nst = 0;
	if (crypto_box_seal_open(pt, t.sealed, t.sealed_len, ws ? ws->pk : cs->self->box_pk,
	                         ws ? ws->sk : cs->self->box_sk) != 0) {
		rc = CC_ERR_DECRYPT;
		goto out;
	}
	cc_rbuf r;
	uint8_t cid[CC_CASUS_ID_BYTES], f[CC_DEVICE_ID_BYTES], to[CC_DEVICE_ID_BYTES];
	cc_r_init(&r, pt, ptl);
	cc_r_fixed(&r, cid, sizeof cid);
	cc_r_fixed(&r, f, sizeof f);
	cc_r_fixed(&r, to, sizeof to);
	uint32_t count = cc_r_u32(&r);
	if (r.err || count > CC_TRANSFER_MAX_KEYS || cc_r_left(&r) != (size_t)count * CC_TRANSFER_KEY_BYTES) {
		rc = r.err ? r.err : CC_ERR_MALFORMED;
		goto out;
	}
	if (memcmp(cid, t.casus_id, sizeof cid) != 0 || memcmp(f, t.from, sizeof f) != 0 ||
	    memcmp(to, t.to, sizeof to) != 0) {
		rc = CC_ERR_MALFORMED; /* the sealed part belongs to another transfer */
		goto out;
	}
	staged = sodium_malloc((count ? count : 1) * sizeof *staged);
	if (!staged) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < count; i++) {
		key_rec *k = &staged[nst];
		uint8_t kc[CC_HASH_BYTES];
		k->epoch = cc_r_u64(&r);
		k->audience = cc_r_u8(&r);
		cc_r_fixed(&r, k->key, CC_EPOCH_KEY_BYTES);
		if (r.err) {
			rc = r.err;
			goto out;
		}
		/* every key must be the one the verified commit of its epoch committed to */
		if (k->epoch >= cs->nepochs || k->audience >= CC_POLICY_MAX_AUDIENCES ||
		    !(cs->epochs[k->epoch].kc_have & (1u << k->audience))) {
			rc = CC_ERR_KEY_COMMITMENT;
			goto out;
		}
		if ((rc = cc_commit_key_commitment(k->key, cs->chain->casus_id, k->audience, k->epoch, kc)) != CC_OK)
			goto out;
		if (sodium_memcmp(kc, cs->epochs[k->epoch].kc[k->audience], CC_HASH_BYTES) != 0) {
			rc = CC_ERR_KEY_COMMITMENT;
			goto out;
		}
		if (!key_find(cs, k->epoch, k->audience))
			nst++;
	}
	if ((rc = cc_r_finish(&r)) != CC_OK)
		goto out;
	if ((rc = sec_reserve((void **)&cs->keys, &cs->capkeys, cs->nkeys + nst, sizeof *cs->keys)) != CC_OK)
		goto out;
	for (size_t i = 0; i < nst; i++) {
		/* insert keeping (epoch, audience) order */
		size_t at = cs->nkeys;
		while (at > 0 &&
		       (cs->keys[at - 1].epoch > staged[i].epoch ||
		        (cs->keys[at - 1].epoch == staged[i].epoch && cs->keys[at - 1].audience > staged[i].audience)))
			at--;
		if (at > 0 && cs->keys[at - 1].epoch == staged[i].epoch &&
		    cs->keys[at - 1].audience == staged[i].audience)
			continue;
		memmove(&cs->keys[at + 1], &cs->keys[at], (cs->nkeys - at) * sizeof *cs->keys);
		cs->keys[at] = staged[i];
		cs->nkeys++;
		if (imported)
			(*imported)++;
	}
	rc = CC_OK;
out:
	sodium_free(staged);
	sodium_free(pt);
	return rc;
}
