"""zwgk-archive's scheduler: crawl every configured source on its schedule, unattended.

    python scheduler.py [--config config/sources.yaml] [--db data/archive.db]   # run until stopped
    python scheduler.py --once [--source pingshan]     # crawl every (or one) source now, then exit
    python scheduler.py --list                          # each source's schedule and next run
    python scheduler.py --probe pingshan                # what a crawl of one source would follow; writes nothing
    python scheduler.py --demo [--db data/demo.db]      # offline demo on bundled replica sites

Exit codes: 0 done (or stopped by SIGTERM/SIGINT); 1 some source could not be crawled (--once, --probe);
2 bad arguments or config. The logic lives in crawler/service.py, crawler/jobs.py, crawler/probe.py and
crawler/demo.py.
"""
from __future__ import annotations

import argparse
import signal
import sqlite3
import sys
from pathlib import Path

from archive.db import db_path
from crawler.jobs import DEFAULT_GRACE, DEFAULT_TIME_LIMIT, CrawlRunner
from crawler.service import (
    DEFAULT_JITTER,
    DEFAULT_MAX_CONCURRENT,
    DEFAULT_RELOAD_INTERVAL,
    SchedulerService,
    enabled_sources,
    list_sources,
    run_once,
    setup_logging,
)
from crawler.sources import DEFAULT_CONFIG, ConfigError, load_config


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, exit 2 (argparse would print the usage first)
        print(f"scheduler.py: error: {message} (see --help)", file=sys.stderr)
        sys.exit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python scheduler.py", description=__doc__.splitlines()[0],
                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="crawl every (or one) source now, then exit")
    mode.add_argument("--list", action="store_true", help="list sources with schedule and next run time")
    mode.add_argument("--probe", metavar="ID", help="show what a crawl of source ID would follow; write nothing")
    mode.add_argument("--demo", action="store_true", help="crawl bundled replica sites twice into data/demo.db")
    parser.add_argument("--source", metavar="ID", help="with --once: only this source")
    parser.add_argument("--config", default=DEFAULT_CONFIG, help=f"sources file (default {DEFAULT_CONFIG})")
    parser.add_argument("--db", help="archive database (default $ARCHIVE_DB or data/archive.db)")
    parser.add_argument("--max-concurrent", type=_positive(int), default=DEFAULT_MAX_CONCURRENT,
                        help=f"most crawls at once (default {DEFAULT_MAX_CONCURRENT})")
    parser.add_argument("--time-limit", type=_positive(float), default=DEFAULT_TIME_LIMIT,
                        help=f"seconds one crawl may run before it is stopped (default {DEFAULT_TIME_LIMIT})")
    parser.add_argument("--grace", type=_positive(float), default=DEFAULT_GRACE,
                        help="seconds a stopped crawl gets to close cleanly before it is killed "
                             f"(default {DEFAULT_GRACE})")
    parser.add_argument("--jitter", type=_non_negative, default=DEFAULT_JITTER,
                        help=f"random delay in seconds added to each scheduled start (default {DEFAULT_JITTER}, "
                             "at most a tenth of the source's period)")
    parser.add_argument("--reload-interval", type=_positive(float), default=DEFAULT_RELOAD_INTERVAL,
                        help=f"seconds between checks for config changes (default {DEFAULT_RELOAD_INTERVAL})")
    parser.add_argument("--log-dir", help="where scheduler.log and crawl logs go (default: logs/ next to the db)")
    return parser


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        return value
    return parse


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text!r}")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.source and not args.once:
        print("scheduler.py: error: --source only goes with --once", file=sys.stderr)
        return 2
    try:
        if args.demo:
            from crawler.demo import run_demo

            return run_demo(Path(args.db or "data/demo.db"), sys.stdout)
        config = load_config(args.config)
        if args.probe:
            from crawler.probe import probe

            return probe(config.get(args.probe), sys.stdout)
        if args.list:
            list_sources(config, sys.stdout)
            return 0
        sources = enabled_sources(config, args.source)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    database = db_path(args.db).resolve()
    if database.is_dir():
        print(f"error: --db {database} is a directory, not a database file", file=sys.stderr)
        return 2
    log_dir = Path(args.log_dir).resolve() if args.log_dir else database.parent / "logs"
    try:
        setup_logging(log_dir)
        if args.once:
            return _once(args, database, log_dir, sources)
        service = SchedulerService(args.config, database, max_concurrent=args.max_concurrent,
                                   time_limit=args.time_limit, grace=args.grace, jitter=args.jitter,
                                   reload_interval=args.reload_interval, log_dir=log_dir)
        return service.run_forever()
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (sqlite3.Error, OSError) as e:
        print(f"error: archive {database}: {e}", file=sys.stderr)
        return 2


def _once(args, database: Path, log_dir: Path, sources) -> int:
    runner = CrawlRunner(args.config, database, time_limit=args.time_limit, grace=args.grace, log_dir=log_dir)
    signals = []

    def on_signal(signum, _frame):
        signals.append(signum)
        runner.stop(kill=len(signals) > 1)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    outcomes = run_once(runner, sources, sys.stdout, live=sys.stdout.isatty())
    return 0 if all(o.succeeded for o in outcomes) else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # e.g. `python scheduler.py --list | head`
        sys.stdout = None
        sys.exit(0)
