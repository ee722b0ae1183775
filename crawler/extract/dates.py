"""Dates on Chinese government pages: parse them ourselves, htmldate only as a last resort.

htmldate turns "2024年02月22日" into 2024-01-01 (its patterns lack 年/月/日), so labelled dates and metas are
parsed here; `fallback_date` asks htmldate only when the page carries no date we can read.
"""
from __future__ import annotations

import re
from datetime import date

# 2024-02-20 15:19:40 · 2024年02月22日 · 2024年 02月 22日 · 2024/2/22 · 2024.02.22 · 20240222
DATE_RE = re.compile(
    r"(?<!\d)((?:19|20)\d{2})\s*(?:年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日?|[-/.]\s*(\d{1,2})\s*[-/.]\s*(\d{1,2}))(?!\d)"
)
COMPACT_RE = re.compile(r"(?<!\d)((?:19|20)\d{2})(\d{2})(\d{2})(?!\d)")


def _valid(year: int, month: int, day: int) -> str | None:
    try:
        value = date(year, month, day)
    except ValueError:
        return None
    return value.isoformat() if 1990 <= year <= 2100 else None


def parse_date(text: str | None) -> str | None:
    """The first date in `text` as YYYY-MM-DD, or None; accepts the usual Chinese and ISO forms."""
    if not text:
        return None
    for match in DATE_RE.finditer(text):
        year, m1, d1, m2, d2 = match.groups()
        found = _valid(int(year), int(m1 or m2), int(d1 or d2))
        if found:
            return found
    match = COMPACT_RE.search(text)
    if match:
        return _valid(*(int(g) for g in match.groups()))
    return None


def parse_epoch_or_date(value: object) -> str | None:
    """A date from an API field: a Unix timestamp (s or ms) or a date string."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.strip().isdigit()
                                             and len(value.strip()) in (10, 13)):
        from datetime import datetime, timedelta, timezone

        seconds = float(value)
        if seconds > 1e11:
            seconds /= 1000
        try:
            moment = datetime.fromtimestamp(seconds, timezone(timedelta(hours=8)))  # China Standard Time
        except (OverflowError, OSError, ValueError):
            return None
        return _valid(moment.year, moment.month, moment.day)
    return parse_date(str(value)) if value else None


def labelled_date(text: str, labels: tuple[str, ...]) -> str | None:
    """The date after the most preferred label ("发布时间：2024-02-20") found in `text`."""
    for label in labels:
        pattern = re.compile(rf"{re.escape(label)}\s*[:：]?\s*(.{{0,40}})")
        if len(label) <= 2:  # short labels ("时间", "日期") only when directly followed by a colon
            pattern = re.compile(rf"(?<![文成生供新效止始束议动期]){re.escape(label)}\s*[:：]\s*(.{{0,40}})")
        for match in pattern.finditer(text):
            value = match.group(1).lstrip(" \u3000\xa0[【(（")
            if DATE_RE.match(value) or COMPACT_RE.match(value):
                found = parse_date(value[:32])
                if found:
                    return found
    return None


def fallback_date(tree) -> str | None:
    """htmldate's guess for a page with no readable labelled or meta date (original date preferred)."""
    try:
        from htmldate import find_date

        found = find_date(tree, original_date=True, extensive_search=False, outputformat="%Y-%m-%d")
    except Exception:  # noqa: BLE001 (htmldate raises on odd trees; a missing date is not an error)
        return None
    return found or None


def dateline(lines: str, title: str, window: int = 6) -> str | None:
    """An unlabelled date under the headline: the first date in the few lines after the title heading
    (news pages print "2025-01-26 09:13" there, while a top bar may show today's date)."""
    compact_title = re.sub(r"\s+", "", title or "")
    if len(compact_title) < 4:
        return None
    rows = [" ".join(row.split()) for row in lines.splitlines()]
    rows = [row for row in rows if row]
    for i, row in enumerate(rows):
        if row.replace(" ", "") == compact_title:
            for follower in rows[i + 1:i + 1 + window]:
                found = parse_date(follower) if len(follower) <= 100 else None
                if found:
                    return found
            return None
    return None
