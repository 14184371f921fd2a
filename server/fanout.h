/*
 * fanout.h: who receives a casus's pushes right now.
 *
 * For every casus with at least one connected member, casusd keeps a small
 * runtime entry: the level, the current epoch, and for each device in the
 * verified roster the audiences it is entitled to (from the signed policy and
 * the certified role). Connected sessions subscribe to the casus their device
 * belongs to. A message is pushed only to sessions whose device's audience
 * mask holds the message's audience, so a member outside `zorg` never even
 * receives the ciphertext of a `zorg` message.
 *
 * Changes made during a loop turn are undone if the turn's commit fails
 * (the whole index is rebuilt from the store).
 */
#ifndef CASUSD_FANOUT_H
#define CASUSD_FANOUT_H

#include <stddef.h>
#include <stdint.h>

struct server;
struct session;
struct outbuf;

struct rt_dev {
	uint8_t device_id[16];
	uint32_t aud_mask;
};

struct cc_chain_state;

struct casus_rt {
	uint8_t id[16];
	struct cc_chain_state *st;  /* verified chain state (owned), as of this turn */
	uint64_t next_msg_seq;      /* next message sequence number */
	int64_t closed_at;          /* 0 while open; nothing new is written after closing */
	char purpose[257];
	char basis[257];
	uint8_t level;
	uint64_t epoch;
	struct rt_dev *devs;
	size_t ndevs;
	struct session **subs;
	size_t nsubs, capsubs;
};

struct sub {
	struct sub *next;
	struct casus_rt *rt;
};

void fanout_init(struct server *srv);
void fanout_free(struct server *srv);

/* The entry for a casus, or NULL if none is loaded. */
struct casus_rt *fanout_find(struct server *srv, const uint8_t id[16]);
/* Replace a casus's roster (creates the entry). Sessions of devices that left
 * are unsubscribed and get a "removed" push; connected devices that joined
 * are subscribed. */
int fanout_set_roster(struct server *srv, const uint8_t id[16], uint8_t level, uint64_t epoch,
                      const struct rt_dev *devs, size_t ndevs);
/* Subscribe an authenticated session to a casus it is a member of. */
int fanout_subscribe(struct server *srv, struct session *s, const uint8_t id[16]);
/* Push buf to every subscribed session whose device may read audience aud
 * (aud < 0: every subscribed session). Returns the number of recipients. */
size_t fanout_push(struct server *srv, const uint8_t id[16], int aud, struct outbuf *buf);
/* Audience mask of a device in a casus (0 if not a member). */
uint32_t fanout_mask(struct server *srv, const uint8_t id[16], const uint8_t device_id[16]);

void fanout_session_closed(struct server *srv, struct session *s);
void fanout_turn_committed(struct server *srv);
void fanout_turn_failed(struct server *srv);

/* Loads a casus from the store into the index (casus.c). */
int casus_load_rt(struct server *srv, const uint8_t id[16]);
/* Subscribe a session to every casus its device is a member of (casus.c). */
void casus_subscribe_device(struct server *srv, struct session *s);

#endif
