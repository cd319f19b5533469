"""The webmail's settings page in a real browser against a real server: a vacation reply and a
filter set in its tabs work on the next delivery (the filter moves the message into a folder seen
over IMAP; the vacation reply arrives in the sender's local mailbox), POP3 access switched off
there makes POP3 refuse the login; a screenshot and axe-core's check of each tab."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import time
from typing import Any

import pytest
from browser_env import screenshot, serious_accessibility_violations
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from serve_process import run_pochta
from web_env import ALICE, PASSWORD, WebEnv

BOB = "bob@example.org"
TABS = ("filters", "vacation", "forwarding", "access", "accounts", "signature")


def wait(driver: Any, seconds: float = 15) -> WebDriverWait:
    return WebDriverWait(driver, seconds, ignored_exceptions=[StaleElementReferenceException])


def deliver(web: WebEnv, sender: str, subject: str) -> None:
    message = f"From: {sender}\r\nTo: {ALICE}\r\nSubject: {subject}\r\n\r\nHello.\r\n"
    with smtplib.LMTP("127.0.0.1", web.port("lmtp")) as lmtp:
        assert lmtp.sendmail(sender, [ALICE], message.encode()) == {}


def subjects_in(web: WebEnv, user: str, mailbox: str, count: int, timeout: float = 30) -> list[str]:
    """The subjects in the mailbox, once there are ``count`` (the queue delivers a reply)."""
    deadline = time.monotonic() + timeout
    while True:
        client = imaplib.IMAP4("127.0.0.1", web.port("imap"))
        try:
            client.login(user, PASSWORD)
            assert client.select(mailbox)[0] == "OK"
            _, found = client.search(None, "ALL")
            out = []
            for number in found[0].split():
                _, data = client.fetch(number, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
                out.append(data[0][1].decode().split(":", 1)[1].strip())  # type: ignore[index,union-attr]
        finally:
            client.logout()
        if len(out) >= count or time.monotonic() > deadline:
            return out
        time.sleep(0.3)


def pop3_answer(web: WebEnv) -> str:
    client = poplib.POP3("127.0.0.1", web.port("pop3"), timeout=30)
    try:
        client.user(ALICE)
        return client.pass_(PASSWORD).decode()
    except poplib.error_proto as exc:
        return str(exc)
    finally:
        client.close()


@pytest.fixture(scope="module")
def settings(web: WebEnv, driver: Any) -> Any:
    run_pochta("user", "add", BOB, "--password-stdin", "--data", str(web.data), stdin=PASSWORD + "\n")
    client = imaplib.IMAP4("127.0.0.1", web.port("imap"))
    client.login(ALICE, PASSWORD)
    client.create("Receipts")
    client.logout()
    driver.get(f"http://127.0.0.1:{web.port('http')}/webmail/login")
    driver.find_element(By.ID, "address").send_keys(ALICE)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(driver).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    driver.find_element(By.LINK_TEXT, "Settings").click()
    wait(driver).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    return driver


def open_tab(driver: Any, name: str) -> None:
    driver.find_element(By.ID, f"tab-{name}").click()
    wait(driver).until(lambda d: d.find_element(By.ID, f"panel-{name}").is_displayed())


def status_is(driver: Any, text: str) -> None:
    wait(driver).until(lambda d: d.find_element(By.ID, "status").text == text)


def test_every_tab_shown_and_accessible(settings: Any, request: pytest.FixtureRequest) -> None:
    for name in TABS:
        open_tab(settings, name)
        wait(settings).until(lambda d: not d.find_element(By.ID, "status").text.startswith("Could not"))
        screenshot(settings, request, name)
        assert serious_accessibility_violations(settings) == [], name


def test_a_filter_set_in_the_page_files_the_next_delivery(settings: Any, web: WebEnv) -> None:
    open_tab(settings, "filters")
    settings.find_element(By.ID, "f-from").send_keys("shop@example.net")
    wait(settings).until(lambda d: len(Select(d.find_element(By.ID, "f-folder")).options) > 1)
    Select(settings.find_element(By.ID, "f-folder")).select_by_visible_text("Receipts")
    settings.find_element(By.ID, "f-read").click()
    settings.find_element(By.CSS_SELECTOR, "#filter-form button[type=submit]").click()
    status_is(settings, "Filter created.")
    wait(settings).until(lambda d: "shop@example.net" in d.find_element(By.ID, "filter-list").text)
    deliver(web, "shop@example.net", "Your receipt")
    assert subjects_in(web, ALICE, "Receipts", 1) == ["Your receipt"]
    assert "Your receipt" not in subjects_in(web, ALICE, "INBOX", 0)


def test_a_vacation_set_in_the_page_answers_the_next_delivery(settings: Any, web: WebEnv) -> None:
    open_tab(settings, "vacation")
    settings.find_element(By.ID, "v-on").click()
    settings.find_element(By.ID, "v-subject").send_keys("Out of the office")
    settings.find_element(By.ID, "v-body").send_keys("Back on Monday.")
    settings.find_element(By.CSS_SELECTOR, "#vacation-form button[type=submit]").click()
    status_is(settings, "Vacation saved.")
    deliver(web, BOB, "Are you there?")
    assert "Out of the office" in subjects_in(web, BOB, "INBOX", 1)


def test_pop3_access_switched_off_in_the_page_is_refused(settings: Any, web: WebEnv) -> None:
    assert pop3_answer(web).startswith("+OK")
    open_tab(settings, "access")
    box = settings.find_element(By.ID, "a-pop3")
    assert box.is_selected()
    box.click()
    settings.find_element(By.CSS_SELECTOR, "#access-form button[type=submit]").click()
    status_is(settings, "Access saved.")
    assert not pop3_answer(web).startswith("+OK")
    settings.find_element(By.ID, "a-pop3").click()
    settings.find_element(By.CSS_SELECTOR, "#access-form button[type=submit]").click()
    status_is(settings, "Access saved.")
    assert pop3_answer(web).startswith("+OK")


def test_a_signature_saved_in_the_page_is_the_identitys(settings: Any) -> None:
    open_tab(settings, "signature")
    wait(settings).until(lambda d: len(Select(d.find_element(By.ID, "s-identity")).options) >= 1)
    text = settings.find_element(By.ID, "s-text")
    text.clear()
    text.send_keys("Alice\nExample Org")
    settings.find_element(By.CSS_SELECTOR, "#signature-form button[type=submit]").click()
    status_is(settings, "Signature saved.")
    # A new page reads it back from the server (Identity/get).
    settings.refresh()
    wait(settings).until(lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-ready") == "true")
    open_tab(settings, "signature")
    wait(settings).until(
        lambda d: d.find_element(By.ID, "s-text").get_attribute("value") == "Alice\nExample Org"
    )
