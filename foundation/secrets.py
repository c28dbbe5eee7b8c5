"""Masking secrets in anything trendmine prints, logs or stores.

Postgres accepts a password in three places: the URL's user info
(``postgresql://u:pw@h/db``), a URL query parameter (``?password=pw``) and the keyword form
(``host=h password=pw`` or ``password='p w'``). `mask_dsn` hides all three; `scrub` also hides
any known secret value wherever it appears (an error message quoting a DSN, a log line).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from pathlib import Path

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


def write_secret_file(path: Path, secret: str) -> None:
    """Create `path` holding `secret`, readable by its owner only (0600) from the first byte:
    the file is opened with that mode, never chmod-ed after the write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
