#!/usr/bin/env bash
# Put a shell session under HMM: after the eval, every program this shell
# starts gets HMM as its malloc (the shell itself keeps the malloc it
# started with; start a new one, e.g. `exec bash`, to move it too).
#
#   bash examples/shell_session.sh
set -eu

eval "$(hmm-run --env)"
echo "LD_PRELOAD=$LD_PRELOAD"

# Every process writes its own statistics at exit, named by its pid.
statsdir=$(mktemp -d)
trap 'rm -rf "$statsdir"' EXIT
export HMM_STATS="$statsdir/%p.txt"

echo "-- a few commands under HMM"
ls -l / > /dev/null
seq 1 10000 | sort -rn | head -3
echo "hello from the heap memory manager" | tr a-z A-Z
bash -c 'words=$(printf "%s\n" one two three | sort); echo "sorted in a child shell:" $words'

unset HMM_STATS
echo "-- what HMM saw"
shopt -s nullglob
reports=("$statsdir"/*.txt)
echo "processes that reported: ${#reports[@]}"
for report in "${reports[@]}"; do
    pid='' allocs='' peak=''
    while read -r _ name value; do
        case $name in
            pid) pid=$value ;;
            alloc_calls) allocs=$value ;;
            peak_bytes_in_use) peak=$value ;;
        esac
    done < "$report"
    echo "pid $pid: $allocs mallocs, peak $peak bytes in use"
done

echo "-- HMM_STATS=1 prints the report on stderr instead"
HMM_STATS=1 ls / 2>&1 >/dev/null | grep -E '^hmm: (pid|alloc_calls|heap_size) '
