"""`python -m archive status` tells the truth about real crawls of the replica sites: last run and counts,
last success, failures in a row, documents live/gone, and overdue sources (exit 1)."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils
import yaml

from tests.crawling import ROOT, crawl, rows
from tests.sites import ReplicaFarm
from tests.sites.faults import FaultFarm


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def status(db: Path, *extra: str) -> subprocess.CompletedProcess:
    return run("-m", "archive", "status", "--db", str(db), *extra)


def line_of(output: str, source: str) -> list[str]:
    return next(line for line in output.splitlines() if line.startswith(source + " ")).split()


@pytest.fixture
def archive(tmp_path: Path, db_path: Path):
    """news and a site that is down, crawled by `scheduler.py --once` (the down one twice)."""
    with ReplicaFarm(sites=("news",)) as farm:
        config = farm.sources_yaml(tmp_path / "sources.yaml")  # schedule: every 6h
        data = yaml.safe_load(config.read_text(encoding="utf-8"))
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        data["sources"].append({**data["sources"][0], "id": "down",
                                "start_urls": [f"http://127.0.0.1:{port}/index.html"],
                                "settings": {"RETRY_ENABLED": False}})  # fail fast, no retry back-off
        config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
        for args in (["--once"], ["--once", "--source", "down"]):
            run("scheduler.py", *args, "--config", str(config), "--db", str(db_path))
        yield farm, config, db_path


def test_status_reports_runs_failures_and_documents(archive):
    farm, config, db = archive
    done = status(db)
    assert done.returncode == 0, done.stdout + done.stderr
    news_runs = rows(db, "select * from runs where source_id = 'replica-news' order by id")
    expected_live = len([e for e in farm.expected(1) if e.site == "news"])
    news = line_of(done.stdout, "replica-news")
    # source, time (UTC), status, new, chg, same, gone, err, blk, success (UTC), fails, live, gone
    assert news[2] == "ok" and int(news[3]) == news_runs[-1]["new_documents"] == expected_live
    assert news[10:13] == ["0", str(expected_live), "0"]
    assert news[1].endswith("Z") and news[9].endswith("Z") and news[1][:10] == news_runs[-1]["started_at"][:10]
    down = line_of(done.stdout, "down")
    assert down[2] == "failed" and down[9] == "-" and down[10] == "2"  # never succeeded, 2 failures in a row
    assert "none overdue" in done.stdout

    farm.set_state(2)  # one report edited, one withdrawn, one added
    run("scheduler.py", "--once", "--source", "replica-news", "--config", str(config), "--db", str(db))
    news = line_of(status(db).stdout, "replica-news")
    assert news[3:7] == ["1", "1", str(expected_live - 2), "1"]  # new, changed, unchanged, gone
    assert news[11:13] == [str(len([e for e in farm.expected(2) if e.site == "news"])), "1"]


def test_a_source_without_success_in_twice_its_period_is_overdue(archive):
    _, _, db = archive
    # Thirteen hours pass without a run (the schedule is every 6h).
    past = (datetime.now(UTC) - timedelta(hours=13)).isoformat()
    database = sqlite_utils.Database(db)
    database.execute("update runs set started_at = ?, finished_at = ?", [past, past])
    database.conn.commit()
    database.close()
    done = status(db)
    assert done.returncode == 1
    assert "OVERDUE (last success 13h ago, schedule every 6h)" in done.stdout
    assert "OVERDUE (never succeeded; first run 13h ago" in done.stdout
    assert "2 overdue: down, replica-news" in done.stdout
    as_json = {s["source_id"]: s for s in json.loads(run("-m", "archive", "--db", str(db), "status", "--json").stdout)}
    assert as_json["replica-news"]["overdue"] and as_json["down"]["consecutive_failures"] == 2


def test_status_of_a_missing_archive_is_one_line(tmp_path):
    done = status(tmp_path / "nope.db")
    assert done.returncode != 0
    assert done.stderr.strip().count("\n") == 0 and "nope.db" in done.stderr
    assert not (tmp_path / "nope.db").exists()


def test_a_source_removed_from_the_config_is_not_overdue(archive):
    """A retired source keeps its history but no longer raises an alarm."""
    from archive import store
    from archive.db import connect

    _, _, db = archive
    past = (datetime.now(UTC) - timedelta(hours=13)).isoformat()
    database = connect(db)
    database.execute("update runs set started_at = ?, finished_at = ?", [past, past])
    assert store.retire_sources(database, ["replica-news"]) == ["down"]
    database.close()
    done = status(db)
    assert "1 overdue: replica-news" in done.stdout
    assert rows(db, "select count(*) n from runs where source_id = 'down'")[0]["n"] == 2


def test_a_source_whose_every_page_fails_is_failed_then_failing(tmp_path):
    """The listing loads, every report fails: each run is `failed` saying why (not `partial`), and after
    three of them `status` marks the source FAILING and exits 1 (`--failures N` moves the threshold)."""
    db = tmp_path / "archive.db"
    with FaultFarm(("dead",)) as farm:
        site = farm.sites["dead"]
        for n in range(3):
            site.add_article(f"a{n}")
            site.faults[f"a{n}"] = "empty"
        config = farm.sources_yaml(tmp_path / "sources.yaml")
        for attempt in range(3):
            done = crawl(config, db, "fault-dead")
            assert done.returncode == 3, done.stderr[-2000:]  # crawler.run: 3 = failed
            if attempt == 1:
                two = status(db)
                assert two.returncode == 0 and "FAILING" not in two.stdout and "none failing" in two.stdout
    runs = rows(db, "select * from runs order by id")
    assert [r["status"] for r in runs] == ["failed"] * 3
    assert all(r["pages_fetched"] > r["errors"] == 3 for r in runs)  # the listing was fetched
    assert runs[0]["message"].startswith("no page could be archived (3 errors, 0 blocked); first: error ")
    done = status(db)
    assert done.returncode == 1, done.stdout
    line = next(x for x in done.stdout.splitlines() if x.startswith("fault-dead "))
    assert "FAILING (3 failed runs in a row; last: no page could be archived" in line and "OVERDUE" not in line
    assert "1 failing: fault-dead" in done.stdout
    assert status(db, "--failures", "4").returncode == 0
    data = json.loads(status(db, "--json").stdout)
    (dead,) = data
    assert dead["failing"] is True and dead["consecutive_failures"] == 3 and dead["overdue"] is False
    assert dead["last_run"]["started_at"].endswith("Z") and dead["last_run"]["finished_at"].endswith("Z")
    assert json.loads(status(db, "--json", "--failures", "4").stdout)[0]["failing"] is False


def test_a_running_row_whose_crawl_process_is_gone_is_shown_stale(tmp_path, db_path):
    """A run left `running` by a crawl that died with its scheduler (kill -9, OOM) is shown `stale` until a
    scheduler starts again and marks it abandoned; a run whose crawl is alive stays `running`."""
    from archive import store
    from archive.db import connect

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    alive = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "crawler"])
    try:
        db = connect(db_path)
        for source_id, pid in (("dead", dead.pid), ("alive", alive.pid)):
            store.upsert_source(db, {"id": source_id, "name": source_id, "schedule": "every 6h",
                                     "timezone": "Asia/Shanghai", "config": "{}"})
            store.start_run(db, source_id, pid)
        db.close()
        result = status(db_path, "--json")
        by_id = {s["source_id"]: s["last_run"] for s in json.loads(result.stdout)}
        assert by_id["dead"]["stale"] is True and by_id["alive"]["stale"] is False
        table = status(db_path).stdout
        assert line_of(table, "dead")[2] == "stale" and line_of(table, "alive")[2] == "running"
    finally:
        alive.kill()
        alive.wait()


def test_a_report_listed_by_two_sources_counts_for_both_and_long_histories_are_read_to_the_last_success(tmp_path):
    """Documents are counted per source through document_sources (a shared report is each source's), and
    the failures in a row stop at the last success however many runs came before it."""
    from archive import store
    from archive.db import connect
    from archive.status import source_statuses
    from tests.reading_fixtures import SOURCE, Page, days_ago

    db = connect(tmp_path / "a.db")
    for sid in ("city", "district"):
        store.upsert_source(db, {**SOURCE, "id": sid, "name": sid})
    shared, own = "http://example.gov.cn/report/2023.html", "http://example.gov.cn/report/own.html"
    for sid, url in (("city", shared), ("district", shared), ("district", own)):
        run = store.start_run(db, sid)
        store.record_page(db, run, source_id=sid, district="坪山区", url=url, http_status=200,
                          page=Page("坪山区2023年法治政府建设年度报告", "正文。"), body=b"<html></html>",
                          encoding="utf-8", headers={}, fetched_at=days_ago(0.1))
        store.finish_run(db, run, pages_fetched=1)
    for status in ("failed", "failed", "ok", "failed"):
        run = store.start_run(db, "district")
        store.finish_run(db, run, status=status, message="listing unreachable" if status == "failed" else None)
    # district: failed, failed, ok, failed after its first run — one failure in a row
    found = {s.source_id: s for s in source_statuses(db)}
    assert (found["city"].live, found["district"].live) == (1, 2)
    assert found["district"].consecutive_failures == 1 and found["city"].consecutive_failures == 0
