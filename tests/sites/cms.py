"""Div-layout UTF-8 CMS replica (深圳市南山区人民政府): meta ArticleTitle/PubDate/ContentSource, <a>下一页</a>."""
from __future__ import annotations

import math
from string import Template

from .corpus import Article
from .server import Chrome, ReplicaSite, Response, blocks_html, esc

COLUMN = "/xxgk/fzzfjsndbg/"
PER_PAGE = 4

PAGE = Template("""<!DOCTYPE html>
<html lang="zh-CN">
<head>
<meta charset="utf-8">
<meta http-equiv="X-UA-Compatible" content="IE=edge">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta name="SiteName" content="深圳市南山区人民政府">
<meta name="SiteDomain" content="www.szns.gov.cn">
<meta name="SiteIDCode" content="4403050001">
<meta name="ColumnName" content="法治政府建设年度报告">
<meta name="ColumnType" content="信息公开">
$meta
<title>$title</title>
<link rel="stylesheet" href="/css/common.css?v=$nonce">
<script src="/js/jquery.min.js"></script>
</head>
<body>
<div class="topbar"><div class="w1200">
  <span class="welcome">您好,欢迎访问深圳市南山区人民政府网站!</span><span class="date">$today</span>
  <div class="links"><a href="/wza/">无障碍</a><a href="/ghb/">关怀版</a><a href="/en/">English</a><a href="/login/">登录</a><a href="/register/">注册</a></div>
</div></div>
<div class="header"><div class="w1200">
  <a class="logo" href="/"><img src="/images/logo.png" alt="深圳市南山区人民政府"></a>
  <div class="search"><input type="text" placeholder="请输入搜索关键词"><button>搜索</button></div>
</div></div>
<div class="nav"><ul class="w1200">
  <li><a href="/">首页</a></li><li><a href="/xxgk/">信息公开</a></li><li><a href="/zwfw/">政务服务</a></li>
  <li><a href="/hdjl/">互动交流</a></li><li><a href="/zjns/">走进南山</a></li>
</ul></div>
<div class="w1200 main">
  <div class="crumb">您现在的位置:<a href="/">首页</a> &gt; <a href="/xxgk/">信息公开</a> &gt; <a href="/xxgk/fzzfjsndbg/index.html">法治政府建设年度报告</a></div>
$main
</div>
<div class="footer"><div class="w1200">
  <div class="footlinks"><a href="/wzdt/">网站地图</a>|<a href="/lxwm/">联系我们</a>|<a href="/mzsm/">免责声明</a>|<a href="/yssm/">隐私保护</a></div>
  <p>主办:深圳市南山区人民政府办公室 &nbsp; 承办:深圳市南山区政务服务和数据管理局</p>
  <p>版权所有:深圳市南山区人民政府 &nbsp; 网站标识码:4403050001 &nbsp; 粤ICP备05082796号 &nbsp; 粤公网安备 44030502000012号</p>
  <p>您是本站第 <span class="visits">$count</span> 位访客</p>
</div></div>
<script>var _pageTs = "$nonce";</script>
</body>
</html>
""")

DISCLOSURE = Template("""  <div class="xxgk-info">
    <table class="xxgk-table">
      <tr><th>索引号:</th><td>$index_no</td><th>分类:</th><td>$category</td></tr>
      <tr><th>发布机构:</th><td>$org</td><th>成文日期:</th><td>$written</td></tr>
      <tr><th>名称:</th><td colspan="3">$title</td></tr>
      <tr><th>文号:</th><td>$doc_no</td><th>发布日期:</th><td>$pub_date</td></tr>
      <tr><th>主题词:</th><td>$subject</td><th>有效性:</th><td>$validity</td></tr>
    </table>
  </div>
""")

DISCLOSURE_FIELDS = (("索引号", "index_no"), ("分类", "category"), ("发布机构", "org"), ("成文日期", "written"),
                     ("文号", "doc_no"), ("发布日期", "pub_date"), ("主题词", "subject"), ("有效性", "validity"))

ARTICLE = Template("""$disclosure  <div class="article">
    <h1 class="article-title">$title</h1>
    <div class="article-info">
      <span>时间:$date</span><span>来源:$publisher</span><span>浏览量:<em>$count</em></span>
      <span class="font-size">字号:<a href="javascript:;" data-size="20">大</a> <a href="javascript:;" data-size="16">中</a> <a href="javascript:;" data-size="14">小</a></span>
    </div>
    <div class="article-content" id="zoom">
$body
$attachments    <p class="qr-tip">扫一扫在手机打开当前页</p>
    </div>
    <div class="article-tools">
      <div class="share">分享到:<a class="share-wx" href="javascript:;">微信</a><a class="share-wb" href="javascript:;">微博</a><a class="share-qz" href="javascript:;">QQ空间</a></div>
      <div class="tools"><a href="javascript:window.print();">打印</a><a href="javascript:window.close();">关闭</a><a href="/jiucuo/">我要纠错</a></div>
    </div>
    <div class="qrcode"><img src="/images/qrcode.png" alt="二维码"></div>
  </div>
  <div class="related">
    <h3>相关文章</h3>
    <ul>
$related
    </ul>
  </div>
""")


class CmsSite(ReplicaSite):
    """深圳市南山区人民政府: UTF-8, meta tags, disclosure-record table, linked pagination."""

    key = "cms"
    name = "深圳市南山区人民政府"
    district = "南山区"
    start_path = COLUMN + "index.html"
    article_urls = (r"/content/post_\d+\.html$",)
    listing_urls = (r"/index(_\d+)?\.html$",)
    column = COLUMN


    def render(self, chrome: Chrome, title: str, main: str, meta: str = "") -> str:
        return PAGE.substitute(meta=meta, title=esc(title), nonce=chrome.nonce, today=chrome.today,
                               main=main, count=chrome.count)

    def home(self, state: int) -> Response:
        items = "".join(f'<li><a href="{a.path}">{esc(a.title)}</a><span>{a.date}</span></li>'
                        for a in self.live(state)[:5])
        main = f'<div class="home-col"><h2><a href="{COLUMN}index.html">法治政府建设年度报告</a></h2><ul>{items}</ul></div>'
        return Response(200, self.render(self.chrome(), "深圳市南山区人民政府", main))

    def listing(self, index: int, state: int) -> Response | None:
        articles = self.live(state)
        pages = max(1, math.ceil(len(articles) / PER_PAGE))
        if index >= pages:
            return None
        chunk = articles[index * PER_PAGE:(index + 1) * PER_PAGE]
        items = "\n".join(f'      <li><a href="{a.path}" target="_blank" title="{esc(a.title)}">{esc(a.title)}</a>'
                          f'<span class="date">{a.date}</span></li>' for a in chunk)

        def page_url(n: int) -> str:
            return "index.html" if n == 0 else f"index_{n}.html"

        links = [f'<a href="{page_url(0)}">首页</a>']
        if index > 0:
            links.append(f'<a href="{page_url(index - 1)}">上一页</a>')
        links += [f'<span class="current">{n + 1}</span>' if n == index else f'<a href="{page_url(n)}">{n + 1}</a>'
                  for n in range(pages)]
        if index + 1 < pages:
            links.append(f'<a href="{page_url(index + 1)}">下一页</a>')
        links.append(f'<a href="{page_url(pages - 1)}">尾页</a>')
        main = (f'  <div class="list-box"><h2 class="col-title">法治政府建设年度报告</h2>\n'
                f'    <ul class="news-list">\n{items}\n    </ul>\n'
                f'    <div class="pagination">{" ".join(links)}</div>\n  </div>')
        return Response(200, self.render(self.chrome(), "法治政府建设年度报告_深圳市南山区人民政府", main))

    def article_html(self, article: Article, state: int) -> str:
        chrome = self.chrome()
        meta = "\n".join([
            f'<meta name="ArticleTitle" content="{esc(article.title)}">',
            f'<meta name="PubDate" content="{article.published[:16]}">',
            f'<meta name="ContentSource" content="{esc(article.publisher)}">',
            '<meta name="Keywords" content="法治政府建设,年度报告">',
            f'<meta name="Description" content="{esc(article.title)}">'])
        disclosure = ""
        if "索引号" in article.extra:
            fields = {en: esc(article.extra.get(zh, "")) for zh, en in DISCLOSURE_FIELDS}
            disclosure = DISCLOSURE.substitute(title=esc(article.title), **fields)
        attachments = ""
        if article.attachments:
            links = "".join(f'<li><a href="{path}" target="_blank">{esc(name)}</a></li>'
                            for name, path in article.attachments)
            attachments = f'    <div class="attachments"><p>附件:</p><ul>{links}</ul></div>\n'
        related = "\n".join(f'      <li><a href="{a.path}">{esc(a.title)}</a><span>{a.date}</span></li>'
                            for a in self.live(state) if a.path != article.path and a.is_report)
        main = ARTICLE.substitute(
            disclosure=disclosure, title=esc(article.title), date=article.date, publisher=esc(article.publisher),
            count=chrome.count, body=blocks_html(article.blocks), attachments=attachments, related=related)
        return self.render(chrome, f"{article.title}_深圳市南山区人民政府", main, meta)
