"""What the templates print: amounts, shares, safe links, and small SVG charts.

The charts are inline SVG built from numbers only (the labels go through escape), so a page
needs no script and no image request.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from foundation.formats import money
from foundation.formats import signed_pct as pct


def share(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def tone(v: float | None) -> str:
    return "-" if v is None else f"{v:+.2f}"


def safe_href(url: str | None) -> str | None:
    """The URL when it is an http(s) link with a host, else None: a `javascript:` or `data:`
    link in feedback must never become clickable."""
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    return url.strip() if parts.scheme.lower() in ("http", "https") and parts.netloc else None


def sparkline(values: Sequence[float], width: int = 96, height: int = 20) -> Markup:
    """A line over the series, scaled to its maximum (an all-zero series lies flat)."""
    if not values:
        return Markup("")
    top = max(max(values), 0.0) or 1.0
    step = width / max(len(values) - 1, 1)
    points = " ".join(f"{i * step:.1f},{height - 2 - (v / top) * (height - 4):.1f}"
                      for i, v in enumerate(values))
    title = escape(" ".join(f"{v:g}" for v in values))
    return Markup(
        f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="weighted score per period"><title>{title}</title>'
        f'<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/>'
        "</svg>")


def bar_chart(periods: Sequence[str], values: Sequence[float], width: int = 640,
              height: int = 180) -> Markup:
    """Bars per period with the first and last period named under them."""
    if not values:
        return Markup('<p class="muted">no periods in the window</p>')
    top = max(max(values), 0.0) or 1.0
    head, plot_h = 16, height - 24  # room for the maximum above, the periods below
    gap = 2
    bar_w = max((width - gap * len(values)) / len(values), 1)
    bars = []
    for i, (p, v) in enumerate(zip(periods, values, strict=True)):
        h = v / top * (plot_h - head)
        x = i * (bar_w + gap)
        bars.append(f'<rect x="{x:.1f}" y="{plot_h - h:.1f}" width="{bar_w:.1f}" '
                    f'height="{h:.1f}"><title>{escape(p)}: {v:,.1f}</title></rect>')
    first, last = escape(periods[0]), escape(periods[-1])
    return Markup(
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'role="img" aria-label="weighted score per period">'
        + "".join(bars)
        + f'<text x="0" y="{height - 6}">{first}</text>'
        f'<text x="{width}" y="{height - 6}" text-anchor="end">{last}</text>'
        f'<text x="{width}" y="12" text-anchor="end">max {top:,.1f}</text></svg>')


FILTERS = {"money": money, "pct": pct, "share": share, "tone": tone, "safe_href": safe_href,
           "sparkline": sparkline}
