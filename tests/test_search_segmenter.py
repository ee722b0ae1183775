"""The bigram segmenter of the search index (archive/search.py): a CJK query matches a text exactly when
its characters stand next to each other there, checked on real FTS5 tables; and an archive indexed by
the older one-character segmenter is still searched right, refused by readers until `upgrade`
re-indexes it."""
from __future__ import annotations

import sqlite3

from click.testing import CliRunner
from hypothesis import example, given, settings
from hypothesis import strategies as st

from archive import search
from archive.cli import cli
from tests.reading_fixtures import REPORT_URL, make_archive

# few characters, so that generated queries often occur in generated texts; punctuation and Latin between
CJK = "调解行政复议人民法"
GAPS = ["，", "。", "\n", " ", "、"]
text_parts = st.one_of(st.text(alphabet=CJK, min_size=1, max_size=6), st.sampled_from(GAPS),
                       st.sampled_from(["2023", "ABC", "5%"]))
texts = st.lists(text_parts, min_size=1, max_size=12).map("".join)


def fts_table(*texts: str, segment=search.segment) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(text)")
    conn.executemany("INSERT INTO t (rowid, text) VALUES (?, ?)",
                     [(i, segment(text)) for i, text in enumerate(texts)])
    return conn


def matches(conn: sqlite3.Connection, query: str, segmenter: str = search.SEGMENTER_VERSION) -> set[int]:
    return {r[0] for r in conn.execute("SELECT rowid FROM t WHERE t MATCH ?",
                                       [search.escape_fts(query, segmenter)])}


@settings(max_examples=300, deadline=None)
@given(texts, texts, st.data())
@example("人民调解", "调解员", None)
def test_a_cjk_query_matches_exactly_the_texts_holding_it(first, second, data):
    conn = fts_table(first, second)
    candidates = [t[i:j] for t in (first, second) for i in range(len(t)) for j in range(i + 1, min(len(t), i + 6) + 1)
                  if all(ch in CJK for ch in t[i:j])]
    queries = ["调", "调解", "解调", "行政复议", "人人"]
    if data is not None:
        queries.append(data.draw(st.text(alphabet=CJK, min_size=1, max_size=5)))
        if candidates:
            queries.append(data.draw(st.sampled_from(candidates)))
    for query in queries:
        expected = {i for i, text in enumerate((first, second)) if query in text}
        assert matches(conn, query) == expected, (query, first, second)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(text_parts, st.text(max_size=4)), min_size=1, max_size=12).map("".join))
@example("𠀀𠀁，甲")  # characters beyond the BMP count as one each
def test_each_token_is_a_character_of_the_one_character_segmenter_joined_with_a_cjk_successor(text):
    """segment() = _unigrams() with each CJK token followed by a CJK token joined to it: the search index
    and the queries (escape_fts) both rest on this."""
    unigrams = search._unigrams(text).split(" ")
    cjk = [len(t) == 1 and bool(search._CJK_RE.match(t)) for t in unigrams]
    expected = [t + unigrams[i + 1] if cjk[i] and i + 1 < len(unigrams) and cjk[i + 1] else t
                for i, t in enumerate(unigrams)]
    assert search.segment(text).split(" ") == expected


def test_queries_that_reach_a_gap_or_latin_text():
    conn = fts_table("人民调解，工作2023年度", "调解工作")
    assert matches(conn, "调解，工") == {0}  # a gap in the query is a gap in the text
    assert matches(conn, "解，工作") == {0}
    assert matches(conn, "解工") == {1}  # never across the comma
    assert matches(conn, "作2023") == {0} and matches(conn, "2023年") == {0} and matches(conn, "2023年度") == {0}
    assert matches(conn, "年度") == {0} and matches(conn, "度") == {0}
    assert matches(conn, "调解 工作") == {0, 1}  # two terms, both anywhere
    assert matches(conn, '"民调"') == {0}


def test_an_index_of_the_one_character_segmenter_is_searched_with_its_own_queries():
    conn = fts_table("人民调解，工作", "调解工作", segment=search._unigrams)
    assert matches(conn, "调解", "1") == {0, 1} and matches(conn, "解工", "1") == {1}
    assert matches(conn, "调解") == set()  # the bigram query does not fit that index: hence `upgrade`


def test_readers_refuse_an_archive_of_the_old_segmenter_and_upgrade_reindexes_it(tmp_path):
    path = tmp_path / "old.db"
    make_archive(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE search_meta SET value = '1' WHERE key = 'segmenter'")
        conn.execute("DELETE FROM revisions_fts")
        conn.executemany("INSERT INTO revisions_fts (rowid, title, text) VALUES (?, ?, ?)",
                         [(i, search._unigrams(t), search._unigrams(x))
                          for i, t, x in conn.execute("SELECT id, title, text FROM revisions").fetchall()])
    before = path.read_bytes()
    runner = CliRunner()
    refused = runner.invoke(cli, ["--db", str(path), "history", REPORT_URL])
    assert refused.exit_code == 2 and "search index of segmenter 2 (it has 1)" in refused.output
    assert "upgrade" in refused.output and path.read_bytes() == before

    assert runner.invoke(cli, ["--db", str(path), "upgrade"]).exit_code == 0
    with sqlite3.connect(path) as conn:
        assert search.segmenter_version(conn) == search.SEGMENTER_VERSION
        hits = {r[0] for r in conn.execute("SELECT rowid FROM revisions_fts WHERE revisions_fts MATCH ?",
                                           [search.escape_fts("调解")])}
        holding = {r[0] for r in conn.execute("SELECT id FROM revisions WHERE text LIKE '%调解%' "
                                              "OR title LIKE '%调解%'")}
    assert hits == holding and hits
