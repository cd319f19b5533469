"""DMARC policy records (RFC 7489 section 6.3 and 6.4), pure: the tags of a ``_dmarc`` TXT record
with their defaults, and the organizational domain of a name (RFC 7489 section 3.2) from the
public suffix list of the maintained ``publicsuffixlist`` package (its own copy of the list, no
download at run time)."""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from publicsuffixlist import PublicSuffixList

__all__ = [
    "DmarcRecord",
    "DmarcSyntaxError",
    "Policy",
    "ReportUri",
    "organizational_domain",
    "parse_dmarc",
    "report_uris",
    "select_dmarc",
]

Policy = Literal["none", "quarantine", "reject"]
_POLICIES: tuple[Policy, ...] = ("none", "quarantine", "reject")
_TAG = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# RFC 7489 section 6.4: dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]
_SIZE = re.compile(r"(.*)!([0-9]+)([kmgtKMGT]?)")
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


class DmarcSyntaxError(ValueError):
    """A DMARC record that cannot be used (no valid p= and no rua=: RFC 7489 section 6.6.3)."""


@dataclass(frozen=True)
class ReportUri:
    """One rua/ruf destination: a mailto: address (the only scheme pochta sends to) and the
    largest report it takes (0: no limit)."""

    uri: str
    address: str  # the mailto: address, "" for another scheme
    max_size: int = 0


@dataclass(frozen=True)
class DmarcRecord:
    p: Policy
    sp: Policy
    pct: int = 100
    adkim: Literal["r", "s"] = "r"
    aspf: Literal["r", "s"] = "r"
    rua: tuple[ReportUri, ...] = ()
    ruf: tuple[ReportUri, ...] = ()
    fo: str = "0"
    ri: int = 86400
    text: str = ""  # the record as published


def select_dmarc(txts: Sequence[str]) -> str | None:
    """RFC 7489 section 6.6.3 steps 2 and 4: the one record starting with "v=DMARC1"; None when
    there is none or more than one (then DMARC does not apply)."""
    found = [t for t in txts if re.match(r"\s*v\s*=\s*DMARC1\s*(;|$)", t)]
    return found[0] if len(found) == 1 else None


def report_uris(value: str) -> tuple[ReportUri, ...]:
    out = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        size = 0
        sized = _SIZE.fullmatch(item)
        if sized is not None:
            item = sized.group(1)
            digits = sized.group(2)[:15]
            size = int(digits) * _UNITS[sized.group(3).lower()]
        address = ""
        if item[:7].lower() == "mailto:":
            # RFC 6068: the address is percent-encoded; commas and "!" in it are %2C and %21.
            address = urllib.parse.unquote(item[7:].split("?", 1)[0]).strip()
            if "@" not in address:
                continue
        out.append(ReportUri(item, address, size))
    return tuple(out)


def _policy(value: str | None) -> Policy | None:
    if value is None:
        return None
    lowered = value.strip().lower()
    for policy in _POLICIES:
        if lowered == policy:
            return policy
    return None


def parse_dmarc(text: str) -> DmarcRecord:
    """The record's tags (RFC 7489 section 6.3). Unknown tags are ignored (section 6.3: MUST be);
    a tag with a bad value takes its default; no valid p= is an error, except that with a valid
    rua= the record counts as p=none (section 6.6.3 step 6)."""
    tags: dict[str, str] = {}
    if text.split(";", 1)[0].replace(" ", "").replace("\t", "") != "v=DMARC1":
        raise DmarcSyntaxError("the record does not start with v=DMARC1")  # section 6.3: v= first
    for part in text.split(";"):
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if not equals or not _TAG.fullmatch(name) or name in tags:
            continue
        tags[name] = value.strip()
    if tags.get("v") != "DMARC1":  # section 6.3: v= first, exactly "DMARC1"
        raise DmarcSyntaxError("the record does not start with v=DMARC1")
    rua = report_uris(tags.get("rua", ""))
    p = _policy(tags.get("p"))
    if p is None:
        if not rua:
            raise DmarcSyntaxError("no valid p= tag")
        p = "none"
    sp = _policy(tags.get("sp")) or p  # section 6.3: sp defaults to p
    pct = 100
    if re.fullmatch(r"[0-9]{1,3}", tags.get("pct", "")):
        pct = min(int(tags["pct"]), 100)
    adkim: Literal["r", "s"] = "s" if tags.get("adkim", "").lower() == "s" else "r"
    aspf: Literal["r", "s"] = "s" if tags.get("aspf", "").lower() == "s" else "r"
    ri = 86400
    if re.fullmatch(r"[0-9]{1,10}", tags.get("ri", "")):
        ri = max(int(tags["ri"]), 1)
    fo = tags.get("fo", "0") or "0"
    return DmarcRecord(p, sp, pct, adkim, aspf, rua, report_uris(tags.get("ruf", "")), fo, ri, text)


@lru_cache(maxsize=1)
def _list() -> PublicSuffixList:
    return PublicSuffixList()  # the list the package ships: parsed once per process


def organizational_domain(domain: str) -> str:
    """RFC 7489 section 3.2: the public suffix plus one label; a name that is itself a public
    suffix (or unknown to the list's rules in a way that leaves no private part) is its own."""
    name = domain.lower().rstrip(".")
    if not name:
        return name
    found = _list().privatesuffix(name)
    return found if isinstance(found, str) and found else name
