/* test_buf.c: the canonical encoder/decoder rejects truncation, overlong fields and leftovers. */
#include "cc_buf.h"
#include "cc_err.h"
#include "check.h"

#include <sodium.h>

int main(void);

/* One of every field type, as the tests below read it back. */
static void write_sample(cc_wbuf *w)
{
	cc_w_init(w);
	cc_w_u8(w, 0xab);
	cc_w_u16(w, 0x1234);
	cc_w_u32(w, 0xdeadbeef);
	cc_w_u64(w, 0x0102030405060708ULL);
	cc_w_i64(w, -5);
	cc_w_str(w, "casus");
	cc_w_var32(w, "xyz", 3);
}

static void test_every_field_round_trips_big_endian(void)
{
	cc_wbuf w;
	cc_rbuf r;
	char s[16];
	const uint8_t *p;
	size_t n;

	write_sample(&w);
	CHECK_EQ_INT(w.err, CC_OK);
	CHECK_EQ_INT(w.len, 1 + 2 + 4 + 8 + 8 + 2 + 5 + 4 + 3);
	CHECK(w.p[1] == 0x12 && w.p[2] == 0x34); /* big-endian */
	cc_r_init(&r, w.p, w.len);
	CHECK_EQ_INT(cc_r_u8(&r), 0xab);
	CHECK_EQ_INT(cc_r_u16(&r), 0x1234);
	CHECK(cc_r_u32(&r) == 0xdeadbeefU);
	CHECK(cc_r_u64(&r) == 0x0102030405060708ULL);
	CHECK_EQ_INT(cc_r_i64(&r), -5);
	cc_r_str(&r, s, sizeof s);
	CHECK(strcmp(s, "casus") == 0);
	cc_r_var32(&r, &p, &n, 16);
	CHECK(n == 3 && memcmp(p, "xyz", 3) == 0);
	CHECK_EQ_INT(cc_r_finish(&r), CC_OK);
	cc_w_free(&w);
}

static void test_every_truncation_is_detected(void)
{
	cc_wbuf w;
	cc_rbuf r;
	char s[16];
	const uint8_t *p;
	size_t n;

	write_sample(&w);
	for (size_t cut = 0; cut < w.len; cut++) {
		cc_r_init(&r, w.p, cut);
		cc_r_u8(&r);
		cc_r_u16(&r);
		cc_r_u32(&r);
		cc_r_u64(&r);
		cc_r_i64(&r);
		cc_r_str(&r, s, sizeof s);
		cc_r_var32(&r, &p, &n, 16);
		CHECK_EQ_INT(cc_r_finish(&r), CC_ERR_TRUNCATED);
	}
	cc_w_free(&w);
}

static void test_trailing_bytes_are_refused(void)
{
	cc_wbuf w;
	cc_rbuf r;

	write_sample(&w);
	cc_r_init(&r, w.p, w.len);
	cc_r_u8(&r);
	CHECK_EQ_INT(cc_r_finish(&r), CC_ERR_TRAILING);
	cc_w_free(&w);
}

static void test_string_over_its_cap_is_refused(void)
{
	cc_wbuf w;
	cc_rbuf r;
	char tiny[4];

	write_sample(&w);
	cc_r_init(&r, w.p + 23, w.len - 23); /* at the string "casus" */
	cc_r_str(&r, tiny, sizeof tiny);
	CHECK_EQ_INT(r.err, CC_ERR_TOO_LARGE);
	cc_w_free(&w);
}

static void test_string_with_embedded_nul_is_refused(void)
{
	static const uint8_t nul[] = {0, 3, 'a', 0, 'b'};
	cc_rbuf r;
	char s[16];

	cc_r_init(&r, nul, sizeof nul);
	cc_r_str(&r, s, sizeof s);
	CHECK_EQ_INT(r.err, CC_ERR_MALFORMED);
}

static void test_secret_buffer_grows_and_is_released(void)
{
	cc_wbuf ws;

	cc_w_init_secret(&ws);
	for (int i = 0; i < 1000; i++)
		cc_w_u32(&ws, (uint32_t)i);
	CHECK_EQ_INT(ws.err, CC_OK);
	CHECK_EQ_INT(ws.len, 4000);
	cc_w_free(&ws);
	CHECK(ws.p == NULL);
}

static void test_error_names(void)
{
	CHECK(strcmp(cc_errname(CC_ERR_REVOKED), "CC_ERR_REVOKED") == 0);
}

int main(void)
{
	CHECK(sodium_init() >= 0);
	CHECK_RUN(test_every_field_round_trips_big_endian);
	CHECK_RUN(test_every_truncation_is_detected);
	CHECK_RUN(test_trailing_bytes_are_refused);
	CHECK_RUN(test_string_over_its_cap_is_refused);
	CHECK_RUN(test_string_with_embedded_nul_is_refused);
	CHECK_RUN(test_secret_buffer_grows_and_is_released);
	CHECK_RUN(test_error_names);
	return check_done();
}
