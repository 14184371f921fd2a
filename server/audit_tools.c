/*
 * audit_tools.c: offline audit tools of casusd.
 *
 *   casusd audit-export --data DIR --out FILE
 *       The whole trail as JSON lines (docs/AUDIT.md "Export formats"), from a
 *       read-only snapshot; safe while casusd runs.
 *
 *   casusd audit-prune --data DIR [--keep-days N] [--config FILE] [--now-ms MS]
 *       Retention. Stop casusd first. Verifies the whole trail with the audit
 *       key (refuses to prune a trail that does not verify), picks the newest
 *       signed checkpoint older than N days (default: the config's
 *       audit.retention_days, itself 5 years by default), and in ONE write
 *       transaction deletes every entry up to and including that checkpoint's
 *       seq and every older checkpoint, stores that checkpoint as the anchor
 *       (meta "audit_anchor"), appends an `audit_prune` entry (seq_from..seq_to
 *       = what was pruned, object = the anchor hash) and signs a checkpoint
 *       over it. The rest of the trail verifies from the anchor.
 *       --now-ms is for tests only: it replaces the clock when choosing what
 *       is old enough (the entry's own time is still the real clock).
 *
 * Nothing here prints or exports content, keys or passphrases.
 */
#include "audit.h"
#include "clock.h"
#include "config.h"
#include "schema.h"
#include "store.h"

#include <audit_backup.h>
#include <audit_export.h>
#include <cc_buf.h>
#include <cc_err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAULT 5

static const char *arg(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static int read_pub(const char *data, uint8_t pk[CC_SIGN_PK_BYTES])
{
	char path[1100], hex[200];
	snprintf(path, sizeof path, "%s/audit.pub", data);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(hex, 1, sizeof hex - 1, f);
	fclose(f);
	hex[n] = 0;
	while (n && (hex[n - 1] == '\n' || hex[n - 1] == '\r' || hex[n - 1] == ' '))
		hex[--n] = 0;
	size_t out = 0;
	if (n != 2 * CC_SIGN_PK_BYTES || sodium_hex2bin(pk, CC_SIGN_PK_BYTES, hex, n, NULL, &out, NULL) != 0 ||
	    out != CC_SIGN_PK_BYTES)
		return -1;
	return 0;
}

/* The audit secret key into guarded memory (caller sodium_free's it). */
static uint8_t *read_sk(const char *data)
{
	char path[1100];
	snprintf(path, sizeof path, "%s/audit.key", data);
	uint8_t *sk = sodium_malloc(CC_SIGN_SK_BYTES);
	if (!sk)
		return NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r = fd >= 0 ? read(fd, sk, CC_SIGN_SK_BYTES) : -1;
	uint8_t extra;
	ssize_t more = fd >= 0 ? read(fd, &extra, 1) : -1;
	if (fd >= 0)
		close(fd);
	if (r != CC_SIGN_SK_BYTES || more != 0) {
		sodium_free(sk);
		return NULL;
	}
	return sk;
}

static int open_env(const char *data, int readonly, MDB_env **env, MDB_txn **txn, MDB_dbi dbi[3])
{
	int rc = mdb_env_create(env);
	if (rc)
		return rc;
	mdb_env_set_maxdbs(*env, DB__COUNT + 2);
	rc = mdb_env_open(*env, data, MDB_NOTLS | (readonly ? MDB_RDONLY : 0), 0600);
	if (rc == 0 && !readonly) {
		/* room for the prune's own writes even if the map is full */
		MDB_envinfo info;
		mdb_env_info(*env, &info);
		rc = mdb_env_set_mapsize(*env, info.me_mapsize + ((size_t)64 << 20));
	}
	if (rc == 0)
		rc = mdb_txn_begin(*env, NULL, readonly ? MDB_RDONLY : 0, txn);
	if (rc == 0)
		rc = mdb_dbi_open(*txn, CC_AUDIT_DB_ENTRIES, 0, &dbi[0]);
	if (rc == 0)
		rc = mdb_dbi_open(*txn, CC_AUDIT_DB_CHECKPOINTS, 0, &dbi[1]);
	if (rc == 0)
		rc = mdb_dbi_open(*txn, CC_AUDIT_DB_META, 0, &dbi[2]);
	if (rc) {
		if (*txn)
			mdb_txn_abort(*txn);
		*txn = NULL;
		mdb_env_close(*env);
		*env = NULL;
	}
	return rc;
}

int audit_tool_export(int argc, char **argv)
{
	const char *data = arg(argc, argv, "--data"), *outp = arg(argc, argv, "--out");
	if (!data || !outp) {
		fprintf(stderr, "usage: casusd audit-export --data DIR --out FILE\n");
		return 2;
	}
	uint8_t pk[CC_SIGN_PK_BYTES];
	if (read_pub(data, pk) != 0) {
		fprintf(stderr, "casusd audit-export: cannot read %s/audit.pub\n", data);
		return 1;
	}
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi[3];
	int rc = open_env(data, 1, &env, &txn, dbi);
	if (rc) {
		fprintf(stderr, "casusd audit-export: %s: %s\n", data, mdb_strerror(rc));
		return 1;
	}
	int fd = open(outp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FILE *out = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!out) {
		if (fd >= 0)
			close(fd);
		fprintf(stderr, "casusd audit-export: cannot write %s: %s\n", outp, strerror(errno));
		mdb_txn_abort(txn);
		mdb_env_close(env);
		return 1;
	}
	uint64_t ne = 0, nc = 0, bad = 0;
	int erc = cc_audit_lmdb_export(txn, dbi[0], dbi[1], dbi[2], pk, clock_wall_ms(), out, &ne, &nc, &bad);
	int crc = fclose(out);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	if (erc == CC_ERR_MALFORMED) {
		fprintf(stderr,
		        "casusd audit-export: the stored record at seq %" PRIu64
		        " does not decode; verify the store (casus audit verify --backup)\n",
		        bad);
		return EXIT_FAULT;
	}
	if (erc || crc) {
		fprintf(stderr, "casusd audit-export: writing %s failed\n", outp);
		return 1;
	}
	printf("exported %" PRIu64 " entries and %" PRIu64 " checkpoints to %s\n", ne, nc, outp);
	return 0;
}

/* The sequence number of an audit or checkpoint key (0 if malformed). */
static uint64_t key64(const MDB_val *k)
{
	uint64_t v;
	return schema_key_audit_decode(k->mv_data, k->mv_size, &v) == 0 ? v : 0;
}

int audit_tool_prune(int argc, char **argv)
{
	const char *data = arg(argc, argv, "--data"), *keep_s = arg(argc, argv, "--keep-days"),
		   *cfgp = arg(argc, argv, "--config"), *now_s = arg(argc, argv, "--now-ms");
	struct config cfg;
	char why[512];
	config_defaults(&cfg);
	if (cfgp && config_load(&cfg, cfgp, why, sizeof why) != 0) {
		fprintf(stderr, "casusd audit-prune: %s\n", why);
		return 2;
	}
	if (!data && cfgp)
		data = cfg.data_dir;
	if (!data) {
		fprintf(stderr, "usage: casusd audit-prune --data DIR [--keep-days N] [--config FILE]\n"
		                "       (stop casusd first; --now-ms MS is for tests only)\n");
		return 2;
	}
	unsigned long long keep = cfg.audit_retention_days;
	if (keep_s) {
		char *end = NULL;
		keep = strtoull(keep_s, &end, 10);
		if (!end || *end || keep > 36600) {
			fprintf(stderr, "casusd audit-prune: --keep-days takes 0..36600\n");
			return 2;
		}
	}
	int64_t now = clock_wall_ms();
	if (now_s)
		now = (int64_t)strtoll(now_s, NULL, 10);
	int64_t cutoff = now - (int64_t)keep * 86400000LL;

	uint8_t *sk = read_sk(data);
	if (!sk) {
		fprintf(stderr, "casusd audit-prune: cannot read the audit key in %s\n", data);
		return 1;
	}
	uint8_t pk[CC_SIGN_PK_BYTES];
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	sodium_mprotect_noaccess(sk);

	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi[3];
	int ret = 1;
	int rc = open_env(data, 0, &env, &txn, dbi);
	if (rc) {
		fprintf(stderr, "casusd audit-prune: %s: %s\n", data, mdb_strerror(rc));
		sodium_free(sk);
		return 1;
	}
	/* 1. the trail must verify before anything is deleted */
	cc_audit_checkpoint old_anchor;
	int ha = cc_audit_lmdb_anchor(txn, dbi[2], &old_anchor);
	cc_audit_verifier v;
	cc_audit_verifier_init(&v, pk, ha == 1 ? &old_anchor : NULL);
	if (ha >= 0)
		(void)cc_audit_lmdb_feed(txn, dbi[0], dbi[1], dbi[2], &v);
	if (ha < 0 || cc_audit_verifier_finish(&v) != CC_OK) {
		fprintf(stderr,
		        "casusd audit-prune: the trail does not verify (%s at seq %" PRIu64 "); nothing was pruned\n",
		        ha < 0 ? "anchor_malformed" : cc_audit_fault_name(v.fault), v.fault_seq);
		ret = EXIT_FAULT;
		goto out;
	}
	/* 2. the newest checkpoint older than the cutoff */
	MDB_cursor *cur = NULL;
	MDB_val k, val;
	cc_audit_checkpoint anchor;
	int found = 0;
	if (mdb_cursor_open(txn, dbi[1], &cur) == 0) {
		for (int g = mdb_cursor_get(cur, &k, &val, MDB_LAST); g == 0;
		     g = mdb_cursor_get(cur, &k, &val, MDB_PREV)) {
			cc_audit_checkpoint cp;
			if (cc_audit_checkpoint_decode(val.mv_data, val.mv_size, &cp) == CC_OK && cp.time_ms < cutoff) {
				anchor = cp;
				found = 1;
				break;
			}
		}
		mdb_cursor_close(cur);
	}
	if (!found || (ha == 1 && anchor.seq <= old_anchor.seq) || anchor.seq >= v.last_seq + 1) {
		printf("nothing to prune: no checkpoint older than %llu days beyond the current anchor\n", keep);
		ret = 0;
		goto out;
	}
	/* 3. delete entries up to the anchor, checkpoints before it */
	uint64_t first = 0, nent = 0, ncp = 0;
	if ((rc = mdb_cursor_open(txn, dbi[0], &cur)) != 0)
		goto lmdb_fail;
	while (mdb_cursor_get(cur, &k, &val, MDB_FIRST) == 0 && key64(&k) <= anchor.seq) {
		if (!first)
			first = key64(&k);
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		nent++;
	}
	mdb_cursor_close(cur);
	if (rc)
		goto lmdb_fail;
	if ((rc = mdb_cursor_open(txn, dbi[1], &cur)) != 0)
		goto lmdb_fail;
	while (mdb_cursor_get(cur, &k, &val, MDB_FIRST) == 0 && key64(&k) < anchor.seq) {
		if ((rc = mdb_cursor_del(cur, 0)) != 0)
			break;
		ncp++;
	}
	mdb_cursor_close(cur);
	if (rc)
		goto lmdb_fail;
	/* 4. the anchor, the audit_prune entry and a checkpoint sealing it */
	cc_wbuf w;
	cc_w_init(&w);
	rc = cc_audit_checkpoint_encode(&anchor, &w);
	MDB_val ak = {sizeof CC_AUDIT_ANCHOR_META - 1, (void *)(uintptr_t)CC_AUDIT_ANCHOR_META};
	MDB_val av = {w.len, w.p};
	if (rc == CC_OK && !w.err)
		rc = mdb_put(txn, dbi[2], &ak, &av, 0);
	else
		rc = MDB_INVALID;
	cc_w_free(&w);
	if (rc)
		goto lmdb_fail;

	cc_audit_chain chain;
	cc_audit_chain_resume(&chain, v.last_seq, v.prev, v.have_cp ? v.last_cp.seq : 0);
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_AUDIT_PRUNE;
	e.time_ms = clock_wall_ms();
	e.seq_from = first;
	e.seq_to = anchor.seq;
	char hh[2 * CC_HASH_BYTES + 1];
	sodium_bin2hex(hh, sizeof hh, anchor.entry_hash, CC_HASH_BYTES);
	snprintf(e.object, sizeof e.object, "anchor %s", hh);
	snprintf(e.reason, sizeof e.reason, "retention %llu days", keep);
	snprintf(e.access_point, sizeof e.access_point, "casusd audit-prune (local)");
	uint8_t hash[CC_HASH_BYTES];
	cc_w_init(&w);
	cc_w_fixed(&w, hash, sizeof hash);
	rc = cc_audit_chain_append(&chain, &e, &w, hash);
	if (rc == CC_OK && !w.err) {
		memcpy(w.p, hash, CC_HASH_BYTES);
		uint8_t kb[SCHEMA_KEY_AUDIT];
		MDB_val ek = {schema_key_audit(kb, e.seq), kb}, ev = {w.len, w.p};
		rc = mdb_put(txn, dbi[0], &ek, &ev, MDB_APPEND);
	} else {
		rc = MDB_INVALID;
	}
	cc_w_free(&w);
	if (rc)
		goto lmdb_fail;
	cc_audit_checkpoint cp;
	sodium_mprotect_readonly(sk);
	rc = cc_audit_chain_checkpoint(&chain, clock_wall_ms(), sk, &cp);
	sodium_mprotect_noaccess(sk);
	cc_w_init(&w);
	if (rc == CC_OK)
		rc = cc_audit_checkpoint_encode(&cp, &w);
	if (rc == CC_OK && !w.err) {
		uint8_t kb[SCHEMA_KEY_AUDIT];
		MDB_val ck = {schema_key_audit(kb, cp.seq), kb}, cv = {w.len, w.p};
		rc = mdb_put(txn, dbi[1], &ck, &cv, 0);
	} else {
		rc = MDB_INVALID;
	}
	cc_w_free(&w);
	if (rc)
		goto lmdb_fail;
	rc = mdb_txn_commit(txn);
	txn = NULL;
	if (rc)
		goto lmdb_fail;
	printf("pruned entries %" PRIu64 "..%" PRIu64 " (%" PRIu64 " entries, %" PRIu64
	       " checkpoints); anchor: checkpoint at seq %" PRIu64 ", hash %s; audit_prune entry at seq %" PRIu64 "\n",
	       first, anchor.seq, nent, ncp, anchor.seq, hh, e.seq);
	ret = 0;
	goto out;
lmdb_fail:
	fprintf(stderr, "casusd audit-prune: store error: %s; nothing was pruned\n", mdb_strerror(rc));
	ret = 1;
out:
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	sodium_free(sk);
	return ret;
}
