"""Exchange Connect: connect an organisation's Exchange calendars to a vendor's application."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, redirect, url_for

from app.config import Settings


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the Flask app from the environment, overlaid with ``config`` (tests use it)."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    settings = Settings.from_env()
    app.config.update(settings.flask_config())
    if config:
        app.config.update(config)

    # Never let a library's DEBUG logging print credentials (SECURITY.md finding 5).
    for noisy in ("exchangelib", "authlib", "requests_ntlm", "spnego", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from app.extensions import init_extensions

    init_extensions(app)

    from app.security_headers import init_security_headers

    init_security_headers(app)

    from app.errors import init_error_handlers

    init_error_handlers(app)

    from app.exchange.connector import init_connector

    init_connector(app)

    from app import wizard

    app.register_blueprint(wizard.bp)

    from app.cli import register_commands

    register_commands(app)

    _register_optional_blueprints(app)

    @app.template_filter("phrase")
    def _phrase(sentence: str) -> str:
        """Turn a sentence into a phrase that reads inside another sentence."""
        sentence = sentence.strip().rstrip(".")
        return sentence[:1].lower() + sentence[1:]

    @app.context_processor
    def _template_helpers() -> dict[str, Any]:
        return {"has_endpoint": lambda name: name in app.view_functions}

    @app.get("/")
    def index():  # type: ignore[no-untyped-def]
        return redirect(url_for("wizard.start"))

    @app.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        return {"status": "ok"}

    return app


def _register_optional_blueprints(app: Flask) -> None:
    """Register the blueprints of the other areas (oauth, api, support, docs) as they exist."""
    import importlib

    for name in ("app.oauth", "app.api", "app.support", "app.docs"):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        init = getattr(module, "init_app", None)
        if init is not None:
            init(app)
        elif hasattr(module, "bp"):
            app.register_blueprint(module.bp)
