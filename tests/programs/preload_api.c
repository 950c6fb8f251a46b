/*
 * preload_api.c - what a program sees of malloc when libhmm.so is preloaded.
 *
 *   preload_api symbols NAME...   for each NAME: "symbol NAME <library path>"
 *                                 (where dlsym(RTLD_DEFAULT) finds it)
 *   preload_api semantics         one "check NAME ok" or "check NAME FAIL: why"
 *                                 line per glibc behaviour a program relies on
 *   preload_api malloc_stats      calls malloc_stats() (which prints to stderr)
 *
 * Built with -O0 -fno-builtin so that the compiler cannot fold impossible
 * requests (malloc(SIZE_MAX)) away: every call must reach the allocator.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static int failures;

static void report(const char *name, int ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void report(const char *name, int ok, const char *fmt, ...)
{
    if (ok) {
        printf("check %s ok\n", name);
    } else {
        va_list ap;
        va_start(ap, fmt);
        printf("check %s FAIL: ", name);
        vprintf(fmt, ap);
        printf("\n");
        va_end(ap);
        failures++;
    }
    fflush(stdout);
}

/* Resolve a name the way the program's own calls would, through the global
 * scope (so through the preloaded library first). */
static void *lookup(const char *name)
{
    void *f = dlsym(RTLD_DEFAULT, name);
    if (f == NULL) {
        printf("check lookup_%s FAIL: dlsym: %s\n", name, dlerror());
        failures++;
    }
    return f;
}

static int symbols(int count, char **names)
{
    for (int i = 0; i < count; i++) {
        void *f = dlsym(RTLD_DEFAULT, names[i]);
        Dl_info info;
        if (f == NULL || dladdr(f, &info) == 0 || info.dli_fname == NULL) {
            printf("symbol %s unresolved\n", names[i]);
            continue;
        }
        char real[PATH_MAX];
        const char *path = realpath(info.dli_fname, real) ? real : info.dli_fname;
        printf("symbol %s %s\n", names[i], path);
    }
    return 0;
}

static int all_bytes(const unsigned char *p, size_t n, unsigned char value)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != value)
            return 0;
    return 1;
}

/* Sizes that no allocator can grant; volatile so nothing is folded. */
static volatile size_t size_max = SIZE_MAX;
static volatile size_t ptrdiff_max_plus_one = (size_t)PTRDIFF_MAX + 1;

static void check_impossible_requests(void)
{
    void *p;

    errno = 0;
    p = malloc(size_max);
    report("malloc_size_max_enomem", p == NULL && errno == ENOMEM, "p=%p errno=%d", p, errno);

    errno = 0;
    p = malloc(ptrdiff_max_plus_one);
    report("malloc_ptrdiff_max_plus_one_enomem", p == NULL && errno == ENOMEM,
           "p=%p errno=%d", p, errno);

    errno = 0;
    p = calloc(size_max / 2, 3);
    report("calloc_overflow_enomem", p == NULL && errno == ENOMEM, "p=%p errno=%d", p, errno);

    char *q = malloc(16);
    strcpy(q, "still here");
    errno = 0;
    p = reallocarray(q, size_max / 2, 3);
    report("reallocarray_overflow_enomem", p == NULL && errno == ENOMEM && !strcmp(q, "still here"),
           "p=%p errno=%d", p, errno);

    errno = 0;
    p = realloc(q, size_max);
    report("realloc_size_max_enomem_keeps_block", p == NULL && errno == ENOMEM && !strcmp(q, "still here"),
           "p=%p errno=%d", p, errno);
    free(q);
}

static void check_zero_sizes(void)
{
    void *a = malloc(0), *b = malloc(0);
    report("malloc_zero_unique", a != NULL && b != NULL && a != b, "a=%p b=%p", a, b);
    free(a);
    free(b);

    void *p = malloc(32);
    void *r = realloc(p, 0);
    report("realloc_zero_returns_null", r == NULL, "r=%p", r);

    void *n = realloc(NULL, 40);
    report("realloc_null_allocates", n != NULL, "n=%p", n);
    memset(n, 1, 40);
    free(n);
    free(NULL);
    report("free_null", 1, "free(NULL) returned");
}

static void check_alignment_requests(void)
{
    static const size_t bad[] = {3, 0, sizeof(void *) / 2, 24, 48};
    int ok = 1;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        void *out = (void *)0x1234;
        int rc = posix_memalign(&out, bad[i], 16);
        if (rc != EINVAL || out != (void *)0x1234) {
            report("posix_memalign_bad_alignment_einval", 0, "alignment %zu: rc=%d out=%p",
                   bad[i], rc, out);
            ok = 0;
            break;
        }
    }
    if (ok)
        report("posix_memalign_bad_alignment_einval", 1, "all refused");

    errno = 0;
    void *p = aligned_alloc(3, 8);
    report("aligned_alloc_bad_alignment_einval", p == NULL && errno == EINVAL,
           "p=%p errno=%d", p, errno);

    const char *failed = NULL;
    size_t failed_alignment = 0;
    for (size_t a = 16; a <= 65536 && !failed; a *= 2) {
        static const size_t sizes[] = {1, 100, 4096, 70000};
        for (size_t s = 0; s < 4 && !failed; s++) {
            size_t n = sizes[s];
            void *x = aligned_alloc(a, (n + a - 1) / a * a);
            void *y = memalign(a, n);
            void *z = NULL;
            int rc = posix_memalign(&z, a, n);
            if (x == NULL || (uintptr_t)x % a)
                failed = "aligned_alloc";
            else if (y == NULL || (uintptr_t)y % a)
                failed = "memalign";
            else if (rc != 0 || z == NULL || (uintptr_t)z % a)
                failed = "posix_memalign";
            else if (malloc_usable_size(y) < n)
                failed = "memalign usable size";
            failed_alignment = a;
            if (!failed) {
                memset(x, 0x11, (n + a - 1) / a * a);
                memset(y, 0x22, n);
                memset(z, 0x33, n);
            }
            free(x);
            free(y);
            free(z);
        }
    }
    report("aligned_results_aligned_16_to_65536", failed == NULL, "%s at alignment %zu",
           failed ? failed : "", failed_alignment);

    long page = sysconf(_SC_PAGESIZE);
    void *v = valloc(100);
    report("valloc_page_aligned", v && (uintptr_t)v % (uintptr_t)page == 0, "v=%p", v);
    void *pv = pvalloc(100);
    report("pvalloc_page_aligned_and_rounded",
           pv && (uintptr_t)pv % (uintptr_t)page == 0 && malloc_usable_size(pv) >= (size_t)page,
           "pv=%p usable=%zu", pv, pv ? malloc_usable_size(pv) : 0);
    if (pv)
        memset(pv, 0x44, (size_t)page);
    free(v);
    free(pv);
}

static void check_errno_and_sizes(void)
{
    static const size_t sizes[] = {100, 5000, 200000, 4 << 20};
    int ok = 1;
    for (size_t i = 0; i < 4; i++) {
        void *p = malloc(sizes[i]);
        memset(p, 0x55, sizes[i]);
        errno = 1234;
        free(p);
        if (errno != 1234) {
            report("free_preserves_errno", 0, "size %zu: errno became %d", sizes[i], errno);
            ok = 0;
            break;
        }
    }
    if (ok)
        report("free_preserves_errno", 1, "errno kept");

    size_t bad_usable = SIZE_MAX, bad_align = SIZE_MAX;
    for (size_t n = 0; n <= 5000; n++) {
        unsigned char *p = malloc(n);
        if (p == NULL || malloc_usable_size(p) < n)
            bad_usable = n;
        if ((uintptr_t)p % 16)
            bad_align = n;
        if (p)
            memset(p, 0x66, malloc_usable_size(p)); /* all of it is ours */
        free(p);
    }
    report("usable_size_at_least_request", bad_usable == SIZE_MAX, "size %zu", bad_usable);
    report("malloc_results_16_aligned", bad_align == SIZE_MAX, "size %zu", bad_align);
    report("usable_size_null_zero", malloc_usable_size(NULL) == 0, "%zu", malloc_usable_size(NULL));

    /* realloc keeps the contents while growing step by step, then shrinking */
    unsigned char *p = NULL;
    size_t n = 0;
    int kept = 1;
    for (size_t next = 1; next <= (1 << 21) && kept; next = next * 3 / 2 + 1) {
        p = realloc(p, next);
        if (p == NULL || !all_bytes(p, n, 0x77) || (uintptr_t)p % 16)
            kept = 0;
        else
            memset(p + n, 0x77, next - n);
        n = next;
    }
    for (; n > 1 && kept; n /= 3) {
        p = realloc(p, n);
        kept = p != NULL && all_bytes(p, n, 0x77);
    }
    report("realloc_keeps_contents", kept, "lost at size %zu", n);
    free(p);
}

static void check_calloc_reuse(void)
{
    static const size_t sizes[] = {8, 24, 100, 1000, 4096, 50000, 300000, 2 << 20};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        for (int round = 0; round < 3; round++) {
            void *keep = malloc(32); /* so the dirty block is not the top */
            unsigned char *dirty = malloc(n);
            memset(dirty, 0xAA, n);
            free(dirty);
            unsigned char *clean = round == 2 ? calloc(n / 8, 8) : calloc(1, n);
            int ok = clean && all_bytes(clean, round == 2 ? n / 8 * 8 : n, 0);
            free(clean);
            free(keep);
            if (!ok) {
                report("calloc_zeroes_reused_memory", 0, "size %zu round %d", n, round);
                return;
            }
        }
    }
    report("calloc_zeroes_reused_memory", 1, "all zero");
}

static void check_introspection(void)
{
    struct mallinfo2 before = mallinfo2();
    void *blocks[100];
    for (int i = 0; i < 100; i++)
        blocks[i] = malloc(1000);
    struct mallinfo2 after = mallinfo2();
    report("mallinfo2_uordblks_grows", after.uordblks >= before.uordblks + 50 * 1000,
           "before %zu after %zu", before.uordblks, after.uordblks);
    struct mallinfo old = mallinfo();
    report("mallinfo_counts_use", old.uordblks >= 100 * 1000, "uordblks %d", old.uordblks);
    for (int i = 0; i < 100; i++)
        free(blocks[i]);
    struct mallinfo2 freed = mallinfo2();
    report("mallinfo2_uordblks_shrinks", freed.uordblks + 50 * 1000 <= after.uordblks,
           "after %zu freed %zu", after.uordblks, freed.uordblks);

    void *big = malloc(8 << 20);
    free(big);
    int rc = malloc_trim(0);
    report("malloc_trim_returns_0_or_1", rc == 0 || rc == 1, "rc=%d", rc);
}

static void check_other_names(void)
{
    void (*free_sized_fn)(void *, size_t) = (void (*)(void *, size_t))lookup("free_sized");
    void (*free_aligned_sized_fn)(void *, size_t, size_t) =
        (void (*)(void *, size_t, size_t))lookup("free_aligned_sized");
    void (*cfree_fn)(void *) = (void (*)(void *))lookup("cfree");
    void *(*libc_malloc)(size_t) = (void *(*)(size_t))lookup("__libc_malloc");
    void *(*libc_calloc)(size_t, size_t) = (void *(*)(size_t, size_t))lookup("__libc_calloc");
    void *(*libc_realloc)(void *, size_t) = (void *(*)(void *, size_t))lookup("__libc_realloc");
    void *(*libc_memalign)(size_t, size_t) = (void *(*)(size_t, size_t))lookup("__libc_memalign");
    void (*libc_free)(void *) = (void (*)(void *))lookup("__libc_free");
    if (!free_sized_fn || !free_aligned_sized_fn || !cfree_fn || !libc_malloc || !libc_calloc ||
        !libc_realloc || !libc_memalign || !libc_free)
        return;

    free_sized_fn(malloc(100), 100);
    free_aligned_sized_fn(aligned_alloc(64, 128), 64, 128);
    cfree_fn(malloc(10));

    /* The __libc_ names are the same allocator: mixing them with the plain
     * names must work both ways. */
    char *a = libc_malloc(50);
    strcpy(a, "from __libc_malloc");
    a = realloc(a, 5000);
    int ok = a && !strcmp(a, "from __libc_malloc");
    free(a);
    char *b = malloc(60);
    strcpy(b, "from malloc");
    b = libc_realloc(b, 6000);
    ok = ok && b && !strcmp(b, "from malloc");
    libc_free(b);
    unsigned char *c = libc_calloc(10, 10);
    ok = ok && c && all_bytes(c, 100, 0);
    free(c);
    void *d = libc_memalign(256, 10);
    ok = ok && d && (uintptr_t)d % 256 == 0;
    libc_free(d);
    report("libc_names_share_one_heap", ok, "a=%p b=%p c=%p d=%p", (void *)a, (void *)b, (void *)c, d);
}

static void check_seed_api(void)
{
    void *(*hmm_alloc)(size_t) = (void *(*)(size_t))lookup("HmmAlloc");
    void (*hmm_free)(void *) = (void (*)(void *))lookup("HmmFree");
    void *(*hmm_realloc)(void *, size_t) = (void *(*)(void *, size_t))lookup("HmmRealloc");
    void *(*hmm_calloc)(size_t, size_t) = (void *(*)(size_t, size_t))lookup("HmmCalloc");
    if (!hmm_alloc || !hmm_free || !hmm_realloc || !hmm_calloc)
        return;

    void *z = hmm_alloc(0);
    report("hmm_alloc_zero_returns_null", z == NULL, "HmmAlloc(0)=%p", z);
    hmm_free(NULL);
    report("hmm_free_null_returns", 1, "HmmFree(NULL) returned");

    char *p = hmm_realloc(NULL, 100);
    report("hmm_realloc_null_allocates", p != NULL && (uintptr_t)p % 16 == 0, "p=%p", (void *)p);
    if (p == NULL)
        return;
    strcpy(p, "seed api");
    p = hmm_realloc(p, 100000);
    report("hmm_realloc_keeps_contents", p && !strcmp(p, "seed api"), "p=%p", (void *)p);
    memset(p, 0xBB, 100000);
    hmm_free(p);

    unsigned char *c = hmm_calloc(1000, 100);
    report("hmm_calloc_zeroes", c && all_bytes(c, 100000, 0), "c=%p", (void *)c);
    hmm_free(c);

    /* The seed API and malloc are one heap. */
    char *m = hmm_alloc(30);
    strcpy(m, "shared");
    m = realloc(m, 3000);
    int ok = m && !strcmp(m, "shared");
    free(m);
    char *n = malloc(30);
    strcpy(n, "shared too");
    n = hmm_realloc(n, 3000);
    ok = ok && n && !strcmp(n, "shared too");
    hmm_free(n);
    report("hmm_api_and_malloc_share_one_heap", ok, "a block moved between the APIs lost its contents");
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "symbols"))
        return symbols(argc - 2, argv + 2);
    if (argc == 2 && !strcmp(argv[1], "malloc_stats")) {
        void *p = malloc(1000);
        malloc_stats();
        free(p);
        return 0;
    }
    if (argc == 2 && !strcmp(argv[1], "semantics")) {
        check_zero_sizes();
        check_impossible_requests();
        check_alignment_requests();
        check_errno_and_sizes();
        check_calloc_reuse();
        check_introspection();
        check_other_names();
        check_seed_api();
        printf("failures %d\n", failures);
        return failures ? 1 : 0;
    }
    fprintf(stderr, "usage: %s symbols NAME... | semantics | malloc_stats\n", argv[0]);
    return 2;
}
