"""The wizard's pages: each view reads the form or session, calls one service, renders."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any

from flask import (
    Response,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from app.exchange import access, powershell
from app.exchange.diagnostics.interpret import TITLES
from app.extensions import limiter, secret_box
from app.services import onboarding
from app.services.errors import AttemptClosed, AttemptExpired, AttemptNotFound, StepNotReached
from app.wizard import bp
from app.wizard.forms import AccessForm, AccountForm, AuthorizeForm, TestForm
from app.wizard.state import WizardState

#: Step number → (endpoint, label), in wizard order.
STEPS = (
    (1, "wizard.account", "Create a service account"),
    (2, "wizard.configure_access", "Configure access"),
    (3, "wizard.test_credentials", "Test credentials"),
    (4, "wizard.authorize", "Authorize"),
)


def _endpoint(step: int) -> str:
    return STEPS[step - 1][1]


def wizard_step(step: int):  # type: ignore[no-untyped-def]
    """Load the attempt this browser is running and enforce the step order.

    An attempt the browser never started (or whose session expired) says so and starts over;
    a step not yet reached sends the admin to the step they are on.
    """

    def decorator(view):  # type: ignore[no-untyped-def]
        @wraps(view)
        def wrapper(attempt_id: str, **kwargs: Any):  # type: ignore[no-untyped-def]
            state = WizardState.load(session, attempt_id)
            if state is None:
                flash("Your setup session expired or belongs to another browser, so we started "
                      "a new one. Nothing was connected.", "warning")
                return redirect(url_for("wizard.start"))
            try:
                attempt = onboarding.get_attempt(attempt_id)
            except (AttemptNotFound, AttemptExpired):
                state.forget(session)
                flash("This setup expired, so we started a new one. Nothing was connected.",
                      "warning")
                return redirect(url_for("wizard.start"))
            if attempt.status != "in_progress" and step != 5:
                if attempt.status == "connected":
                    return redirect(url_for("wizard.done", attempt_id=attempt_id))
                flash("This setup was cancelled. Start again to connect.", "warning")
                return redirect(url_for("wizard.start"))
            if step <= 4 and step > attempt.step_reached:
                flash(f"Finish “{STEPS[attempt.step_reached - 1][2]}” first.", "info")
                return redirect(url_for(_endpoint(attempt.step_reached), attempt_id=attempt_id))
            if state.step_reached != attempt.step_reached:
                state.step_reached = attempt.step_reached
                state.save(session)
            g.attempt = attempt
            g.state = state
            return view(attempt=attempt, **kwargs)

        return wrapper

    return decorator


def _render(template: str, attempt: onboarding.AttemptView, current: int, **context: Any) -> str:
    return render_template(
        template,
        attempt=attempt,
        vendor=attempt.vendor,
        steps=STEPS,
        current=current,
        **context,
    )


def _sync_state(attempt: onboarding.AttemptView) -> None:
    state = WizardState.load(session, attempt.id) or WizardState(attempt.id)
    state.step_reached = attempt.step_reached
    state.save(session)


@bp.route("/", methods=["GET"])
def start():  # type: ignore[no-untyped-def]
    """Start a new wizard (without a vendor: the organisation connects for itself)."""
    return render_template("wizard/start.html", steps=STEPS, current=0, vendor=None)


@bp.route("/new", methods=["POST"])
def new():  # type: ignore[no-untyped-def]
    """Create the attempt and open page 1 (a POST, so crawlers and prefetch create nothing)."""
    attempt = onboarding.start_attempt()
    _sync_state(attempt)
    return redirect(url_for("wizard.account", attempt_id=attempt.id))


def begin_for_vendor(vendor: onboarding.VendorRequest) -> Response:
    """Start a wizard on behalf of a vendor's validated authorization request."""
    attempt = onboarding.start_attempt(vendor)
    _sync_state(attempt)
    return redirect(url_for("wizard.account", attempt_id=attempt.id))


@bp.route("/<attempt_id>/account", methods=["GET", "POST"])
@wizard_step(1)
def account(attempt: onboarding.AttemptView):  # type: ignore[no-untyped-def]
    """Step 1: create the service account and tell us how to reach Exchange."""
    form = AccountForm(
        has_secret=attempt.has_secret,
        data={
            "deployment": attempt.deployment or "onprem",
            "service_account": attempt.service_account or "",
            "logon_name": attempt.logon_name or "",
            "tenant_id": attempt.tenant_id or "",
            "app_client_id": attempt.app_client_id or "",
            "endpoint": "autodiscover" if attempt.use_autodiscover else "url",
            "ews_url": attempt.ews_url or "",
        } if request.method == "GET" else None,
    )
    if form.validate_on_submit():
        attempt = onboarding.save_account_step(
            attempt.id,
            onboarding.AccountInput(
                deployment=form.deployment.data,
                service_account=form.service_account.data,
                logon_name=form.logon_name.data or "",
                password=form.password.data or "",
                tenant_id=form.tenant_id.data or "",
                app_client_id=form.app_client_id.data or "",
                client_secret=form.client_secret.data or "",
                use_autodiscover=form.endpoint.data == "autodiscover",
                ews_url=form.ews_url.data or "",
            ),
            secret_box(current_app),
        )
        _sync_state(attempt)
        return redirect(url_for("wizard.configure_access", attempt_id=attempt.id))
    if form.is_submitted():
        onboarding.record_invalid_step(attempt.id, "account", dict(request.form), form.errors)
    # Tailor the scripts to the typed address only once it is valid (it is quoted either way).
    address = (form.service_account.data if not form.service_account.errors else None) or (
        "svc-connect@contoso.com"
    )
    scripts = {kind: powershell.create_service_account(kind, address)
               for kind in ("onprem", "online")}
    return _render(
        "wizard/account.html",
        attempt,
        1,
        form=form,
        scripts=scripts,
        sandbox_ews_url=current_app.config.get("SANDBOX_EWS_URL"),
    )


@bp.route("/<attempt_id>/access", methods=["GET", "POST"])
@wizard_step(2)
def configure_access(attempt: onboarding.AttemptView):  # type: ignore[no-untyped-def]
    """Step 2: choose the access level and the mailboxes it covers; show the PowerShell."""
    form = AccessForm(
        data={
            "level": attempt.access_level or "full",
            "coverage": attempt.coverage_mode or "all",
            "group": attempt.coverage_group or "",
            "mailboxes": "\n".join(attempt.coverage_mailboxes),
        } if request.method == "GET" else None
    )
    if form.validate_on_submit():
        attempt = onboarding.save_access_step(
            attempt.id,
            onboarding.AccessInput(
                level=form.level.data,
                coverage_mode=form.coverage.data,
                group=form.group.data or "",
                mailboxes=form.mailbox_list,
            ),
        )
        _sync_state(attempt)
        if request.form.get("action") == "preview":
            return redirect(
                url_for("wizard.configure_access", attempt_id=attempt.id, _anchor="powershell")
            )
        return redirect(url_for("wizard.test_credentials", attempt_id=attempt.id))
    if form.is_submitted():
        onboarding.record_invalid_step(attempt.id, "access", dict(request.form), form.errors)

    requested = attempt.vendor.scope if attempt.vendor else ()
    grants = {key: access.grant(requested, key) for key in access.LEVELS}
    script = None
    if attempt.access_level and attempt.coverage:
        script = powershell.grant_access(
            attempt.access_level, attempt.deployment or "onprem", attempt.service_account or "",
            attempt.coverage,
        )
    return _render(
        "wizard/access.html",
        attempt,
        2,
        form=form,
        levels=access.ACCESS_LEVELS,
        grants=grants,
        requested=requested,
        script=script,
    )


@bp.route("/<attempt_id>/access/script.ps1", methods=["GET"])
@wizard_step(2)
def access_script(attempt: onboarding.AttemptView):  # type: ignore[no-untyped-def]
    """Download the saved access level's PowerShell as a .ps1 file."""
    if not (attempt.access_level and attempt.coverage):
        return redirect(url_for("wizard.configure_access", attempt_id=attempt.id))
    script = powershell.grant_access(
        attempt.access_level, attempt.deployment or "onprem", attempt.service_account or "",
        attempt.coverage,
    )
    return _download(script)


@bp.route("/<attempt_id>/account/<kind>.ps1", methods=["GET"])
@wizard_step(1)
def account_script(attempt: onboarding.AttemptView, kind: str):  # type: ignore[no-untyped-def]
    """Download the service-account creation script for ``kind`` (onprem or online)."""
    if kind not in ("onprem", "online"):
        return redirect(url_for("wizard.account", attempt_id=attempt.id))
    return _download(
        powershell.create_service_account(
            kind, attempt.service_account or "svc-connect@contoso.com"
        )
    )


def _download(script: powershell.Script) -> Response:
    # UTF-8 with a BOM: without it Windows PowerShell 5.1 reads the file as Windows-1252, where
    # some UTF-8 letters decode to curly quotes and could slip past the quoting.
    return Response(
        script.as_bytes(),
        mimetype="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{script.filename}"'},
    )


# --- step 3: the credential test, its limits and its progress ---------------------------------
#
# SECURITY.md row 33: the test must not become a password sprayer. Per client address
# (Flask-Limiter), per service account and per Exchange host (failed tests only), and one test
# at a time per account. Limits live in the limiter's storage (Redis when REDIS_URL is set), and
# a storage failure fails closed: the 500 page, before any EWS request (row 34).


def _ip_limit() -> str:
    return str(current_app.config.get("CREDENTIAL_TEST_IP_LIMIT", "20 per hour"))


_ip_limit_decorator = limiter.shared_limit(
    _ip_limit, scope="credential-test-ip", methods=["POST"],
    error_message="Too many credential tests from your address. Wait a few minutes and try "
                  "again.",
)


class _TestRefused(Exception):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message, self.retry_after = message, max(1, retry_after)


def _test_target(attempt: onboarding.AttemptView) -> tuple[str, str]:
    """The (Exchange host, account) pair the credential-test limits count against."""
    from urllib.parse import urlsplit

    host = (urlsplit(attempt.ews_url).hostname or "") if attempt.ews_url else \
        f"autodiscover:{attempt.domain or ''}"
    user = (attempt.logon_name or attempt.service_account or attempt.app_client_id or "")
    return host.lower(), user.strip().lower()


def _failure_limits(attempt: onboarding.AttemptView) -> list[tuple[Any, str]]:
    from limits import parse

    host, user = _test_target(attempt)
    account = parse(str(current_app.config.get("CREDENTIAL_TEST_ACCOUNT_FAILURES",
                                               "3 per 15 minutes")))
    per_host = parse(str(current_app.config.get("CREDENTIAL_TEST_HOST_FAILURES",
                                                "5 per 15 minutes")))
    return [(account, f"account:{host}:{user}"), (per_host, f"host:{host}")]


def _check_test_allowed(attempt: onboarding.AttemptView) -> None:
    """Refuse the test when this account or host had too many failed tests lately."""
    import time as _time

    strategy = limiter.limiter
    for item, key in _failure_limits(attempt):
        if not strategy.test(item, "credential-test-failures", key):
            reset, _ = strategy.get_window_stats(item, "credential-test-failures", key)
            wait = int(reset - _time.time()) + 1
            what = "this service account" if key.startswith("account:") else "this Exchange server"
            at = (datetime.now(UTC) + timedelta(seconds=wait)).strftime("%H:%M UTC")
            raise _TestRefused(
                f"Several credential tests for {what} failed in the last minutes, so we paused "
                f"testing to keep the account from being locked out. Try again after {at} "
                f"(in about {max(1, wait // 60)} min).", wait)


def _record_test_outcome(attempt: onboarding.AttemptView, failed_sign_in: bool) -> None:
    if failed_sign_in:
        for item, key in _failure_limits(attempt):
            limiter.limiter.hit(item, "credential-test-failures", key)


_local_locks: dict[str, threading.Lock] = {}
_local_locks_guard = threading.Lock()


@contextmanager
def _account_lock(app: Any, attempt: onboarding.AttemptView) -> Iterator[None]:
    """Serialise credential tests of one account (Redis lock when REDIS_URL is set)."""
    host, user = _test_target(attempt)
    key = f"credential-test:{host}:{user}"
    wait = float(app.config.get("EWS_TOTAL_BUDGET", 30.0)) + 5
    url = app.config.get("REDIS_URL")
    if url:
        import redis

        lock: Any = redis.Redis.from_url(url, socket_timeout=2).lock(
            f"ec:{key}", timeout=wait + 30, blocking_timeout=wait)
    else:
        with _local_locks_guard:
            lock = _local_locks.setdefault(key, threading.Lock())
    acquired = lock.acquire(blocking_timeout=wait) if url else lock.acquire(timeout=wait)
    if not acquired:
        raise _TestRefused("A test for this service account is still running; try again when it "
                           "has finished.", int(wait))
    try:
        yield
    finally:
        lock.release()


def _guarded_test(app: Any, attempt: onboarding.AttemptView, mailbox: str, write_test: bool,
                  on_progress: Any = None) -> Any:
    """Run the credential test under its limits and lock; the limits count failed sign-ins."""
    _check_test_allowed(attempt)
    with _account_lock(app, attempt):
        _check_test_allowed(attempt)
        report = onboarding.run_credential_test(
            attempt.id, mailbox, write_test, app.extensions["exchange"], secret_box(app),
            on_progress=on_progress,
        )
    _record_test_outcome(attempt, report.authentication_failed)
    return report


def _refused(attempt: onboarding.AttemptView, form: TestForm, e: _TestRefused,
             as_json: bool = False) -> Response:
    if as_json:
        response = jsonify(error={"code": "too_many_tests", "message": e.message})
    else:
        response = make_response(_render("wizard/test.html", attempt, 3, form=form,
                                         report=attempt.test_report, refused=e.message))
    response.status_code = 429
    response.headers["Retry-After"] = str(e.retry_after)
    return response


@bp.route("/<attempt_id>/test", methods=["GET", "POST"])
@_ip_limit_decorator
@wizard_step(3)
def test_credentials(attempt: onboarding.AttemptView):  # type: ignore[no-untyped-def]
    """Step 3: run the connectivity checks against a mailbox the admin names."""
    form = TestForm(
        data={"mailbox": attempt.test_mailbox or ""} if request.method == "GET" else None
    )
    report = attempt.test_report
    if form.validate_on_submit():
        try:
            result = _guarded_test(current_app, attempt, form.mailbox.data,
                                   bool(form.write_test.data))
        except _TestRefused as e:
            return _refused(attempt, form, e)
        attempt = onboarding.get_attempt(attempt.id)
        _sync_state(attempt)
        report = result.to_dict()
    elif form.is_submitted():
        onboarding.record_invalid_step(attempt.id, "test", dict(request.form), form.errors)
    return _render("wizard/test.html", attempt, 3, form=form, report=report)


#: Live progress of background credential tests in this process: run id → state.
_progress: dict[str, dict[str, Any]] = {}
_progress_lock = threading.Lock()


def _background_test(app: Any, run_id: str, attempt_id: str, mailbox: str,
                     write_test: bool) -> None:
    def progress(check: Any) -> None:
        with _progress_lock:
            _progress[run_id]["checks"].append(
                {k: v for k, v in asdict(check).items() if k != "trace"})

    with app.app_context():
        state = _progress[run_id]
        try:
            attempt = onboarding.get_attempt(attempt_id)
            report = _guarded_test(app, attempt, mailbox, write_test, progress)
            state.update(passed=report.passed)
        except _TestRefused as e:
            state.update(error=e.message, retry_after=e.retry_after)
        except Exception as e:  # the page shows a generic error; the log has the type only
            current_app.logger.error("credential test %s failed: %s", run_id, type(e).__name__)
            state.update(error="The test could not run. Nothing was changed; try again.")
        finally:
            state["done"] = True
            from app.database import db

            db.session.remove()


@bp.route("/<attempt_id>/test/start", methods=["POST"])
@_ip_limit_decorator
@wizard_step(3)
def test_start(attempt: onboarding.AttemptView):  # type: ignore[no-untyped-def]
    """Start the credential test in the background and return where to poll its progress."""
    form = TestForm()
    if not form.validate_on_submit():
        return jsonify(error={"code": "invalid_input", "message": "Check the form.",
                              "fields": form.errors}), 400
    try:
        _check_test_allowed(attempt)
    except _TestRefused as e:
        return _refused(attempt, form, e, as_json=True)
    run_id = secrets.token_urlsafe(12)
    with _progress_lock:
        _progress[run_id] = {"attempt": attempt.id, "checks": [], "done": False}
    thread = threading.Thread(
        target=_background_test, name=f"credential-test-{run_id}", daemon=True,
        args=(current_app._get_current_object(), run_id, attempt.id,  # type: ignore[attr-defined]
              form.mailbox.data, bool(form.write_test.data)),
    )
    thread.start()
    return jsonify(run=run_id, progress_url=url_for("wizard.test_progress",
                                                    attempt_id=attempt.id, run_id=run_id)), 202


@bp.route("/<attempt_id>/test/progress/<run_id>", methods=["GET"])
@wizard_step(3)
def test_progress(attempt: onboarding.AttemptView, run_id: str):  # type: ignore[no-untyped-def]
    """The checks finished so far; when done, where to see the full results."""
    with _progress_lock:
        state = _progress.get(run_id)
        if state is None or state["attempt"] != attempt.id:
            return jsonify(error={"code": "not_found", "message": "Unknown test run."}), 404
        body = {"checks": list(state["checks"]), "done": state["done"],
                "total": len(TITLES)}
        if state["done"]:
            body.update(passed=state.get("passed"), error=state.get("error"),
                        results_url=url_for("wizard.test_credentials", attempt_id=attempt.id))
            _progress.pop(run_id, None)
    response = jsonify(body)
    if state.get("retry_after"):
        response.status_code = 429
        response.headers["Retry-After"] = str(state["retry_after"])
    return response


@bp.route("/<attempt_id>/test/report.json", methods=["GET"])
@wizard_step(3)
def test_report(attempt: onboarding.AttemptView):  # type: ignore[no-untyped-def]
    """Download the last test report as JSON, to attach to a support ticket (no secrets)."""
    if not attempt.test_report:
        return redirect(url_for("wizard.test_credentials", attempt_id=attempt.id))
    body = {
        "attempt": attempt.id,
        "service_account": attempt.service_account,
        "access_level": attempt.access_level,
        "mailbox": attempt.test_mailbox,
        "report": attempt.test_report,
    }
    return Response(
        json.dumps(body, indent=2, ensure_ascii=False), mimetype="application/json",
        headers={"Content-Disposition":
                 f'attachment; filename="exchange-connect-test-{attempt.id}.json"'},
    )


@bp.route("/<attempt_id>/authorize", methods=["GET", "POST"])
@wizard_step(4)
def authorize(attempt: onboarding.AttemptView):  # type: ignore[no-untyped-def]
    """Step 4: the summary, then Authorize (saves the connection) or Cancel."""
    form = AuthorizeForm()
    if form.validate_on_submit():
        if request.form.get("action") == "cancel":
            attempt = onboarding.cancel(attempt.id)
            return _finish_cancelled(attempt)
        try:
            result = onboarding.authorize(attempt.id)
        except StepNotReached:
            return redirect(url_for("wizard.test_credentials", attempt_id=attempt.id))
        except AttemptClosed:
            return redirect(url_for("wizard.done", attempt_id=attempt.id))
        return _finish_authorized(result)
    requested = attempt.vendor.scope if attempt.vendor else ()
    grant = access.grant(requested, attempt.access_level or "full")
    return _render(
        "wizard/authorize.html",
        attempt,
        4,
        form=form,
        grant=grant,
        level=access.ACCESS_LEVELS.get(attempt.access_level or ""),
    )


def _finish_authorized(result: onboarding.AuthorizeResult) -> Response:
    """Redirect to the vendor when one is asking (OAuth adds the code), else show 'connected'."""
    finish = current_app.extensions.get("oauth_finish_authorized")
    if finish is not None and result.attempt.vendor is not None:
        response: Response = finish(result)
        return response
    return redirect(url_for("wizard.done", attempt_id=result.attempt.id))


def _finish_cancelled(attempt: onboarding.AttemptView) -> Response:
    finish = current_app.extensions.get("oauth_finish_cancelled")
    if finish is not None and attempt.vendor is not None:
        response: Response = finish(attempt)
        return response
    flash("You cancelled the setup. Nothing was connected.", "info")
    return redirect(url_for("wizard.start"))


@bp.route("/<attempt_id>/done", methods=["GET"])
@wizard_step(5)
def done(attempt: onboarding.AttemptView):  # type: ignore[no-untyped-def]
    """The 'connected' page for a setup without a vendor redirect."""
    if attempt.status != "connected":
        return redirect(url_for(_endpoint(attempt.step_reached), attempt_id=attempt.id))
    return _render("wizard/done.html", attempt, 5,
                   level=access.ACCESS_LEVELS.get(attempt.access_level or ""))
