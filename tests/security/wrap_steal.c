/*
 * wrap_steal.c: the thief of test_wrapkey.py (tests only). It holds a copy
 * of a casusd data folder (the stolen server disk: every commit with its
 * sealed boxes) and a device's keystore with its passphrase (the stolen
 * device key), and tries every secret X25519 key the keystore holds (the
 * certified box key and every wrap/ secret) on every box in every commit that
 * is addressed to that device, whatever wrap version the box names. Boxes of
 * version 4 commits are looked up in their own records (meta "box/" casus
 * epoch device audience, server/schema.h); one that retention deleted is
 * reported with "stored":false and cannot be opened:
 *
 *   casus_wrap_steal DATA KEYSTORE PASSFILE
 *
 * One JSON line per box addressed to the device:
 *   {"kind":"commit","casus":HEX,"epoch":N,"audience":A,"wrap":V,"stored":true|false,"opened":true|false,
 *    "with":"certified"|"wrap N"|null}
 * A box counts as opened only if its key matches the commit's public key
 * commitment. Then one line per history grant (the "grants" database) and per
 * device key transfer (grants' and transfers' boxes, issue 17) addressed to
 * the device:
 *   {"kind":"grant"|"transfer","casus":HEX,"epoch":N,"wrap":V,"opened":...,"with":...}
 * A grant counts as opened if one of its message-key boxes for the device
 * opens and binds the device, casus, message id and hash; a transfer if its
 * sealed keys open. Last line: {"keys":[...versions tried, 0 = certified],"boxes":N,"opened":N}
 * (every kind counted).
 * Exit 0 done, 1 error, 2 usage.
 */
#include <cc_buf.h>
#include <cc_commit.h>
#include <cc_err.h>
#include <cc_grant.h>
#include <cc_keys.h>
#include <cc_keystore.h>
#include <cc_transfer.h>
#include <cc_wrapkey.h>
#include <lmdb.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASS_MAX 1024

static int fail(const char *what)
{
	fprintf(stderr, "casus_wrap_steal: %s\n", what);
	return 1;
}

static char *read_pass(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	char *p = sodium_malloc(PASS_MAX + 1);
	size_t n = p ? fread(p, 1, PASS_MAX, f) : 0;
	fclose(f);
	if (!p)
		return NULL;
	while (n && (p[n - 1] == '\n' || p[n - 1] == '\r'))
		n--;
	p[n] = 0;
	*len = n;
	return p;
}

static void name_secret(char *with, size_t cap, const cc_wrap_secret *ws)
{
	if (ws)
		snprintf(with, cap, "wrap %u", ws->version);
	else
		snprintf(with, cap, "certified");
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: casus_wrap_steal DATA KEYSTORE PASSFILE\n");
		return 2;
	}
	if (sodium_init() < 0)
		return fail("libsodium");
	size_t pl = 0;
	char *pass = read_pass(argv[3], &pl);
	if (!pass)
		return fail("cannot read the passphrase file");
	cc_keystore *ks = NULL;
	int rc = cc_keystore_open(argv[2], pass, pl, &ks);
	sodium_free(pass);
	if (rc != CC_OK)
		return fail("cannot open the keystore");
	cc_device_keys *dev = NULL;
	const uint8_t *v;
	size_t vl;
	if (cc_keystore_get(ks, "device", &v, &vl) != CC_OK || cc_device_keys_decode(v, vl, &dev) != CC_OK)
		return fail("no device keys in the keystore");
	/* every secret the stolen keystore holds: [0] = certified (NULL), then wrap/ */
	cc_wrap_secret *wraps = sodium_malloc(CC_WRAP_MAX * sizeof *wraps);
	size_t nw = 0;
	if (!wraps)
		return fail("memory");
	for (size_t i = 0; i < cc_keystore_count(ks); i++) {
		const char *name = cc_keystore_name(ks, i);
		if (name && strncmp(name, "wrap/", 5) == 0 && cc_keystore_get(ks, name, &v, &vl) == CC_OK &&
		    nw < CC_WRAP_MAX && cc_wrap_secret_decode(v, vl, &wraps[nw]) == CC_OK)
			nw++;
	}

	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi dbi, meta;
	MDB_cursor *cur = NULL;
	if (mdb_env_create(&env) != 0)
		return fail("lmdb");
	mdb_env_set_maxdbs(env, 64);
	if ((rc = mdb_env_open(env, argv[1], MDB_RDONLY, 0600)) != 0 ||
	    (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn)) || (rc = mdb_dbi_open(txn, "commits", 0, &dbi)) ||
	    (rc = mdb_dbi_open(txn, "meta", 0, &meta)) || (rc = mdb_cursor_open(txn, dbi, &cur))) {
		fprintf(stderr, "casus_wrap_steal: %s\n", mdb_strerror(rc));
		return 1;
	}
	MDB_val k, val;
	size_t boxes = 0, opened = 0;
	for (rc = mdb_cursor_get(cur, &k, &val, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
		cc_commit c;
		if (cc_commit_decode(val.mv_data, val.mv_size, &c) != CC_OK)
			continue;
		char chex[33];
		cc_device_id_hex(c.casus_id, chex);
		for (size_t a = 0; a <= c.naudiences; a++) {
			const cc_commit_audience *au = a < c.naudiences ? &c.audiences[a] : &c.reason;
			for (size_t j = 0; j < au->nrecipients; j++) {
				if (memcmp(au->recipients[j].device_id, dev->device_id, CC_DEVICE_ID_BYTES) != 0)
					continue;
				boxes++;
				char with[32] = "";
				if (!au->recipients[j].has_box) { /* version 4: the box's own record */
					uint8_t bk[4 + 16 + 8 + 16 + 1];
					memcpy(bk, "box/", 4);
					memcpy(bk + 4, c.casus_id, 16);
					for (int i = 0; i < 8; i++)
						bk[20 + i] = (uint8_t)(c.epoch >> (56 - 8 * i));
					memcpy(bk + 28, dev->device_id, 16);
					bk[44] = a < c.naudiences ? au->audience : CC_REASON_AUDIENCE;
					MDB_val bkv = {sizeof bk, bk}, bv;
					if (mdb_get(txn, meta, &bkv, &bv) == 0 &&
					    bv.mv_size == 4 + CC_SEALED_KEY_BYTES) {
						memcpy(au->recipients[j].box, (const uint8_t *)bv.mv_data + 4,
						       CC_SEALED_KEY_BYTES);
						au->recipients[j].has_box = 1;
					}
				}
				const int stored = au->recipients[j].has_box;
				uint8_t key[CC_EPOCH_KEY_BYTES], kc[CC_HASH_BYTES];
				for (size_t t = 0; stored && t <= nw && !with[0]; t++) {
					const cc_wrap_secret *ws = t == 0 ? NULL : &wraps[t - 1];
					if (cc_commit_open_key_wrap(au->recipients[j].box, dev, ws, c.casus_id,
					                            au->audience, c.epoch, key) == CC_OK &&
					    cc_commit_key_commitment(key, c.casus_id, au->audience, c.epoch, kc) ==
					            CC_OK &&
					    sodium_memcmp(kc, au->key_commit, CC_HASH_BYTES) == 0) {
						if (ws)
							snprintf(with, sizeof with, "wrap %u", ws->version);
						else
							snprintf(with, sizeof with, "certified");
					}
				}
				sodium_memzero(key, sizeof key);
				opened += with[0] != 0;
				printf("{\"kind\":\"commit\",\"casus\":\"%s\",\"epoch\":%llu,\"audience\":%u,\"wrap\":%u,"
				       "\"stored\":%s,\"opened\":%s,\"with\":%s%s%s}\n",
				       chex, (unsigned long long)c.epoch, au->audience, au->recipients[j].wrap,
				       stored ? "true" : "false", with[0] ? "true" : "false", with[0] ? "\"" : "",
				       with[0] ? with : "null", with[0] ? "\"" : "");
			}
		}
		cc_commit_free(&c);
	}
	mdb_cursor_close(cur);
	cur = NULL;
	/* history grants: every box for the device, every secret */
	if ((rc = mdb_dbi_open(txn, "grants", 0, &dbi)) == 0 && (rc = mdb_cursor_open(txn, dbi, &cur)) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &val, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
			cc_grant g;
			if (cc_grant_decode(val.mv_data, val.mv_size, &g) != CC_OK)
				continue;
			for (size_t d = 0; d < g.ndevices; d++) {
				if (memcmp(g.devices[d].device_id, dev->device_id, CC_DEVICE_ID_BYTES) != 0)
					continue;
				boxes++;
				char with[32] = "";
				for (size_t t = 0; t <= nw && !with[0]; t++) {
					const cc_wrap_secret *ws = t == 0 ? NULL : &wraps[t - 1];
					for (size_t i = 0; i < g.nitems && !with[0]; i++) {
						uint8_t mk[CC_MESSAGE_KEY_BYTES];
						if (cc_grant_open_key_wrap(g.devices[d].boxes + i * CC_GRANT_BOX_BYTES,
						                           dev, ws, g.casus_id, g.items[i].message_id,
						                           g.items[i].message_hash, mk) == CC_OK)
							name_secret(with, sizeof with, ws);
						sodium_memzero(mk, sizeof mk);
					}
				}
				opened += with[0] != 0;
				char chex[33];
				cc_device_id_hex(g.casus_id, chex);
				printf("{\"kind\":\"grant\",\"casus\":\"%s\",\"epoch\":%llu,\"wrap\":%u,\"opened\":%s,\"with\":%s%s%s}\n",
				       chex, (unsigned long long)g.epoch, g.devices[d].wrap, with[0] ? "true" : "false",
				       with[0] ? "\"" : "", with[0] ? with : "null", with[0] ? "\"" : "");
			}
			cc_grant_free(&g);
		}
		mdb_cursor_close(cur);
		cur = NULL;
	}
	/* device key transfers (kept in the meta database): sealed to the device */
	if ((rc = mdb_dbi_open(txn, "meta", 0, &dbi)) == 0 && (rc = mdb_cursor_open(txn, dbi, &cur)) == 0) {
		for (rc = mdb_cursor_get(cur, &k, &val, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &val, MDB_NEXT)) {
			cc_transfer t;
			if (cc_transfer_decode(val.mv_data, val.mv_size, &t) != CC_OK ||
			    memcmp(t.to, dev->device_id, CC_DEVICE_ID_BYTES) != 0)
				continue;
			boxes++;
			char with[32] = "";
			uint8_t *pt = sodium_malloc(t.sealed_len - crypto_box_SEALBYTES);
			for (size_t s = 0; pt && s <= nw && !with[0]; s++) {
				const cc_wrap_secret *ws = s == 0 ? NULL : &wraps[s - 1];
				if (crypto_box_seal_open(pt, t.sealed, t.sealed_len, ws ? ws->pk : dev->box_pk,
				                         ws ? ws->sk : dev->box_sk) == 0)
					name_secret(with, sizeof with, ws);
			}
			if (pt)
				sodium_free(pt);
			opened += with[0] != 0;
			char chex[33];
			cc_device_id_hex(t.casus_id, chex);
			printf("{\"kind\":\"transfer\",\"casus\":\"%s\",\"epoch\":%llu,\"wrap\":%u,\"opened\":%s,\"with\":%s%s%s}\n",
			       chex, (unsigned long long)t.epoch, t.wrap, with[0] ? "true" : "false",
			       with[0] ? "\"" : "", with[0] ? with : "null", with[0] ? "\"" : "");
		}
		mdb_cursor_close(cur);
		cur = NULL;
	}
	printf("{\"keys\":[0");
	for (size_t i = 0; i < nw; i++)
		printf(",%u", wraps[i].version);
	printf("],\"boxes\":%zu,\"opened\":%zu}\n", boxes, opened);
	mdb_txn_abort(txn);
	mdb_env_close(env);
	sodium_free(wraps);
	cc_device_keys_free(dev);
	cc_keystore_free(ks);
	return 0;
}
