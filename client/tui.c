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
 * Messages appear as they arrive (pushes are polled every 50 ms). The bottom
 * line edits the next message; Tab cycles the audiences this device may post
 * to; when the policy asks for a disclosure ground the view asks for one
 * before sending. Unverified messages are marked "!!". Ctrl-D or /quit leaves.
 * It runs in any terminal ncurses knows, including over ssh, and redraws on
 * resize.
 */
#include "tui.h"

#include <curses.h>
#include <locale.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_LINES 2000
#define INPUT_MAX 2000

struct view {
	casus_client *c;
	const char *cid;
	json_t *members;     /* casus_members result */
	json_t *auds;        /* casus_my_audiences */
	size_t aud;          /* index into auds */
	char *lines[MAX_LINES];
	int bad[MAX_LINES];
	size_t nlines;
	char input[INPUT_MAX];
	size_t ilen;
	char status[256];
};

static void add_line(struct view *v, const char *s, int bad)
{
	if (v->nlines == MAX_LINES) {
		free(v->lines[0]);
		memmove(v->lines, v->lines + 1, (MAX_LINES - 1) * sizeof(char *));
		memmove(v->bad, v->bad + 1, (MAX_LINES - 1) * sizeof(int));
		v->nlines--;
	}
	v->lines[v->nlines] = strdup(s);
	v->bad[v->nlines] = bad;
	v->nlines++;
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
	snprintf(line, sizeof line, "%s %s (%s) [%s%s%s]%s %s", when,
	         snd ? json_string_value(json_object_get(snd, "name")) : "?",
	         snd ? json_string_value(json_object_get(snd, "role")) : "?",
	         json_string_value(json_object_get(o, "audience")) ?: "?",
	         ground && strcmp(ground, "none") ? " " : "", ground && strcmp(ground, "none") ? ground : "",
	         ok ? "" : " !! NOT VERIFIED", ok ? json_string_value(json_object_get(o, "text")) ?: ""
	                                          : json_string_value(json_object_get(o, "error")) ?: "");
	add_line(v, line, !ok);
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

static void draw(struct view *v)
{
	int rows, cols;
	getmaxyx(stdscr, rows, cols);
	erase();
	/* header: casus, level, members */
	attron(A_REVERSE);
	mvhline(0, 0, ' ', cols);
	mvprintw(0, 0, " casus %.8s | level %lld %s | %zu members | %s", v->cid,
	         json_integer_value(json_object_get(v->members, "level")),
	         json_string_value(json_object_get(v->members, "level_name")) ?: "",
	         json_array_size(json_object_get(v->members, "members")), v->status);
	attroff(A_REVERSE);
	char mline[1024] = "members:";
	size_t i;
	json_t *m;
	json_array_foreach(json_object_get(v->members, "members"), i, m) {
		size_t l = strlen(mline);
		snprintf(mline + l, sizeof mline - l, " %s (%s)%s", json_string_value(json_object_get(m, "user")),
		         json_string_value(json_object_get(m, "role")),
		         json_is_true(json_object_get(m, "break_glass")) ? " BREAK-GLASS" : "");
	}
	mvaddnstr(1, 0, mline, cols);
	/* messages: the newest that fit */
	int area = rows - 4;
	size_t first = v->nlines > (size_t)(area > 0 ? area : 0) ? v->nlines - (size_t)area : 0;
	for (size_t k = first; k < v->nlines; k++) {
		if (v->bad[k])
			attron(A_BOLD);
		mvaddnstr(2 + (int)(k - first), 0, v->lines[k], cols);
		if (v->bad[k])
			attroff(A_BOLD);
	}
	/* input line with the audience */
	json_t *a = json_array_get(v->auds, v->aud);
	const char *an = a ? json_string_value(json_object_get(a, "name")) : "-";
	mvhline(rows - 2, 0, ACS_HLINE, cols);
	mvprintw(rows - 1, 0, "[%s%s] > ", an, a && json_is_true(json_object_get(a, "ground_required")) ? "*" : "");
	int x = getcurx(stdscr);
	int room = cols - x - 1;
	const char *shown = v->input;
	if ((int)v->ilen > room && room > 0)
		shown = v->input + v->ilen - (size_t)room;
	addnstr(shown, room);
	refresh();
}

static const char *const GROUNDS[] = {"consent", "legal_duty", "conflict_of_duties", "right_to_report", "no_care_info"};

/* Ask for a disclosure ground on the bottom line. NULL if cancelled. */
static const char *ask_ground(void)
{
	int rows, cols;
	getmaxyx(stdscr, rows, cols);
	(void)cols;
	move(rows - 1, 0);
	clrtoeol();
	printw("Ground needed: 1 consent 2 legal_duty 3 conflict_of_duties 4 right_to_report 5 no_care_info (Esc) ");
	refresh();
	timeout(-1);
	int ch = getch();
	timeout(50);
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
	int rc = casus_post(v->c, v->cid, json_string_value(json_object_get(a, "name")), ground, v->input, &seq, NULL);
	if (rc != CASUS_OK) {
		snprintf(v->status, sizeof v->status, "not sent: %s", casus_error(v->c));
		return;
	}
	/* show our own message at once, from the verified history entry */
	json_t *h = NULL;
	if (casus_history(v->c, v->cid, seq - 1, 1, &h) == CASUS_OK) {
		size_t i;
		json_t *o;
		json_array_foreach(h, i, o)
			if ((uint64_t)json_integer_value(json_object_get(o, "seq")) == seq)
				add_msg(v, o);
	}
	json_decref(h);
	v->ilen = 0;
	v->input[0] = 0;
	snprintf(v->status, sizeof v->status, "sent #%llu", (unsigned long long)seq);
}

int tui_run(casus_client *c, const char *casus_hex)
{
	struct view v;
	memset(&v, 0, sizeof v);
	v.c = c;
	v.cid = casus_hex;
	reload(&v);
	if (!v.members) {
		fprintf(stderr, "casus: %s\n", casus_error(c));
		return 1;
	}
	json_t *h = NULL;
	if (casus_history(c, casus_hex, 0, 0, &h) == CASUS_OK) {
		size_t i;
		json_t *o;
		json_array_foreach(h, i, o)
			add_msg(&v, o);
	}
	json_decref(h);

	setlocale(LC_ALL, "");
	initscr();
	cbreak();
	noecho();
	keypad(stdscr, TRUE);
	timeout(50);
	int running = 1;
	while (running) {
		draw(&v);
		int ch = getch();
		if (ch == 4) { /* Ctrl-D */
			running = 0;
		} else if (ch == '\t') {
			if (json_array_size(v.auds))
				v.aud = (v.aud + 1) % json_array_size(v.auds);
		} else if (ch == '\n' || ch == KEY_ENTER) {
			if (strcmp(v.input, "/quit") == 0)
				running = 0;
			else
				send_input(&v);
		} else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
			/* drop one UTF-8 character */
			while (v.ilen && (v.input[v.ilen - 1] & 0xC0) == 0x80)
				v.input[--v.ilen] = 0;
			if (v.ilen)
				v.input[--v.ilen] = 0;
		} else if (ch == KEY_RESIZE) {
			clear();
		} else if (ch >= 32 && ch < 256 && ch != 127 && v.ilen + 1 < INPUT_MAX) {
			v.input[v.ilen++] = (char)ch;
			v.input[v.ilen] = 0;
		}
		/* whatever arrived meanwhile */
		json_t *p;
		while ((p = casus_next_push(c, 0)) != NULL || (p = casus_next_push(c, 1)) != NULL) {
			const char *kind = json_string_value(json_object_get(p, "push"));
			if (kind && strcmp(kind, "msg") == 0) {
				const char *pc = json_string_value(json_object_get(p, "casus"));
				json_t *o = NULL;
				if (pc && strcmp(pc, casus_hex) == 0 && casus_decode_push(c, p, &o) == CASUS_OK) {
					add_msg(&v, o);
					json_decref(o);
				}
			} else if (kind && strcmp(kind, "commit") == 0) {
				casus_refresh(c, casus_hex);
				reload(&v);
				add_line(&v, "-- membership or level changed; keys rotated --", 0);
			} else if (kind && strcmp(kind, "removed") == 0) {
				add_line(&v, "-- you were removed from this casus --", 1);
				snprintf(v.status, sizeof v.status, "removed");
			}
			json_decref(p);
		}
	}
	endwin();
	for (size_t i = 0; i < v.nlines; i++)
		free(v.lines[i]);
	json_decref(v.members);
	json_decref(v.auds);
	return 0;
}
