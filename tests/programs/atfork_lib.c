/*
 * atfork_lib.c - a shared library shaped like real ones (a logger, a
 * crypto library's random pool): its constructor registers fork handlers,
 * its prepare handler takes the library's own lock and writes with dprintf
 * (which allocates in glibc), and its parent and child handlers allocate
 * and give the lock back.  Threads call lib_work(), which allocates while
 * holding that lock.
 *
 * Under an allocator that takes its own lock in a prepare handler run
 * before this one, fork deadlocks: the forking thread holds the allocator's
 * lock and waits for the library's, while a thread in lib_work() holds the
 * library's and waits for the allocator's.
 */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t lib_lock = PTHREAD_MUTEX_INITIALIZER;
static int log_fd = -1;
static unsigned long forks_seen;

static void touch_heap(size_t size)
{
    char *p = malloc(size);
    if (!p)
        abort();
    memset(p, 0x5c, size);
    char *q = realloc(p, size * 2);
    if (!q)
        abort();
    free(q);
}

static void prepare(void)
{
    pthread_mutex_lock(&lib_lock);
    dprintf(log_fd, "fork %lu\n", forks_seen);
    touch_heap(100);
}

static void parent(void)
{
    forks_seen++;
    touch_heap(200);
    pthread_mutex_unlock(&lib_lock);
}

static void child(void)
{
    touch_heap(300);
    pthread_mutex_unlock(&lib_lock);
}

__attribute__((constructor)) static void lib_start(void)
{
    log_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    pthread_atfork(prepare, parent, child);
}

void lib_work(unsigned i)
{
    pthread_mutex_lock(&lib_lock);
    touch_heap(16 + i % 2000);
    pthread_mutex_unlock(&lib_lock);
}

unsigned long lib_forks_seen(void)
{
    return forks_seen;
}
