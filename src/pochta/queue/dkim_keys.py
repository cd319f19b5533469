"""DKIM keys: making them, naming their selectors, the DNS record each needs, and the rotation
(docs/deliverability.md "DKIM").

A domain signs with every ``active`` key (one Ed25519 and one RSA by default: RFC 8463 §6 advises
signing with both while receivers learn Ed25519). A rotation makes new keys ``pending``: they sign
nothing until their records are seen in DNS (``activate``), which then makes them ``active`` and the
keys they replace ``retiring`` (still published, as mail they signed may be verified for days; the
administrator removes their records and ``retire``s them). The first keys of a new domain are
active at once: with nothing published yet, a signature fails no check that an unsigned message
would pass.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from pochta.config_dkim import DkimSettings
from pochta.resolver import DnsResolver, record_lookup
from pochta.store.api import Store
from pochta.store.dkim_model import DkimKey, KeyState

__all__ = [
    "Lookup",
    "activate",
    "dns_name",
    "first_keys",
    "new_keys",
    "record_matches",
    "rotate",
    "txt_lookup",
    "txt_record",
    "txt_strings",
    "zone_lines",
]

# RFC 8463 §4.2 / RFC 6376 §3.6.1: the k= tag of each kind.
_KEY_TYPE = {"ed25519": "ed25519", "rsa": "rsa"}
# One letter per kind at the end of a selector: 20261207e, 20261207r.
_SUFFIX = {"ed25519": "e", "rsa": "r"}


Lookup = Callable[[str], Awaitable[list[str]]]  # TXT strings (each record's strings joined) at a name


def _ed25519() -> tuple[str, str]:
    key = ed25519.Ed25519PrivateKey.generate()
    seed = key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    # RFC 8463 §4.2: p= is the base64 of the 32-octet public key itself (no ASN.1 wrapping).
    return base64.b64encode(seed).decode(), base64.b64encode(public).decode()


def _rsa(bits: int) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    # RFC 6376 §3.6.1: p= is the base64 of the DER SubjectPublicKeyInfo.
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode(), base64.b64encode(der).decode()


def _selector(algorithm: str, day: datetime, taken: set[str]) -> str:
    base = day.strftime("%Y%m%d") + _SUFFIX[algorithm]
    selector, n = base, 1
    while selector in taken:  # a second rotation on one day
        n += 1
        selector = f"{base}{n}"
    return selector


def new_keys(
    domain: str, settings: DkimSettings, state: KeyState, taken: Sequence[str] = (), now: float | None = None
) -> list[DkimKey]:
    """One new key of each kind in ``settings.algorithms``, named by the day (UTC) with a letter for
    the kind, avoiding the selectors in ``taken``."""
    stamp = time.time() if now is None else now
    day = datetime.fromtimestamp(stamp, UTC)
    used = set(taken)
    keys = []
    for algorithm in settings.algorithms:
        private, public = _ed25519() if algorithm == "ed25519" else _rsa(settings.rsa_bits)
        selector = _selector(algorithm, day, used)
        used.add(selector)
        keys.append(DkimKey(domain, selector, algorithm, private, public, state, int(stamp)))
    return keys


def dns_name(key: DkimKey) -> str:
    """Where the key's record lives (RFC 6376 §3.6.2.1)."""
    return f"{key.selector}._domainkey.{key.domain}"


def txt_record(key: DkimKey) -> str:
    """The TXT record's text (RFC 6376 §3.6.1)."""
    return f"v=DKIM1; k={_KEY_TYPE[key.algorithm]}; p={key.public_key}"


def txt_strings(text: str) -> str:
    """TXT rdata in zone file syntax: the text cut into quoted strings of at most 255 octets (RFC
    1035 section 3.3.14: a character-string is at most 255 octets; an RSA-2048 key record is longer)."""
    return " ".join(f'"{text[i : i + 255]}"' for i in range(0, len(text), 255))


def zone_lines(key: DkimKey) -> str:
    """The key's record in zone file syntax."""
    return f"{dns_name(key)}. IN TXT ( {txt_strings(txt_record(key))} )"


def record_matches(key: DkimKey, found: Sequence[str]) -> bool:
    """Whether one of the TXT texts found at the key's name publishes this key's public key."""
    for text in found:
        tags = {}
        for part in text.split(";"):
            name, _, value = part.partition("=")
            tags[name.strip()] = "".join(value.split())
        if tags.get("p") == key.public_key and tags.get("k", "rsa") == _KEY_TYPE[key.algorithm]:
            return True
    return False


async def rotate(store: Store, domain: str, settings: DkimSettings) -> list[DkimKey]:
    """Make new pending keys for ``domain`` (replacing any still pending); returned to be
    published."""
    existing = await store.dkim_keys(domain)
    for key in existing:
        if key.state is KeyState.PENDING:
            await store.delete_dkim_key(domain, key.selector)
    taken = [key.selector for key in existing if key.state is not KeyState.PENDING]
    keys = new_keys(domain, settings, KeyState.PENDING, taken)
    await store.add_dkim_keys(domain, keys)
    return keys


async def activate(store: Store, domain: str, lookup: Lookup | None) -> tuple[list[DkimKey], list[DkimKey]]:
    """Make the pending keys of ``domain`` sign, and the active ones retire, once every pending key's
    record is seen through ``lookup`` (None: without looking). Returns (activated, missing): nothing
    changes while a record is missing."""
    keys = await store.dkim_keys(domain)
    pending = [key for key in keys if key.state is KeyState.PENDING]
    missing = []
    if lookup is not None:
        for key in pending:
            if not record_matches(key, await lookup(dns_name(key))):
                missing.append(key)
    if missing or not pending:
        return [], missing
    states = {key.selector: KeyState.RETIRING for key in keys if key.state is KeyState.ACTIVE}
    states.update({key.selector: KeyState.ACTIVE for key in pending})
    await store.set_dkim_states(domain, states)
    return [replace(key, state=KeyState.ACTIVE) for key in pending], []


async def first_keys(store: Store, domain: str, settings: DkimSettings) -> list[DkimKey]:
    """The keys of a new domain, active at once (see the module docstring)."""
    keys = new_keys(domain, settings, KeyState.ACTIVE)
    keys = [replace(key, activated=key.created) for key in keys]
    await store.add_dkim_keys(domain, keys)
    return keys


def txt_lookup(resolver: DnsResolver) -> Lookup:
    """TXT texts at a name through ``resolver`` (``record_lookup``: an empty list when there is
    none, LookupFailed when the lookup fails)."""
    lookup = record_lookup(resolver)

    async def txt(name: str) -> list[str]:
        return await lookup(name, "TXT")

    return txt
