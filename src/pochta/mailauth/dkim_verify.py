"""DKIM verification (RFC 6376 §6) of a received message, one result per signature.

The key records are fetched first, concurrently, through ``DnsResolver`` (async, cached); then
dkimpy checks the hashes and signatures off the event loop (CPU work), its ``dnsfunc`` answering
from the records already fetched, so no thread ever waits on DNS. At most ``max_signatures``
signatures are verified (RFC 6376 §6.1: a verifier MAY limit them; §8.4 attacks by many
signatures); the rest are not reported.

Results are the RFC 8601 section 2.7.1 (the same list as RFC 7601 §2.7.1) words:
pass, fail (hash or signature does not match), neutral (a signature that cannot be read),
policy (verified but not acceptable: an RSA key under 1024 bits, RFC 8301 §3.2), temperror (DNS
failure), permerror (no key record, a bad key record, an unknown algorithm), none (no signature).
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

__all__ = ["DkimResult", "DkimVerdict", "signature_tags", "verify_dkim", "verify_prefetched"]

DkimVerdict = Literal["pass", "fail", "neutral", "policy", "temperror", "permerror", "none"]
_MIN_RSA_BITS = 1024  # RFC 8301 §3.2: verifiers MUST NOT consider signatures using RSA keys of
# less than 1024 bits as valid signatures


@dataclass(frozen=True)
class DkimResult:
    """One signature's verdict; ``domain``/``selector``/``b`` empty when the signature lacks them
    (and for ``none``). ``b`` is the whole b= value (A-R reports its start: RFC 6008 section 4)."""

    result: DkimVerdict
    domain: str = ""
    selector: str = ""
    b: str = ""
    algorithm: str = ""
    reason: str = ""


def _header_block(message: bytes) -> bytes:
    end = message.find(b"\r\n\r\n")
    return message if end < 0 else message[: end + 2]


def signature_tags(message: bytes) -> list[dict[bytes, bytes] | None]:
    """Each DKIM-Signature field's tags, top first (None where the tag list does not parse)."""
    try:
        headers, _ = dkim.rfc822_parse(_header_block(message) + b"\r\n")
    except dkim.MessageFormatError:  # a line that is no field: see ``_unparsable``
        return []
    out: list[dict[bytes, bytes] | None] = []
    for name, value in headers:
        if name.lower() == b"dkim-signature":
            try:
                out.append(parse_tag_value(value))
            except InvalidTagValueList:
                out.append(None)
    return out


def _text(tags: dict[bytes, bytes] | None, tag: bytes) -> str:
    if tags is None:
        return ""
    return re.sub(r"\s+", "", tags.get(tag, b"").decode("ascii", "replace"))


def _unparsable(message: bytes) -> list[DkimResult] | None:
    """The verdict for a header section dkimpy cannot split into fields (a line without a colon,
    which the MX accepts: RFC 7103 §7.2): neutral when it seems to carry a signature (RFC 7601
    §2.7.1: "not otherwise able to be processed"), else none; None when the header parses."""
    try:
        dkim.rfc822_parse(_header_block(message) + b"\r\n")
    except dkim.MessageFormatError:
        signed = re.search(rb"(?im)^dkim-signature[ \t]*:", _header_block(message)) is not None
        return [DkimResult("neutral", reason="malformed header section")] if signed else [DkimResult("none")]
    return None


def _key_name(tags: dict[bytes, bytes]) -> str:
    return f"{_text(tags, b's')}._domainkey.{_text(tags, b'd')}".lower().rstrip(".") + "."


def verify_prefetched(message: bytes, keys: dict[str, Answer], max_signatures: int) -> list[DkimResult]:
    """The verdicts, with the key records already looked up (``keys``: name -> answer). Blocking."""
    parsed = signature_tags(message)[:max_signatures]
    if not parsed and (unparsable := _unparsable(message)) is not None:
        return unparsable
    if not parsed:
        return [DkimResult("none")]
    verifier = dkim.DKIM(message, minkey=_MIN_RSA_BITS)
    return [_verify_one(verifier, index, tags, keys) for index, tags in enumerate(parsed)]


def _verify_one(
    verifier: dkim.DKIM, index: int, tags: dict[bytes, bytes] | None, keys: dict[str, Answer]
) -> DkimResult:
    def result(verdict: DkimVerdict, reason: str = "") -> DkimResult:
        return DkimResult(
            verdict,
            _text(tags, b"d").lower(),
            _text(tags, b"s"),
            _text(tags, b"b"),
            _text(tags, b"a"),
            reason,
        )

    try:
        prep = verifier.verify_headerprep(index)
    except dkim.ValidationError as exc:
        if "unknown signature algorithm" in str(exc):
            return result("permerror", str(exc))  # RFC 6376 §3.5 a=: an algorithm we do not know
        return result("neutral", str(exc))  # RFC 6376 §6.1.1: a signature that does not validate
    except dkim.DKIMException as exc:
        return result("neutral", str(exc))
    if not prep or tags is None:
        return result("neutral", "unreadable signature")
    sig, include_headers, sigheaders = prep
    answer = keys.get(_key_name(tags), Answer("temperror", reason="not looked up"))
    if answer.status == "temperror":
        return result("temperror", answer.reason)  # RFC 6376 §6.1.2 step 2: TEMPFAIL (key unavailable)
    if answer.status == "none" or not answer.records:
        return result("permerror", "no key for signature")  # RFC 6376 §6.1.2 step 3: PERMFAIL

    def dnsfunc(name: bytes, timeout: float = 5) -> bytes:
        del name, timeout
        return answer.records[0].encode("ascii", "replace")

    try:
        loaded: Any = dkim.load_pk_from_dns(_key_name(tags).encode("ascii", "replace"), dnsfunc)
        verifier.pk, verifier.keysize, verifier.ktag, verifier.seqtlsrpt = loaded
        if verifier.pk is None:
            return result("permerror", "key record not for email")
    except (dkim.KeyFormatError, binascii.Error, ValueError) as exc:
        return result("permerror", f"bad key record: {exc}")  # RFC 6376 §6.1.2 steps 5-9: PERMFAIL
    try:
        ok = verifier.verify_sig_process(sig, include_headers, sigheaders[index], dnsfunc)
    except dkim.KeyFormatError as exc:
        if "too small" in str(exc):
            return result("policy", str(exc))  # RFC 8301 §3.2: a valid signature by a weak key
        return result("permerror", str(exc))
    except dkim.ValidationError as exc:
        return result("fail", str(exc))  # RFC 6376 §6.1.3: body hash mismatch
    except (dkim.DKIMException, ValueError, KeyError, IndexError, TypeError) as exc:
        return result("neutral", f"cannot be processed: {exc}")  # odd input dkimpy trips on
    return result("pass") if ok else result("fail", "signature did not verify")


async def verify_dkim(
    message: bytes, resolver: DnsResolver, *, max_signatures: int = 10, lookups: Lookups | None = None
) -> list[DkimResult]:
    """Every signature's verdict (``[none]`` for an unsigned message): key records fetched
    concurrently through ``resolver``, then verification in a worker thread."""
    names = sorted(
        {
            _key_name(tags)
            for tags in signature_tags(message)[:max_signatures]
            if tags and b"d" in tags and b"s" in tags
        }
    )
    answers: Sequence[Answer] = await asyncio.gather(*(resolver.txt(name, lookups) for name in names))
    keys = dict(zip(names, answers, strict=True))
    return await asyncio.to_thread(verify_prefetched, message, keys, max_signatures)
