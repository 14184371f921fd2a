/*
 * test_e2e_fixture.h: shared by the end-to-end tests (test_commit, test_message,
 * test_grant, test_e2e_property, test_e2e_vectors) and the seed generator.
 *   - a deterministic random source (ChaCha20, key 00..1f, the i-th call since
 *     e2e_rng_reset gets the keystream for 8-byte big-endian nonce i), the same
 *     construction as the identity vectors, so a browser client can replay it;
 *   - the default ladder policy of docs/domain.md built in C;
 *   - devices with certificates issued by a test root.
 * Header-only, static functions, so each test stays one file.
 */
#ifndef CASUS_TEST_E2E_FIXTURE_H
#define CASUS_TEST_E2E_FIXTURE_H

#include "cc_buf.h"
#include "cc_casus.h"
#include "cc_cert.h"
#include "cc_commit.h"
#include "cc_err.h"
#include "cc_grant.h"
#include "cc_keys.h"
#include "cc_message.h"
#include "cc_policy.h"
#include "identity_fixture.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deterministic random source ----------------------------------------- */
static uint64_t e2e_rng_calls;

static inline const char *e2e_rng_name(void)
{
	return "casus-e2e-kat-chacha20";
}

static inline void e2e_rng_buf(void *const buf, const size_t size)
{
	uint8_t key[crypto_stream_chacha20_KEYBYTES];
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
	for (unsigned i = 0; i < sizeof key; i++)
		key[i] = (uint8_t)i;
	for (unsigned i = 0; i < sizeof nonce; i++)
		nonce[i] = (uint8_t)(e2e_rng_calls >> (56 - 8 * i));
	e2e_rng_calls++;
	crypto_stream_chacha20(buf, size, nonce, key);
}

static inline uint32_t e2e_rng_random(void)
{
	uint8_t b[4];
	e2e_rng_buf(b, sizeof b);
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static randombytes_implementation e2e_rng_impl = {
	e2e_rng_name, e2e_rng_random, NULL, NULL, e2e_rng_buf, NULL,
};

/* Call before sodium_init(). */
static inline void e2e_rng_install(void)
{
	randombytes_set_implementation(&e2e_rng_impl);
}

static inline void e2e_rng_reset(void)
{
	e2e_rng_calls = 0;
}

/* ---- policy ------------------------------------------------------------------ */
#define E2E_NOW 1767225600 /* 2026-01-01T00:00:00Z */
#define E2E_NOT_AFTER 1798761600

enum { AUD_ZORG = 0, AUD_OVERLEG = 1, AUD_REGIE = 2 };

/* The default ladder (docs/domain.md, deploy/policy/default.json): the same
 * builder the identity tests use (json_test_policy checks it against the file).
 * Unsigned: cc_chain_apply expects a policy the caller has already verified. */
static inline void e2e_default_policy(cc_policy *p)
{
	kat_default_policy(p);
	p->issued_at = E2E_NOW;
}

/* ---- devices ------------------------------------------------------------------- */
typedef struct e2e_dev {
	cc_device_keys *keys;
	cc_cert cert;
	cc_casus *cs; /* this device's view of the casus under test */
} e2e_dev;

static inline int e2e_dev_make(e2e_dev *d, const cc_root_key *root, const char *user_id, const char *role,
                               uint64_t serial)
{
	cc_cert_request req;
	int rc;
	memset(d, 0, sizeof *d);
	if ((rc = cc_device_keys_generate(&d->keys)) != CC_OK)
		return rc;
	if ((rc = cc_cert_request_create(&req, d->keys, user_id, "Test Person", "Test Org", role)) != CC_OK)
		return rc;
	if ((rc = cc_cert_issue(&req, root, serial, E2E_NOW - 86400, E2E_NOT_AFTER, &d->cert)) != CC_OK)
		return rc;
	return cc_casus_new(d->keys, &d->cert, &d->cs);
}

static inline void e2e_dev_free(e2e_dev *d)
{
	cc_casus_free(d->cs);
	cc_device_keys_free(d->keys);
	memset(d, 0, sizeof *d);
}

/* Reset the device's casus view (e.g. to replay a chain from the start). */
static inline int e2e_dev_reset(e2e_dev *d)
{
	cc_casus_free(d->cs);
	d->cs = NULL;
	return cc_casus_new(d->keys, &d->cert, &d->cs);
}

/* ---- hex files (vectors) -------------------------------------------------------- */
static inline char *e2e_hex(const uint8_t *p, size_t n)
{
	char *s = malloc(2 * n + 2);
	if (!s)
		return NULL;
	sodium_bin2hex(s, 2 * n + 1, p, n);
	s[2 * n] = '\n';
	s[2 * n + 1] = '\0';
	return s;
}

#endif
