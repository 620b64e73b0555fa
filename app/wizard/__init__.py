"""The four-page onboarding wizard (blueprint ``wizard``)."""

from flask import Blueprint

bp = Blueprint("wizard", __name__, url_prefix="/connect")

from app.wizard import views  # noqa: E402,F401
