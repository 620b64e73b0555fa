"""Boundary A: the OAuth 2.0 authorization server, client registration and the demo vendor."""

from __future__ import annotations

from flask import Blueprint, Flask

bp = Blueprint("oauth", __name__)


def init_app(app: Flask) -> None:
    """Register the OAuth endpoints, the wizard's finish hooks, the CLI and the demo vendor."""
    from app import oauth_models  # noqa: F401  (registers the code and token tables)
    from app.oauth import cli, demo_vendor, views
    from app.oauth.server import init_server

    init_server(app)
    app.register_blueprint(bp)
    app.register_blueprint(demo_vendor.bp)
    app.extensions["oauth_finish_authorized"] = views.finish_authorized
    app.extensions["oauth_finish_cancelled"] = views.finish_cancelled
    app.extensions.setdefault("demo_setup_hooks", []).append(demo_vendor.setup_hook(app))
    app.cli.add_command(cli.clients)
