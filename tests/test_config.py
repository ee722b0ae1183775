"""config/sources.yaml validation: one clear line naming file, source and field; the shipped file loads."""
from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from crawler.sources import ConfigError, load_config

GOOD = """
defaults:
  schedule: "every 6h"
  settings: {DOWNLOAD_DELAY: 2}
sources:
  - id: a-site
    name: 甲区政府
    district: 甲区
    start_urls: ["http://example.invalid/col/index.html"]
    article_urls: ['/content/post_\\d+\\.html$']
    settings: {CONCURRENT_REQUESTS_PER_DOMAIN: 1}
  - id: b-site
    name: 乙区政府
    district: 乙区
    listing: gkmlpt
    start_urls: ["http://example.invalid/gkmlpt/index"]
    catalog: 法治政府建设年度报告
    schedule: "30 5 * * 1"
    timezone: Europe/Berlin
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_good_config_merges_defaults(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    a, b = config.sources["a-site"], config.sources["b-site"]
    assert a.schedule == "every 6h" and a.timezone == "Asia/Shanghai"
    assert a.settings == {"DOWNLOAD_DELAY": 2, "CONCURRENT_REQUESTS_PER_DOMAIN": 1}
    assert a.period() == timedelta(hours=6)
    assert b.listing == "gkmlpt" and b.catalog == "法治政府建设年度报告"
    assert b.period() == timedelta(days=7)
    assert b.timezone == "Europe/Berlin"


def test_shipped_sources_load():
    config = load_config(Path(__file__).parent.parent / "config" / "sources.yaml")
    districts = {s.district for s in config.sources.values()}
    for d in ("坪山区", "南山区", "光明区", "福田区", "罗湖区", "盐田区", "宝安区", "龙岗区", "龙华区", "大鹏新区"):
        assert d in districts
    assert any(s.listing == "gkmlpt" for s in config.sources.values())
    assert all(u.startswith("http://") for s in config.sources.values() for u in s.start_urls
               if ".gov.cn" in u)


@pytest.mark.parametrize("edit, field", [
    (("    article_urls: ['/content/post_\\d+\\.html$']", "    article_urls: ['/content/(post_\\d+\\.html$']"),
     "article_urls"),
    (('  schedule: "every 6h"', '  schedule: "61 * * * *"'), "schedule"),
    (('  schedule: "every 6h"', '  schedule: "sometimes"'), "schedule"),
    (("    district: 甲区", "    district: 甲区\n    colour: blue"), "colour"),
    (("  - id: b-site", "  - id: a-site"), "id"),
    (('    start_urls: ["http://example.invalid/col/index.html"]', ""), "start_urls"),
    (("    timezone: Europe/Berlin", "    timezone: Mars/Olympus"), "timezone"),
    (("    listing: gkmlpt", "    listing: rss"), "listing"),
    (("    catalog: 法治政府建设年度报告", ""), "catalog"),
    (("    settings: {CONCURRENT_REQUESTS_PER_DOMAIN: 1}", "    settings: {delay: 1}"), "settings"),
])
def test_bad_config_names_file_source_and_field(tmp_path, edit, field):
    text = textwrap.dedent(GOOD).replace(*edit)
    assert text != textwrap.dedent(GOOD)
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message
    assert str(path) in message
    assert f"'{field}'" in message
    assert "source '" in message


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "sources: [\n  - id: x\n  bad"))
    with pytest.raises(ConfigError, match="'sources' list"):
        load_config(write(tmp_path, "defaults: {}\n"))
    with pytest.raises(ConfigError, match="no source with id 'nope'"):
        load_config(write(tmp_path, GOOD)).get("nope")
