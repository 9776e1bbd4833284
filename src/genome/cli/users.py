"""``genome users`` and ``genome tokens``: accounts, their roles per application, and API tokens."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from genome.cli.common import (
    TokenOption,
    UrlOption,
    UserOption,
    accounts_client,
    console,
    reporting_errors,
    when,
)

users_app = typer.Typer(help="Users and their roles per application (admins).", no_args_is_help=True)
tokens_app = typer.Typer(help="API tokens for the SDK, the CLI and scripts.", no_args_is_help=True)


@users_app.command("list")
def users_list(url: UrlOption = None, token: TokenOption = None, username: UserOption = None) -> None:
    """List users and their roles."""
    with reporting_errors(), accounts_client(url, token, username) as accounts:
        users = accounts.list_users()
    table = Table("username", "roles", "created")
    for user in users:
        roles = ", ".join(f"{app}={role}" for app, role in user["roles"].items())
        table.add_row(user["username"], roles, when(user["created"]))
    console.print(table)


def _parse_roles(pairs: list[str] | None) -> dict[str, str]:
    roles = {}
    for pair in pairs or []:
        application, sep, role = pair.rpartition("=")
        if not sep or not application:
            console.print(f"[red]error:[/red] --role {pair!r} must be written application=role, e.g. search=editor")
            raise typer.Exit(2)
        roles[application] = role
    return roles


@users_app.command("add")
def users_add(
    new_user: Annotated[str, typer.Argument(metavar="USERNAME", help="The new user's name.")],
    role: Annotated[list[str] | None, typer.Option(help="application=role, repeatable; * for all.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    username: UserOption = None,
) -> None:
    """Add a user (asks for their password)."""
    roles = _parse_roles(role)
    password = typer.prompt(f"password for {new_user}", hide_input=True, confirmation_prompt=True)
    with reporting_errors(), accounts_client(url, token, username) as accounts:
        user = accounts.create_user(new_user, password, roles)
    console.print(f"added {user['username']} with roles {user['roles'] or 'none'}")


@users_app.command("set-role")
def users_set_role(
    user: Annotated[str, typer.Argument(metavar="USERNAME")],
    application: Annotated[str, typer.Argument(help="The application, or * for all.")],
    role: Annotated[str, typer.Argument(help="viewer, editor or admin; 'none' removes the role.")],
    url: UrlOption = None,
    token: TokenOption = None,
    username: UserOption = None,
) -> None:
    """Grant a user a role in an application (or remove it with 'none')."""
    with reporting_errors(), accounts_client(url, token, username) as accounts:
        if role == "none":
            updated = accounts.remove_role(user, application)
        else:
            updated = accounts.set_role(user, application, role)
    console.print(f"{updated['username']}: {updated['roles'] or 'no roles'}")


@users_app.command("remove")
def users_remove(
    user: Annotated[str, typer.Argument(metavar="USERNAME")],
    url: UrlOption = None,
    token: TokenOption = None,
    username: UserOption = None,
) -> None:
    """Remove a user and every token they hold."""
    with reporting_errors(), accounts_client(url, token, username) as accounts:
        accounts.delete_user(user)
    console.print(f"removed {user}")


@tokens_app.command("create")
def tokens_create(
    name: Annotated[str, typer.Argument(help="What the token is for, e.g. 'laptop' or 'ci'.")],
    days: Annotated[int, typer.Option(help="Days until it expires.")] = 90,
    no_expiry: Annotated[bool, typer.Option("--no-expiry", help="Never expires (revoke it by hand).")] = False,
    owner: Annotated[str | None, typer.Option("--for", help="Admins: create it for this user.")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    username: UserOption = None,
) -> None:
    """Create an API token and print it once; use it as GENOME_TOKEN."""
    with reporting_errors(), accounts_client(url, token, username) as accounts:
        created = accounts.create_token(name, expires_in_days=None if no_expiry else days, username=owner)
    expires = when(created["expires"]) if created["expires"] else "never"
    console.print(f"token {created['name']!r} for {created['username']} (id {created['id']}, expires {expires}):")
    print(created["token"])
    console.print("[dim]It is shown only now. Export it as GENOME_TOKEN.[/dim]")


@tokens_app.command("list")
def tokens_list(
    owner: Annotated[str | None, typer.Option("--for", help="Admins: this user's tokens.")] = None,
    all_users: Annotated[bool, typer.Option("--all", help="Admins: every user's tokens.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    username: UserOption = None,
) -> None:
    """List API tokens (never their secrets)."""
    with reporting_errors(), accounts_client(url, token, username) as accounts:
        tokens = accounts.list_tokens(owner, all_users=all_users)
    table = Table("id", "name", "user", "kind", "created", "expires", "last used", "revoked")
    for item in tokens:
        table.add_row(
            item["id"],
            item["name"],
            item["username"],
            item["kind"],
            when(item["created"]),
            when(item["expires"]) if item["expires"] else "never",
            when(item["lastUsed"]) if item["lastUsed"] else "",
            when(item["revoked"]) if item["revoked"] else "",
        )
    console.print(table)


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID")],
    url: UrlOption = None,
    token: TokenOption = None,
    username: UserOption = None,
) -> None:
    """Revoke a token; it stops working at once."""
    with reporting_errors(), accounts_client(url, token, username) as accounts:
        revoked = accounts.revoke_token(token_id)
    console.print(f"revoked {revoked['name']!r} ({revoked['id']})")
