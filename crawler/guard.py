"""Judge a response before anything is extracted: ok / not-found / blocked / error, and settle its
encoding. A response that is not a real report page never reaches the archive as text."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from scrapy.http import Response

NOT_FOUND_STATUSES = {404, 410}
BLOCKED_STATUSES = {403, 412, 418, 429, 521}
SOFT_404_MARKERS = ("页面不存在", "您访问的页面不存在", "已被删除", "找不到该页面", "Page Not Found", "404 Not Found")
CHALLENGE_MARKERS = ("$_ts", "__jsl_clearance", "__jsluid", "acw_sc__v2", "访问被拦截", "访问过于频繁",
                     "请开启JavaScript", "验证码", "captcha")
GB_ALIASES = {"gb2312", "gbk", "gb18030", "x-gbk", "cp936", "gb_2312-80", "euc-cn"}
META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?([\w-]+)""", re.I)


@dataclass(frozen=True)
class Verdict:
    kind: str  # "ok" | "not-found" | "blocked" | "error"
    reason: str = ""
    text: str = ""
    encoding: str = ""


def decode_body(body: bytes, declared: str | None) -> tuple[str, str] | None:
    """Decode HTML bytes without replacement characters, or None when no candidate decodes cleanly.

    Strict UTF-8 comes first (it almost never validates by accident), then the declared charset (GB
    names widened to GB18030), then GB18030, then charset-normalizer's guess."""
    candidates = ["utf-8"]
    for label in (declared, _meta_charset(body)):
        if label:
            label = label.lower()
            candidates.append("gb18030" if label in GB_ALIASES else label)
    candidates.append("gb18030")
    for enc in dict.fromkeys(candidates):
        try:
            return body.decode(enc), enc
        except (UnicodeDecodeError, LookupError):
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    if best is not None and "\ufffd" not in str(best):
        return str(best), best.encoding
    return None


def _meta_charset(body: bytes) -> str | None:
    m = META_CHARSET_RE.search(body[:4096])
    return m.group(1).decode("ascii", "ignore") if m else None


def _header_charset(response: Response) -> str | None:
    ctype = response.headers.get(b"Content-Type", b"").decode("latin-1")
    m = re.search(r"charset=([\w-]+)", ctype, re.I)
    return m.group(1) if m else None


def judge(response: Response, requested_url: str | None = None) -> Verdict:
    """The verdict on an article response."""
    status = response.status
    if status in NOT_FOUND_STATUSES:
        return Verdict("not-found", f"HTTP {status}")
    body = response.body or b""
    decoded = decode_body(body, _header_charset(response)) if body else ("", "utf-8")
    text, encoding = decoded if decoded else ("", "")
    head = text[:6000]
    if status in BLOCKED_STATUSES or (len(text) < 6000 and any(m in head for m in CHALLENGE_MARKERS)):
        return Verdict("blocked", f"HTTP {status}: anti-bot or challenge page")
    if status >= 400:
        return Verdict("error", f"HTTP {status}")
    if decoded is None:
        return Verdict("error", "body could not be decoded without replacement characters")
    if not text.strip():
        return Verdict("error", "empty body")
    if requested_url and _redirected_home(requested_url, response.url):
        return Verdict("not-found", f"redirected to {response.url}")
    if _is_soft_404(text):
        return Verdict("not-found", "soft 404 page")
    return Verdict("ok", text=text, encoding=encoding)


def _redirected_home(requested: str, final: str) -> bool:
    if requested == final:
        return False
    path = urlsplit(final).path
    return path in ("", "/") or bool(re.search(r"/(index|default)\.s?html?$", path) and "/content/" not in path)


def _is_soft_404(html: str) -> bool:
    """A 200 page that says it does not exist: a marker in its <title>, or on a page with little text."""
    m = re.search(r"<title[^>]*>(.*?)</title>", html, re.I | re.S)
    if m and (any(k in m.group(1) for k in SOFT_404_MARKERS) or re.search(r"\b404\b", m.group(1))):
        return True
    visible = re.sub(r"<script.*?</script>|<style.*?</style>|<[^>]+>|\s+", "", html, flags=re.S | re.I)
    return len(visible) < 1500 and any(k in visible for k in SOFT_404_MARKERS)
