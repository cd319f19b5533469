"""Periodic store upkeep while the server runs: collecting unreferenced blobs, keeping the
stored view snapshots of big mailboxes near their head (docs/architecture.md "Mailbox views"), and
pruning old expunge records (QRESYNC's VANISHED data, ``store.expunge_record_days``).

Blobs are never deleted at the moment their last message goes (DESIGN "Data model"): a delivery
may be about to refer to the same bytes again, and deleting synchronously would put file-system
work on the path of an expunge. A sweep at a fixed interval deletes those past their grace period.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol

from pochta.config import GreylistSettings, JmapSettings, StoreSettings, WebmailSettings
from pochta.log import get_logger


class CollectsBlobs(Protocol):
    async def collect_blobs(self, grace_seconds: float | None = None) -> list[str]: ...


class PrunesExpunged(Protocol):
    async def prune_expunged(self, older_than_seconds: float) -> int: ...


class PrunesSieveState(Protocol):
    async def prune_sieve_state(self, now: int, error_age: int) -> int: ...


class PrunesGreylist(Protocol):
    async def prune_greylist(self, unconfirmed_before: int, passed_before: int) -> int: ...


class PrunesSendCounts(Protocol):
    async def prune_send_counts(self, now: int) -> int: ...


class PrunesWebSessions(Protocol):
    async def prune_web_sessions(self, now: int, idle: int) -> int: ...


class PrunesUploads(Protocol):
    async def prune_uploads(self, before: int) -> int: ...


class RefreshesSnapshots(Protocol):
    async def refresh_snapshots(self, limit: int = 100) -> int: ...


async def collect_blobs_periodically(store: CollectsBlobs, settings: StoreSettings) -> None:
    """Run until cancelled; a failed sweep is logged and retried at the next interval."""
    log = get_logger(task="blob-collector")
    while True:
        await asyncio.sleep(settings.blob_collect_interval)
        try:
            removed = await store.collect_blobs(settings.blob_grace_seconds)
        except Exception as exc:  # keep serving mail; the next sweep will try again
            log.error("blob collection failed", error=repr(exc))
            continue
        if removed:
            log.info("collected unreferenced blobs", count=len(removed))


async def refresh_snapshots_periodically(store: RefreshesSnapshots, settings: StoreSettings) -> None:
    """Every ``store.view_snapshot_interval`` seconds, store new snapshots of the big mailboxes whose
    stored one is missing or behind (until cancelled; a failed round is logged and retried)."""
    log = get_logger(task="view-snapshots")
    while True:
        await asyncio.sleep(settings.view_snapshot_interval)
        try:
            stored = await store.refresh_snapshots()
        except Exception as exc:  # derived data: a process opening the mailbox reads more meanwhile
            log.error("storing view snapshots failed", error=repr(exc))
            continue
        if stored:
            log.debug("stored view snapshots", count=stored)


async def prune_expunged_periodically(store: PrunesExpunged, settings: StoreSettings) -> None:
    """Every ``store.blob_collect_interval`` seconds, delete expunge records older than
    ``store.expunge_record_days`` (off the hot path: EXPUNGE only inserts them). Until cancelled; a
    failed round is logged and retried."""
    log = get_logger(task="expunge-pruner")
    while True:
        await asyncio.sleep(settings.blob_collect_interval)
        try:
            removed = await store.prune_expunged(settings.expunge_record_days * 86400)
        except Exception as exc:  # QRESYNC stays correct with more records; try again later
            log.error("pruning expunge records failed", error=repr(exc))
            continue
        if removed:
            log.info("pruned expunge records", count=removed)


async def prune_sieve_state_periodically(
    store: PrunesSieveState, settings: StoreSettings, error_days: int
) -> None:
    """Every ``store.blob_collect_interval`` seconds, delete Sieve's expired vacation records
    (RFC 5230 §4.2), expired duplicate records (RFC 7352 §3) and script errors older than
    ``sieve.error_days``. Until cancelled; a failed round is logged and retried."""
    log = get_logger(task="sieve-pruner")
    while True:
        await asyncio.sleep(settings.blob_collect_interval)
        try:
            removed = await store.prune_sieve_state(int(time.time()), error_days * 86400)
        except Exception as exc:  # the records only grow meanwhile
            log.error("pruning sieve records failed", error=repr(exc))
            continue
        if removed:
            log.info("pruned sieve records", count=removed)


async def prune_send_counts_periodically(store: PrunesSendCounts, settings: StoreSettings) -> None:
    """Every ``store.blob_collect_interval`` seconds, delete the sending-limit counts of windows
    that have ended (docs/antispam.md "Sending limits"): an account that sends again drops its own,
    this takes those of accounts that went quiet. Until cancelled; a failed round is logged."""
    log = get_logger(task="send-count-pruner")
    while True:
        await asyncio.sleep(settings.blob_collect_interval)
        try:
            removed = await store.prune_send_counts(int(time.time()))
        except Exception as exc:  # old windows are never read: they only take room meanwhile
            log.error("pruning sending counts failed", error=repr(exc))
            continue
        if removed:
            log.info("pruned sending counts", count=removed)


async def prune_greylist_periodically(store: PrunesGreylist, settings: GreylistSettings) -> None:
    """Every ``greylisting.prune_interval`` seconds, delete triplets whose retry did not come within
    ``greylisting.expiry`` and passed ones unseen for ``greylisting.retain``. Until cancelled; a
    failed round is logged and retried."""
    log = get_logger(task="greylist-pruner")
    while True:
        await asyncio.sleep(settings.prune_interval)
        now = int(time.time())
        try:
            removed = await store.prune_greylist(now - int(settings.expiry), now - int(settings.retain))
        except Exception as exc:  # the table only grows meanwhile
            log.error("pruning greylist failed", error=repr(exc))
            continue
        if removed:
            log.info("pruned greylist triplets", count=removed)


# Expired sessions are refused when they are read (``pochta.web.sessions``); pruning them is only
# upkeep of the table, so an hour between rounds is plenty.
WEB_SESSION_PRUNE_INTERVAL = 3600.0


async def prune_web_sessions_periodically(store: PrunesWebSessions, settings: WebmailSettings) -> None:
    """Every hour, delete webmail sessions past their lifetime or idle for ``webmail.session_idle``.
    Until cancelled; a failed round is logged and retried."""
    log = get_logger(task="web-session-pruner")
    while True:
        await asyncio.sleep(WEB_SESSION_PRUNE_INTERVAL)
        try:
            removed = await store.prune_web_sessions(int(time.time()), settings.session_idle)
        except Exception as exc:  # expired rows are refused when read; they only take room
            log.error("pruning web sessions failed", error=repr(exc))
            continue
        if removed:
            log.info("pruned web sessions", count=removed)


# An upload past its lifetime is refused when it is looked up (``server.jmap.blobs.uploaded_blob``);
# pruning only lets blob collection take its blob, so an hour between rounds is plenty.
UPLOAD_PRUNE_INTERVAL = 3600.0


async def prune_uploads_periodically(store: PrunesUploads, settings: JmapSettings) -> None:
    """Every hour, delete JMAP uploads older than ``jmap.upload_lifetime`` (their blobs are then
    collected when nothing else refers to them). Until cancelled; a failed round is logged and retried."""
    log = get_logger(task="upload-pruner")
    while True:
        await asyncio.sleep(UPLOAD_PRUNE_INTERVAL)
        try:
            removed = await store.prune_uploads(int(time.time()) - settings.upload_lifetime)
        except Exception as exc:  # expired uploads are refused when read; they only keep blobs
            log.error("pruning uploads failed", error=repr(exc))
            continue
        if removed:
            log.info("pruned uploads", count=removed)
