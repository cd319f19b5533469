"""The DMARC aggregate report (RFC 7489 section 7.2, appendix C): the XML parsed back with
xml.etree, records grouped with counts, the message's file name and subject (section 7.2.1.1),
and which destinations need the section 7.1 authorization."""

from __future__ import annotations

import gzip
import json
import xml.etree.ElementTree as ET
from email import message_from_bytes

from pochta.mailauth.dmarc_report import build_report, needs_authorization, report_message, report_xml
from pochta.store.dmarc_model import DmarcRow

PUBLISHED = json.dumps({"p": "reject", "sp": "quarantine", "pct": 100, "adkim": "r", "aspf": "s", "fo": "1"})


def _row(received: int, ip: str = "192.0.2.1", disposition: str = "none", **changes: object) -> DmarcRow:
    values: dict[str, object] = {
        "received": received,
        "policy_domain": "example.com",
        "header_from": "example.com",
        "source_ip": ip,
        "envelope_from": "example.com",
        "envelope_to": "example.org",
        "published": PUBLISHED,
        "rua": "mailto:dmarc@example.com!1048576,mailto:other@reports.example",
        "disposition": disposition,
        "dkim_aligned": True,
        "spf_aligned": False,
        "override": "",
        "override_comment": "",
        "auth": json.dumps(
            {"dkim": [["example.com", "s1", "pass"]], "spf": [["example.com", "mfrom", "fail"]]}
        ),
    }
    values.update(changes)
    return DmarcRow(**values)  # type: ignore[arg-type]


def test_the_xml_document() -> None:
    rows = [
        _row(1000),
        _row(1500),
        _row(
            2000,
            "198.51.100.9",
            "quarantine",
            dkim_aligned=False,
            override="sampled_out",
            override_comment="pct=50",
        ),
    ]
    report = build_report(
        rows, 86400, org_name="Example Receiver", email="postmaster@mx.example.org", receiver="mx.example.org"
    )
    assert (report.begin, report.end, report.policy_domain) == (1000, 86400, "example.com")
    assert [uri.address for uri in report.rua] == ["dmarc@example.com", "other@reports.example"]
    assert report.rua[0].max_size == 1048576
    root = ET.fromstring(report_xml(report))
    assert root.tag == "feedback"
    assert root.findtext("report_metadata/org_name") == "Example Receiver"
    assert root.findtext("report_metadata/email") == "postmaster@mx.example.org"
    assert root.findtext("report_metadata/report_id") == "example.com.1000.86400"
    assert (
        root.findtext("report_metadata/date_range/begin"),
        root.findtext("report_metadata/date_range/end"),
    ) == (
        "1000",
        "86400",
    )
    published = root.find("policy_published")
    assert published is not None
    assert {child.tag: child.text for child in published} == {
        "domain": "example.com",
        "adkim": "r",
        "aspf": "s",
        "p": "reject",
        "sp": "quarantine",
        "pct": "100",
        "fo": "1",
    }
    records = root.findall("record")
    assert len(records) == 2
    first, second = records
    assert (first.findtext("row/source_ip"), first.findtext("row/count")) == ("192.0.2.1", "2")
    assert first.findtext("row/policy_evaluated/disposition") == "none"
    assert (first.findtext("row/policy_evaluated/dkim"), first.findtext("row/policy_evaluated/spf")) == (
        "pass",
        "fail",
    )
    assert first.find("row/policy_evaluated/reason") is None
    assert first.findtext("identifiers/header_from") == "example.com"
    assert first.findtext("identifiers/envelope_to") == "example.org"
    assert first.findtext("auth_results/dkim/domain") == "example.com"
    assert first.findtext("auth_results/dkim/selector") == "s1"
    assert first.findtext("auth_results/dkim/result") == "pass"
    assert (first.findtext("auth_results/spf/scope"), first.findtext("auth_results/spf/result")) == (
        "mfrom",
        "fail",
    )
    assert second.findtext("row/count") == "1"
    assert second.findtext("row/policy_evaluated/reason/type") == "sampled_out"
    assert second.findtext("row/policy_evaluated/reason/comment") == "pct=50"
    assert len(ET.fromstring(report_xml(report, max_records=1)).findall("record")) == 1


def test_the_message() -> None:
    report = build_report(
        [_row(1000)], 86400, org_name="Org", email="dmarc@mx.example.org", receiver="mx.example.org"
    )
    data, filename = report_message(report, report_xml(report))
    assert filename == "mx.example.org!example.com!1000!86400.xml.gz"
    assert b"\r\n" in data
    assert b"\n" not in data.replace(b"\r\n", b"")
    parsed = message_from_bytes(data)
    assert parsed["From"] == "dmarc@mx.example.org"
    assert parsed["To"] == "dmarc@example.com, other@reports.example"
    subject = str(parsed["Subject"]).replace("\r\n ", " ")
    assert subject == "Report Domain: example.com Submitter: Org Report-ID: <example.com.1000.86400>"
    attachment = next(p for p in parsed.walk() if p.get_content_type() == "application/gzip")
    assert attachment.get_filename() == filename
    payload = attachment.get_payload(decode=True)
    assert isinstance(payload, bytes)
    assert gzip.decompress(payload) == report_xml(report)


def test_external_destinations() -> None:
    assert not needs_authorization("example.com", "dmarc@example.com")
    assert not needs_authorization("mail.example.com", "dmarc@reports.example.com")  # one organization
    assert needs_authorization("example.com", "dmarc@reports.example")
