/* fuzz_keystore.c: libFuzzer driver for the keystore parsers: the file header
 * (bounds, limits, lengths) and the plaintext body (names, order, caps). When
 * the header names the cheapest Argon2id limits, the whole open path runs too
 * with a fixed passphrase (it must fail cleanly or yield a usable keystore). */
#include "cc_err.h"
#include "cc_keystore.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(cc_keystore *ks)
{
	size_t n = cc_keystore_count(ks);
	for (size_t i = 0; i < n; i++) {
		const char *name = cc_keystore_name(ks, i);
		const uint8_t *v = NULL;
		size_t len = 0;
		if (!name || cc_keystore_get(ks, name, &v, &len) != CC_OK)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char pass[] = "correct horse battery staple";
	cc_keystore_header h;
	cc_keystore *ks = NULL;

	if (sodium_init() < 0)
		abort();
	if (cc_keystore_header_decode(data, size, &h) == CC_OK) {
		if ((size_t)h.ct_len + CC_KEYSTORE_HEADER_BYTES != size)
			abort();
		if (h.opslimit == crypto_pwhash_argon2id_OPSLIMIT_MIN && h.memlimit <= 64 * 1024 &&
		    cc_keystore_open_mem(data, size, pass, sizeof pass - 1, &ks) == CC_OK) {
			exercise(ks);
			cc_keystore_free(ks);
			ks = NULL;
		}
	}
	if (cc_keystore_body_decode(data, size, &ks) == CC_OK) {
		exercise(ks);
		cc_keystore_free(ks);
	}
	return 0;
}
