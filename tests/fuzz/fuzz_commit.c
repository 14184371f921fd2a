/* fuzz_commit.c: libFuzzer driver for cc_commit_decode, cc_chain_apply and
 * cc_chain_state_decode. A commit that decodes must re-encode to exactly the
 * input (the encoding is canonical); applying it to an empty chain state under
 * the default policy, with the root its first certificate names, must return a
 * named result without crashing; a chain state that decodes must round-trip. */
#include "../unit/test_e2e_fixture.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cc_policy pol;
	static int ready;
	cc_commit c;
	cc_wbuf w;

	if (!ready) {
		if (sodium_init() < 0)
			abort();
		e2e_default_policy(&pol);
		ready = 1;
	}
	if (cc_commit_decode(data, size, &c) == CC_OK) {
		cc_w_init(&w);
		if (cc_commit_encode(&c, &w) != CC_OK || w.len != size || memcmp(w.p, data, size) != 0)
			abort(); /* decoded but does not round-trip: not canonical */
		cc_w_free(&w);
		cc_chain_state *st = NULL;
		if (cc_chain_state_new(&st) != CC_OK)
			abort();
		uint8_t h[CC_HASH_BYTES];
		int rc = cc_chain_apply(st, data, size, &pol, c.roster[0].cert.root_pk, c.roster[0].cert.not_before,
		                        NULL, h);
		if (rc == CC_OK && (!st->started || st->epoch != 0 || st->nroster != c.nroster))
			abort();
		if (rc != CC_OK && st->started)
			abort(); /* a refused commit must leave the state unchanged */
		cc_chain_state_free(st);
		cc_commit_free(&c);
	}
	cc_chain_state *s2 = NULL;
	if (cc_chain_state_decode(data, size, &s2) == CC_OK) {
		cc_w_init(&w);
		if (cc_chain_state_encode(s2, &w) != CC_OK || w.len != size || memcmp(w.p, data, size) != 0)
			abort();
		cc_w_free(&w);
		cc_chain_state_free(s2);
	} else if (s2) {
		abort();
	}
	return 0;
}
