"""GETQUOTA, GETQUOTAROOT and SETQUOTA (RFC 9208 §4.1), over ``pochta.mail.quota``.

- Roots: ``""`` (the user's own) and the domain's name; an administrator may also name another
  account by its address and any domain (``mail.quota`` says who sees what). GETQUOTAROOT lists the
  roots with a limit, each followed by its QUOTA response (RFC 9208 §4.1.2); the mailbox need not
  exist (it would be under the same roots), but its name must be a valid one. Another user's or a
  public mailbox (``mail.access``) needs "r" (RFC 9208 §6) and answers its owner's roots: the
  owner's address, or ``Shared`` for the domain's public mailboxes, and the owner's domain.
- Resources: STORAGE in units of 1024 octets, rounded up (RFC 9208 §5.1: usage and limit alike, so a
  limit set with SETQUOTA reads back as given), and MESSAGE (§5.2). Only limited resources are listed
  (§4.2.1: a resource not named is not limited).
- SETQUOTA (administrators, else ``NO [NOPERM]``) replaces every limit of the root (§4.1.3: one not
  named is removed); a resource this server does not count (MAILBOX, ANNOTATION-STORAGE, others) is
  ``NO [CANNOT]`` with nothing changed. The new values are sent in a QUOTA response.
"""

from __future__ import annotations

from pochta.mail.access import is_shared_name
from pochta.mail.errors import Code, OpsError
from pochta.mail.quota import QuotaRoot, Quotas, Resource
from pochta.proto.imap import Command, Status, Tagged
from pochta.proto.imap.quota import GetQuota, GetQuotaRoot, SetQuota
from pochta.proto.imap.responses import Quota
from pochta.proto.imap.responses import QuotaRoot as QuotaRootResponse
from pochta.proto.imap.wire import MAX_NUMBER64
from pochta.server.imap.session import Session
from pochta.store.model import QuotaLimits

__all__ = ["getquota", "getquotaroot", "quota_response", "setquota"]

KIB = 1024  # RFC 9208 §5.1: STORAGE is counted in units of 1024 octets


def _kib(octets: int) -> int:
    return -(-octets // KIB)


def quota_response(root: QuotaRoot) -> Quota:
    """The QUOTA response of one root: its limited resources (RFC 9208 §4.2.1)."""
    resources: list[tuple[str, int, int]] = []
    if root.limits.bytes is not None:
        resources.append((Resource.STORAGE, _kib(root.used.bytes), _kib(root.limits.bytes)))
    if root.limits.messages is not None:
        resources.append((Resource.MESSAGE, root.used.messages, root.limits.messages))
    return Quota(root.name, resources)


def _root_name(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise OpsError(Code.NONEXISTENT, "No such quota root") from None


async def getquota(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, GetQuota)
    quotas = Quotas(session.services.store)
    root = await quotas.root(session.account_id, _root_name(args.root))
    session.send(quota_response(root))
    return Tagged(command.tag, Status.OK, "GETQUOTA completed")


async def getquotaroot(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, GetQuotaRoot)
    quotas = Quotas(session.services.store)
    name = session.mailbox_name(args.mailbox)
    if is_shared_name(name):
        # Another user's or a public mailbox: its owner's roots, when the user may read it (RFC 9208
        # §6: STORAGE and MESSAGE reveal the mailbox's size, so "r"; no right at all: as if absent).
        located = await session.locate(args.mailbox)
        located.require("r", "GETQUOTAROOT")
        name = located.shown
        roots = await quotas.mailbox_roots(session.account_id, located.account_id)
    else:
        # RFC 9208 §4.1.2: the mailbox need not exist; a name that could never be one is refused.
        name = session.services.ops.canonical_name(name)
        roots = await quotas.roots(session.account_id)
    session.send(QuotaRootResponse(name, [root.name for root in roots]))
    for root in roots:
        session.send(quota_response(root))
    return Tagged(command.tag, Status.OK, "GETQUOTAROOT completed")


def _limits(args: SetQuota) -> QuotaLimits:
    octets: int | None = None
    messages: int | None = None
    for name, limit in args.limits:
        if name == Resource.STORAGE:
            if limit * KIB > MAX_NUMBER64:
                raise OpsError(Code.LIMIT, "STORAGE limit too large")
            octets = limit * KIB
        elif name == Resource.MESSAGE:
            messages = limit
        else:
            # RFC 9208 §4.1.3: "NO - setquota error: can't set that data".
            raise OpsError(Code.CANNOT, f"Resource {name} cannot be limited here")
    return QuotaLimits(octets, messages)


async def setquota(session: Session, command: Command) -> Tagged:
    args = command.args
    assert isinstance(args, SetQuota)
    quotas = Quotas(session.services.store)
    await quotas.require_admin(session.account_id)  # NOPERM before anything about the arguments
    limits = _limits(args)
    root = await quotas.set_root(session.account_id, _root_name(args.root), limits)
    session.send(quota_response(root))
    return Tagged(command.tag, Status.OK, "SETQUOTA completed")
