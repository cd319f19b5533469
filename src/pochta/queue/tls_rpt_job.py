"""The daily TLS-RPT job (RFC 8460): each finished UTC day's counts per policy domain become one report
for every rua of the domain's ``_smtp._tls`` record, mailed through the outbound queue (as a DSN is
queued: a stored blob and a queue entry with the null sender) or POSTed to an https: rua; the day's
rows are then deleted. One process runs it (the housekeeper), so a day is reported once.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Callable
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from pochta.config import Settings
from pochta.log import get_logger
from pochta.queue.client import verifying_context
from pochta.queue.https_at import authority, connect_https
from pochta.queue.tls_rpt import MEDIA_TYPE, Report, build_report, parse_txt, report_mail
from pochta.resolver import DnsResolver, LookupFailed, RecordLookup, record_lookup
from pochta.store.api import Store
from pochta.store.queue_model import NewQueueEntry, NewQueueRecipient
from pochta.store.transport_model import TlsResultRow


class TlsReporter:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        on_queued: Callable[[], None] | None = None,
        resolver: DnsResolver | None = None,
        lookup: RecordLookup | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.settings = settings
        self.on_queued = on_queued
        self.lookup = lookup or record_lookup(resolver or DnsResolver.from_settings(settings))
        self.clock = clock
        self.log = get_logger(task="tls-rpt")

    @property
    def submitter(self) -> str:
        return self.settings.hostname

    async def run_once(self) -> int:
        """Report every finished day; how many reports went out (mailed or posted)."""
        today = self.clock().strftime("%Y-%m-%d")
        groups: dict[tuple[str, str], list[TlsResultRow]] = {}
        for row in await self.store.tls_results_before(today):
            groups.setdefault((row.day, row.result.domain), []).append(row)
        sent = 0
        for (day, domain), rows in groups.items():
            try:
                ruas = parse_txt(await self.lookup(f"_smtp._tls.{domain}", "TXT"))
            except LookupFailed as exc:  # try again at the next run; the rows stay
                self.log.warning("tls-rpt lookup failed", domain=domain, error=str(exc))
                continue
            if ruas:
                sent += await self._send(domain, day, rows, ruas)
            # Reported or not asked for: the day's rows are done either way.
            await self.store.delete_tls_results(day, domain)
        return sent

    async def _send(self, domain: str, day: str, rows: list[TlsResultRow], ruas: list[str]) -> int:
        tls_rpt = self.settings.tls_rpt
        report = build_report(
            domain,
            day,
            rows,
            organization=tls_rpt.organization or self.submitter,
            contact=tls_rpt.contact or f"postmaster@{self.submitter}",
            submitter=self.submitter,
        )
        sent = 0
        for rua in ruas:
            try:
                if rua.lower().startswith("mailto:"):
                    await self._mail(report, unquote(rua[7:].split("?", 1)[0]))
                else:
                    await self._post(report, rua)
                sent += 1
            except Exception as exc:  # one bad rua does not keep the others from their report
                self.log.warning("tls-rpt report not sent", domain=domain, rua=rua, error=repr(exc))
        return sent

    async def _mail(self, report: Report, to: str) -> None:
        data = report_mail(
            report,
            to=to,
            sender=f"noreply-tls-reports@{self.submitter}",
            submitter=self.submitter,
            now=self.clock(),
        )
        if len(data) > self.settings.tls_rpt.max_report_size:
            raise ValueError(f"report of {len(data)} bytes is over tls_rpt.max_report_size")
        blob = await self.store.new_blob(data)
        await self.store.enqueue(
            NewQueueEntry(
                blob=blob,
                sender="",  # like a DSN: a report never causes a bounce (no loop between reporters)
                recipients=(NewQueueRecipient(to),),
                origin="report",
                arrival=self.clock(),
            )
        )
        if self.on_queued is not None:
            self.on_queued()

    async def _post(self, report: Report, url: str) -> None:
        # RFC 8460 section 5.4: HTTPS POST of the gzip'ed report with its media type.
        parts = urlsplit(url)
        if parts.scheme.lower() != "https" or not parts.hostname:
            raise ValueError(f"not an https URL: {url}")
        host, port = parts.hostname, parts.port or 443
        addresses = [*await self.lookup(host, "A"), *await self.lookup(host, "AAAA")]
        if not addresses:
            raise ValueError(f"{host} has no address")
        body = report.gzipped()
        if len(body) > self.settings.tls_rpt.max_report_size:
            raise ValueError(f"report of {len(body)} bytes is over tls_rpt.max_report_size")
        context = verifying_context(self.settings.queue.tls_ca_file)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        timeout = self.settings.queue.mta_sts_timeout
        async with asyncio.timeout(timeout):
            status = await asyncio.to_thread(_post, addresses[0], port, host, path, body, context, timeout)
        if not 200 <= status < 300:
            raise ValueError(f"{url} answered HTTP {status}")


def _post(
    address: str, port: int, host: str, path: str, body: bytes, context: ssl.SSLContext, timeout: float
) -> int:
    connection = connect_https(address, port, host, context, timeout)
    try:
        headers = {"Host": authority(host, port), "Content-Type": MEDIA_TYPE, "Connection": "close"}
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(65536)
        return response.status
    finally:
        connection.close()


async def send_tls_reports_periodically(reporter: TlsReporter, interval: float) -> None:
    """Every ``interval`` seconds, report the finished days (until cancelled; failures are logged)."""
    log = get_logger(task="tls-rpt")
    while True:
        try:
            sent = await reporter.run_once()
        except Exception as exc:  # the rows stay; the next round tries again
            log.error("tls-rpt round failed", error=repr(exc))
        else:
            if sent:
                log.info("tls reports sent", count=sent)
        await asyncio.sleep(interval)
