"""Red-team reproductions for the operations and readers work (issues 13 and 14): what scraped text,
config and concurrent writers must not be able to do to the reading commands and notifications."""
from __future__ import annotations

import json

from click.testing import CliRunner

from archive import store
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
