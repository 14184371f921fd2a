/*
 * clock.h: casusd's two clocks, in one place.
 *
 * clock_mono_ms() is the monotonic clock (CLOCK_MONOTONIC, milliseconds): for
 * intervals only (rate limits, keepalive, timeouts); it never jumps when the
 * wall clock is set. clock_wall_s() is the wall clock (UTC seconds since the
 * epoch): for everything that is compared with times written by someone else
 * (certificate validity, commit times, audit entries, retention).
 */
#ifndef CASUSD_CLOCK_H
#define CASUSD_CLOCK_H

#include <stdint.h>

/* How far ahead of casusd's wall clock a commit's own time may be, in seconds.
 * A commit further ahead is refused ("commit time is in the future"). The same
 * bound as crypto's cc_chain_apply_historic, which clients replay chains with. */
#define CLOCK_COMMIT_SKEW_S 300

/* Monotonic milliseconds / nanoseconds (arbitrary origin). */
uint64_t clock_mono_ms(void);
uint64_t clock_mono_ns(void);
/* Wall-clock UTC seconds / milliseconds (audit entries and checkpoints). */
int64_t clock_wall_s(void);
int64_t clock_wall_ms(void);

#endif
