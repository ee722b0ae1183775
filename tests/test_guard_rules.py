"""Each rule of the response guard (crawler/guard.py, config/guard.yaml), pinned down by behaviour: what a
rules file must contain, how encodings are chosen, where each limit falls, and the order verdicts are
reached in. Written so that mutation testing (docs/testing.md) finds every rule guarded: limits are
tested on both sides of their boundary, with the real Scrapy response classes."""
from __future__ import annotations

import codecs
import dataclasses
import re

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scrapy.http import HtmlResponse, Response, TextResponse

from crawler import guard
from crawler.guard import GuardConfigError, decode_body, load_rules

RULES = load_rules()
REPORT = "<p>" + "全区共办理行政复议案件800件，比上年增长5%，其中调解和解结案126件。" * 20 + "</p>"
PAGE = f"<html><head><title>2023年法治政府建设年度报告</title></head><body>{REPORT}</body></html>"
URL = "http://127.0.0.1/content/post_1.html"


def rules(**changes) -> guard.GuardRules:
    return dataclasses.replace(RULES, **changes)


def response(body: bytes | str = PAGE, status: int = 200, url: str = URL, headers: dict | None = None,
             cls: type = HtmlResponse) -> Response:
    if isinstance(body, str):
        body = body.encode("utf-8")
    return cls(url, status=status, body=body, headers=headers or {"Content-Type": "text/html; charset=utf-8"})


# --- the rules file -----------------------------------------------------------------------------------

def shipped() -> dict:
    return yaml.safe_load(guard.RULES_PATH.read_text(encoding="utf-8"))


def write(tmp_path, data: dict | str, name: str = "guard.yaml") -> str:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def error(tmp_path, data) -> str:
    with pytest.raises(GuardConfigError) as e:
        load_rules(write(tmp_path, data))
    message = str(e.value)
    assert "\n" not in message and str(tmp_path) in message
    return message


def test_every_key_of_the_file_lands_in_its_own_rule(tmp_path):
    data = shipped()
    data["not_found"].update(statuses=[404], markers=["无此页"], max_visible_chars=11, bare_404_max_visible_chars=12,
                             home_path_patterns=["^/home$"], error_path_patterns=["^/oops$"])
    data["blocked"].update(statuses=[499], script_markers=["$_zz"], script_max_visible_chars=13,
                           text_markers=["请稍候"], text_max_visible_chars=14, cookie_script_patterns=["setck"],
                           cookie_script_max_visible_chars=15, challenge_cookies=["ck"], scan_chars=16)
    data["limits"] = {"max_page_bytes": 17, "max_bad_bytes": 18, "max_bad_byte_share": 0.5}
    data["binary_signatures"] = {"%PDF-": "PDF"}
    data["binary_control_share"] = 0.25
    r = load_rules(write(tmp_path, data))
    assert (r.not_found_statuses, r.soft_404_markers, r.soft_404_max_visible, r.bare_404_max_visible) == \
        (frozenset({404}), ("无此页",), 11, 12)
    assert [p.pattern for p in r.home_paths] == ["^/home$"] and [p.pattern for p in r.error_paths] == ["^/oops$"]
    assert (r.blocked_statuses, r.script_markers, r.script_max_visible, r.text_markers, r.text_max_visible) == \
        (frozenset({499}), ("$_zz",), 13, ("请稍候",), 14)
    assert [p.pattern for p in r.cookie_scripts] == ["setck"]
    assert (r.cookie_script_max_visible, r.challenge_cookies, r.scan_chars) == (15, ("ck",), 16)
    assert (r.max_page_bytes, r.max_bad_bytes, r.max_bad_byte_share) == (17, 18, 0.5)
    assert r.binary_signatures == ((b"%PDF-", "PDF"),) and r.binary_control_share == 0.25


def test_rules_come_from_the_argument_then_the_environment_then_the_shipped_file(tmp_path, monkeypatch):
    data = shipped()
    data["limits"]["max_bad_bytes"] = 3
    env_file = write(tmp_path, data, "env.yaml")
    data["limits"]["max_bad_bytes"] = 4
    arg_file = write(tmp_path, data, "arg.yaml")
    monkeypatch.setenv("ZWGK_GUARD_RULES", env_file)
    assert load_rules().max_bad_bytes == 3
    assert load_rules(arg_file).max_bad_bytes == 4
    monkeypatch.delenv("ZWGK_GUARD_RULES")
    assert load_rules().max_bad_bytes == shipped()["limits"]["max_bad_bytes"]


def test_patterns_ignore_case_and_integers_serve_as_shares(tmp_path):
    data = shipped()
    data["binary_control_share"] = 1
    r = load_rules(write(tmp_path, data))
    assert r.binary_control_share == 1.0 and isinstance(r.binary_control_share, float)
    assert guard._dead_end("http://x/INDEX.HTML", r) and guard._dead_end("http://x/Error/404.HTM", r)


@pytest.mark.parametrize("change, expected", [
    (lambda d: d.pop("not_found"), "'not_found' must be a mapping"),
    (lambda d: d.update(blocked=["x"]), "'blocked' must be a mapping"),
    (lambda d: d["not_found"].update(markers=[]), "'not_found.markers' must be a non-empty list"),
    (lambda d: d["not_found"].update(markers="页面不存在"), "'not_found.markers' must be a non-empty list"),
    (lambda d: d["not_found"].update(max_visible_chars=-1), "'not_found.max_visible_chars' must be a "
                                                           "non-negative int"),
    (lambda d: d["not_found"].update(max_visible_chars="many"), "'not_found.max_visible_chars' must be a "
                                                               "non-negative int"),
    (lambda d: d["not_found"].update(max_visible_chars=True), "'not_found.max_visible_chars' must be a "
                                                             "non-negative int"),
    (lambda d: d["limits"].update(max_bad_byte_share="x"), "'limits.max_bad_byte_share' must be a non-negative "
                                                           "float"),
    (lambda d: d.update(binary_control_share=-0.5), "'binary_control_share' must be a non-negative float"),
    (lambda d: d["blocked"].update(cookie_script_patterns=["(["]), "'blocked.cookie_script_patterns': bad "
                                                                   "regular expression '(['"),
    (lambda d: d["blocked"].update(statuses=[99]), "'blocked.statuses' must list HTTP status codes"),
    (lambda d: d["blocked"].update(statuses=[600]), "'blocked.statuses' must list HTTP status codes"),
    (lambda d: d["not_found"].update(statuses=["404"]), "'not_found.statuses' must list HTTP status codes"),
    (lambda d: d.pop("binary_signatures"), "'binary_signatures' must map leading bytes to a file kind"),
    (lambda d: d.update(binary_signatures={}), "'binary_signatures' must map leading bytes to a file kind"),
    (lambda d: d.update(binary_signatures=["%PDF-"]), "'binary_signatures' must map leading bytes"),
])
def test_a_bad_rules_file_is_one_line_naming_the_key(tmp_path, change, expected):
    data = shipped()
    change(data)
    assert expected in error(tmp_path, data)


def test_zero_limits_and_extreme_status_codes_are_allowed(tmp_path):
    data = shipped()
    data["blocked"]["statuses"] = [100, 599]
    data["limits"]["max_bad_bytes"] = 0
    data["binary_control_share"] = 0
    r = load_rules(write(tmp_path, data))
    assert r.blocked_statuses == {100, 599} and r.max_bad_bytes == 0 and r.binary_control_share == 0.0


def test_unreadable_rules_files(tmp_path):
    assert "guard rules file not found" in str(pytest.raises(GuardConfigError, load_rules,
                                                             str(tmp_path / "none.yaml")).value)
    assert "not valid YAML" in error(tmp_path, "blocked: [\n")
    assert "expected a mapping" in error(tmp_path, "- a\n- b\n")
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"a: \xff\xfe\n")
    message = str(pytest.raises(GuardConfigError, load_rules, str(path)).value)
    assert "not valid YAML" in message and "\n" not in message


# --- encodings ----------------------------------------------------------------------------------------

TEXT = "<html><head><title>政府信息公开</title></head><body>区司法局2023年法治政府建设年度报告</body></html>"


def test_utf8_first_whatever_the_label():
    assert decode_body(TEXT.encode("utf-8"), "gb2312", RULES) == (TEXT, "utf-8")
    assert decode_body(codecs.BOM_UTF8 + TEXT.encode("utf-8"), None, RULES) == (TEXT, "utf-8")


def test_gb_labels_and_unlabelled_pages_read_as_gb18030():
    body = TEXT.encode("gb18030")
    for label in ("gb2312", " GBK ", "x-gbk", "cp936", None, "no-such-charset"):
        assert decode_body(body, label, RULES) == (TEXT, "gb18030"), label


def test_a_label_is_tried_before_gb18030():
    """Big5 bytes also decode as GB18030 (into the wrong characters): the page's own label wins."""
    big5 = "<meta charset=big5><p>臺灣地區政府資訊公開</p>"
    body = big5.encode("big5")
    assert body.decode("gb18030") != big5
    assert decode_body(body, "big5", RULES) == (big5, "big5")
    assert decode_body(body, None, RULES) == (big5, "big5")  # from <meta charset>
    xml = '<?xml version="1.0" encoding="big5"?><p>臺灣地區政府資訊公開</p>'
    assert decode_body(xml.encode("big5"), None, RULES) == (xml, "big5")
    header = response(big5.replace("<meta charset=big5>", "").encode("big5"),
                      headers={"Content-Type": "text/html; charset='big5'"})
    assert guard.judge(header, rules=RULES).encoding == "big5"


def test_a_meta_charset_is_looked_for_in_the_first_4kb_only():
    big5 = "<p>臺灣地區政府資訊公開</p>"
    late = ("<!--" + "x" * 4100 + "--><meta charset=big5>" + big5).encode("big5")
    assert decode_body(late, None, RULES)[1] == "gb18030"
    early = ("<!--" + "x" * 4000 + "--><meta charset=big5>" + big5).encode("big5")
    assert decode_body(early, None, RULES)[1] == "big5"


def test_broken_bytes_are_dropped_up_to_the_limits():
    body = ("政府信息公开" * 400).encode("utf-8")  # 7,200 bytes: the share allows 8 bad bytes
    cut = b"\xe5".join([body[:3000], body[3000:6000], body[6000:]])
    text, encoding = decode_body(cut, "utf-8", RULES)
    assert encoding == "utf-8" and "\ufffd" not in text and text.count("政府信息公开") >= 399
    assert decode_body(cut, "utf-8", rules(max_bad_bytes=2)) is not None  # two lone \xe5 bytes
    assert decode_body(cut, "utf-8", rules(max_bad_bytes=1)) is None
    one = b"\xe5".join([body[:3000], body[3000:]])
    assert decode_body(one, "utf-8", rules(max_bad_bytes=1)) is not None
    assert decode_body(one, "utf-8", rules(max_bad_bytes=0)) is None
    small = body[:30] + b"\xe5" + body[30:60]  # 61 bytes: a share of 0.001 still allows one
    assert decode_body(small, "utf-8", RULES) is not None
    assert decode_body(small + b"\xe5" + body[:30], "utf-8", RULES) is None  # two bad bytes in 92


def test_plausible_text_allows_two_percent_of_odd_characters():
    assert guard._plausible("政" * 98 + "é" * 2)
    assert not guard._plausible("政" * 97 + "é" * 3)
    assert guard._plausible("政" * 50 + " " * 50)  # spaces are not odd
    assert guard._plausible("a" * 97 + "\u3000" * 3)  # U+3000 and above are CJK, not odd
    assert not guard._plausible("a" * 97 + "\u2fff" * 3)
    assert not guard._plausible("a" * 97 + "\x80" * 3)
    assert guard._plausible("a" * 97 + "\x7f" * 3)
    assert guard._plausible("é" * 10 + "a" * 20000)  # only the first 20,000 characters are looked at
    assert not guard._plausible("é" * 500 + "a" * 20000)


# --- binary bodies ------------------------------------------------------------------------------------

def test_binary_signatures_after_leading_whitespace():
    assert guard.binary_kind(b"  \r\n%PDF-1.7 ...", RULES) == "PDF"
    assert guard.binary_kind(b"PK\x03\x04rest", RULES) == "ZIP or Office document"
    assert guard.binary_kind(b" " * 20 + b"%PDF-1.7", RULES) == "PDF"
    assert guard.binary_kind(TEXT.encode(), RULES) is None


def test_control_bytes_over_the_share_make_a_body_binary():
    r = rules(binary_control_share=0.1)
    assert guard.binary_kind(b"\x01" * 10 + b"a" * 90, r) is None  # exactly 10%: still text
    assert guard.binary_kind(b"\x01" * 11 + b"a" * 89, r) == "binary data"
    assert guard.binary_kind(b"\t\n\r\x0b\x0c" * 20, r) is None  # whitespace controls do not count
    for byte in (b"\x00", b"\x08", b"\x0e", b"\x1f"):
        assert guard.binary_kind(byte * 50 + b"a" * 50, r) == "binary data", byte
    assert guard.binary_kind(b" " * 50 + b"a" * 50, r) is None
    assert guard.binary_kind(b"a" * 1024 + b"\x01" * 1000, r) is None  # only the first KB is looked at
    assert guard.binary_kind(b"", r) is None


# --- challenges ---------------------------------------------------------------------------------------

def page_with_visible(n: int, extra: str = "") -> str:
    return f"<html><head><title></title><script>{extra}</script></head><body>{'字' * n}</body></html>"


def test_blocked_statuses_and_challenge_cookies():
    assert guard.challenge(412, PAGE, rules=RULES) == "HTTP 412"
    assert guard.challenge(200, PAGE, ["__jsluid_s=abc; Path=/"], RULES) == "challenge cookie __jsluid_s"
    assert guard.challenge(200, PAGE, ["session=__jsluid_s"], RULES) is None
    assert guard.challenge(200, PAGE, [" acw_sc__v2 =1"], RULES) == "challenge cookie acw_sc__v2"


def test_script_markers_count_only_on_pages_with_little_text():
    r = rules(script_max_visible=100, text_max_visible=0, cookie_script_max_visible=0)
    assert guard.challenge(200, page_with_visible(99, "$_ts=1"), rules=r) == "anti-bot script $_ts"
    assert guard.challenge(200, page_with_visible(100, "$_ts=1"), rules=r) is None
    assert guard.challenge(200, page_with_visible(10, "nothing"), rules=r) is None


def test_text_markers_count_only_on_pages_with_little_text():
    r = rules(script_max_visible=0, text_max_visible=100, cookie_script_max_visible=0)
    assert guard.challenge(200, page_with_visible(90) + "访问过于频繁", rules=r) == "challenge page (访问过于频繁)"
    assert guard.challenge(200, page_with_visible(95) + "访问过于频繁", rules=r) is None  # 101 visible


def test_cookie_scripts_count_only_on_almost_empty_pages():
    r = rules(script_max_visible=0, text_max_visible=0, cookie_script_max_visible=20)
    why = "almost empty page that sets a cookie by script"
    assert guard.challenge(200, page_with_visible(19, 'document.cookie="a=1"'), rules=r) == why
    assert guard.challenge(200, page_with_visible(19, 'DOCUMENT["cookie"] = 1'), rules=r) == why
    assert guard.challenge(200, page_with_visible(20, 'document.cookie="a=1"'), rules=r) is None


def test_markers_are_looked_for_in_the_first_scan_chars_only():
    r = rules(scan_chars=200)
    early = page_with_visible(10, "$_ts=1")
    assert guard.challenge(200, early, rules=r) == "anti-bot script $_ts"
    late = "<!--" + "x" * 300 + "-->" + early
    assert guard.challenge(200, late, rules=r) is None


def test_huge_pages_are_not_scanned_for_visible_text():
    body = "<script>$_ts=1</script>" + "<b></b>" * 60_000  # over 400,000 characters, no visible text
    assert guard.challenge(200, body, rules=RULES) is None
    assert guard.challenge(200, body[:399_990], rules=RULES) == "anti-bot script $_ts"


# --- soft 404s ----------------------------------------------------------------------------------------

def test_soft_404_marker_in_the_title_whatever_the_length():
    assert guard.is_soft_404(PAGE.replace("2023年法治政府建设年度报告", "页面不存在"), RULES)
    late_title = "<!--" + "x" * (RULES.scan_chars * 4) + "--><title>页面不存在</title>" + REPORT * 3
    assert not guard.is_soft_404(late_title, RULES)


def test_soft_404_marker_in_the_text_only_on_short_pages():
    r = rules(soft_404_max_visible=50)
    assert guard.is_soft_404(page_with_visible(40) + "页面不存在", r)
    assert not guard.is_soft_404(page_with_visible(45) + "页面不存在", r)  # 50 visible
    assert not guard.is_soft_404("<title></title>", r)  # nothing visible: not a soft 404


def test_bare_404_in_the_title_or_on_an_almost_empty_page():
    r = rules(soft_404_max_visible=1000, bare_404_max_visible=50)
    assert guard.is_soft_404("<title>404</title>" + "字" * 500, r)
    assert not guard.is_soft_404("<title>第404号公告</title>" + "字" * 500, r)
    assert not guard.is_soft_404("<title>404</title>" + "字" * 1000, r)
    assert guard.is_soft_404("<title>x</title>错误 404", r)
    assert not guard.is_soft_404("<title>x</title>错误 404" + "字" * 50, r)
    assert not guard.is_soft_404("<title>x</title>编号 1404", r)
    assert not guard.is_soft_404("<title>x</title>" + "字" * 400 + "404", r)


def test_huge_pages_are_not_soft_404s_by_their_text():
    body = "<title>x</title>" + "页面不存在" + "<b></b>" * 60_000
    assert not guard.is_soft_404(body, RULES)


# --- verdicts and their order -------------------------------------------------------------------------

def verdict(*args, **kw) -> guard.Verdict:
    return guard.judge(response(*args, **kw), rules=RULES)


def test_an_ordinary_report_is_ok_with_its_text():
    v = verdict()
    assert (v.kind, v.reason, v.text, v.encoding) == ("ok", "", PAGE, "utf-8")


def test_not_found_statuses_come_before_everything():
    assert verdict(b"%PDF-1.7", status=404) == guard.Verdict("not-found", "HTTP 404")
    assert verdict(status=410).kind == "not-found"


def test_oversized_pages_are_errors():
    v = guard.judge(response(PAGE), rules=rules(max_page_bytes=len(PAGE.encode()) - 1))
    assert v.kind == "error" and "over the" in v.reason and str(len(PAGE.encode())) in v.reason
    assert guard.judge(response(PAGE), rules=rules(max_page_bytes=len(PAGE.encode()))).kind == "ok"


def test_unfollowed_redirects():
    home = verdict(b"", status=302, headers={"Location": "/index.html"})
    assert home.kind == "not-found" and "redirect to http://127.0.0.1/index.html" in home.reason
    away = verdict(b"", status=301, headers={"Location": "http://elsewhere.example/a.html"})
    assert away.kind == "error" and "http://elsewhere.example/a.html not followed" in away.reason
    nowhere = verdict(b"", status=307)
    assert nowhere.kind == "error" and "redirect to nowhere" in nowhere.reason
    assert verdict(b"", status=399).kind == "error"
    assert verdict(PAGE, status=400).reason == "HTTP 400"


def test_followed_redirect_to_a_home_or_error_page_is_not_found():
    r = response(PAGE, url="http://127.0.0.1/error/404.html")
    v = guard.judge(r, requested_url=URL, rules=RULES)
    assert v.kind == "not-found" and v.reason == "redirected to http://127.0.0.1/error/404.html"
    assert guard.judge(r, requested_url=r.url, rules=RULES).kind == "ok"  # asked for that page itself
    assert guard.judge(r, rules=RULES).kind == "ok"
    assert guard.judge(response(PAGE, url="http://127.0.0.1/content/b.html"), requested_url=URL,
                       rules=RULES).kind == "ok"


def test_challenge_before_http_errors_and_binary_bodies():
    assert verdict(page_with_visible(10, "$_ts=1"), status=500).kind == "blocked"
    v = verdict(b"%PDF-1.7 binary", headers={"Content-Type": "text/html"})
    assert v == guard.Verdict("error", "PDF served as text/html")
    v = verdict(b"%PDF-1.7 binary", headers={"X": "y"})
    assert v == guard.Verdict("error", "PDF served as no type")
    assert verdict(PAGE, status=503).reason == "HTTP 503"


def test_empty_and_undecodable_bodies_are_errors():
    assert verdict(b"") == guard.Verdict("error", "empty body")
    assert verdict(b"  \n ") == guard.Verdict("error", "empty body")
    v = verdict(("政府信息公开" * 50).encode("utf-8")[1:-1] + b"\xff" * 40, headers={"Content-Type": "text/html"})
    assert v.kind == "error" and "could not be decoded" in v.reason
    assert verdict("\u3000\u3000".encode("utf-8")) == guard.Verdict("error", "empty body")


def test_soft_404_page_is_not_found():
    v = verdict("<html><title>页面不存在</title><body>返回首页</body></html>")
    assert v == guard.Verdict("not-found", "soft 404: a page saying it does not exist")


def test_the_verdict_is_remembered_in_the_request_meta():
    meta: dict = {}
    r = response(PAGE)
    first = guard.judge(r, rules=RULES, memo=meta)
    assert meta[guard.MEMO_KEY][1] is first
    # the same response again: the remembered verdict, even under rules that would judge it otherwise
    assert guard.judge(r, rules=rules(max_page_bytes=1), memo=meta) is first
    other = response(PAGE, url="http://127.0.0.1/content/post_2.html")
    assert guard.judge(other, rules=rules(max_page_bytes=1), memo=meta).kind == "error"
    assert guard.judge(r, rules=rules(max_page_bytes=1)).kind == "error"  # no memo: judged afresh


def test_text_responses_and_headers_without_charset():
    r = response(TEXT.encode("gb18030"), headers={"Content-Type": "text/html"}, cls=TextResponse)
    v = guard.judge(r, rules=RULES)
    assert v.kind == "ok" and v.encoding == "gb18030" and v.text == TEXT


# --- rules passed to judge are the rules used, everywhere ---------------------------------------------

def test_judge_applies_the_rules_it_is_given_at_every_step():
    custom = rules(binary_signatures=((b"ZZTOP", "custom binary"),))
    assert guard.judge(response(b"ZZTOP and more", headers={"Content-Type": "text/html"}), rules=custom) == \
        guard.Verdict("error", "custom binary served as text/html")
    one_bad = ("政府信息公开" * 50).encode("utf-8")
    one_bad = one_bad[:150] + b"\xe5" + one_bad[150:]
    assert guard.judge(response(one_bad), rules=RULES).kind == "ok"
    v = guard.judge(response(one_bad), rules=rules(max_bad_bytes=0))
    assert v == guard.Verdict("error", "body could not be decoded in any candidate encoding without losing text")
    assert guard.judge(response(PAGE, status=299), rules=rules(blocked_statuses=frozenset({299}))) == \
        guard.Verdict("blocked", "HTTP 299: anti-bot or challenge page")
    gone = "<html><title>无此文章</title><body>返回首页</body></html>"
    assert guard.judge(response(gone), rules=RULES).kind == "ok"
    assert guard.judge(response(gone), rules=rules(soft_404_markers=("无此文章",))).kind == "not-found"


def test_blocked_status_and_challenge_cookie_through_judge():
    assert verdict(PAGE, status=412) == guard.Verdict("blocked", "HTTP 412: anti-bot or challenge page")
    v = verdict(PAGE, headers={"Content-Type": "text/html", "Set-Cookie": "__jsluid_s=abc; Path=/"})
    assert v == guard.Verdict("blocked", "challenge cookie __jsluid_s: anti-bot or challenge page")


def test_http_errors_are_errors():
    assert verdict(PAGE, status=503) == guard.Verdict("error", "HTTP 503")


def test_a_binary_body_is_never_read_for_challenge_markers():
    assert verdict(b"%PDF-1.7 $_ts=1 var arg1=", headers={"Content-Type": "text/html; charset=utf-8"}) == \
        guard.Verdict("error", "PDF served as text/html")


def test_status_300_is_an_unfollowed_redirect():
    assert verdict(b"", status=300, headers={"Location": "/index.html"}).kind == "not-found"


def test_charset_from_a_header_without_content_type_or_in_capitals():
    v = verdict(TEXT.encode("gb18030"), headers={"X-Other": "1"})
    assert (v.kind, v.encoding, v.text) == ("ok", "gb18030", TEXT)
    big5 = "<p>臺灣地區政府資訊公開</p>"
    v = verdict(big5.encode("big5"), headers={"Content-Type": "text/html; CHARSET=big5"})
    assert (v.encoding, v.text) == ("big5", big5)
    v = verdict(big5.encode("big5"), headers={"Content-Type": b"text/html; charset=big5; x=\xff"})
    assert (v.encoding, v.text) == ("big5", big5)


def test_only_the_first_16_bytes_are_compared_with_signatures():
    long_magic = rules(binary_signatures=((b"A" * 17, "long"),))
    assert guard.binary_kind(b"A" * 17, long_magic) is None
    assert guard.binary_kind(b"a" * 1024 + b"\x01", rules(binary_control_share=0.0)) is None
    assert guard.binary_kind(b"a" * 1023 + b"\x01", rules(binary_control_share=0.0)) == "binary data"


def test_plausible_looks_at_exactly_20000_characters():
    assert guard._plausible("a" * 19600 + "é" * 401)  # the 401st is character 20,001
    assert not guard._plausible("a" * 19599 + "é" * 401)


def test_memo_is_per_response_object_and_per_requested_url():
    meta: dict = {}
    ok = response(PAGE)
    first = guard.judge(ok, requested_url=ok.url, rules=RULES, memo=meta)
    assert guard.judge(ok, rules=rules(max_page_bytes=1), memo=meta) is first  # same question
    blocked = response(PAGE.replace("2023年", "$_ts=1x"))  # another response of the same URL, status, size
    assert len(blocked.body) == len(ok.body)
    assert guard.judge(blocked, rules=rules(script_max_visible=10_000), memo=meta).kind == "blocked"


def test_exactly_400000_characters_is_a_huge_page():
    def padded(head: str, size: int) -> str:
        return head + "<b></b>" * ((size - len(head)) // 7) + " " * ((size - len(head)) % 7)

    page = padded("<title>x</title>页面不存在", 400_000)
    assert len(page) == 400_000 and not guard.is_soft_404(page, RULES)
    assert guard.is_soft_404(padded("<title>x</title>页面不存在", 399_999), RULES)
    assert not guard.is_soft_404(padded("<title>404</title>", 400_000), RULES)  # no text: judged by title markers


def test_bare_404_limit_is_strict():
    r = rules(soft_404_max_visible=1000, bare_404_max_visible=10)
    assert guard.is_soft_404("<title></title>404" + "字" * 6, r)  # 9 visible
    assert not guard.is_soft_404("<title></title>404" + "字" * 7, r)  # 10 visible


def test_unfollowed_redirect_reason_is_complete():
    away = verdict(b"", status=301, headers={"Location": "http://elsewhere.example/a.html"})
    assert away.reason == ("HTTP 301 redirect to http://elsewhere.example/a.html not followed "
                           "(off-host or too many hops)")


def test_charset_normalizer_reads_what_no_label_or_gb18030_can():
    body = TEXT.encode("utf-16")  # with its BOM: neither UTF-8 nor GB18030 decodes it
    text, encoding = decode_body(body, None, RULES)
    assert text == TEXT and encoding.lower().replace("_", "-").startswith("utf-16")


def test_text_marker_limit_is_strict():
    r = rules(script_max_visible=0, text_max_visible=100, cookie_script_max_visible=0)
    assert guard.challenge(200, page_with_visible(94) + "访问过于频繁", rules=r) is None  # exactly 100 visible


def test_a_guess_holding_replacement_characters_is_refused():
    """charset-normalizer's guess is taken only when its text has no U+FFFD: a UTF-16 page that carries
    U+FFFD characters of its own (a CMS stored them) decodes, but must never be stored with them."""
    body = (TEXT.replace("年度报告", "年度\ufffd报告") * 5).encode("utf-16")
    assert body.decode("utf-16").count("\ufffd") == 5  # the guess would be this text, plausible Chinese
    assert decode_body(body, None, RULES) is None
    assert decode_body((TEXT * 5).encode("utf-16"), None, RULES)[0] == TEXT * 5  # the same page without them


def test_a_meta_charset_must_end_within_the_first_4096_bytes():
    """The <meta> window is the first 4,096 bytes: a label whose last byte is byte 4,096 is read;
    one whose last byte is byte 4,097 is read cut short ("big"), which names no codec."""
    window = 4096
    big5 = "<p>臺灣地區政府資訊公開</p>"
    for last_byte, expected in ((window, "big5"), (window + 1, "gb18030")):
        tag = "<meta charset=big5"  # the label ends the tag's text; '>' follows
        pad = last_byte - len("<!---->") - len(tag)
        body = ("<!--" + "x" * pad + "-->" + tag + ">" + big5).encode("big5")
        assert body.index(b"big5") + len(b"big5") == last_byte
        assert decode_body(body, None, RULES)[1] == expected, last_byte


def test_challenge_scans_visible_text_of_pages_under_400000_characters_only():
    """A page of 400,000 characters or more is never a challenge by its (scripts-only) visible text;
    one character less and it is judged like any other page."""
    limit = 400_000
    head = "<script>$_ts=1</script>"
    for size, expected in ((limit - 1, "anti-bot script $_ts"), (limit, None)):
        page = head + "<b></b>" * ((size - len(head)) // 7) + " " * ((size - len(head)) % 7)
        assert len(page) == size
        assert guard.challenge(200, page, rules=RULES) == expected, size


# visible_text removes markup first and whitespace after it; the one-pass definition it must equal (markup
# and whitespace runs removed in a single left-to-right scan) is spelt out here as the reference
_ONE_PASS = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>|&[#\w]+;|\s+",
                       re.S | re.I)
_MARKUP = st.sampled_from(["<p>", "</p>", "<script>", "</script >", "<style a=1>", "</STYLE>", "<!--", "-->",
                           "<br/>", "&nbsp;", "&#12288;", "<", ">", "&", ";", " ", "\n", "\t", "\u3000",
                           "\xa0", "\x1c", "\u2028", "<a href='x y'>", "<template>", "</template>"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(_MARKUP, st.text(max_size=5)), max_size=25).map("".join))
@example("<p> a </p><script> x\n</script ><!-- c -->\u3000文&nbsp;字")
def test_visible_text_is_the_text_left_by_one_scan_for_markup_and_whitespace(html):
    assert guard.visible_text(html) == _ONE_PASS.sub("", html)

