/*
 * cluster_snap.c: the writer's snapshot provider and the follower's snapshot
 * fetch (see cluster_snap.h; the piece format and the digest check are in
 * cluster_log.c, which the unit test links without NATS).
 */
#include "cluster_snap.h"
#include "clock.h"
#include "cluster_log.h"
#include "log.h"
#include "store.h"

#include <audit_db.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SNAP_SLOTS 2
#define SNAP_IDLE_MS (5 * 60 * 1000)
#define SNAP_OPEN_TIMEOUT_MS 300000 /* the copy of a large store takes a while */
#define SNAP_PIECE_TIMEOUT_MS 30000
#define SNAP_PIECE_TRIES 3

struct snap_slot {
	int fd; /* -1: empty */
	uint8_t id[CSNAP_ID];
	uint8_t digest[CSNAP_DIGEST];
	uint64_t size, seq, used_ms;
};

struct csnap_provider {
	natsConnection *nc;
	natsSubscription *sub;
	char data_dir[512];
	size_t map_size;
	size_t piece;
	pthread_mutex_t mu;
	pthread_cond_t done_cv;
	int done; /* the subscription is closed and its handler has returned */
	struct snap_slot slot[SNAP_SLOTS];
};

static void subject_of(char *out, size_t cap, const char *stream)
{
	snprintf(out, cap, "casus.%s.snap", stream);
}

/* The stream sequence a store copy holds (its cluster.seq). 0 or an LMDB
 * error (its own read-only environment: the copy is not the live store). */
static int copy_seq(const char *dir, size_t map_size, uint64_t *seq)
{
	MDB_env *env = NULL;
	MDB_txn *txn = NULL;
	MDB_dbi meta;
	int rc = mdb_env_create(&env);
	if (rc)
		return rc;
	mdb_env_set_maxdbs(env, DB__COUNT + 2);
	rc = mdb_env_set_mapsize(env, map_size);
	if (rc == 0)
		rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOTLS, 0600);
	if (rc == 0)
		rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
	if (rc == 0)
		rc = mdb_dbi_open(txn, CASUS_DB_META, 0, &meta);
	if (rc == 0)
		rc = clog_meta_get(txn, meta, CLOG_META_SEQ, seq);
	if (txn)
		mdb_txn_abort(txn);
	mdb_env_close(env);
	return rc;
}

/* Remove a copy's folder and what LMDB may have left in it. */
static void remove_copy_dir(const char *dir)
{
	char p[700];
	if ((size_t)snprintf(p, sizeof p, "%s/data.mdb", dir) < sizeof p)
		(void)unlink(p);
	if ((size_t)snprintf(p, sizeof p, "%s/lock.mdb", dir) < sizeof p)
		(void)unlink(p);
	(void)rmdir(dir);
}

static void slot_drop(struct snap_slot *s)
{
	if (s->fd >= 0)
		close(s->fd);
	memset(s, 0, sizeof *s);
	s->fd = -1;
}

/* ---- the provider (the writer) ------------------------------------------------- */

/* `casusd backup --data DATA --out DIR` as a child process: the hot backup
 * everyone already trusts, and no second LMDB environment on the live store
 * in this process (the writer may remap it when it grows). */
static int run_backup(const char *data_dir, const char *out_dir, char *why, size_t wl)
{
	char *argv[] = {"casusd", "backup", "--data", (char *)(uintptr_t)data_dir, "--out", (char *)(uintptr_t)out_dir,
	                NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	pid_t pid;
	int err = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (err) {
		snprintf(why, wl, "cannot start casusd backup: %s", strerror(err));
		return -1;
	}
	int status = 0;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			snprintf(why, wl, "casusd backup: %s", strerror(errno));
			return -1;
		}
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		snprintf(why, wl, "casusd backup failed (status %d)", status);
		return -1;
	}
	return 0;
}

/* Make a new copy into slot s. 0 or -1 (why). */
static int make_copy(struct csnap_provider *p, struct snap_slot *s, char *why, size_t wl)
{
	char dir[600], file[700];
	snprintf(dir, sizeof dir, "%s/snapshot-serve.XXXXXX", p->data_dir);
	if (!mkdtemp(dir)) {
		snprintf(why, wl, "cannot make a folder for the copy: %s", strerror(errno));
		return -1;
	}
	snprintf(file, sizeof file, "%s/data.mdb", dir);
	int rc = run_backup(p->data_dir, dir, why, wl);
	uint64_t seq = 0;
	if (rc == 0 && (rc = copy_seq(dir, p->map_size, &seq)) != 0) {
		snprintf(why, wl, "the copy does not open: %s", mdb_strerror(rc));
		rc = -1;
	}
	if (rc == 0) {
		int e = csnap_file_digest(file, s->digest, &s->size);
		if (e) {
			snprintf(why, wl, "cannot read the copy: %s", strerror(e));
			rc = -1;
		}
	}
	if (rc == 0) {
		s->fd = open(file, O_RDONLY | O_CLOEXEC);
		if (s->fd < 0) {
			snprintf(why, wl, "cannot open the copy: %s", strerror(errno));
			rc = -1;
		}
	}
	remove_copy_dir(dir); /* the open descriptor keeps the data; nothing stays on disk */
	if (rc != 0) {
		slot_drop(s);
		return -1;
	}
	randombytes_buf(s->id, CSNAP_ID);
	s->seq = seq;
	s->used_ms = clock_mono_ms();
	return 0;
}

static void reply_error(natsConnection *nc, const char *to, const char *what)
{
	json_t *v = json_pack("{ss}", "error", what);
	char *t = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (t)
		(void)natsConnection_PublishString(nc, to, t);
	free(t);
}

static void serve_open(struct csnap_provider *p, const char *to, uint64_t min_seq)
{
	char why[300] = "";
	uint64_t now = clock_mono_ms();
	struct snap_slot *use = NULL, *oldest = NULL;
	for (int i = 0; i < SNAP_SLOTS; i++) {
		struct snap_slot *s = &p->slot[i];
		if (s->fd >= 0 && now - s->used_ms > SNAP_IDLE_MS)
			slot_drop(s);
		if (s->fd >= 0 && s->seq >= min_seq && (!use || s->seq > use->seq))
			use = s;
		if (!oldest || s->fd < 0 || (oldest->fd >= 0 && s->used_ms < oldest->used_ms))
			oldest = s;
	}
	if (!use) {
		slot_drop(oldest);
		uint64_t t0 = clock_mono_ms();
		if (make_copy(p, oldest, why, sizeof why) != 0) {
			char q[400];
			log_event(LOG_ERROR, "cluster.snapshot_copy_failed", "msg=%s", log_q(why, q, sizeof q));
			reply_error(p->nc, to, why);
			return;
		}
		use = oldest;
		log_event(LOG_INFO, "cluster.snapshot_made", "bytes=%llu seq=%llu ms=%llu",
		          (unsigned long long)use->size, (unsigned long long)use->seq,
		          (unsigned long long)(clock_mono_ms() - t0));
	}
	use->used_ms = clock_mono_ms();
	char id[2 * CSNAP_ID + 1], dg[2 * CSNAP_DIGEST + 1];
	sodium_bin2hex(id, sizeof id, use->id, CSNAP_ID);
	sodium_bin2hex(dg, sizeof dg, use->digest, CSNAP_DIGEST);
	json_t *v = json_pack("{sssIsssIsI}", "id", id, "size", (json_int_t)use->size, "digest", dg, "seq",
	                      (json_int_t)use->seq, "piece", (json_int_t)p->piece);
	char *t = v ? json_dumps(v, JSON_COMPACT) : NULL;
	json_decref(v);
	if (t)
		(void)natsConnection_PublishString(p->nc, to, t);
	else
		reply_error(p->nc, to, "out of memory");
	free(t);
}

static void serve_piece(struct csnap_provider *p, const char *to, const char *idhex, json_int_t off)
{
	uint8_t id[CSNAP_ID];
	size_t idl = 0;
	if (sodium_hex2bin(id, sizeof id, idhex, strlen(idhex), NULL, &idl, NULL) != 0 || idl != CSNAP_ID) {
		reply_error(p->nc, to, "malformed snapshot id");
		return;
	}
	struct snap_slot *s = NULL;
	for (int i = 0; i < SNAP_SLOTS; i++)
		if (p->slot[i].fd >= 0 && sodium_memcmp(p->slot[i].id, id, CSNAP_ID) == 0)
			s = &p->slot[i];
	if (!s) {
		reply_error(p->nc, to, "no such snapshot (dropped after five idle minutes, or by a newer one)");
		return;
	}
	size_t n = off >= 0 ? csnap_piece_len(s->size, p->piece, (uint64_t)off) : 0;
	if (n == 0) {
		reply_error(p->nc, to, "offset outside the snapshot");
		return;
	}
	uint8_t *data = malloc(n), *buf = malloc(CSNAP_PIECE_HDR + n);
	size_t got = 0;
	while (data && buf && got < n) {
		ssize_t r = pread(s->fd, data + got, n - got, (off_t)((uint64_t)off + got));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	size_t len = got == n ? csnap_piece_encode(buf, CSNAP_PIECE_HDR + n, s->id, (uint64_t)off, data, n) : 0;
	if (len == 0) {
		reply_error(p->nc, to, "cannot read the snapshot copy");
	} else {
		s->used_ms = clock_mono_ms();
		(void)natsConnection_Publish(p->nc, to, buf, (int)len);
	}
	free(data);
	free(buf);
}

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *arg)
{
	(void)nc;
	(void)sub;
	struct csnap_provider *p = arg;
	const char *to = natsMsg_GetReply(msg);
	if (!to || !*to) {
		natsMsg_Destroy(msg);
		return;
	}
	json_error_t je;
	int n = natsMsg_GetDataLength(msg);
	json_t *req = n > 0 && n < 1024 ? json_loadb(natsMsg_GetData(msg), (size_t)n, 0, &je) : NULL;
	const char *op = req ? json_string_value(json_object_get(req, "op")) : NULL;
	pthread_mutex_lock(&p->mu);
	if (op && strcmp(op, "open") == 0) {
		json_t *ms = json_object_get(req, "min_seq");
		serve_open(p, to,
		           json_is_integer(ms) && json_integer_value(ms) > 0 ? (uint64_t)json_integer_value(ms) : 0);
	} else if (op && strcmp(op, "piece") == 0 && json_is_string(json_object_get(req, "id")) &&
	           json_is_integer(json_object_get(req, "off"))) {
		serve_piece(p, to, json_string_value(json_object_get(req, "id")),
		            json_integer_value(json_object_get(req, "off")));
	} else {
		reply_error(p->nc, to, "malformed snapshot request");
	}
	pthread_mutex_unlock(&p->mu);
	json_decref(req);
	natsMsg_Destroy(msg);
}

static void on_complete(void *arg)
{
	struct csnap_provider *p = arg;
	pthread_mutex_lock(&p->mu);
	p->done = 1;
	pthread_cond_broadcast(&p->done_cv);
	pthread_mutex_unlock(&p->mu);
}

/* Copies a writer that crashed while it served them left behind. */
static void remove_old_copies(const char *data_dir)
{
	DIR *d = opendir(data_dir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		if (strncmp(e->d_name, "snapshot-serve.", 15) != 0)
			continue;
		char p[700];
		snprintf(p, sizeof p, "%s/%s", data_dir, e->d_name);
		remove_copy_dir(p);
	}
	closedir(d);
}

int csnap_provider_start(struct csnap_provider **out, natsConnection *nc, const char *stream, const char *data_dir,
                         size_t map_size, char *why, size_t wl)
{
	*out = NULL;
	struct csnap_provider *p = calloc(1, sizeof *p);
	if (!p) {
		snprintf(why, wl, "cluster: out of memory");
		return -1;
	}
	p->nc = nc;
	p->map_size = map_size;
	snprintf(p->data_dir, sizeof p->data_dir, "%s", data_dir);
	remove_old_copies(data_dir);
	for (int i = 0; i < SNAP_SLOTS; i++)
		slot_drop(&p->slot[i]);
	/* a piece and its header within one NATS message, with room for the protocol */
	int64_t maxp = natsConnection_GetMaxPayload(nc);
	p->piece = CSNAP_PIECE_MAX;
	if (maxp > 0 && (uint64_t)maxp < CSNAP_PIECE_MAX + CSNAP_PIECE_HDR + 1024)
		p->piece = (size_t)maxp > CSNAP_PIECE_HDR + 2048 ? (size_t)maxp - CSNAP_PIECE_HDR - 1024 : 1024;
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->done_cv, NULL);
	char subject[128];
	subject_of(subject, sizeof subject, stream);
	natsStatus s = natsConnection_Subscribe(&p->sub, nc, subject, on_request, p);
	if (s == NATS_OK)
		s = natsSubscription_SetOnCompleteCB(p->sub, on_complete, p);
	if (s != NATS_OK) {
		snprintf(why, wl, "cluster: cannot answer snapshot requests on %s: %s", subject, natsStatus_GetText(s));
		if (p->sub) {
			(void)natsSubscription_Unsubscribe(p->sub);
			natsSubscription_Destroy(p->sub);
		}
		/* p is left to a handler that may still run: a few bytes, once, on a failed start */
		return -1;
	}
	*out = p;
	return 0;
}

void csnap_provider_stop(struct csnap_provider *p)
{
	if (!p)
		return;
	/* no new requests; a request being answered uses p until its handler
	 * returns (a copy may take a while): wait for the subscription's end */
	(void)natsSubscription_Unsubscribe(p->sub);
	int done = 0;
	pthread_mutex_lock(&p->mu);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 60;
	while (!done && !p->done)
		if (pthread_cond_timedwait(&p->done_cv, &p->mu, &until) != 0)
			break;
	done = done || p->done;
	for (int i = 0; i < SNAP_SLOTS; i++)
		slot_drop(&p->slot[i]);
	pthread_mutex_unlock(&p->mu);
	natsSubscription_Destroy(p->sub);
	if (!done) {
		/* a handler may still hold p: leave it (once, at a stop) */
		log_event(LOG_WARN, "cluster.snapshot_stop_slow", "waited_s=60");
		return;
	}
	pthread_cond_destroy(&p->done_cv);
	pthread_mutex_destroy(&p->mu);
	free(p);
}

/* ---- the fetch (a follower) ------------------------------------------------------ */

static natsStatus request(natsConnection *nc, const char *subject, json_t *req, int timeout_ms, natsMsg **reply)
{
	char *t = req ? json_dumps(req, JSON_COMPACT) : NULL;
	json_decref(req);
	if (!t)
		return NATS_NO_MEMORY;
	natsStatus s = natsConnection_RequestString(reply, nc, subject, t, timeout_ms);
	free(t);
	return s;
}

/* The error text of a reply that is a JSON {"error":..}, or NULL. */
static int reply_is_error(natsMsg *m, char *why, size_t wl, const char *what)
{
	const char *d = natsMsg_GetData(m);
	int n = natsMsg_GetDataLength(m);
	if (n <= 0 || d[0] != '{')
		return 0;
	json_error_t je;
	json_t *v = json_loadb(d, (size_t)n, 0, &je);
	const char *e = v ? json_string_value(json_object_get(v, "error")) : NULL;
	if (e)
		snprintf(why, wl, "cluster: snapshot %s: the writer answered: %s", what, e);
	json_decref(v);
	return e != NULL;
}

static int write_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
	while (n) {
		ssize_t w = pwrite(fd, p, n, (off_t)off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return errno ? errno : EIO;
		p += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	int rc = fsync(fd) == 0 ? 0 : errno;
	close(fd);
	return rc;
}

int csnap_fetch(natsConnection *nc, const char *stream, const char *data_dir, size_t map_size, uint64_t need,
                volatile sig_atomic_t *stop, uint64_t *seq, char *why, size_t wl)
{
	char subject[128], tmp[600], file[700], live[700];
	subject_of(subject, sizeof subject, stream);
	*seq = 0;
	if ((size_t)snprintf(tmp, sizeof tmp, "%s/snapshot.tmp", data_dir) >= sizeof tmp) {
		snprintf(why, wl, "cluster: the data folder's path is too long");
		return -1;
	}
	snprintf(file, sizeof file, "%s/data.mdb", tmp);
	snprintf(live, sizeof live, "%s/data.mdb", data_dir);
	remove_copy_dir(tmp); /* a fetch that was cut off earlier */
	if (mkdir(tmp, 0700) != 0) {
		snprintf(why, wl, "cluster: cannot make %s: %s", tmp, strerror(errno));
		return -1;
	}

	/* the offer */
	natsMsg *m = NULL;
	natsStatus s = request(nc, subject, json_pack("{sssI}", "op", "open", "min_seq", (json_int_t)need),
	                       SNAP_OPEN_TIMEOUT_MS, &m);
	if (s != NATS_OK) {
		snprintf(why, wl, "cluster: no writer answered the snapshot request on %s: %s", subject,
		         natsStatus_GetText(s));
		remove_copy_dir(tmp);
		return 1;
	}
	if (reply_is_error(m, why, wl, "offer")) {
		natsMsg_Destroy(m);
		remove_copy_dir(tmp);
		return 1;
	}
	json_error_t je;
	json_t *offer = json_loadb(natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), 0, &je);
	natsMsg_Destroy(m);
	const char *idhex = offer ? json_string_value(json_object_get(offer, "id")) : NULL;
	const char *dghex = offer ? json_string_value(json_object_get(offer, "digest")) : NULL;
	json_t *jsz = offer ? json_object_get(offer, "size") : NULL,
	       *jpc = offer ? json_object_get(offer, "piece") : NULL,
	       *jsq = offer ? json_object_get(offer, "seq") : NULL;
	uint8_t id[CSNAP_ID], digest[CSNAP_DIGEST];
	size_t idl = 0, dgl = 0;
	int ok = idhex && dghex && json_is_integer(jsz) && json_is_integer(jpc) && json_is_integer(jsq) &&
	         json_integer_value(jsz) > 0 && json_integer_value(jpc) > 0 &&
	         json_integer_value(jpc) <= (json_int_t)CSNAP_PIECE_MAX && json_integer_value(jsq) >= 0 &&
	         sodium_hex2bin(id, sizeof id, idhex, strlen(idhex), NULL, &idl, NULL) == 0 && idl == CSNAP_ID &&
	         sodium_hex2bin(digest, sizeof digest, dghex, strlen(dghex), NULL, &dgl, NULL) == 0 &&
	         dgl == CSNAP_DIGEST;
	uint64_t size = ok ? (uint64_t)json_integer_value(jsz) : 0,
		 offered = ok ? (uint64_t)json_integer_value(jsq) : 0;
	size_t piece = ok ? (size_t)json_integer_value(jpc) : 0;
	json_decref(offer);
	if (!ok) {
		snprintf(why, wl, "cluster: the writer's snapshot offer is malformed");
		remove_copy_dir(tmp);
		return 1;
	}
	if (offered < need) {
		snprintf(why, wl, "cluster: the snapshot offered holds sequence %llu, this node needs %llu",
		         (unsigned long long)offered, (unsigned long long)need);
		remove_copy_dir(tmp);
		return 1;
	}
	log_event(LOG_INFO, "cluster.snapshot_fetch", "bytes=%llu seq=%llu need=%llu", (unsigned long long)size,
	          (unsigned long long)offered, (unsigned long long)need);

	/* the pieces, in order, into the temporary file */
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(why, wl, "cluster: cannot write %s: %s", file, strerror(errno));
		remove_copy_dir(tmp);
		return -1;
	}
	int rc = 0;
	char idtxt[2 * CSNAP_ID + 1];
	sodium_bin2hex(idtxt, sizeof idtxt, id, CSNAP_ID);
	for (uint64_t off = 0; off < size && rc == 0;) {
		if (stop && *stop) {
			snprintf(why, wl, "cluster: snapshot fetch stopped");
			rc = 1;
			break;
		}
		m = NULL;
		for (int t = 0; t < SNAP_PIECE_TRIES; t++) {
			s = request(nc, subject,
			            json_pack("{sssssI}", "op", "piece", "id", idtxt, "off", (json_int_t)off),
			            SNAP_PIECE_TIMEOUT_MS, &m);
			if (s == NATS_OK || s == NATS_NO_RESPONDERS)
				break;
		}
		if (s != NATS_OK) {
			snprintf(why, wl, "cluster: snapshot piece at %llu: %s", (unsigned long long)off,
			         natsStatus_GetText(s));
			rc = 1;
			break;
		}
		const uint8_t *data = NULL;
		size_t dn = 0;
		if (reply_is_error(m, why, wl, "piece")) {
			rc = 1;
		} else if (csnap_piece_check((const uint8_t *)natsMsg_GetData(m), (size_t)natsMsg_GetDataLength(m), id,
		                             off, size, piece, &data, &dn) != 0) {
			snprintf(why, wl,
			         "cluster: snapshot piece at %llu is not the piece asked for (truncated or mixed up)",
			         (unsigned long long)off);
			rc = 1;
		} else {
			int e = write_all(fd, data, dn, off);
			if (e) {
				snprintf(why, wl, "cluster: cannot write %s: %s", file, strerror(e));
				rc = -1;
			}
			off += dn;
		}
		natsMsg_Destroy(m);
	}
	if (rc == 0 && fsync(fd) != 0) {
		snprintf(why, wl, "cluster: cannot sync %s: %s", file, strerror(errno));
		rc = -1;
	}
	close(fd);

	/* the whole file, read back from the disk, against the offer */
	char w2[300];
	if (rc == 0 && csnap_file_check(file, size, digest, w2, sizeof w2) != 0) {
		snprintf(why, wl, "cluster: the snapshot received is refused: %s", w2);
		rc = 1;
	}
	uint64_t got = 0;
	if (rc == 0) {
		int e = copy_seq(tmp, map_size, &got);
		if (e) {
			snprintf(why, wl, "cluster: the snapshot received does not open as a store: %s",
			         mdb_strerror(e));
			rc = 1;
		} else if (got < need) {
			snprintf(why, wl, "cluster: the snapshot received holds sequence %llu, this node needs %llu",
			         (unsigned long long)got, (unsigned long long)need);
			rc = 1;
		}
	}
	if (rc != 0) {
		remove_copy_dir(tmp);
		return rc;
	}
	char lockp[700];
	snprintf(lockp, sizeof lockp, "%s/lock.mdb", tmp);
	(void)unlink(lockp);

	/* in place, atomically: the old store or the whole new one */
	if (rename(file, live) != 0) {
		snprintf(why, wl, "cluster: cannot put the snapshot in place of %s: %s", live, strerror(errno));
		remove_copy_dir(tmp);
		return -1;
	}
	/* the old lock file describes the old file: a fresh one is made at the next open */
	snprintf(lockp, sizeof lockp, "%s/lock.mdb", data_dir);
	(void)unlink(lockp);
	int e = fsync_dir(data_dir);
	remove_copy_dir(tmp);
	if (e) {
		snprintf(why, wl, "cluster: cannot sync %s: %s", data_dir, strerror(e));
		return -1;
	}
	*seq = got;
	log_event(LOG_INFO, "cluster.snapshot_installed", "bytes=%llu seq=%llu", (unsigned long long)size,
	          (unsigned long long)got);
	return 0;
}
