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

size_t session_page_bytes(const struct session *s, size_t items)
{
	const struct server *srv = s->srv;
	size_t page = srv->cfg.lim.history_page_bytes;
	if (s->remote && srv->relay && srv->relay->max_out) {
		size_t around = 1024 + 64 * items;
		size_t fit = srv->relay->max_out > around + 1024 ? srv->relay->max_out - around : 1024;
		if (fit < page)
			page = fit;
	}
	return page;
}
