/*
 * retention.h: purging a closed casus's content when its retention period
 * after closing has passed (closing is casus.close, h_casus.c).
 *
 * The casus record is schema.h's (struct casus_record).
 */
#ifndef CASUSD_RETENTION_H
#define CASUSD_RETENTION_H

#include <stdint.h>

struct server;

/* Purge every closed casus whose retention has passed (called from the tick). */
void casus_purge_due(struct server *srv);
/* Box retention (retention.c): delete, within a request of its own, the
 * sealed key boxes no current device needs as of now; at most a bounded
 * number of records per call, resuming where the last one stopped. Also run
 * by casus_purge_due. */
void box_retention(struct server *srv, int64_t now);

#endif
