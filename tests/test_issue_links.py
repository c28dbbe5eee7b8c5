"""Jira/Linear links (issue 31): `theme link`, the signed webhooks the intake accepts, and the
theme moved to planned / shipped by its issue, telling the requesters' owners.

The intake runs in-process (Starlette's TestClient, its lifespan connecting the real broker);
Postgres and the broker are the conftest's; mail goes to a loopback SMTP sink.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from foundation.config import Settings, get_settings
from foundation.errors import TrendmineError
from infra.embedded import free_port
from intake import signatures
from intake import trackers as intake_trackers
from intake.app import create_app
from notify import trackers
from notify.run import run

JIRA_SECRET = "jira-webhook-secret"
LINEAR_SECRET = "linear-signing-secret"
NOW = datetime.now(UTC)


def jira_body(key: str, status: str, category: str) -> bytes:
    return json.dumps({
        "timestamp": int(time.time() * 1000), "webhookEvent": "jira:issue_updated",
        "user": {"displayName": "Dana Dev"},
        "issue": {"key": key, "self": "https://corp.atlassian.net/rest/api/2/issue/10001",
                  "fields": {"summary": "Dark mode", "status": {
                      "name": status, "statusCategory": {"key": category}}}},
    }).encode()


def linear_body(key: str, state: str, kind: str, ts_ms: int | None = None) -> bytes:
    return json.dumps({
        "action": "update", "type": "Issue", "actor": {"name": "Lin Ear"},
        "webhookTimestamp": ts_ms if ts_ms is not None else int(time.time() * 1000),
        "data": {"identifier": key, "title": "SSO", "url": f"https://linear.app/corp/issue/{key}",
                 "state": {"name": state, "type": kind}},
    }).encode()


def jira_headers(body: bytes, secret: str = JIRA_SECRET) -> dict[str, str]:
    mac = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature": f"sha256={mac}", "content-type": "application/json"}


def linear_headers(body: bytes, secret: str = LINEAR_SECRET) -> dict[str, str]:
    return {"linear-signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
            "content-type": "application/json"}


# ---------------------------------------------------------------------------- units


def test_signatures():
    from pydantic import SecretStr

    body = jira_body("PROJ-1", "In Progress", "indeterminate")
    signatures.verify_jira(jira_headers(body), body, SecretStr(JIRA_SECRET))
    for headers in ({}, jira_headers(body, "other"), jira_headers(body + b" ")):
        with pytest.raises(signatures.Unauthorized):
            signatures.verify_jira(headers, body, SecretStr(JIRA_SECRET))
    with pytest.raises(signatures.Unauthorized, match="not configured"):
        signatures.verify_jira(jira_headers(body), body, None)

    body = linear_body("ENG-12", "Done", "completed")
    signatures.verify_linear(linear_headers(body), body, SecretStr(LINEAR_SECRET), 60)
    with pytest.raises(signatures.Unauthorized, match="does not match"):
        signatures.verify_linear(linear_headers(body, "x"), body, SecretStr(LINEAR_SECRET), 60)
    stale = linear_body("ENG-12", "Done", "completed", int((time.time() - 600) * 1000))
    with pytest.raises(signatures.Unauthorized, match="old"):
        signatures.verify_linear(linear_headers(stale), stale, SecretStr(LINEAR_SECRET), 60)


def test_payloads_map_to_tracker_events():
    e = intake_trackers.jira(jira_body("PROJ-7", "In Progress", "indeterminate"))
    assert (e.tracker, e.key, e.state, e.state_kind) == ("jira", "PROJ-7", "In Progress",
                                                         "started")
    assert e.url == "https://corp.atlassian.net/browse/PROJ-7" and e.actor == "Dana Dev"
    e = intake_trackers.linear(linear_body("ENG-12", "Done", "completed"))
    assert (e.key, e.state_kind, e.url) == ("ENG-12", "done",
                                            "https://linear.app/corp/issue/ENG-12")
    assert intake_trackers.linear(b'{"type": "Comment", "data": {}}') is None
    assert intake_trackers.jira(b'{"webhookEvent": "comment_created"}') is None


def test_target_decision_follows_all_linked_issues():
    assert trackers.target_decision(["started"]) == "planned"
    assert trackers.target_decision(["done", "started"]) == "planned"
    assert trackers.target_decision(["done", "done"]) == "shipped"
    assert trackers.target_decision(["done", "canceled"]) == "shipped"
    assert trackers.target_decision(["canceled"]) is None
    assert trackers.target_decision(["unstarted", None]) is None


def test_issue_keys_are_checked():
    assert trackers.check_key("jira", "proj-12") == "PROJ-12"
    with pytest.raises(TrendmineError, match="not a jira issue key"):
        trackers.check_key("jira", "12")
    with pytest.raises(TrendmineError, match="unknown tracker"):
        trackers.check_key("github", "A-1")


# ---------------------------------------------------------------------------- end to end


class Sink:
    def __init__(self) -> None:
        self.mails: list[tuple[list[str], str]] = []

    async def handle_DATA(self, server, session, envelope):
        self.mails.append((envelope.rcpt_tos, envelope.content.decode(errors="replace")))
        return "250 OK"


@pytest.fixture
def sink():
    s = Sink()
    controller = Controller(s, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield s, controller.port
    controller.stop()


def _world(db) -> tuple[int, int]:
    dark = db.execute("INSERT INTO trendmine.themes (label) VALUES ('Dark mode') "
                      "RETURNING theme_id").fetchone()[0]
    sso = db.execute("INSERT INTO trendmine.themes (label) VALUES ('SAML SSO') "
                     "RETURNING theme_id").fetchone()[0]
    for n, (acct, owner, theme, text) in enumerate([
            ("acme", "alice@corp.test", dark, "dark mode please"),
            ("globex", "bob@corp.test", sso, "SSO with Okta")]):
        db.execute("INSERT INTO trendmine.accounts (account_id, name, segment, arr, updated_at, "
                   "owner_email) VALUES (%s, %s, 'smb', 1000, now(), %s) ON CONFLICT DO NOTHING",
                   (acct, acct.title(), owner))
        fid = db.execute(
            "INSERT INTO trendmine.feedback (source, source_id, account_id, text, text_hash, "
            "created_at) VALUES ('ideas', %s, %s, %s, %s, %s) RETURNING feedback_id",
            (f"i{n}", acct, text, f"h{n}", NOW - timedelta(days=1))).fetchone()[0]
        db.execute("INSERT INTO trendmine.feedback_snippet (feedback_id, ord, text, text_hash) "
                   "VALUES (%s, 0, %s, %s)", (fid, text, f"h{n}"))
        db.execute("INSERT INTO trendmine.feedback_theme (feedback_id, ord, theme_id, method) "
                   "VALUES (%s, 0, %s, 'cluster')", (fid, theme))
    return dark, sso


@pytest.fixture
def env(settings, sink, monkeypatch):
    _, port = sink
    values = {"DATABASE_URL": settings.dsn(), "KAFKA_BOOTSTRAP": settings.bootstrap(),
              "TOPIC_PREFIX": settings.topic_prefix, "IDLE_SECONDS": "2",
              "JIRA_WEBHOOK_SECRET": JIRA_SECRET, "LINEAR_WEBHOOK_SECRET": LINEAR_SECRET,
              "SMTP_URL": f"smtp://127.0.0.1:{port}", "SMTP_FROM": "tm@corp.test"}
    for key, value in values.items():
        monkeypatch.setenv(f"TRENDMINE_{key}", value)
    yield get_settings(fresh=True)
    get_settings(fresh=True)


def _decision(db, theme: int) -> tuple[str, str, str] | None:
    return db.execute("SELECT decision, note, decided_by FROM trendmine.current_decisions "
                      "WHERE theme_id = %s", (theme,)).fetchone()


def test_linked_issues_move_their_themes_and_tell_owners(env: Settings, db, sink, tmp_path):
    mails = sink[0].mails
    dark, sso = _world(db)
    from trendmine.cli import app

    runner = CliRunner()
    out = runner.invoke(app, ["theme", "link", str(dark), "jira", "proj-12"])
    assert out.exit_code == 0 and f"theme {dark} linked to jira PROJ-12" in out.output
    out = runner.invoke(app, ["theme", "link", str(sso), "--linear", "ENG-3"])
    assert out.exit_code == 0, out.output
    bad = runner.invoke(app, ["theme", "link", str(dark), "jira", "nope"])
    assert bad.exit_code == 1 and "not a jira issue key" in str(bad.exception)

    with TestClient(create_app(env)) as client:
        body = jira_body("PROJ-12", "In Progress", "indeterminate")
        assert client.post("/v1/webhooks/jira", content=body,
                           headers=jira_headers(body, "wrong")).status_code == 401
        r = client.post("/v1/webhooks/jira", content=body, headers=jira_headers(body))
        assert r.status_code == 202 and r.json()["accepted"] == 1
        other = jira_body("OTHER-1", "Done", "done")  # nobody linked it
        assert client.post("/v1/webhooks/jira", content=other,
                           headers=jira_headers(other)).status_code == 202
        lin = linear_body("ENG-3", "Done", "completed")
        assert client.post("/v1/webhooks/linear", content=lin,
                           headers=linear_headers(lin)).status_code == 202
        comment = b'{"type": "Comment", "webhookTimestamp": %d, "data": {}}' % int(
            time.time() * 1000)
        ignored = client.post("/v1/webhooks/linear", content=comment,
                              headers=linear_headers(comment))
        assert ignored.status_code == 202 and ignored.json()["ignored"] == 1

    report = run(db, env)

    assert report.trackers.events == 3 and report.trackers.unlinked == 1
    assert _decision(db, dark) == ("planned", "Jira PROJ-12 is In Progress", "jira:Dana Dev")
    assert _decision(db, sso)[0] == "shipped"
    assert report.loop_events == 2 and report.owners.sent == 2, report
    to = sorted(rcpt[0] for rcpt, _ in mails)
    assert to == ["alice@corp.test", "bob@corp.test"]
    alice = next(text for rcpt, text in mails if rcpt == ["alice@corp.test"])
    assert "Dark mode is planned" in alice and "dark mode please" in alice

    # the link shows its state; done moves dark mode to shipped; a replay changes nothing
    shown = runner.invoke(app, ["theme", "link", str(dark)])
    assert "jira PROJ-12: In Progress https://corp.atlassian.net/browse/PROJ-12" in shown.output
    with TestClient(create_app(env)) as client:
        done = jira_body("PROJ-12", "Done", "done")
        for _ in range(2):
            assert client.post("/v1/webhooks/jira", content=done,
                               headers=jira_headers(done)).status_code == 202
    again = run(db, env)
    assert _decision(db, dark)[0] == "shipped" and again.owners.sent == 1
    assert len(mails) == 3
    view = db.execute("SELECT issue_key, state_kind, decision FROM trends.theme_links "
                      "ORDER BY issue_key").fetchall()
    assert view == [("ENG-3", "done", "shipped"), ("PROJ-12", "done", "shipped")]

    # `theme ID` and the report show the status and the issues
    detail = runner.invoke(app, ["theme", str(dark), "--since", "30d"])
    assert detail.exit_code == 0, detail.output
    assert "issue: jira PROJ-12: Done https://corp.atlassian.net/browse/PROJ-12" in detail.output
    from report.html import write_report
    from warehouse.trends import rebuild_trends

    rebuild_trends(db, env)
    html = write_report(db, tmp_path / "report.html", env).read_text()
    assert "status: <b>shipped</b>" in html
    assert '<a href="https://corp.atlassian.net/browse/PROJ-12" rel="noopener noreferrer">' \
           "Jira PROJ-12</a> (Done)" in html


def test_tracker_webhooks_unconfigured_are_refused(settings):
    with TestClient(create_app(settings)) as client:
        body = jira_body("PROJ-1", "Done", "done")
        r = client.post("/v1/webhooks/jira", content=body, headers=jira_headers(body))
        assert r.status_code == 401 and "TRENDMINE_JIRA_WEBHOOK_SECRET" in r.json()["reason"]
