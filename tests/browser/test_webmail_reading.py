"""Reading mail in the webmail in headless Chromium: a message delivered by LMTP shows in the
folder list's unread count and in the message list, and opens in the reading view; screenshots
and axe-core's check of each page."""

from __future__ import annotations

import smtplib
from typing import Any

import pytest
from browser_env import screenshot, serious_accessibility_violations
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from web_env import ALICE, PASSWORD, WebEnv

MESSAGE = (
    "From: Bob Example <bob@example.net>\r\n"
    f"To: {ALICE}\r\n"
    "Subject: Lunch on Friday?\r\n"
    "Message-ID: <lunch-1@example.net>\r\n"
    "Date: Mon, 07 Dec 2026 12:00:00 +0000\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "Shall we meet at noon by the fountain?\r\n"
)


def deliver_by_lmtp(web: WebEnv, message: str) -> None:
    with smtplib.LMTP("127.0.0.1", web.port("lmtp")) as lmtp:
        refused = lmtp.sendmail("bob@example.net", [ALICE], message.encode())
    assert refused == {}


def sign_in(web: WebEnv, driver: Any) -> None:
    driver.get(f"http://127.0.0.1:{web.port('http')}/webmail/login")
    driver.find_element(By.ID, "address").send_keys(ALICE)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_a_delivered_message_is_listed_and_read(
    web: WebEnv, driver: Any, request: pytest.FixtureRequest
) -> None:
    deliver_by_lmtp(web, MESSAGE)
    sign_in(web, driver)
    wait = WebDriverWait(driver, 15)
    inbox = wait.until(expected_conditions.presence_of_element_located((By.CSS_SELECTOR, "a.folder .unread")))
    assert inbox.text == "1"
    row = wait.until(expected_conditions.element_to_be_clickable((By.CSS_SELECTOR, "li.message.unread a")))
    assert "Lunch on Friday?" in row.text
    assert "Bob Example" in row.text
    screenshot(driver, request, "inbox")
    assert serious_accessibility_violations(driver) == []

    row.click()
    reader = wait.until(expected_conditions.visibility_of_element_located((By.ID, "reader")))
    wait.until(lambda d: "fountain" in reader.text)
    assert "Lunch on Friday?" in reader.find_element(By.TAG_NAME, "h3").text
    screenshot(driver, request, "reading")
    assert serious_accessibility_violations(driver) == []
