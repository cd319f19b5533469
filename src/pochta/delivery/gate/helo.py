"""What is wrong with a client's HELO/EHLO name, if anything (``connection_checks.helo``).

RFC 5321 §4.1.1.1: the argument is a domain or an address literal; §4.1.3: an address is written in
brackets. A name we do not like is no reason to refuse by itself (RFC 5321 §4.1.4: a mismatch with the
client's address MUST NOT refuse a message), so only what is not a name at all, or what claims to be
this very server, is refused: a stranger never has our host name nor our address.
"""

from __future__ import annotations

import ipaddress

from pochta.proto.smtp import Reply

__all__ = ["helo_refusal"]


def _label_ok(label: str) -> bool:
    # LDH labels (RFC 5321 §4.1.2 sub-domain), underscores tolerated (seen from real Windows hosts),
    # non-ASCII letters allowed (RFC 6531 §3.3 U-labels).
    return (
        0 < len(label) <= 63
        and not label.startswith("-")
        and not label.endswith("-")
        and all(c.isalnum() or c in "-_" for c in label)
    )


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def helo_refusal(name: str, *, hostname: str, local_ip: str, peer_ip: str) -> Reply | None:
    """The refusal of ``name`` from a client at ``peer_ip`` reaching us at ``local_ip``, or None."""
    if _address(name) is not None:
        # RFC 5321 §4.1.3: an address literal is written in brackets
        return Reply(501, ("Invalid HELO name: an address must be written in brackets",), "5.5.2")
    if name.startswith("["):
        inner = name[1:-1] if name.endswith("]") else ""
        literal = _address(inner[5:] if inner.lower().startswith("ipv6:") else inner)
        if literal is None:
            return Reply(501, ("Invalid HELO name: not an address literal",), "5.5.2")
        ours, theirs = _address(local_ip), _address(peer_ip)
        if literal == ours and literal != theirs:
            return Reply(550, ("HELO name claims to be this server",), "5.7.1")
        return None
    domain = name.rstrip(".")
    if not domain or not all(_label_ok(label) for label in domain.split(".")):
        return Reply(501, ("Invalid HELO name: not a host name",), "5.5.2")
    if domain.lower() == hostname.lower():
        return Reply(550, ("HELO name claims to be this server",), "5.7.1")
    return None
