"""Run the real crawler from tests: `python -m crawler.run` in a child process, as the scheduler does."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlite_utils

ROOT = Path(__file__).resolve().parent.parent


def crawl(config: Path, db: Path, source: str, *, timeout: float = 120, extra: list[str] | None = None
          ) -> subprocess.CompletedProcess:
    """Crawl one source of `config` into `db` in a child process; the finished process."""
    cmd = [sys.executable, "-m", "crawler.run", "--source", source, "--config", str(config), "--db", str(db),
           "--log-level", "WARNING", *(extra or [])]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def crawl_all(config: Path, db: Path, sources: list[str]) -> dict[str, subprocess.CompletedProcess]:
    return {s: crawl(config, db, s) for s in sources}


def rows(db: Path, sql: str, params: list | tuple = ()) -> list[dict]:
    database = sqlite_utils.Database(db)
    try:
        return list(database.query(sql, params))
    finally:
        database.close()


def children(pid: int) -> list[int]:
    """The child processes of `pid` now (Linux /proc); none once it is gone."""
    try:
        return [int(c) for task in os.listdir(f"/proc/{pid}/task")
                for c in open(f"/proc/{pid}/task/{task}/children").read().split()]
    except OSError:
        return []
