/*
 * fuzz_audit.c: libFuzzer driver for the audit entry and checkpoint decoders
 * and the streaming verifier (crypto/cc_audit.c).
 *
 * The first byte selects the target, the rest is its input:
 *   0  cc_audit_entry_decode; whatever decodes must re-encode to the same
 *      bytes (the encoding is canonical), and hash without error
 *   1  cc_audit_checkpoint_decode; same round-trip, then a signature check
 *   2  a verifier stream of records [kind u8 (0 entry, 1 checkpoint)]
 *      [len u16 big-endian][bytes], fed in order, then finish
 * Seeds in tests/fuzz/seeds/audit/ are written by tests/unit/test_audit.c
 * (CASUS_WRITE_SEEDS=dir).
 */
#include "cc_audit.h"
#include "cc_buf.h"
#include "cc_err.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The public key of the fixed test source used for the seeds does not matter:
 * signature checks fail either way and the verifier must cope. */
static const uint8_t fuzz_pk[CC_SIGN_PK_BYTES] = {0xe9, 0x38, 0x12, 0xa1, 0x77, 0x94, 0xc8, 0x56, 0xea, 0x94, 0xf4,
                                                  0x18, 0x64, 0xed, 0xef, 0x1b, 0xfc, 0x5d, 0xe9, 0x59, 0x06, 0x67,
                                                  0x4a, 0x32, 0xaf, 0xad, 0x73, 0x89, 0x5e, 0x44, 0xb1, 0xa4};

static void entry_target(const uint8_t *p, size_t n)
{
	cc_audit_entry e;
	if (cc_audit_entry_decode(p, n, &e) != CC_OK)
		return;
	cc_wbuf w;
	cc_w_init(&w);
	if (cc_audit_entry_encode(&e, &w) != CC_OK || w.len != n || memcmp(w.p, p, n) != 0)
		abort(); /* decoded but not canonical */
	cc_w_free(&w);
	uint8_t zero[CC_HASH_BYTES] = {0}, h[CC_HASH_BYTES];
	if (cc_audit_entry_hash(zero, p, n, h) != CC_OK)
		abort();
}

static void checkpoint_target(const uint8_t *p, size_t n)
{
	cc_audit_checkpoint cp;
	if (cc_audit_checkpoint_decode(p, n, &cp) != CC_OK)
		return;
	cc_wbuf w;
	cc_w_init(&w);
	if (cc_audit_checkpoint_encode(&cp, &w) != CC_OK || w.len != n || memcmp(w.p, p, n) != 0)
		abort();
	cc_w_free(&w);
	(void)!cc_audit_checkpoint_verify(&cp, fuzz_pk);
}

static void stream_target(const uint8_t *p, size_t n)
{
	cc_audit_verifier v;
	cc_audit_verifier_init(&v, fuzz_pk, NULL);
	cc_rbuf r;
	cc_r_init(&r, p, n);
	while (cc_r_left(&r) > 0) {
		uint8_t kind = cc_r_u8(&r);
		const uint8_t *rec;
		size_t len;
		cc_r_var16(&r, &rec, &len, 4096);
		if (r.err)
			break;
		if (kind & 1)
			(void)cc_audit_verifier_checkpoint(&v, rec, len);
		else
			(void)cc_audit_verifier_entry(&v, rec, len, NULL);
	}
	int rc = cc_audit_verifier_finish(&v);
	if ((rc == CC_OK) != (v.fault == CC_AUDIT_FAULT_NONE))
		abort(); /* verdict and fault disagree */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		if (sodium_init() < 0)
			abort();
		init = 1;
	}
	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0:
		entry_target(data + 1, size - 1);
		break;
	case 1:
		checkpoint_target(data + 1, size - 1);
		break;
	default:
		stream_target(data + 1, size - 1);
		break;
	}
	return 0;
}
