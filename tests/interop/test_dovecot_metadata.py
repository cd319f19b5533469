"""Differential test of METADATA (RFC 5464) against Dovecot 2.3 (``imap_metadata = yes`` with a file
``mail_attribute_dict``): the same commands on both servers must give the same entries and values,
the same NIL for entries without a value, the same DEPTH and MAXSIZE selections with the same
LONGENTRIES, and the same OK/NO/BAD with the same response codes.

Compared as data, not octets: Dovecot writes every value as a literal and may split one answer into
several METADATA responses; pochta quotes what it can and answers once. Deliberate differences
(docs/imap.md "METADATA"), left out here: ``SETMETADATA ... (/private "x")`` (Dovecot stores an entry
named after the scope, pochta answers BAD: RFC 5464 §3.2 wants two components), an entry given twice
in one SETMETADATA (Dovecot: NO [SERVERBUG]; pochta: BAD), ``GETMETADATA mailbox ()`` (Dovecot: OK;
pochta: BAD, the grammar needs an entry), server entries (Dovecot needs a server attribute dict and
refuses /shared/comment with NO [CANNOT]; pochta lets administrators set it), and the limits.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dovecot_env import DovecotServer, dovecot_peer
from imap_env import ALICE, PASSWORD, imap_server, read_imap

pytestmark = pytest.mark.interop

METADATA_CONF = """
mail_attribute_dict = file:%h/dovecot-attributes
protocol imap {
  imap_metadata = yes
}
"""

_LITERAL = re.compile(rb"~?\{(\d+)\}\r\n\Z")


@pytest.fixture(scope="module")
def dovecot() -> Iterator[DovecotServer]:
    yield from dovecot_peer(("imap",), password=PASSWORD, extra=METADATA_CONF)


class _Client:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.file = self.sock.makefile("rb")
        self.file.readline()
        self.count = 0

    def response(self) -> bytes:
        """One response line with the literals it carries (``{n}`` / ``~{n}`` followed by n octets)."""
        line = self.file.readline()
        while (found := _LITERAL.search(line)) is not None:
            line += self.file.read(int(found.group(1))) + self.file.readline()
        return line

    def command(self, line: bytes) -> tuple[list[bytes], bytes]:
        self.count += 1
        tag = b"t%d" % self.count
        self.sock.sendall(tag + b" " + line + b"\r\n")
        untagged: list[bytes] = []
        while True:
            got = self.response()
            assert got, line
            if got.startswith(tag + b" "):
                return untagged, got[len(tag) + 1 :].rstrip(b"\r\n")
            untagged.append(got.rstrip(b"\r\n"))

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _status(tagged: bytes) -> tuple[str, str | None]:
    """``OK``/``NO``/``BAD`` and the response code, without the text: the code's atom, with its
    arguments for METADATA's. Left out: MAILBOXID on CREATE (RFC 8474, which Dovecot 2.3 lacks) and
    NONEXISTENT, which pochta gives a missing mailbox (RFC 5530 §3) where Dovecot's NO has no code."""
    found = re.match(rb"(OK|NO|BAD) (?:\[([^\]]*)\])?", tagged)
    assert found is not None, tagged
    code = None if found.group(2) is None else found.group(2).decode()
    if code is not None and not code.startswith("METADATA "):
        code = None if code.startswith("MAILBOXID ") or code == "NONEXISTENT" else code.split(" ", 1)[0]
    return found.group(1).decode(), code


def _entries(untagged: list[bytes]) -> list[tuple[Any, list[Any]]]:
    """Each METADATA response's mailbox and its (entry, value) pairs merged per mailbox, by name (the
    order of entries is not significant: Dovecot lists what DEPTH finds in its dictionary's order)."""
    merged: dict[Any, list[Any]] = {}
    for line in untagged:
        assert line.startswith(b"* METADATA "), line
        mailbox, values = read_imap(b"(" + line[len(b"* METADATA ") :] + b")", errors="surrogateescape")
        merged.setdefault(mailbox, []).extend(zip(values[::2], values[1::2], strict=True))
    return [(mailbox, sorted(pairs, key=lambda pair: pair[0])) for mailbox, pairs in merged.items()]


STEPS = [
    b"CREATE Work",
    b"GETMETADATA INBOX /private/comment",
    b'SETMETADATA INBOX (/private/Comment "mine" /shared/comment "for all")',
    b"GETMETADATA INBOX (/private/comment /shared/COMMENT /private/nope)",
    b"SETMETADATA Work (/private/comment {12+}\r\nline1\r\nline2)",
    b"GETMETADATA Work /private/comment",
    b'SETMETADATA Work (/private/filters/values/small "SMALLER 5000" /private/filters/values/boss "boss"'
    b' /private/filters/values/boss/deep "x")',
    b"GETMETADATA (DEPTH 1) Work /private/filters/values",
    b"GETMETADATA (DEPTH infinity) Work /private/filters",
    b"GETMETADATA (DEPTH 1) INBOX /shared",
    b"GETMETADATA (MAXSIZE 4) Work (/private/filters/values/small /private/filters/values/boss)",
    b"GETMETADATA (MAXSIZE 100 DEPTH infinity) Work /private/filters",
    b"SETMETADATA INBOX (/private/comment NIL)",
    b"GETMETADATA INBOX (/private/comment /shared/comment)",
    b"GETMETADATA Work /private/specialuse",
    b'SETMETADATA Work (/private/specialuse "\\\\Sent")',
    b"GETMETADATA Nowhere /private/comment",
    b'SETMETADATA Nowhere (/private/comment "x")',
    b'SETMETADATA INBOX (/foo/bar "x")',
    b'SETMETADATA INBOX (/private/a//b "x")',
    b'SETMETADATA INBOX (/private/a/ "x")',
    b'SETMETADATA INBOX (/private/a* "x")',
    b"GETMETADATA (DEPTH 2) INBOX /private",
    b"GETMETADATA (FOO) INBOX /private",
    b"NOOP",  # BADs in a row end a session: keep the error budget of both servers apart from this
    b"RENAME Work Play",
    b"GETMETADATA Play (/private/comment /private/filters/values/boss)",
    b"DELETE Play",
    b"CREATE Play",
    b"GETMETADATA Play /private/comment",
]


def _scenario(port: int) -> list[object]:
    client = _Client(port)
    try:
        _, tagged = client.command(b"LOGIN " + ALICE.encode() + b" " + PASSWORD.encode())
        assert tagged.startswith(b"OK"), tagged
        seen: list[object] = []
        for line in STEPS:
            untagged, tagged = client.command(line)
            metadata = [u for u in untagged if u.startswith(b"* METADATA ")]
            seen.append((line, _status(tagged), _entries(metadata)))
        return seen
    finally:
        client.close()


async def test_metadata_answers_match_dovecot(tmp_path: Path, dovecot: DovecotServer) -> None:
    theirs = await asyncio.to_thread(_scenario, dovecot.imap)
    async with imap_server(tmp_path) as env:
        ours = await asyncio.to_thread(_scenario, env.plain[1])
    for mine, other in zip(ours, theirs, strict=True):
        assert mine == other
    # And the scenario says something: values read back, NIL, LONGENTRIES, refusals of each kind.
    by_line = {line: (status, entries) for line, status, entries in ours}  # type: ignore[misc]
    assert by_line[b"GETMETADATA INBOX /private/comment"] == (
        ("OK", None),
        [("INBOX", [("/private/comment", None)])],
    )
    assert by_line[b"GETMETADATA Work /private/comment"][1] == [
        ("Work", [("/private/comment", "line1\r\nline2")])
    ]
    maxsize = b"GETMETADATA (MAXSIZE 4) Work (/private/filters/values/small /private/filters/values/boss)"
    assert by_line[maxsize][0] == ("OK", "METADATA LONGENTRIES 12")
    assert by_line[b'SETMETADATA Work (/private/specialuse "\\\\Sent")'][0] == ("NO", "CANNOT")
    assert by_line[b'SETMETADATA INBOX (/private/a* "x")'][0] == ("BAD", None)
    assert by_line[b"GETMETADATA Play (/private/comment /private/filters/values/boss)"][1] == [
        ("Play", [("/private/comment", "line1\r\nline2"), ("/private/filters/values/boss", "boss")])
    ]
