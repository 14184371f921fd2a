/*
 * audit_export.c: JSON-lines export and CSV of the audit trail (see
 * audit_export.h and docs/AUDIT.md). Untrusted input is parsed with jansson
 * (JSON_REJECT_DUPLICATES); the verifier itself is crypto/cc_audit.c.
 */
#include "audit_export.h"
#include "cc_buf.h"
#include "cc_err.h"

#include <jansson.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void cc_audit_time_iso(int64_t ms, char out[CC_AUDIT_TIME_ISO_BYTES])
{
	int64_t secs = ms / 1000, rem = ms % 1000;
	if (rem < 0) {
		rem += 1000;
		secs -= 1;
	}
	struct tm tm;
	time_t t = (time_t)secs;
	if ((int64_t)t != secs || !gmtime_r(&t, &tm) || tm.tm_year > 9999 - 1900 || tm.tm_year < 0 - 1900) {
		snprintf(out, CC_AUDIT_TIME_ISO_BYTES, "%lld", (long long)ms);
		return;
	}
	/* The moduli only tell the compiler the ranges gmtime_r already keeps. */
	snprintf(out, CC_AUDIT_TIME_ISO_BYTES, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ",
	         (unsigned)(tm.tm_year + 1900) % 10000u, (unsigned)tm.tm_mon % 12u + 1u, (unsigned)tm.tm_mday % 32u,
	         (unsigned)tm.tm_hour % 24u, (unsigned)tm.tm_min % 60u, (unsigned)tm.tm_sec % 61u,
	         (unsigned)rem % 1000u);
}

/* ---- building the JSON view of raw bytes -------------------------------- */

static json_t *hex_json(const uint8_t *p, size_t n)
{
	char *hex = malloc(2 * n + 1);
	if (!hex)
		return NULL;
	sodium_bin2hex(hex, 2 * n + 1, p, n);
	json_t *j = json_string(hex);
	free(hex);
	return j;
}

/* u64 as a JSON integer while it fits, else as a decimal string. */
static json_t *u64_json(uint64_t v)
{
	if (v <= (uint64_t)INT64_MAX)
		return json_integer((json_int_t)v);
	char buf[24];
	snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
	return json_string(buf);
}

static int set(json_t *o, const char *k, json_t *v)
{
	return v ? json_object_set_new(o, k, v) : -1;
}

static json_t *entry_object(const uint8_t *raw, size_t n, const uint8_t hash[CC_HASH_BYTES], cc_audit_entry *e)
{
	if (cc_audit_entry_decode(raw, n, e) != CC_OK)
		return NULL;
	json_t *o = json_object();
	if (!o)
		return NULL;
	char t[CC_AUDIT_TIME_ISO_BYTES];
	cc_audit_time_iso(e->time_ms, t);
	const char *ev = cc_audit_event_name(e->event);
	json_t *ids = json_array();
	int bad = !ids;
	for (unsigned i = 0; ids && i < e->n_msg_ids; i++)
		bad |= json_array_append_new(ids, hex_json(e->msg_ids[i], CC_AUDIT_ID_BYTES));
	bad |= set(o, "type", json_string("entry"));
	bad |= set(o, "seq", u64_json(e->seq));
	bad |= set(o, "hash", hex_json(hash, CC_HASH_BYTES));
	bad |= set(o, "raw", hex_json(raw, n));
	bad |= set(o, "time", json_string(t));
	bad |= set(o, "time_ms", json_integer((json_int_t)e->time_ms));
	bad |= set(o, "event", ev ? json_string(ev) : json_null());
	bad |= set(o, "event_code", json_integer(e->event));
	bad |= set(o, "outcome", json_string(cc_audit_outcome_name(e->outcome)));
	bad |= set(o, "actor_user", json_string(e->actor_user));
	bad |= set(o, "actor_device", hex_json(e->actor_device, CC_AUDIT_ID_BYTES));
	bad |= set(o, "actor_role", json_string(e->actor_role));
	bad |= set(o, "actor_org", json_string(e->actor_org));
	bad |= set(o, "on_behalf_of", json_string(e->on_behalf_of));
	bad |= set(o, "casus", hex_json(e->casus_id, CC_AUDIT_ID_BYTES));
	bad |= set(o, "purpose", json_string(e->purpose));
	bad |= set(o, "legal_basis", json_string(e->legal_basis));
	bad |= set(o, "level", json_integer(e->level));
	bad |= set(o, "level_prev", json_integer(e->level_prev));
	bad |= set(o, "ground", json_string(cc_audit_ground_name(e->ground)));
	bad |= set(o, "break_glass", json_boolean(e->break_glass));
	bad |= set(o, "seq_from", u64_json(e->seq_from));
	bad |= set(o, "seq_to", u64_json(e->seq_to));
	bad |= set(o, "msg_ids", ids);
	bad |= set(o, "object", json_string(e->object));
	bad |= set(o, "access_point", json_string(e->access_point));
	bad |= set(o, "reason", json_string(e->reason));
	bad |= set(o, "error", json_string(e->error));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *cp_object(const uint8_t *raw, size_t n, cc_audit_checkpoint *cp)
{
	if (cc_audit_checkpoint_decode(raw, n, cp) != CC_OK)
		return NULL;
	json_t *o = json_object();
	if (!o)
		return NULL;
	char t[CC_AUDIT_TIME_ISO_BYTES];
	cc_audit_time_iso(cp->time_ms, t);
	int bad = 0;
	bad |= set(o, "type", json_string("checkpoint"));
	bad |= set(o, "seq", u64_json(cp->seq));
	bad |= set(o, "raw", hex_json(raw, n));
	bad |= set(o, "entry_hash", hex_json(cp->entry_hash, CC_HASH_BYTES));
	bad |= set(o, "time", json_string(t));
	bad |= set(o, "time_ms", json_integer((json_int_t)cp->time_ms));
	bad |= set(o, "count", u64_json(cp->count));
	bad |= set(o, "sig", hex_json(cp->sig, CC_SIG_BYTES));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *cosign_object(const uint8_t *raw, size_t n, cc_audit_cosign *c)
{
	if (cc_audit_cosign_decode(raw, n, c) != CC_OK)
		return NULL;
	json_t *o = json_object();
	if (!o)
		return NULL;
	char t[CC_AUDIT_TIME_ISO_BYTES];
	cc_audit_time_iso(c->time_ms, t);
	int bad = 0;
	bad |= set(o, "type", json_string("cosign"));
	bad |= set(o, "seq", u64_json(c->seq));
	bad |= set(o, "raw", hex_json(raw, n));
	bad |= set(o, "entry_hash", hex_json(c->entry_hash, CC_HASH_BYTES));
	bad |= set(o, "witness", json_string(c->user));
	bad |= set(o, "witness_device", hex_json(c->device, CC_AUDIT_ID_BYTES));
	bad |= set(o, "witness_key", hex_json(c->witness_pk, CC_SIGN_PK_BYTES));
	bad |= set(o, "time", json_string(t));
	bad |= set(o, "time_ms", json_integer((json_int_t)c->time_ms));
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static char *dump(json_t *o)
{
	if (!o)
		return NULL;
	char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

char *cc_audit_export_entry(const uint8_t *raw, size_t n, const uint8_t hash[CC_HASH_BYTES])
{
	cc_audit_entry e;
	if (!raw || !hash)
		return NULL;
	return dump(entry_object(raw, n, hash, &e));
}

char *cc_audit_export_checkpoint(const uint8_t *raw, size_t n)
{
	cc_audit_checkpoint cp;
	if (!raw)
		return NULL;
	return dump(cp_object(raw, n, &cp));
}

char *cc_audit_export_cosign(const uint8_t *raw, size_t n)
{
	cc_audit_cosign c;
	if (!raw)
		return NULL;
	return dump(cosign_object(raw, n, &c));
}

char *cc_audit_export_header(const uint8_t audit_pk[CC_SIGN_PK_BYTES], int64_t exported_ms,
                             const cc_audit_checkpoint *anchor)
{
	if (!audit_pk)
		return NULL;
	json_t *o = json_object();
	if (!o)
		return NULL;
	char t[CC_AUDIT_TIME_ISO_BYTES];
	cc_audit_time_iso(exported_ms, t);
	int bad = 0;
	bad |= set(o, "type", json_string("header"));
	bad |= set(o, "format", json_string(CC_AUDIT_EXPORT_FORMAT));
	bad |= set(o, "version", json_integer(CC_AUDIT_EXPORT_VERSION));
	bad |= set(o, "audit_pk", hex_json(audit_pk, CC_SIGN_PK_BYTES));
	bad |= set(o, "exported_at", json_string(t));
	if (anchor) {
		cc_wbuf w;
		cc_w_init(&w);
		if (cc_audit_checkpoint_encode(anchor, &w) == CC_OK)
			bad |= set(o, "anchor", hex_json(w.p, w.len));
		else
			bad = 1;
		cc_w_free(&w);
	} else {
		bad |= set(o, "anchor", json_null());
	}
	if (bad) {
		json_decref(o);
		return NULL;
	}
	return dump(o);
}

/* ---- parsing ------------------------------------------------------------ */

/* Lower-case hex of exactly the right length for [min, max] bytes. */
static int hex_field(json_t *o, const char *key, uint8_t *out, size_t min, size_t max, size_t *n)
{
	const char *s = json_string_value(json_object_get(o, key));
	if (!s)
		return CC_ERR_MALFORMED;
	size_t len = strlen(s);
	if (len % 2 || len / 2 < min || len / 2 > max)
		return len / 2 > max ? CC_ERR_TOO_LARGE : CC_ERR_MALFORMED;
	size_t got = 0;
	if (sodium_hex2bin(out, max, s, len, NULL, &got, NULL) != 0 || got != len / 2)
		return CC_ERR_MALFORMED;
	if (n)
		*n = got;
	return CC_OK;
}

int cc_audit_export_parse_line(const char *line, size_t len, cc_audit_record *out)
{
	if (!line || !out)
		return CC_ERR_INVALID_ARG;
	memset(out, 0, sizeof(*out));
	if (len > CC_AUDIT_EXPORT_LINE_MAX)
		return CC_ERR_TOO_LARGE;
	if (len && line[len - 1] == '\n')
		len--;
	if (len && line[len - 1] == '\r')
		len--;
	json_error_t jerr;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!o)
		return CC_ERR_MALFORMED;
	int rc = CC_ERR_MALFORMED;
	json_t *built = NULL;
	const char *type = json_string_value(json_object_get(o, "type"));
	if (!json_is_object(o) || !type)
		goto out;
	if (strcmp(type, "header") == 0) {
		out->type = CC_AUDIT_REC_HEADER;
		const char *fmt = json_string_value(json_object_get(o, "format"));
		json_t *ver = json_object_get(o, "version");
		if (!fmt || strcmp(fmt, CC_AUDIT_EXPORT_FORMAT) != 0 || !json_is_integer(ver)) {
			rc = CC_ERR_MALFORMED;
			goto out;
		}
		if (json_integer_value(ver) != CC_AUDIT_EXPORT_VERSION) {
			rc = CC_ERR_VERSION;
			goto out;
		}
		rc = hex_field(o, "audit_pk", out->audit_pk, CC_SIGN_PK_BYTES, CC_SIGN_PK_BYTES, NULL);
		if (rc)
			goto out;
		json_t *a = json_object_get(o, "anchor");
		if (a && !json_is_null(a)) {
			uint8_t cpb[CC_AUDIT_CP_BYTES];
			rc = hex_field(o, "anchor", cpb, CC_AUDIT_CP_BYTES, CC_AUDIT_CP_BYTES, NULL);
			if (!rc)
				rc = cc_audit_checkpoint_decode(cpb, sizeof cpb, &out->anchor);
			if (rc)
				goto out;
			out->has_anchor = 1;
		}
		rc = CC_OK;
	} else if (strcmp(type, "entry") == 0) {
		out->type = CC_AUDIT_REC_ENTRY;
		rc = hex_field(o, "raw", out->raw, 1, CC_AUDIT_ENTRY_MAX, &out->raw_len);
		if (!rc)
			rc = hex_field(o, "hash", out->hash, CC_HASH_BYTES, CC_HASH_BYTES, NULL);
		if (rc)
			goto out;
		built = entry_object(out->raw, out->raw_len, out->hash, &out->entry);
		rc = built && json_equal(o, built) ? CC_OK : CC_ERR_MALFORMED;
	} else if (strcmp(type, "checkpoint") == 0) {
		out->type = CC_AUDIT_REC_CHECKPOINT;
		rc = hex_field(o, "raw", out->raw, CC_AUDIT_CP_BYTES, CC_AUDIT_CP_BYTES, &out->raw_len);
		if (rc)
			goto out;
		built = cp_object(out->raw, out->raw_len, &out->cp);
		rc = built && json_equal(o, built) ? CC_OK : CC_ERR_MALFORMED;
	} else if (strcmp(type, "cosign") == 0) {
		out->type = CC_AUDIT_REC_COSIGN;
		rc = hex_field(o, "raw", out->raw, 1, CC_AUDIT_COSIGN_MAX, &out->raw_len);
		if (rc)
			goto out;
		cc_audit_cosign c;
		built = cosign_object(out->raw, out->raw_len, &c);
		rc = built && json_equal(o, built) ? CC_OK : CC_ERR_MALFORMED;
	} else {
		rc = CC_ERR_VERSION;
	}
out:
	json_decref(built);
	json_decref(o);
	if (rc) {
		enum cc_audit_record_type t = out->type;
		memset(out, 0, sizeof(*out));
		out->type = t;
	}
	return rc;
}

/* Read one line into buf (cap bytes) without ever holding more than cap:
 * 1 = a line (its length in *len, newline included), 0 = end of file,
 * -1 = longer than cap-1 bytes, -2 = read error. */
static int read_line(FILE *in, char *buf, size_t cap, size_t *len)
{
	size_t n = 0;
	int c;
	while ((c = getc(in)) != EOF) {
		if (n + 1 >= cap)
			return -1;
		buf[n++] = (char)c;
		if (c == '\n')
			break;
	}
	if (c == EOF && ferror(in))
		return -2;
	*len = n;
	return n ? 1 : 0;
}

int cc_audit_export_verify(FILE *in, const uint8_t pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *known,
                           cc_audit_verifier *v, unsigned long *line_no)
{
	return cc_audit_export_verify_ex(in, pk, known, NULL, v, line_no, NULL);
}

int cc_audit_export_verify_ex(FILE *in, const uint8_t pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *known,
                              const uint8_t *witness_pk, cc_audit_verifier *v, unsigned long *line_no,
                              int *known_bridged)
{
	int known_pending = 0;
	if (known_bridged)
		*known_bridged = 0;
	if (line_no)
		*line_no = 0;
	if (!in || !pk || !v)
		return CC_ERR_INVALID_ARG;
	cc_audit_record *rec = malloc(sizeof(*rec));
	char *line = malloc(CC_AUDIT_EXPORT_LINE_MAX + 1);
	size_t got = 0;
	unsigned long no = 0, fault_line = 0;
	int rc = CC_OK, started = 0, rl;
	memset(v, 0, sizeof(*v));
	if (!rec || !line) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	while ((rl = read_line(in, line, CC_AUDIT_EXPORT_LINE_MAX + 1, &got)) != 0) {
		no++;
		if (rl < 0) {
			rc = rl == -1 ? CC_ERR_TOO_LARGE : CC_ERR_IO;
			fault_line = no;
			goto out;
		}
		rc = cc_audit_export_parse_line(line, got, rec);
		if (rc) {
			fault_line = no;
			goto out;
		}
		if (!started) {
			if (rec->type != CC_AUDIT_REC_HEADER) {
				rc = CC_ERR_MALFORMED;
				fault_line = no;
				goto out;
			}
			if (sodium_memcmp(rec->audit_pk, pk, CC_SIGN_PK_BYTES) != 0) {
				rc = CC_ERR_WRONG_ROOT;
				fault_line = no;
				goto out;
			}
			started = 1;
			cc_audit_verifier_init(v, pk, rec->has_anchor ? &rec->anchor : NULL);
			if (witness_pk)
				cc_audit_verifier_pin_witness(v, witness_pk);
			/* the remembered checkpoint is applied after the anchor's
			 * cosignatures (the lines right after the header) */
			known_pending = known != NULL;
			if (v->err)
				fault_line = no;
			continue;
		}
		int was_err = v->err;
		if (known_pending && rec->type != CC_AUDIT_REC_COSIGN) {
			known_pending = 0;
			if (cc_audit_verifier_known(v, known) == 1 && known_bridged)
				*known_bridged = 1;
			if (!was_err && v->err) {
				fault_line = no;
				was_err = 1;
			}
		}
		if (rec->type == CC_AUDIT_REC_COSIGN)
			(void)cc_audit_verifier_cosign(v, rec->raw, rec->raw_len);
		else if (rec->type == CC_AUDIT_REC_ENTRY)
			(void)cc_audit_verifier_entry(v, rec->raw, rec->raw_len, rec->hash);
		else if (rec->type == CC_AUDIT_REC_CHECKPOINT)
			(void)cc_audit_verifier_checkpoint(v, rec->raw, rec->raw_len);
		else {
			rc = CC_ERR_MALFORMED; /* a second header */
			fault_line = no;
			goto out;
		}
		if (!was_err && v->err)
			fault_line = no;
	}
	if (!started) {
		rc = CC_ERR_TRUNCATED; /* empty file: no header */
		goto out;
	}
	if (known_pending && cc_audit_verifier_known(v, known) == 1 && known_bridged)
		*known_bridged = 1;
	rc = cc_audit_verifier_finish(v);
	if (rc && !fault_line)
		fault_line = no; /* tail cut: found at the end */
out:
	free(line);
	free(rec);
	if (line_no)
		*line_no = fault_line;
	return rc;
}

/* ---- CSV ---------------------------------------------------------------- */

int cc_audit_csv_cell(FILE *f, const char *s)
{
	if (!f)
		return CC_ERR_INVALID_ARG;
	if (!s)
		s = "";
	size_t n = strlen(s);
	int formula = n && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' || s[0] == '\t' || s[0] == '\r');
	int quote = strpbrk(s, ",\"\r\n") != NULL || (n && (s[0] == ' ' || s[n - 1] == ' '));
	int bad = 0;
	if (quote)
		bad |= fputc('"', f) == EOF;
	if (formula)
		bad |= fputc('\'', f) == EOF;
	for (const char *p = s; *p; p++) {
		if (*p == '"')
			bad |= fputc('"', f) == EOF;
		bad |= fputc(*p, f) == EOF;
	}
	if (quote)
		bad |= fputc('"', f) == EOF;
	return bad ? CC_ERR_IO : CC_OK;
}

static const char *const csv_columns[] = {"seq",          "time",        "event",     "outcome",      "actor_user",
                                          "actor_device", "actor_role",  "actor_org", "on_behalf_of", "casus",
                                          "purpose",      "legal_basis", "level",     "level_prev",   "ground",
                                          "break_glass",  "seq_from",    "seq_to",    "msg_ids",      "object",
                                          "access_point", "reason",      "error",     "hash"};

#define NCOLS (sizeof csv_columns / sizeof csv_columns[0])

static int csv_row(FILE *f, const char *const *cells, size_t n)
{
	int rc = CC_OK;
	for (size_t i = 0; i < n && !rc; i++) {
		if (i && fputc(',', f) == EOF)
			rc = CC_ERR_IO;
		if (!rc)
			rc = cc_audit_csv_cell(f, cells[i]);
	}
	if (!rc && fputs("\r\n", f) == EOF)
		rc = CC_ERR_IO;
	return rc;
}

int cc_audit_csv_header(FILE *f)
{
	if (!f)
		return CC_ERR_INVALID_ARG;
	return csv_row(f, csv_columns, NCOLS);
}

int cc_audit_csv_entry(FILE *f, const cc_audit_entry *e, const uint8_t hash[CC_HASH_BYTES])
{
	if (!f || !e)
		return CC_ERR_INVALID_ARG;
	char seq[24], tim[CC_AUDIT_TIME_ISO_BYTES], evbuf[16], dev[33], casus[33], lvl[4], lvlp[4];
	char from[24], to[24], hx[2 * CC_HASH_BYTES + 1];
	char ids[CC_AUDIT_MSG_IDS_MAX * (2 * CC_AUDIT_ID_BYTES + 1) + 1];
	snprintf(seq, sizeof seq, "%llu", (unsigned long long)e->seq);
	cc_audit_time_iso(e->time_ms, tim);
	const char *ev = cc_audit_event_name(e->event);
	if (!ev) {
		snprintf(evbuf, sizeof evbuf, "%u", (unsigned)e->event);
		ev = evbuf;
	}
	sodium_bin2hex(dev, sizeof dev, e->actor_device, CC_AUDIT_ID_BYTES);
	sodium_bin2hex(casus, sizeof casus, e->casus_id, CC_AUDIT_ID_BYTES);
	snprintf(lvl, sizeof lvl, "%u", (unsigned)e->level);
	snprintf(lvlp, sizeof lvlp, "%u", (unsigned)e->level_prev);
	snprintf(from, sizeof from, "%llu", (unsigned long long)e->seq_from);
	snprintf(to, sizeof to, "%llu", (unsigned long long)e->seq_to);
	ids[0] = '\0';
	unsigned nids = e->n_msg_ids <= CC_AUDIT_MSG_IDS_MAX ? e->n_msg_ids : CC_AUDIT_MSG_IDS_MAX;
	for (unsigned i = 0; i < nids; i++) {
		size_t at = strlen(ids);
		if (i)
			ids[at++] = ' ';
		sodium_bin2hex(ids + at, sizeof ids - at, e->msg_ids[i], CC_AUDIT_ID_BYTES);
	}
	hx[0] = '\0';
	if (hash)
		sodium_bin2hex(hx, sizeof hx, hash, CC_HASH_BYTES);
	const char *outcome = cc_audit_outcome_name(e->outcome);
	const char *ground = cc_audit_ground_name(e->ground);
	const char *cells[NCOLS] = {seq,
	                            tim,
	                            ev,
	                            outcome ? outcome : "?",
	                            e->actor_user,
	                            dev,
	                            e->actor_role,
	                            e->actor_org,
	                            e->on_behalf_of,
	                            casus,
	                            e->purpose,
	                            e->legal_basis,
	                            lvl,
	                            lvlp,
	                            ground ? ground : "?",
	                            e->break_glass ? "yes" : "no",
	                            from,
	                            to,
	                            ids,
	                            e->object,
	                            e->access_point,
	                            e->reason,
	                            e->error,
	                            hx};
	return csv_row(f, cells, NCOLS);
}
