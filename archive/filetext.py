"""What an attachment is (sniffed from its bytes) and its text, one paragraph per line.

    kind = sniff(body)                      # 'application/pdf', never trusted from a URL or header
    result = extract(body, time_limit=60)   # Extracted(mime, text, error, extractor)

Text-extracted: PDF (pdfminer.six, CID fonts mapped through its CMaps), DOCX (python-docx), XLSX
(openpyxl: a row per line, cells joined by " | "), XLS / ET (xlrd, the same way), OFD (its XML text
objects, page by page), TXT (decoded as pages are), ZIP (the names of its members). Stored only: legacy
Word / WPS documents (OLE2), for which no maintained pure-Python reader exists.
A bad file (truncated, encrypted, corrupt, a zip bomb, an HTML page) gives `error` and no text; nothing
here raises for bad input. Runs in the crawl's extraction workers (crawler/workers.py).
"""
from __future__ import annotations

import io
import re
import signal
import threading
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from xml.etree import ElementTree

from archive.store import normalize

FILETEXT_VERSION = "filetext-1"
DEFAULT_TIME_LIMIT = 120.0  # seconds of extraction per file (pdfminer reads ~5 pages a second)
# A zip (DOCX, XLSX, OFD, ZIP) whose members would inflate past this, or past MAX_RATIO × its own size
# (and beyond BOMB_FLOOR), is a zip bomb: never inflated.
MAX_UNCOMPRESSED = 512 * 1024 * 1024
MAX_RATIO = 100
BOMB_FLOOR = 16 * 1024 * 1024
# Memory one extraction may take beyond what the process holds (a PDF stream or an XML part can inflate
# a thousandfold: a 50 MB file could otherwise ask for 50 GB and take the machine down, not just a worker).
DEFAULT_MEMORY_LIMIT = 1024 * 1024 * 1024

PDF, DOCX, XLSX, OFD, ZIP = ("application/pdf",
                             "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                             "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                             "application/ofd", "application/zip")
DOC, XLS, OLE = "application/msword", "application/vnd.ms-excel", "application/x-ole-storage"
TXT, HTML, BINARY = "text/plain", "text/html", "application/octet-stream"
# Formats that are compressed already: stored as they are, not zlib-compressed again.
COMPRESSED = frozenset({DOCX, XLSX, OFD, ZIP})

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
# An HTML page: after an optional XML prolog (XHTML error pages) and comments, a tag only pages open with.
_HTML_RE = re.compile(rb"^\s*(?:<\?xml[^>]*\?>\s*)?(?:<!--.*?-->\s*)*"
                      rb"<(?:!doctype\s+html|html|head|body|script|meta|title|style|link|frameset)\b",
                      re.IGNORECASE | re.DOTALL)


def _utf16(name: str) -> bytes:
    return name.encode("utf-16-le")


@dataclass(frozen=True)
class Extracted:
    """An attachment's sniffed type and its text, or why there is none."""

    mime: str
    text: str | None
    error: str | None
    extractor: str | None


class BadFile(ValueError):
    """A file that cannot be read: the message says what is wrong, in one line."""


def sniff(body: bytes) -> str:
    """The file's type from its magic bytes (and, for zips and OLE2, the names inside)."""
    head = body[:1024]
    if body.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if body.startswith(b"PK\x03\x04") or body.startswith(b"PK\x05\x06"):
        try:
            names = set(zipfile.ZipFile(io.BytesIO(body)).namelist())
        except (zipfile.BadZipFile, ValueError, OSError):
            return ZIP
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return XLSX
        if "OFD.xml" in names:
            return OFD
        return ZIP
    if body.startswith(OLE_MAGIC):
        if _utf16("WordDocument") in body:
            return DOC
        if _utf16("Workbook") in body or _utf16("Book\0") in body:
            return XLS
        return OLE
    if b"%PDF-" in head:  # the header may follow some junk within the first KB
        return PDF
    if _HTML_RE.match(head):
        return HTML
    from crawler.guard import binary_kind, decode_body

    if b"\0" not in head and binary_kind(body) is None:
        if decode_body(body[:65536], None) is not None:
            return TXT
    return BINARY


def extract(body: bytes, *, time_limit: float | None = DEFAULT_TIME_LIMIT,
            memory_limit: int | None = DEFAULT_MEMORY_LIMIT) -> Extracted:
    """Sniff `body` and extract its text within `time_limit` seconds and `memory_limit` more bytes of
    address space; never raises for a bad file."""
    if not body:
        return Extracted(BINARY, None, "empty file", FILETEXT_VERSION)
    mime = sniff(body)
    reader = READERS.get(mime)
    if mime == HTML:
        return Extracted(mime, None, "an HTML page, not a file (an error page served under a file's name?)",
                         FILETEXT_VERSION)
    if mime == BINARY:
        return Extracted(mime, None, "not a known file type (unrecognised bytes)", FILETEXT_VERSION)
    if mime in (OLE, DOC, XLS):
        problem = _ole_problem(body)
        if problem:
            return Extracted(mime, None, problem, FILETEXT_VERSION)
    if reader is None:  # legacy OLE2 formats: stored only
        return Extracted(mime, None, None, None)
    try:
        with _time_limit(time_limit), _memory_limit(memory_limit):
            if mime in COMPRESSED:
                _check_zip(body)
            text = normalize(reader(body))
    except _TimeUp:
        return Extracted(mime, None, f"text extraction took over {time_limit:g} s", FILETEXT_VERSION)
    except BadFile as exc:
        return Extracted(mime, None, str(exc), FILETEXT_VERSION)
    except RecursionError:
        return Extracted(mime, None, "corrupt file: nested too deeply", FILETEXT_VERSION)
    except MemoryError:
        return Extracted(mime, None, "file too large to read in memory", FILETEXT_VERSION)
    except Exception as exc:  # noqa: BLE001 -- any parser error on a bad file becomes the file's error
        message = " ".join(str(exc).split())[:300]
        return Extracted(mime, None, f"cannot read {_NAMES[mime]}: {type(exc).__name__}: {message}".rstrip(": "),
                         FILETEXT_VERSION)
    return Extracted(mime, text, None, FILETEXT_VERSION)


# --- time limit --------------------------------------------------------------------------------------

class _TimeUp(BaseException):
    """Raised by the interval timer (a BaseException, so parsers' `except Exception` cannot swallow it)."""


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Interrupt the block after `seconds` (SIGALRM; only in a main thread, e.g. an extraction worker)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def alarm(_signum, _frame):
        raise _TimeUp

    previous = signal.signal(signal.SIGALRM, alarm)
    try:
        signal.setitimer(signal.ITIMER_REAL, seconds)
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _memory_limit(extra: int | None) -> Iterator[None]:
    """Cap the process's address space at its present size plus `extra` bytes for the block, so an
    inflating file raises MemoryError instead of exhausting the machine (Linux; only in a main thread,
    as the cap is the whole process's: an extraction worker, or a CLI)."""
    try:
        import resource

        with open("/proc/self/statm") as statm:
            in_use = int(statm.read().split()[0]) * resource.getpagesize()
    except (ImportError, OSError, ValueError):
        in_use = None
    if not extra or in_use is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = in_use + extra
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    if soft != resource.RLIM_INFINITY:
        cap = min(cap, soft)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _ole_problem(body: bytes) -> str | None:
    """Why an OLE2 compound file (legacy Office, WPS) is unusable: encrypted, or cut before its directory."""
    if _utf16("EncryptedPackage") in body:
        return "encrypted Office document"
    if len(body) < 512:
        return "truncated OLE2 file (no complete header)"
    sector = 1 << int.from_bytes(body[0x1E:0x20], "little")
    directory = int.from_bytes(body[0x30:0x34], "little")
    if sector not in (512, 4096) or (directory + 1) * sector >= len(body):
        return "truncated or corrupt OLE2 file (its directory is missing)"
    return None


def _check_zip(body: bytes) -> None:
    """Refuse a zip bomb before anything inflates it (the sizes its directory declares)."""
    try:
        infos = zipfile.ZipFile(io.BytesIO(body)).infolist()
    except zipfile.BadZipFile as exc:
        raise BadFile(f"corrupt or truncated zip container: {exc}") from None
    total = sum(i.file_size for i in infos)
    if any(i.flag_bits & 0x1 for i in infos):
        raise BadFile("encrypted zip member")
    if total > MAX_UNCOMPRESSED or (total > BOMB_FLOOR and total > MAX_RATIO * max(len(body), 1)):
        raise BadFile(f"zip bomb: {len(body)} bytes would inflate to {total}")


# --- readers -----------------------------------------------------------------------------------------

def pdf_text(body: bytes) -> str:
    """Each pdfminer text box one paragraph (its lines joined), pages in order."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LAParams, LTTextContainer
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect

    out: list[str] = []
    try:
        for page in extract_pages(io.BytesIO(body), laparams=LAParams()):
            for element in page:
                if isinstance(element, LTTextContainer):
                    out.append(_join_lines(element.get_text().splitlines()))
    except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
        raise BadFile(f"encrypted PDF: {type(exc).__name__}") from None
    text = "\n".join(out)
    unmapped = len(_CID_RE.findall(text))
    if unmapped and unmapped * 2 >= len(_CID_RE.sub("x", "".join(text.split()))):
        raise BadFile(f"PDF whose fonts have no Unicode map: {unmapped} glyphs readable only as (cid:N) codes")
    return text


# pdfminer's placeholder for a glyph of a CID font it cannot map to Unicode (an embedded Identity-H font
# without a ToUnicode CMap): text made mostly of these is not the document's text.
_CID_RE = re.compile(r"\(cid:\d+\)")


def _join_lines(lines: list[str]) -> str:
    """Lines of one paragraph as one: no space between CJK, one space between Latin words."""
    text = ""
    for line in (x.strip() for x in lines):
        if not line:
            continue
        if text and text[-1].isascii() and text[-1].isalnum() and line[0].isascii() and line[0].isalnum():
            text += " "
        text += line
    return text


def docx_text(body: bytes) -> str:
    """Paragraphs and tables (a row per line, cells joined by " | ") in document order."""
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(body))
    out: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                out.append(_row(cell.text for cell in row.cells))
        else:
            out.append(block.text)
    return "\n".join(out)


def _row(cells) -> str:
    values = [" ".join(str(c).split()) for c in cells]
    while values and not values[-1]:
        values.pop()
    return " | ".join(values)


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def xlsx_text(body: bytes) -> str:
    """Every sheet's rows, one per line, cells joined by " | " (the sheet's name first when several)."""
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(body), read_only=True, data_only=True)
    try:
        out: list[str] = []
        for sheet in book.worksheets:
            if len(book.worksheets) > 1:
                out.append(sheet.title)
            for row in sheet.iter_rows(values_only=True):
                out.append(_row(_cell(v) for v in row))
        return "\n".join(out)
    finally:
        book.close()


_OFD_NS = "{http://www.ofdspec.org/2016}"


def ofd_text(body: bytes) -> str:
    """OFD (GB/T 33190): OFD.xml → DocRoot → Pages in order; on each page the TextCode of every
    TextObject, placed by position, text objects on one baseline joined into one line."""
    archive = zipfile.ZipFile(io.BytesIO(body))

    def xml(path: str) -> ElementTree.Element:
        try:
            return ElementTree.fromstring(archive.read(path.lstrip("/")))
        except KeyError:
            raise BadFile(f"OFD without {path}") from None
        except ElementTree.ParseError as exc:
            raise BadFile(f"OFD with broken XML in {path}: {exc}") from None

    out: list[str] = []
    for doc_root in xml("OFD.xml").iter(f"{_OFD_NS}DocRoot"):
        doc_path = (doc_root.text or "").strip()
        base = doc_path.rsplit("/", 1)[0] + "/" if "/" in doc_path else ""
        document = xml(doc_path)
        for page in document.iter(f"{_OFD_NS}Page"):
            loc = page.get("BaseLoc") or ""
            out.extend(_ofd_lines(xml(loc if loc.startswith("/") else base + loc)))
    return "\n".join(out)


def _ofd_lines(content: ElementTree.Element) -> list[str]:
    pieces: list[tuple[float, float, str]] = []
    for obj in content.iter(f"{_OFD_NS}TextObject"):
        bx, by = (_floats(obj.get("Boundary")) + [0.0, 0.0])[:2]
        for code in obj.iter(f"{_OFD_NS}TextCode"):
            x, y = float(code.get("X") or 0), float(code.get("Y") or 0)
            pieces.append((by + y, bx + x, code.text or ""))
    pieces.sort()
    lines: list[list[tuple[float, str]]] = []
    last_y: float | None = None
    for y, x, text in pieces:
        if last_y is None or abs(y - last_y) > 1.0:
            lines.append([])
        lines[-1].append((x, text))
        last_y = y
    return ["".join(t for _, t in sorted(line)) for line in lines]


def _floats(value: str | None) -> list[float]:
    try:
        return [float(v) for v in (value or "").split()]
    except ValueError:
        return []


def xls_text(body: bytes) -> str:
    """Legacy Excel / WPS ET (OLE2 BIFF8) with xlrd, laid out as XLSX is."""
    import xlrd

    try:
        book = xlrd.open_workbook(file_contents=body, on_demand=True)
    except xlrd.biffh.XLRDError as exc:
        message = str(exc)
        if "encrypt" in message.lower():
            raise BadFile(f"encrypted XLS: {message}") from None
        raise BadFile(f"cannot read XLS: {message}") from None
    try:
        out: list[str] = []
        sheets = book.sheet_names()
        for index, name in enumerate(sheets):
            sheet = book.sheet_by_index(index)
            if len(sheets) > 1:
                out.append(name)
            for r in range(sheet.nrows):
                out.append(_row(_cell(v if v != "" else None) for v in sheet.row_values(r)))
        return "\n".join(out)
    finally:
        book.release_resources()


def txt_text(body: bytes) -> str:
    from crawler.guard import decode_body

    decoded = decode_body(body, None)
    if decoded is None:
        raise BadFile("text file that cannot be decoded without losing characters")
    return decoded[0]


def zip_text(body: bytes) -> str:
    """A plain zip: the names of its files, one per line."""
    return "\n".join(i.filename for i in zipfile.ZipFile(io.BytesIO(body)).infolist() if not i.is_dir())


READERS: dict[str, Callable[[bytes], str]] = {
    PDF: pdf_text, DOCX: docx_text, XLSX: xlsx_text, OFD: ofd_text, TXT: txt_text, ZIP: zip_text, XLS: xls_text,
}
_NAMES = {PDF: "PDF", DOCX: "DOCX", XLSX: "XLSX", OFD: "OFD", TXT: "text file", ZIP: "zip", XLS: "XLS"}
SHORT = {PDF: "pdf", DOCX: "docx", XLSX: "xlsx", OFD: "ofd", TXT: "txt", ZIP: "zip", DOC: "doc/wps",
         XLS: "xls/et", OLE: "ole2", HTML: "html", BINARY: "unknown"}


def short_name(mime: str | None) -> str:
    """A sniffed type's short name for listings (pdf, docx, …)."""
    return SHORT.get(mime or "", mime or "-")
