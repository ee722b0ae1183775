"""Datasette plugin (entry point ``zwgk_archive``): diff pages, Chinese search, links and metadata.

- ``/-/diff/{document_id}?from=REV&to=REV`` — a document's revisions diffed by character, with a
  revision picker (``&db=NAME`` picks the database when several hold an archive).
- ``escape_fts`` is re-registered (``trylast``, so after Datasette's own) with the segmenting version
  from :mod:`archive.search`, which makes ``?_search=`` on ``revisions`` and ``documents`` match Chinese
  terms of any length.
- ``documents.latest_revision_id``, ``revisions.fetched_at`` and ``diff`` columns of canned queries link
  to the diff page.
- The ``archive`` entry of config/datasette.yaml (titles, facets, sorts, canned queries) and the FTS
  table names are applied to every database holding the archive's tables, whatever its file name.

Everything scraped is escaped: templates autoescape, and the diff markup escapes every text run.
"""
from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path

import datasette.handle_exception as _datasette_errors
import markupsafe
import sqlite_utils
import yaml
from datasette import hookimpl
from datasette.utils.asgi import NotFound, Response

from archive import diff as diffs
from archive import history as hist
from archive import search

# Datasette 0.65's default exception handler prints a rich traceback whenever rich is importable
# (datasette#1416), also for a plain 404 outside any `except:`, where current rich raises ValueError
# ("Value for 'trace' required"): every 404 would become a 500. rich is installed (the scheduler's
# progress display), so Datasette's handler is told it is not.
_datasette_errors.rich = None

METADATA_FILE = Path(__file__).resolve().parent.parent / "config" / "datasette.yaml"
ARCHIVE_TABLES = {"documents", "revisions", "revisions_fts", "documents_fts"}
_archive_paths: set[str] = set()


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
    conn.create_function("escape_fts", 1, search.escape_fts, deterministic=True)
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


@hookimpl
def render_cell(row, value, column, table, database, datasette):
    if value is None:
        return None
    if table == "documents" and column == "latest_revision_id":
        href = _diff_url(datasette, database, _raw(row["id"]), _raw(value))
        return markupsafe.Markup('{} · <a class="zwgk-diff" href="{}">diff</a>').format(_raw(value), href)
    if table == "revisions" and column == "fetched_at":
        href = _diff_url(datasette, database, _raw(row["document_id"]), _raw(row["id"]))
        return markupsafe.Markup('<a class="zwgk-diff" href="{}">{}</a>').format(href, value)
    if table is None and column == "diff" and isinstance(value, str) and value.startswith("/-/diff/"):
        return markupsafe.Markup('<a class="zwgk-diff" href="{}">diff</a>').format(datasette.urls.path(value))
    return None


@hookimpl
def register_routes():
    return [(r"^/-/diff/(?P<document_id>[^/]+)$", diff_page)]


DIFF_TEMPLATE = """{% extends "base.html" %}
{% block title %}Diff: {{ document.title or document.url }}{% endblock %}
{% block extra_head %}<style>
.zwgk-diff-text { white-space: pre-wrap; border: 1px solid #ccc; padding: 1em; line-height: 1.8;
                  font-size: 1.05em; }
.zwgk-diff-text del, .zwgk-meta del { background: #fdd; color: #900; text-decoration: line-through; }
.zwgk-diff-text ins, .zwgk-meta ins { background: #dfd; color: #060; text-decoration: none; }
.zwgk-meta th { text-align: left; padding-right: 1em; }
.zwgk-picker label { width: auto; margin-right: 1em; }
.zwgk-picker select { width: auto; max-width: 24em; }
</style>{% endblock %}
{% block content %}
<h1>{{ document.title or document.url }}</h1>
<p>{% if document.url[:7] == "http://" or document.url[:8] == "https://" -%}
   <a href="{{ document.url }}" rel="nofollow noreferrer">{{ document.url }}</a>
   {%- else %}{{ document.url }}{% endif %} ·
   <a href="{{ document_row_url }}">document {{ document.id }}</a> · {{ document.status }}</p>
<form class="zwgk-picker" action="{{ action }}" method="get">
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


def _read_diff(conn, document_id: int, from_id, to_id) -> tuple[dict, list[dict], diffs.Diff]:
    db = sqlite_utils.Database(conn, recursive_triggers=False)
    document = hist.find_document(db, document_id)
    revisions = [{"id": r["id"], "fetched_at": r["fetched_at"]} for r in hist.revisions(db, document["id"])]
    return document, revisions, hist.document_diff(db, document, from_id, to_id)


async def diff_page(datasette, request):
    """/-/diff/{document_id}: the diff page; ?format=json gives the JSON of `archive diff --format json`."""
    names = archive_database_names(datasette)
    name = request.args.get("db") or (names[0] if names else None)
    if name is None or name not in names:
        raise NotFound("no archive database" if name is None else f"{name!r} is not an archive database")
    await datasette.ensure_permissions(request.actor, [("view-table", (name, "revisions")),
                                                       ("view-database", name), "view-instance"])
    raw_id = request.url_vars["document_id"]
    from_id, to_id = request.args.get("from") or None, request.args.get("to") or None
    for label, value in (("document id", raw_id), ("from", from_id), ("to", to_id)):
        if value is not None and not value.isdigit():
            raise NotFound(f"{label} must be a number, not {value!r}")
    try:
        document, revisions, result = await datasette.get_database(name).execute_fn(
            lambda conn: _read_diff(conn, int(raw_id), from_id, to_id))
    except hist.NotFound as exc:
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
        "db_param": name if name != names[0] else None,
        "document_row_url": datasette.urls.row(name, "documents", document["id"]),
    }
    template = datasette.jinja_env.from_string(DIFF_TEMPLATE)
    return Response.html(await datasette.render_template(template, context, request=request))
