/*
 * test_outbuf.c: casusd's outgoing frames (server/outbuf.h): outbuf_printf
 * writes a frame that fits exactly, refuses (NULL, never a truncated frame)
 * one that does not, and the msg.post ack it writes is the JSON jansson would
 * make of the same object (same keys, same values, parsed back).
 */
#include "check.h"

#include <jansson.h>
#include <outbuf.h>
#include <stdint.h>
#include <stdlib.h>

static void test_printf_fits_or_refuses(void)
{
	struct outbuf *b = outbuf_printf(8, "%s", "1234567"); /* 7 bytes and the NUL */
	CHECK(b != NULL);
	if (b) {
		CHECK_EQ_INT(b->len, 7);
		CHECK_MEM(b->data + REPLY_PRE, "1234567", 7);
		CHECK_EQ_INT(b->refs, 1);
		CHECK_EQ_INT(b->t0_ns, 0);
		outbuf_unref(b);
	}
	CHECK(outbuf_printf(8, "%s", "12345678") == NULL);
	CHECK(outbuf_printf(1, "%s", "x") == NULL);
}

static void test_ack_is_the_json_of_the_object(void)
{
	const uint64_t id = (1ULL << 53), seq = UINT64_MAX >> 12;
	struct outbuf *b = outbuf_printf(64, "{\"id\":%llu,\"ok\":true,\"seq\":%llu}", (unsigned long long)id,
	                                 (unsigned long long)seq);
	CHECK(b != NULL);
	if (!b)
		return;
	json_error_t err;
	json_t *o = json_loadb((const char *)b->data + REPLY_PRE, b->len, JSON_REJECT_DUPLICATES, &err);
	CHECK(o != NULL);
	CHECK_EQ_INT(json_integer_value(json_object_get(o, "id")), (long long)id);
	CHECK(json_is_true(json_object_get(o, "ok")));
	CHECK_EQ_INT(json_integer_value(json_object_get(o, "seq")), (long long)seq);
	CHECK_EQ_INT(json_object_size(o), 3);
	char *d = json_dumps(o, JSON_COMPACT);
	CHECK(d && strlen(d) == b->len && memcmp(d, b->data + REPLY_PRE, b->len) == 0);
	free(d);
	json_decref(o);
	outbuf_unref(b);
}

int main(void)
{
	CHECK_RUN(test_printf_fits_or_refuses);
	CHECK_RUN(test_ack_is_the_json_of_the_object);
	return check_done();
}
