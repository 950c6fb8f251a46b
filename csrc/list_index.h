/*
 * list_index.h - first and next fit's choices without the walk, for
 * replays (the picture and the reasons: list_index.c).
 */
#ifndef HMM_LIST_INDEX_H
#define HMM_LIST_INDEX_H

#include "placement.h"

/* Index p's list, if p is first or next fit and has no index yet: its
 * searches then ask the index.  Returns 1 if it was attached (0: another
 * policy, or no memory, and the list is walked as ever). */
int list_index_attach(hmm_placement *p);
/* Drop p's index, if any: its searches walk again. */
void list_index_detach(hmm_placement *p);
/* The index's disagreements with p's list (0 without an index): slots out
 * of the list's order, sizes, blocks or counts that differ, wrong maxima. */
unsigned list_index_check(const hmm_placement *p);

#endif /* HMM_LIST_INDEX_H */
