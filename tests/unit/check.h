/*
 * check.h: the minimal assertion helpers every unit test uses.
 *
 * CHECK(cond) records a failure with file and line and carries on, so one run
 * reports every broken property. CHECK_EQ_INT shows both values. A test's main
 * returns check_done(), which prints "N passed, N failed" and exits non-zero if
 * anything failed, so ctest sees it.
 */
#ifndef CASUS_TEST_CHECK_H
#define CASUS_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static unsigned check_passed, check_failed;

#define CHECK(cond)                                                              \
	do {                                                                     \
		if (cond) {                                                      \
			check_passed++;                                          \
		} else {                                                         \
			check_failed++;                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,   \
			        __LINE__, #cond);                                \
		}                                                                \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                       \
	do {                                                                     \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);  \
		if (check_a_ == check_b_) {                                      \
			check_passed++;                                          \
		} else {                                                         \
			check_failed++;                                          \
			fprintf(stderr, "%s:%d: CHECK failed: %s == %s (%lld vs %lld)\n", \
			        __FILE__, __LINE__, #a, #b, check_a_, check_b_); \
		}                                                                \
	} while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

static inline int check_done(void)
{
	printf("%u passed, %u failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
