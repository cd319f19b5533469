"""The records `pochta dns` prints and how `pochta dns check` judges what DNS answers
(pochta.dns_records), over a loopback DNS server."""

from __future__ import annotations

from dns_stub import DnsStub
from pochta.config import Settings
from pochta.config_dkim import DkimSettings
from pochta.dns_records import Verdict, check, records
from pochta.queue import dkim_keys
from pochta.queue.route import record_lookup
from pochta.store.dkim_model import KeyState

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
        findings = await check(wanted, record_lookup([dns.nameserver], 5.0))
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
        [spf, _dmarc] = await check(wanted, record_lookup([dns.nameserver], 5.0))
    assert spf.verdict is Verdict.WRONG  # RFC 7208 section 4.5: a permanent error at every receiver


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
        [finding] = await check([record], record_lookup([dns.nameserver], 5.0))
    assert finding.verdict is Verdict.OK
