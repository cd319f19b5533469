"""The passwords of external accounts, kept encrypted with the data directory's server secret.

AES-256-GCM (``cryptography``), with a key derived from the server secret by HKDF-SHA256 under its
own purpose label, so that the key is used for nothing else (the secret also keys app password
lookups and SCRAM's fake salts, ``pochta.bootstrap.ensure_server_secret``). The local account's id
is the associated data: a stored password copied to another user's row does not decrypt.
Stored form: ``v1:`` + base64(12-octet nonce + ciphertext with its tag).

Losing the server secret loses these passwords (as it does app passwords): it belongs in backups.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = ["SecretError", "decrypt_password", "encrypt_password"]

_PURPOSE = b"pochta fetch: external account passwords v1"
_PREFIX = "v1:"


class SecretError(ValueError):
    """A stored password that does not decrypt (another server secret, or tampered with)."""


def _key(server_secret: bytes) -> AESGCM:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_PURPOSE)
    return AESGCM(hkdf.derive(server_secret))


def _bound(account_id: int) -> bytes:
    return f"account:{account_id}".encode("ascii")


def encrypt_password(server_secret: bytes, account_id: int, password: str) -> str:
    nonce = os.urandom(12)  # random 96-bit nonces: far below GCM's bound for the passwords one server keeps
    sealed = _key(server_secret).encrypt(nonce, password.encode("utf-8"), _bound(account_id))
    return _PREFIX + base64.b64encode(nonce + sealed).decode("ascii")


def decrypt_password(server_secret: bytes, account_id: int, stored: str) -> str:
    if not stored.startswith(_PREFIX):
        raise SecretError("not a stored password of this version")
    try:
        raw = base64.b64decode(stored[len(_PREFIX) :], validate=True)
        plain = _key(server_secret).decrypt(raw[:12], raw[12:], _bound(account_id))
    except (ValueError, InvalidTag):
        raise SecretError("the stored password does not decrypt with this server secret") from None
    return plain.decode("utf-8")
