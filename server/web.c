/*
 * web.c: the browser client's install folder served by casusd (web.h,
 * docs/WEB.md).
 *
 * The web client is static: index.html, one JavaScript bundle, one style
 * sheet and the WebAssembly module, each pinned by Subresource Integrity from
 * index.html, plus web-digest.txt with the SHA-256 of every file. casusd only
 * hands them out with headers that keep the page to its own origin; it never
 * generates or rewrites any of them, so what a user runs is byte for byte
 * what the release published (and what web-digest.txt lists).
 *
 * Routing is libwebsockets' mount table: "/" is the folder (LWSMPRO_FILE);
 * "/healthz" and "/metrics" are callback mounts to the "http" protocol, so
 * ops.c answers them (/healthz; /metrics is 404 here: it has a listener of
 * its own). WebSocket upgrades are not affected by file mounts.
 */
#include "web.h"
#include "log.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char g_dir[PATH_MAX];

static const struct lws_protocol_vhost_options g_mime_wasm = {NULL, NULL, ".wasm", "application/wasm"};

/* Security headers, a linked list (last element first). */
static const struct lws_protocol_vhost_options g_hdr[] = {
	{NULL, NULL, "content-security-policy:", WEB_CSP},
	{&g_hdr[0], NULL, "x-content-type-options:", "nosniff"},
	{&g_hdr[1], NULL, "referrer-policy:", "no-referrer"},
	{&g_hdr[2], NULL, "x-frame-options:", "DENY"},
	{&g_hdr[3], NULL, "cross-origin-opener-policy:", "same-origin"},
	{&g_hdr[4], NULL, "cross-origin-resource-policy:", "same-origin"},
	{&g_hdr[5], NULL, "permissions-policy:", "camera=(), microphone=(), geolocation=(), payment=(), usb=()"},
	{&g_hdr[6], NULL, "cache-control:", "no-cache"},
	{&g_hdr[7], NULL, "strict-transport-security:", "max-age=31536000"},
};
#define HDR_PLAIN (&g_hdr[7]) /* without Strict-Transport-Security */
#define HDR_TLS (&g_hdr[8])

static struct lws_http_mount g_mounts[3];

int web_file_done(struct lws *wsi)
{
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

int web_setup(struct lws_context_creation_info *info, const char *dir, int tls)
{
	char index[PATH_MAX + 16];
	struct stat st;

	if (!dir || !*dir)
		return 0;
	if (!realpath(dir, g_dir)) {
		log_event(LOG_ERROR, "web.dir_missing", "msg=\"web_dir does not exist\"");
		return -1;
	}
	int n = snprintf(index, sizeof index, "%s/index.html", g_dir);
	if (n < 0 || (size_t)n >= sizeof index || stat(g_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    stat(index, &st) != 0 || !S_ISREG(st.st_mode)) {
		log_event(LOG_ERROR, "web.dir_unusable", "msg=\"web_dir must be a folder with index.html\"");
		return -1;
	}

	memset(g_mounts, 0, sizeof g_mounts);
	g_mounts[0].mount_next = &g_mounts[1];
	g_mounts[0].mountpoint = "/healthz";
	g_mounts[0].mountpoint_len = (unsigned char)strlen("/healthz");
	g_mounts[0].origin = "http";
	g_mounts[0].origin_protocol = LWSMPRO_CALLBACK;

	g_mounts[1].mount_next = &g_mounts[2];
	g_mounts[1].mountpoint = "/metrics";
	g_mounts[1].mountpoint_len = (unsigned char)strlen("/metrics");
	g_mounts[1].origin = "http";
	g_mounts[1].origin_protocol = LWSMPRO_CALLBACK;

	g_mounts[2].mountpoint = "/";
	g_mounts[2].mountpoint_len = 1;
	g_mounts[2].origin = g_dir;
	g_mounts[2].def = "index.html";
	g_mounts[2].origin_protocol = LWSMPRO_FILE;
	g_mounts[2].extra_mimetypes = &g_mime_wasm;
	g_mounts[2].cache_max_age = 0;
	g_mounts[2].cache_reusable = 0;
	g_mounts[2].cache_revalidate = 1;

	/* HTTP/1.1 only: lws 4.1.6 over HTTP/2 broke file responses in Chromium
	 * (net::ERR_HTTP2_FRAME_SIZE_ERROR); WebSockets stay HTTP/1.1 upgrades. */
	info->alpn = "http/1.1";
	info->mounts = &g_mounts[0];
	info->headers = tls ? HDR_TLS : HDR_PLAIN;
	char q[PATH_MAX + 8];
	log_event(LOG_INFO, "web.serving", "dir=%s", log_q(g_dir, q, sizeof q));
	return 0;
}
