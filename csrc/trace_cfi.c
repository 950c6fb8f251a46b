#define _GNU_SOURCE
/* trace_cfi.c - see trace_cfi.h.  The CFI format is the DWARF standard's
 * (section 6.4) as the System V x86-64 ABI and the LSB's .eh_frame and
 * .eh_frame_hdr describe it. */
#include "trace_cfi.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <string.h>
#include <sys/mman.h>

#if defined(__x86_64__)

typedef int find_object_fn(void *address, struct dl_find_object *result);
static find_object_fn *find_object;

/* DWARF's numbers for the x86-64 registers that matter here. */
enum { DWARF_RBP = 6, DWARF_RSP = 7, DWARF_RA = 16 };

enum { CFA_UNKNOWN = 0, CFA_RSP, CFA_RBP };
#define RBP_KEPT INT16_MIN      /* the caller's rbp is still in rbp */
#define RBP_LOST (INT16_MIN + 1) /* saved somewhere we do not follow */

/* The rule for one code address: 16 bytes, four to a cache line. */
typedef struct frame_rule {
    uintptr_t ip;        /* the address it is for; 0: an empty slot */
    int32_t cfa_offset;
    int16_t rbp_offset;  /* the caller's rbp is at CFA + this, or RBP_KEPT/LOST */
    uint8_t cfa_reg;     /* CFA_RSP, CFA_RBP; CFA_UNKNOWN ends the stack */
} frame_rule;

/* 16,384 slots (256 KiB), direct-mapped by the address's low bits: a
 * program's hot code (an interpreter's loop, its allocator's callers) is a
 * few thousand addresses, and a step from frame to frame waits for its
 * rule, so the index is one AND (no hash on that path) and the table stays
 * in the caches.  python3 building dicts passes some 5,000 addresses. */
#define RULE_BITS 14
static frame_rule *rules;
static unsigned cfi_generation; /* how many times the rules were forgotten (cfi_forget) */

static inline frame_rule *slot_of(uintptr_t ip)
{
    return &rules[ip & (((uintptr_t)1 << RULE_BITS) - 1)];
}

/* ---- Reading the CFI --------------------------------------------------- */

typedef struct reader {
    const uint8_t *p, *end;
    int bad;
} reader;

static uint64_t read_fixed(reader *r, unsigned bytes)
{
    if (r->bad || (size_t)(r->end - r->p) < bytes) {
        r->bad = 1;
        return 0;
    }
    uint64_t v = 0;
    memcpy(&v, r->p, bytes); /* little-endian */
    r->p += bytes;
    return v;
}

static uint64_t uleb(reader *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; r->p < r->end && shift < 64; shift += 7) {
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

static int64_t sleb(reader *r)
{
    int64_t v = 0;
    unsigned shift = 0;
    while (r->p < r->end && shift < 64) {
        uint8_t b = *r->p++;
        v |= (int64_t)(b & 0x7f) << shift;
        shift += 7;
        if (!(b & 0x80)) {
            if (shift < 64 && (b & 0x40))
                v |= -((int64_t)1 << shift);
            return v;
        }
    }
    r->bad = 1;
    return 0;
}

/* A pointer in the DW_EH_PE encoding `enc` (absolute, pc-relative or
 * relative to `datarel`); anything else is refused. */
static uintptr_t read_encoded(reader *r, uint8_t enc, uintptr_t datarel)
{
    const uint8_t *at = r->p;
    uintptr_t v;
    switch (enc & 0x0f) {
    case 0x00: v = (uintptr_t)read_fixed(r, 8); break;
    case 0x01: v = (uintptr_t)uleb(r); break;
    case 0x02: v = (uintptr_t)read_fixed(r, 2); break;
    case 0x03: v = (uintptr_t)read_fixed(r, 4); break;
    case 0x04: v = (uintptr_t)read_fixed(r, 8); break;
    case 0x09: v = (uintptr_t)sleb(r); break;
    case 0x0a: v = (uintptr_t)(int64_t)(int16_t)read_fixed(r, 2); break;
    case 0x0b: v = (uintptr_t)(int64_t)(int32_t)read_fixed(r, 4); break;
    case 0x0c: v = (uintptr_t)read_fixed(r, 8); break;
    default: r->bad = 1; return 0;
    }
    switch (enc & 0x70) {
    case 0x00: break;
    case 0x10: v += (uintptr_t)at; break; /* pcrel */
    case 0x30: v += datarel; break;       /* datarel */
    default: r->bad = 1; return 0;
    }
    if (enc & 0x80) /* indirect: never for code addresses */
        r->bad = 1;
    return v;
}

/* What the CFI says of the registers we follow, at one address. */
typedef struct cfi_state {
    int cfa_reg;          /* a DWARF register number, or -1: an expression */
    int64_t cfa_offset;
    int64_t rbp_offset;   /* or RBP_KEPT / RBP_LOST */
    int64_t ra_offset;    /* -8 on x86-64; anything else: RBP_LOST */
} cfi_state;

typedef struct cie_info {
    uint64_t code_align;
    int64_t data_align;
    uint8_t fde_enc;
    int augmented;        /* 'z': FDEs have augmentation data */
    int signal_frame;     /* 'S' */
    const uint8_t *insns, *end;
} cie_info;

static int read_cie(const uint8_t *cie, cie_info *out)
{
    reader r = {cie, cie + 4, 0};
    uint32_t len = (uint32_t)read_fixed(&r, 4);
    if (len == 0 || len == 0xffffffffu)
        return 0;
    r.end = cie + 4 + len;
    if (read_fixed(&r, 4) != 0) /* a CIE's id */
        return 0;
    uint8_t version = (uint8_t)read_fixed(&r, 1);
    const char *aug = (const char *)r.p;
    size_t aug_len = strnlen(aug, (size_t)(r.end - r.p));
    r.p += aug_len + 1;
    out->fde_enc = 0;
    out->augmented = aug[0] == 'z';
    out->signal_frame = 0;
    out->code_align = uleb(&r);
    out->data_align = sleb(&r);
    if (version == 1)
        read_fixed(&r, 1);
    else
        uleb(&r);
    const uint8_t *insns = NULL;
    if (out->augmented) {
        uint64_t n = uleb(&r);
        insns = r.p + n;
        for (const char *a = aug + 1; *a && !r.bad; a++) {
            switch (*a) {
            case 'R': out->fde_enc = (uint8_t)read_fixed(&r, 1); break;
            case 'P': { uint8_t enc = (uint8_t)read_fixed(&r, 1); read_encoded(&r, enc & 0x7f, 0); r.bad = 0; break; }
            case 'L': read_fixed(&r, 1); break;
            case 'S': out->signal_frame = 1; break;
            default: break; /* the data length lets us skip what we do not know */
            }
        }
        r.p = insns;
    } else if (aug[0]) {
        return 0; /* an augmentation we cannot skip */
    }
    if (r.bad || r.p > r.end)
        return 0;
    out->insns = r.p;
    out->end = r.end;
    return 1;
}

static void set_offset(cfi_state *s, uint64_t reg, int64_t offset)
{
    if (reg == DWARF_RBP)
        s->rbp_offset = offset;
    else if (reg == DWARF_RA)
        s->ra_offset = offset;
}

static void set_lost(cfi_state *s, uint64_t reg)
{
    if (reg == DWARF_RBP)
        s->rbp_offset = RBP_LOST;
    else if (reg == DWARF_RA)
        s->ra_offset = RBP_LOST;
}

#define REMEMBER_MAX 8

/* Run call frame instructions from r up to the address `target` (*loc is
 * the address they start at); 0 on one we do not know. */
static int run_cfi(reader *r, const cie_info *cie, cfi_state *s, const cfi_state *initial,
                   uintptr_t *loc, uintptr_t target)
{
    cfi_state remembered[REMEMBER_MAX];
    int depth = 0;
    while (r->p < r->end && !r->bad) {
        uint8_t op = (uint8_t)read_fixed(r, 1);
        uint64_t low = op & 0x3f, reg;
        switch (op >> 6) {
        case 1: /* advance_loc */
            *loc += low * cie->code_align;
            if (*loc > target)
                return 1;
            continue;
        case 2: /* offset */
            set_offset(s, low, (int64_t)uleb(r) * cie->data_align);
            continue;
        case 3: /* restore */
            if (low == DWARF_RBP)
                s->rbp_offset = initial->rbp_offset;
            else if (low == DWARF_RA)
                s->ra_offset = initial->ra_offset;
            continue;
        }
        switch (op) {
        case 0x00: break; /* nop */
        case 0x01: *loc = read_encoded(r, cie->fde_enc, 0); if (*loc > target) return 1; break;
        case 0x02: *loc += read_fixed(r, 1) * cie->code_align; if (*loc > target) return 1; break;
        case 0x03: *loc += read_fixed(r, 2) * cie->code_align; if (*loc > target) return 1; break;
        case 0x04: *loc += read_fixed(r, 4) * cie->code_align; if (*loc > target) return 1; break;
        case 0x05: reg = uleb(r); set_offset(s, reg, (int64_t)uleb(r) * cie->data_align); break;
        case 0x06: /* restore_extended */
            reg = uleb(r);
            if (reg == DWARF_RBP)
                s->rbp_offset = initial->rbp_offset;
            else if (reg == DWARF_RA)
                s->ra_offset = initial->ra_offset;
            break;
        case 0x07: set_lost(s, uleb(r)); break;                 /* undefined */
        case 0x08: reg = uleb(r); if (reg == DWARF_RBP) s->rbp_offset = RBP_KEPT; break; /* same_value */
        case 0x09: set_lost(s, uleb(r)); uleb(r); break;        /* register */
        case 0x0a: /* remember_state */
            if (depth == REMEMBER_MAX)
                return 0;
            remembered[depth++] = *s;
            break;
        case 0x0b: /* restore_state */
            if (depth == 0)
                return 0;
            *s = remembered[--depth];
            break;
        case 0x0c: s->cfa_reg = (int)uleb(r); s->cfa_offset = (int64_t)uleb(r); break;
        case 0x0d: s->cfa_reg = (int)uleb(r); break;
        case 0x0e: s->cfa_offset = (int64_t)uleb(r); break;
        case 0x0f: s->cfa_reg = -1; r->p += uleb(r); break;    /* def_cfa_expression */
        case 0x10: set_lost(s, uleb(r)); r->p += uleb(r); break; /* expression */
        case 0x11: reg = uleb(r); set_offset(s, reg, sleb(r) * cie->data_align); break;
        case 0x12: s->cfa_reg = (int)uleb(r); s->cfa_offset = sleb(r) * cie->data_align; break;
        case 0x13: s->cfa_offset = sleb(r) * cie->data_align; break;
        case 0x14: set_lost(s, uleb(r)); uleb(r); break;        /* val_offset */
        case 0x15: set_lost(s, uleb(r)); sleb(r); break;        /* val_offset_sf */
        case 0x16: set_lost(s, uleb(r)); r->p += uleb(r); break; /* val_expression */
        case 0x2e: uleb(r); break;                              /* GNU_args_size */
        case 0x2f: reg = uleb(r); set_offset(s, reg, -(int64_t)uleb(r) * cie->data_align); break;
        default: return 0;
        }
    }
    return !r->bad;
}

/* The FDE covering ip, from the object's .eh_frame_hdr search table. */
static const uint8_t *find_fde(uintptr_t ip)
{
    struct dl_find_object object;
    if (find_object((void *)ip, &object) != 0 || !object.dlfo_eh_frame)
        return NULL;
    const uint8_t *hdr = object.dlfo_eh_frame;
    if (hdr[0] != 1)
        return NULL;
    reader r = {hdr + 4, hdr + 4 + 32, 0};
    read_encoded(&r, hdr[1], (uintptr_t)hdr); /* .eh_frame's address: not needed */
    uint64_t count = read_encoded(&r, hdr[2], (uintptr_t)hdr);
    if (r.bad || hdr[3] != 0x3b || count == 0) /* datarel sdata4: what every linker writes */
        return NULL;
    const int32_t *table = (const int32_t *)(const void *)r.p;
    uint64_t lo = 0, hi = count;
    while (hi - lo > 1) {
        uint64_t mid = lo + (hi - lo) / 2;
        if ((uintptr_t)(hdr + table[2 * mid]) <= ip)
            lo = mid;
        else
            hi = mid;
    }
    if ((uintptr_t)(hdr + table[2 * lo]) > ip)
        return NULL;
    return hdr + table[2 * lo + 1];
}

/* Work out the rule at ip into *out. */
static void compute_rule(uintptr_t ip, frame_rule *out)
{
    out->ip = ip;
    out->cfa_reg = CFA_UNKNOWN;
    const uint8_t *fde = find_fde(ip);
    if (!fde)
        return;
    reader r = {fde, fde + 4, 0};
    uint32_t len = (uint32_t)read_fixed(&r, 4);
    if (len == 0 || len == 0xffffffffu)
        return;
    r.end = fde + 4 + len;
    const uint8_t *id_at = r.p;
    uint32_t cie_offset = (uint32_t)read_fixed(&r, 4);
    cie_info cie;
    if (r.bad || cie_offset == 0 || !read_cie(id_at - cie_offset, &cie) || cie.signal_frame)
        return;
    uintptr_t begin = read_encoded(&r, cie.fde_enc, 0);
    uintptr_t range = read_encoded(&r, cie.fde_enc & 0x0f, 0);
    if (r.bad || ip < begin || ip - begin >= range)
        return;
    if (cie.augmented)
        r.p += uleb(&r);
    cfi_state s = {.cfa_reg = -1, .rbp_offset = RBP_KEPT, .ra_offset = RBP_LOST};
    reader ci = {cie.insns, cie.end, 0};
    uintptr_t loc = 0;
    if (!run_cfi(&ci, &cie, &s, &s, &loc, UINTPTR_MAX))
        return;
    cfi_state initial = s;
    loc = begin;
    if (!run_cfi(&r, &cie, &s, &initial, &loc, ip))
        return;
    if (s.ra_offset != -8 || s.cfa_offset < 8 || s.cfa_offset > INT32_MAX)
        return;
    if (s.rbp_offset != RBP_KEPT && s.rbp_offset != RBP_LOST && (s.rbp_offset < -32768 + 2 || s.rbp_offset > 0))
        s.rbp_offset = RBP_LOST;
    if (s.cfa_reg == DWARF_RSP)
        out->cfa_reg = CFA_RSP;
    else if (s.cfa_reg == DWARF_RBP)
        out->cfa_reg = CFA_RBP;
    else
        return; /* an expression, or a realigned stack's other register */
    out->cfa_offset = (int32_t)s.cfa_offset;
    out->rbp_offset = (int16_t)s.rbp_offset;
}

/* ---- Walking ------------------------------------------------------------- */

/* This thread's stack, whose bounds every load is checked against.  A
 * walk that starts elsewhere (a signal handler's alternate stack, a
 * coroutine's stack of its own) is not followed: its bounds are not known. */
static __thread uintptr_t stack_low __attribute__((tls_model("initial-exec")));
static __thread uintptr_t stack_high __attribute__((tls_model("initial-exec")));

static void thread_stack(void)
{
    if (stack_high)
        return;
    pthread_attr_t attr;
    void *addr;
    size_t size;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
        if (pthread_attr_getstack(&attr, &addr, &size) == 0) {
            stack_low = (uintptr_t)addr;
            stack_high = (uintptr_t)addr + size;
        }
        pthread_attr_destroy(&attr);
    }
    if (!stack_high)
        stack_low = stack_high = 1; /* unknown: no walk starts */
}

/* Code was unloaded (dlclose): another object may come to its addresses,
 * with other rules.  Called with the tracer's lock held, as the walks are. */
void cfi_forget(void)
{
    if (rules)
        memset(rules, 0, sizeof(frame_rule) << RULE_BITS);
    cfi_generation++;
}

int cfi_load(void)
{
    find_object = (find_object_fn *)dlsym(RTLD_DEFAULT, "_dl_find_object");
    if (!find_object)
        return 0;
    void *table = mmap(NULL, sizeof(frame_rule) << RULE_BITS, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (table == MAP_FAILED)
        return 0;
    rules = table;
    return 1;
}

/*
 * The walk before this one, per thread.  Stepping is a chain of loads, each
 * waiting for the one before (the return address gives the rule, the rule
 * the next frame), some ten cycles a frame; but one allocation's stack
 * shares most frames with the previous one's (an interpreter's loop, a
 * program's main path).  A step is a function of the frame's state (ip,
 * sp, bp) and of the words it reads (the return address, the saved rbp):
 * so when a walk reaches a state the last walk passed through, and the
 * words the last walk read from there on still hold what it read, the rest
 * of the walk is the last one's, exactly.  Those words are checked with
 * loads that wait for nothing, a cycle or two a frame, and the frames are
 * kept where they are when the shared part starts at the same depth.
 */
#define WALK_MAX 48

typedef struct walk {
    int n;
    uintptr_t ip[WALK_MAX], sp[WALK_MAX], bp[WALK_MAX];
    uintptr_t bp_at[WALK_MAX]; /* where the step from this frame read the caller's rbp, or 0 */
} walk;

static __thread walk last __attribute__((tls_model("initial-exec")));
/* cfi_forget's count, as this thread's last walk knew it. */
static __thread unsigned generation_seen __attribute__((tls_model("initial-exec")));

static inline uintptr_t word_at(uintptr_t address)
{
    return *(const uintptr_t *)address;
}

/* One step from the frame (*ip, *sp, *bp) to its caller's: 1, or 0 where
 * the stack ends or cannot be followed.  *bp_at is where it read the
 * caller's rbp, or 0. */
static inline int step(uintptr_t *ip, uintptr_t *sp, uintptr_t *bp, uintptr_t *bp_at, uintptr_t high)
{
    /* ip is a return address: the call before it is in the frame's
     * function, which ip itself may not be (a call to a function that
     * never returns can end its caller's code). */
    uintptr_t at = *ip - 1;
    frame_rule *rule = slot_of(at);
    if (rule->ip != at)
        compute_rule(at, rule);
    if (rule->cfa_reg == CFA_UNKNOWN)
        return 0;
    uintptr_t cfa = (rule->cfa_reg == CFA_RSP ? *sp : *bp) + (uintptr_t)(intptr_t)rule->cfa_offset;
    if (cfa < *sp + sizeof(uintptr_t) || cfa > high) /* up the stack, and inside it */
        return 0;
    *bp_at = 0;
    if (rule->rbp_offset == RBP_LOST) {
        *bp = 0; /* a frame that needs it ends the stack */
    } else if (rule->rbp_offset != RBP_KEPT) {
        uintptr_t saved = cfa + (uintptr_t)(intptr_t)rule->rbp_offset;
        if (saved < *sp || saved + sizeof(uintptr_t) > high)
            return 0;
        *bp_at = saved;
        *bp = word_at(saved);
    }
    *ip = word_at(cfa - sizeof(uintptr_t));
    *sp = cfa;
    return *ip != 0;
}

/* How many frames from `from` on the last walk still hold: the words its
 * steps read are unchanged (frame `from` itself was just matched). */
static int still_valid(int from)
{
    int j = from;
    while (j + 1 < last.n && word_at(last.sp[j + 1] - sizeof(uintptr_t)) == last.ip[j + 1] &&
           (!last.bp_at[j] || word_at(last.bp_at[j]) == last.bp[j + 1]))
        j++;
    return j + 1 - from;
}

/* Move frames [from, from + count) of `last` to start at `to`. */
static void move_frames(int from, int to, int count)
{
    memmove(&last.ip[to], &last.ip[from], (size_t)count * sizeof last.ip[0]);
    memmove(&last.sp[to], &last.sp[from], (size_t)count * sizeof last.sp[0]);
    memmove(&last.bp[to], &last.bp[from], (size_t)count * sizeof last.bp[0]);
    memmove(&last.bp_at[to], &last.bp_at[from], (size_t)count * sizeof last.bp_at[0]);
}

int cfi_backtrace_from(uintptr_t ip, uintptr_t sp, uintptr_t bp, const uintptr_t **out, int max,
                       int *same_as_last)
{
    *out = last.ip;
    *same_as_last = 0;
    thread_stack();
    uintptr_t high = stack_high;
    if (sp < stack_low || sp >= high || !ip || max <= 0 || generation_seen != cfi_generation) {
        last.n = 0; /* and after a dlclose, no walk of the last is trusted */
        generation_seen = cfi_generation;
        if (sp < stack_low || sp >= high || !ip || max <= 0)
            return 0; /* on another stack: not followed */
    }
    if (max > WALK_MAX)
        max = WALK_MAX;
    /* The frames above the part shared with the last walk, until it is
     * found: stepped one by one. */
    uintptr_t new_ip[WALK_MAX], new_sp[WALK_MAX], new_bp[WALK_MAX], new_bp_at[WALK_MAX];
    int fresh = 0, m = 0, shared = 0, ended = 0, before = last.n;
    for (;;) {
        while (m < last.n && last.sp[m] < sp)
            m++;
        if (m < last.n && last.sp[m] == sp && last.ip[m] == ip && last.bp[m] == bp) {
            shared = still_valid(m);
            break;
        }
        new_ip[fresh] = ip;
        new_sp[fresh] = sp;
        new_bp[fresh] = bp;
        if (++fresh == max || !step(&ip, &sp, &bp, &new_bp_at[fresh - 1], high)) {
            new_bp_at[fresh - 1] = 0;
            ended = 1;
            break;
        }
    }
    /* This walk: the fresh frames, then what it shares with the last. */
    if (shared > max - fresh)
        shared = max - fresh;
    if (shared && m != fresh)
        move_frames(m, fresh, shared);
    for (int i = 0; i < fresh; i++) { /* a few: no memcpy call */
        last.ip[i] = new_ip[i];
        last.sp[i] = new_sp[i];
        last.bp[i] = new_bp[i];
        last.bp_at[i] = new_bp_at[i];
    }
    int n = fresh + shared;
    /* Past the shared part (where a word changed, or where the last walk
     * ended): on, step by step. */
    while (!ended && n < max) {
        ip = last.ip[n - 1];
        sp = last.sp[n - 1];
        bp = last.bp[n - 1];
        if (!step(&ip, &sp, &bp, &last.bp_at[n - 1], high)) {
            last.bp_at[n - 1] = 0;
            break;
        }
        last.ip[n] = ip;
        last.sp[n] = sp;
        last.bp[n] = bp;
        last.bp_at[n] = 0;
        n++;
    }
    *same_as_last = fresh == 0 && m == 0 && n == before && shared == before;
    last.n = n;
    return n;
}

#else /* not x86-64: the other unwinders */

void cfi_forget(void)
{
}

/* Code was unloaded (dlclose): another object may come to its addresses,
 * with other rules.  Called with the tracer's lock held, as the walks are. */
void cfi_forget(void)
{
    if (rules)
        memset(rules, 0, sizeof(frame_rule) << RULE_BITS);
    cfi_generation++;
}

int cfi_load(void)
{
    return 0;
}

int cfi_backtrace_from(uintptr_t ip, uintptr_t sp, uintptr_t bp, const uintptr_t **out, int max,
                       int *same_as_last)
{
    (void)ip;
    (void)sp;
    (void)bp;
    (void)max;
    *out = NULL;
    *same_as_last = 0;
    return 0;
}

#endif
