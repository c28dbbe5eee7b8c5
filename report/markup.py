"""HTML building blocks shared by the report's sections: escaping, links, tables, and the
page's Content-Security-Policy."""

from __future__ import annotations

import base64
import hashlib
import html
from collections.abc import Sequence
from typing import Any

from ingest.urls import web_url


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def safe_href(url: str | None) -> str | None:
    """The escaped href for a record's url, or None when it is no http(s) address: ingest
    drops such urls already, and this keeps rows stored before that (or written by other
    tools) from becoming a `javascript:` link."""
    checked = web_url(url)
    return None if checked is None else esc(checked)


def csp(script: str) -> str:
    """A Content-Security-Policy <meta> for a page whose only script is `script` (inline),
    allowed by its sha256 hash: an injected script, handler or javascript: URL does not run,
    and the page loads nothing from anywhere. Styles stay inline (the <style> block and the
    charts' style attributes)."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    policy = (f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
              "img-src data:; base-uri 'none'; form-action 'none'")
    return f'<meta http-equiv="Content-Security-Policy" content="{policy}">'


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}"
    return esc(v)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]],
          raw: frozenset[int] = frozenset()) -> str:
    """A table; numbers right-aligned; columns in `raw` are trusted HTML (links, charts)."""
    def cell(i: int, v: Any) -> str:
        if i in raw:
            return f"<td>{v}</td>"
        if isinstance(v, int | float) and not isinstance(v, bool):
            return f'<td class="num">{_num(v)}</td>'
        return f"<td>{esc(v)}</td>"

    first = rows[0] if rows else []
    numeric = {i for i, v in enumerate(first)
               if isinstance(v, int | float) and not isinstance(v, bool)}
    head = "".join(f'<th class="num">{esc(h)}</th>' if i in numeric else f"<th>{esc(h)}</th>"
                   for i, h in enumerate(headers))
    body = "".join("<tr>" + "".join(cell(i, v) for i, v in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
