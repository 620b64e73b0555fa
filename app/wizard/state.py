"""Which wizards this browser may open, kept in Flask's signed (not encrypted) session.

The cookie holds only attempt ids and the step each reached: everything else lives in the
attempt row, and secrets only as ciphertext there. Each wizard is addressed by its attempt id in
the URL, so two tabs running two wizards never overwrite each other's state.
"""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

SESSION_KEY = "wizards"
#: Most wizards one browser keeps; the oldest is forgotten first (keeps the cookie small).
MAX_WIZARDS = 5


@dataclass
class WizardState:
    """One wizard this browser is running."""

    attempt_id: str
    step_reached: int = 1
    started: float = 0.0

    @classmethod
    def load(cls, session: MutableMapping[str, Any], attempt_id: str) -> WizardState | None:
        """Return the state for ``attempt_id``, or None if this browser never started it."""
        for entry in session.get(SESSION_KEY, []):
            if isinstance(entry, dict) and entry.get("a") == attempt_id:
                return cls(attempt_id, int(entry.get("s", 1)), float(entry.get("t", 0)))
        return None

    def save(self, session: MutableMapping[str, Any]) -> None:
        """Store this state, most recent last, dropping the oldest beyond :data:`MAX_WIZARDS`."""
        entries = [
            e
            for e in session.get(SESSION_KEY, [])
            if isinstance(e, dict) and e.get("a") != self.attempt_id
        ]
        entries.append(
            {"a": self.attempt_id, "s": self.step_reached, "t": self.started or time.time()}
        )
        session[SESSION_KEY] = entries[-MAX_WIZARDS:]
        session.permanent = True

    def forget(self, session: MutableMapping[str, Any]) -> None:
        session[SESSION_KEY] = [
            e for e in session.get(SESSION_KEY, []) if e.get("a") != self.attempt_id
        ]
