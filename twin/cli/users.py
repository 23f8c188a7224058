"""``twin users``: the dashboard's users and their roles (energy manager or read-only viewer)."""

from __future__ import annotations

import getpass
import sys
from typing import Annotated

import typer

from twin.cli.common import app
from twin.core.errors import ConfigError

users_app = typer.Typer(
    help="The dashboard's users (DATA_ROOT/dashboard-users.json): add, list, remove.", no_args_is_help=True
)
app.add_typer(users_app, name="users")


@users_app.command("add")
def users_add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="User name (one word).")],
    role: Annotated[
        str, typer.Option("--role", help="manager (sees and changes everything) or viewer (read-only).")
    ] = "manager",
) -> None:
    """Add a user or set a user's password and role; the password is asked for (or read from stdin), stored hashed."""
    from dashboard.auth import add_user

    password = _read_password()
    path = add_user(ctx.obj["data_root"], name, password, role)
    print(f"{name} ({role}) saved in {path}")


@users_app.command("list")
def users_list(ctx: typer.Context) -> None:
    """The users and their roles (never the passwords)."""
    from dashboard.auth import list_users

    for name, role in list_users(ctx.obj["data_root"]).items():
        print(f"{name}\t{role}")


@users_app.command("remove")
def users_remove(ctx: typer.Context, name: Annotated[str, typer.Argument(help="User name.")]) -> None:
    """Remove a user (not the last one)."""
    from dashboard.auth import remove_user

    path = remove_user(ctx.obj["data_root"], name)
    print(f"{name} removed from {path}")


def _read_password() -> str:
    """The new password: asked twice on a terminal, else the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise ConfigError("the two passwords differ", field="password")
        return first
    line = sys.stdin.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise ConfigError("no password on stdin (give it as the first line)", field="password")
    return password
