"""DSN messages (RFC 3461 §6, RFC 3464, RFC 6522, RFC 6533): structure, fields, folding, return
of content, and that both Python's email package and pochta's own parser read them."""

from __future__ import annotations

import email
import email.policy
import io
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pochta.config import MimeSettings
from pochta.mime import parse_message
from pochta.queue import dsn
from pochta.queue.dsn import HEADER_CAP, DsnRecipient, DsnReport, build_dsn

NOW = datetime(2024, 3, 5, 12, 30, 0, tzinfo=UTC)
ARRIVAL = datetime(2024, 3, 4, 8, 0, 0, tzinfo=timezone(timedelta(hours=2)))
HEADER = (
    b"Received: from client.example.org by mx.example.org; Mon, 4 Mar 2024 08:00:00 +0200\r\n"
    b"From: Alice <alice@example.org>\r\n"
    b"To: bob@example.net\r\n"
    b"Subject: Hello Bob\r\n"
    b"Message-ID: <1234@example.org>\r\n"
)
ORIGINAL = HEADER + b"\r\nHello Bob,\r\n\r\nthe body.\r\n"

FAILED = DsnRecipient(
    "bob@example.net",
    "failed",
    "5.1.1",
    original_recipient=("rfc822", "Bob@Example.NET"),
    remote_mta="mx.example.net",
    diagnostic="550 5.1.1 <bob@example.net>: no such user",
    last_attempt=NOW - timedelta(minutes=1),
)
DELAYED = DsnRecipient(
    "carol@example.com",
    "delayed",
    "4.4.1",
    remote_mta="mx.example.com",
    diagnostic="421 4.4.1 try again later",
    last_attempt=NOW - timedelta(minutes=5),
    will_retry_until=NOW + timedelta(days=4),
)
DELIVERED = DsnRecipient("dave@example.com", "delivered", "2.0.0", remote_mta="mx.example.com")


def _report(*recipients: DsnRecipient, **kw: object) -> DsnReport:
    fields: dict[str, object] = {
        "reporting_mta": "mx.example.org",
        "recipient": "alice@example.org",
        "recipients": recipients or (FAILED,),
        "arrival": ARRIVAL,
    }
    fields.update(kw)
    return DsnReport(**fields)  # type: ignore[arg-type]


def _build(report: DsnReport, original: bytes = ORIGINAL, **kw: int) -> bytes:
    data = build_dsn(report, io.BytesIO(original), now=NOW, **kw)
    _check_wire(data)
    return data


def _check_wire(data: bytes) -> None:
    assert b"\n" not in data.replace(b"\r\n", b"")  # RFC 5322 §2.1: CRLF only
    assert b"\r" not in data.replace(b"\r\n", b"")
    assert data.endswith(b"--\r\n")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))  # RFC 5322 §2.1.1


def _parse(data: bytes) -> EmailMessage:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    assert not msg.defects
    return msg


def _raw_parts(data: bytes) -> list[tuple[bytes, bytes]]:
    """(MIME header, body) of each part of the top-level multipart, cut from the raw bytes."""
    boundary = _parse(data).get_boundary()
    assert boundary
    pieces = data.split(b"\r\n--" + boundary.encode())
    assert pieces[-1] == b"--\r\n"
    out = []
    for piece in pieces[1:-1]:
        header, _, body = piece.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        out.append((header, body))
    return out


def _groups(data: bytes) -> list[dict[str, str]]:
    """The field groups of the report part, unfolded, keys lower-case."""
    body = _raw_parts(data)[1][1]
    groups = []
    for block in body.removesuffix(b"\r\n").split(b"\r\n\r\n"):
        fields: dict[str, str] = {}
        for line in block.replace(b"\r\n ", b" ").split(b"\r\n"):
            assert not line.startswith(b" ")
            name, _, value = line.decode().partition(":")
            fields[name.lower()] = value.strip()
        groups.append(fields)
    return groups


def _children(msg: EmailMessage) -> list[Message]:
    parts = msg.get_payload()
    assert isinstance(parts, list)
    return [part for part in parts if isinstance(part, Message)]


def test_failure_report_structure_and_header() -> None:
    data = _build(_report())
    msg = _parse(data)
    assert msg["From"] == "Mail Delivery System <MAILER-DAEMON@mx.example.org>"
    assert b"\r\nTo: <alice@example.org>\r\n" in data
    assert msg["To"].addresses[0].addr_spec == "alice@example.org"
    assert msg["Subject"] == "Undelivered Mail Returned to Sender"
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["MIME-Version"] == "1.0"
    assert parsedate_to_datetime(msg["Date"]) == NOW
    assert msg["Message-ID"].endswith("@mx.example.org>")
    assert msg.get_content_type() == "multipart/report"
    assert msg.get_param("report-type") == "delivery-status"
    kinds = [part.get_content_type() for part in _children(msg)]
    assert kinds == ["text/plain", "message/delivery-status", "message/rfc822"]
    assert all(len(line) <= 78 for line in data.split(b"\r\n\r\n")[0].split(b"\r\n"))


def test_failure_report_parts_content() -> None:
    data = _build(_report(envid="QQ314159"))
    text, status, returned = _children(_parse(data))
    assert text.get_content_charset() == "utf-8"
    words = " ".join(str(text.get_payload()).split())
    assert "<bob@example.net>: failed (status 5.1.1)" in words
    assert "The server mx.example.net said: 550 5.1.1 <bob@example.net>: no such user" in words
    # Python's parser sees one block of per-message fields and one group per recipient
    blocks = status.get_payload()
    assert isinstance(blocks, list)
    assert len(blocks) == 2
    per_message, group = _groups(data)
    assert per_message == {
        "original-envelope-id": "QQ314159",
        "reporting-mta": "dns; mx.example.org",
        "arrival-date": "Mon, 04 Mar 2024 08:00:00 +0200",
    }
    assert group == {
        "original-recipient": "rfc822; Bob@Example.NET",
        "final-recipient": "rfc822; bob@example.net",
        "action": "failed",
        "status": "5.1.1",
        "remote-mta": "dns; mx.example.net",
        "diagnostic-code": "smtp; 550 5.1.1 <bob@example.net>: no such user",
        "last-attempt-date": "Tue, 05 Mar 2024 12:29:00 +0000",
    }
    # RFC 3464 §2.2: Original-Envelope-Id comes first, in ABNF order
    assert _raw_parts(data)[1][1].startswith(b"Original-Envelope-Id: QQ314159\r\nReporting-MTA:")
    inner = returned.get_payload()
    assert isinstance(inner, list)
    assert isinstance(inner[0], Message)
    assert inner[0]["Subject"] == "Hello Bob"
    assert _raw_parts(data)[2][1] == ORIGINAL  # returned byte for byte


def test_pochta_parser_finds_three_parts() -> None:
    data = _build(_report())
    parsed = parse_message(data, MimeSettings())
    assert parsed.root.media_type == "multipart/report"
    assert parsed.root.param("report-type") == "delivery-status"
    kinds = [part.media_type for part in parsed.root.children]
    assert kinds == ["text/plain", "message/delivery-status", "message/rfc822"]
    returned = parsed.root.children[2]
    assert returned.message is not None
    assert data[returned.body_start : returned.body_end] == ORIGINAL
    assert parsed.subject == "Undelivered Mail Returned to Sender"


def test_delay_notice_subject_text_and_headers_only() -> None:
    data = _build(_report(DELAYED, ret="FULL"))
    msg = _parse(data)
    assert msg["Subject"] == "Delayed Mail (still being retried)"
    text, _, returned = _children(msg)
    words = " ".join(str(text.get_payload()).split())
    assert "will keep trying" in words
    assert "you do not need to do anything" in words
    assert "Delivery will be tried until Sat, 09 Mar 2024 12:30:00 +0000." in words
    assert returned.get_content_type() == "text/rfc822-headers"  # RFC 3461 §6.2
    assert _raw_parts(data)[2][1] == HEADER
    group = _groups(data)[1]
    assert group["action"] == "delayed"
    assert group["status"] == "4.4.1"
    assert group["will-retry-until"] == "Sat, 09 Mar 2024 12:30:00 +0000"
    assert "original-recipient" not in group
    parsed = parse_message(data, MimeSettings())
    assert [p.media_type for p in parsed.root.children][2] == "text/rfc822-headers"


def test_will_retry_until_only_for_delayed() -> None:
    rcpt = DsnRecipient("b@example.net", "failed", "4.4.7", will_retry_until=NOW)
    assert "will-retry-until" not in _groups(_build(_report(rcpt)))[1]


def test_success_report_subject_and_headers_only() -> None:
    relayed = DsnRecipient("erin@example.com", "relayed", "2.0.0")
    data = _build(_report(DELIVERED, relayed))
    msg = _parse(data)
    assert msg["Subject"] == "Successful Mail Delivery Report"
    kinds = [part.get_content_type() for part in _children(msg)]
    assert kinds == ["text/plain", "message/delivery-status", "text/rfc822-headers"]
    assert [g.get("action") for g in _groups(data)[1:]] == ["delivered", "relayed"]


def test_failure_wins_the_subject_over_delay() -> None:
    data = _build(_report(DELAYED, FAILED))
    assert _parse(data)["Subject"] == "Undelivered Mail Returned to Sender"
    assert [part.get_content_type() for part in _children(_parse(data))][2] == "message/rfc822"


def test_ret_hdrs_returns_exactly_the_header() -> None:
    data = _build(_report(ret="HDRS"))
    mime_header, body = _raw_parts(data)[2]
    assert b"Content-Type: text/rfc822-headers" in mime_header
    assert body == HEADER
    assert b"the body." not in data
    assert "the header of the original message" in " ".join(
        str(_children(_parse(data))[0].get_payload()).split()
    )


def test_size_cap_returns_the_header() -> None:
    over = _build(_report(), max_full_size=len(ORIGINAL) - 1)
    assert _raw_parts(over)[2] == (
        b"Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 7bit\r\n"
        b"Content-Description: Message Headers",
        HEADER,
    )
    exact = _build(_report(), max_full_size=len(ORIGINAL))
    assert _raw_parts(exact)[2][1] == ORIGINAL


class CountingReader(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.requested = 0

    def read(self, size: int | None = -1) -> bytes:
        assert size is not None
        assert size > 0  # always in chunks, never "the rest"
        chunk = super().read(size)
        self.requested += len(chunk)
        return chunk


@pytest.mark.parametrize("report", [_report(ret="HDRS"), _report(DELAYED)])
def test_header_case_reads_only_the_header(report: DsnReport) -> None:
    reader = CountingReader(ORIGINAL + b"x" * 70 + b"\r\n" * 200_000)
    data = build_dsn(report, reader, now=NOW)
    assert _raw_parts(data)[2][1] == HEADER
    assert reader.requested <= 16 * 1024


def test_size_cap_reads_at_most_one_more_octet_than_the_cap() -> None:
    reader = CountingReader(ORIGINAL + b"body line\r\n" * 100_000)
    data = build_dsn(_report(), reader, now=NOW, max_full_size=100_000)
    assert _raw_parts(data)[2][1] == HEADER
    assert reader.requested == 100_001


def test_huge_header_is_capped_at_a_line_end() -> None:
    line = b"Received: from relay.example by relay.example; Mon, 4 Mar 2024 08:00:00 +0200\r\n"
    header = line * (2 * HEADER_CAP // len(line))
    reader = CountingReader(header + b"\r\nbody\r\n")
    data = build_dsn(_report(ret="HDRS"), reader, now=NOW)
    _check_wire(data)
    returned = _raw_parts(data)[2][1]
    assert HEADER_CAP - len(line) < len(returned) <= HEADER_CAP
    assert returned == line * (len(returned) // len(line))
    assert reader.requested <= HEADER_CAP + 16 * 1024


def test_message_without_body_is_all_header() -> None:
    data = _build(_report(ret="HDRS"), original=HEADER)
    assert _raw_parts(data)[2][1] == HEADER


def test_overlong_header_line_is_folded() -> None:
    header = b"X-Long: " + b"a" * 3000 + b"\r\nSubject: s\r\n"
    data = _build(_report(ret="HDRS"), original=header + b"\r\nbody\r\n")
    assert _raw_parts(data)[2][1].replace(b"\r\n ", b"") == header


def test_original_with_overlong_line_returns_the_header() -> None:
    data = _build(_report(), original=HEADER + b"\r\n" + b"y" * 2000 + b"\r\n")
    assert _raw_parts(data)[2][1] == HEADER


def test_envid_is_kept_verbatim_when_printable() -> None:
    data = _build(_report(envid="a+b=c/d"))  # RFC 3461 §6.3 (a): not xtext
    assert _groups(data)[0]["original-envelope-id"] == "a+b=c/d"


@pytest.mark.parametrize(
    ("envid", "field"),
    [
        ("id é+1", "id+20+C3+A9+2B1"),
        ("x\r\nBcc: evil@example", "x+0D+0ABcc:+20evil@example"),
        ("tab\there=", "tab+09here+3D"),
    ],
)
def test_envid_with_special_characters_is_xtext(envid: str, field: str) -> None:
    data = _build(_report(envid=envid))
    assert _groups(data)[0]["original-envelope-id"] == field
    assert b"Bcc" not in data.split(b"Original-Envelope-Id:")[0]


def test_multi_recipient_groups() -> None:
    other = DsnRecipient("frank@example.org", "failed", "5.2.2", diagnostic="552 5.2.2 mailbox full")
    data = _build(_report(FAILED, DELAYED, other))
    per_message, *groups = _groups(data)
    assert "reporting-mta" in per_message
    assert [g["final-recipient"] for g in groups] == [
        "rfc822; bob@example.net",
        "rfc822; carol@example.com",
        "rfc822; frank@example.org",
    ]
    assert [g["status"] for g in groups] == ["5.1.1", "4.4.1", "5.2.2"]
    assert ["original-recipient" in g for g in groups] == [True, False, False]
    assert ["remote-mta" in g for g in groups] == [True, True, False]
    assert groups[2]["diagnostic-code"] == "smtp; 552 5.2.2 mailbox full"
    status = _children(_parse(data))[1].get_payload()
    assert isinstance(status, list)
    assert len(status) == 4
    text = " ".join(str(_children(_parse(data))[0].get_payload()).split())
    assert text.index("bob@example.net") < text.index("frank@example.org") < text.index("carol@")
    assert "The mail system said: 552 5.2.2 mailbox full" in text


def test_long_diagnostic_is_folded_at_spaces() -> None:
    reply = "550-5.7.1 " + " ".join(f"word{i}" for i in range(300))
    rcpt = DsnRecipient("b@example.net", "failed", "5.7.1", diagnostic=reply)
    data = _build(_report(rcpt))
    status = _raw_parts(data)[1][1]
    assert all(len(line) <= 78 for line in status.split(b"\r\n"))
    assert _groups(data)[1]["diagnostic-code"] == "smtp; " + reply


def test_multiline_reply_is_joined_and_unbreakable_text_is_cut() -> None:
    reply = "550-5.7.1 first line\r\n550-5.7.1 second\tline\n550 5.7.1 " + "z" * 5000
    rcpt = DsnRecipient("b@example.net", "failed", "5.7.1", diagnostic=reply)
    data = _build(_report(rcpt))
    value = _groups(data)[1]["diagnostic-code"]
    assert value.startswith("smtp; 550-5.7.1 first line 550-5.7.1 second line 550 5.7.1 zzz")
    assert value.replace(" ", "") == "smtp;" + reply.replace("\r\n", "").replace("\t", "").replace(
        "\n", ""
    ).replace(" ", "")


def test_boundary_never_occurs_in_the_original(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = "=_pochta_dsn_00000000000000000000000000000000"
    original = HEADER + b"\r\n--" + taken.encode() + b"\r\nContent-Type: text/plain\r\n\r\nx\r\n"
    candidates: Iterator[str] = iter([taken, taken, "=_pochta_dsn_fresh"])
    monkeypatch.setattr(dsn, "_new_boundary", lambda: next(candidates))
    data = _build(_report(), original=original)
    assert _parse(data).get_boundary() == "=_pochta_dsn_fresh"
    assert _raw_parts(data)[2][1] == original
    assert len(parse_message(data, MimeSettings()).root.children) == 3


def test_random_boundary_is_not_in_a_multipart_original() -> None:
    original = (
        HEADER + b'Content-Type: multipart/mixed; boundary="=_pochta_dsn_x"\r\n\r\n'
        b"--=_pochta_dsn_x\r\n\r\npart\r\n--=_pochta_dsn_x--\r\n"
    )
    data = _build(_report(), original=original)
    boundary = _parse(data).get_boundary()
    assert boundary
    assert boundary.encode() not in original
    assert _raw_parts(data)[2][1] == original


def test_bare_line_ends_and_missing_final_crlf_are_normalised() -> None:
    original = b"From: a@example.org\nSubject: lf\r\n\nline one\rline two\nlast line"
    data = _build(_report(), original=original)  # _build checks CRLF everywhere
    assert _raw_parts(data)[2][1] == (
        b"From: a@example.org\r\nSubject: lf\r\n\r\nline one\r\nline two\r\nlast line\r\n"
    )
    headers = _build(_report(ret="HDRS"), original=original)
    assert _raw_parts(headers)[2][1] == b"From: a@example.org\r\nSubject: lf\r\n"


def test_utf8_addresses_use_global_delivery_status() -> None:
    rcpt = DsnRecipient(
        "jörg@bücher.example",
        "failed",
        "5.1.1",
        original_recipient=("utf-8", "J\\x{00F6}rg@b\\x{FC}cher.example"),
        diagnostic="550 5.1.1 unbekannter Empfänger",
    )
    data = _build(_report(rcpt, recipient="änne@example.org"))
    msg = _parse(data)
    assert msg["Content-Transfer-Encoding"] == "8bit"
    assert "\r\nTo: <änne@example.org>\r\n".encode() in data  # RFC 6532
    status_header = _raw_parts(data)[1][0]
    assert b"Content-Type: message/global-delivery-status" in status_header
    assert b"Content-Transfer-Encoding: 8bit" in status_header
    group = _groups(data)[1]
    assert group["original-recipient"] == "utf-8; Jörg@bücher.example"  # RFC 6533 §3 up-converted
    assert group["final-recipient"] == "utf-8; jörg@bücher.example"
    assert group["diagnostic-code"] == "smtp; 550 5.1.1 unbekannter Empfänger"
    parsed = parse_message(data, MimeSettings())
    kinds = [part.media_type for part in parsed.root.children]
    assert kinds == ["text/plain", "message/global-delivery-status", "message/rfc822"]


def test_ascii_report_keeps_utf8_orcpt_as_given() -> None:
    rcpt = DsnRecipient("jorg@example.net", "failed", "5.1.1", original_recipient=("utf-8", "j\\x{F6}rg@x"))
    data = _build(_report(rcpt))
    assert b"Content-Type: message/delivery-status\r\n" in _raw_parts(data)[1][0]
    assert _groups(data)[1]["original-recipient"] == "utf-8; j\\x{F6}rg@x"
    assert data.isascii()


def test_control_characters_in_addresses_are_escaped() -> None:
    rcpt = DsnRecipient("a\r\nAction: delivered@example.net", "failed", "5.1.3")
    data = _build(_report(rcpt))
    group = _groups(data)[1]
    assert group["final-recipient"] == "utf-8; a\\x{0D}\\x{0A}Action:\\x{20}delivered@example.net"
    assert group["action"] == "failed"


def test_utf8_original_header_is_message_global() -> None:
    original = "From: jörg@example.org\r\nSubject: Grüße\r\n\r\nbody\r\n".encode()
    data = _build(_report(), original=original)
    assert _raw_parts(data)[2][0].startswith(b"Content-Type: message/global\r\n")
    assert b"Content-Transfer-Encoding: 8bit" in _raw_parts(data)[2][0]
    headers = _build(_report(ret="HDRS"), original=original)
    assert _raw_parts(headers)[2][0].startswith(b"Content-Type: message/global-headers\r\n")


def test_8bit_body_is_message_rfc822_8bit() -> None:
    original = HEADER + "\r\nПривет\r\n".encode()
    data = _build(_report(), original=original)
    mime_header, body = _raw_parts(data)[2]
    assert mime_header.startswith(b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: 8bit")
    assert body == original
    assert _parse(data)["Content-Transfer-Encoding"] == "8bit"


def test_naive_datetimes_are_utc() -> None:
    naive = datetime(2024, 3, 4, 8, 0, 0)
    data = build_dsn(_report(arrival=naive), io.BytesIO(ORIGINAL), now=naive)
    assert _groups(data)[0]["arrival-date"] == "Mon, 04 Mar 2024 08:00:00 +0000"


def test_other_diagnostic_type() -> None:
    rcpt = DsnRecipient("b@x.example", "failed", "5.1.2", diagnostic="no MX", diagnostic_type="x-pochta")
    assert _groups(_build(_report(rcpt)))[1]["diagnostic-code"] == "x-pochta; no MX"


@pytest.mark.parametrize("status", ["5.1", "5.01.1", "3.0.0", "5.1.1 ", "5.1000.1", ""])
def test_bad_status_code_is_rejected(status: str) -> None:
    with pytest.raises(ValueError, match="status code"):
        build_dsn(_report(DsnRecipient("b@x", "failed", status)), io.BytesIO(ORIGINAL), now=NOW)


def test_no_recipients_is_rejected() -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_dsn(DsnReport("mx", "a@x", [], ARRIVAL), io.BytesIO(ORIGINAL), now=NOW)


_ANY_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=1500)
_PRINTABLE = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=200)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    address=st.one_of(_PRINTABLE, _ANY_TEXT),
    orcpt=st.one_of(st.none(), st.tuples(st.sampled_from(["rfc822", "utf-8"]), _ANY_TEXT)),
    diagnostic=st.one_of(st.none(), _ANY_TEXT),
    remote=st.one_of(st.none(), _PRINTABLE),
    action=st.sampled_from(["failed", "delayed", "delivered", "relayed", "expanded"]),
    count=st.integers(1, 3),
)
def test_any_input_gives_a_parseable_report(
    address: str,
    orcpt: tuple[str, str] | None,
    diagnostic: str | None,
    remote: str | None,
    action: dsn.Action,
    count: int,
) -> None:
    rcpt = DsnRecipient(address, action, "4.0.0", orcpt, remote, diagnostic, NOW, NOW)
    data = _build(_report(*[rcpt] * count))
    msg = _parse(data)
    assert len(_children(msg)) == 3
    groups = _groups(data)
    assert len(groups) == 1 + count
    assert all(g["action"] == action for g in groups[1:])
    if address.isascii() and address.isprintable() and address == address.strip():
        assert groups[1]["final-recipient"] == "rfc822; " + address
    assert len(parse_message(data, MimeSettings()).root.children) == 3


def test_long_line_check_is_linear() -> None:
    # Lines just under the limit, 1 MB of them: the unanchored search tried every offset of every
    # line (2.7 s here); anchored at line starts it reads each octet once.
    lines = (b"a" * 998 + b"\r\n") * 1000
    started = time.perf_counter()
    data = _build(_report(), original=HEADER + b"\r\n" + lines, max_full_size=2 << 20)
    assert time.perf_counter() - started < 0.5
    assert _raw_parts(data)[2][1].endswith(lines)  # short enough: the whole message is returned
    long = _build(_report(), original=HEADER + b"\r\n" + lines + b"b" * 999 + b"\r\n", max_full_size=2 << 20)
    assert _raw_parts(long)[2][1] == HEADER
