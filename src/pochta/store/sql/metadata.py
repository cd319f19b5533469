"""METADATA (RFC 5464) in the embedded store: the entries of a mailbox or of the server, read and
written for one user, with the limits checked inside the write.

Which rows a user sees of a mailbox (or of the server, ``mailbox_id`` None): its /shared entries and
that user's /private ones (RFC 5464 §3.2). Who is charged for an entry (``imap.metadata_max_entries_
per_account``, ``imap.metadata_max_account_bytes``): the user of a /private entry, the mailbox's owner
for a /shared entry of a mailbox; /shared entries of the server are bounded only by the per-mailbox
count (they are the administrators'). ``set_entries`` is one writer job: it applies every change,
checks the limits on the result and raises ``MetadataRefused`` before commit when one is broken, so
a SETMETADATA of several entries changes all of them or none (RFC 5464 §4.3).

A change publishes ``ChangeKind.METADATA`` feed events naming the entries set or removed
(``Change.entries``; mailbox ``SERVER_METADATA`` for the server's entries), from which NOTIFY makes
its METADATA responses (RFC 5465 §5.6, §5.7). Who hears of a name is who may read it: /private/
names go to their user's account only, /shared/ names of a mailbox to its owner's (others reach it
through the ACL), /shared/ names of the server to every account (``EVERY_ACCOUNT``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from sqlalchemy import ColumnElement, Connection, and_, delete, func, insert, or_, select

from pochta.store.api import MetadataRefused, NotFound
from pochta.store.model import EVERY_ACCOUNT, AccountId, Change, ChangeKind, MailboxId, MetadataLimits, ModSeq
from pochta.store.schema import mailboxes, metadata_entries

__all__ = ["SERVER_METADATA", "MetadataMethods", "copy_entries", "entries", "set_entries"]

T = TypeVar("T")

# The mailbox id a feed event about the server's entries carries (no mailbox has id 0).
SERVER_METADATA: MailboxId = 0
PRIVATE = "/private/"

_m = metadata_entries.c


def _visible(mailbox_id: MailboxId | None, account_id: AccountId) -> ColumnElement[bool]:
    where_mailbox = _m.mailbox_id.is_(None) if mailbox_id is None else _m.mailbox_id == mailbox_id
    return and_(where_mailbox, or_(_m.account_id.is_(None), _m.account_id == account_id))


def entries(conn: Connection, mailbox_id: MailboxId | None, account_id: AccountId) -> dict[str, bytes]:
    """The entries of the mailbox (None: the server) that the account sees, by name."""
    rows = conn.execute(select(_m.name, _m.value).where(_visible(mailbox_id, account_id)))
    return {name: bytes(value) for name, value in rows}


def _owner(conn: Connection, mailbox_id: MailboxId) -> tuple[AccountId, int]:
    row = conn.execute(
        select(mailboxes.c.account_id, mailboxes.c.highestmodseq).where(mailboxes.c.id == mailbox_id)
    ).first()
    if row is None:
        raise NotFound(f"no mailbox with id {mailbox_id}")
    return int(row[0]), int(row[1])


def _account_usage(conn: Connection, account_id: AccountId) -> tuple[int, int]:
    """(entries, octets) the account is charged for: its private entries anywhere, and the shared
    entries of its mailboxes."""
    count, size = func.count(), func.coalesce(func.sum(func.length(_m.value)), 0)
    own = conn.execute(select(count, size).where(_m.account_id == account_id)).one()
    shared = conn.execute(
        select(count, size)
        .select_from(metadata_entries.join(mailboxes, mailboxes.c.id == _m.mailbox_id))
        .where(mailboxes.c.account_id == account_id, _m.account_id.is_(None))
    ).one()
    return int(own[0]) + int(shared[0]), int(own[1]) + int(shared[1])


def set_entries(
    conn: Connection,
    events: list[Change],
    mailbox_id: MailboxId | None,
    account_id: AccountId,
    values: Sequence[tuple[str, bytes | None]],
    limits: MetadataLimits,
) -> tuple[str, ...]:
    """Set (or with None remove) the entries of the mailbox (None: the server) for the account, all
    or none: MetadataRefused (nothing kept) when a value or the result is over a limit. Returns the
    names set or removed."""
    for name, value in values:
        if value is not None and len(value) > limits.entry_size:
            # RFC 5464 §4.3: "[METADATA MAXSIZE NNN]" with the largest size the server accepts.
            raise MetadataRefused(f"MAXSIZE {limits.entry_size}", f"Value of {name} is too large")
    owner, modseq = (None, 0) if mailbox_id is None else _owner(conn, mailbox_id)
    before = entries(conn, mailbox_id, account_id)
    charged: set[AccountId] = set()
    changed: list[str] = []
    for name, value in values:
        private = name.startswith(PRIVATE)
        if name not in before and value is None:
            continue
        changed.append(name)
        where_mailbox = _m.mailbox_id.is_(None) if mailbox_id is None else _m.mailbox_id == mailbox_id
        row_account = account_id if private else None
        where_account = _m.account_id == account_id if private else _m.account_id.is_(None)
        conn.execute(delete(metadata_entries).where(where_mailbox, where_account, _m.name == name))
        if value is not None:
            conn.execute(
                insert(metadata_entries).values(
                    mailbox_id=mailbox_id, account_id=row_account, name=name, value=value
                )
            )
            if private:
                charged.add(account_id)
            elif owner is not None:
                charged.add(owner)
    if not changed:
        return ()
    after = conn.execute(select(func.count()).where(_visible(mailbox_id, account_id))).scalar_one()
    if after > len(before) and after > limits.mailbox_entries:
        # RFC 5464 §4.3: "[METADATA TOOMANY]" when the number of annotations allowed is reached.
        raise MetadataRefused("TOOMANY", "Too many entries on this mailbox")
    for charged_id in sorted(charged):
        count, octets = _account_usage(conn, charged_id)
        if count > limits.account_entries:
            raise MetadataRefused("TOOMANY", "Too many entries for this account")
        if octets > limits.account_bytes:
            raise MetadataRefused("TOOMANY", "Entries of this account take too much space")
    shared = tuple(name for name in changed if not name.startswith(PRIVATE))
    if shared:
        events.append(_change(EVERY_ACCOUNT if owner is None else owner, mailbox_id, modseq, shared))
    own = tuple(name for name in changed if name.startswith(PRIVATE))
    if own:
        events.append(_change(account_id, mailbox_id, modseq, own))
    return tuple(changed)


def _change(to: AccountId, mailbox_id: MailboxId | None, modseq: int, names: tuple[str, ...]) -> Change:
    """A METADATA feed event for the account ``to`` (see the module doc for who gets which names)."""
    key = SERVER_METADATA if mailbox_id is None else mailbox_id
    return Change(ChangeKind.METADATA, to, key, ModSeq(modseq), entries=names)


def copy_entries(conn: Connection, events: list[Change], source_id: MailboxId, target_id: MailboxId) -> None:
    """Every entry of ``source_id`` (shared, and each user's private ones) onto ``target_id``, which
    has none yet (RFC 5464 §4.1: a renamed INBOX keeps its entries and the new mailbox gets copies).
    No limit is checked: the entries were within them, and the copy is the server's doing."""
    owner, modseq = _owner(conn, target_id)
    rows = conn.execute(select(_m.account_id, _m.name, _m.value).where(_m.mailbox_id == source_id)).all()
    if rows:
        conn.execute(
            insert(metadata_entries),
            [{"mailbox_id": target_id, "account_id": a, "name": n, "value": v} for a, n, v in rows],
        )
        shared = tuple(sorted(n for a, n, _ in rows if a is None))
        if shared:
            events.append(_change(owner, target_id, modseq, shared))
        for user in sorted({a for a, _, _ in rows if a is not None}):
            events.append(_change(user, target_id, modseq, tuple(sorted(n for a, n, _ in rows if a == user))))


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


class MetadataMethods:
    """The METADATA half of ``SqliteStore`` (a mixin, as ``DirectoryMethods`` is)."""

    async def metadata(self: _Jobs, mailbox_id: MailboxId | None, account_id: AccountId) -> dict[str, bytes]:
        return await self.run_read(lambda c: entries(c, mailbox_id, account_id))

    async def set_metadata(
        self: _Jobs,
        mailbox_id: MailboxId | None,
        account_id: AccountId,
        values: Sequence[tuple[str, bytes | None]],
        limits: MetadataLimits,
    ) -> tuple[str, ...]:
        items = list(values)
        return await self.run_write(lambda c, e: set_entries(c, e, mailbox_id, account_id, items, limits))

    async def copy_metadata(self: _Jobs, source_id: MailboxId, target_id: MailboxId) -> None:
        await self.run_write(lambda c, e: copy_entries(c, e, source_id, target_id))
