"""The extractor's fast paths change no output: each is checked against the plain code it replaced (kept here,
frozen) on generated pages. bench/extract_speed.py's `--check` does the same on every page the project has."""
from __future__ import annotations

import re
from functools import lru_cache, partial

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from lxml import html as lxml_html

from crawler.extract.rules import extra_prune, load_rules, simple_selectors, xpath
from crawler.extract.text import INF, _matches, _rank, _ranker, _selects, parse_html
from crawler.extract.volatile import (
    BLOCKS,
    PROSE_MARKS,
    SKIP,
    _drop,
    _text_before,
    load_volatile,
    scrub,
    scrub_tree,
)
from tests.test_volatile import INFO_LINES, SEED_PARAGRAPHS, WHOLE_LINES

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _text_upto(element, limit: int) -> str | None:
    """volatile._text_upto as it was: the pieces read in Python until past `limit`."""
    parts, size = [], 0
    for piece in element.itertext():
        size += len(piece)
        if size > limit:
            return None
        parts.append(piece)
    return "".join(parts)


def plain_scrub_tree(tree, rules=None):
    """scrub_tree as it was before its one-pass rewrite (ancestors walked for every element)."""
    rules = rules or load_volatile()
    prose: dict = {}

    def in_prose(element) -> bool:
        block = next((e for e in element.iterancestors() if e.tag in BLOCKS), None) \
            if element.tag not in BLOCKS else element
        if block is None:
            return False
        if block not in prose:
            prose[block] = any(PROSE_MARKS.search(piece) for piece in block.itertext())
        return prose[block]

    dropped: set = set()
    for element in list(tree.iter()):
        if not isinstance(element.tag, str) or element.tag in SKIP or element.getparent() is None:
            continue
        if dropped and any(a in dropped for a in element.iterancestors()):
            continue
        whole = _text_upto(element, 120)
        before = partial(_text_before, element)
        if whole is not None and whole.strip() and not scrub(whole, rules, prose=False, before=before).strip() and (
                element.tag in BLOCKS or not in_prose(element)):
            dropped.add(element)
            _drop(element, scrub(element.tail or "", rules, prose=in_prose(element.getparent())))
            continue
        if whole is None and element.tail and element.tail.strip():
            whole = "".join(element.itertext())
        if element.text:
            element.text = scrub(element.text, rules, prose=in_prose(element), before=before)
        if element.tail:
            element.tail = scrub(element.tail, rules, prose=in_prose(element.getparent()), before=whole or "")
    return tree


# --- generated pages: nested blocks and inline elements holding volatile lines, info lines and prose --------

TEXTS = [*WHOLE_LINES, *(line for line, _ in INFO_LINES), *SEED_PARAGRAPHS[:30], "发布日期：", "浏览次数：", "1235",
         "星期二", "。", " ", "\n", "日期：2024-03-05", "今天是", "2026年11月21日"]
TAGS = ["div", "p", "span", "em", "b", "a", "li", "ul", "td", "section", "font", "strong", "h1", "header",
        "script", "title", "center"]
texts = st.one_of(st.none(), st.sampled_from(TEXTS),
                  st.text(alphabet="今天是星期二浏览次数：1235。年月日 ", max_size=12))


def _element():
    leaf = st.tuples(st.sampled_from(TAGS), texts, st.just(()), texts)
    return st.recursive(leaf, lambda children: st.tuples(st.sampled_from(TAGS), texts,
                                                          st.lists(children, max_size=4).map(tuple), texts),
                        max_leaves=25)


def _render(node) -> str:
    tag, text, children, tail = node
    inner = (text or "") + "".join(_render(c) for c in children)
    if tag == "font":  # a comment among the children, whose tail is text too
        inner = f"<!-- c -->{inner}"
    return f"<{tag}>{inner}</{tag}>{tail or ''}"


@PROPERTY
@given(body=st.lists(_element(), min_size=1, max_size=5))
def test_scrub_tree_in_one_pass_leaves_what_the_plain_pass_left(body):
    page = "<html><head><title>t</title></head><body>" + "".join(_render(n) for n in body) + "</body></html>"
    want = lxml_html.tostring(plain_scrub_tree(parse_html(page)), encoding="unicode")
    assert lxml_html.tostring(scrub_tree(parse_html(page)), encoding="unicode") == want


def test_the_generated_pages_hold_what_scrub_tree_drops():
    page = ("<html><body><div><span>今天是2026年11月21日 星期六</span>无障碍</div><p>全年办理案件。</p>"
            "<div><b>浏览次数：1235</b> 来源：某区</div></body></html>")
    scrubbed = lxml_html.tostring(scrub_tree(parse_html(page)), encoding="unicode")
    assert "2026" not in scrubbed and "1235" not in scrubbed and "无障碍" in scrubbed and "来源：某区" in scrubbed
    assert scrubbed == lxml_html.tostring(plain_scrub_tree(parse_html(page)), encoding="unicode")


def test_a_block_first_asked_after_its_only_sentence_end_went_is_not_prose():
    # the counter paragraph and its full stop go (all volatile), so the outer div, first asked about for the
    # second counter, no longer reads as prose, and that counter goes too
    page = ("<html><body><div><div><p>本文已被阅读1235次。</p>正文</div><b>浏览次数：1235 来源</b></div>"
            "</body></html>")
    want = lxml_html.tostring(plain_scrub_tree(parse_html(page)), encoding="unicode")
    assert lxml_html.tostring(scrub_tree(parse_html(page)), encoding="unicode") == want
    assert "1235" not in want and "来源" in want and "正文" in want


# --- prune's selector matching: one regex per attribute finds the lowest-ranked selector ---------------------

@lru_cache(maxsize=8)
def _screen(groups):
    tags, present, parts = set(), set(), {}
    for group in groups:
        for tag, tests in group:
            if not tests:
                tags.add(tag)
            for name, value in tests[:1]:
                if value is None:
                    present.add(name)
                else:
                    parts.setdefault(name, []).append(re.escape(value))
    return (frozenset(tags), frozenset(present),
            tuple((name, re.compile("|".join(values))) for name, values in parts.items()))


def plain_matches(tree, expressions):
    """text._matches as it was before the ranking regexes: a screen, then selector after selector."""
    groups = [simple_selectors(e) for e in expressions]
    simple = [i for i, g in enumerate(groups) if g]
    if not simple:
        return [element for expression in expressions for element in xpath(expression)(tree)]
    tags, present, patterns = _screen(tuple(groups[i] for i in simple))
    ranked = []
    for position, element in enumerate(tree.iter()):
        if not isinstance(element.tag, str):
            continue
        if not (element.tag in tags or "*" in tags or None in tags
                or any(name in element.attrib for name in present)
                or any(pattern.search(element.get(name) or "") for name, pattern in patterns)):
            continue
        rank = next((i for i in simple if any(_selects(s, element) for s in groups[i])), None)
        if rank is not None:
            ranked.append((rank, position, element))
    for i, expression in enumerate(expressions):
        if not groups[i]:
            ranked.extend((i, position, element) for position, element in enumerate(xpath(expression)(tree)))
    ranked.sort(key=lambda r: (r[0], r[1]))
    return [element for _, _, element in ranked]


WORDS = ["nav", "navbar", "share", "bdshare", "foot", "footer", "position", "location", "print", "main", "con",
         "content", "top", "display:none", "display: none", "hidden"]
PRUNE_TAGS = ["div", "span", "li", "a", "script", "header", "nav", "iframe", "form"]
ATTRIBUTES = ["class", "id", "style", "hidden"]
attributes = st.dictionaries(st.sampled_from(ATTRIBUTES), st.lists(st.sampled_from(WORDS), max_size=3).map(" ".join),
                             max_size=3)
# a source's own selectors: simple ones of every shape (overlapping substrings, a tag and a test, a tag alone,
# presence), and some that are not simple (classes, ids, descendants)
selectors = st.one_of(
    st.builds(lambda a, w: f'[{a}*="{w}"]', st.sampled_from(ATTRIBUTES), st.sampled_from(WORDS)),
    st.builds(lambda t, a, w: f'{t}[{a}*="{w}"]', st.sampled_from(PRUNE_TAGS), st.sampled_from(ATTRIBUTES),
              st.sampled_from(WORDS)),
    st.builds(lambda t, a: f"{t}[{a}]", st.sampled_from([*PRUNE_TAGS, "*"]), st.sampled_from(ATTRIBUTES)),
    st.sampled_from([*PRUNE_TAGS, "*", ".content", "#top", "ul li", "div > a"]),
)


def _tagged():
    leaf = st.tuples(st.sampled_from(PRUNE_TAGS), attributes, st.just(()))
    return st.recursive(leaf, lambda children: st.tuples(st.sampled_from(PRUNE_TAGS), attributes,
                                                          st.lists(children, max_size=4).map(tuple)),
                        max_leaves=20)


def _tagged_html(node) -> str:
    tag, attrs, children = node
    attributes = "".join(f' {k}="{v}"' for k, v in attrs.items())
    return f"<{tag}{attributes}>x{''.join(_tagged_html(c) for c in children)}</{tag}>"


@PROPERTY
@given(body=st.lists(_tagged(), min_size=1, max_size=4), extra=st.lists(selectors, max_size=5).map(tuple))
@example(body=[("div", {"class": "navbar"}, ()), ("div", {"class": "navbar"}, ())],
         extra=('div[class*="main"]', '[class*="navbar"]', '[class*="nav"]'))  # two selectors match at one place
def test_prune_selects_the_elements_the_plain_matching_selected(body, extra):
    page = "<html><body>" + "".join(_tagged_html(n) for n in body) + "</body></html>"
    tree = parse_html(page)
    expressions = (*load_rules().prune, *extra_prune(extra))
    assert _matches(tree, expressions) == plain_matches(tree, expressions)
    assert _matches(tree, extra_prune(extra)) == plain_matches(tree, extra_prune(extra))
    groups = [(i, simple_selectors(e)) for i, e in enumerate(expressions) if simple_selectors(e)]
    ranker = _ranker(tuple(groups))
    for element in tree.iter():  # the rank itself (it orders the elements, which prune drops in turn)
        want = next((i for i, group in groups if any(_selects(s, element) for s in group)), INF)
        assert _rank(element, ranker) == want, (lxml_html.tostring(element), want)


# --- chrome lines: the rules' patterns, phrases and words each tested as one regex ---------------------------

def plain_is_chrome_line(line, rules, *, any_length=False):
    """text.is_chrome_line as it was, pattern after pattern and phrase after phrase."""
    if any(p.match(line) for p in rules.chrome_line_patterns):
        return True
    compact = line.replace(" ", "").lower()
    if (any_length or len(compact) <= rules.chrome_line_max) and any(p in compact for p in rules.chrome_phrases):
        return True
    return (len(compact) <= rules.chrome_word_line_max and not compact.endswith("。")
            and any(w in compact for w in rules.chrome_words))


CHROME = load_rules()
CHROME_PIECES = [*CHROME.chrome_phrases, *CHROME.chrome_words, "首页 > 新闻", "【打印】", "浏览次数：12", "大 中 小",
                 "微信 | 微博", "ICP备", "作者：张三", "。", " ", "Header", "2024年", *SEED_PARAGRAPHS[:5]]


@PROPERTY
@given(pieces=st.lists(st.sampled_from(CHROME_PIECES), min_size=1, max_size=4), any_length=st.booleans())
@example(pieces=["字号", "。"], any_length=False)  # a chrome word in a sentence
@example(pieces=["分享到", SEED_PARAGRAPHS[0]], any_length=True)  # a chrome phrase in a long line
def test_a_chrome_line_is_what_the_plain_tests_called_chrome(pieces, any_length):
    from crawler.extract.text import is_chrome_line

    line = "".join(pieces)
    assert is_chrome_line(line, CHROME, any_length=any_length) == plain_is_chrome_line(line, CHROME,
                                                                                    any_length=any_length)


# --- the disclosure record: only the places a label starts are tried ----------------------------------------

RECORD_PIECES = [*CHROME.record_labels, "分　　类", "文  号", "：", ":", "\t", "\n", " ", "|", "　", "2024-01-05",
                 "深圳市南山区司法局", "1144030000754P/2025-00001", "法治政府建设"]


@PROPERTY
@given(pieces=st.lists(st.sampled_from(RECORD_PIECES), max_size=24))
@example(pieces=["索引号", "：", "\t", "分类", "：", "年度报告", "\n", "发布机构", "\t", "文号", "：", "x"])
def test_the_record_labels_are_found_where_a_plain_scan_found_them(pieces):
    from crawler.extract.meta import _label_matches, _record_patterns, find_record

    lines = "".join(pieces)
    _names, label, pattern, _cut = _record_patterns(CHROME)
    assert [m.span() for m in _label_matches(lines, label, pattern)] == [m.span() for m in pattern.finditer(lines)]
    assert find_record(lines, CHROME) is not None


# --- title candidates: one pass over the elements instead of the XPath -------------------------------------

HEADING_TAGS = ["h1", "h2", "h3", "h4", "div", "span", "p", "title"]
heading_attributes = st.dictionaries(
    st.sampled_from(["class", "id", "name"]),
    st.lists(st.sampled_from(["title", "Title", "TITLE", "tItLe", "subtitle", "tit", "le", "main", "TİTLE"]),
             max_size=2).map("".join), max_size=2)


def _heading_tree():
    leaf = st.tuples(st.sampled_from(HEADING_TAGS), heading_attributes, st.just(()))
    return st.recursive(leaf, lambda children: st.tuples(st.sampled_from(HEADING_TAGS), heading_attributes,
                                                          st.lists(children, max_size=3).map(tuple)),
                        max_leaves=12)


@PROPERTY
@given(body=st.lists(_heading_tree(), min_size=1, max_size=4))
def test_the_headings_are_what_the_heading_xpath_selects(body):
    from crawler.extract.meta import HEADING_XPATH, headings

    tree = parse_html("<html><head><title>t</title></head><body>" + "".join(_tagged_html(n) for n in body)
                      + "<!-- c --></body></html>")
    assert headings(tree) == tree.xpath(HEADING_XPATH)


@PROPERTY
@given(body=st.lists(_element(), min_size=1, max_size=4))
def test_an_elements_text_joined_by_libxml2_is_its_itertext(body):
    from crawler.extract.text import element_text
    from crawler.extract.volatile import _text_upto as volatile_text_upto

    tree = parse_html("<html><head><title>t</title><style>p{}</style></head><body>"
                      + "".join(_render(n) for n in body) + "<?pi x?>after</body></html>")
    for element in tree.iter():
        if isinstance(element.tag, str):
            assert element_text(element) == "".join(element.itertext())
            for limit in (0, 7, 120):
                assert volatile_text_upto(element, limit) == _text_upto(element, limit)


# --- raw XPath prune rules of attribute tests, tested in prune's pass (crawler/extract/attrpath.py) ----------

ATTR_NAMES = ["class", "id", "style", "hidden"]
STRINGS = ["nav", "navbar", "position", "position-", "-location", "location", "", "x", "display:none", "top"]


def _boolean(depth: int = 2):
    leaf = st.one_of(
        st.builds(lambda a, s: f"contains(@{a}, '{s}')", st.sampled_from(ATTR_NAMES), st.sampled_from(STRINGS)),
        st.builds(lambda a, s: f'@{a} = "{s}"', st.sampled_from(ATTR_NAMES), st.sampled_from(STRINGS)),
        st.builds(lambda a: f"@{a}", st.sampled_from(ATTR_NAMES)))
    return st.recursive(leaf, lambda inner: st.one_of(
        st.builds(lambda x: f"not({x})", inner), st.builds(lambda x: f"({x})", inner),
        st.builds(lambda x, y: f"{x} and {y}", inner, inner), st.builds(lambda x, y: f"{x} or {y}", inner, inner)),
        max_leaves=6)


@PROPERTY
@given(body=st.lists(_tagged(), min_size=1, max_size=4), condition=_boolean())
@example(body=[("div", {}, ()), ("p", {"class": ""}, ())], condition='@class = ""')  # missing is not empty
@example(body=[("div", {}, ())], condition="contains(@id, '') and not(contains(@id, 'x'))")
def test_an_attribute_xpath_selects_in_prunes_pass_what_libxml2_selects(body, condition):
    from crawler.extract.attrpath import predicate

    tree = parse_html("<html><body>" + "".join(_tagged_html(n) for n in body) + "</body></html>")
    expression = f"//*[{condition}]"
    assert predicate(expression) is not None
    assert _matches(tree, (expression,)) == xpath(expression)(tree)
    expressions = (*load_rules().prune, expression)
    assert _matches(tree, expressions) == plain_matches(tree, expressions)


def test_what_attrpath_leaves_to_xpath():
    from crawler.extract.attrpath import predicate

    for expression in ("//div[@class]", "//*[@class]/a", "//*[starts-with(@id, 'x')]", "//*[@a = 'x'", "//*[]",
                       "descendant-or-self::*[@hidden]", "//*[@xml:lang = 'en']", "//*[contains(@a, x)]"):
        assert predicate(expression) is None, expression
    rule = next(e for e in load_rules().prune if e.startswith("//*["))
    assert predicate(rule) is not None  # the position rule of config/chrome.yaml
