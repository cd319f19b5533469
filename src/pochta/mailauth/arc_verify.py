"""ARC chain validation (RFC 8617 §5.2) of a received message: pass, fail or none.

As for DKIM (``dkim_verify``), the key records of every ARC-Seal and ARC-Message-Signature are
fetched first, concurrently, through ``DnsResolver``; dkimpy's ARC validator then runs in a
worker thread, its ``dnsfunc`` answering from those records. Before any of that the chain's size
is checked (RFC 8617 §4.2.1 and §5.2 step 1: at most 50 sets, ``arc.max_instances``), so a message
with thousands of ARC fields costs no DNS and no cryptography.

Every error is a fail (RFC 8617 §5.2.1: "All errors, including DNS failures, become unrecoverable
and are considered permanent"): a missing key, a DNS timeout, a field dkimpy cannot parse.
"""

from __future__ import annotations

import asyncio
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import dkim
from dkim.util import InvalidTagValueList, parse_tag_value

from pochta.resolver import Answer, DnsResolver, Lookups

__all__ = ["ArcResult", "ArcVerdict", "newest_seal_failed", "verify_arc", "verify_arc_prefetched"]

ArcVerdict = Literal["pass", "fail", "none"]  # RFC 8617 §4.4: the chain validation status
_MIN_RSA_BITS = 1024  # RFC 8301 §3.2, as for DKIM
_SEAL = b"arc-seal"
_AMS = b"arc-message-signature"
_AAR = b"arc-authentication-results"
_INSTANCE = re.compile(rb"(?:^|;)\s*i\s*=\s*([0-9]+)\s*(?:;|$)")


@dataclass(frozen=True)
class ArcResult:
    """The chain's status; ``instances`` its length N, ``oldest_pass`` RFC 8617 §5.2 step 5's
    value (a pass only: 0 when every AMS validates), ``domain`` the d= of the newest ARC-Seal
    (the last intermediary, whose seal a receiver decides to trust or not)."""

    result: ArcVerdict
    instances: int = 0
    oldest_pass: int | None = None
    domain: str = ""
    reason: str = ""
    remote_ip: str = ""  # RFC 8617 §6: smtp.remote-ip, the client the message came from


@dataclass(frozen=True)
class _Field:
    name: bytes  # lower-case
    instance: int | None
    tags: dict[bytes, bytes] | None  # AS and AMS only


def _header_block(message: bytes) -> bytes:
    end = message.find(b"\r\n\r\n")
    return message if end < 0 else message[: end + 2]


def _arc_fields(message: bytes) -> list[_Field] | None:
    """The ARC fields, top first; None when the header section does not parse."""
    try:
        headers, _ = dkim.rfc822_parse(_header_block(message) + b"\r\n")
    except dkim.MessageFormatError:
        return None
    out = []
    for name, value in headers:
        lower = name.lower()
        if lower not in (_SEAL, _AMS, _AAR):
            continue
        tags: dict[bytes, bytes] | None = None
        if lower != _AAR:
            try:
                tags = parse_tag_value(value)
            except InvalidTagValueList:
                tags = None
        found = _INSTANCE.search(value.split(b";", 1)[0] + b";") if lower == _AAR else None
        raw = tags.get(b"i") if tags is not None else (found.group(1) if found else None)
        try:
            instance = int(raw.strip()) if raw is not None else None
        except ValueError:
            instance = None
        out.append(_Field(lower, instance, tags))
    return out


def _key_name(tags: dict[bytes, bytes]) -> str | None:
    selector = re.sub(rb"\s+", b"", tags.get(b"s", b"")).decode("ascii", "replace")
    domain = re.sub(rb"\s+", b"", tags.get(b"d", b"")).decode("ascii", "replace")
    if not selector or not domain:
        return None
    return f"{selector}._domainkey.{domain}".lower().rstrip(".") + "."


def _structure(fields: Sequence[_Field], max_instances: int) -> ArcResult | None:
    """The verdict the chain's shape alone decides (none, or fail before any lookup), else None."""
    if not fields:
        return ArcResult("none")  # RFC 8617 §5.2 step 1
    instances = [f.instance for f in fields]
    if any(i is None for i in instances):
        return ArcResult("fail", reason="an ARC field without a valid i= tag")
    numbers = [i for i in instances if i is not None]
    if len(fields) > 3 * max_instances or max(numbers) > max_instances or min(numbers) < 1:
        # RFC 8617 §4.2.1 / §5.2 step 1: at most 50 ARC Sets, else fail without further work.
        return ArcResult("fail", max(numbers), reason=f"more than {max_instances} ARC sets")
    return None


def verify_arc_prefetched(message: bytes, keys: dict[str, Answer], max_instances: int = 50) -> ArcResult:
    """The chain's status, with the key records already looked up (``keys``). Blocking."""
    fields = _arc_fields(message)
    if fields is None:
        signed = re.search(rb"(?im)^arc-seal[ \t]*:", _header_block(message)) is not None
        return ArcResult("fail", reason="malformed header section") if signed else ArcResult("none")
    decided = _structure(fields, max_instances)
    if decided is not None:
        return decided

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        del timeout
        key = name.decode("ascii", "replace").lower().rstrip(".") + "."
        answer = keys.get(key)
        if answer is None or answer.status != "found" or not answer.records:
            return None  # RFC 8617 §5.2.1: a DNS failure is a failure like any other
        return answer.records[0].encode("ascii", "replace")

    try:
        validator = dkim.ARC(message, minkey=_MIN_RSA_BITS)
        outcome: Any = validator.verify(dnsfunc=dnsfunc)
    except (dkim.DKIMException, ValueError, KeyError, IndexError, TypeError, binascii.Error) as exc:
        return ArcResult("fail", reason=f"cannot be processed: {exc}")
    status, data, reason = outcome
    newest = max(f.instance or 0 for f in fields)
    domain = ""
    for one in fields:
        if one.name == _SEAL and one.instance == newest and one.tags is not None:
            domain = one.tags.get(b"d", b"").decode("ascii", "replace").strip().lower()
    if status == dkim.CV_Pass:
        return ArcResult("pass", newest, _oldest_pass(data), domain)
    # dkimpy says None when a seal reported cv=fail: RFC 8617 §5.2 step 2, the chain fails.
    return ArcResult("fail", newest, None, domain, str(reason))


def newest_seal_failed(message: bytes) -> bool:
    """Does the newest ARC-Seal of ``message`` say cv=fail (the chain is over: RFC 8617 §5.1 step 2)?"""
    seals = [f for f in _arc_fields(message) or () if f.name == _SEAL and f.tags is not None]
    if not seals:
        return False
    newest = max(seals, key=lambda f: f.instance or 0)
    assert newest.tags is not None
    return newest.tags.get(b"cv", b"").strip().lower() == b"fail"


def _oldest_pass(data: Sequence[dict[str, Any]]) -> int:
    """RFC 8617 §5.2 step 5: the lowest instance from which every newer AMS validates, 0 if all."""
    for result in data:  # newest first
        if not result.get("ams-valid"):
            return int(result["instance"]) + 1
    return 0


async def verify_arc(
    message: bytes, resolver: DnsResolver, *, max_instances: int = 50, lookups: Lookups | None = None
) -> ArcResult:
    """The chain validation status of ``message``: keys fetched concurrently, then validation in a
    worker thread."""
    fields = _arc_fields(message)
    if not fields or _structure(fields, max_instances) is not None:
        return verify_arc_prefetched(message, {}, max_instances)  # decided by the header alone
    names = sorted({name for f in fields if f.tags is not None and (name := _key_name(f.tags)) is not None})
    answers: Sequence[Answer] = await asyncio.gather(*(resolver.txt(name, lookups) for name in names))
    keys = dict(zip(names, answers, strict=True))
    return await asyncio.to_thread(verify_arc_prefetched, message, keys, max_instances)
