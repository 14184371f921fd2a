/* fuzz_revlist.c: libFuzzer driver for cc_revlist_decode: no leak on any path,
 * canonical round trip, lookups and verification on whatever decodes. */
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
	cc_revlist l, held;
	cc_wbuf w;
	static const uint8_t id[CC_DEVICE_ID_BYTES];

	if (sodium_init() < 0)
		abort();
	if (cc_revlist_decode(data, size, &l) != CC_OK) {
		if (l.entries || l.count)
			abort(); /* failure must leave an empty list */
		return 0;
	}
	cc_w_init(&w);
	if (cc_revlist_encode(&l, &w) != CC_OK || w.len != size || memcmp(w.p, data, size) != 0)
		abort();
	cc_w_free(&w);
	for (uint32_t i = 0; i < l.count; i++)
		if (!cc_revlist_contains(&l, l.entries[i].serial, NULL) ||
		    !cc_revlist_contains(&l, 0, l.entries[i].device_id))
			abort();
	(void)cc_revlist_contains(&l, 42, id);
	cc_revlist_init(&held);
	held.number = l.number;
	if (cc_revlist_verify(&l, l.root_pk, &held) == CC_OK)
		abort(); /* an equal number is always stale */
	(void)!cc_revlist_verify(&l, l.root_pk, NULL);
	cc_revlist_free(&l);
	return 0;
}
