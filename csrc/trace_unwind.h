/*
 * trace_unwind.h - call stacks for the tracer (trace.h).
 *
 * The distribution's programs are built without frame pointers, so a
 * stack is found from the DWARF call frame information (.eh_frame) that
 * every x86-64 object carries for C++ exceptions.  Three unwinders, the
 * first that loads is used (HMM_TRACE_UNWIND picks one):
 *
 *  - "hmm" (x86-64, glibc 2.35 and later): trace_cfi.c.  For each code
 *    address it works out once, from the CFI, where the caller's frame and
 *    return address are (two small numbers), and keeps that in a table:
 *    every later stack through that address costs a table look-up and a
 *    load or two per frame.  glibc's _dl_find_object finds an address's
 *    object and its .eh_frame_hdr without a lock.
 *  - "libunwind" (Debian's libunwind8, as heaptrack uses): unw_backtrace()
 *    caches too, but pays some 800 instructions a stack before its first
 *    frame (its context, its cursor, its per-thread cache).
 *  - "libgcc": _Unwind_Backtrace, which C++ exceptions use; it reads the
 *    CFI again for every frame of every stack, several times slower still.
 *
 * The latter two are loaded with dlopen when tracing starts, so that
 * libhmm-trace.so links against libc only.  The README ("Tracing a
 * program") gives what each costs.
 */
#ifndef HMM_TRACE_UNWIND_H
#define HMM_TRACE_UNWIND_H

#include <stdint.h>

/* Load the unwinder `wanted` ("hmm", "libunwind", "libgcc"), or the first
 * that loads when it is NULL; its name, or NULL when none loads. */
const char *trace_unwind_load(const char *wanted);
/* Up to `depth` return addresses of the calling program, innermost first,
 * in *ip (this thread's: good until its next call), with *same_as_last 1
 * when they are exactly the thread's last stack's,
 * starting in the function that called the malloc name: this library's
 * own frames are left out.  `frame` is the malloc name's frame pointer
 * (its saved rbp, then its return address): the "hmm" unwinder starts
 * there, the others walk through the tracer's frames and drop them.  0
 * when there is no unwinder.  Called with the tracer's lock held (the
 * "hmm" unwinder's table is shared). */
int trace_unwind(const uintptr_t **ip, int depth, const void *frame, int *same_as_last);
/* Code was unloaded: what the unwinder knows of code addresses goes.
 * Called with the tracer's lock held. */
void trace_unwind_forget(void);

#endif /* HMM_TRACE_UNWIND_H */
