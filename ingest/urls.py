"""Which links a record may carry: http(s) web addresses only.

A record's `url` ends up in the report as a link a person clicks, so anything a browser
could run or open outside the web (`javascript:`, `data:`, `vbscript:`, `file:`) is no
link at all. Browsers ignore leading spaces and control characters and drop tabs and
newlines inside a URL (`" JavaScript:"`, `"java\\tscript:"` still run), so a value is a
web address only when, after trimming spaces, it starts with `http://` or `https://` (any
case), has a host, and holds no whitespace or control character anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

WEB_SCHEMES = ("http", "https")
_WEB_PREFIX = re.compile(r"(?i)https?://")
# C0 and C1 controls, DEL, and every Unicode space: none is valid inside a URL.
_NOT_IN_URL = re.compile(r"[\x00-\x20\x7f-\x9f\s]")


def web_url(value: str | None) -> str | None:
    """`value` (trimmed) when it is an http(s) URL with a host, else None."""
    if not value:
        return None
    url = value.strip()
    if not _WEB_PREFIX.match(url) or _NOT_IN_URL.search(url):
        return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unbalanced "[" in the host
        return None
    if parts.scheme.lower() not in WEB_SCHEMES or not parts.hostname:
        return None
    return url


# Query keys that name a record in the vendor's app (`call?id=`, `ticket_id=`, `postId=`):
# their value is an opaque id, and a 16-digit one is as likely as any to pass a card's Luhn
# check, so redacting it would break the link without protecting anyone.
_ID_PARAM = re.compile(
    r"(?i)([?&](?!\w*(?:sess|token|auth|secret|pass|key|sig))(?:ids?|\w*id|uuid)=)"
    r"([A-Za-z0-9_-]{1,128})(?=&|#|$)")


def redact_url(url: str | None, redact: Callable[[str], str]) -> str | None:
    """`url` through `redact` like any other field, except the opaque record ids of id-named
    query keys, which stay as they are so that the link still opens the record."""
    if not url:
        return url
    kept: list[str] = []

    def hold(m: re.Match[str]) -> str:
        kept.append(m.group(2))
        return f"{m.group(1)}tmkeptid{len(kept) - 1}z"

    held = _ID_PARAM.sub(hold, url)
    out = redact(held)
    for i, value in enumerate(kept):
        out = out.replace(f"tmkeptid{i}z", value, 1)
    return out
