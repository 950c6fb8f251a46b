"""bash under HMM, with every program it starts preloaded too."""
import subprocess

# Output must not depend on timing or pids: background jobs write to files
# that are read back, in a fixed order, after `wait`.
SCRIPT = r"""
set -u
fact() { local n=$1; if (( n <= 1 )); then echo 1; else echo $(( n * $(fact $((n - 1))) )); fi; }
echo "fact 12 = $(fact 12)"

echo "-- pipelines"
seq 1 20000 | sort -r | head
seq 1 20000 | sort -n | tail -3
seq 1 5000 | tr 0-9 a-j | sort | uniq -c | sort -rn | head -5

echo "-- subshells and nested substitution"
out=$( (echo one; (echo two; echo "$(echo nested $(echo deeper $(echo deepest)))")) | tr a-z A-Z )
echo "$out"
( cd sub && echo "in $(basename "$PWD")"; exit 3 ); echo "subshell status $?"

echo "-- loops and strings"
total=0; for i in $(seq 1 3000); do total=$(( total + i )); done; echo "total=$total"
s=""; for i in {1..2000}; do s+="x$i,"; done; echo "length ${#s}"
arr=(); for i in {1..3000}; do arr+=("e$i"); done; echo "${#arr[@]} ${arr[2999]}"
unset 'arr[5]'; echo "after unset ${#arr[@]}"
declare -A count
for w in alpha beta gamma alpha delta beta alpha epsilon; do count[$w]=$(( ${count[$w]:-0} + 1 )); done
for k in $(printf '%s\n' "${!count[@]}" | sort); do echo "$k=${count[$k]}"; done
i=0; while read -r line; do i=$(( i + ${#line} )); done < <(seq 1 4000); echo "chars $i"
IFS=, read -ra parts <<< "a,b,c,d,e"; echo "parts ${#parts[@]} ${parts[3]}"
long=$(printf 'y%.0s' {1..50000}); echo "long ${#long} ${long:49990}"
echo "${long//y/ab}" | wc -c

echo "-- here-docs"
cat <<EOF | sort | uniq -c
pear
apple
pear
$(echo computed)
EOF
tr a-z A-Z <<'EOF'
quoted $(not expanded)
EOF

echo "-- background jobs"
for j in 1 2 3 4 5 6; do
    ( seq 1 $(( j * 3000 )) | sort -rn | head -1 > "bg.$j" ) &
done
wait
for j in 1 2 3 4 5 6; do echo "job $j: $(cat "bg.$j")"; done
f() { sleep 0.1; echo "late $1" > "late.$1"; }
f a & f b & wait; cat late.a late.b

echo "-- functions and recursion"
fib() { local n=$1; (( n < 2 )) && { echo "$n"; return; }; echo $(( $(fib $((n-1))) + $(fib $((n-2))) )); }
echo "fib 14 = $(fib 14)"
trap 'echo "trap on exit"' EXIT
"""


def test_bash_script_same_as_glibc(tmp_path, run_both, same, served, support):
    bash = support.require_program("bash")
    for tool in ("seq", "sort", "head", "tail", "tr", "uniq", "wc", "cat", "basename", "sleep"):
        support.require_program(tool)
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "script.sh").write_text(SCRIPT)

    env = support.base_env(LC_ALL="C")
    both = run_both([bash, "script.sh"], workdir=work, env=env, text=True,
                    stdin=subprocess.DEVNULL)
    same(both)
    assert both.glibc.returncode == 0, both.glibc.stderr
    out = both.hmm.stdout
    assert both.hmm.stderr == "", both.hmm.stderr
    assert "fact 12 = 479001600" in out
    assert "-- pipelines\n9999\n9998\n" in out and "19999\n20000\n" in out
    assert "total=4501500" in out
    assert "job 6: 18000" in out
    assert "fib 14 = 377" in out
    assert out.endswith("trap on exit\n")

    served(both.hmm, min_allocs=1000)
    # Subshells, command substitutions and the programs of every pipeline ran
    # under HMM too: each wrote its own stats.
    pids = {report["pid"] for report in both.hmm.all_stats}
    assert len(pids) >= 100, f"only {len(pids)} processes wrote HMM stats"
    assert len(pids) == len(both.hmm.all_stats)
    for report in both.hmm.all_stats:
        assert report.get("failed_calls", 0) == 0, report
