/*
 * arena.h: memory for reading a batch of messages (a history listing).
 *
 * lc_arena: one secure buffer for the plaintexts of a batch. It is taken
 * with sodium_malloc once (guard pages, locked where the system allows),
 * wiped before each message reuses it, and wiped and freed at the end; it
 * grows (a new sodium_malloc, the old one wiped and freed) only for a
 * plaintext larger than any before. Reading 10,000 messages costs one
 * mmap/mprotect/munmap instead of 10,000 (issue 15).
 *
 * lc_seqset: the sequence numbers a listing already holds, as an
 * open-addressing hash set (amortised O(1) insert and lookup; it replaced a
 * linear search of the listing, O(n^2) over a history).
 */
#ifndef CASUS_ARENA_H
#define CASUS_ARENA_H

#include <cc_buf.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lc_arena {
	cc_wbuf w; /* secret: sodium_malloc'd, wiped */
} lc_arena;

/* cap: the first size (a plaintext larger than that grows the buffer). 0, or -1 if out of memory. */
int lc_arena_init(lc_arena *a, size_t cap);
/* The buffer for the next plaintext: what the last one left is wiped, length and error reset. */
cc_wbuf *lc_arena_take(lc_arena *a);
/* Wipes and frees (sodium_free); the arena may be initialised again. */
void lc_arena_free(lc_arena *a);

typedef struct lc_seqset {
	uint64_t *slot; /* 0: empty (sequence numbers start at 1) */
	size_t cap;     /* a power of two */
	size_t n;
} lc_seqset;

void lc_seqset_init(lc_seqset *s);
/* 1 if seq is in the set. */
int lc_seqset_has(const lc_seqset *s, uint64_t seq);
/* Adds seq (0 is ignored); 0, or -1 if out of memory (the set is unchanged). */
int lc_seqset_add(lc_seqset *s, uint64_t seq);
void lc_seqset_free(lc_seqset *s);

#endif
