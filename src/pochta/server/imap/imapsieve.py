"""IMAPSIEVE (RFC 6785): Sieve scripts run on IMAP events, and what their actions do.

The events (RFC 6785 §2.2): a message APPENDed (also by CATENATE and REPLACE, RFC 8508 §3.4), a
message COPYed or MOVEd into a mailbox (MOVE is a COPY into the target, the cause "COPY"), and the
flags of a message changed by STORE / UID STORE or by a FETCH that sets \\Seen (§2.2.3: "in any
way"). The command handlers call ``ImapSieve`` once their change is committed; each message is one
event (§2.2: "each message triggers the execution of a Sieve script separately").

Which scripts (§2.3.1): the mailbox's ``/shared/imapsieve/script`` entry, else the server's; its
value names a script of the mailbox's owner (ManageSieve's names); empty, or no such script: no
user script. Before and after it, the administrator's ``sieve.imap_rules`` whose mailbox (and, for
a COPY, source mailbox) and cause match, as Dovecot's imapsieve_mailboxN_* settings.

Cost when nothing is configured: per worker, whether a mailbox (or the server) has the entry is
kept while ``Store.directory_version`` stays the same (revision 0025 moves it with every change to
such an entry, 0021 with every change to a script): an APPEND, COPY or STORE then costs one
one-row read, no query.

When: after the command's own change is committed and before its tagged reply, run in a worker
thread (``SieveRunner``), each run ended by the interpreter past ``sieve.max_cpu_time`` of CPU time
and, as a last resort, waited for at most ``sieve.max_run_time``. The client thus sees what the scripts
did (untagged FETCH, EXISTS) with the command that caused it, as Dovecot's imapsieve does. RFC 6785
does not ask for more: the command's own change stands whatever the scripts do.

What the actions do (``pochta.sieve.imapsieve.decide``) is carried out through ``MailOps``, as an
IMAP client's commands are, so that other sessions hear of it on the change feed; the rights of the
user who caused the event apply (a fileinto needs ``i`` on the target, flag changes ``s``/``t``/``w``,
RFC 4314 §4). Nothing a script does is an IMAP event itself (§6: "actions taken as a result of the
Sieve script are not IMAP events"), so no script runs because of another: no loop (§2.2.3).

Errors never lose or change the message beyond what the script asked: a script that fails (does not
compile, a runtime error, the time limit, an inapplicable extension §3.11) changes nothing at all; a
fileinto or redirect that fails leaves the message without \\Deleted. Each error is logged and
recorded for the mailbox's owner (``pochta sieve errors USER``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pochta.config import Settings
from pochta.config_sieve import ImapRule
from pochta.delivery.sieve_carry import Effects, Outgoing, fileinto_target
from pochta.delivery.sieve_messages import notify_message
from pochta.delivery.sieve_run import Run, ScriptRef, SieveRunner, environment
from pochta.log import get_logger
from pochta.mail import acl
from pochta.mail.errors import Code, OpsError
from pochta.mail.ops import MailOps
from pochta.mail.patterns import NamePattern
from pochta.sieve import Envelope as SieveEnvelope
from pochta.sieve import SieveMessage
from pochta.sieve.imapsieve import DELETED, SCRIPT_ENTRY, Decision, changed_flags, decide, event_items
from pochta.sieve.redirect import LOOP_FIELD, loops, stamp
from pochta.store.api import NotFound, Store, StoreError
from pochta.store.model import Account, AccountId, BlobRef, MailboxId, MailboxInfo, Uid

if TYPE_CHECKING:
    from pochta.server.imap.session import Session

__all__ = ["Actor", "Event", "ImapSieve", "Outbound", "after_event", "capability"]

_log = get_logger(component="imapsieve")
Outbound = Callable[[Outgoing], Awaitable[None]]


@dataclass(frozen=True)
class Event:
    """Messages of one mailbox an IMAP command added or changed: ``cause`` APPEND, COPY or FLAG;
    ``source_id`` the mailbox a COPY/MOVE came from (None: not a COPY); for FLAG the flags that
    changed, by UID."""

    cause: str
    owner_id: AccountId
    mailbox_id: MailboxId
    uids: tuple[Uid, ...]
    source_id: MailboxId | None = None
    changed: dict[Uid, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Actor:
    """Who caused the event: the logged-in account, the client's address, and the rights it holds
    on the event's mailbox (every right on its own)."""

    account: Account
    peer: str
    rights: frozenset[str]


def capability(settings: Settings) -> str | None:
    """RFC 6785 §2.1: ``IMAPSIEVE=`` and the ManageSieve server's URL (RFC 5804 §3:
    ``sieve://host[:port]``, the port left out when it is 4190); None when IMAP events run no
    scripts or no ManageSieve listener is open (clients could not manage the scripts)."""
    if not settings.sieve.imap_events:
        return None
    address = settings.enabled_listeners().get("managesieve")
    if address is None or address.port is None:
        return None
    host = settings.hostname
    port = "" if address.port in (0, 4190) else f":{address.port}"  # 0: a test's free port
    return f"IMAPSIEVE=sieve://{host}{port}"


class _Rule:
    """An ``ImapRule`` compiled: its mailbox and source as name patterns or special-use attributes."""

    def __init__(self, rule: ImapRule) -> None:
        self.rule = rule
        self.mailbox = _Matcher(rule.mailbox)
        self.source = None if rule.source in (None, "*") else _Matcher(rule.source)

    def matches(self, cause: str, mailbox: MailboxInfo, source: MailboxInfo | None) -> bool:
        if cause not in self.rule.causes or not self.mailbox.matches(mailbox):
            return False
        # Dovecot's rule: a source given matches COPY events from such a mailbox only.
        return self.source is None or (source is not None and self.source.matches(source))


class _Matcher:
    def __init__(self, text: str) -> None:
        self.special = text if text.startswith("\\") else None
        self.pattern = None if self.special is not None else NamePattern(text)

    def matches(self, mailbox: MailboxInfo) -> bool:
        if self.pattern is not None:
            return self.pattern.matches(mailbox.name)
        return (mailbox.special_use or "").lower() == (self.special or "").lower()


@dataclass
class _Known:
    """What a worker knows while the directory version stays ``version``."""

    version: int | None = None
    entries: dict[MailboxId, str | None] = field(default_factory=dict)  # the mailbox's entry (None: none)
    server: str | None = None
    server_read: bool = False
    scripts: dict[tuple[AccountId, str], str | None] = field(default_factory=dict)


class ImapSieve:
    """One per IMAP handler (worker process)."""

    def __init__(self, store: Store, settings: Settings, ops: MailOps, outbound: Outbound | None) -> None:
        self.store = store
        self.settings = settings
        self.ops = ops
        self.outbound = outbound
        self.runner = SieveRunner(store, settings)
        self.rules = [_Rule(rule) for rule in settings.sieve.imap_rules]
        self._known = _Known()
        self._admin: dict[str, str] = {}  # admin scripts' sources by path
        self._capability = capability(settings)

    def capability(self) -> str | None:
        return self._capability

    # --- which scripts -----------------------------------------------------------------------------

    def _fresh(self) -> _Known:
        version = self.store.directory_version()
        known = self._known
        if version is None or version != known.version:
            known = self._known = _Known(version)
        return known

    async def _user_script(self, owner_id: AccountId, mailbox_id: MailboxId) -> ScriptRef | None:
        """RFC 6785 §2.3.1: the script the mailbox's entry (else the server's) names, if it exists."""
        known = self._fresh()
        if mailbox_id in known.entries:
            name = known.entries[mailbox_id]
        else:
            values = await self.store.metadata(mailbox_id, owner_id)
            raw = values.get(SCRIPT_ENTRY)
            name = None if raw is None else raw.decode("utf-8", "replace").strip()
            known.entries[mailbox_id] = name
        if name is None:  # no mailbox entry: the server's (RFC 6785 §2.3.1)
            if not known.server_read:
                values = await self.store.metadata(None, owner_id)
                raw = values.get(SCRIPT_ENTRY)
                known.server = None if raw is None else raw.decode("utf-8", "replace").strip()
                known.server_read = True
            name = known.server
        if not name:
            return None  # §2.3.1: an empty value (of the entry selected) runs no script
        key = (owner_id, name)
        if key not in known.scripts:
            found = await self.store.sieve_script(owner_id, name)
            known.scripts[key] = None if found is None else found.source
        source = known.scripts[key]
        # §2.3.1: a name that is no script of the owner's runs none.
        return None if source is None else ScriptRef(name, source)

    def _admin_ref(self, where: str, path: Path) -> ScriptRef | None:
        key = str(path)
        source = self._admin.get(key)
        if source is None:
            try:
                with open(key, encoding="utf-8") as file:
                    source = self._admin[key] = file.read()
            except (OSError, UnicodeDecodeError) as error:
                _log.error("imapsieve admin script unreadable", path=key, error=repr(error))
                return None
        return ScriptRef(f"{where}:{path.name}", source)

    async def scripts(self, event: Event, mailbox: Callable[[], Awaitable[MailboxInfo]]) -> list[ScriptRef]:
        """The scripts of the event, in order: the rules' before scripts, the mailbox's own, the rules'
        after scripts. ``mailbox`` reads the mailbox's row, needed only when rules are configured."""
        if not self.settings.sieve.imap_events:
            return []
        before: list[ScriptRef] = []
        after: list[ScriptRef] = []
        if self.rules:
            info = await mailbox()
            source = None
            if event.source_id is not None:
                view = self.store.current_view(event.source_id)
                source = (
                    view.mailbox if view is not None else await self.store.get_mailbox_by_id(event.source_id)
                )
            for rule in self.rules:
                if rule.matches(event.cause, info, source):
                    for where, path, into in (
                        ("before", rule.rule.before, before),
                        ("after", rule.rule.after, after),
                    ):
                        ref = None if path is None else self._admin_ref(where, path)
                        if ref is not None:
                            into.append(ref)
        own = await self._user_script(event.owner_id, event.mailbox_id)
        return [*before, *([own] if own is not None else []), *after]

    # --- the events ----------------------------------------------------------------------------------

    async def handle(self, event: Event, actor: Actor) -> bool:
        """Run the scripts of ``event`` on each of its messages and carry out what they decide;
        True when anything was changed (the caller's session reads the changes back)."""
        if not event.uids or not self.settings.sieve.imap_events:
            return False
        info: MailboxInfo | None = None

        async def mailbox() -> MailboxInfo:
            nonlocal info
            if info is None:
                # The row only (no view of a big mailbox read for a rule's name).
                known = self.store.current_view(event.mailbox_id)
                found = (
                    known.mailbox
                    if known is not None
                    else await self.store.get_mailbox_by_id(event.mailbox_id)
                )
                if found is None:
                    raise NotFound(f"mailbox {event.mailbox_id} is gone")
                info = found
            return info

        try:
            refs = await self.scripts(event, mailbox)
            if not refs:
                return False
            owner = actor.account
            if owner.id != event.owner_id:
                found = await self.store.get_account_by_id(event.owner_id)
                if found is None:
                    return False
                owner = found
            view = self.store.current_view(event.mailbox_id) or await self.store.open_view(event.mailbox_id)
            changed = False
            for uid in event.uids:
                position = view.position(uid)
                if position is None:
                    continue  # expunged meanwhile
                entry = view.entry(position)
                changed |= await self._one(
                    event, actor, owner, view.mailbox, uid, entry.flags, entry.blob, refs
                )
            return changed
        except NotFound:
            return False  # the mailbox was deleted meanwhile: no event to run
        except Exception as error:  # the command's own change stands; nothing else is done
            _log.exception("imapsieve failed", mailbox=event.mailbox_id, cause=event.cause)
            await self._record(event.owner_id, [("imapsieve", f"internal error: {error!r}")])
            return False

    async def _one(
        self,
        event: Event,
        actor: Actor,
        owner: Account,
        mailbox: MailboxInfo,
        uid: Uid,
        flags: frozenset[str],
        blob: BlobRef,
        refs: Sequence[ScriptRef],
    ) -> bool:
        data = await asyncio.to_thread(self.store.read_blob, blob)
        env = environment(
            hostname=self.settings.hostname, peer=actor.peer, helo=None, phase="post", location="MS"
        ) | event_items(
            cause=event.cause,
            mailbox=mailbox.name,
            user=actor.account.address,
            email=actor.account.address,
            changed=event.changed.get(uid, ()),
        )
        current = tuple(sorted(flags))
        # RFC 6785 §3.4: MAIL FROM is the mailbox owner's address; no envelope test runs (§4.6).
        envelope = SieveEnvelope(owner.address, owner.address)
        run = await self.runner.run_scripts(
            owner, refs, data, envelope, env, (owner.address,), imap_flags=current
        )
        if run.errors:
            # A failed run changes nothing (never lose or change the message beyond what was asked).
            await self._record(owner.id, run.errors, mailbox.name)
            return False
        decision = decide(run.outcome.actions, current)
        if not decision.changes and not run.outcome.duplicates:
            return False
        errors: list[tuple[str, str]] = []
        label = run.labels[-1] if run.labels else "script"
        done = await self._carry(decision, run, actor, owner, mailbox, uid, current, data, label, errors)
        if run.outcome.duplicates:
            records = [(d.key, d.seconds, d.last) for d in run.outcome.duplicates]
            try:
                await self.store.sieve_track_duplicates(owner.id, records, int(time.time()))
            except StoreError as error:
                errors.append((label, f"duplicate tracking: {error}"))
        if errors:
            await self._record(owner.id, errors, mailbox.name)
        return done

    async def _carry(
        self,
        decision: Decision,
        run: Run,
        actor: Actor,
        owner: Account,
        mailbox: MailboxInfo,
        uid: Uid,
        current: tuple[str, ...],
        data: bytes,
        label: str,
        errors: list[tuple[str, str]],
    ) -> bool:
        """Carry out one decision; False when nothing changed in a mailbox."""
        failed = False
        changed = False
        for action in decision.fileinto:
            effects = Effects()
            target = await fileinto_target(self.ops, owner, run, action, effects, label)
            if target is None:
                errors.extend((where, text.removesuffix("; kept in INBOX")) for where, text in effects.errors)
                failed = True
                continue
            account_id, name, flags = target
            try:
                if actor.account.id != owner.id:
                    # The user who caused the event needs the insert right there (RFC 4314 §2.1).
                    info = await self.ops.lookup(account_id, name)
                    if "i" not in await self.ops.access.rights_on(actor.account, info.id, account_id):
                        raise OpsError(Code.NOPERM, f"{actor.account.address} may not insert into {name!r}")
                # RFC 6785 §3.3: a new message, separate from the original (edits made for it kept).
                body = action.message if action.message is not None else data
                await self.ops.append(account_id, name, body, sorted(flags))
                changed = True
            except (OpsError, StoreError) as error:
                errors.append((label, f"fileinto {action.mailbox!r}: {error}"))
                failed = True
        message = SieveMessage.from_bytes(data)
        for redirect in decision.redirect:
            reason = self._redirect_refused(redirect.address, owner, message, len(decision.redirect))
            if reason is None:
                body = redirect.message if redirect.message is not None else data
                stamped = stamp(body, owner.address)
                reason = await self._send(Outgoing(owner.address, (redirect.address,), stamped, "redirect"))
            if reason is not None:
                errors.append((label, f"redirect to {redirect.address}: {reason}"))
                failed = True
        for notify in decision.notify:
            note = notify_message(
                notify, owner.address, hostname=self.settings.hostname, now=datetime.now(UTC)
            )
            reason = await self._send(Outgoing(notify.envelope_sender, notify.recipients, note, "notify"))
            if reason is not None:
                errors.append((label, f"notify {', '.join(notify.recipients)}: {reason}"))
        rights = actor.rights
        if decision.keep and decision.flags is not None:
            # RFC 6785 §3.8: "The flag changes behave as though a client had made the change":
            # those the user may change (RFC 4314 §4), the others stay as they are.
            wanted = {flag.lower(): flag for flag in decision.flags}
            held = {flag.lower(): flag for flag in current}
            allowed = [
                flag for flag in changed_flags(current, decision.flags) if acl.flag_allowed(rights, flag)
            ]
            for flag in allowed:
                key = flag.lower()
                if key in wanted:
                    held[key] = wanted[key]
                else:
                    held.pop(key, None)
            if allowed:
                await self.ops.store_flags(mailbox.id, [uid], "replace", sorted(held.values()))
                changed = True
        elif not decision.keep and not failed and acl.flag_allowed(rights, DELETED):
            # RFC 6785 §2.2.4, §3.3-§3.5: without a keep the original is marked \Deleted (not
            # expunged); never when an action that would have kept a copy failed.
            await self.ops.store_flags(mailbox.id, [uid], "add", [DELETED])
            changed = True
        return changed

    def _redirect_refused(
        self, address: str, owner: Account, message: SieveMessage, count: int
    ) -> str | None:
        if address.lower() == owner.address.lower():
            return "the mailbox's owner itself"
        if loops(message, owner.address):
            return f"mail loop ({LOOP_FIELD})"  # RFC 5228 §4.2
        if count > self.settings.sieve.max_redirects:
            return "over sieve.max_redirects"
        return None

    async def _send(self, outgoing: Outgoing) -> str | None:
        if self.outbound is None:
            return "no outbound queue in this process"
        try:
            await self.outbound(outgoing)
        except (OSError, StoreError) as error:
            return str(error)
        return None

    async def _record(
        self, owner_id: AccountId, errors: Sequence[tuple[str, str]], mailbox: str = ""
    ) -> None:
        """Errors for the owner: a row (``pochta sieve errors USER``) and a log line."""
        now = int(time.time())
        for label, error in errors:
            _log.warning(
                "imapsieve script failed", account=owner_id, mailbox=mailbox, script=label, error=error
            )
            try:
                await self.store.add_sieve_error(owner_id, now, f"imap:{label}", error)
            except StoreError as exc:
                _log.error("recording a sieve error failed", account=owner_id, error=repr(exc))


async def after_event(session: Session, event: Event, rights: frozenset[str] = acl.ALL) -> None:
    """A command handler's call once its change is committed: the scripts of ``event`` run now
    (before the tagged reply); what they changed in the selected mailbox is read back before it."""
    sieve = session.services.imapsieve
    if sieve is None or session.account is None or not event.uids:
        return
    if await sieve.handle(event, Actor(session.account, session.conn.peer_ip, rights)):
        selected = session.selected
        if selected is not None:
            session.mark_stale()  # RFC 6785 §3.8: the client is told as if it had made the change
