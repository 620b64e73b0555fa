"""Flask CLI commands: ``flask --app app db-upgrade`` and ``flask --app app demo-setup``."""

from __future__ import annotations

import click
from flask import Flask, current_app


def register_commands(app: Flask) -> None:
    """Add this package's commands to ``app.cli``."""

    @app.cli.command("db-upgrade")
    def db_upgrade() -> None:
        """Apply the database migrations."""
        from app.migrate import upgrade

        upgrade(current_app.config["DATABASE_URL"])
        click.echo("Database is up to date.")

    @app.cli.command("demo-setup")
    def demo_setup() -> None:
        """Register the demo vendor (idempotent) so a newcomer can walk the whole flow."""
        hooks = current_app.extensions.get("demo_setup_hooks", [])
        for hook in hooks:
            click.echo(hook())
        if not hooks:
            click.echo("Nothing to set up yet.")
