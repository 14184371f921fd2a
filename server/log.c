/* log.c: logfmt event lines on stderr, journald priorities, repeats limited (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static enum log_level min_level = LOG_INFO;
static const char *const names[] = {"debug", "info", "warn", "error"};
static const char *const prio[] = {"<7>", "<6>", "<4>", "<3>"};
static int use_prio;

/* Repeat limiter: one slot per event name (hashed; a collision shares a slot,
 * which only makes the limit stricter for the two events). */
#define LOG_SLOTS 128
struct rl_slot {
	const char *event; /* the last event name seen in this slot */
	int64_t second;
	unsigned count;
	unsigned long suppressed;
};
static struct rl_slot slots[LOG_SLOTS];

void log_init(void)
{
	const char *force = getenv("CASUSD_LOG_PRIORITY");
	if (force && (*force == '0' || *force == '1')) {
		use_prio = *force == '1';
		return;
	}
	const char *js = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev = 0, ino = 0;
	use_prio = js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(2, &st) == 0 &&
	           (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

int log_priority_prefixes(void)
{
	return use_prio;
}

static unsigned slot_of_event(const char *e)
{
	uint32_t h = 2166136261u;
	for (; *e; e++)
		h = (h ^ (uint8_t)*e) * 16777619u;
	return h % LOG_SLOTS;
}

static void emit(enum log_level lvl, const char *event, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));
static void emit(enum log_level lvl, const char *event, const char *fmt, va_list ap)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int n = snprintf(line, sizeof line, "%sts=%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ level=%s event=%s",
	                 use_prio ? prio[lvl] : "", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
	                 tm.tm_sec, ts.tv_nsec / 1000000, names[lvl], event);
	if (n < 0)
		return;
	if (fmt && *fmt && (size_t)n < sizeof line - 2) {
		line[n++] = ' ';
		int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
		if (m > 0)
			n += m;
	}
	if ((size_t)n >= sizeof line - 1)
		n = (int)sizeof line - 2;
	line[n++] = '\n';
	fwrite(line, 1, (size_t)n, stderr);
}

static void emit_fmt(enum log_level lvl, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void emit_fmt(enum log_level lvl, const char *event, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(lvl, event, fmt, ap);
	va_end(ap);
}

void log_set_level(enum log_level lvl)
{
	min_level = lvl;
}

int log_level_from_name(const char *name)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

int log_enabled(enum log_level lvl)
{
	return lvl >= min_level;
}

void log_event(enum log_level lvl, const char *event, const char *fmt, ...)
{
	if (lvl < min_level)
		return;
	struct timespec mono;
	clock_gettime(CLOCK_MONOTONIC, &mono);
	struct rl_slot *sl = &slots[slot_of_event(event)];
	if (sl->second != (int64_t)mono.tv_sec) {
		if (sl->suppressed) {
			char q[160];
			emit_fmt(lvl, "log.suppressed", "of=%s count=%lu", log_q(sl->event, q, sizeof q),
			         sl->suppressed);
		}
		sl->second = (int64_t)mono.tv_sec;
		sl->count = 0;
		sl->suppressed = 0;
	}
	sl->event = event;
	if (++sl->count > LOG_BURST) {
		sl->suppressed++;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	emit(lvl, event, fmt, ap);
	va_end(ap);
}

const char *log_q(const char *s, char *buf, unsigned long cap)
{
	unsigned long o = 0;
	if (cap < 3)
		return "\"\"";
	buf[o++] = '"';
	for (; s && *s && o + 5 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (unsigned long)snprintf(buf + o, cap - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
