/* options.c - the HMM_* variables read from the environment; see options.h
 * (the table and the parsers are option_table.c's). */
#include "options.h"

#include "format.h"
#include "report.h"

#include <stddef.h>

extern char **environ;

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
        text_str(&list, option_name((hmm_option)i));
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
            const char *value = match(entry, option_name((hmm_option)i));
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

int option_switch(hmm_option which)
{
    const char *v = option_value(which);
    return v ? option_parse_switch(v) : -1;
}

int option_size(hmm_option which, size_t *out)
{
    const char *v = option_value(which);
    return v ? option_parse_size(v, out) : 0;
}
