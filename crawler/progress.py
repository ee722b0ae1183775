"""Live progress of `scheduler.py --once` on a terminal: one row per source (pages done / queued, new,
changed, errors, rate), drawn with rich. Off a terminal the crawl runner logs a progress line every 30 s
instead (crawler/jobs.py)."""
from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.live import Live
from rich.table import Table

from crawler.jobs import CrawlOutcome

COLUMNS = ("source", "state", "done", "queued", "new", "changed", "errors", "pages/s")


class LiveProgress:
    """A rich Live table fed by CrawlRunner's `on_progress` and by each finished CrawlOutcome."""

    def __init__(self, source_ids: list[str], out: TextIO) -> None:
        self.rows: dict[str, dict] = {sid: {"state": "waiting"} for sid in source_ids}
        self.live = Live(self.table(), console=Console(file=out), refresh_per_second=4, transient=False)

    def __enter__(self) -> LiveProgress:
        self.live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.update(self.table(), refresh=True)
        self.live.stop()

    def update(self, source_id: str, snapshot: dict) -> None:
        """A running crawl's latest figures (crawler.pipelines.ArchivePipeline.progress)."""
        self.rows[source_id] = {**snapshot, "state": "crawling"}
        self.live.update(self.table())

    def finished(self, outcome: CrawlOutcome) -> None:
        r = outcome.row
        self.rows[outcome.source_id] = {**self.rows.get(outcome.source_id, {}), **r, "state": outcome.status,
                                        "changed": (r.get("new_revisions") or 0) - (r.get("new_documents") or 0),
                                        "queued": 0}
        self.live.update(self.table())

    def table(self) -> Table:
        table = Table(*COLUMNS, title="zwgk-archive: crawling")
        for source_id, r in self.rows.items():
            figures = [str(r.get(k) or 0) for k in ("pages_fetched", "queued", "new_documents", "changed")]
            errors = (r.get("errors") or 0) + (r.get("blocked") or 0)
            rate = f"{r['rate']:.1f}" if r.get("rate") is not None else "-"
            table.add_row(source_id, r["state"], *figures, str(errors), rate)
        return table
