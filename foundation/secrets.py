"""Masking secrets in anything trendmine prints, logs or stores.

Postgres accepts a password in three places: the URL's user info
(``postgresql://u:pw@h/db``), a URL query parameter (``?password=pw``) and the keyword form
(``host=h password=pw`` or ``password='p w'``). `mask_dsn` hides all three; `scrub` also hides
any known secret value wherever it appears (an error message quoting a DSN, a log line).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import re
import stringprep
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from foundation.errors import TrendmineError

MASK = "***"

_USERINFO = re.compile(r"(?P<head>[a-z][a-z0-9+.-]*://[^:/@\s]*:)(?P<pw>[^@\s]*)(?=@)", re.I)
_QUERY = re.compile(r"(?P<head>[?&](?:password|sslpassword)=)(?P<pw>[^&\s]*)", re.I)
_KEYWORD = re.compile(
    r"(?P<head>(?<![?&])\b(?:password|sslpassword|sasl_plain_password)\s*=\s*)"
    r"(?P<pw>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|\S+)",
    re.I,
)


def mask_dsn(text: str) -> str:
    """Hide every password in a connection string (URL, query or keyword form) or free text."""
    for pattern in (_USERINFO, _QUERY, _KEYWORD):
        text = pattern.sub(lambda m: m.group("head") + MASK, text)
    return text


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`mask_dsn`, then replace each known secret value (longer than 3 characters) by ***."""
    text = mask_dsn(text)
    for secret in secrets:
        if secret and len(secret) > 3:
            text = text.replace(secret, MASK)
    return text


def dsn_password(dsn: str) -> str | None:
    """The password a connection string carries (URL, query or keyword form), if any."""
    try:
        return conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        return None


def read_secret_file(path: Path) -> str | None:
    """The secret kept in a file (its first line), or None when there is no such file."""
    try:
        return path.read_text().splitlines()[0].strip() or None
    except (FileNotFoundError, IndexError):
        return None
    except OSError as exc:
        raise TrendmineError(f"cannot read the secret in {path} ({exc.strerror})",
                             "run trendmine as the user that owns that file") from exc


PRIVATE_UMASK = 0o077  # files and dirs trendmine or its child processes create: owner only


def private_dir(path: Path) -> Path:
    """`path` as a directory only its owner may enter (0700): created so, or narrowed.
    Its parents are created if missing but never changed."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def open_private(path: Path, mode: str = "ab", **kwargs: Any) -> IO[Any]:
    """Open `path` for writing, created readable by its owner only (0600) from the first
    byte; an existing file of ours is narrowed to 0600 first (a log written by an older
    trendmine). `kwargs` go to `open` (encoding)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_APPEND if "a" in mode else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode, **kwargs)


def write_secret_file(path: Path, secret: str) -> None:
    """Create `path` holding `secret`, readable by its owner only (0600) from the first byte:
    the file is opened with that mode, never chmod-ed after the write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")


SCRAM_ITERATIONS = 4096  # Postgres's own default (scram_iterations)


def scram_sha256_verifier(password: str, *, salt: bytes | None = None,
                          iterations: int = SCRAM_ITERATIONS) -> str:
    """The verifier Postgres stores for `password` (RFC 5802 / RFC 7677), in its format
    ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``.

    `CREATE/ALTER ROLE ... PASSWORD '<verifier>'` stores it as is, so the password itself
    never reaches the server, where a failing statement is written to its log in full.
    """
    salt = os.urandom(16) if salt is None else salt
    salted = hashlib.pbkdf2_hmac("sha256", _saslprep(password).encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode("ascii")

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _saslprep(password: str) -> str:
    """SASLprep (RFC 4013) as Postgres applies it before hashing (pg_saslprep): ASCII as is;
    otherwise map, NFKC-normalise and check, falling back to the raw string when a prohibited
    character or a bidi violation makes the preparation fail, as Postgres does."""
    if password.isascii():
        return password
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in password
                     if not stringprep.in_table_b1(c))
    prepared = unicodedata.normalize("NFKC", mapped)
    prohibited = (stringprep.in_table_c12, stringprep.in_table_c21_c22, stringprep.in_table_c3,
                  stringprep.in_table_c4, stringprep.in_table_c5, stringprep.in_table_c6,
                  stringprep.in_table_c7, stringprep.in_table_c8, stringprep.in_table_c9,
                  stringprep.in_table_a1)
    if any(check(c) for c in prepared for check in prohibited):
        return password
    if any(stringprep.in_table_d1(c) for c in prepared) and (
            any(stringprep.in_table_d2(c) for c in prepared)
            or not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1]))):
        return password
    return prepared
