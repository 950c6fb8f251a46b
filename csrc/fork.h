/*
 * fork.h - keeping the heap whole across fork(); see fork.c.
 */
#ifndef HMM_FORK_H
#define HMM_FORK_H

/* Register HMM's fork handlers, once, ahead of any other library's (called
 * from the library's constructor, and by the first registration of anyone
 * else's handlers, whichever comes first). */
void fork_handlers_register(void);

#endif /* HMM_FORK_H */
