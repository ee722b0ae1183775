"""Attachments against what the real web does: hosts listed under `attachment_hosts`, files sent
chunked past the size limit, ETags that change while the bytes do not, and hostile files (XML entity
bombs in an OFD, PDF streams that inflate far beyond their size). Real crawls against the replica."""
from __future__ import annotations

import gzip
import os
import resource
import sqlite3
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from archive import filetext, search
from archive.db import connect
from tests.crawling import ROOT, crawl, rows
from tests.sites import Response
from tests.sites.files import FilesSite, pdf_file

REPORT = ["某区2024年政府信息公开工作年度报告", "主动公开政府信息一千二百条。"]


def versions(db) -> dict[str, dict]:
    return {r["url"].rsplit("/", 1)[1]: r for r in rows(
        db, "select a.url, v.* from attachment_revisions v join attachments a on a.id = v.attachment_id")}


def test_a_file_on_an_attachment_host_is_fetched(tmp_path):
    """The source is 127.0.0.1; its files are on `localhost` (the same server under another host name),
    listed under attachment_hosts: they must be fetched, not dropped by Scrapy's offsite filter."""
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        site.files["report.pdf"] = pdf_file(REPORT)
        original = site.page
        elsewhere = site.url("/files/report.pdf").replace("127.0.0.1", "localhost")

        def page(request, state):
            response = original(request, state)
            if request.path == "/xxgk/report.html":
                response.body = response.body.replace('href="/files/report.pdf"', f'href="{elsewhere}"')
            return response

        site.page = page
        config = site.source_yaml(tmp_path / "sources.yaml", attachment_hosts=["localhost"])
        result = crawl(config, db, "replica-files")
        assert result.returncode == 0, result.stderr[-2000:]
        assert [r["url"] for r in rows(db, "select url from attachments")] == [elsewhere]
        assert versions(db).get("report.pdf", {}).get("text") == "\n".join(REPORT), result.stderr[-2000:]


def test_a_file_sent_chunked_past_the_limit_is_an_error_version_like_one_announced_too_large(tmp_path):
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        big = pdf_file(REPORT) + b"\n%" + b"0" * 20000
        site.files["announced.pdf"] = big
        site.files["chunked.pdf"] = big
        site.add_route("/files/chunked.pdf", lambda request: Response(
            200, big, "application/pdf", headers={"Transfer-Encoding": "chunked"}))
        config = site.source_yaml(tmp_path / "sources.yaml", settings={"ZWGK_ATTACHMENT_MAXSIZE": 8000})
        result = crawl(config, db, "replica-files")
        assert result.returncode == 0, result.stderr[-2000:]
        found = versions(db)
        assert found["announced.pdf"]["error"] == "file over the 8000-byte limit"
        assert found.get("chunked.pdf", {}).get("error") == "file over the 8000-byte limit", result.stderr[-1500:]
        assert crawl(config, db, "replica-files").returncode == 0  # the same again adds nothing
        assert rows(db, "select count(*) n from attachment_revisions")[0]["n"] == 2


def test_a_file_sent_gzip_encoded_that_inflates_past_the_limit_is_an_error_version(tmp_path):
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        big = pdf_file(REPORT) + b"\n%" + b"0" * 200000
        site.files["encoded.pdf"] = big
        packed = gzip.compress(big)
        assert len(packed) < 8000 < len(big)
        site.add_route("/files/encoded.pdf", lambda request: Response(
            200, packed, "application/pdf", headers={"Content-Encoding": "gzip"}))
        config = site.source_yaml(tmp_path / "sources.yaml", settings={"ZWGK_ATTACHMENT_MAXSIZE": 8000})
        result = crawl(config, db, "replica-files")
        assert result.returncode == 0, result.stderr[-2000:]
        assert versions(db).get("encoded.pdf", {}).get("error") == "file over the 8000-byte limit", \
            result.stderr[-1500:]
        assert crawl(config, db, "replica-files").returncode == 0  # the same again adds nothing
        assert rows(db, "select count(*) n from attachment_revisions")[0]["n"] == 1


def test_a_changing_etag_over_the_same_bytes_adds_nothing(tmp_path):
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        body = pdf_file(REPORT)
        site.files["report.pdf"] = body
        served = iter(range(1000))
        site.add_route("/files/report.pdf", lambda request: Response(
            200, body, "application/pdf", headers={"ETag": f'"v{next(served)}"'}))
        config = site.source_yaml(tmp_path / "sources.yaml")
        for _ in range(3):
            assert crawl(config, db, "replica-files").returncode == 0
        assert site.fetched("/files/report.pdf") == [200, 200, 200]
        assert rows(db, "select count(*) n from attachment_revisions")[0]["n"] == 1
        assert rows(db, "select count(*) n from files")[0]["n"] == 1
        assert rows(db, "select etag from attachments")[0]["etag"] == '"v2"'


def flate_bomb_pdf(inflated: int) -> bytes:
    """A one-page PDF whose content stream is `inflated` bytes of blanks, deflated (about 1000:1)."""
    deflate = zlib.compressobj(9)
    blanks = b" " * (1 << 20)
    data = b"".join(deflate.compress(blanks) for _ in range(inflated >> 20)) + deflate.flush()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
               b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream"]
    out, offsets = b"%PDF-1.4\n", []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 5\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    return out + b"trailer\n<< /Size 5 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % xref


def test_a_pdf_stream_inflating_past_the_memory_limit_is_an_error_not_an_exhausted_machine():
    bomb = flate_bomb_pdf(400 << 20)
    before = resource.getrlimit(resource.RLIMIT_AS)
    assert len(bomb) < 1 << 20
    result = filetext.extract(bomb, time_limit=None, memory_limit=256 << 20)
    assert (result.mime, result.text, result.error) == (filetext.PDF, None, "file too large to read in memory")
    # the cap is lifted afterwards, and an ordinary file reads under the same cap
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert filetext.extract(pdf_file(REPORT), memory_limit=256 << 20).text == "\n".join(REPORT)


PRE_ATTACHMENTS = "292edc3"  # the last commit before attachment versions (issue 15)


def old_code(tmp_path: Path) -> Path:
    """The project as of PRE_ATTACHMENTS, unpacked from git (skipped where the history is absent)."""
    if subprocess.run(["git", "cat-file", "-e", f"{PRE_ATTACHMENTS}^{{commit}}"], cwd=ROOT,
                      capture_output=True).returncode:
        pytest.skip(f"commit {PRE_ATTACHMENTS} not in this checkout")
    target = tmp_path / "old"
    target.mkdir()
    archive = subprocess.run(["git", "archive", PRE_ATTACHMENTS], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive, check=True)
    return target


def old_crawl(code: Path, config: Path, db: Path) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "crawler.run", "--source", "replica-files", "--config", str(config),
           "--db", str(db), "--log-level", "WARNING"]
    return subprocess.run(cmd, cwd=code, env={**os.environ, "PYTHONPATH": str(code)}, capture_output=True,
                          text=True, timeout=120)


def test_an_archive_crawled_by_the_code_before_attachment_versions_migrates_without_loss(tmp_path):
    code = old_code(tmp_path)
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        site.files["report.pdf"] = pdf_file(REPORT)
        site.files["table.xlsx"] = b"PK\x03\x04 not yet"
        config = site.source_yaml(tmp_path / "sources.yaml")
        assert old_crawl(code, config, db).returncode == 0
        original = site.page

        def page(request, state):  # the page's text changes (a second revision), a link's text and a link
            response = original(request, state)
            if request.path == "/xxgk/report.html":
                response.body = response.body.replace("欢迎社会各界监督。", "欢迎社会各界监督指正。")
            return response

        site.page = page
        site.link_text["report.pdf"] = "报告全文(更正).pdf"
        site.files["notice.txt"] = "补充说明".encode()
        result = old_crawl(code, config, db)
        assert result.returncode == 0, result.stderr[-2000:]
        old = sqlite3.connect(db)
        old_links = sorted(old.execute("SELECT document_id, revision_id, url, text FROM attachments").fetchall())
        counts = {t: old.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("documents", "revisions", "runs", "fetches")}
        old.close()
        assert len(old_links) == 5 and counts["revisions"] == 2, (counts, result.stderr[-3000:])  # 2 + 3 links

        result = crawl(config, db, "replica-files")  # today's code opens (migrates) and crawls it
        assert result.returncode == 0, result.stderr[-2000:]
    new_links = sorted(tuple(r.values()) for r in rows(
        db, "SELECT a.document_id, l.revision_id, a.url, l.text FROM attachment_links l "
            "JOIN attachments a ON a.id = l.attachment_id"))
    assert new_links == old_links  # not one old row lost
    assert len(rows(db, "SELECT id FROM attachments")) == 3  # one per document and URL
    for table, n in counts.items():
        assert rows(db, f"SELECT count(*) n FROM {table}")[0]["n"] >= n
    assert rows(db, "SELECT count(*) n FROM revisions")[0]["n"] == 2  # nothing changed: no new revision
    assert {v["url"].rsplit("/", 1)[1]: v["error"] is None for v in versions(db).values()} == {
        "report.pdf": True, "table.xlsx": False, "notice.txt": True}
    assert rows(db, "SELECT status FROM runs ORDER BY id DESC LIMIT 1")[0]["status"] == "ok"
    archive = connect(db)
    try:
        page_hits = search.search(archive, "法治政府建设")
        file_hits = search.search(archive, "补充说明", table="attachment_revisions")
    finally:
        archive.close()
    assert page_hits and file_hits, (page_hits, file_hits)


def test_a_pdf_whose_cid_font_has_no_unicode_map_is_an_error_not_cid_codes_as_text():
    """An Identity-H CID font with no ToUnicode CMap and no known character collection (an embedded
    subset font so written): pdfminer can give only "(cid:N)" placeholders, which are not the text."""
    mapped = pdf_file(REPORT)
    unmapped = mapped.replace(b"/UniGB-UCS2-H", b"/Identity-H").replace(b"(GB1)", b"(Identity)")
    result = filetext.extract(unmapped)
    assert (result.mime, result.text) == (filetext.PDF, None)
    assert result.error.startswith("PDF whose fonts have no Unicode map:")
    assert filetext.extract(mapped).text == "\n".join(REPORT)


def test_a_download_link_redirecting_to_an_attachment_host_is_followed(tmp_path):
    """/files/dl.pdf on the source's host answers 302 to its file server (here `localhost`, listed under
    attachment_hosts): the file is fetched; a redirect anywhere else is still not followed."""
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        site.files["report.pdf"] = pdf_file(REPORT)
        site.files["dl.pdf"] = site.files["away.pdf"] = b"never served"
        target = site.url("/files/report.pdf").replace("127.0.0.1", "localhost")
        site.add_route("/files/dl.pdf", lambda request: Response(302, "", headers={"Location": target}))
        site.add_route("/files/away.pdf", lambda request: Response(
            302, "", headers={"Location": "http://files.example.invalid/report.pdf"}))
        config = site.source_yaml(tmp_path / "sources.yaml", attachment_hosts=["localhost"])
        result = crawl(config, db, "replica-files")
        assert result.returncode == 0, result.stderr[-2000:]
        found = versions(db)
        assert found.get("dl.pdf", {}).get("text") == "\n".join(REPORT), result.stderr[-2000:]
        assert "away.pdf" not in found and "HTTP 302" in result.stderr
        assert "files.example.invalid/report.pdf: " not in result.stderr  # never asked


def test_xhtml_and_bare_error_pages_served_as_files_are_html_not_text():
    xhtml = ('<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" '
             '"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n<html xmlns="http://www.w3.org/1999/xhtml">'
             '<head><title>404</title></head><body>文件不存在</body></html>').encode()
    bare = b"<title>404 Not Found</title><h1>Not Found</h1>"
    for page in (xhtml, bare):
        result = filetext.extract(page)
        assert (result.mime, result.text) == (filetext.HTML, None) and result.error.startswith("an HTML page")
    assert filetext.sniff(b'<?xml version="1.0"?><note>not a page</note>') == filetext.TXT


def test_a_soft_404_page_in_place_of_a_good_file_adds_no_version_and_no_news(tmp_path):
    """A site answering 200 with an HTML "页面不存在" page where the report PDF was (maintenance, a moved
    file), then serving the file again: no error version, no copy of v1, no attachment event."""
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        site.files["report.pdf"] = pdf_file(REPORT)
        config = site.source_yaml(tmp_path / "sources.yaml")
        assert crawl(config, db, "replica-files").returncode == 0
        site.add_route("/files/report.pdf", lambda request: Response(
            200, "<!DOCTYPE html><html><head><title>页面不存在</title></head><body>页面不存在</body></html>",
            "text/html; charset=utf-8"))
        assert crawl(config, db, "replica-files").returncode == 0
        del site.routes["/files/report.pdf"]
        assert crawl(config, db, "replica-files").returncode == 0
        assert site.fetched("/files/report.pdf")[-1] == 200  # asked in full again after the soft 404
    [version] = rows(db, "select error, text from attachment_revisions")
    assert version["error"] is None and "主动公开政府信息" in version["text"]
    assert rows(db, "select count(*) n from events where kind = 'attachment'")[0]["n"] == 0
