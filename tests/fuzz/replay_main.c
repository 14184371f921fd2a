/*
 * replay_main.c: runs a libFuzzer driver's seed corpus as an ordinary test.
 * Usage: fuzz_X DIR... Every regular file under each DIR is fed once to
 * LLVMFuzzerTestOneInput; a crash or sanitizer report fails the test. An empty
 * or missing corpus fails too, so a forgotten seed folder cannot pass silently.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int main(int argc, char **argv);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	uint8_t *buf = malloc(1 << 20);
	if (!buf) {
		fclose(f);
		return -1;
	}
	size_t n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	unsigned count = 0;
	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		if (!d) {
			fprintf(stderr, "replay: cannot open %s\n", argv[i]);
			return 1;
		}
		struct dirent *e;
		while ((e = readdir(d))) {
			char path[4096];
			struct stat st;
			snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
			if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
				if (run_file(path) == 0)
					count++;
			}
		}
		closedir(d);
	}
	printf("replayed %u seeds\n", count);
	printf("%u passed, 0 failed\n", count);
	return count ? 0 : 1;
}
