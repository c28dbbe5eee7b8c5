"""CLI: produce, ingest, dlq."""

from __future__ import annotations

import json
import logging
import signal
import threading
import time
from collections import Counter
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from foundation.config import get_settings

console = Console()
log = logging.getLogger(__name__)
dlq_app = typer.Typer(
    help="The dead-letter topic: list, count and replay rejected records.",
    invoke_without_command=True,
)


def _progress_table(stats) -> Table:
    t = Table(title="trendmine ingest", show_header=True)
    for col in ("consumed", "stored", "rejected", "records/s", "lag"):
        t.add_column(col, justify="right")
    lag = ", ".join(f"{k.split('.', 1)[-1]}={v}" for k, v in sorted(stats.lag.items()) if v) or "0"
    t.add_row(
        str(stats.consumed), str(stats.stored), str(stats.rejected), f"{stats.rate:,.0f}", lag
    )
    return t


def produce(
    target: Annotated[
        str,
        typer.Argument(
            help="crm_notes, support_tickets, ideas, sales_calls, accounts or opportunities"
        ),
    ],
    files: Annotated[list[str], typer.Argument(help="Export files; - reads stdin.")],
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", help="Input format (detected when unambiguous); see `trendmine formats`."
        ),
    ] = None,
) -> None:
    """Publish vendor exports (or canonical JSON Lines) to Kafka."""
    from rich.progress import Progress

    from ingest.producer import publish_files, topic_for

    settings = get_settings()
    topic_for(target)  # a wrong target fails before anything is read
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task(f"publishing {target}", total=None)
        stats = publish_files(
            settings, target, files, fmt, on_record=lambda n: progress.advance(task, n)
        )
    console.print(
        f"{target}: published {stats.published}, rejected to the DLQ {stats.rejected} "
        + (f"({stats.too_large} over TRENDMINE_MAX_RECORD_BYTES) " if stats.too_large else "")
        + f"({stats.files} file(s))"
    )


def formats() -> None:
    """List the input formats per target."""
    from ingest import connectors

    for target in connectors.TARGETS:
        console.print(f"{target}: {', '.join(connectors.formats_for(target))}")


INGEST_CLI_FLOW = "ingest-cli"  # its flow name in pipeline_runs
RUN_ROLL_S = 3600.0  # a long-running worker closes its pipeline_runs row and opens the next


class _RunRows:
    """pipeline_runs rows for `trendmine ingest`: one per --once run; a long-running worker
    closes its row and opens the next every RUN_ROLL_S, each with the counts of its own
    span, so no row stays `running` for hours (the stuck-run alert) and the counts add up."""

    def __init__(self, settings) -> None:  # type: ignore[no-untyped-def]
        from warehouse import runs

        self.runs, self.settings = runs, settings
        self.run_id = runs.start_run(settings, INGEST_CLI_FLOW)
        self.since = time.monotonic()
        self.base: dict = {}
        self.latest = None  # the worker's stats as of its last batch

    def _counts(self, stats) -> dict:  # type: ignore[no-untyped-def]
        now = stats.as_dict()
        out = {k: v - self.base.get(k, 0) if isinstance(v, int) else v for k, v in now.items()}
        out["rejected_by_code"] = dict(
            Counter(now["rejected_by_code"]) - Counter(self.base.get("rejected_by_code", {})))
        out["in"], out["out"] = out["consumed"], out["stored"]
        return out

    def tick(self, stats) -> None:  # type: ignore[no-untyped-def]
        self.latest = stats
        if time.monotonic() - self.since < RUN_ROLL_S:
            return
        self.runs.finish_run(self.settings, self.run_id, self.runs.COMPLETED,
                             self._counts(stats))
        self.base = stats.as_dict()
        self.run_id = self.runs.start_run(self.settings, INGEST_CLI_FLOW)
        self.since = time.monotonic()

    def finish(self, stats, status: str, error: str | None = None) -> None:  # type: ignore[no-untyped-def]
        self.runs.finish_run(self.settings, self.run_id, status, self._counts(stats),
                             error=error, if_running=True)


class _ProgressLog:
    """Without a terminal: a progress line in the log every TRENDMINE_PROGRESS_INTERVAL_S
    (its numbers also as fields, for JSON logs)."""

    def __init__(self, interval: float) -> None:
        self.interval, self.last, self.consumed = interval, time.monotonic(), 0

    def __call__(self, stats, force: bool = False) -> None:  # type: ignore[no-untyped-def]
        now = time.monotonic()
        if not force and now - self.last < self.interval:
            return
        rate = (stats.consumed - self.consumed) / max(now - self.last, 1e-6)
        self.last, self.consumed = now, stats.consumed
        lag = sum(stats.lag.values())
        log.info("ingest: consumed %d, stored %d, rejected %d, %.0f records/s, lag %d",
                 stats.consumed, stats.stored, stats.rejected, rate, lag,
                 extra={"consumed": stats.consumed, "stored": stats.stored,
                        "rejected": stats.rejected, "records_per_s": round(rate, 1),
                        "lag": lag})


def ingest(
    once: Annotated[bool, typer.Option("--once", help="Drain what is there, then stop.")] = False,
) -> None:
    """Consume every topic as the `trendmine-ingest` group and land the records in Postgres.

    Without --once it runs until stopped; Ctrl-C finishes the batch in hand, commits, exits.
    Each run is recorded in pipeline_runs (flow `ingest-cli`); without a terminal, progress
    goes to the log; with TRENDMINE_METRICS_PORT, Prometheus metrics are served."""
    settings = get_settings()
    stop = threading.Event()
    signals: list[int] = []

    def on_signal(signum, _frame) -> None:  # type: ignore[no-untyped-def]
        signals.append(signum)
        stop.set()

    # the previous handlers come back at the end: `ingest` may run inside a longer process
    # (a test, a notebook) whose own Ctrl-C handling must not be left replaced
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        _ingest_until_stopped(settings, once, stop, signals)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ingest_until_stopped(settings, once: bool, stop: threading.Event,  # type: ignore[no-untyped-def]
                          signals: list[int]) -> None:
    from ingest import metrics
    from ingest.consumer import IngestStats, IngestWorker

    metrics.serve(settings)
    worker = IngestWorker(settings)
    rows = _RunRows(settings)
    stats = IngestStats()
    try:
        if console.is_terminal:
            with Live(_progress_table(stats), console=console, refresh_per_second=4,
                      transient=False) as live:
                def on_batch(s) -> None:  # type: ignore[no-untyped-def]
                    live.update(_progress_table(s))
                    rows.tick(s)

                stats = worker.run(once=once, stop=stop, on_batch=on_batch)
                live.update(_progress_table(stats))
        else:
            progress = _ProgressLog(settings.progress_interval_s)

            def on_batch(s) -> None:  # type: ignore[no-untyped-def]
                progress(s)
                rows.tick(s)

            stats = worker.run(once=once, stop=stop, on_batch=on_batch)
            progress(stats, force=True)
    except BaseException as exc:
        rows.finish(rows.latest or stats, rows.runs.FAILED, f"{type(exc).__name__}: {exc}")
        raise
    if signals:
        name = signal.Signals(signals[0]).name
        rows.finish(stats, rows.runs.CANCELLED,
                    f"stopped by {name}: the batches in hand were stored and committed")
    else:
        rows.finish(stats, rows.runs.COMPLETED)
    by_code = ", ".join(f"{k}={v}" for k, v in stats.by_code.most_common()) or "none"
    console.print(
        f"stored {stats.stored}, rejected {stats.rejected} ({by_code}); "
        f"{stats.rows_changed} rows inserted or changed"
    )


Ids = Annotated[
    list[int] | None, typer.Option("--id", help="Only this dead letter (repeat for more).")
]
Code = Annotated[str | None, typer.Option("--code", help="Only letters with this error code.")]
Topic = Annotated[str | None, typer.Option("--topic", help="Only letters from this topic.")]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Say what would happen; change nothing.")]
Format = Annotated[str, typer.Option("--format", help="table or json.")]


def _json_out(data) -> None:  # type: ignore[no-untyped-def]
    """JSON on stdout for scripts (no markup, timestamps as ISO text)."""
    typer.echo(json.dumps(data, default=lambda v: v.isoformat() if hasattr(v, "isoformat")
                          else str(v), indent=2))


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise typer.BadParameter(f"--format is table or json, not {fmt!r}")


def _list(ids: list[int] | None, code: str | None, limit: int, fmt: str) -> None:
    from ingest import dlq

    _check_format(fmt)
    letters = dlq.listing(get_settings(), code=code, ids=ids, limit=limit)
    if fmt == "json":
        _json_out({"total": letters.total, "by_code": dict(letters.by_code),
                   "letters": letters.rows})
        return
    table = Table(
        "id", "code", "stage", "origin", "reason", "bytes", "state",
        title=f"dead letters: {letters.total}",
    )
    for d in letters.rows:
        origin = (
            f"{d['source_topic']}[{d['source_partition']}]@{d['source_offset']}"
            if d["source_offset"] is not None
            else "produce"
        )
        state = (
            f"replayed {d['replayed_at']:%Y-%m-%d %H:%M}" if d["replayed_at"]
            else f"discarded {d['discarded_at']:%Y-%m-%d %H:%M}" if d["discarded_at"]
            else f"retry of {d['first_letter_id']}" if d["first_letter_id"] else ""
        )
        # Stored text is data, never markup: "[/x]" in a reason must print as written.
        table.add_row(
            str(d["dead_letter_id"]), escape(d["error_code"]), d["stage"], escape(origin),
            escape(d["reason"][:90]), str(d["value_bytes"]), state,
        )
    console.print(table)
    for c, n in letters.by_code:
        console.print(f"{escape(c)}: {n}")


@dlq_app.callback()
def dlq_default(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    code: Code = None,
    fmt: Format = "table",
) -> None:
    """The dead-letter ledger: list, show, replay and discard rejected records (without a
    command: list)."""
    if not ctx.invoked_subcommand:
        _list(None, code, limit, fmt)


@dlq_app.command("list")
def dlq_list(
    ids: Ids = None,
    code: Code = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    fmt: Format = "table",
) -> None:
    """List and count the rejected records by code (from trends.dead_letters)."""
    _list(ids, code, limit, fmt)


@dlq_app.command("show")
def dlq_show(
    ids: Annotated[list[int], typer.Option("--id", help="The dead letter (repeat for more).")],
    fmt: Format = "table",
) -> None:
    """Every fact about dead letters: reason, origin, the redacted record, whether it can be
    replayed, and its replays that failed again."""
    from ingest import dlq

    _check_format(fmt)
    rows = dlq.show(get_settings(), ids)
    if fmt == "json":
        _json_out(rows)
        return
    for row in rows:
        for name, value in row.items():
            if name != "redacted":
                console.print(f"[bold]{name}[/bold]: {escape(str(value))}")
        console.print("[bold]redacted[/bold]:")
        console.print(escape(row["redacted"] or ""), soft_wrap=True)
        console.print()


@dlq_app.command("replay")
def dlq_replay(
    ids: Ids = None,
    code: Code = None,
    topic: Topic = None,
    dry_run: DryRun = False,
    fmt: Format = "table",
) -> None:
    """Republish dead letters (their original bytes) to the topic they came from, once each,
    after the cause is fixed; `trendmine ingest` then takes them again. Exit 1 when some of
    the selected letters cannot be replayed (their bytes are gone), naming them."""
    from ingest import dlq

    _check_format(fmt)
    res = dlq.replay(get_settings(), ids=ids, code=code, topic=topic, dry_run=dry_run)
    if fmt == "json":
        _json_out(res.as_dict())
    else:
        verb = "would replay" if dry_run else "replayed"
        console.print(f"{verb} {len(res.replayed)}; {len(res.done_before)} selected were "
                      "replayed or discarded before")
        for i, why in res.unreplayable:
            console.print(f"cannot replay {i}: {escape(why)}")
        if res.unreplayable:
            console.print(f"{len(res.unreplayable)} selected dead letter(s) cannot be replayed: "
                          "`trendmine dlq discard --id ...` gives them up")
    if res.unreplayable:
        raise typer.Exit(1)


@dlq_app.command("discard")
def dlq_discard(
    ids: Ids = None,
    code: Code = None,
    topic: Topic = None,
    dry_run: DryRun = False,
    fmt: Format = "table",
) -> None:
    """Give up dead letters that will not be replayed: marked discarded, their original bytes
    dropped (the redacted copy and the reason stay). Needs --id, --code or --topic."""
    from ingest import dlq

    _check_format(fmt)
    if not (ids or code or topic):
        raise typer.BadParameter("say which letters: --id, --code or --topic")
    done = dlq.discard(get_settings(), ids=ids, code=code, topic=topic, dry_run=dry_run)
    if fmt == "json":
        _json_out({"discarded": done, "dry_run": dry_run})
    else:
        console.print(f"{'would discard' if dry_run else 'discarded'} {len(done)}")


def register(app: typer.Typer) -> None:
    app.command()(produce)
    app.command()(formats)
    app.command()(ingest)
    app.add_typer(dlq_app, name="dlq")
