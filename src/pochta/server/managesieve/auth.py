"""Commands of any state and of the not-authenticated state: CAPABILITY, NOOP, LOGOUT, STARTTLS,
AUTHENTICATE, and UNAUTHENTICATE (RFC 5804 §2.1-§2.4, §2.13, §2.14.1).

AUTHENTICATE runs the shared SASL driver (``server.sasl_driver``) with ManageSieve's framing:
challenges and answers are strings (quoted or literal) of base64 on a line of their own, ``"*"``
cancels; the SCRAM server-final rides on the OK as ``(SASL "...")``. The authenticator decides with
protocol "managesieve": the same lockouts, delays and plaintext rules as IMAP.
"""

from __future__ import annotations

from functools import partial
from importlib.metadata import PackageNotFoundError, version

from pochta.auth.authenticator import AuthFailed, AuthFailure, plaintext_allowed
from pochta.proto.managesieve import Command, Line, Response, State, Status, capability_line, encode_string
from pochta.proto.sasl import (
    CANCEL,
    PLAINTEXT_MECHANISMS,
    SERVER_MECHANISMS,
    Cancel,
    Malformed,
    decode_sasl_line,
    encode_sasl,
)
from pochta.server.managesieve.session import Session, SessionEnded
from pochta.server.sasl_driver import Aborted, SaslExchange, drive
from pochta.sieve import SUPPORTED_EXTENSIONS

__all__ = [
    "authenticate",
    "capabilities",
    "capability",
    "logout",
    "noop",
    "starttls",
    "unauthenticate",
]

_FAILURES: dict[AuthFailure, str] = {
    AuthFailure.BAD_CREDENTIALS: "Authentication failed",
    AuthFailure.LOCKED_OUT: "Authentication failed; too many failures, try later",
    AuthFailure.PROTOCOL_DISABLED: "ManageSieve access is disabled for this account",
    AuthFailure.ACCOUNT_DISABLED: "Account disabled",
}


def _pochta_version() -> str:
    try:
        return version("pochta")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "unknown"


def _plaintext_allowed(session: Session) -> bool:
    conn = session.conn
    return plaintext_allowed(session.services.settings.login, conn.is_secure, conn.peer_ip)


def capabilities(session: Session) -> bytes:
    """RFC 5804 §1.7: the capability lines (without the final OK)."""
    settings = session.services.settings
    plain = _plaintext_allowed(session)
    mechanisms = " ".join(m for m in SERVER_MECHANISMS if plain or m not in PLAINTEXT_MECHANISMS)
    lines = [
        capability_line("IMPLEMENTATION", f"pochta {_pochta_version()}"),
        # RFC 5804 §1.7: SASL is listed after login too (empty is allowed there).
        capability_line("SASL", mechanisms if session.state is State.NOT_AUTHENTICATED else ""),
        capability_line("SIEVE", " ".join(sorted(SUPPORTED_EXTENSIONS))),
    ]
    if session.conn.starttls_available and session.state is State.NOT_AUTHENTICATED:
        lines.append(capability_line("STARTTLS"))
    lines.append(capability_line("NOTIFY", "mailto"))  # RFC 5804 §1.7, RFC 5436: enotify's mailto
    lines.append(capability_line("MAXREDIRECTS", str(settings.sieve.run_limits().max_redirects)))
    if session.account is not None:
        lines.append(capability_line("OWNER", session.account.address))  # RFC 5804 §1.7
    lines.append(capability_line("UNAUTHENTICATE"))  # RFC 5804 §2.14.1
    lines.append(capability_line("VERSION", "1.0"))
    return b"".join(lines)


async def capability(session: Session, command: Command) -> Response:
    session.send(capabilities(session))  # RFC 5804 §2.4
    return Response(Status.OK, "Capability completed")


async def noop(session: Session, command: Command) -> Response:
    tag = command.optional(0)
    # RFC 5804 §2.13: the string argument comes back in a TAG response code.
    return Response(Status.OK, "NOOP completed", "TAG" if tag is not None else None, tag)


async def logout(session: Session, command: Command) -> Response:
    # RFC 5804 §2.3: OK, then the server closes the connection.
    session.state = State.LOGOUT
    session.finished = True
    session.send(Response(Status.OK, "Logout completed"))
    raise SessionEnded


async def starttls(session: Session, command: Command) -> Response:
    conn = session.conn
    if not conn.starttls_available:
        return Response(Status.NO, "STARTTLS is not available here")
    session.send(Response(Status.OK, "Begin TLS negotiation now"))
    await session.flush()
    # RFC 5804 §2.2: nothing the client sent after STARTTLS in plaintext is executed.
    dropped = session.receiver.discard_buffered()
    if dropped:
        conn.log.warning("plaintext after starttls discarded", bytes=dropped)
    await conn.start_tls()
    # RFC 5804 §2.2: after the TLS negotiation the server re-issues the capabilities, then OK.
    session.send(capabilities(session))
    return Response(Status.OK, "TLS negotiation successful")


async def unauthenticate(session: Session, command: Command) -> Response:
    """RFC 5804 §2.14.1: back to the not-authenticated state; never NO in the authenticated state."""
    conn, settings = session.conn, session.services.settings
    account = session.account
    session.account = None
    session.state = State.NOT_AUTHENTICATED
    conn.set_idle_timeout(settings.server.idle_timeout_unauthenticated)
    conn.begin_login_phase()
    conn.log.info("managesieve unauthenticate", account=None if account is None else account.address)
    return Response(Status.OK, "Unauthenticate completed")


async def authenticate(session: Session, command: Command) -> Response:
    """RFC 5804 §2.1."""
    name = command.string(0).decode("ascii", "replace").upper()
    if name not in SERVER_MECHANISMS:
        return Response(Status.NO, "Unsupported authentication mechanism")
    if name in PLAINTEXT_MECHANISMS and not _plaintext_allowed(session):
        # RFC 5804 §1.3: ENCRYPT-NEEDED, the mechanism needs TLS first.
        return Response(Status.NO, "Use STARTTLS first", "ENCRYPT-NEEDED")
    initial: bytes | None = None
    given = command.optional(1)
    if given is not None:
        decoded = decode_sasl_line(given)
        if not isinstance(decoded, bytes):
            return Response(Status.NO, "Invalid base64 in initial response")
        initial = decoded
    services, conn = session.services, session.conn
    exchange = SaslExchange(
        services.authenticator,
        protocol="managesieve",
        remote_ip=conn.peer_ip,
        log=conn.log,
        scram_secret=services.scram_secret,
        final_with_success=True,  # RFC 5804 §2.1: in the SASL response code of the OK
    )
    outcome = await drive(exchange, name, initial, partial(_exchange, session))
    if isinstance(outcome, Aborted):
        conn.metrics.login("managesieve", ok=False)
        if isinstance(outcome.answer, Cancel):
            # RFC 5804 §2.1: a "*" answer MUST be rejected with NO.
            return Response(Status.NO, "Authentication cancelled")
        return Response(Status.NO, "Invalid base64 data")
    result = outcome.result
    if isinstance(result, AuthFailed):
        conn.log.info("managesieve login failed", reason=result.reason.value)
        conn.metrics.login("managesieve", ok=False)
        return Response(Status.NO, _FAILURES[result.reason])
    session.account = result.account
    session.state = State.AUTHENTICATED
    conn.set_idle_timeout(services.settings.managesieve.autologout)
    conn.end_login_phase()
    conn.log.info("managesieve login", account=result.account.address, app_password=result.app_password)
    conn.metrics.login("managesieve", ok=True)
    if outcome.server_final is not None:
        return Response(Status.OK, "Logged in", "SASL", encode_sasl(outcome.server_final))
    return Response(Status.OK, "Logged in")


async def _exchange(session: Session, challenge: bytes) -> bytes | Cancel | Malformed:
    # RFC 5804 §2.1: a challenge is a string of base64 on a line of its own; so is the answer.
    session.send(encode_string(encode_sasl(challenge)) + b"\r\n")
    line = await session.read_line()
    if not isinstance(line, Line):
        if line.close:
            session.send(Response(Status.BYE, line.message))
            session.finished = True
            raise SessionEnded
        return Malformed(line.message)
    if len(line.tokens) != 1 or not isinstance(line.tokens[0], bytes):
        return Malformed("expected one string")
    answer = line.tokens[0]
    if answer == b"*":
        return CANCEL
    return decode_sasl_line(answer)
