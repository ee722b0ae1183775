"""Attachment files without a crawl: type sniffing, text extraction and bad files (archive.filetext),
storage and versions (archive.attachments), the in-place migration of an archive written before
attachment versions, and re-extraction of stored files."""
from __future__ import annotations

import dataclasses
import io
import random
import sqlite3
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive import attachments, filetext, search
from archive.db import connect
from archive.store import transaction
from tests.sites.files import docx_file, ofd_file, pdf_file, xls_file, xlsx_file

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)


# --- sniffing and extraction -------------------------------------------------------------------------

def test_types_come_from_the_bytes_not_the_name():
    assert filetext.sniff(pdf_file(["报告"])) == filetext.PDF
    assert filetext.sniff(docx_file(["段落"])) == filetext.DOCX
    assert filetext.sniff(xlsx_file([["a"]])) == filetext.XLSX
    assert filetext.sniff(ofd_file([["行"]])) == filetext.OFD
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("报告.pdf", b"%PDF-1.4")
    assert filetext.sniff(plain.getvalue()) == filetext.ZIP
    assert filetext.extract(plain.getvalue()).text == "报告.pdf"
    # a compound file whose directory names a WordDocument stream (the name field is zero-padded)
    ole = xls_file([["x"]]).replace("Workbook".encode("utf-16-le") + b"\0" * 8, "WordDocument".encode("utf-16-le"))
    assert filetext.sniff(ole) == filetext.DOC
    stored = filetext.extract(ole)
    assert (stored.text, stored.error) == (None, None)  # legacy Word/WPS: stored only
    assert filetext.sniff(filetext.OLE_MAGIC + "Workbook".encode("utf-16-le")) == filetext.XLS
    assert filetext.sniff(b"  <!DOCTYPE html><html><body>404</body></html>") == filetext.HTML
    assert filetext.sniff("第一行\n第二行".encode("gbk")) == filetext.TXT
    assert filetext.sniff(bytes(range(256))) == filetext.BINARY


def test_legacy_xls_and_et_read_like_xlsx():
    body = xls_file([["指标", "数值"], ["行政复议", 128], ["纠错率", 0.09], ["", "备注"]], title="统计")
    result = filetext.extract(body)
    assert (result.mime, result.error) == (filetext.XLS, None)
    assert result.text == "指标 | 数值\n行政复议 | 128\n纠错率 | 0.09\n| 备注"
    broken = filetext.extract(body[: len(body) // 2])
    assert broken.text is None and broken.error == "truncated or corrupt OLE2 file (its directory is missing)"


def test_pdf_with_several_pages_keeps_page_order():
    body = pdf_file(["第一页第一段"])  # one page per call; join two documents' pages via reportlab
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    pdf = canvas.Canvas(out, invariant=1)
    for text in ("第一页:行政复议", "第二页:行政诉讼", "第三页:执法监督"):
        pdf.setFont("STSong-Light", 14)
        pdf.drawString(72, 700, text)
        pdf.showPage()
    pdf.save()
    assert filetext.extract(out.getvalue()).text == "第一页:行政复议\n第二页:行政诉讼\n第三页:执法监督"
    assert filetext.extract(body).text == "第一页第一段"


def test_bad_files_give_an_error_and_no_text():
    pdf = pdf_file(["报告全文"])
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    locked = canvas.Canvas(out, encrypt="secret")
    locked.setFont("STSong-Light", 12)
    locked.drawString(72, 700, "加密的报告")
    locked.save()
    cases = {
        "truncated": pdf[: len(pdf) // 3],
        "encrypted": out.getvalue(),
        "corrupt docx": b"PK\x03\x04" + b"\x00" * 200,
        "html as pdf": b"<html><head><title>error</title></head><body>File not found</body></html>",
        "empty": b"",
        "garbage": random.Random(1).randbytes(2000),
    }
    for name, body in cases.items():
        result = filetext.extract(body)
        assert result.text is None and result.error, name
        assert "\n" not in result.error, name
    assert filetext.extract(cases["encrypted"]).error.startswith("encrypted PDF")


def test_zip_bomb_is_refused_before_inflating():
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", b"<" + b"\0" * (filetext.BOMB_FLOOR + 1024))
    body = bomb.getvalue()
    assert len(body) < 100_000
    result = filetext.extract(body)
    assert result.mime == filetext.DOCX and result.text is None and result.error.startswith("zip bomb:")


def test_extraction_is_cut_at_the_time_limit():
    body = pdf_file(["一段很长的报告正文"] * 18)
    result = filetext.extract(body, time_limit=1e-6)  # fires before parsing can finish
    assert result.text is None and result.error == "text extraction took over 1e-06 s"
    assert filetext.extract(body, time_limit=60).text  # and the same file is fine with time


@settings(max_examples=20, deadline=None)
@given(st.lists(st.lists(st.text(CJK, min_size=1, max_size=6), min_size=1, max_size=4), min_size=1, max_size=5))
def test_xlsx_rows_are_lines_with_cells_joined(rows):
    assert filetext.extract(xlsx_file(rows)).text == "\n".join(" | ".join(row) for row in rows)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.text(CJK, min_size=1, max_size=12), min_size=1, max_size=8), st.randoms())
def test_ofd_text_follows_position_not_file_order(lines, rnd):
    body = ofd_file([lines])
    shuffled = _shuffle_ofd_objects(body, rnd)
    assert filetext.extract(body).text == filetext.extract(shuffled).text == "\n".join(lines)


def _shuffle_ofd_objects(body: bytes, rnd) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(body))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name.endswith("Content.xml"):
                head, _, rest = data.partition(b"<ofd:TextObject")
                objects = [b"<ofd:TextObject" + o for o in rest.split(b"<ofd:TextObject")]
                tail = objects[-1].split(b"</ofd:TextObject>", 1)
                objects[-1] = tail[0] + b"</ofd:TextObject>"
                rnd.shuffle(objects)
                data = head + b"".join(objects) + tail[1]
            target.writestr(name, data)
    return out.getvalue()


# --- storage, versions and migration -----------------------------------------------------------------

def _document(db, url="http://www.example.gov.cn/t/1.html", links=(("http://www.example.gov.cn/f/a.pdf", "a.pdf"),)):
    from archive import store
    from crawler.extract import Page

    page = Page(title="某区2024年法治政府建设年度报告", published="2025-01-01", publisher="某区司法局",
                report_year=2024, text="正文第一段。\n正文第二段。", attachments=list(links))
    store.upsert_source(db, {"id": "s", "name": "n", "district": "d", "listing": "html", "start_urls": "[]",
                             "schedule": "every 6h", "timezone": "Asia/Shanghai", "config": "{}"})
    store.record_page(db, None, source_id="s", district="d", url=url, http_status=200, page=page,
                      body=b"<html/>", encoding="utf-8", headers={})
    return db.execute("SELECT id FROM documents WHERE url = ?", [url]).fetchone()[0]


def _fetched(db, body: bytes) -> attachments.Fetched:
    extracted = filetext.extract(body)
    with transaction(db) as conn:
        digest = attachments.save_file(conn, body, extracted.mime)
    return attachments.Fetched("u", digest, len(body), extracted)


def test_each_distinct_file_once_and_versions_only_on_change(tmp_path):
    db = connect(tmp_path / "archive.db")
    doc = _document(db)
    [att] = attachments.to_fetch(db, doc)
    one, two = pdf_file(["全年收案128件"]), pdf_file(["全年收案131件"])
    assert attachments.record(db, att["id"], _fetched(db, one)) == "new"
    assert attachments.record(db, att["id"], _fetched(db, one)) == "unchanged"
    assert attachments.record(db, att["id"], attachments.Fetched("u")) == "unchanged"  # a 304
    assert attachments.record(db, att["id"], _fetched(db, two)) == "new"
    assert attachments.record(db, att["id"], _fetched(db, one)) == "new"  # back to the first file
    assert db.execute("SELECT count(*) FROM files").fetchone()[0] == 2
    assert attachments.load_file(db, attachments.versions(db, doc)[0]["versions"][0]["file_hash"]) == one
    assert [v["chars"] for v in attachments.versions(db, doc)[0]["versions"]] == [8, 8, 8]
    docx = docx_file(["附表"])
    with transaction(db) as conn:
        digest = attachments.save_file(conn, docx, filetext.DOCX)
    assert db.execute("SELECT compression, body FROM files WHERE hash = ?", [digest]).fetchone() == (None, docx)
    diff = attachments.attachment_diff(db, db["documents"].get(doc), att["id"])
    assert [(op.old, op.new) for op in diff.changes if op.op != "equal"] == [("131", "128")]
    db.close()


def test_a_file_two_documents_link_is_stored_once_and_a_304_for_the_second_gives_it_the_file(tmp_path):
    db = connect(tmp_path / "archive.db")
    shared = ("http://www.example.gov.cn/f/申请表.pdf", "申请表.pdf")
    doc1 = _document(db, "http://www.example.gov.cn/t/1.html", [shared])
    doc2 = _document(db, "http://www.example.gov.cn/t/2.html", [shared])
    [att1], [att2] = attachments.to_fetch(db, doc1), attachments.to_fetch(db, doc2)
    body = pdf_file(["政府信息公开申请表"])
    fetched = _fetched(db, body)
    assert attachments.record(db, att1["id"], dataclasses.replace(fetched, url=shared[0])) == "new"
    # in one run the media pipeline asks the URL once: doc1's conditional request got a 304 for both
    assert attachments.record(db, att2["id"], attachments.Fetched(shared[0])) == "new"
    assert attachments.record(db, att2["id"], attachments.Fetched(shared[0])) == "unchanged"
    [v1], [v2] = (a["versions"] for d in (doc1, doc2) for a in attachments.versions(db, d))
    assert v1["file_hash"] == v2["file_hash"] and v2["chars"] == 9
    assert db.execute("SELECT count(*) FROM files").fetchone()[0] == 1
    db.close()


def test_a_new_revision_keeps_one_attachment_row_per_url(tmp_path):
    db = connect(tmp_path / "archive.db")
    url = "http://www.example.gov.cn/t/1.html"
    doc = _document(db, url, [("http://www.example.gov.cn/f/a.pdf", "a.pdf")])
    from archive import store
    from crawler.extract import Page

    page = Page(title="某区2024年法治政府建设年度报告(更新)", published="2025-01-01", publisher="某区司法局",
                report_year=2024, text="正文第一段。\n正文第二段(修订)。",
                attachments=[("http://www.example.gov.cn/f/a.pdf", "a(修订).pdf"),
                             ("http://www.example.gov.cn/f/b.xlsx", "b.xlsx")])
    assert store.record_page(db, None, source_id="s", district="d", url=url, http_status=200, page=page,
                             body=b"<html>2</html>", encoding="utf-8", headers={}) == "changed"
    rows = list(db.query("SELECT url, text, revision_id FROM attachments ORDER BY id"))
    latest = db.execute("SELECT latest_revision_id FROM documents WHERE id = ?", [doc]).fetchone()[0]
    assert rows == [{"url": "http://www.example.gov.cn/f/a.pdf", "text": "a(修订).pdf", "revision_id": latest},
                    {"url": "http://www.example.gov.cn/f/b.xlsx", "text": "b.xlsx", "revision_id": latest}]
    assert db.execute("SELECT count(*) FROM attachment_links").fetchone()[0] == 3
    db.close()


OLD_ATTACHMENTS = ("CREATE TABLE [attachments] ([id] INTEGER PRIMARY KEY, [document_id] INTEGER REFERENCES "
                   "[documents]([id]), [revision_id] INTEGER REFERENCES [revisions]([id]), [url] TEXT, [text] TEXT)")


def test_an_archive_from_before_attachment_versions_is_migrated_in_place(tmp_path):
    """An archive as today's code wrote it (one attachments row per revision and URL) opens with one row
    per document and URL, every old row kept as a link, ids of the first rows kept."""
    path = tmp_path / "archive.db"
    db = connect(path)
    doc1 = _document(db, "http://www.example.gov.cn/t/1.html", [])
    doc2 = _document(db, "http://www.example.gov.cn/t/2.html", [])
    revs = {}
    for doc in (doc1, doc2):
        for n in range(3):
            revs[doc, n] = db.execute("INSERT INTO revisions (document_id, fetched_at, content_hash, text) "
                                      "VALUES (?, ?, ?, ?)", [doc, f"2025-01-0{n + 1}", f"h{doc}{n}", "t"]).lastrowid
    db.close()
    conn = sqlite3.connect(path)  # back to the old schema, then the rows the old add_revision wrote
    conn.executescript("DROP TABLE attachment_revisions_fts; DROP TABLE attachment_revisions; DROP TABLE files;"
                       "DROP TABLE attachment_links; DROP TABLE attachments;" + OLD_ATTACHMENTS + ";"
                       "CREATE INDEX idx_attachments_revision_id ON attachments (revision_id);")
    old_rows = [
        (doc1, revs[doc1, 0], "http://x.gov.cn/a.pdf", "报告.pdf"),
        (doc1, revs[doc1, 0], "http://x.gov.cn/b.xls", "附表.xls"),
        (doc1, revs[doc1, 1], "http://x.gov.cn/a.pdf", "报告.pdf"),
        (doc1, revs[doc1, 2], "http://x.gov.cn/a.pdf", "报告(更正).pdf"),
        (doc2, revs[doc2, 0], "http://x.gov.cn/a.pdf", "同一文件.pdf"),
    ]
    conn.executemany("INSERT INTO attachments (document_id, revision_id, url, text) VALUES (?, ?, ?, ?)", old_rows)
    conn.execute("INSERT INTO revisions_fts (rowid, title, text) VALUES (999999, 'sentinel', '')")
    conn.commit()
    conn.close()

    db = connect(path)
    got = list(db.query("SELECT id, document_id, revision_id, url, text FROM attachments ORDER BY id"))
    assert got == [
        {"id": 1, "document_id": doc1, "revision_id": revs[doc1, 2], "url": "http://x.gov.cn/a.pdf",
         "text": "报告(更正).pdf"},
        {"id": 2, "document_id": doc1, "revision_id": revs[doc1, 0], "url": "http://x.gov.cn/b.xls",
         "text": "附表.xls"},
        {"id": 5, "document_id": doc2, "revision_id": revs[doc2, 0], "url": "http://x.gov.cn/a.pdf",
         "text": "同一文件.pdf"},
    ]
    links = db.execute("SELECT a.document_id, l.revision_id, a.url, l.text FROM attachment_links l "
                       "JOIN attachments a ON a.id = l.attachment_id ORDER BY l.revision_id, a.url").fetchall()
    assert sorted(links) == sorted(old_rows)  # not one old row lost
    with pytest.raises(sqlite3.IntegrityError):  # and from now on one row per document and URL
        db.execute("INSERT INTO attachments (document_id, url) VALUES (?, ?)", [doc1, "http://x.gov.cn/a.pdf"])
    assert {"files", "attachment_revisions", "attachment_revisions_fts"} <= set(db.table_names())
    # only the new search table was filled: the revisions' index was not rebuilt from scratch
    assert db.execute("SELECT title FROM revisions_fts WHERE rowid = 999999").fetchone() == ("sentinel",)
    db.close()
    again = connect(path)  # opening again changes nothing
    assert list(again.query("SELECT id, document_id, revision_id, url, text FROM attachments ORDER BY id")) == got
    again.close()


def test_reextract_adds_a_version_only_where_the_stored_file_reads_differently(tmp_path):
    db = connect(tmp_path / "archive.db")
    doc = _document(db, links=[("http://www.example.gov.cn/f/a.pdf", "a.pdf"),
                               ("http://www.example.gov.cn/f/b.ofd", "b.ofd")])
    first, second = attachments.to_fetch(db, doc)
    pdf, ofd = pdf_file(["复议案件128件"]), ofd_file([["执法监督"]])
    attachments.record(db, first["id"], _fetched(db, pdf))
    stale = _fetched(db, ofd)  # as an older reader left it: no text, an error
    attachments.record(db, second["id"], attachments.Fetched(
        "u", stale.file_hash, stale.size, filetext.Extracted(filetext.OFD, None, "cannot read OFD", "filetext-0")))
    assert attachments.reextract_files(db) == {"files": 2, "changed": 1, "unchanged": 1, "missing": 0}
    latest = attachments.versions(db, doc)[1]["versions"]
    assert [(v["error"], v["chars"], v["file_hash"]) for v in latest] == [
        ("cannot read OFD", None, stale.file_hash), (None, 4, stale.file_hash)]
    assert [r["id"] for r in search.search(db, "执法", table="attachment_revisions")] == [latest[1]["id"]]
    assert attachments.reextract_files(db)["changed"] == 0
    db.close()
