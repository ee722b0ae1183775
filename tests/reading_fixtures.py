"""A small real archive for the reading tests (history, diff, search, Datasette), written through
archive.store exactly as the crawler writes it."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
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
REPORT_URL = "http://example.gov.cn/report/2023.html"
REPORT_TITLE = "坪山区2023年法治政府建设年度报告"
OTHER_URL = "http://example.gov.cn/notice/1.html"
HOSTILE_URL = "http://example.gov.cn/notice/2.html"
WITHDRAWN_URL = "http://example.gov.cn/report/2022.html"
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


def write(db, url: str, page: Page, fetched_at: str, run_id: int | None = None) -> str:
    """Record one page through the real store; its outcome (new/changed/unchanged)."""
    return store.record_page(db, run_id, source_id="ps", district="坪山区", url=url, http_status=200, page=page,
                             body=f"<html>{page.title}{page.text}</html>".encode(), encoding="utf-8",
                             headers={"content-type": "text/html"}, fetched_at=fetched_at)


def days_ago(days: float) -> str:
    """A fetched_at timestamp `days` before now, in the archive's format."""
    return (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="microseconds")


def make_archive(path: Path) -> dict[str, int]:
    """An archive written through the real store; the ids of its documents and runs.

    - report: fetched 40 days ago, edited 2 days ago (figure changed, sentence removed, paragraph and
      title suffix added);
    - other: one revision, 3 days ago;
    - hostile: title and text full of HTML/script, two revisions 60 and 50 days ago;
    - withdrawn: one revision 20 days ago, then not found (gone) 1 day ago;
    - runs: one ok, one failed with a message.
    """
    db = connect(path)
    store.upsert_source(db, SOURCE)
    ok_run = store.start_run(db, "ps")
    write(db, REPORT_URL, Page(REPORT_TITLE, REPORT_V1), days_ago(40), ok_run)
    write(db, REPORT_URL, Page(REPORT_TITLE + "（修订）", REPORT_V2), days_ago(2), ok_run)
    write(db, OTHER_URL, Page("关于开展行政复议宣传月活动的通知", "各街道：\n请做好行政复议宣传工作。"),
          days_ago(3), ok_run)
    write(db, HOSTILE_URL, Page(HOSTILE_TITLE, HOSTILE_TEXT), days_ago(60), ok_run)
    write(db, HOSTILE_URL, Page(HOSTILE_TITLE, HOSTILE_TEXT + "\n第三段<b>加粗</b>。"), days_ago(50), ok_run)
    write(db, WITHDRAWN_URL, Page("坪山区2022年法治政府建设年度报告", "已撤回的报告正文。"), days_ago(20), ok_run)
    store.record_failure(db, ok_run, url=WITHDRAWN_URL, outcome="not-found", http_status=404, fetched_at=days_ago(1))
    store.finish_run(db, ok_run, pages_fetched=7)
    failed_run = store.start_run(db, "ps")
    store.finish_run(db, failed_run, status="failed", message="listing unreachable: connection refused")
    ids = {name: db.execute("SELECT id FROM documents WHERE url = ?", [url]).fetchone()[0]
           for name, url in (("report", REPORT_URL), ("other", OTHER_URL), ("hostile", HOSTILE_URL),
                             ("withdrawn", WITHDRAWN_URL))}
    ids["ok_run"], ids["failed_run"] = ok_run, failed_run
    db.conn.close()
    return ids
