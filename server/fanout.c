/* fanout.c: per-casus subscription index and audience-filtered pushes (see fanout.h). */
#include "fanout.h"
#include "log.h"
#include "server.h"

#include <cc_commit.h>

#include <jansson.h>
#include <proto.h>
#include <stdlib.h>
#include <string.h>

static size_t bucket(const struct server *srv, const uint8_t id[16])
{
	/* casus ids are random: their first bytes are a fine hash */
	uint64_t h = 0;
	memcpy(&h, id, sizeof h);
	return (size_t)(h % srv->rt_cap);
}

void fanout_init(struct server *srv)
{
	srv->rt_cap = 4096;
	srv->rt = calloc(srv->rt_cap, sizeof(*srv->rt));
	srv->rt_len = 0;
}

static void rt_free(struct casus_rt *rt)
{
	cc_chain_state_free(rt->st);
	free(rt->devs);
	free(rt->subs);
	free(rt);
}

static void unsubscribe_all(struct server *srv)
{
	for (struct session *s = srv->sessions; s; s = s->next) {
		while (s->subs) {
			struct sub *n = s->subs->next;
			free(s->subs);
			s->subs = n;
		}
	}
}

void fanout_free(struct server *srv)
{
	if (!srv->rt)
		return;
	unsubscribe_all(srv);
	for (size_t i = 0; i < srv->rt_cap; i++)
		if (srv->rt[i])
			rt_free(srv->rt[i]);
	free(srv->rt);
	srv->rt = NULL;
	srv->rt_cap = srv->rt_len = 0;
}

static int grow_table(struct server *srv)
{
	size_t ncap = srv->rt_cap * 2;
	struct casus_rt **n = calloc(ncap, sizeof(*n));
	if (!n)
		return -1;
	struct casus_rt **old = srv->rt;
	size_t ocap = srv->rt_cap;
	srv->rt = n;
	srv->rt_cap = ncap;
	for (size_t i = 0; i < ocap; i++) {
		if (!old[i])
			continue;
		size_t b = bucket(srv, old[i]->id);
		while (srv->rt[b])
			b = (b + 1) % ncap;
		srv->rt[b] = old[i];
	}
	free(old);
	return 0;
}

struct casus_rt *fanout_find(struct server *srv, const uint8_t id[16])
{
	if (!srv->rt)
		return NULL;
	size_t b = bucket(srv, id);
	for (size_t i = 0; i < srv->rt_cap; i++, b = (b + 1) % srv->rt_cap) {
		if (!srv->rt[b])
			return NULL;
		if (memcmp(srv->rt[b]->id, id, 16) == 0)
			return srv->rt[b];
	}
	return NULL;
}

static struct casus_rt *rt_get_or_create(struct server *srv, const uint8_t id[16])
{
	struct casus_rt *rt = fanout_find(srv, id);
	if (rt)
		return rt;
	if ((srv->rt_len + 1) * 2 > srv->rt_cap && grow_table(srv) != 0)
		return NULL;
	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return NULL;
	memcpy(rt->id, id, 16);
	size_t b = bucket(srv, id);
	while (srv->rt[b])
		b = (b + 1) % srv->rt_cap;
	srv->rt[b] = rt;
	srv->rt_len++;
	return rt;
}

static const struct rt_dev *rt_dev_find(const struct casus_rt *rt, const uint8_t dev[16])
{
	for (size_t i = 0; i < rt->ndevs; i++)
		if (memcmp(rt->devs[i].device_id, dev, 16) == 0)
			return &rt->devs[i];
	return NULL;
}

static void rt_remove_sub(struct casus_rt *rt, struct session *s)
{
	for (size_t i = 0; i < rt->nsubs; i++) {
		if (rt->subs[i] == s) {
			rt->subs[i] = rt->subs[--rt->nsubs];
			return;
		}
	}
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

static int rt_add_sub(struct casus_rt *rt, struct session *s)
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

int fanout_subscribe(struct server *srv, struct session *s, const uint8_t id[16])
{
	struct casus_rt *rt = fanout_find(srv, id);
	if (!rt) {
		if (casus_load_rt(srv, id) != 0)
			return -1;
		rt = fanout_find(srv, id);
		if (!rt)
			return -1;
	}
	if (!rt_dev_find(rt, s->cert.device_id))
		return -1;
	return rt_add_sub(rt, s);
}

int fanout_set_roster(struct server *srv, const uint8_t id[16], uint8_t level, uint64_t epoch,
                      const struct rt_dev *devs, size_t ndevs)
{
	struct casus_rt *rt = rt_get_or_create(srv, id);
	if (!rt)
		return -1;
	struct rt_dev *copy = NULL;
	if (ndevs) {
		copy = malloc(ndevs * sizeof(*copy));
		if (!copy)
			return -1;
		memcpy(copy, devs, ndevs * sizeof(*copy));
	}
	free(rt->devs);
	rt->devs = copy;
	rt->ndevs = ndevs;
	rt->level = level;
	rt->epoch = epoch;

	/* sessions of devices that left: tell them and unsubscribe */
	for (size_t i = 0; i < rt->nsubs;) {
		struct session *s = rt->subs[i];
		if (!rt_dev_find(rt, s->cert.device_id)) {
			json_t *p = json_pack("{ss}", "push", "removed");
			proto_set_id16(p, "casus", id);
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
		if (s->state == SS_AUTHED && rt_dev_find(rt, s->cert.device_id))
			rt_add_sub(rt, s);
	return 0;
}

size_t fanout_push(struct server *srv, const uint8_t id[16], int aud, struct outbuf *buf)
{
	struct casus_rt *rt = fanout_find(srv, id);
	size_t n = 0;
	if (!rt)
		return 0;
	for (size_t i = 0; i < rt->nsubs; i++) {
		struct session *s = rt->subs[i];
		const struct rt_dev *d = rt_dev_find(rt, s->cert.device_id);
		if (!d)
			continue;
		if (aud >= 0 && !(d->aud_mask & (1u << aud)))
			continue;
		push_later(s, buf);
		n++;
	}
	return n;
}

uint32_t fanout_mask(struct server *srv, const uint8_t id[16], const uint8_t device_id[16])
{
	struct casus_rt *rt = fanout_find(srv, id);
	if (!rt && casus_load_rt(srv, id) == 0)
		rt = fanout_find(srv, id);
	if (!rt)
		return 0;
	const struct rt_dev *d = rt_dev_find(rt, device_id);
	return d ? d->aud_mask : 0;
}

void fanout_session_closed(struct server *srv, struct session *s)
{
	(void)srv;
	while (s->subs) {
		struct sub *n = s->subs->next;
		rt_remove_sub(s->subs->rt, s);
		free(s->subs);
		s->subs = n;
	}
}

void fanout_turn_committed(struct server *srv)
{
	(void)srv;
}

void fanout_turn_failed(struct server *srv)
{
	/* The index may hold rosters that never reached disk: rebuild from the store. */
	fanout_free(srv);
	fanout_init(srv);
	for (struct session *s = srv->sessions; s; s = s->next)
		if (s->state == SS_AUTHED)
			casus_subscribe_device(srv, s);
	log_event(LOG_WARN, "fanout.rebuilt", "reason=commit_failed");
}
