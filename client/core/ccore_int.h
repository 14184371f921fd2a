/*
 * ccore_int.h: what the files of the client core share (not for the driver).
 */
#ifndef CASUS_CCORE_INT_H
#define CASUS_CCORE_INT_H

#include "ccore.h"

struct ccore {
	uint8_t root[CC_SIGN_PK_BYTES];
	cc_device_keys *keys; /* sodium_malloc */
	cc_cert cert;
	cc_policy policy;
	int have_policy;
	cc_revlist revs;
	int have_revs;
	json_t *warnings;
	char msg[512];
	char store_epoch[CCORE_STORE_EPOCH_MAX + 1]; /* the server's store epoch (ccore_store_epoch), "" if none */
	struct ccore_wraps *wraps;                   /* device wrap keys (ccore_casus.c; NULL: none known) */
};

/* ccore_casus.c: frees c->wraps (wiping the secrets). */
void ccore_wraps_free(ccore *c);

/* Sets the sentence for rc (plus a detail) and returns rc. */
int ccore_fail(ccore *c, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
