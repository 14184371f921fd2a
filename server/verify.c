/*
 * verify.c: the verifier pool for message signatures (see verify.h).
 *
 * Threading: a verifier thread touches only the job lists (under v->mu) and
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
#include <unistd.h>

/* The verifier pool of one server (srv->ver): its threads and its jobs.
 *
 * Every job submitted and not yet drained is on one list in arrival order
 * (head..tail). The verifiers take jobs in that order (take points at the
 * first job no verifier has taken; the jobs from take on are the waiting
 * ones), finish them in any order (one verification may take longer than
 * the next) and mark them done; the loop drains only the prefix of the list
 * that is done. So jobs leave in the order they arrived, across sessions and
 * therefore within each session, however many verifiers run. */
#define VERIFY_THREADS_MAX 64

struct verifier {
	pthread_t th[VERIFY_THREADS_MAX];
	unsigned nthreads; /* running verifier threads (0: verification inline) */
	int stopping;
	struct lws_context *ctx;
	struct vjob *head, *tail; /* submitted, not yet drained, in arrival order */
	struct vjob *take;        /* first job no verifier has taken (NULL: none waiting) */
	size_t inflight;          /* submitted and not yet drained (loop thread) */
	int woken;                /* the loop was woken since its last drain */
	struct session **paused;  /* loop thread: sessions paused by flow control */
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
		while (!v->stopping && !v->take)
			pthread_cond_wait(&v->cv, &v->mu);
		if (v->stopping)
			break;
		struct vjob *j = v->take;
		v->take = j->next;
		pthread_mutex_unlock(&v->mu);

		/* only this thread touches j's bytes and result until it is marked done */
		cc_message m;
		int rc = cc_message_decode(j->msg, j->len, &m);
		if (rc == CC_OK)
			rc = cc_message_verify_sig(&m, j->sign_pk);
		j->rc = rc;

		pthread_mutex_lock(&v->mu);
		j->done = 1;
		v->pending--;
		if (!v->pending || v->pending == VERIFY_QUEUE_HARD - 1)
			pthread_cond_broadcast(&v->idle_cv); /* idle, or room again */
		/* wake the loop once per drain, when the oldest job is done: it then
		 * takes every finished job in front of the first unfinished one */
		if (v->head && v->head->done && !v->woken) {
			v->woken = 1;
			pthread_mutex_unlock(&v->mu);
			if (v->ctx)
				lws_cancel_service(v->ctx);
			pthread_mutex_lock(&v->mu);
		}
	}
	pthread_mutex_unlock(&v->mu);
	return NULL;
}

/* verify_threads from the configuration: -1 one per online core. */
static unsigned threads_wanted(const struct server *srv)
{
	int n = srv->cfg.verify_threads;
	if (n < 0) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);
		n = c > 0 ? (int)c : 1;
	}
	return n > VERIFY_THREADS_MAX ? VERIFY_THREADS_MAX : (unsigned)n;
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
	unsigned want = threads_wanted(srv);
	if (getenv("CASUSD_VERIFY_INLINE")) /* for comparisons (bench/RESULTS.md) */
		want = 0;
	if (!want) {
		log_event(LOG_INFO, "verify.inline", "msg=\"signatures are verified on the event loop\"");
		return 0;
	}
	for (unsigned i = 0; i < want; i++) {
		if (pthread_create(&v->th[i], NULL, verifier, v) != 0)
			break;
		v->nthreads++;
	}
	if (!v->nthreads) {
		log_event(LOG_WARN, "verify.no_thread", "msg=\"signatures are verified on the event loop\"");
		return -1;
	}
	log_event(LOG_INFO, "verify.threads", "n=%u wanted=%u", v->nthreads, want);
	return 0;
}

void verify_stop(struct server *srv)
{
	struct verifier *v = srv->ver;
	if (!v)
		return;
	if (v->nthreads) {
		pthread_mutex_lock(&v->mu);
		v->stopping = 1;
		pthread_cond_broadcast(&v->cv);
		pthread_cond_broadcast(&v->idle_cv);
		pthread_mutex_unlock(&v->mu);
		for (unsigned i = 0; i < v->nthreads; i++)
			pthread_join(v->th[i], NULL);
		v->nthreads = 0;
	}
	/* jobs never drained were never stored nor acknowledged */
	for (struct vjob *j = v->head; j;) {
		struct vjob *n = j->next;
		job_free(j);
		j = n;
	}
	v->head = v->tail = v->take = NULL;
	v->inflight = 0;
	free(v->paused);
	pthread_cond_destroy(&v->idle_cv);
	pthread_cond_destroy(&v->cv);
	pthread_mutex_destroy(&v->mu);
	free(v);
	srv->ver = NULL;
}

unsigned verify_threads(const struct server *srv)
{
	return srv->ver ? srv->ver->nthreads : 0;
}

int verify_enabled(const struct server *srv)
{
	const struct verifier *v = srv->ver;
	return v && v->nthreads && !v->stopping;
}

size_t verify_inflight(const struct server *srv)
{
	return srv->ver ? srv->ver->inflight : 0; /* written by the loop thread only */
}

static void pause_session(struct verifier *v, struct session *s)
{
	if (!s->wsi)
		return; /* a relayed session (cluster mode): its node's connection is not ours to pause */
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
	if (v->tail)
		v->tail->next = j;
	else
		v->head = j;
	v->tail = j;
	if (!v->take)
		v->take = j;
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
	if (!v || !v->nthreads)
		return 0;
	/* detach the finished prefix: arrival order, nothing overtakes an
	 * unfinished job */
	pthread_mutex_lock(&v->mu);
	struct vjob *j = NULL, *last = NULL;
	for (struct vjob *k = v->head; k && k->done; k = k->next)
		last = k;
	if (last) {
		j = v->head;
		v->head = last->next;
		if (!v->head)
			v->tail = NULL;
		last->next = NULL;
	}
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
	if (!v || !v->nthreads)
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
	if (!v->nthreads)
		return;
	/* j->s is the loop's alone (the verifiers never read it); the lock keeps
	 * the list's links steady while a verifier may append nothing but marks */
	pthread_mutex_lock(&v->mu);
	for (struct vjob *j = v->head; j; j = j->next)
		if (j->s == s)
			j->s = NULL;
	pthread_mutex_unlock(&v->mu);
}
