"""The DNS records a mail domain publishes for pochta, and a check of what DNS answers
(``pochta dns DOMAIN`` and ``pochta dns check DOMAIN``; docs/dns.md).

What pochta serves decides the list: MX and SPF for the domain, each DKIM key that is published
(pending, active or retiring: ``pochta.queue.dkim_keys``), a DMARC policy, and an SRV record (RFC
6186 section 3, RFC 8314 section 5.1; RFC 5804 §1.8 for ManageSieve) for each client listener that
is on; with an HTTP listener on, the MTA-STS policy id and the names clients and senders ask over
HTTPS (docs/http.md): ``mta-sts``, ``autoconfig`` and ``autodiscover`` CNAMEs and Outlook's
``_autodiscover._tcp`` SRV record; the TLS-RPT record when ``[tls_rpt] rua`` says where reports
go; a CAA record for Let's Encrypt when ``tls.acme`` uses it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from pochta.config import Settings, parse_listen_address
from pochta.queue import dkim_keys
from pochta.store.dkim_model import DkimKey
from pochta.web.policy import txt_record as mta_sts_txt

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
    out += _web_records(domain, settings, host)
    out.extend(_tls_rpt(domain, settings))
    out.extend(_caa(domain, settings))
    return out


def _web_records(domain: str, settings: Settings, host: str) -> list[Record]:
    """What the HTTP listeners serve needs these names (docs/http.md); none without a listener."""
    listeners = settings.listeners
    if all(listeners.get(name, "off") == "off" for name in ("http", "https")):
        return []
    sts = dkim_keys.txt_strings(mta_sts_txt(settings))
    out = [
        Record(
            f"_mta-sts.{domain}.", "TXT", sts, "MTA-STS: a policy exists, and its id (RFC 8461 section 3.1)"
        ),
        Record(
            f"mta-sts.{domain}.", "CNAME", host, "serves the MTA-STS policy over HTTPS (RFC 8461 section 3.2)"
        ),
        Record(f"autoconfig.{domain}.", "CNAME", host, "Thunderbird autoconfiguration"),
        Record(f"autodiscover.{domain}.", "CNAME", host, "Outlook Autodiscover"),
    ]
    https = listeners.get("https", "off")
    if https != "off":
        port = parse_listen_address(https, allow_unix=False).port
        # Outlook's last resort when autodiscover.DOMAIN has no answer: where Autodiscover is.
        out.append(
            Record(f"_autodiscover._tcp.{domain}.", "SRV", f"0 0 {port} {host}", "Outlook Autodiscover")
        )
    return out


def _tls_rpt(domain: str, settings: Settings) -> list[Record]:
    """RFC 8460 section 3: where other senders report on their TLS sessions to ``domain``."""
    rua = settings.tls_rpt.rua
    if not rua:
        return []
    value = dkim_keys.txt_strings(f"v=TLSRPTv1; rua={rua}")
    return [Record(f"_smtp._tls.{domain}.", "TXT", value, "TLS reports (RFC 8460)")]


def _caa(domain: str, settings: Settings) -> list[Record]:
    """With ACME from Let's Encrypt (docs/certificates.md): only it may issue for the domain's names
    (RFC 8659 section 4; CAs look it up from each name towards the root). Other CAs: their own
    issuer domain, which pochta cannot know."""
    if not settings.tls.acme or "api.letsencrypt.org" not in settings.tls.acme_directory:
        return []
    return [Record(f"{domain}.", "CAA", '0 issue "letsencrypt.org"', "who may issue certificates (RFC 8659)")]


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
        if " ".join(mine[0].split()) == want:
            return Verdict.OK
        # Another MTA-STS id than the policy's: senders that cached an older policy never fetch
        # the one served now (RFC 8461 section 3.1).
        return Verdict.WRONG if tag == "v=STSv1" else Verdict.DIFFERS
    normal = {" ".join(value.lower().split()) for value in found}
    return Verdict.OK if record.value.lower() in normal else Verdict.WRONG


async def check(wanted: Sequence[Record], lookup: TxtLookup) -> list[Finding]:
    """What DNS answers for each record (``lookup`` raises for a failed lookup)."""
    findings = []
    for record in wanted:
        found = await lookup(record.name, record.type)
        findings.append(Finding(record, _verdict(record, found), tuple(found)))
    return findings
