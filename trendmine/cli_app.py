"""`trendmine app serve|user`: the web app for product managers (docs/app.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from foundation.config import get_settings

console = Console()
app_app = typer.Typer(no_args_is_help=True, help="The web app: themes, who else asked, deals, "
                      "curation and decisions in the browser.")
user_app = typer.Typer(no_args_is_help=True, help="Who may sign in to the web app.")
app_app.add_typer(user_app, name="user")


@app_app.command("serve")
def serve(
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8600,
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default; put "
                                      "a TLS reverse proxy in front for others).")
                    ] = "127.0.0.1",
) -> None:
    """Serve the web app (uvicorn, one process) until Ctrl-C."""
    import psycopg
    import uvicorn

    from app.security import AppSettings
    from app.users import list_users
    from app.web import create_app
    from foundation.db import connection
    from foundation.errors import TrendmineError

    settings = get_settings()
    with connection(settings) as conn:  # a missing database fails here, as one line
        try:
            users = list_users(conn)
        except psycopg.errors.UndefinedTable:
            raise TrendmineError("the database has no web app users table yet",
                                 "run `trendmine migrate`") from None
    if not users and not AppSettings().trusted_header:
        console.print("[yellow]no users yet: add one with `trendmine app user add EMAIL "
                      "--role editor`[/yellow]")
    console.print(f"trendmine web app on http://{host}:{port}/ (Ctrl-C stops it)",
                  highlight=False)
    # proxy_headers: behind the proxy on loopback, https and the client address come through
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning",
                proxy_headers=True, server_header=False)


def _password(password_file: Path | None) -> str:
    from foundation.errors import TrendmineError

    if password_file is not None:
        try:
            return password_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise TrendmineError(f"cannot read {password_file}: {exc.strerror}",
                                 "give a readable file holding only the password") from exc
    return typer.prompt("password", hide_input=True, confirmation_prompt=True)


@user_app.command("add")
def user_add(
    email: Annotated[str, typer.Argument(help="The user's e-mail (their login name).")],
    role: Annotated[str, typer.Option(help="viewer (reads) or editor (also curates and "
                                      "decides).")] = "viewer",
    password_file: Annotated[Path | None, typer.Option(
        help="Read the password from this file (else it is asked for, not echoed).")] = None,
) -> None:
    """Add a user, or change an existing user's role and password (their sessions end).

    The password never comes from a command-line flag (shell history, `ps`)."""
    from app import users
    from foundation.db import connection

    email, role = users.normalise_email(email), users.check_role(role)
    pw = _password(password_file)
    with connection(get_settings(), autocommit=True) as conn:
        added = users.add_user(conn, email, role, pw)
    console.print(f"{'added' if added else 'updated'} {escape(email)} as {role}", highlight=False)


@user_app.command("list")
def user_list() -> None:
    """Every user and role."""
    from app import users
    from foundation.db import connection

    with connection(get_settings()) as conn:
        found = users.list_users(conn)
    for u in found:
        console.print(f"{escape(u.email)}\t{u.role}", highlight=False)
    if not found:
        console.print("no users yet: `trendmine app user add EMAIL --role editor`")


@user_app.command("remove")
def user_remove(email: Annotated[str, typer.Argument(help="The user's e-mail.")]) -> None:
    """Remove a user (their sessions end at once)."""
    from app import users
    from foundation.db import connection
    from foundation.errors import TrendmineError

    with connection(get_settings(), autocommit=True) as conn:
        if not users.remove_user(conn, email):
            raise TrendmineError(f"no user {email!r}", "see `trendmine app user list`")
    console.print(f"removed {escape(email)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(app_app, name="app")
