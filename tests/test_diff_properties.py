"""Properties of the diff on generated report-like Chinese texts with realistic edits (Hypothesis).

An example is an old text of a few report paragraphs and a new text made from it by a few edits of the
kinds revisions really show: a figure changed, a phrase inserted or deleted, a clause deleted, full-width
punctuation turned half-width (or back), a paragraph inserted, deleted, moved, or moved and edited.
Whatever the edits, the ops must

* rebuild both texts exactly, and a moved paragraph's ``edits`` rebuild it on both sides;
* have ``equal`` runs whose old and new texts are the same;
* cut no figure or Latin word of either text (a figure edit shows as whole figures);
* be local: the characters they show as changed stay within a small factor of the minimal edit, which
  is computed here on its own (a longest common subsequence, figures and words taken as whole tokens),
  with a moved paragraph counted as where it came from (a move is shown as a move, only its edits count).

This module runs a short profile; bench/diff_properties.py runs the same property on ≥ 100,000 examples.
"""
from __future__ import annotations

import os
import re

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from archive.diff import diff_texts

# --- the oracle: minimal edit, computed independently of archive/diff.py -----------------------------

TOKEN_RE = re.compile(r"\d+(?:\.\d+)?%?|[A-Za-z]+")  # figures (800, 15.8, 5%) and Latin words
FACTOR, SLACK = 2, 10  # shown changes ≤ FACTOR × minimal edit + SLACK characters


def tokens(text: str) -> list[tuple[str, int]]:
    """One item per character; each character of a figure or word is tagged with the whole figure, so
    two figures share characters in the LCS only if they are the same figure."""
    out: list[tuple[str, int]] = []
    pos = 0
    for m in TOKEN_RE.finditer(text):
        out.extend((ch, -1) for ch in text[pos:m.start()])
        out.extend((m.group(), k) for k in range(len(m.group())))
        pos = m.end()
    out.extend((ch, -1) for ch in text[pos:])
    return out


def lcs_length(a: list, b: list) -> int:
    """Length of a longest common subsequence (bit-parallel, Allison–Dix / Hyyrö)."""
    masks: dict = {}
    for i, item in enumerate(a):
        masks[item] = masks.get(item, 0) | (1 << i)
    full = (1 << len(a)) - 1
    row = full
    for item in b:
        u = row & masks.get(item, 0)
        row = ((row + u) | (row - u)) & full
    return len(a) - bin(row).count("1")


def minimal_edit(old: str, new: str) -> int:
    """Fewest characters deleted plus inserted to turn old into new, figures and words whole."""
    a, b = tokens(old), tokens(new)
    return len(a) + len(b) - 2 * lcs_length(a, b)


def lcs_by_table(a: str, b: str) -> int:
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a):
        for j, y in enumerate(b):
            table[i + 1][j + 1] = table[i][j] + 1 if x == y else max(table[i][j + 1], table[i + 1][j])
    return table[-1][-1]


@settings(max_examples=200, deadline=None)
@given(st.text("ab12。", max_size=12), st.text("ab12。", max_size=12))
def test_oracle_lcs_agrees_with_the_textbook_table(a, b):
    assert lcs_length(list(a), list(b)) == lcs_by_table(a, b)


def test_oracle_takes_figures_whole():
    assert minimal_edit("共800件", "共860件") == 6  # not 2: a figure is replaced, not a digit
    assert minimal_edit("共800件", "共800件。") == 1


# --- the generator: report paragraphs and realistic edits -------------------------------------------

SUBJECTS = ["全区", "我局", "区政府", "各街道", "区司法局", "全年", "各部门", "本机关"]
CLAUSES = ["共办理行政复议案件{n}件", "比上年增长{p}", "其中调解和解结案{n}件", "占结案总数的{p}",
           "组织普法讲座和法律咨询活动{n}场", "覆盖群众约{n}万人次", "主动公开政府信息{n}条",
           "受理政府信息公开申请{n}件", "财政收入达到{d}亿元", "投入资金{d}万元", "实现GDP增长{p}",
           "召开新闻发布会{n}次", "通过政务微博发布信息{n}条", "{y}年新增就业{n}人",
           "进一步增强全员的法治观念", "提高依法行政意识", "群众法治意识明显提升", "推动各项工作再上新台阶",
           "依据GB{n}规范完成整改", "在official网站公开", "办理人大代表建议{n}件", "答复政协委员提案{n}件",
           "开展安全生产检查{n}次", "排查整改隐患{n}处", "培训执法人员{n}人次", "审查规范性文件{n}件",
           "化解信访矛盾{n}宗", "新建公共法律服务站{n}个", "城乡居民人均可支配收入{d}万元",
           "一般公共预算支出{d}亿元", "PM2.5平均浓度下降{p}", "接待来访群众{n}批次", "深化法治政府建设",
           "优化营商环境", "完善重大行政决策程序", "规范行政执法行为", "加强政务公开平台建设",
           "健全依申请公开工作机制", "落实行政执法三项制度", "聘请法律顾问{n}名"]
PHRASES = ["进一步", "全面", "深入", "持续", "扎实", "依法", "积极", "认真"]
FULL_HALF = [("，", ","), ("。", "."), ("；", ";"), ("：", ":"), ("（", "("), ("）", ")")]

figures = st.one_of(
    st.integers(1, 99_999).map(str),
    st.builds(lambda a, b: f"{a}.{b}", st.integers(0, 999), st.integers(0, 99)),
)
percents = st.builds(lambda a, b: f"{a}.{b}%" if b else f"{a}%", st.integers(0, 300), st.integers(0, 9))


def clause(draw, pool: list[int]) -> str:
    """A clause from an unused template (a report does not repeat itself), maybe with a subject."""
    text = CLAUSES[pool.pop()].format(
        n=draw(st.integers(1, 99_999)), p=draw(percents), d=draw(figures), y=draw(st.integers(2015, 2026)))
    if draw(st.booleans()):
        text = draw(st.sampled_from(SUBJECTS)) + text
    return text


def paragraph(draw, pool: list[int]) -> str:
    count = min(len(pool), draw(st.integers(1, 4)))
    text = "，".join(clause(draw, pool) for _ in range(count)) + draw(st.sampled_from(["。", "。", "；", "！"]))
    if draw(st.integers(0, 4)) == 0:
        text = f"（{draw(st.integers(1, 12))}）" + text
    return text


def _figure_edit(draw, text: str, pool: list[int]) -> str:
    spans = [m.span() for m in re.finditer(r"\d+(?:\.\d+)?%?", text)]
    if not spans:
        return text
    start, end = draw(st.sampled_from(spans))
    old = text[start:end]
    new = draw(st.one_of(figures, percents).filter(lambda f: f != old and f.rstrip("%") != old.rstrip("%")))
    return text[:start] + new + text[end:]


def _clause_bounds(text: str) -> list[int]:
    return [0] + [m.end() for m in re.finditer(r"[，,；;]", text)]


def _phrase_insert(draw, text: str, pool: list[int]) -> str:
    at = draw(st.sampled_from(_clause_bounds(text)))
    piece = draw(st.sampled_from(PHRASES)) if not pool or draw(st.booleans()) else clause(draw, pool) + "，"
    return text[:at] + piece + text[at:]


def _phrase_delete(draw, text: str, pool: list[int]) -> str:
    found = [m.span() for p in PHRASES + SUBJECTS for m in re.finditer(re.escape(p), text)]
    if not found:
        return text
    start, end = draw(st.sampled_from(found))
    return text[:start] + text[end:]


def _clause_delete(draw, text: str, pool: list[int]) -> str:
    bounds = _clause_bounds(text)
    if len(bounds) < 2:
        return text
    k = draw(st.integers(0, len(bounds) - 2))
    return text[:bounds[k]] + text[bounds[k + 1]:]


def _punctuation(draw, text: str, pool: list[int]) -> str:
    full, half = draw(st.sampled_from(FULL_HALF))
    a, b = (full, half) if draw(st.booleans()) else (half, full)
    spots = [m.start() for m in re.finditer(re.escape(a), text)]
    if not spots:
        return text
    at = draw(st.sampled_from(spots))
    return text[:at] + b + text[at + 1:]


IN_PARAGRAPH = [_figure_edit, _phrase_insert, _phrase_delete, _clause_delete, _punctuation]


@st.composite
def edited_texts(draw) -> tuple[str, str, str]:
    """(old, new, new with moved paragraphs put back where they were): the last one is what the
    minimal edit is measured against, since a move is shown as a move."""
    pool = list(draw(st.permutations(range(len(CLAUSES)))))
    paras = [paragraph(draw, pool) for _ in range(draw(st.integers(1, 6)))]
    old = "\n".join(paras)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["in-paragraph"] * 5 + ["insert", "delete"]))
        if kind == "insert":
            if pool:
                paras.insert(draw(st.integers(0, len(paras))), paragraph(draw, pool))
        elif kind == "delete" and len(paras) > 1:
            paras.pop(draw(st.integers(0, len(paras) - 1)))
        elif paras:
            k = draw(st.integers(0, len(paras) - 1))
            paras[k] = draw(st.sampled_from(IN_PARAGRAPH))(draw, paras[k], pool)
    unmoved = list(paras)
    move = draw(st.sampled_from(["none", "move", "move-and-edit"]))
    if move != "none" and len(paras) > 1:
        k = draw(st.integers(0, len(paras) - 1))
        if move == "move-and-edit":
            edit = draw(st.sampled_from([_figure_edit, _phrase_insert, _phrase_delete, _punctuation]))
            paras[k] = unmoved[k] = edit(draw, paras[k], pool)
        moving = paras.pop(k)
        paras.insert(draw(st.integers(0, len(paras)).filter(lambda j: j != k)), moving)
    return old, "\n".join(paras), "\n".join(unmoved)


# --- the property -----------------------------------------------------------------------------------

def shown_changes(ops) -> int:
    """Characters the ops show as deleted plus inserted; a moved paragraph shows only its edits."""
    total = 0
    for op in ops:
        if op.moved:
            total += shown_changes(op.edits or [])
        elif op.op != "equal":
            total += len(op.old) + len(op.new)
    return total


def boundaries(ops, side: str) -> set[int]:
    out, pos = {0}, 0
    for op in ops:
        pos += len(getattr(op, side))
        out.add(pos)
    return out


def check_ops_well_formed(ops) -> None:
    for op in ops:
        assert op.op in ("equal", "insert", "delete", "replace"), op
        if op.op == "equal":
            assert op.old == op.new, op
        else:
            assert op.op == ("replace" if op.old and op.new else "delete" if op.old else "insert"), op
        if op.edits is not None:
            check_ops_well_formed(op.edits)


def check_diff(old: str, new: str, unmoved: str) -> None:
    """All the diff's promises on one pair of texts (an AssertionError says which is broken)."""
    ops = diff_texts(old, new)
    assert "".join(op.old for op in ops) == old
    assert "".join(op.new for op in ops) == new
    check_ops_well_formed(ops)
    moved_from = [op.old for op in ops if op.moved and op.op == "delete"]
    for op in ops:
        if op.moved and op.edits is not None:
            assert op.op == "insert" and "".join(e.new for e in op.edits) == op.new
            assert "".join(e.old for e in op.edits) in moved_from
    for text, side in ((old, "old"), (new, "new")):
        cuts = boundaries(ops, side)
        for m in TOKEN_RE.finditer(text):
            assert not any(m.start() < pos < m.end() for pos in cuts), (side, m.group(), ops)
    shown, minimal = shown_changes(ops), minimal_edit(old, unmoved)
    assert shown <= FACTOR * minimal + SLACK, (shown, minimal, [op.as_dict() for op in ops if op.op != "equal"])


# under mutmut (which sets MUTANT_UNDER_TEST) a smaller, fixed sample, so hundreds of mutants run in minutes
UNDER_MUTMUT = bool(os.environ.get("MUTANT_UNDER_TEST"))


# what the 100,000-example run of 2026-11-29 03:04 UTC found (a short paragraph moved and heavily edited was
# shown as a whole deletion and insertion), kept as explicit examples
_TAIL = "（1）答复政协委员提案361件。\n（11）全区完善重大行政决策程序。"
FOUND = [("（4）各街道排查整改隐患99999处" + end + "\n（5）进一步增强全员的法治观念。\n" + _TAIL,
          "（5）进一步增强全员的法治观念。\n（2）排查整改隐患1处" + end + "\n" + _TAIL,
          "（2）排查整改隐患1处" + end + "\n（5）进一步增强全员的法治观念。\n" + _TAIL) for end in "；。"]


@settings(max_examples=60 if UNDER_MUTMUT else 300, derandomize=UNDER_MUTMUT, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(edited_texts())
@example(FOUND[0])
@example(FOUND[1])
def test_diff_is_exact_whole_and_local_on_realistic_edits(example):
    check_diff(*example)


def test_the_cases_the_long_run_found_are_local():
    for case in FOUND:
        check_diff(*case)


# --- the cases the issue reproduced, kept as plain examples -----------------------------------------

def test_figure_edit_next_to_a_shared_digit_keeps_the_rest_equal():
    """2023 → 210 shares a "2" and a "0" with the new figure; the old diff widened both sides by the
    same amount and showed "年，" as inserted and lost it from the old side."""
    ops = diff_texts("2023年，全区共办理案件", "210年，全区共办理案件")
    assert [(op.op, op.old, op.new) for op in ops] == [("replace", "2023", "210"),
                                                        ("equal", "年，全区共办理案件", "年，全区共办理案件")]


def test_moved_and_edited_paragraph_is_a_move_with_its_edit():
    a = "2023年，全区共办理行政复议案件800件，比上年增长5%。"
    b = "深入开展普法宣传教育，组织普法讲座和法律咨询活动。"
    c = "下一步，我区将继续深化法治政府建设，推动各项工作再上新台阶。"
    ops = diff_texts("\n".join([a, b, c]), "\n".join([b, c, a.replace("800", "860")]))
    moves = [op for op in ops if op.moved]
    assert [(op.op, op.old.strip(), op.new.strip()) for op in moves] == [("delete", a, ""),
                                                                         ("insert", "", a.replace("800", "860"))]
    assert [(e.op, e.old, e.new) for e in moves[1].edits if e.op != "equal" and e.old.strip()] == \
        [("replace", "800", "860")]
    assert shown_changes(ops) <= 8
