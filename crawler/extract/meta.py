"""Metadata of an article page: title, publisher, disclosure record, report year, attachments.

All labels come from config/chrome.yaml; `page_lines` is the page read as plain lines (cells tab-separated),
so labelled values can be found whatever the markup.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from .dates import DATE_RE, parse_date
from .rules import Rules
from .text import WIDE, collapse_breaks, normalise_line

HEADING_XPATH = ("//h1 | //h2 | //h3 | //*[contains(translate(@class, 'TITLE', 'title'), 'title') or "
                 "contains(translate(@id, 'TITLE', 'title'), 'title')]")
TITLE_CASE = str.maketrans("TITLE", "title")  # what the XPath's translate() does


def headings(tree) -> list:
    """The elements HEADING_XPATH selects (h1-h3, a class or id holding "title" in any case of those
    letters), in document order: read in one pass over the elements, which libxml2's four scans and
    per-element translate() took several times as long to do."""
    found = []
    for element in tree.iter():
        tag = element.tag
        if isinstance(tag, str) and (tag in ("h1", "h2", "h3")
                                     or "title" in (element.get("class") or "").translate(TITLE_CASE)
                                     or "title" in (element.get("id") or "").translate(TITLE_CASE)):
            found.append(element)
    return found


def meta_content(tree, names: tuple[str, ...]) -> str | None:
    """The first non-empty <meta name|property=...> content among `names`, in that order."""
    metas: dict[str, str] = {}
    for meta in tree.iter("meta"):
        key = (meta.get("name") or meta.get("property") or meta.get("itemprop") or "").strip().lower()
        content = normalise_line(meta.get("content") or "")
        if key and content and key not in metas:
            metas[key] = content
    for name in names:
        if metas.get(name.lower()):
            return metas[name.lower()]
    return None


def _compact(text: str) -> str:
    return re.sub(r"\s+", "", text or "")


def title_parts(doc_title: str, rules: Rules) -> list[str]:
    """<title> split at the site-name separators ("报告_龙华区政府在线" → ["报告", "龙华区政府在线"])."""
    parts = [doc_title]
    for sep in rules.title_separators:
        parts = [p for part in parts for p in part.split(sep)]
    parts = [normalise_line(p) for p in parts if normalise_line(p)]
    if len(parts) == 1:  # "报告-龙华区政府在线": a dash only counts before a site-like tail
        for sep in rules.title_suffix_separators:
            head, found, tail = parts[0].rpartition(sep)
            if found and head.strip() and _site_like(tail, rules):
                return [normalise_line(head), normalise_line(tail)]
    return parts


def _site_like(text: str, rules: Rules) -> bool:
    """Reads as a site's name ("龙华区政府在线", "坪山区人民政府门户网站"), not an article title."""
    return (len(text) <= 20 and any(w in text for w in rules.title_site_words)
            and not re.search(r"\d|年|报告", text))


BR_MARK = "\x00"
BR_JOIN_RE = re.compile(rf"(?<=(.))\s*{BR_MARK}[\s{BR_MARK}]*(?=(.))", re.S)


def heading_text(element) -> str:
    """A heading's text on one line. A `<br>` in a heading wraps a long title: its lines join with no
    space next to a Chinese character ("…人民政府<br>2024年…" → "…人民政府2024年…"), one space otherwise."""
    parts = [element.text or ""]

    def walk(node) -> None:
        for child in node:
            if child.tag == "br":
                parts.append(BR_MARK)
            elif isinstance(child.tag, str):
                parts.append(child.text or "")
                walk(child)
            parts.append(child.tail or "")

    walk(element)
    text = collapse_breaks("".join(parts))
    wide = re.compile(f"[{WIDE}]")
    text = BR_JOIN_RE.sub(lambda m: "" if wide.match(m.group(1)) or wide.match(m.group(2)) else " ", text)
    return normalise_line(text.replace(BR_MARK, " "))


@dataclass
class TitleGuess:
    """What the page says about its title before the body is known: a sure title (meta, or a heading that
    matches <title>), else heading candidates (element, text) in document order and <title>'s main part."""

    sure: str | None
    candidates: list[tuple[object, str]]
    title_part: str
    split: bool = True  # <title> had a site part to cut off

    def choose(self, order: dict, root) -> str:
        """The sure title, else the heading nearest above the body root, else <title> minus the site part."""
        if self.sure:
            return self.sure
        nearest = None
        if root is not None and root in order:
            above = [text for element, text in self.candidates if order.get(element, -1) < order[root]]
            inside = [text for element, text in self.candidates
                      if order.get(element, -1) > order[root] and "。" not in text and len(text) <= 100]
            nearest = above[-1] if above else (inside[0] if inside else None)
        elif self.candidates:
            nearest = self.candidates[0][1]
        if nearest and (len(nearest) >= len(self.title_part) or not self.split):
            return nearest
        return self.title_part or nearest or ""


def guess_title(tree, rules: Rules, site_name: str | None, record_title: str | None = None) -> TitleGuess:
    """Title evidence of the unpruned page: ArticleTitle meta, the disclosure record's 标题/名称, headings
    (h1-h3, *title* classes), <title> split at the site separators; the site name is never a candidate."""
    doc_title = normalise_line(tree.findtext(".//title") or "")
    parts = title_parts(doc_title, rules) if doc_title else []
    site = _compact(site_name or "")
    article_parts = [p for p in parts if _compact(p) != site] or parts
    main_part = max(article_parts, key=len) if article_parts else ""
    site_like = {site} | {_compact(p) for p in parts if p != main_part}
    site_like.discard("")

    meta = meta_content(tree, rules.title_metas[:2])  # ArticleTitle-style metas are article titles
    if meta and _compact(meta) not in site_like:
        return TitleGuess(meta, [], main_part)
    if record_title and len(record_title) >= 4 and _compact(record_title) not in site_like:
        return TitleGuess(record_title, [], main_part)

    # <title> names the article (it has a site part, or reads as no site's name)
    names_article = (bool(main_part) and _compact(main_part) not in site_like | {site}
                     and (len(parts) > 1 or not _site_like(main_part, rules)))
    candidates = []
    for element in headings(tree):
        if element.tag in ("title", "meta", "html", "body", "head"):
            continue
        if names_article and _is_link(element):
            continue  # a sidebar or navigation link is not the title when <title> has one
        text = without_info_line(heading_text(element), rules)
        if 4 <= len(text) <= 200 and _compact(text) not in site_like:
            candidates.append((element, text))
    compact_main = _compact(main_part)
    if names_article:  # a heading repeating <title>'s article part is the title
        for _, text in candidates:
            if _compact(text) == compact_main:
                return TitleGuess(text, candidates, main_part)
    if compact_main and len(parts) > 1:  # a <title> without a site part may itself be the site's name
        for _, text in candidates:
            c = _compact(text)
            # a heading that starts like <title>'s part (which sites truncate with "…"), or most of it;
            # a short heading inside it (the column name "法治政府建设") is not the title
            if len(c) >= 6 and (c.startswith(compact_main.rstrip(".…"))
                                or (c in compact_main and len(c) >= rules.title_part_share * len(compact_main))):
                return TitleGuess(text, candidates, main_part)
    if not candidates:
        other = meta_content(tree, rules.title_metas[2:])
        if other and _compact(other) not in site_like and not main_part:
            main_part = other
    if len(parts) <= 1 and compact_main == site:
        main_part = ""
    return TitleGuess(None, candidates, main_part, split=len(parts) > 1)


def _is_link(element) -> bool:
    """A heading whose whole text is a link (a list item of a sidebar, a column name)."""
    text = _compact("".join(element.itertext()))
    linked = "".join(_compact("".join(a.itertext())) for a in element.iter("a") if a.get("href"))
    return bool(text) and linked == text


INFO_LABELS = ("作者", "编辑", "责任编辑", "记者", "发稿时间")


@lru_cache(maxsize=16)
def _info_label_re(labels: tuple[str, ...]) -> re.Pattern:
    """An info label followed by a colon, longest label first; compiled once, not per heading."""
    ordered = sorted(set(labels), key=len, reverse=True)
    return re.compile(rf"[\s【\[(（]*(?:{'|'.join(map(re.escape, ordered))})\s*[:：]")


def without_info_line(text: str, rules: Rules) -> str:
    """A title element that also holds the info line ("标题来源：人民网 作者：张三 2023-12-01 14:43") gives
    the title alone: cut at the first publisher/date/author label followed by a colon."""
    match = _info_label_re((*rules.publisher_labels, *rules.date_labels, *INFO_LABELS)).search(text)
    if match and match.start() >= 4:
        return text[:match.start()].strip()
    return text


BRACKETS = {"【": "】", "[": "]", "〔": "〕", "（": "）", "(": ")"}


def _cut_value(value: str, rules: Rules, labels: tuple[str, ...]) -> str:
    value = value.replace("\xa0", " ").replace("\u3000", " ").strip(" \t:：")
    if value[:1] in BRACKETS:  # "来源：【南山区司法局】" → the bracketed name
        closing = value.find(BRACKETS[value[0]])
        value = value[1:closing] if closing > 1 else value[1:]
    end = len(value)
    for stop in (*rules.publisher_stop, *labels, "\t"):
        index = value.find(stop)
        if 0 < index < end or (index == 0 and stop in ("\t",)):
            end = index
    match = DATE_RE.search(value)
    if match and 0 < match.start() < end:
        end = match.start()
    return value[:end].strip(" \t:：,，;；、|｜")


NEXT_FIELD_RE = re.compile(r"[\u4e00-\u9fa5]{1,6}\s*[:：]")


def _all_labels(rules: Rules) -> tuple[str, ...]:
    """Every label a value is cut at: publisher, date and record labels."""
    return tuple({*rules.publisher_labels, *rules.date_labels, *rules.record_labels})


def labelled_value(lines: str, labels: tuple[str, ...], rules: Rules) -> str | None:
    """The value after the most preferred label ("来源：南山区人民政府") in the page lines."""
    all_labels = _all_labels(rules)
    for label in labels:
        pad = "[ \t\u3000\xa0]*"  # a value is on the label's line (an empty "来源：" takes nothing below)
        pattern = re.compile(rf"(?<![\u4e00-\u9fa5]){re.escape(label)}{pad}[:：]{pad}([^\n]{{0,80}})")
        if len(label) > 2:
            pattern = re.compile(rf"{re.escape(label)}{pad}[:：]?{pad}([^\n]{{0,80}})")
        for match in pattern.finditer(lines):
            if NEXT_FIELD_RE.match(match.group(1).strip(" \t\u3000\xa0:：")):
                continue  # the label's value is empty: what follows is the next field ("访问量：199")
            value = _cut_value(match.group(1), rules, all_labels)
            if value and not parse_date(value) and len(value) <= 40:
                return value
    return None


def find_publisher(tree, lines: str, rules: Rules, site_name: str | None,
                   record: dict[str, str]) -> str | None:
    """ContentSource meta, else the disclosure record's 发布机构, else the text after 来源:/信息来源:, else
    the site name. A meta the page never shows (a syndication source, "江西统计 公众号") loses to the
    发布机构 the record shows."""
    meta = publisher_meta(tree, rules)
    recorded = record.get("发布机构")
    if meta and recorded and _compact(meta) not in _compact(lines):
        meta = None
    value = meta or recorded or labelled_value(lines, rules.publisher_labels, rules)
    return value or site_name or None


def publisher_meta(tree, rules: Rules) -> str | None:
    """The publisher meta (ContentSource, source …); a value written with its label ("来源：人民网-文化频道
    原创稿") is stored as the labelled value alone ("人民网-文化频道"), cut as a labelled line is."""
    value = meta_content(tree, rules.publisher_metas)
    if not value:
        return None
    for label in sorted(rules.publisher_labels, key=len, reverse=True):
        match = re.match(rf"{re.escape(label)}\s*[:：]\s*", value)
        if match:
            return _cut_value(value[match.end():], rules, _all_labels(rules)) or None
    return value


PAD = "[ \u3000\u00a0\u2002\u2003\u2009]*"
WS = "[ \t\u3000\u00a0\u2002\u2003\u2009]*"


def find_record(lines: str, rules: Rules) -> dict[str, str]:
    """The disclosure record (索引号 / 分类 / 发布机构 / 成文日期 / 文号 …) when the page has one."""
    names, label, pattern, cut_re = _record_patterns(rules)
    record: dict[str, str] = {}
    for match in _label_matches(lines, label, pattern) if label else pattern.finditer(lines):
        field = names[re.sub(r"\s+", "", match.group(1))]
        value = match.group(2)
        cut = cut_re.search(value)
        if cut:
            value = value[:cut.start()]
        value = normalise_line(value).strip(" :：|")
        if value and field not in record:
            record[field] = value
    if len(record) < rules.record_min_fields:
        return {}
    return record


def _label_matches(lines: str, label: re.Pattern, pattern: re.Pattern):
    """`pattern.finditer(lines)` for a pattern whose every match starts where `label` matches: only the
    places `label` finds (a fast scan: it starts with a literal) are tried."""
    pos = 0
    while (found := label.search(lines, pos)) is not None:
        match = pattern.match(lines, found.start())
        if match is None:
            pos = found.start() + 1
            continue
        yield match
        pos = match.end()


_RECORD_PATTERNS: dict[int, tuple] = {}


def _record_patterns(rules: Rules) -> tuple:
    """find_record's regexes, built once per rules object: label → field names, a label alone, a label with
    its value, and a label inside a value."""
    cached = _RECORD_PATTERNS.get(id(rules))
    if cached is None or cached[0] is not rules:
        # labels are often padded to one width with (full-width) spaces: "分　　类：", "文  号："
        names = {re.sub(r"\s+", "", label): field for label, field in rules.record_labels.items()}
        labels = sorted(names, key=len, reverse=True)
        alternatives = "|".join(PAD.join(map(re.escape, label)) for label in labels)
        # after the label, at most one cell break: an empty value cell must not swallow the next label
        # or, when the label ends its line ("发布机构：" in a <label>, the value in the next <div>), on the next
        # line; a value is never another label
        pattern = re.compile(rf"(?:^|(?<=[\t \u3000|]))({alternatives}){PAD}(?:[:：]|\t)(?:{WS}\n)?{WS}"
                             rf"(?!(?:{alternatives}){PAD}[:：])([^\t\n]*)", re.M)
        label = re.compile(alternatives) if labels and all(labels) else None  # (never an empty match)
        cached = _RECORD_PATTERNS[id(rules)] = (rules, names, label, pattern,
                                                re.compile(rf"\s(?:{alternatives})\s*[:：]"))
    return cached[1:]


YEAR_RANGE = "(?:19|20)\\d{2}"


def report_year(title: str, opening: str) -> int | None:
    """The year a report covers: "2024年法治政府建设年度报告" → 2024, "(2023年度)" → 2023; else the first
    year (not part of a date) in the text's opening sentence."""
    for text in (title, opening):
        if not text:
            continue
        match = re.search(rf"({YEAR_RANGE})\s*年度", text) or re.search(
            rf"(?<!\d)({YEAR_RANGE})\s*年(?!\s*\d{{1,2}}\s*月)", text)
        if match:
            return int(match.group(1))
    return None


def opening_sentence(text: str) -> str:
    """The first sentence of the body (up to the first 。), used for report_year."""
    first = text.strip().split("\n", 1)[0] if text.strip() else ""
    return first.split("。", 1)[0]


def find_attachments(tree, base_url: str, rules: Rules) -> list[tuple[str, str]]:
    """Links to documents (.pdf .doc .docx .wps .xls .xlsx .ofd .zip …) as (absolute url, link text)."""
    base_tag = tree.find(".//base")
    base = base_url
    if base_tag is not None and base_tag.get("href"):
        base = urljoin(base_url, base_tag.get("href"))
    found: dict[str, str] = {}
    for link in tree.iter("a"):
        href = (link.get("href") or "").strip()
        if not href or href.startswith(("javascript:", "mailto:", "#")):
            continue
        text = normalise_line("".join(link.itertext()))
        path = urlsplit(href).path.lower()
        extensions = rules.attachment_extensions
        if not (path.endswith(extensions) or text.lower().endswith(extensions)):
            continue
        url = urljoin(base, href)
        if url not in found:
            found[url] = text or path.rsplit("/", 1)[-1]
    return list(found.items())
