"""The admin capability (urn:pochta:params:jmap:admin, docs/admin.md) over raw HTTP on a real
``pochta serve``: an administrator makes a domain, an account (which then logs in over IMAP), an
alias (mail to it by LMTP arrives in the account), switches POP3 off for the account (POP3
refuses it), lists, retries and deletes a queued message; an account without the admin role is
refused (forbidden), and the capability stays out of the Session while it is in progress. Also
units, DKIM keys (rotation activated once the loopback DNS stub, tests/dns_stub.py, publishes the
records), the DNS records with their live check (against the stub: no real lookup), app
passwords and the server status."""

from __future__ import annotations

import base64
import imaplib
import json
import poplib
import smtplib
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from dns_stub import DnsStub, DnsStubThread
from serve_process import run_pochta
from web_env import ALICE, DOMAIN, HOSTNAME, PASSWORD, WebEnv, start_web_server

CORE = "urn:ietf:params:jmap:core"
ADMIN = "urn:pochta:params:jmap:admin"
NEW_DOMAIN = "admin-made.example"
CAROL = f"carol@{NEW_DOMAIN}"
CAROL_PASSWORD = "carol's long secret"
INFO = f"info@{NEW_DOMAIN}"
REMOTE = "remote.example"


def _closed_port() -> int:
    """A loopback port nothing listens on: the queue's deliveries to REMOTE are refused there and
    stay queued (no traffic leaves 127.0.0.1)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def dns_stub() -> Iterator[DnsStub]:
    running = DnsStubThread({(f"{DOMAIN}.", "MX"): [f"10 {HOSTNAME}."]})
    try:
        yield running.stub
    finally:
        running.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory, dns_stub: DnsStub) -> Iterator[WebEnv]:
    config = (
        "[jmap]\nenabled = true\n"
        f'[queue]\ntransport = {{ "{REMOTE}" = "127.0.0.1:{_closed_port()}" }}\n'
        f'dns_nameservers = ["{dns_stub.nameserver}"]\ndns_timeout = 2.0\n'
    )
    for started in start_web_server(tmp_path_factory.mktemp("jmap-admin"), config, ("lmtp",)):
        run_pochta("user", "set", ALICE, "--admin", "--data", str(started.data))
        yield started


def _auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}", "Content-Type": "application/json"}


def session(env: WebEnv, user: str = ALICE, password: str = PASSWORD) -> dict[str, Any]:
    response = env.get("/.well-known/jmap", tls=True, headers=_auth(user, password))
    assert response.status == 200, response.body
    found: dict[str, Any] = json.loads(response.body)
    return found


def call(
    env: WebEnv, name: str, arguments: dict[str, Any], *, user: str = ALICE, password: str = PASSWORD
) -> tuple[str, dict[str, Any]]:
    """One method call with the admin capability in ``using``: (response name, arguments)."""
    account = session(env, user, password)["primaryAccounts"][CORE]
    request = {"using": [CORE, ADMIN], "methodCalls": [[name, {"accountId": account, **arguments}, "c"]]}
    response = env.request(
        "POST", "/jmap/api", tls=True, body=json.dumps(request).encode(), headers=_auth(user, password)
    )
    assert response.status == 200, response.body
    [(answered, result, call_id)] = json.loads(response.body)["methodResponses"]
    assert call_id == "c"
    return answered, result


def ok(env: WebEnv, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    answered, result = call(env, name, arguments)
    assert answered == name, result
    return result


def imap_login(env: WebEnv, user: str, password: str) -> imaplib.IMAP4_SSL:
    client = imaplib.IMAP4_SSL("localhost", env.port("imaps"), ssl_context=env.client_context(), timeout=30)
    client.login(user, password)
    return client


def test_capability_is_advertised_to_the_administrator(env: WebEnv) -> None:
    found = session(env)
    # Its pages (web/webmail_admin.py) are its client: advertised, in the admin's own account.
    assert ADMIN in found["capabilities"]
    own = found["primaryAccounts"]["urn:ietf:params:jmap:core"]
    assert ADMIN in found["accounts"][own]["accountCapabilities"]
    assert found["primaryAccounts"][ADMIN] == own
    result = ok(env, "Domain/get", {"ids": None})
    assert "example.org" in [d["name"] for d in result["list"]]


def test_admin_makes_domain_account_alias_and_switches_pop3_off(env: WebEnv) -> None:
    made = ok(env, "Domain/set", {"create": {"d": {"name": NEW_DOMAIN.upper()}}})
    domain = made["created"]["d"]
    assert domain["name"] == NEW_DOMAIN  # normalised as `pochta domain add` does
    assert domain["dkimRecords"]
    assert all(r.endswith(f"._domainkey.{NEW_DOMAIN}") for r in domain["dkimRecords"])
    assert made["oldState"] != made["newState"]
    listed = ok(env, "Domain/get", {"ids": [domain["id"]], "properties": ["accounts", "protocols"]})
    assert listed["list"] == [
        {"id": domain["id"], "accounts": 0, "protocols": {"imap": True, "pop3": True, "submission": True}}
    ]
    again = ok(env, "Domain/set", {"create": {"d": {"name": NEW_DOMAIN}}})
    assert again["notCreated"]["d"]["type"] == "alreadyExists"

    created = ok(env, "Account/set", {"create": {"a": {"address": CAROL, "password": CAROL_PASSWORD}}})
    account = created["created"]["a"]
    assert "password" not in account  # given, so not shown back
    carol = ok(env, "Account/get", {"ids": [account["id"]]})["list"][0]
    assert carol["address"] == CAROL
    assert carol["isAdmin"] is False
    assert carol["isDisabled"] is False
    assert "password" not in carol  # never readable
    client = imap_login(env, CAROL, CAROL_PASSWORD)
    client.logout()
    generated = ok(env, "Account/set", {"create": {"g": {"address": f"gen@{NEW_DOMAIN}"}}})
    imap_login(env, f"gen@{NEW_DOMAIN}", generated["created"]["g"]["password"]).logout()

    # An alias to an address nothing receives is refused, as `pochta alias add` refuses it.
    refused = ok(env, "Alias/set", {"create": {"x": {"source": INFO, "targets": [f"nobody@{NEW_DOMAIN}"]}}})
    assert refused["notCreated"]["x"]["type"] == "invalidProperties"
    alias = ok(env, "Alias/set", {"create": {"l": {"source": INFO, "targets": [CAROL]}}})["created"]["l"]
    assert alias["source"] == INFO
    assert alias["targets"] == [CAROL]
    assert ok(env, "Alias/get", {"ids": [alias["id"]]})["list"] == [alias]
    with smtplib.LMTP("127.0.0.1", env.port("lmtp")) as lmtp:
        lmtp.sendmail("someone@elsewhere.example", [INFO], b"Subject: to the alias\r\n\r\nhello\r\n")
    client = imap_login(env, CAROL, CAROL_PASSWORD)
    status, data = client.select("INBOX", readonly=True)
    assert status == "OK"
    assert data == [b"1"]
    client.logout()

    pop = poplib.POP3_SSL("localhost", env.port("pop3s"), context=env.client_context(), timeout=30)
    pop.user(CAROL)
    pop.pass_(CAROL_PASSWORD)
    pop.quit()
    switched = ok(env, "Account/set", {"update": {account["id"]: {"protocols/pop3": False}}})
    assert switched["updated"] == {account["id"]: None}
    carol = ok(env, "Account/get", {"ids": [account["id"]], "properties": ["protocols"]})["list"][0]
    assert carol["protocols"] == {"imap": True, "pop3": False, "submission": True}
    pop = poplib.POP3_SSL("localhost", env.port("pop3s"), context=env.client_context(), timeout=30)
    try:
        pop.user(CAROL)
        with pytest.raises(poplib.error_proto):
            pop.pass_(CAROL_PASSWORD)
    finally:
        pop.close()
    imap_login(env, CAROL, CAROL_PASSWORD).logout()  # IMAP still on

    # A domain with accounts is not destroyed (as `pochta domain del` refuses).
    kept = ok(env, "Domain/set", {"destroy": [domain["id"]]})
    assert kept["notDestroyed"][domain["id"]]["type"] == "forbidden"


def test_non_admin_is_refused(env: WebEnv) -> None:
    user, password = "dave@example.org", "dave's password here"
    ok(env, "Account/set", {"create": {"u": {"address": user, "password": password}}})
    methods = (
        "Domain/get",
        "Account/set",
        "Account/query",
        "QueueMessage/retry",
        "DnsRecord/get",
        "ServerStatus/get",
    )
    for method in methods:
        answered, result = call(env, method, {"ids": 5}, user=user, password=password)  # not even valid
        # RFC 8620 section 3.6.2: forbidden, whatever the arguments.
        assert (answered, result["type"]) == ("error", "forbidden"), (method, result)
    theirs = session(env, user, password)
    assert all(ADMIN not in a["accountCapabilities"] for a in theirs["accounts"].values())
    assert ADMIN not in theirs["capabilities"]  # not even told of it
    assert ADMIN not in theirs["primaryAccounts"]


def test_queue_list_retry_delete(env: WebEnv) -> None:
    friend = f"friend@{REMOTE}"
    with smtplib.SMTP_SSL(
        "localhost", env.port("submissions"), context=env.client_context(), timeout=30
    ) as smtp:
        smtp.login(ALICE, PASSWORD)
        smtp.sendmail(
            ALICE, [friend], f"From: {ALICE}\r\nTo: {friend}\r\nSubject: out\r\n\r\nbody\r\n".encode()
        )
    query = ok(env, "QueueMessage/query", {"filter": {"recipient": friend}, "calculateTotal": True})
    assert query["total"] == 1
    assert query["canCalculateChanges"] is False
    [message_id] = query["ids"]
    [message] = ok(env, "QueueMessage/get", {"ids": [message_id]})["list"]
    assert message["sender"] == ALICE
    assert message["origin"] == "submission"
    assert [r["address"] for r in message["recipients"]] == [friend]
    assert [r["status"] for r in message["recipients"]] in (["pending"], ["failed"])
    retried = ok(env, "QueueMessage/retry", {"ids": [message_id, "Q0000000000000000"]})
    assert retried["retried"] == [message_id]
    assert retried["notFound"] == ["Q0000000000000000"]
    refused = ok(env, "QueueMessage/set", {"update": {message_id: {"sender": "x@y.example"}}})
    assert refused["notUpdated"][message_id]["type"] == "forbidden"
    gone = ok(env, "QueueMessage/set", {"destroy": [message_id]})
    assert gone["destroyed"] == [message_id]
    assert ok(env, "QueueMessage/query", {"filter": {"recipient": friend}})["ids"] == []
    assert ok(env, "QueueMessage/get", {"ids": [message_id]})["notFound"] == [message_id]
    listing = run_pochta("queue", "list", "--data", str(env.data)).stdout
    assert message_id[1:] not in listing  # the CLI sees the same queue


def test_units_settings_apply_to_their_accounts(env: WebEnv) -> None:
    made = ok(env, "Unit/set", {"create": {"u": {"name": "staff", "settings": {"pop3.enabled": "off"}}}})
    unit = made["created"]["u"]
    assert unit["parent"] == "root"
    assert unit["accounts"] == 0
    listed = ok(env, "Unit/get", {"ids": [unit["id"]]})["list"]
    assert listed == [{**unit, "name": "staff", "settings": {"pop3.enabled": "off"}}]
    bad = ok(env, "Unit/set", {"update": {unit["id"]: {"settings/pop3.enabled": "maybe"}}})
    assert bad["notUpdated"][unit["id"]]["type"] == "invalidProperties"
    user = f"erin@{DOMAIN}"
    account = ok(env, "Account/set", {"create": {"e": {"address": user, "password": "erin's password!"}}})
    account_id = account["created"]["e"]["id"]
    ok(env, "Account/set", {"update": {account_id: {"unit": "staff"}}})
    erin = ok(env, "Account/get", {"ids": [account_id], "properties": ["unit", "protocols"]})["list"][0]
    assert erin["unit"] == "staff"
    assert erin["protocols"]["pop3"] is False  # the unit's switch
    assert ok(env, "Account/query", {"filter": {"unit": "staff"}})["ids"] == [account_id]
    page = ok(
        env,
        "Account/query",
        {"filter": {"domain": DOMAIN}, "sort": [{"property": "address"}], "limit": 2, "calculateTotal": True},
    )
    addresses = [
        a["address"] for a in ok(env, "Account/get", {"ids": page["ids"], "properties": ["address"]})["list"]
    ]
    assert addresses == sorted(addresses)
    assert len(page["ids"]) == 2
    assert page["total"] >= 3  # alice, dave, erin at least
    answered, error = call(env, "Account/query", {"filter": {"password": "x"}})
    assert (answered, error["type"]) == ("error", "unsupportedFilter")
    busy = ok(env, "Unit/set", {"destroy": [unit["id"]]})
    assert busy["notDestroyed"][unit["id"]]["type"] == "forbidden"
    listing = run_pochta("unit", "list", "--data", str(env.data)).stdout
    assert "pop3.enabled=off" in listing  # the CLI sees what the API set


def test_dns_records_checked_against_the_stub(env: WebEnv, dns_stub: DnsStub) -> None:
    result = ok(env, "DnsRecord/get", {"domain": DOMAIN})
    by_type = {(r["name"], r["type"]): r for r in result["list"]}
    mx = by_type[(f"{DOMAIN}.", "MX")]
    assert mx["value"] == f"10 {HOSTNAME}."
    assert mx["verdict"] == "ok"
    assert mx["found"] == [f"10 {HOSTNAME}."]
    assert by_type[(f"_dmarc.{DOMAIN}.", "TXT")]["verdict"] == "missing"
    assert (f"{DOMAIN}.", "MX") in dns_stub.queries  # asked of the stub, never of real DNS
    unchecked = ok(env, "DnsRecord/get", {"domain": DOMAIN, "check": False, "ids": [mx["id"]]})
    assert unchecked["list"][0]["verdict"] is None
    answered, error = call(env, "DnsRecord/get", {"domain": "not-ours.example"})
    assert (answered, error["type"]) == ("error", "invalidArguments")


def test_dkim_rotation_waits_for_dns(env: WebEnv, dns_stub: DnsStub) -> None:
    before = ok(env, "DkimKey/get", {})["list"]
    active = [k for k in before if k["domain"] == DOMAIN and k["state"] == "active"]
    assert active
    assert all("private" not in name.lower() for key in before for name in key)
    made = ok(env, "DkimKey/set", {"create": {"k": {"domain": DOMAIN}}})["created"]["k"]
    rotation = made["rotation"]
    assert made["id"] == rotation[0]
    assert made["state"] == "pending"
    pending = {k["id"]: k for k in ok(env, "DkimKey/get", {"ids": rotation})["list"]}
    assert set(pending) == set(rotation)
    waiting = ok(env, "DkimKey/activate", {"domain": DOMAIN})
    assert waiting["activated"] == []
    assert set(waiting["missing"]) == set(rotation)
    for key in pending.values():
        text = key["txtRecord"]  # an RSA key's record is past 255 octets: several strings
        dns_stub.zone[(key["dnsName"] + ".", "TXT")] = [
            " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))
        ]
    done = ok(env, "DkimKey/activate", {"domain": DOMAIN})
    assert set(done["activated"]) == set(rotation)
    states = {k["id"]: k["state"] for k in ok(env, "DkimKey/get", {})["list"]}
    assert all(states[key_id] == "active" for key_id in rotation)
    assert all(states[k["id"]] == "retiring" for k in active)
    refused = ok(env, "DkimKey/set", {"destroy": [rotation[0]]})
    assert refused["notDestroyed"][rotation[0]]["type"] == "forbidden"  # it signs
    retired = ok(env, "DkimKey/set", {"destroy": [active[0]["id"]]})
    assert retired["destroyed"] == [active[0]["id"]]


def test_app_password_shown_once_and_revoked(env: WebEnv) -> None:
    made = ok(env, "AppPassword/set", {"create": {"p": {"address": ALICE, "name": "laptop"}}})
    created = made["created"]["p"]
    secret = created["password"]
    imap_login(env, ALICE, secret).logout()
    [listed] = [p for p in ok(env, "AppPassword/get", {})["list"] if p["id"] == created["id"]]
    assert listed["name"] == "laptop"
    assert listed["needsReissue"] is False
    assert "password" not in listed
    assert ok(env, "AppPassword/set", {"destroy": [created["id"]]})["destroyed"] == [created["id"]]
    client = imaplib.IMAP4_SSL("localhost", env.port("imaps"), ssl_context=env.client_context(), timeout=30)
    try:
        with pytest.raises(imaplib.IMAP4.error):
            client.login(ALICE, secret)
    finally:
        client.shutdown()


def test_server_status(env: WebEnv) -> None:
    [found] = ok(env, "ServerStatus/get", {"ids": ["singleton"]})["list"]
    assert found["running"] is True
    assert isinstance(found["pid"], int)
    assert found["uptimeSeconds"] >= 0
    assert isinstance(found["queueMessages"], int)
    assert found["metricsSource"] in ("workers", "this worker")
    names = {sample["name"] for sample in found["metrics"]}
    assert "pochta_connections_opened_total" in names
    cli = run_pochta("status", "--data", str(env.data)).stdout
    assert "running: yes" in cli
    assert f"version: {found['version']}" in cli
