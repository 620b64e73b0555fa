"""Helpers shared by the tests: unique data and a driver for the wizard through the test client."""

from __future__ import annotations

import re
import secrets
from typing import Any

from flask.testing import FlaskClient

DEMO_PASSWORD = "Sandbox-Pass-1"


def random_ref(prefix: str = "ref") -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, "no CSRF token on the page"
    return match.group(1)


class WizardActions:
    """Walk the wizard through Flask's test client, as a browser would (CSRF included)."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.attempt_id: str | None = None

    def _post(self, path: str, data: dict[str, Any], **kwargs: Any):  # type: ignore[no-untyped-def]
        page = self.client.get(path)
        token = csrf_token(page.get_data(as_text=True))
        return self.client.post(path, data={"csrf_token": token, **data}, **kwargs)

    def start(self) -> str:
        page = self.client.get("/connect/")
        token = csrf_token(page.get_data(as_text=True))
        response = self.client.post("/connect/new", data={"csrf_token": token})
        assert response.status_code == 302, response.status_code
        match = re.search(r"/connect/([^/]+)/account", response.headers["Location"])
        assert match
        self.attempt_id = match.group(1)
        return self.attempt_id

    def url(self, step: str) -> str:
        assert self.attempt_id
        return f"/connect/{self.attempt_id}/{step}"

    def account(self, ews_url: str, service_account: str = "svc-full@contoso.example",
                password: str = DEMO_PASSWORD, **extra: Any):  # type: ignore[no-untyped-def]
        data = {
            "deployment": "onprem",
            "service_account": service_account,
            "password": password,
            "endpoint": "url",
            "ews_url": ews_url,
            **extra,
        }
        return self._post(self.url("account"), data)

    def access(self, level: str = "full", coverage: str = "all",
               **extra: Any):  # type: ignore[no-untyped-def]
        data = {"level": level, "coverage": coverage, "action": "continue", **extra}
        return self._post(self.url("access"), data)

    def test(self, mailbox: str = "alice@contoso.example",
             **extra: Any):  # type: ignore[no-untyped-def]
        return self._post(self.url("test"), {"mailbox": mailbox, **extra})

    def authorize(self, action: str = "authorize"):  # type: ignore[no-untyped-def]
        return self._post(self.url("authorize"), {"action": action})
