"""Server failures — 5xx, hangs past the timeout, connection resets, truncated bodies, hang-ups — are
retried (with backoff), then logged as `error`; no revision, and a known document stays `live` with its
last revision. Real HTTP against tests/sites/faults.py, the real crawler in a child process."""
from __future__ import annotations

import pytest

from tests.sites.faults import assert_history_kept, assert_never_archived, fault_run

HTTP_FAULTS = ["http-500", "http-502", "http-503", "hang", "reset", "truncated", "close"]
RETRY_TIMES = 1


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return fault_run(tmp_path_factory.mktemp("http"), [*HTTP_FAULTS, "flaky-503"],
                     settings={"RETRY_TIMES": RETRY_TIMES, "DOWNLOAD_TIMEOUT": 1.5})


def test_first_crawl_archived_everything(run):
    assert run.first.returncode == 0, run.first.stderr[-2000:]
    assert run.run(1)["status"] == "ok" and run.run(1)["new_documents"] == 2 + len(HTTP_FAULTS)


@pytest.mark.parametrize("fault", HTTP_FAULTS)
def test_known_document_keeps_its_history(run, fault):
    slug = f"known-{fault}"
    [fetch] = run.fetches(slug)
    assert fetch["outcome"] == "error" and fetch["error"], fetch
    assert_history_kept(run, slug)


@pytest.mark.parametrize("fault", HTTP_FAULTS)
def test_new_document_is_logged_not_archived(run, fault):
    slug = f"new-{fault}"
    [fetch] = run.fetches(slug)
    assert fetch["outcome"] == "error" and fetch["error"], fetch
    assert_never_archived(run, slug)


@pytest.mark.parametrize("fault", HTTP_FAULTS)
def test_failures_were_retried(run, fault):
    # at least 1 + RETRY_TIMES: Twisted itself retries once more when a kept-alive connection drops
    for slug in (f"known-{fault}", f"new-{fault}"):
        assert len(run.site.served(fault, run.site.article_path(slug))) >= 1 + RETRY_TIMES, slug


def test_a_retry_that_succeeds_is_a_normal_fetch(run):
    assert [f["outcome"] for f in run.fetches("known-flaky-503")] == ["unchanged"]
    assert [f["outcome"] for f in run.fetches("new-flaky-503")] == ["new"]
    assert len(run.site.served("flaky-503", run.site.article_path("new-flaky-503"))) == 2


def test_run_is_partial_and_counts_the_errors(run):
    assert run.second.returncode == 1, run.second.stderr[-2000:]  # crawler.run: 1 = partial
    row = run.run(2)
    assert row["status"] == "partial"
    assert row["errors"] == 2 * len(HTTP_FAULTS)
    assert row["new_revisions"] == 1  # new-flaky-503 only
    assert [f["outcome"] for f in run.fetches("clean")] == ["unchanged"]
