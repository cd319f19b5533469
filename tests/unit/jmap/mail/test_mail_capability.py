"""The Mail capability object (RFC 8621 section 1.3.1)."""

from __future__ import annotations

import base64

from pochta.proto.jmap.mail.capability import MailCapability, attachments_within
from pochta.proto.jmap.mail.query import SORT_OPTIONS, parse_email_sort
from pochta.proto.jmap.standard.filter import Comparator


def test_to_json_has_every_property_of_the_rfc() -> None:
    capability = MailCapability(None, 10, 255, 1000, True)
    assert capability.to_json() == {
        "maxMailboxesPerEmail": None,
        "maxMailboxDepth": 10,
        "maxSizeMailboxName": 255,
        "maxSizeAttachmentsPerEmail": 1000,
        "emailQuerySortOptions": list(SORT_OPTIONS),
        "mayCreateTopLevelMailbox": True,
    }


def test_the_sort_options_are_what_email_query_sorts() -> None:
    for option in MailCapability(None, None, 100, 1, True).email_query_sort_options:
        extra = {"keyword": "$seen"} if "Keyword" in option else {}
        assert parse_email_sort((Comparator(option, True, None, extra),))


def test_attachments_within_fit_base64_encoded() -> None:
    for limit in (1024, 78_000, 50 * 1024 * 1024 + 5):
        octets = attachments_within(limit)
        encoded = base64.encodebytes(b"\0" * octets)  # lines of 76 + LF; CRLF on the wire
        assert len(encoded) + encoded.count(b"\n") <= limit
        assert octets > limit * 0.72
