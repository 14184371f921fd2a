/*
 * cc_audit.c: audit entries, their hash chain, signed checkpoints and the
 * streaming verifier (see cc_audit.h for the formats and docs/AUDIT.md for
 * what each fault means to a privacy officer).
 *
 * Pure code: no I/O, no clock, no storage. casusd calls the writer side inside
 * its LMDB write transaction; `casus audit verify` feeds the verifier from a
 * JSON-lines export or an LMDB backup.
 */
#include "cc_audit.h"
#include "cc_buf.h"
#include "cc_err.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

/* ---- names -------------------------------------------------------------- */

struct code_name {
	unsigned code;
	const char *name;
};

static const struct code_name event_names[] = {
	{CC_AUDIT_EV_AUTH, "auth"},
	{CC_AUDIT_EV_CASUS_CREATE, "casus_create"},
	{CC_AUDIT_EV_CASUS_CLOSE, "casus_close"},
	{CC_AUDIT_EV_CASUS_LIST, "casus_list"},
	{CC_AUDIT_EV_COMMIT_ADD, "commit_add"},
	{CC_AUDIT_EV_COMMIT_REMOVE, "commit_remove"},
	{CC_AUDIT_EV_COMMIT_LEVEL, "commit_level"},
	{CC_AUDIT_EV_COMMIT_ROTATE, "commit_rotate"},
	{CC_AUDIT_EV_COMMIT_BREAK_GLASS, "commit_break_glass"},
	{CC_AUDIT_EV_MESSAGE_POST, "message_post"},
	{CC_AUDIT_EV_HISTORY_FETCH, "history_fetch"},
	{CC_AUDIT_EV_KEY_FETCH, "key_fetch"},
	{CC_AUDIT_EV_COMMIT_FETCH, "commit_fetch"},
	{CC_AUDIT_EV_GRANT, "grant"},
	{CC_AUDIT_EV_GRANT_FETCH, "grant_fetch"},
	{CC_AUDIT_EV_AUDIT_QUERY, "audit_query"},
	{CC_AUDIT_EV_EXPORT, "export"},
	{CC_AUDIT_EV_PURGE, "purge"},
	{CC_AUDIT_EV_AUDIT_PRUNE, "audit_prune"},
	{CC_AUDIT_EV_CONFIG_CHANGE, "config_change"},
	{CC_AUDIT_EV_POLICY_CHANGE, "policy_change"},
	{CC_AUDIT_EV_CERT_ENROL, "cert_enrol"},
	{CC_AUDIT_EV_CERT_REVOKE, "cert_revoke"},
	{CC_AUDIT_EV_SERVER_START, "server_start"},
	{CC_AUDIT_EV_SERVER_STOP, "server_stop"},
	{CC_AUDIT_EV_SEGMENT, "segment"},
	{CC_AUDIT_EV_AUDIT_COSIGN, "audit_cosign"},
	{CC_AUDIT_EV_REQUEST_DENIED, "request_denied"},
	{CC_AUDIT_EV_OVERVIEW, "overview"},
	{CC_AUDIT_EV_MONITOR, "monitor"},
	{CC_AUDIT_EV_STAGNATION, "stagnation_notice"},
	{CC_AUDIT_EV_AGENDA, "agenda_plan"},
	{CC_AUDIT_EV_ACTION, "action_disclose"},
};

static const struct code_name outcome_names[] = {
	{CC_AUDIT_OUTCOME_SUCCESS, "success"},
	{CC_AUDIT_OUTCOME_DENIED, "denied"},
	{CC_AUDIT_OUTCOME_ERROR, "error"},
};

static const struct code_name ground_names[] = {
	{0, "none"},         {1, "consent"}, {2, "legal_duty"}, {3, "conflict_of_duties"}, {4, "right_to_report"},
	{5, "no_care_info"},
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *lookup_name(const struct code_name *t, size_t n, unsigned code)
{
	for (size_t i = 0; i < n; i++)
		if (t[i].code == code)
			return t[i].name;
	return NULL;
}

static int lookup_code(const struct code_name *t, size_t n, const char *name)
{
	if (!name)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].name, name) == 0)
			return (int)t[i].code;
	return -1;
}

const char *cc_audit_event_name(unsigned event)
{
	return lookup_name(event_names, NELEM(event_names), event);
}

int cc_audit_event_from_name(const char *name)
{
	return lookup_code(event_names, NELEM(event_names), name);
}

const char *cc_audit_outcome_name(unsigned outcome)
{
	return lookup_name(outcome_names, NELEM(outcome_names), outcome);
}

int cc_audit_outcome_from_name(const char *name)
{
	return lookup_code(outcome_names, NELEM(outcome_names), name);
}

const char *cc_audit_ground_name(unsigned ground)
{
	return lookup_name(ground_names, NELEM(ground_names), ground);
}

int cc_audit_ground_from_name(const char *name)
{
	return lookup_code(ground_names, NELEM(ground_names), name);
}

/* ---- strings ------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at p (at most n bytes available) that
 * is not a control character, or 0 if there is none. Rejects overlong forms,
 * surrogates and code points above U+10FFFF, C0 controls, DEL and C1 controls. */
static size_t utf8_char(const uint8_t *p, size_t n)
{
	uint8_t c = p[0];
	if (c < 0x20 || c == 0x7f)
		return 0;
	if (c < 0x80)
		return 1;
	size_t len;
	uint32_t cp;
	if (c >= 0xc2 && c <= 0xdf) {
		len = 2;
		cp = c & 0x1fu;
	} else if (c >= 0xe0 && c <= 0xef) {
		len = 3;
		cp = c & 0x0fu;
	} else if (c >= 0xf0 && c <= 0xf4) {
		len = 4;
		cp = c & 0x07u;
	} else {
		return 0;
	}
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	if (cp >= 0xd800 && cp <= 0xdfff)
		return 0;
	if (cp >= 0x80 && cp <= 0x9f) /* C1 controls */
		return 0;
	return len;
}

static int str_valid(const char *s, size_t max)
{
	const uint8_t *p = (const uint8_t *)s;
	size_t n = strlen(s);
	if (n > max)
		return CC_ERR_TOO_LARGE;
	size_t i = 0;
	while (i < n) {
		size_t l = utf8_char(p + i, n - i);
		if (!l)
			return CC_ERR_MALFORMED;
		i += l;
	}
	return CC_OK;
}

int cc_audit_str_copy(char *dst, size_t cap, const char *src)
{
	if (!dst || cap == 0)
		return 1;
	dst[0] = '\0';
	if (!src)
		return 0;
	const uint8_t *p = (const uint8_t *)src;
	size_t n = strlen(src), i = 0, o = 0;
	int changed = 0;
	while (i < n) {
		size_t l = utf8_char(p + i, n - i);
		size_t w = l ? l : 1;
		if (o + w > cap - 1) {
			changed = 1;
			break;
		}
		if (l) {
			memcpy(dst + o, p + i, l);
			i += l;
		} else {
			dst[o] = '?';
			changed = 1;
			i++;
		}
		o += w;
	}
	dst[o] = '\0';
	return changed;
}

/* ---- entries ------------------------------------------------------------ */

void cc_audit_entry_init(cc_audit_entry *e)
{
	memset(e, 0, sizeof(*e));
	e->version = CC_AUDIT_VERSION;
}

/* The checks shared by encoder and decoder, so that decode(encode(e)) works
 * and every decodable byte string re-encodes to itself. */
static int entry_check(const cc_audit_entry *e)
{
	if (e->version != CC_AUDIT_VERSION)
		return CC_ERR_VERSION;
	if (e->seq == 0 || e->event == 0 || e->outcome > CC_AUDIT_OUTCOME_MAX || e->ground > CC_AUDIT_GROUND_MAX ||
	    e->break_glass > 1 || e->seq_from > e->seq_to)
		return CC_ERR_MALFORMED;
	if (e->n_msg_ids > CC_AUDIT_MSG_IDS_MAX)
		return CC_ERR_TOO_LARGE;
	const struct {
		const char *s;
		size_t max;
	} strs[] = {
		{e->actor_user, CC_AUDIT_USER_MAX}, {e->actor_role, CC_AUDIT_ROLE_MAX},
		{e->actor_org, CC_AUDIT_ORG_MAX},   {e->on_behalf_of, CC_AUDIT_BEHALF_MAX},
		{e->purpose, CC_AUDIT_PURPOSE_MAX}, {e->legal_basis, CC_AUDIT_LEGAL_BASIS_MAX},
		{e->object, CC_AUDIT_OBJECT_MAX},   {e->access_point, CC_AUDIT_ACCESS_POINT_MAX},
		{e->reason, CC_AUDIT_REASON_MAX},   {e->error, CC_AUDIT_ERROR_MAX},
	};
	for (size_t i = 0; i < NELEM(strs); i++) {
		/* The arrays are one longer than the cap; a missing NUL is a caller bug. */
		if (!memchr(strs[i].s, 0, strs[i].max + 1))
			return CC_ERR_TOO_LARGE;
		int rc = str_valid(strs[i].s, strs[i].max);
		if (rc)
			return rc;
	}
	return CC_OK;
}

int cc_audit_entry_encode(const cc_audit_entry *e, cc_wbuf *w)
{
	if (!e || !w)
		return CC_ERR_INVALID_ARG;
	int rc = entry_check(e);
	if (rc)
		return rc;
	cc_w_u8(w, e->version);
	cc_w_u64(w, e->seq);
	cc_w_i64(w, e->time_ms);
	cc_w_u16(w, e->event);
	cc_w_u8(w, e->outcome);
	cc_w_str(w, e->actor_user);
	cc_w_fixed(w, e->actor_device, CC_AUDIT_ID_BYTES);
	cc_w_str(w, e->actor_role);
	cc_w_str(w, e->actor_org);
	cc_w_str(w, e->on_behalf_of);
	cc_w_fixed(w, e->casus_id, CC_AUDIT_ID_BYTES);
	cc_w_str(w, e->purpose);
	cc_w_str(w, e->legal_basis);
	cc_w_u8(w, e->level);
	cc_w_u8(w, e->level_prev);
	cc_w_u8(w, e->ground);
	cc_w_u8(w, e->break_glass ? CC_AUDIT_FLAG_BREAK_GLASS : 0);
	cc_w_u64(w, e->seq_from);
	cc_w_u64(w, e->seq_to);
	cc_w_u8(w, e->n_msg_ids);
	for (unsigned i = 0; i < e->n_msg_ids; i++)
		cc_w_fixed(w, e->msg_ids[i], CC_AUDIT_ID_BYTES);
	cc_w_str(w, e->object);
	cc_w_str(w, e->access_point);
	cc_w_str(w, e->reason);
	cc_w_str(w, e->error);
	return w->err;
}

int cc_audit_entry_decode(const uint8_t *p, size_t n, cc_audit_entry *out)
{
	if (!out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (!p && n)
		return CC_ERR_INVALID_ARG;
	if (n > CC_AUDIT_ENTRY_MAX)
		return CC_ERR_TOO_LARGE;
	cc_rbuf r;
	cc_r_init(&r, p, n);
	out->version = cc_r_u8(&r);
	if (!r.err && out->version != CC_AUDIT_VERSION) {
		memset(out, 0, sizeof(*out));
		return CC_ERR_VERSION;
	}
	out->seq = cc_r_u64(&r);
	out->time_ms = cc_r_i64(&r);
	out->event = cc_r_u16(&r);
	out->outcome = cc_r_u8(&r);
	cc_r_str(&r, out->actor_user, sizeof out->actor_user);
	cc_r_fixed(&r, out->actor_device, CC_AUDIT_ID_BYTES);
	cc_r_str(&r, out->actor_role, sizeof out->actor_role);
	cc_r_str(&r, out->actor_org, sizeof out->actor_org);
	cc_r_str(&r, out->on_behalf_of, sizeof out->on_behalf_of);
	cc_r_fixed(&r, out->casus_id, CC_AUDIT_ID_BYTES);
	cc_r_str(&r, out->purpose, sizeof out->purpose);
	cc_r_str(&r, out->legal_basis, sizeof out->legal_basis);
	out->level = cc_r_u8(&r);
	out->level_prev = cc_r_u8(&r);
	out->ground = cc_r_u8(&r);
	uint8_t flags = cc_r_u8(&r);
	out->seq_from = cc_r_u64(&r);
	out->seq_to = cc_r_u64(&r);
	out->n_msg_ids = cc_r_u8(&r);
	int rc = r.err;
	if (!rc && out->n_msg_ids > CC_AUDIT_MSG_IDS_MAX)
		rc = CC_ERR_TOO_LARGE;
	if (!rc && (flags & (uint8_t)~CC_AUDIT_FLAG_BREAK_GLASS))
		rc = CC_ERR_MALFORMED;
	if (!rc) {
		out->break_glass = (flags & CC_AUDIT_FLAG_BREAK_GLASS) ? 1 : 0;
		for (unsigned i = 0; i < out->n_msg_ids; i++)
			cc_r_fixed(&r, out->msg_ids[i], CC_AUDIT_ID_BYTES);
		cc_r_str(&r, out->object, sizeof out->object);
		cc_r_str(&r, out->access_point, sizeof out->access_point);
		cc_r_str(&r, out->reason, sizeof out->reason);
		cc_r_str(&r, out->error, sizeof out->error);
		rc = cc_r_finish(&r);
	}
	if (!rc)
		rc = entry_check(out);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

int cc_audit_entry_hash(const uint8_t prev[CC_HASH_BYTES], const uint8_t *enc, size_t n, uint8_t out[CC_HASH_BYTES])
{
	if (!prev || !out || (!enc && n))
		return CC_ERR_INVALID_ARG;
	crypto_generichash_state st;
	static const char ctx[] = CC_AUDIT_ENTRY_CONTEXT;
	if (crypto_generichash_init(&st, NULL, 0, CC_HASH_BYTES) != 0 ||
	    crypto_generichash_update(&st, (const unsigned char *)ctx, sizeof ctx - 1) != 0 ||
	    crypto_generichash_update(&st, prev, CC_HASH_BYTES) != 0 || crypto_generichash_update(&st, enc, n) != 0 ||
	    crypto_generichash_final(&st, out, CC_HASH_BYTES) != 0) {
		sodium_memzero(&st, sizeof st);
		return CC_ERR_CRYPTO;
	}
	sodium_memzero(&st, sizeof st);
	return CC_OK;
}

/* ---- checkpoints -------------------------------------------------------- */

static void cp_encode_body(const cc_audit_checkpoint *cp, cc_wbuf *w)
{
	cc_w_u8(w, cp->version);
	cc_w_u64(w, cp->seq);
	cc_w_fixed(w, cp->entry_hash, CC_HASH_BYTES);
	cc_w_i64(w, cp->time_ms);
	cc_w_u64(w, cp->count);
}

/* The signed message: context || body. Fixed size, so it lives on the stack. */
#define CP_MSG_BYTES (sizeof(CC_AUDIT_CP_CONTEXT) - 1 + CC_AUDIT_CP_BYTES - CC_SIG_BYTES)

static int cp_message(const cc_audit_checkpoint *cp, uint8_t msg[CP_MSG_BYTES])
{
	if (cp->version != CC_AUDIT_CP_VERSION)
		return CC_ERR_VERSION;
	if (cp->seq == 0 || cp->count == 0 || cp->count > cp->seq)
		return CC_ERR_MALFORMED;
	cc_wbuf w;
	cc_w_init(&w);
	cc_w_fixed(&w, CC_AUDIT_CP_CONTEXT, sizeof(CC_AUDIT_CP_CONTEXT) - 1);
	cp_encode_body(cp, &w);
	int rc = w.err;
	if (!rc && w.len != CP_MSG_BYTES)
		rc = CC_ERR_MALFORMED;
	if (!rc)
		memcpy(msg, w.p, CP_MSG_BYTES);
	cc_w_free(&w);
	return rc;
}

int cc_audit_checkpoint_sign(cc_audit_checkpoint *cp, const uint8_t sk[CC_SIGN_SK_BYTES])
{
	if (!cp || !sk)
		return CC_ERR_INVALID_ARG;
	uint8_t msg[CP_MSG_BYTES];
	int rc = cp_message(cp, msg);
	if (rc)
		return rc;
	if (crypto_sign_detached(cp->sig, NULL, msg, sizeof msg, sk) != 0)
		return CC_ERR_CRYPTO;
	return CC_OK;
}

int cc_audit_checkpoint_verify(const cc_audit_checkpoint *cp, const uint8_t pk[CC_SIGN_PK_BYTES])
{
	if (!cp || !pk)
		return CC_ERR_INVALID_ARG;
	uint8_t msg[CP_MSG_BYTES];
	int rc = cp_message(cp, msg);
	if (rc)
		return rc;
	if (crypto_sign_verify_detached(cp->sig, msg, sizeof msg, pk) != 0)
		return CC_ERR_AUDIT_CHECKPOINT;
	return CC_OK;
}

int cc_audit_checkpoint_encode(const cc_audit_checkpoint *cp, cc_wbuf *w)
{
	if (!cp || !w)
		return CC_ERR_INVALID_ARG;
	if (cp->version != CC_AUDIT_CP_VERSION)
		return CC_ERR_VERSION;
	if (cp->seq == 0 || cp->count == 0 || cp->count > cp->seq)
		return CC_ERR_MALFORMED;
	cp_encode_body(cp, w);
	cc_w_fixed(w, cp->sig, CC_SIG_BYTES);
	return w->err;
}

int cc_audit_checkpoint_decode(const uint8_t *p, size_t n, cc_audit_checkpoint *out)
{
	if (!out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (!p && n)
		return CC_ERR_INVALID_ARG;
	cc_rbuf r;
	cc_r_init(&r, p, n);
	out->version = cc_r_u8(&r);
	if (!r.err && out->version != CC_AUDIT_CP_VERSION) {
		memset(out, 0, sizeof(*out));
		return CC_ERR_VERSION;
	}
	out->seq = cc_r_u64(&r);
	cc_r_fixed(&r, out->entry_hash, CC_HASH_BYTES);
	out->time_ms = cc_r_i64(&r);
	out->count = cc_r_u64(&r);
	cc_r_fixed(&r, out->sig, CC_SIG_BYTES);
	int rc = cc_r_finish(&r);
	if (!rc && (out->seq == 0 || out->count == 0 || out->count > out->seq))
		rc = CC_ERR_MALFORMED;
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ---- writer side -------------------------------------------------------- */

void cc_audit_chain_init(cc_audit_chain *c)
{
	memset(c, 0, sizeof(*c));
}

void cc_audit_chain_resume(cc_audit_chain *c, uint64_t last_seq, const uint8_t head[CC_HASH_BYTES],
                           uint64_t last_cp_seq)
{
	memset(c, 0, sizeof(*c));
	c->last_seq = last_seq;
	if (head)
		memcpy(c->head, head, CC_HASH_BYTES);
	c->last_cp_seq = last_cp_seq;
}

int cc_audit_chain_append(cc_audit_chain *c, cc_audit_entry *e, cc_wbuf *enc, uint8_t hash_out[CC_HASH_BYTES])
{
	if (!c || !e || !enc || !hash_out)
		return CC_ERR_INVALID_ARG;
	if (c->last_seq == UINT64_MAX)
		return CC_ERR_TOO_LARGE;
	uint64_t saved_seq = e->seq;
	size_t start = enc->len;
	e->seq = c->last_seq + 1;
	int rc = cc_audit_entry_encode(e, enc);
	uint8_t h[CC_HASH_BYTES];
	if (!rc)
		rc = cc_audit_entry_hash(c->head, enc->p + start, enc->len - start, h);
	if (rc) {
		e->seq = saved_seq;
		if (!enc->err)
			enc->len = start;
		return rc;
	}
	memcpy(hash_out, h, CC_HASH_BYTES);
	memcpy(c->head, h, CC_HASH_BYTES);
	c->last_seq = e->seq;
	return CC_OK;
}

int cc_audit_chain_checkpoint(cc_audit_chain *c, int64_t time_ms, const uint8_t sk[CC_SIGN_SK_BYTES],
                              cc_audit_checkpoint *out)
{
	if (!c || !sk || !out)
		return CC_ERR_INVALID_ARG;
	if (c->last_seq == 0 || c->last_seq <= c->last_cp_seq)
		return CC_ERR_INVALID_ARG;
	cc_audit_checkpoint cp;
	memset(&cp, 0, sizeof cp);
	cp.version = CC_AUDIT_CP_VERSION;
	cp.seq = c->last_seq;
	memcpy(cp.entry_hash, c->head, CC_HASH_BYTES);
	cp.time_ms = time_ms;
	cp.count = c->last_seq - c->last_cp_seq;
	int rc = cc_audit_checkpoint_sign(&cp, sk);
	if (rc)
		return rc;
	*out = cp;
	c->last_cp_seq = cp.seq;
	return CC_OK;
}

/* ---- verifier ----------------------------------------------------------- */

static int fault_err(enum cc_audit_fault f)
{
	switch (f) {
	case CC_AUDIT_FAULT_CP_SIGNATURE:
	case CC_AUDIT_FAULT_CP_MISMATCH:
	case CC_AUDIT_FAULT_CP_MISSING:
	case CC_AUDIT_FAULT_CP_MALFORMED:
	case CC_AUDIT_FAULT_CP_ORDER:
	case CC_AUDIT_FAULT_WITNESS_SIG:
	case CC_AUDIT_FAULT_WITNESS:
	case CC_AUDIT_FAULT_NOT_EXTENDING:
		return CC_ERR_AUDIT_CHECKPOINT;
	default:
		return CC_ERR_AUDIT_CHAIN;
	}
}

static int fail(cc_audit_verifier *v, enum cc_audit_fault f, uint64_t seq, uint64_t found)
{
	if (v->err)
		return v->err;
	v->err = fault_err(f);
	v->fault = f;
	v->fault_seq = seq;
	v->found_seq = found;
	v->fault_index = v->records ? v->records - 1 : 0;
	return v->err;
}

int cc_audit_verifier_init(cc_audit_verifier *v, const uint8_t pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *anchor)
{
	if (!v)
		return CC_ERR_INVALID_ARG;
	memset(v, 0, sizeof(*v));
	if (!pk) {
		v->err = CC_ERR_INVALID_ARG;
		return v->err;
	}
	memcpy(v->pk, pk, CC_SIGN_PK_BYTES);
	v->first_seq = 1;
	if (anchor) {
		if (cc_audit_checkpoint_verify(anchor, pk) != CC_OK)
			return fail(v, CC_AUDIT_FAULT_CP_SIGNATURE, anchor->seq, 0);
		memcpy(v->prev, anchor->entry_hash, CC_HASH_BYTES);
		v->last_seq = anchor->seq;
		v->first_seq = anchor->seq + 1;
		v->last_cp = *anchor;
		v->have_cp = 1;
	}
	return CC_OK;
}

/* Field by field: the struct has padding, so memcmp would not do. */
static int cp_equal(const cc_audit_checkpoint *a, const cc_audit_checkpoint *b)
{
	return a->version == b->version && a->seq == b->seq && a->time_ms == b->time_ms && a->count == b->count &&
	       memcmp(a->entry_hash, b->entry_hash, CC_HASH_BYTES) == 0 && memcmp(a->sig, b->sig, CC_SIG_BYTES) == 0;
}

/* Compare a checkpoint against the chain head, which is at cp->seq. */
static int cp_match(cc_audit_verifier *v, const cc_audit_checkpoint *cp)
{
	if (sodium_memcmp(cp->entry_hash, v->prev, CC_HASH_BYTES) != 0)
		return fail(v, CC_AUDIT_FAULT_CP_MISMATCH, cp->seq, 0);
	uint64_t since = v->have_cp ? v->last_cp.seq : 0;
	if (cp->count != cp->seq - since)
		return fail(v, CC_AUDIT_FAULT_CP_MISSING, cp->seq, since);
	v->last_cp = *cp;
	v->have_cp = 1;
	v->checkpoints++;
	return CC_OK;
}

/* Resolve waiting checkpoints that the chain has now reached. */
static int resolve_pending(cc_audit_verifier *v)
{
	while (v->npending && v->pending[0].seq == v->last_seq) {
		cc_audit_checkpoint cp = v->pending[0];
		memmove(&v->pending[0], &v->pending[1], (v->npending - 1) * sizeof(v->pending[0]));
		v->npending--;
		int rc = cp_match(v, &cp);
		if (rc)
			return rc;
	}
	return CC_OK;
}

int cc_audit_verifier_entry(cc_audit_verifier *v, const uint8_t *entry, size_t len, const uint8_t *stored_hash)
{
	if (!v)
		return CC_ERR_INVALID_ARG;
	if (v->finished)
		return v->err ? v->err : CC_ERR_INVALID_ARG;
	v->records++;
	uint64_t expect = v->last_seq + 1;
	if (v->err) {
		/* Failed already: only tell a deletion apart from a reorder, by
		 * watching for the "missing" entry further down the stream. */
		if (v->fault == CC_AUDIT_FAULT_GAP) {
			cc_audit_entry e;
			if (cc_audit_entry_decode(entry, len, &e) == CC_OK && e.seq == v->fault_seq)
				v->fault = CC_AUDIT_FAULT_ORDER;
		}
		return v->err;
	}
	cc_audit_entry e;
	if (cc_audit_entry_decode(entry, len, &e) != CC_OK)
		return fail(v, CC_AUDIT_FAULT_MALFORMED, expect, 0);
	if (e.seq > expect)
		return fail(v, CC_AUDIT_FAULT_GAP, expect, e.seq);
	if (e.seq < expect)
		return fail(v, CC_AUDIT_FAULT_ORDER, expect, e.seq);
	uint8_t h[CC_HASH_BYTES];
	if (cc_audit_entry_hash(v->prev, entry, len, h) != CC_OK)
		return fail(v, CC_AUDIT_FAULT_MALFORMED, expect, e.seq);
	if (stored_hash && sodium_memcmp(h, stored_hash, CC_HASH_BYTES) != 0)
		return fail(v, CC_AUDIT_FAULT_HASH, expect, e.seq);
	if (e.event == CC_AUDIT_EV_SEGMENT) {
		/* a segment anchor names the head it continues from and the old
		 * segment's last checkpoint: both must be what this walk saw */
		uint64_t last_cp = v->have_cp ? v->last_cp.seq : 0;
		if (e.seq_to != e.seq - 1 || e.seq_from != last_cp || e.n_msg_ids != 2 ||
		    sodium_memcmp(e.msg_ids[0], v->prev, CC_AUDIT_ID_BYTES) != 0 ||
		    sodium_memcmp(e.msg_ids[1], v->prev + CC_AUDIT_ID_BYTES, CC_AUDIT_ID_BYTES) != 0)
			return fail(v, CC_AUDIT_FAULT_SEGMENT, e.seq, 0);
		v->segments++;
		v->segment_seq = e.seq;
		v->segment_from = e.seq_to;
	}
	memcpy(v->prev, h, CC_HASH_BYTES);
	v->last_seq = e.seq;
	v->last_time_ms = e.time_ms;
	v->entries++;
	return resolve_pending(v);
}

int cc_audit_verifier_checkpoint(cc_audit_verifier *v, const uint8_t *bytes, size_t len)
{
	if (!v)
		return CC_ERR_INVALID_ARG;
	if (v->finished)
		return v->err ? v->err : CC_ERR_INVALID_ARG;
	v->records++;
	if (v->err)
		return v->err;
	cc_audit_checkpoint cp;
	if (cc_audit_checkpoint_decode(bytes, len, &cp) != CC_OK)
		return fail(v, CC_AUDIT_FAULT_CP_MALFORMED, v->last_seq, 0);
	if (cc_audit_checkpoint_verify(&cp, v->pk) != CC_OK)
		return fail(v, CC_AUDIT_FAULT_CP_SIGNATURE, cp.seq, 0);
	/* The same checkpoint again (an anchor that is also in the stream, or a
	 * checkpoint remembered from an earlier run) is harmless. */
	if (v->have_cp && cp.seq == v->last_cp.seq) {
		if (cp_equal(&cp, &v->last_cp))
			return CC_OK;
		return fail(v, CC_AUDIT_FAULT_CP_ORDER, cp.seq, 0);
	}
	if (cp.seq == v->last_seq) /* waiting ones are all further ahead */
		return cp_match(v, &cp);
	if (cp.seq > v->last_seq) {
		/* Ahead of the chain: wait for its entry, keeping the list sorted. */
		unsigned i = v->npending;
		while (i > 0 && v->pending[i - 1].seq > cp.seq)
			i--;
		if (i > 0 && v->pending[i - 1].seq == cp.seq) {
			if (cp_equal(&v->pending[i - 1], &cp))
				return CC_OK;
			return fail(v, CC_AUDIT_FAULT_CP_ORDER, cp.seq, 0);
		}
		if (v->npending == CC_AUDIT_PENDING_MAX)
			return fail(v, CC_AUDIT_FAULT_CP_ORDER, cp.seq, 0);
		memmove(&v->pending[i + 1], &v->pending[i], (v->npending - i) * sizeof(v->pending[0]));
		v->pending[i] = cp;
		v->npending++;
		return CC_OK;
	}
	/* Behind the chain: we no longer hold the hash it seals. */
	return fail(v, CC_AUDIT_FAULT_CP_ORDER, cp.seq, v->last_seq);
}

int cc_audit_verifier_finish(cc_audit_verifier *v)
{
	if (!v)
		return CC_ERR_INVALID_ARG;
	if (!v->finished) {
		v->finished = 1;
		if (!v->err && v->npending) {
			v->records++;
			fail(v, CC_AUDIT_FAULT_TAIL_CUT, v->last_seq + 1, v->pending[v->npending - 1].seq);
		}
	}
	return v->err;
}

uint64_t cc_audit_verifier_unsealed(const cc_audit_verifier *v)
{
	uint64_t sealed = v->have_cp ? v->last_cp.seq : 0;
	return v->last_seq > sealed ? v->last_seq - sealed : 0;
}

const char *cc_audit_fault_name(enum cc_audit_fault f)
{
	switch (f) {
	case CC_AUDIT_FAULT_NONE:
		return "none";
	case CC_AUDIT_FAULT_MALFORMED:
		return "malformed";
	case CC_AUDIT_FAULT_HASH:
		return "hash_mismatch";
	case CC_AUDIT_FAULT_GAP:
		return "gap";
	case CC_AUDIT_FAULT_ORDER:
		return "order";
	case CC_AUDIT_FAULT_TAIL_CUT:
		return "tail_cut";
	case CC_AUDIT_FAULT_CP_SIGNATURE:
		return "checkpoint_signature";
	case CC_AUDIT_FAULT_CP_MISMATCH:
		return "checkpoint_mismatch";
	case CC_AUDIT_FAULT_CP_MISSING:
		return "checkpoint_missing";
	case CC_AUDIT_FAULT_CP_MALFORMED:
		return "checkpoint_malformed";
	case CC_AUDIT_FAULT_CP_ORDER:
		return "checkpoint_order";
	case CC_AUDIT_FAULT_SEGMENT:
		return "segment_mismatch";
	case CC_AUDIT_FAULT_WITNESS_SIG:
		return "witness_signature";
	case CC_AUDIT_FAULT_WITNESS:
		return "witness_mismatch";
	case CC_AUDIT_FAULT_NOT_EXTENDING:
		return "not_extending";
	}
	return "unknown";
}

const char *cc_audit_fault_text(enum cc_audit_fault f)
{
	switch (f) {
	case CC_AUDIT_FAULT_NONE:
		return "the audit trail is intact";
	case CC_AUDIT_FAULT_MALFORMED:
		return "an entry does not decode: its bytes were changed";
	case CC_AUDIT_FAULT_HASH:
		return "an entry's hash does not match: its bytes were changed or it does not follow the previous entry";
	case CC_AUDIT_FAULT_GAP:
		return "the sequence jumps: one or more entries were deleted";
	case CC_AUDIT_FAULT_ORDER:
		return "entries are out of order: swapped, moved or duplicated";
	case CC_AUDIT_FAULT_TAIL_CUT:
		return "a signed checkpoint seals entries that are missing: the end of the trail was cut off";
	case CC_AUDIT_FAULT_CP_SIGNATURE:
		return "a checkpoint is not signed by the audit key: forged or altered";
	case CC_AUDIT_FAULT_CP_MISMATCH:
		return "a signed checkpoint does not match the chain: an entry up to it was changed, inserted or removed";
	case CC_AUDIT_FAULT_CP_MISSING:
		return "a checkpoint's count does not match: a checkpoint was removed";
	case CC_AUDIT_FAULT_CP_MALFORMED:
		return "a checkpoint does not decode";
	case CC_AUDIT_FAULT_CP_ORDER:
		return "a checkpoint is out of place, or two differ for one entry";
	case CC_AUDIT_FAULT_SEGMENT:
		return "a segment anchor (restore) does not name the chain it continues: altered or forged";
	case CC_AUDIT_FAULT_WITNESS_SIG:
		return "a witness countersignature does not verify, or names another audit trail";
	case CC_AUDIT_FAULT_WITNESS:
		return "a checkpoint a witness countersigned was replaced: the trail was rewritten and re-signed "
		       "after the witness saw it";
	case CC_AUDIT_FAULT_NOT_EXTENDING:
		return "the trail does not extend the checkpoint you remembered or witnessed: it was pruned or "
		       "rewritten past it without proof";
	}
	return "unknown fault";
}

/* ---- segments and witnesses --------------------------------------------- */

void cc_audit_segment_fill(cc_audit_entry *e, const cc_audit_chain *c)
{
	e->event = CC_AUDIT_EV_SEGMENT;
	e->seq_from = c->last_cp_seq;
	e->seq_to = c->last_seq;
	e->n_msg_ids = 2;
	memcpy(e->msg_ids[0], c->head, CC_AUDIT_ID_BYTES);
	memcpy(e->msg_ids[1], c->head + CC_AUDIT_ID_BYTES, CC_AUDIT_ID_BYTES);
	char hex[2 * CC_HASH_BYTES + 1];
	sodium_bin2hex(hex, sizeof hex, c->head, CC_HASH_BYTES);
	snprintf(e->object, sizeof e->object,
	         "segment after a restore: continues from seq %llu (checkpoint %llu) head %s",
	         (unsigned long long)c->last_seq, (unsigned long long)c->last_cp_seq, hex);
	snprintf(e->reason, sizeof e->reason, "restored from a backup");
}

static void cosign_body(const cc_audit_cosign *c, cc_wbuf *w)
{
	cc_w_u8(w, c->version);
	cc_w_fixed(w, c->audit_pk, CC_SIGN_PK_BYTES);
	cc_w_u64(w, c->seq);
	cc_w_fixed(w, c->entry_hash, CC_HASH_BYTES);
	cc_w_i64(w, c->time_ms);
	cc_w_fixed(w, c->device, CC_AUDIT_ID_BYTES);
	cc_w_fixed(w, c->witness_pk, CC_SIGN_PK_BYTES);
	cc_w_str(w, c->user);
}

static int cosign_user_ok(const char *u)
{
	size_t n = strlen(u);
	if (n == 0 || n > CC_AUDIT_USER_MAX)
		return 0;
	char tmp[CC_AUDIT_USER_MAX + 1];
	return cc_audit_str_copy(tmp, sizeof tmp, u) == 0;
}

int cc_audit_cosign_make(cc_audit_cosign *out, const uint8_t audit_pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *cp,
                         int64_t time_ms, const uint8_t device[CC_AUDIT_ID_BYTES],
                         const uint8_t witness_pk[CC_SIGN_PK_BYTES], const char *user,
                         const uint8_t witness_sk[CC_SIGN_SK_BYTES])
{
	if (!out || !audit_pk || !cp || !device || !witness_pk || !user || !witness_sk || !cosign_user_ok(user))
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	out->version = CC_AUDIT_COSIGN_VERSION;
	memcpy(out->audit_pk, audit_pk, CC_SIGN_PK_BYTES);
	out->seq = cp->seq;
	memcpy(out->entry_hash, cp->entry_hash, CC_HASH_BYTES);
	out->time_ms = time_ms;
	memcpy(out->device, device, CC_AUDIT_ID_BYTES);
	memcpy(out->witness_pk, witness_pk, CC_SIGN_PK_BYTES);
	snprintf(out->user, sizeof out->user, "%s", user);
	cc_wbuf w;
	cc_w_init(&w);
	cosign_body(out, &w);
	int rc = w.err ? CC_ERR_NOMEM : cc_sign_ctx(witness_sk, CC_AUDIT_COSIGN_CONTEXT, w.p, w.len, out->sig);
	cc_w_free(&w);
	return rc;
}

int cc_audit_cosign_encode(const cc_audit_cosign *c, cc_wbuf *w)
{
	if (!c || !w || c->version != CC_AUDIT_COSIGN_VERSION || c->seq == 0 || !cosign_user_ok(c->user))
		return CC_ERR_INVALID_ARG;
	cosign_body(c, w);
	cc_w_fixed(w, c->sig, CC_SIG_BYTES);
	return w->err ? CC_ERR_NOMEM : CC_OK;
}

int cc_audit_cosign_decode(const uint8_t *p, size_t n, cc_audit_cosign *out)
{
	if (!out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (!p || n > CC_AUDIT_COSIGN_MAX)
		return CC_ERR_MALFORMED;
	cc_rbuf r;
	cc_r_init(&r, p, n);
	out->version = cc_r_u8(&r);
	cc_r_fixed(&r, out->audit_pk, CC_SIGN_PK_BYTES);
	out->seq = cc_r_u64(&r);
	cc_r_fixed(&r, out->entry_hash, CC_HASH_BYTES);
	out->time_ms = cc_r_i64(&r);
	cc_r_fixed(&r, out->device, CC_AUDIT_ID_BYTES);
	cc_r_fixed(&r, out->witness_pk, CC_SIGN_PK_BYTES);
	cc_r_str(&r, out->user, sizeof out->user);
	cc_r_fixed(&r, out->sig, CC_SIG_BYTES);
	if (cc_r_finish(&r) != CC_OK || out->version != CC_AUDIT_COSIGN_VERSION || out->seq == 0 ||
	    !cosign_user_ok(out->user)) {
		memset(out, 0, sizeof(*out));
		return CC_ERR_MALFORMED;
	}
	return CC_OK;
}

int cc_audit_cosign_verify(const cc_audit_cosign *c)
{
	if (!c)
		return CC_ERR_INVALID_ARG;
	cc_wbuf w;
	cc_w_init(&w);
	cosign_body(c, &w);
	int rc = w.err ? CC_ERR_NOMEM : cc_verify_ctx(c->witness_pk, CC_AUDIT_COSIGN_CONTEXT, w.p, w.len, c->sig);
	cc_w_free(&w);
	return rc == CC_OK ? CC_OK : CC_ERR_BAD_SIGNATURE;
}

void cc_audit_verifier_pin_witness(cc_audit_verifier *v, const uint8_t pk[CC_SIGN_PK_BYTES])
{
	if (!v || !pk)
		return;
	memcpy(v->witness_pk, pk, CC_SIGN_PK_BYTES);
	v->witness_pinned = 1;
}

int cc_audit_verifier_cosign(cc_audit_verifier *v, const uint8_t *bytes, size_t len)
{
	if (!v)
		return CC_ERR_INVALID_ARG;
	if (v->finished)
		return v->err ? v->err : CC_ERR_INVALID_ARG;
	v->records++;
	if (v->err)
		return v->err;
	cc_audit_cosign c;
	if (cc_audit_cosign_decode(bytes, len, &c) != CC_OK)
		return fail(v, CC_AUDIT_FAULT_WITNESS_SIG, v->last_seq, 0);
	if (sodium_memcmp(c.audit_pk, v->pk, CC_SIGN_PK_BYTES) != 0 || cc_audit_cosign_verify(&c) != CC_OK)
		return fail(v, CC_AUDIT_FAULT_WITNESS_SIG, c.seq, 0);
	/* the checkpoint at c.seq that this walk holds */
	const cc_audit_checkpoint *cp = NULL;
	if (v->have_cp && v->last_cp.seq == c.seq)
		cp = &v->last_cp;
	for (unsigned i = 0; !cp && i < v->npending; i++)
		if (v->pending[i].seq == c.seq)
			cp = &v->pending[i];
	if (!cp)
		return CC_OK; /* nothing to compare with here: not counted */
	if (sodium_memcmp(cp->entry_hash, c.entry_hash, CC_HASH_BYTES) != 0)
		return fail(v, CC_AUDIT_FAULT_WITNESS, c.seq, 0);
	if (v->witness_pinned && sodium_memcmp(c.witness_pk, v->witness_pk, CC_SIGN_PK_BYTES) != 0) {
		v->cosigns_other++;
		return CC_OK;
	}
	v->cosigns++;
	if (c.seq != v->last_witnessed_seq)
		v->witnessed++;
	if (c.seq >= v->last_witnessed_seq) {
		v->last_witnessed_seq = c.seq;
		snprintf(v->last_witness_user, sizeof v->last_witness_user, "%s", c.user);
		memcpy(v->last_witness_pk, c.witness_pk, CC_SIGN_PK_BYTES);
	}
	return CC_OK;
}

int cc_audit_verifier_known(cc_audit_verifier *v, const cc_audit_checkpoint *known)
{
	if (!v || !known)
		return CC_ERR_INVALID_ARG;
	if (v->err)
		return v->err;
	uint64_t anchor_seq = v->first_seq - 1;
	if (anchor_seq > known->seq) {
		/* pruned past it: only a witnessed anchor proves the extension */
		if (v->witness_pinned && v->last_witnessed_seq == anchor_seq && v->cosigns)
			return 1;
		return fail(v, CC_AUDIT_FAULT_NOT_EXTENDING, known->seq, anchor_seq);
	}
	cc_wbuf w;
	cc_w_init(&w);
	int rc = cc_audit_checkpoint_encode(known, &w);
	if (rc == CC_OK && !w.err) {
		rc = cc_audit_verifier_checkpoint(v, w.p, w.len);
		v->records--; /* not a record of the stream */
	}
	cc_w_free(&w);
	return rc < 0 ? rc : CC_OK;
}

static void receipt_msg(uint8_t m[CC_SIGN_PK_BYTES + 8 + CC_HASH_BYTES], const uint8_t audit_pk[CC_SIGN_PK_BYTES],
                        uint64_t seq, const uint8_t hash[CC_HASH_BYTES])
{
	memcpy(m, audit_pk, CC_SIGN_PK_BYTES);
	for (unsigned i = 0; i < 8; i++)
		m[CC_SIGN_PK_BYTES + i] = (uint8_t)(seq >> (56u - 8u * i));
	memcpy(m + CC_SIGN_PK_BYTES + 8, hash, CC_HASH_BYTES);
}

int cc_audit_receipt_sign(const uint8_t sk[CC_SIGN_SK_BYTES], const uint8_t audit_pk[CC_SIGN_PK_BYTES], uint64_t seq,
                          const uint8_t hash[CC_HASH_BYTES], uint8_t sig[CC_SIG_BYTES])
{
	if (!sk || !audit_pk || !hash || !sig || seq == 0)
		return CC_ERR_INVALID_ARG;
	uint8_t m[CC_SIGN_PK_BYTES + 8 + CC_HASH_BYTES];
	receipt_msg(m, audit_pk, seq, hash);
	return cc_sign_ctx(sk, CC_AUDIT_RECEIPT_CONTEXT, m, sizeof m, sig);
}

int cc_audit_receipt_verify(const uint8_t audit_pk[CC_SIGN_PK_BYTES], uint64_t seq, const uint8_t hash[CC_HASH_BYTES],
                            const uint8_t sig[CC_SIG_BYTES])
{
	if (!audit_pk || !hash || !sig || seq == 0)
		return CC_ERR_INVALID_ARG;
	uint8_t m[CC_SIGN_PK_BYTES + 8 + CC_HASH_BYTES];
	receipt_msg(m, audit_pk, seq, hash);
	return cc_verify_ctx(audit_pk, CC_AUDIT_RECEIPT_CONTEXT, m, sizeof m, sig) == CC_OK ? CC_OK
	                                                                                    : CC_ERR_BAD_SIGNATURE;
}
