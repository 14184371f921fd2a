/*
 * histo.h: a fixed-bucket latency histogram for /metrics (Prometheus
 * "histogram": cumulative bucket counts, a sum and a count).
 *
 * The bucket bounds are the same for every histogram casusd exposes
 * (HISTO_BOUNDS, seconds), so dashboards can compare them. Recording is
 * O(buckets) with no allocation; it runs on the event-loop thread only.
 */
#ifndef CASUSD_HISTO_H
#define CASUSD_HISTO_H

#include <stddef.h>
#include <stdint.h>

/* Upper bounds in seconds, ascending; +Inf is implied after the last. */
#define HISTO_BOUNDS                                                                                                   \
	{                                                                                                              \
		0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0                   \
	}
#define HISTO_NB 14

struct histo {
	uint64_t bucket[HISTO_NB]; /* observations <= bound[i] (not cumulative; summed when written) */
	uint64_t count;            /* all observations, the +Inf bucket */
	double sum;                /* seconds */
};

/* Record one observation of ns nanoseconds. */
static inline void histo_observe_ns(struct histo *h, uint64_t ns)
{
	static const double bound[HISTO_NB] = HISTO_BOUNDS;
	double s = (double)ns / 1e9;
	for (size_t i = 0; i < HISTO_NB; i++)
		if (s <= bound[i]) {
			h->bucket[i]++;
			break;
		}
	h->count++;
	h->sum += s;
}

#endif
