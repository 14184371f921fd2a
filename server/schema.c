/*
 * schema.c: key builders, record codecs and meta counters (see schema.h).
 */
#include "schema.h"
#include "log.h"

#include <cc_buf.h>
#include <cc_commit.h>
#include <cc_err.h>
#include <cc_keys.h>
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define XFER_PFX SCHEMA_XFER_PREFIX
#define XFER_PFX_LEN SCHEMA_XFER_PREFIX_LEN

_Static_assert(SCHEMA_KEY_XFER == XFER_PFX_LEN + 48, "transfer key length");
_Static_assert(SCHEMA_AUDIT_HASH == CC_HASH_BYTES, "audit record hash length");
_Static_assert(SCHEMA_KEY_XFER_PFX == XFER_PFX_LEN + 32, "transfer prefix length");
_Static_assert(SCHEMA_KEY_STAGNATION == SCHEMA_STAGNATION_PREFIX_LEN + 17, "stagnation key length");

size_t schema_key_casus(uint8_t k[SCHEMA_KEY_CASUS], const uint8_t casus[16], enum schema_casus_kind kind)
{
	memcpy(k, casus, 16);
	k[16] = (uint8_t)kind;
	return SCHEMA_KEY_CASUS;
}

size_t schema_key_seq(uint8_t k[SCHEMA_KEY_SEQ], const uint8_t id[16], uint64_t seq)
{
	memcpy(k, id, 16);
	store_be64(k + 16, seq);
	return SCHEMA_KEY_SEQ;
}

size_t schema_key_pair(uint8_t k[SCHEMA_KEY_PAIR], const uint8_t a[16], const uint8_t b[16])
{
	memcpy(k, a, 16);
	memcpy(k + 16, b, 16);
	return SCHEMA_KEY_PAIR;
}

size_t schema_key_grant(uint8_t k[SCHEMA_KEY_GRANT], const uint8_t device[16], const uint8_t casus[16], uint64_t gseq)
{
	memcpy(k, device, 16);
	memcpy(k + 16, casus, 16);
	store_be64(k + 32, gseq);
	return SCHEMA_KEY_GRANT;
}

/* Device wrap keys (issue 17): one meta key per device, the newest accepted publication. */
_Static_assert(SCHEMA_KEY_WRAP == SCHEMA_WRAP_PREFIX_LEN + 16, "wrap key length");
size_t schema_key_wrap(uint8_t k[SCHEMA_KEY_WRAP], const uint8_t device[16])
{
	memcpy(k, SCHEMA_WRAP_PREFIX, SCHEMA_WRAP_PREFIX_LEN);
	memcpy(k + SCHEMA_WRAP_PREFIX_LEN, device, 16);
	return SCHEMA_KEY_WRAP;
}

_Static_assert(SCHEMA_KEY_BOX == SCHEMA_BOX_PREFIX_LEN + 41, "box key length");
size_t schema_key_box(uint8_t k[SCHEMA_KEY_BOX], const uint8_t casus[16], uint64_t epoch, const uint8_t device[16],
                      uint8_t audience)
{
	memcpy(k, SCHEMA_BOX_PREFIX, SCHEMA_BOX_PREFIX_LEN);
	memcpy(k + SCHEMA_BOX_PREFIX_LEN, casus, 16);
	store_be64(k + SCHEMA_BOX_PREFIX_LEN + 16, epoch);
	memcpy(k + SCHEMA_BOX_PREFIX_LEN + 24, device, 16);
	k[SCHEMA_BOX_PREFIX_LEN + 40] = audience;
	return SCHEMA_KEY_BOX;
}

_Static_assert(SCHEMA_KEY_BOXWRAP == SCHEMA_BOXWRAP_PREFIX_LEN + 16, "boxwrap key length");
size_t schema_key_boxwrap(uint8_t k[SCHEMA_KEY_BOXWRAP], const uint8_t device[16])
{
	memcpy(k, SCHEMA_BOXWRAP_PREFIX, SCHEMA_BOXWRAP_PREFIX_LEN);
	memcpy(k + SCHEMA_BOXWRAP_PREFIX_LEN, device, 16);
	return SCHEMA_KEY_BOXWRAP;
}

/* ---- commits and their boxes ------------------------------------------------------ */

#define BOX_VAL (4 + CC_SEALED_KEY_BYTES)

static int put_boxes(struct store *st, const cc_commit *c, const cc_commit_audience *au, uint8_t audience)
{
	uint8_t k[SCHEMA_KEY_BOX], v[BOX_VAL];
	for (size_t j = 0; j < au->nrecipients; j++) {
		const cc_commit_recipient *r = &au->recipients[j];
		if (!r->has_box)
			continue;
		for (int i = 0; i < 4; i++)
			v[i] = (uint8_t)(r->wrap >> (24 - 8 * i));
		memcpy(v + 4, r->box, CC_SEALED_KEY_BYTES);
		int rc = store_put(st, DB_META, k, schema_key_box(k, c->casus_id, c->epoch, r->device_id, audience), v,
		                   sizeof v, 0);
		if (rc)
			return rc;
	}
	return 0;
}

int schema_commit_put(struct store *st, const uint8_t casus[16], uint64_t epoch, const uint8_t *cb, size_t cl,
                      unsigned flags)
{
	uint8_t k[SCHEMA_KEY_SEQ];
	cc_commit c;
	int rc;
	if (cl < 1 || cb[0] != CC_COMMIT_VERSION_BOXES)
		return store_put(st, DB_COMMITS, k, schema_key_seq(k, casus, epoch), cb, cl, flags);
	if (cc_commit_decode(cb, cl, &c) != CC_OK)
		return -1;
	if (memcmp(c.casus_id, casus, 16) != 0 || c.epoch != epoch) {
		cc_commit_free(&c);
		return -1;
	}
	rc = store_put(st, DB_COMMITS, k, schema_key_seq(k, casus, epoch), cb, c.signed_len, flags);
	for (size_t a = 0; a < c.naudiences && !rc; a++)
		rc = put_boxes(st, &c, &c.audiences[a], c.audiences[a].audience);
	if (!rc && c.reason_len)
		rc = put_boxes(st, &c, &c.reason, CC_REASON_AUDIENCE);
	cc_commit_free(&c);
	return rc;
}

int schema_commit_for(struct store *st, const uint8_t casus[16], uint64_t epoch, const uint8_t *stored, size_t n,
                      const uint8_t device[16], cc_wbuf *out)
{
	cc_w_fixed(out, stored, n);
	if (n < 1 || stored[0] != CC_COMMIT_VERSION_BOXES)
		return out->err ? -1 : 0;
	/* the device's boxes: one prefix range, audiences ascending (the box section's order) */
	uint8_t pfx[SCHEMA_KEY_BOX];
	size_t pl = schema_key_box(pfx, casus, epoch, device, 0) - 1;
	uint8_t aud[256];
	const uint8_t *box[256];
	size_t nb = 0;
	MDB_cursor *cur = NULL;
	if (mdb_cursor_open(store_cur(st), st->dbi[DB_META], &cur) != 0)
		return -1;
	MDB_val k = {pl, pfx}, v;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == SCHEMA_KEY_BOX && memcmp(k.mv_data, pfx, pl) == 0 && nb < 256) {
		if (v.mv_size == BOX_VAL) {
			aud[nb] = ((const uint8_t *)k.mv_data)[pl];
			box[nb++] = (const uint8_t *)v.mv_data + 4; /* valid until the transaction ends */
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	if (nb == 0)
		return out->err ? -1 : 0; /* no box section: every box absent */
	cc_w_u16(out, (uint16_t)nb);
	for (size_t i = 0; i < nb; i++) {
		cc_w_u8(out, aud[i]);
		cc_w_fixed(out, device, 16);
		cc_w_fixed(out, box[i], CC_SEALED_KEY_BYTES);
	}
	return out->err ? -1 : 0;
}

size_t schema_key_xfer_prefix(uint8_t k[SCHEMA_KEY_XFER_PFX], const uint8_t to[16], const uint8_t casus[16])
{
	memcpy(k, XFER_PFX, XFER_PFX_LEN);
	memcpy(k + XFER_PFX_LEN, to, 16);
	memcpy(k + XFER_PFX_LEN + 16, casus, 16);
	return SCHEMA_KEY_XFER_PFX;
}

size_t schema_key_xfer(uint8_t k[SCHEMA_KEY_XFER], const uint8_t to[16], const uint8_t casus[16],
                       const uint8_t from[16])
{
	schema_key_xfer_prefix(k, to, casus);
	memcpy(k + SCHEMA_KEY_XFER_PFX, from, 16);
	return SCHEMA_KEY_XFER;
}

size_t schema_key_stagnation(uint8_t k[SCHEMA_KEY_STAGNATION], const uint8_t casus[16], uint8_t signal)
{
	memcpy(k, SCHEMA_STAGNATION_PREFIX, SCHEMA_STAGNATION_PREFIX_LEN);
	memcpy(k + SCHEMA_STAGNATION_PREFIX_LEN, casus, 16);
	k[SCHEMA_STAGNATION_PREFIX_LEN + 16] = signal;
	return SCHEMA_KEY_STAGNATION;
}

size_t schema_key_regie(uint8_t k[SCHEMA_KEY_REGIE], const char *prefix, const uint8_t casus[16], const uint8_t *id)
{
	memcpy(k, prefix, SCHEMA_REGIE_PREFIX_LEN);
	memcpy(k + SCHEMA_REGIE_PREFIX_LEN, casus, 16);
	if (!id)
		return SCHEMA_REGIE_PREFIX_LEN + 16;
	memcpy(k + SCHEMA_REGIE_PREFIX_LEN + 16, id, 16);
	return SCHEMA_KEY_REGIE;
}

void schema_agenda_encode(uint8_t out[SCHEMA_AGENDA_VAL], int64_t date, int64_t planned)
{
	store_be64(out, (uint64_t)date);
	store_be64(out + 8, (uint64_t)planned);
}

int schema_agenda_decode(const void *p, size_t n, int64_t *date, int64_t *planned)
{
	if (n != SCHEMA_AGENDA_VAL)
		return -1;
	*date = (int64_t)store_rd64(p);
	*planned = (int64_t)store_rd64((const uint8_t *)p + 8);
	return 0;
}

void schema_action_encode(uint8_t out[SCHEMA_ACTION_VAL], int64_t due, int done)
{
	store_be64(out, (uint64_t)due);
	out[8] = done ? 1 : 0;
}

int schema_action_decode(const void *p, size_t n, int64_t *due, int *done)
{
	if (n != SCHEMA_ACTION_VAL || ((const uint8_t *)p)[8] > 1)
		return -1;
	*due = (int64_t)store_rd64(p);
	*done = ((const uint8_t *)p)[8];
	return 0;
}

static size_t user_prefix(uint8_t *k, const char *user)
{
	size_t ul = strnlen(user, SCHEMA_USER_MAX + 1);
	if (ul > SCHEMA_USER_MAX)
		return 0;
	memcpy(k, user, ul);
	k[ul] = 0;
	return ul + 1;
}

size_t schema_key_user_device(uint8_t k[SCHEMA_KEY_USER_MAX], const char *user, const uint8_t device[16])
{
	size_t p = user_prefix(k, user);
	if (!p)
		return 0;
	memcpy(k + p, device, 16);
	return p + 16;
}

size_t schema_key_user_seq(uint8_t k[SCHEMA_KEY_USER_MAX], const char *user, uint64_t seq)
{
	size_t p = user_prefix(k, user);
	if (!p)
		return 0;
	store_be64(k + p, seq);
	return p + 8;
}

size_t schema_key_audit(uint8_t k[SCHEMA_KEY_AUDIT], uint64_t seq)
{
	store_be64(k, seq);
	return SCHEMA_KEY_AUDIT;
}

int schema_key_audit_decode(const void *k, size_t n, uint64_t *seq)
{
	if (n != SCHEMA_KEY_AUDIT)
		return -1;
	*seq = store_rd64(k);
	return 0;
}

void schema_version_encode(uint8_t out[SCHEMA_VERSION_VAL], uint64_t version)
{
	store_be64(out, version);
}

int schema_version_decode(const void *p, size_t n, uint64_t *version)
{
	if (n != SCHEMA_VERSION_VAL)
		return -1;
	*version = store_rd64(p);
	return 0;
}

void schema_msgid_encode(uint8_t out[SCHEMA_MSGID_VAL], uint64_t seq)
{
	store_be64(out, seq);
}

int schema_msgid_decode(const void *p, size_t n, uint64_t *seq)
{
	if (n != SCHEMA_MSGID_VAL)
		return -1;
	*seq = store_rd64(p);
	return 0;
}

_Static_assert(SCHEMA_KEY_REMOVED == SCHEMA_REMOVED_PREFIX_LEN + 32, "removed key length");

size_t schema_key_removed(uint8_t k[SCHEMA_KEY_REMOVED], const uint8_t device[16], const uint8_t casus[16])
{
	memcpy(k, SCHEMA_REMOVED_PREFIX, SCHEMA_REMOVED_PREFIX_LEN);
	memcpy(k + SCHEMA_REMOVED_PREFIX_LEN, device, 16);
	memcpy(k + SCHEMA_REMOVED_PREFIX_LEN + 16, casus, 16);
	return SCHEMA_KEY_REMOVED;
}

int schema_removed_get(struct store *st, const uint8_t device[16], const uint8_t casus[16], uint64_t *epoch)
{
	uint8_t k[SCHEMA_KEY_REMOVED];
	MDB_val v;
	int rc = store_get(st, DB_META, k, schema_key_removed(k, device, casus), &v);
	if (rc)
		return rc;
	if (v.mv_size != 8)
		return -1;
	*epoch = store_rd64(v.mv_data);
	return 0;
}

int schema_removed_put(struct store *st, const uint8_t device[16], const uint8_t casus[16], uint64_t epoch)
{
	uint8_t k[SCHEMA_KEY_REMOVED], v[8];
	store_be64(v, epoch);
	return store_put(st, DB_META, k, schema_key_removed(k, device, casus), v, sizeof v, 0);
}

int schema_removed_del(struct store *st, const uint8_t device[16], const uint8_t casus[16])
{
	uint8_t k[SCHEMA_KEY_REMOVED];
	int rc = store_del(st, DB_META, k, schema_key_removed(k, device, casus));
	return rc == MDB_NOTFOUND ? 0 : rc;
}

/* ---- format versions and migrations ----------------------------------------------- */

static int put_epoch(MDB_txn *txn, struct store *st, uint8_t epoch[SCHEMA_EPOCH_BYTES])
{
	MDB_val k = {sizeof SCHEMA_META_STORE_EPOCH - 1, (void *)(uintptr_t)SCHEMA_META_STORE_EPOCH};
	MDB_val v = {SCHEMA_EPOCH_BYTES, epoch};
	randombytes_buf(epoch, SCHEMA_EPOCH_BYTES);
	return mdb_put(txn, st->dbi[DB_META], &k, &v, 0);
}

/* 1 -> 2: the store gets its epoch. Format 2 also came with commit format 2
 * (policy number, encrypted reason). Commits are signed by members' devices,
 * so casusd cannot convert a format-1 commit: a store that still holds one is
 * refused (MDB_INCOMPATIBLE) with the count, and nothing is written. */
static int migrate_1_to_2(MDB_txn *txn, struct store *st)
{
	MDB_cursor *c = NULL;
	MDB_val k, v;
	size_t old = 0;
	int rc = mdb_cursor_open(txn, st->dbi[DB_COMMITS], &c);
	if (rc)
		return rc;
	/* format 1 is old; 3 is format 2 with the wrap version of each box */
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(c, &k, &v, MDB_NEXT))
		if (v.mv_size < 1 || ((const uint8_t *)v.mv_data)[0] < CC_COMMIT_VERSION)
			old++;
	mdb_cursor_close(c);
	if (rc != MDB_NOTFOUND)
		return rc;
	if (old) {
		log_event(LOG_ERROR, "store.migration_refused",
		          "from=1 to=2 old_commits=%zu msg=\"this store holds commits in commit format 1, which "
		          "members' devices signed and casusd cannot convert; keep the previous casusd for this store, "
		          "or start a new store (docs/OPERATIONS.md, Upgrading)\"",
		          old);
		return MDB_INCOMPATIBLE;
	}
	uint8_t e[SCHEMA_EPOCH_BYTES];
	return put_epoch(txn, st, e);
}

/* 2 -> 3: version 4 commits (boxes in their own records) may be stored from
 * now on. Commits already stored keep their boxes inside them: they are
 * signed by members' devices, so casusd cannot take the boxes out; retention
 * deletes only boxes in SCHEMA_BOX_PREFIX records. Nothing is written. */
static int migrate_2_to_3(MDB_txn *txn, struct store *st)
{
	(void)txn;
	(void)st;
	return 0;
}

/* One step per format: steps[i] takes a store from version i + OLDEST to the next. */
static const struct {
	uint64_t from;
	const char *what;
	int (*step)(MDB_txn *txn, struct store *st);
} migrations[] = {
	{1, "store epoch", migrate_1_to_2},
	{2, "sealed key boxes apart from commits", migrate_2_to_3},
};
_Static_assert(sizeof migrations / sizeof migrations[0] == SCHEMA_STORE_FORMAT - SCHEMA_STORE_FORMAT_OLDEST,
               "one migration step per format version");

static int migrate(MDB_txn *txn, struct store *st, uint64_t found)
{
	for (uint64_t v = found; v < SCHEMA_STORE_FORMAT; v++) {
		size_t i = (size_t)(v - SCHEMA_STORE_FORMAT_OLDEST);
		int rc = migrations[i].step(txn, st);
		if (rc) {
			log_event(LOG_ERROR, "store.migration_failed", "from=%llu to=%llu step=\"%s\" rc=%d",
			          (unsigned long long)v, (unsigned long long)v + 1, migrations[i].what, rc);
			return rc;
		}
		log_event(LOG_INFO, "store.migrated", "from=%llu to=%llu step=\"%s\"", (unsigned long long)v,
		          (unsigned long long)v + 1, migrations[i].what);
	}
	uint8_t b[SCHEMA_VERSION_VAL];
	schema_version_encode(b, SCHEMA_STORE_FORMAT);
	MDB_val k = {SCHEMA_META_VERSION_LEN, (void *)(uintptr_t)SCHEMA_META_VERSION}, v = {sizeof b, b};
	return mdb_put(txn, st->dbi[DB_META], &k, &v, 0);
}

/* The store epoch into st->epoch; a new one if the data folder carries the
 * restore mark (*renewed = 1, and the mark is removed after the commit). */
static int load_epoch(MDB_txn *txn, struct store *st, const char *dir, int *renewed)
{
	char mark[1024];
	struct stat sb;
	*renewed = 0;
	if ((size_t)snprintf(mark, sizeof mark, "%s/%s", dir, SCHEMA_RESTORED_MARK) < sizeof mark &&
	    stat(mark, &sb) == 0) {
		*renewed = 1;
		return put_epoch(txn, st, st->epoch);
	}
	MDB_val k = {sizeof SCHEMA_META_STORE_EPOCH - 1, (void *)(uintptr_t)SCHEMA_META_STORE_EPOCH}, v;
	int rc = mdb_get(txn, st->dbi[DB_META], &k, &v);
	if (rc)
		return rc;
	if (v.mv_size != SCHEMA_EPOCH_BYTES)
		return MDB_CORRUPTED;
	memcpy(st->epoch, v.mv_data, SCHEMA_EPOCH_BYTES);
	return 0;
}

int schema_open(struct store *st, const char *dir, size_t mapsize, int readonly)
{
	int rc = store_open(st, dir, mapsize, readonly);
	if (rc || readonly)
		return rc;
	MDB_txn *txn = NULL;
	MDB_val k = {SCHEMA_META_VERSION_LEN, (void *)(uintptr_t)SCHEMA_META_VERSION}, v;
	uint64_t found = 0;
	int renewed = 0;
	uint8_t b[SCHEMA_VERSION_VAL];
	if ((rc = mdb_txn_begin(st->env, NULL, 0, &txn)))
		goto out;
	rc = mdb_get(txn, st->dbi[DB_META], &k, &v);
	if (rc == MDB_NOTFOUND) {
		schema_version_encode(b, SCHEMA_STORE_FORMAT);
		v.mv_size = sizeof b;
		v.mv_data = b;
		rc = mdb_put(txn, st->dbi[DB_META], &k, &v, 0);
		if (rc == 0)
			rc = put_epoch(txn, st, st->epoch);
	} else if (rc == 0 && schema_version_decode(v.mv_data, v.mv_size, &found) != 0) {
		log_event(LOG_ERROR, "store.schema",
		          "msg=\"unsupported store format: the version record is malformed, expected %d\"",
		          SCHEMA_STORE_FORMAT);
		rc = MDB_INCOMPATIBLE;
	} else if (rc == 0 && (found > SCHEMA_STORE_FORMAT || found < SCHEMA_STORE_FORMAT_OLDEST)) {
		log_event(LOG_ERROR, "store.schema",
		          "msg=\"unsupported store format: found %llu, expected %d (this casusd migrates from %d "
		          "on); %s see docs/OPERATIONS.md Upgrading\"",
		          (unsigned long long)found, SCHEMA_STORE_FORMAT, SCHEMA_STORE_FORMAT_OLDEST,
		          found > SCHEMA_STORE_FORMAT
		                  ? "the store is newer than this casusd: install the newer package;"
		                  : "");
		rc = MDB_INCOMPATIBLE;
	} else if (rc == 0 && found < SCHEMA_STORE_FORMAT) {
		rc = migrate(txn, st, found);
	}
	if (rc == 0)
		rc = load_epoch(txn, st, dir, &renewed);
	if (rc == 0) {
		rc = mdb_txn_commit(txn);
		txn = NULL;
	}
	if (rc == 0) {
		char hex[2 * SCHEMA_EPOCH_BYTES + 1];
		sodium_bin2hex(hex, sizeof hex, st->epoch, SCHEMA_EPOCH_BYTES);
		if (renewed) {
			char mark[1024];
			st->restored = 1;
			snprintf(mark, sizeof mark, "%s/%s", dir, SCHEMA_RESTORED_MARK);
			if (unlink(mark) != 0)
				log_event(LOG_WARN, "store.restore_mark_kept", "errno=%d", errno);
			log_event(LOG_WARN, "store.epoch_renewed", "reason=restore store_epoch=%s", hex);
		} else {
			log_event(LOG_INFO, "store.epoch", "store_epoch=%s", hex);
		}
	}
out:
	if (txn)
		mdb_txn_abort(txn);
	if (rc) {
		log_event(LOG_ERROR, "store.open", "rc=%d err=\"%s\"", rc, mdb_strerror(rc));
		store_close(st);
	}
	return rc;
}

int schema_audit_rec_decode(const void *p, size_t n, const uint8_t **hash, const uint8_t **entry, size_t *entry_len)
{
	if (n <= SCHEMA_AUDIT_HASH)
		return -1;
	*hash = p;
	*entry = (const uint8_t *)p + SCHEMA_AUDIT_HASH;
	*entry_len = n - SCHEMA_AUDIT_HASH;
	return 0;
}

uint64_t schema_key_tail64(const void *key, size_t len)
{
	return len >= 8 ? store_rd64((const uint8_t *)key + len - 8) : 0;
}

int schema_casus_rec_encode(const struct casus_record *r, uint8_t **out, size_t *len)
{
	cc_wbuf w;
	cc_w_init(&w);
	cc_w_u8(&w, SCHEMA_CASUS_REC_VERSION);
	cc_w_i64(&w, r->created);
	cc_w_str(&w, r->purpose);
	cc_w_str(&w, r->basis);
	cc_w_u32(&w, r->retention_days);
	cc_w_fixed(&w, r->creator, 16);
	cc_w_i64(&w, r->closed_at);
	cc_w_i64(&w, r->purged_at);
	int rc = -1;
	*out = NULL;
	*len = 0;
	if (!w.err && (*out = malloc(w.len ? w.len : 1)) != NULL) {
		memcpy(*out, w.p, w.len);
		*len = w.len;
		rc = 0;
	}
	cc_w_free(&w);
	return rc;
}

int schema_casus_rec_decode(const void *p, size_t n, struct casus_record *rec)
{
	memset(rec, 0, sizeof *rec);
	cc_rbuf r;
	cc_r_init(&r, p, n);
	uint8_t ver = cc_r_u8(&r);
	rec->created = cc_r_i64(&r);
	cc_r_str(&r, rec->purpose, sizeof rec->purpose);
	cc_r_str(&r, rec->basis, sizeof rec->basis);
	rec->retention_days = cc_r_u32(&r);
	cc_r_fixed(&r, rec->creator, 16);
	if (ver >= 2) {
		rec->closed_at = cc_r_i64(&r);
		rec->purged_at = cc_r_i64(&r);
	}
	return r.err || (ver != 1 && ver != 2) ? -1 : 0;
}

void schema_msg_rec_header(uint8_t out[SCHEMA_MSG_HDR], uint8_t audience, uint64_t epoch)
{
	out[0] = audience;
	store_be64(out + 1, epoch);
}

int schema_msg_rec_decode(const void *p, size_t n, uint8_t *audience, uint64_t *epoch, const uint8_t **msg,
                          size_t *msg_len)
{
	const uint8_t *b = p;
	if (!p || n < SCHEMA_MSG_HDR)
		return -1;
	*audience = b[0];
	*epoch = store_rd64(b + 1);
	*msg = b + SCHEMA_MSG_HDR;
	*msg_len = n - SCHEMA_MSG_HDR;
	return 0;
}

void schema_member_encode(uint8_t out[SCHEMA_MEMBER_VAL], uint64_t join_epoch, uint64_t read_seq)
{
	store_be64(out, join_epoch);
	store_be64(out + 8, read_seq);
}

int schema_member_decode(const void *p, size_t n, uint64_t *join_epoch, uint64_t *read_seq)
{
	if (!p || n != SCHEMA_MEMBER_VAL)
		return -1;
	*join_epoch = store_rd64(p);
	*read_seq = store_rd64((const uint8_t *)p + 8);
	return 0;
}

int schema_meta_get_u64(struct store *st, const char *name, uint64_t *v)
{
	MDB_val mv;
	int rc = store_get(st, DB_META, name, strlen(name), &mv);
	if (rc)
		return rc;
	if (mv.mv_size != 8)
		return -1;
	*v = store_rd64(mv.mv_data);
	return 0;
}

int schema_meta_put_u64(struct store *st, const char *name, uint64_t v)
{
	uint8_t b[8];
	store_be64(b, v);
	return store_put(st, DB_META, name, strlen(name), b, 8, 0);
}

int schema_meta_next(struct store *st, const char *name, uint64_t *v)
{
	uint64_t cur = 0;
	int rc = schema_meta_get_u64(st, name, &cur);
	if (rc && rc != MDB_NOTFOUND)
		cur = 0; /* a malformed counter restarts; keys stay unique by their other parts */
	*v = cur + 1;
	return schema_meta_put_u64(st, name, *v);
}

int schema_casus_rec_get(struct store *st, const uint8_t casus[16], struct casus_record *r)
{
	uint8_t k[SCHEMA_KEY_CASUS];
	MDB_val v;
	memset(r, 0, sizeof *r);
	if (store_get(st, DB_CASUS, k, schema_key_casus(k, casus, SCHEMA_CASUS_RECORD), &v) != 0)
		return -1;
	return schema_casus_rec_decode(v.mv_data, v.mv_size, r);
}

int schema_casus_rec_put(struct store *st, const uint8_t casus[16], const struct casus_record *r)
{
	uint8_t k[SCHEMA_KEY_CASUS], *b = NULL;
	size_t n = 0;
	if (schema_casus_rec_encode(r, &b, &n) != 0)
		return -1;
	int rc = store_put(st, DB_CASUS, k, schema_key_casus(k, casus, SCHEMA_CASUS_RECORD), b, n, 0);
	free(b);
	return rc;
}

int schema_msg_by_id(struct store *st, const uint8_t casus[16], const uint8_t msg_id[16], uint64_t *seq,
                     uint8_t *audience, uint64_t *epoch, const uint8_t **msg, size_t *msg_len)
{
	uint8_t k[SCHEMA_KEY_PAIR], sk[SCHEMA_KEY_SEQ];
	MDB_val v, mv;
	if (store_get(st, DB_MSGIDS, k, schema_key_pair(k, casus, msg_id), &v) != 0 ||
	    schema_msgid_decode(v.mv_data, v.mv_size, seq) != 0)
		return -1;
	if (store_get(st, DB_MESSAGES, sk, schema_key_seq(sk, casus, *seq), &mv) != 0)
		return -1;
	return schema_msg_rec_decode(mv.mv_data, mv.mv_size, audience, epoch, msg, msg_len);
}
