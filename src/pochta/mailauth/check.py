"""The checks of one message received on the MX, as delivery runs them: ``MailAuth.check`` gives
the typed ``AuthResults`` and ``MailAuth.field`` its Authentication-Results field. One per
``Delivery`` (one DNS cache for every session of a process)."""

from __future__ import annotations

from pochta.config import Settings
from pochta.mailauth.dkim_verify import verify_dkim
from pochta.mailauth.resolver import AuthResolver, Lookups
from pochta.mailauth.results import AuthResults, authentication_results_field, remove_claimed
from pochta.mailauth.spf import SpfCheck, check_spf

__all__ = ["MailAuth"]


class MailAuth:
    def __init__(self, settings: Settings, resolver: AuthResolver | None = None) -> None:
        config = settings.mailauth
        self.config = config
        self.hostname = settings.hostname
        self.authserv_id = config.authserv_id or settings.hostname
        self.max_signatures = config.dkim_max_signatures
        self.resolver = resolver or AuthResolver(
            settings.queue.dns_nameservers,
            settings.queue.dns_timeout,
            cache_size=config.dns_cache_size,
            negative_ttl=config.dns_negative_ttl,
        )

    def strip_forged(self, header: bytes) -> bytes:
        """The header section without Authentication-Results fields claiming our authserv-id."""
        return remove_claimed(header, self.authserv_id)[0]

    async def check(
        self, message: bytes, *, peer_ip: str = "", mail_from: str = "", helo: str | None = None
    ) -> AuthResults:
        """The enabled checks of one message from a client at ``peer_ip`` (SPF only with one)."""
        lookups = Lookups()  # every DNS question asked for this message
        dkim = []
        if self.config.dkim_verify:
            dkim = await verify_dkim(
                message, self.resolver, max_signatures=self.max_signatures, lookups=lookups
            )
        spf: SpfCheck | None = None
        if self.config.spf_verify and peer_ip:
            spf = await check_spf(
                self.resolver,
                peer_ip,
                mail_from,
                helo,
                receiver=self.hostname,
                lookups=lookups,
                void_limit=self.config.spf_void_lookups,
                time_limit=self.config.spf_timeout,
            )
        return AuthResults(self.authserv_id, tuple(dkim), spf)

    @staticmethod
    def field(results: AuthResults) -> bytes:
        return authentication_results_field(results)
