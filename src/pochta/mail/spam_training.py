"""Users' Junk moves teach the spam engine (docs/antispam.md "Training rspamd").

A message an IMAP client moves or copies into a ``\\Junk`` mailbox is learned as spam; one moved
or copied out of ``\\Junk`` into anything but ``\\Trash`` is learned as ham (a user who deletes a
spam says nothing about it). The learn goes to rspamd's controller worker: ``POST /learnspam`` or
``/learnham`` with the message as the body and the ``Password:`` header; with ``learn =
"per-user"`` the ``Deliver-To:`` header names the mailbox owner, which rspamd uses for per-user
Bayes statistics.

The one owner is the IMAP COPY/MOVE handler's event (where IMAPSIEVE runs its COPY scripts, RFC
6785 §2.2.2): it knows the source and the target of each message, which the store's change feed
does not (a MOVE there is an expunge in one mailbox and an addition in another).

Never on the IMAP command's path: ``after_copy`` only queues the event; one background task per
worker reads the messages and posts them (the HTTP client in a thread). The queue is bounded
(``learn_queue``): past it an event is dropped and logged. A failed learn is logged and not
retried: a training request is a hint, not mail.
"""

from __future__ import annotations

import asyncio
import http.client
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from pochta.config_antispam import AntispamSettings
from pochta.log import get_logger
from pochta.store.api import Store
from pochta.store.model import AccountId, MailboxId, Uid

__all__ = ["SpamTraining", "lesson"]

_log = get_logger(component="spam-training")
Lesson = Literal["spam", "ham"]
_JUNK, _TRASH = "\\junk", "\\trash"


def lesson(source_use: str | None, target_use: str | None) -> Lesson | None:
    """What a copy from a mailbox of special use ``source_use`` into one of ``target_use`` teaches."""
    source, target = (source_use or "").lower(), (target_use or "").lower()
    if target == _JUNK and source != _JUNK:
        return "spam"
    if source == _JUNK and target not in (_JUNK, _TRASH):
        return "ham"
    return None


@dataclass(frozen=True)
class _Copied:
    owner_id: AccountId
    source_id: MailboxId
    target_id: MailboxId
    uids: tuple[Uid, ...]


def _post(base: str, path: str, body: bytes, headers: dict[str, str], timeout: float) -> tuple[int, bytes]:
    """One HTTP/1.1 POST to the controller (blocking: run in a thread)."""
    host, _, port = base.removeprefix("http://").rpartition(":")
    connection = http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(64 * 1024)
    finally:
        connection.close()


class SpamTraining:
    """One per IMAP handler (worker process)."""

    def __init__(self, store: Store, settings: AntispamSettings) -> None:
        self.store = store
        self.settings = settings
        self._queue: asyncio.Queue[_Copied] = asyncio.Queue(settings.learn_queue)
        self._worker: asyncio.Task[None] | None = None
        self.learned = 0  # requests rspamd accepted (for logs and tests)

    def reconfigure(self, settings: AntispamSettings) -> None:
        self.settings = settings  # the queue keeps its bound until the process restarts

    def after_copy(
        self, owner_id: AccountId, source_id: MailboxId, target_id: MailboxId, uids: Sequence[Uid]
    ) -> None:
        """A COPY or MOVE was committed: queue it (never waits; module docstring)."""
        if self.settings.learn == "off" or not uids or source_id == target_id:
            return
        try:
            self._queue.put_nowait(_Copied(owner_id, source_id, target_id, tuple(uids)))
        except asyncio.QueueFull:
            _log.warning("spam training queue full, dropped", mailbox=target_id, messages=len(uids))
            return
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def idle(self) -> None:
        """Until every queued event is handled (tests)."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            copied = await self._queue.get()
            try:
                await self._handle(copied)
            except Exception:  # one event's failure is logged; the next ones go on
                _log.exception("spam training failed", mailbox=copied.target_id)
            finally:
                self._queue.task_done()

    async def _handle(self, copied: _Copied) -> None:
        source = await self.store.get_mailbox_by_id(copied.source_id)
        target = await self.store.get_mailbox_by_id(copied.target_id)
        if source is None or target is None:
            return
        what = lesson(source.special_use, target.special_use)
        if what is None:
            return
        headers = {"Content-Type": "message/rfc822"}
        if self.settings.controller_password:
            headers["Password"] = self.settings.controller_password
        if self.settings.learn == "per-user":
            owner = await self.store.get_account_by_id(copied.owner_id)
            if owner is None:
                return
            headers["Deliver-To"] = owner.address  # rspamd's per-user statistics key
        view = self.store.current_view(target.id) or await self.store.open_view(target.id)
        for uid in copied.uids:
            position = view.position(uid)
            if position is None:
                continue  # expunged meanwhile
            entry = view.entry(position)
            if entry.blob.size > self.settings.learn_max_size:
                _log.info(
                    "spam training skipped: too large", mailbox=target.id, uid=uid, size=entry.blob.size
                )
                continue
            data = await asyncio.to_thread(self.store.read_blob, entry.blob)
            await self._learn(what, data, headers, target.id, uid)

    async def _learn(
        self, what: Lesson, data: bytes, headers: dict[str, str], mailbox: MailboxId, uid: Uid
    ) -> None:
        settings = self.settings
        try:
            status, answer = await asyncio.to_thread(
                _post, settings.rspamd_controller, f"/learn{what}", data, headers, settings.learn_timeout
            )
        except (OSError, http.client.HTTPException) as exc:
            _log.warning("spam training: controller unreachable", learn=what, error=str(exc))
            return
        text = answer.decode("utf-8", "replace")[:300]
        if status == 200:
            self.learned += 1
            _log.info("spam training learned", learn=what, mailbox=mailbox, uid=uid)
        elif status == 208:  # rspamd: this message was learned so already
            _log.info("spam training: already learned", learn=what, mailbox=mailbox, uid=uid)
        else:
            _log.warning("spam training refused", learn=what, status=status, answer=text)
