"""Judge a response before anything is extracted: ok / not-found / blocked / error, and settle its
encoding. A response that is not a real report page never reaches the archive as text.

The rules (status codes, soft-404 and challenge markers, size limits, binary signatures) are data in
config/guard.yaml; this module only applies them.
"""
from __future__ import annotations

import codecs
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import yaml

if TYPE_CHECKING:  # duck-typed: crawler/revalidate.py judges its answers without loading Scrapy
    from scrapy.http import Response

RULES_PATH = Path(__file__).resolve().parent.parent / "config" / "guard.yaml"
GB_ALIASES = {"gb2312", "gbk", "gb18030", "x-gbk", "cp936", "gb_2312-80", "gb_2312", "euc-cn", "csgb2312",
              "chinese", "iso-ir-58", "x-euc-cn", "windows-936", "ms936", "936"}
META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.I)
XML_DECL_RE = re.compile(rb"""^\s*<\?xml[^>]+encoding\s*=\s*["']([\w.:-]+)""", re.I)
# markup a reader does not see (whitespace goes after it, by str.split: the same characters as re's \s)
INVISIBLE_RE = re.compile(r"<(script|style|noscript|template)\b.*?</\1\s*>|<!--.*?-->|<[^>]*>|&[#\w]+;",
                          re.S | re.I)
# bytes that do not occur in text: control characters other than tab, line feeds, vertical tab, form feed, CR
CONTROL_BYTES = bytes(b for b in range(32) if b < 9 or 13 < b < 32)
TITLE_RE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


class GuardConfigError(ValueError):
    """config/guard.yaml is missing or malformed; the message is one line naming file and key."""


@dataclass(frozen=True)
class GuardRules:
    not_found_statuses: frozenset[int]
    soft_404_markers: tuple[str, ...]
    soft_404_max_visible: int
    bare_404_max_visible: int
    home_paths: tuple[re.Pattern, ...]
    error_paths: tuple[re.Pattern, ...]
    blocked_statuses: frozenset[int]
    script_markers: tuple[str, ...]
    script_max_visible: int
    text_markers: tuple[str, ...]
    text_max_visible: int
    cookie_scripts: tuple[re.Pattern, ...]
    cookie_script_max_visible: int
    challenge_cookies: tuple[str, ...]
    scan_chars: int
    max_page_bytes: int
    max_bad_bytes: int
    max_bad_byte_share: float
    binary_signatures: tuple[tuple[bytes, str], ...]
    binary_control_share: float


@dataclass(frozen=True)
class Verdict:
    kind: str  # "ok" | "not-found" | "blocked" | "error"
    reason: str = ""
    text: str = ""
    encoding: str = ""


# --- rules ------------------------------------------------------------------------------------------

def load_rules(path: str | os.PathLike | None = None) -> GuardRules:
    """Read and check config/guard.yaml (or `path`, or $ZWGK_GUARD_RULES); GuardConfigError if bad."""
    return _load_rules(str(path or os.environ.get("ZWGK_GUARD_RULES") or RULES_PATH))


@lru_cache(maxsize=4)
def _load_rules(path: str) -> GuardRules:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GuardConfigError(f"{path}: guard rules file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise GuardConfigError(f"{path}: not valid YAML: {' '.join(str(e).split())}") from None
    if not isinstance(raw, dict):
        raise GuardConfigError(f"{path}: expected a mapping")

    def section(name: str) -> dict:
        value = raw.get(name)
        if not isinstance(value, dict):
            raise GuardConfigError(f"{path}: '{name}' must be a mapping")
        return value

    def get(sec: str, key: str, kind: type):
        value = section(sec).get(key) if sec else raw.get(key)
        where = f"{sec}.{key}" if sec else key
        if kind is list:
            if not isinstance(value, list) or not value:
                raise GuardConfigError(f"{path}: '{where}' must be a non-empty list")
            return value
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or isinstance(value, bool) or value < 0:
            raise GuardConfigError(f"{path}: '{where}' must be a non-negative {kind.__name__}")
        return value

    def patterns(sec: str, key: str) -> tuple[re.Pattern, ...]:
        out = []
        for p in get(sec, key, list):
            try:
                out.append(re.compile(str(p), re.I))
            except re.error as e:
                raise GuardConfigError(f"{path}: '{sec}.{key}': bad regular expression {p!r}: {e}") from None
        return tuple(out)

    def statuses(sec: str) -> frozenset[int]:
        values = get(sec, "statuses", list)
        if not all(isinstance(v, int) and 100 <= v <= 599 for v in values):
            raise GuardConfigError(f"{path}: '{sec}.statuses' must list HTTP status codes")
        return frozenset(values)

    signatures = raw.get("binary_signatures")
    if not isinstance(signatures, dict) or not signatures:
        raise GuardConfigError(f"{path}: 'binary_signatures' must map leading bytes to a file kind")
    return GuardRules(
        not_found_statuses=statuses("not_found"),
        soft_404_markers=tuple(map(str, get("not_found", "markers", list))),
        soft_404_max_visible=get("not_found", "max_visible_chars", int),
        bare_404_max_visible=get("not_found", "bare_404_max_visible_chars", int),
        home_paths=patterns("not_found", "home_path_patterns"),
        error_paths=patterns("not_found", "error_path_patterns"),
        blocked_statuses=statuses("blocked"),
        script_markers=tuple(map(str, get("blocked", "script_markers", list))),
        script_max_visible=get("blocked", "script_max_visible_chars", int),
        text_markers=tuple(map(str, get("blocked", "text_markers", list))),
        text_max_visible=get("blocked", "text_max_visible_chars", int),
        cookie_scripts=patterns("blocked", "cookie_script_patterns"),
        cookie_script_max_visible=get("blocked", "cookie_script_max_visible_chars", int),
        challenge_cookies=tuple(map(str, get("blocked", "challenge_cookies", list))),
        scan_chars=get("blocked", "scan_chars", int),
        max_page_bytes=get("limits", "max_page_bytes", int),
        max_bad_bytes=get("limits", "max_bad_bytes", int),
        max_bad_byte_share=get("limits", "max_bad_byte_share", float),
        binary_signatures=tuple((str(k).encode("latin-1"), str(v)) for k, v in signatures.items()),
        binary_control_share=get("", "binary_control_share", float),
    )


# --- encodings --------------------------------------------------------------------------------------

def decode_body(body: bytes, declared: str | None, rules: GuardRules | None = None) -> tuple[str, str] | None:
    """Decode HTML bytes without replacement characters: (text, encoding), or None when impossible.

    Strict UTF-8 comes first (it almost never validates by accident, so a UTF-8 page labelled GB2312 is
    read right), then the labels (header, <meta>, <?xml?>; GB names widened to GB18030, so a GBK page
    labelled UTF-8 or nothing is read right too), then GB18030, then charset-normalizer's guess. Only
    if none decodes cleanly may a page with a few broken bytes (as CMSs produce when they cut text
    mid-character) be read with those bytes dropped; they are never stored as U+FFFD."""
    rules = rules or load_rules()
    if body.startswith(codecs.BOM_UTF8):
        body = body[len(codecs.BOM_UTF8):]
    candidates = ["utf-8"]
    for label in (declared, _meta_charset(body)):
        if label:
            name = _codec(label)
            if name:
                candidates.append(name)
    candidates.append("gb18030")
    candidates = list(dict.fromkeys(candidates))
    for enc in candidates:
        try:
            return body.decode(enc), enc
        except UnicodeDecodeError:
            continue
    from charset_normalizer import from_bytes

    best = from_bytes(body).best()
    if best is not None and best.encoding and _codec(best.encoding) not in candidates:
        text = str(best)
        if "\ufffd" not in text and _plausible(text):
            return text, best.encoding
    allowed = min(rules.max_bad_bytes, int(len(body) * rules.max_bad_byte_share) + 1)
    for enc in candidates:
        bad = body.decode(enc, errors="replace").count("\ufffd")
        if bad <= allowed:
            return body.decode(enc, errors="ignore"), enc
    return None


def _codec(label: str) -> str | None:
    label = label.strip().lower()
    if label in GB_ALIASES:
        return "gb18030"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _plausible(text: str) -> bool:
    """Text a Chinese page could be: not mostly Latin-1 accents and box-drawing noise."""
    sample = text[:20000]
    odd = sum(1 for ch in sample if 0x80 <= ord(ch) < 0x3000 and not ch.isspace())
    return odd <= len(sample) * 0.02


def _meta_charset(body: bytes) -> str | None:
    head = body[:4096]
    m = META_CHARSET_RE.search(head) or XML_DECL_RE.search(head)
    return m.group(1).decode("ascii", "ignore") if m else None


def _header_charset(response: Response) -> str | None:
    ctype = response.headers.get(b"Content-Type", b"").decode("latin-1")
    m = re.search(r"charset\s*=\s*[\"']?([\w.:-]+)", ctype, re.I)
    return m.group(1) if m else None


# --- judging ----------------------------------------------------------------------------------------

def visible_text(html: str) -> str:
    """The text a reader would see, without scripts, styles, comments, tags and whitespace."""
    return "".join(INVISIBLE_RE.sub("", html).split())  # a whitespace run is never where markup starts


def binary_kind(body: bytes, rules: GuardRules | None = None) -> str | None:
    """What binary file a body is (e.g. 'PDF'), or None when it looks like text."""
    rules = rules or load_rules()
    head = body.lstrip()[:16]
    for magic, kind in rules.binary_signatures:
        if head.startswith(magic):
            return kind
    sample = body[:1024]
    control = len(sample) - len(sample.translate(None, CONTROL_BYTES))
    return "binary data" if sample and control > len(sample) * rules.binary_control_share else None


def challenge(status: int, text: str, set_cookies: list[str] | tuple[str, ...] = (),
              rules: GuardRules | None = None, shown: str | None = None) -> str | None:
    """Why a response is an anti-bot / WAF challenge (or rate limit) rather than a page; None if not.
    `shown` is visible_text(text) when the caller has it already."""
    rules = rules or load_rules()
    if status in rules.blocked_statuses:
        return f"HTTP {status}"
    for cookie in set_cookies:
        name = cookie.split("=", 1)[0].strip()
        if name in rules.challenge_cookies:
            return f"challenge cookie {name}"
    head = text[:rules.scan_chars]
    if len(text) >= 400_000:
        visible = rules.script_max_visible + 1
    else:
        visible = len(visible_text(text) if shown is None else shown)
    if visible < rules.script_max_visible:
        marker = next((m for m in rules.script_markers if m in head), None)
        if marker:
            return f"anti-bot script {marker}"
    if visible < rules.text_max_visible:
        marker = next((m for m in rules.text_markers if m in head), None)
        if marker:
            return f"challenge page ({marker})"
    if visible < rules.cookie_script_max_visible and any(p.search(head) for p in rules.cookie_scripts):
        return "almost empty page that sets a cookie by script"
    return None


def judge(response: Response, requested_url: str | None = None, rules: GuardRules | None = None,
          memo: dict | None = None) -> Verdict:
    """The verdict on a response; `requested_url` is the URL asked for when redirects were followed.

    With `memo` (the request's meta), a response judged once — by ChallengeMiddleware, then by the
    spider — is not decoded and scanned twice."""
    if requested_url == response.url:
        requested_url = None
    key = (id(response), response.url, response.status, len(response.body or b""), requested_url)
    if memo is not None and memo.get(MEMO_KEY, (None,))[0] == key:
        return memo[MEMO_KEY][1]
    verdict = _judge(response, requested_url, rules or load_rules())
    if memo is not None:
        memo[MEMO_KEY] = (key, verdict)
    return verdict


def _judge(response: Response, requested_url: str | None, rules: GuardRules) -> Verdict:
    status = response.status
    body = response.body or b""
    if status in rules.not_found_statuses:
        return Verdict("not-found", f"HTTP {status}")
    if len(body) > rules.max_page_bytes:
        return Verdict("error", f"page of {len(body)} bytes is over the {rules.max_page_bytes}-byte limit")
    if 300 <= status < 400:  # a redirect that was not followed: off-host, or too many hops
        return _unfollowed_redirect(response, rules)
    binary = binary_kind(body, rules) if body else None
    decoded = decode_body(body, _header_charset(response), rules) if body and not binary else None
    text, encoding = decoded if decoded else ("", "")
    cookies = [c.decode("latin-1") for c in response.headers.getlist(b"Set-Cookie")]
    shown = visible_text(text) if len(text) < 400_000 else ""  # one pass, for challenge and soft 404
    why = challenge(status, text, cookies, rules, shown)
    if why:
        return Verdict("blocked", f"{why}: anti-bot or challenge page")
    if status >= 400:
        return Verdict("error", f"HTTP {status}")
    if binary:
        return Verdict("error", f"{binary} served as {_content_type(response) or 'no type'}")
    if not body.strip():
        return Verdict("error", "empty body")
    if decoded is None:
        return Verdict("error", "body could not be decoded in any candidate encoding without losing text")
    if not text.strip():
        return Verdict("error", "empty body")
    if requested_url and requested_url != response.url and _dead_end(response.url, rules):
        return Verdict("not-found", f"redirected to {response.url}")
    if is_soft_404(text, rules, shown):
        return Verdict("not-found", "soft 404: a page saying it does not exist")
    return Verdict("ok", text=text, encoding=encoding)


MEMO_KEY = "zwgk_verdict"


def _unfollowed_redirect(response: Response, rules: GuardRules) -> Verdict:
    location = response.headers.get(b"Location", b"").decode("latin-1")
    target = response.urljoin(location) if location else ""
    if target and _dead_end(target, rules):
        return Verdict("not-found", f"HTTP {response.status} redirect to {target} (home or error page)")
    return Verdict("error", f"HTTP {response.status} redirect to {target or 'nowhere'} not followed "
                            "(off-host or too many hops)")


def _content_type(response: Response) -> str:
    return response.headers.get(b"Content-Type", b"").decode("latin-1").split(";")[0].strip()


def _dead_end(url: str, rules: GuardRules) -> bool:
    """A URL that is a site's home page or an error page, where sites send articles that are gone."""
    path = urlsplit(url).path
    return any(p.search(path) for p in rules.home_paths) or any(p.search(path) for p in rules.error_paths)


def is_soft_404(html: str, rules: GuardRules | None = None, shown: str | None = None) -> bool:
    """A 200 page that says it does not exist: a marker in its <title>, or on a page with little text.
    `shown` is visible_text(html) when the caller has it already."""
    rules = rules or load_rules()
    m = TITLE_RE.search(html[:rules.scan_chars * 4])
    title = m.group(1) if m else ""
    if any(k in title for k in rules.soft_404_markers):
        return True
    visible = (visible_text(html) if shown is None else shown) if len(html) < 400_000 else ""
    if not visible or len(visible) >= rules.soft_404_max_visible:
        return False
    if re.search(r"(?<![\d.])404(?![\d.号期家个条])", title):  # "404" in the title of a page with little text
        return True
    if any(k in visible for k in rules.soft_404_markers):
        return True
    return len(visible) < rules.bare_404_max_visible and bool(re.search(r"(?<![\d.])404(?![\d.])", visible))
