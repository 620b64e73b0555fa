"""The whole vendor round trip in a real headless Chromium, as an admin would click it.

SECURITY.md row 19 (the CSP must not break the redirect after the consent POST) and the
browser half of row 17 (the consent pages refuse to be framed).
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
import requests
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import Browser, LiveApp
from tests.helpers import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def test_admin_walks_the_demo_vendor_connect_link_to_a_token(
    live_app: LiveApp, browser: Browser, sandbox  # type: ignore[no-untyped-def]
) -> None:
    """Demo vendor → four wizard pages → the vendor's callback holds a token (row 19)."""
    setup = live_app.app.test_cli_runner().invoke(args=["demo-setup"])
    assert "Demo vendor registered" in setup.output, setup.output

    browser.get(f"{live_app.url}/demo-vendor/")
    browser.shot("demo-vendor")
    browser.find_element(By.ID, "connect-exchange").click()

    browser.wait_for_path("/account")
    assert "Demo Vendor" in browser.page_source
    browser.shot("page-1-account")
    browser.fill_account_and_access(sandbox.ews_url, DEMO_PASSWORD)
    browser.fill("mailbox", "alice@contoso.example")
    browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
    WebDriverWait(browser.driver, 60).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "a[href$='/authorize']"))
    )
    browser.shot("page-3-test")
    browser.find_element(By.CSS_SELECTOR, "a.button[href$='/authorize']").click()

    browser.wait_for_path("/authorize")
    browser.shot("page-4-authorize")
    browser.find_element(By.CSS_SELECTOR, "button[name=action][value=authorize]").click()

    browser.wait_for_path("/demo-vendor/callback", timeout=30)
    WebDriverWait(browser.driver, 20).until(
        ec.presence_of_element_located((By.ID, "result"))
    )
    browser.shot("vendor-callback")
    landed = urlsplit(browser.current_url)
    assert f"{landed.scheme}://{landed.netloc}" == live_app.url
    assert "Connected: the vendor has a token" in browser.find_element(By.ID, "result").text
    granted = browser.find_element(By.ID, "scopes-granted").text
    assert "read_events" in granted and "read_free_busy" in granted
    assert '"access_token"' in browser.find_element(By.ID, "token-response").text
    browser.assert_no_console_errors()


def test_connect_and_consent_pages_refuse_to_be_framed(
    live_app: LiveApp, browser: Browser
) -> None:
    """Row 17: Chromium blocks our pages inside another origin's iframe (frame-ancestors)."""
    live_app.app.test_cli_runner().invoke(args=["demo-setup"])
    target = f"{live_app.url}/demo-vendor/"
    browser.get("data:text/html,<title>attacker</title>"
                f"<iframe id='victim' src='{target}' width='600' height='400'></iframe>")
    time.sleep(1.5)

    messages = " ".join(e.get("message", "") for e in browser.console())
    browser.switch_to.frame("victim")
    framed_text = browser.find_element(By.TAG_NAME, "body").text
    framed_url = browser.execute_script("return document.URL")
    browser.switch_to.default_content()

    browser.shot("framed")

    # The page itself is up and served (so a blocked frame is the headers' doing).
    direct = requests.get(target, timeout=10)
    assert direct.status_code == 200 and "Connect Exchange" in direct.text
    assert "frame-ancestors 'none'" in direct.headers["Content-Security-Policy"]
    # Chromium replaces a refused frame with its own error document.
    assert framed_url.startswith("chrome-error://"), (framed_url, messages)
    assert "Connect Exchange" not in framed_text
