/* cc_err.c: names and descriptions of the crypto library's error codes. */
#include "cc_err.h"

struct err_desc {
	int code;
	const char *name;
	const char *text;
};

static const struct err_desc errs[] = {
	{CC_OK, "CC_OK", "success"},
	{CC_ERR_TRUNCATED, "CC_ERR_TRUNCATED", "input is truncated"},
	{CC_ERR_TRAILING, "CC_ERR_TRAILING", "unexpected trailing bytes"},
	{CC_ERR_VERSION, "CC_ERR_VERSION", "unknown format version"},
	{CC_ERR_MALFORMED, "CC_ERR_MALFORMED", "malformed field"},
	{CC_ERR_TOO_LARGE, "CC_ERR_TOO_LARGE", "length exceeds limit"},
	{CC_ERR_BAD_SIGNATURE, "CC_ERR_BAD_SIGNATURE", "signature does not verify"},
	{CC_ERR_EXPIRED, "CC_ERR_EXPIRED", "certificate has expired"},
	{CC_ERR_NOT_YET_VALID, "CC_ERR_NOT_YET_VALID", "certificate is not yet valid"},
	{CC_ERR_REVOKED, "CC_ERR_REVOKED", "device or certificate is revoked"},
	{CC_ERR_WRONG_ROOT, "CC_ERR_WRONG_ROOT", "signed by a different root key"},
	{CC_ERR_STALE, "CC_ERR_STALE", "older than the version already held"},
	{CC_ERR_UNKNOWN_ROLE, "CC_ERR_UNKNOWN_ROLE", "role is not defined in the policy"},
	{CC_ERR_PASSPHRASE, "CC_ERR_PASSPHRASE", "wrong passphrase or damaged keystore"},
	{CC_ERR_IO, "CC_ERR_IO", "file system error"},
	{CC_ERR_NOT_FOUND, "CC_ERR_NOT_FOUND", "not found"},
	{CC_ERR_FORBIDDEN, "CC_ERR_FORBIDDEN", "the actor's role may not make this change"},
	{CC_ERR_CHAIN, "CC_ERR_CHAIN", "commit does not build on the previous commit"},
	{CC_ERR_EPOCH, "CC_ERR_EPOCH", "wrong or skipped epoch"},
	{CC_ERR_REPLAY, "CC_ERR_REPLAY", "message replayed"},
	{CC_ERR_COUNTER, "CC_ERR_COUNTER", "sender counter did not increase"},
	{CC_ERR_NOT_RECIPIENT, "CC_ERR_NOT_RECIPIENT", "sealed key is not addressed to this device"},
	{CC_ERR_DECRYPT, "CC_ERR_DECRYPT", "ciphertext failed authentication"},
	{CC_ERR_KEY_COMMITMENT, "CC_ERR_KEY_COMMITMENT", "key-commitment tag mismatch"},
	{CC_ERR_AUDIENCE, "CC_ERR_AUDIENCE", "audience unknown or not allowed"},
	{CC_ERR_NOT_MEMBER, "CC_ERR_NOT_MEMBER", "not a member of the casus"},
	{CC_ERR_GROUND_REQUIRED, "CC_ERR_GROUND_REQUIRED", "a disclosure ground is required"},
	{CC_ERR_NO_KEY, "CC_ERR_NO_KEY", "no key held for this epoch or message"},
	{CC_ERR_ROSTER, "CC_ERR_ROSTER", "roster is inconsistent"},
	{CC_ERR_LEVEL, "CC_ERR_LEVEL", "level is outside the ladder or not allowed"},
	{CC_ERR_AUDIT_CHAIN, "CC_ERR_AUDIT_CHAIN", "audit hash chain is broken"},
	{CC_ERR_AUDIT_CHECKPOINT, "CC_ERR_AUDIT_CHECKPOINT", "audit checkpoint does not verify"},
	{CC_ERR_INVALID_ARG, "CC_ERR_INVALID_ARG", "invalid argument"},
	{CC_ERR_NOMEM, "CC_ERR_NOMEM", "out of memory"},
	{CC_ERR_CRYPTO, "CC_ERR_CRYPTO", "cryptographic library failure"},
};

static const struct err_desc *find(int err)
{
	for (unsigned i = 0; i < sizeof(errs) / sizeof(errs[0]); i++)
		if (errs[i].code == err)
			return &errs[i];
	return 0;
}

const char *cc_strerror(int err)
{
	const struct err_desc *d = find(err);
	return d ? d->text : "unknown error";
}

const char *cc_errname(int err)
{
	const struct err_desc *d = find(err);
	return d ? d->name : "CC_ERR_UNKNOWN";
}
