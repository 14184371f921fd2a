/*
 * cc_err.h: error codes of the casus crypto library.
 *
 * Every function in crypto/ returns an int: CC_OK (0) on success or one of the
 * negative codes below. Codes name the problem in the domain's terms so that a
 * caller (and a person reading a log) knows what was wrong without guessing.
 * cc_strerror() turns a code into a short English sentence.
 */
#ifndef CASUS_CC_ERR_H
#define CASUS_CC_ERR_H

enum cc_err {
	CC_OK = 0,
	/* encoding */
	CC_ERR_TRUNCATED = -1, /* input ends before the structure does */
	CC_ERR_TRAILING = -2,  /* bytes left over after the structure */
	CC_ERR_VERSION = -3,   /* unknown format version or type tag */
	CC_ERR_MALFORMED = -4, /* a field has a value the format forbids */
	CC_ERR_TOO_LARGE = -5, /* a length exceeds its cap */
	/* signatures and identity */
	CC_ERR_BAD_SIGNATURE = -10, /* signature does not verify */
	CC_ERR_EXPIRED = -11,       /* certificate past its validity */
	CC_ERR_NOT_YET_VALID = -12, /* certificate before its validity */
	CC_ERR_REVOKED = -13,       /* device or certificate revoked */
	CC_ERR_WRONG_ROOT = -14,    /* signed by another deployment's root */
	CC_ERR_STALE = -15,         /* an older policy or revocation list than the one held */
	CC_ERR_UNKNOWN_ROLE = -16,  /* role not in the policy */
	/* keystore */
	CC_ERR_PASSPHRASE = -20, /* wrong passphrase or damaged keystore */
	CC_ERR_IO = -21,         /* file system error (errno is kept) */
	CC_ERR_NOT_FOUND = -22,  /* no such entry */
	/* end-to-end layer */
	CC_ERR_FORBIDDEN = -30,       /* the actor's role may not make this change */
	CC_ERR_CHAIN = -31,           /* commit does not build on the previous commit */
	CC_ERR_EPOCH = -32,           /* wrong or skipped epoch */
	CC_ERR_REPLAY = -33,          /* message id seen before */
	CC_ERR_COUNTER = -34,         /* sender counter did not increase */
	CC_ERR_NOT_RECIPIENT = -35,   /* sealed key not addressed to this device */
	CC_ERR_DECRYPT = -36,         /* authentication of ciphertext failed */
	CC_ERR_KEY_COMMITMENT = -37,  /* key-commitment tag mismatch */
	CC_ERR_AUDIENCE = -38,        /* audience unknown or not allowed */
	CC_ERR_NOT_MEMBER = -39,      /* device or user is not in the roster */
	CC_ERR_GROUND_REQUIRED = -40, /* a disclosure ground is required */
	CC_ERR_NO_KEY = -41,          /* no key held for that epoch or message */
	CC_ERR_ROSTER = -42,          /* roster inconsistent with policy or previous roster */
	CC_ERR_LEVEL = -43,           /* level outside the ladder or not allowed */
	/* audit */
	CC_ERR_AUDIT_CHAIN = -50,      /* audit hash chain broken */
	CC_ERR_AUDIT_CHECKPOINT = -51, /* audit checkpoint does not verify */
	/* generic */
	CC_ERR_INVALID_ARG = -90, /* caller passed something unusable */
	CC_ERR_NOMEM = -91,       /* allocation failed */
	CC_ERR_CRYPTO = -92       /* libsodium reported an internal failure */
};

/* Returns a static, human-readable description; never NULL. */
const char *cc_strerror(int err);

/* The symbolic name ("CC_ERR_REVOKED") for logs and JSON; never NULL. */
const char *cc_errname(int err);

#endif
