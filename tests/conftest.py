"""Session fixtures: the real embedded Postgres and the real broker, started once.

Set TRENDMINE_TEST_DATABASE_URL (a Postgres 14+ with pgvector where the user may CREATE
DATABASE, e.g. postgresql://user:pw@host:5432/postgres) and/or TRENDMINE_TEST_KAFKA_BOOTSTRAP to
run the same tests against your own services. Each test gets its own database (dropped again
on your server) and its own topic prefix, so tests never see each other.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from foundation.config import Settings
from infra.embedded import EmbeddedStack, free_port
from infra.stack import migrate_database
from ingest.kafka import create_topics

REPO = Path(__file__).resolve().parents[1]
CLINC150 = Path(os.environ.get("TRENDMINE_CLINC150_DIR", REPO.parent / "shared/datasets/clinc150"))


@pytest.fixture(scope="session")
def services(tmp_path_factory) -> Iterator[dict[str, str]]:
    """{'server_url': postgres URL without database, 'bootstrap': host:port}."""
    db_url = os.environ.get("TRENDMINE_TEST_DATABASE_URL")
    bootstrap = os.environ.get("TRENDMINE_TEST_KAFKA_BOOTSTRAP")
    stack = None
    if not db_url or not bootstrap:
        stack = EmbeddedStack(tmp_path_factory.mktemp("stack"), free_port(), free_port())
        stack.start(postgres=not db_url, broker=not bootstrap)
    # the embedded Postgres asks for its generated password (scram-sha-256)
    server = db_url.rsplit("/", 1)[0] if db_url else stack.postgres.server_url()
    yield {"server_url": server, "bootstrap": bootstrap or f"127.0.0.1:{stack.broker.port}"}
    if stack is not None:
        stack.stop()


def make_settings(services: dict[str, str], tmp_path: Path, **overrides) -> Settings:
    """A fresh database and topic prefix on the session services, migrated and with topics."""
    name = f"tm_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{services['server_url']}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    settings = Settings(
        database_url=f"{services['server_url']}/{name}",
        kafka_bootstrap=services["bootstrap"],
        topic_prefix=f"{name}.",
        data_dir=tmp_path / "data",
        idle_seconds=2.0,
        **overrides,
    )
    migrate_database(settings)
    create_topics(settings)
    return settings


@pytest.fixture
def settings(services, tmp_path) -> Iterator[Settings]:
    s = make_settings(services, tmp_path)
    yield s
    if os.environ.get("TRENDMINE_TEST_DATABASE_URL"):  # leave your server as we found it
        name = s.dsn().rsplit("/", 1)[1]
        with psycopg.connect(f"{services['server_url']}/postgres", autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(name)))


@pytest.fixture
def db(settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def clinc150_dir() -> Path:
    if not (CLINC150 / "test.csv").exists():
        pytest.skip(f"CLINC150 not found at {CLINC150} (set TRENDMINE_CLINC150_DIR)")
    return CLINC150
