/* tui.h: the live case-conference view (`casus open CASUS`). */
#ifndef CASUS_TUI_H
#define CASUS_TUI_H

#include "libcasus.h"

/* Runs until the user leaves (Ctrl-D or /quit). Returns an exit code. */
int tui_run(casus_client *c, const char *casus_hex);

#endif
