/*
 * tclean.h: text for the terminal. TC(s) returns s with every control
 * character, escape, DEL, C1 control and bidirectional override replaced by
 * U+FFFD (ccore_text_clean), so decrypted content can neither start a new
 * line that imitates another member nor move the cursor. The result lives in
 * a ring of 32 buffers: valid for the next 31 calls (enough for one printf).
 */
#ifndef CASUS_TCLEAN_H
#define CASUS_TCLEAN_H

#include <ccore.h>
#include <stdlib.h>

static inline const char *TC(const char *s)
{
	static char *ring[32];
	static unsigned pos;
	unsigned i = pos++ % 32;
	free(ring[i]);
	ring[i] = ccore_text_clean(s ? s : "");
	return ring[i] ? ring[i] : "?";
}

#endif
