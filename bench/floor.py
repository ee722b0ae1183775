"""The floor of an unchanged recrawl: a bare process sending the same requests one after another.

`python -m bench.floor REQUESTS.json` reads [[url, etag, last_modified], …] (validators may be null) and
GETs each URL with http.client over one keep-alive connection per host, with If-None-Match /
If-Modified-Since when given, reading every answer to the end. It prints one JSON line: requests, statuses.
Timed by the caller as a whole process (interpreter start included), as the crawl is.
"""
from __future__ import annotations

import http.client
import json
import sys
from urllib.parse import urlsplit


def send_all(requests: list[list]) -> dict[str, int]:
    """GET every (url, etag, last_modified) in order; the count of answers by status."""
    connections: dict[str, http.client.HTTPConnection] = {}
    statuses: dict[str, int] = {}
    for url, etag, modified in requests:
        parts = urlsplit(url)
        conn = connections.get(parts.netloc)
        if conn is None:
            conn = connections[parts.netloc] = http.client.HTTPConnection(parts.netloc, timeout=30)
        headers = {"Accept-Encoding": "identity"}
        if etag:
            headers["If-None-Match"] = etag
        if modified:
            headers["If-Modified-Since"] = modified
        conn.request("GET", parts.path + (f"?{parts.query}" if parts.query else ""), headers=headers)
        response = conn.getresponse()
        response.read()
        statuses[str(response.status)] = statuses.get(str(response.status), 0) + 1
    for conn in connections.values():
        conn.close()
    return statuses


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as f:
        requests = json.load(f)
    print(json.dumps({"requests": len(requests), "statuses": send_all(requests)}))


if __name__ == "__main__":
    main()
