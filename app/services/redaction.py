"""Remove secrets from what gets stored in step runs, traces and logs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: Input names whose values are never stored, logged or shown.
SECRET_FIELDS = frozenset(
    {"password", "client_secret", "secret", "csrf_token", "access_token", "refresh_token", "code"}
)
REDACTED = "[redacted]"


def redact_inputs(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Return a copy of ``inputs`` with secret fields replaced by a marker (or dropped if empty)."""
    clean: dict[str, Any] = {}
    for key, value in inputs.items():
        if key == "csrf_token":
            continue
        if key in SECRET_FIELDS:
            clean[key] = REDACTED if value else ""
        else:
            clean[key] = value
    return clean
