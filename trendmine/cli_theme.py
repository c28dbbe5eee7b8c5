"""`trendmine theme ...`: one theme's detail (`theme ID`) and the commands that act
on a theme. Other modules add their subcommands to `theme_app` (curation, decisions).
"""

from __future__ import annotations

import click
import typer
from typer.core import TyperGroup


class _ThemeGroup(TyperGroup):
    """`trendmine theme 12` is short for `trendmine theme show 12`."""

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


theme_app = typer.Typer(
    cls=_ThemeGroup,
    no_args_is_help=True,
    help="One theme: `theme ID` shows it; the subcommands act on it.",
)
