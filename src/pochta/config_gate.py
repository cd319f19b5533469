"""The MX gate's settings (docs/antispam.md): ``[dnsbl]`` (DNS blocklists and allowlists),
``[greylisting]`` and ``[connection_checks]``. Every check skips the clients of
``trusted_networks`` (the one list of clients that are not checked).
``pochta.config`` re-exports these sections."""

from __future__ import annotations

import ipaddress
from typing import Literal

from pydantic import Field, field_validator

from pochta.config_section import Section

__all__ = ["ConnectionCheckSettings", "DnsblSettings", "DnsblZone", "GreylistSettings"]

ZoneAction = Literal["reject", "log"]


class DnsblZone(Section):
    """One list in its detailed form: which answers mean what."""

    zone: str = Field(description="The list's DNS zone, e.g. zen.spamhaus.org.")
    codes: dict[str, ZoneAction] = Field(
        default_factory=dict,
        description='Answer address -> action, e.g. {"127.0.0.2" = "reject", "127.0.0.10" = "log"}. '
        "Empty: every answer in 127.0.0.0/8 is a hit with `action`; otherwise answers not listed "
        "are ignored.",
    )
    action: ZoneAction = Field(
        "reject", description="What a hit does when `codes` is empty: reject, or log (count) only."
    )

    @field_validator("zone")
    @classmethod
    def _check_zone(cls, value: str) -> str:
        zone = value.strip().strip(".").lower()
        if not zone or any(not label for label in zone.split(".")):
            raise ValueError(f"not a DNS zone: {value!r}")
        return zone

    @field_validator("codes")
    @classmethod
    def _check_codes(cls, value: dict[str, ZoneAction]) -> dict[str, ZoneAction]:
        for code in value:
            try:
                ipaddress.IPv4Address(code)
            except ValueError:
                raise ValueError(f"codes: {code!r} is not an IPv4 address (a list's answer)") from None
        return value


def _zones(value: list[str | DnsblZone]) -> list[str | DnsblZone]:
    return [DnsblZone(zone=entry) if isinstance(entry, str) else entry for entry in value]


class DnsblSettings(Section):
    zones: list[str | DnsblZone] = Field(
        default_factory=list,
        description='Blocklists of client addresses (RFC 5782), e.g. ["zen.example"], or detailed: '
        '[{zone = "zen.example", codes = {"127.0.0.2" = "reject"}}]. A listed client is refused at '
        "RCPT (postmaster excepted) with 554 5.7.1 naming the list.",
    )
    allow_zones: list[str] = Field(
        default_factory=list,
        description="Allowlists of client addresses (DNSWL): a listed client skips the blocklists "
        "and greylisting.",
    )
    domain_zones: list[str | DnsblZone] = Field(
        default_factory=list,
        description="Domain blocklists (DBL style): the MAIL FROM domain and the HELO name are looked "
        "up as <domain>.<zone>.",
    )

    @field_validator("zones", "domain_zones")
    @classmethod
    def _normalise(cls, value: list[str | DnsblZone]) -> list[str | DnsblZone]:
        return _zones(value)

    @field_validator("allow_zones")
    @classmethod
    def _check_allow(cls, value: list[str]) -> list[str]:
        return [DnsblZone(zone=zone).zone for zone in value]

    def blocklists(self) -> list[DnsblZone]:
        return [z for z in self.zones if isinstance(z, DnsblZone)]

    def domain_lists(self) -> list[DnsblZone]:
        return [z for z in self.domain_zones if isinstance(z, DnsblZone)]

    @property
    def enabled(self) -> bool:
        return bool(self.zones or self.allow_zones or self.domain_zones)


class GreylistSettings(Section):
    enabled: bool = Field(
        False,
        description="Greylist mail from clients outside trusted_networks: the first attempt of a "
        "(client network, sender, recipient) triplet is deferred with 451 4.7.1 at RCPT.",
    )
    delay: float = Field(300.0, ge=0, description="Seconds before a retry of a new triplet is accepted.")
    expiry: float = Field(
        86400.0 * 2,
        gt=0,
        description="Seconds a deferred triplet waits for its retry; after that it starts over.",
    )
    retain: float = Field(
        86400.0 * 36,
        gt=0,
        description="Seconds a triplet that passed is remembered after its last message.",
    )
    allow: list[str] = Field(
        default_factory=list,
        description="Clients never greylisted: networks (CIDR) and sender domains (a domain also "
        "allows its subdomains).",
    )
    spf_known_senders: bool = Field(
        True,
        description="Accept at once a sender whose domain passed greylisting before when SPF passes "
        "for it (a large sender's other addresses).",
    )
    prune_interval: float = Field(3600.0, gt=0, description="Seconds between prunings of old triplets.")

    def allowed_networks(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        out = []
        for entry in self.allow:
            try:
                out.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                continue  # a domain
        return out

    def allowed_domains(self) -> list[str]:
        out = []
        for entry in self.allow:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                out.append(entry.strip(".").lower())
        return out


class ConnectionCheckSettings(Section):
    greet_delay: float = Field(
        0.0,
        ge=0,
        le=60,
        description="Seconds the MX waits between the first and the last line of its greeting "
        "(220-... then 220 ...); a client outside trusted_networks that talks meanwhile is refused "
        "with 554 (an early talker). 0: no wait (legitimate senders wait for nothing).",
    )
    helo: Literal["reject", "log", "off"] = Field(
        "reject",
        description="HELO/EHLO names from clients outside trusted_networks that are not a host name "
        "or an address literal (a bare IP address included: 501 5.5.2), or that claim to be this "
        "server (550 5.7.1): refused, logged only, or not checked.",
    )
    max_unknown_recipients: int = Field(
        20,
        ge=0,
        description="Unknown recipients one connection may try; the next gets 421 4.7.0 and its "
        "address is blocked for block_seconds (0: no limit).",
    )
    block_seconds: float = Field(
        600.0, ge=0, description="Seconds an address that tried too many unknown recipients is refused."
    )
    connection_rate: int = Field(
        0, ge=0, description="Connections per address and rate_window on the MX; more get 421 (0: no limit)."
    )
    message_rate: int = Field(
        0,
        ge=0,
        description="Messages (MAIL commands) per address and rate_window on the MX; more get 451 "
        "(0: no limit).",
    )
    rate_window: float = Field(
        60.0, gt=0, description="Seconds over which connection_rate and message_rate count."
    )
    max_tracked: int = Field(
        100_000, ge=1, description="Addresses remembered for the rates and blocks; the oldest go first."
    )
