/*
 * json_test_audit_export.c: the JSON-lines export of the audit trail and the
 * CSV writer (audit/audit_export.c).
 *
 * Shows: an export of a 25-entry chain verifies from the file alone; each line
 * parses back to the same bytes; a line whose readable fields were edited, a
 * duplicate key, upper-case hex or an unknown type is refused; a changed raw
 * entry, a deleted line and a foreign audit key are reported with the line; a
 * pruned export verifies from its anchor; CSV cells are quoted and formula
 * cells defused.
 */
#include "audit_export.h"
#include "cc_buf.h"
#include "cc_err.h"
#include "check.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define N 25

static uint8_t pk[CC_SIGN_PK_BYTES], sk[CC_SIGN_SK_BYTES];
static char *lines[N + N / 10 + 1]; /* [0] header, then records */
static size_t nlines;
static cc_audit_checkpoint cp20;

static void build(void)
{
	cc_audit_chain c;
	cc_audit_chain_init(&c);
	uint8_t casus[CC_AUDIT_ID_BYTES];
	randombytes_buf(casus, sizeof casus);
	lines[0] = cc_audit_export_header(pk, 1795000999000LL, NULL);
	CHECK(lines[0] != NULL);
	nlines = 1;
	for (unsigned i = 1; i <= N; i++) {
		cc_audit_entry e;
		cc_audit_entry_init(&e);
		e.time_ms = 1795000000000LL + i;
		e.event = i % 2 ? CC_AUDIT_EV_HISTORY_FETCH : CC_AUDIT_EV_KEY_FETCH;
		snprintf(e.actor_user, sizeof e.actor_user, "ggd.%u", i);
		snprintf(e.actor_role, sizeof e.actor_role, "ggd");
		snprintf(e.actor_org, sizeof e.actor_org, "GGD \"Regio\", afd. <SH>");
		memcpy(e.casus_id, casus, sizeof casus);
		e.level = 2;
		e.seq_from = i;
		e.seq_to = i + 3;
		if (i == 7) {
			e.n_msg_ids = 1;
			memset(e.msg_ids[0], 0x42, CC_AUDIT_ID_BYTES);
		}
		snprintf(e.access_point, sizeof e.access_point, "192.0.2.%u:5000", i);
		cc_wbuf w;
		cc_w_init(&w);
		uint8_t h[CC_HASH_BYTES];
		CHECK_EQ_INT(cc_audit_chain_append(&c, &e, &w, h), CC_OK);
		lines[nlines] = cc_audit_export_entry(w.p, w.len, h);
		CHECK(lines[nlines] != NULL);
		nlines++;
		cc_w_free(&w);
		if (i % 10 == 0) {
			cc_audit_checkpoint cp;
			CHECK_EQ_INT(cc_audit_chain_checkpoint(&c, e.time_ms, sk, &cp), CC_OK);
			if (i == 20)
				cp20 = cp;
			cc_w_init(&w);
			CHECK_EQ_INT(cc_audit_checkpoint_encode(&cp, &w), CC_OK);
			lines[nlines] = cc_audit_export_checkpoint(w.p, w.len);
			CHECK(lines[nlines] != NULL);
			nlines++;
			cc_w_free(&w);
		}
	}
}

/* Join lines[from..to) (skipping index skip) plus an optional header override. */
static char *join(const char *header, size_t from, size_t to, size_t skip, const char *replace_at_skip)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (header)
		fprintf(f, "%s\n", header);
	for (size_t i = from; i < to; i++) {
		if (i == skip) {
			if (replace_at_skip)
				fprintf(f, "%s\n", replace_at_skip);
			continue;
		}
		fprintf(f, "%s\n", lines[i]);
	}
	fclose(f);
	return buf;
}

static int verify_text(const char *text, const uint8_t *key, const cc_audit_checkpoint *known, cc_audit_verifier *v,
                       unsigned long *line)
{
	FILE *f = fmemopen((void *)(uintptr_t)text, strlen(text), "r");
	if (!f)
		return CC_ERR_IO;
	int rc = cc_audit_export_verify(f, key, known, v, line);
	fclose(f);
	return rc;
}

static void test_export_verify(void)
{
	cc_audit_verifier v;
	unsigned long line;
	char *all = join(NULL, 0, nlines, (size_t)-1, NULL);
	CHECK_EQ_INT(verify_text(all, pk, NULL, &v, &line), CC_OK);
	CHECK_EQ_INT(v.entries, N);
	CHECK_EQ_INT(v.checkpoints, 2);
	CHECK_EQ_INT(cc_audit_verifier_unsealed(&v), 5);
	CHECK_EQ_INT(line, 0);
	/* a foreign audit key in the header is refused */
	uint8_t pk2[CC_SIGN_PK_BYTES], sk2[CC_SIGN_SK_BYTES];
	crypto_sign_keypair(pk2, sk2);
	CHECK_EQ_INT(verify_text(all, pk2, NULL, &v, &line), CC_ERR_WRONG_ROOT);
	CHECK_EQ_INT(line, 1);
	free(all);

	/* delete the line of entry 5 (line index 5): gap at 5, on line 6 of the file */
	char *t = join(NULL, 0, nlines, 5, NULL);
	CHECK_EQ_INT(verify_text(t, pk, NULL, &v, &line), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_GAP);
	CHECK_EQ_INT(v.fault_seq, 5);
	CHECK_EQ_INT(line, 6);
	free(t);

	/* change one raw byte of entry 3 and re-render its line consistently,
	 * keeping the stored hash: a hash fault at 3 */
	cc_audit_record rec;
	CHECK_EQ_INT(cc_audit_export_parse_line(lines[3], strlen(lines[3]), &rec), CC_OK);
	CHECK_EQ_INT(rec.entry.seq, 3);
	rec.raw[25] ^= 0x01; /* inside actor_user */
	char *forged = cc_audit_export_entry(rec.raw, rec.raw_len, rec.hash);
	CHECK(forged != NULL);
	t = join(NULL, 0, nlines, 3, forged);
	CHECK_EQ_INT(verify_text(t, pk, NULL, &v, &line), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_HASH);
	CHECK_EQ_INT(v.fault_seq, 3);
	CHECK_EQ_INT(line, 4);
	free(t);
	free(forged);

	/* tail cut: drop entries 21..25 and the last checkpoint is 20: the file
	 * alone passes, the remembered checkpoint of 25 from an earlier run ... */
	size_t idx20 = 0;
	for (size_t i = 0; i < nlines; i++)
		if (strstr(lines[i], "\"type\":\"checkpoint\",\"seq\":20,"))
			idx20 = i;
	CHECK(idx20 > 0);
	t = join(NULL, 0, idx20 + 1, (size_t)-1, NULL);
	CHECK_EQ_INT(verify_text(t, pk, NULL, &v, &line), CC_OK);
	/* ... says what is missing when the newer checkpoint is known */
	cc_audit_chain c;
	cc_audit_chain_resume(&c, 25, NULL, 20);
	cc_audit_checkpoint later;
	CHECK_EQ_INT(cc_audit_chain_checkpoint(&c, 1, sk, &later), CC_OK);
	CHECK_EQ_INT(verify_text(t, pk, &later, &v, &line), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_TAIL_CUT);
	CHECK_EQ_INT(v.fault_seq, 21);
	free(t);

	/* a pruned export: header names checkpoint 20 as anchor, entries 21.. */
	char *hdr = cc_audit_export_header(pk, 1795000999000LL, &cp20);
	CHECK(hdr != NULL);
	t = join(hdr, idx20 + 1, nlines, (size_t)-1, NULL);
	CHECK_EQ_INT(verify_text(t, pk, NULL, &v, &line), CC_OK);
	CHECK_EQ_INT(v.entries, 5);
	free(t);
	/* the same records without the anchor: gap from 1 */
	t = join(lines[0], idx20 + 1, nlines, (size_t)-1, NULL);
	CHECK_EQ_INT(verify_text(t, pk, NULL, &v, &line), CC_ERR_AUDIT_CHAIN);
	CHECK_EQ_INT(v.fault, CC_AUDIT_FAULT_GAP);
	CHECK_EQ_INT(v.fault_seq, 1);
	free(t);
	free(hdr);
	/* no header, or an empty file */
	t = join(NULL, 1, nlines, (size_t)-1, NULL);
	CHECK_EQ_INT(verify_text(t, pk, NULL, &v, &line), CC_ERR_MALFORMED);
	CHECK_EQ_INT(line, 1);
	free(t);
	CHECK_EQ_INT(verify_text("", pk, NULL, &v, &line), CC_ERR_TRUNCATED);
	/* an over-long line is refused without reading it whole */
	size_t big = CC_AUDIT_EXPORT_LINE_MAX + 100;
	char *huge = malloc(strlen(lines[0]) + 1 + big + 2);
	sprintf(huge, "%s\n", lines[0]);
	memset(huge + strlen(huge), 'x', big);
	huge[strlen(lines[0]) + 1 + big] = '\0';
	CHECK_EQ_INT(verify_text(huge, pk, NULL, &v, &line), CC_ERR_TOO_LARGE);
	CHECK_EQ_INT(line, 2);
	free(huge);
}

static char *replace(const char *s, const char *from, const char *to)
{
	const char *at = strstr(s, from);
	if (!at)
		return NULL;
	size_t n = strlen(s) - strlen(from) + strlen(to) + 1;
	char *out = malloc(n);
	size_t pre = (size_t)(at - s);
	memcpy(out, s, pre);
	strcpy(out + pre, to);
	strcat(out, at + strlen(from));
	return out;
}

static void test_parse_strict(void)
{
	cc_audit_record rec;
	/* every line parses, entries and checkpoints re-render to the same line */
	for (size_t i = 0; i < nlines; i++) {
		CHECK_EQ_INT(cc_audit_export_parse_line(lines[i], strlen(lines[i]), &rec), CC_OK);
		if (rec.type == CC_AUDIT_REC_ENTRY) {
			char *again = cc_audit_export_entry(rec.raw, rec.raw_len, rec.hash);
			CHECK(again && strcmp(again, lines[i]) == 0);
			free(again);
		} else if (rec.type == CC_AUDIT_REC_CHECKPOINT) {
			char *again = cc_audit_export_checkpoint(rec.raw, rec.raw_len);
			CHECK(again && strcmp(again, lines[i]) == 0);
			free(again);
		}
	}
	const char *e7 = lines[7];
	CHECK_EQ_INT(cc_audit_export_parse_line(e7, strlen(e7), &rec), CC_OK);
	CHECK_EQ_INT(rec.entry.n_msg_ids, 1);
	/* a trailing CRLF is fine */
	char *crlf = malloc(strlen(e7) + 3);
	sprintf(crlf, "%s\r\n", e7);
	CHECK_EQ_INT(cc_audit_export_parse_line(crlf, strlen(crlf), &rec), CC_OK);
	free(crlf);
	/* an edited readable field no longer matches raw */
	char *m = replace(e7, "\"actor_role\":\"ggd\"", "\"actor_role\":\"fg\"");
	CHECK(m != NULL);
	if (m)
		CHECK_EQ_INT(cc_audit_export_parse_line(m, strlen(m), &rec), CC_ERR_MALFORMED);
	free(m);
	m = replace(e7, "\"level\":2", "\"level\":2.0");
	if (m)
		CHECK_EQ_INT(cc_audit_export_parse_line(m, strlen(m), &rec), CC_ERR_MALFORMED);
	free(m);
	/* an extra key */
	m = replace(e7, "{\"type\"", "{\"note\":\"x\",\"type\"");
	if (m)
		CHECK_EQ_INT(cc_audit_export_parse_line(m, strlen(m), &rec), CC_ERR_MALFORMED);
	free(m);
	/* a duplicate key */
	m = replace(e7, "{\"type\":\"entry\"", "{\"type\":\"entry\",\"type\":\"entry\"");
	if (m)
		CHECK_EQ_INT(cc_audit_export_parse_line(m, strlen(m), &rec), CC_ERR_MALFORMED);
	free(m);
	/* upper-case hex in raw */
	const char *raw = strstr(e7, "\"raw\":\"") + 7;
	char *up = strdup(e7);
	for (char *p = up + (raw - e7); *p != '"'; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 'a' + 'A');
	CHECK_EQ_INT(cc_audit_export_parse_line(up, strlen(up), &rec), CC_ERR_MALFORMED);
	free(up);
	/* odd-length or non-hex raw, unknown type, not an object, two values */
	m = replace(e7, "\"raw\":\"01", "\"raw\":\"0");
	if (m)
		CHECK(cc_audit_export_parse_line(m, strlen(m), &rec) != CC_OK);
	free(m);
	m = replace(e7, "\"raw\":\"01", "\"raw\":\"zz");
	if (m)
		CHECK(cc_audit_export_parse_line(m, strlen(m), &rec) != CC_OK);
	free(m);
	m = replace(e7, "\"type\":\"entry\"", "\"type\":\"blob\"");
	if (m)
		CHECK_EQ_INT(cc_audit_export_parse_line(m, strlen(m), &rec), CC_ERR_VERSION);
	free(m);
	CHECK(cc_audit_export_parse_line("[1,2]", 5, &rec) != CC_OK);
	CHECK(cc_audit_export_parse_line("{} {}", 5, &rec) != CC_OK);
	CHECK(cc_audit_export_parse_line("", 0, &rec) != CC_OK);
	/* header with the wrong format version */
	m = replace(lines[0], "\"version\":1", "\"version\":2");
	if (m)
		CHECK_EQ_INT(cc_audit_export_parse_line(m, strlen(m), &rec), CC_ERR_VERSION);
	free(m);
	/* a checkpoint line with an edited count */
	for (size_t i = 0; i < nlines; i++) {
		if (!strstr(lines[i], "\"type\":\"checkpoint\""))
			continue;
		m = replace(lines[i], "\"count\":10", "\"count\":11");
		CHECK(m != NULL);
		if (m)
			CHECK_EQ_INT(cc_audit_export_parse_line(m, strlen(m), &rec), CC_ERR_MALFORMED);
		free(m);
		break;
	}
}

static char *csv_of(const char *cell)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	cc_audit_csv_cell(f, cell);
	fclose(f);
	return buf;
}

#define CHECK_CSV(in, want)                                                                                            \
	do {                                                                                                           \
		char *got_ = csv_of(in);                                                                               \
		CHECK(got_ &&strcmp(got_, (want)) == 0);                                                               \
		if (got_ && strcmp(got_, (want)) != 0)                                                                 \
			fprintf(stderr, "  csv got [%s]\n", got_);                                                     \
		free(got_);                                                                                            \
	} while (0)

static void test_csv(void)
{
	CHECK_CSV("plain", "plain");
	CHECK_CSV("", "");
	CHECK_CSV("a,b", "\"a,b\"");
	CHECK_CSV("say \"hi\"", "\"say \"\"hi\"\"\"");
	CHECK_CSV("two\nlines", "\"two\nlines\"");
	CHECK_CSV(" padded", "\" padded\"");
	CHECK_CSV("=1+1", "'=1+1");
	CHECK_CSV("+31 6 1234", "'+31 6 1234");
	CHECK_CSV("-2", "'-2");
	CHECK_CSV("@SUM(A1)", "'@SUM(A1)");
	CHECK_CSV("=HYPERLINK(\"http://x\",\"y\")", "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\"");
	CHECK_CSV("a=b", "a=b");

	/* a whole row with a hostile organisation name */
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.seq = 9;
	e.time_ms = 0;
	e.event = CC_AUDIT_EV_HISTORY_FETCH;
	snprintf(e.actor_org, sizeof e.actor_org, "=cmd|' /C calc'!A0");
	snprintf(e.actor_role, sizeof e.actor_role, "politie");
	snprintf(e.reason, sizeof e.reason, "contains, comma");
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	CHECK_EQ_INT(cc_audit_csv_header(f), CC_OK);
	CHECK_EQ_INT(cc_audit_csv_entry(f, &e, NULL), CC_OK);
	fclose(f);
	CHECK(strstr(buf, "seq,time,event,outcome,actor_user") == buf);
	CHECK(strstr(buf, "\r\n9,1970-01-01T00:00:00.000Z,history_fetch,success,") != NULL);
	CHECK(strstr(buf, ",'=cmd|' /C calc'!A0,") != NULL);
	CHECK(strstr(buf, ",=cmd") == NULL);
	CHECK(strstr(buf, ",\"contains, comma\",") != NULL);
	/* header and row have the same number of columns (no commas inside cells here
	 * except the quoted one) */
	unsigned commas_header = 0, commas_row = 0, in_q = 0, row = 0;
	for (const char *p = buf; *p; p++) {
		if (*p == '"')
			in_q = !in_q;
		else if (*p == '\n')
			row++;
		else if (*p == ',' && !in_q)
			*(row == 0 ? &commas_header : &commas_row) += 1;
	}
	CHECK_EQ_INT(commas_header, 23);
	CHECK_EQ_INT(commas_row, 23);
	free(buf);
}

static void test_time(void)
{
	char t[CC_AUDIT_TIME_ISO_BYTES];
	cc_audit_time_iso(0, t);
	CHECK(strcmp(t, "1970-01-01T00:00:00.000Z") == 0);
	cc_audit_time_iso(-1, t);
	CHECK(strcmp(t, "1969-12-31T23:59:59.999Z") == 0);
	cc_audit_time_iso(1795000000123LL, t);
	CHECK(strcmp(t, "2026-11-18T11:06:40.123Z") == 0);
	cc_audit_time_iso(INT64_MAX, t);
	CHECK(strcmp(t, "9223372036854775807") == 0);
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	crypto_sign_keypair(pk, sk);
	build();
	test_export_verify();
	test_parse_strict();
	test_csv();
	test_time();
	for (size_t i = 0; i < nlines; i++)
		free(lines[i]);
	return check_done();
}
