/*
 * test_randombytes.c: libsodium's randombytes API for the wasm TEST builds only.
 *
 * libsodium 1.0.18 built with emscripten ignores randombytes_set_implementation:
 * randombytes_buf() always asks JavaScript for bytes. The known-answer tests
 * (tests/unit/test_e2e_vectors.c and others) install a deterministic source
 * before sodium_init() to make byte-identical commits and messages, so under
 * wasm they need the native dispatch back. This file defines every symbol of
 * libsodium's randombytes.o; linked before libsodium.a it replaces that
 * object in the test executables (a missing symbol would pull the original
 * in and fail the link with duplicates, never silently mix the two).
 * Without an installed implementation it reads getentropy(), which emscripten
 * backs with the platform's CSPRNG (node's crypto module here).
 *
 * The browser module (cw.c) does NOT link this: there libsodium's own
 * JavaScript source (crypto.getRandomValues) is used.
 */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const randombytes_implementation *g_impl;

static void sys_buf(void *buf, size_t size)
{
	unsigned char *p = buf;
	while (size > 0) {
		size_t n = size > 256 ? 256 : size; /* getentropy's limit per call */
		if (getentropy(p, n) != 0)
			abort();
		p += n;
		size -= n;
	}
}

int randombytes_set_implementation(randombytes_implementation *impl)
{
	g_impl = impl;
	return 0;
}

const char *randombytes_implementation_name(void)
{
	return g_impl ? g_impl->implementation_name() : "getentropy";
}

uint32_t randombytes_random(void)
{
	uint32_t v;
	if (g_impl)
		return g_impl->random();
	sys_buf(&v, sizeof v);
	return v;
}

void randombytes_stir(void)
{
	if (g_impl && g_impl->stir)
		g_impl->stir();
}

uint32_t randombytes_uniform(const uint32_t upper_bound)
{
	uint32_t min, r;
	if (g_impl && g_impl->uniform)
		return g_impl->uniform(upper_bound);
	if (upper_bound < 2)
		return 0;
	min = (1U + ~upper_bound) % upper_bound; /* 2**32 % upper_bound */
	do
		r = randombytes_random();
	while (r < min);
	return r % upper_bound;
}

void randombytes_buf(void *const buf, const size_t size)
{
	if (size == 0)
		return;
	if (g_impl)
		g_impl->buf(buf, size);
	else
		sys_buf(buf, size);
}

void randombytes_buf_deterministic(void *const buf, const size_t size, const unsigned char seed[randombytes_SEEDBYTES])
{
	static const unsigned char nonce[crypto_stream_chacha20_ietf_NONCEBYTES] = {'L', 'i', 'b', 's', 'o', 'd',
	                                                                            'i', 'u', 'm', 'D', 'R', 'G'};
	memset(buf, 0, size);
	crypto_stream_chacha20_ietf((unsigned char *)buf, (unsigned long long)size, nonce, seed);
}

size_t randombytes_seedbytes(void)
{
	return randombytes_SEEDBYTES;
}

int randombytes_close(void)
{
	return g_impl && g_impl->close ? g_impl->close() : 0;
}

void randombytes(unsigned char *const buf, const unsigned long long buf_len)
{
	randombytes_buf(buf, (size_t)buf_len);
}
