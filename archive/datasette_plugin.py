"""Datasette plugin (entry point ``zwgk_archive``): diff pages, Chinese search, links and metadata.

- ``/-/diff/{document_id}?from=REV&to=REV`` — a document's revisions diffed by character, with a
  revision picker (``&db=NAME`` picks the database when several hold an archive);
  ``?attachment=ID&from=V&to=V`` diffs two versions of one of its attachments the same way.
- ``escape_fts`` is re-registered (``trylast``, so after Datasette's own) with the segmenting version
  from :mod:`archive.search`, which makes ``?_search=`` on ``revisions`` and ``documents`` match Chinese
  terms of any length; the statements of a search page of those tables run as a join driven by the MATCH,
  with the count and the facets in one grouped pass (:mod:`archive.datasette_search`; exact figures).
- ``documents.latest_revision_id``, ``revisions.fetched_at`` and ``diff`` columns of canned queries link
  to the diff page.
- ``/-/document/{id}`` — a page per report: metadata, status and its dates, live URL, attachments,
  disclosure record, a timeline of revisions (each linking its diff) with gone/returned events, latest text.
- ``/-/capture/{hash}`` — an archived raw response, decoded and shown as text; ``?view=rendered`` shows it
  in a sandboxed frame fed by ``?raw=1``, which is served with ``Content-Security-Policy: sandbox`` and no
  network access, so no script or resource of a scraped page ever runs or loads.
- Table views cut long text to a preview (full text on row and document pages), link every URL-like
  column, and title row pages of documents and revisions with the report's title; the Atom feed's root-
  relative links are made absolute (``archive serve --public-url``, else the request's own host).
- The ``archive`` entry of config/datasette.yaml (titles, facets, sorts, canned queries) and the FTS
  table names are applied to every database holding the archive's tables, whatever its file name.

Everything scraped is escaped: templates autoescape, and the diff markup escapes every text run.
"""
from __future__ import annotations

import contextvars
import json
import os
import re
import sqlite3
from functools import cache
from pathlib import Path

import datasette.handle_exception as _datasette_errors
import markupsafe
import sqlite_utils
import yaml
from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response

from archive import datasette_search, search
from archive import diff as diffs
from archive import history as hist

# Datasette 0.65's default exception handler prints a rich traceback whenever rich is importable
# (datasette#1416), also for a plain 404 outside any `except:`, where current rich raises ValueError
# ("Value for 'trace' required"): every 404 would become a 500. rich is installed (the scheduler's
# progress display), so Datasette's handler is told it is not.
_datasette_errors.rich = None

METADATA_FILE = Path(__file__).resolve().parent.parent / "config" / "datasette.yaml"
ARCHIVE_TABLES = {"documents", "revisions", "revisions_fts", "documents_fts"}
_archive_paths: set[str] = set()
PREVIEW_CHARS = 80
PREVIEW_COLUMNS = {("revisions", "text"), ("revisions", "record"), ("sources", "config"), ("captures", "headers"),
                   ("attachments", "text"), ("runs", "message"), ("fetches", "error"), ("runs", "notify_error")}
HASH_COLUMNS = {("revisions", "content_hash"), ("fetches", "content_hash")}
URL_COLUMNS = {"url", "start_urls"}
TITLE_TABLES = {"documents": "title", "revisions": "title"}
# the path of the request being served (set by asgi_wrapper): render_cell tells table views from row pages
_request_path: contextvars.ContextVar[str] = contextvars.ContextVar("zwgk_request_path", default="")


@cache
def project_metadata() -> dict:
    """config/datasette.yaml as a dict (empty if the file is missing)."""
    if not METADATA_FILE.exists():
        return {}
    return yaml.safe_load(METADATA_FILE.read_text(encoding="utf-8")) or {}


def _is_archive(database) -> bool:
    """Whether a Datasette database is an archive (has our tables); positive answers are cached."""
    path = getattr(database, "path", None)
    if not path:
        return False
    if path in _archive_paths:
        return True
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        finally:
            conn.close()
    except sqlite3.Error:
        return False
    if ARCHIVE_TABLES <= names:
        _archive_paths.add(path)
        return True
    return False


def archive_database_names(datasette) -> list[str]:
    return [name for name, db in datasette.databases.items() if _is_archive(db)]


@hookimpl(trylast=True)
def prepare_connection(conn):
    # trylast: runs after Datasette's own prepare_connection, so this escape_fts replaces its one
    segmenter = search.segmenter_version(conn)
    conn.create_function("escape_fts", 1, lambda query: search.escape_fts(query, segmenter), deterministic=True)
    search.tune_reader(conn)
    conn.create_function("zh_segment", 1, search.segment, deterministic=True)


@hookimpl
def get_metadata(datasette, key, database, table):
    meta = project_metadata()
    template = (meta.get("databases") or {}).get("archive") or {}
    databases = {}
    for name in archive_database_names(datasette):
        entry = {**template, "tables": {k: dict(v) for k, v in (template.get("tables") or {}).items()}}
        for fts, base in search.FTS_TABLES.items():
            entry["tables"].setdefault(base, {})["fts_table"] = fts
        databases[name] = entry
    out = {k: v for k, v in meta.items() if k != "databases"}
    out["databases"] = databases
    return out


def _diff_url(datasette, database: str, document_id, to_id=None) -> str:
    path = datasette.urls.path(f"/-/diff/{document_id}")
    params = []
    if to_id is not None:
        params.append(f"to={to_id}")
    names = archive_database_names(datasette)
    if names and database != names[0]:
        params.append(f"db={database}")
    return path + ("?" + "&".join(params) if params else "")


def _raw(value):
    return value["value"] if isinstance(value, dict) else value


def _document_url(datasette, database: str, document_id) -> str:
    names = archive_database_names(datasette)
    suffix = f"?db={database}" if names and database != names[0] else ""
    return datasette.urls.path(f"/-/document/{document_id}") + suffix


def _capture_url(datasette, database: str, digest: str) -> str:
    names = archive_database_names(datasette)
    suffix = f"?db={database}" if names and database != names[0] else ""
    return datasette.urls.path(f"/-/capture/{digest}") + suffix


def _is_table_view() -> bool:
    """Whether the current request is a table view (/db/table), where long text is cut to a preview."""
    parts = [p for p in _request_path.get().split("/") if p]
    return len(parts) == 2 and not parts[0].startswith("-")


def _link(href: str, text) -> markupsafe.Markup:
    return markupsafe.Markup('<a href="{}" rel="nofollow noreferrer">{}</a>').format(href, text)


def _url_list(value: str):
    """A JSON list of URLs (sources.start_urls) as links, or None."""
    try:
        urls = json.loads(value)
    except ValueError:
        return None
    if not isinstance(urls, list) or not all(isinstance(u, str) and _is_http(u) for u in urls):
        return None
    return markupsafe.Markup("<br>").join(_link(u, u) for u in urls)


def _is_http(value) -> bool:
    return isinstance(value, str) and value.startswith(("http://", "https://")) and " " not in value.strip()


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if value is None:
        return None
    raw = _raw(value)
    if table == "documents" and column == "latest_revision_id":
        href = _diff_url(datasette, database, _raw(row["id"]), raw)
        return markupsafe.Markup('{} · <a class="zwgk-diff" href="{}">diff</a>').format(raw, href)
    if table == "revisions" and column == "fetched_at":
        href = _diff_url(datasette, database, _raw(row["document_id"]), _raw(row["id"]))
        return markupsafe.Markup('<a class="zwgk-diff" href="{}">{}</a>').format(href, value)
    if table == "documents" and column == "title":
        href = _document_url(datasette, database, _raw(row["id"]))
        return markupsafe.Markup('<a class="zwgk-document" href="{}">{}</a>').format(href, raw)
    if table == "revisions" and column == "title" and "document_id" in row.keys():
        href = _document_url(datasette, database, _raw(row["document_id"]))
        return markupsafe.Markup('<a class="zwgk-document" href="{}">{}</a>').format(href, raw)
    if column in ("capture_hash",) or (table == "captures" and column == "hash"):
        href = _capture_url(datasette, database, raw)
        return markupsafe.Markup('<a class="zwgk-capture" href="{}" title="{}">{}…</a>').format(href, raw, raw[:12])
    if (table, column) in HASH_COLUMNS and isinstance(raw, str):
        return markupsafe.Markup('<span title="{}">{}…</span>').format(raw, raw[:12])
    if table is None and column in ("diff", "atom_link", "document_page") and isinstance(raw, str) \
            and raw.startswith(("/-/diff/", "/-/document/")):
        label = "diff" if column == "diff" else raw
        return markupsafe.Markup('<a class="zwgk-diff" href="{}">{}</a>').format(datasette.urls.path(raw), label)
    if column == "start_urls" and isinstance(raw, str):
        return _url_list(raw)
    if (column in URL_COLUMNS or column.endswith("_url") or column == "atom_link") and _is_http(raw):
        return _link(raw.strip(), raw)
    if (table, column) in PREVIEW_COLUMNS and isinstance(raw, str) and len(raw) > PREVIEW_CHARS \
            and _is_table_view():
        return markupsafe.Markup('<span class="zwgk-preview" title="{} characters; the full text is on the '
                                 'row page">{}…</span>').format(len(raw), " ".join(raw[:PREVIEW_CHARS].split()))
    return None


@hookimpl
def extra_template_vars(template, database, table, view_name, request, datasette):
    """Row pages of documents and revisions are headed with the report's title."""
    if view_name != "row" or table not in TITLE_TABLES or request is None:
        return {}

    async def inner():
        pks = request.url_vars.get("pks", "")
        if not pks.isdigit() or database not in archive_database_names(datasette):
            return {}
        result = await datasette.get_database(database).execute(
            f"SELECT {TITLE_TABLES[table]} FROM [{table}] WHERE id = ?", [int(pks)])
        row = result.first()
        return {"primary_key_values": [f"{pks} · {row[0]}"]} if row and row[0] else {}

    return inner


@hookimpl
def extra_css_urls(datasette):
    return [datasette.urls.path("/-/zwgk-archive.css")]


STYLESHEET = """
dl.column-descriptions { display: grid; grid-template-columns: repeat(3, max-content minmax(8em, 1fr));
  gap: 0 .6em; font-size: .78em; line-height: 1.35; margin: .3em 0 .6em; }
dl.column-descriptions dt { font-weight: bold; margin: 0; }
dl.column-descriptions dd { margin: 0; color: #555; }
.zwgk-preview { color: #333; }
body.table-revisions td.col-text, body.table-attachments td.col-text { min-width: 22em; }
"""


async def stylesheet(request):
    return Response(STYLESHEET, content_type="text/css; charset=utf-8")


@hookimpl
def asgi_wrapper(datasette):
    """Remember each request's path (for render_cell), answer a search page's count and facets in one pass
    (:mod:`archive.datasette_search`), and make the Atom feeds' root-relative links
    absolute: under ``archive serve --public-url`` ($ZWGK_PUBLIC_URL, or the plugin setting
    ``public_url``), else under the request's own scheme and host."""
    def wrap(app):
        async def wrapped(scope, receive, send):
            if scope.get("type") != "http":
                return await app(scope, receive, send)
            token = _request_path.set(scope.get("path", ""))
            for name in archive_database_names(datasette):
                datasette_search.install(datasette.databases[name])
            search_token = datasette_search.begin_request(scope.get("query_string", b""))
            try:
                if not scope.get("path", "").endswith(".atom"):
                    return await app(scope, receive, send)
                return await _absolute_atom(app, scope, receive, send, _base_url(datasette, scope))
            finally:
                datasette_search.end_request(search_token)
                _request_path.reset(token)
        return wrapped
    return wrap


def _base_url(datasette, scope) -> str:
    configured = os.environ.get("ZWGK_PUBLIC_URL") or (datasette.plugin_config("zwgk_archive") or {}).get(
        "public_url")
    if configured:
        return str(markupsafe.escape(configured.rstrip("/")))  # spliced into XML
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1")
    if not _HOST_RE.fullmatch(host):  # the client's Host header is spliced into XML: a host name, nothing else
        name, port = scope.get("server") or ("localhost", None)
        host = f"{name}:{port}" if port else str(name)
    scheme = scope.get("scheme") if scope.get("scheme") in ("http", "https") else "http"
    return str(markupsafe.escape(f"{scheme}://{host}"))


_HOST_RE = re.compile(r"(?:[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?")


_ATOM_LINK_RE = re.compile(rb'(<link href=")(/[^"/][^"]*")')


async def _absolute_atom(app, scope, receive, send, base: str):
    start: dict = {}
    chunks: list[bytes] = []

    async def capture(message):
        if message["type"] == "http.response.start":
            start.update(message)
            return
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            if start.get("status") == 200:
                body = _ATOM_LINK_RE.sub(lambda m: m.group(1) + base.encode() + m.group(2), body)
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await send(message)

    await app(scope, receive, capture)


@hookimpl
def register_routes():
    return [(r"^/-/diff/(?P<document_id>[^/]+)$", diff_page),
            (r"^/-/document/(?P<document_id>[^/]+)$", document_page),
            (r"^/-/capture/(?P<digest>[^/]+)$", capture_page),
            (r"^/-/zwgk-archive\.css$", stylesheet)]


DIFF_TEMPLATE = """{% extends "base.html" %}
{% block title %}Diff: {{ document.title or document.url }}{% endblock %}
{% block extra_head %}<style>
.zwgk-diff-text { white-space: pre-wrap; border: 1px solid #ccc; padding: 1em; line-height: 1.8;
                  font-size: 1.05em; }
.zwgk-diff-text del, .zwgk-meta del { background: #fdd; color: #900; text-decoration: line-through; }
.zwgk-diff-text ins, .zwgk-meta ins { background: #dfd; color: #060; text-decoration: none; }
.zwgk-diff-text del.moved { background: #eee; color: #777; }
.zwgk-diff-text ins.moved { background: #def; color: #036; }
.zwgk-meta th { text-align: left; padding-right: 1em; }
.zwgk-picker label { width: auto; margin-right: 1em; }
.zwgk-picker select { width: auto; max-width: 24em; }
</style>{% endblock %}
{% block content %}
<h1>{{ document.title or document.url }}</h1>
<p>{% if document.url[:7] == "http://" or document.url[:8] == "https://" -%}
   <a href="{{ document.url }}" rel="nofollow noreferrer">{{ document.url }}</a>
   {%- else %}{{ document.url }}{% endif %} ·
   <a href="{{ document_page_url }}">document page</a> ·
   <a href="{{ document_row_url }}">document {{ document.id }}</a> · {{ document.status }}</p>
<form class="zwgk-picker" action="{{ action }}" method="get">
  {% if attachment_id %}<input type="hidden" name="attachment" value="{{ attachment_id }}">{% endif %}
  {% if db_param %}<input type="hidden" name="db" value="{{ db_param }}">{% endif %}
  <label>From <select name="from">
    <option value="0"{% if not from_id %} selected{% endif %}>(nothing)</option>
    {% for rev in revisions %}<option value="{{ rev.id }}"{% if rev.id == from_id %} selected{% endif %}>
      {{ rev.id }} · {{ rev.fetched_at }}</option>{% endfor %}
  </select></label>
  <label>To <select name="to">
    {% for rev in revisions %}<option value="{{ rev.id }}"{% if rev.id == to_id %} selected{% endif %}>
      {{ rev.id }} · {{ rev.fetched_at }}</option>{% endfor %}
  </select></label>
  <input type="submit" value="Show diff">
</form>
<p class="zwgk-summary">{{ from_label }} → {{ to_label }} · +{{ added }} −{{ removed }} characters
  {% if not changed %}· no changes{% endif %}</p>
{% if metadata_rows %}<table class="zwgk-meta">{{ metadata_rows }}</table>{% endif %}
<div class="zwgk-diff-text">{{ diff_html }}</div>
{% endblock %}
"""


def _read_diff(conn, document_id: int, from_id, to_id, attachment_id=None) -> tuple[dict, list[dict], diffs.Diff]:
    """The document, the revisions (or the attachment's versions) to pick from, and the diff."""
    from archive import attachments as atts

    db = sqlite_utils.Database(conn, recursive_triggers=False)
    document = hist.find_document(db, document_id)
    if attachment_id is not None:
        result = atts.attachment_diff(db, document, attachment_id, from_id, to_id)
        versions = next(a["versions"] for a in atts.versions(db, document["id"]) if a["id"] == int(attachment_id))
        return result.document, [{"id": v["id"], "fetched_at": v["fetched_at"]} for v in versions], result
    revisions = [{"id": r["id"], "fetched_at": r["fetched_at"]} for r in hist.revisions(db, document["id"])]
    return document, revisions, hist.document_diff(db, document, from_id, to_id)


async def diff_page(datasette, request):
    """/-/diff/{document_id}: the diff page (``?attachment=ID``: of that attachment's versions); ?format=json
    gives the JSON of `archive diff --format json`."""
    from archive import attachments as atts

    names = archive_database_names(datasette)
    name = request.args.get("db") or (names[0] if names else None)
    if name is None or name not in names:
        raise NotFound("no archive database" if name is None else f"{name!r} is not an archive database")
    await datasette.ensure_permissions(request.actor, [("view-table", (name, "revisions")),
                                                       ("view-database", name), "view-instance"])
    raw_id = request.url_vars["document_id"]
    from_id, to_id = request.args.get("from") or None, request.args.get("to") or None
    attachment_id = request.args.get("attachment") or None
    for label, value in (("document id", raw_id), ("from", from_id), ("to", to_id), ("attachment", attachment_id)):
        if value is not None and not value.isdigit():
            raise NotFound(f"{label} must be a number, not {value!r}")
    try:
        document, revisions, result = await datasette.get_database(name).execute_fn(
            lambda conn: _read_diff(conn, int(raw_id), from_id, to_id, attachment_id))
    except (hist.NotFound, atts.NotFound) as exc:
        raise NotFound(str(exc)) from None
    if request.args.get("format") == "json":
        return Response.json(diffs.diff_as_dict(result))
    added, removed = result.stats()
    context = {
        "document": document, "revisions": revisions,
        "from_id": result.from_revision["id"] if result.from_revision else None,
        "to_id": result.to_revision["id"],
        "from_label": diffs.revision_label(result.from_revision), "to_label": diffs.revision_label(result.to_revision),
        "added": added, "removed": removed, "changed": result.changed,
        "metadata_rows": markupsafe.Markup(diffs.render_metadata_rows(result)),
        "diff_html": markupsafe.Markup(diffs.render_html_fragment(result.changes)),
        "action": datasette.urls.path(f"/-/diff/{document['id']}"),
        "db_param": name if name != names[0] else None, "attachment_id": attachment_id,
        "document_row_url": datasette.urls.row(name, "documents", document["id"]),
        "document_page_url": _document_url(datasette, name, document["id"]),
    }
    template = datasette.jinja_env.from_string(DIFF_TEMPLATE)
    return Response.html(await datasette.render_template(template, context, request=request))


async def _pick_archive(datasette, request, table: str) -> tuple[str, list[str]]:
    """The archive database named by ?db= (default: the first), after the permission checks."""
    names = archive_database_names(datasette)
    name = request.args.get("db") or (names[0] if names else None)
    if name is None or name not in names:
        raise NotFound("no archive database" if name is None else f"{name!r} is not an archive database")
    await datasette.ensure_permissions(request.actor, [("view-table", (name, table)),
                                                       ("view-database", name), "view-instance"])
    return name, names


async def document_page(datasette, request):
    """/-/document/{id}: the page of one report; ?format=json gives what it shows as JSON."""
    from archive import document_page as page

    name, names = await _pick_archive(datasette, request, "documents")
    raw_id = request.url_vars["document_id"]
    if not raw_id.isdigit():
        raise NotFound(f"document id must be a number, not {raw_id!r}")
    try:
        data = await datasette.get_database(name).execute_fn(
            lambda conn: page.read_document(sqlite_utils.Database(conn, recursive_triggers=False), int(raw_id)))
    except hist.NotFound as exc:
        raise NotFound(str(exc)) from None
    if request.args.get("format") == "json":
        return Response.json(data, default=str)
    document = data["document"]
    db_suffix = f"?db={name}" if name != names[0] else ""
    context = {
        **data, "attachment_labels": page.ATTACHMENT_LABELS,
        "live_link": _is_http(document["url"]),
        "home_url": datasette.urls.instance(),
        "documents_url": datasette.urls.table(name, "documents"),
        "source_url": datasette.urls.row(name, "sources", document["source_id"]),
        "document_row_url": datasette.urls.row(name, "documents", document["id"]),
        "latest_diff_url": _diff_url(datasette, name, document["id"]),
        "diff_base": datasette.urls.path(f"/-/diff/{document['id']}"),
        "capture_base": datasette.urls.path("/-/capture/"),
        "db_suffix": db_suffix, "db_amp": f"&db={name}" if db_suffix else "",
    }
    template = datasette.jinja_env.from_string(page.TEMPLATE)
    return Response.html(await datasette.render_template(template, context, request=request))


# A capture served raw is a hostile page: no scripts, no plugins, no forms, a unique origin, and nothing
# fetched from anywhere (a scraped page's images and styles would tell the site who reads the archive).
CAPTURE_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"


def _read_capture(conn, digest: str):
    from archive.captures import load_capture

    capture = load_capture(sqlite_utils.Database(conn, recursive_triggers=False), digest)
    if capture is None:
        return None, None
    row = conn.execute("SELECT document_id FROM revisions WHERE capture_hash = ? ORDER BY id LIMIT 1",
                       (digest,)).fetchone()
    return capture, row[0] if row else None


def _decode(capture) -> str:
    from crawler.guard import decode_body

    decoded = decode_body(capture.body, capture.encoding)
    return decoded[0] if decoded else capture.body.decode(capture.encoding or "utf-8", errors="replace")


async def capture_page(datasette, request):
    """/-/capture/{hash}: an archived response as escaped text; ?view=rendered frames ?raw=1, which is
    served under CAPTURE_CSP (never live script)."""
    from archive import document_page as page

    name, names = await _pick_archive(datasette, request, "captures")
    digest = request.url_vars["digest"]
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise NotFound(f"not a capture hash: {digest!r}")
    capture, document_id = await datasette.get_database(name).execute_fn(lambda conn: _read_capture(conn, digest))
    if capture is None:
        raise NotFound(f"no capture {digest}")
    text = _decode(capture)
    if request.args.get("raw"):
        return Response(text, status=200, content_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": CAPTURE_CSP, "X-Content-Type-Options": "nosniff",
                                 "Referrer-Policy": "no-referrer", "X-Frame-Options": "SAMEORIGIN"})
    db_amp = f"&db={name}" if name != names[0] else ""
    base = datasette.urls.path(f"/-/capture/{digest}")
    context = {
        "capture": {"url": capture.url, "fetched_at": capture.fetched_at, "http_status": capture.http_status,
                    "encoding": capture.encoding, "size": len(capture.body)},
        "html": text, "rendered": request.args.get("view") == "rendered",
        "raw_url": f"{base}?raw=1{db_amp}", "rendered_url": f"{base}?view=rendered{db_amp}",
        "source_url": base + (f"?db={name}" if db_amp else ""),
        "document_url": _document_url(datasette, name, document_id) if document_id else None,
    }
    template = datasette.jinja_env.from_string(page.CAPTURE_TEMPLATE)
    return Response.html(await datasette.render_template(template, context, request=request))
