"""The reading commands (history, diff, changes, serve) on a real archive, through click."""
from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from archive.cli import cli
from tests.reading_fixtures import REPORT_URL, REPORT_V1, REPORT_V2, make_archive

ROOT = Path(__file__).resolve().parent.parent
READING_COMMANDS = ("history", "diff", "changes", "serve")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "archive.db"
    return path, make_archive(path)


def run(*args: str, env: dict | None = None):
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    return result


def test_history_by_id_and_url(archive):
    path, ids = archive
    by_id = run("--db", str(path), "history", str(ids["report"]))
    by_url = run("--db", str(path), "history", REPORT_URL)
    assert by_id.exit_code == 0 and by_id.output == by_url.output
    rows = [line.split() for line in by_id.output.splitlines() if re.match(r"\s+\d+\s+\d{4}-", line)]
    assert len(rows) == 2
    assert rows[0][2:] == [str(len(REPORT_V1)), f"+{len(REPORT_V1.replace(chr(10), ''))}", "-0", "new"]
    assert rows[1][5] == "changed"
    assert rows[1][2] == str(len(REPORT_V2))
    added, removed = int(rows[1][3]), -int(rows[1][4])
    assert added == len("860新增加强行政执法监督的段落。")
    assert removed == len("800同时，法律顾问还定期为我们局开展有针对性的法律知识培训。")


def test_db_from_environment(archive):
    path, ids = archive
    result = run("history", str(ids["report"]), env={"ARCHIVE_DB": str(path)})
    assert result.exit_code == 0 and REPORT_URL in result.output


def test_diff_default_is_latest_against_previous_in_three_formats(archive):
    path, ids = archive
    text = run("--db", str(path), "diff", str(ids["report"]))
    assert text.exit_code == 0
    assert "[-800-]{+860+}" in text.output and "\x1b[" not in text.output  # not a terminal: markers
    assert "title: 坪山区2023年法治政府建设年度报告{+（修订）+}" in text.output
    data = json.loads(run("--db", str(path), "diff", str(ids["report"]), "--format", "json").output)
    assert "".join(c["old"] for c in data["changes"]) == REPORT_V1
    assert "".join(c["new"] for c in data["changes"]) == REPORT_V2
    assert [c for c in data["changes"] if c["op"] != "equal"] == [
        {"op": "replace", "old": "800", "new": "860"},
        {"op": "delete", "old": "同时，法律顾问还定期为我们局开展有针对性的法律知识培训。\n", "new": ""},
        {"op": "insert", "old": "", "new": "新增加强行政执法监督的段落。\n"}]
    page = run("--db", str(path), "diff", str(ids["report"]), "--format", "html").output
    assert page.startswith("<!DOCTYPE html>") and "<del>800</del><ins>860</ins>" in page


def test_diff_from_to_and_errors(archive):
    path, ids = archive
    data = json.loads(run("--db", str(path), "diff", str(ids["report"]), "--format", "json").output)
    first, latest = data["from"], data["to"]
    back = json.loads(run("--db", str(path), "diff", str(ids["report"]), "--from", str(latest), "--to", str(first),
                          "--format", "json").output)
    assert "".join(c["new"] for c in back["changes"]) == REPORT_V1
    only_first = json.loads(run("--db", str(path), "diff", REPORT_URL, "--to", str(first), "--format", "json").output)
    assert only_first["from"] is None and [c["op"] for c in only_first["changes"]] == ["insert"]
    missing = run("--db", str(path), "diff", "12345")
    assert missing.exit_code == 2 and missing.output.strip() == "Error: no document with id 12345"
    wrong = run("--db", str(path), "diff", str(ids["report"]), "--from", "999")
    assert wrong.exit_code == 2 and "no revision with id 999" in wrong.output
    assert run("--db", str(path), "diff", str(ids["report"]), "--format", "pdf").exit_code == 2
    nodb = run("--db", str(path.parent / "nope.db"), "history", "1")
    assert nodb.exit_code == 2 and "nope.db: no such file" in nodb.output
    assert not (path.parent / "nope.db").exists()


def test_changes_since(archive):
    path, ids = archive
    recent = run("--db", str(path), "changes").output.splitlines()  # default: 30 days; one line per event
    listed = [(m.group(1), int(m.group(2))) for line in recent if (m := re.search(r" (\w+) +doc (\d+) ", line))]
    assert listed == [("gone", ids["withdrawn"]), ("changed", ids["report"]), ("new", ids["other"]),
                      ("new", ids["withdrawn"])]  # newest first; the withdrawn report both new and gone
    everything = run("--db", str(path), "changes", "--since", "2000-01-01").output
    assert f" doc {ids['hostile']} " in everything and "in 4 documents" in everything
    assert "7 events" in everything and "(4 new, 2 changed, 1 gone)" in everything
    bad = run("--db", str(path), "changes", "--since", "last tuesday")
    assert bad.exit_code == 2 and "not a date" in bad.output


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_starts_datasette_on_the_archive(archive):
    path, ids = archive
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "archive", "--db", str(path), "serve", "--port", str(port)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        body = None
        for _ in range(100):
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/-/diff/{ids['report']}").read().decode()
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.2)
        assert body is not None, proc.stdout.read().decode() if proc.poll() is not None else "no answer"
        assert "<del>800</del><ins>860</ins>" in body
        meta = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/-/metadata.json").read())
        assert meta["title"].startswith("政务公开档案")
        dbs = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/-/databases.json").read())
        assert [(d["name"], d["is_mutable"]) for d in dbs] == [("archive", True)]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- read-only opening -------------------------------------------------------------------------------

# every reading command with arguments that make it read the archive
READS = {"history": ["1"], "diff": ["1"], "changes": ["--since", "2000-01-01"], "status": [], "status --json": []}


def snapshot(path: Path) -> tuple:
    """What a read must not change: the file's bytes and mtime, which other files sit beside it, and that
    any -wal file SQLite's read-only WAL mode leaves is empty (nothing written to it)."""
    beside = sorted(p.name for p in path.parent.iterdir() if not p.name.endswith(("-wal", "-shm")))
    wal = Path(f"{path}-wal")
    return path.read_bytes(), path.stat().st_mtime_ns, beside, wal.stat().st_size if wal.exists() else 0


@pytest.mark.parametrize("command", READS)
def test_reading_commands_never_write(tmp_path, command):
    path = tmp_path / "archive.db"
    make_archive(path)
    before = snapshot(path)
    result = run("--db", str(path), *command.split(), *READS[command])
    assert result.exit_code in (0, 1), result.output  # status exits 1 for an unhealthy source
    assert result.output.strip()
    assert snapshot(path) == before, "a reading command changed the archive"


def test_reading_while_a_writer_has_the_archive_open_sees_its_commits(tmp_path):
    path = tmp_path / "archive.db"
    ids = make_archive(path)
    from archive.db import connect

    writer = connect(path)  # a crawl holding the archive open (its -wal file exists)
    try:
        writer.execute("UPDATE documents SET title = '改过的标题' WHERE id = ?", [ids["other"]])
        result = run("--db", str(path), "history", str(ids["other"]))
        assert result.exit_code == 0 and "改过的标题" in result.output
    finally:
        writer.close()


def not_sqlite(path: Path) -> None:
    path.write_text("url,title\nhttp://example.gov.cn/1.html,报告\n", encoding="utf-8")


def other_sqlite(path: Path) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("INSERT INTO notes (text) VALUES ('mine')")
    conn.commit()
    conn.close()


BAD_FILES = {  # how to make it, what the one line says
    "text file": (not_sqlite, "not an SQLite database"),
    "other SQLite file": (other_sqlite, "not a zwgk archive (no documents/revisions tables)"),
    "empty file": (lambda p: p.write_bytes(b""), "not a zwgk archive"),
    "directory": (lambda p: p.mkdir(), "is a directory"),
    "missing file": (lambda p: None, "no such file"),
}


@pytest.mark.parametrize("problem", BAD_FILES)
@pytest.mark.parametrize("command", [*READS, "reextract"])
def test_bad_db_is_one_line_exit_2_and_left_alone(tmp_path, problem, command):
    path = tmp_path / "given.db"
    make, expected = BAD_FILES[problem]
    make(path)
    before = snapshot(path) if path.is_file() else sorted(p.name for p in tmp_path.iterdir())
    result = run("--db", str(path), *command.split(), *READS.get(command, []))
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and str(path) in result.output and expected in result.output
    assert (snapshot(path) if path.is_file() else sorted(p.name for p in tmp_path.iterdir())) == before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_unreadable_db_is_one_line_exit_2(tmp_path):
    path = tmp_path / "archive.db"
    make_archive(path)
    path.chmod(0)
    result = run("--db", str(path), "status")
    assert result.exit_code == 2 and "permission denied" in result.output and result.output.count("\n") == 1


@pytest.mark.parametrize("problem", ["text file", "other SQLite file", "directory"])
def test_serve_refuses_a_bad_db_in_one_line(tmp_path, problem):
    path = tmp_path / "given.db"
    make, expected = BAD_FILES[problem]
    make(path)
    done = subprocess.run([sys.executable, "-m", "archive", "--db", str(path), "serve", "--port", str(free_port())],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and expected in done.stderr and str(path) in done.stderr


def test_outdated_archive_is_refused_by_readers_until_upgrade(tmp_path):
    """An archive written before the events table and revisions.suspect: reading commands say so in one line
    (exit 2) and leave the file alone; `upgrade` brings it up to date, back-filling its events, no row lost."""
    import sqlite3

    path = tmp_path / "old.db"
    make_archive(path)
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE events")
        conn.execute("ALTER TABLE revisions DROP COLUMN suspect")
        revisions = conn.execute("SELECT count(*) FROM revisions").fetchone()[0]
    before = path.read_bytes()
    for args in (("history", REPORT_URL), ("changes",), ("status",), ("search", "调解")):
        result = run("--db", str(path), *args)
        assert result.exit_code == 2, (args, result.output)
        [line] = [x for x in result.output.splitlines() if x.strip()]
        assert "older version" in line and "upgrade" in line and str(path) in line
    assert path.read_bytes() == before

    upgraded = run("--db", str(path), "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM revisions").fetchone()[0] == revisions
        kinds = {k for (k,) in conn.execute("SELECT kind FROM events")}
    assert "new" in kinds
    assert run("--db", str(path), "history", REPORT_URL).exit_code == 0


def test_upgrade_refuses_what_is_not_an_archive(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a database")
    result = run("--db", str(text), "upgrade")
    assert result.exit_code == 2 and "not an SQLite database" in result.output
    assert text.read_text() == "not a database"


def test_a_reader_open_while_a_crawl_starts_and_checkpoints_reads_the_truth(tmp_path):
    """A reader opened when nobody had the archive open, then a writer adds pages and checkpoints (as a
    crawl does when it closes): the reader's next query sees the new rows, never a "malformed" error."""
    from archive.db import connect, connect_readonly
    from tests.reading_fixtures import REPORT_TITLE, Page, days_ago, write

    path = tmp_path / "archive.db"
    make_archive(path)
    reader = connect_readonly(path)
    try:
        before = reader.execute("SELECT count(*) FROM documents").fetchone()[0]
        writer = connect(path)
        for n in range(300):
            write(writer, f"http://127.0.0.1/more/{n}.html", Page(f"{REPORT_TITLE} {n}", REPORT_V1), days_ago(1))
        writer.conn.close()  # the last writer closing checkpoints the WAL into the file
        count = reader.execute("SELECT count(*) FROM documents d JOIN revisions r ON r.document_id = d.id"
                               ).fetchone()[0]
        assert reader.execute("SELECT count(*) FROM documents").fetchone()[0] == before + 300
        assert count >= before + 300
    finally:
        reader.conn.close()
