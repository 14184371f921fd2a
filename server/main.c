/*
 * main.c: casusd, the casus server.
 *
 *   casusd [--config FILE] [--listen ADDR] [--port N] [--data DIR] [--no-tls [--no-tls-public]]
 *          [--tls-cert F --tls-key F] [--root FILE] [--policy FILE]
 *          [--revocations FILE] [--log-level L] [--check-config]
 *   casusd --help | --version
 *   casusd backup --data DIR --out DIR    hot, consistent copy of the store
 *   casusd audit-export / audit-prune      offline audit tools (audit_tools.c)
 *
 * Reads the pinned root public key, the signed policy and the revocation
 * list, opens the LMDB store and serves casus.v1 until SIGTERM or SIGINT.
 *
 * Startup is honest: every number is range-checked, the listen address is
 * resolved and bound or casusd exits non-zero saying why, plain ws:// off
 * loopback needs a second flag, and an exclusive lock on DATA/casusd.lock
 * keeps a second casusd off the same data folder. Only once the listening
 * socket is verified does casusd tell systemd READY=1 (sd_notify), and the
 * event loop's once-a-second tick sends WATCHDOG=1 when the unit asks for it.
 * SIGHUP reloads the TLS certificate, revocation list and policy without
 * dropping connections (ops.c), between RELOADING=1 and READY=1.
 */
#include <fileio.h>
#include "audit.h"
#include "cluster.h"
#include "log.h"
#include "loop.h"
#include "ops.h"
#include "relay.h"
#include "revlist.h"
#include "schema.h"
#include "server.h"

#include "casus_version.h"
#include "cli_args.h"
#include "handlers.h"

#include <arpa/inet.h>
#include <cc_buf.h>
#include <cc_err.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <nats/nats.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

static struct server *g_srv;

/* A startup error on stderr, as "casusd: ..."; under journald with priority 3
 * (error), so that `journalctl -p err` shows why casusd did not start. */
static void errmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void errmsg(const char *fmt, ...)
{
	va_list ap;
	fputs(log_priority_prefixes() ? "<3>casusd: " : "casusd: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
}

static volatile sig_atomic_t g_stop_requested; /* SIGTERM/SIGINT seen, also between two loops */

static void on_signal(int sig)
{
	if (sig != SIGHUP) {
		g_stop_requested = 1;
		cluster_request_stop();
	}
	if (!g_srv)
		return;
	if (sig == SIGHUP)
		g_srv->reload = 1;
	else
		g_srv->stop = 1;
}

/* ---- cluster mode: a follower serves while it follows ------------------------------
 * The follower applies the stream on a thread of its own (cluster_follow,
 * unchanged); this thread runs the loop without a store and relays every
 * session to the writer (relay.h). When cluster_follow returns (this node
 * took the lease, a stop, an error) the loop ends, its sessions close (their
 * clients reconnect), and main goes on as before: as the writer, it opens
 * the store and the rooms like a single node. */
struct follow_job {
	const struct config *cfg;
	struct cluster *cl;
	struct relay *relay;
	int rc;
	char why[640];
};

static void *follow_main(void *arg)
{
	struct follow_job *j = arg;
	j->rc = cluster_follow(j->cfg, &j->cl, j->why, sizeof j->why);
	relay_quit(j->relay);
	return NULL;
}

static int follow_and_serve(const struct config *cfg, const char *inc, struct cluster **out, struct relay **retired,
                            char *why, size_t wl)
{
	static struct server rsrv; /* the follower's loop: sessions and send queues, no store */
	static struct follow_job job;
	memset(&rsrv, 0, sizeof rsrv);
	memset(&job, 0, sizeof job);
	rsrv.cfg = *cfg;
	rsrv.relay_only = 1;
	g_srv = &rsrv;
	job.cfg = cfg;
	job.relay = relay_follower_start(&rsrv, inc, &rsrv.stop);
	if (!job.relay) {
		g_srv = NULL;
		if (rsrv.stop)
			return 1;
		snprintf(why, wl, "cluster: the relay cannot start (NATS)");
		return -1;
	}
	if (server_init(&rsrv, cfg) != 0) {
		server_free(&rsrv);
		relay_stop(job.relay);
		g_srv = NULL;
		snprintf(why, wl, "cluster: the follower cannot listen on %s port %d", cfg->listen, cfg->port);
		return -1;
	}
	relay_attach(job.relay);
	pthread_t th;
	if (pthread_create(&th, NULL, follow_main, &job) != 0) {
		relay_detach(job.relay);
		server_free(&rsrv);
		relay_stop(job.relay);
		g_srv = NULL;
		snprintf(why, wl, "cluster: cannot start the follower");
		return -1;
	}
	printf("casusd following the cluster and relaying on %s:%d (%s)\n", cfg->listen, cfg->port,
	       cfg->tls ? "wss" : "ws");
	fflush(stdout);
	sd_notifyf(0, "READY=1\nSTATUS=follower, relaying to the writer on %s port %d\nMAINPID=%ld", cfg->listen,
	           cfg->port, (long)getpid());
	server_run(&rsrv); /* ends on relay_quit, or on SIGTERM (on_signal also stops the follower thread) */
	relay_detach(job.relay);
	server_free(&rsrv);      /* the relayed sessions close: their clients reconnect */
	relay_retire(job.relay); /* its NATS connection goes at exit (relay.h) */
	*retired = job.relay;
	pthread_join(th, NULL);
	g_srv = NULL;
	*out = job.cl;
	if (job.rc < 0)
		snprintf(why, wl, "%s", job.why);
	return job.rc;
}

static void usage(FILE *to)
{
	fprintf(to, "usage: casusd [--config FILE] [--listen ADDR] [--port N] [--data DIR]\n"
	            "              [--tls-cert FILE --tls-key FILE] [--no-tls [--no-tls-public]]\n"
	            "              [--root FILE] [--policy FILE] [--revocations FILE] [--certs DIR]\n"
	            "              [--log-level debug|info|warn|error] [--check-config]\n"
	            "       casusd --help | --version\n"
	            "       casusd backup --data DIR --out DIR\n"
	            "       casusd audit-export --data DIR --out FILE\n"
	            "       casusd audit-prune --data DIR [--keep-days N] [--config FILE]   (casusd stopped)\n"
	            "Options take their value as --name VALUE or --name=VALUE. --no-tls is for loopback;\n"
	            "on any other address it also needs --no-tls-public. --check-config reads and checks\n"
	            "the configuration, keys and policy, prints a summary and exits (0 good, 2 not).\n");
}

static void version(void)
{
	printf("casusd %s\nstore format %d\n", CASUS_VERSION, SCHEMA_STORE_FORMAT);
}

/* ---- listen address ---------------------------------------------------------- */

union addr {
	struct sockaddr sa;
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	struct sockaddr_storage ss;
};

/* Resolve cfg->listen (a numeric address or a host name such as localhost)
 * to one address; a name takes its first IPv4 address, else its first IPv6
 * one. cfg->listen is replaced by the numeric form, which libwebsockets binds. */
static int resolve_listen(struct config *cfg, union addr *a, socklen_t *alen, char *why, size_t wl)
{
	struct addrinfo hints, *res = NULL, *pick = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_family = AF_UNSPEC;
	int rc = getaddrinfo(cfg->listen, NULL, &hints, &res);
	if (rc != 0 || !res) {
		snprintf(why, wl, "listen address \"%s\" does not resolve: %s", cfg->listen, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *r = res; r && !pick; r = r->ai_next)
		if (r->ai_family == AF_INET)
			pick = r;
	for (struct addrinfo *r = res; r && !pick; r = r->ai_next)
		if (r->ai_family == AF_INET6)
			pick = r;
	if (!pick || pick->ai_addrlen > sizeof a->ss) {
		freeaddrinfo(res);
		snprintf(why, wl, "listen address \"%s\" has no IPv4 or IPv6 address", cfg->listen);
		return -1;
	}
	memset(a, 0, sizeof *a);
	memcpy(&a->ss, pick->ai_addr, pick->ai_addrlen);
	*alen = pick->ai_addrlen;
	freeaddrinfo(res);
	char num[INET6_ADDRSTRLEN];
	if (getnameinfo(&a->sa, *alen, num, sizeof num, NULL, 0, NI_NUMERICHOST) != 0) {
		snprintf(why, wl, "listen address \"%s\" cannot be written as a number", cfg->listen);
		return -1;
	}
	if (strcmp(num, cfg->listen) != 0)
		log_event(LOG_INFO, "server.listen_resolved", "name=%s addr=%s", cfg->listen, num);
	snprintf(cfg->listen, sizeof cfg->listen, "%s", num);
	if (a->sa.sa_family == AF_INET)
		a->in4.sin_port = htons((uint16_t)cfg->port);
	else
		a->in6.sin6_port = htons((uint16_t)cfg->port);
	return 0;
}

static int is_loopback(const union addr *a)
{
	if (a->sa.sa_family == AF_INET)
		return (ntohl(a->in4.sin_addr.s_addr) >> 24) == 127;
	return IN6_IS_ADDR_LOOPBACK(&a->in6.sin6_addr);
}

/* Bind a throw-away socket to the address so that a refusal (address not on
 * this host, port in use, port below 1024 without the capability) is reported
 * with its reason before anything else starts. */
static int try_bind(const union addr *a, socklen_t alen, char *why, size_t wl, const char *shown, int port)
{
	int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, rc = 0;
	if (fd < 0) {
		snprintf(why, wl, "cannot listen on %s port %d: %s", shown, port, strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (a->sa.sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(fd, &a->sa, alen) != 0) {
		snprintf(why, wl, "cannot listen on %s port %d: %s", shown, port, strerror(errno));
		rc = -1;
	}
	close(fd);
	return rc;
}

static int same_addr(const union addr *want, const union addr *got)
{
	if (want->sa.sa_family == AF_INET && got->sa.sa_family == AF_INET)
		return want->in4.sin_port == got->in4.sin_port && want->in4.sin_addr.s_addr == got->in4.sin_addr.s_addr;
	if (got->sa.sa_family != AF_INET6)
		return 0;
	if (want->sa.sa_family == AF_INET6)
		return want->in6.sin6_port == got->in6.sin6_port &&
		       memcmp(&want->in6.sin6_addr, &got->in6.sin6_addr, 16) == 0;
	/* an IPv4 address on an IPv6 socket, as ::ffff:a.b.c.d */
	return want->in4.sin_port == got->in6.sin6_port && IN6_IS_ADDR_V4MAPPED(&got->in6.sin6_addr) &&
	       memcmp(&got->in6.sin6_addr.s6_addr[12], &want->in4.sin_addr, 4) == 0;
}

/* After libwebsockets set up: is one of our descriptors a listening socket
 * on exactly that address? (lws keeps running with no listener when it
 * cannot use the address; this is how that is caught.) */
static int listener_present(const union addr *want)
{
	DIR *d = opendir("/proc/self/fd");
	int found = 0;
	if (!d)
		return 0;
	struct dirent *e;
	while (!found && (e = readdir(d))) {
		char *end = NULL;
		long fd = strtol(e->d_name, &end, 10);
		if (!end || *end || fd < 3 || fd == dirfd(d))
			continue;
		int acc = 0;
		socklen_t l = sizeof acc;
		if (getsockopt((int)fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) != 0 || !acc)
			continue;
		union addr got;
		socklen_t gl = sizeof got.ss;
		memset(&got, 0, sizeof got);
		if (getsockname((int)fd, &got.sa, &gl) == 0 && same_addr(want, &got))
			found = 1;
	}
	closedir(d);
	return found;
}

/* ---- one server per data folder ---------------------------------------------- */

/* Take an exclusive flock on DATA/casusd.lock for the life of the process and
 * write our pid into it. Returns the descriptor, or -1 with the reason. */
static int lock_data_dir(const char *dir, char *why, size_t wl)
{
	char path[600];
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		snprintf(why, wl, "cannot create the data folder %s: %s", dir, strerror(errno));
		return -1;
	}
	if ((size_t)snprintf(path, sizeof path, "%s/casusd.lock", dir) >= sizeof path) {
		snprintf(why, wl, "data folder path too long");
		return -1;
	}
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, wl, "cannot open %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		int err = errno;
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
		if (n > 0) {
			pid[n] = '\0';
			pid[strcspn(pid, "\n")] = '\0';
		}
		close(fd);
		if (err == EWOULDBLOCK)
			snprintf(why, wl,
			         "the data folder %s is in use by another casusd (pid %s); one server per data folder",
			         dir, pid[0] ? pid : "unknown");
		else
			snprintf(why, wl, "cannot lock %s: %s", path, strerror(err));
		return -1;
	}
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		log_event(LOG_WARN, "server.lockfile_write", "errno=%d", errno);
	return fd;
}

/* ---- systemd ------------------------------------------------------------------- */

static int g_watchdog; /* the unit asked for WATCHDOG=1 */

/* Once a second from the event loop: the watchdog, the store probe after a
 * failed commit, and a reload asked for by SIGHUP (systemd hears RELOADING=1
 * and READY=1 around it; connections stay open). */
static void main_tick(struct server *srv)
{
	if (g_watchdog)
		sd_notify(0, "WATCHDOG=1");
	ops_tick(srv);
	if (srv->reload) {
		srv->reload = 0;
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
		           (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000ULL);
		int bad = ops_reload(srv);
		sd_notifyf(0, "READY=1\nSTATUS=listening on %s port %d (%s); last reload: %s", srv->cfg.listen,
		           srv->cfg.port, srv->cfg.tls ? "wss" : "ws", bad ? "some files refused, see the log" : "ok");
	}
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
		return CC_ERR_IO;            /* fail closed: a missing list is not an empty one */
	int rc = revlist_install(srv, b, n); /* keeps b on success */
	if (rc != CC_OK)
		free(b);
	return rc;
}

static int load_issuance(struct server *srv, const char *path)
{
	size_t n = 0;
	uint8_t *b = fio_read(path, 256u << 20, &n);
	if (!b)
		return CC_ERR_IO;
	int rc = issuance_install(srv, b, n); /* keeps b on success */
	if (rc != CC_OK)
		free(b);
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
		    cc_cert_verify(&c, srv->root_pk, (int64_t)time(NULL), srv->have_revs ? &srv->revs : NULL) ==
		            CC_OK &&
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

/* A string flag's value into a fixed field: too long is an error, not a cut. */
static int set_str(char *dst, size_t cap, const char *flag, const char *val)
{
	if (strlen(val) >= cap) {
		errmsg("%s: value longer than %zu characters\n", flag, cap - 1);
		return -1;
	}
	snprintf(dst, cap, "%s", val);
	return 0;
}

#define SETSTR(dst)                                                                                                    \
	do {                                                                                                           \
		i++;                                                                                                   \
		if (set_str(dst, sizeof dst, argv[i - 1], argv[i]) != 0)                                               \
			return 2;                                                                                      \
	} while (0)

int main(int argc, char **argv)
{
	struct config cfg;
	static struct server srv;
	char why[640];
	const char *config_path = NULL;
	int check_only = 0, want_no_tls = 0, lock_fd = -1;
	union addr laddr;
	socklen_t laddr_len = 0;

	static char **args; /* static: reachable until exit (LeakSanitizer) */
	log_init();
	if (cli_args_expand(argc, argv, &argc, &args) != 0) {
		errmsg("out of memory\n");
		return 1;
	}
	argv = args;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			version();
			return 0;
		}
	}
	if (sodium_init() < 0) {
		errmsg("libsodium failed to initialise\n");
		return 1;
	}
	/* offline audit tools (audit_tools.c) */
	if (argc > 1 && strcmp(argv[1], "audit-export") == 0)
		return audit_tool_export(argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "audit-prune") == 0)
		return audit_tool_prune(argc - 2, argv + 2);
	if (argc > 1 && strcmp(argv[1], "backup") == 0) {
		const char *data = NULL, *out = NULL;
		for (int i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--help") == 0) {
				usage(stdout);
				return 0;
			}
			if (strcmp(argv[i], "--data") == 0 && i + 1 < argc)
				data = argv[++i];
			else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
				out = argv[++i];
			else {
				fprintf(stderr, "casusd backup: unknown or incomplete option %s\n", argv[i]);
				return 2;
			}
		}
		if (!data || !out) {
			usage(stderr);
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
		errmsg("%s\n", why);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		int more = i + 1 < argc;
		if (strcmp(argv[i], "--config") == 0 && more)
			i++;
		else if (strcmp(argv[i], "--listen") == 0 && more)
			SETSTR(cfg.listen);
		else if (strcmp(argv[i], "--port") == 0 && more) {
			unsigned long long p;
			if (config_parse_uint(argv[++i], 1, 65535, &p) != 0) {
				errmsg("--port %s: give a number between 1 and 65535\n", argv[i]);
				return 2;
			}
			cfg.port = (int)p;
		} else if (strcmp(argv[i], "--data") == 0 && more)
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
			want_no_tls = 1;
		else if (strcmp(argv[i], "--no-tls-public") == 0)
			cfg.no_tls_public = 1;
		else if (strcmp(argv[i], "--check-config") == 0)
			check_only = 1;
		else {
			errmsg("unknown option or missing value: %s (see casusd --help)\n", argv[i]);
			return 2;
		}
	}
	if (want_no_tls)
		cfg.tls = 0;
	if (config_check(&cfg, why, sizeof why) != 0) {
		errmsg("%s\n", why);
		return 2;
	}
	{
		char shown[sizeof cfg.listen];
		snprintf(shown, sizeof shown, "%s", cfg.listen);
		if (resolve_listen(&cfg, &laddr, &laddr_len, why, sizeof why) != 0) {
			errmsg("%s\n", why);
			return 2;
		}
		if (!cfg.tls && !is_loopback(&laddr) && !cfg.no_tls_public) {
			errmsg("refusing plain ws:// (no TLS) on %s, which is not a loopback address: everyone on "
			       "the network sees the traffic. Use TLS, listen on 127.0.0.1 or ::1, or add "
			       "--no-tls-public (\"no_tls_public\": true) if a TLS proxy on this host fronts casusd.\n",
			       shown);
			return 2;
		}
	}
	int lvl = log_level_from_name(cfg.log_level);
	if (lvl < 0) {
		errmsg("unknown log level %s\n", cfg.log_level);
		return 2;
	}
	log_set_level((enum log_level)lvl);
	if (cfg.tls && (!cfg.tls_cert[0] || !cfg.tls_key[0])) {
		errmsg("TLS needs --tls-cert and --tls-key (or --no-tls for loopback tests)\n");
		return 2;
	}
	if (cfg.tls) {
		const char *files[2] = {cfg.tls_cert, cfg.tls_key};
		for (int k = 0; k < 2; k++)
			if (access(files[k], R_OK) != 0) {
				errmsg("cannot read TLS %s %s: %s\n", k ? "key" : "certificate", files[k],
				       strerror(errno));
				return 2;
			}
	}
	if (!cfg.root_pub[0] || load_root(&srv, cfg.root_pub) != 0) {
		errmsg("cannot read the root public key (--root FILE with 64 hex digits)\n");
		return 2;
	}
	if (cfg.policy[0]) {
		int rc = load_policy(&srv, cfg.policy);
		if (rc != CC_OK) {
			errmsg("policy %s refused: %s\n", cfg.policy, cc_strerror(rc));
			return 2;
		}
	} else {
		fprintf(stderr, "%scasusd: warning: no --policy given; casus requests will be refused\n",
		        log_priority_prefixes() ? "<4>" : "");
	}
	cc_revlist_init(&srv.revs);
	if (!cfg.revocations[0]) {
		errmsg("no revocation list (--revocations FILE, \"revocations\" in the config): casusd does not "
		       "start without one; create an empty list with `casus-admin revlist-init` "
		       "(docs/OPERATIONS.md)\n");
		return 2;
	}
	{
		int rc = load_revs(&srv, cfg.revocations);
		if (rc != CC_OK) {
			errmsg("revocation list %s refused: %s%s%s\n", cfg.revocations, cc_strerror(rc),
			       rc == CC_ERR_IO ? ": " : "", rc == CC_ERR_IO ? strerror(errno) : "");
			revlist_free(&srv);
			return 2;
		}
	}
	if (cfg.issuance_log[0]) {
		int rc = load_issuance(&srv, cfg.issuance_log);
		if (rc != CC_OK) {
			errmsg("issuance log %s refused: %s%s%s\n", cfg.issuance_log, cc_strerror(rc),
			       rc == CC_ERR_IO ? ": " : "", rc == CC_ERR_IO ? strerror(errno) : "");
			revlist_free(&srv);
			return 2;
		}
	}

	if (check_only) {
		printf("casusd: configuration OK: listen %s port %d (%s, TLS >= %s), data %s, policy %llu, revocation list %llu\n",
		       cfg.listen, cfg.port, cfg.tls ? "wss" : "ws", cfg.tls_min_version, cfg.data_dir,
		       (unsigned long long)srv.policy.number, (unsigned long long)srv.revs.number);
		revlist_free(&srv);
		return 0;
	}
	lock_fd = lock_data_dir(cfg.data_dir, why, sizeof why);
	if (lock_fd < 0) {
		errmsg("%s\n", why);
		revlist_free(&srv);
		return 1;
	}
	/* cluster mode: follow the replicated log until this node is the writer (cluster.h) */
	struct cluster *cluster = NULL;
	struct relay *relay = NULL, *follower_relay = NULL;
	char inc[17] = "";
	if (cfg.cluster.on) {
		relay_incarnation(inc);
		cluster_set_incarnation(inc);
		if (try_bind(&laddr, laddr_len, why, sizeof why, cfg.listen, cfg.port) != 0) {
			errmsg("%s\n", why);
			revlist_free(&srv);
			return 1;
		}
		signal(SIGPIPE, SIG_IGN);
		struct sigaction fsa;
		memset(&fsa, 0, sizeof fsa);
		fsa.sa_handler = on_signal;
		sigemptyset(&fsa.sa_mask);
		sigaction(SIGTERM, &fsa, NULL);
		sigaction(SIGINT, &fsa, NULL);
		int cr = follow_and_serve(&cfg, inc, &cluster, &follower_relay, why, sizeof why);
		if (cr == 0 && (g_stop_requested || cluster_stop_requested())) {
			/* a stop came while this node took the lease: hand it back, do not start */
			cluster_stop(cluster, NULL);
			cluster = NULL;
			cr = 1;
		}
		if (cr != 0) {
			if (cr < 0)
				errmsg("%s\n", why);
			revlist_free(&srv);
			close(lock_fd);
			relay_stop(follower_relay);
			nats_Close();
			return cr < 0 ? 1 : 0;
		}
	}
	if (try_bind(&laddr, laddr_len, why, sizeof why, cfg.listen, cfg.port) != 0) {
		char q[700];
		log_event(LOG_ERROR, "server.listen_failed", "addr=%s port=%d msg=%s", cfg.listen, cfg.port,
		          log_q(why, q, sizeof q));
		errmsg("%s\n", why);
		revlist_free(&srv);
		return 1;
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
	sigaction(SIGHUP, &sa, NULL); /* reload (ops.c), never a stop */
	signal(SIGPIPE, SIG_IGN);

	g_srv = &srv;
	if (g_stop_requested)
		srv.stop = 1; /* a SIGTERM between the follower's loop and this one */
	if (server_init(&srv, &cfg) != 0) {
		errmsg("could not start (see the log lines above)\n");
		server_free(&srv);
		return 1;
	}
	if (cluster && cluster_writer_start(cluster, &srv, why, sizeof why) != 0) {
		errmsg("%s\n", why);
		cluster_stop(cluster, &srv);
		server_free(&srv);
		return 1;
	}
	if (cluster && !(relay = relay_writer_start(&srv, inc))) {
		/* followers could not reach this writer: give the lease to another node */
		errmsg("cluster: the writer cannot take relayed sessions (NATS)\n");
		cluster_stop(cluster, &srv);
		server_free(&srv);
		return CLUSTER_EXIT_STEP_DOWN;
	}
	if (revlist_check_store(&srv, why, sizeof why) != 0) {
		log_event(LOG_ERROR, "revocations.stale", "number=%llu", (unsigned long long)srv.revs.number);
		errmsg("%s\n", why);
		server_free(&srv);
		return 2;
	}
	if (!listener_present(&laddr)) {
		errmsg("no listening socket on %s port %d after start; exiting\n", cfg.listen, cfg.port);
		log_event(LOG_ERROR, "server.no_listener", "addr=%s port=%d", cfg.listen, cfg.port);
		server_free(&srv);
		return 1;
	}
	{
		uint64_t wd_usec = 0;
		g_watchdog = sd_watchdog_enabled(0, &wd_usec) > 0;
		srv.on_tick = main_tick;
	}
	if (cfg.certs_dir[0])
		import_certs(&srv, cfg.certs_dir);
	/* server start is an audited event */
	{
		cc_audit_entry e;
		cc_audit_entry_init(&e);
		e.event = CC_AUDIT_EV_SERVER_START;
		/* a restored store starts a new, separately anchored audit segment */
		if (srv.st.restored && audit_restore_segment(&srv) != 0) {
			errmsg("could not start the audit segment of the restored store (see the log)\n");
			server_free(&srv);
			return 1;
		}
		audit_live_flush_all(&srv); /* live reads a crash left pending */
		char ep[2 * sizeof srv.st.epoch + 1];
		sodium_bin2hex(ep, sizeof ep, srv.st.epoch, sizeof srv.st.epoch);
		/* after a restore the first entry says so: the trail shows where the store went back */
		snprintf(e.object, sizeof e.object, "policy %llu; store epoch %.16s%s",
		         (unsigned long long)srv.policy.number, ep, srv.st.restored ? "; restored from a backup" : "");
		audit_log(&srv, NULL, &e);
		store_txn(&srv.st);
		audit_request_done(&srv, 1);
		if (store_commit(&srv.st) == 0)
			audit_turn_committed(&srv);
	}
	printf("casusd listening on %s:%d (%s)\n", cfg.listen, cfg.port, cfg.tls ? "wss" : "ws");
	fflush(stdout);
	sd_notifyf(0, "READY=1\nSTATUS=listening on %s port %d (%s)\nMAINPID=%ld", cfg.listen, cfg.port,
	           cfg.tls ? "wss" : "ws", (long)getpid());
	server_run(&srv);
	sd_notify(0, "STOPPING=1");
	relay_close_all(relay); /* the relayed sessions end like the local ones */
	{
		cc_audit_entry e;
		cc_audit_entry_init(&e);
		e.event = CC_AUDIT_EV_SERVER_STOP;
		audit_live_flush_all(&srv); /* live reads of sessions still open */
		audit_log(&srv, NULL, &e);
		store_txn(&srv.st);
		audit_request_done(&srv, 1);
		audit_checkpoint_now(&srv);
		if (store_commit(&srv.st) == 0)
			audit_turn_committed(&srv);
	}
	cluster_stop(cluster, &srv);
	relay_detach(relay);
	server_free(&srv);
	relay_stop(relay);
	relay_stop(follower_relay);
	if (cfg.cluster.on)
		nats_Close();
	log_event(LOG_INFO, "server.stopped", NULL);
	close(lock_fd); /* releases the lock: the store is closed */
	return 0;
}
