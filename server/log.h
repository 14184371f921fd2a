/*
 * log.h: structured logs of casusd, one logfmt line per event on stderr.
 *
 *   ts=2026-11-22T12:00:00.123Z level=info event=auth.ok device=3f.. peer=127.0.0.1
 *
 * Rule: a log line names events, ids, sizes and error codes. It never holds
 * message content, titles, keys, passphrases or challenge signatures; callers
 * pass only such metadata, and log_kv quotes values so they cannot forge lines.
 */
#ifndef CASUSD_LOG_H
#define CASUSD_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERROR = 3 };

void log_set_level(enum log_level lvl);
int log_level_from_name(const char *name); /* -1 if unknown */
int log_enabled(enum log_level lvl);
/* fmt holds further key=value pairs, already formatted by the caller
 * (use log_q() for free-text values). */
void log_event(enum log_level lvl, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Quote a value for logfmt into buf (escapes quotes, backslashes, control chars). */
const char *log_q(const char *s, char *buf, unsigned long cap);

#endif
