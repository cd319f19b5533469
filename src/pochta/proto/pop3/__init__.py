"""POP3 (RFC 1939 and extensions) as a sans-IO core: see ``core.Pop3Core``."""

from pochta.proto.pop3.core import Capabilities, Listing, Pop3Core, Pop3StateError, State, err, ok
from pochta.proto.pop3.events import (
    ApopLogin,
    AuthStart,
    Close,
    Commit,
    Event,
    PasswordLogin,
    Retrieve,
    SaslResponse,
    StartTls,
)
from pochta.proto.pop3.stuffing import DotStuffer, TopFilter, needs_stuffing, stuff, stuff_whole, terminator

__all__ = [
    "ApopLogin",
    "AuthStart",
    "Capabilities",
    "Close",
    "Commit",
    "DotStuffer",
    "Event",
    "Listing",
    "PasswordLogin",
    "Pop3Core",
    "Pop3StateError",
    "Retrieve",
    "SaslResponse",
    "StartTls",
    "State",
    "TopFilter",
    "err",
    "needs_stuffing",
    "ok",
    "stuff",
    "stuff_whole",
    "terminator",
]
