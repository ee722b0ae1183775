"""The tolerant JS object-literal reader (crawler/extract/jsobject.py): round trips of generated objects
written in the styles real pages use, and the gkmlpt config forms."""
from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.extract import extract_page, gkmlpt_detail
from crawler.extract.jsobject import JSObjectError, find_object, parse_value, read_assigned

IDENT = re.compile(r"[A-Za-z_$][\w$]*\Z", re.ASCII)

keys = st.one_of(st.from_regex(IDENT, fullmatch=True), st.text(max_size=8))
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-10**12, 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=64), st.text(max_size=30),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


@st.composite
def js_literal(draw, value) -> str:
    """`value` written as a page's script might write it: quotes, escapes, spacing and commas varied."""
    space = draw(st.sampled_from(["", " ", "\n  ", " /* c */ ", "\t"]))
    if value is None:
        return draw(st.sampled_from(["null", "undefined"]))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return draw(js_string(value))
    if isinstance(value, list):
        items = [draw(js_literal(v)) for v in value]
        trailing = "," if items and draw(st.booleans()) else ""
        return "[" + space + ("," + space).join(items) + trailing + space + "]"
    parts = []
    for k, v in value.items():
        key = k if IDENT.match(k) and draw(st.booleans()) else draw(js_string(k))
        parts.append(f"{key}{draw(st.sampled_from(['', ' ']))}:{space}{draw(js_literal(v))}")
    trailing = "," if parts and draw(st.booleans()) else ""
    return "{" + space + ("," + space).join(parts) + trailing + space + "}"


@st.composite
def js_string(draw, s: str) -> str:
    quote = draw(st.sampled_from(["'", '"']))
    style = draw(st.sampled_from(["json", "plain", "escape-all"]))
    out = []
    for ch in s:
        if ch in (quote, "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch in "\r\u2028\u2029":
            out.append(f"\\u{ord(ch):04x}")
        elif style == "escape-all" or (style == "json" and (ch in "<>&'\"" or ord(ch) > 126 or ord(ch) < 32)):
            out.append("".join(f"\\u{u:04X}" for u in _utf16(ch)))
        elif ch == "/" and style == "json":
            out.append("\\/")
        else:
            out.append(ch)
    return quote + "".join(out) + quote


def _utf16(ch: str) -> list[int]:
    data = ch.encode("utf-16-be")
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2)]


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b and type(a) is type(b)


@settings(max_examples=300, deadline=None)
@given(st.data(), values)
def test_round_trip_of_generated_values(data, value):
    literal = data.draw(js_literal(value))
    parsed, end = parse_value(literal)
    assert _same(parsed, value), literal
    assert end == len(literal.rstrip()) or literal[end:].strip() == ""


@settings(max_examples=200, deadline=None)
@given(st.data(), st.dictionaries(keys, values, min_size=1, max_size=5))
def test_object_found_inside_a_script(data, obj):
    literal = data.draw(js_literal(obj))
    page = f"<script>var x = 1;\nwindow._CONFIG = {literal};\nvar y = {{a: 1}};</script>"
    assert _same(read_assigned(page, "window._CONFIG"), obj)
    assert _same(read_assigned(page.replace("window._CONFIG", "_CONFIG"), "window._CONFIG"), obj)


@given(st.text(max_size=60))
def test_never_raises_other_than_its_error(text):
    try:
        parse_value(text)
    except JSObjectError:
        pass
    find_object(text, 0)
    read_assigned(text, "window._CONFIG")


def test_json_escaped_content_with_quotes_and_braces():
    content = '<p style="text-align: center;">一、{总体} \'情况\'</p><p>2024年</p>'
    escaped = json.dumps(content).replace("<", "\\u003C").replace(">", "\\u003E")
    page = ("<script>window._CONFIG = {SID: '755041', SITE_NAME: '深圳市坪山区人民政府', "
            f"DETAIL: {{\"id\": 11938630, \"title\": 'x', \"content\": {escaped}}}, "
            "TREE: [{id: 1, name: '机构职能', children: []}], onLoad: function () { return {a: 1}; }};</script>")
    config = read_assigned(page, "window._CONFIG")
    assert config["SID"] == "755041"
    assert config["DETAIL"]["content"] == content
    assert config["TREE"][0]["name"] == "机构职能"
    assert config["onLoad"] is None  # a function is skipped, not an error
    assert gkmlpt_detail(page)["id"] == 11938630


def test_assignment_form_and_no_detail():
    page = "<script>window._CONFIG = {SID: '1'};\nwindow._CONFIG.DETAIL = {'title': 'T', content: '<p>b</p>'};</script>"
    assert gkmlpt_detail(page) == {"title": "T", "content": "<p>b</p>"}
    assert gkmlpt_detail("<script>window._CONFIG = {SID: '1', TREE: []};</script>") is None
    assert gkmlpt_detail("<p>DETAIL</p>") is None


@pytest.mark.parametrize("bad", ["{a: 1", "{a 1}", "{'a: 1}", "[1, 2", "{a: [1}"])
def test_broken_literals_raise_one_line_errors(bad):
    with pytest.raises(JSObjectError) as e:
        parse_value(bad)
    assert "\n" not in str(e.value) and "character" in str(e.value)
    assert find_object(bad, 0) is None


def test_extract_page_reads_detail_from_the_object_literal():
    body = "".join(f"<p>  {n}、2024年，坪山区坚持以习近平新时代中国特色社会主义思想为指导，推进法治政府建设。</p>"
                   for n in "一二三")
    detail = {"id": 12, "title": "坪山区2024年法治政府建设年度报告", "publisher": "深圳市坪山区人民政府",
              "date": 1735660800, "content": body}
    literal = json.dumps(detail, ensure_ascii=True).replace("<", "\\u003C").replace(">", "\\u003E")
    html = (f"<html><head><title>x</title><script>window._CONFIG = {{SID: '755041', DETAIL: {literal}, "
            "TREE: []}};</script></head><body><div id='app'></div></body></html>")
    page = extract_page(html, "http://127.0.0.1/gkmlpt/content/0/12/post_12.html")
    assert page.title == detail["title"]
    assert page.publisher == "深圳市坪山区人民政府"
    assert page.published == "2025-01-01"
    assert page.text.count("坪山区坚持以习近平") == 3


# --- red-team findings: forms real scripts use that lost the whole config (and so the article body) ---------

ODD_MEMBERS = [
    "APP_URL: '//' + location.host + '/gkmlpt'",  # string concatenation
    "WIDTH: screen.width > 1200 ? 1200 : screen.width",  # a condition
    "TITLE: 'x'.replace(/'/g, '&#39;')",  # a method call on a literal, a regex with a quote
    "PATTERN: /^\\d+,\\d+}$/g",  # a regex literal holding , and }
    "NOTE: `第${`1`}页, {共} ${n}页`",  # a template literal with a nested template
    "SID",  # shorthand
    "...DEFAULTS",  # spread
    "[KEY]: 1",  # computed key
    "init() { return {a: 1}; }",  # method
    "get url() { return '/'; }",  # getter
    "标题: '年度报告'",  # a Unicode identifier key
    "BIG: " + "9" * 5000,  # more digits than Python converts
    "TREE: " + "[" * 300 + "]" * 300,  # deeper than the reader descends
]


@pytest.mark.parametrize("odd", ODD_MEMBERS)
def test_one_odd_member_never_loses_detail(odd):
    page = ("<script>window._CONFIG = {SITE_NAME: '坪山区', " + odd + ", DETAIL: {\"id\": 1, \"content\": "
            "\"\\u003Cp\\u003E正文\\u003C/p\\u003E\"}, TREE: []};</script>")
    config = read_assigned(page, "window._CONFIG")
    assert config is not None, odd
    assert config["SITE_NAME"] == "坪山区" and config["TREE"] == []
    assert gkmlpt_detail(page) == {"id": 1, "content": "<p>正文</p>"}


@settings(max_examples=100, deadline=None)
@given(st.data(), st.dictionaries(st.from_regex(IDENT, fullmatch=True), values, min_size=1, max_size=4),
       st.sampled_from(ODD_MEMBERS))
def test_odd_member_anywhere_keeps_every_other_member(data, obj, odd):
    parts = [f"{k}: {data.draw(js_literal(v))}" for k, v in obj.items()]
    parts.insert(data.draw(st.integers(0, len(parts))), odd)
    parsed = read_assigned("window._CONFIG = {" + ", ".join(parts) + "};", "window._CONFIG")
    assert parsed is not None
    assert all(_same(parsed[k], v) for k, v in obj.items() if k != odd.split(":")[0])


def test_the_last_assignment_wins_and_commented_lines_do_not_count():
    page = ("<script>\n// window._CONFIG = {SID: 'old', DETAIL: {content: 'old'}};\n"
            "window._CONFIG = {SID: '755041'};\n</script><script>\n"
            "window._CONFIG = {SID: '755041', DETAIL: {content: '<p>new</p>'}};\n</script>")
    assert gkmlpt_detail(page) == {"content": "<p>new</p>"}
    assert read_assigned("var s = 'window._CONFIG = {SID: 1}'; window._CONFIG = {SID: 2};", "_CONFIG") == {"SID": 2}


def test_legacy_octal_escapes_and_errors_still_raised():
    assert parse_value("'\\101\\0\\8'")[0] == "A\x008"
    for bad in ("{a 1}", "{a: 1px}", "{a: /x}"):
        with pytest.raises(JSObjectError):
            parse_value(bad)
