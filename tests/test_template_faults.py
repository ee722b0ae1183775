"""Template faults of real sites, end to end: the real spider crawls a replica over HTTP on 127.0.0.1 whose
article pages close the document early (a stray `</html>` / `</body>` from a header include), and the
archive still holds each report's whole body, title, date and publisher."""
from __future__ import annotations

import pytest

from tests.crawling import crawl, rows
from tests.sites.faults import FaultFarm, squash
from tests.sites.templates import TEMPLATE_FAULTS, serve_stray_listing, serve_template_fault


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("templates")
    with FaultFarm(("tpl",)) as farm:
        site = farm.sites["tpl"]
        for fault in TEMPLATE_FAULTS:
            site.add_article(fault)
            serve_template_fault(site, fault, fault)
        serve_stray_listing(site)  # the listing too closes the document before its list
        config = farm.sources_yaml(workdir / "sources.yaml")
        db = workdir / "archive.db"
        result = crawl(config, db, farm.source_id("tpl"))
    return site, db, result


def test_the_replica_really_breaks_a_plain_lxml_parse(archive):
    """The fault is real: lxml, left alone, loses the article of these pages."""
    from lxml import html as lxml_html

    site, _, _ = archive
    for fault, make in TEMPLATE_FAULTS.items():
        tree = lxml_html.document_fromstring(make(site, fault))
        body = tree.find("body")
        assert body is None or site.articles[fault].paragraphs[0] not in "".join(body.itertext()), fault


@pytest.mark.parametrize("fault", list(TEMPLATE_FAULTS))
def test_body_after_a_stray_end_tag_is_archived(archive, fault):
    site, db, result = archive
    assert result.returncode == 0, result.stderr[-2000:]
    spec = site.articles[fault]
    [document] = rows(db, "SELECT * FROM documents WHERE url = ?", [site.article_url(fault)])
    [revision] = rows(db, "SELECT * FROM revisions WHERE document_id = ?", [document["id"]])
    assert squash(revision["text"]) == squash(spec.text)
    assert (revision["title"], revision["published"], revision["publisher"]) == (
        spec.title, spec.date, spec.publisher)
    [fetch] = rows(db, "SELECT outcome FROM fetches WHERE url = ?", [site.article_url(fault)])
    assert fetch["outcome"] == "new"


def test_listing_links_after_a_stray_end_tag_are_followed(archive):
    site, db, _ = archive
    from parsel import Selector

    listing = site.routes["/list/index.html"]().body
    assert "/content/" not in " ".join(Selector(text=listing).css("a::attr(href)").getall())  # lxml loses them
    archived = {r["url"] for r in rows(db, "SELECT url FROM documents")}
    assert archived == {site.article_url(slug) for slug in site.listed}
