"""Extraction stage: one decoded HTML page in, a `Page` (chrome-free text + metadata) out.

    from crawler.extract import extract_page
    page = extract_page(html, url, site_name="南山区人民政府", prune=[".my-widget"])

Stateless and thread/process-safe: rules are loaded once (immutable), nothing is cached between pages
(trafilatura's deduplicate cache is never used, so recrawls see the same text).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urljoin

from .dates import dateline, fallback_date, labelled_date, parse_date, parse_epoch_or_date
from .jsobject import read_assigned
from .meta import (
    find_attachments,
    find_publisher,
    find_record,
    guess_title,
    meta_content,
    opening_sentence,
    report_year,
)
from .rules import RulesError, extra_prune, load_rules
from .text import (
    block_text,
    clean_lines,
    content_root,
    flatten_layout_tables,
    parse_html,
    prune_headed_blocks,
    serialized_lines,
    strip_edges,
    trafilatura_text,
)
from .text import prune as prune_tree
from .volatile import scrub_tree, strip_volatile

# 2: a source line break inside text no longer splits a paragraph; <br> in a title heading; a column-name
#    heading inside <title> is not the title
# 3: stray </body>/</html> cannot end the document; a title wrapped over several lines at the head of the body
#    is dropped; shown publication/record dates beat PubDate; record 发布机构 beats an unshown source meta;
#    labelled source metas lose their label; info lines are cut from title elements; editor notes, "点击进入…>>"
#    and 【1】【2】 pagers are chrome (issue 11)
#    per-visit text (counters, clocks, "today" lines, weather; config/volatile.yaml) kept out of text and dates
EXTRACTOR_VERSION = "3"

__all__ = ["EXTRACTOR_VERSION", "Page", "RulesError", "extract_page"]

# hint key -> record field
HINT_RECORD_FIELDS = {"identifier": "索引号", "document_number": "文号"}


@dataclass
class Page:
    """What the archive stores of one article page."""

    title: str
    published: str | None  # YYYY-MM-DD
    publisher: str | None
    report_year: int | None
    text: str  # the body, one paragraph per line
    attachments: list[tuple[str, str]] = field(default_factory=list)  # (absolute url, link text)
    record: dict[str, str] = field(default_factory=dict)  # disclosure fields, e.g. {"索引号": ...}


def gkmlpt_detail(html: str) -> dict | None:
    """The DETAIL object of a gkmlpt article page (body in its "content"), if any.

    As deployed, DETAIL is a key of the page's config object literal: ``window._CONFIG = {SID: '755041',
    …, DETAIL: {"id": …, "content": "\\u003Cp…"}, TREE: […]}`` (unquoted keys, single-quoted strings,
    JSON-escaped content; see tests/real/SOURCES.md, "gkmlpt and source evidence"); some pages assign it
    apart, ``window._CONFIG.DETAIL = {…}``. Both are read with the tolerant object-literal reader."""
    if "DETAIL" not in html:
        return None
    config = read_assigned(html, "window._CONFIG")
    detail = config.get("DETAIL") if config else None
    if not isinstance(detail, dict):
        detail = read_assigned(html, "window._CONFIG.DETAIL")
    return detail if isinstance(detail, dict) and detail else None


def detail_hints(detail: dict) -> dict[str, str]:
    """Hints from a gkmlpt DETAIL object (same keys as the listing API's)."""
    hints: dict[str, str] = {}
    for key in ("title", "publisher", "identifier", "document_number"):
        if isinstance(detail.get(key), (str, int)) and str(detail[key]).strip():
            hints[key] = str(detail[key]).strip()
    if not hints.get("publisher") and isinstance(detail.get("source"), str) and detail["source"].strip():
        hints["publisher"] = detail["source"].strip()
    for key in ("published", "publish_date", "first_publish_time", "publish_time", "date", "created_at"):
        found = parse_epoch_or_date(detail.get(key)) if detail.get(key) not in (None, "") else None
        if found:
            hints["published"] = found
            break
    return hints


def detail_attachments(detail: dict, url: str) -> list[tuple[str, str]]:
    """Attachments a gkmlpt DETAIL lists apart from its content: [{"name", "url"}, …] → (url, name)."""
    found = []
    for item in detail.get("attachment") or detail.get("attachments") or []:
        if isinstance(item, dict) and isinstance(item.get("url") or item.get("link"), str):
            link = urljoin(url, (item.get("url") or item.get("link")).strip())
            name = str(item.get("name") or item.get("title") or link.rsplit("/", 1)[-1]).strip()
            found.append((link, name))
    return found


def extract_page(html: str, url: str, *, site_name: str | None = None, prune: Sequence[str] = (),
                 hints: Mapping[str, str] | None = None) -> Page:
    """Extract the chrome-free body and metadata of one article page.

    `html` is decoded text; `site_name` is the publisher fallback; `prune` adds per-source CSS selectors or
    XPaths to drop; `hints` (title, publisher, published, identifier, document_number) win over guesses.
    Raises ValueError (one line) for empty or unparseable HTML and RulesError for a bad prune selector.
    """
    if not isinstance(html, str):
        raise TypeError(f"extract_page needs decoded text, got {type(html).__name__}")
    rules = load_rules()
    extra = extra_prune(prune)
    given = {k: str(v).strip() for k, v in (hints or {}).items() if v is not None and str(v).strip()}
    detail = gkmlpt_detail(html)
    if detail:
        given = {**detail_hints(detail), **given}
    tree = parse_html(html)
    # every element's Python proxy kept alive for the whole extraction: lxml.html makes a dropped one anew
    # through a Python class lookup each time a later pass reaches its element again
    proxies = list(tree.iter())
    tree = scrub_tree(tree)  # per-visit text (counters, clocks) is never title, date or body
    scrubbed: dict[str, str] = {}  # line -> line without volatile text, for this page only
    lines = strip_volatile(block_text(tree), memo=scrubbed)

    record = find_record(lines, rules)
    for key, name in HINT_RECORD_FIELDS.items():
        if given.get(key):
            record[name] = given[key]
    guess = guess_title(tree, rules, site_name, record.get("名称"))
    order = {element: index for index, element in enumerate(tree.iter())}

    content = detail.get("content") if detail else None
    root = None
    if isinstance(content, str) and content.strip():
        body = parse_html(f"<html><body><div>{content}</div></body></html>")
        _prune(body, rules, extra)
        attachments = detail_attachments(detail, url) + find_attachments(body, url, rules)
        raw_text = serialized_lines(body)
    else:
        _prune(tree, rules, extra)
        attachments = find_attachments(tree, url, rules)
        flatten_layout_tables(tree)
        root = content_root(tree, rules)
        raw_text = serialized_lines(root) if root is not None else trafilatura_text(tree, url)

    title = given.get("title") or guess.choose(order, root)
    published = (parse_epoch_or_date(given.get("published"))
                 or labelled_date(lines, rules.shown_date_labels)
                 or parse_date(meta_content(tree, rules.date_metas))
                 or labelled_date(lines, rules.date_labels) or dateline(lines, title))
    publisher = given.get("publisher") or find_publisher(tree, lines, rules, site_name, record)
    if record and publisher and "发布机构" not in record and given.get("publisher"):
        record["发布机构"] = publisher

    drop = [text for _, text in attachments]
    body_lines = strip_edges(clean_lines(strip_volatile(raw_text, memo=scrubbed), rules, drop=drop), rules, title=title,
                             values=[publisher or "", *record.values()])
    text = "\n".join(body_lines)
    if not published:
        published = fallback_date(scrub_tree(parse_html(html)))
    del proxies
    return Page(title=title, published=published, publisher=publisher,
                report_year=report_year(title, opening_sentence(text)), text=text,
                attachments=attachments, record=record)


def _prune(tree, rules, extra) -> None:
    prune_tree(tree, rules.prune, rules)
    prune_headed_blocks(tree, rules)
    if extra:
        prune_tree(tree, extra, rules, guarded=False)
