"""A read-only LOGIN role for BI tools: the documented `trends` views and nothing else.

The views run with their owner's rights, so the role needs USAGE on schema trends and SELECT
on its views only: no grant at all on schema trendmine (the raw and derived tables).
"""

from __future__ import annotations

import re
import secrets
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from foundation.config import mask_url
from foundation.errors import TrendmineError
from schemas.names import DB_SCHEMA, READ_SCHEMA
from warehouse.rows import fetch_value

DEFAULT_ROLE = "trendmine_bi"
STATEMENT_TIMEOUT = "120s"  # a runaway dashboard query must not hold the database
CONNECTION_LIMIT = 10
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def create_bi_role(conn: psycopg.Connection, name: str = DEFAULT_ROLE,
                   password: str | None = None, *, statement_timeout: str = STATEMENT_TIMEOUT,
                   connection_limit: int = CONNECTION_LIMIT) -> None:
    """Create (or update) the role; idempotent. Needs a superuser or CREATEROLE + view owner.

    The grant model: the role may CONNECT, USE schema trends and SELECT its views, nothing else.
    `default_transaction_read_only` is only a default a session can turn off, so what keeps it
    read-only are the missing privileges: no grant on schema trendmine, no CREATE anywhere, and
    no TEMPORARY on the database (revoked from PUBLIC, which every role belongs to, and granted
    back to the role running this, which trendmine's own writers use).
    """
    if not _NAME_RE.match(name):
        raise TrendmineError(f"invalid role name {name!r}",
                             "use lowercase letters, digits and _ (max 63, no leading digit)")
    role, read = sql.Identifier(name), sql.Identifier(READ_SCHEMA)
    # Utility statements take no bind parameters; Literal quotes the password client-side.
    pw = sql.SQL("PASSWORD {}").format(sql.Literal(password)) if password else sql.SQL("")
    db = fetch_value(conn, "SELECT current_database()")
    with conn.transaction():
        exists = fetch_value(conn, "SELECT true FROM pg_roles WHERE rolname = %s", (name,))
        verb = "ALTER" if exists else "CREATE"
        stmts = [
            sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                    "NOINHERIT NOREPLICATION CONNECTION LIMIT {} {}").format(
                        role, sql.Literal(int(connection_limit)), pw),
            sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(
                role, sql.Literal(statement_timeout)),
            # every session of the role is read-only, whatever else it is granted later
            sql.SQL("ALTER ROLE {} SET default_transaction_read_only = on").format(role),
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(db), role),
            sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(read, role),
            sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(read, role),
            # views a later migration adds (created by this same owner) are readable too
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}")
            .format(read, role),
            sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(sql.Identifier(DB_SCHEMA), role),
            sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}")
            .format(sql.Identifier(DB_SCHEMA), role),
            sql.SQL("GRANT TEMPORARY ON DATABASE {} TO CURRENT_USER").format(sql.Identifier(db)),
            sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(sql.Identifier(db)),
            sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM {}").format(sql.Identifier(db), role),
            # PUBLIC may still create in schema public on Postgres < 15 (CVE-2018-1058)
            sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
        ]
        for stmt in stmts:
            conn.execute(stmt)


def role_url(dsn: str, name: str, password: str | None, show_password: bool = False) -> str:
    """The connection URL for the role, password masked unless `show_password`.

    Built from the admin DSN's host, port and database only (URL or keyword form): its user,
    password and other options never leak into the URL handed to BI tools; `sslmode` and
    `sslrootcert` are kept, since the BI tool needs the same TLS.
    """
    try:
        info = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        raise TrendmineError("the Postgres connection string is not valid",
                             "fix TRENDMINE_DATABASE_URL") from exc
    host = str(info.get("host") or "localhost")
    if ":" in host:
        host = f"[{host}]"
    port = f":{info['port']}" if info.get("port") else ""
    auth = quote(name, safe="")
    if password:
        auth += ":" + quote(password, safe="")
    tls = {k: info[k] for k in ("sslmode", "sslrootcert") if info.get(k)}
    query = f"?{urlencode(tls)}" if tls else ""
    url = f"postgresql://{auth}@{host}{port}/{quote(str(info.get('dbname', '')))}{query}"
    return url if show_password else mask_url(url)
