"""The body text: prune chrome containers, un-table layout tables, run trafilatura, drop residual chrome.

Layered so that each layer stays general: (1) an lxml pass drops containers matched by the data-driven
prune rules (never one holding most of the text or reading as prose); (2) layout tables (a whole page inside
a `<table>`, common on TRS sites) become plain blocks so paragraphs stay one per line; (3) trafilatura
extracts the main text; (4) short lines carrying a chrome phrase or pattern are dropped.
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache

from lxml import html as lxml_html
from lxml.etree import ParserError

from .attrpath import predicate
from .rules import Rules, SimpleSelector, simple_selectors, xpath

BLOCK_TAGS = frozenset({"p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li", "ul", "ol", "table", "section",
                        "article", "blockquote", "pre", "dl", "dd", "dt"})
ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
ZERO_WIDTH_RE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")  # (a search is faster than translate)
SPACES_RE = re.compile(r"[ \t\u00a0\u3000\u2002\u2003\u2009\u202f\r\f\v]+")


# `</body>` and `</html>` end tags are optional, and a browser keeps parsing into the body after them
# (HTML's "after body" insertion modes); libxml2 instead drops or misplaces everything that follows. Real
# templates close the document inside a header include, so these end tags are removed before parsing:
# the parser closes body and html itself at the end of the input.
DOCUMENT_END_RE = re.compile(r"</\s*(?:html|body)\s*>", re.I)


def neutralise_document_ends(html: str) -> str:
    """`html` without `</body>` and `</html>` end tags (a stray one would end the document early)."""
    return DOCUMENT_END_RE.sub("", html)


def parse_html(html: str) -> lxml_html.HtmlElement:
    """Parse decoded HTML as a browser would keep it: an encoding declaration in an XML prolog is dropped
    (lxml refuses it on str), and `</body>`/`</html>` end tags cannot cut the document short."""
    text = neutralise_document_ends(re.sub(r"^\s*<\?xml[^>]*>", "", html or ""))
    if not text.strip():
        raise ValueError("empty HTML")
    try:
        return lxml_html.document_fromstring(text)
    except (ParserError, ValueError) as exc:
        raise ValueError(f"unparseable HTML: {exc}") from None


def normalise_line(line: str) -> str:
    """NFKC-free whitespace normalisation: full-width and other spaces collapse to one ASCII space."""
    if ZERO_WIDTH_RE.search(line):
        line = line.translate(ZERO_WIDTH)
    return SPACES_RE.sub(" ", line).strip()


def element_text(element) -> str:
    """`"".join(element.itertext())`, joined by libxml2 (XPath's string value: the same text nodes, comments
    and processing instructions left out), several times faster on a large element."""
    return str(xpath("string()")(element))


def _text_len(element) -> int:
    """Characters of the element's text, whitespace not counted (str.split's whitespace is re's \\s)."""
    return sum(map(len, element_text(element).split()))


def prune(tree, expressions: Iterable[str], rules: Rules, *, guarded: bool = True) -> int:
    """Drop elements matched by `expressions` (tails kept); returns how many were dropped.

    With `guarded`, an element holding more than `prune_guard_share` of the page text, or reading as prose
    (`prune_guard_stops` full stops), is kept: a broad class rule must not eat the article.
    """
    body = tree.find("body")
    total = _text_len(body if body is not None else tree) or 1
    matched = _matches(tree, tuple(expressions))
    dropped = 0
    seen: set[int] = set()
    for element in matched:
        if id(element) in seen or not isinstance(element.tag, str) or element.tag in ("html", "body"):
            continue
        seen.add(id(element))
        if element.getparent() is None or not _attached(element, tree):
            continue
        if guarded:
            text = element_text(element)
            if (len(re.sub(r"\s+", "", text)) > rules.prune_guard_share * total
                    or text.count("。") >= rules.prune_guard_stops):
                continue
        element.drop_tree()
        dropped += 1
    return dropped


def _selects(selector: SimpleSelector, element) -> bool:
    """What cssselect's XPath for a simple selector tests: the tag, [name] present, [name*=value] a
    case-sensitive substring of the attribute."""
    tag, tests = selector
    if tag not in (None, "*") and element.tag != tag:
        return False
    for name, value in tests:
        got = element.get(name)
        if got is None or (value is not None and value not in got):
            return False
    return True


INF = float("inf")


@lru_cache(maxsize=64)
def _ranker(ranked_groups: tuple[tuple[int, tuple[SimpleSelector, ...]], ...]):
    """For (rank, simple selector group) pairs, what decides the lowest rank that selects an element, read
    once: the rank of any element, per tag, per attribute present, and per attribute one regex finding at
    every position the lowest-ranked substring any selector looks for there (alternatives in rank order);
    selectors of any other shape are tested one by one."""
    anything, tags, present, parts, others = INF, {}, {}, {}, []
    for rank, group in ranked_groups:
        for selector in group:
            tag, tests = selector
            anywhere = tag in (None, "*")
            if not tests:
                if anywhere:
                    anything = min(anything, rank)
                else:
                    tags[tag] = min(tags.get(tag, INF), rank)
            elif anywhere and len(tests) == 1 and tests[0][1] is None:
                present[tests[0][0]] = min(present.get(tests[0][0], INF), rank)
            elif anywhere and len(tests) == 1:
                name, value = tests[0]
                ranks = parts.setdefault(name, {})
                ranks[value] = min(ranks.get(value, INF), rank)
            else:
                others.append((rank, selector))
    patterns = {}
    for name, ranks in parts.items():
        values = sorted(ranks, key=lambda v: ranks[v])
        patterns[name] = (re.compile(f"(?=({'|'.join(map(re.escape, values))}))"), ranks)
    return anything, tags, present, patterns, tuple(others)


def _rank(element, ranker) -> float:
    """The lowest rank of a selector (`_ranker`) that selects the element; INF if none does."""
    anything, tags, present, patterns, others = ranker
    rank = min(anything, tags.get(element.tag, INF))
    for name in element.keys():
        if name in present and present[name] < rank:
            rank = present[name]
        if name in patterns:
            pattern, ranks = patterns[name]
            for found in pattern.finditer(element.get(name)):
                rank = min(rank, ranks[found.group(1)])
    for other, selector in others:
        if other < rank and _selects(selector, element):
            rank = other
    return rank


def _matches(tree, expressions: tuple[str, ...]) -> list:
    """The elements each expression selects, expression after expression (each in document order), as
    if every one were evaluated as XPath; the groups of simple CSS selectors (`simple_selectors`) are
    tested in one pass over the tree, each element ranked under the first group that selects it; an XPath of
    attribute tests over the whole document (`attrpath`) is tested in the same pass, the others run as XPath."""
    groups = [simple_selectors(e) for e in expressions]
    simple = [i for i, g in enumerate(groups) if g]
    whole = tree.getroottree().getroot() is tree  # (`//` starts at the document's root)
    tests = [(i, predicate(e)) for i, e in enumerate(expressions) if not groups[i] and whole and predicate(e)]
    if not simple and not tests:
        return [element for expression in expressions for element in xpath(expression)(tree)]
    ranker = _ranker(tuple((i, groups[i]) for i in simple))
    ranked = []
    for position, element in enumerate(tree.iter()):
        if isinstance(element.tag, str):
            rank = _rank(element, ranker)
            if rank != INF:
                ranked.append((rank, position, element))
            for i, test in tests:
                if test(element):
                    ranked.append((i, position, element))
    tested = {i for i, _ in tests}
    for i, expression in enumerate(expressions):
        if not groups[i] and i not in tested:
            ranked.extend((i, position, element) for position, element in enumerate(xpath(expression)(tree)))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [element for _, _, element in ranked]


HEADING_TAGS = ("h1", "h2", "h3", "h4", "h5", "h6", "div", "p", "span", "strong", "b", "dt", "li", "td", "th", "em")


def _link_share(element) -> float:
    text = len(re.sub(r"\s+", "", "".join(element.itertext())))
    links = sum(len(re.sub(r"\s+", "", "".join(a.itertext()))) for a in element.iter("a"))
    return links / text if text else 1.0


def prune_headed_blocks(tree, rules: Rules) -> int:
    """Drop blocks headed by a chrome heading ("相关文章", "热点新闻" …): the heading's container, or when
    that container holds most of the text, the heading and the link lists that follow it."""
    headings = {h.replace(" ", "") for h in rules.chrome_block_headings}
    if not headings:
        return 0
    body = tree.find("body")
    total = _text_len(body if body is not None else tree) or 1
    longest = max(map(len, headings))
    dropped = 0
    for element in list(tree.iter(*HEADING_TAGS)):
        text = _heading_text(element, longest)
        if text is None or text not in headings or element.getparent() is None or not _attached(element, tree):
            continue
        container = element.getparent()
        if container.tag not in ("html", "body") and _text_len(container) <= rules.prune_guard_share * total / 2:
            container.drop_tree()
            dropped += 1
            continue
        for sibling in list(element.itersiblings()):
            if not isinstance(sibling.tag, str) or _link_share(sibling) < 0.5:
                break
            sibling.drop_tree()
        element.drop_tree()
        dropped += 1
    return dropped


HEADING_PADDING_RE = re.compile(r"[\s:：>»›]+")


def _heading_text(element, limit: int) -> str | None:
    """The element's text without spaces, colons and arrows, or None once it is longer than `limit`
    (no heading is; a large container's text is never joined)."""
    parts, size = [], 0
    for piece in element.itertext():
        piece = HEADING_PADDING_RE.sub("", piece)
        size += len(piece)
        if size > limit:
            return None
        parts.append(piece)
    return "".join(parts)


def _attached(element, root) -> bool:
    parent = element.getparent()
    while parent is not None:
        if parent is root:
            return True
        element, parent = parent, parent.getparent()
    return element is root


def _cells(table) -> list:
    return [c for row in table.iter("tr") if _owner(row) is table for c in row if c.tag in ("td", "th")]


def _owner(element):
    parent = element.getparent()
    while parent is not None and parent.tag != "table":
        parent = parent.getparent()
    return parent


def is_layout_table(table) -> bool:
    """A table used for page layout rather than data: nested tables, or a cell holding several blocks
    of text or a long run of prose."""
    if table.find(".//table") is not None:
        return True
    cells = _cells(table)
    if len(cells) <= 1:
        return True
    for cell in cells:
        blocks = sum(1 for b in cell.iter("p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "li")
                     if "".join(b.itertext()).strip())
        if blocks >= 3:
            return True
        if len("".join(cell.itertext())) > 400 and "".join(cell.itertext()).count("。") >= 3:
            return True
    return False


def flatten_layout_tables(tree) -> int:
    """Turn layout tables into divs (outermost first) so trafilatura keeps paragraphs apart."""
    flattened = 0
    for table in list(tree.iter("table")):
        if table.tag != "table" or not is_layout_table(table):
            continue
        owned = [e for e in table.iter("tbody", "thead", "tfoot", "tr", "td", "th") if _owner(e) is table]
        for element in [table, *owned]:
            element.tag = "div"
            element.attrib.pop("colspan", None)
            element.attrib.pop("rowspan", None)
        flattened += 1
    return flattened


def trafilatura_text(tree, url: str | None) -> str:
    """trafilatura's main text of an already pruned tree: tables kept, no comments, no dedup cache."""
    import trafilatura  # here, not at import: a fallback, and the crawl process itself never needs it

    text = trafilatura.extract(
        tree, url=url, output_format="txt", include_tables=True, include_comments=False,
        include_images=False, include_links=False, include_formatting=False, favor_recall=True,
        deduplicate=False, with_metadata=False,
    )
    return text or ""


def table_row_line(line: str) -> str:
    """trafilatura writes table rows as '| a | b |': keep the cells, separated by ' | '."""
    stripped = line.strip()
    if stripped.startswith("|") and stripped.endswith("|"):
        cells = [normalise_line(c) for c in stripped.strip("|").split("|")]
        if all(set(c) <= set("-: ") for c in cells):
            return ""
        return " | ".join(c for c in cells if c)
    return line


def is_chrome_line(line: str, rules: Rules, *, any_length: bool = False) -> bool:
    """A short line carrying a chrome phrase, or a line matching a chrome pattern."""
    patterns, phrases, words = _chrome_tests(rules)
    if patterns(line):
        return True
    compact = line.replace(" ", "").lower()
    if (any_length or len(compact) <= rules.chrome_line_max) and phrases(compact):
        return True
    return len(compact) <= rules.chrome_word_line_max and not compact.endswith("。") and words(compact)


_CHROME_TESTS: dict[int, tuple] = {}


def _chrome_tests(rules: Rules) -> tuple:
    """is_chrome_line's three tests, each one regex (compiled once per rules object): a chrome pattern
    matching at the start (the patterns as one alternation, unless a flag or group forbids), and a chrome
    phrase or word inside."""
    cached = _CHROME_TESTS.get(id(rules))
    if cached is None or cached[0] is not rules:
        patterns = rules.chrome_line_patterns
        if all(p.flags == re.UNICODE and not p.groups for p in patterns):
            joined = re.compile("|".join(f"(?:{p.pattern})" for p in patterns) or "(?!)")
            starts = lambda line: joined.match(line) is not None  # noqa: E731
        else:
            starts = lambda line: any(p.match(line) for p in patterns)  # noqa: E731
        cached = _CHROME_TESTS[id(rules)] = (rules, starts, _inside(rules.chrome_phrases), _inside(rules.chrome_words))
    return cached[1:]


def _inside(strings: tuple[str, ...]):
    """A test for "one of `strings` is in the text", as one regex search."""
    if not strings:
        return lambda text: False
    found = re.compile("|".join(map(re.escape, strings))).search
    return lambda text: found(text) is not None


def _attachment_line(line: str, unwanted: set[str], rules: Rules) -> bool:
    """A line that only names attachments: "附件：报告.pdf", "附件1. 报告.pdf", or a lone "附件:"."""
    compact = line.replace(" ", "")
    label = rules.attachment_label.match(compact)
    rest = compact[label.end():] if label else compact
    if not rest:
        return bool(label)
    for name in sorted(unwanted, key=len, reverse=True):
        rest = rest.replace(name, "")
    return not rest.strip("、，,;；|")


def clean_lines(text: str, rules: Rules, *, drop: Iterable[str] = ()) -> list[str]:
    """Normalise whitespace, one paragraph per line; drop empty, chrome and `drop` lines (exact match,
    whitespace-insensitive), and repeated adjacent lines."""
    unwanted = {re.sub(r"\s+", "", d) for d in drop if d and d.strip()}
    lines: list[str] = []
    for raw in text.splitlines():
        line = normalise_line(table_row_line(unicodedata.normalize("NFC", raw)))
        if not line or is_chrome_line(line, rules):
            continue
        if unwanted and _attachment_line(line, unwanted, rules):
            continue
        if lines and lines[-1] == line:
            continue
        lines.append(line)
    return lines


# A newline in the HTML source is a collapsible space, not a line break (only <br> and blocks break lines);
# between two Chinese characters it vanishes altogether (CSS Text 3 segment-break rule), so source that a
# CMS or Word hard-wrapped mid-sentence reads as one paragraph.
WIDE = "\u2e80-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
WIDE_BREAK_RE = re.compile(rf"(?<=[{WIDE}])[ \t]*[\r\n]+[ \t]*(?=[{WIDE}])")
BREAK_RE = re.compile(r"[\r\n]+")
PRE_TAGS = frozenset({"pre", "textarea", "listing", "plaintext", "xmp"})


def collapse_breaks(text: str) -> str:
    """Source line breaks of inline text as a browser renders them: gone between Chinese characters,
    one space elsewhere."""
    if "\n" not in text and "\r" not in text:  # the common case, without two regex scans
        return text
    return BREAK_RE.sub(" ", WIDE_BREAK_RE.sub("", text))


SKIP_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title", "meta", "link"})
CELL_TAGS = frozenset({"td", "th"})
SENTENCE_MARKS = "。，；！？：,;"


def block_text(element, cell_sep: str = "\t") -> str:
    """Plain text of `element` with a newline around every block and <br>, one table row per line with
    cells joined by `cell_sep` (blocks inside a cell stay on the row's line).

    Used to read labelled metadata from the whole page and as the body serializer.
    """
    parts: list[str] = []

    def inline(text: str, in_pre: bool) -> str:
        return text if in_pre else collapse_breaks(text)

    def walk(node, in_cell: bool, in_pre: bool) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        if not tag or tag in SKIP_TAGS:
            if node.tail:
                parts.append(inline(node.tail, in_pre))
            return
        if tag == "tr":
            parts.append("\n")
            in_cell = False
        breaks = tag in BLOCK_TAGS or tag == "br"
        if tag in CELL_TAGS:
            parts.append(cell_sep)
            in_cell = True
        elif breaks:
            parts.append(" " if in_cell else "\n")
        inner_pre = in_pre or tag in PRE_TAGS
        if node.text:
            parts.append(inline(node.text, inner_pre))
        for child in node:
            walk(child, in_cell, inner_pre)
        if breaks or tag == "tr":
            parts.append(" " if in_cell and tag != "tr" else "\n")
        if node.tail:
            parts.append(inline(node.tail, in_pre))

    walk(element, False, False)
    return "".join(parts)


def serialized_lines(element) -> str:
    """`block_text` with table cells joined by ' | ' (one row per line), for use as body text."""
    lines = []
    for line in block_text(element, cell_sep="\x1f").splitlines():
        cells = [normalise_line(c) for c in line.split("\x1f")]
        lines.append(" | ".join(c for c in cells if c))
    return "\n".join(lines)


def _prose(text: str | None, rules: Rules) -> int:
    """How much of `text` reads as running body text: its length if it has sentence punctuation or is
    long, and carries no chrome phrase or metadata label."""
    if not text or len(text) < 8 or text.isspace():  # (normalising never lengthens a text)
        return 0
    stripped = normalise_line(text)
    if len(stripped) < 30 and not (len(stripped) >= 8 and any(m in stripped for m in SENTENCE_MARKS)):
        return 0
    if len(stripped) < 150 and (is_chrome_line(stripped, rules, any_length=True)
                                or _is_meta_line(stripped, rules, [])):
        return 0
    return len(stripped)


def prose_totals(root, rules: Rules) -> dict:
    """Per element, the prose characters it holds (own text, children's tails, descendants)."""
    totals: dict = {}
    for element in reversed(list(root.iter())):
        if not isinstance(element.tag, str) or element.tag in SKIP_TAGS:
            continue
        own = _prose(element.text, rules)
        for child in element:
            own += _prose(child.tail, rules) + totals.get(child, 0)
        totals[element] = own
    return totals


def content_root(tree, rules: Rules, share: float = 0.85):
    """The deepest element holding at least `share` of the page's prose: the article body container.
    None when the page has almost no prose."""
    body = tree.find("body")
    root = body if body is not None else tree
    totals = prose_totals(root, rules)
    total = totals.get(root, 0)
    if total < 40:
        return None
    node = root
    while True:
        best = max((c for c in node if c in totals), key=lambda c: totals[c], default=None)
        if best is None or totals[best] < share * total:
            return node
        node = best


LABEL_PADDING_RE = re.compile(r"(?<=[\u4e00-\u9fff])[ \u3000\u00a0\u2002\u2003]+(?=[\u4e00-\u9fff]{1,3}\s*[:：])")


def _is_meta_line(line: str, rules: Rules, values: list[str]) -> bool:
    """A short line that only carries page metadata: starts with a date/publisher/record label, or holds
    two labels, e.g. "时间:2024-12-31来源:南山区人民政府"."""
    if len(line) > rules.meta_line_max:
        return False
    starts_re, label_res = _label_patterns((*rules.date_labels, *rules.publisher_labels, *rules.record_labels))
    line = LABEL_PADDING_RE.sub("", line)  # labels padded to one width: "标　　题：", "主 题 词："
    head = line.lstrip("【[(（ ")
    if starts_re is not None and starts_re.match(head):
        return True
    count = 0
    for pattern in label_res:
        if pattern.search(line):
            count += 1
            if count >= 2:
                return True
    return False


@lru_cache(maxsize=16)
def _label_patterns(labels: tuple[str, ...]) -> tuple[re.Pattern | None, tuple[re.Pattern, ...]]:
    """For metadata lines, compiled once: one regex for "starts with some label then a colon, bar or
    space" (None without labels), and per label a regex for "label then a colon" anywhere."""
    starts = re.compile("|".join(rf"(?:{re.escape(label)}\s*(?:[:：|]|\s))" for label in labels)) if labels else None
    return starts, tuple(re.compile(rf"{re.escape(label)}\s*[:：]") for label in labels)


def _title_run(lines: list[str], i: int, compact_title: str) -> int:
    """The end of the lines from `i` that together spell the title (a heading wrapped over several
    centred lines, as official documents print it), or 0."""
    spelled = ""
    for j in range(i, len(lines)):
        spelled += lines[j].replace(" ", "")
        if spelled == compact_title:
            return j + 1
        if not compact_title.startswith(spelled):
            return 0
    return 0


def strip_edges(lines: list[str], rules: Rules, *, title: str, values: list[str]) -> list[str]:
    """Drop what leads into and trails out of the body: lines up to the title heading, metadata lines
    (label: value) before the first or after the last long paragraph, a repeated title."""
    compact_title = re.sub(r"\s+", "", title or "")
    long_lines = [i for i, line in enumerate(lines) if len(line) >= rules.chrome_line_max]
    first_long = long_lines[0] if long_lines else len(lines)
    last_long = long_lines[-1] if long_lines else -1
    start = 0
    if compact_title:
        for i in range(min(first_long, len(lines))):
            end = _title_run(lines, i, compact_title)
            if end:
                start = end
                break
    kept = []
    for i, line in enumerate(lines[start:], start):
        edge = i < first_long or i > last_long
        if edge and (_is_meta_line(line, rules, values) or line.replace(" ", "") == compact_title):
            continue
        kept.append(line)
    return kept
