/*
 * revlist.c: holding, serving and announcing the revocation list (revlist.h).
 */
#include "revlist.h"
#include "reply.h"
#include "server.h"

#include <cc_err.h>
#include <proto.h>
#include <stdlib.h>

int revlist_install(struct server *srv, uint8_t *bytes, size_t len)
{
	cc_revlist nl;
	cc_revlist_init(&nl);
	int rc = cc_revlist_decode(bytes, len, &nl);
	if (rc == CC_OK)
		rc = cc_revlist_verify(&nl, srv->root_pk, srv->have_revs ? &srv->revs : NULL);
	if (rc != CC_OK) {
		cc_revlist_free(&nl);
		return rc;
	}
	cc_revlist_free(&srv->revs);
	srv->revs = nl;
	srv->have_revs = 1;
	free(srv->revs_bytes);
	srv->revs_bytes = bytes;
	srv->revs_len = len;
	revlist_push(srv);
	return CC_OK;
}

void revlist_push(struct server *srv)
{
	json_t *p =
		json_pack("{sssI}", "push", "revlist", "number", (json_int_t)(srv->have_revs ? srv->revs.number : 0));
	struct outbuf *pb = p ? outbuf_from_json(p) : NULL;
	json_decref(p);
	if (!pb)
		return;
	for (struct session *s = srv->sessions; s; s = s->next)
		if (s->state == SS_AUTHED)
			push_later(s, pb);
	outbuf_unref(pb);
}

void revlist_free(struct server *srv)
{
	cc_revlist_free(&srv->revs);
	srv->have_revs = 0;
	free(srv->revs_bytes);
	srv->revs_bytes = NULL;
	srv->revs_len = 0;
}
