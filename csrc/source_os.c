/*
 * source_os.c - the process break and mmap: the only file that calls them.
 *
 * When the real break cannot grow (a mapping sits right above it, an
 * rlimit, or a tool such as valgrind that caps it), the break moves on in a
 * stand-in: a large range of address space reserved with mmap, inaccessible
 * and not counted against memory, and made usable page by page as the
 * stand-in break moves up (and discarded again as it moves down).  The heap
 * sees the break jump once, starts a new segment there, and from then on
 * grows one contiguous segment, as it would on the real break.
 */
#define _GNU_SOURCE
#include "source.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

static struct {
    char *base, *brk, *limit;
} standin;

/* Reserve the stand-in's address space: as much as the address-space
 * limit allows, from 64 GiB down to 64 MiB. */
static int standin_reserve(void)
{
    for (size_t bytes = (size_t)64 << 30; bytes >= (size_t)64 << 20; bytes >>= 2) {
        void *p = mmap(NULL, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            standin.base = standin.brk = p;
            standin.limit = (char *)p + bytes;
            return 1;
        }
    }
    return 0;
}

static char *page_up(char *p, size_t page)
{
    return (char *)(((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1));
}

static void *standin_move(hmm_source *self, intptr_t delta)
{
    char *old = standin.brk;
    char *new = old + delta;
    if (delta > 0 ? delta > standin.limit - old : -delta > old - standin.base)
        return NULL;
    char *from = page_up(delta > 0 ? old : new, self->page_size);
    char *to = page_up(delta > 0 ? new : old, self->page_size);
    if (to > from) {
        if (delta > 0 && mprotect(from, (size_t)(to - from), PROT_READ | PROT_WRITE) != 0)
            return NULL;
        if (delta < 0) {
            madvise(from, (size_t)(to - from), MADV_DONTNEED);
            mprotect(from, (size_t)(to - from), PROT_NONE);
        }
    }
    standin.brk = new;
    return old;
}

static void *os_move_break(hmm_source *self, intptr_t delta)
{
    int saved_errno = errno;
    void *old = NULL;
    if (!standin.base) {
        old = sbrk(delta);
        if (old == (void *)-1)
            old = NULL;
        if (!old && delta > 0 && standin_reserve())
            old = standin_move(self, delta);
    } else {
        old = standin_move(self, delta);
    }
    errno = saved_errno;
    return old;
}

static void *os_map(hmm_source *self, size_t bytes)
{
    (void)self;
    int saved_errno = errno;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = saved_errno;
    return p == MAP_FAILED ? NULL : p;
}

static void os_unmap(hmm_source *self, void *addr, size_t bytes)
{
    (void)self;
    int saved_errno = errno;
    munmap(addr, bytes);
    errno = saved_errno;
}

static void *os_remap(hmm_source *self, void *addr, size_t old_bytes, size_t new_bytes)
{
    (void)self;
    int saved_errno = errno;
    void *p = mremap(addr, old_bytes, new_bytes, MREMAP_MAYMOVE);
    errno = saved_errno;
    return p == MAP_FAILED ? NULL : p;
}

static void os_discard(hmm_source *self, void *addr, size_t bytes)
{
    (void)self;
    int saved_errno = errno;
    madvise(addr, bytes, MADV_DONTNEED);
    errno = saved_errno;
}

static hmm_source the_os_source = {
    .move_break = os_move_break,
    .map = os_map,
    .unmap = os_unmap,
    .remap = os_remap,
    .discard = os_discard,
    .page_size = 4096,
};

hmm_source *os_source(void)
{
    int page = getpagesize(); /* from the aux vector: no allocation */
    if (page > 0)
        the_os_source.page_size = (size_t)page;
    return &the_os_source;
}
