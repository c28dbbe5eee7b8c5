"""One self-contained HTML report (plotly.js inlined: opens offline, no CDN)."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import psycopg

from foundation.config import Settings
from mining.scoring import ScoreWeights
from report.sales import sales_section
from schemas.names import ALL_SEGMENTS
from warehouse import queries

TOP_THEMES = 8
HEATMAP_THEMES = 15
_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px 40px;color:#222}
h1{margin-bottom:4px} .meta{color:#666;font-size:14px;margin-bottom:18px}
h2{margin-top:36px;border-bottom:1px solid #ddd;padding-bottom:4px}
table{border-collapse:collapse;font-size:13px;margin:8px 0 16px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left} th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums} .new{color:#b00;font-weight:600}
"""


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return f'<td class="num">{v:,.0f}</td>' if abs(v) >= 1000 else \
                f'<td class="num">{v:,.2f}</td>'
        if isinstance(v, int):
            return f'<td class="num">{v:,}</td>'
        return f"<td>{html.escape('' if v is None else str(v))}</td>"

    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(cell(v) for v in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fig_html(fig: go.Figure, first: bool) -> str:
    fig.update_layout(template="plotly_white", margin={"l": 60, "r": 20, "t": 50, "b": 60})
    return fig.to_html(full_html=False, include_plotlyjs=first, config={"displaylogo": False})


def _trend_lines(conn: psycopg.Connection, theme_ids: list[int]) -> tuple[go.Figure, list]:
    rows = conn.execute(
        "SELECT tt.theme_id, t.label, tt.period_start, tt.weighted_score FROM "
        "trendmine.theme_trends tt JOIN trendmine.themes t USING (theme_id) "
        "WHERE tt.grain = 'week' AND tt.segment = %s AND tt.theme_id = ANY(%s) "
        "AND tt.period_start < date_trunc('week', now() AT TIME ZONE 'UTC')::date "
        "ORDER BY tt.period_start", (ALL_SEGMENTS, theme_ids)).fetchall()
    fig = go.Figure()
    weeks = sorted({r[2] for r in rows})
    for theme_id in theme_ids:
        pts = {r[2]: r[3] for r in rows if r[0] == theme_id}
        label = next((r[1] for r in rows if r[0] == theme_id), str(theme_id))
        fig.add_trace(go.Scatter(x=weeks, y=[pts.get(w, 0.0) for w in weeks], mode="lines",
                                 name=f"#{theme_id} {label}"[:40]))
    fig.update_layout(title="Weekly weighted score, top themes (complete weeks)", height=420,
                      xaxis_title="week", yaxis_title="weighted score")
    return fig, rows


def _heatmap(conn: psycopg.Connection, since: datetime) -> tuple[go.Figure, list[list[Any]]]:
    rows = conn.execute(
        "WITH top AS (SELECT theme_id FROM trendmine.theme_trends WHERE grain = 'week' "
        "AND segment = %(all)s AND period_start >= %(since)s GROUP BY 1 "
        "ORDER BY sum(weighted_score) DESC LIMIT %(n)s) "
        "SELECT tt.theme_id, t.label, tt.segment, sum(tt.weighted_score) FROM "
        "trendmine.theme_trends tt JOIN top USING (theme_id) JOIN trendmine.themes t "
        "USING (theme_id) WHERE tt.grain = 'week' AND tt.segment <> %(all)s "
        "AND tt.period_start >= %(since)s GROUP BY 1, 2, 3",
        {"all": ALL_SEGMENTS, "since": since.date(), "n": HEATMAP_THEMES}).fetchall()
    themes = sorted({(r[0], r[1]) for r in rows},
                    key=lambda t: -sum(r[3] for r in rows if r[0] == t[0]))
    segments = sorted({r[2] for r in rows})
    grid = {(r[0], r[2]): float(r[3]) for r in rows}
    z = [[grid.get((tid, s), 0.0) for s in segments] for tid, _ in themes]
    ylabels = [f"#{tid} {label}"[:40] for tid, label in themes]
    fig = go.Figure(go.Heatmap(z=z, x=segments, y=ylabels, colorscale="Blues",
                               colorbar={"title": "score"}))
    fig.update_layout(title="Weighted score by segment (last 90 days)",
                      height=max(320, 28 * len(themes) + 140), yaxis={"autorange": "reversed"})
    table = [[label, *(round(grid.get((tid, s), 0.0), 2) for s in segments)]
             for (tid, _), label in zip(themes, ylabels, strict=True)]
    return fig, [["theme", *segments], *table]


def write_report(conn: psycopg.Connection, out_path: Path | str, settings: Settings,
                 since_days: int = 90) -> Path:
    """Write the report to out_path; returns the path."""
    out = Path(out_path)
    now = datetime.now(UTC)
    since = now - timedelta(days=since_days)
    fresh = queries.freshness(conn)
    top = queries.top_trends(conn, since, "week", limit=20,
                             weights=ScoreWeights.from_settings(settings))
    emerging = queries.emerging(conn, limit=20)
    parts: list[str] = []
    first = True

    parts.append(f"<h2>Top themes (last {since_days} days)</h2>")
    if top:
        fig, _ = _trend_lines(conn, [t.theme_id for t in top[:TOP_THEMES]])
        parts.append(_fig_html(fig, first))
        first = False
    parts.append(_table(
        ["theme", "label", "mentions", "accounts", "ARR", "open pipeline", "score", "growth"],
        [[t.theme_id, t.label, t.mentions, t.accounts, t.arr, t.pipeline, t.score,
          "-" if t.growth is None else f"{t.growth:+.0%}"] for t in top]))

    parts.append("<h2>Emerging themes</h2>")
    if emerging:
        labels = [("NEW " if e["is_new"] else "") + f"#{e['theme_id']} {e['label']}"[:40]
                  for e in emerging]
        fig = go.Figure(go.Bar(x=[e["arr"] for e in emerging], y=labels, orientation="h",
                               marker_color=["#c0392b" if e["is_new"] else "#2e86c1"
                                             for e in emerging]))
        fig.update_layout(title="Emerging themes by ARR of the accounts asking",
                          height=max(300, 30 * len(emerging) + 140), xaxis_title="ARR",
                          yaxis={"autorange": "reversed"})
        parts.append(_fig_html(fig, first))
        first = False
    else:
        parts.append("<p>No theme rises faster than its own history explains.</p>")
    parts.append("" if not emerging else _table(
        ["rank", "theme", "label", "new", "mentions", "accounts", "ARR", "pipeline",
         "observed", "expected", "-log10 p", "threshold"],
        [[e["rank"], e["theme_id"], e["label"], "NEW" if e["is_new"] else "", e["mentions"],
          e["accounts"], e["arr"], e["pipeline"], e["observed"], e["expected"],
          e["statistic"], e["threshold"]] for e in emerging]))

    parts.append("<h2>Segments x themes</h2>")
    fig, table = _heatmap(conn, since)
    if len(table) > 1:
        parts.append(_fig_html(fig, first))
        first = False
    parts.append(_table(table[0], table[1:]))
    parts.append(sales_section(conn, settings, include_plotlyjs=first))

    def ts(v: Any) -> str:
        return v.strftime("%Y-%m-%d %H:%M UTC") if v else "never"

    header = (
        "<h1>trendmine report</h1><div class='meta'>"
        f"generated {ts(now)} &middot; newest feedback {ts(fresh['newest_feedback'])} &middot; "
        f"last ingested {ts(fresh['last_ingested'])} &middot; trends rebuilt "
        f"{ts(fresh['trends_computed'])} &middot; {fresh['feedback']:,} feedback records, "
        f"{fresh['themes']:,} active themes</div>")
    doc = ("<!DOCTYPE html><html><head><meta charset='utf-8'><title>trendmine report</title>"
           f"<style>{_CSS}</style></head><body>{header}{''.join(parts)}</body></html>")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(doc, encoding="utf-8")
    return out
