"""The fast volatile-text patterns (crawler/extract/firstchar.py) find exactly what the plain alternations
of config/volatile.yaml find: the guards and the prefilter only skip work, never a match."""
from __future__ import annotations

import re
from re import _compiler
from re import _parser as P

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.extract.firstchar import (
    Alternation,
    Prefilter,
    char_class,
    core_regex,
    first_chars,
    guarded,
    required_chars,
    required_words,
)
from crawler.extract.volatile import load_volatile
from tests.test_volatile import INFO_LINES, SEED_PARAGRAPHS, WHOLE_LINES

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAST, PLAIN = load_volatile(), load_volatile(fast=False)
# characters the rules look for, and some they do not
ALPHABET = ("0123456789１２今天是现在当前时间日期星期礼拜周一六日年月农历十初晴多云℃°度天气空质量AQI良"
            "在线人数用户第位访客本文已被阅读浏览次点击量：:（()）【】 \t\u3000-/.~，,。的政府工作报告")
FRAGMENTS = [*WHOLE_LINES, *(line for line, _ in INFO_LINES), *SEED_PARAGRAPHS[:40]]


def _texts():
    return st.one_of(st.text(alphabet=ALPHABET, max_size=80),
                     st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(alphabet=ALPHABET, max_size=8)),
                              max_size=5).map("".join))


@pytest.mark.parametrize("key", ["anywhere", "outside_prose"])
@PROPERTY
@given(text=_texts())
def test_the_fast_rules_cut_exactly_what_the_plain_ones_cut(key, text):
    fast, plain = getattr(FAST, key), getattr(PLAIN, key)
    assert fast.sub("", text) == plain.sub("", text)
    assert fast.sub(lambda m: f"<{m.group(0)}>", text) == plain.sub(lambda m: f"<{m.group(0)}>", text)


def _marked(match: re.Match) -> str:
    return f"<{match.group(0)}>"


@pytest.mark.parametrize("key", ["anywhere", "outside_prose"])
def test_every_known_volatile_form_still_matches_the_fast_rules(key):
    fast, plain = getattr(FAST, key), getattr(PLAIN, key)
    hits = [line for line in FRAGMENTS if plain.search(line)]
    assert hits  # the check below is not vacuous
    for line in hits:
        assert fast.sub(_marked, line) == plain.sub(_marked, line) != line
        assert fast.hint.search(line), line


def test_an_alternative_that_can_start_anywhere_is_left_out_only_where_it_cannot_match():
    weather = "深圳 晴 18℃~25℃"
    gated = FAST.outside_prose.gates
    assert gated  # the weather rule starts with any Chinese character (a place name): it is gated
    assert all(gate.search(weather) for _, gate in gated)
    for text in (weather, "全年晴好天气共18天", "晴 18度", "晴 18"):
        assert FAST.outside_prose.sub(_marked, text) == PLAIN.outside_prose.sub(_marked, text)


SMALL_PATTERNS = [r"(?<!\d)(?:星期|周)?\d+次", r"(?:19|20)\d{2}年", r"(?:天气\s*)?[晴阴]\s*-?\d+℃", r"a+|b(?=c)|\bx",
                  r"(?:ab)*c", r"(?>a|bc)d", r"[^a]b", r"\w*", r"(a)\1", r"(?i:ab)c", r"x?y?"]


@pytest.mark.parametrize("pattern", SMALL_PATTERNS)
@settings(max_examples=200, deadline=None)
@given(text=st.text(alphabet="ab cdxy12星期周次年天气晴阴-℃0", max_size=30))
def test_a_guarded_pattern_matches_the_same_spans(pattern, text):
    plain = re.compile(pattern)
    fast = re.compile(guarded(pattern))
    assert [m.span() for m in fast.finditer(text)] == [m.span() for m in plain.finditer(text)]
    assert Alternation([pattern]).sub("_", text) == plain.sub("_", text)
    alternation = Alternation([pattern, r"[\u4e00-\u9fff]{1,2}\s*[晴阴]\s*\d+℃", r"星期[一二三]"])
    assert alternation.gates  # the second can start at any Chinese character
    assert alternation.sub("_", text) == alternation.regex.sub("_", text)


def test_what_is_read_from_a_pattern():
    assert first_chars(r"(?<!\d)(?:星期|周)?\d+次") == (frozenset({(26143, 26143), (21608, 21608), r"\d"}), False)
    assert guarded(r"(?<!\d)(?:星期|周)?\d+次").startswith("(?=[")
    assert char_class(required_chars(r"(?:19|20)\d{2}年")) == "年"  # the smallest set a match needs
    assert set(char_class(required_chars(r"(?:19|20)\d{2}"))) == {"1", "2"}
    assert char_class(required_chars(r"x*\d")) == r"\d"
    # what cannot be read is left alone: empty matches, negated classes, backreferences, ignore-case
    for pattern in (r"\w*", r"x?y?", r"[^a]b", r"(a)?\1b", "(?i)ab", r"(?i:ab)c"):
        assert guarded(pattern) == pattern
    assert required_chars(r"x?y?") is None and Alternation([r"x?y?"]).hint is None
    assert required_chars("(?i)ab") is None


@settings(max_examples=300, deadline=None)
@given(text=st.text(alphabet="全年行政abcXYZ_09１２ 　，。、-_\t\n\ue000\uf8ff가あ", max_size=40))
def test_the_search_segmenters_guarded_gap_pattern_finds_the_same_gaps(text):
    from archive import search

    plain = re.compile(f"(?<=[{search._CJK}]){search._GAP}|{search._GAP}(?=[{search._CJK}])")
    assert search._CJK_GAP_RE.sub("|", text) == plain.sub("|", text)


# --- prefilters: what every match must hold (a text without it is not searched) ---------------------------

RULE_ALTERNATIVES = [a for key in ("anywhere", "outside_prose") for a in getattr(FAST, key).alternatives]


@pytest.mark.parametrize("pattern", [*RULE_ALTERNATIVES, *SMALL_PATTERNS])
@PROPERTY
@given(text=_texts())
def test_every_match_holds_a_required_word_and_a_match_of_the_core(pattern, text):
    plain = re.compile(pattern)
    words, core, prefilter = required_words(pattern), core_regex(pattern), Prefilter.of([pattern])
    for match in plain.finditer(text):
        if words is not None:
            assert any(w in match.group(0) for w in words), (words, match.group(0))
        if core is not None:
            assert core.search(text), match.group(0)
        if prefilter is not None:
            assert prefilter.search(text), match.group(0)
    if prefilter is not None:  # its cores, a leading repeat unrolled, find what the cores find
        for items, fast in zip(prefilter._core_items, prefilter.cores, strict=True):
            assert bool(fast.search(text)) == bool(_compiler.compile(P.SubPattern(P.parse(pattern).state, items))
                                                   .search(text))


def test_what_the_prefilters_read():
    assert required_words(r"(?:今天是|今天|今日)\s*\d+") == {"今天", "今日"}  # "今天是" holds "今天"
    assert required_words(r"(?:19|20)\d{2}年(?:星期|周)") == {"年星期", "年周"}  # what the run spells
    assert required_words(r"\d+") is None and required_words(r"x?") is None and required_words(r"(?:a|)b?") is None
    weather = r"(?:[\u4e00-\u9fa5]{2,4}\s+)?(?:晴|阴)\s*\d+℃(?!\d)"
    core = core_regex(weather)
    assert core.search("深圳 晴 18℃") and not core.search("二〇二四年度报告")
    assert core_regex(r"(?<!\d)x?") is None  # nothing but optional and zero-width items
    assert FAST.hint.search("今天是2026年11月21日") and not FAST.hint.search("全年办理行政复议案件126件。")
    # a temperature needs only "度" of its words, in every "年度": its core is sought instead
    assert not FAST.hint.search("2024年度法治政府建设年度报告") and FAST.hint.search("晴 18度~25度")
    assert Prefilter.of([r"x?y?"]) is None


@PROPERTY
@given(text=_texts())
def test_a_text_the_rules_hint_finds_nothing_in_holds_no_fragment(text):
    if not FAST.hint.search(text):
        assert not PLAIN.anywhere.search(text) and not PLAIN.outside_prose.search(text)


@pytest.mark.parametrize("prose", [None, False, True])
@PROPERTY
@given(text=st.lists(_texts(), max_size=4).map("。".join), before=st.sampled_from(["", "发布日期：", "来源："]))
def test_scrub_with_the_prefilters_cuts_what_the_plain_rules_cut(prose, text, before):
    """The hint (no string a fragment needs: unchanged) and the per-sentence prefilter of a prose line
    change nothing: the plain rules have neither."""
    from crawler.extract.volatile import scrub

    assert scrub(text, FAST, prose=prose, before=before) == scrub(text, PLAIN, prose=prose, before=before)
