"""What the spider hands to the pipelines: a judged page, or a failure that must not become a revision."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class PageItem:
    """A report page that passed the guard, with its raw bytes and decoded text."""

    url: str
    http_status: int
    html: str
    body: bytes
    encoding: str
    headers: dict[str, str]
    fetched_at: str
    hints: dict[str, Any] = field(default_factory=dict)
    page: Any = None  # crawler.extract.Page, set by ExtractPipeline


@dataclass
class FailureItem:
    """A fetch that produced no page: error, blocked, not-found (gone), or suspect."""

    url: str
    outcome: str  # "error" | "blocked" | "not-found"
    fetched_at: str
    http_status: int | None = None
    error: str | None = None
