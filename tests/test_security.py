"""Scraped content is data, the served archive is read-only and local, and the crawler stays on its hosts.

(The crawler's host and robots.txt rules are exercised end to end in test_faults_shape.py and
test_faults_notfound.py; raw captures are keyed by sha256 in the database, never by URL.)"""
from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from tests.crawling import ROOT, crawl, rows
from tests.sites.faults import FaultFarm

EVIL_TITLE = '<script>alert("t")</script>法治政府建设年度报告<img src=x onerror=alert(1)>'
EVIL_TEXT = '<script>alert("body")</script> 第二段<iframe src="javascript:alert(2)"></iframe>'


@pytest.fixture(scope="module")
def evil_archive(tmp_path_factory):
    """An archive whose document has HTML/JS in its title and text (escaped in the source page, as
    text), with two revisions so there is a diff to render."""
    tmp = tmp_path_factory.mktemp("security")
    with FaultFarm(("evil",)) as farm:
        site = farm.sites["evil"]
        spec = site.add_article("a")
        spec.title = EVIL_TITLE
        spec.paragraphs = (EVIL_TEXT, *spec.paragraphs)
        config = farm.sources_yaml(tmp / "sources.yaml")
        db = tmp / "archive.db"
        assert crawl(config, db, "fault-evil").returncode == 0
        site.bump()
        spec.title = EVIL_TITLE
        spec.paragraphs = (EVIL_TEXT, *spec.paragraphs)
        assert crawl(config, db, "fault-evil").returncode == 0
    [doc] = rows(db, "SELECT * FROM documents")
    assert doc["title"] == EVIL_TITLE  # stored as the text it is
    assert len(rows(db, "SELECT id FROM revisions")) == 2
    return db, doc


def _no_live_markup(html: str) -> None:
    for live in ('<script>alert("t")', '<script>alert("body")', "<img src=x onerror", '<iframe src="javascript'):
        assert live not in html, f"unescaped scraped markup in output: {live}"


def test_cli_html_diff_escapes_scraped_content(evil_archive):
    db, doc = evil_archive
    done = subprocess.run([sys.executable, "-m", "archive", "--db", str(db), "diff", str(doc["id"]),
                           "--format", "html"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    _no_live_markup(done.stdout)
    assert "&lt;script&gt;" in done.stdout


def test_datasette_pages_escape_scraped_content(evil_archive):
    from datasette.app import Datasette

    db, doc = evil_archive

    async def fetch_all() -> dict[str, str]:
        ds = Datasette([str(db)])
        pages = {}
        for path in (f"/archive/documents/{doc['id']}", "/archive/documents", "/archive/revisions",
                     f"/-/diff/{doc['id']}"):
            response = await ds.client.get(path)
            assert response.status_code == 200, (path, response.status_code)
            pages[path] = response.text
        return pages

    for path, html in asyncio.run(fetch_all()).items():
        _no_live_markup(html)
        assert "&lt;script&gt;" in html or "&lt;script" in html, path


def test_captures_are_keyed_by_hash_not_url(evil_archive):
    db, _ = evil_archive
    for capture in rows(db, "SELECT hash, url FROM captures"):
        assert len(capture["hash"]) == 64 and all(c in "0123456789abcdef" for c in capture["hash"])
    assert sorted(os.listdir(db.parent)) == sorted(
        n for n in os.listdir(db.parent) if n.startswith("archive.db") or n in ("sources.yaml", "locks", "logs"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for name in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(name).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if int(hex_port, 16) == port and state == "0A":
                found.add(address)
    return found


def test_serve_is_local_and_read_only(evil_archive):
    db, doc = evil_archive
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "archive", "--db", str(db), "serve", "--port", str(port)],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/-/versions.json", timeout=2)
                break
            except OSError:
                time.sleep(0.1)
        assert _listening_addresses(port) == {"0100007F"}, "serve must bind 127.0.0.1 only by default"
        for sql in ("delete from documents", "update documents set title = 'x'", "drop table revisions",
                    "insert into runs (source_id, started_at, status) values ('x', 'y', 'z')",
                    "attach database ':memory:' as m", "pragma writable_schema = 1"):
            url = f"{base}/archive.json?sql={urllib.request.quote(sql)}"
            try:
                body = urllib.request.urlopen(url, timeout=10).read().decode()
            except urllib.error.HTTPError as e:
                body = e.read().decode()
            assert '"ok": true' not in body.replace('"ok":true', '"ok": true'), sql
        for path in ("/-/insert", "/archive/documents/-/insert", "/archive/-/create", "/archive/documents/1/-/delete"):
            request = urllib.request.Request(base + path, data=b'{"row": {"title": "x"}}', method="POST",
                                             headers={"Content-Type": "application/json"})
            try:
                status = urllib.request.urlopen(request, timeout=10).status
            except urllib.error.HTTPError as e:
                status = e.code
            assert status in (400, 403, 404, 405), (path, status)
        [after] = rows(db, "SELECT title FROM documents WHERE id = ?", [doc["id"]])
        assert after["title"] == doc["title"]
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert rows(db, "SELECT count(*) n FROM revisions")[0]["n"] == 2
