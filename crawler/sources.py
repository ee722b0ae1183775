"""Load and validate config/sources.yaml into Source objects.

A bad file raises ConfigError with one line naming the file, the source id and the field, so nothing
runs on a half-understood config.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

# APScheduler (the schedules' parser) is imported when a schedule is parsed: a crawl (crawler/run.py) reads
# its source without parsing schedules, and an unchanged recrawl's start-up is a good part of its time.

DEFAULT_CONFIG = "config/sources.yaml"
DEFAULT_SCHEDULE = "0 6 * * *"
DEFAULT_TIMEZONE = "Asia/Shanghai"
LISTING_KINDS = ("html", "gkmlpt")
ID_RE = re.compile(r"^[a-z0-9-]+$")
HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")
INTERVAL_RE = re.compile(r"^every\s+(\d+)\s*(s|sec|secs|seconds?|m|min|mins|minutes?|h|hours?|d|days?)$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}

SOURCE_KEYS = {
    "id", "name", "district", "start_urls", "article_urls", "listing_urls", "title_filter", "schedule",
    "timezone", "settings", "listing", "sid", "catalog", "prune", "enabled", "notify", "attachment_hosts",
}
# public_url: where the archive is served (`archive serve --public-url`), for absolute links in notifications
DEFAULT_KEYS = (SOURCE_KEYS - {"id", "name", "start_urls"}) | {"public_url"}


class ConfigError(ValueError):
    """A config file that cannot be used; the message is one line naming what is wrong."""


@dataclass(frozen=True)
class Source:
    """One configured disclosure column."""

    id: str
    name: str
    district: str
    start_urls: tuple[str, ...]
    article_urls: tuple[str, ...] = ()
    listing_urls: tuple[str, ...] = ()
    title_filter: str | None = None
    schedule: str = DEFAULT_SCHEDULE
    timezone: str = DEFAULT_TIMEZONE
    settings: dict[str, Any] = field(default_factory=dict)
    listing: str = "html"
    sid: str | None = None
    catalog: str | None = None
    prune: tuple[str, ...] = ()
    enabled: bool = True
    notify: tuple[str, ...] = ()  # Apprise URLs (archive.notify); never stored in the archive
    public_url: str | None = None
    attachment_hosts: tuple[str, ...] = ()  # hosts besides start_urls' whose attachments are fetched

    def as_row(self) -> dict[str, Any]:
        """The source as a `sources` table row (lists and dicts as JSON)."""
        import json

        return {
            "id": self.id, "name": self.name, "district": self.district, "listing": self.listing,
            "start_urls": json.dumps(list(self.start_urls), ensure_ascii=False),
            "schedule": self.schedule, "timezone": self.timezone,
            "config": json.dumps(self.config_dict(), ensure_ascii=False),
        }

    def config_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        # notify URLs carry tokens and passwords: they stay in the config file, out of the archive
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items() if k != "notify"}

    def trigger(self, jitter: int | None = None):
        """The APScheduler trigger for this source's schedule."""
        return parse_schedule(self.schedule, self.timezone, jitter=jitter)

    def period(self) -> timedelta:
        """The longest gap between two scheduled runs (for overdue checks)."""
        return schedule_period(self.schedule, self.timezone)


@dataclass(frozen=True)
class Config:
    path: Path
    sources: dict[str, Source]

    def get(self, source_id: str) -> Source:
        try:
            return self.sources[source_id]
        except KeyError:
            known = ", ".join(self.sources) or "none"
            raise ConfigError(f"{self.path}: no source with id '{source_id}' (known: {known})") from None


def parse_schedule(expr: str, tz: str = DEFAULT_TIMEZONE, jitter: int | None = None):
    """A 5-field cron expression or 'every N(s|m|h|d)' as an APScheduler 3 trigger; ValueError if bad."""
    expr = str(expr).strip()
    m = INTERVAL_RE.match(expr)
    if m:
        from apscheduler.triggers.interval import IntervalTrigger

        seconds = int(m.group(1)) * UNIT_SECONDS[m.group(2)[0]]
        if seconds <= 0:
            raise ValueError("interval must be positive")
        return IntervalTrigger(seconds=seconds, timezone=ZoneInfo(tz), jitter=jitter)
    if len(expr.split()) != 5:
        raise ValueError(f"'{expr}' is neither a 5-field cron expression nor 'every N[s|m|h|d]'")
    from apscheduler.triggers.cron import CronTrigger

    return CronTrigger.from_crontab(expr, timezone=ZoneInfo(tz))


def schedule_period(expr: str, tz: str = DEFAULT_TIMEZONE) -> timedelta:
    """The longest interval between consecutive fire times over the next few weeks."""
    from apscheduler.triggers.interval import IntervalTrigger

    trigger = parse_schedule(expr, tz)
    if isinstance(trigger, IntervalTrigger):
        return trigger.interval
    from datetime import datetime

    now = datetime.now(ZoneInfo(tz))
    prev, longest = None, timedelta(0)
    t = trigger.get_next_fire_time(None, now)
    for _ in range(60):
        if t is None:
            break
        if prev is not None:
            longest = max(longest, t - prev)
        prev, t = t, trigger.get_next_fire_time(t, t + timedelta(seconds=1))
    return longest or timedelta(days=1)


def load_config(path: str | Path = DEFAULT_CONFIG, *, schedules: bool = True) -> Config:
    """Read and validate a sources file; raise ConfigError naming file, source and field. With
    `schedules=False` the schedules are not parsed (a crawl of a source never reads its schedule; the
    scheduler, which does, loads the file with them)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        problem = str(e).replace("\n", " ")
        raise ConfigError(f"{path}: not valid YAML: {problem}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("sources"), list):
        raise ConfigError(f"{path}: expected a mapping with a 'sources' list")
    unknown = set(raw) - {"defaults", "sources"}
    if unknown:
        raise ConfigError(f"{path}: unknown top-level key '{sorted(unknown)[0]}'")
    defaults = raw.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise ConfigError(f"{path}: 'defaults' must be a mapping")
    for key in defaults:
        if key not in DEFAULT_KEYS:
            raise ConfigError(f"{path}: defaults: unknown key '{key}'")
    public_url = defaults.get("public_url")
    if public_url is not None and (not isinstance(public_url, str) or not re.match(r"^https?://[^/\s]+", public_url)):
        raise ConfigError(f"{path}: defaults: field 'public_url': not an http(s) URL: {public_url!r}")
    sources: dict[str, Source] = {}
    for i, entry in enumerate(raw["sources"]):
        source = _build_source(path, i, entry, defaults, schedules)
        if source.id in sources:
            raise ConfigError(f"{path}: source '{source.id}': field 'id': duplicate id")
        sources[source.id] = source
    return Config(path=path, sources=sources)


def _build_source(path: Path, index: int, entry: Any, defaults: dict, schedules: bool = True) -> Source:
    label = f"{path}: source #{index + 1}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{label}: expected a mapping")
    sid = entry.get("id")
    if not isinstance(sid, str) or not ID_RE.match(sid):
        raise ConfigError(f"{label}: field 'id': missing or not matching [a-z0-9-]+ (got {sid!r})")
    label = f"{path}: source '{sid}'"

    def fail(fieldname: str, problem: str) -> ConfigError:
        return ConfigError(f"{label}: field '{fieldname}': {problem}")

    for key in entry:
        if key not in SOURCE_KEYS:
            raise fail(key, "unknown key")
    merged = {**defaults, **entry}
    merged["settings"] = {**(defaults.get("settings") or {}), **(entry.get("settings") or {})}

    start_urls = merged.get("start_urls")
    if isinstance(start_urls, str):
        start_urls = [start_urls]
    if not start_urls or not isinstance(start_urls, list):
        raise fail("start_urls", "missing or empty")
    for url in start_urls:
        if not isinstance(url, str) or not re.match(r"^https?://[^/\s]+", url):
            raise fail("start_urls", f"not an http(s) URL: {url!r}")
    for key in ("name", "district"):
        if not isinstance(merged.get(key), str) or not merged[key].strip():
            raise fail(key, "missing or empty")
    listing = merged.get("listing", "html")
    if listing not in LISTING_KINDS:
        raise fail("listing", f"must be one of {', '.join(LISTING_KINDS)} (got {listing!r})")
    catalog_given = str(merged.get("catalog") if merged.get("catalog") is not None else "").strip() != ""
    in_urls = all(re.search(r"#\d+$", u) for u in start_urls)
    if listing == "gkmlpt" and not catalog_given and not in_urls:
        raise fail("catalog", "required for listing: gkmlpt (a catalogue id, 0 for every article, or a name; "
                              "or start URLs ending in #<catalogue id>)")
    if listing == "html" and not merged.get("article_urls"):
        raise fail("article_urls", "missing or empty")

    patterns: dict[str, tuple[str, ...]] = {}
    for key in ("article_urls", "listing_urls"):
        value = merged.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise fail(key, "must be a list of regular expressions")
        for pattern in value:
            _check_regex(fail, key, pattern)
        patterns[key] = tuple(value)
    title_filter = merged.get("title_filter")
    if title_filter is not None:
        _check_regex(fail, "title_filter", title_filter)
    elif listing == "gkmlpt" and str(merged.get("catalog")).strip() == "0":
        raise fail("title_filter", "required with catalog 0 (catalogue 0 lists every article of the site)")

    tz = merged.get("timezone", DEFAULT_TIMEZONE)
    try:
        ZoneInfo(str(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise fail("timezone", f"unknown time zone {tz!r}") from None
    schedule = str(merged.get("schedule", DEFAULT_SCHEDULE))
    try:
        if schedules:
            parse_schedule(schedule, str(tz))
    except ValueError as e:
        raise fail("schedule", str(e).replace("\n", " ")) from None

    settings = merged["settings"]
    if not isinstance(settings, dict) or not all(
        isinstance(k, str) and re.match(r"^[A-Z][A-Z0-9_]*$", k) for k in settings
    ):
        raise fail("settings", "must map Scrapy setting names (UPPER_CASE) to values")
    prune = merged.get("prune") or []
    if isinstance(prune, str):
        prune = [prune]
    if not isinstance(prune, list) or not all(isinstance(p, str) for p in prune):
        raise fail("prune", "must be a list of CSS selectors or XPath expressions")
    hosts = merged.get("attachment_hosts") or []
    if isinstance(hosts, str):
        hosts = [hosts]
    if not isinstance(hosts, list) or not all(isinstance(h, str) and HOST_RE.match(h) for h in hosts):
        raise fail("attachment_hosts", f"must be a list of host names like files.example.gov.cn (got {hosts!r})")
    catalog = merged.get("catalog")
    notify = _check_notify(fail, merged.get("notify"))
    return Source(
        id=sid, name=merged["name"].strip(), district=merged["district"].strip(),
        start_urls=tuple(start_urls), article_urls=patterns["article_urls"],
        listing_urls=patterns["listing_urls"], title_filter=title_filter, schedule=schedule,
        timezone=str(tz), settings=dict(settings), listing=listing,
        sid=str(merged["sid"]) if merged.get("sid") is not None else None,
        catalog=str(catalog) if catalog is not None else None, prune=tuple(prune),
        enabled=bool(merged.get("enabled", True)), notify=notify, attachment_hosts=tuple(h.lower() for h in hosts),
        public_url=str(merged["public_url"]).rstrip("/") if merged.get("public_url") else None,
    )


def _check_notify(fail, value: Any) -> tuple[str, ...]:
    """The `notify` list (a source's replaces the default's; [] silences): each URL must parse as an
    Apprise URL of a known service (Apprise's own parser)."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(u, str) for u in value):
        raise fail("notify", "must be a list of Apprise URLs")
    from archive.notify import valid_url

    for url in value:
        if not valid_url(url):
            # named, but without its password: this line goes to logs (and a crawl's last line to runs.message)
            shown = re.sub(r"(//[^/@:]*:)[^/@]*@", r"\1****@", url)
            raise fail("notify", f"not a valid Apprise URL: {shown!r}")
    return tuple(value)


def _check_regex(fail, key: str, pattern: Any) -> None:
    if not isinstance(pattern, str):
        raise fail(key, f"not a string: {pattern!r}")
    try:
        re.compile(pattern)
    except re.error as e:
        raise fail(key, f"bad regular expression {pattern!r}: {e}") from None
