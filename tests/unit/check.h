/*
 * check.h: the minimal assertion helpers every unit test uses.
 *
 * A test file is a set of named test functions, each run from main() with
 * CHECK_RUN(test_name). CHECK(cond) records a failure with the running test's
 * name, file and line, and carries on, so one run reports every broken
 * property. CHECK_EQ_INT shows both values. After each test a line says
 * "ok   test_name (N checks)" or "FAIL test_name: N of M checks failed"; a test
 * that checked nothing fails too, so an emptied test cannot pass. main returns
 * check_done(), which names the failed tests, prints "N passed, N failed"
 * (checks) and exits non-zero if anything failed, so ctest sees it.
 */
#ifndef CASUS_TEST_CHECK_H
#define CASUS_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static unsigned check_passed, check_failed;
static const char *check_test = "main"; /* the test now running */
static char check_failed_tests[1024];   /* names of the failed tests, for the summary */

#define CHECK(cond)                                                                                                    \
	do {                                                                                                           \
		if (cond) {                                                                                            \
			check_passed++;                                                                                \
		} else {                                                                                               \
			check_failed++;                                                                                \
			fprintf(stderr, "%s: %s:%d: CHECK failed: %s\n", check_test, __FILE__, __LINE__, #cond);       \
		}                                                                                                      \
	} while (0)

#define CHECK_EQ_INT(a, b)                                                                                             \
	do {                                                                                                           \
		long long check_a_ = (long long)(a), check_b_ = (long long)(b);                                        \
		if (check_a_ == check_b_) {                                                                            \
			check_passed++;                                                                                \
		} else {                                                                                               \
			check_failed++;                                                                                \
			fprintf(stderr, "%s: %s:%d: CHECK failed: %s == %s (%lld vs %lld)\n", check_test, __FILE__,    \
			        __LINE__, #a, #b, check_a_, check_b_);                                                 \
		}                                                                                                      \
	} while (0)

#define CHECK_MEM(a, b, n) CHECK(memcmp((a), (b), (n)) == 0)

/* Run one named test function: CHECK_RUN(test_decode_rejects_truncation). */
#define CHECK_RUN(fn) check_run(#fn, fn)

static inline void check_run(const char *name, void (*fn)(void))
{
	unsigned p0 = check_passed, f0 = check_failed;
	check_test = name;
	fn();
	check_test = "main";
	unsigned p = check_passed - p0, f = check_failed - f0;
	if (p + f == 0) {
		check_failed++;
		f = 1;
		fprintf(stderr, "FAIL %s: it checked nothing\n", name);
	} else if (f) {
		fprintf(stderr, "FAIL %s: %u of %u checks failed\n", name, f, p + f);
	} else {
		printf("ok   %s (%u checks)\n", name, p);
	}
	if (f && strlen(check_failed_tests) + strlen(name) + 2 < sizeof check_failed_tests) {
		strcat(check_failed_tests, " ");
		strcat(check_failed_tests, name);
	}
}

static inline int check_done(void)
{
	if (check_failed_tests[0])
		fprintf(stderr, "failed tests:%s\n", check_failed_tests);
	printf("%u passed, %u failed\n", check_passed, check_failed);
	return check_failed ? 1 : 0;
}

#endif
