/* cli_args.c: "--name=value" into "--name" "value" (see cli_args.h). */
#include "cli_args.h"

#include <stdlib.h>
#include <string.h>

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Index of the '=' in "--name=value", or 0 if a is not of that form. */
static size_t eq_at(const char *a)
{
	if (strncmp(a, "--", 2) != 0 || !is_name_char(a[2]))
		return 0;
	for (size_t i = 2; a[i]; i++) {
		if (a[i] == '=')
			return i;
		if (!is_name_char(a[i]))
			return 0;
	}
	return 0;
}

int cli_args_expand(int argc, char **argv, int *out_argc, char ***out)
{
	char **v = calloc((size_t)argc * 2 + 1, sizeof *v);
	int n = 0, rest = 0;
	if (!v)
		return -1;
	for (int i = 0; i < argc; i++) {
		size_t e = rest || i == 0 ? 0 : eq_at(argv[i]);
		if (!rest && strcmp(argv[i], "--") == 0)
			rest = 1;
		if (e) {
			argv[i][e] = '\0';
			v[n++] = argv[i];
			v[n++] = argv[i] + e + 1;
		} else {
			v[n++] = argv[i];
		}
	}
	v[n] = NULL;
	*out_argc = n;
	*out = v;
	return 0;
}

const char *cli_opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

int cli_flag(int argc, char **argv, const char *name)
{
	for (int i = 0; i < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return 1;
	return 0;
}
