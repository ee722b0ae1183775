"""Attachments end to end: a replica report page links a PDF (Chinese, CID font not embedded), a DOCX,
an XLSX, an OFD and a broken PDF; the real crawler fetches them with Scrapy's media pipeline into the
archive; the texts are searchable (archive.search and Datasette's ?_search=), versions are added only
when a file changes, and `archive attachments` / `archive diff --attachment` read them."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from datasette.app import Datasette

from archive import search
from archive.cli import cli
from archive.db import connect
from crawler.attachments import wanted
from crawler.sources import ConfigError, load_config
from tests.crawling import crawl, rows
from tests.sites import Response
from tests.sites.files import FilesSite, docx_file, ofd_file, pdf_file, xlsx_file

METADATA = Path(__file__).resolve().parent.parent / "config" / "datasette.yaml"

REPORT = ["某区2024年法治政府建设年度报告", "一、全年办理行政复议案件128件,纠错率百分之九。",
          "二、行政机关负责人出庭应诉率达到百分之百。"]
FIXED = [REPORT[0], REPORT[1].replace("128", "131"), REPORT[2]]


def serve_report(site: FilesSite) -> bytes:
    pdf = pdf_file(REPORT)
    site.files["report.pdf"] = pdf
    site.files["table.docx"] = docx_file(["附表说明:行政复议决定书公开情况"], [["类别", "件数"], ["维持", "97"]])
    site.files["figures.xlsx"] = xlsx_file([["指标", "数值"], ["行政诉讼应诉", 42], ["败诉率", 0.05]])
    site.files["report.ofd"] = ofd_file([["版式文件:执法监督检查通报", "共检查执法案卷三百一十卷"]])
    site.files["broken.pdf"] = pdf[: len(pdf) // 2]  # truncated mid-file
    site.link_text["report.pdf"] = "2024年法治政府建设年度报告全文.pdf"
    return pdf


def cli_out(db: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["--db", str(db), *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def datasette_search(db: Path, query: str) -> list[dict]:
    async def run():
        ds = Datasette([str(db)], metadata=yaml.safe_load(METADATA.read_text()))
        await ds.invoke_startup()
        return await ds.client.get(f"/archive/attachment_revisions.json?_search={query}&_shape=objects")
    response = asyncio.run(run())
    assert response.status_code == 200, response.text[:300]
    return response.json()["rows"]


def test_report_attachments_archived_searchable_and_versioned(tmp_path):
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        serve_report(site)
        config = site.source_yaml(tmp_path / "sources.yaml")

        result = crawl(config, db, "replica-files")
        assert result.returncode == 0, result.stderr[-2000:]
        [run] = rows(db, "select * from runs")
        assert run["status"] == "ok" and run["errors"] == 0
        versions = {r["url"].rsplit("/", 1)[1]: r for r in rows(
            db, "select a.url, v.* from attachment_revisions v join attachments a on a.id = v.attachment_id")}
        assert set(versions) == {"report.pdf", "table.docx", "figures.xlsx", "report.ofd", "broken.pdf"}
        assert versions["report.pdf"]["text"] == "\n".join(REPORT)  # the CID font read as the right characters
        assert versions["table.docx"]["text"] == "附表说明:行政复议决定书公开情况\n类别 | 件数\n维持 | 97"
        assert versions["figures.xlsx"]["text"] == "指标 | 数值\n行政诉讼应诉 | 42\n败诉率 | 0.05"
        assert versions["report.ofd"]["text"] == "版式文件:执法监督检查通报\n共检查执法案卷三百一十卷"
        broken = versions["broken.pdf"]
        assert broken["text"] is None and broken["mime"] == "application/pdf" and "cannot read PDF" in broken["error"]
        assert "bad attachment" in result.stderr and "broken.pdf" in result.stderr
        assert {v["mime"] for v in versions.values()} == {
            "application/pdf", "application/ofd",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
        [attachment] = rows(db, "select * from attachments where url like '%report.pdf'")
        assert attachment["text"] == "2024年法治政府建设年度报告全文.pdf"

        # words that only an attachment holds are found, in the library and in Datasette
        archive = connect(db)
        try:
            assert search.search(archive, "出庭应诉") == []  # not in the page itself
            for word, name in (("出庭应诉", "report.pdf"), ("决定书", "table.docx"), ("败诉率", "figures.xlsx"),
                               ("执法案卷", "report.ofd")):
                found = search.search(archive, word, table="attachment_revisions")
                assert [r["id"] for r in found] == [versions[name]["id"]], word
                assert [r["id"] for r in datasette_search(db, word)] == [versions[name]["id"]], word
        finally:
            archive.close()
        files = rows(db, "select count(*) n, sum(size) size from files")[0]
        assert files["n"] == 5 and files["size"] == sum(v["size"] for v in versions.values())

        # unchanged files add nothing (asked conditionally: 304)
        assert crawl(config, db, "replica-files").returncode == 0
        assert rows(db, "select count(*) n from attachment_revisions")[0]["n"] == 5
        assert site.fetched("/files/report.pdf") == [200, 304]
        assert rows(db, "select count(*) n, sum(size) size from files")[0] == files

        # the PDF is replaced by one where a figure changed: exactly one version, shown by the diff
        site.files["report.pdf"] = pdf_file(FIXED)
        assert crawl(config, db, "replica-files").returncode == 0
        added = rows(db, "select v.* from attachment_revisions v where v.id > 5")
        assert len(added) == 1 and added[0]["attachment_id"] == versions["report.pdf"]["attachment_id"]
        assert added[0]["text"] == "\n".join(FIXED)
        [run3] = rows(db, "select * from runs where id = 3")
        assert run3["status"] == "ok"
        grown = rows(db, "select count(*) n, sum(size) size from files")[0]
        assert grown == {"n": 6, "size": files["size"] + added[0]["size"]}

        doc = rows(db, "select id from documents")[0]["id"]
        att = str(added[0]["attachment_id"])
        text = cli_out(db, "diff", str(doc), "--attachment", att)
        assert "[-128-]{+131+}" in text and f"revision {added[0]['id']}" in text
        as_json = json.loads(cli_out(db, "diff", str(doc), "--attachment", att, "--from",
                                     str(versions["report.pdf"]["id"]), "--to", str(added[0]["id"]),
                                     "--format", "json"))
        changed = [op for op in as_json["changes"] if op["op"] != "equal"]
        assert [(op["old"], op["new"]) for op in changed] == [("128", "131")]
        assert "<del" in cli_out(db, "diff", str(doc), "--attachment", att, "--format", "html")
        listing = cli_out(db, "attachments", str(doc))
        assert listing.count("version") == 6 and "error: cannot read PDF" in listing
        assert f"attachment {att}: 2024年法治政府建设年度报告全文.pdf" in listing
        assert "5 attachments" in listing


def test_attachment_cli_errors_are_one_line(tmp_path):
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        site.files["report.pdf"] = pdf_file(REPORT)
        config = site.source_yaml(tmp_path / "sources.yaml")
        assert crawl(config, db, "replica-files").returncode == 0
    result = CliRunner().invoke(cli, ["--db", str(db), "diff", "1", "--attachment", "99"])
    assert result.exit_code == 2 and "no attachment with id 99" in result.output
    result = CliRunner().invoke(cli, ["--db", str(db), "diff", "1", "--attachment", "1", "--to", "7"])
    assert result.exit_code == 2 and "no version 7 of attachment 1" in result.output


def test_bad_and_over_limit_files_are_error_versions_and_the_run_stays_ok(tmp_path):
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        site.files["big.pdf"] = pdf_file(REPORT) + b"\n%" + b"0" * 5000  # 7.5 kB: over the limit below
        site.files["notfound.pdf"] = ("<!DOCTYPE html><html><head><title>404</title></head>"
                                      "<body>页面不存在</body></html>").encode()
        site.files["garbage.docx"] = b"PK\x03\x04" + bytes(range(256)) * 4
        site.files["empty.xlsx"] = b""
        site.files["small.txt"] = "第一行:附件说明\n第二行".encode("gb18030")
        config = site.source_yaml(tmp_path / "sources.yaml", settings={"ZWGK_ATTACHMENT_MAXSIZE": 4000})
        result = crawl(config, db, "replica-files")
        assert result.returncode == 0, result.stderr[-2000:]
        versions = {r["url"].rsplit("/", 1)[1]: r for r in rows(
            db, "select a.url, v.* from attachment_revisions v join attachments a on a.id = v.attachment_id")}
        assert versions["big.pdf"]["error"] == "file over the 4000-byte limit"
        assert "Traceback" not in result.stderr
        assert versions["big.pdf"]["file_hash"] is None and versions["big.pdf"]["text"] is None
        assert "an HTML page, not a file" in versions["notfound.pdf"]["error"]
        assert versions["notfound.pdf"]["mime"] == "text/html"
        assert versions["garbage.docx"]["error"].startswith("corrupt or truncated zip")
        assert versions["empty.xlsx"]["error"] == "empty file"
        assert versions["small.txt"]["text"] == "第一行:附件说明\n第二行" and versions["small.txt"]["error"] is None
        assert rows(db, "select status from runs")[0]["status"] == "ok"
        # the same errors again add nothing
        assert crawl(config, db, "replica-files").returncode == 0
        assert rows(db, "select count(*) n from attachment_revisions")[0]["n"] == 5


def test_network_failures_leave_no_version_and_are_asked_again(tmp_path):
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        site.files["report.pdf"] = pdf_file(REPORT)
        site.add_route("/files/report.pdf", lambda request: Response(503, "服务暂时不可用", "text/html"))
        config = site.source_yaml(tmp_path / "sources.yaml")
        result = crawl(config, db, "replica-files")
        assert result.returncode == 0
        assert rows(db, "select count(*) n from attachment_revisions")[0]["n"] == 0
        assert "attachment not fetched (asked again next run)" in result.stderr and "HTTP 503" in result.stderr
        assert "Traceback" not in result.stderr  # an ordinary outcome, logged in one line
        assert rows(db, "select status from runs")[0]["status"] == "ok"
        del site.routes["/files/report.pdf"]
        assert crawl(config, db, "replica-files").returncode == 0
        [version] = rows(db, "select * from attachment_revisions")
        assert version["text"] == "\n".join(REPORT)


def test_attachments_off_the_source_hosts_are_not_fetched(tmp_path):
    db = tmp_path / "archive.db"
    with FilesSite() as site:
        site.files["report.pdf"] = pdf_file(REPORT)
        original = site.page
        elsewhere = "http://files.example.invalid/upload/report2.pdf"  # never asked: no DNS lookup happens

        def page(request, state):
            response = original(request, state)
            if request.path == "/xxgk/report.html":
                response.body = response.body.replace(
                    "</div></div>", f'<p>附件2:<a href="{elsewhere}">报告2.pdf</a></p></div></div>')
            return response

        site.page = page
        config = site.source_yaml(tmp_path / "sources.yaml")
        result = crawl(config, db, "replica-files")
        assert result.returncode == 0
        assert {r["url"] for r in rows(db, "select url from attachments")} == {site.url("/files/report.pdf"),
                                                                                 elsewhere}
        assert [r["url"] for r in rows(db, "select a.url from attachment_revisions v join attachments a "
                                           "on a.id = v.attachment_id")] == [site.url("/files/report.pdf")]
        assert "files.example.invalid" not in result.stderr


def test_wanted_hosts_and_extensions():
    hosts = ["www.example.gov.cn", "files.example.gov.cn"]
    assert wanted("http://www.example.gov.cn/a/report.PDF", "", hosts)
    assert wanted("https://cdn.files.example.gov.cn/a/b.ofd", None, hosts)  # a subdomain of a listed host
    assert wanted("http://www.example.gov.cn/download?id=7", "2024年报告.docx", hosts)  # the name is the link's
    assert not wanted("http://www.example.gov.cn/a/page.html", "报告", hosts)
    assert not wanted("http://other.gov.cn/a/report.pdf", "report.pdf", hosts)
    assert not wanted("ftp://www.example.gov.cn/a/report.pdf", "", hosts)
    for ext in ("pdf", "doc", "docx", "wps", "xls", "xlsx", "et", "ofd", "txt", "zip"):
        assert wanted(f"http://www.example.gov.cn/f/x.{ext}", "", hosts)


def test_attachment_hosts_config_key(tmp_path):
    base = {"id": "s", "name": "n", "district": "d", "start_urls": ["http://www.example.gov.cn/"],
            "article_urls": ["/t"]}
    path = tmp_path / "sources.yaml"
    path.write_text(yaml.safe_dump({"sources": [{**base, "attachment_hosts": ["Files.Example.gov.cn"]}]}))
    assert load_config(path).get("s").attachment_hosts == ("files.example.gov.cn",)
    path.write_text(yaml.safe_dump({"sources": [{**base, "attachment_hosts": ["http://x.gov.cn/"]}]}))
    with pytest.raises(ConfigError, match="source 's': field 'attachment_hosts': must be a list of host names"):
        load_config(path)
