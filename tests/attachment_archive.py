"""An archive with attachment versions, made by the real spider from the files replica (tests/sites/files.py):
a report page linking a PDF and a DOCX; the PDF is then replaced by one where a figure changed. Used by the
tests of what readers see of attachments (document page and diff page, search, events and notifications)."""
from __future__ import annotations

from pathlib import Path

from tests.crawling import crawl, rows
from tests.sites.files import FilesSite, docx_file, pdf_file

REPORT = ["某区2024年法治政府建设年度报告", "一、全年办理行政复议案件128件,纠错率百分之九。",
          "二、行政机关负责人出庭应诉率达到百分之百。"]
FIXED = [REPORT[0], REPORT[1].replace("128", "131"), REPORT[2]]
# scraped link text is hostile until proven otherwise: every reader must escape it
LINK_TEXT = "年度报告全文<script>alert(1)</script>.pdf"


def serve(site: FilesSite) -> None:
    """The report page links report.pdf (REPORT) and table.docx."""
    site.files["report.pdf"] = pdf_file(REPORT)
    site.files["table.docx"] = docx_file(["附表说明:行政复议决定书公开情况"], [["类别", "件数"], ["维持", "97"]])
    site.link_text["report.pdf"] = LINK_TEXT


def crawled(site: FilesSite, config: Path, db: Path) -> None:
    result = crawl(config, db, "replica-files")
    assert result.returncode == 0, result.stderr[-2000:]


def replace_pdf(site: FilesSite, config: Path, db: Path) -> dict:
    """Serve the PDF with the changed figure and crawl again; ids of the document, the PDF's attachment
    and its two versions (old, new)."""
    site.files["report.pdf"] = pdf_file(FIXED)
    crawled(site, config, db)
    [att] = rows(db, "select id, document_id from attachments where url like '%/report.pdf'")
    old, new = (r["id"] for r in rows(db, "select id from attachment_revisions where attachment_id = ? order by id",
                                      [att["id"]]))
    return {"document": att["document_id"], "attachment": att["id"], "old": old, "new": new}


def build(tmp_path: Path, **source: object) -> tuple[Path, dict]:
    """A fresh archive crawled twice (the PDF replaced in between); its path and the ids of replace_pdf."""
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        serve(site)
        config = site.source_yaml(tmp_path / "sources.yaml", **source)
        crawled(site, config, db)
        ids = replace_pdf(site, config, db)
    return db, ids
