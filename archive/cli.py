"""The archive's command line: thin click commands over library functions.

Every command takes the global ``--db`` (default: $ARCHIVE_DB, else data/archive.db).
"""
from __future__ import annotations

import json
import os
import sqlite3
import sys
from collections import Counter
from pathlib import Path

import click

from archive import diff as diffs
from archive import events as evts
from archive import history as hist
from archive.db import NotAnArchive, connect, connect_readonly, db_path

METADATA_FILE = Path(__file__).resolve().parent.parent / "config" / "datasette.yaml"


class BadInput(click.ClickException):
    """A one-line error about the user's input (a missing archive, an unknown document): exit code 2."""

    exit_code = 2


class ArchiveGroup(click.Group):
    """Turns an SQLite error met while a command reads the archive (a damaged file) into one line, exit 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except sqlite3.Error as exc:
            db = (ctx.obj or {}).get("db") or db_path(None)
            raise BadInput(f"{db}: {exc}") from None


@click.group(cls=ArchiveGroup)
@click.option("--db", "db", default=None, metavar="PATH",
              help="The archive's SQLite file (default: $ARCHIVE_DB, else data/archive.db).")
@click.pass_context
def cli(ctx: click.Context, db: str | None) -> None:
    """zwgk-archive: read and maintain the archive of disclosure pages."""
    ctx.obj = {"db": db_path(db)}


def db_option(command):
    """`--db PATH` after the command name too (`python -m archive status --db D`), same as the global one."""

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value:
            ctx.ensure_object(dict)["db"] = db_path(value)

    return click.option("--db", "db_override", default=None, metavar="PATH", expose_value=False,
                        callback=remember, help="The archive's SQLite file (same as the global --db).")(command)


def open_archive(ctx: click.Context):
    """The archive named by --db, opened read-only (every reading command goes through here): it must
    exist and be a zwgk archive; one line naming the file and the problem, exit 2, otherwise."""
    try:
        return connect_readonly(ctx.obj["db"])
    except NotAnArchive as exc:
        raise BadInput(str(exc)) from None


def open_archive_for_writing(ctx: click.Context):
    """The archive named by --db for a command that writes (reextract): it must already be an archive
    (checked read-only first); missing columns and indexes are then added."""
    try:
        connect_readonly(ctx.obj["db"], current=False).conn.close()
    except NotAnArchive as exc:
        raise BadInput(str(exc)) from None
    try:
        return connect(ctx.obj["db"], create=False)
    except (sqlite3.Error, OSError) as exc:
        raise BadInput(f"{ctx.obj['db']}: {exc}") from None


def _document(db, ref: str) -> dict:
    try:
        return hist.find_document(db, ref)
    except hist.NotFound as exc:
        raise BadInput(str(exc)) from None


@cli.command()
@db_option
@click.argument("document")
@click.pass_context
def history(ctx: click.Context, document: str) -> None:
    """The revisions of a DOCUMENT (its id or URL), oldest first, with the times it went gone or returned.

    Example: python -m archive history 42
    """
    db = open_archive(ctx)
    doc = _document(db, document)
    click.echo(diffs.printable(f"document {doc['id']}: {doc['title'] or ''}\n{doc['url']}\nstatus: {doc['status']}"))
    click.echo(f"{'revision':>8}  {'fetched_at':<32}  {'size':>7}  {'added':>7}  {'removed':>7}  kind")
    for row in hist.timeline(db, doc["id"]):
        if row["id"] is None:  # gone / returned: no revision
            click.echo(f"{'-':>8}  {row['at']:<32}  {'':>7}  {'':>7}  {'':>7}  {row['kind']}")
            continue
        click.echo(f"{row['id']:>8}  {row['fetched_at']:<32}  {row['size']:>7}  "
                   f"{'+' + str(row['added']):>7}  {'-' + str(row['removed']):>7}  {row['kind']}")


@cli.command()
@db_option
@click.argument("document")
@click.option("--from", "from_id", type=int, default=None, metavar="REV",
              help="Old revision id (default: the one before --to; 0: diff against nothing).")
@click.option("--to", "to_id", type=int, default=None, metavar="REV",
              help="New revision id (default: the latest).")
@click.option("--format", "fmt", type=click.Choice(["text", "html", "json"]), default="text",
              show_default=True, help="text for a terminal, html for a standalone page, json for programs.")
@click.option("--attachment", "attachment_id", type=int, default=None, metavar="ID",
              help="Diff versions of this attachment of the document instead (--from/--to: version ids, "
                   "as `archive attachments DOC` lists them).")
@click.pass_context
def diff(ctx: click.Context, document: str, from_id: int | None, to_id: int | None, fmt: str,
         attachment_id: int | None) -> None:
    """What changed in a DOCUMENT (id or URL) between two revisions, character by character; with
    --attachment, between two versions of one of its attachments' text.

    Example: python -m archive diff 42 --from 7 --to 9 --format html > diff.html
    """
    from archive import attachments as atts

    db = open_archive(ctx)
    doc = _document(db, document)
    try:
        if attachment_id is not None:
            result = atts.attachment_diff(db, doc, attachment_id, from_id, to_id)
        else:
            result = hist.document_diff(db, doc, from_id, to_id)
    except (hist.NotFound, atts.NotFound) as exc:
        raise BadInput(str(exc)) from None
    if fmt == "json":
        click.echo(diffs.render_json(result), nl=False)
    elif fmt == "html":
        click.echo(diffs.render_html(result), nl=False)
    else:
        color = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
        click.echo(diffs.render_text(result, color=color), nl=False, color=color)


@cli.command()
@db_option
@click.argument("document")
@click.pass_context
def attachments(ctx: click.Context, document: str) -> None:
    """The attachments of a DOCUMENT (id or URL) and each one's versions, oldest first (a version with an
    error is a file that could not be read; diff two with `archive diff DOC --attachment ID`).

    Example: python -m archive attachments 42
    """
    from archive import attachments as atts
    from archive.filetext import short_name

    db = open_archive(ctx)
    doc = _document(db, document)
    click.echo(diffs.printable(f"document {doc['id']}: {doc['title'] or ''}\n{doc['url']}"))
    listed = atts.versions(db, doc["id"])
    for att in listed:
        click.echo(diffs.printable(f"attachment {att['id']}: {att['text'] or ''}  {att['url']}  "
                              f"(checked {att['checked_at'] or 'never'})"))
        for v in att["versions"]:
            what = f"error: {v['error']}" if v["error"] else f"{v['chars'] or 0} chars" if v["chars"] is not None \
                else "stored only"
            click.echo(f"  version {v['id']:>6}  {v['fetched_at']:<32}  {short_name(v['mime']):<8}  "
                       f"{v['size'] if v['size'] is not None else '-':>9} bytes  {what}")
    click.echo(f"{len(listed)} attachment{'s' if len(listed) != 1 else ''}")


@cli.command()
@db_option
@click.option("--since", default=None, metavar="DATE",
              help="Only events on or after DATE (YYYY-MM-DD or ISO datetime; default: 30 days ago).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON list of events).")
@click.pass_context
def changes(ctx: click.Context, since: str | None, as_json: bool) -> None:
    """What happened since a date, newest first: one line per event with its kind — new, changed, gone,
    returned, or attachment (a new version of one of its attachments; a document first seen and then
    changed shows both).

    Example: python -m archive changes --since 2025-01-01
    """
    try:
        since_value = hist.parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc).removeprefix("--since: "), param_hint="--since") from None
    db = open_archive(ctx)
    rows = hist.changes_since(db, since_value)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        rev = f"rev {row['revision_id']}" if row["revision_id"] else ""
        about = ""
        if row["kind"] == "attachment":
            rev = f"att {row['attachment_id']}.{row['attachment_revision_id']}"
            about = f"  附件 {row['attachment_text'] or ''}"
        where = row["district"] or row["source_id"]
        click.echo(diffs.printable(f"{row['at']}  {row['kind']:<8}  doc {row['document_id']:<6} {rev:<10}  "
                                   f"{where}  {row['title'] or ''}{about}  {row['url']}"))
    kinds = Counter(row["kind"] for row in rows)
    detail = ", ".join(f"{kinds[k]} {k}" for k in evts.KINDS if kinds[k])
    click.echo(f"{len(rows)} event{'s' if len(rows) != 1 else ''} since {since_value}"
               + (f" ({detail}) in {len({r['document_id'] for r in rows})} documents" if rows else ""))


@cli.command()
@db_option
@click.argument("terms", nargs=-1, required=True)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10_000), metavar="N",
              help="At most N documents.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (a JSON list of documents).")
@click.pass_context
def search(ctx: click.Context, terms: tuple[str, ...], limit: int, as_json: bool) -> None:
    """Documents whose title or latest text holds every TERM (Chinese of any length, "quoted phrases"),
    or one of whose attachments does, best match first, each with a snippet around the hit (from the
    attachment, named by its link text, for a document found through one).

    Example: python -m archive search 行政复议 2023 --limit 5
    """
    from archive import search as fts

    db = open_archive(ctx)
    rows = fts.ranked_documents(db, list(terms), limit=limit)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for row in rows:
        via = ""
        if row["match"] == "attachment":
            att = row["attachment"]
            via = f"\n  附件 attachment {att['id']}: {att['text'] or ''}  {att['url']}"
        click.echo(diffs.printable(f"doc {row['id']:<6} {row['status']:<5} {row['published'] or '':<10}  "
                                   f"{row['title'] or ''}\n  {row['url']}{via}\n  {row['snippet']}"))
    click.echo(f"{len(rows)} document{'s' if len(rows) != 1 else ''} matching {' '.join(terms)}")


@cli.command()
@db_option
@click.argument("document")
@click.option("--rev", "rev_id", type=int, default=None, metavar="REV", help="This revision (default: the latest).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output (metadata and text as JSON).")
@click.pass_context
def show(ctx: click.Context, document: str, rev_id: int | None, as_json: bool) -> None:
    """A revision of a DOCUMENT (id or URL): its metadata, then its full text.

    Example: python -m archive show 42 --rev 7
    """
    db = open_archive(ctx)
    doc = _document(db, document)
    revs = hist.revisions(db, doc["id"])
    try:
        rev = hist.get_revision(db, doc["id"], rev_id) if rev_id is not None else (revs[-1] if revs else None)
    except hist.NotFound as exc:
        raise BadInput(str(exc)) from None
    if rev is None:
        raise BadInput(f"document {doc['id']} has no revisions")
    extra = db.execute("SELECT record, capture_hash, reextracted, extractor FROM revisions WHERE id = ?",
                       [rev["id"]]).fetchone()
    meta = {"document_id": doc["id"], "url": doc["url"], "status": doc["status"], "district": doc["district"],
            "source_id": doc["source_id"], "revision_id": rev["id"], "revisions": [r["id"] for r in revs],
            "fetched_at": rev["fetched_at"], "title": rev["title"], "published": rev["published"],
            "publisher": rev["publisher"], "report_year": rev["report_year"], "content_hash": rev["content_hash"],
            "capture_hash": extra[1], "reextracted": bool(extra[2]), "extractor": extra[3],
            "record": json.loads(extra[0]) if extra[0] else None, "characters": len(rev["text"])}
    if as_json:
        click.echo(json.dumps({**meta, "text": rev["text"]}, ensure_ascii=False, indent=2))
        return
    for key, value in meta.items():
        if key == "record" and value:
            value = "; ".join(f"{k}: {v}" for k, v in value.items())
        elif key == "revisions":
            value = " ".join(map(str, value))
        click.echo(diffs.printable(f"{key + ':':<14}{'' if value is None else value}"))
    click.echo("")
    click.echo(diffs.printable(rev["text"]))


@cli.command()
@db_option
@click.option("--source", "source_id", default=None, metavar="ID", help="Only this source's documents.")
@click.pass_context
def reextract(ctx: click.Context, source_id: str | None) -> None:
    """Re-run the current extractor over stored raw captures; add a revision (marked re-extracted) where
    the cleaned text differs. Old revisions are never rewritten. Stored attachment files are re-extracted
    too (a new attachment version where their text differs).

    Example: python -m archive reextract --source pingshan-fzzf
    """
    from archive.reextract import reextract as run_reextract

    db = open_archive_for_writing(ctx)
    if source_id and db.execute("SELECT 1 FROM sources WHERE id = ?", [source_id]).fetchone() is None:
        raise click.BadParameter(f"no source {source_id!r} in the archive", param_hint="--source")
    counts = run_reextract(db, source_id)
    click.echo(" ".join(f"{key}={value}" for key, value in counts.items()))
    from archive.attachments import reextract_files

    click.echo("attachments: " + " ".join(f"{k}={v}" for k, v in reextract_files(db, source_id).items()))


@cli.command()
@db_option
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Bring an archive written by an older version up to date (new tables and columns, filled from what
    it holds); nothing is dropped. Crawls and reextract do this by themselves; reading commands ask for it.

    Example: python -m archive --db data/archive.db upgrade
    """
    open_archive_for_writing(ctx).close()
    click.echo(f"{ctx.obj['db']}: up to date")


@cli.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--failures", type=click.IntRange(min=1), default=3, show_default=True, metavar="N",
              help="Failed runs in a row that mark a source FAILING.")
@click.pass_context
def status(ctx: click.Context, as_json: bool, failures: int) -> None:
    """Each source's last run, last success, failures in a row and documents live/gone (times in UTC);
    exits 1 when any source has not succeeded within twice its schedule period (OVERDUE) or its last N
    runs failed (FAILING), for cron or monitoring to alert on.

    Example: python -m archive status --db data/archive.db
    """
    from archive import status as health

    db = open_archive(ctx)
    statuses = health.source_statuses(db, failures=failures)
    click.echo(health.as_json(statuses) if as_json else health.format_table(statuses))
    if health.unhealthy(statuses):
        ctx.exit(1)


@cli.command()
@db_option
@click.option("--port", default=8001, show_default=True, type=int, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--public-url", default=None, metavar="URL",
              help="Where readers reach this server (https://…); makes the Atom feed's links absolute "
                   "(default: built from each request's host).")
@click.pass_context
def serve(ctx: click.Context, port: int, host: str, public_url: str | None) -> None:
    """Browse the archive in Datasette (project metadata, diff pages, Chinese search), read-only.

    Example: python -m archive --db data/archive.db serve --port 8001
    """
    open_archive(ctx).conn.close()  # must be an archive; Datasette itself opens it read-only (mode=ro)
    if public_url:
        if not public_url.startswith(("http://", "https://")):
            raise click.BadParameter(f"not an http(s) URL: {public_url!r}", param_hint="--public-url")
        os.environ["ZWGK_PUBLIC_URL"] = public_url.rstrip("/")  # read by archive.datasette_plugin
    args = [sys.executable, "-m", "datasette", "serve", str(ctx.obj["db"]), "--port", str(port),
            "--host", host, "--metadata", str(METADATA_FILE),
            # facet suggestions re-run a search once per column (~1 s on 100,000 revisions): off
            "--setting", "suggest_facets", "off"]
    os.execv(sys.executable, args)
