"""Syntax of OBJECTID (RFC 8474 §7), SAVEDATE (RFC 8514 §5) and PREVIEW (RFC 8970 §6): FETCH items,
SEARCH keys and the STATUS item, fed whole and byte by byte, and their canonical forms."""

from __future__ import annotations

from datetime import date

import pytest
from imap_helpers import MODES, error, feed, only_command

from pochta.proto.imap import Receiver, Status
from pochta.proto.imap.args import StatusArgs
from pochta.proto.imap.fetch import FetchArgs, FetchAtt
from pochta.proto.imap.objectid import EMAIL, MAILBOX, THREAD, is_objectid, objectid, parse_objectid
from pochta.proto.imap.responses import Code, Raw, StatusResponse, Tagged
from pochta.proto.imap.search import And, DateKey, FlagKey, ObjectKey, Or, SearchArgs


@pytest.mark.parametrize("mode", MODES)
def test_fetch_items(mode: str) -> None:
    cmd = only_command(b"a FETCH 1:* (EMAILID threadid SaveDate PREVIEW)\r\n", mode)
    assert isinstance(cmd.args, FetchArgs)
    assert cmd.args.atts == (
        FetchAtt("EMAILID"),
        FetchAtt("THREADID"),
        FetchAtt("SAVEDATE"),
        FetchAtt("PREVIEW"),
    )
    assert [a.response_name() for a in cmd.args.atts] == ["EMAILID", "THREADID", "SAVEDATE", "PREVIEW"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("line", "atts", "modifiers"),
    [
        # RFC 8970 §6: "PREVIEW" [SP "(" preview-mod *(SP preview-mod) ")"], inside a list ...
        (b"a FETCH 1 (UID PREVIEW (LAZY) FLAGS)", (FetchAtt("UID"), FetchAtt("PREVIEW", modifiers=("LAZY",)),
                                                  FetchAtt("FLAGS")), ()),
        (b"a FETCH 1 (PREVIEW (lazy))", (FetchAtt("PREVIEW", modifiers=("LAZY",)),), ()),
        (b"a FETCH 1 (PREVIEW (LAZY LAZY))", (FetchAtt("PREVIEW", modifiers=("LAZY",)),), ()),
        # ... and alone, where "(" may also open FETCH's own modifiers (RFC 4466).
        (b"a FETCH 1 PREVIEW (LAZY)", (FetchAtt("PREVIEW", modifiers=("LAZY",)),), ()),
        (b"a FETCH 1 PREVIEW (CHANGEDSINCE 5)", (FetchAtt("PREVIEW"),), (("CHANGEDSINCE", b"5"),)),
        (b"a FETCH 1 PREVIEW (LAZY) (CHANGEDSINCE 5)", (FetchAtt("PREVIEW", modifiers=("LAZY",)),),
         (("CHANGEDSINCE", b"5"),)),
    ],
)  # fmt: skip
def test_preview_lazy(mode: str, line: bytes, atts: tuple[FetchAtt, ...], modifiers: object) -> None:
    cmd = only_command(line + b"\r\n", mode)
    assert isinstance(cmd.args, FetchArgs)
    assert cmd.args.atts == atts
    assert cmd.args.modifiers == modifiers
    # The canonical form parses back to the same arguments.
    again = only_command(b"a FETCH" + cmd.args.encode() + b"\r\n")
    assert again.args == cmd.args


def test_preview_encodes() -> None:
    lazy = FetchAtt("PREVIEW", modifiers=("LAZY",))
    assert lazy.encode() == b"PREVIEW (LAZY)"
    assert lazy.response_name() == "PREVIEW"  # RFC 8970 §6 msg-att-dynamic: "PREVIEW" SP nstring


@pytest.mark.parametrize(
    "line",
    [
        b"a FETCH 1 (PREVIEW (LAZY)",
        b"a FETCH 1 (PREVIEW (LAZY SOON))",  # RFC 8970 §6: LAZY is the only preview-mod
        b"a FETCH 1 (PREVIEW (LAZYX))",
        b"a FETCH 1 (PREVIEW ())",
        b"a FETCH 1 (PREVIEW(LAZY))",
        b"a FETCH 1 SAVEDATE[]",
        b"a SEARCH EMAILID",
        b"a SEARCH EMAILID M1 M2",
        b'a SEARCH EMAILID "M1"',  # objectid is an atom-like token, not a string (RFC 8474 §7)
        b"a SEARCH EMAILID M.1",
        b"a SEARCH THREADID " + b"T" * 256,  # 1*255
        b"a SEARCH SAVEDON",
        b"a SEARCH SAVEDSINCE 30-Feb-2020",
        b"a SEARCH SAVEDATESUPPORTED 1-Jan-2020",
        b"a STATUS INBOX (MAILBOXID MAILBOXIDS)",
    ],
)
@pytest.mark.parametrize("mode", MODES)
def test_bad_syntax(line: bytes, mode: str) -> None:
    r = Receiver()
    err = error(feed(r, line + b"\r\n", mode))
    assert err.reply.status.value == "BAD"


@pytest.mark.parametrize("mode", MODES)
def test_search_keys(mode: str) -> None:
    cmd = only_command(
        b"a UID SEARCH OR EMAILID M12 THREADID T_a-9 SAVEDBEFORE 2-Jan-2026 savedon 1-Jan-2026 "
        b'SAVEDSINCE "31-Dec-2025" SAVEDATESUPPORTED\r\n',
        mode,
    )
    assert isinstance(cmd.args, SearchArgs)
    assert cmd.args.key == And(
        (
            Or(ObjectKey("EMAILID", "M12"), ObjectKey("THREADID", "T_a-9")),
            DateKey("SAVEDBEFORE", date(2026, 1, 2)),
            DateKey("SAVEDON", date(2026, 1, 1)),
            DateKey("SAVEDSINCE", date(2025, 12, 31)),
            FlagKey("SAVEDATESUPPORTED"),
        )
    )
    assert cmd.args.encode() == (
        b" OR EMAILID M12 THREADID T_a-9 SAVEDBEFORE 2-Jan-2026 SAVEDON 1-Jan-2026 SAVEDSINCE 31-Dec-2025"
        b" SAVEDATESUPPORTED"
    )
    # Objectids are case-sensitive (RFC 8474 §7): kept as sent.
    lower = only_command(b"a SEARCH emailid m12\r\n", mode).args
    assert isinstance(lower, SearchArgs)
    assert lower.key == And((ObjectKey("EMAILID", "m12"),))


@pytest.mark.parametrize("mode", MODES)
def test_status_mailboxid(mode: str) -> None:
    assert only_command(b"a STATUS x (mailboxid MESSAGES)\r\n", mode).args == StatusArgs(
        b"x", ("MAILBOXID", "MESSAGES")
    )


def test_responses() -> None:
    # RFC 8474 §4.1-§4.3.
    assert Tagged(b"3", Status.OK, "CREATE completed", code=Code.mailboxid("F7")).encode() == (
        b"3 OK [MAILBOXID (F7)] CREATE completed\r\n"
    )
    status = StatusResponse("foo", (("MAILBOXID", Raw(b"(F7)")), ("MESSAGES", 2)))
    assert status.encode() == b"* STATUS foo (MAILBOXID (F7) MESSAGES 2)\r\n"


def test_objectids() -> None:
    # RFC 8474 §8.1: a leading letter, never only digits; §5.2: EMAILID and THREADID never alike.
    assert objectid(MAILBOX, 12) == "F12"
    assert objectid(EMAIL, 12) != objectid(THREAD, 12)
    assert all(is_objectid(objectid(p, n)) for p in (MAILBOX, EMAIL, THREAD) for n in (1, 2**62))
    assert parse_objectid(EMAIL, "M12") == 12
    assert parse_objectid(THREAD, "M12") is None  # another kind
    assert parse_objectid(EMAIL, "m12") is None  # case-sensitive
    assert parse_objectid(EMAIL, "M012") is None  # never one of ours
    assert parse_objectid(EMAIL, "M") is None
    assert parse_objectid(EMAIL, "Mx-1") is None
    assert not is_objectid("")
    assert not is_objectid("a.b")
    assert not is_objectid("x" * 256)
