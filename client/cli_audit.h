/* cli_audit.h: `casus audit` subcommands (query online; verify/export/report offline). */
#ifndef CASUS_CLI_AUDIT_H
#define CASUS_CLI_AUDIT_H

#include "libcasus.h"

/* Online: needs an authenticated client. Returns an exit code. */
int cli_audit(casus_client *c, int argc, char **argv, int json);
/* 1 if the arguments name an offline subcommand (verify/report on files). */
int cli_audit_is_offline(int argc, char **argv);
int cli_audit_offline(int argc, char **argv, int json);

#endif
