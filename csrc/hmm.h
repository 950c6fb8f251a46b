/*
 * hmm.h - the public interface of HMM, the Heap Memory Manager.
 *
 * Two layers share this header:
 *
 *  1. The seed API, HmmAlloc / HmmFree / HmmRealloc / HmmCalloc, on the
 *     process heap (grown with sbrk, falling back to mmap).  Defined in
 *     process_heap.c, exported by libhmm.so.
 *
 *  2. The heap-instance API, hmm_heap_*, on any heap object.  A heap is
 *     created over a memory source: the process heap uses the OS source,
 *     hmm_heap_create_simulated() uses a caller-provided buffer with a fake
 *     break.  This layer never aborts: misuse (an invalid or double free) is
 *     handed to the heap's misuse handler, which for a simulated heap only
 *     records the fault (see hmm_heap_last_fault).  This is the layer the
 *     Python binding drives.
 */
#ifndef HMM_H
#define HMM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The seed API (process heap) -------------------------------------- */

void *HmmAlloc(size_t size);              /* size 0 -> NULL */
void HmmFree(void *ptr);                  /* NULL -> returns at once */
void *HmmRealloc(void *ptr, size_t size); /* ptr NULL -> HmmAlloc(size) */
void *HmmCalloc(size_t nmemb, size_t size);

/* HMM_BINDING_BEGIN: from here to HMM_BINDING_END, this text is also the
 * Python binding's declarations (build_hmm.py hands it to cffi's cdef), so
 * it holds only what cffi reads: declarations, and #defines of integer
 * literals; no #if, no other macros.  The seed API above is the process
 * heap's, which the binding's core does not have. */

/* ---- Heap instances --------------------------------------------------- */

typedef struct hmm_heap hmm_heap;

/*
 * Create a heap inside `buffer` (`bytes` long, any alignment).  The heap's
 * control block sits at the start of the buffer; the rest is the simulated
 * address space, handed out through a fake break that starts at its bottom.
 * Returns NULL when the buffer is too small to hold anything.
 * No system call is made, now or later.
 */
hmm_heap *hmm_heap_create_simulated(void *buffer, size_t bytes);
/* The same, with mappings: the last `map_bytes` of the buffer serve as
 * what mmap gives a real heap (large blocks get mappings of their own, as
 * in a process), so that a replayed program's heap blocks lie where the
 * process's did.  0: none, as hmm_heap_create_simulated. */
hmm_heap *hmm_heap_create_simulated_with_maps(void *buffer, size_t bytes, size_t map_bytes);

/* Placement policy: "segregated" (the default, O(1)), "first-fit" (the
 * seed's), "next-fit" or "best-fit".  The heap's free blocks are re-filed
 * under the new policy.  Returns 0, or -1 for an unknown name. */
int hmm_heap_set_policy(hmm_heap *heap, const char *name);
const char *hmm_heap_policy(const hmm_heap *heap);
/* The policy names, by index from 0; NULL past the end. */
const char *hmm_policy_name(int index);

/* The core allocation functions.  Unlike HmmAlloc, hmm_heap_alloc(h, 0)
 * returns a unique minimum-size block (glibc semantics).  Failures return
 * NULL; the caller sets errno if it wants to. */
void *hmm_heap_alloc(hmm_heap *heap, size_t size);
void *hmm_heap_calloc(hmm_heap *heap, size_t nmemb, size_t size);
/* realloc(p, 0) frees p and returns NULL; realloc(NULL, n) allocates. */
void *hmm_heap_realloc(hmm_heap *heap, void *ptr, size_t size);
/* alignment: a power of two; any value >= 1 works. */
void *hmm_heap_memalign(hmm_heap *heap, size_t alignment, size_t size);
void hmm_heap_free(hmm_heap *heap, void *ptr);
/* Bytes the caller may use at ptr (>= the size asked for); 0 for NULL or a
 * pointer that is not a live block (which is also reported as misuse). */
size_t hmm_heap_usable_size(hmm_heap *heap, void *ptr);
/* Give free memory at the top of the heap back to the source, keeping `pad`
 * bytes.  Returns 1 if anything was released. */
int hmm_heap_trim(hmm_heap *heap, size_t pad);

/* ---- Misuse ----------------------------------------------------------- */

typedef enum hmm_fault {
    HMM_FAULT_NONE = 0,
    HMM_FAULT_INVALID_POINTER,   /* not a block this heap handed out */
    HMM_FAULT_DOUBLE_FREE,       /* free() of a block already free */
    HMM_FAULT_CORRUPT_HEADER,    /* a block's header was overwritten */
    HMM_FAULT_USE_AFTER_FREE,    /* realloc() & co. of a block already free */
    HMM_FAULT_CORRUPT_FREE_LIST, /* a free block's links were overwritten */
    HMM_FAULT_OVERFLOW,          /* check mode: written past the size asked for */
    HMM_FAULT_WRITE_AFTER_FREE,  /* check mode: free memory was written */
    HMM_FAULT_HEAP_CHECK,        /* check mode 2: the periodic heap check failed */
} hmm_fault;

/* The last fault recorded on a heap whose handler records (simulated heaps),
 * cleared by reading it.  `message` receives the one-line report, e.g.
 * "hmm: free(): double free of 0x7f..10 (block of 48 bytes)". */
hmm_fault hmm_heap_last_fault(hmm_heap *heap, char *message, size_t message_len);

/* ---- Check mode --------------------------------------------------------- */

/* 0: off (the default: the O(1) checks above only).  1: every block gets a
 * canary after the bytes asked for, checked on free and realloc; freed
 * memory is filled with HMM_FREE_FILL and checked when it is handed out
 * again; new blocks are filled with HMM_ALLOC_FILL; usable size is the size
 * asked for.  2: also the whole heap is checked every `every` operations
 * (0: HMM_CHECK_EVERY's default, see the options below).  Set it on an
 * empty heap (before the first allocation).  Returns 0, or -1 for a bad level or a heap in use. */
int hmm_heap_set_check(hmm_heap *heap, int level, unsigned every);
#define HMM_ALLOC_FILL 0xaa
#define HMM_FREE_FILL 0xdd
#define HMM_CANARY_FILL 0xfd

/* ---- Introspection ---------------------------------------------------- */

typedef struct hmm_block_info {
    void *address;  /* what alloc returned for this block */
    size_t size;    /* the whole block, header included */
    size_t usable;  /* bytes usable at address; 0 for a free block */
    int used;       /* 1 in use, 0 free */
} hmm_block_info;

/* Walk every block in address order.  Zero the cursor, then call until it
 * returns 0. */
typedef struct hmm_walk_cursor {
    const void *segment;
    const void *block;
} hmm_walk_cursor;
int hmm_heap_walk(const hmm_heap *heap, hmm_walk_cursor *cursor, hmm_block_info *out);

/* Count the broken invariants (0 = healthy).  When `why` is not NULL, the
 * first failures are described there, one per line. */
unsigned hmm_heap_check(const hmm_heap *heap, char *why, size_t why_len);

/* Counters; the list of fields lives in stats.h (one X-macro list) and is
 * reachable by index so that bindings need not repeat it. */
typedef struct hmm_stats hmm_stats;
size_t hmm_stats_size(void);
void hmm_heap_stats(const hmm_heap *heap, hmm_stats *out);
int hmm_stats_count(void);
const char *hmm_stats_name(int index);
uint64_t hmm_stats_value(const hmm_stats *stats, int index);

/* ---- Options ------------------------------------------------------------ */

/* The HMM_* environment options libhmm.so reads, from the one table of
 * them (options.h), by index from 0: the variable's name, its default as
 * the variable would hold it ("128k"), and what it means.  NULL past the
 * end.  The heap instances here read no environment: this is for bindings
 * and tools that explain the options. */
int hmm_option_count(void);
const char *hmm_option_name(int index);
const char *hmm_option_default(int index);
const char *hmm_option_meaning(int index);

/* HMM_BINDING_END */

#ifdef __cplusplus
}
#endif
#endif /* HMM_H */
