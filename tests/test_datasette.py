"""The archive in the real Datasette app (test client): metadata, canned queries, Chinese search
through ?_search=, the diff page, links, the Atom feed, and escaping of scraped HTML."""
from __future__ import annotations

import asyncio
import html
import re
import sqlite3
from pathlib import Path

import markupsafe
import pytest
import yaml
from datasette.app import Datasette

from archive.search import segment
from tests.reading_fixtures import HOSTILE_TEXT, HOSTILE_TITLE, REPORT_V1, make_archive

METADATA = Path(__file__).resolve().parent.parent / "config" / "datasette.yaml"


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("ds") / "archive.db"
    return path, make_archive(path)


def fetch(path: Path, urls: list[str], *, metadata: bool = True) -> list:
    """GET each URL from a fresh Datasette on the archive (as `archive serve` starts it, or plain)."""
    async def run():
        ds = Datasette([str(path)], metadata=yaml.safe_load(METADATA.read_text()) if metadata else None)
        await ds.invoke_startup()
        return [await ds.client.get(url) for url in urls]
    return asyncio.run(run())


def get(path: Path, url: str, **kw):
    [response] = fetch(path, [url], **kw)
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    return response


# ---------------------------------------------------------------- metadata

def test_metadata_titles_descriptions_facets_and_sorts(archive):
    path, _ = archive
    page = get(path, "/archive/documents").text
    assert "文档 · Documents" in page and "One row per page URL" in page
    data = get(path, "/archive/documents.json").json()
    assert set(data["facet_results"]) >= {"source_id", "district", "report_year", "status"}
    assert "sorted by last_changed descending" in data["human_description_en"]
    changed = [r[data["columns"].index("last_changed")] for r in data["rows"]]
    assert changed == sorted(changed, reverse=True) and len(changed) == 4
    revisions = get(path, "/archive/revisions.json").json()
    assert "sorted by id descending" in revisions["human_description_en"]
    assert "报告年度 Year the report covers" in page  # a column description
    assert "政务公开档案" in get(path, "/").text


def test_plugin_applies_project_metadata_to_plain_datasette(tmp_path):
    # `datasette somefile.db` without --metadata: the plugin still gives titles, queries and search
    path = tmp_path / "elsewhere.db"
    make_archive(path)
    assert "文档 · Documents" in get(path, "/elsewhere/documents", metadata=False).text
    rows = get(path, "/elsewhere/revisions.json?_search=调解&_shape=array", metadata=False).json()
    assert rows and all("调解" in r["text"] for r in rows)
    assert get(path, "/elsewhere/failed_runs.json?_shape=array", metadata=False).json()


# ---------------------------------------------------------------- canned queries

def query(path, name, params=""):
    return get(path, f"/archive/{name}.json?_shape=array{params}").json()


def test_canned_latest_reports_per_district(archive):
    path, ids = archive
    rows = query(path, "latest_reports_by_district")
    got = {r["document_id"] for r in rows}
    assert got == {ids["report"], ids["other"], ids["hostile"]}  # the withdrawn one is gone
    assert all(r["district"] == "坪山区" for r in rows)


def test_canned_changed_last_30_days(archive):
    path, ids = archive
    # report edited 2 days ago; other only first-seen; hostile changed 50 days ago
    assert [r["document_id"] for r in query(path, "changed_last_30_days")] == [ids["report"]]


def test_canned_documents_gone_and_failed_runs(archive):
    path, ids = archive
    assert [r["document_id"] for r in query(path, "documents_gone")] == [ids["withdrawn"]]
    failed = query(path, "failed_runs")
    assert [r["run_id"] for r in failed] == [ids["failed_run"]]
    assert failed[0]["message"] == "listing unreachable: connection refused"


def test_canned_document_history(archive):
    path, ids = archive
    rows = query(path, "document_history", f"&document_id={ids['report']}")
    assert len(rows) == 2 and rows[0]["revision_id"] < rows[1]["revision_id"]
    assert rows[1]["diff"] == f"/-/diff/{ids['report']}?to={rows[1]['revision_id']}"
    page = get(path, f"/archive/document_history?document_id={ids['report']}").text
    assert f'href="/-/diff/{ids["report"]}?to={rows[1]["revision_id"]}"' in page


def test_atom_feed_one_entry_per_event_with_absolute_links(archive):
    path, ids = archive
    feed = get(path, "/archive/changes_feed.atom").text
    db = sqlite3.connect(path)
    n_events = db.execute("select count(*) from events").fetchone()[0]
    n_revisions = db.execute("select count(*) from revisions").fetchone()[0]
    assert feed.count("<entry>") == n_events == n_revisions + 1  # every revision, and the withdrawal
    entries = re.findall(r"<entry>(.*?)</entry>", feed, re.S)
    [gone] = [e for e in entries if "已删除 Gone" in e]
    # built from the request's host when no public URL is set
    assert f'<link href="http://localhost/-/document/{ids["withdrawn"]}"/>' in gone
    changed = [e for e in entries if "有修改 Changed" in e]
    assert len(changed) == 2 and all(re.search(r'<link href="http://localhost/-/diff/\d+\?to=\d+"/>', e)
                                     for e in changed)
    assert not re.search(r'<link href="/', feed)
    assert "<script>" not in feed and "&lt;script&gt;" in feed


def test_atom_feed_links_under_the_public_url(archive, monkeypatch):
    path, ids = archive
    monkeypatch.setenv("ZWGK_PUBLIC_URL", "https://archive.example.org/zwgk")
    feed = get(path, "/archive/changes_feed.atom").text
    assert f'<link href="https://archive.example.org/zwgk/-/document/{ids["withdrawn"]}"/>' in feed
    page = get(path, "/archive/changes_feed").text  # the HTML view: atom_link is a link
    assert f'<a class="zwgk-diff" href="/-/document/{ids["withdrawn"]}">' in page


# ---------------------------------------------------------------- search

def substrings(text: str, size: int) -> set[str]:
    return {text[i:i + size] for i in range(len(text) - size + 1)
            if re.fullmatch(r"[\u4e00-\u9fff]+", text[i:i + size])}


def test_search_finds_every_two_and_three_character_term_exactly(archive):
    """No false negatives (and, thanks to the separator token, no false positives) for every CJK
    substring of length 2 and 3 of the report, through Datasette's own ?_search=."""
    path, _ = archive
    revisions = [(r[0], r[1] or "", r[2]) for r in
                 sqlite3.connect(path).execute("select id, title, text from revisions")]
    terms = sorted(substrings(REPORT_V1, 2) | substrings(REPORT_V1, 3) | {"调解", "普法", "行政复议", "复议宣传月"})
    urls = [f"/archive/revisions.json?_search={t}&_shape=array&_size=max" for t in terms]
    for term, response in zip(terms, fetch(path, urls), strict=True):
        found = {row["id"] for row in response.json()}
        expected = {rid for rid, title, text in revisions if term in title or term in text}
        assert found == expected, term


def test_search_does_not_match_across_punctuation(archive):
    path, _ = archive
    # "增长5%。\n深入" — 。then a line break: 长深 never stand next to each other
    assert get(path, "/archive/revisions.json?_search=。深入&_shape=array").json()
    assert get(path, "/archive/revisions.json?_search=增长深入&_shape=array").json() == []
    assert get(path, "/archive/revisions.json?_search=长深&_shape=array").json() == []


def test_search_documents_table_and_several_terms(archive):
    path, ids = archive
    found = {r["id"] for r in get(path, "/archive/documents.json?_search=行政复议&_shape=array").json()}
    assert found == {ids["report"], ids["other"]}
    found = {r["id"] for r in get(path, "/archive/documents.json?_search=行政复议 普法&_shape=array").json()}
    assert found == {ids["report"]}
    assert get(path, "/archive/documents.json?_search=法律顾问&_shape=array").json() == []  # removed in v2
    assert get(path, '/archive/documents.json?_search="新增加强行政执法"&_shape=array').json()


def test_search_latin_and_figures(archive):
    path, ids = archive
    found = {r["document_id"] for r in get(path, "/archive/revisions.json?_search=2000余宗&_shape=array").json()}
    assert found == {ids["report"]}
    assert get(path, "/archive/revisions.json?_search=script&_shape=array").json()


def test_segmentation_is_what_is_indexed(archive):
    path, ids = archive
    conn = sqlite3.connect(path)
    title, text = conn.execute("select title, text from documents_fts where rowid = ?", [ids["report"]]).fetchone()
    assert title.startswith("坪山 山区 区 2023 年法 法治") and segment("调解纠纷，") == "调解 解纠 纠纷 纷 \ue000"


# ---------------------------------------------------------------- diff page and links

def test_diff_page_marks_changes_with_revision_picker(archive):
    path, ids = archive
    page = get(path, f"/-/diff/{ids['report']}").text
    assert "<del>800</del><ins>860</ins>" in page
    assert "<del>同时，法律顾问还定期为我们局开展有针对性的法律知识培训。\n</del>" in page
    assert "<ins>（修订）</ins>" in page  # the title change
    assert page.count('name="from"') == 1 and page.count('name="to"') == 1
    revs = [r[0] for r in sqlite3.connect(path).execute(
        "select id from revisions where document_id = ? order by id", [ids["report"]])]
    assert f'<option value="{revs[0]}" selected>' in page and f'<option value="{revs[1]}" selected>' in page


def test_diff_page_picks_revisions_and_rejects_bad_ones(archive):
    path, ids = archive
    first = sqlite3.connect(path).execute("select min(id) from revisions where document_id = ?",
                                          [ids["report"]]).fetchone()[0]
    page = get(path, f"/-/diff/{ids['report']}?to={first}").text  # first revision: all inserted
    assert "<ins>一、2023年法治政府建设情况" in page and "<del>" not in page
    other_rev = sqlite3.connect(path).execute("select min(id) from revisions where document_id = ?",
                                              [ids["other"]]).fetchone()[0]
    bad = fetch(path, [f"/-/diff/{ids['report']}?from={other_rev}", "/-/diff/999", "/-/diff/abc",
                       f"/-/diff/{ids['report']}?to=x"])
    assert [r.status_code for r in bad] == [404, 404, 404, 404]
    assert "belongs to document" in bad[0].text
    data = get(path, f"/-/diff/{ids['report']}?format=json").json()
    assert "".join(c["new"] for c in data["changes"]) == sqlite3.connect(path).execute(
        "select text from revisions where id = ?", [data["to"]]).fetchone()[0]


def test_rows_link_to_the_diff_page(archive):
    path, ids = archive
    conn = sqlite3.connect(path)
    latest = conn.execute("select latest_revision_id from documents where id = ?", [ids["report"]]).fetchone()[0]
    docs = get(path, "/archive/documents").text
    assert f'href="/-/diff/{ids["report"]}?to={latest}"' in docs
    revs = get(path, "/archive/revisions").text
    for rid, doc in conn.execute("select id, document_id from revisions"):
        assert f'href="/-/diff/{doc}?to={rid}"' in revs
    row = get(path, f"/archive/revisions/{latest}").text
    assert f'href="/-/diff/{ids["report"]}?to={latest}"' in row


def test_scraped_html_is_shown_as_text_everywhere(archive):
    path, ids = archive
    pages = [f"/-/diff/{ids['hostile']}", f"/-/diff/{ids['hostile']}?from=", "/archive/documents",
             "/archive/revisions", f"/archive/documents/{ids['hostile']}", "/archive/revisions?_search=公告",
             f"/archive/document_history?document_id={ids['hostile']}", "/archive/latest_reports_by_district"]
    for url in pages:
        text = get(path, url).text
        assert "<script>alert" not in text and "<b>公告</b>" not in text, url
        assert "<img src=x" not in text, url
        assert html.escape("<script>", quote=False) in text, url
    diff_page = get(path, f"/-/diff/{ids['hostile']}").text
    assert "<ins>\n第三段&lt;b&gt;加粗&lt;/b&gt;。</ins>" in diff_page
    assert f"<h1>{markupsafe.escape(HOSTILE_TITLE)}</h1>" in diff_page
    assert html.escape(HOSTILE_TEXT.split("\n")[0]) in diff_page


# ---------------------------------------------------------------- document and capture pages

def test_document_page_shows_report_timeline_and_text(archive):
    path, ids = archive
    conn = sqlite3.connect(path)
    revs = [r[0] for r in conn.execute("select id from revisions where document_id = ? order by id", [ids["report"]])]
    page = get(path, f"/-/document/{ids['report']}").text
    assert "<h1>坪山区2023年法治政府建设年度报告（修订）</h1>" in page
    for fact in ("坪山区人民政府", "坪山区司法局", "2024-03-01", "live", "http://example.gov.cn/report/2023.html"):
        assert fact in page
    for rev in revs:
        assert f'href="/-/diff/{ids["report"]}?to={rev}"' in page
    assert "800 → 860" in page  # the figure that changed
    assert "深入开展普法宣传" in page  # the latest text …
    assert "法律顾问" not in page.split("最新正文")[1]  # … not the old one
    assert f'href="/archive/documents/{ids["report"]}"' in page and 'href="/archive/documents"' in page
    # a withdrawn report: gone with its date, the timeline has the event
    gone_at = conn.execute("select at from events where document_id = ? and kind = 'gone'",
                           [ids["withdrawn"]]).fetchone()[0]
    page = get(path, f"/-/document/{ids['withdrawn']}").text
    assert "zwgk-status-gone" in page and f"<th>已删除 Gone</th><td>{gone_at}</td>" in page
    assert 'class="zwgk-event-gone"' in page
    data = get(path, f"/-/document/{ids['report']}?format=json").json()
    assert [row["id"] for row in data["timeline"]] == revs
    assert [r.status_code for r in fetch(path, ["/-/document/999", "/-/document/x"])] == [404, 404]


def test_document_page_lists_attachments_and_record(tmp_path):
    from archive import store
    from archive.db import connect
    from tests.reading_fixtures import SOURCE, Page, write

    path = tmp_path / "archive.db"
    db = connect(path)
    store.upsert_source(db, SOURCE)
    write(db, "http://example.gov.cn/a.html", Page("带附件的报告", "正文。", attachments=[
        ("http://example.gov.cn/files/report.pdf", "报告全文.pdf")], record={"索引号": "11440300-2024-0001"}),
        None)
    doc_id = db.execute("select id from documents").fetchone()[0]
    db.conn.close()
    page = get(path, f"/-/document/{doc_id}").text
    assert '<a href="http://example.gov.cn/files/report.pdf" rel="nofollow noreferrer">' in page
    assert "报告全文.pdf" in page and "<th>索引号</th><td>11440300-2024-0001</td>" in page


def test_every_way_in_links_to_the_document_page(archive):
    path, ids = archive
    href = f'href="/-/document/{ids["report"]}"'
    for url in ("/archive/documents", "/archive/documents?_search=行政复议", f"/-/diff/{ids['report']}",
                "/archive/revisions", "/archive/changes_feed"):
        assert href in get(path, url).text, url


def test_capture_page_shows_scraped_html_as_text_and_sandboxes_the_rendering(archive):
    path, ids = archive
    digest = sqlite3.connect(path).execute("select capture_hash from revisions where document_id = ? order by id "
                                           "desc", [ids["hostile"]]).fetchone()[0]
    page = get(path, f"/-/capture/{digest}").text
    assert "&lt;script&gt;alert(" in page and "<script>alert" not in page and "<img src=x" not in page
    assert f'href="/-/document/{ids["hostile"]}"' in page
    framed = get(path, f"/-/capture/{digest}?view=rendered").text
    assert f'<iframe class="zwgk-frame" sandbox="" referrerpolicy="no-referrer" src="/-/capture/{digest}?raw=1">' \
        in framed and "<script>alert" not in framed
    raw = get(path, f"/-/capture/{digest}?raw=1")
    csp = raw.headers["content-security-policy"]
    assert csp.startswith("sandbox;") and "allow-scripts" not in csp and "default-src 'none'" in csp
    assert raw.headers["x-content-type-options"] == "nosniff"
    assert [r.status_code for r in fetch(path, ["/-/capture/" + "0" * 64, "/-/capture/../x"])] == [404, 404]


def test_tables_are_readable(archive):
    path, ids = archive
    revisions = get(path, "/archive/revisions").text
    previews = re.findall(r'<span class="zwgk-preview"[^>]*>([^<]*)…</span>', revisions)
    assert previews and all(len(html.unescape(p)) <= 80 for p in previews)
    assert "基层法治力量仍然薄弱" not in revisions  # the end of the long report text is not in the table …
    latest = sqlite3.connect(path).execute("select latest_revision_id from documents where id = ?",
                                           [ids["report"]]).fetchone()[0]
    row = get(path, f"/archive/revisions/{latest}").text
    assert "基层法治力量仍然薄弱" in row  # … but on the row page, which is titled with the report
    assert re.search(r"<h1[^>]*>revisions: \d+ · 坪山区2023年法治政府建设年度报告（修订）", row)
    doc_row = get(path, f"/archive/documents/{ids['report']}").text
    assert re.search(r"<h1[^>]*>documents: \d+ · 坪山区2023年", doc_row)
    assert 'href="http://example.gov.cn/report/2023.html" rel="nofollow noreferrer"' in doc_row
    sources = get(path, "/archive/sources").text
    assert "zwgk-archive.css" in sources
    assert "dl.column-descriptions" in get(path, "/-/zwgk-archive.css").text


def test_datasette_sees_the_live_database(tmp_path):
    """Served mutable (not immutable): a revision written after start-up is seen and searchable."""
    from archive.db import connect
    from tests.reading_fixtures import Page, write

    path = tmp_path / "archive.db"
    make_archive(path)

    async def run():
        ds = Datasette([str(path)])
        await ds.invoke_startup()
        before = (await ds.client.get("/archive/revisions.json?_search=新鲜事项&_shape=array")).json()
        db = connect(path)
        write(db, "http://example.gov.cn/new.html", Page("新通知", "关于新鲜事项的说明。"), None)
        after = (await ds.client.get("/archive/revisions.json?_search=新鲜事项&_shape=array")).json()
        db.conn.close()
        return before, after, ds.databases["archive"].is_mutable

    before, after, mutable = asyncio.run(run())
    assert before == [] and len(after) == 1 and mutable


def test_document_page_lists_attachment_versions_with_diff_links_to_the_attachment_diff(tmp_path):
    from tests.attachment_archive import LINK_TEXT, build

    path, ids = build(tmp_path)
    doc, att, old, new = ids["document"], ids["attachment"], ids["old"], ids["new"]
    data = get(path, f"/-/document/{doc}?format=json").json()
    pdf_rows = [r for r in data["attachments"] if r["url"].endswith("/report.pdf")]
    assert [(r["version"], r["mime"], r["text"]) for r in pdf_rows] == [
        (old, "application/pdf", LINK_TEXT), (new, "application/pdf", LINK_TEXT)]
    assert all(r["size"] > 0 and r["chars"] > 0 and r["error"] is None and r["fetched_at"] for r in pdf_rows)
    assert [r["diff"] for r in pdf_rows] == [f"attachment={att}&from=0&to={old}",
                                             f"attachment={att}&from={old}&to={new}"]
    assert {r["url"].rsplit("/", 1)[1] for r in data["attachments"]} == {"report.pdf", "table.docx"}

    page = get(path, f"/-/document/{doc}").text
    assert f'<a class="zwgk-attachment-diff" href="/-/diff/{doc}?attachment={att}&amp;from={old}&amp;to={new}">' \
        in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page

    # the link leads to the attachment's diff, rendered like a revision diff (escaped)
    diff = get(path, f"/-/diff/{doc}?attachment={att}&from={old}&to={new}").text
    assert "<del>128</del><ins>131</ins>" in diff.replace("\n", "")
    assert "<script>alert(1)</script>" not in diff and "附件 年度报告全文&lt;script&gt;" in diff
    assert f'<input type="hidden" name="attachment" value="{att}">' in diff
    assert f'<option value="{new}" selected>' in diff  # the picker offers the attachment's versions
    # by default the latest version against the one before; JSON as `archive diff --format json`
    as_json = get(path, f"/-/diff/{doc}?attachment={att}&format=json").json()
    assert (as_json["from"], as_json["to"]) == (old, new)
    assert {"op": "replace", "old": "128", "new": "131"}.items() <= next(
        c for c in as_json["changes"] if c["op"] != "equal").items()
    statuses = [r.status_code for r in fetch(path, [f"/-/diff/{doc}?attachment=999", f"/-/diff/{doc}?attachment=x",
                                                    f"/-/diff/{doc}?attachment={att}&to=99999"])]
    assert statuses == [404, 404, 404]
