/*
 * verify.c: the verifier thread for message signatures (see verify.h).
 *
 * Threading: the verifier thread touches only the job lists (under g.mu) and
 * the jobs' bytes; it never reads sessions, the store or the chain state.
 * Everything else (sessions, pausing, completing) happens on the loop thread.
 * The only libwebsockets call from the verifier is lws_cancel_service().
 */
#include "verify.h"
#include "log.h"
#include "server.h"

#include <cc_err.h>
#include <cc_message.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
	pthread_t th;
	int running, stopping;
	struct lws_context *ctx;
	struct vjob *pend_head, *pend_tail; /* waiting for the verifier */
	struct vjob *done_head, *done_tail; /* verified, waiting for the loop */
	struct vjob *busy;                  /* being verified now */
	size_t inflight;                    /* submitted and not yet drained */
	int woken;                          /* the loop was woken since its last drain */
	struct session **paused;            /* loop thread: sessions paused by flow control */
	size_t npaused, cappaused;
} g;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static pthread_cond_t g_idle_cv; /* CLOCK_MONOTONIC, set up in verify_start */
static size_t g_pending;         /* submitted, not yet verified (under g_mu) */

static void job_free(struct vjob *j)
{
	if (!j)
		return;
	free(j->msg);
	free(j);
}

static void *verifier(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_mu);
	for (;;) {
		while (!g.stopping && !g.pend_head)
			pthread_cond_wait(&g_cv, &g_mu);
		if (g.stopping)
			break;
		struct vjob *j = g.pend_head;
		g.pend_head = j->next;
		if (!g.pend_head)
			g.pend_tail = NULL;
		j->next = NULL;
		g.busy = j;
		pthread_mutex_unlock(&g_mu);

		cc_message m;
		int rc = cc_message_decode(j->msg, j->len, &m);
		if (rc == CC_OK)
			rc = cc_message_verify_sig(&m, j->sign_pk);
		j->rc = rc;

		pthread_mutex_lock(&g_mu);
		g.busy = NULL;
		g_pending--;
		if (!g_pending || g_pending == VERIFY_QUEUE_HARD - 1)
			pthread_cond_broadcast(&g_idle_cv); /* idle, or room again */
		if (g.done_tail)
			g.done_tail->next = j;
		else
			g.done_head = j;
		g.done_tail = j;
		int wake = !g.woken;
		g.woken = 1;
		if (wake) {
			/* wake the loop once per drain; it picks up everything done by then */
			pthread_mutex_unlock(&g_mu);
			lws_cancel_service(g.ctx);
			pthread_mutex_lock(&g_mu);
		}
	}
	pthread_mutex_unlock(&g_mu);
	return NULL;
}

int verify_start(struct server *srv)
{
	g.pend_head = g.pend_tail = g.done_head = g.done_tail = g.busy = NULL;
	g.inflight = 0;
	g.woken = 0;
	g.ctx = srv->ctx;
	g.stopping = 0;
	g_pending = 0;
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&g_idle_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (getenv("CASUSD_VERIFY_INLINE")) { /* for comparisons (bench/RESULTS.md) */
		log_event(LOG_INFO, "verify.inline", "msg=\"signatures are verified on the event loop\"");
		g.running = 0;
		return 0;
	}
	if (pthread_create(&g.th, NULL, verifier, NULL) != 0) {
		log_event(LOG_WARN, "verify.no_thread", "msg=\"signatures are verified on the event loop\"");
		g.running = 0;
		return -1;
	}
	g.running = 1;
	return 0;
}

static void free_list(struct vjob *j)
{
	while (j) {
		struct vjob *n = j->next;
		job_free(j);
		j = n;
	}
}

void verify_stop(void)
{
	if (!g.running)
		return;
	pthread_mutex_lock(&g_mu);
	g.stopping = 1;
	pthread_cond_signal(&g_cv);
	pthread_mutex_unlock(&g_mu);
	pthread_join(g.th, NULL);
	g.running = 0;
	/* jobs never completed were never stored nor acknowledged */
	free_list(g.pend_head);
	free_list(g.done_head);
	job_free(g.busy);
	g.pend_head = g.pend_tail = g.done_head = g.done_tail = g.busy = NULL;
	g.inflight = 0;
	free(g.paused);
	g.paused = NULL;
	g.npaused = g.cappaused = 0;
}

int verify_enabled(void)
{
	return g.running && !g.stopping;
}

size_t verify_inflight(void)
{
	return g.inflight; /* written by the loop thread only */
}

static void pause_session(struct session *s)
{
	for (size_t i = 0; i < g.npaused; i++)
		if (g.paused[i] == s)
			return;
	if (g.npaused == g.cappaused) {
		size_t nc = g.cappaused ? g.cappaused * 2 : 64;
		struct session **n = realloc(g.paused, nc * sizeof(*n));
		if (!n)
			return; /* not paused: the hard bound still holds */
		g.paused = n;
		g.cappaused = nc;
	}
	g.paused[g.npaused++] = s;
	lws_rx_flow_control(s->wsi, 0);
}

int verify_submit(struct session *s, uint64_t req_id, const uint8_t casus[16], const uint8_t sign_pk[32],
                  uint8_t *msg, size_t len)
{
	if (!verify_enabled())
		return -1;
	struct vjob *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->s = s;
	j->req_id = req_id;
	memcpy(j->casus, casus, 16);
	memcpy(j->sign_pk, sign_pk, 32);
	j->msg = msg;
	j->len = len;
	j->rc = CC_ERR_CRYPTO;
	pthread_mutex_lock(&g_mu);
	/* Hard bound: wait for the verifier to make room (it never waits for the
	 * loop, so this ends). Verifying inline instead would let this message
	 * overtake the same session's queued ones. */
	while (g_pending >= VERIFY_QUEUE_HARD && !g.stopping)
		pthread_cond_wait(&g_idle_cv, &g_mu);
	if (g.pend_tail)
		g.pend_tail->next = j;
	else
		g.pend_head = j;
	g.pend_tail = j;
	g_pending++;
	pthread_cond_signal(&g_cv);
	pthread_mutex_unlock(&g_mu);
	g.inflight++;
	if (g.inflight >= VERIFY_QUEUE_SOFT)
		pause_session(s);
	return 0;
}

size_t verify_drain(verify_done_fn fn, void *arg)
{
	if (!g.running)
		return 0;
	pthread_mutex_lock(&g_mu);
	struct vjob *j = g.done_head;
	g.done_head = g.done_tail = NULL;
	g.woken = 0;
	pthread_mutex_unlock(&g_mu);
	size_t n = 0;
	while (j) {
		struct vjob *next = j->next;
		g.inflight--;
		if (j->s) {
			fn(j->s, j, arg);
			n++;
		}
		job_free(j);
		j = next;
	}
	if (g.npaused && g.inflight < VERIFY_QUEUE_SOFT / 2) {
		for (size_t i = 0; i < g.npaused; i++)
			lws_rx_flow_control(g.paused[i]->wsi, 1);
		g.npaused = 0;
	}
	return n;
}

void verify_wait(unsigned max_pending, unsigned max_us)
{
	if (!g.running)
		return;
	pthread_mutex_lock(&g_mu);
	if (g_pending && g_pending <= max_pending) {
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_nsec += (long)max_us * 1000L;
		while (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		while (g_pending && !g.stopping)
			if (pthread_cond_timedwait(&g_idle_cv, &g_mu, &dl) != 0)
				break;
	}
	pthread_mutex_unlock(&g_mu);
}

void verify_session_gone(struct session *s)
{
	for (size_t i = 0; i < g.npaused; i++) {
		if (g.paused[i] == s) {
			g.paused[i] = g.paused[--g.npaused];
			break;
		}
	}
	if (!g.running)
		return;
	pthread_mutex_lock(&g_mu);
	for (struct vjob *j = g.pend_head; j; j = j->next)
		if (j->s == s)
			j->s = NULL;
	for (struct vjob *j = g.done_head; j; j = j->next)
		if (j->s == s)
			j->s = NULL;
	if (g.busy && g.busy->s == s)
		g.busy->s = NULL;
	pthread_mutex_unlock(&g_mu);
}
