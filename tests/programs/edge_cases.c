/*
 * edge_cases.c - the corners of the malloc API answer as glibc's malloc does.
 *
 * Alignment of every small size, aligned allocation up to 64 KiB alignment,
 * sizes no allocator can serve (ENOMEM, the old block of a failed realloc
 * left intact), calloc and reallocarray overflow, bad alignments, errno kept
 * by free, malloc_usable_size, realloc(p, 0), realloc(NULL, n), malloc(0).
 *
 * Every line printed is a fact that does not depend on addresses or on how
 * much an allocator rounds up, so the output under two allocators can be
 * compared line for line.  A fact that breaks what the C standard, POSIX or
 * glibc's manual promise is marked "FAILED" and makes the exit status 1;
 * facts where allocators may differ (aligned_alloc with an alignment that is
 * not a power of two) are only printed.
 *
 * Usage: edge_cases [section...]   (default: every section; always in the
 *                                  order below)
 * Sections: align memalign huge overflow badalign aligned_alloc errno usable
 *           realloc zero
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "facts.h"

/* The compiler knows these sizes cannot be served and says so; that is the
 * point here.  Calling through volatile pointers keeps it quiet and keeps it
 * from folding the calls away. */
static void *(*volatile do_malloc)(size_t) = malloc;
static void *(*volatile do_calloc)(size_t, size_t) = calloc;
static void *(*volatile do_realloc)(void *, size_t) = realloc;
static void *(*volatile do_reallocarray)(void *, size_t, size_t) = reallocarray;
static void *(*volatile do_memalign)(size_t, size_t) = memalign;
static void *(*volatile do_aligned_alloc)(size_t, size_t) = aligned_alloc;
static int (*volatile do_posix_memalign)(void **, size_t, size_t) = posix_memalign;
static void *(*volatile do_valloc)(size_t) = valloc;
static void *(*volatile do_pvalloc)(size_t) = pvalloc;

static const char *errname(int e)
{
    static char buf[32];
    switch (e) {
    case 0: return "0";
    case ENOMEM: return "ENOMEM";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    default: snprintf(buf, sizeof buf, "errno %d", e); return buf;
    }
}

static int aligned_to(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

static unsigned char pattern(size_t i, size_t salt) { return (unsigned char)(i * 7 + salt * 13 + 1); }

static void fill(void *p, size_t n, size_t salt)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pattern(i, salt);
}

static int holds(const void *p, size_t n, size_t salt)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern(i, salt))
            return 0;
    return 1;
}

static int all_zero(const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i])
            return 0;
    return 1;
}

/* A failed request must be NULL with errno ENOMEM: print what happened. */
static void expect_enomem(void *p, int err, const char *what)
{
    int ok = p == NULL && err == ENOMEM;
    if (p)
        printf("%s: a block", what);
    else
        printf("%s: NULL, errno %s", what, errname(err));
    printf("%s\n", ok ? "" : "  FAILED (expected NULL, errno ENOMEM)");
    if (!ok)
        status = 1;
    free(p);
}

/* ---- align: every size 0..4096 through malloc, calloc and realloc ------- */

#define MAXSMALL 4096
static void *blocks[MAXSMALL + 1];

static void section_align(void)
{
    size_t bad = SIZE_MAX;
    for (size_t n = 0; n <= MAXSMALL; n++) {
        void *p = malloc(n);
        if ((!p || !aligned_to(p, 16)) && bad == SIZE_MAX)
            bad = n;
        if (p)
            fill(p, n, n);
        blocks[n] = p;
    }
    check(bad == SIZE_MAX, "malloc(0..4096), all live at once: 16-byte aligned");
    bad = SIZE_MAX;
    for (size_t n = 0; n <= MAXSMALL; n++) {
        if (blocks[n] && !holds(blocks[n], n, n) && bad == SIZE_MAX)
            bad = n;
        free(blocks[n]);
    }
    check(bad == SIZE_MAX, "malloc(0..4096): contents intact until free");

    bad = SIZE_MAX;
    for (size_t n = 0; n <= MAXSMALL; n++) {
        void *p = calloc(1, n);
        if ((!p || !aligned_to(p, 16) || !all_zero(p, n)) && bad == SIZE_MAX)
            bad = n;
        if (p)
            fill(p, n, n);
        blocks[n] = p;
    }
    /* Freed in a different order, so the next calloc reuses dirty memory. */
    for (size_t n = 0; n <= MAXSMALL; n += 2)
        free(blocks[n]);
    for (size_t n = 1; n <= MAXSMALL; n += 2)
        free(blocks[n]);
    for (size_t n = 0; n <= MAXSMALL; n++) {
        void *p = calloc(n, 1);
        if ((!p || !aligned_to(p, 16) || !all_zero(p, n)) && bad == SIZE_MAX)
            bad = n;
        blocks[n] = p;
    }
    for (size_t n = 0; n <= MAXSMALL; n++)
        free(blocks[n]);
    check(bad == SIZE_MAX, "calloc(1, 0..4096) and calloc(0..4096, 1), reusing freed memory: "
                           "16-byte aligned and zeroed");

    bad = SIZE_MAX;
    for (size_t n = 0; n <= MAXSMALL; n++) {
        void *p = realloc(NULL, n);
        if ((!p || !aligned_to(p, 16)) && bad == SIZE_MAX)
            bad = n;
        if (p)
            fill(p, n, n);
        blocks[n] = p;
    }
    check(bad == SIZE_MAX, "realloc(NULL, 0..4096): 16-byte aligned");
    bad = SIZE_MAX;
    for (size_t n = 0; n <= MAXSMALL; n++) {
        size_t to = (n * 7919) % MAXSMALL + 1; /* grows some, shrinks others */
        void *p = realloc(blocks[n], to);
        size_t keep = n < to ? n : to;
        if ((!p || !aligned_to(p, 16) || !holds(p, keep, n)) && bad == SIZE_MAX)
            bad = n;
        if (p)
            blocks[n] = p;
    }
    for (size_t n = 0; n <= MAXSMALL; n++)
        free(blocks[n]);
    check(bad == SIZE_MAX, "realloc of 0..4096 byte blocks to other sizes: "
                           "16-byte aligned, contents kept");

    bad = SIZE_MAX;
    void *p = NULL;
    for (size_t n = 1; n <= MAXSMALL; n++) {
        void *q = realloc(p, n);
        if (!q) {
            bad = n;
            break;
        }
        p = q;
        if ((!aligned_to(p, 16) || !holds(p, n - 1, 0)) && bad == SIZE_MAX)
            bad = n;
        ((unsigned char *)p)[n - 1] = pattern(n - 1, 0);
    }
    for (size_t n = MAXSMALL; n >= 1 && p; n--) {
        void *q = realloc(p, n);
        if (!q) {
            bad = n;
            break;
        }
        p = q;
        if ((!aligned_to(p, 16) || !holds(p, n, 0)) && bad == SIZE_MAX)
            bad = n;
    }
    free(p);
    check(bad == SIZE_MAX, "one block realloc'd up 1..4096 and back down: "
                           "16-byte aligned, contents kept");
}

/* ---- memalign: alignments 16..65536 ------------------------------------ */

static void section_memalign(void)
{
    static const size_t sizes[] = {1, 24, 100, 4096, 70000};
    for (size_t align = 16; align <= 65536; align *= 2) {
        int ok[3] = {1, 1, 1};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            size_t size = sizes[i];
            /* A small block in between, so that blocks do not simply line up. */
            void *spacer = malloc(40);
            void *a = memalign(align, size);
            void *b = NULL;
            int rc = posix_memalign(&b, align, size);
            void *c = aligned_alloc(align, size);
            if (!a || !aligned_to(a, align))
                ok[0] = 0;
            if (rc != 0 || !b || !aligned_to(b, align))
                ok[1] = 0;
            if (!c || !aligned_to(c, align))
                ok[2] = 0;
            if (a)
                fill(a, size, 1);
            if (b && rc == 0)
                fill(b, size, 2);
            if (c)
                fill(c, size, 3);
            if ((a && !holds(a, size, 1)) || (b && rc == 0 && !holds(b, size, 2)))
                ok[0] = ok[1] = 0;
            if (c && !holds(c, size, 3))
                ok[2] = 0;
            free(a);
            if (rc == 0)
                free(b);
            free(c);
            free(spacer);
        }
        check(ok[0], "memalign(%zu, 1..70000): aligned", align);
        check(ok[1], "posix_memalign(%zu, 1..70000): 0 and aligned", align);
        check(ok[2], "aligned_alloc(%zu, 1..70000): aligned", align);
    }

    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *v1 = valloc(1), *v2 = valloc(page + 1);
    check(v1 && v2 && aligned_to(v1, page) && aligned_to(v2, page), "valloc(1), valloc(page + 1): page aligned");
    void *p1 = pvalloc(1), *p2 = pvalloc(page + 1);
    check(p1 && p2 && aligned_to(p1, page) && aligned_to(p2, page)
              && malloc_usable_size(p1) >= page && malloc_usable_size(p2) >= 2 * page,
          "pvalloc(1), pvalloc(page + 1): page aligned, whole pages usable");
    if (p1 && p2) {
        memset(p1, 0x11, page);
        memset(p2, 0x22, 2 * page);
    }
    free(v1);
    free(v2);
    free(p1);
    free(p2);
}

/* ---- huge: sizes nobody can serve --------------------------------------- */

static void section_huge(void)
{
    static const struct {
        size_t size;
        const char *name;
    } huge[] = {
        {SIZE_MAX, "SIZE_MAX"},
        {SIZE_MAX - 1, "SIZE_MAX-1"},
        {PTRDIFF_MAX, "PTRDIFF_MAX"},
        {(size_t)PTRDIFF_MAX + 1, "PTRDIFF_MAX+1"},
    };
    char what[96];
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        size_t n = huge[i].size;
        const char *s = huge[i].name;
        void *p;

        errno = 0;
        p = do_malloc(n);
        snprintf(what, sizeof what, "malloc(%s)", s);
        expect_enomem(p, errno, what);

        errno = 0;
        p = do_calloc(1, n);
        snprintf(what, sizeof what, "calloc(1, %s)", s);
        expect_enomem(p, errno, what);

        errno = 0;
        p = do_calloc(n, 1);
        snprintf(what, sizeof what, "calloc(%s, 1)", s);
        expect_enomem(p, errno, what);

        errno = 0;
        p = do_realloc(NULL, n);
        snprintf(what, sizeof what, "realloc(NULL, %s)", s);
        expect_enomem(p, errno, what);

        /* A failed realloc leaves the old block alone. */
        void *old = malloc(100);
        fill(old, 100, 5);
        errno = 0;
        p = do_realloc(old, n);
        snprintf(what, sizeof what, "realloc(100-byte block, %s)", s);
        expect_enomem(p, errno, what);
        check(holds(old, 100, 5), "realloc(100-byte block, %s): old block intact", s);
        errno = 0;
        p = do_reallocarray(old, 1, n);
        snprintf(what, sizeof what, "reallocarray(100-byte block, 1, %s)", s);
        expect_enomem(p, errno, what);
        check(holds(old, 100, 5), "reallocarray(100-byte block, 1, %s): old block intact", s);
        free(old);

        errno = 0;
        p = do_memalign(64, n);
        snprintf(what, sizeof what, "memalign(64, %s)", s);
        expect_enomem(p, errno, what);

        errno = 0;
        p = do_aligned_alloc(64, n);
        snprintf(what, sizeof what, "aligned_alloc(64, %s)", s);
        expect_enomem(p, errno, what);

        void *out = &out; /* a marker that must survive */
        int rc = do_posix_memalign(&out, 64, n);
        check(rc == ENOMEM && out == &out, "posix_memalign(&out, 64, %s): returned %s, out %s",
              s, errname(rc), out == &out ? "untouched" : "changed");
        if (out != &out)
            free(out);

        errno = 0;
        p = do_valloc(n);
        snprintf(what, sizeof what, "valloc(%s)", s);
        expect_enomem(p, errno, what);

        errno = 0;
        p = do_pvalloc(n);
        snprintf(what, sizeof what, "pvalloc(%s)", s);
        expect_enomem(p, errno, what);
    }
    /* The heap still works after all that. */
    void *p = malloc(1000);
    check(p != NULL, "malloc(1000) after the failures");
    free(p);
}

/* ---- overflow: nmemb * size does not fit -------------------------------- */

static void section_overflow(void)
{
    static const struct {
        size_t nmemb, size;
        const char *text;
    } cases[] = {
        {SIZE_MAX / 2 + 1, 2, "SIZE_MAX/2+1, 2"},
        {2, SIZE_MAX / 2 + 1, "2, SIZE_MAX/2+1"},
        {SIZE_MAX, SIZE_MAX, "SIZE_MAX, SIZE_MAX"},
        {(size_t)1 << 32, (size_t)1 << 32, "2^32, 2^32"},
        {SIZE_MAX / 16 + 1, 16, "SIZE_MAX/16+1, 16"},
        {(size_t)1 << 31, (size_t)1 << 31, "2^31, 2^31 (no overflow, too big)"},
    };
    char what[96];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        errno = 0;
        void *p = do_calloc(cases[i].nmemb, cases[i].size);
        snprintf(what, sizeof what, "calloc(%s)", cases[i].text);
        expect_enomem(p, errno, what);

        errno = 0;
        p = do_reallocarray(NULL, cases[i].nmemb, cases[i].size);
        snprintf(what, sizeof what, "reallocarray(NULL, %s)", cases[i].text);
        expect_enomem(p, errno, what);

        void *old = malloc(64);
        fill(old, 64, 9);
        errno = 0;
        p = do_reallocarray(old, cases[i].nmemb, cases[i].size);
        snprintf(what, sizeof what, "reallocarray(64-byte block, %s)", cases[i].text);
        expect_enomem(p, errno, what);
        check(holds(old, 64, 9), "reallocarray(64-byte block, %s): old block intact", cases[i].text);
        free(old);
    }
    /* Just below the edge of overflow is an ordinary request. */
    void *p = calloc(4096, 4096);
    check(p && all_zero(p, 4096 * 4096), "calloc(4096, 4096): 16 MiB, zeroed");
    free(p);
    p = reallocarray(NULL, 1000, 24);
    check(p != NULL && malloc_usable_size(p) >= 24000, "reallocarray(NULL, 1000, 24): 24000 bytes");
    free(p);
}

/* ---- badalign: alignments that are not allowed -------------------------- */

static void section_badalign(void)
{
    static const size_t bad[] = {0, 1, 2, 3, 4, 12, 24, 48, 100, 4097, SIZE_MAX / 2 + 2, SIZE_MAX};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *out = &out;
        int rc = posix_memalign(&out, bad[i], 64);
        check(rc == EINVAL && out == &out, "posix_memalign(&out, %zu, 64): returned %s, out %s",
              bad[i], errname(rc), out == &out ? "untouched" : "changed");
        if (out != &out)
            free(out);
    }
    /* sizeof(void *) is the smallest alignment posix_memalign takes. */
    void *out = NULL;
    int rc = posix_memalign(&out, sizeof(void *), 64);
    check(rc == 0 && out && aligned_to(out, 16), "posix_memalign(&out, sizeof(void *), 64): "
                                                 "0, 16-byte aligned");
    free(out);
    /* A power of two so large that no block can have it. */
    out = &out;
    rc = posix_memalign(&out, SIZE_MAX / 2 + 1, 1);
    check(rc == ENOMEM && out == &out, "posix_memalign(&out, 2^63, 1): returned %s, out %s",
          errname(rc), out == &out ? "untouched" : "changed");

    /* memalign is glibc's own: alignments below 16 mean 16, others are
     * rounded up to a power of two, and beyond 2^63 it is EINVAL. */
    static const struct {
        size_t align, at_least;
    } rounded[] = {{0, 16}, {1, 16}, {3, 16}, {24, 32}, {48, 64}, {100, 128}, {4097, 8192}};
    for (size_t i = 0; i < sizeof rounded / sizeof rounded[0]; i++) {
        errno = 0;
        void *p = do_memalign(rounded[i].align, 64);
        check(p && aligned_to(p, rounded[i].at_least), "memalign(%zu, 64): a block aligned to %zu",
              rounded[i].align, rounded[i].at_least);
        if (p)
            memset(p, 0x33, 64);
        free(p);
    }
    static const struct {
        size_t align;
        const char *text;
    } too_big[] = {{SIZE_MAX / 2 + 2, "2^63+1"}, {SIZE_MAX, "SIZE_MAX"}};
    for (size_t i = 0; i < sizeof too_big / sizeof too_big[0]; i++) {
        errno = 0;
        void *p = do_memalign(too_big[i].align, 10);
        int err = errno;
        check(!p && err == EINVAL, "memalign(%s, 10): %s, errno %s", too_big[i].text,
              p ? "a block" : "NULL", errname(err));
        free(p);
    }
}

/* ---- aligned_alloc: alignments glibc versions disagree on --------------- */

static void section_aligned_alloc(void)
{
    /* C17 says an unsupported alignment fails; glibc before 2.38 treated
     * aligned_alloc as memalign and rounded it up.  Print what happens. */
    static const size_t aligns[] = {0, 1, 2, 3, 4, 8, 24, 48, 100};
    for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
        errno = 0;
        void *p = do_aligned_alloc(aligns[i], 64);
        int err = errno;
        if (p) {
            printf("aligned_alloc(%zu, 64): a block, 16-byte aligned: %s\n", aligns[i],
                   aligned_to(p, 16) ? "yes" : "no");
            memset(p, 0x44, 64);
        } else {
            printf("aligned_alloc(%zu, 64): NULL, errno %s\n", aligns[i], errname(err));
        }
        free(p);
    }
}

/* ---- errno: free never changes it --------------------------------------- */

static void free_keeps_errno(void *p, const char *what)
{
    errno = EBADF;
    free(p);
    int err = errno;
    check(err == EBADF, "errno after free(%s): %s", what, err == EBADF ? "unchanged" : errname(err));
}

static void section_errno(void)
{
    free_keeps_errno(NULL, "NULL");
    free_keeps_errno(malloc(24), "24 bytes");
    free_keeps_errno(malloc(5000), "5000 bytes");
    free_keeps_errno(calloc(1, 300000), "calloc'd 300000 bytes");
    free_keeps_errno(malloc(1 << 20), "1 MiB");
    free_keeps_errno(malloc(64 << 20), "64 MiB");
    free_keeps_errno(memalign(4096, 100), "memalign(4096, 100)");

    /* Many frees: thread caches fill and spill, the top of the heap can go
     * back to the system; errno survives all of them. */
    enum { N = 4096 };
    static void *many[N];
    for (int i = 0; i < N; i++)
        many[i] = malloc((size_t)(i % 7 + 1) * 1024);
    int changed = 0;
    for (int i = N - 1; i >= 0; i--) {
        errno = EBADF;
        free(many[i]);
        changed += errno != EBADF;
    }
    check(changed == 0, "errno after each of %d frees of 1..7 KiB blocks: unchanged", N);

    /* Even errno left by a failed request stays what it was. */
    errno = 0;
    void *p = do_malloc(SIZE_MAX);
    void *q = malloc(100);
    errno = ENOMEM;
    free(q);
    int err = errno;
    check(!p && err == ENOMEM, "errno ENOMEM after free(100 bytes): %s", err == ENOMEM ? "unchanged" : errname(err));
}

/* ---- usable: malloc_usable_size(p) >= the request ----------------------- */

static void section_usable(void)
{
    enum { MAXU = 2000 };
    static void *live[MAXU + 1];
    int ok = 1;
    for (size_t n = 0; n <= MAXU; n++) {
        void *p = malloc(n);
        size_t u = p ? malloc_usable_size(p) : 0;
        if (!p || u < n)
            ok = 0;
        if (p)
            memset(p, 0x5c, u); /* every usable byte belongs to the program */
        live[n] = p;
    }
    for (size_t n = 0; n <= MAXU; n++)
        free(live[n]);
    check(ok, "malloc(0..2000): usable>=size, every usable byte writable");

    ok = 1;
    for (size_t n = 0; n <= MAXU; n++) {
        void *p = calloc(1, n);
        size_t u = p ? malloc_usable_size(p) : 0;
        if (!p || u < n || !all_zero(p, n))
            ok = 0;
        if (p)
            memset(p, 0x5d, u);
        live[n] = p;
    }
    for (size_t n = 0; n <= MAXU; n++)
        free(live[n]);
    check(ok, "calloc(1, 0..2000): usable>=size");

    ok = 1;
    void *p = NULL;
    for (size_t n = 1; n <= MAXU; n += 37) {
        void *q = realloc(p, n);
        if (!q) {
            ok = 0;
            break;
        }
        p = q;
        size_t u = malloc_usable_size(p);
        if (u < n)
            ok = 0;
        memset(p, 0x5e, n);
    }
    free(p);
    check(ok, "realloc to 1..2000 by 37: usable>=size");

    ok = 1;
    for (size_t n = 0; n <= MAXU; n += 13) {
        void *q = memalign(256, n);
        if (!q || malloc_usable_size(q) < n || !aligned_to(q, 256))
            ok = 0;
        if (q)
            memset(q, 0x5f, malloc_usable_size(q));
        free(q);
    }
    check(ok, "memalign(256, 0..2000 by 13): usable>=size");

    p = malloc(1 << 20);
    check(p && malloc_usable_size(p) >= (1 << 20), "malloc(1 MiB): usable>=size");
    free(p);
    check(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) == 0");
}

/* ---- realloc: the special cases ----------------------------------------- */

static void section_realloc(void)
{
    void *p = malloc(100);
    errno = EBADF;
    void *q = realloc(p, 0);
    int err = errno;
    printf("realloc(100-byte block, 0): %s, errno %s\n", q ? "a block" : "NULL",
           err == EBADF ? "unchanged" : errname(err));
    free(q);

    p = malloc(1 << 20);
    errno = EBADF;
    q = realloc(p, 0);
    err = errno;
    printf("realloc(1 MiB block, 0): %s, errno %s\n", q ? "a block" : "NULL",
           err == EBADF ? "unchanged" : errname(err));
    free(q);

    q = realloc(NULL, 0);
    printf("realloc(NULL, 0): %s\n", q ? "a block" : "NULL");
    free(q);

    q = realloc(NULL, 100);
    check(q && aligned_to(q, 16) && malloc_usable_size(q) >= 100,
          "realloc(NULL, 100): a 16-byte aligned block, usable>=size");
    if (q)
        fill(q, 100, 4);

    /* Through every size class and into a mapping of its own, and back. */
    static const size_t steps[] = {100, 5000, 200000, 2 << 20, 50, 3 << 20, 8, 1};
    size_t have = 100;
    int ok = 1;
    for (size_t i = 1; q && i < sizeof steps / sizeof steps[0]; i++) {
        void *r = realloc(q, steps[i]);
        if (!r) {
            ok = 0;
            break;
        }
        q = r;
        size_t keep = have < steps[i] ? have : steps[i];
        if (!holds(q, keep, 4) || !aligned_to(q, 16))
            ok = 0;
        fill(q, steps[i], 4);
        have = steps[i];
    }
    free(q);
    check(ok, "realloc 100 -> 5000 -> 200000 -> 2 MiB -> 50 -> 3 MiB -> 8 -> 1: contents kept");

    p = malloc(300);
    fill(p, 300, 6);
    q = realloc(p, 300);
    check(q && holds(q, 300, 6), "realloc to the same size: contents kept");
    free(q);

    p = memalign(4096, 300);
    fill(p, 300, 7);
    q = realloc(p, 10000);
    check(q && holds(q, 300, 7) && aligned_to(q, 16), "realloc of a memalign(4096) block: contents kept");
    free(q);
}

/* ---- zero: zero-byte requests ------------------------------------------- */

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

static void section_zero(void)
{
    enum { N = 1000 };
    static void *zero[N];
    int ok = 1;
    for (int i = 0; i < N; i++) {
        zero[i] = malloc(0);
        if (!zero[i] || !aligned_to(zero[i], 16))
            ok = 0;
    }
    static void *sorted[N];
    memcpy(sorted, zero, sizeof sorted);
    qsort(sorted, N, sizeof sorted[0], by_address);
    for (int i = 1; i < N; i++)
        if (sorted[i] == sorted[i - 1])
            ok = 0;
    for (int i = 0; i < N; i++)
        free(zero[i]);
    check(ok, "malloc(0) x %d, all live: non-NULL, unique, 16-byte aligned", N);

    void *p;
    p = calloc(0, 16);
    printf("calloc(0, 16): %s\n", p ? "a block" : "NULL");
    free(p);
    p = calloc(16, 0);
    printf("calloc(16, 0): %s\n", p ? "a block" : "NULL");
    free(p);
    p = calloc(0, 0);
    printf("calloc(0, 0): %s\n", p ? "a block" : "NULL");
    free(p);
    p = memalign(64, 0);
    printf("memalign(64, 0): %s\n", p ? (aligned_to(p, 64) ? "a block, aligned" : "a block, misaligned") : "NULL");
    free(p);
    p = aligned_alloc(64, 0);
    printf("aligned_alloc(64, 0): %s\n", p ? (aligned_to(p, 64) ? "a block, aligned" : "a block, misaligned") : "NULL");
    free(p);
    p = NULL;
    int rc = posix_memalign(&p, 64, 0);
    printf("posix_memalign(&out, 64, 0): returned %s, out %s\n", errname(rc),
           p ? (aligned_to(p, 64) ? "a block, aligned" : "a block, misaligned") : "NULL");
    if (rc == 0)
        free(p);
    p = valloc(0);
    printf("valloc(0): %s\n", p ? "a block" : "NULL");
    free(p);
    p = pvalloc(0);
    printf("pvalloc(0): %s\n", p ? "a block" : "NULL");
    free(p);
}

static const struct {
    const char *name;
    void (*run)(void);
} sections[] = {
    {"align", section_align},
    {"memalign", section_memalign},
    {"huge", section_huge},
    {"overflow", section_overflow},
    {"badalign", section_badalign},
    {"aligned_alloc", section_aligned_alloc},
    {"errno", section_errno},
    {"usable", section_usable},
    {"realloc", section_realloc},
    {"zero", section_zero},
};

static int wanted(int argc, char **argv, const char *name)
{
    if (argc < 2)
        return 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return 1;
    return 0;
}

int main(int argc, char **argv)
{
    size_t count = sizeof sections / sizeof sections[0];
    for (int i = 1; i < argc; i++) {
        size_t k = 0;
        while (k < count && strcmp(argv[i], sections[k].name) != 0)
            k++;
        if (k == count) {
            fprintf(stderr, "edge_cases: unknown section %s\n", argv[i]);
            return 2;
        }
    }
    for (size_t k = 0; k < count; k++) {
        if (!wanted(argc, argv, sections[k].name))
            continue;
        printf("[%s]\n", sections[k].name);
        sections[k].run();
    }
    return status;
}
