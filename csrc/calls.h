/*
 * calls.h - which libc malloc call a thread is inside (the list of calls
 * is in call.h).
 *
 * Every libc name marks its thread as inside the allocator for the length
 * of the call (call_enter/call_leave).  A call made while the mark is set
 * comes from a signal handler that interrupted the thread inside the
 * allocator: the heap or the thread's cache may be half-way through a
 * change, and the lock may be held by this very thread.  Such a call
 * (call_enter returns NULL) must not touch either: malloc_api.c serves it
 * from the lock-free reserve (reserve.h), and a free of a heap block waits
 * in the thread's list of deferred frees until the thread's next ordinary
 * call.  Check mode reports it instead, as a bug finder should.
 *
 * The mark is a byte, so that setting it costs one store of a constant, and
 * it shares a 16-bit word with the count of deferred frees, so that one
 * test on the way in catches both.
 */
#ifndef HMM_CALLS_H
#define HMM_CALLS_H

#include "call.h"

#include <stdint.h>

#define CALL_DEFERRED_MAX 16

typedef struct call_state {
    union {
        struct {
            uint8_t in_call;  /* the enum hmm_call this thread is inside, or 0 */
            uint8_t deferred; /* frees waiting in deferred_frees */
        };
        uint16_t busy;        /* either of them: the slow way in */
    };
    void *deferred_frees[CALL_DEFERRED_MAX];
} call_state;

/* The way in when the thread's call state is busy: drains the deferred
 * frees and returns 1, or returns 0 for a re-entered call (check mode
 * reports it instead).  The fast way in, call_enter(), and call_leave() are
 * in thread_cache.h: the call state lives in the thread's cache, so that
 * one thread-local base serves both. */
int call_enter_slow(enum hmm_call call);

#endif /* HMM_CALLS_H */
