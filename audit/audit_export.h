/*
 * audit_export.h: the audit trail's JSON-lines export format, its strict
 * parser, a whole-file verifier, and a CSV writer for spreadsheets.
 *
 * The format is specified in docs/AUDIT.md ("Export formats"). In short, one
 * JSON object per line:
 *   {"type":"header","format":"casus-audit","version":1,"audit_pk":hex,
 *    "exported_at":iso,"anchor":hex|null}
 *   {"type":"entry","seq":n,"hash":hex,"raw":hex, ...decoded fields...}
 *   {"type":"checkpoint","seq":n,"raw":hex, ...decoded fields...}
 *   {"type":"cosign","seq":n,"raw":hex, ...decoded fields...}   (a witness)
 * The verifier works on "raw" (the canonical bytes), never on re-serialised
 * JSON. The decoded fields are there for people and tools (jq); the parser
 * insists they say exactly what "raw" says, so an edited field cannot mislead
 * a reader while the hashes still verify.
 *
 * Memory: every char * returned is malloc'd and owned by the caller (free()).
 * Depends on jansson and casus_crypto.
 */
#ifndef CASUS_AUDIT_EXPORT_H
#define CASUS_AUDIT_EXPORT_H

#include "cc_audit.h"
#include <stdint.h>
#include <stdio.h>

#define CC_AUDIT_EXPORT_FORMAT "casus-audit"
#define CC_AUDIT_EXPORT_VERSION 1
#define CC_AUDIT_EXPORT_LINE_MAX 65536 /* longer lines are refused unread */

/* "2026-11-22T12:50:58.123Z"; out of gmtime's range: the number of ms. */
#define CC_AUDIT_TIME_ISO_BYTES 40
void cc_audit_time_iso(int64_t ms, char out[CC_AUDIT_TIME_ISO_BYTES]);

/* ---- writing (casusd export, casus audit export) ------------------------- */

/* One line each, without the trailing newline. NULL on error (bad encoding,
 * out of memory). anchor may be NULL (trail starts at genesis). */
char *cc_audit_export_header(const uint8_t audit_pk[CC_SIGN_PK_BYTES], int64_t exported_ms,
                             const cc_audit_checkpoint *anchor);
char *cc_audit_export_entry(const uint8_t *raw, size_t n, const uint8_t hash[CC_HASH_BYTES]);
char *cc_audit_export_checkpoint(const uint8_t *raw, size_t n);
/* A witness's cosignature (cc_audit_cosign encoding), written after the
 * checkpoint it names (the anchor's right after the header). */
char *cc_audit_export_cosign(const uint8_t *raw, size_t n);

/* ---- reading --------------------------------------------------------------- */

enum cc_audit_record_type {
	CC_AUDIT_REC_HEADER = 1,
	CC_AUDIT_REC_ENTRY = 2,
	CC_AUDIT_REC_CHECKPOINT = 3,
	CC_AUDIT_REC_COSIGN = 4
};

typedef struct cc_audit_record {
	enum cc_audit_record_type type;
	/* header */
	uint8_t audit_pk[CC_SIGN_PK_BYTES];
	int has_anchor;
	cc_audit_checkpoint anchor;
	/* entry or checkpoint: the canonical bytes (points into raw_buf) */
	uint8_t raw[CC_AUDIT_ENTRY_MAX]; /* also a cosignature's bytes */
	size_t raw_len;
	uint8_t hash[CC_HASH_BYTES]; /* entry: the stored hash */
	cc_audit_entry entry;        /* entry, decoded from raw */
	cc_audit_checkpoint cp;      /* checkpoint, decoded from raw */
} cc_audit_record;

/* Parse one line (len bytes, a trailing "\n" or "\r\n" allowed). Rejects
 * duplicate keys, unknown types, bad hex, undecodable raw bytes, and decoded
 * fields that differ from raw (CC_ERR_MALFORMED). */
int cc_audit_export_parse_line(const char *line, size_t len, cc_audit_record *out) __attribute__((warn_unused_result));

/* Verify a whole export read from in: header first (its audit_pk must equal
 * the pinned pk, else CC_ERR_WRONG_ROOT), then entries and checkpoints in
 * order. known: a checkpoint remembered from an earlier verification, or
 * NULL. The verifier is left in *v for the caller to report (fault, seq,
 * unsealed count). *line_no is the line of the first fault (1-based), or 0.
 * Returns CC_OK, a verifier error (CC_ERR_AUDIT_CHAIN/CHECKPOINT), or a parse
 * error for an unreadable line. */
int cc_audit_export_verify(FILE *in, const uint8_t pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *known,
                           cc_audit_verifier *v, unsigned long *line_no) __attribute__((warn_unused_result));

/* The same, with a pinned witness key (NULL: none; see
 * cc_audit_verifier_pin_witness) and the remembered checkpoint applied by
 * cc_audit_verifier_known: *known_bridged is 1 when the trail was pruned past
 * it and the anchor's witness proved the extension. */
int cc_audit_export_verify_ex(FILE *in, const uint8_t pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *known,
                              const uint8_t *witness_pk, cc_audit_verifier *v, unsigned long *line_no,
                              int *known_bridged) __attribute__((warn_unused_result));

/* ---- CSV (RFC 4180, CRLF) ------------------------------------------------ */

/* One cell: quoted when it holds a comma, quote, CR or LF, or starts/ends with
 * a space; inner quotes doubled. A cell starting with = + - @ (or tab/CR) gets
 * a leading ' so that a spreadsheet shows it as text, not a formula. */
int cc_audit_csv_cell(FILE *f, const char *s);
int cc_audit_csv_header(FILE *f);
int cc_audit_csv_entry(FILE *f, const cc_audit_entry *e, const uint8_t hash[CC_HASH_BYTES]);

#endif
