"""Where the time goes: a crawl sampled by py-spy (every process of it, 100 samples a second), its
samples grouped by area and by function, so docs/benchmarks.md never carries figures no code made.

    samples = parse_raw(Path("crawl.raw"))          # py-spy record -f raw --subprocesses --threads
    table = areas(samples, pages=2000)              # {role: {area: {"share": …, "ms_per_page": …}}}
    top = top_functions(samples, role="crawl")      # inclusive samples per function (cumulative)

A sample is charged to the first area met walking its stack from the innermost frame outwards (so the
SQLite statement a pipeline runs is "SQLite writes", not "Scrapy"); a stack in no listed area is
charged by its outermost library (Scrapy/Twisted/asyncio, or other).
"""
from __future__ import annotations

import re
import shutil
from collections import Counter
from pathlib import Path

RATE = 100  # samples per second

# (area, pattern on "function (file:line)"), tried on each frame from the innermost outwards
AREAS: tuple[tuple[str, re.Pattern], ...] = tuple((a, re.compile(p)) for a, p in (
    ("FTS segmentation", r"^segment \(.*archive/search\.py"),
    ("normalising and hashing",
     r"^(prepare|normalize) \(.*archive/store\.py|^(pack|body_hash) \(.*archive/captures\.py"),
    ("SQLite writes", r"archive/(store|groupcommit|captures|search)\.py|sqlite_utils/"),
    ("extraction", r"crawler/extract/|trafilatura/|lxml/|justext/|htmldate/|courlan/"),
    ("judging responses (guard)", r"crawler/guard\.py"),
    ("plain HTTP (revalidation stage)", r"http/client\.py|/socket\.py|/ssl\.py|^Fetcher\."),
    ("hand-off to the workers", r"concurrent/futures/|multiprocessing/|crawler/workers\.py"),
    ("start-up and imports", r"<frozen importlib|importlib/"),
    ("Scrapy, Twisted, asyncio", r"scrapy/|twisted/|asyncio/|parsel/|w3lib/|itemadapter/"),
))
FRAME_RE = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::(?P<line>\d+))?\)$")


def py_spy() -> str | None:
    """The py-spy executable (installed with the test extras), or None."""
    import sys

    here = Path(sys.executable).with_name("py-spy")
    return str(here) if here.exists() else shutil.which("py-spy")


def command(raw: Path, argv: list[str]) -> list[str]:
    """`argv` run under py-spy, every subprocess and thread sampled, raw (collapsed) stacks to `raw`."""
    exe = py_spy()
    if exe is None:
        raise RuntimeError("py-spy is not installed (pip install py-spy)")
    return [exe, "record", "-r", str(RATE), "-f", "raw", "--subprocesses", "--threads", "--nonblocking",
            "-o", str(raw), "--", *argv]


def parse_raw(raw: Path) -> list[tuple[str, list[str], int]]:
    """py-spy's raw lines → (role, frames outermost first, count). The role is `crawl` for the Scrapy
    process's main thread, `crawl (other threads)`, or `worker` for an extraction process."""
    lines = raw.read_text(encoding="utf-8", errors="replace").splitlines()
    out = []
    pids = []
    for line in lines:
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        proc = next((f for f in frames if f.startswith("process ")), "")
        pid = proc.split()[1].rstrip(":") if proc else ""
        if pid and pid not in pids:
            pids.append(pid)
        out.append((pid, frames, int(count)))
    crawl = pids[0] if pids else ""
    samples = []
    for pid, frames, count in out:
        code = [f for f in frames if not f.startswith(("process ", "thread "))]
        thread = next((f for f in frames if f.startswith("thread ")), "")
        if pid != crawl or any(f.startswith("BaseProcess._bootstrap ") for f in code):
            role = "worker"  # py-spy may label a forked worker with its parent's pid: its stack tells
        elif "MainThread" in thread or not thread:
            role = "crawl"
        else:
            role = "crawl (other threads)"
        samples.append((role, code, count))
    return samples


def area_of(frames: list[str]) -> str:
    if not frames:  # py-spy caught the thread with no Python frame on its stack (native code, exiting)
        return "no Python frame"
    for frame in reversed(frames):
        for area, pattern in AREAS:
            if pattern.search(frame):
                return area
    return "other"


def areas(samples: list[tuple[str, list[str], int]], pages: int) -> dict[str, dict[str, dict[str, float]]]:
    """role → area → share of the role's samples and milliseconds per page (CPU time sampled)."""
    by_role: dict[str, Counter] = {}
    for role, frames, count in samples:
        by_role.setdefault(role, Counter())[area_of(frames)] += count
    out = {}
    for role, counts in by_role.items():
        total = sum(counts.values())
        out[role] = {area: {"share": n / total, "ms_per_page": n * 1000 / RATE / max(1, pages)}
                     for area, n in counts.most_common()}
        out[role]["total"] = {"share": 1.0, "ms_per_page": total * 1000 / RATE / max(1, pages),
                              "seconds": total / RATE}
    return out


def _name(frame: str) -> str:
    m = FRAME_RE.match(frame)
    if not m:
        return frame
    path = m["file"]
    for marker in ("site-packages/", "lib/python3.11/", "/wt-h-perf/", "/work/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{m['func']} ({path})"


def top_functions(samples: list[tuple[str, list[str], int]], role: str = "crawl",
                  limit: int = 15) -> list[dict]:
    """The functions of a role with the most inclusive (cumulative) samples: share of the role's samples
    in which the function is on the stack, and share where it is the innermost frame (self)."""
    total = sum(c for r, _, c in samples if r == role) or 1
    inclusive: Counter = Counter()
    own: Counter = Counter()
    for r, frames, count in samples:
        if r != role or not frames:
            continue
        names = [_name(f) for f in frames]
        for name in set(names):
            inclusive[name] += count
        own[names[-1]] += count
    skip = re.compile(r"^(<module>|_run_module_as_main|_run_code|main|run|start|crawl|mainLoop|run_forever|"
                      r"_run_once|_run|runUntilCurrent|__call__|callback|_runCallbacks) ")
    rows = [{"function": name, "cumulative": n / total, "self": own[name] / total}
            for name, n in inclusive.most_common() if not skip.match(name)]
    return rows[:limit]
