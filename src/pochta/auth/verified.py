"""Successful password checks, remembered: a client that logs in again and again (a mail client
polling every minute, imaptest's mix) costs one argon2 verification per ``verified_cache_seconds``,
not one per login. Dovecot's auth cache does the same.

What is kept is an HMAC (a random key of this process) of the *stored* hash and the password: a
changed password or a revoked app password has another hash (or none), so an entry can never let
in a password the store no longer accepts. Only successes are remembered; a wrong password never
matches an entry and always costs a full verification (and counts as a failure). A hit takes a
microsecond where a miss takes the argon2 time, but only the right password can hit, so the
difference tells an attacker nothing they do not already know.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from collections import OrderedDict

from pochta.auth.ratelimit import Clock

__all__ = ["VerifiedPasswords"]


class VerifiedPasswords:
    def __init__(self, seconds: float, max_entries: int, clock: Clock = time.monotonic) -> None:
        self._seconds = seconds
        self._max = max_entries
        self._clock = clock
        self._key = os.urandom(32)
        self._entries: OrderedDict[bytes, float] = OrderedDict()  # digest -> expiry, oldest first

    def reconfigure(self, seconds: float, max_entries: int) -> None:
        self._seconds, self._max = seconds, max_entries
        if seconds <= 0:
            self._entries.clear()
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def _digest(self, stored_hash: str, password: str) -> bytes:
        message = stored_hash.encode() + b"\0" + password.encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def known(self, stored_hash: str, password: str) -> bool:
        """Was ``password`` verified against ``stored_hash`` within the last ``seconds``?"""
        if self._seconds <= 0:
            return False
        digest = self._digest(stored_hash, password)
        expiry = self._entries.get(digest)
        if expiry is None:
            return False
        if expiry <= self._clock():
            del self._entries[digest]
            return False
        return True

    def remember(self, stored_hash: str, password: str) -> None:
        if self._seconds <= 0:
            return
        digest = self._digest(stored_hash, password)
        self._entries.pop(digest, None)
        self._entries[digest] = self._clock() + self._seconds  # last: expires last
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
