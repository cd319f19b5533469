"""TLSA records and certificate chains (pochta.queue.dane, RFC 7672), on trustme certificates."""

from __future__ import annotations

import hashlib
import ssl

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from pochta.queue.dane import Tlsa, usable_records, verify_chain

NAME = "mx.example.net"


def der(pem: bytes) -> bytes:
    return ssl.PEM_cert_to_DER_cert(pem.decode())


def spki(certificate_der: bytes) -> bytes:
    key = x509.load_der_x509_certificate(certificate_der).public_key()
    return key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def association(usage: int, selector: int, mtype: int, certificate_der: bytes) -> Tlsa:
    selected = certificate_der if selector == 0 else spki(certificate_der)
    data = {0: selected, 1: hashlib.sha256(selected).digest(), 2: hashlib.sha512(selected).digest()}[mtype]
    return Tlsa(usage, selector, mtype, data)


@pytest.fixture(scope="module")
def chain() -> tuple[list[bytes], bytes]:
    """(leaf and intermediate as a server sends them, the root), for NAME."""
    root = trustme.CA()
    intermediate = root.create_child_ca()
    leaf = intermediate.issue_cert(NAME)
    return [der(blob.bytes()) for blob in leaf.cert_chain_pems], der(root.cert_pem.bytes())


@pytest.mark.parametrize("selector", [0, 1])
@pytest.mark.parametrize("mtype", [0, 1, 2])
def test_dane_ee_matches_the_leaf_whatever_its_name(
    chain: tuple[list[bytes], bytes], selector: int, mtype: int
) -> None:
    sent, _ = chain
    record = association(3, selector, mtype, sent[0])
    assert record.usable
    assert verify_chain([record], sent, ["another.name.example"]) is None  # RFC 7672 section 3.1.1


def test_dane_ee_mismatch(chain: tuple[list[bytes], bytes]) -> None:
    sent, _ = chain
    other = trustme.CA().issue_cert(NAME)
    record = association(3, 1, 1, der(other.cert_chain_pems[0].bytes()))
    assert verify_chain([record], sent, [NAME]) == "the certificate matches no TLSA record"


def test_dane_ta_matches_an_issuer_the_server_sends(chain: tuple[list[bytes], bytes]) -> None:
    sent, _ = chain
    anchor = association(2, 0, 1, sent[1])
    assert verify_chain([anchor], sent, [NAME]) is None
    # RFC 7672 section 3.1.2: with a trust anchor, the leaf must name the MX host.
    assert verify_chain([anchor], sent, ["other.example.net"]) == "the certificate does not name the MX host"


def test_dane_ta_not_in_the_chain(chain: tuple[list[bytes], bytes]) -> None:
    sent, root = chain
    anchor = association(2, 1, 1, root)  # the server does not send its root
    assert verify_chain([anchor], sent, [NAME]) == "no certificate of the chain matches a TLSA trust anchor"


def test_dane_ta_broken_chain(chain: tuple[list[bytes], bytes]) -> None:
    sent, _ = chain
    stranger = trustme.CA().create_child_ca()
    stranger_der = der(stranger.cert_pem.bytes())
    anchor = association(2, 0, 1, stranger_der)
    assert verify_chain([anchor], [sent[0], stranger_der], [NAME]) is not None


@pytest.mark.parametrize(
    ("text", "usable"),
    [
        ("3 1 1 " + "ab" * 32, True),
        ("2 0 2 " + "ab" * 64, True),
        ("3 0 0 3082", True),
        ("1 1 1 " + "ab" * 32, False),  # PKIX-EE: not for SMTP (RFC 7672 section 3.1.3)
        ("0 1 1 " + "ab" * 32, False),  # PKIX-TA
        ("3 2 1 " + "ab" * 32, False),  # unknown selector
        ("3 1 3 " + "ab" * 32, False),  # unknown matching type
        ("3 1 1 " + "ab" * 31, False),  # wrong digest length
        ("3 1 1", False),
        ("x y z ab", False),
        ("3 1 1 zz", False),
    ],
)
def test_usable_records(text: str, usable: bool) -> None:
    assert (len(usable_records([text])) == 1) is usable
