"""What the replica sites publish: every article, in which state it is live, and the state-2 changes.

Pure data (no HTTP). Bodies are tuples of blocks: a paragraph string or a table (tuple of rows of
cells). As expected text, a table row is its cells joined by " | ", one row per line.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from .seeds import seed_body, vary

Table = tuple[tuple[str, ...], ...]
Block = str | Table
BOTH = frozenset({1, 2})
ONLY_1 = frozenset({1})
ONLY_2 = frozenset({2})


@dataclass(frozen=True)
class Article:
    """One article of one replica site (paths are site-relative)."""

    site: str
    key: str
    path: str
    title: str
    published: str  # "YYYY-MM-DD HH:MM:SS" as the page states it
    publisher: str
    report_year: int | None
    blocks: tuple[Block, ...]
    attachments: tuple[tuple[str, str], ...] = ()  # (link text, site-relative path)
    is_report: bool = True
    states: frozenset[int] = BOTH
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def date(self) -> str:
        return self.published[:10]


@dataclass(frozen=True)
class SiteChanges:
    """What differs on one site between state 1 and state 2 (site-relative paths)."""

    edited: str
    withdrawn: str
    new: str
    old_figure: str
    new_figure: str
    removed_sentence: str


def body_text(blocks: tuple[Block, ...]) -> str:
    """Expected plain body: one paragraph per line, table rows as cells joined by ' | '."""
    lines: list[str] = []
    for block in blocks:
        if isinstance(block, str):
            lines.append(block)
        else:
            lines.extend(" | ".join(row) for row in block)
    return "\n".join(lines)


def edit_blocks(blocks: tuple[Block, ...], change: SiteChanges) -> tuple[Block, ...]:
    """The state-2 body: one figure changed and one sentence removed (each must occur exactly once)."""
    text = body_text(blocks)
    for needle in (change.old_figure, change.removed_sentence):
        if text.count(needle) != 1:
            raise ValueError(f"edit needle {needle!r} occurs {text.count(needle)} times, need exactly 1")
    out: list[Block] = []
    for block in blocks:
        if isinstance(block, str):
            block = block.replace(change.old_figure, change.new_figure).replace(change.removed_sentence, "")
        out.append(block)
    return tuple(out)


def _para(*lines: str) -> tuple[str, ...]:
    return tuple(lines)


NOTICE_BODY = _para(
    "各街道办事处、区直各单位:",
    "为深入贯彻落实安全生产责任制,有效防范和遏制各类生产安全事故,经研究,决定在全区范围内开展安全生产大检查,现将有关事项通知如下。",
    "一、检查时间。自通知印发之日起至当月底。",
    "二、检查内容。重点检查企业安全生产主体责任落实、隐患排查治理、应急预案演练等情况。",
    "三、工作要求。各单位要高度重视,精心组织,确保检查工作取得实效,并于检查结束后5个工作日内报送工作总结。",
)

# ---------------------------------------------------------------- trs: 深圳市坪山区人民政府 (GBK)
TRS_DIR = "/zwgk/fzzfjsbg/content/"
KCJ = seed_body("004")
WGLT_TABLE: Table = (
    ("指标", "2023年", "2024年"),
    ("行政规范性文件备案审查率", "100%", "100%"),
    ("法律顾问出具书面意见(份)", "62", "81"),
    ("普法宣传活动(场)", "35", "48"),
)
_wglt = vary(KCJ, salt="wglt", drop_every=6, replace={
    "坪山区科技创新局": "坪山区文化广电旅游体育局", "区科创局": "区文广旅体局"})
TRS = [
    Article("trs", "kcj-2024", TRS_DIR + "post_11928451.html", "深圳市坪山区科技创新局2024年法治政府建设年度报告",
            "2025-02-25 15:22:00", "坪山区科技创新局", 2024, KCJ),
    Article("trs", "wglt-2024", TRS_DIR + "post_11921377.html",
            "深圳市坪山区文化广电旅游体育局2024年法治政府建设年度报告", "2025-02-20 10:05:12",
            "坪山区文化广电旅游体育局", 2024, (*_wglt[:3], WGLT_TABLE, *_wglt[3:])),
    Article("trs", "gkbg-2024", TRS_DIR + "post_11890210.html", "深圳市坪山区2024年政府信息公开工作年度报告",
            "2025-01-20 09:00:00", "坪山区政务服务和数据管理局", 2024,
            vary(seed_body("001")[-3:], salt="gkbg", replace={"南山": "坪山"}), is_report=False),
    Article("trs", "notice-2025", TRS_DIR + "post_11873345.html", "关于开展安全生产检查的通知",
            "2025-01-10 09:30:00", "坪山区应急管理局", None, NOTICE_BODY, is_report=False),
    Article("trs", "kcj-2023", TRS_DIR + "post_11201764.html", "深圳市坪山区科技创新局2023年法治政府建设年度报告",
            "2024-02-26 16:40:00", "坪山区科技创新局", 2023,
            tuple(vary(KCJ, salt="kcj2023", year_shift=-1, drop_every=7)), states=ONLY_1),
    Article("trs", "gxq-2023", TRS_DIR + "post_11198832.html", "高新区2023年法治政府建设年度报告",
            "2024-02-20 15:19:40", "本网", 2023, seed_body("003")),
    Article("trs", "kcj-2022", TRS_DIR + "post_10496021.html", "深圳市坪山区科技创新局2022年法治政府建设年度报告",
            "2023-03-01 09:00:00", "坪山区科技创新局", 2022,
            tuple(vary(KCJ, salt="kcj2022", year_shift=-2, drop_every=5))),
    Article("trs", "swj-2024", TRS_DIR + "post_11940016.html", "深圳市坪山区水务局2024年法治政府建设年度报告",
            "2025-03-05 11:20:00", "坪山区水务局", 2024,
            tuple(vary(KCJ, salt="swj", drop_every=4, replace={
                "坪山区科技创新局": "坪山区水务局", "区科创局": "区水务局"})), states=ONLY_2),
]
TRS_CHANGES = SiteChanges(
    edited=TRS_DIR + "post_11928451.html", withdrawn=TRS_DIR + "post_11201764.html",
    new=TRS_DIR + "post_11940016.html", old_figure="学习56次", new_figure="学习65次",
    removed_sentence="同时,法律顾问还定期为我们局开展有针对性的法律知识培训,进一步增强全员的法治观念、提高依法行政意识。")

# ---------------------------------------------------------------- cms: 深圳市南山区人民政府 (UTF-8)
CMS_DIR = "/xxgk/fzzfjsndbg/content/"
NS = seed_body("001")
CMS = [
    Article("cms", "ns-2024", CMS_DIR + "post_11978530.html", "深圳市南山区人民政府2024年法治政府建设年度报告",
            "2024-12-31 17:30:00", "南山区人民政府", 2024, NS, extra={
                "索引号": "11440305007542823P/2024-01288", "分类": "法治政府建设;年度报告",
                "发布机构": "深圳市南山区人民政府", "成文日期": "2024-12-30", "文号": "",
                "发布日期": "2024-12-31", "主题词": "法治政府建设", "有效性": "有效"}),
    Article("cms", "sfj-2024", CMS_DIR + "post_11960127.html", "深圳市南山区司法局2024年法治政府建设年度报告",
            "2024-12-20 11:00:00", "南山区司法局", 2024,
            tuple(vary(NS, salt="nssfj", drop_every=5, replace={"南山区人民政府": "南山区司法局"}))),
    Article("cms", "notice-2024", CMS_DIR + "post_11530402.html", "关于开展安全生产检查的通知",
            "2024-06-12 10:00:00", "南山区应急管理局", None, NOTICE_BODY, is_report=False),
    Article("cms", "ns-2023", CMS_DIR + "post_11210788.html", "深圳市南山区人民政府2023年法治政府建设年度报告",
            "2024-03-28 10:00:00", "南山区人民政府", 2023,
            tuple(vary(NS, salt="ns2023", year_shift=-1, drop_every=6)), states=ONLY_1),
    Article("cms", "ns-2022", CMS_DIR + "post_10512364.html", "深圳市南山区人民政府2022年法治政府建设年度报告",
            "2023-03-30 09:00:00", "南山区人民政府", 2022,
            tuple(vary(NS, salt="ns2022", year_shift=-2, drop_every=4)),
            attachments=(("深圳市南山区人民政府2022年法治政府建设年度报告.pdf",
                          "/attachment/0/105/105123/10512364.pdf"),
                         ("2022年法治政府建设工作台账.docx", "/attachment/0/105/105124/10512364.docx"))),
    Article("cms", "jyj-2024", CMS_DIR + "post_11992051.html", "深圳市南山区教育局2024年法治政府建设年度报告",
            "2025-01-15 16:00:00", "南山区教育局", 2024,
            tuple(vary(NS, salt="nsjyj", drop_every=3, replace={"南山区人民政府": "南山区教育局"})),
            states=ONLY_2),
]
CMS_CHANGES = SiteChanges(
    edited=CMS_DIR + "post_11978530.html", withdrawn=CMS_DIR + "post_11210788.html",
    new=CMS_DIR + "post_11992051.html", old_figure="述法报告196份", new_figure="述法报告206份",
    removed_sentence="强化审计监督,完成审计项目17个,提出审计意见和建议399条。")

# ---------------------------------------------------------------- news: 深圳新闻网 (UTF-8)
PS = seed_body("000")
NEWS = [
    Article("news", "ps-2024", "/news/content/2025-01/26/content_31415926.htm", "坪山区2024年法治建设成效显著",
            "2025-01-26 09:13:00", "深圳新闻网", 2024, PS, extra={"author": "邱嘉熙", "editor": "陈乐"}),
    Article("news", "metro", "/news/content/2025-01/25/content_31413388.htm", "深圳地铁多条新线开通运营 市民出行更便捷",
            "2025-01-25 18:02:00", "深圳新闻网", None, _para(
                "深圳新闻网2025年1月25日讯 记者从深圳地铁集团获悉,多条地铁新线今日开通初期运营。",
                "新线开通后,深圳城市轨道交通运营里程进一步增加,市民出行将更加便捷。",
                "地铁部门提醒,开通初期客流较大,请乘客合理安排出行时间。"), is_report=False,
            extra={"author": "李明", "editor": "王芳"}),
    Article("news", "flower", "/news/content/2025-01/20/content_31402217.htm", "坪山区举办迎春花市 年味渐浓",
            "2025-01-20 20:15:00", "深圳新闻网", None, _para(
                "深圳新闻网2025年1月20日讯 坪山区迎春花市正式开市,吸引大批市民前来选购年花。",
                "花市设置了年花、年货、文创等多个展区,并安排了丰富的民俗表演。"), is_report=False,
            extra={"author": "张华", "editor": "陈乐"}),
    Article("news", "ba-2024", "/news/content/2025-01/18/content_31398870.htm", "宝安区2024年法治建设工作综述",
            "2025-01-18 15:00:00", "深圳新闻网", 2024,
            tuple(vary(PS, salt="ba", drop_every=5, replace={"坪山": "宝安", "1月26日讯": "1月18日讯"})),
            extra={"author": "刘洋", "editor": "陈乐"}),
    Article("news", "lg-2023", "/news/content/2024-01/30/content_30210455.htm", "龙岗区2023年法治建设亮点纷呈",
            "2024-01-30 10:20:00", "深圳新闻网", 2023,
            tuple(vary(PS, salt="lg", year_shift=-1, drop_every=4,
                       replace={"坪山": "龙岗", "1月26日讯": "1月30日讯"})), states=ONLY_1,
            extra={"author": "周婷", "editor": "王芳"}),
    Article("news", "ps-2025", "/news/content/2025-02/10/content_31467702.htm", "坪山区召开2025年法治政府建设工作会议",
            "2025-02-10 17:45:00", "深圳新闻网", 2025, _para(
                "深圳新闻网2025年2月10日讯(记者 邱嘉熙)近日,坪山区召开2025年法治政府建设工作会议,"
                "总结2024年全区法治政府建设工作,部署2025年重点任务。",
                *PS[-1:]), states=ONLY_2, extra={"author": "邱嘉熙", "editor": "陈乐"}),
]
NEWS_CHANGES = SiteChanges(
    edited=NEWS[0].path, withdrawn=NEWS[4].path, new=NEWS[5].path,
    old_figure="1224场次", new_figure="1324场次", removed_sentence="推进坪山区规划土地监察执法权纳入街道综合行政执法。")

# ---------------------------------------------------------------- gkmlpt: 深圳市光明区人民政府 (UTF-8)
GK_CATALOG = 11938
GK_DIR = f"/gkmlpt/content/11/{GK_CATALOG}/"
GM = seed_body("002")
GK_DEPTS = ("司法局", "发展和改革局", "教育局", "科技创新局", "城市管理和综合执法局", "住房和建设局", "水务局",
            "卫生健康局", "应急管理局", "工业和信息化局", "生态环境分局")


def _gk_dept(i: int, dept: str) -> Article:
    year = 2023 if i < 7 else 2022
    month_day = f"{3 + i // 4:02d}-{10 + i:02d}"
    body = vary(GM, salt=f"gm{dept}", year_shift=year - 2023, drop_every=3 + i % 3,
                replace={"光明区坚持": f"光明区{dept}坚持"})
    return Article("gkmlpt", f"gm-{i}", f"{GK_DIR}post_{11210500 - i * 137}.html",
                   f"深圳市光明区{dept}{year}年法治政府建设年度报告", f"{year + 1}-{month_day} 09:{10 + i}:00",
                   f"深圳市光明区{dept}", year, tuple(body),
                   extra={"identifier": f"11440300MB2C9{i:04d}X/{year + 1}-{i + 11:05d}"},
                   states=ONLY_1 if i == 2 else BOTH,
                   attachments=((f"光明区{dept}{year}年法治政府建设年度报告.pdf",
                                 f"/attachment/1/{i}/post_{11210500 - i * 137}.pdf"),) if i == 0 else ())


GKMLPT = [
    Article("gkmlpt", "gm-2023", f"{GK_DIR}post_11211830.html", "深圳市光明区人民政府2023年法治政府建设年度报告",
            "2024-02-22 10:31:05", "光明区", 2023, GM,
            extra={"identifier": "11440300MB2C92050X/2024-00125", "document_number": ""}),
    *[_gk_dept(i, dept) for i, dept in enumerate(GK_DEPTS)],
    Article("gkmlpt", "notice", f"{GK_DIR}post_11190001.html", "关于开展安全生产检查的通知",
            "2024-01-15 10:00:00", "深圳市光明区应急管理局", None, NOTICE_BODY, is_report=False,
            extra={"identifier": "11440300MB2C92050X/2024-00011", "document_number": "深光应急〔2024〕3号"}),
    Article("gkmlpt", "gm-2024", f"{GK_DIR}post_11998842.html", "深圳市光明区人民政府2024年法治政府建设年度报告",
            "2025-02-28 16:00:00", "光明区", 2024,
            tuple(vary(GM, salt="gm2024", year_shift=1, drop_every=5)), states=ONLY_2,
            extra={"identifier": "11440300MB2C92050X/2025-00088", "document_number": ""}),
]
GKMLPT_CHANGES = SiteChanges(
    edited=GKMLPT[0].path, withdrawn=GKMLPT[3].path, new=GKMLPT[-1].path,
    old_figure="调解复议案件69宗", new_figure="调解复议案件79宗",
    removed_sentence="化解行政争议历史积案,1宗复议案例获评深圳市行政复议十大典型案例。")

ARTICLES: dict[str, list[Article]] = {"trs": TRS, "cms": CMS, "news": NEWS, "gkmlpt": GKMLPT}
CHANGES: dict[str, SiteChanges] = {
    "trs": TRS_CHANGES, "cms": CMS_CHANGES, "news": NEWS_CHANGES, "gkmlpt": GKMLPT_CHANGES}


def live_articles(site: str, state: int) -> list[Article]:
    """The articles live on `site` in `state`, newest first, with the state-2 edit applied."""
    change = CHANGES[site]
    out = []
    for article in ARTICLES[site]:
        if state not in article.states:
            continue
        if state == 2 and article.path == change.edited:
            article = replace(article, blocks=edit_blocks(article.blocks, change))
        out.append(article)
    return sorted(out, key=lambda a: a.published, reverse=True)
