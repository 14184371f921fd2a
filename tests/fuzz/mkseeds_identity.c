/*
 * mkseeds_identity.c: writes the identity layer's known-answer vectors
 * (tests/vectors/identity/<name>.hex) and the seed corpora of its fuzz drivers
 * (tests/fuzz/seeds/{cert,certreq,revlist,policy,keystore}/).
 *
 * Built with the tests but not run by ctest; run it by hand after a deliberate
 * format change and commit the output:
 *     build/tests/mkseeds_identity tests
 * Everything derives from the deterministic random source in
 * tests/unit/identity_fixture.h, so running it twice writes identical files.
 */
#include "identity_fixture.h"

#include <errno.h>
#include <sys/stat.h>

int main(int argc, char **argv);

static const char *base;
static int failed;

static void mkdirs(const char *sub)
{
	char path[2048];
	snprintf(path, sizeof path, "%s/%s", base, sub);
	for (char *s = path + strlen(base) + 1; *s; s++) {
		if (*s == '/') {
			*s = '\0';
			if (mkdir(path, 0755) != 0 && errno != EEXIST)
				failed = 1;
			*s = '/';
		}
	}
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		failed = 1;
}

static void write_file(const char *sub, const char *name, const uint8_t *p, size_t n, int hex)
{
	char path[2048];
	FILE *f;
	snprintf(path, sizeof path, "%s/%s/%s", base, sub, name);
	f = fopen(path, "wb");
	if (!f) {
		failed = 1;
		return;
	}
	if (hex) {
		for (size_t i = 0; i < n; i++)
			fprintf(f, "%02x", p[i]);
		fputc('\n', f);
	} else if (n && fwrite(p, 1, n, f) != n) {
		failed = 1;
	}
	if (fclose(f) != 0)
		failed = 1;
}

static void vec(const char *name, const uint8_t *p, size_t n)
{
	char file[256];
	snprintf(file, sizeof file, "%s.hex", name);
	write_file("vectors/identity", file, p, n, 1);
}

static void seed(const char *corpus, const char *name, const uint8_t *p, size_t n)
{
	char sub[256];
	snprintf(sub, sizeof sub, "fuzz/seeds/%s", corpus);
	write_file(sub, name, p, n, 0);
}

/* Seeds derived from one valid encoding: itself, cut short, one byte longer,
 * a flipped byte in the middle, and an unknown version. */
static void seed_family(const char *corpus, const uint8_t *p, size_t n)
{
	uint8_t *b = malloc(n + 1);
	if (!b) {
		failed = 1;
		return;
	}
	seed(corpus, "valid", p, n);
	seed(corpus, "truncated-half", p, n / 2);
	seed(corpus, "truncated-last", p, n - 1);
	memcpy(b, p, n);
	b[n] = 0;
	seed(corpus, "trailing", b, n + 1);
	b[n / 2] ^= 0x20;
	seed(corpus, "flipped", b, n);
	memcpy(b, p, n);
	b[4] = 9;
	seed(corpus, "version9", b, n);
	seed(corpus, "empty", b, 0);
	free(b);
}

int main(int argc, char **argv)
{
	kat_set k;
	cc_wbuf w;

	if (argc != 2) {
		fprintf(stderr, "usage: %s TESTS_DIR\n", argv[0]);
		return 2;
	}
	base = argv[1];
	kat_rng_install();
	if (sodium_init() < 0)
		return 1;
	if (kat_build(&k) != CC_OK) {
		fprintf(stderr, "mkseeds_identity: building the vector objects failed\n");
		return 1;
	}
	mkdirs("vectors/identity");
	vec("root_key", k.root_enc.p, k.root_enc.len);
	vec("root_pk", k.root->pk, sizeof k.root->pk);
	vec("device_keys", k.dev_enc.p, k.dev_enc.len);
	vec("certreq", k.req_enc.p, k.req_enc.len);
	vec("cert", k.cert_enc.p, k.cert_enc.len);
	vec("cert_hash", k.cert_hash, sizeof k.cert_hash);
	vec("revlist", k.revs_enc.p, k.revs_enc.len);
	vec("policy", k.policy_enc.p, k.policy_enc.len);
	vec("policy_hash", k.policy_hash, sizeof k.policy_hash);
	vec("keystore", k.keystore, k.keystore_len);

	mkdirs("fuzz/seeds/cert");
	mkdirs("fuzz/seeds/certreq");
	mkdirs("fuzz/seeds/revlist");
	mkdirs("fuzz/seeds/policy");
	mkdirs("fuzz/seeds/keystore");
	seed_family("cert", k.cert_enc.p, k.cert_enc.len);
	seed_family("certreq", k.req_enc.p, k.req_enc.len);
	seed_family("revlist", k.revs_enc.p, k.revs_enc.len);
	seed_family("policy", k.policy_enc.p, k.policy_enc.len);
	seed_family("keystore", k.keystore, k.keystore_len);

	/* an empty revocation list and a hostile entry count */
	{
		cc_revlist empty;
		cc_revlist_init(&empty);
		empty.number = 1;
		cc_w_init(&w);
		if (cc_revlist_sign(&empty, k.root) != CC_OK || cc_revlist_encode(&empty, &w) != CC_OK)
			failed = 1;
		seed("revlist", "empty-list", w.p, w.len);
		if (w.len > 25) {
			w.p[22] = 0xff; /* count = 0xffff0000.. : must be refused before allocating */
			w.p[21] = 0xff;
			seed("revlist", "huge-count", w.p, w.len);
		}
		cc_w_free(&w);
	}
	/* keystore plaintext bodies for cc_keystore_body_decode */
	{
		cc_w_init(&w);
		cc_w_u32(&w, 2);
		cc_w_str(&w, "device");
		cc_w_var32(&w, "\x01\x02\x03", 3);
		cc_w_str(&w, "root");
		cc_w_var32(&w, "", 0);
		seed("keystore", "body-two", w.p, w.len);
		cc_w_free(&w);
		cc_w_init(&w);
		cc_w_u32(&w, 2);
		cc_w_str(&w, "root");
		cc_w_var32(&w, "", 0);
		cc_w_str(&w, "device");
		cc_w_var32(&w, "", 0);
		seed("keystore", "body-unsorted", w.p, w.len);
		cc_w_free(&w);
	}
	kat_free(&k);
	if (failed)
		fprintf(stderr, "mkseeds_identity: could not write some files under %s\n", base);
	return failed;
}
