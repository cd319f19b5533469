"""The administration's aliases, units, app passwords and queue in headless Chromium, against a
real server, each action's effect seen by a real client: an alias added in the page receives mail
by LMTP; the root unit's POP3 switch turned off refuses POP3 to its accounts; an app password made
in the page logs in over IMAP until revoked there; a message queued by submission (to a domain
whose transport is a closed loopback port: nothing leaves 127.0.0.1) is listed, retried and
deleted."""

from __future__ import annotations

import imaplib
import poplib
import smtplib
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from browser_env import screenshot, serious_accessibility_violations
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from serve_process import run_pochta
from web_env import ALICE, DOMAIN, PASSWORD, WebEnv, start_web_server

REMOTE = "remote.example"
INFO = f"info@{DOMAIN}"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    config = (
        "[webmail]\nenabled = true\n\n[jmap]\nenabled = true\n\n"
        f'[queue]\ntransport = {{ "{REMOTE}" = "127.0.0.1:{_closed_port()}" }}\n'
    )
    for started in start_web_server(tmp_path_factory.mktemp("admin-objects"), config, ("lmtp",)):
        run_pochta("user", "set", ALICE, "--admin", "--data", str(started.data))
        yield started


def url(web: WebEnv, path: str) -> str:
    return f"http://127.0.0.1:{web.port('http')}{path}"


def status_says(driver: Any, words: str) -> None:
    WebDriverWait(driver, 60).until(
        lambda d: words in d.find_element(By.ID, "status").text, f"the status line never said {words!r}"
    )


def section_drawn(driver: Any, name: str) -> None:
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return document.body.dataset.ready === 'true' && document.body.dataset.section === arguments[0]",
            name,
        )
    )


def open_section(driver: Any, web: WebEnv, name: str) -> None:
    driver.get("about:blank")  # a fresh load: never the section already drawn
    driver.get(url(web, f"/webmail/admin/#{name}"))
    section_drawn(driver, name.split("/")[0])


def checked(driver: Any, request: pytest.FixtureRequest, step: str) -> None:
    screenshot(driver, request, step)
    found = serious_accessibility_violations(driver)
    assert found == [], (step, [(v["id"], [n["target"] for n in v["nodes"]]) for v in found])


def submit(driver: Any, form_title: str, fields: dict[str, str]) -> None:
    form = driver.find_element(By.CSS_SELECTOR, f"form[aria-label='{form_title}']")
    for name, value in fields.items():
        form.find_element(By.NAME, name).send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def imap_login(web: WebEnv, user: str, password: str) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL("localhost", web.port("imaps"), ssl_context=web.client_context(), timeout=30)
    try:
        client.login(user, password)
    except imaplib.IMAP4.error:
        client.shutdown()
        raise
    return client


def pop_login(web: WebEnv, user: str, password: str) -> None:
    pop = poplib.POP3_SSL("localhost", web.port("pop3s"), context=web.client_context(), timeout=30)
    try:
        pop.user(user)
        pop.pass_(password)
        pop.quit()
    finally:
        pop.close()


@pytest.fixture(scope="module")
def signed_in(web: WebEnv, driver: Any) -> Any:
    driver.get(url(web, "/webmail/login"))
    driver.find_element(By.ID, "address").send_keys(ALICE)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_to_be(url(web, "/webmail/")))
    return driver


def test_an_alias_added_in_the_page_receives_mail(
    web: WebEnv, signed_in: Any, request: pytest.FixtureRequest
) -> None:
    driver = signed_in
    open_section(driver, web, "aliases")
    submit(driver, "Add an alias", {"source": INFO, "targets": ALICE})
    status_says(driver, f"Added {INFO}")
    checked(driver, request, "aliases")
    with smtplib.LMTP("127.0.0.1", web.port("lmtp"), timeout=30) as lmtp:
        lmtp.sendmail(
            "sender@example.net", [INFO], b"From: sender@example.net\r\nSubject: via alias\r\n\r\nhello\r\n"
        )
    client = imap_login(web, ALICE, PASSWORD)
    client.select("INBOX")
    assert client.search(None, '(SUBJECT "via alias")')[1][0]
    client.logout()


def test_the_root_units_pop3_switch(web: WebEnv, signed_in: Any, request: pytest.FixtureRequest) -> None:
    driver = signed_in
    pop_login(web, ALICE, PASSWORD)
    open_section(driver, web, "units")
    (root,) = driver.find_elements(By.XPATH, "//tr[td[2][text()='—']]")
    root.find_element(By.CSS_SELECTOR, "input[aria-label^='POP3']").click()
    status_says(driver, "POP3 off")
    checked(driver, request, "units-pop3-off")
    with pytest.raises(poplib.error_proto):
        pop_login(web, ALICE, PASSWORD)
    imap_login(web, ALICE, PASSWORD).logout()  # IMAP is still on
    open_section(driver, web, "units")
    (root,) = driver.find_elements(By.XPATH, "//tr[td[2][text()='—']]")
    switch = root.find_element(By.CSS_SELECTOR, "input[aria-label^='POP3']")
    assert not switch.is_selected()  # the page shows the stored switch
    switch.click()
    status_says(driver, "POP3 on")
    pop_login(web, ALICE, PASSWORD)


def test_an_app_password_made_and_revoked_in_the_page(
    web: WebEnv, signed_in: Any, request: pytest.FixtureRequest
) -> None:
    driver = signed_in
    open_section(driver, web, f"app-passwords/{ALICE}")
    submit(driver, "Add an app password", {"name": "phone"})
    status_says(driver, "Added phone")
    password = driver.find_element(By.ID, "new-app-password").text
    checked(driver, request, "app-password")
    imap_login(web, ALICE, password).logout()
    driver.find_element(By.XPATH, "//button[@aria-label='Revoke phone']").click()
    status_says(driver, "Revoked phone")
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(web, ALICE, password)


def test_the_queue_lists_retries_and_deletes(
    web: WebEnv, signed_in: Any, request: pytest.FixtureRequest
) -> None:
    driver = signed_in
    friend = f"friend@{REMOTE}"
    with smtplib.SMTP_SSL(
        "localhost", web.port("submissions"), context=web.client_context(), timeout=30
    ) as smtp:
        smtp.login(ALICE, PASSWORD)
        smtp.sendmail(
            ALICE, [friend], f"From: {ALICE}\r\nTo: {friend}\r\nSubject: out\r\n\r\nbody\r\n".encode()
        )
    open_section(driver, web, "queue")
    status_says(driver, "1 queued message")
    row = driver.find_element(By.XPATH, f"//tr[td[text()='{ALICE}']]")
    assert friend in row.text
    checked(driver, request, "queue")
    row.find_element(By.XPATH, ".//button[text()='Retry']").click()
    status_says(driver, "is due now")
    driver.find_element(By.XPATH, f"//tr[td[text()='{ALICE}']]//button[text()='Delete']").click()
    WebDriverWait(driver, 10).until(expected_conditions.alert_is_present()).accept()
    status_says(driver, "Deleted")
    assert driver.find_elements(By.XPATH, f"//tr[td[text()='{ALICE}']]") == []  # the list redrawn


def test_an_account_moved_into_a_unit_follows_its_switch(
    web: WebEnv, signed_in: Any, request: pytest.FixtureRequest
) -> None:
    driver = signed_in
    open_section(driver, web, "units")
    submit(driver, "Add a unit", {"unit": "night-shift"})
    status_says(driver, "Added unit night-shift")
    row = driver.find_element(By.XPATH, "//tr[td[1][text()='night-shift']]")
    row.find_element(By.CSS_SELECTOR, "input[aria-label^='POP3']").click()
    status_says(driver, "night-shift: POP3 off")
    pop_login(web, ALICE, PASSWORD)  # not in it yet

    open_section(driver, web, "accounts")
    picker = Select(driver.find_element(By.CSS_SELECTOR, f"select[aria-label='Unit of {ALICE}']"))
    home = picker.first_selected_option.text
    picker.select_by_visible_text("night-shift")
    status_says(driver, f"{ALICE}: unit night-shift")
    checked(driver, request, "accounts-unit")
    with pytest.raises(poplib.error_proto):
        pop_login(web, ALICE, PASSWORD)
    Select(
        driver.find_element(By.CSS_SELECTOR, f"select[aria-label='Unit of {ALICE}']")
    ).select_by_visible_text(home)
    status_says(driver, f"{ALICE}: unit {home}")
    pop_login(web, ALICE, PASSWORD)


def test_a_password_changed_in_the_page(web: WebEnv, signed_in: Any, request: pytest.FixtureRequest) -> None:
    driver = signed_in
    erin, first, second = f"erin@{DOMAIN}", "erin's first password", "erin's second password"
    run_pochta("user", "add", erin, "--password-stdin", "--data", str(web.data), stdin=f"{first}\n")
    imap_login(web, erin, first).logout()
    open_section(driver, web, "accounts")
    submit(driver, "Change a password", {"passwd-address": erin, "new-password": second})
    status_says(driver, f"{erin}: password changed")
    checked(driver, request, "password-changed")
    imap_login(web, erin, second).logout()
    with pytest.raises(imaplib.IMAP4.error):
        imap_login(web, erin, first)
