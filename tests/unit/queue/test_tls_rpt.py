"""TLS-RPT reports (pochta.queue.tls_rpt, RFC 8460): the TXT record, the JSON fields, the mail."""

from __future__ import annotations

import email
import email.policy
import gzip
import json
from datetime import UTC, datetime

import pytest

from pochta.queue.tls_rpt import build_report, parse_txt, report_mail
from pochta.store.transport_model import TlsResult, TlsResultRow

STS = "version: STSv1\nmode: enforce\nmx: mx.example.net\nmx: *.example.net\nmax_age: 86400"
DAY = "2026-12-06"


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (["v=TLSRPTv1; rua=mailto:tls@example.net"], ["mailto:tls@example.net"]),
        (
            ["v=TLSRPTv1;rua=mailto:a@example.net,https://r.example.net/v1"],
            ["mailto:a@example.net", "https://r.example.net/v1"],
        ),
        (["v=spf1 -all", "v=TLSRPTv1; rua=mailto:a@x.example"], ["mailto:a@x.example"]),
        (["v=TLSRPTv1; rua=mailto:a@x.example", "v=TLSRPTv1; rua=mailto:b@x.example"], []),  # not exactly one
        (["v=TLSRPTv1; rua=ftp://x.example/"], []),
        (["v=TLSRPTv1"], []),
        ([], []),
    ],
)
def test_txt(records: list[str], expected: list[str]) -> None:
    assert parse_txt(records) == expected


def rows() -> list[TlsResultRow]:
    return [
        TlsResultRow(DAY, TlsResult("example.net", "sts", STS, "mx.example.net"), 41),
        TlsResultRow(
            DAY,
            TlsResult(
                "example.net",
                "sts",
                STS,
                "mx2.example.net",
                "certificate-host-mismatch",
                "192.0.2.7",
                "names x",
                "198.51.100.1",
            ),
            2,
        ),
        TlsResultRow(
            DAY, TlsResult("example.net", "sts", "", "", "sts-policy-fetch-error", "", "HTTP 500"), 1
        ),
    ]


def test_report_fields() -> None:
    report = build_report(
        "example.net", DAY, rows(), organization="Org", contact="pm@a.example", submitter="mx.a.example"
    )
    document = report.document
    assert document["organization-name"] == "Org"
    assert document["contact-info"] == "pm@a.example"
    assert document["date-range"] == {
        "start-datetime": "2026-12-06T00:00:00Z",
        "end-datetime": "2026-12-06T23:59:59Z",
    }
    assert document["report-id"] == report.report_id
    policies = document["policies"]
    assert isinstance(policies, list)
    sts, fetch_error = policies
    assert sts["policy"] == {
        "policy-type": "sts",
        "policy-string": STS.split("\n"),
        "policy-domain": "example.net",
        "mx-host": ["mx.example.net", "*.example.net"],
    }
    assert sts["summary"] == {"total-successful-session-count": 41, "total-failure-session-count": 2}
    assert sts["failure-details"] == [
        {
            "result-type": "certificate-host-mismatch",
            "failed-session-count": 2,
            "receiving-mx-hostname": "mx2.example.net",
            "sending-mta-ip": "198.51.100.1",
            "receiving-ip": "192.0.2.7",
            "additional-information": "names x",
        }
    ]
    assert fetch_error["summary"] == {"total-successful-session-count": 0, "total-failure-session-count": 1}
    assert fetch_error["failure-details"][0]["result-type"] == "sts-policy-fetch-error"
    # The JSON goes out gzip'ed and reads back the same.
    assert json.loads(gzip.decompress(report.gzipped())) == json.loads(json.dumps(document))


def test_report_mail() -> None:
    report = build_report(
        "example.net", DAY, rows(), organization="Org", contact="c", submitter="mx.a.example"
    )
    data = report_mail(
        report,
        to="tls@example.net",
        sender="noreply@mx.a.example",
        submitter="mx.a.example",
        now=datetime.now(UTC),
    )
    parsed = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    # RFC 8460 section 5.3: the Subject, the two report fields, multipart/report; report-type="tlsrpt"
    assert (
        parsed["Subject"]
        == f"Report Domain: example.net Submitter: mx.a.example Report-ID: <{report.report_id}>"
    )
    assert parsed["TLS-Report-Domain"] == "example.net"
    assert parsed["TLS-Report-Submitter"] == "mx.a.example"
    assert parsed.get_content_type() == "multipart/report"
    assert parsed.get_param("report-type") == "tlsrpt"
    text, attachment = list(parsed.iter_parts())
    assert text.get_content_type() == "text/plain"
    assert attachment.get_content_type() == "application/tlsrpt+gzip"
    begin = int(datetime(2026, 12, 6, tzinfo=UTC).timestamp())
    assert attachment.get_filename() == f"mx.a.example!example.net!{begin}!{begin + 86399}.json.gz"
    payload = attachment.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert json.loads(gzip.decompress(payload))["report-id"] == report.report_id
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
