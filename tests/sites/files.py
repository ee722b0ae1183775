"""Report attachments made by the tests, and a replica report page that links them.

The files are built with the tools offices use to make them: a PDF with reportlab's STSong-Light, an
Adobe CID font that is *not* embedded (as PDFs exported by WPS and older Acrobat versions are, which is
why a Chinese PDF's text needs the reader's CMaps), a DOCX with python-docx, an XLSX with openpyxl, and
an OFD built by hand after GB/T 33190-2016: a zip with OFD.xml → Doc_0/Document.xml → Pages/Page_N/
Content.xml, text in TextObject/TextCode elements positioned in millimetres. (Evidence for that layout:
mcoder2014/ofdEditor, ofd/DataTypes/document/DocBody.h — DocBody's DocInfo and DocRoot; OFD readers' own
test fixtures and comments quote real invoices as `<ofd:TextObject ID=".." Boundary="x y w h" Font=".."
Size=".."><ofd:TextCode X="0" Y="5.68">…</ofd:TextCode>`, namespace http://www.ofdspec.org/2016.)

    with FilesSite() as site:
        site.files["report.pdf"] = pdf_file(["…"])     # serve (and later replace) a file
        site.url("/xxgk/report.html")                    # the report page that links every file
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Sequence
from typing import Any

from .server import ReplicaSite, Request, Response, esc


def pdf_file(paragraphs: Sequence[str]) -> bytes:
    """A one-page Chinese PDF: STSong-Light (UniGB-UCS2-H), not embedded."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4, invariant=1)
    pdf.setFont("STSong-Light", 12)
    y = 780
    for paragraph in paragraphs:
        pdf.drawString(60, y, paragraph)
        y -= 40
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def docx_file(paragraphs: Sequence[str], table: Sequence[Sequence[str]] = ()) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    out = io.BytesIO()
    document.save(out)
    return _fixed_zip_times(out.getvalue())


def xlsx_file(rows: Sequence[Sequence[Any]], title: str = "Sheet1") -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return _fixed_zip_times(out.getvalue())


def xls_file(rows: Sequence[Sequence[Any]], title: str = "Sheet1") -> bytes:
    """A legacy Excel 97–2003 workbook (OLE2 / BIFF8), as older office suites and WPS save .xls / .et."""
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet(title)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _fixed_zip_times(data: bytes) -> bytes:
    """The same zip with every member dated 2024-01-01 and openpyxl's created/modified stamps fixed, so
    the same content gives the same bytes (as a file on a server does between two fetches)."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            body = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                import re

                body = re.sub(rb"(<dcterms:(?:created|modified)[^>]*>)[^<]*", rb"\g<1>2024-01-01T00:00:00Z", body)
            target.writestr(zipfile.ZipInfo(info.filename, (2024, 1, 1, 0, 0, 0)), body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


OFD_NS = "http://www.ofdspec.org/2016"


def ofd_file(pages: Sequence[Sequence[str]]) -> bytes:
    """An OFD with one TextObject per line (each line's TextCode), pages in order. The TextObjects of a
    page are written bottom line first, so a reader must place them by position, not by file order."""
    def xml(body: str) -> bytes:
        return f'<?xml version="1.0" encoding="UTF-8"?>\n{body}'.encode()

    files = {
        "OFD.xml": xml(f'<ofd:OFD xmlns:ofd="{OFD_NS}" Version="1.0" DocType="OFD"><ofd:DocBody>'
                       '<ofd:DocInfo><ofd:DocID>replica</ofd:DocID></ofd:DocInfo>'
                       '<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>'),
    }
    page_refs = "".join(f'<ofd:Page ID="{n + 10}" BaseLoc="Pages/Page_{n}/Content.xml"/>' for n in range(len(pages)))
    files["Doc_0/Document.xml"] = xml(
        f'<ofd:Document xmlns:ofd="{OFD_NS}"><ofd:CommonData><ofd:MaxUnitID>99</ofd:MaxUnitID>'
        '<ofd:PageArea><ofd:PhysicalBox>0 0 210 297</ofd:PhysicalBox></ofd:PageArea>'
        f'</ofd:CommonData><ofd:Pages>{page_refs}</ofd:Pages></ofd:Document>')
    for n, lines in enumerate(pages):
        objects = []
        for i, line in reversed(list(enumerate(lines))):
            objects.append(f'<ofd:TextObject ID="{100 + i}" Boundary="20 {30 + 10 * i} 170 8" Font="1" Size="4">'
                           f'<ofd:TextCode X="0" Y="5">{esc(line)}</ofd:TextCode></ofd:TextObject>')
        files[f"Doc_0/Pages/Page_{n}/Content.xml"] = xml(
            f'<ofd:Page xmlns:ofd="{OFD_NS}"><ofd:Content><ofd:Layer ID="2">{"".join(objects)}'
            '</ofd:Layer></ofd:Content></ofd:Page>')
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, body in files.items():
            target.writestr(zipfile.ZipInfo(name, (2024, 1, 1, 0, 0, 0)), body, zipfile.ZIP_DEFLATED)
    return out.getvalue()


REPORT = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title></head>
<body><div class="header"><a href="/">首页</a> &gt; <a href="/xxgk/">政务公开</a></div>
<div class="article"><h1>{title}</h1>
<div class="info">发布时间:2025-03-28 来源:某区司法局</div>
<div class="content">
<p>根据《法治政府建设与责任落实督察工作规定》,现将某区2024年法治政府建设年度报告全文及附表公布如下。</p>
<p>报告全文、统计表和版式文件见附件,欢迎社会各界监督。</p>
{links}
</div></div><div class="footer">主办单位:某区人民政府办公室</div></body></html>"""

LISTING = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>法治政府建设</title></head>
<body><ul class="list"><li><a href="/xxgk/report.html">{title}</a><span>2025-03-28</span></li></ul></body></html>"""


class FilesSite(ReplicaSite):
    """One disclosure column with one report page whose attachments are in `files` (name → bytes),
    served with an ETag per content and 304 to a matching If-None-Match; every request is logged."""

    key = "files"
    name = "某区人民政府(附件)"
    district = "某区"
    start_path = "/xxgk/index.html"
    article_urls = (r"/xxgk/report\.html$",)
    title = "某区2024年法治政府建设年度报告"

    def __init__(self) -> None:
        super().__init__(farm=self)  # the site is its own farm (state and request log)
        self.state = 1
        self.files: dict[str, bytes] = {}
        self.link_text: dict[str, str] = {}
        self.requests: list[tuple[str, int, dict[str, str]]] = []

    def __enter__(self) -> FilesSite:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_request(self, site: str, path: str, status: int) -> None:
        self.requests.append((path, status, {}))

    def fetched(self, path: str) -> list[int]:
        """Statuses of the requests for `path`, in order."""
        return [status for p, status, _ in self.requests if p == path]

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/files/") and request.path not in self.routes:
            name = request.path.removeprefix("/files/")
            if name not in self.files:
                return self.not_found()
            body = self.files[name]
            etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
            asked = {k.lower(): v for k, v in request.headers.items()}.get("if-none-match")
            if asked == etag:
                return Response(304, b"", headers={"ETag": etag})
            return Response(200, body, "application/octet-stream", headers={"ETag": etag})
        return super().handle(request)

    def page(self, request: Request, state: int) -> Response | None:
        if request.path == self.start_path:
            return Response(200, LISTING.format(title=self.title))
        if request.path == "/xxgk/report.html":
            links = "\n".join(f'<p>附件{n}:<a href="/files/{esc(name)}">{esc(self.link_text.get(name, name))}</a></p>'
                              for n, name in enumerate(self.files, 1))
            return Response(200, REPORT.format(title=self.title, links=links))
        return None

    def live(self, state: int) -> list:
        return []

    def source_yaml(self, path, **extra: Any):
        """A sources.yaml with this site as source `replica-files`, fast politeness for tests."""
        import yaml

        entry = {**self.source_entry(), **extra}
        entry["settings"] = {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False, "ZWGK_RETRY_BACKOFF": 0,
                             "RETRY_TIMES": 0, **entry.get("settings", {})}
        path.write_text(yaml.safe_dump({"sources": [entry]}, allow_unicode=True), encoding="utf-8")
        return path
