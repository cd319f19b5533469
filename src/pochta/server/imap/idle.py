"""IDLE (RFC 2177, RFC 9051 §6.3.13): push the selected mailbox's changes until the client says DONE.

- ``+ idling``, then every change committed to the selected mailbox (by any session or delivery) is
  sent at once as EXISTS / EXPUNGE / FETCH FLAGS (RFC 9051 §6.3.13: "the server sends untagged
  responses as the mailbox changes"; EXPUNGE is allowed: no command with message numbers runs). The
  change feed sets ``session.dirty``; ``report_updates`` reads the changes and the responses are
  written before waiting again, so a push follows its commit within milliseconds.
- Input: the receiver is switched into its IDLE mode (``expect_idle_done``): the next line must be
  ``DONE`` (``IdleDone``; any case), which ends IDLE with the tagged OK. Anything else is answered
  ``<tag> BAD Expected DONE`` by the receiver, which ends IDLE too (RFC 9051 §6.3.13 only allows
  DONE; the line is not run as a command). Lines the client pipelined after DONE stay buffered in the
  receiver and run next.
- One task reads from the connection, another waits for ``dirty``; whichever finishes first is
  handled. The read is never cancelled while IDLE goes on (a wake-up for a push keeps it), so no
  input is lost; the ``dirty`` waiter, which holds no data, is the one cancelled at the end.
- Timers: the reads use the connection's idle timeout, the autologout of the authenticated session
  (RFC 9051 §5.4: at least 30 minutes; RFC 2177 §3: clients re-issue IDLE every 29 minutes); pushes
  do not reset it. When it expires, the handler sends ``* BYE Autologout``.
- Shutdown: IDLE waits inside ``conn.waiting_for_client()``, so a graceful stop interrupts it at
  once (``ServerShutdown`` from the read) and the server writes ``* BYE [UNAVAILABLE]``.
- Without a selected mailbox (IDLE is legal in the authenticated state) nothing is ever pushed.
- After NOTIFY SET (RFC 5465 §4: "exactly the same events as instructed by the client using the
  NOTIFY command"): the notifications NOTIFY asked for, the selected mailbox's only with SELECTED
  or SELECTED-DELAYED (whose held expunges IDLE allows); ``notify.push`` sends them.
"""

from __future__ import annotations

import asyncio

from pochta.proto.imap import Command, CommandError, Continuation, IdleDone, NeedMoreData, Status, Tagged
from pochta.server.imap import notify
from pochta.server.imap.select import report_updates
from pochta.server.imap.session import Session, SessionClosed

__all__ = ["idle"]


async def _push(session: Session) -> None:
    if session.notifier is not None:
        await notify.push(session, idle=True)  # RFC 5465 §4
    else:
        # RFC 9051 §6.3.13, §7.5.1: untagged updates, EXPUNGE included, while idling.
        await report_updates(session, poll=False, allow_expunge=True, include_uid=False)
        await session.flush()
    if session.logout:  # the selected mailbox was deleted: report_updates queued a BYE
        raise SessionClosed


async def idle(session: Session, command: Command) -> Tagged | None:
    conn, receiver = session.conn, session.receiver
    session.send(Continuation("idling"))  # RFC 2177 §3
    receiver.expect_idle_done(command.tag)
    await _push(session)  # anything that was already waiting
    read: asyncio.Task[bytes] | None = None
    woken: asyncio.Task[None] | None = None
    try:
        with conn.waiting_for_client():
            while True:
                event = receiver.next_command()
                if isinstance(event, IdleDone):
                    return Tagged(command.tag, Status.OK, "IDLE terminated")  # RFC 2177 §3
                if isinstance(event, CommandError):
                    # RFC 9051 §6.3.13: only DONE may follow; the receiver answered it (BAD).
                    session.send(event.reply)
                    if event.close:
                        session.logout = True
                    return None
                if not isinstance(event, NeedMoreData):  # pragma: no cover - the receiver is in IDLE mode
                    raise RuntimeError(f"unexpected event {event!r}")
                if read is None:
                    read = asyncio.ensure_future(conn.read_some(line_open=receiver.line_open))
                if woken is None:
                    # RFC 5465 §4: with NOTIFY, the selected mailbox only with SELECTED(-DELAYED).
                    selected = session.notifier is None or notify.selected_pushed(session)
                    woken = asyncio.ensure_future(notify.wait_for_news(session, selected=selected))
                await asyncio.wait((read, woken), return_when=asyncio.FIRST_COMPLETED)
                if woken.done():
                    woken = None
                    await _push(session)
                if read.done():
                    task, read = read, None
                    data = task.result()  # IdleTimeout, ServerShutdown, OSError: propagate
                    if not data:
                        session.logout = True  # the client went away
                        raise SessionClosed
                    receiver.receive_data(data)
    finally:
        if woken is not None:
            woken.cancel()  # holds no data
        if read is not None:
            read.cancel()
            await asyncio.wait((read,))
        if read is not None and not read.cancelled() and read.exception() is None:
            # It finished just as IDLE was given up (a push failed): keep what it read.
            receiver.receive_data(read.result())
