/*
 * libcasus_audit.h: the audit witness side of libcasus (libcasus_audit.c),
 * apart from libcasus.h because it speaks in cc_audit types.
 */
#ifndef CASUS_LIBCASUS_AUDIT_H
#define CASUS_LIBCASUS_AUDIT_H

#include "libcasus.h"
#include <cc_audit.h>

/* Countersign n checkpoints of the trail audit_pk with this device's identity
 * key (cc_audit_cosign, time now_ms) and store them on the server
 * (audit.cosign, batches of 64). The caller verified the trail first. */
int casus_audit_cosign(casus_client *c, const uint8_t audit_pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *cps,
                       size_t n, int64_t now_ms);
/* audit.receipts: the receipts for this device's own reads after seq
 * "after" (*out: the server's answer, new reference). */
int casus_audit_receipts_fetch(casus_client *c, uint64_t after, json_t **out);
/* This device's id (16 bytes). 0 or -1. */
int casus_self_device_id(const casus_client *c, uint8_t id[CC_AUDIT_ID_BYTES]);
/* This device's identity public key (what a verifier pins as the witness). 0 or -1. */
int casus_self_sign_pk(const casus_client *c, uint8_t pk[CC_SIGN_PK_BYTES]);
/* The profile folder (the witness keeps its state there). */
const char *casus_profile_dir(const casus_client *c);

#endif
