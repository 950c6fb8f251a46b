/*
 * api_name.h - the names under which malloc_api.c and malloc_info.c define
 * the libc malloc names.
 *
 * In libhmm.so, HMM_API(malloc) is malloc itself, exported.  In
 * libhmm-trace.so (built with HMM_TRACING) it is untraced_malloc, hidden,
 * and trace_api.c defines malloc around it, recording each call (trace.h):
 * the same allocator, and not one instruction more in libhmm.so.
 */
#ifndef HMM_API_NAME_H
#define HMM_API_NAME_H

#ifdef HMM_TRACING
#define HMM_API(name) untraced_##name
#define HMM_EXPORT __attribute__((visibility("hidden")))
#else
#define HMM_API(name) name
#define HMM_EXPORT __attribute__((visibility("default")))
#endif

/* X(name, target): glibc's other names for the same functions; each
 * resolves to its target, the exported one (traced when tracing). */
#define HMM_ALIASES(X)                  \
    X(cfree, free)                      \
    X(__libc_malloc, malloc)            \
    X(__libc_free, free)                \
    X(__libc_calloc, calloc)            \
    X(__libc_realloc, realloc)          \
    X(__libc_memalign, memalign)        \
    X(__libc_valloc, valloc)            \
    X(__libc_pvalloc, pvalloc)          \
    X(__posix_memalign, posix_memalign)

#define HMM_DEFINE_ALIAS(name, target) \
    extern __typeof(target) name __attribute__((alias(#target), copy(target), visibility("default")));

#endif /* HMM_API_NAME_H */
