/*
 * source_os.c - the process break and mmap: the only file that calls them.
 */
#define _GNU_SOURCE
#include "source.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

static void *os_move_break(hmm_source *self, intptr_t delta)
{
    (void)self;
    int saved_errno = errno;
    void *old = sbrk(delta);
    errno = saved_errno;
    return old == (void *)-1 ? NULL : old;
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
