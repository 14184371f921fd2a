/*
 * handlers.c: what the handler families share (see handlers.h): the one
 * mapping from crypto errors to protocol codes, the audit fields of a casus,
 * refusals about a casus, membership records.
 */
#include "handlers.h"
#include "audit.h"
#include "reply.h"
#include "rt.h"
#include "schema.h"

#include <cc_err.h>
#include <proto.h>
#include <string.h>

/* Chain and epoch races are conflicts (fetch and retry); authority is
 * forbidden; everything else a client sent wrong is invalid. */
int handler_err(int cc)
{
	switch (cc) {
	case CC_ERR_CHAIN:
	case CC_ERR_EPOCH:
		return PE_CONFLICT;
	case CC_ERR_FORBIDDEN:
	case CC_ERR_LEVEL:
	case CC_ERR_NOT_MEMBER:
	case CC_ERR_AUDIENCE:
	case CC_ERR_UNKNOWN_ROLE:
		return PE_FORBIDDEN;
	case CC_ERR_BAD_SIGNATURE:
		return PE_BAD_SIGNATURE;
	case CC_ERR_GROUND_REQUIRED:
		return PE_GROUND_REQUIRED;
	case CC_ERR_TOO_LARGE:
		return PE_TOO_LARGE;
	default:
		return PE_INVALID;
	}
}

void fill_casus(cc_audit_entry *e, const struct casus_rt *rt)
{
	memcpy(e->casus_id, rt->id, 16);
	cc_audit_str_copy(e->purpose, sizeof e->purpose, rt->purpose);
	cc_audit_str_copy(e->legal_basis, sizeof e->legal_basis, rt->basis);
	e->level = rt->level;
}

int deny_casus(struct session *s, uint64_t id, int code, const char *msg, unsigned event, const struct casus_rt *rt,
               const uint8_t *cid)
{
	cc_audit_entry e;
	cc_audit_entry_init(&e);
	e.event = (uint16_t)event;
	e.outcome = CC_AUDIT_OUTCOME_DENIED;
	cc_audit_str_copy(e.error, sizeof e.error, proto_err_name((enum proto_err)code));
	if (rt)
		fill_casus(&e, rt);
	else if (cid)
		memcpy(e.casus_id, cid, 16);
	audit_log(s->srv, s, &e);
	reply_error(s, id, code, msg);
	return 0;
}

/* ---- history ------------------------------------------------------------------ */

int member_info(struct server *srv, const uint8_t dev[16], const uint8_t cid[16], uint64_t *join, uint64_t *read_seq)
{
	uint8_t k[SCHEMA_KEY_PAIR];
	MDB_val v;
	uint64_t rs = 0;
	if (store_get(&srv->st, DB_MEMBERS, k, schema_key_pair(k, dev, cid), &v) != 0 ||
	    schema_member_decode(v.mv_data, v.mv_size, join, &rs) != 0)
		return -1;
	if (read_seq)
		*read_seq = rs;
	return 0;
}
