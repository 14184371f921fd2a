/*
 * config.h: casusd configuration, from a JSON file (--config) and flags.
 * Every field has a safe default; see deploy/casusd.json and docs/OPERATIONS.md.
 */
#ifndef CASUSD_CONFIG_H
#define CASUSD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct limits {
	size_t max_frame;         /* bytes, after authentication */
	size_t max_frame_preauth; /* bytes, before authentication */
	unsigned auth_timeout_s;  /* close a connection that has not authenticated */
	unsigned req_per_s;       /* sustained requests per second per session */
	unsigned req_burst;       /* token bucket depth */
	unsigned max_queue;       /* queued outgoing frames per session before it is closed as slow */
	unsigned conn_per_device;
	unsigned conn_per_addr;
	unsigned max_connections;
	unsigned ping_s;           /* idle seconds before a ping */
	unsigned hangup_s;         /* idle seconds before hanging up */
	unsigned history_page_max; /* messages per history page */
	size_t history_page_bytes; /* message bytes per history page (at least one message) */
	size_t max_queue_bytes;    /* bytes queued or being built for one session before it is closed as slow */
	unsigned slow_reader_s;    /* seconds a session may hold unsent data without the socket taking any */
	/* per-session work in one loop turn (loop.c over_budget): requests (a post
	 * handed to the verifiers counts an eighth), and none once the replies
	 * built for it in the turn reach turn_bytes */
	unsigned turn_requests;
	size_t turn_bytes;
	/* a session's next request waits while its send queue holds this many bytes
	 * (replies are produced as its socket drains) */
	size_t drain_bytes;
};

/* Cluster mode (docs/SCALING.md "Cluster mode", docs/OPERATIONS.md "A
 * cluster"): off unless the config has a "cluster" object. */
#define CLUSTER_MAX_URLS 8
struct cluster_config {
	int on;
	char nats[CLUSTER_MAX_URLS][256]; /* NATS server URLs (nats://host:port) */
	int n_nats;
	char node[64];         /* this node's name, unique in the cluster */
	char advertise[256];   /* the WebSocket URL clients reach this node at (in the lease) */
	char stream[64];       /* JetStream stream of the replicated log */
	char lease_bucket[64]; /* JetStream key-value bucket of the writer lease */
	unsigned replicas;     /* copies of the stream and the bucket (1..5) */
	unsigned lease_ttl_ms; /* a lease not renewed for this long lapses */
	unsigned publish_timeout_ms;
	/* the stream's bounds (0: none, the default): beyond them JetStream drops
	 * the oldest entries, and a node that is behind catches up from a
	 * snapshot of the writer (cluster_snap.h) */
	uint64_t stream_max_msgs;
	uint64_t stream_max_age_s;
};

struct config {
	char listen[64];
	int port;
	int tls;
	char tls_cert[512];
	char tls_key[512];
	char data_dir[512];
	char root_pub[512];     /* file: 64 hex digits of the deployment root public key */
	char policy[512];       /* file: signed policy (binary) */
	char revocations[512];  /* file: signed revocation list (required: casusd does not start without) */
	char issuance_log[512]; /* file: the root-signed issuance log, served by issuance.get (optional) */
	char certs_dir[512];    /* folder of *.cert files imported into the directory at start */
	char web_dir[512];      /* folder of the browser client served at / (empty: none; web.c) */
	char log_level[16];
	/* TLS (docs/OPERATIONS.md "TLS"): lowest protocol version "1.2" or "1.3"
	 * (default "1.3"), the TLS 1.2 cipher list and the TLS 1.3 suites in
	 * OpenSSL's syntax (defaults: the NCSC guidelines' "good" choices). */
	char tls_min_version[8];
	char tls_ciphers[512];
	char tls_ciphersuites[256];
	long tls_ssl_options; /* SSL_OP_* derived by config_check from tls_min_version */
	int no_tls_public;    /* plain ws:// on a non-loopback address was asked for explicitly */
	size_t map_size;
	/* monitoring (docs/OPERATIONS.md "Monitoring"): /metrics on its own
	 * plain-HTTP listener, metrics_listen (default 127.0.0.1) port
	 * metrics_port (0: no metrics listener); /healthz reports not-ready when
	 * the data folder's file system has less than health_min_free_mb free. */
	char metrics_listen[64];
	int metrics_port;
	unsigned health_min_free_mb;
	/* /healthz "audit chain behind" after entries waited this long for their
	 * signed checkpoint; 0: audit_checkpoint_secs + 10 */
	unsigned health_audit_behind_secs;
	unsigned audit_checkpoint_every; /* entries */
	unsigned audit_checkpoint_secs;
	unsigned audit_retention_days;
	/* box retention (retention.c, docs/STORAGE.md): a sealed key box sealed to
	 * an older wrap key of its device is deleted this long after casusd first
	 * saw the device's newer wrap key (default 14 days, the client's grace) */
	unsigned box_wrap_grace_s;
	/* signature verifier threads (verify.c): -1 (default) one per online
	 * core, 0 verify on the event loop, else that many */
	int verify_threads;
	struct limits lim;
	struct cluster_config cluster;
};

void config_defaults(struct config *c);
/* Load a JSON config file over the defaults. 0 or -1 (reason in why).
 * Unknown keys, wrong types and numbers out of range are refused. */
int config_load(struct config *c, const char *path, char *why, size_t whylen) __attribute__((warn_unused_result));
/* Check the final configuration (file and flags together): ranges that depend
 * on each other, the TLS version, and derive tls_ssl_options. 0 or -1 (why). */
int config_check(struct config *c, char *why, size_t whylen) __attribute__((warn_unused_result));
/* Parse a decimal number for a flag: digits only, lo..hi. 0 or -1. */
int config_parse_uint(const char *s, unsigned long long lo, unsigned long long hi, unsigned long long *out)
	__attribute__((warn_unused_result));

/* The defaults of the TLS cipher settings (NCSC ICT-beveiligingsrichtlijnen voor TLS, "goed"). */
#define CONFIG_TLS12_CIPHERS                                                                                           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:"                     \
	"ECDHE-RSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256"
#define CONFIG_TLS13_SUITES "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256"

#endif
