"""Sieve's step in a delivery (``Delivery.place`` and after ``Delivery.file``): per recipient and
destination account with scripts, run them (``sieve_run``) and resolve what they decided
(``sieve_carry``); once the message is stored, append the other copies, queue the messages the
scripts send, keep the duplicate records and the errors.

Nothing here can lose the message: a failure before it is stored turned into the implicit keep
(``sieve_run``, ``sieve_carry``); a failure after (an edited copy that cannot be appended, a
redirect the queue refuses) files the message as it came into INBOX instead.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from pochta.config import Settings
from pochta.delivery.resolve import Destination
from pochta.delivery.sieve_carry import INBOX, Effects, Filing, Outgoing, carry
from pochta.delivery.sieve_run import SieveRunner, environment
from pochta.log import get_logger
from pochta.mail.errors import OpsError
from pochta.mail.ops import MailOps
from pochta.sieve import Envelope as SieveEnvelope
from pochta.store.api import StoreError
from pochta.store.model import Account

__all__ = ["Decided", "SieveInput", "SieveStep", "Work"]

_log = get_logger(component="sieve")


@dataclass(frozen=True)
class SieveInput:
    """What a delivery tells Sieve: the envelope sender ("" null), the client, the phase (RFC 5183
    §4.1 "during" in the SMTP/LMTP transaction, "post" from the queue), the message's octets (read
    only when a script runs) and whether a reject may be answered in the transaction (RFC 5429 §2.1:
    LMTP, or SMTP with a single recipient)."""

    sender: str
    helo: str | None
    peer: str
    phase: str
    read: Callable[[], Awaitable[bytes]]
    can_refuse: bool


@dataclass
class Work:
    """One destination account's effects, carried out once the message is stored."""

    account: Account
    effects: Effects
    data: bytes


@dataclass
class Decided:
    """Per recipient: per destination the effects (None: no script ran), the reject's reason when
    answered in the transaction, and the work for after the store."""

    effects: list[list[Effects | None]] = field(default_factory=list)
    refusals: list[str | None] = field(default_factory=list)
    work: list[list[Work]] = field(default_factory=list)


class SieveStep:
    def __init__(self, runner: SieveRunner, ops: MailOps, settings: Settings) -> None:
        self.runner = runner
        self.ops = ops
        self.settings = settings

    async def decide(
        self,
        recipients: Sequence[tuple[str, Sequence[Destination], bool]],
        given: SieveInput,
        version: int | None = None,
    ) -> Decided | None:
        """``recipients``: (address, local destinations, forwarded elsewhere too); ``version``: the
        directory version this delivery's recipients were resolved under (None: read it now). None
        when no destination account has a script (the common case: no read, no work)."""
        runner = self.runner
        if version is None and not runner.admin_configured():
            version = self.ops.store.directory_version()
        wanted = [[await runner.has_scripts(d.account, version) for d in dests] for _, dests, _ in recipients]
        if not any(any(row) for row in wanted):
            return None
        data = await given.read()
        env = environment(
            hostname=self.settings.hostname, peer=given.peer, helo=given.helo, phase=given.phase
        )
        decided = Decided()
        for (address, dests, forwarded), row in zip(recipients, wanted, strict=True):
            effects_row: list[Effects | None] = []
            work_row: list[Work] = []
            refusal: str | None = None
            # RFC 5429 §2.1: refused in the transaction only when this recipient is one account alone.
            can_refuse = given.can_refuse and len(dests) == 1 and not forwarded
            for destination, has in zip(dests, row, strict=True):
                if not has:
                    effects_row.append(None)
                    continue
                effects = await self._one(destination.account, address, data, given.sender, env, can_refuse)
                if effects is None:
                    effects_row.append(None)
                    continue
                if effects.refusal is not None:
                    refusal = effects.refusal
                effects_row.append(effects)
                work_row.append(Work(destination.account, effects, data))
            decided.effects.append(effects_row)
            decided.refusals.append(refusal)
            decided.work.append(work_row)
        return decided

    async def _one(
        self, account: Account, address: str, data: bytes, sender: str, env: dict[str, str], can_refuse: bool
    ) -> Effects | None:
        envelope = SieveEnvelope(sender, address)
        try:
            ran = await self.runner.run(account, data, envelope, env, (address,))
            if ran is None:
                return None
            return await carry(
                ran,
                account,
                data,
                envelope,
                ops=self.ops,
                hostname=self.settings.hostname,
                can_refuse=can_refuse,
                max_redirects=self.settings.sieve.max_redirects,
                redirect_from=self.settings.sieve.redirect_envelope_from,
            )
        except Exception as exc:  # never lose mail: whatever broke, the message goes to INBOX
            _log.exception("sieve failed; kept in INBOX", account=account.address)
            effects = Effects()
            effects.filings.append(Filing(account.id, INBOX))
            effects.errors.append(("sieve", f"internal error: {exc!r}; kept in INBOX"))
            return effects

    async def finish(self, work: Sequence[Work], enqueue: Callable[[Outgoing], Awaitable[None]]) -> None:
        """After the message is stored: the copies, the messages to send, the records, the errors."""
        now = int(time.time())
        for item in work:
            account, effects = item.account, item.effects
            errors = list(effects.errors)
            rescue = False
            for copy in effects.copies:
                try:
                    await self.ops.append(copy.account_id, copy.name, copy.data, copy.flags)
                except (OpsError, StoreError) as error:
                    errors.append(("sieve", f"storing into {copy.name!r}: {error}; kept in INBOX"))
                    rescue = True
            for outgoing in effects.outgoing:
                try:
                    await enqueue(outgoing)
                except (OSError, StoreError) as error:
                    errors.append(("sieve", f"{outgoing.kind} to {', '.join(outgoing.recipients)}: {error}"))
                    rescue = rescue or outgoing.kind == "redirect"
            if rescue and not any(f.account_id == account.id and f.name == INBOX for f in effects.filings):
                try:
                    await self.ops.append(account.id, INBOX, item.data)
                except (OpsError, StoreError) as error:
                    # Not stored anywhere: the transaction answers 451 and the client tries again.
                    _log.error("sieve rescue into INBOX failed", account=account.address, error=repr(error))
                    raise StoreError(f"sieve: keeping the message in INBOX failed: {error}") from error
            if effects.duplicates:
                try:
                    await self.ops.store.sieve_track_duplicates(account.id, effects.duplicates, now)
                except StoreError as error:
                    errors.append(("sieve", f"duplicate tracking: {error}"))
            if errors:
                await self.runner.record_errors(account, errors)
