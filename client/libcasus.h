/*
 * libcasus.h: the casus client library.
 *
 * A profile folder holds one device's identity: its keystore (device keys and
 * certificate, encrypted under the user's passphrase with Argon2id), the
 * server address, the pinned deployment root key, the newest verified policy,
 * an encrypted local cache and an outbox. A casus_client opens a profile,
 * connects and authenticates, and does the work of the `casus` command:
 * verifying every commit chain against the root and the signed policy,
 * encrypting and decrypting messages, and refusing anything that does not
 * verify.
 *
 * Errors: every function returns CASUS_OK (0) or a negative CASUS_E_* code;
 * casus_error() then holds a sentence for people and casus_error_code() a
 * stable code (a casus.v1 wire code such as "forbidden", or a local one such
 * as "passphrase"). Strings returned by the library are owned by the client
 * and valid until the next call on it. JSON results (json_t) are new
 * references the caller releases with json_decref.
 */
#ifndef LIBCASUS_H
#define LIBCASUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum casus_rc {
	CASUS_OK = 0,
	CASUS_E_USAGE = -1,      /* bad arguments (exit code 2) */
	CASUS_E_PROFILE = -2,    /* profile missing or damaged */
	CASUS_E_PASSPHRASE = -3, /* wrong passphrase */
	CASUS_E_NETWORK = -4,    /* cannot reach the server / connection lost */
	CASUS_E_SERVER = -5,     /* the server refused (see casus_error_code) */
	CASUS_E_VERIFY = -6,     /* something did not verify: refused */
	CASUS_E_NOT_FOUND = -7,  /* no such casus, user or message */
	CASUS_E_INTERNAL = -8
};

typedef struct casus_client casus_client;

struct casus_init_opts {
	const char *dir;        /* profile folder (created, mode 0700) */
	const char *server;     /* wss://host:port */
	const char *root_hex;   /* deployment root public key, 64 hex digits */
	const char *ca_file;    /* PEM CA for the server's TLS certificate (may be NULL) */
	const char *user;       /* user id, e.g. "cm.jansen" */
	const char *name;       /* display name */
	const char *org;        /* organisation */
	const char *role;       /* requested role */
	const char *pass;
	size_t passlen;
};

/* casus init: device keys + certificate request (DIR/request.casusreq). */
int casus_profile_init(const struct casus_init_opts *o, char *err, size_t errlen);
/* casus install-cert: check the certificate matches the device and the root, store it. */
int casus_profile_install_cert(const char *dir, const char *pass, size_t passlen, const char *cert_path, char *err,
                               size_t errlen);

int casus_client_open(casus_client **out, const char *dir, const char *pass, size_t passlen, char *err,
                      size_t errlen);
void casus_client_free(casus_client *c);
/* Connect, authenticate and fetch/verify the policy. Offline use (cache) works without. */
int casus_client_connect(casus_client *c);
const char *casus_error(const casus_client *c);
const char *casus_error_code(const casus_client *c);
/* The certificate fields of this device. */
const char *casus_self_user(const casus_client *c);
const char *casus_self_role(const casus_client *c);

/* casus list: [{casus, level, level_name, purpose, basis, unread, title?}], notices */
int casus_list(casus_client *c, json_t **out);
/* casus new: creator + members (user ids; each user's current devices). */
int casus_new(casus_client *c, const char *title, const char *purpose, const char *basis, uint8_t level,
              const char *const *members, size_t nmembers, char casus_hex[33]);
/* casus post: audience name (NULL: the policy's first audience the role may use), ground name or NULL. */
int casus_post(casus_client *c, const char *casus_hex, const char *audience, const char *ground, const char *text,
               uint64_t *seq, char msgid_hex[33]);
/* casus history: decrypted messages, oldest first:
 * [{seq, id, time, audience, ground, sender:{user,name,org,role,device}, verified, text | error}] */
int casus_history(casus_client *c, const char *casus_hex, uint64_t after, size_t limit, json_t **out);
/* casus members: {level, level_name, epoch, members:[{user,name,org,role,devices,break_glass}]} */
int casus_members(casus_client *c, const char *casus_hex, json_t **out);
int casus_add(casus_client *c, const char *casus_hex, const char *user, const char *break_glass_reason);
int casus_remove(casus_client *c, const char *casus_hex, const char *user, const char *reason);
int casus_set_level(casus_client *c, const char *casus_hex, uint8_t level, const char *reason);
int casus_rotate(casus_client *c, const char *casus_hex, const char *reason);
int casus_share(casus_client *c, const char *casus_hex, const char *user, const char *const *msgids, size_t n,
                const char *ground, const char *reason);
/* casus audit: query (object with casus/user/from_ms/to_ms) -> {entries:[...decoded], verified, fault} */
int casus_audit_query(casus_client *c, json_t *query, json_t **out);

/* Decode one pushed message ({"push":"msg",...}) of a casus: the same object
 * as a history entry. Refreshes the casus first if the epoch is new. */
int casus_decode_push(casus_client *c, const json_t *push, json_t **out);
/* Fetch and verify new commits of a casus (after a "commit" push). */
int casus_refresh(casus_client *c, const char *casus_hex);
/* Audiences this device can post to now: [{name, ground_required}] */
int casus_my_audiences(casus_client *c, const char *casus_hex, json_t **out);

/* Low level, for tests and tools: one request over the authenticated connection. */
json_t *casus_raw_request(casus_client *c, json_t *req);
/* Next push (new reference) waiting up to timeout_ms. */
json_t *casus_next_push(casus_client *c, int timeout_ms);

/* Read a passphrase: CASUS_PASSPHRASE_FILE, else a prompt on the terminal. */
int casus_read_passphrase(const char *prompt, char *buf, size_t cap, size_t *len);

#endif
