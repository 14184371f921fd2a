/*
 * audit_report.h: the data-subject report ("who looked at my file?").
 *
 * A pure function over decoded audit entries: it keeps those of one casus in
 * a period, sorts them by time (then sequence number), and gives one row per
 * access: when, which organisation, which role, what action, on which ground,
 * and whether it was emergency (break-glass) access. Persons' user ids are
 * left out on purpose: the report names organisations and roles (AVG art. 15
 * speaks of recipients; NEN 7513 lets the client learn who accessed the file;
 * docs/AUDIT.md explains the choice). Denied attempts are included and marked.
 *
 * Two renderings: JSON (for tools) and a self-contained HTML page in Dutch (no
 * scripts, no external resources, every string HTML-escaped) that the privacy
 * officer can hand over or print.
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

/* JSON: {"casus":hex,"from":iso,"to":iso|null,"generated":iso,"rows":[{"time",
 * "organisation","role","action","event","outcome","ground","break_glass"}]} */
char *cc_audit_report_json(const cc_audit_entry *entries, size_t n, const cc_audit_report_opts *opts);
/* A complete HTML5 document. */
char *cc_audit_report_html(const cc_audit_entry *entries, size_t n, const cc_audit_report_opts *opts);

/* Write s with & < > " ' replaced by entities. */
int cc_audit_html_escape(FILE *f, const char *s);

#endif
