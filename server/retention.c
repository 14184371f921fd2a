/*
 * retention.c: purging a closed casus's content after its retention.
 *
 * Closing (casus.close, h_casus.c) stops every write to a casus: posts,
 * commits, grants and key transfers are refused; members can still read.
 * When `retention_days` (chosen at creation, default 3650) have passed since
 * closing, casusd deletes the content: messages, message ids, commits, the
 * chain state, grants, key transfers and the membership index. The record
 * stays as a tombstone (purpose, legal basis, times) so the id is never
 * reused, and the purge is an audit entry. The audit trail itself is kept on
 * its own, longer retention. LMDB reuses freed pages; the deleted ciphertext
 * is not readable through the server any more, and it was never readable
 * without the members' keys.
 *
 * Box retention (issue 17): the sealed epoch-key boxes of version 4 commits
 * live in their own records (schema.h SCHEMA_BOX_PREFIX). A box is deleted
 * when no current device needs it:
 *   (a) its device has a newer wrap key than the one the box is sealed to
 *       (version 0, the certified key, counts as the oldest) and
 *       box_wrap_grace_s has passed since casusd first saw that newer key
 *       (the client wipes an older wrap secret after the same grace, so such
 *       a box could not be opened any more anyway; a version 0 box is deleted
 *       by choice, against a thief of the certified key: docs/STORAGE.md);
 *   (b) its device is no longer in the casus's roster, or its certificate
 *       has expired or is on the revocation list.
 * A failure to read never deletes: without the policy nothing is swept, and a
 * casus whose chain state does not load keeps its boxes.
 * The sweep runs with the purge, looks at most BOX_SWEEP_MAX records per run
 * and resumes where it stopped; deletions are counted
 * (casusd_boxes_deleted_total) and each casus's deletions of a run are one
 * `purge` audit entry. The signed commits stay: the chain still verifies.
 */
#include "retention.h"
#include "audit.h"
#include "clock.h"
#include "log.h"
#include "rt.h"
#include "schema.h"
#include "server.h"

#include <cc_audit.h>
#include <cc_commit.h>
#include <cc_err.h>
#include <cc_wrapkey.h>
#include <string.h>

#define PURGE_EVERY_TICKS 10
#define BOX_SWEEP_MAX 4096

/* Delete every key of db that starts with prefix (plen bytes) and, if
 * mid != NULL, also has mid at offset moff. Returns the count or -1. After each
 * delete the cursor seeks again from the deleted key (the next key, if any). */
static long del_where(struct server *srv, enum store_db db, const uint8_t *prefix, size_t plen, const uint8_t *mid,
                      size_t moff, size_t mlen)
{
	MDB_cursor *cur = NULL;
	long n = 0;
	uint8_t last[512];
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[db], &cur) != 0)
		return -1;
	MDB_val k = {plen, (void *)(uintptr_t)prefix}, v;
	int rc = plen ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && k.mv_size >= plen && (!plen || memcmp(k.mv_data, prefix, plen) == 0)) {
		if ((!mid || (k.mv_size >= moff + mlen && memcmp((const uint8_t *)k.mv_data + moff, mid, mlen) == 0)) &&
		    k.mv_size <= sizeof last) {
			size_t kl = k.mv_size;
			memcpy(last, k.mv_data, kl);
			if (mdb_cursor_del(cur, 0) != 0) {
				n = -1;
				break;
			}
			store_note_del(&srv->st, db, last, kl); /* cluster mode: into the log */
			n++;
			k.mv_size = kl;
			k.mv_data = last;
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			continue;
		}
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return n;
}

/* One `purge` audit entry for the boxes of a casus a sweep deleted. */
static void box_audit(struct server *srv, const uint8_t cid[16], long n)
{
	struct casus_record rec;
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_PURGE;
	memcpy(e.casus_id, cid, 16);
	if (schema_casus_rec_get(&srv->st, cid, &rec) == 0) {
		cc_audit_str_copy(e.purpose, sizeof e.purpose, rec.purpose);
		cc_audit_str_copy(e.legal_basis, sizeof e.legal_basis, rec.basis);
	}
	snprintf(e.object, sizeof e.object, "sealed key boxes deleted: %ld", n);
	snprintf(e.reason, sizeof e.reason,
	         "box retention: no current device needs them (newer wrap key past %u s of grace, "
	         "device removed, or certificate expired or revoked)",
	         srv->cfg.box_wrap_grace_s);
	snprintf(e.access_point, sizeof e.access_point, "casusd retention");
	audit_log(srv, NULL, &e);
}

static int purge_one(struct server *srv, const uint8_t cid[16], struct casus_record *rec)
{
	long msgs = del_where(srv, DB_MESSAGES, cid, 16, NULL, 0, 0);
	long ids = del_where(srv, DB_MSGIDS, cid, 16, NULL, 0, 0);
	long commits = del_where(srv, DB_COMMITS, cid, 16, NULL, 0, 0);
	long grants = del_where(srv, DB_GRANTS, NULL, 0, cid, 16, 16);
	long members = del_where(srv, DB_MEMBERS, NULL, 0, cid, 16, 16);
	long xfers = del_where(srv, DB_META, (const uint8_t *)SCHEMA_XFER_PREFIX, SCHEMA_XFER_PREFIX_LEN, cid,
	                       SCHEMA_XFER_PREFIX_LEN + 16, 16);
	long removed = del_where(srv, DB_META, (const uint8_t *)SCHEMA_REMOVED_PREFIX, SCHEMA_REMOVED_PREFIX_LEN, cid,
	                         SCHEMA_REMOVED_PREFIX_LEN + 16, 16);
	uint8_t bp[SCHEMA_BOX_PREFIX_LEN + 16];
	memcpy(bp, SCHEMA_BOX_PREFIX, SCHEMA_BOX_PREFIX_LEN);
	memcpy(bp + SCHEMA_BOX_PREFIX_LEN, cid, 16);
	long boxes = del_where(srv, DB_META, bp, sizeof bp, NULL, 0, 0);
	/* the content-free agenda dates and disclosed actions (h_regie.c) go too */
	uint8_t rp[SCHEMA_KEY_REGIE];
	long agenda = del_where(srv, DB_META, rp, schema_key_regie(rp, SCHEMA_AGENDA_PREFIX, cid, NULL), NULL, 0, 0);
	long actions = del_where(srv, DB_META, rp, schema_key_regie(rp, SCHEMA_ACTION_PREFIX, cid, NULL), NULL, 0, 0);
	uint8_t k[SCHEMA_KEY_CASUS];
	int rc = store_del(&srv->st, DB_CASUS, k, schema_key_casus(k, cid, SCHEMA_CASUS_CHAIN));
	if (msgs < 0 || ids < 0 || commits < 0 || grants < 0 || members < 0 || xfers < 0 || removed < 0 || agenda < 0 ||
	    actions < 0 || boxes < 0 || (rc && rc != MDB_NOTFOUND))
		return -1;
	rec->purged_at = clock_wall_s();
	if (schema_casus_rec_put(&srv->st, cid, rec) != 0)
		return -1;
	/* connected members are told and the runtime entry forgets the chain */
	rt_forget_chain(srv, cid);
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_PURGE;
	memcpy(e.casus_id, cid, 16);
	cc_audit_str_copy(e.purpose, sizeof e.purpose, rec->purpose);
	cc_audit_str_copy(e.legal_basis, sizeof e.legal_basis, rec->basis);
	snprintf(e.object, sizeof e.object, "content purged: messages %ld, commits %ld, grants %ld, transfers %ld",
	         msgs, commits, grants, xfers);
	snprintf(e.reason, sizeof e.reason, "retention of %u days after closing passed", rec->retention_days);
	snprintf(e.access_point, sizeof e.access_point, "casusd retention");
	audit_log(srv, NULL, &e);
	log_event(LOG_INFO, "casus.purged", "messages=%ld commits=%ld", msgs, commits);
	return 0;
}

/* ---- box retention ------------------------------------------------------------ */

static uint32_t store_rd32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static void store_be32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* The newest wrap version of a device and whether box_wrap_grace_s has passed
 * since this sweep first saw it (recorded in a SCHEMA_BOXWRAP_PREFIX record).
 * *newest 0: no wrap key published. 0 or -1 (storage). */
static int wrap_state(struct server *srv, const uint8_t dev[16], int64_t now, uint32_t *newest, int *past_grace)
{
	uint8_t k[SCHEMA_KEY_WRAP], bk[SCHEMA_KEY_BOXWRAP], v[12];
	MDB_val mv;
	cc_wrapkey wk;
	*newest = 0;
	*past_grace = 0;
	if (store_get(&srv->st, DB_META, k, schema_key_wrap(k, dev), &mv) != 0 ||
	    cc_wrapkey_decode(mv.mv_data, mv.mv_size, &wk) != CC_OK)
		return 0; /* none (or damaged: then nothing is deleted for it) */
	*newest = wk.version;
	if (store_get(&srv->st, DB_META, bk, schema_key_boxwrap(bk, dev), &mv) == 0 && mv.mv_size == sizeof v &&
	    store_rd32(mv.mv_data) == wk.version) {
		int64_t seen = (int64_t)store_rd64((const uint8_t *)mv.mv_data + 4);
		*past_grace = now >= seen && now - seen >= (int64_t)srv->cfg.box_wrap_grace_s;
		return 0;
	}
	/* first sight of this version: the grace starts now */
	store_be32(v, wk.version);
	store_be64(v + 4, (uint64_t)now);
	return store_put(&srv->st, DB_META, bk, schema_key_boxwrap(bk, dev), v, sizeof v, 0) ? -1 : 0;
}

static int cert_gone(struct server *srv, const cc_cert *c, int64_t now)
{
	if (now >= c->not_after)
		return 1;
	for (uint32_t i = 0; srv->have_revs && i < srv->revs.count; i++)
		if (srv->revs.entries[i].serial == c->serial &&
		    memcmp(srv->revs.entries[i].device_id, c->device_id, 16) == 0 &&
		    srv->revs.entries[i].revoked_at <= now)
			return 1;
	return 0;
}

/* Why a box record is no longer needed, or NULL to keep it. A casus whose
 * chain state cannot be loaded (a damaged record, no memory) keeps its boxes
 * and counts in *unreadable: only a casus whose chain record is gone is gone
 * (a deletion must never follow from a failure to read). */
static const char *box_unneeded(struct server *srv, const uint8_t *key, const MDB_val *val, int64_t now, int *err,
                                long *unreadable)
{
	const uint8_t *cid = key + SCHEMA_BOX_PREFIX_LEN, *dev = key + SCHEMA_BOX_PREFIX_LEN + 24;
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || !rt->st) {
		uint8_t ck[SCHEMA_KEY_CASUS];
		MDB_val cv;
		if (store_get(&srv->st, DB_CASUS, ck, schema_key_casus(ck, cid, SCHEMA_CASUS_CHAIN), &cv) ==
		    MDB_NOTFOUND)
			return "casus gone";
		(*unreadable)++;
		return NULL;
	}
	int i = cc_chain_find(rt->st, dev);
	if (i < 0)
		return "device no longer a member";
	if (cert_gone(srv, &rt->st->roster[i].cert, now))
		return "certificate expired or revoked";
	if (val->mv_size < 4)
		return NULL;
	uint32_t wrap = store_rd32(val->mv_data), newest;
	int past;
	if (wrap_state(srv, dev, now, &newest, &past) != 0) {
		*err = 1;
		return NULL;
	}
	return newest > wrap && past ? "sealed to a retired wrap key past its grace" : NULL;
}

/* One sweep over at most BOX_SWEEP_MAX box records from where the last one
 * stopped; inside the current request. Returns the number deleted or -1. */
static long box_sweep(struct server *srv, int64_t now)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	uint8_t last[SCHEMA_KEY_BOX], cid[16];
	long n = 0, in_casus = 0, unreadable = 0;
	int have_cid = 0, err = 0;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_META], &cur) != 0)
		return -1;
	if (srv->box_sweep_len) {
		k.mv_size = srv->box_sweep_len;
		k.mv_data = srv->box_sweep_at;
	} else {
		k.mv_size = SCHEMA_BOX_PREFIX_LEN;
		k.mv_data = (void *)(uintptr_t)SCHEMA_BOX_PREFIX;
	}
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	size_t seen = 0;
	for (; rc == 0 && seen < BOX_SWEEP_MAX && !err; seen++) {
		if (k.mv_size < SCHEMA_BOX_PREFIX_LEN ||
		    memcmp(k.mv_data, SCHEMA_BOX_PREFIX, SCHEMA_BOX_PREFIX_LEN) != 0) {
			rc = MDB_NOTFOUND; /* past the box range */
			break;
		}
		if (k.mv_size != SCHEMA_KEY_BOX) {
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
			continue;
		}
		memcpy(last, k.mv_data, SCHEMA_KEY_BOX);
		const uint8_t *kc = last + SCHEMA_BOX_PREFIX_LEN;
		if (have_cid && memcmp(cid, kc, 16) != 0 && in_casus) {
			box_audit(srv, cid, in_casus);
			in_casus = 0;
		}
		memcpy(cid, kc, 16);
		have_cid = 1;
		const char *why = box_unneeded(srv, last, &v, now, &err, &unreadable);
		if (why) {
			if (mdb_cursor_del(cur, 0) != 0) {
				err = 1;
				break;
			}
			store_note_del(&srv->st, DB_META, last, SCHEMA_KEY_BOX);
			n++;
			in_casus++;
			k.mv_size = SCHEMA_KEY_BOX;
			k.mv_data = last;
			rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			continue;
		}
		/* the check may have written (the wrap key's first sight): find our place again */
		k.mv_size = SCHEMA_KEY_BOX;
		k.mv_data = last;
		rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		if (rc == 0)
			rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	if (rc == 0 && !err && k.mv_size <= sizeof srv->box_sweep_at) {
		memcpy(srv->box_sweep_at, k.mv_data, k.mv_size); /* resume here next time */
		srv->box_sweep_len = k.mv_size;
	} else {
		srv->box_sweep_len = 0; /* the end: start over next time */
	}
	mdb_cursor_close(cur);
	if (have_cid && in_casus)
		box_audit(srv, cid, in_casus);
	if (unreadable)
		log_event(LOG_WARN, "boxes.casus_unreadable", "boxes_kept=%ld", unreadable);
	return err ? -1 : n;
}

void box_retention(struct server *srv, int64_t now)
{
	/* without the policy no chain state loads (rt_get): nothing can be judged,
	 * so nothing is deleted */
	if (!srv->have_policy || !srv->st.env || !store_txn(&srv->st) || store_req_begin(&srv->st) != 0)
		return;
	long n = box_sweep(srv, now);
	store_req_end(&srv->st, n >= 0);
	audit_request_done(srv, n >= 0);
	if (n < 0) {
		srv->box_sweep_len = 0;
		log_event(LOG_ERROR, "boxes.retention_failed", NULL);
	} else if (n > 0) {
		srv->m.boxes_deleted += (uint64_t)n;
		log_event(LOG_INFO, "boxes.deleted", "boxes=%ld", n);
	}
}

void casus_purge_due(struct server *srv)
{
	if (++srv->purge_ticks % PURGE_EVERY_TICKS != 1 || !srv->st.env)
		return;
	box_retention(srv, clock_wall_s());
	int64_t now = clock_wall_s();
	uint8_t due[8][16];
	size_t ndue = 0;
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	if (!store_txn(&srv->st) || mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_CASUS], &cur) != 0)
		return;
	/* at most a few per tick, so that a purge never stalls the loop */
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0 && ndue < 8;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct casus_record rec;
		if (k.mv_size != SCHEMA_KEY_CASUS || ((const uint8_t *)k.mv_data)[16] != SCHEMA_CASUS_RECORD ||
		    schema_casus_rec_decode(v.mv_data, v.mv_size, &rec) != 0 || !rec.closed_at || rec.purged_at ||
		    now < rec.closed_at + (int64_t)rec.retention_days * 86400)
			continue;
		memcpy(due[ndue++], k.mv_data, 16);
	}
	mdb_cursor_close(cur);
	for (size_t i = 0; i < ndue; i++) {
		struct casus_record rec;
		if (schema_casus_rec_get(&srv->st, due[i], &rec) != 0)
			continue;
		if (store_req_begin(&srv->st) != 0)
			return;
		int ok = purge_one(srv, due[i], &rec) == 0;
		store_req_end(&srv->st, ok);
		audit_request_done(srv, ok);
		if (!ok)
			log_event(LOG_ERROR, "casus.purge_failed", NULL);
	}
}
