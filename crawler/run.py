"""Run one source's crawl in this process: what the scheduler starts in a child process.

    python -m crawler.run --source pingshan [--config config/sources.yaml] [--db data/archive.db] [--run-id N]

Exit code: 0 when the run ended ok, 1 when partial, 3 when failed or interrupted, 2 for bad arguments.
"""
from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from typing import Any

from scrapy.crawler import CrawlerProcess
from scrapy.settings import Settings
from scrapy.utils.project import get_project_settings

from archive.db import connect, db_path
from crawler import guard
from crawler.sources import DEFAULT_CONFIG, ConfigError, Source, load_config

EXIT_CODES = {"ok": 0, "partial": 1}


def crawl(source_id: str, config: str = DEFAULT_CONFIG, db: str | None = None, run_id: int | None = None,
          settings: dict[str, Any] | None = None) -> str:
    """Crawl one source into the archive; the run's final status. Only once per process (Twisted)."""
    source = load_config(config).get(source_id)  # fail fast, with a clear message, before Scrapy starts
    project = get_project_settings()
    project.setdict(settings or {}, priority="cmdline")
    preflight(source, project, db, str(config))
    check_archive_writable(db)
    process = CrawlerProcess(project)
    crawler = process.create_crawler("disclosure")
    process.crawl(crawler, source=source_id, config=str(config), db=str(db) if db else None, run_id=run_id)
    process.start()
    spider = crawler.spider
    if getattr(spider, "archive_error", None):  # set by ArchivePipeline: disk full, read-only, I/O error
        raise ArchiveError(f"archive {db_path(db)}: {spider.archive_error}; crawl stopped")
    return getattr(spider, "run_status", None) or "failed"


class ArchiveError(RuntimeError):
    """The archive cannot be written (read-only file, full disk, I/O error); one line."""


def check_archive_writable(db: str | None) -> None:
    """Open the archive (creating it if new) and make one no-op write, so a read-only file or a full
    disk stops the crawl before it starts, with one clear line."""
    try:
        handle = connect(db)
        try:
            version = int(handle.execute("PRAGMA user_version").fetchone()[0])
            handle.execute(f"PRAGMA user_version = {version}")
        finally:
            handle.conn.close()
    except (sqlite3.Error, OSError) as e:
        raise ArchiveError(f"archive {db_path(db)}: {e}") from None


def preflight(source: Source, project: Settings, db: str | None, config: str = DEFAULT_CONFIG) -> None:
    """Everything that would fail mid-crawl, checked before anything is written: the guard rules, the
    source's setting values (a number where Scrapy wants a number), and the archive path."""
    try:
        guard.load_rules()
    except guard.GuardConfigError as e:
        raise ConfigError(str(e)) from None
    for name, value in source.settings.items():
        default = project.get(name)
        if isinstance(default, bool):
            ok = isinstance(value, bool) or str(value).lower() in ("0", "1", "true", "false")
        elif isinstance(default, (int, float)):
            try:
                ok = not isinstance(value, bool) and float(value) >= 0
            except (TypeError, ValueError):
                ok = False
        else:
            ok = True
        if not ok:
            wanted = "true or false" if isinstance(default, bool) else "a non-negative number"
            raise ConfigError(f"{config}: source '{source.id}': field 'settings': {name} must be {wanted} "
                              f"(got {value!r})")
    path = db_path(db)
    if path.is_dir():
        raise ConfigError(f"--db {path} is a directory, not a database file")
    parent = path.resolve().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"--db {path}: cannot create it under {parent} (not a writable directory)")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2 (argparse prints the usage first)
        print(f"python -m crawler.run: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(prog="python -m crawler.run", description=__doc__.splitlines()[0])
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
    except ArchiveError as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    return EXIT_CODES.get(status, 3)


if __name__ == "__main__":
    sys.exit(main())
