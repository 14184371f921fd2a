/*
 * casus_admin.c: `casus-admin`, the functional administrator's (beheer) tool.
 *
 *   casus-admin root-init    --keystore FILE --pub FILE
 *   casus-admin certify      --keystore FILE --request REQ --out CERT [--days N] [--role ROLE]
 *                            [--log ISSUED.log] [--renew] [--yes]
 *   casus-admin show-issued  --log ISSUED.log --root-pub FILE
 *   casus-admin sign-policy  --keystore FILE --policy POLICY.json --out POLICY.bin
 *   casus-admin show-policy  --policy POLICY.bin --root-pub FILE
 *   casus-admin revlist-init --keystore FILE --out LIST.bin
 *   casus-admin revoke       --keystore FILE --cert CERT --list OLD.bin --out NEW.bin
 *
 * The root key never leaves its keystore (Argon2id, sensitive limits). The
 * passphrase comes from a prompt or CASUS_PASSPHRASE_FILE.
 *
 * certify shows what it will sign and asks (--yes answers for scripts); it
 * refuses a device id or a device key that the issuance log already holds
 * (--renew: the same device again, a new validity period), and appends every
 * certificate it issues to that log (default: issuance.log beside the
 * keystore), signed by the root and hash-chained (cc_cert.h). revoke verifies
 * the previous list against the root and continues its numbering.
 *
 * Exit codes: the vocabulary of the casus command (cli_exit.h): 0 ok,
 * 1 refused (declined, already issued, already revoked, a file not written),
 * 2 usage, 3 profile (keystore or passphrase), 5 verify (a request, list, log
 * or policy that does not verify), 6 not_found (an input file missing).
 */
#include <fileio.h>
#include "casus_version.h"
#include "cli_args.h"
#include "cli_exit.h"
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
#include <libgen.h>
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

/* 1 if the bare flag name is present. */
static int flag(int argc, char **argv, const char *name)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}

static void usage_to(FILE *to)
{
	fprintf(to, "usage:\n"
	            "  casus-admin root-init    --keystore FILE --pub FILE\n"
	            "  casus-admin certify      --keystore FILE --request REQ --out CERT [--days N] [--role ROLE]\n"
	            "                           [--log ISSUED.log] [--renew] [--yes]\n"
	            "  casus-admin show-issued  --log ISSUED.log --root-pub FILE\n"
	            "  casus-admin sign-policy  --keystore FILE --policy POLICY.json --out POLICY.bin\n"
	            "  casus-admin show-policy  --policy POLICY.bin --root-pub FILE\n"
	            "  casus-admin revlist-init --keystore FILE --out LIST.bin\n"
	            "  casus-admin revoke       --keystore FILE --cert CERT --list OLD.bin --out NEW.bin\n"
	            "  casus-admin --help | --version\n"
	            "Options take --name VALUE or --name=VALUE. certify asks before it signs (--yes: do not\n"
	            "ask) and records every certificate in the issuance log (default issuance.log beside the\n"
	            "keystore). Exit codes as for casus (casus help): 0 ok, 1 refused, 2 usage, 3 keystore or\n"
	            "passphrase, 5 does not verify, 6 file not found.\n");
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
		return CLI_EXIT_PROFILE;
	int rc = cc_keystore_open(ks_path, g_pass, g_passlen, &ks);
	sodium_memzero(g_pass, sizeof g_pass);
	if (rc != CC_OK) {
		fprintf(stderr, "casus-admin: cannot open %s: %s\n", ks_path, cc_strerror(rc));
		return CLI_EXIT_PROFILE;
	}
	const uint8_t *v;
	size_t l;
	rc = cc_keystore_get(ks, "root", &v, &l);
	if (rc == CC_OK)
		rc = cc_root_key_decode(v, l, root);
	cc_keystore_free(ks);
	if (rc != CC_OK) {
		fprintf(stderr, "casus-admin: %s holds no root key\n", ks_path);
		return CLI_EXIT_PROFILE;
	}
	return 0;
}

static int root_init(int argc, char **argv)
{
	const char *ksp = opt(argc, argv, "--keystore"), *pubp = opt(argc, argv, "--pub");
	if (!ksp || !pubp) {
		usage();
		return CLI_EXIT_USAGE;
	}
	if (access(ksp, F_OK) == 0) {
		fprintf(stderr, "casus-admin: %s exists; refusing to replace a root key\n", ksp);
		return CLI_EXIT_REFUSED;
	}
	cc_root_key *root = NULL;
	cc_keystore *ks = NULL;
	cc_wbuf w;
	cc_w_init_secret(&w);
	int rc = CLI_EXIT_REFUSED;
	if (pass("New root keystore passphrase: "))
		return CLI_EXIT_PROFILE;
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

/* The issuance log path: --log, else issuance.log beside the keystore. */
static void log_path(int argc, char **argv, const char *ksp, char *out, size_t cap)
{
	const char *lp = opt(argc, argv, "--log");
	if (lp) {
		snprintf(out, cap, "%s", lp);
		return;
	}
	char tmp[4096];
	snprintf(tmp, sizeof tmp, "%s", ksp);
	snprintf(out, cap, "%s/issuance.log", dirname(tmp));
}

/* What the log says about a request's device, collected by log_scan. */
struct issued_scan {
	const cc_cert_request *req;
	int same_device; /* an entry with this device id and both its keys */
	int conflict;    /* an entry sharing the device id or a key, but not the device */
	uint64_t serial; /* of the newest entry that matched or conflicted */
	char user[CC_USER_ID_MAX + 1];
};

static int log_scan(const cc_issuance *e, void *ctx)
{
	struct issued_scan *sc = ctx;
	const cc_cert *c = &e->cert;
	int did = memcmp(c->device_id, sc->req->device_id, CC_DEVICE_ID_BYTES) == 0;
	int spk = memcmp(c->sign_pk, sc->req->sign_pk, CC_SIGN_PK_BYTES) == 0;
	int bpk = memcmp(c->box_pk, sc->req->box_pk, CC_BOX_PK_BYTES) == 0;
	if (!did && !spk && !bpk)
		return 0;
	if (did && spk && bpk && strcmp(c->user_id, sc->req->user_id) == 0)
		sc->same_device = 1;
	else
		sc->conflict = 1;
	sc->serial = c->serial;
	snprintf(sc->user, sizeof sc->user, "%s", c->user_id);
	return 0;
}

static void fmt_day(int64_t t, char *out, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(out, cap, "%lld", (long long)t);
}

/* Ask on the terminal; 1 for yes. Without a terminal the answer is no. */
static int confirm(void)
{
	fprintf(stderr, "Ondertekenen? / Sign? [j/N] ");
	fflush(stderr);
	char line[32];
	if (!fgets(line, sizeof line, stdin))
		return 0;
	return line[0] == 'j' || line[0] == 'J' || line[0] == 'y' || line[0] == 'Y';
}

static int certify(int argc, char **argv)
{
	const char *ksp = opt(argc, argv, "--keystore"), *reqp = opt(argc, argv, "--request"),
		   *outp = opt(argc, argv, "--out"), *days = opt(argc, argv, "--days"),
		   *role = opt(argc, argv, "--role");
	int yes = flag(argc, argv, "--yes"), renew = flag(argc, argv, "--renew");
	if (!ksp || !reqp || !outp) {
		usage();
		return CLI_EXIT_USAGE;
	}
	long ndays = 365;
	if (days) {
		char *end = NULL;
		errno = 0;
		ndays = strtol(days, &end, 10);
		if (errno || !end || *end || ndays < 1 || ndays > 3660) {
			fprintf(stderr, "casus-admin: --days takes a number of days from 1 to 3660\n");
			return CLI_EXIT_USAGE;
		}
	}
	char lp[4096];
	log_path(argc, argv, ksp, lp, sizeof lp);
	size_t n = 0;
	uint8_t *rb = fio_read(reqp, 4096, &n);
	if (!rb) {
		fprintf(stderr, "casus-admin: cannot read %s: %s\n", reqp, strerror(errno));
		return CLI_EXIT_NOT_FOUND;
	}
	cc_cert_request req;
	if (cc_cert_request_decode(rb, n, &req) != CC_OK || cc_cert_request_verify(&req) != CC_OK) {
		free(rb);
		fprintf(stderr, "casus-admin: %s is not a valid, self-signed certificate request\n", reqp);
		return CLI_EXIT_VERIFY;
	}
	free(rb);
	if (role)
		snprintf(req.role, sizeof req.role, "%s", role);
	cc_root_key *root = NULL;
	int rc = load_root(ksp, &root);
	if (rc)
		return rc;
	/* the log so far: verified against this root, and searched for this device */
	size_t ln = 0;
	uint8_t *lb = fio_read(lp, 256u << 20, &ln);
	if (!lb && errno != ENOENT) {
		fprintf(stderr, "casus-admin: cannot read the issuance log %s: %s\n", lp, strerror(errno));
		cc_root_key_free(root);
		return CLI_EXIT_REFUSED;
	}
	struct issued_scan sc;
	memset(&sc, 0, sizeof sc);
	sc.req = &req;
	cc_issuance_log lg;
	rc = cc_issuance_log_verify(lb, lb ? ln : 0, root->pk, &lg, log_scan, &sc);
	if (rc != CC_OK) {
		fprintf(stderr, "casus-admin: the issuance log %s does not verify (%s): nothing signed\n", lp,
		        cc_strerror(rc));
		free(lb);
		cc_root_key_free(root);
		return CLI_EXIT_VERIFY;
	}
	char dev[33];
	cc_device_id_hex(req.device_id, dev);
	if (sc.conflict || (sc.same_device && !renew)) {
		fprintf(stderr,
		        "casus-admin: apparaat %s of zijn sleutel is al uitgegeven (certificaat %llu, %s); niets "
		        "ondertekend / device %s or its key was already issued (certificate %llu, %s); nothing "
		        "signed%s\n",
		        dev, (unsigned long long)sc.serial, sc.user, dev, (unsigned long long)sc.serial, sc.user,
		        sc.same_device ? " (--renew: a new validity period for this same device)" : "");
		free(lb);
		cc_root_key_free(root);
		return CLI_EXIT_REFUSED;
	}
	if (renew && !sc.same_device) {
		fprintf(stderr, "casus-admin: --renew: device %s is not in the issuance log %s\n", dev, lp);
		free(lb);
		cc_root_key_free(root);
		return CLI_EXIT_REFUSED;
	}
	uint64_t serial;
	randombytes_buf(&serial, sizeof serial);
	serial &= 0x7fffffffffffffffULL;
	int64_t now = (int64_t)time(NULL);
	int64_t nb = now - 300, na = now + (int64_t)ndays * 86400;
	char from[40], until[40];
	fmt_day(nb, from, sizeof from);
	fmt_day(na, until, sizeof until);
	uint8_t fp[CC_HASH_BYTES];
	crypto_generichash(fp, 8, req.sign_pk, sizeof req.sign_pk, NULL, 0);
	char fph[17];
	sodium_bin2hex(fph, sizeof fph, fp, 8);
	fprintf(stderr,
	        "Te ondertekenen / to sign%s:\n"
	        "  gebruiker / user     %s\n"
	        "  naam / name          %s\n"
	        "  organisatie / org    %s\n"
	        "  rol / role           %s\n"
	        "  apparaat / device    %s (sleutel / key %s)\n"
	        "  geldig / valid       %s .. %s (%ld days)\n"
	        "  vastgelegd in / log  %s (entry %llu)\n",
	        renew ? " (verlenging / renewal)" : "", req.user_id, req.name, req.org, req.role, dev, fph, from, until,
	        ndays, lp, (unsigned long long)lg.count);
	if (!yes && !confirm()) {
		fprintf(stderr, "casus-admin: niet ondertekend / not signed\n");
		free(lb);
		cc_root_key_free(root);
		return CLI_EXIT_REFUSED;
	}
	cc_issuance e;
	memset(&e, 0, sizeof e);
	rc = cc_cert_issue(&req, root, serial, nb, na, &e.cert);
	if (rc == CC_OK) {
		e.version = CC_ISSUANCE_VERSION;
		e.seq = lg.count;
		memcpy(e.prev, lg.head, sizeof e.prev);
		e.issued_at = now > lg.last_at ? now : lg.last_at;
		rc = cc_issuance_sign(&e, root);
	}
	cc_root_key_free(root);
	if (rc != CC_OK) {
		free(lb);
		fprintf(stderr, "casus-admin: cannot certify: %s\n", cc_strerror(rc));
		return CLI_EXIT_VERIFY;
	}
	/* the log first: a certificate that is not on record is never handed out */
	cc_wbuf lw, w;
	cc_w_init(&lw);
	cc_w_init(&w);
	if (lb)
		cc_w_fixed(&lw, lb, ln);
	free(lb);
	cc_issuance_encode(&e, &lw);
	cc_cert_encode(&e.cert, &w);
	if (lw.err || fio_write_atomic(lp, lw.p, lw.len, 0644) != 0) {
		fprintf(stderr, "casus-admin: cannot write the issuance log %s; nothing issued\n", lp);
		rc = CLI_EXIT_REFUSED;
	} else if (w.err || fio_write_atomic(outp, w.p, w.len, 0644) != 0) {
		fprintf(stderr, "casus-admin: cannot write %s (the certificate is in the log)\n", outp);
		rc = CLI_EXIT_REFUSED;
	} else {
		printf("certified %s (%s, %s) as %s, serial %llu, issuance log entry %llu\n", e.cert.user_id,
		       e.cert.name, e.cert.org, e.cert.role, (unsigned long long)serial, (unsigned long long)e.seq);
		rc = CLI_EXIT_OK;
	}
	cc_w_free(&lw);
	cc_w_free(&w);
	return rc;
}

/* The root public key from a file of 64 hex digits. */
static int read_root_pub(const char *rp, uint8_t root[32])
{
	size_t rn = 0, out = 0;
	uint8_t *rb = fio_read(rp, 256, &rn);
	int ok = rb && rn >= 64 && sodium_hex2bin(root, 32, (const char *)rb, 64, NULL, &out, NULL) == 0 && out == 32;
	free(rb);
	return ok ? 0 : -1;
}

static int show_entry(const cc_issuance *e, void *ctx)
{
	(void)ctx;
	char dev[33], at[40], until[40];
	cc_device_id_hex(e->cert.device_id, dev);
	fmt_day(e->issued_at, at, sizeof at);
	fmt_day(e->cert.not_after, until, sizeof until);
	printf("%llu  %s  %s  %s  device %s  serial %llu  until %s\n", (unsigned long long)e->seq, at, e->cert.user_id,
	       e->cert.role, dev, (unsigned long long)e->cert.serial, until);
	return 0;
}

static int show_issued(int argc, char **argv)
{
	const char *lp = opt(argc, argv, "--log"), *rp = opt(argc, argv, "--root-pub");
	if (!lp || !rp) {
		usage();
		return CLI_EXIT_USAGE;
	}
	uint8_t root[32];
	if (read_root_pub(rp, root) != 0) {
		fprintf(stderr, "casus-admin: %s holds no root public key\n", rp);
		return CLI_EXIT_USAGE;
	}
	size_t n = 0;
	uint8_t *b = fio_read(lp, 256u << 20, &n);
	if (!b) {
		fprintf(stderr, "casus-admin: cannot read %s: %s\n", lp, strerror(errno));
		return CLI_EXIT_NOT_FOUND;
	}
	cc_issuance_log lg;
	int rc = cc_issuance_log_verify(b, n, root, &lg, show_entry, NULL);
	free(b);
	if (rc != CC_OK) {
		fprintf(stderr, "casus-admin: the issuance log %s does not verify: %s\n", lp, cc_strerror(rc));
		return CLI_EXIT_VERIFY;
	}
	printf("issuance log: %llu entries, verified\n", (unsigned long long)lg.count);
	return CLI_EXIT_OK;
}

static int sign_policy(int argc, char **argv)
{
	const char *ksp = opt(argc, argv, "--keystore"), *pp = opt(argc, argv, "--policy"),
		   *outp = opt(argc, argv, "--out");
	if (!ksp || !pp || !outp) {
		usage();
		return CLI_EXIT_USAGE;
	}
	cc_policy p;
	char err[256];
	int rc = cc_policy_from_json_file(pp, &p, err, sizeof err);
	if (rc != CC_OK) {
		fprintf(stderr, "casus-admin: %s: %s\n", pp, err);
		return CLI_EXIT_USAGE;
	}
	p.issued_at = (int64_t)time(NULL);
	cc_root_key *root = NULL;
	if ((rc = load_root(ksp, &root)))
		return rc;
	rc = cc_policy_sign(&p, root);
	cc_root_key_free(root);
	if (rc != CC_OK) {
		fprintf(stderr, "casus-admin: cannot sign: %s\n", cc_strerror(rc));
		return CLI_EXIT_VERIFY;
	}
	cc_wbuf w;
	cc_w_init(&w);
	cc_policy_encode(&p, &w);
	rc = w.err || fio_write_atomic(outp, w.p, w.len, 0644) ? CLI_EXIT_REFUSED : CLI_EXIT_OK;
	cc_w_free(&w);
	if (rc)
		fprintf(stderr, "casus-admin: cannot write %s\n", outp);
	else
		printf("signed policy %llu of %s: %u levels, %u roles, %u audiences\n", (unsigned long long)p.number,
		       p.deployment, p.nlevels, p.nroles, p.naudiences);
	return rc;
}

static int show_policy(int argc, char **argv)
{
	const char *pp = opt(argc, argv, "--policy"), *rp = opt(argc, argv, "--root-pub");
	if (!pp || !rp) {
		usage();
		return CLI_EXIT_USAGE;
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
		return CLI_EXIT_VERIFY;
	}
	free(b);
	free(rb);
	char *j = cc_policy_to_json(&p);
	printf("%s\n", j ? j : "");
	free(j);
	return 0;
}

/* Sign l (number and time set by the caller) and write it to outp. */
static int write_list(cc_revlist *l, const cc_root_key *root, const char *outp)
{
	int rc = cc_revlist_sign(l, root);
	cc_wbuf w;
	cc_w_init(&w);
	if (rc == CC_OK)
		rc = cc_revlist_encode(l, &w);
	if (rc != CC_OK || w.err || fio_write_atomic(outp, w.p, w.len, 0644) != 0) {
		fprintf(stderr, "casus-admin: cannot write %s\n", outp);
		cc_w_free(&w);
		return CLI_EXIT_REFUSED;
	}
	cc_w_free(&w);
	printf("revocation list %llu: %u revoked\n", (unsigned long long)l->number, l->count);
	return CLI_EXIT_OK;
}

static int revlist_init(int argc, char **argv)
{
	const char *ksp = opt(argc, argv, "--keystore"), *outp = opt(argc, argv, "--out");
	if (!ksp || !outp) {
		usage();
		return CLI_EXIT_USAGE;
	}
	if (access(outp, F_OK) == 0) {
		fprintf(stderr,
		        "casus-admin: %s exists; a new list must continue its numbering: use revoke --list %s\n", outp,
		        outp);
		return CLI_EXIT_REFUSED;
	}
	cc_root_key *root = NULL;
	int rc = load_root(ksp, &root);
	if (rc)
		return rc;
	cc_revlist l;
	cc_revlist_init(&l);
	l.number = 1;
	l.issued_at = (int64_t)time(NULL);
	rc = write_list(&l, root, outp);
	cc_root_key_free(root);
	cc_revlist_free(&l);
	return rc;
}

static int cmd_revoke(int argc, char **argv)
{
	const char *ksp = opt(argc, argv, "--keystore"), *cp = opt(argc, argv, "--cert"),
		   *lp = opt(argc, argv, "--list"), *outp = opt(argc, argv, "--out");
	if (!ksp || !cp || !outp || !lp) {
		if (ksp && cp && outp)
			fprintf(stderr, "casus-admin: revoke needs the current list (--list): a new list continues "
			                "its numbering and keeps every earlier revocation; the first list comes "
			                "from revlist-init\n");
		usage();
		return CLI_EXIT_USAGE;
	}
	size_t n = 0;
	uint8_t *cb = fio_read(cp, CC_CERT_MAX, &n);
	cc_cert cert;
	if (!cb || cc_cert_decode(cb, n, &cert) != CC_OK) {
		free(cb);
		fprintf(stderr, "casus-admin: %s is not a certificate\n", cp);
		return cb ? CLI_EXIT_VERIFY : CLI_EXIT_NOT_FOUND;
	}
	free(cb);
	cc_revlist l;
	cc_revlist_init(&l);
	uint8_t *lb = fio_read(lp, 16 << 20, &n);
	if (!lb) {
		fprintf(stderr, "casus-admin: cannot read %s: %s\n", lp, strerror(errno));
		return CLI_EXIT_NOT_FOUND;
	}
	if (cc_revlist_decode(lb, n, &l) != CC_OK) {
		free(lb);
		fprintf(stderr, "casus-admin: %s is not a revocation list\n", lp);
		return CLI_EXIT_VERIFY;
	}
	free(lb);
	cc_root_key *root = NULL;
	int rc = load_root(ksp, &root);
	if (rc) {
		cc_revlist_free(&l);
		return rc;
	}
	/* the previous list must be this root's, unaltered: its entries carry over */
	rc = cc_revlist_verify(&l, root->pk, NULL);
	if (rc != CC_OK) {
		fprintf(stderr, "casus-admin: %s does not verify against this root (%s): nothing signed\n", lp,
		        cc_strerror(rc));
		rc = CLI_EXIT_VERIFY;
	} else if (cc_cert_verify(&cert, root->pk, cert.not_before, NULL) != CC_OK) {
		fprintf(stderr, "casus-admin: %s is not a certificate of this root: nothing signed\n", cp);
		rc = CLI_EXIT_VERIFY;
	} else if (cc_revlist_contains(&l, cert.serial, NULL)) {
		fprintf(stderr, "casus-admin: certificate %llu is already on list %llu\n",
		        (unsigned long long)cert.serial, (unsigned long long)l.number);
		rc = CLI_EXIT_REFUSED;
	} else if (l.number == UINT64_MAX ||
	           cc_revlist_add(&l, cert.serial, cert.device_id, (int64_t)time(NULL)) != CC_OK) {
		fprintf(stderr, "casus-admin: cannot add certificate %llu to the list\n",
		        (unsigned long long)cert.serial);
		rc = CLI_EXIT_REFUSED;
	} else {
		l.number++;
		l.issued_at = (int64_t)time(NULL);
		rc = write_list(&l, root, outp);
	}
	cc_root_key_free(root);
	cc_revlist_free(&l);
	return rc;
}

int main(int argc, char **argv)
{
	static char **args; /* static: reachable until exit (LeakSanitizer) */
	if (cli_args_expand(argc, argv, &argc, &args) != 0)
		return CLI_EXIT_USAGE;
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
		return CLI_EXIT_INTERNAL;
	if (argc < 2) {
		usage();
		return CLI_EXIT_USAGE;
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
	if (strcmp(cmd, "revlist-init") == 0)
		return revlist_init(sargc, sargv);
	if (strcmp(cmd, "show-issued") == 0)
		return show_issued(sargc, sargv);
	usage();
	return CLI_EXIT_USAGE;
}
