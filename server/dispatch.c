/*
 * dispatch.c: from a frame to a handler and from a turn to the disk (see
 * dispatch.h). The route table and its preconditions, the rate limit, the
 * per-request child transaction, the verifier's completions and the turn's
 * group commit.
 */
#include "dispatch.h"
#include "audit.h"
#include "fanout.h"
#include "handlers.h"
#include "log.h"
#include "notice.h"
#include "reply.h"
#include "retention.h"
#include "rt.h"
#include "schema.h"
#include "server.h"
#include "verify.h"

#include <proto.h>
#include <stdlib.h>
#include <string.h>

enum route_needs {
	ROUTE_AUTH = 1u << 0,   /* an authenticated session */
	ROUTE_POLICY = 1u << 1, /* a current signed policy */
};

struct route {
	const char *type;
	handler_fn fn;
	unsigned needs;
};

#define A ROUTE_AUTH
#define AP (ROUTE_AUTH | ROUTE_POLICY)
static const struct route routes[] = {
	{"hello", h_hello, 0},
	{"auth", h_auth, 0},
	{"ping", h_ping, 0},
	{"revlist.get", h_revlist_get, 0},
	{"issuance.get", h_issuance_get, A},
	{"policy.get", h_policy_get, A},
	{"dir.publish", h_dir_publish, A},
	{"dir.lookup", h_dir_lookup, A},
	{"casus.create", h_casus_create, AP},
	{"casus.list", h_casus_list, AP},
	{"casus.read", h_casus_read, A},
	{"casus.close", h_casus_close, AP},
	{"commit.post", h_commit_post, AP},
	{"commit.fetch", h_commit_fetch, AP},
	{"msg.post", h_msg_post, AP},
	{"history", h_history, AP},
	{"grant.post", h_grant_post, AP},
	{"grant.fetch", h_grant_fetch, AP},
	{"transfer.post", h_transfer_post, AP},
	{"transfer.fetch", h_transfer_fetch, AP},
	{"audit.query", h_audit_query, AP},
	{"audit.key", h_audit_key, A},
	{"audit.cosign", h_audit_cosign, AP},
	{"audit.receipts", h_audit_receipts, A},
	{"regie.overview", h_regie_overview, AP},
	{"regie.monitor", h_regie_monitor, AP},
	{"notice.dismiss", h_notice_dismiss, A},
	{"agenda.plan", h_agenda_plan, AP},
	{"agenda.list", h_agenda_list, AP},
	{"action.disclose", h_action_disclose, AP},
	{NULL, NULL, 0},
};
#undef A
#undef AP

/* ---- preconditions ---------------------------------------------------------- */

/* The newest policy number this store has served (meta "policy_number"). A
 * policy older than that is refused for every request that needs the policy,
 * so a server rolled back to a weaker policy cannot serve even clients that
 * never saw the newer one. Decided once per process (the installed policy
 * does not change while it runs); the number is raised in the first such
 * request's transaction. */
static int policy_number_ok(struct server *srv)
{
	if (srv->policy_checked)
		return srv->policy_checked > 0;
	uint64_t held = 0;
	if (schema_meta_get_u64(&srv->st, SCHEMA_META_POLICY_NUMBER, &held) != 0)
		held = 0;
	if (srv->policy.number < held) {
		log_event(LOG_ERROR, "policy.stale", "installed=%llu served=%llu",
		          (unsigned long long)srv->policy.number, (unsigned long long)held);
		srv->policy_checked = -1;
		return 0;
	}
	if ((srv->policy.number > held || !held) &&
	    schema_meta_put_u64(&srv->st, SCHEMA_META_POLICY_NUMBER, srv->policy.number) != 0)
		return 1; /* not recorded this time: decide again on the next request */
	srv->policy_checked = 1;
	return 1;
}

/* 1 if the route's preconditions hold; else the refusal is queued. */
static int preconditions(const struct route *r, struct session *s, uint64_t id)
{
	struct server *srv = s->srv;
	if ((r->needs & ROUTE_AUTH) && s->state != SS_AUTHED) {
		reply_error(s, id, PE_UNAUTHENTICATED, "authenticate first: hello, then auth");
		return 0;
	}
	if (r->needs & ROUTE_POLICY) {
		if (!srv->have_policy) {
			reply_error(s, id, PE_INTERNAL, "the server has no policy installed");
			return 0;
		}
		if (!policy_number_ok(srv)) {
			reply_error(
				s, id, PE_INTERNAL,
				"the installed policy is older than one this server has served: install the newest policy");
			return 0;
		}
	}
	return 1;
}

/* Route one parsed request. Returns 1 if its writes are to be kept. */
static int route(struct session *s, json_t *req, uint64_t id, const char *type)
{
	for (const struct route *r = routes; r->type; r++) {
		if (strcmp(r->type, type) != 0)
			continue;
		if (!preconditions(r, s, id))
			return 0;
		return r->fn(s, req, id);
	}
	if (s->state == SS_AUTHED)
		return deny(s, id, PE_UNKNOWN_TYPE, "unknown request type", CC_AUDIT_EV_REQUEST_DENIED, NULL);
	reply_error(s, id, PE_UNKNOWN_TYPE, "unknown request type");
	return 0;
}

/* ---- frames ------------------------------------------------------------------ */

/* Token bucket: req_per_s sustained, req_burst deep (monotonic clock). */
static int rate_ok(struct session *s)
{
	uint64_t t = clock_mono_ms();
	const struct limits *l = &s->srv->cfg.lim;
	s->tokens += (double)(t - s->tokens_ms) * l->req_per_s / 1000.0;
	if (s->tokens > l->req_burst)
		s->tokens = l->req_burst;
	s->tokens_ms = t;
	if (s->tokens < 1.0)
		return 0;
	s->tokens -= 1.0;
	return 1;
}

void dispatch_frame(struct session *s, const unsigned char *frame, size_t len)
{
	struct server *srv = s->srv;
	char why[160];
	json_t *req = proto_parse((const char *)frame, len, why, sizeof why);
	srv->m.requests++;
	srv->cur_type = NULL;
	if (!req) {
		/* Not casus.v1 at all: say why, then close. */
		srv->m.frames_rejected++;
		reply_error(s, 0, PE_BAD_REQUEST, why);
		audit_request_done(srv, 0);
		session_close(s, LWS_CLOSE_STATUS_INVALID_PAYLOAD, "not a casus.v1 frame");
		return;
	}
	uint64_t id = 0;
	const char *type = NULL;
	if (proto_get_u64(req, "id", (1ULL << 53), &id) || proto_get_str(req, "type", 32, &type)) {
		srv->m.frames_rejected++;
		reply_error(s, id, PE_BAD_REQUEST, "a request needs an integer \"id\" and a string \"type\"");
		audit_request_done(srv, 0);
		json_decref(req);
		return;
	}
	srv->cur_type = type;
	if (!rate_ok(s)) {
		srv->m.rate_limited++;
		if (++s->strikes > srv->cfg.lim.req_burst) {
			session_close(s, LWS_CLOSE_STATUS_POLICY_VIOLATION, "request flood");
		} else {
			/* one audit entry per series of refusals, so a flood cannot flood the trail */
			srv->quiet_refusal = s->strikes > 1;
			reply_error(s, id, PE_RATE_LIMITED, "too many requests; slow down");
			srv->quiet_refusal = 0;
			audit_request_done(srv, 0);
		}
		srv->cur_type = NULL;
		json_decref(req);
		return;
	}
	s->strikes = 0;
	srv->pending_turn++;
	if (store_req_begin(&srv->st) != 0) {
		reply_error(s, id, PE_STORAGE, "the store is unavailable; retry");
		audit_request_done(srv, 0);
		srv->cur_type = NULL;
		json_decref(req);
		return;
	}
	int keep = route(s, req, id, type);
	store_req_end(&srv->st, keep);
	audit_request_done(srv, keep);
	srv->cur_type = NULL;
	json_decref(req);
}

/* A msg.post whose signature a verifier of the pool has checked: its store step,
 * in this turn's transaction, like a fresh request. */
static void complete_verified(struct session *s, const struct vjob *job, void *arg)
{
	struct server *srv = arg;
	if (s->srv != srv || s->state != SS_AUTHED || s->close_pending)
		return;
	srv->pending_turn++;
	srv->verified_posts++;
	srv->cur_type = "msg.post";
	if (store_req_begin(&srv->st) != 0) {
		reply_error(s, job->req_id, PE_STORAGE, "the store is unavailable; retry");
		audit_request_done(srv, 0);
		srv->cur_type = NULL;
		return;
	}
	int keep = h_msg_post_verified(s, job);
	store_req_end(&srv->st, keep);
	audit_request_done(srv, keep);
	srv->cur_type = NULL;
}

/* ---- turns -------------------------------------------------------------------- */

void dispatch_turn_end(struct server *srv, dispatch_deliver_fn deliver, void *arg)
{
	verify_wait(srv, 64, 3000);
	verify_drain(srv, complete_verified, srv);
	srv->verify_inflight = verify_inflight(srv);
	if (srv->pending_turn) {
		srv->turns_busy++;
		if (srv->pending_turn > srv->turn_reqs_max)
			srv->turn_reqs_max = srv->pending_turn;
	}
	int rc = store_commit(&srv->st);
	if (rc) {
		srv->m.commits_failed++;
		audit_turn_failed(srv);
		rt_turn_failed(srv);
	} else {
		audit_turn_committed(srv);
		srv->m.messages_stored += srv->turn_stored;
	}
	srv->turn_stored = 0;
	reply_release(srv, rc == 0, deliver, arg);
	srv->pending_turn = 0;
}

void dispatch_tick(struct server *srv)
{
	audit_live_tick(srv);
	audit_tick(srv);
	casus_purge_due(srv);
	regie_tick(srv);
	int dead = 0;
	if (srv->st.env)
		mdb_reader_check(srv->st.env, &dead);
}

void dispatch_session_gone(struct server *srv, struct session *s)
{
	reply_session_gone(srv, s);
	verify_session_gone(srv, s);
	fanout_session_closed(s);
	/* its pending live reads go into the trail (committed at the turn's end) */
	audit_live_session_closed(srv, s->sid);
}

/* ---- opening and closing ---------------------------------------------------------- */

int dispatch_open(struct server *srv)
{
	if (audit_open(srv) != 0)
		return -1;
	rt_init(srv);
	return 0;
}

void dispatch_start(struct server *srv)
{
	verify_start(srv);
}

void dispatch_stop(struct server *srv)
{
	verify_stop(srv);
}

static void drop(struct session *s, struct outbuf *buf, void *arg)
{
	(void)s;
	(void)arg;
	outbuf_unref(buf);
}

void dispatch_close(struct server *srv)
{
	/* anything still queued was never committed: drop it */
	store_abort(&srv->st);
	reply_release(srv, 0, drop, NULL);
	audit_close(srv);
	rt_free_all(srv);
}
