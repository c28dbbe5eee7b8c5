"""The `trendmine` command line (Typer). Every command has --help.

Errors a user can meet are TrendmineError: printed as one line, exit code 1.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from foundation.config import describe, get_settings, numba_cache_dir, settings_error
from foundation.errors import TrendmineError
from foundation.secrets import scrub

app = typer.Typer(
    help="trendmine: customer feedback from every silo, turned into revenue-weighted trends.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
topics_app = typer.Typer(help="Kafka topics: create or list them.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")

console = Console()
err_console = Console(stderr=True)


@app.callback()
def _global(
    data_dir: Annotated[
        Path | None, typer.Option(help="Embedded stack state (env TRENDMINE_DATA_DIR).")
    ] = None,
) -> None:
    if data_dir is not None:
        os.environ["TRENDMINE_DATA_DIR"] = str(data_dir)
    settings = get_settings(fresh=True)  # a bad setting fails here, as one line
    from foundation import logs

    logs.configure(settings.log_level, settings.log_format, settings.secret_values())
    # numba (UMAP) compiles on first use in every process unless it finds its on-disk cache
    os.environ.setdefault("NUMBA_CACHE_DIR", str(numba_cache_dir()))


def _settings():
    return get_settings()


@app.command()
def up(
    pg_port: Annotated[int | None, typer.Option(help="Embedded Postgres port.")] = None,
    kafka_port: Annotated[int | None, typer.Option(help="Embedded broker port.")] = None,
) -> None:
    """Start the embedded Postgres + broker (in the background, loopback only), create the
    database, apply migrations and create the topics. Safe to run twice."""
    from foundation.config import embedded_password_file
    from foundation.db import public_url
    from infra import stack

    if pg_port:
        os.environ["TRENDMINE_PG_PORT"] = str(pg_port)
    if kafka_port:
        os.environ["TRENDMINE_KAFKA_PORT"] = str(kafka_port)
    settings = get_settings(fresh=True)
    t0 = time.perf_counter()
    with console.status("starting the stack..."):
        report = stack.up(settings)
    for name, started in report.started.items():
        console.print(f"{name}: {'started' if started else 'already running'}")
    if report.database_created:
        console.print(f"database {settings.database_name}: created")
    console.print(f"migrations applied: {', '.join(report.migrations) or 'none pending'}")
    console.print(f"topics created: {len(report.topics_created)}")
    console.print(f"[bold]Postgres (BI tools):[/bold] {public_url(settings)}")
    if settings.embedded_db:  # scram-sha-256; the password is never printed
        console.print(f"  its password: {embedded_password_file(settings.data_dir)} (mode 0600)",
                      highlight=False)
    console.print(f"[bold]Kafka bootstrap:[/bold]    {settings.bootstrap()}")
    if settings.embedded_kafka:
        console.print(
            "[dim]The embedded broker keeps messages in memory: local use only.[/dim]"
        )
    console.print(f"[dim]ready in {time.perf_counter() - t0:.1f}s[/dim]")


@app.command()
def down() -> None:
    """Stop the embedded Postgres and broker (data in Postgres is kept)."""
    from infra import stack

    for name, stopped in stack.down(_settings()).items():
        console.print(f"{name}: {'stopped' if stopped else 'was not running'}")


@app.command()
def status() -> None:
    """What is running, on which ports, the schema version and topic offsets."""
    from infra import stack

    report = stack.status(_settings())
    for s in report.services:
        state = f"running (pid {s.pid})" if s.running else "stopped"
        extra = f" [yellow]{s.detail}[/yellow]" if s.detail else ""
        console.print(f"{s.name}: {state} on 127.0.0.1:{s.port}{extra}")
    console.print(f"database: {report.database}")
    if report.database_error:
        console.print(f"  [red]{report.database_error}[/red]")
    else:
        pend = f", pending: {', '.join(report.pending)}" if report.pending else ""
        console.print(f"  schema version: {report.schema_version}{pend}")
        if not report.pending:
            from foundation.db import connection
            from warehouse.accounts import unresolved_summary

            with connection(_settings(), autocommit=True) as conn:
                console.print(f"  feedback on no CRM account: {unresolved_summary(conn)}")
    if report.kafka_error:
        console.print(f"kafka: [red]{report.kafka_error}[/red]")
    else:
        table = Table("topic", "partitions", "end offset", "committed", "lag", title="topics")
        for t in report.topics:
            table.add_row(
                t.topic,
                str(t.partitions),
                str(t.end_offset),
                "-" if t.committed is None else str(t.committed),
                "-" if t.lag is None else str(t.lag),
            )
        console.print(table)
        if _settings().embedded_kafka:
            console.print("[dim]offsets on the embedded broker may be approximate[/dim]")
    failing = [s.name for s in report.services if not s.running]
    failing += ["database"] * bool(report.database_error) + ["kafka"] * bool(report.kafka_error)
    if failing:  # non-zero, so a health check can run `trendmine status`
        err_console.print(f"unhealthy: {', '.join(dict.fromkeys(failing))} (run `trendmine up`, "
                          "or check TRENDMINE_DATABASE_URL / TRENDMINE_KAFKA_BOOTSTRAP)")
        raise typer.Exit(1)


@app.command()
def config() -> None:
    """Show the effective configuration (secrets masked)."""
    table = Table("variable", "value", "meaning")
    for row in describe(_settings()):
        table.add_row(*row)
    console.print(table)


@app.command()
def migrate() -> None:
    """Apply pending schema migrations to the configured Postgres."""
    from infra.stack import migrate_database

    done = migrate_database(_settings())
    console.print(f"migrations applied: {', '.join(done) or 'none pending'}")


@app.command()
def doctor() -> None:
    """Check the configured stack end to end: Postgres and pgvector, migrations, topics and
    lag, the Prefect API, the embedding model. Exits 1 when a check fails."""
    from infra.doctor import run_checks

    failed = 0
    for check in run_checks(_settings()):
        mark = "[green]ok[/green]  " if check.ok else "[red]FAIL[/red]"
        fix = f"  [yellow]-> {escape(check.fix)}[/yellow]" if check.fix and not check.ok else ""
        console.print(f"{mark} {check.name}: {escape(check.detail)}{fix}", highlight=False)
        failed += not check.ok
    if failed:
        raise typer.Exit(1)


@topics_app.command("create")
def topics_create() -> None:
    """Create every trendmine topic that is missing on the configured Kafka."""
    from ingest.kafka import create_topics

    created = create_topics(_settings())
    console.print(f"topics created: {', '.join(created) or 'none (all exist)'}")


@topics_app.command("list")
def topics_list() -> None:
    """List trendmine topics with offsets."""
    from ingest.kafka import topic_offsets

    for t in topic_offsets(_settings()):
        console.print(f"{t.topic}\tpartitions={t.partitions}\tend={t.end_offset}")


def _register_commands() -> None:
    from trendmine import cli_curate, cli_ingest, cli_pipeline, cli_read, cli_sales, cli_taxonomy

    cli_ingest.register(app)
    cli_pipeline.register(app)
    cli_read.register(app)
    cli_sales.register(app)
    cli_curate.register(app)
    cli_taxonomy.register(app)
    from trendmine import cli_accounts, cli_alerts, cli_app
    from trendmine.cli_intake import intake_app

    cli_accounts.register(app)
    cli_alerts.register(app)
    cli_app.register(app)
    app.add_typer(intake_app, name="intake")


_register_commands()


def _known_secrets() -> list[str]:
    """Secret values that must never reach the terminal (read without failing)."""
    try:
        settings = get_settings()
    except Exception:  # settings that do not load have no secret to hide yet
        return []
    return settings.secret_values()


def _fail(message: str) -> None:
    err_console.print(
        f"[red]error:[/red] {escape(scrub(message, _known_secrets()))}",
        highlight=False, soft_wrap=True,
    )
    sys.exit(1)


def main() -> None:
    try:
        app()
    except TrendmineError as exc:
        _fail(str(exc))
    except ValidationError as exc:  # a TRENDMINE_* variable that does not parse
        _fail(settings_error(exc))
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)
    except Exception as exc:  # an unexpected failure still gets one line, unless debugging
        if os.environ.get("TRENDMINE_DEBUG"):
            raise
        _fail(
            f"unexpected {type(exc).__name__}: {exc} "
            "(set TRENDMINE_DEBUG=1 for the traceback, and please report it)"
        )


if __name__ == "__main__":
    main()
