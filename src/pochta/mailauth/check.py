"""The checks of one message received on the MX, as delivery runs them: ``MailAuth.check`` gives
the typed ``AuthResults`` and ``MailAuth.field`` its Authentication-Results field. One per
``Delivery`` (one DNS cache for every session of a process)."""

from __future__ import annotations

import asyncio
import dataclasses

from pochta.config import Settings
from pochta.mailauth.arc_verify import verify_arc
from pochta.mailauth.dkim_verify import verify_dkim
from pochta.mailauth.resolver import AuthResolver, Lookups
from pochta.mailauth.results import AuthResults, authentication_results_field, remove_claimed

__all__ = ["MailAuth"]


class MailAuth:
    def __init__(self, settings: Settings, resolver: AuthResolver | None = None) -> None:
        config = settings.mailauth
        self.authserv_id = config.authserv_id or settings.hostname
        self.max_signatures = config.dkim_max_signatures
        self.arc_verify = settings.arc.verify
        self.arc_max_instances = settings.arc.max_instances
        self.resolver = resolver or AuthResolver(
            settings.queue.dns_nameservers,
            settings.queue.dns_timeout,
            cache_size=config.dns_cache_size,
            negative_ttl=config.dns_negative_ttl,
        )

    def strip_forged(self, header: bytes) -> bytes:
        """The header section without Authentication-Results fields claiming our authserv-id."""
        return remove_claimed(header, self.authserv_id)[0]

    async def check(self, message: bytes, *, remote_ip: str = "") -> AuthResults:
        lookups = Lookups()  # SPF (next) shares this count: RFC 7208 section 4.6.4
        dkim = verify_dkim(message, self.resolver, max_signatures=self.max_signatures, lookups=lookups)
        if not self.arc_verify:
            return AuthResults(self.authserv_id, tuple(await dkim))
        arc = verify_arc(message, self.resolver, max_instances=self.arc_max_instances, lookups=lookups)
        signatures, chain = await asyncio.gather(dkim, arc)  # their key lookups run together
        chain = dataclasses.replace(chain, remote_ip=remote_ip)
        return AuthResults(self.authserv_id, tuple(signatures), arc=chain)

    @staticmethod
    def field(results: AuthResults) -> bytes:
        return authentication_results_field(results)
