"""The queue worker: claims due messages, delivers them, records the outcome with its DSNs.

One worker runs in each server process (``[queue] worker``); several may share a store, and the
lease (``OutboundQueue.claim_queue``) gives each message to one of them at a time. A message's due
recipients are grouped by domain; each group is routed (transport map, MX) and sent in one SMTP
transaction, or delivered locally when the domain is ours (bounces to local senders, for example).
The outcome and the notices it causes (``policy.decide``) are recorded in one store commit, so a
crash never loses a DSN nor sends one twice for the same attempt.

While an attempt runs, the worker renews its leases every third of ``lease_seconds``; after a crash
the lease expires and any worker takes the message again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import os
import secrets
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Generic, Protocol, TypeVar

from pochta.config import Settings
from pochta.log import get_logger
from pochta.metrics import METRICS
from pochta.proto.smtp import Reply
from pochta.queue.arc_seal import seal_message
from pochta.queue.client import (
    AttemptResult,
    ClientOptions,
    OutboundMessage,
    OutboundRecipient,
    deliver,
    verifying_context,
)
from pochta.queue.dkim_sign import DkimSigner, Prefixed
from pochta.queue.dsn import DsnReport, build_dsn
from pochta.queue.policy import Decision, decide, due_recipients
from pochta.queue.route import RouteError, Router, RouteSettings
from pochta.queue.tls_policy import Plan, TransportSecurity, tls_required_no
from pochta.resolver import DnsResolver
from pochta.store.api import Store
from pochta.store.queue_model import (
    NewQueueEntry,
    NewQueueRecipient,
    QueuedRecipient,
    QueueEntry,
    QueueId,
    RecipientOutcome,
)


class LocalDelivery(Protocol):
    """Delivery into our own mailboxes (``pochta.delivery``), for queued mail to local domains."""

    async def is_local_domain(self, domain: str) -> bool: ...
    async def deliver_queued(self, entry: QueueEntry, addresses: Sequence[str]) -> dict[str, Reply]:
        """One reply per address (2xx stored, 4xx try later, 5xx refused)."""


T = TypeVar("T")


def _domain(address: str) -> str:
    return address.rpartition("@")[2].lower()


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class _Once(Generic[T]):
    """An awaitable computed at most once, when first asked for (the DKIM signatures of an attempt:
    only if a group of it goes to another server, once for all such groups)."""

    def __init__(self, make: Callable[[], Awaitable[T]]) -> None:
        self._make = make
        self._task: asyncio.Task[T] | None = None

    async def get(self) -> T:
        if self._task is None:
            self._task = asyncio.ensure_future(self._make())
        return await asyncio.shield(self._task)


class QueueWorker:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        local: LocalDelivery,
        *,
        owner: str | None = None,
        router: Router | None = None,
        dns: DnsResolver | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.settings = settings
        self.queue = settings.queue
        self.local = local
        self.owner = owner or default_owner()
        self.clock = clock
        # The server's one DNS resolver (shared with delivery: one cache), else one of its own.
        self.dns = dns or DnsResolver.from_settings(settings)
        self.router = router or Router(
            RouteSettings(
                transport=self.queue.transport,
                nameservers=self.queue.dns_nameservers,
                timeout=self.queue.dns_timeout,
                port=self.queue.port,
                local_names=(settings.hostname,),
            ),
            resolver=self.dns,
        )
        verify = self.queue.tls_verify
        self.client_options = ClientOptions(
            helo_name=settings.hostname,
            connect_timeout=self.queue.connect_timeout,
            command_timeout=self.queue.command_timeout,
            data_timeout=self.queue.data_timeout,
            tls=self.queue.tls,
            tls_context=verifying_context(self.queue.tls_ca_file) if verify else None,
            pkix_context=verifying_context(self.queue.tls_ca_file),
        )
        self.security = TransportSecurity(
            store, self.queue, resolver=self.dns, clock=lambda: self.clock().timestamp()
        )
        self.log = get_logger(task="queue", owner=self.owner)
        # DKIM signing and ARC sealing share one signer: the keys read once per directory version.
        wanted = settings.dkim.sign or settings.arc.seal
        self.signer = DkimSigner(store) if wanted else None
        self.authserv_id = settings.mailauth.authserv_id or settings.hostname
        self._wake = asyncio.Event()
        self._active: dict[QueueId, asyncio.Task[None]] = {}
        self.attempts = 0  # finished attempts, for tests and the log
        # Told each recorded attempt's outcomes (JMAP EmailSubmission's deliveryStatus); its
        # failures are logged, never the delivery's.
        self.on_outcomes: Callable[[QueueEntry, Sequence[RecipientOutcome]], Awaitable[None]] | None = None

    def wake(self) -> None:
        """Something was queued (or made due) in this process: look now rather than at the next poll."""
        self._wake.set()

    # --- the loop --------------------------------------------------------------------------------

    async def run(self) -> None:
        """Until cancelled. On cancellation, attempts in flight get ``server.shutdown_grace`` to finish;
        the rest give their leases back."""
        renewer = asyncio.create_task(self._renew_leases())
        try:
            while True:
                await self._claim_and_start()
                await self._sleep()
        finally:
            renewer.cancel()
            await self._stop_active(self.settings.server.shutdown_grace)

    async def run_until_idle(self, *, deadline: float = 600.0) -> int:
        """Deliver everything due now, wait for the attempts, return how many ran (``pochta queue flush``)."""
        renewer = asyncio.create_task(self._renew_leases())
        before = self.attempts
        try:
            async with asyncio.timeout(deadline):
                while True:
                    started = await self._claim_and_start()
                    if not started and not self._active:
                        return self.attempts - before
                    if self._active:
                        await asyncio.wait(list(self._active.values()), return_when=asyncio.FIRST_COMPLETED)
        finally:
            renewer.cancel()
            await self._stop_active(0)

    async def _claim_and_start(self) -> int:
        free = self.queue.concurrency - len(self._active)
        if free <= 0:
            return 0
        try:
            entries = await self.store.claim_queue(self.owner, self.clock(), self.queue.lease_seconds, free)
        except Exception as exc:  # the store is unwell: log, and try again at the next poll
            self.log.error("queue claim failed", error=repr(exc))
            return 0
        for entry in entries:
            task = asyncio.create_task(self._attempt_guarded(entry))
            self._active[entry.id] = task
            task.add_done_callback(functools.partial(self._finished, entry.id))
        return len(entries)

    def _finished(self, queue_id: QueueId, _task: asyncio.Task[None]) -> None:
        self._active.pop(queue_id, None)
        self._wake.set()  # a slot is free

    async def _sleep(self) -> None:
        wait = self.queue.poll_interval
        with contextlib.suppress(Exception):
            due = await self.store.queue_next_due()
            if due is not None:
                wait = min(wait, max(0.05, (due - self.clock()).total_seconds()))
        if len(self._active) >= self.queue.concurrency:
            wait = self.queue.poll_interval  # nothing can start before a slot frees (which wakes us)
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):  # not wait_for: see tests/test_quality.py
                await self._wake.wait()

    async def _renew_leases(self) -> None:
        interval = self.queue.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            if self._active:
                until = self.clock() + timedelta(seconds=self.queue.lease_seconds)
                with contextlib.suppress(Exception):
                    await self.store.renew_queue_leases(self.owner, list(self._active), until)

    async def _stop_active(self, grace: float) -> None:
        tasks = list(self._active.values())
        if not tasks:
            return
        if grace > 0:
            await asyncio.wait(tasks, timeout=grace)
        for queue_id, task in list(self._active.items()):
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            with contextlib.suppress(Exception):
                await self.store.release_queue_lease(self.owner, queue_id)

    # --- one attempt -----------------------------------------------------------------------------

    async def _attempt_guarded(self, entry: QueueEntry) -> None:
        try:
            await self.attempt(entry)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # A bug or a store failure must not spin: the due recipients wait one retry step.
            self.log.error("queue attempt failed", id=entry.id, error=repr(exc))
            failure = Reply(451, (f"internal error: {type(exc).__name__}",), "4.3.0")
            due = due_recipients(entry, self.clock())
            with contextlib.suppress(Exception):
                await self._record(entry, {r.id: failure for r in due}, {}, {})
        finally:
            self.attempts += 1

    async def attempt(self, entry: QueueEntry) -> None:
        """Deliver the due recipients of one leased message and record what happened."""
        due = due_recipients(entry, self.clock())
        if not due:
            await self.store.release_queue_lease(self.owner, entry.id)
            return
        groups: dict[str, list[QueuedRecipient]] = {}
        for recipient in due:
            groups.setdefault(_domain(recipient.address), []).append(recipient)
        signing = _Once(functools.partial(self._signatures, entry))
        results = await asyncio.gather(
            *(self._deliver_group(entry, d, g, signing) for d, g in groups.items())
        )
        replies: dict[int, Reply] = {}
        mtas: dict[int, str | None] = {}
        dsn_ok: dict[int, bool] = {}
        via: dict[int, str | None] = {}
        for group, result in zip(groups.values(), results, strict=True):
            for recipient in group:
                replies[recipient.id] = result.replies[recipient.address]
                mtas[recipient.id] = result.remote_mta
                dsn_ok[recipient.id] = result.remote_dsn
                via[recipient.id] = result.tried
        await self._record(entry, replies, mtas, dsn_ok, via)

    async def _signatures(self, entry: QueueEntry) -> bytes:
        """The fields to put before the message for this attempt's remote deliveries: the ARC set
        of a checked forward (module arc_seal) above the DKIM-Signature fields (module dkim_sign).
        A signing or sealing failure is logged and the message goes without rather than waiting."""
        if self.signer is None:
            return b""

        def read() -> bytes:
            with self.store.open_blob(entry.blob) as source:
                return source.read()

        data = await asyncio.to_thread(read)
        prefix = b""
        if self.settings.dkim.sign:
            try:
                prefix = await self.signer.signatures(data, entry.sender)
            except Exception as exc:
                self.log.error("dkim signing failed", id=entry.id, error=repr(exc))
        if self.settings.arc.seal and entry.origin == "checked-forward":
            # RFC 8617 §5.1 step 1: the DKIM signatures first, then the seal over them.
            prefix = await self._seal(entry, prefix + data) + prefix
        return prefix

    async def _seal(self, entry: QueueEntry, data: bytes) -> bytes:
        """The ARC set for ``data`` with the forwarding domain's RSA key: the domain of the
        envelope sender (SRS puts it there), else of the address that forwarded (ORCPT)."""
        assert self.signer is not None
        domains = [entry.sender.rpartition("@")[2]] if "@" in entry.sender else []
        domains += [r.orcpt[1].rpartition("@")[2] for r in entry.recipients if r.orcpt and "@" in r.orcpt[1]]
        try:
            key = await self.signer.seal_key(domains)
            if key is None:
                self.log.info("arc: no active RSA key to seal with", id=entry.id, domains=",".join(domains))
                return b""
            return await asyncio.to_thread(seal_message, data, key, self.authserv_id)
        except Exception as exc:
            self.log.error("arc sealing failed", id=entry.id, error=repr(exc))
            return b""

    async def _deliver_group(
        self, entry: QueueEntry, domain: str, group: list[QueuedRecipient], signing: _Once[bytes]
    ) -> AttemptResult:
        addresses = [r.address for r in group]
        if await self.local.is_local_domain(domain):
            return AttemptResult(await self.local.deliver_queued(entry, addresses))
        try:
            hops = await self.router.route(domain)
        except RouteError as exc:
            code = 550 if exc.permanent else 451
            if exc.status == "5.1.10":
                code = 556  # RFC 7505 §4.1
            reply = Reply(code, (str(exc),), exc.status)  # its text names the domain already
            return AttemptResult({a: reply for a in addresses})
        plan = Plan()
        if self.router.uses_mx(domain):
            # RFC 8689 section 4.2.2: "TLS-Required: No" asks that MTA-STS and DANE be ignored, unless
            # the message also came with REQUIRETLS (which then wins).
            ignore = not entry.requiretls and await asyncio.to_thread(self._tls_required_no, entry)
            plan = await self.security.plan(domain, [h.host for h in hops], ignore_policies=ignore)
            hops = [h for h in hops if h.host not in plan.refusals]
        if not hops:
            await self._count_tls(plan, AttemptResult({}))
            reply = next(iter(plan.refusals.values()))
            return AttemptResult({a: reply for a in addresses}, tried=next(iter(plan.refusals)))
        if entry.requiretls and plan.policy_unavailable:
            # The domain has an MTA-STS policy we could not fetch: a REQUIRETLS message waits for it
            # rather than failing as if the domain had none.
            await self._count_tls(plan, AttemptResult({}))
            text = f"REQUIRETLS: the MTA-STS policy of {domain} could not be fetched"
            reply = Reply(451, (text,), "4.7.10")
            return AttemptResult({a: reply for a in addresses})
        prefix = await signing.get()
        message = OutboundMessage(
            sender=entry.sender,
            recipients=tuple(OutboundRecipient(r.address, r.notify, r.orcpt) for r in group),
            size=entry.blob.size + len(prefix),
            open=lambda: io.BufferedReader(Prefixed(prefix, self.store.open_blob(entry.blob))),
            body=entry.body,
            smtputf8=entry.smtputf8,
            ret=entry.ret,
            envid=entry.envid,
            requiretls=entry.requiretls,
        )
        result = await deliver(hops, message, self.client_options, plan.requirements)
        await self._count_tls(plan, result)
        return result

    def _tls_required_no(self, entry: QueueEntry) -> bool:
        with self.store.open_blob(entry.blob) as source:
            return tls_required_no(source.read(64 * 1024))

    async def _count_tls(self, plan: Plan, result: AttemptResult) -> None:
        """Add the sessions made under a policy to the day's TLS-RPT counts (RFC 8460 section 4)."""
        if not self.settings.tls_rpt.enabled:
            return
        results = list(plan.results)
        for outcome in result.tls:
            policy = plan.reporting.get(outcome.host)
            if policy is not None:
                results.append(policy.result(outcome))
        if results:
            with contextlib.suppress(Exception):  # counting must never hold up or fail a delivery
                await self.store.count_tls_results(self.clock().strftime("%Y-%m-%d"), results)

    async def _record(
        self,
        entry: QueueEntry,
        replies: Mapping[int, Reply],
        mtas: Mapping[int, str | None],
        dsn_ok: Mapping[int, bool],
        via: Mapping[int, str | None] | None = None,
    ) -> None:
        now = self.clock()
        decision = decide(entry, replies, self.queue, now, remote_mta=mtas, remote_dsn=dsn_ok, via=via)
        notices = await self._notices(entry, decision, now)
        recorded = await self.store.finish_attempt(entry.id, self.owner, decision.outcomes, notices, now=now)
        self._log(entry, decision.outcomes, recorded)
        if recorded and self.on_outcomes is not None:
            try:
                await self.on_outcomes(entry, decision.outcomes)
            except Exception:  # the attempt is recorded; its echo elsewhere must not undo that
                self.log.exception("queue outcome listener failed", id=entry.id)
        if notices:
            self.wake()

    async def _notices(self, entry: QueueEntry, decision: Decision, now: datetime) -> list[NewQueueEntry]:
        if not decision.report or not entry.sender:
            return []
        report = DsnReport(
            reporting_mta=self.settings.hostname,
            recipient=entry.sender,
            recipients=decision.report,
            arrival=entry.arrival,
            envid=entry.envid,
            ret="HDRS" if entry.ret == "HDRS" else ("FULL" if entry.ret == "FULL" else None),
            include_original=not entry.requiretls,
        )

        def build() -> bytes:
            with self.store.open_blob(entry.blob) as original:
                return build_dsn(report, original, now=now, max_full_size=self.queue.dsn_max_full_size)

        data = await asyncio.to_thread(build)
        blob = await self.store.new_blob(data)  # a small notice is stored with its queue entry
        notice = NewQueueEntry(
            blob=blob,
            sender="",  # RFC 3461 §6.2 / RFC 5321 §4.5.5: notices go out with the null sender
            recipients=(NewQueueRecipient(entry.sender),),
            origin="dsn",
            arrival=now,
            body="8BITMIME",  # a DSN may carry 8-bit parts (the original, RFC 6533 fields)
            smtputf8=not entry.sender.isascii(),
        )
        return [notice]

    def _log(self, entry: QueueEntry, outcomes: Sequence[RecipientOutcome], recorded: bool) -> None:
        for outcome in outcomes:
            result = "deferred" if outcome.status == "pending" else outcome.status
            METRICS.queue_results.labels(result=result).inc()
            self.log.info(
                "queue attempt",
                id=entry.id,
                recipient=next((r.address for r in entry.recipients if r.id == outcome.recipient_id), "?"),
                status=outcome.status,
                reply=outcome.reply,
                relay=outcome.remote_mta,
                recorded=recorded,
            )
