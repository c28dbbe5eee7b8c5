"""Operational security (docs/security.md): settings errors quote no secret, the BI role
cannot write large objects or lift its superuser-only limits, passwords reach Postgres only as
SCRAM verifiers, and the Prefect deployments take no settings or paths from their caller."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from pydantic import ValidationError

from foundation.config import Settings, settings_error
from foundation.secrets import scram_sha256_verifier
from infra.embedded import EmbeddedBroker, EmbeddedPostgres, free_port
from report.html import write_report
from warehouse.bi import TEMP_FILE_LIMIT, create_bi_role, role_url


def _fragments(secret: str, size: int = 6) -> list[str]:
    return [secret[i:i + size] for i in range(len(secret) - size + 1)]


def test_a_model_level_settings_error_quotes_no_setting(monkeypatch, tmp_path):
    secret = "sasl-Secret-0123456789-abcdefghij"
    monkeypatch.setenv("TRENDMINE_KAFKA_SASL_PASSWORD", secret)
    monkeypatch.setenv("TRENDMINE_INTAKE_SECRET_FILE", str(tmp_path / "no-such-file"))
    with pytest.raises(ValidationError) as err:
        Settings()
    message = settings_error(err.value)
    assert "TRENDMINE_INTAKE_SECRET_FILE" in message and "cannot read" in message
    assert not [f for f in _fragments(secret) if f in message], message


def test_a_quoted_value_is_masked_before_it_is_cut(monkeypatch):
    password = "dsnPassw0rd-Zyxwvutsrq"
    monkeypatch.setenv("TRENDMINE_PG_PORT", f"postgresql://u:{password}@db.example:5432/x")
    with pytest.raises(ValidationError) as err:
        Settings()
    message = settings_error(err.value)
    assert "TRENDMINE_PG_PORT" in message and "postgresql://u:***@" in message
    assert not [f for f in _fragments(password) if f in message], message


@pytest.fixture
def bi_role(settings, db) -> Iterator[tuple[str, str]]:
    name, password = f"bi_{uuid.uuid4().hex[:10]}", "bi-Pässwörd\u00a0x"  # SASLprep maps NBSP
    assert create_bi_role(db, name, password) == []  # a superuser sets everything
    yield name, role_url(settings.dsn(), name, password, show_password=True)
    db.execute(f'DROP OWNED BY "{name}"')
    db.execute(f'DROP ROLE "{name}"')


def test_the_bi_role_logs_in_with_a_password_it_got_as_a_verifier(db, bi_role):
    name, url = bi_role
    stored = db.execute("SELECT rolpassword FROM pg_authid WHERE rolname = %s", (name,))
    assert stored.fetchone()[0].startswith("SCRAM-SHA-256$4096:")
    with psycopg.connect(url, connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == name
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(url.replace("bi-P", "bi-X"), connect_timeout=5).close()


def test_the_verifier_follows_rfc_7677():
    # RFC 7677's example: user "user", password "pencil", salt W22ZaJ0SNY7soEsUEjb6gQ==
    import base64

    verifier = scram_sha256_verifier("pencil", salt=base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ=="))
    assert verifier == ("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
                        "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
                        "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=")


def test_the_bi_role_writes_no_large_object_and_keeps_its_limits(db, bi_role):
    name, url = bi_role
    with psycopg.connect(url, autocommit=True) as bi:
        shown = {k: bi.execute(f"SHOW {k}").fetchone()[0] for k in (
            "temp_file_limit", "idle_in_transaction_session_timeout", "idle_session_timeout",
            "work_mem", "statement_timeout", "default_transaction_read_only")}
        assert shown == {"temp_file_limit": TEMP_FILE_LIMIT,
                         "idle_in_transaction_session_timeout": "1min",
                         "idle_session_timeout": "30min", "work_mem": "64MB",
                         "statement_timeout": "2min", "default_transaction_read_only": "on"}
        bi.execute("SET default_transaction_read_only = off")
        for stmt in ("SELECT lo_from_bytea(0, 'x'::bytea)", "SELECT lo_create(0)",
                     "SELECT lo_creat(-1)", "SELECT lo_put(1, 0, 'x'::bytea)",
                     "SELECT lowrite(0, 'x'::bytea)", "SELECT lo_open(1, 131072)",
                     "SELECT lo_unlink(1)", "SELECT lo_import('/etc/hostname')"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                bi.execute(stmt)
        # superuser-only: neither the session nor the role itself can lift it
        for stmt in ("SET temp_file_limit = -1",
                     f'ALTER ROLE "{name}" SET temp_file_limit = -1',
                     f'ALTER ROLE "{name}" RESET temp_file_limit'):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                bi.execute(stmt)
    # trendmine's own role keeps the large-object functions
    oid = db.execute("SELECT lo_from_bytea(0, 'x'::bytea)").fetchone()[0]
    db.execute("SELECT lo_unlink(%s)", (oid,))


def test_rerunning_bi_role_create_drops_the_defaults_the_role_gave_itself(db, bi_role):
    name, url = bi_role
    with psycopg.connect(url, autocommit=True) as bi:  # user-settable: the role may do this
        bi.execute("SET default_transaction_read_only = off")
        bi.execute(f'ALTER ROLE "{name}" SET statement_timeout = 0')
        bi.execute(f'ALTER ROLE "{name}" IN DATABASE "{bi.info.dbname}" SET work_mem = \'1GB\'')
    create_bi_role(db, name)  # no password: the role keeps its own
    with psycopg.connect(url, autocommit=True) as bi:
        assert bi.execute("SHOW statement_timeout").fetchone()[0] == "2min"
        assert bi.execute("SHOW work_mem").fetchone()[0] == "64MB"
        assert bi.execute("SHOW temp_file_limit").fetchone()[0] == TEMP_FILE_LIMIT


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory) -> Iterator[tuple[EmbeddedPostgres, EmbeddedBroker]]:
    """Its own Postgres and broker under a 0700 parent, as a home directory is."""
    parent = tmp_path_factory.mktemp("home")
    parent.chmod(0o700)
    modes = {p: p.stat().st_mode for p in (parent, *parent.parents)}
    pg = EmbeddedPostgres(parent / "data", free_port())
    broker = EmbeddedBroker(parent / "data", free_port())
    pg.start()
    broker.start()
    yield pg, broker
    broker.stop()
    pg.stop()
    assert {p: p.stat().st_mode for p in modes} == modes  # no parent was opened up


def _mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.skipif(bool(os.environ.get("TRENDMINE_TEST_DATABASE_URL")),
                    reason="the embedded Postgres only")
def test_the_data_dir_is_private_and_its_parents_untouched(private_stack, settings, db):
    pg, broker = private_stack
    parent = pg.data_dir.parent
    assert _mode(parent) == 0o700
    assert _mode(pg.data_dir) == 0o700
    for f in (pg.log, broker.log, pg.password_file, broker.pidfile):
        assert _mode(f) == 0o600, f
    report = write_report(db, settings.data_dir / "report.html", settings)
    assert _mode(report) == 0o600


@pytest.mark.skipif(bool(os.environ.get("TRENDMINE_TEST_DATABASE_URL")),
                    reason="the embedded Postgres only")
def test_a_failing_bi_role_create_leaves_no_password_in_the_server_log(private_stack):
    pg, _ = private_stack
    password = "bi-" + uuid.uuid4().hex
    with (psycopg.connect(f"{pg.server_url()}/postgres", autocommit=True) as conn,
          pytest.raises(psycopg.errors.InvalidParameterValue)):  # CONNECTION LIMIT -7
        create_bi_role(conn, "bi_failing", password, connection_limit=-7)
    log = pg.log.read_text()
    assert "SCRAM-SHA-256$" in log  # the failing statement was logged, with the verifier
    assert password not in log


def test_customer_text_in_the_prefect_artifact_stays_text():
    from markdown_it import MarkdownIt

    from report.summary import to_markdown

    label = "SSO <img src=x onerror=alert(1)> | [login](javascript:alert(1))"
    quote = "**urgent** <script>alert(1)</script> ![x](http://evil.example/p.png) &lt;b&gt;"
    row = {"rank": 1, "theme_id": 7, "label": label, "is_new": False, "mentions": 3,
           "accounts": 2, "arr": 1000.0, "pipeline": 0.0, "lift": 2.0, "p_value": 0.01,
           "quotes": [quote]}
    html = MarkdownIt("commonmark", {"html": True}).enable("table").render(
        to_markdown([row], None))
    for raw in ("<img", "<script", "<strong>urgent", 'href="javascript', "<b>"):
        assert raw not in html, raw
    assert "&lt;img src=x onerror=alert(1)&gt;" in html  # shown, as text
    assert html.count("<td") == 9  # the label's | opened no extra cell
