#!/usr/bin/env bash
# Record a program, replay its calls under every placement policy, and see
# what each policy makes of the same history: the table of peak heap,
# fragmentation and blocks examined, where the bytes went at the peak,
# pictures of the heap (at its peak, over time, each policy's size), and
# all of it in one HTML page to open in a browser.
#
#   bash examples/learn_placement.sh [OUTDIR] [PROGRAM [ARGS...]]
#
# Default: vim sorting and editing 20,000 lines, into a temporary OUTDIR.
# The run is recorded with the thread caches off (HMM_TCACHE=0), so that
# the replay under the default policy puts every heap block where the
# process had it.  A program that starts others leaves a trace per process:
# the one with the most calls is replayed.
set -eu

outdir=${1:-$(mktemp -d)}
shift || true
mkdir -p "$outdir"
if [ "$#" -eq 0 ]; then
    seq 1 20000 | sed 's/$/ some text to edit here/' > "$outdir/lines.txt"
    set -- vim -u NONE -i NONE -N -es -c '%s/e/E/g' -c 'g/5/d' -c sort -c wq "$outdir/lines.txt"
fi

HMM_TCACHE=0 hmm run --trace "$outdir/run.trace" --trace-depth 8 "$@" < /dev/null > /dev/null
# the biggest trace of the run (each process writes its own)
trace=$(ls -S "$outdir"/run.trace* | head -1)
hmm replay --where --picture "$outdir/heap.png" --over-time "$outdir/heap-over-time.png" \
    --timelines "$outdir/timelines.svg" "$trace"
hmm report --html "$outdir/report.html" "$trace"
echo "trace: $trace"
echo "report: $outdir/report.html"
