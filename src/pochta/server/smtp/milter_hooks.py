"""Where the SMTP handler meets the milters: which apply to a listener, and what they are told
about the connection and MAIL FROM (docs/antispam.md)."""

from __future__ import annotations

from pochta.config import Settings
from pochta.delivery.milters import ClientFacts, MilterChain, mail_args
from pochta.delivery.spam_verdict import JunkVerdict
from pochta.proto.smtp import Role
from pochta.proto.smtp.events import MailParams
from pochta.server.connection import Connection

__all__ = ["milter_chain", "milter_mail_args"]


def milter_chain(settings: Settings, role: Role, conn: Connection) -> MilterChain | None:
    """The milters of this session, or None. LMTP has none: the MTA in front ran its own."""
    if role == "lmtp":
        return None
    chosen = [m for m in settings.milters if role in m.listeners]
    if not chosen:
        return None
    client = ClientFacts(
        hostname=settings.hostname,
        ip=None if conn.peer_ip == "unix" else conn.peer_ip,
        port=conn.peer_port or 0,
        local_address=conn.local_address,
        daemon_name=conn.listener_name,
    )
    junk = JunkVerdict(settings.antispam.junk_header, settings.antispam.junk_value)
    return MilterChain(chosen, client, conn.log, junk)


def milter_mail_args(params: MailParams) -> list[str]:
    return mail_args(params.size, params.body, params.smtputf8, params.ret)
