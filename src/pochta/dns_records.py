"""The DNS records a mail domain publishes for pochta, and a check of what DNS answers
(``pochta dns DOMAIN`` and ``pochta dns check DOMAIN``; docs/dns.md).

What pochta serves decides the list: MX and SPF for the domain, each DKIM key that is published
(pending, active or retiring: ``pochta.queue.dkim_keys``), a DMARC policy, and an SRV record (RFC
6186 section 3, RFC 8314 section 5.1; RFC 5804 §1.8 for ManageSieve) for each client listener that
is on; the TLS-RPT record when ``[tls_rpt] rua`` says where reports go. Records of services
pochta does not have yet (MTA-STS, autoconfig) are left out until they exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pochta.config import Settings, parse_listen_address
from pochta.queue import dkim_keys
from pochta.store.dkim_model import DkimKey

__all__ = ["Finding", "Record", "Verdict", "check", "records"]

# Listener name -> SRV service label (RFC 6186 section 3, RFC 8314 section 5.1, RFC 5804 §1.8).
_SRV = {
    "submissions": "_submissions._tcp",
    "submission": "_submission._tcp",
    "imaps": "_imaps._tcp",
    "imap": "_imap._tcp",
    "pop3s": "_pop3s._tcp",
    "pop3": "_pop3._tcp",
    "managesieve": "_sieve._tcp",
}

TxtLookup = Callable[[str, str], Awaitable[list[str]]]  # (name, type) -> rdata texts


@dataclass(frozen=True)
class Record:
    name: str  # absolute, with the trailing dot
    type: str
    value: str  # zone file rdata
    why: str
    key: DkimKey | None = None  # the DKIM key a TXT record publishes

    def zone_line(self) -> str:
        return f"{self.name} IN {self.type} {self.value} ; {self.why}"


def records(
    domain: str, settings: Settings, keys: Sequence[DkimKey], addresses: Sequence[str] = ()
) -> list[Record]:
    """What ``domain`` publishes, in zone order; ``addresses`` are the host's public IPs (A/AAAA)."""
    host = settings.hostname + "."
    out = [Record(f"{host}", "AAAA" if ":" in a else "A", a, "the mail host") for a in addresses]
    out.append(Record(f"{domain}.", "MX", f"10 {host}", "mail for the domain (RFC 5321 section 5.1)"))
    out.append(
        Record(
            f"{domain}.",
            "TXT",
            dkim_keys.txt_strings("v=spf1 mx -all"),
            "SPF: only the MX host sends (RFC 7208)",
        )
    )
    for key in keys:
        text = dkim_keys.txt_strings(dkim_keys.txt_record(key))
        why = f"DKIM {key.algorithm} key, {key.state.value} (RFC 6376 section 3.6.2.1)"
        out.append(Record(f"{dkim_keys.dns_name(key)}.", "TXT", text, why, key))
    dmarc = f"v=DMARC1; p=quarantine; rua=mailto:postmaster@{domain}"
    out.append(Record(f"_dmarc.{domain}.", "TXT", dkim_keys.txt_strings(dmarc), "DMARC policy (RFC 7489)"))
    for listener, service in _SRV.items():
        address = settings.listeners.get(listener, "off")
        if address == "off":
            continue
        port = parse_listen_address(address, allow_unix=False).port
        out.append(Record(f"{service}.{domain}.", "SRV", f"0 1 {port} {host}", f"client setup: {listener}"))
    out.extend(_tls_rpt(domain, settings))
    return out


def _tls_rpt(domain: str, settings: Settings) -> list[Record]:
    """RFC 8460 section 3: where other senders report on their TLS sessions to ``domain``."""
    rua = settings.tls_rpt.rua
    if not rua:
        return []
    value = dkim_keys.txt_strings(f"v=TLSRPTv1; rua={rua}")
    return [Record(f"_smtp._tls.{domain}.", "TXT", value, "TLS reports (RFC 8460)")]


class Verdict(StrEnum):
    OK = "ok"
    DIFFERS = "differs"  # present, not as pochta would write it, not wrong by itself (SPF, DMARC)
    WRONG = "wrong"
    MISSING = "missing"


@dataclass(frozen=True)
class Finding:
    record: Record
    verdict: Verdict
    found: tuple[str, ...]


def _unquote(value: str) -> str:
    """TXT rdata text ('"a" "b"') as one string ("ab")."""
    parts = value.split('"')[1::2]
    return "".join(parts) if parts else value


def _verdict(record: Record, found: list[str]) -> Verdict:
    if not found:
        return Verdict.MISSING
    if record.type == "TXT":
        texts = [_unquote(value) for value in found]
        if record.key is not None:
            return Verdict.OK if dkim_keys.record_matches(record.key, texts) else Verdict.WRONG
        want = _unquote(record.value)
        tag = want.split(";")[0].split()[0]  # "v=spf1" / "v=DMARC1"
        mine = [text for text in texts if text.split(";")[0].split()[:1] == [tag]]
        if not mine:
            return Verdict.MISSING
        if len(mine) > 1:
            return Verdict.WRONG  # RFC 7208 section 4.5: two SPF records are a permanent error
        return Verdict.OK if " ".join(mine[0].split()) == want else Verdict.DIFFERS
    normal = {" ".join(value.lower().split()) for value in found}
    return Verdict.OK if record.value.lower() in normal else Verdict.WRONG


async def check(wanted: Sequence[Record], lookup: TxtLookup) -> list[Finding]:
    """What DNS answers for each record (``lookup`` raises for a failed lookup)."""
    findings = []
    for record in wanted:
        found = await lookup(record.name, record.type)
        findings.append(Finding(record, _verdict(record, found), tuple(found)))
    return findings
