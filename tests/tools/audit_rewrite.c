/*
 * audit_rewrite.c: the dishonest operator, for tests only (test_audit_witness.py,
 * test_backup_restore.py). Works offline on a casusd data folder (casusd
 * stopped) with the operator's audit key, DATA/audit.key:
 *
 *   audit_rewrite DATA SEQ FIELD VALUE [--no-resign] [--drop-cosigns]
 *
 * changes one field of entry SEQ (FIELD: object, access_point, actor_user or
 * seq_from), recomputes the chain hash of SEQ and of every later entry, and,
 * unless --no-resign, re-signs every checkpoint from SEQ on with the audit key
 * (same seq, time and count, the new head hash). The result verifies with the
 * audit key alone: only evidence held outside the operator (a witness's
 * cosignature, a remembered checkpoint) can show the rewrite. The stored
 * cosignatures are left as they are (a careful operator could delete them;
 * the witness's own state still catches that: --drop-cosigns does it).
 *
 * Exit 0 done, 1 error, 2 usage.
 */
#include "audit_db.h"

#include <cc_audit.h>
#include <cc_buf.h>
#include <cc_err.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *m, int rc)
{
	fprintf(stderr, "audit_rewrite: %s (%s)\n", m, rc ? mdb_strerror(rc) : "");
	return 1;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int main(int argc, char **argv)
{
	if (argc < 5)
		return fprintf(stderr, "usage: audit_rewrite DATA SEQ FIELD VALUE [--no-resign]\n"), 2;
	const char *data = argv[1];
	uint64_t target = strtoull(argv[2], NULL, 10);
	const char *field = argv[3], *value = argv[4];
	int resign = 1, drop = 0;
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "--no-resign") == 0)
			resign = 0;
		else if (strcmp(argv[i], "--drop-cosigns") == 0)
			drop = 1;
		else
			return fprintf(stderr, "audit_rewrite: unknown option %s\n", argv[i]), 2;
	}
	if (sodium_init() < 0 || target == 0)
		return 2;
	uint8_t sk[crypto_sign_SECRETKEYBYTES];
	char kp[4096];
	snprintf(kp, sizeof kp, "%s/audit.key", data);
	FILE *kf = fopen(kp, "rb");
	if (!kf || fread(sk, 1, sizeof sk, kf) != sizeof sk)
		return fprintf(stderr, "audit_rewrite: cannot read %s\n", kp), 1;
	fclose(kf);

	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi de, dc, dm;
	int rc = mdb_env_create(&env);
	if (!rc) {
		mdb_env_set_maxdbs(env, 64);
		mdb_env_set_mapsize(env, (size_t)1 << 30);
		rc = mdb_env_open(env, data, 0, 0600);
	}
	if (!rc)
		rc = mdb_txn_begin(env, NULL, 0, &txn);
	if (!rc)
		rc = mdb_dbi_open(txn, CASUS_DB_AUDIT_ENTRIES, 0, &de);
	if (!rc)
		rc = mdb_dbi_open(txn, CASUS_DB_AUDIT_CHECKPOINTS, 0, &dc);
	if (!rc)
		rc = mdb_dbi_open(txn, CASUS_DB_META, 0, &dm);
	if (rc)
		return die("cannot open the store", rc);

	/* the hash before the target: the previous entry's stored hash (or the anchor/genesis) */
	uint8_t prev[CC_HASH_BYTES] = {0};
	MDB_cursor *cur;
	MDB_val k, v;
	uint8_t kb[8];
	if (target > 1) {
		for (unsigned i = 0; i < 8; i++)
			kb[i] = (uint8_t)((target - 1) >> (56u - 8u * i));
		k.mv_size = 8;
		k.mv_data = kb;
		if (mdb_get(txn, de, &k, &v) != 0 || v.mv_size < CC_HASH_BYTES)
			return die("no entry before the target", 0);
		memcpy(prev, v.mv_data, CC_HASH_BYTES);
	}
	/* rewrite the target and rehash it and everything after it */
	if ((rc = mdb_cursor_open(txn, de, &cur)) != 0)
		return die("cursor", rc);
	for (unsigned i = 0; i < 8; i++)
		kb[i] = (uint8_t)(target >> (56u - 8u * i));
	k.mv_size = 8;
	k.mv_data = kb;
	int first = 1, changed = 0;
	for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		cc_audit_entry e;
		if (v.mv_size <= CC_HASH_BYTES ||
		    cc_audit_entry_decode((uint8_t *)v.mv_data + CC_HASH_BYTES, v.mv_size - CC_HASH_BYTES, &e) != CC_OK)
			return die("an entry does not decode", 0);
		if (first) {
			first = 0;
			if (e.seq != target)
				return die("no such entry", 0);
			if (strcmp(field, "object") == 0)
				snprintf(e.object, sizeof e.object, "%s", value);
			else if (strcmp(field, "access_point") == 0)
				snprintf(e.access_point, sizeof e.access_point, "%s", value);
			else if (strcmp(field, "actor_user") == 0)
				snprintf(e.actor_user, sizeof e.actor_user, "%s", value);
			else if (strcmp(field, "seq_from") == 0)
				e.seq_from = strtoull(value, NULL, 10);
			else
				return fprintf(stderr, "audit_rewrite: unknown field %s\n", field), 2;
			if (e.seq_to < e.seq_from)
				e.seq_to = e.seq_from;
			changed = 1;
		}
		cc_wbuf w;
		cc_w_init(&w);
		uint8_t h[CC_HASH_BYTES];
		cc_w_fixed(&w, prev, CC_HASH_BYTES); /* room for the hash */
		if (cc_audit_entry_encode(&e, &w) != CC_OK || w.err ||
		    cc_audit_entry_hash(prev, w.p + CC_HASH_BYTES, w.len - CC_HASH_BYTES, h) != CC_OK)
			return die("cannot encode", 0);
		memcpy(w.p, h, CC_HASH_BYTES);
		MDB_val nv = {w.len, w.p};
		if ((rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT)) != 0)
			return die("cannot write an entry", rc);
		cc_w_free(&w);
		memcpy(prev, h, CC_HASH_BYTES);
	}
	mdb_cursor_close(cur);
	if (!changed)
		return die("nothing changed", 0);
	/* re-sign the checkpoints from the target on over the new hashes */
	unsigned nsigned = 0;
	if (resign) {
		if ((rc = mdb_cursor_open(txn, dc, &cur)) != 0)
			return die("cursor", rc);
		k.mv_size = 8;
		k.mv_data = kb;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			cc_audit_checkpoint cp;
			if (cc_audit_checkpoint_decode(v.mv_data, v.mv_size, &cp) != CC_OK)
				return die("a checkpoint does not decode", 0);
			MDB_val ek = {8, k.mv_data}, ev;
			if (mdb_get(txn, de, &ek, &ev) != 0 || ev.mv_size < CC_HASH_BYTES || be64(k.mv_data) != cp.seq)
				return die("a checkpoint seals no entry", 0);
			memcpy(cp.entry_hash, ev.mv_data, CC_HASH_BYTES);
			cc_wbuf w;
			cc_w_init(&w);
			if (cc_audit_checkpoint_sign(&cp, sk) != CC_OK ||
			    cc_audit_checkpoint_encode(&cp, &w) != CC_OK || w.err)
				return die("cannot sign", 0);
			MDB_val nv = {w.len, w.p};
			if ((rc = mdb_cursor_put(cur, &k, &nv, MDB_CURRENT)) != 0)
				return die("cannot write a checkpoint", rc);
			cc_w_free(&w);
			nsigned++;
		}
		mdb_cursor_close(cur);
	}
	unsigned ndropped = 0;
	if (drop) {
		const size_t pl = sizeof CASUS_META_COSIGN_PREFIX - 1;
		if ((rc = mdb_cursor_open(txn, dm, &cur)) != 0)
			return die("cursor", rc);
		k.mv_size = pl;
		k.mv_data = (void *)(uintptr_t)CASUS_META_COSIGN_PREFIX;
		for (rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		     rc == 0 && k.mv_size >= pl && memcmp(k.mv_data, CASUS_META_COSIGN_PREFIX, pl) == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_GET_CURRENT)) {
			if ((rc = mdb_cursor_del(cur, 0)) != 0)
				return die("cannot delete a cosignature", rc);
			ndropped++;
		}
		mdb_cursor_close(cur);
	}
	if ((rc = mdb_txn_commit(txn)) != 0)
		return die("commit", rc);
	mdb_env_close(env);
	sodium_memzero(sk, sizeof sk);
	printf("rewrote entry %llu (%s), re-signed %u checkpoints, dropped %u cosignatures\n",
	       (unsigned long long)target, field, nsigned, ndropped);
	return 0;
}
