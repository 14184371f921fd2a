/*
 * cli_args.h: command-line conventions shared by casusd, casus and casus-admin.
 *
 * Every program accepts "--name=value" as well as "--name value". cli_args_expand
 * rewrites the first form into the second before the program's own parser runs,
 * so each parser only knows the two-word form.
 */
#ifndef CASUS_CLI_ARGS_H
#define CASUS_CLI_ARGS_H

/*
 * Split each argument of the form "--name=value" (name: lower-case letters,
 * digits and '-') into "--name" and "value". The strings of argv are edited in
 * place (the '=' becomes a terminator); the new argument array is malloc'd and
 * stored in *out (NULL-terminated, free with free()), its count in *out_argc.
 * Returns 0, or -1 if out of memory. Arguments after a lone "--" are left alone.
 */
int cli_args_expand(int argc, char **argv, int *out_argc, char ***out) __attribute__((warn_unused_result));

/*
 * The value after the first argument equal to name ("--audience"), or NULL if
 * name is absent or is the last argument. argv is borrowed; the result points
 * into it.
 */
const char *cli_opt(int argc, char **argv, const char *name);

/* 1 if an argument equals name ("--json"), else 0. */
int cli_flag(int argc, char **argv, const char *name);

#endif
