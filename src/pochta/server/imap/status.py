"""STATUS (RFC 9051 §6.3.11, RFC 8438 STATUS=SIZE), also used by LIST-STATUS (RFC 5819).

Every value comes from the mailbox counters the store keeps (``MailboxInfo``), so STATUS reads no
messages. RECENT (IMAP4rev1, RFC 3501 §6.3.10) counts the messages no session has taken as \\Recent
yet (RFC 3501 §2.3.2, ``MailboxInfo.recent``; see ``select``). STATUS of the selected mailbox is
answered from the store too (RFC 9051 §6.3.11 allows it; the values may run ahead of what the
session has been told). DELETED-STORAGE (RFC 9208 §4.1.4, with QUOTA=RES-STORAGE) is the one value no
counter keeps: the octets of the \\Deleted messages, summed by one read over the partial index of
them, only when asked for.
"""

from __future__ import annotations

from pochta.mail.errors import Code as OpsCode
from pochta.mail.errors import OpsError
from pochta.proto.imap import Command, Status, Tagged, objectid
from pochta.proto.imap.args import StatusArgs
from pochta.proto.imap.responses import Raw, StatusResponse
from pochta.server.imap.session import Session
from pochta.store.model import MailboxInfo

__all__ = ["check_items", "extra_values", "status", "status_response"]

# Items the parser knows but whose extensions are not implemented (RFC 7889).
_NOT_SUPPORTED = frozenset({"APPENDLIMIT"})


def check_items(items: tuple[str, ...]) -> str | None:
    """The text of a BAD for an item this server does not support, or None."""
    for item in items:
        if item in _NOT_SUPPORTED:
            return f"STATUS item {item} is not supported"
    return None


async def extra_values(session: Session, info: MailboxInfo, items: tuple[str, ...]) -> dict[str, int]:
    """The values asked for that the mailbox counters do not hold (read only when asked for)."""
    if "DELETED-STORAGE" not in items:
        return {}
    # RFC 9208 §4.1.4: what an EXPUNGE would give back, the RFC822.SIZE of the \\Deleted messages.
    return {"DELETED-STORAGE": await session.services.store.deleted_storage(info.id)}


def status_response(
    name: str, info: MailboxInfo, items: tuple[str, ...], extra: dict[str, int] | None = None
) -> StatusResponse:
    values: dict[str, int | Raw] = {
        "MESSAGES": info.messages,
        "UIDNEXT": info.uidnext,
        "UIDVALIDITY": info.uidvalidity,
        "UNSEEN": info.unseen,
        "DELETED": info.deleted,  # RFC 9051 §6.3.11
        "SIZE": info.size,  # RFC 8438 §2 (and RFC 9051 §6.3.11)
        "RECENT": info.recent,  # RFC 3501 §6.3.10, see the module docstring
        # RFC 8474 §4.3: "MAILBOXID" SP "(" objectid ")".
        "MAILBOXID": Raw(b"(" + objectid.objectid(objectid.MAILBOX, info.id).encode("ascii") + b")"),
        "HIGHESTMODSEQ": info.highestmodseq,  # RFC 7162 §3.1.7
        **(extra or {}),
    }
    return StatusResponse(name, tuple((item, values[item]) for item in dict.fromkeys(items)))


async def status(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, StatusArgs)
    problem = check_items(args.items)
    if problem is not None:
        return Tagged(command.tag, Status.BAD, problem)
    if "HIGHESTMODSEQ" in args.items:
        session.enable_condstore()  # RFC 7162 §3.1: STATUS (HIGHESTMODSEQ) enables CONDSTORE
    located = await session.locate(args.mailbox)
    located.require("r", "STATUS")  # RFC 4314 §4
    try:
        info = located.mailbox or await session.services.ops.lookup(located.account_id, located.name)
    except OpsError as exc:
        if exc.code == OpsCode.CANNOT:  # a name that cannot exist: still "no such mailbox"
            raise OpsError(OpsCode.NONEXISTENT, "No such mailbox") from None
        raise
    name = info.name if located.own else located.shown
    session.send(status_response(name, info, args.items, await extra_values(session, info, args.items)))
    return Tagged(command.tag, Status.OK, "STATUS completed")
