"""Headless Chromium for the webmail's browser tests: Debian's ``chromium`` and ``chromium-driver``
driven by selenium, screenshots of each page kept, and axe-core's accessibility check.

Chromium starts with its background networking off (this machine reaches no other host: without
the flags it retries Google's services at every start) and a new empty profile per driver.
Screenshots go to ``$POCHTA_SCREENSHOTS`` or ``.artifacts/screenshots`` at the repository's top
(ignored by git), one PNG per page and step, named by the test.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SCREENSHOTS = Path(
    os.environ.get("POCHTA_SCREENSHOTS") or Path(__file__).resolve().parents[2] / ".artifacts" / "screenshots"
)
# axe-core impacts (https://github.com/dequelabs/axe-core/blob/develop/doc/API.md): the issue asks
# for no serious violations; critical ones are worse still.
BLOCKING_IMPACTS = frozenset({"serious", "critical"})


def chromium_driver() -> Iterator[Any]:
    """A headless Chromium (generator for a fixture); skips when Debian's packages are missing
    (CI installs them: POCHTA_REQUIRE_INTEROP=1 turns the skip into a failure)."""
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.skip(
            "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="pochta-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",  # tests run as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def screenshot(driver: Any, request: pytest.FixtureRequest, step: str) -> Path:
    """Save the page as it is now; the file's path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{request.node.name}-{step}") + ".png"
    path = SCREENSHOTS / name
    assert driver.save_screenshot(str(path)), f"no screenshot of {step}"
    return path


def serious_accessibility_violations(driver: Any) -> list[dict[str, Any]]:
    """axe-core's violations of impact serious or critical on the current page."""
    from axe_selenium_python import Axe

    axe = Axe(driver)
    axe.inject()
    results = axe.run()
    return [v for v in results["violations"] if v.get("impact") in BLOCKING_IMPACTS]
