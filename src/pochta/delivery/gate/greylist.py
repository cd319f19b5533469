"""Greylisting (``[greylisting]``): the first attempt of a triplet is deferred, its retry after
``delay`` seconds is accepted, and the triplet is then remembered for ``retain`` seconds after its
last message.

The triplet is (client network, envelope sender, recipient), as postgrey has it: the client's /24
(IPv4) or /64 (IPv6), because large senders retry from another address of the same pool; the
sender normalised so that per-message tags (BATV ``prvs=``, VERP-style numbers, SRS hashes) do not
make every message a new triplet. An unconfirmed triplet whose retry does not come within
``expiry`` seconds starts over.

This module is pure: ``advance`` says what the row becomes at an attempt; the store keeps it.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import math
import re

from pochta.config_gate import GreylistSettings
from pochta.mime.address import SmtpPath
from pochta.store.greylist_model import GreylistRow

__all__ = ["Triplet", "advance", "client_network", "normalise_sender", "triplet", "wait_seconds"]

# BATV (draft-levine-smtp-batv): prvs=tag=local or prvs=local=tag ... the local part is kept.
_BATV = re.compile(r"\A(?:prvs|msprvs\d*|btv\d+)=[0-9a-z]+=(.+)\Z", re.IGNORECASE)
# SRS0=hash=tt=domain=local (pochta.mail.srs and others): the original sender is what stays.
_SRS = re.compile(r"\ASRS[01][=+-][^=]+=[^=]+=([^=]+)=(.+)\Z", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")


@dataclasses.dataclass(frozen=True)
class Triplet:
    client: str
    sender: str
    recipient: str
    sender_domain: str


def client_network(ip: str) -> str:
    """The /24 of an IPv4 address, the /64 of an IPv6 one; anything else as it is."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefix = 24 if address.version == 4 else 64
    return str(ipaddress.ip_network((address, prefix), strict=False))


def normalise_sender(path: SmtpPath) -> tuple[str, str]:
    """(normalised sender, its domain); ("", "") for the null sender."""
    if path.is_null:
        return "", ""
    local, domain = path.local.lower(), path.domain.lower()
    srs = _SRS.match(local)
    if srs is not None:
        domain, local = srs.group(1).lower(), srs.group(2)
    batv = _BATV.match(local)
    if batv is not None:
        local = batv.group(1)
    # VERP and per-message numbers: bounce-1234-user -> bounce-#-user
    local = _DIGITS.sub("#", local)
    return f"{local}@{domain}", domain


def triplet(peer_ip: str, sender: SmtpPath, recipient: SmtpPath) -> Triplet:
    normalised, domain = normalise_sender(sender)
    return Triplet(client_network(peer_ip), normalised, recipient.address.lower(), domain)


def advance(
    row: GreylistRow | None, key: Triplet, now: int, settings: GreylistSettings, *, pass_now: bool = False
) -> GreylistRow:
    """The row after an attempt at ``now``. ``pass_now``: the sender is known otherwise (SPF), the
    triplet passes at once."""
    stale = row is not None and (
        (not row.passed and now - row.first_seen > settings.expiry)
        or (row.passed and now - row.last_seen > settings.retain)
    )
    if row is None or stale:
        passed = now if pass_now or settings.delay <= 0 else 0
        return GreylistRow(key.client, key.sender, key.recipient, key.sender_domain, now, now, passed)
    if row.passed:
        # A message of a known triplet extends its life; written at most hourly (fewer writes).
        return row if now - row.last_seen < 3600 else dataclasses.replace(row, last_seen=now)
    if pass_now or now - row.first_seen >= settings.delay:
        return dataclasses.replace(row, passed=now, last_seen=now)
    return row  # too early: the first attempt's time stands (a retry does not restart the delay)


def wait_seconds(row: GreylistRow, now: int, settings: GreylistSettings) -> int:
    """Seconds until the triplet's retry is accepted (0: it passed)."""
    if row.passed:
        return 0
    return max(1, math.ceil(row.first_seen + settings.delay - now))
