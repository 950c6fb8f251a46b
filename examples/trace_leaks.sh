#!/usr/bin/env bash
# Record every malloc call of a program, then print what it leaked: the
# blocks still live at exit, grouped by the call stack that allocated them,
# biggest first, with file:line where the program has debug information.
#
#   bash examples/trace_leaks.sh                  a small leaky C program, built here
#   bash examples/trace_leaks.sh PROGRAM [ARGS]   any dynamically linked program
#
# The trace stays in a temporary directory, whose path is printed, for more
# reports: `hmm report --summary TRACE`, `--timeline out.png`, `--json -`...
set -eu

workdir=$(mktemp -d)
echo "trace directory: $workdir"

if [ "$#" -eq 0 ]; then
    cat > "$workdir/leaky.c" <<'C'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Forgets every copy it makes but the last. */
static char *remember(const char *word)
{
    static char *last;
    last = strdup(word);
    return last;
}

/* Builds a table and never frees it. */
static int *squares(int n)
{
    int *table = calloc((size_t)n, sizeof *table);
    for (int i = 0; i < n; i++)
        table[i] = i * i;
    return table;
}

int main(void)
{
    const char *words[] = {"heap", "memory", "manager"};
    for (int i = 0; i < 30; i++)
        remember(words[i % 3]);
    printf("the square of 99 is %d\n", squares(100)[99]);
    return 0;
}
C
    cc -g -O0 -o "$workdir/leaky" "$workdir/leaky.c"
    set -- "$workdir/leaky"
fi

hmm run --trace "$workdir/run.trace" "$@"
echo
hmm report --leaks "$workdir/run.trace"
