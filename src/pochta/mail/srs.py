"""The Sender Rewriting Scheme (SRS) of forwarded mail: pure, no I/O.

A forwarder that passes a message on with its original envelope sender fails SPF at the next hop
(RFC 7208 section 1.1.3: forwarding breaks SPF); with SRS it sends it from an address of its own
domain that encodes the original one, so the next hop checks our SPF, and a bounce coming back to
that address can be decoded and returned to the original sender. The scheme is Shevek's ("Sender
Rewriting Scheme", 2004) as libsrs2 and Postfix's postsrsd implement it, and the addresses are
theirs, so a bounce to an address postsrsd made verifies here with the same secret and vice versa:

    SRS0=HHHH=TT=orig-domain=orig-local@forwarder      (first forwarder)
    SRS1=HHHH=hop1==HHHH=TT=orig-domain=orig-local@us  (a second forwarder: one hop back to hop1)

HHHH: the first 4 characters of the base64 HMAC-SHA1 of the lower-cased parts with a secret (the
hash makes an open reflector impossible: only addresses we made are accepted back); TT: the day of
the rewrite, modulo 1024 in two base32 characters (old addresses expire). An SRS1 address keeps
the first forwarder's SRS0 part whole (that forwarder alone can check it) and adds its own hash of
it; a bounce to it goes back to hop1 as ``SRS0...@hop1``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SrsError", "SrsKey", "forward", "is_srs", "parse_secrets", "reverse", "today"]

_HASH_LENGTH = 4  # libsrs2's and postsrsd's default: 24 bits of HMAC
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 §6 alphabet, as libsrs2 writes the day
_DAYS = 1024  # the day counter wraps (2 base32 characters)
_SEPARATORS = "=+-"  # libsrs2 accepts these after SRS0/SRS1 (some MTAs rewrite "=")
_SECONDS_PER_DAY = 86400


class SrsError(ValueError):
    """An SRS address that does not decode: ``reason`` says why (malformed, bad hash, expired)."""


@dataclass(frozen=True)
class SrsKey:
    """The secrets: the first signs new addresses, every one verifies (rotation: put the new one
    first, remove the old one after ``max_age_days``)."""

    secrets: tuple[bytes, ...]
    max_age_days: int = 21

    def __post_init__(self) -> None:
        if not self.secrets or not all(self.secrets):
            raise ValueError("SRS needs at least one non-empty secret")


def today(now: float) -> int:
    """The day number SRS timestamps count (days since the epoch, wrapped)."""
    return int(now // _SECONDS_PER_DAY) % _DAYS


def _stamp(day: int) -> str:
    return _BASE32[(day >> 5) & 31] + _BASE32[day & 31]


def _stamp_day(text: str) -> int | None:
    if len(text) != 2:
        return None
    high, low = _BASE32.find(text[0].upper()), _BASE32.find(text[1].upper())
    if high < 0 or low < 0:
        return None
    return high << 5 | low


def _hash(secret: bytes, *parts: str) -> str:
    # libsrs2 lower-cases what it hashes: an MTA that lower-cases the address keeps it valid.
    mac = hmac.new(secret, "".join(parts).lower().encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")[:_HASH_LENGTH]


def _hash_ok(key: SrsKey, given: str, *parts: str) -> bool:
    # postsrsd compares without case (a lower-cased address must still come back); the secret
    # rotation means every secret is tried.
    wanted = given.lower()
    return len(given) == _HASH_LENGTH and any(
        hmac.compare_digest(_hash(secret, *parts).lower(), wanted) for secret in key.secrets
    )


def _tag(local: str) -> tuple[str, str] | None:
    """("SRS0"|"SRS1", the rest after the separator) when ``local`` is an SRS local part."""
    head = local[:4].upper()
    if head in ("SRS0", "SRS1") and len(local) > 4 and local[4] in _SEPARATORS:
        return head, local[5:]
    return None


def is_srs(local: str) -> bool:
    """Does this local part look like an SRS address (whether or not it verifies)?"""
    return _tag(local) is not None


def _split(address: str) -> tuple[str, str]:
    local, at, domain = address.rpartition("@")
    if not at or not local or not domain:
        raise SrsError(f"not an address with a domain: {address!r}")
    return local, domain


def forward(key: SrsKey, sender: str, forwarder: str, now: float) -> str:
    """The envelope sender for a copy of mail from ``sender`` that ``forwarder`` (our domain) sends
    on. ``sender`` must be a non-null address of another domain (the caller decides that)."""
    local, domain = _split(sender)
    secret = key.secrets[0]
    tagged = _tag(local)
    if tagged is not None and tagged[0] == "SRS1":
        # Already SRS1: keep its first hop and that hop's part, re-hash them with our secret.
        first_hop, original = _srs1_fields(tagged[1])
        if first_hop is not None:
            return f"SRS1={_hash(secret, first_hop, original)}={first_hop}={original}@{forwarder}"
    if tagged is not None and tagged[0] == "SRS0":
        # SRS0 of another forwarder: one hop back to it, keeping its part for it to check.
        original = local[4:]  # with its separator, as libsrs2 keeps it
        return f"SRS1={_hash(secret, domain, original)}={domain}={original}@{forwarder}"
    stamp = _stamp(today(now))
    return f"SRS0={_hash(secret, stamp, domain, local)}={stamp}={domain}={local}@{forwarder}"


def _srs1_fields(rest: str) -> tuple[str | None, str]:
    """(first hop, its SRS0 part with the leading separator) of an SRS1 local part after
    ``SRS1=``: ``HHHH=hop1==HHHH=TT=domain=local`` -> (hop1, ``=HHHH=TT=domain=local``)."""
    parts = rest.split("=", 2)
    if len(parts) != 3 or not parts[1] or not parts[2]:
        return None, ""
    return parts[1], parts[2]


def reverse(key: SrsKey, address: str, now: float) -> str:
    """The address a bounce to ``address`` (one of ours) goes back to: the original sender for
    SRS0, the first forwarder's SRS0 address for SRS1. Raises SrsError when it does not verify."""
    local, _ = _split(address)
    tagged = _tag(local)
    if tagged is None:
        raise SrsError("not an SRS address")
    kind, rest = tagged
    if kind == "SRS1":
        given = rest.partition("=")[0]
        first_hop, original = _srs1_fields(rest)
        if first_hop is None:
            raise SrsError("malformed SRS1 address")
        if not _hash_ok(key, given, first_hop, original):
            raise SrsError("SRS hash does not verify")
        return f"SRS0{original}@{first_hop}"
    parts = rest.split("=", 3)
    if len(parts) != 4 or not all(parts):
        raise SrsError("malformed SRS0 address")
    given, stamp, domain, original_local = parts
    day = _stamp_day(stamp)
    if day is None:
        raise SrsError("malformed SRS0 timestamp")
    if not _hash_ok(key, given, stamp, domain, original_local):
        raise SrsError("SRS hash does not verify")
    age = (today(now) - day) % _DAYS
    if age > key.max_age_days:
        raise SrsError(f"SRS address expired ({age} days old, at most {key.max_age_days})")
    return f"{original_local}@{domain}"


def parse_secrets(lines: Sequence[str]) -> tuple[bytes, ...]:
    """Secrets from config or a file: one per line, blank lines and ``#`` comments skipped."""
    kept = (line.strip() for line in lines)
    return tuple(line.encode("utf-8") for line in kept if line and not line.startswith("#"))
