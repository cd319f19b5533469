"""SMTP AUTH (RFC 4954) for the submission listeners: SASL steps -> the shared authenticator.

The core decodes the base64 lines and tracks the 334 exchange; this module runs the mechanism
(``pochta.proto.sasl``) and asks ``Authenticator`` (lockouts, delays, switches) for the verdict.
SCRAM's server-final message goes out as one more 334 challenge; the client's empty answer to it
completes the exchange with 235 (RFC 4954 §4: no additional data with the success reply).
"""

from __future__ import annotations

from dataclasses import dataclass

from pochta.auth.authenticator import Authenticator, AuthFailed, AuthOk, AuthResult
from pochta.proto.sasl import encode_sasl
from pochta.proto.smtp import Reply, replies
from pochta.server.connection import Connection
from pochta.server.sasl_driver import SaslExchange, SendChallenge, Verdict
from pochta.store.model import Account


@dataclass
class SaslState:
    exchange: SaslExchange | None = None


class SmtpAuth:
    def __init__(self, authenticator: Authenticator, scram_secret: bytes | None) -> None:
        self.authenticator = authenticator
        self.scram_secret = scram_secret

    async def start(
        self, conn: Connection, state: SaslState, mechanism: str, initial: bytes | None
    ) -> tuple[Reply, Account | None]:
        state.exchange = exchange = SaslExchange(
            self.authenticator,
            protocol="submission",
            remote_ip=conn.peer_ip,
            log=conn.log,
            scram_secret=self.scram_secret,
        )
        return self._reply(conn, await exchange.start(mechanism, initial))

    async def respond(self, conn: Connection, state: SaslState, data: bytes) -> tuple[Reply, Account | None]:
        exchange = state.exchange
        if exchange is None:  # pragma: no cover - the core only sends responses during AUTH
            return replies.auth_failed(), None
        return self._reply(conn, await exchange.respond(data))

    @staticmethod
    def _reply(conn: Connection, out: SendChallenge | Verdict) -> tuple[Reply, Account | None]:
        if isinstance(out, SendChallenge):
            # RFC 4954 §4: 334 with base64; SCRAM's server-final too (no data with 235).
            return replies.auth_challenge(encode_sasl(out.data)), None
        return SmtpAuth._verdict(conn, out.result)

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
