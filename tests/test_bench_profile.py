"""bench.profile: py-spy's raw stacks grouped by process and area (the bench's "where the time goes")."""
from __future__ import annotations

from bench import profile

CRAWL = 'process 100:"python -m crawler.run --source bench";thread (100): MainThread'
HELPER = 'process 100:"python -m crawler.run --source bench";thread (101): Thread-1'
BASE = ("_run_module_as_main (<frozen runpy>:198);CrawlerProcess.start (scrapy/crawler.py:897);"
        "BaseEventLoop._run_once (asyncio/base_events.py:1922)")
WORKER = (f"{CRAWL};{BASE};BaseProcess.start (multiprocessing/process.py:121);"
          "BaseProcess._bootstrap (multiprocessing/process.py:314);_serve (crawler/workers.py:120)")

RAW = "\n".join([
    f"{CRAWL};{BASE};ArchivePipeline.process_item (crawler/pipelines.py:99);record_page (archive/store.py:250);"
    "_insert (archive/store.py:330) 30",
    f"{CRAWL};{BASE};GroupCommit.commit (archive/groupcommit.py:70);write_index (archive/search.py:150) 10",
    f"{CRAWL};{BASE};Scraper._scrape (scrapy/core/scraper.py:200) 50",
    f"{CRAWL};{BASE};judge (crawler/guard.py:80);visible_text (crawler/guard.py:40) 10",
    f"{HELPER};_bootstrap (threading.py:1002);_handle_results (concurrent/futures/process.py:300) 5",
    f"{WORKER};extract_and_prepare (crawler/workers.py:50);extract_page (crawler/extract/text.py:10);"
    "prune (crawler/extract/text.py:90) 70",
    f"{WORKER};extract_and_prepare (crawler/workers.py:50);prepare (archive/store.py:120);"
    "segment (archive/search.py:60) 20",
    f"{WORKER};extract_and_prepare (crawler/workers.py:50);prepare (archive/store.py:120) 10",
    "not a stack line",
])


def test_samples_are_grouped_by_process_and_innermost_area(tmp_path):
    raw = tmp_path / "crawl.raw"
    raw.write_text(RAW, encoding="utf-8")
    samples = profile.parse_raw(raw)
    assert sum(c for *_, c in samples) == 205
    table = profile.areas(samples, pages=10)
    crawl = table["crawl"]
    assert crawl["total"]["seconds"] == 1.0 and crawl["total"]["ms_per_page"] == 100.0
    assert crawl["SQLite writes"]["share"] == 0.4  # the store's insert and the group's FTS write
    assert crawl["Scrapy, Twisted, asyncio"]["ms_per_page"] == 50.0
    assert crawl["judging responses (guard)"]["share"] == 0.1
    assert table["crawl (other threads)"] == {
        "hand-off to the workers": {"share": 1.0, "ms_per_page": 5.0},
        "total": {"share": 1.0, "ms_per_page": 5.0, "seconds": 0.05}}
    worker = table["worker"]  # a forked worker may carry its parent's pid: its stack tells
    assert worker["extraction"]["share"] == 0.7
    assert worker["FTS segmentation"]["ms_per_page"] == 20.0
    assert worker["normalising and hashing"]["ms_per_page"] == 10.0


def test_top_functions_count_each_sample_once_per_function(tmp_path):
    raw = tmp_path / "crawl.raw"
    raw.write_text(RAW, encoding="utf-8")
    top = {r["function"]: r for r in profile.top_functions(profile.parse_raw(raw), "crawl")}
    assert top["record_page (archive/store.py)"] == {"function": "record_page (archive/store.py)",
                                                      "cumulative": 0.3, "self": 0.0}
    assert top["Scraper._scrape (scrapy/core/scraper.py)"]["self"] == 0.5
    assert top["CrawlerProcess.start (scrapy/crawler.py)"]["cumulative"] == 1.0
    assert "prune (crawler/extract/text.py)" not in top  # a worker's frame, not the crawl thread's
