"""Running Sieve at delivery (docs/sieve.md "At delivery"): which scripts run for an account, the
``DeliveryContext`` they see, and the run itself, off the event loop and bounded in time.

Per worker process, two caches keep the delivery path cheap:
- "who has an active script": one read of the accounts with an active script, kept while
  ``Directory.directory_version`` (moved by every change to ``sieve_scripts``, revision 0021) stays
  the same. An account without a script (and no admin script configured) costs a set lookup.
- compiled scripts, keyed by (account, name, SHA-256 of the source): a script is compiled once
  per worker and version, not per message.

The order of scripts (Pigeonhole's sieve_before/sieve_after): the global ``before`` scripts, the
domain's ``before`` scripts, the user's active script, the domain's ``after`` scripts, the global
``after`` scripts. Each runs over the message as it came; their actions add up, and the implicit
keep stays only when no script cancelled it. A failure of any script (a runtime error, the time
limit, a script that does not compile) makes the result the implicit keep alone, and the error is
recorded for the user (``pochta sieve errors USER``) and logged with the account.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypeVar

from pochta.config import Settings
from pochta.log import get_logger
from pochta.sieve import Envelope as SieveEnvelope
from pochta.sieve import Outcome, RunLimits, Script, SieveMessage, SieveSyntaxError, compile_script, run
from pochta.sieve.actions import FileIntoAction, KeepAction, RedirectAction
from pochta.sieve.imapsieve import DELIVERY_ITEMS
from pochta.sieve.message import ADDRESS_BOOK, DeliveryContext
from pochta.store.api import Store, StoreError
from pochta.store.model import Account, AccountId, MailboxInfo

__all__ = ["Run", "ScriptRef", "SieveRunner"]

T = TypeVar("T")

_COMPILED_MAX = 1000  # compiled scripts kept per worker (least recently used go first)
_log = get_logger(component="sieve")


@dataclass(frozen=True)
class ScriptRef:
    """One script to run: where it comes from (``before:NAME``, the user's script's name,
    ``after:NAME``) and its source."""

    label: str
    source: str


@dataclass(frozen=True)
class Run:
    """What the scripts of one account decided for one message: the combined outcome, the
    scripts that ran, and the context they ran with (the carrier needs the mailboxes)."""

    outcome: Outcome
    labels: tuple[str, ...]
    context: DeliveryContext
    mailboxes: tuple[MailboxInfo, ...]
    errors: tuple[tuple[str, str], ...] = ()  # (script, error) of failed scripts


@dataclass
class _Who:
    version: int | None = None
    accounts: frozenset[AccountId] = frozenset()


@dataclass
class _Aliases:
    """Each address that aliases point at, with the aliases' sources (catch-alls left out)."""

    version: int | None = None
    by_target: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass
class SieveRunner:
    """One per worker process (``Delivery`` holds it)."""

    store: Store
    settings: Settings
    _who: _Who = field(default_factory=_Who)
    _aliases: _Aliases = field(default_factory=_Aliases)
    _compiled: OrderedDict[tuple[int, str, str], Script] = field(default_factory=OrderedDict)
    _admin_scripts: dict[str, tuple[list[ScriptRef], list[ScriptRef]]] = field(default_factory=dict)

    # --- which scripts -----------------------------------------------------------------------------

    def configure(self, settings: Settings) -> None:
        """Settings from a reload: the admin scripts are read again."""
        self.settings = settings
        self._admin_scripts.clear()

    def _admin(self, domain: str) -> tuple[list[ScriptRef], list[ScriptRef]]:
        """The admin scripts for a domain, read from their files once (per settings)."""
        found = self._admin_scripts.get(domain)
        if found is None:
            sieve = self.settings.sieve
            before = [*_files("before", sieve.before), *_files("before", sieve.domain_before.get(domain, []))]
            after = [*_files("after", sieve.domain_after.get(domain, [])), *_files("after", sieve.after)]
            found = self._admin_scripts[domain] = (before, after)
        return found

    def admin_configured(self) -> bool:
        sieve = self.settings.sieve
        return bool(sieve.before or sieve.after or sieve.domain_before or sieve.domain_after)

    async def has_scripts(self, account: Account, version: int | None = None) -> bool:
        """Whether any script runs for ``account``: no read while the directory version holds.
        ``version``: the directory version the caller read for this delivery (None: read it)."""
        if self.admin_configured():
            return True
        if version is None:
            version = self.store.directory_version()
        who = self._who
        if version is None or version != who.version:
            accounts = await self.store.sieve_active_accounts()
            if version is not None:
                self._who = _Who(version, accounts)
            return account.id in accounts
        return account.id in who.accounts

    async def scripts(self, account: Account) -> list[ScriptRef]:
        before, after = self._admin(account.address.rpartition("@")[2].lower())
        mine: list[ScriptRef] = []
        active = await self.store.active_sieve_script(account.id)
        if active is not None:
            mine.append(ScriptRef(active.info.name, active.source))
        return [*before, *mine, *after]

    async def aliases_of(self, account: Account) -> tuple[str, ...]:
        """The aliases whose targets name the account, read again when the directory moves."""
        version = self.store.directory_version()
        cache = self._aliases
        if version is None or version != cache.version:
            by_target: dict[str, list[str]] = {}
            for alias in await self.store.list_aliases():
                if alias.source.startswith("@"):
                    continue  # a catch-all is no address of the user's
                for target in alias.targets:
                    by_target.setdefault(target.lower(), []).append(alias.source)
            cache = _Aliases(version, {key: tuple(value) for key, value in by_target.items()})
            if version is not None:
                self._aliases = cache
        return cache.by_target.get(account.address.lower(), ())

    def compiled(self, account_id: AccountId, ref: ScriptRef) -> Script:
        key = (account_id, ref.label, hashlib.sha256(ref.source.encode()).hexdigest())
        found = self._compiled.get(key)
        if found is not None:
            self._compiled.move_to_end(key)
            return found
        script = compile_script(ref.source, self.settings.sieve.parse_limits())
        self._compiled[key] = script
        while len(self._compiled) > _COMPILED_MAX:
            self._compiled.popitem(last=False)
        return script

    # --- the run -----------------------------------------------------------------------------------

    async def run(
        self,
        account: Account,
        data: bytes,
        envelope: SieveEnvelope,
        environment: dict[str, str],
        user_addresses: Sequence[str],
    ) -> Run | None:
        """Run the account's scripts over ``data``; None when it has none."""
        refs = await self.scripts(account)
        if not refs:
            return None
        return await self.run_scripts(account, refs, data, envelope, environment, user_addresses)

    async def run_scripts(
        self,
        account: Account,
        refs: Sequence[ScriptRef],
        data: bytes,
        envelope: SieveEnvelope,
        environment: dict[str, str],
        user_addresses: Sequence[str],
        *,
        imap_flags: tuple[str, ...] | None = None,
    ) -> Run:
        """Run ``refs`` one after another for ``account`` (the scripts delivery runs, or those of an
        IMAP event: ``imap_flags`` the message's flags then, RFC 6785 §3.8)."""
        loop = asyncio.get_running_loop()
        mailboxes = tuple(await self.store.mailboxes(account.id))
        # RFC 5230 §4.5: the user's own addresses include the aliases that deliver to the account.
        user_addresses = [*user_addresses, *await self.aliases_of(account)]
        context = self._context(account, mailboxes, environment, user_addresses, loop)
        if imap_flags is not None:
            context = replace(context, imap_event=True, flags=imap_flags)
        limits = self.settings.sieve.run_limits()
        wall_time = self.settings.sieve.max_run_time
        outcomes: list[Outcome] = []
        errors: list[tuple[str, str]] = []
        current = data  # the message as the scripts so far left it
        for ref in refs:
            try:
                script = self.compiled(account.id, ref)
            except SieveSyntaxError as error:
                errors.append((ref.label, f"does not compile: {error}"))
                break
            try:
                # The interpreter ends a run past sieve.max_cpu_time itself; this wall-time guard
                # is for a single step it cannot interrupt (the thread then runs on to its end).
                async with asyncio.timeout(wall_time):
                    outcome = await asyncio.to_thread(_run_one, script, current, envelope, limits, context)
            except TimeoutError:
                errors.append((ref.label, f"ran longer than sieve.max_run_time ({wall_time:g} s)"))
                break
            if outcome.error is not None:
                errors.append((ref.label, outcome.error))
                break
            # As Pigeonhole: each script sees the message as the scripts before it left it
            # (editheader, replace, enclose), and its actions store or send that message.
            outcomes.append(_with_message(outcome, current) if current is not data else outcome)
            current = outcome.message if outcome.message is not None else current
            kept = [action for action in outcome.actions if isinstance(action, KeepAction)]
            if imap_flags is not None and kept:
                # RFC 6785 §3.8: the next script sees the message's flags as this one left them.
                context = replace(context, flags=kept[-1].flags)
        labels = tuple(ref.label for ref in refs)
        if errors:
            # Never lose mail: any failure leaves the implicit keep alone (RFC 5228 §2.10.6).
            return Run(
                Outcome((KeepAction(implicit=True),), errors[0][1]), labels, context, mailboxes, tuple(errors)
            )
        combined = combine(outcomes)
        if imap_flags is not None:
            # On an IMAP event a keep's flags are the message's new flags: the last script's, not
            # the union ``combine`` makes for delivery (which would undo a removeflag).
            actions = tuple(
                replace(action, flags=context.flags) if isinstance(action, KeepAction) else action
                for action in combined.actions
            )
            combined = replace(combined, actions=actions)
        return Run(combined, labels, context, mailboxes)

    def _context(
        self,
        account: Account,
        mailboxes: Sequence[MailboxInfo],
        environment: dict[str, str],
        user_addresses: Sequence[str],
        loop: asyncio.AbstractEventLoop,
    ) -> DeliveryContext:
        store, now = self.store, int(time.time())

        def wait(coroutine: Awaitable[T]) -> T:
            # Called from the script's thread: the event loop runs the store call meanwhile.
            return asyncio.run_coroutine_threadsafe(_coro(coroutine), loop).result()

        by_name = {box.name: box for box in mailboxes}
        metadata_cache: dict[str | None, dict[str, bytes]] = {}

        def metadata(mailbox: str | None, entry: str) -> str | None:
            if mailbox not in metadata_cache:
                box = by_name.get(mailbox) if mailbox is not None else None
                if mailbox is not None and box is None:
                    return None
                metadata_cache[mailbox] = wait(store.metadata(box.id if box else None, account.id))
            value = metadata_cache[mailbox].get(entry)
            return value.decode("utf-8", "replace") if value is not None else None

        address_book: dict[str, bool] = {}

        def in_address_book(address: str) -> bool:
            # RFC 6134's default address book: whom the user has written to (until CardDAV's
            # contacts join it); one store query per address and run, only when a script asks.
            key = address.lower()
            if key not in address_book:
                address_book[key] = "@" in key and wait(store.sent_to(account.id, key))
            return address_book[key]

        def load_script(where: str, name: str) -> str | None:
            if where == "global":
                return _global_script(self.settings.sieve.global_dir, name)
            found = wait(store.sieve_script(account.id, name))
            return found.source if found is not None else None

        return DeliveryContext(
            subaddress_separator=self.settings.smtp.subaddress_separator,
            user_addresses=tuple(dict.fromkeys([account.address, *user_addresses])),
            environment=environment,
            mailboxes=frozenset(by_name),
            special_uses={box.name: frozenset({box.special_use}) for box in mailboxes if box.special_use},
            load_script=load_script,
            duplicate_seen=lambda key: wait(store.sieve_duplicate_seen(account.id, key, now)),
            metadata=metadata,
            lists={ADDRESS_BOOK: in_address_book},
        )

    async def record_errors(self, account: Account, errors: Sequence[tuple[str, str]]) -> None:
        """Errors for the user: a row (``pochta sieve errors USER``) and a log line."""
        now = int(time.time())
        for label, error in errors:
            _log.warning(
                "sieve script failed; kept in INBOX", account=account.address, script=label, error=error
            )
            try:
                await self.store.add_sieve_error(account.id, now, label, error)
            except StoreError as exc:  # the log line stays
                _log.error("recording a sieve error failed", account=account.address, error=repr(exc))


async def _coro(awaitable: Awaitable[T]) -> T:
    return await awaitable


def _run_one(
    script: Script, data: bytes, envelope: SieveEnvelope, limits: RunLimits, context: DeliveryContext
) -> Outcome:
    return run(script, SieveMessage.from_bytes(data), envelope, limits, context)


def _with_message(outcome: Outcome, message: bytes) -> Outcome:
    """``outcome``'s actions with ``message`` (an earlier script's edit) where they would store or
    send the message as it came (``message`` None: the script itself changed nothing)."""
    actions = tuple(
        replace(action, message=message)
        if isinstance(action, KeepAction | FileIntoAction | RedirectAction) and action.message is None
        else action
        for action in outcome.actions
    )
    return replace(outcome, actions=actions)


def combine(outcomes: Sequence[Outcome]) -> Outcome:
    """The actions of scripts run one after another: all of them, in order, with the implicit keep
    last when no script cancelled it (with the flags every script gave it)."""
    if len(outcomes) == 1:
        return outcomes[0]
    actions: list[object] = []
    cancelled = False
    implicit: KeepAction | None = None
    flags: list[str] = []
    for outcome in outcomes:
        kept = [a for a in outcome.actions if isinstance(a, KeepAction) and a.implicit]
        if not kept:
            cancelled = True
        else:
            implicit = kept[-1]
            flags.extend(flag for flag in implicit.flags if flag not in flags)
        actions.extend(a for a in outcome.actions if not (isinstance(a, KeepAction) and a.implicit))
    if not cancelled and implicit is not None:
        actions.append(KeepAction(True, tuple(flags), implicit.message))
    return Outcome(
        tuple(actions),  # type: ignore[arg-type]
        notes=tuple(n for o in outcomes for n in o.notes),
        duplicates=tuple(d for o in outcomes for d in o.duplicates),
    )


def _files(where: str, paths: Sequence[Path]) -> list[ScriptRef]:
    refs = []
    for path in paths:
        try:
            refs.append(ScriptRef(f"{where}:{path.name}", path.read_text("utf-8")))
        except (OSError, UnicodeDecodeError) as error:
            _log.error("admin sieve script unreadable", path=str(path), error=repr(error))
    return refs


def _global_script(directory: Path | None, name: str) -> str | None:
    """RFC 6609 §2.2: ``include :global NAME`` reads NAME (or NAME.sieve) from sieve.global_dir."""
    if directory is None or "/" in name or name.startswith("."):
        return None
    for candidate in (directory / name, directory / f"{name}.sieve"):
        try:
            return candidate.read_text("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return None


def environment(
    *, hostname: str, peer: str, helo: str | None, phase: str, location: str = "MDA"
) -> dict[str, str]:
    """RFC 5183 §4.1: the environment items, as an MDA fills them."""
    from pochta import __version__

    items = {
        "domain": hostname.partition(".")[2] or hostname,  # RFC 5183 §4.1: the server's domain
        "host": hostname,
        "location": location,  # RFC 5183 §4.1: "MDA" for final delivery
        "name": "pochta",
        "phase": phase,  # RFC 5183 §4.1: "during" in the transaction, "post" after it
        "version": __version__,
        **DELIVERY_ITEMS,  # RFC 6785 §4.2: imap.user and imap.email, empty at delivery
    }
    address = peer.strip("[]")
    if address and address != "unknown":
        items["remote-ip"] = address.removeprefix("IPv6:")
    if helo:
        items["remote-host"] = helo
    return items
