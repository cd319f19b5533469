"""Helpers of the Sieve delivery tests (tests/e2e/test_sieve_delivery.py, test_mail_rules_delivery.py):
one LMTP or SMTP session over a real socket, the replies after DATA, the flags stored in a mailbox,
and what the outbound queue holds."""

from __future__ import annotations

from pochta.store.model import Account
from pochta.store.queue_model import QueueEntry
from smtp_env import SmtpEnv, converse, dot_stuff

__all__ = ["final_replies", "lmtp_session", "mailbox_flags", "queued", "reply_lines", "smtp_session"]


def lmtp_session(rcpts: list[str], data: bytes, sender: str = "carol@example.net") -> bytes:
    lines = [b"LHLO mta.example.net", f"MAIL FROM:<{sender}>".encode()]
    lines += [f"RCPT TO:<{r}>".encode() for r in rcpts]
    lines.append(b"DATA")
    return b"\r\n".join(lines) + b"\r\n" + dot_stuff(data) + b".\r\nQUIT\r\n"


def smtp_session(rcpts: list[str], data: bytes, sender: str = "carol@example.net") -> bytes:
    return lmtp_session(rcpts, data, sender).replace(b"LHLO", b"EHLO", 1)


def reply_lines(text: str) -> list[str]:
    return [line for line in text.split("\r\n") if line and line[3:4] == " "]


async def final_replies(
    env: SmtpEnv, role: str, rcpts: list[str], data: bytes, sender: str = "carol@example.net"
) -> list[str]:
    """The replies after DATA (one per recipient on LMTP, one on SMTP), QUIT's left out."""
    payload = lmtp_session(rcpts, data, sender) if role == "lmtp" else smtp_session(rcpts, data, sender)
    replies = reply_lines(await converse(env.address(role), payload))
    start = next(i for i, r in enumerate(replies) if r.startswith("354")) + 1
    return replies[start:-1]


async def mailbox_flags(env: SmtpEnv, account: Account, mailbox: str) -> list[frozenset[str]]:
    info = await env.store.get_mailbox(account.id, mailbox)
    assert info is not None
    view = await env.store.open_view(info.id)
    return [view.flags[i] for i in range(len(view))]


async def queued(env: SmtpEnv) -> list[tuple[QueueEntry, bytes]]:
    out = []
    for entry in await env.store.queue_entries():
        with env.store.open_blob(entry.blob) as blob:
            out.append((entry, blob.read()))
    return out
