"""What the POP3 core asks of its handler: one event per command that needs the world outside.

Commands the core can answer from the maildrop listing it holds (STAT, LIST, UIDL, DELE, RSET,
NOOP, LAST, CAPA, and every error) never become events: their replies are simply in
``data_to_send()``. Each event below must be answered through the core method named in its
docstring before ``next_event`` is called again.
"""

from __future__ import annotations

from dataclasses import dataclass

from pochta.proto.sasl import Cancel, Malformed

__all__ = [
    "ApopLogin",
    "AuthStart",
    "Close",
    "Commit",
    "Event",
    "PasswordLogin",
    "Retrieve",
    "SaslResponse",
    "StartTls",
]


@dataclass(frozen=True)
class PasswordLogin:
    """USER name + PASS password (RFC 1939 §7). Answer ``login_succeeded`` or ``login_failed``."""

    user: str
    password: str


@dataclass(frozen=True)
class ApopLogin:
    """APOP name digest (RFC 1939 §7); ``timestamp`` is the banner's ``<...>`` the digest covers.
    Answer ``login_succeeded`` or ``login_failed``."""

    user: str
    digest: str  # 32 lower-case hex digits
    timestamp: str


@dataclass(frozen=True)
class AuthStart:
    """AUTH mechanism [initial-response] (RFC 5034 §4). ``initial`` is None without an initial
    response. Answer ``sasl_challenge`` (then a SaslResponse follows), ``login_succeeded`` or
    ``login_failed``."""

    mechanism: str  # upper-case
    initial: bytes | Cancel | Malformed | None


@dataclass(frozen=True)
class SaslResponse:
    """The client's line answering a challenge (decoded; ``Cancel`` for "*")."""

    data: bytes | Cancel | Malformed


@dataclass(frozen=True)
class StartTls:
    """STLS accepted (RFC 2595 §4): "+OK" is queued and the core's buffer dropped. Send the
    reply, drop the connection's own buffer, run the handshake, then call ``tls_started``."""


@dataclass(frozen=True)
class Retrieve:
    """RETR (``body_lines`` None) or TOP (RFC 1939 §7). Answer ``retrieve_begin`` and stream the
    message through ``DotStuffer`` (and ``TopFilter`` for TOP), or ``retrieve_failed``."""

    index: int  # 0-based position in the maildrop listing
    body_lines: int | None


@dataclass(frozen=True)
class Commit:
    """QUIT in TRANSACTION: enter UPDATE (RFC 1939 §6) and apply these. Answer ``commit_done``."""

    deleted: tuple[int, ...]  # 0-based indexes marked by DELE
    retrieved: tuple[int, ...]  # 0-based indexes sent whole by RETR


@dataclass(frozen=True)
class Close:
    """Send what is queued and close the connection (QUIT in AUTHORIZATION, too many errors, or
    the end of UPDATE)."""

    reason: str


Event = PasswordLogin | ApopLogin | AuthStart | SaslResponse | StartTls | Retrieve | Commit | Close
