"""Numbers as people read them in tables: one home for the CLI's and the web app's format."""

from __future__ import annotations


def money(v: float | None) -> str:
    """1234567 -> '1.2M', 45600 -> '46k', 950 -> '950'; unknown -> '-'."""
    if v is None:
        return "-"
    v = float(v)
    if abs(v) >= 1e6:
        return f"{v / 1e6:,.1f}M"
    if abs(v) >= 1e3:
        return f"{v / 1e3:,.0f}k"
    return f"{v:,.0f}"


def signed_pct(v: float | None) -> str:
    """0.25 -> '+25%' (growth); unknown -> '-'."""
    return "-" if v is None else f"{v:+.0%}"
