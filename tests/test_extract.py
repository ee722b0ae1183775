"""crawler.extract on hand-made templates that differ from the replica sites (other class names, layout
tables, chrome with meaningless class names, <br> paragraphs, gkmlpt JSON), to prove the rules are general."""
from __future__ import annotations

import json
import re
import threading

import pytest

from crawler.extract import EXTRACTOR_VERSION, Page, RulesError, extract_page
from crawler.extract.dates import labelled_date, parse_date
from crawler.extract.meta import report_year
from crawler.extract.rules import load_rules

PARAS = (
    "2024年,南山区人民政府全面贯彻党的二十大和二十届三中全会精神,深入贯彻习近平法治思想,推动法治政府建设取得积极成效。",
    "一、深入学习贯彻党的二十大精神和习近平法治思想,加大法治政府建设统筹推进力度",
    "(一)深入学习贯彻习近平法治思想和党的二十大精神。牢牢把握学习主线,举办区级领导班子读书班,开展区委常委会“第一议题”学习97次。",
    "(二)切实履行推进法治政府建设第一责任人职责。组织开展党政主要负责人述法工作,共提交述法报告196份。",
    "二、存在不足",
    "部分行政执法单位仍存在重实体轻程序、文书制作不够规范等问题,个别行政执法单位行使自由裁量权不够规范。",
)
TABLE = (("指标", "2023年", "2024年"), ("行政规范性文件备案审查率", "100%", "100%"), ("普法宣传活动(场)", "35", "48"))
TITLE = "深圳市南山区人民政府2024年法治政府建设年度报告"
CHROME = ("扫一扫在手机打开当前页", "分享到", "当前位置", "您现在的位置", "上一篇", "下一篇", "字号", "视力保护色",
          "版权所有", "网站标识码", "ICP备", "打印本页", "关闭窗口", "浏览次数", "责任编辑", "我要纠错", "扫码下载",
          "二维码", "相关链接", "触碰右侧展开", "首页")


def p_html(paras, indent="&emsp;&emsp;") -> str:
    return "\n".join(f"<p>{indent}{p}</p>" for p in paras)


def table_html(rows) -> str:
    body = "".join("<tr>" + "".join(f"<td><p>{c}</p></td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="MsoNormalTable" border="1"><tbody>{body}</tbody></table>'


def expected_body(paras=PARAS, table=None, table_after=3) -> str:
    lines = list(paras)
    if table:
        lines[table_after:table_after] = [" | ".join(r) for r in table]
    return "\n".join(lines)


def div_template() -> str:
    """Modern div CMS, its own class names, labels in spans, share/QR blocks, attachments."""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>{TITLE}-深圳市南山区政府在线</title></head>
<body><div id="topper"><a href="/">首页</a> | <a href="/en">English</a> | 无障碍 | 长者模式</div>
<div class="bread-box">您现在的位置：<a href="/">首页</a> &gt; <a>政务公开</a> &gt; 年度报告</div>
<div class="wrapper"><div class="art-hd"><h2>{TITLE}</h2>
<p class="art-info"><span>发布时间：2024年12月31日 17:30</span> <span>来源：南山区人民政府</span>
<span>浏览次数：<b>1234</b></span> <span>【字号：<a>大</a> <a>中</a> <a>小</a>】</span></p></div>
<div class="article-body">{p_html(PARAS[:3])}{table_html(TABLE)}{p_html(PARAS[3:])}
<p>附件：<a href="/files/2024/report.pdf">2024年度报告全文.pdf</a></p>
<p><a href="files/tz.docx">工作台账.docx</a></p></div>
<div class="bdsharebuttonbox">分享到：<a class="bds_weixin">微信</a><a class="bds_tsina">微博</a>
<a>QQ空间</a></div>
<div class="wx-code"><img src="/qr.png"><p>扫一扫在手机打开当前页</p></div>
<div class="art-page"><p><a>上一篇：关于印发工作要点的通知</a></p><p><a>下一篇：2023年度报告</a></p></div>
<div class="btns"><a>打印本页</a> <a>关闭窗口</a></div></div>
<div id="bottom"><p>版权所有：深圳市南山区人民政府 网站标识码：4403050001 粤ICP备05012345号</p>
</div></body></html>"""


def trs_table_template() -> str:
    """Old TRS layout: the whole page inside layout tables; disclosure record table; <br> breaks."""
    record = """<table class="xxgk_table"><tr><td>索引号：</td><td>11440305007542823P/2024-01288</td>
<td>分类：</td><td>法治政府建设</td></tr><tr><td>发布机构：</td><td>深圳市南山区司法局</td>
<td>成文日期：</td>
<td>2024-12-30</td></tr><tr><td>名称：</td><td colspan="3">{t}</td></tr><tr><td>文号：</td>
<td>深南司〔2024〕12号</td>
<td>发布日期：</td><td>2024-12-31</td></tr><tr><td>主题词：</td><td>法治</td><td>有效性：</td>
<td>有效</td></tr></table>"""
    return f"""<html><head><meta http-equiv="Content-Type" content="text/html; charset=gb2312">
<title>{TITLE}</title></head><body>
<table width="1000" align="center"><tr><td><img src="/banner.jpg"> 深圳市南山区人民政府</td></tr></table>
<table width="1000" align="center"><tr>
<td class="dh">当前位置：<a>首页</a>&gt;<a>信息公开</a>&gt;<a>年度报告</a></td></tr>
<tr><td>{record.format(t=TITLE)}</td></tr>
<tr><td align="center" class="bt">{TITLE}</td></tr>
<tr>
<td align="center">时间：2024-12-31 来源：深圳市南山区司法局 &nbsp;&nbsp;[字体：<a>大</a> <a>中</a> <a>小</a>]</td>
</tr>
<tr><td class="zw"><div class="TRS_Editor">{"<br>".join("　　" + p for p in PARAS[:3])}
<br>{table_html(TABLE)}{"<br>".join("　　" + p for p in PARAS[3:])}</div></td></tr>
<tr><td>【<a>我要纠错</a>】 【<a>打印本页</a>】 【<a>关闭窗口</a>】</td></tr></table>
<table width="1000" align="center"><tr>
<td>主办：深圳市南山区人民政府办公室 版权所有 网站标识码：4403050001</td></tr>
<tr><td>粤ICP备05012345号-1 粤公网安备44030502000001号</td></tr></table></body></html>"""


def obscure_template() -> str:
    """Chrome in containers whose class names mean nothing: only the phrase layer can catch it."""
    return f"""<html><head><title>{TITLE}_南山区政府</title><meta name="ArticleTitle" content="{TITLE}">
<meta name="PubDate" content="2024-12-31 17:30"><meta name="ContentSource" content="南山区人民政府">
</head><body>
<div class="k1"><span>首页</span> &gt; <span>政务公开</span></div><div class="q7"><h1>{TITLE}</h1>
<div class="q8">{p_html(PARAS, indent="")}</div>
<div class="z3">手机扫一扫打开当前页面</div><div class="z4">扫码下载南山发布APP(安卓版)</div>
<div class="z5">微信里点“发现”,扫一下</div><div class="z6">二维码便可将本文分享至朋友圈。</div>
<div class="z7">视力保护色：<a>绿</a> 触碰右侧展开</div><div class="z8">责任编辑：王芳</div></div>
<div class="z9"><p>相关链接</p><ul><li><a>南山区2023年法治政府建设年度报告</a></li></ul></div>
</body></html>"""


def gkmlpt_template() -> str:
    """gkmlpt article shell: the body is JSON-escaped HTML in _CONFIG.DETAIL.content."""
    detail = {"id": 11211830, "title": TITLE, "publisher": "南山区人民政府", "identifier": "11440305/2024-00125",
              "document_number": "", "publish_time": "2024-12-31 17:30:00",
              "attachment": [{"name": "报告全文.pdf", "url": "/attachment/1/report.pdf", "ext": "pdf"}],
              "content": p_html(PARAS[:3]) + table_html(TABLE) + p_html(PARAS[3:])}
    return f"""<html><head><title>{TITLE}</title></head><body><div id="app"></div>
<script>var _CONFIG = {{}}; _CONFIG.DETAIL = {json.dumps(detail)};
_CONFIG.SITE = {{"name": "南山区政府"}};</script>
<div class="footer">版权所有 深圳市南山区人民政府</div></body></html>"""


GXQ = ("2023年,市高新区坚持以习近平新时代中国特色社会主义思想为指导,深入学习贯彻习近平法治思想,"
       "全面学习贯彻党的二十大精神。",
       "一、2023年主要工作", "(一)强化法治思想建设,增强法治思维",
       "1.深入学习宣传贯彻党的二十大精神和习近平法治思想。区党工委、管委会主要负责同志高度重视法治政府建设。",
       "二、存在的问题和不足", "一是信访维稳工作压力大。我区作为经济功能区,相关的专职机构缺失。")
GXQ_TITLE = "高新区2023年法治政府建设年度报告"


def font_layout_template() -> str:
    """<font>/<br> body in a layout table next to a 'related articles' column whose items read as prose;
    record labels without colons; the title only in a div."""
    body = "<br>".join("&nbsp;&nbsp;&nbsp;&nbsp;" + p for p in GXQ)
    return f"""<html><head><title>{GXQ_TITLE} - 河源市高新区管委会</title></head><body>
<table><tr><td><h1>河源市高新区管委会</h1></td></tr><tr><td>
<table><tr><td>索引号</td><td>007-2024-0001</td><td>发布机构</td><td>河源市高新区管委会</td></tr>
<tr><td>发文日期</td><td>2024-02-19</td><td>文号</td><td>无</td></tr></table>
<div class="biaoti">{GXQ_TITLE}</div><div>发布时间：2024年2月20日 阅读次数：88 【打印】【关闭】</div>
<div id="zoom"><font size="3">{body}</font></div>
<div>（责任编辑：李四）</div></td><td width="200"><div class="r"><h3>相关文章</h3>
<p><a>高新区2022年法治政府建设年度报告</a>。本文介绍了2022年高新区的法治政府建设情况,内容详实。</p></div></td></tr>
</table><div>Copyright © 2024 河源市高新区 All rights reserved 粤ICP备1234号</div></body></html>"""


def heading_divs_template() -> str:
    """Paragraphs as <div>, headings as <h3>/<h4>, a <th> table with <br> in a cell, an unlabelled date."""
    return f"""<html><head><title>{GXQ_TITLE}_高新区</title></head><body>
<div class="logo"><h1>高新区门户</h1></div><div class="wz">所在位置：首页 > 公开</div>
<div class="con"><h2 class="t">{GXQ_TITLE}</h2>
<div class="sub">2024-02-20 15:19 来源：本网 分享：<i class="wx"></i><i class="wb"></i> 字号：T|T</div>
<div class="txt"><div>{GXQ[0]}</div><h3>{GXQ[1]}</h3><h4>{GXQ[2]}</h4><div>{GXQ[3]}</div><h3>{GXQ[4]}</h3>
<div>{GXQ[5]}</div><table><tr><th>项目</th><th>数量<br>(件)</th></tr><tr><td>受理</td><td>489</td></tr></table></div>
<div class="bottom-tools">【打印本页】【关闭窗口】</div></div>
<div class="ft">主办单位：河源市高新区管委会　网站标识码：4416000001</div></body></html>"""


def test_layout_with_related_column_and_colonless_record():
    page = extract_page(font_layout_template(), "http://x.gov.cn/a.html", site_name="河源市高新区")
    assert_clean(page, "\n".join(GXQ))
    assert (page.title, page.published, page.publisher, page.report_year) == (
        GXQ_TITLE, "2024-02-20", "河源市高新区管委会", 2023)
    assert page.record == {"索引号": "007-2024-0001", "发布机构": "河源市高新区管委会", "成文日期": "2024-02-19",
                           "文号": "无"}


def test_div_paragraphs_headings_and_dateline():
    page = extract_page(heading_divs_template(), "http://x.gov.cn/a.html", site_name="河源市高新区")
    assert_clean(page, "\n".join(GXQ) + "\n项目 | 数量 (件)\n受理 | 489")
    assert (page.title, page.published, page.publisher, page.report_year) == (
        GXQ_TITLE, "2024-02-20", "本网", 2023)


def assert_clean(page: Page, body: str) -> None:
    assert page.text == body
    for phrase in CHROME:
        assert phrase not in page.text, phrase


def test_div_template_body_metadata_attachments():
    page = extract_page(div_template(), "http://example.gov.cn/xxgk/a/post_1.html", site_name="南山区政府在线")
    assert_clean(page, expected_body(table=TABLE))
    assert (page.title, page.published, page.publisher, page.report_year) == (
        TITLE, "2024-12-31", "南山区人民政府", 2024)
    assert page.attachments == [("http://example.gov.cn/files/2024/report.pdf", "2024年度报告全文.pdf"),
                                ("http://example.gov.cn/xxgk/a/files/tz.docx", "工作台账.docx")]
    assert page.record == {}


def test_trs_layout_tables_keep_paragraphs_and_record():
    page = extract_page(trs_table_template(), "http://example.gov.cn/a.html", site_name="南山区")
    assert_clean(page, expected_body(table=TABLE))
    assert (page.title, page.published, page.publisher, page.report_year) == (
        TITLE, "2024-12-31", "深圳市南山区司法局", 2024)
    assert page.record["索引号"] == "11440305007542823P/2024-01288"
    assert page.record["文号"] == "深南司〔2024〕12号"
    assert page.record["成文日期"] == "2024-12-30" and page.record["有效性"] == "有效"


def test_phrase_layer_catches_chrome_in_unknown_containers():
    page = extract_page(obscure_template(), "http://example.gov.cn/a.html")
    assert_clean(page, expected_body())
    assert (page.title, page.published, page.publisher) == (TITLE, "2024-12-31", "南山区人民政府")


def test_gkmlpt_detail_json_body_and_hints():
    page = extract_page(gkmlpt_template(), "http://example.gov.cn/gkmlpt/content/1/post_1.html",
                        site_name="南山区政府", hints={"document_number": "深南府〔2024〕1号"})
    assert_clean(page, expected_body(table=TABLE))
    assert (page.title, page.published, page.publisher) == (TITLE, "2024-12-31", "南山区人民政府")
    assert page.record == {"索引号": "11440305/2024-00125", "文号": "深南府〔2024〕1号", "发布机构": "南山区人民政府"}
    assert page.attachments == [("http://example.gov.cn/attachment/1/report.pdf", "报告全文.pdf")]


def test_hints_win_and_site_name_is_fallback_publisher():
    html = f"<html><head><title>报告_某区政府</title></head><body><h1>{TITLE}</h1>{p_html(PARAS)}</body></html>"
    page = extract_page(html, "http://x.gov.cn/1.html", site_name="某区政府")
    assert page.publisher == "某区政府" and page.title == TITLE
    hinted = extract_page(html, "http://x.gov.cn/1.html", site_name="某区政府",
                          hints={"title": "另一个标题", "published": "2024-03-05", "publisher": "某局"})
    assert (hinted.title, hinted.published, hinted.publisher) == ("另一个标题", "2024-03-05", "某局")


def test_title_when_page_title_is_the_site_and_logo_is_a_heading():
    html = ("<html><head><title>坪山区人民政府门户网站</title></head><body>"
            "<div class='top'><h1>坪山区人民政府门户网站</h1></div>"
            f"<div class='col-title'>计划总结</div><div class='main'><div class='article-title'>{TITLE}</div>"
            f"<div class='c'>{p_html(PARAS)}</div></div></body></html>")
    page = extract_page(html, "http://x.gov.cn/1.html", site_name="深圳市坪山区人民政府")
    assert page.title == TITLE and page.text == expected_body()


def test_body_sentences_using_chrome_words_are_kept():
    """Words that are chrome in a toolbar (访问量, 二维码, 字体, 无障碍, 技术支持) stay when they are body text."""
    body = ["2024年,本区政务公开工作取得新进展,现将有关情况报告如下。", "(三)推进无障碍环境建设",
            "全年政府网站访问量达1200万次。",
            "通过扫描二维码参与问卷调查并提交意见建议,共收集意见300余条。", "(四)强化技术支持",
            "统一公文字体字号格式,提升公文质量。"]
    html = ("<html><head><title>某区2024年政务公开年度报告_某区</title></head><body><h1>某区2024年政务公开年度报告</h1>"
            "<div>发布时间：2024-01-02 浏览次数：99 阅读：12</div>" + "".join(f"<p>{b}</p>" for b in body)
            + "<div>字号：大 中 小</div><div>无障碍</div><div>技术支持：某某公司</div></body></html>")
    page = extract_page(html, "http://x.gov.cn/1.html")
    assert page.text == "\n".join(body)
    assert page.published == "2024-01-02"


def test_source_prune_selectors_drop_extra_blocks():
    html = (f"<html><body><h1>{TITLE}</h1>{p_html(PARAS)}"
            "<div class='special-box'><p>本站特别推荐内容一条,欢迎阅读。</p></div></body></html>")
    assert "特别推荐" in extract_page(html, "http://x/1").text
    assert "特别推荐" not in extract_page(html, "http://x/1", prune=[".special-box"]).text
    assert "特别推荐" not in extract_page(html, "http://x/1", prune=["//div[@class='special-box']"]).text
    with pytest.raises(RulesError, match="bad prune selector"):
        extract_page(html, "http://x/1", prune=["div[["])


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="empty HTML"):
        extract_page("   ", "http://x/1")
    with pytest.raises(TypeError, match="decoded text"):
        extract_page(b"<html></html>", "http://x/1")  # type: ignore[arg-type]


def test_no_state_between_calls_and_threads():
    """Same page many times, also from threads: same result (trafilatura's dedup cache would blank it)."""
    html = div_template()
    first = extract_page(html, "http://x/1")
    results = []
    threads = [threading.Thread(target=lambda: results.append(extract_page(html, "http://x/1"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    again = [extract_page(html, "http://x/1") for _ in range(4)]
    assert all(r == first for r in results + again) and len(results) == 4
    assert EXTRACTOR_VERSION


@pytest.mark.parametrize("text,expected", [
    ("2024-02-20 15:19:40", "2024-02-20"), ("2024年02月22日", "2024-02-22"), ("2024年 2月 2日", "2024-02-02"),
    ("2024/2/22", "2024-02-22"), ("2024.02.22", "2024-02-22"), ("20240222", "2024-02-22"), ("2024-13-01", None),
])
def test_parse_date_forms(text, expected):
    assert parse_date(text) == expected


def test_labelled_dates_prefer_publication_labels():
    labels = load_rules().date_labels
    assert labelled_date("成文日期：2024-01-05\n发布日期：2024-01-08", labels) == "2024-01-08"
    assert labelled_date("来源:本网时间:2024-02-20 15:19:40", labels) == "2024-02-20"
    assert labelled_date("信息提供日期:2025-02-25 15:22", labels) == "2025-02-25"
    assert labelled_date("会议于2024年3月召开", labels) is None


@pytest.mark.parametrize("title,opening,year", [
    ("2024年法治政府建设年度报告", "", 2024), ("法治政府建设年度报告(2023年度)", "", 2023),
    ("坪山区法治建设成效显著", "深圳新闻网2025年1月26日讯 2024年,坪山区紧紧围绕", 2024),
    ("关于开展安全生产检查的通知", "各街道办事处:", None),
])
def test_report_year(title, opening, year):
    assert report_year(title, opening) == year


def test_chrome_rules_are_data():
    rules = load_rules()
    assert "扫一扫" in rules.chrome_phrases and rules.prune and rules.record_labels["索引号"] == "索引号"
    assert all(re.compile(p.pattern) for p in rules.chrome_line_patterns)


@pytest.mark.parametrize("doc_title,parts", [
    ("报告_龙华区政府在线", ["报告", "龙华区政府在线"]),
    ("深圳市2023-2024年度报告-龙华区政府在线", ["深圳市2023-2024年度报告", "龙华区政府在线"]),
    ("坚持依法行政——某区2023年报告", ["坚持依法行政——某区2023年报告"]),
    ("某区2023-2024年度报告", ["某区2023-2024年度报告"]),
])
def test_title_site_suffix_split(doc_title, parts):
    from crawler.extract.meta import title_parts

    assert title_parts(doc_title, load_rules()) == parts


@pytest.mark.parametrize("info,publisher,published", [
    ("来源：坪山发布发布时间：2024-01-02", "坪山发布", "2024-01-02"),
    ("信息来源：深圳市生态环境保护局 【字体：大 中 小】", "深圳市生态环境保护局", None),
    ("来源:深圳特区报  作者:张三 编辑:李四", "深圳特区报", None),
    ("时间:2024-12-31来源:南山区人民政府", "南山区人民政府", "2024-12-31"),
    ("日期:2024年 02月 22日    信息来源: 光明区", "光明区", "2024-02-22"),
    ("来源：<br>访问量：199<br>发布日期：2017-05-15 10:49:00", "站点", "2017-05-15"),  # an empty 来源
    ("来源：【南山区司法局】 发布时间：2024-12-31", "南山区司法局", "2024-12-31"),
])
def test_publisher_label_values_are_trimmed(info, publisher, published):
    html = (f"<html><head><title>{TITLE}_X</title></head><body><h1>{TITLE}</h1><div>{info}</div>"
            f"{p_html(PARAS)}</body></html>")
    page = extract_page(html, "http://x.gov.cn/1.html", site_name="站点")
    assert (page.publisher, page.published) == (publisher, published)
    assert page.text == expected_body()


# ---------------------------------------------------------------- template faults of real sites (issue 11)
@pytest.mark.parametrize("stray", ["</html>", "</body>", "</body></html>", "</BODY>\n</HTML>", "</html >"])
@pytest.mark.parametrize("where", ["header", "before-body"])
def test_stray_document_end_tags_never_lose_the_body(stray, where):
    """A header include that closes the document (`</body></html>` before the article) must not end the
    page: the body after it is still the body, as in a browser."""
    header = f'<div class="top"><a href="/">首页</a> | 无障碍</div>{stray}' if where == "header" else ""
    before = stray if where == "before-body" else ""
    html = (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{TITLE}_南山区政府在线</title></head>{before}"
            f"<body>{header}<div class='main'><h1>{TITLE}</h1><p>发布时间：2024-12-31 来源：南山区人民政府</p>"
            f"<div class='content'>{p_html(PARAS)}</div></div>"
            f"<div class='footer'>版权所有 深圳市南山区人民政府</div></body></html>")
    page = extract_page(html, "http://x.gov.cn/1.html", site_name="南山区政府在线")
    assert page.text == expected_body()
    assert (page.title, page.published, page.publisher) == (TITLE, "2024-12-31", "南山区人民政府")


def test_parse_html_keeps_everything_after_a_stray_end_tag():
    from crawler.extract.text import parse_html

    tree = parse_html("<html><body><p>页头</p></body></html><div id='a'><p>正文。</p></div></body></html>")
    body = tree.find("body")
    assert [p.text for p in body.iter("p")] == ["页头", "正文。"]
    assert tree.find(".//div[@id='a']").getparent() is body


@pytest.mark.parametrize("label", ["来源于：", "稿件来源：", "文章来源：", "发布单位：", "来源单位："])
def test_more_publisher_labels(label):
    html = (f"<html><head><title>{TITLE}_X</title></head><body><h1>{TITLE}</h1>"
            f"<div class='info'>发布时间：2024-12-31 {label}深圳市南山区司法局</div>{p_html(PARAS)}</body></html>")
    page = extract_page(html, "http://x.gov.cn/1.html", site_name="站点")
    assert page.publisher == "深圳市南山区司法局"
    assert page.text == expected_body()


@pytest.mark.parametrize("value,publisher", [
    ("来源：人民网-文化频道 原创稿", "人民网-文化频道"),
    ("来源: 深圳特区报", "深圳特区报"),
    ("稿件来源：南山区委宣传部", "南山区委宣传部"),
    ("南方日报", "南方日报"),
])
def test_source_meta_is_stored_without_its_label(value, publisher):
    html = (f"<html><head><title>{TITLE}_X</title><meta name='source' content='{value}'></head><body>"
            f"<h1>{TITLE}</h1>{p_html(PARAS)}</body></html>")
    assert extract_page(html, "http://x.gov.cn/1.html", site_name="站点").publisher == publisher


def test_title_element_holding_the_info_line_gives_the_clean_title():
    """A news portal's title block holds the heading and the info line in one element."""
    title = "文化惠民活动走进社区 群众共享文化盛宴"
    html = (f"<html><head><title>{title}--文化·娱乐--人民网</title></head><body>"
            f"<div class='nav'><a>首页</a></div>"
            f"<div class='title-box'><h1>{title}</h1><div>来源：人民网-文化频道 作者：张三 2023-12-01 14:43</div></div>"
            f"<div class='sidebar'><h3 class='title'><a>一周热点新闻回顾</a></h3></div>"
            f"<div class='article'>{p_html(PARAS)}</div></body></html>")
    page = extract_page(html, "http://culture.people.com.cn/n1/2023/1201/c1.html", site_name="人民网")
    assert page.title == title
    assert (page.published, page.publisher) == ("2023-12-01", "人民网-文化频道")
    assert page.text == expected_body()


def test_title_glued_to_its_info_line_in_one_element():
    title = "区政府召开常务会议研究部署年度重点工作"
    html = (f"<html><head><title>{title}</title></head><body>"
            f"<div class='articleTitle'>{title}来源：区政府办公室 作者：李四 2023-12-01 14:43</div>"
            f"<div class='article'>{p_html(PARAS)}</div></body></html>")
    page = extract_page(html, "http://x.gov.cn/1.html", site_name="站点")
    assert page.title == title
    assert page.published == "2023-12-01"


def test_document_title_naming_the_article_beats_a_sidebar_heading():
    title = "关于做好2024年度法治政府建设年度报告公开工作的通知"
    html = (f"<html><head><title>{title}</title></head><body>"
            f"<div class='side'><h2><a href='/x'>深圳市南山区人民政府门户网站信息公开专栏</a></h2></div>"
            f"<div class='box'><div class='content'>{p_html(PARAS)}</div></div></body></html>")
    page = extract_page(html, "http://x.gov.cn/1.html", site_name="站点")
    assert page.title == title


@pytest.mark.parametrize("trailer", [
    "【编辑:王芳】", "(责编：王芳、李四)", "（责编：王芳）", "点击进入专题>>", "点击进入南山区法治政府建设专题 >>",
    "【1】【2】【3】", "[1] [2] [3] [下一页]", "【责任编辑：王芳】",
])
def test_trailing_editor_notes_links_and_pagers_are_dropped(trailer):
    html = (f"<html><head><title>{TITLE}_X</title></head><body><h1>{TITLE}</h1>"
            f"<div class='content'>{p_html(PARAS)}<p>{trailer}</p></div></body></html>")
    assert extract_page(html, "http://x.gov.cn/1.html", site_name="站点").text == expected_body()


def test_body_sentences_mentioning_editors_and_pages_are_kept():
    paras = (*PARAS, "区融媒体中心编辑部全年编辑稿件1200篇,点击进入率明显提升。",
             "第1条至第3条规定的事项,按【1】【2】两类分别办理。")
    html = (f"<html><head><title>{TITLE}_X</title></head><body><h1>{TITLE}</h1>"
            f"<div class='content'>{p_html(paras)}</div></body></html>")
    assert extract_page(html, "http://x.gov.cn/1.html", site_name="站点").text == expected_body(paras)


# ---------------------------------------------------------------- properties
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5)
PARAGRAPH = st.text(CJK, min_size=1, max_size=30).map(lambda s: s + "。")
END_TAGS = st.sampled_from(["</html>", "</body>", "</body></html>", "</HTML>", "</ body >", "</html\n>"])


@settings(max_examples=60, deadline=None)
@given(st.lists(PARAGRAPH, min_size=1, max_size=8), st.lists(st.tuples(st.integers(0, 8), END_TAGS), max_size=4))
def test_stray_end_tags_anywhere_keep_every_paragraph_in_order(paragraphs, strays):
    from crawler.extract.text import parse_html

    blocks = [f"<p>{p}</p>" for p in paragraphs]
    for position, tag in sorted(strays, reverse=True):
        blocks.insert(min(position, len(blocks)), tag)
    tree = parse_html(f"<html><head><title>t</title></head><body>{''.join(blocks)}</body></html>")
    assert [p.text for p in tree.find("body").iter("p")] == paragraphs


@settings(max_examples=60, deadline=None)
@given(st.text(CJK, min_size=6, max_size=40), st.data())
def test_a_title_wrapped_over_lines_at_the_head_is_dropped(title, data):
    from crawler.extract.text import strip_edges

    cuts = sorted(data.draw(st.sets(st.integers(1, len(title) - 1), max_size=3)))
    pieces = [title[a:b] for a, b in zip([0, *cuts], [*cuts, len(title)], strict=True)]
    body = ["本机关" + "依法履行职责" * 12 + "。", "二是完善制度。"]
    assert strip_edges([*pieces, *body], load_rules(), title=title, values=[]) == body
    # a body line that only starts like the title is kept
    assert strip_edges([title[:3], *body], load_rules(), title=title, values=[])[0] == title[:3]
