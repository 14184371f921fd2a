/*
 * cc_keystore.c: passphrase-protected file of named secrets (see cc_keystore.h
 * for the file layout and the lifetime rules).
 *
 * In memory a keystore is one sodium_malloc'd blob holding, per entry, the
 * name, a NUL and the value, plus an index (name pointer, value pointer,
 * length) sorted by name. Every mutation builds a new blob and frees (wipes)
 * the old one, which is why pointers returned by get are only valid until the
 * next mutation.
 *
 * Key derivation: key = crypto_pwhash(32, passphrase, salt, opslimit,
 * memlimit, ALG_ARGON2ID13); AEAD = XChaCha20-Poly1305-IETF with the 62-byte
 * header (magic through ciphertext length) as additional data.
 */
#include "cc_keystore.h"
#include "cc_buf.h"
#include "cc_err.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KS_ALG_ARGON2ID13 1
#define KS_KEY_BYTES crypto_aead_xchacha20poly1305_ietf_KEYBYTES
#define KS_TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
static const uint8_t KS_MAGIC[4] = {'C', 'C', 'K', 'S'};

typedef struct ks_entry {
	const char *name;   /* into blob, NUL-terminated */
	const uint8_t *val; /* into blob */
	size_t len;
} ks_entry;

struct cc_keystore {
	uint8_t *blob; /* sodium_malloc'd; NULL when empty */
	ks_entry *idx; /* malloc'd, sorted by name */
	size_t count;
	unsigned long long opslimit;
	size_t memlimit;
};

static int name_ok(const char *name, size_t n)
{
	if (n == 0 || n > CC_KEYSTORE_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x21 || (unsigned char)name[i] > 0x7e)
			return 0;
	return 1;
}

static int limits_ok(unsigned long long ops, unsigned long long mem)
{
	return ops >= crypto_pwhash_argon2id_OPSLIMIT_MIN && ops <= CC_KEYSTORE_OPSLIMIT_CAP &&
	       mem >= crypto_pwhash_argon2id_MEMLIMIT_MIN && mem <= CC_KEYSTORE_MEMLIMIT_CAP;
}

int cc_keystore_new(cc_keystore **out)
{
	cc_keystore *ks = NULL;
	if (!out)
		return CC_ERR_INVALID_ARG;
	*out = NULL;
	if (sodium_init() < 0)
		return CC_ERR_CRYPTO;
	ks = calloc(1, sizeof *ks);
	if (!ks)
		return CC_ERR_NOMEM;
	ks->opslimit = crypto_pwhash_argon2id_OPSLIMIT_MODERATE;
	ks->memlimit = crypto_pwhash_argon2id_MEMLIMIT_MODERATE;
	*out = ks;
	return CC_OK;
}

int cc_keystore_set_limits(cc_keystore *ks, unsigned long long opslimit, size_t memlimit)
{
	if (!ks || !limits_ok(opslimit, memlimit))
		return CC_ERR_INVALID_ARG;
	ks->opslimit = opslimit;
	ks->memlimit = memlimit;
	return CC_OK;
}

void cc_keystore_get_limits(const cc_keystore *ks, unsigned long long *opslimit, size_t *memlimit)
{
	if (!ks)
		return;
	if (opslimit)
		*opslimit = ks->opslimit;
	if (memlimit)
		*memlimit = ks->memlimit;
}

void cc_keystore_free(cc_keystore *ks)
{
	if (!ks)
		return;
	if (ks->blob)
		sodium_free(ks->blob);
	free(ks->idx);
	sodium_memzero(ks, sizeof *ks);
	free(ks);
}

/* Replace ks's contents by the entries in src (which may point into the old
 * blob): copy into a fresh blob first, then wipe and free the old one. */
static int ks_rebuild(cc_keystore *ks, const ks_entry *src, size_t count)
{
	uint8_t *blob = NULL;
	ks_entry *idx = NULL;
	size_t total = 0, at = 0;

	for (size_t i = 0; i < count; i++) {
		size_t need = strlen(src[i].name) + 1 + src[i].len;
		if (need > SIZE_MAX - total)
			return CC_ERR_TOO_LARGE;
		total += need;
	}
	if (count) {
		blob = sodium_malloc(total);
		idx = calloc(count, sizeof *idx);
		if (!blob || !idx) {
			if (blob)
				sodium_free(blob);
			free(idx);
			return CC_ERR_NOMEM;
		}
	}
	for (size_t i = 0; i < count; i++) {
		size_t nl = strlen(src[i].name) + 1;
		memcpy(blob + at, src[i].name, nl);
		idx[i].name = (const char *)(blob + at);
		at += nl;
		if (src[i].len)
			memcpy(blob + at, src[i].val, src[i].len);
		idx[i].val = blob + at;
		idx[i].len = src[i].len;
		at += src[i].len;
	}
	if (ks->blob)
		sodium_free(ks->blob);
	free(ks->idx);
	ks->blob = blob;
	ks->idx = idx;
	ks->count = count;
	return CC_OK;
}

/* Index of name, or the insertion point with *found = 0. */
static size_t ks_find(const cc_keystore *ks, const char *name, int *found)
{
	size_t lo = 0, hi = ks->count;
	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(ks->idx[mid].name, name);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int cc_keystore_get(const cc_keystore *ks, const char *name, const uint8_t **val, size_t *len)
{
	int found;
	size_t i;
	if (val)
		*val = NULL;
	if (len)
		*len = 0;
	if (!ks || !name || !val || !len)
		return CC_ERR_INVALID_ARG;
	i = ks_find(ks, name, &found);
	if (!found)
		return CC_ERR_NOT_FOUND;
	*val = ks->idx[i].val;
	*len = ks->idx[i].len;
	return CC_OK;
}

int cc_keystore_put(cc_keystore *ks, const char *name, const uint8_t *val, size_t len)
{
	ks_entry *tmp = NULL;
	size_t i;
	int found, rc;

	if (!ks || !name || (!val && len))
		return CC_ERR_INVALID_ARG;
	if (!name_ok(name, strnlen(name, CC_KEYSTORE_NAME_MAX + 1)))
		return CC_ERR_INVALID_ARG;
	if (len > CC_KEYSTORE_VALUE_MAX)
		return CC_ERR_TOO_LARGE;
	i = ks_find(ks, name, &found);
	if (!found && ks->count >= CC_KEYSTORE_MAX_ENTRIES)
		return CC_ERR_TOO_LARGE;
	tmp = calloc(ks->count + 1, sizeof *tmp);
	if (!tmp)
		return CC_ERR_NOMEM;
	if (ks->count)
		memcpy(tmp, ks->idx, i * sizeof *tmp);
	tmp[i].name = name;
	tmp[i].val = val;
	tmp[i].len = len;
	if (ks->count) {
		size_t rest = ks->count - i - (found ? 1u : 0u);
		memcpy(tmp + i + 1, ks->idx + i + (found ? 1 : 0), rest * sizeof *tmp);
	}
	rc = ks_rebuild(ks, tmp, ks->count + (found ? 0u : 1u));
	free(tmp);
	return rc;
}

int cc_keystore_del(cc_keystore *ks, const char *name)
{
	ks_entry *tmp = NULL;
	size_t i;
	int found, rc;

	if (!ks || !name)
		return CC_ERR_INVALID_ARG;
	i = ks_find(ks, name, &found);
	if (!found)
		return CC_ERR_NOT_FOUND;
	if (ks->count > 1) {
		tmp = calloc(ks->count - 1, sizeof *tmp);
		if (!tmp)
			return CC_ERR_NOMEM;
		memcpy(tmp, ks->idx, i * sizeof *tmp);
		memcpy(tmp + i, ks->idx + i + 1, (ks->count - i - 1) * sizeof *tmp);
	}
	rc = ks_rebuild(ks, tmp, ks->count - 1);
	free(tmp);
	return rc;
}

size_t cc_keystore_count(const cc_keystore *ks)
{
	return ks ? ks->count : 0;
}

const char *cc_keystore_name(const cc_keystore *ks, size_t i)
{
	if (!ks || i >= ks->count)
		return NULL;
	return ks->idx[i].name;
}

/* ---- body ---------------------------------------------------------------- */

int cc_keystore_body_decode(const uint8_t *p, size_t n, cc_keystore **out)
{
	cc_keystore *ks = NULL;
	ks_entry *tmp = NULL;
	char *names = NULL; /* NUL-terminated copies of the names (decrypted content: guarded) */
	cc_rbuf r;
	uint32_t count;
	int rc;

	if (!out)
		return CC_ERR_INVALID_ARG;
	*out = NULL;
	cc_r_init(&r, p, n);
	count = cc_r_u32(&r);
	if (r.err)
		return r.err;
	if (count > CC_KEYSTORE_MAX_ENTRIES)
		return CC_ERR_TOO_LARGE;
	/* Each entry takes at least 2 + 1 + 4 bytes: cap before allocating. */
	if ((size_t)count > cc_r_left(&r) / 7)
		return CC_ERR_TRUNCATED;
	if ((rc = cc_keystore_new(&ks)) != CC_OK)
		goto out;
	if (count) {
		tmp = calloc(count, sizeof *tmp);
		names = sodium_malloc((size_t)count * (CC_KEYSTORE_NAME_MAX + 1));
		if (!tmp || !names) {
			rc = CC_ERR_NOMEM;
			goto out;
		}
	}
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *np, *vp;
		size_t nl, vl;
		char *nm = names + (size_t)i * (CC_KEYSTORE_NAME_MAX + 1);
		cc_r_var16(&r, &np, &nl, CC_KEYSTORE_NAME_MAX);
		cc_r_var32(&r, &vp, &vl, CC_KEYSTORE_VALUE_MAX);
		if (r.err) {
			rc = r.err;
			goto out;
		}
		if (!name_ok((const char *)np, nl)) {
			rc = CC_ERR_MALFORMED;
			goto out;
		}
		memcpy(nm, np, nl);
		nm[nl] = '\0';
		if (i > 0 && strcmp(tmp[i - 1].name, nm) >= 0) {
			rc = CC_ERR_MALFORMED; /* unsorted or duplicate: not canonical */
			goto out;
		}
		tmp[i].name = nm;
		tmp[i].val = vp;
		tmp[i].len = vl;
	}
	if ((rc = cc_r_finish(&r)) != CC_OK)
		goto out;
	if ((rc = ks_rebuild(ks, tmp, count)) != CC_OK)
		goto out;
	*out = ks;
	ks = NULL;
out:
	free(tmp);
	if (names)
		sodium_free(names);
	cc_keystore_free(ks);
	return rc;
}

static int body_encode(const cc_keystore *ks, cc_wbuf *w)
{
	cc_w_u32(w, (uint32_t)ks->count);
	for (size_t i = 0; i < ks->count; i++) {
		cc_w_str(w, ks->idx[i].name);
		cc_w_var32(w, ks->idx[i].val, ks->idx[i].len);
	}
	return w->err;
}

/* ---- header and encryption ---------------------------------------------- */

int cc_keystore_header_decode(const uint8_t *p, size_t n, cc_keystore_header *h)
{
	cc_keystore_header t;
	cc_rbuf r;
	uint8_t m[4];

	if (!h)
		return CC_ERR_INVALID_ARG;
	memset(h, 0, sizeof *h);
	memset(&t, 0, sizeof t);
	if (n > CC_KEYSTORE_FILE_MAX)
		return CC_ERR_TOO_LARGE;
	cc_r_init(&r, p, n);
	cc_r_fixed(&r, m, sizeof m);
	if (r.err)
		return r.err;
	if (memcmp(m, KS_MAGIC, sizeof m) != 0)
		return CC_ERR_VERSION;
	t.version = cc_r_u8(&r);
	if (r.err)
		return r.err;
	if (t.version != CC_KEYSTORE_VERSION)
		return CC_ERR_VERSION;
	t.alg = cc_r_u8(&r);
	if (r.err)
		return r.err;
	if (t.alg != KS_ALG_ARGON2ID13)
		return CC_ERR_VERSION;
	t.opslimit = cc_r_u64(&r);
	t.memlimit = cc_r_u64(&r);
	cc_r_fixed(&r, t.salt, sizeof t.salt);
	cc_r_fixed(&r, t.nonce, sizeof t.nonce);
	t.ct_len = cc_r_u32(&r);
	if (r.err)
		return r.err;
	if (!limits_ok(t.opslimit, t.memlimit))
		return CC_ERR_MALFORMED;
	if (t.ct_len < KS_TAG_BYTES)
		return CC_ERR_MALFORMED;
	if (cc_r_left(&r) < t.ct_len)
		return CC_ERR_TRUNCATED;
	if (cc_r_left(&r) > t.ct_len)
		return CC_ERR_TRAILING;
	*h = t;
	return CC_OK;
}

static void header_encode(const cc_keystore_header *h, cc_wbuf *w)
{
	cc_w_fixed(w, KS_MAGIC, sizeof KS_MAGIC);
	cc_w_u8(w, h->version);
	cc_w_u8(w, h->alg);
	cc_w_u64(w, h->opslimit);
	cc_w_u64(w, h->memlimit);
	cc_w_fixed(w, h->salt, sizeof h->salt);
	cc_w_fixed(w, h->nonce, sizeof h->nonce);
	cc_w_u32(w, h->ct_len);
}

static int derive_key(uint8_t key[KS_KEY_BYTES], const char *pass, size_t passlen, const cc_keystore_header *h)
{
	if (crypto_pwhash(key, KS_KEY_BYTES, pass, passlen, h->salt, h->opslimit, (size_t)h->memlimit,
	                  crypto_pwhash_ALG_ARGON2ID13) != 0)
		return CC_ERR_NOMEM; /* Argon2 fails only when it cannot get its memory */
	return CC_OK;
}

int cc_keystore_save_mem(const cc_keystore *ks, const char *pass, size_t passlen, uint8_t **out, size_t *outlen)
{
	cc_keystore_header h;
	cc_wbuf body, file;
	uint8_t key[KS_KEY_BYTES];
	uint8_t *ct = NULL;
	unsigned long long ctlen = 0;
	int rc;

	if (out)
		*out = NULL;
	if (outlen)
		*outlen = 0;
	if (!ks || !out || !outlen || !pass || passlen == 0)
		return CC_ERR_INVALID_ARG;
	cc_w_init_secret(&body);
	cc_w_init(&file);
	memset(&h, 0, sizeof h);
	if ((rc = body_encode(ks, &body)) != CC_OK)
		goto out;
	if (body.len > CC_KEYSTORE_FILE_MAX - CC_KEYSTORE_HEADER_BYTES - KS_TAG_BYTES) {
		rc = CC_ERR_TOO_LARGE;
		goto out;
	}
	h.version = CC_KEYSTORE_VERSION;
	h.alg = KS_ALG_ARGON2ID13;
	h.opslimit = ks->opslimit;
	h.memlimit = ks->memlimit;
	randombytes_buf(h.salt, sizeof h.salt);
	randombytes_buf(h.nonce, sizeof h.nonce);
	h.ct_len = (uint32_t)(body.len + KS_TAG_BYTES);
	header_encode(&h, &file);
	if (file.err) {
		rc = file.err;
		goto out;
	}
	if ((rc = derive_key(key, pass, passlen, &h)) != CC_OK)
		goto out;
	/* Reserve room for the ciphertext after the header, then encrypt in place. */
	{
		size_t hlen = file.len;
		static const uint8_t zero[256];
		size_t left = h.ct_len;
		while (left) {
			size_t k = left < sizeof zero ? left : sizeof zero;
			cc_w_fixed(&file, zero, k);
			left -= k;
		}
		if (file.err) {
			rc = file.err;
			goto out;
		}
		ct = file.p + hlen;
		if (crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &ctlen, body.p, body.len, file.p, hlen, NULL,
		                                               h.nonce, key) != 0 ||
		    ctlen != h.ct_len) {
			rc = CC_ERR_CRYPTO;
			goto out;
		}
	}
	*out = file.p;
	*outlen = file.len;
	file.p = NULL; /* ownership moves to the caller */
	file.len = file.cap = 0;
	rc = CC_OK;
out:
	sodium_memzero(key, sizeof key);
	cc_w_free(&body);
	cc_w_free(&file);
	return rc;
}

int cc_keystore_open_mem(const uint8_t *p, size_t n, const char *pass, size_t passlen, cc_keystore **out)
{
	cc_keystore_header h;
	cc_keystore *ks = NULL;
	uint8_t key[KS_KEY_BYTES];
	uint8_t *pt = NULL;
	size_t ptlen = 0;
	unsigned long long got = 0;
	int rc;

	if (out)
		*out = NULL;
	if (!p || !out || !pass || passlen == 0)
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_keystore_header_decode(p, n, &h)) != CC_OK)
		return rc;
	if ((rc = derive_key(key, pass, passlen, &h)) != CC_OK)
		goto out;
	ptlen = h.ct_len - KS_TAG_BYTES;
	pt = sodium_malloc(ptlen ? ptlen : 1);
	if (!pt) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt(pt, &got, NULL, p + CC_KEYSTORE_HEADER_BYTES, h.ct_len, p,
	                                               CC_KEYSTORE_HEADER_BYTES, h.nonce, key) != 0 ||
	    got != ptlen) {
		rc = CC_ERR_PASSPHRASE;
		goto out;
	}
	/* Authenticated, so a body that does not parse was written by a broken
	 * program rather than an attacker; report it as damage all the same. */
	if ((rc = cc_keystore_body_decode(pt, ptlen, &ks)) != CC_OK) {
		rc = CC_ERR_MALFORMED;
		goto out;
	}
	ks->opslimit = h.opslimit;
	ks->memlimit = (size_t)h.memlimit;
	*out = ks;
	ks = NULL;
	rc = CC_OK;
out:
	sodium_memzero(key, sizeof key);
	if (pt)
		sodium_free(pt);
	cc_keystore_free(ks);
	return rc;
}

/* ---- files ---------------------------------------------------------------- */

int cc_keystore_open(const char *path, const char *pass, size_t passlen, cc_keystore **out)
{
	struct stat st;
	uint8_t *buf = NULL;
	size_t have = 0;
	int fd = -1, rc, saved;

	if (out)
		*out = NULL;
	if (!path || !out)
		return CC_ERR_INVALID_ARG;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return CC_ERR_IO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		rc = CC_ERR_IO;
		goto out;
	}
	if ((unsigned long long)st.st_size > CC_KEYSTORE_FILE_MAX) {
		rc = CC_ERR_TOO_LARGE;
		goto out;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	while (have < (size_t)st.st_size) {
		ssize_t k = read(fd, buf + have, (size_t)st.st_size - have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			rc = k == 0 ? CC_ERR_TRUNCATED : CC_ERR_IO;
			goto out;
		}
		have += (size_t)k;
	}
	rc = cc_keystore_open_mem(buf, have, pass, passlen, out);
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	free(buf);
	errno = saved;
	return rc;
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

int cc_keystore_save(const cc_keystore *ks, const char *path, const char *pass, size_t passlen)
{
	uint8_t *file = NULL;
	size_t flen = 0, plen;
	char *tmp = NULL, *dir = NULL;
	int fd = -1, dfd = -1, rc, saved = 0, tmp_made = 0;

	if (!ks || !path || !*path)
		return CC_ERR_INVALID_ARG;
	if ((rc = cc_keystore_save_mem(ks, pass, passlen, &file, &flen)) != CC_OK)
		return rc;
	plen = strlen(path);
	tmp = malloc(plen + sizeof ".tmp-XXXXXX");
	dir = malloc(plen + 2);
	if (!tmp || !dir) {
		rc = CC_ERR_NOMEM;
		goto out;
	}
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp-XXXXXX", sizeof ".tmp-XXXXXX");
	{
		const char *slash = strrchr(path, '/');
		if (!slash) {
			memcpy(dir, ".", 2);
		} else if (slash == path) {
			memcpy(dir, "/", 2);
		} else {
			memcpy(dir, path, (size_t)(slash - path));
			dir[slash - path] = '\0';
		}
	}
	rc = CC_ERR_IO;
	fd = mkstemp(tmp); /* creates with mode 0600 */
	if (fd < 0)
		goto out;
	tmp_made = 1;
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0 || fchmod(fd, S_IRUSR | S_IWUSR) != 0)
		goto out;
	if (write_all(fd, file, flen) != 0 || fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto out;
	tmp_made = 0;
	/* Make the rename itself durable. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0)
		goto out;
	rc = CC_OK;
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp_made)
		unlink(tmp);
	free(tmp);
	free(dir);
	free(file);
	errno = saved;
	return rc;
}
