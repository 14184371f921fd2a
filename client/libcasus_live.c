/*
 * libcasus_live.c: live use: pushes, following casus across reconnects,
 * duplicates dropped (libcasus_int.h).
 */
#include "libcasus_int.h"

/* ---- live view helpers ----------------------------------------------------------------- */

int casus_refresh(casus_client *c, const char *casus_hex)
{
	lc_clear_err(c);
	struct loaded *L = NULL;
	return lc_load_casus(c, casus_hex, &L);
}

int casus_decode_push(casus_client *c, const json_t *push, json_t **out)
{
	const char *hex = NULL;
	uint64_t seq = 0;
	uint8_t *mb = NULL;
	size_t ml = 0;
	lc_clear_err(c);
	if (proto_get_str(push, "casus", 32, &hex) || proto_get_u64(push, "seq", UINT64_MAX >> 12, &seq) ||
	    proto_get_b64(push, "msg", PROTO_MAX_FRAME, &mb, &ml))
		return lc_fail(c, CASUS_E_USAGE, "not a message push");
	struct loaded *L = NULL;
	for (size_t i = 0; i < c->ncache; i++)
		if (strcmp(c->cache[i].hex, hex) == 0)
			L = &c->cache[i];
	cc_message m;
	int rc = CASUS_OK;
	if (!L || (cc_message_decode(mb, ml, &m) == CC_OK && m.h.epoch > ccore_chain(L->k)->epoch))
		rc = lc_load_casus(c, hex, &L);
	if (rc == CASUS_OK) {
		*out = lc_decode_one(c, L, seq, mb, ml, 1);
		/* a busy conversation writes the copy at most once a second; the rest
		 * is written when the client is freed */
		if (L->dirty && lc_mono_ms() >= L->saved_ms + 1000)
			lc_cache_save(c, L);
	}
	free(mb);
	return rc;
}

int casus_my_audiences(casus_client *c, const char *casus_hex, json_t **out)
{
	struct loaded *L = NULL;
	lc_clear_err(c);
	int rc = lc_load_casus(c, casus_hex, &L);
	if (rc)
		return rc;
	const cc_chain_state *st = ccore_chain(L->k);
	int role = cc_policy_role_index(&c->policy, c->cert.role);
	json_t *arr = json_array();
	for (int a = 0; a < c->policy.naudiences; a++) {
		if (!cc_casus_has_epoch_key(ccore_cc(L->k), st->epoch, a))
			continue;
		json_array_append_new(arr, json_pack("{sssb}", "name", c->policy.audiences[a].name, "ground_required",
		                                     role >= 0 && cc_policy_ground_required(&c->policy, a, role,
		                                                                            st->level)));
	}
	*out = arr;
	return CASUS_OK;
}

/* ---- following casus live: reconnect, resume, duplicates ------------------------- */

uint64_t lc_mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static struct tracked *find_track(casus_client *c, const char *hex)
{
	for (size_t i = 0; i < c->ntrack; i++)
		if (strcmp(c->track[i].hex, hex) == 0)
			return &c->track[i];
	return NULL;
}

static int ring_has(const struct tracked *t, uint64_t seq)
{
	for (size_t i = 0; i < t->nring; i++)
		if (t->ring[i] == seq)
			return 1;
	return 0;
}

static void ring_add(struct tracked *t, uint64_t seq)
{
	if (ring_has(t, seq))
		return;
	t->ring[t->pos] = seq;
	t->pos = (t->pos + 1) % RING;
	if (t->nring < RING)
		t->nring++;
	if (seq > t->last)
		t->last = seq;
}

void lc_track_mark(casus_client *c, const char *hex, uint64_t seq)
{
	struct tracked *t = find_track(c, hex);
	if (t && seq)
		ring_add(t, seq);
}

int casus_track(casus_client *c, const char *casus_hex, uint64_t seq)
{
	uint8_t id[16];
	lc_clear_err(c);
	int rc = lc_parse_casus(c, casus_hex, id);
	if (rc)
		return rc;
	struct tracked *t = find_track(c, casus_hex);
	if (!t) {
		if (c->ntrack == CASUS_CACHE_MAX)
			return lc_fail(c, CASUS_E_USAGE, "too many casus followed at once");
		t = &c->track[c->ntrack++];
		memset(t, 0, sizeof *t);
		snprintf(t->hex, sizeof t->hex, "%s", casus_hex);
	}
	if (seq)
		ring_add(t, seq);
	return CASUS_OK;
}

int casus_latest_seq(casus_client *c, const char *casus_hex, uint64_t *seq)
{
	lc_clear_err(c);
	*seq = 0;
	json_t *r = NULL;
	int rc = lc_request(c,
	                    json_pack("{sssssIsi}", "type", "history", "casus", casus_hex, "before",
	                              (json_int_t)(UINT64_MAX >> 12), "limit", 1),
	                    &r);
	if (rc)
		return rc;
	json_t *m = json_array_get(json_object_get(r, "messages"), 0);
	if (m)
		proto_get_u64(m, "seq", UINT64_MAX >> 12, seq);
	json_decref(r);
	return CASUS_OK;
}

/* After a (re)connect: what the followed casus missed, as pushes marked
 * "resumed", after a "commit" push if the chain moved meanwhile. */
void lc_resume_tracked(casus_client *c)
{
	for (size_t k = 0; k < c->ntrack; k++) {
		struct tracked *t = &c->track[k];
		struct loaded *L = NULL;
		for (size_t i = 0; i < c->ncache; i++)
			if (strcmp(c->cache[i].hex, t->hex) == 0)
				L = &c->cache[i];
		if (L) {
			uint64_t before = L->next_epoch;
			struct loaded *L2;
			if (lc_load_casus(c, t->hex, &L2) == CASUS_OK && L2->next_epoch != before)
				json_array_append_new(c->pending, json_pack("{sssssb}", "push", "commit", "casus",
				                                            t->hex, "resumed", 1));
		}
		uint64_t cursor = t->last;
		for (int pages = 0; pages < 100; pages++) {
			json_t *r = NULL;
			if (lc_request(c,
			               json_pack("{sssssIsi}", "type", "history", "casus", t->hex, "after",
			                         (json_int_t)cursor, "limit", 500),
			               &r) != CASUS_OK)
				break;
			size_t i;
			json_t *o;
			json_array_foreach(json_object_get(r, "messages"), i, o) {
				uint64_t seq = 0;
				if (proto_get_u64(o, "seq", UINT64_MAX >> 12, &seq))
					continue;
				cursor = seq;
				json_t *p = json_pack("{sssssIsOsb}", "push", "msg", "casus", t->hex, "seq",
				                      (json_int_t)seq, "msg", json_object_get(o, "msg"), "resumed", 1);
				if (p)
					json_array_append_new(c->pending, p);
			}
			int more = json_is_true(json_object_get(r, "more"));
			json_decref(r);
			if (!more)
				break;
		}
	}
}

/* 1 if the event should be handed out (not a duplicate of a followed casus). */
static int event_filter(casus_client *c, const json_t *p)
{
	const char *kind = json_string_value(json_object_get(p, "push"));
	const char *hex = json_string_value(json_object_get(p, "casus"));
	if (!kind || !hex)
		return 1;
	if (strcmp(kind, "removed") == 0) {
		/* the push is only the server's word: the copy goes only if the
		 * verified chain (fetched now) removes this device */
		struct loaded *L = NULL;
		if (lc_load_casus(c, hex, &L) != CASUS_OK)
			ccore_warn(c->core, "rollback", "%s", c->err);
		lc_clear_err(c);
		return 1;
	}
	if (strcmp(kind, "transfer") == 0) {
		for (size_t i = 0; i < c->ncache; i++)
			if (strcmp(c->cache[i].hex, hex) == 0)
				c->cache[i].xfer_checked = 0;
		return 1;
	}
	if (strcmp(kind, "msg") != 0)
		return 1;
	struct tracked *t = find_track(c, hex);
	if (!t)
		return 1;
	uint64_t seq = (uint64_t)json_integer_value(json_object_get(p, "seq"));
	if (ring_has(t, seq))
		return 0;
	ring_add(t, seq);
	return 1;
}

static json_t *state_event(const char *state, unsigned retry_ms)
{
	return json_pack("{sssssi}", "push", "connection", "state", state, "retry_in_ms", (int)retry_ms);
}

json_t *casus_next_event(casus_client *c, int timeout_ms)
{
	uint64_t deadline = lc_mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	for (;;) {
		while (json_array_size(c->pending)) {
			json_t *p = json_incref(json_array_get(c->pending, 0));
			json_array_remove(c->pending, 0);
			if (event_filter(c, p))
				return p;
			json_decref(p);
		}
		uint64_t now = lc_mono_ms();
		if (casus_is_online(c)) {
			conn_poll(c->conn);
			json_t *p;
			while ((p = conn_next_push(c->conn, 0)) != NULL) {
				if (event_filter(c, p))
					return p;
				json_decref(p);
			}
			if (!casus_is_online(c)) {
				/* the server went away: retry soon, with backoff and jitter */
				c->backoff_ms = BACKOFF_MIN_MS;
				c->next_retry_ms = now + BACKOFF_MIN_MS / 2 + randombytes_uniform(BACKOFF_MIN_MS / 2);
				c->offline_reported = 1;
				return state_event("offline", (unsigned)(c->next_retry_ms - now));
			}
			if (now >= deadline)
				return NULL;
			uint64_t left = deadline - now;
			p = conn_next_push(c->conn, (int)(left > 100 ? 100 : left));
			if (p) {
				if (event_filter(c, p))
					return p;
				json_decref(p);
			}
			continue;
		}
		if (now >= c->next_retry_ms) {
			int rc = casus_client_connect(c);
			if (rc == CASUS_OK) {
				c->offline_reported = 0;
				json_array_insert_new(c->pending, 0, state_event("online", 0));
				continue;
			}
			if (rc != CASUS_E_NETWORK) {
				/* authentication or verification refused: not a network blip */
				c->next_retry_ms = lc_mono_ms() + BACKOFF_MAX_MS;
				return json_pack("{sssssssi}", "push", "connection", "state", "refused", "message",
				                 c->err, "retry_in_ms", (int)BACKOFF_MAX_MS);
			}
			unsigned b = c->backoff_ms;
			c->backoff_ms = b * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : b * 2;
			/* full jitter in [b/2, b): clients do not all come back at once */
			unsigned wait = b / 2 + randombytes_uniform(b / 2 > 0 ? b / 2 : 1);
			c->next_retry_ms = lc_mono_ms() + wait;
			return state_event("offline", wait);
		}
		if (now >= deadline)
			return NULL;
		uint64_t left = deadline - now, until = c->next_retry_ms - now;
		if (until < left)
			left = until;
		(void)poll(NULL, 0, (int)(left > 100 ? 100 : left));
	}
}

int casus_event_fd(const casus_client *c)
{
	return c->conn ? conn_fd(c->conn) : -1;
}

int casus_event_wait_ms(const casus_client *c)
{
	if (json_array_size(c->pending))
		return 0;
	if (casus_is_online(c))
		return 1000;
	uint64_t now = lc_mono_ms();
	return c->next_retry_ms > now ? (int)(c->next_retry_ms - now) : 0;
}

void casus_set_offline(casus_client *c)
{
	/* after a failed first connect: casus_next_event retries on its own */
	c->next_retry_ms = lc_mono_ms() + c->backoff_ms;
}
