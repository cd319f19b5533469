"""DMARC aggregate reports (RFC 7489 section 7.2 and appendix C), pure: the XML feedback document
of one policy domain's recorded results, gzip'ed into a message whose file name and subject are
those of section 7.2.1.1, and the check of an external destination (section 7.1).

Rows with the same source IP, From domain, envelope domains, disposition, alignment and
authentication results become one ``<record>`` with a ``<count>``.
"""

from __future__ import annotations

import gzip
import json
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

from pochta.mailauth.dmarc_record import ReportUri, organizational_domain, report_uris
from pochta.store.dmarc_model import DmarcRow

__all__ = ["Report", "build_report", "needs_authorization", "report_message", "report_xml"]


@dataclass(frozen=True)
class Report:
    """One report: for ``policy_domain``, covering [begin, end), to the ``rua`` destinations."""

    policy_domain: str
    begin: int
    end: int
    report_id: str
    rows: tuple[DmarcRow, ...]
    rua: tuple[ReportUri, ...]
    org_name: str
    email: str
    receiver: str  # our domain, for the file name (section 7.2.1.1 "receiver")


def _text(parent: ET.Element, tag: str, value: object) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = str(value)
    return element


def build_report(rows: Sequence[DmarcRow], end: int, *, org_name: str, email: str, receiver: str) -> Report:
    """The report of ``rows`` (all of one policy domain), the newest record's published policy
    and rua= heading it."""
    latest = max(rows, key=lambda r: r.received)
    begin = min(r.received for r in rows)
    rua = tuple(uri for uri in report_uris(latest.rua) if uri.address)  # mailto: only
    report_id = f"{latest.policy_domain}.{begin}.{end}"
    return Report(latest.policy_domain, begin, end, report_id, tuple(rows), rua, org_name, email, receiver)


def _key(row: DmarcRow) -> tuple[str, ...]:
    return (
        row.source_ip,
        row.header_from,
        row.envelope_from,
        row.envelope_to,
        row.disposition,
        str(row.dkim_aligned),
        str(row.spf_aligned),
        row.override,
        row.override_comment,
        row.auth,
    )


def report_xml(report: Report, max_records: int = 10000) -> bytes:
    """The feedback document (RFC 7489 appendix C), UTF-8."""
    feedback = ET.Element("feedback")
    _text(feedback, "version", "1.0")
    metadata = ET.SubElement(feedback, "report_metadata")
    _text(metadata, "org_name", report.org_name)
    _text(metadata, "email", report.email)
    _text(metadata, "report_id", report.report_id)
    date_range = ET.SubElement(metadata, "date_range")
    _text(date_range, "begin", report.begin)
    _text(date_range, "end", report.end)
    latest = max(report.rows, key=lambda r: r.received)
    published = json.loads(latest.published)
    policy = ET.SubElement(feedback, "policy_published")
    _text(policy, "domain", report.policy_domain)
    for tag in ("adkim", "aspf", "p", "sp", "pct", "fo"):
        _text(policy, tag, published.get(tag, ""))
    counts = Counter(_key(row) for row in report.rows)
    for key, count in list(counts.items())[:max_records]:
        (
            source_ip,
            header_from,
            _envelope_from,
            envelope_to,
            disposition,
            dkim_ok,
            spf_ok,
            override,
            comment,
            auth_json,
        ) = key
        record = ET.SubElement(feedback, "record")
        row = ET.SubElement(record, "row")
        _text(row, "source_ip", source_ip)
        _text(row, "count", count)
        evaluated = ET.SubElement(row, "policy_evaluated")
        _text(evaluated, "disposition", disposition)
        _text(evaluated, "dkim", "pass" if dkim_ok == "True" else "fail")
        _text(evaluated, "spf", "pass" if spf_ok == "True" else "fail")
        if override:
            reason = ET.SubElement(evaluated, "reason")
            _text(reason, "type", override)
            if comment:
                _text(reason, "comment", comment)
        identifiers = ET.SubElement(record, "identifiers")
        if envelope_to:
            _text(identifiers, "envelope_to", envelope_to)
        # RFC 7489 appendix C IdentifierType has envelope_to and header_from only; the MAIL FROM
        # domain is reported as the SPF result's domain (scope mfrom).
        _text(identifiers, "header_from", header_from)
        results = ET.SubElement(record, "auth_results")
        auth = json.loads(auth_json)
        for domain, selector, result in auth.get("dkim", []):
            dkim = ET.SubElement(results, "dkim")
            _text(dkim, "domain", domain)
            if selector:
                _text(dkim, "selector", selector)
            _text(dkim, "result", result)
        for domain, scope, result in auth.get("spf", []):
            spf = ET.SubElement(results, "spf")
            _text(spf, "domain", domain)
            _text(spf, "scope", scope)
            _text(spf, "result", result)  # SPFResultType: RFC 7208's seven words
    body: bytes = ET.tostring(feedback, encoding="utf-8")  # no declaration for UTF-8: added here
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def report_message(report: Report, xml: bytes, now: datetime | None = None) -> tuple[bytes, str]:
    """(the message bytes with CRLF line ends, its file name). RFC 7489 section 7.2.1.1: the file
    ``receiver "!" policy-domain "!" begin "!" end ".xml.gz"`` and the subject
    ``Report Domain: <domain> Submitter: <org> Report-ID: <id>``."""
    now = now or datetime.now(UTC)
    filename = f"{report.receiver}!{report.policy_domain}!{report.begin}!{report.end}.xml.gz"
    message = EmailMessage()
    message["From"] = report.email
    message["To"] = ", ".join(uri.address for uri in report.rua)
    message["Subject"] = (
        f"Report Domain: {report.policy_domain} Submitter: {report.org_name} Report-ID: <{report.report_id}>"
    )
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=report.receiver)
    message.set_content(
        f"This is a DMARC aggregate report (RFC 7489) from {report.org_name} for {report.policy_domain},\n"
        f"covering {datetime.fromtimestamp(report.begin, UTC):%Y-%m-%d %H:%M} to "
        f"{datetime.fromtimestamp(report.end, UTC):%Y-%m-%d %H:%M} UTC.\n"
    )
    # gzip with a fixed mtime: the same report gives the same bytes.
    message.add_attachment(
        gzip.compress(xml, mtime=0), maintype="application", subtype="gzip", filename=filename
    )
    # Long lines unfolded (RFC 5322 section 2.1.1 allows 998): the subject stays one line.
    return bytes(message.as_bytes(policy=SMTP.clone(max_line_length=998))), filename


def needs_authorization(policy_domain: str, address: str) -> bool:
    """RFC 7489 section 7.1: a destination outside the policy domain's organizational domain must
    publish ``<policy-domain>._report._dmarc.<destination-domain>`` before reports go there."""
    destination = address.rpartition("@")[2].lower().rstrip(".")
    return organizational_domain(destination) != organizational_domain(policy_domain)
