/*
 * format.h - text without stdio.
 *
 * The allocator may not call printf (it allocates, and it may be us), so
 * messages and reports are built into a caller's buffer with these.  The
 * buffer is always NUL-terminated; what does not fit is cut.
 */
#ifndef HMM_FORMAT_H
#define HMM_FORMAT_H

#include <stddef.h>
#include <stdint.h>

typedef struct hmm_text {
    char *buf;
    size_t cap;
    size_t len;
} hmm_text;

void text_init(hmm_text *t, char *buf, size_t cap);
void text_str(hmm_text *t, const char *s);
void text_uint(hmm_text *t, uint64_t v);
void text_hex(hmm_text *t, uint64_t v); /* with 0x */

#endif /* HMM_FORMAT_H */
