#define _GNU_SOURCE
/* trace.c - the recorder of libhmm-trace.so; see trace.h and trace_format.h. */
#include "trace_hot.h"

#include "lock.h"
#include "options.h"
#include "process_heap.h"
#include "report.h"
#include "reserve.h"
#include "thread_cache.h"
#include "trace_unwind.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/single_threaded.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#define WINDOW_MIN ((uint64_t)64 << 10)   /* file bytes mapped at a time: at first, */
#define WINDOW_MAX ((uint64_t)8 << 20)    /* and once the file is this big */
#define EARLY_SIZE (256u << 10)           /* records kept before the file opens */
#define SCRATCH_SIZE 8192                 /* a record written with pwrite (DIRECT) */
#define PATH_CAP 4096

int trace_on = 1; /* until the constructor finds HMM_TRACE unset */

struct tracer tr = {.mode = MODE_EARLY, .fd = -1, .last_tid = NO_THREAD};

static unsigned char early[EARLY_SIZE];
static trace_header early_header;
static unsigned char scratch[SCRATCH_SIZE];

__thread struct trace_thread me __attribute__((tls_model("initial-exec")));

/* ---- Time ---------------------------------------------------------------- */

static uint64_t clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- Encoding ------------------------------------------------------------- */

static unsigned char *put_bytes(unsigned char *out, const char *s, size_t n)
{
    out = put_varint(out, n);
    memcpy(out, s, n);
    return out + n;
}

/* ---- The file ------------------------------------------------------------ */

static void say(const char *what, const char *why)
{
    report_line("HMM_TRACE=", tr.path, ": ", what, why ? ": " : "", why ? why : "", NULL);
}

/* Stop tracing for good (a write failed): what is written stays. */
static void stop(const char *what, int error)
{
    say(what, error ? strerror(error) : NULL);
    report_line("the program runs on untraced", NULL);
    if (tr.window && tr.mode == MODE_MAPPED)
        munmap(tr.window, (size_t)(tr.window_end - tr.window_start));
    tr.window = NULL;
    tr.window_start = tr.window_end = 0;
    if (tr.fd >= 0 && tr.mode != MODE_EARLY)
        (void)!ftruncate(tr.fd, (off_t)tr.pos);
    tr.mode = MODE_OFF;
    __atomic_store_n(&trace_on, 0, __ATOMIC_RELAXED);
}

/* Map the window that holds file offset `at` onward.  Its blocks are
 * reserved first, so it grows with the file (a window as big as what is
 * written so far, from 64 KiB to 8 MiB): the blocks of a short program's
 * trace cost nothing much to reserve, and to give back at exit. */
static int map_window(uint64_t at, uint64_t need)
{
    uint64_t start = at & ~(uint64_t)4095, size = WINDOW_MIN;
    while ((size < start && size < WINDOW_MAX) || size < at - start + need)
        size *= 2; /* and always room for the record asked for (calls before the file opened) */
    /* Past the program's file size limit (ulimit -f) the kernel would
     * answer with SIGXFSZ, which kills a program that never asked for the
     * trace: a full disk, as far as the trace goes. */
    struct rlimit limit;
    if (getrlimit(RLIMIT_FSIZE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY &&
        start + size > (uint64_t)limit.rlim_cur) {
        stop("cannot grow the trace", EFBIG);
        return 0;
    }
    int error = posix_fallocate(tr.fd, (off_t)start, (off_t)size);
    if (error) {
        stop("cannot grow the trace", error);
        return 0;
    }
    void *w = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, tr.fd, (off_t)start);
    if (w == MAP_FAILED) {
        stop("cannot map the trace", errno);
        return 0;
    }
    if (tr.window)
        munmap(tr.window, (size_t)(tr.window_end - tr.window_start));
    tr.window = w;
    tr.window_start = start;
    tr.window_end = start + size;
    return 1;
}

static void put_clock(void);
static void put_modules(void);

/* Where a record of up to n bytes goes, or NULL when it cannot be written. */
static unsigned char *room_for(size_t n)
{
    switch (tr.mode) {
    case MODE_EARLY:
        if (tr.pos + n > tr.window_end)
            return NULL;
        break;
    case MODE_MAPPED:
        if (tr.pos + n > tr.window_end) {
            /* Room for the clock and module records too, which go first. */
            if (!map_window(tr.pos, n + RECORD_MAX))
                return NULL;
            put_clock(); /* anchors for the time, every window */
            put_modules(); /* and libraries loaded since */
            if (tr.mode != MODE_MAPPED || (tr.pos + n > tr.window_end && !map_window(tr.pos, n)))
                return NULL;
        }
        break;
    case MODE_DIRECT:
        return n <= SCRATCH_SIZE ? scratch : NULL;
    default:
        return NULL;
    }
    return tr.window + (tr.pos - tr.window_start);
}

/* The bytes from `start` (from room_for) to `end` are a record. */
static void commit(unsigned char *start, unsigned char *end)
{
    size_t n = (size_t)(end - start);
    if (tr.mode == MODE_DIRECT) {
        ssize_t w = pwrite(tr.fd, start, n, (off_t)tr.pos);
        if (w != (ssize_t)n) {
            stop("cannot write the trace", w < 0 ? errno : ENOSPC);
            return;
        }
    }
    tr.pos += n;
    __atomic_store_n(&tr.header->length, tr.pos - TRACE_HEADER_SIZE, __ATOMIC_RELEASE);
}

static void put_clock(void)
{
    unsigned char *start = room_for(32), *out = start;
    if (!out)
        return;
    *out++ = TRACE_CLOCK;
    out = put_varint(out, ticks());
    out = put_varint(out, clock_ns(CLOCK_MONOTONIC));
    commit(start, out);
}

static void put_lost(void)
{
    unsigned char *start = room_for(16), *out = start;
    if (!out)
        return;
    uint64_t lost = __atomic_load_n(&tr.lost, __ATOMIC_RELAXED);
    *out++ = TRACE_LOST;
    out = put_varint(out, lost);
    commit(start, out);
    __atomic_sub_fetch(&tr.lost, lost, __ATOMIC_RELAXED); /* a handler may have added one meanwhile */
}

/* After a call that grew or trimmed the process heap, its new size. */
static __attribute__((noinline)) void put_heap_size(void)
{
    int saved_errno = errno;
    unsigned char *start = room_for(16), *out = start;
    if (out) {
        uint64_t size = __atomic_load_n(&heap_size_published, __ATOMIC_RELAXED);
        *out++ = TRACE_HEAP;
        out = put_varint(out, size);
        commit(start, out);
        tr.heap_size = size;
    }
    errno = saved_errno;
}

static void put_text_record(enum trace_tag tag, const char *text)
{
    size_t n = strnlen(text, SCRATCH_SIZE - 32);
    unsigned char *start = room_for(n + 16), *out = start;
    if (!out)
        return;
    *out++ = (unsigned char)tag;
    out = put_bytes(out, text, n);
    commit(start, out);
}

/* ---- Modules -------------------------------------------------------------- */

static char exe_path[PATH_CAP];

static int put_module(struct dl_phdr_info *info, size_t size, void *unused)
{
    (void)size;
    (void)unused;
    const char *name = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : exe_path;
    size_t len = strnlen(name, PATH_CAP - 1);
    unsigned char *start = room_for(len + 32 + (size_t)info->dlpi_phnum * 20), *out = start;
    if (!out)
        return 1;
    *out++ = TRACE_MODULE;
    out = put_varint(out, info->dlpi_addr);
    out = put_bytes(out, name, len);
    unsigned loads = 0;
    for (unsigned i = 0; i < info->dlpi_phnum; i++)
        loads += info->dlpi_phdr[i].p_type == PT_LOAD;
    out = put_varint(out, loads);
    for (unsigned i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_LOAD) {
            out = put_varint(out, info->dlpi_phdr[i].p_vaddr);
            out = put_varint(out, info->dlpi_phdr[i].p_memsz);
        }
    commit(start, out);
    return 0;
}

static int read_adds(struct dl_phdr_info *info, size_t size, void *out)
{
    (void)size;
    *(unsigned long long *)out = info->dlpi_adds;
    return 1;
}

/* Every loaded object, when any was loaded since the last time. */
static void put_modules(void)
{
    unsigned long long adds = 0;
    dl_iterate_phdr(read_adds, &adds);
    if (adds == tr.modules_added)
        return;
    tr.modules_added = adds;
    dl_iterate_phdr(put_module, NULL);
}

/* ---- Stacks ---------------------------------------------------------------- */

/* The stacks seen, by a hash of their frames: open addressing in a table
 * that doubles at half full, the frames in an array beside it; both
 * mapped, never the heap's. */
typedef struct stack_slot {
    uint64_t hash;
    uint32_t id;      /* 0: empty */
    uint32_t frames;
    uint64_t at;      /* index of its first frame in stack_frames */
} stack_slot;

static stack_slot *stack_table;
static uint64_t stack_cap, stack_count;
static uintptr_t *stack_frames;
static uint64_t frames_cap, frames_used;

static void *map_zeroed(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

/* The frames' multiplications do not wait for each other, only the
 * rotations do: a stack of 32 frames hashes in some 70 cycles. */
static uint64_t hash_frames(const uintptr_t *ip, int n)
{
    uint64_t h = 0x243f6a8885a308d3ull ^ (uint64_t)n;
    for (int i = 0; i < n; i++)
        h = ((h << 5) | (h >> 59)) ^ (ip[i] * 0x9e3779b97f4a7c15ull);
    return h ^ (h >> 29);
}

static int grow_stacks(void)
{
    uint64_t cap = stack_cap ? stack_cap * 2 : 4096;
    stack_slot *table = map_zeroed(cap * sizeof *table);
    if (!table)
        return 0;
    for (uint64_t i = 0; i < stack_cap; i++) {
        if (!stack_table[i].id)
            continue;
        uint64_t j = stack_table[i].hash & (cap - 1);
        while (table[j].id)
            j = (j + 1) & (cap - 1);
        table[j] = stack_table[i];
    }
    if (stack_table)
        munmap(stack_table, stack_cap * sizeof *stack_table);
    stack_table = table;
    stack_cap = cap;
    return 1;
}

static int grow_frames(uint64_t need)
{
    uint64_t cap = frames_cap ? frames_cap : 65536;
    while (cap < need)
        cap *= 2;
    uintptr_t *frames = map_zeroed(cap * sizeof *frames);
    if (!frames)
        return 0;
    if (stack_frames) {
        memcpy(frames, stack_frames, frames_used * sizeof *frames);
        munmap(stack_frames, frames_cap * sizeof *frames);
    }
    stack_frames = frames;
    frames_cap = cap;
    return 1;
}

static void forget_stacks(void)
{
    if (stack_table)
        memset(stack_table, 0, stack_cap * sizeof *stack_table);
    stack_count = 0;
    frames_used = 0;
}

/* The id of the call's stack, its record written when it is new; 0 when
 * it has none or cannot be kept. */
static uint32_t stack_id(const trace_call *c)
{
    if (c->frames <= 0)
        return 0;
    uint64_t h = hash_frames(c->ip, c->frames);
    if (stack_cap) {
        for (uint64_t j = h & (stack_cap - 1); stack_table[j].id; j = (j + 1) & (stack_cap - 1)) {
            stack_slot *s = &stack_table[j];
            if (s->hash == h && s->frames == (uint32_t)c->frames &&
                !memcmp(stack_frames + s->at, c->ip, (size_t)c->frames * sizeof c->ip[0]))
                return s->id;
        }
    }
    if ((stack_count + 1) * 2 > stack_cap && !grow_stacks())
        return 0;
    if (frames_used + (uint64_t)c->frames > frames_cap && !grow_frames(frames_used + (uint64_t)c->frames))
        return 0;
    put_modules(); /* a library loaded since may hold some of its frames */
    unsigned char *start = room_for(16 + (size_t)c->frames * 10), *out = start;
    if (!out)
        return 0;
    uint32_t id = (uint32_t)++stack_count;
    *out++ = TRACE_STACK;
    out = put_varint(out, id);
    out = put_varint(out, (uint64_t)c->frames);
    uintptr_t previous = 0;
    for (int i = 0; i < c->frames; i++) {
        out = put_varint(out, zigzag((int64_t)(c->ip[i] - previous)));
        previous = c->ip[i];
    }
    commit(start, out);
    uint64_t j = h & (stack_cap - 1);
    while (stack_table[j].id)
        j = (j + 1) & (stack_cap - 1);
    stack_table[j] = (stack_slot){.hash = h, .id = id, .frames = (uint32_t)c->frames, .at = frames_used};
    memcpy(stack_frames + frames_used, c->ip, (size_t)c->frames * sizeof c->ip[0]);
    frames_used += (uint64_t)c->frames;
    return id;
}

/* ---- Calls ------------------------------------------------------------------- */

/* Results each call has after its arguments (trace_format.h): what a call
 * cut short by a misuse report is given, as zeros. */
static int results_of(enum trace_tag tag)
{
    switch (tag) {
    case TRACE_FREE: case TRACE_HMM_FREE: case TRACE_FREE_SIZED: case TRACE_FREE_ALIGNED_SIZED:
    case TRACE_MALLINFO: case TRACE_MALLINFO2: case TRACE_MALLOC_STATS:
        return 0;
    case TRACE_POSIX_MEMALIGN:
        return 2;
    default:
        return 1;
    }
}

/* The tracer works on this thread: the allocator serves what it causes
 * from the reserve, not the heap (trace.h). */
static uint8_t own_begin(void)
{
    me.own = 1;
    uint8_t in_call = hmm_thread_cache.calls.in_call;
    hmm_thread_cache.calls.in_call = CALL_TRACER;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    return in_call;
}

static void own_end(uint8_t in_call)
{
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    hmm_thread_cache.calls.in_call = in_call;
    me.own = 0;
}

static void early_setup(void);

/* The call's stack: walked, and its id found (its STACK record written
 * when it is new), under the lock: the unwinder's table and the stacks'
 * are shared.  The record of the call can then take the common way. */
static void take_stack(trace_call *c)
{
    int saved_errno = errno;
    uint8_t in_call = own_begin();
    c->frames = trace_unwind(&c->ip, (int)tr.depth, c->frame, &c->same_as_last);
    uint32_t walk = ++me.walks;
    if (c->frames <= 0)
        c->stack = 0;
    else if (c->same_as_last && me.last_stack && me.last_stack_walk == walk - 1)
        c->stack = me.last_stack; /* the frames of the walk just before, whose id is known */
    else
        c->stack = stack_id(c);
    me.last_stack = c->stack;
    me.last_stack_walk = walk;
    c->frames = 0;
    own_end(in_call);
    errno = saved_errno;
}

/* trace_begin's less common ways: the tracer's own calls, a handler's
 * while this thread writes, calls inside calls, stacks, the first call of
 * all, a lock another thread holds. */
int trace_begin_slow(trace_call *c, enum trace_tag tag, const void *frame)
{
    if (me.own)
        return 0; /* the tracer's own (the unwinder's): served by the reserve */
    if (me.writing || me.depth) {
        /* A signal handler's call, made while this thread is inside a
         * traced call: counted, not recorded.  Its record would come
         * before the interrupted call's, which is written when that call
         * returns, and could show a block allocated again before the free
         * that let it go (the handler's malloc getting the block the
         * interrupted free had just given back). */
        __atomic_add_fetch(&tr.lost, 1, __ATOMIC_RELAXED);
        return 0;
    }
    c->tag = (uint8_t)tag;
    c->n = 0;
    c->frames = 0;
    c->stack = 0;
    /* The lock, unless this thread is the process's only one.  Until the
     * call is under way, a signal handler's call is lost, not stuck on the
     * lock nor writing over a STACK record half written. */
    c->locked = !__libc_single_threaded;
    me.writing = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    if (c->locked) {
        if (!lock_take(&tr.lock)) {
            me.writing = 0;
            return 0; /* the heap was given up after a misuse: untraced from now */
        }
    }
    if (!tr.header && tr.mode == MODE_EARLY)
        early_setup(); /* the first call of all */
    if (tr.mode == MODE_OFF) {
        if (c->locked)
            lock_give(&tr.lock);
        me.writing = 0;
        return 0;
    }
    c->frame = frame;
    if (tr.depth && tr.mode != MODE_EARLY && allocates(tag))
        take_stack(c);
    me.depth++;
    c->outer = me.pending;
    me.pending = c;
    c->tsc = ticks();
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    me.writing = 0;
    return 1;
}


/* What comes before a call's record now and then: the calls lost, and
 * the thread when it changed.  The call's stack id (take_stack's). */
static __attribute__((noinline)) uint32_t put_call_context(trace_call *c)
{
    int saved_errno = errno;
    if (tr.lost)
        put_lost();
    if (!me.tid)
        me.tid = (uint32_t)syscall(SYS_gettid);
    if (me.tid != tr.last_tid) {
        unsigned char *start = room_for(16), *out = start;
        if (out) {
            *out++ = TRACE_THREAD;
            out = put_varint(out, me.tid);
            commit(start, out);
            tr.last_tid = me.tid;
        }
    }
    errno = saved_errno;
    return c->stack;
}

static __attribute__((noinline)) unsigned char *room_for_call(void)
{
    int saved_errno = errno;
    unsigned char *out = room_for(RECORD_MAX);
    errno = saved_errno;
    return out;
}

/* Where the call's record goes, its tag, time and stack written; what
 * must come before it written first.  NULL when it cannot be written. */
static inline unsigned char *record_open(trace_call *c, unsigned char **start)
{
    me.writing = 1;
    uint32_t stack = c->stack;
    if (__builtin_expect(tr.lost || me.tid != tr.last_tid, 0))
        stack = put_call_context(c);
    /* Records fit in the window (or early[]) nearly always; a full
     * window, and every record once exit began (window_end is 0 then),
     * take room_for's slower way. */
    unsigned char *out;
    if (__builtin_expect(tr.pos + RECORD_MAX <= tr.window_end, 1))
        out = tr.window + (tr.pos - tr.window_start);
    else if (!(out = room_for_call()))
        return NULL;
    *start = out;
    *out++ = c->tag;
    out = put_varint(out, c->tsc - tr.last_tsc);
    tr.last_tsc = c->tsc;
    return put_varint(out, stack);
}

static inline void record_close(unsigned char *start, unsigned char *end)
{
    if (__builtin_expect(end != NULL, 1)) {
        if (__builtin_expect(tr.mode == MODE_DIRECT, 0)) {
            int saved_errno = errno;
            commit(start, end);
            errno = saved_errno;
        } else {
            tr.pos += (uint64_t)(end - start);
            __atomic_store_n(&tr.header->length, tr.pos - TRACE_HEADER_SIZE, __ATOMIC_RELEASE);
        }
        if (__builtin_expect(tr.heap_size != heap_size_published, 0))
            put_heap_size();
    } else {
        __atomic_add_fetch(&tr.lost, 1, __ATOMIC_RELAXED);
    }
    me.writing = 0;
}

/* The call's record, its fields as trace_field gave them. */
static void put_call(trace_call *c)
{
    unsigned char *start, *out = record_open(c, &start);
    if (out) {
        for (int i = 0; i < c->n; i++) {
            if (c->kind[i] == FIELD_PTR)
                out = put_ptr(out, c->field[i]);
            else if (c->kind[i] == FIELD_SIZE)
                out = put_varint(out, c->field[i]);
            else
                out = put_varint(out, zigzag((int64_t)c->field[i]));
        }
    }
    record_close(start, out);
}

void trace_end(trace_call *c)
{
    put_call(c);
    trace_leave(c);
}

/* The two commonest records when trace_hot.h's way cannot take them. */
void trace_end_block_slow(trace_call *c, const void *block)
{
    unsigned char *start, *out = record_open(c, &start);
    if (out) {
        out = put_varint(out, c->field[0]);
        out = put_ptr(out, (uintptr_t)block);
    }
    record_close(start, out);
    trace_leave(c);
}

void trace_end_free_slow(trace_call *c)
{
    unsigned char *start, *out = record_open(c, &start);
    if (out)
        out = put_ptr(out, c->field[0]);
    record_close(start, out);
    trace_leave(c);
}

void trace_drop(trace_call *c)
{
    trace_leave(c);
}

/* The process heap's give-up hook: a misuse was reported, and the program
 * aborts next.  The call that found it ends the trace, with the report. */
static void trace_misuse(const char *message)
{
    trace_call *c = me.pending;
    if (!c || me.writing || tr.mode == MODE_OFF)
        return;
    for (int i = results_of((enum trace_tag)c->tag); i > 0 && c->n < TRACE_FIELDS_MAX; i--)
        trace_field(c, FIELD_SIZE, 0); /* the results it never had: zeros */
    if (tr.depth && !c->stack && tr.mode != MODE_EARLY)
        take_stack(c); /* where the faulty free was */
    put_call(c);
    me.writing = 1;
    put_text_record(TRACE_MISUSE, message);
    me.writing = 0;
    me.pending = NULL; /* recorded: the lock stays held, the program ends */
}

/* ---- Starting, forks and exit -------------------------------------------------- */

static char template_path[PATH_CAP]; /* HMM_TRACE as the program started */

/* Field 22 of /proc/self/stat: when the process started, in clock ticks
 * since boot.  With the pid it names a process for as long as the machine
 * runs; an exec'ed program finds its process's trace by both.  The command
 * (field 2) may hold spaces and parentheses: count from its last ')'. */
static uint64_t process_start_time(void)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    char *c = strrchr(buf, ')');
    if (!c)
        return 0;
    for (int field = 2; field < 22 && *c; c++)
        if (*c == ' ')
            field++;
    uint64_t v = 0;
    for (; *c >= '0' && *c <= '9'; c++)
        v = v * 10 + (uint64_t)(*c - '0');
    return v;
}

static void header_new(trace_header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->magic, TRACE_MAGIC, sizeof h->magic);
    h->version = TRACE_VERSION;
    h->header_size = TRACE_HEADER_SIZE;
    h->tsc0 = ticks();
    h->mono_ns0 = clock_ns(CLOCK_MONOTONIC);
    h->real_ns0 = clock_ns(CLOCK_REALTIME);
}

/* Records before the file opens go to early[], as if at file offset 64. */
static void early_setup(void)
{
    header_new(&early_header);
    tr.header = &early_header;
    tr.window = early;
    tr.window_start = TRACE_HEADER_SIZE;
    tr.window_end = TRACE_HEADER_SIZE + EARLY_SIZE;
    tr.pos = TRACE_HEADER_SIZE;
    tr.last_tsc = early_header.tsc0;
}

/* The open trace of this very process (an exec'ed program's), at path. */
static int open_own(const char *path, uint32_t pid, uint64_t start, trace_header *out)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -1;
    if (pread(fd, out, sizeof *out, 0) == (ssize_t)sizeof *out && !memcmp(out->magic, TRACE_MAGIC, 8) &&
        out->version == TRACE_VERSION && out->pid == pid && out->proc_start == start && start)
        return fd;
    close(fd);
    return -1;
}

static void with_pid(char *path, size_t cap, const char *base)
{
    char pid[24];
    snprintf(pid, sizeof pid, ".%d", (int)getpid());
    snprintf(path, cap, "%s%s", base, pid);
}

/* Open the trace file and move what early[] holds into it.  A forked
 * child always starts a file of its own; any other start looks first for
 * its process's file (it was exec'ed). */
static void open_trace(int forked)
{
    char path[PATH_CAP], own[PATH_CAP];
    report_expand_path(template_path, path, sizeof path);
    int per_pid = strstr(template_path, "%p") != NULL;
    uint32_t pid = (uint32_t)getpid();
    uint64_t start = process_start_time();
    trace_header old;
    int fd = -1, appending = 0;
    if (!forked) {
        fd = open_own(path, pid, start, &old);
        if (fd < 0 && !per_pid) {
            with_pid(own, sizeof own, path);
            if ((fd = open_own(own, pid, start, &old)) >= 0)
                memcpy(path, own, sizeof path);
        }
        appending = fd >= 0;
    }
    if (fd < 0) {
        /* FILE without %p: the first process creates it; any other, a
         * child above all, writes FILE.<pid> */
        if (per_pid)
            fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        else if (!forked)
            fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && !per_pid && (forked || errno == EEXIST)) {
            with_pid(own, sizeof own, path);
            memcpy(path, own, sizeof path);
            fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        }
    }
    memcpy(tr.path, path, sizeof tr.path);
    if (fd < 0) {
        stop("cannot open the trace", errno);
        return;
    }
    tr.fd = fd;
    /* What early[] holds (this program's calls before now), and where it goes. */
    trace_header head = tr.header ? *tr.header : early_header;
    uint64_t early_bytes = tr.header && tr.mode == MODE_EARLY ? tr.pos - TRACE_HEADER_SIZE : 0;
    if (!tr.header) {
        header_new(&head);
        tr.last_tsc = head.tsc0;
    }
    tr.mode = MODE_MAPPED;
    tr.window = NULL;
    tr.pos = appending ? TRACE_HEADER_SIZE + old.length : TRACE_HEADER_SIZE;
    if (!map_window(tr.pos, early_bytes + RECORD_MAX))
        return;
    void *h = mmap(NULL, TRACE_HEADER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (h == MAP_FAILED) {
        stop("cannot map the trace", errno);
        return;
    }
    tr.header = h;
    if (appending) {
        unsigned char *start = room_for(PATH_CAP + 32), *out = start;
        if (!out)
            return;
        *out++ = TRACE_EXEC;
        out = put_varint(out, head.tsc0); /* the new program's first call counts from its start */
        out = put_bytes(out, exe_path, strnlen(exe_path, PATH_CAP - 1));
        commit(start, out);
    } else {
        head.stack_depth = tr.depth;
        head.pid = pid;
        head.ppid = (uint32_t)getppid();
        head.proc_start = start;
        head.length = 0;
        *tr.header = head;
    }
    if (early_bytes) {
        unsigned char *out = room_for(early_bytes);
        if (!out)
            return;
        memcpy(out, early, early_bytes);
        commit(out, out + early_bytes);
    }
    tr.modules_added = 0;
    put_modules();
    put_clock();
}

void trace_code_unloaded(void)
{
    if (!__atomic_load_n(&trace_on, __ATOMIC_RELAXED) || me.writing)
        return;
    int take = me.depth == 0; /* else this thread holds the lock already */
    if (take && !lock_take(&tr.lock))
        return;
    trace_unwind_forget();
    if (take)
        lock_give(&tr.lock);
}

void trace_start(void)
{
    if (!lock_take(&tr.lock))
        return;
    const char *template = option_value(OPTION_TRACE);
    int on = template ? option_parse_switch(template) : 0;
    if (on == 1)
        template = "hmm-%p.trace";
    if (!template || on == 0) {
        tr.mode = MODE_OFF;
        __atomic_store_n(&trace_on, 0, __ATOMIC_RELAXED);
        lock_give(&tr.lock);
        return;
    }
    snprintf(template_path, sizeof template_path, "%s", template);
    size_t depth = TRACE_MAX_DEPTH;
    int parsed = option_size(OPTION_TRACE_DEPTH, &depth);
    if (parsed < 0 || depth > TRACE_MAX_DEPTH) {
        report_line("HMM_TRACE_DEPTH=", option_value(OPTION_TRACE_DEPTH),
                    ": not a number of frames from 0 to 32; taking 32", NULL);
        depth = TRACE_MAX_DEPTH;
    }
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = '\0';
    uint8_t in_call = own_begin();
    const char *unwinder = option_value(OPTION_TRACE_UNWIND);
    if (unwinder && strcmp(unwinder, "hmm") && strcmp(unwinder, "libunwind") && strcmp(unwinder, "libgcc")) {
        report_line("HMM_TRACE_UNWIND=", unwinder, ": not hmm, libunwind or libgcc; taking the first that loads", NULL);
        unwinder = NULL;
    }
    if (depth && !trace_unwind_load(unwinder)) {
        report_line("HMM_TRACE: no unwinder", unwinder ? " " : "", unwinder ? unwinder : "",
                    " could be loaded: no stacks", NULL);
        depth = 0;
    }
    tr.depth = (uint32_t)depth;
    if (!tr.header)
        early_setup();
    open_trace(0);
    own_end(in_call);
    process_heap_on_give_up(trace_misuse);
    lock_give(&tr.lock);
}

/* The program's exit began: what comes next is written record by record,
 * and the file is cut to its length. */
__attribute__((destructor(101))) static void trace_finish(void)
{
    if (me.depth || !lock_take(&tr.lock))
        return;
    if (tr.mode == MODE_MAPPED) {
        uint8_t in_call = own_begin();
        put_modules();
        put_clock();
        unsigned char *start = room_for(4);
        if (start) {
            *start = TRACE_FINISH;
            commit(start, start + 1);
        }
        if (tr.mode == MODE_MAPPED) {
            munmap(tr.window, (size_t)(tr.window_end - tr.window_start));
            tr.window = NULL;
            tr.window_start = tr.window_end = 0; /* every record the slow way now */
            if (ftruncate(tr.fd, (off_t)tr.pos) == 0)
                tr.mode = MODE_DIRECT;
            else
                stop("cannot cut the trace to its length", errno);
        }
        own_end(in_call);
    }
    lock_give(&tr.lock);
}

void trace_fork_prepare(void)
{
    if (__atomic_load_n(&trace_on, __ATOMIC_RELAXED) && me.depth == 0)
        me.fork_held = (uint8_t)lock_take(&tr.lock); /* held across fork (a single-threaded fork needs no lock) */
}

void trace_fork_parent(void)
{
    if (me.fork_held) {
        me.fork_held = 0;
        lock_give(&tr.lock);
    }
}

/* The child's only thread: the parent's file is not ours to write; a new
 * one, with the stacks and libraries written again. */
void trace_fork_child(void)
{
    me.fork_held = 0;
    me.tid = 0;
    me.last_stack = 0; /* the child's file has its own ids */
    tr.lock = 0;
    if (tr.mode != MODE_MAPPED && tr.mode != MODE_DIRECT)
        return;
    if (me.depth || me.writing) {
        /* Forked by a signal handler that interrupted this thread inside
         * a traced call, which will go on writing its record when the
         * handler returns: the parent's file stays untouched (private
         * memory over its mappings takes the write), and the child runs
         * untraced. */
        if (tr.window)
            mmap(tr.window, (size_t)(tr.window_end - tr.window_start), PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        mmap(tr.header, TRACE_HEADER_SIZE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
        close(tr.fd);
        tr.fd = -1;
        tr.mode = MODE_OFF;
        __atomic_store_n(&trace_on, 0, __ATOMIC_RELAXED);
        return;
    }
    if (tr.window)
        munmap(tr.window, (size_t)(tr.window_end - tr.window_start));
    tr.window = NULL;
    munmap(tr.header, TRACE_HEADER_SIZE);
    tr.header = NULL;
    close(tr.fd);
    tr.fd = -1;
    tr.last_ptr = 0;
    tr.heap_size = 0; /* the child's trace starts at 0, as any */
    tr.last_tid = NO_THREAD;
    tr.lost = 0;
    forget_stacks();
    uint8_t in_call = own_begin();
    open_trace(1);
    own_end(in_call);
}
