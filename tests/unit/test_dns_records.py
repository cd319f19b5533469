"""The records `pochta dns` prints and how `pochta dns check` judges what DNS answers
(pochta.dns_records), over a loopback DNS server."""

from __future__ import annotations

from dns_stub import DnsStub
from pochta.config import Settings
from pochta.config_dkim import DkimSettings
from pochta.dns_records import Verdict, check, records
from pochta.queue import dkim_keys
from pochta.resolver import DnsResolver, record_lookup
from pochta.store.dkim_model import KeyState
from pochta.web.policy import txt_record

SETTINGS = Settings.model_validate(
    {"hostname": "mail.example.org", "listeners": {"imap": "off", "pop3": "off", "imaps": "0.0.0.0:993"}}
)
KEYS = dkim_keys.new_keys("example.org", DkimSettings(algorithms=["ed25519"]), KeyState.ACTIVE)


def test_records_follow_the_listeners_and_keys() -> None:
    wanted = records("example.org", SETTINGS, KEYS, ["192.0.2.10", "2001:db8::10"])
    lines = [r.zone_line().split(" ; ")[0] for r in wanted]
    assert lines[:4] == [
        "mail.example.org. IN A 192.0.2.10",
        "mail.example.org. IN AAAA 2001:db8::10",
        "example.org. IN MX 10 mail.example.org.",
        'example.org. IN TXT "v=spf1 mx -all"',
    ]
    assert f'{dkim_keys.dns_name(KEYS[0])}. IN TXT "{dkim_keys.txt_record(KEYS[0])}"' in lines
    assert "_imaps._tcp.example.org. IN SRV 0 1 993 mail.example.org." in lines
    assert not any(line.startswith(("_imap._tcp", "_pop3._tcp")) for line in lines)  # listeners off
    assert "_sieve._tcp.example.org. IN SRV 0 1 4190 mail.example.org." in lines  # RFC 5804 §1.8


async def test_check_says_what_is_missing_wrong_or_different() -> None:
    wanted = records("example.org", SETTINGS, KEYS)
    other = dkim_keys.new_keys("example.org", DkimSettings(algorithms=["ed25519"]), KeyState.ACTIVE)
    zone = {
        ("example.org.", "MX"): ["10 mail.example.org."],
        ("example.org.", "TXT"): [
            '"v=spf1 mx include:_spf.example.net -all"',
            '"google-site-verification=x"',
        ],
        (f"{dkim_keys.dns_name(KEYS[0])}.", "TXT"): [f'"{dkim_keys.txt_record(other[0])}"'],  # another key
        ("_submissions._tcp.example.org.", "SRV"): ["0 1 465 mail.example.org."],  # wrong port
        ("_imaps._tcp.example.org.", "SRV"): ["0 1 993 MAIL.example.org."],
    }
    async with DnsStub(zone) as dns:
        findings = await check(wanted, record_lookup(DnsResolver([dns.nameserver], 5.0)))
    verdicts = {(f.record.name, f.record.type): f.verdict for f in findings}
    assert verdicts[("example.org.", "MX")] is Verdict.OK
    assert verdicts[("example.org.", "TXT")] is Verdict.DIFFERS  # an SPF record, not pochta's own
    assert verdicts[(f"{dkim_keys.dns_name(KEYS[0])}.", "TXT")] is Verdict.WRONG
    assert verdicts[("_dmarc.example.org.", "TXT")] is Verdict.MISSING
    assert verdicts[("_submissions._tcp.example.org.", "SRV")] is Verdict.WRONG
    assert verdicts[("_imaps._tcp.example.org.", "SRV")] is Verdict.OK  # names compare without case
    assert verdicts[("_sieve._tcp.example.org.", "SRV")] is Verdict.MISSING


async def test_two_spf_records_are_wrong() -> None:
    wanted = [r for r in records("example.org", SETTINGS, []) if r.type == "TXT"]
    zone = {("example.org.", "TXT"): ['"v=spf1 mx -all"', '"v=spf1 a -all"']}
    async with DnsStub(zone) as dns:
        [spf, _dmarc, _sts] = await check(wanted, record_lookup(DnsResolver([dns.nameserver], 5.0)))
    assert spf.verdict is Verdict.WRONG  # RFC 7208 section 4.5: a permanent error at every receiver


def test_http_records_follow_the_http_listeners() -> None:
    lines = [r.zone_line().split(" ; ")[0] for r in records("example.org", SETTINGS, KEYS)]
    sts = [line for line in lines if line.startswith("_mta-sts.")]
    assert sts == [f'_mta-sts.example.org. IN TXT "{txt_record(SETTINGS)}"']
    assert "mta-sts.example.org. IN CNAME mail.example.org." in lines
    assert "autoconfig.example.org. IN CNAME mail.example.org." in lines
    assert "autodiscover.example.org. IN CNAME mail.example.org." in lines
    assert "_autodiscover._tcp.example.org. IN SRV 0 0 8443 mail.example.org." in lines
    no_https = Settings.model_validate({"hostname": "mail.example.org", "listeners": {"https": "off"}})
    lines = [r.zone_line() for r in records("example.org", no_https, KEYS)]
    assert any(line.startswith("autoconfig.example.org.") for line in lines)
    assert not any(line.startswith("_autodiscover._tcp.") for line in lines)
    no_http = Settings.model_validate(
        {"hostname": "mail.example.org", "listeners": {"https": "off", "http": "off"}}
    )
    names = {r.name for r in records("example.org", no_http, KEYS)}
    assert not names & {"_mta-sts.example.org.", "mta-sts.example.org.", "autoconfig.example.org."}


async def test_check_of_the_http_records() -> None:
    wanted = records("example.org", SETTINGS, KEYS)
    enforce = Settings.model_validate({"hostname": "mail.example.org", "mta_sts": {"mode": "enforce"}})
    zone = {
        ("_mta-sts.example.org.", "TXT"): [f'"{txt_record(enforce)}"'],  # the id of another policy
        ("mta-sts.example.org.", "CNAME"): ["mail.example.org."],
        ("autoconfig.example.org.", "CNAME"): ["other.example.net."],
        ("_autodiscover._tcp.example.org.", "SRV"): ["0 0 8443 mail.example.org."],
    }
    async with DnsStub(zone) as dns:
        findings = await check(wanted, record_lookup(DnsResolver([dns.nameserver], 5.0)))
    verdicts = {(f.record.name, f.record.type): f.verdict for f in findings}
    assert verdicts[("_mta-sts.example.org.", "TXT")] is Verdict.WRONG  # a stale id is never harmless
    assert verdicts[("mta-sts.example.org.", "CNAME")] is Verdict.OK
    assert verdicts[("autoconfig.example.org.", "CNAME")] is Verdict.WRONG
    assert verdicts[("autodiscover.example.org.", "CNAME")] is Verdict.MISSING
    assert verdicts[("_autodiscover._tcp.example.org.", "SRV")] is Verdict.OK
    zone[("_mta-sts.example.org.", "TXT")] = [f'"{txt_record(SETTINGS)}"']
    async with DnsStub(zone) as dns:
        findings = await check(wanted, record_lookup(DnsResolver([dns.nameserver], 5.0)))
    verdicts = {(f.record.name, f.record.type): f.verdict for f in findings}
    assert verdicts[("_mta-sts.example.org.", "TXT")] is Verdict.OK


async def test_tls_rpt_record_only_when_rua_is_set() -> None:
    assert not any(r.name.startswith("_smtp._tls.") for r in records("example.org", SETTINGS, KEYS))
    settings = SETTINGS.model_copy(
        update={"tls_rpt": SETTINGS.tls_rpt.model_copy(update={"rua": "mailto:tls@example.org"})}
    )
    [record] = [r for r in records("example.org", settings, KEYS) if r.name.startswith("_smtp._tls.")]
    assert record.zone_line().startswith(
        '_smtp._tls.example.org. IN TXT "v=TLSRPTv1; rua=mailto:tls@example.org"'
    )
    zone = {("_smtp._tls.example.org.", "TXT"): ['"v=TLSRPTv1; rua=mailto:tls@example.org"']}
    async with DnsStub(zone) as dns:
        [finding] = await check([record], record_lookup(DnsResolver([dns.nameserver], 5.0)))
    assert finding.verdict is Verdict.OK


def test_caa_only_with_acme_from_lets_encrypt() -> None:
    assert not [r for r in records("example.org", SETTINGS, KEYS) if r.type == "CAA"]
    acme = SETTINGS.model_copy(update={"tls": SETTINGS.tls.model_copy(update={"acme": True})})
    [caa] = [r for r in records("example.org", acme, KEYS) if r.type == "CAA"]
    assert caa.zone_line().startswith('example.org. IN CAA 0 issue "letsencrypt.org"')
    private = acme.model_copy(
        update={"tls": acme.tls.model_copy(update={"acme_directory": "https://ca.example/dir"})}
    )
    assert not [r for r in records("example.org", private, KEYS) if r.type == "CAA"]
