"""`pochta migrate`'s state in the store (``migrate_folders``, ``migrate_messages``, revision 0032),
on both engines: a message is placed and recorded in one write transaction, so a migration killed
at any instant is resumed without losing or duplicating a message (docs/migrate.md). Placing and
flag changes are the engine's mail core (``_mail_ops`` through ``sql/mail_writes``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sqlalchemy import Connection, delete, insert, select, update

from pochta.store.migrate_state_model import MigratedMessage, MigrateFolder, MigrateItem, Placement
from pochta.store.model import AccountId, Change, MailboxId, Target, Uid
from pochta.store.schema import migrate_folders, migrate_messages
from pochta.store.sql import mail_writes
from pochta.store.sql.mail_rows import PreparedMessage
from pochta.store.sql.mail_writes import MailOps, PlacingJobs

__all__ = ["MigrateStateMethods"]

T = TypeVar("T")
_f = migrate_folders.c
_m = migrate_messages.c


_Jobs = PlacingJobs


def _flag_text(flags: frozenset[str]) -> str:
    return " ".join(sorted(flags))


def _flag_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _folder(conn: Connection, account_id: AccountId, source: str, remote_name: str) -> MigrateFolder | None:
    row = conn.execute(
        select(_f.id, _f.uidvalidity, _f.mailbox_id, _f.highestmodseq).where(
            _f.account_id == account_id, _f.source == source, _f.remote_name == remote_name
        )
    ).first()
    if row is None:
        return None
    return MigrateFolder(
        row.id, account_id, source, remote_name, row.uidvalidity, MailboxId(row.mailbox_id), row.highestmodseq
    )


def _replace_flags(
    ops: MailOps,
    conn: Connection,
    events: list[Change],
    mailbox_id: MailboxId,
    uid: int,
    flags: frozenset[str],
    max_keywords: int,
) -> None:
    mail_writes.set_flags(ops, conn, events, mailbox_id, [Uid(uid)], "replace", flags, None, max_keywords)


class MigrateStateMethods:
    """The migration half of ``SqliteStore`` (a mixin, as ``SendLimitMethods`` is)."""

    async def migrate_folder(
        self: _Jobs,
        account_id: AccountId,
        source: str,
        remote_name: str,
        uidvalidity: int,
        mailbox_id: MailboxId,
    ) -> MigrateFolder:
        """The state of this remote folder, made on first use. A UIDVALIDITY other than the one kept
        (RFC 9051 §2.3.1.1: the old UIDs mean nothing now) starts the folder over: ``restarted``,
        and the messages copied under the old one wait to be matched again by their bytes."""

        def run(conn: Connection, events: list[Change]) -> MigrateFolder:
            found = _folder(conn, account_id, source, remote_name)
            if found is None:
                conn.execute(
                    insert(migrate_folders).values(
                        account_id=account_id,
                        source=source,
                        remote_name=remote_name,
                        uidvalidity=uidvalidity,
                        mailbox_id=mailbox_id,
                        highestmodseq=None,
                    )
                )
                made = _folder(conn, account_id, source, remote_name)
                assert made is not None
                return made
            if found.uidvalidity == uidvalidity and found.mailbox_id == mailbox_id:
                return found
            conn.execute(
                update(migrate_folders)
                .where(_f.id == found.id)
                .values(uidvalidity=uidvalidity, mailbox_id=mailbox_id, highestmodseq=None)
            )
            if found.mailbox_id != mailbox_id:
                # Mapped elsewhere now: what was copied to the old mailbox says nothing of the new one.
                conn.execute(delete(migrate_messages).where(_m.folder_id == found.id))
            return MigrateFolder(
                found.id, account_id, source, remote_name, uidvalidity, mailbox_id, None, restarted=True
            )

        return await self.run_write(run)

    async def migrated(self: _Jobs, folder: MigrateFolder) -> dict[int, MigratedMessage]:
        """The messages of the folder's current UIDVALIDITY copied so far, by remote UID."""

        def run(conn: Connection) -> dict[int, MigratedMessage]:
            rows = conn.execute(
                select(_m.remote_uid, _m.local_uid, _m.flags).where(
                    _m.folder_id == folder.id, _m.uidvalidity == folder.uidvalidity
                )
            ).all()
            return {
                row.remote_uid: MigratedMessage(row.remote_uid, row.local_uid, _flag_set(row.flags))
                for row in rows
            }

        return await self.run_read(run)

    async def migrate_place(
        self: _Jobs, folder: MigrateFolder, items: Sequence[MigrateItem]
    ) -> list[Placement]:
        """Places remote messages in the folder's mailbox and records each, in one transaction:
        nothing for a remote UID recorded already; the record moved (and the flags set) when the
        same bytes were copied under an older UIDVALIDITY. Raises QuotaExceeded (nothing of the
        batch stored) as ``deliver`` does."""
        prepared = [await self._prepare(item.blob, item.parsed) for item in items]
        max_keywords = self._max_keywords
        store_blob = self._store_blob
        ops = self._mail_ops

        def place(
            conn: Connection, events: list[Change], item: MigrateItem, message: PreparedMessage
        ) -> Placement:
            key = (_m.folder_id == folder.id, _m.uidvalidity == folder.uidvalidity)
            if conn.execute(select(_m.local_uid).where(*key, _m.remote_uid == item.remote_uid)).first():
                return Placement.ALREADY
            old = conn.execute(
                select(_m.uidvalidity, _m.remote_uid, _m.local_uid, _m.flags)
                .where(
                    _m.folder_id == folder.id,
                    _m.uidvalidity != folder.uidvalidity,
                    _m.sha256 == item.blob.sha256,
                )
                .limit(1)
            ).first()
            if old is not None:
                conn.execute(
                    update(migrate_messages)
                    .where(
                        _m.folder_id == folder.id,
                        _m.uidvalidity == old.uidvalidity,
                        _m.remote_uid == old.remote_uid,
                    )
                    .values(
                        uidvalidity=folder.uidvalidity,
                        remote_uid=item.remote_uid,
                        flags=_flag_text(item.flags),
                    )
                )
                if _flag_set(old.flags) != item.flags:
                    _replace_flags(
                        ops, conn, events, folder.mailbox_id, old.local_uid, item.flags, max_keywords
                    )
                return Placement.MATCHED
            [placed] = mail_writes.deliver(
                ops,
                conn,
                events,
                store_blob,
                message,
                [Target(folder.mailbox_id, item.flags, item.internal_date)],
                max_keywords,
            )
            conn.execute(
                insert(migrate_messages).values(
                    folder_id=folder.id,
                    uidvalidity=folder.uidvalidity,
                    remote_uid=item.remote_uid,
                    local_uid=placed.uid,
                    sha256=item.blob.sha256,
                    flags=_flag_text(item.flags),
                )
            )
            return Placement.COPIED

        def run(conn: Connection, events: list[Change]) -> list[Placement]:
            return [place(conn, events, item, message) for item, message in zip(items, prepared, strict=True)]

        return await self.run_write(run)

    async def migrate_flags(
        self: _Jobs, folder: MigrateFolder, changed: Sequence[tuple[int, frozenset[str]]]
    ) -> int:
        """Gives the local copies of these remote UIDs the remote flags (remote UID, flags), and
        records them, in one transaction; returns how many local messages changed."""
        max_keywords = self._max_keywords
        ops = self._mail_ops

        def run(conn: Connection, events: list[Change]) -> int:
            done = 0
            for remote_uid, flags in changed:
                key = (
                    _m.folder_id == folder.id,
                    _m.uidvalidity == folder.uidvalidity,
                    _m.remote_uid == remote_uid,
                )
                row = conn.execute(select(_m.local_uid, _m.flags).where(*key)).first()
                if row is None or _flag_set(row.flags) == flags:
                    continue
                _replace_flags(ops, conn, events, folder.mailbox_id, row.local_uid, flags, max_keywords)
                conn.execute(update(migrate_messages).where(*key).values(flags=_flag_text(flags)))
                done += 1
            return done

        return await self.run_write(run)

    async def migrate_finish(self: _Jobs, folder: MigrateFolder, highestmodseq: int | None) -> int:
        """The folder is copied up to ``highestmodseq``: kept for the next run's CHANGEDSINCE;
        records of an older UIDVALIDITY that matched nothing are dropped (their messages stay in
        the mailbox). Returns how many were dropped."""

        def run(conn: Connection, events: list[Change]) -> int:
            conn.execute(
                update(migrate_folders).where(_f.id == folder.id).values(highestmodseq=highestmodseq)
            )
            gone = conn.execute(
                delete(migrate_messages).where(
                    _m.folder_id == folder.id, _m.uidvalidity != folder.uidvalidity
                )
            )
            return int(gone.rowcount or 0)

        return await self.run_write(run)
