/*
 * h_regie.c: the procesregie family: the content-free overview of every casus
 * (regie.overview), the monitoring figures (regie.monitor) and the stagnation
 * signals and notices (regie_tick, from the tick).
 *
 * Everything here is computed from what casusd stores in the clear anyway:
 * the casus record (opening and closing times), the verified commit chain
 * (levels, level changes and their times, the roster's certificates: role and
 * organisation) and the clear header of the newest message (its time). No key,
 * no ciphertext, no casus title, no reason text and no name is read or sent.
 *
 * Who may ask is the signed policy's decision: regie.overview needs the
 * role's may_overview, regie.monitor its may_monitor (version 2 policies).
 * Every read is an audit entry (event overview / monitor); a refusal is a
 * "denied" entry of the same event.
 *
 * Stagnation: a level of the policy may set stale_note_days (no note for that
 * many days) and stale_level_weeks (no level change for that many weeks). The
 * overview flags an open casus that meets one; regie_tick sends the users whose
 * role has may_overview one notice per signal and reference time (the time of
 * the last note, or of the last level change), so a casus that stays stuck is
 * not noticed again every tick, and one that moves and sticks again is. The
 * server's wall clock is the only clock (tests shift it with faketime).
 * Agreed actions: an open disclosed action flags the casus once it is more
 * than the level's overdue_actions_days past its due date (version 3; 0 = no
 * overdue signal at that level); under a version 2 policy from its due date on
 * at every level (cc_policy_overdue_after). The overview's actions.overdue
 * still counts every open action past its due date.
 *
 * Monitoring figures are counts; any count from 1 to 4 is suppressed (sent as
 * null) so that no person can be singled out, and no totals are sent next to
 * a breakdown, so a suppressed cell cannot be recovered by subtraction.
 */
#include "audit.h"
#include "clock.h"
#include "handlers.h"
#include "log.h"
#include "notice.h"
#include "outbuf.h"
#include "reply.h"
#include "rt.h"
#include "schema.h"

#include <cc_buf.h>
#include <cc_commit.h>
#include <cc_err.h>
#include <cc_message.h>
#include <proto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REGIE_EVERY_TICKS 60                   /* stagnation scan: at start, then once a minute */
#define REGIE_SMALL_CELL 5                     /* counts 1..4 are suppressed */
#define REGIE_MONTHS_MAX 240                   /* months in the monitoring table */
#define REGIE_ORGS_MAX 256                     /* organisations in the monitoring table */
#define REGIE_MEMBERS_MAX 64                   /* (role, organisation) pairs per casus */
#define REGIE_SIGNAL_NOTE 1                    /* no note for stale_note_days */
#define REGIE_SIGNAL_LEVEL 2                   /* no level change for stale_level_weeks */
#define REGIE_SIGNAL_ACTION 4                  /* a disclosed agreed action is past its due date and not done */
#define REGIE_SIGNAL_ACTION_KEY 3              /* its byte in the "stag/" meta key */
#define REGIE_AGENDA_AHEAD (2 * 366 * 86400LL) /* a meeting at most two years ahead */
#define REGIE_DUE_AHEAD (10 * 366 * 86400LL)   /* a due date at most ten years ahead */
#define REGIE_AGENDA_MAX 1000                  /* entries in one agenda.list reply */

/* A member kind of a casus: role and organisation, and how many users. */
struct regie_member {
	char role[CC_ROLE_MAX + 1];
	char org[CC_ORG_MAX + 1];
	char user[CC_USER_ID_MAX + 1]; /* the first user seen, to count users (never sent) */
	unsigned users;
};

/* The content-free facts of one casus. */
struct regie_facts {
	uint8_t id[16];
	int64_t created, closed_at;
	uint8_t level;
	int64_t level_since;        /* time of the commit that set the current level */
	int64_t last_note;          /* newest message's header time (0: none) */
	int64_t last_member_change; /* newest commit that changed the roster */
	uint8_t open_escalation;    /* the level waits for a directing role that is not a member yet */
	unsigned escalations, deescalations;
	struct regie_member members[REGIE_MEMBERS_MAX];
	size_t nmembers;
	unsigned signals;                                /* REGIE_SIGNAL_* */
	int64_t note_ref;                                /* reference time of the no-note signal */
	unsigned actions, actions_open, actions_overdue; /* disclosed agreed actions */
	unsigned actions_flagged;                        /* open ones past the level's overdue threshold */
	int64_t overdue_ref;                             /* earliest due date of a flagged action */
	int64_t next_agenda;                             /* next meeting date on the agenda (0: none) */
};

/* A level event, for the monitoring figures. */
struct regie_event {
	int64_t time;
	int up;           /* 1 escalation, 0 de-escalation */
	int64_t since_up; /* de-escalation: time of the latest escalation before it (0: none) */
};

struct regie_events {
	struct regie_event *v;
	size_t n, cap;
};

static int events_add(struct regie_events *ev, int64_t t, int up, int64_t since_up)
{
	if (!ev)
		return 0;
	if (ev->n == ev->cap) {
		size_t ncap = ev->cap ? ev->cap * 2 : 64;
		struct regie_event *nv = realloc(ev->v, ncap * sizeof *nv);
		if (!nv)
			return -1;
		ev->v = nv;
		ev->cap = ncap;
	}
	ev->v[ev->n++] = (struct regie_event){t, up, since_up};
	return 0;
}

static void member_add(struct regie_facts *f, const cc_cert *c)
{
	for (size_t i = 0; i < f->nmembers; i++) {
		struct regie_member *m = &f->members[i];
		if (strcmp(m->role, c->role) == 0 && strcmp(m->org, c->org) == 0) {
			/* a user's devices are one member: count a user once per kind */
			if (strcmp(m->user, c->user_id) != 0)
				m->users++;
			return;
		}
	}
	if (f->nmembers == REGIE_MEMBERS_MAX)
		return;
	struct regie_member *m = &f->members[f->nmembers++];
	snprintf(m->role, sizeof m->role, "%s", c->role);
	snprintf(m->org, sizeof m->org, "%s", c->org);
	snprintf(m->user, sizeof m->user, "%s", c->user_id);
	m->users = 1;
}

/* 1 if a role that directs `level` (may add members, first admitted above
 * level 1 and at most at `level`) has a member in the roster; also 1 if the
 * level has no such role. */
static int directed(const struct server *srv, const cc_chain_state *st)
{
	uint32_t roles = 0;
	for (int r = 0; r < srv->policy.nroles; r++) {
		const cc_policy_role *pr = &srv->policy.roles[r];
		if (pr->min_level > 1 && pr->min_level <= st->level && pr->may_add && !pr->never_key)
			roles |= 1u << r;
	}
	if (!roles)
		return 1;
	for (uint16_t i = 0; i < st->nroster; i++) {
		int ri = cc_policy_role_index(&srv->policy, st->roster[i].cert.role);
		if (ri >= 0 && (roles & (1u << ri)))
			return 1;
	}
	return 0;
}

/* The facts of one casus from its record, chain state, commits and newest
 * message header; level events go to ev (may be NULL). 0, or -1 if the casus
 * has no content any more (purged) or its records do not decode. */
static int casus_facts(struct server *srv, const uint8_t cid[16], const struct casus_record *rec, int64_t now,
                       struct regie_facts *f, struct regie_events *ev)
{
	memset(f, 0, sizeof *f);
	memcpy(f->id, cid, 16);
	f->closed_at = rec->closed_at;
	f->created = rec->created;
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || !rt->st)
		return -1;
	const cc_chain_state *st = rt->st;
	f->level = st->level;
	for (uint16_t i = 0; i < st->nroster; i++)
		member_add(f, &st->roster[i].cert);
	f->open_escalation = !f->closed_at && !directed(srv, st);

	/* the commits: level changes and roster changes, with their times */
	MDB_cursor *cur = NULL;
	uint8_t k0[SCHEMA_KEY_SEQ];
	MDB_val k = {schema_key_seq(k0, cid, 0), k0}, v;
	int64_t last_up = 0;
	uint16_t prev_roster = 0;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_COMMITS], &cur) != 0)
		return -1;
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
	     rc == 0 && k.mv_size == SCHEMA_KEY_SEQ && memcmp(k.mv_data, cid, 16) == 0;
	     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		cc_commit c;
		if (cc_commit_decode(v.mv_data, v.mv_size, &c) != CC_OK)
			continue;
		int64_t t = c.time < now ? c.time : now;
		switch (c.type) {
		case CC_COMMIT_CREATE:
			f->level_since = t;
			f->last_member_change = t;
			break;
		case CC_COMMIT_ESCALATE:
			f->level_since = t;
			f->escalations++;
			last_up = t;
			if (events_add(ev, t, 1, 0) != 0)
				log_event(LOG_WARN, "regie.events_full", NULL);
			break;
		case CC_COMMIT_DEESCALATE:
			f->level_since = t;
			f->deescalations++;
			if (events_add(ev, t, 0, last_up) != 0)
				log_event(LOG_WARN, "regie.events_full", NULL);
			if (c.nroster != prev_roster)
				f->last_member_change = t;
			break;
		case CC_COMMIT_ADD:
		case CC_COMMIT_REMOVE:
		case CC_COMMIT_BREAK_GLASS:
			f->last_member_change = t;
			break;
		default:
			break;
		}
		prev_roster = c.nroster;
		cc_commit_free(&c);
	}
	mdb_cursor_close(cur);

	/* the newest message: its clear header's time (never its content) */
	if (rt->next_msg_seq > 1 && mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_MESSAGES], &cur) == 0) {
		uint8_t km[SCHEMA_KEY_SEQ];
		k.mv_size = schema_key_seq(km, cid, rt->next_msg_seq - 1);
		k.mv_data = km;
		uint8_t aud;
		uint64_t epoch;
		const uint8_t *msg;
		size_t ml;
		cc_message m;
		if (mdb_cursor_get(cur, &k, &v, MDB_SET_KEY) == 0 &&
		    schema_msg_rec_decode(v.mv_data, v.mv_size, &aud, &epoch, &msg, &ml) == 0 &&
		    cc_message_decode(msg, ml, &m) == CC_OK)
			f->last_note = m.h.time < now ? m.h.time : now;
		mdb_cursor_close(cur);
	}

	/* disclosed agreed actions (due date, done) and agenda dates: never content */
	int64_t overdue_after = 0;
	int overdue_signal = !f->closed_at && cc_policy_overdue_after(&srv->policy, f->level, &overdue_after);
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_META], &cur) == 0) {
		static const char *const pfx[] = {SCHEMA_ACTION_PREFIX, SCHEMA_AGENDA_PREFIX};
		for (size_t p = 0; p < 2; p++) {
			uint8_t kp[SCHEMA_KEY_REGIE];
			size_t pl = schema_key_regie(kp, pfx[p], cid, NULL);
			k.mv_size = pl;
			k.mv_data = kp;
			for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
			     rc == 0 && k.mv_size == SCHEMA_KEY_REGIE && memcmp(k.mv_data, kp, pl) == 0;
			     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
				int64_t a, b;
				int done;
				if (p == 0 && schema_action_decode(v.mv_data, v.mv_size, &a, &done) == 0) {
					f->actions++;
					if (done)
						continue;
					f->actions_open++;
					if (a <= now)
						f->actions_overdue++;
					if (a <= now && overdue_signal && now - a >= overdue_after) {
						f->actions_flagged++;
						if (!f->overdue_ref || a < f->overdue_ref)
							f->overdue_ref = a;
					}
				} else if (p == 1 && schema_agenda_decode(v.mv_data, v.mv_size, &a, &b) == 0 &&
				           a >= now && (!f->next_agenda || a < f->next_agenda)) {
					f->next_agenda = a;
				}
			}
		}
		mdb_cursor_close(cur);
	}

	/* stagnation signals of the current level (open casus only) */
	if (!f->closed_at && f->level >= 1 && f->level <= srv->policy.nlevels) {
		const cc_policy_level *pl = &srv->policy.levels[f->level - 1];
		f->note_ref = f->last_note ? f->last_note : f->created;
		if (pl->stale_note_days && now - f->note_ref >= (int64_t)pl->stale_note_days * 86400)
			f->signals |= REGIE_SIGNAL_NOTE;
		if (pl->stale_level_weeks && now - f->level_since >= (int64_t)pl->stale_level_weeks * 7 * 86400)
			f->signals |= REGIE_SIGNAL_LEVEL;
		if (f->actions_flagged)
			f->signals |= REGIE_SIGNAL_ACTION;
	}
	return 0;
}

typedef void (*casus_fn)(struct server *srv, struct regie_facts *f, void *arg);

/* Every casus with content, in id order. Returns how many were visited. */
static size_t each_casus(struct server *srv, int64_t now, struct regie_events *ev, casus_fn fn, void *arg)
{
	MDB_cursor *cur = NULL;
	MDB_val k, v;
	size_t n = 0;
	struct regie_facts *f = malloc(sizeof *f);
	if (!f || mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_CASUS], &cur) != 0) {
		free(f);
		return 0;
	}
	for (int rc = mdb_cursor_get(cur, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
		struct casus_record rec;
		uint8_t cid[16];
		if (k.mv_size != SCHEMA_KEY_CASUS || ((const uint8_t *)k.mv_data)[16] != SCHEMA_CASUS_RECORD ||
		    schema_casus_rec_decode(v.mv_data, v.mv_size, &rec) != 0 || rec.purged_at)
			continue;
		memcpy(cid, k.mv_data, 16);
		if (casus_facts(srv, cid, &rec, now, f, ev) != 0)
			continue;
		fn(srv, f, arg);
		n++;
	}
	mdb_cursor_close(cur);
	free(f);
	return n;
}

static const char *level_name(const struct server *srv, uint8_t level)
{
	return level >= 1 && level <= srv->policy.nlevels ? srv->policy.levels[level - 1].name : "";
}

/* ---- regie.overview ------------------------------------------------------------- */

struct overview_ctx {
	json_t *arr;
	int64_t now;
};

static json_t *time_or_null(int64_t t)
{
	return t ? json_integer((json_int_t)t) : json_null();
}

static void overview_one(struct server *srv, struct regie_facts *f, void *arg)
{
	struct overview_ctx *ctx = arg;
	json_t *o = json_object();
	proto_set_id16(o, "casus", f->id);
	json_object_set_new(o, "level", json_integer(f->level));
	json_object_set_new(o, "level_name", json_string(level_name(srv, f->level)));
	json_object_set_new(o, "level_since", time_or_null(f->level_since));
	json_object_set_new(o, "days_at_level",
	                    json_integer(f->level_since ? (json_int_t)((ctx->now - f->level_since) / 86400) : 0));
	json_object_set_new(o, "opened", time_or_null(f->created));
	json_object_set_new(o, "closed_at", time_or_null(f->closed_at));
	json_object_set_new(o, "closed", json_boolean(f->closed_at != 0));
	json_object_set_new(o, "last_note", time_or_null(f->last_note));
	json_object_set_new(o, "last_member_change", time_or_null(f->last_member_change));
	json_object_set_new(o, "open_escalation", json_boolean(f->open_escalation));
	json_object_set_new(o, "escalations", json_integer(f->escalations));
	json_object_set_new(o, "deescalations", json_integer(f->deescalations));
	json_t *mem = json_array();
	for (size_t i = 0; i < f->nmembers; i++)
		json_array_append_new(mem, json_pack("{sssssi}", "role", f->members[i].role, "organisation",
		                                     f->members[i].org, "users", (int)f->members[i].users));
	json_object_set_new(o, "members", mem);
	json_object_set_new(o, "actions",
	                    json_pack("{sisisi}", "disclosed", (int)f->actions, "open", (int)f->actions_open, "overdue",
	                              (int)f->actions_overdue));
	json_object_set_new(o, "next_agenda", time_or_null(f->next_agenda));
	json_t *sig = json_array();
	if (f->signals & REGIE_SIGNAL_NOTE)
		json_array_append_new(sig, json_string("no_note"));
	if (f->signals & REGIE_SIGNAL_LEVEL)
		json_array_append_new(sig, json_string("no_level_change"));
	if (f->signals & REGIE_SIGNAL_ACTION)
		json_array_append_new(sig, json_string("actions_overdue"));
	json_object_set_new(o, "signals", sig);
	json_array_append_new(ctx->arr, o);
}

int h_regie_overview(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	(void)req;
	if (!cc_policy_may_overview(&srv->policy, s->role))
		return deny(s, id, PE_FORBIDDEN,
		            "your role may not read the overview of every casus (policy: may_overview)",
		            CC_AUDIT_EV_OVERVIEW, NULL);
	struct overview_ctx ctx = {json_array(), clock_wall_s()};
	size_t n = each_casus(srv, ctx.now, NULL, overview_one, &ctx);
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_OVERVIEW;
	snprintf(e.object, sizeof e.object, "overview of %zu casus", n);
	audit_log(srv, s, &e);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "casus", ctx.arr);
	json_object_set_new(r, "now", json_integer((json_int_t)ctx.now));
	json_t *stag = json_array();
	for (unsigned i = 0; i < srv->policy.nlevels; i++) {
		int64_t after = 0;
		json_t *o = json_pack("{sisisi}", "level", (int)srv->policy.levels[i].level, "no_note_days",
		                      (int)srv->policy.levels[i].stale_note_days, "no_level_change_weeks",
		                      (int)srv->policy.levels[i].stale_level_weeks);
		/* days past the due date; null: no overdue signal at this level */
		json_object_set_new(o, "overdue_actions_days",
		                    cc_policy_overdue_after(&srv->policy, srv->policy.levels[i].level, &after)
		                            ? json_integer((json_int_t)(after / 86400))
		                            : json_null());
		json_array_append_new(stag, o);
	}
	json_object_set_new(r, "stagnation", stag);
	reply_later(s, id, r);
	return 1;
}

/* ---- regie.monitor ------------------------------------------------------------------ */

struct month_row {
	int ym; /* year * 100 + month */
	unsigned opened, closed, escalations, deescalations;
};

struct org_row {
	char org[CC_ORG_MAX + 1];
	unsigned casus; /* open casus with a member of this organisation */
};

struct monitor_ctx {
	unsigned open_per_level[CC_POLICY_MAX_LEVELS + 1];
	unsigned open_escalations;
	struct month_row months[REGIE_MONTHS_MAX];
	size_t nmonths;
	struct org_row *orgs;
	size_t norgs;
};

static int month_of(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm))
		return 0;
	return (tm.tm_year + 1900) * 100 + tm.tm_mon + 1;
}

static struct month_row *month_row(struct monitor_ctx *m, int64_t t)
{
	int ym = month_of(t);
	for (size_t i = 0; i < m->nmonths; i++)
		if (m->months[i].ym == ym)
			return &m->months[i];
	if (m->nmonths == REGIE_MONTHS_MAX)
		return NULL;
	struct month_row *r = &m->months[m->nmonths++];
	memset(r, 0, sizeof *r);
	r->ym = ym;
	return r;
}

static void monitor_one(struct server *srv, struct regie_facts *f, void *arg)
{
	(void)srv;
	struct monitor_ctx *m = arg;
	struct month_row *r;
	if ((r = month_row(m, f->created)))
		r->opened++;
	if (f->closed_at && (r = month_row(m, f->closed_at)))
		r->closed++;
	if (f->closed_at)
		return;
	if (f->level <= CC_POLICY_MAX_LEVELS)
		m->open_per_level[f->level]++;
	if (f->open_escalation)
		m->open_escalations++;
	/* each organisation once per casus */
	for (size_t i = 0; i < f->nmembers; i++) {
		int seen = 0;
		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(f->members[j].org, f->members[i].org) == 0;
		if (seen)
			continue;
		size_t o;
		for (o = 0; o < m->norgs; o++)
			if (strcmp(m->orgs[o].org, f->members[i].org) == 0)
				break;
		if (o == m->norgs) {
			if (m->norgs == REGIE_ORGS_MAX)
				continue;
			snprintf(m->orgs[o].org, sizeof m->orgs[o].org, "%s", f->members[i].org);
			m->orgs[o].casus = 0;
			m->norgs++;
		}
		m->orgs[o].casus++;
	}
}

/* A count, or null if it is 1..4 (small cells are suppressed). */
static json_t *cell(unsigned n)
{
	return n > 0 && n < REGIE_SMALL_CELL ? json_null() : json_integer(n);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmp_month(const void *a, const void *b)
{
	return ((const struct month_row *)a)->ym - ((const struct month_row *)b)->ym;
}

static int cmp_org(const void *a, const void *b)
{
	return strcmp(((const struct org_row *)a)->org, ((const struct org_row *)b)->org);
}

int h_regie_monitor(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	(void)req;
	if (!cc_policy_may_monitor(&srv->policy, s->role))
		return deny(s, id, PE_FORBIDDEN, "your role may not read the monitoring figures (policy: may_monitor)",
		            CC_AUDIT_EV_MONITOR, NULL);
	struct monitor_ctx *m = calloc(1, sizeof *m);
	struct regie_events ev = {NULL, 0, 0};
	int64_t *spans = NULL;
	if (!m || !(m->orgs = calloc(REGIE_ORGS_MAX, sizeof *m->orgs))) {
		if (m)
			free(m);
		reply_error(s, id, PE_INTERNAL, "out of memory");
		return 0;
	}
	int64_t now = clock_wall_s();
	size_t n = each_casus(srv, now, &ev, monitor_one, m);

	unsigned esc = 0, desc = 0;
	size_t nspans = 0;
	spans = ev.n ? malloc(ev.n * sizeof *spans) : NULL;
	for (size_t i = 0; i < ev.n; i++) {
		struct month_row *r = month_row(m, ev.v[i].time);
		if (ev.v[i].up) {
			esc++;
			if (r)
				r->escalations++;
		} else {
			desc++;
			if (r)
				r->deescalations++;
			if (spans && ev.v[i].since_up && ev.v[i].time >= ev.v[i].since_up)
				spans[nspans++] = ev.v[i].time - ev.v[i].since_up;
		}
	}
	qsort(m->months, m->nmonths, sizeof m->months[0], cmp_month);
	qsort(m->orgs, m->norgs, sizeof m->orgs[0], cmp_org);

	json_t *r = proto_ok(id);
	json_t *levels = json_array();
	for (unsigned l = 1; l <= srv->policy.nlevels; l++)
		json_array_append_new(levels,
		                      json_pack("{sissso}", "level", (int)l, "name", level_name(srv, (uint8_t)l),
		                                "open", cell(m->open_per_level[l])));
	json_object_set_new(r, "levels", levels);
	json_object_set_new(r, "escalations", cell(esc));
	json_object_set_new(r, "deescalations", cell(desc));
	json_object_set_new(r, "open_escalations", cell(m->open_escalations));
	json_t *tt = json_object();
	json_object_set_new(tt, "count", cell((unsigned)nspans));
	if (nspans >= REGIE_SMALL_CELL) {
		qsort(spans, nspans, sizeof *spans, cmp_i64);
		int64_t med = nspans % 2 ? spans[nspans / 2] : (spans[nspans / 2 - 1] + spans[nspans / 2]) / 2;
		json_object_set_new(tt, "median_days", json_real((double)med / 86400.0));
	} else {
		json_object_set_new(tt, "median_days", json_null());
	}
	json_object_set_new(r, "time_to_deescalation", tt);
	json_t *months = json_array();
	for (size_t i = 0; i < m->nmonths; i++) {
		char ym[16];
		snprintf(ym, sizeof ym, "%04d-%02d", m->months[i].ym / 100, m->months[i].ym % 100);
		json_array_append_new(months, json_pack("{sssosososo}", "month", ym, "opened",
		                                        cell(m->months[i].opened), "closed", cell(m->months[i].closed),
		                                        "escalations", cell(m->months[i].escalations), "deescalations",
		                                        cell(m->months[i].deescalations)));
	}
	json_object_set_new(r, "months", months);
	json_t *orgs = json_array();
	for (size_t i = 0; i < m->norgs; i++)
		json_array_append_new(orgs, json_pack("{ssso}", "organisation", m->orgs[i].org, "casus",
		                                      cell(m->orgs[i].casus)));
	json_object_set_new(r, "organisations", orgs);
	json_object_set_new(r, "small_cell", json_integer(REGIE_SMALL_CELL));
	json_object_set_new(r, "generated", json_integer((json_int_t)now));
	json_object_set_new(r, "deployment", json_string(srv->policy.deployment));

	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_MONITOR;
	snprintf(e.object, sizeof e.object, "monitoring figures over %zu casus", n);
	audit_log(srv, s, &e);
	reply_later(s, id, r);
	free(spans);
	free(ev.v);
	free(m->orgs);
	free(m);
	return 1;
}

/* ---- the case conference's agenda and agreed actions ------------------------------------ */

/* The casus of a regie request: open, and the caller a member (or, with
 * overview_ok, a role with may_overview). 0 and *rt, or the refusal queued
 * (audited as `event`) and -1. */
static int regie_casus(struct session *s, json_t *req, uint64_t id, unsigned event, int overview_ok, uint8_t cid[16],
                       struct casus_rt **out)
{
	struct server *srv = s->srv;
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || !rt->st) {
		deny(s, id, PE_NOT_FOUND, "no such casus", event, cid);
		return -1;
	}
	if (!rt_is_member(rt, s->cert.device_id) && !(overview_ok && cc_policy_may_overview(&srv->policy, s->role))) {
		deny_casus(s, id, PE_FORBIDDEN,
		           overview_ok
		                   ? "only a member of the casus or the process director (policy: may_overview) may "
		                     "put it on the agenda"
		                   : "only a member of the casus may do this",
		           event, rt, cid);
		return -1;
	}
	if (rt->closed_at) {
		deny_casus(s, id, PE_INVALID, "the casus is closed", event, rt, cid);
		return -1;
	}
	(void)req;
	*out = rt;
	return 0;
}

static const char *day_of(int64_t t, char *buf, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || !strftime(buf, n, "%Y-%m-%d", &tm))
		snprintf(buf, n, "?");
	return buf;
}

/* agenda.plan {casus, agenda (opaque hex id), date}: the casus is on the
 * agenda of the case conference at `date` (UTC seconds). What, where and why
 * travel end to end encrypted in the casus (an "agenda" note); the server
 * keeps only casus, opaque id and date, and notices the casus's members. */
int h_agenda_plan(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16], aid[16];
	uint64_t date;
	int64_t now = clock_wall_s();
	if (proto_get_id16(req, "casus", cid) || proto_get_id16(req, "agenda", aid) ||
	    proto_get_u64(req, "date", (uint64_t)INT64_MAX, &date)) {
		reply_error(s, id, PE_BAD_REQUEST,
		            "agenda.plan needs \"casus\" (hex id), \"agenda\" (hex id) and \"date\" (UTC seconds)");
		return 0;
	}
	if ((int64_t)date < now - 86400 || (int64_t)date > now + REGIE_AGENDA_AHEAD) {
		reply_error(s, id, PE_INVALID,
		            "the date of the meeting must lie between yesterday and two years ahead");
		return 0;
	}
	struct casus_rt *rt;
	if (regie_casus(s, req, id, CC_AUDIT_EV_AGENDA, 1, cid, &rt) != 0)
		return 0;
	uint8_t k[SCHEMA_KEY_REGIE], val[SCHEMA_AGENDA_VAL];
	size_t kl = schema_key_regie(k, SCHEMA_AGENDA_PREFIX, cid, aid);
	schema_agenda_encode(val, (int64_t)date, now);
	if (store_put(&srv->st, DB_META, k, kl, val, sizeof val, 0) != 0)
		return deny(s, id, PE_STORAGE, "cannot store the agenda entry", CC_AUDIT_EV_AGENDA, cid);
	json_t *n = json_pack("{ss}", "notice", "agenda");
	proto_set_id16(n, "casus", cid);
	json_object_set_new(n, "date", json_integer((json_int_t)date));
	json_object_set_new(n, "time", json_integer((json_int_t)now));
	unsigned users = notice_to_roster(srv, cid, s->cert.user_id, n);
	json_decref(n);
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_AGENDA;
	memcpy(e.casus_id, cid, 16);
	e.level = rt->st->level;
	char day[16];
	snprintf(e.object, sizeof e.object, "on the agenda of %s, members noticed %u",
	         day_of((int64_t)date, day, sizeof day), users);
	audit_log(srv, s, &e);
	json_t *r = proto_ok(id);
	json_object_set_new(r, "noticed", json_integer(users));
	reply_later(s, id, r);
	return 1;
}

/* agenda.list {from?}: the agenda entries from `from` (UTC seconds; default:
 * a day ago) of the casus the caller is a member of, or of every casus for a
 * role with may_overview: [{casus, agenda, date, member}]. Dates and ids
 * only; what the caller may read of an entry is in the casus. */
int h_agenda_list(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint64_t from = 0;
	if (json_object_get(req, "from") && proto_get_u64(req, "from", (uint64_t)INT64_MAX, &from)) {
		reply_error(s, id, PE_BAD_REQUEST, "agenda.list: \"from\" is UTC seconds");
		return 0;
	}
	if (!json_object_get(req, "from"))
		from = (uint64_t)(clock_wall_s() - 86400);
	int all = cc_policy_may_overview(&srv->policy, s->role);
	json_t *arr = json_array();
	MDB_cursor *cur = NULL;
	MDB_val k = {SCHEMA_REGIE_PREFIX_LEN, (void *)(uintptr_t)SCHEMA_AGENDA_PREFIX}, v;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_META], &cur) == 0) {
		for (int rc = mdb_cursor_get(cur, &k, &v, MDB_SET_RANGE);
		     rc == 0 && k.mv_size == SCHEMA_KEY_REGIE &&
		     memcmp(k.mv_data, SCHEMA_AGENDA_PREFIX, SCHEMA_REGIE_PREFIX_LEN) == 0 &&
		     json_array_size(arr) < REGIE_AGENDA_MAX;
		     rc = mdb_cursor_get(cur, &k, &v, MDB_NEXT)) {
			int64_t date, planned;
			const uint8_t *kb = k.mv_data;
			if (schema_agenda_decode(v.mv_data, v.mv_size, &date, &planned) != 0 || date < (int64_t)from)
				continue;
			uint8_t cid[16], aid[16];
			memcpy(cid, kb + SCHEMA_REGIE_PREFIX_LEN, 16);
			memcpy(aid, kb + SCHEMA_REGIE_PREFIX_LEN + 16, 16);
			struct casus_rt *rt = rt_get(srv, cid);
			if (!rt || !rt->st || rt->closed_at)
				continue;
			int member = rt_is_member(rt, s->cert.device_id);
			if (!member && !all)
				continue;
			json_t *o = json_object();
			proto_set_id16(o, "casus", cid);
			proto_set_id16(o, "agenda", aid);
			json_object_set_new(o, "date", json_integer((json_int_t)date));
			json_object_set_new(o, "member", json_boolean(member));
			json_array_append_new(arr, o);
		}
		mdb_cursor_close(cur);
	}
	json_t *r = proto_ok(id);
	json_object_set_new(r, "agenda", arr);
	reply_later(s, id, r);
	return 1;
}

/* action.disclose {casus, action (opaque hex id), due (UTC seconds), done}:
 * a member discloses the due date and done flag of an agreed action, so the
 * overview can flag it when overdue. What was agreed and by whom stays in the
 * casus (an "afspraak" note). */
int h_action_disclose(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16], aid[16];
	uint64_t due;
	int done = 0;
	int64_t now = clock_wall_s();
	if (proto_get_id16(req, "casus", cid) || proto_get_id16(req, "action", aid) ||
	    proto_get_u64(req, "due", (uint64_t)INT64_MAX, &due) || due == 0 || proto_get_bool(req, "done", &done)) {
		reply_error(
			s, id, PE_BAD_REQUEST,
			"action.disclose needs \"casus\" and \"action\" (hex ids), \"due\" (UTC seconds) and \"done\"");
		return 0;
	}
	if ((int64_t)due > now + REGIE_DUE_AHEAD) {
		reply_error(s, id, PE_INVALID, "the due date lies more than ten years ahead");
		return 0;
	}
	struct casus_rt *rt;
	if (regie_casus(s, req, id, CC_AUDIT_EV_ACTION, 0, cid, &rt) != 0)
		return 0;
	uint8_t k[SCHEMA_KEY_REGIE], val[SCHEMA_ACTION_VAL];
	size_t kl = schema_key_regie(k, SCHEMA_ACTION_PREFIX, cid, aid);
	schema_action_encode(val, (int64_t)due, done);
	if (store_put(&srv->st, DB_META, k, kl, val, sizeof val, 0) != 0)
		return deny(s, id, PE_STORAGE, "cannot store the action", CC_AUDIT_EV_ACTION, cid);
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_ACTION;
	memcpy(e.casus_id, cid, 16);
	e.level = rt->st->level;
	char day[16], hex[33];
	proto_hex16(aid, hex);
	snprintf(e.object, sizeof e.object, "action %.8s due %s%s", hex, day_of((int64_t)due, day, sizeof day),
	         done ? ", done" : "");
	audit_log(srv, s, &e);
	reply_later(s, id, proto_ok(id));
	return 1;
}

/* ---- stagnation notices (tick) ------------------------------------------------------------ */

/* meta "stag/" casus[16] u8 signal -> i64 reference time already noticed */
static int noticed(struct server *srv, const uint8_t cid[16], unsigned signal, int64_t ref, int mark)
{
	uint8_t k[SCHEMA_KEY_STAGNATION];
	size_t kl = schema_key_stagnation(k, cid, (uint8_t)signal);
	MDB_val v;
	uint8_t val[8];
	if (!mark)
		return store_get(&srv->st, DB_META, k, kl, &v) == 0 && v.mv_size == 8 &&
		       (int64_t)store_rd64(v.mv_data) == ref;
	store_be64(val, (uint64_t)ref);
	return store_put(&srv->st, DB_META, k, kl, val, sizeof val, 0) == 0;
}

/* The roles with may_overview (bit i: policy role i). */
static uint32_t overview_roles(const struct server *srv)
{
	uint32_t roles = 0;
	for (int r = 0; r < srv->policy.nroles; r++)
		if (cc_policy_may_overview(&srv->policy, r))
			roles |= 1u << r;
	return roles;
}

struct tick_ctx {
	int64_t now;
	int failed;
};

static void stagnation_one(struct server *srv, struct regie_facts *f, void *arg)
{
	struct tick_ctx *ctx = arg;
	static const unsigned signals[] = {REGIE_SIGNAL_NOTE, REGIE_SIGNAL_LEVEL, REGIE_SIGNAL_ACTION};
	for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
		unsigned sig = signals[i];
		if (!(f->signals & sig))
			continue;
		int64_t ref = sig == REGIE_SIGNAL_NOTE    ? f->note_ref
		              : sig == REGIE_SIGNAL_LEVEL ? f->level_since
		                                          : f->overdue_ref;
		unsigned skey = sig == REGIE_SIGNAL_ACTION ? REGIE_SIGNAL_ACTION_KEY : sig;
		const char *sname = sig == REGIE_SIGNAL_NOTE    ? "no_note"
		                    : sig == REGIE_SIGNAL_LEVEL ? "no_level_change"
		                                                : "actions_overdue";
		if (noticed(srv, f->id, skey, ref, 0))
			continue;
		const cc_policy_level *pl = &srv->policy.levels[f->level - 1];
		json_t *n = json_pack("{ss}", "notice", "stagnation");
		proto_set_id16(n, "casus", f->id);
		json_object_set_new(n, "signal", json_string(sname));
		json_object_set_new(n, "level", json_integer(f->level));
		json_object_set_new(n, "level_name", json_string(level_name(srv, f->level)));
		json_object_set_new(n, "since", json_integer((json_int_t)ref));
		json_object_set_new(n, "days", json_integer((json_int_t)((ctx->now - ref) / 86400)));
		json_object_set_new(n, "threshold_days",
		                    json_integer(sig == REGIE_SIGNAL_NOTE    ? (json_int_t)pl->stale_note_days
		                                 : sig == REGIE_SIGNAL_LEVEL ? (json_int_t)pl->stale_level_weeks * 7
		                                                             : (json_int_t)pl->overdue_actions_days));
		if (sig == REGIE_SIGNAL_ACTION)
			json_object_set_new(n, "overdue", json_integer(f->actions_flagged));
		json_object_set_new(n, "time", json_integer((json_int_t)ctx->now));
		unsigned users = notice_to_roles(srv, overview_roles(srv), n);
		json_decref(n);
		if (!noticed(srv, f->id, skey, ref, 1)) {
			ctx->failed = 1;
			continue;
		}
		cc_audit_entry e;
		cc_audit_entry_init(&e);
		e.event = CC_AUDIT_EV_STAGNATION;
		memcpy(e.casus_id, f->id, 16);
		e.level = f->level;
		snprintf(e.object, sizeof e.object, "signal %s after %lld days, users noticed %u", sname,
		         (long long)((ctx->now - ref) / 86400), users);
		snprintf(e.access_point, sizeof e.access_point, "casusd procesregie");
		audit_log(srv, NULL, &e);
		log_event(LOG_INFO, "regie.stagnation", "signal=%u users=%u", sig, users);
	}
}

void regie_tick(struct server *srv)
{
	if (srv->regie_ticks++ % REGIE_EVERY_TICKS != 0 || !srv->st.env || !srv->have_policy)
		return;
	if (!store_txn(&srv->st) || store_req_begin(&srv->st) != 0)
		return;
	struct tick_ctx ctx = {clock_wall_s(), 0};
	size_t gone = notice_expire(srv, ctx.now);
	if (gone)
		log_event(LOG_INFO, "notice.expired", "count=%zu", gone);
	if (srv->policy.version >= CC_POLICY_VERSION_REGIE)
		each_casus(srv, ctx.now, NULL, stagnation_one, &ctx);
	int ok = !ctx.failed;
	store_req_end(&srv->st, ok);
	audit_request_done(srv, ok);
	if (!ok)
		log_event(LOG_ERROR, "regie.stagnation_failed", NULL);
}
