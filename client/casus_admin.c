/*
 * casus_admin.c: `casus-admin`, the functional administrator's (beheer) tool.
 *
 *   casus-admin root-init   --keystore FILE --pub FILE
 *   casus-admin certify     --keystore FILE --request REQ --out CERT [--days N] [--role ROLE]
 *   casus-admin sign-policy --keystore FILE --policy POLICY.json --out POLICY.bin
 *   casus-admin show-policy --policy POLICY.bin --root-pub FILE
 *   casus-admin revoke      --keystore FILE --cert CERT [--list OLD.bin] --out NEW.bin
 *
 * The root key never leaves its keystore (Argon2id, sensitive limits). The
 * passphrase comes from a prompt or CASUS_PASSPHRASE_FILE.
 */
#include <fileio.h>
#include "casus_version.h"
#include "cli_args.h"
#include "libcasus.h"
#include "policy_json.h"

#include <cc_buf.h>
#include <cc_cert.h>
#include <cc_err.h>
#include <cc_keys.h>
#include <cc_keystore.h>
#include <cc_policy.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char g_pass[1024];
static size_t g_passlen;

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static void usage_to(FILE *to)
{
	fprintf(to, "usage:\n"
	            "  casus-admin root-init   --keystore FILE --pub FILE\n"
	            "  casus-admin certify     --keystore FILE --request REQ --out CERT [--days N] [--role ROLE]\n"
	            "  casus-admin sign-policy --keystore FILE --policy POLICY.json --out POLICY.bin\n"
	            "  casus-admin show-policy --policy POLICY.bin --root-pub FILE\n"
	            "  casus-admin revoke      --keystore FILE --cert CERT [--list OLD.bin] --out NEW.bin\n"
	            "  casus-admin --help | --version\n"
	            "Options take --name VALUE or --name=VALUE.\n");
}

static void usage(void)
{
	usage_to(stderr);
}

static int pass(const char *prompt)
{
	if (casus_read_passphrase(prompt, g_pass, sizeof g_pass, &g_passlen) != 0) {
		fprintf(stderr, "casus-admin: cannot read a passphrase\n");
		return -1;
	}
	return 0;
}

static int load_root(const char *ks_path, cc_root_key **root)
{
	cc_keystore *ks = NULL;
	if (pass("Root keystore passphrase: "))
		return 3;
	int rc = cc_keystore_open(ks_path, g_pass, g_passlen, &ks);
	sodium_memzero(g_pass, sizeof g_pass);
	if (rc != CC_OK) {
		fprintf(stderr, "casus-admin: cannot open %s: %s\n", ks_path, cc_strerror(rc));
		return 3;
	}
	const uint8_t *v;
	size_t l;
	rc = cc_keystore_get(ks, "root", &v, &l);
	if (rc == CC_OK)
		rc = cc_root_key_decode(v, l, root);
	cc_keystore_free(ks);
	if (rc != CC_OK) {
		fprintf(stderr, "casus-admin: %s holds no root key\n", ks_path);
		return 3;
	}
	return 0;
}

static int root_init(int argc, char **argv)
{
	const char *ksp = opt(argc, argv, "--keystore"), *pubp = opt(argc, argv, "--pub");
	if (!ksp || !pubp) {
		usage();
		return 2;
	}
	if (access(ksp, F_OK) == 0) {
		fprintf(stderr, "casus-admin: %s exists; refusing to replace a root key\n", ksp);
		return 2;
	}
	cc_root_key *root = NULL;
	cc_keystore *ks = NULL;
	cc_wbuf w;
	cc_w_init_secret(&w);
	int rc = 1;
	if (pass("New root keystore passphrase: "))
		return 3;
	if (cc_root_key_generate(&root) != CC_OK || cc_keystore_new(&ks) != CC_OK ||
	    cc_root_key_encode(root, &w) != CC_OK || w.err || cc_keystore_put(ks, "root", w.p, w.len) != CC_OK)
		goto out;
	/* the root key deserves the slow Argon2id limits, unless a test asks otherwise */
	if (!getenv("CASUS_ADMIN_FAST_KDF"))
		cc_keystore_set_limits(ks, crypto_pwhash_OPSLIMIT_SENSITIVE, crypto_pwhash_MEMLIMIT_MODERATE);
	else
		cc_keystore_set_limits(ks, crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE);
	if (cc_keystore_save(ks, ksp, g_pass, g_passlen) != CC_OK) {
		fprintf(stderr, "casus-admin: cannot write %s\n", ksp);
		goto out;
	}
	char hex[65];
	sodium_bin2hex(hex, sizeof hex, root->pk, 32);
	char line[80];
	int n = snprintf(line, sizeof line, "%s\n", hex);
	if (fio_write_atomic(pubp, line, (size_t)n, 0644) != 0) {
		fprintf(stderr, "casus-admin: cannot write %s\n", pubp);
		goto out;
	}
	printf("root public key: %s\n", hex);
	rc = 0;
out:
	sodium_memzero(g_pass, sizeof g_pass);
	cc_w_free(&w);
	cc_keystore_free(ks);
	cc_root_key_free(root);
	return rc;
}

static int certify(int argc, char **argv)
{
	const char *ksp = opt(argc, argv, "--keystore"), *reqp = opt(argc, argv, "--request"),
		   *outp = opt(argc, argv, "--out"), *days = opt(argc, argv, "--days"),
		   *role = opt(argc, argv, "--role");
	if (!ksp || !reqp || !outp) {
		usage();
		return 2;
	}
	size_t n = 0;
	uint8_t *rb = fio_read(reqp, 4096, &n);
	cc_cert_request req;
	if (!rb || cc_cert_request_decode(rb, n, &req) != CC_OK || cc_cert_request_verify(&req) != CC_OK) {
		free(rb);
		fprintf(stderr, "casus-admin: %s is not a valid, self-signed certificate request\n", reqp);
		return 5;
	}
	free(rb);
	if (role)
		snprintf(req.role, sizeof req.role, "%s", role);
	cc_root_key *root = NULL;
	int rc = load_root(ksp, &root);
	if (rc)
		return rc;
	uint64_t serial;
	randombytes_buf(&serial, sizeof serial);
	serial &= 0x7fffffffffffffffULL;
	int64_t now = (int64_t)time(NULL);
	cc_cert cert;
	rc = cc_cert_issue(&req, root, serial, now - 300, now + (int64_t)(days ? atoi(days) : 365) * 86400, &cert);
	cc_root_key_free(root);
	if (rc != CC_OK) {
		fprintf(stderr, "casus-admin: cannot certify: %s\n", cc_strerror(rc));
		return 5;
	}
	cc_wbuf w;
	cc_w_init(&w);
	cc_cert_encode(&cert, &w);
	rc = w.err || fio_write_atomic(outp, w.p, w.len, 0644) ? 1 : 0;
	cc_w_free(&w);
	if (rc)
		fprintf(stderr, "casus-admin: cannot write %s\n", outp);
	else
		printf("certified %s (%s, %s) as %s, serial %llu\n", cert.user_id, cert.name, cert.org, cert.role,
		       (unsigned long long)serial);
	return rc;
}

static int sign_policy(int argc, char **argv)
{
	const char *ksp = opt(argc, argv, "--keystore"), *pp = opt(argc, argv, "--policy"),
		   *outp = opt(argc, argv, "--out");
	if (!ksp || !pp || !outp) {
		usage();
		return 2;
	}
	cc_policy p;
	char err[256];
	int rc = cc_policy_from_json_file(pp, &p, err, sizeof err);
	if (rc != CC_OK) {
		fprintf(stderr, "casus-admin: %s: %s\n", pp, err);
		return 2;
	}
	p.issued_at = (int64_t)time(NULL);
	cc_root_key *root = NULL;
	if ((rc = load_root(ksp, &root)))
		return rc;
	rc = cc_policy_sign(&p, root);
	cc_root_key_free(root);
	if (rc != CC_OK) {
		fprintf(stderr, "casus-admin: cannot sign: %s\n", cc_strerror(rc));
		return 5;
	}
	cc_wbuf w;
	cc_w_init(&w);
	cc_policy_encode(&p, &w);
	rc = w.err || fio_write_atomic(outp, w.p, w.len, 0644) ? 1 : 0;
	cc_w_free(&w);
	if (!rc)
		printf("signed policy %llu of %s: %u levels, %u roles, %u audiences\n", (unsigned long long)p.number,
		       p.deployment, p.nlevels, p.nroles, p.naudiences);
	return rc;
}

static int show_policy(int argc, char **argv)
{
	const char *pp = opt(argc, argv, "--policy"), *rp = opt(argc, argv, "--root-pub");
	if (!pp || !rp) {
		usage();
		return 2;
	}
	size_t n = 0, rn = 0;
	uint8_t *b = fio_read(pp, 1 << 20, &n), *rb = fio_read(rp, 256, &rn);
	uint8_t root[32];
	size_t out = 0;
	cc_policy p;
	if (!b || !rb || rn < 64 || sodium_hex2bin(root, 32, (const char *)rb, 64, NULL, &out, NULL) || out != 32 ||
	    cc_policy_decode(b, n, &p) != CC_OK || cc_policy_verify(&p, root, NULL) != CC_OK) {
		free(b);
		free(rb);
		fprintf(stderr, "casus-admin: %s is not a policy signed by that root\n", pp);
		return 5;
	}
	free(b);
	free(rb);
	char *j = cc_policy_to_json(&p);
	printf("%s\n", j ? j : "");
	free(j);
	return 0;
}

static int cmd_revoke(int argc, char **argv)
{
	const char *ksp = opt(argc, argv, "--keystore"), *cp = opt(argc, argv, "--cert"),
		   *lp = opt(argc, argv, "--list"), *outp = opt(argc, argv, "--out");
	if (!ksp || !cp || !outp) {
		usage();
		return 2;
	}
	size_t n = 0;
	uint8_t *cb = fio_read(cp, CC_CERT_MAX, &n);
	cc_cert cert;
	if (!cb || cc_cert_decode(cb, n, &cert) != CC_OK) {
		free(cb);
		fprintf(stderr, "casus-admin: %s is not a certificate\n", cp);
		return 2;
	}
	free(cb);
	cc_revlist l;
	cc_revlist_init(&l);
	if (lp) {
		uint8_t *lb = fio_read(lp, 16 << 20, &n);
		if (!lb || cc_revlist_decode(lb, n, &l) != CC_OK) {
			free(lb);
			fprintf(stderr, "casus-admin: %s is not a revocation list\n", lp);
			return 2;
		}
		free(lb);
	}
	l.number++;
	l.issued_at = (int64_t)time(NULL);
	cc_revlist_add(&l, cert.serial, cert.device_id, (int64_t)time(NULL));
	cc_root_key *root = NULL;
	int rc = load_root(ksp, &root);
	if (rc) {
		cc_revlist_free(&l);
		return rc;
	}
	rc = cc_revlist_sign(&l, root);
	cc_root_key_free(root);
	cc_wbuf w;
	cc_w_init(&w);
	if (rc == CC_OK)
		cc_revlist_encode(&l, &w);
	rc = rc || w.err || fio_write_atomic(outp, w.p, w.len, 0644) ? 1 : 0;
	if (!rc)
		printf("revocation list %llu: %u revoked\n", (unsigned long long)l.number, l.count);
	cc_w_free(&w);
	cc_revlist_free(&l);
	return rc;
}

int main(int argc, char **argv)
{
	static char **args; /* static: reachable until exit (LeakSanitizer) */
	if (cli_args_expand(argc, argv, &argc, &args) != 0)
		return 1;
	argv = args;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage_to(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("casus-admin %s\n", CASUS_VERSION);
			return 0;
		}
	}
	if (sodium_init() < 0)
		return 1;
	if (argc < 2) {
		usage();
		return 2;
	}
	const char *cmd = argv[1];
	int sargc = argc - 2;
	char **sargv = argv + 2;
	if (strcmp(cmd, "root-init") == 0)
		return root_init(sargc, sargv);
	if (strcmp(cmd, "certify") == 0)
		return certify(sargc, sargv);
	if (strcmp(cmd, "sign-policy") == 0)
		return sign_policy(sargc, sargv);
	if (strcmp(cmd, "show-policy") == 0)
		return show_policy(sargc, sargv);
	if (strcmp(cmd, "revoke") == 0)
		return cmd_revoke(sargc, sargv);
	usage();
	return 2;
}
