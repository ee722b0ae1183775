"""Events (archive.events): written by the real store in the same transaction as the change, and back-filled
identically for an archive made before the table existed."""
from __future__ import annotations

import sqlite3

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from archive import store
from archive.db import connect
from tests.reading_fixtures import SOURCE, Page, days_ago, make_archive, write

URL = "http://example.gov.cn/report/1.html"


def events(path, columns="document_id, kind, at, revision_id") -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"select {columns} from events order by at, id").fetchall()
    finally:
        conn.close()


def test_store_records_new_changed_gone_returned(tmp_path):
    path = tmp_path / "archive.db"
    db = connect(path)
    store.upsert_source(db, SOURCE)
    run = store.start_run(db, "ps")
    assert write(db, URL, Page("报告", "第一版。"), days_ago(5), run) == "new"
    assert write(db, URL, Page("报告", "第一版。"), days_ago(4), run) == "unchanged"
    assert write(db, URL, Page("报告", "第二版。"), days_ago(3), run) == "changed"
    store.record_failure(db, run, url=URL, outcome="not-found", http_status=404, fetched_at=days_ago(2.5))
    store.record_failure(db, run, url=URL, outcome="not-found", http_status=404, fetched_at=days_ago(2.4))
    store.record_failure(db, run, url=URL, outcome="error", http_status=500, fetched_at=days_ago(2.3))
    assert write(db, URL, Page("报告", "第二版。"), days_ago(2), run) == "unchanged"  # back, same text
    store.record_failure(db, run, url=URL, outcome="not-found", http_status=404, fetched_at=days_ago(1.5))
    assert write(db, URL, Page("报告", "第三版。"), days_ago(1), run) == "changed"  # back, new text
    db.conn.close()
    kinds = [(kind, rev is not None) for _, kind, _, rev in events(path)]
    assert kinds == [("new", True), ("changed", True), ("gone", False), ("returned", False), ("gone", False),
                     ("returned", False), ("changed", True)]
    rows = events(path, "run_id, source_id, notified_at")
    assert all(r == (run, "ps", None) for r in rows)


def test_a_failed_write_records_no_event(tmp_path):
    path = tmp_path / "archive.db"
    db = connect(path)
    store.upsert_source(db, SOURCE)
    write(db, URL, Page("报告", "第一版。"), days_ago(2))
    db.execute("CREATE TRIGGER no_revisions BEFORE INSERT ON revisions BEGIN SELECT RAISE(ABORT, 'disk'); END")
    try:
        write(db, URL, Page("报告", "第二版。"), days_ago(1))
    except sqlite3.IntegrityError:
        pass
    db.conn.close()
    assert [e[1] for e in events(path)] == ["new"]


def _drop_events(path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("DROP TABLE events")
    conn.commit()
    conn.close()


def test_backfill_of_an_old_archive_matches_what_the_store_records(tmp_path):
    path = tmp_path / "archive.db"
    make_archive(path)
    recorded = events(path)
    _drop_events(path)
    connect(path).conn.close()  # opening an archive without the table back-fills it
    assert events(path) == recorded
    assert all(n for (n,) in sqlite3.connect(path).execute("select notified_at from events"))  # not news
    connect(path).conn.close()  # and only once
    assert events(path) == recorded


# one document's life: each step is what one fetch answered
STEPS = st.lists(st.sampled_from(["same", "edit", "gone", "error"]), min_size=1, max_size=12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
@example(steps=["gone", "edit"])
def test_backfill_equals_live_recording_for_any_history(tmp_path_factory, steps):
    path = tmp_path_factory.mktemp("ev") / "archive.db"
    db = connect(path)
    store.upsert_source(db, SOURCE)
    version = 0
    write(db, URL, Page("报告", f"第{version}版。"), days_ago(100))
    for i, step in enumerate(steps):
        at = days_ago(99 - i)
        if step == "edit":
            version += 1
        if step in ("same", "edit"):
            write(db, URL, Page("报告", f"第{version}版。"), at)
        else:
            store.record_failure(db, None, url=URL, outcome="not-found" if step == "gone" else "error",
                                 http_status=404 if step == "gone" else 500, fetched_at=at)
    status = db.execute("select status from documents").fetchone()[0]
    db.conn.close()
    recorded = events(path)
    kinds = [e[1] for e in recorded]
    # gone and returned alternate, starting with gone; the last one matches the document's status
    turns = [k for k in kinds if k in ("gone", "returned")]
    assert all(a != b for a, b in zip(turns, turns[1:], strict=False)) and (not turns or turns[0] == "gone")
    assert status == ("gone" if turns and turns[-1] == "gone" else "live")
    assert kinds.count("new") == 1 and kinds.count("changed") == steps.count("edit")
    _drop_events(path)
    connect(path).conn.close()
    assert events(path) == recorded


CJK = st.text(st.sampled_from("全区共办理行政复议案件比上年增长，。"), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(prefix=CJK, suffix=CJK, old=st.integers(0, 10**6), new=st.integers(0, 10**6))
def test_the_timeline_names_a_changed_figure_whole(prefix, suffix, old, new):
    from archive.diff import diff_texts
    from archive.history import figures_changed

    figures = figures_changed(diff_texts(f"{prefix}{old}{suffix}", f"{prefix}{new}{suffix}"))
    assert figures == ([] if old == new else [f"{old} → {new}"])


def test_attachment_versions_are_news_of_their_document_except_a_new_documents_first_ones(tmp_path):
    from archive import attachments, filetext
    from archive.store import transaction

    db = connect(tmp_path / "archive.db")
    store.upsert_source(db, SOURCE)
    url = "http://example.gov.cn/r.html"
    first = Page("报告", "正文。", attachments=[("http://example.gov.cn/f/a.txt", "附件一")])
    write(db, url, first, days_ago(3))
    doc = db.execute("select id from documents").fetchone()[0]

    def fetched(body: str, link: str = "http://example.gov.cn/f/a.txt") -> attachments.Fetched:
        data = body.encode()
        extracted = filetext.extract(data)
        with transaction(db) as conn:
            digest = attachments.save_file(conn, data, extracted.mime)
        return attachments.Fetched(link, digest, len(data), extracted)

    def kinds() -> list[tuple]:
        return [(r[0], r[1]) for r in db.execute("select kind, attachment_revision_id from events order by id")]

    [att] = attachments.to_fetch(db, doc)
    assert attachments.record(db, att["id"], fetched("行政复议案件128件"), run_id=7) == "new"
    assert kinds() == [("new", None)]  # part of the new document's news
    assert attachments.record(db, att["id"], fetched("行政复议案件128件")) == "unchanged"
    assert attachments.record(db, att["id"], fetched("行政复议案件131件"), run_id=8) == "new"
    newest = db.execute("select max(id) from attachment_revisions").fetchone()[0]
    assert kinds() == [("new", None), ("attachment", newest)]
    assert db.execute("select run_id, source_id from events where kind = 'attachment'").fetchone() == (8, "ps")
    # a revision linking another file: the page changed, and the new file's first version is news too
    linked = [*first.attachments, ("http://example.gov.cn/f/b.txt", "附件二")]
    write(db, url, Page("报告", "正文有改动。", attachments=linked), days_ago(1))
    added = next(a for a in attachments.to_fetch(db, doc) if a["url"].endswith("b.txt"))
    assert attachments.record(db, added["id"], fetched("附表", added["url"])) == "new"
    assert [k for k, _ in kinds()] == ["new", "attachment", "changed", "attachment"]
    # a re-extraction of the stored files is not an event
    with transaction(db) as conn:
        conn.execute("update attachment_revisions set text = 'old reader'")
    assert attachments.reextract_files(db)["changed"] == 2
    assert len(kinds()) == 4
