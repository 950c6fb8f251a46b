/* format.c - see format.h. */
#include "format.h"

void text_init(hmm_text *t, char *buf, size_t cap)
{
    t->buf = buf;
    t->cap = cap;
    t->len = 0;
    if (cap)
        buf[0] = '\0';
}

static void text_char(hmm_text *t, char c)
{
    if (t->len + 1 < t->cap) {
        t->buf[t->len++] = c;
        t->buf[t->len] = '\0';
    }
}

void text_str(hmm_text *t, const char *s)
{
    while (*s)
        text_char(t, *s++);
}

static void text_digits(hmm_text *t, uint64_t v, unsigned base)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (n)
        text_char(t, digits[--n]);
}

void text_uint(hmm_text *t, uint64_t v)
{
    text_digits(t, v, 10);
}

void text_hex(hmm_text *t, uint64_t v)
{
    text_str(t, "0x");
    text_digits(t, v, 16);
}
