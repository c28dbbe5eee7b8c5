"""Web app users and their sessions (schemas/migrations/V020__app_users.sql).

Passwords are hashed with argon2id (argon2-cffi's defaults); a session cookie carries a random
token whose SHA-256 alone is stored, so reading the table opens no session.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

import psycopg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from foundation.errors import TrendmineError
from schemas.names import DB_SCHEMA
from warehouse.rows import fetch, fetch_value

USERS_TABLE = f"{DB_SCHEMA}.app_users"
SESSIONS_TABLE = f"{DB_SCHEMA}.app_sessions"
ROLES = ("viewer", "editor")
SESSION_HOURS = 12
MIN_PASSWORD = 12
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_hasher = PasswordHasher()
# verifying against this when the e-mail is unknown costs what a real check costs, so the
# answer's timing does not tell which e-mails have accounts
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class User:
    email: str
    role: str

    @property
    def can_edit(self) -> bool:
        return self.role == "editor"


def normalise_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not _EMAIL.match(email):
        raise TrendmineError(f"{email!r} is not an e-mail address", "use e.g. pm@example.com")
    return email


def check_role(role: str) -> str:
    if role not in ROLES:
        raise TrendmineError(f"unknown role {role!r}", f"use one of {', '.join(ROLES)}")
    return role


def add_user(conn: psycopg.Connection, email: str, role: str, password: str) -> bool:
    """Add a user, or set the role and password of an existing one; True when added."""
    email, role = normalise_email(email), check_role(role)
    if len(password) < MIN_PASSWORD:
        raise TrendmineError(f"the password is shorter than {MIN_PASSWORD} characters",
                             "choose a longer one (a passphrase is fine)")
    added = conn.execute(
        f"INSERT INTO {USERS_TABLE} (email, role, password_hash) VALUES (%s, %s, %s) "
        "ON CONFLICT (email) DO UPDATE SET role = excluded.role, "
        "password_hash = excluded.password_hash, updated_at = now() "
        "RETURNING (xmax = 0)", (email, role, _hasher.hash(password))).fetchone()[0]
    # a new password ends the sessions opened with the old one
    conn.execute(f"DELETE FROM {SESSIONS_TABLE} WHERE email = %s", (email,))
    return bool(added)


def remove_user(conn: psycopg.Connection, email: str) -> bool:
    return conn.execute(f"DELETE FROM {USERS_TABLE} WHERE email = %s",
                        (normalise_email(email),)).rowcount > 0


def list_users(conn: psycopg.Connection) -> list[User]:
    return fetch(conn, User, f"SELECT email, role FROM {USERS_TABLE} ORDER BY email")


def role_of(conn: psycopg.Connection, email: str) -> str | None:
    return fetch_value(conn, f"SELECT role FROM {USERS_TABLE} WHERE email = %s",
                       (email.strip().lower(),))


def authenticate(conn: psycopg.Connection, email: str, password: str) -> User | None:
    """The user when the password matches, else None (same work either way)."""
    email = (email or "").strip().lower()
    found = conn.execute(f"SELECT role, password_hash FROM {USERS_TABLE} WHERE email = %s",
                         (email,)).fetchone()
    try:
        _hasher.verify(found[1] if found else _DUMMY_HASH, password or "")
    except (VerificationError, InvalidHashError):
        return None
    return User(email, found[0]) if found else None


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def open_session(conn: psycopg.Connection, user: User) -> str:
    """A new session for `user`; returns the cookie's token (shown nowhere else)."""
    token = secrets.token_urlsafe(32)
    conn.execute(f"DELETE FROM {SESSIONS_TABLE} WHERE expires_at < now()")
    conn.execute(f"INSERT INTO {SESSIONS_TABLE} (token_sha256, email, expires_at) "
                 "VALUES (%s, %s, now() + %s)",
                 (_digest(token), user.email, timedelta(hours=SESSION_HOURS)))
    return token


def session_user(conn: psycopg.Connection, token: str | None) -> User | None:
    if not token:
        return None
    found = conn.execute(
        f"SELECT u.email, u.role FROM {SESSIONS_TABLE} s JOIN {USERS_TABLE} u USING (email) "
        "WHERE s.token_sha256 = %s AND s.expires_at > now()", (_digest(token),)).fetchone()
    return User(*found) if found else None


def close_session(conn: psycopg.Connection, token: str | None) -> None:
    if token:
        conn.execute(f"DELETE FROM {SESSIONS_TABLE} WHERE token_sha256 = %s", (_digest(token),))
