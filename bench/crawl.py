"""Run one real crawl (`python -m crawler.run`) in a child process and measure it: wall time, peak
memory of its whole process tree (extraction workers included), Scrapy's final stats, rows added."""
from __future__ import annotations

import os
import re
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("documents", "revisions", "fetches", "captures", "attachments", "runs")
STAT_RE = re.compile(r"'([\w/.-]+)':\s*(\d+(?:\.\d+)?)[,}]")


@dataclass
class CrawlResult:
    wall: float
    returncode: int
    peak_rss_mb: float  # sum of VmRSS over the crawl's process tree, at its peak
    peak_pss_mb: float  # the same with shared pages split fairly (what the tree really costs)
    stats: dict[str, float]
    rows_added: dict[str, int]
    run: dict = field(default_factory=dict)
    log_tail: str = ""
    cpu_s: float | None = None  # CPU seconds (user + system) of the crawl's whole process tree
    cpu_by_role: dict[str, float] = field(default_factory=dict)  # the same sampled by role (TreeMemory)


def table_counts(db: Path) -> dict[str, int]:
    if not db.exists():
        return dict.fromkeys(TABLES, 0)
    conn = sqlite3.connect(db)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}
    finally:
        conn.close()


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            continue
    return out


def _memory_kb(pid: int) -> tuple[int, int]:
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
# the crawl's threads and processes, as the CPU table groups them
ROLES = ("crawl process, main thread", "crawl process, other threads", "extraction workers")


def _thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) so far of each thread of `pid`, by thread id."""
    out = {}
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[int(tid)] = (int(fields[11]) + int(fields[12])) / TICK
        except (OSError, IndexError, ValueError):
            continue
    return out


class TreeMemory(threading.Thread):
    """Samples RSS and PSS of a process and all its descendants every `interval` seconds, and the CPU time
    of each of their threads (its last sample: what a thread used up to then), by role (ROLES)."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_rss = self.peak_pss = 0
        self.threads: dict[tuple[int, int], float] = {}  # (pid, tid) -> CPU seconds at the last sample
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            rss = pss = 0
            for p in _tree(self.pid):
                r, s = _memory_kb(p)
                rss, pss = rss + r, pss + s
                self.threads.update({(p, tid): cpu for tid, cpu in _thread_cpu(p).items()})
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            self.done.wait(self.interval)

    def cpu_by_role(self) -> dict[str, float]:
        """CPU seconds by role: the crawl process's main thread, its other threads (the archive writer, the
        checkpoint thread, Scrapy's), and every other process of the tree (the extraction workers)."""
        out = dict.fromkeys(ROLES, 0.0)
        for (pid, tid), cpu in self.threads.items():
            role = ROLES[2] if pid != self.pid else ROLES[0] if tid == pid else ROLES[1]
            out[role] += cpu
        return out


def scrapy_stats(log: str) -> dict[str, float]:
    """The numeric entries of Scrapy's final 'Dumping Scrapy stats' block."""
    start = log.rfind("Dumping Scrapy stats")
    if start < 0:
        return {}
    block = log[start:log.find("}", start) + 1]
    return {k: float(v) for k, v in STAT_RE.findall(block)}


def run_crawl(config: Path, db: Path, source: str, log_path: Path, timeout: float = 900,
              profile: Path | None = None) -> CrawlResult:
    """Crawl `source` of `config` into `db` as the scheduler would (a child process); measured.
    With `profile`, the crawl runs under py-spy (bench.profile), its samples written there."""
    before = table_counts(db)
    cmd = [sys.executable, "-m", "crawler.run", "--source", source, "--config", str(config), "--db", str(db),
           "--log-level", "INFO"]
    if profile is not None:
        from bench.profile import command

        cmd = command(profile, cmd)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(log_path, "w") as log:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)  # the crawl and its workers, once reaped
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        sampler = TreeMemory(proc.pid)
        sampler.start()
        try:
            proc.wait(timeout)
        finally:
            wall = time.perf_counter() - start
            used = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = used.ru_utime + used.ru_stime - children.ru_utime - children.ru_stime
            sampler.done.set()
            sampler.join()
    text = log_path.read_text(errors="replace")
    after = table_counts(db)
    run = {}
    if db.exists():
        conn = sqlite3.connect(db)
        conn.row_factory = sqlite3.Row
        row = conn.execute("SELECT * FROM runs ORDER BY id DESC LIMIT 1").fetchone()
        run = dict(row) if row else {}
        conn.close()
    return CrawlResult(wall, proc.returncode, sampler.peak_rss / 1024, sampler.peak_pss / 1024, scrapy_stats(text),
                       {t: after[t] - before[t] for t in TABLES}, run, text[-3000:], cpu_s=cpu,
                       cpu_by_role=sampler.cpu_by_role())
