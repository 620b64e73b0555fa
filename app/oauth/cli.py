"""``flask clients …``: register and manage the vendor applications (OAuth clients)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from app.exchange import access
from app.services import clients as service


def _show(client: service.ClientInfo) -> None:
    click.echo(f"client_id:     {client.client_id}")
    click.echo(f"name:          {client.name}")
    click.echo(f"type:          {'public (PKCE, no secret)' if client.public else 'confidential'}")
    click.echo(f"redirect_uris: {' '.join(client.redirect_uris)}")
    click.echo(f"scope:         {' '.join(client.scope)}")
    click.echo(f"grant_types:   {' '.join(client.grant_types)}")
    if client.logo_url:
        click.echo(f"logo_url:      {client.logo_url}")


def _vendor_link(client: service.ClientInfo) -> str:
    from app.oauth.views import vendor_page_token

    base = str(current_app.config["PUBLIC_URL"]).rstrip("/")
    return f"{base}/oauth/vendor/{client.client_id}?sig={vendor_page_token(client)}"


def _print_secret(secret: str | None) -> None:
    if secret:
        click.echo(f"client_secret: {secret}")
        click.echo("Store the secret now: it is kept only as a hash and cannot be shown again.")


#: ``flask clients``; AppGroup runs every command inside the app context.
clients = AppGroup("clients", help="Register and manage vendor applications (OAuth clients).")


@clients.command("create")
@click.option("--name", required=True, help="The name the admin sees in the wizard.")
@click.option("--redirect-uri", "redirect_uris", multiple=True, required=True,
              help="An exact redirect URI (repeat for several).")
@click.option("--logo-url", default=None, help="An https URL of the vendor's logo.")
@click.option("--scope", "scopes", multiple=True,
              help=f"A scope the client may request (repeat; default all: "
                   f"{' '.join(access.SCOPES)}).")
@click.option("--public", is_flag=True, help="A public client (no secret; PKCE only).")
@click.option("--no-refresh", is_flag=True, help="Do not issue refresh tokens to this client.")
def create(name: str, redirect_uris: tuple[str, ...], logo_url: str | None,
           scopes: tuple[str, ...], public: bool, no_refresh: bool) -> None:
    """Register a client and print its id and secret (shown once)."""
    scope_list = [s for item in scopes for s in item.split()]
    try:
        registered = service.register_client(
            name, redirect_uris, logo_url=logo_url, scope=scope_list, public=public,
            grant_types=("authorization_code",) if no_refresh else None,
        )
    except service.ClientError as e:
        raise click.ClickException(str(e)) from e
    _show(registered.client)
    _print_secret(registered.client_secret)
    click.echo(f"vendor page:   {_vendor_link(registered.client)}")


@clients.command("list")
def list_() -> None:
    """List the registered clients."""
    rows = service.list_clients()
    if not rows:
        click.echo("No clients registered.")
    for c in rows:
        kind = "public" if c.public else "confidential"
        click.echo(f"{c.client_id}\t{kind}\t{c.name}\t{' '.join(c.redirect_uris)}")


@clients.command("show")
@click.argument("client_id")
def show(client_id: str) -> None:
    """Show a client and the signed link to its vendor page."""
    try:
        client = service.get_client(client_id)
    except service.ClientNotFound as e:
        raise click.ClickException(str(e)) from e
    _show(client)
    click.echo(f"vendor page:   {_vendor_link(client)}")


@clients.command("rotate-secret")
@click.argument("client_id")
def rotate_secret(client_id: str) -> None:
    """Give a confidential client a new secret; the old one stops working at once."""
    try:
        registered = service.rotate_secret(client_id)
    except service.ClientError as e:
        raise click.ClickException(str(e)) from e
    _print_secret(registered.client_secret)
    click.echo(f"vendor page:   {_vendor_link(registered.client)}")


@clients.command("delete")
@click.argument("client_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete(client_id: str, yes: bool) -> None:
    """Delete a client, its codes and tokens; its connections are revoked."""
    if not yes:
        click.confirm(f"Delete {client_id} and revoke its connections?", abort=True)
    try:
        service.delete_client(client_id)
    except service.ClientNotFound as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"Deleted {client_id}.")
