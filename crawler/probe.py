"""`python scheduler.py --probe ID`: what a crawl of one source would follow, and one extracted sample.

Plain urllib (no Scrapy, no archive): fetch the start pages, list the listing pages and article links the
source's patterns select, extract the first article. Writes nothing; for checking a new or changed source.
"""
from __future__ import annotations

import http.client
import urllib.error
import urllib.request
import urllib.robotparser
from dataclasses import dataclass
from typing import TextIO
from urllib.parse import urlsplit

from parsel import Selector

from crawler import listings
from crawler.extract.text import neutralise_document_ends
from crawler.guard import decode_body
from crawler.settings import USER_AGENT
from crawler.sources import Source

FETCH_TIMEOUT = 30
MAX_LISTING_PAGES = 5  # listing pages the probe itself reads (a crawl reads up to ZWGK_MAX_LISTING_PAGES)
SHOW_LINKS = 20


@dataclass
class Fetched:
    url: str
    status: int | None
    text: str | None
    error: str | None = None
    unreachable: bool = False  # the network failed (no HTTP answer at all)


def fetch(url: str) -> Fetched:
    """GET a page and decode it like the crawler's guard does; errors become `error`, never raise."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:
            body, status, ctype = response.read(), response.status, response.headers.get_content_charset()
    except urllib.error.HTTPError as e:
        return Fetched(url, e.code, None, f"HTTP {e.code}")
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as e:
        # HTTPException: a connection cut mid-body (IncompleteRead) or a server not speaking HTTP
        reason = getattr(e, "reason", None) or f"{type(e).__name__}: {e}".rstrip(": ")
        return Fetched(url, None, None, f"cannot reach {url}: {reason}", unreachable=True)
    decoded = decode_body(body, ctype)
    if decoded is None:
        return Fetched(url, status, None, "body could not be decoded")
    return Fetched(url, status, decoded[0])


def robots_allow(url: str, cache: dict[str, urllib.robotparser.RobotFileParser]) -> bool:
    """Whether the site's robots.txt lets the crawler fetch `url` (as Scrapy's ROBOTSTXT_OBEY would)."""
    parts = urlsplit(url)
    root = f"{parts.scheme}://{parts.netloc}"
    if root not in cache:
        parser = urllib.robotparser.RobotFileParser()
        robots = fetch(root + "/robots.txt")
        parser.parse((robots.text or "").splitlines() if robots.status == 200 else [])
        cache[root] = parser
    return cache[root].can_fetch(USER_AGENT, url)


def probe(source: Source, out: TextIO) -> int:
    """Print what a crawl of `source` would follow and one extracted article; 0 when a sample was extracted."""
    print(f"source {source.id}: {source.name} ({source.district}), listing: {source.listing}", file=out)
    unreachable: list[str] = []
    if source.listing == "gkmlpt":
        articles = _gkmlpt_articles(source, out, unreachable)
    else:
        articles = _html_articles(source, out, unreachable)
    print(f"article links: {len(articles)}", file=out)
    for url, text in articles[:SHOW_LINKS]:
        print(f"  {url}  {text}", file=out)
    if len(articles) > SHOW_LINKS:
        print(f"  … and {len(articles) - SHOW_LINKS} more", file=out)
    if not articles and unreachable:
        for error in unreachable:
            print(error, file=out)
        print("the network failed: nothing could be checked", file=out)
        return 1
    if not articles:
        print("no article links found: check start_urls, article_urls and title_filter", file=out)
        return 1
    return _sample(source, articles[0], out)


def _html_articles(source: Source, out: TextIO, unreachable: list[str]) -> list[tuple[str, str]]:
    queue, seen, articles = list(source.start_urls), set(), {}
    pending: list[str] = []
    robots: dict[str, urllib.robotparser.RobotFileParser] = {}
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        if not robots_allow(url, robots):
            print(f"listing page {url}: disallowed by robots.txt, a crawl skips it", file=out)
            seen.add(url)
            continue
        if len(seen) >= MAX_LISTING_PAGES:
            pending.append(url)
            continue
        seen.add(url)
        page = fetch(url)
        if page.text is None:
            print(f"listing page {url}: {page.error}", file=out)
            if page.unreachable:
                unreachable.append(page.error or f"cannot reach {url}")
            continue
        selector = Selector(text=neutralise_document_ends(page.text))
        links = listings.page_links(selector, url)
        found = listings.article_links(links, source.article_urls, source.title_filter)
        more = listings.listing_links(selector, url, links, source.listing_urls)
        print(f"listing page {url}: HTTP {page.status}, {len(found)} article link(s), "
              f"{len(more)} further listing page(s)", file=out)
        for link in found:
            articles.setdefault(link.url, link.text)
        queue.extend(u for u in more if u not in seen)
    pending = list(dict.fromkeys(u for u in pending if u not in seen))
    if pending:
        print(f"further listing pages a crawl would follow (not read by the probe): {len(pending)}", file=out)
        for url in pending[:SHOW_LINKS]:
            print(f"  {url}", file=out)
    return list(articles.items())


def _gkmlpt_articles(source: Source, out: TextIO, unreachable: list[str]) -> list[tuple[str, str]]:
    articles: dict[str, str] = {}
    for start in source.start_urls:
        index = fetch(start)
        if index.text is None:
            print(f"gkmlpt index {start}: {index.error}", file=out)
            if index.unreachable:
                unreachable.append(index.error or f"cannot reach {start}")
            continue
        sid = source.sid or listings.gkmlpt_sid(index.text)
        wanted = listings.gkmlpt_wanted_catalog(source.catalog, start)
        catalog = listings.gkmlpt_find_catalog(index.text, wanted)
        print(f"gkmlpt index {start}: HTTP {index.status}, SID {sid or 'not found'}, "
              f"catalogue {wanted!r} -> {catalog or 'not found'}", file=out)
        print_tree(listings.gkmlpt_tree(index.text), out)
        if not sid or not catalog:
            continue
        api = listings.gkmlpt_api_url(start, catalog, sid, 1)
        answer = fetch(api)
        if answer.unreachable:
            print(f"listing API {api}: {answer.error}", file=out)
            unreachable.append(answer.error or f"cannot reach {api}")
            continue
        try:
            data = listings.parse_json(answer.text or "")
        except ValueError as e:
            print(f"listing API {api}: {answer.error or f'not JSON ({e})'}", file=out)
            continue
        pages = listings.gkmlpt_page_count(data)
        shown = "an unknown number of" if pages >= listings.UNKNOWN_PAGES else str(pages)
        print(f"listing API {api}: HTTP {answer.status}, {shown} page(s) of articles", file=out)
        for url, hints in listings.gkmlpt_report_links(data, api, source.article_urls, source.title_filter):
            articles.setdefault(url, hints.get("title", ""))
    return list(articles.items())


def print_tree(tree: list[listings.Catalog], out: TextIO) -> None:
    """The site's catalogue tree, one catalogue a line (id, name, post count), so a user can choose
    `catalog` (an id, a name, or 0 for every article)."""
    if not tree:
        print("  catalogue tree: none found in window._CONFIG.TREE", file=out)
        return
    print("  catalogue tree (id  name  posts; catalog: 0 reads every article):", file=out)
    for node in tree:
        count = "?" if node.post_count is None else str(node.post_count)
        print(f"  {'  ' * node.depth}{node.id}  {node.name}  {count}", file=out)


def _sample(source: Source, article: tuple[str, str], out: TextIO) -> int:
    from crawler.extract import extract_page

    url = article[0]
    page = fetch(url)
    if page.text is None:
        print(f"sample {url}: {page.error}", file=out)
        return 1
    try:
        extracted = extract_page(page.text, url, site_name=source.name, prune=source.prune)
    except ValueError as e:
        print(f"sample {url}: extraction failed: {e}", file=out)
        return 1
    text = extracted.text
    print(f"sample article {url}", file=out)
    print(f"  title:       {extracted.title}", file=out)
    print(f"  published:   {extracted.published}", file=out)
    print(f"  publisher:   {extracted.publisher}", file=out)
    print(f"  report year: {extracted.report_year}", file=out)
    print(f"  attachments: {len(extracted.attachments)}", file=out)
    print(f"  text:        {len(text)} characters; it begins:", file=out)
    for line in text.splitlines()[:6]:
        print(f"    {line[:120]}", file=out)
    return 0 if text.strip() else 1
