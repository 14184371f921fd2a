/* fuzz_certreq.c: libFuzzer driver for cc_cert_request_decode: canonical
 * round trip and a proof-of-possession check that never crashes. */
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
	cc_cert_request q;
	cc_wbuf w;

	if (sodium_init() < 0)
		abort();
	if (cc_cert_request_decode(data, size, &q) != CC_OK)
		return 0;
	cc_w_init(&w);
	if (cc_cert_request_encode(&q, &w) != CC_OK || w.len != size || memcmp(w.p, data, size) != 0)
		abort();
	cc_w_free(&w);
	(void)!cc_cert_request_verify(&q);
	return 0;
}
