"""TRS-CMS-style replica (深圳市坪山区人民政府): GBK, old table layout, script-only pagination."""
from __future__ import annotations

import math
from string import Template

from .corpus import Article
from .server import Chrome, ReplicaSite, Response, blocks_html, esc

COLUMN = "/zwgk/fzzfjsbg/"
PER_PAGE = 3

HEAD = Template("""<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">
<html>
<head>
<meta http-equiv="Content-Type" content="text/html; charset=gbk">
<meta http-equiv="X-UA-Compatible" content="IE=EmulateIE7">
<title>$title</title>
<meta name="keywords" content="坪山区,坪山区人民政府,政务公开">
<meta name="description" content="深圳市坪山区人民政府门户网站">
<link href="/images/szps_style.css" rel="stylesheet" type="text/css">
<script type="text/javascript" src="/js/jquery-1.8.3.min.js"></script>
<script type="text/javascript" src="/js/common.js?v=$nonce"></script>
</head>
<body bgcolor="#ffffff" leftmargin="0" topmargin="0">
<table width="1000" border="0" align="center" cellpadding="0" cellspacing="0" class="layout">
  <tr>
    <td height="30" class="topbar">
      <table width="100%" border="0" cellspacing="0" cellpadding="0"><tr>
        <td width="50%" class="today">$today</td>
        <td align="right" class="toplinks"><a href="/">网站首页</a> | <a href="/wza/">无障碍浏览</a> | <a href="/zhb/">长者模式</a> | <a href="javascript:void(0)" id="StranLink">繁體版</a> | <a href="/wzdt/">网站地图</a></td>
      </tr></table>
    </td>
  </tr>
  <tr>
    <td height="120" class="banner"><a href="/"><img src="/images/logo.png" width="520" height="90" alt="深圳市坪山区人民政府" border="0"></a>
      <form name="searchform" action="/search/" method="get" class="search"><input type="text" name="q" value="请输入关键字"><input type="submit" value="搜索"></form></td>
  </tr>
  <tr>
    <td class="nav">
      <table width="100%" border="0" cellspacing="0" cellpadding="0"><tr>
        <td><a href="/">首页</a></td><td><a href="/zwgk/">政务公开</a></td><td><a href="/zwfw/">政务服务</a></td>
        <td><a href="/hdjl/">互动交流</a></td><td><a href="/zjps/">走进坪山</a></td><td><a href="/ztzl/">专题专栏</a></td>
      </tr></table>
    </td>
  </tr>
  <tr>
    <td class="position" height="36">当前位置:<a href="/">首页</a> &gt; <a href="/zwgk/">政务公开</a> &gt; <a href="/zwgk/fzzfjsbg/index.html">法治政府建设年度报告</a>$crumb_tail</td>
  </tr>
""")

FOOT = Template("""  <tr>
    <td class="footer" align="center">
      <table width="100%" border="0" cellspacing="0" cellpadding="0">
        <tr><td align="center" class="footlinks"><a href="/wzdt/">网站地图</a> | <a href="/lxwm/">联系我们</a> | <a href="/yssm/">隐私声明</a> | <a href="/private/index.html">内部资料</a></td></tr>
        <tr><td align="center">版权所有:深圳市坪山区人民政府 &nbsp; 主办:深圳市坪山区人民政府办公室 &nbsp; 承办:深圳市坪山区政务服务和数据管理局</td></tr>
        <tr><td align="center">网站标识码:4403100041 &nbsp; <a href="https://beian.miit.gov.cn/">粤ICP备19046318号</a> &nbsp; 粤公网安备 44031002000036号</td></tr>
        <tr><td align="center">建议使用1280*800分辨率,IE9及以上版本浏览器浏览本网站</td></tr>
        <tr><td align="center"><img src="/images/jiucuo.png" alt="政府网站找错"> <img src="/images/dzjg.png" alt="党政机关"></td></tr>
      </table>
    </td>
  </tr>
</table>
<script type="text/javascript">var _trs_uv = "$nonce"; var _trs_ta_js = document.createElement("script");</script>
</body>
</html>
""")

PAGER_JS = """<script type="text/javascript">
function createPageHTML(_nPageCount, _nCurrIndex, _sPageName, _sPageExt){
  if(_nPageCount == null || _nPageCount<=1){ return; }
  var nCurrIndex = _nCurrIndex || 0;
  if(nCurrIndex == 0){
    document.write("首页&nbsp;上一页&nbsp;");
  } else if(nCurrIndex == 1){
    document.write("<a href=\\"" + _sPageName + "." + _sPageExt + "\\">首页</a>&nbsp;");
    document.write("<a href=\\"" + _sPageName + "." + _sPageExt + "\\">上一页</a>&nbsp;");
  } else {
    document.write("<a href=\\"" + _sPageName + "." + _sPageExt + "\\">首页</a>&nbsp;");
    document.write("<a href=\\"" + _sPageName + "_" + (nCurrIndex-1) + "." + _sPageExt + "\\">上一页</a>&nbsp;");
  }
  if(nCurrIndex + 1 >= _nPageCount){
    document.write("下一页&nbsp;尾页");
  } else {
    document.write("<a href=\\"" + _sPageName + "_" + (nCurrIndex+1) + "." + _sPageExt + "\\">下一页</a>&nbsp;");
    document.write("<a href=\\"" + _sPageName + "_" + (_nPageCount-1) + "." + _sPageExt + "\\">尾页</a>");
  }
  document.write("&nbsp;共" + _nPageCount + "页");
}
</script>"""

LISTING = Template("""  <tr>
    <td>
      <table width="100%" border="0" cellspacing="0" cellpadding="0"><tr>
        <td width="220" valign="top" class="leftnav">
          <table width="100%" border="0" cellspacing="0" cellpadding="0">
            <tr><td class="lefttitle">政务公开</td></tr>
            <tr><td><a href="/zwgk/zcfg/">政策法规</a></td></tr>
            <tr><td><a href="/zwgk/ghjh/">规划计划</a></td></tr>
            <tr><td class="on"><a href="/zwgk/fzzfjsbg/index.html">法治政府建设年度报告</a></td></tr>
            <tr><td><a href="/zwgk/tzgg/">通知公告</a></td></tr>
          </table>
        </td>
        <td valign="top" class="rightlist">
          <table width="100%" border="0" cellspacing="0" cellpadding="0">
            <tr><td class="coltitle">法治政府建设年度报告</td></tr>
            <tr><td>
              <ul class="list_ul">
$items
              </ul>
            </td></tr>
            <tr><td align="center" class="pagebar">$pager_js
<script type="text/javascript">createPageHTML($pages, $current, "index", "html");</script>
            </td></tr>
          </table>
        </td>
      </tr></table>
    </td>
  </tr>
""")

ARTICLE = Template("""  <tr>
    <td>
      <table width="100%" border="0" cellspacing="0" cellpadding="0" class="detail">
        <tr><td align="center" class="detail_title"><h1>$title</h1></td></tr>
        <tr><td align="center" class="detail_info"><span>来源:$publisher</span>&nbsp;&nbsp;<span>发布时间:$published</span>&nbsp;&nbsp;<span>浏览次数:<font id="viewcount">$count</font></span>&nbsp;&nbsp;<span class="fontsize">字体【<a href="javascript:doZoom(18)">大</a> <a href="javascript:doZoom(16)">中</a> <a href="javascript:doZoom(14)">小</a>】</span>&nbsp;&nbsp;<span class="eyecare">视力保护色:<a href="javascript:setColor('#FAFBE6')" class="c1">&nbsp;</a><a href="javascript:setColor('#FFF2E2')" class="c2">&nbsp;</a><a href="javascript:setColor('#E3EDCD')" class="c3">&nbsp;</a><a href="javascript:setColor('#FFFFFF')" class="c4">&nbsp;</a></span></td></tr>
        <tr><td class="detail_content" id="zoom">
<div class="TRS_Editor"><div class="TRS_PreAppend" style="display:none;" id="_TRS_PreAppend">&nbsp;</div>
$body
</div>
        </td></tr>
        <tr><td align="right" class="detail_tools">【<a href="javascript:window.print()">打印本页</a>】 【<a href="javascript:window.close()">关闭窗口</a>】</td></tr>
        <tr><td class="detail_prevnext">
          <p>上一篇:$prev</p>
          <p>下一篇:$next</p>
        </td></tr>
      </table>
    </td>
  </tr>
""")


class TrsSite(ReplicaSite):
    """深圳市坪山区人民政府, TRS WCM template: GBK, table layout, createPageHTML pagination."""

    key = "trs"
    name = "深圳市坪山区人民政府"
    district = "坪山区"
    charset = "gbk"
    start_path = COLUMN + "index.html"
    article_urls = (r"/content/post_\d+\.html$",)
    listing_urls = (r"/index(_\d+)?\.html$",)
    column = COLUMN


    def frame(self, chrome: Chrome, title: str, crumb_tail: str, main: str) -> str:
        return (HEAD.substitute(title=esc(title), nonce=chrome.nonce, today=chrome.today, crumb_tail=crumb_tail)
                + main + FOOT.substitute(nonce=chrome.nonce))

    def home(self, state: int) -> Response:
        chrome = self.chrome()
        latest = "".join(f'<tr><td><a href="{a.path}">{esc(a.title)}</a></td><td>{a.date}</td></tr>'
                         for a in self.live(state)[:5])
        main = f"""  <tr><td><table width="100%"><tr><td class="coltitle">
<a href="{COLUMN}index.html">法治政府建设年度报告</a></td></tr>{latest}</table></td></tr>\n"""
        return Response(200, self.frame(chrome, "深圳市坪山区人民政府", "", main), "text/html; charset=gbk")

    def listing(self, index: int, state: int) -> Response | None:
        articles = self.live(state)
        pages = max(1, math.ceil(len(articles) / PER_PAGE))
        if index >= pages:
            return None
        chunk = articles[index * PER_PAGE:(index + 1) * PER_PAGE]
        items = "\n".join(
            f'                <li><span class="time">{a.date}</span><a href="./content/{a.path.rsplit("/", 1)[1]}" '
            f'title="{esc(a.title)}" target="_blank">{esc(a.title)}</a></li>' for a in chunk)
        chrome = self.chrome()
        main = LISTING.substitute(items=items, pager_js=PAGER_JS, pages=pages, current=index)
        return Response(200, self.frame(chrome, "法治政府建设年度报告-深圳市坪山区人民政府", "", main),
                        "text/html; charset=gbk")

    def article_html(self, article: Article, state: int) -> str:
        articles = self.live(state)
        i = next(n for n, a in enumerate(articles) if a.path == article.path)

        def link(n: int) -> str:
            if 0 <= n < len(articles):
                return f'<a href="{articles[n].path}">{esc(articles[n].title)}</a>'
            return "没有了"

        chrome = self.chrome()
        main = ARTICLE.substitute(
            title=esc(article.title), publisher=esc(article.publisher), published=article.published,
            count=chrome.count, body=blocks_html(article.blocks, indent="\u3000\u3000",
                                                 table_attrs='width="90%" border="1" cellspacing="0" cellpadding="4" align="center"'),
            prev=link(i - 1), next=link(i + 1))
        return self.frame(chrome, f"{article.title}-深圳市坪山区人民政府", " &gt; 正文", main)
