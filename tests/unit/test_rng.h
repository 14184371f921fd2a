/*
 * test_rng.h: the one deterministic random source of the tests, for
 * known-answer vectors and reproducible runs. ChaCha20 with key 00 01 02 .. 1f;
 * the i-th call to randombytes_buf since test_rng_reset() gets the keystream
 * for the 8-byte big-endian nonce i. The construction is simple on purpose, so
 * that another implementation (the browser client) can replay the vectors.
 *
 * test_rng_install() must come before sodium_init(). Header-only, static
 * functions, so that each test stays one file.
 */
#ifndef CASUS_TEST_RNG_H
#define CASUS_TEST_RNG_H

#include <sodium.h>
#include <stdint.h>

static uint64_t test_rng_calls;

static inline const char *test_rng_name(void)
{
	return "casus-test-chacha20";
}

static inline void test_rng_buf(void *const buf, const size_t size)
{
	uint8_t key[crypto_stream_chacha20_KEYBYTES];
	uint8_t nonce[crypto_stream_chacha20_NONCEBYTES];
	for (unsigned i = 0; i < sizeof key; i++)
		key[i] = (uint8_t)i;
	for (unsigned i = 0; i < sizeof nonce; i++)
		nonce[i] = (uint8_t)(test_rng_calls >> (56 - 8 * i));
	test_rng_calls++;
	crypto_stream_chacha20(buf, size, nonce, key);
}

static inline uint32_t test_rng_random(void)
{
	uint8_t b[4];
	test_rng_buf(b, sizeof b);
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

static randombytes_implementation test_rng_impl = {
	test_rng_name, test_rng_random, NULL, NULL, test_rng_buf, NULL,
};

static inline void test_rng_install(void)
{
	randombytes_set_implementation(&test_rng_impl);
}

static inline void test_rng_reset(void)
{
	test_rng_calls = 0;
}

#endif
