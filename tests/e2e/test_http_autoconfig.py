"""Thunderbird autoconfiguration (clientConfig v1.1) on a real server (tests/web_env.py): the
servers listed are the listeners that listen, on the ports they really bound."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from web_env import ALICE, DOMAIN, HOSTNAME, WebEnv, start_web_server

PATHS = ("/mail/config-v1.1.xml", "/.well-known/autoconfig/mail/config-v1.1.xml")


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("autoconfig"))


def servers(document: bytes) -> list[tuple[str, str, str, int, str, str, str]]:
    root = ET.fromstring(document)
    assert root.tag == "clientConfig"
    assert root.get("version") == "1.1"
    provider = root.find("emailProvider")
    assert provider is not None
    assert provider.get("id") == DOMAIN
    assert provider.findtext("domain") == DOMAIN
    found = []
    for server in provider:
        if server.tag not in ("incomingServer", "outgoingServer"):
            continue
        found.append(
            (
                server.tag,
                server.get("type", ""),
                server.findtext("hostname", ""),
                int(server.findtext("port", "0")),
                server.findtext("socketType", ""),
                server.findtext("authentication", ""),
                server.findtext("username", ""),
            )
        )
    return found


def expected(env: WebEnv) -> list[tuple[str, str, str, int, str, str, str]]:
    rows = [
        ("incomingServer", "imap", "imaps", "SSL"),
        ("incomingServer", "imap", "imap", "STARTTLS"),
        ("incomingServer", "pop3", "pop3s", "SSL"),
        ("incomingServer", "pop3", "pop3", "STARTTLS"),
        ("outgoingServer", "smtp", "submissions", "SSL"),
        ("outgoingServer", "smtp", "submission", "STARTTLS"),
    ]
    return [
        (tag, kind, HOSTNAME, env.port(listener), socket, "password-cleartext", "%EMAILADDRESS%")
        for tag, kind, listener, socket in rows
    ]


@pytest.mark.parametrize("tls", [False, True])
@pytest.mark.parametrize("path", PATHS)
def test_config_lists_the_listening_servers(env: WebEnv, path: str, tls: bool) -> None:
    response = env.get(
        f"{path}?emailaddress={ALICE.replace('@', '%40')}", host=f"autoconfig.{DOMAIN}", tls=tls
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    assert servers(response.body) == expected(env)


def test_unknown_account_of_our_domain_gets_the_config_too(env: WebEnv) -> None:
    """Whether an account exists is not told: the domain's settings are the same for all."""
    response = env.get(f"{PATHS[0]}?emailaddress=nobody%40{DOMAIN}")
    assert response.status == 200
    assert servers(response.body) == expected(env)


@pytest.mark.parametrize("host", [f"autoconfig.{DOMAIN}", DOMAIN, f"AUTOCONFIG.{DOMAIN.upper()}:8080"])
def test_domain_from_the_host_without_an_address(env: WebEnv, host: str) -> None:
    response = env.get(PATHS[1], host=host)
    assert response.status == 200
    assert servers(response.body) == expected(env)


@pytest.mark.parametrize(
    "query",
    ["?emailaddress=alice%40other.example", "?emailaddress=not-an-address", "?emailaddress=%40", ""],
)
def test_other_domains_are_404(env: WebEnv, query: str) -> None:
    response = env.get(PATHS[0] + query, host="autoconfig.other.example")
    assert response.status == 404
    assert b"clientConfig" not in response.body
