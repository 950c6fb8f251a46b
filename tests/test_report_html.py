"""`hmm report --html`: one page that stands alone, opened in a real browser.

A small C program with two leaking sites is compiled here, recorded with
`hmm-run --trace` and reported on with `hmm report --html`; headless
Chromium then loads the page from a file (no server, no network) and
gives back its DOM after its script ran, and a screenshot.  The page says
in the DOM what a person would see: its script's errors in #errors, each
picture's decoded width in data-natural-width, and data-ready="1" on
body once it is set up.  The figures in the page are checked against the
summary and the replays computed here.
"""
import html
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from trace_writer import TraceWriter

import hmm
from hmm import command, replay, report_html, trace_report

SOURCE = """\
#include <stdlib.h>
#include <string.h>

static void *kept[3000];

void *make_node(size_t n)
{
    return malloc(n);
}

void *leak_table(size_t n)
{
    return calloc(n, 8);
}

int main(void)
{
    for (int round = 0; round < 12; round++)
        for (int i = 0; i < 3000; i++) {
            free(kept[i]);
            kept[i] = (i + round) % 3 ? make_node(16 + (i * 37 + round * 11) % 900) : NULL;
            if (kept[i])
                memset(kept[i], 1, 8);
        }
    for (int i = 0; i < 5; i++)
        leak_table(100 + i);
    for (int i = 0; i < 3000; i += 2)
        free(kept[i]);
    return 0;
}
"""
LEAK_LINE = 13          # leak_table's call of calloc
SECTIONS = ("summary", "leaks", "policies", "where", "heap-map", "heap-over-time", "timeline",
            "policy-timelines", "free-sizes")
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Page(HTMLParser):
    """A page's elements, (tag, attributes) in order, its title, and the
    text inside each element that has an id."""

    def __init__(self, text):
        super().__init__(convert_charrefs=True)
        self.elements, self.text, self.title, self._open = [], {}, "", []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.elements.append((tag, attrs))
        if tag in VOID:
            return
        self._open.append((tag, attrs.get("id")))
        if attrs.get("id"):
            self.text.setdefault(attrs["id"], "")

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i][0] == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        for tag, ident in self._open:
            if ident:
                self.text[ident] += data
        if self._open and self._open[-1][0] == "title":
            self.title += data

    def find(self, tag, **wanted):
        return [a for t, a in self.elements if t == tag
                and all(a.get(k.replace("_", "-")) == v for k, v in wanted.items())]

    def words(self, ident):
        """The text of element `ident` with its white space made single."""
        return " ".join(self.text[ident].split())


def chromium(support, tmp_path, page, *how):
    """Headless Chromium's output for `page` (a file) with the options `how`
    (--dump-dom, --screenshot=...); its scripts get 10 s of virtual time."""
    program = support.require_program("chromium")
    argv = [program, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-extensions", f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--virtual-time-budget=10000", *how, Path(page).as_uri()]
    run = subprocess.run(argv, capture_output=True, text=True, timeout=support.TIMEOUT)
    assert run.returncode == 0, f"{' '.join(argv)}\n{run.stderr[-3000:]}"
    return run.stdout


def with_script(page, target, script):
    """A copy of `page` at `target` with `script` run after the page's own."""
    text = Path(page).read_text()
    assert text.count("</body>") == 1
    Path(target).write_text(text.replace("</body>", f"<script>{script}</script>\n</body>"))
    return target


def policy_rows(text, section):
    """The policies of the rows of a section's table, in order."""
    part = re.search(rf'<section id="{section}">.*?</section>', text, re.S).group(0)
    return re.findall(r"<tr><td><code>([\w-]+)</code>", part)


# ---- a real program's page ----------------------------------------------------------

@pytest.fixture(scope="module")
def recorded(hmm_run_bin, support, tmp_path_factory):
    """The program compiled, recorded with stacks, and its page written by
    `hmm report --html`: (directory, source, trace, page)."""
    gcc = support.require_program("gcc")
    where = tmp_path_factory.mktemp("report-html")
    source, program = where / "prog.c", where / "prog"
    source.write_text(SOURCE)
    subprocess.run([gcc, "-g", "-O0", "-fno-inline", "-o", str(program), str(source)], check=True,
                   timeout=support.TIMEOUT)
    trace, page = where / "prog.trace", where / "prog.html"
    subprocess.run([str(hmm_run_bin / "hmm-run"), "--trace", str(trace), "--trace-depth", "8", "--",
                    str(program)], check=True, capture_output=True, timeout=support.TIMEOUT,
                   env=support.base_env())
    run = subprocess.run([str(hmm_run_bin / "hmm"), "report", "--html", str(page), str(trace)],
                         capture_output=True, text=True, timeout=support.TIMEOUT,
                         env=support.base_env())
    assert run.returncode == 0 and run.stdout == "" and run.stderr == "", run.stderr
    return where, source, trace, page


@pytest.fixture(scope="module")
def dom(recorded, support, tmp_path_factory):
    """The page's DOM after its script ran in Chromium."""
    return Page(chromium(support, tmp_path_factory.mktemp("browser"), recorded[3], "--dump-dom"))


def test_the_page_in_a_browser_has_its_sections_and_pictures_and_no_script_error(dom, recorded):
    assert dom.find("body", data_ready="1"), "the page's script did not finish setting up"
    assert dom.find("div", id="errors") and dom.text["errors"].strip() == ""
    assert dom.title == "hmm report: prog (prog.trace)"
    ids = {a["id"] for _, a in dom.elements if a.get("id")}
    for section in SECTIONS:
        assert section in ids, f"no #{section} in the page"
    pictures = dom.find("img")
    assert len(pictures) == sum(s in ids for s in ("heap-map", "heap-over-time", "timeline",
                                                   "policy-timelines"))
    for picture in pictures:
        assert picture["src"].startswith("data:image/png;base64,")
        # Decoded by the browser, at the size the page says it has.
        assert int(picture["data-natural-width"]) == int(picture["width"]) > 0, picture["alt"]
    # The heap map is drawn finer than an ordinary figure (110 dots per
    # inch would make it some 1,800 pixels wide), for zooming into.
    heap_map = re.search(r'<section id="heap-map">.*?</section>', recorded[3].read_text(), re.S)
    width = int(re.search(r'<img [^>]*width="(\d+)"', heap_map.group(0)).group(1))
    assert width >= 3000


def test_the_figures_are_the_traces(dom, recorded):
    _, source, trace_path, _ = recorded
    trace = hmm.Trace.load(trace_path)
    summary = trace_report.summarize(trace)
    facts = dom.words("summary")
    assert f"{summary.calls:,} calls" in facts
    assert f"peak in use {summary.peak_bytes:,} bytes, after call {summary.peak_call:,}" in facts
    assert f"live at exit {summary.live_bytes:,} bytes" in facts
    # Five blocks of 8 * (100..104) bytes from leak_table, at its line.
    leaks = dom.words("leaks")
    assert f"{8 * sum(range(100, 105)):,} 5 leak_table" in leaks
    assert f"leak_table at {source}:{LEAK_LINE}" in leaks
    # One row a policy, in the order of hmm.POLICIES, with the replay's
    # figures.
    text = recorded[3].read_text()
    assert policy_rows(text, "policies") == policy_rows(text, "where") == list(hmm.POLICIES)
    assert policy_rows(text, "free-sizes") == list(hmm.POLICIES)
    policies, where = dom.words("policies"), dom.words("where")
    for r in replay.replay_all(trace):
        assert (f"{r.policy} {r.peak_heap_size:,} {r.peak_footprint:,} {r.peak_in_use:,} "
                f"{r.fragmentation:.1%}") in policies
        parts = r.where_the_bytes_went(trace)
        assert sum(parts.values()) == r.peak_footprint
        assert f"{r.policy} {parts['asked']:,} " in where


def test_the_heap_map_zooms_about_the_pointer_pans_and_resets(recorded, support, tmp_path):
    # Drive the heap map as a person would, once the page has loaded, and
    # leave what the script did in the DOM.
    probe = """
    window.addEventListener("load", function () {
      var box = document.querySelector("#heap-map .zoom"), view = box.querySelector(".view");
      var r = view.getBoundingClientRect(), seen = {};
      function note(name) {
        seen[name] = { scale: +box.dataset.scale, x: +box.dataset.x, y: +box.dataset.y,
                       transform: view.querySelector("img").style.transform };
      }
      note("start");
      view.dispatchEvent(new WheelEvent("wheel", { deltaY: -300, clientX: r.left + r.width / 2,
          clientY: r.top + r.height / 2, bubbles: true, cancelable: true }));
      note("wheel");
      var down = { pointerId: 7, button: 0, clientX: r.left + 50, clientY: r.top + 50,
                   bubbles: true, cancelable: true };
      view.dispatchEvent(new PointerEvent("pointerdown", down));
      view.dispatchEvent(new PointerEvent("pointermove", Object.assign({}, down,
          { clientX: r.left + 90, clientY: r.top + 70 })));
      view.dispatchEvent(new PointerEvent("pointerup", down));
      note("drag");
      box.querySelector("[data-act=reset]").click();
      note("reset");
      box.querySelector("[data-act=in]").click();
      note("button");
      document.body.dataset.probe = JSON.stringify(seen);
    });
    """
    page = with_script(recorded[3], tmp_path / "probe.html", probe)
    dom = Page(chromium(support, tmp_path, page, "--dump-dom", "--window-size=1280,2000"))
    assert dom.text["errors"].strip() == ""
    seen = json.loads(dom.find("body")[0]["data-probe"])
    assert seen["start"]["scale"] == 1 and seen["start"]["x"] == 0
    wheel = seen["wheel"]
    # deltaY -300: e (2.718) times, about the middle, which stays in place.
    assert abs(wheel["scale"] - np.e) < 0.01 and "scale(2.71" in wheel["transform"]
    assert wheel["x"] < 0 and wheel["y"] < 0
    assert (seen["drag"]["x"], seen["drag"]["y"]) == (wheel["x"] + 40, wheel["y"] + 20)
    assert (seen["reset"]["scale"], seen["reset"]["x"], seen["reset"]["y"]) == (1, 0, 0)
    assert seen["button"]["scale"] == 2


def test_a_screenshot_of_the_page_shows_its_pictures(recorded, support, tmp_path):
    import matplotlib.image
    shot = tmp_path / "page.png"
    chromium(support, tmp_path, recorded[3], f"--screenshot={shot}", "--window-size=1280,4000",
             "--hide-scrollbars")
    pixels = matplotlib.image.imread(shot)[:, :, :3]
    assert pixels.shape[:2] == (4000, 1280)
    assert pixels.std() > 0.05
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 100, "a page of text alone: the pictures are not shown"
    # The heap map's sites and the bars of where the bytes went are in
    # saturated colours, which text in black and grey never is.
    saturation = pixels.max(axis=2) - pixels.min(axis=2)
    assert (saturation > 0.4).mean() > 0.01


def test_the_page_stands_alone(recorded, support, tmp_path):
    text = recorded[3].read_text()
    for reference in ("http://", "https://", "//cdn", 'src="/', "src='/", 'href="/', "url(",
                      "@import", "<link", "<iframe", "<object"):
        assert reference not in text, reference
    page = Page(text)
    for tag, attrs in page.elements:
        assert not attrs.get("src") or attrs["src"].startswith("data:image/png;base64,"), tag
        assert not attrs.get("href") or attrs["href"].startswith("#"), tag


def test_the_page_shows_what_went_wrong_in_it(recorded, support, tmp_path):
    # The browser is told to refuse anything from elsewhere: an image that
    # slipped in is refused, and the page says so; and so it says a script
    # error (so that an empty #errors means something).
    probe = """
    var sneaked = document.createElement("img");
    sneaked.src = "https://example.invalid/tracker.png";
    document.body.appendChild(sneaked);
    setTimeout(function () { noSuchFunction(); }, 0);
    """
    page = with_script(recorded[3], tmp_path / "sneaked.html", probe)
    dom = Page(chromium(support, tmp_path, page, "--dump-dom"))
    errors = dom.words("errors")
    assert "refused to load https://example.invalid/tracker.png" in errors
    assert "script error: Uncaught ReferenceError: noSuchFunction is not defined" in errors


# ---- traces written here ------------------------------------------------------------

def _churn_trace(path, calls, odd_program=None):
    """A program keeping 400 blocks of sizes 16 to 915, each round freeing
    the oldest: `calls` calls."""
    w = TraceWriter()
    if odd_program:
        w.exec(odd_program)
    w.thread(7)
    kept, address = [], 0x10000
    for i in range(calls // 2):
        if len(kept) == 400:
            w.free(kept.pop(0))
        kept.append(w.malloc(16 + (i * 37) % 900, address))
        address += 1024
    w.finish()
    return w.save(path)


def _report(capsys, *argv):
    status = command.main(["report", *map(str, argv)])
    out, err = capsys.readouterr()
    return status, out, err


def test_names_and_paths_are_escaped(tmp_path, capsys):
    odd = '/opt/x<i>y & "prog"'
    path = _churn_trace(tmp_path / "a<b>&\"c'.trace", 2000, odd_program=odd)
    page = tmp_path / "odd.html"
    status, out, err = _report(capsys, "--html", page, path)
    assert status == 0 and out == "" and err == ""
    text = page.read_text()
    for raw in (odd, "a<b>&", "<i>"):
        assert raw not in text
    assert html.escape(odd) in text
    parsed = Page(text)
    assert not parsed.find("i")
    assert parsed.title == f'hmm report: x<i>y & "prog" ({path.name})'
    assert f"trace {path} " in parsed.words("summary")
    assert f'programs (the first), then {odd} ' in parsed.words("summary")


def test_policies_are_chosen_and_the_page_can_go_to_stdout(tmp_path, capsys):
    path = _churn_trace(tmp_path / "churn.trace", 2000)
    status, out, err = _report(capsys, "--html", "-", "--policy", "best-fit,segregated", path)
    assert status == 0 and err == ""
    assert out.startswith("<!DOCTYPE html>") and out.rstrip().endswith("</html>")
    for table in ("policies", "where"):
        assert policy_rows(out, table) == ["best-fit", "segregated"]


def test_bad_input_says_what_is_wrong(tmp_path, capsys):
    path = _churn_trace(tmp_path / "churn.trace", 200)
    status, out, err = _report(capsys, "--html", tmp_path / "no" / "such" / "dir.html", path)
    assert status == 1 and out == ""
    assert err.strip() == (f"hmm report: error: cannot write {tmp_path}/no/such/dir.html: "
                           "No such file or directory")
    status, _, err = _report(capsys, "--html", tmp_path / "p.html", "--policy", "worst-fit", path)
    assert status == 2 and "hmm report: error: unknown policy worst-fit: the policies are " in err
    status, _, err = _report(capsys, "--policy", "best-fit", path)
    assert status == 2 and "hmm report: error: --policy goes with --html" in err
    status, _, err = _report(capsys, "--html", tmp_path / "p.html", tmp_path / "missing.trace")
    assert status == 1 and err.strip().endswith("missing.trace: no such file")
    assert not (tmp_path / "p.html").exists()


def test_a_damaged_trace_gets_a_page_of_its_readable_part_and_fails(tmp_path, capsys):
    path = _churn_trace(tmp_path / "churn.trace", 600)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])
    page = tmp_path / "cut.html"
    status, _, err = _report(capsys, "--html", page, path)
    assert status == 1 and "reporting on the" in err
    text = page.read_text()
    assert '<p class="warning">The trace is damaged: ' in text
    assert '<section id="heap-map">' in text


def test_the_page_does_not_grow_with_the_calls(tmp_path):
    """No call's data goes into the page: a trace of 15 times the calls
    makes as much text (but for longer numbers), and pictures within
    their budgets."""
    pages = {}
    for calls in (20_000, 300_000):
        trace = hmm.Trace.load(_churn_trace(tmp_path / f"{calls}.trace", calls))
        pages[calls] = report_html.render(trace)
    small, big = pages[20_000], pages[300_000]
    pictures = re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", big)
    words = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", big)
    assert len(words) < len(re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", small)) + 2000
    assert all(len(p) * 3 / 4 <= report_html.DETAIL_BYTES for p in pictures)
    assert len(big) < 5_000_000


