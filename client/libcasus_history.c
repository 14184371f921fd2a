/*
 * libcasus_history.c: history: messages decoded and judged by the client core;
 * paging bounded (libcasus_int.h).
 */
#include "libcasus_int.h"
#include "arena.h"

#include <ccore_notes.h>

/* ---- history ----------------------------------------------------------------------- */

json_t *lc_cert_json(const cc_cert *ct)
{
	char dev[33];
	cc_device_id_hex(ct->device_id, dev);
	return json_pack("{ssssssssss}", "user", ct->user_id, "name", ct->name, "org", ct->org, "role", ct->role,
	                 "device", dev);
}

json_t *lc_decode_one(casus_client *c, struct loaded *L, uint64_t seq, const uint8_t *mb, size_t ml, int live)
{
	return lc_decode_one_in(c, L, seq, mb, ml, live, NULL);
}

/* live: a pushed message (replay tracker and counter order apply); else history.
 * The core decides whether it is shown; a refusal is kept in c->refused.
 * arena: the plaintext's secure buffer for a batch (arena.h), or NULL: one of
 * its own, freed here. */
json_t *lc_decode_one_in(casus_client *c, struct loaded *L, uint64_t seq, const uint8_t *mb, size_t ml, int live,
                         struct lc_arena *arena)
{
	json_t *o = json_object();
	json_object_set_new(o, "seq", json_integer((json_int_t)seq));
	cc_message m;
	if (cc_message_decode(mb, ml, &m) != CC_OK) {
		json_object_set_new(o, "verified", json_false());
		json_object_set_new(o, "error", json_string("tampered"));
		if (!c->refused) {
			c->refused = CCORE_E_TAMPERED;
			snprintf(c->refused_msg, sizeof c->refused_msg, "message #%llu does not decode: refused",
			         (unsigned long long)seq);
		}
		return o;
	}
	char mid[33];
	proto_hex16(m.h.message_id, mid);
	json_object_set_new(o, "id", json_string(mid));
	json_object_set_new(o, "time", json_integer((json_int_t)m.h.time));
	json_object_set_new(o, "epoch", json_integer((json_int_t)m.h.epoch));
	json_object_set_new(o, "audience",
	                    json_string(m.h.audience < c->policy.naudiences ? c->policy.audiences[m.h.audience].name
	                                                                    : "?"));
	const char *gn = cc_ground_name(m.h.ground);
	json_object_set_new(o, "ground", json_string(gn ? gn : "?"));
	const cc_cert *sc = lc_known_cert(L, m.h.sender);
	if (sc)
		json_object_set_new(o, "sender", lc_cert_json(sc));
	cc_wbuf own, *pt = &own;
	if (arena)
		pt = lc_arena_take(arena);
	else
		cc_w_init_secret(&own);
	unsigned flags = 0;
	int rc = ccore_open_message(L->k, seq, mb, ml, live, (int64_t)time(NULL), pt, NULL, &flags);
	if (rc == CCORE_OK && (flags & CCORE_F_DUPLICATE)) {
		/* shown once: the repeat is listed without its text (and warned about) */
		json_object_set_new(o, "verified", json_false());
		json_object_set_new(o, "error", json_string("duplicate"));
	} else if (rc == CCORE_OK) {
		json_t *body = json_loadb((const char *)pt->p, pt->len, JSON_REJECT_DUPLICATES, NULL);
		const char *t = json_string_value(json_object_get(body, "text"));
		const char *kind = json_string_value(json_object_get(body, "kind"));
		json_object_set_new(o, "verified", json_true());
		json_object_set_new(o, "kind", json_string(kind ? kind : "note"));
		json_object_set_new(o, "text", json_string(t ? t : ""));
		/* a structured note kind: its data only if well formed (ccore_notes.h) */
		json_t *data = json_object_get(body, "data");
		if (data && ccore_note_check(kind, data) == CCORE_OK)
			json_object_set(o, "data", data);
		else if (data)
			json_object_set_new(o, "data_error", json_string("tampered"));
		json_decref(body);
		lc_hist_add(L, o);
	} else {
		json_object_set_new(o, "verified", json_false());
		json_object_set_new(o, "error", json_string(ccore_code(rc)));
		if (rc != CCORE_E_NO_KEY && !c->refused) {
			c->refused = rc;
			snprintf(c->refused_msg, sizeof c->refused_msg, "message #%llu: %s", (unsigned long long)seq,
			         ccore_message(c->core));
		}
		if (rc == CCORE_E_NO_KEY)
			lc_hist_add(L, o); /* kept without content, so it stays marked */
	}
	if (arena)
		(void)lc_arena_take(arena); /* wiped now, not only when the next message comes */
	else
		cc_w_free(&own);
	return o;
}

/* After decoding a listing: a message the core refused fails the command. */
static int refused_fail(casus_client *c)
{
	int r = c->refused;
	c->refused = 0;
	if (!r)
		return CASUS_OK;
	snprintf(c->code, sizeof c->code, "%s", ccore_code(r));
	snprintf(c->err, sizeof c->err, "%s", c->refused_msg);
	return CASUS_E_VERIFY;
}

/* The message id the local copy holds at seq (out: 32 hex digits): 1, else 0. */
static int held_id(const struct loaded *L, uint64_t seq, char out[33])
{
	size_t lo = 0, hi = json_array_size(L->hist);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		uint64_t s = (uint64_t)json_integer_value(json_object_get(json_array_get(L->hist, mid), "seq"));
		if (s < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	json_t *e = json_array_get(L->hist, lo);
	const char *id = json_string_value(json_object_get(e, "id"));
	if (!e || (uint64_t)json_integer_value(json_object_get(e, "seq")) != seq || !id || strlen(id) != 32)
		return 0;
	memcpy(out, id, 33);
	return 1;
}

/* Stable sort of a listing by seq (entries of one seq keep their order). */
static void sort_by_seq(json_t *res)
{
	size_t n = json_array_size(res);
	for (size_t i = 1; i < n; i++) {
		json_t *e = json_incref(json_array_get(res, i));
		json_int_t s = json_integer_value(json_object_get(e, "seq"));
		size_t j = i;
		while (j > 0 && json_integer_value(json_object_get(json_array_get(res, j - 1), "seq")) > s)
			j--;
		if (j != i) {
			json_array_remove(res, i);
			json_array_insert(res, j, e);
		}
		json_decref(e);
	}
}

/* Queued posts (issue #14): a post written offline is encrypted, and so
 * dated, when it is written, and takes its place (seq) when the outbox sends
 * it, after whatever others posted meanwhile; the listing keeps the server's
 * order (the same for every member), and marks such an entry "late": written
 * more than CASUS_LATE_SECS (default 60) before a message listed above it. */
static void mark_late(json_t *res)
{
	const char *env = getenv("CASUS_LATE_SECS");
	json_int_t slack = env && *env ? (json_int_t)strtoll(env, NULL, 10) : 60, newest = 0;
	size_t i;
	json_t *e;
	json_array_foreach(res, i, e) {
		json_int_t t = json_integer_value(json_object_get(e, "time"));
		if (t && newest && t + slack < newest) {
			json_t *copy = json_copy(e); /* the local copy's entry stays as it is */
			if (copy) {
				json_object_set_new(copy, "late", json_true());
				json_array_set_new(res, i, copy);
			}
		}
		if (t > newest)
			newest = t;
	}
}

int casus_history(casus_client *c, const char *casus_hex, uint64_t after, size_t limit, json_t **out)
{
	lc_clear_err(c);
	struct loaded *L = NULL;
	c->refused = 0;
	int rc = lc_load_casus(c, casus_hex, &L);
	if (rc)
		return rc;
	json_t *res = json_array();
	size_t i;
	json_t *o;
	ccore_pager pg = {0};
	if (!casus_is_online(c)) {
		/* offline: the local copy (casus_is_online tells the caller) */
		json_array_foreach(L->hist, i, o) {
			uint64_t seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
			if (seq > after && (!limit || json_array_size(res) < limit))
				json_array_append(res, o);
		}
		mark_late(res);
		*out = res;
		return CASUS_OK;
	}
	uint64_t last = 0;
	int ended = 0; /* the server said there is no more: missing numbers are gaps now */
	/* one secure buffer for every plaintext of this listing, and the numbers
	 * it holds already (arena.h) */
	lc_arena arena;
	lc_seqset seen;
	lc_seqset_init(&seen);
	if (lc_arena_init(&arena, 16384) != 0) {
		json_decref(res);
		return lc_fail(c, CASUS_E_INTERNAL, "out of memory");
	}
	/* a listing from the start: every sender's stream must begin at number 1 */
	ccore_history_begin(L->k, after == 0);
	/* granted messages from before this device joined come first */
	json_t *gm;
	json_array_foreach(L->granted, i, gm) {
		uint64_t seq = 0;
		uint8_t *mb = NULL;
		size_t ml = 0;
		/* a message granted twice (shared again) is listed once */
		if (proto_get_u64(gm, "seq", UINT64_MAX >> 12, &seq) || seq <= after || lc_seqset_has(&seen, seq) ||
		    proto_get_b64(gm, "msg", PROTO_MAX_FRAME, &mb, &ml)) {
			free(mb);
			continue;
		}
		json_t *e = lc_decode_one_in(c, L, seq, mb, ml, 0, &arena);
		json_object_set_new(e, "granted", json_true());
		json_array_append_new(res, e);
		free(mb);
		if (lc_seqset_add(&seen, seq) != 0)
			goto nomem;
	}
	uint64_t cursor = after;
	int whole = !after && !limit;
	/* the server went back in time for this casus (ccore_rollback_check): the
	 * whole history is listed again and compared with the held copy */
	int recheck = whole && ccore_diverged(L->k);
	if (whole) {
		/* the whole history: what this device decrypted before (every message
		 * up to L->upto) comes from the cache, only newer ones from the server */
		json_array_foreach(L->hist, i, o) {
			uint64_t seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
			/* a granted note decrypted before (it may lie beyond upto)
			 * stays listed when its grant no longer opens: sealed to a
			 * wrap key this device wiped after its grace period */
			int granted = json_is_true(json_object_get(o, "granted")) &&
			              json_is_true(json_object_get(o, "verified"));
			if ((seq <= L->upto || granted) && !lc_seqset_has(&seen, seq)) {
				json_array_append(res, o);
				if (lc_seqset_add(&seen, seq) != 0)
					goto nomem;
			}
		}
		cursor = recheck ? 0 : L->upto;
		last = L->upto;
	}
	for (;;) {
		json_t *r = NULL;
		json_t *req = json_pack("{sssssIsI}", "type", "history", "casus", casus_hex, "after",
		                        (json_int_t)cursor, "limit", (json_int_t)(limit ? limit : 500));
		if ((rc = lc_request(c, req, &r)))
			goto fail;
		json_t *msgs = json_object_get(r, "messages");
		size_t got = 0;
		json_array_foreach(msgs, i, o) {
			uint64_t seq = 0;
			uint8_t *mb = NULL;
			size_t ml = 0;
			if (proto_get_u64(o, "seq", UINT64_MAX >> 12, &seq) ||
			    proto_get_b64(o, "msg", PROTO_MAX_FRAME, &mb, &ml)) {
				free(mb);
				continue;
			}
			if (seq <= cursor) {
				free(mb); /* not after the cursor: no progress */
				continue;
			}
			/* a number this device holds with another message: the server
			 * went back in time. The held copy stays (and is listed); the
			 * server's message is listed too, marked "diverged". */
			char held[33], gid[33];
			cc_message hm;
			int differs = held_id(L, seq, held) && cc_message_decode(mb, ml, &hm) == CC_OK &&
			              (proto_hex16(hm.h.message_id, gid), strcmp(held, gid) != 0);
			if (differs) {
				(void)ccore_seq_held(L->k, seq, held, gid);
				json_t *e = lc_decode_one_in(c, L, seq, mb, ml, 0, &arena);
				json_object_set_new(e, "diverged", json_true());
				json_array_append_new(res, e);
			} else if (!lc_seqset_has(&seen, seq)) {
				json_t *e = lc_decode_one_in(c, L, seq, mb, ml, 0, &arena);
				/* kept as listed: casus_share grants these bytes, no second listing */
				const char *id = json_string_value(json_object_get(e, "id"));
				if (id && json_object_size(L->raw) < RAW_MAX)
					json_object_set(L->raw, id, o);
				json_array_append_new(res, e);
			}
			free(mb);
			if (lc_seqset_add(&seen, seq) != 0) {
				json_decref(r);
				goto nomem;
			}
			cursor = seq;
			got++;
			if (seq > last)
				last = seq;
		}
		int more = json_is_true(json_object_get(r, "more"));
		ended = !more;
		json_decref(r);
		int step = ccore_paging_step(&pg, got, more && !limit);
		if (step < 0) {
			rc = lc_core_fail(c, step);
			goto fail;
		}
		if (!step)
			break;
	}
	lc_arena_free(&arena);
	lc_seqset_free(&seen);
	sort_by_seq(res); /* granted, held and fetched entries in the server's order */
	mark_late(res);
	if (ended)
		(void)ccore_history_done(L->k); /* warns "gap" for every number still missing */
	else
		ccore_history_begin(L->k, 0);
	if ((rc = refused_fail(c)) != CASUS_OK) {
		json_decref(res);
		return rc; /* the local copy does not move past a refused message */
	}
	if (whole && last > L->upto) {
		L->upto = last; /* everything up to here is now held */
		L->dirty = 1;
	}
	if (last) {
		json_t *r = NULL;
		if (lc_request(c,
		               json_pack("{sssssI}", "type", "casus.read", "casus", casus_hex, "seq", (json_int_t)last),
		               &r) == CASUS_OK)
			json_decref(r);
		lc_clear_err(c);
	}
	if (L->dirty)
		lc_cache_save(c, L);
	*out = res;
	return CASUS_OK;
nomem:
	rc = lc_fail(c, CASUS_E_INTERNAL, "out of memory");
fail:
	lc_arena_free(&arena);
	lc_seqset_free(&seen);
	json_decref(res);
	return rc;
}

int casus_cache_info(casus_client *c, const char *casus_hex, json_t **out)
{
	char path[1024];
	struct stat sb;
	uint8_t id[16];
	lc_clear_err(c);
	int rc = lc_parse_casus(c, casus_hex, id);
	if (rc)
		return rc;
	lc_cache_path(c, casus_hex, path, sizeof path);
	if (stat(path, &sb) != 0) {
		*out = json_pack("{sb}", "cached", 0);
		return CASUS_OK;
	}
	*out = json_pack("{sbsI}", "cached", 1, "saved", (json_int_t)sb.st_mtime);
	return CASUS_OK;
}
