/*
 * web.h: casusd serves the browser client's static files (docs/WEB.md).
 */
#ifndef CASUSD_WEB_H
#define CASUSD_WEB_H

#include <libwebsockets.h>

/* The Content-Security-Policy every HTTP response of casusd carries when the
 * web client is served: only this origin's scripts, styles and connections,
 * WebAssembly compilation but no other eval, no inline script or style, no
 * frames, no plugins, Trusted Types for DOM sinks. */
#define WEB_CSP                                                                                                        \
	"default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self'; "                 \
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "                            \
	"require-trusted-types-for 'script'"

/* If dir is set (config "web_dir"), serve its files at "/" of the vhost that
 * info creates (index.html for "/", application/wasm for .wasm) with WEB_CSP
 * and the other security headers on every response; /healthz and /metrics
 * keep going to the "http" protocol callback (ops_http: /metrics is only
 * served on the metrics listener, so it is 404 here). dir must be a folder holding
 * index.html; lws itself refuses paths that leave it. With dir NULL or empty
 * nothing is served and info is left alone. tls adds Strict-Transport-Security.
 * 0, or -1 (logged) if dir is unusable. The mount tables are static: one
 * context per process. */
int web_setup(struct lws_context_creation_info *info, const char *dir, int tls);

/* For LWS_CALLBACK_HTTP_FILE_COMPLETION of the "http" protocol: ends the
 * HTTP transaction so that the next request on a kept-alive connection is
 * parsed afresh (lws leaves this to the protocol callback). 0, or -1 to
 * close the connection. */
int web_file_done(struct lws *wsi);

#endif
