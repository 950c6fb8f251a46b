/*
 * fifo_lifo.c - batches of 25, 100, 400 and 1600 blocks of one size,
 * allocated and then freed half in FIFO, half in LIFO order (fifo_lifo.h),
 * in one thread.
 *
 *     fifo_lifo [REPETITIONS]
 */
#include "fifo_lifo.h"

int main(int argc, char **argv)
{
    long reps = scale_arg(argc, argv, 2000);
    report("fifo_lifo", fifo_lifo(reps, 7), fifo_lifo_ops(reps));
    return 0;
}
