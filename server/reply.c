/*
 * reply.c: the after-commit list of replies and pushes (see reply.h).
 */
#include "reply.h"
#include "audit.h"
#include "log.h"
#include "server.h"

#include <proto.h>
#include <stdlib.h>
#include <string.h>

/* After-list nodes are reused (one per reply and one per push recipient:
 * a malloc and a free each on the hot path otherwise). Loop thread only; at
 * most AFTER_SPARE spare nodes are kept. */
#define AFTER_SPARE 8192u
static struct after *after_spare;
static unsigned after_nspare;

static struct after *after_alloc(void)
{
	struct after *a = after_spare;
	if (a) {
		after_spare = a->next;
		after_nspare--;
		memset(a, 0, sizeof(*a));
		return a;
	}
	return calloc(1, sizeof(*a));
}

static void after_free(struct after *a)
{
	if (after_nspare >= AFTER_SPARE) {
		free(a);
		return;
	}
	a->next = after_spare;
	after_spare = a;
	after_nspare++;
}

static void after_add(struct server *srv, struct session *s, struct outbuf *buf, int is_reply, uint64_t id)
{
	struct after *a = after_alloc();
	if (!a) {
		outbuf_unref(buf);
		return;
	}
	a->s = s;
	a->buf = buf;
	s->pending_bytes += buf->len; /* the session's share of this turn's memory (loop.c caps it) */
	a->is_reply = is_reply;
	a->req_id = id;
	if (srv->after_tail)
		srv->after_tail->next = a;
	else
		srv->after_head = a;
	srv->after_tail = a;
}

void reply_later(struct session *s, uint64_t req_id, json_t *obj)
{
	struct outbuf *b = obj ? outbuf_from_json(obj) : NULL;
	json_decref(obj);
	if (!b) {
		log_event(LOG_ERROR, "reply.alloc", "sid=%llu", (unsigned long long)s->sid);
		return;
	}
	after_add(s->srv, s, b, 1, req_id);
}

void reply_later_timed(struct session *s, uint64_t req_id, json_t *obj, uint64_t t0_ns)
{
	struct outbuf *b = obj ? outbuf_from_json(obj) : NULL;
	json_decref(obj);
	if (!b) {
		log_event(LOG_ERROR, "reply.alloc", "sid=%llu", (unsigned long long)s->sid);
		return;
	}
	b->t0_ns = t0_ns;
	after_add(s->srv, s, b, 1, req_id);
}

void reply_later_buf(struct session *s, uint64_t req_id, struct outbuf *b)
{
	after_add(s->srv, s, b, 1, req_id);
}

void reply_ok_seq_timed(struct session *s, uint64_t req_id, uint64_t seq, uint64_t t0_ns)
{
	/* two integers and fixed keys: nothing to escape; 64 bytes hold any values */
	struct outbuf *b = outbuf_printf(64, "{\"id\":%llu,\"ok\":true,\"seq\":%llu}", (unsigned long long)req_id,
	                                 (unsigned long long)seq);
	if (!b) {
		log_event(LOG_ERROR, "reply.alloc", "sid=%llu", (unsigned long long)s->sid);
		return;
	}
	b->t0_ns = t0_ns;
	after_add(s->srv, s, b, 1, req_id);
}

void reply_error(struct session *s, uint64_t req_id, int code, const char *message)
{
	struct server *srv = s->srv;
	srv->m.errors++;
	if (code >= 0 && (size_t)code < sizeof srv->m.errors_by_code / sizeof srv->m.errors_by_code[0])
		srv->m.errors_by_code[code]++;
	if (!srv->quiet_refusal && !audit_pending(srv)) {
		cc_audit_entry e;
		cc_audit_entry_init(&e);
		e.event = CC_AUDIT_EV_REQUEST_DENIED;
		e.outcome =
			(code == PE_STORAGE || code == PE_INTERNAL) ? CC_AUDIT_OUTCOME_ERROR : CC_AUDIT_OUTCOME_DENIED;
		cc_audit_str_copy(e.error, sizeof e.error, proto_err_name((enum proto_err)code));
		char obj[64];
		snprintf(obj, sizeof obj, "request %s", srv->cur_type ? srv->cur_type : "(unreadable frame)");
		cc_audit_str_copy(e.object, sizeof e.object, obj);
		audit_log(srv, s, &e);
	}
	reply_later(s, req_id, proto_error(req_id, (enum proto_err)code, message));
}

int deny(struct session *s, uint64_t id, int code, const char *msg, unsigned event, const uint8_t *casus)
{
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = (uint16_t)event;
	e.outcome = (code == PE_STORAGE || code == PE_INTERNAL) ? CC_AUDIT_OUTCOME_ERROR : CC_AUDIT_OUTCOME_DENIED;
	cc_audit_str_copy(e.error, sizeof e.error, proto_err_name((enum proto_err)code));
	if (casus)
		memcpy(e.casus_id, casus, 16);
	audit_log(s->srv, s, &e);
	reply_error(s, id, code, msg);
	return 0;
}

void push_later(struct session *s, struct outbuf *buf)
{
	after_add(s->srv, s, outbuf_ref(buf), 0, 0);
}

void reply_release(struct server *srv, int ok, reply_deliver_fn deliver, void *arg)
{
	struct after *a = srv->after_head, *next;
	srv->after_head = srv->after_tail = NULL;
	for (; a; a = next) {
		next = a->next;
		if (a->s) {
			size_t blen = a->buf ? a->buf->len : 0;
			a->s->pending_bytes = a->s->pending_bytes > blen ? a->s->pending_bytes - blen : 0;
			if (ok) {
				if (!a->is_reply)
					srv->m.pushes_sent++;
				deliver(a->s, a->buf, arg);
				a->buf = NULL;
			} else if (a->is_reply) {
				srv->m.errors++; /* a storage error, answered as one */
				srv->m.errors_by_code[PE_STORAGE]++;
				json_t *e = proto_error(a->req_id, PE_STORAGE,
				                        "the store could not commit; nothing was saved, retry");
				struct outbuf *b = outbuf_from_json(e);
				json_decref(e);
				if (b)
					deliver(a->s, b, arg);
			}
		}
		outbuf_unref(a->buf);
		after_free(a);
	}
}

void reply_session_gone(struct server *srv, const struct session *s)
{
	for (struct after *a = srv->after_head; a; a = a->next)
		if (a->s == s)
			a->s = NULL;
}
