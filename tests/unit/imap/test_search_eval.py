"""SEARCH evaluation (RFC 9051 §6.4.4) against a real SQLite store: every key, nesting, charsets,
sequence sets, held-back expunges, and what is (not) loaded from the store."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_asyncio

from pochta.config import Settings
from pochta.mime.search import fold
from pochta.proto.imap.search import And, Not, Or, SearchKey, StringKey, parse_keys
from pochta.proto.imap.search_program import Facts, SearchError, prefilterable, run_program
from pochta.proto.imap.selected import SelectedMailbox
from pochta.proto.imap.wire import Assembled, Cursor
from pochta.server.imap.search_eval import evaluate
from pochta.store.api import MailStore, Store
from pochta.store.model import MailboxView, MessageEntry
from pochta.store.sqlite.store import open_sqlite_store
from pochta.testing.store_suite.support import deliver, mailbox, make_account

# One event loop for the module, so that the read-only tests share one store (set up once).
pytestmark = pytest.mark.asyncio(loop_scope="module")

PST = timezone(timedelta(hours=-7))
CEST = timezone(timedelta(hours=2))


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


M1 = (
    "From: Alice Example <alice@example.org>\r\n"
    "To: Bob <bob@example.net>\r\n"
    "Cc: carol@example.com\r\n"
    "Subject: Quarterly report\r\n"
    "Date: Mon, 04 May 2026 23:30:00 -0700\r\n"  # May 5 in UTC
    "\r\n"
    "the zebra crossing\r\n"
)
M2 = (
    f"From: =?UTF-8?B?{b64('Jörg Müller')}?= <joerg@example.de>\r\n"
    "To: alice@example.org\r\n"
    "Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=\r\n"
    "X-Spam-Flag: YES\r\n"
    "Date: Tue, 05 May 2026 00:15:00 +0200\r\n"  # May 4 in UTC
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "hello world\r\n"
)
M3 = (
    "From: dave@example.org\r\n"
    "To: alice@example.org\r\n"
    "Bcc: secret@example.org\r\n"
    "Subject: xy\r\n"
    "Keywords: headeronlyword\r\n"
    "\r\n" + "body only words\r\n" * 200
)
M4 = (
    "From: eve@example.org\r\n"
    "To: <zed (comment)@ (another) example.net>\r\n"  # CFWS inside the addr-spec (RFC 5322 §3.4.1)
    "Subject: garbage date\r\nDate: not a date at all\r\n\r\nlast\r\n"
)

WHEN = [
    datetime(2026, 5, 4, 23, 30, tzinfo=PST),  # internal date May 4 in its zone, May 5 in UTC
    datetime(2026, 5, 5, 0, 15, tzinfo=CEST),  # May 5 in its zone, May 4 in UTC
    datetime(2026, 5, 6, 12, 0, tzinfo=UTC),
    datetime(2026, 5, 3, 23, 59, 59, tzinfo=UTC),
]
FLAGS = [{"\\Seen", "\\Answered"}, {"\\Flagged", "$Forwarded"}, {"\\Deleted", "\\Draft"}, set()]


@dataclass
class Env:
    store: Store
    mailbox_id: int
    uids: list[int]
    view: MailboxView
    sizes: list[int]

    def session(self, *, rev1: bool = True, recent: int | None = None) -> SelectedMailbox[MessageEntry]:
        return SelectedMailbox(self.view, read_only=False, rev1=rev1, recent_from=recent)


def program(text: str) -> And:
    return parse_keys(Cursor(Assembled([text.encode()]), utf8=True), max_depth=10_000)


@pytest_asyncio.fixture(loop_scope="module")
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await open_sqlite_store(tmp_path, Settings())
    try:
        yield opened
    finally:
        await opened.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def shared_store(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Store]:
    opened = await open_sqlite_store(tmp_path_factory.mktemp("search"), Settings())
    try:
        yield opened
    finally:
        await opened.close()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(shared_store: Store) -> Env:
    """The four messages, shared by the tests that only read."""
    return await make_env(shared_store)


@pytest_asyncio.fixture(loop_scope="module")
async def own_env(store: Store) -> Env:
    """The four messages in a store of the test's own, for tests that change it."""
    return await make_env(store)


async def make_env(store: Store) -> Env:
    account = await make_account(store)
    box = await mailbox(store, account)
    uids = []
    for data, when, flags in zip((M1, M2, M3, M4), WHEN, FLAGS, strict=True):
        placed = await deliver(store, data.encode(), box.id, flags=flags, when=when)
        uids.append(placed[0].uid)
    view = await store.open_view(box.id)
    return Env(store, box.id, uids, view, list(view.sizes))


async def search(
    env: Env, text: str, selected: SelectedMailbox[MessageEntry] | None = None, **kw: Any
) -> list[int]:
    """Matching message numbers (1-4), for readable assertions."""
    session = selected or env.session()
    found = await evaluate(env.store, session, program(text), view=env.view, **kw)
    return [env.uids.index(uid) + 1 for uid in found]


# --- flags, keywords, \Recent -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ALL", [1, 2, 3, 4]),
        ("ANSWERED", [1]),
        ("UNANSWERED", [2, 3, 4]),
        ("DELETED", [3]),
        ("UNDELETED", [1, 2, 4]),
        ("DRAFT", [3]),
        ("UNDRAFT", [1, 2, 4]),
        ("FLAGGED", [2]),
        ("UNFLAGGED", [1, 3, 4]),
        ("SEEN", [1]),
        ("UNSEEN", [2, 3, 4]),
        ("KEYWORD $Forwarded", [2]),
        ("KEYWORD $FORWARDED", [2]),  # keywords compare case-insensitively (mail/flags.py)
        ("UNKEYWORD $forwarded", [1, 3, 4]),
        ("KEYWORD $Junk", []),
        ("SEEN UNSEEN", []),
        ("OR SEEN DELETED", [1, 3]),
        ("NOT SEEN", [2, 3, 4]),
        ("(SEEN) (ANSWERED)", [1]),
    ],
)
async def test_flag_keys(env: Env, text: str, expected: list[int]) -> None:
    assert await search(env, text) == expected


@pytest.mark.parametrize(
    ("text", "rev1", "expected"),
    [
        ("RECENT", True, [3, 4]),
        ("NEW", True, [3, 4]),  # RFC 3501 §6.4.4: RECENT UNSEEN
        ("OLD", True, [1, 2]),  # NOT RECENT
        ("RECENT", False, []),  # RFC 9051 has no \Recent
        ("NEW", False, []),
        ("OLD", False, [1, 2, 3, 4]),
    ],
)
async def test_recent_keys(env: Env, text: str, rev1: bool, expected: list[int]) -> None:
    session = env.session(rev1=rev1, recent=env.uids[2])
    assert await search(env, text, session) == expected


async def test_new_excludes_seen_recent(env: Env) -> None:
    session = env.session(recent=env.uids[0])  # all four; message 1 is seen, 2 to 4 are not
    assert await search(env, "NEW", session) == [2, 3, 4]


# --- sizes and internal dates -----------------------------------------------------------------------------


async def test_larger_smaller_bounds(env: Env) -> None:
    size = env.sizes[2]
    assert max(env.sizes[:2] + env.sizes[3:]) < size
    assert 3 not in await search(env, f"LARGER {size}")  # strictly larger
    assert await search(env, f"LARGER {size - 1}") == [3]
    assert 3 not in await search(env, f"SMALLER {size}")
    assert 3 in await search(env, f"SMALLER {size + 1}")
    assert await search(env, "SMALLER 1") == []
    assert await search(env, "LARGER 0") == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ON 4-May-2026", [1]),  # 23:30 -0700: May 4 in its own zone (May 5 in UTC)
        ("ON 5-May-2026", [2]),  # 00:15 +0200: May 5 in its own zone (May 4 in UTC)
        ("ON 3-May-2026", [4]),  # 23:59:59 is still the day
        ("BEFORE 5-May-2026", [1, 4]),
        ("BEFORE 4-May-2026", [4]),
        ("SINCE 5-May-2026", [2, 3]),
        ("SINCE 4-May-2026", [1, 2, 3]),
        ("SINCE 7-May-2026", []),
        ("NOT ON 4-May-2026", [2, 3, 4]),
    ],
)
async def test_internal_date_keys(env: Env, text: str, expected: list[int]) -> None:
    assert await search(env, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("SENTON 4-May-2026", [1]),  # Date: in its own zone, -0700
        ("SENTON 5-May-2026", [2]),  # +0200
        ("SENTON 6-May-2026", [3]),  # no Date: the internal date
        ("SENTON 3-May-2026", [4]),  # unparsable Date: the internal date
        ("SENTBEFORE 5-May-2026", [1, 4]),
        ("SENTSINCE 5-May-2026", [2, 3]),
        ("SENTSINCE 1-Jan-2030", []),
        ("NOT SENTON 5-May-2026", [1, 3, 4]),
    ],
)
async def test_sent_date_keys(env: Env, text: str, expected: list[int]) -> None:
    assert await search(env, text) == expected


async def test_older_younger_against_the_clock(env: Env) -> None:
    """RFC 5032 §2: the target is now minus the interval; in UTC the messages are ordered 4, 2, 1, 3."""
    now = datetime.now(UTC)
    interval = int((now - WHEN[0]).total_seconds()) + 60  # the target: a minute before message 1
    assert await search(env, f"YOUNGER {interval}") == [1, 3]
    assert await search(env, f"OLDER {interval}") == [2, 4]
    assert await search(env, f"NOT OLDER {interval}") == [1, 3]
    assert await search(env, "OLDER 1") == [1, 2, 3, 4]
    assert await search(env, "YOUNGER 1") == []


async def test_older_younger_include_the_target_second() -> None:
    older = program("OLDER 800").keys[0]
    younger = program("YOUNGER 800").keys[0]
    facts = Facts(count=3, times=[100, 200, 300], now=1000)  # the target is 200
    assert run_program(older, facts) == (0b011, 0)
    assert run_program(younger, facts) == (0b110, 0)


async def test_sent_fallback_without_a_view(env: Env) -> None:
    found = await evaluate(env.store, env.session(), program("SENTON 6-May-2026"))
    assert found == [env.uids[2]]


# --- strings ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('FROM "alice"', [1]),
        ('FROM "ALICE@EXAMPLE.ORG"', [1]),  # case-insensitive, addr-spec
        ('FROM "Alice Example"', [1]),  # display name
        ('FROM "jörg"', [2]),  # RFC 2047 B-encoded display name, decoded
        ('FROM "MÜLLER"', [2]),  # non-ASCII case folding
        ('FROM "=?UTF-8?B"', []),  # the encoded form is not what is matched
        ('FROM "a"', [1, 2, 3, 4]),  # short string: a scan
        ('FROM "bob"', []),
        ('TO "bob@example.net"', [1]),
        ('TO "alice"', [2, 3]),
        ('TO "zed@example.net"', [4]),  # the address without its comments, as in the envelope
        ('TO "(another) example"', [4]),  # and the field as written
        ('CC "carol"', [1]),
        ('CC ""', [1]),  # the empty string: messages with the field
        ('BCC "secret"', [3]),  # present only in this (draft-like) message
        ('BCC "se"', [3]),
        ('SUBJECT "report"', [1]),
        ('SUBJECT "grüße aus köln"', [2]),  # RFC 2047 Q-encoded, UTF-8
        ('SUBJECT "GRÜSSE"', []),  # no language-sensitive folding (ß is not "ss")
        ('SUBJECT "xy"', [3]),
        ('HEADER X-Spam-Flag ""', [2]),  # RFC 9051 §6.4.4: presence test
        ('HEADER x-spam-flag "yes"', [2]),
        ('HEADER X-Spam-Flag "no"', []),
        ('HEADER X-Missing ""', []),
        ('HEADER Subject ""', [1, 2, 3, 4]),
        ('HEADER Date "2026"', [1, 2]),
        ('HEADER Keywords "onlyword"', [3]),
        ('NOT HEADER X-Spam-Flag ""', [1, 3, 4]),
    ],
)
async def test_header_keys(env: Env, text: str, expected: list[int]) -> None:
    assert await search(env, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('TEXT "headeronlyword"', [3]),  # RFC 9051 §6.4.4: TEXT includes the header
        ('BODY "headeronlyword"', []),  # BODY does not
        ('TEXT "Quarterly"', [1]),
        ('BODY "Quarterly"', []),
        ('BODY "zebra"', [1]),
        ('BODY "ZEBRA CROSSING"', [1]),
        ('TEXT "zebra"', [1]),
        ('BODY "ze"', [1]),  # shorter than a trigram
        ('BODY ""', [1, 2, 3, 4]),
        ('TEXT ""', [1, 2, 3, 4]),
        ('BODY "nowhere to be found"', []),
        ('OR BODY "zebra" BODY "hello"', [1, 2]),
    ],
)
async def test_text_keys(env: Env, text: str, expected: list[int]) -> None:
    assert await search(env, text) == expected


async def test_mixed_program(env: Env) -> None:
    assert await search(env, 'UNSEEN OR FROM "joerg" BODY "body only" NOT DELETED') == [2]
    assert await search(env, 'OR (SEEN SUBJECT "report") (FLAGGED SUBJECT "köln")') == [1, 2]


# --- nesting ---------------------------------------------------------------------------------------------


async def test_not_nesting_100_deep(env: Env) -> None:
    assert await search(env, "NOT " * 100 + "SEEN") == [1]  # an even count of NOTs
    assert await search(env, "NOT " * 101 + 'FROM "alice"') == [2, 3, 4]


async def test_or_and_parentheses_100_deep(env: Env) -> None:
    text = "OR SEEN " * 100 + 'SUBJECT "köln"'
    assert await search(env, text) == [1, 2]
    text = "(" * 100 + 'OR DELETED BODY "hello"' + ")" * 100
    assert await search(env, text) == [2, 3]


async def test_deep_program_built_directly(env: Env) -> None:
    key: SearchKey = StringKey("TEXT", b"zebra")
    for _ in range(5000):  # far past Python's recursion limit
        key = Not(Not(key))
    found = await evaluate(env.store, env.session(), And((key,)), view=env.view)
    assert found == [env.uids[0]]


async def test_three_valued_logic() -> None:
    # Bits: message 0 matches A, message 1's A is unknown, message 2 does not match A.
    a = StringKey("BODY", b"a")
    facts = Facts(count=3, found={a: (0b001, 0b010)})
    assert run_program(And((a,)), facts) == (0b001, 0b010)
    assert run_program(Not(a), facts) == (0b100, 0b010)
    all_key = program("ALL").keys[0]
    assert run_program(Or(a, all_key), facts) == (0b111, 0)  # known whatever A is
    assert run_program(And((a, Not(all_key))), facts) == (0, 0)


# --- sequence sets, UIDs, $ ------------------------------------------------------------------------------


async def test_sequence_sets(env: Env) -> None:
    assert await search(env, "2:3") == [2, 3]
    assert await search(env, "3:2") == [2, 3]
    assert await search(env, "*") == [4]
    assert await search(env, "1,*") == [1, 4]
    assert await search(env, "2:* SEEN") == []
    assert await search(env, "NOT 1:2") == [3, 4]
    # Past the count: nothing matches (a criterion, not a reference; Dovecot and imaptest agree).
    assert await search(env, "5") == []
    assert await search(env, "1:7") == [1, 2, 3, 4]
    assert await search(env, "NOT 1000") == [1, 2, 3, 4]


async def test_uid_sets(env: Env) -> None:
    u = env.uids
    assert await search(env, f"UID {u[1]}") == [2]
    assert await search(env, f"UID {u[1]}:*") == [2, 3, 4]
    assert await search(env, f"UID {u[3] + 100}:*") == [4]  # RFC 9051 §9: "*" is the highest UID
    assert await search(env, f"UID {u[3] + 100}") == []  # absent UIDs are ignored
    assert await search(env, f"UID {u[0]},{u[2]} NOT SEEN") == [3]


async def test_saved_result(env: Env) -> None:
    session = env.session()
    session.save_result([env.uids[0], env.uids[3]])
    assert await search(env, "$", session) == [1, 4]
    assert await search(env, "UID $", session) == [1, 4]
    assert await search(env, "NOT $", session) == [2, 3]
    assert await search(env, "$", env.session()) == []  # empty after SELECT (RFC 5182 §2.1)


async def test_empty_mailbox(store: Store) -> None:
    account = await make_account(store)
    box = await mailbox(store, account, "Archive")
    view = await store.open_view(box.id)
    session = SelectedMailbox(view, read_only=False, rev1=False)
    assert await evaluate(store, session, program('ALL TEXT "x" LARGER 1'), view=view) == []
    assert await evaluate(store, session, program("UID 1:*"), view=view) == []
    assert await evaluate(store, session, program("1:*"), view=view) == []
    assert await evaluate(store, session, program("NOT 1000"), view=view) == []


# --- charsets ------------------------------------------------------------------------------------------


async def test_unsupported_charset(env: Env) -> None:
    with pytest.raises(SearchError) as caught:
        await search(env, "ALL", charset="ISO-8859-1")
    assert caught.value.code == "BADCHARSET"  # RFC 9051 §6.4.4: NO [BADCHARSET (...)]
    assert not caught.value.bad
    assert caught.value.charsets == ("US-ASCII", "UTF-8")
    assert "US-ASCII UTF-8" in str(caught.value)


async def test_supported_charsets(env: Env) -> None:
    assert await search(env, 'FROM "alice"', charset="us-ascii") == [1]
    assert await search(env, 'SUBJECT "köln"', charset="utf-8") == [2]
    assert await search(env, 'SUBJECT "köln"', charset="UTF-8") == [2]


async def test_invalid_bytes_in_charset(env: Env) -> None:
    session = env.session()
    with pytest.raises(SearchError) as caught:
        await evaluate(env.store, session, program('SUBJECT "köln"'), charset="US-ASCII")
    assert caught.value.bad
    assert caught.value.code is None
    assert "US-ASCII" in str(caught.value)
    with pytest.raises(SearchError, match="UTF-8") as caught:
        await evaluate(env.store, session, And((Not(StringKey("BODY", b"\xff\xfe")),)))
    assert caught.value.bad


# --- held-back expunges (RFC 9051 §7.5.1) --------------------------------------------------------------


async def test_held_back_expunge(own_env: Env) -> None:
    env = own_env
    session = env.session()
    session.absorb(await env.store.expunge(env.mailbox_id, [env.uids[0]]))
    assert session.is_expunged(env.uids[0])
    assert await search(env, "ALL", session) == [1, 2, 3, 4]
    assert await search(env, "SEEN", session) == [1]  # the session still knows its flags
    assert await search(env, "ON 4-May-2026", session) == [1]  # and, from the view, its date
    assert await search(env, 'BODY "zebra"', session) == []  # its text is gone: unknown
    assert await search(env, 'NOT BODY "nothing"', session) == [2, 3, 4]
    assert await search(env, 'OR SEEN BODY "nothing"', session) == [1]  # true whatever BODY says
    assert await search(env, 'FROM "alice"', session) == []
    assert await search(env, 'NOT FROM "alice"', session) == [2, 3, 4]
    assert await search(env, 'BODY ""', session) == [1, 2, 3, 4]  # every text contains ""
    # Without a view that still has it, its size is unknown too.
    fresh = await evaluate(env.store, session, program("LARGER 0"))
    assert fresh == env.uids[1:]


# --- what is loaded ------------------------------------------------------------------------------------


class CountingStore:
    """Passes everything to the store, counting the calls that read mail data."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.cached_uids: list[int] = []
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    async def cached(self, mailbox_id: int, uids: Iterable[int]) -> Any:
        self.calls.append("cached")
        wanted = list(uids)
        self.cached_uids += wanted
        return await self._store.cached(mailbox_id, wanted)

    async def search_text(self, mailbox_id: int, query: str, field: Any) -> set[int]:
        self.calls.append("search_text")
        return await self._store.search_text(mailbox_id, query, field)

    async def search_header(self, mailbox_id: int, name: str, query: str) -> tuple[set[int], set[int]]:
        self.calls.append("search_header")
        return await self._store.search_header(mailbox_id, name, query)

    async def open_view(self, mailbox_id: int) -> MailboxView:
        self.calls.append("open_view")
        return await self._store.open_view(mailbox_id)


async def test_column_keys_make_no_store_call(env: Env) -> None:
    counting = CountingStore(env.store)
    text = "UNSEEN OR LARGER 100 SINCE 1-May-2026 UID 1:* 1:* KEYWORD $x"
    await evaluate(cast(MailStore, counting), env.session(), program(text), view=env.view)
    assert counting.calls == []


async def test_kept_header_fields_load_no_records(env: Env) -> None:
    counting = CountingStore(env.store)
    found = await evaluate(
        cast(MailStore, counting), env.session(), program('SUBJECT "report"'), view=env.view
    )
    assert found == [env.uids[0]]
    assert counting.cached_uids == []
    assert counting.calls == ["search_header"]
    await evaluate(cast(MailStore, counting), env.session(), program('SEEN FROM "a"'), view=env.view)
    assert counting.cached_uids == []  # a short string too


class UnfilledStore(CountingStore):
    """As a store whose messages predate the kept header values: search_header decides nothing."""

    async def search_header(self, mailbox_id: int, name: str, query: str) -> tuple[set[int], set[int]]:
        found, unknown = await self._store.search_header(mailbox_id, name, query)
        every = set((await self._store.open_view(mailbox_id)).uids)
        half = set(sorted(every)[::2])  # half undecided, the other half answered
        return found - half, unknown | half


async def test_header_keys_read_records_of_undecided_messages(env: Env) -> None:
    unfilled = UnfilledStore(env.store)
    for text in ('SUBJECT "report"', 'FROM "a"', 'NOT TO "example"', 'OR SUBJECT "" CC "x"', 'FROM ""'):
        expected = await search(env, text, env.session())
        found = await evaluate(cast(MailStore, unfilled), env.session(), program(text), view=env.view)
        assert found == expected, text
        assert set(unfilled.cached_uids) <= set(env.uids[::2])  # records only of the undecided
        unfilled.cached_uids.clear()
    assert "cached" in unfilled.calls


async def test_header_prefilter_loads_candidates_only(env: Env) -> None:
    counting = CountingStore(env.store)
    # Date is not kept for search: HEADER on it reads the records of the prefilter's candidates.
    found = await evaluate(
        cast(MailStore, counting), env.session(), program('HEADER Date "23:30"'), view=env.view
    )
    assert found == [env.uids[0]]
    assert counting.calls == ["search_text", "cached"]
    assert counting.cached_uids == found  # only the prefilter's candidate


async def test_text_search_of_2000_messages_loads_no_records(store: Store) -> None:
    account = await make_account(store)
    box = await mailbox(store, account)
    uid_of: dict[int, int] = {}

    async def one(n: int) -> None:
        word = "xylophonist" if n in (17, 1999) else f"common{n}"
        data = f"From: s{n}@example.net\r\nSubject: message {n}\r\n\r\nsome text {word} here\r\n"
        uid_of[n] = (await deliver(store, data.encode(), box.id))[0].uid

    for start in range(0, 2000, 200):  # concurrent deliveries share a commit (group commit)
        await asyncio.gather(*(one(n) for n in range(start, start + 200)))
    view = await store.open_view(box.id)
    assert len(view) == 2000
    session = SelectedMailbox(view, read_only=False, rev1=False)
    counting = CountingStore(store)
    rare = sorted([uid_of[17], uid_of[1999]])
    for key in ('TEXT "xylophonist"', 'BODY "XYLOPHONIST"', 'UNSEEN TEXT "xylophonist"'):
        assert await evaluate(cast(MailStore, counting), session, program(key), view=view) == rare
    assert counting.cached_uids == []
    assert counting.calls == ["search_text"] * 3
    # A header key on a kept field loads no records either.
    found = await evaluate(cast(MailStore, counting), session, program('SUBJECT "message 1999"'), view=view)
    assert found == [uid_of[1999]]
    assert counting.cached_uids == []


# --- folding -----------------------------------------------------------------------------------------


async def test_fold_and_prefilter_rules() -> None:
    assert fold("Straße ÄÖÜ") == "straße äöü"
    assert fold("xİy") == "xİy"  # kept: FTS5 does not fold it either
    assert prefilterable("abc")
    assert prefilterable("köln")
    assert prefilterable("Привет")
    assert not prefilterable("ab")  # below a trigram
    assert not prefilterable("xi\u0307")  # the dot of lower("İ")
    assert not prefilterable("ᏣᎳᎩ")  # Cherokee: SQLite's tables fold it differently
    assert prefilterable("日本語")  # caseless


async def test_messages_missing_from_the_view_use_a_fresh_one(own_env: Env) -> None:
    env = own_env
    session = env.session()
    placed = await deliver(env.store, M1.encode(), env.mailbox_id, when=WHEN[2])
    session.absorb(await env.store.changes_since(env.mailbox_id, env.view.mailbox.highestmodseq))
    session.updates(allow_expunge=True, include_uid=False)  # EXISTS: message 5 is numbered now
    counting = CountingStore(env.store)
    found = await evaluate(cast(MailStore, counting), session, program("ON 6-May-2026"), view=env.view)
    assert found == [env.uids[2], placed[0].uid]
    assert counting.calls == ["open_view"]  # once, for the message the old view lacks
    counting.calls.clear()
    found = await evaluate(cast(MailStore, counting), session, program(f"LARGER {env.sizes[2] - 1}"))
    assert found == [env.uids[2]]
    assert counting.calls == ["open_view"]


# --- a subset (RFC 5267 §4.3 UPDATE contexts re-evaluate the changed messages only) --------------------


@pytest.mark.parametrize(
    "text",
    [
        "SEEN",
        "OR FLAGGED DELETED",
        'BODY "zebra"',
        'TEXT "world"',
        'FROM "alice"',
        'SUBJECT "report" UNSEEN',
        'HEADER X-Spam-Flag "yes"',
        "SENTON 5-May-2026",
        "ON 4-May-2026",
        "LARGER 150",
        "NOT (OR SEEN BODY zebra)",
    ],
)
@pytest.mark.parametrize("subset", [(0,), (1, 3), (0, 2, 3), (0, 1, 2, 3), ()])
async def test_a_subset_finds_what_the_whole_finds_among_it(
    env: Env, text: str, subset: tuple[int, ...]
) -> None:
    whole = await evaluate(env.store, env.session(), program(text), view=env.view)
    only = [env.uids[i] for i in subset]
    found = await evaluate(env.store, env.session(), program(text), only=only)
    assert found == [uid for uid in whole if uid in only]
