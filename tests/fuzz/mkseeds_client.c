/*
 * mkseeds_client.c: writes the seed corpora of the client-side fuzz drivers
 * (tests/fuzz/seeds/{audit_export,sealed}/). The policy_json seeds are the
 * shipped policies (deploy/policy/) and a few hand-written files, copied by hand.
 *
 * Built with the tests but not run by ctest; run it by hand after a deliberate
 * format change and commit the output:
 *     build/tests/mkseeds_client tests
 * The audit key (seed 32 x 0xA5) and the sealed-file key (32 x 0x5A) are the
 * ones the drivers use. The audit seeds are identical on every run; the sealed
 * file written by sealed_write has a random nonce.
 */
#include "audit_export.h"
#include "cc_buf.h"
#include "cc_err.h"
#include "sealed.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv);

static const char *base;
static int failed;

static void seed(const char *corpus, const char *name, const void *p, size_t n)
{
	char path[2048];
	FILE *f;

	snprintf(path, sizeof path, "%s/fuzz/seeds/%s", base, corpus);
	if (mkdir(path, 0755) != 0 && errno != EEXIST)
		failed = 1;
	snprintf(path, sizeof path, "%s/fuzz/seeds/%s/%s", base, corpus, name);
	f = fopen(path, "wb");
	if (!f) {
		failed = 1;
		return;
	}
	if (n && fwrite(p, 1, n, f) != n)
		failed = 1;
	if (fclose(f) != 0)
		failed = 1;
}

static void seed_str(const char *corpus, const char *name, const char *s)
{
	seed(corpus, name, s, strlen(s));
}

/* A 12-entry chain with a checkpoint after entry 10: single lines and the whole export. */
static void audit_export_seeds(void)
{
	uint8_t kseed[crypto_sign_SEEDBYTES], pk[CC_SIGN_PK_BYTES], sk[CC_SIGN_SK_BYTES];
	char *export = NULL, *line;
	size_t len = 0;
	cc_audit_chain c;

	memset(kseed, 0xA5, sizeof kseed);
	crypto_sign_seed_keypair(pk, sk, kseed);
	cc_audit_chain_init(&c);
	FILE *f = open_memstream(&export, &len);
	if (!f) {
		failed = 1;
		return;
	}
	line = cc_audit_export_header(pk, 1795000999000LL, NULL);
	if (!line)
		failed = 1;
	else {
		seed_str("audit_export", "header", line);
		fprintf(f, "%s\n", line);
		free(line);
	}
	for (unsigned i = 1; i <= 12; i++) {
		cc_audit_entry e;
		uint8_t h[CC_HASH_BYTES];
		cc_wbuf w;
		cc_audit_entry_init(&e);
		e.time_ms = 1795000000000LL + i;
		e.event = i % 2 ? CC_AUDIT_EV_HISTORY_FETCH : CC_AUDIT_EV_KEY_FETCH;
		snprintf(e.actor_user, sizeof e.actor_user, "ggd.%u", i);
		snprintf(e.actor_role, sizeof e.actor_role, "ggd");
		snprintf(e.actor_org, sizeof e.actor_org, "GGD \"Regio\", afd. <SH>");
		memset(e.casus_id, 0x33, sizeof e.casus_id);
		e.level = 2;
		e.seq_from = i;
		e.seq_to = i + 3;
		if (i == 7) {
			e.n_msg_ids = 1;
			memset(e.msg_ids[0], 0x42, CC_AUDIT_ID_BYTES);
		}
		snprintf(e.access_point, sizeof e.access_point, "192.0.2.%u:5000", i);
		cc_w_init(&w);
		if (cc_audit_chain_append(&c, &e, &w, h) != CC_OK || !(line = cc_audit_export_entry(w.p, w.len, h))) {
			failed = 1;
			cc_w_free(&w);
			continue;
		}
		cc_w_free(&w);
		if (i == 7)
			seed_str("audit_export", "entry", line);
		fprintf(f, "%s\n", line);
		free(line);
		if (i == 10) {
			cc_audit_checkpoint cp;
			cc_w_init(&w);
			if (cc_audit_chain_checkpoint(&c, e.time_ms, sk, &cp) != CC_OK ||
			    cc_audit_checkpoint_encode(&cp, &w) != CC_OK ||
			    !(line = cc_audit_export_checkpoint(w.p, w.len))) {
				failed = 1;
				cc_w_free(&w);
				continue;
			}
			cc_w_free(&w);
			seed_str("audit_export", "checkpoint", line);
			fprintf(f, "%s\n", line);
			free(line);
		}
	}
	if (fclose(f) != 0 || !export) {
		failed = 1;
		return;
	}
	seed("audit_export", "export", export, len);
	seed("audit_export", "export-cut", export, len / 2);
	/* the first entry line removed: a gap */
	char *nl1 = strchr(export, '\n'), *nl2 = nl1 ? strchr(nl1 + 1, '\n') : NULL;
	if (nl1 && nl2) {
		size_t head = (size_t)(nl1 - export) + 1, skip = (size_t)(nl2 - nl1);
		char *gap = malloc(len);
		if (gap) {
			memcpy(gap, export, head);
			memcpy(gap + head, nl2 + 1, len - head - skip);
			seed("audit_export", "export-gap", gap, len - skip);
			free(gap);
		}
	}
	seed_str("audit_export", "not-json", "{\"format\":\"casus-audit\",");
	seed_str("audit_export", "unknown-type", "{\"type\":\"note\",\"seq\":1}\n");
	free(export);
	sodium_memzero(sk, sizeof sk);
}

/* sealed: the first byte picks the driver's case (even: file as found, odd: plaintext). */
static void sealed_seeds(void)
{
	uint8_t key[SEALED_KEY_BYTES];
	char dir[] = "/tmp/mkseeds-XXXXXX", path[64];
	uint8_t *buf = NULL;

	memset(key, 0x5A, sizeof key);
	if (!mkdtemp(dir)) {
		failed = 1;
		return;
	}
	snprintf(path, sizeof path, "%s/f", dir);
	static const char note[] = "{\"v\":1,\"messages\":[{\"seq\":1,\"text\":\"eerste notitie\"}]}";
	if (sealed_write(path, key, "fuzz", "bind", (const uint8_t *)note, sizeof note - 1, 0) != 0) {
		failed = 1;
	} else {
		FILE *f = fopen(path, "rb");
		size_t n = 0;
		buf = malloc(1 + 4096);
		if (!f || !buf) {
			failed = 1;
		} else {
			buf[0] = 0;
			n = fread(buf + 1, 1, 4096, f);
			seed("sealed", "file-valid", buf, 1 + n);
			if (n > 40) {
				buf[1 + n / 2] ^= 0x20;
				seed("sealed", "file-flipped", buf, 1 + n);
				seed("sealed", "file-cut", buf, 1 + 8 + 24 + 5);
			}
		}
		if (f)
			fclose(f);
		unlink(path);
	}
	rmdir(dir);
	free(buf);
	seed("sealed", "file-magic-only", "\0CASUSLC1", 9);
	seed("sealed", "plain-note", "\1eerste notitie", 15);
	seed("sealed", "plain-empty", "\1", 1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: mkseeds_client TESTS_DIR\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 1;
	base = argv[1];
	audit_export_seeds();
	sealed_seeds();
	if (failed)
		fprintf(stderr, "mkseeds_client: some files could not be written\n");
	return failed;
}
