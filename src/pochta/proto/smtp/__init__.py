"""Sans-IO SMTP and LMTP: server and client cores (RFC 5321, 1870, 1652, 2920, 2034, 3030, 3207,
4954, 3461, 6531; LMTP RFC 2033). No sockets, no asyncio, no store: bytes in, events and bytes out.

A handler answers each event with replies; the core keeps the session state::

    conn = ServerConnection("smtp", SmtpCoreConfig(hostname="mx.example.org"))
    out = conn.send(replies.greeting("mx.example.org"))
    conn.receive_data(data)                       # b"" when the peer closed
    while (event := conn.next_event()) is not NEED_DATA:
        match event:
            case Ehlo() | Helo() | Lhlo():
                out += conn.send(conn.hello_reply(event))
            case MailFrom(path=path):
                out += conn.send(replies.sender_ok())
            case RcptTo(path=path):
                out += conn.send(replies.recipient_ok() if known(path) else replies.unknown_user())
            case DataStart():
                out += conn.send(replies.start_data())
            case BdatStart():
                pass                              # chunks follow; no reply
            case DataChunk(data=data):
                blob.write(data)                  # streamed; no reply
            case BdatChunkEnd(size=size):
                out += conn.send(replies.chunk_received(size))
            case DataEnd(recipients=rcpts):       # LMTP: one reply per recipient, in order
                out += conn.send_many([commit(r) for r in rcpts] if conn.role == "lmtp" else [commit_all()])
            case ProtocolError():                 # includes DataRejected: drop the blob
                out += conn.send_many(event.replies)
            case ConnectionClosed():
                break
            ...
"""

from pochta.proto.smtp import replies
from pochta.proto.smtp.client import ClientConnection, Response, SmtpClientError
from pochta.proto.smtp.events import (
    NEED_DATA,
    AuthResponse,
    AuthStart,
    BdatChunkEnd,
    BdatStart,
    ConnectionClosed,
    DataChunk,
    DataEnd,
    DataRejected,
    DataStart,
    Ehlo,
    Event,
    Helo,
    Help,
    Lhlo,
    MailFrom,
    MailParams,
    Noop,
    ProtocolError,
    Quit,
    RcptParams,
    RcptTo,
    Rset,
    StartTls,
    Vrfy,
)
from pochta.proto.smtp.replies import Reply
from pochta.proto.smtp.server import Role, ServerConnection, SmtpCoreConfig, SmtpStateError, State

__all__ = [
    "NEED_DATA",
    "AuthResponse",
    "AuthStart",
    "BdatChunkEnd",
    "BdatStart",
    "ClientConnection",
    "ConnectionClosed",
    "DataChunk",
    "DataEnd",
    "DataRejected",
    "DataStart",
    "Ehlo",
    "Event",
    "Helo",
    "Help",
    "Lhlo",
    "MailFrom",
    "MailParams",
    "Noop",
    "ProtocolError",
    "Quit",
    "RcptParams",
    "RcptTo",
    "Reply",
    "Response",
    "Role",
    "Rset",
    "ServerConnection",
    "SmtpClientError",
    "SmtpCoreConfig",
    "SmtpStateError",
    "StartTls",
    "State",
    "Vrfy",
    "replies",
]
