"""ensure_certificate and server_context: the first-run certificate and the TLS settings."""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from pochta.server.tls import CertificateError, ensure_certificate, reload_context, server_context


def test_creates_a_loadable_self_signed_pair(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "tls" / "cert.pem", tmp_path / "tls" / "key.pem"
    assert ensure_certificate(cert_path, key_path, "mail.example.org") is True
    assert stat.S_IMODE(os.stat(key_path).st_mode) == 0o600
    assert [p.name for p in (tmp_path / "tls").iterdir() if p.name.startswith(".")] == []  # no temp left

    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.example.org", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    lifetime = cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
    assert datetime.timedelta(days=3640) < lifetime <= datetime.timedelta(days=3650)
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False

    assert cert.subject.rfc4514_string() == "O=pochta self-signed,CN=mail.example.org"
    server_context(cert_path, key_path)  # the pair matches and loads


def test_never_overwrites(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_certificate(cert_path, key_path, "localhost")
    before = cert_path.read_bytes(), key_path.read_bytes()
    assert ensure_certificate(cert_path, key_path, "other.example") is False
    assert (cert_path.read_bytes(), key_path.read_bytes()) == before


def test_localhost_is_not_listed_twice(tmp_path: Path) -> None:
    ensure_certificate(tmp_path / "c.pem", tmp_path / "k.pem", "localhost")
    cert = x509.load_pem_x509_certificate((tmp_path / "c.pem").read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]


def test_a_key_without_certificate_gets_one_made_for_it(tmp_path: Path) -> None:
    """What a crash between the two renames of a first run leaves behind."""
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_certificate(cert_path, key_path, "localhost")
    key = key_path.read_bytes()
    cert_path.unlink()
    assert ensure_certificate(cert_path, key_path, "localhost") is True
    assert key_path.read_bytes() == key
    server_context(cert_path, key_path)


def test_a_certificate_without_key_is_an_error(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_certificate(cert_path, key_path, "localhost")
    key_path.unlink()
    with pytest.raises(CertificateError, match=r"key .* is missing"):
        ensure_certificate(cert_path, key_path, "localhost")


def test_server_context_settings(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_certificate(cert_path, key_path, "localhost")
    context = server_context(cert_path, key_path)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.options & ssl.OP_NO_COMPRESSION
    assert context.options & ssl.OP_CIPHER_SERVER_PREFERENCE


def test_bad_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(CertificateError, match="no such file"):
        server_context(tmp_path / "missing.pem", tmp_path / "missing.key")
    (tmp_path / "c.pem").write_text("not a certificate")
    (tmp_path / "k.pem").write_text("not a key")
    with pytest.raises(CertificateError, match="cannot load certificate and key"):
        server_context(tmp_path / "c.pem", tmp_path / "k.pem")


def test_reload_keeps_the_old_pair_on_error(tmp_path: Path) -> None:
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    ensure_certificate(cert_path, key_path, "localhost")
    context = server_context(cert_path, key_path)
    with pytest.raises(CertificateError):
        reload_context(context, tmp_path / "nope.pem", key_path)
    reload_context(context, cert_path, key_path)
