"""The scheduler for real: `python scheduler.py` in a child process, its crawls in grandchild processes,
replica sites on 127.0.0.1, short "every 2s" schedules, real SQLite. Waits poll the archive with a
generous deadline; nothing asserts how long anything took."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from tests.crawling import ROOT, rows
from tests.sites import ReplicaFarm

DEADLINE = 60  # seconds any awaited event may take before the test gives up
STARTED: list[subprocess.Popen] = []  # background schedulers of the running test


# --- helpers -------------------------------------------------------------------------------------------

@pytest.fixture
def farm() -> Iterator[ReplicaFarm]:
    """Two small replica sites (news, cms) in state 1."""
    with ReplicaFarm(sites=("news", "cms")) as replica:
        yield replica


@pytest.fixture
def hanging_url() -> Iterator[str]:
    """A local port that accepts connections and never answers (the kernel completes the handshake)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(50)
        yield f"http://127.0.0.1:{server.getsockname()[1]}/list/index.html"


@pytest.fixture
def closed_url() -> str:
    """A local port nobody listens on: connection refused, as for a site that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/list/index.html"


def write_config(path: Path, farm: ReplicaFarm, schedule: str = "every 2s", extra: dict[str, str] | None = None,
                 sites: tuple[str, ...] | None = None) -> Path:
    """The farm's sources.yaml on `schedule`, plus sources named in `extra` (id -> start URL) that are
    copies of the first site's entry pointed elsewhere."""
    farm.sources_yaml(path, defaults={"schedule": schedule})
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    if sites is not None:
        config["sources"] = [s for s in config["sources"] if s["id"].removeprefix("replica-") in sites]
    template = config["sources"][0] if config["sources"] else farm.source_entries()[0]
    for source_id, url in (extra or {}).items():
        config["sources"].append({**template, "id": source_id, "start_urls": [url],
                                  "settings": {"RETRY_ENABLED": False}})  # fail fast, no retry back-off
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def scheduler(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run `python scheduler.py ARGS` to completion."""
    return subprocess.run([sys.executable, "scheduler.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def start_scheduler(tmp_path: Path, *args: str, name: str = "scheduler") -> subprocess.Popen:
    """Start `python scheduler.py ARGS` in the background; its output goes to tmp_path/<name>.out."""
    out = open(tmp_path / f"{name}.out", "wb")
    proc = subprocess.Popen([sys.executable, "scheduler.py", *args], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    STARTED.append(proc)
    return proc


def stop(proc: subprocess.Popen, signum: int = signal.SIGTERM) -> int:
    if proc.poll() is None:
        proc.send_signal(signum)
    try:
        return proc.wait(timeout=DEADLINE)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def wait_for(what: str, condition: Callable[[], object], proc: subprocess.Popen | None = None) -> object:
    """Poll `condition` until it is truthy (its value), the scheduler died, or the deadline passed."""
    end = time.monotonic() + DEADLINE
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"scheduler exited ({proc.returncode}) while waiting for {what}")
        time.sleep(0.2)
    pytest.fail(f"gave up waiting for {what}")


def runs(db: Path, source: str | None = None) -> list[dict]:
    """The runs rows (of one source), oldest first; none while the archive is still being created."""
    if not db.exists() or not rows(db, "select name from sqlite_master where name = 'runs'"):
        return []
    if source:
        return rows(db, "select * from runs where source_id = ? order by id", [source])
    return rows(db, "select * from runs order by id")


@pytest.fixture(autouse=True)
def _kill_leftovers(db_path: Path) -> Iterator[None]:
    """What a failed test left behind is killed by pid: the schedulers it started and the crawls they
    started (the pids in this test's own archive)."""
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    for row in runs(db_path):
        pid = row["pid"]
        try:
            if row["status"] == "running" and b"crawler.run" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)
        except (OSError, TypeError):
            pass


# --- --once, --list, --probe, bad input ------------------------------------------------------------------

def test_once_crawls_every_source_and_prints_a_summary(farm, tmp_path, db_path, closed_url):
    config = write_config(tmp_path / "sources.yaml", farm, extra={"down": closed_url})
    done = scheduler("--once", "--config", str(config), "--db", str(db_path))
    assert done.returncode == 1, done.stdout + done.stderr  # 'down' could not be crawled at all
    by_source = {r["source_id"]: r for r in runs(db_path)}
    assert set(by_source) == {"replica-news", "replica-cms", "down"}
    assert by_source["replica-news"]["status"] == "ok"
    assert by_source["replica-cms"]["status"] == "ok"
    assert by_source["down"]["status"] == "failed"
    for source, row in by_source.items():
        line = next(x for x in done.stdout.splitlines() if x.startswith(source + " "))
        assert row["status"] in line and f"run {row['id']}" in line
        assert f"new {row['new_documents']}," in line
    docs = rows(db_path, "select source_id, count(*) n from documents group by source_id")
    assert {d["source_id"]: d["n"] for d in docs} == {
        "replica-news": len([e for e in farm.expected(1) if e.site == "news"]),
        "replica-cms": len([e for e in farm.expected(1) if e.site == "cms"])}

    again = scheduler("--once", "--source", "replica-news", "--config", str(config), "--db", str(db_path))
    assert again.returncode == 0, again.stdout + again.stderr
    latest = runs(db_path, "replica-news")[-1]
    assert latest["status"] == "ok" and latest["unchanged"] == by_source["replica-news"]["new_documents"]
    assert not [r for r in runs(db_path) if r["status"] == "running"]


@pytest.mark.parametrize("problem, args, expected", [
    ("broken yaml", ["--once"], "not valid YAML"),
    ("unknown source", ["--once", "--source", "nope"], "no source with id 'nope'"),
    ("bad number", ["--once", "--time-limit", "soon"], "--time-limit"),
    ("source without once", ["--source", "replica-news"], "--source only goes with --once"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(farm, tmp_path, db_path, problem, args, expected):
    config = write_config(tmp_path / "sources.yaml", farm)
    if problem == "broken yaml":
        config.write_text("sources: [\n  - id: x\n", encoding="utf-8")
    done = scheduler(*args, "--config", str(config), "--db", str(db_path))
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sources.yaml"]


def test_list_shows_schedule_and_next_run(farm, tmp_path):
    config = write_config(tmp_path / "sources.yaml", farm, schedule="30 7 * * 1")
    done = scheduler("--list", "--config", str(config))
    assert done.returncode == 0
    lines = done.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["replica-news", "replica-cms"]
    for line in lines:
        assert "30 7 * * 1" in line and "Asia/Shanghai" in line
        next_run = line.split("next: ")[1]
        assert next_run.endswith("07:30 CST")


def test_probe_shows_links_and_a_sample_and_writes_nothing(farm, tmp_path):
    config = write_config(tmp_path / "sources.yaml", farm)
    done = scheduler("--probe", "replica-cms", "--config", str(config))
    assert done.returncode == 0, done.stdout + done.stderr
    expected = [e for e in farm.expected(1) if e.site == "cms"]
    assert f"article links: {len(expected)}" in done.stdout
    for article in expected:
        assert article.url in done.stdout
    sample = next(e for e in expected if e.url in done.stdout.split("sample article ")[1].splitlines()[0])
    assert f"title:       {sample.title}" in done.stdout
    assert sample.body.splitlines()[0][:40] in done.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sources.yaml"]


# --- time limit, locks, abandoned runs -------------------------------------------------------------------

def test_hanging_crawl_is_killed_at_its_time_limit(farm, tmp_path, db_path, hanging_url):
    config = write_config(tmp_path / "sources.yaml", farm, extra={"hang": hanging_url}, sites=("news",))
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["sources"][-1]["settings"]["ZWGK_TIME_LIMIT"] = 3  # the hanging source's own limit; news has 120 s
    config.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    done = scheduler("--once", "--config", str(config), "--db", str(db_path), "--time-limit", "120", "--grace", "1")
    assert done.returncode == 1
    by_source = {r["source_id"]: r for r in runs(db_path)}
    assert by_source["replica-news"]["status"] == "ok"
    assert by_source["hang"]["status"] == "failed"
    assert "time limit of 3s" in by_source["hang"]["message"]
    assert "time limit" in next(x for x in done.stdout.splitlines() if x.startswith("hang "))


def test_second_scheduler_does_not_crawl_a_locked_source_and_abandoned_runs_are_closed(
        farm, tmp_path, db_path, hanging_url):
    config = write_config(tmp_path / "sources.yaml", farm, extra={"hang": hanging_url}, sites=())
    first = start_scheduler(tmp_path, "--once", "--config", str(config), "--db", str(db_path),
                            "--time-limit", "600", name="first")
    running = wait_for("the first crawl to start", lambda: [r for r in runs(db_path) if r["status"] == "running"
                                                          and r["pid"] != first.pid], first)
    crawl_pid = running[0]["pid"]

    second = scheduler("--once", "--config", str(config), "--db", str(db_path))
    assert second.returncode == 1
    assert "locked" in second.stdout
    assert len(runs(db_path)) == 1, "the second scheduler must not start a parallel crawl"

    # The first scheduler and its crawl die without a chance to clean up: the row is left running ...
    # (the crawl is frozen first, or it would notice its scheduler's death and close its run itself)
    os.kill(crawl_pid, signal.SIGSTOP)
    first.kill()
    first.wait()
    os.kill(crawl_pid, signal.SIGKILL)
    wait_for("the crawl process to be gone", lambda: not Path(f"/proc/{crawl_pid}").exists()
             or b"crawler.run" not in Path(f"/proc/{crawl_pid}/cmdline").read_bytes())
    assert runs(db_path)[0]["status"] == "running"
    # ... and the next scheduler marks it abandoned; the kernel released the lock, so it crawls again.
    third = scheduler("--once", "--config", str(config), "--db", str(db_path), "--time-limit", "2", "--grace", "1")
    assert [r["status"] for r in runs(db_path)] == ["abandoned", "failed"]
    assert third.returncode == 1


def process_group(pgid: int) -> list[int]:
    """The pids of live processes in process group `pgid` (a crawl and its extraction workers)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # the process ended while we looked
            continue
        fields = stat.rsplit(")", 1)[1].split()  # state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def test_crawls_die_with_a_killed_scheduler_and_no_run_stays_running(farm, tmp_path, db_path, hanging_url):
    """kill -9 of the scheduler, three times, mid-crawl of a page that never answers: each time the crawl
    (and its workers) ends within its grace, and its run is closed `abandoned`; nothing is left running."""
    config = write_config(tmp_path / "sources.yaml", farm, extra={"hang": hanging_url}, sites=())
    for attempt in range(3):
        proc = start_scheduler(tmp_path, "--once", "--config", str(config), "--db", str(db_path),
                               "--time-limit", "600", "--grace", "3", name=f"scheduler{attempt}")
        running = wait_for("the crawl to start", lambda p=proc: [r for r in runs(db_path) if r["status"] == "running"
                                                                 and r["pid"] != p.pid], proc)
        crawl_pid = running[-1]["pid"]
        assert process_group(crawl_pid), "the crawl runs in its own process group"
        proc.kill()  # SIGKILL: the scheduler cannot clean up
        proc.wait()
        wait_for("the crawl to end with its scheduler", lambda pgid=crawl_pid: not process_group(pgid))
        assert runs(db_path)[-1]["status"] == "abandoned"
    assert [r["status"] for r in runs(db_path)] == ["abandoned"] * 3
    assert all("scheduler" in r["message"] and r["finished_at"] for r in runs(db_path))


def test_a_crawl_keeps_its_own_deadline_when_its_scheduler_hangs(farm, tmp_path, db_path, hanging_url):
    """A frozen scheduler (SIGSTOP) cannot stop its crawl: the crawl stops itself at its time limit."""
    config = write_config(tmp_path / "sources.yaml", farm, extra={"hang": hanging_url}, sites=())
    proc = start_scheduler(tmp_path, "--once", "--config", str(config), "--db", str(db_path),
                           "--time-limit", "3", "--grace", "2")
    running = wait_for("the crawl to start", lambda: [r for r in runs(db_path) if r["status"] == "running"
                                                      and r["pid"] != proc.pid], proc)
    crawl_pid = running[0]["pid"]
    proc.send_signal(signal.SIGSTOP)
    try:
        wait_for("the crawl to stop itself", lambda: not process_group(crawl_pid))
        (row,) = runs(db_path)
        assert row["status"] == "failed" and "time limit of 3s" in row["message"]
    finally:
        proc.send_signal(signal.SIGCONT)
    assert stop(proc) == 1  # --once: the source could not be crawled


# --- the long-running scheduler --------------------------------------------------------------------------

def test_scheduled_runs_happen_and_a_down_site_does_not_affect_the_others(farm, tmp_path, db_path, closed_url):
    config = write_config(tmp_path / "sources.yaml", farm, extra={"down": closed_url}, sites=("news",))
    proc = start_scheduler(tmp_path, "--config", str(config), "--db", str(db_path), "--jitter", "0")
    wait_for("three finished runs of each source", lambda: all(
        len([r for r in runs(db_path, s) if r["status"] != "running"]) >= 3 for s in ("replica-news", "down")), proc)
    assert stop(proc) == 0
    news, down = runs(db_path, "replica-news"), runs(db_path, "down")
    # A crawl caught by the SIGTERM is recorded as interrupted; every earlier one ran to its end.
    assert {r["status"] for r in news[:-1]} == {"ok"} and news[-1]["status"] in ("ok", "interrupted")
    assert {r["status"] for r in down[:-1]} == {"failed"} and down[-1]["status"] in ("failed", "interrupted")
    done_ok = [r for r in news if r["status"] == "ok"]
    assert news[0]["new_documents"] > 0 and all(r["unchanged"] == news[0]["new_documents"] for r in done_ok[1:])
    for one in (news, down):  # never two crawls of one source at once
        for a, b in zip(one, one[1:], strict=False):
            assert a["finished_at"] <= b["started_at"]
    log = (db_path.parent / "logs" / "scheduler.log").read_text(encoding="utf-8")
    assert f"source down: run {down[0]['id']} failed" in log
    assert f"error fetch of {closed_url}" in log
    assert f"source replica-news: run {news[0]['id']} ok" in log


def test_sigterm_during_a_crawl_leaves_no_running_row_and_exits_0(farm, tmp_path, db_path, hanging_url):
    config = write_config(tmp_path / "sources.yaml", farm, extra={"hang": hanging_url}, sites=())
    proc = start_scheduler(tmp_path, "--config", str(config), "--db", str(db_path), "--grace", "2")
    wait_for("the crawl to start", lambda: [r for r in runs(db_path) if r["status"] == "running"
                                            and r["pid"] != proc.pid], proc)
    assert stop(proc) == 0
    (row,) = runs(db_path)
    assert row["status"] == "interrupted"
    assert row["finished_at"]


def test_missed_runs_are_coalesced_into_one_run_at_start_up(farm, tmp_path, db_path):
    config = write_config(tmp_path / "sources.yaml", farm, schedule="0 6 * * *")
    assert scheduler("--once", "--config", str(config), "--db", str(db_path)).returncode == 0
    # replica-news last ran three days ago (the machine was off); replica-cms ran just now.
    with_ids = {r["source_id"]: r["id"] for r in runs(db_path)}
    import sqlite_utils

    db = sqlite_utils.Database(db_path)
    db.execute("update runs set started_at = '2020-01-01T00:00:00+00:00', finished_at = '2020-01-01T00:01:00+00:00'"
               " where id = ?", [with_ids["replica-news"]])
    db.conn.commit()
    db.close()
    proc = start_scheduler(tmp_path, "--config", str(config), "--db", str(db_path))
    wait_for("the missed run", lambda: [r for r in runs(db_path, "replica-news")[1:] if r["status"] == "ok"], proc)
    time.sleep(3)  # room for any wrong extra run to show up
    assert stop(proc) == 0
    assert len(runs(db_path, "replica-news")) == 2, "missed slots run once, not once per slot"
    assert len(runs(db_path, "replica-cms")) == 1, "a source that is not due waits for its next slot"


def test_invalid_config_edit_keeps_the_old_config_and_a_valid_one_is_applied(farm, tmp_path, db_path):
    config = write_config(tmp_path / "sources.yaml", farm, sites=("news",))
    good = config.read_text(encoding="utf-8")
    proc = start_scheduler(tmp_path, "--config", str(config), "--db", str(db_path), "--reload-interval", "0.5",
                           "--jitter", "0")
    wait_for("a first run", lambda: [r for r in runs(db_path) if r["status"] == "ok"], proc)
    log = db_path.parent / "logs" / "scheduler.log"

    config.write_text(good.replace("every 2s", "every two seconds"), encoding="utf-8")
    wait_for("the rejection", lambda: "config change rejected" in log.read_text(encoding="utf-8"), proc)
    count = len(runs(db_path))
    wait_for("runs to go on under the old config", lambda: len(
        [r for r in runs(db_path)[count:] if r["status"] == "ok"]) >= 2, proc)

    write_config(config, farm, sites=("news", "cms"))
    wait_for("the new source to be crawled", lambda: [r for r in runs(db_path, "replica-cms") if r["status"] == "ok"],
             proc)
    os.kill(proc.pid, signal.SIGHUP)  # a forced re-read of an unchanged file changes nothing
    assert stop(proc) == 0
    text = log.read_text(encoding="utf-8")
    assert "field 'schedule'" in text and "source replica-cms: added to the schedule" in text
    assert not [r for r in runs(db_path) if r["status"] == "running"]


def test_demo_crawls_the_replicas_twice_and_shows_the_changes(tmp_path):
    db = tmp_path / "demo.db"
    done = scheduler("--demo", "--db", str(db), timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "edited (a new revision): 4" in done.stdout
    assert "withdrawn (now gone): 4" in done.stdout
    assert "new in the second crawl: 4" in done.stdout
    assert f"--db {db} serve" in done.stdout
    assert len(rows(db, "select * from runs where status = 'ok'")) == 8


def test_demo_never_replaces_an_archive_that_is_not_a_demo(tmp_path):
    import sqlite_utils

    db = tmp_path / "archive.db"
    sqlite_utils.Database(db)["documents"].insert({"url": "http://www.szpsq.gov.cn/a.html"})
    done = scheduler("--demo", "--db", str(db))
    assert done.returncode == 2
    assert "not from a demo" in done.stderr and done.stderr.count("\n") == 1
    assert rows(db, "select url from documents") == [{"url": "http://www.szpsq.gov.cn/a.html"}]


# --- the job settings, in process (APScheduler's own behaviour, real crawls in child processes) ------------

def _job_events(service) -> tuple[list, object]:
    """Every executed / missed / failed job event of the service's scheduler, and a condition to wait on."""
    import threading

    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED

    events, changed = [], threading.Condition()

    def listen(event) -> None:
        with changed:
            events.append(event)
            changed.notify_all()

    service.scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_ERROR)
    return events, changed


def _wait_events(events: list, changed, count: int) -> None:
    with changed:
        assert changed.wait_for(lambda: len(events) >= count, timeout=DEADLINE), f"only {len(events)} job events"


@pytest.mark.crawl(15)
def test_missed_slots_of_a_job_run_once_however_late(farm, tmp_path, db_path):
    """The scheduler finds a job whose slots passed days ago (the machine slept): the crawl runs once —
    not once per missed slot (coalesce=True), and not zero times because it is late
    (misfire_grace_time=None; APScheduler's default of 1 s would drop every slot)."""
    from datetime import UTC, datetime, timedelta

    from archive import store
    from archive.db import connect
    from crawler.service import SchedulerService

    config = write_config(tmp_path / "sources.yaml", farm, schedule="0 6 * * *", sites=("news",))
    db = connect(db_path)
    store.upsert_source(db, {"id": "replica-news", "name": "replica-news"})
    store.finish_run(db, store.start_run(db, "replica-news"), status="ok")  # crawled just now: not due
    db.close()
    service = SchedulerService(config, db_path, jitter=0, log_dir=tmp_path / "logs")
    events, changed = _job_events(service)
    service.start()
    try:
        assert len(runs(db_path)) == 1, "nothing is due at start-up"
        job = service.scheduler.get_job("replica-news")
        slept_from = datetime.now(UTC) - timedelta(days=3, minutes=1)
        first_slot = job.trigger.get_next_fire_time(None, slept_from)
        assert len(job._get_run_times(datetime.now(UTC))) == 0
        service.scheduler.modify_job("replica-news", next_run_time=first_slot)
        _wait_events(events, changed, 1)
    finally:
        service.stop()
        service.shutdown()
    from apscheduler.events import EVENT_JOB_EXECUTED

    assert [e.code for e in events] == [EVENT_JOB_EXECUTED], "the late job must run, not be missed"
    assert [r["status"] for r in runs(db_path)] == ["ok", "ok"], "three missed slots make one run"


@pytest.mark.crawl(16)
def test_a_job_that_waits_for_a_free_crawl_slot_still_runs(farm, tmp_path, db_path, hanging_url):
    """One crawl at a time, two sources due together, each crawl taking its 3 s time limit: the second
    job starts seconds after its time and must still run (misfire_grace_time=None)."""
    from crawler.service import SchedulerService

    config = write_config(tmp_path / "sources.yaml", farm, schedule="0 6 * * *",
                          extra={"hang1": hanging_url, "hang2": hanging_url}, sites=())
    service = SchedulerService(config, db_path, max_concurrent=1, time_limit=3, grace=1, jitter=0,
                               log_dir=tmp_path / "logs")
    events, changed = _job_events(service)
    service.start()  # both never ran: both due now
    try:
        _wait_events(events, changed, 2)
    finally:
        service.stop()
        service.shutdown()
    from apscheduler.events import EVENT_JOB_EXECUTED

    assert sorted(e.job_id for e in events) == ["hang1", "hang2"]
    assert all(e.code == EVENT_JOB_EXECUTED for e in events), "a late job was dropped as missed"
    done = runs(db_path)
    assert sorted(r["source_id"] for r in done) == ["hang1", "hang2"]
    assert all(r["status"] == "failed" and "time limit of 3s" in r["message"] for r in done)
    assert done[0]["finished_at"] <= done[1]["started_at"], "one crawl at a time"
