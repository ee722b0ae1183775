"""Red team of the archive's writer thread (archive/writer.py, crawler/pipelines.py, issue 16): real crawls
of the fault farm's replica sites into real SQLite files, in child processes as the scheduler runs them."""
from __future__ import annotations

import re
import resource

from hypothesis import given, settings
from hypothesis import strategies as st

from archive import search
from tests.crawling import crawl, rows
from tests.sites.faults import FaultFarm
from tests.test_crashes import _start, assert_archive_sound

ARTICLES = 40


def test_a_last_group_that_cannot_be_committed_is_an_archive_error(tmp_path):
    """Every page of the crawl sits in one group, committed only when the run finishes, and the archive
    cannot grow (a full disk): that last commit fails. The crawl must say so as any other write error does
    (exit 3, `error: archive …`), the run must not be `ok`, and nothing already archived may change."""
    with FaultFarm(("last",)) as farm:
        site = farm.sites["last"]
        for n in range(ARTICLES):
            site.add_article(f"a{n}")
        config = farm.sources_yaml(tmp_path / "sources.yaml",
                                   settings={"ZWGK_COMMIT_PAGES": 10_000, "ZWGK_COMMIT_SECONDS": 3600})
        db = tmp_path / "archive.db"
        first = crawl(config, db, farm.source_id("last"))
        assert first.returncode == 0, first.stderr[-2000:]
        before = rows(db, "SELECT id, content_hash FROM revisions ORDER BY id")
        site.bump()  # every page changes: the one group holds 40 revisions, far more than the limit
        limit = 96 * 1024  # RLIMIT_FSIZE: above one page's statement journal, far below the group's WAL
        child = _start(config, db, farm.source_id("last"),
                       preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)))
        _, stderr = child.communicate(timeout=120)
    last = stderr.strip().splitlines()[-1] if stderr.strip() else ""
    assert child.returncode == 3, stderr[-2000:]
    assert last.startswith(f"error: archive {db}") and "crawl stopped" in last, stderr[-2000:]
    assert rows(db, "SELECT status FROM runs ORDER BY id DESC LIMIT 1")[0]["status"] in ("failed", "running")
    assert rows(db, "SELECT id, content_hash FROM revisions ORDER BY id") == before
    assert_archive_sound(db)
