"""Flask extensions: created here, bound to the app in ``create_app`` (avoids import cycles)."""

from __future__ import annotations

from flask import Flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf import CSRFProtect

from app.crypto import SecretBox
from app.database import db

csrf = CSRFProtect()
#: Limits are declared per view; storage is Redis when REDIS_URL is set, memory otherwise.
limiter = Limiter(key_func=get_remote_address, default_limits=[])


def init_extensions(app: Flask) -> None:
    """Bind every extension to ``app``."""
    db.configure(app.config["DATABASE_URL"])
    app.teardown_appcontext(lambda _exc: db.session.remove())

    csrf.init_app(app)

    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)
    limiter.init_app(app)

    app.extensions["secret_box"] = SecretBox(app.config["ENCRYPTION_KEYS"])


def secret_box(app: Flask) -> SecretBox:
    box: SecretBox = app.extensions["secret_box"]
    return box
