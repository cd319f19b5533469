"""Commands of any state and of the not-authenticated state: CAPABILITY, NOOP, LOGOUT, ID, ENABLE,
STARTTLS, LOGIN and AUTHENTICATE (RFC 9051 §6.1, §6.2, RFC 2971, RFC 5161, RFC 4959).

Every login ends in ``_admit``: the authenticator's verdict (lockout, delays, the per-account and
per-domain ``imap`` switch) becomes an RFC 5530 response code, or the session enters the
authenticated state with the authenticated autologout timer (RFC 9051 §5.4).
"""

from __future__ import annotations

from functools import partial
from importlib.metadata import PackageNotFoundError, version

from pochta.auth.authenticator import AuthFailed, AuthFailure, AuthResult, plaintext_allowed
from pochta.proto.imap import Command, State, Status, Tagged
from pochta.proto.imap.args import Authenticate, Enable, IdArgs, Login
from pochta.proto.imap.responses import Bye, Capability, Code, Continuation, Enabled, Id
from pochta.proto.sasl import PLAINTEXT_MECHANISMS, SERVER_MECHANISMS, Cancel, Malformed, decode_sasl_line
from pochta.server.imap.session import Session
from pochta.server.sasl_driver import Aborted, SaslExchange, drive

__all__ = [
    "authenticate",
    "capability",
    "enable",
    "id_command",
    "login",
    "logout",
    "noop",
    "starttls",
    "unauthenticate",
]

# RFC 5530 §3 codes for each refusal. Wrong secrets and lockouts look alike on purpose; only a correct
# password learns that IMAP or the account is switched off (pochta.auth.authenticator).
_FAILURES: dict[AuthFailure, tuple[str, str]] = {
    AuthFailure.BAD_CREDENTIALS: ("AUTHENTICATIONFAILED", "Authentication failed"),
    AuthFailure.LOCKED_OUT: ("AUTHENTICATIONFAILED", "Authentication failed; too many failures, try later"),
    AuthFailure.PROTOCOL_DISABLED: ("AUTHORIZATIONFAILED", "IMAP access is disabled for this account"),
    AuthFailure.ACCOUNT_DISABLED: ("CONTACTADMIN", "Account disabled"),
}
# RFC 5161, RFC 6855 §3, RFC 7162 §3.2.3
_ENABLEABLE = {
    "IMAP4REV2": "IMAP4rev2",
    "UTF8=ACCEPT": "UTF8=ACCEPT",
    "CONDSTORE": "CONDSTORE",
    "QRESYNC": "QRESYNC",
    "UIDONLY": "UIDONLY",  # RFC 9586 §3
}


def _ok(command: Command, text: str, code: Code | str | None = None) -> Tagged:
    return Tagged(command.tag, Status.OK, text, code=code)


def _pochta_version() -> str:
    try:
        return version("pochta")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree without metadata
        return "unknown"


# --- any state ------------------------------------------------------------------------------------


async def capability(session: Session, command: Command) -> Tagged:
    session.send(Capability(session.services.capabilities(session)))  # RFC 9051 §6.1.1
    return _ok(command, "CAPABILITY completed")


async def noop(session: Session, command: Command) -> Tagged:
    # RFC 9051 §6.1.2: the poll; the dispatcher reports the selected mailbox's changes (Entry.poll).
    return _ok(command, f"{command.name} completed")


async def logout(session: Session, command: Command) -> Tagged:
    # RFC 9051 §6.1.3: untagged BYE, then the tagged OK, then the server closes.
    session.send(Bye("Logging out"))
    session.logout = True
    await session.unselect()
    session.enter(State.LOGOUT)
    return _ok(command, "LOGOUT completed")


async def id_command(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, IdArgs)
    if args.params:
        fields = {k.decode("utf-8", "replace").lower(): v for k, v in args.params}
        session.conn.log.info(
            "imap client id",
            name=_text(fields.get("name")),
            version=_text(fields.get("version")),
        )
    # RFC 2971 §3.2: the server's own identification.
    session.send(Id((("name", "pochta"), ("version", _pochta_version()))))
    return _ok(command, "ID completed")


def _text(value: bytes | None) -> str | None:
    return None if value is None else value[:100].decode("utf-8", "replace")


async def enable(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, Enable)
    newly = []
    before = set(session.enabled)
    for name in args.capabilities:
        known = _ENABLEABLE.get(name.upper())
        # RFC 5161 §3.1: unknown capabilities are ignored; ENABLED lists only those enabled now
        # (RFC 7162 §3.2.3: "ENABLE QRESYNC CONDSTORE" lists both, though QRESYNC implies CONDSTORE).
        if known is None or known in newly:
            continue
        if session.enable(known) or known not in before:
            newly.append(known)
    session.send(Enabled(newly))
    return _ok(command, "ENABLE completed")


async def unauthenticate(session: Session, command: Command) -> Tagged | None:
    """RFC 8437 §3: reset all connection state but TLS (and ID, §3); never NO."""
    conn, settings = session.conn, session.services.settings
    account = session.account
    await session.unauthenticate()
    # The not-authenticated timers again: idle timeout and login deadline (RFC 9051 §5.4).
    conn.set_idle_timeout(settings.server.idle_timeout_unauthenticated)
    conn.begin_login_phase()
    conn.log.info("imap unauthenticate", account=None if account is None else account.address)
    ok = _ok(command, "UNAUTHENTICATE completed")
    if not conn.compressing:
        return ok
    # RFC 8437 §4.1: COMPRESS ends right after the CRLF of this OK (and the client's after its
    # command's CRLF).
    session.send(ok)
    await session.flush()
    conn.stop_compression()
    return None


# --- not authenticated ----------------------------------------------------------------------------


async def starttls(session: Session, command: Command) -> Tagged | None:
    conn = session.conn
    if conn.is_secure:
        return Tagged(command.tag, Status.BAD, "TLS is already active")
    if not conn.starttls_available:
        return Tagged(command.tag, Status.NO, "STARTTLS is not available here", code="CANNOT")
    session.send(_ok(command, "Begin TLS negotiation now"))
    await session.flush()
    # RFC 9051 §6.2.1: whatever the client pipelined after STARTTLS arrived in plaintext and must not
    # be executed. The receiver drops its buffer here; conn.start_tls drops the socket's.
    dropped = session.receiver.discard_buffered()
    if dropped:
        conn.log.warning("plaintext after starttls discarded", bytes=dropped)
    await conn.start_tls()
    return None


def _plaintext_allowed(session: Session) -> bool:
    conn = session.conn
    return plaintext_allowed(session.services.settings.login, conn.is_secure, conn.peer_ip)


async def login(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, Login)
    if not _plaintext_allowed(session):
        # RFC 9051 §6.2.3 (LOGINDISABLED is advertised), RFC 5530 §3 PRIVACYREQUIRED.
        return Tagged(command.tag, Status.NO, "Use STARTTLS or IMAPS first", code="PRIVACYREQUIRED")
    try:
        user, password = args.userid.decode("utf-8"), args.password.decode("utf-8")
    except UnicodeDecodeError:
        return Tagged(command.tag, Status.NO, "Authentication failed", code="AUTHENTICATIONFAILED")
    result = await session.services.authenticator.check_password(
        user, password, protocol="imap", remote_ip=session.conn.peer_ip
    )
    return _admit(session, command, result)


async def authenticate(session: Session, command: Command) -> Tagged:
    """RFC 9051 §6.2.2 with SASL-IR (RFC 4959): challenges are ``+ base64``, ``*`` cancels (BAD)."""
    args = command.args
    assert isinstance(args, Authenticate)
    name = args.mechanism.upper()
    if name not in SERVER_MECHANISMS:
        return Tagged(command.tag, Status.NO, "Unsupported authentication mechanism", code="CANNOT")
    if name in PLAINTEXT_MECHANISMS and not _plaintext_allowed(session):
        return Tagged(command.tag, Status.NO, "Use STARTTLS or IMAPS first", code="PRIVACYREQUIRED")
    initial: bytes | None = None
    if args.initial_response is not None:
        decoded = decode_sasl_line(args.initial_response, initial=True)
        if not isinstance(decoded, bytes):
            # RFC 9051 §6.2.2: decoding errors in the initial response are a tagged BAD.
            return Tagged(command.tag, Status.BAD, "Invalid base64 in initial response")
        initial = decoded
    services, conn = session.services, session.conn
    exchange = SaslExchange(
        services.authenticator,
        protocol="imap",
        remote_ip=conn.peer_ip,
        log=conn.log,
        scram_secret=services.scram_secret,
    )
    outcome = await drive(exchange, name, initial, partial(_exchange, session))
    if isinstance(outcome, Aborted):
        # RFC 9051 §6.2.2: "*" or invalid base64 "MUST" be answered with a tagged BAD (the driver
        # counted it as a failed login).
        conn.metrics.login("imap", ok=False)
        if isinstance(outcome.answer, Cancel):
            return Tagged(command.tag, Status.BAD, "Authentication cancelled")
        return Tagged(command.tag, Status.BAD, "Invalid base64 data")
    # RFC 9051 §6.2.2 / RFC 4422 §5: IMAP has no "additional data with success": the driver sent
    # the SCRAM server-final as a challenge, answered by an empty line.
    return _admit(session, command, outcome.result)


async def _exchange(session: Session, challenge: bytes) -> bytes | Cancel | Malformed:
    session.send(Continuation(data=challenge))
    return decode_sasl_line(await session.read_continuation())


def _admit(session: Session, command: Command, result: AuthResult) -> Tagged:
    conn = session.conn
    if isinstance(result, AuthFailed):
        code, text = _FAILURES[result.reason]
        conn.log.info("imap login failed", reason=result.reason.value)
        conn.metrics.login("imap", ok=False)
        return Tagged(command.tag, Status.NO, text, code=code)
    session.account = result.account
    session.enter(State.AUTHENTICATED)
    # RFC 9051 §5.4: the autologout timer is at least 30 minutes once authenticated.
    conn.set_idle_timeout(session.services.settings.imap.autologout)
    conn.end_login_phase()  # server.login_timeout no longer applies
    conn.log.info("imap login", account=result.account.address, app_password=result.app_password)
    conn.metrics.login("imap", ok=True)
    # RFC 9051 §6.2.2, §6.2.3: the tagged OK may carry the (changed) capabilities.
    caps = Code.capability(session.services.capabilities(session))
    return _ok(command, "Logged in", caps)
