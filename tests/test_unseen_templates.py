"""The extractor on held-out templates (tests/sites/unseen.py): CMS styles the replica farm does not imitate.
Each page must give F1 ≥ 0.99 against its expected body, no chrome phrase, and exact title / published /
publisher / report_year (plus its attachments and the disclosure fields it shows)."""
from __future__ import annotations

import re

import pytest

from bench.fidelity import FIELDS, char_f1, chrome_left, chrome_phrases, unseen_cases
from crawler.extract import extract_page
from tests.sites.unseen import unseen_pages

PAGES = unseen_pages()


def lines(text: str) -> list[str]:
    return [re.sub(r"\s+", "", line) for line in text.splitlines()]

CASES = unseen_cases()


def test_held_out_set_is_varied():
    assert len(PAGES) >= 6
    assert len({p.style for p in PAGES}) == len(PAGES)
    assert len({p.expected.body for p in PAGES}) == len(PAGES)
    assert any(p.charset is None and not p.body.isascii() for p in PAGES)  # one page only declares in <meta>


@pytest.mark.parametrize("page", PAGES, ids=[p.key for p in PAGES])
def test_unseen_template(page):
    got = extract_page(page.html, page.url, site_name=page.site_name)
    expected = page.expected
    f1 = char_f1(got.text, expected.body)
    assert f1 >= 0.99, f"F1 {f1:.4f}\n--- got\n{got.text}\n--- expected\n{expected.body}"
    assert chrome_left(got.text, expected.body, chrome_phrases()) == []
    assert lines(got.text) == lines(expected.body)  # one paragraph per line, in order
    assert (got.title, got.published, got.publisher, got.report_year) == (
        expected.title, expected.published, expected.publisher, expected.report_year)
    assert sorted(got.attachments) == sorted((url, text) for text, url in expected.attachments)
    assert {k: got.record.get(k) for k in page.record} == page.record


def test_bench_cases_match_the_pages():
    assert [c.name for c in CASES] == [f"unseen:{p.key}" for p in PAGES]
    assert all(set(FIELDS) <= set(c.expected) for c in CASES)
