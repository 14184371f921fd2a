/*
 * test_log.c: casusd's log lines (server/log.c): repeats of one event are
 * limited to LOG_BURST a second and the rest counted in a log.suppressed line;
 * other events are not held back by a flood; journald priority prefixes.
 */
#include "check.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long count_of(const char *text, const char *needle)
{
	long n = 0;
	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void wait_next_second(void)
{
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		struct timespec nap = {0, 1000000};
		nanosleep(&nap, NULL);
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while (b.tv_sec == a.tv_sec);
}

int main(void)
{
	char tmpl[] = "/tmp/casus-test-log-XXXXXX";
	int fd = mkstemp(tmpl);
	CHECK(fd >= 0);
	if (fd < 0)
		return check_done();
	int saved = dup(2);
	fflush(stderr);
	dup2(fd, 2);

	setenv("CASUSD_LOG_PRIORITY", "1", 1);
	log_init();
	log_set_level(LOG_INFO);
	wait_next_second(); /* start at the beginning of a second: the flood fits in it */
	for (int i = 0; i < 100; i++)
		log_event(LOG_WARN, "test.flood", "i=%d", i);
	log_event(LOG_INFO, "test.other", NULL);  /* another event still gets through */
	log_event(LOG_DEBUG, "test.debug", NULL); /* below the level */
	wait_next_second();
	log_event(LOG_WARN, "test.flood", "i=last");
	fflush(stderr);
	dup2(saved, 2);
	close(saved);

	char buf[65536];
	ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	unlink(tmpl);
	CHECK(n > 0);
	buf[n > 0 ? n : 0] = '\0';
	/* at most LOG_BURST of the 100 in the first second; the flood may have
	 * straddled a second on a very slow machine, so allow one more burst */
	long flood = count_of(buf, "event=test.flood i=") - 1; /* minus i=last */
	CHECK(flood >= LOG_BURST && flood <= 2 * LOG_BURST);
	CHECK_EQ_INT(count_of(buf, "event=test.flood i=last"), 1);
	CHECK_EQ_INT(count_of(buf, "event=test.other"), 1);
	CHECK_EQ_INT(count_of(buf, "event=test.debug"), 0);
	/* what was held back is counted, and the counts add up to 100 */
	long suppressed = 0;
	for (const char *p = buf; (p = strstr(p, "event=log.suppressed of=\"test.flood\" count=")); p++)
		suppressed += strtol(p + strlen("event=log.suppressed of=\"test.flood\" count="), NULL, 10);
	CHECK_EQ_INT(flood + suppressed, 100);
	CHECK(count_of(buf, "<4>") >= LOG_BURST); /* warn lines carry syslog priority 4 */
	CHECK(strncmp(buf, "<4>ts=", 6) == 0);
	CHECK(count_of(buf, "<6>ts=") >= 1);
	return check_done();
}
