"""Pure check interpretation: what Exchange answered → status, code, explanation, remediation.

No I/O here, so every mapping is unit-tested without a server.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from app.exchange import access, catalogue, powershell
from app.exchange.errors import Seen

PASS, WARN, FAIL, SKIPPED = "pass", "warn", "fail", "skipped"

#: Check keys in display order, with their titles.
TITLES: dict[str, str] = {
    "endpoint": "Reach the EWS endpoint (DNS, TLS, Autodiscover)",
    "authentication": "Sign in as the service account",
    "service_mailbox": "The service account's own mailbox",
    "mailbox_access": "Access to the test mailbox",
    "calendar_read": "Read the calendar (coming week)",
    "calendar_write": "Create and delete a test event",
    "least_privilege": "Nothing beyond the chosen level",
    "free_busy": "Free/busy for the coming week",
    "rooms": "Room lists and rooms",
    "scopes": "What the vendor asked for",
}
ORDER = tuple(TITLES)
#: Checks that need the mailbox itself to be open to the service account.
NEEDS_MAILBOX = ("calendar_read", "calendar_write", "least_privilege")
#: Codes meaning "the service account cannot open the test mailbox at all".
ACCESS_CODES = frozenset({"impersonation_denied", "mailbox_not_found", "delegate_access_denied",
                          "app_access_denied", "access_denied", "calendar_read_denied"})


@dataclass(frozen=True)
class Facts:
    """What interpretation needs to know about the request (no secrets)."""

    level: str
    deployment: str
    service_account: str
    mailbox: str
    app_client_id: str | None = None
    logon_name: str | None = None

    @property
    def online(self) -> bool:
        return self.deployment == "online"

    @property
    def domain(self) -> str:
        return self.service_account.rsplit("@", 1)[-1]


@dataclass(frozen=True)
class Verdict:
    """The interpreted result of one check, before timing and traces are added."""

    status: str
    explanation: str
    seen: str | None = None
    code: str | None = None
    remediation: str | None = None
    powershell: str | None = None
    traps: tuple[str, ...] = ()


def skipped(why: str) -> Verdict:
    return Verdict(SKIPPED, f"Skipped: {why}")


def _fix(code: str) -> str:
    return " ".join(catalogue.entry(code).fixes)


def _ps(script: powershell.Script) -> str:
    return script.body


def failure(key: str, seen: Seen, facts: Facts) -> Verdict:
    """Interpret a failure ``seen`` by check ``key``; each code says how to fix it."""
    code = _code_for(key, seen, facts)
    explanation, remediation, script, traps = _explain(key, code, seen, facts)
    status = FAIL
    if code == "freebusy_denied" and facts.level != "free_busy" and key == "free_busy":
        status = WARN
        explanation += (" The vendor can still work out busy times from the calendar itself, "
                        "but other people's scheduling assistants cannot see them.")
    return Verdict(status, explanation, seen.detail, code, remediation,
                   _ps(script) if script else None, traps)


def _code_for(key: str, seen: Seen, facts: Facts) -> str:
    code = seen.code
    if key == "service_mailbox" and code in ("mailbox_not_found", "access_denied"):
        return "service_mailbox_missing"
    if code == "impersonation_denied" and facts.online:
        return "app_access_denied"
    if code == "access_denied":
        if key == "mailbox_access":
            if facts.online:
                return "app_access_denied"
            return "impersonation_denied" if facts.level == "full" else "delegate_access_denied"
        if key == "calendar_read":
            return "calendar_read_denied"
        if key == "calendar_write":
            return "calendar_write_denied"
        if key == "free_busy":
            return "freebusy_denied"
    if code == "room_list_failed" and key != "rooms":
        return "exchange_error"
    return code


def _explain(key: str, code: str, seen: Seen, facts: Facts
             ) -> tuple[str, str, powershell.Script | None, tuple[str, ...]]:
    svc, mailbox = facts.service_account, facts.mailbox
    entry = catalogue.entry(code)
    traps = entry.traps
    script: powershell.Script | None = None
    text = entry.title + "."
    if code == "impersonation_denied":
        text = (f"Exchange answered {seen.detail}: {svc} may not impersonate {mailbox}. Either "
                "the ApplicationImpersonation role is not assigned, or this mailbox is outside "
                "the role's management scope.")
        script = powershell.fix_impersonation(facts.deployment, svc, facts.app_client_id)
    elif code == "app_access_denied":
        text = (f"Exchange answered {seen.detail}: the app may not open {mailbox}. Its "
                "full_access_as_app consent or its RBAC for Applications scope does not cover "
                "this mailbox.")
        script = powershell.fix_impersonation("online", svc, facts.app_client_id)
    elif code == "delegate_access_denied":
        text = (f"Exchange answered {seen.detail}: {svc} has no permission on {mailbox}'s "
                "Calendar folder.")
        script = powershell.fix_calendar_permission(mailbox, svc, "Editor")
    elif code == "calendar_read_denied":
        text = f"Exchange answered {seen.detail} when listing the events of {mailbox}."
        script = (powershell.fix_impersonation(facts.deployment, svc, facts.app_client_id)
                  if facts.level == "full" else
                  powershell.fix_calendar_permission(mailbox, svc, "Editor"))
    elif code == "calendar_write_denied":
        text = (f"Exchange answered {seen.detail} when creating a test event in {mailbox}: the "
                "permission allows reading only.")
        script = (powershell.fix_impersonation(facts.deployment, svc, facts.app_client_id)
                  if facts.level == "full" else
                  powershell.fix_calendar_permission(mailbox, svc, "Editor"))
    elif code == "freebusy_denied":
        text = (f"Exchange answered {seen.detail}: {mailbox} shares no free/busy times with "
                f"{svc}.")
        script = (powershell.fix_calendar_permission(mailbox, svc, "AvailabilityOnly")
                  if facts.level == "free_busy" else powershell.fix_free_busy_default(mailbox))
    elif code == "mailbox_not_found":
        text = (f"Exchange answered {seen.detail}: {mailbox} has no mailbox. Use its primary "
                "SMTP address (not an alias).")
    elif code == "service_mailbox_missing":
        text = (f"Exchange answered {seen.detail}: {svc} has no mailbox of its own, which "
                "Exchange needs to list rooms and room lists for it.")
    elif code == "ews_blocked":
        text = ("Exchange answered HTTP 403: EWS is disabled for this mailbox or the "
                "organisation, or an application access policy blocks it.")
        script = powershell.check_ews_enabled(mailbox)
    elif code == "authentication_failed":
        text = (f"Exchange answered {seen.detail}: it rejected the password for "
                f"{facts.logon_name or svc}. We tried once and did not retry.")
    elif code == "account_locked":
        text = f"Exchange answered {seen.detail}: the service account is locked out."
    elif code == "timeout":
        text = f"“{TITLES.get(key, key)}” got no answer in time ({seen.detail})."
    elif code == "exchange_busy":
        wait = f" and asked us to wait {seen.back_off:g} s" if seen.back_off else ""
        text = (f"Exchange is throttling the service account (ErrorServerBusy){wait}, longer "
                "than this test may take. We did not retry.")
    elif code in ("address_blocked", "autodiscover_redirect_unconfirmed", "dns_failed"):
        host = f" ({seen.host})" if seen.host else ""
        text = entry.title + host + ". " + " ".join(entry.causes)
    elif code.startswith("tls_"):
        host = f" for {seen.host}" if seen.host else ""
        text = f"{entry.title}{host}: {seen.detail}."
    elif code == "room_list_failed":
        text = f"Exchange answered {seen.detail} when listing rooms."
    else:
        text = f"{entry.title} (saw {seen.detail})."
    return text, _fix(code), script, traps


def success_note_for_auth(auth_method: str, offered: Sequence[str]) -> tuple[str, ...]:
    """Traps worth saying when sign-in works: the password will expire one day."""
    return (catalogue.PASSWORD_EXPIRY,)


def least_privilege(level: str, mailbox: str, denied: bool, seen: str) -> Verdict:
    """Interpret the probe that should be denied at Restricted (Inbox) and Free-busy (details)."""
    if level == "restricted":
        if denied:
            return Verdict(PASS, f"The Inbox of {mailbox} is denied, as the Restricted level "
                           "intends: only the Calendar is shared.", seen)
        return Verdict(WARN, f"The Inbox of {mailbox} is readable: the real permissions are "
                       "broader than the Restricted level (least privilege).", seen,
                       "mail_readable", _fix("mail_readable"))
    if denied:
        return Verdict(PASS, f"Event details of {mailbox} are not readable, as the Free-busy "
                       "level intends.", seen)
    return Verdict(WARN, f"Event details of {mailbox} are readable: the real permissions are "
                   "broader than the Free-busy level (least privilege).", seen,
                   "details_readable", _fix("details_readable"))


def apply_dependencies(results: Mapping[str, Verdict]) -> dict[str, Verdict]:
    """Turn failures that only repeat a mailbox-access failure into skips, naming the cause."""
    out = dict(results)
    access_check = results.get("mailbox_access")
    if access_check is None or access_check.status != FAIL or access_check.code not in \
            ACCESS_CODES:
        return out
    for key in NEEDS_MAILBOX:
        verdict = out.get(key)
        if verdict is not None and verdict.status == FAIL and verdict.code in ACCESS_CODES:
            out[key] = Verdict(SKIPPED, "Skipped: the service account cannot open this mailbox "
                               "yet; fix “Access to the test mailbox” first.", verdict.seen)
    return out


def scopes(requested: Sequence[str], level: str, statuses: Mapping[str, str]) -> Verdict:
    """Compare the vendor's requested scopes with the level and with what the checks found."""
    if not requested:
        return skipped("no vendor asked for scopes; you are connecting for your own "
                       "organisation.")
    try:
        grant = access.grant(requested, level)
    except access.UnknownScope:
        return skipped("the vendor's request named scopes we do not know.")
    gaps = [f"{r.scope} (not allowed at the {access.ACCESS_LEVELS[level].title} level)"
            for r in grant.refused]
    needs = {
        "read_events": "calendar_read",
        "create_event": "calendar_write",
        "delete_event": "calendar_write",
        "read_free_busy": "free_busy",
        "list_resources": "rooms",
    }
    for scope in grant.granted:
        check = needs.get(scope)
        if check and statuses.get(check) in (FAIL, WARN):
            gaps.append(f"{scope} (“{TITLES[check]}” did not pass)")
    untested = sorted({s for s in grant.granted if needs.get(s) == "calendar_write"
                       and statuses.get("calendar_write") == SKIPPED})
    if gaps:
        return Verdict(WARN, "The real permissions are narrower than the vendor requested: "
                       + "; ".join(gaps) + ".", None, "scope_narrower", _fix("scope_narrower"))
    note = (" Tick the write test to verify " + ", ".join(untested) + ".") if untested else ""
    return Verdict(PASS, "Every scope the vendor asked for is covered: "
                   + ", ".join(grant.granted) + "." + note)
