/*
 * sealed.c: device-local sealed files (see sealed.h).
 */
#include "sealed.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAGIC "CASUSLC1"
#define MAGIC_LEN 8
#define NONCE crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define ABYTES crypto_aead_xchacha20poly1305_ietf_ABYTES

void sealed_free(void *p, size_t n)
{
	if (!p)
		return;
	sodium_memzero(p, n);
	free(p);
}

/* additional data: magic || purpose || 0 || bind */
static unsigned char *make_ad(const char *purpose, const char *bind, size_t *len)
{
	size_t pl = strlen(purpose), bl = strlen(bind);
	unsigned char *ad = malloc(MAGIC_LEN + pl + 1 + bl);
	if (!ad)
		return NULL;
	memcpy(ad, MAGIC, MAGIC_LEN);
	memcpy(ad + MAGIC_LEN, purpose, pl);
	ad[MAGIC_LEN + pl] = 0;
	memcpy(ad + MAGIC_LEN + pl + 1, bind, bl);
	*len = MAGIC_LEN + pl + 1 + bl;
	return ad;
}

int sealed_write(const char *path, const uint8_t key[SEALED_KEY_BYTES], const char *purpose, const char *bind,
                 const uint8_t *pt, size_t n, int sync)
{
	if (n > SEALED_MAX) {
		errno = EINVAL;
		return -1;
	}
	size_t adl = 0;
	unsigned char *ad = make_ad(purpose, bind, &adl);
	size_t total = MAGIC_LEN + NONCE + n + ABYTES;
	unsigned char *buf = malloc(total);
	if (!ad || !buf) {
		free(ad);
		free(buf);
		errno = ENOMEM;
		return -1;
	}
	memcpy(buf, MAGIC, MAGIC_LEN);
	randombytes_buf(buf + MAGIC_LEN, NONCE);
	unsigned long long cl = 0;
	crypto_aead_xchacha20poly1305_ietf_encrypt(buf + MAGIC_LEN + NONCE, &cl, pt, n, ad, adl, NULL, buf + MAGIC_LEN,
	                                           key);
	free(ad);
	char tmp[1200];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp%ld", path, (long)getpid()) >= sizeof tmp) {
		free(buf);
		errno = ENAMETOOLONG;
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		free(buf);
		return -1;
	}
	int ok = write(fd, buf, total) == (ssize_t)total && (!sync || fsync(fd) == 0);
	close(fd);
	free(buf);
	if (!ok || rename(tmp, path) != 0) {
		int e = errno;
		unlink(tmp);
		errno = e;
		return -1;
	}
	return 0;
}

int sealed_read(const char *path, const uint8_t key[SEALED_KEY_BYTES], const char *purpose, const char *bind,
                uint8_t **pt, size_t *n)
{
	*pt = NULL;
	*n = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	struct stat sb;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode) || sb.st_size < (off_t)(MAGIC_LEN + NONCE + ABYTES) ||
	    (uint64_t)sb.st_size > (uint64_t)SEALED_MAX + MAGIC_LEN + NONCE + ABYTES) {
		close(fd);
		return -2;
	}
	size_t total = (size_t)sb.st_size;
	unsigned char *buf = malloc(total);
	size_t got = 0;
	while (buf && got < total) {
		ssize_t r = read(fd, buf + got, total - got);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (!buf || got != total || memcmp(buf, MAGIC, MAGIC_LEN) != 0) {
		free(buf);
		return -2;
	}
	size_t adl = 0;
	unsigned char *ad = make_ad(purpose, bind, &adl);
	size_t ctl = total - MAGIC_LEN - NONCE;
	unsigned char *out = malloc(ctl - ABYTES + 1);
	unsigned long long ml = 0;
	int rc = -2;
	if (ad && out &&
	    crypto_aead_xchacha20poly1305_ietf_decrypt(out, &ml, NULL, buf + MAGIC_LEN + NONCE, ctl, ad, adl,
	                                               buf + MAGIC_LEN, key) == 0) {
		out[ml] = 0;
		*pt = out;
		*n = (size_t)ml;
		out = NULL;
		rc = 0;
	}
	free(ad);
	free(buf);
	sealed_free(out, ctl - ABYTES + 1);
	return rc;
}
