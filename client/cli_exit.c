/*
 * cli_exit.c: the exit-code table of the `casus` command (see cli_exit.h)
 * and the mapping from libcasus errors to it.
 */
#include "cli_exit.h"
#include "libcasus.h"

#include <string.h>

static const struct {
	int code;
	const char *kind;
	const char *nl;
	const char *en;
} rows[] = {
	{CLI_EXIT_OK, "ok", "gelukt", "done"},
	{CLI_EXIT_REFUSED, "refused", "geweigerd door het beleid of de server (de reden staat erbij)",
         "refused by the policy or the server (the reason is printed)"},
	{CLI_EXIT_USAGE, "usage", "verkeerd gebruik: argumenten, grond, publiek, een korte id die niet uniek is",
         "bad usage: arguments, missing ground, unknown audience, a short id that is not unique"},
	{CLI_EXIT_PROFILE, "profile", "profielmap of wachtwoord(bestand)", "profile folder or passphrase (file)"},
	{CLI_EXIT_NETWORK, "network", "server onbereikbaar en geen lokale kopie",
         "the server cannot be reached and there is no local copy"},
	{CLI_EXIT_VERIFY, "verify", "iets klopt niet (handtekening, keten): dit apparaat weigert",
         "something did not verify: refused by this device"},
	{CLI_EXIT_NOT_FOUND, "not_found", "casus, gebruiker of bericht bestaat niet", "no such casus, user or message"},
	{CLI_EXIT_QUEUED, "queued", "in de outbox; gaat mee bij de volgende verbinding",
         "kept in the outbox, sent on the next connect"},
	{CLI_EXIT_NOT_MEMBER, "not_member", "u bent (nog of niet meer) geen lid van deze casus",
         "you are not (or no longer) a member of this casus"},
	{CLI_EXIT_INTERNAL, "internal", "interne fout (graag melden)", "internal error (please report it)"},
};

int cli_exit_of(int casus_rc, const char *code, const char *message)
{
	if (casus_rc == CASUS_OK)
		return CLI_EXIT_OK;
	if (code && strcmp(code, "forbidden") == 0)
		return message && strstr(message, "not a member of this casus") ? CLI_EXIT_NOT_MEMBER
		                                                                : CLI_EXIT_REFUSED;
	if (code && strcmp(code, "not_found") == 0 && casus_rc == CASUS_E_SERVER)
		return CLI_EXIT_NOT_FOUND;
	switch (casus_rc) {
	case CASUS_E_USAGE:
		return CLI_EXIT_USAGE;
	case CASUS_E_PROFILE:
	case CASUS_E_PASSPHRASE:
		return CLI_EXIT_PROFILE;
	case CASUS_E_NETWORK:
		return CLI_EXIT_NETWORK;
	case CASUS_E_SERVER:
		return CLI_EXIT_REFUSED;
	case CASUS_E_VERIFY:
		return CLI_EXIT_VERIFY;
	case CASUS_E_NOT_FOUND:
		return CLI_EXIT_NOT_FOUND;
	case CASUS_E_QUEUED:
		return CLI_EXIT_QUEUED;
	default:
		return CLI_EXIT_INTERNAL;
	}
}

const char *cli_exit_kind(int exit_code)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		if (rows[i].code == exit_code)
			return rows[i].kind;
	return "internal";
}

void cli_exit_print(FILE *to)
{
	fprintf(to, "Exit codes / afsluitcodes:\n");
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
		fprintf(to, "  %d %-10s %s\n  %*s %s\n", rows[i].code, rows[i].kind, rows[i].nl, 12, "", rows[i].en);
}
