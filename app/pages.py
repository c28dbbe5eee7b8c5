"""Each page's data: the same query functions, with the same arguments, as the CLI command it
mirrors (named in each docstring), so a page and its command print the same numbers. A page
returns a `Page`: what the template shows, and the rows and columns of its CSV export.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, date, datetime, time
from typing import Any

import psycopg

from app.lookups import theme_origins
from foundation.config import Settings
from foundation.errors import TrendmineError
from mining.scoring import ScoreWeights
from schemas.names import Source
from warehouse import report_data, sales
from warehouse.loop import theme_decisions
from warehouse.queries import (
    RANK_BY,
    ThemeAccount,
    day_window,
    emerging_headline,
    emerging_report,
    known_segments,
    parse_since,
    theme_accounts,
    theme_detail,
    top_trends,
)

PERIODS = ("day", "week", "month")
LEVELS = ("leaf", "parent")
SOURCES = tuple(s.value for s in Source)
# value's components (warehouse.queries.TrendRow.explain), as `trends --format csv` names them
EXPLAIN_KEYS = ("demand", "pipeline_factor", "recent_score", "earlier_score", "lift",
                "momentum", "recent_days", "reference_arr")


@dataclass
class Page:
    """What a page shows, and its CSV: `rows` (or a function making them, where they cost
    more than the page itself) under `columns`."""

    context: dict[str, Any]
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] | Callable[[], list[dict[str, Any]]] = field(default_factory=list)

    def records(self) -> list[dict[str, Any]]:
        return self.rows() if callable(self.rows) else self.rows


def _choice(value: str | None, allowed: tuple[str, ...], name: str, default: str) -> str:
    value = (value or default).strip().lower()
    if value not in allowed:
        raise TrendmineError(f"unknown {name} {value!r}", f"use one of {', '.join(allowed)}")
    return value


def _plain(v: Any) -> Any:
    if isinstance(v, date | datetime):
        return v.isoformat()
    if isinstance(v, list | dict):
        return json.dumps(v, default=str)
    return v


def _weights(settings: Settings) -> ScoreWeights:
    return ScoreWeights.from_settings(settings)


def themes(conn: psycopg.Connection, settings: Settings, q: dict[str, str]) -> Page:
    """`trendmine trends --since --period --segment --source --rank-by --limit --level`."""
    since = q.get("since") or "90d"
    period = _choice(q.get("period"), PERIODS, "period", "week")
    level = _choice(q.get("level"), LEVELS, "level", "leaf")
    rank = _choice(q.get("rank_by"), RANK_BY, "rank-by", "value")
    source = q.get("source") or None
    if source is not None:
        source = _choice(source, SOURCES, "source", "")
    segment = q.get("segment") or None
    limit = _int(q.get("limit"), 20, 1, 1000, "limit")  # the CLI's default
    window = day_window(since, period, settings.timezone)
    rows = top_trends(conn, window.since, period, segment, source, rank, limit,
                      weights=_weights(settings), now=window.until, level=level,
                      tz=settings.timezone)
    origins = theme_origins(conn, [r.theme_id for r in rows])
    decided, _ = report_data.decisions_and_links(conn, [r.theme_id for r in rows])
    columns = ["theme_id", "label", "origin", "value", "mentions", "accounts", "arr",
               "pipeline", "score", "growth", "urgent_share", "sentiment", "series",
               *(f"value_{k}" for k in EXPLAIN_KEYS)]
    out = [{"theme_id": r.theme_id, "label": r.label, "origin": origins.get(r.theme_id),
            "value": f"{r.value:.4f}", "mentions": r.mentions, "accounts": r.accounts,
            "arr": f"{r.arr:.2f}", "pipeline": f"{r.pipeline:.2f}", "score": f"{r.score:.4f}",
            "growth": "" if r.growth is None else f"{r.growth:.4f}",
            "urgent_share": "" if r.urgent_share is None else f"{r.urgent_share:.4f}",
            "sentiment": "" if r.sentiment is None else f"{r.sentiment:.4f}",
            "series": " ".join(f"{v:g}" for v in r.series),
            **{f"value_{k}": r.explain.get(k, "") for k in EXPLAIN_KEYS}} for r in rows]
    return Page({"rows": rows, "total": rows.total, "origins": origins, "decided": decided,
                 "window": window,
                 "caption": window.caption(source), "segments": known_segments(conn),
                 "f": {"since": since, "period": period, "level": level, "rank_by": rank,
                       "source": source or "", "segment": segment or "", "limit": limit}},
                columns, out)


def _int(text: str | None, default: int, low: int, high: int, name: str) -> int:
    if not text:
        return default
    try:
        n = int(text)
    except ValueError:
        raise TrendmineError(f"{name} {text!r} is not a number",
                             f"use a whole number from {low} to {high}") from None
    if not low <= n <= high:
        raise TrendmineError(f"{name} {n} is out of range", f"use {low} to {high}")
    return n


def theme(conn: psycopg.Connection, settings: Settings, theme_id: int, q: dict[str, str]
          ) -> Page:
    """`trendmine theme ID --since --period --segment` (CSV: `--format csv`, every account)."""
    since = q.get("since") or "90d"
    period = _choice(q.get("period"), PERIODS, "period", "week")
    segment = q.get("segment") or None
    tz = settings.timezone
    win = day_window(since, period, tz)
    d = theme_detail(conn, theme_id, win.since, period, segment, weights=_weights(settings),
                     now=win.until, tz=tz)
    accounts = theme_accounts(conn, theme_id, win.since, d["segment"], until=win.until)
    d["decisions"] = theme_decisions(conn, theme_id)
    # quotes as the report picks them: one per account, the closest to the theme first
    quotes = report_data.quotes(conn, report_data.report_window(conn, win.days, tz),
                                [theme_id], per_theme=6, level=d["level"]).get(theme_id, [])
    origin = theme_origins(conn, [theme_id]).get(theme_id)
    _, links = report_data.decisions_and_links(conn, [theme_id])
    rows = [{k: _plain(v) for k, v in asdict(a).items()} for a in accounts]
    return Page({"d": d, "accounts": accounts, "quotes": quotes, "links": links.get(theme_id, []),
                 "origin": origin, "segments": known_segments(conn),
                 "f": {"since": since, "period": period, "segment": segment or ""}},
                [f.name for f in fields(ThemeAccount)], rows)


def emerging(conn: psycopg.Connection, settings: Settings, q: dict[str, str]) -> Page:
    """`trendmine emerging --segment --limit`."""
    segment = q.get("segment") or None
    limit = _int(q.get("limit"), 20, 1, 500, "limit")
    rows = emerging_report(conn, limit, segment, _weights(settings), tz=settings.timezone)
    out = []
    for r in rows:
        rec = {k: _plain(v) for k, v in r.as_dict().items()}
        rec["segment_accounts"] = ", ".join(f"{k} {v}" for k, v in r.segment_accounts.items())
        rec["related"] = "; ".join(f"{x.theme_id} {x.label}" for x in r.related)
        out.append(rec)
    return Page({"rows": rows, "headline": emerging_headline(rows, segment, rows.total),
                 "total": rows.total, "segments": known_segments(conn),
                 "f": {"segment": segment or "", "limit": limit}},
                list(out[0]) if out else ["rank"], out)


def similar(conn: psycopg.Connection, settings: Settings, q: dict[str, str]) -> Page:
    """`trendmine similar TEXT --limit` (records not yet searchable are indexed first, once,
    as the CLI does)."""
    from mining.embed import Embedder
    from warehouse.similar import index_missing, request_text, similar_by_account, unindexed

    text = (q.get("q") or "").strip()
    limit = _int(q.get("limit"), 20, 1, 500, "limit")
    ctx: dict[str, Any] = {"f": {"q": text, "limit": limit}, "answer": None}
    if not text:
        return Page(ctx, ["account_id"], [])
    embedder = Embedder(model=settings.embedding_model, device=settings.embedding_device)
    model_id = embedder.model_id
    vec = _query_encoder(settings.embedding_model, settings.embedding_device).encode(
        [request_text(text)])[0]
    if unindexed(conn, model_id):
        index_missing(conn, embedder.encode, model_id)
    answer = similar_by_account(conn, text, vec, model_id, settings.similar_min_similarity,
                                limit)
    ctx["answer"] = answer
    # accounts close to the request but below the floor, filling the listing (as the CLI)
    room = (answer.shown or len(answer.accounts)) - len(answer.listed)
    ctx["nearby"] = answer.nearby[:max(room if answer.close_match else min(room, 5), 0)]
    columns = ["account_id", "account_name", "segment", "arr", "open_deals", "open_pipeline",
               "account_mentions", "best_similarity", "feedback_id", "similarity", "source",
               "created_at", "theme_id", "theme_label", "text", "url"]
    rows = [{"account_id": a.account_id, "account_name": a.name, "segment": a.segment,
             "arr": a.arr, "open_deals": a.open_deals, "open_pipeline": a.open_pipeline,
             "account_mentions": a.mentions, "best_similarity": round(a.best, 4),
             "feedback_id": r.feedback_id, "similarity": round(r.similarity, 4),
             "source": r.source, "created_at": r.created_at.isoformat(),
             "theme_id": r.theme_id, "theme_label": r.theme_label, "text": r.text, "url": r.url}
            for a in answer.listed for r in a.records]
    return Page(ctx, columns, rows)


@functools.lru_cache(maxsize=2)
def _query_encoder(model: str, device: str | None) -> Any:
    """mining.embed.embed_query's encoder (the same vectors), kept loaded: a server answers
    many questions, and loading the model's weights costs more than embedding one."""
    from mining.embed import Embedder, LightEncoder

    if device in (None, "cpu") and LightEncoder.supports(model):
        return LightEncoder(model)
    return Embedder(model=model, device=device)


DEAL_COLUMNS = ["opportunity_id", "opportunity_name", "account_id", "account_name", "stage",
                "amount", "close_date", "loss_reason", "themes", "theme_ids", "theme_labels",
                "sales_special_themes", "market_wide_themes", "sales_special", "market_wide",
                "emerging"]


def deals(conn: psycopg.Connection, settings: Settings, q: dict[str, str]) -> Page:
    """`trendmine deals --theme --stage --closing-within --skip-invalid` (the page always
    leaves invalid deals out, and names them)."""
    theme_id = _int(q.get("theme"), 0, 0, 2**62, "theme") or None
    stage = q.get("stage") or None
    within = q.get("closing_within") or None
    label = sales.theme_label(conn, theme_id) if theme_id is not None else None
    today = sales.as_of(conn)
    until = sales.closing_until(within, today) if within else None
    rows = sales.deal_themes(conn, settings, stage=stage, closing_until=until, theme_id=theme_id,
                             today=today)
    bad = sales.invalid_deals(rows, need_close_date=until is not None)
    skip = {o for ids in bad.values() for o in ids}
    hidden = report_data.unlisted_theme_ids(conn) - {theme_id}
    found = sales.group_deals([r for r in rows if r.opportunity_id not in skip], hidden)

    def export() -> list[dict[str, Any]]:
        return [{c: _csv_cell(flat[c]) for c in DEAL_COLUMNS}
                for flat in (d.as_flat_dict() for d in found)]
    return Page({"deals": found, "label": label, "today": today, "until": until,
                 "skipped": bad,
                 "f": {"theme": theme_id or "", "stage": stage or "",
                       "closing_within": within or ""}}, DEAL_COLUMNS, export)


def _csv_cell(v: Any) -> Any:
    """A cell as `_emit` in the CLI writes it: lists '|'-joined, dicts as JSON, None empty."""
    if isinstance(v, list):
        return "|".join(map(str, v))
    if isinstance(v, dict):
        return json.dumps(v)
    return "" if v is None else v


WINLOSS_COLUMNS = ["theme_id", "label", "deals_won", "deals_lost", "amount_won", "amount_lost",
                   "loss_rate", "expected_loss_rate", "p_value", "q_value", "over_represented",
                   "small_sample", "loss_reasons"]


def winloss(conn: psycopg.Connection, settings: Settings, q: dict[str, str]) -> Page:
    """`trendmine winloss --since --skip-invalid` (the page leaves undated deals out, and
    names them)."""
    since = q.get("since") or "12m"
    today = sales.as_of(conn)
    start = parse_since(since, datetime.combine(today, time.min, UTC)).date()
    undated = sales.undated_closed_deals(conn, settings)
    answer = sales.winloss_answer(conn, settings, start)
    out = [{c: _csv_cell(r.as_dict()[c]) for c in WINLOSS_COLUMNS} for r in answer.rows]
    return Page({"answer": answer, "start": start, "today": today, "undated": undated,
                 "p_q": sales.explain_p_q(answer.min_deals, answer.fdr),
                 "f": {"since": since}}, WINLOSS_COLUMNS, out)


def fit(conn: psycopg.Connection, settings: Settings, q: dict[str, str]) -> Page:
    """`trendmine fit --debt-only --limit`: revenue debt and who hears each theme."""
    debt_only = (q.get("debt_only") or "") in ("1", "true", "on")
    limit = _int(q.get("limit"), 100, 1, 1000, "limit")
    out, every = sales.fit_rows(conn, settings, debt_only, limit)
    return Page({"rows": out, "headline": sales.fit_headline(every, settings),
                 "threshold": settings.icp_fit_threshold, "channels": sales.CHANNELS,
                 "total": sum(r.revenue_debt for r in every) if debt_only else len(every),
                 "f": {"debt_only": "1" if debt_only else "", "limit": limit}},
                sales.FIT_COLUMNS, [{c: _csv_cell(r[c]) for c in sales.FIT_COLUMNS} for r in out])
