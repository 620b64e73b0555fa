"""App-wide error handlers: HTML pages for the browser, JSON for the API and OAuth endpoints.

The 500 handler is the one catch-all: it logs the exception type and the request id, never the
exception text, and renders a page with no detail.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, g, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

#: Plain-language titles for the HTTP errors a browser user can meet.
TITLES = {
    400: "That request could not be understood",
    403: "You are not allowed to do that",
    404: "Page not found",
    405: "That action is not available here",
    413: "That upload is too large",
    429: "Too many attempts",
    500: "Something went wrong on our side",
}


def wants_json() -> bool:
    return request.path.startswith(("/v1/", "/oauth/token", "/oauth/revoke", "/api/"))


def error_page(status: int, message: str | None = None, retry_after: int | None = None):
    """Render the HTML error page (or JSON for API paths) for ``status``."""
    title = TITLES.get(status, "Something went wrong")
    if wants_json():
        code = {429: "rate_limited", 404: "not_found", 500: "server_error"}.get(
            status, "invalid_request"
        )
        body = jsonify(error={"code": code, "message": message or title})
        response = body, status
    else:
        response = (
            render_template(
                "errors/error.html",
                status=status,
                title=title,
                message=message,
                request_id=getattr(g, "request_id", None),
            ),
            status,
        )
    return response


def init_error_handlers(app: Flask) -> None:
    """Register the handlers on ``app``."""

    @app.before_request
    def _request_id() -> None:
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or secrets.token_hex(8)

    @app.after_request
    def _echo_request_id(response):  # type: ignore[no-untyped-def]
        response.headers["X-Request-Id"] = g.get("request_id", "")
        return response

    @app.errorhandler(CSRFError)
    def _csrf(e: CSRFError):  # type: ignore[no-untyped-def]
        return error_page(
            400,
            "This form has expired or was sent from another page. Go back, reload the page "
            "and submit it again; what you saved before is kept.",
        )

    @app.errorhandler(429)
    def _too_many(e: HTTPException):  # type: ignore[no-untyped-def]
        retry_after = None
        response = error_page(429, e.description)
        if hasattr(e, "retry_after"):
            retry_after = e.retry_after  # pragma: no cover
        return response if retry_after is None else (*response, {"Retry-After": retry_after})

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException):  # type: ignore[no-untyped-def]
        if e.code is None or e.code < 400:
            return e
        message = e.description if e.code in (400, 403, 413) else None
        return error_page(e.code, message)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception):  # type: ignore[no-untyped-def]
        # Log the type only: exception text can carry user input or secrets.
        log.error(
            "unhandled %s on %s %s (request %s)",
            type(e).__name__,
            request.method,
            request.path,
            g.get("request_id"),
        )
        return error_page(500)
