"""Sending DMARC aggregate reports (RFC 7489 section 7.2): the recorded results before a period's
end, one report per policy domain, each to the domain's rua= mailto: addresses through the outbound
queue (``Delivery.enqueue``, the entry point of Sieve's vacation replies and redirects). The rows
reported are then deleted; rows older than ``mailauth.dmarc_report_keep_days`` go in any case.

External destinations (RFC 7489 section 7.1): an address outside the policy domain's
organizational domain gets reports only when ``<policy-domain>._report._dmarc.<its domain>``
publishes a ``v=DMARC1`` TXT record; a destination whose size limit (``!10m``) the report exceeds
is skipped (section 7.2.1.1 MUST NOT).

The housekeeper (one process per data directory) runs ``send_reports_periodically``; ``pochta
dmarc report [--send]`` runs ``send_reports`` by hand.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from pochta.delivery.pipeline import Delivery
from pochta.log import get_logger
from pochta.mailauth.dmarc_record import select_dmarc
from pochta.mailauth.dmarc_report import build_report, needs_authorization, report_message, report_xml
from pochta.resolver import DnsResolver
from pochta.store.queue_model import NewQueueRecipient

__all__ = ["ReportOutcome", "send_reports", "send_reports_periodically"]


@dataclass
class ReportOutcome:
    policy_domain: str
    filename: str
    xml: bytes
    records: int  # the messages it covers
    destinations: list[str] = field(default_factory=list)  # who gets it (when sent)
    sent_to: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (address, why)


async def _authorized(resolver: DnsResolver, policy_domain: str, address: str) -> bool:
    destination = address.rpartition("@")[2].lower().rstrip(".")
    answer = await resolver.txt(f"{policy_domain}._report._dmarc.{destination}")
    return answer.status == "found" and select_dmarc(answer.records) is not None


async def send_reports(
    delivery: Delivery, end: int | None = None, *, send: bool = True
) -> list[ReportOutcome]:
    """The reports of every result recorded before ``end`` (now when None); with ``send``, each is
    queued to its destinations and the rows reported are deleted."""
    settings = delivery.settings
    config = settings.mailauth
    resolver = delivery.mailauth.resolver  # the mail authentication resolver and its cache
    end = int(time.time()) + 1 if end is None else end  # now: this second included
    store = delivery.store
    rows = await store.dmarc_results(end)
    by_domain = defaultdict(list)
    for row in rows:
        by_domain[row.policy_domain].append(row)
    email = config.dmarc_report_email or f"postmaster@{settings.hostname}"
    org_name = config.dmarc_report_org_name or settings.hostname
    outcomes = []
    for domain, domain_rows in sorted(by_domain.items()):
        report = build_report(domain_rows, end, org_name=org_name, email=email, receiver=settings.hostname)
        xml = report_xml(report, config.dmarc_report_max_records)
        data, filename = report_message(report, xml)
        outcome = ReportOutcome(domain, filename, xml, len(domain_rows))
        outcomes.append(outcome)
        recipients = []
        for uri in report.rua:
            if uri.max_size and len(data) > uri.max_size:
                outcome.skipped.append((uri.address, f"the report is larger than {uri.max_size} octets"))
            elif needs_authorization(domain, uri.address) and not await _authorized(
                resolver, domain, uri.address
            ):
                outcome.skipped.append(
                    (uri.address, "external destination not authorized (RFC 7489 section 7.1)")
                )
            else:
                recipients.append(uri.address)
        outcome.destinations = recipients
        if send and recipients:
            blob = await store.put_blob(data)
            await delivery.enqueue(
                blob, email, [NewQueueRecipient(a, (), None) for a in recipients], "report"
            )
            outcome.sent_to = recipients
    if send:
        await store.delete_dmarc_results(end)
    return outcomes


async def send_reports_periodically(
    delivery: Delivery,
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
) -> None:
    """Every ``mailauth.dmarc_report_interval`` seconds, aligned to the interval in UTC (midnight
    for a day), send the period's reports. Until cancelled; a failed round is logged, and its rows
    wait for the next (pruned after ``dmarc_report_keep_days``). ``sleep`` and ``clock``: tests."""
    log = get_logger(task="dmarc-reports")
    while True:
        interval = delivery.settings.mailauth.dmarc_report_interval
        await sleep(interval - clock() % interval)
        end = int(clock() // interval * interval)
        try:
            outcomes = await send_reports(delivery, end)
        except Exception as exc:  # keep the server running; the rows stay for the next round
            log.error("sending DMARC reports failed", error=repr(exc))
            try:
                keep = delivery.settings.mailauth.dmarc_report_keep_days * 86400
                await delivery.store.delete_dmarc_results(end - keep)
            except Exception as prune_error:
                log.error("pruning DMARC results failed", error=repr(prune_error))
            continue
        for outcome in outcomes:
            log.info(
                "DMARC report",
                domain=outcome.policy_domain,
                records=outcome.records,
                sent_to=outcome.sent_to,
                skipped=outcome.skipped,
            )
