"""Postgres connections with errors that say what to do."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from foundation.config import Settings, mask_url
from foundation.errors import ServiceUnavailable, TrendmineError
from foundation.secrets import dsn_password, scrub


def _where(dsn: str) -> str:
    """host:port/dbname of a URL or keyword-form DSN, never its password."""
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError:
        return "(unparseable connection string)"
    return f"{info.get('host') or 'localhost'}:{info.get('port') or 5432}/{info.get('dbname', '')}"


def connect(settings: Settings | str, *, autocommit: bool = False, **kwargs) -> psycopg.Connection:
    """Open a connection or raise ServiceUnavailable with a fix."""
    dsn = settings if isinstance(settings, str) else settings.dsn()
    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=5, **kwargs)
    except psycopg.ProgrammingError as exc:  # a malformed DSN: psycopg may quote parts of it
        raise TrendmineError(
            f"the Postgres connection string is not valid: {scrub(str(exc), [dsn_password(dsn)])}",
            "fix TRENDMINE_DATABASE_URL (postgresql://user:password@host:port/db or "
            "'host=... dbname=...')",
        ) from exc
    except psycopg.OperationalError as exc:
        text = scrub(str(exc).strip(), [dsn_password(dsn)])
        reason = text.splitlines()[-1].strip() if text else type(exc).__name__
        embedded = not isinstance(settings, str) and settings.embedded_db
        hint = (
            "run `trendmine up` to start the embedded stack"
            if embedded
            else "check TRENDMINE_DATABASE_URL and that the server is up"
        )
        raise ServiceUnavailable(
            f"cannot connect to Postgres at {_where(dsn)}: {reason}", hint
        ) from exc


@contextmanager
def connection(settings: Settings | str, **kwargs) -> Iterator[psycopg.Connection]:
    conn = connect(settings, **kwargs)
    try:
        yield conn
    finally:
        conn.close()


def ensure_database(settings: Settings) -> bool:
    """Create the embedded database if missing. Returns True when it created it."""
    admin_dsn = settings.dsn().rsplit("/", 1)[0] + "/postgres"
    with connection(admin_dsn, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (settings.database_name,)
        ).fetchone()
        if exists:
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(settings.database_name)))
        return True


def public_url(settings: Settings) -> str:
    """The URL to print for BI tools, password masked."""
    return mask_url(settings.dsn())
