"""Per-visit text (counters, clocks, "today" lines, weather, online counts) never reaches a revision:
not its text, not its title, not `published` — so a recrawl that only sees new counters and clocks adds no
revision, while real report text is never cut. Rules: config/volatile.yaml, crawler/extract/volatile.py.
"""
from __future__ import annotations

import re
import urllib.request
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from crawler.extract import extract_page
from crawler.extract.rules import RulesError
from crawler.extract.text import block_text, parse_html
from crawler.extract.volatile import load_volatile, scrub_tree, strip_volatile
from tests.crawling import crawl, rows
from tests.sites import ReplicaFarm, Request, Response
from tests.sites.seeds import SEED_SPECS, seed_body
from tests.sites.server import blocks_html, esc

SEED_PARAGRAPHS = [p for seed in SEED_SPECS for p in seed_body(seed)]
# A short heading as the body's last line is sometimes taken for trailing metadata by strip_edges, with or
# without volatile text after it (an extractor limit outside this module), so the page property uses prose.
PROSE_PARAGRAPHS = [p for p in SEED_PARAGRAPHS if p.endswith("。")]
WEEKDAYS = "一二三四五六日"
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- what is volatile: every common form, as a whole line -----------------------------------------------

WHOLE_LINES = [
    "浏览次数 1235", "浏览次数：1235", "访问量：1235 次", "本文已被阅读1235次", "本文已被阅读1235次。", "阅读量：1235",
    "阅读量 1235", "点击数：1235", "点击数 1235", "阅读次数：1235", "浏览：(1235)", "【浏览次数：1235】",
    "已有1235人阅读", "本文已被阅读过1235次", "该页面已被访问 1235 次", "本文已被阅读：1235次",
    "总访问量：1,235", "今日浏览：88", "今天是2026年11月21日 星期六", "今天是2026年11月21日 星期六 农历十月初二",
    "当前时间：2026年11月21日 10:02", "当前时间：2026-11-21 10:02:33", "今天是：星期六", "2026年11月21日 星期六",
    "星期六 2026-11-21", "2026年11月21日 (星期六) 10:02", "深圳 晴 18℃~25℃", "天气：多云 22°C", "在线人数：12",
    "当前在线 12 人", "您是本站第 1235 位访客", "您是第1235位访问者",
]


@pytest.mark.parametrize("line", WHOLE_LINES)
def test_a_volatile_line_is_dropped_wherever_it_stands(line):
    body = ["一、依法全面履行政府职能", "全年共办理行政复议案件126件，同比增长12.5%。"]
    for at in range(len(body) + 1):
        text = "\n".join([*body[:at], line, *body[at:]])
        assert strip_volatile(text) == "\n".join(body), (line, at)


INFO_LINES = [  # fragments inside an info line go; the rest of the line stays
    ("时间:2024-01-05来源:深圳市南山区人民政府浏览量:1235", "时间:2024-01-05来源:深圳市南山区人民政府"),
    ("发布时间：2024-01-05 来源：某区司法局 浏览次数 1235", "发布时间：2024-01-05 来源：某区司法局"),
    ("发布日期：2024-01-05　【字体：大 中 小】 浏览：123", "发布日期：2024-01-05　【字体：大 中 小】"),
    ("日期：2024-01-05\t阅读次数：88\t来源：某区", "日期：2024-01-05\t来源：某区"),
    ("欢迎访问某区政府网站 今天是2026年11月21日 星期六 无障碍", "欢迎访问某区政府网站 无障碍"),
    ("发布日期：2024-03-05 星期二 点击数：12", "发布日期：2024-03-05 星期二"),  # its own date, weekday and all
    ("……全面推进。本文已被阅读1235次", "……全面推进。"),
]


@pytest.mark.parametrize(("line", "kept"), INFO_LINES)
def test_volatile_fragments_leave_an_info_line(line, kept):
    assert strip_volatile(line) == kept


REPORT_LINES = [  # real report text that mentions counts, reading, visits and weekdays
    "全年政府网站访问量：1235万人次。", "组织全区干部职工阅读法治读本2本，累计点击学习平台3.2万次。",
    "2024年3月5日（星期二），区政府召开常务会议，专题研究法治政府建设工作。", "门户网站点击量 | 1235万",
    "指标 | 2023年 | 2024年", "政务新媒体阅读量增长35%", "组织干部阅读2本书", "在线服务事项 | 1235项",
    "发布日期：2024-03-05 星期二", "会议时间 | 2024年3月5日", "今天，我们在这里召开全区法治政府建设推进会。",
]


def test_real_report_text_is_never_cut():
    for line in REPORT_LINES + SEED_PARAGRAPHS:
        assert strip_volatile(line) == line, line
    assert len(SEED_PARAGRAPHS) > 100


# --- properties --------------------------------------------------------------------------------------

def dates() -> st.SearchStrategy[str]:
    return st.builds(lambda d, form: form.format(y=d.year, m=d.month, d=d.day, mm=f"{d.month:02d}", dd=f"{d.day:02d}"),
                     st.dates(date(2020, 1, 1), date(2030, 12, 31)),
                     st.sampled_from(["{y}年{m}月{d}日", "{y}年{mm}月{dd}日", "{y}-{mm}-{dd}", "{y}/{m}/{d}"]))


VOLATILE_FORMS = [
    "浏览次数 {n}", "浏览次数：{n}", "访问量：{n} 次", "本文已被阅读{n}次", "阅读量：{n}", "阅读量 {n}", "点击数：{n}",
    "阅读次数：{n}", "今天是{date} 星期{w}", "今天是{date} 星期{w} 农历十月初{c}",
    "当前时间：{date} {h}:{mi}", "{date} 星期{w}", "深圳 晴 {t}℃~{t2}℃", "天气：多云 {t}°C", "在线人数：{c}",
    "当前在线 {c} 人", "您是本站第 {n} 位访客", "已有{n}人阅读", "总访问量：{n}", "【浏览次数：{n}】",
]


@st.composite
def volatile_lines(draw) -> str:
    form = draw(st.sampled_from(VOLATILE_FORMS))
    return form.format(n=draw(st.integers(0, 10**7)), date=draw(dates()), w=draw(st.sampled_from(WEEKDAYS)),
                       c=draw(st.sampled_from("一二三四五六七八九")) if "初" in form else draw(st.integers(1, 999)),
                       h=draw(st.integers(0, 23)), mi=f"{draw(st.integers(0, 59)):02d}", t=draw(st.integers(-5, 20)),
                       t2=draw(st.integers(21, 39)))


@st.composite
def report_lines(draw) -> str:
    """A real report paragraph, a report-like sentence with figures, or a table row."""
    n, m = draw(st.integers(1, 99999)), draw(st.integers(1, 999))
    kind = draw(st.sampled_from(["seed", "seed", "sentence", "row"]))
    if kind == "seed":
        return draw(st.sampled_from(SEED_PARAGRAPHS))
    if kind == "row":
        return draw(st.sampled_from([f"行政复议案件 | {n} | {m}", f"指标 | {2000 + m % 30}年 | {2001 + m % 30}年",
                                     f"网站访问量 | {n}万人次", f"{m}. 行政执法人员培训 | {n}人次"]))
    return draw(st.sampled_from([
        f"全年政府网站访问量达{n}万人次，同比增长{m}%。", f"组织干部职工阅读法治书籍{m}本，在线学习{n}人次。",
        f"{draw(dates())}（星期{draw(st.sampled_from(WEEKDAYS))}），区政府召开常务会议研究部署法治政府建设。",
        f"全年办理行政复议案件{n}件，点击量{m}万的普法短视频获评优秀作品。", f"二、推进严格规范公正文明执法（{m}项）"]))


@PROPERTY
@given(st.lists(report_lines(), min_size=1, max_size=8), st.lists(st.tuples(st.integers(0, 8), volatile_lines()),
                                                                  max_size=6))
def test_property_volatile_lines_anywhere_leave_exactly_the_report(report, inserts):
    lines = list(report)
    for at, line in sorted(inserts, key=lambda x: -x[0]):
        lines.insert(min(at, len(lines)), line)
    assert strip_volatile("\n".join(lines)) == "\n".join(report)


@PROPERTY
@given(st.text(alphabet=st.sampled_from("浏览次数阅读量今天是年月日星期六当前时间：: 0123456789。\n|天气晴℃"
                                        "在线人第位访客"), max_size=80))
@example("\n\n")  # found by a random run: splitlines dropped the last line break on every pass
def test_property_strip_volatile_is_idempotent(text):
    once = strip_volatile(text)
    assert strip_volatile(once) == once


PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}_某区人民政府</title></head><body>
<div class="a1">欢迎访问某区人民政府网站 {v[0]} <a href="/">首页</a></div>
<div class="main"><h1>{title}</h1>{v[1]}
<div class="info">{dateline} <span>来源：某区司法局</span> {v[2]}</div>{v[3]}
<div class="content">{body}</div>{v[6]}</div>
<div class="a2"><p>主办：某区人民政府办公室</p>{v[7]}</div></body></html>"""


def page_html(title: str, paragraphs: list[str], volatile: list[str], *, dateline: str) -> str:
    body = [f"<p>{esc(p)}</p>" for p in paragraphs]
    body.insert(len(body) // 2, volatile[4])
    body.append(volatile[5])
    return PAGE.format(title=esc(title), v=volatile, dateline=dateline, body="\n".join(body))


def placed(lines: list[str]) -> list[str]:
    """Volatile lines as they sit on pages: bare, in a span, a paragraph, a div, a counter split over two
    elements."""
    shapes = ["{}", "<span>{}</span>", "<p>{}</p>", "<div>{}</div>"]
    out = []
    for i, line in enumerate(lines):
        if line.startswith("阅读次数："):
            out.append(f"<div>阅读次数：<em>{line.split('：')[1]}</em></div>")
        else:
            out.append(shapes[i % len(shapes)].format(esc(line)))
    return out


@PROPERTY
@given(st.lists(volatile_lines(), min_size=8, max_size=8), st.lists(volatile_lines(), min_size=8, max_size=8),
       st.lists(st.sampled_from(PROSE_PARAGRAPHS), min_size=2, max_size=6, unique=True), st.booleans())
def test_property_two_visits_extract_the_same_page(visit1, visit2, paragraphs, labelled):
    """Whatever counters and clocks a page shows, and wherever: the same title, text and published as the
    page without them; with a labelled date or only a bare date under the title."""
    title = "某区2024年法治政府建设年度报告"
    dateline = "<span>发布时间：2025-03-05</span>" if labelled else "<span>2025-03-05</span>"
    url = "http://127.0.0.1/content/post_1.html"
    clean = extract_page(page_html(title, paragraphs, [""] * 8, dateline=dateline), url)
    assert clean.published == "2025-03-05" and clean.title == title
    for visit in (visit1, visit2):
        page = extract_page(page_html(title, paragraphs, placed(visit), dateline=dateline), url)
        assert (page.title, page.published, page.text) == (clean.title, clean.published, clean.text)


def test_a_clock_is_never_the_publication_date():
    html = PAGE.format(title="某区2024年法治政府建设年度报告", dateline="",
                       v=["当前时间：2026年11月21日 10:02", "<p>今天是2026年11月21日 星期六</p>", "",
                          "<p>2026-11-21 星期六</p>", "", "", "", ""],
                       body="\n".join(f"<p>{esc(p)}</p>" for p in seed_body("001")[:3]))
    page = extract_page(html, "http://127.0.0.1/content/post_1.html")
    assert page.published is None
    assert "2026" not in page.text and "星期" not in page.text


def test_scrub_tree_keeps_a_weekday_in_prose():
    tree = scrub_tree(parse_html("<html><body><p>会议于<b>2024年3月5日（星期二）</b>召开。</p>"
                                 "<div><span>今天是2026年11月21日 星期六</span><a>无障碍</a></div></body></html>"))
    text = block_text(tree)
    assert "会议于2024年3月5日（星期二）召开。" in text and "2026" not in text


def test_a_bad_rules_file_is_one_clear_line(tmp_path):
    bad = tmp_path / "volatile.yaml"
    bad.write_text("counter_label: [浏览]\ncounter_prefix: [本文]\ncounter_unit: [次]\nquantity: [万]\n"
                   "anywhere: ['(unclosed']\n", encoding="utf-8")
    with pytest.raises(RulesError, match=r"^volatile\.yaml: bad anywhere pattern") as info:
        load_volatile(str(bad))
    assert "\n" not in str(info.value)
    bad.write_text("counter_label: []\n", encoding="utf-8")
    with pytest.raises(RulesError, match="counter_label must be a non-empty list"):
        load_volatile(str(bad))


# --- done when: real crawls of pages that only differ in per-visit text add no revision -------------------

LAYOUTS = {
    # a div layout: clock and weather in the top bar, a colon-less counter in the info line, reading counts
    # at the end of the body, visitor and online counts at the bottom
    "post_1": """<div class="a1">当前时间：{date} {time} &nbsp; 深圳 晴 {t}℃~{t2}℃</div>
<h1 class="article-title">{title}</h1>
<div class="info">发布时间：2024-01-05 &nbsp; 来源：某区司法局 &nbsp; 浏览次数 {n}</div>
<div class="content">{body}<p>本文已被阅读{n}次</p></div>
<div class="a2"><p>您是本站第 {n2} 位访客 &nbsp; 在线人数：{c}</p></div>""",
    # a table layout with only a bare date under the title, today's date right after the title and a
    # counter paragraph in the middle of the body
    "post_2": """<table><tr><td class="a1">今天是{date} 星期{w} 农历十月初{lunar}</td></tr>
<tr><td><h2>{title}</h2></td></tr><tr><td><p>今天是{date} 星期{w}</p><p>2024年01月06日</p></td></tr>
<tr><td>【字体：大 中 小】 浏览：{n}</td></tr>
<tr><td class="body">{body_half}<p>访问量：{n} 次</p>{body_rest}</td></tr></table>""",
    # a news layout: a weekday clock under the title, the counter split over two elements, a labelled date
    "post_3": """<div class="head"><h1>{title}</h1><p>{date} 星期{w} {time}</p>
<div class="meta"><span>日期：2024-01-07</span><span>阅读量 {n}</span><span>阅读次数：</span><em>{n2}</em></div></div>
<div class="text"><p>点击数：{n}</p>{body}<p>当前在线 {c} 人</p></div>""",
    # no date of its own: only clocks
    "post_4": """<div><span>{date} 星期{w}</span> <span>当前时间：{date} {time}</span></div><h1>{title}</h1>
<div class="text">{body}<p>阅读次数：{n2}</p></div>""",
}
TITLES = {key: f"某区202{i}年法治政府建设年度报告" for i, key in enumerate(LAYOUTS, 1)}


class VolatileColumn:
    """A column of report pages whose counters, clocks and weather move on every visit (a day later, more
    readers); `titles` can be edited to make a real change."""

    def __init__(self, farm: ReplicaFarm) -> None:
        self.site = farm.sites["cms"]
        self.visits = 0
        self.titles = dict(TITLES)
        self.bodies = {key: seed_body(seed)[:4] for key, seed in zip(LAYOUTS, SEED_SPECS, strict=False)}
        self.site.add_route("/volatile/index.html", self.listing)
        for key in LAYOUTS:
            self.site.add_route(f"/volatile/{key}.html", self.article)

    def listing(self, request: Request) -> Response:
        links = "".join(f'<li><a href="/volatile/{key}.html">{esc(title)}</a></li>'
                        for key, title in self.titles.items())
        return Response(200, f"<html><head><title>法治政府建设</title></head><body><ul>{links}</ul></body></html>")

    def article(self, request: Request) -> Response:
        self.visits += 1
        key = request.path.rsplit("/", 1)[1].removesuffix(".html")
        return Response(200, self.render(key, self.visits))

    def render(self, key: str, visit: int) -> str:
        day = date(2026, 11, 21) + timedelta(days=visit)
        body = self.bodies[key]
        html = LAYOUTS[key].format(
            title=esc(self.titles[key]), date=f"{day.year}年{day.month}月{day.day}日", w=WEEKDAYS[day.weekday()],
            lunar="一二三四五六七八九"[visit % 9], time=f"{visit % 24:02d}:{visit * 7 % 60:02d}", n=1000 + 37 * visit,
            n2=50000 + 11 * visit, c=visit % 50 + 3, t=visit % 10, t2=25 + visit % 10,
            body=blocks_html(body), body_half=blocks_html(body[:2]), body_rest=blocks_html(body[2:]))
        return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{esc(self.titles[key])}_某区人民政府'
                f"</title></head><body>{html}</body></html>")

    def url(self, key: str) -> str:
        return self.site.url(f"/volatile/{key}.html")


def test_recrawls_that_only_see_counters_and_clocks_add_no_revision(tmp_path):
    with ReplicaFarm(sites=("cms",)) as farm:
        column = VolatileColumn(farm)
        site = column.site
        config = farm.sources_yaml(tmp_path / "sources.yaml", start_urls=[site.url("/volatile/index.html")],
                                   article_urls=[r"/volatile/post_\d+\.html$"], listing_urls=None, title_filter=None)
        db = tmp_path / "archive.db"
        # the pages really do differ on every visit
        first, second = (urllib.request.urlopen(column.url("post_1"), timeout=10).read() for _ in range(2))
        assert first != second

        for _ in range(3):
            done = crawl(config, db, "replica-cms")
            assert done.returncode == 0, done.stderr[-2000:]
        docs = {d["url"]: d for d in rows(db, "select * from documents")}
        assert set(docs) == {column.url(key) for key in LAYOUTS}
        assert rows(db, "select count(*) n from revisions")[0]["n"] == len(LAYOUTS)
        outcomes = rows(db, "select outcome, count(*) n from fetches group by outcome")
        assert {r["outcome"]: r["n"] for r in outcomes} == {"new": len(LAYOUTS), "unchanged": 2 * len(LAYOUTS)}
        published = {key: docs[column.url(key)]["published"] for key in LAYOUTS}
        assert published == {"post_1": "2024-01-05", "post_2": "2024-01-06", "post_3": "2024-01-07",
                             "post_4": None}
        for rev in rows(db, "select * from revisions"):
            assert not re.search(r"2026|星期|浏览|阅读|访问|点击|在线|访客|℃", rev["text"] + rev["title"]), rev["text"]
            assert rev["text"].count("\n") >= 3

        # a title-only edit is a real change: one revision, on that page, published unchanged
        column.titles["post_2"] = "某区2022年法治政府建设年度报告（修订）"
        assert crawl(config, db, "replica-cms").returncode == 0
        revs = rows(db, "select r.*, d.url from revisions r join documents d on d.id = r.document_id order by r.id")
        assert len(revs) == len(LAYOUTS) + 1
        assert revs[-1]["url"] == column.url("post_2") and revs[-1]["title"] == column.titles["post_2"]
        assert revs[-1]["text"] == [r for r in revs if r["url"] == column.url("post_2")][0]["text"]
        after = {d["url"]: d["published"] for d in rows(db, "select * from documents")}
        assert after == {column.url(key): value for key, value in published.items()}
