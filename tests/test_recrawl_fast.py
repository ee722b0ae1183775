"""What keeps an unchanged recrawl cheap without changing what it does (issue #16): a setting's Scrapy default
read without parsing Scrapy's whole settings file; the 304s of a batch written with a few statements, exactly
as one record_not_modified per answer writes them."""
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
