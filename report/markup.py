"""HTML building blocks shared by the report's sections: escaping and tables."""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any


def esc(v: Any) -> str:
    return html.escape("" if v is None else str(v))


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
