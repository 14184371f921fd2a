/* fuzz_message.c: libFuzzer driver for cc_message_decode. A message that
 * decodes must re-encode to exactly the input; signature verification with an
 * unrelated key and opening with an unrelated key must fail with a named error;
 * the replay tracker must accept it once and then report a replay. */
#include "../unit/test_e2e_fixture.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zero_pk[CC_SIGN_PK_BYTES];
	static const uint8_t mk[CC_MESSAGE_KEY_BYTES] = {1};
	cc_message m;
	cc_wbuf w;

	if (sodium_init() < 0)
		abort();
	if (cc_message_decode(data, size, &m) != CC_OK)
		return 0;
	cc_w_init(&w);
	if (cc_message_header_encode(&m.h, &w) != CC_OK)
		abort();
	cc_w_fixed(&w, m.nonce, sizeof m.nonce);
	cc_w_fixed(&w, m.tag, sizeof m.tag);
	cc_w_var32(&w, m.ct, m.ct_len);
	cc_w_fixed(&w, m.sig, sizeof m.sig);
	if (w.err || w.len != size || memcmp(w.p, data, size) != 0 || m.signed_len + CC_SIG_BYTES != size)
		abort();
	cc_w_free(&w);
	if (cc_message_verify_sig(&m, zero_pk) == CC_OK)
		abort();
	cc_w_init_secret(&w);
	if (cc_message_open(&m, zero_pk, mk, &w) == CC_OK)
		abort();
	cc_w_free(&w);
	uint8_t h[CC_HASH_BYTES];
	if (cc_message_hash(data, size, h) != CC_OK)
		abort();
	cc_replay *r = NULL;
	if (cc_replay_new(&r) != CC_OK)
		abort();
	if (cc_replay_check(r, &m.h) != CC_OK || cc_replay_record(r, &m.h) != CC_OK ||
	    cc_replay_check(r, &m.h) != CC_ERR_REPLAY)
		abort();
	cc_replay_free(r);
	return 0;
}
