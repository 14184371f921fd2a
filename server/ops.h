/*
 * ops.h: what casusd shows and does for its operators: the SIGHUP reload,
 * the honest /healthz, and /metrics on a listener of its own
 * (docs/OPERATIONS.md "Reload" and "Monitoring").
 */
#ifndef CASUSD_OPS_H
#define CASUSD_OPS_H

#include <libwebsockets.h>
#include <stddef.h>

struct server;

/* From the "http" protocol's LWS_CALLBACK_OPENSSL_LOAD_EXTRA_SERVER_VERIFY_CERTS:
 * remember the service vhost's OpenSSL SSL_CTX so that a reload can put a new
 * certificate into it. Returns 0 (lws goes on). */
int ops_tls_ctx(struct server *srv, void *ssl_ctx);

/* Re-read, each on its own, the TLS certificate and key, the revocation list
 * and the policy from the paths of the running configuration (and import new
 * device certificates from certs_dir). A file that is unreadable, does not
 * verify, or is older than the one held is refused and logged
 * (event=reload.refused what=... reason=...) and the one in use is kept; an
 * unchanged file is left alone. Open connections stay open: TLS sessions keep
 * the certificate they were made with, new handshakes get the new one. After
 * a new revocation list, authenticated sessions of devices it revokes are
 * closed. Returns the number of files refused (0: everything current). */
int ops_reload(struct server *srv);

/* 1 if casusd is ready to accept writes; 0 with every reason in why ("; "
 * between them): the store
 * is closed, the last commit failed or one failed in the last 30 s (with
 * LMDB's reason), the data folder's
 * file system has less than health_min_free_mb free, or audit entries have
 * waited longer than health_audit_behind_secs (default: the checkpoint
 * interval plus 10 s) for their signed checkpoint. */
int ops_health(struct server *srv, char *why, size_t wl);

/* Once a second (main.c's tick): after a failed commit, every 5 s put a
 * probe value into the turn's transaction so that the turn's commit shows
 * whether the store can write again (and /healthz recovers without traffic). */
void ops_tick(struct server *srv);

/* The service port's plain HTTP requests: /healthz (200 "ok", or 503 with
 * the reason), everything else 404 (/metrics is only on its own listener). */
int ops_http(struct server *srv, struct lws *wsi, const char *path);

/* Before the context is created: settings of the service vhost that are
 * ops' business (ALPN: HTTP/1.1 only, so that what a monitor negotiates is
 * what /healthz answers). */
void ops_vhost_setup(struct lws_context_creation_info *info);

/* After the context is created: the /metrics listener on metrics_listen,
 * metrics_port (plain HTTP/1.1, /metrics and /healthz), if metrics_port is
 * set. 0, or -1 (logged) if it cannot listen. */
int ops_metrics_listen(struct server *srv);

#endif
