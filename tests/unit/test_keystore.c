/* test_keystore.c: the passphrase keystore: known answer, entries, file
 * round trip with mode 0600 and no leftover temporary files, wrong passphrase,
 * every flipped byte and every truncation of the file, hostile headers. */
#include "check.h"
#include "identity_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#define PASS "Tr0ub4dor&3 casus"

static cc_keystore *fast_keystore(void)
{
	cc_keystore *ks = NULL;
	CHECK_EQ_INT(cc_keystore_new(&ks), CC_OK);
	if (ks)
		CHECK_EQ_INT(cc_keystore_set_limits(ks, crypto_pwhash_argon2id_OPSLIMIT_MIN,
		                                    crypto_pwhash_argon2id_MEMLIMIT_MIN),
		             CC_OK);
	return ks;
}

static void test_kat(void)
{
	kat_set k;
	cc_keystore *ks = NULL;
	const uint8_t *v = NULL;
	size_t n = 0;
	uint8_t *file;

	CHECK_EQ_INT(kat_build(&k), CC_OK);
	CHECK(kat_matches("keystore", k.keystore, k.keystore_len));
	file = kat_read_hex("keystore", &n);
	CHECK(file != NULL);
	if (file) {
		CHECK_EQ_INT(cc_keystore_open_mem(file, n, KAT_PASSPHRASE, strlen(KAT_PASSPHRASE), &ks), CC_OK);
		CHECK_EQ_INT(cc_keystore_get(ks, "device", &v, &n), CC_OK);
		CHECK(n == k.dev_enc.len && v && sodium_memcmp(v, k.dev_enc.p, n) == 0);
		CHECK_EQ_INT(cc_keystore_get(ks, "root", &v, &n), CC_OK);
		CHECK(n == k.root_enc.len && v && sodium_memcmp(v, k.root_enc.p, n) == 0);
		cc_keystore_free(ks);
		free(file);
	}
	kat_free(&k);
}

static void test_entries(void)
{
	cc_keystore *ks = NULL;
	const uint8_t *v = NULL;
	size_t n = 0;
	unsigned long long ops = 0;
	size_t mem = 0;
	uint8_t big[300];

	CHECK_EQ_INT(cc_keystore_new(&ks), CC_OK);
	cc_keystore_get_limits(ks, &ops, &mem);
	CHECK(ops >= crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE);
	CHECK(mem >= crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE);
	CHECK_EQ_INT(cc_keystore_set_limits(ks, 0, mem), CC_ERR_INVALID_ARG);
	CHECK_EQ_INT(cc_keystore_set_limits(ks, ops, 1024), CC_ERR_INVALID_ARG);
	CHECK_EQ_INT(cc_keystore_set_limits(ks, CC_KEYSTORE_OPSLIMIT_CAP + 1, mem), CC_ERR_INVALID_ARG);

	CHECK_EQ_INT(cc_keystore_get(ks, "device", &v, &n), CC_ERR_NOT_FOUND);
	CHECK(v == NULL && n == 0);
	CHECK_EQ_INT(cc_keystore_put(ks, "device", (const uint8_t *)"abc", 3), CC_OK);
	CHECK_EQ_INT(cc_keystore_put(ks, "root", (const uint8_t *)"xyz!", 4), CC_OK);
	CHECK_EQ_INT(cc_keystore_put(ks, "epoch/c1/zorg/1", NULL, 0), CC_OK);
	CHECK_EQ_INT(cc_keystore_count(ks), 3);
	CHECK(strcmp(cc_keystore_name(ks, 0), "device") == 0);
	CHECK(strcmp(cc_keystore_name(ks, 1), "epoch/c1/zorg/1") == 0);
	CHECK(strcmp(cc_keystore_name(ks, 2), "root") == 0);
	CHECK(cc_keystore_name(ks, 3) == NULL);
	CHECK_EQ_INT(cc_keystore_get(ks, "root", &v, &n), CC_OK);
	CHECK(n == 4 && memcmp(v, "xyz!", 4) == 0);
	/* replace; the value may come from the keystore itself */
	for (unsigned i = 0; i < sizeof big; i++)
		big[i] = (uint8_t)i;
	CHECK_EQ_INT(cc_keystore_put(ks, "device", big, sizeof big), CC_OK);
	CHECK_EQ_INT(cc_keystore_get(ks, "device", &v, &n), CC_OK);
	CHECK(n == sizeof big && memcmp(v, big, n) == 0);
	CHECK_EQ_INT(cc_keystore_put(ks, "copy", v, n), CC_OK);
	CHECK_EQ_INT(cc_keystore_get(ks, "copy", &v, &n), CC_OK);
	CHECK(n == sizeof big && memcmp(v, big, n) == 0);
	CHECK_EQ_INT(cc_keystore_count(ks), 4);
	/* names */
	CHECK_EQ_INT(cc_keystore_put(ks, "", big, 1), CC_ERR_INVALID_ARG);
	CHECK_EQ_INT(cc_keystore_put(ks, "with space", big, 1), CC_ERR_INVALID_ARG);
	CHECK_EQ_INT(cc_keystore_put(ks, "tab\t", big, 1), CC_ERR_INVALID_ARG);
	{
		char longname[CC_KEYSTORE_NAME_MAX + 2];
		memset(longname, 'a', sizeof longname - 1);
		longname[sizeof longname - 1] = '\0';
		CHECK_EQ_INT(cc_keystore_put(ks, longname, big, 1), CC_ERR_INVALID_ARG);
		longname[CC_KEYSTORE_NAME_MAX] = '\0';
		CHECK_EQ_INT(cc_keystore_put(ks, longname, big, 1), CC_OK);
		CHECK_EQ_INT(cc_keystore_del(ks, longname), CC_OK);
	}
	CHECK_EQ_INT(cc_keystore_put(ks, "x", big, CC_KEYSTORE_VALUE_MAX + 1), CC_ERR_TOO_LARGE);
	CHECK_EQ_INT(cc_keystore_del(ks, "copy"), CC_OK);
	CHECK_EQ_INT(cc_keystore_del(ks, "copy"), CC_ERR_NOT_FOUND);
	CHECK_EQ_INT(cc_keystore_get(ks, "copy", &v, &n), CC_ERR_NOT_FOUND);
	CHECK_EQ_INT(cc_keystore_count(ks), 3);
	CHECK_EQ_INT(cc_keystore_del(ks, "device"), CC_OK);
	CHECK_EQ_INT(cc_keystore_del(ks, "root"), CC_OK);
	CHECK_EQ_INT(cc_keystore_del(ks, "epoch/c1/zorg/1"), CC_OK);
	CHECK_EQ_INT(cc_keystore_count(ks), 0);
	cc_keystore_free(ks);
	cc_keystore_free(NULL);
}

static void tmpdir_path(char *out, size_t cap, const char *name)
{
	const char *t = getenv("CASUS_TEST_TMP");
	char dir[900];
	snprintf(dir, sizeof dir, "%s/keystore-%ld", t ? t : "/tmp", (long)getpid());
	if (t)
		mkdir(t, 0700);
	mkdir(dir, 0700);
	snprintf(out, cap, "%s/%s", dir, name);
}

static unsigned count_dir(const char *path)
{
	char dir[1024];
	char *slash;
	DIR *d;
	struct dirent *e;
	unsigned n = 0;
	snprintf(dir, sizeof dir, "%s", path);
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	d = opendir(dir);
	if (!d)
		return 0;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_file(void)
{
	cc_keystore *ks = fast_keystore(), *back = NULL;
	cc_device_keys *dev = NULL, *dev2 = NULL;
	cc_wbuf w;
	char path[1024];
	struct stat st;
	const uint8_t *v;
	size_t n;
	uint8_t *mem = NULL;
	size_t memlen = 0;
	unsigned long long ops = 0;

	tmpdir_path(path, sizeof path, "device.keystore");
	unlink(path);
	CHECK_EQ_INT(cc_device_keys_generate(&dev), CC_OK);
	cc_w_init_secret(&w);
	CHECK_EQ_INT(cc_device_keys_encode(dev, &w), CC_OK);
	CHECK_EQ_INT(cc_keystore_put(ks, "device", w.p, w.len), CC_OK);
	CHECK_EQ_INT(cc_keystore_save(ks, path, PASS, strlen(PASS)), CC_OK);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK_EQ_INT(count_dir(path), 1); /* no temporary file left behind */
	/* save again over the existing file */
	CHECK_EQ_INT(cc_keystore_save(ks, path, PASS, strlen(PASS)), CC_OK);
	CHECK_EQ_INT(count_dir(path), 1);

	CHECK_EQ_INT(cc_keystore_open(path, PASS, strlen(PASS), &back), CC_OK);
	CHECK(back != NULL);
	if (back) {
		cc_keystore_get_limits(back, &ops, NULL);
		CHECK(ops == crypto_pwhash_argon2id_OPSLIMIT_MIN); /* kept from the file */
		CHECK_EQ_INT(cc_keystore_get(back, "device", &v, &n), CC_OK);
		CHECK_EQ_INT(cc_device_keys_decode(v, n, &dev2), CC_OK);
		CHECK(dev2 && sodium_memcmp(dev2->sign_sk, dev->sign_sk, CC_SIGN_SK_BYTES) == 0);
		cc_keystore_free(back);
		back = NULL;
	}
	/* wrong passphrase, including a prefix and one more character */
	CHECK_EQ_INT(cc_keystore_open(path, "tr0ub4dor&3 casus", strlen(PASS), &back), CC_ERR_PASSPHRASE);
	CHECK_EQ_INT(cc_keystore_open(path, PASS, strlen(PASS) - 1, &back), CC_ERR_PASSPHRASE);
	CHECK_EQ_INT(cc_keystore_open(path, PASS "x", strlen(PASS) + 1, &back), CC_ERR_PASSPHRASE);
	CHECK(back == NULL);
	CHECK_EQ_INT(cc_keystore_open(path, "", 0, &back), CC_ERR_INVALID_ARG);
	/* missing file */
	{
		char missing[1100];
		snprintf(missing, sizeof missing, "%s.missing", path);
		CHECK_EQ_INT(cc_keystore_open(missing, PASS, strlen(PASS), &back), CC_ERR_IO);
		CHECK_EQ_INT(errno, ENOENT);
	}
	/* saving into a directory that does not exist fails cleanly */
	{
		char nodir[1100];
		snprintf(nodir, sizeof nodir, "%s.d/none/ks", path);
		CHECK_EQ_INT(cc_keystore_save(ks, nodir, PASS, strlen(PASS)), CC_ERR_IO);
	}
	/* a corrupted file on disk */
	{
		FILE *f = fopen(path, "r+b");
		CHECK(f != NULL);
		if (f) {
			CHECK(fseek(f, 70, SEEK_SET) == 0);
			fputc(0x5a, f);
			fclose(f);
		}
		CHECK_EQ_INT(cc_keystore_open(path, PASS, strlen(PASS), &back), CC_ERR_PASSPHRASE);
	}

	/* every byte of the file matters; every truncation and an extra byte fail */
	CHECK_EQ_INT(cc_keystore_save_mem(ks, PASS, strlen(PASS), &mem, &memlen), CC_OK);
	CHECK(mem != NULL && memlen == CC_KEYSTORE_HEADER_BYTES + 4 + 2 + 6 + 4 + w.len + 16);
	if (mem) {
		uint8_t *b = malloc(memlen + 1);
		unsigned undetected = 0;
		for (size_t i = 0; b && i < memlen; i++) {
			int rc;
			memcpy(b, mem, memlen);
			b[i] ^= 0x01;
			rc = cc_keystore_open_mem(b, memlen, PASS, strlen(PASS), &back);
			if (rc == CC_OK) {
				undetected++;
				cc_keystore_free(back);
				back = NULL;
			}
			/* bytes 0..5 are magic, version, alg */
			if (i < 6)
				CHECK_EQ_INT(rc, CC_ERR_VERSION);
		}
		CHECK_EQ_INT(undetected, 0);
		for (size_t cut = 0; cut < memlen; cut++) {
			int rc = cc_keystore_open_mem(mem, cut, PASS, strlen(PASS), &back);
			CHECK(rc == CC_ERR_TRUNCATED);
		}
		if (b) {
			memcpy(b, mem, memlen);
			b[memlen] = 0;
			CHECK_EQ_INT(cc_keystore_open_mem(b, memlen + 1, PASS, strlen(PASS), &back), CC_ERR_TRAILING);
			/* hostile Argon2 limits are refused before deriving anything */
			memcpy(b, mem, memlen);
			b[6] = 0x01; /* opslimit 2^56 + 1 */
			CHECK_EQ_INT(cc_keystore_open_mem(b, memlen, PASS, strlen(PASS), &back), CC_ERR_MALFORMED);
			memcpy(b, mem, memlen);
			b[14] = 0x10; /* memlimit >= 2^60 */
			CHECK_EQ_INT(cc_keystore_open_mem(b, memlen, PASS, strlen(PASS), &back), CC_ERR_MALFORMED);
			memcpy(b, mem, memlen);
			memset(b + 6, 0, 8); /* opslimit 0 */
			CHECK_EQ_INT(cc_keystore_open_mem(b, memlen, PASS, strlen(PASS), &back), CC_ERR_MALFORMED);
			/* a header that claims less ciphertext than a tag */
			memcpy(b, mem, memlen);
			memset(b + CC_KEYSTORE_HEADER_BYTES - 4, 0, 4);
			CHECK_EQ_INT(cc_keystore_open_mem(b, CC_KEYSTORE_HEADER_BYTES, PASS, strlen(PASS), &back),
			             CC_ERR_MALFORMED);
		}
		free(b);
	}
	/* two saves of the same content differ (fresh salt and nonce) */
	{
		uint8_t *mem2 = NULL;
		size_t len2 = 0;
		CHECK_EQ_INT(cc_keystore_save_mem(ks, PASS, strlen(PASS), &mem2, &len2), CC_OK);
		CHECK(len2 == memlen && mem && mem2 && memcmp(mem, mem2, memlen) != 0);
		free(mem2);
	}
	free(mem);
	unlink(path);
	{
		char *slash = strrchr(path, '/');
		if (slash) {
			*slash = '\0';
			CHECK(rmdir(path) == 0); /* nothing else was left in the directory */
		}
	}
	cc_w_free(&w);
	cc_device_keys_free(dev);
	cc_device_keys_free(dev2);
	cc_keystore_free(ks);
}

static void test_body(void)
{
	cc_wbuf w;
	cc_keystore *ks = NULL;
	cc_w_init(&w);
	cc_w_u32(&w, 2);
	cc_w_str(&w, "b");
	cc_w_var32(&w, "1", 1);
	cc_w_str(&w, "a");
	cc_w_var32(&w, "2", 1);
	CHECK_EQ_INT(cc_keystore_body_decode(w.p, w.len, &ks), CC_ERR_MALFORMED); /* unsorted */
	cc_w_free(&w);
	cc_w_init(&w);
	cc_w_u32(&w, 2);
	cc_w_str(&w, "a");
	cc_w_var32(&w, "1", 1);
	cc_w_str(&w, "a");
	cc_w_var32(&w, "2", 1);
	CHECK_EQ_INT(cc_keystore_body_decode(w.p, w.len, &ks), CC_ERR_MALFORMED); /* duplicate */
	cc_w_free(&w);
	cc_w_init(&w);
	cc_w_u32(&w, 0xffffffffu);
	CHECK_EQ_INT(cc_keystore_body_decode(w.p, w.len, &ks), CC_ERR_TOO_LARGE);
	cc_w_free(&w);
	cc_w_init(&w);
	cc_w_u32(&w, 1);
	cc_w_str(&w, "a b");
	cc_w_var32(&w, "1", 1);
	CHECK_EQ_INT(cc_keystore_body_decode(w.p, w.len, &ks), CC_ERR_MALFORMED); /* bad name */
	cc_w_free(&w);
	cc_w_init(&w);
	cc_w_u32(&w, 1);
	cc_w_str(&w, "a");
	cc_w_var32(&w, "1", 1);
	CHECK_EQ_INT(cc_keystore_body_decode(w.p, w.len, &ks), CC_OK);
	CHECK_EQ_INT(cc_keystore_count(ks), 1);
	cc_keystore_free(ks);
	cc_w_free(&w);
}

int main(void)
{
	test_rng_install();
	CHECK(sodium_init() >= 0);
	CHECK_RUN(test_kat);
	CHECK_RUN(test_entries);
	CHECK_RUN(test_file);
	CHECK_RUN(test_body);
	return check_done();
}
