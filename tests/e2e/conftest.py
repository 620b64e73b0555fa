"""Browser-test fixtures: the app served live over HTTP, and a headless Debian Chromium.

``live_app`` runs ``create_app`` under Werkzeug's threaded server on a free port, with
``PUBLIC_URL`` set to that origin and CSRF on, against the session's SQLite database.
``browser`` drives Chromium through chromedriver; :class:`Browser` keeps a full-page screenshot
of each page under ``tests/e2e/screenshots/`` and fails on any console error.
"""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from app import create_app
from app.database import db
from tests.conftest import ENCRYPTION_KEY

CHROMIUM = Path(os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
SCREENSHOTS = Path(__file__).parent / "screenshots"

pytestmark = pytest.mark.e2e


@dataclass
class LiveApp:
    """The app served over real HTTP."""

    url: str
    app: Flask
    server: BaseWSGIServer = field(repr=False)


@pytest.fixture
def live_app(database_url: str) -> Iterator[LiveApp]:
    """The app on a free loopback port (SQLite only: one backend is enough for a browser)."""
    if not database_url.startswith("sqlite"):
        pytest.skip("browser tests run against the SQLite database only")
    holder: dict[str, Flask] = {}

    def wsgi(environ: dict[str, Any], start_response: Any) -> Any:
        return holder["app"](environ, start_response)

    # Bind first, so PUBLIC_URL (the OAuth issuer and redirect_uri base) names the real port.
    server = make_server("127.0.0.1", 0, wsgi, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    app = create_app(
        {
            "SECRET_KEY": "e2e-secret-key-" + "x" * 32,
            "ENCRYPTION_KEYS": (ENCRYPTION_KEY,),
            "DATABASE_URL": database_url,
            "PUBLIC_URL": url,
            "OUTBOUND_ALLOW_HOSTS": ("127.0.0.1", "localhost"),
            "RATELIMIT_STORAGE_URI": "memory://",
            "WTF_CSRF_ENABLED": True,
        }
    )
    holder["app"] = app
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield LiveApp(url, app, server)
    finally:
        server.shutdown()
        thread.join(10)
        db.session.remove()


class Browser:
    """A thin wrapper over the WebDriver that screenshots pages and watches the console."""

    def __init__(self, driver: Any, name: str) -> None:
        self.driver = driver
        self.name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
        self.shots = 0

    def __getattr__(self, item: str) -> Any:
        return getattr(self.driver, item)

    def shot(self, label: str) -> Path:
        """Save a full-page screenshot as ``screenshots/<test>-<n>-<label>.png``."""
        self.shots += 1
        SCREENSHOTS.mkdir(exist_ok=True)
        path = SCREENSHOTS / f"{self.name}-{self.shots:02d}-{label}.png"
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        data = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                         "scale": 1},
            },
        )
        path.write_bytes(base64.b64decode(data["data"]))
        return path

    def console(self) -> list[dict[str, Any]]:
        """Return (and consume) the browser console entries since the last call."""
        entries: list[dict[str, Any]] = self.driver.get_log("browser")
        return entries

    def assert_no_console_errors(self) -> None:
        errors = [e for e in self.console() if e.get("level") == "SEVERE"]
        assert not errors, f"browser console errors: {errors}"

    def wait_for_path(self, fragment: str, timeout: float = 20) -> None:
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout).until(lambda d: fragment in d.current_url)

    def fill(self, name: str, value: str) -> None:
        from selenium.webdriver.common.by import By

        field = self.driver.find_element(By.NAME, name)
        field.clear()
        field.send_keys(value)

    def fill_account_and_access(self, ews_url: str, password: str) -> None:
        """Pages 1 and 2 as an admin fills them: svc-full on the given EWS URL, Full level."""
        from selenium.webdriver.common.by import By

        self.wait_for_path("/account")
        self.choose("deployment", "onprem")
        self.fill("service_account", "svc-full@contoso.example")
        self.fill("password", password)
        self.choose("endpoint", "url")
        self.fill("ews_url", ews_url)
        self.driver.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
        self.wait_for_path("/access")
        self.shot("page-2-access")
        self.choose("level", "full")
        self.choose("coverage", "all")
        self.driver.find_element(
            By.CSS_SELECTOR, "button[name=action][value=continue]").click()
        self.wait_for_path("/test")

    def choose(self, name: str, value: str) -> None:
        from selenium.webdriver.common.by import By

        self.driver.find_element(
            By.CSS_SELECTOR, f"input[name='{name}'][value='{value}']").click()


@pytest.fixture
def browser(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Browser]:
    """Headless Debian Chromium with a fresh profile; skipped when it is not installed."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip("Chromium or chromedriver is not installed (apt-get install chromium "
                    "chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
    driver.set_page_load_timeout(30)
    try:
        yield Browser(driver, request.node.name)
    finally:
        driver.quit()
