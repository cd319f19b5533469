"""SPF and DMARC on the MX listener over real sockets, with a loopback DNS server publishing SPF,
DKIM and DMARC records: aligned mail passes, a forged From of a p=reject domain is refused with
550 5.7.1 and nothing is stored, p=quarantine lands in Junk, local overrides and the allowlist
change what is done, and the report job queues an aggregate report with the right XML."""

from __future__ import annotations

import asyncio
import gzip
import smtplib
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Iterator
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from dns_stub import DnsStub
from pochta.config_dkim import DkimSettings
from pochta.delivery import Delivery
from pochta.delivery.dmarc_reports import send_reports, send_reports_periodically
from pochta.queue import dkim_keys
from pochta.queue.dkim_sign import sign_message
from pochta.store.dkim_model import DkimKey, KeyState
from smtp_env import ALICE, SmtpEnv, message, smtp_server, smtp_settings

CHECKED = "127.0.0.2"  # outside the default trusted_networks


@pytest.fixture(scope="module")
def keys() -> list[DkimKey]:
    return dkim_keys.new_keys("example.net", DkimSettings(), KeyState.ACTIVE)


def _zone(keys: list[DkimKey]) -> dict[tuple[str, str], list[str]]:
    zone = {
        (f"{dkim_keys.dns_name(key)}.", "TXT"): [dkim_keys.txt_strings(dkim_keys.txt_record(key))]
        for key in keys
    }
    zone |= {
        ("example.net.", "TXT"): ['"v=spf1 ip4:127.0.0.2 -all"'],
        ("client.example.net.", "TXT"): ['"v=spf1 a -all"'],
        ("client.example.net.", "A"): ["127.0.0.2"],
        ("_dmarc.example.net.", "TXT"): ['"v=DMARC1; p=reject; rua=mailto:dmarc@example.org"'],
        ("bank.example.", "TXT"): ['"v=spf1 ip4:192.0.2.1 -all"'],
        ("_dmarc.bank.example.", "TXT"): [
            '"v=DMARC1; p=reject; rua=mailto:reports@example.org,mailto:ext@reports.example"'
        ],
        # example.org takes bank.example's reports (RFC 7489 section 7.1); reports.example does not.
        ("bank.example._report._dmarc.example.org.", "TXT"): ['"v=DMARC1"'],
        ("_dmarc.shop.example.", "TXT"): ['"v=DMARC1; p=quarantine; adkim=s"'],
        ("_dmarc.sampled.example.", "TXT"): ['"v=DMARC1; p=reject; pct=0"'],
    }
    return zone


@pytest.fixture
def dns_zone(keys: list[DkimKey]) -> dict[tuple[str, str], list[str]]:
    return _zone(keys)


async def _server(tmp_path: Path, dns: DnsStub, **mailauth: Any) -> Any:
    settings = smtp_settings(
        queue={"dns_nameservers": [dns.nameserver], "dns_timeout": 2.0},
        mailauth=mailauth,
    )
    return smtp_server(tmp_path, settings)


@pytest.fixture
async def env(tmp_path: Path, dns_zone: dict[tuple[str, str], list[str]]) -> AsyncIterator[SmtpEnv]:
    async with DnsStub(dns_zone) as dns, await _server(tmp_path, dns) as env:
        yield env


def _send(env: SmtpEnv, data: bytes, sender: str = "carol@example.net") -> dict[str, tuple[int, bytes]]:
    host, port = env.address("smtp")
    with smtplib.SMTP(host, port, timeout=10, source_address=(CHECKED, 0)) as client:
        client.ehlo("client.example.net")
        return client.sendmail(sender, [ALICE], data)


def _results(stored: bytes) -> str:
    header = stored.split(b"\r\n\r\n", 1)[0].decode()
    fields = header.replace("\r\n\t", " ").replace("\r\n ", " ").split("\r\n")
    return next(f for f in fields if f.startswith("Authentication-Results:"))


async def test_spf_pass_and_aligned_dkim_is_dmarc_pass(env: SmtpEnv, keys: list[DkimKey]) -> None:
    data = message("aligned")
    assert await asyncio.to_thread(_send, env, sign_message(data, keys) + data) == {}
    results = _results((await env.messages())[0])
    assert "spf=pass smtp.mailfrom=carol@example.net" in results
    assert "spf=pass smtp.helo=client.example.net" in results
    assert "dmarc=pass (p=reject sp=reject dis=none) header.from=example.net policy.dmarc=reject" in results
    assert "dkim=pass" in results


async def test_a_forged_from_of_a_reject_domain_is_refused(env: SmtpEnv) -> None:
    data = message("forged", sender="ceo@bank.example")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        await asyncio.to_thread(_send, env, data)
    assert refused.value.smtp_code == 550
    assert refused.value.smtp_error.startswith(b"5.7.1 Message refused: DMARC policy of bank.example")
    assert await env.messages() == []
    assert await env.messages(mailbox="Junk") == []
    assert env.spool_files() == []


async def test_quarantine_goes_to_junk_and_spf_fail_alone_refuses_nothing(env: SmtpEnv) -> None:
    # shop.example: p=quarantine with strict DKIM alignment and no SPF record; the SPF of
    # example.net passes but is not aligned with shop.example.
    assert await asyncio.to_thread(_send, env, message("quarantined", sender="x@shop.example")) == {}
    assert await env.messages() == []
    junk = await env.messages(mailbox="Junk")
    assert len(junk) == 1
    assert "dmarc=fail (p=quarantine sp=quarantine dis=quarantine) header.from=shop.example" in _results(
        junk[0]
    )
    # SPF fail without a DMARC record: delivered, reported.
    data = message("spf fail", sender="x@nodmarc.example")
    assert await asyncio.to_thread(_send, env, data, "someone@bank.example") == {}
    inbox = await env.messages()
    assert len(inbox) == 1
    assert "spf=fail smtp.mailfrom=someone@bank.example" in _results(inbox[0])


async def test_pct_zero_samples_reject_down_to_quarantine(env: SmtpEnv) -> None:
    assert await asyncio.to_thread(_send, env, message("sampled", sender="x@sampled.example")) == {}
    junk = await env.messages(mailbox="Junk")
    assert len(junk) == 1
    assert "dis=quarantine" in _results(junk[0])


@pytest.mark.parametrize(
    ("mailauth", "where"),
    [
        ({"dmarc_overrides": {"bank.example": "none"}}, "INBOX"),
        ({"dmarc_overrides": {"example": "quarantine"}}, "Junk"),  # a parent domain's entry
        ({"dmarc_allow": ["example.net"]}, "INBOX"),  # SPF-authenticated trusted forwarder
        ({"dmarc_enforce": False}, "INBOX"),
    ],
)
async def test_local_policy(
    tmp_path: Path, dns_zone: dict[tuple[str, str], list[str]], mailauth: dict[str, Any], where: str
) -> None:
    async with DnsStub(dns_zone) as dns, await _server(tmp_path, dns, **mailauth) as env:
        assert await asyncio.to_thread(_send, env, message("local", sender="ceo@bank.example")) == {}
        stored = await env.messages(mailbox=where)
        assert len(stored) == 1
        assert "dmarc=fail" in _results(stored[0])


def _parts(data: bytes) -> Iterator[Message]:
    parsed = message_from_bytes(data)
    yield from parsed.walk()


async def test_the_report_job_queues_an_aggregate_report(env: SmtpEnv, keys: list[DkimKey]) -> None:
    data = message("aligned")
    assert await asyncio.to_thread(_send, env, sign_message(data, keys) + data) == {}
    with pytest.raises(smtplib.SMTPDataError):
        await asyncio.to_thread(_send, env, message("forged", sender="ceo@bank.example"))
    with pytest.raises(smtplib.SMTPDataError):
        await asyncio.to_thread(_send, env, message("forged again", sender="ceo@bank.example"))
    outcomes = await send_reports(Delivery(env.store, env.settings, env.data_dir))
    assert [(o.policy_domain, o.records) for o in outcomes] == [("bank.example", 2), ("example.net", 1)]
    bank = outcomes[0]
    # reports.example is outside bank.example and publishes no _report._dmarc record.
    assert bank.sent_to == ["reports@example.org"]
    assert bank.skipped == [
        ("ext@reports.example", "external destination not authorized (RFC 7489 section 7.1)")
    ]
    assert await env.store.dmarc_results(2**40) == []  # reported rows are gone
    entries = await env.store.queue_entries()
    queued = {tuple(r.address for r in e.recipients): e for e in entries}
    entry = queued[("reports@example.org",)]
    assert entry.sender == "postmaster@mx.example.org"
    with env.store.open_blob(entry.blob) as f:
        raw = f.read()
    parsed = message_from_bytes(raw)
    assert (
        str(parsed["Subject"])
        .replace("\r\n ", " ")
        .startswith("Report Domain: bank.example Submitter: mx.example.org Report-ID: <bank.example.")
    )
    attachment = next(p for p in _parts(raw) if p.get_content_type() == "application/gzip")
    filename = attachment.get_filename()
    assert filename is not None
    assert filename.startswith("mx.example.org!bank.example!")
    assert filename.endswith(".xml.gz")
    payload = attachment.get_payload(decode=True)
    assert isinstance(payload, bytes)
    root = ET.fromstring(gzip.decompress(payload))
    assert root.findtext("report_metadata/org_name") == "mx.example.org"
    assert root.findtext("policy_published/domain") == "bank.example"
    assert root.findtext("policy_published/p") == "reject"
    records = root.findall("record")
    assert len(records) == 1  # the two messages: one row with count 2
    record = records[0]
    assert record.findtext("row/source_ip") == CHECKED
    assert record.findtext("row/count") == "2"
    assert record.findtext("row/policy_evaluated/disposition") == "reject"
    assert record.findtext("row/policy_evaluated/dkim") == "fail"
    assert record.findtext("row/policy_evaluated/spf") == "fail"
    assert record.findtext("identifiers/header_from") == "bank.example"
    assert record.find("identifiers/envelope_from") is None  # not in RFC 7489's IdentifierType
    spf = {
        (s.findtext("scope"), s.findtext("domain"), s.findtext("result"))
        for s in record.findall("auth_results/spf")
    }
    assert spf == {("mfrom", "example.net", "pass"), ("helo", "client.example.net", "pass")}


async def test_the_housekeeping_job_sends_at_the_interval_boundary(env: SmtpEnv) -> None:
    with pytest.raises(smtplib.SMTPDataError):
        await asyncio.to_thread(_send, env, message("forged", sender="ceo@bank.example"))
    day = env.settings.mailauth.dmarc_report_interval
    now = time.time()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) > 1:
            raise asyncio.CancelledError  # the second round: stop

    # The clock says the next day has begun: the result recorded today is before its boundary.
    job = send_reports_periodically(
        Delivery(env.store, env.settings, env.data_dir), sleep=sleep, clock=lambda: now + day
    )
    with pytest.raises(asyncio.CancelledError):
        await job
    assert 0 < waits[0] <= day
    assert await env.store.dmarc_results(2**40) == []
    entries = await env.store.queue_entries()
    assert [tuple(r.address for r in e.recipients) for e in entries] == [("reports@example.org",)]
