"""CLI: the read side. trends, emerging, theme, similar, report, bi-role, trends-rebuild."""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from foundation.config import get_settings
from foundation.formats import money as _money
from foundation.formats import signed_pct as _pct

console = Console()
_BARS = "▁▂▃▄▅▆▇█"


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class Level(StrEnum):
    leaf = "leaf"
    parent = "parent"


class Format(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"


def sparkline(values: list[float]) -> str:
    """Unicode bars scaled to the series maximum (all-zero -> lowest bars)."""
    top = max(values, default=0.0)
    if top <= 0:
        return _BARS[0] * len(values)
    return "".join(_BARS[min(len(_BARS) - 1, int(v / top * (len(_BARS) - 1) + 0.5))]
                   for v in values)


_TONE_NOTE = ("urgent = share of records with an urgency cue, tone = mean sentiment -1..+1 "
              "(offline lexicon, docs/read-side.md)")


def _share(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"


def _tone(v: float | None) -> str:
    return "-" if v is None else f"{v:+.2f}"


def _caption(text: str) -> str:
    return f"[dim]{escape(text)}[/dim]"


def _clip(text: str, width: int = 60) -> str:
    """Whole words up to `width` characters, then an ellipsis (the full text is in csv/json)."""
    flat = " ".join((text or "").split())
    if len(flat) <= width:
        return flat
    return flat[:width].rsplit(" ", 1)[0] + "…"


def _fit_table(columns: list[tuple[str, bool, int]], width: int | None = None,
               wrap: str = "theme", **kwargs: Any) -> tuple[Table, list[int]]:
    """A table for the terminal's width: (header, essential, typical width) columns; the one
    named `wrap` wraps by words and gets the room left; optional columns are left out, last
    first, until the rest fits. Returns the table and the indexes of the columns kept."""
    width = width or console.width
    keep = list(range(len(columns)))

    def need(idx: list[int]) -> int:  # typical cells, plus 3 per column for the borders
        return sum(max(len(columns[i][0]), columns[i][2]) + 3 for i in idx) + 1
    for i in reversed(range(len(columns))):
        if need(keep) <= width:
            break
        if not columns[i][1]:
            keep.remove(i)
    table = Table(**kwargs)
    for i in keep:
        name = columns[i][0]
        if name == wrap:
            table.add_column(name, ratio=1, min_width=columns[i][2], overflow="fold")
        else:
            table.add_column(name, no_wrap=True)
    return table, keep


def _dropped_note(columns: list[tuple[str, bool, int]], keep: list[int]) -> str | None:
    gone = [c[0] for i, c in enumerate(columns) if i not in keep]
    return (f"[dim]left out at this width: {', '.join(gone)} (a wider terminal, or "
            f"--format csv/json for every column)[/dim]") if gone else None


_SINCE_HELP = "Window: 90d, 12w, 6m, 1y or a date."
_SEGMENT_HELP = "Only accounts in this segment (current segment, any case; 'unknown' too)."


def _jsonable(v: Any) -> Any:
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, date | datetime):
        return v.isoformat()
    return v


_TREND_COLUMNS = [("id", True, 4), ("theme", True, 22), ("value", True, 8), ("accounts", True, 8),
                  ("ARR", True, 6), ("pipeline", True, 8), ("growth", True, 6),
                  ("mentions", False, 8), ("score", False, 7), ("urgent", False, 6),
                  ("tone", False, 5), ("per period", False, 16)]


def trends(
    since: Annotated[str, typer.Option(help=_SINCE_HELP)] = "90d",
    period: Annotated[Period, typer.Option(help="Sparkline and growth period.")] = Period.week,
    segment: Annotated[str | None, typer.Option(help=_SEGMENT_HELP)] = None,
    source: Annotated[str | None, typer.Option(help="Only feedback from this source.")] = None,
    rank_by: Annotated[str, typer.Option(
        help="Ranking column: value (default: demand x pipeline x momentum, see --explain), "
             "score, mentions, accounts, arr, pipeline or growth.")] = "value",
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    explain: Annotated[bool, typer.Option(
        "--explain", help="Print each theme's value components under the table.")] = False,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
    level: Annotated[Level, typer.Option(help="leaf themes, or the parent themes that "
                                         "group them.")] = Level.leaf,
) -> None:
    """Top themes of the window, ranked by value: weighted demand (distinct accounts,
    segment, ARR) x open pipeline x momentum; also mentions, ARR, growth."""
    from foundation.db import connection
    from foundation.errors import TrendmineError
    from mining.scoring import ScoreWeights
    from schemas.names import Source
    from warehouse.queries import day_window, top_trends

    if source is not None and source not in {s.value for s in Source}:
        raise TrendmineError(f"unknown --source {source!r}",
                             f"use one of {', '.join(s.value for s in Source)}")
    settings = get_settings()
    window = day_window(since, period.value, settings.timezone)
    rank = rank_by.strip().lower()
    with connection(settings) as conn:
        rows = top_trends(conn, window.since, period.value, segment, source, rank, limit,
                          weights=ScoreWeights.from_settings(settings), now=window.until,
                          level=level.value, tz=settings.timezone)
    if fmt is Format.json:
        typer.echo(json.dumps([r.as_dict() for r in rows], indent=2))
        return
    if fmt is Format.csv:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(["theme_id", "label", "value", "mentions", "accounts", "arr", "pipeline",
                    "score", "growth", "urgent_share", "sentiment", "series",
                    *(f"value_{k}" for k in _EXPLAIN_KEYS)])
        for r in rows:
            w.writerow([r.theme_id, r.label, f"{r.value:.4f}", r.mentions, r.accounts,
                        f"{r.arr:.2f}", f"{r.pipeline:.2f}", f"{r.score:.4f}",
                        "" if r.growth is None else f"{r.growth:.4f}",
                        "" if r.urgent_share is None else f"{r.urgent_share:.4f}",
                        "" if r.sentiment is None else f"{r.sentiment:.4f}",
                        " ".join(f"{v:g}" for v in r.series),
                        *(r.explain.get(k, "") for k in _EXPLAIN_KEYS)])
        typer.echo(buf.getvalue(), nl=False)
        return
    title = f"top themes {window.since:%Y-%m-%d} to {window.last_day:%Y-%m-%d}, ranked by {rank}"
    title += "".join(f", {k}={v}" for k, v in (("segment", segment), ("source", source)) if v)
    cols = [(f"per {period.value}" if c == "per period" else c, e, n)
            for c, e, n in _TREND_COLUMNS]
    table, keep = _fit_table(cols, title=escape(title),
                             caption=_caption(window.caption(source) + "; " + _TONE_NOTE))
    for r in rows:
        cells = [str(r.theme_id), escape(_clip(r.label)), f"{r.value:,.1f}",
                 f"{r.accounts:,}", _money(r.arr), _money(r.pipeline), _pct(r.growth),
                 f"{r.mentions:,}", f"{r.score:,.1f}", _share(r.urgent_share),
                 _tone(r.sentiment), sparkline(r.series)]
        table.add_row(*(cells[i] for i in keep))
    console.print(table)
    if not rows:
        console.print("[dim]no mined feedback in that window (run the pipeline first)[/dim]")
        return
    console.print(f"showing {len(rows):,} of {rows.total:,} themes"
                  + (" (--limit for more; --format csv/json for every column)"
                     if len(rows) < rows.total else ""))
    if note := _dropped_note(cols, keep):
        console.print(note)
    if explain:
        _print_explain(rows)


# value's components (warehouse.queries.TrendRow.explain), in the order --explain prints them
_EXPLAIN_KEYS = ("demand", "pipeline_factor", "recent_score", "earlier_score", "lift",
                 "momentum", "recent_days", "reference_arr")


def _print_explain(rows: list[Any]) -> None:
    """value = demand x pipeline factor x momentum, in numbers, one theme a line."""
    console.print("[bold]value = demand x pipeline factor x momentum[/bold] (docs/read-side.md)")
    for r in rows:
        x = r.explain
        console.print(
            f"{r.theme_id} {escape(_clip(r.label, 40))}: {x['demand']:,.1f} x "
            f"{x['pipeline_factor']:.2f} (pipeline {_money(r.pipeline)}, median ARR "
            f"{_money(x['reference_arr'])}) x {x['momentum']:.2f} (last {x['recent_days']} "
            f"days {x['recent_score']:,.1f} vs {x['earlier_score']:,.1f} before: lift "
            f"{x['lift']:.1f}) = {r.value:,.1f}")


def emerging(
    limit: Annotated[int, typer.Option(min=1, max=500)] = 20,
    segment: Annotated[str | None, typer.Option(
        help="Only themes this segment's accounts ask for in the recent window (any case).")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Themes rising faster than their own history explains, with the evidence in words."""
    from foundation.db import connection
    from mining.scoring import ScoreWeights
    from warehouse.queries import emerging_headline, emerging_report

    settings = get_settings()
    with connection(settings) as conn:
        rows = emerging_report(conn, limit, segment, ScoreWeights.from_settings(settings),
                               tz=settings.timezone)
    if fmt is not Format.table:
        records = [{k: _jsonable(v) for k, v in r.as_dict().items()} for r in rows]
        if fmt is Format.csv:  # one cell each for the mix and the related themes
            for rec in records:
                rec["segment_accounts"] = _mix_text(rec["segment_accounts"])
                rec["related"] = _related_text(rec["related"])
        _print_records(records, fmt)
        return
    console.print(f"[bold]{escape(emerging_headline(rows, segment, rows.total))}[/bold]")
    if not rows:
        console.print("[dim]nothing flagged: `trendmine trends` ranks every theme by value; "
                      "after new data, `trendmine trends-rebuild` re-tests[/dim]")
        return
    if len(rows) < rows.total:
        console.print(f"showing {len(rows)} of {rows.total} (--limit for more)")
    cols = [("#", True, 3), ("theme", True, 26), ("accounts", True, 8), ("mentions", False, 8),
            ("ARR", True, 6), ("pipeline", True, 8), ("accounts by segment", False, 24)]
    title = "emerging themes" + (f" asked for by {segment} accounts" if segment else "")
    table, keep = _fit_table(
        cols, title=title,
        caption=_caption(f"recent window from {rows[0].since:%Y-%m-%d} to now (the current "
                         "week counted for its elapsed share); accounts and ARR each counted "
                         "once; ARR current"))
    for e in rows:
        cells = [str(e.rank), f"{e.theme_id} {escape(_clip(e.label))}"
                 + (f" [dim]({escape(_clip(e.parent_label, 30))})[/dim]"
                    if e.parent_label else ""),
                 str(e.accounts), str(e.mentions), _money(e.arr), _money(e.pipeline),
                 escape(_mix_text(e.segment_accounts))]
        table.add_row(*(cells[i] for i in keep))
    console.print(table)
    # sentences under the table, not cells: they stay whole at any terminal width
    for e in rows:
        console.print(f"[bold]{e.rank}. {escape(e.label)}[/bold]: {escape(e.evidence)}")
        for q in e.quotes:
            console.print(f"   [italic]“{escape(q)}”[/italic]")
        if e.related:
            console.print(f"   related, growing too (last complete week vs the 4 before): "
                          f"{escape(_related_text([r.__dict__ for r in e.related]))}")


def _mix_text(mix: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in mix.items())


def _related_text(related: list[dict[str, Any]]) -> str:
    return "; ".join(f"{r['theme_id']} {r['label']} ({_pct(r['growth'])}, "
                     f"{r['accounts']} accounts{', flagged too' if r['folded'] else ''})"
                     for r in related)


def theme(
    theme_id: Annotated[int, typer.Argument(help="Theme id (see `trendmine trends`).")],
    since: Annotated[str, typer.Option(help=_SINCE_HELP)] = "90d",
    period: Annotated[Period, typer.Option(help="Sparkline and growth period.")] = Period.week,
    segment: Annotated[str | None, typer.Option(help=_SEGMENT_HELP)] = None,
    page: Annotated[int, typer.Option(min=1, help="Page of the accounts list.")] = 1,
    page_size: Annotated[int, typer.Option(min=1, max=1000, help="Accounts per page.")] = 20,
    fmt: Annotated[Format, typer.Option("--format", help="table; csv or json export EVERY "
                                        "requesting account of the window.")] = Format.table,
) -> None:
    """One theme: label, quotes, totals and trend per segment, accounts asking, sources,
    lineage; the same window and numbers as `trends`."""
    from foundation.db import connection
    from mining.scoring import ScoreWeights
    from warehouse.loop import theme_decisions
    from warehouse.queries import day_window, theme_accounts, theme_detail

    settings = get_settings()
    win = day_window(since, period.value, settings.timezone)
    with connection(settings) as conn:
        d = theme_detail(conn, theme_id, win.since, period.value, segment,
                         weights=ScoreWeights.from_settings(settings), now=win.until,
                         tz=settings.timezone)
        export = fmt is not Format.table
        accounts = theme_accounts(conn, theme_id, win.since, d["segment"],
                                  offset=0 if export else (page - 1) * page_size,
                                  limit=None if export else page_size, until=win.until)
        d["decisions"] = theme_decisions(conn, theme_id)
        d["links"] = _theme_links(conn, theme_id)
    if export:
        _print_records([_account_record(a) for a in accounts], fmt)
        return
    _print_theme(d, accounts, page, page_size)


def _account_record(a: Any) -> dict[str, Any]:
    from dataclasses import asdict

    return {k: _jsonable(v) for k, v in asdict(a).items()}


def _print_records(records: list[dict[str, Any]], fmt: Format) -> None:
    """Records as JSON or CSV (the header from the first record's keys)."""
    if fmt is Format.json:
        typer.echo(json.dumps(records, indent=2))
        return
    buf = io.StringIO()
    if records:
        w = csv.DictWriter(buf, fieldnames=list(records[0]))
        w.writeheader()
        w.writerows({k: json.dumps(v) if isinstance(v, list | dict) else v
                     for k, v in r.items()} for r in records)
    typer.echo(buf.getvalue(), nl=False)


def _print_theme(d: dict[str, Any], accounts: list[Any], page: int, page_size: int) -> None:
    win, t = d["window"], d["totals"]
    console.print(f"[bold]#{d['theme_id']} {escape(d['label'])}[/bold]  ({d['status']}"
                  + (f", merged into {d['merged_into']}" if d["merged_into"] else "") + ")")
    if d.get("parent_theme_id"):
        console.print(f"sub-theme of #{d['parent_theme_id']} {escape(d['parent_label'] or '')}")
    if d.get("visibility", "shown") != "shown":
        console.print(f"[yellow]{d['visibility']}[/yellow]: left out of `trends` and the "
                      "report" + (" (`theme hide`, on it or on most of its sub-themes)"
                                  if d["visibility"] == "hidden"
                                  else " (small talk or boilerplate, found by mining)"))
    console.print(f"keywords: {escape(', '.join(d['keywords'] or []))}")
    others = [p for p in d.get("phrases") or [] if p.lower() != (d["label"] or "").lower()]
    if others:  # the labeller's runners-up: names to pick from for `theme rename`
        console.print(f"also named in its members' words: {escape('; '.join(others))}")
    if d.get("children"):
        console.print(f"{len(d['children'])} sub-themes: " + "; ".join(
            f"#{c['theme_id']} {escape(c['label'])} ({c['n_feedback']:,}"
            + ("" if c["visibility"] == "shown" else f", {c['visibility']}") + ")"
            for c in d["children"]))
    console.print(f"all time: {d['n_feedback'] or 0:,} records, {d['n_accounts'] or 0:,} "
                  f"accounts, first seen {d['first_seen'] or '-'}, last seen "
                  f"{d['last_seen'] or '-'}")
    seg_note = f" (segment {d['segment']})" if d["segment"] else ""
    if t is None:
        console.print(f"in the window{seg_note}: no mentions")
    else:
        console.print(f"in the window{seg_note}: "
                      f"{t.mentions:,} mentions, {t.accounts:,} accounts, ARR {_money(t.arr)}, "
                      f"open pipeline {_money(t.pipeline)}, score {t.score:,.1f}, "
                      f"growth {_pct(t.growth)}, urgent {_share(t.urgent_share)}, "
                      f"tone {_tone(t.sentiment)}")
    console.print(_caption(win.caption() + "; " + _TONE_NOTE))
    for q in d["quotes"][:5]:
        console.print(f"  [italic]“{escape(q)}”[/italic]")
    seg = Table("segment", "mentions", "accounts", "ARR", "pipeline", "score", "growth",
                f"per {win.grain}", title="per segment (current segment; growth as of the "
                "period)")
    for name, s in d["segments"]:
        seg.add_row(escape(name), f"{s.mentions:,}", f"{s.accounts:,}", _money(s.arr),
                    _money(s.pipeline), f"{s.score:,.1f}", _pct(s.growth), sparkline(s.series))
    console.print(seg)
    total = t.accounts if t else 0
    first = (page - 1) * page_size
    cols = [("account", True, 18), ("segment", True, 10), ("ARR", True, 6),
            ("mentions", True, 8), ("first", False, 10), ("last", True, 10),
            ("open deals", False, 10), ("pipeline", True, 8)]
    acc, keep = _fit_table(cols, wrap="account",
                           title=f"accounts asking: {first + 1 if accounts else 0}-"
                                 f"{first + len(accounts)} of {total} (largest ARR first)")
    for a in accounts:
        cells = [escape(a.name or a.account_id), escape(a.segment), _money(a.arr),
                 str(a.mentions), f"{a.first_mention:%Y-%m-%d}", f"{a.last_mention:%Y-%m-%d}",
                 str(a.open_deals), _money(a.open_pipeline)]
        acc.add_row(*(cells[i] for i in keep))
    console.print(acc)
    if first + len(accounts) < total:
        console.print(f"[dim]next: --page {page + 1}; all of them: --format csv[/dim]")
    console.print("sources: " + (", ".join(f"{s['source']} {s['mentions']}"
                                          for s in d["sources"]) or "-"))
    _print_decisions(d["decisions"], d["theme_id"])
    for link in d.get("links", []):  # Jira/Linear issues (`theme link`, docs/alerts.md)
        console.print(f"issue: {_link_text(link)}", highlight=False)
    for ev in d["lineage"]:
        related = ", ".join(map(str, ev["related_theme_ids"] or []))
        who = (ev.get("detail") or {}).get("by")
        console.print(f"lineage: {ev['at']:%Y-%m-%d} {ev['event']} theme {ev['theme_id']}"
                      + (f" (with {related})" if related else "")
                      + (f" by {who}" if who else ""))


def _theme_links(conn: Any, theme_id: int) -> list[Any]:
    from notify.trackers import theme_links

    return theme_links(conn, [theme_id]).get(theme_id, [])


def _link_text(link: Any) -> str:
    from trendmine.cli_alerts import link_text

    return link_text(link)


def _print_decisions(decisions: list[Any], theme_id: int) -> None:
    """Each product decision: what, note, by whom, when, and whom it told (by name)."""
    if not decisions:
        console.print("decisions: none (`trendmine theme status ID shipped|planned|declined`)")
        return
    for dec in decisions:
        where = ""
        if dec.carried_from:
            where = f", carried over when theme {dec.decided_on} was split"
        elif dec.decided_on not in (None, theme_id):
            where = f", made on theme {dec.decided_on} before it was merged here"
        console.print(
            f"[bold]decision: {dec.decision}[/bold]"
            + (" (in force)" if dec.in_force else " (superseded)")
            + f" by {escape(dec.decided_by or 'unknown')} on {dec.decided_at:%Y-%m-%d}{where}"
            + (f": “{escape(dec.note)}”" if dec.note else ""))
        told = [t.display for t in dec.told if t.notified_at is not None]
        pending = [t.display for t in dec.told if t.notified_at is None]
        console.print(f"  told ({len(told)}): " + (escape(", ".join(told)) or "-"))
        if pending:
            console.print(f"  to tell on the next `trendmine loop-publish` ({len(pending)}): "
                          + escape(", ".join(pending)))


def similar(
    text: Annotated[str, typer.Argument(help="What a customer asked for.")],
    limit: Annotated[int, typer.Option(min=1, max=500, help="Accounts to list, the closest "
                                       "first (the totals always count every match).")] = 20,
    full: Annotated[bool, typer.Option("--full", help="Print whole texts.")] = False,
    min_similarity: Annotated[float | None, typer.Option(
        min=-1.0, max=1.0, help="Floor below which a record is not counted as an ask "
        "(default: TRENDMINE_SIMILAR_MIN_SIMILARITY).")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.table,
) -> None:
    """Who else asked for this? Every stored record is searched (all history; records not yet
    searchable are indexed first, once), by meaning and by words, fused; a record counts as an
    ask when its meaning similarity reaches the floor. Totals count every such record; the
    answer also names the theme(s) the request belongs to."""
    from foundation.db import connection
    from mining.embed import Embedder, embed_query
    from warehouse.similar import index_missing, request_text, similar_by_account, unindexed

    settings = get_settings()
    floor = settings.similar_min_similarity if min_similarity is None else min_similarity
    embedder = Embedder(model=settings.embedding_model, device=settings.embedding_device)
    model_id = embedder.model_id  # nothing loaded
    vec = embed_query(request_text(text), settings.embedding_model,
                      settings.embedding_device)
    with connection(settings, autocommit=True) as conn:
        missing = unindexed(conn, model_id)
        if missing:
            _err_console.print(f"[dim]making {missing:,} stored record(s) searchable (embedded "
                               "once; later questions reuse them) ...[/dim]")
            index_missing(conn, embedder.encode, model_id)
        answer = similar_by_account(conn, text, vec, model_id, floor, limit)
        answer.indexed_now = missing
    if fmt is Format.json:
        typer.echo(json.dumps(_similar_json(text, answer), indent=2))
    elif fmt is Format.csv:
        _print_records([{**{k: v for k, v in acc.items() if k != "records"}, **rec}
                        for acc in _similar_json(text, answer)["accounts"]
                        for rec in acc["records"]], fmt)
    else:
        _print_similar(text, answer, full)


_err_console = Console(stderr=True)


def _similar_json(text: str, answer: Any) -> dict[str, Any]:
    from dataclasses import asdict

    accounts = [{"account_id": a.account_id, "account_name": a.name, "segment": a.segment,
                 "arr": a.arr, "open_deals": a.open_deals, "open_pipeline": a.open_pipeline,
                 "account_mentions": a.mentions, "first": a.first.isoformat(),
                 "last": a.last.isoformat(), "best_similarity": round(a.best, 4),
                 "records": [{k: _jsonable(v) for k, v in asdict(r).items()
                              if k not in ("account_id", "account_name", "segment", "arr",
                                           "open_deals", "open_pipeline")}
                             for r in a.records]}
                for a in answer.listed]
    return {"query": text, "floor": answer.floor, "close_match": answer.close_match,
            "best_similarity": answer.best_similarity, "totals": answer.totals,
            "listed_accounts": len(answer.listed),
            "themes": [asdict(t) for t in answer.themes], "accounts": accounts,
            "nearby_below_floor": [{"account_id": a.account_id, "account_name": a.name,
                                    "best_similarity": round(a.best, 4),
                                    "feedback_ids": [r.feedback_id for r in a.records]}
                                   for a in _nearby(answer)]}


def _nearby(answer: Any) -> list[Any]:
    """Accounts close to the request but below the floor, filling the listing to --limit."""
    room = (answer.shown or len(answer.accounts)) - len(answer.listed)
    return answer.nearby[:max(room if answer.close_match else min(room, 5), 0)]


def _print_nearby(answer: Any) -> None:
    nearby = _nearby(answer)
    if nearby:
        console.print("[dim]nearest below the floor, not counted: " + escape(", ".join(
            f"{a.name} ({a.best:.3f})" for a in nearby)) + "[/dim]", soft_wrap=True)


def _shorten(text: str, width: int = 200) -> str:
    """Whole words up to `width` characters, then an ellipsis."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    return flat[:width].rsplit(" ", 1)[0] + " …"


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _link_note(url: str) -> str:
    """A note when ingest's redaction replaced part of a link (the link will not open)."""
    from ingest.redact import PLACEHOLDERS

    hit = [p for p in PLACEHOLDERS if f"[{p}]" in url]
    return f"  [dim](part of this link was redacted at ingest as {', '.join(hit)})[/dim]" \
        if hit else ""


def _print_similar(text: str, answer: Any, full: bool) -> None:
    console.print(f"[bold]closest to:[/bold] {escape(_shorten(text))}")
    if not answer.close_match:
        best = "-" if answer.best_similarity is None else f"{answer.best_similarity:.2f}"
        console.print(f"No close match: the closest stored feedback has similarity {best}, "
                      f"below the floor {answer.floor:.2f} (--min-similarity to look further).")
        _print_nearby(answer)
        return
    t = answer.totals
    segs = ", ".join(f"{k} {v}" for k, v in t["segments"].items()) or "-"
    console.print(f"{_n(t['accounts'], 'account')} asked (ARR {_money(t['arr'])}, open "
                  f"pipeline {_money(t['open_pipeline'])} in {_n(t['open_deals'], 'deal')}; "
                  f"segments: {escape(segs)}): {_n(t['records'], 'record')} at similarity >= "
                  f"{answer.floor:.2f}, all stored history searched.", highlight=False)
    for th in answer.themes:
        console.print(f"It belongs to theme #{th.theme_id} {escape(repr(th.label))}: "
                      f"{th.matches} of the {t['records']} matching records; the theme holds "
                      f"{th.theme_records} records from {th.theme_accounts} accounts "
                      f"(`trendmine theme {th.theme_id}`).", highlight=False)
    listed = answer.listed
    acc = Table("account", "segment", "ARR", "open deals", "mentions", "first - last", "sim",
                title=f"who asked, the closest first ({len(listed)} of {len(answer.accounts)})")
    for a in listed:
        acc.add_row(escape(a.name), escape(a.segment), _money(a.arr),
                    f"{a.open_deals} ({_money(a.open_pipeline)})", str(a.mentions),
                    f"{a.first:%Y-%m-%d} - {a.last:%Y-%m-%d}", f"{a.best:.2f}")
    console.print(acc)
    if len(listed) < len(answer.accounts):
        anonymous = " (one for records without a known account)" if any(
            a.account_id is None for a in answer.accounts) else ""
        console.print(f"[dim]listing {len(listed)} of {len(answer.accounts)} rows{anonymous}; "
                      "the totals above count them all (--limit to list more)[/dim]")
    _print_nearby(answer)
    console.print("[bold]what they said[/bold]")
    for a in listed:  # blocks, not a table: texts and links stay whole and clickable
        console.print(f"[bold]{escape(a.name)}[/bold] ({escape(a.segment)}, ARR "
                      f"{_money(a.arr)})", soft_wrap=True)
        for r in a.records:
            theme = f" \\[{escape(r.theme_label)}]" if r.theme_label else ""
            console.print(f"  {r.similarity:.2f}  {r.created_at:%Y-%m-%d}  {r.source}{theme}  "
                          f"{escape(r.text if full else _shorten(r.text))}", soft_wrap=True)
            if r.url:
                console.print(f"        {escape(r.url)}{_link_note(r.url)}", soft_wrap=True,
                              highlight=False)
    if not full:
        console.print("[dim]texts shortened; --full prints them whole[/dim]")


def report(out: Annotated[Path, typer.Option(help="HTML file to write.")] = Path("report.html")
           ) -> None:
    """Write one self-contained HTML report (opens offline)."""
    from foundation.db import connection
    from report.html import write_report

    settings = get_settings()
    with connection(settings) as conn:
        path = write_report(conn, out, settings)
    console.print(f"wrote {path}")


def bi_role_create(
    name: Annotated[str, typer.Option(help="Role name.")] = "trendmine_bi",
    password_file: Annotated[Path | None, typer.Option(
        help="Read the password from this file (default: TRENDMINE_BI_PASSWORD, else "
             "generated and shown once).")] = None,
    prompt: Annotated[bool, typer.Option(
        "--prompt", help="Ask for the password (not echoed).")] = False,
    statement_timeout: Annotated[str, typer.Option(
        help="Longest query the role may run.")] = "120s",
    connection_limit: Annotated[int, typer.Option(min=1, help="Concurrent sessions.")] = 10,
) -> None:
    """Create a read-only LOGIN role that can read the `trends` views and nothing else.

    The password never comes from a command-line flag (shell history, `ps`)."""
    from foundation.db import connection
    from warehouse.bi import create_bi_role, generate_password, role_url

    settings = get_settings()
    pw = _bi_password(password_file, prompt)
    generated = pw is None
    pw = pw or generate_password()
    with connection(settings, autocommit=True) as conn:
        skipped = create_bi_role(conn, name, pw, statement_timeout=statement_timeout,
                                 connection_limit=connection_limit)
    console.print(f"role {name}: can read the trends views only "
                  f"(statement timeout {statement_timeout}, {connection_limit} connections)")
    for note in skipped:
        console.print(f"[yellow]not set: {note}[/yellow]", highlight=False)
    console.print(role_url(settings.dsn(), name, pw, show_password=generated), highlight=False,
                  soft_wrap=True)
    if generated:
        console.print("[dim]the password is shown once; store it now[/dim]")


def _bi_password(password_file: Path | None, prompt: bool) -> str | None:
    from foundation.errors import TrendmineError

    if password_file is not None:
        try:
            return password_file.read_text().strip() or None
        except OSError as exc:
            raise TrendmineError(f"cannot read {password_file}: {exc.strerror}") from exc
    if prompt:
        return typer.prompt("password for the BI role", hide_input=True,
                            confirmation_prompt=True)
    return os.environ.get("TRENDMINE_BI_PASSWORD") or None


def trends_rebuild() -> None:
    """Recompute the trend tables and the emerging themes (no re-mining)."""
    from foundation.db import connection
    from warehouse.trends import rebuild_trends

    with connection(get_settings()) as conn:
        counts = rebuild_trends(conn, get_settings())
    console.print(f"trend rows: {counts['trend_rows']:,}, emerging themes: "
                  f"{counts['emerging']}, in {counts['seconds']:.2f}s")


def register(app: typer.Typer) -> None:
    """Add the read-side commands to the trendmine app."""
    from trendmine.cli_theme import theme_app

    theme_app.command("show")(theme)
    app.add_typer(theme_app, name="theme")
    app.command("trends")(trends)
    app.command("emerging")(emerging)
    app.command("similar")(similar)
    app.command("report")(report)
    app.command("trends-rebuild")(trends_rebuild)
    bi = typer.Typer(help="A read-only Postgres role for BI tools.", no_args_is_help=True)
    bi.command("create")(bi_role_create)
    app.add_typer(bi, name="bi-role")
