/* arena.c: a secure buffer reused for a batch of plaintexts, and a set of sequence numbers (arena.h). */
#include "arena.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int lc_arena_init(lc_arena *a, size_t cap)
{
	cc_w_init_secret(&a->w);
	if (!cap)
		return 0;
	a->w.p = sodium_malloc(cap);
	if (!a->w.p)
		return -1;
	a->w.cap = cap;
	return 0;
}

cc_wbuf *lc_arena_take(lc_arena *a)
{
	if (a->w.p && a->w.len)
		sodium_memzero(a->w.p, a->w.len);
	a->w.len = 0;
	a->w.err = 0;
	return &a->w;
}

void lc_arena_free(lc_arena *a)
{
	cc_w_free(&a->w); /* sodium_free wipes */
}

void lc_seqset_init(lc_seqset *s)
{
	memset(s, 0, sizeof *s);
}

static size_t slot_of(uint64_t seq, size_t cap)
{
	seq ^= seq >> 33; /* a mix (splitmix64's finaliser): consecutive numbers spread */
	seq *= 0xff51afd7ed558ccdULL;
	seq ^= seq >> 33;
	return (size_t)seq & (cap - 1);
}

int lc_seqset_has(const lc_seqset *s, uint64_t seq)
{
	if (!s->cap || !seq)
		return 0;
	for (size_t i = slot_of(seq, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (s->slot[i] == seq)
			return 1;
		if (!s->slot[i])
			return 0;
	}
}

static void put(uint64_t *slot, size_t cap, uint64_t seq)
{
	size_t i = slot_of(seq, cap);
	while (slot[i] && slot[i] != seq)
		i = (i + 1) & (cap - 1);
	slot[i] = seq;
}

int lc_seqset_add(lc_seqset *s, uint64_t seq)
{
	if (!seq || lc_seqset_has(s, seq))
		return 0;
	if ((s->n + 1) * 2 > s->cap) { /* at most half full */
		size_t nc = s->cap ? s->cap * 2 : 64;
		if (nc < s->cap || nc > SIZE_MAX / sizeof *s->slot)
			return -1;
		uint64_t *ns = calloc(nc, sizeof *ns);
		if (!ns)
			return -1;
		for (size_t i = 0; i < s->cap; i++)
			if (s->slot[i])
				put(ns, nc, s->slot[i]);
		free(s->slot);
		s->slot = ns;
		s->cap = nc;
	}
	put(s->slot, s->cap, seq);
	s->n++;
	return 0;
}

void lc_seqset_free(lc_seqset *s)
{
	free(s->slot);
	memset(s, 0, sizeof *s);
}
