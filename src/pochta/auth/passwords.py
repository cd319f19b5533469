"""Password secrets: argon2id hashes, SCRAM-SHA-256 keys, generated passwords.

Every function here is CPU-bound and synchronous; callers on the event loop run them in a thread
(``asyncio.to_thread``), as ``pochta.auth.authenticator`` does.

Passwords are prepared with SASLprep before hashing (RFC 4616 §2: "if the output of a non-invertible
function (e.g., hash) of the expected string is stored, the string MUST be prepared before input to
that function"), falling back to the password as given when SASLprep rejects it.

App passwords are found by a keyed digest of the password (``app_password_lookup``), so that a login
verifies exactly one argon2 hash whatever the account has (docs/authentication.md). A fast digest is
safe here because app passwords are always generated (``generate_password``: ~124 random bits),
never chosen; the key, derived from the data directory's server-secret, keeps even that digest
useless to whoever holds only a copy of the database.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from pochta.proto.sasl import SCRAM_DEFAULT_ITERATIONS, SCRAM_SALT_LENGTH, prepare_password, scram_keys
from pochta.store.model import ScramCredentials

# argon2id with the OWASP minimum (19 MiB, 2 passes, 1 lane): ~20-40 ms per hash on one core. Raising
# these later is safe: verify_password reports old hashes for rehashing on the next login.
HASHER = PasswordHasher(
    time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16, type=Type.ID
)

# Verified for unknown users so that "no such account" costs as much time as a wrong password.
DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))

# Readable generated passwords: lower-case letters and digits without look-alikes (0/o, 1/l/i).
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
_GROUPS, _GROUP_LENGTH = 5, 5  # 29 characters, ~124 bits


@dataclass(frozen=True)
class Verification:
    ok: bool
    needs_rehash: bool  # ok, but hashed with other parameters than HASHER's: store a new hash


def hash_password(password: str) -> str:
    """An argon2id encoded hash ("$argon2id$v=19$m=...") of the prepared password."""
    return HASHER.hash(prepare_password(password))


def verify_password(encoded: str, password: str) -> Verification:
    """Checks a password against an encoded argon2 hash. A malformed hash is a mismatch, not an error."""
    try:
        HASHER.verify(encoded, prepare_password(password))
    except (VerificationError, InvalidHashError):
        return Verification(ok=False, needs_rehash=False)
    return Verification(ok=True, needs_rehash=HASHER.check_needs_rehash(encoded))


def verify_dummy(password: str) -> None:
    """Spends the time of one verification, for an unknown user."""
    verify_password(DUMMY_HASH, password)


def app_password_lookup(server_secret: bytes, password: str) -> bytes:
    """HMAC-SHA-256 of the prepared password, under a key derived from the server secret for this
    use alone (the secret also derives SCRAM's fake salts)."""
    prepared = prepare_password(password).encode("utf-8", "surrogatepass")
    return hmac.new(_lookup_key(server_secret), prepared, hashlib.sha256).digest()


@functools.lru_cache(maxsize=4)
def _lookup_key(server_secret: bytes) -> bytes:
    """Derived once per secret (a process has one), not at every login."""
    return hmac.new(server_secret, b"pochta app-password lookup v1", hashlib.sha256).digest()


def generate_password() -> str:
    """A random password that is easy to read aloud and type: five groups of five, joined by '-'."""
    groups = ("".join(secrets.choice(_ALPHABET) for _ in range(_GROUP_LENGTH)) for _ in range(_GROUPS))
    return "-".join(groups)


def make_scram_credentials(password: str, iterations: int = SCRAM_DEFAULT_ITERATIONS) -> ScramCredentials:
    """RFC 5802 §3 keys for SCRAM-SHA-256 (RFC 7677) with a fresh random salt."""
    if iterations < 1:
        raise ValueError("iterations must be positive")
    salt = secrets.token_bytes(SCRAM_SALT_LENGTH)
    stored_key, server_key = scram_keys(password, salt, iterations)
    return ScramCredentials(salt=salt, iterations=iterations, stored_key=stored_key, server_key=server_key)
