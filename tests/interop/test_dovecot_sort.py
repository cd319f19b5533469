"""Differential test of SORT and THREAD against Dovecot: the same messages APPENDed to both servers with
the same internal dates (the shared corpus, ``tests/corpus/mime`` and generated conversations from
``thread_corpus``), then the same SORT, UID SORT, ESORT and THREAD commands, whose untagged answers
must be equal octet for octet; and SORT ... RETURN (SAVE ...) (RFC 5182 §1, §2.4), whose saved
result ``FETCH $`` shows, on a small mailbox whose numbers and UIDs differ.

Dovecot is started as in test_dovecot_differential.py (tests/dovecot_env.py); pochta runs in-process
(tests/imap_env.py). Where the answers differ on purpose, the command is in ``DELIBERATE`` with its
reason (docs/imap.md says the same); any other difference fails.
"""

from __future__ import annotations

import asyncio
import imaplib
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import ALICE, PASSWORD, imap_server, imap_settings, tagged_command
from shared_dir import corpus_messages, shared_path
from thread_corpus import looping_messages, threaded_messages

pytestmark = pytest.mark.interop

SHARED_CORPUS = shared_path("corpus", "POCHTA_SHARED_CORPUS")
CRITERIA = (
    "SUBJECT", "REVERSE SUBJECT", "DATE", "REVERSE DATE", "ARRIVAL", "SIZE", "FROM", "TO", "CC",
    "DISPLAYFROM", "DISPLAYTO", "REVERSE DISPLAYTO", "SUBJECT DATE", "FROM REVERSE DATE", "CC SIZE",
    "REVERSE ARRIVAL", "SUBJECT REVERSE SIZE",
)  # fmt: skip
COMMANDS = (
    *(f"SORT ({criteria}) UTF-8 ALL" for criteria in CRITERIA),
    "UID SORT (SUBJECT) UTF-8 ALL",
    "SORT (DATE) UTF-8 SUBJECT re",
    "UID SORT (REVERSE DATE) US-ASCII OR FROM alice SINCE 3-Nov-2026",
    "SORT RETURN (MIN MAX COUNT) (SUBJECT) UTF-8 ALL",
    "UID SORT RETURN (ALL) (REVERSE DATE) UTF-8 ALL",
    "SORT RETURN () (SIZE) UTF-8 NOT SUBJECT planning",
    "THREAD ORDEREDSUBJECT UTF-8 ALL",
    "THREAD REFERENCES UTF-8 ALL",
    "UID THREAD REFERENCES UTF-8 ALL",
    "THREAD REFERENCES UTF-8 1:40",
    "THREAD ORDEREDSUBJECT UTF-8 SINCE 5-Nov-2026",
)
# Commands whose answers differ on purpose (none yet): command -> reason.
DELIBERATE: dict[str, str] = {}


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(("imap",), password=PASSWORD)


def _raw_8bit_header(data: bytes) -> bool:
    """A header holding octets that are not UTF-8: pochta reads such a field as latin-1 (also inside
    encoded words, which RFC 2047 §5 forbids them in), Dovecot as U+FFFD; docs/imap.md."""
    header = data.split(b"\r\n\r\n", 1)[0]
    try:
        header.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


def mailbox_messages() -> list[tuple[bytes, datetime]]:
    """The corpus (one internal date a minute apart, from an old date; without the messages whose
    header has raw octets that are not UTF-8), then generated threads."""
    start = datetime(2020, 1, 1, tzinfo=UTC)
    kept = [data for _, data in corpus_messages() if not _raw_8bit_header(data)]
    corpus = [(data, start + timedelta(minutes=n)) for n, data in enumerate(kept)]
    loops = [(data, start + timedelta(days=1, minutes=n)) for n, data in enumerate(looping_messages())]
    return corpus + loops + threaded_messages(300, seed=11)


def _fill_and_ask(host: str, port: int, messages: list[tuple[bytes, datetime]]) -> dict[str, list[bytes]]:
    with imaplib.IMAP4(host, port, timeout=60) as client:
        client.login(ALICE, PASSWORD)
        client.create("sorted")
        for data, when in messages:
            typ, answer = client.append("sorted", "", imaplib.Time2Internaldate(when), data)
            assert typ == "OK", answer
        typ, answer = client.select("sorted", readonly=True)
        assert typ == "OK", answer
        assert int(answer[0] or 0) == len(messages), answer
        answers: dict[str, list[bytes]] = {}
        for command in COMMANDS:
            tag = client._new_tag()  # type: ignore[attr-defined]
            client.send(tag + b" " + command.encode() + b"\r\n")
            lines: list[bytes] = []
            while True:
                line = client.readline()
                if line.startswith(tag + b" "):
                    assert line.startswith(tag + b" OK"), (command, line)
                    break
                if line.startswith((b"* SORT", b"* THREAD", b"* ESEARCH")):
                    lines.append(line.rstrip(b"\r\n"))
            answers[command] = lines
        return answers


def _untagged(line: bytes) -> bytes:
    """ESEARCH carries the command's tag, which differs between two sessions."""
    return line.split(b")", 1)[-1] if line.startswith(b"* ESEARCH") else line


async def test_sort_and_thread_answers_agree_with_dovecot(dovecot: DovecotServer, tmp_path: Path) -> None:
    if not SHARED_CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {SHARED_CORPUS}")
    messages = mailbox_messages()
    # pochta twice: SQLite's orderings and fresh trees, then kept orders and kept THREAD answers
    # (store/sqlite/sort_orders.py, server/imap/kept_threads.py: "big" made 1 message here)
    kept = imap_settings(store={"sort_cache_min_messages": 1})
    runs = {}
    for label, settings in (("sqlite", None), ("kept", kept)):
        (tmp_path / label).mkdir()
        async with imap_server(tmp_path / label, settings) as env:
            runs[label] = await asyncio.to_thread(_fill_and_ask, *env.plain, messages)
    untagged = {
        label: {c: list(map(_untagged, lines)) for c, lines in answers.items()}
        for label, answers in runs.items()
    }
    assert untagged["kept"] == untagged["sqlite"]
    ours = runs["sqlite"]
    theirs = await asyncio.to_thread(_fill_and_ask, "127.0.0.1", dovecot.imap, messages)
    differences = []
    for command in COMMANDS:
        mine, their = ours[command], theirs[command]
        if command in DELIBERATE:
            assert mine != their, f"{command}: no longer differs ({DELIBERATE[command]})"
            continue
        mine, their = list(map(_untagged, mine)), list(map(_untagged, their))
        if mine != their:
            differences.append(f"{command}:\n  pochta:  {mine!r}\n  dovecot: {their!r}")
    # every command answered something non-empty, so that a broken SORT cannot agree by silence
    assert all(len(ours[c]) == 1 and len(ours[c][0]) > 10 for c in COMMANDS), ours
    assert not differences, "\n".join(differences)


SAVE_SUBJECTS = ("delta", "alpha", "Re: charlie", "bravo", "echo", "[fwd: alpha]", "foxtrot")
# Each SORT ... SAVE is followed by FETCH $ (and UID FETCH $ after a UID SORT): what "$" holds.
SAVE_COMMANDS = (
    "SORT RETURN (SAVE) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (SAVE MIN) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (SAVE MAX) (REVERSE SUBJECT) UTF-8 ALL",
    "SORT RETURN (SAVE MIN MAX) (REVERSE ARRIVAL) UTF-8 NOT SUBJECT echo",
    "SORT RETURN (SAVE COUNT) (SUBJECT) UTF-8 NOT SUBJECT echo",
    "SORT RETURN (MIN SAVE ALL) (SUBJECT) UTF-8 2:5",
    "UID SORT RETURN (SAVE MIN) (SUBJECT) UTF-8 ALL",
    "UID SORT RETURN (SAVE) (REVERSE SUBJECT) UTF-8 UID 1:4",
    "SORT RETURN (SAVE PARTIAL 1:2) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (SAVE PARTIAL 2:3 MIN) (REVERSE SUBJECT) UTF-8 ALL",
    "SORT RETURN (SAVE CONTEXT) (SIZE) UTF-8 ALL",
    "SORT RETURN (SAVE MIN) (REVERSE ARRIVAL) UTF-8 $",
    "SORT RETURN (SAVE) (SUBJECT) UTF-8 SUBJECT nowhere",
    "SORT RETURN (SAVE) (SUBJECT) UTF-8 ALL",
    "SORT RETURN (SAVE) (SUBJECT) X-NO-SUCH-CHARSET ALL",  # NO [BADCHARSET ...]: "$" emptied (§2.1)
)


def _save_transcript(host: str, port: int) -> list[tuple[str, list[bytes], bytes]]:
    """(command, untagged lines with the ESEARCH tag cut, tagged status word) of each command."""
    with imaplib.IMAP4(host, port, timeout=30) as client:
        client.login(ALICE, PASSWORD)
        client.create("saving")
        start = datetime(2026, 11, 1, tzinfo=UTC)
        for n, subject in enumerate(SAVE_SUBJECTS):
            header = f"From: s{n}@example.net\r\nSubject: {subject}\r\nMessage-ID: <s{n}@x>\r\n"
            data = f"{header}\r\n{'x' * (n % 3)}\r\n"
            when = imaplib.Time2Internaldate(start + timedelta(minutes=(5 * n) % 7))
            typ, answer = client.append("saving", "", when, data.encode())
            assert typ == "OK", answer
        typ, answer = client.select("saving")
        assert typ == "OK", answer
        # message 2 goes: UIDs 1, 3, 4, ... are numbers 1, 2, 3, ...
        assert client.store("2", "+FLAGS.SILENT", "(\\Deleted)")[0] == "OK"
        assert client.expunge()[0] == "OK"
        out = []
        for command in SAVE_COMMANDS:
            fetches = (
                ["FETCH $ (UID)", "UID FETCH $ (UID)"] if command.startswith("UID") else ["FETCH $ (UID)"]
            )
            for line in (command, *fetches):
                untagged, tagged = tagged_command(client, line)
                cut = [u.split(b")", 1)[-1] if u.startswith(b"* ESEARCH") else u for u in untagged]
                out.append((line, cut, tagged.split()[0]))
        return out


async def test_sort_save_agrees_with_dovecot(dovecot: DovecotServer, tmp_path: Path) -> None:
    async with imap_server(tmp_path) as env:
        ours = await asyncio.to_thread(_save_transcript, *env.plain)
    theirs = await asyncio.to_thread(_save_transcript, "127.0.0.1", dovecot.imap)
    differences = [
        f"{mine[0]}:\n  pochta:  {mine[1:]!r}\n  dovecot: {their[1:]!r}"
        for mine, their in zip(ours, theirs, strict=True)
        if mine != their
    ]
    assert not differences, "\n".join(differences)
    # not agreement by silence: the saved results were seen, and they differ from one another
    fetched = [tuple(lines) for line, lines, _ in ours if line == "FETCH $ (UID)"]
    assert len(set(fetched)) >= 6, fetched
    assert ("SORT RETURN (SAVE) (SUBJECT) X-NO-SUCH-CHARSET ALL", [], b"NO") in ours


# RFC 7162 §3.1.9, §3.1.10 (and §3.1.6 for SEARCH): a MODSEQ key adds the highest mod-sequence of
# what is returned, to SORT as "(MODSEQ n)" and to ESORT's ESEARCH as the MODSEQ result option;
# nothing when nothing matched. Compared with the mod-sequence values left out (each server numbers
# its own changes); pochta's values are checked in tests/e2e/test_imap_sort.py.
MODSEQ_COMMANDS = (
    "SORT (SUBJECT) UTF-8 MODSEQ 1",
    "UID SORT (REVERSE SIZE) UTF-8 MODSEQ 1",
    "SORT RETURN (MIN MAX) (SUBJECT) UTF-8 MODSEQ 1",
    "SORT RETURN (ALL) (SUBJECT) UTF-8 MODSEQ 1",
    "SORT RETURN (COUNT) (SUBJECT) UTF-8 MODSEQ 1",
    "SORT RETURN () (SUBJECT) UTF-8 MODSEQ 1",
    "SORT (SUBJECT) UTF-8 MODSEQ 100000",
    "SORT RETURN (ALL) (SUBJECT) UTF-8 MODSEQ 100000",
    "SEARCH MODSEQ 1",
    "SEARCH RETURN (MIN) MODSEQ 1",
)


def _modseq_answers(host: str, port: int) -> dict[str, list[bytes]]:
    with imaplib.IMAP4(host, port, timeout=60) as client:
        client.login(ALICE, PASSWORD)
        client.create("modseq")
        for n, subject in enumerate((b"b", b"a", b"c")):
            data = b"Subject: %s\r\nFrom: x@example.org\r\n\r\n%s\r\n" % (subject, b"x" * n)
            assert client.append("modseq", "", None, data)[0] == "OK"
        assert client.select("modseq")[0] == "OK"
        assert client.store("2", "+FLAGS", "\\Seen")[0] == "OK"
        answers: dict[str, list[bytes]] = {}
        for command in MODSEQ_COMMANDS:
            tag = client._new_tag()  # type: ignore[attr-defined]
            client.send(tag + b" " + command.encode() + b"\r\n")
            lines: list[bytes] = []
            while not (line := client.readline()).startswith(tag + b" "):
                if line.startswith((b"* SORT", b"* ESEARCH", b"* SEARCH")):
                    line = re.sub(rb"MODSEQ \d+", b"MODSEQ n", line.rstrip(b"\r\n"))
                    lines.append(line.split(b")", 1)[-1] if line.startswith(b"* ESEARCH") else line)
            assert line.startswith(tag + b" OK"), (command, line)
            answers[command] = lines
        return answers


async def test_sort_and_esort_with_modseq_agree_with_dovecot(dovecot: DovecotServer, tmp_path: Path) -> None:
    async with imap_server(tmp_path) as env:
        ours = await asyncio.to_thread(_modseq_answers, *env.plain)
    theirs = await asyncio.to_thread(_modseq_answers, "127.0.0.1", dovecot.imap)
    assert ours == theirs
    assert ours["SORT (SUBJECT) UTF-8 MODSEQ 1"] == [b"* SORT 2 1 3 (MODSEQ n)"]
    assert ours["SORT RETURN (ALL) (SUBJECT) UTF-8 MODSEQ 1"] == [b" ALL 2,1,3 MODSEQ n"]
