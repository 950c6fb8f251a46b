/*
 * source_os.c - the process break and mmap: the only file that calls them.
 *
 * When the real break cannot grow (a mapping sits right above it, an
 * rlimit, or a tool such as valgrind that caps it), the break moves on in a
 * stand-in: address space reserved with mmap, inaccessible and not counted
 * against memory, and made usable page by page as the stand-in break moves
 * up (and discarded again as it moves down).  The heap sees the break jump,
 * starts a new segment there, and grows it as it would on the real break.
 *
 * A reservation still counts in the virtual size (VmSize, which monitors
 * watch) and against RLIMIT_AS, where it could make a request fail that
 * glibc serves.  So it is sized in proportion to what the stand-in holds:
 * 1 MiB to start with, then a third of the stand-in heap so far.  When one
 * runs out it is extended in place if the address space after it is free;
 * otherwise its unused tail is given back, a new one is taken elsewhere
 * and the break jumps there (the heap starts another segment).  When even
 * that much address space cannot be had, the reservation is exactly what
 * the move needs.  Reserved but unused space is thus at most a third of the
 * stand-in heap, or 1 MiB; and a mapping that fails for want of address
 * space gets it back (standin_give_back_spare) and is tried again.
 */
#define _GNU_SOURCE
#include "source.h"

#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#define STANDIN_FIRST ((size_t)1 << 20)
#define STANDIN_SHARE 3 /* a new reservation: 1/STANDIN_SHARE of the heap so far */

static struct {
    char *base, *brk, *limit; /* the current reservation and the break in it */
    size_t before;            /* what earlier reservations hold, up to their break */
} standin;

static char *page_up(char *p, size_t page)
{
    return (char *)(((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1));
}

static void *reserve(void *at, size_t bytes)
{
    int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | (at ? MAP_FIXED_NOREPLACE : 0);
    void *p = mmap(at, bytes, PROT_NONE, flags, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    if (at && p != at) { /* a kernel without MAP_FIXED_NOREPLACE took it as a hint */
        munmap(p, bytes);
        return NULL;
    }
    return p;
}

static size_t pages_for(size_t bytes, size_t page)
{
    return (bytes + page - 1) & ~(page - 1);
}

/* Room for the stand-in break to move up by `delta` (> 0): extend the
 * reservation in place, or move to a new one.  0 when neither can be had. */
static int standin_make_room(size_t delta, size_t page)
{
    size_t held = standin.before + (size_t)(standin.brk - standin.base);
    size_t share = pages_for(held / STANDIN_SHARE > STANDIN_FIRST ? held / STANDIN_SHARE : STANDIN_FIRST, page);
    if (standin.base) {
        /* In place: the part of the move past the limit, plus the share;
         * else just that part. */
        size_t missing = (size_t)(page_up(standin.brk + delta, page) - standin.limit);
        size_t extend[2] = {missing + share, missing};
        for (int i = 0; i < 2; i++)
            if (reserve(standin.limit, extend[i])) {
                standin.limit += extend[i];
                return 1;
            }
    }
    size_t exact = pages_for(delta, page);
    size_t sizes[2] = {exact > share ? exact : share, exact};
    for (int i = 0; i < 2; i++) {
        char *p = reserve(NULL, sizes[i]);
        if (!p)
            continue;
        if (standin.base) { /* the old one's unused tail goes back */
            char *used = page_up(standin.brk, page);
            if (standin.limit > used)
                munmap(used, (size_t)(standin.limit - used));
            standin.before = held;
        }
        standin.base = standin.brk = p;
        standin.limit = p + sizes[i];
        return 1;
    }
    return 0;
}

static void *standin_move(hmm_source *self, intptr_t delta)
{
    if (delta > 0 && (!standin.base || delta > standin.limit - standin.brk) &&
        !standin_make_room((size_t)delta, self->page_size))
        return NULL;
    char *old = standin.brk;
    char *new = old + delta;
    if (delta < 0 && -delta > old - standin.base)
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
        if (!old && delta > 0)
            old = standin_move(self, delta);
    } else {
        old = standin_move(self, delta);
    }
    errno = saved_errno;
    return old;
}

/* The address space is short (a mapping failed): give back the part of
 * the stand-in's reservation above its break.  1 if there was some. */
static int standin_give_back_spare(size_t page)
{
    char *used = standin.base ? page_up(standin.brk, page) : NULL;
    if (!used || used >= standin.limit)
        return 0;
    if (munmap(used, (size_t)(standin.limit - used)) != 0)
        return 0;
    standin.limit = used;
    return 1;
}

void *os_map_unlocked(size_t bytes)
{
    int saved_errno = errno;
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    errno = saved_errno;
    return p == MAP_FAILED ? NULL : p;
}

static void *os_map(hmm_source *self, size_t bytes)
{
    void *p = os_map_unlocked(bytes);
    if (!p && standin_give_back_spare(self->page_size))
        p = os_map_unlocked(bytes);
    return p;
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
    int saved_errno = errno;
    void *p = mremap(addr, old_bytes, new_bytes, MREMAP_MAYMOVE);
    if (p == MAP_FAILED && standin_give_back_spare(self->page_size))
        p = mremap(addr, old_bytes, new_bytes, MREMAP_MAYMOVE);
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
