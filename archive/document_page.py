"""What the page of one report (``/-/document/{id}``) shows, read from the archive; and its template.

The Datasette plugin serves it; everything here only reads. Attachments are one small function,
:func:`attachments`, returning rows (one per attachment version) whose keys become the attachment table's
columns — add keys there to show more without touching the template.
"""
from __future__ import annotations

import json

import sqlite_utils

from archive import events as evts
from archive import history as hist

ATTACHMENT_LABELS = {"text": "链接文字 Link text", "url": "网址 URL", "version": "版本 Version",
                     "fetched_at": "下载时间 Fetched (UTC)", "mime": "类型 Type", "size": "字节 Bytes",
                     "chars": "字数 Characters", "error": "错误 Error", "diff": "差异 Diff"}


def attachments(db: sqlite_utils.Database, document: dict) -> list[dict]:
    """The document's attachments as rows for the page's attachment table: one per version (oldest first;
    one with empty version columns for an attachment not fetched yet). ``diff`` is the query string of
    the diff page (``/-/diff/{id}?…``) for that version against the one before."""
    from archive.attachments import versions

    rows = []
    for att in versions(db, document["id"]):
        previous = 0
        for v in att["versions"] or [None]:
            v = v or {}
            rows.append({"text": att["text"], "url": att["url"], "version": v.get("id"),
                         "fetched_at": v.get("fetched_at"), "mime": v.get("mime"), "size": v.get("size"),
                         "chars": v.get("chars"), "error": v.get("error"),
                         "diff": f"attachment={att['id']}&from={previous}&to={v['id']}" if v else None})
            previous = v.get("id") or 0
    return rows


def read_document(db: sqlite_utils.Database, document_id: int) -> dict:
    """Everything the document page shows; hist.NotFound when there is no such document."""
    document = hist.find_document(db, document_id)
    source = next(iter(db.query("SELECT id, name FROM sources WHERE id = ?", [document["source_id"]])), None)
    latest = next(iter(db.query("SELECT id, text, record, capture_hash, fetched_at FROM revisions WHERE id = ?",
                                [document["latest_revision_id"]])), None) if document["latest_revision_id"] else None
    record = {}
    if latest and latest["record"]:
        try:
            record = json.loads(latest["record"]) or {}
        except ValueError:
            record = {"record": latest["record"]}
    events = evts.of_document(db, document["id"])
    captures = {r["id"]: r["capture_hash"] for r in db.query(
        "SELECT id, capture_hash FROM revisions WHERE document_id = ?", [document["id"]])}
    timeline = [{**row, "capture_hash": captures.get(row["id"])} for row in hist.timeline(db, document["id"])]
    return {
        "document": document, "source": source, "latest": latest, "record": record,
        "gone_dates": [e["at"] for e in events if e["kind"] == "gone"],
        "returned_dates": [e["at"] for e in events if e["kind"] == "returned"],
        "timeline": timeline, "attachments": attachments(db, document),
    }


TEMPLATE = """{% extends "base.html" %}
{% block title %}{{ document.title or document.url }}{% endblock %}
{% block extra_head %}<style>
.zwgk-facts th { text-align: left; padding-right: 1em; vertical-align: top; white-space: nowrap; }
.zwgk-facts td { vertical-align: top; }
.zwgk-text { white-space: pre-wrap; border: 1px solid #ccc; padding: 1em; line-height: 1.8; font-size: 1.05em; }
.zwgk-status-gone { color: #900; font-weight: bold; }
.zwgk-timeline td, .zwgk-timeline th { padding: .2em .8em .2em 0; text-align: left; }
.zwgk-timeline .num { text-align: right; }
.zwgk-event-gone td, .zwgk-event-returned td { background: #f6f0e0; }
</style>{% endblock %}
{% block content %}
<p class="crumbs"><a href="{{ home_url }}">home</a> / <a href="{{ documents_url }}">documents</a></p>
<h1>{{ document.title or document.url }}</h1>
<table class="zwgk-facts">
  <tr><th>状态 Status</th><td><span class="zwgk-status-{{ document.status }}">{{ document.status }}</span></td></tr>
  <tr><th>首次发现 First seen</th><td>{{ document.first_seen or "" }}</td></tr>
  <tr><th>最近变化 Last changed</th><td>{{ document.last_changed or "" }}</td></tr>
  <tr><th>最近确认 Last seen</th><td>{{ document.last_seen or "" }}</td></tr>
  {% for at in gone_dates %}<tr><th>已删除 Gone</th><td>{{ at }}</td></tr>{% endfor %}
  {% for at in returned_dates %}<tr><th>已恢复 Returned</th><td>{{ at }}</td></tr>{% endfor %}
  <tr><th>所属区 District</th><td>{{ document.district or "" }}</td></tr>
  <tr><th>发布机构 Publisher</th><td>{{ document.publisher or "" }}</td></tr>
  <tr><th>发布日期 Published</th><td>{{ document.published or "" }}</td></tr>
  <tr><th>报告年度 Report year</th><td>{{ document.report_year or "" }}</td></tr>
  <tr><th>来源 Source</th><td><a href="{{ source_url }}">{{ source.name if source else document.source_id }}</a>
    ({{ document.source_id }})</td></tr>
  <tr><th>网址 Live URL</th><td>{% if live_link %}<a class="zwgk-live" href="{{ document.url }}"
    rel="nofollow noreferrer">{{ document.url }}</a>{% else %}{{ document.url }}{% endif %}</td></tr>
  <tr><th>档案 Archive</th><td><a href="{{ document_row_url }}">documents row {{ document.id }}</a>
    {% if latest %} · <a class="zwgk-diff" href="{{ latest_diff_url }}">latest diff</a>{% endif %}
    {% if latest and latest.capture_hash %} · <a class="zwgk-capture" href="{{ capture_base }}{{ latest.capture_hash
    }}{{ db_suffix }}">archived page</a>{% endif %}</td></tr>
</table>

<h2>附件 Attachments</h2>
{% if attachments %}<table class="zwgk-attachments">
  <tr>{% for key in attachments[0].keys() %}<th>{{ attachment_labels.get(key, key) }}</th>{% endfor %}</tr>
  {% for row in attachments %}<tr>{% for key, value in row.items() %}<td>{% if key == "url" and
    (value or "")[:4] == "http" %}<a href="{{ value }}" rel="nofollow noreferrer">{{ value }}</a>{% elif key == "diff"
    and value %}<a class="zwgk-attachment-diff" href="{{ diff_base }}?{{ value }}{{ db_amp }}">diff</a>{% else %}{{
    "" if value is none else value }}{% endif %}</td>{% endfor %}</tr>{% endfor %}
</table>{% else %}<p>None.</p>{% endif %}

<h2>公开信息 Disclosure record</h2>
{% if record %}<table class="zwgk-facts zwgk-record">
  {% for key, value in record.items() %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>{% endfor %}
</table>{% else %}<p>None on the page.</p>{% endif %}

<h2>修订历史 Timeline</h2>
<table class="zwgk-timeline">
  <tr><th>事件 Event</th><th>时间 When (UTC)</th><th>修订 Revision</th><th class="num">字数 Size</th>
      <th class="num">增 Added</th><th class="num">删 Removed</th><th>数字变化 Figures changed</th><th></th></tr>
  {% for row in timeline %}<tr class="zwgk-event-{{ row.kind }}">
    <td>{{ row.kind }}</td><td>{{ row.at }}</td>
    {% if row.id %}<td>{{ row.id }}</td><td class="num">{{ row.size }}</td><td class="num">+{{ row.added }}</td>
    <td class="num">−{{ row.removed }}</td><td>{{ row.figures|join("; ") }}</td>
    <td><a class="zwgk-diff" href="{{ diff_base }}?to={{ row.id }}{{ db_amp }}">diff</a>
      {% if row.capture_hash %} · <a class="zwgk-capture" href="{{ capture_base }}{{ row.capture_hash }}{{ db_suffix
      }}">archived page</a>{% endif %}</td>
    {% else %}<td colspan="6"></td>{% endif %}
  </tr>{% endfor %}
</table>

<h2>最新正文 Latest text</h2>
{% if latest %}<p>Revision {{ latest.id }}, fetched {{ latest.fetched_at }}.</p>
<div class="zwgk-text">{{ latest.text }}</div>{% else %}<p>No revision.</p>{% endif %}
{% endblock %}
"""

CAPTURE_TEMPLATE = """{% extends "base.html" %}
{% block title %}Archived page: {{ capture.url }}{% endblock %}
{% block extra_head %}<style>
.zwgk-source { white-space: pre-wrap; word-break: break-all; border: 1px solid #ccc; padding: 1em;
               font-size: .85em; max-height: 80vh; overflow: auto; }
.zwgk-frame { width: 100%; height: 80vh; border: 1px solid #ccc; }
</style>{% endblock %}
{% block content %}
<h1>Archived page</h1>
<p>{{ capture.url }} · fetched {{ capture.fetched_at }} · HTTP {{ capture.http_status }} · {{ capture.encoding }} ·
   {{ capture.size }} bytes{% if document_url %} · <a href="{{ document_url }}">document page</a>{% endif %}</p>
<p>{% if rendered %}<a href="{{ source_url }}">show the HTML source</a>{% else %}<a href="{{ rendered_url }}">show
   it rendered</a> (sandboxed: no scripts, nothing loaded from the web){% endif %}</p>
{% if rendered %}<iframe class="zwgk-frame" sandbox="" referrerpolicy="no-referrer" src="{{ raw_url }}"></iframe>
{% else %}<pre class="zwgk-source">{{ html }}</pre>{% endif %}
{% endblock %}
"""
