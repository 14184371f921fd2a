/*
 * audit_backup.c: the audit trail read straight from an LMDB store (a hot
 * backup), verified with the pinned key, or exported as JSON lines. See
 * audit_backup.h.
 */
#include "audit_backup.h"
#include "audit_export.h"
#include "cc_buf.h"
#include "cc_err.h"

#include <stdlib.h>
#include <string.h>

#define COSIGN_PREFIX_LEN (sizeof CASUS_META_COSIGN_PREFIX - 1)

static uint64_t rd64(const MDB_val *k)
{
	if (k->mv_size != 8)
		return 0;
	const uint8_t *p = k->mv_data;
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int cc_audit_lmdb_walk(MDB_txn *txn, MDB_dbi entries, MDB_dbi checkpoints, cc_audit_walk_fn fn, void *ctx)
{
	MDB_cursor *ce = NULL, *cc = NULL;
	MDB_val ek, ev, ck, cv;
	int rc = mdb_cursor_open(txn, entries, &ce);
	if (rc == 0)
		rc = mdb_cursor_open(txn, checkpoints, &cc);
	if (rc) {
		if (ce)
			mdb_cursor_close(ce);
		return CC_ERR_IO;
	}
	int he = mdb_cursor_get(ce, &ek, &ev, MDB_FIRST) == 0;
	int hc = mdb_cursor_get(cc, &ck, &cv, MDB_FIRST) == 0;
	int stop = 0;
	while (!stop && (he || hc)) {
		/* a checkpoint goes after the entry it seals, before the next one */
		if (hc && (!he || rd64(&ck) < rd64(&ek))) {
			stop = fn(ctx, 1, rd64(&ck), cv.mv_data, cv.mv_size);
			hc = mdb_cursor_get(cc, &ck, &cv, MDB_NEXT) == 0;
		} else {
			stop = fn(ctx, 0, rd64(&ek), ev.mv_data, ev.mv_size);
			he = mdb_cursor_get(ce, &ek, &ev, MDB_NEXT) == 0;
		}
	}
	mdb_cursor_close(ce);
	mdb_cursor_close(cc);
	return stop;
}

int cc_audit_lmdb_anchor(MDB_txn *txn, MDB_dbi meta, cc_audit_checkpoint *anchor)
{
	MDB_val k = {sizeof CC_AUDIT_ANCHOR_META - 1, (void *)(uintptr_t)CC_AUDIT_ANCHOR_META}, v;
	if (mdb_get(txn, meta, &k, &v) != 0)
		return 0;
	if (cc_audit_checkpoint_decode(v.mv_data, v.mv_size, anchor) != CC_OK)
		return CC_ERR_MALFORMED;
	return 1;
}

int cc_audit_known_applies(const cc_audit_checkpoint *anchor, const cc_audit_checkpoint *known)
{
	if (!known)
		return 0;
	return !anchor || known->seq >= anchor->seq;
}

int cc_audit_lmdb_cosigns(MDB_txn *txn, MDB_dbi meta, uint64_t seq, cc_audit_verifier *v)
{
	MDB_cursor *cur = NULL;
	uint8_t start[COSIGN_PREFIX_LEN + 8];
	memcpy(start, CASUS_META_COSIGN_PREFIX, COSIGN_PREFIX_LEN);
	for (unsigned i = 0; i < 8; i++)
		start[COSIGN_PREFIX_LEN + i] = (uint8_t)(seq >> (56u - 8u * i));
	if (mdb_cursor_open(txn, meta, &cur) != 0)
		return 0;
	int n = 0;
	MDB_val k = {sizeof start, start}, val;
	for (int rc = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE); rc == 0;
	     rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
		if (k.mv_size < sizeof start || memcmp(k.mv_data, start, sizeof start) != 0)
			break;
		(void)cc_audit_verifier_cosign(v, val.mv_data, val.mv_size);
		n++;
	}
	mdb_cursor_close(cur);
	return n;
}

struct feed_ctx {
	cc_audit_verifier *v;
	MDB_txn *txn;
	MDB_dbi meta;
	int have_meta;
};

static int verify_cb(void *ctx, int is_cp, uint64_t key, const uint8_t *val, size_t len)
{
	struct feed_ctx *f = ctx;
	cc_audit_verifier *v = f->v;
	if (is_cp) {
		(void)cc_audit_verifier_checkpoint(v, val, len);
		if (f->have_meta)
			(void)cc_audit_lmdb_cosigns(f->txn, f->meta, key, v);
	} else if (len > CC_HASH_BYTES)
		(void)cc_audit_verifier_entry(v, val + CC_HASH_BYTES, len - CC_HASH_BYTES, val);
	else
		(void)cc_audit_verifier_entry(v, val, len, NULL); /* too short: malformed */
	return 0; /* keep going: a gap is told apart from a reorder further on */
}

int cc_audit_lmdb_feed(MDB_txn *txn, MDB_dbi entries, MDB_dbi checkpoints, MDB_dbi meta, cc_audit_verifier *v)
{
	struct feed_ctx f = {v, txn, meta, 1};
	return cc_audit_lmdb_walk(txn, entries, checkpoints, verify_cb, &f);
}

static int open_env(const char *dir, MDB_env **env, MDB_txn **txn, MDB_dbi dbi[3], int *lmdb_rc)
{
	int rc = mdb_env_create(env);
	if (rc == 0) {
		mdb_env_set_maxdbs(*env, 32);
		rc = mdb_env_open(*env, dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0400);
	}
	if (rc == 0)
		rc = mdb_txn_begin(*env, NULL, MDB_RDONLY, txn);
	if (rc == 0)
		rc = mdb_dbi_open(*txn, CC_AUDIT_DB_ENTRIES, 0, &dbi[0]);
	if (rc == 0)
		rc = mdb_dbi_open(*txn, CC_AUDIT_DB_CHECKPOINTS, 0, &dbi[1]);
	if (rc == 0)
		rc = mdb_dbi_open(*txn, CC_AUDIT_DB_META, 0, &dbi[2]);
	if (lmdb_rc)
		*lmdb_rc = rc;
	if (rc) {
		if (*txn)
			mdb_txn_abort(*txn);
		*txn = NULL;
		if (*env)
			mdb_env_close(*env);
		*env = NULL;
		return CC_ERR_IO;
	}
	return CC_OK;
}

int cc_audit_backup_verify(const char *dir, const uint8_t pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *known,
                           const uint8_t *witness_pk, cc_audit_verifier *v, cc_audit_backup_result *res, int *lmdb_rc)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi[3];
	memset(res, 0, sizeof(*res));
	memset(v, 0, sizeof(*v));
	int rc = open_env(dir, &env, &txn, dbi, lmdb_rc);
	if (rc)
		return rc;
	int a = cc_audit_lmdb_anchor(txn, dbi[2], &res->anchor);
	if (a < 0) {
		/* an anchor that does not decode is a tampered anchor */
		cc_audit_verifier_init(v, pk, NULL);
		v->err = CC_ERR_AUDIT_CHECKPOINT;
		v->fault = CC_AUDIT_FAULT_CP_MALFORMED;
		rc = v->err;
		goto out;
	}
	res->has_anchor = a == 1;
	cc_audit_verifier_init(v, pk, res->has_anchor ? &res->anchor : NULL);
	if (witness_pk)
		cc_audit_verifier_pin_witness(v, witness_pk);
	if (res->has_anchor) /* the anchor's own witnesses: they can prove a prune extended */
		(void)cc_audit_lmdb_cosigns(txn, dbi[2], res->anchor.seq, v);
	if (known && cc_audit_verifier_known(v, known) == 1)
		res->known_skipped = 1;
	(void)cc_audit_lmdb_feed(txn, dbi[0], dbi[1], dbi[2], v);
	rc = cc_audit_verifier_finish(v);
	if (rc == CC_OK && v->have_cp) {
		res->have_last_cp = 1;
		res->last_cp = v->last_cp;
	}
out:
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}

int cc_audit_backup_hashes(const char *dir, const uint64_t *seqs, size_t n, uint8_t (*hashes)[CC_HASH_BYTES],
                           int *found)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi[3];
	int rc = open_env(dir, &env, &txn, dbi, NULL);
	if (rc)
		return rc;
	for (size_t i = 0; i < n; i++) {
		uint8_t k8[8];
		for (unsigned b = 0; b < 8; b++)
			k8[b] = (uint8_t)(seqs[i] >> (56u - 8u * b));
		MDB_val k = {sizeof k8, k8}, v;
		found[i] = mdb_get(txn, dbi[0], &k, &v) == 0 && v.mv_size > CC_HASH_BYTES;
		if (found[i])
			memcpy(hashes[i], v.mv_data, CC_HASH_BYTES);
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
	return CC_OK;
}

struct ectx {
	FILE *out;
	uint64_t entries, cps, bad;
	int err;
	MDB_txn *txn;
	MDB_dbi meta;
};

/* The cosignatures of checkpoint seq as export lines. */
static int export_cosigns(struct ectx *e, uint64_t seq)
{
	MDB_cursor *cur = NULL;
	uint8_t start[COSIGN_PREFIX_LEN + 8];
	memcpy(start, CASUS_META_COSIGN_PREFIX, COSIGN_PREFIX_LEN);
	for (unsigned i = 0; i < 8; i++)
		start[COSIGN_PREFIX_LEN + i] = (uint8_t)(seq >> (56u - 8u * i));
	if (mdb_cursor_open(e->txn, e->meta, &cur) != 0)
		return 0;
	MDB_val k = {sizeof start, start}, val;
	int rc = 0;
	for (int g = mdb_cursor_get(cur, &k, &val, MDB_SET_RANGE); g == 0 && !rc;
	     g = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
		if (k.mv_size < sizeof start || memcmp(k.mv_data, start, sizeof start) != 0)
			break;
		char *line = cc_audit_export_cosign(val.mv_data, val.mv_size);
		if (!line)
			continue; /* an undecodable cosignature is no witness; verify says nothing of it */
		if (fputs(line, e->out) == EOF || fputc('\n', e->out) == EOF) {
			e->err = CC_ERR_IO;
			rc = 1;
		}
		free(line);
	}
	mdb_cursor_close(cur);
	return rc;
}

static int export_cb(void *ctx, int is_cp, uint64_t key, const uint8_t *val, size_t len)
{
	struct ectx *e = ctx;
	char *line = NULL;
	if (is_cp)
		line = cc_audit_export_checkpoint(val, len);
	else if (len > CC_HASH_BYTES)
		line = cc_audit_export_entry(val + CC_HASH_BYTES, len - CC_HASH_BYTES, val);
	if (!line) {
		e->bad = key;
		e->err = CC_ERR_MALFORMED;
		return 1;
	}
	if (fputs(line, e->out) == EOF || fputc('\n', e->out) == EOF) {
		free(line);
		e->err = CC_ERR_IO;
		return 1;
	}
	free(line);
	if (is_cp) {
		e->cps++;
		return export_cosigns(e, key);
	}
	e->entries++;
	return 0;
}

int cc_audit_lmdb_export(MDB_txn *txn, MDB_dbi entries, MDB_dbi checkpoints, MDB_dbi meta,
                         const uint8_t pk[CC_SIGN_PK_BYTES], int64_t now_ms, FILE *out, uint64_t *nentries,
                         uint64_t *ncps, uint64_t *bad_seq)
{
	cc_audit_checkpoint anchor;
	int a = cc_audit_lmdb_anchor(txn, meta, &anchor);
	if (a < 0)
		return a;
	char *hdr = cc_audit_export_header(pk, now_ms, a == 1 ? &anchor : NULL);
	if (!hdr)
		return CC_ERR_NOMEM;
	int ok = fputs(hdr, out) != EOF && fputc('\n', out) != EOF;
	free(hdr);
	if (!ok)
		return CC_ERR_IO;
	struct ectx e = {out, 0, 0, 0, 0, txn, meta};
	if (a == 1 && export_cosigns(&e, anchor.seq))
		return e.err;
	(void)cc_audit_lmdb_walk(txn, entries, checkpoints, export_cb, &e);
	if (nentries)
		*nentries = e.entries;
	if (ncps)
		*ncps = e.cps;
	if (bad_seq)
		*bad_seq = e.bad;
	return e.err;
}
