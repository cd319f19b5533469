"""The POP3 maildrop: policy per account, the snapshot taken at login, the lock, and QUIT's commit.

Semantics (docs/pop3.md):
- The maildrop is INBOX, then the folders of ``[pop3] maildrop_folders`` that exist, in that order.
  Message numbers are fixed at login (RFC 1939 §7); later deliveries wait for the next session.
- UIDL is "mailbox-id.uidvalidity.uid": a UID is never reused within a UIDVALIDITY, and a mailbox id
  never names two mailboxes, so an id is stable across sessions and restarts and never reused.
- Policy ``mode``: "all" serves every message; "since-enabled" only those whose internal date is at or
  after the moment POP3 was enabled for the account. A login as ``recent:ADDRESS`` lists the last
  ``recent_days`` days of mail whatever earlier sessions did, and its DELE never removes anything.
- Policy ``delete_action`` for DELE + QUIT: "delete" expunges (RFC 1939 §6); "seen" adds \\Seen and
  the keyword ``$POP3Deleted`` (which hides the message from later non-recent sessions); "archive"
  and "trash" move the message to the account's \\Archive or \\Trash mailbox.
- RETR'd messages get \\Seen at QUIT (as Dovecot does: those that were not \\Seen at login); nothing at
  all changes without QUIT.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from pochta.config import Pop3Settings
from pochta.mail import flags as flagrules
from pochta.mail.errors import OpsError
from pochta.mail.ops import MailOps
from pochta.proto.pop3 import Listing
from pochta.store.account_settings import POP3_DELETE_ACTION, POP3_ENABLED_AT, POP3_LOGIN_DELAY, POP3_MODE
from pochta.store.api import HeldLock, Store
from pochta.store.model import Account, AccountId, BlobRef, MailboxInfo, MailboxView

__all__ = [
    "POP3_DELETED_KEYWORD",
    "Maildrop",
    "MaildropLocks",
    "Pop3Policy",
    "commit",
    "open_maildrop",
    "policy_for",
]

POP3_DELETED_KEYWORD = "$POP3Deleted"
_SEEN = "\\Seen"

Mode = Literal["all", "since-enabled"]
DeleteAction = Literal["delete", "seen", "archive", "trash"]


@dataclass(frozen=True)
class Pop3Policy:
    mode: Mode
    delete_action: DeleteAction
    login_delay: int  # seconds, 0: none
    enabled_at: datetime | None  # when POP3 was enabled for the account ("since-enabled")


def policy_for(account: Account, settings: Pop3Settings) -> Pop3Policy:
    """The account's effective settings (its own, else its unit chain's: docs/units.md), each
    falling back to the server default of ``[pop3]``."""
    mode = account.settings.get(POP3_MODE, settings.mode)
    action = account.settings.get(POP3_DELETE_ACTION, settings.delete_action)
    return Pop3Policy(
        mode="since-enabled" if mode == "since-enabled" else "all",
        delete_action=_ACTIONS.get(action, "delete"),
        login_delay=account.settings.get(POP3_LOGIN_DELAY, settings.login_delay),
        enabled_at=account.settings.optional(POP3_ENABLED_AT) or account.created,
    )


_ACTIONS: dict[str, DeleteAction] = {
    "delete": "delete",
    "seen": "seen",
    "archive": "archive",
    "trash": "trash",
}


class MaildropLocks:
    """RFC 1939 §8: "the POP3 server ... acquires an exclusive-access lock on the maildrop".

    The store's session lock (``Store.try_lock``), so it holds across every process serving the
    data directory (the workers of ``pochta serve``) and is dropped by the kernel (or, on
    PostgreSQL, by the database) when its holder dies: a SIGKILLed worker leaves no account locked.
    Non-blocking: a locked maildrop is refused at once with ``[IN-USE]`` (RFC 2449 §8.1.1), never
    waited for. A ``recent:`` session never removes anything, so it has a lock of its own and may
    run beside a normal one.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._held: dict[tuple[AccountId, bool], HeldLock] = {}  # by this process

    @staticmethod
    def name(account_id: AccountId, recent: bool) -> str:
        return f"pop3-{'recent-' if recent else ''}{int(account_id)}"

    async def acquire(self, account_id: AccountId, recent: bool) -> bool:
        key = (account_id, recent)
        if key in self._held:
            return False
        lock = await self.store.try_lock(self.name(account_id, recent))
        if lock is None:
            return False
        self._held[key] = lock
        return True

    async def release(self, account_id: AccountId, recent: bool) -> None:
        lock = self._held.pop((account_id, recent), None)
        if lock is not None:
            await lock.release()

    def held(self, account_id: AccountId, recent: bool = False) -> bool:
        """Held by a session of this process."""
        return (account_id, recent) in self._held


@dataclass
class Maildrop:
    """The snapshot one session serves: message n is ``views[which[n-1]]`` at ``positions[n-1]``."""

    account: Account
    policy: Pop3Policy
    recent: bool
    views: list[MailboxView]
    which: array[int]
    positions: array[int]

    def __len__(self) -> int:
        return len(self.positions)

    def mailbox(self, index: int) -> MailboxInfo:
        return self.views[self.which[index]].mailbox

    def uid(self, index: int) -> int:
        return self.views[self.which[index]].uids[self.positions[index]]

    def blob(self, index: int) -> BlobRef:
        return self.views[self.which[index]].blob(self.positions[index])

    def seen(self, index: int) -> bool:
        """The message had \\Seen when the maildrop was opened."""
        return flagrules.has_flag(self.views[self.which[index]].flags[self.positions[index]], _SEEN)

    def listing(self) -> Listing:
        sizes = array("q")
        uids: list[str] = []
        last = 0
        for index in range(len(self.positions)):
            view = self.views[self.which[index]]
            position = self.positions[index]
            sizes.append(view.sizes[position])
            uids.append(f"{view.mailbox.id}.{view.mailbox.uidvalidity}.{view.uids[position]}")
            if flagrules.has_flag(view.flags[position], _SEEN):
                last = index + 1  # RFC 1225 LAST: the highest message already seen
        return Listing(sizes, uids, 0 if self.recent else last)


async def open_maildrop(
    store: Store, account: Account, policy: Pop3Policy, settings: Pop3Settings, *, recent: bool, now: datetime
) -> Maildrop:
    names = ["INBOX", *(name for name in settings.maildrop_folders if name.upper() != "INBOX")]
    views: list[MailboxView] = []
    for name in names:
        info = await store.get_mailbox(account.id, name)
        if info is not None and info.id not in {view.mailbox.id for view in views}:
            views.append(await store.open_view(info.id))
    since: datetime | None = None
    if recent:
        since = now - timedelta(days=settings.recent_days)
    elif policy.mode == "since-enabled":
        since = policy.enabled_at
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    hidden = POP3_DELETED_KEYWORD.lower()
    which = array("q")
    positions = array("q")
    for number, view in enumerate(views):
        flag_sets = view.flags
        for position in range(len(view)):
            if not recent and any(flag.lower() == hidden for flag in flag_sets[position]):
                continue
            if since is not None and view.internal_date(position) < since:
                continue
            which.append(number)
            positions.append(position)
    return Maildrop(account, policy, recent, views, which, positions)


async def commit(
    ops: MailOps, maildrop: Maildrop, deleted: tuple[int, ...], retrieved: tuple[int, ...]
) -> bool:
    """RFC 1939 §6 UPDATE: apply the session's changes; False if any of them failed."""
    if maildrop.recent:
        return True  # a recent: session changes nothing (its DELE never removes)
    action = maildrop.policy.delete_action
    doomed = set(deleted)
    seen: dict[int, list[int]] = {}
    for index in retrieved:
        if action == "delete" and index in doomed:
            continue
        if maildrop.seen(index):
            continue  # already \Seen at login (as Dovecot: only messages it saw unseen get the flag)
        seen.setdefault(maildrop.mailbox(index).id, []).append(maildrop.uid(index))
    removed: dict[int, list[int]] = {}
    for index in deleted:
        removed.setdefault(maildrop.mailbox(index).id, []).append(maildrop.uid(index))
    ok = True
    account_id = maildrop.account.id
    try:
        for mailbox_id, uids in seen.items():
            await ops.store_flags(mailbox_id, uids, "add", [_SEEN])
        for mailbox_id, uids in removed.items():
            if action == "delete":
                await ops.expunge_uids(mailbox_id, uids)
            elif action == "seen":
                await ops.store_flags(mailbox_id, uids, "add", [_SEEN, POP3_DELETED_KEYWORD])
            else:
                target = await _special_mailbox(
                    ops, account_id, "\\Archive" if action == "archive" else "\\Trash"
                )
                if target == mailbox_id:
                    continue
                info = await ops.store.get_mailbox_by_id(target)
                assert info is not None
                await ops.move(account_id, mailbox_id, uids, info.name)
    except OpsError:
        ok = False
    return ok


async def _special_mailbox(ops: MailOps, account_id: AccountId, special_use: str) -> int:
    """The account's mailbox with this RFC 6154 attribute, created as "Archive"/"Trash" if missing."""
    mailboxes = await ops.mailboxes(account_id)
    for info in mailboxes:
        if info.special_use == special_use:
            return info.id
    name = special_use.lstrip("\\")
    for info in mailboxes:
        if info.name == name:
            return info.id
    return (await ops.create(account_id, name, special_use)).id
