"""Upgrades: a database holding data from an older schema is migrated to head with its data
intact; a database migrated by a newer trendmine is refused with one line; a demo with bad
flags says so in one line and starts nothing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import sql

from foundation.config import Settings
from foundation.errors import TrendmineError
from infra.stack import migrate_database
from schemas import migrate as migrations
from schemas.names import MIGRATIONS_TABLE

from .conftest import REPO

OLD = 10  # V010: curation parents, before phrase embeddings, layouts, accounts' identities...


@pytest.fixture
def empty_db(services, tmp_path) -> Iterator[Settings]:
    """A database with nothing in it (not a copy of the migrated template)."""
    name = f"tm_upgrade_{uuid.uuid4().hex[:8]}"
    server = services["server_url"]
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield Settings(database_url=f"{server}/{name}", kafka_bootstrap=services["bootstrap"],
                   data_dir=tmp_path / "data")
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


# rows as a trendmine at V010 wrote them
OLD_ROWS = """
INSERT INTO trendmine.accounts (account_id, name, segment, arr, updated_at)
VALUES ('acct-1', 'Acme Corp', 'enterprise', 120000.50, '2026-01-02T00:00:00Z');
INSERT INTO trendmine.feedback (source, source_id, account_id, text, text_hash, created_at,
                                metadata, kafka_topic, kafka_partition, kafka_offset)
VALUES ('support_tickets', 'zd:1', 'acct-1', 'Please add SAML single sign-on', 'h1',
        '2026-01-03T10:00:00Z', '{"tags": ["sso"]}', 'tm.feedback', 0, 41),
       ('ideas', 'canny:7', 'acct-1', 'Export to CSV from every table', 'h2',
        '2026-01-04T10:00:00Z', '{}', 'tm.feedback', 1, 9);
INSERT INTO trendmine.pipeline_runs (flow, status, counts, error)
VALUES ('ingest', 'completed', '{"in": 2, "out": 2}', NULL),
       ('pipeline', 'failed', '{}', 'mine: ValueError: boom');
INSERT INTO trendmine.dead_letters (source_topic, source_partition, source_offset, stage,
                                    error_code, reason, value_bytes, preview, dlq_topic,
                                    dlq_partition, dlq_offset)
VALUES ('tm.feedback', 0, 40, 'validate', 'missing_text', 'no text', 12, '{"text": ""}',
        'tm.feedback.dlq', 0, 0);
"""


def _snapshot(conn: psycopg.Connection) -> dict[str, list[tuple]]:
    return {
        "accounts": conn.execute("SELECT account_id, name, segment, arr FROM trendmine.accounts"
                                 " ORDER BY 1").fetchall(),
        "feedback": conn.execute("SELECT source, source_id, account_id, text, metadata::text,"
                                 " created_at, kafka_offset FROM trendmine.feedback"
                                 " ORDER BY 1, 2").fetchall(),
        "runs": conn.execute("SELECT flow, status, counts::text, error"
                             " FROM trendmine.pipeline_runs ORDER BY run_id").fetchall(),
        "dead_letters": conn.execute("SELECT error_code, reason, value_bytes, preview"
                                     " FROM trendmine.dead_letters").fetchall(),
    }


def test_data_from_an_older_schema_survives_the_upgrade_to_head(empty_db):
    with psycopg.connect(empty_db.dsn(), autocommit=True) as conn:
        applied = migrations.migrate(conn, upto=OLD)
        assert [m.version for m in applied] == list(range(1, OLD + 1))
        conn.execute(OLD_ROWS)
        before = _snapshot(conn)

    done = migrate_database(empty_db)  # what `trendmine migrate` runs
    head = max(m.version for m in migrations.discover())
    assert len(done) == head - OLD

    with psycopg.connect(empty_db.dsn(), autocommit=True) as conn:
        assert migrations.current_version(conn) == head and not migrations.pending(conn)
        assert _snapshot(conn) == before
        # the read views a BI tool uses show the old rows too
        assert conn.execute("SELECT count(*) FROM trends.pipeline_runs").fetchone()[0] == 2
        # and head's rules apply to them: a stopped run can now be `cancelled`
        conn.execute("UPDATE trendmine.pipeline_runs SET status = 'cancelled' "
                     "WHERE flow = 'pipeline'")
    assert migrate_database(empty_db) == []  # a second upgrade finds nothing to do


def test_a_database_newer_than_this_code_is_refused_in_one_line(settings, db):
    head = max(m.version for m in migrations.discover())
    db.execute(f"INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) "
               "VALUES (%s, 'from_the_future', 'x')", (head + 1,))
    newer = f"V{head + 1:03d}, newer than this trendmine (V{head:03d})"
    with pytest.raises(TrendmineError, match=re.escape(newer)):
        migrate_database(settings)
    with pytest.raises(migrations.SchemaTooNew, match=re.escape(newer)):
        migrations.pending(db)
    cli = subprocess.run([sys.executable, "-m", "trendmine", "migrate"], cwd=REPO,
                         env={**os.environ, "TRENDMINE_DATABASE_URL": settings.dsn(),
                              "TRENDMINE_DATA_DIR": str(settings.data_dir)},
                         capture_output=True, text=True, timeout=120)
    assert cli.returncode == 1
    lines = [line for line in (cli.stdout + cli.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and newer in lines[0], lines


@pytest.mark.parametrize("flags", [["--accounts", "20"], ["--weeks", "2"],
                                   ["--feedback", "10"]])
def test_a_demo_with_bad_flags_says_so_and_starts_nothing(flags, tmp_path):
    data = tmp_path / "data"
    cli = subprocess.run([sys.executable, "-m", "trendmine", "demo", *flags], cwd=REPO,
                         env={**{k: v for k, v in os.environ.items()
                                 if not k.startswith(("TRENDMINE_", "PREFECT_"))},
                              "TRENDMINE_DATA_DIR": str(data)},
                         capture_output=True, text=True, timeout=120)
    out = [line for line in (cli.stdout + cli.stderr).splitlines() if line.strip()]
    assert cli.returncode == 1, out
    assert len(out) <= 2 and out[0].startswith("error: demo:"), out
    assert "unexpected" not in cli.stdout + cli.stderr
    assert not data.exists() or not any(data.iterdir()), "the demo started something"
