/*
 * cli_exit.h: the one exit-code and error vocabulary of the `casus` command.
 *
 * Every command ends with one of these exit codes, and with --json every
 * error document carries the same word as "kind" next to the code of the
 * error ({"ok":false,"error":{"code","kind","message"}}). The table below is
 * the only place the codes are defined: `casus help` prints it, docs/CLIENT.md
 * and README.md copy it.
 *
 *   0 ok          done
 *   1 refused     refused by the policy or by the server (the reason is printed)
 *   2 usage       bad usage: wrong or missing arguments, missing ground,
 *                 unknown audience, a short id that is not unique
 *   3 profile     the profile folder or the passphrase (file)
 *   4 network     the server cannot be reached and there is no local copy
 *   5 verify      something did not verify: refused by this device
 *   6 not_found   no such casus, user or message
 *   7 queued      the post waits in the outbox, sent on the next connect
 *   8 not_member  you are not (or no longer) a member of this casus
 *   9 internal    a bug or out of memory (please report it)
 */
#ifndef CASUS_CLI_EXIT_H
#define CASUS_CLI_EXIT_H

#include <stdio.h>

enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_REFUSED = 1,
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_PROFILE = 3,
	CLI_EXIT_NETWORK = 4,
	CLI_EXIT_VERIFY = 5,
	CLI_EXIT_NOT_FOUND = 6,
	CLI_EXIT_QUEUED = 7,
	CLI_EXIT_NOT_MEMBER = 8,
	CLI_EXIT_INTERNAL = 9
};

/* The exit code for a libcasus return code (CASUS_OK or CASUS_E_*) and the
 * client's error code and message (casus_error_code, casus_error; either may
 * be NULL). A policy refusal ("forbidden") is 1 whether the server or this
 * device's copy of the policy said no; the server's "not a member" answer is
 * 8; a server "not_found" is 6. */
int cli_exit_of(int casus_rc, const char *code, const char *message);

/* The vocabulary word of an exit code ("refused", "usage", ...). */
const char *cli_exit_kind(int exit_code);

/* The table for `casus help`: one line per exit code, Dutch then English. */
void cli_exit_print(FILE *to);

#endif
