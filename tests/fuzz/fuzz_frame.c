/*
 * fuzz_frame.c: libFuzzer driver for casusd's frame path: a WebSocket text
 * frame goes through dispatch_frame() (jansson parse, rate limit, route table
 * and preconditions, handler, its child transaction of a real LMDB store in a
 * temporary folder), then dispatch_turn_end() commits and releases the
 * replies into a sink here, without libwebsockets.
 *
 * Input: the first byte picks the session's state (0 new, 1 after hello,
 * 2 authenticated with an empty certificate), the rest is the frame. Every
 * frame that comes back must be JSON that has either an "id" (a reply) or a
 * "push"; a crash, a sanitizer report or a malformed reply fails. No policy is
 * installed, so requests that need one stop at the precondition; the server
 * keeps one store for the whole run.
 */
#include <dispatch.h>
#include <outbuf.h>
#include <server.h>

#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct server srv;
static int ready;
static size_t delivered;

static void sink(struct session *s, struct outbuf *buf, void *arg)
{
	(void)s;
	(void)arg;
	json_error_t err;
	json_t *o = json_loadb((const char *)buf->data + REPLY_PRE, buf->len, 0, &err);
	if (!o || !json_is_object(o) || (!json_object_get(o, "id") && !json_object_get(o, "push")))
		abort(); /* every frame casusd sends is a JSON reply or push */
	json_decref(o);
	outbuf_unref(buf);
	delivered++;
}

static void cleanup(void)
{
	if (!ready)
		return;
	dispatch_close(&srv);
	store_close(&srv.st);
	char path[600];
	const char *names[] = {"data.mdb", "lock.mdb", "audit.key", "audit.pub"};
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		snprintf(path, sizeof path, "%s/%s", srv.cfg.data_dir, names[i]);
		unlink(path);
	}
	rmdir(srv.cfg.data_dir);
}

static void setup(void)
{
	if (sodium_init() < 0)
		abort();
	memset(&srv, 0, sizeof srv);
	config_defaults(&srv.cfg);
	const char *base = getenv("CASUS_TEST_TMP");
	if (!base || !*base)
		base = "/tmp";
	mkdir(base, 0700);
	snprintf(srv.cfg.data_dir, sizeof srv.cfg.data_dir, "%s/fuzz-frame-XXXXXX", base);
	if (!mkdtemp(srv.cfg.data_dir))
		abort();
	cc_revlist_init(&srv.revs);
	if (store_open(&srv.st, srv.cfg.data_dir, 64u << 20, 0) != 0 || dispatch_open(&srv) != 0)
		abort();
	ready = 1;
	atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!ready)
		setup();
	if (size < 1)
		return 0;
	struct session s;
	memset(&s, 0, sizeof s);
	s.srv = &srv;
	s.sid = 1;
	s.role = -1;
	s.state = data[0] % 3 == 0 ? SS_NEW : data[0] % 3 == 1 ? SS_HELLO : SS_AUTHED;
	s.tokens = 1e9; /* the rate limit is not what is fuzzed */
	snprintf(s.peer, sizeof s.peer, "fuzz");
	srv.sessions = &s;
	size_t before = delivered;
	dispatch_frame(&s, data + 1, size - 1);
	dispatch_turn_end(&srv, sink, NULL);
	/* a frame is answered, or the session is being closed for it */
	if (delivered == before && !s.close_pending)
		abort();
	dispatch_session_gone(&srv, &s);
	srv.sessions = NULL;
	return 0;
}
