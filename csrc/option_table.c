/* option_table.c - the options table and the parsers of its values; see
 * options.h.  Part of the core (it knows no environment), so that Python
 * lists the options and their defaults from here, and the heap takes its
 * defaults from the same column. */
#include "options.h"

#include "hmm.h"

#include <stddef.h>

static const char *const option_names[OPTION_COUNT] = {
#define HMM_OPTION_NAME(id, name, fallback, meaning) [id] = name,
    HMM_OPTIONS_LIST(HMM_OPTION_NAME)
#undef HMM_OPTION_NAME
};

static const char *const option_defaults[OPTION_COUNT] = {
#define HMM_OPTION_DEFAULT(id, name, fallback, meaning) [id] = fallback,
    HMM_OPTIONS_LIST(HMM_OPTION_DEFAULT)
#undef HMM_OPTION_DEFAULT
};

static const char *const option_meanings[OPTION_COUNT] = {
#define HMM_OPTION_MEANING(id, name, fallback, meaning) [id] = meaning,
    HMM_OPTIONS_LIST(HMM_OPTION_MEANING)
#undef HMM_OPTION_MEANING
};

const char *option_name(hmm_option which)
{
    return which < OPTION_COUNT ? option_names[which] : NULL;
}

const char *option_default(hmm_option which)
{
    return which < OPTION_COUNT ? option_defaults[which] : NULL;
}

/* Whether `value` is `word` (lower case), in any case; ASCII only, so that
 * it needs no locale. */
static int is_word(const char *value, const char *word)
{
    for (; *word; value++, word++) {
        char c = *value;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != *word)
            return 0;
    }
    return *value == '\0';
}

int option_parse_switch(const char *value)
{
    static const char *const on[] = {"1", "yes", "true", "on"};
    static const char *const off[] = {"0", "no", "false", "off"};
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        if (is_word(value, on[i]))
            return 1;
        if (is_word(value, off[i]))
            return 0;
    }
    return -1;
}

int option_parse_size(const char *value, size_t *out)
{
    size_t n = 0;
    const char *c = value;
    for (; *c >= '0' && *c <= '9'; c++) {
        if (n > ((size_t)-1 - 9) / 10)
            return -1;
        n = n * 10 + (size_t)(*c - '0');
    }
    unsigned shift = 0;
    switch (*c) {
    case 'k': case 'K': shift = 10; c++; break;
    case 'm': case 'M': shift = 20; c++; break;
    case 'g': case 'G': shift = 30; c++; break;
    }
    if (c == value || *c != '\0' || n > ((size_t)-1 >> shift))
        return -1;
    *out = n << shift;
    return 1;
}

size_t option_default_size(hmm_option which)
{
    size_t n = 0;
    option_parse_size(option_default(which), &n);
    return n;
}

/* ---- hmm.h: the table, for bindings ------------------------------------- */

int hmm_option_count(void)
{
    return OPTION_COUNT;
}

const char *hmm_option_name(int index)
{
    return index >= 0 && index < OPTION_COUNT ? option_names[index] : NULL;
}

const char *hmm_option_default(int index)
{
    return index >= 0 && index < OPTION_COUNT ? option_defaults[index] : NULL;
}

const char *hmm_option_meaning(int index)
{
    return index >= 0 && index < OPTION_COUNT ? option_meanings[index] : NULL;
}
