/*
 * call.h - the malloc calls, by name: the one list.
 *
 * The heap keeps the call it is serving (hmm_heap.call) to name it in
 * misuse reports ("hmm: free(): double free of ..."), and to tell a double
 * free from a use after free; the preload library marks each thread with
 * the call it is inside (calls.h).  Both use this list, so a call has one
 * name.  It is names only: what a thread inside a call may do is the
 * preload library's business, in calls.h, which the core never includes.
 * The last four are not malloc names but times a thread holds the heap's
 * lock or is inside the tracer; the core never serves them.
 */
#ifndef HMM_CALL_H
#define HMM_CALL_H

#define HMM_CALLS(X)                                            \
    X(CALL_MALLOC, "malloc()") X(CALL_FREE, "free()")           \
    X(CALL_CALLOC, "calloc()") X(CALL_REALLOC, "realloc()")     \
    X(CALL_REALLOCARRAY, "reallocarray()")                      \
    X(CALL_MEMALIGN, "memalign()")                              \
    X(CALL_POSIX_MEMALIGN, "posix_memalign()")                  \
    X(CALL_ALIGNED_ALLOC, "aligned_alloc()")                    \
    X(CALL_VALLOC, "valloc()") X(CALL_PVALLOC, "pvalloc()")     \
    X(CALL_USABLE_SIZE, "malloc_usable_size()")                 \
    X(CALL_FREE_SIZED, "free_sized()")                          \
    X(CALL_FREE_ALIGNED_SIZED, "free_aligned_sized()")          \
    X(CALL_MALLINFO, "mallinfo()") X(CALL_MALLINFO2, "mallinfo2()") \
    X(CALL_MALLOC_INFO, "malloc_info()")                        \
    X(CALL_MALLOC_STATS, "malloc_stats()")                      \
    X(CALL_MALLOC_TRIM, "malloc_trim()")                        \
    X(CALL_MALLOPT, "mallopt()")                                \
    /* not malloc names, but times a thread holds the heap's lock: */ \
    X(CALL_FORK, "fork()") X(CALL_EXIT, "exit()")              \
    X(CALL_THREAD_EXIT, "thread exit")                          \
    /* and the tracer's own calls (trace.c), served by the reserve */ \
    X(CALL_TRACER, "the tracer")

enum hmm_call {
    CALL_NONE = 0,
#define HMM_CALL_ID(id, name) id,
    HMM_CALLS(HMM_CALL_ID)
#undef HMM_CALL_ID
};

/* The call's name as misuse reports print it ("free()"); CALL_NONE, before
 * any call, is named "malloc()" (misuse.c). */
const char *call_name(enum hmm_call call);

#endif /* HMM_CALL_H */
