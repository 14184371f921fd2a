/*
 * keytool.c: test tool for the device-key tests (tests/security/test_keys.py).
 * It works on a test profile's keystore through the public crypto API; it is
 * not part of any product.
 *
 *   casus_keytool set-device-id --profile DIR --passfile FILE --id HEX
 *       gives the profile's device the device id HEX (its keys unchanged),
 *       writes a new, self-signed request.casusreq for it and the id into
 *       profile.json: two test devices whose ids share their first bytes, or
 *       a second device claiming a device id already issued.
 *
 * Exit 0 on success, 1 on any error (message on stderr).
 */
#include "cc_buf.h"
#include "cc_cert.h"
#include "cc_err.h"
#include "cc_keys.h"
#include "cc_keystore.h"

#include <fileio.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *opt(int argc, char **argv, const char *name)
{
	for (int i = 0; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static int fail(const char *what)
{
	fprintf(stderr, "casus_keytool: %s\n", what);
	return 1;
}

static int set_device_id(int argc, char **argv)
{
	const char *dir = opt(argc, argv, "--profile"), *pf = opt(argc, argv, "--passfile"),
		   *hex = opt(argc, argv, "--id");
	if (!dir || !pf || !hex)
		return fail("set-device-id needs --profile, --passfile and --id");
	uint8_t id[CC_DEVICE_ID_BYTES];
	if (cc_device_id_from_hex(hex, id) != CC_OK)
		return fail("--id: 32 hex digits");
	size_t pn = 0;
	uint8_t *pass = fio_read(pf, 1024, &pn);
	if (!pass)
		return fail("cannot read the passphrase file");
	while (pn && (pass[pn - 1] == '\n' || pass[pn - 1] == '\r'))
		pn--;
	char ksp[4096], rqp[4096], pjp[4096];
	snprintf(ksp, sizeof ksp, "%s/keys.casusks", dir);
	snprintf(rqp, sizeof rqp, "%s/request.casusreq", dir);
	snprintf(pjp, sizeof pjp, "%s/profile.json", dir);
	cc_keystore *ks = NULL;
	cc_device_keys *keys = NULL;
	cc_wbuf w, rq;
	cc_w_init_secret(&w);
	cc_w_init(&rq);
	int rc = 1;
	const uint8_t *v;
	size_t l, rn = 0;
	uint8_t *rb = NULL;
	cc_cert_request old, req;
	json_t *pj = NULL;
	char *text = NULL;
	if (cc_keystore_open(ksp, (const char *)pass, pn, &ks) != CC_OK ||
	    cc_keystore_get(ks, "device", &v, &l) != CC_OK || cc_device_keys_decode(v, l, &keys) != CC_OK) {
		fail("cannot open the profile's keystore");
		goto out;
	}
	memcpy(keys->device_id, id, sizeof id);
	if (cc_device_keys_encode(keys, &w) != CC_OK || w.err || cc_keystore_put(ks, "device", w.p, w.len) != CC_OK ||
	    cc_keystore_save(ks, ksp, (const char *)pass, pn) != CC_OK) {
		fail("cannot write the keystore");
		goto out;
	}
	rb = fio_read(rqp, 4096, &rn);
	if (!rb || cc_cert_request_decode(rb, rn, &old) != CC_OK ||
	    cc_cert_request_create(&req, keys, old.user_id, old.name, old.org, old.role) != CC_OK ||
	    cc_cert_request_encode(&req, &rq) != CC_OK || rq.err || fio_write_atomic(rqp, rq.p, rq.len, 0644) != 0) {
		fail("cannot rewrite request.casusreq");
		goto out;
	}
	pj = json_load_file(pjp, 0, NULL);
	if (!pj || json_object_set_new(pj, "device", json_string(hex)) != 0 ||
	    !(text = json_dumps(pj, JSON_INDENT(2))) || fio_write_atomic(pjp, text, strlen(text), 0600) != 0) {
		fail("cannot rewrite profile.json");
		goto out;
	}
	rc = 0;
out:
	free(text);
	json_decref(pj);
	free(rb);
	cc_w_free(&w);
	cc_w_free(&rq);
	cc_device_keys_free(keys);
	cc_keystore_free(ks);
	sodium_memzero(pass, pn);
	free(pass);
	return rc;
}

int main(int argc, char **argv)
{
	if (sodium_init() < 0)
		return 1;
	if (argc >= 2 && strcmp(argv[1], "set-device-id") == 0)
		return set_device_id(argc - 2, argv + 2);
	fprintf(stderr, "usage: casus_keytool set-device-id --profile DIR --passfile FILE --id HEX\n");
	return 1;
}
