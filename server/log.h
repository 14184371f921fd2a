/*
 * log.h: structured logs of casusd, one logfmt line per event on stderr.
 *
 *   ts=2026-11-22T12:00:00.123Z level=info event=auth.ok device=3f.. peer=127.0.0.1
 *
 * Rule: a log line names events, ids, sizes and error codes. It never holds
 * message content, titles, keys, passphrases or challenge signatures; callers
 * pass only such metadata, and log_kv quotes values so they cannot forge lines.
 *
 * journald: when stderr is the journal (systemd sets JOURNAL_STREAM to the
 * device and inode of the stream it hands over, and it matches fd 2), each
 * line starts with the syslog priority, "<3>" error, "<4>" warn, "<6>" info,
 * "<7>" debug, which journald stores as the entry's priority and strips; so
 * `journalctl -p err -u casusd` shows the errors. CASUSD_LOG_PRIORITY=1 forces
 * the prefixes, =0 turns them off.
 *
 * Repeats: at most LOG_BURST lines per event name and second reach the log;
 * the rest are counted, and the next line of that event after the second ends
 * is preceded by `event=log.suppressed of=EVENT count=N` at the same level.
 */
#ifndef CASUSD_LOG_H
#define CASUSD_LOG_H

enum log_level {
	LOG_DEBUG = 0,
	LOG_INFO = 1,
	LOG_WARN = 2,
	LOG_ERROR = 3
};

#define LOG_BURST 20

/* Decide whether stderr is the journal (see above). Call once at start. */
void log_init(void);
/* 1 if lines carry the journald priority prefix. */
int log_priority_prefixes(void);
void log_set_level(enum log_level lvl);
int log_level_from_name(const char *name); /* -1 if unknown */
int log_enabled(enum log_level lvl);
/* fmt holds further key=value pairs, already formatted by the caller
 * (use log_q() for free-text values). */
void log_event(enum log_level lvl, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Quote a value for logfmt into buf (escapes quotes, backslashes, control chars). */
const char *log_q(const char *s, char *buf, unsigned long cap);

#endif
