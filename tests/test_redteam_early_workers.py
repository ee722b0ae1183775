"""Red team of the extraction workers started before Scrapy (crawler/run.py `_start_workers`): the exit
paths around them (bad settings, a bad rules file, a locked source, signals and kill -9 while Scrapy
starts, SIGTERM to the whole process group mid-crawl), and the recrawls that must not fork them at all."""
from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from crawler.locks import SourceLock
from tests.crawling import ROOT, children, crawl, rows
from tests.sites import ReplicaFarm
from tests.sites.faults import FaultFarm
from tests.test_conditional import serve_with_validators
from tests.test_crashes import assert_archive_sound

ARTICLES = 12


def _kill_site(farm: FaultFarm, tmp_path, **settings):
    site = farm.sites["kill"]
    for n in range(ARTICLES):
        site.add_article(f"r{n}")
    return site, farm.sources_yaml(tmp_path / "sources.yaml", settings=settings), tmp_path / "archive.db"


def _start(config, db, source: str, *extra: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m crawler.run` in a session (process group) of its own, as the scheduler starts it."""
    return subprocess.Popen([sys.executable, "-m", "crawler.run", "--source", source, "--config", str(config),
                             "--db", str(db), "--log-level", "WARNING", *extra], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _finish(child: subprocess.Popen, timeout: float = 120) -> tuple[str, str]:
    """The crawl's output once it has ended; a crawl still running after `timeout` seconds is killed (with
    its group) and fails the test: it hung (as Ctrl-C during Scrapy's start made it, deadlocked on the
    logging lock the KeyboardInterrupt left held)."""
    try:
        return child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        child.communicate()
        raise AssertionError(f"the crawl did not end within {timeout:g}s: it hung") from None


def _running(pid: int) -> bool:
    """Alive and not a zombie (a pid that is gone: not running)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _group(pgid: int) -> list[int]:
    """The running processes of process group `pgid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":
                found.append(int(entry))
    return found


def _wait_for_children(child: subprocess.Popen, count: int, limit: float = 60) -> list[int]:
    """The crawl's first `count` child processes (its workers), as soon as they are all forked."""
    deadline = time.monotonic() + limit
    seen: list[int] = []
    while child.poll() is None and time.monotonic() < deadline:
        seen += [c for c in children(child.pid) if c not in seen]
        if len(seen) >= count:
            return seen
        time.sleep(0.001)
    raise AssertionError(f"the crawl forked {seen} and no more (exit {child.poll()})")


def _gone(pids, limit: float = 30) -> list[int]:
    """Those of `pids` still running after they had `limit` seconds to end (they end at once when right)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and any(map(_running, pids)):
        time.sleep(0.05)
    return [p for p in pids if _running(p)]


def _snapshot(db) -> list:
    conn = sqlite3.connect(db)
    try:
        return [conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in ("runs", "fetches", "revisions")]
    finally:
        conn.close()


# --- bad settings and rules files: one clear line before anything starts ----------------------------------

@pytest.mark.parametrize("value", ["two", "1.5"])
def test_a_worker_count_that_is_not_a_whole_number_is_one_config_error_and_writes_nothing(tmp_path, value):
    """ZWGK_EXTRACT_WORKERS is read by the crawl process itself now (to fork the workers before Scrapy):
    a value int() refuses must be the preflight's one-line config error (exit 2), not a traceback out of
    `_start_workers` whose exit code 1 says `partial`."""
    with FaultFarm(("kill",)) as farm:
        _, config, db = _kill_site(farm, tmp_path)
        assert crawl(config, db, farm.source_id("kill")).returncode == 0
        before = _snapshot(db)
        farm.sites["kill"].bump()
        config = farm.sources_yaml(tmp_path / "sources.yaml", settings={"ZWGK_EXTRACT_WORKERS": value})
        done = crawl(config, db, farm.source_id("kill"))
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 2, done.stderr[-2000:]
    [line] = done.stderr.strip().splitlines()
    assert "ZWGK_EXTRACT_WORKERS" in line and repr(value) in line, line
    assert _snapshot(db) == before


VOLATILE = (ROOT / "config" / "volatile.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("variable, text", [
    ("ZWGK_CHROME_RULES", "prune: [not closed\n"),  # YAML that does not parse
    ("ZWGK_VOLATILE_RULES", VOLATILE.replace("anywhere:\n", "anywhere:\n  - '(unbalanced'\n", 1)),  # a bad regex
], ids=["chrome-yaml", "volatile-regex"])
def test_a_bad_rules_file_is_one_config_error_before_any_page_is_fetched(tmp_path, variable, text):
    """The workers' warm-up swallows a rules file that does not load ("the first page's to report"): then
    every page of the site is fetched and recorded as an error, each with the YAML parser's many lines.
    A bad rules file is bad input: one line naming the file, exit 2, nothing fetched or written."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(text, encoding="utf-8")
    with FaultFarm(("kill",)) as farm:
        site, config, db = _kill_site(farm, tmp_path)
        assert crawl(config, db, farm.source_id("kill")).returncode == 0
        before, served = _snapshot(db), len(site.served())
        site.bump()
        done = subprocess.run([sys.executable, "-m", "crawler.run", "--source", farm.source_id("kill"),
                               "--config", str(config), "--db", str(db), "--log-level", "WARNING"],
                              cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT), variable: str(rules)},
                              capture_output=True, text=True, timeout=120)
        fetched = len(site.served()) - served
    assert done.returncode == 2, done.stderr[-2000:]
    [line] = done.stderr.strip().splitlines()
    assert rules.name in line, line
    assert fetched == 0
    assert _snapshot(db) == before


# --- exit paths while the workers and Scrapy start -------------------------------------------------------

def test_a_crawl_refused_for_a_locked_source_ends_with_no_process_left(tmp_path):
    """Another process holds the source's lock: the revalidation stage is skipped, the workers are forked,
    and Scrapy then refuses the crawl. The crawl still ends, leaves no worker behind, and writes nothing."""
    with FaultFarm(("kill",)) as farm:
        _, config, db = _kill_site(farm, tmp_path)
        assert crawl(config, db, farm.source_id("kill")).returncode == 0
        before = _snapshot(db)
        lock = SourceLock(db, farm.source_id("kill"))
        assert lock.acquire(note="red team")
        try:
            child = _start(config, db, farm.source_id("kill"))
            _, err = _finish(child)
        finally:
            lock.release()
    assert child.returncode == 3, err[-2000:]
    assert "being crawled already" in err
    assert _group(child.pid) == []
    assert _snapshot(db) == before


def _recrawl_with_changes(farm: ReplicaFarm, tmp_path):
    """A replica source crawled once with ETags, then edited: its recrawl's revalidation stage makes the run
    row and hands the changed pages to Scrapy, so the workers are forked with a run `running`."""
    serve_with_validators(farm, "cms")
    config = farm.sources_yaml(tmp_path / "sources.yaml", defaults={"settings": {
        "DOWNLOAD_DELAY": 0.05, "AUTOTHROTTLE_ENABLED": False, "ZWGK_ATTACHMENTS": False}})
    db = tmp_path / "archive.db"
    assert crawl(config, db, "replica-cms").returncode == 0
    farm.set_state(2)
    return config, db


HELD_FORK = """
import os, time
from pathlib import Path

HERE = Path(__file__).parent
forks = [0]


def child():  # the first child this process forks waits, before any code of its own, until released
    if forks[0] == 0:
        (HERE / f"forked-{os.getpid()}").touch()
        deadline = time.monotonic() + 60
        while not (HERE / "released").exists() and time.monotonic() < deadline:
            time.sleep(0.01)


def parent():
    forks[0] += 1


os.register_at_fork(after_in_child=child, after_in_parent=parent)
"""


def _held_fork(tmp_path):
    """An environment in which the first child a Python process forks is held at its very start (an
    at-fork hook, in a sitecustomize) until `hooks/released` exists, as a slow machine may hold it: the
    environment, and the folder where `forked-PID` says it is held."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(HELD_FORK, encoding="utf-8")
    return {"PYTHONPATH": f"{hooks}{os.pathsep}{ROOT}"}, hooks


@pytest.mark.parametrize("parent, sig", [(True, signal.SIGTERM), (False, signal.SIGTERM), (False, signal.SIGINT)],
                         ids=["scheduled", "by-hand", "by-hand-ctrl-c"])
def test_sigterm_to_the_group_as_the_workers_start_leaves_no_process_and_no_running_run(tmp_path, parent, sig):
    """SIGTERM to the crawl's whole process group (systemd stopping the unit), or SIGINT (Ctrl-C in the
    terminal of a crawl started by hand), the moment its first worker is forked, before Scrapy has
    installed its handlers. The crawl ends, no worker is left behind, the
    archive is sound, and the run the revalidation stage opened is `interrupted`: not left `running`, nor
    marked `abandoned` by a worker that ran the crawl's own handler (the scheduler is alive)."""
    extra = ["--parent-pid", str(os.getpid())] if parent else []
    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = _recrawl_with_changes(farm, tmp_path)
        child = _start(config, db, "replica-cms", *extra)
        workers = _wait_for_children(child, 1)
        os.killpg(child.pid, sig)
        _, err = _finish(child)
    assert "Traceback" not in err, err[-2000:]  # KeyboardInterrupt
    assert _gone(workers) == [] and _group(child.pid) == []
    assert_archive_sound(db)
    [run] = rows(db, "SELECT status, message FROM runs WHERE id = 2")
    assert run["status"] == "interrupted", (run, err[-2000:])


def test_a_worker_sent_sigterm_before_its_own_handlers_stops_and_the_crawl_finishes_its_run(tmp_path):
    """A SIGTERM reaching a worker just forked, before it has set its own handlers (here: while it is held at
    its start, as on a busy machine; or `pkill -f crawler.run`, which matches the workers too): it must
    not run the crawl's handler inherited from the fork (with --parent-pid, Lifeline._stop_early, which marks
    the run `abandoned` as if the scheduler had died). The worker just ends and the crawl finishes its run."""
    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = _recrawl_with_changes(farm, tmp_path)
        env, hooks = _held_fork(tmp_path)
        child = _start(config, db, "replica-cms", "--parent-pid", str(os.getpid()), env=env)
        deadline = time.monotonic() + 60
        while not list(hooks.glob("forked-*")) and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        [held] = hooks.glob("forked-*")
        worker = int(held.name.split("-")[1])
        os.kill(worker, signal.SIGTERM)
        (hooks / "released").touch()
        _, err = _finish(child)
        edited = farm.sites["cms"].url(farm.changes["cms"].edited)
    assert "crawler.run:" not in err, err[-2000:]  # "its scheduler died …", said by the worker
    assert child.returncode == 0, err[-2000:]
    assert [r["status"] for r in rows(db, "SELECT status FROM runs ORDER BY id")] == ["ok", "ok"]
    [fetch] = rows(db, "SELECT outcome FROM fetches WHERE run_id = 2 AND url = ?", [edited])
    assert fetch["outcome"] == "changed"
    assert _gone([worker]) == []


def test_kill_9_of_the_crawl_as_its_workers_start_leaves_no_worker(tmp_path):
    """kill -9 of `python -m crawler.run` right after its workers are forked (they may not have armed
    PR_SET_PDEATHSIG yet): every worker ends all the same."""
    with FaultFarm(("kill",)) as farm:
        _, config, db = _kill_site(farm, tmp_path, ZWGK_EXTRACT_WORKERS=2)
        child = _start(config, db, farm.source_id("kill"))
        workers = _wait_for_children(child, 2)
        child.send_signal(signal.SIGKILL)
        _finish(child, 60)
    assert _gone(workers) == []


def test_sigterm_to_the_whole_group_mid_crawl_ends_the_run_interrupted(tmp_path):
    """systemd's stop: SIGTERM to the crawl and its workers at once, mid-crawl. The workers die (SIG_DFL),
    the crawl closes cleanly: the run is `interrupted` (not abandoned, not left running), what was written
    stays and is sound, and no process of the group is left."""
    with FaultFarm(("kill",)) as farm:
        _, config, db = _kill_site(farm, tmp_path, DOWNLOAD_DELAY=0.2, CONCURRENT_REQUESTS_PER_DOMAIN=1,
                                   ZWGK_EXTRACT_WORKERS=2, ZWGK_COMMIT_PAGES=2)
        child = _start(config, db, farm.source_id("kill"), "--parent-pid", str(os.getpid()))
        workers = _wait_for_children(child, 2)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None and not (
                db.exists() and rows(db, "SELECT count(*) n FROM sqlite_master WHERE name = 'revisions'")[0]["n"]
                and rows(db, "SELECT count(*) n FROM revisions")[0]["n"] >= 2):
            time.sleep(0.02)
        os.killpg(child.pid, signal.SIGTERM)
        _, err = _finish(child)
    assert child.returncode == 3, err[-2000:]
    assert "crawler.run:" not in err, err[-2000:]  # no hard exit, from the crawl or from a worker
    [run] = rows(db, "SELECT * FROM runs")
    assert run["status"] == "interrupted" and run["finished_at"], run
    assert 2 <= run["new_revisions"] < ARTICLES
    assert _gone(workers) == [] and _group(child.pid) == []
    assert_archive_sound(db)


# --- recrawls that must cost no worker ------------------------------------------------------------------

def test_an_unchanged_recrawl_forks_no_worker(tmp_path):
    """The revalidation stage ends an unchanged recrawl without Scrapy (no attachments to check): no worker
    may be forked for it."""
    with ReplicaFarm(sites=("cms",)) as farm:
        serve_with_validators(farm, "cms")
        config = farm.sources_yaml(tmp_path / "sources.yaml", defaults={"settings": {
            "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ZWGK_ATTACHMENTS": False}})
        db = tmp_path / "archive.db"
        assert crawl(config, db, "replica-cms").returncode == 0
        child = _start(config, db, "replica-cms")
        seen: set[int] = set()
        while child.poll() is None:
            seen.update(children(child.pid))
            time.sleep(0.002)
        _, err = _finish(child, 60)
    assert child.returncode == 0, err[-2000:]
    [run] = rows(db, "SELECT * FROM runs WHERE id = 2")
    assert run["status"] == "ok" and run["pages_extracted"] == 0 and run["unchanged"] > 0
    assert seen == set()


def test_scrapy_that_cannot_start_ends_the_run_with_one_line_and_no_process_left(tmp_path):
    """A source setting that passes the preflight but stops Scrapy from starting (a middleware class that
    does not exist), on a recrawl whose revalidation stage opened the run and after the workers were forked:
    the crawl says why in one line, the run is `failed` (not left `running`), and no worker is left."""
    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = _recrawl_with_changes(farm, tmp_path)
        config = farm.sources_yaml(tmp_path / "sources.yaml", defaults={"settings": {
            "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ZWGK_ATTACHMENTS": False,
            "DOWNLOADER_MIDDLEWARES": {"zwgk_no_such_module.Middleware": 543}}})
        child = _start(config, db, "replica-cms")
        workers = _wait_for_children(child, 1)
        _, err = _finish(child)
    assert child.returncode not in (0, 1), err[-2000:]
    assert "Traceback" not in err
    [line] = [x for x in err.splitlines() if x.startswith("error:")]
    assert "zwgk_no_such_module" in line, err[-2000:]
    [run] = rows(db, "SELECT status, message, finished_at FROM runs WHERE id = 2")
    assert run["status"] == "failed" and "zwgk_no_such_module" in run["message"] and run["finished_at"], run
    assert _gone(workers) == [] and _group(child.pid) == []
    assert_archive_sound(db)


def test_a_crawl_starts_no_process_but_its_workers(tmp_path):
    """The workers must be the crawl's only children (tests/test_workers_start.py counts them): Scrapy's
    start-up log of versions ran `uname -p` for "Platform" (platform.platform()), a third child of the
    crawl process, seen there by the watch in about one run in eight. A `uname` first on PATH tells."""
    shims = tmp_path / "shims"
    shims.mkdir()
    called = tmp_path / "uname-called"
    (shims / "uname").write_text(f"#!/bin/sh\necho \"$@\" >> {called}\nexec /bin/uname \"$@\"\n", encoding="utf-8")
    (shims / "uname").chmod(0o755)
    with FaultFarm(("kill",)) as farm:
        _, config, db = _kill_site(farm, tmp_path)
        child = _start(config, db, farm.source_id("kill"),
                       env={"PATH": f"{shims}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}"})
        _, err = _finish(child)
    assert child.returncode == 0, err[-2000:]
    assert rows(db, "SELECT count(*) n FROM revisions")[0]["n"] == ARTICLES
    assert not called.exists(), called.read_text()
