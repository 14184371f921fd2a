/*
 * notice.c: storing, pushing, listing, dismissing and expiring notices
 * (notice.h). One notice per user and event: a user's devices share it.
 */
#include "notice.h"

#include "handlers.h"
#include "log.h"
#include "outbuf.h"
#include "reply.h"
#include "rt.h"
#include "schema.h"

#include <cc_cert.h>
#include <cc_err.h>
#include <proto.h>
#include <stdlib.h>
#include <string.h>

#define NOTICE_DISMISS_MAX 256 /* ids in one notice.dismiss */

/* The users a notice went to, so a user's devices get one notice. */
struct userset {
	char (*v)[CC_USER_ID_MAX + 1];
	size_t n, cap;
};

/* 1 if user was added, 0 if it was there, -1 out of memory. */
static int userset_add(struct userset *u, const char *user)
{
	for (size_t i = 0; i < u->n; i++)
		if (strcmp(u->v[i], user) == 0)
			return 0;
	if (u->n == u->cap) {
		size_t ncap = u->cap ? u->cap * 2 : 8;
		char(*nv)[CC_USER_ID_MAX + 1] = realloc(u->v, ncap * sizeof(*nv));
		if (!nv)
			return -1;
		u->v = nv;
		u->cap = ncap;
	}
	snprintf(u->v[u->n++], sizeof u->v[0], "%s", user);
	return 1;
}

static int notice_store(struct server *srv, const char *user, const char *text)
{
	uint8_t key[SCHEMA_KEY_USER_MAX];
	uint64_t seq = 0;
	size_t kl;
	if (schema_meta_next(&srv->st, SCHEMA_META_NOTICE_SEQ, &seq) == 0 &&
	    (kl = schema_key_user_seq(key, user, seq)) != 0 &&
	    store_put(&srv->st, DB_NOTICES, key, kl, text, strlen(text), 0) == 0)
		return 0;
	log_event(LOG_WARN, "notice.not_stored", NULL);
	return -1;
}

static struct outbuf *notice_push(json_t *n)
{
	json_t *push = json_pack("{sssO}", "push", "notice", "notice", n);
	struct outbuf *pb = push ? outbuf_from_json(push) : NULL;
	json_decref(push);
	return pb;
}

unsigned notice_to_roles(struct server *srv, uint32_t roles, json_t *n)
{
	unsigned users = 0;
	if (!roles)
		return 0;
	char *text = json_dumps(n, JSON_COMPACT);
	struct outbuf *pb = notice_push(n);
	struct userset done = {NULL, 0, 0};
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	/* every certified user whose role is noticed: the directory is keyed by
	 * device id, so a user's devices are not adjacent */
	if (text && mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_CERTS], &cur) == 0) {
		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			cc_cert c;
			if (cc_cert_decode(v.mv_data, v.mv_size, &c) != CC_OK)
				continue;
			int ri = cc_policy_role_index(&srv->policy, c.role);
			if (ri < 0 || !(roles & (1u << ri)))
				continue;
			int added = userset_add(&done, c.user_id);
			if (added < 0)
				break;
			if (added && notice_store(srv, c.user_id, text) == 0)
				users++;
		}
		mdb_cursor_close(cur);
	}
	if (pb) {
		for (struct session *o = srv->sessions; o; o = o->next) {
			if (o->state != SS_AUTHED)
				continue;
			int ri = cc_policy_role_index(&srv->policy, o->cert.role);
			if (ri >= 0 && (roles & (1u << ri)))
				push_later(o, pb);
		}
		outbuf_unref(pb);
	}
	free(done.v);
	free(text);
	return users;
}

unsigned notice_to_roster(struct server *srv, const uint8_t casus[16], const char *except_user, json_t *n)
{
	struct casus_rt *rt = rt_get(srv, casus);
	if (!rt || !rt->st)
		return 0;
	unsigned users = 0;
	char *text = json_dumps(n, JSON_COMPACT);
	struct outbuf *pb = notice_push(n);
	struct userset done = {NULL, 0, 0};
	const cc_chain_state *st = rt->st;
	for (uint16_t i = 0; text && i < st->nroster; i++) {
		const char *user = st->roster[i].cert.user_id;
		if (except_user && strcmp(user, except_user) == 0)
			continue;
		int added = userset_add(&done, user);
		if (added < 0)
			break;
		if (added && notice_store(srv, user, text) == 0)
			users++;
	}
	if (pb) {
		for (struct session *o = srv->sessions; o; o = o->next) {
			if (o->state != SS_AUTHED)
				continue;
			for (size_t i = 0; i < done.n; i++)
				if (strcmp(done.v[i], o->cert.user_id) == 0) {
					push_later(o, pb);
					break;
				}
		}
		outbuf_unref(pb);
	}
	free(done.v);
	free(text);
	return users;
}

/* 1 if the stored notice expired at now (its "time" NOTICE_TTL_DAYS ago);
 * a notice without a time never expires by age. */
static int expired(const json_t *n, int64_t now)
{
	json_t *t = json_object_get(n, "time");
	return json_is_integer(t) && now - (int64_t)json_integer_value(t) >= (int64_t)NOTICE_TTL_DAYS * 86400;
}

json_t *notice_list(struct server *srv, const char *user, int64_t now)
{
	json_t *arr = json_array();
	uint8_t pfx[SCHEMA_KEY_USER_MAX];
	size_t kl = schema_key_user_seq(pfx, user, 0), pl = kl - 8;
	MDB_cursor *cur = NULL;
	MDB_val k = {pl, pfx}, v;
	if (!kl || mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_NOTICES], &cur) != 0)
		return arr;
	int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	while (rc == 0 && k.mv_size == kl && memcmp(k.mv_data, pfx, pl) == 0) {
		json_t *n = json_loadb(v.mv_data, v.mv_size, JSON_REJECT_DUPLICATES, NULL);
		if (json_is_object(n) && !expired(n, now)) {
			json_object_set_new(n, "id", json_integer((json_int_t)schema_key_tail64(k.mv_data, k.mv_size)));
			json_array_append(arr, n);
		}
		json_decref(n);
		/* the newest NOTICES_MAX only: the reply must stay far below a frame */
		if (json_array_size(arr) > NOTICES_MAX)
			json_array_remove(arr, 0);
		rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT);
	}
	mdb_cursor_close(cur);
	return arr;
}

/* Delete the notices under the key prefix pfx (pl bytes; pl 0: every user's),
 * all of them or only_expired ones; after each delete the cursor seeks again from the deleted key. */
static size_t del_notices(struct server *srv, const uint8_t *pfx, size_t pl, int64_t now, int only_expired)
{
	MDB_cursor *cur = NULL;
	size_t n = 0;
	uint8_t last[SCHEMA_KEY_USER_MAX];
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_NOTICES], &cur) != 0)
		return 0;
	MDB_val k = {pl, (void *)(uintptr_t)pfx}, v;
	int rc = pl ? mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE) : mdb_cursor_get(cur, &k, &v, MDB_FIRST);
	while (rc == 0 && k.mv_size >= pl && (!pl || memcmp(k.mv_data, pfx, pl) == 0)) {
		int gone = !only_expired;
		if (only_expired) {
			json_t *x = json_loadb(v.mv_data, v.mv_size, JSON_REJECT_DUPLICATES, NULL);
			gone = x && expired(x, now);
			json_decref(x);
		}
		if (gone && k.mv_size <= sizeof last) {
			size_t kl = k.mv_size;
			memcpy(last, k.mv_data, kl);
			if (mdb_cursor_del(cur, 0) != 0)
				break;
			store_note_del(&srv->st, DB_NOTICES, last, kl); /* cluster mode: into the log */
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

size_t notice_expire(struct server *srv, int64_t now)
{
	return del_notices(srv, NULL, 0, now, 1);
}

int h_notice_dismiss(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	json_t *ids = json_object_get(req, "notices");
	int all = json_is_true(json_object_get(req, "all"));
	if ((!all && !json_is_array(ids)) || (ids && !json_is_array(ids)) ||
	    json_array_size(ids) > NOTICE_DISMISS_MAX) {
		reply_error(s, id, PE_BAD_REQUEST,
		            "notice.dismiss needs \"notices\" (an array of at most 256 notice ids) or \"all\": true");
		return 0;
	}
	uint8_t key[SCHEMA_KEY_USER_MAX];
	size_t dismissed = 0;
	json_t *unknown = json_array();
	if (all) {
		size_t kl = schema_key_user_seq(key, s->cert.user_id, 0);
		if (kl)
			dismissed = del_notices(srv, key, kl - 8, 0, 0);
	} else {
		size_t i;
		json_t *x;
		json_array_foreach(ids, i, x) {
			if (!json_is_integer(x) || json_integer_value(x) < 1) {
				json_decref(unknown);
				reply_error(s, id, PE_BAD_REQUEST, "notice.dismiss: a notice id is a positive number");
				return 0;
			}
			size_t kl = schema_key_user_seq(key, s->cert.user_id, (uint64_t)json_integer_value(x));
			if (kl && store_del(&srv->st, DB_NOTICES, key, kl) == 0)
				dismissed++;
			else
				json_array_append(unknown, x);
		}
	}
	json_t *r = proto_ok(id);
	json_object_set_new(r, "dismissed", json_integer((json_int_t)dismissed));
	json_object_set_new(r, "unknown", unknown);
	reply_later(s, id, r);
	return 1;
}
