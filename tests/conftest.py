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
    bootstrap = bootstrap or f"127.0.0.1:{stack.broker.port}"
    template = _migrated_template(server, bootstrap, tmp_path_factory.mktemp("template"))
    yield {"server_url": server, "bootstrap": bootstrap, "template": template}
    _drop_database(server, template)
    if stack is not None:
        stack.stop()


def _migrated_template(server: str, bootstrap: str, tmp_path: Path) -> str:
    """One database migrated once per session; each test's database is a copy of it.

    Copying a template is one file copy on the server, where applying every migration per
    test costs a round trip per statement.
    """
    name = f"tm_template_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    migrate_database(Settings(database_url=f"{server}/{name}", kafka_bootstrap=bootstrap,
                              data_dir=tmp_path / "data"))
    return name


def _drop_database(server: str, name: str) -> None:
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))


def make_settings(services: dict[str, str], tmp_path: Path, **overrides) -> Settings:
    """A fresh database and topic prefix on the session services, migrated and with topics."""
    name = f"tm_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"{services['server_url']}/postgres", autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
            sql.Identifier(name), sql.Identifier(services["template"])))
    settings = Settings(
        database_url=f"{services['server_url']}/{name}",
        kafka_bootstrap=services["bootstrap"],
        topic_prefix=f"{name}.",
        data_dir=tmp_path / "data",
        idle_seconds=2.0,
        **overrides,
    )
    migrate_database(settings)  # a no-op on the template's copy; proves it is current
    create_topics(settings)
    return settings


@pytest.fixture
def settings(services, tmp_path) -> Iterator[Settings]:
    s = make_settings(services, tmp_path)
    yield s
    if os.environ.get("TRENDMINE_TEST_DATABASE_URL"):  # leave your server as we found it
        _drop_database(services["server_url"], s.dsn().rsplit("/", 1)[1])


@pytest.fixture
def db(settings) -> Iterator[psycopg.Connection]:
    with psycopg.connect(settings.dsn(), autocommit=True) as conn:
        yield conn


def invoke_cli(settings: Settings, monkeypatch, register, *args: str, env=None, **extra_env):
    """Run one command group's CLI in this process against `settings` (its environment
    set through `monkeypatch`, TRENDMINE_<NAME> for each of `extra_env`), as CliRunner."""
    import typer
    from typer.testing import CliRunner

    from foundation.config import get_settings

    monkeypatch.setenv("TRENDMINE_DATABASE_URL", settings.dsn())
    monkeypatch.setenv("TRENDMINE_KAFKA_BOOTSTRAP", settings.bootstrap())
    monkeypatch.setenv("TRENDMINE_TOPIC_PREFIX", settings.topic_prefix)
    for name, value in extra_env.items():
        monkeypatch.setenv(f"TRENDMINE_{name.upper()}", str(value))
    get_settings(fresh=True)
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    try:
        return CliRunner().invoke(app, list(args), env=env)
    finally:
        get_settings(fresh=True)


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory):
    """One Prefect API for the session, defined here so that it starts once (a fixture
    imported into several modules is a new definition, and a new server, per module)."""
    from prefect.settings import PREFECT_HOME, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    with temporary_settings({PREFECT_HOME: tmp_path_factory.mktemp("prefect-home")}), \
            prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(scope="session")
def clinc150_dir() -> Path:
    if not (CLINC150 / "test.csv").exists():
        pytest.skip(f"CLINC150 not found at {CLINC150} (set TRENDMINE_CLINC150_DIR)")
    return CLINC150
