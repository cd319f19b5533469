"""ESEARCH across mailboxes (MULTISEARCH, RFC 7377): every source option, the correlators, no
answer for a mailbox without a match, SAVE rules, the state rules, the mailbox limit, and that a
mailbox searched but not selected stays as it was."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from imap_env import ImapEnv, exchange, imap_server, imap_session, imap_settings, message


async def fill(env: ImapEnv) -> dict[str, int]:
    """Mailboxes a, a/b, a/b/c, x (subscribed: a/b only) with matching and other messages."""
    for name in ("a", "a/b", "a/b/c", "x"):
        await env.ops.create(env.alice.id, name)
    await env.ops.subscribe(env.alice.id, "a/b")
    await env.deliver(message(1, b"needle\r\n"))  # INBOX uid 1
    await env.deliver(message(2))  # INBOX uid 2
    await env.deliver(message(3, b"needle\r\n"), mailbox="a")
    await env.deliver(message(4), mailbox="a/b")
    await env.deliver(message(5, b"needle\r\n"), mailbox="a/b")
    await env.deliver(message(6, b"needle\r\n"), mailbox="a/b/c")
    await env.deliver(message(7, b"needle\r\n"), mailbox="x")
    return {name: (await env.mailbox(name)).uidvalidity for name in ("INBOX", "a", "a/b", "a/b/c", "x")}


def run(env: ImapEnv, lines: list[bytes], select: bytes = b"") -> list[list[bytes]]:
    sock = imap_session(env, select=select)
    try:
        return [exchange(sock, line) for line in lines]
    finally:
        sock.close()


def found(lines: list[bytes]) -> list[tuple[str, str]]:
    """(mailbox, rest) of each ESEARCH line; the correlators checked on the way."""
    out = []
    for line in lines[:-1]:
        m = re.fullmatch(
            rb'\* ESEARCH \(TAG "(\w+)" MAILBOX "?([^" ]+)"? UIDVALIDITY (\d+)\) UID (.*)\r\n', line
        )
        assert m is not None, line
        out.append((m[2].decode(), m[4].decode()))
    return out


async def test_sources(env: ImapEnv) -> None:
    validity = await fill(env)
    got = await asyncio.to_thread(
        run,
        env,
        [
            b"a ESEARCH IN (personal) BODY needle",
            b'b ESEARCH IN (subtree "a") BODY needle',
            b"c ESEARCH IN (subtree-one a) RETURN (MIN MAX COUNT) BODY needle",
            b'd ESEARCH IN (mailboxes ("x" "a/b/c" nosuch) inboxes) BODY needle',
            b"e esearch in (SUBSCRIBED personal) BODY needle",  # duplicates searched once
            b"f ESEARCH IN (personal) SUBJECT nothing-matches",
            b"g ESEARCH IN (subtree (a x)) RETURN () ALL",
            b"h ESEARCH IN (mailboxes a/b) RETURN (PARTIAL -1:-1) BODY needle",  # per mailbox (RFC 9394)
        ],
    )
    personal = [("INBOX", "ALL 1"), ("a", "ALL 1"), ("a/b", "ALL 2"), ("a/b/c", "ALL 1"), ("x", "ALL 1")]
    assert found(got[0]) == personal
    assert got[0][-1] == b"a OK ESEARCH completed\r\n"
    assert b'(TAG "a" MAILBOX INBOX UIDVALIDITY %d) UID ALL 1\r\n' % validity["INBOX"] in got[0][0]
    assert found(got[1]) == personal[1:4]
    assert found(got[2]) == [("a", "MIN 1 MAX 1 COUNT 1"), ("a/b", "MIN 2 MAX 2 COUNT 1")]
    assert found(got[3]) == [("x", "ALL 1"), ("a/b/c", "ALL 1"), ("INBOX", "ALL 1")]
    # New accounts are subscribed to INBOX (and the other default mailboxes); then a/b.
    assert found(got[4]) == [
        ("INBOX", "ALL 1"),
        ("a/b", "ALL 2"),
        ("a", "ALL 1"),
        ("a/b/c", "ALL 1"),
        ("x", "ALL 1"),
    ]
    assert got[5] == [b"f OK ESEARCH completed\r\n"]  # RFC 7377 §2.1: no ESEARCH without a match
    assert [m for m, _ in found(got[6])] == ["a", "a/b", "a/b/c", "x"]
    assert found(got[7]) == [("a/b", "PARTIAL (-1:-1 2)")]


async def test_selected_and_state_rules(env: ImapEnv) -> None:
    await fill(env)
    unselected = await asyncio.to_thread(
        run, env, [b"a ESEARCH BODY needle", b"b ESEARCH IN (selected) ALL", b"c ESEARCH IN (inboxes) ALL"]
    )
    assert unselected[0] == [b"a BAD No mailbox selected\r\n"]  # RFC 7377 §2.2: selected by default
    assert unselected[1] == [b"b BAD No mailbox selected\r\n"]
    assert found(unselected[2]) == [("INBOX", "ALL 1:2")]
    got = await asyncio.to_thread(
        run,
        env,
        [
            b"a ESEARCH BODY needle",
            b"b ESEARCH RETURN (SAVE) BODY needle",  # SAVE with selected alone: allowed
            b"c FETCH $ (UID)",
            b"d ESEARCH IN (selected personal) RETURN (SAVE) ALL",
            b"e ESEARCH IN (selected-delayed) ALL",
            b"f ESEARCH IN (personal) CHARSET KOI8-R ALL",
            b"g ESEARCH IN (personal (depth 1)) ALL",
            b"h ESEARCH IN () ALL",
            b"i ESEARCH IN (mailboxes) ALL",
        ],
        select=b"a/b",
    )
    assert found(got[0]) == [("a/b", "ALL 2")]  # UIDs, with the correlators, even for selected
    assert got[1] == [b"b OK ESEARCH completed\r\n"]
    assert got[2][0] == b"* 2 FETCH (UID 2)\r\n"
    assert got[3] == [b"d BAD SAVE needs the selected mailbox as the only source\r\n"]
    assert got[4][0].startswith(b"e BAD ")
    assert got[5][-1].startswith(b"f NO [BADCHARSET")
    assert got[6][0].startswith(b"g BAD ")  # no scope options are defined (RFC 7377 §4)
    assert got[7][0].startswith(b"h BAD ")
    assert got[8][0].startswith(b"i BAD ")


async def test_other_mailboxes_stay_as_they_were(env: ImapEnv) -> None:
    await fill(env)
    before = await env.mailbox("x")
    got = await asyncio.to_thread(
        run,
        env,
        [b"a ESEARCH IN (mailboxes x) NEW", b"b ESEARCH IN (mailboxes x) UNSEEN", b"c NOOP"],
        b"INBOX",
    )
    after = await env.mailbox("x")
    assert got[0] == [b"a OK ESEARCH completed\r\n"]  # nothing is \Recent outside the selected one
    assert found(got[1]) == [("x", "ALL 1")]
    assert got[2] == [b"c OK NOOP completed\r\n"]  # the selected INBOX is untouched
    assert (after.recent, after.unseen, after.highestmodseq) == (
        before.recent,
        before.unseen,
        before.highestmodseq,
    )


async def test_mailbox_limit(tmp_path: Path) -> None:
    async with imap_server(tmp_path, imap_settings(imap={"max_search_mailboxes": 3})) as env:
        await fill(env)
        got = await asyncio.to_thread(
            run, env, [b"a ESEARCH IN (personal) ALL", b"b ESEARCH IN (subtree a) ALL", b"c CAPABILITY"]
        )
    assert got[0] == [b"a NO [LIMIT] At most 3 mailboxes may be searched at once\r\n"]
    assert [m for m, _ in found(got[1])] == ["a", "a/b", "a/b/c"]
    assert b" MULTISEARCH" in got[2][0]
