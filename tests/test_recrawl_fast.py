"""What keeps an unchanged recrawl cheap without changing what it does (issue #16): a setting's Scrapy default
read without parsing Scrapy's whole settings file; the 304s of a batch written with a few statements, exactly
as one record_not_modified per answer writes them; the stage's answers handed back in order through plain
queues; a crawl that does not parse schedules; a stop that keeps the 304s received. Real HTTP to replica
sites on 127.0.0.1, the real crawl, real SQLite."""
from __future__ import annotations

import ast
import importlib.util
import shutil
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive import store
from archive.db import connect
from archive.groupcommit import GroupCommit
from crawler import run
from crawler.sources import ConfigError, load_config
from tests.crawling import crawl, rows
from tests.sites import ReplicaFarm
from tests.test_conditional import serve_with_validators

SOURCE = "replica-cms"


def _scrapy_defaults() -> dict[str, object]:
    """Every top-level literal assignment of Scrapy's default_settings.py, read by parsing the whole file."""
    spec = importlib.util.find_spec("scrapy")
    path = Path(next(iter(spec.submodule_search_locations))) / "settings" / "default_settings.py"
    out: dict[str, object] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name) and target.id not in out:
                    try:
                        out[target.id] = ast.literal_eval(node.value)
                    except ValueError:
                        out[target.id] = None
    return out


def test_scrapy_default_reads_each_setting_as_a_parse_of_the_whole_file_does():
    defaults = _scrapy_defaults()
    assert len(defaults) > 100 and defaults["LOGSTATS_INTERVAL"] == 60.0  # multi-line dicts among them
    assert any(isinstance(v, dict) and len(v) > 3 for v in defaults.values())
    for name, value in defaults.items():
        assert run.scrapy_default(name) == value, name
    for unknown in ("NO_SUCH_SETTING", "LOGSTATS", "DOWNLOAD_DELAY_", "download_delay"):
        assert run.scrapy_default(unknown) is None


# --- store.record_not_modified_many: exactly the rows of one record_not_modified per answer -------------

HASHES = ("h1", "h2")
URLS = tuple(f"http://127.0.0.1/doc{i}.html" for i in range(5))  # the last one is never a document
OUTCOMES = ("new", "changed", "unchanged", "error", "blocked", "suspect", "gone")

document_states = st.lists(st.tuples(
    st.sampled_from(("live", "gone")),                       # the document's status
    st.sampled_from(HASHES),                                 # its latest revision's hash
    st.lists(st.tuples(st.sampled_from(OUTCOMES), st.sampled_from((*HASHES, None)),
                       st.sampled_from(("e1", "e2", None)), st.sampled_from(("m1", None))), max_size=4),  # fetches
    st.booleans()),                                          # linked to the run's source already
    min_size=4, max_size=4)
answer_lists = st.lists(st.tuples(st.sampled_from(URLS), st.sampled_from(("x1", None)),
                                  st.sampled_from(("y1", None))), max_size=12)


@pytest.fixture(scope="module")
def empty_archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("archive") / "empty.db"
    connect(path).close()
    return path


def _archive(template: Path, path: Path, documents, with_run: bool) -> int | None:
    shutil.copy(template, path)
    db = connect(path)
    conn = db.conn
    conn.execute("INSERT INTO sources (id, name, district, listing, active) VALUES ('s1', 'one', 'd', 'html', 1)")
    conn.execute("INSERT INTO sources (id, name, district, listing, active) VALUES ('s2', 'two', 'd', 'html', 1)")
    conn.execute("INSERT INTO runs (id, source_id, started_at, status) VALUES (1, 's2', '2026-01-01', 'ok')")
    run_id = None
    if with_run:
        conn.execute("INSERT INTO runs (id, source_id, started_at, status) VALUES (2, 's1', '2026-01-02', 'running')")
        run_id = 2
    for n, (status, digest, fetches, linked) in enumerate(documents):
        url = URLS[n]
        doc = conn.execute("INSERT INTO documents (url, source_id, status, first_seen) VALUES (?, 's2', ?, '2026')",
                           (url, status)).lastrowid
        rev = conn.execute("INSERT INTO revisions (document_id, fetched_at, content_hash, text) "
                           "VALUES (?, '2026', ?, 'text')", (doc, digest)).lastrowid
        conn.execute("UPDATE documents SET latest_revision_id = ? WHERE id = ?", (rev, doc))
        for outcome, content_hash, etag, modified in fetches:
            conn.execute("INSERT INTO fetches (run_id, url, document_id, http_status, outcome, content_hash, "
                         "fetched_at, etag, last_modified) VALUES (1, ?, ?, 200, ?, ?, '2026', ?, ?)",
                         (url, doc, outcome, content_hash, etag, modified))
        if linked:
            conn.execute("INSERT INTO document_sources VALUES (?, 's1', '2025', '2025')", (doc,))
    db.close()
    return run_id


def _dump(path: Path) -> dict[str, list]:
    conn = sqlite3.connect(path)
    try:
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()
                for t in ("documents", "fetches", "events", "document_sources", "revisions", "runs")}
    finally:
        conn.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents=document_states, answers=answer_lists, with_run=st.booleans(), grouped=st.booleans())
def test_record_not_modified_many_writes_what_one_call_per_answer_writes(tmp_path, empty_archive, documents,
                                                                        answers, with_run, grouped):
    timed = [(url, etag, modified, f"2026-02-01T00:00:{i:02d}") for i, (url, etag, modified) in enumerate(answers)]
    one, many = tmp_path / "one.db", tmp_path / "many.db"
    for path in (one, many):
        path.unlink(missing_ok=True)
    run_id = _archive(empty_archive, one, documents, with_run)
    _archive(empty_archive, many, documents, with_run)
    db = connect(one)
    expected = [store.record_not_modified(db, run_id, url=url, etag=etag, last_modified=modified, fetched_at=at)
                for url, etag, modified, at in timed]
    db.close()
    db = connect(many)
    if grouped:  # inside a group commit, as the revalidation stage writes
        group = GroupCommit(db)
        with group.page():
            got = store.record_not_modified_many(db, run_id, timed)
        group.commit()
    else:
        got = store.record_not_modified_many(db, run_id, timed)
    db.close()
    assert got == expected
    assert _dump(many) == _dump(one)


# --- the stage's requests and a crawl's start-up, against replica sites -------------------------------

def test_answers_come_back_in_the_order_asked_and_a_bug_in_a_thread_is_raised_not_waited_for(tmp_path):
    """The stage's threads take requests in turn and hand answers back in ask order; an exception that is
    no network failure (a bug) is raised in the stage's thread, as a future's result would raise it — never
    a stage waiting forever for an answer that will not come."""
    from crawler.politehttp import Answer, crawl_settings
    from crawler.revalidate import Stage, _Answers, _Writes
    from crawler.sources import load_config

    with ReplicaFarm(sites=("cms",)) as farm:
        site = farm.sites["cms"]
        source = load_config(farm.sources_yaml(tmp_path / "sources.yaml")).get(SOURCE)
        stage = Stage(source, crawl_settings(source.settings, {}), str(tmp_path / "a.db"), None)
        db = connect(tmp_path / "a.db")
        try:
            paths = [site.column + "index.html", "/robots.txt", "/no-such-page.html"] * 4
            asks = [(site.url(p), None, None) for p in paths]
            answers = _Answers(stage, [*asks, (None, None, None), asks[0]], 3)
            writes = _Writes(db, 1000, 1.0)
            got = [answers.get(i, writes) for i in range(len(asks))]
            assert all(isinstance(a, Answer) for a in got)
            assert [a.url for a in got] == [u for u, _, _ in asks]
            assert [a.status for a in got] == [200, 200, 404] * 4
            with pytest.raises(TypeError):  # a URL of None: not an answer, not a network failure
                answers.get(len(asks), writes)
            stage.stop.set()
            answers.close()
        finally:
            stage.fetcher.close()
            db.close()


def test_a_crawl_does_not_parse_schedules_the_scheduler_does(tmp_path):
    """The crawl of one source — its revalidation stage and its Scrapy spider — does not read schedules
    (APScheduler is not even imported for it); a schedule that cannot be parsed is still refused by
    load_config as the scheduler calls it."""
    with ReplicaFarm(sites=("cms",)) as farm:
        serve_with_validators(farm, "cms")
        good = farm.sources_yaml(tmp_path / "sources.yaml")
        db = tmp_path / "archive.db"
        done = crawl(good, db, SOURCE)
        assert done.returncode == 0, done.stderr[-2000:]
        bad = farm.sources_yaml(tmp_path / "bad.yaml", defaults={"schedule": "61 * * * *"})
        with pytest.raises(ConfigError, match="field 'schedule'"):
            load_config(bad)
        assert load_config(bad, schedules=False).get(SOURCE).schedule == "61 * * * *"
        done = crawl(bad, db, SOURCE, extra=["--log-level", "INFO"])
        assert done.returncode == 0, done.stderr[-2000:]
        # the stage asked the documents, and Scrapy (a document links attachments) read the same config
        assert "revalidated" in done.stderr and "Spider closed (finished)" in done.stderr
        [run] = rows(db, "select status, unchanged from runs where id = 2")
        assert run["status"] == "ok" and run["unchanged"] == len(farm.expected(1))


def test_sigterm_keeps_the_304s_written_before_it(tmp_path):
    """The 304s are written in batches while the stage waits on a slow answer; a stop (SIGTERM) then keeps
    every one of them (the run `interrupted`, its counts theirs) and the answer it was waiting for is not
    recorded."""
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time

    from tests.crawling import ROOT
    from tests.test_redteam_recrawl import _gate

    with ReplicaFarm(sites=("cms",)) as farm:
        serve_with_validators(farm, "cms")
        config = farm.sources_yaml(tmp_path / "sources.yaml", defaults={"settings": {
            "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "CONCURRENT_REQUESTS_PER_DOMAIN": 1,
            "ZWGK_ATTACHMENTS": False}})
        db = tmp_path / "archive.db"
        done = crawl(config, db, SOURCE)
        assert done.returncode == 0, done.stderr[-2000:]
        site = farm.sites["cms"]
        [last] = rows(db, "select url from documents order by id desc limit 1")
        others = rows(db, "select count(*) n from documents")[0]["n"] - 1
        entered, release = _gate(farm, last["url"].removeprefix(site.base_url))
        crawling = subprocess.Popen([sys.executable, "-m", "crawler.run", "--source", SOURCE, "--config",
                                     str(config), "--db", str(db), "--log-level", "INFO"], cwd=ROOT,
                                    env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        try:
            assert entered.wait(60)  # every other document answered 304, one request at a time
            conn = sqlite3.connect(db, timeout=20)
            try:
                for _ in range(600):  # until the stage has written and committed them
                    written = conn.execute("select count(*) from fetches where run_id = 2").fetchone()[0]
                    if written == others:
                        break
                    time.sleep(0.1)
            finally:
                conn.close()
            os.kill(crawling.pid, signal.SIGTERM)
        finally:
            release.set()
        out, err = crawling.communicate(timeout=120)
        assert crawling.returncode == 3, err[-2000:]
        [run] = rows(db, "select * from runs where id = 2")
        assert run["status"] == "interrupted" and run["finished_at"] and run["unchanged"] == others, run
        fetched = rows(db, "select url, outcome, http_status from fetches where run_id = 2")
        assert len(fetched) == others and {(f["outcome"], f["http_status"]) for f in fetched} == {("unchanged", 304)}
        assert last["url"] not in {f["url"] for f in fetched}


def crawl_stamped(farm: ReplicaFarm, tmp: Path) -> tuple[Path, Path]:
    """The cms replica (304s served) crawled once into a new archive, which connect() stamps; its sources.yaml
    and archive path."""
    from archive.db import schema_stamp

    serve_with_validators(farm, "cms")
    config = farm.sources_yaml(tmp / "sources.yaml", defaults={"settings": {
        "DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ZWGK_ATTACHMENTS": False}})
    db = tmp / "archive.db"
    done = crawl(config, db, SOURCE)
    assert done.returncode == 0, done.stderr[-2000:]
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_stamp()
    conn.close()
    return config, db


def recrawl_importing(config: Path, db: Path) -> tuple[str, set[str]]:
    """A crawl of SOURCE under `python -X importtime`: its log and the modules it imported."""
    import os
    import subprocess
    import sys

    from tests.crawling import ROOT

    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "crawler.run", "--source", SOURCE,
                          "--config", str(config), "--db", str(db), "--log-level", "INFO"], cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    return out.stderr, imported


def test_an_unchanged_recrawl_runs_on_plain_sqlite3_and_a_stale_stamp_goes_through_connect(tmp_path):
    """An archive stamped current by connect() is recrawled without importing sqlite-utils (a tenth of an
    unchanged recrawl's time: click, pluggy, dateutil), with the same rows written; one whose stamp is not
    this version's (an older version wrote it) goes through connect(), which mends what it lacks (here an
    index) and stamps it again. (A stamped archive that lost part of its schema: test_redteam_stamp.py.)"""
    from archive.db import schema_stamp

    with ReplicaFarm(sites=("cms",)) as farm:
        config, db = crawl_stamped(farm, tmp_path)
        log, imported = recrawl_importing(config, db)
        assert "finished without Scrapy" in log
        assert "sqlite_utils" not in imported and "scrapy" not in imported, sorted(imported)[:50]
        # a stamp from elsewhere, and an index gone: connect() mends both during the next recrawl
        conn = sqlite3.connect(db)
        conn.execute("DROP INDEX idx_fetches_run_id")
        conn.execute("PRAGMA user_version = 7")
        conn.close()
        log, imported = recrawl_importing(config, db)
        assert "finished without Scrapy" in log and "sqlite_utils" in imported
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == schema_stamp()
        assert conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'idx_fetches_run_id'").fetchone()
        conn.close()
        reports = len(farm.expected(1))
    runs = rows(db, "SELECT status, unchanged, errors FROM runs ORDER BY id")
    assert [r["status"] for r in runs] == ["ok", "ok", "ok"]
    assert runs[1]["unchanged"] == runs[2]["unchanged"] == reports and not runs[1]["errors"]
    # the same rows as connect() writes: every 304 of the plain-sqlite3 recrawl recorded as the later one's
    fetched = rows(db, "SELECT run_id, url, outcome, http_status, content_hash, etag, last_modified FROM fetches "
                       "WHERE run_id IN (2, 3) ORDER BY url, run_id")
    pairs = [fetched[i:i + 2] for i in range(0, len(fetched), 2)]
    assert pairs and all({**a, "run_id": 0} == {**b, "run_id": 0} for a, b in pairs)


def test_a_plain_sqlite3_handle_has_the_settings_of_connect_and_only_for_a_current_archive(tmp_path):
    """connect_current gives a stamped WAL archive the connection settings connect() gives it (busy timeout,
    synchronous, foreign keys) and reads it the same way; a new file, an archive not in WAL mode, a stale
    stamp or a file that is not SQLite all go through connect() (which creates, mends or refuses them)."""
    from archive.db import BUSY_TIMEOUT_MS, Handle, connect_current, schema_stamp

    def settings(db) -> tuple:
        conn = db.conn
        return tuple(conn.execute(f"PRAGMA {p}").fetchone()[0]
                     for p in ("busy_timeout", "synchronous", "foreign_keys", "journal_mode", "user_version"))

    path = tmp_path / "archive.db"
    first = connect_current(path)  # a new file: created by connect()
    assert not isinstance(first, Handle)
    expected = settings(first)
    assert expected == (BUSY_TIMEOUT_MS, 1, 1, "wal", schema_stamp())
    first.execute("INSERT INTO sources (id, name) VALUES ('s', '南山')")
    first.conn.close()
    handle = connect_current(path)
    assert isinstance(handle, Handle) and settings(handle) == expected
    assert list(handle.query("SELECT id, name FROM sources")) == [{"id": "s", "name": "南山"}]
    assert "documents" in handle.table_names() and "revisions_fts" in handle.table_names()
    handle.close()
    for spoil in ("PRAGMA user_version = 3", "PRAGMA journal_mode = DELETE"):
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute(spoil)
        conn.close()
        again = connect_current(path)
        assert not isinstance(again, Handle), spoil
        assert settings(again) == expected  # connect() put it right
        again.conn.close()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not sqlite at all " * 100)
    with pytest.raises(sqlite3.DatabaseError):
        connect_current(junk)
