"""SASL (RFC 4422) mechanisms as sans-IO state machines: PLAIN, LOGIN, SCRAM-SHA-256.

Server side::

    mech, out = ServerMechanism.start("SCRAM-SHA-256", initial_response)  # None: no initial response
    while True:
        match out:
            case Challenge(data):            # send it (base64), read the client's line
                out = mech.step(client_bytes)
            case VerifyPassword():           # PLAIN/LOGIN: the exchange is over; the caller checks
                ...                          # (authcid, password) and answers OK/NO itself
            case NeedScramCredentials(user): # look the user up; None for unknown: the exchange goes on
                out = mech.supply_credentials(credentials_or_none)
            case Success() | Failure():      # SCRAM outcome; Success.server_final carries v=...
                ...

A mechanism never touches the store and never raises on client data: anything malformed becomes a
``Failure``. Misuse by the caller (stepping a finished mechanism) raises ``SaslStateError``.

Client side (tests, and the SMTP client): ``ClientMechanism.start(name, username, password)``, then
``initial_response()``, ``respond(challenge)`` and ``finish(server_final)``; errors raise ``SaslError``.

Protocol encoding (base64 lines, ``*`` to cancel, ``=`` for an empty initial response) is shared by the
protocols through ``decode_sasl_line`` and ``encode_sasl``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import stringprep
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

# ---------------------------------------------------------------------------------------------------
# SASLprep (RFC 4013)


class SaslprepError(ValueError):
    """The string contains characters SASLprep prohibits."""


_PROHIBITED = (
    stringprep.in_table_c12,  # RFC 4013 §2.3: non-ASCII space characters
    stringprep.in_table_c21,  # ASCII control characters
    stringprep.in_table_c22,  # non-ASCII control characters
    stringprep.in_table_c3,  # private use
    stringprep.in_table_c4,  # non-character code points
    stringprep.in_table_c5,  # surrogate code points
    stringprep.in_table_c6,  # inappropriate for plain text
    stringprep.in_table_c7,  # inappropriate for canonical representation
    stringprep.in_table_c8,  # change display properties or deprecated
    stringprep.in_table_c9,  # tagging characters
)


def saslprep(text: str, *, allow_unassigned: bool = True) -> str:
    """RFC 4013 SASLprep. Query strings (the default) may hold unassigned code points; stored may not."""
    # RFC 4013 §2.1: non-ASCII spaces map to SPACE, "commonly mapped to nothing" characters vanish
    mapped = "".join(" " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c))
    prepared = unicodedata.ucd_3_2_0.normalize("NFKC", mapped)  # RFC 4013 §2.2: NFKC, Unicode 3.2
    for c in prepared:
        if any(table(c) for table in _PROHIBITED):  # RFC 4013 §2.3
            raise SaslprepError(f"prohibited character U+{ord(c):04X}")
        if not allow_unassigned and stringprep.in_table_a1(c):  # RFC 4013 §2.5, RFC 3454 §7
            raise SaslprepError(f"unassigned code point U+{ord(c):04X}")
    if any(stringprep.in_table_d1(c) for c in prepared):  # RFC 4013 §2.4, RFC 3454 §6
        if any(stringprep.in_table_d2(c) for c in prepared):
            raise SaslprepError("mixed right-to-left and left-to-right text")
        if not (stringprep.in_table_d1(prepared[0]) and stringprep.in_table_d1(prepared[-1])):
            raise SaslprepError("right-to-left text must start and end with a right-to-left character")
    return prepared


def prepare_password(password: str) -> str:
    """The form of a password that is hashed and compared: SASLprep, or the password unchanged when
    SASLprep rejects it (as PostgreSQL does), so that no password becomes unusable."""
    try:
        return saslprep(password)
    except SaslprepError:
        return password


# ---------------------------------------------------------------------------------------------------
# Protocol-level encoding


class Cancel:
    """The client cancelled the exchange with "*" (RFC 4422 §3.5; RFC 9051 §6.2.2, RFC 4954 §4)."""

    def __repr__(self) -> str:
        return "CANCEL"


CANCEL = Cancel()


@dataclass(frozen=True)
class Malformed:
    """A client line that is not valid base64."""

    reason: str


_BASE64_LINE = re.compile(rb"[A-Za-z0-9+/]*={0,2}")


def decode_sasl_line(line: bytes, *, initial: bool = False) -> bytes | Cancel | Malformed:
    """Decodes a client's SASL line (without CRLF).

    ``initial=True`` for an initial response given with the command, where "=" stands for an empty
    response (RFC 4959 §3, RFC 4954 §4); an empty line answering a challenge is an empty response.
    """
    if line == b"*" and not initial:
        return CANCEL  # RFC 4422 §3.5: the client aborts
    if initial and line == b"=":
        return b""  # RFC 4422 §4 3a: zero-length initial response
    if not _BASE64_LINE.fullmatch(line) or len(line) % 4:
        return Malformed("invalid base64")
    try:
        return base64.b64decode(line, validate=True)
    except ValueError:
        return Malformed("invalid base64")


def encode_sasl(data: bytes) -> bytes:
    """Base64 for a challenge or response line (an empty one stays empty)."""
    return base64.b64encode(data)


# ---------------------------------------------------------------------------------------------------
# What a server mechanism returns


@dataclass(frozen=True)
class Challenge:
    """Data to send to the client (the protocol base64-encodes it); then call ``step`` with its reply."""

    data: bytes


@dataclass(frozen=True)
class VerifyPassword:
    """PLAIN or LOGIN finished: the caller verifies the password (as received, not yet prepared)."""

    authcid: str  # SASLprep'ed
    authzid: str  # equal to authcid: acting as someone else is not supported
    password: str


@dataclass(frozen=True)
class NeedScramCredentials:
    """SCRAM needs the user's stored keys: answer with ``supply_credentials`` (None if unknown)."""

    username: str  # SASLprep'ed
    authzid: str


NeedCredentials = VerifyPassword | NeedScramCredentials


@dataclass(frozen=True)
class Success:
    authcid: str
    authzid: str
    server_final: bytes | None  # additional data with success (RFC 4422 §5 2b), or None


@dataclass(frozen=True)
class Failure:
    reason: str  # for logs; never tells an unknown user from a wrong password
    server_message: bytes | None = None  # SCRAM "e=..." (RFC 5802 §5.1); optional to send


Step = Challenge | VerifyPassword | NeedScramCredentials | Success | Failure


class ScramSecrets(Protocol):
    """What SCRAM needs from the store (``pochta.store.model.ScramCredentials`` fits)."""

    @property
    def salt(self) -> bytes: ...
    @property
    def iterations(self) -> int: ...
    @property
    def stored_key(self) -> bytes: ...
    @property
    def server_key(self) -> bytes: ...


class UnsupportedMechanism(ValueError):
    """The client named a mechanism this server does not offer."""


class SaslStateError(RuntimeError):
    """The caller used a mechanism out of order (a bug in the caller, not bad client input)."""


class SaslError(Exception):
    """Client side: the server's data is malformed, it refused, or it failed to prove itself."""


SERVER_MECHANISMS = ("SCRAM-SHA-256", "PLAIN", "LOGIN")  # in order of preference
PLAINTEXT_MECHANISMS = frozenset({"PLAIN", "LOGIN"})  # send the password itself: TLS or loopback only
SCRAM_SALT_LENGTH = 16
SCRAM_DEFAULT_ITERATIONS = 4096  # RFC 7677 §3: SHOULD be at least 4096
_PROCESS_SECRET = secrets.token_bytes(32)


class _Fail(Exception):
    def __init__(self, reason: str, scram_error: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.scram_error = scram_error


def _utf8(data: bytes, what: str) -> str:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise _Fail(f"{what} is not UTF-8", "invalid-encoding") from None
    if "\x00" in text:
        raise _Fail(f"{what} contains NUL", "invalid-encoding")
    return text


def _prepare_identity(name: str) -> str:
    try:
        prepared = saslprep(name)
    except SaslprepError as exc:
        raise _Fail(f"identity rejected by SASLprep: {exc}", "invalid-username-encoding") from None
    if not prepared:
        raise _Fail("empty identity", "invalid-username-encoding")  # RFC 4616 §2, RFC 5802 §5.1
    return prepared


def _check_authzid(authzid: str, authcid: str) -> str:
    """Acting as another identity is not supported: authzid must be empty or name the same user."""
    if not authzid:
        return authcid  # RFC 4616 §2: derived from the authentication identity
    if _prepare_identity(authzid).lower() != authcid.lower():
        raise _Fail("authorization identity differs from authentication identity", "other-error")
    return authcid


# ---------------------------------------------------------------------------------------------------
# Server mechanisms


class ServerMechanism(ABC):
    name: ClassVar[str]

    def __init__(self) -> None:
        self._done = False

    @staticmethod
    def start(
        name: str,
        initial_response: bytes | None,
        *,
        scram_secret: bytes | None = None,
        server_nonce: str | None = None,
        fake_iterations: int = SCRAM_DEFAULT_ITERATIONS,
    ) -> tuple[ServerMechanism, Step]:
        """Begins an exchange; returns the mechanism and its first output.

        ``scram_secret`` keys the fake salts given for unknown users: pass a persistent one, or
        the fake salts change when the process restarts (and real ones do not). ``server_nonce`` is
        for tests; ``fake_iterations`` should match what real credentials use.
        """
        mech: ServerMechanism
        match name.upper():
            case "PLAIN":
                mech = _PlainServer()
            case "LOGIN":
                mech = _LoginServer()
            case "SCRAM-SHA-256":
                secret = _PROCESS_SECRET if scram_secret is None else scram_secret
                mech = _ScramServer(secret, server_nonce, fake_iterations)
            case _:
                raise UnsupportedMechanism(name)
        return mech, mech._guard(lambda: mech._begin(initial_response))

    @property
    def done(self) -> bool:
        return self._done

    def step(self, client_data: bytes) -> Step:
        """Processes the client's (decoded) reply to the last Challenge."""
        if self._done:
            raise SaslStateError(f"{self.name} exchange is over")
        return self._guard(lambda: self._step(client_data))

    def supply_credentials(self, credentials: ScramSecrets | None) -> Step:
        raise SaslStateError(f"{self.name} does not ask for credentials")

    @abstractmethod
    def _begin(self, initial_response: bytes | None) -> Step:
        """The first output of the exchange (each mechanism defines it)."""

    @abstractmethod
    def _step(self, client_data: bytes) -> Step:
        """The output for one client message (each mechanism defines it)."""

    def _guard(self, run: Callable[[], Step]) -> Step:
        try:
            result = run()
        except _Fail as exc:
            message = None if exc.scram_error is None else b"e=" + exc.scram_error.encode()
            result = Failure(exc.reason, message if isinstance(self, _ScramServer) else None)
        except ValueError as exc:  # a safety net: client data must never raise
            result = Failure(f"malformed {self.name} data: {exc}")
        if not isinstance(result, Challenge | NeedScramCredentials):
            self._done = True
        return result


class _PlainServer(ServerMechanism):
    name = "PLAIN"

    def _begin(self, initial_response: bytes | None) -> Step:
        if initial_response is None:
            return Challenge(b"")  # RFC 4422 §5 2a: client-first; the server sends an empty challenge
        return self._step(initial_response)

    def _step(self, client_data: bytes) -> Step:
        parts = client_data.split(b"\x00")
        if len(parts) != 3:  # RFC 4616 §2: [authzid] NUL authcid NUL passwd
            raise _Fail("malformed PLAIN message")
        authzid, authcid, password = (_utf8(part, "PLAIN message") for part in parts)
        if not authcid or not password:  # RFC 4616 §2: authcid and passwd are 1*SAFE
            raise _Fail("empty PLAIN authcid or password")
        prepared = _prepare_identity(authcid)  # RFC 4616 §2: SASLprep as a query string
        return VerifyPassword(prepared, _check_authzid(authzid, prepared), password)


class _LoginServer(ServerMechanism):
    """draft-murchison-sasl-login: challenges "Username:" and "Password:"."""

    name = "LOGIN"

    def __init__(self) -> None:
        super().__init__()
        self._username: str | None = None

    def _begin(self, initial_response: bytes | None) -> Step:
        if initial_response is None:
            return Challenge(b"Username:")
        return self._step(initial_response)  # an initial response is the user name

    def _step(self, client_data: bytes) -> Step:
        text = _utf8(client_data, "LOGIN response")
        if self._username is None:
            self._username = _prepare_identity(text)
            return Challenge(b"Password:")
        if not text:
            raise _Fail("empty LOGIN password")
        return VerifyPassword(self._username, self._username, text)


_SASLNAME = re.compile(r"(?:[^=,]|=2C|=3D)+")
_ATTR = re.compile(r"[A-Za-z]=[^,]+")


def _unescape_saslname(value: str) -> str:
    # RFC 5802 §5.1: ',' and '=' travel as =2C and =3D; any other '=' MUST fail
    if not _SASLNAME.fullmatch(value):
        raise _Fail("invalid SCRAM user name encoding", "invalid-username-encoding")
    return value.replace("=2C", ",").replace("=3D", "=")


def _escape_saslname(value: str) -> str:
    return value.replace("=", "=3D").replace(",", "=2C")


def _attributes(text: str) -> list[tuple[str, str]]:
    """RFC 5802 §7: attr-val *("," attr-val), attr-val = ALPHA "=" 1*value-char."""
    pairs = []
    for part in text.split(","):
        if not _ATTR.fullmatch(part):
            raise _Fail("malformed SCRAM attribute", "invalid-encoding")
        pairs.append((part[0], part[2:]))
    return pairs


def _b64decode(value: str) -> bytes:
    try:
        return base64.b64decode(value.encode("ascii"), validate=True)
    except ValueError:
        raise _Fail("invalid base64 in SCRAM message", "invalid-encoding") from None


def _hmac(key: bytes, message: bytes, hash_name: str) -> bytes:
    return hmac.new(key, message, hash_name).digest()


def _salted_password(password: str, salt: bytes, iterations: int, hash_name: str) -> bytes:
    # RFC 5802 §3: SaltedPassword := Hi(Normalize(password), salt, i); Hi is PBKDF2 with HMAC
    return hashlib.pbkdf2_hmac(hash_name, prepare_password(password).encode(), salt, iterations)


def scram_keys(password: str, salt: bytes, iterations: int, hash_name: str = "sha256") -> tuple[bytes, bytes]:
    """RFC 5802 §3: (StoredKey, ServerKey) for a password; what a server keeps instead of it."""
    salted = _salted_password(password, salt, iterations, hash_name)
    client_key = _hmac(salted, b"Client Key", hash_name)
    stored_key = hashlib.new(hash_name, client_key).digest()
    return stored_key, _hmac(salted, b"Server Key", hash_name)


def _printable_nonce(nonce: str) -> bool:
    # RFC 5802 §7: printable = %x21-2B / %x2D-7E
    return bool(nonce) and all(0x21 <= ord(c) <= 0x7E and c != "," for c in nonce)


@dataclass(frozen=True)
class _Keys:
    salt: bytes
    iterations: int
    stored_key: bytes
    server_key: bytes


class _ScramServer(ServerMechanism):
    name = "SCRAM-SHA-256"
    _hash = "sha256"

    def __init__(self, secret: bytes, server_nonce: str | None, fake_iterations: int) -> None:
        super().__init__()
        if server_nonce is not None and not _printable_nonce(server_nonce):
            raise ValueError("a SCRAM nonce is printable ASCII without ','")
        self._secret = secret
        self._server_nonce = server_nonce or secrets.token_urlsafe(24)
        self._fake_iterations = fake_iterations
        self._awaiting_credentials = False
        self._gs2_header = ""
        self._first_bare = ""
        self._username = ""
        self._authzid = ""
        self._nonce = ""
        self._server_first = ""
        self._keys: ScramSecrets | None = None

    def _begin(self, initial_response: bytes | None) -> Step:
        if initial_response is None:
            return Challenge(b"")  # RFC 5802 §5.2 2a: SCRAM is client-first
        return self._step(initial_response)

    def _step(self, client_data: bytes) -> Step:
        if self._awaiting_credentials:
            raise SaslStateError("call supply_credentials() first")
        if self._keys is None:
            return self._client_first(_utf8(client_data, "SCRAM message"))
        return self._client_final(_utf8(client_data, "SCRAM message"))

    def _client_first(self, text: str) -> Step:
        flag, sep, rest = text.partition(",")
        if not sep:
            raise _Fail("malformed SCRAM client-first message", "invalid-encoding")
        if flag.startswith("p="):  # RFC 5802 §6: a channel binding we do not offer MUST fail
            raise _Fail("channel binding requested", "channel-binding-not-supported")
        if flag not in ("n", "y"):  # RFC 5802 §5: the message starts with "n", "y" or "p"
            raise _Fail("malformed SCRAM gs2 header", "invalid-encoding")
        authzid_attr, sep, bare = rest.partition(",")
        if not sep:
            raise _Fail("malformed SCRAM gs2 header", "invalid-encoding")
        authzid = ""
        if authzid_attr:  # RFC 5802 §7: gs2-header = gs2-cbind-flag "," [ authzid ] ","
            if not authzid_attr.startswith("a="):
                raise _Fail("malformed SCRAM authzid", "invalid-encoding")
            authzid = _unescape_saslname(authzid_attr[2:])
        attrs = _attributes(bare)
        if attrs[0][0] == "m":  # RFC 5802 §5.1: an 'm' attribute MUST cause failure
            raise _Fail("SCRAM mandatory extension", "extensions-not-supported")
        if len(attrs) < 2 or attrs[0][0] != "n" or attrs[1][0] != "r":
            raise _Fail("SCRAM client-first needs n= and r=", "invalid-encoding")
        # RFC 5802 §5.1: SASLprep the user name as a query string; fail when empty or rejected
        self._username = _prepare_identity(_unescape_saslname(attrs[0][1]))
        self._authzid = _check_authzid(authzid, self._username)
        if not _printable_nonce(attrs[1][1]):
            raise _Fail("invalid SCRAM client nonce", "invalid-encoding")
        self._nonce = attrs[1][1] + self._server_nonce  # RFC 5802 §5.1 r: c-nonce [s-nonce]
        self._gs2_header = text[: len(text) - len(bare)]
        self._first_bare = bare
        self._awaiting_credentials = True
        return NeedScramCredentials(self._username, self._authzid)

    def supply_credentials(self, credentials: ScramSecrets | None) -> Step:
        if not self._awaiting_credentials or self._done:
            raise SaslStateError("SCRAM is not waiting for credentials")
        self._awaiting_credentials = False
        # An unknown user gets a salt and iteration count derived from the name, stable across
        # attempts, and fails at the proof like a wrong password (RFC 5802 §9 "unknown-user" is
        # never sent: it would tell who has an account).
        self._keys = credentials if credentials is not None else self._fake_keys()
        salt = base64.b64encode(self._keys.salt).decode()
        # RFC 5802 §7: server-first-message = nonce "," salt "," iteration-count
        self._server_first = f"r={self._nonce},s={salt},i={self._keys.iterations}"
        return Challenge(self._server_first.encode())

    def _fake_keys(self) -> _Keys:
        name = self._username.lower().encode()  # the directory matches addresses case-insensitively
        mac = _hmac(self._secret, b"scram-fake-salt\x00" + name, self._hash)
        return _Keys(mac[:SCRAM_SALT_LENGTH], self._fake_iterations, mac, mac[::-1])

    def _client_final(self, text: str) -> Step:
        without_proof, sep, proof_attr = text.rpartition(",")
        if not sep or not proof_attr.startswith("p="):  # RFC 5802 §7: ... "," proof
            raise _Fail("SCRAM client-final needs p= last", "invalid-encoding")
        attrs = _attributes(without_proof)
        if len(attrs) < 2 or attrs[0][0] != "c" or attrs[1][0] != "r":
            raise _Fail("SCRAM client-final needs c= and r=", "invalid-encoding")
        # RFC 5802 §6: the server MUST validate c=; without channel binding it is the gs2 header
        if _b64decode(attrs[0][1]) != self._gs2_header.encode():
            raise _Fail("SCRAM channel binding data mismatch", "channel-bindings-dont-match")
        if attrs[1][1] != self._nonce:  # RFC 5802 §5.1 r: the server MUST verify the nonce
            raise _Fail("SCRAM nonce mismatch", "other-error")
        proof = _b64decode(proof_attr[2:])
        assert self._keys is not None
        # RFC 5802 §3: AuthMessage := client-first-bare "," server-first "," client-final-without-proof
        auth_message = f"{self._first_bare},{self._server_first},{without_proof}".encode()
        client_signature = _hmac(self._keys.stored_key, auth_message, self._hash)
        if len(proof) != len(client_signature):
            raise _Fail("invalid SCRAM proof", "invalid-proof")
        client_key = bytes(a ^ b for a, b in zip(proof, client_signature, strict=True))
        # RFC 5802 §3: the server checks H(ClientKey) == StoredKey; constant time
        if not hmac.compare_digest(hashlib.new(self._hash, client_key).digest(), self._keys.stored_key):
            raise _Fail("invalid SCRAM proof", "invalid-proof")
        server_signature = _hmac(self._keys.server_key, auth_message, self._hash)
        final = b"v=" + base64.b64encode(server_signature)  # RFC 5802 §7: verifier
        return Success(self._username, self._authzid, final)


# ---------------------------------------------------------------------------------------------------
# Client mechanisms


class ClientMechanism(ABC):
    name: ClassVar[str]

    def __init__(self, username: str, password: str, authzid: str) -> None:
        self._username = username
        self._password = password
        self._authzid = authzid

    @staticmethod
    def start(
        name: str, username: str, password: str, authzid: str = "", *, nonce: str | None = None
    ) -> ClientMechanism:
        """``nonce`` (SCRAM) is for tests; SCRAM-SHA-1 exists for old smarthosts."""
        match name.upper():
            case "PLAIN":
                return _PlainClient(username, password, authzid)
            case "LOGIN":
                return _LoginClient(username, password, authzid)
            case "SCRAM-SHA-256":
                return _ScramSha256Client(username, password, authzid, nonce)
            case "SCRAM-SHA-1":
                return _ScramSha1Client(username, password, authzid, nonce)
            case _:
                raise UnsupportedMechanism(name)

    def initial_response(self) -> bytes | None:
        """What to send with the AUTH command, or None to wait for the first challenge."""
        return None

    @abstractmethod
    def respond(self, challenge: bytes) -> bytes:
        """The reply to a server challenge."""

    def finish(self, server_final: bytes | None = None) -> None:  # noqa: B027 (no proof by default)
        """Called on the server's success; checks the server's proof where the mechanism has one."""


class _PlainClient(ClientMechanism):
    name = "PLAIN"
    _sent = False

    def _message(self) -> bytes:
        self._sent = True
        return f"{self._authzid}\x00{self._username}\x00{self._password}".encode()

    def initial_response(self) -> bytes | None:
        return self._message()

    def respond(self, challenge: bytes) -> bytes:
        if self._sent:
            raise SaslError("unexpected PLAIN challenge")
        return self._message()


class _LoginClient(ClientMechanism):
    name = "LOGIN"
    _answered = 0

    def respond(self, challenge: bytes) -> bytes:
        self._answered += 1
        if self._answered == 1:
            return self._username.encode()
        if self._answered == 2:
            return self._password.encode()
        raise SaslError("unexpected LOGIN challenge")


MAX_CLIENT_ITERATIONS = 10_000_000  # a hostile server must not make us hash for hours


class _ScramClient(ClientMechanism):
    _hash: ClassVar[str]

    def __init__(self, username: str, password: str, authzid: str, nonce: str | None) -> None:
        super().__init__(username, password, authzid)
        if nonce is not None and not _printable_nonce(nonce):
            raise ValueError("a SCRAM nonce is printable ASCII without ','")
        self._nonce = nonce or secrets.token_urlsafe(24)
        try:
            user = saslprep(username)  # RFC 5802 §5.1: the client SHOULD SASLprep the user name
        except SaslprepError as exc:
            raise SaslError(f"user name rejected by SASLprep: {exc}") from None
        authz = f"a={_escape_saslname(authzid)}" if authzid else ""
        self._gs2_header = f"n,{authz},"  # RFC 5802 §6: "n": the client does not support binding
        self._first_bare = f"n={_escape_saslname(user)},r={self._nonce}"
        self._state = "initial"
        self._expected_signature = b""

    def initial_response(self) -> bytes | None:
        self._state = "first-sent"
        return (self._gs2_header + self._first_bare).encode()

    def respond(self, challenge: bytes) -> bytes:
        if self._state == "initial":
            if challenge:
                raise SaslError("SCRAM is client-first; the server sent data")
            first = self.initial_response()
            assert first is not None
            return first
        if self._state == "first-sent":
            return self._client_final(challenge)
        if self._state == "final-sent":
            self._verify(challenge)
            return b""  # RFC 4422 §5 2b: acknowledge additional data sent as a challenge
        raise SaslError("unexpected SCRAM challenge")

    def _client_final(self, challenge: bytes) -> bytes:
        try:
            server_first = challenge.decode("ascii")
            attrs = dict(_attributes(server_first))
        except (UnicodeDecodeError, _Fail):
            raise SaslError("malformed SCRAM server-first message") from None
        if "m" in attrs:
            raise SaslError("SCRAM server sent a mandatory extension")
        nonce, salt_text, iterations_text = attrs.get("r", ""), attrs.get("s", ""), attrs.get("i", "")
        # RFC 5802 §5.1 r: the client MUST verify that the nonce starts with its own
        if not nonce.startswith(self._nonce) or len(nonce) == len(self._nonce):
            raise SaslError("SCRAM server nonce does not extend ours")
        if not iterations_text.isdigit() or not 0 < int(iterations_text) <= MAX_CLIENT_ITERATIONS:
            raise SaslError("SCRAM iteration count missing or out of range")
        try:
            salt = _b64decode(salt_text)
        except _Fail:
            raise SaslError("SCRAM salt is not base64") from None
        salted = _salted_password(self._password, salt, int(iterations_text), self._hash)
        client_key = _hmac(salted, b"Client Key", self._hash)
        stored_key = hashlib.new(self._hash, client_key).digest()
        channel = base64.b64encode(self._gs2_header.encode()).decode()
        without_proof = f"c={channel},r={nonce}"
        auth_message = f"{self._first_bare},{server_first},{without_proof}".encode()
        signature = _hmac(stored_key, auth_message, self._hash)
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = _hmac(salted, b"Server Key", self._hash)
        self._expected_signature = _hmac(server_key, auth_message, self._hash)
        self._state = "final-sent"
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def _verify(self, server_final: bytes) -> None:
        if server_final.startswith(b"e="):
            raise SaslError(f"SCRAM server error: {server_final[2:].decode('ascii', 'replace')}")
        verifier = server_final.split(b",", 1)[0]
        if not verifier.startswith(b"v="):
            raise SaslError("malformed SCRAM server-final message")
        try:
            signature = base64.b64decode(verifier[2:], validate=True)
        except ValueError:
            raise SaslError("malformed SCRAM server signature") from None
        if not hmac.compare_digest(signature, self._expected_signature):
            raise SaslError("SCRAM server signature is wrong: the server does not know the password")
        self._state = "verified"

    def finish(self, server_final: bytes | None = None) -> None:
        if server_final is not None and self._state == "final-sent":
            self._verify(server_final)
        if self._state != "verified":  # RFC 5802 §5: the client MUST check the ServerSignature
            raise SaslError("the server did not prove its identity")


class _ScramSha256Client(_ScramClient):
    name = "SCRAM-SHA-256"
    _hash = "sha256"


class _ScramSha1Client(_ScramClient):
    name = "SCRAM-SHA-1"
    _hash = "sha1"
