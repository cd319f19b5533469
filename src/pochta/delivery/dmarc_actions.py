"""What delivery does with DMARC's disposition (``AuthResults.disposition``, decided by
``pochta.mailauth.dmarc_policy``): refuse (reject), file into Junk (quarantine), and record the
result for the aggregate reports (docs/deliverability.md "DMARC").

- reject: RFC 7489 section 6.6.4 and 10.3: the SMTP transaction is refused, 550 5.7.1, at the end of
  DATA (one reply on the MX, which speaks SMTP); nothing is stored.
- quarantine: where a recipient's mail would go to INBOX (no script, a Sieve keep, or a fileinto
  INBOX) it goes to the account's \\Junk special-use mailbox instead (or one named Junk; INBOX when
  there is neither). A Sieve ``fileinto`` to another mailbox wins: the user's script chose, and can
  read the DMARC result in the Authentication-Results field.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from pochta.config import Settings
from pochta.log import get_logger
from pochta.mailauth.results import AuthResults
from pochta.proto.smtp import Reply
from pochta.store.api import Store
from pochta.store.dmarc_model import DmarcRow
from pochta.store.model import AccountId, MailboxId

if TYPE_CHECKING:
    from pochta.delivery.envelope import Envelope, Placement

__all__ = ["DmarcActions", "dmarc_row"]


def dmarc_row(
    auth: AuthResults, envelope: Envelope, recipient_domains: Sequence[str], now: int
) -> DmarcRow | None:
    """The report row of a message, None when its domain asks for no aggregate reports."""
    dmarc, disposition = auth.dmarc, auth.disposition
    if dmarc is None or dmarc.record is None or not dmarc.record.rua or disposition is None:
        return None
    record = dmarc.record
    published: dict[str, object] = {
        "p": record.p,
        "sp": record.sp,
        "pct": record.pct,
        "adkim": record.adkim,
        "aspf": record.aspf,
    }
    published["fo"] = record.fo
    spf = []
    if auth.spf is not None:
        spf.append([auth.spf.mailfrom.domain, "mfrom", auth.spf.mailfrom.result])
        if auth.spf.helo is not None:
            spf.append([auth.spf.helo.domain, "helo", auth.spf.helo.result])
    dkim = [[r.domain, r.selector, r.result] for r in auth.dkim if r.domain]
    return DmarcRow(
        received=now,
        policy_domain=dmarc.policy_domain,
        header_from=dmarc.from_domain,
        source_ip=envelope.peer.strip("[]"),
        envelope_from=envelope.sender.domain,
        envelope_to=next((d for d in recipient_domains if d), ""),
        published=json.dumps(published, sort_keys=True),
        rua=",".join(uri.uri + (f"!{uri.max_size}" if uri.max_size else "") for uri in record.rua),
        disposition=disposition.action,
        dkim_aligned=bool(dmarc.dkim_domain),
        spf_aligned=dmarc.spf_aligned,
        override=disposition.override,
        override_comment=disposition.comment,
        auth=json.dumps({"dkim": dkim, "spf": spf}),
    )


class DmarcActions:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.log = get_logger(task="dmarc")

    async def reject(
        self, auth: AuthResults, envelope: Envelope, recipient_domains: Sequence[str]
    ) -> Reply | None:
        """The refusal of a message whose disposition is reject (recorded first), else None."""
        if auth.disposition is None or auth.disposition.action != "reject" or auth.dmarc is None:
            return None
        await self.record(auth, envelope, recipient_domains)
        domain = auth.dmarc.from_domain
        # RFC 7489 section 6.6.4 / 10.3: an SMTP rejection, 5.7.1 (RFC 3463: delivery not authorized).
        return Reply(550, (f"Message refused: DMARC policy of {domain} (p=reject)",), "5.7.1")

    async def quarantine(self, auth: AuthResults, placement: Placement) -> None:
        """Recipients' INBOX filings become their Junk mailbox's (module docstring)."""
        if auth.disposition is None or auth.disposition.action != "quarantine":
            return
        await self.to_junk(placement)

    async def to_junk(self, placement: Placement) -> None:
        """Recipients' INBOX filings become their Junk mailbox's (a DMARC or a milter quarantine)."""
        accounts = {account for pairs in placement.filing for account, _ in pairs}
        moves: dict[MailboxId, MailboxId] = {}
        for account in accounts:
            moves.update(await self._junk(account))
        if not moves:
            return
        placement.filing = [tuple((a, moves.get(m, m)) for a, m in pairs) for pairs in placement.filing]
        for inbox, junk in moves.items():
            if inbox in placement.flags:
                placement.flags[junk] = placement.flags.get(junk, frozenset()) | placement.flags.pop(inbox)

    async def _junk(self, account: AccountId) -> dict[MailboxId, MailboxId]:
        boxes = await self.store.mailboxes(account)
        inbox = next((b.id for b in boxes if b.name == "INBOX"), None)
        junk = next((b.id for b in boxes if b.special_use == "\\Junk"), None)
        if junk is None:
            junk = next((b.id for b in boxes if b.name.lower() == "junk"), None)
        return {inbox: junk} if inbox is not None and junk is not None else {}

    async def record(self, auth: AuthResults, envelope: Envelope, recipient_domains: Sequence[str]) -> None:
        """Keep the result for the aggregate report (mailauth.dmarc_reports). A failure here is
        logged: the message itself is not affected."""
        if not self.settings.mailauth.dmarc_reports:
            return
        row = dmarc_row(auth, envelope, recipient_domains, int(time.time()))
        if row is None:
            return
        try:
            await self.store.add_dmarc_result(row)
        except Exception as exc:  # the message is stored and acknowledged whatever happens here
            self.log.error("recording a DMARC result failed", error=repr(exc))
