"""A search page's count and facets in one grouped pass (archive.datasette_search), in the real Datasette app
on a real archive: every count, facet count and row is what a plain count over the text says, and the
statements Datasette would have run for them are really replaced (seen through Datasette's own tracer)."""
from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from datasette.app import Datasette
from datasette.tracer import capture_traces
from hypothesis import given, settings
from hypothesis import strategies as st

from archive import store
from archive.datasette_search import sqlite_order
from archive.db import connect
from tests.reading_fixtures import SOURCE, Page, days_ago, write

ROOT = Path(__file__).resolve().parent.parent
METADATA = ROOT / "config" / "datasette.yaml"
TERMS = ("调解", "行政复议", "普法宣传")


def _text(k: int, rev: int) -> str:
    """Revision `rev` of document `k`: which terms it holds depends on both, so counts differ by year."""
    paras = [f"文档{k}第{rev}版。"]
    if (k + rev) % 2 == 0:
        paras.append("人民调解组织调解纠纷。")
    if k % 3 != 1:
        paras.append("办理行政复议案件。")
    if (k * 7 + rev) % 5 == 0:
        paras.append("深入开展普法宣传。")
    return "\n".join(paras)


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """30 documents over four report years (one without), 1–3 revisions each, one document gone."""
    path = tmp_path_factory.mktemp("dss") / "archive.db"
    db = connect(path)
    store.upsert_source(db, SOURCE)
    run = store.start_run(db, "ps")
    for k in range(30):
        year = None if k % 7 == 6 else 2020 + k % 4
        for rev in range(1 + k % 3):
            page = Page(f"报告{k}", _text(k, rev), report_year=year)
            write(db, f"http://example.gov.cn/r/{k}.html", page, days_ago(30 - rev), run)
    store.record_failure(db, run, url="http://example.gov.cn/r/4.html", outcome="not-found", http_status=404,
                         fetched_at=days_ago(1))
    store.finish_run(db, run, pages_fetched=60)
    db.conn.close()
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(path: Path, urls: list[str]) -> list[tuple[dict, list[str]]]:
    """Each URL's JSON from a Datasette configured as `archive serve` runs it, with the SQL it ran."""
    async def run():
        ds = Datasette([str(path)], metadata=yaml.safe_load(METADATA.read_text()), settings={"suggest_facets": False})
        await ds.invoke_startup()
        out = []
        for url in urls:
            traces: list[dict] = []
            with capture_traces(traces):
                response = await ds.client.get(url)
            assert response.status_code == 200, (url, response.text[:300])
            out.append((response.json(), [" ".join(t["sql"].split()) for t in traces]))
        return out
    return asyncio.run(run())


def truth(path: Path, table: str, term: str, where: str = "1") -> list[dict]:
    """The rows of `table` whose title or text holds `term`, by plain substring (no search index)."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    if table == "revisions":
        sql = f"SELECT * FROM revisions WHERE (instr(title, ?) OR instr(text, ?)) AND {where} ORDER BY id DESC"
    else:
        sql = (f"SELECT d.* FROM documents d JOIN revisions r ON r.id = d.latest_revision_id "
               f"WHERE (instr(d.title, ?) OR instr(r.text, ?)) AND {where} ORDER BY d.id")
    rows = [dict(r) for r in conn.execute(sql, (term, term))]
    conn.close()
    return rows


def facet_counts(data: dict, column: str) -> dict:
    facet = data["facet_results"][column]
    assert not facet["truncated"]
    return {r["value"]: r["count"] for r in facet["results"]}


def expected_facet(rows: list[dict], column: str) -> dict:
    out: dict = {}
    for row in rows:
        if row[column] is not None:
            out[row[column]] = out.get(row[column], 0) + 1
    return out


@pytest.mark.parametrize("term", TERMS)
def test_revisions_search_count_facet_and_rows_are_exact_in_one_pass(archive, term):
    [(data, sql)] = serve(archive, [f"/archive/revisions.json?_search={term}&_size=max"])
    expected = truth(archive, "revisions", term)
    assert 0 < len(expected) < 100  # the term matches some revisions, not all
    assert data["filtered_table_rows_count"] == len(expected)
    assert [r[0] for r in data["rows"]] == [r["id"] for r in expected]
    assert facet_counts(data, "report_year") == expected_facet(expected, "report_year")
    assert len(facet_counts(data, "report_year")) > 1
    # the rows driven by the MATCH, newest first; one grouped statement instead of the count and the facet
    assert any(s.startswith("select id, document_id") and "zwgk_matches join revisions" in s
               and s.endswith("order by zwgk_matches.zwgk_match_rowid desc limit 1001") for s in sql)
    counts = [s for s in sql if "count(*)" in s]
    assert len(counts) == 1 and counts[0].startswith("select report_year, count(*) from (select rowid")
    assert not any("rowid in (select rowid from revisions_fts" in s for s in sql)


@pytest.mark.parametrize("term", TERMS)
def test_documents_search_count_and_every_facet_are_exact(archive, term):
    [(data, sql)] = serve(archive, [f"/archive/documents.json?_search={term}&_size=max"])
    expected = truth(archive, "documents", term)
    assert data["filtered_table_rows_count"] == len(expected) > 0
    assert sorted(r[0] for r in data["rows"]) == [r["id"] for r in expected]
    for column in ("source_id", "district", "report_year", "status"):
        assert facet_counts(data, column) == expected_facet(expected, column), column
    assert not any("as value, count(*) as count" in s for s in sql)


def test_facet_values_are_ordered_as_datasette_orders_them(archive):
    """Most frequent first, ties by value; the same figures and order as Datasette's own statements,
    which a raw ?_where= makes it run (the one-pass path never takes such a page)."""
    one_pass, own = serve(archive, ["/archive/revisions.json?_search=行政复议",
                                    "/archive/revisions.json?_search=行政复议&_where=1"])
    assert any("as value, count(*) as count" in s for s in own[1])  # Datasette's own facet statement ran
    assert one_pass[0]["filtered_table_rows_count"] == own[0]["filtered_table_rows_count"]
    pairs = [[(r["value"], r["count"]) for r in data["facet_results"]["report_year"]["results"]]
             for data, _ in (one_pass, own)]
    assert pairs[0] == pairs[1] and len(pairs[0]) > 2
    assert [n for _, n in pairs[0]] == sorted((n for _, n in pairs[0]), reverse=True)
    assert [r[0] for r in one_pass[0]["rows"]] == [r[0] for r in own[0]["rows"]]


def test_search_with_a_selected_facet_value_and_an_extra_facet(archive):
    """?report_year= narrows the count and facets; ?_facet=status (in the index) comes from the same pass,
    ?_facet=publisher (not in it) runs as Datasette wrote it — all exact."""
    url = "/archive/documents.json?_search=调解&report_year=2021&_facet=publisher"
    [(data, sql)] = serve(archive, [url])
    expected = truth(archive, "documents", "调解", "d.report_year = 2021")
    assert data["filtered_table_rows_count"] == len(expected) > 0
    assert facet_counts(data, "report_year") == {2021: len(expected)}
    assert facet_counts(data, "status") == expected_facet(expected, "status")
    assert facet_counts(data, "publisher") == expected_facet(expected, "publisher")
    assert [s for s in sql if "as value, count(*) as count" in s] and all(
        "select publisher as value" in s for s in sql if "as value, count(*) as count" in s)
    [(revisions, _)] = serve(archive, ["/archive/revisions.json?_search=调解&_facet=document_id&_size=max"])
    expected = truth(archive, "revisions", "调解")
    assert facet_counts(revisions, "document_id") == expected_facet(expected, "document_id")


def test_next_page_nofacet_and_plain_table(archive):
    """Pages after ?_next= (Datasette 0.65 facets them over the rows from there on), a page without facets
    and the table without a search: exact rows and figures."""
    expected = truth(archive, "revisions", "调解")
    [(first, _)] = serve(archive, ["/archive/revisions.json?_search=调解&_size=5"])
    assert [r[0] for r in first["rows"]] == [r["id"] for r in expected[:5]]
    [(second, _)] = serve(archive, [f"/archive/revisions.json?_search=调解&_size=5&_next={first['next']}"])
    assert second["filtered_table_rows_count"] == len(expected)
    assert [r[0] for r in second["rows"]] == [r["id"] for r in expected[5:10]]
    later = [r for r in expected if r["id"] < int(first["next"].split(",")[-1])]
    assert facet_counts(second, "report_year") == expected_facet(later, "report_year")
    [(nofacet, sql), (plain, _)] = serve(archive, ["/archive/revisions.json?_search=调解&_nofacet=1",
                                                   "/archive/revisions.json"])
    assert nofacet["filtered_table_rows_count"] == len(expected) and nofacet["facet_results"] == {}
    assert any(s.startswith("select count(*) from (select rowid as zwgk_match_rowid") for s in sql)
    total = sqlite3.connect(archive).execute("SELECT count(*) FROM revisions").fetchone()[0]
    assert plain["filtered_table_rows_count"] == total
    assert facet_counts(plain, "report_year") == expected_facet(truth(archive, "revisions", ""), "report_year")


def test_html_page_shows_the_exact_count_and_facets(archive):
    async def run():
        ds = Datasette([str(archive)], metadata=yaml.safe_load(METADATA.read_text()),
                       settings={"suggest_facets": False})
        return (await ds.client.get("/archive/revisions?_search=调解")).text
    page = " ".join(asyncio.run(run()).split())
    expected = truth(archive, "revisions", "调解")
    assert f"<h3>{len(expected):,} rows where search matches" in page
    for year, n in expected_facet(expected, "report_year").items():
        assert re.search(rf'&amp;report_year={year}">{year}</a> {n:,}</li>', page), (year, n)


@pytest.mark.parametrize("query", [
    "revisions.json?_search=调解&_searchmode=raw", "revisions.json?_search=调解&_sort=fetched_at",
    "revisions.json?_search=行政复议&_sort=id", "revisions.json?_search=调解&_facet=document_id&_facet_size=3",
    "revisions.json?_search=调解&_facet=report_year&_facet_size=2", "documents.json?_search=调解&status=gone",
    "documents.json?_search=普法宣传&_sort_desc=report_year", "revisions.json?_search=",
    "revisions.json?_search=调解 OR&_searchmode=raw"])
def test_every_page_is_what_datasettes_own_statements_give(archive, query):
    """The same status, rows, count and facets as Datasette's own statements (run when ?_where= is given)."""
    [(ours, sql), (own, own_sql)] = serve_any(archive, [f"/archive/{query}", f"/archive/{query}&_where=1"])
    assert ours["status"] == own["status"]
    if ours["status"] != 200:  # a failed statement leaves no trace
        assert ours["error"] == own["error"] and "fts5: syntax error" in ours["error"]
        return
    assert any("zwgk_matches" in s for s in sql) and not any("zwgk_matches" in s for s in own_sql)
    assert ours["rows"] == own["rows"] and ours["filtered_table_rows_count"] == own["filtered_table_rows_count"]
    assert {k: ([(r["value"], r["count"]) for r in v["results"]], v["truncated"])
            for k, v in ours["facet_results"].items()} == \
        {k: ([(r["value"], r["count"]) for r in v["results"]], v["truncated"]) for k, v in own["facet_results"].items()}
    assert ours["rows"] or "gone" in query


def serve_any(path: Path, urls: list[str]) -> list[tuple[dict, list[str]]]:
    """Like serve(), for pages that may fail: their JSON (with "status") and the SQL run."""
    async def run():
        ds = Datasette([str(path)], metadata=yaml.safe_load(METADATA.read_text()), settings={"suggest_facets": False})
        out = []
        for url in urls:
            traces: list[dict] = []
            with capture_traces(traces):
                response = await ds.client.get(url)
            out.append(({"status": response.status_code, **response.json()},
                        [" ".join(t["sql"].split()) for t in traces]))
        return out
    return asyncio.run(run())


def test_archive_serve_answers_search_pages_exactly_through_the_plugin(archive, tmp_path):
    """`python -m archive serve` (Datasette in its own process, over HTTP): exact counts and facets, and the
    statements are the plugin's (a failing raw search makes Datasette log the statement it ran)."""
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "archive", "--db", str(archive), "serve", "--port", str(port)],
                                cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL,
                                stderr=err)
    base = f"http://127.0.0.1:{port}/archive"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/versions.json")
                break
            except OSError:
                assert proc.poll() is None, "archive serve exited"
                time.sleep(0.2)
        term = urllib.parse.quote("调解")
        for table, facets in (("revisions", ["report_year"]), ("documents", ["district", "report_year", "status"])):
            data = json.load(urllib.request.urlopen(f"{base}/{table}.json?_search={term}&_size=max"))
            expected = truth(archive, table, "调解")
            assert data["filtered_table_rows_count"] == len(expected) > 0
            for column in facets:
                assert facet_counts(data, column) == expected_facet(expected, column)
        # requests served at the same time keep their own figures
        urls = {(table, t): f"{base}/{table}.json?_search={urllib.parse.quote(t)}&_size=1"
                for table in ("revisions", "documents") for t in TERMS}
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda key: (key, json.load(urllib.request.urlopen(urls[key]))),
                                    list(urls) * 4))
        for (table, t), data in answers:
            expected = truth(archive, table, t)
            assert data["filtered_table_rows_count"] == len(expected)
            assert facet_counts(data, "report_year") == expected_facet(expected, "report_year")
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"{base}/revisions.json?_search={term}%20OR&_searchmode=raw")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert "zwgk_matches join revisions" in log.read_text()


values = st.one_of(st.integers(-10**12, 10**12), st.floats(allow_nan=False, allow_infinity=False, width=32),
                   st.text(st.characters(blacklist_categories=("Cs",)), max_size=6), st.binary(max_size=4))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(values, st.integers(1, 5)), max_size=12))
def test_facet_order_is_sqlites_order_by_count_desc_value(pairs):
    """The one-pass facet rows are in the order of Datasette's `order by count desc, value` as SQLite runs it,
    whatever the values' types (numbers, then text in UTF-8 byte order, then blobs)."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (value, count)")
    seen: list = []
    for value, count in pairs:  # distinct as SQLite compares them (1 and 1.0 are one value)
        if not conn.execute("SELECT 1 FROM t WHERE value = ?", (value,)).fetchone():
            conn.execute("INSERT INTO t VALUES (?, ?)", (value, count))
            seen.append((value, count))
    expected = conn.execute("SELECT value, count FROM t ORDER BY count DESC, value").fetchall()
    ordered = sorted(seen, key=lambda item: (-item[1], sqlite_order(item[0])))
    assert ordered == expected
