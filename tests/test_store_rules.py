"""The revision rules of archive/store.py, each guarded by a test that fails when the rule is removed:
what makes a revision distinct (title, date, publisher, text — whitespace aside), suspect bodies, one
IMMEDIATE transaction per page (two writers at once), documents shared by two sources, gone documents that
return. Real SQLite files, real processes, the real spider over HTTP."""
from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import unicodedata

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from archive import store
from archive.db import connect
from crawler.extract import Page
from tests.crawling import ROOT, crawl, rows
from tests.sites import ReplicaFarm, Request, Response
from tests.sites.seeds import SEED_SPECS, seed_body

URL = "http://127.0.0.1/content/post_1.html"
LONG = "\n".join(seed_body("001"))
SHORT = ["本栏目正在维护，请稍后访问。", "页面内容加载中……", "本页暂无内容。", "系统升级中，请稍后再试。"]


def page(**changes) -> Page:
    base = Page(title="深圳市某区2024年法治政府建设年度报告", published="2025-01-10", publisher="某区司法局",
                report_year=2024, text=LONG)
    return dataclasses.replace(base, **changes)


@pytest.fixture
def db(tmp_path):
    database = connect(tmp_path / "archive.db")
    for source in ("s", "t"):
        store.upsert_source(database, {"id": source, "name": "某区", "district": "某区"})
    yield database
    database.close()


def record(db, item: Page, *, run: int | None = None, source: str = "s", url: str = URL, etag: str | None = None):
    return store.record_page(db, run, source_id=source, district="某区", url=url, http_status=200, page=item,
                             body=item.text.encode(), encoding="utf-8", headers={"ETag": etag} if etag else {})


def revisions(db) -> list[dict]:
    return list(db.query("SELECT * FROM revisions ORDER BY id"))


# --- what makes a revision distinct ---------------------------------------------------------------

@pytest.mark.parametrize("change", [
    {"title": "深圳市某区2024年法治政府建设年度报告（修订）"},
    {"published": "2025-01-11"},
    {"publisher": "某区人民政府"},
    {"text": LONG.replace("2024年", "2023年", 1)},
])
def test_a_change_of_title_date_publisher_or_text_adds_one_revision(db, change):
    assert record(db, page()) == "new"
    assert record(db, page()) == "unchanged"
    assert record(db, page(**change)) == "changed"
    assert record(db, page(**change)) == "unchanged"
    latest = revisions(db)[-1]
    assert len(revisions(db)) == 2
    for field, value in change.items():
        assert latest[field] == value


def test_whitespace_alone_is_no_change(db):
    """Spaces, full-width and no-break spaces, blank lines, indents and CRLF differ between visits of the
    same CMS page (template whitespace); none of that is a revision."""
    assert record(db, page()) == "new"
    spaced = "\r\n\r\n".join("\u3000\u3000" + line.replace("，", " ，\xa0 ") + "  " for line in LONG.splitlines())
    assert spaced != LONG
    assert record(db, page(text=spaced, title=" 深圳市某区2024年法治政府建设年度报告\t",
                           publisher="某区司法局\u3000")) == "unchanged"
    assert len(revisions(db)) == 1


# --- normalize: properties ---------------------------------------------------------------------------

SPACES = st.sampled_from([" ", "  ", "\t", "\u3000", "\xa0", " \u3000 "])
WORDS = st.sampled_from([w for seed in SEED_SPECS for line in seed_body(seed)[:3] for w in line.split("，")] +
                        ["Windows 11", "PDF", "2024", "12.5%", "e\u0301"])


@st.composite
def spaced_texts(draw) -> tuple[str, str]:
    """(text, the same text with extra whitespace: around words, at line ends, blank lines between)."""
    lines = draw(st.lists(st.lists(WORDS, min_size=1, max_size=4), min_size=1, max_size=5))
    plain = "\n".join(" ".join(words) for words in lines)
    out = []
    for words in lines:
        out.extend([draw(SPACES)] * draw(st.integers(0, 1)))  # a blank (whitespace-only) line
        out.append(draw(SPACES) + "".join(w + draw(SPACES) for w in words))
    newline = draw(st.sampled_from(["\n", "\r\n", "\n\n"]))
    return plain, newline.join(out)


@settings(max_examples=200, deadline=None)
@given(spaced_texts())
def test_property_normalize_folds_whitespace(texts):
    plain, spaced = texts
    assert store.normalize(spaced) == store.normalize(plain)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=60))
def test_property_normalize_is_idempotent_and_keeps_every_visible_character(text):
    once = store.normalize(text)
    assert store.normalize(once) == once
    visible = [c for c in unicodedata.normalize("NFC", text) if not c.isspace()]
    assert [c for c in once if not c.isspace()] == visible
    for line in once.splitlines():
        assert line and line == line.strip() and "  " not in line


# --- suspect bodies ------------------------------------------------------------------------------------

def test_a_short_body_is_confirmed_only_by_the_same_body(db):
    """Held back once; a different short body is held back again (not confirmed); the same one twice in a
    row is confirmed and stored, as an ordinary revision."""
    assert record(db, page()) == "new"
    assert record(db, page(text=SHORT[0])) == "suspect"
    assert record(db, page(text=SHORT[1])) == "suspect"
    assert record(db, page(text=SHORT[1])) == "changed"
    assert [r["suspect"] for r in revisions(db)] == [0, 0]
    assert revisions(db)[-1]["text"] == SHORT[1]


def test_a_page_still_suspect_after_three_runs_becomes_a_suspect_revision(db):
    """A short body that differs on every run (a maintenance page with a timestamp) is held back twice,
    then stored, marked `suspect = 1`; only the runs that held it back are partial."""
    first = store.start_run(db, "s")
    assert record(db, page(), run=first) == "new"
    store.finish_run(db, first)
    statuses, outcomes = [], []
    for body in SHORT[:3]:
        run = store.start_run(db, "s")
        outcomes.append(record(db, page(text=body), run=run))
        statuses.append(store.finish_run(db, run, pages_fetched=2)["status"])  # a listing and the page
    assert outcomes == ["suspect", "suspect", "changed"]
    assert statuses == ["partial", "partial", "ok"]
    latest = revisions(db)[-1]
    assert latest["text"] == SHORT[2] and latest["suspect"] == 1
    [doc] = db.query("SELECT * FROM documents")
    assert doc["latest_revision_id"] == latest["id"]
    # the full page returning is an ordinary change
    run = store.start_run(db, "s")
    assert record(db, page(), run=run) == "changed"
    assert revisions(db)[-1]["suspect"] == 0


# --- one IMMEDIATE transaction per page -------------------------------------------------------------

def test_a_page_transaction_holds_the_write_lock_from_its_start(db, tmp_path):
    """store.transaction takes the write lock at BEGIN: another connection cannot write meanwhile. (A
    deferred BEGIN would let it, and the first writer's own write would then fail with SQLITE_BUSY.)"""
    other = sqlite3.connect(tmp_path / "archive.db", timeout=0, isolation_level=None)
    try:
        with store.transaction(db) as conn:
            conn.execute("SELECT count(*) FROM documents").fetchone()
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO sources (id, name) VALUES ('x', 'x')")
            conn.execute("INSERT INTO sources (id, name) VALUES ('y', 'y')")
        other.execute("INSERT INTO sources (id, name) VALUES ('x', 'x')")
    finally:
        other.close()
    assert {r["id"] for r in db.query("SELECT id FROM sources")} == {"s", "t", "x", "y"}


WRITER = """
import sys
from archive import store
from archive.db import connect
from crawler.extract import Page
db = connect(sys.argv[1])
who, pages = sys.argv[2], int(sys.argv[3])
run = store.start_run(db, "s")
sys.stdout.write("ready\\n"); sys.stdout.flush(); sys.stdin.readline()
for n in range(pages):
    url = f"http://127.0.0.1/{who}/post_{n % 20}.html"
    text = f"第{n}次 {who}：" + "依法行政，全面推进法治政府建设。" * 30
    store.record_page(db, run, source_id="s", district="某区", url=url, http_status=200,
                      page=Page(title=f"{who}报告{n % 20}", published=None, publisher=None, report_year=None,
                                text=text),
                      body=text.encode(), encoding="utf-8", headers={})
store.finish_run(db, run)
print("done", flush=True)
"""


def test_two_crawl_processes_write_one_archive_at_once(db, tmp_path):
    """Two processes, released together, each write 120 pages (new and changed) into one archive: both
    finish, every page is there, every document points at its newest revision."""
    path = str(tmp_path / "archive.db")
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, path, who, "120"], cwd=ROOT, text=True,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
               for who in ("a", "b")]
    for writer in writers:
        assert writer.stdout.readline().strip() == "ready"
    for writer in writers:
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        out, err = writer.communicate(timeout=240)
        assert writer.returncode == 0 and out.strip() == "done", err[-2000:]
    assert db.execute("SELECT count(*) FROM fetches").fetchone()[0] == 240
    assert db.execute("SELECT count(*) FROM revisions").fetchone()[0] == 240
    stale = db.execute("SELECT count(*) FROM documents d WHERE latest_revision_id != "
                       "(SELECT max(id) FROM revisions WHERE document_id = d.id)").fetchone()[0]
    assert stale == 0
    assert [r[0] for r in db.execute("SELECT status FROM runs")] == ["ok", "ok"]


# --- documents shared by two sources; reextract; gone documents ----------------------------------------

def test_a_document_listed_by_two_sources_is_validated_for_both(db):
    assert record(db, page(), source="s", etag='"v1"') == "new"
    assert store.validators(db, "t") == {}
    assert record(db, page(), source="t", etag='"v1"') == "unchanged"
    assert store.validators(db, "t") == store.validators(db, "s") == {URL: ('"v1"', None)}
    assert store.known_urls(db, "t") == [URL]
    assert store.known_urls(db, "nobody") == []
    links = {(r["source_id"], r["first_seen"] <= r["last_seen"]) for r in db.query("SELECT * FROM document_sources")}
    assert links == {("s", True), ("t", True)}
    # a 304 answered to source t's run refreshes t's link
    run = store.start_run(db, "t")
    [before] = db.query("SELECT last_seen FROM document_sources WHERE source_id = 't'")
    assert store.record_not_modified(db, run, url=URL, etag='"v1"') == "unchanged"
    [after] = db.query("SELECT last_seen FROM document_sources WHERE source_id = 't'")
    assert after["last_seen"] > before["last_seen"]


def test_an_archive_from_before_document_sources_gets_its_links(tmp_path):
    path = tmp_path / "old.db"
    database = connect(path)
    store.upsert_source(database, {"id": "s", "name": "某区"})
    record(database, page())
    database.execute("DROP TABLE document_sources")
    database.close()
    database = connect(path)
    try:
        assert [(r["source_id"]) for r in database.query("SELECT * FROM document_sources")] == ["s"]
        assert store.known_urls(database, "s") == [URL]
    finally:
        database.close()


def shared_config(farm: ReplicaFarm, path, listing: str) -> tuple:
    """sources.yaml with the cms replica and a second source whose listing is `listing` on the same site."""
    config = farm.sources_yaml(path)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    site = farm.sites["cms"]
    data["sources"].append({"id": "shared-b", "name": "另一栏目", "district": site.district,
                            "start_urls": [site.url(listing)], "article_urls": [r"/content/post_\d+\.html$"]})
    config.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return config


def test_a_report_shared_by_two_sources_is_watched_by_both(tmp_path):
    """Source B once listed a report that source A found first; after B's listing drops it, B's own runs
    still ask it again and record its edit."""
    with ReplicaFarm(sites=("cms",)) as farm:
        site = farm.sites["cms"]
        shared = farm.changes["cms"].edited
        listed = {"yes": True}

        def listing(request: Request) -> Response:
            link = f'<li><a href="{shared}">深圳市南山区2024年法治政府建设年度报告</a></li>' if listed["yes"] else ""
            return Response(200, f"<html><body><h1>另一栏目</h1><ul>{link}</ul></body></html>")

        site.add_route("/other/index.html", listing)
        config = shared_config(farm, tmp_path / "sources.yaml", "/other/index.html")
        db = tmp_path / "archive.db"
        assert crawl(config, db, "replica-cms").returncode == 0
        assert crawl(config, db, "shared-b").returncode == 0
        listed["yes"] = False
        farm.set_state(2)
        done = crawl(config, db, "shared-b")
        assert done.returncode == 0, done.stderr[-2000:]
        url = site.url(shared)
    [doc] = rows(db, "SELECT * FROM documents WHERE url = ?", [url])
    assert doc["source_id"] == "replica-cms"
    links = rows(db, "SELECT source_id FROM document_sources WHERE document_id = ? ORDER BY source_id", [doc["id"]])
    assert [r["source_id"] for r in links] == ["replica-cms", "shared-b"]
    [last] = rows(db, "SELECT * FROM fetches WHERE run_id = (SELECT max(id) FROM runs) AND url = ?", [url])
    assert last["outcome"] == "changed"
    assert len(rows(db, "SELECT id FROM revisions WHERE document_id = ?", [doc["id"]])) == 2


def test_a_gone_document_is_asked_again_and_comes_back_live(tmp_path):
    """A withdrawn report no listing links any more is asked on every run; when the site restores it, it
    is live again (same text: no new revision)."""
    with ReplicaFarm(sites=("cms",)) as farm:
        site = farm.sites["cms"]
        withdrawn = farm.changes["cms"].withdrawn
        article = site.find(withdrawn, 1)
        restored = {"yes": False}
        config = farm.sources_yaml(tmp_path / "sources.yaml")
        db = tmp_path / "archive.db"
        assert crawl(config, db, "replica-cms").returncode == 0
        farm.set_state(2)  # withdrawn: 404, and off the listings
        site.add_route(withdrawn, lambda request: Response(200, site.article_html(article, 1))
                       if restored["yes"] else site.not_found())
        assert crawl(config, db, "replica-cms").returncode == 0
        assert crawl(config, db, "replica-cms").returncode == 0
        restored["yes"] = True
        assert crawl(config, db, "replica-cms").returncode == 0
        url = site.url(withdrawn)
    outcomes = [r["outcome"] for r in rows(db, "SELECT outcome FROM fetches WHERE url = ? ORDER BY id", [url])]
    assert outcomes == ["new", "gone", "gone", "unchanged"]
    [doc] = rows(db, "SELECT * FROM documents WHERE url = ?", [url])
    assert doc["status"] == "live"
    assert len(rows(db, "SELECT id FROM revisions WHERE document_id = ?", [doc["id"]])) == 1


# --- runs, sources, failures, 304s: the rest of the store's rules -------------------------------------

def finish(db, outcomes: list[str], **kwargs) -> dict:
    """A run whose fetches had these outcomes, closed with finish_run(**kwargs)."""
    run = store.start_run(db, "s")
    for n, outcome in enumerate(outcomes):
        db.execute("INSERT INTO fetches (run_id, url, outcome, fetched_at) VALUES (?, ?, ?, ?)",
                   [run, f"http://127.0.0.1/{n}", outcome, store.now()])
    return store.finish_run(db, run, **kwargs)


@pytest.mark.parametrize(("outcomes", "kwargs", "status"), [
    (["new", "changed", "unchanged", "gone"], {}, "ok"),
    ([], {"pages_fetched": 1}, "ok"),  # a listing with nothing to report on
    ([], {}, "failed"),
    ([], {"pages_fetched": 0}, "failed"),
    (["unchanged", "error"], {}, "partial"),
    (["gone", "suspect"], {}, "partial"),
    (["error", "error"], {"pages_fetched": 2}, "failed"),  # every page fetched was an error
    # pages were tried and none could be archived: the source is not working (issue 13), whatever the listing did
    (["error", "error"], {"pages_fetched": 3}, "failed"),
    (["blocked"], {}, "failed"),
    (["error", "blocked"], {"pages_fetched": 2}, "failed"),
    (["unchanged", "blocked"], {}, "partial"),  # "not allowed this time" for some pages only
    (["suspect"], {"pages_fetched": 2}, "partial"),  # a page held back is not a dead source
    (["new", "error"], {"status": "interrupted"}, "interrupted"),
])
def test_a_run_is_ok_partial_or_failed_by_its_fetches(db, outcomes, kwargs, status):
    assert finish(db, outcomes, **kwargs)["status"] == status


def test_a_run_row_has_its_counts_and_closes_once(db):
    row = finish(db, ["new", "new", "changed", "unchanged", "gone", "error", "suspect", "blocked", "not-found"],
                 pages_fetched=12, pages_extracted=4, message="done")
    [run] = db.query("SELECT * FROM runs")
    expected = {"new_documents": 2, "new_revisions": 3, "unchanged": 1, "gone": 1, "errors": 2, "blocked": 1,
                "pages_fetched": 12, "pages_extracted": 4, "status": "partial", "message": "done"}
    assert {k: run[k] for k in expected} == expected
    assert {k: row[k] for k in expected} == expected and row["id"] == run["id"]
    assert run["finished_at"] >= run["started_at"] and run["pid"] > 0
    store.finish_run(db, run["id"], status="failed", message="late")  # a closed run is never reopened
    [again] = db.query("SELECT * FROM runs")
    assert (again["status"], again["message"], again["finished_at"]) == ("partial", "done", run["finished_at"])
    assert store.finish_run(db, store.start_run(db, "s", pid=4321), status="ok")["status"] == "ok"
    assert [r["pid"] for r in db.query("SELECT pid FROM runs ORDER BY id")][-1] == 4321


def test_sources_are_upserted_and_retired(db):
    store.upsert_source(db, {"id": "u", "name": "甲", "district": "甲区"})
    store.upsert_source(db, {"id": "u", "name": "乙", "district": "乙区"})
    assert store.retire_sources(db, ["s", "u"]) == ["t"]
    assert store.retire_sources(db, ["s", "u"]) == []
    sources = {r["id"]: r for r in db.query("SELECT * FROM sources")}
    assert (sources["u"]["name"], sources["u"]["district"], sources["u"]["active"]) == ("乙", "乙区", 1)
    assert sources["t"]["active"] == 0 and sources["t"]["updated_at"] > sources["s"]["updated_at"]
    store.upsert_source(db, {"id": "t", "name": "某区"})  # back in the config: active again
    assert store.retire_sources(db, []) == ["s", "t", "u"]
    store.upsert_source(db, {"id": "t", "name": "某区"})
    assert [r["active"] for r in db.query("SELECT active FROM sources ORDER BY id")] == [0, 1, 0]


def test_a_failure_never_touches_the_archive_and_not_found_makes_gone(db):
    assert record(db, page()) == "new"
    [doc] = db.query("SELECT * FROM documents")
    for outcome in ("error", "blocked"):
        assert store.record_failure(db, None, url=URL, outcome=outcome, http_status=503, error="x") == outcome
    assert list(db.query("SELECT status, last_changed FROM documents")) == [
        {"status": "live", "last_changed": doc["last_changed"]}]
    assert store.record_failure(db, None, url=URL, outcome="not-found", http_status=404,
                                fetched_at="2030-01-01T00:00:00+00:00") == "gone"
    assert store.record_failure(db, None, url=URL, outcome="not-found", http_status=404,
                                fetched_at="2030-02-01T00:00:00+00:00") == "gone"
    [gone] = db.query("SELECT * FROM documents")
    assert (gone["status"], gone["last_changed"]) == ("gone", "2030-01-01T00:00:00+00:00")  # when it went
    other = "http://127.0.0.1/never-seen.html"
    assert store.record_failure(db, None, url=other, outcome="not-found", http_status=404) == "not-found"
    assert db.execute("SELECT count(*) FROM documents").fetchone()[0] == 1
    fetches = list(db.query("SELECT url, outcome, http_status, error, document_id FROM fetches ORDER BY id"))
    assert [f["outcome"] for f in fetches] == ["new", "error", "blocked", "gone", "gone", "not-found"]
    assert fetches[1]["error"] == "x" and fetches[1]["http_status"] == 503
    assert fetches[-1]["document_id"] is None and fetches[-2]["document_id"] == doc["id"]
    assert len(revisions(db)) == 1
    assert record(db, page()) == "unchanged"  # it returned
    assert next(iter(db.query("SELECT status FROM documents")))["status"] == "live"


def test_a_304_stands_only_for_a_confirmed_revision_with_its_validators(db):
    assert store.record_not_modified(db, None, url=URL, etag='"a"') == "error"  # never seen
    assert record(db, page(), etag='"a"') == "new"
    assert store.record_not_modified(db, None, url=URL) == "unchanged"  # no validators answered: as sent
    assert store.record_not_modified(db, None, url=URL, etag='"b"', last_modified="Mon, 01 Jan 2029 00:00:00 GMT",
                                     fetched_at="2031-01-01T00:00:00+00:00") == "unchanged"
    fetches = list(db.query("SELECT * FROM fetches ORDER BY id"))
    assert [(f["outcome"], f["http_status"], f["etag"]) for f in fetches] == [
        ("error", 304, None), ("new", 200, '"a"'), ("unchanged", 304, '"a"'), ("unchanged", 304, '"b"')]
    assert fetches[0]["error"] and fetches[-1]["content_hash"] == fetches[1]["content_hash"]
    assert store.validators(db, "s") == {URL: ('"b"', "Mon, 01 Jan 2029 00:00:00 GMT")}
    [doc] = db.query("SELECT * FROM documents")
    assert doc["last_seen"] == "2031-01-01T00:00:00+00:00" and doc["status"] == "live"
    # a page fetched without validators is not offered for conditional requests
    assert record(db, page(), url="http://127.0.0.1/plain.html") == "new"
    assert set(store.validators(db, "s")) == {URL}
    store.record_failure(db, None, url=URL, outcome="not-found", http_status=404)
    assert store.validators(db, "s") == {}  # gone: fetched in full next time
    assert [r[0] for r in db.execute("SELECT url FROM documents WHERE status = 'live'")] == ["http://127.0.0.1/plain.html"]
    assert store.known_urls(db, "s") == [URL, "http://127.0.0.1/plain.html"]  # gone ones are asked too
    assert store.record_not_modified(db, None, url=URL, etag='"b"') == "error"


def test_header_names_are_case_insensitive():
    assert store.header({"ETag": '"x"', "Last-Modified": ""}, "etag") == '"x"'
    assert store.header({"etag": '"x"'}, "ETag") == '"x"'
    assert store.header({"Last-Modified": ""}, "last-modified") is None
    assert store.header(None, "etag") is None


def test_a_revision_keeps_its_attachments_record_and_the_documents_latest_state(db):
    item = page(attachments=[("http://127.0.0.1/a.pdf", "附件1"), ("http://127.0.0.1/b.docx", "附件2")],
                record={"索引号": "11440300-2025-001", "文号": "深某〔2025〕1号"}, report_year=2024)
    assert record(db, item) == "new"
    [rev] = revisions(db)
    [doc] = db.query("SELECT * FROM documents")
    attachments = [(a["url"], a["text"], a["revision_id"], a["document_id"])
                   for a in db.query("SELECT * FROM attachments ORDER BY id")]
    assert attachments == [("http://127.0.0.1/a.pdf", "附件1", rev["id"], doc["id"]),
                           ("http://127.0.0.1/b.docx", "附件2", rev["id"], doc["id"])]
    assert '"索引号": "11440300-2025-001"' in rev["record"] and rev["report_year"] == 2024
    assert (rev["captured_at"], rev["suspect"], rev["reextracted"]) == (rev["fetched_at"], 0, 0)
    assert rev["extractor"] and rev["capture_hash"]
    assert {k: doc[k] for k in ("title", "published", "publisher", "report_year", "latest_revision_id", "status")} \
        == {"title": rev["title"], "published": "2025-01-10", "publisher": "某区司法局", "report_year": 2024,
            "latest_revision_id": rev["id"], "status": "live"}
    assert doc["first_seen"] == doc["last_seen"] == doc["last_changed"] == rev["fetched_at"]
    assert (doc["source_id"], doc["district"]) == ("s", "某区")
    # a revision added with an older time never moves last_seen back
    with store.transaction(db) as conn:
        store.add_revision(conn, doc["id"], page(publisher=None), "2000-01-01T00:00:00+00:00", None)
    [after] = db.query("SELECT * FROM documents")
    assert revisions(db)[-1]["suspect"] == 0 and revisions(db)[-1]["record"] is None
    assert after["last_seen"] == doc["last_seen"] and after["publisher"] is None
    assert after["last_changed"] == "2000-01-01T00:00:00+00:00"


def test_small_pages_and_half_sized_bodies_are_not_suspect(db):
    short_page = "依法行政，建设法治政府。" * 20  # 240 characters: too little to judge
    assert record(db, page(text=short_page), url="http://127.0.0.1/small.html") == "new"
    assert record(db, page(text="很短。"), url="http://127.0.0.1/small.html") == "changed"
    assert record(db, page()) == "new"
    chars = len(store.normalize(LONG))
    half = store.normalize(LONG)[: (chars + 1) // 2]  # exactly half (rounded up): not far shorter
    assert record(db, page(text=half)) == "changed"
    assert record(db, page(text=half[: len(half) // 2 - 1])) == "suspect"


def test_a_new_revision_is_found_by_search(db):
    """Each revision is indexed for Chinese search as it is written (title and text, segmented)."""
    from archive.search import search

    assert record(db, page()) == "new"
    assert record(db, page(title="某区2025年依法行政工作报告", text=LONG.replace("2024年", "2025年"))) == "changed"
    found = {r["id"] for r in search(db, "依法行政工作报告")}
    assert found == {revisions(db)[-1]["id"]}
    assert {r["id"] for r in search(db, "法治政府建设")} >= {revisions(db)[0]["id"]}
    in_text = LONG.splitlines()[1][:8]  # words of the body, not of any title
    assert {r["id"] for r in search(db, in_text)} == {r["id"] for r in revisions(db)}
    # the documents index holds each document once, with its latest title and text
    [doc] = db.query("SELECT id FROM documents")
    assert [r["id"] for r in search(db, "依法行政工作报告", table="documents")] == [doc["id"]]
    assert [r["id"] for r in search(db, "法治政府建设年度报告", table="documents")] == []
    assert [r["id"] for r in search(db, in_text, table="documents")] == [doc["id"]]


def test_the_content_hash_is_stable_across_releases():
    """Archives written by earlier versions compare their stored hashes with new fetches: a change to how
    the hash is computed would make every document 'changed' once. These values must never change."""
    assert store.content_hash(Page(title="深圳市某区2024年法治政府建设年度报告", published=None, publisher="某区司法局",
                                   report_year=2024, text="第一段\n第二段")) == \
        "0eeb59b115a3c375c8c87b815d088bcf4396b346d9444e006dffe9b842cfeaa4"
    assert store.content_hash(Page(title="T", published="2025-01-10", publisher=None, report_year=None, text="a")) \
        == "0172b6b24626b742e69d6ae03cb6a2dbe41ec7aebea201a3c708b0774bdf0f08"


def test_a_run_without_fetches_counts_zero(db):
    row = finish(db, [], pages_fetched=1)
    assert {k: row[k] for k in ("new_documents", "new_revisions", "unchanged", "gone", "errors", "blocked")} == \
        dict.fromkeys(("new_documents", "new_revisions", "unchanged", "gone", "errors", "blocked"), 0)
    # good pages are new, changed, unchanged or gone ones: with one error, partial, never failed
    assert finish(db, ["unchanged", "gone", "error"])["status"] == "partial"


def test_a_fetch_row_carries_the_answer(db):
    headers = {"ETag": '"e1"', "Last-Modified": "Mon, 01 Jan 2029 00:00:00 GMT", "Content-Type": "text/html"}
    outcome = store.record_page(db, None, source_id="s", district="某区", url=URL, http_status=203, page=page(),
                                body=b"<html>raw</html>", encoding="gb18030", headers=headers)
    assert outcome == "new"
    [fetch] = db.query("SELECT * FROM fetches")
    assert (fetch["etag"], fetch["last_modified"], fetch["http_status"], fetch["error"]) == (
        '"e1"', "Mon, 01 Jan 2029 00:00:00 GMT", 203, None)
    [capture] = db.query("SELECT * FROM captures")
    assert (capture["url"], capture["http_status"], capture["encoding"]) == (URL, 203, "gb18030")
    assert "Last-Modified" in capture["headers"] and capture["hash"] == revisions(db)[0]["capture_hash"]
    # a suspect fetch says why it was held back; a 304 with nothing confirmed says so, for its document
    assert record(db, page(text=SHORT[0])) == "suspect"
    [held] = db.query("SELECT * FROM fetches ORDER BY id DESC LIMIT 1")
    assert held["error"] == "body far shorter than the last revision; held until confirmed"
    assert store.record_not_modified(db, None, url=URL, etag='"e1"') == "error"
    [refused] = db.query("SELECT * FROM fetches ORDER BY id DESC LIMIT 1")
    assert refused["error"] == "304 Not Modified, but no confirmed revision to stand for"
    assert refused["document_id"] == fetch["document_id"] is not None


def test_the_suspect_thresholds_are_exact(db):
    """A body is suspect from below half (not at half) of a last revision of at least 300 characters."""
    base = "依法行政，建设法治政府。" * 100  # 1200 characters
    for old_chars, new_chars, outcome in [(300, 10, "suspect"), (299, 10, "changed"), (400, 200, "changed"),
                                          (400, 199, "suspect")]:
        url = f"http://127.0.0.1/{old_chars}-{new_chars}.html"
        assert record(db, page(text=base[:old_chars]), url=url) == "new"
        assert record(db, page(text=base[-new_chars:]), url=url) == outcome, (old_chars, new_chars)
