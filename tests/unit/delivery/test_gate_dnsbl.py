"""DNS list names (RFC 5782 sections 2.1, 2.3, 2.4), answer codes and the two forms of the zones."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from pochta.config import Settings
from pochta.config_gate import DnsblZone
from pochta.delivery.gate.dnsbl import Hit, domain_query, interpret, ip_query


def test_ipv4_is_reversed_octets() -> None:
    assert ip_query("192.0.2.99", "zen.example") == "99.2.0.192.zen.example"
    assert ip_query("127.0.0.2", "zen.example") == "2.0.0.127.zen.example"
    assert ip_query("::ffff:192.0.2.1", "zen.example") == "1.2.0.192.zen.example"  # IPv4-mapped


def test_ipv6_is_reversed_nibbles() -> None:
    # RFC 5782 section 2.4's example
    name = ip_query("2001:db8:1:2:3:4:567:89ab", "ugly.example.com")
    assert name == "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ugly.example.com"


def test_no_ip_no_query() -> None:
    assert ip_query("unix", "zen.example") is None


def test_domain_names() -> None:
    assert domain_query("Spam.Example.", "dbl.example") == "spam.example.dbl.example"
    assert domain_query("[192.0.2.1]", "dbl.example") is None
    assert domain_query("192.0.2.1", "dbl.example") is None
    assert domain_query("localhost", "dbl.example") is None
    assert domain_query("", "dbl.example") is None


def test_any_loopback_answer_is_a_hit_without_codes() -> None:
    zone = DnsblZone(zone="zen.example")
    assert interpret(zone, ("127.0.0.4",)) == (Hit("zen.example", "127.0.0.4", "reject"), ())
    assert interpret(zone, ("192.0.2.1",)) == (None, ())  # not 127/8: no listing


def test_error_answers_are_never_hits() -> None:
    zone = DnsblZone(zone="zen.example")
    assert interpret(zone, ("127.255.255.254",)) == (None, ("zen.example: 127.255.255.254",))


def test_codes_choose_the_action_and_ignore_the_rest() -> None:
    zone = DnsblZone(zone="zen.example", codes={"127.0.0.2": "reject", "127.0.0.10": "log"})
    assert interpret(zone, ("127.0.0.10",))[0] == Hit("zen.example", "127.0.0.10", "log")
    assert interpret(zone, ("127.0.0.3",))[0] is None
    assert interpret(zone, ("127.0.0.3", "127.0.0.2"))[0] == Hit("zen.example", "127.0.0.2", "reject")


def test_simple_and_detailed_forms() -> None:
    settings = Settings.model_validate(
        {
            "dnsbl": {
                "zones": ["Zen.Example.", {"zone": "b.example", "codes": {"127.0.0.2": "log"}}],
                "allow_zones": ["list.dnswl.example"],
                "domain_zones": ["dbl.example"],
            }
        }
    )
    assert [z.zone for z in settings.dnsbl.blocklists()] == ["zen.example", "b.example"]
    assert settings.dnsbl.blocklists()[1].codes == {"127.0.0.2": "log"}
    assert [z.zone for z in settings.dnsbl.domain_lists()] == ["dbl.example"]
    assert settings.dnsbl.enabled


@pytest.mark.parametrize(
    "bad",
    [
        {"zones": [""]},
        {"zones": [{"zone": "x.example", "codes": {"nope": "reject"}}]},
        {"zones": [{"zone": "a..b"}]},
    ],
)
def test_bad_zones_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings.model_validate({"dnsbl": bad})
