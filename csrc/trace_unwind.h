/*
 * trace_unwind.h - call stacks for the tracer (trace.h).
 *
 * The distribution's programs are built without frame pointers, so a
 * stack is found from the DWARF unwind tables (.eh_frame) that every
 * x86-64 object carries.  libunwind (Debian's libunwind8) does it best: its
 * unw_backtrace() remembers, per code address, how to step out of that
 * frame, so that the second time a stack passes through a function costs a
 * table look-up instead of decoding its DWARF rules again (heaptrack uses
 * it for the same reason).  Where libunwind is missing, libgcc's
 * _Unwind_Backtrace (always there: C++ exceptions use it) decodes the
 * rules every time, several times slower.  Either is loaded with dlopen
 * when tracing starts, so that libhmm-trace.so links against libc only.
 */
#ifndef HMM_TRACE_UNWIND_H
#define HMM_TRACE_UNWIND_H

#include <stdint.h>

/* Load an unwinder; its name ("libunwind", "libgcc"), or NULL if none. */
const char *trace_unwind_load(void);
/* Up to `depth` return addresses of the calling program, innermost first,
 * starting in the function that called the malloc name: this library's
 * own frames are left out.  0 when there is no unwinder. */
int trace_unwind(uintptr_t *ip, int depth);

#endif /* HMM_TRACE_UNWIND_H */
