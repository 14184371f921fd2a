/*
 * casus_rt.h: the runtime state of one casus, as the rooms share it.
 *
 * Owned by rt.c (rt.h: the table, the one get, loading from the store and
 * replacing the chain state); fan-out (fanout.h) keeps its subscriptions.
 * For a casus with a loaded chain: the verified chain state, the level and
 * epoch, and for each device in the verified roster the audiences it is
 * entitled to (from the signed policy and the certified role).
 */
#ifndef CASUSD_CASUS_RT_H
#define CASUSD_CASUS_RT_H

#include <stddef.h>
#include <stdint.h>

struct session;
struct cc_chain_state;

struct rt_dev {
	uint8_t device_id[16];
	uint32_t aud_mask; /* bit a: may read audience a */
};

struct casus_rt {
	uint8_t id[16];
	struct cc_chain_state *st; /* verified chain state (owned); NULL once purged */
	uint64_t next_msg_seq;     /* next message sequence number */
	int64_t closed_at;         /* 0 while open; nothing new is written after closing */
	char purpose[257];
	char basis[257];
	uint8_t level;
	uint64_t epoch;
	struct rt_dev *devs; /* the roster's devices and their audiences */
	size_t ndevs;
	struct session **subs; /* subscribed sessions (fanout.c) */
	size_t nsubs, capsubs;
};

/* A session's subscription (the session's list, for closing). */
struct sub {
	struct sub *next;
	struct casus_rt *rt;
};

#endif
