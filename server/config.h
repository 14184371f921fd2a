/*
 * config.h: casusd configuration, from a JSON file (--config) and flags.
 * Every field has a safe default; see deploy/casusd.json and docs/OPERATIONS.md.
 */
#ifndef CASUSD_CONFIG_H
#define CASUSD_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct limits {
	size_t max_frame;          /* bytes, after authentication */
	size_t max_frame_preauth;  /* bytes, before authentication */
	unsigned auth_timeout_s;   /* close a connection that has not authenticated */
	unsigned req_per_s;        /* sustained requests per second per session */
	unsigned req_burst;        /* token bucket depth */
	unsigned max_queue;        /* queued outgoing frames per session before it is closed as slow */
	unsigned conn_per_device;
	unsigned conn_per_addr;
	unsigned max_connections;
	unsigned ping_s;           /* idle seconds before a ping */
	unsigned hangup_s;         /* idle seconds before hanging up */
	unsigned history_page_max; /* messages per history page */
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
	char revocations[512];  /* file: signed revocation list (optional) */
	char certs_dir[512];    /* folder of *.cert files imported into the directory at start */
	char log_level[16];
	size_t map_size;
	unsigned audit_checkpoint_every;  /* entries */
	unsigned audit_checkpoint_secs;
	unsigned audit_retention_days;
	struct limits lim;
};

void config_defaults(struct config *c);
/* Load a JSON config file over the defaults. 0 or -1 (reason in why). */
int config_load(struct config *c, const char *path, char *why, size_t whylen);

#endif
