/*
 * libcasus_outbox.c: post and the outbox: encrypted first, written to disk,
 * then sent; the core decides whether a queued post may still go out
 * (libcasus_int.h).
 */
#include "libcasus_int.h"

/* ---- post ------------------------------------------------------------------------- */

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- outbox -------------------------------------------------------------------------
 *
 * Every post is first encrypted end to end, then written to DIR/outbox/ (sealed
 * under the cache key, fsync'd), then sent; the entry is deleted when the
 * server acknowledges it, or answers "duplicate" (the message id was stored
 * before: an earlier attempt arrived). The message id is fixed when the
 * message is encrypted, so resending the same bytes can never be stored
 * twice. If the epoch changed meanwhile (stale_epoch: the server checks the
 * epoch before the replay table), the history is searched for the id before
 * encrypting again for the new epoch.
 */

static void outbox_path(const casus_client *c, const char *name, char *out, size_t cap)
{
	snprintf(out, cap, "%s/outbox/%s", c->dir, name);
}

static int outbox_write(casus_client *c, const char *name, const json_t *e)
{
	char path[1024], bind[128];
	size_t n = 0;
	char *text = lc_dump_wipeable(e, &n);
	if (!text)
		return -1;
	outbox_path(c, name, path, sizeof path);
	snprintf(bind, sizeof bind, "%s/%s", name, c->devhex);
	int rc = sealed_write(path, c->cache_key, "outbox", bind, (const uint8_t *)text, n, 1);
	sealed_free(text, n + 1);
	return rc;
}

static json_t *outbox_read(casus_client *c, const char *name)
{
	char path[1024], bind[128];
	uint8_t *pt = NULL;
	size_t n = 0;
	outbox_path(c, name, path, sizeof path);
	snprintf(bind, sizeof bind, "%s/%s", name, c->devhex);
	if (sealed_read(path, c->cache_key, "outbox", bind, &pt, &n) != 0)
		return NULL;
	json_t *o = json_loadb((const char *)pt, n, JSON_REJECT_DUPLICATES, NULL);
	sealed_free(pt, n + 1);
	return o;
}

static void outbox_remove(casus_client *c, const char *name)
{
	char path[1024];
	outbox_path(c, name, path, sizeof path);
	unlink(path);
}

/* Mark an entry the server refused for good: kept for `casus outbox`, not resent. */
static void outbox_fail(casus_client *c, const char *name, json_t *e)
{
	char from[1024], to[1100];
	json_object_set_new(e, "failed", json_string(c->err));
	json_object_del(e, "text_wiped");
	(void)outbox_write(c, name, e);
	outbox_path(c, name, from, sizeof from);
	snprintf(to, sizeof to, "%s.failed", from);
	(void)rename(from, to);
}

/* Encrypt the entry's text for the casus' current epoch; sets msg, id, epoch. */
static int outbox_encrypt(casus_client *c, struct loaded *L, json_t *e)
{
	const char *an = json_string_value(json_object_get(e, "audience"));
	const char *gn = json_string_value(json_object_get(e, "ground"));
	const char *kind = json_string_value(json_object_get(e, "kind"));
	const char *text = json_string_value(json_object_get(e, "text"));
	int aud = an && *an ? cc_policy_audience_index(&c->policy, an) : lc_aud_default(c, ccore_chain(L->k));
	int g = gn ? cc_ground_from_name(gn) : CC_GROUND_NONE;
	if (aud < 0 || g < 0 || !text)
		return lc_fail(c, CASUS_E_USAGE, "the queued message names an unknown audience or ground");
	/* the core decides: nothing while an own removal is unconfirmed, and
	 * never for more recipients than when the post was written */
	int crc0 = ccore_may_post(L->k);
	if (crc0 == CCORE_OK)
		crc0 = ccore_outbox_may_encrypt(L->k, aud, json_object_get(e, "recipients"));
	if (crc0 != CCORE_OK)
		return lc_core_fail(c, crc0);
	if (!json_object_get(e, "recipients"))
		json_object_set_new(e, "recipients", ccore_recipients(L->k, aud));
	json_t *body = json_pack("{siss}", "v", 1, "kind", kind ? kind : "note");
	json_object_set_new(body, "text", json_string(text));
	if (json_is_object(json_object_get(e, "data"))) /* a structured note kind (ccore_notes.h) */
		json_object_set(body, "data", json_object_get(e, "data"));
	size_t ptl = 0;
	char *pt = lc_dump_wipeable(body, &ptl);
	json_decref(body);
	if (!pt)
		return lc_fail(c, CASUS_E_USAGE, "the text is not valid UTF-8");
	cc_wbuf w;
	cc_w_init(&w);
	/* the counter is gap-free per (epoch, audience): the core's stored state,
	 * raised past this device's own messages seen in the history */
	(void)ccore_prepare_send(L->k);
	int crc = cc_casus_encrypt(ccore_cc(L->k), &c->policy, aud, (uint8_t)g, (const uint8_t *)pt, ptl,
	                           (int64_t)time(NULL), &w);
	/* the used number is on disk before the message can leave the device:
	 * a crash never reuses it */
	L->dirty = 1;
	if (crc == CC_OK && lc_cache_save_durable(c, L) != 0) {
		sealed_free(pt, ptl + 1);
		cc_w_free(&w);
		return lc_fail(c, CASUS_E_PROFILE, "cannot store the send counter in %s/cache", c->dir);
	}
	sealed_free(pt, ptl + 1);
	int rc = CASUS_OK;
	cc_message m;
	if (crc != CC_OK || w.err || cc_message_decode(w.p, w.len, &m) != CC_OK) {
		if (crc == CC_ERR_GROUND_REQUIRED) {
			rc = lc_fail(c, CASUS_E_USAGE,
			             "this audience includes roles outside the care circle: give a disclosure ground "
			             "(--ground consent|legal_duty|conflict_of_duties|right_to_report|no_care_info)");
			snprintf(c->code, sizeof c->code, "ground_required");
		} else if (crc == CC_ERR_NO_KEY) {
			rc = lc_fail(c, CASUS_E_USAGE,
			             "you hold no key for the audience %s of this casus (see casus members)", an);
		} else {
			rc = lc_fail(c, CASUS_E_VERIFY, "cannot encrypt: %s", cc_strerror(crc));
		}
	} else {
		char mid[33];
		proto_hex16(m.h.message_id, mid);
		proto_set_b64(e, "msg", w.p, w.len);
		json_object_set_new(e, "audience", json_string(c->policy.audiences[aud].name));
		json_object_set_new(e, "id", json_string(mid));
		json_object_set_new(e, "epoch", json_integer((json_int_t)m.h.epoch));
	}
	cc_w_free(&w);
	return rc;
}

/* Look for a message id in the history after a sequence number. */
static int history_has_id(casus_client *c, const char *hex, uint64_t after, const char *mid, uint64_t *seq_out)
{
	uint64_t cursor = after;
	ccore_pager pg = {0};
	for (;;) {
		json_t *r = NULL;
		if (lc_request(c,
		               json_pack("{sssssIsi}", "type", "history", "casus", hex, "after", (json_int_t)cursor,
		                         "limit", 500),
		               &r) != CASUS_OK)
			return -1;
		size_t i, got = 0;
		json_t *o;
		json_array_foreach(json_object_get(r, "messages"), i, o) {
			uint8_t *mb = NULL;
			size_t ml = 0;
			uint64_t seq = 0;
			cc_message m;
			char id[33];
			if (proto_get_u64(o, "seq", UINT64_MAX >> 12, &seq) || seq <= cursor)
				continue;
			cursor = seq;
			got++;
			if (proto_get_b64(o, "msg", PROTO_MAX_FRAME, &mb, &ml) == 0 &&
			    cc_message_decode(mb, ml, &m) == CC_OK) {
				proto_hex16(m.h.message_id, id);
				if (strcmp(id, mid) == 0) {
					free(mb);
					json_decref(r);
					*seq_out = seq;
					return 1;
				}
			}
			free(mb);
		}
		int more = json_is_true(json_object_get(r, "more"));
		json_decref(r);
		int step = ccore_paging_step(&pg, got, more);
		if (step < 0)
			return -1;
		if (!step)
			break;
	}
	return 0;
}

/* Deliver one outbox entry. maybe_sent: an earlier attempt may have arrived.
 * CASUS_OK (delivered; entry removed), CASUS_E_QUEUED (kept: no connection),
 * or a refusal (entry marked failed). */
static int outbox_deliver(casus_client *c, const char *name, json_t *e, int maybe_sent, uint64_t *seq,
                          char msgid_hex[33])
{
	const char *hex = json_string_value(json_object_get(e, "casus"));
	int rc = CASUS_OK;
	const int from_disk = maybe_sent;
	if (!hex)
		return lc_fail(c, CASUS_E_USAGE, "damaged outbox entry");
	for (int attempt = 0; attempt < 4; attempt++) {
		struct loaded *L = NULL;
		/* a fresh post was just encrypted against the state casus_post loaded */
		if (attempt == 0 && !maybe_sent && json_object_get(e, "msg") && lc_load_casus_local(c, hex, &L)) {
		} else if ((rc = lc_load_casus(c, hex, &L)) != CASUS_OK) {
			if (rc == CASUS_E_NETWORK && !casus_is_online(c))
				rc = CASUS_E_QUEUED;
			break;
		}
		const cc_chain_state *st = ccore_chain(L->k);
		if (!json_object_get(e, "msg") ||
		    (uint64_t)json_integer_value(json_object_get(e, "epoch")) != st->epoch) {
			if (json_object_get(e, "msg") && maybe_sent) {
				/* an older encryption may have arrived before the epoch changed */
				uint64_t found = 0;
				int h = history_has_id(c, hex,
				                       (uint64_t)json_integer_value(json_object_get(e, "after")),
				                       json_string_value(json_object_get(e, "id")), &found);
				if (h < 0) {
					rc = casus_is_online(c) ? CASUS_E_SERVER : CASUS_E_QUEUED;
					break;
				}
				if (h == 1) {
					if (seq)
						*seq = found;
					rc = CASUS_OK;
					goto delivered;
				}
			}
			if ((rc = outbox_encrypt(c, L, e)) != CASUS_OK)
				break;
			if (!casus_is_online(c)) {
				/* encrypted for the newest epoch known here; sent on the next connect */
				(void)outbox_write(c, name, e);
				rc = CASUS_E_QUEUED;
				break;
			}
			if (outbox_write(c, name, e) != 0) {
				rc = lc_fail(c, CASUS_E_PROFILE, "cannot write the outbox in %s", c->dir);
				break;
			}
		}
		if (!casus_is_online(c)) {
			rc = CASUS_E_QUEUED;
			break;
		}
		json_t *req = json_pack("{ssss}", "type", "msg.post", "casus", hex);
		json_object_set(req, "msg", json_object_get(e, "msg"));
		json_t *r = NULL;
		maybe_sent = 1;
		rc = lc_request(c, req, &r);
		if (rc == CASUS_OK) {
			if (seq)
				proto_get_u64(r, "seq", UINT64_MAX >> 12, seq);
			json_decref(r);
			goto delivered;
		}
		if (rc == CASUS_E_SERVER && strcmp(c->code, "duplicate") == 0) {
			/* an earlier attempt arrived: delivered exactly once */
			lc_clear_err(c);
			rc = CASUS_OK;
			goto delivered;
		}
		if (rc == CASUS_E_SERVER && strcmp(c->code, "stale_epoch") == 0) {
			/* the membership changed meanwhile: verify the new commits and encrypt again */
			lc_clear_err(c);
			json_object_set_new(e, "epoch", json_integer(-1));
			continue;
		}
		if (rc == CASUS_E_NETWORK)
			rc = CASUS_E_QUEUED;
		break;
	}
	if (rc == CASUS_E_QUEUED) {
		lc_clear_err(c);
		lc_fail(c, CASUS_E_QUEUED,
		        "not delivered yet: the server cannot be reached. The message is kept encrypted in the outbox "
		        "and sent on the next connect (see casus outbox)");
	} else if (rc != CASUS_OK && rc != CASUS_E_INTERNAL) {
		/* refused for good: a post queued earlier is kept (marked failed) so
		 * `casus outbox` can tell; a post made just now was reported at once */
		if (from_disk || strcmp(c->code, "audience_widened") == 0)
			outbox_fail(c, name, e);
		else
			outbox_remove(c, name);
	}
	if (msgid_hex && json_string_value(json_object_get(e, "id")))
		snprintf(msgid_hex, 33, "%s", json_string_value(json_object_get(e, "id")));
	return rc;
delivered:
	if (msgid_hex && json_string_value(json_object_get(e, "id")))
		snprintf(msgid_hex, 33, "%s", json_string_value(json_object_get(e, "id")));
	outbox_remove(c, name);
	if (seq && *seq) {
		/* A post made just now is shown by its caller and marked seen. A
		 * post from the outbox (flushed at a reconnect) is not: marking it
		 * would move the followed casus's resume point past it and past
		 * whatever others posted meanwhile, and the live view would never
		 * show either; the resume fetch that follows the flush brings both. */
		if (!from_disk)
			lc_track_mark(c, hex, *seq);
		/* our own message, for the cache */
		struct loaded *L = NULL;
		uint8_t *mb = NULL;
		size_t ml = 0;
		if (lc_load_casus_local(c, hex, &L) && proto_get_b64(e, "msg", PROTO_MAX_FRAME, &mb, &ml) == 0) {
			json_t *o = lc_decode_one(c, L, *seq, mb, ml, 0);
			json_decref(o);
		}
		free(mb);
	}
	json_array_append_new(c->delivered,
	                      json_pack("{sssssI}", "id", json_string_value(json_object_get(e, "id")) ?: "", "casus",
	                                hex, "seq", (json_int_t)(seq ? *seq : 0)));
	return CASUS_OK;
}

int lc_queue_post(casus_client *c, const char *hex, const char *audience, const char *ground, const char *kind,
                  const char *text, uint64_t *seq, char msgid_hex[33])
{
	return lc_queue_post_data(c, hex, audience, ground, kind, text, NULL, seq, msgid_hex);
}

int lc_queue_post_data(casus_client *c, const char *hex, const char *audience, const char *ground, const char *kind,
                       const char *text, const json_t *data, uint64_t *seq, char msgid_hex[33])
{
	char name[64];
	uint8_t rnd[8];
	randombytes_buf(rnd, sizeof rnd);
	/* names sort in the order the messages were written */
	snprintf(name, sizeof name, "%016llx-%02x%02x%02x%02x.bin", (unsigned long long)now_us(), rnd[0], rnd[1],
	         rnd[2], rnd[3]);
	json_t *e = json_pack("{sisssssssI}", "v", 1, "casus", hex, "audience", audience, "kind", kind, "queued",
	                      (json_int_t)time(NULL));
	json_object_set_new(e, "text", json_string(text));
	if (!json_object_get(e, "text")) {
		json_decref(e);
		return lc_fail(c, CASUS_E_USAGE, "the text is not valid UTF-8");
	}
	if (ground)
		json_object_set_new(e, "ground", json_string(ground));
	if (data)
		json_object_set_new(e, "data", json_deep_copy(data));
	struct loaded *L = NULL;
	if (lc_load_casus_local(c, hex, &L))
		json_object_set_new(e, "after", json_integer((json_int_t)lc_hist_last(L)));
	int rc = CASUS_OK;
	if (L) {
		/* the id is fixed here, at encryption, before anything is sent */
		rc = outbox_encrypt(c, L, e);
	}
	if (rc == CASUS_OK && outbox_write(c, name, e) != 0)
		rc = lc_fail(c, CASUS_E_PROFILE, "cannot write the outbox in %s", c->dir);
	if (rc == CASUS_OK)
		rc = outbox_deliver(c, name, e, 0, seq, msgid_hex);
	json_decref(e);
	return rc;
}

int casus_post(casus_client *c, const char *casus_hex, const char *audience, const char *ground, const char *text,
               uint64_t *seq, char msgid_hex[33])
{
	return casus_post_note(c, casus_hex, audience, ground, "note", text, NULL, seq, msgid_hex);
}

int casus_post_note(casus_client *c, const char *casus_hex, const char *audience, const char *ground, const char *kind,
                    const char *text, const json_t *data, uint64_t *seq, char msgid_hex[33])
{
	lc_clear_err(c);
	struct loaded *L = NULL;
	int rc = lc_load_casus(c, casus_hex, &L);
	if (rc == CASUS_E_NETWORK && !casus_is_online(c)) {
		/* never opened here and no connection: queue it, encrypted when delivered */
		lc_clear_err(c);
		L = NULL;
	} else if (rc) {
		return rc;
	}
	if (L && casus_is_online(c)) {
		/* Keys rotate on every membership change; a quiet casus still gets fresh
		 * keys at least weekly, done by whichever member posts first. */
		const char *env = getenv("CASUS_ROTATE_SECS");
		int64_t every = env && *env ? (int64_t)strtoll(env, NULL, 10) : CASUS_ROTATE_SECS;
		if (every > 0 && (int64_t)time(NULL) - ccore_chain(L->k)->time >= every) {
			if (casus_rotate(c, casus_hex, "weekly key rotation") == CASUS_OK)
				rc = lc_load_casus(c, casus_hex, &L);
			lc_clear_err(c);
			if (rc)
				return rc;
		}
	}
	if (!c->have_policy) {
		/* nothing verified on this device yet: queue the text (sealed); the
		 * audience and ground are checked when it is encrypted on delivery */
		if (seq)
			*seq = 0;
		return lc_queue_post_data(c, casus_hex, audience ? audience : "", ground, kind, text, data, seq,
		                          msgid_hex);
	}
	int aud = audience ? cc_policy_audience_index(&c->policy, audience)
	                   : (L ? lc_aud_default(c, ccore_chain(L->k)) : -2);
	if (aud == -2) {
		if (seq)
			*seq = 0;
		return lc_queue_post_data(c, casus_hex, "", ground, kind, text, data, seq, msgid_hex);
	}
	if (aud < 0 || aud >= c->policy.naudiences)
		return lc_fail(c, CASUS_E_USAGE, "unknown audience %s", audience ? audience : "(none you may use)");
	int g = CC_GROUND_NONE;
	if (ground && (g = cc_ground_from_name(ground)) < 0)
		return lc_fail(
			c, CASUS_E_USAGE,
			"unknown ground %s (consent, legal_duty, conflict_of_duties, right_to_report, no_care_info)",
			ground);
	if (L && !cc_casus_has_epoch_key(ccore_cc(L->k), ccore_chain(L->k)->epoch, aud))
		return lc_fail(c, CASUS_E_USAGE, "you are not in the audience %s of this casus",
		               c->policy.audiences[aud].name);
	if (seq)
		*seq = 0;
	return lc_queue_post_data(c, casus_hex, c->policy.audiences[aud].name, ground, kind, text, data, seq,
	                          msgid_hex);
}

/* casus outbox: deliver what can be delivered, list the rest. */
int casus_outbox_flush(casus_client *c)
{
	char dpath[1024];
	int delivered = 0;
	lc_path_in(dpath, sizeof dpath, c->dir, "outbox");
	if (!casus_is_online(c))
		return 0;
	/* one process at a time (a live view and a command may share a profile);
	 * a second sender would still be safe: the server answers "duplicate" */
	char lpath[1100];
	snprintf(lpath, sizeof lpath, "%s/.lock", dpath);
	int lfd = open(lpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lfd < 0 || flock(lfd, LOCK_EX | LOCK_NB) != 0) {
		if (lfd >= 0)
			close(lfd);
		return 0;
	}
	struct dirent **names = NULL;
	int n = scandir(dpath, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		size_t l = strlen(nm);
		if (l > 4 && strcmp(nm + l - 4, ".bin") == 0 && casus_is_online(c)) {
			json_t *e = outbox_read(c, nm);
			if (e) {
				uint64_t seq = 0;
				if (outbox_deliver(c, nm, e, 1, &seq, NULL) == CASUS_OK)
					delivered++;
				json_decref(e);
			}
		}
		free(names[i]);
	}
	free(names);
	flock(lfd, LOCK_UN);
	close(lfd);
	return delivered;
}

int casus_outbox_list(casus_client *c, json_t **out)
{
	char dpath[1024];
	lc_path_in(dpath, sizeof dpath, c->dir, "outbox");
	json_t *pending = json_array(), *failed = json_array();
	struct dirent **names = NULL;
	int n = scandir(dpath, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		const char *nm = names[i]->d_name;
		size_t l = strlen(nm);
		int is_failed = l > 11 && strcmp(nm + l - 11, ".bin.failed") == 0;
		if (is_failed || (l > 4 && strcmp(nm + l - 4, ".bin") == 0)) {
			char base[256];
			snprintf(base, sizeof base, "%.*s", (int)(is_failed ? l - 7 : l), nm);
			char path[1024], bind[320];
			uint8_t *pt = NULL;
			size_t pl = 0;
			outbox_path(c, nm, path, sizeof path);
			snprintf(bind, sizeof bind, "%s/%s", base, c->devhex);
			json_t *e = NULL;
			if (sealed_read(path, c->cache_key, "outbox", bind, &pt, &pl) == 0) {
				e = json_loadb((const char *)pt, pl, JSON_REJECT_DUPLICATES, NULL);
				sealed_free(pt, pl + 1);
			}
			json_t *x = json_pack("{ss}", "entry", base);
			if (e) {
				const char *keys[] = {"casus", "audience", "ground", "id", "queued", "failed", "text"};
				for (size_t k = 0; k < sizeof keys / sizeof *keys; k++)
					if (json_object_get(e, keys[k]))
						json_object_set(x, keys[k], json_object_get(e, keys[k]));
				json_object_set_new(x, "encrypted", json_boolean(json_object_get(e, "msg") != NULL));
			} else {
				json_object_set_new(x, "error",
				                    json_string("does not open (damaged, or another device's)"));
			}
			json_decref(e);
			json_array_append_new(is_failed ? failed : pending, x);
		}
		free(names[i]);
	}
	free(names);
	*out = json_pack("{sososO}", "pending", pending, "failed", failed, "delivered", c->delivered);
	return CASUS_OK;
}
