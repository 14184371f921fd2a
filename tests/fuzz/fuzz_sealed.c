/*
 * fuzz_sealed.c: libFuzzer driver for the reader of device-local sealed files
 * (sealed_read, client/sealed.c): the local cache and outbox, which anyone with
 * access to the profile folder can replace.
 *
 * The first input byte picks the case:
 *   even  the rest is the file as found on disk: sealed_read answers 0 or -2
 *         (never -1: the file exists), and on 0 the plaintext is NUL-terminated
 *         and shorter than the file;
 *   odd   the rest is plaintext, sealed here by the file layout of sealed.h
 *         under the driver's key: sealed_read gives it back byte for byte, and
 *         refuses it (-2) under another binding string.
 * The file lives in a memfd (no disk), opened by its /proc/self/fd path.
 */
#define _GNU_SOURCE /* memfd_create */
#include "sealed.h"

#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAGIC "CASUSLC1"
#define AD "CASUSLC1fuzz\0bind" /* magic || purpose || 0 || bind, as in sealed.c */

/* The key of the seed corpus (mkseeds_client.c): 32 bytes 0x5A. */
static uint8_t g_key[SEALED_KEY_BYTES];

static void put_file(int fd, const uint8_t *p, size_t n)
{
	if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0)
		abort();
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w <= 0)
			abort();
		p += w;
		n -= (size_t)w;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	uint8_t *pt = NULL;
	size_t n = 0;

	if (fd < 0) {
		if (sodium_init() < 0)
			abort();
		memset(g_key, 0x5A, sizeof g_key);
		fd = memfd_create("fuzz_sealed", MFD_CLOEXEC);
		if (fd < 0)
			abort();
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	if (size == 0 || size - 1 > 1u << 20)
		return 0;
	const uint8_t *body = data + 1;
	size_t blen = size - 1;

	if ((data[0] & 1) == 0) {
		put_file(fd, body, blen);
		int rc = sealed_read(path, g_key, "fuzz", "bind", &pt, &n);
		if (rc != 0 && rc != -2)
			abort();
		if (rc == 0 && (n >= blen || pt[n] != 0))
			abort();
		if (rc != 0 && pt)
			abort();
		sealed_free(pt, n + 1);
		return 0;
	}

	size_t total =
		8 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES + blen + crypto_aead_xchacha20poly1305_ietf_ABYTES;
	uint8_t *file = malloc(total);
	unsigned long long cl = 0;
	if (!file)
		abort();
	memcpy(file, MAGIC, 8);
	memset(file + 8, 0x11, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(file + 8 + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &cl, body,
	                                           blen, (const uint8_t *)AD, sizeof AD - 1, NULL, file + 8, g_key);
	put_file(fd, file, total);
	free(file);
	if (sealed_read(path, g_key, "fuzz", "bind", &pt, &n) != 0 || n != blen || memcmp(pt, body, blen) != 0 ||
	    pt[n] != 0)
		abort();
	sealed_free(pt, n + 1);
	pt = NULL;
	if (sealed_read(path, g_key, "fuzz", "bin", &pt, &n) != -2 || pt)
		abort();
	return 0;
}
