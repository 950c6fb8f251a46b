/* options.c - see options.h. */
#include "options.h"

#include <stddef.h>

extern char **environ;

static const char *const option_names[OPTION_COUNT] = {
#define HMM_OPTION_NAME(id, name, meaning) [id] = name,
    HMM_OPTIONS_LIST(HMM_OPTION_NAME)
#undef HMM_OPTION_NAME
};

static const char *option_values[OPTION_COUNT];
static int options_loaded;

/* If `entry` is "NAME=value", return value. */
static const char *match(const char *entry, const char *name)
{
    while (*name && *entry == *name)
        entry++, name++;
    return (*name == '\0' && *entry == '=') ? entry + 1 : NULL;
}

int options_load(void)
{
    if (options_loaded)
        return 1;
    if (!environ)
        return 0;
    for (char **e = environ; *e; e++) {
        if ((*e)[0] != 'H' || (*e)[1] != 'M' || (*e)[2] != 'M')
            continue; /* cheap filter: most entries are not ours */
        for (int i = 0; i < OPTION_COUNT; i++) {
            const char *value = match(*e, option_names[i]);
            if (value && *value)
                option_values[i] = value;
        }
    }
    options_loaded = 1;
    return 1;
}

const char *option_value(hmm_option which)
{
    return which < OPTION_COUNT ? option_values[which] : NULL;
}

const char *option_name(hmm_option which)
{
    return which < OPTION_COUNT ? option_names[which] : NULL;
}

int option_size(hmm_option which, size_t *out)
{
    const char *v = option_value(which);
    if (!v)
        return 0;
    size_t n = 0;
    const char *c = v;
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
    if (c == v || *c != '\0' || n > ((size_t)-1 >> shift))
        return -1;
    *out = n << shift;
    return 1;
}
