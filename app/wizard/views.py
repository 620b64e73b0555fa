"""The wizard's pages: each view reads the form or session, calls one service, renders."""

from __future__ import annotations

import json
import threading
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
from app.extensions import secret_box
from app.services import credential_test, onboarding
from app.services.errors import (
    AttemptClosed,
    AttemptExpired,
    AttemptNotFound,
    InvalidInput,
    StepNotReached,
)
from app.wizard import bp, credential_limits
from app.wizard.forms import AccessForm, AccountForm, AuthorizeForm, TestForm, TrustHostForm
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


# --- step 3: the credential test, its progress, and trusting a foreign Autodiscover host -----


def _guarded_test(app: Any, attempt: onboarding.AttemptView, run_id: int,
                  on_progress: Any = None) -> Any:
    """Run a begun test under its limits and lock; the limits count failed sign-ins."""
    try:
        with credential_limits.account_lock(app, attempt):
            credential_limits.check_allowed(attempt)
            report = credential_test.run(run_id, app.extensions["exchange"], secret_box(app),
                                         on_progress=on_progress)
    except credential_limits.Refused as e:
        credential_test.refuse(run_id, e.message, e.retry_after)
        raise
    except Exception:
        credential_test.fail(run_id, "The test could not run. Nothing was changed; try again.")
        raise
    credential_limits.record_outcome(attempt, report.authentication_failed)
    return report


def _begin(attempt: onboarding.AttemptView, form: TestForm) -> int:
    """Check the limits, then record the test as running (both before any EWS traffic)."""
    credential_limits.check_allowed(attempt)
    return credential_test.begin(attempt.id, form.mailbox.data, bool(form.write_test.data))


def _refused(attempt: onboarding.AttemptView, form: TestForm, e: credential_limits.Refused,
             as_json: bool = False) -> Response:
    if as_json:
        response = jsonify(error={"code": "too_many_tests", "message": e.message})
    else:
        response = make_response(_render("wizard/test.html", attempt, 3, form=form,
                                         report=attempt.test_report, refused=e.message,
                                         trust_form=TrustHostForm()))
    response.status_code = 429
    response.headers["Retry-After"] = str(e.retry_after)
    return response


@bp.route("/<attempt_id>/test", methods=["GET", "POST"])
@credential_limits.ip_limit_decorator
@wizard_step(3)
def test_credentials(attempt: onboarding.AttemptView):  # type: ignore[no-untyped-def]
    """Step 3: run the connectivity checks against a mailbox the admin names."""
    form = TestForm(
        data={"mailbox": attempt.test_mailbox or ""} if request.method == "GET" else None
    )
    report = attempt.test_report
    if form.validate_on_submit():
        try:
            result = _guarded_test(current_app, attempt, _begin(attempt, form))
        except credential_limits.Refused as e:
            return _refused(attempt, form, e)
        attempt = onboarding.get_attempt(attempt.id)
        _sync_state(attempt)
        report = result.to_dict()
    elif form.is_submitted():
        onboarding.record_invalid_step(attempt.id, "test", dict(request.form), form.errors)
    return _render("wizard/test.html", attempt, 3, form=form, report=report,
                   trust_form=TrustHostForm())


def _background_test(app: Any, run_id: int, attempt: onboarding.AttemptView) -> None:
    with app.app_context():
        try:
            _guarded_test(app, attempt, run_id)
        except credential_limits.Refused:
            pass  # saved on the run; the progress poll reports it
        except Exception as e:  # saved on the run as an error; the log has the type only
            current_app.logger.error("credential test %s failed: %s", run_id, type(e).__name__)
        finally:
            from app.database import db

            db.session.remove()


@bp.route("/<attempt_id>/test/start", methods=["POST"])
@credential_limits.ip_limit_decorator
@wizard_step(3)
def test_start(attempt: onboarding.AttemptView):  # type: ignore[no-untyped-def]
    """Start the credential test in the background and return where to poll its progress."""
    form = TestForm()
    if not form.validate_on_submit():
        return jsonify(error={"code": "invalid_input", "message": "Check the form.",
                              "fields": form.errors}), 400
    try:
        run_id = _begin(attempt, form)
    except credential_limits.Refused as e:
        return _refused(attempt, form, e, as_json=True)
    threading.Thread(
        target=_background_test, name=f"credential-test-{run_id}", daemon=True,
        args=(current_app._get_current_object(), run_id, attempt),  # type: ignore[attr-defined]
    ).start()
    return jsonify(run=run_id, progress_url=url_for("wizard.test_progress",
                                                    attempt_id=attempt.id, run_id=run_id)), 202


@bp.route("/<attempt_id>/test/progress/<int:run_id>", methods=["GET"])
@wizard_step(3)
def test_progress(attempt: onboarding.AttemptView, run_id: int):  # type: ignore[no-untyped-def]
    """The checks finished so far; when done, where to see the full results."""
    state = credential_test.progress(attempt.id, run_id,
                                     float(current_app.config.get("EWS_TOTAL_BUDGET", 30.0)))
    if state is None:
        return jsonify(error={"code": "not_found", "message": "Unknown test run."}), 404
    body: dict[str, Any] = {"checks": list(state.checks), "done": state.done,
                            "total": len(TITLES)}
    if state.done:
        body.update(passed=state.passed, error=state.error,
                    results_url=url_for("wizard.test_credentials", attempt_id=attempt.id))
    response = jsonify(body)
    if state.retry_after:
        response.status_code = 429
        response.headers["Retry-After"] = str(state.retry_after)
    return response


@bp.route("/<attempt_id>/test/trust-host", methods=["POST"])
@wizard_step(3)
def trust_hosts(attempt: onboarding.AttemptView):  # type: ignore[no-untyped-def]
    """Trust the hosts outside the domain Autodiscover pointed to (SECURITY.md row 25)."""
    form = TrustHostForm()
    if not form.validate_on_submit():
        flash("That confirmation expired. Run the test again.", "warning")
    else:
        try:
            hosts = credential_test.trust_hosts(attempt.id, form.hosts.data)
        except InvalidInput as e:
            flash(str(e), "warning")
        else:
            flash(f"Autodiscover may now use {', '.join(hosts)} for this setup. Run the test "
                  "again to sign in there.", "info")
    return redirect(url_for("wizard.test_credentials", attempt_id=attempt.id))


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
