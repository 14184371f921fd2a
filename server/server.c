/*
 * server.c: the session state every room may change (see server.h).
 */
#include "server.h"

void session_close(struct session *s, enum lws_close_status code, const char *reason)
{
	if (s->close_pending)
		return;
	s->close_pending = 1;
	s->close_code = code;
	s->close_reason = reason;
	if (s->wsi)
		lws_callback_on_writable(s->wsi);
}
