/*
 * libcasus_connection.c: requests over the authenticated connection, connect
 * and authenticate, the policy and the revocation list (judged by the client
 * core) (libcasus_int.h).
 */
#include "libcasus_int.h"

/* ---- requests ---------------------------------------------------------------- */

/* Send a lc_request; a response with ok:false becomes CASUS_E_SERVER with its code. */
int lc_request(casus_client *c, json_t *req, json_t **resp)
{
	char err[256];
	*resp = NULL;
	if (!c->conn) {
		json_decref(req);
		return lc_fail(c, CASUS_E_NETWORK, "not connected to the server");
	}
	json_t *r = conn_request(c->conn, req, REQ_TIMEOUT_MS, err, sizeof err);
	json_decref(req);
	if (!r)
		return lc_fail(c, CASUS_E_NETWORK, "server: %s", err);
	if (!json_is_true(json_object_get(r, "ok"))) {
		json_t *e = json_object_get(r, "error");
		const char *code = json_string_value(json_object_get(e, "code"));
		const char *msg = json_string_value(json_object_get(e, "message"));
		int rc = code && strcmp(code, "not_found") == 0 ? CASUS_E_NOT_FOUND : CASUS_E_SERVER;
		snprintf(c->code, sizeof c->code, "%s", code ? code : "internal");
		lc_fail(c, rc, "server refused (%s): %s", code ? code : "?", msg ? msg : "");
		json_decref(r); /* code and msg point into r */
		return rc;
	}
	*resp = r;
	return CASUS_OK;
}

json_t *casus_raw_request(casus_client *c, json_t *req)
{
	char err[256];
	if (!c->conn) {
		(void)lc_fail(c, CASUS_E_NETWORK, "not connected to the server");
		return NULL;
	}
	json_t *r = conn_request(c->conn, req, REQ_TIMEOUT_MS, err, sizeof err); /* req is not stolen */
	if (!r)
		(void)lc_fail(c, CASUS_E_NETWORK, "server: %s", err); /* why, for casus_error */
	return r;
}

json_t *casus_next_push(casus_client *c, int timeout_ms)
{
	return c->conn ? conn_next_push(c->conn, timeout_ms) : NULL;
}

static int fetch_policy(casus_client *c)
{
	json_t *r = NULL;
	int rc = lc_request(c, json_pack("{ss}", "type", "policy.get"), &r);
	if (rc)
		return rc;
	uint8_t *pb = NULL;
	size_t pl = 0;
	int changed = 0, crc = CCORE_E_INVALID;
	if (proto_get_b64(r, "policy", 1 << 20, &pb, &pl) == 0)
		crc = ccore_policy_offer(c->core, pb, pl, 0, &changed);
	json_decref(r);
	if (crc != CCORE_OK) {
		free(pb);
		return lc_core_fail(c, crc);
	}
	if (changed) {
		char path[1024];
		lc_path_in(path, sizeof path, c->dir, "policy.bin");
		fio_write_atomic(path, pb, pl, 0600);
	}
	c->policy = *ccore_policy(c->core);
	c->have_policy = 1;
	free(pb);
	return CASUS_OK;
}

/* The deployment's revocation list (revlist.get): the core refuses one older
 * than held; stored in the profile so it never goes back. */
static int fetch_revlist(casus_client *c)
{
	json_t *r = NULL;
	int rc = lc_request(c, json_pack("{ss}", "type", "revlist.get"), &r);
	if (rc)
		return rc;
	uint8_t *rb = NULL;
	size_t rl = 0;
	int changed = 0, crc;
	json_t *v = json_object_get(r, "revlist");
	if (json_is_null(v) || !v)
		crc = ccore_revlist_offer(c->core, NULL, 0, (int64_t)time(NULL), 0, &changed);
	else if (proto_get_b64(r, "revlist", 1 << 24, &rb, &rl) == 0)
		crc = ccore_revlist_offer(c->core, rb, rl, (int64_t)time(NULL), 0, &changed);
	else
		crc = CCORE_E_INVALID;
	json_decref(r);
	if (crc == CCORE_OK && changed) {
		char path[1024];
		lc_path_in(path, sizeof path, c->dir, "revlist.bin");
		fio_write_atomic(path, rb, rl, 0600);
	}
	free(rb);
	return crc == CCORE_OK ? CASUS_OK : lc_core_fail(c, crc);
}

int casus_is_online(const casus_client *c)
{
	return c->conn && conn_is_open(c->conn);
}

/* The store epoch hello named: the core judges a change (a restored server,
 * warned "rollback"); the new one is kept in the profile, so the warning is
 * given once per restore (each casus's local copy is checked on its own,
 * ccore_rollback_check). A server that names none is not judged. */
static void store_epoch(casus_client *c, const char *ep)
{
	if (!ep)
		return;
	char old[CCORE_STORE_EPOCH_MAX + 1];
	snprintf(old, sizeof old, "%s", ccore_store_epoch_held(c->core));
	if (ccore_store_epoch(c->core, ep, 0) == CCORE_E_INVALID) {
		ccore_warn(c->core, "tampered", "the server named a malformed store epoch: it cannot be checked");
		return;
	}
	if (strcmp(old, ep) == 0)
		return;
	char path[1024];
	lc_path_in(path, sizeof path, c->dir, "store_epoch");
	if (fio_write_atomic(path, ep, strlen(ep), 0600) != 0)
		ccore_warn(c->core, "profile", "cannot store the server's store epoch in %s", path);
}

/* The profile's server may be a list of addresses separated by commas (the
 * nodes of a cluster, docs/SCALING.md): try each in turn, from the one that
 * worked last, and move on when one cannot be reached. Only the node that
 * holds the writer lease listens, so "reachable" is "the writer". */
#define MAX_SERVER_URLS 16
static int open_any(casus_client *c, char *err, size_t errlen)
{
	char list[sizeof c->server];
	char *urls[MAX_SERVER_URLS], *save = NULL;
	int n = 0;
	snprintf(list, sizeof list, "%s", c->server);
	for (char *t = strtok_r(list, ",", &save); t && n < MAX_SERVER_URLS; t = strtok_r(NULL, ",", &save)) {
		while (*t == ' ')
			t++;
		size_t l = strlen(t);
		while (l && t[l - 1] == ' ')
			t[--l] = 0;
		if (*t)
			urls[n++] = t;
	}
	if (n == 0) {
		snprintf(err, errlen, "the profile names no server");
		return -1;
	}
	for (int i = 0; i < n; i++) {
		int j = (c->server_next + i) % n;
		if (conn_open(&c->conn, urls[j], c->ca[0] ? c->ca : NULL, REQ_TIMEOUT_MS, err, errlen) == 0) {
			c->server_next = j;
			return 0;
		}
	}
	c->server_next = (c->server_next + 1) % n;
	return -1;
}

int casus_client_connect(casus_client *c)
{
	char err[256];
	lc_clear_err(c);
	if (!c->have_cert)
		return lc_fail(c, CASUS_E_PROFILE, "no certificate installed yet: run casus install-cert FILE");
	if (c->conn && conn_is_open(c->conn))
		return CASUS_OK;
	conn_close(c->conn);
	c->conn = NULL;
	if (open_any(c, err, sizeof err) != 0)
		return lc_fail(c, CASUS_E_NETWORK, "cannot reach %s: %s", c->server, err);
	json_t *r = NULL;
	int rc = lc_request(c, json_pack("{sssi}", "type", "hello", "version", PROTO_VERSION), &r);
	if (rc)
		return rc;
	uint8_t challenge[32], sig[CC_SIG_BYTES];
	if (proto_get_b64_fixed(r, "challenge", challenge, sizeof challenge)) {
		json_decref(r);
		return lc_fail(c, CASUS_E_NETWORK, "the server sent no challenge");
	}
	store_epoch(c, json_string_value(json_object_get(r, "store_epoch")));
	json_decref(r);
	if (cc_sign_ctx(c->keys->sign_sk, "casus.v1 auth", challenge, sizeof challenge, sig) != CC_OK)
		return lc_fail(c, CASUS_E_INTERNAL, "cannot sign the challenge");
	cc_wbuf w;
	cc_w_init(&w);
	cc_cert_encode(&c->cert, &w);
	json_t *auth = json_pack("{ss}", "type", "auth");
	proto_set_b64(auth, "cert", w.p, w.len);
	proto_set_b64(auth, "sig", sig, sizeof sig);
	cc_w_free(&w);
	rc = lc_request(c, auth, &r);
	if (rc)
		return rc;
	json_decref(r);
	if ((rc = fetch_policy(c)) != CASUS_OK || (rc = fetch_revlist(c)) != CASUS_OK)
		return rc;
	c->ever_connected = 1;
	c->backoff_ms = BACKOFF_MIN_MS;
	/* device wrap keys: rotate when due, publish, wipe what is past its grace
	 * (docs/CRYPTO.md, "Device wrap keys"); a failure here waits for the next connect */
	(void)lc_wrap_maintain(c, 0);
	/* the directory must hand out this device's newest wrap key, or other
	 * members seal to an older one (a thief's, or one already wiped) */
	if ((rc = lc_wrap_check_own(c)) != CASUS_OK)
		return rc;
	/* what was queued while the server was away goes out first, then the
	 * followed casus catch up on what they missed */
	(void)casus_outbox_flush(c);
	lc_resume_tracked(c);
	lc_clear_err(c);
	return CASUS_OK;
}
