"""`pochta migrate`: copy an account from another IMAP server (docs/migrate.md).

Every folder (``migrate_names`` says where each goes), every message with its flags, keywords and
internal date, and the subscriptions. Incremental and resumable: the store records each remote
message (UIDVALIDITY, UID) in the transaction that places it (``Store.migrate_place``), so a run
killed at any instant leaves each message copied once or not at all, and the next run copies only
what is new. Flags changed on the remote since the last run are copied again: read with CONDSTORE
CHANGEDSINCE (RFC 7162 §3.1.4.1) when the server has it, else compared with the flags last
copied. A folder whose UIDVALIDITY changed starts over; a message whose bytes were copied before
is matched by its SHA-256 instead of being copied twice.

The remote is only read: EXAMINE and BODY.PEEK[] (RFC 9051 §6.3.3, §6.4.5) change nothing there,
not even \\Seen or \\Recent. Mail arriving locally meanwhile is untouched: migrated messages are
placed beside it, and the server may run throughout.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pochta import __version__
from pochta.config import Settings
from pochta.fetch.imap_remote import CommandFailed, FolderState, ImapRemote, RemoteMessage, RemoteServer
from pochta.fetch.migrate_names import FolderPlan, plan_folders
from pochta.mail import flags as flagrules
from pochta.mail.errors import InvalidFlag, InvalidMailboxName
from pochta.mail.names import canonical_name, parent_names
from pochta.mime import ParsedMessage, parse_message
from pochta.store.api import AlreadyExists, Store
from pochta.store.migrate_state_model import MigrateFolder, MigrateItem, Placement
from pochta.store.model import Account, MailboxId

__all__ = ["MigrateSummary", "migrate_account"]

_PARSE_INLINE_MAX = 64 * 1024  # larger messages are parsed off the event loop


@dataclass
class MigrateSummary:
    folders: int = 0  # remote folders copied
    folders_created: int = 0  # local mailboxes made for them
    skipped_folders: list[str] = field(default_factory=list)  # "name: why"
    copied: int = 0
    matched: int = 0  # found copied under an older UIDVALIDITY: not copied again
    already: int = 0  # copied by a run that overlapped this one
    unchanged: int = 0  # copied before and still there
    too_large: int = 0
    flag_updates: int = 0
    subscribed: int = 0
    octets: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        rate = self.copied / self.seconds if self.seconds > 0 else 0.0
        found = [
            f"folders: {self.folders} ({self.folders_created} created, {len(self.skipped_folders)} skipped)",
            f"messages copied: {self.copied} ({self.octets} octets, {rate:.1f}/s)",
            f"messages already here: {self.unchanged + self.already + self.matched}"
            + (f" ({self.matched} matched after a UIDVALIDITY change)" if self.matched else ""),
            f"messages skipped (larger than the limit): {self.too_large}",
            f"flag updates: {self.flag_updates}",
            f"subscriptions: {self.subscribed}",
            f"time: {self.seconds:.1f} s",
        ]
        found.extend(f"skipped folder {why}" for why in self.skipped_folders)
        return found


def _crlf(data: bytes) -> bytes:
    # Our blobs are CRLF (DESIGN.md data model); a server sending bare LF gets them made CRLF.
    if data.count(b"\n") == data.count(b"\r\n"):
        return data
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _stored_flags(flags: frozenset[str]) -> frozenset[str]:
    """The remote flags we can keep: system flags and keywords (a flag our rules refuse, an
    unknown \\-flag say, is left out rather than failing the message)."""
    kept: list[str] = []
    for flag in flags:
        try:
            flagrules.canonical_flag(flag)
        except InvalidFlag:
            continue
        kept.append(flag)
    return flagrules.normalize_flags(kept)


class _Migration:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        account: Account,
        remote: ImapRemote,
        source: str,
        say: Callable[[str], None],
    ) -> None:
        self.store = store
        self.settings = settings
        self.account = account
        self.remote = remote
        self.source = source
        self.say = say
        self.summary = MigrateSummary()

    async def _local_mailbox(self, plan: FolderPlan) -> MailboxId:
        """Our mailbox for the plan (made, with its parents, when missing): its id."""
        assert plan.local is not None
        name = canonical_name(plan.local, creating=True)
        existing = {box.name: box for box in await self.store.mailboxes(self.account.id)}
        if name in existing:
            return existing[name].id
        for parent in parent_names(name):
            if parent not in existing:
                try:
                    await self.store.create_mailbox(self.account.id, parent)
                    self.summary.folders_created += 1
                except AlreadyExists:
                    pass
        try:
            made = await self.store.create_mailbox(self.account.id, name, plan.special_use)
            self.summary.folders_created += 1
            return made.id
        except AlreadyExists:  # a client made it meanwhile
            found = await self.store.get_mailbox(self.account.id, name)
            assert found is not None
            return found.id

    async def _item(self, message: RemoteMessage) -> MigrateItem:
        data = _crlf(message.data)
        parsed: ParsedMessage
        if len(data) > _PARSE_INLINE_MAX:
            parsed = await asyncio.to_thread(parse_message, data, self.settings.mime)
        else:
            parsed = parse_message(data, self.settings.mime)
        blob = await self.store.new_blob(data)
        return MigrateItem(message.uid, blob, parsed, _stored_flags(message.flags), message.internal_date)

    def _count(self, outcomes: list[Placement], items: list[MigrateItem]) -> None:
        for outcome, item in zip(outcomes, items, strict=True):
            if outcome is Placement.COPIED:
                self.summary.copied += 1
                self.summary.octets += item.blob.size
            elif outcome is Placement.MATCHED:
                self.summary.matched += 1
            else:
                self.summary.already += 1

    async def _flags(
        self, folder: MigrateFolder, state: FolderState, copied: Mapping[int, frozenset[str]]
    ) -> None:
        """Copies the flags changed on the remote since the last run."""
        if not copied:
            return
        if folder.highestmodseq is not None and state.highestmodseq is not None:
            if state.highestmodseq <= folder.highestmodseq:
                return  # RFC 7162 §3.1.2.1: nothing in the folder changed since
            remote = await self.remote.fetch_flags(changed_since=folder.highestmodseq)
        else:
            remote = await self.remote.fetch_flags()
        changed = [
            (uid, kept)
            for uid, (flags, _) in remote.items()
            if uid in copied and (kept := _stored_flags(flags)) != copied[uid]
        ]
        if changed:
            self.summary.flag_updates += await self.store.migrate_flags(folder, changed)

    async def copy_folder(self, plan: FolderPlan) -> None:
        if any(flag.lower() == "\\nonexistent" for flag in plan.remote.attributes):
            # RFC 5258 §3.4: a name only (a parent of real folders, or a stale subscription): made
            # here as the parent of a folder copied below it, not for itself.
            return
        mailbox_id = await self._local_mailbox(plan)
        if not plan.remote.selectable:
            return
        try:
            state = await self.remote.select(plan.remote.name)
        except CommandFailed as exc:
            # Deleted since LIST, or one the server cannot open: the others are still copied.
            self.summary.skipped_folders.append(f"{plan.remote.name}: {exc}")
            self.say(f"{plan.remote.name}: skipped, {exc}")
            return
        folder = await self.store.migrate_folder(
            self.account.id, self.source, plan.remote.name, state.uidvalidity, mailbox_id
        )
        if folder.restarted:
            self.say(f"{plan.remote.name}: UIDVALIDITY changed, looking at every message again")
        copied = {uid: done.flags for uid, done in (await self.store.migrated(folder)).items()}
        self.summary.unchanged += len(copied)
        await self._flags(folder, state, copied)

        def too_large(uid: int, size: int) -> None:
            self.summary.too_large += 1
            self.say(f"{plan.remote.name}: UID {uid} skipped, {size} octets is more than the limit")

        # A batch is placed while the next one is fetched: the remote server and our writer work at
        # the same time. Batches are placed in UID order, one after the other, so what a killed
        # run placed is always every message up to some UID (``fetch_since`` resumes there).
        batch: list[RemoteMessage] = []
        placing: asyncio.Task[None] | None = None
        try:
            async for message in self.remote.fetch_since(max(copied, default=0), too_large=too_large):
                batch.append(message)
                if len(batch) >= self.remote.server.batch_messages:
                    if placing is not None:
                        await placing
                    placing = asyncio.create_task(self._place(folder, batch))
                    batch = []
            if placing is not None:
                await placing
            placing = None
            await self._place(folder, batch)
        finally:
            if placing is not None and not placing.done():
                placing.cancel()
                with contextlib.suppress(BaseException):
                    await placing
        await self.store.migrate_finish(folder, state.highestmodseq)
        self.summary.folders += 1
        self.say(f"{plan.remote.name} -> {plan.local}: {state.exists} messages")

    async def _place(self, folder: MigrateFolder, batch: list[RemoteMessage]) -> None:
        if not batch:
            return
        # Together: the blob files of large messages are written (and fsync'ed) by the store's blob
        # writer threads side by side, not one after the other.
        items = list(await asyncio.gather(*(self._item(message) for message in batch)))
        self._count(await self.store.migrate_place(folder, items), items)

    async def run(self, folder_map: Mapping[str, str]) -> MigrateSummary:
        started = time.monotonic()
        await self.remote.id({"name": "pochta", "version": __version__})
        await self.remote.enable("CONDSTORE", "UTF8=ACCEPT")
        namespaces = await self.remote.namespaces()
        folders = []
        for found in await self.remote.folders():
            if namespaces.personal_name(found.name):
                folders.append(found)
            else:
                # RFC 2342: another user's folder shared with this one, or a public folder: not
                # this account's mail.
                self.summary.skipped_folders.append(f"{found.name}: in another user's or a shared namespace")
        local_special = {
            box.special_use: box.name
            for box in await self.store.mailboxes(self.account.id)
            if box.special_use
        }
        plans = plan_folders(
            folders,
            folder_map=folder_map,
            local_special=local_special,
            server_has_special_use="SPECIAL-USE" in self.remote.capabilities,
        )
        for plan in plans:
            if plan.local is None:
                self.summary.skipped_folders.append(f"{plan.remote.name}: {plan.skip_reason}")
                continue
            try:
                canonical_name(plan.local, creating=True)
            except InvalidMailboxName as exc:
                self.summary.skipped_folders.append(f"{plan.remote.name}: {exc}")
                continue
            await self.copy_folder(plan)
        existing = {box.name for box in await self.store.mailboxes(self.account.id)}
        for plan in plans:
            if plan.local is not None and plan.remote.subscribed:
                name = canonical_name(plan.local, creating=True)
                if name in existing and name not in await self.store.subscriptions(self.account.id):
                    await self.store.set_subscribed(self.account.id, name, True)
                    self.summary.subscribed += 1
        self.summary.seconds = time.monotonic() - started
        return self.summary


async def migrate_account(
    store: Store,
    settings: Settings,
    account: Account,
    server: RemoteServer,
    login: str,
    password: str,
    *,
    folder_map: Mapping[str, str] | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> MigrateSummary:
    """Copies the remote account into ``account``; ``say`` is told of each folder as it is done."""
    source = f"imap://{login}@{server.host}:{server.port}"
    async with await ImapRemote.connect(server) as remote:
        await remote.login(login, password)
        return await _Migration(store, settings, account, remote, source, say).run(folder_map or {})
