"""Held-out article templates: CMS styles the replica farm does not imitate, with their expected results.

The farm's four sites (TRS table layout, a div CMS, a news portal, gkmlpt) are what the extractor was
tuned on. These pages copy other conventions of Chinese government sites - 大汉 Hanweb JCMS, 拓尔思 newer
WCM (gov.cn style), 开普云/南威 集约化平台, a province portal with a disclosure table over the body, a
responsive mobile template, Word-pasted `<span>` soup, a data table with merged header cells, an old
GB18030 `<font>` layout, a page whose title is only in `<title>` - so `tests/test_unseen_templates.py`
and `bench/fidelity.py` ("held-out") show whether the rules generalise. The expectations were written
from what a reader sees on the page, before running the extractor on them.

Each page is stored as bytes in its declared charset; `UnseenPage.html` decodes it the way the crawler
does (crawler.guard.decode_body).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .corpus import Block, Table, body_text
from .farm import ExpectedArticle
from .seeds import seed_body, vary
from .server import esc

HOST = "http://unseen.example.gov.cn"


@dataclass(frozen=True)
class UnseenPage:
    """One held-out article page: its bytes as served, and what the archive should hold of it."""

    key: str
    style: str  # the real-world CMS convention it imitates
    site_name: str
    body: bytes
    charset: str | None  # charset of the HTTP header (None: only the page's <meta> says)
    expected: ExpectedArticle
    record: dict[str, str] = field(default_factory=dict)  # disclosure fields the page shows

    @property
    def url(self) -> str:
        return self.expected.url

    @property
    def html(self) -> str:
        """The page decoded as the crawler decodes it."""
        from crawler.guard import decode_body

        decoded = decode_body(self.body, self.charset)
        if decoded is None:
            raise ValueError(f"unseen page {self.key} does not decode")
        return decoded[0]


def _wrap(text: str, width: int = 28) -> str:
    """Hard-wrap source text as Word's HTML export does: CRLF every `width` characters."""
    return "\r\n".join(text[i:i + width] for i in range(0, len(text), width))


def _is_heading(block: str) -> bool:
    return len(block) < 45 and block[:1] in "一二三四五六七八九十(（" and not block.endswith("。")


def _rows_html(table: Table, cell: str = "{}") -> str:
    return "".join("<tr>" + "".join(f"<td>{cell.format(esc(c))}</td>" for c in row) + "</tr>" for row in table)


def _expected(key: str, path: str, title: str, published: str, publisher: str, year: int | None,
              blocks: list[Block], attachments: tuple[tuple[str, str], ...] = ()) -> ExpectedArticle:
    return ExpectedArticle(f"unseen-{key}", HOST + path, title, published, publisher, year, body_text(tuple(blocks)),
                           tuple((text, HOST + href if href.startswith("/") else href) for text, href in attachments))


# ------------------------------------------------------------------ 1. 大汉 Hanweb JCMS
def hanweb() -> UnseenPage:
    """Hanweb JCMS: layout table, title in a td, <UCAPCONTENT> inside <div id="zoom">, 【打印】【关闭】,
    downfile.jsp attachment, <title> is only the site name, no metas."""
    title = "河源市源城区司法局2023年法治政府建设年度报告"
    blocks: list[Block] = vary(seed_body("003"), salt="hanweb", drop_every=4,
                               replace={"市高新区": "源城区司法局", "区党工委、管委会": "局党组", "高新区": "源城区"})
    path = "/art/2024/3/15/art_5861_671204.html"
    attach = ("源城区司法局2023年法治政府建设年度报告.pdf",
              "/module/download/downfile.jsp?classid=0&filename=2403151020123456.pdf")
    body = "\n".join(f'<p style="text-indent:2em;line-height:2">{"<strong>" if _is_heading(b) else ""}{esc(b)}'
                     f'{"</strong>" if _is_heading(b) else ""}</p>' for b in blocks)
    html = f"""<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml"><head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8" />
<title>河源市源城区人民政府</title>
<script language="javascript" src="/script/0/1403101023513945.js"></script>
</head><body>
<div id="barrierfree_container">
<table width="1002" border="0" align="center" cellpadding="0" cellspacing="0"><tr><td>
<table width="100%" cellpadding="0" cellspacing="0"><tr><td class="tou"><img src="/picture/0/head.jpg" width="1002" height="160" /></td></tr>
<tr><td class="dh"><a href="/">首页</a>　<a href="/col/col5850/">走进源城</a>　<a href="/col/col5851/">政务公开</a>　<a href="/col/col5852/">政务服务</a>　<a href="/col/col5853/">互动交流</a></td></tr></table>
<table width="100%" cellpadding="0" cellspacing="0"><tr><td class="bt_link" height="35">
<table cellspacing="0" cellpadding="0"><tr><td>您当前所在位置：</td><td><a href="/">首页</a>&nbsp;&gt;&nbsp;<a href="/col/col5851/">政务公开</a>&nbsp;&gt;&nbsp;<a href="/col/col5861/">法治政府建设</a></td></tr></table>
</td></tr></table>
<table width="100%" cellpadding="0" cellspacing="0" style="border:1px solid #ddd"><tr><td>
<!--<$[信息内容]>begin-->
<table width="96%" border="0" align="center" cellpadding="0" cellspacing="0">
<tr><td align="center" class="title" style="font-size:24px;font-weight:bold;color:#c00;padding:20px 0">{esc(title)}</td></tr>
<tr><td align="center" style="border-bottom:1px dashed #ccc;color:#666">发布日期：2024-03-15 &nbsp;&nbsp; 信息来源：源城区司法局 &nbsp;&nbsp; 浏览次数：<span id="art_hits"><script>document.write("372");</script></span> &nbsp;&nbsp; 【字体：<a href="javascript:doZoom(20)">大</a> <a href="javascript:doZoom(16)">中</a> <a href="javascript:doZoom(14)">小</a>】</td></tr>
<tr><td class="bt_content" style="padding:20px;font-size:16px;line-height:2">
<div id="zoom"><UCAPCONTENT>
{body}
<p>附件：<a href="{attach[1]}" target="_blank">{esc(attach[0])}</a></p>
</UCAPCONTENT></div>
</td></tr>
<tr><td align="right" style="padding:10px">【<a href="javascript:window.print()">打印</a>】【<a href="javascript:window.close()">关闭</a>】</td></tr>
<tr><td align="center"><div id="div_div"><div id="qr_container"><img src="/qr.png" /></div><p>扫一扫在手机打开当前页</p></div></td></tr>
</table>
<!--<$[信息内容]>end-->
</td></tr></table>
<table width="100%" class="bottom"><tr><td align="center">
<a href="/col/col5890/">网站地图</a> | <a href="/col/col5891/">联系我们</a> | <a href="/col/col5892/">使用帮助</a><br />
主办单位：河源市源城区人民政府办公室　版权所有：河源市源城区人民政府<br />
网站标识码：4416020001　<a href="https://beian.miit.gov.cn">粤ICP备05021318号</a>　粤公网安备 44160202000101号
</td></tr></table>
</td></tr></table></div>
</body></html>"""
    return UnseenPage("hanweb", "大汉 Hanweb JCMS", "河源市源城区人民政府", html.encode("utf-8"), "utf-8",
                      _expected("hanweb", path, title, "2024-03-15", "源城区司法局", 2023, blocks, (attach,)))


# ------------------------------------------------------------------ 2. 拓尔思 newer WCM (gov.cn style)
def trs_ueditor() -> UnseenPage:
    """TRS WCM 2020s template (gov.cn look): metas, pages-title/pages-date, `view TRS_UEDITOR` body,
    unlabelled date next to 来源, 【字体：大 中 小】, printIco, QR block, 相关稿件 list under the body."""
    title = "深圳市光明区住房和建设局2023年法治政府建设年度报告"
    blocks: list[Block] = vary(seed_body("002"), salt="trsue", drop_every=5,
                               replace={"光明区坚持": "光明区住房和建设局坚持"})
    path = "/xxgk/zfxxgj/ghjh/content/post_11223344.html"
    body = "\n".join(
        f'<p style="text-indent: 2em; text-align: justify;">{esc(b)}</p>' if not _is_heading(b)
        else f'<p style="text-indent: 2em;"><strong>{esc(b)}</strong></p>' for b in blocks)
    html = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8">
<meta name="SiteName" content="深圳市光明区人民政府"><meta name="SiteDomain" content="www.szgm.gov.cn">
<meta name="ColumnName" content="计划总结"><meta name="ArticleTitle" content="{esc(title)}">
<meta name="PubDate" content="2024-03-08 16:12"><meta name="ContentSource" content="深圳市光明区住房和建设局">
<meta name="Keywords" content="法治政府"><meta name="Url" content="{HOST}{path}">
<title>{esc(title)}_深圳市光明区人民政府</title></head>
<body>
<div class="index_top"><div class="w1200"><a href="/">首页</a><a href="/wza">无障碍</a><a href="/zhb">长者版</a></div></div>
<div class="logo_search w1200"><img src="/img/logo.png" alt="深圳市光明区人民政府"></div>
<div class="channel_nav"><ul><li><a href="/">首页</a></li><li><a href="/xxgk">信息公开</a></li><li><a href="/hdjl">互动交流</a></li></ul></div>
<div class="w1200 BreadcrumbNav">当前位置：<a href="/">首页</a> &gt; <a href="/xxgk">信息公开</a> &gt; <a href="/xxgk/ghjh">计划总结</a></div>
<div class="w1200 article oneColumn pub_border">
  <h1 class="pages-title">{esc(title)}</h1>
  <div class="pages-date">2024-03-08 16:12 <span class="font">来源：深圳市光明区住房和建设局</span>
    <span class="font index_switchsize">【字体：<span onclick="changeSize(18)">大</span> <span onclick="changeSize(16)">中</span> <span onclick="changeSize(14)">小</span>】</span>
    <span class="printIco" onclick="window.print()">打印</span></div>
  <div class="pages_content" id="UCAP-CONTENT">
    <div class="view TRS_UEDITOR trs_paper_default trs_web">
{body}
    </div>
  </div>
  <div class="editor">责任编辑：王晓</div>
  <div class="pages-code"><img src="/img/qr.png"><p>扫一扫在手机打开当前页</p></div>
  <div class="relevant-box"><div class="t">相关稿件</div><ul>
    <li><a href="/xxgk/content/post_11100001.html">深圳市光明区住房和建设局2022年法治政府建设年度报告</a></li>
    <li><a href="/xxgk/content/post_11100002.html">光明区2023年法治政府建设年度报告</a></li></ul></div>
</div>
<div class="index_foot"><p>主办：深圳市光明区人民政府办公室 版权所有：深圳市光明区人民政府</p>
<p>网站标识码：4403110001 粤ICP备2020091580号</p></div>
</body></html>"""
    return UnseenPage("trs_ueditor", "拓尔思 TRS WCM, gov.cn-style TRS_UEDITOR", "深圳市光明区人民政府",
                      html.encode("utf-8"), "utf-8",
                      _expected("trs_ueditor", path, title, "2024-03-08", "深圳市光明区住房和建设局", 2023, blocks))


# ------------------------------------------------------------------ 3. 开普云 / 南威 集约化平台
def kaipuyun() -> UnseenPage:
    """集约化平台 (开普云/南威): article-title, `<ul class="info">` with 信息来源, `<div class="article-content">`
    whose editor pasted a 相关链接 list INSIDE the content, share icons with empty text, a 纠错 link."""
    title = "深圳市南山区招商街道办事处2024年法治政府建设年度报告"
    blocks: list[Block] = vary(seed_body("001"), salt="kpy", drop_every=3,
                               replace={"南山区人民政府": "招商街道办事处"})
    path = "/zsjd/gkmlpt/content/11/11987/post_11987321.html"
    body = "\n".join(f"<p>{esc(b)}</p>" if not _is_heading(b) else f"<h3>{esc(b)}</h3>" for b in blocks)
    html = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="UTF-8"><meta name="viewport" content="width=device-width">
<title>{esc(title)}-深圳市南山区人民政府门户网站</title>
<link rel="stylesheet" href="/static/css/jyh.css"></head>
<body>
<div class="g-top"><div class="container"><span>深圳市南山区人民政府门户网站</span><a href="/wza">无障碍</a></div></div>
<div class="g-nav"><div class="container"><a href="/">首页</a><a href="/zwgk">政务公开</a><a href="/zsjd">招商街道</a></div></div>
<div class="container"><div class="m-loc">您所在的位置：<a href="/">首页</a> &gt; <a href="/zsjd">招商街道</a> &gt; 工作总结</div>
<div class="main-article">
  <div class="article-title"><h1>{esc(title)}</h1></div>
  <ul class="info">
    <li>发布时间：2025年01月10日 10:18</li>
    <li>信息来源：深圳市南山区招商街道办事处</li>
    <li>访问量：<span id="hits">1024</span></li>
    <li class="zh">字体：【<a>大</a> <a>中</a> <a>小</a>】</li>
  </ul>
  <div class="article-content">
{body}
<p><br></p>
<p><strong>相关链接：</strong></p>
<ul><li><a href="/zsjd/content/post_11200001.html">招商街道2023年法治政府建设年度报告</a></li>
<li><a href="/zsjd/content/post_11200002.html">南山区2024年法治政府建设年度报告</a></li></ul>
  </div>
  <div class="article-bot">
    <div class="bdsharebuttonbox"><span>分享到：</span><a class="bds_weixin" title="分享到微信"></a><a class="bds_tsina" title="分享到新浪微博"></a></div>
    <div class="fr"><a href="javascript:window.print()">【打印本页】</a><a href="javascript:window.close()">【关闭窗口】</a><a href="/jiucuo">【我要纠错】</a></div>
  </div>
</div></div>
<div class="g-foot"><p>版权所有：深圳市南山区人民政府 网站标识码：4403050001</p><p>粤ICP备05082796号</p></div>
</body></html>"""
    return UnseenPage("kaipuyun", "开普云/南威 集约化平台", "深圳市南山区人民政府", html.encode("utf-8"), "utf-8",
                      _expected("kaipuyun", path, title, "2025-01-10", "深圳市南山区招商街道办事处", 2024, blocks))


# ------------------------------------------------------------------ 4. province portal, disclosure table first
def province_table() -> UnseenPage:
    """Province-portal disclosure page: a `<table>` with 索 引 号/分　　类/发文机关/成文日期/标　　题/文　　号/
    发布日期 (labels padded with full-width spaces) above the body, then the title again and the body."""
    title = "惠州市惠城区司法局2024年度法治政府建设情况报告"
    blocks: list[Block] = vary(seed_body("004"), salt="prov", drop_every=3,
                               replace={"坪山区科技创新局": "惠城区司法局", "区科创局": "区司法局"})
    path = "/zwgk/zdly/fzzfjs/content/post_5123456.html"
    record = {"索引号": "11441302MB2C12345X/2025-00012", "分类": "司法、公安、其他", "发布机构": "惠州市惠城区司法局",
              "成文日期": "2025年02月26日", "发布日期": "2025年02月28日"}
    body = "\n".join(f'<p style="text-indent:2em">{esc(b)}</p>' for b in blocks)
    html = f"""<!DOCTYPE html>
<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">
<title>{esc(title)} - 惠州市惠城区人民政府</title></head>
<body>
<div class="header"><img src="/images/logo.png" alt="惠州市惠城区人民政府"></div>
<div class="weizhi">您现在的位置：<a href="/">首页</a> &gt; <a href="/zwgk">政务公开</a> &gt; 法治政府建设</div>
<div class="zw-content">
<table class="zw-table" width="100%" border="1" cellspacing="0" cellpadding="6">
<tr><td class="td-label">索 引 号：</td><td>{record["索引号"]}</td><td class="td-label">分　　类：</td><td>{record["分类"]}</td></tr>
<tr><td class="td-label">发文机关：</td><td>{record["发布机构"]}</td><td class="td-label">成文日期：</td><td>{record["成文日期"]}</td></tr>
<tr><td class="td-label">标　　题：</td><td colspan="3">{esc(title)}</td></tr>
<tr><td class="td-label">文　　号：</td><td></td><td class="td-label">发布日期：</td><td>{record["发布日期"]}</td></tr>
</table>
<div class="zw-title">{esc(title)}</div>
<div class="zw-info"><span class="zw-font">【字号：<a>大</a>|<a>中</a>|<a>小</a>】</span> <span>【<a href="javascript:window.print()">打印</a>】</span></div>
<div class="zw-text">
{body}
</div>
<div class="zw-bottom"><span>分享到：</span><a>微信</a><a>微博</a><a>QQ空间</a></div>
</div>
<div class="footer-box"><p>惠州市惠城区人民政府办公室主办 版权所有</p><p>网站标识码：4413020001 粤ICP备10009813号</p></div>
</body></html>"""
    return UnseenPage("province_table", "province portal, disclosure table above the body", "惠州市惠城区人民政府",
                      html.encode("utf-8"), "utf-8",
                      _expected("province_table", path, title, "2025-02-28", "惠州市惠城区司法局", 2024, blocks),
                      record=record)


# ------------------------------------------------------------------ 5. responsive / mobile template
def mobile() -> UnseenPage:
    """Responsive template: `<article>` holding the title, an unlabelled `<time>`, a share bar
    (分享： + icon links) before the body, 责任编辑 and an open-in-app prompt after it."""
    title = "深圳市龙华区司法局2024年法治政府建设年度报告"
    blocks: list[Block] = vary(seed_body("001"), salt="lh", drop_every=4,
                               replace={"南山区人民政府": "龙华区司法局", "南山": "龙华"})
    path = "/m/xxgk/content/post_11345678.html"
    body = "\n".join(f"<p>{esc(b)}</p>" for b in blocks)
    html = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1,maximum-scale=1,user-scalable=no">
<title>{esc(title)}_龙华区政府在线</title></head>
<body class="m-body">
<div class="m-top"><a class="m-back" href="javascript:history.back()">&lt;</a><span>龙华区政府在线</span><a class="m-more">≡</a></div>
<article class="m-art">
  <h2 class="m-art-h">{esc(title)}</h2>
  <div class="m-art-meta"><time datetime="2025-01-20">2025/1/20 09:30</time> <span>来源：深圳市龙华区司法局</span></div>
  <div class="m-art-fx"><span>分享：</span><a class="i-wx" href="javascript:;">微信</a><a class="i-wb" href="javascript:;">微博</a><a class="i-qq" href="javascript:;">QQ</a></div>
  <div class="m-art-bd">
{body}
  </div>
  <p class="m-art-ed">责任编辑：黄敏</p>
  <div class="m-art-app"><img src="/m/img/app.png"><p>打开“i龙华”APP，阅读体验更佳</p></div>
</article>
<div class="m-foot"><p>版权所有 © 深圳市龙华区人民政府</p><p>粤ICP备17128613号</p></div>
</body></html>"""
    return UnseenPage("mobile", "responsive/mobile template, share bar inside <article>", "深圳市龙华区人民政府",
                      html.encode("utf-8"), "utf-8",
                      _expected("mobile", path, title, "2025-01-20", "深圳市龙华区司法局", 2024, blocks))


# ------------------------------------------------------------------ 6. Word-pasted span soup
def word_spans() -> UnseenPage:
    """Body pasted from Word: `<p class="MsoNormal" style="text-indent:2em">` with `&nbsp;` indents, every
    sentence split over `<span>`s, source lines hard-wrapped (inside tags and inside the text), empty
    `<o:p>` paragraphs, bold headings."""
    title = "深圳市福田区卫生健康局2023年法治政府建设年度报告"
    blocks: list[Block] = vary(seed_body("002"), salt="ftwj", drop_every=4,
                               replace={"光明区坚持": "福田区卫生健康局坚持", "光明区": "福田区"})
    path = "/ftwjj/xxgk/content/post_11056789.html"

    def para(text: str) -> str:
        pieces = [p for p in text.replace(",", ",\x00").replace("。", "。\x00").split("\x00") if p]
        # Word's "save as web page" wraps source lines (CRLF), also in the middle of Chinese text
        spans = "".join(f'<span style="font-family:仿宋_GB2312;\nfont-size:16pt">{esc(_wrap(p))}</span>' for p in pieces)
        if _is_heading(text):
            spans = f'<b><span style="font-family:黑体;font-size:16pt">{esc(text)}</span></b>'
        return (f'<p class="MsoNormal" style="text-indent:2em;line-height:28pt"><span lang="EN-US">'
                f'&nbsp;&nbsp;&nbsp;&nbsp;</span>{spans}<span lang="EN-US"><o:p></o:p></span></p>\n'
                f'<p class="MsoNormal"><span lang="EN-US"><o:p>&nbsp;</o:p></span></p>')

    body = "\n".join(para(b) for b in blocks)
    html = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(title)}--深圳市福田区人民政府门户网站</title>
<meta name="ArticleTitle" content="{esc(title)}"><meta name="PubDate" content="2024-03-29 09:00"></head>
<body>
<div id="top"><div class="tp">深圳市福田区人民政府门户网站 | 无障碍 | 长者模式</div></div>
<div class="dqwz">当前位置：<a href="/">首页</a> &gt; <a href="/ftwjj">区卫生健康局</a> &gt; 法治政府建设</div>
<div class="xl-main">
  <div class="xl-tit">{esc(title)}</div>
  <div class="xl-ly"><span>来源：福田区卫生健康局</span> <span>日期：2024-03-29</span> <span>【字号：<a>大</a> <a>中</a> <a>小</a>】</span></div>
  <div class="xl-nr WordSection1">
{body}
  </div>
  <div class="xl-tools"><a href="javascript:window.print()">打印本页</a> <a href="javascript:window.close()">关闭窗口</a></div>
</div>
<div class="ft"><p>版权所有：深圳市福田区人民政府 网站标识码：4403040001 粤ICP备16077537号</p></div>
</body></html>"""
    return UnseenPage("word_spans", "Word-pasted body: MsoNormal spans, &nbsp; indents", "深圳市福田区人民政府",
                      html.encode("utf-8"), "utf-8",
                      _expected("word_spans", path, title, "2024-03-29", "福田区卫生健康局", 2023, blocks))


# ------------------------------------------------------------------ 7. data table with merged header cells
MERGED_TABLE: Table = (
    ("类别", "2023年", "2024年"),
    ("受理", "办结", "受理", "办结"),
    ("行政复议案件(宗)", "86", "80", "97", "91"),
    ("行政诉讼案件(宗)", "41", "38", "45", "44"),
    ("合计", "127", "118", "142", "135"),
)


def merged_table() -> UnseenPage:
    """A report whose body holds a real data table (Word-pasted MsoNormalTable, rowspan/colspan header,
    `<p>` inside cells) plus a caption line; div template with its own class names."""
    title = "深圳市龙岗区司法局2024年法治政府建设年度报告"
    paras = vary(seed_body("003"), salt="lgsf", drop_every=3, year_shift=1,
                 replace={"市高新区": "龙岗区司法局", "高新区": "龙岗区"})
    caption = "表1 龙岗区行政复议和行政诉讼案件情况"
    blocks: list[Block] = [*paras[:5], caption, MERGED_TABLE, *paras[5:]]
    path = "/lgsfj/gkmlpt/content/10/10456/post_11456789.html"
    head, sub, *rows = MERGED_TABLE
    cell = '<td style="border:solid windowtext 1pt" {span}><p class="MsoNormal" align="center"><span>{text}</span></p></td>'
    table = ('<table class="MsoNormalTable" border="1" cellspacing="0" cellpadding="0" style="border-collapse:collapse">'
             "<tbody><tr>" + cell.format(span='rowspan="2"', text=head[0])
             + "".join(cell.format(span='colspan="2"', text=t) for t in head[1:]) + "</tr><tr>"
             + "".join(cell.format(span="", text=t) for t in sub) + "</tr>"
             + "".join("<tr>" + "".join(cell.format(span="", text=esc(t)) for t in row) + "</tr>" for row in rows)
             + "</tbody></table>")
    parts = [f"<p>{esc(b)}</p>" for b in paras[:5]]
    parts += [f'<p style="text-align:center"><b>{esc(caption)}</b></p>', table]
    parts += [f"<p>{esc(b)}</p>" for b in paras[5:]]
    body = "\n".join(parts)
    html = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(title)}_深圳市龙岗区人民政府</title></head>
<body>
<div class="top-wrap">龙岗政府在线 | 无障碍 | 关怀版</div>
<div class="lg-loc">当前位置：<a href="/">首页</a> &gt; <a href="/lgsfj">区司法局</a> &gt; 工作报告</div>
<div class="lg-detail">
  <h2 class="lg-detail-h">{esc(title)}</h2>
  <div class="lg-detail-src">发布日期：2025-02-14 &nbsp; 来源：深圳市龙岗区司法局 &nbsp; 浏览次数：<span>233</span></div>
  <div class="lg-detail-txt">
{body}
  </div>
  <div class="lg-detail-pn"><p>上一篇：<a href="/a">龙岗区司法局2024年工作总结</a></p><p>下一篇：没有了</p></div>
</div>
<div class="lg-bottom">版权所有：深圳市龙岗区人民政府 网站标识码：4403070001 粤ICP备05012398号</div>
</body></html>"""
    return UnseenPage("merged_table", "data table with rowspan/colspan header inside the body",
                      "深圳市龙岗区人民政府", html.encode("utf-8"), "utf-8",
                      _expected("merged_table", path, title, "2025-02-14", "深圳市龙岗区司法局", 2024, blocks))


# ------------------------------------------------------------------ 8. GB18030 <font> layout
def gb18030_font() -> UnseenPage:
    """An old street-office site: GB18030 bytes declared gb2312, layout tables with a left column of links,
    `<font>` for everything, paragraphs separated by `<br>` with `&nbsp;` indents, a character outside GBK."""
    title = "深圳市坪山区坑梓街道办事处2024年法治政府建设年度报告"
    blocks: list[Block] = vary(seed_body("004"), salt="kz", drop_every=2,
                               replace={"坪山区科技创新局": "坑梓街道办事处", "区科创局": "街道办"})
    blocks.append("坑梓街道办事处主任邓䶮同志履行法治建设第一责任人职责,全年主持召开专题会议4次。")
    path = "/kzjd/news/2025/0205/123.html"
    lines = []
    for b in blocks:
        text = f"<b>{esc(b)}</b>" if _is_heading(b) else esc(b)
        lines.append(f"&nbsp;&nbsp;&nbsp;&nbsp;{text}<br>")
    body = "\n".join(lines)
    html = f"""<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">
<title>{esc(title)}</title></head>
<body topmargin="0" leftmargin="0">
<table width="980" border="0" align="center" cellpadding="0" cellspacing="0"><tr><td><img src="/kzjd/images/top.jpg"></td></tr>
<tr><td bgcolor="#0066cc" height="30"><font color="#ffffff">&nbsp;<a href="/kzjd/"><font color="#ffffff">首页</font></a> | <a href="/kzjd/jdgk/"><font color="#ffffff">街道概况</font></a> | <a href="/kzjd/tzgg/"><font color="#ffffff">通知公告</font></a></font></td></tr></table>
<table width="980" border="0" align="center" cellpadding="0" cellspacing="0"><tr>
<td width="200" valign="top" bgcolor="#f0f5fa">
  <table width="100%"><tr><td><font color="#0066cc"><b>街道动态</b></font></td></tr>
  <tr><td><a href="/kzjd/news/1.html"><font size="2">坑梓街道开展法治宣传进社区活动</font></a></td></tr>
  <tr><td><a href="/kzjd/news/2.html"><font size="2">坑梓街道召开安全生产工作会议</font></a></td></tr>
  <tr><td><a href="/kzjd/news/3.html"><font size="2">坑梓街道举办营商环境座谈会</font></a></td></tr></table>
</td>
<td width="780" valign="top">
  <table width="96%" align="center"><tr><td height="30"><font size="2">您的位置：<a href="/kzjd/">首页</a> &gt;&gt; <a href="/kzjd/news/">街道动态</a></font></td></tr>
  <tr><td align="center"><font size="5" color="#cc0000"><b>{esc(title)}</b></font></td></tr>
  <tr><td align="center"><font size="2" color="#999999">发布时间：2025-2-5　来源：坑梓街道办　点击：<script>document.write(256)</script>次</font></td></tr>
  <tr><td><hr size="1" color="#cccccc"></td></tr>
  <tr><td class="content"><font style="font-size:10.5pt;line-height:200%">
{body}
  </font></td></tr>
  <tr><td align="right"><font size="2">【<a href="javascript:window.print()">打印此页</a>】【<a href="javascript:window.close()">关闭窗口</a>】</font></td></tr>
  </table>
</td></tr></table>
<table width="980" align="center"><tr><td align="center"><font size="2">版权所有 &copy; 深圳市坪山区坑梓街道办事处　粤ICP备05012345号-2</font></td></tr></table>
</body></html>"""
    return UnseenPage("gb18030_font", "old GB18030 site, <font> layout, <br> paragraphs",
                      "深圳市坪山区坑梓街道办事处", html.encode("gb18030"), None,
                      _expected("gb18030_font", path, title, "2025-02-05", "坑梓街道办", 2024, blocks))


# ------------------------------------------------------------------ 9. title only in <title>
def title_only() -> UnseenPage:
    """No article heading at all (the only *title* element holds the column name): the title is <title>
    minus its "_深圳市福田区人民政府门户网站" suffix; labelled 日期：; 来源 in the same line."""
    title = "深圳市福田区人民政府2024年法治政府建设年度报告"
    blocks: list[Block] = vary(seed_body("001"), salt="ftzf", drop_every=5,
                               replace={"南山区人民政府": "福田区人民政府", "南山": "福田"})
    path = "/xxgk/fzzfjs/content/post_12000001.html"
    body = "\n".join(f"<div class=\"para\">{esc(b)}</div>" for b in blocks)
    html = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(title)}_深圳市福田区人民政府门户网站</title></head>
<body>
<div class="site-head"><h1 class="site-logo">深圳市福田区人民政府门户网站</h1></div>
<div class="loc-bar">您现在的位置：首页 &gt; 政务公开 &gt; 法治政府建设</div>
<div class="col-box">
  <div class="col-title">法治政府建设</div>
  <div class="doc-attr">日期：2025-03-01 来源：福田区人民政府 【<a href="javascript:window.print()">打印</a>】</div>
  <div class="doc-body">
{body}
  </div>
</div>
<div class="site-foot">版权所有：深圳市福田区人民政府 网站标识码：4403040001</div>
</body></html>"""
    return UnseenPage("title_only", "title only in <title> with a site suffix", "深圳市福田区人民政府",
                      html.encode("utf-8"), "utf-8",
                      _expected("title_only", path, title, "2025-03-01", "福田区人民政府", 2024, blocks))


# ------------------------------------------------------------------ 10. 政府信息公开 record as <ul>/<li>, short notice
NOTICE_PARAS = (
    "各街道办事处，区政府各部门、各直属机构：",
    "《宝安区2025年法治政府建设工作要点》已经区政府同意，现印发给你们，请认真贯彻落实。",
    "一、提高思想认识",
    "各单位要把法治政府建设摆在工作全局的重要位置，主要负责人要切实履行推进法治建设第一责任人职责，加强组织领导和统筹协调。",
    "二、狠抓任务落实",
    "各单位要对照工作要点，结合实际制定具体落实措施，明确责任分工和完成时限，确保各项任务按期保质完成。",
    "三、加强督促检查",
    "区司法局要加强对工作要点落实情况的跟踪督促，重要情况及时报告区委、区政府。",
    "深圳市宝安区人民政府办公室",
    "2025年3月5日",
)


def ul_record_notice() -> UnseenPage:
    """A 信息公开 page of a provincial 集约化 platform: the record as `<ul><li><span>索引号：</span>…`, a short
    notice body ending with the issuer and date (落款, part of the body), .wps/.ofd attachments."""
    title = "深圳市宝安区人民政府办公室关于印发《宝安区2025年法治政府建设工作要点》的通知"
    blocks: list[Block] = list(NOTICE_PARAS)
    path = "/xxgk/zcfg/content/post_12345001.html"
    record = {"索引号": "11440306007543247T/2025-00321", "发布机构": "深圳市宝安区人民政府办公室",
              "文号": "深宝府办〔2025〕8号", "成文日期": "2025-03-05"}
    attachments = (("宝安区2025年法治政府建设工作要点.wps", "/attachment/1/1234/1234001.wps"),
                   ("宝安区2025年法治政府建设工作要点.ofd", "/attachment/1/1234/1234002.ofd"))
    body = "\n".join(f'<p style="text-align: right;">{esc(b)}</p>' if b in NOTICE_PARAS[-2:] else
                     f'<p style="text-indent: 2em;">{esc(b)}</p>' for b in blocks)
    links = "".join(f'<p><a href="{href}">{esc(text)}</a></p>' for text, href in attachments)
    html = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(title)}-宝安区人民政府门户网站</title></head>
<body>
<div class="g-header"><div class="w">宝安区人民政府门户网站 <a href="/">首页</a> <a href="/xxgk">政务公开</a></div></div>
<div class="w"><div class="g-crumb">当前位置：<a href="/">首页</a> &gt; <a href="/xxgk">政务公开</a> &gt; 政策法规</div>
<div class="gk-doc">
  <div class="gk-attr"><ul>
    <li><span>索引号：</span>{record["索引号"]}</li><li><span>分类：</span>其他</li>
    <li><span>发布机构：</span>{record["发布机构"]}</li><li><span>成文日期：</span>{record["成文日期"]}</li>
    <li><span>文号：</span>{record["文号"]}</li><li><span>发布日期：</span>2025-03-07</li>
    <li><span>有效性：</span>有效</li></ul></div>
  <h1 class="gk-doc-h">{esc(title)}</h1>
  <div class="gk-doc-c">
{body}
  </div>
  <div class="gk-doc-fj"><p>附件：</p>{links}</div>
  <div class="gk-doc-op"><a href="javascript:window.print()">【打印】</a><a href="javascript:window.close()">【关闭】</a></div>
</div></div>
<div class="g-footer">版权所有：深圳市宝安区人民政府 网站标识码：4403060001</div>
</body></html>"""
    return UnseenPage("ul_record_notice", "集约化 信息公开 record as <ul><li>, short notice with 落款",
                      "深圳市宝安区人民政府", html.encode("utf-8"), "utf-8",
                      _expected("ul_record_notice", path, title, "2025-03-07", "深圳市宝安区人民政府办公室", 2025,
                                blocks, attachments), record=record)


# ------------------------------------------------------------------ 11. <br><br> paragraphs, news sidebar with prose
def br_sidebar() -> UnseenPage:
    """District news template: body paragraphs in one `<div>` separated by `<br><br>` with full-width
    indents, a dateline "2025年01月18日 15:00 来源：宝安日报", 编辑/审核 credits, and a right column of
    "最新动态" items whose summaries are full sentences (prose competing with the body)."""
    title = "宝安区2024年法治建设工作综述"
    blocks: list[Block] = vary(seed_body("000"), salt="babr", drop_every=5,
                               replace={"坪山": "宝安", "深圳新闻网2025年1月26日讯": "宝安日报讯"})
    path = "/baxw/content/2025-01/18/content_777001.html"
    body = "<br><br>\n".join(f"\u3000\u3000{esc(b)}" for b in blocks)
    side = "".join(
        f'<li><a href="/baxw/{i}.html">{esc(t)}</a><p>{esc(s)}</p></li>' for i, (t, s) in enumerate((
            ("宝安区举办2025年新春招聘会", "1月17日，宝安区新春招聘会在区人才园举行，200余家企业提供岗位6000余个。"),
            ("宝安区召开优化营商环境大会", "会议总结了2024年全区营商环境改革成效，部署2025年重点改革任务。"),
            ("西乡街道开展春节前安全检查", "检查组深入辖区企业、商场和出租屋，排查消除各类安全隐患43处。"))))
    html = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(title)}_宝安新闻网</title></head>
<body>
<div class="hd"><a href="/">宝安新闻网</a> <a href="/baxw">宝安新闻</a> <a href="/tp">图片</a></div>
<div class="mn clearfix">
  <div class="mn-l">
    <h1 class="art-h">{esc(title)}</h1>
    <div class="art-line">2025年01月18日 15:00 <span>来源：宝安日报</span></div>
    <div class="art-txt">
{body}
<br><br>编辑：刘洋 审核：陈乐
    </div>
  </div>
  <div class="mn-r"><div class="zxdt"><h3>最新动态</h3><ul>{side}</ul></div></div>
</div>
<div class="ft">宝安新闻网 版权所有 粤ICP备18012345号</div>
</body></html>"""
    return UnseenPage("br_sidebar", "<br><br> paragraphs, news sidebar with sentence summaries", "宝安新闻网",
                      html.encode("utf-8"), "utf-8",
                      _expected("br_sidebar", path, title, "2025-01-18", "宝安日报", 2024, blocks))


# ------------------------------------------------------------------ 12. three-part <title>, <br> in the h1, record below
def record_below() -> UnseenPage:
    """A 区 portal: `<title>` "标题 - 栏目 - 站点", the h1 breaks the long title with `<br>`, body paragraphs
    are `<div style="text-indent:2em">`, and the disclosure record table comes AFTER the body."""
    title = "深圳市罗湖区人民政府2024年法治政府建设年度报告"
    blocks: list[Block] = vary(seed_body("001"), salt="lh2", drop_every=6,
                               replace={"南山区人民政府": "罗湖区人民政府", "南山": "罗湖"})
    path = "/xxgk/fzzfjs/content/post_12098765.html"
    record = {"索引号": "11440303007542001K/2025-00045", "发布机构": "深圳市罗湖区人民政府",
              "成文日期": "2025-01-22"}
    body = "\n".join(f'<div style="text-indent:2em;line-height:2">{esc(b)}</div>' for b in blocks)
    html = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{esc(title)} - 法治政府建设 - 深圳市罗湖区人民政府</title></head>
<body>
<div class="lh-top"><a href="/">首页</a> | 无障碍 | 长者版 | English</div>
<div class="lh-crumb">当前位置：首页 &gt; 政务公开 &gt; 法治政府建设</div>
<div class="lh-wrap">
  <h1 class="lh-h">深圳市罗湖区人民政府<br>
2024年法治政府建设年度报告</h1>
  <div class="lh-meta">发布时间：2025-01-24 10:30:00　　来源：罗湖区人民政府　　【字号：大 中 小】</div>
  <div class="lh-body">
{body}
  </div>
  <table class="lh-record" border="1">
    <tr><td>索引号</td><td>{record["索引号"]}</td><td>发布机构</td><td>{record["发布机构"]}</td></tr>
    <tr><td>成文日期</td><td>{record["成文日期"]}</td><td>发布日期</td><td>2025-01-24</td></tr>
    <tr><td>主题分类</td><td>综合政务</td><td>有效性</td><td>有效</td></tr>
  </table>
  <div class="lh-op">【<a href="javascript:window.print()">打印本页</a>】【<a href="javascript:window.close()">关闭窗口</a>】</div>
</div>
<div class="lh-foot">版权所有：深圳市罗湖区人民政府 网站标识码：4403030001 粤ICP备05012377号</div>
</body></html>"""
    return UnseenPage("record_below", "three-part <title>, <br> in h1, record table after the body",
                      "深圳市罗湖区人民政府", html.encode("utf-8"), "utf-8",
                      _expected("record_below", path, title, "2025-01-24", "深圳市罗湖区人民政府", 2024, blocks),
                      record=record)


def unseen_pages() -> list[UnseenPage]:
    """All held-out pages, in a fixed order."""
    return [hanweb(), trs_ueditor(), kaipuyun(), province_table(), mobile(), word_spans(), merged_table(),
            gb18030_font(), title_only(), ul_record_notice(), br_sidebar(),
            record_below()]
