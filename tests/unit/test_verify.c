/*
 * test_verify.c: casusd's signature verifier pool (server/verify.h) without a
 * network or a store.
 *
 * Order: jobs of three sessions, mixed so that verifications of very
 * different lengths run side by side on more verifiers than cores (a 256 KiB
 * message, a small one, bytes that do not even decode, a good message checked
 * against the wrong key): verify_drain hands them back in exactly the order
 * they were submitted, each session's in its own order, every one with the
 * verdict of its own bytes. A session that goes away loses its jobs and only
 * its jobs. verify_threads 0 means no pool (the caller verifies inline);
 * -1 means one verifier per online core.
 */
#include "check.h"
#include "test_e2e_fixture.h"

#include <cc_buf.h>
#include <cc_err.h>
#include <cc_message.h>
#include <server.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <verify.h>

static cc_root_key *root;
static e2e_dev dev[2];
static struct server srv;

enum kind {
	K_SMALL,   /* valid, a few hundred bytes */
	K_BIG,     /* valid, 256 KiB: a long verification */
	K_GARBAGE, /* does not decode: done at once */
	K_WRONGKEY /* valid bytes, checked against another device's key */
};

#define NJOBS 600
#define NSESS 3

static uint8_t *small_msg, *big_msg;
static size_t small_len, big_len;
static int expect_rc[NJOBS];
static struct session *sess_of[NJOBS];
static uint64_t next_id;        /* the req_id the next drained job must have */
static uint64_t last_of[NSESS]; /* per session: the last req_id drained + 1 */
static struct session sess[NSESS];
static unsigned drained, order_errors, rc_errors, gone_seen;
static const struct session *gone; /* a session whose jobs must not come back */

static uint8_t *seal(size_t pt_len, size_t *len)
{
	cc_message_header h;
	uint8_t mk[CC_MESSAGE_KEY_BYTES];
	memset(&h, 0, sizeof h);
	h.version = CC_MESSAGE_VERSION;
	randombytes_buf(h.casus_id, sizeof h.casus_id);
	memcpy(h.sender, dev[0].cert.device_id, CC_DEVICE_ID_BYTES);
	h.epoch = 1;
	h.counter = 1;
	h.time = E2E_NOW;
	randombytes_buf(h.message_id, sizeof h.message_id);
	randombytes_buf(mk, sizeof mk);
	uint8_t *pt = calloc(1, pt_len);
	cc_wbuf w;
	cc_w_init(&w);
	CHECK(pt != NULL);
	CHECK_EQ_INT(cc_message_seal(&h, mk, dev[0].keys, pt, pt_len, &w), CC_OK);
	free(pt);
	uint8_t *out = malloc(w.len);
	CHECK(out != NULL);
	if (!out) {
		cc_w_free(&w);
		return NULL;
	}
	memcpy(out, w.p, w.len);
	*len = w.len;
	cc_w_free(&w);
	return out;
}

static int sess_index(const struct session *s)
{
	for (int i = 0; i < NSESS; i++)
		if (s == &sess[i])
			return i;
	return -1;
}

static void on_done(struct session *s, const struct vjob *job, void *arg)
{
	(void)arg;
	int si = sess_index(s);
	if (s == gone) {
		gone_seen++;
		return;
	}
	/* globally in submission order, skipping only a gone session's jobs */
	while (next_id < NJOBS && sess_of[next_id] == gone)
		next_id++;
	if (job->req_id != next_id)
		order_errors++;
	next_id = job->req_id + 1;
	if (si < 0 || job->req_id < last_of[si] || sess_of[job->req_id] != s)
		order_errors++;
	else
		last_of[si] = job->req_id + 1;
	if (job->rc != expect_rc[job->req_id])
		rc_errors++;
	drained++;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Submit NJOBS mixed jobs round-robin over the sessions, draining as the
 * loop does between submissions (so drains see a changing mix of finished
 * and unfinished jobs); returns the number submitted. */
static unsigned submit_all(void)
{
	static const uint8_t casus[16];
	static uint8_t *m[NJOBS];
	static size_t ml[NJOBS];
	static const uint8_t *pk[NJOBS];
	/* every job's bytes first, so that submitting is fast */
	for (uint64_t i = 0; i < NJOBS; i++) {
		enum kind k = (enum kind)((i * 7 + i / 5) % 4);
		pk[i] = dev[0].cert.sign_pk;
		cc_message mm;
		if (k == K_BIG) {
			m[i] = malloc(big_len);
			CHECK(m[i] != NULL);
			memcpy(m[i], big_msg, big_len);
			ml[i] = big_len;
			expect_rc[i] = CC_OK;
		} else if (k == K_GARBAGE) {
			ml[i] = 7;
			m[i] = malloc(ml[i]);
			CHECK(m[i] != NULL);
			memset(m[i], 0xee, ml[i]);
			expect_rc[i] = cc_message_decode(m[i], ml[i], &mm);
			CHECK(expect_rc[i] != CC_OK);
		} else {
			m[i] = malloc(small_len);
			CHECK(m[i] != NULL);
			memcpy(m[i], small_msg, small_len);
			ml[i] = small_len;
			expect_rc[i] = CC_OK;
			if (k == K_WRONGKEY) {
				pk[i] = dev[1].cert.sign_pk;
				CHECK_EQ_INT(cc_message_decode(m[i], ml[i], &mm), CC_OK);
				expect_rc[i] = cc_message_verify_sig(&mm, pk[i]);
				CHECK(expect_rc[i] != CC_OK);
			}
		}
		sess_of[i] = &sess[i % NSESS];
	}
	unsigned n = 0;
	for (uint64_t i = 0; i < NJOBS; i++) {
		struct session *s = sess_of[i];
		s->rx_ns = i;
		CHECK_EQ_INT(verify_submit(s, i, casus, pk[i], m[i], ml[i]), 0);
		n++;
		if (i % 4 == 3)
			verify_drain(&srv, on_done, NULL);
	}
	return n;
}

static void drain_until(unsigned want)
{
	uint64_t deadline = now_ms() + 120000; /* generous: a loaded machine */
	/* drain as the loop does, while the verifiers are still at work (not
	 * after waiting for all of them): every drain sees a different mix of
	 * finished and unfinished jobs */
	while (drained + gone_seen < want && verify_inflight(&srv) && now_ms() < deadline) {
		verify_drain(&srv, on_done, NULL);
		usleep(50);
	}
}

static void reset_counts(void)
{
	next_id = 0;
	memset(last_of, 0, sizeof last_of);
	drained = order_errors = rc_errors = gone_seen = 0;
	gone = NULL;
}

static void test_pool_keeps_arrival_order(void)
{
	srv.cfg.verify_threads = 4; /* more verifiers than this machine has cores: they overtake each other */
	CHECK_EQ_INT(verify_start(&srv), 0);
	CHECK_EQ_INT(verify_threads(&srv), 4);
	CHECK(verify_enabled(&srv));
	reset_counts();
	unsigned n = submit_all();
	CHECK_EQ_INT(n, NJOBS);
	drain_until(NJOBS);
	CHECK_EQ_INT(drained, NJOBS);
	CHECK_EQ_INT(order_errors, 0);
	CHECK_EQ_INT(rc_errors, 0);
	CHECK_EQ_INT(verify_inflight(&srv), 0);
	for (int i = 0; i < NSESS; i++)
		CHECK(last_of[i] > NJOBS - NSESS); /* each session's last job came back */
	/* the kinds really differ: some failed, some passed */
	unsigned ok = 0;
	for (int i = 0; i < NJOBS; i++)
		ok += expect_rc[i] == CC_OK;
	CHECK(ok > 0 && ok < NJOBS);
	verify_stop(&srv);
	CHECK(srv.ver == NULL);
}

static void test_session_gone_drops_only_its_jobs(void)
{
	srv.cfg.verify_threads = 3;
	CHECK_EQ_INT(verify_start(&srv), 0);
	reset_counts();
	submit_all(); /* drains some on the way, sess[1]'s among them */
	unsigned s1_before = (unsigned)(last_of[1] ? last_of[1] / NSESS + 1 : 0); /* its jobs 1, 4, 7, ... */
	/* sess[1] goes away with jobs waiting, being verified and done */
	gone = &sess[1];
	verify_session_gone(&srv, &sess[1]);
	drain_until(NJOBS);
	CHECK_EQ_INT(gone_seen, 0);
	CHECK(s1_before < NJOBS / NSESS); /* the test did catch it with jobs in flight */
	CHECK_EQ_INT(drained, NJOBS - NJOBS / NSESS + s1_before);
	CHECK_EQ_INT(order_errors, 0);
	CHECK_EQ_INT(rc_errors, 0);
	CHECK_EQ_INT(verify_inflight(&srv), 0);
	verify_stop(&srv);
}

static void test_stop_with_jobs_in_flight(void)
{
	/* stopping with work queued joins every verifier and frees every job
	 * (ASan/LSan see a leak or a use after free) */
	srv.cfg.verify_threads = 2;
	CHECK_EQ_INT(verify_start(&srv), 0);
	reset_counts();
	CHECK_EQ_INT(submit_all(), NJOBS);
	CHECK(verify_inflight(&srv) > 0);
	verify_stop(&srv);
	CHECK(srv.ver == NULL);
}

static void test_thread_counts(void)
{
	srv.cfg.verify_threads = 0;
	CHECK_EQ_INT(verify_start(&srv), 0);
	CHECK(!verify_enabled(&srv));
	CHECK_EQ_INT(verify_threads(&srv), 0);
	static const uint8_t casus[16];
	uint8_t *m = malloc(4);
	CHECK_EQ_INT(verify_submit(&sess[0], 1, casus, dev[0].cert.sign_pk, m, 4), -1); /* caller verifies inline */
	free(m);
	verify_stop(&srv);

	srv.cfg.verify_threads = -1;
	CHECK_EQ_INT(verify_start(&srv), 0);
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	CHECK_EQ_INT(verify_threads(&srv), cores > 64 ? 64 : cores);
	verify_stop(&srv);
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	memset(&srv, 0, sizeof srv);
	config_defaults(&srv.cfg);
	CHECK_EQ_INT(cc_root_key_generate(&root), CC_OK);
	CHECK_EQ_INT(e2e_dev_make(&dev[0], root, "cm.jansen", "casemanager", 401), CC_OK);
	CHECK_EQ_INT(e2e_dev_make(&dev[1], root, "ggd.visser", "ggd", 402), CC_OK);
	for (int i = 0; i < NSESS; i++) {
		sess[i].srv = &srv;
		sess[i].state = SS_AUTHED;
	}
	small_msg = seal(300, &small_len);
	big_msg = seal(256 * 1024, &big_len);

	CHECK_RUN(test_pool_keeps_arrival_order);
	CHECK_RUN(test_session_gone_drops_only_its_jobs);
	CHECK_RUN(test_stop_with_jobs_in_flight);
	CHECK_RUN(test_thread_counts);

	free(small_msg);
	free(big_msg);
	e2e_dev_free(&dev[0]);
	e2e_dev_free(&dev[1]);
	cc_root_key_free(root);
	return check_done();
}
