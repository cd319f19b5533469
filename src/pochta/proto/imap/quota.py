"""Arguments of the QUOTA commands (RFC 9208 §4.1, grammar §7): GETQUOTA, GETQUOTAROOT, SETQUOTA.

Quota root names and mailbox names stay the octets the client sent; the handler decides what they
mean. SETQUOTA's limits are number64 (RFC 9051 §9: at most 2^63-1); a resource named twice is a
syntax error (the command could not mean both), an unknown resource name is the handler's NO.
"""

from __future__ import annotations

from dataclasses import dataclass

from pochta.proto.imap import wire
from pochta.proto.imap.wire import MAX_NUMBER64, Cursor, ParseError


def _a(data: bytes) -> bytes:
    return wire.astring(data, utf8=True)


@dataclass(frozen=True)
class GetQuota:
    root: bytes

    def encode(self) -> bytes:
        return b" " + _a(self.root)


@dataclass(frozen=True)
class GetQuotaRoot:
    mailbox: bytes

    def encode(self) -> bytes:
        return b" " + _a(self.mailbox)


@dataclass(frozen=True)
class SetQuota:
    root: bytes
    limits: tuple[tuple[str, int], ...]  # (resource name upper-cased, limit), in the order given

    def encode(self) -> bytes:
        items = " ".join(f"{name} {limit}" for name, limit in self.limits).encode("ascii")
        return b" " + _a(self.root) + b" (" + items + b")"


def parse_getquota(cur: Cursor, max_depth: int) -> GetQuota:
    cur.sp()
    return GetQuota(cur.astring())  # RFC 9208 §7: getquota = "GETQUOTA" SP quota-root-name


def parse_getquotaroot(cur: Cursor, max_depth: int) -> GetQuotaRoot:
    cur.sp()
    return GetQuotaRoot(cur.astring())  # RFC 9208 §7: getquotaroot = "GETQUOTAROOT" SP mailbox


def parse_setquota(cur: Cursor, max_depth: int) -> SetQuota:
    # RFC 9208 §7: setquota = "SETQUOTA" SP quota-root-name SP setquota-list
    cur.sp()
    root = cur.astring()
    cur.sp()
    cur.expect(b"(")
    limits: list[tuple[str, int]] = []
    if not cur.maybe(b")"):
        while True:
            name = cur.keyword()  # resource-name = atom
            cur.sp()
            limit = cur.number(limit=MAX_NUMBER64)  # resource-limit = number64
            if any(name == seen for seen, _ in limits):
                raise ParseError(f"Resource {name} given twice")
            limits.append((name, limit))
            if cur.maybe(b")"):
                break
            cur.sp()
    return SetQuota(root, tuple(limits))
