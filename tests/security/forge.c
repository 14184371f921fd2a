/*
 * forge.c: makes objects a dishonest member or server would send, for the
 * hostile-server suite (tests/security). It holds no key of its own: it signs
 * with a device key taken from a test profile's keystore, through the public
 * crypto API (cc_commit_decode / cc_commit_sign / cc_commit_encode), never by
 * byte offsets, so it keeps working when the commit format grows fields.
 *
 *   casus_forge resign --keystore KS --passfile FILE --in COMMIT --out COMMIT
 *                      [--time UNIX_SECONDS]
 *
 * resign: decodes a commit, makes the keystore's device its actor (e.g. a
 * device that is not in the roster: a ghost commit), optionally sets its
 * time, signs it with that device's key and writes the encoding. Files are
 * the raw commit bytes. Exit 0 on success, 1 on any error (message on
 * stderr); this is a test tool, not part of any product.
 */
#include "cc_buf.h"
#include "cc_commit.h"
#include "cc_err.h"
#include "cc_keys.h"
#include "cc_keystore.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FORGE_PASS_MAX 1024

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 2; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

/* Whole small file into a malloc'd buffer; NULL if missing or over max. */
static uint8_t *read_file(const char *path, size_t max, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *p = malloc(max + 1);
	size_t n = p ? fread(p, 1, max + 1, f) : 0;
	fclose(f);
	if (!p || n == 0 || n > max) {
		free(p);
		return NULL;
	}
	*len = n;
	return p;
}

static int load_device(const char *ks_path, const char *pass_path, cc_device_keys **keys)
{
	size_t pl = 0;
	uint8_t *pass = read_file(pass_path, FORGE_PASS_MAX, &pl);
	if (!pass)
		return CC_ERR_MALFORMED;
	while (pl && (pass[pl - 1] == '\n' || pass[pl - 1] == '\r'))
		pl--;
	cc_keystore *ks = NULL;
	int rc = cc_keystore_open(ks_path, (const char *)pass, pl, &ks);
	sodium_memzero(pass, pl);
	free(pass);
	if (rc != CC_OK)
		return rc;
	const uint8_t *v = NULL;
	size_t vl = 0;
	rc = cc_keystore_get(ks, "device", &v, &vl);
	if (rc == CC_OK)
		rc = cc_device_keys_decode(v, vl, keys);
	cc_keystore_free(ks);
	return rc;
}

static int resign(int argc, char **argv)
{
	const char *ksp = opt(argc, argv, "--keystore"), *pp = opt(argc, argv, "--passfile"),
	           *inp = opt(argc, argv, "--in"), *outp = opt(argc, argv, "--out"), *tp = opt(argc, argv, "--time");
	if (!ksp || !pp || !inp || !outp) {
		fprintf(stderr, "forge resign: --keystore, --passfile, --in and --out are required\n");
		return 1;
	}
	cc_device_keys *keys = NULL;
	cc_commit c;
	int decoded = 0, rc;
	size_t n = 0;
	uint8_t *in = read_file(inp, CC_COMMIT_MAX_BYTES, &n);
	cc_wbuf w;
	cc_w_init(&w);
	if (!in) {
		fprintf(stderr, "forge resign: cannot read %s\n", inp);
		rc = CC_ERR_MALFORMED;
		goto out;
	}
	if ((rc = load_device(ksp, pp, &keys)) != CC_OK) {
		fprintf(stderr, "forge resign: cannot open the device key in %s: %s\n", ksp, cc_strerror(rc));
		goto out;
	}
	if ((rc = cc_commit_decode(in, n, &c)) != CC_OK) {
		fprintf(stderr, "forge resign: %s is not a commit: %s\n", inp, cc_strerror(rc));
		goto out;
	}
	decoded = 1;
	memcpy(c.actor, keys->device_id, sizeof c.actor);
	if (tp)
		c.time = strtoll(tp, NULL, 10);
	if ((rc = cc_commit_sign(&c, keys)) != CC_OK || (rc = cc_commit_encode(&c, &w)) != CC_OK || w.err) {
		fprintf(stderr, "forge resign: cannot sign or encode: %s\n", cc_strerror(rc ? rc : CC_ERR_NOMEM));
		rc = rc ? rc : CC_ERR_NOMEM;
		goto out;
	}
	FILE *f = fopen(outp, "wb");
	if (!f || fwrite(w.p, 1, w.len, f) != w.len) {
		fprintf(stderr, "forge resign: cannot write %s\n", outp);
		rc = CC_ERR_MALFORMED;
	}
	if (f && fclose(f) != 0)
		rc = CC_ERR_MALFORMED;
out:
	if (decoded)
		cc_commit_free(&c);
	cc_device_keys_free(keys);
	cc_w_free(&w);
	free(in);
	return rc == CC_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		return 1;
	if (argc >= 2 && strcmp(argv[1], "resign") == 0)
		return resign(argc, argv);
	fprintf(stderr, "usage: casus_forge resign --keystore KS --passfile FILE --in COMMIT --out COMMIT [--time T]\n");
	return 2;
}
