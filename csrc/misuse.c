/*
 * misuse.c - one line for each misuse of the heap.
 *
 * The core reports misuse here and abandons the operation; what happens
 * next is the heap's choice (its on_misuse handler): the process heap
 * prints the line and aborts, a simulated heap keeps it for the caller.
 */
#include "format.h"
#include "heap.h"

#include <string.h>

void misuse_report(hmm_heap *h, const char *call, hmm_fault fault, const void *ptr, size_t block_size)
{
    hmm_text t;
    text_init(&t, h->message, sizeof h->message);
    text_str(&t, "hmm: ");
    text_str(&t, call);
    text_str(&t, ": ");
    switch (fault) {
    case HMM_FAULT_DOUBLE_FREE:
        text_str(&t, "double free of ");
        text_hex(&t, (uintptr_t)ptr);
        text_str(&t, " (block of ");
        text_uint(&t, block_size);
        text_str(&t, " bytes)");
        break;
    case HMM_FAULT_CORRUPT_HEADER:
        text_str(&t, "corrupted block header at ");
        text_hex(&t, (uintptr_t)ptr);
        break;
    case HMM_FAULT_INVALID_POINTER:
    default:
        text_str(&t, "invalid pointer ");
        text_hex(&t, (uintptr_t)ptr);
        text_str(&t, " (not a block from this heap)");
        break;
    }
    h->fault = fault;
    if (h->on_misuse)
        h->on_misuse(h);
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
