"""The MX gate of one connection: what the checks of ``[dnsbl]``, ``[greylisting]`` and
``[connection_checks]`` say at each step of a session from a client outside trusted_networks.

- at connect (``admit``): a temporary block (too many unknown recipients before), the connection
  rate; then ``greet_wait`` (early talkers). The client's DNS list lookups start here;
- at HELO (``helo``): the name's syntax and whether it claims to be us; its domain-list lookup starts;
- at MAIL (``mail``): the message rate; the sender domain's lookup starts;
- at RCPT (``rcpt``, before the recipient is resolved): the lists' verdict, then greylisting of a
  recipient that exists. RFC 5321 §4.5.1: mail to postmaster is never refused by a list, so the
  refusal waits for RCPT (as Postfix does);
- after RCPT (``after_rcpt``): unknown recipients counted; past the limit, 421 and a block.

Each refusal is logged (``mx refused``, with the check) and counted (``pochta_mx_refusals``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from pochta.config import Settings
from pochta.delivery.gate import dnsbl, greylist
from pochta.delivery.gate.helo import helo_refusal
from pochta.mailauth.spf import check_spf
from pochta.mime.address import SmtpPath
from pochta.plural import plural
from pochta.proto.smtp import Reply

if TYPE_CHECKING:
    from pochta.delivery.gate.gate import Gate
    from pochta.server.connection import Connection

__all__ = ["GateSession"]

_UNKNOWN_USER = "5.1.1"


def _blocked(what: str, zone: str) -> Reply:
    return Reply(554, (f"Service unavailable; {what} blocked using {zone}",), "5.7.1")


def _is_postmaster(path: SmtpPath) -> bool:
    return path.local.lower() == "postmaster"


class GateSession:
    def __init__(self, gate: Gate, conn: Connection) -> None:
        self.gate = gate
        self.conn = conn
        self.ip = conn.peer_ip
        self.settings: Settings = gate.settings
        self.unknown = 0
        self.helo_name: str | None = None
        self.sender: SmtpPath | None = None
        self._client: asyncio.Task[dnsbl.ClientListing] | None = None
        self._helo_list: asyncio.Task[tuple[dnsbl.Hit | None, tuple[str, ...]]] | None = None
        self._sender_list: asyncio.Task[tuple[dnsbl.Hit | None, tuple[str, ...]]] | None = None
        self._spf_pass: bool | None = None  # this transaction's SPF result for MAIL FROM, once asked

    # -- bookkeeping ---------------------------------------------------------------------------------

    def refuse(self, check: str, reply: Reply, **fields: object) -> Reply:
        self.conn.metrics.mx_refusals.labels(check=check).inc()
        self.conn.log.info(
            "mx refused", check=check, ip=self.ip, code=reply.code, reason=reply.lines[0], **fields
        )
        return reply

    def close(self) -> None:
        for task in (self._client, self._helo_list, self._sender_list):
            if task is not None and not task.done():
                task.cancel()

    # -- connect ----------------------------------------------------------------------------------

    def admit(self) -> Reply | None:
        """A refusal of the connection (421, then close), or None; starts the list lookups."""
        hostname, limits = self.settings.hostname, self.gate.limits
        left = limits.blocked_for(self.ip)
        if left > 0:
            text = f"{hostname} Client [{self.ip}] temporarily blocked; try again later"
            return self.refuse("blocked", Reply(421, (text,), "4.7.0"), seconds=round(left))
        if not limits.connection(self.ip):
            text = f"{hostname} Too many connections from [{self.ip}]; try again later"
            return self.refuse("connection_rate", Reply(421, (text,), "4.7.0"))
        lists = self.settings.dnsbl
        if lists.zones or lists.allow_zones:
            self._client = asyncio.ensure_future(dnsbl.lookup_client(lists, self.gate.resolver, self.ip))
        return None

    async def greet_wait(self) -> Reply | None:
        """Waits ``greet_delay`` before the greeting: a client that talks meanwhile is refused
        (RFC 5321 §4.3.1: the client SHOULD wait for the greeting; spam software often does not)."""
        delay = self.settings.connection_checks.greet_delay
        if delay <= 0:
            return None
        conn = self.conn
        idle = conn.idle_timeout
        conn.set_idle_timeout(delay)
        try:
            data = await conn.read_some()
        except TimeoutError:  # IdleTimeout: the client waited, as it must
            return None
        finally:
            conn.set_idle_timeout(idle)
        if not data:
            return None  # gone already; the session loop sees the end of stream
        text = f"{self.settings.hostname} Protocol error: client spoke before the greeting"
        return self.refuse("early_talker", Reply(554, (text,), "5.5.1"), octets=len(data))

    # -- commands ---------------------------------------------------------------------------------

    def helo(self, name: str) -> Reply | None:
        checks = self.settings.connection_checks
        if checks.helo != "off":
            local_ip = self.conn.local_address.rsplit(":", 1)[0].strip("[]")
            refusal = helo_refusal(name, hostname=self.settings.hostname, local_ip=local_ip, peer_ip=self.ip)
            if refusal is not None:
                if checks.helo == "reject":
                    return self.refuse("helo", refusal, helo=name)
                self.conn.log.info("mx helo suspicious", helo=name, reason=refusal.lines[0])
        lists = self.settings.dnsbl
        if lists.domain_zones and (self._helo_list is None or name != self.helo_name):
            if self._helo_list is not None:
                self._helo_list.cancel()  # another name (EHLO again): its own lookup
            self._helo_list = asyncio.ensure_future(dnsbl.lookup_domain(lists, self.gate.resolver, name))
        self.helo_name = name
        return None

    def mail(self, sender: SmtpPath) -> Reply | None:
        self.sender = sender
        self._spf_pass = None
        if self._sender_list is not None:
            self._sender_list.cancel()
            self._sender_list = None
        if not self.gate.limits.message(self.ip):
            text = f"Too many messages from [{self.ip}]; try again later"
            return self.refuse("message_rate", Reply(451, (text,), "4.7.1"))
        lists = self.settings.dnsbl
        if lists.domain_zones and not sender.is_null:
            self._sender_list = asyncio.ensure_future(
                dnsbl.lookup_domain(lists, self.gate.resolver, sender.domain)
            )
        return None

    @property
    def fast_rcpt(self) -> bool:
        """May RCPT be answered without waiting (no list or greylisting to ask)?"""
        return (
            self._client is None
            and self._helo_list is None
            and self._sender_list is None
            and not (self.settings.greylisting.enabled)
        )

    async def rcpt(self, path: SmtpPath, known: Callable[[SmtpPath], Awaitable[bool]]) -> Reply | None:
        """The lists' refusal or the greylisting deferral of this recipient, or None."""
        listing = await self._listing()
        allowed = listing is not None and listing.allowed_by is not None
        if not allowed and not _is_postmaster(path):
            refusal = await self._list_refusal(listing)
            if refusal is not None:
                return refusal
        if self.settings.greylisting.enabled and not allowed and await known(path):
            return await self._greylist(path)
        return None

    def after_rcpt(self, reply: Reply) -> Reply:
        """Counts an unknown recipient; past ``max_unknown_recipients``: 421 and a block."""
        if reply.enhanced != _UNKNOWN_USER:
            return reply
        self.unknown += 1
        limit = self.settings.connection_checks.max_unknown_recipients
        if not limit or self.unknown <= limit:
            return reply
        self.gate.limits.block(self.ip)
        text = f"{self.settings.hostname} Too many unknown recipients; try again later"
        seconds = self.settings.connection_checks.block_seconds
        return self.refuse("unknown_recipients", Reply(421, (text,), "4.7.0"), blocked=seconds)

    # -- the lists --------------------------------------------------------------------------------

    async def _listing(self) -> dnsbl.ClientListing | None:
        if self._client is None:
            return None
        listing = await self._client
        if listing.failed or listing.errors:
            # Timeouts and SERVFAIL never block mail; error answers are a list refusing us.
            self.conn.log.warning(
                "dnsbl lookup failed",
                ip=self.ip,
                zones=",".join(listing.failed),
                errors=",".join(listing.errors),
            )
        for hit in listing.hits:
            if hit.action == "log" or listing.allowed_by is not None:
                self.conn.log.info("dnsbl listed", ip=self.ip, zone=hit.zone, code=hit.code, action="log")
        return listing

    async def _list_refusal(self, listing: dnsbl.ClientListing | None) -> Reply | None:
        """The client list's refusal, else the domain lists' (HELO name, then sender domain)."""
        hit = listing.refusal if listing is not None else None
        if hit is not None:
            reply = _blocked(f"client [{self.ip}]", hit.zone)
            return self.refuse("dnsbl", reply, zone=hit.zone, answer=hit.code)
        for task, what in ((self._helo_list, "HELO name"), (self._sender_list, "sender domain")):
            if task is None:
                continue
            found, failed = await task
            if failed:
                self.conn.log.warning("dnsbl lookup failed", what=what, zones=",".join(failed))
            if found is None:
                continue
            name = self.helo_name if what == "HELO name" else (self.sender.domain if self.sender else "")
            if found.action == "log":
                self.conn.log.info("dnsbl listed", what=what, name=name, zone=found.zone, action="log")
                continue
            return self.refuse(
                "dbl", _blocked(f"{what} {name}", found.zone), zone=found.zone, answer=found.code
            )
        return None

    # -- greylisting ------------------------------------------------------------------------------

    async def _greylist(self, path: SmtpPath) -> Reply | None:
        settings, sender = self.settings.greylisting, self.sender
        if sender is None or self.gate.greylist_allows(self.ip, sender):
            return None
        key = greylist.triplet(self.ip, sender, path)
        store = self.gate.store
        now = int(time.time())
        row = await store.greylist_get(key.client, key.sender, key.recipient)
        pass_now = False
        if (row is None or not row.passed) and settings.spf_known_senders and key.sender_domain:
            known = await store.greylist_sender_known(key.sender_domain, now - int(settings.retain))
            pass_now = known and await self._spf_passes()
        new = greylist.advance(row, key, now, settings, pass_now=pass_now)
        if new != row:
            await store.greylist_put(new)
        wait = greylist.wait_seconds(new, now, settings)
        if not wait:
            if row is None or not row.passed:
                self.conn.log.info(
                    "greylist passed",
                    client=key.client,
                    sender=key.sender,
                    recipient=key.recipient,
                    spf=pass_now,
                )
            return None
        reply = Reply(451, (f"Greylisted, try again in {plural(wait, 'second')}",), "4.7.1")
        return self.refuse("greylist", reply, client=key.client, sender=key.sender, recipient=key.recipient)

    async def _spf_passes(self) -> bool:
        """SPF for this transaction's MAIL FROM (asked once; the DNS answers stay in the resolver's
        cache for the check at the end of DATA)."""
        if self._spf_pass is None:
            sender = self.sender.address if self.sender is not None else ""
            config = self.settings.mailauth
            result = await check_spf(
                self.gate.resolver,
                self.ip,
                sender,
                self.helo_name,
                receiver=self.settings.hostname,
                void_limit=config.spf_void_lookups,
                time_limit=config.spf_timeout,
            )
            self._spf_pass = result.mailfrom.result == "pass"
        return self._spf_pass
