"""The Apple configuration profile on a real server (tests/web_env.py): only for the account that
logs in with HTTP Basic (its password or an app password), the same 401 for every failure, the
login limiter's lockout, and a profile plistlib reads with the listeners' real ports."""

from __future__ import annotations

import base64
import plistlib
import re
import time
from collections.abc import Iterator

import pytest

from serve_process import run_pochta
from web_env import ALICE, DOMAIN, HOSTNAME, PASSWORD, WebEnv, start_web_server

PATH = "/apple/mobileconfig"
CONFIG = "[login]\nfailures_before_delay = 100\nlockout_after = 8\n"


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("mobileconfig"), CONFIG)


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@pytest.mark.parametrize("tls", [False, True])  # plain HTTP only from loopback, as here
def test_profile_for_the_account_that_logs_in(env: WebEnv, tls: bool) -> None:
    response = env.get(PATH, tls=tls, headers=basic(ALICE, PASSWORD))
    assert response.status == 200
    assert response.headers["Content-Type"] == "application/x-apple-aspen-config"
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["Cache-Control"] == "no-store"
    profile = plistlib.loads(response.body)
    assert profile["PayloadType"] == "Configuration"
    assert profile["PayloadVersion"] == 1
    [mail] = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["EmailAccountType"] == "EmailTypeIMAP"
    assert mail["EmailAddress"] == ALICE
    assert (mail["IncomingMailServerHostName"], mail["OutgoingMailServerHostName"]) == (HOSTNAME, HOSTNAME)
    assert mail["IncomingMailServerPortNumber"] == env.port("imaps")
    assert mail["OutgoingMailServerPortNumber"] == env.port("submissions")
    assert mail["IncomingMailServerUseSSL"] is True
    assert mail["OutgoingMailServerUseSSL"] is True
    assert mail["IncomingMailServerUsername"] == ALICE
    assert PASSWORD.encode() not in response.body  # no password is ever put in the profile
    assert "IncomingPassword" not in mail
    again = plistlib.loads(env.get(PATH, tls=tls, headers=basic(ALICE, PASSWORD)).body)
    assert again["PayloadUUID"] == profile["PayloadUUID"]  # a reinstall replaces, never duplicates


def test_app_password_logs_in_too(env: WebEnv) -> None:
    out = run_pochta("app-password", "add", ALICE, "iphone", "--data", str(env.data)).stdout
    found = re.search(r"password: (\S+)", out)
    assert found is not None, out
    app_password = found.group(1)
    response = env.get(PATH, tls=True, headers=basic(ALICE, app_password))
    assert response.status == 200
    assert plistlib.loads(response.body)["PayloadContent"][0]["EmailAddress"] == ALICE


def test_address_in_the_query_must_be_the_account(env: WebEnv) -> None:
    ok = env.get(f"{PATH}?emailaddress={ALICE.upper()}", tls=True, headers=basic(ALICE, PASSWORD))
    assert ok.status == 200
    other = env.get(f"{PATH}?emailaddress=bob%40{DOMAIN}", tls=True, headers=basic(ALICE, PASSWORD))
    assert other.status == 403


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer abc"},
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        basic(ALICE, "wrong password"),
        basic(f"nobody@{DOMAIN}", PASSWORD),
        basic("bob@other.example", PASSWORD),
    ],
)
def test_every_failure_is_the_same_401(env: WebEnv, headers: dict[str, str]) -> None:
    response = env.get(PATH, tls=True, headers=headers)
    assert response.status == 401
    assert response.headers["WWW-Authenticate"].startswith('Basic realm="')
    assert b"PayloadContent" not in response.body
    assert ALICE.encode() not in response.body


def test_failures_lead_to_the_lockout_of_every_login(env: WebEnv) -> None:
    """Last in the file: from here on 127.0.0.1 is locked out (lockout_after = 8)."""
    statuses = [env.get(PATH, tls=True, headers=basic(ALICE, "guess")).status for _ in range(10)]
    # Failures of the tests above count too: 401 until the lockout, then 429 (web.basic_auth:
    # said plainly, as IMAP does).
    assert 429 in statuses, statuses
    locked = statuses.index(429)
    assert statuses[0] == 401
    assert set(statuses[:locked]) == {401}
    assert set(statuses[locked:]) == {429}
    # Even the right password: the lockout is of the client's address, whatever it sends.
    assert env.get(PATH, tls=True, headers=basic(ALICE, PASSWORD)).status == 429
    deadline = time.monotonic() + 10  # the housekeeper worker reports it (shared failures)
    while "login lockout" not in env.server.log_text():
        assert time.monotonic() < deadline, env.server.tail()
        time.sleep(0.05)
