"""Scripted faults for tests and benchmarks."""

from __future__ import annotations

import threading
from dataclasses import dataclass

KINDS = ("server_busy", "http_500", "http_503", "reset", "malformed", "truncated",
         "unauthorized", "soap_fault")


@dataclass
class ScriptedFault:
    operation: str  # EWS operation name, or "*" for any
    kind: str
    count: int = 1
    after: int = 0  # let this many matching requests through first
    back_off_ms: int = 30000
    code: str = "ErrorServerBusy"  # for kind="soap_fault"


class FaultScript:
    def __init__(self) -> None:
        self._faults: list[ScriptedFault] = []
        self._lock = threading.Lock()

    def add(self, fault: ScriptedFault) -> None:
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; expected one of {KINDS}")
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, operation: str) -> ScriptedFault | None:
        """The fault to apply to this request, if any (consumes one count)."""
        with self._lock:
            for fault in self._faults:
                if fault.operation not in ("*", operation):
                    continue
                if fault.after > 0:
                    fault.after -= 1
                    continue
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    def pending(self) -> list[ScriptedFault]:
        with self._lock:
            return list(self._faults)
