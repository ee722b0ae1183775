"""`python -m archive search` and `show` on a real archive written through the store, and what they
must not do (write, crash on bad input)."""
from __future__ import annotations

import hashlib
import json
import re

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.cli import cli
from archive.search import snippet
from tests.reading_fixtures import REPORT_URL, REPORT_V1, REPORT_V2, make_archive


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "archive.db"
    return path, make_archive(path)


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_search_ranks_documents_with_snippets(archive):
    path, ids = archive
    before = digest(path)
    out = run("--db", str(path), "search", "行政复议")
    assert out.exit_code == 0
    found = [int(n) for n in re.findall(r"^doc (\d+) ", out.output, re.M)]
    assert sorted(found) == sorted([ids["report"], ids["other"]])
    assert "【行政复议】" in out.output and "2 documents matching 行政复议" in out.output
    both = run("--db", str(path), "search", "调解", "普法", "--json")
    rows = json.loads(both.output)
    assert [r["id"] for r in rows] == [ids["report"]]
    assert "【普法】" in rows[0]["snippet"] and rows[0]["url"] == REPORT_URL
    assert "法律顾问" not in run("--db", str(path), "search", "顾问").output  # only the latest text is searched
    assert len(json.loads(run("--db", str(path), "search", "坪山区", "--limit", "1", "--json").output)) == 1
    nothing = run("--db", str(path), "search", "不存在的词语")
    assert nothing.exit_code == 0 and "0 documents" in nothing.output
    assert digest(path) == before  # reading never writes


def test_show_prints_a_revision_text_and_metadata(archive):
    path, ids = archive
    latest = run("--db", str(path), "show", str(ids["report"]))
    assert latest.exit_code == 0 and latest.output.rstrip("\n").endswith(REPORT_V2.split("\n")[-1])
    assert "title:        坪山区2023年法治政府建设年度报告（修订）" in latest.output
    data = json.loads(run("--db", str(path), "show", REPORT_URL, "--json").output)
    first = data["revisions"][0]
    old = json.loads(run("--db", str(path), "show", str(ids["report"]), "--rev", str(first), "--json").output)
    assert old["text"] == REPORT_V1 and data["text"] == REPORT_V2
    assert old["revision_id"] == first and data["publisher"] == "坪山区司法局" and data["capture_hash"]
    other = json.loads(run("--db", str(path), "show", str(ids["other"]), "--json").output)["revision_id"]
    wrong = run("--db", str(path), "show", str(ids["report"]), "--rev", str(other))
    assert wrong.exit_code == 2 and "belongs to document" in wrong.output
    missing = run("--db", str(path), "show", "999")
    assert missing.exit_code == 2 and "no document with id 999" in missing.output


def test_history_shows_gone_and_changes_shows_both_new_and_changed(tmp_path):
    from archive import store
    from archive.db import connect
    from tests.reading_fixtures import SOURCE, Page, days_ago, write

    path = tmp_path / "archive.db"
    db = connect(path)
    store.upsert_source(db, SOURCE)
    write(db, REPORT_URL, Page("报告", "第一版。"), days_ago(5))
    write(db, REPORT_URL, Page("报告", "第二版。"), days_ago(4))
    store.record_failure(db, None, url=REPORT_URL, outcome="not-found", http_status=404, fetched_at=days_ago(3))
    write(db, REPORT_URL, Page("报告", "第二版。"), days_ago(2))
    db.conn.close()
    kinds = re.findall(r"^\S+\s+(new|changed|gone|returned)\s+doc 1 ", run("--db", str(path), "changes").output,
                       re.M)
    assert kinds == ["returned", "gone", "changed", "new"]
    history = run("--db", str(path), "history", "1").output.splitlines()
    assert [line.split()[-1] for line in history[4:]] == ["new", "changed", "gone", "returned"]


@settings(max_examples=200, deadline=None)
@given(text=st.text(st.sampled_from("调解纠纷法治政府 ，。\nab1"), max_size=300),
       term=st.text(st.sampled_from("调解纠纷法治ab1"), min_size=1, max_size=4))
def test_snippet_marks_the_first_hit_and_stays_short(text, term):
    out = snippet(text, [term], width=20)
    flat = " ".join(text.split())
    assert "\n" not in out
    if term.lower() in flat.lower():
        assert f"【{flat[flat.lower().find(term.lower()):][:len(term)]}】" in out
        assert len(out.replace("【", "").replace("】", "")) <= 2 * 20 + len(term) + 2
    else:
        assert "【" not in out and flat.startswith(out.rstrip("…"))


def test_serve_public_url_makes_the_feed_links_absolute(archive):
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.request

    from tests.crawling import ROOT

    path, ids = archive
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "ZWGK_PUBLIC_URL"}
    proc = subprocess.Popen([sys.executable, "-m", "archive", "--db", str(path), "serve", "--port", str(port),
                             "--public-url", "https://archive.example.org/"], cwd=ROOT,
                            env={**env, "PYTHONPATH": str(ROOT)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        feed = None
        for _ in range(150):
            try:
                feed = urllib.request.urlopen(f"http://127.0.0.1:{port}/archive/changes_feed.atom").read().decode()
                break
            except OSError:
                assert proc.poll() is None, "archive serve exited"
                time.sleep(0.2)
        assert feed is not None
        entries = re.findall(r"<entry>(.*?)</entry>", feed, re.S)
        [gone] = [e for e in entries if "已删除 Gone" in e]
        assert f'<link href="https://archive.example.org/-/document/{ids["withdrawn"]}"/>' in gone
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    bad = run("--db", str(path), "serve", "--public-url", "archive.example.org")
    assert bad.exit_code == 2 and "not an http(s) URL" in bad.output


def test_show_and_search_never_print_terminal_escapes_from_a_page(tmp_path):
    from archive import store
    from archive.db import connect
    from tests.reading_fixtures import SOURCE, Page, days_ago, write

    path = tmp_path / "archive.db"
    db = connect(path)
    store.upsert_source(db, SOURCE)
    write(db, REPORT_URL, Page("报告\x1b]0;pwned\x07", "正文\x1b[2J清屏。\n第二段。"), days_ago(1))
    db.conn.close()
    for args in (("show", "1"), ("search", "清屏")):
        out = run("--db", str(path), *args)
        assert out.exit_code == 0 and "\x1b" not in out.output and "\x07" not in out.output
        assert "清屏" in out.output
    assert "\x1b[2J" in json.loads(run("--db", str(path), "show", "1", "--json").output)["text"]  # kept as is


def test_search_finds_documents_through_their_attachments_text(tmp_path):
    from tests.attachment_archive import LINK_TEXT, build

    path, ids = build(tmp_path)
    before = digest(path)
    out = run("--db", str(path), "search", "出庭应诉")  # only the PDF holds it, not the page
    assert out.exit_code == 0, out.output
    assert [int(n) for n in re.findall(r"^doc (\d+) ", out.output, re.M)] == [ids["document"]]
    assert f"附件 attachment {ids['attachment']}: {LINK_TEXT}" in out.output
    assert "【出庭应诉】" in out.output and "1 document matching 出庭应诉" in out.output
    [hit] = json.loads(run("--db", str(path), "search", "出庭应诉", "--json").output)
    assert hit["id"] == ids["document"] and hit["match"] == "attachment"
    assert hit["attachment"]["id"] == ids["attachment"] and hit["attachment"]["text"] == LINK_TEXT
    assert hit["attachment"]["version"] == ids["new"] and hit["attachment"]["url"].endswith("/report.pdf")
    assert "【出庭应诉】" in hit["snippet"]
    [docx] = json.loads(run("--db", str(path), "search", "决定书", "--json").output)
    assert docx["match"] == "attachment" and docx["attachment"]["url"].endswith("/table.docx")
    # the latest version's text is searched: the replaced figure is gone, the new one found
    assert json.loads(run("--db", str(path), "search", "131", "--json").output)[0]["match"] == "attachment"
    assert json.loads(run("--db", str(path), "search", "128", "--json").output) == []
    # a document matching itself and through an attachment is listed once, as a document match
    [both] = json.loads(run("--db", str(path), "search", "法治政府建设", "--json").output)
    assert both["match"] == "document" and both["attachment"] is None
    assert digest(path) == before  # reading never writes
