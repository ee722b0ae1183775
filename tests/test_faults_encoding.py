"""Mislabelled encodings are decoded right and never stored with replacement characters: a GBK/GB18030
page labelled UTF-8 or nothing, a UTF-8 page labelled GB2312, GB18030-only characters under a GBK label,
a BOM, an <?xml?> declaration. A known page served that way is `unchanged` (not a mojibake revision)."""
from __future__ import annotations

import pytest
from scrapy.http import HtmlResponse

from crawler import guard
from tests.sites.faults import RARE_CHARS_PARAGRAPH, FaultFarm, fault_run, squash

ENCODINGS = ["gbk-as-utf8", "gbk-unlabelled", "utf8-as-gb2312", "gb18030-as-gbk", "utf8-bom-as-gbk", "xml-gbk"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return fault_run(tmp_path_factory.mktemp("encoding"), ENCODINGS)


@pytest.mark.parametrize("fault", ENCODINGS)
def test_known_page_is_unchanged(run, fault):
    assert [f["outcome"] for f in run.fetches(f"known-{fault}")] == ["unchanged"]
    assert len(run.revisions(f"known-{fault}")) == 1


@pytest.mark.parametrize("fault", ENCODINGS)
def test_new_page_is_archived_with_the_right_text(run, fault):
    slug = f"new-{fault}"
    assert [f["outcome"] for f in run.fetches(slug)] == ["new"]
    [revision] = run.revisions(slug)
    assert squash(revision["text"]) == squash(run.site.articles[slug].text)
    assert RARE_CHARS_PARAGRAPH in revision["text"]  # GB18030-only characters survived
    assert revision["title"] == run.site.articles[slug].title


def test_no_replacement_characters_anywhere(run):
    assert run.second.returncode == 0, run.second.stderr[-2000:]
    for table, column in (("revisions", "text"), ("revisions", "title"), ("documents", "title"),
                          ("documents", "publisher")):
        bad = run.query(f"SELECT id FROM {table} WHERE {column} LIKE ?", ["%\ufffd%"])
        assert bad == [], f"{table}.{column} holds U+FFFD"


def _gbk_page() -> bytes:
    with FaultFarm(("enc",)) as farm:
        site = farm.sites["enc"]
        site.add_article("a")
        return site.article_html("a", charset="utf-8").encode("gb18030")


def test_scrapy_alone_would_store_mojibake_and_the_guard_does_not():
    body = _gbk_page()
    response = HtmlResponse("http://127.0.0.1/a.html", body=body,
                            headers={"Content-Type": "text/html; charset=utf-8"})
    assert "\ufffd" in response.text  # the problem: Scrapy believes the header
    verdict = guard.judge(response)
    assert verdict.kind == "ok" and verdict.encoding == "gb18030"
    assert "\ufffd" not in verdict.text and RARE_CHARS_PARAGRAPH in verdict.text


def test_a_few_broken_bytes_are_dropped_never_replaced():
    body = _gbk_page()
    cut = body.index("法治政府".encode("gb18030"))
    broken = body[:cut + 1] + body[cut + 2:]  # half a character, as CMSs leave when they truncate
    decoded = guard.decode_body(broken, "gbk")
    assert decoded is not None
    text, encoding = decoded
    assert encoding == "gb18030" and "\ufffd" not in text and RARE_CHARS_PARAGRAPH in text


def test_a_wrong_encoding_is_refused_not_guessed_into_garbage():
    latin = ("<html><body>" + "Ça coûte très cher à Montréal, où l’été est brûlant. " * 40 + "</body></html>")
    body = latin.encode("utf-16-le")  # not any encoding a Chinese page could be in
    response = HtmlResponse("http://127.0.0.1/a.html", body=body, headers={"Content-Type": "text/html"})
    assert guard.judge(response).kind == "error"
