/*
 * notice.h: the notices a user sees at login, in casus.list and as pushes
 * (escalation, stagnation, agenda, overdue actions): stored per user in
 * DB_NOTICES (schema.h: user 0 nseq[8] -> notice JSON), dismissable by their
 * user (notice.dismiss) and expired NOTICE_TTL_DAYS after their "time".
 *
 * A notice never carries content: a casus id, a level, dates and counts.
 */
#ifndef CASUSD_NOTICE_H
#define CASUSD_NOTICE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct server;
struct session;

#define NOTICE_TTL_DAYS 30 /* a notice expires this many days after its "time" */
#define NOTICES_MAX 50     /* notices returned at login and in casus.list (newest) */

/* Store notice n once for every certified user whose role is in `roles`
 * (bit i: policy role i) and push it to the connected sessions of those
 * roles. Returns the number of users it was stored for. */
unsigned notice_to_roles(struct server *srv, uint32_t roles, json_t *n);

/* The same for the users of a casus's roster (each user once), except
 * `except_user` (NULL: none). */
unsigned notice_to_roster(struct server *srv, const uint8_t casus[16], const char *except_user, json_t *n);

/* The user's notices that have not expired at `now`, oldest first, the
 * newest NOTICES_MAX at most; each with its "id" (the number notice.dismiss
 * takes). New reference. */
json_t *notice_list(struct server *srv, const char *user, int64_t now);

/* Delete the notices that expired at `now` (from the tick). Returns how many. */
size_t notice_expire(struct server *srv, int64_t now);

/* notice.dismiss {notices: [id, ...]} or {all: true}: the user's own notices
 * are deleted (they reveal nothing to anyone else: not audited). */
int h_notice_dismiss(struct session *s, json_t *req, uint64_t id);

#endif
