"""The top emerging themes with their evidence: for the demo's console and Prefect artifacts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import psycopg

from warehouse import queries
from warehouse.trends import EMERGING_GRAIN, EMERGING_RECENT_PERIODS

# CommonMark lets any ASCII punctuation be backslash-escaped: escaped, customer text can open
# no link, image, emphasis, table cell or raw HTML tag in the artifact.
_MD_PUNCTUATION = re.compile(r"([!-/:-@\[-`{-~])")


def md_text(text: object) -> str:
    """User text (a label, a quote) as literal markdown on one line."""
    return _MD_PUNCTUATION.sub(r"\\\1", " ".join(str(text).split()))


def top_emerging(conn: psycopg.Connection, limit: int = 5) -> list[dict[str, Any]]:
    """trends.emerging_themes (ranked) plus up to two representative quotes per theme."""
    rows = queries.emerging(conn, limit)
    quotes = queries.theme_quotes(conn, [r["theme_id"] for r in rows])
    for r in rows:
        r["lift"] = (r["evidence"] or {}).get("lift")
        r["quotes"] = quotes.get(r["theme_id"], [])
    return rows


def money(v: float | None) -> str:
    """1234567 -> '$1.2M' (ARR and pipeline read at a glance)."""
    v = float(v or 0)
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(v) >= size:
            return f"${v / size:.1f}{unit}"
    return f"${v:.0f}"


def evidence_line(r: dict[str, Any]) -> str:
    """One line of evidence: who asks, how much revenue, how surprising."""
    lift = f", {r['lift']:.1f}x its baseline" if r.get("lift") else ""
    p = f", p={r['p_value']:.1e}" if r.get("p_value") is not None else ""
    return (f"{r['mentions']} mentions from {r['accounts']} accounts in the last "
            f"{EMERGING_RECENT_PERIODS} full {EMERGING_GRAIN}s and this one, "
            f"ARR {money(r['arr'])}, open pipeline {money(r['pipeline'])}{lift}{p}")


def to_markdown(rows: list[dict[str, Any]], report_path: Path | None,
                counts: dict[str, Any] | None = None) -> str:
    """The Prefect artifact: emerging themes, their evidence and quotes, and the report."""
    lines = ["# trendmine: top emerging themes", ""]
    if not rows:
        lines.append("No theme rises faster than its own history explains.")
    else:
        lines += ["| rank | theme | label | mentions | accounts | ARR | open pipeline | lift "
                  "| p-value |", "|---:|---:|---|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            lift = f"{r['lift']:.1f}x" if r.get("lift") else "-"
            p = f"{r['p_value']:.1e}" if r.get("p_value") is not None else "-"
            new = " (new)" if r["is_new"] else ""
            label = md_text(r["label"])
            lines.append(f"| {r['rank']} | {r['theme_id']} | {label}{new} | {r['mentions']} | "
                         f"{r['accounts']} | {money(r['arr'])} | {money(r['pipeline'])} | "
                         f"{lift} | {p} |")
        lines += ["", "## Evidence", ""]
        for r in rows:
            lines.append(f"**{r['rank']}. {md_text(r['label'])}**: {evidence_line(r)}")
            lines += [f"> {md_text(q)}" for q in r["quotes"]]
            lines.append("")
    if report_path is not None:
        uri = Path(report_path).resolve().as_uri()
        lines += ["", f"HTML report: [{Path(report_path).name}]({uri}) (`{report_path}`)"]
    if counts:
        lines += ["", "## Counts", "", "| stage | counts |", "|---|---|"]
        for stage, c in counts.items():
            shown = ", ".join(f"{k}={v}" for k, v in c.items()) if isinstance(c, dict) else c
            lines.append(f"| {stage} | {shown} |")
    return "\n".join(lines) + "\n"
