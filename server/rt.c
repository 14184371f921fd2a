/*
 * rt.c: the casus runtime table (see rt.h). An open-addressing hash table of
 * struct casus_rt keyed by casus id (random ids: their first bytes hash well).
 */
#include "rt.h"
#include "fanout.h"
#include "log.h"
#include "schema.h"
#include "server.h"

#include <cc_commit.h>
#include <cc_err.h>
#include <stdlib.h>
#include <string.h>

static size_t bucket(const struct server *srv, const uint8_t id[16])
{
	uint64_t h = 0;
	memcpy(&h, id, sizeof h);
	return (size_t)(h % srv->rt_cap);
}

void rt_init(struct server *srv)
{
	srv->rt_cap = 4096;
	srv->rt = calloc(srv->rt_cap, sizeof(*srv->rt));
	srv->rt_len = 0;
	if (!srv->rt)
		srv->rt_cap = 0;
}

static void entry_free(struct casus_rt *rt)
{
	cc_chain_state_free(rt->st);
	free(rt->devs);
	free(rt->subs);
	free(rt);
}

void rt_free_all(struct server *srv)
{
	if (!srv->rt)
		return;
	fanout_unsubscribe_all(srv);
	for (size_t i = 0; i < srv->rt_cap; i++)
		if (srv->rt[i])
			entry_free(srv->rt[i]);
	free(srv->rt);
	srv->rt = NULL;
	srv->rt_cap = srv->rt_len = 0;
}

static int grow(struct server *srv)
{
	size_t ncap = srv->rt_cap * 2;
	struct casus_rt **n = calloc(ncap, sizeof(*n));
	if (!n)
		return -1;
	struct casus_rt **old = srv->rt;
	size_t ocap = srv->rt_cap;
	srv->rt = n;
	srv->rt_cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (!old[i])
			continue;
		size_t b = bucket(srv, old[i]->id);
		while (srv->rt[b])
			b = (b + 1) % ncap;
		srv->rt[b] = old[i];
	}
	free(old);
	return 0;
}

struct casus_rt *rt_find(struct server *srv, const uint8_t id[16])
{
	if (!srv->rt || !srv->rt_cap)
		return NULL;
	size_t b = bucket(srv, id);
	for (size_t i = 0; i < srv->rt_cap; i++, b = (b + 1) % srv->rt_cap) {
		if (!srv->rt[b])
			return NULL;
		if (memcmp(srv->rt[b]->id, id, 16) == 0)
			return srv->rt[b];
	}
	return NULL;
}

static struct casus_rt *find_or_create(struct server *srv, const uint8_t id[16])
{
	struct casus_rt *rt = rt_find(srv, id);
	if (rt)
		return rt;
	if (!srv->rt_cap || ((srv->rt_len + 1) * 2 > srv->rt_cap && grow(srv) != 0))
		return NULL;
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return NULL;
	memcpy(rt->id, id, 16);
	size_t b = bucket(srv, id);
	while (srv->rt[b])
		b = (b + 1) % srv->rt_cap;
	srv->rt[b] = rt;
	srv->rt_len++;
	return rt;
}

int rt_set_chain(struct server *srv, const uint8_t id[16], cc_chain_state *st)
{
	size_t n = st->nroster;
	struct rt_dev *devs = calloc(n ? n : 1, sizeof(*devs));
	struct casus_rt *rt = devs ? find_or_create(srv, id) : NULL;
	if (!rt) {
		free(devs);
		cc_chain_state_free(st);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(devs[i].device_id, st->roster[i].cert.device_id, 16);
		for (int a = 0; a < srv->policy.naudiences; a++)
			if (cc_chain_entitled(st, &srv->policy, i, a))
				devs[i].aud_mask |= 1u << a;
	}
	free(rt->devs);
	rt->devs = devs;
	rt->ndevs = n;
	rt->level = st->level;
	rt->epoch = st->epoch;
	if (rt->st != st) {
		cc_chain_state_free(rt->st);
		rt->st = st;
	}
	fanout_roster_changed(srv, rt);
	return 0;
}

void rt_forget_chain(struct server *srv, const uint8_t id[16])
{
	struct casus_rt *rt = rt_find(srv, id);
	if (!rt)
		return;
	free(rt->devs);
	rt->devs = NULL;
	rt->ndevs = 0;
	rt->level = 0;
	rt->epoch = 0;
	fanout_roster_changed(srv, rt);
	cc_chain_state_free(rt->st);
	rt->st = NULL;
}

/* Load a casus from the store into the table. 0 or -1. */
static int load(struct server *srv, const uint8_t id[16])
{
	uint8_t k[SCHEMA_KEY_SEQ];
	MDB_val v;
	cc_chain_state *st = NULL;
	if (!srv->have_policy)
		return -1;
	if (store_get(&srv->st, DB_CASUS, k, schema_key_casus(k, id, SCHEMA_CASUS_CHAIN), &v) != 0)
		return -1;
	if (cc_chain_state_decode(v.mv_data, v.mv_size, &st) != CC_OK)
		return -1;
	if (rt_set_chain(srv, id, st) != 0)
		return -1;
	struct casus_rt *rt = rt_find(srv, id);
	struct casus_record rec;
	if (schema_casus_rec_get(&srv->st, id, &rec) == 0) {
		snprintf(rt->purpose, sizeof rt->purpose, "%s", rec.purpose);
		snprintf(rt->basis, sizeof rt->basis, "%s", rec.basis);
		rt->closed_at = rec.closed_at;
	}
	/* next message sequence: one past the last stored */
	rt->next_msg_seq = 1;
	MDB_cursor *cur = NULL;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_MESSAGES], &cur) == 0) {
		MDB_val kk = {schema_key_seq(k, id, UINT64_MAX), k}, vv;
		int rc = mdb_cursor_get(cur, &kk, &vv, MDB_SET_RANGE);
		rc = rc == 0 ? mdb_cursor_get(cur, &kk, &vv, MDB_PREV) : mdb_cursor_get(cur, &kk, &vv, MDB_LAST);
		if (rc == 0 && kk.mv_size == SCHEMA_KEY_SEQ && memcmp(kk.mv_data, id, 16) == 0)
			rt->next_msg_seq = schema_key_tail64(kk.mv_data, kk.mv_size) + 1;
		mdb_cursor_close(cur);
	}
	return 0;
}

struct casus_rt *rt_get(struct server *srv, const uint8_t id[16])
{
	struct casus_rt *rt = rt_find(srv, id);
	if (rt && rt->st)
		return rt;
	if (load(srv, id) != 0)
		return NULL;
	rt = rt_find(srv, id);
	return rt && rt->st ? rt : NULL;
}

uint32_t rt_mask(const struct casus_rt *rt, const uint8_t device_id[16])
{
	for (size_t d = 0; rt && d < rt->ndevs; d++)
		if (memcmp(rt->devs[d].device_id, device_id, 16) == 0)
			return rt->devs[d].aud_mask;
	return 0;
}

int rt_is_member(const struct casus_rt *rt, const uint8_t device_id[16])
{
	return rt && rt->st && cc_chain_find(rt->st, device_id) >= 0;
}

void rt_subscribe_device(struct server *srv, struct session *s)
{
	MDB_cursor *cur = NULL;
	MDB_val k = {16, s->cert.device_id}, v;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_MEMBERS], &cur) != 0)
		return;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == SCHEMA_KEY_PAIR && memcmp(k.mv_data, s->cert.device_id, 16) == 0) {
		uint8_t cid[16];
		memcpy(cid, (const uint8_t *)k.mv_data + 16, 16);
		if (fanout_subscribe(rt_get(srv, cid), s) != 0)
			log_event(LOG_WARN, "casus.subscribe_failed", "sid=%llu", (unsigned long long)s->sid);
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
}

void rt_turn_failed(struct server *srv)
{
	/* The table may hold rosters that never reached disk: rebuild from the store. */
	rt_free_all(srv);
	rt_init(srv);
	for (struct session *s = srv->sessions; s; s = s->next)
		if (s->state == SS_AUTHED)
			rt_subscribe_device(srv, s);
	log_event(LOG_WARN, "rt.rebuilt", "reason=commit_failed");
}
