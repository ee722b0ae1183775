"""Red team of the archive's writer thread (archive/writer.py, crawler/pipelines.py, issue 16): real crawls
of the fault farm's replica sites into real SQLite files, in child processes as the scheduler runs them."""
from __future__ import annotations

import re
import resource
import sqlite3
import subprocess

from hypothesis import given, settings
from hypothesis import strategies as st

from archive import search
from archive.db import connect
from crawler.jobs import abandon_stale_runs
from tests.crawling import crawl, rows
from tests.sites.faults import FaultFarm
from tests.test_crashes import _start, _wait_for_writes, assert_archive_sound

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


def test_an_archive_locked_past_the_busy_timeout_stops_the_crawl_without_a_wait_per_queued_update(tmp_path):
    """Another process holds the archive's write lock from mid-crawl until the crawl has ended (a long
    `archive upgrade`, say). The writer thread waits the busy timeout (30 s) on its next group, fails, and
    the crawl stops with `database is locked`. Meanwhile Scrapy's thread went on queueing a progress UPDATE
    every second (ZWGK_PROGRESS_INTERVAL 1); queued behind the failed write, each would wait the busy
    timeout again, one after the other (~30 of them: a quarter of an hour), before the run could end."""
    with FaultFarm(("busy",)) as farm:
        for n in range(24):
            farm.sites["busy"].add_article(f"a{n}")
        config = farm.sources_yaml(tmp_path / "sources.yaml", settings={
            "DOWNLOAD_DELAY": 0.2, "CONCURRENT_REQUESTS_PER_DOMAIN": 1, "ZWGK_PROGRESS_INTERVAL": 1})
        db = tmp_path / "archive.db"
        child = _start(config, db, farm.source_id("busy"))
        _wait_for_writes(child, db, 2)
        blocker = sqlite3.connect(db, timeout=10, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # held until the crawl has ended
            try:
                _, stderr = child.communicate(timeout=200)  # the write's 30 s and the run row's 30 s, not 15 min
            except subprocess.TimeoutExpired:
                child.kill()
                _, stderr = child.communicate()
                raise AssertionError("the crawl did not end 200 s after the lock: " + stderr[-2000:]) from None
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
    last = stderr.strip().splitlines()[-1]
    assert child.returncode == 3 and last.startswith(f"error: archive {db}"), stderr[-2000:]
    assert "database is locked" in last and "crawl stopped" in last
    assert stderr.count("could not update the progress") <= 1, stderr[-3000:]  # only one queued before the error
    assert_archive_sound(db)
    running = [r["id"] for r in rows(db, "SELECT id FROM runs WHERE status = 'running'")]
    assert sorted(abandon_stale_runs(db)) == running  # the run row could not be closed: the scheduler does it


def test_two_sources_crawled_at_once_into_one_archive_lose_nothing(tmp_path):
    """Two crawl processes, each with its writer thread and its group commits (1 page a group, so they
    take the archive's write lock many times each), write one archive at the same time: both runs end `ok`
    and every page of both is archived whole."""
    keys = ("one", "two")
    with FaultFarm(keys) as farm:
        for key in keys:
            for n in range(ARTICLES):
                farm.sites[key].add_article(f"{key}{n}")
        config = farm.sources_yaml(tmp_path / "sources.yaml", settings={"ZWGK_COMMIT_PAGES": 1})
        db = tmp_path / "archive.db"
        connect(db).close()  # the schema first: two processes creating a new archive at once race (see report)
        children = [_start(config, db, farm.source_id(key)) for key in keys]
        errors = [child.communicate(timeout=120)[1] for child in children]
    assert [child.returncode for child in children] == [0, 0], [e[-2000:] for e in errors]
    assert [r["status"] for r in rows(db, "SELECT status FROM runs ORDER BY id")] == ["ok", "ok"]
    counts = rows(db, "SELECT source_id, count(*) n FROM documents GROUP BY source_id ORDER BY source_id")
    assert counts == [{"source_id": farm.source_id(k), "n": ARTICLES} for k in sorted(keys)]
    assert rows(db, "SELECT count(*) n FROM revisions")[0]["n"] == 2 * ARTICLES
    assert_archive_sound(db)


# segment() as it was before its bigram step became one call per CJK run (commit 7a91295): the oracle
_OLD_BIGRAM_RE = re.compile(f"([{search._CJK}]) (?=([{search._CJK}]))")
_ODD = list("甲乙丙𠀀𠀁𪚥\u0301\u3000，。、_ a1\ufb01\u2460\uff21\u3300\u32ff\ud800\udfff\ue000\uf8ff\u200b")


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet=st.one_of(st.characters(), st.sampled_from(_ODD)), max_size=24))
def test_segment_is_the_one_template_per_character_segmenter_on_odd_text(text):
    """Astral CJK, lone surrogates, combining marks, NFKC-expanding characters (㌀ → アパート), only
    punctuation: the run-at-a-time bigram step gives exactly what the per-character template gave."""
    assert search.segment(text) == _OLD_BIGRAM_RE.sub(r"\1\2 ", search._unigrams(text))
