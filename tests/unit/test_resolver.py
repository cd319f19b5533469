"""The server's one DNS resolver (pochta.resolver): its cache, its count, its answers' kinds, the
DNSSEC verdict, reconfiguration, and its sharing between mail authentication and the queue."""

from __future__ import annotations

import pytest

from dns_stub import DnsStub
from pochta.config import Settings
from pochta.mailauth.check import MailAuth
from pochta.queue.route import Router, RouteSettings
from pochta.resolver import DnsResolver, LookupFailed, Lookups, parse_nameserver, record_lookup


async def test_answers_are_cached_for_their_ttl_and_the_cache_is_bounded() -> None:
    zone = {("a.example.", "TXT"): ['"one" "two"'], ("b.example.", "TXT"): ['"b"']}
    async with DnsStub(zone, ttl=300, servfail={"bad.example."}) as dns:
        resolver = DnsResolver([dns.nameserver], 2.0, cache_size=1)
        lookups = Lookups()
        first = await resolver.txt("a.example", lookups)
        assert (first.status, first.records) == ("found", ("onetwo",))
        assert (await resolver.txt("A.example.", lookups)).records == ("onetwo",)
        assert dns.queries == [("a.example.", "TXT")]  # the second from the cache
        assert (await resolver.txt("b.example", lookups)).records == ("b",)
        await resolver.txt("a.example", lookups)  # pushed out by b (cache_size 1): asked again
        assert dns.queries.count(("a.example.", "TXT")) == 2
        assert (await resolver.txt("missing.example", lookups)).status == "none"
        assert (await resolver.txt("bad.example", lookups)).status == "temperror"
        assert (await resolver.txt("bad.example", lookups)).status == "temperror"
        assert dns.queries.count(("bad.example.", "TXT")) == 2  # failures are not cached
        assert lookups.count == 7


async def test_a_zero_ttl_answer_is_not_cached() -> None:
    async with DnsStub({("z.example.", "TXT"): ['"z"']}, ttl=0) as dns:
        resolver = DnsResolver([dns.nameserver], 2.0)
        await resolver.txt("z.example")
        await resolver.txt("z.example")
        assert len(dns.queries) == 2


async def test_no_such_domain_and_no_such_record_are_told_apart() -> None:
    zone = {("host.example.", "A"): ["192.0.2.1"]}
    async with DnsStub(zone) as dns:
        resolver = DnsResolver([dns.nameserver], 2.0)
        nodata = await resolver.query("host.example", "MX")
        assert (nodata.status, nodata.nxdomain) == ("none", False)
        nxdomain = await resolver.query("gone.example", "MX")
        assert (nxdomain.status, nxdomain.nxdomain) == ("none", True)
        found = await resolver.query("host.example", "A")
        assert (found.status, found.records, found.secure) == ("found", ("192.0.2.1",), False)


async def test_authenticated_lookups_carry_the_ad_bit_and_are_cached_apart() -> None:
    zone = {("_25._tcp.mx.example.", "TLSA"): ["3 1 1 " + "ab" * 32]}
    async with DnsStub(zone, secure={"_25._tcp.mx.example."}) as dns:
        resolver = DnsResolver([dns.nameserver], 2.0)
        plain = await resolver.query("_25._tcp.mx.example", "TLSA")
        assert plain.status == "found"
        secure = await resolver.query("_25._tcp.mx.example", "TLSA", authenticated=True)
        assert secure.secure
        assert secure.records == plain.records
        assert dns.queries.count(("_25._tcp.mx.example.", "TLSA")) == 2  # one each: apart in the cache
        assert (await resolver.query("_25._tcp.mx.example", "TLSA", authenticated=True)).secure
        assert dns.queries.count(("_25._tcp.mx.example.", "TLSA")) == 2
    async with DnsStub(zone) as dns:  # a resolver that does not vouch for the answer
        answer = await DnsResolver([dns.nameserver], 2.0).query(
            "_25._tcp.mx.example", "TLSA", authenticated=True
        )
        assert answer.status == "found"
        assert not answer.secure


async def test_mail_authentication_and_the_queue_share_one_cache() -> None:
    zone = {("example.net.", "MX"): ["10 mx.example.net."], ("mx.example.net.", "A"): ["192.0.2.7"]}
    async with DnsStub(zone) as dns:
        settings = Settings.model_validate({"queue": {"dns_nameservers": [dns.nameserver]}})
        resolver = DnsResolver.from_settings(settings)
        mailauth = MailAuth(settings, resolver)
        router = Router(RouteSettings(nameservers=[dns.nameserver]), resolver=mailauth.resolver)
        assert (await mailauth.resolver.query("example.net", "MX")).records == ("10 mx.example.net.",)
        [hop] = await router.route("example.net")
        assert (hop.host, hop.addresses) == ("mx.example.net", ("192.0.2.7",))
        assert dns.queries.count(("example.net.", "MX")) == 1  # the queue's lookup came from the cache


async def test_reconfigure_to_other_nameservers_drops_the_cache() -> None:
    async with (
        DnsStub({("t.example.", "TXT"): ['"one"']}) as first,
        DnsStub({("t.example.", "TXT"): ['"two"']}) as second,
    ):
        settings = Settings.model_validate({"queue": {"dns_nameservers": [first.nameserver]}})
        resolver = DnsResolver.from_settings(settings)
        assert (await resolver.txt("t.example")).records == ("one",)
        resolver.configure(settings)  # the same servers: the cache stays
        assert (await resolver.txt("t.example")).records == ("one",)
        assert len(first.queries) == 1
        resolver.configure(Settings.model_validate({"queue": {"dns_nameservers": [second.nameserver]}}))
        assert (await resolver.txt("t.example")).records == ("two",)


async def test_an_uncached_resolver_asks_every_time_and_record_lookup_raises_on_failure() -> None:
    async with DnsStub({("t.example.", "TXT"): ['"v"']}, servfail={"bad.example."}) as dns:
        settings = Settings.model_validate({"queue": {"dns_nameservers": [dns.nameserver]}})
        lookup = record_lookup(DnsResolver.from_settings(settings, cache=False))
        assert await lookup("t.example", "TXT") == ["v"]
        assert await lookup("t.example", "TXT") == ["v"]
        assert len(dns.queries) == 2
        assert await lookup("none.example", "TXT") == []
        with pytest.raises(LookupFailed, match=r"bad\.example"):
            await lookup("bad.example", "TXT")


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("[::1]:5353", ("::1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]", ("::1", 53)),
        (" 192.0.2.1 ", ("192.0.2.1", 53)),
    ],
)
def test_parse_nameserver(value: str, parsed: tuple[str, int]) -> None:
    assert parse_nameserver(value) == parsed


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("dns.example", "must be an IP address"),
        ("127.0.0.1:", "empty port"),
        ("127.0.0.1:0", "port must be"),
        ("127.0.0.1:65536", "port must be"),
        ("127.0.0.1:x", "port must be"),
        ("[::1", "expected ip"),
        ("[::1]x", "expected ip"),
        ("", "must be an IP address"),
    ],
)
def test_bad_nameservers_are_refused(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_nameserver(value)
    with pytest.raises(ValueError, match=message):
        DnsResolver([value])
