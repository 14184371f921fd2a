/* fuzz_policy.c: libFuzzer driver for cc_policy_decode: canonical round trip,
 * consistency holds for whatever decodes, and every decision function answers
 * 0 or 1 for every role, audience and level (including out-of-range ones). */
#include "cc_buf.h"
#include "cc_err.h"
#include "cc_policy.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check01(int v)
{
	if (v != 0 && v != 1)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cc_policy p;
	cc_wbuf w;
	uint8_t h[CC_HASH_BYTES];

	if (sodium_init() < 0)
		abort();
	if (cc_policy_decode(data, size, &p) != CC_OK)
		return 0;
	if (cc_policy_check(&p) != CC_OK)
		abort();
	cc_w_init(&w);
	if (cc_policy_encode(&p, &w) != CC_OK || w.len != size || memcmp(w.p, data, size) != 0)
		abort();
	cc_w_free(&w);
	if (cc_policy_hash(&p, h) != CC_OK)
		abort();
	for (int r = -1; r <= p.nroles; r++) {
		for (int lv = 0; lv <= p.nlevels + 1; lv++) {
			int member = cc_policy_may_be_member(&p, r, (uint8_t)lv);
			check01(member);
			if (member && r >= 0 && p.roles[r].never_key)
				abort();
			for (int to = 0; to <= p.nlevels + 1; to++) {
				check01(cc_policy_may_escalate(&p, r, (uint8_t)lv, (uint8_t)to));
				check01(cc_policy_may_deescalate(&p, r, (uint8_t)lv, (uint8_t)to));
			}
			for (int a = -1; a <= p.naudiences; a++) {
				int in = cc_policy_in_audience(&p, a, r, (uint8_t)lv);
				check01(in);
				if (in && !member)
					abort();
				check01(cc_policy_ground_required(&p, a, r, (uint8_t)lv));
			}
		}
	}
	(void)!cc_policy_verify(&p, p.root_pk, NULL);
	return 0;
}
