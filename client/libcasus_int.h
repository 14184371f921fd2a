/*
 * libcasus_int.h: what the files of libcasus share (not installed; the API is
 * libcasus.h). libcasus is the driver around the client core
 * (client/core/ccore.h): it moves frames over libwebsockets (conn.c), reads and
 * writes the profile folder and reads the clock; every trust decision is the
 * core's. The files follow the sections of the old libcasus.c:
 *
 *   libcasus_profile.c     errors, profile folder, keystore, open/free, whoami
 *   libcasus_connection.c  requests, connect and authenticate, policy and
 *                          revocation list (handed to the core)
 *   libcasus_cache.c       loading a casus (commit chain through the core,
 *                          grants, transfers) and its sealed local copy
 *   libcasus_outbox.c      post and the outbox
 *   libcasus_history.c     history, decoding messages through the core
 *   libcasus_membership.c  list, new, close, members, add/remove/level/rotate,
 *                          share (grants), a user's second device (pairing)
 *   libcasus_audit.c       the audit trail: queries and the paged fetch
 *   libcasus_live.c        pushes, following casus live, reconnecting
 *
 * Profile folder (mode 0700):
 *   profile.json       server URL, pinned root key, CA file, user and device id
 *   keys.casusks       keystore: "device" (secret keys), "cert" (certificate)
 *   request.casusreq   certificate request to hand to the administrator
 *   policy.bin         newest policy seen (the core verifies it each time)
 *   revlist.bin        newest revocation list seen (likewise; never goes back)
 *   cache/<casus>.bin  local copy of a casus: its commits, the messages this
 *                      device decrypted and the core's state for it (stream
 *                      positions, a pending own commit), sealed under the
 *                      "cache" key held in the keystore (sealed.h)
 *   outbox/<n>.bin     posts not yet acknowledged by the server (sealed the same way)
 *
 * Shared functions carry the prefix lc_.
 */
#ifndef CASUS_LIBCASUS_INT_H
#define CASUS_LIBCASUS_INT_H

#define _GNU_SOURCE 1
#include <fileio.h>
#include "libcasus.h"
#include "conn.h"
#include "sealed.h"

#include <cc_buf.h>
#include <cc_casus.h>
#include <cc_cert.h>
#include <cc_err.h>
#include <cc_keys.h>
#include <cc_keystore.h>
#include <cc_policy.h>
#include <cc_audit.h>
#include <cc_transfer.h>
#include <cc_wrapkey.h>
#include <ccore.h>
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/file.h>
#include <proto.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define REQ_TIMEOUT_MS 15000
#define CASUS_ROTATE_SECS (7 * 86400) /* rotate keys at least weekly */
#define CASUS_CACHE_MAX 32
#define RECONNECT_TIMEOUT_MS 5000
#define BACKOFF_MIN_MS 250u
#define BACKOFF_MAX_MS 15000u
#define HIST_CACHE_MAX 20000
#define RING 512
#define RAW_MAX 5000

struct loaded {
	char hex[33];
	ccore_casus *k;      /* the core's verified view of this casus */
	uint64_t next_epoch; /* next commit epoch to fetch */
	json_t *granted;     /* messages received through grants: [{seq,msg}] */
	json_t *commits;     /* every verified commit (base64), epoch order: for the cache */
	json_t *hist;        /* verified entries this device decrypted, seq order: for the cache */
	uint64_t upto;       /* hist holds every message this device can read up to here */
	int dirty;           /* hist or commits changed since the cache was written */
	uint64_t saved_ms;   /* when the cache was last written (monotonic) */
	int xfer_checked;    /* key transfers fetched in this process */
	int withheld_box;    /* the core said withheld_box: the commits fetched in this process are not
	                      * stored (a later process fetches them again, and the box with them) */
	json_t *raw;         /* messages as the server listed them in this process, by id: {id: {seq, msg}}
	                      * (at most RAW_MAX; casus_share grants them without listing again) */
};

/* A casus whose live stream is followed (casus_track): the messages already
 * handed out, to resume after a reconnect and to drop duplicates. */
struct tracked {
	char hex[33];
	uint64_t last;
	uint64_t ring[RING];
	size_t nring, pos;
};

struct casus_client {
	char dir[512];
	char server[1024]; /* one wss:// URL, or several separated by commas (a cluster) */
	int server_next;   /* the address of that list to try first */
	char ca[512];
	uint8_t root[CC_SIGN_PK_BYTES];
	cc_keystore *ks;
	cc_device_keys *keys;
	cc_cert cert;
	int have_cert;
	ccore *core;      /* every trust decision (client/core/ccore.h) */
	cc_policy policy; /* copy of the core's verified policy */
	int have_policy;
	struct conn *conn;
	char err[512];
	char code[64];
	uint64_t counter_floor;
	struct loaded cache[CASUS_CACHE_MAX];
	size_t ncache;
	uint8_t *cache_key; /* sodium_malloc: seals cache and outbox files */
	char devhex[33];
	struct tracked track[CASUS_CACHE_MAX];
	size_t ntrack;
	json_t *pending;   /* events for casus_next_event (resumed messages, state) */
	json_t *delivered; /* outbox entries delivered since open: [{id,casus,seq}] */
	uint64_t next_retry_ms;
	unsigned backoff_ms;
	int ever_connected;
	int offline_reported;
	int last_ok_online;
	int building; /* a commit is being built: a withheld earlier one does not block */
	int refused;  /* first verdict of the core on a message since reset (0: none) */
	char refused_msg[512];
	/* device wrap keys (issue 17; libcasus_profile.c) */
	char *pass; /* sodium_malloc: the passphrase, to save the keystore after a rotation */
	size_t passlen;
	cc_wrap_secret *wraps; /* sodium_malloc, CC_WRAP_MAX entries */
	size_t nwraps;
	uint32_t wrap_newest;    /* highest version this device ever made */
	uint32_t wrap_published; /* highest version the server accepted */
	ino_t ks_ino;            /* the keystore file as last read or written (another process may rotate) */
	struct timespec ks_mtim;
};

/* Wrap keys (libcasus_profile.c): rotate if due (or if force), publish what
 * the server lacks, wipe secrets past their grace period. Needs a connection. */
int lc_wrap_maintain(casus_client *c, int force);
/* Learn the newest wrap keys of the given devices from the directory and
 * have the core verify each against its certificate (libcasus_membership.c). */
int lc_wrap_fetch(casus_client *c, const cc_cert *const *certs, size_t n);
/* The newest verified wrap key per device, kept across processes in the
 * profile's sealed file wrapkeys.bin (libcasus_profile.c): load restores it
 * into the core (the floor a directory is held to); save merges the file
 * with the core's set (highest version per device) and writes it back. */
void lc_wrapkeys_load(casus_client *c);
int lc_wrapkeys_save(casus_client *c);
/* At connect, after publishing: the directory must return this device's own
 * newest wrap key. Older, missing or another key: CASUS_E_VERIFY, code
 * "withheld_wrapkey"; a newer one than this device holds (a keystore restored
 * from a backup) is a warning "wrapkey_ahead". */
int lc_wrap_check_own(casus_client *c);
/* Before applying a commit: if it seals a box of this device to a wrap
 * version newer than this process holds, read the keystore again (another
 * process of the profile rotated). 1: reloaded and now held, 0: nothing to do
 * (or still not held: the core refuses the commit), < 0: the keystore could
 * not be read again. */
int lc_wraps_for_commit(casus_client *c, const uint8_t *p, size_t n);
/* The same for a grant or transfer naming wrap version `need` for this device. */
int lc_wraps_need(casus_client *c, uint32_t need);
/* Seconds after which a device's newest wrap key counts as stale for a
 * committer: CASUS_WRAPKEY_STALE, else rotation interval + grace. */
int64_t lc_wrap_stale_after(void);

__attribute__((format(printf, 3, 4))) int lc_fail(casus_client *c, int rc, const char *fmt, ...);
void lc_accept_transfers(casus_client *c, struct loaded *L);
int lc_aud_default(casus_client *c, const cc_chain_state *st);
void lc_cache_forget(casus_client *c, const char *hex);
void lc_cache_path(const casus_client *c, const char *hex, char *out, size_t cap);
void lc_cache_save(casus_client *c, struct loaded *L);
/* The same, written with fsync before the rename; 0 only when it is on disk
 * (the send counters: stored before a message leaves the device). */
int lc_cache_save_durable(casus_client *c, struct loaded *L);
json_t *lc_cert_json(const cc_cert *ct);
void lc_clear_err(casus_client *c);
int lc_core_fail(casus_client *c, int crc);
json_t *lc_decode_one(casus_client *c, struct loaded *L, uint64_t seq, const uint8_t *mb, size_t ml, int live);
struct lc_arena;
/* The same with the plaintext in a batch's secure buffer (arena.h; NULL: a buffer of its own). */
json_t *lc_decode_one_in(casus_client *c, struct loaded *L, uint64_t seq, const uint8_t *mb, size_t ml, int live,
                         struct lc_arena *arena);
char *lc_dump_wipeable(const json_t *o, size_t *len);
void lc_hist_add(struct loaded *L, json_t *entry);
uint64_t lc_hist_last(const struct loaded *L);
const cc_cert *lc_known_cert(const struct loaded *L, const uint8_t dev[16]);
int lc_load_casus(casus_client *c, const char *hex, struct loaded **out);
int lc_load_casus_local(casus_client *c, const char *hex, struct loaded **out);
uint64_t lc_mono_ms(void);
int lc_parse_casus(casus_client *c, const char *hex, uint8_t id[16]);
void lc_path_in(char *out, size_t cap, const char *dir, const char *name);
int lc_queue_post(casus_client *c, const char *hex, const char *audience, const char *ground, const char *kind,
                  const char *text, uint64_t *seq, char msgid_hex[33]);
/* The same with the structured part of a note kind (ccore_notes.h; NULL: none). */
int lc_queue_post_data(casus_client *c, const char *hex, const char *audience, const char *ground, const char *kind,
                       const char *text, const json_t *data, uint64_t *seq, char msgid_hex[33]);
int lc_request(casus_client *c, json_t *req, json_t **resp);
void lc_resume_tracked(casus_client *c);
void lc_track_mark(casus_client *c, const char *hex, uint64_t seq);

#endif
