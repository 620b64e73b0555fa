"""Public documentation pages: the error catalogue every failed check links to."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.exchange.catalogue import CATALOGUE

bp = Blueprint("docs", __name__, url_prefix="/docs")


@bp.get("/errors")
def errors():  # type: ignore[no-untyped-def]
    """List every error code with its causes and fixes; each code is an anchor (#code)."""
    entries = sorted(CATALOGUE.values(), key=lambda e: e.code)
    return render_template("docs/errors.html", entries=entries)
