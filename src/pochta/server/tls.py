"""TLS: the first-run self-signed certificate and the server-side ``ssl.SSLContext``.

DESIGN.md: "First run creates a self-signed certificate; a configured certificate/key pair replaces
it." ``ensure_certificate`` never overwrites an existing file: an operator's certificate is theirs.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from pochta.durable import write_atomically

__all__ = ["CertificateError", "ensure_certificate", "reload_context", "server_context"]

# Long enough that a test or hobby install never sees it expire; clients either pin it or (better)
# the operator installs a real certificate.
_VALIDITY = datetime.timedelta(days=3650)
# Accept a client clock that runs a little behind ours.
_BACKDATE = datetime.timedelta(days=1)


class CertificateError(Exception):
    """A certificate/key pair that cannot be used; the message names the file and the problem."""


def _subject_alt_names(hostname: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    seen: set[str] = set()
    for name in (hostname, "localhost", "127.0.0.1", "::1"):
        if name in seen:
            continue
        seen.add(name)
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return names


def _self_signed(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, hostname: str) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hostname),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "pochta self-signed"),
        ]
    )
    now = datetime.datetime.now(datetime.UTC)
    public_key = key.public_key()
    key_usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        # RSA key exchange (TLS 1.2 without ECDHE) needs key_encipherment; EC keys use key_agreement.
        key_encipherment=isinstance(key, rsa.RSAPrivateKey),
        data_encipherment=False,
        key_agreement=isinstance(key, ec.EllipticCurvePrivateKey),
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + _VALIDITY)
        .add_extension(x509.SubjectAlternativeName(_subject_alt_names(hostname)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(key_usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )


def ensure_certificate(cert_path: Path, key_path: Path, hostname: str) -> bool:
    """Create a self-signed certificate and key for ``hostname`` if they are missing.

    EC P-256 key (fast handshakes; every client of the last decade supports it), SAN = hostname,
    localhost, 127.0.0.1 and ::1, ten years of validity, key file mode 0600, both written atomically.
    Returns True if it wrote anything. Existing files are never overwritten. A key without its
    certificate (a crash between the two renames of an earlier run) gets a certificate made for it;
    a certificate without its key is an error, because no key can be made to match it.
    """
    cert_exists, key_exists = cert_path.exists(), key_path.exists()
    if cert_exists and key_exists:
        return False
    if cert_exists:
        raise CertificateError(f"{cert_path}: certificate exists but its key {key_path} is missing")
    for parent in {cert_path.parent, key_path.parent}:
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey
    if key_exists:
        try:
            loaded = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise CertificateError(f"{key_path}: not an unencrypted PEM private key: {exc}") from None
        if not isinstance(loaded, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise CertificateError(f"{key_path}: unsupported key type {type(loaded).__name__}")
        key = loaded
    else:
        key = ec.generate_private_key(ec.SECP256R1())
        pem_key = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # The key goes first: if we crash before the certificate is renamed in place, the next run
        # finds a key without a certificate and completes the pair (see above).
        write_atomically(key_path, pem_key, 0o600)
    cert = _self_signed(key, hostname)
    write_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return True


def _new_context() -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE | ssl.OP_NO_RENEGOTIATION
    return context


def _load(context: ssl.SSLContext, cert_path: Path, key_path: Path) -> None:
    try:
        context.load_cert_chain(cert_path, key_path)
    except FileNotFoundError as exc:
        raise CertificateError(f"{exc.filename or cert_path}: no such file") from None
    except (ssl.SSLError, OSError) as exc:
        raise CertificateError(f"{cert_path} / {key_path}: cannot load certificate and key: {exc}") from None


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A server-side context: TLS 1.2 or newer, no compression (CRIME), our cipher order, no
    client-initiated renegotiation. Raises CertificateError naming the file on a bad pair."""
    context = _new_context()
    _load(context, cert_path, key_path)
    return context


def reload_context(context: ssl.SSLContext, cert_path: Path, key_path: Path) -> None:
    """Make new handshakes on ``context`` use the pair now in the files; existing sessions keep
    theirs. On error the context keeps its previous certificate (CertificateError).

    The pair goes into a fresh context that every handshake switches to in the server-name
    callback (called for each ClientHello, with or without SNI). Loading it into ``context``
    itself would *add* a certificate: OpenSSL keeps one per key type, and with an RSA pair loaded
    over the first run's ECDSA one (an ACME certificate) clients went on being served the old
    self-signed one (tests/interop/test_acme_pebble.py)."""
    fresh = _new_context()
    _load(fresh, cert_path, key_path)

    def switch(connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
        connection.context = fresh

    context.sni_callback = switch


def file_stamps(*paths: Path) -> tuple[tuple[int, int, int] | None, ...]:
    """What tells a changed file: (inode, size, mtime in ns) of each path, None if it is missing. A
    rename over the file (how every careful writer replaces it) changes the inode."""
    stamps: list[tuple[int, int, int] | None] = []
    for path in paths:
        try:
            info = path.stat()
        except OSError:
            stamps.append(None)
        else:
            stamps.append((info.st_ino, info.st_size, info.st_mtime_ns))
    return tuple(stamps)
