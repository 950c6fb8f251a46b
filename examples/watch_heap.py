"""Watch HMM place, split and merge blocks, step by step.

    python examples/watch_heap.py

The heap is simulated: the allocator core runs over a buffer this script
owns, so nothing here touches the process's own malloc.  After each step the
block list is printed in address order: offset from the heap's start, the
block's whole size (header included), and whether it is used or free.
"""
import hmm


def show(heap, step):
    print(f"== {step}")
    for block in heap.walk():
        state = "used" if block.used else "free"
        print(f"   +{block.offset:<6} {block.size:>6} bytes  {state}")
    problems = heap.check()
    assert problems == 0, heap.check_report()


def main():
    heap = hmm.Heap(1 << 20)
    show(heap, "a new heap")

    a = heap.alloc(100)
    show(heap, "a = alloc(100)")
    b = heap.alloc(200)
    c = heap.alloc(300)
    show(heap, "b = alloc(200), c = alloc(300)")

    heap.free(b)
    show(heap, "free(b): a hole between a and c")

    d = heap.alloc(120)
    show(heap, "d = alloc(120): placed in the hole, the rest split off")
    print(f"   d is where b was: {d == b}")

    heap.free(a)
    heap.free(d)
    show(heap, "free(a), free(d): neighbouring free blocks merge")

    heap.write(c, b"watched")
    c = heap.realloc(c, 3000)
    show(heap, "c = realloc(c, 3000)")
    print(f"   c still holds {heap.read(c, 7)!r}")

    heap.free(c)
    show(heap, "free(c): everything free again")
    released = heap.trim()
    show(heap, "trim(): free memory at the top goes back to the source")
    print(f"   trim gave memory back: {released}")

    stats = heap.stats()
    print("== stats")
    for name in ("alloc_calls", "free_calls", "realloc_calls", "blocks_in_use",
                 "peak_bytes_in_use", "heap_size"):
        print(f"   {name} {stats[name]}")


if __name__ == "__main__":
    main()
