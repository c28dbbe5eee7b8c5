"""Tiny charts as inline SVG and CSS bars: no chart library, nothing to load, a few hundred
bytes each, so the report stays one small file that opens offline."""

from __future__ import annotations

import html
from collections.abc import Sequence
from datetime import date

ACCENT = "#2563eb"


def _points(values: Sequence[float], w: float, h: float, pad: float) -> list[tuple[float, float]]:
    top = max(max(values, default=0), 1e-9)
    step = (w - 2 * pad) / max(len(values) - 1, 1)
    return [(pad + i * step, h - pad - (v / top) * (h - 2 * pad)) for i, v in enumerate(values)]


def sparkline(values: Sequence[float], title: str, partial_last: bool = False,
              width: int = 120, height: int = 28) -> str:
    """A line of `values`; the last point hollow when its period is still in progress."""
    if not values:
        return ""
    pts = _points(values, width, height, 3)
    line = " ".join(f"{x:.0f},{y:.1f}" for x, y in pts)
    x, y = pts[-1]
    fill = "#fff" if partial_last else ACCENT
    return (f'<svg class="chart spark" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img"><title>{html.escape(title)}</title>'
            f'<polyline fill="none" stroke="{ACCENT}" stroke-width="1.5" points="{line}"/>'
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.2" fill="{fill}" stroke="{ACCENT}"/></svg>')


def small_multiple(values: Sequence[float], weeks: Sequence[date], title: str,
                   partial_last: bool = False, width: int = 260, height: int = 84) -> str:
    """One theme's weekly series with its peak and first/last week written on it: the grid of
    these replaces one chart of many overlapping lines."""
    if not values:
        return ""
    top, base = 16, height - 14  # room for the peak label above, the weeks below
    pts = [(x, y + top - 4) for x, y in _points(values, width, base - top + 8, 4)]
    line = " ".join(f"{x:.1f},{y:.1f}" for x, y in pts)
    area = f"{pts[0][0]:.1f},{base} {line} {pts[-1][0]:.1f},{base}"
    x, y = pts[-1]
    fill = "#fff" if partial_last else ACCENT
    peak = max(values)
    return (
        f'<svg class="chart multiple" width="100%" viewBox="0 0 {width} {height}" '
        f'role="img"><title>{html.escape(title)}</title>'
        f'<polygon fill="#dbeafe" points="{area}"/>'
        f'<polyline fill="none" stroke="{ACCENT}" stroke-width="1.6" points="{line}"/>'
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{fill}" stroke="{ACCENT}"/>'
        f'<line x1="0" x2="{width}" y1="{base}" y2="{base}" stroke="#ccc"/>'
        f'<text x="2" y="11" class="ax">peak {peak:,.0f}</text>'
        f'<text x="2" y="{height - 2}" class="ax">{weeks[0]:%b %d}</text>'
        f'<text x="{width - 2}" y="{height - 2}" class="ax" text-anchor="end">'
        f'{weeks[-1]:%b %d}</text></svg>')


def bars(rows: Sequence[tuple[str, Sequence[tuple[float, str, str]], str]],
         scale: float | None = None) -> str:
    """Horizontal CSS bars: rows of (label HTML, [(value, colour, tooltip)], value text);
    several parts in a row stack. Labels wrap, never cut."""
    if not rows:
        return ""
    top = scale or max((sum(v for v, _, _ in parts) for _, parts, _ in rows), default=1) or 1
    out = ['<div class="bars chart">']
    for label, parts, text in rows:
        segs = "".join(
            f'<span style="width:{100 * v / top:.1f}%;background:{c}" '
            f'title="{html.escape(t)}"></span>' for v, c, t in parts if v > 0)
        out.append(f'<div class="bl">{label}</div><div class="bt"><div class="bb">{segs}</div>'
                   f'<span class="bv">{html.escape(text)}</span></div>')
    out.append("</div>")
    return "".join(out)


def legend(items: Sequence[tuple[str, str]]) -> str:
    return '<p class="legend">' + " ".join(
        f'<span><i style="background:{c}"></i>{html.escape(n)}</span>' for n, c in items) + "</p>"
