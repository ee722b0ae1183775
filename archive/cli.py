"""The archive's command line: thin click commands over library functions.

Every command takes the global ``--db`` (default: $ARCHIVE_DB, else data/archive.db).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from archive import diff as diffs
from archive import history as hist
from archive.db import connect, db_path

METADATA_FILE = Path(__file__).resolve().parent.parent / "config" / "datasette.yaml"


class BadInput(click.ClickException):
    """A one-line error about the user's input (a missing archive, an unknown document): exit code 2."""

    exit_code = 2


@click.group()
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
    """The archive named by --db, which must exist; a one-line error otherwise."""
    try:
        return connect(ctx.obj["db"], create=False)
    except FileNotFoundError as exc:
        raise BadInput(str(exc)) from None


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
    """The revisions of a DOCUMENT (its id or URL), oldest first.

    Example: python -m archive history 42
    """
    db = open_archive(ctx)
    doc = _document(db, document)
    click.echo(f"document {doc['id']}: {doc['title'] or ''}\n{doc['url']}")
    click.echo(f"{'revision':>8}  {'fetched_at':<32}  {'size':>7}  {'added':>7}  {'removed':>7}")
    for row in hist.history(db, doc["id"]):
        click.echo(f"{row['id']:>8}  {row['fetched_at']:<32}  {row['size']:>7}  "
                   f"{'+' + str(row['added']):>7}  {'-' + str(row['removed']):>7}")


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
    click.echo(f"document {doc['id']}: {doc['title'] or ''}\n{doc['url']}")
    listed = atts.versions(db, doc["id"])
    for att in listed:
        click.echo(f"attachment {att['id']}: {att['text'] or ''}  {att['url']}  "
                   f"(checked {att['checked_at'] or 'never'})")
        for v in att["versions"]:
            what = f"error: {v['error']}" if v["error"] else f"{v['chars'] or 0} chars" if v["chars"] is not None \
                else "stored only"
            click.echo(f"  version {v['id']:>6}  {v['fetched_at']:<32}  {short_name(v['mime']):<8}  "
                       f"{v['size'] if v['size'] is not None else '-':>9} bytes  {what}")
    click.echo(f"{len(listed)} attachment{'s' if len(listed) != 1 else ''}")


@cli.command()
@db_option
@click.option("--since", default=None, metavar="DATE",
              help="Only revisions fetched on or after DATE (YYYY-MM-DD or ISO datetime; default: 30 days ago).")
@click.pass_context
def changes(ctx: click.Context, since: str | None) -> None:
    """Documents with new revisions since a date, newest first.

    Example: python -m archive changes --since 2025-01-01
    """
    try:
        since_value = hist.parse_since(since)
    except ValueError as exc:
        raise click.BadParameter(str(exc).removeprefix("--since: "), param_hint="--since") from None
    db = open_archive(ctx)
    rows = hist.changes_since(db, since_value)
    for row in rows:
        click.echo(f"{row['last_changed']}  {row['kind']:<7}  doc {row['id']:<6} "
                   f"{row['new_revisions']} rev  {row['district'] or row['source_id']}  "
                   f"{row['title'] or ''}  {row['url']}")
    click.echo(f"{len(rows)} document{'s' if len(rows) != 1 else ''} with new revisions since {since_value}")


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

    db = open_archive(ctx)
    if source_id and db.execute("SELECT 1 FROM sources WHERE id = ?", [source_id]).fetchone() is None:
        raise click.BadParameter(f"no source {source_id!r} in the archive", param_hint="--source")
    counts = run_reextract(db, source_id)
    click.echo(" ".join(f"{key}={value}" for key, value in counts.items()))
    from archive.attachments import reextract_files

    click.echo("attachments: " + " ".join(f"{k}={v}" for k, v in reextract_files(db, source_id).items()))


@cli.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Each source's last run, last success, failures in a row and documents live/gone; exits 1 when any
    source has not succeeded within twice its schedule period (for cron or monitoring to alert on).

    Example: python -m archive status --db data/archive.db
    """
    from archive import status as health

    db = open_archive(ctx)
    statuses = health.source_statuses(db)
    click.echo(health.as_json(statuses) if as_json else health.format_table(statuses))
    if any(s.overdue for s in statuses):
        ctx.exit(1)


@cli.command()
@db_option
@click.option("--port", default=8001, show_default=True, type=int, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.pass_context
def serve(ctx: click.Context, port: int, host: str) -> None:
    """Browse the archive in Datasette (project metadata, diff pages, Chinese search), read-only.

    Example: python -m archive --db data/archive.db serve --port 8001
    """
    open_archive(ctx).conn.close()  # must exist; makes sure the schema and search index are there
    args = [sys.executable, "-m", "datasette", "serve", str(ctx.obj["db"]), "--port", str(port),
            "--host", host, "--metadata", str(METADATA_FILE),
            # facet suggestions re-run a search once per column (~1 s on 100,000 revisions): off
            "--setting", "suggest_facets", "off"]
    os.execv(sys.executable, args)
