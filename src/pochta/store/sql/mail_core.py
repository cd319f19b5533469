"""The two writes of an engine's mail core that the portable placement mixins (``sql/import_journal``,
``sql/migrate_state``) run inside their own write jobs: ``deliver`` and ``set_flags``, each engine's
own SQL (``sqlite/mail``, ``pg/mail``) with one signature. A store names its module as ``_mail_core``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import Connection

from pochta.store.api import FlagOp
from pochta.store.blobs import BlobStore
from pochta.store.model import Change, ChangeSet, MailboxId, ModSeq, Placed, Target, Uid
from pochta.store.sqlite.mail import PreparedMessage

__all__ = ["MailCore"]


class MailCore(Protocol):
    def deliver(
        self,
        conn: Connection,
        events: list[Change],
        blobs: BlobStore,
        message: PreparedMessage,
        targets: Sequence[Target],
        max_keywords: int,
    ) -> list[Placed]: ...

    def set_flags(
        self,
        conn: Connection,
        events: list[Change],
        mailbox_id: MailboxId,
        uids: Sequence[Uid],
        op: FlagOp,
        flags: Sequence[str],
        unchanged_since: ModSeq | None,
        max_keywords: int,
    ) -> ChangeSet: ...
