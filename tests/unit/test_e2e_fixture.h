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

static inline void e2e_role(cc_policy *p, const char *name, uint8_t min_level, uint8_t care, uint8_t never_key,
                            uint8_t create, uint8_t add, uint8_t remove, uint8_t esc_max, uint8_t deesc, uint8_t grant,
                            uint8_t glass, uint8_t audit)
{
	cc_policy_role *r = &p->roles[p->nroles++];
	memset(r, 0, sizeof *r);
	snprintf(r->name, sizeof r->name, "%s", name);
	r->min_level = min_level;
	r->care = care;
	r->never_key = never_key;
	r->may_create = create;
	r->may_add = add;
	r->may_remove = remove;
	r->escalate_max = esc_max;
	r->may_deescalate = deesc;
	r->may_grant = grant;
	r->may_break_glass = glass;
	r->audit_scope = audit;
}

static inline void e2e_audience(cc_policy *p, const char *name, const char *const *roles, uint8_t ground)
{
	cc_policy_audience *a = &p->audiences[p->naudiences++];
	memset(a, 0, sizeof *a);
	snprintf(a->name, sizeof a->name, "%s", name);
	for (const char *const *r = roles; *r; r++) {
		int i = cc_policy_role_index(p, *r);
		if (i >= 0)
			a->roles |= 1u << i;
	}
	a->ground_required = ground;
}

/* The default ladder (docs/domain.md, deploy/policy/default.json). Unsigned:
 * cc_chain_apply expects a policy the caller has already verified. */
static inline void e2e_default_policy(cc_policy *p)
{
	static const char *const levels[] = {"Stapteam", "Ketenzorg", "Procesregie", "Zorg en Veiligheid",
	                                     "Bestuurlijk"};
	static const char *const zorg[] = {"casemanager", "ervaringsdeskundige", "ggd", "ketenpartner", NULL};
	static const char *const overleg[] = {"casemanager", "ervaringsdeskundige", "ggd", "ketenpartner",
	                                      "procesregisseur", "politie", "bestuur", NULL};
	static const char *const regie[] = {"casemanager", "procesregisseur", "bestuur", NULL};
	memset(p, 0, sizeof *p);
	p->version = CC_POLICY_VERSION;
	p->number = 1;
	snprintf(p->deployment, sizeof p->deployment, "%s", "default");
	p->issued_at = E2E_NOW;
	p->nlevels = 5;
	for (unsigned i = 0; i < 5; i++) {
		p->levels[i].level = (uint8_t)(i + 1);
		snprintf(p->levels[i].name, sizeof p->levels[i].name, "%s", levels[i]);
	}
	/*                     name                 min care nk  cr add rem esc de gr bg audit */
	e2e_role(p, "casemanager", 1, 1, 0, 1, 1, 1, 3, 1, 1, 0, CC_AUDIT_NONE);
	e2e_role(p, "ervaringsdeskundige", 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	e2e_role(p, "ggd", 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	e2e_role(p, "ketenpartner", 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	e2e_role(p, "procesregisseur", 3, 0, 0, 0, 1, 1, 5, 1, 1, 1, CC_AUDIT_DIRECTED);
	e2e_role(p, "politie", 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	e2e_role(p, "bestuur", 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	e2e_role(p, "beleid", 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	e2e_role(p, "beheer", 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	e2e_role(p, "fg", 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_ALL);
	e2e_audience(p, "zorg", zorg, 0);
	e2e_audience(p, "overleg", overleg, 1);
	e2e_audience(p, "regie", regie, 1);
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
