/*
 * fuzz_policy_json.c: libFuzzer driver for the readable policy parser
 * (cc_policy_from_json, client/policy_json.c), the file an administrator edits
 * and casus-admin signs.
 *
 * Properties: a refusal leaves a NUL-terminated message and a zeroed policy;
 * whatever parses passes cc_policy_check; printing it with cc_policy_to_json
 * and parsing that again gives the same canonical bytes (cc_policy_encode), so
 * the readable form loses nothing the signed form holds.
 */
#include "cc_buf.h"
#include "cc_err.h"
#include "cc_policy.h"
#include "policy_json.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cc_policy p, q; /* large: keep them off the stack */
	char err[256];
	cc_wbuf a, b;
	char *text;

	if (sodium_init() < 0)
		abort();
	memset(err, 'x', sizeof err);
	if (cc_policy_from_json((const char *)data, size, &p, err, sizeof err) != CC_OK) {
		if (!memchr(err, '\0', sizeof err) || !all_zero(&p, sizeof p))
			abort();
		return 0;
	}
	if (cc_policy_check(&p) != CC_OK)
		abort();
	text = cc_policy_to_json(&p);
	if (!text)
		abort();
	if (cc_policy_from_json(text, strlen(text), &q, err, sizeof err) != CC_OK)
		abort();
	free(text);
	cc_w_init(&a);
	cc_w_init(&b);
	if (cc_policy_encode(&p, &a) != CC_OK || cc_policy_encode(&q, &b) != CC_OK || a.len != b.len ||
	    memcmp(a.p, b.p, a.len) != 0)
		abort();
	cc_w_free(&a);
	cc_w_free(&b);
	return 0;
}
