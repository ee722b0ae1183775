"""ReplicaFarm: start the replica sites, switch their state, and say what a crawler should find."""
from __future__ import annotations

import importlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import yaml

from .corpus import CHANGES, SiteChanges, body_text
from .server import ReplicaSite


@dataclass(frozen=True)
class ExpectedArticle:
    """One article as the archive should hold it (absolute URLs on the running farm)."""

    site: str
    url: str
    title: str
    published: str  # YYYY-MM-DD
    publisher: str
    report_year: int | None
    body: str  # one paragraph per line; table rows as cells joined by " | "
    attachments: tuple[tuple[str, str], ...]  # (link text, absolute URL)
    is_report: bool = True


SITE_CLASSES = {"trs": "TrsSite", "cms": "CmsSite", "news": "NewsSite", "gkmlpt": "GkmlptSite"}


def _site_class(key: str) -> type[ReplicaSite]:
    module = importlib.import_module(f"{__package__}.{key}")
    return getattr(module, SITE_CLASSES[key])


class ReplicaFarm:
    """A set of replica government sites on 127.0.0.1, all in one switchable state (1 or 2)."""

    def __init__(self, sites: tuple[str, ...] = ("trs", "cms", "news", "gkmlpt")) -> None:
        unknown = [s for s in sites if s not in SITE_CLASSES]
        if unknown:
            raise ValueError(f"unknown replica site(s) {unknown}; choose from {sorted(SITE_CLASSES)}")
        self.state = 1
        self.requests: list[tuple[str, str, int]] = []  # (site, path with query, status)
        self._lock = threading.Lock()
        self.sites: dict[str, ReplicaSite] = {key: _site_class(key)(self) for key in sites}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> Self:
        for site in self.sites.values():
            site.start()
        return self

    def stop(self) -> None:
        for site in self.sites.values():
            site.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def set_state(self, state: int) -> None:
        """Switch every site to state 1 (original) or 2 (one edit, one withdrawal, one new report)."""
        if state not in (1, 2):
            raise ValueError(f"replica state must be 1 or 2, not {state!r}")
        self.state = state

    def log_request(self, site: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((site, path, status))

    # ------------------------------------------------------------------ expectations
    @property
    def changes(self) -> dict[str, SiteChanges]:
        """Per site, the site-relative paths edited/withdrawn/new in state 2 and the edit details."""
        return {key: CHANGES[key] for key in self.sites}

    def change_urls(self, kind: str) -> set[str]:
        """Absolute URLs of one kind of change ('edited', 'withdrawn' or 'new') across the farm."""
        return {site.url(getattr(CHANGES[key], kind)) for key, site in self.sites.items()}

    def expected(self, state: int, include_non_reports: bool = False) -> list[ExpectedArticle]:
        """Articles live in `state`. By default only those the sources.yaml title_filter keeps."""
        out = []
        for key, site in self.sites.items():
            for article in site.live(state):
                if not include_non_reports and not re.search(site.title_filter, article.title):
                    continue
                out.append(ExpectedArticle(
                    key, site.url(article.path), article.title, article.date, article.publisher,
                    article.report_year, body_text(article.blocks),
                    tuple((name, site.url(path)) for name, path in article.attachments), article.is_report))
        return out

    def article_pages(self, state: int) -> list[tuple[str, str, ExpectedArticle]]:
        """Every article page (reports and others) as served in `state`: (url, html, expected)."""
        expected = {e.url: e for e in self.expected(state, include_non_reports=True)}
        out = []
        for site in self.sites.values():
            for article in site.live(state):
                url = site.url(article.path)
                out.append((url, site.article_html(article, state), expected[url]))
        return out

    def fetched(self, site: str, path_prefix: str = "/") -> list[tuple[str, int]]:
        """(path, status) of requests served by `site` whose path starts with `path_prefix`."""
        with self._lock:
            return [(p, s) for k, p, s in self.requests if k == site and p.startswith(path_prefix)]

    # ------------------------------------------------------------------ config
    def source_entries(self) -> list[dict[str, Any]]:
        return [site.source_entry() for site in self.sites.values()]

    def sources_yaml(self, path: str | Path, defaults: dict[str, Any] | None = None,
                     **overrides: Any) -> Path:
        """Write a sources.yaml for the running sites; `overrides` go into every source (None drops a key)."""
        config_defaults: dict[str, Any] = {
            "schedule": "every 6h", "timezone": "Asia/Shanghai",
            "settings": {"DOWNLOAD_DELAY": 0, "AUTOTHROTTLE_ENABLED": False}}
        config_defaults.update(defaults or {})
        sources = []
        for entry in self.source_entries():
            entry.update(overrides)
            sources.append({k: v for k, v in entry.items() if v is not None})
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump({"defaults": config_defaults, "sources": sources},
                                       allow_unicode=True, sort_keys=False), encoding="utf-8")
        return path
