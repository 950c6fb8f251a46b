/*
 * misuse.c - one line for each misuse of the heap.
 *
 * The core reports misuse here and abandons the operation; what happens
 * next is the heap's choice (its on_misuse handler): the process heap
 * prints the line and aborts, a simulated heap keeps it for the caller.
 * The lines, by fault (P the pointer, N a size):
 *
 *   invalid pointer    hmm: free(): invalid pointer P (not a block from this heap)
 *                      hmm: free(): invalid pointer P (inside the block at Q of N bytes)
 *                      hmm: free(): invalid pointer P (inside free memory)
 *   double free        hmm: free(): double free of P (block of N bytes)
 *                      hmm: free(): double free of P (now part of a free block of N bytes)
 *                      hmm: free(): double free of P (its memory was given back to the system)
 *   use after free     hmm: realloc(): use after free of P (block of N bytes)
 *   corrupt header     hmm: free(): corrupted block header at P
 *                      hmm: malloc(): corrupted block header at P (a free block's)
 *   corrupt free list  hmm: malloc(): corrupted free list at P
 *   overflow           hmm: free(): buffer overflow at A (past the N bytes of P)
 *                      hmm: free(): buffer overflow at A (past the end of P)
 *   write after free   hmm: malloc(): write after free at A
 *   heap check         hmm: malloc(): heap check failed: <the first problem>
 */
#include "format.h"
#include "heap.h"

#include <string.h>

static const char *const call_names[] = {
    [CALL_NONE] = "malloc()", /* before any call */
#define HMM_CALL_NAME(id, name) [id] = name,
    HMM_CALLS(HMM_CALL_NAME)
#undef HMM_CALL_NAME
};

const char *call_name(enum hmm_call call)
{
    return (unsigned)call < sizeof call_names / sizeof *call_names ? call_names[call] : "malloc()";
}

static void start_line(hmm_text *t, hmm_heap *h)
{
    text_init(t, h->message, sizeof h->message);
    text_str(t, "hmm: ");
    text_str(t, call_name(h->call));
    text_str(t, ": ");
}

static void finish(hmm_heap *h, hmm_fault fault)
{
    h->fault = fault;
    if (h->on_misuse)
        h->on_misuse(h);
}

/* What became of a freed block: `block` is ptr when n is its own size,
 * else the free block of n bytes (its header) it is part of now. */
static void block_of_n(hmm_text *t, const void *ptr, const void *block, size_t n)
{
    if (!n) { /* freed, merged and trimmed: the block is gone */
        text_str(t, " (its memory was given back to the system)");
        return;
    }
    text_str(t, block == ptr ? " (block of " : " (now part of a free block of ");
    text_uint(t, n);
    text_str(t, " bytes)");
}

void misuse_report(hmm_heap *h, hmm_fault fault, const void *ptr, const void *block, size_t n)
{
    hmm_text t;
    start_line(&t, h);
    switch (fault) {
    case HMM_FAULT_DOUBLE_FREE:
        text_str(&t, "double free of ");
        text_hex(&t, (uintptr_t)ptr);
        block_of_n(&t, ptr, block, n);
        break;
    case HMM_FAULT_USE_AFTER_FREE:
        text_str(&t, "use after free of ");
        text_hex(&t, (uintptr_t)ptr);
        block_of_n(&t, ptr, block, n);
        break;
    case HMM_FAULT_CORRUPT_HEADER:
        text_str(&t, "corrupted block header at ");
        text_hex(&t, (uintptr_t)ptr);
        break;
    case HMM_FAULT_CORRUPT_FREE_LIST:
        text_str(&t, "corrupted free list at ");
        text_hex(&t, (uintptr_t)ptr);
        break;
    case HMM_FAULT_OVERFLOW:
        text_str(&t, "buffer overflow at ");
        text_hex(&t, (uintptr_t)ptr);
        if (n != SIZE_MAX) { /* else the word holding it was overwritten too */
            text_str(&t, " (past the ");
            text_uint(&t, n);
            text_str(&t, " bytes of ");
        } else {
            text_str(&t, " (past the end of ");
        }
        text_hex(&t, (uintptr_t)block);
        text_str(&t, ")");
        break;
    case HMM_FAULT_WRITE_AFTER_FREE:
        text_str(&t, "write after free at ");
        text_hex(&t, (uintptr_t)ptr);
        break;
    case HMM_FAULT_INVALID_POINTER:
    default:
        text_str(&t, "invalid pointer ");
        text_hex(&t, (uintptr_t)ptr);
        if (!block) {
            text_str(&t, " (not a block from this heap)");
        } else if (block == ptr) {
            text_str(&t, " (inside free memory)");
        } else {
            text_str(&t, " (inside the block at ");
            text_hex(&t, (uintptr_t)block);
            text_str(&t, " of ");
            text_uint(&t, n);
            text_str(&t, " bytes)");
        }
        break;
    }
    finish(h, fault);
}

void misuse_report_text(hmm_heap *h, hmm_fault fault, const char *text)
{
    hmm_text t;
    start_line(&t, h);
    text_str(&t, text);
    finish(h, fault);
}

hmm_fault hmm_heap_last_fault(hmm_heap *h, char *message, size_t message_len)
{
    hmm_fault fault = h->fault;
    if (message && message_len) {
        size_t n = strlen(h->message);
        if (n >= message_len)
            n = message_len - 1;
        memcpy(message, h->message, n);
        message[n] = '\0';
    }
    h->fault = HMM_FAULT_NONE;
    h->message[0] = '\0';
    return fault;
}
