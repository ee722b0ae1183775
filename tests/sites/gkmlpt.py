"""Guangdong "gkmlpt" replica (深圳市光明区人民政府): script shell + JSON API + DETAIL-in-script articles.

Built as the platform is deployed (evidence in tests/real/SOURCES.md, "gkmlpt and source evidence"): the
page's config is one object literal, ``window._CONFIG = {SID: '755041', …, DETAIL: {…}, TREE: […]}``, with
unquoted keys, single-quoted strings and the article's HTML JSON-escaped (``\u003Cp\u003E``); the list API
answers newest first with `classify.post_count` and `total`, gives article URLs with a ``#<catalog>``
fragment, repeats page 1 as page 0 and accepts catalogue 0 for every article; pages link their neighbours
as ``post_N.html?jump=true``. `GkmlptDeptSite` serves the same platform under a department prefix
(``/<dept>/gkmlpt/index``, API ``/<dept>/gkmlpt/api/all/<catalog>``) with the real page size of 100.
"""
from __future__ import annotations

import json
import math
import re
from datetime import datetime
from string import Template
from typing import Any, ClassVar

from .corpus import GK_CATALOG, Article
from .server import SHANGHAI, Chrome, ReplicaSite, Request, Response, blocks_html, esc

SID = "755041"
PER_PAGE = 10
TREE = [
    {"id": 11930, "name": "机构职能", "parent": 0, "children": []},
    {"id": 11934, "name": "规划计划", "parent": 0, "children": [
        {"id": 11936, "name": "发展规划", "parent": 11934, "children": []},
        {"id": 11937, "name": "计划总结", "parent": 11934, "children": [
            {"id": GK_CATALOG, "name": "法治政府建设年度报告", "parent": 11937, "children": []}]},
    ]},
    {"id": 11940, "name": "通知公告", "parent": 0, "children": []},
]

SHELL = Template("""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>$title</title>
<link rel="stylesheet" href="/gkmlpt/static/css/app.css?t=$nonce">
<script>
window._CONFIG = {SID: '$sid', SITE_NAME: '深圳市光明区人民政府', APP_URL: '$app_url',$detail
  TREE: $tree, API_BASE: '$app_url/gkmlpt/api'};
</script>
</head>
<body>
<div class="gk-header"><div class="gk-w"><img src="/gkmlpt/static/img/logo.png" alt="深圳市光明区人民政府">
  <span class="gk-site">深圳市光明区人民政府</span><span class="gk-today">$today</span></div></div>
<div class="gk-nav"><div class="gk-w"><a href="/">首页</a><a href="$app_url/gkmlpt/index">政府信息公开</a><a href="$app_url/gkmlpt/policy">政策文件</a><a href="$app_url/gkmlpt/mindex">信息公开目录</a></div></div>
<div class="gk-w gk-crumb">当前位置:<a href="/">首页</a> &gt; <a href="$app_url/gkmlpt/index">政府信息公开</a>$crumb_tail</div>
<div id="app" class="gk-w"><div class="gk-loading">正在加载,请稍候……</div>$neighbours</div>
<noscript>您的浏览器不支持或已禁用JavaScript,请启用后访问。</noscript>
<div class="gk-footer"><div class="gk-w">
  <p>主办单位:深圳市光明区人民政府办公室 &nbsp; 网站标识码:4403110001 &nbsp; 粤ICP备2020091580号</p>
  <p>访问量:<span>$count</span> &nbsp; 技术支持:广东省政务服务和数据管理局</p>
</div></div>
<script src="/gkmlpt/static/js/manifest.js"></script>
<script src="/gkmlpt/static/js/app.js?t=$nonce"></script>
</body>
</html>
""")


def _ts(published: str) -> int:
    return int(datetime.strptime(published, "%Y-%m-%d %H:%M:%S").replace(tzinfo=SHANGHAI).timestamp())


def script_json(value: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(value, ensure_ascii=False).replace("</", "<\\/")


def escaped_json(value: Any) -> str:
    """JSON as the platform writes it into the page: ASCII only, `<`, `>` and `&` as \\u escapes, `/` as `\\/`."""
    text = json.dumps(value, ensure_ascii=True).replace("/", "\\/")
    return text.replace("<", "\\u003C").replace(">", "\\u003E").replace("&", "\\u0026")


class GkmlptSite(ReplicaSite):
    """深圳市光明区人民政府 on the gkmlpt platform; catalogue 11938 holds the reports."""

    key = "gkmlpt"
    name = "深圳市光明区人民政府"
    district = "光明区"
    start_path = "/gkmlpt/index"
    article_urls = ("/gkmlpt/content/",)
    extra_source: ClassVar[dict[str, str]] = {"listing": "gkmlpt", "catalog": "法治政府建设年度报告"}
    prefix = ""  # a department's platform lives under /<dept>/gkmlpt/
    per_page = PER_PAGE
    # index of an article the API lists twice, the second time with another catalogue fragment (`#0` and
    # `#11938`: the duplicate entries the red team of issue 11 saw); None: none
    duplicate: int | None = None

    def url(self, path: str) -> str:
        return self.base_url + self.prefix + path

    def _attachment(self, path: str, state: int) -> Response | None:
        inner = self._inner(path)
        return None if inner is None else super()._attachment(inner, state)

    def _inner(self, path: str) -> str | None:
        """The platform path of a request path (None when outside the platform's prefix)."""
        if not self.prefix:
            return path
        return path[len(self.prefix):] if path.startswith(self.prefix + "/") else None

    def page(self, request: Request, state: int) -> Response | None:
        path = self._inner(request.path)
        if path is None:
            return None
        if path in ("/", "/gkmlpt/index", "/gkmlpt/"):
            return Response(200, self.shell(self.chrome(), "政府信息公开_深圳市光明区人民政府", "", "", ""))
        match = re.fullmatch(r"/gkmlpt/api/all/(\d+)", path)
        if match:
            return self.api(int(match.group(1)), request.query, state)
        article = self.find(path, state)
        if article is not None:
            return Response(200, self.article_html(article, state))
        return None

    def tree(self) -> list[dict[str, Any]]:
        """TREE with each catalogue's post count, as the platform writes it."""
        counts = {GK_CATALOG: len(self.catalogue(GK_CATALOG, self.farm.state))}

        def count(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [dict(node, post_count=counts.get(node["id"], 0), children=count(node["children"]))
                    for node in nodes]

        return count(TREE)

    def shell(self, chrome: Chrome, title: str, crumb_tail: str, detail: str, neighbours: str) -> str:
        return SHELL.substitute(title=esc(title), nonce=chrome.nonce, sid=SID, tree=script_json(self.tree()),
                                detail=detail, today=chrome.today, crumb_tail=crumb_tail, count=chrome.count,
                                app_url=self.prefix, neighbours=neighbours)

    def catalogue(self, catalog: int, state: int) -> list[Article]:
        """A catalogue's articles newest first; catalogue 0 is every article of the site."""
        articles = self.live(state) if catalog in (0, GK_CATALOG) else []
        return sorted(articles, key=lambda a: a.published, reverse=True)

    def api(self, catalog: int, query: dict[str, str], state: int) -> Response:
        if query.get("sid", SID) != SID:
            return Response(404, json.dumps({"code": 404, "msg": "站点不存在"}, ensure_ascii=False),
                            "application/json")
        try:
            page = max(1, int(query.get("page", "1")))  # page 0 answers as page 1
        except ValueError:
            return Response(400, '{"code": 400, "msg": "bad page"}', "application/json")
        records = [self.record(a, catalog) for a in self.catalogue(catalog, state)]
        if self.duplicate is not None and self.duplicate < len(records):
            twin = records[self.duplicate]
            other = GK_CATALOG if catalog == 0 else 0
            records.insert(self.duplicate + 1, dict(twin, url=twin["url"].split("#")[0] + f"#{other}"))
        chunk = records[(page - 1) * self.per_page:page * self.per_page]
        name = {0: "全部", GK_CATALOG: "法治政府建设年度报告"}.get(catalog, "")
        payload = {
            "classify": {"id": catalog, "name": name, "parent": 11937 if catalog == GK_CATALOG else 0,
                         "post_count": len(records), "page_count": math.ceil(len(records) / self.per_page)},
            "articles": chunk,
            "page": page, "per_page": self.per_page, "total": len(records),
        }
        return Response(200, json.dumps(payload, ensure_ascii=False), "application/json")

    def record(self, article: Article, catalog: int = GK_CATALOG) -> dict[str, Any]:
        ts = _ts(article.published)
        return {
            "id": int(article.path.rsplit("_", 1)[1].split(".")[0]),
            "title": article.title,
            "url": f"{self.url(article.path)}#{catalog}",  # as the API gives it: with the catalogue as fragment
            "publisher": article.publisher,
            "identifier": article.extra.get("identifier", ""),
            "document_number": article.extra.get("document_number", ""),
            "date": ts,
            "created_at": article.published,
            "first_publish_time": ts,
            "display_publish_time": ts,
            "classify_main_name": "法治政府建设年度报告",
            "attachment": [{"name": name, "url": self.url(path), "ext": path.rsplit(".", 1)[1]}
                           for name, path in article.attachments],
        }

    def article_html(self, article: Article, state: int) -> str:
        chrome = self.chrome()
        # attachments travel in the "attachment" field, as on the real platform, not inside "content"
        detail = dict(self.record(article), content=blocks_html(article.blocks), source=article.publisher)
        detail["url"] = self.url(article.path)
        others = [a for a in self.catalogue(GK_CATALOG, state) if a.path != article.path][:2]
        neighbours = "".join(f'<a class="gk-next" href="{self.prefix}{a.path}?jump=true">{esc(a.title)}</a>'
                             for a in others)
        return self.shell(chrome, f"{article.title}_深圳市光明区人民政府", " &gt; 法治政府建设年度报告",
                          f"\n  DETAIL: {escaped_json(detail)},", neighbours)


class GkmlptDeptSite(GkmlptSite):
    """The same platform as a department deploys it: under `/gmsfj/` (光明区司法局's site path), 100 a page."""

    prefix = "/gmsfj"
    per_page = 100
