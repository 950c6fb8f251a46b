/*
 * process_heap.c - the process heap: its lock, its start-up, fork, exit,
 * and the seed API (HmmAlloc, HmmFree, HmmRealloc, HmmCalloc) on it.
 *
 * Start-up must work whichever allocation function a process calls first,
 * and before libc has finished starting (ld.so allocates through us while
 * it loads libraries), so it allocates nothing, prints nothing and reads
 * the environment by hand (options.c).
 *
 * Fork: a child gets a copy of the heap as it was when fork() was called.
 * If another thread was half-way through an operation, that copy would be
 * torn and its lock held forever, so the prepare handler takes the lock
 * (no operation is in flight across fork) and both sides release it.
 */
#define _GNU_SOURCE
#include "process_heap.h"

#include "heap.h"
#include "options.h"
#include "report.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HMM_EXPORT __attribute__((visibility("default")))

static hmm_heap process_heap;
static pthread_mutex_t process_lock = PTHREAD_MUTEX_INITIALIZER;
static int process_heap_ready;

static void abort_on_misuse(hmm_heap *h)
{
    report_write(STDERR_FILENO, h->message, strlen(h->message));
    report_write(STDERR_FILENO, "\n", 1);
    abort();
}

hmm_heap *process_heap_lock(void)
{
    pthread_mutex_lock(&process_lock);
    if (__builtin_expect(!process_heap_ready, 0)) {
        heap_init(&process_heap, os_source());
        process_heap.on_misuse = abort_on_misuse;
        options_load();
        process_heap_ready = 1;
    }
    return &process_heap;
}

void process_heap_unlock(void)
{
    pthread_mutex_unlock(&process_lock);
}

static void before_fork(void) { pthread_mutex_lock(&process_lock); }
static void after_fork(void) { pthread_mutex_unlock(&process_lock); }

__attribute__((constructor)) static void process_heap_start(void)
{
    options_load(); /* in case the first allocation came before environ */
    report_prepare();
    pthread_atfork(before_fork, after_fork, after_fork);
}

__attribute__((destructor)) static void process_heap_exit(void)
{
    if (!option_value(OPTION_STATS))
        return;
    hmm_heap *h = process_heap_lock();
    report_stats_as_configured(h);
    process_heap_unlock();
}

/* ---- The seed API ------------------------------------------------------ */

HMM_EXPORT void *HmmAlloc(size_t size)
{
    if (size == 0)
        return NULL;
    hmm_heap *h = process_heap_lock();
    void *p = hmm_heap_alloc(h, size);
    process_heap_unlock();
    if (!p)
        errno = ENOMEM;
    return p;
}

HMM_EXPORT void HmmFree(void *ptr)
{
    if (!ptr)
        return;
    hmm_heap *h = process_heap_lock();
    hmm_heap_free(h, ptr);
    process_heap_unlock();
}

HMM_EXPORT void *HmmRealloc(void *ptr, size_t size)
{
    if (!ptr)
        return HmmAlloc(size);
    hmm_heap *h = process_heap_lock();
    void *p = hmm_heap_realloc(h, ptr, size);
    process_heap_unlock();
    if (!p && size)
        errno = ENOMEM;
    return p;
}

HMM_EXPORT void *HmmCalloc(size_t nmemb, size_t size)
{
    if (nmemb == 0 || size == 0)
        return NULL;
    hmm_heap *h = process_heap_lock();
    void *p = hmm_heap_calloc(h, nmemb, size);
    process_heap_unlock();
    if (!p)
        errno = ENOMEM;
    return p;
}
