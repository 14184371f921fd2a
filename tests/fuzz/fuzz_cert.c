/* fuzz_cert.c: libFuzzer driver for cc_cert_decode. A certificate that decodes
 * must re-encode to exactly the input (the encoding is canonical), and its
 * verification must return a named result without crashing. */
#include "cc_buf.h"
#include "cc_cert.h"
#include "cc_err.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	cc_cert c;
	cc_wbuf w;
	uint8_t h[CC_HASH_BYTES];

	if (sodium_init() < 0)
		abort();
	if (cc_cert_decode(data, size, &c) != CC_OK)
		return 0;
	cc_w_init(&w);
	if (cc_cert_encode(&c, &w) != CC_OK || w.len != size || memcmp(w.p, data, size) != 0)
		abort(); /* decoded but does not round-trip: not canonical */
	cc_w_free(&w);
	if (cc_cert_hash(&c, h) != CC_OK)
		abort();
	/* verify against the issuer it names (exercises the signature path) and
	 * against a fixed other root (must be CC_ERR_WRONG_ROOT unless equal) */
	(void)!cc_cert_verify(&c, c.root_pk, c.not_before, NULL);
	{
		static const uint8_t zero[CC_SIGN_PK_BYTES];
		int rc = cc_cert_verify(&c, zero, c.not_before, NULL);
		if (rc == CC_OK)
			abort(); /* an all-zero root key cannot have signed anything */
	}
	return 0;
}
