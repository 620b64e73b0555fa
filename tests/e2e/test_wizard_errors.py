"""The shared error path in a real browser: a mistake is explained, focused and fixable."""

from __future__ import annotations

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.e2e


def test_an_admin_on_a_phone_fixes_a_mistake_with_the_keyboard_and_loses_nothing(
    live_app, browser, sandbox
):
    browser.set_window_size(375, 800)
    browser.get(f"{live_app.url}/connect/")
    browser.find_element(By.CSS_SELECTOR, "main button[type=submit]").click()
    wait = WebDriverWait(browser.driver, 10)
    wait.until(ec.presence_of_element_located((By.ID, "service_account")))
    browser.find_element(By.ID, "service_account").send_keys("O’Brien@contoso.example")
    browser.find_element(By.ID, "password").send_keys("Sandbox-Pass-1")
    browser.find_element(By.ID, "ews_url").send_keys(sandbox.ews_url + Keys.ENTER)

    summary = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".error-summary")))
    focused = browser.switch_to.active_element
    browser.shot("error-summary")
    assert summary == focused
    assert "apostrophe" in summary.text.lower() or "quote" in summary.text.lower()
    assert browser.find_element(By.ID, "ews_url").get_attribute("value") == sandbox.ews_url
    assert browser.find_element(By.ID, "service_account").get_attribute("aria-invalid") == "true"
    assert browser.execute_script(
        "return document.documentElement.scrollWidth <= window.innerWidth"
    ), "the page scrolls sideways at 375 px"

    summary.find_element(By.TAG_NAME, "a").send_keys(Keys.ENTER)
    field = browser.switch_to.active_element
    field.clear()
    field.send_keys("svc-full@contoso.example")
    browser.find_element(By.ID, "password").send_keys("Sandbox-Pass-1" + Keys.ENTER)

    wait.until(ec.url_contains("/access"))
    browser.shot("access")
    browser.assert_no_console_errors()


def test_an_unknown_page_and_a_foreign_wizard_say_what_happened(live_app, browser):
    browser.get(f"{live_app.url}/connect/att_not-mine/test")

    notice = browser.find_element(By.CSS_SELECTOR, ".notice").text
    browser.shot("foreign-wizard")
    browser.get(f"{live_app.url}/no/such/page")
    heading = browser.find_element(By.TAG_NAME, "h1").text
    browser.shot("not-found")

    assert "expired" in notice and "Nothing was connected" in notice
    assert heading == "Page not found"
    errors = [e for e in browser.console() if e.get("level") == "SEVERE"]
    assert [e for e in errors if "status of 404" not in e["message"]] == []
