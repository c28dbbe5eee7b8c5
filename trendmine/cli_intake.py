"""CLI: `trendmine intake serve` (the webhook receiver) and `trendmine intake pull`."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from foundation.config import get_settings

console = Console()
intake_app = typer.Typer(
    help="Live intake: vendor webhooks and scheduled API pulls into Kafka.",
    no_args_is_help=True,
)


@intake_app.command()
def serve(
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 8080,
    host: Annotated[
        str, typer.Option(help="Interface: 127.0.0.1 (default) or 0.0.0.0 behind a proxy.")
    ] = "127.0.0.1",
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    allow_memory_broker: Annotated[bool, typer.Option(
        help="Run on the embedded broker's in-memory storage anyway (a local trial: what it "
        "acknowledged is lost when it stops).")] = False,
) -> None:
    """Receive signed webhooks (canonical + Zendesk, Intercom, Canny, Gong, HubSpot,
    Salesforce) and answer 2xx only after the broker acknowledged every record.
    Logs are JSON lines on stderr."""
    from intake.server import on_memory_broker, serve

    settings = get_settings()
    if on_memory_broker(settings, allow_memory_broker):
        console.print("[bold red]WARNING: the embedded broker keeps records in memory; "
                      "everything acknowledged is lost when it stops.[/bold red]")
    console.print(f"[dim]trendmine intake on http://{host}:{port} (Ctrl-C stops)[/dim]",
                  highlight=False)
    serve(settings, host=host, port=port, workers=workers,
          allow_memory_broker=allow_memory_broker)


@intake_app.command()
def pull(
    source: Annotated[
        list[str] | None,
        typer.Argument(help="zendesk, intercom, canny, gong; default: every configured one."),
    ] = None,
) -> None:
    """Pull new records from vendor APIs now (what the scheduled deployments run)."""
    from flows.runtime import configure_prefect
    from intake.pulls import configured_pulls

    settings = get_settings()
    configure_prefect(settings)
    from flows.pulls import pull_flow

    names = source or configured_pulls(settings)
    if not names:
        console.print("no pull is configured (see docs/sources.md)")
        return
    for name in names:
        result = pull_flow(name)
        console.print(f"{name}: {result['records']} records in {result['pages']} pages "
                      f"({result['dead_lettered']} to the DLQ)")
