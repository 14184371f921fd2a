/*
 * libcasus_regie.c: the case conference's agenda, agreed actions (afspraken)
 * and notices (issue 20; ccore_notes.h has the note kinds, server/h_regie.c
 * and server/notice.c the server's side).
 *
 * The content (where the meeting is, what was agreed, by whom) is a note of
 * the casus, end-to-end encrypted like any other. The server learns only the
 * content-free facts the author discloses: which casus is on the agenda of
 * which date (agenda.plan), and an action's opaque id, due date and done flag
 * (action.disclose), so it can signal overdue actions without content.
 */
#include "libcasus_int.h"

#include <ccore_notes.h>

static int casus_id_ok(casus_client *c, const char *hex, uint8_t cid[16])
{
	json_t *o = json_pack("{ss}", "casus", hex ? hex : "");
	int bad = !o || proto_get_id16(o, "casus", cid) != 0;
	json_decref(o);
	return bad ? lc_fail(c, CASUS_E_USAGE, "a casus id is 32 hex digits") : CASUS_OK;
}

static int may_overview(const casus_client *c)
{
	return c->have_policy &&
	       cc_policy_may_overview(&c->policy, cc_policy_role_index(&c->policy, c->have_cert ? c->cert.role : ""));
}

int casus_agenda_plan(casus_client *c, const char *casus_hex, int64_t date, const char *place, const char *audience,
                      const char *ground, json_t **out)
{
	lc_clear_err(c);
	*out = NULL;
	uint8_t cid[16], aid[16];
	char ahex[33];
	int rc = casus_id_ok(c, casus_hex, cid);
	if (rc)
		return rc;
	randombytes_buf(aid, sizeof aid);
	proto_hex16(aid, ahex);
	struct loaded *L = NULL;
	int lrc = lc_load_casus(c, casus_hex, &L);
	int member = lrc == CASUS_OK && ccore_is_member(L->k);
	if (!member && !may_overview(c))
		return lrc ? lrc : lc_fail(c, CASUS_E_SERVER, "you are not a member of this casus");
	lc_clear_err(c);
	uint64_t seq = 0;
	if (member) {
		/* the details, end to end encrypted into the casus, before the date is disclosed */
		json_t *data = ccore_note_agenda(aid, date, place ? place : "", 1);
		char text[600];
		if (!data || ccore_note_text("agenda", data, text, sizeof text) != CCORE_OK) {
			json_decref(data);
			sodium_memzero(text, sizeof text);
			return lc_fail(c, CASUS_E_USAGE,
			               "the place is empty or longer than %d bytes, or the date is invalid",
			               CCORE_NOTE_PLACE_MAX);
		}
		char mid[33];
		rc = casus_post_note(c, casus_hex, audience, ground, "agenda", text, data, &seq, mid);
		sodium_memzero(text, sizeof text); /* the note's sentence (the place): plaintext */
		json_decref(data);
		if (rc)
			return rc; /* queued too: the date is disclosed only once the note is in the casus */
	}
	json_t *r = NULL;
	rc = lc_request(c,
	                json_pack("{sssssssI}", "type", "agenda.plan", "casus", casus_hex, "agenda", ahex, "date",
	                          (json_int_t)date),
	                &r);
	if (rc)
		return rc;
	*out = json_pack("{sssssIsbsIsO}", "casus", casus_hex, "agenda", ahex, "date", (json_int_t)date, "note", member,
	                 "seq", (json_int_t)seq, "noticed", json_object_get(r, "noticed"));
	json_decref(r);
	return CASUS_OK;
}

int casus_agenda_list(casus_client *c, json_t **out)
{
	lc_clear_err(c);
	*out = NULL;
	json_t *r = NULL;
	int rc = lc_request(c, json_pack("{ss}", "type", "agenda.list"), &r);
	if (rc)
		return rc;
	json_t *arr = json_deep_copy(json_object_get(r, "agenda"));
	json_decref(r);
	if (!arr)
		return lc_fail(c, CASUS_E_INTERNAL, "out of memory");
	/* the place from the casus's agenda note where this device can read it */
	size_t i;
	json_t *o;
	json_array_foreach(arr, i, o) {
		if (!json_is_true(json_object_get(o, "member")))
			continue;
		json_t *h = NULL;
		const char *hex = json_string_value(json_object_get(o, "casus"));
		if (!hex || casus_history(c, hex, 0, 0, &h) != CASUS_OK) {
			lc_clear_err(c);
			continue;
		}
		size_t j;
		json_t *e;
		json_array_foreach(h, j, e) {
			json_t *d = json_object_get(e, "data");
			if (strcmp(json_string_value(json_object_get(e, "kind")) ?: "", "agenda") == 0 && d &&
			    strcmp(json_string_value(json_object_get(d, "agenda")) ?: "",
			           json_string_value(json_object_get(o, "agenda")) ?: "-") == 0)
				json_object_set(o, "place", json_object_get(d, "place"));
		}
		json_decref(h);
	}
	*out = arr;
	return CASUS_OK;
}

int casus_actions(casus_client *c, const char *casus_hex, json_t **out)
{
	lc_clear_err(c);
	*out = NULL;
	json_t *h = NULL;
	int rc = casus_history(c, casus_hex, 0, 0, &h);
	if (rc)
		return rc;
	*out = ccore_actions_fold(h);
	json_decref(h);
	return CASUS_OK;
}

/* The user is in the casus's roster. */
static int is_member_user(casus_client *c, const char *casus_hex, const char *user)
{
	json_t *m = NULL;
	int found = 0;
	if (casus_members(c, casus_hex, &m) != CASUS_OK)
		return 0;
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(m, "members"), i, o)
		found |= strcmp(json_string_value(json_object_get(o, "user")) ?: "", user) == 0;
	json_decref(m);
	return found;
}

static int action_note(casus_client *c, const char *casus_hex, const uint8_t aid[16], const char *what, const char *who,
                       int64_t due, int done, int disclose, const char *audience, const char *ground)
{
	json_t *data = ccore_note_action(aid, what, who, due, done, disclose);
	char text[1200];
	if (!data || ccore_note_text("afspraak", data, text, sizeof text) != CCORE_OK) {
		json_decref(data);
		sodium_memzero(text, sizeof text);
		return lc_fail(c, CASUS_E_USAGE,
		               "what was agreed is empty or longer than %d bytes, or the date is invalid",
		               CCORE_NOTE_WHAT_MAX);
	}
	uint64_t seq = 0;
	char mid[33], ahex[33];
	int rc = casus_post_note(c, casus_hex, audience, ground, "afspraak", text, data, &seq, mid);
	sodium_memzero(text, sizeof text); /* the note's sentence: plaintext */
	json_decref(data);
	if (rc || !disclose)
		return rc;
	proto_hex16(aid, ahex);
	json_t *r = NULL;
	rc = lc_request(c,
	                json_pack("{sssssssIsb}", "type", "action.disclose", "casus", casus_hex, "action", ahex, "due",
	                          (json_int_t)due, "done", done),
	                &r);
	json_decref(r);
	return rc;
}

int casus_action_add(casus_client *c, const char *casus_hex, const char *what, const char *who, int64_t due,
                     int disclose, const char *audience, const char *ground, char action_hex[33])
{
	lc_clear_err(c);
	uint8_t aid[16];
	if (!who || !is_member_user(c, casus_hex, who))
		return c->err[0] ? CASUS_E_SERVER
		                 : lc_fail(c, CASUS_E_USAGE, "%s is not a member of this casus (see casus members)",
		                           who ? who : "(nobody)");
	randombytes_buf(aid, sizeof aid);
	proto_hex16(aid, action_hex);
	return action_note(c, casus_hex, aid, what, who, due, 0, disclose, audience, ground);
}

int casus_action_done(casus_client *c, const char *casus_hex, const char *action_prefix, const char *audience,
                      const char *ground, char action_hex[33])
{
	json_t *acts = NULL;
	int rc = casus_actions(c, casus_hex, &acts);
	if (rc)
		return rc;
	size_t i, n = 0, pl = action_prefix ? strlen(action_prefix) : 0;
	json_t *o, *hit = NULL;
	json_array_foreach(acts, i, o) {
		const char *a = json_string_value(json_object_get(o, "action"));
		if (pl >= 4 && a && strncmp(a, action_prefix, pl) == 0) {
			hit = o;
			n++;
		}
	}
	if (n != 1) {
		json_decref(acts);
		return lc_fail(c, n ? CASUS_E_USAGE : CASUS_E_NOT_FOUND,
		               n ? "%s names more than one action: give more of its id"
		                 : "no action %s in this casus (casus afspraken lists them)",
		               action_prefix ? action_prefix : "");
	}
	uint8_t aid[16];
	json_t *tmp = json_pack("{sO}", "a", json_object_get(hit, "action"));
	int bad = proto_get_id16(tmp, "a", aid);
	json_decref(tmp);
	snprintf(action_hex, 33, "%s", json_string_value(json_object_get(hit, "action")));
	if (bad) {
		json_decref(acts);
		return lc_fail(c, CASUS_E_VERIFY, "the action's id does not decode");
	}
	rc = action_note(c, casus_hex, aid, json_string_value(json_object_get(hit, "what")),
	                 json_string_value(json_object_get(hit, "who")),
	                 (int64_t)json_integer_value(json_object_get(hit, "due")), 1,
	                 json_is_true(json_object_get(hit, "disclosed")), audience, ground);
	json_decref(acts);
	return rc;
}

int casus_notice_dismiss(casus_client *c, const json_t *ids, json_t **out)
{
	lc_clear_err(c);
	*out = NULL;
	json_t *req = ids ? json_pack("{sssO}", "type", "notice.dismiss", "notices", (json_t *)(uintptr_t)ids)
	                  : json_pack("{sssb}", "type", "notice.dismiss", "all", 1);
	json_t *r = NULL;
	int rc = lc_request(c, req, &r);
	if (rc)
		return rc;
	*out = json_pack("{sOsO}", "dismissed", json_object_get(r, "dismissed"), "unknown",
	                 json_object_get(r, "unknown"));
	json_decref(r);
	return CASUS_OK;
}

int casus_notices(casus_client *c, json_t **out)
{
	json_t *l = NULL;
	*out = NULL;
	int rc = casus_list(c, &l);
	if (rc)
		return rc;
	*out = json_incref(json_object_get(l, "notices"));
	if (!*out)
		*out = json_array();
	json_decref(l);
	return CASUS_OK;
}
