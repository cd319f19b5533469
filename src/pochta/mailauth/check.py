"""The checks of one message received on the MX, as delivery runs them: ``MailAuth.check`` gives
the typed ``AuthResults`` and ``MailAuth.field`` its Authentication-Results field. One per
``Delivery`` (one DNS cache for every session of a process)."""

from __future__ import annotations

import asyncio
import dataclasses
import random
from collections.abc import Callable

from pochta.config import Settings
from pochta.mailauth.arc_verify import ArcResult, verify_arc
from pochta.mailauth.dkim_verify import DkimResult, verify_dkim
from pochta.mailauth.dmarc import check_dmarc
from pochta.mailauth.dmarc_policy import decide
from pochta.mailauth.results import AuthResults, authentication_results_field, remove_claimed
from pochta.mailauth.spf import SpfCheck, check_spf
from pochta.resolver import DnsResolver, Lookups

__all__ = ["MailAuth"]


class MailAuth:
    def __init__(
        self,
        settings: Settings,
        resolver: DnsResolver | None = None,
        sample: Callable[[], float] = random.random,  # pct= sampling (RFC 7489 section 6.6.4)
    ) -> None:
        self.sample = sample
        config = settings.mailauth
        self.config = config
        self.hostname = settings.hostname
        self.authserv_id = config.authserv_id or settings.hostname
        self.max_signatures = config.dkim_max_signatures
        self.arc_verify = settings.arc.verify
        self.arc_max_instances = settings.arc.max_instances
        self.resolver = resolver or DnsResolver.from_settings(settings)

    def strip_forged(self, header: bytes) -> bytes:
        """The header section without Authentication-Results fields claiming our authserv-id."""
        return remove_claimed(header, self.authserv_id)[0]

    async def check(
        self, message: bytes, *, peer_ip: str = "", mail_from: str = "", helo: str | None = None
    ) -> AuthResults:
        """The enabled checks of one message from a client at ``peer_ip`` (SPF only with one).
        DMARC needs SPF and DKIM: with dmarc_verify they run even when their own switch is off."""
        config = self.config
        lookups = Lookups()  # every DNS question asked for this message
        dkim: list[DkimResult] = []
        arc: ArcResult | None = None
        if config.dkim_verify or config.dmarc_verify:
            signatures = verify_dkim(
                message, self.resolver, max_signatures=self.max_signatures, lookups=lookups
            )
            if self.arc_verify:
                chain = verify_arc(
                    message, self.resolver, max_instances=self.arc_max_instances, lookups=lookups
                )
                dkim, verified = await asyncio.gather(signatures, chain)  # key lookups run together
                arc = dataclasses.replace(verified, remote_ip=peer_ip)
            else:
                dkim = await signatures
        spf: SpfCheck | None = None
        if (config.spf_verify or config.dmarc_verify) and peer_ip:
            spf = await check_spf(
                self.resolver,
                peer_ip,
                mail_from,
                helo,
                receiver=self.hostname,
                lookups=lookups,
                void_limit=config.spf_void_lookups,
                time_limit=config.spf_timeout,
            )
        if not config.dmarc_verify:
            return AuthResults(self.authserv_id, tuple(dkim), arc, spf)
        dmarc = await check_dmarc(message, self.resolver, spf, dkim, lookups)
        disposition = decide(
            dmarc,
            spf,
            dkim,
            overrides=config.dmarc_overrides,
            allow=config.dmarc_allow,
            enforce=config.dmarc_enforce,
            sample=self.sample(),
        )
        return AuthResults(self.authserv_id, tuple(dkim), arc, spf, dmarc, disposition)

    @staticmethod
    def field(results: AuthResults) -> bytes:
        return authentication_results_field(results)
