"""The web administration's pages in headless Chromium, against a real server: an administrator
signs in to the webmail, follows its Administration link, adds a domain (its DNS records to
publish shown) and an account with a typed password, which then logs in over IMAP (imaplib);
switches POP3 off for that account and POP3 refuses it (poplib); every section drawn, with a
screenshot and axe-core's check (no serious or critical violation) of each, and on a phone's
screen; an account without the admin role gets no link and the page refuses it."""

from __future__ import annotations

import imaplib
import poplib
from typing import Any

import pytest
from browser_env import screenshot, serious_accessibility_violations
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from serve_process import run_pochta
from web_env import ALICE, PASSWORD, WebEnv

NEW_DOMAIN = "admin-pages.example"
CAROL = f"carol@{NEW_DOMAIN}"
CAROL_PASSWORD = "carol's typed password"
SECTIONS = ("aliases", "units", "app-passwords", "queue", "dns", "dkim", "status")


def url(web: WebEnv, path: str) -> str:
    return f"http://127.0.0.1:{web.port('http')}{path}"


def sign_in(driver: Any, web: WebEnv, address: str, password: str) -> None:
    driver.get(url(web, "/webmail/login"))
    driver.find_element(By.ID, "address").send_keys(address)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_to_be(url(web, "/webmail/")))


def sign_out(driver: Any) -> None:
    driver.find_element(By.XPATH, "//button[text()='Sign out']").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_contains("/webmail/login"))


def section_drawn(driver: Any, name: str) -> None:
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return document.body.dataset.ready === 'true' && document.body.dataset.section === arguments[0]",
            name,
        )
    )


def status_says(driver: Any, words: str) -> None:
    WebDriverWait(driver, 60).until(
        lambda d: words in d.find_element(By.ID, "status").text,
        f"the status line never said {words!r}",
    )


def fill(driver: Any, name: str, value: str) -> None:
    field = driver.find_element(By.CSS_SELECTOR, f"#section input[name='{name}']")
    field.clear()
    field.send_keys(value)


def submit(driver: Any, form_title: str) -> None:
    driver.find_element(By.CSS_SELECTOR, f"form[aria-label='{form_title}'] button[type=submit]").click()


def checked(driver: Any, request: pytest.FixtureRequest, step: str) -> None:
    screenshot(driver, request, step)
    found = serious_accessibility_violations(driver)
    assert found == [], (
        step,
        [
            (v["id"], [(n["target"], n.get("failureSummary"), n.get("html")) for n in v["nodes"]])
            for v in found
        ],
    )


@pytest.fixture(scope="module")
def admin_web(web: WebEnv) -> WebEnv:
    run_pochta("user", "set", ALICE, "--admin", "--data", str(web.data))
    return web


def test_admin_adds_a_domain_and_an_account_and_switches_pop3_off(
    admin_web: WebEnv, driver: Any, request: pytest.FixtureRequest
) -> None:
    web = admin_web
    sign_in(driver, web, ALICE, PASSWORD)
    link = WebDriverWait(driver, 15).until(expected_conditions.element_to_be_clickable((By.ID, "admin-link")))
    checked(driver, request, "webmail-with-link")
    link.click()
    WebDriverWait(driver, 15).until(expected_conditions.url_contains("/webmail/admin/"))
    section_drawn(driver, "domains")
    checked(driver, request, "domains")

    fill(driver, "domain", NEW_DOMAIN)
    submit(driver, "Add a domain")
    status_says(driver, f"Added {NEW_DOMAIN}")
    records = driver.find_element(By.ID, "domain-records").text
    assert f"._domainkey.{NEW_DOMAIN}" in records  # the DKIM keys to publish
    assert "MX" in records
    assert NEW_DOMAIN in driver.find_element(By.CSS_SELECTOR, "table").text
    checked(driver, request, "domain-added")

    driver.find_element(By.CSS_SELECTOR, "a[data-section='accounts']").click()
    section_drawn(driver, "accounts")
    fill(driver, "address", CAROL)
    fill(driver, "password", CAROL_PASSWORD)
    submit(driver, "Add an account")
    status_says(driver, f"Added {CAROL}")
    checked(driver, request, "accounts")

    imap = imaplib.IMAP4_SSL("localhost", web.port("imaps"), ssl_context=web.client_context(), timeout=30)
    assert imap.login(CAROL, CAROL_PASSWORD)[0] == "OK"
    imap.logout()
    pop = poplib.POP3_SSL("localhost", web.port("pop3s"), context=web.client_context(), timeout=30)
    pop.user(CAROL)
    assert pop.pass_(CAROL_PASSWORD).startswith(b"+OK")
    pop.quit()

    # Search finds the account; its POP3 switch goes off.
    search = driver.find_element(By.ID, "account-search")
    search.send_keys("carol")
    search.submit()
    WebDriverWait(driver, 15).until(lambda d: "of 1." in d.find_element(By.ID, "status").text)
    row = driver.find_element(By.XPATH, f"//tr[td[text()='{CAROL}']]")
    row.find_element(By.CSS_SELECTOR, "input[data-protocol='pop3']").click()
    status_says(driver, f"{CAROL}: pop3 off")
    pop = poplib.POP3_SSL("localhost", web.port("pop3s"), context=web.client_context(), timeout=30)
    pop.user(CAROL)
    with pytest.raises(poplib.error_proto):
        pop.pass_(CAROL_PASSWORD)
    pop.close()
    imap = imaplib.IMAP4_SSL("localhost", web.port("imaps"), ssl_context=web.client_context(), timeout=30)
    assert imap.login(CAROL, CAROL_PASSWORD)[0] == "OK"  # IMAP still on
    imap.logout()

    for name in SECTIONS:
        driver.find_element(By.CSS_SELECTOR, f"a[data-section='{name}']").click()
        section_drawn(driver, name)
        assert "error" not in (driver.find_element(By.ID, "status").get_attribute("class") or ""), name
        checked(driver, request, name)
    sign_out(driver)


def test_the_pages_fit_a_phones_screen(
    admin_web: WebEnv, driver: Any, request: pytest.FixtureRequest
) -> None:
    sign_in(driver, admin_web, ALICE, PASSWORD)
    driver.set_window_size(390, 844)
    try:
        for name in ("accounts", "domains"):
            driver.get(url(admin_web, f"/webmail/admin/#{name}"))
            section_drawn(driver, name)
            width = driver.execute_script("return document.documentElement.scrollWidth")
            assert width <= driver.execute_script("return window.innerWidth"), name  # no sideways scroll
            checked(driver, request, f"phone-{name}")
    finally:
        driver.set_window_size(1280, 900)
    sign_out(driver)


def test_a_non_admin_gets_no_link_and_the_page_refuses(
    admin_web: WebEnv, driver: Any, request: pytest.FixtureRequest
) -> None:
    dave, password = "dave@example.org", "dave's own password"
    run_pochta("user", "add", dave, "--password-stdin", "--data", str(admin_web.data), stdin=f"{password}\n")
    sign_in(driver, admin_web, dave, password)
    WebDriverWait(driver, 15).until(
        lambda d: d.execute_script("return document.body.dataset.ready === 'true'")
    )
    assert driver.find_elements(By.ID, "admin-link") == []
    driver.get(url(admin_web, "/webmail/admin/"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Not allowed"
    checked(driver, request, "refused")
    # Not signed in at all: the sign-in page.
    assert admin_web.get("/webmail/admin/").status == 303
    driver.get(url(admin_web, "/webmail/"))
    sign_out(driver)
