/*
 * libcasus_membership.c: list, new, close, members, add/remove/level/rotate
 * commits (done only when the verified head), share (grants), a second device
 * (pairing) (libcasus_int.h).
 */
#include "libcasus_int.h"

/* ---- list / new ------------------------------------------------------------------ */

int casus_list(casus_client *c, json_t **out)
{
	lc_clear_err(c);
	json_t *r = NULL;
	int rc = lc_request(c, json_pack("{ss}", "type", "casus.list"), &r);
	if (rc)
		return rc;
	json_t *res =
		json_pack("{sOsO}", "casus", json_object_get(r, "casus"), "notices", json_object_get(r, "notices"));
	json_decref(r);
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(res, "casus"), i, o) {
		const char *hex = json_string_value(json_object_get(o, "casus"));
		struct loaded *L = NULL;
		if (!hex)
			continue;
		/* the title is in the verified chain (end-to-end encrypted to every
		 * member): fetched once when this device holds no copy with one */
		if ((!lc_load_casus_local(c, hex, &L) || !ccore_title(L->k)) && lc_load_casus(c, hex, &L) != CASUS_OK)
			L = NULL;
		lc_clear_err(c);
		if (!L)
			continue;
		const char *title = casus_title(c, hex);
		if (title)
			json_object_set_new(o, "title", json_string(title));
		/* the server's newest number below what this device saw: went back in time */
		uint64_t head = 0;
		int have_head = proto_get_u64(o, "last_seq", UINT64_MAX >> 12, &head) == 0;
		if (ccore_rollback_check(L->k, have_head, head) == CCORE_E_ROLLBACK) {
			L->dirty = 1;
			lc_cache_save(c, L);
		}
		if (ccore_diverged(L->k))
			json_object_set_new(o, "rollback", json_true());
	}
	lc_clear_err(c);
	*out = res;
	return CASUS_OK;
}

const char *casus_title(casus_client *c, const char *casus_hex)
{
	struct loaded *L = NULL;
	if (!casus_hex || !lc_load_casus_local(c, casus_hex, &L))
		return NULL;
	const char *t = ccore_title(L->k);
	if (t)
		return t;
	/* a casus made before the title travelled in the chain: its title note #1 */
	json_t *first = json_array_get(L->hist, 0);
	if (json_integer_value(json_object_get(first, "seq")) == 1 &&
	    json_is_true(json_object_get(first, "verified")) &&
	    strcmp(json_string_value(json_object_get(first, "kind")) ?: "", "title") == 0)
		return json_string_value(json_object_get(first, "text"));
	return NULL;
}

/* Device wrap keys (issue 17): the newest wrap key the directory holds for
 * each device, verified by the core against the device's certificate (the
 * server is not trusted: a record not signed by the device is refused and
 * nothing is sealed). A device without one gets its certified box key. */
int lc_wrap_fetch(casus_client *c, const cc_cert *const *certs, size_t n)
{
	if (!n)
		return CASUS_OK;
	json_t *ids = json_array();
	for (size_t i = 0; i < n; i++) {
		char hex[33];
		cc_device_id_hex(certs[i]->device_id, hex);
		json_array_append_new(ids, json_string(hex));
	}
	json_t *req = json_pack("{ssso}", "type", "dir.lookup", "devices", ids), *r = NULL;
	int rc = lc_request(c, req, &r);
	if (rc)
		return rc;
	json_t *devs = json_object_get(r, "devices"), *o;
	size_t i;
	json_array_foreach(devs, i, o) {
		uint8_t dev[16];
		uint8_t *b = NULL;
		size_t bl = 0;
		const char *hex = json_string_value(json_object_get(o, "device"));
		if (!json_object_get(o, "wrapkey") || !hex || cc_device_id_from_hex(hex, dev) != CC_OK)
			continue;
		const cc_cert *ct = NULL;
		for (size_t j = 0; j < n && !ct; j++)
			if (memcmp(certs[j]->device_id, dev, 16) == 0)
				ct = certs[j];
		if (!ct)
			continue; /* not asked for */
		int crc = proto_get_b64(o, "wrapkey", CC_WRAPKEY_BYTES, &b, &bl) == 0
		                  ? ccore_wrap_learn(c->core, b, bl, ct)
		                  : CCORE_E_TAMPERED;
		free(b);
		if (crc != CCORE_OK) {
			json_decref(r);
			return lc_core_fail(c, crc);
		}
	}
	json_decref(r);
	/* kept for the next process: a directory serving an older key later is refused */
	(void)lc_wrapkeys_save(c);
	/* a wrap key older than rotation interval + grace: the device should have
	 * rotated since (it is offline, or the server withholds its newer key) */
	int64_t now = (int64_t)time(NULL), stale = lc_wrap_stale_after();
	for (size_t j = 0; j < n; j++) {
		const cc_wrap_target *t = ccore_wrap_target(c->core, certs[j]->device_id);
		int64_t created = ccore_wrap_created(c->core, certs[j]->device_id);
		if (!t || memcmp(certs[j]->device_id, c->keys->device_id, 16) == 0 || created >= now - stale)
			continue;
		char dev[33];
		cc_device_id_hex(certs[j]->device_id, dev);
		ccore_warn(c->core, "stale_wrapkey",
		           "De sleutel van apparaat %.8s (%s) is %lld dagen oud. The newest wrap key of device %.8s "
		           "(%s) is %lld days old (version %u): the device is offline, or the server withholds a newer "
		           "one; its epoch keys are sealed to it anyway (the device checks at its next connect)",
		           dev, certs[j]->user_id, (long long)((now - created) / 86400), dev, certs[j]->user_id,
		           (long long)((now - created) / 86400), t->version);
	}
	return CASUS_OK;
}

/* The wrap keys of every device a change on st seals to: the roster and the devices it adds. */
static int wrap_fetch_for(casus_client *c, const cc_chain_state *st, const cc_commit_change *chg)
{
	size_t n = (st ? st->nroster : 0) + chg->nadd;
	const cc_cert **certs = calloc(n ? n : 1, sizeof *certs);
	if (!certs)
		return lc_fail(c, CASUS_E_INTERNAL, "out of memory");
	size_t k = 0;
	for (size_t i = 0; st && i < st->nroster; i++)
		certs[k++] = &st->roster[i].cert;
	for (size_t i = 0; i < chg->nadd; i++)
		certs[k++] = &chg->add[i];
	/* the server answers at most 256 devices per dir.lookup (a roster of 256
	 * that removes one and adds one names 257): ask in pieces */
	int rc = CASUS_OK;
	for (size_t off = 0; off < k && rc == CASUS_OK; off += 256)
		rc = lc_wrap_fetch(c, certs + off, k - off < 256 ? k - off : 256);
	free(certs);
	return rc;
}

/* Current, valid certificates of a user from the directory. */
static int lookup_user(casus_client *c, const char *user, cc_cert **certs, size_t *n)
{
	json_t *r = NULL;
	*certs = NULL;
	*n = 0;
	int rc = lc_request(c, json_pack("{ssss}", "type", "dir.lookup", "user", user), &r);
	if (rc)
		return rc;
	json_t *devs = json_object_get(r, "devices");
	size_t cnt = json_array_size(devs), i;
	json_t *o;
	cc_cert *arr = calloc(cnt ? cnt : 1, sizeof(*arr));
	if (!arr) {
		json_decref(r);
		return lc_fail(c, CASUS_E_INTERNAL, "out of memory");
	}
	int bad = CCORE_OK;
	json_array_foreach(devs, i, o) {
		uint8_t *cb = NULL;
		size_t cl = 0;
		cc_cert ct;
		/* the server's directory is only a hint: the core judges every
		 * certificate (root, validity now, revocation list); the directory
		 * lists only current devices, so a revoked one is a hostile answer */
		int crc = proto_get_b64(o, "cert", CC_CERT_MAX, &cb, &cl) == 0
		                  ? ccore_dir_cert(c->core, cb, cl, user, (int64_t)time(NULL), &ct)
		                  : CCORE_E_INVALID;
		if (crc == CCORE_OK)
			arr[(*n)++] = ct;
		else if (crc == CCORE_E_REVOKED && bad == CCORE_OK)
			bad = crc;
		free(cb);
	}
	json_decref(r);
	if (bad != CCORE_OK) {
		free(arr);
		*n = 0;
		snprintf(c->code, sizeof c->code, "revoked");
		return lc_fail(
			c, CASUS_E_VERIFY,
			"Ingetrokken apparaat in de adreslijst. The directory lists a revoked device of %s: refused, "
			"nothing is sealed to it",
			user);
	}
	if (!*n) {
		free(arr);
		return lc_fail(c, CASUS_E_NOT_FOUND, "no certified device of user %s is known to the server", user);
	}
	*certs = arr;
	return CASUS_OK;
}

int lc_aud_default(casus_client *c, const cc_chain_state *st)
{
	int role = cc_policy_role_index(&c->policy, c->cert.role);
	for (int a = 0; a < c->policy.naudiences; a++)
		if (role >= 0 && cc_entitled(&c->policy, a, role, st->level, 0))
			return a;
	return -1;
}

int casus_new(casus_client *c, const char *title, const char *purpose, const char *basis, uint8_t level,
              const char *const *members, size_t nmembers, char casus_hex[33])
{
	return casus_new_retention(c, title, purpose, basis, level, -1, members, nmembers, casus_hex);
}

/* 1 unless the verified policy says this device's role may not close a casus
 * (the server's rule: a role that may open or de-escalate one). Without a
 * policy or role at hand: 1, the server decides. */
static int role_may_close(casus_client *c)
{
	json_t *pol = casus_policy_json(c), *r;
	const char *me = casus_self_role(c);
	size_t i;
	int yes = 1;
	if (pol && me)
		json_array_foreach(json_object_get(pol, "roles"), i, r)
			if (strcmp(json_string_value(json_object_get(r, "name")) ?: "", me) == 0)
				yes = json_is_true(json_object_get(r, "may_create")) ||
				      json_is_true(json_object_get(r, "may_deescalate"));
	json_decref(pol);
	return yes;
}

int casus_close(casus_client *c, const char *casus_hex, const char *reason, int64_t *purge_after)
{
	uint8_t id[16];
	lc_clear_err(c);
	int rc = lc_parse_casus(c, casus_hex, id);
	if (rc)
		return rc;
	if (!reason || !*reason)
		return lc_fail(c, CASUS_E_USAGE, "closing a casus needs --reason");
	/* The reason is case content: it goes to the members as an ordinary
	 * end-to-end encrypted note, before the casus is closed (a closed casus
	 * takes no posts). The server never sees it; without the note, no close. */
	if (!role_may_close(c))
		goto ask; /* no note: the server refuses (and records the attempt) */
	static const char mark[] = "Casus gesloten / closed: ";
	size_t rl = strlen(reason);
	if (rl > 4096)
		return lc_fail(c, CASUS_E_USAGE, "the closing reason is too long (at most 4096 bytes)");
	char *note = malloc(sizeof mark + rl);
	if (!note)
		return lc_fail(c, CASUS_E_INTERNAL, "out of memory");
	memcpy(note, mark, sizeof mark - 1);
	memcpy(note + sizeof mark - 1, reason, rl + 1);
	uint64_t seq = 0;
	char msgid[33];
	rc = casus_post(c, casus_hex, NULL, NULL, note, &seq, msgid);
	free(note);
	if (rc == CASUS_E_QUEUED)
		return lc_fail(
			c, CASUS_E_QUEUED,
			"offline: the closing note is queued, the casus is not closed; close it again when online");
	if (rc)
		return rc;
ask:;
	json_t *r = NULL;
	rc = lc_request(c, json_pack("{ssss}", "type", "casus.close", "casus", casus_hex), &r);
	if (rc)
		return rc;
	uint64_t pa = 0;
	proto_get_u64(r, "purge_after", UINT64_MAX >> 2, &pa);
	if (purge_after)
		*purge_after = (int64_t)pa;
	json_decref(r);
	return CASUS_OK;
}

int casus_new_retention(casus_client *c, const char *title, const char *purpose, const char *basis, uint8_t level,
                        long retention_days, const char *const *members, size_t nmembers, char casus_hex[33])
{
	lc_clear_err(c);
	cc_cert *all = NULL;
	size_t nall = 0;
	int rc = CASUS_OK;
	cc_wbuf w;
	cc_w_init(&w);
	for (size_t i = 0; i < nmembers && rc == CASUS_OK; i++) {
		cc_cert *certs = NULL;
		size_t n = 0;
		if ((rc = lookup_user(c, members[i], &certs, &n)))
			break;
		cc_cert *na = realloc(all, (nall + n) * sizeof(*na));
		if (!na) {
			free(certs);
			rc = lc_fail(c, CASUS_E_INTERNAL, "out of memory");
			break;
		}
		all = na;
		memcpy(all + nall, certs, n * sizeof(*certs));
		nall += n;
		free(certs);
	}
	if (rc)
		goto out;
	uint8_t id[16];
	cc_commit_new_casus_id(id);
	ccore_casus *fresh = NULL;
	cc_commit_change chg = {.type = CC_COMMIT_CREATE,
	                        .level = level ? level : 1,
	                        .add = all,
	                        .nadd = nall,
	                        .reason = "casus opened"};
	memcpy(chg.casus_id, id, sizeof id);
	int crc = ccore_casus_new(c->core, id, &fresh);
	/* the title goes to every member in the reason box of each commit */
	if (crc == CCORE_OK && title && *title && ccore_set_title(fresh, title) != CCORE_OK) {
		ccore_casus_free(fresh);
		rc = lc_fail(c, CASUS_E_USAGE,
		             "de titel is te lang of bevat stuurtekens / the title must be text of at most %d bytes",
		             CCORE_TITLE_MAX);
		goto out;
	}
	if (crc == CCORE_OK && (rc = wrap_fetch_for(c, NULL, &chg)) != CASUS_OK) {
		ccore_casus_free(fresh);
		goto out;
	}
	if (crc == CCORE_OK)
		crc = ccore_build(fresh, &chg, (int64_t)time(NULL), &w);
	ccore_casus_free(fresh);
	if (crc != CCORE_OK || w.err) {
		rc = crc == CCORE_E_FORBIDDEN
		             ? lc_fail(c, CASUS_E_USAGE, "cannot open the casus: %s", ccore_message(c->core))
		             : lc_core_fail(c, crc ? crc : CCORE_E_NOMEM);
		goto out;
	}
	json_t *req = json_pack("{ssssss}", "type", "casus.create", "purpose", purpose, "basis", basis);
	proto_set_b64(req, "commit", w.p, w.len);
	if (retention_days >= 0)
		json_object_set_new(req, "retention_days", json_integer(retention_days));
	json_t *r = NULL;
	if ((rc = lc_request(c, req, &r)))
		goto out;
	json_decref(r);
	proto_hex16(id, casus_hex);
	if (title && *title) {
		struct loaded *L = NULL;
		if ((rc = lc_load_casus(c, casus_hex, &L)))
			goto out;
		/* also as note #1 for the creator's audience (the history shows
		 * it; clients from before the title travelled in the chain read it) */
		int aud = lc_aud_default(c, ccore_chain(L->k));
		uint64_t seq = 0;
		if (aud >= 0)
			rc = lc_queue_post(c, casus_hex, c->policy.audiences[aud].name, NULL, "title", title, &seq,
			                   NULL);
		/* the creator wrote it: not unread for them */
		json_t *rr = NULL;
		if (rc == CASUS_OK && seq &&
		    lc_request(c,
		               json_pack("{sssssI}", "type", "casus.read", "casus", casus_hex, "seq", (json_int_t)seq),
		               &rr) == CASUS_OK)
			json_decref(rr);
		if (rc == CASUS_OK)
			lc_clear_err(c);
	}
out:
	cc_w_free(&w);
	free(all);
	return rc;
}

/* ---- members and membership changes -------------------------------------------------- */

int casus_members(casus_client *c, const char *casus_hex, json_t **out)
{
	lc_clear_err(c);
	struct loaded *L = NULL;
	int rc = lc_load_casus(c, casus_hex, &L);
	if (rc)
		return rc;
	const cc_chain_state *st = ccore_chain(L->k);
	json_t *members = json_array();
	for (size_t i = 0; i < st->nroster; i++) {
		const cc_cert *ct = &st->roster[i].cert;
		json_t *m = lc_cert_json(ct);
		json_object_set_new(m, "break_glass", json_boolean(st->roster[i].flags & CC_ROSTER_BREAK_GLASS));
		json_t *auds = json_array();
		for (int a = 0; a < c->policy.naudiences; a++)
			if (cc_chain_entitled(st, &c->policy, i, a))
				json_array_append_new(auds, json_string(c->policy.audiences[a].name));
		json_object_set_new(m, "audiences", auds);
		json_array_append_new(members, m);
	}
	const char *lname =
		st->level >= 1 && st->level <= c->policy.nlevels ? c->policy.levels[st->level - 1].name : "";
	/* The chain's changes, with each reason this device could decrypt (the
	 * reason is end-to-end encrypted to the roster the commit made). */
	json_t *changes = json_array();
	for (uint64_t e = 0; e < ccore_epochs(L->k); e++) {
		ccore_commit_info_t ci;
		if (ccore_commit_info(L->k, e, &ci) != CCORE_OK)
			continue;
		const cc_cert *by = ccore_cert(L->k, ci.actor);
		const char *tname = cc_commit_type_name(ci.type);
		json_t *ch =
			json_pack("{sIsssisIss}", "epoch", (json_int_t)ci.epoch, "type", tname ? tname : "?", "level",
		                  (int)ci.level, "time", (json_int_t)ci.time, "by", by ? by->user_id : "?");
		if (ch && ci.reason)
			json_object_set_new(ch, "reason", json_string(ci.reason));
		if (ch)
			json_array_append_new(changes, ch);
	}
	*out = json_pack("{sisssIsoso}", "level", st->level, "level_name", lname, "epoch", (json_int_t)st->epoch,
	                 "members", members, "changes", changes);
	const char *title = casus_title(c, casus_hex);
	if (*out && title)
		json_object_set_new(*out, "title", json_string(title));
	return CASUS_OK;
}

/* 1 if the encoded commit leaves this device out of the roster. */
static int removes_self(const casus_client *c, const cc_wbuf *w)
{
	cc_commit cm;
	if (cc_commit_decode(w->p, w->len, &cm) != CC_OK)
		return 0;
	int in = 0;
	for (uint16_t i = 0; i < cm.nroster; i++)
		in |= memcmp(cm.roster[i].cert.device_id, c->keys->device_id, 16) == 0;
	cc_commit_free(&cm);
	return !in;
}

/* Post a commit; it is done only when the fetched chain's verified head is
 * this very commit (the core checks: withheld_commit otherwise). Until then a
 * removal it makes stays pending in the core, and nothing is posted to the
 * casus (ccore_may_post). */
static int post_commit(casus_client *c, struct loaded *L, cc_wbuf *w)
{
	int crc = ccore_expect_head(L->k, w->p, w->len);
	if (crc != CCORE_OK)
		return lc_core_fail(c, crc);
	L->dirty = 1;
	lc_cache_save(c, L); /* the pending commit survives a crash */
	json_t *req = json_pack("{ssss}", "type", "commit.post", "casus", L->hex);
	proto_set_b64(req, "commit", w->p, w->len);
	json_t *r = NULL;
	int rc = lc_request(c, req, &r);
	json_decref(r);
	if (rc == CASUS_E_SERVER && strcmp(c->code, "conflict") == 0) {
		(void)ccore_expect_head(L->k, NULL, 0); /* not taken: built again on the new head */
		return rc;
	}
	if (rc != CASUS_OK)
		return rc;
	char hex[33];
	snprintf(hex, sizeof hex, "%s", L->hex);
	struct loaded *L2;
	rc = lc_load_casus(c, hex, &L2);
	if (rc == CASUS_E_VERIFY && strcmp(c->code, "rollback") == 0 && ccore_epochs(L->k) == L->next_epoch &&
	    removes_self(c, w)) {
		/* the server no longer lets this device read the casus: that is
		 * true only if this very commit (verified here, next in the chain)
		 * removed this device, e.g. a de-escalation below the actor's level */
		if (ccore_apply_commit(L->k, w->p, w->len, (int64_t)time(NULL), 1) == CCORE_OK) {
			json_t *wrap = json_object();
			proto_set_b64(wrap, "commit", w->p, w->len);
			json_array_append(L->commits, json_object_get(wrap, "commit"));
			json_decref(wrap);
			L->next_epoch++;
			if (!ccore_is_member(L->k) && ccore_chain_done(L->k, (int64_t)time(NULL)) == CCORE_OK) {
				lc_clear_err(c);
				lc_cache_forget(c, hex);
				return CASUS_OK;
			}
		}
	}
	if (rc != CASUS_OK && ccore_pending(L->k) == 0) {
		(void)ccore_expect_head(L->k, NULL, 0); /* reported as failed; it removed nobody */
		lc_cache_save(c, L);
	}
	return rc;
}

/* Build a change with the core (the policy, root and revocation list it holds). */
static int core_build(casus_client *c, struct loaded *L, const cc_commit_change *chg, cc_wbuf *w)
{
	int wrc = wrap_fetch_for(c, ccore_chain(L->k), chg);
	if (wrc != CASUS_OK)
		return wrc;
	int crc = ccore_build(L->k, chg, (int64_t)time(NULL), w);
	if (crc == CCORE_E_FORBIDDEN) {
		snprintf(c->code, sizeof c->code, "forbidden");
		return lc_fail(c, CASUS_E_USAGE, "the policy does not allow this for your role (%s)",
		               ccore_message(c->core));
	}
	return crc == CCORE_OK ? CASUS_OK : lc_core_fail(c, crc);
}

/* Run a commit builder, rebasing on a conflict (someone else committed first). */
typedef int (*build_fn)(casus_client *c, struct loaded *L, const void *arg, cc_wbuf *w);

static int commit_with_rebase(casus_client *c, const char *casus_hex, build_fn build, const void *arg)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		struct loaded *L = NULL;
		c->building = 1;
		int rc = lc_load_casus(c, casus_hex, &L);
		c->building = 0;
		if (rc)
			return rc;
		cc_wbuf w;
		cc_w_init(&w);
		rc = build(c, L, arg, &w);
		if (rc == CASUS_OK)
			rc = post_commit(c, L, &w);
		cc_w_free(&w);
		if (rc == CASUS_E_SERVER && strcmp(c->code, "conflict") == 0) {
			lc_clear_err(c);
			continue; /* fetch the new head and build again */
		}
		return rc;
	}
	return lc_fail(c, CASUS_E_SERVER, "the casus keeps changing; try again");
}

static int build_err(casus_client *c, int crc)
{
	if (crc == CC_ERR_FORBIDDEN || crc == CC_ERR_LEVEL) {
		snprintf(c->code, sizeof c->code, "forbidden");
		return lc_fail(c, CASUS_E_USAGE, "the policy does not allow this for your role (%s)", cc_strerror(crc));
	}
	return lc_fail(c, CASUS_E_VERIFY, "cannot build the change: %s", cc_strerror(crc));
}

struct add_arg {
	const char *user;
	const char *bg_reason;
	json_t *sealed; /* may be NULL: [{user,role,device,code}] sealed to */
};

static int build_add(casus_client *c, struct loaded *L, const void *arg, cc_wbuf *w)
{
	const struct add_arg *a = arg;
	cc_cert *certs = NULL;
	size_t n = 0;
	int rc = lookup_user(c, a->user, &certs, &n);
	if (rc)
		return rc;
	/* devices not yet in the roster */
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (cc_chain_find(ccore_chain(L->k), certs[i].device_id) < 0)
			certs[k++] = certs[i];
	if (!k) {
		free(certs);
		return lc_fail(c, CASUS_E_USAGE, "%s is already a member", a->user);
	}
	cc_commit_change chg = {.type = a->bg_reason ? CC_COMMIT_BREAK_GLASS : CC_COMMIT_ADD,
	                        .add = certs,
	                        .nadd = k,
	                        .reason = a->bg_reason ? a->bg_reason : "member added"};
	rc = core_build(c, L, &chg, w);
	if (rc == CASUS_OK && a->sealed) {
		/* show whom the keys are sealed to: every device, with its pairing code */
		for (size_t i = 0; i < k; i++) {
			char dev[33], code[20];
			cc_device_id_hex(certs[i].device_id, dev);
			ccore_pairing_code(&certs[i], code);
			json_array_append_new(a->sealed, json_pack("{ssssssss}", "user", certs[i].user_id, "role",
			                                           certs[i].role, "device", dev, "code", code));
		}
	}
	free(certs);
	return rc;
}

int casus_add(casus_client *c, const char *casus_hex, const char *user, const char *break_glass_reason)
{
	lc_clear_err(c);
	struct add_arg a = {user, break_glass_reason, NULL};
	return commit_with_rebase(c, casus_hex, build_add, &a);
}

int casus_add_shown(casus_client *c, const char *casus_hex, const char *user, const char *break_glass_reason,
                    json_t **sealed)
{
	lc_clear_err(c);
	struct add_arg a = {user, break_glass_reason, json_array()};
	int rc = commit_with_rebase(c, casus_hex, build_add, &a);
	if (rc == CASUS_OK) {
		*sealed = a.sealed;
		return rc;
	}
	json_decref(a.sealed);
	return rc;
}

struct remove_arg {
	const char *user;
	const char *reason;
};

static int build_remove(casus_client *c, struct loaded *L, const void *arg, cc_wbuf *w)
{
	const struct remove_arg *a = arg;
	const cc_chain_state *st = ccore_chain(L->k);
	uint8_t(*ids)[16] = calloc(st->nroster ? st->nroster : 1, 16);
	size_t n = 0;
	if (!ids)
		return lc_fail(c, CASUS_E_INTERNAL, "out of memory");
	for (size_t i = 0; i < st->nroster; i++)
		if (strcmp(st->roster[i].cert.user_id, a->user) == 0)
			memcpy(ids[n++], st->roster[i].cert.device_id, 16);
	if (!n) {
		free(ids);
		return lc_fail(c, CASUS_E_NOT_FOUND, "%s is not a member of this casus", a->user);
	}
	cc_commit_change chg = {.type = CC_COMMIT_REMOVE,
	                        .remove = (const uint8_t(*)[16])ids,
	                        .nremove = n,
	                        .reason = a->reason ? a->reason : "member removed"};
	int rc = core_build(c, L, &chg, w);
	free(ids);
	return rc;
}

int casus_remove(casus_client *c, const char *casus_hex, const char *user, const char *reason)
{
	lc_clear_err(c);
	struct remove_arg a = {user, reason};
	return commit_with_rebase(c, casus_hex, build_remove, &a);
}

struct level_arg {
	uint8_t level;
	const char *reason;
};

static int build_level(casus_client *c, struct loaded *L, const void *arg, cc_wbuf *w)
{
	const struct level_arg *a = arg;
	const cc_chain_state *st = ccore_chain(L->k);
	if (a->level == st->level)
		return lc_fail(c, CASUS_E_USAGE, "the casus is at level %u already", a->level);
	cc_commit_change chg = {.type = a->level > st->level ? CC_COMMIT_ESCALATE : CC_COMMIT_DEESCALATE,
	                        .level = a->level,
	                        .reason = a->reason};
	return core_build(c, L, &chg, w);
}

int casus_set_level(casus_client *c, const char *casus_hex, uint8_t level, const char *reason)
{
	lc_clear_err(c);
	if (!reason || !*reason)
		return lc_fail(c, CASUS_E_USAGE, "a level change needs --reason");
	struct level_arg a = {level, reason};
	return commit_with_rebase(c, casus_hex, build_level, &a);
}

static int build_rotate(casus_client *c, struct loaded *L, const void *arg, cc_wbuf *w)
{
	cc_commit_change chg = {.type = CC_COMMIT_ROTATE, .reason = arg ? (const char *)arg : "rotation"};
	return core_build(c, L, &chg, w);
}

int casus_rotate(casus_client *c, const char *casus_hex, const char *reason)
{
	lc_clear_err(c);
	return commit_with_rebase(c, casus_hex, build_rotate, reason);
}

/* ---- share (grant) ------------------------------------------------------------------- */

int casus_share(casus_client *c, const char *casus_hex, const char *user, const char *const *msgids, size_t n,
                const char *ground, const char *reason)
{
	lc_clear_err(c);
	struct loaded *L = NULL;
	int rc = lc_load_casus(c, casus_hex, &L);
	if (rc)
		return rc;
	int g = ground ? cc_ground_from_name(ground) : -1;
	if (g <= 0)
		return lc_fail(c, CASUS_E_USAGE, "sharing history needs --ground (consent, legal_duty, ...)");
	if (!reason || !*reason)
		return lc_fail(c, CASUS_E_USAGE, "sharing history needs --reason");
	const cc_chain_state *st = ccore_chain(L->k);
	uint8_t(*grantees)[16] = calloc(st->nroster ? st->nroster : 1, 16);
	size_t ng = 0;
	for (size_t i = 0; grantees && i < st->nroster; i++)
		if (strcmp(st->roster[i].cert.user_id, user) == 0)
			memcpy(grantees[ng++], st->roster[i].cert.device_id, 16);
	if (!ng) {
		free(grantees);
		return lc_fail(c, CASUS_E_NOT_FOUND, "%s is not a member of this casus: add them first", user);
	}
	/* find the messages by id in the history this device can read */
	json_t *hist = NULL;
	uint8_t **msgs = calloc(n ? n : 1, sizeof(*msgs));
	size_t *lens = calloc(n ? n : 1, sizeof(*lens));
	size_t found = 0;
	uint64_t cursor = 0;
	ccore_pager pg = {0};
	/* messages this client listed already (casus_history) are granted as
	 * they were listed: a listing is a read the audit trail records, so the
	 * server is asked again only for the ids not listed here yet */
	for (size_t k = 0; msgs && lens && k < n; k++) {
		json_t *o = json_object_get(L->raw, msgids[k]);
		uint8_t *mb = NULL;
		size_t ml = 0;
		cc_message m;
		char mid[33];
		if (!o || proto_get_b64(o, "msg", PROTO_MAX_FRAME, &mb, &ml) != 0 ||
		    cc_message_decode(mb, ml, &m) != CC_OK) {
			free(mb);
			continue;
		}
		proto_hex16(m.h.message_id, mid);
		if (strcmp(mid, msgids[k]) != 0) {
			free(mb);
			continue;
		}
		msgs[k] = mb;
		lens[k] = ml;
		found++;
	}
	while (msgs && lens && found < n && rc == CASUS_OK) {
		json_t *r = NULL;
		rc = lc_request(c,
		                json_pack("{sssssIsi}", "type", "history", "casus", casus_hex, "after",
		                          (json_int_t)cursor, "limit", 500),
		                &r);
		if (rc)
			break;
		size_t i, got = 0;
		json_t *o;
		json_array_foreach(json_object_get(r, "messages"), i, o) {
			uint8_t *mb = NULL;
			size_t ml = 0;
			uint64_t seq = 0;
			proto_get_u64(o, "seq", UINT64_MAX >> 12, &seq);
			if (seq <= cursor || proto_get_b64(o, "msg", PROTO_MAX_FRAME, &mb, &ml))
				continue;
			cursor = seq;
			got++;
			cc_message m;
			char mid[33];
			int used = 0;
			if (cc_message_decode(mb, ml, &m) == CC_OK) {
				proto_hex16(m.h.message_id, mid);
				for (size_t k = 0; k < n; k++)
					if (!msgs[k] && strcmp(msgids[k], mid) == 0) {
						msgs[k] = mb;
						lens[k] = ml;
						found++;
						used = 1;
						break;
					}
			}
			if (!used)
				free(mb);
		}
		int more = json_is_true(json_object_get(r, "more"));
		json_decref(r);
		int step = ccore_paging_step(&pg, got, more);
		if (step < 0)
			rc = lc_core_fail(c, step);
		if (step <= 0)
			break;
	}
	json_decref(hist);
	if (rc == CASUS_OK && found < n)
		rc = lc_fail(c, CASUS_E_NOT_FOUND, "%zu of the %zu messages are not in the history you can read",
		             n - found, n);
	if (rc == CASUS_OK) {
		/* the grantees' newest wrap keys, each verified against its
		 * certificate: the boxes are sealed to them (docs/CRYPTO.md) */
		const cc_cert **gcerts = calloc(ng, sizeof *gcerts);
		for (size_t k = 0; gcerts && k < ng; k++)
			gcerts[k] = &st->roster[cc_chain_find(st, grantees[k])].cert;
		rc = gcerts ? lc_wrap_fetch(c, gcerts, ng) : lc_fail(c, CASUS_E_INTERNAL, "out of memory");
		free(gcerts);
	}
	if (rc == CASUS_OK) {
		cc_wbuf w;
		cc_w_init(&w);
		size_t nwt = 0;
		const cc_wrap_target *wt = ccore_wrap_targets(c->core, &nwt);
		int crc = cc_casus_grant_wraps(ccore_cc(L->k), &c->policy, (const uint8_t(*)[16])grantees, ng,
		                               (const uint8_t *const *)msgs, lens, n, (uint8_t)g, reason, wt, nwt,
		                               (int64_t)time(NULL), &w);
		if (crc != CC_OK || w.err) {
			rc = crc == CC_ERR_FORBIDDEN ? build_err(c, crc)
			                             : lc_fail(c, CASUS_E_VERIFY, "cannot share: %s", cc_strerror(crc));
		} else {
			json_t *req = json_pack("{ssss}", "type", "grant.post", "casus", casus_hex);
			proto_set_b64(req, "grant", w.p, w.len);
			json_t *r = NULL;
			rc = lc_request(c, req, &r);
			json_decref(r);
		}
		cc_w_free(&w);
	}
	for (size_t k = 0; k < n; k++)
		free(msgs[k]);
	free(msgs);
	free(lens);
	free(grantees);
	return rc;
}

/* ---- a user's second device ------------------------------------------------------- */

/* Accept key transfers sealed to this device (its user's other device passed
 * the keys of epochs before this device joined). */
void lc_accept_transfers(casus_client *c, struct loaded *L)
{
	json_t *r = NULL;
	if (lc_request(c, json_pack("{ssss}", "type", "transfer.fetch", "casus", L->hex), &r) != CASUS_OK) {
		lc_clear_err(c);
		return;
	}
	size_t i, total = 0;
	json_t *o;
	json_array_foreach(json_object_get(r, "transfers"), i, o) {
		uint8_t *tb = NULL;
		size_t tl = 0, got = 0;
		cc_transfer t;
		if (proto_get_b64(o, "transfer", CC_TRANSFER_MAX_BYTES, &tb, &tl) == 0 &&
		    cc_transfer_decode(tb, tl, &t) == CC_OK && memcmp(t.to, c->keys->device_id, 16) == 0)
			(void)lc_wraps_need(c, t.wrap); /* a wrap key another process made */
		if (tb && ccore_accept_transfer(L->k, tb, tl, &got) == CCORE_OK)
			total += got;
		free(tb);
	}
	json_decref(r);
	if (total) {
		/* entries decoded without these keys are fetched again */
		json_array_clear(L->hist);
		L->upto = 0;
		L->dirty = 1;
	}
}

struct own_arg {
	size_t added;
	const char *code; /* pairing code the new device showed (NULL: none given) */
	int unpaired;     /* candidates existed but none matched the code */
};

static int build_add_own(casus_client *c, struct loaded *L, const void *arg, cc_wbuf *w)
{
	struct own_arg *a = (struct own_arg *)(uintptr_t)arg;
	cc_cert *certs = NULL;
	size_t n = 0;
	a->added = 0;
	int rc = lookup_user(c, c->cert.user_id, &certs, &n);
	if (rc)
		return rc;
	/* explicit pairing: only the device whose pairing code (shown by
	 * `casus whoami` on the new device) the user typed, never every device
	 * the directory lists */
	size_t k = 0, candidates = 0;
	for (size_t i = 0; i < n; i++) {
		if (cc_chain_find(ccore_chain(L->k), certs[i].device_id) >= 0 ||
		    strcmp(certs[i].role, c->cert.role) != 0)
			continue;
		candidates++;
		char code[20];
		ccore_pairing_code(&certs[i], code);
		if (a->code && strcmp(code, a->code) == 0)
			certs[k++] = certs[i];
	}
	if (!k) {
		free(certs);
		a->unpaired = candidates > 0;
		return CASUS_E_NOT_FOUND; /* nothing to add: not an error for add-device */
	}
	cc_commit_change chg = {.type = CC_COMMIT_ADD, .add = certs, .nadd = k, .reason = "own device added"};
	int rc2 = core_build(c, L, &chg, w);
	free(certs);
	a->added = k;
	return rc2;
}

int casus_add_device(casus_client *c, const char *casus_hex, json_t **out)
{
	return casus_add_device_paired(c, casus_hex, NULL, out);
}

int casus_add_device_paired(casus_client *c, const char *casus_hex, const char *code, json_t **out)
{
	lc_clear_err(c);
	struct own_arg a = {0, code, 0};
	int rc = commit_with_rebase(c, casus_hex, build_add_own, &a);
	if (rc == CASUS_E_NOT_FOUND && !c->err[0] && a.unpaired) {
		snprintf(c->code, sizeof c->code, "pairing");
		return lc_fail(
			c, CASUS_E_USAGE,
			code ? "Geen apparaat met deze koppelcode. No new device of yours shows the pairing code %s: "
			       "check `casus whoami` on the new device"
			     : "Koppelcode nodig. Give the pairing code of the new device: casus add-device CASUS "
			       "--code CODE (the new device shows it with `casus whoami`)%s",
			code ? code : "");
	}
	if (rc == CASUS_E_NOT_FOUND && !c->err[0])
		rc = CASUS_OK; /* every device of the user is in the roster already */
	if (rc)
		return rc;
	lc_clear_err(c);
	struct loaded *L = NULL;
	if ((rc = lc_load_casus(c, casus_hex, &L)))
		return rc;
	const cc_chain_state *st = ccore_chain(L->k);
	json_t *sent = json_array();
	for (size_t i = 0; i < st->nroster && rc == CASUS_OK; i++) {
		const cc_cert *ct = &st->roster[i].cert;
		if (strcmp(ct->user_id, c->cert.user_id) != 0 || memcmp(ct->device_id, c->keys->device_id, 16) == 0 ||
		    strcmp(ct->role, c->cert.role) != 0)
			continue;
		/* sealed to the device's newest verified wrap key (its certified
		 * box key if it never published one) */
		if ((rc = lc_wrap_fetch(c, &ct, 1)) != CASUS_OK)
			break;
		cc_wbuf w;
		cc_w_init(&w);
		int crc = cc_casus_transfer_create_wrap(ccore_cc(L->k), ct, ccore_wrap_target(c->core, ct->device_id),
		                                        (int64_t)time(NULL), &w);
		if (crc != CC_OK || w.err) {
			rc = lc_fail(c, CASUS_E_VERIFY, "cannot seal the keys for device: %s", cc_strerror(crc));
		} else {
			json_t *req = json_pack("{ssss}", "type", "transfer.post", "casus", casus_hex);
			proto_set_b64(req, "transfer", w.p, w.len);
			json_t *r = NULL;
			if ((rc = lc_request(c, req, &r)) == CASUS_OK) {
				char dev[33];
				cc_device_id_hex(ct->device_id, dev);
				json_array_append_new(sent, json_string(dev));
			}
			json_decref(r);
		}
		cc_w_free(&w);
	}
	if (rc) {
		json_decref(sent);
		return rc;
	}
	*out = json_pack("{sIso}", "added", (json_int_t)a.added, "transferred", sent);
	return CASUS_OK;
}
