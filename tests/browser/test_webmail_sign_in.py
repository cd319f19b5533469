"""Signing in to the webmail and out again in headless Chromium: the redirect to the sign-in page,
a wrong password, the page of the signed-in account, sign-out; a screenshot of each page and
axe-core's accessibility check (no serious or critical violation) of each."""

from __future__ import annotations

from typing import Any

import pytest
from browser_env import screenshot, serious_accessibility_violations
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from web_env import ALICE, PASSWORD, WebEnv


def url(web: WebEnv, path: str) -> str:
    return f"http://127.0.0.1:{web.port('http')}{path}"


def sign_in(driver: Any, address: str, password: str) -> None:
    driver.find_element(By.ID, "address").clear()
    driver.find_element(By.ID, "address").send_keys(address)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_sign_in_read_the_account_and_sign_out(
    web: WebEnv, driver: Any, request: pytest.FixtureRequest
) -> None:
    wait = WebDriverWait(driver, 15)
    driver.get(url(web, "/webmail/"))
    wait.until(expected_conditions.url_contains("/webmail/login"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Sign in"
    screenshot(driver, request, "sign-in")
    assert serious_accessibility_violations(driver) == []

    sign_in(driver, ALICE, "not the password")
    alert = wait.until(expected_conditions.visibility_of_element_located((By.CSS_SELECTOR, "[role=alert]")))
    assert "Wrong address or password" in alert.text
    assert driver.find_element(By.ID, "address").get_attribute("value") == ALICE  # kept for the retry
    screenshot(driver, request, "wrong-password")
    assert serious_accessibility_violations(driver) == []

    sign_in(driver, ALICE, PASSWORD)
    wait.until(expected_conditions.url_to_be(url(web, "/webmail/")))
    assert driver.find_element(By.CSS_SELECTOR, ".account").text == ALICE
    # The session cookie is out of the page's scripts' reach.
    assert driver.execute_script("return document.cookie") == ""
    screenshot(driver, request, "signed-in")
    assert serious_accessibility_violations(driver) == []

    driver.find_element(By.XPATH, "//button[text()='Sign out']").click()
    wait.until(expected_conditions.url_contains("/webmail/login"))
    driver.get(url(web, "/webmail/"))
    wait.until(expected_conditions.url_contains("/webmail/login"))  # the session is over


def test_the_sign_in_page_fits_a_phones_screen(
    web: WebEnv, driver: Any, request: pytest.FixtureRequest
) -> None:
    driver.set_window_size(390, 844)  # a phone's viewport in CSS pixels
    try:
        driver.get(url(web, "/webmail/login"))
        width = driver.execute_script("return document.documentElement.scrollWidth")
        viewport = driver.execute_script("return window.innerWidth")
        assert width <= viewport  # nothing to scroll sideways
        button = driver.find_element(By.CSS_SELECTOR, "button[type=submit]")
        assert button.size["width"] >= viewport * 0.6  # a thumb-sized target
        screenshot(driver, request, "phone")
    finally:
        driver.set_window_size(1280, 900)
