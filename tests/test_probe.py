"""`python scheduler.py --probe ID`: on a gkmlpt index it prints the catalogue tree (id, name, post count)
and follows a department prefix; when the network fails it says "cannot reach <url>: <reason>"."""
from __future__ import annotations

import io
import re
import socket
import subprocess
import sys

import pytest
import yaml

from crawler.probe import probe
from crawler.sources import load_config
from tests.crawling import ROOT
from tests.sites.corpus import GK_CATALOG


@pytest.fixture
def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gkmlpt_probe_prints_the_catalogue_tree_and_a_sample(dept, tmp_path):
    config = dept.sources_yaml(tmp_path / "sources.yaml")
    source = load_config(config).get("replica-gkmlpt")
    out = io.StringIO()
    assert probe(source, out) == 0, out.getvalue()
    text = out.getvalue()
    reports = [e for e in dept.expected(1) if e.site == "gkmlpt"]
    posts = len(dept.sites["gkmlpt"].catalogue(GK_CATALOG, 1))
    # one line per catalogue, indented by depth: id, name, post count
    assert re.search(rf"^ {{6}}{GK_CATALOG}  法治政府建设年度报告  {posts}$", text, re.M), text
    assert re.search(r"^  11934  规划计划  0$", text, re.M)
    assert re.search(r"^    11937  计划总结  0$", text, re.M)
    assert f"catalogue '法治政府建设年度报告' -> {GK_CATALOG}" in text
    assert f"/gmsfj/gkmlpt/api/all/{GK_CATALOG}?page=1&sid=755041" in text
    assert f"article links: {len(reports)}" in text
    assert "sample article " in text and "#" not in text.split("sample article ")[1].splitlines()[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sources.yaml"]  # the probe writes nothing


def test_unknown_catalogue_still_shows_the_tree(dept, tmp_path):
    config = dept.sources_yaml(tmp_path / "sources.yaml", catalog="不存在的栏目")
    out = io.StringIO()
    assert probe(load_config(config).get("replica-gkmlpt"), out) == 1
    assert "-> not found" in out.getvalue() and "法治政府建设年度报告" in out.getvalue()


@pytest.mark.parametrize("listing", ["html", "gkmlpt"])
def test_unreachable_site_says_cannot_reach(tmp_path, closed_port, listing):
    url = f"http://127.0.0.1:{closed_port}/" + ("gkmlpt/index" if listing == "gkmlpt" else "list/index.html")
    entry = {"id": "gone", "name": "某区人民政府", "district": "某区", "start_urls": [url],
             "article_urls": ["/content/"], "listing": listing}
    if listing == "gkmlpt":
        entry["catalog"] = "0"
        entry["title_filter"] = "法治政府建设"
    config = tmp_path / "sources.yaml"
    config.write_text(yaml.safe_dump({"sources": [entry]}, allow_unicode=True), encoding="utf-8")
    done = subprocess.run([sys.executable, "scheduler.py", "--probe", "gone", "--config", str(config)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert re.search(rf"cannot reach {re.escape(url)}: .*refused", done.stdout, re.I), done.stdout
    assert "no article links found" not in done.stdout
