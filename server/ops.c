/*
 * ops.c: casusd's operations surface (ops.h): the SIGHUP reload of the TLS
 * certificate, revocation list and policy; /healthz that says "not ready"
 * with a reason when the store cannot write, the disk is near full or the
 * audit chain is behind; and /metrics in Prometheus' text format on a
 * listener of its own (loopback by default), with HELP and TYPE lines.
 *
 * Metric names are stable: dashboards and alerts use them. A new metric may
 * be added; a name is never reused for another meaning
 * (docs/OPERATIONS.md "Monitoring" lists them).
 */
#include "ops.h"
#include "audit.h"
#include "handlers.h"
#include "log.h"
#include "revlist.h"
#include "schema.h"
#include "server.h"

#include "casus_version.h"

#include <cc_err.h>
#include <dirent.h>
#include <errno.h>
#include <fileio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <proto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#define OPS_POLICY_MAX (1u << 20)
#define OPS_REVS_MAX (16u << 20)
#define OPS_METRICS_MAX (64 * 1024)
#define OPS_PROBE_EVERY_MS 5000
#define OPS_FAIL_RECENT_NS (30ULL * 1000000000ULL) /* a failed commit keeps /healthz at 503 this long */
#define OPS_META_PROBE "health_probe"              /* meta: wall ms of the last store probe */

/* ---- reload --------------------------------------------------------------------- */

int ops_tls_ctx(struct server *srv, void *ssl_ctx)
{
	if (srv && !srv->tls_ctx)
		srv->tls_ctx = ssl_ctx;
	return 0;
}

static void refused(const char *what, const char *path, const char *reason)
{
	char qp[700], qr[300];
	log_event(LOG_ERROR, "reload.refused", "what=%s path=%s reason=%s kept=old", what, log_q(path, qp, sizeof qp),
	          log_q(reason, qr, sizeof qr));
}

static const char *ssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();
	if (!e)
		return "unusable";
	ERR_error_string_n(e, buf, cap);
	return buf;
}

/* Load the certificate chain and key into a scratch SSL_CTX; only if both load,
 * match and the certificate is within its validity, move them into the live
 * one. -1 (logged) leaves the live context as it was. */
static int reload_tls(struct server *srv)
{
	const struct config *c = &srv->cfg;
	char eb[256];
	int rc = -1;
	if (!c->tls)
		return 0;
	if (!srv->tls_ctx) {
		refused("tls", c->tls_cert, "no TLS context to update");
		return -1;
	}
	ERR_clear_error();
	SSL_CTX *tmp = SSL_CTX_new(TLS_server_method());
	if (!tmp) {
		refused("tls", c->tls_cert, "out of memory");
		goto out;
	}
	if (SSL_CTX_use_certificate_chain_file(tmp, c->tls_cert) != 1) {
		refused("tls", c->tls_cert, ssl_reason(eb, sizeof eb));
		goto out;
	}
	if (SSL_CTX_use_PrivateKey_file(tmp, c->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(tmp) != 1) {
		refused("tls", c->tls_key, ssl_reason(eb, sizeof eb));
		goto out;
	}
	X509 *x = SSL_CTX_get0_certificate(tmp);
	EVP_PKEY *pk = SSL_CTX_get0_privatekey(tmp);
	STACK_OF(X509) *chain = NULL;
	if (!x || !pk || SSL_CTX_get0_chain_certs(tmp, &chain) != 1) {
		refused("tls", c->tls_cert, "certificate or key missing");
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
		refused("tls", c->tls_cert, "the certificate has expired");
		goto out;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
		refused("tls", c->tls_cert, "the certificate is not valid yet");
		goto out;
	}
	if (SSL_CTX_use_cert_and_key((SSL_CTX *)srv->tls_ctx, x, pk, chain, 1) != 1) {
		refused("tls", c->tls_cert, ssl_reason(eb, sizeof eb));
		goto out;
	}
	{
		char subj[256] = "";
		X509_NAME_oneline(X509_get_subject_name(x), subj, sizeof subj);
		char q[300];
		log_event(LOG_INFO, "reload.tls", "subject=%s", log_q(subj, q, sizeof q));
	}
	rc = 0;
out:
	SSL_CTX_free(tmp);
	ERR_clear_error(); /* nothing of this may be mistaken for a connection's error */
	return rc;
}

/* Close the authenticated sessions whose certificate the held list now revokes. */
static void close_revoked(struct server *srv)
{
	unsigned n = 0;
	for (struct session *s = srv->sessions; s; s = s->next) {
		if (s->state != SS_AUTHED || s->close_pending)
			continue;
		if (cc_cert_verify(&s->cert, srv->root_pk, clock_wall_s(), &srv->revs) == CC_ERR_REVOKED) {
			log_event(LOG_WARN, "session.revoked", "sid=%llu peer=%s", (unsigned long long)s->sid, s->peer);
			session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "certificate revoked");
			n++;
		}
	}
	if (n)
		log_event(LOG_INFO, "reload.sessions_closed", "revoked=%u", n);
}

static int reload_revs(struct server *srv)
{
	const char *path = srv->cfg.revocations;
	size_t n = 0;
	if (!path[0])
		return 0;
	uint8_t *b = fio_read(path, OPS_REVS_MAX, &n);
	if (!b) {
		if (errno == ENOENT && !srv->have_revs)
			return 0; /* none at start, none now */
		refused("revocations", path, strerror(errno));
		return -1;
	}
	if (srv->have_revs && srv->revs_bytes && n == srv->revs_len && memcmp(b, srv->revs_bytes, n) == 0) {
		free(b);
		return 0; /* unchanged */
	}
	int rc = revlist_install(srv, b, n); /* keeps b on success */
	if (rc != CC_OK) {
		free(b);
		refused("revocations", path, cc_strerror(rc));
		return -1;
	}
	log_event(LOG_INFO, "reload.revocations", "number=%llu", (unsigned long long)srv->revs.number);
	close_revoked(srv);
	return 0;
}

/* The issuance log grows: a new version must extend the held one (revlist.h). */
static int reload_issuance(struct server *srv)
{
	const char *path = srv->cfg.issuance_log;
	size_t n = 0;
	if (!path[0])
		return 0;
	uint8_t *b = fio_read(path, 256u << 20, &n);
	if (!b) {
		refused("issuance_log", path, strerror(errno));
		return -1;
	}
	int rc = issuance_install(srv, b, n); /* keeps b on success */
	if (rc != CC_OK) {
		free(b);
		refused("issuance_log", path, cc_strerror(rc));
		return -1;
	}
	log_event(LOG_INFO, "reload.issuance_log", "entries=%llu", (unsigned long long)srv->issued_count);
	return 0;
}

static int reload_policy(struct server *srv)
{
	const char *path = srv->cfg.policy;
	size_t n = 0;
	if (!path[0])
		return 0;
	uint8_t *b = fio_read(path, OPS_POLICY_MAX, &n);
	if (!b) {
		refused("policy", path, strerror(errno));
		return -1;
	}
	cc_policy np;
	int rc = cc_policy_decode(b, n, &np);
	free(b);
	if (rc == CC_OK)
		rc = cc_policy_verify(&np, srv->root_pk, NULL);
	if (rc == CC_OK && srv->have_policy && np.number == srv->policy.number) {
		uint8_t h1[CC_HASH_BYTES], h2[CC_HASH_BYTES];
		if (cc_policy_hash(&np, h1) == CC_OK && cc_policy_hash(&srv->policy, h2) == CC_OK &&
		    memcmp(h1, h2, sizeof h1) == 0)
			return 0;  /* unchanged */
		rc = CC_ERR_STALE; /* another policy under the same number */
	}
	if (rc == CC_OK && srv->have_policy && np.number < srv->policy.number)
		rc = CC_ERR_STALE;
	if (rc != CC_OK) {
		refused("policy", path, cc_strerror(rc));
		return -1;
	}
	srv->policy = np;
	srv->have_policy = 1;
	srv->policy_checked = 0; /* dispatch.c compares it with the store's number again */
	log_event(LOG_INFO, "reload.policy", "number=%llu", (unsigned long long)np.number);
	return 0;
}

/* New *.cert files in certs_dir into the directory (as at start). */
static void reload_certs(struct server *srv)
{
	const char *dir = srv->cfg.certs_dir;
	if (!dir[0])
		return;
	DIR *d = opendir(dir);
	if (!d) {
		log_event(LOG_WARN, "certs.dir_unreadable", NULL);
		return;
	}
	struct dirent *e;
	unsigned ok = 0, bad = 0;
	if (!store_txn(&srv->st)) {
		closedir(d);
		return;
	}
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 6 || strcmp(e->d_name + l - 5, ".cert") != 0)
			continue;
		char path[1024];
		if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= sizeof path) {
			bad++;
			continue;
		}
		size_t n = 0;
		uint8_t *b = fio_read(path, CC_CERT_MAX, &n);
		cc_cert c;
		if (b && cc_cert_decode(b, n, &c) == CC_OK &&
		    cc_cert_verify(&c, srv->root_pk, clock_wall_s(), srv->have_revs ? &srv->revs : NULL) == CC_OK &&
		    dir_store_cert(srv, &c, b, n) == 0)
			ok++;
		else
			bad++;
		free(b);
	}
	closedir(d);
	/* written in this turn's transaction; dispatch_turn_end commits it */
	log_event(LOG_INFO, "reload.certs", "ok=%u refused=%u", ok, bad);
}

int ops_reload(struct server *srv)
{
	int bad = 0;
	srv->reloads++;
	log_event(LOG_INFO, "reload.start", NULL);
	bad += reload_tls(srv) != 0;
	bad += reload_revs(srv) != 0;
	bad += reload_issuance(srv) != 0;
	bad += reload_policy(srv) != 0;
	reload_certs(srv);
	srv->reload_refusals += (uint64_t)bad;
	log_event(bad ? LOG_WARN : LOG_INFO, "reload.done", "refused=%d", bad);
	return bad;
}

/* ---- health ----------------------------------------------------------------------- */

/* Append one reason to why ("; " between reasons). */
static void reason(char *why, size_t wl, int *n, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void reason(char *why, size_t wl, int *n, const char *fmt, ...)
{
	size_t used = strlen(why);
	if (used + 3 >= wl)
		return;
	if ((*n)++)
		used += (size_t)snprintf(why + used, wl - used, "; ");
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why + used, wl - used, fmt, ap);
	va_end(ap);
}

int ops_health(struct server *srv, char *why, size_t wl)
{
	int n = 0;
	why[0] = '\0';
	if (!srv->st.env) {
		reason(why, wl, &n, "store unavailable");
		return 0;
	}
	if (srv->st.last_rc)
		reason(why, wl, &n, "store cannot write: the last commit failed (%s)", mdb_strerror(srv->st.last_rc));
	else if (srv->st.fail_ns && clock_mono_ns() - srv->st.fail_ns < OPS_FAIL_RECENT_NS)
		/* small writes may fit in freed pages while larger ones fail: a recent failure counts */
		reason(why, wl, &n, "store cannot write: a commit failed %llu s ago (%s)",
		       (unsigned long long)((clock_mono_ns() - srv->st.fail_ns) / 1000000000ULL),
		       mdb_strerror(srv->st.fail_rc));
	struct statvfs vfs;
	if (statvfs(srv->cfg.data_dir, &vfs) != 0) {
		reason(why, wl, &n, "data folder unreadable: %s", strerror(errno));
	} else {
		unsigned long long free_mb = (unsigned long long)vfs.f_bavail * vfs.f_frsize / (1024 * 1024);
		if (free_mb < srv->cfg.health_min_free_mb)
			reason(why, wl, &n, "disk near full: %llu MiB free in the data folder, threshold %u MiB",
			       free_mb, srv->cfg.health_min_free_mb);
	}
	uint64_t unsealed = 0;
	int64_t since = 0;
	audit_unsealed(srv, &unsealed, &since);
	int64_t late_ms = srv->cfg.health_audit_behind_secs ? (int64_t)srv->cfg.health_audit_behind_secs * 1000
	                                                    : ((int64_t)srv->cfg.audit_checkpoint_secs + 10) * 1000;
	if (unsealed && since && clock_wall_ms() - since > late_ms)
		reason(why, wl, &n, "audit chain behind: %llu entries without a signed checkpoint for %lld s",
		       (unsigned long long)unsealed, (long long)((clock_wall_ms() - since) / 1000));
	if (n)
		return 0;
	snprintf(why, wl, "ok");
	return 1;
}

void ops_tick(struct server *srv)
{
	if (!srv->st.env || !srv->st.last_rc)
		return;
	int64_t now = clock_wall_ms();
	if (now - srv->health_probe_ms < OPS_PROBE_EVERY_MS)
		return;
	srv->health_probe_ms = now;
	if (store_txn(&srv->st))
		(void)schema_meta_put_u64(&srv->st, OPS_META_PROBE, (uint64_t)now);
}

/* ---- HTTP --------------------------------------------------------------------------- */

static int reply(struct lws *wsi, unsigned status, const char *type, const char *body, size_t blen)
{
	size_t cap = LWS_PRE + 1024 + blen;
	unsigned char *buf = malloc(cap);
	if (!buf)
		return -1;
	unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + cap - 1;
	int rc = -1;
	if (lws_add_http_common_headers(wsi, status, type, (lws_filepos_t)blen, &p, end) ||
	    lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL, (const unsigned char *)"no-store", 8, &p,
	                                 end) ||
	    lws_finalize_http_header(wsi, &p, end))
		goto out;
	memcpy(p, body, blen);
	p += blen;
	if (lws_write(wsi, start, (size_t)(p - start), LWS_WRITE_HTTP_FINAL) < 0)
		goto out;
	rc = lws_http_transaction_completed(wsi) ? -1 : 0;
out:
	free(buf);
	return rc;
}

static int healthz(struct server *srv, struct lws *wsi)
{
	char why[300], body[320];
	int ok, n;
	if (srv->relay_only && srv->relay && srv->relay->healthz) {
		/* a cluster follower: healthy while there is a writer to relay to (relay.c) */
		ok = srv->relay->healthz(srv, why, sizeof why, srv->relay->arg);
		n = snprintf(body, sizeof body, "%s\n", why);
		return reply(wsi, ok ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8",
		             body, (size_t)n);
	}
	ok = ops_health(srv, why, sizeof why);
	n = snprintf(body, sizeof body, "%s\n", ok ? "ok" : why);
	if (!ok)
		log_event(LOG_WARN, "health.not_ready", "reason=\"%s\"", why);
	return reply(wsi, ok ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE, "text/plain; charset=utf-8", body,
	             (size_t)n);
}

int ops_http(struct server *srv, struct lws *wsi, const char *path)
{
	if (path && strcmp(path, "/healthz") == 0)
		return healthz(srv, wsi);
	return reply(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "not found\n", 10);
}

void ops_vhost_setup(struct lws_context_creation_info *info)
{
	/* no HTTP/2: /healthz, the web client and WebSocket upgrades are HTTP/1.1 */
	info->alpn = "http/1.1";
}

/* ---- /metrics ------------------------------------------------------------------------ */

struct mbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void put(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct mbuf *b, const char *fmt, ...)
{
	if (b->err)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len) {
		b->err = 1;
		return;
	}
	b->len += (size_t)n;
}

static void head(struct mbuf *b, const char *name, const char *type, const char *help)
{
	put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void one(struct mbuf *b, const char *name, const char *type, const char *help, double v)
{
	head(b, name, type, help);
	put(b, "%s %.17g\n", name, v);
}

static void histo(struct mbuf *b, const char *name, const char *help, const struct histo *h)
{
	static const double bound[HISTO_NB] = HISTO_BOUNDS;
	uint64_t cum = 0;
	head(b, name, "histogram", help);
	for (size_t i = 0; i < HISTO_NB; i++) {
		cum += h->bucket[i];
		put(b, "%s_bucket{le=\"%g\"} %llu\n", name, bound[i], (unsigned long long)cum);
	}
	put(b, "%s_bucket{le=\"+Inf\"} %llu\n%s_sum %.9f\n%s_count %llu\n", name, (unsigned long long)h->count, name,
	    h->sum, name, (unsigned long long)h->count);
}

static void metrics_text(struct server *srv, struct mbuf *b)
{
	const struct metrics *m = &srv->m;
	/* build */
	head(b, "casusd_build_info", "gauge", "Version of this casusd and the store format it reads and writes (1).");
	put(b, "casusd_build_info{version=\"%s\",store_format=\"%d\"} 1\n", CASUS_VERSION, SCHEMA_STORE_FORMAT);
	one(b, "casusd_start_time_seconds", "gauge", "When this casusd started (Unix time).",
	    (double)srv->started_ms / 1000.0);
	/* connections */
	one(b, "casusd_connections_open", "gauge", "WebSocket connections open now.", (double)m->connections_open);
	one(b, "casusd_connections_total", "counter", "WebSocket connections accepted since start.",
	    (double)m->connections_total);
	one(b, "casusd_connections_max", "gauge", "Configured limit on open connections (limits.max_connections).",
	    (double)srv->cfg.lim.max_connections);
	head(b, "casusd_auth_total", "counter", "Authentications by outcome.");
	put(b, "casusd_auth_total{outcome=\"ok\"} %llu\ncasusd_auth_total{outcome=\"refused\"} %llu\n",
	    (unsigned long long)m->auth_ok, (unsigned long long)m->auth_fail);
	/* requests and errors */
	one(b, "casusd_requests_total", "counter", "casus.v1 requests handled.", (double)m->requests);
	one(b, "casusd_errors_total", "counter", "Error replies, all codes together.", (double)m->errors);
	head(b, "casusd_errors_by_code_total", "counter", "Error replies by wire error code (docs/PROTOCOL.md).");
	for (int c = 1; c < PE__COUNT && c < 32; c++)
		put(b, "casusd_errors_by_code_total{code=\"%s\"} %llu\n", proto_err_name((enum proto_err)c),
		    (unsigned long long)m->errors_by_code[c]);
	one(b, "casusd_messages_stored_total", "counter", "Messages stored (acknowledged posts).",
	    (double)m->messages_stored);
	one(b, "casusd_pushes_total", "counter", "Pushes queued to sessions.", (double)m->pushes_sent);
	one(b, "casusd_frames_rejected_total", "counter", "Frames refused (binary, too large).",
	    (double)m->frames_rejected);
	one(b, "casusd_slow_readers_closed_total", "counter", "Sessions closed because their send queue was full.",
	    (double)m->slow_closed);
	one(b, "casusd_rate_limited_total", "counter", "Requests refused by the rate limit.", (double)m->rate_limited);
	one(b, "casusd_turns_busy_total", "counter", "Event-loop turns that handled at least one request.",
	    (double)srv->turns_busy);
	one(b, "casusd_turn_requests_max", "gauge", "Most requests handled in one loop turn.",
	    (double)srv->turn_reqs_max);
	one(b, "casusd_send_queue_bytes_max", "gauge", "Most bytes one session's send queue held since start.",
	    (double)srv->qbytes_max);
	size_t largest = 0;
	for (const struct session *s = srv->sessions; s; s = s->next)
		if (s->qbytes > largest)
			largest = s->qbytes;
	one(b, "casusd_send_queue_bytes_largest", "gauge", "Bytes in the largest send queue of a session now.",
	    (double)largest);
	one(b, "casusd_verify_inflight", "gauge", "Posts waiting for the signature verifier pool.",
	    (double)srv->verify_inflight);
	one(b, "casusd_verified_posts_total", "counter", "Posts completed after the verifier pool checked them.",
	    (double)srv->verified_posts);
	/* store */
	one(b, "casusd_store_commits_total", "counter", "Durable LMDB commits.", (double)srv->st.commits);
	one(b, "casusd_boxes_deleted_total", "counter", "Sealed key boxes deleted by box retention.",
	    (double)m->boxes_deleted);
	one(b, "casusd_store_commit_failures_total", "counter", "Loop turns whose commit failed (nothing acked).",
	    (double)m->commits_failed);
	one(b, "casusd_store_commit_seconds_total", "counter", "Time spent in LMDB commits, fsync included.",
	    (double)srv->st.commit_ns / 1e9);
	histo(b, "casusd_store_fsync_seconds", "Duration of each LMDB commit with its fsync (mdb_txn_commit).",
	      &srv->st.commit_hist);
	histo(b, "casusd_turn_commit_seconds",
	      "End of each busy loop turn: waiting for verified posts, the commit with its fsync, replies queued; "
	      "the server's share of post-to-ack.",
	      &m->turn_end_hist);
	histo(b, "casusd_post_ack_seconds",
	      "msg.post: from its frame's arrival to the ack handed to the socket (verification, the turn's "
	      "commit, waiting in the send queue).",
	      &m->post_ack_hist);
	one(b, "casusd_frames_deferred_total", "counter",
	    "Frames held for a later loop turn: the session was over its per-turn budget or its send queue "
	    "had to drain first.",
	    (double)m->frames_deferred);
	one(b, "casusd_tx_batches_total", "counter",
	    "Writes that carried several queued frames of one session at once.", (double)m->tx_batches);
	one(b, "casusd_tx_batched_frames_total", "counter", "Frames sent in those writes.",
	    (double)m->tx_batched_frames);
	one(b, "casusd_gather_passes_total", "counter",
	    "Extra event-loop passes that took more requests into a turn before its commit (group commit over TLS).",
	    (double)m->gather_passes);
	one(b, "casusd_malloc_trims_total", "counter", "Times freed heap memory was handed back to the system.",
	    (double)m->trims);
	one(b, "casusd_store_map_bytes", "gauge", "LMDB map size (grows by doubling).", (double)srv->st.mapsize);
	if (srv->st.env) {
		MDB_envinfo info;
		MDB_stat stat;
		if (mdb_env_info(srv->st.env, &info) == 0 && mdb_env_stat(srv->st.env, &stat) == 0)
			one(b, "casusd_store_used_bytes", "gauge",
			    "LMDB pages in use (last page number times page size).",
			    ((double)info.me_last_pgno + 1.0) * (double)stat.ms_psize);
	}
	one(b, "casusd_store_last_commit_ok", "gauge", "1 if the newest commit succeeded, 0 if it failed.",
	    srv->st.last_rc ? 0.0 : 1.0);
	one(b, "casusd_store_last_failure_seconds", "gauge", "Seconds since the newest failed commit (-1: none).",
	    srv->st.fail_ns ? (double)(clock_mono_ns() - srv->st.fail_ns) / 1e9 : -1.0);
	struct statvfs vfs;
	if (statvfs(srv->cfg.data_dir, &vfs) == 0) {
		one(b, "casusd_disk_free_bytes", "gauge", "Free bytes (for casusd) on the data folder's file system.",
		    (double)vfs.f_bavail * (double)vfs.f_frsize);
		one(b, "casusd_disk_size_bytes", "gauge", "Size of the data folder's file system.",
		    (double)vfs.f_blocks * (double)vfs.f_frsize);
	}
	one(b, "casusd_disk_min_free_bytes", "gauge",
	    "Free space below which /healthz is not ready (health.min_free_mb).",
	    (double)srv->cfg.health_min_free_mb * 1024.0 * 1024.0);
	/* audit */
	uint64_t unsealed = 0;
	int64_t since = 0;
	audit_unsealed(srv, &unsealed, &since);
	one(b, "casusd_audit_unsealed_entries", "gauge",
	    "Audit entries committed but not yet under a signed checkpoint.", (double)unsealed);
	one(b, "casusd_audit_unsealed_seconds", "gauge", "Age of the oldest audit entry without a signed checkpoint.",
	    unsealed && since ? (double)(clock_wall_ms() - since) / 1000.0 : 0.0);
	char why[300];
	one(b, "casusd_ready", "gauge", "1 if /healthz answers ok, 0 if not ready.", ops_health(srv, why, sizeof why));
	/* trust material */
	one(b, "casusd_policy_number", "gauge", "Number of the signed policy in use.",
	    srv->have_policy ? (double)srv->policy.number : 0.0);
	one(b, "casusd_revocation_list_number", "gauge", "Number of the revocation list in use (0: none).",
	    srv->have_revs ? (double)srv->revs.number : 0.0);
	one(b, "casusd_reloads_total", "counter", "SIGHUP reloads done.", (double)srv->reloads);
	one(b, "casusd_reload_failures_total", "counter", "Files refused by reloads (the old one kept).",
	    (double)srv->reload_refusals);
}

static int cb_metrics(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	(void)user;
	(void)len;
	struct server *srv = lws_context_user(lws_get_context(wsi));
	if (reason != LWS_CALLBACK_HTTP)
		return lws_callback_http_dummy(wsi, reason, user, in, len);
	const char *path = in;
	if (path && strcmp(path, "/metrics") == 0) {
		struct mbuf b = {malloc(OPS_METRICS_MAX), 0, OPS_METRICS_MAX, 0};
		if (!b.p)
			return -1;
		metrics_text(srv, &b);
		int rc = b.err ? reply(wsi, HTTP_STATUS_INTERNAL_SERVER_ERROR, "text/plain", "metrics too large\n", 18)
		               : reply(wsi, HTTP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8", b.p, b.len);
		free(b.p);
		return rc;
	}
	if (path && strcmp(path, "/healthz") == 0)
		return healthz(srv, wsi);
	return reply(wsi, HTTP_STATUS_NOT_FOUND, "text/plain", "not found\n", 10);
}

static const struct lws_protocols metrics_protocols[] = {{"http", cb_metrics, 0, 4096, 0, NULL, 0},
                                                         {NULL, NULL, 0, 0, 0, NULL, 0}};

int ops_metrics_listen(struct server *srv)
{
	const struct config *c = &srv->cfg;
	srv->started_ms = clock_wall_ms();
	if (!c->metrics_port)
		return 0;
	struct lws_context_creation_info vi;
	memset(&vi, 0, sizeof vi);
	vi.vhost_name = "metrics";
	vi.port = c->metrics_port;
	vi.iface = c->metrics_listen;
	vi.protocols = metrics_protocols;
	vi.options = strchr(c->metrics_listen, ':') ? 0 : LWS_SERVER_OPTION_DISABLE_IPV6;
	vi.alpn = "http/1.1";
	srv->metrics_vh = lws_create_vhost(srv->ctx, &vi);
	if (!srv->metrics_vh) {
		log_event(LOG_ERROR, "metrics.listen_failed", "addr=%s port=%d", c->metrics_listen, c->metrics_port);
		return -1;
	}
	log_event(LOG_INFO, "metrics.listening", "addr=%s port=%d", c->metrics_listen, c->metrics_port);
	return 0;
}
