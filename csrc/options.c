/* options.c - see options.h. */
#include "options.h"

#include "format.h"
#include "report.h"

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

/* "hmm: HMM_STAT: unknown option (HMM_STATS, HMM_POLICY, ...), ignored" for
 * the entry "HMM_STAT=...".  The name is copied out because report_line
 * takes whole strings, and the entry goes on with "=value". */
static void warn_unknown(const char *entry)
{
    char name[64];
    size_t n = 0;
    while (entry[n] && entry[n] != '=' && n < sizeof name - 4) {
        name[n] = entry[n];
        n++;
    }
    if (entry[n] && entry[n] != '=') /* cut: say so */
        for (int dot = 0; dot < 3; dot++)
            name[n++] = '.';
    name[n] = '\0';

    char known[256];
    hmm_text list;
    text_init(&list, known, sizeof known);
    for (int i = 0; i < OPTION_COUNT; i++) {
        if (i)
            text_str(&list, ", ");
        text_str(&list, option_names[i]);
    }
    report_line(name, ": unknown option (", known, "), ignored", NULL);
}

int options_load(void)
{
    if (options_loaded)
        return 1;
    if (!environ)
        return 0;
    for (char **e = environ; *e; e++) {
        const char *entry = *e;
        if (entry[0] != 'H' || entry[1] != 'M' || entry[2] != 'M' || entry[3] != '_')
            continue; /* cheap filter: most entries are not ours */
        int known = 0;
        for (int i = 0; i < OPTION_COUNT; i++) {
            const char *value = match(entry, option_names[i]);
            if (!value)
                continue;
            known = 1;
            if (*value)
                option_values[i] = value;
        }
        if (!known)
            warn_unknown(entry);
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

int option_switch(hmm_option which)
{
    static const char *const on[] = {"1", "yes", "true", "on"};
    static const char *const off[] = {"0", "no", "false", "off"};
    const char *v = option_value(which);
    if (!v)
        return -1;
    for (size_t i = 0; i < sizeof on / sizeof on[0]; i++) {
        if (is_word(v, on[i]))
            return 1;
        if (is_word(v, off[i]))
            return 0;
    }
    return -1;
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
