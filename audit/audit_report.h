/*
 * audit_report.h: the data-subject report ("who looked at my file?").
 *
 * A pure function over decoded audit entries: it keeps those of one casus in
 * a period, sorts them by time (then sequence number), and gives one row per
 * access: when, which organisation, which role, what action, on which ground,
 * and whether it was emergency (break-glass) access (cc_audit_report_rows).
 *
 * What a data subject reads (the JSON and HTML renderings) is grouped by
 * person and moment (cc_audit_report_groups): "Peter Smit (politie, Politie)
 * las 4 berichten op 2 december 2026 tussen 11:02 en 11:40 (Nederlandse tijd, CET)", in Dutch
 * and English. People are named by the display name in their certificate,
 * which the trail records when a device signs in (`auth`, object "person
 * USER (Name, role, org)") and when a member is added (object "+USER (...)");
 * without it the user id is shown. Machinery that reveals nothing about the
 * file is left out: successful releases of a member's own keys (key_fetch),
 * roster fetches (commit_fetch), key rotations, and fetches that returned no
 * message (history_fetch or grant_fetch of 0 messages). Denied attempts are
 * always included and marked. A read is a history_fetch (fetched) or a
 * history_fetch whose object starts with "live delivery" (pushed to an open
 * view) or a grant_fetch (shared messages received); its count is the number
 * of messages it delivered.
 *
 * Two renderings: JSON (for tools) and a self-contained HTML page in Dutch and
 * English (no scripts, no external resources, every string HTML-escaped) that
 * the privacy officer can hand over or print; both explain what each kind of
 * row means.
 *
 * Memory: returned strings are malloc'd; the caller frees them with free().
 * The verifier must have passed on the trail the entries came from; this
 * module does no verification.
 */
#ifndef CASUS_AUDIT_REPORT_H
#define CASUS_AUDIT_REPORT_H

#include "cc_audit.h"
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef struct cc_audit_report_opts {
	uint8_t casus_id[CC_AUDIT_ID_BYTES];
	int64_t from_ms;      /* period start, inclusive */
	int64_t to_ms;        /* period end, exclusive; 0 = no end */
	int64_t generated_ms; /* shown on the report */
	const char *subject;  /* optional label, e.g. a casus reference (escaped); NULL = casus id */
} cc_audit_report_opts;

typedef struct cc_audit_report_row {
	int64_t time_ms;
	uint64_t seq;
	const char *org; /* point into the entry */
	const char *role;
	char action[160]; /* Dutch description incl. result */
	char ground[CC_AUDIT_LEGAL_BASIS_MAX + 1];
	int break_glass;
	uint8_t outcome;
	uint16_t event;
} cc_audit_report_row;

/* The rows for opts, chronological. *rows is malloc'd (NULL when none) and
 * points into entries, which must outlive it. */
int cc_audit_report_rows(const cc_audit_entry *entries, size_t n, const cc_audit_report_opts *opts,
                         cc_audit_report_row **rows, size_t *nrows);

/* What a group is about. */
enum cc_audit_report_kind {
	CC_AUDIT_KIND_READ = 1, /* messages read: fetched, live, shared ones received */
	CC_AUDIT_KIND_WRITE,    /* messages written */
	CC_AUDIT_KIND_SHARE,    /* earlier messages shared with a (new) member */
	CC_AUDIT_KIND_ADD,      /* members added (also break-glass admission) */
	CC_AUDIT_KIND_REMOVE,   /* members removed */
	CC_AUDIT_KIND_LEVEL,    /* level changed */
	CC_AUDIT_KIND_FILE,     /* casus opened, closed, content purged */
	CC_AUDIT_KIND_AUDIT,    /* the audit trail of the file read or exported */
	CC_AUDIT_KIND_OTHER,    /* anything else (unknown codes, refused requests) */
	CC_AUDIT_KIND_MAX = CC_AUDIT_KIND_OTHER
};

/* One row of the report: entries of one person, one kind, one outcome, ground
 * and break-glass flag, on one day in Amsterdam, each within an hour of the previous. */
typedef struct cc_audit_report_group {
	int64_t first_ms, last_ms;
	uint64_t first_seq;
	unsigned kind;  /* enum cc_audit_report_kind */
	uint16_t event; /* event of the first entry */
	uint8_t outcome;
	uint8_t ground;
	int break_glass;
	uint8_t level_prev, level; /* CC_AUDIT_KIND_LEVEL: of the first entry */
	uint64_t count;            /* messages (read, write, share) or entries */
	size_t entries;            /* audit entries in the group */
	const char *user;          /* point into the entry */
	const char *org;
	const char *role;
	char person[CC_AUDIT_OBJECT_MAX + 1]; /* display name, or the user id */
	char object[CC_AUDIT_OBJECT_MAX + 1]; /* ADD/REMOVE/SHARE: who, from the entries' objects */
	char ground_text[CC_AUDIT_LEGAL_BASIS_MAX + 1];
	char text_nl[1536], text_en[1536]; /* the sentence */
} cc_audit_report_group;

/* The groups for opts, chronological by first entry. *groups is malloc'd
 * (NULL when none) and points into entries. Names are looked up in all of
 * entries (not only the casus's), so pass the whole trail when you have it. */
int cc_audit_report_groups(const cc_audit_entry *entries, size_t n, const cc_audit_report_opts *opts,
                           cc_audit_report_group **groups, size_t *ngroups);
/* The display name of user (as its certificate gave it, newest first) from
 * the auth and member-added entries among entries, copied into out; 0 if
 * found, CC_ERR_NOT_FOUND if the trail does not name it (out = ""). */
int cc_audit_person_name(const cc_audit_entry *entries, size_t n, const char *user, char *out, size_t cap);

/* "read", "write", ... and the meaning of a kind of row, in Dutch and English. */
const char *cc_audit_report_kind_name(unsigned kind);
const char *cc_audit_report_kind_meaning(unsigned kind, int english);

/* JSON: {"casus":hex,"from":iso,"to":iso|null,"generated":iso,"rows":[{"time",
 * "until","count","entries","kind","person","user","organisation","role",
 * "action","text_nl","text_en","event","outcome","ground","break_glass"}],
 * "legend":[{"kind","nl","en"}]}: one row per group. */
char *cc_audit_report_json(const cc_audit_entry *entries, size_t n, const cc_audit_report_opts *opts);
/* A complete HTML5 document. */
/* A time as the Dutch wall clock shows it, zone named:
 * "2026-12-02 11:02:00 CET" / "2026-07-01 14:00:00 CEST" (Europe/Amsterdam,
 * the EU summer-time rule; computed without the system's zone files). */
#define CC_AUDIT_TIME_LOCAL_BYTES 48
void cc_audit_time_amsterdam(int64_t ms, char out[CC_AUDIT_TIME_LOCAL_BYTES]);

char *cc_audit_report_html(const cc_audit_entry *entries, size_t n, const cc_audit_report_opts *opts);

/* Write s with & < > " ' replaced by entities. */
int cc_audit_html_escape(FILE *f, const char *s);

#endif
