/* cli_agenda.h: `casus agenda`, `casus afspraak`, `casus afspraken` and
 * `casus meldingen` (procesregie; see cli_agenda.c). */
#ifndef CASUS_CLI_AGENDA_H
#define CASUS_CLI_AGENDA_H

#include "libcasus.h"

/* 1 if cmd is one of this file's commands (or an English alias). */
int cli_agenda_is(const char *cmd);
/* Run it; needs an open client. Returns an exit code (cli_exit.h). */
int cli_agenda(casus_client *c, const char *cmd, int argc, char **argv, int json);

#endif
