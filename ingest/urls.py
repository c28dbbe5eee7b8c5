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
