/*
 * trace_cfi.h - HMM's own stack unwinder for x86-64 (trace_unwind.h).
 *
 * To step from a frame to its caller an unwinder needs, at the frame's code
 * address: where the canonical frame address (CFA, the stack pointer before
 * the call) is, as a register (rsp or rbp) plus an offset; where the
 * return address is (always CFA - 8 on x86-64); and, if the function saved
 * the caller's rbp, where (CFA + an offset).  The .eh_frame CFI gives these
 * as a small program per function (DWARF's call frame instructions): run
 * it up to the address and the rule is what it left.  Running it is slow,
 * so the rule is kept, per address, in a table: a stack through code seen
 * before costs a look-up per frame.
 *
 *   lookup:  ip --_dl_find_object--> .eh_frame_hdr --binary search--> FDE
 *            --its CIE's and its own instructions, up to ip--> rule
 *   step:    cfa = (rsp or rbp) + offset;  return address = [cfa - 8];
 *            rbp = [cfa + rbp_offset] if saved;  rsp = cfa
 *
 * What it cannot follow (no CFI, a CFA given by a DWARF expression, as in
 * PLT stubs and signal trampolines, a CFA in another register after a
 * stack realignment) ends the stack there.  Every load is checked against
 * the thread's stack bounds, so a wrong rule ends a stack, never the
 * program.
 */
#ifndef HMM_TRACE_CFI_H
#define HMM_TRACE_CFI_H

#include <stdint.h>

/* 1 when this unwinder works here (x86-64 with _dl_find_object). */
int cfi_load(void);
/* Code was unloaded: forget the rules worked out for any address. */
void cfi_forget(void);
/* Up to `max` return addresses, the first `ip`: the frame whose code is at
 * ip (a return address), whose stack pointer was sp at the call and whose
 * caller's rbp is bp; then its caller's, and so on.  They are left in *out,
 * the thread's, and *same_as_last is 1 when they are exactly the thread's
 * last walk's. */
int cfi_backtrace_from(uintptr_t ip, uintptr_t sp, uintptr_t bp, const uintptr_t **out, int max,
                       int *same_as_last);

#endif /* HMM_TRACE_CFI_H */
