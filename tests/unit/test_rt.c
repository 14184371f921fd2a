/*
 * test_rt.c: casusd's casus runtime (server/rt.h) and retention purge
 * (server/retention.h) on a temporary LMDB store, without a network.
 *
 * Runtime: a casus stored by casus.create's helpers is found by rt_get only
 * after loading it from the store, with the verified roster, the audiences
 * each device may read (as cc_chain_entitled says), the next message number
 * after the stored ones, purpose, legal basis and closing time; an unknown id
 * and a server without a policy get nothing; a forgotten chain is gone.
 * Retention: a closed casus whose retention has passed loses its messages,
 * message ids, commits, chain state, memberships, grants and transfers, keeps
 * its record as a tombstone, and leaves exactly one purge audit entry; a
 * closed casus still within its retention and an open one keep everything.
 * Box retention: a version 4 commit is stored as its signed part with each box
 * in its own record; a device is served only its own boxes; a device's boxes
 * sealed to an older wrap key go once the grace has passed since the sweep
 * first saw its newer key (not before); a removed device's boxes go; the
 * others stay, the metric counts, a purge entry records it, and the stored
 * chain still verifies for a member.
 */
#include "check.h"
#include "test_e2e_fixture.h"

#include <audit.h>
#include <cc_audit.h>
#include <dispatch.h>
#include <errno.h>
#include <handlers.h>
#include <retention.h>
#include <rt.h>
#include <schema.h>
#include <server.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	CM,
	ED,
	GGD,
	POL,
	NDEV
};
static const char *const ROLE[NDEV] = {"casemanager", "ervaringsdeskundige", "ggd", "politie"};
static const char *const USER[NDEV] = {"cm.jansen", "ed.bakker", "ggd.visser", "pol.bos"};

static cc_root_key *root;
static e2e_dev dev[NDEV];
static struct server srv;

/* A casus at level 1 with cm, ed and ggd; its verified chain state. */
static cc_chain_state *make_chain(uint8_t cid[16])
{
	cc_chain_state *st = NULL;
	cc_wbuf w;
	cc_cert others[2] = {dev[ED].cert, dev[GGD].cert};
	cc_commit_new_casus_id(cid);
	cc_w_init(&w);
	CHECK_EQ_INT(cc_chain_state_new(&st), CC_OK);
	CHECK_EQ_INT(cc_commit_create(cid, 1, others, 2, dev[CM].keys, &dev[CM].cert, &srv.policy, root->pk, E2E_NOW,
	                              "", &w),
	             CC_OK);
	CHECK_EQ_INT(cc_chain_apply(st, w.p, w.len, &srv.policy, root->pk, E2E_NOW, NULL, NULL), CC_OK);
	uint8_t k[SCHEMA_KEY_SEQ];
	CHECK_EQ_INT(store_put(&srv.st, DB_COMMITS, k, schema_key_seq(k, cid, 0), w.p, w.len, 0), 0);
	cc_w_free(&w);
	return st;
}

/* A stored casus: record, chain, memberships, n messages, a grant, a transfer. */
static void store_casus(const uint8_t cid[16], const cc_chain_state *st, int64_t closed_at, uint32_t retention_days,
                        int nmsgs)
{
	struct casus_record r;
	memset(&r, 0, sizeof r);
	r.created = E2E_NOW;
	snprintf(r.purpose, sizeof r.purpose, "Zorgcoordinatie %02x", cid[0]);
	snprintf(r.basis, sizeof r.basis, "Wmo 2015");
	r.retention_days = retention_days;
	memcpy(r.creator, dev[CM].cert.device_id, 16);
	r.closed_at = closed_at;
	CHECK_EQ_INT(schema_casus_rec_put(&srv.st, cid, &r), 0);
	CHECK_EQ_INT(save_state(&srv, cid, st), 0);
	CHECK_EQ_INT(members_update(&srv, cid, NULL, st), 0);
	for (int i = 1; i <= nmsgs; i++) {
		uint8_t mid[16], k[SCHEMA_KEY_PAIR], sk[SCHEMA_KEY_SEQ], seqb[8], rec[SCHEMA_MSG_HDR + 4];
		memset(mid, i, 16);
		mid[15] = cid[0];
		store_be64(seqb, (uint64_t)i);
		schema_msg_rec_header(rec, AUD_ZORG, 0);
		memcpy(rec + SCHEMA_MSG_HDR, "ciph", 4);
		CHECK_EQ_INT(store_put(&srv.st, DB_MSGIDS, k, schema_key_pair(k, cid, mid), seqb, 8, 0), 0);
		CHECK_EQ_INT(store_put(&srv.st, DB_MESSAGES, sk, schema_key_seq(sk, cid, (uint64_t)i), rec, sizeof rec,
		                       0),
		             0);
	}
	uint8_t gk[SCHEMA_KEY_GRANT], xk[SCHEMA_KEY_XFER];
	CHECK_EQ_INT(store_put(&srv.st, DB_GRANTS, gk, schema_key_grant(gk, dev[ED].cert.device_id, cid, 1), "g", 1, 0),
	             0);
	CHECK_EQ_INT(store_put(&srv.st, DB_META, xk,
	                       schema_key_xfer(xk, dev[ED].cert.device_id, cid, dev[CM].cert.device_id), "x", 1, 0),
	             0);
}

/* Keys of db whose bytes at off are the casus id. */
static size_t count_with(enum store_db db, const uint8_t cid[16], size_t off)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t n = 0;
	if (mdb_cursor_open(store_cur(&srv.st), srv.st.dbi[db], &cur) != 0)
		return (size_t)-1;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT))
		if (k.mv_size >= off + 16 && memcmp((const uint8_t *)k.mv_data + off, cid, 16) == 0)
			n++;
	mdb_cursor_close(cur);
	return n;
}

static size_t purge_entries(const uint8_t cid[16])
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t n = 0;
	if (mdb_cursor_open(store_cur(&srv.st), srv.st.dbi[DB_AUDIT], &cur) != 0)
		return (size_t)-1;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		cc_audit_entry e;
		if (v.mv_size > CC_HASH_BYTES &&
		    cc_audit_entry_decode((const uint8_t *)v.mv_data + CC_HASH_BYTES, v.mv_size - CC_HASH_BYTES, &e) ==
		            CC_OK &&
		    e.event == CC_AUDIT_EV_PURGE && memcmp(e.casus_id, cid, 16) == 0)
			n++;
	}
	mdb_cursor_close(cur);
	return n;
}

static void commit_turn(void)
{
	CHECK_EQ_INT(store_commit(&srv.st), 0);
	audit_turn_committed(&srv);
}

static void test_runtime(void)
{
	uint8_t cid[16], unknown[16];
	cc_chain_state *st = make_chain(cid);
	store_casus(cid, st, 0, 3650, 3);
	commit_turn();

	CHECK(rt_find(&srv, cid) == NULL); /* not loaded before someone asks */
	struct casus_rt *rt = rt_get(&srv, cid);
	CHECK(rt != NULL);
	if (rt) {
		CHECK_EQ_INT(rt->level, 1);
		CHECK_EQ_INT(rt->epoch, 0);
		CHECK_EQ_INT(rt->ndevs, 3);
		CHECK_EQ_INT(rt->next_msg_seq, 4);
		CHECK(strncmp(rt->purpose, "Zorgcoordinatie", 15) == 0 && strcmp(rt->basis, "Wmo 2015") == 0);
		CHECK_EQ_INT(rt->closed_at, 0);
		CHECK(rt_is_member(rt, dev[CM].cert.device_id));
		CHECK(!rt_is_member(rt, dev[POL].cert.device_id));
		CHECK_EQ_INT(rt_mask(rt, dev[POL].cert.device_id), 0);
		int masks_ok = 1;
		for (size_t i = 0; i < st->nroster; i++) {
			uint32_t want = 0;
			for (int a = 0; a < srv.policy.naudiences; a++)
				if (cc_chain_entitled(st, &srv.policy, i, a))
					want |= 1u << a;
			masks_ok &= rt_mask(rt, st->roster[i].cert.device_id) == want;
		}
		CHECK(masks_ok);
		CHECK(rt_mask(rt, dev[CM].cert.device_id) & (1u << AUD_ZORG));
		CHECK(rt_get(&srv, cid) == rt); /* one entry per casus */
	}
	memset(unknown, 0xee, 16);
	CHECK(rt_get(&srv, unknown) == NULL);

	/* forgetting the chain (a purge) leaves no runtime state; without a policy nothing loads */
	rt_forget_chain(&srv, cid);
	CHECK(rt_find(&srv, cid) != NULL && rt_find(&srv, cid)->st == NULL);
	srv.have_policy = 0;
	CHECK(rt_get(&srv, cid) == NULL);
	srv.have_policy = 1;
	CHECK(rt_get(&srv, cid) != NULL); /* the store still has it */
	store_abort(&srv.st);
	cc_chain_state_free(st);
}

static void test_retention(void)
{
	uint8_t due[16], kept[16], open[16];
	int64_t now = clock_wall_s();
	cc_chain_state *a = make_chain(due), *b = make_chain(kept), *c = make_chain(open);
	store_casus(due, a, now - 10 * 86400, 1, 3);
	store_casus(kept, b, now - 10 * 86400, 3650, 2);
	store_casus(open, c, 0, 0, 2);
	commit_turn();
	CHECK(rt_get(&srv, due) != NULL);
	store_abort(&srv.st);

	srv.purge_ticks = 0; /* the next tick checks */
	casus_purge_due(&srv);
	commit_turn();

	CHECK_EQ_INT(count_with(DB_MESSAGES, due, 0), 0);
	CHECK_EQ_INT(count_with(DB_MSGIDS, due, 0), 0);
	CHECK_EQ_INT(count_with(DB_COMMITS, due, 0), 0);
	CHECK_EQ_INT(count_with(DB_MEMBERS, due, 16), 0);
	CHECK_EQ_INT(count_with(DB_GRANTS, due, 16), 0);
	CHECK_EQ_INT(count_with(DB_META, due, SCHEMA_XFER_PREFIX_LEN + 16), 0);
	uint8_t ck[SCHEMA_KEY_CASUS];
	MDB_val v;
	CHECK_EQ_INT(store_get(&srv.st, DB_CASUS, ck, schema_key_casus(ck, due, SCHEMA_CASUS_CHAIN), &v), MDB_NOTFOUND);
	struct casus_record r;
	CHECK_EQ_INT(schema_casus_rec_get(&srv.st, due, &r), 0);
	CHECK(r.purged_at >= now && r.closed_at == now - 10 * 86400);
	CHECK(strncmp(r.purpose, "Zorgcoordinatie", 15) == 0); /* the tombstone */
	CHECK(rt_find(&srv, due) != NULL && rt_find(&srv, due)->st == NULL);
	CHECK(rt_get(&srv, due) == NULL);
	CHECK_EQ_INT(purge_entries(due), 1);

	/* within retention, and open: untouched */
	CHECK_EQ_INT(count_with(DB_MESSAGES, kept, 0), 2);
	CHECK_EQ_INT(count_with(DB_MEMBERS, kept, 16), 3);
	CHECK_EQ_INT(count_with(DB_META, kept, SCHEMA_XFER_PREFIX_LEN + 16), 1);
	CHECK_EQ_INT(count_with(DB_MESSAGES, open, 0), 2);
	CHECK_EQ_INT(purge_entries(kept), 0);
	CHECK_EQ_INT(purge_entries(open), 0);

	/* a second check purges nothing twice */
	store_abort(&srv.st);
	srv.purge_ticks = 0;
	casus_purge_due(&srv);
	commit_turn();
	CHECK_EQ_INT(purge_entries(due), 1);
	store_abort(&srv.st);
	cc_chain_state_free(a);
	cc_chain_state_free(b);
	cc_chain_state_free(c);
}

/* Box records of a casus (optionally of one device). */
static size_t count_boxes(const uint8_t cid[16], const uint8_t *device)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t n = 0;
	if (mdb_cursor_open(store_cur(&srv.st), srv.st.dbi[DB_META], &cur) != 0)
		return (size_t)-1;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		const uint8_t *kb = k.mv_data;
		if (k.mv_size == SCHEMA_KEY_BOX && memcmp(kb, SCHEMA_BOX_PREFIX, SCHEMA_BOX_PREFIX_LEN) == 0 &&
		    memcmp(kb + SCHEMA_BOX_PREFIX_LEN, cid, 16) == 0 &&
		    (!device || memcmp(kb + SCHEMA_BOX_PREFIX_LEN + 24, device, 16) == 0))
			n++;
	}
	mdb_cursor_close(cur);
	return n;
}

/* The stored commit at epoch as served to device d, applied to cs. */
static int serve_apply(const uint8_t cid[16], uint64_t epoch, int d, cc_casus *cs)
{
	uint8_t k[SCHEMA_KEY_SEQ];
	MDB_val v;
	cc_wbuf w;
	int rc = store_get(&srv.st, DB_COMMITS, k, schema_key_seq(k, cid, epoch), &v);
	if (rc)
		return rc;
	cc_w_init(&w);
	CHECK_EQ_INT(schema_commit_for(&srv.st, cid, epoch, v.mv_data, v.mv_size, dev[d].cert.device_id, &w), 0);
	rc = cc_casus_apply_commit(cs, w.p, w.len, &srv.policy, root->pk, E2E_NOW + 100, NULL);
	cc_w_free(&w);
	return rc;
}

static void test_box_retention(void)
{
	uint8_t cid[16];
	cc_chain_state *st = NULL;
	cc_wbuf w0, w1;
	cc_cert others[2] = {dev[ED].cert, dev[GGD].cert};
	int64_t now = clock_wall_s();
	cc_commit_new_casus_id(cid);
	CHECK_EQ_INT(cc_chain_state_new(&st), CC_OK);
	cc_w_init(&w0);
	CHECK_EQ_INT(cc_commit_create(cid, 1, others, 2, dev[CM].keys, &dev[CM].cert, &srv.policy, root->pk, E2E_NOW,
	                              "geopend", &w0),
	             CC_OK);
	CHECK_EQ_INT(cc_chain_apply(st, w0.p, w0.len, &srv.policy, root->pk, E2E_NOW, NULL, NULL), CC_OK);
	CHECK_EQ_INT(schema_commit_put(&srv.st, cid, 0, w0.p, w0.len, MDB_NOOVERWRITE), 0);
	store_casus(cid, st, 0, 0, 0);
	commit_turn();

	/* stored apart: the signed part in DB_COMMITS, one record per box */
	size_t sl = 0;
	CHECK_EQ_INT(cc_commit_signed_len(w0.p, w0.len, &sl), CC_OK);
	uint8_t k[SCHEMA_KEY_SEQ];
	MDB_val v;
	CHECK_EQ_INT(store_get(&srv.st, DB_COMMITS, k, schema_key_seq(k, cid, 0), &v), 0);
	CHECK(v.mv_size == sl && memcmp(v.mv_data, w0.p, sl) == 0);
	cc_commit c;
	CHECK_EQ_INT(cc_commit_decode(w0.p, w0.len, &c), CC_OK);
	size_t nb = c.reason.nrecipients, ned = 1; /* ED: its reason box and one per audience it may read */
	for (size_t a = 0; a < c.naudiences; a++) {
		nb += c.audiences[a].nrecipients;
		for (size_t j = 0; j < c.audiences[a].nrecipients; j++)
			ned += memcmp(c.audiences[a].recipients[j].device_id, dev[ED].cert.device_id, 16) == 0;
	}
	cc_commit_free(&c);
	CHECK_EQ_INT(count_boxes(cid, NULL), nb);
	CHECK_EQ_INT(count_boxes(cid, dev[ED].cert.device_id), ned);
	/* served to ED: only ED's boxes, which open */
	{
		cc_wbuf s;
		cc_w_init(&s);
		CHECK_EQ_INT(schema_commit_for(&srv.st, cid, 0, v.mv_data, v.mv_size, dev[ED].cert.device_id, &s), 0);
		CHECK(s.len == sl + 2 + ned * (1 + 16 + CC_SEALED_KEY_BYTES));
		cc_w_free(&s);
		cc_casus *cs = NULL;
		CHECK_EQ_INT(cc_casus_new(dev[ED].keys, &dev[ED].cert, &cs), CC_OK);
		CHECK_EQ_INT(serve_apply(cid, 0, ED, cs), CC_OK);
		CHECK(cc_casus_has_epoch_key(cs, 0, AUD_ZORG));
		cc_casus_free(cs);
	}
	store_abort(&srv.st);

	/* ED publishes wrap key 1: its certified-key boxes go after the grace, not before */
	cc_wrap_secret ws;
	cc_wrapkey wk;
	cc_wbuf pub;
	CHECK_EQ_INT(cc_wrap_secret_generate(1, now, &ws), CC_OK);
	CHECK_EQ_INT(cc_wrap_secret_publication(&ws, dev[ED].keys, &wk), CC_OK);
	sodium_memzero(&ws, sizeof ws);
	cc_w_init(&pub);
	CHECK_EQ_INT(cc_wrapkey_encode(&wk, &pub), CC_OK);
	uint8_t wkey[SCHEMA_KEY_WRAP];
	CHECK_EQ_INT(store_put(&srv.st, DB_META, wkey, schema_key_wrap(wkey, dev[ED].cert.device_id), pub.p, pub.len,
	                       0),
	             0);
	cc_w_free(&pub);
	commit_turn();
	srv.cfg.box_wrap_grace_s = 100;
	uint64_t before = srv.m.boxes_deleted;
	box_retention(&srv, now); /* first sight of version 1 */
	commit_turn();
	box_retention(&srv, now + 99);
	commit_turn();
	CHECK_EQ_INT(count_boxes(cid, NULL), nb);
	CHECK_EQ_INT(purge_entries(cid), 0);
	store_abort(&srv.st);
	/* casusd without its policy cannot load a chain: past the grace all the
	 * same, nothing is deleted (a failure to read never deletes) */
	srv.have_policy = 0;
	box_retention(&srv, now + 100);
	commit_turn();
	srv.have_policy = 1;
	CHECK_EQ_INT(count_boxes(cid, NULL), nb);
	CHECK_EQ_INT(purge_entries(cid), 0);
	store_abort(&srv.st);
	box_retention(&srv, now + 100);
	commit_turn();
	CHECK_EQ_INT(count_boxes(cid, dev[ED].cert.device_id), 0);
	CHECK_EQ_INT(count_boxes(cid, NULL), nb - ned);
	CHECK(srv.m.boxes_deleted == before + ned);
	CHECK_EQ_INT(purge_entries(cid), 1);
	store_abort(&srv.st);

	/* GGD removed: its boxes go at the next sweep; CM keeps its own */
	cc_w_init(&w1);
	uint8_t rm[1][CC_DEVICE_ID_BYTES];
	memcpy(rm[0], dev[GGD].cert.device_id, CC_DEVICE_ID_BYTES);
	CHECK_EQ_INT(cc_commit_remove(st, (const uint8_t(*)[CC_DEVICE_ID_BYTES])rm, 1, dev[CM].keys, &dev[CM].cert,
	                              &srv.policy, root->pk, E2E_NOW + 10, NULL, "afgemeld", &w1),
	             CC_OK);
	cc_chain_state *old = NULL;
	CHECK_EQ_INT(cc_chain_state_copy(st, &old), CC_OK);
	CHECK_EQ_INT(cc_chain_apply(st, w1.p, w1.len, &srv.policy, root->pk, E2E_NOW + 10, NULL, NULL), CC_OK);
	CHECK_EQ_INT(schema_commit_put(&srv.st, cid, 1, w1.p, w1.len, MDB_NOOVERWRITE), 0);
	CHECK_EQ_INT(save_state(&srv, cid, st), 0);
	CHECK_EQ_INT(members_update(&srv, cid, old, st), 0);
	cc_chain_state *copy = NULL;
	CHECK_EQ_INT(cc_chain_state_copy(st, &copy), CC_OK);
	CHECK_EQ_INT(rt_set_chain(&srv, cid, copy), 0);
	commit_turn();
	CHECK(count_boxes(cid, dev[GGD].cert.device_id) > 0);
	store_abort(&srv.st);
	box_retention(&srv, now + 101);
	commit_turn();
	CHECK_EQ_INT(count_boxes(cid, dev[GGD].cert.device_id), 0);
	CHECK(count_boxes(cid, dev[CM].cert.device_id) > 0);
	CHECK_EQ_INT(purge_entries(cid), 2);

	/* the stored chain still verifies: CM reads both epochs with keys; ED
	 * (boxes gone) follows the chain without the key of epoch 0 */
	cc_casus *cm = NULL, *ed = NULL;
	CHECK_EQ_INT(cc_casus_new(dev[CM].keys, &dev[CM].cert, &cm), CC_OK);
	CHECK_EQ_INT(serve_apply(cid, 0, CM, cm), CC_OK);
	CHECK_EQ_INT(serve_apply(cid, 1, CM, cm), CC_OK);
	CHECK(cc_casus_has_epoch_key(cm, 0, AUD_ZORG) && cc_casus_has_epoch_key(cm, 1, AUD_ZORG));
	CHECK_EQ_INT(cc_casus_new(dev[ED].keys, &dev[ED].cert, &ed), CC_OK);
	CHECK_EQ_INT(serve_apply(cid, 0, ED, ed), CC_OK);
	CHECK(!cc_casus_has_epoch_key(ed, 0, AUD_ZORG));
	cc_casus_free(cm);
	cc_casus_free(ed);
	store_abort(&srv.st);
	cc_chain_state_free(old);
	cc_chain_state_free(st);
	cc_w_free(&w0);
	cc_w_free(&w1);
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	memset(&srv, 0, sizeof srv);
	config_defaults(&srv.cfg);
	const char *base = getenv("CASUS_TEST_TMP");
	if (!base || !*base)
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(srv.cfg.data_dir, sizeof srv.cfg.data_dir, "%s/rt-XXXXXX", base);
	CHECK(mkdtemp(srv.cfg.data_dir) != NULL);
	e2e_default_policy(&srv.policy);
	srv.have_policy = 1;
	cc_revlist_init(&srv.revs);
	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	memcpy(srv.root_pk, root->pk, sizeof srv.root_pk);
	for (int i = 0; i < NDEV; i++)
		CHECK_EQ_INT(e2e_dev_make(&dev[i], root, USER[i], ROLE[i], (uint64_t)(300 + i)), CC_OK);
	CHECK_EQ_INT(store_open(&srv.st, srv.cfg.data_dir, 32u << 20, 0), 0);
	CHECK_EQ_INT(dispatch_open(&srv), 0);

	printf("test_runtime\n");
	test_runtime();
	printf("test_retention\n");
	test_retention();
	printf("test_box_retention\n");
	test_box_retention();

	dispatch_close(&srv);
	store_close(&srv.st);
	for (int i = 0; i < NDEV; i++)
		e2e_dev_free(&dev[i]);
	cc_root_key_free(root);
	char path[700];
	const char *names[] = {"data.mdb", "lock.mdb", "audit.key", "audit.pub"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", srv.cfg.data_dir, names[i]);
		unlink(path);
	}
	rmdir(srv.cfg.data_dir);
	return check_done();
}
