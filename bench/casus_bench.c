/*
 * casus-bench: load generator for casusd (see bench/RESULTS.md and bench/run.sh).
 *
 *   casus-bench MODE --url ws://127.0.0.1:PORT --state DIR [options]
 *
 * MODE
 *   throughput     S sender connections post pre-encrypted messages pipelined
 *                  (window W each) into K casus; every other member's connection
 *                  counts pushes. Reports durable acked msg/s, deliveries/s,
 *                  casusd CPU (/proc/PID/stat) and /metrics commit stats.
 *   latency        the same set-up at a fixed total rate (--rate), reports
 *                  p50/p90/p99/max post-to-delivery (sender's send time to the
 *                  receiver's receive time; one process, one clock).
 *   connections    opens --conns idle authenticated connections (idle devices,
 *                  members of no bench casus), keeps them open while a latency
 *                  run goes on, reports casusd RSS and the latency.
 *   durable-check  posts into one casus without pause (window W) and prints
 *                  "ACK <seq> <msgid>" for every acknowledged message until the
 *                  server goes away or --seconds pass (crash test); when every
 *                  connection closed first it says why on stderr.
 *   dump           prints "HIST <seq> <msgid>" for every stored message of a
 *                  casus (history pages; headers decoded, nothing decrypted).
 *   history-burst  sends --messages N history requests (limit 500, from the
 *                  start) of --casus-id at once on one connection and reads
 *                  the answers; with --stall 1 it stops reading after sending
 *                  (a hostile or stuck reader). Prints "SENT n", then
 *                  "BURST replies=.. bytes=.. closed=.." (abuse tests).
 *
 * Set-up uses libcasus (profiles, casus_new); messages are encrypted with the
 * crypto library directly (cc_casus) so that the load phase only sends bytes.
 * The network side is one libwebsockets client context with many connections
 * (the synchronous client/conn.c opens a context per connection).
 * Loopback only, bounded: every mode stops by itself (--seconds, --messages).
 */
#include <fileio.h>
#include <cc_buf.h>
#include <cc_casus.h>
#include <cc_cert.h>
#include <cc_err.h>
#include <cc_keys.h>
#include <cc_keystore.h>
#include <cc_message.h>
#include <cc_policy.h>
#include <libcasus.h>
#include <proto.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_DEV 64
#define MAX_CASUS 256

enum role {
	R_SENDER = 1,
	R_RECEIVER,
	R_IDLE,
	R_DUMP,
	R_BURST
};
enum cstate {
	C_CONNECTING = 0,
	C_HELLO,
	C_AUTH,
	C_READY,
	C_CLOSED
};

struct device {
	char uid[64];
	cc_device_keys *keys;
	cc_cert cert;
	uint8_t cert_enc[CC_CERT_MAX];
	size_t cert_len;
};

struct bconn {
	struct lws *wsi;
	enum role role;
	enum cstate st;
	int dev;
	int casus; /* sender: casus index it posts to */
	unsigned inflight;
	uint64_t sent, acked, refused;
	uint64_t pushes;
	unsigned char *rx;
	size_t rxlen, rxcap;
	char pending[2048]; /* one control frame (hello/auth/history) waiting for writable */
	size_t pending_len;
	int want_send;         /* sender: has credit to post */
	struct ackslot *slots; /* durable-check: this connection's requests in flight (window entries) */
};

/* One prepared message: frame text (id filled at send time) and its message id. */
struct pmsg {
	char *b64;
	size_t b64len;
	uint8_t msgid[16];
	int casus;
};

/* durable-check: one posted message awaiting its ack, owned by the connection that
 * sent it. Each sender keeps its own table of window entries (its in-flight count
 * never exceeds the window), so an ack is matched to the message of the same
 * request id on the same connection, however fast other senders go round. */
struct ackslot {
	uint64_t req; /* request id - 1000 */
	uint8_t msgid[16];
	int used;
};

/* latency records */
struct srec {
	uint32_t casus;
	uint64_t seq;
	uint64_t t_ns;
};

static struct {
	const char *url, *state, *sender_uid, *receivers_csv, *idle_csv, *casus_hex_arg;
	const char *mode, *system, *ca, *room, *topic;
	int tls;
	unsigned ncasus, nsenders, window, conns, size, recv_conns, members;
	uint64_t res_members;
	double res_el_ack, res_el_all, res_srv_cpu, res_self_cpu;
	double lat[5], ack_lat[3]; /* p50 p90 p99 p99.9 max; ack p50 p90 p99 (ms), -1 if none */
	uint64_t messages;
	double rate, seconds, max_s, connect_s; /* connect_s: budget for opening connections (default 120 s) */
	double unused_pad; /* max_s: flat out, stop posting after this many seconds (0: all --messages) */
	int pid;
	char host[128];
	int port;
	int recv_port; /* --recv-url: receivers connect to another node of a cluster (same host), else 0 */
	/* deployment */
	uint8_t root[32];
	cc_policy policy;
	int audience;
	struct device devs[MAX_DEV];
	int ndevs, sender_dev, nrecv_devs, recv_devs[MAX_DEV], nidle_devs, idle_devs[MAX_DEV];
	char casus_hex[MAX_CASUS][33];
	uint8_t casus_id[MAX_CASUS][16];
	cc_casus *cs[MAX_CASUS];
	/* run */
	struct lws_context *ctx;
	struct bconn *conns_v;
	size_t nconns;
	struct pmsg *msgs;
	uint64_t nmsgs, next_msg;
	uint64_t *send_ns; /* per message index */
	uint64_t *ackd_ns; /* per message index: when its ack arrived */
	struct srec *acks; /* (casus, seq, send time) */
	uint64_t nacks;
	struct srec *recvs; /* (casus, seq, receive time) */
	uint64_t nrecvs, caprecvs;
	uint64_t total_pushes, total_acked, total_refused, ready, closed_early;
	int phase; /* 0 connecting, 1 load, 2 draining, 3 done */
	uint64_t t_start_ns, t_load_ns, t_end_ns;
	int durable;        /* durable-check mode */
	uint64_t unmatched; /* durable-check: acks or refusals that matched no request in flight */
	int dump_done;
	uint64_t dump_after;
	int stall;                                                 /* history-burst: stop reading after sending */
	uint64_t burst_sent, burst_replies, burst_bytes;           /* history-burst */
	uint64_t post_bytes, post_frames, push_bytes, push_frames; /* wire bytes (protocol framing, no TCP/IP) */
	volatile sig_atomic_t stop;
	lws_sorted_usec_list_t sul_tick;
	char last_err[256];
} B;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "casus-bench: %s%s%s\n", what, detail ? " " : "", detail ? detail : "");
	exit(1);
}

/* ---- deployment: devices, policy, casus --------------------------------------- */

static char g_pass[256];
static size_t g_passlen;

static void read_pass(void)
{
	if (casus_read_passphrase("passphrase: ", g_pass, sizeof g_pass, &g_passlen) != 0)
		die("cannot read the passphrase (set CASUS_PASSPHRASE_FILE)", NULL);
}

static int load_device(const char *uid)
{
	if (B.ndevs >= MAX_DEV)
		die("too many devices", NULL);
	struct device *d = &B.devs[B.ndevs];
	snprintf(d->uid, sizeof d->uid, "%s", uid);
	char path[1024];
	snprintf(path, sizeof path, "%s/users/%s/keys.casusks", B.state, uid);
	cc_keystore *ks = NULL;
	if (cc_keystore_open(path, g_pass, g_passlen, &ks) != CC_OK)
		die("cannot open keystore", path);
	const uint8_t *v;
	size_t l;
	if (cc_keystore_get(ks, "device", &v, &l) != CC_OK || cc_device_keys_decode(v, l, &d->keys) != CC_OK)
		die("no device keys in", path);
	if (cc_keystore_get(ks, "cert", &v, &l) != CC_OK || l > sizeof d->cert_enc ||
	    cc_cert_decode(v, l, &d->cert) != CC_OK)
		die("no certificate in", path);
	memcpy(d->cert_enc, v, l);
	d->cert_len = l;
	cc_keystore_free(ks);
	return B.ndevs++;
}

/* The device's wrap secrets as its keystore holds them now (libcasus
 * publishes a wrap key at connect, and commits seal to it: docs/CRYPTO.md
 * "Device wrap keys"). */
static void load_wraps(const struct device *d, cc_casus *cs)
{
	char path[1024];
	snprintf(path, sizeof path, "%s/users/%s/keys.casusks", B.state, d->uid);
	cc_keystore *ks = NULL;
	if (cc_keystore_open(path, g_pass, g_passlen, &ks) != CC_OK)
		die("cannot open keystore", path);
	cc_wrap_secret *ws = sodium_malloc(CC_WRAP_MAX * sizeof *ws);
	size_t n = 0;
	uint32_t newest = 0;
	const uint8_t *v;
	size_t l;
	for (size_t i = 0; ws && i < cc_keystore_count(ks); i++) {
		const char *name = cc_keystore_name(ks, i);
		if (name && strncmp(name, "wrap/", 5) == 0 && n < CC_WRAP_MAX &&
		    cc_keystore_get(ks, name, &v, &l) == CC_OK && cc_wrap_secret_decode(v, l, &ws[n]) == CC_OK &&
		    ws[n++].version > newest)
			newest = ws[n - 1].version;
	}
	if (!ws || cc_casus_set_wraps(cs, ws, n, newest) != CC_OK)
		die("cannot load the wrap keys of", path);
	sodium_free(ws);
	cc_keystore_free(ks);
}

static void load_deployment(void)
{
	char path[1024];
	size_t n = 0;
	snprintf(path, sizeof path, "%s/root.pub", B.state);
	uint8_t *b = fio_read(path, 256, &n);
	if (!b)
		die("cannot read", path);
	char hex[65];
	size_t h = 0;
	for (size_t i = 0; i < n && h < 64; i++)
		if (strchr("0123456789abcdefABCDEF", b[i]) && b[i])
			hex[h++] = (char)b[i];
	hex[h] = 0;
	free(b);
	size_t outl = 0;
	if (h != 64 || sodium_hex2bin(B.root, 32, hex, 64, NULL, &outl, NULL) != 0)
		die("bad root key in", path);
	snprintf(path, sizeof path, "%s/policy.bin", B.state);
	b = fio_read(path, 1 << 20, &n);
	if (!b || cc_policy_decode(b, n, &B.policy) != CC_OK || cc_policy_verify(&B.policy, B.root, NULL) != CC_OK)
		die("cannot load the signed policy", path);
	free(b);
	B.audience = -1;
	for (int i = 0; i < B.policy.naudiences; i++)
		if (strcmp(B.policy.audiences[i].name, "zorg") == 0)
			B.audience = i;
	if (B.audience < 0)
		B.audience = 0;
}

static void split_devices(const char *csv, int *out, int *nout)
{
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", csv);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		out[(*nout)++] = load_device(t);
}

static void hex_to_id(const char *hex, uint8_t id[16])
{
	size_t n = 0;
	if (strlen(hex) != 32 || sodium_hex2bin(id, 16, hex, 32, NULL, &n, NULL) != 0 || n != 16)
		die("bad casus id", hex);
}

/* Create the casus (or use --casus-id) and build the sender's cc_casus for each. */
static void setup_casus(void)
{
	char prof[1024], err[256];
	snprintf(prof, sizeof prof, "%s/users/%s", B.state, B.sender_uid);
	casus_client *cl = NULL;
	if (casus_client_open(&cl, prof, g_pass, g_passlen, err, sizeof err) != CASUS_OK)
		die("cannot open profile", err);
	/* libcasus connects to the profile's server address; the bench uses --url */
	if (casus_client_connect(cl) != CASUS_OK)
		die("cannot connect", casus_error(cl));
	const char *members[MAX_DEV];
	for (int i = 0; i < B.nrecv_devs; i++)
		members[i] = B.devs[B.recv_devs[i]].cert.user_id; /* the folder name may differ (harness: uid-d1) */
	for (unsigned k = 0; k < B.ncasus; k++) {
		if (B.casus_hex_arg) {
			snprintf(B.casus_hex[k], 33, "%s", B.casus_hex_arg);
		} else if (casus_new(cl, "bench", "load test", "bench", 1, members, (size_t)B.nrecv_devs,
		                     B.casus_hex[k]) != CASUS_OK) {
			die("casus new failed", casus_error(cl));
		}
		hex_to_id(B.casus_hex[k], B.casus_id[k]);
		struct device *sd = &B.devs[B.sender_dev];
		if (cc_casus_new(sd->keys, &sd->cert, &B.cs[k]) != CC_OK)
			die("cc_casus_new", NULL);
		load_wraps(sd, B.cs[k]);
		uint64_t from = 0;
		for (;;) {
			json_t *req = json_pack("{sssssI}", "type", "commit.fetch", "casus", B.casus_hex[k], "from",
			                        (json_int_t)from);
			json_t *r = casus_raw_request(cl, req);
			json_decref(req);
			if (!r || !json_is_true(json_object_get(r, "ok"))) {
				char *t = r ? json_dumps(r, JSON_COMPACT) : NULL;
				fprintf(stderr, "casus-bench: commit.fetch: %s\n", t ? t : casus_error(cl));
				die("commit.fetch failed", NULL);
			}
			json_t *arr = json_object_get(r, "commits"), *o;
			size_t i;
			json_array_foreach(arr, i, o) {
				uint8_t *cb = NULL;
				size_t cl2 = 0;
				if (proto_get_b64(o, "commit", 1 << 22, &cb, &cl2))
					die("bad commit", NULL);
				int rc = cc_casus_apply_commit(B.cs[k], cb, cl2, &B.policy, B.root, (int64_t)time(NULL),
				                               NULL);
				free(cb);
				if (rc != CC_OK)
					die("commit did not verify", cc_strerror(rc));
				from = (uint64_t)json_integer_value(json_object_get(o, "epoch")) + 1;
			}
			int more = json_is_true(json_object_get(r, "more"));
			json_decref(r);
			if (!more)
				break;
		}
		/* counters from the clock so that a rerun never repeats one */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		cc_casus_set_send_counter(B.cs[k], (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
	}
	casus_client_free(cl);
}

/* Encrypt one message for casus k into m. */
static void make_msg(struct pmsg *m, unsigned k, uint64_t idx)
{
	/* what the casus client encrypts for a note (client/libcasus_outbox.c): the
	 * body {"v":1,"kind":"note","text":...}, the text --size bytes, the same
	 * text the peers get as their payload */
	char text[65536], body[65536 + 64];
	size_t tl = B.size < sizeof text - 1 ? B.size : sizeof text - 1;
	memset(text, 'x', tl);
	int w = snprintf(text, tl + 1, "bench message %llu", (unsigned long long)idx);
	if (w > 0 && (size_t)w < tl)
		text[w] = ' ';
	text[tl] = 0;
	int bl = snprintf(body, sizeof body, "{\"v\":1,\"kind\":\"note\",\"text\":\"%s\"}", text);
	if (bl < 0 || (size_t)bl >= sizeof body)
		die("note too large", NULL);
	const uint8_t *pt = (const uint8_t *)body;
	size_t len = (size_t)bl;
	cc_wbuf out;
	cc_w_init(&out);
	int rc = cc_casus_encrypt(B.cs[k], &B.policy, B.audience, 0, pt, len, (int64_t)time(NULL), &out);
	if (rc != CC_OK || out.err)
		die("encrypt failed", cc_strerror(rc ? rc : out.err));
	cc_message dm;
	if (cc_message_decode(out.p, out.len, &dm) != CC_OK)
		die("cannot decode own message", NULL);
	memcpy(m->msgid, dm.h.message_id, 16);
	size_t cap = sodium_base64_ENCODED_LEN(out.len, sodium_base64_VARIANT_ORIGINAL);
	m->b64 = malloc(cap);
	if (!m->b64)
		die("out of memory", NULL);
	sodium_bin2base64(m->b64, cap, out.p, out.len, sodium_base64_VARIANT_ORIGINAL);
	m->b64len = strlen(m->b64);
	m->casus = (int)k;
	cc_w_free(&out);
}

/* ---- /proc and /metrics ----------------------------------------------------------- */

static double proc_cpu_s(int pid)
{
	char path[64], buf[2048];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	if (!p)
		return -1;
	unsigned long long ut = 0, st = 0;
	/* fields after ")": state(3) ... utime(14) stime(15) */
	if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static long proc_rss_kb(int pid)
{
	char path[64], line[256];
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

static double self_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

struct mstats {
	double commits, commit_s, stored, pushes;
	int ok;
};

static double metric(const char *body, const char *name)
{
	const char *p = body;
	size_t nl = strlen(name);
	while ((p = strstr(p, name))) {
		if ((p == body || p[-1] == '\n') && p[nl] == ' ')
			return strtod(p + nl + 1, NULL);
		p += nl;
	}
	return -1;
}

static struct mstats get_metrics(void)
{
	struct mstats m = {0, 0, 0, 0, 0};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return m;
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)(B.port + 1)); /* casusd's metrics_port: bench/run.sh sets port + 1 */
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	struct timeval tv = {2, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
		close(fd);
		return m;
	}
	const char *req = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
	if (write(fd, req, strlen(req)) < 0) {
		close(fd);
		return m;
	}
	char buf[8192];
	size_t n = 0;
	ssize_t r;
	while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	buf[n] = 0;
	m.commits = metric(buf, "casusd_store_commits_total");
	m.commit_s = metric(buf, "casusd_store_commit_seconds_total");
	m.stored = metric(buf, "casusd_messages_stored_total");
	m.pushes = metric(buf, "casusd_pushes_total");
	m.ok = m.commits >= 0;
	return m;
}

/* ---- network ----------------------------------------------------------------------- */

static unsigned char g_tx[LWS_PRE + 512 * 1024];

static int send_text(struct bconn *c, const char *text, size_t len)
{
	if (len > sizeof g_tx - LWS_PRE)
		return -1;
	memcpy(g_tx + LWS_PRE, text, len);
	return lws_write(c->wsi, g_tx + LWS_PRE, len, LWS_WRITE_TEXT) < (int)len ? -1 : 0;
}

static void queue_ctrl(struct bconn *c, json_t *obj)
{
	size_t len = 0;
	char *t = proto_dump(obj, &len);
	json_decref(obj);
	if (!t || len >= sizeof c->pending)
		die("control frame too large", NULL);
	memcpy(c->pending, t, len);
	c->pending_len = len;
	free(t);
	lws_callback_on_writable(c->wsi);
}

static void print_stats(const char *label, double el_ack, double el_all, double srv_cpu, double self_cpu);
static uint64_t g_msg_budget;

/* The send time a message is measured from: when it was due (open-loop, fixed
 * rate: a late sender counts against the latency, no coordinated omission) or
 * now (flat out). The same for every system. */
static uint64_t sched_ns(uint64_t idx)
{
	if (B.rate > 0)
		return B.t_load_ns + (uint64_t)((double)idx * 1e9 / B.rate);
	return mono_ns();
}

/* WebSocket header bytes of an unmasked frame of n payload bytes (RFC 6455 5.2) */
static size_t ws_hdr(size_t n)
{
	return n < 126 ? 2 : n < 65536 ? 4 : 10;
} /* messages the rate limiter allows so far (latency modes) */

static int sender_may_send(struct bconn *c)
{
	if (B.phase != 1 || c->st != C_READY)
		return 0;
	/* flat out: at most --window in flight; at a fixed rate the sending is
	 * open-loop (every message leaves when it is due, whatever is in flight),
	 * so an overloaded server shows as growing latency, not a slower sender */
	if (B.rate <= 0 && c->inflight >= B.window)
		return 0;
	if (!B.durable && B.next_msg >= B.nmsgs)
		return 0;
	if (B.max_s > 0 && (double)(mono_ns() - B.t_load_ns) / 1e9 >= B.max_s)
		return 0;
	if (B.rate > 0 && B.next_msg >= g_msg_budget)
		return 0;
	return 1;
}

static void sender_send_some(struct bconn *c)
{
	char frame[512 * 1024];
	int budget = 32;
	while (budget-- > 0 && sender_may_send(c)) {
		uint64_t idx;
		struct pmsg tmp, *m;
		if (B.durable) {
			struct ackslot *sl = NULL;
			for (unsigned k = 0; k < B.window && !sl; k++)
				if (!c->slots[k].used)
					sl = &c->slots[k];
			if (!sl)
				die("durable-check: more requests in flight than the window", NULL);
			idx = B.next_msg++;
			make_msg(&tmp, (unsigned)c->casus, idx);
			m = &tmp;
			sl->used = 1;
			sl->req = idx;
			memcpy(sl->msgid, tmp.msgid, sizeof sl->msgid);
		} else {
			/* messages are prepared per casus in round-robin order: pick the next one of this casus */
			idx = B.next_msg++;
			m = &B.msgs[idx];
		}
		int n = snprintf(frame, sizeof frame, "{\"id\":%llu,\"type\":\"msg.post\",\"casus\":\"%s\",\"msg\":\"",
		                 (unsigned long long)(idx + 1000), B.casus_hex[m->casus]);
		if (n < 0 || (size_t)n + m->b64len + 3 > sizeof frame)
			die("frame too large", NULL);
		memcpy(frame + n, m->b64, m->b64len);
		memcpy(frame + (size_t)n + m->b64len, "\"}", 2);
		size_t fl = (size_t)n + m->b64len + 2;
		if (B.send_ns)
			B.send_ns[idx] = sched_ns(idx);
		B.post_bytes += fl + ws_hdr(fl) + 4; /* client frames are masked */
		B.post_frames++;
		if (B.durable) {
			free(tmp.b64);
			tmp.b64 = NULL;
		}
		if (send_text(c, frame, fl) != 0) {
			c->st = C_CLOSED;
			return;
		}
		c->inflight++;
		c->sent++;
		if (lws_partial_buffered(c->wsi))
			break;
	}
	if (sender_may_send(c))
		lws_callback_on_writable(c->wsi);
}

static const char *find_key(const char *p, size_t n, const char *key)
{
	/* key is like "\"seq\":"; frames are the server's compact JSON */
	size_t kl = strlen(key);
	if (n < kl)
		return NULL;
	for (size_t i = 0; i + kl <= n; i++)
		if (p[i] == key[0] && memcmp(p + i, key, kl) == 0)
			return p + i + kl;
	return NULL;
}

static int casus_index(const char *hex)
{
	for (unsigned k = 0; k < B.ncasus; k++)
		if (memcmp(B.casus_hex[k], hex, 32) == 0)
			return (int)k;
	return -1;
}

static void on_frame(struct bconn *c, const char *p, size_t n)
{
	uint64_t now = mono_ns();
	if (c->st == C_READY && c->role == R_RECEIVER) {
		/* pushes: count; in latency modes note (casus, seq, time). Only the
		 * small head of the frame is scanned ({"push":"msg","casus":..,"seq":..,"msg":..}). */
		size_t head = n < 160 ? n : 160;
		if (!find_key(p, head, "\"push\":\"msg\""))
			return;
		c->pushes++;
		B.total_pushes++;
		B.push_bytes += n + ws_hdr(n);
		B.push_frames++;
		if (B.recvs && B.nrecvs < B.caprecvs) {
			const char *cs = find_key(p, head, "\"casus\":\"");
			const char *sq = find_key(p, head, "\"seq\":");
			if (cs && sq) {
				int k = casus_index(cs);
				if (k >= 0) {
					B.recvs[B.nrecvs].casus = (uint32_t)k;
					B.recvs[B.nrecvs].seq = strtoull(sq, NULL, 10);
					B.recvs[B.nrecvs].t_ns = now;
					B.nrecvs++;
				}
			}
		}
		return;
	}
	/* pushes to a sender's other connections: skip without parsing */
	if (c->st == C_READY && n > 8 && memcmp(p, "{\"push\":", 8) == 0)
		return;
	json_error_t jerr;
	json_t *o = json_loadb(p, n, 0, &jerr);
	if (!o)
		return;
	if (json_object_get(o, "push")) {
		json_decref(o);
		return;
	}
	int ok = json_is_true(json_object_get(o, "ok"));
	uint64_t id = (uint64_t)json_integer_value(json_object_get(o, "id"));
	if (c->st == C_HELLO) {
		uint8_t challenge[32], sig[CC_SIG_BYTES];
		if (!ok || proto_get_b64_fixed(o, "challenge", challenge, sizeof challenge))
			die("hello refused", NULL);
		struct device *d = &B.devs[c->dev];
		if (cc_sign_ctx(d->keys->sign_sk, "casus.v1 auth", challenge, sizeof challenge, sig) != CC_OK)
			die("sign failed", NULL);
		json_t *a = json_pack("{sIss}", "id", (json_int_t)2, "type", "auth");
		proto_set_b64(a, "cert", d->cert_enc, d->cert_len);
		proto_set_b64(a, "sig", sig, sizeof sig);
		c->st = C_AUTH;
		queue_ctrl(c, a);
	} else if (c->st == C_AUTH) {
		if (!ok) {
			const char *e = json_string_value(json_object_get(json_object_get(o, "error"), "message"));
			snprintf(B.last_err, sizeof B.last_err, "auth refused: %s", e ? e : "?");
			c->st = C_CLOSED;
			B.closed_early++;
		} else {
			c->st = C_READY;
			B.ready++;
			if (c->role == R_SENDER && sender_may_send(c))
				lws_callback_on_writable(c->wsi);
		}
	} else if (c->role == R_SENDER && id >= 1000) {
		uint64_t idx = id - 1000;
		struct ackslot *sl = NULL;
		if (c->inflight)
			c->inflight--;
		if (B.durable) {
			for (unsigned k = 0; k < B.window && !sl; k++)
				if (c->slots[k].used && c->slots[k].req == idx)
					sl = &c->slots[k];
			if (!sl) {
				/* never guess a message id: a wrong ACK line is a false alarm in the crash test */
				B.unmatched++;
				fprintf(stderr,
				        "casus-bench: reply to request %llu that this connection has not in flight\n",
				        (unsigned long long)id);
			}
		}
		if (ok) {
			c->acked++;
			B.total_acked++;
			uint64_t seq = (uint64_t)json_integer_value(json_object_get(o, "seq"));
			if (sl) {
				char hex[33];
				proto_hex16(sl->msgid, hex);
				printf("ACK %llu %s\n", (unsigned long long)seq, hex);
				fflush(stdout);
			}
			if (B.acks && B.send_ns) {
				int k = B.msgs ? B.msgs[idx].casus : 0;
				B.acks[B.nacks].casus = (uint32_t)k;
				B.acks[B.nacks].seq = seq;
				B.acks[B.nacks].t_ns = B.send_ns[idx];
				B.nacks++;
				if (B.ackd_ns)
					B.ackd_ns[idx] = now;
			}
		} else {
			c->refused++;
			B.total_refused++;
			if (B.total_refused <= 5) {
				char *t = json_dumps(o, JSON_COMPACT);
				fprintf(stderr, "casus-bench: refused: %s\n", t ? t : "?");
				free(t);
			}
		}
		if (sl)
			sl->used = 0;
		if (sender_may_send(c))
			lws_callback_on_writable(c->wsi);
	} else if (c->role == R_BURST) {
		B.burst_replies++;
		B.burst_bytes += n;
		if (!ok) {
			char *t = json_dumps(o, JSON_COMPACT);
			fprintf(stderr, "casus-bench: history refused: %.200s\n", t ? t : "?");
			free(t);
		}
	} else if (c->role == R_DUMP) {
		if (!ok)
			die("history refused", NULL);
		json_t *arr = json_object_get(o, "messages"), *e;
		size_t i;
		json_array_foreach(arr, i, e) {
			uint8_t *mb = NULL;
			size_t ml = 0;
			uint64_t seq = (uint64_t)json_integer_value(json_object_get(e, "seq"));
			cc_message dm;
			char hex[33] = "?";
			if (proto_get_b64(e, "msg", 1 << 22, &mb, &ml) == 0 && cc_message_decode(mb, ml, &dm) == CC_OK)
				proto_hex16(dm.h.message_id, hex);
			free(mb);
			printf("HIST %llu %s\n", (unsigned long long)seq, hex);
			B.dump_after = seq;
		}
		if (json_is_true(json_object_get(o, "more"))) {
			queue_ctrl(c, json_pack("{sIsssssI}", "id", (json_int_t)3, "type", "history", "casus",
			                        B.casus_hex[0], "after", (json_int_t)B.dump_after));
		} else {
			B.dump_done = 1;
		}
	}
	json_decref(o);
}

static int cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct bconn *c = lws_get_opaque_user_data(wsi);
	(void)user;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (c) {
			snprintf(B.last_err, sizeof B.last_err, "connect error: %s", in ? (const char *)in : "?");
			c->st = C_CLOSED;
			c->wsi = NULL;
			B.closed_early++;
		}
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (c) {
			c->st = C_HELLO;
			queue_ctrl(c, json_pack("{sIsssi}", "id", (json_int_t)1, "type", "hello", "version",
			                        PROTO_VERSION));
		}
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!c)
			break;
		if (lws_is_first_fragment(wsi) && lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi) &&
		    c->rxlen == 0) {
			on_frame(c, in, len);
			break;
		}
		if (c->rxlen + len > c->rxcap) {
			size_t nc = c->rxcap ? c->rxcap : 4096;
			while (nc < c->rxlen + len)
				nc *= 2;
			unsigned char *nb = realloc(c->rx, nc);
			if (!nb)
				return -1;
			c->rx = nb;
			c->rxcap = nc;
		}
		memcpy(c->rx + c->rxlen, in, len);
		c->rxlen += len;
		if (lws_is_final_fragment(wsi) && !lws_remaining_packet_payload(wsi)) {
			on_frame(c, (const char *)c->rx, c->rxlen);
			c->rxlen = 0;
		}
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!c)
			break;
		if (c->pending_len) {
			size_t l = c->pending_len;
			c->pending_len = 0;
			if (send_text(c, c->pending, l) != 0)
				return -1;
			break;
		}
		if (c->role == R_SENDER)
			sender_send_some(c);
		if (c->role == R_BURST && c->st == C_READY && B.phase == 1) {
			while (B.burst_sent < B.messages) {
				char t[256];
				int l = snprintf(
					t, sizeof t,
					"{\"id\":%llu,\"type\":\"history\",\"casus\":\"%s\",\"after\":0,\"limit\":500}",
					(unsigned long long)(100 + B.burst_sent), B.casus_hex[0]);
				if (send_text(c, t, (size_t)l) != 0)
					return -1;
				B.burst_sent++;
				if (lws_partial_buffered(wsi)) {
					lws_callback_on_writable(wsi);
					break;
				}
			}
			if (B.burst_sent == B.messages) {
				B.phase = 2;
				if (B.stall)
					lws_rx_flow_control(wsi, 0);
				printf("SENT %llu\n", (unsigned long long)B.burst_sent);
				fflush(stdout);
			}
		}
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		/* the server's close code and reason, for the report (a test tells a writer change, 1001,
		 * from a failure by it) */
		if (c && in && len >= 2) {
			const uint8_t *b = in;
			snprintf(B.last_err, sizeof B.last_err, "closed by server (%u): %.*s",
			         (unsigned)(b[0] << 8 | b[1]), (int)(len - 2 > 200 ? 200 : len - 2),
			         (const char *)b + 2);
		}
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c) {
			if (c->st == C_READY && B.phase < 2)
				B.closed_early++;
			c->st = C_CLOSED;
			c->wsi = NULL;
		}
		break;
	default:
		break;
	}
	return 0;
}

static const struct lws_protocols protocols[] = {{PROTO_SUBPROTOCOL, cb, 0, 65536, 0, NULL, 256 * 1024},
                                                 {NULL, NULL, 0, 0, 0, NULL, 0}};

static void connect_one(struct bconn *c)
{
	struct lws_client_connect_info ci;
	memset(&ci, 0, sizeof ci);
	ci.context = B.ctx;
	ci.address = B.host;
	ci.port = c->role == R_RECEIVER && B.recv_port ? B.recv_port : B.port;
	ci.path = "/";
	ci.host = B.host;
	ci.origin = B.host;
	ci.protocol = PROTO_SUBPROTOCOL;
	ci.opaque_user_data = c;
	ci.pwsi = &c->wsi;
	ci.ssl_connection = B.tls ? LCCSCF_USE_SSL : 0; /* the server's certificate is checked against --ca */
	c->st = C_CONNECTING;
	if (!lws_client_connect_via_info(&ci)) {
		c->st = C_CLOSED;
		B.closed_early++;
	}
}

static void tick_cb(lws_sorted_usec_list_t *sul)
{
	(void)sul;
	if (B.phase == 1 && B.rate > 0) {
		double el = (double)(mono_ns() - B.t_load_ns) / 1e9;
		uint64_t allowed = (uint64_t)(el * B.rate) + 1;
		if (allowed > g_msg_budget) {
			g_msg_budget = allowed;
			for (size_t i = 0; i < B.nconns; i++)
				if (B.conns_v[i].role == R_SENDER && sender_may_send(&B.conns_v[i]))
					lws_callback_on_writable(B.conns_v[i].wsi);
		}
	}
	lws_sul_schedule(B.ctx, 0, &B.sul_tick, tick_cb, 500); /* 0.5 ms */
}

/* libev (epoll) as lws' foreign loop: lws' default loop polls every
 * descriptor on every turn, which costs O(connections) per frame here too. */
static struct ev_loop *g_loop;
static void *g_foreign[1];

static int svc(void)
{
	if (g_loop) {
		ev_run(g_loop, EVRUN_ONCE);
		return 0;
	}
	return lws_service(B.ctx, 0);
}

static void on_sig(int s)
{
	(void)s;
	B.stop = 1;
}

static void create_context(size_t nconns)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < nconns + 512) {
		rl.rlim_cur = rl.rlim_max < nconns + 512 ? rl.rlim_max : nconns + 512;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	struct lws_context_creation_info info;
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = protocols;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.fd_limit_per_thread = (unsigned)(nconns + 256);
	/* no lws keepalive timers on the client side (they cost O(connections) per
	 * frame in lws 4.1); the server pings idle connections and lws answers */
	static const uint32_t retry_table[] = {1000};
	static lws_retry_bo_t retry;
	retry.retry_ms_table = retry_table;
	retry.retry_ms_table_count = 1;
	retry.secs_since_valid_ping = 0;
	retry.secs_since_valid_hangup = 0;
	info.retry_and_idle_policy = &retry;
	info.pt_serv_buf_size = 64 * 1024;
	if (B.tls) {
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
		info.client_ssl_ca_filepath = B.ca;
	}
	lws_set_log_level(LLL_ERR, NULL);
	if (!getenv("CASUS_BENCH_POLL")) {
		g_loop = ev_loop_new(EVBACKEND_EPOLL | EVFLAG_NOENV);
		if (g_loop) {
			g_foreign[0] = g_loop;
			info.options |= LWS_SERVER_OPTION_LIBEV;
			info.foreign_loops = g_foreign;
		}
	}
	B.ctx = lws_create_context(&info);
	if (!B.ctx)
		die("cannot create the lws context", NULL);
	lws_sul_schedule(B.ctx, 0, &B.sul_tick, tick_cb, 1000);
}

static void service_until(int (*done)(void), double max_s)
{
	uint64_t t0 = mono_ns();
	while (!B.stop && !done() && (double)(mono_ns() - t0) / 1e9 < max_s)
		if (svc() < 0)
			break;
}

static size_t g_want_ready;

/* Open connections in batches (at most `par` handshakes in flight). */
static void open_conns(size_t from, size_t to, size_t par)
{
	size_t next = from;
	uint64_t t0 = mono_ns();
	while (!B.stop && (double)(mono_ns() - t0) / 1e9 < B.connect_s) {
		size_t busy = 0, done = 0;
		for (size_t i = from; i < next; i++) {
			enum cstate s = B.conns_v[i].st;
			if (s == C_READY || s == C_CLOSED)
				done++;
			else
				busy++;
		}
		while (next < to && busy < par) {
			connect_one(&B.conns_v[next++]);
			busy++;
		}
		if (done == to - from)
			break;
		svc();
	}
}

/* ---- latency statistics ----------------------------------------------------------------- */

static int cmp_rec(const void *a, const void *b)
{
	const struct srec *x = a, *y = b;
	if (x->casus != y->casus)
		return x->casus < y->casus ? -1 : 1;
	if (x->seq != y->seq)
		return x->seq < y->seq ? -1 : 1;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void latency_report(const char *label)
{
	qsort(B.acks, B.nacks, sizeof *B.acks, cmp_rec);
	uint64_t *lat = malloc(sizeof(uint64_t) * (B.nrecvs + B.nmsgs + 1));
	size_t nl = 0;
	for (uint64_t i = 0; i < B.nrecvs; i++) {
		struct srec key = B.recvs[i];
		struct srec *a = bsearch(&key, B.acks, B.nacks, sizeof *B.acks, cmp_rec);
		if (a && B.recvs[i].t_ns >= a->t_ns)
			lat[nl++] = B.recvs[i].t_ns - a->t_ns;
	}
	qsort(lat, nl, sizeof *lat, cmp_u64);
	if (!nl) {
		printf("%s latency: no matched deliveries\n", label);
		free(lat);
		return;
	}
#define PCT(p) ((double)lat[(size_t)((double)(nl - 1) * (p))] / 1e6)
	if (B.ackd_ns) {
		size_t na = 0;
		for (uint64_t i = 0; i < B.nmsgs; i++)
			if (B.ackd_ns[i] && B.ackd_ns[i] >= B.send_ns[i])
				lat[na++] = B.ackd_ns[i] - B.send_ns[i];
		if (na) {
			qsort(lat, na, sizeof *lat, cmp_u64);
			size_t nl_save = nl;
			nl = na;
			printf("%s ack latency (post->durable ack, ms): n=%zu p50=%.3f p90=%.3f p99=%.3f max=%.3f\n",
			       label, na, PCT(0.50), PCT(0.90), PCT(0.99), (double)lat[na - 1] / 1e6);
			B.ack_lat[0] = PCT(0.50);
			B.ack_lat[1] = PCT(0.90);
			B.ack_lat[2] = PCT(0.99);
			nl = nl_save;
			nl = 0;
			for (uint64_t i = 0; i < B.nrecvs; i++) {
				struct srec key = B.recvs[i];
				struct srec *a = bsearch(&key, B.acks, B.nacks, sizeof *B.acks, cmp_rec);
				if (a && B.recvs[i].t_ns >= a->t_ns)
					lat[nl++] = B.recvs[i].t_ns - a->t_ns;
			}
			qsort(lat, nl, sizeof *lat, cmp_u64);
		}
	}
	printf("%s latency (post->delivery, ms): n=%zu p50=%.3f p90=%.3f p99=%.3f p99.9=%.3f max=%.3f\n", label, nl,
	       PCT(0.50), PCT(0.90), PCT(0.99), PCT(0.999), (double)lat[nl - 1] / 1e6);
	B.lat[0] = PCT(0.50);
	B.lat[1] = PCT(0.90);
	B.lat[2] = PCT(0.99);
	B.lat[3] = PCT(0.999);
	B.lat[4] = (double)lat[nl - 1] / 1e6;
#undef PCT
	free(lat);
}

/* ---- modes ---------------------------------------------------------------------------------- */

static int load_done(void)
{
	if (B.durable)
		return B.stop;
	if (B.next_msg < B.nmsgs && !(B.max_s > 0 && (double)(mono_ns() - B.t_load_ns) / 1e9 >= B.max_s))
		return 0;
	for (size_t i = 0; i < B.nconns; i++)
		if (B.conns_v[i].role == R_SENDER && B.conns_v[i].st == C_READY && B.conns_v[i].inflight)
			return 0;
	return 1;
}

static uint64_t g_expect_pushes;
static int pushes_done(void)
{
	return B.total_pushes >= g_expect_pushes;
}

static void prepare_messages(uint64_t n)
{
	B.nmsgs = n;
	B.msgs = calloc(n, sizeof *B.msgs);
	B.send_ns = calloc(n, sizeof *B.send_ns);
	if (!B.msgs || !B.send_ns)
		die("out of memory", NULL);
	double t0 = (double)mono_ns();
	/* Messages are sent in index order by whichever sender has credit; give
	 * message i the casus of sender (i % nsenders) so casus get equal shares. */
	for (uint64_t i = 0; i < n; i++)
		make_msg(&B.msgs[i], (unsigned)(i % B.ncasus), i);
	fprintf(stderr, "casus-bench: %llu messages encrypted and signed in %.2f s (%u bytes plaintext)\n",
	        (unsigned long long)n, ((double)mono_ns() - t0) / 1e9, B.size);
}

static void setup_load_conns(size_t extra_idle)
{
	size_t nrecv = (size_t)B.nrecv_devs * B.recv_conns;
	B.nconns = B.nsenders + nrecv + extra_idle;
	B.conns_v = calloc(B.nconns, sizeof *B.conns_v);
	if (!B.conns_v)
		die("out of memory", NULL);
	size_t j = 0;
	for (size_t i = 0; i < extra_idle; i++, j++) {
		B.conns_v[j].role = R_IDLE;
		B.conns_v[j].dev = B.idle_devs[i % (size_t)B.nidle_devs];
	}
	for (size_t i = 0; i < nrecv; i++, j++) {
		B.conns_v[j].role = R_RECEIVER;
		B.conns_v[j].dev = B.recv_devs[i % (size_t)B.nrecv_devs];
	}
	for (size_t i = 0; i < B.nsenders; i++, j++) {
		B.conns_v[j].role = R_SENDER;
		B.conns_v[j].dev = B.sender_dev;
		B.conns_v[j].casus = (int)(i % B.ncasus);
		if (B.durable) {
			B.conns_v[j].slots = calloc(B.window, sizeof *B.conns_v[j].slots);
			if (!B.conns_v[j].slots)
				die("out of memory", NULL);
		}
	}
	create_context(B.nconns);
}

/* Messages are taken in index order by any sender connection, but message i
 * belongs to casus i % K: a sender posts whatever message comes next (the
 * casus in the frame comes from the message), so senders are interchangeable. */
static int run_load(const char *label, double max_s)
{
	size_t first_load = B.nconns - B.nsenders - (size_t)B.nrecv_devs * B.recv_conns;
	g_want_ready = B.nconns;
	open_conns(first_load, B.nconns, 256);
	if (B.ready < B.nconns - first_load) {
		fprintf(stderr, "casus-bench: only %llu of %zu load connections ready (%s)\n",
		        (unsigned long long)B.ready, B.nconns - first_load, B.last_err);
		return -1;
	}
	struct mstats m0 = get_metrics();
	double cpu0 = B.pid ? proc_cpu_s(B.pid) : 0, self0 = self_cpu_s();
	B.phase = 1;
	B.t_load_ns = mono_ns();
	g_msg_budget = 1;
	for (size_t i = 0; i < B.nconns; i++)
		if (B.conns_v[i].role == R_SENDER)
			lws_callback_on_writable(B.conns_v[i].wsi);
	service_until(load_done, max_s);
	uint64_t t_acked = mono_ns();
	B.phase = 2;
	g_expect_pushes = B.total_acked * (uint64_t)B.nrecv_devs * B.recv_conns;
	service_until(pushes_done, 10);
	uint64_t t_end = mono_ns();
	double cpu1 = B.pid ? proc_cpu_s(B.pid) : 0, self1 = self_cpu_s();
	struct mstats m1 = get_metrics();
	print_stats(label, (double)(t_acked - B.t_load_ns) / 1e9, (double)(t_end - B.t_load_ns) / 1e9, cpu1 - cpu0,
	            self1 - self0);
	if (m0.ok && m1.ok) {
		double commits = m1.commits - m0.commits, cs = m1.commit_s - m0.commit_s, st = m1.stored - m0.stored;
		printf("%s: server commits=%.0f (%.1f msg/commit), commit time %.3f s (%.3f ms/commit), stored=%.0f pushes=%.0f\n",
		       label, commits, commits > 0 ? st / commits : 0, cs, commits > 0 ? cs * 1000 / commits : 0, st,
		       m1.pushes - m0.pushes);
	}
	if (B.closed_early)
		printf("%s: WARNING %llu connections closed early (%s)\n", label, (unsigned long long)B.closed_early,
		       B.last_err);
	return 0;
}

static void print_stats(const char *label, double el_ack, double el_all, double srv_cpu, double self_cpu)
{
	printf("%s: system=%s%s senders=%u window=%u%s casus=%u members=%llu, payload=%uB\n", label, B.system,
	       B.tls ? " (TLS)" : "", B.nsenders, B.window, B.rate > 0 ? " (not used: open-loop)" : "", B.ncasus,
	       (unsigned long long)B.res_members, B.size);
	printf("%s: acked=%llu refused=%llu of %llu in %.3f s -> %.0f durable msg/s%s\n", label,
	       (unsigned long long)B.total_acked, (unsigned long long)B.total_refused, (unsigned long long)B.next_msg,
	       el_ack, (double)B.total_acked / el_ack, B.rate > 0 ? " (offered: --rate)" : "");
	printf("%s: deliveries=%llu (expected %llu) in %.3f s -> %.0f deliveries/s\n", label,
	       (unsigned long long)B.total_pushes, (unsigned long long)g_expect_pushes, el_all,
	       (double)B.total_pushes / el_all);
	for (size_t i = 0; i < B.nconns; i++)
		if (B.conns_v && B.conns_v[i].role == R_SENDER)
			printf("%s: sender %zu sent=%llu acked=%llu refused=%llu\n", label, i,
			       (unsigned long long)B.conns_v[i].sent, (unsigned long long)B.conns_v[i].acked,
			       (unsigned long long)B.conns_v[i].refused);
	printf("%s: wire bytes per post %.0f, per delivery %.0f (protocol frames; TCP/IP%s not counted)\n", label,
	       B.post_frames ? (double)B.post_bytes / (double)B.post_frames : 0,
	       B.push_frames ? (double)B.push_bytes / (double)B.push_frames : 0, B.tls ? " and TLS records" : "");
	if (B.pid)
		printf("%s: server CPU %.2f s over %.2f s = %.0f%% of one core (%.3f s per 1,000 messages); bench CPU %.0f%%\n",
		       label, srv_cpu, el_all, 100.0 * srv_cpu / el_all,
		       B.total_acked ? srv_cpu * 1000.0 / (double)B.total_acked : 0, 100.0 * self_cpu / el_all);
	B.res_el_ack = el_ack;
	B.res_el_all = el_all;
	B.res_srv_cpu = srv_cpu;
	B.res_self_cpu = self_cpu;
}

/* One machine-readable line per run for bench/run.sh's summary (bench/summarise.py). */
static void print_result(void)
{
	printf("RESULT system=%s tls=%d mode=%s members=%llu size=%u rate=%.0f window=%u offered=%llu acked=%llu "
	       "refused=%llu msg_s=%.1f deliveries=%llu expected=%llu deliv_s=%.1f srv_cpu_s=%.3f bench_cpu_s=%.3f "
	       "el_s=%.3f post_wire=%.0f push_wire=%.0f p50=%.3f p90=%.3f p99=%.3f p999=%.3f max=%.3f ack_p50=%.3f "
	       "ack_p99=%.3f closed=%llu\n",
	       B.system, B.tls, B.mode, (unsigned long long)B.res_members, B.size, B.rate, B.window,
	       (unsigned long long)B.next_msg, (unsigned long long)B.total_acked, (unsigned long long)B.total_refused,
	       B.res_el_ack > 0 ? (double)B.total_acked / B.res_el_ack : 0, (unsigned long long)B.total_pushes,
	       (unsigned long long)g_expect_pushes, B.res_el_all > 0 ? (double)B.total_pushes / B.res_el_all : 0,
	       B.res_srv_cpu, B.res_self_cpu, B.res_el_all,
	       B.post_frames ? (double)B.post_bytes / (double)B.post_frames : 0,
	       B.push_frames ? (double)B.push_bytes / (double)B.push_frames : 0, B.lat[0], B.lat[1], B.lat[2], B.lat[3],
	       B.lat[4], B.ack_lat[0], B.ack_lat[2], (unsigned long long)B.closed_early);
	fflush(stdout);
}

#if defined(CASUS_BENCH_MQTT) || defined(CASUS_BENCH_XMPP)
/* ---- peers: the same schedule, payload and measurement against MQTT and XMPP ---------------- */

/* The plaintext a casus note carries (make_msg), sent as-is to the peers:
 * "bench message <index> xxxx..." of --size bytes. Receivers read the index back. */
static char *peer_payload(uint64_t idx, size_t *len)
{
	char *p = malloc(B.size + 1);
	if (!p)
		die("out of memory", NULL);
	memset(p, 'x', B.size);
	int w = snprintf(p, B.size + 1, "bench message %llu", (unsigned long long)idx);
	if (w > 0 && (size_t)w < B.size)
		p[w] = ' ';
	p[B.size] = 0;
	*len = B.size;
	return p;
}

static int payload_index(const char *p, size_t n, uint64_t *idx)
{
	static const char pre[] = "bench message ";
	char digits[24];
	size_t i = 0;
	if (n < sizeof pre || memcmp(p, pre, sizeof pre - 1) != 0)
		return -1;
	for (size_t j = sizeof pre - 1; j < n && i < sizeof digits - 1 && p[j] >= '0' && p[j] <= '9'; j++)
		digits[i++] = p[j];
	digits[i] = 0;
	if (!i)
		return -1;
	*idx = strtoull(digits, NULL, 10);
	return *idx < B.nmsgs ? 0 : -1;
}

static uint64_t g_peer_inflight;

/* A delivery to a member: the same record the casus path makes (key = message index). */
static void peer_delivered(uint64_t idx, size_t wire)
{
	B.total_pushes++;
	B.push_bytes += wire;
	B.push_frames++;
	if (B.recvs && B.nrecvs < B.caprecvs) {
		B.recvs[B.nrecvs].casus = 0;
		B.recvs[B.nrecvs].seq = idx;
		B.recvs[B.nrecvs].t_ns = mono_ns();
		B.nrecvs++;
	}
}

static void peer_acked(uint64_t idx)
{
	if (g_peer_inflight)
		g_peer_inflight--;
	B.total_acked++;
	if (B.ackd_ns && idx < B.nmsgs && !B.ackd_ns[idx])
		B.ackd_ns[idx] = mono_ns();
}

struct peer_ops {
	void (*service)(int timeout_ms);
	int (*publish)(uint64_t idx); /* 0 sent, -1 connection lost */
	int (*alive)(void);
};

/* The sending schedule, shared with the casus path: flat out = at most
 * --window unacknowledged; --rate = open-loop, message i due at t0 + i/rate. */
static void peer_load(const struct peer_ops *ops)
{
	B.acks = calloc(B.nmsgs + 1, sizeof *B.acks);
	B.send_ns = calloc(B.nmsgs + 1, sizeof *B.send_ns);
	B.ackd_ns = calloc(B.nmsgs + 1, sizeof *B.ackd_ns);
	B.caprecvs = B.nmsgs * B.res_members;
	B.recvs = calloc(B.caprecvs + 1, sizeof *B.recvs);
	if (!B.acks || !B.send_ns || !B.ackd_ns || !B.recvs)
		die("out of memory", NULL);
	double cpu0 = B.pid ? proc_cpu_s(B.pid) : 0, self0 = self_cpu_s();
	B.phase = 1;
	B.t_load_ns = mono_ns();
	double max_s = B.rate > 0 ? (double)B.nmsgs / B.rate * 3 + 30 : 120;
	while (!B.stop && ops->alive()) {
		uint64_t now = mono_ns();
		if ((double)(now - B.t_load_ns) / 1e9 > max_s)
			break;
		if (B.max_s > 0 && B.rate <= 0 && (double)(now - B.t_load_ns) / 1e9 >= B.max_s)
			B.nmsgs = B.next_msg; /* flat out for --max-seconds: no more posts */
		if (B.next_msg >= B.nmsgs && g_peer_inflight == 0)
			break;
		int sent = 0;
		while (B.next_msg < B.nmsgs && sent < 64) {
			uint64_t idx = B.next_msg;
			if (B.rate > 0) {
				if (B.t_load_ns + (uint64_t)((double)idx * 1e9 / B.rate) > now)
					break;
			} else if (g_peer_inflight >= B.window) {
				break;
			}
			B.send_ns[idx] = sched_ns(idx);
			B.acks[idx].casus = 0;
			B.acks[idx].seq = idx;
			B.acks[idx].t_ns = B.send_ns[idx];
			B.nacks = idx + 1;
			g_peer_inflight++;
			B.next_msg++;
			sent++;
			if (ops->publish(idx) != 0)
				break;
		}
		ops->service(sent ? 0 : 1);
	}
	uint64_t t_acked = mono_ns();
	B.phase = 2;
	g_expect_pushes = B.total_acked * B.res_members;
	uint64_t t0 = mono_ns();
	while (!B.stop && ops->alive() && B.total_pushes < g_expect_pushes && (double)(mono_ns() - t0) / 1e9 < 10)
		ops->service(1);
	uint64_t t_end = mono_ns();
	double cpu1 = B.pid ? proc_cpu_s(B.pid) : 0, self1 = self_cpu_s();
	print_stats(B.mode, (double)(t_acked - B.t_load_ns) / 1e9, (double)(t_end - B.t_load_ns) / 1e9, cpu1 - cpu0,
	            self1 - self0);
	if (!ops->alive())
		printf("%s: WARNING a connection was lost (%s)\n", B.mode, B.last_err);
	if (B.rate > 0)
		latency_report(B.mode);
}

static int peer_port(void)
{
	return B.port;
}

#endif /* any peer */

#ifdef CASUS_BENCH_MQTT
#include <mosquitto.h>
#include <poll.h>

/* MQTT 3.1.1 over TCP with libmosquitto (the broker's own client library),
 * one thread, non-blocking: we poll the sockets and call loop_read/write. */
struct mqc {
	struct mosquitto *m;
	int sender, connected, subscribed, lost;
};
static struct mqc *g_mq;
static size_t g_nmq;
static uint64_t g_mid_idx[65536];

static size_t mqtt_varint_len(size_t n)
{
	return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

static void mq_on_connect(struct mosquitto *m, void *ud, int rc)
{
	struct mqc *q = ud;
	if (rc != 0) {
		snprintf(B.last_err, sizeof B.last_err, "MQTT connect refused: %s", mosquitto_connack_string(rc));
		q->lost = 1;
		return;
	}
	q->connected = 1;
	if (q->sender)
		q->subscribed = 1;
	else if (mosquitto_subscribe(m, NULL, B.topic, 1) != MOSQ_ERR_SUCCESS)
		q->lost = 1;
}

static void mq_on_subscribe(struct mosquitto *m, void *ud, int mid, int n, const int *granted)
{
	struct mqc *q = ud;
	(void)m;
	(void)mid;
	if (n >= 1 && granted[0] == 1)
		q->subscribed = 1;
	else
		q->lost = 1;
}

static void mq_on_disconnect(struct mosquitto *m, void *ud, int rc)
{
	struct mqc *q = ud;
	(void)m;
	if (B.phase < 2 || rc != 0) {
		q->lost = 1;
		snprintf(B.last_err, sizeof B.last_err, "MQTT disconnected: %s", mosquitto_strerror(rc));
	}
}

static void mq_on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
	(void)m;
	(void)ud;
	uint64_t idx;
	if (!msg->payload || payload_index(msg->payload, (size_t)msg->payloadlen, &idx) != 0)
		return;
	/* PUBLISH as it arrived: fixed header, remaining length, topic, packet id (QoS 1), payload */
	size_t rem = 2 + strlen(msg->topic) + (msg->qos > 0 ? 2 : 0) + (size_t)msg->payloadlen;
	peer_delivered(idx, 1 + mqtt_varint_len(rem) + rem);
}

static void mq_on_publish(struct mosquitto *m, void *ud, int mid)
{
	(void)m;
	(void)ud;
	peer_acked(g_mid_idx[(unsigned)mid & 0xffff]);
}

static void mq_service(int timeout_ms)
{
	struct pollfd pf[1024];
	size_t n = g_nmq < 1024 ? g_nmq : 1024;
	for (size_t i = 0; i < n; i++) {
		pf[i].fd = mosquitto_socket(g_mq[i].m);
		pf[i].events = (short)(POLLIN | (mosquitto_want_write(g_mq[i].m) ? POLLOUT : 0));
		pf[i].revents = 0;
	}
	if (poll(pf, n, timeout_ms) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		if (pf[i].revents & (POLLIN | POLLHUP | POLLERR))
			if (mosquitto_loop_read(g_mq[i].m, 64) != MOSQ_ERR_SUCCESS && B.phase < 2)
				g_mq[i].lost = 1;
		if (pf[i].revents & POLLOUT)
			mosquitto_loop_write(g_mq[i].m, 64);
	}
	static uint64_t last_misc;
	uint64_t now = mono_ns();
	if (now - last_misc > 100000000ULL) {
		last_misc = now;
		for (size_t i = 0; i < n; i++)
			mosquitto_loop_misc(g_mq[i].m);
	}
}

static char **g_mq_payloads;

static int mq_publish(uint64_t idx)
{
	int mid = 0;
	size_t len = 0;
	char *p = g_mq_payloads ? g_mq_payloads[idx] : peer_payload(idx, &len);
	len = B.size;
	int rc = mosquitto_publish(g_mq[0].m, &mid, B.topic, (int)len, p, 1, false);
	if (!g_mq_payloads)
		free(p);
	if (rc != MOSQ_ERR_SUCCESS) {
		g_mq[0].lost = 1;
		snprintf(B.last_err, sizeof B.last_err, "publish: %s", mosquitto_strerror(rc));
		return -1;
	}
	g_mid_idx[(unsigned)mid & 0xffff] = idx;
	/* PUBLISH QoS 1 as sent */
	size_t rem = 2 + strlen(B.topic) + 2 + len;
	B.post_bytes += 1 + mqtt_varint_len(rem) + rem;
	B.post_frames++;
	return 0;
}

static int mq_alive(void)
{
	for (size_t i = 0; i < g_nmq; i++)
		if (g_mq[i].lost)
			return 0;
	return 1;
}

static void mqtt_main(void)
{
	static const struct peer_ops ops = {mq_service, mq_publish, mq_alive};
	if (!B.topic)
		B.topic = "casus/bench";
	mosquitto_lib_init();
	g_nmq = 1 + B.res_members;
	g_mq = calloc(g_nmq, sizeof *g_mq);
	if (!g_mq)
		die("out of memory", NULL);
	for (size_t i = 0; i < g_nmq; i++) {
		char id[64];
		snprintf(id, sizeof id, "bench-%d-%zu", (int)getpid(), i);
		g_mq[i].sender = i == 0;
		g_mq[i].m = mosquitto_new(id, true, &g_mq[i]);
		if (!g_mq[i].m)
			die("mosquitto_new failed", NULL);
		/* client side: the bench's window (--window) is the only limit */
		mosquitto_int_option(g_mq[i].m, MOSQ_OPT_SEND_MAXIMUM, 65535);
		mosquitto_connect_callback_set(g_mq[i].m, mq_on_connect);
		mosquitto_subscribe_callback_set(g_mq[i].m, mq_on_subscribe);
		mosquitto_disconnect_callback_set(g_mq[i].m, mq_on_disconnect);
		mosquitto_message_callback_set(g_mq[i].m, mq_on_message);
		mosquitto_publish_callback_set(g_mq[i].m, mq_on_publish);
		if (mosquitto_connect(g_mq[i].m, B.host, peer_port(), 60) != MOSQ_ERR_SUCCESS)
			die("cannot connect to the MQTT broker", B.url);
	}
	uint64_t t0 = mono_ns();
	for (;;) {
		size_t ready = 0;
		for (size_t i = 0; i < g_nmq; i++)
			ready += g_mq[i].subscribed ? 1u : 0u;
		if (ready == g_nmq)
			break;
		if (!mq_alive() || (double)(mono_ns() - t0) / 1e9 > 30)
			die("MQTT clients not ready", B.last_err);
		mq_service(10);
	}
	g_mq_payloads = calloc(B.nmsgs, sizeof *g_mq_payloads);
	for (uint64_t i = 0; g_mq_payloads && i < B.nmsgs; i++) {
		size_t l;
		g_mq_payloads[i] = peer_payload(i, &l);
	}
	peer_load(&ops);
	for (size_t i = 0; i < g_nmq; i++)
		mosquitto_disconnect(g_mq[i].m);
}
#endif

#ifdef CASUS_BENCH_XMPP
#include <strophe.h>

/* XMPP (RFC 6120, plain c2s, no TLS in the plain run) with libstrophe (expat
 * underneath): every member is an occupant of one MUC room; the publisher's
 * own message reflected by the room (after the archive took it) is its ack. */
struct xc {
	xmpp_conn_t *conn;
	int sender, joined, configured, lost;
	char nick[32];
};
static xmpp_ctx_t *g_xctx;
static struct xc *g_xc;
static size_t g_nxc;

static int xc_on_message(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
	struct xc *q = ud;
	(void)conn;
	const char *type = xmpp_stanza_get_type(st);
	if (!type || strcmp(type, "groupchat") != 0)
		return 1;
	char *body = xmpp_message_get_body(st);
	uint64_t idx;
	if (body && payload_index(body, strlen(body), &idx) == 0) {
		if (q->sender) {
			peer_acked(idx);
		} else {
			/* stanza size re-serialised (what the server framed), measured on every 16th */
			static size_t last_wire;
			if (!last_wire || (B.total_pushes & 15) == 0) {
				char *t = NULL;
				size_t tl = 0;
				if (xmpp_stanza_to_text(st, &t, &tl) == XMPP_EOK) {
					last_wire = tl;
					xmpp_free(g_xctx, t);
				}
			}
			peer_delivered(idx, last_wire);
		}
	}
	if (body)
		xmpp_free(g_xctx, body);
	return 1;
}

static int xc_on_presence(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
	struct xc *q = ud;
	(void)conn;
	const char *from = xmpp_stanza_get_from(st), *type = xmpp_stanza_get_type(st);
	char me[320];
	snprintf(me, sizeof me, "%s/%s", B.room, q->nick);
	if (from && strcmp(from, me) == 0) {
		if (type && strcmp(type, "error") == 0) {
			snprintf(B.last_err, sizeof B.last_err, "MUC join refused for %s", q->nick);
			q->lost = 1;
		} else {
			q->joined = 1;
		}
	}
	return 1;
}

static int xc_on_config(xmpp_conn_t *conn, xmpp_stanza_t *st, void *ud)
{
	struct xc *q = ud;
	(void)conn;
	const char *type = xmpp_stanza_get_type(st);
	if (type && strcmp(type, "result") == 0)
		q->configured = 1;
	else {
		snprintf(B.last_err, sizeof B.last_err, "room configuration refused");
		q->lost = 1;
	}
	return 0;
}

static void xc_on_conn(xmpp_conn_t *conn, xmpp_conn_event_t ev, int err, xmpp_stream_error_t *se, void *ud)
{
	struct xc *q = ud;
	(void)se;
	if (ev == XMPP_CONN_CONNECT) {
		xmpp_handler_add(conn, xc_on_message, NULL, "message", NULL, q);
		xmpp_handler_add(conn, xc_on_presence, NULL, "presence", NULL, q);
		char p[512];
		int n = snprintf(p, sizeof p,
		                 "<presence to='%s/%s'><x xmlns='http://jabber.org/protocol/muc'>"
		                 "<history maxstanzas='0'/></x></presence>",
		                 B.room, q->nick);
		xmpp_send_raw(conn, p, (size_t)n);
	} else {
		if (B.phase < 2)
			snprintf(B.last_err, sizeof B.last_err, "XMPP connection lost (error %d)", err);
		q->lost = 1;
	}
}

static int xc_alive(void)
{
	for (size_t i = 0; i < g_nxc; i++)
		if (g_xc[i].lost)
			return 0;
	return 1;
}

static void xc_service(int timeout_ms)
{
	xmpp_run_once(g_xctx, (unsigned long)timeout_ms);
}

static char **g_xc_frames;
static size_t *g_xc_lens;

static int xc_publish(uint64_t idx)
{
	xmpp_send_raw(g_xc[0].conn, g_xc_frames[idx], g_xc_lens[idx]);
	B.post_bytes += g_xc_lens[idx];
	B.post_frames++;
	return 0;
}

static void xc_connect(struct xc *q, size_t i)
{
	q->conn = xmpp_conn_new(g_xctx);
	if (!q->conn)
		die("xmpp_conn_new failed", NULL);
	xmpp_conn_set_flags(q->conn, XMPP_CONN_FLAG_DISABLE_TLS);
	/* SASL ANONYMOUS (the bench server allows it): no accounts to create */
	const char *at = strchr(B.room, '@'), *dot = at ? strchr(at + 1, '.') : NULL;
	xmpp_conn_set_jid(q->conn, dot ? dot + 1 : "localhost");
	snprintf(q->nick, sizeof q->nick, "%s%zu", i == 0 ? "pub" : "m", i);
	q->sender = i == 0;
	if (xmpp_connect_client(q->conn, B.host, (unsigned short)peer_port(), xc_on_conn, q) != XMPP_EOK)
		die("cannot connect to the XMPP server", B.url);
}

static void xmpp_main(void)
{
	static const struct peer_ops ops = {xc_service, xc_publish, xc_alive};
	if (!B.room)
		die("xmpp needs --room ROOM@conference.DOMAIN", NULL);
	xmpp_initialize();
	g_xctx = xmpp_ctx_new(NULL, NULL);
	g_nxc = 1 + B.res_members;
	g_xc = calloc(g_nxc, sizeof *g_xc);
	if (!g_xctx || !g_xc)
		die("out of memory", NULL);
	/* the publisher creates the room (instant room, archived: the server's default room options) */
	xc_connect(&g_xc[0], 0);
	uint64_t t0 = mono_ns();
	while (!g_xc[0].joined && xc_alive() && (double)(mono_ns() - t0) / 1e9 < 30)
		xc_service(10);
	if (!g_xc[0].joined)
		die("XMPP publisher could not join the room", B.last_err);
	xmpp_id_handler_add(g_xc[0].conn, xc_on_config, "cfg1", &g_xc[0]);
	char iq[512];
	int n = snprintf(iq, sizeof iq,
	                 "<iq type='set' to='%s' id='cfg1'><query xmlns='http://jabber.org/protocol/muc#owner'>"
	                 "<x xmlns='jabber:x:data' type='submit'/></query></iq>",
	                 B.room);
	xmpp_send_raw(g_xc[0].conn, iq, (size_t)n);
	while (!g_xc[0].configured && xc_alive() && (double)(mono_ns() - t0) / 1e9 < 30)
		xc_service(10);
	for (size_t i = 1; i < g_nxc; i++)
		xc_connect(&g_xc[i], i);
	for (;;) {
		size_t ready = 0;
		for (size_t i = 0; i < g_nxc; i++)
			ready += g_xc[i].joined ? 1u : 0u;
		if (ready == g_nxc)
			break;
		if (!xc_alive() || (double)(mono_ns() - t0) / 1e9 > 60)
			die("XMPP members not ready", B.last_err);
		xc_service(10);
	}
	g_xc_frames = calloc(B.nmsgs, sizeof *g_xc_frames);
	g_xc_lens = calloc(B.nmsgs, sizeof *g_xc_lens);
	if (!g_xc_frames || !g_xc_lens)
		die("out of memory", NULL);
	for (uint64_t i = 0; i < B.nmsgs; i++) {
		size_t l;
		char *p = peer_payload(i, &l); /* digits, spaces and 'x': nothing to escape in XML */
		size_t cap = l + strlen(B.room) + 128;
		g_xc_frames[i] = malloc(cap);
		if (!g_xc_frames[i])
			die("out of memory", NULL);
		int w = snprintf(g_xc_frames[i], cap,
		                 "<message to='%s' type='groupchat' id='b%llu'><body>%s</body></message>", B.room,
		                 (unsigned long long)i, p);
		g_xc_lens[i] = (size_t)w;
		free(p);
	}
	peer_load(&ops);
	for (size_t i = 0; i < g_nxc; i++)
		xmpp_disconnect(g_xc[i].conn);
	for (int k = 0; k < 50; k++)
		xc_service(10);
}
#endif

static void peer_main(void)
{
	B.nsenders = 1;
	B.ncasus = 1;
	if (B.members < 1)
		B.members = 10;
	B.res_members = B.members;
	if (!strcmp(B.mode, "latency")) {
		if (B.rate <= 0)
			B.rate = 2000;
		B.nmsgs = (uint64_t)(B.rate * B.seconds);
	} else if (!strcmp(B.mode, "throughput")) {
		B.rate = 0;
		B.nmsgs = B.messages;
	} else {
		die("peers run the modes throughput and latency", B.mode);
	}
#ifdef CASUS_BENCH_MQTT
	if (!strcmp(B.system, "mqtt")) {
		mqtt_main();
		print_result();
		return;
	}
#endif
#ifdef CASUS_BENCH_XMPP
	if (!strcmp(B.system, "xmpp")) {
		xmpp_main();
		print_result();
		return;
	}
#endif
	die("this casus-bench was built without support for", B.system);
}

static void usage(void)
{
	fprintf(stderr,
	        "usage: casus-bench throughput|latency|connections|durable-check|dump --url ws://127.0.0.1:PORT --state DIR\n"
	        "         [--sender UID] [--receivers U1,U2,..] [--idle U1,..] [--casus K] [--casus-id HEX]\n"
	        "         [--recv-url ws://127.0.0.1:PORT]   (receivers on another node of a cluster)\n"
	        "         [--senders S] [--window W] [--messages N] [--rate R] [--seconds T] [--conns C]\n"
	        "         [--recv-conns N] [--size BYTES] [--pid SERVER_PID] [--stall 0|1] [--ca CERT.pem]\n"
	        "         [--max-seconds T (flat out: stop posting after T s)] [--members N (peers)] [--connect-seconds T]\n"
	        "       casus-bench throughput|latency --url mqtt://127.0.0.1:PORT [--topic T] --members N ...\n"
	        "       casus-bench throughput|latency --url xmpp://127.0.0.1:PORT --room ROOM@conference.HOST --members N ...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	B.mode = argv[1];
	B.sender_uid = "bs0";
	B.receivers_csv = "br0,br1,br2,br3,br4,br5,br6,br7,br8,br9";
	B.idle_csv = "bi0,bi1,bi2,bi3,bi4,bi5,bi6,bi7,bi8,bi9";
	B.ncasus = 4;
	B.nsenders = 4;
	B.window = 64;
	B.messages = 100000;
	B.seconds = 10;
	B.conns = 10000;
	B.size = 200;
	B.recv_conns = 1;
	B.connect_s = 120;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--recv-url")) {
			char rb[256];
			const char *rprot = NULL, *raddr = NULL, *rpath = NULL;
			snprintf(rb, sizeof rb, "%s", v);
			if (lws_parse_uri(rb, &rprot, &raddr, &B.recv_port, &rpath) || strcmp(raddr, "127.0.0.1") != 0)
				die("--recv-url must be ws://127.0.0.1:PORT (a cluster node on this host)", v);
		} else if (!strcmp(a, "--url"))
			B.url = v;
		else if (!strcmp(a, "--state"))
			B.state = v;
		else if (!strcmp(a, "--sender"))
			B.sender_uid = v;
		else if (!strcmp(a, "--receivers"))
			B.receivers_csv = v;
		else if (!strcmp(a, "--idle"))
			B.idle_csv = v;
		else if (!strcmp(a, "--casus"))
			B.ncasus = (unsigned)atoi(v);
		else if (!strcmp(a, "--casus-id"))
			B.casus_hex_arg = v;
		else if (!strcmp(a, "--senders"))
			B.nsenders = (unsigned)atoi(v);
		else if (!strcmp(a, "--window"))
			B.window = (unsigned)atoi(v);
		else if (!strcmp(a, "--messages"))
			B.messages = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--rate"))
			B.rate = atof(v);
		else if (!strcmp(a, "--seconds"))
			B.seconds = atof(v);
		else if (!strcmp(a, "--conns"))
			B.conns = (unsigned)atoi(v);
		else if (!strcmp(a, "--recv-conns"))
			B.recv_conns = (unsigned)atoi(v);
		else if (!strcmp(a, "--size"))
			B.size = (unsigned)atoi(v);
		else if (!strcmp(a, "--stall"))
			B.stall = atoi(v);
		else if (!strcmp(a, "--pid"))
			B.pid = atoi(v);
		else if (!strcmp(a, "--connect-seconds"))
			B.connect_s = atof(v);
		else if (!strcmp(a, "--max-seconds"))
			B.max_s = atof(v);
		else if (!strcmp(a, "--ca"))
			B.ca = v;
		else if (!strcmp(a, "--system"))
			B.system = v;
		else if (!strcmp(a, "--room"))
			B.room = v;
		else if (!strcmp(a, "--topic"))
			B.topic = v;
		else if (!strcmp(a, "--members"))
			B.members = (unsigned)atoi(v);
		else
			usage();
	}
	if (!B.url || B.ncasus < 1 || B.ncasus > MAX_CASUS || B.nsenders < 1 || B.window < 1 || B.size < 1)
		usage();
	{
		char buf[256];
		const char *prot = NULL, *addr = NULL, *path = NULL;
		snprintf(buf, sizeof buf, "%s", B.url);
		if (lws_parse_uri(buf, &prot, &addr, &B.port, &path))
			die("--url must be ws://, wss://, mqtt:// or xmpp://127.0.0.1:PORT", B.url);
		B.tls = strcmp(prot, "wss") == 0;
		if (!B.system)
			B.system = !strcmp(prot, "mqtt") ? "mqtt" : !strcmp(prot, "xmpp") ? "xmpp" : "casus";
		if (!strcmp(B.system, "casus") && strcmp(prot, "ws") != 0 && !B.tls)
			die("casus: --url must be ws:// or wss://", B.url);
		if (B.tls && !B.ca)
			die("wss:// needs --ca FILE (the server's certificate)", NULL);
		snprintf(B.host, sizeof B.host, "%s", addr);
		if (strcmp(B.host, "127.0.0.1") != 0 && strcmp(B.host, "localhost") != 0)
			die("loopback only", B.host);
	}
	for (int i = 0; i < 5; i++)
		B.lat[i] = -1;
	B.ack_lat[0] = B.ack_lat[1] = B.ack_lat[2] = -1;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_sig);
	signal(SIGTERM, on_sig);
	if (strcmp(B.system, "casus") != 0) {
		peer_main();
		return 0;
	}
	if (!B.state)
		usage();
	if (sodium_init() < 0)
		die("libsodium", NULL);
	read_pass();
	load_deployment();
	B.sender_dev = load_device(B.sender_uid);
	split_devices(B.receivers_csv, B.recv_devs, &B.nrecv_devs);
	B.res_members = (uint64_t)B.nrecv_devs * B.recv_conns;

	if (!strcmp(B.mode, "dump")) {
		if (!B.casus_hex_arg)
			die("dump needs --casus-id", NULL);
		B.ncasus = 1;
		snprintf(B.casus_hex[0], 33, "%s", B.casus_hex_arg);
		B.nconns = 1;
		B.conns_v = calloc(1, sizeof *B.conns_v);
		B.conns_v[0].role = R_DUMP;
		B.conns_v[0].dev = B.sender_dev;
		create_context(1);
		g_want_ready = 1;
		open_conns(0, 1, 1);
		if (B.conns_v[0].st != C_READY)
			die("cannot connect", B.last_err);
		queue_ctrl(&B.conns_v[0], json_pack("{sIsssssI}", "id", (json_int_t)3, "type", "history", "casus",
		                                    B.casus_hex[0], "after", (json_int_t)0));
		uint64_t t0 = mono_ns();
		while (!B.dump_done && B.conns_v[0].st == C_READY && (double)(mono_ns() - t0) / 1e9 < 120)
			svc();
		lws_context_destroy(B.ctx);
		if (!B.dump_done)
			fprintf(stderr, "dump: the history did not end (%s)\n",
			        B.last_err[0] ? B.last_err : "connection lost or 120 s passed, no reason given");
		return B.dump_done ? 0 : 1;
	}

	if (!strcmp(B.mode, "history-burst")) {
		if (!B.casus_hex_arg)
			die("history-burst needs --casus-id", NULL);
		B.ncasus = 1;
		snprintf(B.casus_hex[0], 33, "%s", B.casus_hex_arg);
		B.nconns = 1;
		B.conns_v = calloc(1, sizeof *B.conns_v);
		B.conns_v[0].role = R_BURST;
		B.conns_v[0].dev = B.sender_dev;
		create_context(1);
		g_want_ready = 1;
		open_conns(0, 1, 1);
		if (B.conns_v[0].st != C_READY)
			die("cannot connect", B.last_err);
		B.phase = 1;
		lws_callback_on_writable(B.conns_v[0].wsi);
		uint64_t t0 = mono_ns();
		while (!B.stop && B.conns_v[0].st == C_READY && (double)(mono_ns() - t0) / 1e9 < B.seconds &&
		       !(B.phase == 2 && B.burst_replies >= B.messages))
			svc();
		printf("BURST replies=%llu bytes=%llu closed=%d\n", (unsigned long long)B.burst_replies,
		       (unsigned long long)B.burst_bytes, B.conns_v[0].st != C_READY);
		fflush(stdout);
		_exit(0);
	}

	if (!strcmp(B.mode, "durable-check")) {
		B.ncasus = 1;
		B.durable = 1;
		setup_casus();
		fprintf(stderr, "CASUS %s\n", B.casus_hex[0]);
		printf("CASUS %s\n", B.casus_hex[0]);
		fflush(stdout);
		B.recv_conns = 0;
		B.nrecv_devs = 0;
		setup_load_conns(0);
		g_want_ready = B.nconns;
		open_conns(0, B.nconns, 16);
		B.phase = 1;
		for (size_t i = 0; i < B.nconns; i++)
			if (B.conns_v[i].st == C_READY)
				lws_callback_on_writable(B.conns_v[i].wsi);
		uint64_t t0 = mono_ns();
		size_t live = 0;
		for (;;) {
			live = 0;
			for (size_t i = 0; i < B.nconns; i++)
				live += B.conns_v[i].st == C_READY;
			if (!live || B.stop || (double)(mono_ns() - t0) / 1e9 >= B.seconds)
				break;
			svc();
		}
		fprintf(stderr, "casus-bench: durable-check acked=%llu refused=%llu unmatched=%llu\n",
		        (unsigned long long)B.total_acked, (unsigned long long)B.total_refused,
		        (unsigned long long)B.unmatched);
		/* every connection gone before the end (the server died, which the crash tests want, or
		 * closed them, or they never connected): still exit 0, but say why, so that a test can
		 * tell a writer change (1001) from a failure */
		if (!live && !B.stop)
			fprintf(stderr, "casus-bench: durable-check: every connection closed (%s)\n",
			        B.last_err[0] ? B.last_err : "no reason given");
		fflush(stdout);
		_exit(B.unmatched ? 3 : 0); /* do not wait for a dead server's close handshake */
	}

	int latency = !strcmp(B.mode, "latency"), conn_mode = !strcmp(B.mode, "connections");
	if (!latency && !conn_mode && strcmp(B.mode, "throughput") != 0)
		usage();
	setup_casus();
	uint64_t n = B.messages;
	if (latency || conn_mode) {
		if (B.rate <= 0)
			B.rate = 2000;
		n = (uint64_t)(B.rate * B.seconds);
	}
	prepare_messages(n);
	if (latency || conn_mode) {
		B.acks = calloc(n, sizeof *B.acks);
		B.ackd_ns = calloc(n, sizeof *B.ackd_ns);
		B.caprecvs = n * (uint64_t)B.nrecv_devs * B.recv_conns;
		B.recvs = calloc(B.caprecvs, sizeof *B.recvs);
		if (!B.acks || !B.recvs)
			die("out of memory", NULL);
	}
	size_t idle = 0;
	if (conn_mode) {
		split_devices(B.idle_csv, B.idle_devs, &B.nidle_devs);
		idle = B.conns;
	}
	setup_load_conns(idle);
	if (conn_mode) {
		long rss0 = B.pid ? proc_rss_kb(B.pid) : -1;
		uint64_t t0 = mono_ns();
		g_want_ready = idle;
		open_conns(0, idle, 512);
		size_t ready = 0;
		for (size_t i = 0; i < idle; i++)
			ready += B.conns_v[i].st == C_READY;
		double el = (double)(mono_ns() - t0) / 1e9;
		long rss1 = B.pid ? proc_rss_kb(B.pid) : -1;
		printf("connections: %zu of %zu idle connections authenticated in %.2f s (%.0f/s)\n", ready, idle, el,
		       (double)ready / el);
		if (B.pid)
			printf("connections: casusd RSS %ld KiB before, %ld KiB with them (%.1f KiB per connection)\n",
			       rss0, rss1, ready ? (double)(rss1 - rss0) / (double)ready : 0);
		if (ready < idle)
			printf("connections: WARNING %zu failed (%s)\n", idle - ready, B.last_err);
	}
	int rc = run_load(latency ? "latency" : conn_mode ? "connections" : "throughput", B.seconds * 3 + 60);
	if (rc == 0 && (latency || conn_mode))
		latency_report(latency ? "latency" : "connections");
	if (rc == 0)
		print_result();
	if (conn_mode) {
		size_t still = 0;
		for (size_t i = 0; i < idle; i++)
			still += B.conns_v[i].st == C_READY;
		printf("connections: %zu of %zu idle connections still open after the run; casusd RSS %ld KiB\n", still,
		       idle, B.pid ? proc_rss_kb(B.pid) : -1);
	}
	lws_context_destroy(B.ctx);
	return rc == 0 ? 0 : 1;
}
