"""The character diff on Chinese paragraphs: alignment, phrases, whole figures, and the three renderings."""
from __future__ import annotations

import json

from archive.diff import (
    Diff,
    Op,
    chars_changed,
    diff_chars,
    diff_metadata,
    diff_texts,
    render_html,
    render_json,
    render_text,
)

P1 = "2023年，全区共办理行政复议案件800件，比上年增长5%，其中调解和解结案126件，占结案总数的15.8%。"
P2 = "深入开展普法宣传教育，组织普法讲座和法律咨询活动，覆盖群众约3万人次，群众法治意识明显提升。"
P3 = "同时，法律顾问还定期为我们局开展有针对性的法律知识培训，进一步增强全员的法治观念、提高依法行政意识。"
P4 = "下一步，我区将继续深化法治政府建设，推动各项工作再上新台阶。"


def lines(*paragraphs: str) -> str:
    return "\n".join(paragraphs)


def changed(ops):
    return [(op.op, op.old, op.new) for op in ops if op.op != "equal"]


def rebuilt(ops):
    return "".join(op.old for op in ops), "".join(op.new for op in ops)


def check_rebuilds(old, new):
    ops = diff_texts(old, new)
    assert rebuilt(ops) == (old, new)
    return ops


def test_changed_figure_is_one_whole_number():
    old = lines(P1, P2)
    new = old.replace("800件", "860件")
    assert changed(check_rebuilds(old, new)) == [("replace", "800", "860")]


def test_decimal_and_longer_number_kept_whole():
    assert changed(diff_chars("占15.8%。", "占16.2%。")) == [("replace", "15.8%", "16.2%")]
    assert changed(diff_chars("共800件", "共8000件")) == [("replace", "800", "8000")]
    assert changed(diff_chars("依据GB50016规范", "依据GB50017规范")) == [("replace", "GB", "GB")][:0] + \
        [("replace", "50016", "50017")]


def test_latin_word_kept_whole():
    assert changed(diff_chars("发布于official网站", "发布于officiel网站")) == [("replace", "official", "officiel")]


def test_removed_sentence_is_one_deletion():
    old = P1 + P3[:12] + "，" + P2
    new = P1 + P2
    ops = check_rebuilds(old, new)
    assert changed(ops) == [("delete", P3[:12] + "，", "")]


def test_removed_sentence_inside_paragraph():
    sentence = "同时，法律顾问还定期开展法律知识培训。"
    old = "全区共办理案件800件。" + sentence + "群众法治意识明显提升。"
    new = "全区共办理案件800件。群众法治意识明显提升。"
    assert changed(check_rebuilds(old, new)) == [("delete", sentence, "")]


def test_inserted_paragraph_leaves_the_rest_equal():
    old = lines(P1, P2, P4)
    new = lines(P1, P2, P3, P4)
    ops = check_rebuilds(old, new)
    assert changed(ops) == [("insert", "", P3 + "\n")]


def test_moved_paragraph_is_one_delete_and_one_insert_marked_moved():
    old = lines(P1, P2, P3, P4)
    new = lines(P2, P3, P1, P4)
    ops = check_rebuilds(old, new)
    kinds = changed(ops)
    assert len(kinds) == 2
    assert {k[0] for k in kinds} == {"delete", "insert"}
    assert all((op.old or op.new).strip() == P1 for op in ops if op.op != "equal")
    assert all(op.moved for op in ops if op.op != "equal")


def test_punctuation_only_change():
    old = lines(P1, P2)
    new = old.replace("提升。", "提升！").replace("126件，", "126件；")
    assert changed(check_rebuilds(old, new)) == [("replace", "，", "；"), ("replace", "。", "！")]


def test_edit_in_long_paragraph_reads_as_phrase_not_confetti():
    old = P1 + P2 + P3
    new = P1 + P2.replace("组织普法讲座和法律咨询活动", "举办法治文艺演出和送法下乡活动") + P3
    ops = check_rebuilds(old, new)
    assert len(changed(ops)) == 1
    op = next(o for o in ops if o.op != "equal")
    assert "普法讲座" in op.old and "送法下乡" in op.new


def test_unrelated_rewrite_is_delete_and_insert_not_character_soup():
    old = lines(P1, P2)
    new = lines(P1, "本年度无其他事项需要说明。")
    ops = check_rebuilds(old, new)
    assert changed(ops) == [("replace", P2, "本年度无其他事项需要说明。")]


def test_identical_and_empty_texts():
    assert changed(check_rebuilds(P1, P1)) == []
    assert changed(check_rebuilds("", P1)) == [("insert", "", P1)]
    assert changed(check_rebuilds(P1, "")) == [("delete", P1, "")]


def sample_diff():
    old = lines(P1, P2, P3, P4)
    new = lines(P1.replace("800", "860"), P2, P4, '新增<script>alert(1)</script>段落。')
    meta = diff_metadata({"title": "年度报告", "published": "2024-01-01", "publisher": "司法局"},
                         {"title": "年度报告（修订）", "published": "2024-01-01", "publisher": "司法局"})
    return Diff({"id": 7, "url": "http://x/7.html", "title": "年度报告<b>"}, {"id": 1, "fetched_at": "a"},
                {"id": 2, "fetched_at": "b"}, diff_texts(old, new), meta), old, new


def test_json_rebuilds_both_texts_and_names_revisions():
    diff, old, new = sample_diff()
    data = json.loads(render_json(diff))
    assert data["from"] == 1 and data["to"] == 2 and data["document"]["id"] == 7
    assert {c["op"] for c in data["changes"]} <= {"equal", "insert", "delete", "replace"}
    assert "".join(c["old"] for c in data["changes"]) == old
    assert "".join(c["new"] for c in data["changes"]) == new
    assert list(data["metadata"]) == ["title"]
    assert data["metadata"]["title"]["new"] == "年度报告（修订）"


def test_html_escapes_scraped_text_and_marks_changes():
    diff, _, _ = sample_diff()
    page = render_html(diff)
    assert page.startswith("<!DOCTYPE html>")
    assert "<del>800</del><ins>860</ins>" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "年度报告&lt;b&gt;" in page
    assert "<ins>（修订）</ins>" in page


def test_text_markers_without_terminal_and_colours_with():
    diff, _, _ = sample_diff()
    plain = render_text(diff, color=False)
    assert "[-800-]{+860+}" in plain
    assert "\x1b[" not in plain
    assert "title: 年度报告{+（修订）+}" in plain
    assert f"\n[-{P3}-]\n" in plain
    assert f"\n{P4}\n{{+新增<script>alert(1)</script>段落。+}}" in plain


def test_text_elides_unchanged_paragraphs_far_from_changes():
    paragraphs = [f"第{n}段：{P2}" for n in range(1, 11)]
    old = "\n".join(paragraphs)
    new = old.replace("第8段：深入开展", "第8段：持续开展")
    diff = Diff({"id": 1}, {"id": 1}, {"id": 2}, diff_texts(old, new))
    plain = render_text(diff)
    assert "第8段：[-深入-]{+持续+}开展" in plain
    assert paragraphs[6] in plain and paragraphs[8] in plain  # one line of context each side
    assert "第1段" not in plain and "第10段" not in plain
    assert "... 6 unchanged lines\n第7段" in plain and plain.endswith("... 1 unchanged line\n")
    assert "\x1b[31;9m深入\x1b[0m\x1b[32;4m持续\x1b[0m" in render_text(diff, color=True)


# ---------------------------------------------------------------- end to end on a replica site

def test_edited_replica_report_diffs_to_exactly_its_edits(tmp_path):
    """Crawl a replica site, edit a report (one figure, one sentence removed), crawl again: the
    diff in all three formats shows exactly those edits."""
    import re

    from click.testing import CliRunner

    from archive.cli import cli
    from tests.crawling import crawl
    from tests.sites import ReplicaFarm

    db = tmp_path / "archive.db"
    with ReplicaFarm(("trs",)) as farm:
        config = farm.sources_yaml(tmp_path / "sources.yaml")
        assert crawl(config, db, "replica-trs").returncode == 0
        farm.set_state(2)
        done = crawl(config, db, "replica-trs")
        assert done.returncode == 0, done.stderr[-2000:]
        change = farm.changes["trs"]
        url = farm.sites["trs"].url(change.edited)

    def run(*args):
        result = CliRunner().invoke(cli, ["--db", str(db), "diff", url, *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    data = json.loads(run("--format", "json"))
    old_digits, new_digits = re.search(r"\d+", change.old_figure)[0], re.search(r"\d+", change.new_figure)[0]
    edits = [c for c in data["changes"] if c["op"] != "equal"]
    assert len(edits) == 2
    assert edits[0] == {"op": "replace", "old": old_digits, "new": new_digits}
    assert edits[1]["op"] == "delete" and edits[1]["new"] == ""
    assert re.sub(r"\s", "", edits[1]["old"]) == re.sub(r"\s", "", change.removed_sentence)
    assert data["metadata"] == {}
    text = run()
    assert f"[-{old_digits}-]{{+{new_digits}+}}" in text and f"[-{edits[1]['old']}-]" in text
    page = run("--format", "html")
    assert f"<del>{old_digits}</del><ins>{new_digits}</ins>" in page
    assert page.count("<del>") == 2 and page.count("<ins>") == 1


# ---------------------------------------------------------------- exact ops and moves

def test_figure_sharing_digits_with_its_replacement_is_shown_exactly():
    old, new = lines(P1, P2), lines(P1, P2).replace("2023年", "210年")
    ops = check_rebuilds(old, new)
    assert changed(ops) == [("replace", "2023", "210")]
    assert all(op.old == op.new for op in ops if op.op == "equal")
    page = render_html(Diff({"id": 1}, {"id": 1}, {"id": 2}, ops))
    assert "<del>2023</del><ins>210</ins>年，全区" in page


def moved_and_edited():
    old = lines(P1, P2, P3, P4)
    new = lines(P2, P3, P1.replace("800", "860"), P4)
    return old, new, check_rebuilds(old, new)


def test_moved_and_edited_paragraph_is_a_move_with_its_edits():
    old, new, ops = moved_and_edited()
    gone, arrived = [op for op in ops if op.moved]
    assert (gone.op, gone.old, gone.new) == ("delete", P1 + "\n", "")
    assert (arrived.op, arrived.old, arrived.new) == ("insert", "", P1.replace("800", "860") + "\n")
    assert changed(arrived.edits) == [("replace", "800", "860")]
    assert rebuilt(arrived.edits) == (gone.old, arrived.new)
    assert changed(ops) == [("delete", gone.old, ""), ("insert", "", arrived.new)]
    assert Diff({"id": 1}, {"id": 1}, {"id": 2}, ops).stats() == (3, 3)  # the move itself changes nothing


def test_a_move_without_edits_counts_no_characters_and_has_no_edits():
    ops = check_rebuilds(lines(P1, P2, P3, P4), lines(P2, P3, P1, P4))
    assert [op.edits for op in ops if op.moved] == [None, None]
    assert all("edits" not in op.as_dict() for op in ops)
    assert Diff({"id": 1}, {"id": 1}, {"id": 2}, ops).stats() == (0, 0)


def test_moves_in_the_three_renderings():
    _, _, ops = moved_and_edited()
    diff = Diff({"id": 7, "url": "http://x/7.html"}, {"id": 1}, {"id": 2}, ops)
    plain = render_text(diff)
    assert f"[~{P1}~]\n" in plain
    head, tail = P1.split("800")
    assert f"{{~{head}~}}[-800-]{{+860+}}{{~{tail}~}}" in plain
    assert "text: +3 -3 characters" in plain
    assert "\x1b[2;9m" in render_text(diff, color=True) and "\x1b[36m" in render_text(diff, color=True)
    page = render_html(diff)
    assert f'<del class="moved">{P1}\n</del>' in page
    assert f'<ins class="moved">{head}</ins><del>800</del><ins>860</ins><ins class="moved">{tail}' in page
    data = json.loads(render_json(diff))
    moved = [c for c in data["changes"] if c.get("moved")]
    assert [c["op"] for c in moved] == ["delete", "insert"] and "edits" not in moved[0]
    assert [e for e in moved[1]["edits"] if e["op"] != "equal"] == [{"op": "replace", "old": "800", "new": "860"}]


def test_an_unrelated_paragraph_elsewhere_is_not_a_move():
    ops = check_rebuilds(lines(P1, P2, P3), lines(P2, P3, P4))
    assert not any(op.moved for op in ops)
    assert changed(ops) == [("delete", P1 + "\n", ""), ("insert", "", "\n" + P4)]


def test_each_paragraph_moves_at_most_once():
    ops = check_rebuilds(lines(P1, P2, P3), lines(P2, P3, P1, P1))
    assert [(op.op, op.old.strip() or op.new.strip()) for op in ops if op.moved] == [("delete", P1), ("insert", P1)]


def test_metadata_from_nothing_and_to_nothing():
    meta = diff_metadata(None, {"title": "年度报告", "published": None, "publisher": "司法局"})
    assert {k: changed(v) for k, v in meta.items()} == {"title": [("insert", "", "年度报告")],
                                                        "publisher": [("insert", "", "司法局")]}
    meta = diff_metadata({"title": "年度报告", "published": "2024-01-01"}, {"title": "年度报告", "published": None})
    assert {k: changed(v) for k, v in meta.items()} == {"published": [("delete", "2024-01-01", "")]}


def test_a_change_of_line_breaks_alone_shows_as_a_mark():
    dropped = Diff({"id": 1}, {"id": 1}, {"id": 2}, check_rebuilds(lines(P1, P2) + "\n", lines(P1, P2)))
    assert render_text(dropped).endswith(f"\n{P2}[-↵-]\n")
    added = Diff({"id": 1}, {"id": 1}, {"id": 2}, check_rebuilds(lines(P1, P2), lines(P1, P2) + "\n\n"))
    assert render_text(added).endswith(f"\n{P2}{{+↵+}}\n{{+↵+}}\n")
    assert render_html(added).count("<ins>\n\n</ins>") == 1


def test_diff_revisions_from_nothing_and_between_two():
    from archive.diff import diff_revisions

    doc = {"id": 3, "url": "http://x/3.html", "title": "年度报告"}
    first = {"id": 1, "title": "年度报告", "published": "2024-01-01", "publisher": None, "text": lines(P1, P2)}
    second = {**first, "id": 2, "publisher": "司法局", "text": lines(P1, P2).replace("800", "860")}
    created = diff_revisions(doc, None, first)
    assert created.from_revision is None and created.to_revision is first and created.document is doc
    assert changed(created.changes) == [("insert", "", lines(P1, P2))]
    assert {k: changed(v) for k, v in created.metadata.items()} == {"title": [("insert", "", "年度报告")],
                                                                   "published": [("insert", "", "2024-01-01")]}
    edited = diff_revisions(doc, first, second)
    assert changed(edited.changes) == [("replace", "800", "860")] and list(edited.metadata) == ["publisher"]
    assert edited.changed and edited.stats() == (3, 3)
    same = diff_revisions(doc, first, {**first, "id": 2})
    assert not same.changed and same.metadata == {}
    assert "(text unchanged)" in render_text(same) and "revision 1 fetched ?" in render_text(same)
    assert "--- (nothing)" in render_text(created)


def prose(n: int, length: int = 30) -> str:
    """A distinct paragraph of CJK characters, unlike the others (a stand-in for a report paragraph)."""
    return "".join(chr(0x4E00 + (n * 7919 + k * 104729) % 20000) for k in range(length)) + "。"


def test_two_figures_in_one_paragraph_are_both_whole():
    assert changed(diff_chars("2023年共800件", "210年共860件")) == [("replace", "2023", "210"),
                                                                   ("replace", "800", "860")]


def test_one_character_paragraphs_that_differ_are_not_a_move():
    ops = check_rebuilds(lines("甲", P1, P2), lines(P1, P2, "乙"))
    assert not any(op.moved for op in ops)


def test_paragraphs_sharing_a_few_words_are_not_a_move():
    a = "全区共办理行政复议案件800件，比上年增长5%。"
    b = "全区共受理政府信息公开申请126件，比上年下降3%。"
    ops = check_rebuilds(lines(a, P2, P3), lines(P2, P3, b))
    assert not any(op.moved for op in ops)


def test_an_identical_paragraph_is_preferred_to_an_edited_copy():
    edited = P1.replace("800", "860")
    ops = check_rebuilds(lines(P1, P2, P3), lines(P2, P3, edited, P1))
    moved = [op for op in ops if op.moved]
    assert [(op.op, (op.old or op.new).strip(), op.edits) for op in moved] == [("delete", P1, None),
                                                                              ("insert", P1, None)]


def test_a_paragraph_claimed_twice_does_not_stop_other_moves():
    y = prose(5)
    ops = check_rebuilds(lines(P1, y, P2, P3, P4), lines(P2, P3, P4, P1, P1, y))
    assert [(op.op, (op.old or op.new).strip()) for op in ops if op.moved] == \
        [("delete", P1), ("delete", y), ("insert", P1), ("insert", y)]


def test_many_moved_paragraphs_are_paired_edited_ones_up_to_the_limit():
    """A block of 200 paragraphs moved past 200 others: every one is a move, an edited one with its
    edits; past 200 × 200 (BAND_CELLS) only identical paragraphs are paired, which stays fast."""
    for count, edited_is_move in ((200, True), (201, False)):
        block, rest = [prose(n) for n in range(count)], [prose(1000 + n) for n in range(count)]
        new_block = list(block)
        new_block[7] = block[7][:10] + "八百" + block[7][12:]
        ops = check_rebuilds(lines(*block, *rest), lines(*rest, *new_block))
        moved = [op for op in ops if op.moved]
        assert len(moved) == 2 * count - (0 if edited_is_move else 2)
        assert [op for op in moved if op.edits] == [] if not edited_is_move else \
            [changed(op.edits) for op in moved if op.edits] == [[("replace", block[7][10:12], "八百")]]


def test_a_large_block_of_edited_paragraphs_pairs_each_with_its_edit():
    old = [prose(n) for n in range(150)]
    new = [p[:5] + "改" + p[6:] for p in old]
    ops = check_rebuilds(lines(*old), lines(*new))
    assert [(op.op, op.old, op.new) for op in ops if op.op != "equal"] == \
        [("replace", p[5], "改") for p in old]


def moves(ops):
    """The moved paragraphs as (op, paragraph, its edits other than equal runs)."""
    return [(op.op, (op.old or op.new).strip(), changed(op.edits) if op.edits is not None else None)
            for op in ops if op.moved]


# a short paragraph moved and heavily edited (found by the 100,000-example property run): it keeps few
# bigrams (similarity 0.46, below MOVE_THRESHOLD) but most of its characters
SHORT_OLD, SHORT_NEW = "（4）各街道排查整改隐患99999处；", "（2）排查整改隐患1处；"
# …and one with every figure changed (similarity 0.43)
TALLY_OLD, TALLY_NEW = "（4）受理800件，调解126件，结案99件。", "（2）受理1件，调解2件，结案3件。"
# unrelated paragraphs that share a year, a few words and punctuation: each pair would keep at most
# half of its characters shown as a move
UNRELATED = [("七、2024年度存在不足和原因。", "三、2024年主要工作安排。"),
             ("（三）加强数字法治政府建设。", "2.严格落实法治政府建设责任。"),
             ("2023年，全区法治政府建设工作虽然取得了明显成绩，但仍存在薄弱环节。",
              "2023年，高新区推进法治政府建设工作取得了一定成绩，同时也存在一些问题和不足。")]


def test_a_short_paragraph_moved_and_heavily_edited_is_a_move_with_its_edits():
    ops = check_rebuilds(lines(SHORT_OLD, P2, P3, P4), lines(P2, SHORT_NEW, P3, P4))
    assert moves(ops) == [("delete", SHORT_OLD, None),
                          ("insert", SHORT_NEW, [("replace", "4）各街道", "2）"), ("replace", "99999", "1")])]
    assert chars_changed(ops) == (3, 10)
    ops = check_rebuilds(lines(P1, TALLY_OLD, P2, P3), lines(P1, P2, TALLY_NEW, P3))
    assert moves(ops) == [("delete", TALLY_OLD, None),
                          ("insert", TALLY_NEW, [("replace", "4", "2"), ("replace", "800", "1"),
                                                 ("replace", "126", "2"), ("replace", "99", "3")])]


def test_unrelated_paragraphs_sharing_words_are_not_paired_as_a_move():
    for a, b in UNRELATED:
        ops = check_rebuilds(lines(a, P2, P3), lines(P2, P3, b))
        assert moves(ops) == [], (a, b)
        assert changed(ops) == [("delete", a + "\n", ""), ("insert", "", "\n" + b)]


def test_an_unrelated_pair_refused_does_not_stop_a_less_similar_move():
    """The refused pair is more similar by bigrams than the moved-and-edited one, so it is judged first."""
    a, b = UNRELATED[2]
    ops = check_rebuilds(lines(a, TALLY_OLD, P2, P3), lines(P2, b, P3, TALLY_NEW))
    assert [(op, text) for op, text, _ in moves(ops)] == [("delete", TALLY_OLD), ("insert", TALLY_NEW)]


def test_a_moved_paragraph_with_its_clauses_swapped_is_still_a_move():
    """Its bigrams are nearly all kept, though its character diff keeps only half of it: a move."""
    a, b = "全区共办理行政复议案件800件，", "组织普法讲座和法律咨询活动52场"
    old, new = a + b + "。", b + "，" + a[:-1] + "。"
    ops = check_rebuilds(lines(old, P2, P3), lines(P2, P3, new))
    assert [(op, text) for op, text, _ in moves(ops)] == [("delete", old), ("insert", new)]


def test_a_moved_heading_with_its_rule_shortened_is_still_a_move():
    """A run of repeated characters shrinks: the bigrams stay, the characters do not (no cheap refusal)."""
    old, new = "一、总体情况" + "—" * 30, "一、总体情况——"
    ops = check_rebuilds(lines(old, P2, P3), lines(P2, new, P3))
    assert moves(ops) == [("delete", old, None), ("insert", new, [("delete", "—" * 28, "")])]


def test_a_moved_paragraph_sharing_exactly_half_its_bigrams_is_a_move():
    """Cut to its first half: 5 bigrams of 15 and 5 (Dice 0.5, MOVE_THRESHOLD); its characters alone
    (6 of 16 and 6, newlines included 0.58) would not make it one."""
    old, new = "一、总体情况及本年度主要工作成效", "一、总体情况"
    ops = check_rebuilds(lines(old, P2, P3), lines(P2, new, P3))
    assert moves(ops) == [("delete", old, None), ("insert", new, [("delete", "及本年度主要工作成效", "")])]


def test_a_moved_paragraph_whose_edits_keep_exactly_three_fifths_is_a_move():
    """(三)…建设 keeps 6 of 14 and 6 characters, newlines included (0.6, MOVE_KEPT), in any order too,
    and shares 3 bigrams of 12 and 4 (0.375)."""
    old, new = "（三）加强数字法治政府建设", "（三）建设"
    ops = check_rebuilds(lines(old, P2, P3), lines(P2, new, P3))
    assert moves(ops) == [("delete", old, None), ("insert", new, [("delete", "加强数字法治政府", "")])]


def twelve_paragraphs_diff(document: dict) -> Diff:
    """第3段 moved to the top, 第10段 made 第十段, the title and publisher changed."""
    paras = [f"第{n}段。" for n in range(1, 13)]
    new = [paras[2], *paras[:2], *paras[3:9], "第十段。", *paras[10:]]
    meta = diff_metadata({"title": "年度报告", "publisher": "区司法局"},
                         {"title": "2024年度报告（修订）", "publisher": "区司法局\n区政府"})
    return Diff(document, {"id": 1, "fetched_at": "2024-01-01T08:00:00Z"}, {"id": 2},
                diff_texts(lines(*paras), lines(*new)), meta)


DOCUMENT = {"id": 7, "url": "http://x/7.html", "title": "年度报告", "source_id": "gov"}
HEADER = ("document 7: 年度报告\nurl: http://x/7.html\n"
          "--- revision 1 fetched 2024-01-01T08:00:00Z\n+++ revision 2 fetched ?\n")


def test_text_rendering_in_full():
    assert render_text(twelve_paragraphs_diff(DOCUMENT)) == HEADER + (
        "title: [-年度报告-]{+2024年度报告（修订）+}\n"
        "publisher: 区司法局\n{+区政府+}\n"
        "text: +1 -2 characters\n"
        "\n"
        "{~第3段。~}\n第1段。\n第2段。\n[~第3段。~]\n第4段。\n"
        "  ... 4 unchanged lines\n"
        "第9段。\n第[-10-]{+十+}段。\n第11段。\n"
        "  ... 1 unchanged line\n")


def test_text_rendering_in_colour_in_full():
    red, green, grey, cyan, dim, end = "\x1b[31;9m", "\x1b[32;4m", "\x1b[2;9m", "\x1b[36m", "\x1b[2m", "\x1b[0m"
    assert render_text(twelve_paragraphs_diff(DOCUMENT), color=True) == HEADER + (
        f"title: {red}年度报告{end}{green}2024年度报告（修订）{end}\n"
        f"publisher: 区司法局\n{green}区政府{end}\n"
        "text: +1 -2 characters\n"
        "\n"
        f"{cyan}第3段。{end}\n第1段。\n第2段。\n{grey}第3段。{end}\n第4段。\n"
        f"{dim}  ... 4 unchanged lines{end}\n"
        f"第9段。\n第{red}10{end}{green}十{end}段。\n第11段。\n"
        f"{dim}  ... 1 unchanged line{end}\n")


def test_text_rendering_of_an_unchanged_text_and_a_document_without_title_or_url():
    same = Diff({"id": 3}, {"id": 1}, {"id": 2}, diff_texts(P1, P1))
    assert render_text(same) == ("document 3: \nurl: \n--- revision 1 fetched ?\n+++ revision 2 fetched ?\n"
                                 "text: +0 -0 characters\n(text unchanged)\n")


def test_text_rendering_marks_a_change_of_line_breaks_alone_only():
    """A deleted "X" line (a Roman numeral) or a trailing space with its line break is text, not ↵."""
    ops = [Op("equal", "甲", "甲"), Op("delete", " \n", ""), Op("equal", "乙\n", "乙\n"), Op("delete", "X\n", ""),
           Op("equal", "丙", "丙"), Op("insert", "", "\n"), Op("equal", "丁", "丁")]
    text = render_text(Diff({"id": 1}, {"id": 1}, {"id": 2}, ops))
    assert text.endswith("\n\n甲[- -]\n乙\n[-X-]\n丙{+↵+}\n丁\n")


def test_html_page_in_full():
    page = render_html(twelve_paragraphs_diff(DOCUMENT))
    assert "<title>Diff: 年度报告</title>" in page and "<h1>年度报告</h1>" in page
    assert '<p><a href="http://x/7.html">http://x/7.html</a></p>' in page
    assert ('<p class="revisions">revision 1 fetched 2024-01-01T08:00:00Z → revision 2 fetched ?\n'
            "· +1 −2 characters</p>") in page
    assert ('<table class="meta"><tr><th>title</th><td><del>年度报告</del><ins>2024年度报告（修订）</ins></td></tr>'
            "<tr><th>publisher</th><td>区司法局<ins>\n区政府</ins></td></tr></table>") in page
    assert ('<div class="diff"><ins class="moved">第3段。\n</ins>第1段。\n第2段。\n<del class="moved">第3段。\n</del>'
            "第4段。\n第5段。\n第6段。\n第7段。\n第8段。\n第9段。\n第<del>10</del><ins>十</ins>段。\n第11段。\n第12段。</div>"
            ) in page


def test_html_page_titled_by_url_or_id_when_the_document_has_no_title():
    by_url = render_html(twelve_paragraphs_diff({"id": 7, "url": "http://x/7.html"}))
    assert "<title>Diff: http://x/7.html</title>" in by_url and "<h1>http://x/7.html</h1>" in by_url
    by_id = render_html(twelve_paragraphs_diff({"id": 7}))
    assert "<title>Diff: 7</title>" in by_id and "<h1>7</h1>" in by_id and '<p><a href=""></a></p>' in by_id


def test_json_in_full():
    diff = twelve_paragraphs_diff(DOCUMENT)
    out = render_json(diff)
    assert out.startswith('{\n  "document": {\n    "id": 7,\n    "url": "http://x/7.html",\n    "title": "年度报告",\n'
                          '    "source_id": "gov"\n  },\n  "from": 1,\n  "to": 2,\n  "changes": [\n    {\n')
    assert out.endswith("\n}\n")
    data = json.loads(out)
    assert data["changes"][:2] == [{"op": "insert", "old": "", "new": "第3段。\n", "moved": True},
                                   {"op": "equal", "old": "第1段。\n第2段。\n", "new": "第1段。\n第2段。\n"}]
    assert data["metadata"] == {
        "title": {"old": "年度报告", "new": "2024年度报告（修订）",
                  "changes": [{"op": "replace", "old": "年度报告", "new": "2024年度报告（修订）"}]},
        "publisher": {"old": "区司法局", "new": "区司法局\n区政府",
                      "changes": [{"op": "equal", "old": "区司法局", "new": "区司法局"},
                                  {"op": "insert", "old": "", "new": "\n区政府"}]}}
    created = json.loads(render_json(Diff(DOCUMENT, None, {"id": 2}, diff_texts("", P1))))
    assert created["from"] is None and created["to"] == 2


def test_the_best_chain_of_edited_paragraphs_skips_unrelated_ones_between():
    """Paragraphs 1 and 4 edited, 2 and 3 replaced: 1 and 4 are paired in one chain (each shown by its
    edits), though nothing pairs in between."""
    old, new = UNRELATED[2]
    ops = check_rebuilds(lines(old, prose(1), prose(2), P1), lines(new, prose(3), prose(4), P1.replace("800", "860")))
    assert moves(ops) == []
    assert [c for c in changed(ops) if len(c[1]) < 20 and len(c[2]) < 20] == [
        ("replace", "全区", "高新区推进"), ("delete", "虽然", ""), ("replace", "明显", "一定"),
        ("replace", "但仍存在薄弱环节", "同时也存在一些问题和不足"), ("replace", "800", "860")]


def test_two_edited_paragraphs_that_cross_are_one_edit_and_one_move():
    edited_1, edited_2 = P1.replace("800", "860"), P2.replace("3万", "5万")
    ops = check_rebuilds(lines(P1, P2), lines(prose(9), edited_2, edited_1))
    assert moves(ops) == [("insert", edited_2, [("replace", "3", "5"), ("insert", "", "\n")]), ("delete", P2, None)]
    assert ("replace", "800", "860") in changed(ops)


def test_blank_lines_do_not_outweigh_edited_paragraphs():
    ops = check_rebuilds(lines(" ", P1, P2), lines(P1.replace("800", "860"), P2.replace("3万", "5万"), "  "))
    assert moves(ops) == []
    assert changed(ops) == [("delete", " \n", ""), ("replace", "800", "860"), ("replace", "3", "5"),
                            ("insert", "", "\n  ")]


def test_repeated_separator_lines_do_not_spoil_the_alignment_of_a_long_text():
    """300 paragraphs, every fifth a "——" separator, the first 100 moved to the end: the other 200 stay
    one equal run (difflib's autojunk would treat the separators as junk and move everything)."""
    paras = [prose(n) if n % 5 else "——" for n in range(300)]
    ops = check_rebuilds(lines(*paras), lines(*paras[100:], *paras[:100]))
    assert [op.new for op in ops if op.op == "equal"] == [lines(*paras[100:])]
    assert len([op for op in ops if op.moved]) == 200


def test_a_paragraph_in_place_sharing_two_fifths_of_its_bigrams_is_an_edit():
    """办理, 80, 00, 0件, 件。: 5 bigrams of 13 and 12 (Dice 0.4, PAIR_THRESHOLD)."""
    ops = check_rebuilds(lines(P1, "共办理行政复议案件800件。", P2), lines(P1, "办理人大代表建议800件。", P2))
    assert changed(ops) == [("delete", "共", ""), ("replace", "行政复议案件", "人大代表建议")]


def test_a_paragraph_in_place_sharing_only_a_figure_and_its_unit_is_replaced_whole():
    """80, 00, 0件, 件。: 4 bigrams of 13 and 12 (0.32)."""
    ops = check_rebuilds(lines(P1, "共办理行政复议案件800件。", P2), lines(P1, "答复政协委员提案800件。", P2))
    assert changed(ops) == [("replace", "共办理行政复议案件800件。\n", "答复政协委员提案800件。\n")]


def test_a_chain_of_edited_paragraphs_reaches_across_inserted_ones():
    """The second pair's predecessor sits three new paragraphs back (the chain's prefix maximum over
    new positions 0–3 must see position 2)."""
    old, new = UNRELATED[2]
    edited = P1.replace("800", "860")
    ops = check_rebuilds(lines(old, P1), lines(prose(1), prose(2), new, prose(3), edited))
    assert moves(ops) == []
    assert [c for c in changed(ops) if len(c[1]) < 20 and len(c[2]) < 20] == [
        ("replace", "全区", "高新区推进"), ("delete", "虽然", ""), ("replace", "明显", "一定"),
        ("replace", "但仍存在薄弱环节", "同时也存在一些问题和不足"), ("replace", "800", "860")]


def test_a_pair_at_the_edge_of_the_band_is_found():
    """In a block of 200 rewritten paragraphs the band reaches BAND_CELLS / 400 = 100 paragraphs either
    side of the diagonal: an edited paragraph 100 places down is paired, shown by its edits."""
    old, new = UNRELATED[2]
    others = [prose(2000 + n) for n in range(199)]
    new_side = [prose(3000 + n) for n in range(199)]
    new_side.insert(100, new)
    ops = check_rebuilds(lines(old, *others, P4), lines(*new_side, P4))
    assert ("replace", "但仍存在薄弱环节", "同时也存在一些问题和不足") in changed(ops)


def test_a_short_paragraph_edited_where_it_stands_is_not_a_move():
    """第6段 → 第六段 keeps too few bigrams to be paired in its block (1 of 3 and 3), but most of its
    characters: with only insertions, or only deletions, between the two it is an edit in place."""
    ops = check_rebuilds(lines(P1, "第6段。", P2), lines(P1, P3, "第六段。", P2))
    assert moves(ops) == [] and changed(ops) == [("insert", "", P3 + "\n"), ("replace", "6", "六")]
    ops = check_rebuilds(lines(P1, "第6段。", P3, P2), lines(P1, "第六段。", P2))
    assert moves(ops) == [] and changed(ops) == [("replace", "6", "六"), ("delete", P3 + "\n", "")]


def test_an_edit_in_place_does_not_stop_a_less_similar_move():
    """（三）… edited in place (bigram similarity 0.375) is judged before 第6段 moved and edited (0.33)."""
    ops = check_rebuilds(lines(P1, "（三）加强数字法治政府建设", P2, "第6段。", P3, P4),
                         lines(P1, "（三）建设", P2, P3, "第六段。", P4))
    assert moves(ops) == [("delete", "第6段。", None), ("insert", "第六段。", [("replace", "6", "六")])]
    assert ("delete", "加强数字法治政府", "") in changed(ops)


def test_an_identical_paragraph_is_preferred_to_a_copy_with_the_same_bigrams():
    """加强监督，加强监督。 and the same slogan three times share every bigram (similarity 1.0)."""
    slogan, longer = "加强监督，加强监督。", "加强监督，加强监督，加强监督。"
    ops = check_rebuilds(lines(slogan, P2, P3), lines(P2, P3, longer, slogan))
    assert moves(ops) == [("delete", slogan, None), ("insert", slogan, None)]


def test_a_moved_contents_line_sharing_one_bigram_in_five_is_still_compared():
    """A contents line: ……, …一, 一、, 、总, 总则 against ……, …二, 二、, 、附, 附则 (Dice 0.2, MOVE_FLOOR);
    its edits keep 14 of 17 characters on each side."""
    old, new = "…" * 12 + "一、总则", "…" * 12 + "二、附则"
    ops = check_rebuilds(lines(old, P2, P3), lines(P2, new, P3))
    assert moves(ops) == [("delete", old, None), ("insert", new, [("replace", "一、总", "二、附")])]


def test_diff_chars_of_equal_texts():
    assert diff_chars("", "") == []
    assert changed(diff_chars("年度报告", "年度报告")) == [] and len(diff_chars("年度报告", "年度报告")) == 1
