/*
 * fileio.h: the two file operations every casus program needs, written once.
 *
 * fio_read reads a whole (small) file: keys, certificates, policies, caches.
 * fio_write_atomic replaces a file so that a crash leaves either the old or the
 * new content, never a torn one: temporary file in the same folder, fsync,
 * rename, fsync of the folder.
 */
#ifndef CASUS_FILEIO_H
#define CASUS_FILEIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The file's bytes in a malloc'd buffer the caller frees (an extra NUL byte
 * follows the content, so text can be used as a string). NULL if the file
 * cannot be read or is larger than max bytes (errno EFBIG). */
uint8_t *fio_read(const char *path, size_t max, size_t *len);

/* 0, or -1 with errno set; the old file is untouched on failure. */
int fio_write_atomic(const char *path, const void *p, size_t n, mode_t mode);

#endif
