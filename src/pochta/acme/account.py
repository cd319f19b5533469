"""The ACME account key of a data directory: made once, kept in ``acme/account-key.pem`` (0600).

The account itself lives at the ACME server; it is found again from the key on every run (RFC 8555
section 7.3.1: a newAccount request with a known key answers the existing account), so a server
that forgot it (pebble restarted, a new directory URL) gets a new one without anybody's help.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from josepy.jwk import JWKRSA

from pochta.durable import write_atomically

__all__ = ["ACCOUNT_KEY", "account_key"]

ACCOUNT_KEY = Path("acme") / "account-key.pem"


def account_key(data_dir: Path) -> JWKRSA:
    """The account key, created on first use."""
    path = data_dir / ACCOUNT_KEY
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, pem, 0o600)
    loaded = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(loaded, rsa.RSAPrivateKey):
        raise ValueError(f"{path}: not an RSA key")
    return JWKRSA(key=loaded)
