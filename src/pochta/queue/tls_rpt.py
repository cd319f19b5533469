"""SMTP TLS Reporting (RFC 8460), the reporting side: the ``_smtp._tls`` TXT record, the JSON report
of one policy domain and day, and the mail that carries it. Pure: rows and settings in, bytes out
(``tls_rpt_job`` reads the store, looks up DNS and sends)."""

from __future__ import annotations

import base64
import gzip
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from pochta.store.transport_model import TlsResultRow

MEDIA_TYPE = "application/tlsrpt+gzip"  # RFC 8460 section 5.3: the compressed report


def parse_txt(records: Sequence[str]) -> list[str]:
    """The rua URIs of the ``_smtp._tls`` TXT records; [] when the domain asks for no reports.

    RFC 8460 section 3: records not starting with "v=TLSRPTv1" are discarded; unless exactly one
    is left, the domain does not implement TLS-RPT. rua is a comma-separated list of mailto: and
    https: URIs."""
    candidates = [r for r in records if r.startswith("v=TLSRPTv1")]
    if len(candidates) != 1:
        return []
    fields = [f.strip() for f in candidates[0].split(";")]
    if fields[0] != "v=TLSRPTv1":
        return []
    for field in fields[1:]:
        name, _, value = field.partition("=")
        if name.strip() == "rua":
            uris = [u.strip() for u in value.split(",")]
            return [u for u in uris if u.lower().startswith(("mailto:", "https:"))]
    return []


@dataclass(frozen=True)
class Report:
    domain: str
    day: str  # "2026-12-06"
    report_id: str
    document: dict[str, object]

    @property
    def start(self) -> datetime:
        return datetime.strptime(self.day, "%Y-%m-%d").replace(tzinfo=UTC)

    def gzipped(self) -> bytes:
        data = json.dumps(self.document, indent=1).encode()
        return gzip.compress(data, mtime=0)

    def file_name(self, submitter: str) -> str:
        # RFC 8460 section 5.3: sender!policy-domain!begin-timestamp!end-timestamp[!unique-id].json.gz
        begin = int(self.start.timestamp())
        end = begin + 86400 - 1
        return f"{submitter}!{self.domain}!{begin}!{end}.json.gz"


def build_report(
    domain: str, day: str, rows: Sequence[TlsResultRow], *, organization: str, contact: str, submitter: str
) -> Report:
    """The report of ``domain`` for ``day`` (RFC 8460 section 4.4) from that day's rows."""
    policies: dict[tuple[str, str], dict[str, object]] = {}
    successes: dict[tuple[str, str], int] = {}
    failures: dict[tuple[str, str], list[dict[str, object]]] = {}
    failed: dict[tuple[str, str], int] = {}
    for row in rows:
        result = row.result
        key = (result.policy_type, result.policy)
        if key not in policies:
            lines = [line for line in result.policy.split("\n") if line]
            policy: dict[str, object] = {
                "policy-type": result.policy_type,
                "policy-string": lines,
                "policy-domain": domain,
            }
            if result.policy_type == "sts":  # RFC 8460 section 4.4: the policy's MX patterns
                policy["mx-host"] = [line[3:].strip() for line in lines if line.startswith("mx:")]
            policies[key] = policy
            successes[key] = 0
            failures[key] = []
        if not result.result_type:
            successes[key] += row.count
            continue
        detail: dict[str, object] = {"result-type": result.result_type, "failed-session-count": row.count}
        if result.mx_host:
            detail["receiving-mx-hostname"] = result.mx_host
        if result.sending_ip:
            detail["sending-mta-ip"] = result.sending_ip
        if result.receiving_ip:
            detail["receiving-ip"] = result.receiving_ip
        if result.detail:
            detail["additional-information"] = result.detail
        failures[key].append(detail)
        failed[key] = failed.get(key, 0) + row.count
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    end = start + timedelta(days=1) - timedelta(seconds=1)
    report_id = f"{day}.{secrets.token_hex(8)}@{submitter}"
    document: dict[str, object] = {
        "organization-name": organization,
        "date-range": {
            "start-datetime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end-datetime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "contact-info": contact,
        "report-id": report_id,
        "policies": [
            {
                "policy": policy,
                "summary": {
                    "total-successful-session-count": successes[key],
                    "total-failure-session-count": failed.get(key, 0),
                },
                **({"failure-details": failures[key]} if failures[key] else {}),
            }
            for key, policy in policies.items()
        ],
    }
    return Report(domain, day, report_id, document)


def report_mail(report: Report, *, to: str, sender: str, submitter: str, now: datetime) -> bytes:
    """The report as a message (RFC 8460 section 5.3): multipart/report; report-type="tlsrpt", a
    human-readable part and the gzip'ed JSON as an attachment named by ``Report.file_name``."""
    boundary = f"=_pochta_tlsrpt_{secrets.token_hex(12)}"
    attachment = report.gzipped()
    encoded = _base64_lines(attachment)
    name = report.file_name(submitter)
    header = [
        f"From: TLS reports <{sender}>",
        f"To: <{to}>",
        # RFC 8460 section 5.3: this Subject, and the two fields after it
        f"Subject: Report Domain: {report.domain} Submitter: {submitter} Report-ID: <{report.report_id}>",
        f"TLS-Report-Domain: {report.domain}",
        f"TLS-Report-Submitter: {submitter}",
        f"Date: {format_datetime(now.astimezone(UTC))}",
        f"Message-ID: <tlsrpt.{secrets.token_hex(8)}@{submitter}>",
        "Auto-Submitted: auto-generated",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type="tlsrpt";\r\n boundary="{boundary}"',
        "",
        "This is a MIME-formatted TLS report.",
        f"--{boundary}",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"This is a TLS report (RFC 8460) for {report.domain} on {report.day}, from {submitter}.",
        f"--{boundary}",
        f'Content-Type: {MEDIA_TYPE}; name="{name}"',
        "Content-Transfer-Encoding: base64",
        f'Content-Disposition: attachment; filename="{name}"',
        "",
        *encoded,
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(header).encode("ascii")


def _base64_lines(data: bytes) -> list[str]:
    text = base64.b64encode(data).decode("ascii")
    return [text[i : i + 76] for i in range(0, len(text), 76)]  # RFC 2045 §6.8: at most 76 a line
