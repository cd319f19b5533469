"""The state of one IMAP session, and the services its command handlers share.

``Session`` holds what RFC 9051 §3 calls the connection state (``state``), who is logged in, what
the client enabled (RFC 5161: IMAP4rev2, UTF8=ACCEPT), the selected mailbox with its change-feed
watch, and the output buffer. Command handlers (``auth``, ``mailboxes``, ``listing``, ``status``,
``select``) write untagged responses with ``send`` and return their tagged completion; the
connection loop (``handler``) writes the buffer out.

The change feed is used as a wake-up signal only: a background task marks the session ``dirty``
when anything is committed to the selected mailbox, and ``select.catch_up`` then reads the changes
from the store (``changes_since`` the session's MODSEQ), which also covers a feed OVERFLOW. A wake-up
that only echoes the session's own STORE/EXPUNGE (its MODSEQ is one the session already took with
``SelectedMailbox.apply_own``) costs no read (``take_signals``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from pochta.auth.authenticator import Authenticator
from pochta.config import Settings
from pochta.mail.access import Located
from pochta.mail.errors import Code, OpsError
from pochta.mail.ops import MailOps
from pochta.proto.imap import (
    CommandError,
    ContinuationLine,
    NeedMoreData,
    Receiver,
    Response,
    State,
    Status,
    Untagged,
    WireContext,
    serialise,
)
from pochta.proto.imap.responses import Code as ResponseCode
from pochta.proto.imap.selected import SelectedMailbox
from pochta.server.connection import Connection
from pochta.server.imap.kept_threads import KeptThreads
from pochta.server.imap.notifier import Notifier
from pochta.server.imap.uploads import Uploads
from pochta.store.api import ChangeSubscription, Store
from pochta.store.model import Account, ChangeKind, MessageEntry

if TYPE_CHECKING:
    from pochta.mail.spam_training import SpamTraining
    from pochta.server.imap.imapsieve import ImapSieve

__all__ = ["Services", "Session", "SessionClosed"]

# The two wire contexts a session can be in (``Session.ctx``): made once, not per response.
_ASCII, _UTF8 = WireContext(utf8=False), WireContext(utf8=True)
_UTF8_CAPABILITIES = frozenset({"IMAP4rev2", "UTF8=ACCEPT"})

# Feed changes that carry the MODSEQ of the commit that made them (see ``Session.take_signals``).
_MESSAGE_CHANGES = frozenset({ChangeKind.APPENDED, ChangeKind.FLAGS, ChangeKind.EXPUNGED})


class SessionClosed(Exception):
    """The session must end now (the client went away, or a BYE was queued): stop processing."""


@dataclass(frozen=True)
class Services:
    """Shared by every session of the handler."""

    store: Store
    settings: Settings
    ops: MailOps
    authenticator: Authenticator
    scram_secret: bytes | None
    capabilities: Callable[[Session], list[str]]  # commands.capabilities, derived from the table
    spool_dir: Path  # where APPEND literals are written as they arrive (store.spool)
    threads: KeptThreads  # THREAD answers of big mailboxes, shared by the sessions (kept_threads)
    imapsieve: ImapSieve | None = None  # RFC 6785: Sieve on IMAP events (``imapsieve``)
    spam_training: SpamTraining | None = None  # Junk moves teach rspamd (antispam.learn)


@dataclass
class Watch:
    """The selected mailbox's feed subscription and the task that turns changes into ``dirty``."""

    subscription: ChangeSubscription
    task: asyncio.Task[None]


@dataclass
class Session:
    conn: Connection
    receiver: Receiver
    services: Services
    account: Account | None = None
    # RFC 5161: "IMAP4rev2", "UTF8=ACCEPT", "CONDSTORE" (RFC 7162 §3.1: also enabled implicitly), "QRESYNC"
    enabled: set[str] = field(default_factory=set)
    selected: SelectedMailbox[MessageEntry] | None = None
    dirty: asyncio.Event = field(default_factory=asyncio.Event)
    logout: bool = False  # LOGOUT done, or a BYE was sent: close after flushing
    notifier: Notifier | None = None  # NOTIFY SET in force (RFC 5465, ``notify``)
    uploads: Uploads = field(init=False)  # APPEND literals of the command being received
    _watch: Watch | None = None
    _signalled: int = 0  # the highest MODSEQ of a message change the feed signalled
    _must_read: bool = False  # the feed signalled something else (or COPY into the mailbox)
    _out: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.receiver.state is None:
            self.receiver.state = State.NOT_AUTHENTICATED
        self.uploads = Uploads(self.services.spool_dir)

    # --- state -----------------------------------------------------------------------------------

    @property
    def rev2(self) -> bool:
        """ENABLE IMAP4rev2 was given (RFC 9051 §6.3.1); otherwise the session speaks IMAP4rev1."""
        return "IMAP4rev2" in self.enabled

    @property
    def utf8(self) -> bool:
        """IMAP4rev2 or UTF8=ACCEPT is enabled (RFC 9051 §5.1, RFC 6855 §3)."""
        return not self.enabled.isdisjoint(_UTF8_CAPABILITIES)

    @property
    def ctx(self) -> WireContext:
        """How strings and mailbox names are written in this session (RFC 9051 §4.3, RFC 6855 §3)."""
        return _UTF8 if self.utf8 else _ASCII

    @property
    def condstore(self) -> bool:
        """A CONDSTORE enabling command was given (RFC 7162 §3.1), or ENABLE QRESYNC (§3.2.3)."""
        return "CONDSTORE" in self.enabled

    @property
    def qresync(self) -> bool:
        """ENABLE QRESYNC was answered with ENABLED QRESYNC (RFC 7162 §3.2.3)."""
        return "QRESYNC" in self.enabled

    @property
    def account_id(self) -> int:
        if self.account is None:
            raise RuntimeError("not authenticated")
        return self.account.id

    @property
    def state(self) -> State:
        """The connection state (RFC 9051 §3). Its one owner is the receiver, which answers BAD to
        commands not legal in it before they are dispatched; ``enter`` changes it."""
        state = self.receiver.state
        assert state is not None  # set in __post_init__
        return state

    def enter(self, state: State) -> None:
        self.receiver.state = state

    @property
    def uidonly(self) -> bool:
        """ENABLE UIDONLY was given (RFC 9586 §3): no message numbers in commands or responses."""
        return "UIDONLY" in self.enabled

    def enable(self, capability: str) -> bool:
        """Enable IMAP4rev2, UTF8=ACCEPT, CONDSTORE, QRESYNC or UIDONLY; False when it already was
        (RFC 5161 §3.1). QRESYNC enables CONDSTORE too (RFC 7162 §3.2.3)."""
        if capability in self.enabled:
            return False
        if capability == "UIDONLY":
            self.enabled.add(capability)
            if self.selected is not None:
                self.selected.uidonly = True  # RFC 9586 §3: UIDFETCH and VANISHED from now on
            return True
        if capability in ("CONDSTORE", "QRESYNC"):
            self.enable_condstore()
            if capability == "QRESYNC":
                self.enabled.add(capability)
                if self.selected is not None:
                    self.selected.qresync = True  # RFC 7162 §3.2.10: VANISHED from now on
            return True
        self.enabled.add(capability)
        self.receiver.utf8 = True  # RFC 6855 §3, RFC 9051 §5.1: UTF-8 in quoted strings from now on
        return True

    def enable_condstore(self) -> None:
        """A CONDSTORE enabling command ran (RFC 7162 §3.1): MODSEQ in every untagged FETCH from now
        on, and the first one with a mailbox selected reports its HIGHESTMODSEQ."""
        if "CONDSTORE" in self.enabled:
            return
        self.enabled.add("CONDSTORE")
        selected = self.selected
        if selected is not None:
            selected.condstore = True
            # RFC 7162 §3.1: "A first CONDSTORE enabling command executed in the session with a
            # mailbox selected MUST cause the server to return HIGHESTMODSEQ".
            code = ResponseCode.highestmodseq(selected.safe_modseq)
            self.send(Untagged(Status.OK, "Highest mailbox mod-sequence", code))

    def mailbox_name(self, raw: bytes) -> str:
        """A mailbox argument as Unicode: UTF-8 once enabled, else modified UTF-7 (RFC 3501 §5.1.3).

        A name that is not valid in the session's encoding is NO [CANNOT] (RFC 5530 §3)."""
        try:
            return self.ctx.mailbox_name(raw)
        except ValueError:  # mutf7.MalformedName, UnicodeDecodeError
            encoding = "UTF-8" if self.utf8 else "modified UTF-7"
            raise OpsError(Code.CANNOT, f"Mailbox name is not valid {encoding}") from None

    async def locate(self, raw: bytes) -> Located:
        """A mailbox argument resolved for the logged-in user: its owner, its name there and the
        user's rights (``mail.access``; NONEXISTENT for another's mailbox with no right on it)."""
        assert self.account is not None  # only commands of the authenticated state name mailboxes
        return await self.services.ops.access.locate(self.account, self.mailbox_name(raw))

    # --- output ----------------------------------------------------------------------------------

    def send(self, response: Response | bytes) -> None:
        """Queue a response (serialised in this session's context) or raw octets."""
        self._out.append(response if isinstance(response, bytes) else serialise(response, self.ctx))

    async def flush(self) -> None:
        """Write what is queued and wait for the peer to take it (backpressure: nothing more is read
        while a response is still waiting in our send buffer)."""
        if self._out:
            data = b"".join(self._out)
            self._out.clear()
            await self.conn.send(data)

    # --- interactive input (AUTHENTICATE) ---------------------------------------------------------

    async def read_continuation(self) -> bytes:
        """The client's line answering a continuation request (RFC 9051 §6.2.2)."""
        await self.flush()
        self.receiver.expect_line()
        while True:
            event = self.receiver.next_command()
            if isinstance(event, ContinuationLine):
                return event.line
            if isinstance(event, CommandError):
                self.send(event.reply)
                self.logout = True
                raise SessionClosed
            if not isinstance(event, NeedMoreData):  # pragma: no cover - the receiver is in line mode
                raise RuntimeError(f"unexpected event {event!r}")
            data = await self.conn.read_some(line_open=self.receiver.line_open)
            if not data:
                self.logout = True
                raise SessionClosed
            self.receiver.receive_data(data)

    # --- the selected mailbox --------------------------------------------------------------------

    def watch(self, subscription: ChangeSubscription) -> None:
        """Start turning the subscription's changes into ``dirty`` (call before opening the view)."""
        self.dirty.clear()
        self._signalled, self._must_read = 0, False
        self._watch = Watch(subscription, asyncio.create_task(self._follow(subscription)))

    async def _follow(self, subscription: ChangeSubscription) -> None:
        async for change in subscription:
            if change.kind is ChangeKind.METADATA:
                continue  # nothing of the mailbox's state (RFC 5464: no unsolicited METADATA here)
            if change.kind in _MESSAGE_CHANGES:
                self._signalled = max(self._signalled, change.modseq)
            else:  # a mailbox change, or OVERFLOW: changes were dropped
                self._must_read = True
            self.dirty.set()

    def mark_stale(self) -> None:
        """The selected mailbox changed in a way only the store can tell (COPY into it): the next
        ``select.catch_up`` reads its changes whatever the feed said."""
        self._must_read = True
        self.dirty.set()

    def take_signals(self, highestmodseq: int) -> bool:
        """Whether the changes the feed signalled since the last call need a read from the store:
        not when every one is a message change at or below ``highestmodseq`` (the echo of this
        session's own write, which ``SelectedMailbox.apply_own`` took already)."""
        must_read = self._must_read or self._signalled > highestmodseq
        self._must_read = False
        return must_read

    async def unauthenticate(self) -> None:
        """Back to the not-authenticated state with nothing of the login left (RFC 8437 §3, §4.1):
        the selected mailbox (no expunge) with its feed subscription and ``$``, the account, what
        ENABLE turned on. The receiver's error budget and the connection's TLS stay."""
        await self.unselect()
        await self.stop_notify()
        self.account = None
        self.enabled.clear()
        self.receiver.utf8 = False  # RFC 8437 §4.1: UTF8=ACCEPT ceases to be enabled
        self.enter(State.NOT_AUTHENTICATED)

    async def stop_notify(self) -> None:
        """NOTIFY NONE (RFC 5465 §3.1): no more notifications, the feed subscription closed."""
        notifier, self.notifier = self.notifier, None
        if notifier is not None:
            await notifier.close()

    async def unselect(self) -> None:
        """Leave the selected state (CLOSE, UNSELECT, a new SELECT, a failed SELECT, logout)."""
        self.selected = None
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch.task
            await watch.subscription.aclose()
        self.dirty.clear()
        if self.state is State.SELECTED:
            self.enter(State.AUTHENTICATED)
