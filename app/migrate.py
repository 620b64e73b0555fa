"""Apply the Alembic migrations to a database (used by ``make run``, the CLI and the tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config

from app.config import ROOT


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` up to ``revision``."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.set_main_option("script_location", str(ROOT / "migrations"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, revision)
