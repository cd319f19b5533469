"""The async SPF driver on the mail authentication resolver, against a loopback DNS server: both
identities, the null sender, the shared lookup count and cache, and the overall time limit."""

from __future__ import annotations

from dns_stub import DnsStub
from pochta.mailauth.spf import check_spf
from pochta.resolver import DnsResolver, Lookups

ZONE = {
    ("example.net.", "TXT"): ['"v=spf1 mx include:_spf.example.net -all"'],
    ("example.net.", "MX"): ["10 mail.example.net."],
    ("mail.example.net.", "A"): ["192.0.2.10"],
    ("_spf.example.net.", "TXT"): ['"v=spf1 ip4:192.0.2.0/28 ip6:2001:db8::/32 ~all"'],
    ("client.example.net.", "TXT"): ['"v=spf1 a -all"'],
    ("client.example.net.", "A"): ["192.0.2.10"],
    ("long.example.net.", "TXT"): ['"v=spf1 " "ip4:198.51.100.7 " "-all"'],  # strings are joined
}


async def test_both_identities_and_the_count() -> None:
    async with DnsStub(ZONE) as dns:
        resolver = DnsResolver([dns.nameserver], 2.0)
        lookups = Lookups()
        spf = await check_spf(
            resolver, "192.0.2.10", "carol@example.net", "client.example.net", lookups=lookups
        )
        assert spf.helo is not None
        assert (spf.helo.result, spf.helo.sender) == ("pass", "client.example.net")
        assert (spf.mailfrom.result, spf.mailfrom.sender, spf.mailfrom.domain) == (
            "pass",
            "carol@example.net",
            "example.net",
        )
        assert lookups.count == 5  # helo: TXT, A; mail from: TXT, MX, A
        spf = await check_spf(resolver, "2001:db8::5", "carol@example.net", "client.example.net")
        assert spf.mailfrom.result == "pass"  # through the include's ip6
        assert spf.helo is not None
        assert spf.helo.result == "fail"
        spf = await check_spf(resolver, "203.0.113.1", "carol@example.net", "client.example.net")
        assert spf.mailfrom.result == "fail"  # the include's ~all is no match: the outer -all
        spf = await check_spf(resolver, "198.51.100.7", "x@long.example.net", None)
        assert spf.helo is None
        assert spf.mailfrom.result == "pass"


async def test_a_null_sender_is_postmaster_at_the_helo() -> None:
    async with DnsStub(ZONE) as dns:
        resolver = DnsResolver([dns.nameserver], 2.0)
        spf = await check_spf(resolver, "192.0.2.10", "", "client.example.net")
        assert (spf.mailfrom.result, spf.mailfrom.sender) == ("pass", "postmaster@client.example.net")
        assert dns.queries.count(("client.example.net.", "TXT")) == 1  # evaluated once
        spf = await check_spf(resolver, "192.0.2.10", "", None)
        assert spf.mailfrom.result == "none"


async def test_errors_and_the_time_limit() -> None:
    async with DnsStub(ZONE, servfail={"broken.example."}, silent={"slow.example."}) as dns:
        resolver = DnsResolver([dns.nameserver], 5.0)
        spf = await check_spf(resolver, "192.0.2.10", "x@broken.example", None)
        assert spf.mailfrom.result == "temperror"
        spf = await check_spf(resolver, "192.0.2.10", "x@slow.example", None, time_limit=0.3)
        assert spf.mailfrom.result == "temperror"
        assert "took over" in spf.mailfrom.reason
        spf = await check_spf(resolver, "unix", "x@example.net", None)
        assert spf.mailfrom.result == "none"
