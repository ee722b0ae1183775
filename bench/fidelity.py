"""Fidelity bench: our extractor vs bare trafilatura (default, favor_precision) vs readability-lxml.

On every replica article page (tests/sites ReplicaFarm, both states) it scores character-level F1 of the
body against the expected body (whitespace ignored, order-aware), chrome phrases left, metadata exact
(title, published, publisher, report_year) and milliseconds per page; prints a markdown table and writes
docs/fidelity.md.

    .venv/bin/python -m bench.fidelity            # table + docs/fidelity.md
    .venv/bin/python -m bench.fidelity --pages    # also one row per page for our extractor
"""
from __future__ import annotations

import re
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import click
from diff_match_patch import diff_match_patch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crawler.extract import EXTRACTOR_VERSION, extract_page  # noqa: E402
from crawler.extract.rules import load_rules  # noqa: E402

# The issue's own list of chrome, on top of config/chrome.yaml's phrases.
ISSUE_CHROME = tuple("""分享到 微信 微博 QQ空间 扫一扫在手机打开当前页 手机扫一扫打开当前页面 扫码下载 微信里点
二维码 用手机扫描二维码 字号 字体 视力保护色 保护视力色 当前位置 您现在的位置 您所在的位置 打印本页 关闭窗口
上一篇 下一篇 我要纠错 浏览次数 访问量 责任编辑 版权所有 网站标识码 ICP备 触碰右侧展开 责编 点击进入""".split())
FIELDS = ("title", "published", "publisher", "report_year")


@dataclass
class Case:
    """One replica article page and what it should yield."""

    name: str
    url: str
    html: str
    site_name: str
    prune: tuple[str, ...]
    expected: dict  # title, published, publisher, report_year, body


@dataclass
class Result:
    f1: list[float] = field(default_factory=list)
    chrome: list[int] = field(default_factory=list)
    meta_exact: list[int] = field(default_factory=list)
    meta_total: int = 0
    ms: list[float] = field(default_factory=list)
    rows: list[tuple] = field(default_factory=list)


def squash(text: str | None) -> str:
    return re.sub(r"\s+", "", text or "")


def char_f1(got: str, expected: str) -> float:
    """Character-level F1 (whitespace ignored): characters in common along an order-keeping diff."""
    a, b = squash(expected), squash(got)
    if not a and not b:
        return 1.0
    if not a or not b:
        return 0.0
    dmp = diff_match_patch()
    dmp.Diff_Timeout = 5
    same = sum(len(text) for op, text in dmp.diff_main(a, b, False) if op == 0)
    if not same:
        return 0.0
    precision, recall = same / len(b), same / len(a)
    return 2 * precision * recall / (precision + recall)


def chrome_phrases() -> tuple[str, ...]:
    return tuple(dict.fromkeys((*load_rules().chrome_phrases, *ISSUE_CHROME)))


def chrome_left(got: str, expected: str, phrases: tuple[str, ...]) -> list[str]:
    """Chrome phrases in `got` beyond those the expected body itself contains."""
    g, e = squash(got), squash(expected)
    return [p for p in phrases if g.count(p) > e.count(p)]


def farm_cases() -> list[Case]:
    """Every article page of the replica farm, in both states (pages are rendered, no server needed)."""
    from tests.sites import ReplicaFarm

    farm = ReplicaFarm()
    farm.start()
    try:
        cases = []
        entries = {e["id"]: e for e in farm.source_entries()}
        seen = set()
        for state in (1, 2):
            for url, html, exp in farm.article_pages(state):
                key = (url, squash(exp.body))
                if key in seen:
                    continue
                seen.add(key)
                entry = entries[f"replica-{exp.site}"]
                cases.append(Case(f"{exp.site}:{url.rsplit('/', 1)[-1]}@{state}", url, html, entry["name"],
                                  tuple(entry.get("prune") or ()),
                                  {"title": exp.title, "published": exp.published, "publisher": exp.publisher,
                                   "report_year": exp.report_year, "body": exp.body,
                                   "attachments": sorted((u, t) for t, u in exp.attachments)}))
        return cases
    finally:
        farm.stop()


def unseen_cases() -> list[Case]:
    """The held-out pages of tests/sites/unseen.py (CMS styles the farm does not imitate), decoded as the
    crawler decodes them."""
    from tests.sites.unseen import unseen_pages

    return [Case(f"unseen:{page.key}", page.url, page.html, page.site_name, (),
                 {"title": page.expected.title, "published": page.expected.published,
                  "publisher": page.expected.publisher, "report_year": page.expected.report_year,
                  "body": page.expected.body,
                  "attachments": sorted((u, t) for t, u in page.expected.attachments)})
            for page in unseen_pages()]


REAL_DIR = ROOT / "tests" / "real"


def real_cases() -> list[Case]:
    """The real captured pages of tests/real (origins in tests/real/SOURCES.md), with their hand-checked
    gold: `<key>.html` as captured, `<key>.gold.json` (url, site_name, title, published, publisher) and
    `<key>.gold.txt` (the body, one paragraph per line)."""
    import json

    cases = []
    for gold_file in sorted(REAL_DIR.glob("*.gold.json")):
        key = gold_file.name.removesuffix(".gold.json")
        gold = json.loads(gold_file.read_text(encoding="utf-8"))
        html = (REAL_DIR / f"{key}.html").read_text(encoding="utf-8")
        body = (REAL_DIR / f"{key}.gold.txt").read_text(encoding="utf-8").strip()
        cases.append(Case(f"real:{key}", gold["url"], html, gold["site_name"], (),
                          {"title": gold["title"], "published": gold["published"], "publisher": gold["publisher"],
                           "body": body}))
    return cases


# ---------------------------------------------------------------- extractors under test
def ours(case: Case) -> dict:
    page = extract_page(case.html, case.url, site_name=case.site_name, prune=case.prune)
    return {"body": page.text, "title": page.title, "published": page.published, "publisher": page.publisher,
            "report_year": page.report_year, "attachments": sorted(page.attachments)}


def _trafilatura(**options) -> Callable[[Case], dict]:
    """Bare `trafilatura.extract` (the timed part); its metadata (title, date; it has no publisher or
    report year) is read by `metadata_of` outside the timing."""
    import trafilatura

    def run(case: Case) -> dict:
        return {"body": trafilatura.extract(case.html, url=case.url, **options) or ""}

    return run


def metadata_of(case: Case) -> dict:
    import trafilatura

    meta = trafilatura.extract_metadata(case.html, default_url=case.url)
    return {"title": meta.title if meta else None, "published": meta.date if meta else None,
            "publisher": None, "report_year": None, "attachments": []}


def readability(case: Case) -> dict:
    from lxml import html as lxml_html
    from readability import Document

    doc = Document(case.html)
    tree = lxml_html.fromstring(doc.summary(html_partial=True))
    for br in tree.iter("br"):
        br.tail = "\n" + (br.tail or "")
    for block in tree.iter("p", "div", "tr", "h1", "h2", "h3", "li"):
        block.tail = "\n" + (block.tail or "")
    return {"body": tree.text_content(), "title": doc.short_title(), "published": None, "publisher": None,
            "report_year": None, "attachments": []}


EXTRACTORS: dict[str, Callable[[Case], dict]] = {
    f"ours (v{EXTRACTOR_VERSION})": ours,
    "trafilatura": _trafilatura(),
    "trafilatura favor_precision": _trafilatura(favor_precision=True),
    "readability-lxml": readability,
}


def score(name: str, run: Callable[[Case], dict], cases: list[Case], repeat: int) -> Result:
    phrases = chrome_phrases()
    result = Result()
    for case in cases:
        timings = []
        for _ in range(repeat):
            start = time.perf_counter()
            got = run(case)
            timings.append((time.perf_counter() - start) * 1000)
        if "title" not in got:
            got = {**metadata_of(case), **got}
        f1 = char_f1(got["body"], case.expected["body"])
        left = chrome_left(got["body"], case.expected["body"], phrases)
        fields = [f for f in FIELDS if f in case.expected]  # real pages carry no report_year gold
        exact = [f for f in fields if got[f] == case.expected[f]]
        result.f1.append(f1)
        result.chrome.append(len(left))
        result.meta_exact.append(len(exact))
        result.meta_total += len(fields)
        result.ms.append(min(timings))
        result.rows.append((case.name, f1, left, [f for f in fields if f not in exact], got))
    return result


def table(results: dict[str, Result], cases: int) -> str:
    base = statistics.mean(results["trafilatura"].ms)
    header = ("| extractor | mean F1 | min F1 | pages F1 ≥ 0.99 | chrome phrases left | pages with chrome |"
              " metadata exact | ms/page | × trafilatura |")
    lines = [header,
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(
            f"| {name} | {statistics.mean(r.f1):.4f} | {min(r.f1):.4f} |"
            f" {sum(f >= 0.99 for f in r.f1)}/{cases} |"
            f" {sum(r.chrome)} | {sum(1 for c in r.chrome if c)}/{cases} |"
            f" {sum(r.meta_exact)}/{r.meta_total} | {statistics.mean(r.ms):.1f} |"
            f" {statistics.mean(r.ms) / base:.2f} |")
    return "\n".join(lines)


def page_rows(result: Result) -> str:
    lines = ["| page | F1 | chrome left | metadata wrong |", "|---|---|---|---|"]
    for name, f1, left, wrong, got in result.rows:
        detail = ", ".join(f"{f}={got[f]!r}" for f in wrong)
        lines.append(f"| {name} | {f1:.4f} | {' '.join(left) or '—'} | {detail or '—'} |")
    return "\n".join(lines)


DOC_HEAD = """# Extraction fidelity

Measured by `bench/fidelity.py` on every replica article page of `tests/sites` (both farm states:
TRS table layout in GBK, a div CMS with a disclosure record, a news portal, gkmlpt JSON pages), on held-out
templates, and on real captured pages (`tests/real`).

- **F1**: character-level F1 of the body against the expected body, whitespace ignored, along an
  order-keeping diff (diff-match-patch).
- **chrome phrases left**: phrases from `config/chrome.yaml` plus the issue's list found in the text more
  often than in the expected body.
- **metadata exact**: title, published (YYYY-MM-DD), publisher, report_year equal to the expected values
  (bare extractors have no publisher or report_year, so they cannot score those).
- **ms/page**: best of several runs per page, then the mean; "× trafilatura" relative to bare
  `trafilatura.extract(html, url=url)` (text only; its title/date are read outside the timing).

Targets: F1 ≥ 0.99 on every page, zero chrome, metadata exact, time ≤ 1.5× bare trafilatura.

## How our extractor works
0. The page is parsed as a browser keeps it: `</body>`/`</html>` end tags are dropped first, so a header
   include that closes the document early cannot cut off the body.
1. Metadata is read from the whole page first: meta tags (ArticleTitle, PubDate, ContentSource), labelled
   values (来源:, 稿件来源:, 发布时间:, 信息提供日期: …, parsed by our own date parser; htmldate only as a last
   resort), the disclosure record table (索引号, 文号 …, a value on the line after its `<label>` too),
   `<title>` minus the site suffix. A date shown under 发布日期/发布时间/发文日期/生成日期 beats the PubDate meta;
   the record's 发布机构 beats a source meta the page never shows; the record's 标题 is the title when no
   ArticleTitle meta names it; a heading holding the info line gives the title before "来源：…".
2. Chrome containers are pruned by the selectors in `config/chrome.yaml` (plus a source's own `prune`),
   guarded so that no rule can drop an element holding most of the text or reading as prose; blocks headed
   by a chrome heading (相关文章, 热点新闻 …) go too.
3. Layout tables become blocks; the body container is the deepest element holding ≥ 85% of the page's
   prose (punctuated or long text runs without chrome phrases); it is serialised one paragraph per line,
   tables one row per line with cells joined by " | ". trafilatura (favor_recall, no dedup cache) is the
   fallback for pages without such prose.
4. Residual chrome lines (short lines with a chrome phrase, very short non-sentences with a generic chrome
   word, or lines matching a chrome pattern), metadata lines at the edges of the body, the repeated title
   (also when wrapped over several lines), editor notes (【编辑:…】, (责编：…)), "点击进入…>>" links,
   【1】【2】 pagers and attachment-only lines are dropped. The title is the heading nearest above the body when neither
   ArticleTitle nor `<title>` settles it; a date with no label is read from the line under the title.
"""


HELD_OUT_HEAD = """Pages in CMS styles the replica farm does not imitate (`tests/sites/unseen.py`), written with their
expected results before the extractor was run on them: 大汉 Hanweb JCMS (`<div id="zoom">`, `<UCAPCONTENT>`,
【打印】【关闭】, <title> = site name), 拓尔思 gov.cn-style `view TRS_UEDITOR`, 开普云/南威 集约化平台
(`<ul class="info">`, a 相关链接 list inside `article-content`), a province portal with the disclosure table
above the body (labels padded with full-width spaces), a responsive page with the share bar inside
`<article>`, Word-pasted `<span>` soup hard-wrapped mid-sentence, a data table with rowspan/colspan
headers, an old GB18030 `<font>`/`<br>` layout, a page whose title is only in `<title>`, a record as
`<ul><li>` over a short notice with its 落款, `<br><br>` paragraphs beside a sidebar of sentence
summaries, and a three-part `<title>` with a `<br>` inside the h1 and the record table after the body.
First run (extractor v1): F1 1.0 and no chrome on all 12, but 2 titles wrong (a column-name heading
taken as the title; a space from the h1's `<br>`), and Word's hard-wrapped source split paragraphs into
several lines (F1 ignores whitespace, so only `tests/test_unseen_templates.py`'s line check saw it);
record labels padded with full-width spaces ("分　　类：") were not read, and an empty value cell
("文号：" with nothing after it) swallowed the next label. v2 fixes all of these generally. Note that
bare trafilatura also does well here (these pages carry less chrome than the farm's), so this set mainly
tests structure and metadata, not chrome density.
"""


REAL_HEAD = """Real captured pages of government sites from public repositories (`tests/real`, origins and how the
gold was written in `tests/real/SOURCES.md`): 11 中国政府网 policy pages (the TRS `UCAP-CONTENT` region with
its disclosure record, as a crawler stored it) and 4 whole pages of 江西's 集约化 county/city portals saved by a
browser, all obtained with the `read_file` search tool (issue 11 asks for 15; SOURCES.md says where else was
looked). Their gold is title, published and publisher (report_year, a 年度报告 notion, is not scored here).
First run (extractor v2, before issue 11's changes, on an earlier set of 16 whose 12 中国政府网 fragments, 8 since
replaced, came from a `fetch`ed snapshot): F1 ≥ 0.99 on 7 of 16 (min 0.84),
no title on the 中国政府网 pages (no `<title>` in the stored region, the title only in the record's 标题), the
display title wrapped over two or three centred lines left at the head of the body, "标 题：" record rows with
padded labels left in the text, the 江西 pages dated by a `PubDate` meta a migration or batch re-publication had
rewritten (the pages show other dates), a publisher read from the line after an empty "来源：" ("访问量：199"),
and a syndication meta ("江西统计 公众号") winning over the 发布机构 the page shows. v3 fixes these generally.
"""


DOC_NOTES = """
## Notes
- The one metadata miss is the replica's 政府信息公开工作年度报告 page: the farm expects no report_year
  for a page outside the 法治政府建设 filter, while the issue's rule ("2024年…年度报告" → 2024) gives 2024.
  `tests/test_fidelity.py` skips report_year on that kind of page only.
- Generality beyond the four replica templates: the held-out set above (`tests/test_unseen_templates.py`
  also checks one paragraph per line, attachments and disclosure fields), and `tests/test_extract.py` with deliberately
  different templates (other class names, chrome in meaningless containers, `<font>`/`<br>` bodies in layout
  tables next to a related-articles column, `<div>` paragraphs with `<h3>` headings, a gkmlpt DETAIL page,
  body sentences that use chrome words).
"""


@click.command()
@click.option("--repeat", default=3, show_default=True, help="Timing runs per page (the best counts).")
@click.option("--pages", "show_pages", is_flag=True, help="Also print one row per page for our extractor.")
@click.option("--write/--no-write", default=True, show_default=True, help="Write docs/fidelity.md.")
def main(repeat: int, show_pages: bool, write: bool) -> None:
    """Score the extractors on the replica pages, e.g. `python -m bench.fidelity --pages`."""
    cases = farm_cases()
    for run in EXTRACTORS.values():  # warm-up: imports and caches out of the timings
        run(cases[0])
    results = {name: score(name, run, cases, repeat) for name, run in EXTRACTORS.items()}
    summary = table(results, len(cases))
    ours_result = next(iter(results.values()))
    held_out = unseen_cases()
    held_results = {name: score(name, run, held_out, repeat) for name, run in EXTRACTORS.items()}
    held_summary = table(held_results, len(held_out))
    held_ours = next(iter(held_results.values()))
    real = real_cases()
    real_results = {name: score(name, run, real, repeat) for name, run in EXTRACTORS.items()}
    real_summary = table(real_results, len(real))
    real_ours = next(iter(real_results.values()))
    click.echo(summary)
    click.echo(f"\nheld-out templates ({len(held_out)} pages)\n{held_summary}")
    click.echo(f"\nreal pages ({len(real)} pages)\n{real_summary}")
    if show_pages:
        click.echo("\n" + page_rows(ours_result) + "\n\n" + page_rows(held_ours) + "\n\n" + page_rows(real_ours))
    if write:
        doc = (f"{DOC_HEAD}\n## Results ({len(cases)} pages)\n\n{summary}\n\n"
               f"## Held-out templates ({len(held_out)} pages)\n\n{HELD_OUT_HEAD}\n{held_summary}\n\n"
               f"## Real pages ({len(real)} pages)\n\n{REAL_HEAD}\n{real_summary}\n\n"
               f"## Our extractor, page by page\n\n{page_rows(ours_result)}\n\n"
               f"### Held-out\n\n{page_rows(held_ours)}\n\n"
               f"### Real pages\n\n{page_rows(real_ours)}\n{DOC_NOTES}")
        (ROOT / "docs" / "fidelity.md").write_text(doc, encoding="utf-8")


if __name__ == "__main__":
    main()
