/*
 * rt.h: the casus runtime: one owner of every casus's runtime state
 * (casus_rt.h) and the one way to get it.
 *
 * rt_get() finds a casus in the table or loads it from the store: chain
 * state, record (purpose, legal basis, closing time) and the next message
 * sequence number. rt_set_chain() installs a newly verified chain state and
 * recomputes the roster's audiences (and fan-out's subscriptions). If a turn's
 * commit fails, rt_turn_failed() rebuilds the table from the store, so no
 * roster that never reached the disk stays in memory.
 */
#ifndef CASUSD_RT_H
#define CASUSD_RT_H

#include "casus_rt.h"

#include <stddef.h>
#include <stdint.h>

struct server;
struct session;
struct cc_chain_state;

void rt_init(struct server *srv);
void rt_free_all(struct server *srv);

/* The runtime state of a casus with a chain, loaded if need be; NULL if there
 * is no such casus, its content was purged, or no policy is installed. */
struct casus_rt *rt_get(struct server *srv, const uint8_t id[16]);
/* Only what is in the table (no load); may be a purged casus (st NULL). */
struct casus_rt *rt_find(struct server *srv, const uint8_t id[16]);

/* Make st (owned from now on, also on error) the casus's chain state: roster
 * audiences, level and epoch follow; subscriptions follow the roster.
 * Creates the entry if needed. 0 or -1. */
int rt_set_chain(struct server *srv, const uint8_t id[16], struct cc_chain_state *st);
/* Forget a purged casus's chain (subscribers get "removed"). */
void rt_forget_chain(struct server *srv, const uint8_t id[16]);

/* Audience mask of a device in a casus (0 if not in the roster). */
uint32_t rt_mask(const struct casus_rt *rt, const uint8_t device_id[16]);
/* 1 if the device is in the verified roster. */
int rt_is_member(const struct casus_rt *rt, const uint8_t device_id[16]);

/* Subscribe a session to every casus its device is a member of. */
void rt_subscribe_device(struct server *srv, struct session *s);

/* The turn's commit failed: rebuild from the store. */
void rt_turn_failed(struct server *srv);

#endif
