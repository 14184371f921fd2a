/*
 * forge.c: makes objects a dishonest member or server would send, for the
 * hostile-server suite (tests/security). It holds no key of its own: it signs
 * with a device key taken from a test profile's keystore, through the public
 * crypto API (cc_commit_decode / cc_commit_sign / cc_commit_encode), never by
 * byte offsets, so it keeps working when the commit format grows fields.
 *
 *   casus_forge resign --keystore KS --passfile FILE --in COMMIT --out COMMIT
 *                      [--time UNIX_SECONDS] [--policy-number N]
 *   casus_forge grant --keystore KS --passfile FILE --cert CERT --policy POLICY
 *                     --root HEX --commit C0 [--commit C1 ...] --msg MSG
 *                     --to DEVICE_HEX --reason TEXT --out GRANT
 *
 * resign: decodes a commit, makes the keystore's device its actor (e.g. a
 * device that is not in the roster: a ghost commit), optionally sets its
 * time and the policy number it names (a commit made under an older policy
 * by a client that does not check), signs it with that device's key and writes the encoding. Files are
 * the raw commit bytes.
 * grant: replays the chain (commit files in order) as the keystore's device,
 * which must be able to read MSG, and grants MSG to the device TO with
 * ground consent, assembled from the public grant API (cc_casus_message_key,
 * cc_grant_seal_key, cc_grant_sign) without the check, done by
 * cc_casus_grant and the honest client, that TO may read the message's
 * audience: what a dishonest member's client sends.
 * Exit 0 on success, 1 on any error (message on
 * stderr); this is a test tool, not part of any product.
 */
#include "cc_buf.h"
#include "cc_casus.h"
#include "cc_cert.h"
#include "cc_commit.h"
#include "cc_err.h"
#include "cc_grant.h"
#include "cc_keys.h"
#include "cc_keystore.h"
#include "cc_message.h"
#include "cc_policy.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

/* The device's wrap secrets (docs/CRYPTO.md "Device wrap keys"), for applying
 * commits sealed to them. */
static cc_wrap_secret g_wraps[CC_WRAP_MAX];
static size_t g_nwraps;
static uint32_t g_wrap_newest;

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
	for (size_t i = 0; rc == CC_OK && i < cc_keystore_count(ks); i++) {
		const char *name = cc_keystore_name(ks, i);
		if (name && strncmp(name, "wrap/", 5) == 0 && g_nwraps < CC_WRAP_MAX &&
		    cc_keystore_get(ks, name, &v, &vl) == CC_OK &&
		    cc_wrap_secret_decode(v, vl, &g_wraps[g_nwraps]) == CC_OK)
			if (g_wraps[g_nwraps++].version > g_wrap_newest)
				g_wrap_newest = g_wraps[g_nwraps - 1].version;
	}
	cc_keystore_free(ks);
	return rc;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int bad = !f || fwrite(p, 1, n, f) != n;
	if (f && fclose(f) != 0)
		bad = 1;
	return bad ? CC_ERR_MALFORMED : CC_OK;
}

static int resign(int argc, char **argv)
{
	const char *ksp = opt(argc, argv, "--keystore"), *pp = opt(argc, argv, "--passfile"),
		   *inp = opt(argc, argv, "--in"), *outp = opt(argc, argv, "--out"), *tp = opt(argc, argv, "--time"),
		   *np = opt(argc, argv, "--policy-number");
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
	if (np)
		c.policy = strtoull(np, NULL, 10);
	if ((rc = cc_commit_sign(&c, keys)) != CC_OK || (rc = cc_commit_encode(&c, &w)) != CC_OK || w.err) {
		fprintf(stderr, "forge resign: cannot sign or encode: %s\n", cc_strerror(rc ? rc : CC_ERR_NOMEM));
		rc = rc ? rc : CC_ERR_NOMEM;
		goto out;
	}
	if ((rc = write_file(outp, w.p, w.len)) != CC_OK)
		fprintf(stderr, "forge resign: cannot write %s\n", outp);
out:
	if (decoded)
		cc_commit_free(&c);
	cc_device_keys_free(keys);
	cc_w_free(&w);
	free(in);
	return rc == CC_OK ? 0 : 1;
}

/* One message granted to one roster device, signed by the casus's own
 * device, with no check that the grantee may read the audience. */
static int assemble_grant(const cc_casus *cs, const cc_policy *pol, const uint8_t to[CC_DEVICE_ID_BYTES],
                          const uint8_t *msg, size_t msgl, const char *reason, cc_wbuf *out)
{
	const cc_chain_state *st = cc_casus_chain(cs);
	const cc_device_keys *self = cc_casus_self(cs);
	uint8_t mk[CC_MESSAGE_KEY_BYTES];
	cc_message m;
	cc_grant g;
	int rc, di = cc_chain_find(st, to);
	memset(&g, 0, sizeof g);
	if (di < 0 || strlen(reason) > CC_GRANT_REASON_MAX)
		return CC_ERR_NOT_MEMBER;
	if ((rc = cc_message_decode(msg, msgl, &m)) != CC_OK ||
	    (rc = cc_casus_message_key(cs, pol, msg, msgl, mk)) != CC_OK)
		return rc;
	g.version = CC_GRANT_VERSION;
	memcpy(g.casus_id, st->casus_id, CC_CASUS_ID_BYTES);
	g.epoch = st->epoch;
	memcpy(g.epoch_hash, st->head, CC_HASH_BYTES);
	memcpy(g.granter, self->device_id, CC_DEVICE_ID_BYTES);
	g.time = (int64_t)time(NULL);
	g.ground = CC_GROUND_CONSENT;
	g.nitems = 1;
	g.ndevices = 1;
	g.items = calloc(1, sizeof *g.items);
	g.devices = calloc(1, sizeof *g.devices);
	if (!g.items || !g.devices || !(g.devices[0].boxes = malloc(CC_GRANT_BOX_BYTES))) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	memcpy(g.items[0].message_id, m.h.message_id, CC_MESSAGE_ID_BYTES);
	g.items[0].audience = m.h.audience;
	memcpy(g.devices[0].device_id, to, CC_DEVICE_ID_BYTES);
	const cc_cert *gc = &st->roster[di].cert;
	if ((rc = cc_message_hash(msg, msgl, g.items[0].message_hash)) != CC_OK ||
	    (rc = cc_grant_seal_reason(&g, reason, self->box_pk, (const uint8_t(*)[CC_BOX_PK_BYTES]) & gc->box_pk)) !=
	            CC_OK ||
	    (rc = cc_grant_seal_key(g.devices[0].boxes, gc->box_pk, gc->device_id, g.casus_id, g.items[0].message_id,
	                            g.items[0].message_hash, mk)) != CC_OK ||
	    (rc = cc_grant_sign(&g, self)) != CC_OK || (rc = cc_grant_encode(&g, out)) != CC_OK)
		goto out;
	rc = out->err;
out:
	sodium_memzero(mk, sizeof mk);
	cc_grant_free(&g);
	return rc;
}

static int grant(int argc, char **argv)
{
	const char *ksp = opt(argc, argv, "--keystore"), *pp = opt(argc, argv, "--passfile"),
		   *cp = opt(argc, argv, "--cert"), *polp = opt(argc, argv, "--policy"),
		   *rootp = opt(argc, argv, "--root"), *msgp = opt(argc, argv, "--msg"), *top = opt(argc, argv, "--to"),
		   *reason = opt(argc, argv, "--reason"), *outp = opt(argc, argv, "--out");
	if (!ksp || !pp || !cp || !polp || !rootp || !msgp || !top || !reason || !outp) {
		fprintf(stderr, "forge grant: missing arguments\n");
		return 1;
	}
	cc_device_keys *keys = NULL;
	cc_casus *cs = NULL;
	uint8_t *certb = NULL, *polb = NULL, *msg = NULL;
	size_t certl = 0, poll = 0, msgl = 0, rl = 0;
	uint8_t root[CC_SIGN_PK_BYTES], to[CC_DEVICE_ID_BYTES];
	cc_cert cert;
	cc_policy pol;
	cc_wbuf w;
	cc_w_init(&w);
	int rc = CC_ERR_MALFORMED;
	if (!(certb = read_file(cp, CC_CERT_MAX, &certl)) || !(polb = read_file(polp, 1 << 20, &poll)) ||
	    !(msg = read_file(msgp, 1 << 20, &msgl))) {
		fprintf(stderr, "forge grant: cannot read the certificate, policy or message\n");
		goto out;
	}
	if (sodium_hex2bin(root, sizeof root, rootp, strlen(rootp), NULL, &rl, NULL) != 0 || rl != sizeof root ||
	    cc_device_id_from_hex(top, to) != CC_OK) {
		fprintf(stderr, "forge grant: bad root key or device id\n");
		goto out;
	}
	if ((rc = cc_cert_decode(certb, certl, &cert)) != CC_OK || (rc = cc_policy_decode(polb, poll, &pol)) != CC_OK ||
	    (rc = load_device(ksp, pp, &keys)) != CC_OK || (rc = cc_casus_new(keys, &cert, &cs)) != CC_OK ||
	    (rc = cc_casus_set_wraps(cs, g_wraps, g_nwraps, g_wrap_newest)) != CC_OK) {
		fprintf(stderr, "forge grant: cannot set up the granter: %s\n", cc_strerror(rc));
		goto out;
	}
	for (int i = 2; i + 1 < argc; i++) {
		if (strcmp(argv[i], "--commit") != 0)
			continue;
		size_t cl = 0;
		uint8_t *cb = read_file(argv[i + 1], CC_COMMIT_MAX_BYTES, &cl);
		rc = cb ? cc_casus_apply_commit(cs, cb, cl, &pol, root, (int64_t)time(NULL), NULL) : CC_ERR_MALFORMED;
		free(cb);
		if (rc != CC_OK) {
			fprintf(stderr, "forge grant: commit %s does not apply: %s\n", argv[i + 1], cc_strerror(rc));
			goto out;
		}
	}
	/* cc_casus_grant would refuse (it self-checks the grantee's audiences, as
	 * an honest client does): assemble the same grant from the public API */
	if ((rc = assemble_grant(cs, &pol, to, msg, msgl, reason, &w)) != CC_OK) {
		fprintf(stderr, "forge grant: cannot build the grant: %s\n", cc_strerror(rc));
		goto out;
	}
	if ((rc = write_file(outp, w.p, w.len)) != CC_OK)
		fprintf(stderr, "forge grant: cannot write %s\n", outp);
out:
	cc_casus_free(cs);
	cc_device_keys_free(keys);
	cc_w_free(&w);
	free(certb);
	free(polb);
	free(msg);
	return rc == CC_OK ? 0 : 1;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		return 1;
	if (argc >= 2 && strcmp(argv[1], "resign") == 0)
		return resign(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "grant") == 0)
		return grant(argc, argv);
	fprintf(stderr, "usage: casus_forge resign|grant ... (see the comment at the top of forge.c)\n");
	return 2;
}
