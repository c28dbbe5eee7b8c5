"""Masking secrets in anything trendmine prints, logs or stores.

Postgres accepts a password in three places: the URL's user info
(``postgresql://u:pw@h/db``), a URL query parameter (``?password=pw``) and the keyword form
(``host=h password=pw`` or ``password='p w'``). `mask_dsn` hides all three; `scrub` also hides
any known secret value wherever it appears (an error message quoting a DSN, a log line).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import psycopg
from psycopg.conninfo import conninfo_to_dict

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
