"""What delivery does to the copies it forwards (alias targets outside our domains, Sieve redirect)
and to the bounces that come back for them: SRS (``pochta.mail.srs``) with the data directory's
secrets, and the grouping of forwarded recipients by forwarding domain (each group is one queue
entry: its own SRS envelope sender, its own ARC sealer, docs/deliverability.md "SRS").

Who is rewritten: a non-null envelope sender of a domain that is not ours. Local senders keep
their address (our SPF covers it already), and the null sender stays null (a bounce must not
bounce). A bounce (null sender) to a valid SRS address of one of our domains goes back to the
address it encodes; anything else sent to an SRS address is refused (see ``bounce_target``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from pochta.bootstrap import ensure_srs_secret
from pochta.config import Settings, resolve_path
from pochta.mail import srs
from pochta.proto.smtp import Reply

__all__ = ["BounceTarget", "Forwarding", "load_srs_key"]

# Characters an SRS local part cannot carry unquoted: a sender with them (a quoted local part) is
# passed on unchanged rather than rewritten into an address that needs quoting.
_UNSAFE = frozenset(' "\\@<>()[],;:\t')


def load_srs_key(settings: Settings, data_dir: Path) -> srs.SrsKey:
    """The SRS secrets: ``srs.secrets`` when set, else ``srs.secret_file`` (made when missing)."""
    config = settings.srs
    if config.secrets:
        secrets = srs.parse_secrets(config.secrets)
    else:
        path = resolve_path(data_dir, config.secret_file)
        ensure_srs_secret(path)
        secrets = srs.parse_secrets(path.read_text(encoding="utf-8").splitlines())
    return srs.SrsKey(secrets, config.max_age_days)


@dataclass(frozen=True)
class BounceTarget:
    """The answer to RCPT TO an SRS address of ours: ``address`` to send the bounce back to, or a
    ``refusal``."""

    address: str | None = None
    refusal: Reply | None = None


class Forwarding:
    """SRS for one ``Delivery``; ``is_local`` says whether a domain is ours (the directory)."""

    def __init__(
        self, settings: Settings, data_dir: Path, is_local: Callable[[str], Awaitable[bool]]
    ) -> None:
        self.key = load_srs_key(settings, data_dir) if settings.srs.enabled else None
        self._is_local = is_local

    def handles(self, local: str) -> bool:
        """Is this recipient local part one SRS answers for (``bounce_target``)?"""
        return self.key is not None and srs.is_srs(local)

    async def sender(self, sender: str, forwarder: str, now: float | None = None) -> str:
        """The envelope sender of a copy of mail from ``sender`` forwarded by ``forwarder`` (our
        domain): the SRS address, or ``sender`` itself when it is not to be rewritten."""
        local, at, domain = sender.rpartition("@")
        if self.key is None or not at or not local or not forwarder or _UNSAFE.intersection(local):
            return sender
        if await self._is_local(domain):
            return sender
        return srs.forward(self.key, sender, forwarder.lower(), time.time() if now is None else now)

    async def bounce_target(
        self, recipient: str, sender: str, now: float | None = None
    ) -> BounceTarget | None:
        """RCPT TO an SRS address: where the bounce goes, a refusal, or None when the domain is not
        ours (the address is routed like any other)."""
        if self.key is None:
            return None
        if not await self._is_local(recipient.rpartition("@")[2]):
            return None
        try:
            original = srs.reverse(self.key, recipient, time.time() if now is None else now)
        except srs.SrsError as exc:
            # A forged or expired address: an unknown user (RFC 3463 X.1.1), with the reason.
            return BounceTarget(
                refusal=Reply(550, (f"Not a valid SRS address of this server: {exc}",), "5.1.1")
            )
        if sender:
            # Our SRS addresses exist to take bounces back: a message with a sender is no bounce,
            # and relaying it to the encoded address would make us an open relay for it.
            return BounceTarget(
                refusal=Reply(
                    550, ("SRS addresses of this server accept bounces (null sender) only",), "5.7.1"
                )
            )
        return BounceTarget(address=original)
