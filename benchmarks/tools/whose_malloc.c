/*
 * whose_malloc.c - print the file that provides this process's malloc and
 * free, one per line.
 *
 * The benchmark runs it once under each allocator before measuring: a
 * preload that silently failed (a wrong path only earns a warning from the
 * loader) would otherwise be reported as that allocator's figures.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

static void show(const char *name)
{
    Dl_info info;
    void *sym = dlsym(RTLD_DEFAULT, name);
    if (sym && dladdr(sym, &info) && info.dli_fname)
        printf("%s %s\n", name, info.dli_fname);
    else
        printf("%s ?\n", name);
}

int main(void)
{
    free(malloc(1)); /* let a lazily initialised allocator start */
    show("malloc");
    show("free");
    return 0;
}
