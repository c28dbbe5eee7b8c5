"""Foundation: schemas, migrations, the embedded stack life cycle and clear errors."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pytest
from kafka import TopicPartition

from foundation.config import Settings, describe, embedded_password_file, mask_url
from infra.embedded import free_port
from ingest.kafka import consumer, producer
from schemas import export, migrate
from schemas.names import ALL_TOPICS, READ_SCHEMA, feedback_topic

from .conftest import REPO


def test_json_schema_files_match_the_models():
    for fname, text in export.render().items():
        committed = (export.JSONSCHEMA_DIR / fname).read_text()
        assert committed == text, f"{fname} drifted: run `python -m schemas.export`"


def test_migrations_are_recorded_and_idempotent(settings, db):
    assert migrate.current_version(db) == max(m.version for m in migrate.discover())
    assert migrate.pending(db) == []
    assert migrate.migrate(db) == []  # second run applies nothing
    recorded = migrate.applied(db)
    assert recorded == {m.version: m.checksum for m in migrate.discover()}


def test_every_read_view_and_column_is_commented(db):
    views = db.execute(
        "SELECT c.oid, c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'v'",
        (READ_SCHEMA,),
    ).fetchall()
    names = {v[1] for v in views}
    assert {"feedback", "themes", "theme_trends", "emerging_themes"} <= names
    for oid, name, comment in views:
        assert comment, f"view trends.{name} has no COMMENT"
        cols = db.execute(
            "SELECT attname, col_description(attrelid, attnum) FROM pg_attribute "
            "WHERE attrelid = %s AND attnum > 0 AND NOT attisdropped",
            (oid,),
        ).fetchall()
        missing = [c for c, d in cols if not d]
        assert not missing, f"trends.{name} columns without COMMENT: {missing}"


def test_changed_applied_migration_is_refused(db):
    db.execute(f"UPDATE {migrate.MIGRATIONS_TABLE} SET checksum = 'x' WHERE version = 1")
    with pytest.raises(migrate.MigrationError, match="changed after it was applied"):
        migrate.migrate(db)


def test_produce_and_consume_real_messages(settings):
    topic = settings.topic(feedback_topic("ideas"))
    p = producer(settings)
    for i in range(20):
        p.send(topic, key=b"acme", value=json.dumps({"n": i}).encode())
    p.flush()
    p.close()
    c = consumer(settings, topic, group_id=f"{settings.topic_prefix}g")
    got, deadline = [], time.monotonic() + 30
    while len(got) < 20 and time.monotonic() < deadline:
        for msgs in c.poll(timeout_ms=500).values():
            got.extend(json.loads(m.value)["n"] for m in msgs)
    c.commit()
    parts = c.partitions_for_topic(topic)
    committed = sum(c.committed(TopicPartition(topic, p)) or 0 for p in parts)
    c.close()
    assert sorted(got) == list(range(20))
    assert committed == 20


def test_config_masks_secrets():
    s = Settings(database_url="postgresql://bi:hunter2@db.internal:5432/tm")
    shown = dict((k, v) for k, v, _ in describe(s))
    assert shown["TRENDMINE_DATABASE_URL"] == "postgresql://bi:***@db.internal:5432/tm"
    assert "hunter2" not in json.dumps(shown)


# ---------------------------------------------------------------- CLI life cycle


def _cli(*args: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trendmine", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
    )


@pytest.fixture
def cli_env(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENDMINE_")}
    env.update(
        TRENDMINE_DATA_DIR=str(tmp_path / "tm"),
        TRENDMINE_PG_PORT=str(free_port()),
        TRENDMINE_KAFKA_PORT=str(free_port()),
    )
    yield env
    _cli("down", env=env)


@pytest.mark.skipif(
    bool(os.environ.get("TRENDMINE_TEST_DATABASE_URL")), reason="embedded life cycle only"
)
def test_up_status_down_life_cycle(cli_env):
    first = _cli("up", env=cli_env)
    assert first.returncode == 0, first.stderr
    assert "postgres: started" in first.stdout and "broker: started" in first.stdout
    where = f"127.0.0.1:{cli_env['TRENDMINE_PG_PORT']}/trendmine"
    assert f"postgresql://postgres:***@{where}" in first.stdout  # the password stays masked
    password = embedded_password_file(cli_env["TRENDMINE_DATA_DIR"]).read_text().strip()
    assert password not in first.stdout + first.stderr
    with psycopg.connect(f"postgresql://postgres:{password}@{where}") as conn:
        views = {
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.views WHERE table_schema = 'trends'"
            )
        }
    assert {"feedback", "themes", "theme_trends", "emerging_themes"} <= views

    again = _cli("up", env=cli_env)  # harmless the second time
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout and "none pending" in again.stdout

    st = _cli("status", env=cli_env)
    assert st.returncode == 0
    assert "postgres: running" in st.stdout and "broker: running" in st.stdout
    assert f"schema version: {max(m.version for m in migrate.discover())}" in st.stdout
    for topic in ALL_TOPICS:
        assert topic in st.stdout

    down = _cli("down", env=cli_env)
    assert "postgres: stopped" in down.stdout and "broker: stopped" in down.stdout
    st = _cli("status", env=cli_env)
    assert "postgres: stopped" in st.stdout and "cannot connect" in st.stdout
    assert st.returncode == 1 and "unhealthy" in st.stderr  # usable as a health check


@pytest.mark.skipif(
    bool(os.environ.get("TRENDMINE_TEST_DATABASE_URL")), reason="embedded life cycle only"
)
def test_stale_pid_files_are_detected_and_recovered(cli_env, tmp_path):
    assert _cli("up", env=cli_env).returncode == 0
    data = tmp_path / "tm"
    broker_pid = int((data / "broker.pid").read_text())
    os.kill(broker_pid, 9)  # a crashed broker leaves its pid file behind
    time.sleep(0.5)
    st = _cli("status", env=cli_env)
    assert "stale broker.pid" in st.stdout
    up = _cli("up", env=cli_env)
    assert up.returncode == 0, up.stderr
    assert "broker: started" in up.stdout  # the in-memory broker comes back with its topics
    assert f"topics created: {len(ALL_TOPICS)}" in up.stdout


def test_port_taken_gets_one_clear_line(cli_env):
    with socket.socket() as s:
        s.bind(("127.0.0.1", int(cli_env["TRENDMINE_PG_PORT"])))
        s.listen()
        res = _cli("up", env=cli_env)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert (
        f"port {cli_env['TRENDMINE_PG_PORT']}" in res.stderr and "TRENDMINE_PG_PORT" in res.stderr
    )


def test_unreachable_broker_gets_one_clear_line(settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENDMINE_")}
    env.update(
        TRENDMINE_KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}", TRENDMINE_DATABASE_URL=settings.dsn()
    )
    res = _cli("topics", "create", env=env, timeout=60)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert "cannot reach a Kafka broker" in res.stderr
    assert len(res.stderr.strip().splitlines()) <= 2


def test_postgres_without_pgvector_gets_one_clear_line(services, tmp_path):
    # PostgreSQL 18 looks for extensions only on extension_control_path: pointing it at an
    # empty directory gives a real server on which pgvector is not installed.
    # outside pytest's 0700 temp root, which the server's system user cannot pass through
    empty = Path(tempfile.mkdtemp(prefix="no-extensions-"))
    empty.chmod(0o755)
    name = f"nov_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    with psycopg.connect(f"{services['server_url']}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{services['server_url']}/{name}?options=-c%20extension_control_path%3D{empty}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENDMINE_")}
    env.update(TRENDMINE_DATABASE_URL=url)
    res = _cli("migrate", env=env)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr
    assert "no pgvector extension" in res.stderr and "install pgvector" in res.stderr


def test_wrong_flag_is_one_readable_error(cli_env):
    res = _cli("up", "--no-such-flag", env=cli_env)
    assert res.returncode == 2
    assert "No such option" in res.stderr and "Traceback" not in res.stderr


def test_contradicting_mine_flags_are_one_readable_error(cli_env):
    res = _cli("mine", "--incremental", "--new-layout", env=cli_env)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "--incremental excludes --full and --new-layout" in res.stderr


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:pw-s3cret@h:5432/db", "postgresql://u:***@h:5432/db"),
        ("postgresql://u@h/db?sslmode=require&password=pw-s3cret&x=1",
         "postgresql://u@h/db?sslmode=require&password=***&x=1"),
        ("host=h dbname=db password=pw-s3cret sslmode=require",
         "host=h dbname=db password=*** sslmode=require"),
        ("host=h password='pw s3cret' user=u", "host=h password=*** user=u"),
        ("postgresql://h/db", "postgresql://h/db"),
    ],
)
def test_every_dsn_form_is_masked(dsn, shown):
    assert mask_url(dsn) == shown


def test_keyword_dsn_password_never_printed(services):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENDMINE_")}
    env["TRENDMINE_DATABASE_URL"] = f"host=127.0.0.1 port={free_port()} dbname=x password=pw-s3cret"
    for args in (("config",), ("migrate",), ("trends",)):
        res = _cli(*args, env=env)
        assert "pw-s3cret" not in res.stdout + res.stderr, args
        assert "Traceback" not in res.stderr
    assert res.returncode == 1 and "cannot connect to Postgres" in res.stderr


def test_bad_setting_is_one_line_naming_the_variable(services):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENDMINE_")}
    env["TRENDMINE_BATCH_SIZE"] = "abc"
    res = _cli("config", env=env)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert "TRENDMINE_BATCH_SIZE" in res.stderr and "ValidationError" not in res.stderr


def test_doctor_passes_on_a_prepared_stack_and_names_the_fix_otherwise(settings):
    from infra import doctor

    checks = {c.name: c for c in doctor.run_checks(settings)}
    assert all(c.ok for c in checks.values()), [c for c in checks.values() if not c.ok]
    assert "pgvector" in checks["postgres"].detail
    broken = settings.model_copy(update={
        "database_url": None, "pg_port": free_port(), "kafka_bootstrap": f"127.0.0.1:{free_port()}"
    })
    pg, mig, topics = (check(broken) for check in doctor.CHECKS[:3])
    assert not pg.ok and "trendmine up" in pg.fix
    assert not mig.ok and not topics.ok and topics.fix
