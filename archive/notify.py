"""Notifications through Apprise: after a run, one message with the news of its source.

The news is the source's events (archive.events) not yet notified: new, changed, gone and returned
documents, and documents with a changed attachment. One message per run lists the counts and each
document's title with a link — the diff of a changed one (of the attachment's two versions for an
`attachment` event), the document page otherwise — absolute when the config's ``defaults: public_url`` is set, else
the path. Where it goes is the source's ``notify:`` list of Apprise URLs (``json://``, ``mailto://``,
``wecombot://``, ``dingtalk://``, ``feishu://``, ``tgram://``…); a source's list replaces the default one
and ``notify: []`` silences a source (its news is then marked as handled, so enabling it later does not
send the whole past).

A message longer than a service takes is split into several (Apprise's ``overflow=split``, unless the URL
sets its own ``overflow``). A failed send is logged, kept in ``runs.notify_error``, and never fails the
crawl; its events stay unnotified and go out with the next message. When one of several URLs fails, the
next message goes to all of them again: a duplicate rather than a lost report.
"""
from __future__ import annotations

import logging
import threading
from collections import Counter
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

from archive.db import now
from archive.events import ATTACHMENT_JOIN, KINDS

if TYPE_CHECKING:  # sqlite-utils is imported where it is used: an unchanged recrawl never needs it
    import sqlite_utils

logger = logging.getLogger(__name__)
MAX_LISTED = 50  # documents named in one message; the rest are counted
TITLE_CHARS = 200  # a title's length in a message
SEND_TIMEOUT = 120.0  # seconds one message may take to all its receivers
KIND_LABELS = {"new": "新文档 new", "changed": "有修改 changed", "gone": "已删除 gone", "returned": "已恢复 returned",
               "attachment": "附件有修改 attachment"}


class SourceLike(Protocol):
    id: str
    name: str
    notify: tuple[str, ...]
    public_url: str | None


def _asset():
    """Apprise's settings: memory only, so it never writes a cache of its own next to the archive.
    (Apprise is imported here, not at module level: loading its plugins takes a second or two, which a
    run without notifications should not pay.)"""
    import apprise

    return apprise.AppriseAsset(storage_mode="memory")


def valid_url(url: str) -> bool:
    """Whether Apprise parses `url` as a URL of a service it knows (json://, mailto://, tgram://…)."""
    import apprise

    return isinstance(url, str) and apprise.Apprise.instantiate(url, asset=_asset()) is not None


def pending(db: sqlite_utils.Database, source_id: str) -> list[dict]:
    """The source's events not yet notified, oldest first, with each document's title and url."""
    return list(db.query(
        "SELECT e.id, e.document_id, e.kind, e.at, e.revision_id, e.run_id, e.attachment_revision_id, "
        "a.id AS attachment_id, a.text AS attachment_text, "
        "coalesce(r.title, d.title, d.url) AS title, d.url FROM events e JOIN documents d ON d.id = e.document_id "
        f"LEFT JOIN revisions r ON r.id = e.revision_id {ATTACHMENT_JOIN} "
        "WHERE e.source_id = ? AND e.notified_at IS NULL ORDER BY e.id", [source_id]))


def link(event: dict, public_url: str | None = None) -> str:
    """The diff of a change (of an attachment's version against the one before), else the document page;
    absolute under `public_url` when given."""
    if event["kind"] == "attachment" and event.get("attachment_id"):
        path = (f"/-/diff/{event['document_id']}?attachment={event['attachment_id']}"
                f"&to={event['attachment_revision_id']}")
    elif event["kind"] == "changed" and event.get("revision_id"):
        path = f"/-/diff/{event['document_id']}?to={event['revision_id']}"
    else:
        path = f"/-/document/{event['document_id']}"
    return (public_url.rstrip("/") + path) if public_url else path


def compose(source: SourceLike, events: list[dict], run_id: int | None = None) -> tuple[str, str]:
    """The message's title and plain-text body."""
    counts = Counter(e["kind"] for e in events)
    summary = ", ".join(f"{counts[k]} {k}" for k in KINDS if counts[k])
    title = f"zwgk-archive · {source.name} ({source.id}): {summary}"
    lines = [f"{source.name} ({source.id})" + (f", run {run_id}" if run_id is not None else "") + f": {summary}"]
    earlier = sum(1 for e in events if run_id is not None and e["run_id"] != run_id)
    if earlier:
        lines.append(f"({earlier} of them from earlier runs not notified before)")
    lines.append("")
    for event in events[:MAX_LISTED]:
        about = f" · 附件 {_one_line(event['attachment_text'])}" if event.get("attachment_text") else ""
        lines.append(f"[{KIND_LABELS[event['kind']]}] {_one_line(event['title'])}{about}")
        lines.append(f"  {link(event, source.public_url)}")
    if len(events) > MAX_LISTED:
        lines.append(f"… and {len(events) - MAX_LISTED} more: see /archive/changes_feed")
    return title, "\n".join(lines) + "\n"


def _one_line(text) -> str:
    """A scraped title on one line, without control characters, at most TITLE_CHARS long: a title with line
    breaks could otherwise forge entries and links of its own in the message, and a huge one would make
    every message too big for a chat bot (and, kept pending, every later one too)."""
    line = " ".join("".join(c if c.isprintable() else " " for c in str(text or "")).split())
    return line if len(line) <= TITLE_CHARS else line[:TITLE_CHARS - 1] + "…"


def send(urls: tuple[str, ...] | list[str], title: str, body: str, timeout: float = SEND_TIMEOUT) -> str | None:
    """Send one message to every URL; None when all took it, else what went wrong (one line). Apprise's
    socket timeouts bound each read, not the answer: a receiver that trickles bytes would hold the crawl
    (and its source's lock) until its time limit, so the sending gets `timeout` seconds in a thread of
    its own and is then given up (the news stays pending; a late delivery means a duplicate, not a loss)."""
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            outcome["error"] = _send_now(urls, title, body)
        except BaseException as e:  # raised again in the caller's thread
            outcome["exception"] = e

    thread = threading.Thread(target=attempt, name="zwgk-notify", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return f"no answer from the receivers within {timeout:g}s; given up, kept for the next message"
    if "exception" in outcome:
        raise outcome["exception"]
    return outcome["error"]


def _send_now(urls: tuple[str, ...] | list[str], title: str, body: str) -> str | None:
    import apprise

    sender = apprise.Apprise(asset=_asset())
    bad = []
    for url in urls:
        server = apprise.Apprise.instantiate(url, asset=sender.asset)
        if server is None:
            bad.append(url)
            continue
        if "overflow" not in parse_qs(urlsplit(url).query):
            # a long message (many documents) is split at the service's own size limit (a WeCom bot's is
            # 2,048): sent whole, it would be refused, stay pending and only grow with each run
            server.overflow_mode = apprise.common.OverflowMode.SPLIT
        sender.add(server)
    with apprise.LogCapture(level=logging.WARNING) as captured:
        ok = sender.notify(body=body, title=title, body_format=apprise.NotifyFormat.TEXT) if len(sender) else False
        log = captured.getvalue()
    if ok and not bad:
        return None
    problems = [f"not an Apprise URL: {u}" for u in bad]
    problems += [line.strip() for line in log.splitlines() if line.strip()][-3:]
    return "; ".join(problems) or "notification failed"


def after_run(db: sqlite_utils.Database, run_id: int | None, source: SourceLike) -> dict[str, Any]:
    """Notify the source's pending news (if any) and mark it sent; never raises. What happened:
    ``{"events": n, "sent": bool, "error": str | None}``."""
    try:
        return _after_run(db, run_id, source)
    except Exception as e:  # a notification must never cost the crawl
        logger.exception("notification for source %s failed", source.id)
        _record_error(db, run_id, f"{type(e).__name__}: {e}")
        return {"events": 0, "sent": False, "error": str(e)}


def _after_run(db: sqlite_utils.Database, run_id: int | None, source: SourceLike) -> dict[str, Any]:
    events = pending(db, source.id)
    if not events:
        return {"events": 0, "sent": False, "error": None}
    if not source.notify:
        _mark(db, [e["id"] for e in events])
        return {"events": len(events), "sent": False, "error": None}
    title, body = compose(source, events, run_id)
    error = send(source.notify, title, body)
    if error:
        logger.error("notification for source %s (run %s) not sent, kept for the next one: %s",
                     source.id, run_id, error)
        _record_error(db, run_id, error)
        return {"events": len(events), "sent": False, "error": error}
    _mark(db, [e["id"] for e in events])
    logger.info("notified %d event(s) of source %s", len(events), source.id)
    return {"events": len(events), "sent": True, "error": None}


def _mark(db: sqlite_utils.Database, ids: list[int]) -> None:
    from archive.store import transaction

    stamp = now()
    with transaction(db) as conn:
        conn.executemany("UPDATE events SET notified_at = ? WHERE id = ?", [(stamp, i) for i in ids])


def _record_error(db: sqlite_utils.Database, run_id: int | None, error: str) -> None:
    if run_id is None:
        return
    try:
        from archive.store import transaction

        with transaction(db) as conn:
            conn.execute("UPDATE runs SET notify_error = ? WHERE id = ?", (error[:2000], run_id))
    except Exception:
        logger.exception("could not record the notification error on run %s", run_id)
