"""The browser tests' fixtures: a real server with the webmail on (tests/web_env.py) and a headless
Chromium (browser_env.py); every test here drives an external browser, so each is an interop test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browser_env import chromium_driver

from web_env import WebEnv, start_web_server

WEBMAIL = "[webmail]\nenabled = true\n\n[jmap]\nenabled = true\n"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in item.nodeid.replace("\\", "/"):
            item.add_marker(pytest.mark.interop)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("browser"), WEBMAIL, ("lmtp",))


@pytest.fixture(scope="module")
def driver() -> Iterator[Any]:
    yield from chromium_driver()
