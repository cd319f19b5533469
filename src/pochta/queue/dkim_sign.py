"""DKIM signatures (RFC 6376) on mail the outbound queue sends to other servers.

The signing domain is the one a DMARC check aligns with (RFC 7489 section 3.1.1): the domain of the
From field, or the nearest parent of it holding keys (relaxed alignment); a message whose From
domain is not ours (a forward, a bounce) is signed for its envelope sender's domain when that one
is ours. Every active key of the domain signs (Ed25519 and RSA by default), relaxed/relaxed
(RFC 6376 §3.4.2 and §3.4.4: survives the re-folding and whitespace changes of relays).

Headers: those a receiver shows or acts on are signed, and a set of them is *oversigned*: named
once more than they occur, which signs their absence (RFC 6376 §8.15 and §5.4.2: a header field
named in h= but missing makes any added one break the signature), so that no relay can add a second
From, Subject or List-Unsubscribe that a reader would see.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from typing import Any, BinaryIO

import dkim

from pochta.store.api import Store
from pochta.store.dkim_model import DkimKey, KeyState

__all__ = ["DkimSigner", "Prefixed", "sign_message", "signed_headers", "signing_domains"]

# RFC 6376 §5.4.1's recommended list, with the List-* fields of RFC 2369/8058 and Sender.
_SIGNED = frozenset(
    (
        *("from", "sender", "reply-to", "subject", "date", "message-id", "to", "cc", "in-reply-to"),
        *("references", "mime-version", "content-type", "content-transfer-encoding", "content-id"),
        *("content-description", "resent-date", "resent-from", "resent-sender", "resent-to"),
        *("resent-cc", "resent-message-id", "list-id", "list-help", "list-unsubscribe"),
        *("list-unsubscribe-post", "list-subscribe", "list-post", "list-owner", "list-archive"),
    )
)
# Named once more than they occur (see the module docstring).
_OVERSIGNED = (
    "from",
    "sender",
    "reply-to",
    "subject",
    "date",
    "message-id",
    "to",
    "cc",
    "in-reply-to",
    "references",
    "mime-version",
    "content-type",
    "content-transfer-encoding",
    "list-id",
    "list-unsubscribe",
    "list-unsubscribe-post",
)
_ALGORITHM = {"ed25519": b"ed25519-sha256", "rsa": b"rsa-sha256"}


def _header_block(data: bytes) -> bytes:
    end = data.find(b"\r\n\r\n")
    return data if end < 0 else data[: end + 2]


def signed_headers(header_names: Sequence[str]) -> list[str]:
    """h= for a message with these header fields (in order): each signed field once per
    occurrence, then each oversigned one once more."""
    present = [name.lower() for name in header_names if name.lower() in _SIGNED]
    return present + list(_OVERSIGNED)


def signing_domains(data: bytes, sender: str) -> list[str]:
    """The domains that may sign, best first: the From domain and its parents, then the envelope
    sender's and its parents."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(_header_block(data))
    found: list[str] = []
    from_values = [str(value) for value in headers.get_all("From", [])]
    addresses = [*[address for _, address in getaddresses(from_values)][:1], sender]
    for address in addresses:
        domain = address.rpartition("@")[2].strip().rstrip(".").lower()
        labels = domain.split(".") if "@" in address and domain else []
        for start in range(len(labels) - 1):
            candidate = ".".join(labels[start:])
            if candidate not in found:
                found.append(candidate)
    return found


def sign_message(data: bytes, keys: Sequence[DkimKey]) -> bytes:
    """The DKIM-Signature fields of ``keys`` over ``data`` (a whole message, CRLF line ends)."""
    names = [name for name, _ in BytesHeaderParser(policy=compat32).parsebytes(_header_block(data)).items()]
    include = [name.encode("ascii", "replace") for name in signed_headers(names)]
    lines = []
    for key in keys:
        signature = dkim.sign(
            data,
            key.selector.encode("ascii"),
            key.domain.encode("ascii"),
            key.private_key.encode("ascii"),
            canonicalize=(b"relaxed", b"relaxed"),
            signature_algorithm=_ALGORITHM[key.algorithm],
            include_headers=include,
        )
        lines.append(signature)
    return b"".join(lines)


class DkimSigner:
    """Each worker's signer: the active keys read once per ``directory_version`` (every change to
    the keys moves it), and signing off the event loop (hashing and RSA are CPU work)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._keys: dict[str, list[DkimKey]] | None = None
        self._version: int | None = None

    async def _active(self) -> dict[str, list[DkimKey]]:
        version = self.store.directory_version()
        if self._keys is None or version is None or version != self._version:
            keys: dict[str, list[DkimKey]] = {}
            for key in await self.store.dkim_keys():
                if key.state is KeyState.ACTIVE:
                    keys.setdefault(key.domain, []).append(key)
            self._keys, self._version = keys, version
        return self._keys

    async def signatures(self, data: bytes, sender: str) -> bytes:
        """The DKIM-Signature fields to put before ``data`` (CRLF line ends), or b"" when no local
        domain may sign it."""
        active = await self._active()
        if not active:
            return b""
        for domain in signing_domains(data, sender):
            keys = active.get(domain)
            if keys:
                return await asyncio.to_thread(sign_message, data, keys)
        return b""

    async def seal_key(self, domains: Sequence[str]) -> DkimKey | None:
        """The active RSA key of the first of ``domains`` (or of a parent of it) that has one: the
        ARC sealer's (``arc_seal``), from the keys this signer holds."""
        active = await self._active()
        for domain in domains:
            labels = domain.lower().rstrip(".").split(".")
            for start in range(len(labels) - 1):
                for key in active.get(".".join(labels[start:]), ()):
                    if key.algorithm == "rsa":
                        return key
        return None


class Prefixed(io.RawIOBase):
    """A message stream with the signature fields before it: what the SMTP client reads (``read``
    in chunks, then ``close``), without copying the message."""

    def __init__(self, prefix: bytes, rest: BinaryIO) -> None:
        super().__init__()
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        target = memoryview(buffer).cast("B")
        if self._prefix:
            n = min(len(target), len(self._prefix))
            target[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(target))
        target[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._rest.close()
        finally:
            super().close()
