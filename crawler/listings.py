"""Link discovery on listing pages: regex filters, TRS `createPageHTML` pagination, and the gkmlpt
catalogue platform (its `/gkmlpt/index` script shell and its JSON list API)."""
from __future__ import annotations

import json
import math
import re
from collections.abc import Container, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

from parsel import Selector
from w3lib.url import safe_url_string

NEXT_PAGE_TEXTS = ("下一页", "下页", "后一页")
CREATE_PAGE_RE = re.compile(
    r"createPageHTML\(\s*['\"]?(\d+)['\"]?\s*,\s*['\"]?(\d+)['\"]?\s*,\s*['\"]([\w.-]+)['\"]\s*,\s*['\"](\w+)['\"]"
)
SID_RE = re.compile(r"""\bSID\s*["']?\s*:\s*["']?(\w+)""")
DROPPED_QUERY = frozenset({"jump"})  # `?jump=true`: gkmlpt's "open in place" flag, not part of the document
CHINA_TZ = timezone(timedelta(hours=8))
UNKNOWN_PAGES = 10**6  # a catalogue whose API answer names no total: pages are read while they are full


@dataclass(frozen=True)
class Link:
    url: str
    text: str


def page_links(selector: Selector, base_url: str) -> list[Link]:
    """Every <a href> on a page as an absolute URL (fragments dropped) with its text. A href that is not a
    URL (an unfilled template placeholder such as `http://[#InfoURL#]/`) is skipped, not the page."""
    links = []
    # lxml's own walk, not `selector.css("a[href]")` and `a.css("::text")` per link: the same elements and
    # text nodes (comments and processing instructions left out), without a CSS translation and an XPath
    # evaluation per link (a cold listing page cost the revalidation stage ~15 ms)
    for a in selector.root.iter("a"):
        href = (a.get("href") or "").strip()
        if not href or href.startswith(("javascript:", "mailto:", "#")):
            continue
        try:
            url = canonical_url(urljoin(base_url, href))
        except ValueError:
            continue
        if urlsplit(url).scheme not in ("http", "https"):
            continue
        text = " ".join("".join(a.itertext()).split()) or a.get("title", "")
        links.append(Link(url, text))
    return links


def canonical_url(url: str) -> str:
    """The one URL a document is archived under: no `#fragment` (gkmlpt's API answers add `#<catalog>`),
    no `jump=true` (gkmlpt pages link `post_N.html?jump=true`), scheme and host lower-case, default port
    dropped; the rest of the query kept in its order and its bytes (a GBK `%D6%D0` stays as it is).
    Percent-escaped as Scrapy escapes a request's URL (`/年度报告.html` -> `/%E5%B9%B4…`), so the URL the
    spider asks, the one the archive stores and the one the next run's listing gives are one string.
    Idempotent. ValueError for a URL that cannot be split (`http://[#InfoURL#]/`)."""
    url = url.strip()
    try:
        url = safe_url_string(url)
    except ValueError:  # a bad port (`:abc`): dropped below, as the default port is
        pass
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = host if port is None or (scheme, port) in (("http", 80), ("https", 443)) else f"{host}:{port}"
    if parts.username or parts.password:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    pairs = parts.query.split("&") if parts.query else []
    query = "&".join(p for p in pairs if unquote(p.split("=", 1)[0]).lower() not in DROPPED_QUERY)
    return urlunsplit((scheme, netloc, parts.path or ("/" if netloc else ""), query, ""))


def on_hosts(url: str, hosts: Iterable[str] | None) -> bool:
    """Whether `url` is on one of `hosts` (or a subdomain of one, as Scrapy's offsite rule has it), whatever
    its scheme and port: http and https of a host are the same host."""
    hosts = [h.lower() for h in hosts or () if h]
    if not hosts:
        return True
    host = (urlsplit(url).hostname or "").lower()
    return any(host == h or host.endswith("." + h) for h in hosts)


def matches(url: str, patterns: Iterable[str]) -> bool:
    """Whether a pattern finds `url`, as given or percent-decoded (patterns name `/年度报告/`, canonical
    URLs carry `/%E5%B9%B4…/`)."""
    patterns = list(patterns)
    decoded = unquote(url, errors="replace")
    return any(re.search(p, url) or (decoded != url and re.search(p, decoded)) for p in patterns)


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


# `</body>` / `</html>` end tags, dropped before a listing is parsed: a header include that closes the document
# early must not hide the list (crawler.extract.text.neutralise_document_ends does the same for articles; not
# imported from there, which would load the extractor into the revalidation stage, crawler/revalidate.py)
DOCUMENT_END_RE = re.compile(r"</\s*(?:html|body)\s*>", re.I)


@dataclass(frozen=True)
class ListingPage:
    """What one HTML listing page links: its report links (the source's filters applied; hosts not checked),
    every further listing page (in page order), and all its links (for the next page)."""

    reports: list[Link]
    pages: list[str]
    links: list[Link]


def read_listing(html: str, url: str, article_urls: Iterable[str], title_filter: str | None,
                 listing_urls: Iterable[str]) -> ListingPage:
    """An HTML listing page's report links and further listing pages (the spider and the revalidation stage
    read a listing with this one function)."""
    selector = Selector(text=DOCUMENT_END_RE.sub("", html))
    links = page_links(selector, url)
    return ListingPage(article_links(links, article_urls, title_filter),
                       listing_links(selector, url, links, listing_urls), links)


def listing_is_known(reports: Iterable[str], known: Container[str]) -> bool:
    """Whether an HTML listing page holds nothing new: every report it links (on the source's hosts) is a
    document the archive has. A page that links no report holds nothing new either (as an empty gkmlpt
    page). Incremental paging stops at such a page, under the rule of `store.incremental_listing_allowed`."""
    return all(url in known for url in reports)


def next_listing_page(page: ListingPage, asked: Container[str]) -> str | None:
    """The page after this one, for incremental paging (pages read one after another): the first "下一页"
    link not yet asked, else the first listing page not yet asked (TRS `createPageHTML` lists them all)."""
    for link in page.links:
        if link.text.strip() in NEXT_PAGE_TEXTS and link.url in page.pages and link.url not in asked:
            return link.url
    return next((u for u in page.pages if u not in asked), None)


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
# Evidence (tests/real/SOURCES.md, "gkmlpt and source evidence"): the index shell carries `window._CONFIG =
# {SID: '…', TREE: […]}`; the list API is `<platform root>/gkmlpt/api/all/<catalog>?page=N&sid=SID`, where the
# platform root may be a department prefix (`http://www.szpsq.gov.cn/pskjcxfws/gkmlpt/…`); catalogue 0 lists
# every article of the site; answers hold up to 100 articles, newest first, with `classify.post_count` and
# `total`; page 0 repeats page 1.

def gkmlpt_config(html: str) -> dict[str, Any] | None:
    """The `window._CONFIG = {…}` object literal of a gkmlpt page, read by the tolerant JS reader."""
    from crawler.extract.jsobject import read_assigned  # here: the package would load the extractor

    return read_assigned(html, "window._CONFIG") if "_CONFIG" in html else None


def gkmlpt_sid(html: str) -> str | None:
    """The site id (`SID: '755041'`) from the `/gkmlpt/index` shell's `window._CONFIG`."""
    config = gkmlpt_config(html)
    if config and config.get("SID") not in (None, ""):
        return str(config["SID"]).strip()
    m = SID_RE.search(html)
    return m.group(1) if m else None


@dataclass(frozen=True)
class Catalog:
    id: str
    name: str
    post_count: int | None
    depth: int


def gkmlpt_tree(html: str) -> list[Catalog]:
    """The catalogue tree in `window._CONFIG.TREE`, depth first, each node with its post count."""
    config = gkmlpt_config(html) or {}
    found: list[Catalog] = []

    def walk(nodes: Any, depth: int) -> None:
        for node in nodes if isinstance(nodes, list) else []:
            if not isinstance(node, dict) or node.get("id") in (None, ""):
                continue
            found.append(Catalog(str(node["id"]), str(node.get("name") or "").strip(),
                                 _count(node.get("post_count", node.get("count"))), depth))
            walk(node.get("children"), depth + 1)

    walk(config.get("TREE"), 0)
    return found


def gkmlpt_catalogs(html: str) -> dict[str, str]:
    """The catalogue tree flattened to {id: name}."""
    return {c.id: c.name for c in gkmlpt_tree(html)}


def gkmlpt_find_catalog(html: str, catalog: str) -> str | None:
    """A catalogue's id from its id (`0` = every article) or name (exact name first, then a name that
    contains it)."""
    catalog = str(catalog).strip()
    if catalog.isdecimal():  # also full-width digits, as a Chinese input method types them: １１９３８
        return str(int(catalog))
    tree = gkmlpt_catalogs(html)
    for cid, name in tree.items():
        if name == catalog:
            return cid
    for cid, name in tree.items():
        if catalog and catalog in name:
            return cid
    return None


def gkmlpt_wanted_catalog(catalog: str | None, start_url: str) -> str:
    """The catalogue a source asks for: its `catalog`, else the `#<id>` of its start URL (the platform's
    index links a catalogue as `…/gkmlpt/index#721`)."""
    if catalog is not None and str(catalog).strip():
        return str(catalog).strip()
    fragment = urlsplit(start_url).fragment.strip()
    return str(int(fragment)) if fragment.isdecimal() else ""


def gkmlpt_root(url: str) -> str:
    """The platform's root for a page of it: `…/<dept>/gkmlpt/` for a department site, else `/gkmlpt/`."""
    parts = urlsplit(url)
    path = parts.path
    at = path.find("/gkmlpt/")
    if at < 0 and path.endswith("/gkmlpt"):
        at = len(path) - len("/gkmlpt")
    root = path[:at] + "/gkmlpt/" if at >= 0 else "/gkmlpt/"
    return urlunsplit((parts.scheme, parts.netloc, root, "", ""))


def gkmlpt_api_url(base_url: str, catalog_id: str, sid: str, page: int = 1) -> str:
    """The list API of catalogue `catalog_id` under the platform root of `base_url` (page 1 is the first;
    page 0 only repeats it)."""
    return gkmlpt_root(base_url) + f"api/all/{catalog_id}?page={max(page, 1)}&sid={sid}"


def gkmlpt_page_count(data: dict[str, Any], per_page: int | None = None) -> int:
    """Pages in a catalogue, from `total` (or `classify.post_count`) and the page size (`per_page`: the
    size of the first page, which is full; by default the size of this answer). An answer that names no
    total and fills its page may have more after it: UNKNOWN_PAGES (paging stops at a short page)."""
    articles = data.get("articles") or []
    total = _int(data.get("total")) or _int((data.get("classify") or {}).get("post_count"))
    per_page = max(per_page or len(articles), 1)
    if not total:
        return UNKNOWN_PAGES if len(articles) >= per_page and articles else 1
    return max(1, -(-total // per_page))


def gkmlpt_articles(data: dict[str, Any], base_url: str) -> Iterator[tuple[str, dict[str, str]]]:
    """(canonical article URL, hints) for each article of an API answer; hints carry the disclosure
    fields."""
    for art in data.get("articles") or []:
        if not isinstance(art, dict):
            continue
        url = art.get("url") or art.get("post_url")
        if not isinstance(url, str) or not url.strip():
            continue
        try:
            url = canonical_url(urljoin(base_url, url.strip()))
        except ValueError:  # not a URL: this article is skipped, not the page
            continue
        hints = {
            "title": art.get("title"),
            "publisher": art.get("publisher"),
            "published": _api_date(art),
            "identifier": art.get("identifier"),
            "document_number": art.get("document_number"),
        }
        yield url, {k: str(v).strip() for k, v in hints.items() if v}


def gkmlpt_report_links(data: dict[str, Any], base_url: str, article_urls: Iterable[str],
                        title_filter: str | None) -> list[tuple[str, dict[str, str]]]:
    """(URL, hints) of an API answer's articles that pass the source's `article_urls` and `title_filter`."""
    hints = dict(gkmlpt_articles(data, base_url))
    links = [Link(url, h.get("title", "")) for url, h in hints.items()]
    return [(link.url, hints[link.url]) for link in article_links(links, article_urls, title_filter)]


def gkmlpt_page_is_known(data: dict[str, Any], base_url: str, reports: Iterable[str],
                         known: dict[str, str | None], newest: str | None) -> bool:
    """Whether an API page holds only what the archive already has, so older pages need not be read.

    `reports` are the page's URLs that pass the source's filters; `known` maps every archived document of
    the source to its archived `published` date; `newest` is the latest of those dates. A report is known
    when it is archived and the API's date does not differ from the archived one; another article (one the
    filters skip) is known when it is dated no later than `newest` — it was listed when the archive last
    looked. With nothing archived yet, nothing is known."""
    wanted = set(reports)
    articles = list(gkmlpt_articles(data, base_url))
    if not articles:
        return True
    if not known:
        return False
    for url, hints in articles:
        date = hints.get("published")
        if url in wanted:
            if url not in known or (date and known[url] and date != known[url]):
                return False
        elif not date or not newest or date > newest:
            return False
    return True


def parse_json(text: str) -> dict[str, Any]:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError("gkmlpt API answer is not a JSON object")
    return data


def _int(value: Any) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def _count(value: Any) -> int | None:
    """A post count as the tree gives it (a number or a numeric string), else None."""
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return int(value)
    return None


def _api_date(art: dict[str, Any]) -> str | None:
    """An article's date from the API: epoch seconds, epoch milliseconds, or an ISO-like string."""
    for key in ("display_publish_time", "first_publish_time", "publish_time", "date", "created_at"):
        value = art.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            seconds = value / 1000 if value > 10**11 else value  # past the year 5138 in seconds: milliseconds
            try:
                return datetime.fromtimestamp(seconds, CHINA_TZ).date().isoformat()
            except (OverflowError, ValueError, OSError):
                continue
        if isinstance(value, str) and re.match(r"\d{4}-\d{2}-\d{2}", value):
            return value[:10]
    return None
