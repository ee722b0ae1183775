"""The real-page regression corpus (tests/real, origins in tests/real/SOURCES.md): real captured pages of
Chinese government sites with hand-checked gold. Every page must reach char-F1 ≥ 0.99 against its gold body,
leave no chrome phrase, and give the exact title, publication date and publisher."""
from __future__ import annotations

import json
import re

import pytest

from bench.fidelity import REAL_DIR, char_f1, chrome_left, chrome_phrases, ours, real_cases

CASES = real_cases()


def test_corpus_is_complete_and_documented():
    sources = (REAL_DIR / "SOURCES.md").read_text(encoding="utf-8")
    assert len(CASES) >= 15
    for case in CASES:
        key = case.name.removeprefix("real:")
        assert f"`{key}`" in sources, f"{key} has no origin in SOURCES.md"
        gold = json.loads((REAL_DIR / f"{key}.gold.json").read_text(encoding="utf-8"))
        assert set(gold) >= {"url", "site_name", "title", "published", "publisher"}
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", gold["published"])


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_real_page(case):
    got = ours(case)
    expected = case.expected
    assert char_f1(got["body"], expected["body"]) >= 0.99
    assert chrome_left(got["body"], expected["body"], chrome_phrases()) == []
    assert (got["title"], got["published"], got["publisher"]) == (
        expected["title"], expected["published"], expected["publisher"])
