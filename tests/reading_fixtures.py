"""A small real archive for the reading tests (history, diff, search, Datasette), written through
archive.store exactly as the crawler writes it."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from archive import store
from archive.db import connect

SOURCE = {"id": "ps", "name": "坪山区人民政府", "district": "坪山区", "listing": "html",
          "start_urls": "[]", "schedule": "daily", "timezone": "Asia/Shanghai", "config": "{}"}

REPORT_V1 = (
    "一、2023年法治政府建设情况\n"
    "全区共办理行政复议案件800件，比上年增长5%。\n"
    "深入开展普法宣传，举办普法讲座120场，人民调解组织调解纠纷2000余宗。\n"
    "同时，法律顾问还定期为我们局开展有针对性的法律知识培训。\n"
    "二、存在的不足\n"
    "基层法治力量仍然薄弱。"
)
# the figure changed, one sentence removed, one paragraph inserted
REPORT_V2 = (
    "一、2023年法治政府建设情况\n"
    "全区共办理行政复议案件860件，比上年增长5%。\n"
    "深入开展普法宣传，举办普法讲座120场，人民调解组织调解纠纷2000余宗。\n"
    "二、存在的不足\n"
    "新增加强行政执法监督的段落。\n"
    "基层法治力量仍然薄弱。"
)
HOSTILE_TITLE = '<script>alert("x")</script>坪山区<b>公告</b>'
HOSTILE_TEXT = '第一段<img src=x onerror=alert(1)>内容。\n第二段</div><script>alert(2)</script>。'


@dataclass
class Page:
    title: str
    text: str
    published: str | None = "2024-03-01"
    publisher: str | None = "坪山区司法局"
    report_year: int | None = 2023
    attachments: list = field(default_factory=list)
    record: dict = field(default_factory=dict)


def write(db, url: str, page: Page, fetched_at: str) -> str:
    """Record one page through the real store; its outcome (new/changed/unchanged)."""
    return store.record_page(db, None, source_id="ps", district="坪山区", url=url, http_status=200, page=page,
                             body=f"<html>{page.title}{page.text}</html>".encode(), encoding="utf-8",
                             headers={"content-type": "text/html"}, fetched_at=fetched_at)


def make_archive(path: Path) -> dict[str, int]:
    """An archive with a report edited once, a second report, and one with hostile HTML; their ids."""
    db = connect(path)
    store.upsert_source(db, SOURCE)
    report = "http://example.gov.cn/report/2023.html"
    write(db, report, Page("坪山区2023年法治政府建设年度报告", REPORT_V1), "2024-03-02T01:00:00.000000+00:00")
    write(db, report, Page("坪山区2023年法治政府建设年度报告（修订）", REPORT_V2),
          "2024-03-09T01:00:00.000000+00:00")
    other = "http://example.gov.cn/notice/1.html"
    write(db, other, Page("关于开展行政复议宣传月活动的通知", "各街道：\n请做好行政复议宣传工作。"),
          "2024-03-03T01:00:00.000000+00:00")
    hostile = "http://example.gov.cn/notice/2.html"
    write(db, hostile, Page(HOSTILE_TITLE, HOSTILE_TEXT), "2024-03-04T01:00:00.000000+00:00")
    write(db, hostile, Page(HOSTILE_TITLE, HOSTILE_TEXT + "\n第三段<b>加粗</b>。"), "2024-03-05T01:00:00.000000+00:00")
    ids = {name: db.execute("SELECT id FROM documents WHERE url = ?", [url]).fetchone()[0]
           for name, url in (("report", report), ("other", other), ("hostile", hostile))}
    db.conn.close()
    return ids
