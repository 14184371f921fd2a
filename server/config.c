/*
 * config.c: casusd configuration file (JSON, parsed with jansson) and the
 * checks that the whole configuration, file and flags, must pass. Every
 * number has a range: a value outside it is refused with the key's name,
 * never wrapped or replaced.
 */
#include "config.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen, sizeof c->listen, "127.0.0.1");
	c->port = 8443;
	c->tls = 1;
	snprintf(c->data_dir, sizeof c->data_dir, "data");
	snprintf(c->log_level, sizeof c->log_level, "info");
	snprintf(c->tls_min_version, sizeof c->tls_min_version, "1.3");
	snprintf(c->tls_ciphers, sizeof c->tls_ciphers, "%s", CONFIG_TLS12_CIPHERS);
	snprintf(c->tls_ciphersuites, sizeof c->tls_ciphersuites, "%s", CONFIG_TLS13_SUITES);
	c->map_size = (size_t)1 << 30;
	snprintf(c->metrics_listen, sizeof c->metrics_listen, "127.0.0.1");
	c->metrics_port = 0;
	c->health_min_free_mb = 256;
	c->audit_checkpoint_every = 1000;
	c->audit_checkpoint_secs = 60;
	c->audit_retention_days = 5 * 366;
	c->box_wrap_grace_s = 14 * 86400;
	c->verify_threads = -1; /* performance lane: one verifier per online core */
	c->lim.max_frame = 256 * 1024;
	c->lim.max_frame_preauth = 8 * 1024;
	c->lim.auth_timeout_s = 10;
	c->lim.req_per_s = 500;
	c->lim.req_burst = 1000;
	c->lim.max_queue = 4096;
	c->lim.conn_per_device = 8;
	c->lim.conn_per_addr = 64;
	c->lim.max_connections = 20000;
	c->lim.ping_s = 30;
	c->lim.hangup_s = 75;
	c->lim.history_page_max = 500;
	c->lim.history_page_bytes = 1u << 20;
	c->lim.max_queue_bytes = 8u << 20;
	c->lim.slow_reader_s = 30;
	c->lim.turn_requests = 16;
	c->lim.turn_bytes = 1u << 20;
	c->lim.drain_bytes = 1u << 20;
}

static int get_str(json_t *o, const char *k, char *out, size_t cap, char *why, size_t wl)
{
	json_t *v = json_object_get(o, k);
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= cap) {
		snprintf(why, wl, "config: \"%s\" must be a string shorter than %zu", k, cap);
		return -1;
	}
	snprintf(out, cap, "%s", json_string_value(v));
	return 0;
}

static int get_uint(json_t *o, const char *k, unsigned long long min, unsigned long long max, unsigned long long *out,
                    char *why, size_t wl)
{
	json_t *v = json_object_get(o, k);
	if (!v)
		return 1;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || (unsigned long long)json_integer_value(v) < min ||
	    (unsigned long long)json_integer_value(v) > max) {
		snprintf(why, wl, "config: \"%s\" must be an integer between %llu and %llu", k, min, max);
		return -1;
	}
	*out = (unsigned long long)json_integer_value(v);
	return 0;
}

#define UINT_FIELD(obj, name, dst, min, max)                                                                           \
	do {                                                                                                           \
		unsigned long long v_;                                                                                 \
		int r_ = get_uint(obj, name, min, max, &v_, why, whylen);                                              \
		if (r_ < 0)                                                                                            \
			goto fail;                                                                                     \
		if (r_ == 0)                                                                                           \
			dst = (__typeof__(dst))v_;                                                                     \
	} while (0)

/* ---- cluster ------------------------------------------------------------------
 * "cluster": {"nats": ["nats://h:4222", ...], "node": "n1", "advertise":
 * "wss://h:8443", "stream": "CASUS", "lease_bucket": "casus_lease", "replicas": 3,
 * "lease_ttl_ms": 3000, "publish_timeout_ms": 2000, "stream_max_msgs": 0,
 * "stream_max_age_s": 0}. Absent: a single node. */
static int cluster_name_ok(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_' ||
		      *s == '-'))
			return 0;
	return 1;
}

static int cluster_load(struct config *c, json_t *cl, char *why, size_t whylen)
{
	struct cluster_config *k = &c->cluster;
	if (!cl)
		return 0;
	if (!json_is_object(cl)) {
		snprintf(why, whylen, "config: \"cluster\" must be an object");
		return -1;
	}
	snprintf(k->stream, sizeof k->stream, "CASUS");
	snprintf(k->lease_bucket, sizeof k->lease_bucket, "casus_lease");
	k->replicas = 3;
	k->lease_ttl_ms = 3000;
	k->publish_timeout_ms = 2000;
	static const char *const known[] = {"nats",
	                                    "node",
	                                    "advertise",
	                                    "stream",
	                                    "lease_bucket",
	                                    "lease_ttl_ms",
	                                    "replicas",
	                                    "publish_timeout_ms",
	                                    "stream_max_msgs",
	                                    "stream_max_age_s",
	                                    NULL};
	const char *key;
	json_t *val;
	json_object_foreach(cl, key, val) {
		int ok = 0;
		for (int i = 0; known[i]; i++)
			ok |= strcmp(known[i], key) == 0;
		if (!ok) {
			snprintf(why, whylen, "config: unknown key \"cluster.%s\"", key);
			return -1;
		}
	}
	json_t *urls = json_object_get(cl, "nats");
	if (!json_is_array(urls) || json_array_size(urls) < 1 || json_array_size(urls) > CLUSTER_MAX_URLS) {
		snprintf(why, whylen, "config: \"cluster.nats\" must be a list of 1 to %d NATS URLs", CLUSTER_MAX_URLS);
		return -1;
	}
	size_t i;
	json_t *u;
	json_array_foreach(urls, i, u) {
		const char *s = json_string_value(u);
		if (!s || strncmp(s, "nats://", 7) != 0 || strlen(s) >= sizeof k->nats[0]) {
			snprintf(why, whylen, "config: \"cluster.nats\" entries must be nats://host:port URLs");
			return -1;
		}
		snprintf(k->nats[i], sizeof k->nats[i], "%s", s);
	}
	k->n_nats = (int)json_array_size(urls);
	if (get_str(cl, "node", k->node, sizeof k->node, why, whylen) ||
	    get_str(cl, "advertise", k->advertise, sizeof k->advertise, why, whylen) ||
	    get_str(cl, "stream", k->stream, sizeof k->stream, why, whylen) ||
	    get_str(cl, "lease_bucket", k->lease_bucket, sizeof k->lease_bucket, why, whylen))
		return -1;
	if (!cluster_name_ok(k->node) || !cluster_name_ok(k->stream) || !cluster_name_ok(k->lease_bucket)) {
		snprintf(why, whylen,
		         "config: \"cluster.node\", \"cluster.stream\" and \"cluster.lease_bucket\" must be "
		         "non-empty names of letters, digits, - and _");
		return -1;
	}
	UINT_FIELD(cl, "replicas", k->replicas, 1, 5);
	UINT_FIELD(cl, "lease_ttl_ms", k->lease_ttl_ms, 1000, 600000);
	UINT_FIELD(cl, "publish_timeout_ms", k->publish_timeout_ms, 100, 60000);
	/* 0: unbounded; else at least enough entries / time for a take-over to read */
	UINT_FIELD(cl, "stream_max_msgs", k->stream_max_msgs, 0, (uint64_t)1 << 53);
	UINT_FIELD(cl, "stream_max_age_s", k->stream_max_age_s, 0, (uint64_t)10 * 365 * 86400);
	if ((k->stream_max_msgs && k->stream_max_msgs < 16) || (k->stream_max_age_s && k->stream_max_age_s < 60)) {
		snprintf(why, whylen,
		         "config: \"cluster.stream_max_msgs\" must be 0 (unbounded) or at least 16, "
		         "\"cluster.stream_max_age_s\" 0 or at least 60");
		return -1;
	}
	if (k->publish_timeout_ms >= k->lease_ttl_ms) {
		snprintf(why, whylen, "config: \"cluster.publish_timeout_ms\" must be below \"cluster.lease_ttl_ms\"");
		return -1;
	}
	k->on = 1;
	return 0;
fail:
	return -1;
}

int config_load(struct config *c, const char *path, char *why, size_t whylen)
{
	json_error_t err;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
	if (!root) {
		snprintf(why, whylen, "config %s: %s (line %d)", path, err.text, err.line);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(why, whylen, "config %s: not a JSON object", path);
		goto fail;
	}
	static const char *const known[] = {"listen",
	                                    "port",
	                                    "tls",
	                                    "tls_cert",
	                                    "tls_key",
	                                    "data_dir",
	                                    "root_pub",
	                                    "policy",
	                                    "revocations",
	                                    "issuance_log",
	                                    "certs_dir",
	                                    "web_dir",
	                                    "log_level",
	                                    "map_size",
	                                    "audit",
	                                    "limits",
	                                    "tls_min_version",
	                                    "tls_ciphers",
	                                    "tls_ciphersuites",
	                                    "no_tls_public",
	                                    "metrics_listen",
	                                    "metrics_port",
	                                    "health",
	                                    "cluster",
	                                    "verify_threads",
	                                    "boxes",
	                                    NULL};
	const char *key;
	json_t *val;
	json_object_foreach(root, key, val) {
		int ok = 0;
		for (int i = 0; known[i]; i++)
			ok |= strcmp(known[i], key) == 0;
		if (!ok) {
			snprintf(why, whylen, "config: unknown key \"%s\"", key);
			goto fail;
		}
	}
	if (get_str(root, "listen", c->listen, sizeof c->listen, why, whylen) ||
	    get_str(root, "tls_cert", c->tls_cert, sizeof c->tls_cert, why, whylen) ||
	    get_str(root, "tls_key", c->tls_key, sizeof c->tls_key, why, whylen) ||
	    get_str(root, "data_dir", c->data_dir, sizeof c->data_dir, why, whylen) ||
	    get_str(root, "root_pub", c->root_pub, sizeof c->root_pub, why, whylen) ||
	    get_str(root, "policy", c->policy, sizeof c->policy, why, whylen) ||
	    get_str(root, "revocations", c->revocations, sizeof c->revocations, why, whylen) ||
	    get_str(root, "issuance_log", c->issuance_log, sizeof c->issuance_log, why, whylen) ||
	    get_str(root, "certs_dir", c->certs_dir, sizeof c->certs_dir, why, whylen) ||
	    get_str(root, "web_dir", c->web_dir, sizeof c->web_dir, why, whylen) ||
	    get_str(root, "log_level", c->log_level, sizeof c->log_level, why, whylen) ||
	    get_str(root, "tls_min_version", c->tls_min_version, sizeof c->tls_min_version, why, whylen) ||
	    get_str(root, "tls_ciphers", c->tls_ciphers, sizeof c->tls_ciphers, why, whylen) ||
	    get_str(root, "tls_ciphersuites", c->tls_ciphersuites, sizeof c->tls_ciphersuites, why, whylen) ||
	    get_str(root, "metrics_listen", c->metrics_listen, sizeof c->metrics_listen, why, whylen))
		goto fail;
	UINT_FIELD(root, "port", c->port, 1, 65535);
	UINT_FIELD(root, "metrics_port", c->metrics_port, 0, 65535);
	UINT_FIELD(root, "map_size", c->map_size, 1ULL << 20, 1ULL << 40);
	static const char *const bools[] = {"tls", "no_tls_public"};
	for (int i = 0; i < 2; i++) {
		json_t *b = json_object_get(root, bools[i]);
		if (!b)
			continue;
		if (!json_is_boolean(b)) {
			snprintf(why, whylen, "config: \"%s\" must be true or false", bools[i]);
			goto fail;
		}
		*(i == 0 ? &c->tls : &c->no_tls_public) = json_is_true(b);
	}
	json_t *a = json_object_get(root, "audit");
	if (a) {
		if (!json_is_object(a)) {
			snprintf(why, whylen, "config: \"audit\" must be an object");
			goto fail;
		}
		UINT_FIELD(a, "checkpoint_every", c->audit_checkpoint_every, 1, 1000000);
		UINT_FIELD(a, "checkpoint_secs", c->audit_checkpoint_secs, 1, 86400);
		UINT_FIELD(a, "retention_days", c->audit_retention_days, 1, 36600);
	}
	json_t *bx = json_object_get(root, "boxes");
	if (bx) {
		if (!json_is_object(bx)) {
			snprintf(why, whylen, "config: \"boxes\" must be an object");
			goto fail;
		}
		UINT_FIELD(bx, "wrap_grace_s", c->box_wrap_grace_s, 1, 3660u * 86400u);
	}
	json_t *h = json_object_get(root, "health");
	if (h) {
		if (!json_is_object(h)) {
			snprintf(why, whylen, "config: \"health\" must be an object");
			goto fail;
		}
		const char *hk;
		json_t *hv;
		json_object_foreach(h, hk, hv) {
			if (strcmp(hk, "min_free_mb") != 0 && strcmp(hk, "audit_behind_secs") != 0) {
				snprintf(why, whylen, "config: unknown key \"health.%s\"", hk);
				goto fail;
			}
		}
		UINT_FIELD(h, "min_free_mb", c->health_min_free_mb, 0, 1u << 30);
		UINT_FIELD(h, "audit_behind_secs", c->health_audit_behind_secs, 0, 86400);
	}
	/* performance lane: signature verifier threads (0 = on the event loop) */
	UINT_FIELD(root, "verify_threads", c->verify_threads, 0, 256);
	json_t *l = json_object_get(root, "limits");
	if (l) {
		if (!json_is_object(l)) {
			snprintf(why, whylen, "config: \"limits\" must be an object");
			goto fail;
		}
		/* a misspelt limit would be ignored in silence: every key must be one of these */
		static const char *const limit_keys[] =
			{"max_frame",     "max_frame_preauth", "auth_timeout_s",     "req_per_s",       "req_burst",
		         "max_queue",     "conn_per_device",   "conn_per_addr",      "max_connections", "ping_s",
		         "hangup_s",      "history_page_max",  "history_page_bytes", "max_queue_bytes", "slow_reader_s",
		         "turn_requests", "turn_bytes",        "drain_bytes"};
		const char *lk;
		json_t *lv;
		json_object_foreach(l, lk, lv) {
			size_t i = 0;
			while (i < sizeof limit_keys / sizeof limit_keys[0] && strcmp(lk, limit_keys[i]) != 0)
				i++;
			if (i == sizeof limit_keys / sizeof limit_keys[0]) {
				snprintf(why, whylen, "config: unknown key \"limits.%.64s\"", lk);
				goto fail;
			}
		}
		UINT_FIELD(l, "max_frame", c->lim.max_frame, 1024, 16u << 20);
		UINT_FIELD(l, "max_frame_preauth", c->lim.max_frame_preauth, 1024, 1u << 20);
		UINT_FIELD(l, "auth_timeout_s", c->lim.auth_timeout_s, 1, 3600);
		UINT_FIELD(l, "req_per_s", c->lim.req_per_s, 1, 1000000);
		UINT_FIELD(l, "req_burst", c->lim.req_burst, 1, 1000000);
		UINT_FIELD(l, "max_queue", c->lim.max_queue, 1, 1000000);
		UINT_FIELD(l, "conn_per_device", c->lim.conn_per_device, 1, 100000);
		UINT_FIELD(l, "conn_per_addr", c->lim.conn_per_addr, 1, 65535); /* uint16_t counters */
		UINT_FIELD(l, "max_connections", c->lim.max_connections, 1, 1000000);
		UINT_FIELD(l, "ping_s", c->lim.ping_s, 1, 3600);
		UINT_FIELD(l, "hangup_s", c->lim.hangup_s, 1, 3600);
		UINT_FIELD(l, "history_page_max", c->lim.history_page_max, 1, 100000);
		UINT_FIELD(l, "history_page_bytes", c->lim.history_page_bytes, 1024, 64u << 20);
		UINT_FIELD(l, "max_queue_bytes", c->lim.max_queue_bytes, 64u << 10, 1u << 30);
		UINT_FIELD(l, "slow_reader_s", c->lim.slow_reader_s, 1, 3600);
		UINT_FIELD(l, "turn_requests", c->lim.turn_requests, 1, 4096);
		UINT_FIELD(l, "turn_bytes", c->lim.turn_bytes, 4096, 64u << 20);
		UINT_FIELD(l, "drain_bytes", c->lim.drain_bytes, 4096, 64u << 20);
	}
	if (cluster_load(c, json_object_get(root, "cluster"), why, whylen) != 0)
		goto fail;
	json_decref(root);
	return 0;
fail:
	json_decref(root);
	return -1;
}

int config_parse_uint(const char *s, unsigned long long lo, unsigned long long hi, unsigned long long *out)
{
	if (!s || !*s)
		return -1;
	for (const char *p = s; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	char *end = NULL;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || !end || *end || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int config_check(struct config *c, char *why, size_t whylen)
{
	if (c->port < 1 || c->port > 65535) {
		snprintf(why, whylen, "port %d is not between 1 and 65535", c->port);
		return -1;
	}
	if (!c->listen[0]) {
		snprintf(why, whylen, "listen is empty: name an address (0.0.0.0 or :: for every interface)");
		return -1;
	}
	if (c->metrics_port && !c->metrics_listen[0]) {
		snprintf(why, whylen, "metrics_listen is empty: name an address (127.0.0.1 keeps /metrics local)");
		return -1;
	}
	if (c->metrics_port && c->metrics_port == c->port) {
		snprintf(why, whylen, "metrics_port %d is the service port: /metrics needs a port of its own",
		         c->metrics_port);
		return -1;
	}
	if (c->lim.max_frame_preauth > c->lim.max_frame) {
		snprintf(why, whylen, "limits.max_frame_preauth (%zu) is larger than limits.max_frame (%zu)",
		         c->lim.max_frame_preauth, c->lim.max_frame);
		return -1;
	}
	/* a member that pipelines page requests and reads them may have up to
	 * drain_bytes queued, a turn's replies (turn_bytes) and one more reply
	 * built for it: a history page (history_page_bytes of messages, or one
	 * message of up to max_frame, plus at most 64 bytes of JSON around each of
	 * history_page_max messages and 64 KiB for the rest). That must stay below
	 * the slow-reader bound, or a reader that keeps up would be closed. */
	{
		unsigned long long page =
			c->lim.history_page_bytes > c->lim.max_frame ? c->lim.history_page_bytes : c->lim.max_frame;
		page += 64ull * c->lim.history_page_max + (64u << 10);
		if ((unsigned long long)c->lim.drain_bytes + c->lim.turn_bytes + page > c->lim.max_queue_bytes) {
			snprintf(why, whylen,
			         "limits.drain_bytes (%zu) + limits.turn_bytes (%zu) + one history page (%llu: "
			         "history_page_bytes or max_frame, with history_page_max messages' framing) must not "
			         "exceed limits.max_queue_bytes (%zu): a reader that keeps up would be closed as slow",
			         c->lim.drain_bytes, c->lim.turn_bytes, page, c->lim.max_queue_bytes);
			return -1;
		}
	}
	if (c->lim.hangup_s <= c->lim.ping_s) {
		snprintf(why, whylen, "limits.hangup_s (%u) must be larger than limits.ping_s (%u)", c->lim.hangup_s,
		         c->lim.ping_s);
		return -1;
	}
	c->tls_ssl_options = (long)(SSL_OP_NO_SSLv3 | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1 | SSL_OP_NO_COMPRESSION |
	                            SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_RENEGOTIATION);
	if (strcmp(c->tls_min_version, "1.3") == 0) {
		c->tls_ssl_options |= (long)SSL_OP_NO_TLSv1_2;
	} else if (strcmp(c->tls_min_version, "1.2") != 0) {
		snprintf(why, whylen, "tls_min_version \"%s\": use \"1.2\" or \"1.3\"", c->tls_min_version);
		return -1;
	}
	if (!c->tls_ciphers[0] || !c->tls_ciphersuites[0]) {
		snprintf(why, whylen, "tls_ciphers and tls_ciphersuites must not be empty");
		return -1;
	}
	return 0;
}
