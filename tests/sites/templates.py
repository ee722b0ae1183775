"""Article pages with the template faults of real government sites, served by a FaultSite (tests/sites/faults.py).

    with FaultFarm(("tpl",)) as farm:
        site = farm.sites["tpl"]
        site.add_article("a")
        serve_template_fault(site, "a", "stray-html-in-header")

Evidence: issue 11 ("the current gov.cn template has one [a stray `</html>`] before the body"): a header
include written as a whole document closes `</body></html>` before the article, and libxml2 (lxml, hence
Scrapy's selectors too) drops or misplaces everything after it, while a browser keeps reading the body.
"""
from __future__ import annotations

from collections.abc import Callable

from .faults import FaultSite
from .server import Response, esc

HEAD = """<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<title>{title}_{site}</title>
<meta name="ArticleTitle" content="{title}">
<meta name="PubDate" content="{date} 09:30">
<meta name="ContentSource" content="{publisher}">
</head>
"""
# the header include, written as a page of its own (as CMS "碎片" often are)
HEADER_DOCUMENT = """<body><div class="header"><a href="/">首页</a> | <a href="/list/index.html">信息公开</a>
 | <a href="/wza/">无障碍</a></div></body>
</html>
"""
ARTICLE = """<div class="article">
<h1 class="title">{title}</h1>
<div class="info"><span>发布日期:{date}</span> <span>来源:{publisher}</span></div>
<div class="article-content" id="UCAP-CONTENT">
{paragraphs}
</div></div>
<div class="footer"><p>版权所有:{site}</p><p>网站标识码:4403990001 粤ICP备05012345号</p></div>
</body>
</html>
"""


def _fields(site: FaultSite, slug: str) -> dict[str, str]:
    spec = site.articles[slug]
    return {"title": esc(spec.title), "site": site.name, "date": spec.date, "publisher": esc(spec.publisher),
            "paragraphs": "\n".join(f"<p>{esc(p)}</p>" for p in spec.paragraphs)}


def stray_html_in_header(site: FaultSite, slug: str) -> str:
    """`<body>` opened and closed (`</body></html>`) by the header include; the article follows."""
    return (HEAD + HEADER_DOCUMENT + ARTICLE).format(**_fields(site, slug))


def stray_html_before_body(site: FaultSite, slug: str) -> str:
    """A lone `</html>` between `</head>` and the page's `<body>`."""
    return (HEAD + "</html>\n<body>\n" + ARTICLE).format(**_fields(site, slug))


def stray_body_end(site: FaultSite, slug: str) -> str:
    """`</body>` closed early by the navigation include (no `</html>`): lxml puts the rest outside body."""
    page = HEAD + '<body><div class="nav"><a href="/">首页</a></div></body>\n' + ARTICLE
    return page.format(**_fields(site, slug))


TEMPLATE_FAULTS: dict[str, Callable[[FaultSite, str], str]] = {
    "stray-html-in-header": stray_html_in_header,
    "stray-html-before-body": stray_html_before_body,
    "stray-body-end": stray_body_end,
}


def serve_stray_listing(site: FaultSite) -> None:
    """From now on the listing's header include closes the document before the list of reports."""
    def listing() -> Response:
        items = "\n".join(f'<li><a href="{site.article_path(slug)}">{esc(site.articles[slug].title)}</a>'
                          f'<span>{site.articles[slug].date}</span></li>' for slug in site.listed)
        head = HEAD.format(title="法治政府建设年度报告", site=site.name, date="", publisher="")
        page = f'{head}{HEADER_DOCUMENT}<ul class="list">\n{items}\n</ul>\n</body>\n</html>\n'
        return Response(200, page, "text/html; charset=utf-8")

    site.routes["/list/index.html"] = listing


def serve_template_fault(site: FaultSite, slug: str, fault: str) -> None:
    """From now on the article `slug` is served with the template fault `fault`."""
    make = TEMPLATE_FAULTS[fault]
    site.routes[site.article_path(slug)] = lambda: Response(200, make(site, slug), "text/html; charset=utf-8")
