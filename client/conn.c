/*
 * conn.c: synchronous casus.v1 client connection on libwebsockets (see conn.h).
 */
#include "conn.h"

#include <libwebsockets.h>
#include <proto.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct frame {
	struct frame *next;
	size_t len;
	unsigned char data[]; /* LWS_PRE + len */
};

struct conn {
	struct lws_context *ctx;
	struct lws *wsi;
	int connected;
	int closed;
	char reason[160];
	struct frame *out_head, *out_tail;
	json_t *inbox; /* responses and pushes, in arrival order */
	unsigned char *rx;
	size_t rxlen, rxcap;
	uint64_t next_id;
	lws_sorted_usec_list_t sul;
	int woke;
};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int cb_client(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct conn *c = lws_context_user(lws_get_context(wsi));
	(void)user;
	if (!c)
		return 0;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		snprintf(c->reason, sizeof c->reason, "cannot connect: %s", in ? (const char *)in : "unknown error");
		c->closed = 1;
		c->wsi = NULL;
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		c->connected = 1;
		if (c->out_head)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (len >= 2) {
			const unsigned char *p = in;
			snprintf(c->reason, sizeof c->reason, "closed by server (%u): %.*s",
			         (unsigned)(p[0] << 8 | p[1]), (int)(len - 2 > 120 ? 120 : len - 2),
			         (const char *)p + 2);
		}
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE: {
		if (c->rxlen + len > PROTO_MAX_FRAME * 64u) {
			snprintf(c->reason, sizeof c->reason, "server frame too large");
			return -1;
		}
		if (c->rxlen + len > c->rxcap) {
			size_t ncap = c->rxcap ? c->rxcap : 4096;
			while (ncap < c->rxlen + len)
				ncap *= 2;
			unsigned char *n = realloc(c->rx, ncap);
			if (!n)
				return -1;
			c->rx = n;
			c->rxcap = ncap;
		}
		memcpy(c->rx + c->rxlen, in, len);
		c->rxlen += len;
		if (!lws_is_final_fragment(wsi) || lws_remaining_packet_payload(wsi))
			break;
		json_error_t jerr;
		json_t *msg = json_loadb((const char *)c->rx, c->rxlen, JSON_REJECT_DUPLICATES, &jerr);
		c->rxlen = 0;
		if (msg && json_is_object(msg))
			json_array_append_new(c->inbox, msg);
		else
			json_decref(msg);
		break;
	}
	case LWS_CALLBACK_CLIENT_WRITEABLE: {
		struct frame *f = c->out_head;
		if (!f)
			break;
		c->out_head = f->next;
		if (!c->out_head)
			c->out_tail = NULL;
		int n = lws_write(wsi, f->data + LWS_PRE, f->len, LWS_WRITE_TEXT);
		free(f);
		if (n < 0)
			return -1;
		if (c->out_head)
			lws_callback_on_writable(wsi);
		break;
	}
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (!c->reason[0])
			snprintf(c->reason, sizeof c->reason, "connection closed");
		c->closed = 1;
		c->wsi = NULL;
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols client_protocols[] = {{PROTO_SUBPROTOCOL, cb_client, 0, 65536, 0, NULL,
                                                         PROTO_MAX_FRAME + 1024},
                                                        {NULL, NULL, 0, 0, 0, NULL, 0}};

static void wake_cb(lws_sorted_usec_list_t *sul)
{
	struct conn *c = lws_container_of(sul, struct conn, sul);
	c->woke = 1;
}

/* Service until done() or the deadline. */
static void run_until(struct conn *c, int (*done)(struct conn *, const void *), const void *arg, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
	while (!c->closed && !(done && done(c, arg))) {
		uint64_t now = mono_ms();
		if (now >= deadline)
			break;
		c->woke = 0;
		uint64_t left = deadline - now;
		if (left > 50)
			left = 50;
		lws_sul_schedule(c->ctx, 0, &c->sul, wake_cb, (lws_usec_t)left * 1000);
		if (lws_service(c->ctx, 0) < 0)
			break;
	}
	lws_sul_cancel(&c->sul);
}

static int is_connected(struct conn *c, const void *arg)
{
	(void)arg;
	return c->connected;
}

static void quiet_log(int level, const char *line)
{
	(void)level;
	(void)line;
}

int conn_open(struct conn **out, const char *url, const char *ca_file, int timeout_ms, char *err, size_t errlen)
{
	struct lws_context_creation_info info;
	struct lws_client_connect_info ci;
	char buf[512];
	const char *prot = NULL, *addr = NULL, *path = NULL;
	int port = 0;

	*out = NULL;
	snprintf(buf, sizeof buf, "%s", url);
	if (lws_parse_uri(buf, &prot, &addr, &port, &path) || (strcmp(prot, "ws") && strcmp(prot, "wss"))) {
		snprintf(err, errlen, "server URL must look like wss://host:port (got %s)", url);
		return -1;
	}
	int tls = strcmp(prot, "wss") == 0;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	c->inbox = json_array();
	lws_set_log_level(getenv("CASUS_LWS_DEBUG") ? (LLL_ERR | LLL_WARN | LLL_NOTICE) : 0,
	                  getenv("CASUS_LWS_DEBUG") ? NULL : quiet_log);
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = client_protocols;
	info.user = c;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	if (tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.client_ssl_ca_filepath = ca_file;
	}
	c->ctx = lws_create_context(&info);
	if (!c->ctx) {
		snprintf(err, errlen, "cannot create the network context");
		conn_close(c);
		return -1;
	}
	memset(&ci, 0, sizeof ci);
	ci.context = c->ctx;
	ci.address = addr;
	ci.port = port;
	ci.path = path && *path ? path : "/";
	ci.host = addr;
	ci.origin = addr;
	ci.protocol = PROTO_SUBPROTOCOL;
	ci.ssl_connection = tls ? LCCSCF_USE_SSL : 0;
	ci.pwsi = &c->wsi;
	if (!lws_client_connect_via_info(&ci)) {
		snprintf(err, errlen, "cannot connect to %s", url);
		conn_close(c);
		return -1;
	}
	run_until(c, is_connected, NULL, timeout_ms);
	if (!c->connected) {
		snprintf(err, errlen, "%s", c->reason[0] ? c->reason : "timed out connecting");
		conn_close(c);
		return -1;
	}
	*out = c;
	return 0;
}

void conn_close(struct conn *c)
{
	if (!c)
		return;
	if (c->ctx)
		lws_context_destroy(c->ctx);
	while (c->out_head) {
		struct frame *f = c->out_head;
		c->out_head = f->next;
		free(f);
	}
	json_decref(c->inbox);
	free(c->rx);
	free(c);
}

int conn_is_open(const struct conn *c)
{
	return c && c->connected && !c->closed;
}

const char *conn_close_reason(const struct conn *c)
{
	return c->reason;
}

int conn_fd(const struct conn *c)
{
	return c && c->wsi && !c->closed ? (int)lws_get_socket_fd(c->wsi) : -1;
}

int conn_send_raw(struct conn *c, const char *text, size_t len)
{
	if (!conn_is_open(c))
		return -1;
	struct frame *f = malloc(sizeof(*f) + LWS_PRE + len);
	if (!f)
		return -1;
	f->next = NULL;
	f->len = len;
	memcpy(f->data + LWS_PRE, text, len);
	if (c->out_tail)
		c->out_tail->next = f;
	else
		c->out_head = f;
	c->out_tail = f;
	lws_callback_on_writable(c->wsi);
	return 0;
}

struct want {
	uint64_t id;
};

static int find_response(struct conn *c, const void *arg)
{
	const struct want *w = arg;
	size_t i;
	json_t *m;
	json_array_foreach(c->inbox, i, m) {
		json_t *id = json_object_get(m, "id");
		if (json_is_integer(id) && (uint64_t)json_integer_value(id) == w->id && !json_object_get(m, "push"))
			return 1;
	}
	return 0;
}

json_t *conn_request(struct conn *c, json_t *req, int timeout_ms, char *err, size_t errlen)
{
	if (!conn_is_open(c)) {
		snprintf(err, errlen, "not connected%s%s", c && c->reason[0] ? ": " : "", c ? c->reason : "");
		return NULL;
	}
	struct want w = {++c->next_id};
	json_object_set_new(req, "id", json_integer((json_int_t)w.id));
	size_t len = 0;
	char *text = proto_dump(req, &len);
	if (!text || conn_send_raw(c, text, len) != 0) {
		free(text);
		snprintf(err, errlen, "cannot send");
		return NULL;
	}
	free(text);
	run_until(c, find_response, &w, timeout_ms);
	size_t i;
	json_t *m;
	json_array_foreach(c->inbox, i, m) {
		json_t *id = json_object_get(m, "id");
		if (json_is_integer(id) && (uint64_t)json_integer_value(id) == w.id && !json_object_get(m, "push")) {
			json_incref(m);
			json_array_remove(c->inbox, i);
			return m;
		}
	}
	/* An error for a frame the server could not read carries id 0. */
	json_array_foreach(c->inbox, i, m) {
		json_t *id = json_object_get(m, "id");
		if (json_is_integer(id) && json_integer_value(id) == 0 && json_object_get(m, "error")) {
			json_incref(m);
			json_array_remove(c->inbox, i);
			return m;
		}
	}
	snprintf(err, errlen, "%s", c->closed ? (c->reason[0] ? c->reason : "connection closed") : "timed out");
	return NULL;
}

static int has_push(struct conn *c, const void *arg)
{
	(void)arg;
	size_t i;
	json_t *m;
	json_array_foreach(c->inbox, i, m)
		if (json_object_get(m, "push"))
			return 1;
	return 0;
}

json_t *conn_next_push(struct conn *c, int timeout_ms)
{
	if (timeout_ms > 0 && !has_push(c, NULL))
		run_until(c, has_push, NULL, timeout_ms);
	size_t i;
	json_t *m;
	json_array_foreach(c->inbox, i, m) {
		if (json_object_get(m, "push")) {
			json_incref(m);
			json_array_remove(c->inbox, i);
			return m;
		}
	}
	return NULL;
}

void conn_service(struct conn *c, int timeout_ms)
{
	run_until(c, NULL, NULL, timeout_ms);
}

void conn_poll(struct conn *c)
{
	/* lws_service with a negative timeout does not wait: it handles what the
	 * socket (and TLS) already holds. A few passes drain fragmented frames. */
	for (int i = 0; i < 4 && c && c->ctx && !c->closed; i++)
		if (lws_service(c->ctx, -1) < 0)
			break;
}

static int has_any(struct conn *c, const void *arg)
{
	(void)arg;
	return json_array_size(c->inbox) > 0;
}

json_t *conn_next_any(struct conn *c, int timeout_ms)
{
	if (timeout_ms > 0 && !has_any(c, NULL))
		run_until(c, has_any, NULL, timeout_ms);
	if (!json_array_size(c->inbox))
		return NULL;
	json_t *m = json_incref(json_array_get(c->inbox, 0));
	json_array_remove(c->inbox, 0);
	return m;
}

int conn_send_json(struct conn *c, const json_t *obj)
{
	size_t len = 0;
	char *text = proto_dump(obj, &len);
	int rc = text ? conn_send_raw(c, text, len) : -1;
	free(text);
	return rc;
}
