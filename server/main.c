/*
 * main.c: casusd, the casus server.
 *
 *   casusd [--config FILE] [--listen ADDR] [--port N] [--data DIR] [--no-tls]
 *          [--tls-cert F --tls-key F] [--root FILE] [--policy FILE]
 *          [--revocations FILE] [--log-level L]
 *   casusd backup --data DIR --out DIR    hot, consistent copy of the store
 *   casusd audit-export / audit-prune      offline audit tools (audit_tools.c)
 *
 * Reads the pinned root public key, the signed policy and the revocation
 * list, opens the LMDB store and serves casus.v1 until SIGTERM or SIGINT.
 */
#include <fileio.h>
#include "audit.h"
#include "log.h"
#include "server.h"

#include <cc_buf.h>
#include <cc_err.h>
#include <dirent.h>
#include "handlers.h"
#include <errno.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static struct server *g_srv;

static void on_signal(int sig)
{
	(void)sig;
	if (g_srv)
		g_srv->stop = 1;
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: casusd [--config FILE] [--listen ADDR] [--port N] [--data DIR] [--no-tls]\n"
	        "              [--tls-cert FILE --tls-key FILE] [--root FILE] [--policy FILE]\n"
	        "              [--revocations FILE] [--certs DIR] [--log-level debug|info|warn|error]\n"
	        "       casusd backup --data DIR --out DIR\n"
	        "       casusd audit-export --data DIR --out FILE\n"
	        "       casusd audit-prune --data DIR [--keep-days N] [--config FILE]   (casusd stopped)\n");
}


static int load_root(struct server *srv, const char *path)
{
	size_t n = 0;
	uint8_t *b = fio_read(path, 256, &n);
	if (!b)
		return -1;
	char hex[129];
	size_t h = 0;
	for (size_t i = 0; i < n && h < 128; i++)
		if ((b[i] >= '0' && b[i] <= '9') || (b[i] >= 'a' && b[i] <= 'f') || (b[i] >= 'A' && b[i] <= 'F'))
			hex[h++] = (char)b[i];
	hex[h] = 0;
	free(b);
	size_t out = 0;
	if (h != 64 || sodium_hex2bin(srv->root_pk, sizeof srv->root_pk, hex, h, NULL, &out, NULL) != 0 || out != 32)
		return -1;
	return 0;
}

static int load_policy(struct server *srv, const char *path)
{
	size_t n = 0;
	uint8_t *b = fio_read(path, 1 << 20, &n);
	if (!b)
		return CC_ERR_IO;
	int rc = cc_policy_decode(b, n, &srv->policy);
	if (rc == CC_OK)
		rc = cc_policy_verify(&srv->policy, srv->root_pk, NULL);
	free(b);
	if (rc == CC_OK)
		srv->have_policy = 1;
	return rc;
}

static int load_revs(struct server *srv, const char *path)
{
	size_t n = 0;
	uint8_t *b = fio_read(path, 16 << 20, &n);
	if (!b)
		return errno == ENOENT ? CC_OK : CC_ERR_IO;
	int rc = cc_revlist_decode(b, n, &srv->revs);
	if (rc == CC_OK)
		rc = cc_revlist_verify(&srv->revs, srv->root_pk, NULL);
	free(b);
	if (rc == CC_OK)
		srv->have_revs = 1;
	return rc;
}

/* Import every *.cert in dir that verifies against the root into the directory. */
static void import_certs(struct server *srv, const char *dir)
{
	DIR *d = opendir(dir);
	if (!d) {
		log_event(LOG_WARN, "certs.dir_unreadable", "dir=%s", dir);
		return;
	}
	struct dirent *e;
	unsigned ok = 0, bad = 0;
	store_txn(&srv->st);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".cert") != 0)
			continue;
		char path[1024];
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		size_t n = 0;
		uint8_t *b = fio_read(path, CC_CERT_MAX, &n);
		cc_cert c;
		if (b && cc_cert_decode(b, n, &c) == CC_OK &&
		    cc_cert_verify(&c, srv->root_pk, (int64_t)time(NULL), srv->have_revs ? &srv->revs : NULL) == CC_OK &&
		    dir_store_cert(srv, &c, b, n) == 0)
			ok++;
		else
			bad++;
		free(b);
	}
	closedir(d);
	if (store_commit(&srv->st) != 0)
		log_event(LOG_ERROR, "certs.import_failed", NULL);
	log_event(LOG_INFO, "certs.imported", "ok=%u refused=%u", ok, bad);
}

#define SETSTR(dst) snprintf(dst, sizeof dst, "%s", argv[++i])

int main(int argc, char **argv)
{
	struct config cfg;
	static struct server srv;
	char why[512];
	const char *config_path = NULL;

	if (sodium_init() < 0) {
		fprintf(stderr, "casusd: libsodium failed to initialise\n");
		return 1;
	}
	/* offline audit tools (audit_tools.c) */
	if (argc > 1 && strcmp(argv[1], "audit-export") == 0)
		return audit_tool_export(argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "audit-prune") == 0)
		return audit_tool_prune(argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "backup") == 0) {
		const char *data = NULL, *out = NULL;
		for (int i = 2; i + 1 < argc; i += 2) {
			if (strcmp(argv[i], "--data") == 0)
				data = argv[i + 1];
			else if (strcmp(argv[i], "--out") == 0)
				out = argv[i + 1];
		}
		if (!data || !out) {
			usage();
			return 2;
		}
		int rc = store_backup(data, out);
		if (rc) {
			fprintf(stderr, "casusd backup: %s\n", mdb_strerror(rc));
			return 1;
		}
		printf("backup written to %s\n", out);
		return 0;
	}

	config_defaults(&cfg);
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[i + 1];
	if (config_path && config_load(&cfg, config_path, why, sizeof why) != 0) {
		fprintf(stderr, "casusd: %s\n", why);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int more = i + 1 < argc;
		if (strcmp(argv[i], "--config") == 0 && more)
			i++;
		else if (strcmp(argv[i], "--listen") == 0 && more)
			SETSTR(cfg.listen);
		else if (strcmp(argv[i], "--port") == 0 && more)
			cfg.port = atoi(argv[++i]);
		else if (strcmp(argv[i], "--data") == 0 && more)
			SETSTR(cfg.data_dir);
		else if (strcmp(argv[i], "--tls-cert") == 0 && more)
			SETSTR(cfg.tls_cert);
		else if (strcmp(argv[i], "--tls-key") == 0 && more)
			SETSTR(cfg.tls_key);
		else if (strcmp(argv[i], "--root") == 0 && more)
			SETSTR(cfg.root_pub);
		else if (strcmp(argv[i], "--policy") == 0 && more)
			SETSTR(cfg.policy);
		else if (strcmp(argv[i], "--revocations") == 0 && more)
			SETSTR(cfg.revocations);
		else if (strcmp(argv[i], "--certs") == 0 && more)
			SETSTR(cfg.certs_dir);
		else if (strcmp(argv[i], "--log-level") == 0 && more)
			SETSTR(cfg.log_level);
		else if (strcmp(argv[i], "--no-tls") == 0)
			cfg.tls = 0;
		else {
			usage();
			return 2;
		}
	}
	int lvl = log_level_from_name(cfg.log_level);
	if (lvl < 0) {
		fprintf(stderr, "casusd: unknown log level %s\n", cfg.log_level);
		return 2;
	}
	log_set_level((enum log_level)lvl);
	if (cfg.tls && (!cfg.tls_cert[0] || !cfg.tls_key[0])) {
		fprintf(stderr, "casusd: TLS needs --tls-cert and --tls-key (or --no-tls for loopback tests)\n");
		return 2;
	}
	if (!cfg.root_pub[0] || load_root(&srv, cfg.root_pub) != 0) {
		fprintf(stderr, "casusd: cannot read the root public key (--root FILE with 64 hex digits)\n");
		return 2;
	}
	if (cfg.policy[0]) {
		int rc = load_policy(&srv, cfg.policy);
		if (rc != CC_OK) {
			fprintf(stderr, "casusd: policy %s refused: %s\n", cfg.policy, cc_strerror(rc));
			return 2;
		}
	} else {
		fprintf(stderr, "casusd: warning: no --policy given; casus requests will be refused\n");
	}
	cc_revlist_init(&srv.revs);
	if (cfg.revocations[0]) {
		int rc = load_revs(&srv, cfg.revocations);
		if (rc != CC_OK) {
			fprintf(stderr, "casusd: revocation list %s refused: %s\n", cfg.revocations, cc_strerror(rc));
			return 2;
		}
	}

	/* 10,000 connections need 10,000 descriptors: raise the soft limit to the hard one */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	g_srv = &srv;
	if (server_init(&srv, &cfg) != 0) {
		server_free(&srv);
		return 1;
	}
	if (cfg.certs_dir[0])
		import_certs(&srv, cfg.certs_dir);
	/* server start is an audited event */
	{
		cc_audit_entry e;
		cc_audit_entry_init(&e);
		e.event = CC_AUDIT_EV_SERVER_START;
		snprintf(e.object, sizeof e.object, "policy %llu", (unsigned long long)srv.policy.number);
		audit_log(&srv, NULL, &e);
		store_txn(&srv.st);
		audit_request_done(&srv, 1);
		if (store_commit(&srv.st) == 0)
			audit_turn_committed(&srv);
	}
	printf("casusd listening on %s:%d (%s)\n", cfg.listen, cfg.port, cfg.tls ? "wss" : "ws");
	fflush(stdout);
	server_run(&srv);
	{
		cc_audit_entry e;
		cc_audit_entry_init(&e);
		e.event = CC_AUDIT_EV_SERVER_STOP;
		audit_log(&srv, NULL, &e);
		store_txn(&srv.st);
		audit_request_done(&srv, 1);
		audit_checkpoint_now(&srv);
		if (store_commit(&srv.st) == 0)
			audit_turn_committed(&srv);
	}
	server_free(&srv);
	log_event(LOG_INFO, "server.stopped", NULL);
	return 0;
}
