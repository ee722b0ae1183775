"""End to end: the real spider crawls the replica sites over HTTP into a real archive, twice, and the
second crawl after the sites change adds exactly the revisions the changes call for."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from tests.crawling import ROOT, crawl, rows


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text or "")


@pytest.fixture
def sources(replica, replica_config):
    from crawler.sources import load_config

    return list(load_config(replica_config).sources)


def crawl_every(replica_config, db_path, sources):
    for source in sources:
        done = crawl(replica_config, db_path, source)
        assert done.returncode == 0, f"{source}: exit {done.returncode}\n{done.stderr[-3000:]}"


def test_crawl_change_and_recrawl(replica, replica_config, db_path, sources):
    # --- first crawl: every report of every site, one revision each --------------------------------
    crawl_every(replica_config, db_path, sources)
    expected = {e.url: e for e in replica.expected(1)}
    docs = {d["url"]: d for d in rows(db_path, "select * from documents")}
    assert set(docs) == set(expected), "documents must be exactly the reports the listings link to"
    for url, exp in expected.items():
        doc = docs[url]
        assert doc["status"] == "live"
        assert doc["title"] == exp.title
        assert doc["published"] == exp.published
        assert doc["publisher"] == exp.publisher
        assert doc["report_year"] == exp.report_year
        assert doc["district"]
        [rev] = rows(db_path, "select * from revisions where document_id = ?", [doc["id"]])
        assert squash(rev["text"]) == squash(exp.body), url
        assert rev["capture_hash"] and rev["content_hash"]
    # gkmlpt: the list API's disclosure fields (索引号, 发布机构) are kept with each revision
    gkmlpt = rows(db_path, "select r.record from revisions r join documents d on d.id = r.document_id "
                           "where d.source_id = 'replica-gkmlpt'")
    assert gkmlpt and all({"索引号", "发布机构"} <= set(json.loads(r["record"])) for r in gkmlpt)
    runs = rows(db_path, "select * from runs order by id")
    assert [r["status"] for r in runs] == ["ok"] * len(sources)
    assert sum(r["new_documents"] for r in runs) == len(expected)
    assert all(r["finished_at"] and r["pages_fetched"] > 0 for r in runs)
    # robots.txt was asked before anything else on every site
    for key in replica.sites:
        assert replica.fetched(key)[0][0] == "/robots.txt"

    # --- the same sites again: counters and header dates moved, nothing else -------------------------
    crawl_every(replica_config, db_path, sources)
    assert rows(db_path, "select count(*) n from revisions")[0]["n"] == len(expected)
    last_runs = rows(db_path, "select * from runs order by id desc limit ?", [len(sources)])
    assert all(r["new_revisions"] == 0 and r["status"] == "ok" for r in last_runs)
    assert sum(r["unchanged"] for r in last_runs) == len(expected)

    # --- the sites change: one edit, one withdrawal, one new report per site -------------------------
    replica.set_state(2)
    crawl_every(replica_config, db_path, sources)
    edited, withdrawn, new = (replica.change_urls(k) for k in ("edited", "withdrawn", "new"))
    revs = rows(db_path, "select r.*, d.url from revisions r join documents d on d.id = r.document_id "
                         "order by r.id")
    added = revs[len(expected):]
    assert sorted(r["url"] for r in added) == sorted(edited | new)
    docs = {d["url"]: d for d in rows(db_path, "select * from documents")}
    assert {u for u, d in docs.items() if d["status"] == "gone"} == withdrawn
    expected2 = {e.url: e for e in replica.expected(2)}
    for rev in added:
        assert squash(rev["text"]) == squash(expected2[rev["url"]].body)
    for key, change in replica.changes.items():
        url = replica.sites[key].url(change.edited)
        old, new_rev = [r for r in revs if r["url"] == url]
        assert change.old_figure in old["text"] and change.new_figure not in old["text"]
        assert change.new_figure in new_rev["text"] and change.removed_sentence not in new_rev["text"]
    # the withdrawn report keeps its history
    for url in withdrawn:
        assert len([r for r in revs if r["url"] == url]) == 1
    outcomes = rows(db_path, "select outcome, count(*) n from fetches where run_id in "
                             "(select id from runs order by id desc limit ?) group by outcome", [len(sources)])
    counts = {r["outcome"]: r["n"] for r in outcomes}
    assert counts.get("changed") == len(edited) and counts.get("new") == len(new)
    assert counts.get("gone") == len(withdrawn) and "error" not in counts

    # --- state 2 again: nothing new; back to state 1: the withdrawn report returns live ------------------
    crawl_every(replica_config, db_path, sources)
    assert rows(db_path, "select count(*) n from revisions")[0]["n"] == len(revs)
    replica.set_state(1)
    crawl_every(replica_config, db_path, sources)
    docs = {d["url"]: d for d in rows(db_path, "select * from documents")}
    assert all(docs[u]["status"] == "live" for u in withdrawn)
    assert rows(db_path, "select count(*) n from revisions")[0]["n"] == len(revs) + len(edited)


def test_unknown_source_is_a_clear_error(replica_config, db_path):
    done = crawl(replica_config, db_path, "no-such-source")
    assert done.returncode == 2
    assert "no source with id 'no-such-source'" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not db_path.exists()


def test_a_crawl_starts_no_server_of_its_own_and_ends_cleanly(replica, replica_config, db_path, sources):
    """Scrapy 2.19 turns on a remote-control HTTP server (it runs the Python sent to it) unless told not to,
    and imports every listed extension to ask: a crawl does not even import it, nor the telnet console.
    The crawl process leaves without the interpreter's teardown (crawler.run.leave), after its exit
    handlers: what it wrote and logged is complete when it has gone."""
    probe = ("import atexit, runpy, sys\n"
             "atexit.register(lambda: print('MODULES', sorted(m for m in sys.modules if m.startswith("
             "('scrapy.extensions.', 'aiohttp', 'twisted.conch')))))\n"
             "sys.argv = ['crawler.run', *sys.argv[1:]]\n"
             "runpy.run_module('crawler.run', run_name='__main__', alter_sys=True)\n")
    done = subprocess.run([sys.executable, "-c", probe, "--source", sources[0], "--config", str(replica_config),
                           "--db", str(db_path), "--log-level", "INFO"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    modules = done.stdout.split("MODULES", 1)[1]
    assert "scrapy.extensions.corestats" in modules  # the extensions in use were imported and seen
    assert "remote_control" not in modules and "aiohttp" not in modules
    assert "scrapy.extensions.telnet" not in modules and "twisted.conch" not in modules
    assert "Spider closed (finished)" in done.stderr  # the last lines of the log were flushed
    [run] = rows(db_path, "select * from runs")
    assert run["status"] == "ok" and run["finished_at"] and run["new_documents"] > 0
