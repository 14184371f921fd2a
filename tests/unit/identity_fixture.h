/*
 * identity_fixture.h: shared by the identity-layer tests and by
 * tests/fuzz/mkseeds_identity.c. Provides
 *   - the deterministic random source of test_rng.h under its old names
 *     (kat_rng_install, kat_rng_reset);
 *   - builders for the vector objects (see tests/vectors/identity/README.md);
 *   - hex file helpers to compare against tests/vectors/identity/.
 * Header-only with static functions so that each test stays one file.
 */
#ifndef CASUS_TEST_IDENTITY_FIXTURE_H
#define CASUS_TEST_IDENTITY_FIXTURE_H

#include "cc_buf.h"
#include "cc_cert.h"
#include "cc_err.h"
#include "cc_keys.h"
#include "cc_keystore.h"
#include "cc_policy.h"
#include "test_rng.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- deterministic random source: test_rng.h (the old names stay) ------ */
#define kat_rng_install test_rng_install
#define kat_rng_reset test_rng_reset

/* ---- the vector objects ----------------------------------------------------- */
#define KAT_NOT_BEFORE 1767225600 /* 2026-01-01T00:00:00Z */
#define KAT_NOT_AFTER 1798761600  /* 2027-01-01T00:00:00Z */
#define KAT_SERIAL 1001
#define KAT_PASSPHRASE "correct horse battery staple"

/* Role flags in the order of cc_policy_role after the name. */
static inline void kat_role(cc_policy *p, const char *name, uint8_t min_level, uint8_t care, uint8_t never_key,
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

static inline void kat_audience(cc_policy *p, const char *name, const char *const *roles, uint8_t ground)
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

/* The default ladder of docs/domain.md in the version 1 format (the identity
 * and e2e vectors are built on it); deploy/policy/default.json is this ladder
 * plus the procesregie section, kat_regie_policy below (json_test_policy
 * checks that). Unsigned; issued_at = KAT_NOT_BEFORE. */
static inline void kat_default_policy(cc_policy *p)
{
	static const char *const levels[] = {"Stapteam", "Ketenzorg", "Procesregie", "Zorg en Veiligheid",
	                                     "Bestuurlijk"};
	static const char *const zorg[] = {"casemanager", "ervaringsdeskundige", "ggd", "ketenpartner", NULL};
	static const char *const overleg[] =
		{"casemanager", "ervaringsdeskundige", "ggd", "ketenpartner", "procesregisseur", "politie", "bestuur",
	         NULL};
	static const char *const regie[] = {"casemanager", "procesregisseur", "bestuur", NULL};
	memset(p, 0, sizeof *p);
	p->version = CC_POLICY_VERSION;
	p->number = 1;
	snprintf(p->deployment, sizeof p->deployment, "%s", "default");
	p->issued_at = KAT_NOT_BEFORE;
	p->nlevels = 5;
	for (unsigned i = 0; i < 5; i++) {
		p->levels[i].level = (uint8_t)(i + 1);
		snprintf(p->levels[i].name, sizeof p->levels[i].name, "%s", levels[i]);
	}
	/*                     name                 min care nk  cr add rem esc de gr bg audit */
	kat_role(p, "casemanager", 1, 1, 0, 1, 1, 1, 3, 1, 1, 0, CC_AUDIT_NONE);
	kat_role(p, "ervaringsdeskundige", 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	kat_role(p, "ggd", 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	kat_role(p, "ketenpartner", 2, 1, 0, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	kat_role(p, "procesregisseur", 3, 0, 0, 0, 1, 1, 5, 1, 1, 1, CC_AUDIT_DIRECTED);
	kat_role(p, "politie", 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	kat_role(p, "bestuur", 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	kat_role(p, "beleid", 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	kat_role(p, "beheer", 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_NONE);
	kat_role(p, "fg", 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, CC_AUDIT_ALL);
	kat_audience(p, "zorg", zorg, 0);
	kat_audience(p, "overleg", overleg, 1);
	kat_audience(p, "regie", regie, 1);
}

/* The default ladder as a version 2 policy (deploy/policy/default.json before
 * version 3; tests/vectors/identity/policy_v2.hex), with
 * the procesregie rights (procesregisseur: overview and figures; beleid:
 * figures) and the stagnation signals per level. Unsigned. */
static inline void kat_regie_policy(cc_policy *p)
{
	static const uint16_t note_days[5] = {30, 21, 14, 7, 7};
	static const uint16_t level_weeks[5] = {26, 16, 8, 8, 4};
	kat_default_policy(p);
	p->version = CC_POLICY_VERSION_REGIE;
	p->roles[4].may_overview = 1; /* procesregisseur */
	p->roles[4].may_monitor = 1;
	p->roles[7].may_monitor = 1; /* beleid */
	for (unsigned i = 0; i < 5; i++) {
		p->levels[i].stale_note_days = note_days[i];
		p->levels[i].stale_level_weeks = level_weeks[i];
	}
}

/* deploy/policy/default.json: the version 2 ladder above as a version 3
 * policy, with the overdue threshold per level (days past the due date after
 * which an open agreed action flags the casus). Unsigned. */
static inline void kat_overdue_policy(cc_policy *p)
{
	static const uint16_t overdue_days[5] = {14, 7, 7, 3, 3};
	kat_regie_policy(p);
	p->version = CC_POLICY_VERSION_OVERDUE;
	for (unsigned i = 0; i < 5; i++)
		p->levels[i].overdue_actions_days = overdue_days[i];
}

typedef struct kat_set {
	cc_root_key *root;
	cc_device_keys *dev;
	cc_cert_request req;
	cc_cert cert;
	cc_revlist revs;
	cc_policy policy;
	cc_wbuf root_enc, dev_enc, req_enc, cert_enc, revs_enc, policy_enc;
	uint8_t cert_hash[CC_HASH_BYTES];
	uint8_t policy_hash[CC_HASH_BYTES];
	uint8_t *keystore;
	size_t keystore_len;
} kat_set;

static inline void kat_free(kat_set *k)
{
	cc_root_key_free(k->root);
	cc_device_keys_free(k->dev);
	cc_revlist_free(&k->revs);
	cc_w_free(&k->root_enc);
	cc_w_free(&k->dev_enc);
	cc_w_free(&k->req_enc);
	cc_w_free(&k->cert_enc);
	cc_w_free(&k->revs_enc);
	cc_w_free(&k->policy_enc);
	free(k->keystore);
	memset(k, 0, sizeof *k);
}

/* Builds every vector object from a freshly reset random source. CC_OK or the
 * first error. The order of random draws is part of the vectors: root key (1
 * draw), device keys (3 draws), keystore salt and nonce (2 draws). */
static inline int kat_build(kat_set *k)
{
	int rc;
	cc_keystore *ks = NULL;
	uint8_t other_dev[CC_DEVICE_ID_BYTES];

	memset(k, 0, sizeof *k);
	cc_revlist_init(&k->revs);
	cc_w_init_secret(&k->root_enc);
	cc_w_init_secret(&k->dev_enc);
	cc_w_init(&k->req_enc);
	cc_w_init(&k->cert_enc);
	cc_w_init(&k->revs_enc);
	cc_w_init(&k->policy_enc);
	kat_rng_reset();
	if ((rc = cc_root_key_generate(&k->root)) != CC_OK)
		return rc;
	if ((rc = cc_device_keys_generate(&k->dev)) != CC_OK)
		return rc;
	if ((rc = cc_root_key_encode(k->root, &k->root_enc)) != CC_OK)
		return rc;
	if ((rc = cc_device_keys_encode(k->dev, &k->dev_enc)) != CC_OK)
		return rc;
	if ((rc = cc_cert_request_create(&k->req, k->dev, "cm.jansen", "Anna Jansen", "Leger des Heils",
	                                 "casemanager")) != CC_OK)
		return rc;
	if ((rc = cc_cert_request_encode(&k->req, &k->req_enc)) != CC_OK)
		return rc;
	if ((rc = cc_cert_issue(&k->req, k->root, KAT_SERIAL, KAT_NOT_BEFORE, KAT_NOT_AFTER, &k->cert)) != CC_OK)
		return rc;
	if ((rc = cc_cert_encode(&k->cert, &k->cert_enc)) != CC_OK)
		return rc;
	if ((rc = cc_cert_hash(&k->cert, k->cert_hash)) != CC_OK)
		return rc;
	for (unsigned i = 0; i < sizeof other_dev; i++)
		other_dev[i] = (uint8_t)(0xa0 + i);
	k->revs.number = 7;
	k->revs.issued_at = KAT_NOT_BEFORE + 86400;
	if ((rc = cc_revlist_add(&k->revs, 2002, other_dev, KAT_NOT_BEFORE + 3600)) != CC_OK ||
	    (rc = cc_revlist_add(&k->revs, 17, k->dev->device_id, KAT_NOT_BEFORE + 7200)) != CC_OK)
		return rc;
	if ((rc = cc_revlist_sign(&k->revs, k->root)) != CC_OK)
		return rc;
	if ((rc = cc_revlist_encode(&k->revs, &k->revs_enc)) != CC_OK)
		return rc;
	kat_default_policy(&k->policy);
	if ((rc = cc_policy_sign(&k->policy, k->root)) != CC_OK)
		return rc;
	if ((rc = cc_policy_encode(&k->policy, &k->policy_enc)) != CC_OK)
		return rc;
	if ((rc = cc_policy_hash(&k->policy, k->policy_hash)) != CC_OK)
		return rc;
	if ((rc = cc_keystore_new(&ks)) != CC_OK)
		return rc;
	if ((rc = cc_keystore_set_limits(ks, crypto_pwhash_argon2id_OPSLIMIT_MIN,
	                                 crypto_pwhash_argon2id_MEMLIMIT_MIN)) != CC_OK ||
	    (rc = cc_keystore_put(ks, "device", k->dev_enc.p, k->dev_enc.len)) != CC_OK ||
	    (rc = cc_keystore_put(ks, "root", k->root_enc.p, k->root_enc.len)) != CC_OK ||
	    (rc = cc_keystore_save_mem(ks, KAT_PASSPHRASE, strlen(KAT_PASSPHRASE), &k->keystore, &k->keystore_len)) !=
	            CC_OK) {
		cc_keystore_free(ks);
		return rc;
	}
	cc_keystore_free(ks);
	return CC_OK;
}

/* ---- vector files ---------------------------------------------------------- */

/* Reads $CASUS_VECTORS/identity/<name>.hex into a malloc'd buffer. NULL if missing. */
static inline uint8_t *kat_read_hex(const char *name, size_t *len)
{
	const char *dir = getenv("CASUS_VECTORS");
	char path[1024];
	FILE *f;
	char *text = NULL;
	uint8_t *bin = NULL;
	long sz;
	size_t got = 0;

	*len = 0;
	if (!dir)
		return NULL;
	snprintf(path, sizeof path, "%s/identity/%s.hex", dir, name);
	f = fopen(path, "rb");
	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
		fclose(f);
		return NULL;
	}
	text = calloc(1, (size_t)sz + 1);
	bin = malloc((size_t)sz / 2 + 1);
	if (text && bin && fread(text, 1, (size_t)sz, f) == (size_t)sz &&
	    sodium_hex2bin(bin, (size_t)sz / 2 + 1, text, (size_t)sz, " \n\r\t", &got, NULL) == 0) {
		*len = got;
		free(text);
		fclose(f);
		return bin;
	}
	free(text);
	free(bin);
	fclose(f);
	return NULL;
}

/* 1 if the vector file exists and equals (p, n) byte for byte. */
static inline int kat_matches(const char *name, const uint8_t *p, size_t n)
{
	size_t len = 0;
	uint8_t *v = kat_read_hex(name, &len);
	int ok = v && len == n && memcmp(v, p, n) == 0;
	if (!ok)
		fprintf(stderr, "vector %s: %s\n", name, v ? "differs" : "missing (is CASUS_VECTORS set?)");
	free(v);
	return ok;
}

#endif
