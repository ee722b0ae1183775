"""Red-team reproductions for the operations and readers work (issues 13 and 14): what scraped text,
config and concurrent writers must not be able to do to the reading commands and notifications."""
from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from types import SimpleNamespace

import pytest
import yaml
from click.testing import CliRunner
from datasette.app import Datasette
from hypothesis import example, given, settings
from hypothesis import strategies as st

from archive import store
from archive.cli import METADATA_FILE as METADATA
from archive.cli import cli
from archive.db import connect
from tests.reading_fixtures import REPORT_URL, SOURCE, Page, days_ago, write

ESCAPES = ("\x1b", "\x07", "\x9b")  # ESC, BEL and the one-byte C1 CSI (an escape to 8-bit terminals)


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_no_reading_command_prints_terminal_escapes_from_a_title(tmp_path):
    path = tmp_path / "archive.db"
    db = connect(path)
    store.upsert_source(db, SOURCE)
    write(db, REPORT_URL, Page("报告\x1b]0;pwned\x07\x9b2J标题", "正文一。\n第二段。"), days_ago(2))
    write(db, REPORT_URL, Page("报告\x1b]0;pwned\x07\x9b2J标题", "正文二。\n第二段。"), days_ago(1))
    db.conn.close()
    for args in (("history", "1"), ("changes", "--since", "2000-01-01"), ("attachments", "1"), ("show", "1"),
                 ("diff", "1")):
        out = run("--db", str(path), *args)
        assert out.exit_code == 0, (args, out.output)
        assert "标题" in out.output, args
        assert not any(c in out.output for c in ESCAPES), (args, out.output)
    rows = json.loads(run("--db", str(path), "changes", "--since", "2000-01-01", "--json").output)
    assert "\x1b]0;pwned" in rows[0]["title"]  # the data keeps what the page said


@pytest.fixture
def trickling_receiver():
    """A webhook that answers 200 and then sends its body one byte a second, never ending (until the test
    is over): each read is quick, so no socket timeout fires."""
    stop = threading.Event()
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)

    def drip(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n")
            while not stop.wait(1):
                try:
                    conn.sendall(b"1\r\nx\r\n")
                except OSError:
                    return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:  # closed at the end of the test
                return
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"json://127.0.0.1:{server.getsockname()[1]}/hook"
    stop.set()
    server.close()


def test_a_receiver_that_never_finishes_answering_does_not_hold_the_crawl(trickling_receiver):
    from archive.notify import send

    error = send([trickling_receiver], "zwgk-archive · test", "news", timeout=2)
    assert error is not None and "no answer from the receivers within 2s" in error


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["new", "changed", "gone", "returned"]), st.text(max_size=400)), min_size=1,
                max_size=5))
@example([("new", "长" * 1000), ("gone", "a\nb\u2028  https://evil.example")])
def test_a_scraped_title_cannot_forge_lines_of_a_notification(events):
    from archive.notify import TITLE_CHARS, compose, link

    source = SimpleNamespace(id="ps", name="坪山区", notify=(), public_url="https://archive.example.org/zwgk")
    rows = [{"id": k, "document_id": k, "kind": kind, "at": "", "revision_id": k, "run_id": 1, "title": title,
             "url": "u"} for k, (kind, title) in enumerate(events, 1)]
    _, body = compose(source, rows, run_id=1)
    lines = body.splitlines()
    assert lines[1] == "" and len(lines) == 2 + 2 * len(rows)
    for k, row in enumerate(rows):
        assert lines[2 + 2 * k].startswith("[") and lines[3 + 2 * k] == "  " + link(row, source.public_url)
        assert len(lines[2 + 2 * k]) <= len("[已恢复 returned] ") + TITLE_CHARS


def test_a_hostile_host_header_cannot_inject_markup_into_the_atom_feed(tmp_path):
    from tests.reading_fixtures import make_archive

    path = tmp_path / "archive.db"
    make_archive(path)
    evil = 'evil.example"/><script xmlns="http://www.w3.org/1999/xhtml">alert(1)</script><x a="'

    async def fetch(host: str) -> str:
        ds = Datasette([str(path)], metadata=yaml.safe_load(METADATA.read_text()))
        response = await ds.client.get("/archive/changes_feed.atom", headers={"host": host})
        assert response.status_code == 200
        return response.text

    feed = asyncio.run(fetch(evil))
    assert "<script" not in feed and feed.count("<entry>") > 0
    links = re.findall(r'<entry>.*?<link href="([^"]*)"', feed, re.S)
    assert links and all(link.startswith("http://localhost/-/") for link in links)
    assert '<link href="http://archive.example.org:8443/-/document/' in asyncio.run(fetch("archive.example.org:8443"))


def test_ids_beyond_sqlite_integers_or_not_ascii_are_not_found_not_a_crash(tmp_path):
    from tests.reading_fixtures import make_archive

    path = tmp_path / "archive.db"
    make_archive(path)
    huge = "9" * 23
    for args in (("history", huge), ("history", "²"), ("show", "٣"), ("show", "1", "--rev", huge),
                 ("diff", "1", "--to", huge)):
        out = CliRunner().invoke(cli, ["--db", str(path), *args])
        assert out.exit_code == 2, (args, out.output)
        assert "no document" in out.output or "no revision" in out.output, (args, out.output)

    async def statuses() -> list[int]:
        ds = Datasette([str(path)], metadata=yaml.safe_load(METADATA.read_text()))
        return [(await ds.client.get(url)).status_code
                for url in (f"/-/document/{huge}", f"/-/diff/1?from={huge}", f"/-/diff/1?to={huge}")]

    assert asyncio.run(statuses()) == [404, 404, 404]


def test_a_bad_notify_url_is_named_without_its_password(tmp_path):
    from crawler.sources import ConfigError, load_config

    config = tmp_path / "sources.yaml"
    config.write_text(yaml.safe_dump({"sources": [{
        "id": "ps", "name": "坪山区", "district": "坪山区", "listing": "html", "schedule": "0 6 * * *",
        "start_urls": ["http://127.0.0.1:9/list.html"], "article_urls": [r"/content/post_\d+\.html$"],
        "notify": ["mailto://desk:S3cret-pw@127.0.0.1:25?to=nobody"]}]}, allow_unicode=True))
    with pytest.raises(ConfigError) as err:
        load_config(config)
    message = str(err.value)
    assert "S3cret-pw" not in message and "mailto://desk:****@127.0.0.1:25?to=nobody" in message
