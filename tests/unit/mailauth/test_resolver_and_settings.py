"""The mail authentication resolver's cache and count, and the [mailauth] settings."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from dns_stub import DnsStub
from pochta.config import Settings
from pochta.config_mailauth import MailAuthSettings
from pochta.mailauth.resolver import AuthResolver, Lookups


async def test_answers_are_cached_for_their_ttl_and_the_cache_is_bounded() -> None:
    zone = {("a.example.", "TXT"): ['"one" "two"'], ("b.example.", "TXT"): ['"b"']}
    async with DnsStub(zone, ttl=300, servfail={"bad.example."}) as dns:
        resolver = AuthResolver([dns.nameserver], 2.0, cache_size=1)
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
        resolver = AuthResolver([dns.nameserver], 2.0)
        await resolver.txt("z.example")
        await resolver.txt("z.example")
        assert len(dns.queries) == 2


def test_trusted_networks() -> None:
    settings = Settings()
    assert settings.trusts("127.0.0.1")
    assert settings.trusts("::1")
    assert not settings.trusts("127.0.0.2")
    assert not settings.trusts("unix")
    assert not settings.trusts("192.0.2.1")
    assert Settings(trusted_networks=["192.0.2.0/24"]).trusts("::ffff:192.0.2.7")
    with pytest.raises(ValidationError, match=r"trusted_networks: '192\.0\.2\.0/33' is not an address"):
        Settings(trusted_networks=["192.0.2.0/33"])
    with pytest.raises(ValidationError):
        MailAuthSettings(dkim_max_signatures=0)
    assert Settings().mailauth.dkim_max_signatures == 10
