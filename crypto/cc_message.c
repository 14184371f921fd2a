/*
 * cc_message.c: encoding, encryption, signature and public checks of casus
 * messages, and the client-side replay/ordering tracker. Layout and key
 * derivation are documented at the top of cc_message.h and in docs/CRYPTO.md (end-to-end part).
 */
#include "cc_message.h"
#include "cc_buf.h"
#include "cc_err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define CTX_MSG_KEY "casus.e2e.v1.message.key"
#define CTX_MSG_AEAD "casus.e2e.v1.message.aead"
#define CTX_MSG_COMMIT "casus.e2e.v1.message.commit"
#define CTX_MSG_SIG "casus.e2e.v1.message.sig"
#define CTX_MSG_HASH "casus.e2e.v1.message.hash"

#define AEAD_ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

static int gh_ctx(crypto_generichash_state *h, const uint8_t *key, size_t keylen, const char *ctx)
{
	if (crypto_generichash_init(h, key, keylen, CC_HASH_BYTES) != 0 ||
	    crypto_generichash_update(h, (const uint8_t *)ctx, strlen(ctx) + 1) != 0)
		return CC_ERR_CRYPTO;
	return CC_OK;
}

int cc_message_header_encode(const cc_message_header *h, cc_wbuf *w)
{
	if (!h || !w)
		return CC_ERR_INVALID_ARG;
	cc_w_u8(w, h->version);
	cc_w_fixed(w, h->casus_id, CC_CASUS_ID_BYTES);
	cc_w_u8(w, h->audience);
	cc_w_u64(w, h->epoch);
	cc_w_fixed(w, h->epoch_hash, CC_HASH_BYTES);
	cc_w_fixed(w, h->sender, CC_DEVICE_ID_BYTES);
	cc_w_u64(w, h->counter);
	cc_w_fixed(w, h->message_id, CC_MESSAGE_ID_BYTES);
	cc_w_i64(w, h->time);
	cc_w_u8(w, h->ground);
	return w->err;
}

/* The fixed-size header as bytes (no allocation). */
static int header_bytes(const cc_message_header *h, uint8_t out[CC_MESSAGE_HEADER_BYTES])
{
	cc_wbuf w;
	int rc;
	cc_w_init(&w);
	rc = cc_message_header_encode(h, &w);
	if (rc == CC_OK && w.len != CC_MESSAGE_HEADER_BYTES)
		rc = CC_ERR_MALFORMED;
	if (rc == CC_OK)
		memcpy(out, w.p, CC_MESSAGE_HEADER_BYTES);
	cc_w_free(&w);
	return rc;
}

int cc_message_decode(const uint8_t *p, size_t n, cc_message *out)
{
	cc_message m;
	cc_rbuf r;
	int rc;

	if (!out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (!p)
		return CC_ERR_INVALID_ARG;
	if (n > CC_MESSAGE_MAX_BYTES)
		return CC_ERR_TOO_LARGE;
	memset(&m, 0, sizeof m);
	cc_r_init(&r, p, n);
	m.h.version = cc_r_u8(&r);
	if (!r.err && m.h.version != CC_MESSAGE_VERSION)
		return CC_ERR_VERSION;
	cc_r_fixed(&r, m.h.casus_id, CC_CASUS_ID_BYTES);
	m.h.audience = cc_r_u8(&r);
	m.h.epoch = cc_r_u64(&r);
	cc_r_fixed(&r, m.h.epoch_hash, CC_HASH_BYTES);
	cc_r_fixed(&r, m.h.sender, CC_DEVICE_ID_BYTES);
	m.h.counter = cc_r_u64(&r);
	cc_r_fixed(&r, m.h.message_id, CC_MESSAGE_ID_BYTES);
	m.h.time = cc_r_i64(&r);
	m.h.ground = cc_r_u8(&r);
	cc_r_fixed(&r, m.nonce, CC_MESSAGE_NONCE_BYTES);
	cc_r_fixed(&r, m.tag, CC_MESSAGE_TAG_BYTES);
	cc_r_var32(&r, &m.ct, &m.ct_len, CC_MESSAGE_CT_MAX);
	cc_r_fixed(&r, m.sig, CC_SIG_BYTES);
	if ((rc = cc_r_finish(&r)) != CC_OK)
		return rc;
	/* Padding makes every ciphertext a whole number of blocks plus the MAC. */
	if (m.ct_len < CC_MESSAGE_PAD_BLOCK + AEAD_ABYTES || (m.ct_len - AEAD_ABYTES) % CC_MESSAGE_PAD_BLOCK != 0)
		return CC_ERR_MALFORMED;
	if (m.h.ground > CC_GROUND_MAX || m.h.counter == 0)
		return CC_ERR_MALFORMED;
	m.signed_part = p;
	m.signed_len = n - CC_SIG_BYTES;
	*out = m;
	return CC_OK;
}

static int sign_or_verify(const uint8_t *body, size_t n, uint8_t sig[CC_SIG_BYTES], const uint8_t *sk,
                          const uint8_t *pk)
{
	size_t ctxn = strlen(CTX_MSG_SIG) + 1;
	uint8_t *m = malloc(ctxn + n);
	int rc = CC_OK;
	if (!m)
		return CC_ERR_NOMEM;
	memcpy(m, CTX_MSG_SIG, ctxn);
	if (n)
		memcpy(m + ctxn, body, n);
	if (sk) {
		if (crypto_sign_detached(sig, NULL, m, ctxn + n, sk) != 0)
			rc = CC_ERR_CRYPTO;
	} else if (crypto_sign_verify_detached(sig, m, ctxn + n, pk) != 0) {
		rc = CC_ERR_BAD_SIGNATURE;
	}
	free(m);
	return rc;
}

int cc_message_verify_sig(const cc_message *m, const uint8_t sender_sign_pk[CC_SIGN_PK_BYTES])
{
	uint8_t sig[CC_SIG_BYTES];
	if (!m || !sender_sign_pk || !m->signed_part)
		return CC_ERR_INVALID_ARG;
	memcpy(sig, m->sig, CC_SIG_BYTES);
	return sign_or_verify(m->signed_part, m->signed_len, sig, NULL, sender_sign_pk);
}

int cc_message_hash(const uint8_t *p, size_t n, uint8_t out[CC_HASH_BYTES])
{
	crypto_generichash_state h;
	if (!p || !out)
		return CC_ERR_INVALID_ARG;
	if (gh_ctx(&h, NULL, 0, CTX_MSG_HASH) != CC_OK || crypto_generichash_update(&h, p, n) != 0 ||
	    crypto_generichash_final(&h, out, CC_HASH_BYTES) != 0)
		return CC_ERR_CRYPTO;
	return CC_OK;
}

int cc_message_check_ground(const cc_message_header *h, const cc_policy *policy, int sender_role, uint8_t level)
{
	if (!h || !policy)
		return CC_ERR_INVALID_ARG;
	if (h->ground > CC_GROUND_MAX)
		return CC_ERR_MALFORMED;
	if (h->ground == CC_GROUND_NONE && cc_policy_ground_required(policy, h->audience, sender_role, level))
		return CC_ERR_GROUND_REQUIRED;
	return CC_OK;
}

int cc_message_check_header(const cc_message_header *h, const cc_chain_state *st, const cc_policy *policy,
                            int *sender_index)
{
	int i, role, rc;
	if (!h || !st || !policy)
		return CC_ERR_INVALID_ARG;
	if (h->version != CC_MESSAGE_VERSION)
		return CC_ERR_VERSION;
	if (!st->started || sodium_memcmp(h->casus_id, st->casus_id, CC_CASUS_ID_BYTES) != 0)
		return CC_ERR_CHAIN;
	if (h->epoch != st->epoch || sodium_memcmp(h->epoch_hash, st->head, CC_HASH_BYTES) != 0)
		return CC_ERR_EPOCH;
	if (h->audience >= policy->naudiences)
		return CC_ERR_AUDIENCE;
	if ((i = cc_chain_find(st, h->sender)) < 0)
		return CC_ERR_NOT_MEMBER;
	if (!cc_chain_entitled(st, policy, (size_t)i, h->audience))
		return CC_ERR_AUDIENCE;
	role = cc_policy_role_index(policy, st->roster[i].cert.role);
	if ((rc = cc_message_check_ground(h, policy, role, st->level)) != CC_OK)
		return rc;
	if (sender_index)
		*sender_index = i;
	return CC_OK;
}

int cc_message_check_public(const cc_message *m, const cc_chain_state *st, const cc_policy *policy)
{
	int i = -1, rc;
	if (!m || !st || !policy)
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_message_check_header(&m->h, st, policy, &i)) != CC_OK)
		return rc;
	return cc_message_verify_sig(m, st->roster[i].cert.sign_pk);
}

int cc_message_derive_key(const uint8_t epoch_key[CC_EPOCH_KEY_BYTES], const cc_message_header *h,
                          uint8_t mk[CC_MESSAGE_KEY_BYTES])
{
	crypto_generichash_state gs;
	uint8_t hb[CC_MESSAGE_HEADER_BYTES];
	int rc;
	if (!epoch_key || !h || !mk)
		return CC_ERR_INVALID_ARG;
	if ((rc = header_bytes(h, hb)) != CC_OK)
		return rc;
	if ((rc = gh_ctx(&gs, epoch_key, CC_EPOCH_KEY_BYTES, CTX_MSG_KEY)) == CC_OK &&
	    (crypto_generichash_update(&gs, hb, sizeof hb) != 0 ||
	     crypto_generichash_final(&gs, mk, CC_MESSAGE_KEY_BYTES) != 0))
		rc = CC_ERR_CRYPTO;
	sodium_memzero(&gs, sizeof gs);
	return rc;
}

/* AEAD key and key-commitment tag, both from mk (never used directly). */
static int derive_aead_and_tag(const uint8_t mk[CC_MESSAGE_KEY_BYTES], const uint8_t hb[CC_MESSAGE_HEADER_BYTES],
                               const uint8_t nonce[CC_MESSAGE_NONCE_BYTES], uint8_t *aead_key,
                               uint8_t tag[CC_MESSAGE_TAG_BYTES])
{
	crypto_generichash_state gs;
	int rc = CC_OK;
	if (gh_ctx(&gs, mk, CC_MESSAGE_KEY_BYTES, CTX_MSG_AEAD) != CC_OK ||
	    crypto_generichash_final(&gs, aead_key, crypto_aead_xchacha20poly1305_ietf_KEYBYTES) != 0)
		rc = CC_ERR_CRYPTO;
	else if (gh_ctx(&gs, mk, CC_MESSAGE_KEY_BYTES, CTX_MSG_COMMIT) != CC_OK ||
	         crypto_generichash_update(&gs, hb, CC_MESSAGE_HEADER_BYTES) != 0 ||
	         crypto_generichash_update(&gs, nonce, CC_MESSAGE_NONCE_BYTES) != 0 ||
	         crypto_generichash_final(&gs, tag, CC_MESSAGE_TAG_BYTES) != 0)
		rc = CC_ERR_CRYPTO;
	sodium_memzero(&gs, sizeof gs);
	return rc;
}

int cc_message_seal(const cc_message_header *h, const uint8_t mk[CC_MESSAGE_KEY_BYTES], const cc_device_keys *sender,
                    const uint8_t *pt, size_t pt_len, cc_wbuf *out)
{
	uint8_t hb[CC_MESSAGE_HEADER_BYTES];
	uint8_t nonce[CC_MESSAGE_NONCE_BYTES];
	uint8_t tag[CC_MESSAGE_TAG_BYTES];
	uint8_t sig[CC_SIG_BYTES];
	uint8_t aead_key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES]; /* wiped below */
	uint8_t *padded = NULL, *ct = NULL;
	size_t padded_cap, padded_len = 0;
	unsigned long long ct_len = 0;
	cc_wbuf w;
	int rc;

	cc_w_init(&w);
	if (!h || !mk || !sender || (!pt && pt_len) || !out)
		return CC_ERR_INVALID_ARG;
	if (pt_len > CC_MESSAGE_PLAINTEXT_MAX)
		return CC_ERR_TOO_LARGE;
	if (h->version != CC_MESSAGE_VERSION || h->ground > CC_GROUND_MAX || h->counter == 0 ||
	    memcmp(h->sender, sender->device_id, CC_DEVICE_ID_BYTES) != 0)
		return CC_ERR_INVALID_ARG;
	if ((rc = header_bytes(h, hb)) != CC_OK)
		return rc;
	padded_cap = pt_len + CC_MESSAGE_PAD_BLOCK;
	padded = malloc(padded_cap); /* transient plaintext copy: wiped before free */
	ct = malloc(padded_cap + AEAD_ABYTES);
	if (!padded || !ct) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	/* A fresh random 192-bit nonce per message: safe even when a device's
	 * state is restored from a backup and its counter repeats. */
	randombytes_buf(nonce, sizeof nonce);
	if ((rc = derive_aead_and_tag(mk, hb, nonce, aead_key, tag)) != CC_OK)
		goto out;
	if (pt_len)
		memcpy(padded, pt, pt_len);
	if (sodium_pad(&padded_len, padded, pt_len, CC_MESSAGE_PAD_BLOCK, padded_cap) != 0) {
		rc = CC_ERR_CRYPTO;
		goto out;
	}
	if (crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ct_len, padded, padded_len, hb, sizeof hb, NULL, nonce,
	                                               aead_key) != 0) {
		rc = CC_ERR_CRYPTO;
		goto out;
	}
	cc_w_fixed(&w, hb, sizeof hb);
	cc_w_fixed(&w, nonce, sizeof nonce);
	cc_w_fixed(&w, tag, sizeof tag);
	cc_w_var32(&w, ct, (size_t)ct_len);
	if ((rc = w.err) != CC_OK)
		goto out;
	if ((rc = sign_or_verify(w.p, w.len, sig, sender->sign_sk, NULL)) != CC_OK)
		goto out;
	cc_w_fixed(&w, sig, sizeof sig);
	cc_w_fixed(out, w.p, w.len);
	rc = w.err ? w.err : out->err;
out:
	sodium_memzero(aead_key, sizeof aead_key);
	if (padded) {
		sodium_memzero(padded, padded_cap);
		free(padded);
	}
	free(ct);
	cc_w_free(&w);
	return rc;
}

int cc_message_open(const cc_message *m, const uint8_t sender_sign_pk[CC_SIGN_PK_BYTES],
                    const uint8_t mk[CC_MESSAGE_KEY_BYTES], cc_wbuf *pt_out)
{
	uint8_t hb[CC_MESSAGE_HEADER_BYTES];
	uint8_t tag[CC_MESSAGE_TAG_BYTES];
	uint8_t aead_key[crypto_aead_xchacha20poly1305_ietf_KEYBYTES]; /* wiped below */
	uint8_t *padded = NULL;
	unsigned long long padded_len = 0;
	size_t unpadded = 0;
	int rc;

	if (!m || !sender_sign_pk || !mk || !pt_out || !m->ct)
		return CC_ERR_INVALID_ARG;
	/* 1. Who wrote it: signature over header, nonce, tag and ciphertext. */
	if ((rc = cc_message_verify_sig(m, sender_sign_pk)) != CC_OK)
		return rc;
	if ((rc = header_bytes(&m->h, hb)) != CC_OK)
		return rc;
	if (m->ct_len < AEAD_ABYTES)
		return CC_ERR_MALFORMED;
	padded = malloc(m->ct_len); /* transient plaintext: wiped before free */
	if (!padded) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	/* 2. Key commitment, in constant time, before any decryption. */
	if ((rc = derive_aead_and_tag(mk, hb, m->nonce, aead_key, tag)) != CC_OK)
		goto out;
	if (sodium_memcmp(tag, m->tag, CC_MESSAGE_TAG_BYTES) != 0) {
		rc = CC_ERR_KEY_COMMITMENT;
		goto out;
	}
	/* 3. AEAD with the header as additional data. */
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(padded, &padded_len, NULL, m->ct, m->ct_len, hb, sizeof hb,
	                                               m->nonce, aead_key) != 0) {
		rc = CC_ERR_DECRYPT;
		goto out;
	}
	if (sodium_unpad(&unpadded, padded, (size_t)padded_len, CC_MESSAGE_PAD_BLOCK) != 0) {
		rc = CC_ERR_MALFORMED;
		goto out;
	}
	cc_w_fixed(pt_out, padded, unpadded);
	rc = pt_out->err;
out:
	sodium_memzero(aead_key, sizeof aead_key);
	if (padded) {
		sodium_memzero(padded, m->ct_len);
		free(padded);
	}
	sodium_memzero(tag, sizeof tag);
	return rc;
}

/* ---- replay and ordering tracker --------------------------------------------- */

typedef struct replay_counter {
	uint8_t sender[CC_DEVICE_ID_BYTES];
	uint64_t epoch;
	uint8_t audience;
	uint64_t counter;
} replay_counter;

struct cc_replay {
	uint8_t sipkey[crypto_shorthash_KEYBYTES]; /* random: ids are attacker-chosen */
	uint8_t (*ids)[CC_MESSAGE_ID_BYTES];       /* open addressing; all-zero = empty */
	size_t cap, n;
	int have_zero_id; /* the all-zero id, stored out of band */
	replay_counter *ctr;
	size_t nctr, capctr;
};

int cc_replay_new(cc_replay **out)
{
	cc_replay *r;
	if (!out)
		return CC_ERR_INVALID_ARG;
	*out = NULL;
	r = calloc(1, sizeof *r);
	if (!r)
		return CC_ERR_NOMEM;
	randombytes_buf(r->sipkey, sizeof r->sipkey);
	r->cap = 64;
	r->ids = calloc(r->cap, CC_MESSAGE_ID_BYTES);
	if (!r->ids) {
		free(r);
		return CC_ERR_NOMEM;
	}
	*out = r;
	return CC_OK;
}

void cc_replay_free(cc_replay *r)
{
	if (!r)
		return;
	free(r->ids);
	free(r->ctr);
	free(r);
}

static size_t slot_of(const cc_replay *r, const uint8_t id[CC_MESSAGE_ID_BYTES])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v = 0;
	crypto_shorthash(h, id, CC_MESSAGE_ID_BYTES, r->sipkey);
	for (size_t i = 0; i < sizeof h; i++)
		v = v << 8 | h[i];
	return (size_t)(v & (r->cap - 1));
}

static int id_seen(const cc_replay *r, const uint8_t id[CC_MESSAGE_ID_BYTES])
{
	if (sodium_is_zero(id, CC_MESSAGE_ID_BYTES))
		return r->have_zero_id;
	for (size_t s = slot_of(r, id);; s = (s + 1) & (r->cap - 1)) {
		if (sodium_is_zero(r->ids[s], CC_MESSAGE_ID_BYTES))
			return 0;
		if (memcmp(r->ids[s], id, CC_MESSAGE_ID_BYTES) == 0)
			return 1;
	}
}

static void id_put(cc_replay *r, const uint8_t id[CC_MESSAGE_ID_BYTES])
{
	size_t s = slot_of(r, id);
	while (!sodium_is_zero(r->ids[s], CC_MESSAGE_ID_BYTES))
		s = (s + 1) & (r->cap - 1);
	memcpy(r->ids[s], id, CC_MESSAGE_ID_BYTES);
	r->n++;
}

static replay_counter *find_counter(const cc_replay *r, const cc_message_header *h)
{
	for (size_t i = 0; i < r->nctr; i++)
		if (r->ctr[i].epoch == h->epoch && r->ctr[i].audience == h->audience &&
		    memcmp(r->ctr[i].sender, h->sender, CC_DEVICE_ID_BYTES) == 0)
			return &r->ctr[i];
	return NULL;
}

int cc_replay_check(const cc_replay *r, const cc_message_header *h)
{
	const replay_counter *c;
	if (!r || !h)
		return CC_ERR_INVALID_ARG;
	if (id_seen(r, h->message_id))
		return CC_ERR_REPLAY;
	c = find_counter(r, h);
	if (c && h->counter <= c->counter)
		return CC_ERR_COUNTER;
	return CC_OK;
}

int cc_replay_record(cc_replay *r, const cc_message_header *h)
{
	replay_counter *c;
	if (!r || !h)
		return CC_ERR_INVALID_ARG;
	if (sodium_is_zero(h->message_id, CC_MESSAGE_ID_BYTES)) {
		r->have_zero_id = 1;
	} else if (!id_seen(r, h->message_id)) {
		if ((r->n + 1) * 2 > r->cap) { /* keep the table at most half full */
			size_t ncap = r->cap * 2;
			uint8_t(*old)[CC_MESSAGE_ID_BYTES] = r->ids;
			size_t ocap = r->cap;
			uint8_t(*nids)[CC_MESSAGE_ID_BYTES] = calloc(ncap, CC_MESSAGE_ID_BYTES);
			if (!nids)
				return CC_ERR_NOMEM;
			r->ids = nids;
			r->cap = ncap;
			r->n = 0;
			for (size_t i = 0; i < ocap; i++)
				if (!sodium_is_zero(old[i], CC_MESSAGE_ID_BYTES))
					id_put(r, old[i]);
			free(old);
		}
		id_put(r, h->message_id);
	}
	c = find_counter(r, h);
	if (!c) {
		if (r->nctr == r->capctr) {
			size_t ncap = r->capctr ? r->capctr * 2 : 16;
			replay_counter *nc = realloc(r->ctr, ncap * sizeof *nc);
			if (!nc)
				return CC_ERR_NOMEM;
			r->ctr = nc;
			r->capctr = ncap;
		}
		c = &r->ctr[r->nctr++];
		memcpy(c->sender, h->sender, CC_DEVICE_ID_BYTES);
		c->epoch = h->epoch;
		c->audience = h->audience;
		c->counter = 0;
	}
	if (h->counter > c->counter)
		c->counter = h->counter;
	return CC_OK;
}
