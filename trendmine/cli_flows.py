"""CLI: `run` (the pipeline flow once), `serve` (the scheduled deployments) and `demo`.

Prefect is imported only inside these commands, after `configure_prefect` has set its
offline defaults (local API state under the trendmine data dir, no analytics).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from flows.runtime import configure_prefect, reporting, running_with
from foundation.config import Settings, get_settings

console = Console()
# 8,000 records keep the cold demo under 4 minutes on 2 cores (embedding dominates, ~70
# snippets/s for the demo's ~45-token snippets) and still find both planted emerging themes
DEMO_FEEDBACK = 8000
DEMO_ORDER = ("accounts", "opportunities", "crm_notes", "support_tickets", "ideas", "sales_calls")
STAGE_LABELS = {  # progress stages reported by the tasks (and by warehouse.mine)
    "ingest": "ingest Kafka -> Postgres",
    "split": "split into snippets",
    "embed": "embed new feedback",
    "reduce": "reduce dimensions",
    "cluster": "cluster into themes",
    "outliers": "assign outliers",
    "match": "match stable theme ids",
    "label": "label themes",
    "write": "write themes",
    "trends": "rebuild trend tables",
    "report": "write the HTML report",
}


def _stage_counts(result: dict[str, Any]) -> str:
    parts = []
    for stage, c in result["counts"].items():
        parts.append(f"{stage}: in {c.get('in')}, out {c.get('out')}")
    return "; ".join(parts)


# ---------------------------------------------------------------------------- run


def run(
    report: Annotated[Path | None, typer.Option(
        help="Where to write the HTML report (default: <data dir>/trendmine-report.html)."
    )] = None,
) -> None:
    """Run the pipeline flow once: ingest -> mine -> trends -> report.

    Against the configured stack; the run is recorded in trends.pipeline_runs and as a
    Prefect flow run (with a markdown artifact of the top emerging themes)."""
    settings = get_settings()
    configure_prefect(settings)  # Prefect's own INFO logs stay on: this is the operator's view
    from flows.pipeline import pipeline_flow

    t0 = time.perf_counter()
    with running_with(settings, report):
        result = pipeline_flow()
    console.print(f"pipeline run {result['run_id']} completed: {_stage_counts(result)}")
    console.print(f"report: {result['report_path']}")
    console.print(f"[dim]pipeline done in {time.perf_counter() - t0:.0f}s[/dim]")


# ---------------------------------------------------------------------------- serve


def serve() -> None:
    """Serve the scheduled deployments in this process until Ctrl-C.

    ingest on TRENDMINE_INGEST_CRON (every minute), mine + trends + report on
    TRENDMINE_MINE_CRON (hourly), and `pipeline/on-demand`. Without PREFECT_API_URL a local
    Prefect server (scheduler and UI) is started on 127.0.0.1:TRENDMINE_PREFECT_PORT."""
    from flows.deployments import (
        SERVER_PID_NAME,
        ServeLock,
        start_local_server,
        stop_local_server,
    )
    from ingest import metrics

    settings = get_settings()
    home = configure_prefect(settings)
    lock = ServeLock(settings.data_dir).acquire()  # one serve per data dir: refuse a second
    metrics.start_multiprocess(settings)  # before any flow subprocess starts
    metrics.serve(settings)
    server = None
    server_dir = home or settings.data_dir / "prefect"
    try:
        if not os.environ.get("PREFECT_API_URL"):
            log = server_dir / "server.log"
            with console.status(f"starting a local Prefect server (log: {log})..."):
                server, api_url = start_local_server(settings, log)
            os.environ["PREFECT_API_URL"] = api_url  # before prefect is imported below
        _serve_deployments(settings, lock)
    finally:
        if server is not None:
            stop_local_server(server, server_dir / SERVER_PID_NAME)
        lock.release()


def _serve_deployments(settings: Settings, lock: Any) -> None:
    from flows.deployments import INGEST, MINE_TRENDS, ON_DEMAND, serve_forever

    api = os.environ["PREFECT_API_URL"]
    console.print(f"Prefect API: {api}  (UI: {api.removesuffix('/api')})")
    every = (f"every {settings.ingest_interval_s:g} s" if settings.ingest_interval_s
             else f"cron {settings.ingest_cron!r}")
    console.print(f"  {INGEST:<22} {every}")
    console.print(f"  {MINE_TRENDS:<22} cron {settings.mine_cron!r}")
    console.print(f"  {ON_DEMAND:<22} run it: prefect deployment run {ON_DEMAND}")
    console.print("serving; Ctrl-C or SIGTERM stops (a run in progress is cancelled and marked "
                  "so; offsets follow the database commit, so nothing is lost)")
    serve_forever(settings, lock)


# ---------------------------------------------------------------------------- demo


@dataclass
class DemoResult:
    produced: int  # records read from the vendor export files
    published: int  # of those, sent to the feedback / CRM topics
    unparseable: int  # of those, sent straight to the DLQ by produce
    stored: int  # consumed by ingest and stored in Postgres
    rejected: int  # consumed by ingest and sent to the DLQ
    run_id: int
    report_path: Path
    emerging: list[dict[str, Any]]
    world: Any
    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)  # the pipeline's, per stage


class _StageProgress:
    """One progress row per stage; a new stage completes the one before it."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.rows: dict[str, TaskID] = {}
        self.current: str | None = None
        self.totals: dict[str, int] = {}

    def start(self, key: str, label: str, total: int | None = None) -> None:
        self.finish_current()
        self.rows[key] = self.progress.add_task(label, total=total, info="")
        self.current = key

    def finish_current(self) -> None:
        if self.current is not None:
            row = self.rows[self.current]
            task = self.progress.tasks[self.progress.task_ids.index(row)]
            self.progress.update(row, total=task.total or max(task.completed, 1),
                                 completed=task.total or max(task.completed, 1))
            self.current = None

    def __call__(self, stage: str, done: int, total: int | None) -> None:
        total = self.totals.get(stage, total)
        if total == 0:  # nothing to do in this stage: show it as done, not 0%
            done = total = 1
        if stage != self.current:
            self.start(stage, STAGE_LABELS.get(stage, stage), total)
        info = f"{done:,}" + (f" / {total:,}" if total else "")
        self.progress.update(self.rows[stage], completed=done, total=total, info=info)


def _progress() -> Progress:
    return Progress(SpinnerColumn(), TextColumn("{task.description:<28}"), BarColumn(),
                    TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=console)


class _PrefectStart:
    """Starts Prefect's API (the local ephemeral one, or a check of PREFECT_API_URL) in a
    thread, so its start-up overlaps stack start, generation and publishing instead of
    being paid before the first flow call."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._start, name="prefect-start", daemon=True)
        self._thread.start()

    def _start(self) -> None:
        t = time.perf_counter()
        try:
            from prefect.client.orchestration import get_client

            with get_client(sync_client=True) as client:
                client.api_healthcheck()
        except BaseException as exc:  # re-raised in the main thread by wait()
            self.error = exc
        self.seconds = time.perf_counter() - t

    def wait(self) -> None:
        self._thread.join()
        if self.error is not None:
            raise self.error


def _import_embedding_libraries() -> None:
    import sentence_transformers  # noqa: F401


def run_demo(settings: Settings, *, feedback: int, accounts: int, weeks: int, seed: int,
             out: Path, top: int = 5) -> DemoResult:
    """Generate, publish through the produce path, run the pipeline flow; with progress."""
    from demoworld import generate_world, write_world
    from infra import stack
    from ingest.producer import publish_files

    seconds: dict[str, float] = {}
    api = _PrefectStart()  # 10-30 s of Prefect's own start-up, overlapped with the next stages
    with _progress() as progress:
        stages = _StageProgress(progress)
        t = time.perf_counter()
        stages.start("up", "start the embedded stack")
        stack.up(settings)
        seconds["up"] = time.perf_counter() - t

        t = time.perf_counter()
        stages.start("world", f"generate {feedback:,} records")
        world = generate_world(seed=seed, n_accounts=accounts, n_feedback=feedback,
                               weeks=weeks, end=datetime.now(UTC))
        files = write_world(world, settings.data_dir / "demo-world")
        seconds["generate"] = time.perf_counter() - t

        t = time.perf_counter()
        targets = sorted(files, key=lambda x: DEMO_ORDER.index(x) if x in DEMO_ORDER else 99)
        stages.start("publish", "publish exports to Kafka", len(targets))
        row = stages.rows["publish"]
        published = unparseable = seen = 0

        def one_record(n: int) -> None:
            nonlocal seen
            seen += n
            if seen % 500 == 0:
                progress.update(row, info=f"{seen:,} records")

        for target in targets:  # one producer per target, as `trendmine produce` would
            s = publish_files(settings, target, [str(p) for p in files[target]],
                              on_record=one_record)
            published += s.published
            unparseable += s.rejected
            progress.advance(row)
        progress.update(row, info=f"{seen:,} records")
        seconds["publish"] = time.perf_counter() - t

        t = time.perf_counter()
        stages.start("prefect", "start Prefect's local API")
        # Its start runs in a subprocess: meanwhile this process imports the embedding
        # libraries (~8 s of torch and sentence-transformers) that the mine stage needs.
        threading.Thread(target=_import_embedding_libraries, daemon=True).start()
        api.wait()
        from flows.pipeline import pipeline_flow

        seconds["prefect_start"] = api.seconds  # started with the stack; waited for:
        seconds["prefect_wait"] = time.perf_counter() - t

        t = time.perf_counter()
        stages.totals["ingest"] = published  # every published message is consumed once
        with reporting(stages), running_with(settings, out):
            result = pipeline_flow()
        stages.finish_current()
        seconds["pipeline"] = time.perf_counter() - t

    from foundation.db import connection
    from report.summary import top_emerging

    with connection(settings, autocommit=True) as conn:
        emerging = top_emerging(conn, top)
    ingest = result["counts"]["ingest"]
    return DemoResult(
        produced=published + unparseable, published=published, unparseable=unparseable,
        stored=ingest["stored"], rejected=ingest["rejected"], run_id=result["run_id"],
        report_path=Path(result["report_path"]), emerging=emerging, world=world,
        seconds=seconds, counts=result["counts"],
    )


def _print_emerging(rows: list[dict[str, Any]]) -> None:
    from report.summary import evidence_line, money

    if not rows:
        console.print("No theme rises faster than its own history explains.")
        return
    table = Table(title="Top emerging themes", title_justify="left", show_lines=False)
    for col, justify in (("#", "right"), ("theme", "left"), ("accounts", "right"),
                         ("ARR", "right"), ("open pipeline", "right"), ("lift", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        new = " [red](new)[/red]" if r["is_new"] else ""
        table.add_row(str(r["rank"]), f"{escape(r['label'])}{new}", str(r["accounts"]),
                      money(r["arr"]), money(r["pipeline"]),
                      f"{r['lift']:.1f}x" if r.get("lift") else "-")
    console.print(table)
    for r in rows:
        console.print(f"[bold]{r['rank']}. {escape(r['label'])}[/bold]: "
                      f"{escape(evidence_line(r))}",
                      highlight=False)
        for q in r["quotes"]:
            console.print(f'   [dim]"{escape(q)}"[/dim]', highlight=False)


def prefect_hint(home: Path, port: int) -> str:
    """How to browse a finished demo's flow runs: its Prefect home, on the configured port."""
    return (f"PREFECT_HOME={home} prefect server start --port {port}  "
            f"(then http://127.0.0.1:{port})")


def demo(
    feedback: Annotated[int, typer.Option(
        help="Feedback records to generate (20000: a fuller world, ~2.5x the time)."
    )] = DEMO_FEEDBACK,
    accounts: Annotated[int, typer.Option(help="Accounts to generate.")] = 240,
    weeks: Annotated[int, typer.Option(help="Weeks of history.")] = 16,
    seed: Annotated[int, typer.Option(help="Seed of the generated world.")] = 7,
    out: Annotated[Path, typer.Option(help="Where to write the HTML report.")] = Path(
        "trendmine-report.html"
    ),
    verbose: Annotated[bool, typer.Option(help="Show Prefect's own logs too.")] = False,
) -> None:
    """The whole story on the embedded stack: generate, publish, run the pipeline, show.

    Generates a B2B SaaS world in the vendors' export formats, publishes it through Kafka,
    runs the pipeline flow, prints the top emerging themes with their evidence, writes the
    HTML report and says how to open it and how to connect a BI tool."""
    from demoworld.world import check_parameters
    from foundation.db import public_url
    from foundation.errors import TrendmineError

    try:  # before anything starts: a bad flag must leave nothing running
        check_parameters(accounts, feedback, weeks)
    except ValueError as exc:
        raise TrendmineError(f"demo: {exc}", "see `trendmine demo --help`") from None
    settings = get_settings()
    # Prefect's console logs would drown the progress display; the run is still logged to
    # its API (browse it with `prefect server start`, see below)
    home = configure_prefect(settings, console_level=None if verbose else "CRITICAL")
    if not verbose:  # the model's own "Loading weights" bar would break the progress display
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    t0 = time.perf_counter()
    res = run_demo(settings, feedback=feedback, accounts=accounts, weeks=weeks, seed=seed,
                   out=out)
    console.print(
        f"{res.produced:,} records in the vendor exports: {res.published:,} published to "
        f"Kafka, {res.unparseable} unparseable sent to the DLQ; ingest stored "
        f"{res.stored:,} and rejected {res.rejected} to the DLQ "
        f"({res.stored + res.rejected + res.unparseable:,} accounted for)", highlight=False)
    console.print()
    _print_emerging(res.emerging)
    console.print()
    console.print(f"[bold]Report:[/bold] {res.report_path}", highlight=False)
    console.print(f"  open it in a browser (offline): xdg-open {res.report_path}  "
                  f"or {res.report_path.as_uri()}", highlight=False)
    console.print(f"[bold]BI tools[/bold] (Metabase, Superset, Tableau): Postgres at "
                  f"{public_url(settings)}, schema [bold]trends[/bold]", highlight=False)
    console.print("  a read-only login for them: trendmine bi-role create   "
                  "(views and columns: docs/data-dictionary.md)")
    console.print(f"[bold]This run:[/bold] trends.pipeline_runs run_id {res.run_id}; "
                  "explore it with trendmine trends / emerging / theme ID", highlight=False)
    if home is not None:
        console.print("  Prefect flow runs, logs and the emerging-themes artifact: "
                      + prefect_hint(home, settings.prefect_port),
                      highlight=False)
    console.print(f"[dim]demo done in {time.perf_counter() - t0:.0f}s (stack "
                  f"{res.seconds['up']:.0f}s, generate {res.seconds['generate']:.0f}s, "
                  f"publish {res.seconds['publish']:.0f}s, Prefect start "
                  f"{res.seconds['prefect_start']:.0f}s in the background (waited "
                  f"{res.seconds['prefect_wait']:.0f}s), pipeline "
                  f"{res.seconds['pipeline']:.0f}s)[/dim]")
    mined = res.counts.get("mine", {})
    if mined.get("stage_seconds"):
        console.print("[dim]mining: " + ", ".join(
            f"{k} {v:.0f}s" for k, v in mined["stage_seconds"].items())
            + f" ({mined.get('embedded', 0):,} snippets embedded)[/dim]", highlight=False)


def register(app: typer.Typer) -> None:
    app.command()(run)
    app.command()(serve)
    app.command()(demo)
