"""`python scheduler.py --demo`: the whole pipeline offline, on the bundled replica sites.

The replica sites (tests/sites) are served on 127.0.0.1 and crawled into a demo archive; then the sites
change (one edit, one withdrawal, one new report each) and are crawled again. Prints what changed and the
commands to look at it.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TextIO

import sqlite_utils

from crawler.jobs import CrawlRunner
from crawler.service import enabled_sources, run_once, setup_logging
from crawler.sources import ConfigError, load_config

DEMO_TIME_LIMIT = 300


def run_demo(db_path: Path, out: TextIO) -> int:
    """Crawl the replica sites twice into `db_path`; 0 when both rounds crawled every source."""
    try:
        from tests.sites import ReplicaFarm
    except ImportError as e:
        raise ConfigError(f"the demo needs the replica sites in tests/sites (run from the repository): {e}") from None
    db_path = db_path.resolve()
    _clear_previous_demo(db_path)
    setup_logging(db_path.parent / "logs" / "demo", stderr=False)
    workdir = Path(tempfile.mkdtemp(prefix="zwgk-demo-"))
    try:
        with ReplicaFarm() as farm:
            config_path = farm.sources_yaml(workdir / "sources.yaml")
            sources = enabled_sources(load_config(config_path))
            runner = CrawlRunner(config_path, db_path, time_limit=DEMO_TIME_LIMIT,
                                 log_dir=db_path.parent / "logs" / "demo")
            print(f"Replica sites on 127.0.0.1: {', '.join(s.id for s in sources)}", file=out)
            print("\n== First crawl (the sites as first published) ==", file=out)
            first = run_once(runner, sources, out)
            farm.set_state(2)
            print("\n== The sites change: one report edited, one withdrawn, one added per site ==", file=out)
            print("== Second crawl ==", file=out)
            second = run_once(runner, sources, out)
            second_start = min((o.row["started_at"] for o in second if o.row), default="")
        _report(db_path, second_start, out)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(o.succeeded for o in first + second) else 1


def _clear_previous_demo(db_path: Path) -> None:
    """A demo archive from an earlier demo (replica URLs are on 127.0.0.1, ports change) is replaced;
    anything else is refused, so the demo never deletes a real archive."""
    if not db_path.exists():
        return
    db = sqlite_utils.Database(db_path)
    try:
        hosts = {r[0] for r in db.execute("SELECT DISTINCT substr(url, 1, 17) FROM documents")} \
            if "documents" in db.table_names() else set()
    finally:
        db.close()
    if hosts - {"http://127.0.0.1:"}:
        raise ConfigError(f"{db_path} holds documents that are not from a demo; give the demo another --db")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


def _report(db_path: Path, second_start: str, out: TextIO) -> None:
    db = sqlite_utils.Database(db_path)
    try:
        changed = list(db.query(
            "SELECT d.id, d.title, d.url, count(r.id) AS revisions FROM documents d JOIN revisions r "
            "ON r.document_id = d.id GROUP BY d.id HAVING count(r.id) > 1 ORDER BY d.id"))
        gone = list(db.query("SELECT id, title, url FROM documents WHERE status = 'gone' ORDER BY id"))
        new = list(db.query("SELECT id, title, url FROM documents WHERE first_seen >= ? ORDER BY id",
                            [second_start]))
        total = db.execute("SELECT count(*) FROM documents").fetchone()[0]
    finally:
        db.close()
    print(f"\n== What changed ({total} documents in {db_path}) ==", file=out)
    for label, rows in (("edited (a new revision)", changed), ("withdrawn (now gone)", gone),
                        ("new in the second crawl", new)):
        print(f"{label}: {len(rows)}", file=out)
        for row in rows:
            print(f"  #{row['id']}  {row['title']}", file=out)
    example = changed[0]["id"] if changed else 1
    db_arg = _shell_path(db_path)
    print("\nLook at it:", file=out)
    print(f"  python -m archive --db {db_arg} changes            # every change, newest first", file=out)
    print(f"  python -m archive --db {db_arg} history {example}         # the revisions of one document",
          file=out)
    print(f"  python -m archive --db {db_arg} diff {example}            # what the edit changed", file=out)
    print(f"  python -m archive --db {db_arg} status             # each source's last run", file=out)
    print(f"  python -m archive --db {db_arg} serve              # browse it in Datasette", file=out)


def _shell_path(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
