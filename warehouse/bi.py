"""A read-only LOGIN role for BI tools: the documented `trends` views and nothing else.

The views run with their owner's rights, so the role needs USAGE on schema trends and SELECT
on its views only: no grant at all on schema trendmine (the raw and derived tables).

What binds the role and what is only a default (docs/security.md, "The BI role"): privileges
bind, and so do the superuser-only settings set on it (`temp_file_limit`); the user-settable
ones (`statement_timeout`, `work_mem`, the idle timeouts, `default_transaction_read_only`)
are defaults any session may `SET` for itself, or the role `ALTER ROLE ... SET` for itself.
A pooler in front (PgBouncer's query_timeout and idle timeouts) enforces limits it cannot
change.
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
from foundation.secrets import scram_sha256_verifier
from schemas.names import DB_SCHEMA, READ_SCHEMA
from warehouse.rows import fetch_value

DEFAULT_ROLE = "trendmine_bi"
STATEMENT_TIMEOUT = "120s"  # a runaway dashboard query must not hold the database
CONNECTION_LIMIT = 10
# Session defaults a dashboard never needs more of (user-settable: the role may raise them)
IDLE_IN_TRANSACTION_TIMEOUT = "60s"  # an open transaction holds back vacuum
IDLE_SESSION_TIMEOUT = "30min"  # and an idle one a connection slot
WORK_MEM = "64MB"  # per sort/hash node
# Superuser-only: the role cannot change it, so it binds (a query spilling more fails)
TEMP_FILE_LIMIT = "2GB"
# Server-side large-object functions write into pg_largeobject even with every table grant
# missing; PUBLIC may execute them by default.
_LARGE_OBJECT_FUNCTIONS = r"^(lo_.*|loread|lowrite)$"
_NAME_RE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def create_bi_role(conn: psycopg.Connection, name: str = DEFAULT_ROLE,
                   password: str | None = None, *, statement_timeout: str = STATEMENT_TIMEOUT,
                   connection_limit: int = CONNECTION_LIMIT) -> list[str]:
    """Create (or update) the role; idempotent. Needs a superuser or CREATEROLE + view owner.
    Returns what could not be set with the rights at hand (each a sentence), else [].

    The grant model: the role may CONNECT, USE schema trends and SELECT its views, nothing else.
    `default_transaction_read_only` is only a default a session can turn off, so what keeps it
    read-only are the missing privileges: no grant on schema trendmine, no CREATE anywhere, no
    TEMPORARY on the database, and no EXECUTE on the large-object functions (the last two
    revoked from PUBLIC, which every role belongs to, and granted back to the role running
    this, which trendmine's own writers use).

    The password travels as a SCRAM-SHA-256 verifier computed here: the server never sees it,
    so no failing statement can write it into the server's log.
    """
    if not _NAME_RE.match(name):
        raise TrendmineError(f"invalid role name {name!r}",
                             "use lowercase letters, digits and _ (max 63, no leading digit)")
    role = sql.Identifier(name)
    # Utility statements take no bind parameters; Literal quotes the verifier client-side.
    pw = (sql.SQL("PASSWORD {}").format(sql.Literal(scram_sha256_verifier(password)))
          if password else sql.SQL(""))
    db = sql.Identifier(fetch_value(conn, "SELECT current_database()"))
    skipped = []
    with conn.transaction():
        exists = fetch_value(conn, "SELECT true FROM pg_roles WHERE rolname = %s", (name,))
        verb = "ALTER" if exists else "CREATE"
        conn.execute(sql.SQL(verb + " ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                             "NOINHERIT NOREPLICATION CONNECTION LIMIT {} {}").format(
                                 role, sql.Literal(int(connection_limit)), pw))
        for stmt in _session_defaults(role, db, statement_timeout) + _grants(role, db):
            conn.execute(stmt)
        for stmt in _large_object_revokes(conn):
            conn.execute(stmt)  # without the rights: a warning, no error; checked here
        if fetch_value(conn, "SELECT has_function_privilege(%s, 'lo_from_bytea(oid, bytea)', "
                       "'EXECUTE')", (name,)):
            skipped.append("the large-object functions (lo_from_bytea, lowrite, ...) stay "
                           "executable by PUBLIC: revoke them as a superuser "
                           "(docs/security.md, The BI role)")
        if not _set_if_allowed(conn, sql.SQL("ALTER ROLE {} SET temp_file_limit = {}").format(
                role, sql.Literal(TEMP_FILE_LIMIT))):
            skipped.append(f"temp_file_limit = {TEMP_FILE_LIMIT} needs a superuser: run "
                           f"ALTER ROLE {name} SET temp_file_limit = '{TEMP_FILE_LIMIT}' as one")
    return skipped


def _session_defaults(role: sql.Identifier, db: sql.Identifier, statement_timeout: str
                      ) -> list[sql.Composed]:
    """Defaults of every session of the role (user-settable: see the module docstring),
    after dropping any the role gave itself (`ALTER ROLE <self> [IN DATABASE] SET`), so a
    rerun of `bi-role create` repairs them."""
    defaults = {
        "statement_timeout": statement_timeout,
        "idle_in_transaction_session_timeout": IDLE_IN_TRANSACTION_TIMEOUT,
        "idle_session_timeout": IDLE_SESSION_TIMEOUT,
        "work_mem": WORK_MEM,
        # every session is read-only, whatever else it is granted later
        "default_transaction_read_only": "on",
    }
    return [sql.SQL("ALTER ROLE {} IN DATABASE {} RESET ALL").format(role, db),
            sql.SQL("ALTER ROLE {} RESET ALL").format(role),
            *(sql.SQL("ALTER ROLE {} SET {} = {}").format(role, sql.Identifier(k), sql.Literal(v))
              for k, v in defaults.items())]


def _grants(role: sql.Identifier, db: sql.Identifier) -> list[sql.Composed]:
    read, raw = sql.Identifier(READ_SCHEMA), sql.Identifier(DB_SCHEMA)
    return [
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(db, role),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(read, role),
        sql.SQL("GRANT SELECT ON ALL TABLES IN SCHEMA {} TO {}").format(read, role),
        # views a later migration adds (created by this same owner) are readable too
        sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT SELECT ON TABLES TO {}")
        .format(read, role),
        sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(raw, role),
        sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(raw, role),
        sql.SQL("GRANT TEMPORARY ON DATABASE {} TO CURRENT_USER").format(db),
        sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM PUBLIC").format(db),
        sql.SQL("REVOKE TEMPORARY ON DATABASE {} FROM {}").format(db, role),
        # PUBLIC may still create in schema public on Postgres < 15 (CVE-2018-1058)
        sql.SQL("REVOKE CREATE ON SCHEMA public FROM PUBLIC"),
    ]


def _large_object_revokes(conn: psycopg.Connection) -> list[sql.Composed]:
    """EXECUTE on every large-object function of this database: from PUBLIC (and the BI
    role), back to the role running this. Privileges on pg_catalog functions are per
    database, so other databases on the server keep theirs."""
    signatures = conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n "
        "ON n.oid = p.pronamespace WHERE n.nspname = 'pg_catalog' AND p.proname ~ %s "
        "ORDER BY 1", (_LARGE_OBJECT_FUNCTIONS,)).fetchall()
    stmts = []
    for (signature,) in signatures:
        fn = sql.SQL(signature)  # regprocedure text: a qualified, quoted signature
        stmts += [sql.SQL("GRANT EXECUTE ON FUNCTION {} TO CURRENT_USER").format(fn),
                  sql.SQL("REVOKE EXECUTE ON FUNCTION {} FROM PUBLIC").format(fn)]
    return stmts


def _set_if_allowed(conn: psycopg.Connection, stmt: sql.Composed) -> bool:
    """Run `stmt` in a savepoint; False when the rights at hand do not allow it."""
    try:
        with conn.transaction():
            conn.execute(stmt)
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


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
