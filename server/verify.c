/*
 * verify.c: the verifier thread for message signatures (see verify.h).
 *
 * Threading: the verifier thread touches only the job lists (under v->mu) and
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

/* The verifier of one server (srv->ver): its thread and its job lists. */
struct verifier {
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
	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_cond_t idle_cv; /* CLOCK_MONOTONIC */
	size_t pending;         /* submitted, not yet verified (under mu) */
};

static void job_free(struct vjob *j)
{
	if (!j)
		return;
	free(j->msg);
	free(j);
}

static void *verifier(void *arg)
{
	struct verifier *v = arg;
	pthread_mutex_lock(&v->mu);
	for (;;) {
		while (!v->stopping && !v->pend_head)
			pthread_cond_wait(&v->cv, &v->mu);
		if (v->stopping)
			break;
		struct vjob *j = v->pend_head;
		v->pend_head = j->next;
		if (!v->pend_head)
			v->pend_tail = NULL;
		j->next = NULL;
		v->busy = j;
		pthread_mutex_unlock(&v->mu);

		cc_message m;
		int rc = cc_message_decode(j->msg, j->len, &m);
		if (rc == CC_OK)
			rc = cc_message_verify_sig(&m, j->sign_pk);
		j->rc = rc;

		pthread_mutex_lock(&v->mu);
		v->busy = NULL;
		v->pending--;
		if (!v->pending || v->pending == VERIFY_QUEUE_HARD - 1)
			pthread_cond_broadcast(&v->idle_cv); /* idle, or room again */
		if (v->done_tail)
			v->done_tail->next = j;
		else
			v->done_head = j;
		v->done_tail = j;
		int wake = !v->woken;
		v->woken = 1;
		if (wake) {
			/* wake the loop once per drain; it picks up everything done by then */
			pthread_mutex_unlock(&v->mu);
			lws_cancel_service(v->ctx);
			pthread_mutex_lock(&v->mu);
		}
	}
	pthread_mutex_unlock(&v->mu);
	return NULL;
}

int verify_start(struct server *srv)
{
	struct verifier *v = calloc(1, sizeof(*v));
	if (!v)
		return -1;
	srv->ver = v;
	v->ctx = srv->ctx;
	pthread_mutex_init(&v->mu, NULL);
	pthread_cond_init(&v->cv, NULL);
	{
		pthread_condattr_t ca;
		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&v->idle_cv, &ca);
		pthread_condattr_destroy(&ca);
	}
	if (getenv("CASUSD_VERIFY_INLINE")) { /* for comparisons (bench/RESULTS.md) */
		log_event(LOG_INFO, "verify.inline", "msg=\"signatures are verified on the event loop\"");
		return 0;
	}
	if (pthread_create(&v->th, NULL, verifier, v) != 0) {
		log_event(LOG_WARN, "verify.no_thread", "msg=\"signatures are verified on the event loop\"");
		return -1;
	}
	v->running = 1;
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

void verify_stop(struct server *srv)
{
	struct verifier *v = srv->ver;
	if (!v)
		return;
	if (v->running) {
		pthread_mutex_lock(&v->mu);
		v->stopping = 1;
		pthread_cond_signal(&v->cv);
		pthread_mutex_unlock(&v->mu);
		pthread_join(v->th, NULL);
		v->running = 0;
	}
	/* jobs never completed were never stored nor acknowledged */
	free_list(v->pend_head);
	free_list(v->done_head);
	job_free(v->busy);
	v->pend_head = v->pend_tail = v->done_head = v->done_tail = v->busy = NULL;
	v->inflight = 0;
	free(v->paused);
	pthread_cond_destroy(&v->idle_cv);
	pthread_cond_destroy(&v->cv);
	pthread_mutex_destroy(&v->mu);
	free(v);
	srv->ver = NULL;
}

int verify_enabled(const struct server *srv)
{
	const struct verifier *v = srv->ver;
	return v && v->running && !v->stopping;
}

size_t verify_inflight(const struct server *srv)
{
	return srv->ver ? srv->ver->inflight : 0; /* written by the loop thread only */
}

static void pause_session(struct verifier *v, struct session *s)
{
	for (size_t i = 0; i < v->npaused; i++)
		if (v->paused[i] == s)
			return;
	if (v->npaused == v->cappaused) {
		size_t nc = v->cappaused ? v->cappaused * 2 : 64;
		struct session **n = realloc(v->paused, nc * sizeof(*n));
		if (!n)
			return; /* not paused: the hard bound still holds */
		v->paused = n;
		v->cappaused = nc;
	}
	v->paused[v->npaused++] = s;
	lws_rx_flow_control(s->wsi, 0);
}

int verify_submit(struct session *s, uint64_t req_id, const uint8_t casus[16], const uint8_t sign_pk[32], uint8_t *msg,
                  size_t len)
{
	struct verifier *v = s->srv->ver;
	if (!verify_enabled(s->srv))
		return -1;
	struct vjob *j = calloc(1, sizeof(*j));
	if (!j)
		return -1;
	j->s = s;
	j->req_id = req_id;
	j->t0_ns = s->rx_ns;
	memcpy(j->casus, casus, 16);
	memcpy(j->sign_pk, sign_pk, 32);
	j->msg = msg;
	j->len = len;
	j->rc = CC_ERR_CRYPTO;
	pthread_mutex_lock(&v->mu);
	/* Hard bound: wait for the verifier to make room (it never waits for the
	 * loop, so this ends). Verifying inline instead would let this message
	 * overtake the same session's queued ones. */
	while (v->pending >= VERIFY_QUEUE_HARD && !v->stopping)
		pthread_cond_wait(&v->idle_cv, &v->mu);
	if (v->pend_tail)
		v->pend_tail->next = j;
	else
		v->pend_head = j;
	v->pend_tail = j;
	v->pending++;
	pthread_cond_signal(&v->cv);
	pthread_mutex_unlock(&v->mu);
	v->inflight++;
	if (v->inflight >= VERIFY_QUEUE_SOFT)
		pause_session(v, s);
	return 0;
}

size_t verify_drain(struct server *srv, verify_done_fn fn, void *arg)
{
	struct verifier *v = srv->ver;
	if (!v || !v->running)
		return 0;
	pthread_mutex_lock(&v->mu);
	struct vjob *j = v->done_head;
	v->done_head = v->done_tail = NULL;
	v->woken = 0;
	pthread_mutex_unlock(&v->mu);
	size_t n = 0;
	while (j) {
		struct vjob *next = j->next;
		v->inflight--;
		if (j->s) {
			fn(j->s, j, arg);
			n++;
		}
		job_free(j);
		j = next;
	}
	if (v->npaused && v->inflight < VERIFY_QUEUE_SOFT / 2) {
		for (size_t i = 0; i < v->npaused; i++)
			lws_rx_flow_control(v->paused[i]->wsi, 1);
		v->npaused = 0;
	}
	return n;
}

void verify_wait(struct server *srv, unsigned max_pending, unsigned max_us)
{
	struct verifier *v = srv->ver;
	if (!v || !v->running)
		return;
	pthread_mutex_lock(&v->mu);
	if (v->pending && v->pending <= max_pending) {
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		dl.tv_nsec += (long)max_us * 1000L;
		while (dl.tv_nsec >= 1000000000L) {
			dl.tv_sec++;
			dl.tv_nsec -= 1000000000L;
		}
		while (v->pending && !v->stopping)
			if (pthread_cond_timedwait(&v->idle_cv, &v->mu, &dl) != 0)
				break;
	}
	pthread_mutex_unlock(&v->mu);
}

void verify_session_gone(struct server *srv, struct session *s)
{
	struct verifier *v = srv->ver;
	if (!v)
		return;
	for (size_t i = 0; i < v->npaused; i++) {
		if (v->paused[i] == s) {
			v->paused[i] = v->paused[--v->npaused];
			break;
		}
	}
	if (!v->running)
		return;
	pthread_mutex_lock(&v->mu);
	for (struct vjob *j = v->pend_head; j; j = j->next)
		if (j->s == s)
			j->s = NULL;
	for (struct vjob *j = v->done_head; j; j = j->next)
		if (j->s == s)
			j->s = NULL;
	if (v->busy && v->busy->s == s)
		v->busy->s = NULL;
	pthread_mutex_unlock(&v->mu);
}
