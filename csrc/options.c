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
