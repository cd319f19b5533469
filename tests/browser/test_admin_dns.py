"""The administration's DNS and DKIM sections in headless Chromium, against a real server whose
lookups go to the loopback DNS stub (tests/dns_stub.py: never real DNS): the live check of a
domain's records (the published MX found, the missing DMARC record said so), then a DKIM rotation
that activates only once the stub publishes the new keys, and the retired key forgotten."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_env import screenshot, serious_accessibility_violations
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from dns_stub import DnsStub, DnsStubThread
from serve_process import run_pochta
from web_env import ALICE, DOMAIN, HOSTNAME, PASSWORD, WebEnv, start_web_server


@pytest.fixture(scope="module")
def dns_stub() -> Iterator[DnsStub]:
    running = DnsStubThread({(f"{DOMAIN}.", "MX"): [f"10 {HOSTNAME}."]})
    try:
        yield running.stub
    finally:
        running.close()


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory, dns_stub: DnsStub) -> Iterator[WebEnv]:
    config = (
        "[webmail]\nenabled = true\n\n[jmap]\nenabled = true\n\n"
        f'[queue]\ndns_nameservers = ["{dns_stub.nameserver}"]\ndns_timeout = 2.0\n'
    )
    for started in start_web_server(tmp_path_factory.mktemp("admin-dns"), config, ("lmtp",)):
        run_pochta("user", "set", ALICE, "--admin", "--data", str(started.data))
        yield started


def url(web: WebEnv, path: str) -> str:
    return f"http://127.0.0.1:{web.port('http')}{path}"


def status_says(driver: Any, words: str) -> str:
    WebDriverWait(driver, 60).until(
        lambda d: words in d.find_element(By.ID, "status").text, f"the status line never said {words!r}"
    )
    return str(driver.find_element(By.ID, "status").text)


def section_drawn(driver: Any, name: str) -> None:
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script(
            "return document.body.dataset.ready === 'true' && document.body.dataset.section === arguments[0]",
            name,
        )
    )


def checked(driver: Any, request: pytest.FixtureRequest, step: str) -> None:
    screenshot(driver, request, step)
    found = serious_accessibility_violations(driver)
    assert found == [], (step, [(v["id"], [n["target"] for n in v["nodes"]]) for v in found])


def submit(driver: Any, form_title: str, field: str, value: str) -> None:
    form = driver.find_element(By.CSS_SELECTOR, f"form[aria-label='{form_title}']")
    form.find_element(By.NAME, field).send_keys(value)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def test_dns_check_and_dkim_rotation(
    web: WebEnv, dns_stub: DnsStub, driver: Any, request: pytest.FixtureRequest
) -> None:
    driver.get(url(web, "/webmail/login"))
    driver.find_element(By.ID, "address").send_keys(ALICE)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 15).until(expected_conditions.url_to_be(url(web, "/webmail/")))

    driver.get(url(web, "/webmail/admin/#dns"))
    section_drawn(driver, "dns")
    assert "not checked" in driver.find_element(By.ID, "dns-result").text
    driver.find_element(By.XPATH, "//button[text()='Check in DNS']").click()
    status_says(driver, "not as wanted")
    mx = driver.find_element(By.XPATH, f"//tr[td[text()='{DOMAIN}.'] and td[text()='MX']]")
    assert "published" in mx.text
    dmarc = driver.find_element(By.XPATH, f"//tr[td[text()='_dmarc.{DOMAIN}.']]")
    assert "missing" in dmarc.text
    assert (f"{DOMAIN}.", "MX") in dns_stub.queries  # asked of the stub
    checked(driver, request, "dns-checked")

    driver.find_element(By.CSS_SELECTOR, "a[data-section='dkim']").click()
    section_drawn(driver, "dkim")
    active_before = len(driver.find_elements(By.XPATH, "//tr[td[text()='active']]"))
    assert active_before
    submit(driver, "New keys (rotate)", "dkim-domain", DOMAIN)
    status_says(driver, "New pending keys")
    pending = driver.find_elements(By.XPATH, "//tr[td[text()='pending']]")
    assert pending
    submit(driver, "Activate published keys", "activate-domain", DOMAIN)
    status_says(driver, "Not yet")
    for row in driver.find_elements(By.XPATH, "//tr[td[text()='pending']]"):
        selector = row.find_elements(By.TAG_NAME, "td")[1].text
        text = row.find_element(By.CSS_SELECTOR, "code.record").text
        strings = " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))
        dns_stub.zone[(f"{selector}._domainkey.{DOMAIN}.", "TXT")] = [strings]
    submit(driver, "Activate published keys", "activate-domain", DOMAIN)
    status_says(driver, "Activated")
    assert driver.find_elements(By.XPATH, "//tr[td[text()='pending']]") == []
    retiring = driver.find_elements(By.XPATH, "//tr[td[text()='retiring']]")
    assert len(retiring) == active_before
    retiring[0].find_element(By.XPATH, ".//button[text()='Retire']").click()
    status_says(driver, "Retired")
    assert len(driver.find_elements(By.XPATH, "//tr[td[text()='retiring']]")) == active_before - 1
    checked(driver, request, "dkim-rotated")
