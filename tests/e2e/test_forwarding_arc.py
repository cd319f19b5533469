"""A forward end to end: mail signed by an outside domain (example.net) reaches our MX from
127.0.0.2, an alias of ours forwards it to remote.example, and the queue relays it to a loopback
SMTP server standing for remote.example. The copy that arrives there has an SRS envelope sender, a
valid ARC set of example.org (checked with dkimpy's validator and ours), its original DKIM
signatures still valid and our own DKIM signature. Keys come from a loopback DNS server."""

from __future__ import annotations

import asyncio
import re
import smtplib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import dkim
import pytest

from dns_stub import DnsStub
from pochta.config import ArcSettings, Settings
from pochta.config_dkim import DkimSettings
from pochta.delivery import Delivery
from pochta.mailauth.arc_verify import verify_arc_prefetched
from pochta.queue import dkim_keys
from pochta.queue.arc_seal import seal_message
from pochta.queue.dkim_sign import sign_message
from pochta.queue.worker import QueueWorker
from pochta.resolver import Answer
from pochta.store.dkim_model import DkimKey, KeyState
from smtp_env import ALICE, SmtpEnv, message, smtp_server, smtp_settings
from smtp_sink import Script, SmtpSink, Transaction

OUTSIDE = "127.0.0.2"  # loopback, outside the default trusted_networks
FRIEND = "friend@remote.example"


@dataclass
class Forwarder:
    env: SmtpEnv
    dns: DnsStub
    sink: SmtpSink
    settings: Settings
    outside: list[DkimKey]  # example.net's keys, published
    ours: list[DkimKey]  # example.org's active keys, published

    def records(self) -> dict[str, Answer]:
        return {
            f"{dkim_keys.dns_name(key)}.".lower(): Answer("found", (dkim_keys.txt_record(key),))
            for key in self.outside + self.ours
        }

    def dnsfunc(self, name: bytes, timeout: float = 5) -> bytes | None:
        answer = self.records().get(name.decode().lower().rstrip(".") + ".")
        return answer.records[0].encode() if answer else None

    def send(self, data: bytes, recipients: list[str], sender: str = "carol@example.net") -> None:
        host, port = self.env.address("smtp")
        with smtplib.SMTP(host, port, timeout=10, source_address=(OUTSIDE, 0)) as client:
            client.ehlo("client.example.net")
            assert client.sendmail(sender, recipients, data) == {}

    async def relay(self) -> list[Transaction]:
        """Run the queue until it is empty; what the next hop received."""
        worker = QueueWorker(
            self.env.store, self.settings, Delivery(self.env.store, self.settings, self.env.data_dir)
        )
        await worker.run_until_idle(deadline=60)
        assert await self.env.store.queue_entries() == []
        return self.sink.transactions


def _zone(keys: list[DkimKey]) -> dict[tuple[str, str], list[str]]:
    return {
        (f"{dkim_keys.dns_name(k)}.", "TXT"): [dkim_keys.txt_strings(dkim_keys.txt_record(k))] for k in keys
    }


@pytest.fixture
async def fwd(tmp_path: Path) -> AsyncIterator[Forwarder]:
    outside = dkim_keys.new_keys("example.net", DkimSettings(), KeyState.ACTIVE)
    async with SmtpSink(Script()) as sink, DnsStub(dict(_zone(outside))) as dns:
        settings = smtp_settings(
            queue={
                "dns_nameservers": [dns.nameserver],
                "dns_timeout": 2.0,
                # The next hop, and the original sender's server for the bounce coming back.
                "transport": {
                    "remote.example": f"127.0.0.1:{sink.port}",
                    "example.net": f"127.0.0.1:{sink.port}",
                },
                "retry_schedule": [60.0],
            },
        )
        async with smtp_server(tmp_path, settings) as env:
            ours = await dkim_keys.first_keys(env.store, "example.org", DkimSettings())
            dns.zone = {**_zone(outside), **_zone(ours)}
            await env.store.add_alias("fwd@example.org", [FRIEND])
            yield Forwarder(env, dns, sink, settings, outside, ours)


def _signatures(data: bytes, fwd: Forwarder) -> list[tuple[bytes, bool]]:
    """(d=, verifies) of each DKIM-Signature, top first, checked by dkimpy."""
    verifier = dkim.DKIM(data)
    count = len(re.findall(rb"(?mi)^DKIM-Signature:", data.split(b"\r\n\r\n")[0]))
    out = []
    for index in range(count):
        ok = verifier.verify(idx=index, dnsfunc=fwd.dnsfunc)
        out.append((verifier.domain, ok))
    return out


async def test_alias_forward_arrives_with_srs_arc_and_dkim(fwd: Forwarder) -> None:
    data = message("forwarded", to="fwd@example.org")
    signed = sign_message(data, fwd.outside) + data
    await asyncio.to_thread(fwd.send, signed, ["fwd@example.org"])
    [entry] = await fwd.env.store.queue_entries()
    assert entry.origin == "checked-forward"
    [txn] = await fwd.relay()

    # SRS: the next hop checks example.org's SPF, and a bounce can come back.
    sender = re.fullmatch(r"MAIL FROM:<([^>]*)>.*", txn.mail)
    assert sender is not None
    assert sender.group(1).startswith("SRS0=")
    assert sender.group(1).endswith("=example.net=carol@example.org")
    assert fwd.env.unsrs(sender.group(1)) == "carol@example.net"

    got = txn.data
    assert got is not None
    head = got.split(b"\r\n\r\n")[0].decode()
    # The ARC set on top (RFC 8617 §5.1), then our DKIM signatures, then the message as stored.
    names = re.findall(r"(?m)^([A-Za-z-]+):", head)
    assert names[:3] == ["ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"]
    assert names[3:5] == ["DKIM-Signature", "DKIM-Signature"]
    assert "cv=none" in head
    assert "d=example.org" in head
    aar = re.search(r"(?ms)^ARC-Authentication-Results: (.*?)\r\n(?=\S)", head)
    assert aar is not None
    assert "i=1; mx.example.org;" in aar.group(1)
    assert aar.group(1).count("dkim=pass") == 2
    assert "arc=none" in aar.group(1)

    cv, _, reason = dkim.arc_verify(got, dnsfunc=fwd.dnsfunc)
    assert cv == dkim.CV_Pass, reason
    ours = verify_arc_prefetched(got, fwd.records())
    assert (ours.result, ours.instances, ours.domain) == ("pass", 1, "example.org")
    # Our DKIM signatures (for the SRS sender's domain: the From is not ours) and the original ones.
    assert _signatures(got, fwd) == [
        (b"example.org", True),
        (b"example.org", True),
        (b"example.net", True),
        (b"example.net", True),
    ]

    # remote.example bounces it to the SRS address: the bounce goes back to carol, null sender.
    bounce = message("Undelivered Mail Returned to Sender", sender="MAILER-DAEMON@remote.example")
    await asyncio.to_thread(fwd.send, bounce, [sender.group(1)], "")
    [_, back] = await fwd.relay()
    assert back.mail.startswith("MAIL FROM:<> ")
    assert back.accepted == ["carol@example.net"]
    assert back.data is not None
    assert back.data.endswith(bounce)


async def test_a_second_forwarder_continues_the_chain(fwd: Forwarder) -> None:
    """Mail already sealed by lists.example.com (cv=none, its A-R of its own) arrives: our MX
    validates the chain (arc=pass) and our seal is i=2 with cv=pass."""
    lists = dkim_keys.new_keys("lists.example.com", DkimSettings(algorithms=["rsa"]), KeyState.ACTIVE)
    fwd.dns.zone = {**fwd.dns.zone, **_zone(lists)}
    fwd.outside += lists
    data = message("via a list", to="fwd@example.org")
    checked = b"Authentication-Results: mx.lists.example.com; dkim=none; arc=none\r\n" + data
    sealed = seal_message(checked, lists[0], "mx.lists.example.com") + checked
    await asyncio.to_thread(fwd.send, sealed, ["fwd@example.org"])
    [txn] = await fwd.relay()
    assert txn.data is not None
    assert txn.data.startswith(b"ARC-Seal: i=2; cv=pass;")
    cv, results, reason = dkim.arc_verify(txn.data, dnsfunc=fwd.dnsfunc)
    assert cv == dkim.CV_Pass, reason
    assert [r["as-domain"] for r in results] == [b"example.org", b"lists.example.com"]


async def test_sieve_redirect_is_sealed_unless_edited(fwd: Forwarder) -> None:
    env = fwd.env
    await env.store.put_sieve_script(
        env.alice.id,
        "main",
        'require ["editheader", "copy"]; redirect :copy "friend@remote.example";\n'
        'if header :contains "subject" "edit" {\n'
        '  addheader "X-Edited" "yes"; redirect "friend@remote.example";\n'
        "}",
        env.settings.sieve.quota(),
    )
    await env.store.activate_sieve_script(env.alice.id, "main")
    await asyncio.to_thread(fwd.send, message("plain", to=ALICE), [ALICE])
    [entry] = await env.store.queue_entries()
    assert entry.origin == "checked-forward"
    assert env.unsrs(entry.sender) == "carol@example.net"
    [txn] = await fwd.relay()
    assert txn.data is not None
    assert dkim.arc_verify(txn.data, dnsfunc=fwd.dnsfunc)[0] == dkim.CV_Pass
    # An edited message is the script's, not the MX's: forwarded (SRS), not sealed.
    await asyncio.to_thread(fwd.send, message("edit me", to=ALICE), [ALICE])
    origins = sorted(e.origin for e in await env.store.queue_entries())
    assert origins == ["checked-forward", "forward"]
    second = await fwd.relay()
    edited = [t.data for t in second[1:] if t.data is not None and b"X-Edited: yes" in t.data]
    assert len(edited) == 1
    assert not edited[0].startswith(b"ARC-Seal")


async def test_no_seal_without_checks_or_with_seal_off(fwd: Forwarder) -> None:
    # From a trusted client (127.0.0.1) nothing was checked: forwarded, not sealed.
    def trusted() -> None:
        host, port = fwd.env.address("smtp")
        with smtplib.SMTP(host, port, timeout=10) as client:
            assert client.sendmail("carol@example.net", ["fwd@example.org"], message("trusted")) == {}

    await asyncio.to_thread(trusted)
    [entry] = await fwd.env.store.queue_entries()
    assert entry.origin == "forward"
    [txn] = await fwd.relay()
    assert txn.data is not None
    assert b"ARC-Seal" not in txn.data
    # arc.seal = false: checked, signed, not sealed.
    fwd.settings = fwd.settings.model_copy(update={"arc": ArcSettings(seal=False)})
    await asyncio.to_thread(fwd.send, message("checked"), ["fwd@example.org"])
    [_, txn] = await fwd.relay()
    assert txn.data is not None
    assert b"ARC-Seal" not in txn.data
    assert txn.data.startswith(b"DKIM-Signature:")
