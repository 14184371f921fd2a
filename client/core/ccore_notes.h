/*
 * ccore_notes.h: the structured note kinds of a casus (procesregie, issue 20):
 * an agenda entry of the case conference and an agreed action (afspraak).
 *
 * Every note is end-to-end encrypted; its plaintext body is the JSON object
 *   {"v": 1, "kind": KIND, "text": TEXT, "data": DATA}
 * where TEXT is always a readable Dutch sentence (a client that does not know
 * the kind shows it as a note) and DATA is present for these kinds only:
 *
 *   kind "agenda":   {"agenda": HEX32, "date": UTC seconds, "place": "1..200 bytes",
 *                     "disclosed": bool}
 *   kind "afspraak": {"action": HEX32, "what": "1..500 bytes", "who": USER ID,
 *                     "due": UTC seconds, "done": bool, "disclosed": bool}
 *
 * HEX32 is an opaque random id (32 lowercase hex digits). "disclosed" says
 * whether the author also told the server the date (agenda.plan) or the due
 * date and done flag (action.disclose): content-free facts the server uses
 * for notices and the overdue signal. An action is changed (done, a new due
 * date) by a later "afspraak" note with the same id: the newest one in the
 * casus's order counts (ccore_actions_fold).
 *
 * Sans-I/O like the rest of the core: no clock, no files.
 */
#ifndef CASUS_CCORE_NOTES_H
#define CASUS_CCORE_NOTES_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define CCORE_NOTE_PLACE_MAX 200
#define CCORE_NOTE_WHAT_MAX 500

/* CCORE_OK if data is well formed for kind ("agenda", "afspraak"); for any
 * other kind data must be absent (NULL). CCORE_E_INVALID otherwise. */
int ccore_note_check(const char *kind, const json_t *data);

/* The data of a new note (new reference), or NULL if an argument is not
 * valid. id: 16 bytes, hex-encoded into the data. */
json_t *ccore_note_agenda(const uint8_t id[16], int64_t date, const char *place, int disclosed);
json_t *ccore_note_action(const uint8_t id[16], const char *what, const char *who, int64_t due, int done,
                          int disclosed);

/* The readable text of a note of this kind (Dutch), into out. CCORE_OK or
 * CCORE_E_INVALID (data not well formed, or out too small). */
int ccore_note_text(const char *kind, const json_t *data, char *out, size_t n);

/* The agreed actions of a casus from its decrypted history (entries as
 * casus_history gives them: seq, time, kind, data, sender): per action id
 * the newest verified "afspraak" note, as
 *   [{action, what, who, due, done, disclosed, seq, time, by}] (by: the user
 * who wrote that newest note), in order of the action's first note.
 * New reference; never NULL. */
json_t *ccore_actions_fold(const json_t *history);

/* The overdue rule, one place for the CLI and the browser: each row of
 * actions (as ccore_actions_fold gives them) gets "overdue": not done and due
 * at or before now (UTC seconds; the caller reads the clock). */
void ccore_actions_mark_overdue(json_t *actions, int64_t now);

/* Dates: "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM" (UTC) to UTC seconds, and back
 * ("YYYY-MM-DD", or with " HH:MM" when the time is not midnight). 0 or -1. */
int ccore_date_parse(const char *s, int64_t *out);
void ccore_date_format(int64_t t, char out[20]);

#endif
