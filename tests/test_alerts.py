"""Alerts to Slack and e-mail, owners told of decisions, CRM write-back (issue 31).

Every channel is a local stand-in on loopback: an HTTP receiver (pytest-httpserver) for the
Slack webhook, the Slack Web API and the CRM APIs, an SMTP sink (aiosmtpd). Real Postgres and
the real broker from conftest; nothing leaves the machine.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import Message
from itertools import count

import psycopg
import pytest
from aiosmtpd.controller import Controller
from kafka import TopicPartition
from pytest_httpserver import HTTPServer
from typer.testing import CliRunner
from werkzeug import Request, Response

from foundation.config import MASK, Settings, describe, get_settings
from infra.embedded import free_port
from ingest.kafka import consumer
from notify import alerts, owners
from notify.run import run
from schemas.names import LOOP_TOPIC
from warehouse.loop import decide, publish_pending

NOW = datetime.now(UTC)
_ids = count(1)


class Sink:
    """An SMTP server on loopback keeping every message it is handed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server, session, envelope):
        msg = message_from_bytes(envelope.content)
        msg["X-Rcpt"] = ", ".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 OK"

    def bodies(self) -> list[str]:
        return [m.get_payload(decode=True).decode() if not m.is_multipart()
                else m.get_payload(0).get_payload(decode=True).decode() for m in self.messages]


@pytest.fixture
def smtp():
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield sink, controller.port
    controller.stop()


class Recorder:
    """What the HTTP stand-in received: (path, JSON body, headers)."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self.calls: list[tuple[str, dict, dict]] = []
        self.status = 200  # what the next requests are answered

    def handler(self, answer: dict | None = None):
        def handle(request: Request) -> Response:
            self.calls.append((request.path, json.loads(request.data or b"{}"),
                               dict(request.headers)))
            body = json.dumps(answer if answer is not None else {})
            return Response(body, self.status, content_type="application/json")
        return handle

    def paths(self, path: str) -> list[dict]:
        return [body for p, body, _ in self.calls if p == path]


@pytest.fixture
def http(httpserver: HTTPServer):
    rec = Recorder(httpserver)
    httpserver.expect_request("/hooks/slack").respond_with_handler(rec.handler())
    httpserver.expect_request("/api/chat.postMessage").respond_with_handler(
        rec.handler({"ok": True}))
    httpserver.expect_request(
        "/services/data/v60.0/sobjects/Task").respond_with_handler(rec.handler({"id": "00T1"}))
    httpserver.expect_request("/crm/v3/objects/notes").respond_with_handler(
        rec.handler({"id": "n1"}))
    return rec


def configured(settings: Settings, http: Recorder | None = None, smtp_port: int | None = None,
               **extra) -> Settings:
    values = settings.model_dump() | {"alerts_backoff_s": 0.0, "alerts_retries": 2,
                                      "alerts_timeout_s": 5.0}
    if http is not None:
        values |= {"slack_webhook_url": http.server.url_for("/hooks/slack"),
                   "slack_bot_token": "xoxb-test-token",
                   "slack_api_url": http.server.url_for("/api")}
    if smtp_port is not None:
        values |= {"smtp_url": f"smtp://127.0.0.1:{smtp_port}", "smtp_from": "trendmine@corp.test",
                   "alerts_email_to": "pm@corp.test, lead@corp.test"}
    secrets = {k: v.get_secret_value() if hasattr(v, "get_secret_value") else v
               for k, v in (values | extra).items()}
    return Settings(**secrets)


class World:
    def __init__(self, db: psycopg.Connection) -> None:
        self.db = db

    def account(self, account_id: str, owner_email: str | None = None,
                slack: str | None = None, segment: str = "enterprise", arr: float = 120_000,
                external_ids: dict | None = None) -> str:
        self.db.execute(
            "INSERT INTO trendmine.accounts (account_id, name, segment, arr, updated_at, "
            "owner_email, owner_slack_id, external_ids) VALUES (%s, %s, %s, %s, now(), %s, %s, "
            "%s)", (account_id, f"{account_id.title()} Inc", segment, arr, owner_email, slack,
                    json.dumps(external_ids or {})))
        return account_id

    def theme(self, label: str) -> int:
        return self.db.execute(
            "INSERT INTO trendmine.themes (label, quotes) VALUES (%s, %s) RETURNING theme_id",
            (label, json.dumps([{"text": f"we need {label} badly"}]))).fetchone()[0]

    def feedback(self, account_id: str, theme_id: int, text: str,
                 opportunity_id: str | None = None, days_ago: int = 3) -> None:
        n = next(_ids)
        fid = self.db.execute(
            "INSERT INTO trendmine.feedback (source, source_id, account_id, opportunity_id, "
            "text, text_hash, created_at) VALUES ('crm_notes', %s, %s, %s, %s, %s, %s) "
            "RETURNING feedback_id",
            (f"r{n}", account_id, opportunity_id, text, f"h{n}",
             NOW - timedelta(days=days_ago))).fetchone()[0]
        self.db.execute("INSERT INTO trendmine.feedback_snippet (feedback_id, ord, text, "
                        "text_hash) VALUES (%s, 0, %s, %s)", (fid, text, f"h{n}"))
        self.db.execute("INSERT INTO trendmine.feedback_theme (feedback_id, ord, theme_id, "
                        "method) VALUES (%s, 0, %s, 'cluster')", (fid, theme_id))

    def deal(self, opp: str, account_id: str, amount: float) -> str:
        self.db.execute(
            "INSERT INTO trendmine.opportunities (opportunity_id, account_id, name, amount, "
            "stage, close_date, updated_at) VALUES (%s, %s, %s, %s, 'open', %s, now())",
            (opp, account_id, f"Deal {opp}", amount, (NOW + timedelta(days=30)).date()))
        return opp

    def emerging(self, theme_id: int, accounts: int = 3) -> None:
        self.db.execute(
            "INSERT INTO trendmine.theme_emerging (theme_id, grain, period_start, rank, is_new, "
            "mentions, accounts, arr, pipeline, observed, expected, statistic, threshold, "
            "evidence) VALUES (%s, 'week', %s, 1, true, 9, %s, 360000, 250000, 9, 1, 5.2, 3, "
            "'{\"recent_periods\": 2, \"baseline_periods\": 0}')",
            (theme_id, (NOW - timedelta(days=14)).date(), accounts))


@pytest.fixture
def world(db) -> World:
    return World(db)


def _alert_world(w: World) -> tuple[int, int]:
    sso = w.theme("SAML single sign-on")
    export = w.theme("CSV export")
    for acct in ("acme", "globex", "initech"):
        w.account(acct)
        w.feedback(acct, sso, f"{acct} needs SAML SSO for Okta")
    w.emerging(sso)
    w.account("hooli", segment="mid_market")
    w.deal("opp-big", "hooli", 250_000)
    w.deal("opp-small", "globex", 5_000)
    w.feedback("hooli", export, "CSV export of every report", opportunity_id="opp-big")
    w.feedback("globex", export, "export to CSV please", opportunity_id="opp-small")
    return sso, export


def test_alerts_go_to_slack_and_email_once(settings, db, world, http, smtp):
    sink, port = smtp
    sso, export = _alert_world(world)
    s = configured(settings, http, port)

    report = alerts.send(db, s)

    keys = {r[0] for r in db.execute("SELECT DISTINCT alert_key FROM trendmine.alert_ledger")}
    assert keys == {f"emerging:{sso}", f"deal:opp-big:{export}"}  # the 5k deal is below
    assert report.sent == 4 and not report.failed  # 2 alerts x 2 channels
    posts = http.paths("/hooks/slack")
    assert len(posts) == 2
    emerging = next(p for p in posts if "Emerging" in p["text"])
    block = emerging["blocks"][0]["text"]["text"]
    assert "SAML single sign-on" in block and "enterprise 3" in block  # segment mix
    assert "ARR 360.0k" in block and "pipeline 250.0k" in block
    assert "we need SAML single sign-on" in block  # the theme's representative quote
    deal = next(p for p in posts if "Deal opp-big" in p["text"])
    assert "CSV export" in deal["blocks"][0]["text"]["text"]
    assert len(sink.messages) == 2
    assert {m["X-Rcpt"] for m in sink.messages} == {"pm@corp.test, lead@corp.test"}
    assert all(m["From"] == "trendmine@corp.test" for m in sink.messages)

    again = alerts.send(db, s)  # nothing new: nothing sent twice
    assert (again.found, again.sent) == (0, 0)
    assert len(http.paths("/hooks/slack")) == 2 and len(sink.messages) == 2


def test_a_failing_channel_is_retried_with_backoff_and_visible(settings, db, world, http,
                                                               monkeypatch):
    sso, _ = _alert_world(world)
    s = configured(settings, http)
    http.status = 503

    report = alerts.send(db, s)

    assert report.sent == 0 and len(report.failed) == 2
    assert len(http.paths("/hooks/slack")) == 2 * 3  # one try + 2 retries per alert
    row = db.execute("SELECT status, attempts, last_error FROM trendmine.alert_ledger "
                     "WHERE alert_key = %s", (f"emerging:{sso}",)).fetchone()
    assert row[0] == "failed" and row[1] == 1 and "HTTP 503" in row[2]
    assert "/hooks/slack" not in row[2]  # the webhook URL is a secret

    # the CLI shows it and fails; once Slack is back the next run sends it
    runner = CliRunner()
    from trendmine.cli import app

    for key, value in (("DATABASE_URL", s.dsn()), ("KAFKA_BOOTSTRAP", s.bootstrap()),
                       ("TOPIC_PREFIX", s.topic_prefix),
                       ("SLACK_WEBHOOK_URL", s.slack_webhook_url.get_secret_value()),
                       ("ALERTS_BACKOFF_S", "0"), ("ALERTS_RETRIES", "0")):
        monkeypatch.setenv(f"TRENDMINE_{key}", value)
    get_settings(fresh=True)
    try:
        shown = runner.invoke(app, ["alerts", "status"])
        assert shown.exit_code == 0, shown.output
        assert f"emerging:{sso}" in shown.output and "HTTP 503" in shown.output
        failed = runner.invoke(app, ["alerts", "send"])
        assert failed.exit_code == 1 and "2 send(s) failed" in str(failed.exception)
        http.status = 200
        ok = runner.invoke(app, ["alerts", "send"])
        assert ok.exit_code == 0, ok.output
        assert "2 sent, 0 failed" in ok.output
    finally:
        get_settings(fresh=True)
    assert db.execute("SELECT count(*) FROM trendmine.alert_ledger WHERE status = 'sent'"
                      ).fetchone()[0] == 2


def test_weekly_digest_holds_alerts_for_one_message(settings, db, world, http, smtp):
    sink, port = smtp
    _alert_world(world)
    s = configured(settings, http, port, alerts_digest=True)

    first = alerts.send(db, s)  # no digest yet: one is due now
    assert first.sent == 4
    assert len(http.paths("/hooks/slack")) == 1 and len(sink.messages) == 1
    assert "weekly digest: 2 alert(s)" in http.paths("/hooks/slack")[0]["text"]

    later = world.theme("Audit log")
    world.account("umbrella")
    world.feedback("umbrella", later, "an audit log of admin actions")
    world.emerging(later)
    held = alerts.send(db, s)
    assert (held.found, held.sent, held.held) == (2, 0, 2)  # the week is not over
    forced = alerts.send(db, s, digest_now=True)
    assert forced.sent == 2 and len(http.paths("/hooks/slack")) == 2


def _decision_world(w: World) -> int:
    theme = w.theme("Dark mode")
    w.account("acme", owner_email="Alice@corp.test")
    w.account("globex", owner_email="alice@corp.test")
    w.account("initech", owner_email="bob@corp.test", slack="U0BOB")
    w.account("umbrella")  # no owner known
    w.account("hooli", owner_email="carol@corp.test")
    w.feedback("acme", theme, "dark mode for the dashboard please", days_ago=5)
    w.feedback("acme", theme, "our night shift wants a dark theme", days_ago=2)
    w.feedback("globex", theme, "dark UI <!channel> now")
    w.feedback("initech", theme, "dark mode in the mobile app")
    w.feedback("umbrella", theme, "dark mode")
    w.feedback("hooli", theme, "a darker palette")
    return theme


def test_a_decision_tells_each_owner_once(settings, db, world, http, smtp):
    sink, port = smtp
    theme = _decision_world(world)
    s = configured(settings, http, port)
    owners.opt_out(db, "carol@corp.test", "pm")

    decide(db, s, theme, "shipped", "Dark mode is live for everyone", "pm")
    assert publish_pending(db, s) == 5  # the feedback.loop events stay, one per account
    told = owners.tell(db, s)

    assert (told.sent, told.opted_out, told.no_owner) == (2, 1, 1) and not told.failed
    assert len(sink.messages) == 1  # alice: ONE mail for her two accounts
    mail = sink.messages[0]
    assert mail["X-Rcpt"] == "alice@corp.test"
    assert mail["Subject"] == "[trendmine] Dark mode has shipped"
    assert mail["List-Unsubscribe"]
    text = sink.bodies()[0]
    assert "Dark mode is live for everyone" in text
    assert "Acme Inc asked:" in text and "Globex Inc asked:" in text
    assert "our night shift wants a dark theme" in text and "dark UI" in text
    assert "mobile app" not in text  # bob's account's quote goes to bob only
    dms = http.paths("/api/chat.postMessage")
    assert len(dms) == 1 and dms[0]["channel"] == "U0BOB"
    dm = dms[0]["blocks"][0]["text"]["text"]
    assert "mobile app" in dm and "Dark mode is live" in dm
    auth = next(h for p, _, h in http.calls if p == "/api/chat.postMessage")["Authorization"]
    assert auth == "Bearer xoxb-test-token"
    # a quote cannot ping a channel in Slack
    assert all("<!channel>" not in json.dumps(c[1]) for c in http.calls)

    # the same decision again, and another run: nobody is told twice
    again = decide(db, s, theme, "shipped", "Dark mode is live for everyone", "pm")
    assert not again.changed
    assert owners.tell(db, s).sent == 0
    assert len(sink.messages) == 1 and len(http.paths("/api/chat.postMessage")) == 1
    rows = dict(db.execute("SELECT account_id, status FROM trends.owner_notifications"
                           ).fetchall())
    assert rows == {"acme": "sent", "globex": "sent", "initech": "sent",
                    "umbrella": "no_owner", "hooli": "opted_out"}


def test_theme_status_command_tells_owners(settings, db, world, smtp, monkeypatch):
    sink, port = smtp
    theme = _decision_world(world)
    from trendmine.cli import app

    for key, value in (("DATABASE_URL", settings.dsn()), ("KAFKA_BOOTSTRAP", settings.bootstrap()),
                       ("TOPIC_PREFIX", settings.topic_prefix),
                       ("SMTP_URL", f"smtp://127.0.0.1:{port}"), ("SMTP_FROM", "tm@corp.test")):
        monkeypatch.setenv(f"TRENDMINE_{key}", value)
    get_settings(fresh=True)
    runner = CliRunner()
    try:
        out = runner.invoke(app, ["theme", "status", str(theme), "planned", "--note", "Q3"])
        assert out.exit_code == 0, out.output
        assert "published 5 event(s)" in out.output
        assert "owners told: 3 message(s)" in out.output  # alice, bob (mail), carol
        twice = runner.invoke(app, ["theme", "status", str(theme), "planned"])
        assert "owners told: 0 message(s)" in twice.output
    finally:
        get_settings(fresh=True)
    assert sorted(m["X-Rcpt"] for m in sink.messages) == [
        "alice@corp.test", "bob@corp.test", "carol@corp.test"]
    c = consumer(settings, group_id=None)
    topic = settings.topic(LOOP_TOPIC)
    tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    events = []
    for _ in range(20):
        events += [m for part in c.poll(timeout_ms=500).values() for m in part]
    c.close()
    assert len(events) == 5


@pytest.mark.parametrize("crm", ["salesforce", "hubspot"])
def test_crm_writeback(settings, db, world, http, crm):
    theme = world.theme("SCIM provisioning")
    world.account("acme", owner_email="alice@corp.test",
                  external_ids={"salesforce": "001AAA", "hubspot": "9001"})
    world.feedback("acme", theme, "SCIM for Azure AD")
    s = configured(settings, http, crm_writeback=crm,
                   salesforce_instance_url=http.server.url_for("/"),
                   salesforce_access_token="sf-token", hubspot_access_token="hs-token",
                   hubspot_api_url=http.server.url_for("/"), slack_bot_token=None)
    decide(db, s, theme, "declined", "Not this year", "pm")
    publish_pending(db, s)

    told = owners.tell(db, s)

    assert told.crm_written == 1 and told.no_channel == 1  # no e-mail channel configured here
    if crm == "salesforce":
        (task,) = http.paths("/services/data/v60.0/sobjects/Task")
        assert task["WhatId"] == "001AAA" and "SCIM provisioning" in task["Subject"]
        assert "Not this year" in task["Description"] and "SCIM for Azure AD" in task["Description"]
    else:
        (note,) = http.paths("/crm/v3/objects/notes")
        assert note["associations"][0]["to"]["id"] == "9001"
        assert "Not this year" in note["properties"]["hs_note_body"]
    assert owners.tell(db, s).crm_written == 0  # written once


def test_run_covers_loop_owners_and_alerts(settings, db, world, http, smtp):
    _sink, port = smtp
    theme = _decision_world(world)
    s = configured(settings, http, port)
    decide(db, s, theme, "planned", None, "pm")  # published by the run, not here

    report = run(db, s)

    assert report.loop_events == 5 and report.owners.sent == 3 and not report.failures


def test_secrets_read_from_files_and_masked(tmp_path, monkeypatch):
    (tmp_path / "hook").write_text("https://hooks.slack.com/services/T0/B0/secret\n")
    (tmp_path / "pw").write_text("smtp-pass\n")
    monkeypatch.setenv("TRENDMINE_SLACK_WEBHOOK_URL_FILE", str(tmp_path / "hook"))
    monkeypatch.setenv("TRENDMINE_SMTP_PASSWORD_FILE", str(tmp_path / "pw"))
    s = Settings(smtp_url="smtp://mailer:inline-pw@mail.corp.test:587")
    assert s.slack_webhook_url.get_secret_value().endswith("/secret")
    shown = {name: value for name, value, _ in describe(s)}
    for name in ("TRENDMINE_SLACK_WEBHOOK_URL", "TRENDMINE_SMTP_PASSWORD", "TRENDMINE_SMTP_URL"):
        assert shown[name] == MASK
    assert {"smtp-pass", "inline-pw"} <= set(s.secret_values())


def test_plain_smtp_off_the_host_needs_starttls(settings, smtp, monkeypatch):
    from notify import deliver

    sink, port = smtp
    s = configured(settings, None, port, smtp_url=f"smtp://localhost:{port}")
    deliver.send_mail(s, ["a@corp.test"], "hi", "loopback: plain is fine")
    assert len(sink.messages) == 1
    monkeypatch.setattr(deliver, "_loopback", lambda host: False)  # as if it were remote
    with pytest.raises(deliver.SendFailed, match="offers no STARTTLS"):
        deliver.send_mail(s, ["a@corp.test"], "hi", "never in clear")
    assert len(sink.messages) == 1
    target = deliver.SmtpTarget(configured(settings, None, port,
                                           smtp_url="smtps://u:p%40ss@mail.corp.test"))
    assert (target.tls, target.port, target.password) == (True, 465, "p@ss")


def test_owners_come_from_the_crm_exports(db):
    import io

    from ingest.connectors import hubspot, salesforce
    from ingest.writer import write_accounts
    from schemas.events import Account

    sf = (b"Id,Name,AnnualRevenue,Owner.Email,Owner_Slack_Id__c,LastModifiedDate\n"
          b"001000000000001AAA,Acme,1000,Alice@Corp.test,U0ALICE,2026-01-01T00:00:00Z\n"
          b"001000000000002AAA,Beta,1000,not an address,,2026-01-01T00:00:00Z\n")
    hs = json.dumps({"results": [{"id": "9001", "properties": {
        "name": "Gamma", "hubspot_owner_email": "bob@corp.test",
        "hs_lastmodifieddate": "2026-01-01T00:00:00Z"}}]}).encode()
    parsed = [*salesforce.parse_accounts("accounts", io.BytesIO(sf)),
              *hubspot.parse_companies("accounts", io.BytesIO(hs))]
    write_accounts(db, [(Account.model_validate(p.value), NOW) for p in parsed])
    owners_of = {r[0]: r[1:] for r in db.execute(
        "SELECT name, owner_email, owner_slack_id FROM trendmine.accounts")}
    assert owners_of == {"Acme": ("alice@corp.test", "U0ALICE"), "Beta": (None, None),
                         "Gamma": ("bob@corp.test", None)}


def _self_signed(tmp_path):
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_starttls_and_login_with_the_password_from_a_file(settings, tmp_path, monkeypatch):
    import ssl

    from aiosmtpd.smtp import AuthResult

    from notify import deliver

    cert, key = _self_signed(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    logins = []

    def authenticate(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, session.ssl is not None))
        return AuthResult(success=auth_data.password == b"s3cret-pw", handled=False)

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port(), tls_context=tls,
                            require_starttls=True, auth_require_tls=True,
                            authenticator=authenticate)
    controller.start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts the test CA only
        (tmp_path / "pw").write_text("s3cret-pw\n")
        monkeypatch.setenv("TRENDMINE_SMTP_PASSWORD_FILE", str(tmp_path / "pw"))
        s = configured(settings, None, controller.port,
                       smtp_url=f"smtp://mailer@localhost:{controller.port}")
        deliver.send_mail(s, ["pm@corp.test"], "over\nTLS", "sealed")
        assert logins == [(b"mailer", True)]  # the password went over STARTTLS
        assert sink.messages[0]["Subject"] == "over TLS"  # no header injection

        (tmp_path / "pw").write_text("wrong-pw\n")
        bad = configured(settings, None, controller.port,
                         smtp_url=f"smtp://mailer@localhost:{controller.port}")
        with pytest.raises(deliver.SendFailed, match="SMTP 535") as failed:
            deliver.send_mail(bad, ["pm@corp.test"], "x", "y")
        assert "wrong-pw" not in str(failed.value)
    finally:
        controller.stop()


def test_the_scheduled_flow_fails_visibly_and_recovers(settings, db, world, http, prefect_api):
    from flows.alerts import alerts_flow
    from flows.runtime import running_with
    from foundation.errors import TrendmineError

    _alert_world(world)
    s = configured(settings, http)
    http.status = 500
    with running_with(s), pytest.raises(TrendmineError, match="2 send\\(s\\) failed"):
        alerts_flow()
    http.status = 200
    with running_with(s):
        result = alerts_flow()
    assert "alerts: 0 new, 2 sent, 0 failed" in result["summary"]
