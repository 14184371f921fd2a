/*
 * retention.h: the casus record, closing a casus, and purging its content
 * when its retention period after closing has passed.
 *
 * Record (DB casus, key id 'r'), version 2:
 *   u8 version | i64 created | str purpose | str legal basis |
 *   u32 retention days | fixed16 creator device | i64 closed_at | i64 purged_at
 * Version 1 records (no closing times) read as open.
 */
#ifndef CASUSD_RETENTION_H
#define CASUSD_RETENTION_H

#include <stdint.h>

struct server;

struct casus_record {
	int64_t created;
	char purpose[257];
	char basis[257];
	uint32_t retention_days;
	uint8_t creator[16];
	int64_t closed_at;  /* 0: open */
	int64_t purged_at;  /* 0: content present */
};

int casus_record_read(struct server *srv, const uint8_t id[16], struct casus_record *r);
int casus_record_write(struct server *srv, const uint8_t id[16], const struct casus_record *r);

/* Purge every closed casus whose retention has passed (called from the tick). */
void casus_purge_due(struct server *srv);

#endif
