"""CLI: produce, ingest, dlq."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from foundation.config import get_settings

console = Console()
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


def ingest(
    once: Annotated[bool, typer.Option("--once", help="Drain what is there, then stop.")] = False,
) -> None:
    """Consume every topic as the `trendmine-ingest` group and land the records in Postgres.

    Without --once it runs until stopped; Ctrl-C finishes the batch in hand, commits, exits."""
    from ingest.consumer import IngestStats, IngestWorker

    settings = get_settings()
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    worker = IngestWorker(settings)
    with Live(
        _progress_table(IngestStats()), console=console, refresh_per_second=4, transient=False
    ) as live:
        stats = worker.run(once=once, stop=stop, on_batch=lambda s: live.update(_progress_table(s)))
        live.update(_progress_table(stats))
    by_code = ", ".join(f"{k}={v}" for k, v in stats.by_code.most_common()) or "none"
    console.print(
        f"stored {stats.stored}, rejected {stats.rejected} ({by_code}); "
        f"{stats.rows_changed} rows inserted or changed"
    )


@dlq_app.callback()
def dlq_list(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
    code: Annotated[str | None, typer.Option(help="Only this error code.")] = None,
) -> None:
    """List and count the rejected records by reason (from trends.dead_letters)."""
    if ctx.invoked_subcommand:
        return
    from ingest import dlq

    settings = get_settings()
    letters = dlq.listing(settings, code=code, limit=limit)
    table = Table(
        "code", "stage", "origin", "reason", "bytes", "replayed",
        title=f"dead letters: {letters.total}",
    )
    for d in letters.rows:
        origin = (
            f"{d['source_topic']}[{d['source_partition']}]@{d['source_offset']}"
            if d["source_offset"] is not None
            else "produce"
        )
        replayed = f"{d['replayed_at']:%Y-%m-%d %H:%M}" if d["replayed_at"] else ""
        # Stored text is data, never markup: "[/x]" in a reason must print as written.
        table.add_row(
            escape(d["error_code"]), d["stage"], escape(origin), escape(d["reason"][:90]),
            str(d["value_bytes"]), replayed,
        )
    console.print(table)
    for c, n in letters.by_code:
        console.print(f"{escape(c)}: {n}")


@dlq_app.command("replay")
def dlq_replay(
    code: Annotated[str | None, typer.Option(help="Only records rejected with this code.")] = None,
    topic: Annotated[str | None, typer.Option(help="Only records from this topic.")] = None,
) -> None:
    """Republish dead letters (their original bytes) to the topic they came from, once each,
    after the cause is fixed; `trendmine ingest` then takes them again. Those not selected
    stay replayable."""
    from ingest import dlq

    sent, skipped = dlq.replay(get_settings(), code=code, topic=topic)
    console.print(
        f"replayed {sent}, skipped {skipped} (not selected, or replayed before); "
        "the skipped ones not yet replayed stay replayable"
    )


def register(app: typer.Typer) -> None:
    app.command()(produce)
    app.command()(formats)
    app.command()(ingest)
    app.add_typer(dlq_app, name="dlq")
