"""Debian's curl against the HTTP listeners of a real ``pochta serve --workers 2``
(tests/web_env.py): HTTPS verified against the test CA with the host names clients use
(``--resolve`` maps them to 127.0.0.1), Basic authentication, a POST, the challenge file. Skips
when curl is missing (CI installs it and sets POCHTA_REQUIRE_INTEROP=1)."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from web_env import ALICE, DOMAIN, HOSTNAME, PASSWORD, WebEnv, start_web_server

pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("curl"))


def curl(env: WebEnv, *args: str) -> tuple[int, bytes]:
    """Run curl; (HTTP status, body)."""
    binary = shutil.which("curl")
    if binary is None:
        pytest.skip("curl is not installed (apt-get install curl)")
    port = env.port("https")
    resolve = [
        part for name in (f"mta-sts.{DOMAIN}", HOSTNAME) for part in ("--resolve", f"{name}:{port}:127.0.0.1")
    ]
    result = subprocess.run(
        [binary, "-sS", "--cacert", str(env.ca_file), *resolve, "-w", "\n%{http_code}", *args],
        capture_output=True,
        timeout=60,
        check=True,
    )
    body, _, status = result.stdout.rpartition(b"\n")
    return int(status), body


def test_policy_over_verified_https(env: WebEnv) -> None:
    status, body = curl(env, f"https://mta-sts.{DOMAIN}:{env.port('https')}/.well-known/mta-sts.txt")
    assert status == 200
    assert body == f"version: STSv1\r\nmode: testing\r\nmx: {HOSTNAME}\r\nmax_age: 604800\r\n".encode()


def test_challenge_over_plain_http(env: WebEnv) -> None:
    directory = Path(env.data) / "acme" / "http-01"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "curl-token_1").write_bytes(b"curl-token_1.thumbprint")
    status, body = curl(env, f"http://127.0.0.1:{env.port('http')}/.well-known/acme-challenge/curl-token_1")
    assert (status, body) == (200, b"curl-token_1.thumbprint")


def test_autoconfig_and_autodiscover(env: WebEnv) -> None:
    base = f"https://{HOSTNAME}:{env.port('https')}"
    status, body = curl(env, f"{base}/mail/config-v1.1.xml?emailaddress={ALICE}")
    assert status == 200
    ports = [int(port.text or "0") for port in ET.fromstring(body).iter("port")]
    assert ports[0] == env.port("imaps")
    request = (
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
        f"<Request><EMailAddress>{ALICE}</EMailAddress><AcceptableResponseSchema>"
        "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
        "</AcceptableResponseSchema></Request></Autodiscover>"
    )
    status, body = curl(
        env, "-H", "Content-Type: text/xml", "--data-binary", request, f"{base}/autodiscover/autodiscover.xml"
    )
    assert status == 200
    assert f"<Port>{env.port('submissions')}</Port>".encode() in body


def test_mobileconfig_with_basic_auth(env: WebEnv) -> None:
    url = f"https://{HOSTNAME}:{env.port('https')}/apple/mobileconfig"
    status, _body = curl(env, url)
    assert status == 401
    status, body = curl(env, "-u", f"{ALICE}:{PASSWORD}", url)
    assert status == 200
    assert plistlib.loads(body)["PayloadContent"][0]["EmailAddress"] == ALICE


def test_large_upload_is_refused(env: WebEnv, tmp_path: Path) -> None:
    upload = tmp_path / "big"
    upload.write_bytes(b"<" * (10 * 1024 * 1024))
    status, _body = curl(
        env,
        "--data-binary",
        f"@{upload}",
        f"http://127.0.0.1:{env.port('http')}/autodiscover/autodiscover.xml",
    )
    assert status == 413
