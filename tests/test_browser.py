"""A real browser (headless Chromium via Playwright) on the served archive: the diff page shows the
highlighted changes, a revisions row links to it, and a screenshot is kept in tests/artifacts/."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.reading_fixtures import make_archive

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]

pytestmark = pytest.mark.skipif(not shutil.which(CHROMIUM), reason=f"{CHROMIUM} not installed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def served(tmp_path):
    """`python -m archive serve` on a fresh archive; (base URL, ids)."""
    path = tmp_path / "archive.db"
    ids = make_archive(path)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "archive", "--db", str(path), "serve", "--port", str(port)],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/-/versions.json")
                break
            except OSError:
                assert proc.poll() is None, "archive serve exited"
                time.sleep(0.2)
        yield base, ids
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_diff_page_in_chromium(served):
    from playwright.sync_api import sync_playwright

    base, ids = served
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 900})
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

            # a revisions row links to the diff page of that revision
            page.goto(f"{base}/archive/revisions?document_id={ids['report']}")
            links = page.locator("a.zwgk-diff")
            assert links.count() == 2
            latest_href = links.first.get_attribute("href")  # sorted newest first
            links.first.click()
            page.wait_for_load_state()
            assert page.url == base + latest_href

            # the changes are highlighted: <del>800</del><ins>860</ins>, a removed sentence
            diff = page.locator(".zwgk-diff-text")
            assert diff.locator("del").first.inner_text() == "800"
            assert diff.locator("ins").first.inner_text() == "860"
            assert "法律顾问" in diff.locator("del").nth(1).inner_text()
            ins_bg = diff.locator("ins").first.evaluate("e => getComputedStyle(e).backgroundColor")
            del_deco = diff.locator("del").first.evaluate("e => getComputedStyle(e).textDecorationLine")
            assert ins_bg not in ("rgba(0, 0, 0, 0)", "transparent") and "line-through" in del_deco
            assert diff.locator("ins").first.is_visible()
            page.screenshot(path=str(ARTIFACTS / "diff_page.png"), full_page=True)

            # the revision picker: choose "from nothing" → the whole first text inserted
            page.select_option("select[name=from]", "0")
            page.click("input[type=submit]")
            page.wait_for_load_state()
            assert "from=0&" in page.url
            assert page.locator(".zwgk-diff-text del").count() == 0
            assert page.locator(".zwgk-diff-text ins").count() >= 1

            # scraped HTML/script is text: nothing runs, the tags are visible as characters
            page.goto(f"{base}/-/diff/{ids['hostile']}")
            assert "<script>" in page.locator("h1").inner_text()
            assert "<b>加粗</b>" in page.locator(".zwgk-diff-text ins").inner_text()
            page.goto(f"{base}/archive/revisions?document_id={ids['hostile']}")
            page.screenshot(path=str(ARTIFACTS / "hostile_revisions.png"))
            assert dialogs == []
        finally:
            browser.close()
    assert (ARTIFACTS / "diff_page.png").stat().st_size > 10_000


def test_documents_to_document_page_to_diff_and_back_in_chromium(served):
    """documents table → a report's page → a revision's diff → back to the report's page, at 1400×900:
    the first row of data shows in the first screen, the pages link both ways, and nothing scraped runs."""
    from playwright.sync_api import sync_playwright

    base, ids = served
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            dialogs: list[str] = []
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

            for table in ("documents", "revisions"):
                page.goto(f"{base}/archive/{table}")
                first_row = page.locator("table.rows-and-columns tbody tr").first
                assert first_row.bounding_box()["y"] + 20 < 900, f"{table}: no data in the first screen"
                page.screenshot(path=str(ARTIFACTS / f"{table}_table.png"))
            page.goto(f"{base}/archive/documents")

            # documents → the report's page
            page.locator(f'a.zwgk-document[href="/-/document/{ids["report"]}"]').click()
            page.wait_for_load_state()
            assert page.url == f"{base}/-/document/{ids['report']}"
            assert page.locator("h1").inner_text() == "坪山区2023年法治政府建设年度报告（修订）"
            timeline = page.locator("table.zwgk-timeline")
            assert timeline.locator("a.zwgk-diff").count() == 2
            assert "800 → 860" in timeline.inner_text()
            assert "深入开展普法宣传" in page.locator(".zwgk-text").inner_text()
            page.screenshot(path=str(ARTIFACTS / "document_page.png"), full_page=True)

            # → the diff of its latest revision
            timeline.locator("a.zwgk-diff").last.click()
            page.wait_for_load_state()
            assert "/-/diff/" in page.url
            assert page.locator(".zwgk-diff-text ins").first.inner_text() == "860"

            # → back to the report's page, by its link and by the browser
            page.locator("a", has_text="document page").click()
            page.wait_for_load_state()
            assert page.url == f"{base}/-/document/{ids['report']}"
            page.go_back()
            assert "/-/diff/" in page.url
            page.go_back()
            assert page.url == f"{base}/-/document/{ids['report']}"

            # the hostile report: its page and its archived capture show the markup as text; the rendered
            # capture sits in a sandbox where its script cannot run
            page.goto(f"{base}/-/document/{ids['hostile']}")
            assert "<script>" in page.locator("h1").inner_text()
            page.locator("a.zwgk-capture").first.click()
            page.wait_for_load_state()
            assert "<script>alert(" in page.locator("pre.zwgk-source").inner_text()
            page.goto(page.url + "?view=rendered")
            frame = page.frame_locator("iframe.zwgk-frame")
            assert "第一段" in frame.locator("body").inner_text()
            page.screenshot(path=str(ARTIFACTS / "capture_rendered.png"))
            assert dialogs == []
        finally:
            browser.close()
    assert (ARTIFACTS / "document_page.png").stat().st_size > 10_000
