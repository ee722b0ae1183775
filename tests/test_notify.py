"""Notifications through Apprise, end to end: the real spider crawls a replica site, and real receivers on
127.0.0.1 — a JSON webhook (http.server) and an SMTP server (aiosmtpd) — get one message per run with news."""
from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from crawler.sources import ConfigError, load_config
from tests.crawling import crawl, rows
from tests.sites import ReplicaFarm

PUBLIC = "https://archive.example.org"


class Webhook:
    """A JSON webhook on 127.0.0.1 that keeps every POSTed body."""

    def __init__(self) -> None:
        received = self.received = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                received.append(json.loads(body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """aiosmtpd handler keeping every message delivered."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def receivers():
    hook, box = Webhook(), Mailbox()
    port = free_port()
    smtp = Controller(box, hostname="127.0.0.1", port=port)
    smtp.start()
    mail_url = f"mailto://127.0.0.1:{port}?from=archive@example.org&to=desk@example.org&mode=insecure"
    try:
        yield hook, box, mail_url
    finally:
        smtp.stop()
        hook.close()


@pytest.fixture
def site():
    with ReplicaFarm(("trs",)) as farm:
        yield farm


def mail_text(message) -> str:
    return str(message["subject"]) + "\n" + message.get_body(("plain",)).get_content()


def test_edit_and_withdrawal_notify_webhook_and_smtp_once_each(site, receivers, tmp_path):
    hook, box, mail_url = receivers
    config = site.sources_yaml(tmp_path / "sources.yaml", defaults={"notify": [hook.url, mail_url],
                                                                     "public_url": PUBLIC})
    db = tmp_path / "archive.db"
    [source] = load_config(config).sources

    # first run: every report is new → one message each
    assert crawl(config, db, source).returncode == 0
    assert len(hook.received) == 1 and len(box.messages) == 1
    n_docs = rows(db, "select count(*) n from documents")[0]["n"]
    assert f"{n_docs} new" in hook.received[0]["title"]

    # a quiet run: nothing
    assert crawl(config, db, source).returncode == 0
    assert len(hook.received) == 1 and len(box.messages) == 1

    # the site changes: one edit, one withdrawal, one new report → exactly one more message each
    site.set_state(2)
    assert crawl(config, db, source).returncode == 0
    assert len(hook.received) == 2 and len(box.messages) == 2
    docs = {d["url"]: d for d in rows(db, "select * from documents")}
    [edited] = [docs[u] for u in site.change_urls("edited")]
    [withdrawn] = [docs[u] for u in site.change_urls("withdrawn")]
    [rev] = rows(db, "select latest_revision_id id from documents where id = ?", [edited["id"]])
    hook_text = hook.received[1]["title"] + "\n" + hook.received[1]["message"]
    for text in (hook_text, mail_text(box.messages[1])):
        assert "1 changed" in text and "1 gone" in text and "1 new" in text
        assert edited["title"] in text and withdrawn["title"] in text
        assert f"{PUBLIC}/-/diff/{edited['id']}?to={rev['id']}" in text
        assert f"{PUBLIC}/-/document/{withdrawn['id']}" in text
    assert box.messages[1]["To"] == "desk@example.org"
    assert rows(db, "select count(*) n from events where notified_at is null")[0]["n"] == 0
    # the URLs (tokens, passwords) never reach the archive
    assert all("notify" not in json.loads(s["config"]) for s in rows(db, "select config from sources"))


def test_dead_webhook_costs_a_log_line_and_the_news_goes_with_the_next_message(site, receivers, tmp_path):
    hook, _, _ = receivers
    dead = f"json://127.0.0.1:{free_port()}/hook"
    db = tmp_path / "archive.db"
    config = site.sources_yaml(tmp_path / "dead.yaml", defaults={"notify": [dead]})
    [source] = load_config(config).sources
    assert crawl(config, db, source).returncode == 0
    site.set_state(2)
    done = crawl(config, db, source)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "notification for source" in done.stderr and "not sent" in done.stderr
    runs = rows(db, "select * from runs order by id")
    assert [r["status"] for r in runs] == ["ok", "ok"]
    assert all(r["notify_error"] for r in runs)
    n_new = rows(db, "select count(*) n from documents")[0]["n"]
    unsent = rows(db, "select kind, count(*) n from events where notified_at is null group by kind")
    assert {r["kind"]: r["n"] for r in unsent} == {"new": n_new, "changed": 1, "gone": 1}

    # the webhook is fixed; the next run is quiet but carries everything not yet sent (paths: no public_url)
    config = site.sources_yaml(tmp_path / "live.yaml", defaults={"notify": [hook.url]})
    done = crawl(config, db, source)
    assert done.returncode == 0
    [message] = hook.received
    assert "1 changed" in message["title"] and "1 gone" in message["title"]
    assert "from earlier runs" in message["message"] and "\n  /-/document/" in message["message"]
    assert rows(db, "select count(*) n from events where notified_at is null")[0]["n"] == 0
    assert rows(db, "select notify_error from runs order by id desc limit 1")[0]["notify_error"] is None

    # a quiet run after that: nothing sent
    assert crawl(config, db, source).returncode == 0
    assert len(hook.received) == 1


def test_silenced_source_sends_nothing(site, receivers, tmp_path):
    hook, box, mail_url = receivers
    config = site.sources_yaml(tmp_path / "sources.yaml", defaults={"notify": [hook.url, mail_url]}, notify=[])
    db = tmp_path / "archive.db"
    [source] = load_config(config).sources
    assert crawl(config, db, source).returncode == 0
    assert hook.received == [] and box.messages == []


def test_bad_notify_url_is_one_line_naming_source_and_url(site, tmp_path):
    config = site.sources_yaml(tmp_path / "sources.yaml", notify=["json://127.0.0.1/ok", "nosuchservice://x"])
    with pytest.raises(ConfigError) as err:
        load_config(config)
    message = str(err.value)
    assert "\n" not in message and "source 'replica-trs'" in message and "nosuchservice://x" in message
    bad_public = site.sources_yaml(tmp_path / "p.yaml", defaults={"public_url": "archive.example.org"})
    with pytest.raises(ConfigError, match="public_url"):
        load_config(bad_public)


def test_config_example_is_valid():
    root = Path(__file__).resolve().parent.parent
    load_config(root / "config" / "sources.yaml")


def test_a_replaced_attachment_is_one_event_one_notification_and_a_feed_entry(receivers, tmp_path):
    import asyncio

    import yaml
    from click.testing import CliRunner
    from datasette.app import Datasette

    from archive.cli import cli
    from tests.attachment_archive import LINK_TEXT, crawled, replace_pdf, serve
    from tests.sites.files import FilesSite

    hook, _, _ = receivers
    db = tmp_path / "archive.db"
    with FilesSite() as files:
        serve(files)
        config = files.source_yaml(tmp_path / "sources.yaml", notify=[hook.url])
        crawled(files, config, db)  # a new document: its attachments' first versions are part of that news
        assert [e["kind"] for e in rows(db, "select kind from events")] == ["new"]
        assert len(hook.received) == 1 and "1 new" in hook.received[0]["title"]
        crawled(files, config, db)  # nothing changed
        assert len(hook.received) == 1 and rows(db, "select count(*) n from events")[0]["n"] == 1
        ids = replace_pdf(files, config, db)

    [event] = rows(db, "select * from events where id > 1")
    [run] = rows(db, "select max(id) id from runs")
    assert (event["kind"], event["document_id"], event["attachment_revision_id"], event["run_id"]) == (
        "attachment", ids["document"], ids["new"], run["id"])
    assert event["revision_id"] is None and event["notified_at"] is not None
    assert len(hook.received) == 2
    message = hook.received[1]["title"] + "\n" + hook.received[1]["message"]
    assert "1 attachment" in message and "earlier runs" not in message
    assert f"[附件有修改 attachment] 某区2024年法治政府建设年度报告 · 附件 {LINK_TEXT}" in message
    assert f"/-/diff/{ids['document']}?attachment={ids['attachment']}&to={ids['new']}" in message

    # `archive changes` and the Atom feed report it too
    out = CliRunner().invoke(cli, ["--db", str(db), "changes", "--since", "2000-01-01"], catch_exceptions=False)
    assert f"att {ids['attachment']}.{ids['new']}" in out.output and "(1 new, 1 attachment)" in out.output
    listed = json.loads(CliRunner().invoke(cli, ["--db", str(db), "changes", "--since", "2000-01-01", "--json"],
                                           catch_exceptions=False).output)
    assert [(e["kind"], e["attachment_id"], e["attachment_text"]) for e in listed] == [
        ("attachment", ids["attachment"], LINK_TEXT), ("new", None, None)]

    async def feed():
        metadata = yaml.safe_load((Path(__file__).resolve().parent.parent / "config" / "datasette.yaml").read_text())
        ds = Datasette([str(db)], metadata=metadata)
        await ds.invoke_startup()
        return (await ds.client.get("/archive/changes_feed.json?_shape=objects")).json()["rows"]
    entry = asyncio.run(feed())[0]
    assert entry["kind"] == "attachment" and entry["atom_title"].startswith("附件有修改 Attachment changed: ")
    assert entry["atom_link"] == f"/-/diff/{ids['document']}?attachment={ids['attachment']}&to={ids['new']}"
    assert LINK_TEXT in entry["atom_content"]


class SizeLimitedChat:
    """A chat service's incoming webhook on 127.0.0.1 (Mattermost's API, which Apprise's mmost:// speaks)
    that refuses a message longer than the limit Apprise declares for the service, as a WeCom bot refuses
    one over 2,048 bytes."""

    def __init__(self) -> None:
        import apprise

        self.limit = apprise.Apprise.instantiate("mmost://127.0.0.1/abcdefghijklmnopqrstuvwxyz").body_maxlen
        received = self.received = []
        limit = self.limit

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                text = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))["text"]
                ok = len(text) <= limit
                if ok:
                    received.append(text)
                self.send_response(200 if ok else 400)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"mmost://127.0.0.1:{self.server.server_address[1]}/abcdefghijklmnopqrstuvwxyz"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_news_longer_than_a_chat_takes_arrives_in_parts_and_is_marked_sent(tmp_path):
    """Fifty new reports with long titles make a message several times the chat's limit: it goes out in
    parts, each within the limit, every title arrives, and nothing stays pending."""
    from archive import notify, store
    from archive.db import connect
    from tests.reading_fixtures import SOURCE, Page, days_ago, write

    chat = SizeLimitedChat()
    try:
        db = connect(tmp_path / "a.db")
        store.upsert_source(db, SOURCE)
        run = store.start_run(db, SOURCE["id"])
        titles = [f"坪山区第{i}号关于进一步加强法治政府建设工作的报告" + "（详细说明）" * 20 for i in range(50)]
        for i, title in enumerate(titles):
            write(db, f"http://example.gov.cn/report/{i}.html", Page(title, f"正文{i}。"), days_ago(1), run)
        store.finish_run(db, run, pages_fetched=40)
        source = type("S", (), {"id": SOURCE["id"], "name": SOURCE["name"], "notify": (chat.url,),
                                "public_url": None})()
        _, body = notify.compose(source, notify.pending(db, SOURCE["id"]), run)
        assert len(body) > 2 * chat.limit  # the case: one message would be refused

        outcome = notify.after_run(db, run, source)

        assert outcome == {"events": 50, "sent": True, "error": None}
        assert len(chat.received) >= 3 and all(len(text) <= chat.limit for text in chat.received)
        delivered = "".join(chat.received)
        assert all(f"坪山区第{i}号关于进一步加强" in delivered for i in range(len(titles)))
        assert notify.pending(db, SOURCE["id"]) == []
        assert db.execute("SELECT notify_error FROM runs WHERE id = ?", [run]).fetchone()[0] is None
    finally:
        chat.close()
