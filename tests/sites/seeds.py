"""Seed texts -> clean expected report bodies, plus a deterministic variator for synthetic reports.

The seeds (tests/sites/seeds/*.txt) are "copy all text" scrapes of real pages: body plus chrome. Each
spec below says where the report body starts and ends in that text; everything outside is chrome.
"""
from __future__ import annotations

import re
import zlib
from functools import cache
from pathlib import Path

SEED_DIR = Path(__file__).parent / "seeds"

# seed id -> (file, first body line starts with, first chrome line after the body, broken-line joins)
SEED_SPECS: dict[str, tuple[str, str, str, tuple[tuple[str, str], ...]]] = {
    "000": ("000_6416096977825b04.txt", "深圳新闻网2025年1月26日讯", "手机扫一扫打开当前页面",
            (("调", "解工作法"),)),
    "001": ("001_07d4dcfd653868a1.txt", "2024年,南山区人民政府", "扫一扫在手机打开当前页", ()),
    "002": ("002_0067b16095feaf24.txt", "2023年,光明区坚持", "分享到:", ()),
    "003": ("003_a29cea2c45b3fff2.txt", "2023年,市高新区", "扫一扫在手机打开当前页", ()),
    "004": ("004_20bb1b1a7c308f36.txt", "2024年,在区委", "触碰右侧展开", ()),
}

YEAR_RE = re.compile(r"(?<!\d)(20[0-3]\d)(?!\d)")
NUMBER_RE = re.compile(r"(?<![\d.])(\d{2,})(?![\d.%])")


@cache
def seed_body(seed_id: str) -> tuple[str, ...]:
    """The report paragraphs of one seed: no title/date/chrome, leading (full-width) spaces stripped."""
    name, start, end, joins = SEED_SPECS[seed_id]
    lines = [line.strip() for line in (SEED_DIR / name).read_text(encoding="utf-8").splitlines()]
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    last = next(i for i in range(first, len(lines)) if lines[i] == end)
    paragraphs: list[str] = []
    for line in lines[first:last]:
        if not line:
            continue
        if paragraphs and any(paragraphs[-1].endswith(a) and line.startswith(b) for a, b in joins):
            paragraphs[-1] += line
        else:
            paragraphs.append(line)
    return tuple(paragraphs)


def _bump(match: re.Match[str], salt: str) -> str:
    n = int(match.group(1))
    if 1990 <= n <= 2039:  # a year: left to the year shift
        return match.group(1)
    step = zlib.crc32(f"{salt}:{n}".encode()) % max(3, n // 6) + 1
    return str(n + step)


def vary(paragraphs: tuple[str, ...] | list[str], *, salt: str, year_shift: int = 0,
         replace: dict[str, str] | None = None, drop_every: int = 0) -> list[str]:
    """A plausible sibling report: years shifted, figures nudged, names replaced, some paragraphs dropped.

    Deterministic (crc32 of salt), so expected bodies are stable across runs.
    """
    out: list[str] = []
    for i, para in enumerate(paragraphs):
        if drop_every and i and i % drop_every == 0:
            continue
        text = NUMBER_RE.sub(lambda m: _bump(m, salt), para)
        if year_shift:
            text = YEAR_RE.sub(lambda m: str(int(m.group(1)) + year_shift), text)
        for old, new in (replace or {}).items():
            text = text.replace(old, new)
        out.append(text)
    return out
