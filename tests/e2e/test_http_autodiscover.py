"""Outlook Autodiscover on a real server (tests/web_env.py): the POX request and its outlook-schema
answer, bad XML (DTDs and entities included) refused with 400, and the JSON v2 form."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest

from web_env import ALICE, DOMAIN, HOSTNAME, WebEnv, start_web_server

OUTLOOK = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
MOBILESYNC = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
RESPONSE = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"


def pox_request(email: str, schema: str = OUTLOOK) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">'
        f"<Request><EMailAddress>{email}</EMailAddress>"
        f"<AcceptableResponseSchema>{schema}</AcceptableResponseSchema></Request></Autodiscover>"
    ).encode()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebEnv]:
    yield from start_web_server(tmp_path_factory.mktemp("autodiscover"))


def protocols(document: bytes) -> dict[str, dict[str, str]]:
    root = ET.fromstring(document)
    assert root.tag == f"{{{RESPONSE}}}Autodiscover"
    account = root.find(f"{{{OUTLOOK}}}Response/{{{OUTLOOK}}}Account")
    assert account is not None
    assert account.findtext(f"{{{OUTLOOK}}}AccountType") == "email"
    assert account.findtext(f"{{{OUTLOOK}}}Action") == "settings"
    found = {}
    for protocol in account.findall(f"{{{OUTLOOK}}}Protocol"):
        fields = {child.tag.partition("}")[2]: child.text or "" for child in protocol}
        found[fields["Type"]] = fields
    return found


@pytest.mark.parametrize("path", ["/autodiscover/autodiscover.xml", "/Autodiscover/Autodiscover.xml"])
@pytest.mark.parametrize("tls", [False, True])
def test_pox_answers_imap_pop3_smtp(env: WebEnv, path: str, tls: bool) -> None:
    response = env.request(
        "POST", path, body=pox_request(ALICE), tls=tls, headers={"Content-Type": "text/xml"}
    )
    assert response.status == 200
    assert "xml" in response.headers["Content-Type"]
    found = protocols(response.body)
    assert sorted(found) == ["IMAP", "POP3", "SMTP"]
    wanted = {"IMAP": "imaps", "POP3": "pop3s", "SMTP": "submissions"}
    for kind, listener in wanted.items():
        fields = found[kind]
        assert fields["Server"] == HOSTNAME
        assert int(fields["Port"]) == env.port(listener)
        assert fields["LoginName"] == ALICE
        assert (fields["SSL"], fields["Encryption"], fields["SPA"]) == ("on", "SSL", "off")
        assert fields["AuthRequired"] == "on"


def test_pox_for_an_unknown_account_of_our_domain_does_not_tell(env: WebEnv) -> None:
    response = env.request("POST", "/autodiscover/autodiscover.xml", body=pox_request(f"nobody@{DOMAIN}"))
    assert response.status == 200
    assert sorted(protocols(response.body)) == ["IMAP", "POP3", "SMTP"]


def test_pox_other_domain_is_404(env: WebEnv) -> None:
    response = env.request("POST", "/autodiscover/autodiscover.xml", body=pox_request("bob@other.example"))
    assert response.status == 404


def test_pox_activesync_schema_gets_error_601(env: WebEnv) -> None:
    response = env.request("POST", "/autodiscover/autodiscover.xml", body=pox_request(ALICE, MOBILESYNC))
    assert response.status == 200
    root = ET.fromstring(response.body)
    assert root.findtext(f".//{{{RESPONSE}}}ErrorCode") == "601"
    assert b"IMAP" not in response.body


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<Autodiscover><Request><EMailAddress>&lol3;</EMailAddress></Request></Autodiscover>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<Autodiscover><Request><EMailAddress>&xxe;</EMailAddress></Request></Autodiscover>"""


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml at all",
        b"<Autodiscover><Request><EMailAddress>a@b",
        b"<Autodiscover><Request></Request></Autodiscover>",
        BILLION_LAUGHS,
        EXTERNAL_ENTITY,
        b"<a>" * 5000 + b"</a>" * 5000,
        b"\xff\xfe<\x00a\x00",
    ],
)
def test_pox_bad_requests_are_400(env: WebEnv, body: bytes) -> None:
    response = env.request("POST", "/autodiscover/autodiscover.xml", body=body)
    assert response.status == 400
    assert b"root:" not in response.body


def test_pox_is_post_only(env: WebEnv) -> None:
    assert env.get("/autodiscover/autodiscover.xml").status == 405


@pytest.mark.parametrize(
    "path",
    [
        f"/autodiscover/autodiscover.json?Email={ALICE}&Protocol=AutodiscoverV1",
        f"/autodiscover/autodiscover.json/v1.0/{ALICE}?Protocol=autodiscoverv1",
    ],
)
def test_json_points_outlook_at_the_pox_service(env: WebEnv, path: str) -> None:
    response = env.get(path, host=f"autodiscover.{DOMAIN}")
    assert response.status == 200
    assert json.loads(response.body) == {
        "Protocol": "AutodiscoverV1",
        "Url": f"https://autodiscover.{DOMAIN}/Autodiscover/Autodiscover.xml",
    }


@pytest.mark.parametrize("protocol", ["ActiveSync", "Ews", "Rest", ""])
def test_json_protocols_not_served_are_invalid(env: WebEnv, protocol: str) -> None:
    response = env.get(f"/autodiscover/autodiscover.json?Email={ALICE}&Protocol={protocol}")
    assert response.status == 400
    answer = json.loads(response.body)
    assert answer["ErrorCode"] == "InvalidProtocol"
    assert f"'{protocol}' is invalid" in answer["ErrorMessage"]
    assert "ActiveSync" not in answer["ErrorMessage"].partition("Supported values")[2]


def test_json_other_domain_is_404(env: WebEnv) -> None:
    response = env.get("/autodiscover/autodiscover.json?Email=bob%40other.example&Protocol=AutodiscoverV1")
    assert response.status == 404
