"""CLI: mine and eval; `run`, `serve` and `demo` (the Prefect flows) live in cli_flows."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from foundation.config import get_settings

console = Console()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
    )


# The stages in the order a run meets them (full: reduce..match; incremental: assign).
MINE_STAGES = ("split", "embed", "assign", "reduce", "cluster", "outliers", "label", "match",
               "write")


def _mine(settings, mode: str | None = None) -> dict:
    from warehouse.mine import mine as run_mine

    with _progress() as progress:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int | None) -> None:
            if total == 0:  # nothing to do in this stage: show it as done, not 0%
                done = total = 1
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=total)
            progress.update(tasks[stage], completed=done, total=total)

        return run_mine(settings, progress=report, mode=mode)


def mine_summary(counts: dict) -> Table:
    """The end-of-run summary: what was done, how much, and where the time went."""
    table = Table(title=f"mine: {counts.get('mode', '?')} run ({counts.get('mode_reason', '')})",
                  show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = (
        ("records (re)split", "split"), ("snippets embedded now", "embedded"),
        ("snippets considered", "snippets"), ("assigned to a theme", "assigned"),
        ("left unassigned", "unassigned"), ("noise share", "noise_share"),
        ("active themes", "themes"), ("new themes (births)", "births"), ("merged", "merged"),
        ("retired", "retired"), ("themes touched", "themes_touched"),
        ("UMAP layout", "layout"),
    )
    for label, key in rows:
        if key in counts:
            table.add_row(label, str(counts[key]))
    stages = counts.get("stage_seconds") or {}
    timing = ", ".join(f"{s} {stages[s]:.1f}s" for s in MINE_STAGES if s in stages)
    table.add_row("time", f"{counts.get('seconds', 0):.1f}s" + (f" ({timing})" if timing else ""))
    return table


def mine(
    full: Annotated[bool, typer.Option("--full", help="Re-cluster the whole window.")] = False,
    incremental: Annotated[bool, typer.Option(
        "--incremental", help="Only attach new snippets to existing themes.")] = False,
    new_layout: Annotated[bool, typer.Option(
        "--new-layout", help="Re-cluster on a freshly fitted UMAP layout (full runs otherwise "
        "reuse the last one while the new snippets fit it).")] = False,
) -> None:
    """Embed new feedback and assign it to themes with stable ids: a full re-clustering when
    needed (no themes yet, many unassigned snippets, old themes), else incremental."""
    from foundation.errors import TrendmineError

    if incremental and (full or new_layout):
        raise TrendmineError("--incremental excludes --full and --new-layout", "pick one")
    mode = "full" if full or new_layout else "incremental" if incremental else None
    settings = get_settings()
    if new_layout:
        settings = settings.model_copy(update={"layout_reuse": False})
    counts = _mine(settings, mode)
    console.print(mine_summary(counts))


def eval_(
    dataset: Annotated[Path, typer.Option(help="Labelled CSV file.")],
    text_col: Annotated[str, typer.Option(help="Text column.")] = "text",
    label_col: Annotated[str, typer.Option(help="Label column.")] = "intent",
    compare: Annotated[
        list[str] | None, typer.Option(help="Also run: bertopic.")
    ] = None,
    drop_label: Annotated[
        list[str] | None,
        typer.Option(help="Leave out items with this label (e.g. oos: clinc150 in-scope)."),
    ] = None,
    labels: Annotated[bool, typer.Option(
        "--labels", help="Also label the themes and score the labels against the label "
        "names (nearest name = the theme's majority label), with the embedding model.")] = False,
    unnamed: Annotated[
        list[str] | None,
        typer.Option(help="With --labels: a label that has no name (e.g. oos); themes it "
                     "makes most of are left out of label_acc."),
    ] = None,
) -> None:
    """Run the same mining on a labelled CSV: NMI, ARI, noise share, number of themes; with
    --labels, label accuracy, labels found in a member text, labels of 2-6 words and the
    candidate pool's ceiling."""
    from foundation.errors import TrendmineError
    from mining import Embedder
    from mining.evaluate import compare as run_compare
    from mining.evaluate import load_labelled_csv

    if unnamed and not labels:
        raise TrendmineError("--unnamed only applies to label scores", "add --labels")
    settings = get_settings()
    try:
        texts, truth = load_labelled_csv(dataset, text_col, label_col)
        if drop_label:
            kept = [(t, y) for t, y in zip(texts, truth, strict=True) if y not in drop_label]
            texts, truth = [t for t, _ in kept], [y for _, y in kept]
        embedder = Embedder(model=settings.embedding_model)
        embeddings = embedder.encode(texts, show_progress=True)
        rows = run_compare(texts, truth, embeddings, compare_with=tuple(compare or ()),
                           encoder=embedder if labels else None, unnamed=tuple(unnamed or ()))
    except ValueError as exc:
        raise TrendmineError(str(exc)) from exc
    cluster_cols = [k for k in rows[0] if not k.startswith("label")]
    console.print(_table(f"{dataset.name}: {len(texts)} items", rows, cluster_cols))
    if labels:
        label_cols = ["method", *(k for k in rows[0] if k.startswith("label"))]
        console.print(_table("labels (label_acc: the label's nearest label name is the "
                             "theme's majority label, size-weighted)", rows, label_cols))


def _table(title: str, rows: list[dict], cols: list[str]) -> Table:
    table = Table(*cols, title=title)
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v)
                        for v in (row.get(c, "") for c in cols)))
    return table


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_)
    app.command()(mine)
    from trendmine import cli_flows  # run, serve, demo: the Prefect flows

    cli_flows.register(app)
