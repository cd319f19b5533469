"""The web application through its ASGI interface (``pochta.server.http.asgi.call_app``) on a real
store, for what a loopback socket cannot show: a client from another address over plain HTTP, and
the policy id's relation to the policy."""

from __future__ import annotations

import base64
import plistlib
from pathlib import Path
from typing import Any

from pochta.auth.authenticator import Authenticator
from pochta.config import Settings
from pochta.server.http.asgi import Reply, call_app
from pochta.store.sqlite.store import SqliteStore
from pochta.web import WebServices, build_app
from pochta.web.policy import policy_id, policy_text, txt_record

ALICE = "alice@example.org"  # the account of conftest.py's store
PASSWORD = "secret-1"


def services(store: SqliteStore, tmp_path: Path, settings: Settings) -> WebServices:
    web = WebServices(settings, tmp_path, store, Authenticator(store, settings.login))
    web.listening = lambda: {"imaps": ("127.0.0.1", 993), "submissions": ("127.0.0.1", 465)}
    return web


async def get(web: WebServices, path: str, *, client: str, scheme: str, password: str = PASSWORD) -> Reply:
    token = base64.b64encode(f"{ALICE}:{password}".encode())
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": scheme,
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"mail.example.org"), (b"authorization", b"Basic " + token)],
        "client": (client, 40000),
        "server": ("192.0.2.10", 443),
    }
    return await call_app(build_app(web), scope, b"")


async def test_mobileconfig_over_plain_http_only_from_loopback(store: SqliteStore, tmp_path: Path) -> None:
    web = services(store, tmp_path, Settings())
    refused = await get(web, "/apple/mobileconfig", client="198.51.100.7", scheme="http")
    assert refused.status == 403
    assert b"https" in refused.body
    over_tls = await get(web, "/apple/mobileconfig", client="198.51.100.7", scheme="https")
    assert over_tls.status == 200
    mail = plistlib.loads(over_tls.body)["PayloadContent"][0]
    assert (mail["IncomingMailServerPortNumber"], mail["OutgoingMailServerPortNumber"]) == (993, 465)
    loopback = await get(web, "/apple/mobileconfig", client="127.0.0.1", scheme="http")
    assert loopback.status == 200


async def test_mobileconfig_never_over_plain_http_when_configured(store: SqliteStore, tmp_path: Path) -> None:
    web = services(store, tmp_path, Settings.model_validate({"login": {"plaintext_on_insecure": "never"}}))
    assert (await get(web, "/apple/mobileconfig", client="127.0.0.1", scheme="http")).status == 403


async def test_mobileconfig_needs_an_incoming_and_an_outgoing_listener(
    store: SqliteStore, tmp_path: Path
) -> None:
    off = {name: "off" for name in ("imap", "imaps", "pop3", "pop3s")}
    web = services(store, tmp_path, Settings.model_validate({"listeners": off}))
    assert (await get(web, "/apple/mobileconfig", client="127.0.0.1", scheme="https")).status == 404


def test_policy_id_follows_the_policy() -> None:
    testing = Settings.model_validate({"hostname": "mail.example.org"})
    same = Settings.model_validate({"hostname": "mail.example.org", "mta_sts": {"mode": "testing"}})
    enforce = Settings.model_validate({"hostname": "mail.example.org", "mta_sts": {"mode": "enforce"}})
    other_mx = Settings.model_validate({"hostname": "mail.example.org", "mta_sts": {"mx": ["*.example.org"]}})
    assert policy_id(testing) == policy_id(same)
    ids = {policy_id(testing), policy_id(enforce), policy_id(other_mx)}
    assert len(ids) == 3
    for settings in (testing, enforce, other_mx):
        # RFC 8461 section 3.1: id is 1 to 32 letters and digits.
        assert policy_id(settings).isalnum()
        assert 1 <= len(policy_id(settings)) <= 32
    assert txt_record(enforce) == f"v=STSv1; id={policy_id(enforce)}"
    assert (
        policy_text(other_mx) == "version: STSv1\r\nmode: testing\r\nmx: *.example.org\r\nmax_age: 604800\r\n"
    )
