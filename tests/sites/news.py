"""News-portal replica (深圳新闻网 style): UTF-8, QR/app prompts, hot-news list, mixed listing."""
from __future__ import annotations

from string import Template

from .corpus import Article
from .server import Chrome, ReplicaSite, Request, Response, blocks_html, esc

LISTING_PATH = "/news/fz/index.htm"

PAGE = Template("""<!DOCTYPE html>
<html>
<head>
<meta charset="utf-8">
<meta name="keywords" content="深圳新闻网,深圳新闻,法治">
<meta name="description" content="深圳新闻网是深圳市委宣传部主管的新闻门户网站">
<title>$title</title>
<link rel="stylesheet" href="//static.sznews.com/css/article.css?$nonce">
</head>
<body>
<div class="top-bar"><div class="wrap">
  <a href="/">深圳新闻网</a> | <a href="/news/">新闻</a> | <a href="/news/sz/">深圳</a> | <a href="/news/fz/index.htm">法治</a> | <a href="/news/qy/">区域</a> | <a href="/video/">视频</a>
  <span class="time">$now</span><a class="login" href="/login/">登录</a>
</div></div>
<div class="logo-bar"><div class="wrap"><a href="/"><img src="/images/sznews_logo.png" alt="深圳新闻网"></a>
  <div class="ad">读特客户端 扫码下载</div></div></div>
<div class="wrap crumb"><a href="/">首页</a> &gt; <a href="/news/fz/index.htm">法治</a>$crumb_tail</div>
<div class="wrap main">
  <div class="left">
$main
  </div>
  <div class="right">
    <div class="hot"><h3>热点新闻</h3><ol>
$hot
    </ol></div>
    <div class="app-box"><img src="/images/app_qr.png" alt="深圳新闻网APP"><p>下载深圳新闻网APP</p></div>
  </div>
</div>
<div class="footer"><div class="wrap">
  <p><a href="/about/">关于我们</a> | <a href="/contact/">联系我们</a> | <a href="/ad/">广告服务</a> | <a href="/jubao/">违法和不良信息举报</a></p>
  <p>深圳新闻网版权所有,未经书面授权禁止使用 Copyright © 2001-$year sznews.com All Rights Reserved.</p>
  <p>粤ICP备05093556号 互联网新闻信息服务许可证:44120170002 阅读量统计 <span>$count</span></p>
</div></div>
</body>
</html>
""")

ARTICLE = Template("""    <div class="article">
      <h1 class="h-title">$title</h1>
      <div class="h-info"><span class="h-time">$published</span> <span class="source">来源:$publisher</span> <span class="author">作者:$author</span> <span class="read">阅读:<em>$count</em></span></div>
      <div class="article-content">
$body
<p class="editor">[责任编辑:$editor]</p>
<p>手机扫一扫打开当前页面</p>
<p>扫码下载坪山发布APP(安卓版)</p>
<p>扫码下载坪山发布APP(苹果版)</p>
<p>微信里点“发现”,扫一下</p>
<p>二维码便可将本文分享至朋友圈。</p>
      </div>
      <div class="pre-next">$prevnext</div>
    </div>
""")


class NewsSite(ReplicaSite):
    """深圳新闻网: news articles under dated paths; the 法治 channel mixes unrelated news."""

    key = "news"
    name = "深圳新闻网"
    district = "坪山区"
    title_filter = "法治"
    start_path = LISTING_PATH
    article_urls = (r"/news/content/\d{4}-\d{2}/\d{2}/content_\d+\.htm$",)
    listing_urls = (r"/news/fz/index(_\d+)?\.htm$",)

    def page(self, request: Request, state: int) -> Response | None:
        if request.path in ("/", "/index.htm", "/index.html"):
            return Response(200, self.render(self.chrome(), "深圳新闻网", "", self.list_html(state), state))
        if request.path == LISTING_PATH:
            return Response(200, self.render(self.chrome(), "法治_深圳新闻网", " &gt; 列表",
                                             self.list_html(state), state))
        article = self.find(request.path, state)
        if article is not None:
            return Response(200, self.article_html(article, state))
        return None

    def list_html(self, state: int) -> str:
        items = "\n".join(f'      <li><a href="{a.path}" target="_blank">{esc(a.title)}</a>'
                          f'<span class="date">{a.published[:16]}</span></li>' for a in self.live(state))
        return f'    <div class="list"><h2>法治</h2><ul>\n{items}\n    </ul></div>'

    def render(self, chrome: Chrome, title: str, crumb_tail: str, main: str, state: int) -> str:
        hot = "\n".join(f'      <li><a href="{a.path}">{esc(a.title)}</a></li>'
                        for a in self.live(state) if not a.is_report)
        return PAGE.substitute(title=esc(title), nonce=chrome.nonce, now=chrome.now, crumb_tail=crumb_tail,
                               main=main, hot=hot, year=chrome.now[:4], count=chrome.count)

    def article_html(self, article: Article, state: int) -> str:
        chrome = self.chrome()
        others = [a for a in self.live(state) if a.path != article.path][:2]
        prevnext = "".join(f'<p>{label}:<a href="{a.path}">{esc(a.title)}</a></p>'
                           for label, a in zip(("上一篇", "下一篇"), others, strict=False))
        main = ARTICLE.substitute(
            title=esc(article.title), published=article.published[:16], publisher=esc(article.publisher),
            author=esc(article.extra.get("author", "")), editor=esc(article.extra.get("editor", "")),
            count=chrome.count, body=blocks_html(article.blocks), prevnext=prevnext)
        return self.render(chrome, f"{article.title}_深圳新闻网", " &gt; 正文", main, state)
