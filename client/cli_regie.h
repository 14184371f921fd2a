/* cli_regie.h: `casus overzicht` and `casus monitor` (procesregie; see cli_regie.c). */
#ifndef CASUS_CLI_REGIE_H
#define CASUS_CLI_REGIE_H

#include "libcasus.h"

/* cmd is "overzicht" (or "overview") or "monitor"; needs an authenticated
 * client. Returns an exit code (0, 1 refused, 3 file, 4 network). */
int cli_regie(casus_client *c, const char *cmd, int argc, char **argv, int json);

#endif
