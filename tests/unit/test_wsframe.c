/*
 * test_wsframe.c: the WebSocket frame header casusd writes in front of each
 * frame it sends several at a time (server/loop.c loop_ws_header, used by
 * write_batch). RFC 6455 5.2: FIN and opcode 1 (text) in the first byte; the
 * second byte has no mask bit (a server's frames are not masked) and the
 * length: up to 125 in the byte itself, 126 followed by a 16-bit length for
 * 126..65535, 127 followed by a 64-bit length above that; lengths in network
 * byte order, always the shortest form.
 */
#include "check.h"

#include <loop.h>
#include <stddef.h>
#include <stdint.h>

static size_t header(size_t len, unsigned char *out)
{
	memset(out, 0xee, 16);
	return loop_ws_header(out, len);
}

static void test_seven_bit_lengths(void)
{
	unsigned char h[16];
	const size_t lens[] = {0, 1, 17, 125};
	for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
		CHECK_EQ_INT(header(lens[i], h), 2);
		CHECK_EQ_INT(h[0], 0x81);
		CHECK_EQ_INT(h[1], lens[i]);
		CHECK_EQ_INT(h[2], 0xee); /* nothing written past the header */
	}
}

static void test_sixteen_bit_lengths(void)
{
	unsigned char h[16];
	CHECK_EQ_INT(header(126, h), 4);
	CHECK_MEM(h, "\x81\x7e\x00\x7e", 4);
	CHECK_EQ_INT(header(2117, h), 4); /* a push of a 1 KiB note */
	CHECK_MEM(h, "\x81\x7e\x08\x45", 4);
	CHECK_EQ_INT(header(65535, h), 4);
	CHECK_MEM(h, "\x81\x7e\xff\xff", 4);
	CHECK_EQ_INT(h[4], 0xee);
}

static void test_sixty_four_bit_lengths(void)
{
	unsigned char h[16];
	CHECK_EQ_INT(header(65536, h), 10);
	CHECK_MEM(h, "\x81\x7f\x00\x00\x00\x00\x00\x01\x00\x00", 10);
	CHECK_EQ_INT(header((size_t)0x12345678u, h), 10);
	CHECK_MEM(h, "\x81\x7f\x00\x00\x00\x00\x12\x34\x56\x78", 10);
	CHECK_EQ_INT(h[10], 0xee);
}

int main(void)
{
	CHECK_RUN(test_seven_bit_lengths);
	CHECK_RUN(test_sixteen_bit_lengths);
	CHECK_RUN(test_sixty_four_bit_lengths);
	return check_done();
}
