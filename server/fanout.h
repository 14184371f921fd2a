/*
 * fanout.h: who receives a casus's pushes right now.
 *
 * Connected sessions subscribe to the casus their device is in the roster of.
 * Every push of a casus goes through fanout_push() with a filter: an audience
 * (a message is pushed only to devices entitled to it, so a member outside
 * `zorg` never receives even the ciphertext of a `zorg` message), a set of
 * devices (a grant's grantees, a transfer's new device), a session to skip
 * (the poster, who gets the ack). Pushes wait for the turn's commit (reply.h).
 */
#ifndef CASUSD_FANOUT_H
#define CASUSD_FANOUT_H

#include "casus_rt.h"

#include <stddef.h>
#include <stdint.h>

struct server;
struct session;
struct outbuf;

struct fanout_filter {
	int audience;                 /* -1: any; else devices entitled to it */
	const uint8_t (*devices)[16]; /* NULL: any; else only these devices */
	size_t ndevices;
	const struct session *except; /* NULL, or a session that gets nothing */
};
#define FANOUT_ALL ((struct fanout_filter){-1, NULL, 0, NULL})

/* Subscribe an authenticated session to a casus whose roster holds its device. */
int fanout_subscribe(struct casus_rt *rt, struct session *s);
/* The roster changed: sessions of devices that left are unsubscribed and get
 * a "removed" push; connected devices that joined are subscribed. */
void fanout_roster_changed(struct server *srv, struct casus_rt *rt);
/* Push buf to every subscribed session the filter admits. Returns the count. */
size_t fanout_push(struct casus_rt *rt, const struct fanout_filter *f, struct outbuf *buf);
/* The same for a message push (seq, message id): every delivery is also
 * recorded as a live read of that session (audit_live_read, audit.h), in the
 * transaction the push waits for. */
size_t fanout_push_msg(struct server *srv, struct casus_rt *rt, const struct fanout_filter *f, struct outbuf *buf,
                       uint64_t seq, const uint8_t msg_id[16]);
/* A session closed: drop its subscriptions. */
void fanout_session_closed(struct session *s);
/* Drop every session's subscriptions (the runtime table is being rebuilt). */
void fanout_unsubscribe_all(struct server *srv);

#endif
