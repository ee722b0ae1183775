"""The extraction workers start before Scrapy: loaded at once, not copies of Scrapy, the only ones, and a
worker told to stop (SIGTERM) just stops — it never ends the crawl's run."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

from tests.crawling import ROOT, children, rows
from tests.sites.faults import FaultFarm

ARTICLES = 30
# a shared library only Scrapy's imports map (pyOpenSSL's cryptography): in a worker forked after Scrapy
# was imported it is there too
SCRAPY_ONLY_LIBRARY = "cryptography/hazmat/bindings/_rust"


def _in_a_pool(task: str, parent: str = "None") -> subprocess.CompletedProcess:
    """A fresh Python process that imports crawler.workers only, starts a one-worker pool and runs in it
    the function `task` (Python source defining `task()`); it prints `parent` (an expression evaluated in
    it before the pool starts) and the task's result."""
    script = (f"import asyncio, logging, sys\nfrom crawler.workers import ExtractorPool\n{task}\n"
              f"parent = {parent}\npool = ExtractorPool(1)\npool.start()\n"
              "try:\n    print(parent, asyncio.run(pool.run(task)))\nfinally:\n    pool.close()\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    return out


def test_a_worker_has_the_extractor_loaded_before_its_first_task():
    """The worker loads the extractor and compiles its rules when it starts; the process that starts it
    has loaded neither."""
    out = _in_a_pool("def task():\n"
                     "    from crawler.extract import rules, volatile\n"
                     "    return rules.load_rules.cache_info().currsize == volatile.load_volatile.cache_info().currsize"
                     " == 1\n",
                     parent="[m for m in ('lxml.html', 'crawler.extract', 'scrapy') if m in sys.modules]")
    assert out.stdout.split() == ["[]", "True"]


def test_a_warning_in_a_worker_is_logged_in_the_crawls_format():
    """Forked before Scrapy sets logging up, a worker logs its own warnings (Scrapy's format, to stderr),
    not through Python's bare last-resort handler."""
    out = _in_a_pool("def task():\n"
                     "    logging.getLogger('crawler.extract').warning('odd page %s', 7)\n"
                     "    logging.getLogger('crawler.extract').info('not shown')\n")
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith(" [crawler.extract] WARNING: odd page 7"), out.stderr


def _site(farm: FaultFarm, tmp_path, delay: float):
    site = farm.sites["kill"]
    for n in range(ARTICLES):
        site.add_article(f"w{n}")
    config = farm.sources_yaml(tmp_path / "sources.yaml", settings={
        "DOWNLOAD_DELAY": delay, "CONCURRENT_REQUESTS_PER_DOMAIN": 2, "ZWGK_EXTRACT_WORKERS": 2})
    return config, tmp_path / "archive.db"


def _start(config, db, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "crawler.run", "--source", FaultFarm.source_id("kill"),
                             "--config", str(config), "--db", str(db), "--log-level", "WARNING", *extra],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _maps(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/maps") as f:
            return f.read()
    except OSError:
        return ""


class _Watch(threading.Thread):
    """Samples the crawl's child processes every 10 ms: every worker seen, the most alive at once, and
    whether each had mapped Scrapy's library (and whether the crawl process itself had, once)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.done = pid, threading.Event()
        self.seen: dict[int, bool] = {}
        self.most = 0
        self.parent_mapped = False

    def run(self) -> None:
        while not self.done.is_set():
            alive = children(self.pid)
            self.most = max(self.most, len(alive))
            for child in alive:
                maps = _maps(child)
                if maps:
                    self.seen[child] = self.seen.get(child, False) or SCRAPY_ONLY_LIBRARY in maps
            self.parent_mapped = self.parent_mapped or SCRAPY_ONLY_LIBRARY in _maps(self.pid)
            self.done.wait(0.01)


def test_a_crawl_extracts_in_workers_started_before_scrapy_and_in_no_others(tmp_path):
    with FaultFarm(("kill",)) as farm:
        config, db = _site(farm, tmp_path, delay=0.02)
        child = _start(config, db)
        watch = _Watch(child.pid)
        watch.start()
        _, err = child.communicate(timeout=120)
        watch.done.set()
        watch.join()
    assert child.returncode == 0, err[-2000:]
    assert rows(db, "SELECT count(*) n FROM revisions")[0]["n"] == ARTICLES
    assert watch.parent_mapped, "the crawl process never had Scrapy's library mapped: the watch saw nothing"
    assert len(watch.seen) == 2 and watch.most == 2, watch.seen
    assert not any(watch.seen.values()), f"a worker holds a copy of Scrapy: {watch.seen}"


def test_a_worker_sent_sigterm_stops_and_the_crawl_finishes_its_run(tmp_path):
    """A SIGTERM meant for the crawl (systemd stops every process of the unit) reaching a worker first,
    or alone: the worker ends, its pages are extracted again elsewhere, and the run stays the crawl's to
    end — here ok, with every edited article archived. (Forked from the crawl process, the worker would
    otherwise run the crawl's own SIGTERM handler, which records the run as ended: with --parent-pid, and a
    run row already made by the revalidation stage, as on every recrawl.)"""
    with FaultFarm(("kill",)) as farm:
        config, db = _site(farm, tmp_path, delay=0.1)
        first = _start(config, db)
        _, err = first.communicate(timeout=120)
        assert first.returncode == 0, err[-2000:]
        farm.sites["kill"].bump()  # every article edited: the recrawl extracts them all again
        child = _start(config, db, "--parent-pid", str(os.getpid()))
        deadline = time.monotonic() + 60
        while len(children(child.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # the crawl is under way
        [worker, *_] = children(child.pid)
        os.kill(worker, signal.SIGTERM)
        _, err = child.communicate(timeout=120)
    assert child.returncode == 0, err[-2000:]
    assert "crawler.run:" not in err, err[-2000:]  # "its scheduler died …", from a worker, with the run marked so
    assert [r["status"] for r in rows(db, "SELECT status FROM runs ORDER BY id")] == ["ok", "ok"]
    assert rows(db, "SELECT count(*) n FROM revisions")[0]["n"] == 2 * ARTICLES
