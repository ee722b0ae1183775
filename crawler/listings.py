"""Link discovery on listing pages: regex filters, TRS `createPageHTML` pagination, and the gkmlpt
catalogue platform (its `/gkmlpt/index` script shell and its JSON list API)."""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from parsel import Selector

NEXT_PAGE_TEXTS = ("下一页", "下页", "后一页")
CREATE_PAGE_RE = re.compile(
    r"createPageHTML\(\s*['\"]?(\d+)['\"]?\s*,\s*['\"]?(\d+)['\"]?\s*,\s*['\"]([\w.-]+)['\"]\s*,\s*['\"](\w+)['\"]"
)
SID_RE = re.compile(r"""\bSID\s*["']?\s*:\s*["']?(\w+)""")
NODE_RE = re.compile(
    r"""["']?\bid["']?\s*:\s*["']?(\d+)["']?\s*,\s*["']?name["']?\s*:\s*["']((?:[^"'\\]|\\.)*)["']"""
)
CHINA_TZ = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class Link:
    url: str
    text: str


def page_links(selector: Selector, base_url: str) -> list[Link]:
    """Every <a href> on a page as an absolute URL (fragments dropped) with its text."""
    links = []
    for a in selector.css("a[href]"):
        href = (a.attrib.get("href") or "").strip()
        if not href or href.startswith(("javascript:", "mailto:", "#")):
            continue
        url = urljoin(base_url, href)
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            continue
        text = " ".join("".join(a.css("::text").getall()).split()) or a.attrib.get("title", "")
        links.append(Link(urlunsplit(parts._replace(fragment="")), text))
    return links


def matches(url: str, patterns: Iterable[str]) -> bool:
    return any(re.search(p, url) for p in patterns)


def article_links(links: list[Link], article_urls: Iterable[str], title_filter: str | None) -> list[Link]:
    """Links to report pages: URL matches an `article_urls` regex (any URL when there are none) and text
    matches `title_filter`."""
    patterns = list(article_urls)
    found, seen = [], set()
    for link in links:
        if link.url in seen or (patterns and not matches(link.url, patterns)):
            continue
        if title_filter and not re.search(title_filter, link.text):
            continue
        seen.add(link.url)
        found.append(link)
    return found


def listing_links(selector: Selector, base_url: str, links: list[Link], listing_urls: Iterable[str]) -> list[str]:
    """Further listing pages: regex matches, '下一页' links, and script-only createPageHTML pages."""
    patterns = list(listing_urls)
    urls = [link.url for link in links if (patterns and matches(link.url, patterns))
            or link.text.strip() in NEXT_PAGE_TEXTS]
    urls.extend(create_page_urls(selector.get(), base_url))
    return list(dict.fromkeys(u for u in urls if u != base_url))


def create_page_urls(html: str, base_url: str) -> list[str]:
    """Pages named by TRS-CMS's `createPageHTML(count, current, "index", "html")` pagination script."""
    urls = []
    for m in CREATE_PAGE_RE.finditer(html):
        count, prefix, ext = int(m.group(1)), m.group(3), m.group(4)
        for i in range(min(count, 1000)):
            name = f"{prefix}.{ext}" if i == 0 else f"{prefix}_{i}.{ext}"
            urls.append(urljoin(base_url, name))
    return urls


# --- gkmlpt (政府信息公开目录管理平台) -----------------------------------------------------------

def gkmlpt_sid(html: str) -> str | None:
    """The site id (`SID: '755041'`) from the `/gkmlpt/index` shell's `window._CONFIG`."""
    m = SID_RE.search(html)
    return m.group(1) if m else None


def gkmlpt_catalogs(html: str) -> dict[str, str]:
    """The catalogue tree in `window._CONFIG.TREE`, flattened to {id: name}."""
    start = html.find("TREE")
    return {m.group(1): _unescape_js(m.group(2)) for m in NODE_RE.finditer(html, max(start, 0))}


def gkmlpt_find_catalog(html: str, catalog: str) -> str | None:
    """A catalogue's id from its id or name (exact name first, then a name that contains it)."""
    tree = gkmlpt_catalogs(html)
    if catalog.isdigit():
        return catalog
    for cid, name in tree.items():
        if name == catalog:
            return cid
    for cid, name in tree.items():
        if catalog in name:
            return cid
    return None


def gkmlpt_api_url(base_url: str, catalog_id: str, sid: str, page: int = 1) -> str:
    return urljoin(base_url, f"/gkmlpt/api/all/{catalog_id}?page={page}&sid={sid}")


def gkmlpt_page_count(data: dict[str, Any]) -> int:
    """Pages in a catalogue, from `classify.post_count` and the page size of this answer."""
    articles = data.get("articles") or []
    total = int((data.get("classify") or {}).get("post_count") or data.get("total") or len(articles))
    per_page = max(len(articles), 1)
    return max(1, -(-total // per_page))


def gkmlpt_articles(data: dict[str, Any], base_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(article URL, hints) for each article of an API answer; hints carry the disclosure fields."""
    for art in data.get("articles") or []:
        url = art.get("url")
        if not url:
            continue
        hints = {
            "title": art.get("title"),
            "publisher": art.get("publisher"),
            "published": _api_date(art),
            "identifier": art.get("identifier"),
            "document_number": art.get("document_number"),
        }
        yield urljoin(base_url, url), {k: str(v).strip() for k, v in hints.items() if v}


def gkmlpt_report_links(data: dict[str, Any], base_url: str, article_urls: Iterable[str],
                        title_filter: str | None) -> list[tuple[str, dict[str, str]]]:
    """(URL, hints) of an API answer's articles that pass the source's `article_urls` and `title_filter`."""
    hints = dict(gkmlpt_articles(data, base_url))
    links = [Link(url, h.get("title", "")) for url, h in hints.items()]
    return [(link.url, hints[link.url]) for link in article_links(links, article_urls, title_filter)]


def parse_json(text: str) -> dict[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("gkmlpt API answer is not a JSON object")
    return data


def _api_date(art: dict[str, Any]) -> str | None:
    for key in ("display_publish_time", "first_publish_time", "publish_time", "date", "created_at"):
        value = art.get(key)
        if isinstance(value, (int, float)) and value > 0:
            return datetime.fromtimestamp(value, CHINA_TZ).date().isoformat()
        if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
            return value[:10]
    return None


def _unescape_js(s: str) -> str:
    try:
        return json.loads(f'"{s}"')
    except ValueError:
        return s
