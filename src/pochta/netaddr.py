"""Client addresses: one place for how an address is written and what it is counted under.

- ``normalise_ip``: IPv4-mapped IPv6 addresses (dual-stack sockets) are the IPv4 address they are,
  so that per-address limits and loopback checks see one client as one address.
- ``ip_key``: the key a client is counted under by every per-address rule (login throttling and
  lockout, connections per address): an IPv4 address itself, an IPv6 address by its /64, the
  smallest block one subscriber is usually given (often a /56 or /48); counting single IPv6
  addresses would let one client take 2^64 of them.
"""

from __future__ import annotations

import ipaddress

__all__ = ["check_networks", "in_networks", "ip_key", "is_loopback", "normalise_ip"]


def normalise_ip(host: str) -> str:
    """The canonical text of an address; IPv4-mapped IPv6 becomes IPv4. Anything else unchanged."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def ip_key(remote_ip: str) -> str:
    """The key an address is counted under: IPv4 (also when IPv4-mapped), or the IPv6 /64."""
    try:
        address = ipaddress.ip_address(remote_ip.split("%", 1)[0])
    except ValueError:
        return remote_ip  # not an IP (a UNIX socket peer, say): counted by its name
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def check_networks(networks: list[str], key: str) -> list[str]:
    """``networks`` unchanged if each is an address or CIDR network; ValueError naming ``key``."""
    for network in networks:
        try:
            ipaddress.ip_network(network, strict=False)
        except ValueError as exc:
            raise ValueError(f"{key}: {network!r} is not an address or network: {exc}") from None
    return networks


def in_networks(peer_ip: str, networks: list[str]) -> bool:
    """Is this client address in one of ``networks``? (A UNIX socket or unparsable peer is not; an
    IPv4-mapped IPv6 address counts as its IPv4 address.)"""
    try:
        address = ipaddress.ip_address(normalise_ip(peer_ip.split("%", 1)[0]))
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network, strict=False) for network in networks)
