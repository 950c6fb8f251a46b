"""gcc under HMM: the driver, cc1, as and ld all preloaded, and the programs
they build behave exactly like the ones built under glibc."""
import subprocess


def _generated_source(functions=300):
    """A C file of `functions` small functions plus a main that prints them."""
    out = ["#include <stdio.h>", "#include <stdlib.h>", "#include <string.h>", ""]
    out.append("struct pair { long a, b; };")
    for i in range(functions):
        kind = i % 4
        if kind == 0:
            body = f"long r = x; for (int k = 0; k < {i % 17 + 3}; k++) r = r * 31 + k * {i}; return r;"
        elif kind == 1:
            body = (f"char buf[64]; snprintf(buf, sizeof buf, \"f{i}:%ld\", x); "
                    "long h = 0; for (char *p = buf; *p; p++) h = h * 131 + *p; return h;")
        elif kind == 2:
            body = (f"struct pair p = {{ x, {i} }}; long s = 0; "
                    f"for (int k = 0; k < 8; k++) {{ p.a ^= p.b << k; p.b += p.a >> 3; s += p.a % 1000; }} return s;")
        else:
            body = (f"long *v = malloc(sizeof(long) * {i % 50 + 1}); long s = 0; "
                    f"for (int k = 0; k < {i % 50 + 1}; k++) v[k] = x + k; "
                    f"for (int k = 0; k < {i % 50 + 1}; k++) s += v[k] * (k & 1 ? -1 : 1); free(v); return s;")
        out.append(f"static long f{i}(long x) {{ {body} }}")
    out.append("typedef long (*fn)(long);")
    out.append("static const fn table[] = { " + ", ".join(f"f{i}" for i in range(functions)) + " };")
    out.append("""
int main(void)
{
    unsigned long total = 0;
    for (unsigned i = 0; i < sizeof table / sizeof table[0]; i++) {
        long r = table[i]((long)i * 7 + 1);
        total = total * 1000003u + (unsigned long)r;
        if (i % 50 == 0)
            printf("f%u -> %ld\\n", i, r);
    }
    printf("total %lu\\n", total);
    return 0;
}
""")
    return "\n".join(out)


def test_gcc_builds_same_program_as_glibc(tmp_path, run_both, same, served, support):
    gcc = support.require_program("gcc")
    work = tmp_path / "work"
    work.mkdir()
    (work / "gen.c").write_text(_generated_source())
    env = support.base_env(LC_ALL="C")

    both = run_both([gcc, "-O2", "-Wall", "-o", "gen", "gen.c"], workdir=work, env=env,
                    text=True, stdin=subprocess.DEVNULL)
    same(both)
    assert both.glibc.returncode == 0, both.glibc.stderr
    assert both.hmm.stderr == both.glibc.stderr
    served(both.hmm, min_allocs=50)
    # The driver, cc1, as, collect2 and ld each wrote their own stats; cc1
    # alone allocates far more than the driver.
    reports = both.hmm.all_stats
    assert len(reports) >= 4, f"only {len(reports)} gcc processes wrote HMM stats"
    assert max(r["alloc_calls"] for r in reports) > 10 * both.hmm.stats["alloc_calls"] or \
        max(r["peak_bytes_in_use"] for r in reports) > 1_000_000, reports

    runs = [subprocess.run([str(run.cwd / "gen")], capture_output=True, text=True,
                           timeout=support.TIMEOUT) for run in both]
    assert runs[0].returncode == runs[1].returncode == 0
    assert runs[1].stdout == runs[0].stdout
    assert runs[0].stdout.count("\n") == 7

    # An object file compiled under HMM is byte for byte the one glibc's gives.
    # GCC's output is meant not to depend on where its data lives, so a
    # difference means cc1 saw different memory contents (or order).
    objs = run_both([gcc, "-O2", "-c", "-o", "gen.o", "gen.c"], workdir=(both.glibc.cwd, both.hmm.cwd),
                    env=env, stdin=subprocess.DEVNULL)
    same(objs)
    served(objs.hmm, min_allocs=50)
    assert (objs.hmm.cwd / "gen.o").read_bytes() == (objs.glibc.cwd / "gen.o").read_bytes()
