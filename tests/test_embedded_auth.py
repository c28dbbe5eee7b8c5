"""The embedded Postgres asks for a password (scram-sha-256): a generated one, kept in the
data dir with mode 0600, read by `Settings.dsn()`, never printed; and a data dir from an older
trendmine that trusted every local client is upgraded when it is started."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from foundation.config import Settings
from foundation.errors import ServiceUnavailable
from infra.embedded import EmbeddedPostgres, free_port

from .conftest import REPO

pytestmark = pytest.mark.skipif(
    bool(os.environ.get("TRENDMINE_TEST_DATABASE_URL")), reason="the embedded Postgres only"
)


@pytest.fixture(scope="module")
def pg(tmp_path_factory) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path_factory.mktemp("auth") / "data", free_port())
    server.start()
    yield server
    server.stop()


def _no_password(pg: EmbeddedPostgres) -> str:
    return f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"


def _refused(dsn: str, **kwargs) -> str:
    with pytest.raises(psycopg.OperationalError) as err:
        psycopg.connect(dsn, connect_timeout=5, **kwargs).close()
    return str(err.value)


def test_the_password_file_is_private_and_generated(pg):
    mode = stat.S_IMODE(pg.password_file.stat().st_mode)
    assert mode == 0o600, oct(mode)
    assert len(pg.password()) >= 24
    assert not pg.trusts()
    assert "trust" not in {line.split()[-1] for line in (pg.pgdata / "pg_hba.conf").read_text()
                           .splitlines() if line.strip() and not line.startswith("#")}


def test_connecting_without_the_password_fails(pg):
    assert "password" in _refused(_no_password(pg))  # over TCP
    assert "password" in _refused(f"postgresql://postgres:wrong-{pg.password()}"
                                  f"@127.0.0.1:{pg.port}/postgres")
    # and over the unix socket in the data dir: no client is trusted there either
    assert "password" in _refused(f"host={pg.socket_dir} port={pg.port} user=postgres "
                                  "dbname=postgres")


def test_settings_connect_with_the_files_password(pg):
    settings = Settings(data_dir=pg.data_dir, pg_port=pg.port, database_name="postgres")
    assert pg.password() in settings.dsn()
    with psycopg.connect(settings.dsn(), connect_timeout=5) as conn:
        assert conn.execute("SELECT current_user").fetchone()[0] == "postgres"
        method = conn.execute("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid "
                              "WHERE rolname = 'postgres'").fetchone()[0]
    assert method  # stored as a scram verifier, not md5
    assert pg.password() in settings.secret_values()  # so `scrub` hides it in errors and rows


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "trendmine", *args], env=env,
                          capture_output=True, text=True, timeout=120, cwd=REPO)


def test_the_password_is_never_printed(pg):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRENDMINE_")}
    env.update(TRENDMINE_DATA_DIR=str(pg.data_dir), TRENDMINE_PG_PORT=str(pg.port),
               TRENDMINE_DATABASE_NAME="postgres", TRENDMINE_KAFKA_PORT=str(free_port()),
               TRENDMINE_EMBEDDING_MODEL="no-such-model", PYTHONPATH=str(REPO))
    secret = pg.password()
    config = _cli("config", env=env)
    status = _cli("status", env=env)  # exit 1: the broker is down; the database answers
    doctor = _cli("doctor", env=env)
    assert config.returncode == 0, config.stderr
    assert "postgres: running" in status.stdout and "schema version" in status.stdout
    assert "postgresql://postgres:***@127.0.0.1" in status.stdout
    assert "PostgreSQL 18" in doctor.stdout  # it connected with the password
    for res in (config, status, doctor):
        assert secret not in res.stdout + res.stderr
    # an error on the way to the database names it, never the password
    env["TRENDMINE_DATABASE_NAME"] = "no_such_db"
    failed = _cli("status", env=env)
    assert "cannot connect to Postgres at 127.0.0.1" in failed.stdout
    assert secret not in failed.stdout + failed.stderr


def _downgrade_to_trust(pg: EmbeddedPostgres) -> None:
    """What an older trendmine left: trust in pg_hba.conf, no password, no password file."""
    with psycopg.connect(f"{pg.server_url()}/postgres", autocommit=True) as conn:
        conn.execute("ALTER ROLE postgres PASSWORD NULL")
    hba = pg.pgdata / "pg_hba.conf"
    hba.write_text(hba.read_text().replace("scram-sha-256", "trust"))
    pg.password_file.unlink()
    assert pg._pg_ctl("reload").returncode == 0
    psycopg.connect(_no_password(pg), connect_timeout=5).close()  # trust lets anyone in


def test_a_trust_auth_data_dir_from_an_older_version_is_upgraded(tmp_path):
    old = EmbeddedPostgres(tmp_path / "data", free_port())
    old.start()
    try:
        # a server an older `up` left running: the next `up` (start) secures it in place
        _downgrade_to_trust(old)
        assert old.trusts()
        assert old.start() is False  # already running
        _check_secured(old)
        # a stopped one: secured as it starts
        _downgrade_to_trust(old)
        old.stop()
        assert old.start() is True
        _check_secured(old)
    finally:
        old.stop()


def _check_secured(pg: EmbeddedPostgres) -> None:
    assert not pg.trusts()
    assert stat.S_IMODE(pg.password_file.stat().st_mode) == 0o600
    assert "password" in _refused(_no_password(pg))
    with psycopg.connect(f"{pg.server_url()}/postgres", connect_timeout=5) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)


def test_a_missing_password_file_is_one_clear_error(tmp_path):
    pg = EmbeddedPostgres(Path(tmp_path), free_port())
    with pytest.raises(ServiceUnavailable, match=r"password file .* is missing"):
        pg.password()
