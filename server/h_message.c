/*
 * h_message.c: the message family: msg.post (a check step on the loop and a
 * store step after the verifier thread, see verify.h) and history.
 */
#include "audit.h"
#include "fanout.h"
#include "handlers.h"
#include "log.h"
#include "reply.h"
#include "rt.h"
#include "schema.h"
#include "verify.h"

#include <cc_buf.h>
#include <cc_commit.h>
#include <cc_err.h>
#include <cc_grant.h>
#include <cc_message.h>
#include <proto.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define HISTORY_DEFAULT 100

/* ---- msg.post ----------------------------------------------------------------- */

/* Both steps of msg.post (verify.h), against the casus as it is now. The
 * check step (vj NULL) checks everything but the signature and hands the
 * signature to the verifier thread, which then owns the bytes (*take is set
 * to NULL); without a verifier it checks the signature inline and stores. The
 * store step (vj set) checks again (the epoch may have moved), takes the
 * verifier's answer if the roster's key is still the one it checked against,
 * then stores, pushes, audits and replies. */
static int msg_post(struct session *s, uint64_t id, const uint8_t cid[16], const uint8_t *mb, size_t ml, uint8_t **take,
                    const struct vjob *vj)
{
	struct server *srv = s->srv;
	int keep = 0;
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt) {
		deny(s, id, PE_NOT_FOUND, "no such casus", CC_AUDIT_EV_MESSAGE_POST, cid);
		goto out;
	}
	if (rt->closed_at) {
		deny_casus(s, id, PE_FORBIDDEN, "the casus is closed: nothing new can be posted",
		           CC_AUDIT_EV_MESSAGE_POST, rt, NULL);
		goto out;
	}
	cc_message m;
	int rc = cc_message_decode(mb, ml, &m);
	if (rc != CC_OK) {
		deny_casus(s, id, handler_err(rc), cc_strerror(rc), CC_AUDIT_EV_MESSAGE_POST, rt, NULL);
		goto out;
	}
	if (sodium_memcmp(m.h.sender, s->cert.device_id, 16) != 0) {
		deny_casus(s, id, PE_FORBIDDEN, "the message is signed for another device", CC_AUDIT_EV_MESSAGE_POST,
		           rt, NULL);
		goto out;
	}
	if (memcmp(m.h.casus_id, cid, 16) != 0) {
		deny_casus(s, id, PE_INVALID, "the message belongs to another casus", CC_AUDIT_EV_MESSAGE_POST, rt,
		           NULL);
		goto out;
	}
	/* cc_message_check_public's checks (cc_message_check_header), the signature last */
	{
		int ri = -1;
		rc = cc_message_check_header(&m.h, rt->st, &srv->policy, &ri);
		if (rc == CC_OK) {
			const uint8_t *pk = rt->st->roster[ri].cert.sign_pk;
			if (vj && sodium_memcmp(vj->sign_pk, pk, 32) == 0) {
				rc = vj->rc; /* verified by the verifier thread against this very key */
			} else if (!vj && take && verify_enabled(s->srv) &&
			           verify_submit(s, id, cid, pk, *take, ml) == 0) {
				*take = NULL;
				return 0; /* the verifier has the bytes; the reply comes after its answer */
			} else {
				rc = cc_message_verify_sig(&m, pk); /* queue full, no thread, or the key changed */
			}
		}
	}
	if (rc != CC_OK) {
		int code = rc == CC_ERR_EPOCH ? PE_STALE_EPOCH : handler_err(rc);
		deny_casus(s, id, code,
		           code == PE_STALE_EPOCH ? "the epoch has changed: fetch commits and encrypt again"
		                                  : cc_strerror(rc),
		           CC_AUDIT_EV_MESSAGE_POST, rt, NULL);
		goto out;
	}
	uint8_t k[SCHEMA_KEY_PAIR];
	MDB_val v;
	size_t kl = schema_key_pair(k, cid, m.h.message_id);
	if (store_get(&srv->st, DB_MSGIDS, k, kl, &v) == 0) {
		deny_casus(s, id, PE_DUPLICATE, "this message id was stored before (replay)", CC_AUDIT_EV_MESSAGE_POST,
		           rt, NULL);
		goto out;
	}
	uint64_t seq = rt->next_msg_seq;
	uint8_t sk[SCHEMA_KEY_SEQ], sb[SCHEMA_MSGID_VAL];
	size_t skl = schema_key_seq(sk, cid, seq);
	schema_msgid_encode(sb, seq);
	uint8_t *rec = malloc(SCHEMA_MSG_HDR + ml);
	if (!rec) {
		reply_error(s, id, PE_INTERNAL, "out of memory");
		goto out;
	}
	schema_msg_rec_header(rec, m.h.audience, m.h.epoch);
	memcpy(rec + SCHEMA_MSG_HDR, mb, ml);
	rc = store_put(&srv->st, DB_MESSAGES, sk, skl, rec, SCHEMA_MSG_HDR + ml, 0);
	free(rec);
	if (!rc)
		rc = store_put(&srv->st, DB_MSGIDS, k, kl, sb, sizeof sb, 0);
	if (rc) {
		reply_error(s, id, PE_STORAGE, "could not store the message");
		goto out;
	}
	rt->next_msg_seq = seq + 1;
	srv->turn_stored++; /* counted in messages_stored once the turn commits (dispatch.c) */

	/* The push frame, written directly (the same compact JSON proto_dump
	 * makes, without building an object: this is the hot path) and shared
	 * by every recipient. */
	char chex[33];
	proto_hex16(cid, chex);
	size_t b64cap = sodium_base64_ENCODED_LEN(ml, sodium_base64_VARIANT_ORIGINAL);
	size_t pcap = 96 + b64cap;
	struct outbuf *pb = outbuf_new(pcap);
	if (pb) {
		char *o = (char *)pb->data + REPLY_PRE;
		int hn = snprintf(o, pcap, "{\"push\":\"msg\",\"casus\":\"%s\",\"seq\":%llu,\"msg\":\"", chex,
		                  (unsigned long long)seq);
		if (hn < 0 || (size_t)hn + b64cap + 2 > pcap) {
			free(pb);
			pb = NULL;
		} else {
			sodium_bin2base64(o + hn, b64cap, mb, ml, sodium_base64_VARIANT_ORIGINAL);
			size_t bl = strlen(o + hn);
			memcpy(o + (size_t)hn + bl, "\"}", 2);
			pb->len = (size_t)hn + bl + 2;
		}
	}
	/* every entitled subscriber except the posting session (it gets the ack) */
	struct fanout_filter f = {m.h.audience, NULL, 0, s};
	fanout_push_msg(srv, rt, &f, pb, seq, m.h.message_id);
	outbuf_unref(pb);
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_MESSAGE_POST;
	fill_casus(&e, rt);
	e.ground = m.h.ground;
	e.seq_from = e.seq_to = seq;
	e.n_msg_ids = 1;
	memcpy(e.msg_ids[0], m.h.message_id, 16);
	const char *an = m.h.audience < srv->policy.naudiences ? srv->policy.audiences[m.h.audience].name : "?";
	snprintf(e.object, sizeof e.object, "audience %s epoch %llu", an, (unsigned long long)m.h.epoch);
	audit_log(srv, s, &e);

	reply_ok_seq_timed(s, id, seq, vj ? vj->t0_ns : s->rx_ns);
	keep = 1;
out:
	return keep;
}

int h_msg_post(struct session *s, json_t *req, uint64_t id)
{
	uint8_t cid[16];
	uint8_t *mb = NULL;
	size_t ml = 0;
	if (proto_get_id16(req, "casus", cid) || proto_get_b64(req, "msg", s->srv->cfg.lim.max_frame, &mb, &ml)) {
		free(mb);
		reply_error(s, id, PE_BAD_REQUEST, "msg.post needs \"casus\" (hex id) and \"msg\" (base64)");
		return 0;
	}
	int keep = msg_post(s, id, cid, mb, ml, &mb, NULL);
	free(mb); /* NULL if the verifier took it */
	return keep;
}

int h_msg_post_verified(struct session *s, const struct vjob *job)
{
	return msg_post(s, job->req_id, job->casus, job->msg, job->len, NULL, job);
}

int h_history(struct session *s, json_t *req, uint64_t id)
{
	struct server *srv = s->srv;
	uint8_t cid[16];
	uint64_t after = 0, before = 0, limit = HISTORY_DEFAULT, join = 0;
	int backward = 0;
	if (proto_get_id16(req, "casus", cid) ||
	    (json_object_get(req, "after") && proto_get_u64(req, "after", UINT64_MAX >> 12, &after)) ||
	    (json_object_get(req, "before") && proto_get_u64(req, "before", UINT64_MAX >> 12, &before)) ||
	    (json_object_get(req, "limit") && proto_get_u64(req, "limit", srv->cfg.lim.history_page_max, &limit))) {
		reply_error(s, id, PE_BAD_REQUEST,
		            "history needs \"casus\" and optional \"after\" or \"before\" (sequence) and \"limit\"");
		return 0;
	}
	backward = json_object_get(req, "before") != NULL;
	struct casus_rt *rt = rt_get(srv, cid);
	if (!rt || !rt_is_member(rt, s->cert.device_id) || member_info(srv, s->cert.device_id, cid, &join, NULL) != 0)
		return deny_casus(s, id, rt ? PE_FORBIDDEN : PE_NOT_FOUND,
		                  rt ? "you are not a member of this casus" : "no such casus",
		                  CC_AUDIT_EV_HISTORY_FETCH, rt, cid);
	uint32_t mask = rt_mask(rt, s->cert.device_id);
	size_t page_bytes = session_page_bytes(s, (size_t)limit);

	/* The page is written straight into its frame: the messages found first
	 * (pointers into the store, valid until this turn writes: before the audit
	 * entry below), then one buffer of the exact size, each message base64'd
	 * into it once. No JSON object per message (issue 15: the server's share
	 * of a history read); base64 and decimal numbers need no escaping. */
	struct hmsg {
		uint64_t seq;
		const uint8_t *msg;
		size_t len;
	} *found = NULL;
	size_t nfound = 0, cap = 0, total = 0;
	MDB_cursor *cur = NULL;
	uint8_t k[SCHEMA_KEY_SEQ];
	MDB_val kk = {schema_key_seq(k, cid, backward ? before : after + 1), k}, vv;
	uint64_t lo = 0, hi = 0, n = 0;
	size_t bytes = 0;
	int more = 0, oom = 0;
	if (mdb_cursor_open(store_cur(&srv->st), srv->st.dbi[DB_MESSAGES], &cur) == 0) {
		int rc = mdb_cursor_get(cur, &kk, &vv, MDB_SET_RANGE);
		if (backward)
			rc = rc == 0 ? mdb_cursor_get(cur, &kk, &vv, MDB_PREV)
			             : mdb_cursor_get(cur, &kk, &vv, MDB_LAST);
		for (; rc == 0 && kk.mv_size == SCHEMA_KEY_SEQ && memcmp(kk.mv_data, cid, 16) == 0;
		     rc = mdb_cursor_get(cur, &kk, &vv, backward ? MDB_PREV : MDB_NEXT)) {
			uint8_t aud;
			uint64_t ep;
			const uint8_t *msg;
			size_t msg_len;
			if (schema_msg_rec_decode(vv.mv_data, vv.mv_size, &aud, &ep, &msg, &msg_len) != 0)
				continue;
			/* the audiences the device may read, from its join onward */
			if (!(mask & (1u << aud)) || ep < join)
				continue;
			/* a page holds at most limit messages and history_page_bytes of
			 * message bytes (base64 as sent), but always at least one */
			size_t b64 = (msg_len + 2) / 3 * 4;
			if (n == limit || (n && b64 > page_bytes - bytes)) {
				more = 1;
				break;
			}
			bytes = b64 > page_bytes - bytes ? page_bytes : bytes + b64;
			if (nfound == cap) {
				size_t ncap = cap ? cap * 2 : 64;
				struct hmsg *nf = realloc(found, ncap * sizeof(*nf));
				if (!nf) {
					oom = 1;
					break;
				}
				found = nf;
				cap = ncap;
			}
			uint64_t seq = schema_key_tail64(kk.mv_data, kk.mv_size);
			found[nfound++] = (struct hmsg){seq, msg, msg_len};
			/* {"seq":N,"msg":"..."}, and a comma: 20 digits at most */
			total += 20 + 20 + b64 + 1;
			if (!lo || seq < lo)
				lo = seq;
			if (seq > hi)
				hi = seq;
			n++;
		}
		mdb_cursor_close(cur);
	}
	struct outbuf *b = NULL;
	if (!oom) {
		/* {"id":N,"ok":true,"messages":[ ... ],"more":false} and a NUL */
		b = outbuf_new(total + 64 + 20);
		if (b) {
			char *o = (char *)b->data + REPLY_PRE, *end = o + b->len;
			o += snprintf(o, (size_t)(end - o), "{\"id\":%llu,\"ok\":true,\"messages\":[",
			              (unsigned long long)id);
			/* oldest first in either direction */
			for (size_t i = 0; i < nfound; i++) {
				const struct hmsg *m = &found[backward ? nfound - 1 - i : i];
				o += snprintf(o, (size_t)(end - o), "%s{\"seq\":%llu,\"msg\":\"", i ? "," : "",
				              (unsigned long long)m->seq);
				sodium_bin2base64(o, (size_t)(end - o), m->msg, m->len, sodium_base64_VARIANT_ORIGINAL);
				o += (m->len + 2) / 3 * 4;
				o += snprintf(o, (size_t)(end - o), "\"}");
			}
			o += snprintf(o, (size_t)(end - o), "],\"more\":%s}", more ? "true" : "false");
			b->len = (size_t)(o - ((char *)b->data + REPLY_PRE));
		}
	}
	free(found);
	if (!b) {
		log_event(LOG_ERROR, "reply.alloc", "sid=%llu", (unsigned long long)s->sid);
		reply_error(s, id, PE_INTERNAL, "out of memory");
		return 0;
	}
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = CC_AUDIT_EV_HISTORY_FETCH;
	fill_casus(&e, rt);
	e.seq_from = lo;
	e.seq_to = hi;
	snprintf(e.object, sizeof e.object, "messages %llu", (unsigned long long)n);
	audit_log(srv, s, &e);
	reply_later_buf(s, id, b);
	return 1;
}
