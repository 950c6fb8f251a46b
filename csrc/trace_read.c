/*
 * trace_read.c - decoding a trace into columns, and pairing its blocks;
 * see trace_read.h for the contract and trace_format.h for the format.
 *
 * One function, walk(), reads the file for both passes, so that the
 * counting pass and the filling pass cannot disagree about where the
 * records end.  A record is decoded into locals first and only then
 * stored, so a record that turns out bad leaves no trace in the columns,
 * and the decoder's running state (the last pointer, the time) changes only
 * with whole records.
 */
#include "trace_read.h"
#include "trace_format.h"

#include <string.h>

/* ---- What each tag is -------------------------------------------------- */

/*
 * A call's fields, in the order the record has them, one letter each:
 *   s  size             n  nmemb (multiplied into the size)
 *   a  alignment        p  the pointer passed       r  the pointer returned
 *   i  an int result    u  a size result (malloc_usable_size)
 *   A  an int argument kept in `alignment` (mallopt's param, malloc_info's
 *      options)         V  an int argument kept in `size` (mallopt's value)
 */
struct tag_info {
    const char *name;
    const char *fields; /* NULL: not a call */
    int kind;
};

#define ALLOC (HMM_TRACE_CALL | HMM_TRACE_ALLOCATES)
#define FREE (HMM_TRACE_CALL | HMM_TRACE_FREES)
#define REALLOC (HMM_TRACE_CALL | HMM_TRACE_ALLOCATES | HMM_TRACE_FREES | HMM_TRACE_RESIZES)

static const struct tag_info tags[256] = {
    [TRACE_MALLOC] = {"malloc", "sr", ALLOC},
    [TRACE_FREE] = {"free", "p", FREE},
    [TRACE_CALLOC] = {"calloc", "nsr", ALLOC},
    [TRACE_REALLOC] = {"realloc", "psr", REALLOC},
    [TRACE_REALLOCARRAY] = {"reallocarray", "pnsr", REALLOC},
    [TRACE_MEMALIGN] = {"memalign", "asr", ALLOC},
    [TRACE_POSIX_MEMALIGN] = {"posix_memalign", "asri", ALLOC},
    [TRACE_ALIGNED_ALLOC] = {"aligned_alloc", "asr", ALLOC},
    [TRACE_VALLOC] = {"valloc", "sr", ALLOC},
    [TRACE_PVALLOC] = {"pvalloc", "sr", ALLOC},
    [TRACE_MALLOC_USABLE_SIZE] = {"malloc_usable_size", "pu", HMM_TRACE_CALL},
    [TRACE_FREE_SIZED] = {"free_sized", "ps", FREE},
    [TRACE_FREE_ALIGNED_SIZED] = {"free_aligned_sized", "pas", FREE},
    [TRACE_MALLOC_TRIM] = {"malloc_trim", "si", HMM_TRACE_CALL},
    [TRACE_MALLOPT] = {"mallopt", "AVi", HMM_TRACE_CALL},
    [TRACE_MALLINFO] = {"mallinfo", "", HMM_TRACE_CALL},
    [TRACE_MALLINFO2] = {"mallinfo2", "", HMM_TRACE_CALL},
    [TRACE_MALLOC_STATS] = {"malloc_stats", "", HMM_TRACE_CALL},
    [TRACE_MALLOC_INFO] = {"malloc_info", "Ai", HMM_TRACE_CALL},
    [TRACE_HMM_ALLOC] = {"HmmAlloc", "sr", ALLOC},
    [TRACE_HMM_FREE] = {"HmmFree", "p", FREE},
    [TRACE_HMM_REALLOC] = {"HmmRealloc", "psr", REALLOC},
    [TRACE_HMM_CALLOC] = {"HmmCalloc", "nsr", ALLOC},
    [TRACE_THREAD] = {"THREAD", NULL, 0},
    [TRACE_STACK] = {"STACK", NULL, 0},
    [TRACE_MODULE] = {"MODULE", NULL, 0},
    [TRACE_CLOCK] = {"CLOCK", NULL, 0},
    [TRACE_EXEC] = {"EXEC", NULL, 0},
    [TRACE_LOST] = {"LOST", NULL, 0},
    [TRACE_MISUSE] = {"MISUSE", NULL, 0},
    [TRACE_FINISH] = {"FINISH", NULL, 0},
    [TRACE_HEAP] = {"HEAP", NULL, 0},
};

const char *hmm_trace_tag_name(int tag)
{
    return tag >= 0 && tag < 256 ? tags[tag].name : NULL;
}

int hmm_trace_tag_kind(int tag)
{
    return tag >= 0 && tag < 256 ? tags[tag].kind : 0;
}

const char *hmm_trace_error_text(int error)
{
    switch (error) {
    case HMM_TRACE_OK: return "no error";
    case HMM_TRACE_NOT_A_TRACE: return "not an HMM trace (no HMMTRACE header)";
    case HMM_TRACE_BAD_VERSION: return "a trace version this reader does not know";
    case HMM_TRACE_BAD_HEADER: return "the header's size is smaller than a header";
    case HMM_TRACE_CUT_SHORT: return "the file ends before the records its header counts: it was cut short";
    case HMM_TRACE_CUT_RECORD: return "a record runs past the end of the records: the file was cut short or is damaged";
    case HMM_TRACE_BAD_TAG: return "a byte that is no record's tag: the file is damaged";
    case HMM_TRACE_BAD_NUMBER: return "a number longer than 64 bits: the file is damaged";
    case HMM_TRACE_BAD_STACK: return "a stack with id 0 or more frames than a stack holds: the file is damaged";
    case HMM_TRACE_NO_ROOM: return "the arrays given to the reader are too small";
    }
    return "unknown error";
}

/* ---- Numbers ----------------------------------------------------------- */

enum { NUMBER_OK, NUMBER_CUT, NUMBER_TOO_LONG };

/* An unsigned LEB128 varint at *at, not reading at or past `end`. */
static inline int read_varint(const uint8_t **at, const uint8_t *end, uint64_t *value)
{
    const uint8_t *p = *at;
    if (p < end && *p < 0x80) { /* most numbers are one byte */
        *value = *p;
        *at = p + 1;
        return NUMBER_OK;
    }
    uint64_t v = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (p >= end)
            return NUMBER_CUT;
        uint8_t byte = *p++;
        /* The tenth byte holds bit 63 alone. */
        if (shift == 63 && byte > 1)
            return NUMBER_TOO_LONG;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (byte < 0x80)
            break;
    }
    *value = v;
    *at = p;
    return NUMBER_OK;
}

static inline int64_t unzigzag(uint64_t z)
{
    return (int64_t)((z >> 1) ^ (0 - (z & 1)));
}

static inline uint64_t saturating_product(uint64_t a, uint64_t b)
{
    uint64_t product;
    return __builtin_mul_overflow(a, b, &product) ? UINT64_MAX : product;
}

/* ---- The map from a file's stack ids to stack numbers ------------------ */

static inline uint64_t slot_of(uint64_t key, uint64_t capacity)
{
    /* Fibonacci hashing: the multiply spreads addresses, whose low bits
     * are all zero, and small ids alike over the table's bits. */
    return (key * 0x9e3779b97f4a7c15ull) >> (64 - __builtin_ctzll(capacity));
}

static int id_map_usable(const hmm_trace_columns *out)
{
    uint64_t capacity = out->id_capacity;
    return capacity >= 2 && (capacity & (capacity - 1)) == 0;
}

static void id_map_clear(hmm_trace_columns *out)
{
    memset(out->id_keys, 0, out->id_capacity * sizeof out->id_keys[0]);
}

/* Bounded by the capacity, so that even a map the caller filled wrongly
 * cannot make it loop. */
static void id_map_set(hmm_trace_columns *out, uint64_t id, uint32_t number)
{
    uint64_t mask = out->id_capacity - 1;
    uint64_t slot = slot_of(id, out->id_capacity);
    for (uint64_t tries = 0; tries < out->id_capacity; tries++, slot = (slot + 1) & mask) {
        if (out->id_keys[slot] == 0 || out->id_keys[slot] == id) {
            out->id_keys[slot] = id;
            out->id_values[slot] = number;
            return;
        }
    }
}

static uint32_t id_map_get(const hmm_trace_columns *out, uint64_t id)
{
    uint64_t mask = out->id_capacity - 1;
    uint64_t slot = slot_of(id, out->id_capacity);
    for (uint64_t tries = 0; tries < out->id_capacity; tries++, slot = (slot + 1) & mask) {
        if (out->id_keys[slot] == id)
            return out->id_values[slot];
        if (out->id_keys[slot] == 0)
            return 0;
    }
    return 0;
}

/* ---- The header --------------------------------------------------------- */

static uint64_t le(const uint8_t *p, int bytes)
{
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static int fail(hmm_trace_info *info, int error, uint64_t offset)
{
    info->error = error;
    info->error_offset = offset;
    return error;
}

static int read_header(const uint8_t *data, uint64_t size, hmm_trace_info *info)
{
    if (size < TRACE_HEADER_SIZE || memcmp(data, TRACE_MAGIC, 8) != 0)
        return fail(info, HMM_TRACE_NOT_A_TRACE, 0);
    info->version = (uint32_t)le(data + 8, 2);
    info->header_size = (uint32_t)le(data + 10, 2);
    info->depth = (uint32_t)le(data + 12, 4);
    info->pid = (uint32_t)le(data + 16, 4);
    info->ppid = (uint32_t)le(data + 20, 4);
    info->start_time = le(data + 24, 8);
    info->tsc = le(data + 32, 8);
    info->monotonic_ns = le(data + 40, 8);
    info->realtime_ns = le(data + 48, 8);
    info->length = le(data + 56, 8);
    if (info->version != TRACE_VERSION)
        return fail(info, HMM_TRACE_BAD_VERSION, 8);
    if (info->header_size < TRACE_HEADER_SIZE)
        return fail(info, HMM_TRACE_BAD_HEADER, 10);
    return HMM_TRACE_OK;
}

/* ---- The records --------------------------------------------------------- */

/* What walk() carries from record to record. */
struct reader {
    const uint8_t *end;  /* of the records */
    uint64_t last_ptr;   /* q of trace_format.h */
    uint64_t time;       /* of the last call, in ticks */
    uint32_t thread;
};

/* A pointer field against r->last_ptr, which it then becomes; *q stands
 * for r->last_ptr until the record is whole. */
static inline int read_pointer(const uint8_t **at, const uint8_t *end, uint64_t *q, uint64_t *ptr)
{
    uint64_t v;
    int status = read_varint(at, end, &v);
    if (status != NUMBER_OK)
        return status;
    if (v == 0) {
        *ptr = 0;
        return NUMBER_OK;
    }
    *ptr = *q + (uint64_t)unzigzag(v - 1);
    *q = *ptr;
    return NUMBER_OK;
}

struct call {
    uint64_t time, stack, size, alignment, ptr, ret;
    int64_t result;
};

/* The fields of a call after its tag; returns a NUMBER_* status. */
static int read_call(const uint8_t **at, const uint8_t *end, const char *fields,
                     uint64_t *q, struct call *c)
{
    int status;
    uint64_t nmemb = 1, v;
    if ((status = read_varint(at, end, &c->time)) != NUMBER_OK ||
        (status = read_varint(at, end, &c->stack)) != NUMBER_OK)
        return status;
    for (const char *f = fields; *f; f++) {
        if (*f == 'p' || *f == 'r') {
            status = read_pointer(at, end, q, *f == 'p' ? &c->ptr : &c->ret);
            if (status != NUMBER_OK)
                return status;
            continue;
        }
        if ((status = read_varint(at, end, &v)) != NUMBER_OK)
            return status;
        switch (*f) {
        case 's': c->size = v; break;
        case 'n': nmemb = v; break;
        case 'a': c->alignment = v; break;
        case 'i': c->result = unzigzag(v); break;
        case 'u': c->result = v > INT64_MAX ? INT64_MAX : (int64_t)v; break;
        case 'A': c->alignment = (uint64_t)unzigzag(v); break;
        case 'V': c->size = (uint64_t)unzigzag(v); break;
        }
    }
    c->size = saturating_product(nmemb, c->size);
    return NUMBER_OK;
}

/* A varint that must be there, in a record that is not a call. */
#define NEED(value)                                          \
    do {                                                     \
        int need_status = read_varint(&p, r->end, &(value)); \
        if (need_status != NUMBER_OK)                        \
            return need_status;                              \
    } while (0)

/* Skip `length` bytes, which must be inside the records. */
#define SKIP(length)                                 \
    do {                                             \
        if ((length) > (uint64_t)(r->end - p))       \
            return NUMBER_CUT;                       \
        p += (length);                               \
    } while (0)

/* A STACK record after its tag: the frames go to frames[] (when given,
 * room for TRACE_MAX_DEPTH), their number to *depth. */
static int read_stack(const uint8_t **at, struct reader *r, uint64_t *id, uint64_t *frames,
                      uint64_t *depth)
{
    const uint8_t *p = *at;
    uint64_t n, v, ip = 0;
    NEED(*id);
    NEED(n);
    if (*id == 0 || n > TRACE_MAX_DEPTH) {
        *depth = UINT64_MAX; /* a bad stack, not a cut one */
        return NUMBER_OK;
    }
    for (uint64_t i = 0; i < n; i++) {
        NEED(v);
        ip += (uint64_t)unzigzag(v);
        if (frames)
            frames[i] = ip;
    }
    *depth = n;
    *at = p;
    return NUMBER_OK;
}

/* A note after its tag: MODULE, CLOCK, EXEC, LOST, MISUSE, FINISH or HEAP.
 * None holds a pointer, so none changes the reader's state but EXEC. */
static int read_note(const uint8_t **at, struct reader *r, int tag, uint64_t *a, uint64_t *b)
{
    const uint8_t *p = *at;
    uint64_t v, length, count;
    *a = *b = 0;
    switch (tag) {
    case TRACE_MODULE:
        NEED(v); /* load bias */
        NEED(length);
        SKIP(length);
        NEED(count);
        /* Each segment is two varints, at least two bytes: a huge count
         * runs out of bytes long before it runs out of time. */
        for (uint64_t i = 0; i < count; i++) {
            NEED(v);
            NEED(v);
        }
        break;
    case TRACE_CLOCK:
        NEED(*a);
        NEED(*b);
        break;
    case TRACE_EXEC:
        NEED(*a); /* the new program's start, in ticks */
        NEED(length);
        SKIP(length);
        break;
    case TRACE_LOST:
        NEED(*a);
        break;
    case TRACE_MISUSE:
        NEED(length);
        SKIP(length);
        break;
    case TRACE_FINISH:
        break;
    case TRACE_HEAP:
        NEED(*a); /* the heap's size after the call before */
        break;
    }
    *at = p;
    return NUMBER_OK;
}

#undef NEED
#undef SKIP

static int number_error(int status)
{
    return status == NUMBER_CUT ? HMM_TRACE_CUT_RECORD : HMM_TRACE_BAD_NUMBER;
}

/* Whether the caller's arrays can take what pass 1 would count. */
static int columns_usable(const hmm_trace_columns *out)
{
    return out->time && out->thread && out->tag && out->stack && out->size && out->alignment &&
           out->ptr && out->ret && out->result && out->stack_start && out->frames &&
           out->id_keys && out->id_values && out->note_tag && out->note_offset &&
           out->note_call && out->note_stack && out->note_a && out->note_b &&
           id_map_usable(out) && out->id_capacity / 2 > out->stack_capacity;
}

static int walk(const uint8_t *data, uint64_t size, hmm_trace_info *info, hmm_trace_columns *out)
{
    uint64_t records_end = info->header_size + info->length;
    int cut_short = 0;
    /* A length past the file (or one that overflows) means the file was
     * cut: read what is there, then say so. */
    if (info->length > size || records_end > size) {
        records_end = size;
        cut_short = 1;
    }
    if (info->header_size > records_end) /* a header longer than the file */
        return fail(info, HMM_TRACE_CUT_SHORT, size);

    struct reader r = {.end = data + records_end, .time = info->tsc};
    const uint8_t *p = data + info->header_size;
    uint64_t calls = 0, stacks = 0, frames = 0, notes = 0;
    int error = HMM_TRACE_OK;
    if (out) {
        if (!columns_usable(out))
            return fail(info, HMM_TRACE_NO_ROOM, info->header_size);
        id_map_clear(out);
        out->stack_start[0] = out->stack_start[1] = 0;
    }

    while (p < r.end) {
        const uint8_t *record = p++;
        int tag = *record;
        const struct tag_info *what = &tags[tag];
        uint64_t q = r.last_ptr;
        int status;
        if (what->fields) {
            struct call c = {0};
            status = read_call(&p, r.end, what->fields, &q, &c);
            if (status != NUMBER_OK) {
                error = number_error(status);
                p = record;
                break;
            }
            if (out) {
                if (calls >= out->capacity) {
                    error = HMM_TRACE_NO_ROOM;
                    p = record;
                    break;
                }
                out->time[calls] = r.time + c.time;
                out->thread[calls] = r.thread;
                out->tag[calls] = (uint8_t)tag;
                out->stack[calls] = c.stack ? id_map_get(out, c.stack) : 0;
                out->size[calls] = c.size;
                out->alignment[calls] = c.alignment;
                out->ptr[calls] = c.ptr;
                out->ret[calls] = c.ret;
                out->result[calls] = c.result;
            }
            r.time += c.time;
            r.last_ptr = q;
            calls++;
            continue;
        }
        if (tag == TRACE_THREAD) {
            uint64_t tid;
            status = read_varint(&p, r.end, &tid);
            if (status != NUMBER_OK) {
                error = number_error(status);
                p = record;
                break;
            }
            r.thread = (uint32_t)tid;
            continue;
        }
        if (tag == TRACE_STACK) {
            uint64_t id, depth;
            /* Read into a scratch stack first: the frames of a bad
             * record must not reach frames[], which may be exactly as long
             * as pass 1 counted. */
            uint64_t scratch[TRACE_MAX_DEPTH];
            status = read_stack(&p, &r, &id, out ? scratch : NULL, &depth);
            if (status != NUMBER_OK) {
                error = number_error(status);
                p = record;
                break;
            }
            if (depth == UINT64_MAX) {
                error = HMM_TRACE_BAD_STACK;
                p = record;
                break;
            }
            if (out) {
                if (stacks >= out->stack_capacity || depth > out->frame_capacity - frames) {
                    error = HMM_TRACE_NO_ROOM;
                    p = record;
                    break;
                }
                memcpy(out->frames + frames, scratch, depth * sizeof scratch[0]);
                out->stack_start[stacks + 2] = frames + depth;
                id_map_set(out, id, (uint32_t)(stacks + 1));
            }
            stacks++;
            frames += depth;
            continue;
        }
        if (what->name == NULL) {
            error = HMM_TRACE_BAD_TAG;
            p = record;
            break;
        }
        uint64_t a, b;
        status = read_note(&p, &r, tag, &a, &b);
        if (status != NUMBER_OK) {
            error = number_error(status);
            p = record;
            break;
        }
        if (out) {
            if (notes >= out->note_capacity) {
                error = HMM_TRACE_NO_ROOM;
                p = record;
                break;
            }
            out->note_tag[notes] = (uint8_t)tag;
            out->note_offset[notes] = (uint64_t)(record - data);
            out->note_call[notes] = calls;
            out->note_stack[notes] = stacks;
            out->note_a[notes] = a;
            out->note_b[notes] = b;
        }
        notes++;
        if (tag == TRACE_EXEC) {
            /* The new program's recorder starts from nothing: pointers
             * against 0, time against its start (the record's tsc), and
             * stack ids from 1 again. */
            r.last_ptr = 0;
            r.time = a;
            if (out)
                id_map_clear(out);
        }
    }

    info->calls = calls;
    info->stacks = stacks;
    info->frames = frames;
    info->notes = notes;
    info->end = (uint64_t)(p - data);
    if (error != HMM_TRACE_OK)
        return fail(info, error, info->end);
    if (cut_short)
        return fail(info, HMM_TRACE_CUT_SHORT, size);
    return HMM_TRACE_OK;
}

int hmm_trace_read(const uint8_t *data, uint64_t size, hmm_trace_info *info,
                   hmm_trace_columns *out)
{
    memset(info, 0, sizeof *info);
    int error = read_header(data, size, info);
    if (error != HMM_TRACE_OK)
        return error;
    return walk(data, size, info, out);
}

/* ---- Pairing --------------------------------------------------------------- */

static int table_usable(const hmm_trace_blocks *t)
{
    return t->capacity >= 2 && (t->capacity & (t->capacity - 1)) == 0 && t->address && t->call;
}

static void table_clear(hmm_trace_blocks *t)
{
    memset(t->address, 0, t->capacity * sizeof t->address[0]);
    t->count = 0;
}

/* The slot holding `address`, or the empty slot where it would go. */
static inline uint64_t table_find(const hmm_trace_blocks *t, uint64_t address)
{
    uint64_t mask = t->capacity - 1;
    uint64_t slot = slot_of(address, t->capacity);
    /* The table is never more than half full, so an empty slot ends the
     * probe long before the bound. */
    for (uint64_t tries = 0; tries < t->capacity; tries++, slot = (slot + 1) & mask)
        if (t->address[slot] == address || t->address[slot] == 0)
            return slot;
    return slot;
}

/* Put the block; returns the call of the block that was at that address
 * (whose free went unrecorded), or -1. */
static inline int64_t table_put(hmm_trace_blocks *t, uint64_t address, int64_t call)
{
    uint64_t slot = table_find(t, address);
    int64_t before = -1;
    if (t->address[slot] == address)
        before = t->call[slot];
    else
        t->count++;
    t->address[slot] = address;
    t->call[slot] = call;
    return before;
}

/* Take the block out; returns its call, or -1 when it is not live. */
static inline int64_t table_take(hmm_trace_blocks *t, uint64_t address)
{
    uint64_t mask = t->capacity - 1;
    uint64_t slot = table_find(t, address);
    if (t->address[slot] != address)
        return -1;
    int64_t call = t->call[slot];
    /* Backward-shift deletion: move later entries of the probe run into
     * the hole, so that no tombstones pile up over millions of frees. */
    uint64_t hole = slot;
    for (uint64_t next = (hole + 1) & mask; t->address[next] != 0; next = (next + 1) & mask) {
        uint64_t home = slot_of(t->address[next], t->capacity);
        /* `next` may move to the hole unless its home lies cyclically in
         * (hole, next]. */
        if (((next - home) & mask) >= ((next - hole) & mask)) {
            t->address[hole] = t->address[next];
            t->call[hole] = t->call[next];
            hole = next;
        }
    }
    t->address[hole] = 0;
    t->count--;
    return call;
}

uint64_t hmm_trace_pair(const hmm_trace_columns *calls, uint64_t n,
                        const uint64_t *execs, uint64_t exec_count,
                        uint64_t start, hmm_trace_blocks *live,
                        int64_t *freed_by, int64_t *frees)
{
    if (!table_usable(live) || n > calls->capacity)
        return start;
    uint64_t next_exec = 0;
    while (next_exec < exec_count && execs[next_exec] < start)
        next_exec++;
    for (uint64_t i = start; i < n; i++) {
        if (live->count >= live->capacity / 2)
            return i; /* before touching call i, so that it can be done again */
        while (next_exec < exec_count && execs[next_exec] <= i) {
            table_clear(live);
            next_exec++;
        }
        freed_by[i] = -1;
        frees[i] = -1;
        int kind = tags[calls->tag[i]].kind;
        uint64_t ptr = calls->ptr[i], ret = calls->ret[i];
        if ((kind & HMM_TRACE_FREES) && ptr != 0) {
            /* A failed realloc leaves the old block alone; realloc(p, 0)
             * returning NULL freed it. */
            int failed = (kind & HMM_TRACE_RESIZES) && ret == 0 && calls->size[i] != 0;
            if (!failed) {
                int64_t block = table_take(live, ptr);
                if (block >= 0) {
                    freed_by[block] = (int64_t)i;
                    frees[i] = block;
                }
            }
        }
        if ((kind & HMM_TRACE_ALLOCATES) && ret != 0) {
            int64_t lost = table_put(live, ret, (int64_t)i);
            if (lost >= 0)
                freed_by[lost] = (int64_t)i;
        }
    }
    return n;
}

int hmm_trace_blocks_move(const hmm_trace_blocks *from, hmm_trace_blocks *to)
{
    if (!table_usable(to) || !table_usable(from) || from->count >= to->capacity / 2)
        return -1;
    table_clear(to);
    for (uint64_t slot = 0; slot < from->capacity; slot++)
        if (from->address[slot] != 0)
            table_put(to, from->address[slot], from->call[slot]);
    return 0;
}
