/*
 * fuzz_audit_export.c: libFuzzer driver for the reader of JSON-lines audit
 * exports (cc_audit_export_parse_line and cc_audit_export_verify,
 * client/audit_export.c): a file an auditor receives from elsewhere.
 *
 * Properties: the whole input as one line either parses or is refused; what
 * parses as an entry or checkpoint is written again by the export writer and
 * parses back to the same bytes and hash; the whole input read as an export
 * file is verified against the seeds' audit key (mkseeds_client.c) without a
 * crash, whatever it holds: a pass names no line, every fault names one.
 */
#include "audit_export.h"
#include "cc_err.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The audit key of the seed corpus: crypto_sign_seed_keypair of 32 bytes 0xA5. */
static uint8_t g_pk[CC_SIGN_PK_BYTES];

static void reparse(const cc_audit_record *rec, cc_audit_record *again)
{
	char *line;

	if (rec->type == CC_AUDIT_REC_ENTRY)
		line = cc_audit_export_entry(rec->raw, rec->raw_len, rec->hash);
	else if (rec->type == CC_AUDIT_REC_CHECKPOINT)
		line = cc_audit_export_checkpoint(rec->raw, rec->raw_len);
	else
		return;
	if (!line)
		abort();
	if (cc_audit_export_parse_line(line, strlen(line), again) != CC_OK || again->type != rec->type ||
	    again->raw_len != rec->raw_len || memcmp(again->raw, rec->raw, rec->raw_len) != 0)
		abort();
	if (rec->type == CC_AUDIT_REC_ENTRY && memcmp(again->hash, rec->hash, CC_HASH_BYTES) != 0)
		abort();
	free(line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cc_audit_record rec, again; /* large: keep them off the stack */
	static int ready;
	cc_audit_verifier v;
	unsigned long line_no = 0;
	FILE *f;
	char *copy;

	if (!ready) {
		uint8_t seed[crypto_sign_SEEDBYTES], sk[CC_SIGN_SK_BYTES];
		if (sodium_init() < 0)
			abort();
		memset(seed, 0xA5, sizeof seed);
		crypto_sign_seed_keypair(g_pk, sk, seed);
		sodium_memzero(sk, sizeof sk);
		ready = 1;
	}
	if (cc_audit_export_parse_line((const char *)data, size, &rec) == CC_OK)
		reparse(&rec, &again);

	if (size == 0)
		return 0;
	copy = malloc(size);
	if (!copy)
		abort();
	memcpy(copy, data, size);
	f = fmemopen(copy, size, "r");
	if (!f)
		abort();
	int rc = cc_audit_export_verify(f, g_pk, NULL, &v, &line_no);
	if (rc == CC_OK && line_no != 0)
		abort();
	if (rc != CC_OK && rc != CC_ERR_NOMEM && line_no == 0) /* every fault names its line */
		abort();
	fclose(f);
	free(copy);
	return 0;
}
