"""Page 3 in a real browser: each check appears as it finishes, then the saved results."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.e2e.conftest import Browser, LiveApp
from tests.helpers import DEMO_PASSWORD

pytestmark = pytest.mark.e2e


def test_checks_appear_one_by_one_while_the_test_runs(
    live_app: LiveApp, browser: Browser, sandbox  # type: ignore[no-untyped-def]
) -> None:
    browser.get(f"{live_app.url}/connect/")
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    browser.fill_account_and_access(sandbox.ews_url, DEMO_PASSWORD)
    browser.fill("mailbox", "alice@contoso.example")

    sandbox.set_latency(400)  # slow enough to watch: every check takes a few hundred ms
    try:
        browser.find_element(By.CSS_SELECTOR, "form.form button[type=submit]").click()
        first = WebDriverWait(browser.driver, 20).until(ec.presence_of_element_located(
            (By.CSS_SELECTOR, "[data-live-checks] li.check")))
        live = [li.text for li in browser.find_elements(
            By.CSS_SELECTOR, "[data-live-checks] li.check")]
        browser.shot("live-progress")
        assert "Pass" in first.text
        assert live and len(live) < 9, live  # seen while the rest were still running
        WebDriverWait(browser.driver, 60).until(
            ec.presence_of_element_located((By.CSS_SELECTOR, "a.button[href$='/authorize']")))
    finally:
        sandbox.set_latency(0)

    assert "The connection works" in browser.page_source
    browser.shot("results")
    browser.assert_no_console_errors()
