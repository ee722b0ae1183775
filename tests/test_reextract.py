"""`reextract`: the current extractor over stored raw captures, new revisions only where the text differs,
old revisions untouched, document status kept. Real SQLite file, real replica page bytes, real click CLI."""
from __future__ import annotations

import dataclasses
import json
import zlib

from click.testing import CliRunner

from archive import store
from archive.cli import cli
from archive.db import connect
from archive.reextract import reextract
from crawler.extract import EXTRACTOR_VERSION, extract_page

STALE_CHROME = "\n扫一扫在手机打开当前页\n分享到:"


def _archive_with_stale_pages(replica, db_path, count=2):
    """An archive whose revisions came from an 'older extractor' that left chrome in the text."""
    db = connect(db_path)
    site = replica.sites["trs"]
    store.upsert_source(db, {"id": "replica-trs", "name": site.name, "district": site.district,
                             "config": json.dumps({"prune": []}, ensure_ascii=False)})
    pages = replica.article_pages(1)
    pages = [p for p in pages if p[2].site == "trs"][:count]
    fresh = {}
    for url, html, _expected in pages:
        page = extract_page(html, url, site_name=site.name)
        fresh[url] = page
        stale = dataclasses.replace(page, text=page.text + STALE_CHROME)
        store.record_page(db, None, source_id="replica-trs", district=site.district, url=url, http_status=200,
                          page=stale, body=html.encode("gbk"), encoding="gbk", headers={},
                          fetched_at="2026-01-01T00:00:00+00:00")
    return db, fresh


def test_reextract_adds_marked_revisions_and_keeps_history(replica, db_path):
    db, fresh = _archive_with_stale_pages(replica, db_path)
    gone_url = list(fresh)[1]
    store.record_failure(db, None, url=gone_url, outcome="not-found", http_status=404)

    counts = reextract(db, "replica-trs")
    assert counts == {"documents": 2, "changed": 2, "unchanged": 0, "missing": 0, "failed": 0}

    for url, page in fresh.items():
        doc = db.execute("SELECT id, status, latest_revision_id FROM documents WHERE url = ?", [url]).fetchone()
        revs = db.execute("SELECT id, text, reextracted, extractor, capture_hash FROM revisions "
                          "WHERE document_id = ? ORDER BY id", [doc[0]]).fetchall()
        assert len(revs) == 2
        old, new = revs
        assert old[1].endswith("分享到:") and old[2] == 0  # the old row is never rewritten
        assert new[1] == page.text and "扫一扫" not in new[1]
        assert new[2] == 1 and new[3] == EXTRACTOR_VERSION and new[4] == old[4]
        assert doc[2] == new[0]
        assert doc[1] == ("gone" if url == gone_url else "live")

    again = reextract(db)
    assert again == {"documents": 2, "changed": 0, "unchanged": 2, "missing": 0, "failed": 0}


def test_reextract_counts_documents_without_capture(replica, db_path):
    db, _ = _archive_with_stale_pages(replica, db_path, count=1)
    db.execute("UPDATE revisions SET capture_hash = NULL")
    assert reextract(db)["missing"] == 1
    assert db.execute("SELECT count(*) FROM revisions").fetchone()[0] == 1


def test_reextract_command(replica, db_path):
    _archive_with_stale_pages(replica, db_path, count=1)
    runner = CliRunner()
    result = runner.invoke(cli, ["--db", str(db_path), "reextract", "--source", "replica-trs"])
    assert result.exit_code == 0, result.output
    assert "changed=1" in result.output
    result = runner.invoke(cli, ["--db", str(db_path), "reextract", "--source", "nope"])
    assert result.exit_code == 2 and "no source 'nope'" in result.output


def test_a_capture_with_broken_bytes_is_decoded_as_the_crawler_does(replica, db_path):
    """A GBK page cut mid-character: the crawl dropped the broken byte, so re-extraction must too —
    never a revision full of U+FFFD, and no revision at all when the text is the same."""
    db, fresh = _archive_with_stale_pages(replica, db_path, count=1)
    [url] = fresh
    capture_hash = db.execute("SELECT capture_hash FROM revisions").fetchone()[0]
    body = db.execute("SELECT body FROM captures WHERE hash = ?", [capture_hash]).fetchone()[0]
    stop = "。".encode("gbk") + b"<"  # a lone lead byte before "<" can pair with nothing
    broken = zlib.decompress(body).replace(stop, "。".encode("gbk") + b"\xa1<", 1)
    assert broken != zlib.decompress(body)
    db.execute("UPDATE captures SET body = ? WHERE hash = ?", [zlib.compress(broken), capture_hash])
    counts = reextract(db)
    assert counts["changed"] == 1 and counts["failed"] == 0
    latest = db.execute("SELECT text FROM revisions ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert "\ufffd" not in latest
    assert latest == store.normalize(fresh[url].text)


def test_a_reextracted_revision_is_dated_when_it_is_made(replica, db_path):
    """It sorts after every revision before it (by fetched_at, as history and changes feeds do); the time
    its capture was fetched is kept in captured_at; the document was not seen again because of it."""
    db, fresh = _archive_with_stale_pages(replica, db_path, count=1)
    [url] = fresh
    later = "2026-06-01T00:00:00+00:00"  # a later fetch of the same (stale) page, a revision of its own
    doc_id = db.execute("SELECT id FROM documents WHERE url = ?", [url]).fetchone()[0]
    with store.transaction(db) as conn:
        old = db.execute("SELECT capture_hash FROM revisions").fetchone()[0]
        stale = dataclasses.replace(fresh[url], text=fresh[url].text + STALE_CHROME + "\n更新")
        store.add_revision(conn, doc_id, stale, later, old)
    [before] = db.query("SELECT * FROM documents")
    started = store.now()
    assert reextract(db)["changed"] == 1
    revs = list(db.query("SELECT * FROM revisions ORDER BY id"))
    assert [r["captured_at"] for r in revs] == ["2026-01-01T00:00:00+00:00", later, "2026-01-01T00:00:00+00:00"]
    assert revs[-1]["fetched_at"] >= started > later
    assert [r["suspect"] for r in revs] == [0, 0, 0] and [r["reextracted"] for r in revs] == [0, 0, 1]
    assert [r["id"] for r in sorted(revs, key=lambda r: r["fetched_at"])] == [r["id"] for r in revs]
    [after] = db.query("SELECT * FROM documents")
    assert (after["last_seen"], after["last_changed"]) == (before["last_seen"], before["last_changed"])
    assert after["latest_revision_id"] == revs[-1]["id"]
