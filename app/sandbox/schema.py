"""The official EWS schema (php-ews copy of types.xsd/messages.xsd), loaded once per process."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import xmlschema
from lxml import etree

SCHEMA_DIR = Path(__file__).with_name("schema")
_lock = threading.Lock()
_schema: Any = None


def get_schema() -> Any:
    """Load messages.xsd (which imports types.xsd). Lax build mode tolerates php-ews's UPA edit."""
    global _schema
    with _lock:
        if _schema is None:
            _schema = xmlschema.XMLSchema10(str(SCHEMA_DIR / "messages.xsd"), validation="lax")
        return _schema


def preload() -> None:
    threading.Thread(target=get_schema, daemon=True, name="ews-schema-load").start()


def first_error(element: etree._Element) -> str | None:
    """The first schema violation of a message element (child of s:Body or header), or None."""
    schema = get_schema()
    for error in schema.iter_errors(element):
        reason = getattr(error, "reason", None) or str(error)
        path = getattr(error, "path", None) or ""
        return f"{reason} (at {path})" if path else str(reason)
    return None
