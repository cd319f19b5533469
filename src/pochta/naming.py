"""Names an administrator gives: domains and account/alias addresses, normalised once.

Domains are stored lower-case in IDNA A-label form (RFC 5890), so `bücher.example` and
`xn--bcher-kva.example` are the same domain. Local parts keep their case for display but are matched
case-insensitively by the store (what every mainstream server does, although RFC 5321 §2.4 allows a
server to treat them as case-sensitive).
"""

from __future__ import annotations

import re

MAX_DOMAIN_LENGTH = 253  # RFC 1035 §2.3.4 (255 octets on the wire)
MAX_LOCAL_PART_LENGTH = 64  # RFC 5321 §4.5.3.1.1

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
# RFC 5322 §3.2.3 atext, plus any non-ASCII character (RFC 6531 §3.3 UTF-8 local parts).
_DOT_ATOM_TEXT = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010FFFF-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010FFFF-]+)*$"
)


class InvalidName(ValueError):
    """A domain or address an administrator typed that cannot be used; the message says why."""


def normalize_domain(name: str) -> str:
    """Lower-case IDNA A-label form of a domain, or InvalidName."""
    text = name.strip().rstrip(".")
    if not text:
        raise InvalidName("empty domain name")
    try:
        ascii_name = text.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise InvalidName(f"not a valid domain name: {name!r} ({exc})") from None
    if len(ascii_name) > MAX_DOMAIN_LENGTH:
        raise InvalidName(f"domain name longer than {MAX_DOMAIN_LENGTH} octets: {name!r}")
    labels = ascii_name.split(".")
    for label in labels:
        if not _LABEL.match(label):
            raise InvalidName(f"not a valid domain name: {name!r} (label {label!r})")
    return ascii_name


def split_address(address: str, *, allow_catch_all: bool = False) -> tuple[str, str]:
    """Split and normalise ``local@domain``; ``@domain`` is a catch-all where allowed.

    Administrator-created addresses are restricted to dot-atom local parts (RFC 5322 §3.4.1): quoted
    local parts are legal on the wire but are a source of confusion no operator wants in a directory.
    """
    text = address.strip()
    local, at, domain = text.rpartition("@")
    if not at:
        raise InvalidName(f"not an address (no @): {address!r}")
    if not local:
        if allow_catch_all:
            return "", normalize_domain(domain)
        raise InvalidName(f"empty local part: {address!r}")
    if len(local.encode("utf-8")) > MAX_LOCAL_PART_LENGTH:
        raise InvalidName(f"local part longer than {MAX_LOCAL_PART_LENGTH} octets: {address!r}")
    if not _DOT_ATOM_TEXT.match(local):
        raise InvalidName(
            f"local part must be a dot-atom (letters, digits, !#$%&'*+/=?^_`{{|}}~-, dots): {address!r}"
        )
    return local, normalize_domain(domain)


def normalize_address(address: str, *, allow_catch_all: bool = False) -> str:
    local, domain = split_address(address, allow_catch_all=allow_catch_all)
    return f"{local}@{domain}"
