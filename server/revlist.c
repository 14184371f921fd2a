/*
 * revlist.c: holding, serving and announcing the revocation list (revlist.h).
 */
#include "revlist.h"
#include "reply.h"
#include "schema.h"
#include "server.h"

#include <cc_err.h>
#include <proto.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEEN_LEN (8 + crypto_generichash_BYTES)

/* The newest list the store has applied: 1 and filled, 0 none yet, -1 unreadable. */
static int seen_get(struct server *srv, uint64_t *number, uint8_t hash[crypto_generichash_BYTES])
{
	MDB_val v;
	int rc = store_get(&srv->st, DB_META, REVLIST_META_SEEN, strlen(REVLIST_META_SEEN), &v);
	if (rc == MDB_NOTFOUND)
		return 0;
	if (rc != 0 || v.mv_size != SEEN_LEN)
		return -1;
	*number = store_rd64(v.mv_data);
	memcpy(hash, (const uint8_t *)v.mv_data + 8, crypto_generichash_BYTES);
	return 1;
}

/* Compare the held list with the store's newest; on success record the held
 * one in the current transaction. CC_OK, CC_ERR_STALE or CC_ERR_IO. */
static int seen_check_put(struct server *srv, uint64_t number, const uint8_t *bytes, size_t len)
{
	uint8_t h[crypto_generichash_BYTES], held_h[crypto_generichash_BYTES];
	uint64_t held = 0;
	crypto_generichash(h, sizeof h, bytes, len, NULL, 0);
	if (!store_txn(&srv->st))
		return CC_ERR_IO;
	int have = seen_get(srv, &held, held_h);
	if (have < 0)
		return CC_ERR_IO;
	if (have && (number < held || (number == held && sodium_memcmp(h, held_h, sizeof h) != 0)))
		return CC_ERR_STALE;
	if (have && number == held)
		return CC_OK;
	uint8_t rec[SEEN_LEN];
	store_be64(rec, number);
	memcpy(rec + 8, h, sizeof h);
	return store_put(&srv->st, DB_META, REVLIST_META_SEEN, strlen(REVLIST_META_SEEN), rec, sizeof rec, 0) == 0
	               ? CC_OK
	               : CC_ERR_IO;
}

int revlist_check_store(struct server *srv, char *why, size_t wl)
{
	if (!srv->have_revs || !srv->revs_bytes) {
		snprintf(why, wl, "no revocation list is held");
		return -1;
	}
	uint64_t held = 0;
	uint8_t hh[crypto_generichash_BYTES];
	if (store_txn(&srv->st) && seen_get(srv, &held, hh) > 0 && held > srv->revs.number) {
		snprintf(why, wl,
		         "revocation list %llu is older than list %llu this server has already applied: install the "
		         "newest list",
		         (unsigned long long)srv->revs.number, (unsigned long long)held);
		store_abort(&srv->st);
		return -1;
	}
	int rc = seen_check_put(srv, srv->revs.number, srv->revs_bytes, srv->revs_len);
	if (rc == CC_ERR_STALE) {
		snprintf(why, wl,
		         "revocation list %llu differs from the list under the same number this server has already "
		         "applied: install the newest list",
		         (unsigned long long)srv->revs.number);
		store_abort(&srv->st);
		return -1;
	}
	if (rc != CC_OK || store_commit(&srv->st) != 0) {
		snprintf(why, wl, "cannot record the revocation list number in the store");
		return -1;
	}
	return 0;
}

int revlist_install(struct server *srv, uint8_t *bytes, size_t len)
{
	cc_revlist nl;
	cc_revlist_init(&nl);
	int rc = cc_revlist_decode(bytes, len, &nl);
	if (rc == CC_OK)
		rc = cc_revlist_verify(&nl, srv->root_pk, srv->have_revs ? &srv->revs : NULL);
	/* once the store is open (a reload), the store's newest list counts too;
	 * recorded in this turn's transaction, committed with it */
	if (rc == CC_OK && srv->st.env)
		rc = seen_check_put(srv, nl.number, bytes, len);
	if (rc != CC_OK) {
		cc_revlist_free(&nl);
		return rc;
	}
	cc_revlist_free(&srv->revs);
	srv->revs = nl;
	srv->have_revs = 1;
	free(srv->revs_bytes);
	srv->revs_bytes = bytes;
	srv->revs_len = len;
	revlist_push(srv);
	return CC_OK;
}

void revlist_push(struct server *srv)
{
	json_t *p =
		json_pack("{sssI}", "push", "revlist", "number", (json_int_t)(srv->have_revs ? srv->revs.number : 0));
	struct outbuf *pb = p ? outbuf_from_json(p) : NULL;
	json_decref(p);
	if (!pb)
		return;
	for (struct session *s = srv->sessions; s; s = s->next)
		if (s->state == SS_AUTHED)
			push_later(s, pb);
	outbuf_unref(pb);
}

int issuance_install(struct server *srv, uint8_t *bytes, size_t len)
{
	cc_issuance_log lg;
	int rc = cc_issuance_log_verify(bytes, len, srv->root_pk, &lg, NULL, NULL);
	if (rc != CC_OK)
		return rc;
	if (srv->issued_bytes && (len < srv->issued_len || memcmp(bytes, srv->issued_bytes, srv->issued_len) != 0))
		return CC_ERR_STALE;
	free(srv->issued_bytes);
	srv->issued_bytes = bytes;
	srv->issued_len = len;
	srv->issued_count = lg.count;
	return CC_OK;
}

void revlist_free(struct server *srv)
{
	free(srv->issued_bytes);
	srv->issued_bytes = NULL;
	srv->issued_len = 0;
	srv->issued_count = 0;
	cc_revlist_free(&srv->revs);
	srv->have_revs = 0;
	free(srv->revs_bytes);
	srv->revs_bytes = NULL;
	srv->revs_len = 0;
}
