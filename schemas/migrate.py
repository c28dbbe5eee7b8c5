"""A small, obviously-correct migration runner.

Files ``migrations/V<NNN>__<name>.sql`` are applied in version order, each in its own
transaction, under an advisory lock, and recorded with a checksum in
``trendmine.schema_migrations``. An applied file whose text changed is an error, not a
silent re-run, and so is a database migrated by a newer trendmine than this one (its schema
may have dropped or changed what this code reads and writes).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import psycopg

from schemas.names import DB_SCHEMA, MIGRATIONS_TABLE

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_FILE_RE = re.compile(r"^V(\d{3})__([a-z0-9_]+)\.sql$")
_LOCK_KEY = 0x7472656E64  # "trend": serialises concurrent `migrate` runs


class MigrationError(Exception):
    pass


class PgvectorMissing(MigrationError):
    pass


class SchemaTooNew(MigrationError):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text()

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        m = _FILE_RE.match(path.name)
        if not m:
            raise MigrationError(f"migration file {path.name} is not named V<NNN>__<name>.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


def _ensure_table(conn: psycopg.Connection) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {DB_SCHEMA}")
    conn.execute(
        f"""CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (
            version integer PRIMARY KEY, name text NOT NULL, checksum text NOT NULL,
            applied_at timestamptz NOT NULL DEFAULT now())"""
    )


def applied(conn: psycopg.Connection) -> dict[int, str]:
    """version -> checksum of what is applied; empty when the table does not exist."""
    exists = conn.execute("SELECT to_regclass(%s)", (MIGRATIONS_TABLE,)).fetchone()[0]
    if exists is None:
        return {}
    return dict(conn.execute(f"SELECT version, checksum FROM {MIGRATIONS_TABLE}").fetchall())


def current_version(conn: psycopg.Connection) -> int:
    return max(applied(conn), default=0)


def pending(conn: psycopg.Connection) -> list[Migration]:
    done = applied(conn)
    known = discover()
    refuse_newer(done, known)
    return [m for m in known if m.version not in done]


def refuse_newer(done: dict[int, str], known: list[Migration]) -> None:
    """Raise SchemaTooNew when the database holds a migration newer than every file here."""
    newest = max((m.version for m in known), default=0)
    if max(done, default=0) > newest:
        raise SchemaTooNew(
            f"the database schema is at V{max(done):03d}, newer than this trendmine "
            f"(V{newest:03d}): upgrade trendmine to the version that migrated it")


def _check_pgvector(conn: psycopg.Connection) -> None:
    row = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
    if row is None:
        raise PgvectorMissing("the pgvector extension is not available on this Postgres server")


def migrate(conn: psycopg.Connection, upto: int | None = None) -> list[Migration]:
    """Apply what is pending (up to version `upto`, if given); returns the migrations applied
    now.

    Runs in autocommit mode so each migration gets its own explicit transaction.
    """
    if not conn.autocommit:
        conn.commit()
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
    try:
        _check_pgvector(conn)
        with conn.transaction():
            _ensure_table(conn)
        done = applied(conn)
        known = discover()
        refuse_newer(done, known)
        for m in known:
            if m.version in done:
                if done[m.version] != m.checksum:
                    raise MigrationError(
                        f"migration V{m.version:03d} ({m.name}) changed after it was applied; "
                        "add a new migration instead of editing an applied one"
                    )
                continue
        newly = []
        for m in known:
            if m.version in done or (upto is not None and m.version > upto):
                continue
            with conn.transaction():
                conn.execute(m.sql)
                conn.execute(
                    f"INSERT INTO {MIGRATIONS_TABLE} (version, name, checksum) VALUES (%s, %s, %s)",
                    (m.version, m.name, m.checksum),
                )
            newly.append(m)
        return newly
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
