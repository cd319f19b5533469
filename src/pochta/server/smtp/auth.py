"""SMTP AUTH (RFC 4954) for the submission listeners: SASL steps -> the shared authenticator.

The core decodes the base64 lines and tracks the 334 exchange; this module runs the mechanism
(``pochta.proto.sasl``) and asks ``Authenticator`` (lockouts, delays, switches) for the verdict.
SCRAM's server-final message goes out as one more 334 challenge; the client's empty answer to it
completes the exchange with 235 (RFC 4954 §4: no additional data with the success reply).
"""

from __future__ import annotations

from dataclasses import dataclass

from pochta.auth.authenticator import Authenticator, AuthFailed, AuthOk, AuthResult
from pochta.proto.sasl import (
    Challenge,
    Failure,
    NeedScramCredentials,
    ServerMechanism,
    Step,
    Success,
    VerifyPassword,
    encode_sasl,
)
from pochta.proto.smtp import Reply, replies
from pochta.server.connection import Connection
from pochta.store.model import Account


@dataclass
class SaslState:
    mechanism: ServerMechanism | None = None
    user: str = ""
    pending_success: str | None = None  # SCRAM succeeded; waiting for the empty final response


class SmtpAuth:
    def __init__(self, authenticator: Authenticator, scram_secret: bytes | None) -> None:
        self.authenticator = authenticator
        self.scram_secret = scram_secret

    async def start(
        self, conn: Connection, state: SaslState, mechanism: str, initial: bytes | None
    ) -> tuple[Reply, Account | None]:
        mech, step = ServerMechanism.start(mechanism, initial, scram_secret=self.scram_secret)
        state.mechanism, state.user, state.pending_success = mech, "", None
        return await self._step(conn, state, step)

    async def respond(self, conn: Connection, state: SaslState, data: bytes) -> tuple[Reply, Account | None]:
        if state.pending_success is not None:
            user, state.pending_success = state.pending_success, None
            return await self._finish(conn, state, user, verified=True)
        if state.mechanism is None:  # pragma: no cover - the core only sends responses during AUTH
            return replies.auth_failed(), None
        return await self._step(conn, state, state.mechanism.step(data))

    async def _step(self, conn: Connection, state: SaslState, step: Step) -> tuple[Reply, Account | None]:
        while True:
            match step:
                case Challenge(data):
                    return replies.auth_challenge(encode_sasl(data)), None
                case NeedScramCredentials(username):
                    state.user = username
                    credentials = await self.authenticator.scram_credentials(username)
                    assert state.mechanism is not None
                    step = state.mechanism.supply_credentials(credentials)
                case VerifyPassword(authcid, _, password):
                    state.mechanism = None
                    result = await self.authenticator.check_password(
                        authcid, password, protocol="submission", remote_ip=conn.peer_ip
                    )
                    return self._verdict(conn, result)
                case Success(authcid, _, server_final):
                    state.mechanism = None
                    if server_final:
                        state.pending_success = authcid
                        return replies.auth_challenge(encode_sasl(server_final)), None
                    return await self._finish(conn, state, authcid, verified=True)
                case Failure(reason):
                    state.mechanism = None
                    conn.log.info("smtp sasl failed", reason=reason)
                    return await self._finish(conn, state, state.user, verified=False)

    async def _finish(
        self, conn: Connection, state: SaslState, user: str, *, verified: bool
    ) -> tuple[Reply, Account | None]:
        result = await self.authenticator.complete_login(
            user, verified, protocol="submission", remote_ip=conn.peer_ip
        )
        return self._verdict(conn, result)

    @staticmethod
    def _verdict(conn: Connection, result: AuthResult) -> tuple[Reply, Account | None]:
        ok = isinstance(result, AuthOk)
        conn.metrics.login("submission", ok)
        if isinstance(result, AuthFailed):
            conn.log.info("smtp login failed", reason=result.reason.value)
            return replies.auth_failed(), None
        assert isinstance(result, AuthOk)
        conn.log.info("smtp login", account=result.account.address)
        return replies.auth_succeeded(), result.account
