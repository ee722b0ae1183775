"""Each source's health from the archive alone: last run, last success, failures in a row, documents,
whether it is overdue (no success within twice its schedule period) and whether it is failing (its last
FAILING_AFTER finished runs all failed).

Reads the `sources` table (schedule, timezone) and `runs`/`documents`, never config/sources.yaml, so it
tells what the scheduler actually did. `ok` and `partial` runs count as successes (the source was
crawled; a partial run's failed pages are in `fetches`); a run that archived no page is `failed`.
Every time shown carries its zone: UTC, written with a `Z`.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils

SUCCESS = ("ok", "partial")
OVERDUE_FACTOR = 2
FAILING_AFTER = 3  # failed runs in a row that make a source FAILING (`status --failures N`)
COUNT_FIELDS = ("new_documents", "new_revisions", "unchanged", "gone", "errors", "blocked")


@dataclass
class SourceStatus:
    """One row of `python -m archive status`."""

    source_id: str
    schedule: str | None
    timezone: str | None
    enabled: bool
    last_run: dict | None  # the newest runs row
    last_success: str | None  # finished_at (or started_at) of the newest ok/partial run
    consecutive_failures: int  # finished runs since the last success that did not succeed
    live: int
    gone: int
    overdue: bool
    overdue_reason: str | None = None
    failing: bool = False
    failing_reason: str | None = None


def source_statuses(db: sqlite_utils.Database, now: datetime | None = None,
                    failures: int = FAILING_AFTER) -> list[SourceStatus]:
    """The status of every source in the `sources` table, in id order; a source is failing after
    `failures` failed runs in a row."""
    now = now or datetime.now(UTC)
    docs: dict[str, dict[str, int]] = {}
    # a report listed by two sources is one of each one's documents (document_sources), not only of the
    # source that found it first
    for source_id, status, count in db.execute(
            "SELECT ds.source_id, d.status, count(*) FROM document_sources ds "
            "JOIN documents d ON d.id = ds.document_id GROUP BY ds.source_id, d.status").fetchall():
        docs.setdefault(source_id, {})[status] = count
    out = []
    for source in db.query("SELECT id, schedule, timezone, config, updated_at, active FROM sources ORDER BY id"):
        out.append(_status(source, _recent_runs(db, source["id"]), docs.get(source["id"], {}), now, failures))
    return out


def _recent_runs(db: sqlite_utils.Database, source_id: str) -> list[dict]:
    """The source's runs newest first, down to its last success (all of them when it never succeeded),
    read row by row: a source that succeeds costs a few rows however long its history."""
    runs = []
    for run in db.query("SELECT * FROM runs WHERE source_id = ? ORDER BY id DESC", [source_id]):
        runs.append(run)
        if run["status"] in SUCCESS:
            break
    return runs


def _status(source: dict, runs: list[dict], docs: dict[str, int], now: datetime,
            failures_limit: int = FAILING_AFTER) -> SourceStatus:
    """One source's status from its runs newest first (at least down to its last success)."""
    enabled = _enabled(source.get("config")) and source.get("active") != 0
    success = next((r for r in runs if r["status"] in SUCCESS), None)
    failures = 0
    for run in runs:
        if run["status"] in SUCCESS:
            break
        if run["status"] != "running":
            failures += 1
    last_success = (success["finished_at"] or success["started_at"]) if success else None
    overdue, reason = False, None
    period = _period(source.get("schedule"), source.get("timezone"))
    if enabled and period is not None:
        if last_success:
            since, what = last_success, "last success"
        elif runs:
            since, what = runs[-1]["started_at"], "never succeeded; first run"
        else:
            since, what = source.get("updated_at"), "never run; registered"
        if since and now - _parse(since) > OVERDUE_FACTOR * period:
            overdue = True
            reason = f"{what} {_ago(now - _parse(since))} ago, schedule {source['schedule']}"
    failing = enabled and failures >= failures_limit
    failing_reason = None
    if failing:
        last_failed = next(r for r in runs if r["status"] != "running")
        failing_reason = f"{failures} failed runs in a row; last: {last_failed.get('message') or last_failed['status']}"
    last_run = _zoned_run(runs[0]) if runs else None
    if last_run and last_run["status"] == "running":
        # a run whose crawl died with its scheduler stays `running` until a scheduler starts again: say so
        last_run["stale"] = not crawl_alive(last_run.get("pid"))
    return SourceStatus(
        source_id=source["id"], schedule=source.get("schedule"), timezone=source.get("timezone"), enabled=enabled,
        last_run=last_run, last_success=utc_z(last_success), consecutive_failures=failures,
        live=docs.get("live", 0), gone=docs.get("gone", 0), overdue=overdue, overdue_reason=reason,
        failing=failing, failing_reason=failing_reason)


def crawl_alive(pid: int | None) -> bool:
    """Whether `pid` is a live crawl (or scheduler) process on this machine; a recycled pid belonging to
    some other program is not."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return b"crawler" in cmdline or b"scrapy" in cmdline or b"scheduler" in cmdline


def utc_z(stamp: str | None) -> str | None:
    """An archive timestamp as UTC to the second with its zone written `Z`: 2026-11-22T07:26:08Z."""
    if not stamp:
        return None
    return _parse(stamp).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _zoned_run(run: dict) -> dict:
    return {**run, "started_at": utc_z(run.get("started_at")), "finished_at": utc_z(run.get("finished_at"))}


def _period(schedule: str | None, tz: str | None) -> timedelta | None:
    if not schedule:
        return None
    from crawler.sources import schedule_period

    try:
        return schedule_period(schedule, tz or "Asia/Shanghai")
    except (ValueError, KeyError):
        return None


def _enabled(config: str | None) -> bool:
    try:
        return bool(json.loads(config or "{}").get("enabled", True))
    except (ValueError, AttributeError):
        return True


def _parse(stamp: str) -> datetime:
    when = datetime.fromisoformat(stamp)
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _shown(stamp: str | None) -> str:
    return _parse(stamp).astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ") if stamp else "-"


def format_table(statuses: list[SourceStatus]) -> str:
    """A fixed-width table, one line per source (times in UTC, `Z`); overdue sources end with
    `OVERDUE (why)`, failing ones with `FAILING (why)`; a last run still `running` in the archive with no
    crawl process behind it is shown `stale`."""
    width = max([len(s.source_id) for s in statuses] + [6])
    head = (f"{'source':<{width}}  {'last run (UTC)':<17}  {'status':<11} {'new':>4} {'chg':>4} {'same':>4} "
            f"{'gone':>4} {'err':>4} {'blk':>4}  {'last success':<17}  {'fails':>5} {'live':>5} {'gone':>5}")
    lines = [head]
    for s in statuses:
        run = s.last_run or {}
        counts = {k: run.get(k) or 0 for k in COUNT_FIELDS}
        changed = counts["new_revisions"] - counts["new_documents"]
        status = run.get("status", "never run") if s.enabled else "disabled"
        if run.get("stale"):
            status = "stale"  # `running` in the archive, but no crawl process behind it
        line = (f"{s.source_id:<{width}}  {_shown(run.get('started_at')):<17}  {status:<11} "
                f"{counts['new_documents']:>4} {changed:>4} {counts['unchanged']:>4} {counts['gone']:>4} "
                f"{counts['errors']:>4} {counts['blocked']:>4}  {_shown(s.last_success):<17}  "
                f"{s.consecutive_failures:>5} {s.live:>5} {s.gone:>5}")
        if s.overdue:
            line += f"  OVERDUE ({s.overdue_reason})"
        if s.failing:
            line += f"  FAILING ({s.failing_reason})"
        lines.append(line)
    overdue = [s.source_id for s in statuses if s.overdue]
    failing = [s.source_id for s in statuses if s.failing]
    lines.append(f"{len(statuses)} source(s); "
                 + (f"{len(overdue)} overdue: {', '.join(overdue)}" if overdue else "none overdue") + "; "
                 + (f"{len(failing)} failing: {', '.join(failing)}" if failing else "none failing"))
    return "\n".join(lines)


def unhealthy(statuses: list[SourceStatus]) -> bool:
    """True when some source is overdue or failing (`status` then exits 1)."""
    return any(s.overdue or s.failing for s in statuses)


def as_json(statuses: list[SourceStatus]) -> str:
    """The same as the table, as a JSON list (times in UTC with `Z`, `overdue` and `failing` flags)."""
    return json.dumps([asdict(s) for s in statuses], ensure_ascii=False, indent=2)
