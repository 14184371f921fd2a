/*
 * ccore.c: the device-wide part of the client core (ccore.h): codes and
 * sentences, warnings, the verified policy and revocation list, directory
 * certificates, pairing codes, terminal text and the paging bound. The
 * per-casus part is ccore_casus.c. No I/O: only crypto/, jansson and the C
 * standard library.
 */
#include "ccore_int.h"

#include <cc_err.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	int rc;
	const char *code;
	const char *nl;
	const char *en;
} codes[] = {
	{CCORE_E_INVALID, "tampered", "Het antwoord van de server is ongeldig.", "The server's answer is malformed."},
	{CCORE_E_NOMEM, "internal", "Geheugen op.", "Out of memory."},
	{CCORE_E_REVOKED, "revoked", "Een ingetrokken apparaat of een oudere intrekkingslijst.",
         "A revoked device, or an older revocation list than the one held."},
	{CCORE_E_WITHHELD, "withheld_commit", "Uw wijziging is niet in de keten terechtgekomen.",
         "Your change was acknowledged but is not the verified head of the chain: withheld."},
	{CCORE_E_WRONG_CASUS, "wrong_casus", "De keten of het bericht hoort bij een andere casus.",
         "The chain or message belongs to another casus than the one asked for."},
	{CCORE_E_STALE_EPOCH, "stale_epoch_message", "Bericht in een afgesloten periode.",
         "A message in a superseded epoch, placed after the commit that closed it or from a sender not "
         "entitled then."},
	{CCORE_E_FUTURE, "future_commit", "Een wijziging is gedateerd in de toekomst.",
         "A commit is dated beyond the allowed clock skew."},
	{CCORE_E_ROLLBACK, "rollback", "De server biedt een oudere of afwijkende keten.",
         "The server offers a chain shorter than or diverging from the verified local copy, or an "
         "unverified removal."},
	{CCORE_E_EXPIRED, "expired_cert", "Een certificaat is niet geldig op dit moment.",
         "A certificate is not valid at the verifier's time."},
	{CCORE_E_GRANT_AUDIENCE, "grant_audience", "Gedeeld bericht buiten wat uw rol mag lezen.",
         "A grant of an audience your role may not read."},
	{CCORE_E_STALE_POLICY, "stale_policy",
         "Een ouder beleid dan het bekende, of een wijziging onder een ander beleid dan het geldende.",
         "A policy older than the one held, or a commit naming a policy older than the chain's or newer "
         "than this device holds."},
	{CCORE_E_BAD_SIGNATURE, "bad_signature", "Een handtekening klopt niet.", "A signature does not verify."},
	{CCORE_E_REPLAY, "replay", "Een herhaald bericht of herhaalde wijziging.", "A replayed message or commit."},
	{CCORE_E_GHOST, "ghost_commit", "Een wijziging van iemand die geen lid is.",
         "A commit not signed by a member."},
	{CCORE_E_TAMPERED, "tampered", "Versleutelde inhoud klopt niet.", "Ciphertext or object does not verify."},
	{CCORE_E_PAGING, "paging", "De server blijft lege pagina's sturen.",
         "The server keeps sending pages without progress."},
	{CCORE_E_WIDENED, "audience_widened", "Het bericht zou nu voor meer ontvangers versleuteld worden.",
         "The queued post would now be encrypted for more recipients than when it was written: kept as failed."},
	{CCORE_E_FORBIDDEN, "forbidden", "Het beleid staat dit niet toe.", "The policy does not allow this."},
	{CCORE_E_NO_KEY, "no_key", "Dit apparaat heeft de sleutel niet.", "This device holds no key for it."},
	{CCORE_E_NO_POLICY, "no_policy", "Nog geen geverifieerd beleid.", "No verified policy yet."},
	{CCORE_E_WITHHELD_BOX, "withheld_box", "De server houdt de sleutel van dit apparaat voor een wijziging achter.",
         "The server withholds this device's sealed key box of a commit: a box that box retention never "
         "deletes (sealed to this device's newest wrap key, while it is a member) is missing."},
};

static int find_code(int rc)
{
	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (codes[i].rc == rc)
			return (int)i;
	return -1;
}

const char *ccore_code(int rc)
{
	int i = find_code(rc);
	return rc == CCORE_OK ? "ok" : i < 0 ? "internal" : codes[i].code;
}

int ccore_from_cc(int r)
{
	switch (r) {
	case CC_OK:
		return CCORE_OK;
	case CC_ERR_REVOKED:
		return CCORE_E_REVOKED;
	case CC_ERR_EXPIRED:
	case CC_ERR_NOT_YET_VALID:
		return CCORE_E_EXPIRED;
	case CC_ERR_BAD_SIGNATURE:
	case CC_ERR_WRONG_ROOT:
		return CCORE_E_BAD_SIGNATURE;
	case CC_ERR_STALE:
		return CCORE_E_STALE_POLICY;
	case CC_ERR_NOT_MEMBER:
		return CCORE_E_GHOST;
	case CC_ERR_REPLAY:
	case CC_ERR_COUNTER:
		return CCORE_E_REPLAY;
	case CC_ERR_CHAIN:
	case CC_ERR_EPOCH:
		return CCORE_E_ROLLBACK;
	case CC_ERR_FORBIDDEN:
	case CC_ERR_LEVEL:
	case CC_ERR_GROUND_REQUIRED:
		return CCORE_E_FORBIDDEN;
	case CC_ERR_NO_KEY:
	case CC_ERR_NOT_RECIPIENT:
		return CCORE_E_NO_KEY;
	case CC_ERR_NOMEM:
		return CCORE_E_NOMEM;
	default:
		return CCORE_E_TAMPERED;
	}
}

int ccore_fail(ccore *c, int rc, const char *fmt, ...)
{
	char detail[256] = "";
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(detail, sizeof detail, fmt, ap);
		va_end(ap);
	}
	int i = find_code(rc);
	snprintf(c->msg, sizeof c->msg, "%s %s%s%s", i < 0 ? "Fout." : codes[i].nl, i < 0 ? "Error." : codes[i].en,
	         detail[0] ? " " : "", detail);
	return rc;
}

int ccore_new(ccore **out, const uint8_t root[CC_SIGN_PK_BYTES], const cc_device_keys *keys, const cc_cert *cert)
{
	*out = NULL;
	if (!root || !keys || !cert)
		return CCORE_E_INVALID;
	ccore *c = calloc(1, sizeof *c);
	if (!c)
		return CCORE_E_NOMEM;
	c->keys = sodium_malloc(sizeof *c->keys);
	c->warnings = json_array();
	if (!c->keys || !c->warnings) {
		ccore_free(c);
		return CCORE_E_NOMEM;
	}
	memcpy(c->keys, keys, sizeof *c->keys);
	memcpy(c->root, root, sizeof c->root);
	c->cert = *cert;
	cc_revlist_init(&c->revs);
	*out = c;
	return CCORE_OK;
}

void ccore_free(ccore *c)
{
	if (!c)
		return;
	if (c->keys)
		sodium_free(c->keys); /* wipes */
	ccore_wraps_free(c);
	cc_revlist_free(&c->revs);
	json_decref(c->warnings);
	free(c);
}

const char *ccore_message(const ccore *c)
{
	return c->msg;
}

json_t *ccore_take_warnings(ccore *c)
{
	json_t *w = c->warnings;
	c->warnings = json_array();
	return w ? w : json_array();
}

void ccore_warn(ccore *c, const char *code, const char *fmt, ...)
{
	char m[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof m, fmt, ap);
	va_end(ap);
	/* one warning per distinct sentence */
	size_t i;
	json_t *o;
	json_array_foreach(c->warnings, i, o) {
		if (strcmp(json_string_value(json_object_get(o, "message")) ?: "", m) == 0)
			return;
	}
	json_array_append_new(c->warnings, json_pack("{ssss}", "code", code, "message", m));
}

/* ---- policy ------------------------------------------------------------------- */

int ccore_policy_offer(ccore *c, const uint8_t *p, size_t n, int stored, int *changed)
{
	cc_policy pol;
	*changed = 0;
	if (!p || cc_policy_decode(p, n, &pol) != CC_OK)
		return ccore_fail(c, CCORE_E_INVALID, "(policy does not decode)");
	int r = cc_policy_verify(&pol, c->root, NULL);
	if (r != CC_OK)
		return ccore_fail(c, CCORE_E_BAD_SIGNATURE, "(the policy is not signed by the deployment root: %s)",
		                  cc_errname(r));
	if (c->have_policy && pol.number < c->policy.number)
		return ccore_fail(c, CCORE_E_STALE_POLICY, "(policy %llu offered, %llu held)",
		                  (unsigned long long)pol.number, (unsigned long long)c->policy.number);
	*changed = !stored && (!c->have_policy || pol.number > c->policy.number);
	c->policy = pol;
	c->have_policy = 1;
	return CCORE_OK;
}

const cc_policy *ccore_policy(const ccore *c)
{
	return c->have_policy ? &c->policy : NULL;
}

/* ---- revocation list ---------------------------------------------------------- */

int ccore_revlist_offer(ccore *c, const uint8_t *p, size_t n, int64_t now, int stored, int *changed)
{
	*changed = 0;
	if (!p || !n) {
		/* the held list stays in force whatever the server says; an older
		 * list is refused below, no list at all is shown */
		if (c->have_revs)
			ccore_warn(
				c, "rollback",
				"De server biedt geen intrekkingslijst; lijst %llu blijft gelden. The server offers no "
				"revocation list; list %llu held here stays in force.",
				(unsigned long long)c->revs.number, (unsigned long long)c->revs.number);
		return CCORE_OK;
	}
	cc_revlist l;
	if (cc_revlist_decode(p, n, &l) != CC_OK)
		return ccore_fail(c, CCORE_E_INVALID, "(revocation list does not decode)");
	int r = cc_revlist_verify(&l, c->root, NULL);
	if (r != CC_OK) {
		cc_revlist_free(&l);
		return ccore_fail(c, CCORE_E_BAD_SIGNATURE, "(revocation list: %s)", cc_errname(r));
	}
	if (c->have_revs && l.number < c->revs.number) {
		uint64_t got = l.number;
		cc_revlist_free(&l);
		return ccore_fail(c, CCORE_E_REVOKED, "(revocation list %llu offered, %llu held)",
		                  (unsigned long long)got, (unsigned long long)c->revs.number);
	}
	if (now > 0 && l.issued_at + CCORE_REVLIST_MAX_AGE < now)
		ccore_warn(c, "stale_revlist",
		           "De intrekkingslijst is ouder dan 7 dagen. The revocation list (number %llu) is more than 7 "
		           "days old.",
		           (unsigned long long)l.number);
	if (c->have_revs && l.number == c->revs.number) {
		cc_revlist_free(&l);
		return CCORE_OK;
	}
	cc_revlist_free(&c->revs);
	c->revs = l;
	c->have_revs = 1;
	*changed = !stored;
	return CCORE_OK;
}

const cc_revlist *ccore_revlist(const ccore *c)
{
	return c->have_revs ? &c->revs : NULL;
}

int ccore_is_revoked(const ccore *c, const cc_cert *cert)
{
	return c->have_revs && cc_revlist_contains(&c->revs, cert->serial, cert->device_id);
}

/* ---- directory ----------------------------------------------------------------- */

int ccore_dir_cert(const ccore *c, const uint8_t *p, size_t n, const char *user, int64_t now, cc_cert *out)
{
	cc_cert ct;
	if (!p || cc_cert_decode(p, n, &ct) != CC_OK)
		return CCORE_E_INVALID;
	int r = cc_cert_verify(&ct, c->root, now, ccore_revlist(c));
	if (r != CC_OK)
		return ccore_from_cc(r);
	if (user && strcmp(ct.user_id, user) != 0)
		return CCORE_E_TAMPERED;
	*out = ct;
	return CCORE_OK;
}

int ccore_own_cert(const uint8_t root[CC_SIGN_PK_BYTES], const cc_device_keys *keys, const uint8_t *p, size_t n,
                   int64_t now, cc_cert *out)
{
	cc_cert ct;
	if (!p || !keys || cc_cert_decode(p, n, &ct) != CC_OK)
		return CCORE_E_INVALID;
	int r = cc_cert_verify(&ct, root, now, NULL);
	if (r != CC_OK)
		return ccore_from_cc(r);
	if (sodium_memcmp(ct.sign_pk, keys->sign_pk, sizeof ct.sign_pk) != 0 ||
	    sodium_memcmp(ct.box_pk, keys->box_pk, sizeof ct.box_pk) != 0 ||
	    memcmp(ct.device_id, keys->device_id, sizeof ct.device_id) != 0)
		return CCORE_E_TAMPERED;
	*out = ct;
	return CCORE_OK;
}

void ccore_pairing_code(const cc_cert *cert, char out[20])
{
	static const char hx[] = "0123456789abcdef";
	uint8_t h[8];
	crypto_generichash_state st;
	crypto_generichash_init(&st, NULL, 0, sizeof h);
	crypto_generichash_update(&st, (const uint8_t *)"casus.v1 pairing", 16);
	crypto_generichash_update(&st, cert->device_id, sizeof cert->device_id);
	crypto_generichash_update(&st, cert->sign_pk, sizeof cert->sign_pk);
	crypto_generichash_final(&st, h, sizeof h);
	size_t o = 0;
	for (int i = 0; i < 8; i++) {
		out[o++] = hx[h[i] >> 4];
		out[o++] = hx[h[i] & 15];
		if (i % 2 == 1 && i < 7)
			out[o++] = '-';
	}
	out[o] = 0;
}

/* ---- terminal text -------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (1..4) and its code point, or 0. */
static size_t utf8_one(const unsigned char *s, uint32_t *cp)
{
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t len = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 && s[0] < 0xe0 ? 2 : 0;
	if (!len || (len == 3 && s[0] >= 0xf0))
		return 0;
	uint32_t v = s[0] & (len == 2 ? 0x1f : len == 3 ? 0x0f : 0x07);
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		v = v << 6 | (s[i] & 0x3f);
	}
	if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10ffff)) || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

static int unsafe_cp(uint32_t v)
{
	return v < 0x20 || v == 0x7f || (v >= 0x80 && v <= 0x9f) || (v >= 0x202a && v <= 0x202e) ||
	       (v >= 0x2066 && v <= 0x2069) || v == 0x200e || v == 0x200f || v == 0x061c;
}

char *ccore_text_clean(const char *s)
{
	if (!s)
		s = "";
	size_t n = strlen(s);
	if (n > (SIZE_MAX - 1) / 3)
		return NULL;
	char *out = malloc(n * 3 + 1); /* a replaced byte becomes 3 bytes at most */
	if (!out)
		return NULL;
	size_t o = 0;
	const unsigned char *p = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		uint32_t cp = 0;
		size_t len = utf8_one(p + i, &cp);
		if (!len || unsafe_cp(cp)) {
			memcpy(out + o, "\xef\xbf\xbd", 3); /* U+FFFD */
			o += 3;
			i += len ? len : 1;
		} else {
			memcpy(out + o, p + i, len);
			o += len;
			i += len;
		}
	}
	out[o] = 0;
	return out;
}

int ccore_paging_step(ccore_pager *pg, size_t new_items, int more)
{
	pg->pages++;
	if (!more)
		return 0;
	pg->idle = new_items ? 0 : pg->idle + 1;
	if (pg->idle >= CCORE_PAGING_IDLE_MAX || pg->pages >= CCORE_PAGING_MAX)
		return CCORE_E_PAGING;
	return 1;
}

/* ---- a server that went back in time (issue #16) -------------------------------- */

int ccore_store_epoch(ccore *c, const char *epoch, int stored)
{
	size_t n = epoch ? strlen(epoch) : 0;
	if (!c || n == 0 || n > CCORE_STORE_EPOCH_MAX)
		return CCORE_E_INVALID;
	for (size_t i = 0; i < n; i++)
		if (!((epoch[i] >= '0' && epoch[i] <= '9') || (epoch[i] >= 'a' && epoch[i] <= 'f')))
			return CCORE_E_INVALID;
	int rc = CCORE_OK;
	/* not warned here: a device with nothing of that server's past at stake
	 * (no local copy) has nothing to lose; each local copy made from the old
	 * store is warned about when it is loaded (ccore_rollback_check) */
	if (!stored && c->store_epoch[0] && strcmp(c->store_epoch, epoch) != 0)
		rc = ccore_fail(c, CCORE_E_ROLLBACK, "(the server's store epoch changed)");
	memcpy(c->store_epoch, epoch, n + 1);
	return rc;
}

const char *ccore_store_epoch_held(const ccore *c)
{
	return c->store_epoch;
}
