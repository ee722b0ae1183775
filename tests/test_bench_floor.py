"""The recrawl floor stays honest: the bench site's server logs every request it receives, and the floor
replays exactly those (same targets, same conditional headers) — no more, no fewer."""
from __future__ import annotations

import urllib.request

from bench.floor import send_all
from bench.site import BenchSite


def test_the_floor_replays_the_requests_the_server_received():
    site = BenchSite.generate(16, columns=2)
    article = site.articles[0]
    page = site.pages[1][article.path]
    with site.serve() as server:
        mark = server.asked_count()
        asked = [[server.base_url + "/robots.txt", None, None],
                 [server.base_url + "/col0/index.html", None, None],
                 [server.base_url + article.path, page.etag, page.last_modified]]
        for url, etag, modified in asked:
            request = urllib.request.Request(url, headers={k: v for k, v in (("If-None-Match", etag),
                                                                              ("If-Modified-Since", modified)) if v})
            try:
                urllib.request.urlopen(request, timeout=10).read()
            except urllib.error.HTTPError as e:  # the 304
                assert e.code == 304
        logged = server.asked(mark)
        assert logged == [["/robots.txt", None, None], ["/col0/index.html", None, None],
                          [article.path, page.etag, page.last_modified]]
        replay = [[server.base_url + target, etag, modified] for target, etag, modified in logged]
        assert send_all(replay) == {"200": 2, "304": 1}
        assert server.asked(mark + 3) == logged  # the floor asked the same again, nothing else
        assert server.stats() == {"200": 2, "304": 2}  # robots.txt is not counted by status
