"""DANE for SMTP (RFC 7672): which TLSA records are usable and whether a server's certificate chain
matches them. Pure: record text and DER certificates in, answers out (lookups are ``tls_policy``'s,
the handshake ``client``'s)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

DANE_TA = 2
DANE_EE = 3


@dataclass(frozen=True)
class Tlsa:
    usage: int
    selector: int
    mtype: int
    data: bytes

    @classmethod
    def from_text(cls, text: str) -> Tlsa:
        """A TLSA record in zone file text, "3 1 1 ab12..."; ValueError when malformed."""
        fields = text.split()
        if len(fields) < 4 or not all(f.isdigit() for f in fields[:3]):
            raise ValueError(f"TLSA record {text[:60]!r} is malformed")
        return cls(int(fields[0]), int(fields[1]), int(fields[2]), bytes.fromhex("".join(fields[3:])))

    @property
    def usable(self) -> bool:
        """RFC 7672 section 3.1.3: SMTP uses DANE-TA(2) and DANE-EE(3) only (PKIX-TA/EE are
        unusable); selectors Cert(0) and SPKI(1); matching types Full(0), SHA2-256(1), SHA2-512(2)."""
        digest_size = {0: None, 1: 32, 2: 64}
        return (
            self.usage in (DANE_TA, DANE_EE)
            and self.selector in (0, 1)
            and self.mtype in digest_size
            and (digest_size[self.mtype] in (None, len(self.data)))
            and bool(self.data)
        )

    def matches(self, der: bytes) -> bool:
        certificate = x509.load_der_x509_certificate(der)
        if self.selector == 0:
            selected = der
        else:
            selected = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
        if self.mtype == 1:
            selected = hashlib.sha256(selected).digest()
        elif self.mtype == 2:
            selected = hashlib.sha512(selected).digest()
        return selected == self.data


def usable_records(texts: Sequence[str]) -> tuple[Tlsa, ...]:
    """The usable records of an answer; malformed ones are skipped like unusable ones."""
    found: list[Tlsa] = []
    for text in texts:
        try:
            record = Tlsa.from_text(text)
        except ValueError:
            continue
        if record.usable:
            found.append(record)
    return tuple(found)


def _names(certificate: x509.Certificate) -> list[str]:
    try:
        extension = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return [name.lower().rstrip(".") for name in extension.value.get_values_for_type(x509.DNSName)]


def _name_ok(certificate: x509.Certificate, names: Sequence[str]) -> bool:
    wanted = {n.lower().rstrip(".") for n in names}
    for presented in _names(certificate):
        if presented in wanted:
            return True
        # RFC 7672 section 3.2.3: a wildcard stands for one leftmost label
        wildcard = presented.startswith("*.")
        if wildcard and any(n.partition(".")[2] == presented[2:] and n.partition(".")[0] for n in wanted):
            return True
    return False


def verify_chain(records: Sequence[Tlsa], chain: Sequence[bytes], names: Sequence[str]) -> str | None:
    """None when the chain (DER, leaf first) matches a usable record, else why not.

    RFC 7672 section 3.1.1: DANE-EE(3) matches the leaf alone; its names and dates are not checked.
    RFC 7672 section 3.1.2: DANE-TA(2) matches a certificate of the chain the server sent, which must
    have issued the path down to a leaf that is in date and names the MX host (``names``)."""
    if not chain:
        return "the server sent no certificate"
    if any(r.usage == DANE_EE and r.matches(chain[0]) for r in records):
        return None
    anchors = [r for r in records if r.usage == DANE_TA]
    if not anchors:
        return "the certificate matches no TLSA record"
    certificates = [x509.load_der_x509_certificate(der) for der in chain]
    leaf = certificates[0]
    now = datetime.now(UTC)
    for index in range(len(chain)):
        if index > 0:
            try:
                certificates[index - 1].verify_directly_issued_by(certificates[index])
            except (ValueError, TypeError, Exception):
                return "the certificate chain is broken before any TLSA trust anchor"
        if any(r.matches(chain[index]) for r in anchors):
            if not leaf.not_valid_before_utc <= now <= leaf.not_valid_after_utc:
                return "the certificate is expired or not yet valid"
            if not _name_ok(leaf, names):
                return "the certificate does not name the MX host"
            return None
    return "no certificate of the chain matches a TLSA trust anchor"
