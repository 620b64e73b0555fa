"""Credential diagnostics: run the checks an access level needs and report each one.

Independent checks run concurrently; each has its own timeout and the run a total budget, so a
dead server fails in seconds and the report names the check that timed out. Failures are data:
every failed check carries what Exchange answered, a stable code and the remediation.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Any

from app.exchange import outbound
from app.exchange.client import EwsSession
from app.exchange.connector import Connector
from app.exchange.diagnostics import interpret
from app.exchange.diagnostics.checks import CHECKS, Context, Failed
from app.exchange.diagnostics.interpret import FAIL, PASS, SKIPPED, TITLES, WARN, Facts, Verdict
from app.exchange.errors import observe

__all__ = ["FAIL", "PASS", "SKIPPED", "WARN", "Check", "DiagnosticsRequest", "Report",
           "run_checks"]

#: Checks that run together once sign-in works, in lanes. The first lane goes first and so
#: gets the connection sign-in already authenticated; every other lane's connection spends one
#: round trip on NTLM's NEGOTIATE before its first request. So the first lane takes the write
#: test (two round trips) and one single-request check, and every lane costs about the same.
PARALLEL = (("calendar_write", "service_mailbox"), ("rooms",), ("mailbox_access",),
            ("calendar_read",), ("least_privilege",), ("free_busy",))


@dataclass(frozen=True)
class DiagnosticsRequest:
    """Everything the checks need; ``secret`` is the decrypted password or client secret."""

    deployment: str
    service_account: str
    secret: str = field(repr=False)
    access_level: str
    mailbox: str
    logon_name: str | None = None
    tenant_id: str | None = None
    app_client_id: str | None = None
    ews_url: str | None = None
    use_autodiscover: bool = False
    write_test: bool = False
    requested_scopes: tuple[str, ...] = ()
    #: Hosts outside the admin's domain that the admin confirmed Autodiscover may use.
    confirmed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    key: str
    title: str
    status: str
    duration_ms: int = 0
    seen: str | None = None
    explanation: str = ""
    code: str | None = None
    remediation: str | None = None
    powershell: str | None = None
    #: Known traps worth saying here (RBAC delay, DOMAIN\\user logon names, password expiry).
    traps: tuple[str, ...] = ()
    #: The check's HTTP/SOAP exchanges, redacted, for the support console.
    trace: tuple[dict[str, Any], ...] = ()

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Check:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["traps"] = tuple(known.get("traps") or ())
        known["trace"] = tuple(known.get("trace") or ())
        return cls(**known)


@dataclass(frozen=True)
class Report:
    """All checks of one run, in display order."""

    checks: tuple[Check, ...]
    duration_ms: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0
    ews_url: str | None = None
    endpoint_method: str | None = None
    auth_method: str | None = None
    #: Hosts outside the admin's domain that Autodiscover pointed to and that the admin must
    #: trust before anything is sent there (SECURITY.md row 25).
    confirm_hosts: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return all(c.status in (PASS, WARN, SKIPPED) for c in self.checks) and any(
            c.status == PASS for c in self.checks
        )

    @property
    def first_failure_code(self) -> str | None:
        return next((c.code for c in self.checks if c.status == FAIL), None)

    @property
    def authentication_failed(self) -> bool:
        """Tell whether Exchange rejected the credentials (counts against the test limits)."""
        return any(c.code in ("authentication_failed", "account_locked", "oauth_invalid_client")
                   and c.status == FAIL
                   for c in self.checks)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "duration_ms": self.duration_ms,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "ews_url": self.ews_url,
            "endpoint_method": self.endpoint_method,
            "auth_method": self.auth_method,
            "confirm_hosts": list(self.confirm_hosts),
            "first_failure_code": self.first_failure_code,
            "checks": [asdict(c) for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        return cls(
            checks=tuple(Check.from_dict(c) for c in data.get("checks", ())),
            duration_ms=int(data.get("duration_ms", 0)),
            started_at=float(data.get("started_at") or 0.0),
            finished_at=float(data.get("finished_at") or 0.0),
            ews_url=data.get("ews_url"),
            endpoint_method=data.get("endpoint_method"),
            auth_method=data.get("auth_method"),
            confirm_hosts=tuple(data.get("confirm_hosts") or ()),
        )


Progress = Callable[[Check], None]


class _Runner:
    def __init__(self, request: DiagnosticsRequest, connector: Connector,
                 on_progress: Progress | None) -> None:
        self.request, self.connector, self.on_progress = request, connector, on_progress
        self.started = time.monotonic()
        self.deadline = self.started + connector.total_budget
        domain = request.service_account.rsplit("@", 1)[-1].lower()
        self.run = outbound.RunState(
            secrets=[request.secret],
            confine_to=domain if request.use_autodiscover else None,
            confirmed_hosts=request.confirmed_hosts,
        )
        for user in {request.service_account, request.logon_name or request.service_account}:
            self.run.add_login(user, request.secret)
        self.facts = Facts(request.access_level, request.deployment, request.service_account,
                           request.mailbox, request.app_client_id, request.logon_name)
        self.session = EwsSession(
            deployment=request.deployment, username=request.logon_name or request.service_account,
            secret=request.secret, tenant_id=request.tenant_id, client_id=request.app_client_id,
            authority=connector.oauth_authority, max_connections=connector.workers,
        )
        self.ctx = Context(request, connector, self.session, self.run, self.facts)
        self.verdicts: dict[str, Verdict] = {}
        self.checks: dict[str, Check] = {}

    # -- running ---------------------------------------------------------------------------
    def _one(self, key: str, deadline: float) -> tuple[Verdict, int]:
        started = time.monotonic()
        with outbound.in_check(key, deadline):
            verdict = self._attempt(key, deadline)
        return verdict, int((time.monotonic() - started) * 1000)

    def _attempt(self, key: str, deadline: float) -> Verdict:
        try:
            return CHECKS[key](self.ctx)
        except Failed as e:
            return e.verdict
        except Exception as e:  # every failure of a check is data (STYLE.md: one exception)
            seen = observe(e, self.run, key)
        if seen.code == "exchange_busy" and seen.back_off is not None:
            remaining = deadline - time.monotonic() - 0.5
            if seen.back_off <= min(self.connector.max_back_off, remaining):
                # Honour Exchange's BackOffMilliseconds once, within the budget; never for a 401.
                time.sleep(seen.back_off)
                try:
                    verdict = CHECKS[key](self.ctx)
                except Failed as e:
                    return e.verdict
                except Exception as e:  # still failing: report what the retry saw
                    return interpret.failure(key, observe(e, self.run, key), self.facts)
                note = (f" Exchange throttled the first try (ErrorServerBusy) and asked us to "
                        f"wait {seen.back_off:g} s; we waited once.")
                return Verdict(verdict.status, verdict.explanation + note, verdict.seen,
                               verdict.code, verdict.remediation, verdict.powershell,
                               verdict.traps)
        return interpret.failure(key, seen, self.facts)

    def _finish(self, key: str, verdict: Verdict, duration_ms: int) -> None:
        self.verdicts[key] = verdict
        self.checks[key] = Check(
            key=key, title=TITLES[key], status=verdict.status, duration_ms=duration_ms,
            seen=verdict.seen, explanation=self.run.redact(verdict.explanation),
            code=verdict.code, remediation=verdict.remediation, powershell=verdict.powershell,
            traps=verdict.traps, trace=tuple(self.run.traces(key)),
        )
        if self.on_progress is not None:
            self.on_progress(self.checks[key])

    def _lane(self, index: int, keys: tuple[str, ...], deadline: float
              ) -> list[tuple[str, Verdict, int]]:
        out = []
        with self.session.lane(index) if self.session.config is not None else nullcontext():
            for key in keys:
                verdict, ms = self._one(key, deadline)
                out.append((key, verdict, ms))
        return out

    def stage(self, lanes: tuple[tuple[str, ...], ...], pool: ThreadPoolExecutor) -> None:
        """Run ``lanes`` concurrently (checks within a lane one after another) by one deadline."""
        now = time.monotonic()
        keys = [key for lane in lanes for key in lane]
        if now >= self.deadline:
            for key in keys:
                self._finish(key, Verdict(FAIL, f"“{TITLES[key]}” did not start: the test's "
                                          f"{self.connector.total_budget:g} s budget ran out.",
                                          None, "budget_exhausted",
                                          interpret._fix("budget_exhausted")), 0)
            return
        limit = min(self.connector.check_timeout, self.deadline - now)
        deadline = now + limit
        pending: dict[Future[list[tuple[str, Verdict, int]]], tuple[str, ...]] = {}
        for index, lane in enumerate(lanes):
            context = contextvars.copy_context()
            pending[pool.submit(context.run, self._lane, index, lane, deadline)] = lane
        while pending:
            done, _ = wait(pending, timeout=max(0.0, deadline - time.monotonic()),
                           return_when=FIRST_COMPLETED)
            if not done:
                break
            for future in done:
                pending.pop(future)
                for key, verdict, ms in future.result():
                    self._finish(key, verdict, ms)
        for future, lane in pending.items():
            future.cancel()
            for key in lane:
                if key in self.checks:
                    continue
                self._finish(key, Verdict(
                    FAIL, f"“{TITLES[key]}” got no answer within {limit:.1f} s, so we stopped "
                    "waiting. The server is too slow or not answering.",
                    "no answer in time", "timeout", interpret._fix("timeout")),
                    int(limit * 1000))

    def skip_rest(self, why: str) -> None:
        for key in interpret.ORDER:
            if key not in self.checks and key != "scopes":
                self._finish(key, interpret.skipped(why), 0)

    def execute(self) -> Report:
        started_at = time.time()
        pool = ThreadPoolExecutor(max_workers=max(2, self.connector.workers),
                                  thread_name_prefix="diagnostics")
        try:
            with outbound.using(self.connector.policy, self.run):
                self.stage((("endpoint",),), pool)
                if self.checks["endpoint"].status == FAIL:
                    self.skip_rest("the EWS endpoint could not be reached.")
                else:
                    self.stage((("authentication",),), pool)
                    if self.checks["authentication"].status == FAIL:
                        self.skip_rest("sign-in failed, and we never retry a rejected sign-in.")
                    else:
                        self.stage(PARALLEL, pool)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
            self.session.close()
        adjusted = interpret.apply_dependencies(self.verdicts)
        for key, verdict in adjusted.items():
            if verdict is not self.verdicts[key]:
                old = self.checks[key]
                self.checks[key] = Check(key, old.title, verdict.status, old.duration_ms,
                                         verdict.seen, verdict.explanation, trace=old.trace)
        statuses = {k: c.status for k, c in self.checks.items()}
        scope = interpret.scopes(self.request.requested_scopes, self.request.access_level,
                                 statuses)
        self._finish("scopes", scope, 0)
        finished = time.monotonic()
        return Report(
            checks=tuple(self.checks[k] for k in interpret.ORDER if k in self.checks),
            duration_ms=int((finished - self.started) * 1000),
            started_at=started_at,
            finished_at=time.time(),
            ews_url=self.ctx.ews_url,
            endpoint_method=self.ctx.endpoint_method,
            auth_method=self.ctx.auth_method,
            confirm_hosts=tuple(dict.fromkeys(
                b.host for b in self.run.blocked
                if b.code == "autodiscover_redirect_unconfirmed")),
        )


def run_checks(request: DiagnosticsRequest, connector: Connector,
               on_progress: Progress | None = None) -> Report:
    """Run every check ``request``'s access level needs; ``on_progress`` hears each result."""
    return _Runner(request, connector, on_progress).execute()
