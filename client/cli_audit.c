/*
 * cli_audit.c: `casus audit ...`, the privacy officer's commands.
 *
 * Online (authenticated; fg reads everything, procesregisseur only a casus it
 * is a member of):
 *   casus audit [--casus C] [--user U] [--from ISO] [--to ISO] [--limit N] [--key HEX]
 *   casus audit key                                  the server's audit key (first-time pinning)
 *   casus audit export [--casus C] [--user U] [--from ISO] [--to ISO]
 *                      --format jsonl|csv --out FILE [--key HEX]
 *   casus audit report CASUS [--from ISO] [--to ISO] [--html FILE] [--json FILE] [--key HEX]
 * Offline (no profile, no connection):
 *   casus audit receipts [--key HEX]                 fetch, check and keep the signed receipts for this
 *                                                    device's own reads (profile folder, audit_receipts.jsonl)
 *   casus audit witness [--key HEX]                  fg: verify the whole trail, check it extends the
 *                                                    checkpoint this device cosigned last, cosign the new ones
 *   casus audit verify FILE --key HEX [--anchor CHECKPOINT_HEX] [--remember STATEFILE] [--witness PK]
 *   casus audit verify --backup DIR --key HEX [--anchor CHECKPOINT_HEX] [--remember STATEFILE] [--witness PK]
 *                      [--receipts FILE]             also check a device's receipts against the backup
 *
 * The verifier never trusts the server: checkpoints are checked with the key
 * the privacy officer pinned (--key, or CASUS_AUDIT_KEY). Online, the fg
 * always fetches the whole trail, verifies chain and checkpoints, and filters
 * locally, so that what it shows, exports or reports comes from a verified
 * trail. A process director only gets the entries of its casus: those are
 * checked one by one (they decode, the checkpoints that come along are
 * signed by the pinned key) but cannot be chained; the output says so.
 *
 * Exit codes: the one vocabulary of cli_exit.h (0 ok, 1 refused, 2 usage,
 * 3 profile, 4 network, 5 verify: a verification fault, 9 internal); with
 * --json every error carries its word as "kind".
 * Nothing here prints content, keys (other than the public audit key) or
 * passphrases: audit entries hold none.
 */
#include "cli_audit.h"
#include "audit_backup.h"
#include "audit_export.h"
#include "audit_report.h"
#include "audit_trail.h"
#include "cli_exit.h"
#include "libcasus_audit.h"

#include <cc_buf.h>
#include <cc_err.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <proto.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define EXIT_FAULT CLI_EXIT_VERIFY
/* the witness's state in the profile folder: the newest checkpoint it cosigned */
#define WITNESS_STATE "audit_witness.cp"
/* a device's receipts for its own reads, one JSON object per line */
#define RECEIPTS_FILE "audit_receipts.jsonl"
#define RECEIPTS_MAX_LINES 1000000
#define PAGE 1000

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

/* First argument that is neither an option nor an option's value. */
static const char *positional(int argc, char **argv, int skip)
{
	for (int i = 0; i < argc; i++) {
		if (strncmp(argv[i], "--", 2) == 0) {
			i++;
			continue;
		}
		if (skip-- == 0)
			return argv[i];
	}
	return NULL;
}

static void print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);
	printf("%s\n", s ? s : "{}");
	free(s);
	fflush(stdout);
}

static int usage_err(int json, const char *msg)
{
	if (json) {
		json_t *o = json_pack("{sbs{ssssss}}", "ok", 0, "error", "code", "usage", "kind",
		                      cli_exit_kind(CLI_EXIT_USAGE), "message", msg);
		print_json(o);
		json_decref(o);
	} else {
		fprintf(stderr, "casus audit: %s\n", msg);
	}
	return CLI_EXIT_USAGE;
}

static int fail_msg(int json, int code, const char *ecode, const char *msg)
{
	if (json) {
		json_t *o = json_pack("{sbs{ssssss}}", "ok", 0, "error", "code", ecode, "kind", cli_exit_kind(code),
		                      "message", msg);
		print_json(o);
		json_decref(o);
	} else {
		fprintf(stderr, "casus audit: %s\n", msg);
	}
	return code;
}

/* "2026-11-22", "2026-11-22T12:00", "2026-11-22T12:00:00", "...Z", "...+00:00"
 * (UTC only) -> ms since 1970. */
static int parse_iso(const char *s, int64_t *out)
{
	int Y, M, D, h = 0, m = 0, sec = 0, ms = 0, n = 0;
	if (sscanf(s, "%4d-%2d-%2d%n", &Y, &M, &D, &n) != 3)
		return -1;
	const char *p = s + n;
	if (*p == 'T' || *p == ' ') {
		int k = 0;
		if (sscanf(p + 1, "%2d:%2d%n", &h, &m, &k) != 2)
			return -1;
		p += 1 + k;
		if (*p == ':') {
			if (sscanf(p + 1, "%2d%n", &sec, &k) != 1)
				return -1;
			p += 1 + k;
			if (*p == '.') {
				if (sscanf(p + 1, "%3d%n", &ms, &k) != 1)
					return -1;
				p += 1 + k;
			}
		}
	}
	if (*p == 'Z')
		p++;
	else if (strcmp(p, "+00:00") == 0)
		p += 6;
	if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
		return -1;
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	tm.tm_year = Y - 1900;
	tm.tm_mon = M - 1;
	tm.tm_mday = D;
	tm.tm_hour = h;
	tm.tm_min = m;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	*out = (int64_t)t * 1000 + ms;
	return 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int parse_hex(const char *hex, uint8_t *out, size_t n)
{
	size_t got = 0;
	if (!hex || strlen(hex) != 2 * n || sodium_hex2bin(out, n, hex, 2 * n, NULL, &got, NULL) != 0 || got != n)
		return -1;
	return 0;
}

/* --key HEX or CASUS_AUDIT_KEY: 1 if pinned, 0 if none given, -1 if malformed. */
static int pinned_key(int argc, char **argv, uint8_t pk[CC_SIGN_PK_BYTES])
{
	const char *k = opt(argc, argv, "--key");
	if (!k)
		k = getenv("CASUS_AUDIT_KEY");
	if (!k || !*k)
		return 0;
	return parse_hex(k, pk, CC_SIGN_PK_BYTES) == 0 ? 1 : -1;
}

static int parse_anchor(const char *hex, cc_audit_checkpoint *cp)
{
	uint8_t raw[CC_AUDIT_CP_BYTES];
	if (parse_hex(hex, raw, sizeof raw) != 0)
		return -1;
	return cc_audit_checkpoint_decode(raw, sizeof raw, cp) == CC_OK ? 0 : -1;
}

static char *cp_hex(const cc_audit_checkpoint *cp)
{
	cc_wbuf w;
	cc_w_init(&w);
	char *hex = NULL;
	if (cc_audit_checkpoint_encode(cp, &w) == CC_OK && !w.err) {
		hex = malloc(2 * w.len + 1);
		if (hex)
			sodium_bin2hex(hex, 2 * w.len + 1, w.p, w.len);
	}
	cc_w_free(&w);
	return hex;
}

/* ---- verification report (shared by all verify paths) ---------------------- */

/* --remember FILE: the newest checkpoint verified is kept there and fed as the
 * known checkpoint next time, so a cut tail is found without copying hex. */
static const char *g_remember;
/* receipts checked by verify --backup --receipts, merged into the JSON verdict */
static json_t *g_receipts_report;

static int cp_file_write(const char *path, const cc_audit_checkpoint *cp)
{
	char *hex = cp_hex(cp);
	char tmp[4200];
	int ok = 0;
	if (hex && strlen(path) < sizeof tmp - 8) {
		snprintf(tmp, sizeof tmp, "%s.tmp", path);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0) {
			size_t n = strlen(hex);
			hex[n] = '\n';
			ok = write(fd, hex, n + 1) == (ssize_t)(n + 1) && fsync(fd) == 0;
			close(fd);
			ok = ok && rename(tmp, path) == 0;
			if (!ok)
				unlink(tmp);
		}
	}
	free(hex);
	return ok ? 0 : -1;
}

static int remember_write(const cc_audit_checkpoint *cp)
{
	return cp_file_write(g_remember, cp);
}

/* 1 read, 0 no such file, -1 unreadable or not a checkpoint. */
static int cp_file_read(const char *path, cc_audit_checkpoint *cp)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : -1;
	char buf[2 * CC_AUDIT_CP_BYTES + 8];
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return parse_anchor(buf, cp) == 0 ? 1 : -1;
}

static int remember_read(cc_audit_checkpoint *cp)
{
	return cp_file_read(g_remember, cp);
}

/* What the verifier saw of witnesses and restore segments, for both outputs. */
static void witness_text(FILE *to, const cc_audit_verifier *v)
{
	if (v->witnessed)
		fprintf(to,
		        "witnessed: %" PRIu64 " checkpoints countersigned (%" PRIu64
		        " cosignatures%s), the newest at seq %" PRIu64 " by %s\n",
		        v->witnessed, v->cosigns, v->witness_pinned ? " with the pinned witness key" : "",
		        v->last_witnessed_seq, v->last_witness_user);
	else
		fprintf(to, "witnessed: no checkpoint is countersigned by a witness%s\n",
		        v->witness_pinned ? " with the pinned witness key" : "");
	if (v->cosigns_other)
		fprintf(to,
		        "note: %" PRIu64 " cosignatures by other keys than the pinned witness (checked, not counted)\n",
		        v->cosigns_other);
	if (v->segments)
		fprintf(to,
		        "segment: the store was restored from a backup; a new segment starts at seq %" PRIu64
		        " and continues from seq %" PRIu64 " (entries the old server wrote after its backup are not in "
		        "this trail)\n",
		        v->segment_seq, v->segment_from);
}

static int report_verdict(int json, const char *source, int rc, const cc_audit_verifier *v, unsigned long line,
                          const char *note)
{
	if (rc == CC_OK) {
		char *last = v->have_cp ? cp_hex(&v->last_cp) : NULL;
		if (g_remember && v->have_cp && remember_write(&v->last_cp) != 0)
			fprintf(stderr, "casus audit: warning: could not write %s\n", g_remember);
		uint64_t first = v->entries ? v->first_seq : 0;
		if (json) {
			json_t *o = json_pack("{sbsbsssIsIsIsIsI}", "ok", 1, "verified", 1, "source", source, "entries",
			                      (json_int_t)v->entries, "checkpoints", (json_int_t)v->checkpoints,
			                      "first_seq", (json_int_t)first, "last_seq", (json_int_t)v->last_seq,
			                      "unsealed", (json_int_t)cc_audit_verifier_unsealed(v));
			json_object_set_new(o, "anchor_seq", json_integer((json_int_t)(v->first_seq - 1)));
			json_object_set_new(o, "last_checkpoint", last ? json_string(last) : json_null());
			cc_audit_trail_witness_json(o, v);
			if (g_receipts_report)
				json_object_update(o, g_receipts_report);
			if (note)
				json_object_set_new(o, "note", json_string(note));
			print_json(o);
			json_decref(o);
		} else {
			printf("OK: %s: %" PRIu64 " entries (seq %" PRIu64 "..%" PRIu64 "), %" PRIu64
			       " checkpoints verified with the pinned audit key",
			       source, v->entries, first, v->last_seq, v->checkpoints);
			if (v->first_seq > 1)
				printf(", from the anchor at seq %" PRIu64, v->first_seq - 1);
			printf("\n");
			if (cc_audit_verifier_unsealed(v))
				printf("note: the last %" PRIu64
				       " entries are not sealed by a checkpoint yet (chain only)\n",
				       cc_audit_verifier_unsealed(v));
			witness_text(stdout, v);
			if (note)
				printf("note: %s\n", note);
			if (last)
				printf("remember this checkpoint and pass it next time as --anchor:\n%s\n", last);
		}
		free(last);
		return 0;
	}
	const char *fname = cc_audit_fault_name(v->fault);
	const char *ftext = cc_audit_fault_text(v->fault);
	if (json) {
		json_t *o = json_pack("{sbsbsssssssIsI}", "ok", 0, "verified", 0, "source", source, "fault", fname,
		                      "message", ftext, "fault_seq", (json_int_t)v->fault_seq, "found_seq",
		                      (json_int_t)v->found_seq);
		json_object_set_new(o, "error", json_pack("{ssss}", "code", "audit_fault", "message", ftext));
		if (line)
			json_object_set_new(o, "line", json_integer((json_int_t)line));
		json_object_set_new(o, "kind", json_string(cli_exit_kind(EXIT_FAULT)));
		cc_audit_trail_witness_json(o, v);
		print_json(o);
		json_decref(o);
	} else {
		printf("FAULT: %s: %s at seq %" PRIu64, source, fname, v->fault_seq);
		if (v->found_seq && (v->fault == CC_AUDIT_FAULT_GAP || v->fault == CC_AUDIT_FAULT_ORDER))
			printf(" (found seq %" PRIu64 " in its place)", v->found_seq);
		if (line)
			printf(", line %lu", line);
		printf("\n  %s\n", ftext);
		if (v->segments)
			printf("  (the trail has a restore segment at seq %" PRIu64 ")\n", v->segment_seq);
	}
	return EXIT_FAULT;
}

/* ---- offline: verify an export or a backup ------------------------------------ */

static int verify_export(const char *path, const uint8_t pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *known,
                         const uint8_t *witness, int json)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		char m[600];
		snprintf(m, sizeof m, "cannot read %s: %s", path, strerror(errno));
		return fail_msg(json, CLI_EXIT_REFUSED, "io", m);
	}
	cc_audit_verifier *v = malloc(sizeof(*v));
	if (!v) {
		fclose(f);
		return fail_msg(json, CLI_EXIT_REFUSED, "nomem", "out of memory");
	}
	unsigned long line = 0;
	int bridged = 0;
	int rc = cc_audit_export_verify_ex(f, pk, known, witness, v, &line, &bridged);
	fclose(f);
	const char *note = bridged ? "the trail was pruned past your remembered checkpoint; the new anchor is "
	                             "countersigned by the pinned witness, which proves it extends it"
	                           : NULL;
	int ret;
	if (rc == CC_OK || rc == CC_ERR_AUDIT_CHAIN || rc == CC_ERR_AUDIT_CHECKPOINT) {
		ret = report_verdict(json, path, rc, v, line, note);
	} else {
		char m[300];
		if (rc == CC_ERR_WRONG_ROOT)
			snprintf(m, sizeof m, "line %lu: the export names another audit key than the pinned one", line);
		else
			snprintf(m, sizeof m, "line %lu: not a valid casus-audit line (%s): edited or damaged export",
			         line, cc_strerror(rc));
		if (json) {
			json_t *o = json_pack("{sbsbsssssIs{ssss}}", "ok", 0, "verified", 0, "source", path, "fault",
			                      rc == CC_ERR_WRONG_ROOT ? "wrong_key" : "unreadable_line", "line",
			                      (json_int_t)line, "error", "code", "audit_fault", "message", m);
			print_json(o);
			json_decref(o);
		} else {
			printf("FAULT: %s: %s\n", path, m);
		}
		ret = EXIT_FAULT;
	}
	free(v);
	return ret;
}

struct receipt {
	uint64_t seq;
	uint8_t hash[CC_HASH_BYTES];
	uint8_t sig[CC_SIG_BYTES];
};

static int hex_of(const json_t *o, const char *key, uint8_t *out, size_t n)
{
	const char *h = json_string_value(json_object_get(o, key));
	return h ? parse_hex(h, out, n) : -1;
}

/* Read a receipts file (casus audit receipts): every line must be a receipt
 * signed by pk. Returns the count, or -1 with the bad line in *bad_line. */
static long receipts_read(const char *path, const uint8_t pk[CC_SIGN_PK_BYTES], struct receipt **out,
                          unsigned long *bad_line)
{
	*out = NULL;
	*bad_line = 0;
	FILE *f = fopen(path, "r");
	if (!f)
		return errno == ENOENT ? 0 : -1;
	struct receipt *r = NULL;
	size_t n = 0, cap = 0;
	char *line = NULL;
	size_t lcap = 0;
	unsigned long no = 0;
	long ret = 0;
	while (getline(&line, &lcap, f) > 0) {
		no++;
		json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, NULL);
		struct receipt x;
		json_t *sq = json_object_get(o, "seq");
		int ok = json_is_integer(sq) && json_integer_value(sq) > 0 &&
		         hex_of(o, "hash", x.hash, CC_HASH_BYTES) == 0 && hex_of(o, "sig", x.sig, CC_SIG_BYTES) == 0;
		x.seq = ok ? (uint64_t)json_integer_value(sq) : 0;
		json_decref(o);
		if (!ok || cc_audit_receipt_verify(pk, x.seq, x.hash, x.sig) != CC_OK || no > RECEIPTS_MAX_LINES) {
			*bad_line = no;
			ret = -1;
			break;
		}
		if (n == cap) {
			size_t nc = cap ? cap * 2 : 64;
			struct receipt *p = realloc(r, nc * sizeof(*p));
			if (!p) {
				ret = -1;
				break;
			}
			r = p;
			cap = nc;
		}
		r[n++] = x;
	}
	free(line);
	fclose(f);
	if (ret < 0) {
		free(r);
		return -1;
	}
	*out = r;
	return (long)n;
}

/* Each receipt against the backup: the entry must be there with the hash
 * the audit key signed (or pruned, before the anchor). 0, or the exit code
 * after reporting. */
static int receipts_check(const char *dir, const char *path, const uint8_t pk[CC_SIGN_PK_BYTES], uint64_t anchor_seq,
                          json_t *report, int json)
{
	struct receipt *r = NULL;
	unsigned long bad = 0;
	long n = receipts_read(path, pk, &r, &bad);
	if (n < 0) {
		char m[700];
		snprintf(m, sizeof m, "%s line %lu: not a receipt signed by the pinned audit key", path, bad);
		return fail_msg(json, EXIT_FAULT, "receipt_unreadable", m);
	}
	uint64_t *seqs = malloc(((size_t)n + 1) * sizeof(*seqs));
	uint8_t(*hs)[CC_HASH_BYTES] = malloc(((size_t)n + 1) * sizeof(*hs));
	int *found = malloc(((size_t)n + 1) * sizeof(*found));
	int ret = 0;
	if (!seqs || !hs || !found) {
		ret = fail_msg(json, CLI_EXIT_INTERNAL, "nomem", "out of memory");
		goto out;
	}
	for (long i = 0; i < n; i++)
		seqs[i] = r[i].seq;
	if (cc_audit_backup_hashes(dir, seqs, (size_t)n, hs, found) != CC_OK) {
		ret = fail_msg(json, CLI_EXIT_REFUSED, "io", "the backup cannot be read for the receipts");
		goto out;
	}
	long checked = 0, pruned = 0;
	for (long i = 0; i < n; i++) {
		if (r[i].seq <= anchor_seq) {
			pruned++;
			continue;
		}
		if (!found[i] || sodium_memcmp(hs[i], r[i].hash, CC_HASH_BYTES) != 0) {
			const char *msg =
				"an entry the audit key signed a receipt for is missing or different: the trail "
				"was rewritten after the receipt was given";
			if (json) {
				json_t *o = json_pack("{sbsbsssssIss}", "ok", 0, "verified", 0, "source", dir, "fault",
				                      found[i] ? "receipt_mismatch" : "receipt_missing", "fault_seq",
				                      (json_int_t)r[i].seq, "kind", cli_exit_kind(EXIT_FAULT));
				json_object_set_new(o, "message", json_string(msg));
				json_object_set_new(o, "error",
				                    json_pack("{ssss}", "code", "audit_fault", "message", msg));
				print_json(o);
				json_decref(o);
			} else {
				printf("FAULT: %s: %s at seq %" PRIu64 "\n  %s\n", dir,
				       found[i] ? "receipt_mismatch" : "receipt_missing", r[i].seq, msg);
			}
			ret = EXIT_FAULT;
			goto out;
		}
		checked++;
	}
	json_object_set_new(report, "receipts_checked", json_integer(checked));
	json_object_set_new(report, "receipts_pruned", json_integer(pruned));
out:
	free(seqs);
	free(hs);
	free(found);
	free(r);
	return ret;
}

static int verify_backup(const char *dir, const uint8_t pk[CC_SIGN_PK_BYTES], const cc_audit_checkpoint *known,
                         const uint8_t *witness, const char *receipts, int json)
{
	cc_audit_verifier *v = malloc(sizeof(*v));
	cc_audit_backup_result *res = malloc(sizeof(*res));
	if (!v || !res) {
		free(v);
		free(res);
		return fail_msg(json, CLI_EXIT_REFUSED, "nomem", "out of memory");
	}
	int lrc = 0;
	int rc = cc_audit_backup_verify(dir, pk, known, witness, v, res, &lrc);
	int ret;
	if (rc == CC_OK && receipts) {
		/* the receipts first: a fault there is the verdict */
		json_t *rep = json_object();
		int rr = receipts_check(dir, receipts, pk, v->first_seq - 1, rep, json);
		if (rr) {
			json_decref(rep);
			free(v);
			free(res);
			return rr;
		}
		if (!json)
			printf("receipts: %lld checked against the trail, %lld pruned\n",
			       (long long)json_integer_value(json_object_get(rep, "receipts_checked")),
			       (long long)json_integer_value(json_object_get(rep, "receipts_pruned")));
		g_receipts_report = rep;
	}
	if (rc == CC_ERR_IO) {
		char m[600];
		snprintf(m, sizeof m, "%s is not a readable casusd store: %s", dir, mdb_strerror(lrc));
		ret = fail_msg(json, CLI_EXIT_REFUSED, "io", m);
	} else {
		ret = report_verdict(json, dir, rc, v, 0,
		                     res->known_skipped
		                             ? "the trail was pruned past your remembered checkpoint; the new "
		                               "anchor is countersigned by the pinned witness, which "
		                               "proves it extends it"
		                             : NULL);
	}
	free(v);
	free(res);
	json_decref(g_receipts_report);
	g_receipts_report = NULL;
	return ret;
}

int cli_audit_is_offline(int argc, char **argv)
{
	return argc > 0 && strcmp(argv[0], "verify") == 0;
}

int cli_audit_offline(int argc, char **argv, int json)
{
	if (argc < 1 || strcmp(argv[0], "verify") != 0)
		return usage_err(json, "offline subcommands: verify");
	uint8_t pk[CC_SIGN_PK_BYTES];
	int pr = pinned_key(argc, argv, pk);
	if (pr <= 0)
		return usage_err(json, "verify needs the pinned audit key: --key HEX (64 hex digits; first time: "
		                       "`casus audit key`, compared out of band)");
	cc_audit_checkpoint known;
	const char *ah = opt(argc, argv, "--anchor");
	if (ah && parse_anchor(ah, &known) != 0)
		return usage_err(json, "--anchor takes a checkpoint as 242 hex digits (printed by an earlier verify)");
	g_remember = opt(argc, argv, "--remember");
	if (g_remember && !ah) {
		int r = remember_read(&known);
		if (r < 0)
			return usage_err(json, "the --remember file does not hold a checkpoint (242 hex digits)");
		if (r == 1)
			ah = g_remember;
	}
	uint8_t wpk[CC_SIGN_PK_BYTES];
	const char *wh = opt(argc, argv, "--witness");
	if (wh && parse_hex(wh, wpk, sizeof wpk) != 0)
		return usage_err(json,
		                 "--witness takes a witness key as 64 hex digits (printed by `casus audit witness`)");
	const char *backup = opt(argc, argv, "--backup");
	if (backup)
		return verify_backup(backup, pk, ah ? &known : NULL, wh ? wpk : NULL, opt(argc, argv, "--receipts"),
		                     json);
	const char *file = positional(argc - 1, argv + 1, 0);
	if (!file)
		return usage_err(json, "casus audit verify FILE --key HEX [--anchor CP] | --backup DIR --key HEX");
	return verify_export(file, pk, ah ? &known : NULL, wh ? wpk : NULL, json);
}

/* ---- online: fetch, verify, filter --------------------------------------------- */

struct trail {
	cc_audit_trail a; /* entries, checkpoints and cosignatures as the server sent them */
	int full;         /* the whole trail was fetched (fg) */
	int verified;     /* chain and checkpoints verified */
	int key_pinned;
	int known_bridged; /* pruned past the witness's checkpoint; its cosigned anchor proves the extension */
	cc_audit_verifier v;
};

struct filter {
	int have_casus;
	uint8_t casus[16];
	const char *user;
	int64_t from_ms, to_ms; /* [from, to); to 0 = open */
};

static void trail_free(struct trail *t)
{
	cc_audit_trail_free(&t->a);
	memset(t, 0, sizeof(*t));
}

static int matches(const struct filter *f, const cc_audit_entry *e)
{
	if (f->have_casus && memcmp(e->casus_id, f->casus, 16) != 0)
		return 0;
	if (f->user && strcmp(f->user, e->actor_user) != 0)
		return 0;
	if (e->time_ms < f->from_ms)
		return 0;
	if (f->to_ms && e->time_ms >= f->to_ms)
		return 0;
	return 1;
}

/* Fetch what the caller may see. fg: the whole trail, verified, filtered
 * later. Others: the server filters by casus (and user/period). */
static int fetch_trail(casus_client *c, int argc, char **argv, const struct filter *f, const char *export_kind,
                       const cc_audit_checkpoint *known, struct trail *t, int json)
{
	char err[300], ecode[64] = "refused";
	uint8_t pinned[CC_SIGN_PK_BYTES];
	int pr = pinned_key(argc, argv, pinned);
	if (pr < 0)
		return usage_err(json, "--key takes the audit public key as 64 hex digits");
	const char *role = casus_self_role(c);
	t->full = role && strcmp(role, "fg") == 0;
	json_t *base = json_object();
	if (!t->full) {
		if (f->have_casus) {
			char hex[33];
			proto_hex16(f->casus, hex);
			json_object_set_new(base, "casus", json_string(hex));
		}
		if (f->user)
			json_object_set_new(base, "user", json_string(f->user));
		if (f->from_ms > 0)
			json_object_set_new(base, "from_ms", json_integer(f->from_ms));
		if (f->to_ms > 0)
			json_object_set_new(base, "to_ms", json_integer(f->to_ms - 1));
	}
	/* the library fetches every page (bounded); the trail is verified here */
	char ecasus[33] = "";
	if (export_kind && f->have_casus) /* the export entry names the casus even when fg reads everything */
		proto_hex16(f->casus, ecasus);
	json_t *pages = NULL;
	int rc = casus_audit_fetch(c, base, export_kind, ecasus[0] ? ecasus : NULL, PAGE, &pages);
	json_decref(base);
	if (rc != CASUS_OK) {
		snprintf(ecode, sizeof ecode, "%s", casus_error_code(c));
		snprintf(err, sizeof err, "%s", casus_error(c));
		rc = rc == CASUS_E_NETWORK ? -4 : rc == CASUS_E_VERIFY ? -6 : -1;
	} else {
		size_t pi;
		json_t *pgj;
		json_array_foreach(pages, pi, pgj) {
			int prc = cc_audit_trail_add_page(&t->a, pgj, err, sizeof err);
			if (prc != CC_OK) {
				rc = prc == CC_ERR_NOMEM ? -1 : -5;
				break;
			}
		}
	}
	json_decref(pages);
	if (rc < 0)
		return fail_msg(json,
		                rc == -4               ? CLI_EXIT_NETWORK
		                : rc == -5 || rc == -6 ? EXIT_FAULT
		                                       : CLI_EXIT_REFUSED,
		                rc == -4   ? "network"
		                : rc == -5 ? "audit_fault"
		                           : ecode,
		                err);
	const uint8_t *pk = t->a.server_pk;
	if (pr == 1) {
		t->key_pinned = 1;
		if (sodium_memcmp(pinned, t->a.server_pk, CC_SIGN_PK_BYTES) != 0)
			return fail_msg(json, EXIT_FAULT, "audit_key_mismatch",
			                "the server's audit key differs from the pinned key: do not trust this trail");
		pk = pinned;
	} else if (!json) {
		fprintf(stderr, "casus audit: warning: no pinned audit key (--key or CASUS_AUDIT_KEY); checkpoints are "
		                "checked with the key the server sent\n");
	}
	if (!t->full) {
		/* a part of the trail: every entry decoded; checkpoints are signed */
		if (cc_audit_trail_check_signed(&t->a, pk) != CC_OK)
			return fail_msg(json, EXIT_FAULT, "audit_fault",
			                "a checkpoint from the server is not signed by the audit key");
		return 0;
	}
	/* the whole trail (audit/audit_trail.c, the browser's driver too); this
	 * device is the witness that counts (its own cosignatures) */
	uint8_t self_pk[CC_SIGN_PK_BYTES];
	int have_self = casus_self_sign_pk(c, self_pk) == 0;
	cc_audit_verifier *v = &t->v;
	rc = cc_audit_trail_verify(&t->a, pk, have_self ? self_pk : NULL, known, v, &t->known_bridged);
	if (rc != CC_OK)
		return report_verdict(json, "server", rc, v, 0, NULL);
	t->verified = 1;
	return 0;
}

static int parse_filter(int argc, char **argv, struct filter *f, int json)
{
	memset(f, 0, sizeof(*f));
	const char *v;
	if ((v = opt(argc, argv, "--casus"))) {
		if (parse_hex(v, f->casus, 16) != 0)
			return usage_err(json, "--casus takes a casus id (32 hex digits)");
		f->have_casus = 1;
	}
	f->user = opt(argc, argv, "--user");
	if ((v = opt(argc, argv, "--from")) && parse_iso(v, &f->from_ms) != 0)
		return usage_err(json, "--from takes an ISO date or time in UTC, e.g. 2026-11-01 or 2026-11-01T08:00Z");
	if ((v = opt(argc, argv, "--to")) && parse_iso(v, &f->to_ms) != 0)
		return usage_err(json, "--to takes an ISO date or time in UTC, e.g. 2026-12-01");
	return 0;
}

static json_t *entry_json(const cc_audit_trail_rec *x)
{
	const cc_audit_entry *e = &x->e;
	char cid[33], dev[33], hash[2 * CC_HASH_BYTES + 1], when[CC_AUDIT_TIME_ISO_BYTES];
	proto_hex16(e->casus_id, cid);
	proto_hex16(e->actor_device, dev);
	sodium_bin2hex(hash, sizeof hash, x->hash, CC_HASH_BYTES);
	cc_audit_time_iso(e->time_ms, when);
	const char *ev = cc_audit_event_name(e->event);
	const char *oc = cc_audit_outcome_name(e->outcome);
	const char *gn = cc_audit_ground_name(e->ground);
	json_t *ids = json_array();
	for (unsigned i = 0; i < e->n_msg_ids; i++) {
		char h[33];
		proto_hex16(e->msg_ids[i], h);
		json_array_append_new(ids, json_string(h));
	}
	json_t *o = json_object();
	json_object_set_new(o, "seq", json_integer((json_int_t)e->seq));
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "time_ms", json_integer((json_int_t)e->time_ms));
	json_object_set_new(o, "event", json_string(ev ? ev : "?"));
	json_object_set_new(o, "event_code", json_integer(e->event));
	json_object_set_new(o, "outcome", json_string(oc ? oc : "?"));
	json_object_set_new(o, "user", json_string(e->actor_user));
	json_object_set_new(o, "device", json_string(dev));
	json_object_set_new(o, "role", json_string(e->actor_role));
	json_object_set_new(o, "org", json_string(e->actor_org));
	json_object_set_new(o, "on_behalf_of", json_string(e->on_behalf_of));
	json_object_set_new(o, "casus", json_string(cid));
	json_object_set_new(o, "purpose", json_string(e->purpose));
	json_object_set_new(o, "legal_basis", json_string(e->legal_basis));
	json_object_set_new(o, "level", json_integer(e->level));
	json_object_set_new(o, "level_prev", json_integer(e->level_prev));
	json_object_set_new(o, "ground", json_string(gn ? gn : "?"));
	json_object_set_new(o, "break_glass", json_boolean(e->break_glass));
	json_object_set_new(o, "seq_from", json_integer((json_int_t)e->seq_from));
	json_object_set_new(o, "seq_to", json_integer((json_int_t)e->seq_to));
	json_object_set_new(o, "msg_ids", ids);
	json_object_set_new(o, "object", json_string(e->object));
	json_object_set_new(o, "access_point", json_string(e->access_point));
	json_object_set_new(o, "reason", json_string(e->reason));
	json_object_set_new(o, "error", json_string(e->error));
	json_object_set_new(o, "hash", json_string(hash));
	return o;
}

static void verified_fields(json_t *o, const struct trail *t)
{
	json_object_set_new(o, "verified", json_boolean(t->verified));
	json_object_set_new(o, "scope", json_string(t->full ? "full" : "casus"));
	json_object_set_new(o, "key_pinned", json_boolean(t->key_pinned));
	if (t->verified) {
		json_object_set_new(o, "entries_verified", json_integer((json_int_t)t->v.entries));
		json_object_set_new(o, "checkpoints_verified", json_integer((json_int_t)t->v.checkpoints));
		json_object_set_new(o, "unsealed", json_integer((json_int_t)cc_audit_verifier_unsealed(&t->v)));
		cc_audit_trail_witness_json(o, &t->v);
	}
}

static void verified_line(const struct trail *t)
{
	if (t->verified) {
		fprintf(stderr, "audit trail verified: %" PRIu64 " entries, %" PRIu64 " checkpoints%s\n", t->v.entries,
		        t->v.checkpoints, t->key_pinned ? " (pinned key)" : " (server's key, not pinned)");
		witness_text(stderr, &t->v);
	} else
		fprintf(stderr, "note: only the entries of one casus were returned; each was checked, but the chain "
		                "can only be verified by the privacy officer (fg) on the whole trail\n");
}

static int cmd_query(casus_client *c, int argc, char **argv, int json)
{
	struct filter f;
	struct trail t;
	memset(&t, 0, sizeof t);
	int rc = parse_filter(argc, argv, &f, json);
	if (rc)
		return rc;
	const char *lim = opt(argc, argv, "--limit");
	long limit = lim ? atol(lim) : 0;
	rc = fetch_trail(c, argc, argv, &f, NULL, NULL, &t, json);
	if (rc) {
		trail_free(&t);
		return rc;
	}
	/* actors are named by the display name the trail recorded for them
	 * (auth entries, members added), looked up in the whole trail fetched */
	cc_audit_entry *all = t.a.n ? malloc(t.a.n * sizeof(*all)) : NULL;
	for (size_t i = 0; all && i < t.a.n; i++)
		all[i] = t.a.r[i].e;
	json_t *arr = json_array();
	for (size_t i = 0; i < t.a.n; i++) {
		if (!matches(&f, &t.a.r[i].e))
			continue;
		if (limit > 0 && json_array_size(arr) >= (size_t)limit)
			break;
		json_t *o = entry_json(&t.a.r[i]);
		char nm[CC_AUDIT_OBJECT_MAX + 1] = "";
		if (all && t.a.r[i].e.actor_user[0])
			(void)cc_audit_person_name(all, t.a.n, t.a.r[i].e.actor_user, nm, sizeof nm);
		json_object_set_new(o, "name", json_string(nm));
		json_array_append_new(arr, o);
	}
	free(all);
	if (json) {
		json_t *o = json_object();
		json_object_set_new(o, "ok", json_true());
		json_object_set_new(o, "entries", arr);
		verified_fields(o, &t);
		print_json(o);
		json_decref(o);
	} else {
		size_t i;
		json_t *e;
		json_array_foreach(arr, i, e) {
			/* who (user id and name), what, the level (from->to when it
			 * changed), the object; never a reason (the trail keeps none of
			 * the members' text) */
			const char *nm = json_string_value(json_object_get(e, "name"));
			const char *user = json_string_value(json_object_get(e, "user"));
			char who[CC_AUDIT_USER_MAX + CC_AUDIT_OBJECT_MAX + 8];
			snprintf(who, sizeof who, "%s%s%s%s", user, nm && nm[0] ? " (" : "", nm && nm[0] ? nm : "",
			         nm && nm[0] ? ")" : "");
			long long lv = json_integer_value(json_object_get(e, "level"));
			long long lp = json_integer_value(json_object_get(e, "level_prev"));
			char level[32] = "-";
			if (lp && lp != lv)
				snprintf(level, sizeof level, "L%lld->%lld", lp, lv);
			else if (lv)
				snprintf(level, sizeof level, "L%lld", lv);
			const char *err = json_string_value(json_object_get(e, "error"));
			printf("%6lld %s %-16s %-8s %-28s %-16s %-7s %s%s%s\n",
			       (long long)json_integer_value(json_object_get(e, "seq")),
			       json_string_value(json_object_get(e, "time")),
			       json_string_value(json_object_get(e, "event")),
			       json_string_value(json_object_get(e, "outcome")), who,
			       json_string_value(json_object_get(e, "role")), level,
			       json_string_value(json_object_get(e, "object")), err && err[0] ? " error " : "",
			       err ? err : "");
		}
		json_decref(arr);
		verified_line(&t);
	}
	trail_free(&t);
	return 0;
}

static FILE *open_out(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600); /* personal data */
	if (fd < 0)
		return NULL;
	FILE *f = fdopen(fd, "wb");
	if (!f)
		close(fd);
	return f;
}

static int put_line(FILE *f, char *line)
{
	int ok = line && fputs(line, f) != EOF && fputc('\n', f) != EOF;
	free(line);
	return ok ? 0 : -1;
}

static int put_cosigns(FILE *f, struct trail *t, uint64_t seq)
{
	int err = 0;
	size_t first = 0, count = 0;
	cc_audit_trail_cosigns_at(&t->a, seq, &first, &count);
	for (size_t i = first; i < first + count; i++)
		err |= put_line(f, cc_audit_export_cosign(t->a.cs[i].raw, t->a.cs[i].len));
	return err;
}

static int cmd_export(casus_client *c, int argc, char **argv, int json)
{
	struct filter f;
	struct trail t;
	memset(&t, 0, sizeof t);
	int rc = parse_filter(argc, argv, &f, json);
	if (rc)
		return rc;
	const char *fmt = opt(argc, argv, "--format"), *outp = opt(argc, argv, "--out");
	if (!fmt)
		fmt = "jsonl";
	int csv = strcmp(fmt, "csv") == 0;
	if ((!csv && strcmp(fmt, "jsonl") != 0) || !outp)
		return usage_err(json, "casus audit export [--casus C] [--user U] [--from ISO] [--to ISO] "
		                       "--format jsonl|csv --out FILE");
	rc = fetch_trail(c, argc, argv, &f, csv ? "csv" : "jsonl", NULL, &t, json);
	if (rc) {
		trail_free(&t);
		return rc;
	}
	int filtered = f.have_casus || f.user || f.from_ms || f.to_ms || !t.full;
	FILE *out = open_out(outp);
	if (!out) {
		trail_free(&t);
		char m[600];
		snprintf(m, sizeof m, "cannot write %s: %s", outp, strerror(errno));
		return fail_msg(json, CLI_EXIT_REFUSED, "io", m);
	}
	int err = 0;
	uint64_t n = 0, ncp = 0;
	if (csv) {
		err |= cc_audit_csv_header(out) != 0;
		for (size_t i = 0; i < t.a.n && !err; i++)
			if (matches(&f, &t.a.r[i].e)) {
				err |= cc_audit_csv_entry(out, &t.a.r[i].e, t.a.r[i].hash) != 0;
				n++;
			}
	} else {
		/* unfiltered: the whole verified trail with its checkpoints and
		 * anchor, verifiable with `casus audit verify`. Filtered: the
		 * matching entries only, for reading (verification reports a gap). */
		const uint8_t *pk = t.a.server_pk;
		err |= put_line(out, cc_audit_export_header(pk, now_ms(),
		                                            (!filtered && t.a.has_anchor) ? &t.a.anchor : NULL));
		if (!filtered && t.a.has_anchor)
			err |= put_cosigns(out, &t, t.a.anchor.seq);
		size_t j = 0;
		for (size_t i = 0; i < t.a.n && !err; i++) {
			while (!filtered && j < t.a.ncp && t.a.cp[j].seq < t.a.r[i].e.seq) {
				err |= put_line(out, cc_audit_export_checkpoint(t.a.cp[j].raw, CC_AUDIT_CP_BYTES));
				err |= put_cosigns(out, &t, t.a.cp[j++].seq);
				ncp++;
			}
			if (matches(&f, &t.a.r[i].e)) {
				err |= put_line(out, cc_audit_export_entry(t.a.r[i].raw, t.a.r[i].len, t.a.r[i].hash));
				n++;
			}
		}
		for (; !filtered && j < t.a.ncp && !err; j++) {
			err |= put_line(out, cc_audit_export_checkpoint(t.a.cp[j].raw, CC_AUDIT_CP_BYTES));
			err |= put_cosigns(out, &t, t.a.cp[j].seq);
			ncp++;
		}
	}
	err |= fclose(out) != 0;
	if (err) {
		trail_free(&t);
		return fail_msg(json, CLI_EXIT_REFUSED, "io", "writing the export failed");
	}
	if (json) {
		json_t *o = json_pack("{sbsssssIsIsb}", "ok", 1, "out", outp, "format", csv ? "csv" : "jsonl",
		                      "entries", (json_int_t)n, "checkpoints", (json_int_t)ncp, "filtered", filtered);
		verified_fields(o, &t);
		print_json(o);
		json_decref(o);
	} else {
		printf("exported %" PRIu64 " entries%s to %s (%s)\n", n, filtered ? " (filtered)" : "", outp, fmt);
		if (!csv && filtered)
			printf("note: a filtered export is for reading; verify a full export (no filters)\n");
		verified_line(&t);
	}
	trail_free(&t);
	return 0;
}

static int write_text(const char *path, const char *text)
{
	FILE *f = open_out(path);
	if (!f)
		return -1;
	int ok = fputs(text, f) != EOF;
	ok &= fclose(f) == 0;
	return ok ? 0 : -1;
}

static int cmd_report(casus_client *c, int argc, char **argv, int json)
{
	struct filter f;
	struct trail t;
	memset(&t, 0, sizeof t);
	int rc = parse_filter(argc, argv, &f, json);
	if (rc)
		return rc;
	const char *cid = positional(argc - 1, argv + 1, 0);
	if (!cid)
		cid = opt(argc, argv, "--casus");
	const char *html = opt(argc, argv, "--html"), *jpath = opt(argc, argv, "--json");
	if (!cid || parse_hex(cid, f.casus, 16) != 0 || (!html && !jpath))
		return usage_err(json, "casus audit report CASUS [--from ISO] [--to ISO] [--html FILE] [--json FILE]");
	f.have_casus = 1;
	rc = fetch_trail(c, argc, argv, &f, "report", NULL, &t, json);
	if (rc) {
		trail_free(&t);
		return rc;
	}
	/* the whole trail fetched: the report keeps the casus and period itself,
	 * and finds people's names in entries outside the casus (sign-ins) */
	cc_audit_entry *es = t.a.n ? malloc(t.a.n * sizeof(*es)) : NULL;
	size_t ne = 0;
	for (size_t i = 0; es && i < t.a.n; i++)
		es[ne++] = t.a.r[i].e;
	cc_audit_report_opts ro;
	memset(&ro, 0, sizeof ro);
	memcpy(ro.casus_id, f.casus, 16);
	ro.from_ms = f.from_ms;
	ro.to_ms = f.to_ms;
	ro.generated_ms = now_ms();
	int err = 0;
	size_t nrows = 0;
	cc_audit_report_group *rows = NULL;
	if (cc_audit_report_groups(es, ne, &ro, &rows, &nrows) == CC_OK)
		free(rows);
	if (html) {
		char *s = cc_audit_report_html(es, ne, &ro);
		err |= !s || write_text(html, s) != 0;
		free(s);
	}
	if (jpath) {
		char *s = cc_audit_report_json(es, ne, &ro);
		err |= !s || write_text(jpath, s) != 0;
		free(s);
	}
	free(es);
	if (err) {
		trail_free(&t);
		return fail_msg(json, CLI_EXIT_REFUSED, "io", "writing the report failed");
	}
	if (json) {
		json_t *o = json_pack("{sbsIss*ss*}", "ok", 1, "rows", (json_int_t)nrows, "html", html, "json", jpath);
		verified_fields(o, &t);
		print_json(o);
		json_decref(o);
	} else {
		printf("report with %zu accesses written%s%s%s%s\n", nrows, html ? " to " : "", html ? html : "",
		       jpath ? " and " : "", jpath ? jpath : "");
		verified_line(&t);
	}
	trail_free(&t);
	return 0;
}

static int cmd_key(casus_client *c, int json)
{
	json_t *req = json_pack("{ss}", "type", "audit.key");
	json_t *r = casus_raw_request(c, req); /* req is borrowed */
	json_decref(req);
	const char *k = r ? json_string_value(json_object_get(r, "audit_key")) : NULL;
	if (!k) {
		json_decref(r);
		return fail_msg(json, r ? CLI_EXIT_REFUSED : CLI_EXIT_NETWORK, r ? "refused" : "network",
		                "the server did not give its audit key");
	}
	if (json) {
		json_t *o = json_pack("{sbss}", "ok", 1, "audit_key", k);
		print_json(o);
		json_decref(o);
	} else {
		printf("%s\n", k);
		fprintf(stderr, "This is what the server says. Compare it out of band (installation record) before "
		                "pinning it with --key.\n");
	}
	json_decref(r);
	return 0;
}

/* casus audit witness: the privacy officer's device as a witness. It fetches
 * and verifies the whole trail, checks that the trail still extends the
 * checkpoint it cosigned last (kept in the profile folder: a trail rewritten
 * or pruned past it without proof fails, and nothing is signed or
 * remembered), then countersigns every newer checkpoint with its identity
 * key and stores the cosignatures on the server (audit.cosign). */
static int cmd_witness(casus_client *c, int argc, char **argv, int json)
{
	const char *role = casus_self_role(c);
	if (!role || strcmp(role, "fg") != 0)
		return fail_msg(
			json, CLI_EXIT_REFUSED, "forbidden",
			"alleen de functionaris gegevensbescherming (fg) is getuige van het audit-spoor / only the "
			"privacy officer (fg) witnesses the audit trail");
	char state[1024];
	if ((size_t)snprintf(state, sizeof state, "%s/%s", casus_profile_dir(c), WITNESS_STATE) >= sizeof state)
		return fail_msg(json, CLI_EXIT_PROFILE, "profile", "the profile folder's path is too long");
	cc_audit_checkpoint last;
	int have_last = cp_file_read(state, &last);
	if (have_last < 0)
		return fail_msg(json, CLI_EXIT_PROFILE, "profile",
		                "the witness state in the profile folder is damaged");
	struct filter f;
	memset(&f, 0, sizeof f);
	struct trail t;
	memset(&t, 0, sizeof t);
	int rc = fetch_trail(c, argc, argv, &f, NULL, have_last == 1 ? &last : NULL, &t, json);
	if (rc) {
		trail_free(&t);
		return rc;
	}
	uint8_t self_pk[CC_SIGN_PK_BYTES];
	if (casus_self_sign_pk(c, self_pk) != 0) {
		trail_free(&t);
		return fail_msg(json, CLI_EXIT_PROFILE, "profile", "this device has no certificate to witness with");
	}
	/* every verified checkpoint newer than the last one cosigned, not yet cosigned by this device */
	cc_audit_checkpoint *todo = t.a.ncp ? malloc(t.a.ncp * sizeof(*todo)) : NULL;
	size_t n = 0;
	if (t.a.ncp && !todo) {
		trail_free(&t);
		return fail_msg(json, CLI_EXIT_INTERNAL, "nomem", "out of memory");
	}
	for (size_t i = 0; i < t.a.ncp; i++) {
		if (have_last == 1 && t.a.cp[i].seq <= last.seq)
			continue;
		int mine = 0;
		for (size_t k = 0; k < t.a.ncs && !mine; k++)
			mine = t.a.cs[k].seq == t.a.cp[i].seq &&
			       sodium_memcmp(t.a.cs[k].witness_pk, self_pk, CC_SIGN_PK_BYTES) == 0;
		if (!mine && cc_audit_checkpoint_decode(t.a.cp[i].raw, CC_AUDIT_CP_BYTES, &todo[n]) == CC_OK)
			n++;
	}
	rc = n ? casus_audit_cosign(c, t.a.server_pk, todo, n, now_ms()) : CASUS_OK;
	free(todo);
	if (rc != CASUS_OK) {
		int ex = cli_exit_of(rc, casus_error_code(c), casus_error(c));
		char m[600];
		snprintf(m, sizeof m,
		         "de server nam de medeondertekening niet aan / the server did not take the "
		         "cosignatures: %s",
		         casus_error(c));
		trail_free(&t);
		return fail_msg(json, ex, casus_error_code(c), m);
	}
	/* the newest checkpoint verified is the one to extend next time */
	if (t.v.have_cp && cp_file_write(state, &t.v.last_cp) != 0) {
		trail_free(&t);
		return fail_msg(json, CLI_EXIT_PROFILE, "profile",
		                "could not write the witness state in the profile folder");
	}
	char pkhex[2 * CC_SIGN_PK_BYTES + 1];
	sodium_bin2hex(pkhex, sizeof pkhex, self_pk, CC_SIGN_PK_BYTES);
	uint64_t newest = t.v.have_cp ? t.v.last_cp.seq : 0;
	if (json) {
		json_t *o = json_pack("{sbsIsIss}", "ok", 1, "cosigned", (json_int_t)n, "newest_seq",
		                      (json_int_t)newest, "witness_key", pkhex);
		json_object_set_new(o, "extends_seq",
		                    have_last == 1 ? json_integer((json_int_t)last.seq) : json_null());
		if (t.known_bridged)
			json_object_set_new(o, "note",
			                    json_string("pruned past the last cosigned checkpoint; the anchor "
			                                "is cosigned by this device"));
		verified_fields(o, &t);
		print_json(o);
		json_decref(o);
	} else {
		printf("medeondertekend / countersigned: %zu checkpoints, the newest at seq %" PRIu64 "\n", n, newest);
		if (have_last == 1)
			printf("the trail extends the checkpoint this device signed last (seq %" PRIu64 ")\n",
			       last.seq);
		printf("witness key (pass to `casus audit verify --witness`): %s\n", pkhex);
		verified_line(&t);
	}
	trail_free(&t);
	return 0;
}

/* casus audit receipts: the device keeps a receipt for every entry about its
 * own reads: the entry, its place and hash, and the audit key's signature.
 * Each is checked here (this device's read, the chain step from the hash
 * before it, the signature with the pinned key) before it is kept. */
static int cmd_receipts(casus_client *c, int argc, char **argv, int json)
{
	uint8_t pinned[CC_SIGN_PK_BYTES], dev[CC_AUDIT_ID_BYTES];
	int pr = pinned_key(argc, argv, pinned);
	if (pr < 0)
		return usage_err(json, "--key takes the audit public key as 64 hex digits");
	if (casus_self_device_id(c, dev) != 0)
		return fail_msg(json, CLI_EXIT_PROFILE, "profile", "this device has no certificate");
	char path[1024];
	if ((size_t)snprintf(path, sizeof path, "%s/%s", casus_profile_dir(c), RECEIPTS_FILE) >= sizeof path)
		return fail_msg(json, CLI_EXIT_PROFILE, "profile", "the profile folder's path is too long");
	uint8_t pk[CC_SIGN_PK_BYTES];
	int have_pk = pr == 1;
	if (have_pk) {
		memcpy(pk, pinned, sizeof pk);
	} else {
		json_t *req = json_pack("{ss}", "type", "audit.key");
		json_t *r = casus_raw_request(c, req);
		json_decref(req);
		const char *k = r ? json_string_value(json_object_get(r, "audit_key")) : NULL;
		have_pk = k && parse_hex(k, pk, sizeof pk) == 0;
		json_decref(r);
		if (!have_pk)
			return fail_msg(json, r ? CLI_EXIT_REFUSED : CLI_EXIT_NETWORK, r ? "refused" : "network",
			                "the server did not give its audit key");
		if (!json)
			fprintf(stderr,
			        "casus audit: warning: no pinned audit key (--key or CASUS_AUDIT_KEY); receipts are "
			        "checked with the key the server sent\n");
	}
	/* where the kept receipts end (they are checked again with the key) */
	uint64_t after = 0;
	long kept = 0;
	{
		struct receipt *old = NULL;
		unsigned long bad = 0;
		kept = receipts_read(path, pk, &old, &bad);
		if (kept < 0)
			return fail_msg(json, EXIT_FAULT, "receipt_unreadable",
			                "the kept receipts do not verify with the pinned key");
		for (long i = 0; i < kept; i++)
			if (old[i].seq > after)
				after = old[i].seq;
		free(old);
	}
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	FILE *out = fd >= 0 ? fdopen(fd, "a") : NULL;
	if (!out) {
		if (fd >= 0)
			close(fd);
		return fail_msg(json, CLI_EXIT_PROFILE, "profile",
		                "cannot write the receipts file in the profile folder");
	}
	long added = 0;
	int ret = 0;
	for (int page = 0; page < 10000; page++) {
		json_t *r = NULL;
		int rc = casus_audit_receipts_fetch(c, after, &r);
		if (rc != CASUS_OK) {
			ret = fail_msg(json, cli_exit_of(rc, casus_error_code(c), casus_error(c)), casus_error_code(c),
			               casus_error(c));
			break;
		}
		const char *kh = json_string_value(json_object_get(r, "audit_key"));
		uint8_t spk[CC_SIGN_PK_BYTES];
		if (!kh || parse_hex(kh, spk, sizeof spk) != 0 || sodium_memcmp(spk, pk, sizeof pk) != 0) {
			json_decref(r);
			ret = fail_msg(json, EXIT_FAULT, "audit_key_mismatch",
			               "the server's audit key differs from the pinned key: do not trust its receipts");
			break;
		}
		size_t i;
		json_t *o;
		json_array_foreach(json_object_get(r, "receipts"), i, o) {
			uint8_t *eb = NULL;
			size_t el = 0;
			uint8_t h[CC_HASH_BYTES], prev[CC_HASH_BYTES], sig[CC_SIG_BYTES], mine[CC_HASH_BYTES];
			cc_audit_entry e;
			json_t *sq = json_object_get(o, "seq");
			int ok = json_is_integer(sq) && proto_get_b64(o, "entry", CC_AUDIT_ENTRY_MAX, &eb, &el) == 0 &&
			         proto_get_b64_fixed(o, "hash", h, sizeof h) == 0 &&
			         proto_get_b64_fixed(o, "prev", prev, sizeof prev) == 0 &&
			         proto_get_b64_fixed(o, "sig", sig, sizeof sig) == 0 &&
			         cc_audit_entry_decode(eb, el, &e) == CC_OK &&
			         e.seq == (uint64_t)json_integer_value(sq) && e.seq > after &&
			         memcmp(e.actor_device, dev, sizeof dev) == 0 &&
			         cc_audit_entry_hash(prev, eb, el, mine) == CC_OK &&
			         sodium_memcmp(mine, h, sizeof h) == 0 &&
			         cc_audit_receipt_verify(pk, e.seq, h, sig) == CC_OK;
			if (!ok) {
				free(eb);
				ret = fail_msg(
					json, EXIT_FAULT, "receipt_invalid",
					"a receipt from the server does not check out (not this device's read, wrong "
					"hash or signature): not kept");
				break;
			}
			char *eh = malloc(2 * el + 1);
			char hh[2 * CC_HASH_BYTES + 1], ph[2 * CC_HASH_BYTES + 1], sh[2 * CC_SIG_BYTES + 1],
				kh2[2 * CC_SIGN_PK_BYTES + 1];
			if (!eh) {
				free(eb);
				ret = fail_msg(json, CLI_EXIT_INTERNAL, "nomem", "out of memory");
				break;
			}
			sodium_bin2hex(eh, 2 * el + 1, eb, el);
			sodium_bin2hex(hh, sizeof hh, h, sizeof h);
			sodium_bin2hex(ph, sizeof ph, prev, sizeof prev);
			sodium_bin2hex(sh, sizeof sh, sig, sizeof sig);
			sodium_bin2hex(kh2, sizeof kh2, pk, sizeof pk);
			json_t *line = json_pack("{sIssssssssss}", "seq", (json_int_t)e.seq, "hash", hh, "prev", ph,
			                         "sig", sh, "audit_key", kh2, "entry", eh);
			char *txt = line ? json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
			json_decref(line);
			int werr = !txt || fprintf(out, "%s\n", txt) < 0;
			free(txt);
			free(eh);
			free(eb);
			if (werr) {
				ret = fail_msg(json, CLI_EXIT_PROFILE, "profile", "writing the receipts file failed");
				break;
			}
			after = e.seq;
			added++;
		}
		int more = json_is_true(json_object_get(r, "more"));
		json_decref(r);
		if (ret || !more)
			break;
	}
	if (fflush(out) != 0 || fsync(fileno(out)) != 0)
		ret = ret ? ret : fail_msg(json, CLI_EXIT_PROFILE, "profile", "writing the receipts file failed");
	fclose(out);
	if (ret)
		return ret;
	if (json) {
		json_t *o = json_pack("{sbsIsIss}", "ok", 1, "added", (json_int_t)added, "kept",
		                      (json_int_t)(kept + added), "file", path);
		print_json(o);
		json_decref(o);
	} else {
		printf("ontvangstbewijzen / receipts: %ld new, %ld kept in %s\n", added, kept + added, path);
	}
	return 0;
}

int cli_audit(casus_client *c, int argc, char **argv, int json)
{
	const char *sub = argc > 0 && strncmp(argv[0], "--", 2) != 0 ? argv[0] : NULL;
	if (!sub || strcmp(sub, "query") == 0)
		return cmd_query(c, sub ? argc - 1 : argc, sub ? argv + 1 : argv, json);
	if (strcmp(sub, "key") == 0)
		return cmd_key(c, json);
	if (strcmp(sub, "export") == 0)
		return cmd_export(c, argc - 1, argv + 1, json);
	if (strcmp(sub, "report") == 0)
		return cmd_report(c, argc, argv, json);
	if (strcmp(sub, "receipts") == 0)
		return cmd_receipts(c, argc - 1, argv + 1, json);
	if (strcmp(sub, "witness") == 0)
		return cmd_witness(c, argc - 1, argv + 1, json);
	return usage_err(json, "casus audit [query|key|export|report|witness|receipts|verify] ...");
}
