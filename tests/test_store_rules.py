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
