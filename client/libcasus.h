/*
 * libcasus.h: the casus client library.
 *
 * A profile folder holds one device's identity: its keystore (device keys,
 * certificate and the local cache key, encrypted under the user's passphrase
 * with Argon2id), the server address, the pinned deployment root key, the
 * newest verified policy, an encrypted local cache per casus and an outbox
 * (layout and formats: docs/CLIENT.md). A casus_client opens a profile,
 * connects and authenticates, and does the work of the `casus` command:
 * verifying every commit chain against the root and the signed policy,
 * encrypting and decrypting messages, and refusing anything that does not
 * verify.
 *
 * Errors: every int function returns CASUS_OK (0) or a negative CASUS_E_*
 * code; casus_error() then holds a sentence for people (what went wrong and
 * what to do next) and casus_error_code() a stable code (a casus.v1 wire code
 * such as "forbidden", "duplicate", or a local one such as "passphrase",
 * "network", "queued"). Both strings are owned by the client and valid until
 * the next call on it.
 *
 * Memory: every json_t * the library hands out (out parameters, return
 * values) is a new reference the caller releases with json_decref. json_t
 * arguments are borrowed (never stolen). char buffers the caller passes
 * (casus_hex[33], msgid_hex[33]) are filled with NUL-terminated hex.
 * Decrypted text reaches the caller only inside such JSON objects: release
 * them promptly. Secrets (device keys, cache key, epoch keys) never leave
 * the library and live in sodium_malloc memory that is wiped on free.
 *
 * Threads: a casus_client is not thread-safe; use one client from one thread
 * (or serialise every call). Separate clients (even on the same profile, in
 * one or several processes) are independent; the outbox is locked while it
 * is being sent, and the server's replay check keeps delivery exactly-once.
 *
 * Offline: casus_client_open needs no network. If casus_client_connect fails
 * with CASUS_E_NETWORK, casus_history/casus_members read the local copy
 * (casus_is_online() is then 0: say so to the user) and casus_post queues the
 * message in the outbox (CASUS_E_QUEUED); it is delivered by the next
 * successful connect (casus_client_connect, or casus_next_event's reconnect).
 */
#ifndef LIBCASUS_H
#define LIBCASUS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

enum casus_rc {
	CASUS_OK = 0,
	CASUS_E_USAGE = -1,      /* bad arguments (exit code 2) */
	CASUS_E_PROFILE = -2,    /* profile missing or damaged (3) */
	CASUS_E_PASSPHRASE = -3, /* wrong passphrase (3) */
	CASUS_E_NETWORK = -4,    /* cannot reach the server / connection lost (4) */
	CASUS_E_SERVER = -5,     /* the server refused (see casus_error_code) (1) */
	CASUS_E_VERIFY = -6,     /* something did not verify: refused (5) */
	CASUS_E_NOT_FOUND = -7,  /* no such casus, user or message (6) */
	CASUS_E_INTERNAL = -8,   /* (1) */
	CASUS_E_QUEUED = -9      /* not delivered yet: kept in the outbox (7) */
};

typedef struct casus_client casus_client;

struct casus_init_opts {
	const char *dir;      /* profile folder (created, mode 0700) */
	const char *server;   /* wss://host:port */
	const char *root_hex; /* deployment root public key, 64 hex digits */
	const char *ca_file;  /* PEM CA for the server's TLS certificate (may be NULL) */
	const char *user;     /* user id, e.g. "cm.jansen" */
	const char *name;     /* display name */
	const char *org;      /* organisation */
	const char *role;     /* requested role */
	const char *pass;
	size_t passlen;
};

/* casus init: device keys + certificate request (DIR/request.casusreq). */
int casus_profile_init(const struct casus_init_opts *o, char *err, size_t errlen);
/* casus install-cert: check the certificate matches the device and the root, store it. */
int casus_profile_install_cert(const char *dir, const char *pass, size_t passlen, const char *cert_path, char *err,
                               size_t errlen);

/* Open a profile (runs Argon2id once to open the keystore). No network. */
int casus_client_open(casus_client **out, const char *dir, const char *pass, size_t passlen, char *err, size_t errlen);
/* Writes the caches, closes the connection, wipes every key. NULL-safe. */
void casus_client_free(casus_client *c);
/* Connect, authenticate, fetch/verify the policy; then deliver the outbox and
 * queue what followed casus missed (casus_track) for casus_next_event. */
int casus_client_connect(casus_client *c);
/* 1 while the connection is up. */
int casus_is_online(const casus_client *c);
const char *casus_error(const casus_client *c);
const char *casus_error_code(const casus_client *c);
/* The certificate fields of this device. */
const char *casus_self_user(const casus_client *c);
const char *casus_self_role(const casus_client *c);
/* casus whoami: {user,name,org,role,device,serial,not_before,not_after,server,profile,online,policy,revlist,
 * pairing,outbox}; pairing is this device's pairing code (casus_add_device_paired) */
int casus_whoami(casus_client *c, json_t **out);

/* The verified policy this client holds, in its readable JSON form
 * (policy_json.h: levels, roles with min_level, may_create, ..., audiences),
 * or NULL before one was verified. New reference. For explaining refusals:
 * the decisions themselves stay in the client core. */
json_t *casus_policy_json(casus_client *c);

/* casus list: [{casus, level, level_name, purpose, basis, unread, last_seq, title?, rollback?}], notices.
 * title: the casus's title (casus_title), fetching the verified chain of a
 * casus this device holds no copy of yet; rollback: true when the server
 * went back in time for this casus (warned "rollback", casus_take_warnings). */
int casus_list(casus_client *c, json_t **out);
/* The title of a casus as this device holds it (end-to-end encrypted in the
 * verified chain, readable by every member; for a casus made before that,
 * its title note #1), or NULL. No network. Owned by the client, valid until
 * the next call on it. */
const char *casus_title(casus_client *c, const char *casus_hex);
/* casus new: creator + members (user ids; each user's current devices). */
int casus_new(casus_client *c, const char *title, const char *purpose, const char *basis, uint8_t level,
              const char *const *members, size_t nmembers, char casus_hex[33]);
/* The same with the content retention after closing, in days (-1: the
 * server's default of 3650). */
int casus_new_retention(casus_client *c, const char *title, const char *purpose, const char *basis, uint8_t level,
                        long retention_days, const char *const *members, size_t nmembers, char casus_hex[33]);
/* casus close: nothing new can be written; the content is purged when the
 * casus's retention after closing has passed. *purge_after: UTC seconds. */
int casus_close(casus_client *c, const char *casus_hex, const char *reason, int64_t *purge_after);
/* casus post: audience name (NULL: the policy's first audience the role may
 * use), ground name or NULL. The message is encrypted, written to the outbox,
 * then sent. CASUS_OK: delivered (*seq set). CASUS_E_QUEUED: no connection;
 * it stays in the outbox (msgid_hex is set if it could already be encrypted
 * from the local copy of the casus) and goes out on the next connect. */
int casus_post(casus_client *c, const char *casus_hex, const char *audience, const char *ground, const char *text,
               uint64_t *seq, char msgid_hex[33]);
/* casus_post for a note of another kind (ccore_notes.h: "agenda", "afspraak"),
 * with its structured part `data` (checked by ccore_note_check; may be NULL). */
int casus_post_note(casus_client *c, const char *casus_hex, const char *audience, const char *ground, const char *kind,
                    const char *text, const json_t *data, uint64_t *seq, char msgid_hex[33]);
/* casus history: decrypted messages in the server's order (seq):
 * [{seq, id, time, audience, ground, sender:{user,name,org,role,device}, verified, kind, text | error, diverged?,
 * late?, data? | data_error?}] data: the structured part of an "agenda" or "afspraak" note, only if well formed
 * (ccore_note_check); data_error "tampered" otherwise. diverged: true for a message the server now holds at a number
 * where this device holds another one (the server went back in time: warned "rollback"; the held one is listed too and
 * stays in the local copy). late: true for a message written more than a minute (CASUS_LATE_SECS) before one listed
 * above it, e.g. a post that waited in an outbox: the order stays the
 * server's, the same for every member.
 * after = 0 and limit = 0: everything, older messages from the local cache.
 * Offline (casus_is_online() == 0): the local copy only. */
int casus_history(casus_client *c, const char *casus_hex, uint64_t after, size_t limit, json_t **out);
/* One entry held on this device (e.g. one's own post just delivered), no network. */
int casus_entry(casus_client *c, const char *casus_hex, uint64_t seq, json_t **out);
/* {cached: bool, saved: unix time of the local copy} */
int casus_cache_info(casus_client *c, const char *casus_hex, json_t **out);
/* casus members: {level, level_name, epoch, title?, members:[{user,name,org,role,devices,break_glass}],
 *  changes:[{epoch,type,level,time,by,reason?}]}
 * (offline: from the verified local copy of the chain) */
int casus_members(casus_client *c, const char *casus_hex, json_t **out);
int casus_add(casus_client *c, const char *casus_hex, const char *user, const char *break_glass_reason);
/* casus add, telling whom the keys were sealed to: *sealed (new reference) is
 * [{user, role, device, code}] with each device's pairing code. */
int casus_add_shown(casus_client *c, const char *casus_hex, const char *user, const char *break_glass_reason,
                    json_t **sealed);
int casus_remove(casus_client *c, const char *casus_hex, const char *user, const char *reason);
int casus_set_level(casus_client *c, const char *casus_hex, uint8_t level, const char *reason);
int casus_rotate(casus_client *c, const char *casus_hex, const char *reason);
/* casus sleutel vernieuwen / device rotate: publish a new wrap key for this
 * device now (docs/CRYPTO.md, "Device wrap keys"); *out (new reference):
 * {version, created, published, held:[versions], wiped:[versions]}. Connects. */
int casus_device_rotate(casus_client *c, json_t **out);
/* The device's wrap keys without rotating: {version, created, published, held, due}. */
int casus_device_keys(casus_client *c, json_t **out);
int casus_share(casus_client *c, const char *casus_hex, const char *user, const char *const *msgids, size_t n,
                const char *ground, const char *reason);
/* casus audit: query (object with casus/user/from_ms/to_ms) -> {entries:[...decoded], verified, fault} */
int casus_audit_query(casus_client *c, json_t *query, json_t **out);
/* The whole audit trail a query (casus/user/from_ms/to_ms) selects: every
 * audit.query answer, page by page, as the server sent it (*pages: new
 * reference, [{entries:[{entry,hash}], checkpoints, anchor?, audit_key, more}]).
 * export_kind/export_casus (may be NULL) ask for one export entry. Bounded:
 * pages without progress end it (CASUS_E_VERIFY, code "paging"). The caller
 * verifies entries and checkpoints (cc_audit). */
int casus_audit_fetch(casus_client *c, const json_t *query, const char *export_kind, const char *export_casus,
                      size_t page_limit, json_t **pages);

/* casus add-device: add this user's other certified devices (same role) to
 * the roster (no may_add needed for one's own devices) and pass them the
 * casus keys this device holds (a signed transfer sealed to each; audited).
 * {added: n, transferred: [device ids]} */
int casus_add_device(casus_client *c, const char *casus_hex, json_t **out);
/* The same as an explicit pairing: only the device whose pairing code (shown
 * by `casus whoami` on it) is `code` is added and given keys. Without a code,
 * or with one no new device shows, nothing is added (CASUS_E_USAGE, code
 * "pairing") when an unpaired device exists; casus_add_device is this with
 * code NULL. */
int casus_add_device_paired(casus_client *c, const char *casus_hex, const char *code, json_t **out);

/* Warnings the client core collected (things it cannot refuse but must show:
 * "gap", "reorder", "duplicate", "revoked_member", "rollback", ...):
 * [{code, message}], new reference; the list is empty afterwards. */
json_t *casus_take_warnings(casus_client *c);

/* ---- outbox ---- */
/* Send every queued post (oldest first); returns how many were delivered. */
int casus_outbox_flush(casus_client *c);
/* {pending:[{entry,casus,audience,ground,id,queued,encrypted,text}], failed:[... failed],
 *  delivered:[{id,casus,seq}] (delivered by this client since it was opened)} */
int casus_outbox_list(casus_client *c, json_t **out);

/* ---- live use ---- */
/* Decode one pushed message ({"push":"msg",...}) of a casus: the same object
 * as a history entry. Refreshes the casus first if the epoch is new. */
int casus_decode_push(casus_client *c, const json_t *push, json_t **out);
/* Fetch and verify new commits of a casus (after a "commit" push). */
int casus_refresh(casus_client *c, const char *casus_hex);
/* Audiences this device can post to now: [{name, ground_required}] */
int casus_my_audiences(casus_client *c, const char *casus_hex, json_t **out);
/* Follow a casus: seq is a message already shown (0: none). After a
 * reconnect, messages after the highest one shown are fetched and handed
 * out by casus_next_event; duplicates are dropped. */
int casus_track(casus_client *c, const char *casus_hex, uint64_t seq);
/* The newest sequence number of a casus this device can read (0 if none). */
int casus_latest_seq(casus_client *c, const char *casus_hex, uint64_t *seq);
/* The next event, waiting up to timeout_ms (0: do not wait): a server push
 * ({"push":"msg"|"commit"|"removed"|"grant"|"notice",...}; "resumed": true
 * for what was fetched after a reconnect) or a connection change
 * ({"push":"connection","state":"offline"|"online"|"refused","retry_in_ms"}).
 * When the server goes away it reconnects by itself with exponential backoff
 * (250 ms .. 15 s, jittered), re-authenticates, sends the outbox and resumes
 * the followed casus. NULL if nothing happened. */
json_t *casus_next_event(casus_client *c, int timeout_ms);
/* For poll(): the connection's descriptor (-1 when offline) and how long to
 * wait at most before calling casus_next_event again. */
int casus_event_fd(const casus_client *c);
int casus_event_wait_ms(const casus_client *c);
/* After a failed casus_client_connect: let casus_next_event retry later. */
void casus_set_offline(casus_client *c);

/* Low level, for tests and tools: one request over the authenticated connection. */
/* ---- procesregie: agenda, agreed actions, notices (libcasus_regie.c) ----------
 * casus_agenda_plan: put the casus on the case conference's agenda at `date`
 * (UTC seconds): a member posts an "agenda" note (date, place) end to end
 * encrypted into the casus, then discloses the date (agenda.plan); a role
 * with may_overview that is not a member discloses the date only.
 * *out: {casus, agenda, date, note (bool), seq, noticed}. */
int casus_agenda_plan(casus_client *c, const char *casus_hex, int64_t date, const char *place, const char *audience,
                      const char *ground, json_t **out);
/* The agenda from a day ago on: [{casus, agenda, date, member, place?}] (place
 * where this device can read the casus's agenda note). */
int casus_agenda_list(casus_client *c, json_t **out);
/* The casus's agreed actions, newest state each: [{action, what, who, due,
 * done, disclosed, seq, time, by}] (ccore_actions_fold). */
int casus_actions(casus_client *c, const char *casus_hex, json_t **out);
/* A new action for `who` (a member) due at `due`; with disclose the due date
 * and done flag go to the server (action.disclose) for the overdue signal. */
int casus_action_add(casus_client *c, const char *casus_hex, const char *what, const char *who, int64_t due,
                     int disclose, const char *audience, const char *ground, char action_hex[33]);
/* Mark an action done (a unique prefix of its id, at least 4 digits). */
int casus_action_done(casus_client *c, const char *casus_hex, const char *action_prefix, const char *audience,
                      const char *ground, char action_hex[33]);
/* Dismiss notices by id (ids: a JSON array of numbers; NULL: all of them).
 * *out: {dismissed, unknown: [ids]}. */
int casus_notice_dismiss(casus_client *c, const json_t *ids, json_t **out);
/* The notices waiting for this user, each with its id: [{id, notice, ...}]. */
int casus_notices(casus_client *c, json_t **out);

json_t *casus_raw_request(casus_client *c, json_t *req);
/* Next raw push (new reference) waiting up to timeout_ms. No reconnect. */
json_t *casus_next_push(casus_client *c, int timeout_ms);

/* Read a passphrase: CASUS_PASSPHRASE_FILE, else a prompt on the terminal. */
int casus_read_passphrase(const char *prompt, char *buf, size_t cap, size_t *len);

#endif
