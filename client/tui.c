/*
 * tui.c: the live case-conference view, `casus open CASUS`.
 *
 *   +-- casus 3f2a.. | level 3 Procesregie | 5 members ----------------------+
 *   | members: cm.jansen (casemanager), ggd.bakker (ggd), ...               |
 *   | 10:02 Jansen (casemanager) [zorg]  Cliente heeft afspraak gemist     |
 *   | ...                                                                  |
 *   | [zorg] > _                                              Tab: audience |
 *   +----------------------------------------------------------------------+
 *
 * Messages appear as they arrive: the loop sleeps in poll() on the terminal
 * and the connection's socket, so a message is drawn as soon as its frame is
 * read. The bottom line edits the next message and shows the audience it
 * goes to; Tab cycles the audiences this device may post to; when the policy
 * asks for a disclosure ground the view asks for one before sending.
 * Unverified messages are marked "!! NOT VERIFIED" (bold, red where the
 * terminal has colour). If the server goes away the header says OFFLINE,
 * posts wait in the outbox (shown as "queued") and the view reconnects by
 * itself (backoff with jitter), sends them and fetches what it missed.
 * Long messages wrap at the terminal width (continuation rows indented);
 * PageUp/PageDown scroll back and forth through what was shown (the separator
 * says how far back), new messages do not move a scrolled-back view. The
 * member line takes a second row when it needs one; the status sits on the
 * separator, the ground prompt uses two rows, so everything fits 80 columns.
 * Ctrl-D or /quit leaves. It runs in any terminal ncurses knows (TERM),
 * including over ssh, and redraws on resize.
 */
#include "tclean.h"
#include "tui.h"

#include <curses.h>
#include <errno.h>
#include <locale.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LINES 2000
#define INPUT_MAX 2000

struct view {
	casus_client *c;
	const char *cid;
	json_t *members; /* casus_members result */
	json_t *auds;    /* casus_my_audiences */
	size_t aud;      /* index into auds */
	char *lines[MAX_LINES];
	int bad[MAX_LINES];
	char qid[MAX_LINES][33]; /* message id of a "(queued ...)" line, else "" */
	size_t nlines;
	char input[INPUT_MAX];
	size_t ilen;
	char status[256];
	int online;
	int scroll; /* display rows scrolled back from the newest (PageUp/PageDown) */
	int offline_retry_ms;
	int color;
	long long newest; /* the newest message time shown (late ones are marked) */
};

static int line_rows(const struct view *v, size_t k, int cols);

static void add_line(struct view *v, const char *s, int bad)
{
	if (v->nlines == MAX_LINES) {
		free(v->lines[0]);
		memmove(v->lines, v->lines + 1, (MAX_LINES - 1) * sizeof(char *));
		memmove(v->bad, v->bad + 1, (MAX_LINES - 1) * sizeof(int));
		memmove(v->qid, v->qid + 1, (MAX_LINES - 1) * sizeof(v->qid[0]));
		v->nlines--;
	}
	v->lines[v->nlines] = strdup(s);
	v->bad[v->nlines] = v->lines[v->nlines] ? bad : 0;
	v->qid[v->nlines][0] = 0;
	if (!v->lines[v->nlines])
		return;
	v->nlines++;
	/* a view scrolled back stays where it is */
	if (v->scroll && COLS > 0)
		v->scroll += line_rows(v, v->nlines - 1, COLS);
}

/* A queued post was delivered: its "(queued ...)" line goes, the message
 * itself is shown by the caller. */
static void drop_queued(struct view *v, const char *id)
{
	for (size_t k = 0; id && id[0] && k < v->nlines; k++) {
		if (strcmp(v->qid[k], id) != 0)
			continue;
		free(v->lines[k]);
		memmove(v->lines + k, v->lines + k + 1, (v->nlines - k - 1) * sizeof(char *));
		memmove(v->bad + k, v->bad + k + 1, (v->nlines - k - 1) * sizeof(int));
		memmove(v->qid + k, v->qid + k + 1, (v->nlines - k - 1) * sizeof(v->qid[0]));
		v->nlines--;
		return;
	}
}

static void add_msg(struct view *v, json_t *o)
{
	char line[4096], when[16] = "--:--";
	time_t t = (time_t)json_integer_value(json_object_get(o, "time"));
	struct tm tm;
	if (t && localtime_r(&t, &tm))
		strftime(when, sizeof when, "%H:%M", &tm);
	json_t *snd = json_object_get(o, "sender");
	int ok = json_is_true(json_object_get(o, "verified"));
	const char *ground = json_string_value(json_object_get(o, "ground"));
	/* written well before a message shown above it (a post that waited in
	 * an outbox): kept in the server's order, marked (casus_history "late") */
	const char *env = getenv("CASUS_LATE_SECS");
	long long slack = env && *env ? strtoll(env, NULL, 10) : 60;
	int late = json_is_true(json_object_get(o, "late")) || (t && v->newest && (long long)t + slack < v->newest);
	if ((long long)t > v->newest)
		v->newest = (long long)t;
	/* content from other members and the server, cleaned of control characters */
	snprintf(line, sizeof line, "%s %s (%s) [%s%s%s]%s %s", when,
	         snd ? TC(json_string_value(json_object_get(snd, "name"))) : "?",
	         snd ? TC(json_string_value(json_object_get(snd, "role"))) : "?",
	         TC(json_string_value(json_object_get(o, "audience"))), ground && strcmp(ground, "none") ? " " : "",
	         ground && strcmp(ground, "none") ? TC(ground) : "",
	         !ok                                            ? " !! NOT VERIFIED"
	         : json_is_true(json_object_get(o, "diverged")) ? " !! ANDERS OP DE SERVER / DIFFERS ON THE SERVER"
	         : late ? " (eerder geschreven, later verzonden / written earlier, sent later)"
	                : "",
	         ok ? TC(json_string_value(json_object_get(o, "text")))
	            : TC(json_string_value(json_object_get(o, "error"))));
	drop_queued(v, json_string_value(json_object_get(o, "id")));
	add_line(v, line, !ok);
	json_int_t seq = json_integer_value(json_object_get(o, "seq"));
	if (seq > 0)
		(void)casus_track(v->c, v->cid, (uint64_t)seq);
}

/* What the client core could not refuse but must show, as marked lines. */
static void show_warnings(struct view *v)
{
	json_t *w = casus_take_warnings(v->c);
	size_t i;
	json_t *o;
	json_array_foreach(w, i, o) {
		char line[600];
		snprintf(line, sizeof line, "WAARSCHUWING: %s", TC(json_string_value(json_object_get(o, "message"))));
		add_line(v, line, 1);
	}
	json_decref(w);
}

static void reload(struct view *v)
{
	json_decref(v->members);
	json_decref(v->auds);
	v->members = NULL;
	v->auds = NULL;
	if (casus_members(v->c, v->cid, &v->members) != CASUS_OK)
		snprintf(v->status, sizeof v->status, "%s", casus_error(v->c));
	if (casus_my_audiences(v->c, v->cid, &v->auds) != CASUS_OK)
		v->auds = json_array();
	if (v->aud >= json_array_size(v->auds))
		v->aud = 0;
}

/* How many bytes of s (len bytes) fit in cols columns, one column per UTF-8
 * character; with wordwrap, the cut goes after the last space that fits (if
 * any, so a long word is still cut at the width). At least one character. */
static size_t fit_bytes(const char *s, size_t len, int cols, int wordwrap)
{
	size_t i = 0, last_space = 0;
	int w = 0;
	while (i < len && w < cols) {
		size_t n = 1;
		while (i + n < len && ((unsigned char)s[i + n] & 0xC0) == 0x80)
			n++;
		if (s[i] == ' ')
			last_space = i + 1;
		i += n;
		w++;
	}
	if (i >= len)
		return len;
	if (wordwrap && last_space > 0 && s[i] != ' ')
		return last_space;
	return i ? i : 1;
}

/* Draw s from row y on, wrapped at cols, at most maxrows rows (continuation
 * rows indented by indent); with draw = 0 only count. Returns the rows used. */
static int put_wrapped(int y, const char *s, int cols, int maxrows, int indent, int draw)
{
	size_t len = strlen(s), off = 0;
	int r = 0;
	while (r < maxrows && (off < len || r == 0)) {
		int ind = r ? indent : 0;
		int room = cols - ind > 1 ? cols - ind : 1;
		size_t take = off < len ? fit_bytes(s + off, len - off, room, 1) : 0;
		if (draw) {
			if (ind)
				mvhline(y + r, 0, ' ', ind);
			mvaddnstr(y + r, ind, s + off, (int)take);
		}
		off += take;
		while (off < len && s[off] == ' ')
			off++;
		r++;
	}
	return r;
}

/* Rows the message line k takes at this width. */
static int line_rows(const struct view *v, size_t k, int cols)
{
	return put_wrapped(0, v->lines[k], cols, 1000, 2, 0);
}

static void draw(struct view *v)
{
	int rows, cols;
	getmaxyx(stdscr, rows, cols);
	erase();
	/* header: casus, connection, level, members; the status has its own place */
	attron(A_REVERSE);
	mvhline(0, 0, ' ', cols);
	char head[512];
	const char *title = json_string_value(json_object_get(v->members, "title"));
	snprintf(head, sizeof head, " casus %.8s | %s | level %lld %s | %zu members%s%s", v->cid,
	         v->online ? "online" : "OFFLINE, retrying", json_integer_value(json_object_get(v->members, "level")),
	         json_string_value(json_object_get(v->members, "level_name")) ?: "",
	         json_array_size(json_object_get(v->members, "members")), title ? " | " : "", title ? TC(title) : "");
	mvaddnstr(0, 0, head, cols);
	attroff(A_REVERSE);
	/* the member line: wrapped onto a second row where it needs one */
	char mline[2048] = "members:";
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(v->members, "members"), i, m) {
		size_t l = strlen(mline);
		snprintf(mline + l, sizeof mline - l, " %s (%s)%s", TC(json_string_value(json_object_get(m, "user"))),
		         TC(json_string_value(json_object_get(m, "role"))),
		         json_is_true(json_object_get(m, "break_glass")) ? " BREAK-GLASS" : "");
	}
	int mrows = put_wrapped(1, mline, cols, 2, 2, 1);
	/* messages: wrapped; the newest that fit, or scrolled back by PageUp */
	int top = 1 + mrows, area = rows - 2 - top;
	if (area < 1)
		area = 0;
	int total = 0;
	for (size_t k = 0; k < v->nlines; k++)
		total += line_rows(v, k, cols);
	int maxscroll = total > area ? total - area : 0;
	if (v->scroll > maxscroll)
		v->scroll = maxscroll;
	if (v->scroll < 0)
		v->scroll = 0;
	/* the display rows [skip, skip + area) of all the wrapped lines */
	int skip = total - area - v->scroll;
	if (skip < 0)
		skip = 0;
	int row = 0;
	for (size_t k = 0; k < v->nlines && row < skip + area; k++) {
		int lr = line_rows(v, k, cols);
		if (row + lr <= skip) {
			row += lr;
			continue;
		}
		attr_t at = v->bad[k] == 1 ? (A_BOLD | (v->color ? COLOR_PAIR(1) : 0)) : v->bad[k] == 2 ? A_DIM : 0;
		if (at)
			attron(at);
		if (row >= skip && row + lr <= skip + area) {
			put_wrapped(top + row - skip, v->lines[k], cols, lr, 2, 1);
		} else {
			/* partly visible: draw its rows one by one into a scratch count */
			for (int r = 0; r < lr; r++) {
				int y = row + r - skip;
				if (y < 0 || y >= area)
					continue;
				/* the r-th row of the wrapped line */
				const char *t = v->lines[k];
				size_t len = strlen(t), off = 0;
				for (int q = 0; q < r && off < len; q++) {
					int room = cols - (q ? 2 : 0) > 1 ? cols - (q ? 2 : 0) : 1;
					off += fit_bytes(t + off, len - off, room, 1);
					while (off < len && t[off] == ' ')
						off++;
				}
				int ind = r ? 2 : 0;
				int room = cols - ind > 1 ? cols - ind : 1;
				mvaddnstr(top + y, ind, t + off, (int)fit_bytes(t + off, len - off, room, 1));
			}
		}
		if (at)
			attroff(at);
		row += lr;
	}
	/* separator: the status on the left, the keys on the right where they fit */
	json_t *a = json_array_get(v->auds, v->aud);
	const char *an = a ? json_string_value(json_object_get(a, "name")) : "-";
	mvhline(rows - 2, 0, '-', cols);
	char st[320];
	if (v->scroll)
		snprintf(st, sizeof st, "- scrolled back %d rows (PgDn) %s%s ", v->scroll, v->status[0] ? "| " : "",
		         v->status);
	else
		snprintf(st, sizeof st, "%s%s%s", v->status[0] ? "- " : "", v->status, v->status[0] ? " " : "");
	mvaddnstr(rows - 2, 0, st, cols);
	static const char keys[] = " PgUp/PgDn: scroll  Tab: audience  Ctrl-D: leave ";
	int kl = (int)sizeof keys - 1;
	if ((int)strlen(st) + kl + 2 <= cols)
		mvaddstr(rows - 2, cols - kl, keys);
	mvprintw(rows - 1, 0, "to %s%s > ", an,
	         a && json_is_true(json_object_get(a, "ground_required")) ? " (ground)" : "");
	int x = getcurx(stdscr);
	int room = cols - x - 1;
	const char *shown = v->input;
	if ((int)v->ilen > room && room > 0)
		shown = v->input + v->ilen - (size_t)room;
	addnstr(shown, room);
	refresh();
}

static void sodium_wipe(char *p, size_t n)
{
	volatile char *q = p;
	while (n--)
		*q++ = 0;
}

static const char *const GROUNDS[] = {"consent", "legal_duty", "conflict_of_duties", "right_to_report", "no_care_info"};

/* Ask for a disclosure ground on the bottom line. NULL if cancelled. */
static const char *ask_ground(void)
{
	int rows, cols;
	getmaxyx(stdscr, rows, cols);
	(void)cols;
	/* two rows, each within 80 columns */
	move(rows - 2, 0);
	clrtoeol();
	mvaddnstr(rows - 2, 0, "Ground needed for this audience (Esc: cancel):", cols);
	move(rows - 1, 0);
	clrtoeol();
	mvaddnstr(rows - 1, 0, "1 consent 2 legal_duty 3 conflict_of_duties 4 right_to_report 5 no_care_info ", cols);
	refresh();
	timeout(-1);
	int ch;
	do
		ch = getch();
	while (ch == KEY_RESIZE || ch == ERR);
	timeout(0);
	if (ch >= '1' && ch <= '5')
		return GROUNDS[ch - '1'];
	return NULL;
}

static void send_input(struct view *v)
{
	if (!v->ilen)
		return;
	if (strcmp(v->input, "/quit") == 0)
		return;
	json_t *a = json_array_get(v->auds, v->aud);
	if (!a) {
		snprintf(v->status, sizeof v->status, "you hold no key to post here");
		return;
	}
	const char *ground = NULL;
	if (json_is_true(json_object_get(a, "ground_required"))) {
		ground = ask_ground();
		if (!ground) {
			snprintf(v->status, sizeof v->status, "not sent: a disclosure ground is required");
			return;
		}
	}
	uint64_t seq = 0;
	char mid[33] = "";
	int rc = casus_post(v->c, v->cid, json_string_value(json_object_get(a, "name")), ground, v->input, &seq, mid);
	if (rc == CASUS_E_QUEUED) {
		char line[INPUT_MAX + 64];
		snprintf(line, sizeof line, "(queued, sent when the connection is back) [%s] %s",
		         json_string_value(json_object_get(a, "name")), v->input);
		add_line(v, line, 2);
		if (v->nlines)
			snprintf(v->qid[v->nlines - 1], sizeof v->qid[0], "%s", mid);
		v->online = casus_is_online(v->c);
		sodium_wipe(v->input, sizeof v->input);
		v->ilen = 0;
		snprintf(v->status, sizeof v->status, "queued in the outbox");
		return;
	}
	if (rc != CASUS_OK) {
		snprintf(v->status, sizeof v->status, "not sent: %s", casus_error(v->c));
		return;
	}
	/* show our own message at once, from the verified history entry */
	json_t *h = NULL, *own = NULL;
	if (casus_entry(v->c, v->cid, seq, &own) == CASUS_OK) {
		add_msg(v, own);
		json_decref(own);
	} else if (casus_history(v->c, v->cid, seq - 1, 1, &h) == CASUS_OK) {
		size_t i;
		json_t *o;
		json_array_foreach(h, i, o)
			if ((uint64_t)json_integer_value(json_object_get(o, "seq")) == seq)
				add_msg(v, o);
	}
	json_decref(h);
	sodium_wipe(v->input, sizeof v->input);
	v->ilen = 0;
	snprintf(v->status, sizeof v->status, "sent #%llu", (unsigned long long)seq);
}

static void handle_event(struct view *v, json_t *p)
{
	const char *kind = json_string_value(json_object_get(p, "push"));
	const char *pc = json_string_value(json_object_get(p, "casus"));
	if (!kind)
		return;
	if (strcmp(kind, "connection") == 0) {
		const char *st = json_string_value(json_object_get(p, "state"));
		int was = v->online;
		v->online = st && strcmp(st, "online") == 0;
		if (v->online && !was) {
			add_line(v, "-- connected again --", 0);
			if (strcmp(v->status, "queued in the outbox") == 0)
				v->status[0] = 0; /* the outbox went out first; its posts follow as messages */
			reload(v);
		} else if (!v->online && was) {
			add_line(v, "-- connection lost: reconnecting; posts wait in the outbox --", 1);
		}
		if (st && strcmp(st, "refused") == 0)
			snprintf(v->status, sizeof v->status, "%s",
			         json_string_value(json_object_get(p, "message")) ?: "");
		return;
	}
	if (!pc || strcmp(pc, v->cid) != 0)
		return;
	show_warnings(v);
	if (strcmp(kind, "msg") == 0) {
		json_t *o = NULL;
		if (casus_decode_push(v->c, p, &o) == CASUS_OK) {
			add_msg(v, o);
			json_decref(o);
		}
	} else if (strcmp(kind, "commit") == 0) {
		casus_refresh(v->c, v->cid);
		reload(v);
		add_line(v, "-- membership or level changed; keys rotated --", 0);
	} else if (strcmp(kind, "removed") == 0) {
		/* the server's word only: the chain (fetched by libcasus) decides */
		casus_refresh(v->c, v->cid);
		reload(v);
		add_line(v, "-- the server says you were removed (see the members line) --", 1);
		snprintf(v->status, sizeof v->status, "removed?");
	} else if (strcmp(kind, "transfer") == 0) {
		casus_refresh(v->c, v->cid);
		add_line(v, "-- your other device passed its keys: older messages readable (see casus history) --", 0);
	} else if (strcmp(kind, "grant") == 0) {
		casus_refresh(v->c, v->cid);
		add_line(v, "-- earlier messages were shared with you: see casus history --", 0);
	}
}

static void handle_key(struct view *v, int ch, int *running)
{
	if (ch == 4) { /* Ctrl-D */
		*running = 0;
	} else if (ch == '\t') {
		if (json_array_size(v->auds))
			v->aud = (v->aud + 1) % json_array_size(v->auds);
	} else if (ch == KEY_BTAB) {
		size_t n = json_array_size(v->auds);
		if (n)
			v->aud = (v->aud + n - 1) % n;
	} else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
		if (strcmp(v->input, "/quit") == 0)
			*running = 0;
		else
			send_input(v);
	} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
		/* drop one UTF-8 character */
		while (v->ilen && (v->input[v->ilen - 1] & 0xC0) == 0x80)
			v->input[--v->ilen] = 0;
		if (v->ilen)
			v->input[--v->ilen] = 0;
	} else if (ch == 21) { /* Ctrl-U: clear the line */
		sodium_wipe(v->input, sizeof v->input);
		v->ilen = 0;
	} else if (ch == KEY_PPAGE || ch == KEY_NPAGE) {
		int rows, cols;
		getmaxyx(stdscr, rows, cols);
		(void)cols;
		int page = rows - 6 > 1 ? rows - 6 : 1;
		v->scroll += ch == KEY_PPAGE ? page : -page; /* draw() keeps it in range */
		if (v->scroll < 0)
			v->scroll = 0;
	} else if (ch == KEY_RESIZE) {
		clear();
	} else if (ch >= 32 && ch < 256 && ch != 127 && v->ilen + 1 < INPUT_MAX) {
		v->input[v->ilen++] = (char)ch;
		v->input[v->ilen] = 0;
	}
}

int tui_run(casus_client *c, const char *casus_hex)
{
	struct view v;
	memset(&v, 0, sizeof v);
	v.c = c;
	v.cid = casus_hex;
	v.online = casus_is_online(c);
	reload(&v);
	if (!v.members) {
		fprintf(stderr, "casus: %s\n", casus_error(c));
		return casus_is_online(c) ? 1 : 4;
	}
	if (casus_track(c, casus_hex, 0) != CASUS_OK) {
		fprintf(stderr, "casus: %s\n", casus_error(c));
		return 2;
	}
	json_t *h = NULL;
	if (casus_history(c, casus_hex, 0, 0, &h) == CASUS_OK) {
		size_t i;
		json_t *o;
		json_array_foreach(h, i, o)
			add_msg(&v, o);
	}
	json_decref(h);
	show_warnings(&v); /* e.g. a server that went back in time, found while loading */
	if (!v.online)
		add_line(&v, "-- OFFLINE: showing the local copy; reconnecting --", 1);

	setlocale(LC_ALL, "");
	if (!getenv("ESCDELAY"))
		set_escdelay(25);
	if (!initscr()) {
		fprintf(stderr, "casus: this terminal (TERM) is not supported\n");
		return 2;
	}
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	timeout(0);
	if (has_colors() && start_color() == OK) {
		use_default_colors();
		init_pair(1, COLOR_RED, -1);
		v.color = 1;
	}
	int running = 1;
	while (running) {
		draw(&v);
		/* sleep until a key, a frame from the server, or the next reconnect try */
		struct pollfd pf[2];
		int npf = 0;
		pf[npf].fd = 0;
		pf[npf].events = POLLIN;
		npf++;
		int cfd = casus_event_fd(c);
		if (cfd >= 0) {
			pf[npf].fd = cfd;
			pf[npf].events = POLLIN;
			npf++;
		}
		int wait = casus_event_wait_ms(c);
		if (wait > 1000 || wait < 0)
			wait = 1000;
		int pr = poll(pf, (nfds_t)npf, wait);
		if (pr < 0 && errno != EINTR)
			break;
		int ch;
		while (running && (ch = getch()) != ERR)
			handle_key(&v, ch, &running);
		json_t *p;
		int n = 0;
		while (n++ < 200 && (p = casus_next_event(c, 0)) != NULL) {
			handle_event(&v, p);
			json_decref(p);
		}
		if (casus_is_online(c) != v.online && casus_is_online(c)) {
			v.online = 1;
			reload(&v);
		}
	}
	endwin();
	for (size_t i = 0; i < v.nlines; i++)
		free(v.lines[i]);
	sodium_wipe(v.input, sizeof v.input);
	json_decref(v.members);
	json_decref(v.auds);
	return 0;
}
