/*
 * test_e2e_fixture.h: shared by the end-to-end tests (test_commit, test_message,
 * test_grant, test_e2e_property, test_e2e_vectors) and the seed generator.
 *   - the deterministic random source of test_rng.h (e2e_rng_install,
 *     e2e_rng_reset are its old names), shared with the identity vectors;
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

/* ---- deterministic random source: test_rng.h (the old names stay) ------ */
#define e2e_rng_install test_rng_install
#define e2e_rng_reset test_rng_reset

/* ---- policy ------------------------------------------------------------------ */
#define E2E_NOW 1767225600 /* 2026-01-01T00:00:00Z */
#define E2E_NOT_AFTER 1798761600

enum {
	AUD_ZORG = 0,
	AUD_OVERLEG = 1,
	AUD_REGIE = 2
};

/* The default ladder (docs/domain.md, deploy/policy/default.json): the same
 * builder the identity tests use (json_test_policy checks it against the file).
 * Unsigned: cc_chain_apply expects a policy the caller has already verified. */
static inline void e2e_default_policy(cc_policy *p)
{
	kat_default_policy(p);
	p->issued_at = E2E_NOW;
}

/* A fresh root key, the default ladder as policy `number` signed by it, and the
 * policy's encoding (what a core is given): the core tests' common set-up.
 * CC_OK or the first error. */
static inline int e2e_signed_policy(cc_root_key **root, uint64_t number, cc_policy *p, cc_wbuf *enc)
{
	int rc;
	cc_w_init(enc);
	if ((rc = cc_root_key_generate(root)) != CC_OK)
		return rc;
	e2e_default_policy(p);
	p->number = number;
	if ((rc = cc_policy_sign(p, *root)) != CC_OK)
		return rc;
	return cc_policy_encode(p, enc);
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
