"""ACL (RFC 4314) in the embedded store: the entries of a mailbox, and the mailboxes shared with a
user. Rights are stored as given (``mail.acl`` decides what they mean); the owner is never stored.

A mixin, as ``sql/directory_methods`` is: ``SqliteStore`` provides the jobs (``run_read``,
``run_write``). A change of an ACL publishes no feed event: sessions read the rights of a mailbox
of another user on each command (``mail.access``), so a change is seen by every worker at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

from sqlalchemy import Connection, delete, insert, select, update

from pochta.store.api import NotFound
from pochta.store.model import SHARED_KIND, AccountId, Change, MailboxId, MailboxInfo, SharedMailbox
from pochta.store.schema import accounts, mailbox_acl, mailboxes
from pochta.store.sql.account_modseq import mark_mailboxes_changed, take_modseq
from pochta.store.sqlite.mail import mailbox_info
from pochta.store.sqlite.mailboxes import get_mailbox_by_id

T = TypeVar("T")


class _Jobs(Protocol):
    async def run_read(self, fn: Callable[[Connection], T]) -> T: ...
    async def run_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...
    async def _run_mail_write(self, fn: Callable[[Connection, list[Change]], T]) -> T: ...


def mailbox_acl_entries(conn: Connection, mailbox_id: MailboxId) -> dict[str, str]:
    rows = conn.execute(
        select(mailbox_acl.c.identifier, mailbox_acl.c.rights).where(mailbox_acl.c.mailbox_id == mailbox_id)
    )
    return {identifier: rights for identifier, rights in rows}


def set_acl_entry(conn: Connection, mailbox_id: MailboxId, identifier: str, rights: str | None) -> None:
    box = get_mailbox_by_id(conn, mailbox_id)
    if box is None:
        raise NotFound(f"no mailbox {mailbox_id}")
    # JMAP Mailbox/changes: the owner's mailbox changed (its myRights for others, shareWith); the
    # counter is taken before any row of the change is written.
    mark_mailboxes_changed(conn, [mailbox_id], take_modseq(conn, box.account_id))
    where = (mailbox_acl.c.mailbox_id == mailbox_id, mailbox_acl.c.identifier == identifier)
    if rights is None:
        conn.execute(delete(mailbox_acl).where(*where))
        return
    if conn.execute(update(mailbox_acl).where(*where).values(rights=rights)).rowcount == 0:
        conn.execute(insert(mailbox_acl).values(mailbox_id=mailbox_id, identifier=identifier, rights=rights))


def shared_with(conn: Connection, identifiers: Sequence[str], exclude: AccountId) -> list[SharedMailbox]:
    """Every mailbox not of ``exclude`` with an entry for one of ``identifiers`` (or its negative):
    its row, its owner's address and its whole ACL (the rights are ``mail.acl``'s to work out)."""
    wanted = list(identifiers) + ["-" + identifier for identifier in identifiers]
    ids = select(mailbox_acl.c.mailbox_id).where(mailbox_acl.c.identifier.in_(wanted))
    rows = conn.execute(
        select(mailboxes, accounts.c.address, accounts.c.kind)
        .join(accounts, accounts.c.id == mailboxes.c.account_id)
        .where(mailboxes.c.id.in_(ids), mailboxes.c.account_id != exclude)
        .order_by(accounts.c.address_key, mailboxes.c.name)
    ).all()
    out = []
    for row in rows:
        info: MailboxInfo = mailbox_info(row)
        public = row.kind == SHARED_KIND
        out.append(SharedMailbox(info, row.address, mailbox_acl_entries(conn, info.id), public))
    return out


class AclMethods:
    async def mailbox_acl(self: _Jobs, mailbox_id: MailboxId) -> dict[str, str]:
        return await self.run_read(lambda c: mailbox_acl_entries(c, mailbox_id))

    async def set_mailbox_acl(
        self: _Jobs, mailbox_id: MailboxId, identifier: str, rights: str | None
    ) -> None:
        # As the mail writes (READ COMMITTED on PostgreSQL): it takes the owner's MODSEQ counter.
        await self._run_mail_write(lambda c, e: set_acl_entry(c, mailbox_id, identifier, rights))

    async def shared_mailboxes(
        self: _Jobs, identifiers: Sequence[str], exclude: AccountId
    ) -> list[SharedMailbox]:
        return await self.run_read(lambda c: shared_with(c, identifiers, exclude))
