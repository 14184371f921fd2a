/*
 * fanout.c: subscriptions and the one filtered push (see fanout.h).
 */
#include "fanout.h"
#include "audit.h"
#include "reply.h"
#include "server.h"

#include <jansson.h>
#include <proto.h>
#include <stdlib.h>
#include <string.h>

static const struct rt_dev *dev_find(const struct casus_rt *rt, const uint8_t dev[16])
{
	for (size_t i = 0; i < rt->ndevs; i++)
		if (memcmp(rt->devs[i].device_id, dev, 16) == 0)
			return &rt->devs[i];
	return NULL;
}

static void session_drop_sub(struct session *s, struct casus_rt *rt)
{
	struct sub **pp = &s->subs;
	while (*pp) {
		if ((*pp)->rt == rt) {
			struct sub *d = *pp;
			*pp = d->next;
			free(d);
			return;
		}
		pp = &(*pp)->next;
	}
}

static int add_sub(struct casus_rt *rt, struct session *s)
{
	for (size_t i = 0; i < rt->nsubs; i++)
		if (rt->subs[i] == s)
			return 0;
	if (rt->nsubs == rt->capsubs) {
		size_t ncap = rt->capsubs ? rt->capsubs * 2 : 8;
		struct session **n = realloc(rt->subs, ncap * sizeof(*n));
		if (!n)
			return -1;
		rt->subs = n;
		rt->capsubs = ncap;
	}
	struct sub *sb = malloc(sizeof(*sb));
	if (!sb)
		return -1;
	sb->rt = rt;
	sb->next = s->subs;
	s->subs = sb;
	rt->subs[rt->nsubs++] = s;
	return 0;
}

int fanout_subscribe(struct casus_rt *rt, struct session *s)
{
	if (!rt || !dev_find(rt, s->cert.device_id))
		return -1;
	return add_sub(rt, s);
}

void fanout_roster_changed(struct server *srv, struct casus_rt *rt)
{
	/* sessions of devices that left: tell them and unsubscribe */
	for (size_t i = 0; i < rt->nsubs;) {
		struct session *s = rt->subs[i];
		if (!dev_find(rt, s->cert.device_id)) {
			json_t *p = json_pack("{ss}", "push", "removed");
			proto_set_id16(p, "casus", rt->id);
			struct outbuf *b = outbuf_from_json(p);
			json_decref(p);
			if (b) {
				push_later(s, b);
				outbuf_unref(b);
			}
			session_drop_sub(s, rt);
			rt->subs[i] = rt->subs[--rt->nsubs];
			continue;
		}
		i++;
	}
	/* connected devices that are (now) members: subscribe */
	for (struct session *s = srv->sessions; s; s = s->next)
		if (s->state == SS_AUTHED && dev_find(rt, s->cert.device_id))
			add_sub(rt, s);
}

static int admitted(const struct fanout_filter *f, const struct rt_dev *d, const struct session *s)
{
	if (s == f->except)
		return 0;
	if (f->audience >= 0 && !(d->aud_mask & (1u << f->audience)))
		return 0;
	if (f->devices) {
		for (size_t i = 0; i < f->ndevices; i++)
			if (memcmp(f->devices[i], d->device_id, 16) == 0)
				return 1;
		return 0;
	}
	return 1;
}

size_t fanout_push(struct casus_rt *rt, const struct fanout_filter *f, struct outbuf *buf)
{
	size_t n = 0;
	if (!rt || !buf)
		return 0;
	for (size_t i = 0; i < rt->nsubs; i++) {
		struct session *s = rt->subs[i];
		const struct rt_dev *d = dev_find(rt, s->cert.device_id);
		if (!d || !admitted(f, d, s))
			continue;
		push_later(s, buf);
		n++;
	}
	return n;
}

size_t fanout_push_msg(struct server *srv, struct casus_rt *rt, const struct fanout_filter *f, struct outbuf *buf,
                       uint64_t seq, const uint8_t msg_id[16])
{
	size_t n = 0;
	if (!rt || !buf)
		return 0;
	for (size_t i = 0; i < rt->nsubs; i++) {
		struct session *s = rt->subs[i];
		const struct rt_dev *d = dev_find(rt, s->cert.device_id);
		if (!d || !admitted(f, d, s))
			continue;
		push_later(s, buf);
		audit_live_read(srv, s, rt->id, rt->purpose, rt->basis, rt->level, seq, msg_id);
		n++;
	}
	return n;
}

static void remove_sub(struct casus_rt *rt, struct session *s)
{
	for (size_t i = 0; i < rt->nsubs; i++) {
		if (rt->subs[i] == s) {
			rt->subs[i] = rt->subs[--rt->nsubs];
			return;
		}
	}
}

void fanout_session_closed(struct session *s)
{
	while (s->subs) {
		struct sub *n = s->subs->next;
		remove_sub(s->subs->rt, s);
		free(s->subs);
		s->subs = n;
	}
}

void fanout_unsubscribe_all(struct server *srv)
{
	for (struct session *s = srv->sessions; s; s = s->next)
		fanout_session_closed(s);
}
