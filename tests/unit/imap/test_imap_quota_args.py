"""QUOTA (RFC 9208): the commands' arguments (fed whole and byte by byte), their responses, and THE
quota rule of ``pochta.mail.quota``."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imap_helpers import MODES, error, feed, only_command

from pochta.mail.quota import Resource, exceeds, over_limit, quota_exceeded
from pochta.proto.imap import Command, Receiver, WireContext
from pochta.proto.imap.commands import COMMANDS
from pochta.proto.imap.quota import GetQuota, GetQuotaRoot, SetQuota
from pochta.proto.imap.responses import Quota, QuotaRoot
from pochta.proto.imap.wire import MAX_NUMBER64
from pochta.store.model import AccountQuota, QuotaLimits, QuotaUsage


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("line", "args"),
    [
        (b'a GETQUOTA ""', GetQuota(b"")),
        (b"a getquota example.org", GetQuota(b"example.org")),
        (b"a GETQUOTA {3}\r\nx y", GetQuota(b"x y")),
        (b"a GETQUOTAROOT INBOX", GetQuotaRoot(b"INBOX")),
        (b'a GETQUOTAROOT "Sent Items"', GetQuotaRoot(b"Sent Items")),
        (b'a SETQUOTA "" (STORAGE 512 MESSAGE 10)', SetQuota(b"", (("STORAGE", 512), ("MESSAGE", 10)))),
        (b"a SETQUOTA bob@example.org (message 0)", SetQuota(b"bob@example.org", (("MESSAGE", 0),))),
        (b'a SETQUOTA "" ()', SetQuota(b"", ())),  # RFC 9208 §7: setquota-list may be empty
        (b"a SETQUOTA x (STORAGE 9223372036854775807)", SetQuota(b"x", (("STORAGE", MAX_NUMBER64),))),
        (
            b"a SETQUOTA x (X-OTHER 1)",
            SetQuota(b"x", (("X-OTHER", 1),)),
        ),  # resource-name-ext: the handler's NO
    ],
)
def test_quota_commands_parse(line: bytes, args: object, mode: str) -> None:
    data = line + b"\r\n"
    if b"{3}" in data:
        data = data.replace(b"{3}", b"{3+}")  # one event, no continuation to wait for
    assert only_command(data, mode).args == args


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "line",
    [
        b"a GETQUOTA",
        b"a GETQUOTA a b",
        b"a GETQUOTAROOT",
        b"a SETQUOTA x",
        b"a SETQUOTA x STORAGE 1",
        b"a SETQUOTA x (STORAGE)",
        b"a SETQUOTA x (STORAGE -1)",
        b"a SETQUOTA x (STORAGE 1 MESSAGE)",
        b"a SETQUOTA x (STORAGE 1  MESSAGE 2)",
        b"a SETQUOTA x (STORAGE 1 storage 2)",  # the same resource twice
        b"a SETQUOTA x (STORAGE 9223372036854775808)",  # past number64
        b"a SETQUOTA x (STORAGE 1",
        b"a SETQUOTA x (STORAGE 1) extra",
        b'a SETQUOTA x ("STORAGE" 1)',
    ],
)
def test_quota_commands_bad_syntax(line: bytes, mode: str) -> None:
    receiver = Receiver()
    receiver.utf8 = True
    err = error(feed(receiver, line + b"\r\n", mode))
    assert err.reply.status.value == "BAD"
    assert not err.close


roots = st.binary(max_size=30).filter(lambda b: b"\x00" not in b and b"\r" not in b and b"\n" not in b)
resources = st.from_regex(r"[A-Z][A-Z0-9-]{0,12}", fullmatch=True)
limits = st.lists(st.tuples(resources, st.integers(0, MAX_NUMBER64)), max_size=4, unique_by=lambda t: t[0])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(roots, limits.map(tuple))
def test_quota_commands_roundtrip(root: bytes, items: tuple[tuple[str, int], ...]) -> None:
    for name, args in (
        ("SETQUOTA", SetQuota(root, items)),
        ("GETQUOTA", GetQuota(root)),
        ("GETQUOTAROOT", GetQuotaRoot(root)),
    ):
        wire_form = Command(b"t1", name, False, args, COMMANDS[name]).encode()
        cmd = only_command(wire_form)
        assert cmd.args == args


def test_quota_responses() -> None:
    # RFC 9208 §4.2.1 / §4.2.2, with the examples' forms.
    assert Quota("", [("STORAGE", 10, 512)]).encode() == b'* QUOTA "" (STORAGE 10 512)\r\n'
    assert Quota("example.org", [("STORAGE", 1, 2), ("MESSAGE", 3, 4)]).encode() == (
        b"* QUOTA example.org (STORAGE 1 2 MESSAGE 3 4)\r\n"
    )
    assert Quota("", []).encode() == b'* QUOTA "" ()\r\n'
    assert QuotaRoot("INBOX", ["", "example.org"]).encode() == b'* QUOTAROOT INBOX "" example.org\r\n'
    assert QuotaRoot("comp.mail.mime", []).encode() == b"* QUOTAROOT comp.mail.mime\r\n"
    # Mailbox names in the session's form (modified UTF-7 for IMAP4rev1), roots as astrings.
    assert QuotaRoot("Entwürfe", ["a b"]).encode() == b'* QUOTAROOT Entw&APw-rfe "a b"\r\n'
    assert QuotaRoot("Entwürfe", ["ü"]).encode(WireContext(utf8=True)) == (
        '* QUOTAROOT "Entwürfe" "ü"\r\n'.encode()
    )


def test_the_quota_rule() -> None:
    # RFC 9208 §3.1.2: None unlimited, 0 prohibits any usage, exactly at the limit is allowed.
    assert not over_limit(None, 10**18, 10**18)
    assert over_limit(0, 0, 1)
    assert not over_limit(10, 4, 6)
    assert over_limit(10, 4, 7)
    assert not over_limit(0, 5, 0)  # nothing added: never over, even past a lowered limit
    assert not over_limit(0, 5, -5)  # giving back is always allowed
    limits = QuotaLimits(100, 2)
    assert exceeds(limits, QuotaUsage(50, 1), 50, 1) is None
    assert exceeds(limits, QuotaUsage(50, 1), 51, 1) is Resource.STORAGE
    assert exceeds(limits, QuotaUsage(50, 2), 10, 1) is Resource.MESSAGE
    own = AccountQuota(
        QuotaLimits(None, 5), QuotaUsage(10, 4), "example.org", QuotaLimits(100), QuotaUsage(95)
    )
    assert quota_exceeded(own, 5, 1) is None
    assert quota_exceeded(own, 5, 2) == "Quota exceeded (MESSAGE)"
    assert quota_exceeded(own, 6, 1) == "Domain quota exceeded (STORAGE)"
    assert not own.unlimited
    assert AccountQuota(QuotaLimits(), QuotaUsage(), "x", QuotaLimits(), QuotaUsage(9)).unlimited
