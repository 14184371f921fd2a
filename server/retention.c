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
#include <string.h>

#define PURGE_EVERY_TICKS 10

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
	/* the content-free agenda dates and disclosed actions (h_regie.c) go too */
	uint8_t rp[SCHEMA_KEY_REGIE];
	long agenda = del_where(srv, DB_META, rp, schema_key_regie(rp, SCHEMA_AGENDA_PREFIX, cid, NULL), NULL, 0, 0);
	long actions = del_where(srv, DB_META, rp, schema_key_regie(rp, SCHEMA_ACTION_PREFIX, cid, NULL), NULL, 0, 0);
	uint8_t k[SCHEMA_KEY_CASUS];
	int rc = store_del(&srv->st, DB_CASUS, k, schema_key_casus(k, cid, SCHEMA_CASUS_CHAIN));
	if (msgs < 0 || ids < 0 || commits < 0 || grants < 0 || members < 0 || xfers < 0 || removed < 0 || agenda < 0 ||
	    actions < 0 || (rc && rc != MDB_NOTFOUND))
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

void casus_purge_due(struct server *srv)
{
	if (++srv->purge_ticks % PURGE_EVERY_TICKS != 1 || !srv->st.env)
		return;
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
