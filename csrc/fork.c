/*
 * fork.c - keeping the heap whole across fork(), in glibc's lock order.
 *
 * A child gets a copy of the heap as it was at fork().  If another thread
 * was half-way through an operation, that copy would be torn and its lock
 * held forever; so HMM holds its lock across fork, taking it in a prepare
 * handler and giving it back (parent) or resetting it (child) after.  When
 * it does that matters as much as that it does:
 *
 *  - After every other prepare handler.  Other libraries' handlers may
 *    allocate (dprintf does, in glibc), or take a lock of their own that a
 *    thread holds while it allocates.  Prepare handlers run in the reverse
 *    order of their registration, and a preloaded library is initialised
 *    after the program's own libraries, whose constructors register theirs:
 *    HMM's would run first and deadlock them.  So HMM registers its
 *    handlers before anyone else's: it interposes the registration itself
 *    (__register_atfork, which every library's pthread_atfork calls, and
 *    pthread_atfork, for binaries built when libpthread exported it), and
 *    registers its own just before it passes on the first one it sees.
 *    Its parent and child handlers, run in registration order, then come
 *    first, and every other handler runs with the heap free.
 *  - After stdio's list lock.  glibc's fork takes that lock after the
 *    prepare handlers; a thread in fflush(NULL) holds it while it waits for
 *    a stream whose owner is allocating (getline growing its buffer).  If
 *    HMM held its lock first, the three would wait on each other: glibc's
 *    own bug 19431, fixed there by taking the malloc locks last.  HMM takes
 *    the list lock itself first (it is recursive, so fork's own taking of
 *    it goes through), then its own.
 *  - Only if the process has threads.  Like glibc, fork takes no lock in a
 *    single-threaded process, so that a fork from a signal handler that
 *    interrupted malloc does not wait for itself: there is no other thread
 *    whose half-done operation the child could inherit.
 */
#define _GNU_SOURCE
#include "fork.h"

#include "arena.h"
#include "depot.h"
#include "process_heap.h"
#include "thread_cache.h"
#ifdef HMM_TRACING
#include "trace.h"
#endif

#include <dlfcn.h>
#include <errno.h>
#include <stddef.h>
#include <sys/single_threaded.h>

#define HMM_EXPORT __attribute__((visibility("default")))

/* glibc's stdio list lock (exported since 2.2.5; recursive). */
extern void _IO_list_lock(void);
extern void _IO_list_unlock(void);
extern void _IO_list_resetlock(void);

extern void *__dso_handle;

/* What the prepare handler took, for the parent and child handlers of the
 * same fork: per thread, since glibc runs the handlers of two threads'
 * forks at the same time (it holds its own atfork lock only around its
 * walk of the list). */
static __thread int held_list, held_heap __attribute__((tls_model("initial-exec")));

static void before_fork(void)
{
    held_list = held_heap = 0;
    if (__libc_single_threaded)
        return;
    _IO_list_lock();
    held_list = 1;
#ifdef HMM_TRACING
    trace_fork_prepare(); /* after stdio's lock, before the heap's: as a traced call takes them */
#endif
    held_heap = process_heap_fork_prepare();
    if (held_heap) { /* the process heap's lock first, as everywhere */
        /* Marked as inside fork() until parent or child: a signal handler's
         * malloc meanwhile is served elsewhere instead of waiting for a lock
         * its own thread holds. */
        call_mark(CALL_FORK);
        arenas_fork_prepare();
        depot_fork_prepare();
    }
}

static void after_fork_parent(void)
{
    if (held_heap) {
        depot_fork_parent();
        arenas_fork_parent();
        process_heap_fork_parent();
        call_leave();
    }
    if (held_list)
        _IO_list_unlock();
#ifdef HMM_TRACING
    trace_fork_parent();
#endif
}

static void after_fork_child(void)
{
    if (held_heap) {
        depot_fork_child();
        arenas_fork_child();
        cache_after_fork_child(); /* only this thread's cache lives on */
        process_heap_fork_child();
        call_leave();
    }
    if (held_list)
        _IO_list_resetlock(); /* the child's only thread owns nothing yet */
#ifdef HMM_TRACING
    trace_fork_child(); /* a trace of its own, even after a single-threaded fork */
#endif
}

typedef int register_fn(void (*)(void), void (*)(void), void (*)(void), void *);

static register_fn *real_register(void)
{
    static register_fn *real;
    if (!real)
        real = (register_fn *)dlsym(RTLD_NEXT, "__register_atfork");
    return real;
}

/* Constructors, the first callers, run one at a time: the flag only keeps
 * HMM from registering twice, and `real` may be looked up twice, harmlessly. */
void fork_handlers_register(void)
{
    static int registered;
    if (__atomic_exchange_n(&registered, 1, __ATOMIC_ACQ_REL))
        return;
    register_fn *reg = real_register();
    if (reg)
        reg(before_fork, after_fork_parent, after_fork_child, &__dso_handle);
}

HMM_EXPORT int __register_atfork(void (*prepare)(void), void (*parent)(void),
                                 void (*child)(void), void *dso_handle)
{
    fork_handlers_register();
    register_fn *reg = real_register();
    return reg ? reg(prepare, parent, child, dso_handle) : ENOMEM;
}

HMM_EXPORT int pthread_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
    /* The caller's DSO is not known here; NULL keeps the handlers for the
     * life of the process, as they were for libpthread's pthread_atfork. */
    return __register_atfork(prepare, parent, child, NULL);
}
