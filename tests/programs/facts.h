/*
 * facts.h - for programs whose output is compared between glibc and HMM:
 * one line per fact, "...: ok" or "...: FAILED", and a failed fact makes
 * the exit status 1.
 */
#ifndef FACTS_H
#define FACTS_H

#include <stdarg.h>
#include <stdio.h>

static int status;

__attribute__((format(printf, 2, 3))) static void check(int ok, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf(": %s\n", ok ? "ok" : "FAILED");
    if (!ok)
        status = 1;
}

#endif
