"""Run one source's crawl in this process: what the scheduler starts in a child process.

    python -m crawler.run --source pingshan [--config config/sources.yaml] [--db data/archive.db] [--run-id N]

Exit code: 0 when the run ended ok, 1 when partial, 3 when failed or interrupted, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import sys
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.utils.project import get_project_settings

from crawler.sources import DEFAULT_CONFIG, ConfigError, load_config

EXIT_CODES = {"ok": 0, "partial": 1}


def crawl(source_id: str, config: str = DEFAULT_CONFIG, db: str | None = None, run_id: int | None = None,
          settings: dict[str, Any] | None = None) -> str:
    """Crawl one source into the archive; the run's final status. Only once per process (Twisted)."""
    load_config(config).get(source_id)  # fail fast, with a clear message, before Scrapy starts
    project = get_project_settings()
    project.setdict(settings or {}, priority="cmdline")
    process = CrawlerProcess(project)
    crawler = process.create_crawler("disclosure")
    process.crawl(crawler, source=source_id, config=str(config), db=str(db) if db else None, run_id=run_id)
    process.start()
    spider = crawler.spider
    return getattr(spider, "run_status", None) or "failed"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m crawler.run", description=__doc__.splitlines()[0])
    parser.add_argument("--source", required=True)
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--db", default=None)
    parser.add_argument("--run-id", type=int, default=None)
    parser.add_argument("--log-level", default=None)
    args = parser.parse_args(argv)
    try:
        status = crawl(args.source, args.config, args.db, args.run_id,
                       {"LOG_LEVEL": args.log_level} if args.log_level else None)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return EXIT_CODES.get(status, 3)


if __name__ == "__main__":
    sys.exit(main())
