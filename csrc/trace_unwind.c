#define _GNU_SOURCE
/* trace_unwind.c - see trace_unwind.h. */
#include "trace_unwind.h"

#include "trace.h"
#include "trace_cfi.h"
#include "trace_format.h"

#include <dlfcn.h>
#include <link.h>
#include <stddef.h>
#include <string.h>

#define OWN_FRAMES_MAX 8 /* this library's frames above the program's: the wrapper, the tracer */

static int use_cfi; /* trace_cfi.c's */

typedef int unw_backtrace_fn(void **buffer, int size);
static unw_backtrace_fn *unw_backtrace_ptr;

/* libgcc's interface, declared here as its unwind.h has it. */
struct _Unwind_Context;
typedef int unwind_trace_fn(struct _Unwind_Context *, void *);
typedef int unwind_backtrace_fn(unwind_trace_fn *, void *);
typedef uintptr_t unwind_get_ip_fn(struct _Unwind_Context *);
static unwind_backtrace_fn *gcc_backtrace;
static unwind_get_ip_fn *gcc_get_ip;

/* This library's code, whose frames are left out. */
static uintptr_t own_low, own_high;

static int find_own(struct dl_phdr_info *info, size_t size, void *base)
{
    (void)size;
    if (info->dlpi_addr != (uintptr_t)base)
        return 0;
    for (unsigned i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
            own_low = info->dlpi_addr + ph->p_vaddr;
            own_high = own_low + ph->p_memsz;
        }
    }
    return 1;
}

static int wants(const char *wanted, const char *name)
{
    return !wanted || !strcmp(wanted, name);
}

const char *trace_unwind_load(const char *wanted)
{
    Dl_info self;
    if (dladdr((void *)trace_unwind, &self) && self.dli_fbase)
        dl_iterate_phdr(find_own, self.dli_fbase);
    if (wants(wanted, "hmm") && cfi_load()) {
        use_cfi = 1;
        return "hmm";
    }
    if (wants(wanted, "libunwind")) {
        void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
        if (lib && (unw_backtrace_ptr = (unw_backtrace_fn *)dlsym(lib, "unw_backtrace")))
            return "libunwind";
    }
    if (wants(wanted, "libgcc")) {
        void *lib = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_LOCAL);
        if (lib) {
            gcc_backtrace = (unwind_backtrace_fn *)dlsym(lib, "_Unwind_Backtrace");
            gcc_get_ip = (unwind_get_ip_fn *)dlsym(lib, "_Unwind_GetIP");
            if (gcc_backtrace && gcc_get_ip)
                return "libgcc";
        }
        gcc_backtrace = NULL;
    }
    return NULL;
}

typedef struct gcc_walk {
    uintptr_t *ip;
    int n, max;
} gcc_walk;

static int gcc_frame(struct _Unwind_Context *context, void *arg)
{
    gcc_walk *walk = arg;
    if (walk->n >= walk->max)
        return 5; /* _URC_END_OF_STACK: enough */
    uintptr_t ip = gcc_get_ip(context);
    if (!ip)
        return 5;
    walk->ip[walk->n++] = ip;
    return 0; /* _URC_NO_REASON: go on */
}

static __thread uintptr_t frames[TRACE_MAX_DEPTH] __attribute__((tls_model("initial-exec")));

int trace_unwind(const uintptr_t **out, int depth, const void *frame, int *same_as_last)
{
    if (use_cfi) {
        const uintptr_t *fp = frame;
        return cfi_backtrace_from(fp[1], (uintptr_t)(fp + 2), fp[0], out, depth, same_as_last);
    }
    uintptr_t *ip = frames;
    *out = frames;
    *same_as_last = 0;
    if (depth > TRACE_MAX_DEPTH)
        depth = TRACE_MAX_DEPTH;
    uintptr_t all[TRACE_MAX_DEPTH + OWN_FRAMES_MAX];
    int max = depth + OWN_FRAMES_MAX, n = 0;
    if (max > (int)(sizeof all / sizeof all[0]))
        max = (int)(sizeof all / sizeof all[0]);
    if (unw_backtrace_ptr) {
        n = unw_backtrace_ptr((void **)all, max);
    } else if (gcc_backtrace) {
        gcc_walk walk = {all, 0, max};
        gcc_backtrace(gcc_frame, &walk);
        n = walk.n;
    }
    int first = 0;
    while (first < n && first < OWN_FRAMES_MAX && all[first] - own_low < own_high - own_low)
        first++;
    int kept = 0;
    for (int i = first; i < n && kept < depth; i++)
        ip[kept++] = all[i];
    return kept;
}

void trace_unwind_forget(void)
{
    if (use_cfi)
        cfi_forget();
}

/* dlclose, passed on: the object's code may be unmapped and another's
 * mapped at its addresses, so the rules cached for them go (trace_cfi.c).
 * Taken with the tracer's lock, which the walks hold. */
__attribute__((visibility("default"))) int dlclose(void *handle)
{
    static int (*real)(void *);
    if (!real)
        real = (int (*)(void *))dlsym(RTLD_NEXT, "dlclose");
    int result = real ? real(handle) : -1;
    trace_code_unloaded();
    return result;
}
