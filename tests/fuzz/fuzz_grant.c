/* fuzz_grant.c: libFuzzer driver for cc_grant_decode. A grant that decodes
 * must re-encode to exactly the input; its signature must not verify under an
 * all-zero key; opening its first box with an unrelated device key must fail. */
#include "../unit/test_e2e_fixture.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero_pk[CC_SIGN_PK_BYTES];
	static cc_device_keys *other;
	cc_grant g;
	cc_wbuf w;

	if (sodium_init() < 0)
		abort();
	if (!other && cc_device_keys_generate(&other) != CC_OK)
		abort();
	if (cc_grant_decode(data, size, &g) != CC_OK)
		return 0;
	cc_w_init(&w);
	if (cc_grant_encode(&g, &w) != CC_OK || w.len != size || memcmp(w.p, data, size) != 0)
		abort();
	cc_w_free(&w);
	if (cc_grant_verify_sig(&g, zero_pk) == CC_OK)
		abort();
	uint8_t mk[CC_MESSAGE_KEY_BYTES];
	if (cc_grant_open_key(g.devices[0].boxes, other, g.casus_id, g.items[0].message_id, g.items[0].message_hash,
	                      mk) == CC_OK)
		abort();
	cc_grant_free(&g);
	return 0;
}
