"""ONE SASL exchange (RFC 4422) for every protocol: the mechanism's steps (``pochta.proto.sasl``),
SCRAM credentials, and the authenticator's verdict (lockouts, delays, per-protocol switches).

What differs between protocols is only the framing, which stays with the caller: how a challenge is
written (``+ b64``, ``334 b64``, ``"b64"``), how an answer is read and decoded, what a cancel or a
malformed answer is answered with, and how the verdict becomes a reply. Two ways to drive it:

- push (a sans-IO core hands over the client's answers as events: POP3, SMTP)::

      out = await exchange.start(mechanism, initial)     # SendChallenge | Verdict
      ... on the next answer: out = await exchange.respond(data)

- pull (the command reads its own continuation lines: IMAP, ManageSieve): ``drive(exchange, ...)``
  with a coroutine that sends one challenge and returns the decoded answer.

A SCRAM server-final message (``Success.server_final``) either goes out as one more challenge whose
(empty) answer completes the login (RFC 4422 §5 2b: IMAP, POP3, SMTP have no "additional data with
success"), or, with ``final_with_success=True``, rides on the verdict for the protocol's success reply
(ManageSieve's ``OK (SASL "...")``, RFC 5804 §2.1).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from structlog.typing import FilteringBoundLogger

from pochta.auth.authenticator import Authenticator, AuthResult, LoginProtocol
from pochta.proto.sasl import (
    Cancel,
    Challenge,
    Failure,
    Malformed,
    NeedScramCredentials,
    ServerMechanism,
    Step,
    Success,
    VerifyPassword,
)

__all__ = ["Aborted", "SaslExchange", "SendChallenge", "Verdict", "drive"]


@dataclass(frozen=True)
class SendChallenge:
    """Send ``data`` to the client in the protocol's framing, then ``respond`` with its answer."""

    data: bytes


@dataclass(frozen=True)
class Verdict:
    """The exchange is over: the authenticator's result for ``authcid`` (as the client gave it)."""

    result: AuthResult
    authcid: str
    server_final: bytes | None = None  # only with final_with_success=True


@dataclass(frozen=True)
class Aborted:
    """The client answered a challenge with ``*`` (Cancel) or with invalid base64 (Malformed)."""

    answer: Cancel | Malformed
    username: str


def _same(name: str) -> str:
    return name


class SaslExchange:
    """One client's SASL exchange. ``account_of`` maps the name the client authenticates as to the
    account address the authenticator knows (POP3's ``recent:`` prefix)."""

    def __init__(
        self,
        authenticator: Authenticator,
        *,
        protocol: LoginProtocol,
        remote_ip: str,
        log: FilteringBoundLogger,
        scram_secret: bytes | None,
        account_of: Callable[[str], str] = _same,
        final_with_success: bool = False,
    ) -> None:
        self.authenticator = authenticator
        self.protocol: LoginProtocol = protocol
        self.remote_ip = remote_ip
        self.log = log
        self.scram_secret = scram_secret
        self.account_of = account_of
        self.final_with_success = final_with_success
        self.mechanism: ServerMechanism | None = None
        self.username = ""  # the SCRAM user, once known: failures count against it
        self.pending_success: str | None = None  # SCRAM succeeded; the final challenge is out

    @property
    def active(self) -> bool:
        """A challenge is out and an answer is due."""
        return self.mechanism is not None or self.pending_success is not None

    async def start(self, mechanism: str, initial: bytes | None) -> SendChallenge | Verdict:
        mech, step = ServerMechanism.start(mechanism, initial, scram_secret=self.scram_secret)
        self.mechanism, self.username, self.pending_success = mech, "", None
        return await self._step(step)

    async def respond(self, answer: bytes) -> SendChallenge | Verdict:
        """The client's decoded answer to the last challenge."""
        if self.pending_success is not None:
            # The client acknowledged the SCRAM server-final (RFC 4422 §5, sent as a challenge).
            user, self.pending_success = self.pending_success, None
            return await self._complete(user, verified=True)
        mech = self.mechanism
        if mech is None:  # pragma: no cover - callers only respond while ``active``
            return await self._complete(self.username, verified=False)
        return await self._step(mech.step(answer))

    def abort(self, answer: Cancel | Malformed) -> Aborted:
        """The client cancelled or sent garbage: the exchange ends and counts as a failed login, so
        that it cannot be used to probe without cost."""
        self.mechanism, self.pending_success = None, None
        self.authenticator.record_failure(self.account_of(self.username), remote_ip=self.remote_ip)
        return Aborted(answer, self.username)

    async def fail(self) -> Verdict:
        """End the exchange as a failed login through the authenticator (its delays included)."""
        self.mechanism, self.pending_success = None, None
        return await self._complete(self.username, verified=False)

    async def _step(self, step: Step) -> SendChallenge | Verdict:
        while True:
            match step:
                case Challenge(data):
                    return SendChallenge(data)
                case NeedScramCredentials(user):
                    self.username = user
                    credentials = await self.authenticator.scram_credentials(self.account_of(user))
                    assert self.mechanism is not None
                    step = self.mechanism.supply_credentials(credentials)
                case VerifyPassword(authcid, _, password):
                    self.mechanism = None
                    result = await self.authenticator.check_password(
                        self.account_of(authcid), password, protocol=self.protocol, remote_ip=self.remote_ip
                    )
                    return Verdict(result, authcid)
                case Success(authcid, _, server_final):
                    self.mechanism = None
                    if server_final and not self.final_with_success:
                        self.pending_success = authcid
                        return SendChallenge(server_final)
                    return await self._complete(authcid, verified=True, server_final=server_final)
                case Failure(reason):
                    self.mechanism = None
                    self.log.info("sasl failed", protocol=self.protocol, reason=reason)
                    return await self._complete(self.username, verified=False)

    async def _complete(self, user: str, *, verified: bool, server_final: bytes | None = None) -> Verdict:
        result = await self.authenticator.complete_login(
            self.account_of(user), verified, protocol=self.protocol, remote_ip=self.remote_ip
        )
        return Verdict(result, user, server_final if verified else None)


async def drive(
    exchange: SaslExchange,
    mechanism: str,
    initial: bytes | None,
    challenge: Callable[[bytes], Awaitable[bytes | Cancel | Malformed]],
) -> Verdict | Aborted:
    """Run a whole exchange for a protocol that reads its own continuation lines: ``challenge``
    sends one challenge in the protocol's framing and returns the client's decoded answer."""
    out = await exchange.start(mechanism, initial)
    while isinstance(out, SendChallenge):
        answer = await challenge(out.data)
        if not isinstance(answer, bytes):
            return exchange.abort(answer)
        out = await exchange.respond(answer)
    return out
