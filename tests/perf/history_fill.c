/*
 * history_fill.c: posts N notes of SIZE bytes into a casus through libcasus
 * over one connection, as the `casus post` command does (encrypted, signed,
 * outbox, durable ack). Used by tests/perf/history_bench.py, which compiles
 * it against the build's libraries; not part of the product.
 *
 *   history_fill PROFILE CASUS N SIZE   (passphrase from CASUS_PASSPHRASE_FILE)
 */
#include <libcasus.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: history_fill PROFILE CASUS N SIZE\n");
		return 2;
	}
	const char *pf = getenv("CASUS_PASSPHRASE_FILE");
	char pass[256] = {0};
	FILE *f = pf ? fopen(pf, "r") : NULL;
	if (!f || !fgets(pass, sizeof pass, f)) {
		fprintf(stderr, "history_fill: no passphrase (CASUS_PASSPHRASE_FILE)\n");
		return 2;
	}
	fclose(f);
	pass[strcspn(pass, "\r\n")] = 0;
	long n = atol(argv[3]), size = atol(argv[4]);
	if (n < 1 || size < 32 || size > 60000)
		return 2;
	char err[512];
	casus_client *c = NULL;
	if (casus_client_open(&c, argv[1], pass, strlen(pass), err, sizeof err) != CASUS_OK) {
		fprintf(stderr, "history_fill: %s\n", err);
		return 1;
	}
	if (casus_client_connect(c) != CASUS_OK) {
		fprintf(stderr, "history_fill: %s\n", casus_error(c));
		return 1;
	}
	char *text = malloc((size_t)size + 1);
	if (!text)
		return 1;
	for (long i = 0; i < n; i++) {
		memset(text, 'x', (size_t)size);
		text[size] = 0;
		int w = snprintf(text, (size_t)size, "bench message %ld ", i);
		text[w] = ' ';
		uint64_t seq = 0;
		char mid[33];
		int rc = casus_post(c, argv[2], NULL, NULL, text, &seq, mid);
		if (rc != CASUS_OK) {
			fprintf(stderr, "history_fill: post %ld: %s\n", i, casus_error(c));
			return 1;
		}
	}
	free(text);
	casus_client_free(c);
	return 0;
}
