"""When the certificate must be obtained again, which names it covers, the challenge files and the
state that `pochta tls status` shows (pochta.acme)."""

from __future__ import annotations

import datetime
import os
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from pochta.acme import AcmeState, CertificateManager, ChallengeFiles, Issued, certificate_names, due
from pochta.config import Settings
from pochta.server.tls import ensure_certificate, file_stamps

NOW = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=datetime.UTC)


def _issued(path: Path, names: list[str], days_left: float) -> None:
    """A certificate of a (fake) CA for ``names`` expiring ``days_left`` days after NOW."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=30))
        .not_valid_after(NOW + datetime.timedelta(days=days_left))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


def _settings(**tls: object) -> Settings:
    return Settings.model_validate({"hostname": "mail.example.org", "tls": {"acme": True, **tls}})


def test_names_start_with_the_hostname_and_add_each_domains_service_hosts() -> None:
    settings = _settings(acme_names=["Imap.Example.org.", "mail.example.org"])
    assert certificate_names(settings, ["example.org", "example.net"]) == [
        "mail.example.org",
        "imap.example.org",
        "mta-sts.example.org",
        "autoconfig.example.org",
        "mta-sts.example.net",
        "autoconfig.example.net",
    ]
    assert certificate_names(_settings(acme_service_names=False), ["example.org"]) == ["mail.example.org"]


def test_due_for_a_missing_unreadable_or_self_signed_certificate(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    assert due(cert, ["mail.example.org"], 30) == "no certificate"
    cert.write_text("not pem")
    assert due(cert, ["mail.example.org"], 30) == "the certificate file cannot be read"
    cert.unlink()
    ensure_certificate(cert, tmp_path / "key.pem", "mail.example.org")
    assert due(cert, ["mail.example.org"], 30) == "the certificate is self-signed"


def test_due_when_a_name_is_missing_unless_it_was_skipped(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    _issued(cert, ["mail.example.org"], days_left=60)
    names = ["mail.example.org", "mta-sts.example.org"]
    now = NOW.timestamp()
    assert due(cert, names, 30, now=now) == "the certificate does not cover mta-sts.example.org"
    assert due(cert, names, 30, skipped=["mta-sts.example.org"], now=now) is None


def test_due_within_the_renewal_window_only(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    _issued(cert, ["mail.example.org"], days_left=31)
    assert due(cert, ["mail.example.org"], 30, now=NOW.timestamp()) is None
    _issued(cert, ["mail.example.org"], days_left=29.5)
    assert due(cert, ["mail.example.org"], 30, now=NOW.timestamp()) == "the certificate expires in 29 days"
    _issued(cert, ["mail.example.org"], days_left=-1)
    assert due(cert, ["mail.example.org"], 30, now=NOW.timestamp()) == "the certificate expires in 0 days"


def test_a_skipped_name_is_asked_for_again_after_a_day(tmp_path: Path) -> None:
    manager = CertificateManager(tmp_path, _settings())
    manager.cert_path.parent.mkdir(parents=True)
    _issued(manager.cert_path, ["mail.example.org", "mta-sts.example.org"], days_left=60)
    state = AcmeState(last_success=NOW.timestamp(), skipped={"autoconfig.example.org": "NXDOMAIN"})
    state.save(tmp_path)
    assert manager.due(["example.org"], now=NOW.timestamp() + 3600) is None
    later = NOW.timestamp() + 86400 + 1
    assert manager.due(["example.org"], now=later) == "the certificate does not cover autoconfig.example.org"


def test_state_round_trips_and_a_damaged_file_reads_as_empty(tmp_path: Path) -> None:
    AcmeState(1.0, 2.0, "boom", ("a.example",), {"b.example": "why"}).save(tmp_path)
    assert AcmeState.load(tmp_path) == AcmeState(1.0, 2.0, "boom", ("a.example",), {"b.example": "why"})
    (tmp_path / "acme" / "state.json").write_text("{")
    assert AcmeState.load(tmp_path) == AcmeState()


def test_install_writes_the_key_private_and_replaces_both_files(tmp_path: Path) -> None:
    manager = CertificateManager(tmp_path, _settings())
    authority = trustme.CA()
    served = authority.issue_cert("mail.example.org")
    before = file_stamps(manager.cert_path, manager.key_path)
    issued = Issued(served.cert_chain_pems[0].bytes(), served.private_key_pem.bytes(), ("mail.example.org",))
    manager.install(issued)
    assert manager.cert_path.read_bytes() == served.cert_chain_pems[0].bytes()
    assert os.stat(manager.key_path).st_mode & 0o777 == 0o600
    assert file_stamps(manager.cert_path, manager.key_path) != before
    assert before == (None, None)


def test_challenge_files_publish_read_withdraw(tmp_path: Path) -> None:
    files = ChallengeFiles(tmp_path)
    files.publish("tok_en-1", "tok_en-1.thumbprint")
    assert files.read("tok_en-1") == b"tok_en-1.thumbprint"
    assert (tmp_path / "acme" / "http-01" / "tok_en-1").is_file()
    files.withdraw("tok_en-1")
    assert files.read("tok_en-1") is None
    files.withdraw("tok_en-1")  # twice is fine


@pytest.mark.parametrize("token", ["", "../state.json", "a/b", "a.b", ".hidden", "x" * 257, "é"])
def test_a_token_that_could_name_another_file_is_refused(tmp_path: Path, token: str) -> None:
    files = ChallengeFiles(tmp_path)
    assert files.read(token) is None
    with pytest.raises(ValueError, match="not an ACME token"):
        files.publish(token, "anything")
