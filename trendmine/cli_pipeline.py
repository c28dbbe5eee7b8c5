"""CLI: mine, run (ingest -> mine -> trends, once) and demo (the whole story, embedded)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from trendmine.config import get_settings

console = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
    )


def _mine(settings) -> dict:
    from trendmine.mine import mine as run_mine

    with _progress() as progress:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        return run_mine(settings, progress=report)


def mine() -> None:
    """Embed new feedback, cluster the analysis window into themes with stable ids, label them."""
    counts = _mine(get_settings())
    console.print(", ".join(f"{k}={v}" for k, v in counts.items()))


def run() -> None:
    """Run the pipeline once: ingest what is on Kafka, mine themes, rebuild trend tables."""
    from ingest.consumer import IngestWorker
    from trendmine.db import connection
    from trendmine.trends import rebuild_trends

    settings = get_settings()
    t0 = time.perf_counter()
    stats = IngestWorker(settings).run(once=True)
    console.print(f"ingest: stored {stats.stored}, rejected {stats.rejected}")
    counts = _mine(settings)
    console.print("mine: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    with connection(settings, autocommit=True) as conn:
        trend = rebuild_trends(conn, settings)
    console.print(f"trends: {trend.get('trend_rows')} rows, {trend.get('emerging')} emerging")
    console.print(f"[dim]pipeline done in {time.perf_counter() - t0:.0f}s[/dim]")


def demo(
    feedback: Annotated[int, typer.Option(help="Feedback records to generate.")] = 20000,
    accounts: Annotated[int, typer.Option(help="Accounts to generate.")] = 240,
    weeks: Annotated[int, typer.Option(help="Weeks of history.")] = 16,
    seed: Annotated[int, typer.Option(help="Seed of the generated world.")] = 7,
    out: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path(
        "trendmine-report.html"
    ),
) -> None:
    """Generate a B2B SaaS world in vendor export formats, publish it through Kafka, run the
    pipeline on the embedded stack, and show the emerging themes and the report."""
    from datetime import UTC, datetime

    from ingest.producer import publish_files
    from trendmine import stack
    from trendmine.db import connection, public_url
    from trendmine.demo import generate_world, write_world
    from trendmine.report import write_report

    settings = get_settings()
    t0 = time.perf_counter()
    stack.up(settings)
    world = generate_world(
        seed=seed, n_accounts=accounts, n_feedback=feedback, weeks=weeks, end=datetime.now(UTC)
    )
    files = write_world(world, settings.data_dir / "demo-world")
    published = rejected = 0
    order = ["accounts", "opportunities", "crm_notes", "support_tickets", "ideas", "sales_calls"]
    for target in sorted(files, key=lambda t: order.index(t) if t in order else 99):
        for path in files[target]:
            s = publish_files(settings, target, [str(path)])
            published += s.published
            rejected += s.rejected
    console.print(
        f"published {published} records from vendor exports "
        f"({rejected} unparseable, sent to the DLQ)"
    )
    run()
    from trendmine.queries import emerging

    with connection(settings, autocommit=True) as conn:
        rows = emerging(conn, 5)
        write_report(conn, out, settings)
    console.print("[bold]Top emerging themes[/bold]")
    for r in rows:
        console.print(f"  {r}")
    console.print(f"report: {out.resolve()} (open it in a browser; no network needed)")
    console.print(f"BI tools: {public_url(settings)} (read-only role: trendmine bi-role create)")
    console.print(f"[dim]demo done in {time.perf_counter() - t0:.0f}s[/dim]")


def eval_(
    dataset: Annotated[Path, typer.Option(help="Labelled CSV file.")],
    text_col: Annotated[str, typer.Option(help="Text column.")] = "text",
    label_col: Annotated[str, typer.Option(help="Label column.")] = "intent",
    compare: Annotated[
        list[str] | None, typer.Option(help="Also run: bertopic.")
    ] = None,
) -> None:
    """Run the same mining on a labelled CSV: NMI, ARI, noise share, number of themes."""
    from rich.table import Table

    from mining import Embedder
    from mining.evaluate import compare as run_compare
    from mining.evaluate import load_labelled_csv
    from trendmine.errors import TrendmineError

    settings = get_settings()
    try:
        texts, labels = load_labelled_csv(dataset, text_col, label_col)
        embeddings = Embedder(model=settings.embedding_model).encode(texts, show_progress=True)
        rows = run_compare(texts, labels, embeddings, compare_with=tuple(compare or ()))
    except ValueError as exc:
        raise TrendmineError(str(exc)) from exc
    table = Table(*rows[0].keys(), title=f"{dataset.name}: {len(texts)} items")
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_)
    app.command()(mine)
    app.command()(run)
    app.command()(demo)
